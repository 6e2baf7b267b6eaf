"""A trained network exported to IDAES KerasSurrogate gives the training block's rate."""

import numpy as np
import pyomo.environ as pyo
import pytest

from idaes.core.util.model_statistics import degrees_of_freedom

from idaes_hybrid.nn.block import NeuralNetworkBlock
from idaes_hybrid.nn.keras_io import to_keras_surrogate
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.solver import get_nlp_solver

LABELS = ["X", "S", "P", "V"]
RATE_TOL = 1e-8


@pytest.mark.component
def test_surrogate_block_and_training_block_agree():
    from idaes.core.surrogate.keras_surrogate import KerasSurrogate
    from idaes.core.surrogate.surrogate_block import SurrogateBlock

    spec = NetworkSpec.dense(4, [20, 20], 1, "softplus", seed=3)
    spec.input_mean, spec.input_std = np.array([2.0, 4.0, 0.4, 1.8]), np.array([1.5, 3.0, 0.3, 0.6])
    spec.output_mean, spec.output_std = np.array([0.12]), np.array([0.05])
    points = np.array([[0.5, 9.0, 0.05, 1.2], [3.0, 1.0, 0.6, 2.2], [4.5, 0.1, 0.9, 2.9]])

    # the training block (weights fixed), as in prediction and optimization
    m = pyo.ConcreteModel()
    m.v = pyo.Var(range(len(points)), range(4))
    m.mu = pyo.Var(range(len(points)), units=pyo.units.h**-1)
    m.net = NeuralNetworkBlock(spec=spec)
    m.net.add_points("pts", list(range(len(points))), inputs=lambda p: [m.v[p, i] for i in range(4)],
                     outputs=lambda p: [m.mu[p]])
    for (p, i), var in m.v.items():
        var.fix(points[p, i])
    m.net.initialize_points()
    block_rate = np.array([pyo.value(m.mu[p]) for p in range(len(points))])

    # the steady-state surrogate (OMLT full space) solved for the same inputs
    bounds = {lab: (0.0, 12.0) for lab in LABELS}
    s = pyo.ConcreteModel()
    s.surr = SurrogateBlock(concrete=True)
    s.surr.build_model(to_keras_surrogate(spec, LABELS, ["mu"], bounds),
                       formulation=KerasSurrogate.Formulation.FULL_SPACE)
    s.obj = pyo.Objective(expr=0.0)
    surrogate_rate = []
    for point in points:
        for lab, val in zip(LABELS, point):
            s.surr.inputs[lab].fix(val)
        assert degrees_of_freedom(s) == 0
        assert get_nlp_solver({"tol": 1e-12}).solve(s).ok
        surrogate_rate.append(pyo.value(s.surr.outputs["mu"]))
    np.testing.assert_allclose(surrogate_rate, block_rate, atol=RATE_TOL)
    np.testing.assert_allclose(block_rate, spec.predict(points)[:, 0], atol=1e-12)
