"""Feed optimization over an ensemble's members at once (``idaes_hybrid.optimize.ensemble``)."""

from __future__ import annotations

import numpy as np
import pytest

from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR
from idaes_hybrid.optimize.ensemble import EnsembleObjective, optimize_feed_ensemble
from idaes_hybrid.optimize.feed import FeedRequest, OptimizationRequestError, optimize_feed
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.problem import Discretization
from small_networks import monod_network

INITIAL = {"X": 0.1, "P": 0.0, "S": 5.0, "V": 1.0}
REQUEST = FeedRequest(INITIAL, Sf=20.0, horizon=40.0, n_intervals=4, F_bounds=(0.0, 0.2), V_max=2.5)
MODEL = HybridModel(FED_BATCH_BIOREACTOR, {"Yxs": 0.5, "Ypx": 0.2}, ("X", "S"),
                    Discretization(nfe=8, ncp=2), solver_options={"tol": 1e-8, "max_iter": 500})


@pytest.mark.unit
def test_bad_requests_name_the_field():
    with pytest.raises(OptimizationRequestError, match="^members: "):
        optimize_feed_ensemble(MODEL, [monod_network()], REQUEST)
    bad = FeedRequest(INITIAL, Sf=20.0, horizon=40.0, n_intervals=4, F_bounds=(0.0, 0.2), V_max=0.5)
    with pytest.raises(OptimizationRequestError, match="^V_max: "):
        optimize_feed_ensemble(MODEL, [monod_network(), monod_network()], bad)
    with pytest.raises(ValueError):
        optimize_feed_ensemble(MODEL, [monod_network(), monod_network()], REQUEST, objective="best")


@pytest.mark.component
@pytest.mark.parametrize("objective", list(EnsembleObjective))
def test_identical_members_give_the_single_models_optimum(objective):
    """Two copies of one network: both objectives are that network's own optimum."""
    spec = monod_network()
    single = optimize_feed(MODEL.replace(spec=spec), REQUEST)
    ens = optimize_feed_ensemble(MODEL, [spec, monod_network()], REQUEST, objective=objective)
    assert ens.status in ("optimal", "acceptable")
    assert ens.product_mass == pytest.approx(single.product_mass, rel=1e-5)
    np.testing.assert_allclose(ens.product_masses, single.product_mass, rtol=1e-5)
    np.testing.assert_allclose(ens.profile.values, single.profile.values, atol=1e-4)


@pytest.mark.component
def test_worst_case_protects_the_weaker_member():
    """A fast and a slow grower: the worst-case optimum gives the slow member at least what
    the expected optimum gives it, and at most the expected optimum's mean."""
    members = [monod_network(mu_max=0.25, Ks=1.0), monod_network(mu_max=0.15, Ks=2.0)]
    expected = optimize_feed_ensemble(MODEL, members, REQUEST, objective="expected")
    worst = optimize_feed_ensemble(MODEL, members, REQUEST, objective="worst-case")
    assert expected.product_mass == pytest.approx(np.mean(expected.product_masses), rel=1e-9)
    assert worst.product_mass == pytest.approx(min(worst.product_masses), rel=1e-9)
    assert min(worst.product_masses) >= min(expected.product_masses) - 1e-6
    assert np.mean(worst.product_masses) <= expected.product_mass + 1e-6
    # each member's optimum alone bounds what the shared feed gives it
    for k, spec in enumerate(members):
        alone = optimize_feed(MODEL.replace(spec=spec), REQUEST)
        assert expected.product_masses[k] <= alone.product_mass + 1e-6
    # every copy stays within the volume limit with the one shared feed
    for traj in expected.trajectories:
        assert traj["V"].max() <= REQUEST.V_max + 1e-6
        np.testing.assert_allclose(traj["F"], expected.trajectories[0]["F"], atol=1e-9)


# ----------------------------------------------------------------------------- command line
CASE = __import__("pathlib").Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"


def _config(tmp_path, uncertainty: str, ensemble: str | None) -> "Path":
    text = (CASE / "config.toml").read_text().replace('data = "data/', f'data = "{CASE}/data/')
    text = text.replace("nfe = 20", "nfe = 10").replace("hidden = [20, 20]", "hidden = [6]")
    if ensemble is not None:
        text = text.replace("[optimization]\n", f'[optimization]\nensemble = "{ensemble}"\n')
    path = tmp_path / f"{ensemble or 'nominal'}.toml"
    path.write_text(text + "\n" + uncertainty)
    return path


@pytest.mark.unit
def test_config_ensemble_key_is_checked(tmp_path):
    from idaes_hybrid.config.run import ConfigError, load_run_config

    assert load_run_config(_config(tmp_path, "", "worst-case")).optimization.ensemble \
        is EnsembleObjective.WORST_CASE
    assert load_run_config(_config(tmp_path, "", None)).optimization.ensemble is None
    with pytest.raises(ConfigError, match=r"^optimization\.ensemble: expected one of"):
        load_run_config(_config(tmp_path, "", "median"))


@pytest.mark.component
def test_cli_optimizes_over_the_saved_members(tmp_path, capsys):
    """``ensemble = "worst-case"`` on a saved model whose members are two Monod-like
    networks: the members' smallest product is the objective, it equals the API's, and
    the product on the true model is the reference simulation of that profile."""
    import json

    from idaes_hybrid.cli.app import main
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.optimize.feed import FeedProfile, evaluate_feed_on_reference
    from idaes_hybrid.output.saved import save_model
    from idaes_hybrid.uncertainty.ensemble import EnsembleMembers

    cfg = _config(tmp_path, "", "worst-case")
    cfg.write_text(cfg.read_text().replace('inputs = ["X", "S", "P", "V"]', 'inputs = ["X", "S"]')
                   .replace("hidden = [6]", "hidden = [16]"))
    config = load_run_config(cfg)
    members = [monod_network(mu_max=0.25, Ks=1.0), monod_network(mu_max=0.15, Ks=2.0)]
    saved = {**EnsembleMembers(members, [1, 2], [["b1"], ["b2"]], 2).to_dict(), "level": 0.9}
    save_model(tmp_path / "model", monod_network(), config, uncertainty=saved)
    assert main(["optimize", str(tmp_path / "model"), str(cfg), "--out", str(tmp_path / "opt"),
                 "--quiet"]) == 0
    ens = json.loads((tmp_path / "opt" / "optimization.json").read_text())["ensemble_optimum"]
    assert ens["objective"] == "worst-case" and len(ens["member_product_masses"]) == 2
    assert ens["product_mass"] == pytest.approx(min(ens["member_product_masses"]), rel=1e-9)
    api = optimize_feed_ensemble(config.hybrid_model(), members, config.optimization.request(),
                                 objective="worst-case")
    assert ens["product_mass"] == pytest.approx(api.product_mass, rel=1e-6)
    truth = config.hybrid_model(physics={**config.physics, **config.reference})
    profile = FeedProfile(tuple(ens["feed_profile"]["edges"]), tuple(ens["feed_profile"]["values"]))
    again = evaluate_feed_on_reference(truth, config.optimization.initial, config.optimization.Sf, profile)
    assert ens["product_true"] == pytest.approx(again.product_mass, rel=1e-6)
    assert "ensemble optimum (worst-case)" in capsys.readouterr().out
    # a model without members cannot be asked for it
    save_model(tmp_path / "plain", monod_network(), config)
    assert main(["optimize", str(tmp_path / "plain"), str(cfg), "--out", str(tmp_path / "o2"),
                 "--quiet"]) == 2
    assert "optimization.ensemble: the saved model has no ensemble members" in capsys.readouterr().err


@pytest.mark.component
def test_a_rate_that_never_vanishes_is_infeasible_with_a_hint():
    """mu = 0.08 1/h whatever S: without the uptake limit the biomass outgrows any feed the
    volume allows, so S >= 0 cannot hold and the error says why. With it (the default of
    every optimization) no substrate means no growth: the optimum converts all the substrate
    the volume allows, the stoichiometric bound Ypx Yxs (S0 V0 + Sf (V_max - V0)) = 0.45 g."""
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.optimize.feed import OptimizationError

    constant = NetworkSpec.dense(2, [2], 1, "softplus", seed=0)
    for w in (*constant.weights, *constant.biases):
        w[...] = 0.0
    constant.output_mean[:] = 0.08
    request = FeedRequest({"X": 1.0, "P": 0.0, "S": 2.0, "V": 1.0}, Sf=5.0, horizon=40.0,
                          n_intervals=4, F_bounds=(0.0, 0.2), V_max=1.5)
    with pytest.raises(OptimizationError, match=r"infeasible.*mu > 0 at S = 0"):
        optimize_feed(MODEL.replace(spec=constant, unit_config={"uptake_limit": False}), request)
    limited = optimize_feed(MODEL.replace(spec=constant), request)
    assert limited.product_mass == pytest.approx(0.2 * 0.5 * (2.0 * 1.0 + 5.0 * 0.5), rel=1e-3)
    assert limited.trajectories["S"].min() >= 0.0


def _inhibited_network(mu_max: float = 0.25, Ks: float = 1.0, S_zero: float = 4.0) -> NetworkSpec:
    """A softplus network of (X, S) fitted to ``mu_max S / (Ks + S) (1 - S / S_zero)``: a
    rate that turns negative above ``S_zero``, as an ensemble member extrapolating past
    low-substrate training data can."""
    from idaes_hybrid.diagnostics.diagnose import fit_output_layer

    spec = NetworkSpec.dense(2, [16], 1, "softplus")
    xs, ss = np.meshgrid(np.linspace(0.0, 8.0, 9), np.linspace(0.0, 25.0, 101))
    v = np.column_stack([xs.ravel(), ss.ravel()])
    z = (mu_max * v[:, 1] / (Ks + v[:, 1]) * (1.0 - v[:, 1] / S_zero))[:, None]
    spec.input_mean, spec.input_std = v.mean(axis=0), v.std(axis=0)
    spec.output_mean, spec.output_std = z.mean(axis=0), z.std(axis=0)
    knots = (np.geomspace(0.05, 25.0, 16) - spec.input_mean[1]) / spec.input_std[1]
    spec.weights[0] = np.column_stack([np.zeros(16), np.full(16, 6.0)])
    spec.biases[0] = -6.0 * knots
    assert fit_output_layer(spec, v, z, ridge=1e-6)
    assert np.abs(spec.predict(v) - z).max() < 0.01
    return spec


@pytest.mark.component
def test_a_member_infeasible_from_the_filling_feed_is_solved_from_f_min():
    """A member whose rate is negative at high S: from the filling feed S rises past
    S_zero, its product would fall below 0 and the solve ends infeasible (the old code
    stopped there). Started again from F_min the ensemble of two copies of that network
    reaches that network's own optimum (optimize_feed from F_min, one flowsheet)."""
    from idaes_hybrid.optimize.feed import FeedProfile

    request = FeedRequest({"X": 0.5, "P": 0.0, "S": 1.0, "V": 1.0}, Sf=20.0, horizon=40.0,
                          n_intervals=4, F_bounds=(0.0, 0.2), V_max=2.5)
    spec = _inhibited_network()
    single = optimize_feed(MODEL.replace(spec=spec), request,
                           initial_feed=FeedProfile.uniform([0.0] * 4, 40.0))
    ens = optimize_feed_ensemble(MODEL, [spec, _inhibited_network()], request)
    assert ens.status in ("optimal", "acceptable")
    assert ens.product_mass == pytest.approx(single.product_mass, rel=1e-5)
    np.testing.assert_allclose(ens.profile.values, single.profile.values, atol=1e-4)
    assert min(traj["P"].min() for traj in ens.trajectories) >= -1e-8
