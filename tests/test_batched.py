"""The batched network path: exact derivatives and agreement with the .nl path."""

import numpy as np
import pyomo.environ as pyo
import pytest

from idaes_hybrid.solve.batched import solve_batched, solve_hybrid
from idaes_hybrid.nn.batched import BatchedNetwork
from idaes_hybrid.nn.block import NeuralNetworkBlock
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec

FD_STEP = 1e-6
FD_TOL = 5e-8
FIT_RMSE = 0.02


def _setup(act, seed=1):
    spec = NetworkSpec.dense(3, [5, 4], 2, act, seed=seed)
    rng = np.random.default_rng(seed)
    theta = spec.flat_parameters() + rng.normal(0, 0.2, spec.n_parameters)
    return BatchedNetwork(spec), spec, theta, rng.normal(0, 1, (6, 3)), rng.normal(0, 1, (6, 2))


def _grad(net, theta, u, c):
    d_t, d_u = net.jacobian(theta, u)
    return np.einsum("po,pot->t", c, d_t), np.einsum("po,poi->pi", c, d_u)


@pytest.mark.unit
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "swish"])
def test_batched_derivatives_match_finite_differences(act):
    net, spec, theta, u, c = _setup(act)
    spec.set_flat_parameters(theta)
    np.testing.assert_allclose(net.forward(theta, u), spec.forward_normalized(u), atol=1e-14)
    d_t, d_u = net.jacobian(theta, u)
    eye_t, eye_u = np.eye(theta.size), np.eye(3)
    fd_t = np.stack([(net.forward(theta + FD_STEP * e, u) - net.forward(theta - FD_STEP * e, u))
                     / (2 * FD_STEP) for e in eye_t], -1)
    fd_u = np.stack([(net.forward(theta, u + FD_STEP * e) - net.forward(theta, u - FD_STEP * e))
                     / (2 * FD_STEP) for e in eye_u], -1)
    assert np.abs(fd_t - d_t).max() < FD_TOL
    assert np.abs(fd_u - d_u).max() < FD_TOL
    h_tt, h_ut, h_uu = net.weighted_hessian(theta, u, c)
    fd_tt = np.stack([(_grad(net, theta + FD_STEP * e, u, c)[0] - _grad(net, theta - FD_STEP * e, u, c)[0])
                      / (2 * FD_STEP) for e in eye_t])
    assert np.abs(fd_tt - h_tt).max() < FD_TOL
    for p in range(u.shape[0]):
        for i in range(3):
            du = np.zeros_like(u)
            du[p, i] = FD_STEP
            g1, g0 = _grad(net, theta, u + du, c), _grad(net, theta, u - du, c)
            assert np.abs((g1[0] - g0[0]) / (2 * FD_STEP) - h_ut[p, i]).max() < FD_TOL
            assert np.abs((g1[1][p] - g0[1][p]) / (2 * FD_STEP) - h_uu[p, i]).max() < FD_TOL


@pytest.mark.unit
@pytest.mark.parametrize("output", ["linear", "sigmoid"])
def test_weighted_hessian_of_a_deeper_network_matches_finite_differences(output):
    """Three hidden layers, two outputs: every block of the parameter Hessian, both ways
    (both triangles computed; the upper blocks only, the others their transposes), against
    differences of the gradient and against each other. With a linear output layer the
    upper-only sweep takes the last hidden layer's own rows in closed form; with a
    nonlinear one it cannot."""
    spec = NetworkSpec.dense(2, [4, 3, 3], 2, "swish", output_activation=output, seed=5)
    rng = np.random.default_rng(5)
    theta = spec.flat_parameters() + rng.normal(0, 0.3, spec.n_parameters)
    net, u, c = BatchedNetwork(spec), rng.normal(0, 1, (7, 2)), rng.normal(0, 1, (7, 2))
    h_tt, _, h_uu = net.weighted_hessian(theta, u, c, mixed=False)
    u_tt, _, u_uu = net.weighted_hessian(theta, u, c, mixed=False, upper_only=True)
    eye_t = np.eye(theta.size)
    fd_tt = np.stack([(_grad(net, theta + FD_STEP * e, u, c)[0] - _grad(net, theta - FD_STEP * e, u, c)[0])
                      / (2 * FD_STEP) for e in eye_t])
    assert np.abs(fd_tt - h_tt).max() < FD_TOL and np.abs(fd_tt - u_tt).max() < FD_TOL
    np.testing.assert_array_equal(h_tt, h_tt.T)
    np.testing.assert_array_equal(u_tt, u_tt.T)
    np.testing.assert_allclose(u_tt, h_tt, rtol=0, atol=1e-14 * np.abs(h_tt).max())
    np.testing.assert_array_equal(u_uu, h_uu)
    for i in range(2):
        du = np.zeros_like(u)
        du[:, i] = FD_STEP
        fd_uu = (_grad(net, theta, u + du, c)[1] - _grad(net, theta, u - du, c)[1]) / (2 * FD_STEP)
        assert np.abs(fd_uu - h_uu[:, i]).max() < FD_TOL


def _sin_fit_model(formulation, n=40, seed=0):
    """Fit z = sin(v) on [-3, 3] with a 1-8-1 tanh network: a known smooth target."""
    v = np.linspace(-3, 3, n)
    m = pyo.ConcreteModel()
    m.P = pyo.RangeSet(0, n - 1)
    m.v = pyo.Var(m.P, initialize=lambda m, p: v[p])
    m.v.fix()
    m.z = pyo.Var(m.P, initialize=0.0)
    spec = NetworkSpec.dense(1, [8], 1, "tanh", seed=seed)
    spec.input_std = np.array([2.0])
    m.net = NeuralNetworkBlock(spec=spec, formulation=formulation)
    m.net.add_points("pts", list(m.P), inputs=lambda p: [m.v[p]], outputs=lambda p: [m.z[p]])
    m.net.initialize_points()
    m.net.unfix_weights()
    m.obj = pyo.Objective(expr=sum((m.z[p] - np.sin(v[p])) ** 2 for p in m.P) / n
                          + 1e-6 * m.net.l2_norm_squared())
    return m, v


@pytest.mark.component
@pytest.mark.parametrize("formulation", list(Formulation))
def test_fit_sin_reaches_small_error(formulation):
    m, v = _sin_fit_model(formulation)
    result = solve_hybrid(m, m.net, {"tol": 1e-8, "max_iter": 500})
    assert result.ok, result.termination_message
    assert result.iterations > 0
    spec = m.net.to_spec()
    rmse = np.sqrt(np.mean((spec.predict(v[:, None])[:, 0] - np.sin(v)) ** 2))
    assert rmse < FIT_RMSE
    z = np.array([pyo.value(m.z[p]) for p in m.P])
    np.testing.assert_allclose(z, spec.predict(v[:, None])[:, 0], atol=1e-6)


@pytest.mark.component
def test_batched_and_nested_paths_reach_the_same_optimum():
    a, _ = _sin_fit_model(Formulation.NESTED)
    b, _ = _sin_fit_model(Formulation.BATCHED)
    opts = {"tol": 1e-10, "max_iter": 500}
    ra = solve_hybrid(a, a.net, opts)
    rb = solve_batched(b, b.net, opts)
    assert ra.ok and rb.ok
    assert rb.objective == pytest.approx(ra.objective, rel=1e-6, abs=1e-9)
    v = np.linspace(-3, 3, 40)[:, None]
    np.testing.assert_allclose(a.net.to_spec().predict(v), b.net.to_spec().predict(v), atol=1e-4)


@pytest.mark.component
def test_two_networks_in_one_batched_solve_match_the_nested_formulation():
    """Two networks with different shapes fitted in one model: the batched path with
    both (one row block per network) reaches the nested formulation's optimum."""
    def model(formulation):
        return _two_network_model(formulation, initialize=False)

    opts = {"tol": 1e-9, "max_iter": 1000}
    a, b = model(Formulation.NESTED), model(Formulation.BATCHED)
    ra, rb = solve_hybrid(a, [a.a, a.b], opts), solve_hybrid(b, [b.a, b.b], opts)
    assert ra.ok and rb.ok and rb.solver_name.endswith("batched")
    assert rb.objective == pytest.approx(ra.objective, rel=1e-5, abs=1e-8)
    for p in (0, 12, 29):
        assert pyo.value(b.w[p]) == pytest.approx(pyo.value(a.w[p]), abs=1e-4)


@pytest.mark.component
@pytest.mark.parametrize("order", [7, 5])
def test_mumps_ordering_changes_the_time_not_the_optimum(order):
    """AMD (the flowsheet path's training default) and MUMPS's own choice (7) or METIS (5)
    solve the same KKT systems: same optimum of the sin fit to solver tolerance."""
    a, v = _sin_fit_model(Formulation.BATCHED)
    b, _ = _sin_fit_model(Formulation.BATCHED)
    ra = solve_batched(a, a.net, {"tol": 1e-10, "max_iter": 500, "mumps_pivot_order": 0})
    rb = solve_batched(b, b.net, {"tol": 1e-10, "max_iter": 500, "mumps_pivot_order": order})
    assert ra.ok and rb.ok
    assert rb.objective == pytest.approx(ra.objective, rel=1e-8, abs=1e-12)
    np.testing.assert_allclose(a.net.to_spec().predict(v[:, None]), b.net.to_spec().predict(v[:, None]),
                               atol=1e-6)


def _two_network_model(formulation=Formulation.BATCHED, initialize: bool = True):
    """Two networks, the second fed by the first's output (a variable input: the network
    Hessian couples its weights with its inputs); ``initialize``: outputs from the networks."""
    m = pyo.ConcreteModel()
    m.P = pyo.RangeSet(0, 29)
    x = np.linspace(-2, 2, 30)
    m.x = pyo.Var(m.P, initialize=dict(enumerate(x)))
    m.x.fix()
    m.y = pyo.Var(m.P, initialize=0.0)
    m.w = pyo.Var(m.P, initialize=0.0)
    m.a = NeuralNetworkBlock(spec=NetworkSpec.dense(1, [4], 1, "tanh", seed=1), formulation=formulation)
    m.b = NeuralNetworkBlock(spec=NetworkSpec.dense(2, [3], 1, "softplus", seed=2), formulation=formulation)
    m.a.add_points("pts", list(m.P), inputs=lambda p: [m.x[p]], outputs=lambda p: [m.y[p]])
    m.b.add_points("pts", list(m.P), inputs=lambda p: [m.x[p], m.y[p]], outputs=lambda p: [m.w[p]])
    if initialize:
        m.a.initialize_points()
        m.b.initialize_points()
    m.a.unfix_weights()
    m.b.unfix_weights()
    m.obj = pyo.Objective(expr=sum((m.y[p] - np.sin(x[p])) ** 2 + (m.w[p] - x[p] ** 2) ** 2 for p in m.P)
                          + 1e-3 * (m.a.l2_norm_squared() + m.b.l2_norm_squared()))
    return m


@pytest.mark.unit
def test_weighted_hessian_without_the_mixed_block_keeps_the_other_blocks():
    net, _, theta, u, c = _setup("softplus")
    h_tt, h_ut, h_uu = net.weighted_hessian(theta, u, c)
    b_tt, b_ut, b_uu = net.weighted_hessian(theta, u, c, mixed=False)
    assert b_ut is None and h_ut.shape == (6, 3, theta.size)
    np.testing.assert_array_equal(b_tt, h_tt)
    np.testing.assert_array_equal(b_uu, h_uu)


@pytest.mark.component
def test_block_diagonal_network_hessian_drops_exactly_the_weight_input_entries():
    """The uncoupled structure is the coupled one minus (free input, weight) pairs of every
    point (network b: 30 points x 1 free input y x 13 weights), with equal values elsewhere."""
    from idaes_hybrid.solve.batched import build_batched_nlp

    m = _two_network_model()
    full, split = (build_batched_nlp(m, [m.a, m.b], coupled=c) for c in (True, False))
    rng = np.random.default_rng(3)
    x = full.x0 + rng.normal(0, 0.1, full.x0.size)
    lam = rng.normal(0, 1, full.net.n_rows)
    n_b = m.b.to_spec().n_parameters
    assert len(full.net.hess_rows) - len(split.net.hess_rows) == 30 * 1 * n_b
    h_full = dict(zip(zip(full.net.hess_rows, full.net.hess_cols), full.net.hessian(x, lam)))
    h_split = dict(zip(zip(split.net.hess_rows, split.net.hess_cols), split.net.hessian(x, lam)))
    assert set(h_split) < set(h_full)
    for key, value in h_split.items():
        assert value == pytest.approx(h_full[key], rel=1e-12, abs=1e-14)


@pytest.mark.component
def test_block_diagonal_network_hessian_reaches_the_exact_hessians_optimum():
    """Same NLP, other steps: started near a local optimum of the exact-Hessian solve (its
    weights perturbed by 5 %), the block-diagonal solve returns to it (objective and
    predictions to tolerance)."""
    opts = {"tol": 1e-10, "max_iter": 1000}
    a, b = _two_network_model(), _two_network_model()
    ra = solve_batched(a, [a.a, a.b], opts)
    assert ra.ok
    rng = np.random.default_rng(0)
    for va, vb in zip(a.component_data_objects(pyo.Var), b.component_data_objects(pyo.Var)):
        vb.set_value(va.value)
    for net in (b.a, b.b):
        for v in net.parameter_vars_flat():
            v.set_value(v.value * (1 + 0.05 * rng.normal()))
        net.initialize_points()
    rb = solve_batched(b, [b.a, b.b], {**opts, "hessian_approximation": "block-diagonal"})
    assert rb.ok and rb.iterations > 3
    assert rb.objective == pytest.approx(ra.objective, rel=1e-7, abs=1e-10)
    for p in (0, 12, 29):
        assert pyo.value(b.w[p]) == pytest.approx(pyo.value(a.w[p]), abs=1e-5)
