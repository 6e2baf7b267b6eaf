"""Scaling by starting magnitudes (``idaes_hybrid.solve.magnitude_scaling``), used by the
flowsheet optimizations so Ipopt's stopping test holds for W- and J-sized variables."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
from scipy.optimize import brentq

from idaes_hybrid.nn.block import NeuralNetworkBlock
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.magnitude_scaling import magnitude_scaling, round_off_scaling


class _Linear:
    """A problem with constant gradient and Jacobian (the callback interface)."""

    def __init__(self, grad, rows, cols, vals):
        self.grad, self.rows, self.cols, self.vals = grad, rows, cols, vals

    def gradient(self, x):
        return np.asarray(self.grad, float)

    def jacobianstructure(self):
        return np.asarray(self.rows), np.asarray(self.cols)

    def jacobian(self, x):
        return np.asarray(self.vals, float)


@pytest.mark.unit
def test_factors_follow_the_starting_magnitudes_and_ipopts_gradient_rule():
    # x0: an energy in J, a concentration, a temperature; rows: E - 30 u = ..., 1e4 T = E, c = 1
    x0 = np.array([3.0e6, 0.5, -300.0])
    prob = _Linear(grad=[1e-6, 2.0, 0.0], rows=[0, 1, 1, 2], cols=[0, 0, 2, 1],
                   vals=[1.0, -1.0, 1e4, 1.0])
    obj, xs, gs = magnitude_scaling(prob, x0, 3)
    np.testing.assert_allclose(xs, [1 / 3.0e6, 1.0, 1 / 300.0])
    # row 0: |1| * 3e6 = 3e6 > 100 -> 100 / 3e6; row 1: max(3e6, 1e4 * 300) = 3e6 -> same;
    # row 2: 1 -> kept
    np.testing.assert_allclose(gs, [100 / 3.0e6, 100 / 3.0e6, 1.0])
    assert obj == 1.0  # largest scaled gradient: max(1e-6 * 3e6, 2) = 3 <= 100
    big = _Linear(grad=[1.0, 0.0, 0.0], rows=[], cols=[], vals=[])
    assert magnitude_scaling(big, x0, 0)[0] == pytest.approx(100 / 3.0e6)


SPEC = NetworkSpec.dense(1, [6], 1, "softplus", seed=3)
SPEC.input_mean, SPEC.input_std = np.array([310.0]), np.array([10.0])


def _heated_model(formulation: Formulation, target: float, limit: float | None) -> pyo.ConcreteModel:
    """A W-sized heat duty u heats a J-sized holdup E (E = 2.9e6 + 30 u, T = E / 1e4); a
    network gives z(T); minimize (z - target)^2, optionally with T <= limit."""
    m = pyo.ConcreteModel()
    m.u = pyo.Var(bounds=(0.0, 2.0e4), initialize=5.0e3)
    m.E = pyo.Var(initialize=3.0e6)
    m.T = pyo.Var(initialize=300.0)
    m.z = pyo.Var(initialize=0.0)
    m.balance = pyo.Constraint(expr=m.E == 2.9e6 + 30.0 * m.u)
    m.temperature = pyo.Constraint(expr=1.0e4 * m.T == m.E)
    m.net = NeuralNetworkBlock(spec=SPEC, formulation=formulation)
    m.net.add_points("pts", [0], inputs=lambda p: [m.T], outputs=lambda p: [m.z])
    m.net.initialize_points()
    if limit is not None:
        m.limit = pyo.Constraint(expr=m.T <= limit)
    m.obj = pyo.Objective(expr=0.1 * (m.z - target) ** 2)
    return m


@pytest.mark.component
@pytest.mark.parametrize("formulation", [Formulation.BATCHED, Formulation.NESTED])
def test_scaled_solve_with_a_never_active_or_an_active_limit_reaches_the_known_optimum(formulation):
    """The batched path (network outside the .nl) and real Ipopt's .nl path, both with
    magnitude scaling: without a limit and with a never-active T <= 400 K the optimum is
    where z(T) = target (T = 320 K, u = 1e4 W, found by root-finding the network in
    numpy); with T <= 315 K active the optimum sits on the limit (u = 25/3 * 1e3 W)."""
    from idaes_hybrid.solve.batched import solve_hybrid

    def z(t):
        return float(SPEC.predict(np.array([[t]]))[0, 0])

    target = z(320.0)
    t_star = brentq(lambda t: z(t) - target, 305.0, 330.0)   # independent: numpy network
    u_star = (1.0e4 * t_star - 2.9e6) / 30.0
    opts = {"tol": 1e-8, "max_iter": 200, "bound_push": 1e-8, "bound_frac": 1e-8}
    found = {}
    for limit in (None, 400.0, 315.0):
        m = _heated_model(formulation, target, limit)
        res = solve_hybrid(m, m.net, opts, magnitude_scaling=True)
        assert res.ok, res.termination_message
        assert res.solver_name.endswith("batched") == (formulation is Formulation.BATCHED)
        found[limit] = (pyo.value(m.u), pyo.value(m.T), res.objective)
    assert found[None][0] == pytest.approx(u_star, rel=1e-6)
    assert found[400.0][0] == pytest.approx(found[None][0], rel=1e-6)
    assert found[400.0][2] == pytest.approx(found[None][2], abs=1e-10)
    assert found[315.0][1] == pytest.approx(315.0, abs=1e-5)
    assert found[315.0][0] == pytest.approx((3.15e6 - 2.9e6) / 30.0, rel=1e-6)
    assert found[315.0][2] == pytest.approx(0.1 * (z(315.0) - target) ** 2, rel=1e-6)


@pytest.mark.unit
def test_round_off_scaling_caps_rows_whose_terms_exceed_the_tolerance():
    # row 0: a holdup of 2e9 over an element (coefficient 72): terms of 1.4e11, gradient 72;
    # row 1: a gradient of 1e4 (Ipopt's rule: 100 / 1e4); row 2: small terms
    x0 = np.array([2.0e9, 300.0, 0.5])
    prob = _Linear(grad=[0.0, 500.0, 1.0], rows=[0, 1, 2], cols=[0, 1, 2], vals=[72.0, 1e4, 1.0])
    obj, xs, gs = round_off_scaling(prob, x0, 3, tol=1e-8)
    cap = 1e-8 / (10.0 * np.finfo(float).eps * 72.0 * 2.0e9)
    np.testing.assert_allclose(gs, [cap, 1e-2, 1.0])
    np.testing.assert_allclose(xs, 1.0)
    assert obj == pytest.approx(0.2)
    # round-off of the largest term (a few ulps) is below tol after scaling
    assert 4 * np.spacing(72.0 * 2.0e9) * gs[0] < 1e-8
    # no row too large for the tolerance: Ipopt's own rule, nothing to set
    assert round_off_scaling(prob, np.array([2.0e3, 300.0, 0.5]), 3, tol=1e-8) is None


@pytest.mark.unit
def test_small_network_outputs_are_scaled_in_their_own_units():
    """A learned rate constant of 1e-6 (spread 5.6e-7): its network equations and output
    variables are scaled by 1 / output_std, so that a mismatch of a fraction of its spread is
    not feasible to Ipopt's tolerance (a two-CSTR training took 266 iterations, 16 so). An
    output of order one, and every other row and column, keep their magnitude scaling."""
    from types import SimpleNamespace

    from idaes_hybrid.solve.batched import OUTPUT_UNITS_BELOW, in_output_units

    # 3 model rows, then 4 network rows: 2 points x (a small output, an order-one output);
    # output columns 5, 6, 7 and -1 (the last output fixed)
    net = SimpleNamespace(n_rows=4, row_output_std=np.array([5.6e-7, 0.3, 5.6e-7, 0.3]),
                          row_out_cols=np.array([5, 6, 7, -1]))
    bn = SimpleNamespace(cl=np.zeros(7), net=net)
    x_scale, g_scale = np.full(9, 0.5), np.full(7, 0.25)
    xs, gs = in_output_units(bn, x_scale, g_scale)
    assert gs[:3] == pytest.approx([0.25] * 3) and gs[4] == gs[6] == 0.25
    assert gs[3] == gs[5] == pytest.approx(1 / 5.6e-7)
    assert xs[5] == xs[7] == pytest.approx(1 / 5.6e-7)
    assert np.delete(xs, [5, 7]) == pytest.approx([0.5] * 7)
    assert x_scale[5] == 0.5 and g_scale[3] == 0.25  # the inputs are not changed in place
    assert 0.3 > OUTPUT_UNITS_BELOW > 5.6e-7
