"""Laplace prediction bands: the propagation against finite differences, the covariance
against the closed-form posterior of a model linear in its weights, the scaling of the
posterior precision against the training objective, the [uncertainty] table."""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from idaes_hybrid.decomposition.flowsheet_inner import FlowsheetInnerSpec
from idaes_hybrid.decomposition.inner import InnerProblem
from idaes_hybrid.model.experiment import split_by_role
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.uncertainty.laplace import (
    LaplaceCovariance, PredictionBands, band_coverage, laplace_covariance, prediction_bands)
from idaes_hybrid.uncertainty.settings import UncertaintyMethod, UncertaintySettings
from small_networks import small_bioreactor_network

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"
NFE, NCP = 6, 2


@functools.lru_cache(maxsize=1)
def _bioreactor():
    from idaes_hybrid.config.flowsheet import load_flowsheet_config

    return load_flowsheet_config(CASE / "config_flowsheet.toml")


def _network() -> NetworkSpec:
    return small_bioreactor_network()


_split = split_by_role


def _trajectory(problem: InnerProblem, names) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        time_set, ref = problem.spec.time_variable(problem.model, name)
        out[name] = np.array([pyo.value(ref[t]) for t in time_set])
    return out


@pytest.mark.component
def test_laplace_band_sd_equals_a_finite_difference_propagation():
    """sd(t) = sqrt(g_t^T Sigma g_t) against sum_i lambda_i ((y(theta + h v_i) - y(theta - h v_i))
    / 2h)^2 over Sigma's eigenpairs, each term by re-simulating the validation batch."""
    cfg = _bioreactor()
    train, val = _split(cfg.experiments)
    make = functools.partial(FlowsheetInnerSpec, hf=cfg.flowsheet, nfe=NFE, ncp=NCP)
    lap = laplace_covariance(make, train, _network(), 1.0)
    bands = prediction_bands(make, val[0], _network(), lap.covariance, 0.9, ["X", "S", "P"])
    problem = InnerProblem(make(experiment=val[0], network=_network()))
    theta = _network().flat_parameters()
    base = problem.solve(theta, gradient=False)
    lam, vec = np.linalg.eigh(lap.covariance)
    var = {name: np.zeros(bands.time.size) for name in bands.mean}
    for value, direction in zip(lam, vec.T):
        h = 1e-3 * np.sqrt(value)
        ys = []
        for sign in (1.0, -1.0):
            res = problem.solve(theta + sign * h * direction, base.warm, gradient=False)
            problem.bn.load(res.warm.x[: len(problem.variables)])
            ys.append(_trajectory(problem, bands.mean))
        for name in var:
            var[name] += value * ((ys[0][name] - ys[1][name]) / (2 * h)) ** 2
    for name in var:
        assert bands.sd[name].max() > 0
        np.testing.assert_allclose(bands.sd[name], np.sqrt(var[name]), rtol=1e-4,
                                   atol=1e-4 * bands.sd[name].max())
    # the states' bounds in the model (concentrations >= 0) are the bands' limits
    assert bands.bounds == {"X": (0.0, None), "S": (0.0, None), "P": (0.0, None)}


@pytest.mark.unit
def test_band_edges_stop_at_the_variables_bounds():
    """mean +- z sd, clipped to the model's bounds where it has them; the sd is untouched."""
    from idaes_hybrid.training.simulation import series_bounds

    t = np.linspace(0.0, 1.0, 3)
    bands = PredictionBands("e", 0.9, t, {"c": np.array([0.05, 0.5, 0.95]), "T": np.array([300.0] * 3)},
                            {"c": np.array([0.1, 0.1, 0.1]), "T": np.array([2.0] * 3)},
                            bounds={"c": (0.0, 1.0), "T": (None, None)})
    z = bands.z
    np.testing.assert_allclose(bands.lower["c"], [0.0, 0.5 - z * 0.1, 0.95 - z * 0.1])
    np.testing.assert_allclose(bands.upper["c"], [0.05 + z * 0.1, 0.5 + z * 0.1, 1.0])
    np.testing.assert_allclose(bands.lower["T"], 300.0 - 2.0 * z)
    np.testing.assert_allclose(bands.sd["c"], 0.1)
    m = pyo.ConcreteModel()
    m.t = pyo.Set(initialize=[0, 1])
    m.x = pyo.Var(m.t, bounds=(0, 5))
    m.x[1].setub(7)
    m.y = pyo.Var(m.t, bounds=(0, None))
    m.y[0].setlb(None)
    assert series_bounds(m.x[t] for t in m.t) == (0.0, 7.0)
    assert series_bounds(m.y[t] for t in m.t) == (None, None)
    assert series_bounds(iter(())) == (None, None)


@pytest.mark.component
def test_posterior_precision_is_the_training_objectives_curvature_in_nll_units():
    """d^T P d = (N/2) d^T (d2J/dtheta2) d for the training objective
    J = sum_e N_e V_e / N + alpha/N ||theta||^2 (second differences of J)."""
    cfg = _bioreactor()
    train, _ = _split(cfg.experiments)
    make = functools.partial(FlowsheetInnerSpec, hf=cfg.flowsheet, nfe=NFE, ncp=NCP)
    alpha = 0.7
    lap = laplace_covariance(make, train, _network(), alpha)
    from idaes_hybrid.training.problem import observation_scales

    scales = observation_scales(train)
    problems = [InnerProblem(make(experiment=e, network=_network(), scales=scales)) for e in train]
    n_e = [len(e.observations()[0]) for e in train]
    n = sum(n_e)

    def objective(theta):
        fit = sum(k * p.solve(theta, gradient=False).value for k, p in zip(n_e, problems)) / n
        return fit + alpha / n * float(theta @ theta)

    theta = _network().flat_parameters()
    d = np.random.default_rng(0).normal(size=theta.size)
    d /= np.linalg.norm(d)
    h = 1e-3
    second = (objective(theta + h * d) - 2 * objective(theta) + objective(theta - h * d)) / h**2
    assert d @ lap.raw_precision @ d == pytest.approx(n / 2 * second, rel=1e-4)


# ---------------------------------------------------------------- a model linear in its weights
def _linear_build(fs) -> None:
    """dx/dt = r, r = NN(u): with a linear network x(t) is linear in the weights."""
    import pyomo.dae as dae

    fs.u = pyo.Var(fs.time, initialize=1.0)
    fs.r = pyo.Var(fs.time, initialize=0.0)
    fs.x = pyo.Var(fs.time, initialize=0.0)
    fs.dxdt = dae.DerivativeVar(fs.x, wrt=fs.time, initialize=0.0)
    fs.ode = pyo.Constraint(fs.time, rule=lambda b, t: b.dxdt[t] == b.r[t])


U_STEPS = [[0.0, 1.0], [1.0, 3.0], [2.0, -1.0]]
NOISE = 0.1


def _linear_case():
    from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet, NetworkTerm

    hf = HybridFlowsheet(_linear_build, [NetworkTerm(inputs=["fs.u[*]"], outputs=["fs.r[*]"], name="rate")],
                         {"x": "fs.x[*]", "u": "fs.u[*]"})
    times = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    data = pd.DataFrame({"x": np.zeros(times.size)}, index=pd.Index(times, name="time"))
    exp = FlowsheetExperiment("lin", 3.0, data, initial={"x": 0.0}, inputs={"u": U_STEPS},
                              noise_sd={"x": NOISE})
    net = NetworkSpec.dense(1, [], 1, "linear", seed=1)
    net.input_mean[:], net.input_std[:] = [1.0], [2.0]
    net.output_mean[:], net.output_std[:] = [0.5], [1.5]
    return hf, exp, net, times


def _integral_of_u(t: float, shift: float) -> float:
    """int_0^t (u(s) - shift) ds for the piecewise-constant U_STEPS."""
    edges = [s for s, _ in U_STEPS] + [np.inf]
    return sum((min(t, edges[k + 1]) - edges[k]) * (value - shift)
               for k, (_, value) in enumerate(U_STEPS) if t > edges[k])


@pytest.mark.component
def test_linear_in_weights_covariance_is_the_linear_regression_posterior():
    """x(t) = os * (W int (u - mu)/su + b t) + om t: Sigma = (X^T X / sd^2 + alpha I)^-1 with
    X = dx/d(W, b) by hand, and the band's sd is sqrt(x_t^T Sigma x_t)."""
    hf, exp, net, times = _linear_case()
    make = functools.partial(FlowsheetInnerSpec, hf=hf, nfe=6, ncp=2)
    alpha = 0.3
    lap = laplace_covariance(make, [exp], net, alpha)
    assert lap.clipped == 0
    os_, su, mu = 1.5, 2.0, 1.0
    design = np.array([[os_ * _integral_of_u(t, mu) / su, os_ * t] for t in times])
    # flat order of a layer: weights then bias
    assert net.n_parameters == 2
    expected = np.linalg.inv(design.T @ design / NOISE**2 + alpha * np.eye(2))
    np.testing.assert_allclose(lap.covariance, expected, rtol=1e-6)
    bands = prediction_bands(make, exp, net, lap.covariance, 0.9, ["x"])
    t_obs, _, sd = bands.observed["x"]
    np.testing.assert_allclose(t_obs, times)
    np.testing.assert_allclose(sd, np.sqrt(np.einsum("kt,ts,ks->k", design, expected, design)), rtol=1e-6)


@pytest.mark.unit
def test_covariance_round_trips_through_json():
    lap = LaplaceCovariance(np.arange(2.0), np.array([[2.0, 0.5], [0.5, 1.0]]), np.eye(2), 1, 0.1)
    back = LaplaceCovariance.from_dict(lap.to_dict())
    np.testing.assert_allclose(back.covariance, lap.covariance)
    np.testing.assert_allclose(back.theta, lap.theta)
    assert back.clipped == 1


@pytest.mark.unit
def test_predict_leaves_laplace_band_cells_empty_when_the_simulation_fails(monkeypatch, caplog):
    """``predict`` with a Laplace model on an experiment its fixed-weight simulation cannot
    solve wrote nothing and stopped with an internal error; now the prediction keeps the
    nominal columns and empty band cells, with a warning (as for an ensemble)."""
    import types

    import idaes_hybrid.uncertainty.laplace as laplace
    from idaes_hybrid.cli.uncertainty import saved_bands, with_band_columns

    def failing(*args, **kwargs):
        raise laplace.UncertaintyError("experiments['new1']: the simulation with the trained "
                                       "weights failed (infeasible); no bands")

    monkeypatch.setattr(laplace, "prediction_bands", failing)
    spec = NetworkSpec.dense(1, [2], 1, seed=0)
    saved = {**LaplaceCovariance(np.zeros(spec.n_parameters), np.eye(spec.n_parameters),
                                 np.eye(spec.n_parameters), 0, 1.0).to_dict(), "level": 0.9}
    base = pd.DataFrame({"time": [0.0, 1.0], "x": [1.0, 2.0]})
    exp = types.SimpleNamespace(name="new1")
    with pytest.raises(laplace.UncertaintyError):
        saved_bands(None, exp, spec, saved, ["x"])
    with caplog.at_level("WARNING"):
        bands = saved_bands(None, exp, spec, saved, ["x"], base)
    frame = with_band_columns(base, bands)
    assert frame.columns.tolist() == ["time", "x", "x_lower", "x_upper"]
    np.testing.assert_array_equal(frame["x"], [1.0, 2.0])
    assert frame["x_lower"].isna().all() and frame["x_upper"].isna().all()
    assert ("uncertainty: experiments['new1']: the simulation with the trained weights failed "
            "(infeasible); its band cells are left empty") in caplog.text

@pytest.mark.unit
def test_settings_reject_bad_values_naming_the_field():
    assert UncertaintySettings().method is UncertaintyMethod.LAPLACE
    assert UncertaintySettings(level=0.95).level == 0.95
    with pytest.raises(ValueError, match=r"uncertainty.level: expected a number in \(0, 1\)"):
        UncertaintySettings(level=1.0)
    with pytest.raises(ValueError, match="uncertainty.method"):
        UncertaintySettings(method="bootstrap")
    with pytest.raises(ValueError, match="uncertainty.members"):
        UncertaintySettings(members=1)


# ---------------------------------------------------------------- config and command line
def _flowsheet_config(tmp_path: Path, uncertainty: str, name: str = "cfg.toml") -> Path:
    text = (CASE / "config_flowsheet.toml").read_text()
    text = text.replace('build = "hybrid_flowsheet.py:build"', f'build = "{CASE}/hybrid_flowsheet.py:build"')
    text = text.replace('data = "data/', f'data = "{CASE}/data/').replace("nfe = 20", "nfe = 10")
    text = text.replace("hidden = [20, 20]", "hidden = [6]")
    cfg = tmp_path / name
    cfg.write_text(text + "\n" + uncertainty)
    return cfg


@pytest.mark.unit
@pytest.mark.parametrize("table,message", [
    ("level = 1.5", r"uncertainty.level: expected a number in \(0, 1\)"),
    ("level = 'high'", r"uncertainty.level: expected a number in \(0, 1\)"),
    ("method = 'bootstrap'", "uncertainty.method: expected one of"),
    ("members = 0", "uncertainty.members"),
    ("width = 2", "uncertainty.width: unknown key"),
])
def test_bad_uncertainty_tables_stop_naming_the_field(tmp_path, table, message):
    from idaes_hybrid.config.run import ConfigError, load_run_config
    from idaes_hybrid.config.flowsheet import load_flowsheet_config

    with pytest.raises(ConfigError, match=message):
        load_flowsheet_config(_flowsheet_config(tmp_path, f"[uncertainty]\n{table}\n"))
    unit = (CASE / "config.toml").read_text().replace('data = "data/', f'data = "{CASE}/data/')
    path = tmp_path / "unit.toml"
    path.write_text(unit + f"\n[uncertainty]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_run_config(path)


@pytest.mark.unit
def test_uncertainty_table_defaults(tmp_path):
    from idaes_hybrid.config.flowsheet import load_flowsheet_config

    cfg = load_flowsheet_config(_flowsheet_config(tmp_path, "[uncertainty]\n"))
    assert cfg.uncertainty == UncertaintySettings(method="laplace", members=5, level=0.9)
    assert load_flowsheet_config(_flowsheet_config(tmp_path, "", "plain.toml")).uncertainty is None


@pytest.mark.unit
def test_ensemble_keys_with_laplace_are_named_in_a_warning(caplog):
    from idaes_hybrid.config.run import parse_uncertainty

    with caplog.at_level(logging.WARNING, logger="idaes.idaes_hybrid"):
        settings = parse_uncertainty({"method": "laplace", "members": 3})
    assert settings.method.value == "laplace"
    assert 'uncertainty.members: used by method = "ensemble" only' in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="idaes.idaes_hybrid"):
        parse_uncertainty({"method": "ensemble", "members": 3, "resample": "both"})
        parse_uncertainty({"method": "laplace"})
    assert "ignored" not in caplog.text


@pytest.mark.integration
def test_cli_flowsheet_train_and_predict_write_coverage_and_band_columns(tmp_path):
    """train with [uncertainty]: metrics.json has the validation coverage, the model file the
    covariance, report.md the coverage; predict writes <var>_lower / <var>_upper around the
    prediction."""
    import json

    from idaes_hybrid.cli.app import main

    cfg = _flowsheet_config(tmp_path, '[uncertainty]\nmethod = "laplace"\nlevel = 0.9\n')
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    unc = metrics["uncertainty"]
    assert unc["method"] == "laplace" and unc["level"] == 0.9
    assert set(unc["validation_coverage"]) >= {"X", "S", "P"}
    assert all(0.0 <= v <= 1.0 for v in unc["validation_coverage"].values())
    # prediction intervals (band and the run's noise level) are wider: they cover at least as much
    noisy = unc["validation_coverage_with_noise"]
    assert set(noisy) >= {"X", "S", "P"}
    assert all(unc["validation_coverage"][k] <= v <= 1.0 for k, v in noisy.items())
    assert "| with measurement noise |" in (tmp_path / "run" / "report.md").read_text()
    saved = json.loads((tmp_path / "run" / "model" / "flowsheet_model.json").read_text())["uncertainty"]
    n = saved["covariance"].__len__()
    assert n == metrics["networks"]["growth"]["n_parameters"]
    assert "inside the 90% band" in (tmp_path / "run" / "report.md").read_text()
    out = tmp_path / "pred.csv"
    assert main(["predict", str(tmp_path / "run" / "model"), str(cfg), "--out", str(out),
                 "--quiet"]) == 0
    table = pd.read_csv(out)
    cols = list(table.columns)
    assert cols[cols.index("X") + 1: cols.index("X") + 3] == ["X_lower", "X_upper"]
    assert (table["X_lower"] <= table["X"] + 1e-12).all() and (table["X"] <= table["X_upper"] + 1e-12).all()
    assert (table["S_upper"] - table["S_lower"]).max() > 0
    # the inputs (feed rate, feed concentration) are given, not predicted: no band columns
    assert {"F", "Sf"} <= set(cols) and not {"F_lower", "F_upper", "Sf_lower", "Sf_upper"} & set(cols)


@pytest.mark.integration
def test_cli_unit_train_and_predict_write_coverage_and_band_columns(tmp_path, capsys):
    """The unit path (config.toml): coverage in metrics.json, covariance in model.json,
    band columns in the predictions."""
    import json

    from idaes_hybrid.cli.app import main

    text = (CASE / "config.toml").read_text().replace('data = "data/', f'data = "{CASE}/data/')
    text = text.replace("nfe = 20", "nfe = 10").replace("hidden = [20, 20]", "hidden = [6]")
    cfg = tmp_path / "unit.toml"
    cfg.write_text(text + '\n[uncertainty]\nlevel = 0.9\n')
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    unc = json.loads((tmp_path / "run" / "metrics.json").read_text())["uncertainty"]
    assert unc["level"] == 0.9 and set(unc["validation_coverage"]) >= {"X", "S", "P"}
    # the summary line gives the uncertainty stage's time beside the training's
    shown = "< 0.1" if unc["wall_time_s"] < 0.05 else f"{unc['wall_time_s']:.1f}"  # never "0.0 s"
    assert f"; uncertainty {shown} s more)" in capsys.readouterr().out
    assert "uncertainty" in json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    out = tmp_path / "pred.csv"
    assert main(["predict", str(tmp_path / "run" / "model"), str(cfg), "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out)
    cols = list(table.columns)
    assert cols[cols.index("S") + 1: cols.index("S") + 3] == ["S_lower", "S_upper"]
    assert (table["S_upper"] - table["S_lower"]).max() > 0


@pytest.mark.component
def test_laplace_started_at_the_trained_point_needs_no_march_and_gives_the_same_covariance(monkeypatch):
    """``starts`` (``TrainingResult.solved_values``: each experiment's values at the solution)
    replace the march of every inner problem; the covariance is the marched one's."""
    cfg = _bioreactor()
    train, _ = _split(cfg.experiments)
    make = functools.partial(FlowsheetInnerSpec, hf=cfg.flowsheet, nfe=NFE, ncp=NCP)
    theta = _network().flat_parameters()
    marched = laplace_covariance(make, train, _network(), 1.0)
    starts = {}
    for e in train:
        problem = InnerProblem(make(experiment=e, network=_network()))
        res = problem.solve(theta, gradient=False)
        problem.bn.load(res.warm.x[: len(problem.variables)])
        starts[e.name] = {v.name: v.value for v in problem.model.experiment[e.name].component_data_objects(pyo.Var)
                          if v.value is not None and not v.fixed}

    def no_march(self, m, net):
        raise AssertionError("marched although started at the solution")

    monkeypatch.setattr(FlowsheetInnerSpec, "march", no_march)
    started = laplace_covariance(make, train, _network(), 1.0, starts=starts)
    np.testing.assert_allclose(started.covariance, marched.covariance, rtol=1e-6,
                               atol=1e-9 * np.abs(marched.covariance).max())


@pytest.mark.unit
def test_bands_computed_without_the_trainings_hessian_weight_the_fit_by_its_noise_levels(monkeypatch):
    """Without the training's data Hessian (a given prior precision) the Laplace covariance is
    computed with the training's final noise levels as fit weights, the ones the test below
    shows equal to the evidence's (were: levels estimated from the data, before the noise
    refit; a review's ensemble prior share came out indefinite so)."""
    from idaes_hybrid.uncertainty import laplace

    seen = []

    def record(make_spec, train, spec, alpha, scales=None, starts=None, hessian=None):
        seen.append(scales)
        raise laplace.UncertaintyError("stop here")

    monkeypatch.setattr(laplace, "laplace_covariance", record)
    with pytest.raises(laplace.UncertaintyError):
        laplace.validation_uncertainty(None, [], [], None, 1.0, 0.9, {"X": 0.05, "S": 0.5})
    with pytest.raises(laplace.UncertaintyError):
        laplace.validation_uncertainty(None, [], [], None, 1.0, 0.9)
    assert seen == [{"X": 0.05, "S": 0.5}, None]


@pytest.mark.component
def test_the_evidence_hands_the_laplace_its_hessian_at_the_trained_point():
    """A training with the evidence's prior keeps its last data Hessian (taken at the final
    solution): the Laplace covariance from it equals, independently, the one from inner
    problems marched with the trained weights (same noise levels)."""
    import dataclasses

    from idaes_hybrid.training.flowsheet_train import train_flowsheet
    from idaes_hybrid.training.regularization import EVIDENCE

    cfg = _bioreactor()
    train, _ = _split(cfg.experiments)
    settings = dataclasses.replace(cfg.training, regularization=EVIDENCE, pretrain_epochs=50)
    result = train_flowsheet(cfg.flowsheet, cfg.experiments, _network(), NFE, NCP, settings)
    reg = result.regularization
    assert reg["source"] == "evidence" and result.data_hessian is not None
    scales = {k: float(v["sd"]) for k, v in result.noise.items()}
    make = functools.partial(FlowsheetInnerSpec, hf=cfg.flowsheet, nfe=NFE, ncp=NCP)
    marched = laplace_covariance(make, train, result.spec, reg["alpha"], scales=scales)
    given = laplace_covariance(make, train, result.spec, reg["alpha"], hessian=result.data_hessian)
    np.testing.assert_allclose(given.covariance, marched.covariance, rtol=1e-5,
                               atol=1e-8 * np.abs(marched.covariance).max())


@pytest.mark.component
def test_the_evidence_reuses_its_inner_problems_at_new_weights():
    """``data_hessian(built=...)`` builds each experiment's inner problem once: at other
    weights the re-used problems give the Hessian of freshly built ones."""
    from idaes_hybrid.training.evidence import data_hessian

    cfg = _bioreactor()
    train, _ = _split(cfg.experiments)
    make = functools.partial(FlowsheetInnerSpec, hf=cfg.flowsheet, nfe=NFE, ncp=NCP)
    first, moved = _network(), _network()
    theta = moved.flat_parameters()
    moved.set_flat_parameters(theta * (1.0 + 0.02 * np.random.default_rng(3).standard_normal(theta.size)))
    built: dict = {}
    data_hessian(make, train, first, None, built=built)
    assert sorted(built) == sorted(e.name for e in train)
    problems = dict(built)
    reused = data_hessian(make, train, moved, None, built=built)
    assert all(built[name] is problems[name] for name in problems)  # not built again
    fresh = data_hessian(make, train, moved, None)
    np.testing.assert_allclose(reused, fresh, rtol=1e-6, atol=1e-9 * np.abs(fresh).max())


@pytest.mark.component
def test_a_training_experiment_without_data_adds_nothing_to_the_data_hessian():
    """A training batch whose file holds no values (a warning at load) stopped the default
    evidence with ``experiments: no measurements to fit``: its inner problem has no fit. It
    has no curvature to add, so the data Hessian is that of the other batches."""
    import dataclasses

    from idaes_hybrid.training.evidence import data_hessian

    cfg = _bioreactor()
    train, _ = _split(cfg.experiments)
    empty = dataclasses.replace(train[0], name="empty", measurements=train[0].measurements.iloc[0:0])
    make = functools.partial(FlowsheetInnerSpec, hf=cfg.flowsheet, nfe=NFE, ncp=NCP)
    with_empty = data_hessian(make, [*train, empty], _network(), None)
    np.testing.assert_array_equal(with_empty, data_hessian(make, train, _network(), None))


@pytest.mark.component
def test_a_band_simulation_outside_the_bounds_is_solved_again_without_them(monkeypatch):
    """As predict's simulation: a square solve that ends infeasible within the variables'
    bounds (a substrate depleted within one element undershoots 0) is solved again with the
    bounds lifted; the band is the same as a solve that needed no retry."""
    from idaes_hybrid.solve.solver import SolveStatus
    from idaes_hybrid.uncertainty import laplace

    cfg = _bioreactor()
    _, val = _split(cfg.experiments)
    make = functools.partial(FlowsheetInnerSpec, hf=cfg.flowsheet, nfe=NFE, ncp=NCP)
    cov = 1e-4 * np.eye(_network().n_parameters)
    plain = prediction_bands(make, val[0], _network(), cov, 0.9, ["X", "S"])
    real, seen = InnerProblem.solve, []

    def infeasible_within_bounds(self, theta, *args, **kwargs):
        res = real(self, theta, *args, **kwargs)
        seen.append(bool(np.all(self.bn.lb <= -1e19)))
        if not seen[-1]:  # bounds still in force: report what a bound-violating solution gives
            return dataclasses.replace(res, status=SolveStatus.INFEASIBLE, warm=None)
        return res

    monkeypatch.setattr(laplace.InnerProblem, "solve", infeasible_within_bounds)
    retried = prediction_bands(make, val[0], _network(), cov, 0.9, ["X", "S"])
    assert seen == [False, True]
    for name in ("X", "S"):
        np.testing.assert_allclose(retried.mean[name], plain.mean[name], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(retried.sd[name], plain.sd[name], rtol=1e-4, atol=1e-8)


@pytest.mark.unit
def test_coverage_line_says_why_there_is_none():
    from idaes_hybrid.uncertainty.laplace import coverage_log_line

    assert coverage_log_line({"X": 0.9}, {"X": 0.97}) == "X 90% (97% with noise)"
    assert coverage_log_line({}, {}) == "no validation data"
    assert coverage_log_line({}, {}, {"val": "infeasible"}) == (
        "none (no bands for 'val': see the warnings above)")


@pytest.mark.unit
def test_the_laplace_summary_times_the_covariance_and_the_bands_together():
    """metrics.json's uncertainty time covers the bands' simulations (a review saw 0.0008 s
    for a stage of about 4 s: the covariance alone, read from the training's Hessian)."""
    from idaes_hybrid.uncertainty.laplace import LaplaceCovariance, ValidationUncertainty

    cov = LaplaceCovariance(theta=np.zeros(2), covariance=np.eye(2), precision=np.eye(2), wall_time_s=0.0008)
    both = ValidationUncertainty(0.9, {}, {}, covariance=cov, wall_time_s=4.2)
    assert both.summary()["wall_time_s"] == 4.2
    assert ValidationUncertainty(0.9, {}, {}, covariance=cov).summary()["wall_time_s"] == 0.0008
