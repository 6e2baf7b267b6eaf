"""Prediction uncertainty of a trained hybrid model: the Laplace approximation of the
weights' posterior (from the decomposition's reduced Hessians) propagated to the
predicted trajectories (:mod:`idaes_hybrid.uncertainty.laplace`)."""
