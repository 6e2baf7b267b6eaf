"""Ensemble prediction bands ([uncertainty] method = "ensemble"): the bootstrap resample,
the band against a direct computation from the saved members' simulations, the command
line on both paths, the refused member counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from idaes_hybrid.uncertainty.ensemble import bootstrap_experiments

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"


def _flowsheet_config(tmp_path: Path, uncertainty: str) -> Path:
    text = (CASE / "config_flowsheet.toml").read_text()
    text = text.replace('build = "hybrid_flowsheet.py:build"', f'build = "{CASE}/hybrid_flowsheet.py:build"')
    text = text.replace('data = "data/', f'data = "{CASE}/data/').replace("nfe = 20", "nfe = 10")
    text = text.replace("hidden = [20, 20]", "hidden = [6]")
    cfg = tmp_path / "fs.toml"
    cfg.write_text(text + "\n" + uncertainty)
    return cfg


def _unit_config(tmp_path: Path, uncertainty: str) -> Path:
    text = (CASE / "config.toml").read_text().replace('data = "data/', f'data = "{CASE}/data/')
    text = text.replace("nfe = 20", "nfe = 10").replace("hidden = [20, 20]", "hidden = [6]")
    cfg = tmp_path / "unit.toml"
    cfg.write_text(text + "\n" + uncertainty)
    return cfg


# ----------------------------------------------------------------------------- resample
@pytest.mark.unit
def test_bootstrap_resample_is_deterministic_and_renames_repeated_experiments():
    from idaes_hybrid.config.run import load_run_config

    exps = [e for e in load_run_config(CASE / "config.toml").experiments if e.role.value == "train"]
    names = [e.name for e in exps]
    for seed in range(12):
        a, b = bootstrap_experiments(exps, seed), bootstrap_experiments(exps, seed)
        assert [e.name for e in a] == [e.name for e in b]
        assert len(a) == len(exps) and len({e.name for e in a}) == len(a)
        # the draw is numpy's: sorted indices of rng.integers(0, n, n)
        drawn = np.sort(np.random.default_rng(seed).integers(0, len(exps), size=len(exps)))
        assert [e.name.split("~")[0] for e in a] == [names[i] for i in drawn]
        for e in a:
            base = e.name.split("~")[0]
            original = exps[names.index(base)]
            assert e.measurements is original.measurements and e.initial == original.initial
    # a seed that repeats an experiment: the copies are named <name>~2, <name>~3
    repeated = next(s for s in range(50) if len({e.name.split("~")[0] for e in bootstrap_experiments(exps, s)}) < 3)
    sample = [e.name for e in bootstrap_experiments(exps, repeated)]
    first = next(n for n in sample if sample.count(n) == 1 and f"{n}~2" in sample)
    assert f"{first}~2" in sample
    assert all(n.startswith(tuple(names)) for n in sample)


@pytest.mark.unit
def test_bootstrap_copy_name_skips_names_already_taken():
    from dataclasses import replace

    from idaes_hybrid.config.run import load_run_config

    b1 = load_run_config(CASE / "config.toml").experiments[0]
    exps = [b1, replace(b1, name=f"{b1.name}~2")]
    for seed in range(20):
        sample = [e.name for e in bootstrap_experiments(exps, seed)]
        assert len(set(sample)) == len(sample)


# ----------------------------------------------------------------------------- settings
@pytest.mark.unit
@pytest.mark.parametrize("members", [0, 1])
def test_too_few_members_are_refused_naming_the_field(tmp_path, members):
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.config.run import ConfigError, load_run_config

    table = f'[uncertainty]\nmethod = "ensemble"\nmembers = {members}\n'
    with pytest.raises(ConfigError, match=r"uncertainty\.members: expected an integer >= 2"):
        load_run_config(_unit_config(tmp_path, table))
    with pytest.raises(ConfigError, match=r"uncertainty\.members: expected an integer >= 2"):
        load_flowsheet_config(_flowsheet_config(tmp_path, table))


@pytest.mark.unit
def test_ensemble_table_is_accepted(tmp_path):
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.uncertainty.settings import UncertaintySettings

    cfg = load_run_config(_unit_config(tmp_path, '[uncertainty]\nmethod = "ensemble"\nmembers = 3\n'))
    assert cfg.uncertainty == UncertaintySettings(method="ensemble", members=3, level=0.9)


@pytest.mark.unit
def test_member_data_resamples_and_perturbs_as_the_setting_says():
    """residuals: all experiments, every measurement moved by noise of its sd (sample sd of
    the shifts = sd within 15 %); experiments: a resample with the data as measured; both:
    a resample, perturbed. Without noise levels the experiments are resampled."""
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.uncertainty.ensemble import member_data
    from idaes_hybrid.uncertainty.settings import Resampling

    exps = [e for e in load_run_config(CASE / "config.toml").experiments if e.role.value == "train"]
    frames = {e.name: e.measurements for e in exps}
    sd = {"X": 0.05}
    res = member_data(exps, 3, Resampling.RESIDUALS, sd)
    assert [e.name for e in res] == [e.name for e in exps]
    shift = np.concatenate([(e.measurements["X"] - frames[e.name]["X"]).dropna().to_numpy() for e in res])
    assert shift.std() == pytest.approx(0.05, rel=0.15) and res[0].noise_sd == sd
    boot = member_data(exps, 3, Resampling.EXPERIMENTS, sd)
    assert [e.name.split("~")[0] for e in boot] == [e.name.split("~")[0] for e in bootstrap_experiments(exps, 3)]
    assert all(e.measurements["X"].equals(frames[e.name.split("~")[0]]["X"]) for e in boot)
    both = member_data(exps, 3, Resampling.BOTH, sd)
    assert [e.name for e in both] == [e.name for e in boot]
    assert not both[0].measurements["X"].equals(boot[0].measurements["X"])
    assert [e.name for e in member_data(exps, 3, Resampling.RESIDUALS, None)] == [e.name for e in boot]


@pytest.mark.unit
def test_resample_setting_is_read_and_a_bad_value_named(tmp_path):
    from idaes_hybrid.config.run import ConfigError, load_run_config

    cfg = load_run_config(_unit_config(tmp_path, '[uncertainty]\nmethod = "ensemble"\nresample = "both"\n'))
    assert cfg.uncertainty.resample.value == "both"
    with pytest.raises(ConfigError, match="uncertainty.resample: expected one of 'residuals'"):
        load_run_config(_unit_config(tmp_path, '[uncertainty]\nmethod = "ensemble"\nresample = "cases"\n'))


@pytest.mark.unit
def test_failed_members_are_dropped_and_too_few_give_no_bands(caplog):
    from dataclasses import make_dataclass

    from idaes_hybrid.uncertainty.ensemble import ensemble_uncertainty, train_members

    named = make_dataclass("Named", ["name"])
    exps = [named("a"), named("b")]

    def flaky(experiments, seed):
        if seed % 2:
            raise RuntimeError("did not converge")
        return seed

    ens = train_members(flaky, exps, 4, 10)
    assert ens.seeds == [12, 14] and ens.requested == 4
    assert set(ens.failures) == {"member 1", "member 3"}
    assert ensemble_uncertainty(flaky, None, None, exps, [], 2, 10, 0.9) is None  # one member trained


@pytest.mark.unit
def test_the_prior_share_takes_the_trainings_data_hessian():
    """With the training's data Hessian the prior share is ``alpha Sigma^2``,
    ``Sigma = (H + alpha I)^-1``, the Laplace bands' posterior; no inner problem is solved
    (a review's ensemble recomputed it and got an indefinite matrix the Laplace run had not)."""
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.uncertainty.ensemble import prior_share

    spec = NetworkSpec.dense(1, [2], 1, "softplus", seed=0)
    n = spec.n_parameters
    a = np.random.default_rng(1).normal(size=(n, n))
    hessian, alpha = a @ a.T, 1.5

    def no_inner_problems(*args, **kwargs):
        raise AssertionError("an inner problem was built")

    share = prior_share(no_inner_problems, [], spec, alpha, hessian=hessian)
    sigma = np.linalg.inv(hessian + alpha * np.eye(n))
    np.testing.assert_allclose(share, alpha * sigma @ sigma, rtol=1e-8, atol=1e-12)


@pytest.mark.unit
def test_bootstrap_of_one_training_experiment_warns(caplog):
    """resample = "experiments" with one training experiment: every member gets the same
    data (its bands covered 1 % of the validation points, without a word)."""
    from dataclasses import make_dataclass

    from idaes_hybrid.uncertainty.ensemble import train_members
    from idaes_hybrid.uncertainty.settings import Resampling

    named = make_dataclass("Named", ["name"])
    with caplog.at_level("WARNING"):
        ens = train_members(lambda experiments, seed: seed, [named("b1")], 3, 0,
                            noise_sd={"X": 0.1}, resample=Resampling.EXPERIMENTS)
    assert ens.resamples == [["b1"], ["b1"], ["b1"]]
    assert "a bootstrap resample of one training experiment is that experiment" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        train_members(lambda experiments, seed: seed, [named("b1"), named("b2")], 2, 0,
                      resample=Resampling.EXPERIMENTS)
    assert "bootstrap" not in caplog.text

# ----------------------------------------------------------------------------- command line
def _check_run(run: Path, model_file: str, n_members: int) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    unc = metrics["uncertainty"]
    assert unc["method"] == "ensemble" and unc["level"] == 0.9 and unc["members"] == n_members
    assert set(unc["validation_coverage"]) >= {"X", "S", "P"}
    assert all(0.0 <= v <= 1.0 for v in unc["validation_coverage"].values())
    saved = json.loads((run / "model" / model_file).read_text())["uncertainty"]
    assert saved["method"] == "ensemble" and len(saved["members"]) == n_members
    assert "inside the 90% band" in (run / "report.md").read_text()
    return saved


def _direct_coverage(saved: dict, base_spec, simulate, experiment) -> dict[str, float]:
    """Fraction of ``experiment``'s measurements within base +- t * sd of the members (t:
    Student's quantile, members - 1 degrees of freedom), from direct simulations (values at
    measurement times interpolated linearly)."""
    from idaes_hybrid.nn.network import NetworkSpec

    base = simulate(experiment, base_spec)
    sims = [simulate(experiment, NetworkSpec.from_dict(d)) for d in saved["members"]]
    out = {}
    for name in experiment.measured_variables:
        series = experiment.measurements[name].dropna()
        t, y = series.index.to_numpy(dtype=float), series.to_numpy(dtype=float)
        sd = np.array([np.interp(t, s.time, s[name]) for s in sims]).std(axis=0, ddof=1)
        centre = np.interp(t, base.time, base[name])
        q = student_t.ppf(0.95, len(sims) - 1)
        out[name] = float(np.mean(np.abs(y - centre) <= q * sd + 1e-6 * np.maximum(1, np.abs(y))))
    return out


def _check_prediction(out: Path, saved: dict, simulate, experiment, prior: dict | None = None) -> None:
    """The band columns against base +- t * sample sd of the saved members' simulations or,
    with ``prior`` (the prior share's sd by variable), base +- z * sqrt(sd^2 + prior^2)."""
    from scipy.stats import norm

    from idaes_hybrid.nn.network import NetworkSpec

    table = pd.read_csv(out)
    cols = list(table.columns)
    assert cols[cols.index("S") + 1: cols.index("S") + 3] == ["S_lower", "S_upper"]
    rows = table[table["experiment"] == experiment.name]
    sims = [simulate(experiment, NetworkSpec.from_dict(d)) for d in saved["members"]]
    z = student_t.ppf(0.95, len(sims) - 1) if prior is None else norm.ppf(0.95)
    for name in ("X", "S", "P"):
        runs = np.array([s[name] for s in sims])
        np.testing.assert_allclose(rows["time"].to_numpy(), sims[0].time, rtol=1e-9)
        sd = runs.std(axis=0, ddof=1)
        assert sd.max() > 0
        if prior is not None:
            assert prior[name].max() > 0
            sd = np.sqrt(sd ** 2 + prior[name] ** 2)
        np.testing.assert_allclose(rows[f"{name}_upper"] - rows[name], z * sd, rtol=1e-5, atol=1e-7)
        # the lower edge stops at the state's bound (X, S, P >= 0 in the bioreactor)
        np.testing.assert_allclose(rows[f"{name}_lower"], np.maximum(rows[name] - z * sd, 0.0),
                                   rtol=1e-5, atol=1e-7)


@pytest.mark.integration
def test_cli_flowsheet_ensemble_train_and_predict(tmp_path):
    """train (default resample = "residuals"): coverage, 3 members and the prior share
    alpha Sigma^2 (Sigma: the Laplace covariance computed here); predict: band = base +-
    z * sqrt(sd of the members^2 + the prior share's sd^2)."""
    import functools

    from idaes_hybrid.cli.app import main
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.decomposition.flowsheet_inner import FlowsheetInnerSpec
    from idaes_hybrid.model.experiment import split_by_role
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.uncertainty.ensemble import flowsheet_simulator
    from idaes_hybrid.uncertainty.laplace import laplace_covariance, prediction_bands

    cfg = _flowsheet_config(tmp_path, '[uncertainty]\nmethod = "ensemble"\nmembers = 3\n')
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 0
    saved = _check_run(run, "flowsheet_model.json", 3)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run / "model"), str(cfg), "--out", str(out), "--quiet"]) == 0
    config = load_flowsheet_config(cfg)
    disc = config.discretization
    simulate = flowsheet_simulator(config.flowsheet, disc.nfe, disc.ncp, config.training.solver_options)
    train, (val,) = split_by_role(config.experiments)
    doc = json.loads((run / "model" / "flowsheet_model.json").read_text())
    spec = NetworkSpec.from_dict(next(iter(doc["networks"].values())))
    alpha = json.loads((run / "metrics.json").read_text())["regularization"]["alpha"]
    make_spec = functools.partial(FlowsheetInnerSpec, hf=config.flowsheet, nfe=disc.nfe, ncp=disc.ncp)
    sigma = laplace_covariance(make_spec, train, spec, alpha).covariance
    np.testing.assert_allclose(saved["prior_covariance"], alpha * sigma @ sigma, rtol=1e-6,
                               atol=1e-9 * np.abs(sigma).max() ** 2)
    prior = prediction_bands(make_spec, val, spec, alpha * sigma @ sigma, 0.9, ["X", "S", "P"])
    _check_prediction(out, saved, simulate, val, prior.sd)


@pytest.mark.integration
def test_cli_unit_ensemble_train_and_predict(tmp_path, capsys):
    """The unit path (``resample = "both"``: members only): coverage in metrics.json,
    members in model.json, band columns equal to base +- z * sd of the members simulated
    directly."""
    from idaes_hybrid.cli.app import main
    from idaes_hybrid.config.unit_translation import load_config
    from idaes_hybrid.uncertainty.ensemble import flowsheet_simulator

    cfg = _unit_config(tmp_path, '[uncertainty]\nmethod = "ensemble"\nmembers = 3\nresample = "both"\n')
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 0
    saved = _check_run(run, "model.json", 3)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run / "model"), str(cfg), "--out", str(out), "--quiet"]) == 0
    config = load_config(cfg)  # the model as the one-unit flowsheet it is simulated as
    disc = config.discretization
    simulate = flowsheet_simulator(config.flowsheet, disc.nfe, disc.ncp, config.training.solver_options)
    val = next(e for e in config.experiments if e.role.value == "validation")
    _check_prediction(out, saved, simulate, val)
    from idaes_hybrid.nn.network import NetworkSpec

    doc = json.loads((run / "model" / "model.json").read_text())
    coverage = json.loads((run / "metrics.json").read_text())["uncertainty"]["validation_coverage"]
    direct = _direct_coverage(saved, NetworkSpec.from_dict(doc["network"]), simulate, val)
    assert coverage == pytest.approx(direct, abs=1e-12)
    # the members are covered by the checksum; a saved ensemble of one member is refused
    doc["uncertainty"]["members"] = doc["uncertainty"]["members"][:1]
    (run / "model" / "model.json").write_text(json.dumps(doc))
    assert main(["predict", str(run / "model"), str(cfg), "--out", str(out), "--quiet"]) == 2
    assert "checksum" in capsys.readouterr().err
    assert main(["predict", str(run / "model"), str(cfg), "--out", str(out), "--quiet",
                 "--accept-edited-model"]) == 2
    assert "uncertainty.members: expected a list of at least 2 networks" in capsys.readouterr().err


# ----------------------------------------------------------------------------- bands (no solver)
@pytest.mark.unit
def test_band_is_base_plus_minus_z_sample_sd_with_members_on_other_grids():
    """Members on a finer grid are interpolated onto the base grid; observed points use the
    members interpolated at the measurement times; coverage counts points inside."""
    from dataclasses import make_dataclass

    from idaes_hybrid.training.predict import Simulation
    from idaes_hybrid.uncertainty.ensemble import ensemble_bands
    from idaes_hybrid.uncertainty.laplace import band_coverage

    grid, fine = np.linspace(0.0, 4.0, 5), np.linspace(0.0, 4.0, 9)
    base = Simulation(grid, {"x": 2.0 * grid}, None)
    slopes = [1.5, 2.0, 2.5, 3.0]
    members = [Simulation(fine, {"x": k * fine}, None) for k in slopes]
    exp_type = make_dataclass("Exp", ["name", "measurements", "measured_variables"])
    data = pd.DataFrame({"x": [0.0, 1.0, 6.0, 20.0]}, index=[0.0, 0.5, 3.0, 3.5])
    exp = exp_type("e", data, ["x"])
    bands = ensemble_bands(exp, base, members, ["x"], 0.8)
    sd_slope = np.std(slopes, ddof=1)
    np.testing.assert_allclose(bands.sd["x"], sd_slope * grid, rtol=1e-12)
    np.testing.assert_allclose(bands.upper["x"], 2.0 * grid + student_t.ppf(0.9, 3) * sd_slope * grid, rtol=1e-12)
    t_obs, centre, sd_obs = bands.observed["x"]
    np.testing.assert_allclose(centre, 2.0 * t_obs)
    np.testing.assert_allclose(sd_obs, sd_slope * t_obs, rtol=1e-12)
    # inside: t=0 (0 = 0), t=0.5 (|1 - 1| = 0), t=3 (|6 - 6|); outside: t=3.5 (|20 - 7| > z sd 3.5)
    assert band_coverage([bands], [exp]) == {"x": 0.75}
    # prediction intervals z sqrt(sd^2 + noise^2): t=3.5 needs sqrt(2.26^2 + noise^2) >= 13 / z = 7.94
    z, sd35 = student_t.ppf(0.9, 3), sd_slope * 3.5
    assert np.sqrt(sd35 ** 2 + 7.0 ** 2) < 13.0 / z < np.sqrt(sd35 ** 2 + 8.0 ** 2)
    assert band_coverage([bands], [exp], {"x": 7.0}) == {"x": 0.75}
    assert band_coverage([bands], [exp], {"x": 8.0}) == {"x": 1.0}
    assert band_coverage([bands], [exp], {"y": 8.0}) == {}
    from idaes_hybrid.uncertainty.laplace import PredictionBands, UncertaintyError

    with pytest.raises(UncertaintyError, match="at least 2"):
        ensemble_bands(exp, base, members[:1], ["x"], 0.8)
    # with a prior share p(t) = 0.5 t (on a coarser grid; at the measurement times its own
    # values 0.4 t): sd = sqrt(s^2 + p^2) and the normal quantile
    from scipy.stats import norm

    coarse = np.linspace(0.0, 4.0, 3)
    prior = PredictionBands("e", 0.8, coarse, {"x": 2.0 * coarse}, {"x": 0.5 * coarse},
                            observed={"x": (data.index.to_numpy(), None, 0.4 * data.index.to_numpy())})
    both = ensemble_bands(exp, base, members, ["x"], 0.8, prior)
    np.testing.assert_allclose(both.sd["x"], np.hypot(sd_slope, 0.5) * grid, rtol=1e-12)
    assert both.dof is None and both.z == pytest.approx(norm.ppf(0.9))
    np.testing.assert_allclose(both.observed["x"][2], np.hypot(sd_slope, 0.4) * t_obs, rtol=1e-12)
    # the base simulation's bounds of x (0 <= x <= 5) limit the band's edges
    bounded = ensemble_bands(exp, Simulation(grid, {"x": 2.0 * grid}, None, {"x": (0.0, 5.0)}),
                             members, ["x"], 0.8)
    np.testing.assert_allclose(bounded.upper["x"], np.minimum(bands.upper["x"], 5.0))
    np.testing.assert_allclose(bounded.lower["x"], np.maximum(bands.lower["x"], 0.0))
    assert bounded.upper["x"][-1] == 5.0 < bands.upper["x"][-1]


# ----------------------------------------------------------------------------- Dask engine
@pytest.mark.integration
def test_members_trained_on_the_dask_engine_equal_the_serial_ones(tmp_path):
    """Two unit-path members on a local Dask cluster of 2 workers: the same networks as in
    this process (same resamples, deterministic solves)."""
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.config.unit_translation import as_flowsheet_config
    from idaes_hybrid.training.unit_train import train
    from idaes_hybrid.uncertainty.ensemble import flowsheet_member_trainer, train_members

    config = load_run_config(_unit_config(tmp_path, ""))
    result = train(config.definition, config.experiments, config.network_spec(), config.discretization,
                   config.physics, config.network_inputs, config.training)
    fs, disc = as_flowsheet_config(config), config.discretization  # the unit as its one-unit flowsheet
    trainer = flowsheet_member_trainer(fs.flowsheet, result.spec, disc.nfe, disc.ncp, fs.training,
                                       result.regularization["alpha"])
    train_exps = [e for e in fs.experiments if e.role.value == "train"]
    serial = train_members(trainer, train_exps, 2, config.seed)
    parallel = train_members(trainer, train_exps, 2, config.seed, n_workers=2)
    assert len(serial.specs) == len(parallel.specs) == 2 and not parallel.failures
    assert parallel.resamples == serial.resamples and parallel.seeds == serial.seeds == [1, 2]
    for a, b in zip(serial.specs, parallel.specs):
        assert np.linalg.norm(a.flat_parameters() - result.spec.flat_parameters()) > 1e-3
        np.testing.assert_allclose(b.flat_parameters(), a.flat_parameters(), rtol=1e-6, atol=1e-8)


@pytest.mark.component
def test_a_member_started_at_the_base_solution_needs_no_march_and_trains_the_same(tmp_path, monkeypatch):
    """The base run's ``solved_values`` replace the member's march of each experiment (its
    states with the base weights); the member's network is the marched member's; a member
    runs no numerical checks."""
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.config.unit_translation import as_flowsheet_config
    from idaes_hybrid.diagnostics import numerical_checks
    from idaes_hybrid.training import flowsheet_train
    from idaes_hybrid.training.unit_train import train
    from idaes_hybrid.uncertainty.ensemble import Resampling, flowsheet_member_trainer, member_data

    config = load_run_config(_unit_config(tmp_path, ""))
    result = train(config.definition, config.experiments, config.network_spec(), config.discretization,
                   config.physics, config.network_inputs, config.training, keep_values=True)
    fs, disc = as_flowsheet_config(config), config.discretization
    train_exps = [e for e in fs.experiments if e.role.value == "train"]
    assert set(result.solved_values) == {e.name for e in train_exps}
    data = member_data(train_exps, 1, Resampling.RESIDUALS, {k: v["sd"] for k, v in result.noise.items()})
    alpha = result.regularization["alpha"]
    marched = flowsheet_member_trainer(fs.flowsheet, result.spec, disc.nfe, disc.ncp, fs.training, alpha)(data, 1)

    def no_march(blk, net=None):
        raise AssertionError("marched although started at the base solution")

    checked: list = []
    monkeypatch.setattr(flowsheet_train, "initialize_flowsheet", no_march)
    monkeypatch.setattr(numerical_checks, "numerical_checks", lambda *a, **k: checked.append(a))
    started = flowsheet_member_trainer(fs.flowsheet, result.spec, disc.nfe, disc.ncp, fs.training, alpha,
                                       result.solved_values)(data, 1)
    assert checked == []  # a member's numerical checks are not run (nobody reads them)
    assert np.linalg.norm(marched.flat_parameters() - result.spec.flat_parameters()) > 1e-3
    np.testing.assert_allclose(started.flat_parameters(), marched.flat_parameters(), rtol=1e-5, atol=1e-6)


@pytest.mark.unit
def test_warm_start_prior_centre_overrides_the_anchor():
    """WarmStart.prior_centre overrides the anchor and the regularization pulls towards it."""
    import pyomo.environ as pyo

    from idaes_hybrid.nn.block import NeuralNetworkBlock
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training.warm_start import WarmStart, regularization_term

    base = NetworkSpec.dense(4, [20, 20], 1, activation="softplus", seed=0)
    a = NetworkSpec.from_dict(base.to_dict())
    a.set_flat_parameters(np.random.default_rng(7).normal(0.0, 0.5, base.n_parameters))
    centre = tuple(a.flat_parameters())
    assert WarmStart(spec=base, anchor=True, prior_centre=centre).centre() == pytest.approx(centre)
    assert WarmStart(spec=base, anchor=False).centre() is None
    m = pyo.ConcreteModel()
    m.net = NeuralNetworkBlock(spec=base)
    expected = np.sum((base.flat_parameters() - a.flat_parameters()) ** 2)
    assert pyo.value(regularization_term(m.net, WarmStart(spec=base, prior_centre=centre))) == \
        pytest.approx(expected)


@pytest.mark.unit
def test_saved_prior_share_round_trips_and_a_wrong_shape_is_named():
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.uncertainty.ensemble import EnsembleMembers

    specs = [NetworkSpec.dense(2, [3], 1, activation="softplus", seed=s) for s in (1, 2)]
    n = specs[0].n_parameters
    prior = np.diag(np.arange(1.0, n + 1))
    ens = EnsembleMembers(specs, [1, 2], [["b1"], ["b1"]], 2, prior_covariance=prior)
    back = EnsembleMembers.from_dict(json.loads(json.dumps(ens.to_dict())))
    np.testing.assert_array_equal(back.prior_covariance, prior)
    assert EnsembleMembers.from_dict({**ens.to_dict(), "prior_covariance": None}).prior_covariance is None
    assert "prior_covariance" not in EnsembleMembers(specs, [1, 2], [[], []], 2).to_dict()
    with pytest.raises(ValueError, match=r"uncertainty.prior_covariance: shape \(2, 2\)"):
        EnsembleMembers.from_dict({**ens.to_dict(), "prior_covariance": [[1.0, 0.0], [0.0, 1.0]]})
