"""Bands on the learned term (``idaes_hybrid.uncertainty.term_band``) and their plots."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.output.flowsheet import plot_learned_terms
from idaes_hybrid.output.plots import plot_learned_rate, widened_grid
from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR
from idaes_hybrid.training.train import TrainingResult
from idaes_hybrid.uncertainty.term_band import TermBand, term_band

PNG = b"\x89PNG\r\n\x1a\n"


def _network(n_in: int = 2, seed: int = 3) -> NetworkSpec:
    spec = NetworkSpec.dense(n_in, [5, 4], 1, "softplus", seed=seed)
    spec.input_mean, spec.input_std = np.full(n_in, 1.5), np.full(n_in, 0.7)
    spec.output_mean, spec.output_std = np.array([0.2]), np.array([0.05])
    return spec


def _finite_difference_gradient(spec: NetworkSpec, v: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d NN(v) / d theta by central differences, shape (n_points, n_theta)."""
    theta = spec.flat_parameters()
    probe = NetworkSpec.from_dict(spec.to_dict())
    out = np.empty((v.shape[0], theta.size))
    for j in range(theta.size):
        values = []
        for step in (h, -h):
            t = theta.copy()
            t[j] += step
            probe.set_flat_parameters(t)
            values.append(probe.predict(v)[:, 0])
        out[:, j] = (values[0] - values[1]) / (2 * h)
    return out


@pytest.mark.unit
def test_laplace_term_band_matches_a_finite_difference_propagation():
    spec = _network()
    rng = np.random.default_rng(0)
    a = rng.normal(size=(spec.n_parameters, spec.n_parameters))
    cov = 1e-3 * (a @ a.T / spec.n_parameters + np.eye(spec.n_parameters))
    v = rng.uniform(0.0, 3.0, size=(7, 2))
    g = _finite_difference_gradient(spec, v)
    sd_fd = np.sqrt(np.einsum("pi,ij,pj->p", g, cov, g))
    band = TermBand(spec, 0.9, covariance=cov)
    np.testing.assert_allclose(band.sd(v)[:, 0], sd_fd, rtol=1e-5)
    centre, lower, upper = band(v)
    np.testing.assert_allclose(centre, spec.predict(v))
    z = norm.ppf(0.95)
    np.testing.assert_allclose(upper[:, 0] - centre[:, 0], z * sd_fd, rtol=1e-5)
    np.testing.assert_allclose(centre - lower, upper - centre)


@pytest.mark.unit
def test_ensemble_term_band_is_the_members_spread():
    spec = _network()
    members = tuple(_network(seed=s) for s in (10, 11, 12))
    v = np.linspace(0.0, 3.0, 12).reshape(6, 2)
    band = TermBand(spec, 0.8, members=members)
    outs = np.stack([m.predict(v)[:, 0] for m in members])
    np.testing.assert_allclose(band.sd(v)[:, 0], outs.std(axis=0, ddof=1))
    _, lower, upper = band(v)
    np.testing.assert_allclose(upper[:, 0] - lower[:, 0], 2 * student_t.ppf(0.9, 2) * outs.std(axis=0, ddof=1))


@pytest.mark.unit
def test_ensemble_term_band_with_a_prior_share_adds_it_to_the_members_spread():
    """resample = "residuals": sd^2 = members' sample variance + g^T C g (g by finite
    differences), the normal quantile; read back from a saved entry the same way, and a
    prior share of another network's size is refused."""
    spec = _network()
    members = tuple(_network(seed=s) for s in (10, 11, 12))
    rng = np.random.default_rng(1)
    a = rng.normal(size=(spec.n_parameters, spec.n_parameters))
    prior = 1e-3 * a @ a.T / spec.n_parameters
    v = rng.uniform(0.0, 3.0, size=(5, 2))
    g = _finite_difference_gradient(spec, v)
    var = np.stack([m.predict(v)[:, 0] for m in members]).var(axis=0, ddof=1) + np.einsum("pi,ij,pj->p", g, prior, g)
    band = TermBand(spec, 0.9, covariance=prior, members=members)
    np.testing.assert_allclose(band.sd(v)[:, 0], np.sqrt(var), rtol=1e-5)
    centre, _, upper = band(v)
    np.testing.assert_allclose(upper[:, 0] - centre[:, 0], norm.ppf(0.95) * np.sqrt(var), rtol=1e-5)
    saved = {"method": "ensemble", "members": [m.to_dict() for m in members], "prior_covariance": prior.tolist()}
    np.testing.assert_allclose(term_band(spec, saved).sd(v), band.sd(v))
    assert term_band(spec, {**saved, "prior_covariance": [[1.0]]}) is None


@pytest.mark.unit
def test_laplace_band_widens_away_from_the_data():
    """A Gauss-Newton Laplace posterior fitted on x in [0, 1]: the band at x = 3 is wider."""
    spec = NetworkSpec.dense(1, [8], 1, "tanh", seed=1)
    x = np.linspace(0.0, 1.0, 40)[:, None]
    band0 = TermBand(spec, 0.9, covariance=np.eye(spec.n_parameters))
    from idaes_hybrid.nn.batched import BatchedNetwork

    j, _ = BatchedNetwork(spec).jacobian(spec.flat_parameters(), x)
    precision = j[:, 0, :].T @ j[:, 0, :] / 0.01 ** 2 + np.eye(spec.n_parameters)
    band = TermBand(spec, 0.9, covariance=np.linalg.inv(precision))
    inside, outside = band.sd(np.array([[0.5]]))[0, 0], band.sd(np.array([[3.0]]))[0, 0]
    assert outside > 5 * inside
    assert band0.sd(x).shape == (40, 1)


@pytest.mark.unit
def test_term_band_from_saved_entries():
    spec = _network()
    cov = np.eye(spec.n_parameters) * 1e-4
    assert isinstance(term_band(spec, {"method": "laplace", "covariance": cov.tolist(), "level": 0.8}),
                      TermBand)
    assert term_band(spec, {"method": "laplace", "covariance": [[1.0]]}) is None  # another network
    members = [_network(seed=s).to_dict() for s in (1, 2)]
    ens = term_band(spec, {"method": "ensemble", "members": members, "level": 0.9})
    assert ens.members and ens.level == 0.9
    assert term_band(spec, None) is None
    assert term_band(spec, {"method": "ensemble", "members": members[:1]}) is None


@pytest.mark.unit
def test_widened_grid():
    grid = widened_grid(np.array([1.0, 3.0, np.nan]), n=5, widen=0.25)
    np.testing.assert_allclose(grid, [0.5, 1.25, 2.0, 2.75, 3.5])


def _result(spec: NetworkSpec, inputs: list[str]) -> TrainingResult:
    t = np.linspace(0.0, 40.0, 9)
    traj = {"time": t, "X": 0.1 * np.exp(t / 10), "P": t / 50, "S": 10 * np.exp(-t / 20),
            "V": 1 + 0.05 * t}
    v = np.column_stack([traj[n] for n in inputs])
    traj["mu"] = spec.predict(v)[:, 0]
    return TrainingResult(spec=spec, status="optimal", iterations=1, objective=0.0, wall_time_s=0.0,
                          stages={}, train_rmse={}, validation_rmse={}, per_experiment_rmse={},
                          trajectories={"b1": traj}, specs={"growth": spec},
                          smoother_profiles={"inputs": v, "outputs": traj["mu"][:, None]},
                          term_profiles={"growth": {"inputs": v, "outputs": traj["mu"][:, None]}})


@pytest.mark.unit
@pytest.mark.parametrize("inputs", [["S"], ["X", "S"]])
def test_plots_draw_the_band(tmp_path, inputs):
    spec = _network(len(inputs))
    calls = []
    band = TermBand(spec, 0.9, covariance=np.eye(spec.n_parameters) * 1e-4)

    def spy(v):
        calls.append(np.asarray(v).shape)
        return band(v)

    result = _result(spec, inputs)
    rate = plot_learned_rate(spec, result, FED_BATCH_BIOREACTOR, inputs, tmp_path / "rate.png", band=spy)
    plot_learned_terms(result, tmp_path / "term.png", {"growth": spy})
    assert rate.read_bytes()[:8] == PNG and (tmp_path / "term.png").read_bytes()[:8] == PNG
    assert (200, 1) in calls if len(inputs) == 1 else (9, 2) in calls
    # the flowsheet panel: a one-input term's widened sweep, a two-input term's own points
    assert ((100, 1) if len(inputs) == 1 else (9, 2)) in calls
