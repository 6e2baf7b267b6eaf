"""Prediction uncertainty of a trained hybrid model: the Laplace approximation of the
weights' posterior (from the decomposition's reduced Hessians) propagated to the
predicted trajectories (:mod:`idaes_hybrid.uncertainty.laplace`), or an ensemble of
networks re-trained on bootstrap resamples of the training experiments
(:mod:`idaes_hybrid.uncertainty.ensemble`)."""
