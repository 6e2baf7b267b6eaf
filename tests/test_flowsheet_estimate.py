"""`estimate` on the flowsheet path (``idaes_hybrid.twin.flowsheet_estimate``).

The bioreactor flowsheet (``flowsheets/bioreactor/hybrid_flowsheet.py``) with a known
"true" network, ``mu = 0.25 tanh(S / 2)`` (a Monod-like growth rate written as a
1-neuron tanh network), is simulated from TRUE_INITIAL with a feed step
(F 0.05 -> 0.02 L/h at 12 h) and a linear feed-concentration series (Sf 9 -> 5 g/L
over 40 h); the noise-free X, S, P, V are read off its collocation polynomials every
hour. The batch's *recorded* initial state is WRONG (X half, S and V off). The
estimates are judged against that simulated truth; the tolerances (1e-3 relative)
cover the collocation error of the different grids (window, forecast and truth grids
differ; the measured differences are ~3e-5).
"""

from __future__ import annotations

import re
import json
import shutil
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from idaes_hybrid.cli.app import main
from idaes_hybrid.config.flowsheet import load_flowsheet_config
from idaes_hybrid.output.flowsheet import save_flowsheet_model
from idaes_hybrid.model.experiment import DataError
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, InitialState
from idaes_hybrid.model.inputs import InputProfile, Interpolation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet
from idaes_hybrid.training.problem import interpolation_weights
from idaes_hybrid.twin import EstimationSettings, PriorMode, TwinRequestError
from idaes_hybrid.twin.flowsheet_estimate import estimate_flowsheet, open_loop_state

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"
STATES = ["X", "P", "S", "V"]
TRUE_INITIAL = {"X": 0.2, "P": 0.0, "S": 6.0, "V": 1.1}
RECORDED = {"X": 0.1, "P": 0.05, "S": 7.0, "V": 1.0}  # what the batch record says: wrong
F_STEPS = [[0.0, 0.05], [12.0, 0.02]]
SF = InputProfile((0.0, 40.0), (9.0, 5.0), Interpolation.LINEAR)
HORIZON, T_NOW, NFE, NCP = 40.0, 20.0, 20, 3
NOISE_SD = {"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1}
WEAK = EstimationSettings(prior_rel_sd=10.0)  # the data decide
PNG = b"\x89PNG\r\n\x1a\n"


def true_network() -> NetworkSpec:
    """``mu = 0.25 tanh(S / 2)``; inputs X, S, P, V (the config's term)."""
    return NetworkSpec([4, 1, 1], ["tanh", "linear"],
                       weights=[np.array([[0.0, 0.5, 0.0, 0.0]]), np.array([[0.25]])])


def no_data() -> pd.DataFrame:
    return pd.DataFrame(index=pd.Index([], name="time", dtype=float))


def values_at(hf, blk, names, times, offset=0.0) -> pd.DataFrame:
    """Collocation-polynomial values of ``names`` at absolute ``times`` (block time + offset)."""
    out = {}
    for name in names:
        ref = hf.var(blk, name, name)
        out[name] = [sum(w * pyo.value(ref[t]) for t, w in
                         interpolation_weights(blk.fs.time, float(x - offset))) for x in times]
    return pd.DataFrame(out, index=pd.Index(np.asarray(times, float), name="time"))


@pytest.fixture(scope="module")
def case():
    """The flowsheet, its true network and the simulated truth (hourly, 0-40 h)."""
    hf = load_flowsheet_config(CASE / "config_flowsheet.toml").flowsheet
    specs = {"growth": true_network()}
    exp = FlowsheetExperiment("truth", HORIZON, no_data(), initial=TRUE_INITIAL,
                              inputs={"F": F_STEPS, "Sf": SF})
    sim = simulate_flowsheet(hf, exp, specs, NFE, NCP, STATES)
    truth = values_at(hf, sim.model.experiment["truth"], STATES, np.arange(0.0, 40.5, 1.0))
    return types.SimpleNamespace(hf=hf, specs=specs, truth=truth)


def running(truth: pd.DataFrame, initial=None, columns=STATES) -> FlowsheetExperiment:
    """The batch as recorded: wrong initial state, the true inputs, noise-free data to 40 h."""
    return FlowsheetExperiment("running", HORIZON, truth[list(columns)].copy(),
                               initial=dict(initial or RECORDED),
                               inputs={"F": F_STEPS, "Sf": SF}, noise_sd=dict(NOISE_SD))


# ----------------------------------------------------------------------------- unit
@pytest.mark.unit
def test_shifted_input_profiles_keep_the_values_in_absolute_time():
    steps = InputProfile((0.0, 12.0, 30.0), (0.05, 0.02, 0.01))
    assert steps.shifted(20.0) == InputProfile((0.0, 10.0), (0.02, 0.01))
    assert steps.shifted(12.0) == InputProfile((0.0, 18.0), (0.02, 0.01))  # after the step
    assert steps.shifted(0.0) is steps
    moved = SF.shifted(8.0)
    assert moved.interpolation is Interpolation.LINEAR and moved.times == (0.0, 32.0)
    for t in (0.0, 5.0, 32.0):
        assert moved.value_at(t) == pytest.approx(SF.value_at(t + 8.0), rel=1e-12)


@pytest.mark.unit
def test_a_window_keeps_no_step_after_its_end_and_says_nothing_about_it(caplog):
    """The estimate's internal windows (open loop, window, forecast) end before the batch
    does: a later step of the batch is left out, not warned about as a mistyped step time."""
    steps = InputProfile((0.0, 12.0, 30.0), (0.05, 0.02, 0.01))
    assert steps.until(20.0) == InputProfile((0.0, 12.0), (0.05, 0.02))
    assert steps.until(30.0) == InputProfile((0.0, 12.0), (0.05, 0.02))  # a step at the end: no effect
    assert steps.until(40.0) is steps and SF.until(10.0) is SF  # a series is kept whole
    caplog.clear()
    steps.shifted(4.0).until(16.0).check(16.0, "inputs.F")
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    steps.shifted(4.0).check(16.0, "inputs.F")  # the whole batch's profile on the window: warned
    assert any("after the end" in r.getMessage() for r in caplog.records)


@pytest.mark.unit
def test_bad_requests_name_the_field(case):
    exp = running(case.truth)
    for t_now, window, end, field in [(41.0, 5.0, None, "t_now"), (0.0, 5.0, None, "t_now"),
                                      (20.0, -1.0, None, "window"), (20.0, 5.0, 15.0, "horizon_end")]:
        with pytest.raises(TwinRequestError) as info:
            estimate_flowsheet(case.hf, case.specs, exp, t_now, window, end, nfe=NFE, ncp=NCP)
        assert info.value.field == field and str(info.value).startswith(f"{field}: ")
    early = running(case.truth.loc[:10.0])  # no measurement in the window [15, 20]
    with pytest.raises(TwinRequestError, match=r"^window: no measurements of experiment"):
        estimate_flowsheet(case.hf, case.specs, early, 20.0, 5.0, nfe=NFE, ncp=NCP)
    steady = FlowsheetExperiment("ss", HORIZON, case.truth[["X"]], initial=InitialState.STEADY_STATE,
                                 inputs={"F": 0.05, "Sf": 9.0})
    with pytest.raises(TwinRequestError, match=r"^experiments\['ss'\]\.initial: 'steady-state' names"):
        estimate_flowsheet(case.hf, case.specs, steady, 20.0, 5.0, nfe=NFE, ncp=NCP)


@pytest.mark.component
@pytest.mark.parametrize("window", [T_NOW, 8.0])
def test_an_incomplete_initial_state_names_the_batch_not_an_internal_part(case, window):
    """``initial`` without V leaves the flowsheet a degree of freedom: the error names the
    user's batch ``experiments['running']``, not the estimate's window or open-loop part."""
    exp = running(case.truth, initial={k: v for k, v in RECORDED.items() if k != "V"})
    with pytest.raises(DataError) as info:
        estimate_flowsheet(case.hf, case.specs, exp, T_NOW, window, nfe=NFE, ncp=NCP)
    assert str(info.value).startswith("experiments['running']: the flowsheet keeps 1 degrees of "
                                      "freedom with its inputs and initial state fixed")
    # and one choice of the free variable (a maximum matching's leftover): V or its derivative
    assert re.search(r"\(left free, one choice: fs\.unit\.(dVdt|V)\[\*\] \(1 element\)\)", str(info.value)), \
        str(info.value)


# ----------------------------------------------------------------------------- component
@pytest.mark.component
@pytest.mark.parametrize("window", [T_NOW, 8.0])
def test_estimate_recovers_the_true_state_from_a_wrong_record(case, window):
    """Window [0, 20] (the freed state is x(0)) and [12, 20] (starts at the feed step;
    x(12) freed, inputs shifted): the state at t_now is the truth within 1e-3, although
    the open loop from the recorded state is off by 6 % (X) and 5 % (V)."""
    est = estimate_flowsheet(case.hf, case.specs, running(case.truth), T_NOW, window,
                             nfe=NFE, ncp=NCP, settings=WEAK)
    true_now = case.truth.loc[T_NOW]
    open_loop = open_loop_state(case.hf, case.specs, running(case.truth), STATES, T_NOW, 2.0, NCP)
    assert est.status == "optimal" and est.window_start == T_NOW - window
    assert set(est.state) == set(STATES)
    assert est.n_observations == 4 * (int(window) + 1)  # hourly X, P, S, V in the window
    for name in STATES:
        assert est.state[name] == pytest.approx(true_now[name], rel=1e-3, abs=1e-4), name
        assert est.window_initial[name] == pytest.approx(
            case.truth.loc[T_NOW - window][name], rel=1e-3, abs=1e-4), name
        assert est.fit_rmse[name] < 1e-3
    # the record is far off: the open loop from it misses by 50-100x the tolerance
    # (measured X 3.743 vs 3.520, V 1.76 vs 1.86)
    assert abs(open_loop["X"] - true_now["X"]) > 0.05 * true_now["X"]
    assert abs(open_loop["V"] - true_now["V"]) > 0.09


@pytest.mark.component
def test_arrival_cost_mean_is_the_open_loop_from_the_record(case):
    """A very tight prior (relative sd 1e-4) pins the window's initial state to the prior
    mean: the recorded state at t_s = 0, the open-loop simulation from it at t_s = 12 (an
    independent simulation of the whole batch from the record, read at 12 h)."""
    tight = EstimationSettings(prior_rel_sd=1e-4)
    record = running(case.truth)
    est0 = estimate_flowsheet(case.hf, case.specs, record, T_NOW, T_NOW, nfe=NFE, ncp=NCP,
                              settings=tight)
    assert est0.window_initial == pytest.approx(RECORDED, rel=1e-4, abs=1e-6)  # one prior sd
    assert est0.arrival_cost.mean == pytest.approx(RECORDED)
    assert est0.arrival_cost.sd["X"] == pytest.approx(1e-4 * 0.1)
    est12 = estimate_flowsheet(case.hf, case.specs, record, T_NOW, 8.0, nfe=NFE, ncp=NCP,
                               settings=tight)
    sim = simulate_flowsheet(case.hf, FlowsheetExperiment("ol", HORIZON, no_data(), initial=RECORDED,
                                                          inputs={"F": F_STEPS, "Sf": SF}),
                             case.specs, NFE, NCP)
    ol12 = values_at(case.hf, sim.model.experiment["ol"], STATES, [12.0]).iloc[0]
    for name in STATES:
        assert est12.arrival_cost.mean[name] == pytest.approx(ol12[name], rel=1e-3, abs=1e-5)
        assert est12.window_initial[name] == pytest.approx(ol12[name], rel=1e-3, abs=1e-5)


@pytest.mark.component
def test_forecast_is_a_simulation_from_the_estimate(case):
    """The forecast equals an independent simulate_flowsheet from the estimated state at
    t_now with the inputs as seen from t_now (F = 0.02, Sf 7 -> 5 linear), and the truth."""
    est = estimate_flowsheet(case.hf, case.specs, running(case.truth), T_NOW, 8.0, nfe=NFE,
                             ncp=NCP, settings=WEAK)
    rest = FlowsheetExperiment("rest", HORIZON - T_NOW, no_data(), initial=est.state, inputs={
        "F": 0.02, "Sf": InputProfile((0.0, 20.0), (7.0, 5.0), Interpolation.LINEAR)})
    sim = simulate_flowsheet(case.hf, rest, case.specs, 10, NCP, STATES)
    assert est.forecast["time"] == pytest.approx(sim["time"] + T_NOW, abs=1e-12)
    for name in STATES:
        assert est.forecast[name] == pytest.approx(sim[name], rel=1e-6, abs=1e-8), name
    grid = [20.0, 25.0, 30.0, 40.0]
    predicted = est.forecast_at(grid)
    for name in STATES:
        assert predicted[name].to_numpy() == pytest.approx(
            case.truth.loc[grid][name].to_numpy(), rel=1e-3, abs=1e-4), name
    assert est.final_state["V"] == pytest.approx(1.86 + 0.02 * 20.0, rel=1e-4)


@pytest.mark.component
def test_noise_estimated_from_the_data_and_no_prior(case):
    """No noise_sd: each variable weighted by the noise estimated from its data up to t_now,
    as training does (noise sd 0.2 x NOISE_SD, seed 3; measured 0.0120 / 0.0127 / 0.121 /
    0.0124 for X / P / S / V against 0.01 / 0.01 / 0.1 / 0.02: within 40 %); without an
    arrival cost the window's data alone give the state within 1 % (measured <= 0.2 %)."""
    rng = np.random.default_rng(3)
    true_sd = {k: 0.2 * v for k, v in NOISE_SD.items()}
    noisy = case.truth + rng.normal(0.0, 1.0, case.truth.shape) * np.array(
        [true_sd[c] for c in case.truth.columns])
    exp = running(noisy)
    exp.noise_sd = None
    est = estimate_flowsheet(case.hf, case.specs, exp, T_NOW, 8.0, nfe=NFE, ncp=NCP,
                             settings=EstimationSettings(prior=PriorMode.NONE))
    assert est.arrival_cost is None and est.status == "optimal"
    for name in STATES:
        assert est.noise_sd[name] == pytest.approx(true_sd[name], rel=0.4), name
        assert est.state[name] == pytest.approx(case.truth.loc[T_NOW][name], rel=0.01), name


# ----------------------------------------------------------------------------- CLI
def _write_case(tmp_path: Path, truth: pd.DataFrame, noise: dict | None = None) -> tuple[Path, Path]:
    """A flowsheet config with the batch (X and S measured, the wrong record) and a saved
    model holding the true network (``noise``: the model's training noise levels, and the
    batch without its own ``noise_sd``)."""
    shutil.copy(CASE / "hybrid_flowsheet.py", tmp_path / "hybrid_flowsheet.py")
    truth[["X", "S"]].to_csv(tmp_path / "running.csv", float_format="%.12g")
    pd.DataFrame({"Sf": [9.0, 5.0]}, index=pd.Index([0.0, 40.0], name="time")).to_csv(
        tmp_path / "sf.csv")
    head = (CASE / "config_flowsheet.toml").read_text().split("[[experiments]]")[0]
    head = head.replace("tol = 1e-6", "tol = 1e-8")
    config = tmp_path / "config.toml"
    config.write_text(head + """[[experiments]]
name = "running"
data = "running.csv"
initial = {X = 0.1, P = 0.05, S = 7.0, V = 1.0}
inputs = {F = [[0, 0.05], [12, 0.02]], Sf = {file = "sf.csv", column = "Sf"}}
horizon = 40.0
""" + ("noise_sd = {X = 0.05, S = 0.5}\n" if noise is None else ""))
    save_flowsheet_model(tmp_path / "model", types.SimpleNamespace(specs={"growth": true_network()},
                                                                   noise=noise),
                         config, "hybrid_flowsheet.py:build")
    return config, tmp_path / "model"


@pytest.mark.integration
def test_cli_estimate_weights_by_the_trained_noise_when_none_is_given(case, tmp_path):
    """A flowsheet model records the noise levels it was trained with; an estimate of a batch
    without ``noise_sd`` weights its data by them (it estimated them from the window, whose
    spread includes the trend: a unit-model review case weighted X by sd 0.48 for a true 0.05)."""
    trained = {"X": {"sd": 0.04, "source": "estimated"}, "S": {"sd": 0.3, "source": "given"},
               "P": {"sd": 0.02, "source": "estimated"}}
    config, model = _write_case(tmp_path, case.truth, noise=trained)
    assert json.loads((model / "flowsheet_model.json").read_text())["noise_sd"] == trained
    out = tmp_path / "est"
    assert main(["estimate", str(model), str(config), "--experiment", "running", "--now", "20",
                 "--window", "8", "--prior-rel-sd", "10", "--out", str(out), "--quiet"]) == 0
    doc = json.loads((out / "estimate.json").read_text())
    assert doc["noise_sd"] == {"X": 0.04, "S": 0.3}  # the measured ones; P is not measured
    true_now = case.truth.loc[T_NOW]
    for name in ("X", "S"):  # noise-free data: the weights move the estimate little
        assert doc["state"][name] == pytest.approx(true_now[name], rel=2e-3, abs=1e-3), name


@pytest.mark.integration
def test_cli_estimate_on_a_flowsheet_config_writes_json_and_plot(case, tmp_path, capsys):
    """X and S measured, a weak prior (relative sd 10): X, S and V (seen through the
    dilution) at t_now are the truth within 1e-3; P, which no measurement sees, stays at
    the prior mean (the open loop from the wrong record) carried through the window."""
    config, model = _write_case(tmp_path, case.truth)
    out = tmp_path / "est"
    code = main(["estimate", str(model), str(config), "--experiment", "running", "--now", "20",
                 "--window", "8", "--prior-rel-sd", "10", "--out", str(out),
                 "--quiet"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["estimate.json", "estimate.png"]
    assert (out / "estimate.png").read_bytes()[:8] == PNG
    doc = json.loads((out / "estimate.json").read_text())
    assert doc["experiment"] == "running" and doc["flowsheet"] == "hybrid_flowsheet.py:build"
    assert doc["window"] == {"start": 12.0, "end": 20.0, "length": 8.0}
    assert doc["solve"]["status"] == "optimal" and doc["solve"]["iterations"] > 0
    assert doc["n_observations"] == 18 and set(doc["noise_sd"]) == {"X", "S"}
    assert set(doc["state"]) == set(doc["window_initial"]) == set(STATES)
    # the prior's mean: the open loop from the WRONG record (V = 1.0 + 0.05 * 12)
    assert doc["arrival_cost"]["mean"]["V"] == pytest.approx(1.6, rel=1e-6)
    assert doc["window_initial"]["P"] == pytest.approx(doc["arrival_cost"]["mean"]["P"], rel=1e-4)
    # Against the truth. Measured at t_now: X 3.5202 vs 3.5202; S 0.09106 vs 0.09085
    # (2e-4 g/L, 1/2500 of its noise sd); V 1.8564 vs 1.8600: V is seen only through the
    # dilution of X and S, which amplifies the collocation error of the grids (0.2 %).
    true_now, true_start = case.truth.loc[T_NOW], case.truth.loc[12.0]
    for name, rel, abs_ in (("X", 1e-3, 0.0), ("S", 1e-3, 5e-4), ("V", 5e-3, 0.0)):
        assert doc["state"][name] == pytest.approx(true_now[name], rel=rel, abs=abs_), name
        assert doc["window_initial"][name] == pytest.approx(true_start[name], rel=rel, abs=abs_)
    # the CLI's numbers are the library's on the same config
    fs_config = load_flowsheet_config(config)
    api = estimate_flowsheet(fs_config.flowsheet, {"growth": true_network()},
                             fs_config.experiments[0], T_NOW, 8.0, nfe=NFE, ncp=NCP,
                             settings=EstimationSettings(prior_rel_sd=10.0, solver_options={
                                 "tol": 1e-8, "max_iter": 1000}))
    assert doc["state"] == pytest.approx(api.state, rel=1e-6, abs=1e-9)
    assert doc["forecast"]["X"] == pytest.approx(list(api.forecast["X"]), rel=1e-6, abs=1e-9)
    assert doc["forecast"]["time"][0] == 20.0 and doc["forecast"]["time"][-1] == 40.0
    assert len(doc["forecast"]["X"]) == len(doc["forecast"]["time"])
    assert doc["forecast"]["V"][-1] == pytest.approx(doc["state"]["V"] + 0.02 * 20.0, rel=1e-6)
    assert doc["estimate"]["time"][0] == 12.0 and doc["estimate"]["time"][-1] == 20.0
    assert "t = 20" in stdout


@pytest.mark.component
def test_cli_bad_estimate_requests_exit_2_naming_the_field(case, tmp_path, capsys):
    config, model = _write_case(tmp_path, case.truth.loc[:20.0])
    cases = [(["--experiment", "nope", "--now", "20", "--window", "8"], "--experiment: 'nope'"),
             (["--experiment", "running", "--now", "45", "--window", "8"], "--now: 45.0 is after the end"),
             (["--experiment", "running", "--now", "20", "--window", "-3"], "--window: must be > 0"),
             (["--experiment", "running", "--now", "20", "--window", "8", "--horizon-end", "50"],
              "--horizon-end: 50 is past the end"),
             (["--experiment", "running", "--now", "20", "--window", "8", "--prior-rel-sd", "Q=1"],
              "--prior-rel-sd: 'Q' is not a state")]
    for args, start in cases:
        code = main(["estimate", str(model), str(config), *args, "--out", str(tmp_path / "out"),
                     "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and err[-1].startswith(f"error: {start}"), (args, err)
    assert not (tmp_path / "out").exists()


@pytest.mark.unit
def test_prior_rel_sd_by_a_variables_name_points_to_the_state_path():
    """``--prior-rel-sd NaOH=0.1`` where the batch's ``initial`` names the state by its path:
    refused (the names are the initial table's), with the path to give."""
    from idaes_hybrid.cli.common import UsageError, check_rel_sd_names

    path = "fs.r1.control_volume.properties_out[*].conc_mol_comp[NaOH]"
    states = [path, "fs.r1.control_volume.properties_out[*].temperature"]
    check_rel_sd_names({path: 0.1}, states, {"NaOH": path})
    with pytest.raises(UsageError) as info:
        check_rel_sd_names({"NaOH": 0.1}, states, {"NaOH": path, "Q": "fs.r1.heat_duty[*]"})
    assert str(info.value) == (f"--prior-rel-sd: 'NaOH' is not a state; 'NaOH' is '{path}', which "
                               "the batch's initial table names by its path: give it as written "
                               f"there; valid names: {states}")
    with pytest.raises(UsageError, match=r"^--prior-rel-sd: 'Q' is not a state; valid names: "):
        check_rel_sd_names({"Q": 0.1}, states, {"NaOH": path, "Q": "fs.r1.heat_duty[*]"})
