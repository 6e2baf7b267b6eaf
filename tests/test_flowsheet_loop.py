"""Closed loop on the flowsheet path (``idaes_hybrid.optimize.flowsheet_loop``, ``idaes-hybrid
loop`` on a ``[flowsheet]`` config): the [loop] table, the pull towards the best batch, the
true-flowsheet plant against a scipy integration, and the loop end to end on the bioreactor
flowsheet (its ``[optimization]``: feed profile, V(tf) <= 2.5 L, true optimum 2.5 g)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from idaes_hybrid.config.flowsheet import load_flowsheet_config
from idaes_hybrid.config.run import ConfigError

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"
NOISE = {"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1}
LOOP = '\n[loop]\nplant = "reference"\nrounds = 2\nnoise_sd = { X = 0.05, P = 0.05, S = 0.5, V = 0.1 }\n'


def _config(tmp_path: Path, extra: str = LOOP, old: str = "", new: str = "", hidden: str = "[20, 20]") -> Path:
    """The shipped bioreactor flowsheet config with absolute paths, ``extra`` appended."""
    text = (CASE / "config_flowsheet.toml").read_text()
    for rel in ('"hybrid_flowsheet.py:', '"optimize.py:', '"data/'):
        text = text.replace(rel, f'"{CASE}/{rel[1:]}')
    assert old in text
    text = text.replace(old, new, 1).replace("hidden = [20, 20]", f"hidden = {hidden}")
    path = tmp_path / "cfg.toml"
    path.write_text(text + extra)
    return path


def _monod_run(profile: list[float], segment_times: list[float], times: np.ndarray) -> pd.DataFrame:
    """The true reactor with a piecewise-constant feed, integrated by scipy segment by segment."""
    sys.path.insert(0, str(CASE))
    try:
        from generate_data import simulate_monod
    finally:
        sys.path.remove(str(CASE))
    state, parts = {"X": 0.05, "P": 0.0, "S": 10.0, "V": 1.0}, []
    for k, f in enumerate(profile):
        a, b = segment_times[k], segment_times[k + 1]
        grid = np.unique(np.r_[a, times[(times > a) & (times <= b)], b])
        seg = simulate_monod(state, f, 10.0, grid)
        parts.append(seg.loc[[t for t in seg.index if t in set(times) and (t > a or k == 0)]])
        state = seg.iloc[-1].to_dict()
    return pd.concat(parts)


# ------------------------------------------------------------------------------ unit
@pytest.mark.unit
def test_loop_table_of_a_flowsheet_config_is_read(tmp_path):
    loop = load_flowsheet_config(_config(tmp_path)).loop
    assert (loop.plant, loop.rounds, loop.noise_sd, loop.samples, loop.anchor) == \
        ("reference", 2, NOISE, 41, True) and loop.is_reference
    assert load_flowsheet_config(_config(tmp_path, extra="")).loop is None


@pytest.mark.unit
@pytest.mark.parametrize("extra, old, new, field", [
    (LOOP.replace("X = 0.05", "Q = 0.05"), "", "", r"loop.noise_sd.Q: not a variable of the flowsheet"),
    (LOOP, '\ntrue_build = "', '\n# true_build = "', r"loop.plant: 'reference' needs optimization.true_build"),
    (LOOP.replace("noise_sd = { X = 0.05, P = 0.05, S = 0.5, V = 0.1 }\n", ""), "", "",
     r"loop.noise_sd: required with plant = 'reference'"),
    (LOOP.replace("rounds = 2", "rounds = 0"), "", "", r"loop.rounds"),
    (LOOP.replace('"reference"', '"plant.py:run"'), "", "", r"loop.plant: module file"),
    (LOOP, "[optimization]", "[optimization_off]", r"optimization_off: unknown table"),
])
def test_bad_loop_table_names_the_field(tmp_path, extra, old, new, field):
    with pytest.raises(ConfigError, match=field):
        load_flowsheet_config(_config(tmp_path, extra, old, new)).optimization()


@pytest.mark.unit
def test_loop_needs_an_optimization_table(tmp_path):
    text = _config(tmp_path).read_text()
    start, end = text.index("[optimization]"), text.index("[[experiments]]")
    path = tmp_path / "no_opt.toml"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigError, match=r"loop: needs an \[optimization\] table"):
        load_flowsheet_config(path)


# ------------------------------------------------------------------------ component
@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    """The shipped [optimization] on the true (Monod) flowsheet."""
    from idaes_hybrid.cli.flowsheet_loop import loop_problem, true_flowsheet

    config = load_flowsheet_config(_config(tmp_path_factory.mktemp("truth")))
    opt = config.optimization()
    return config, true_flowsheet(config, opt), loop_problem(opt)


@pytest.mark.component
def test_true_plant_samples_the_scipy_integration_of_the_profile(truth):
    """The reference plant's noise-free samples and objective against scipy (Radau, rtol
    1e-10) on the same feed profile; the noise is the seeded draw of round k."""
    from idaes_hybrid.model.inputs import InputProfile
    from idaes_hybrid.optimize.flowsheet_loop import true_flowsheet_plant

    config, hf, problem = truth
    edges = list(np.linspace(0.0, 40.0, 11))
    profile = [0.02, 0.03, 0.04, 0.05, 0.06, 0.05, 0.04, 0.01, 0.0, 0.0]
    inputs = {"F": InputProfile(tuple(edges[:-1]), tuple(profile))}
    clean = true_flowsheet_plant(hf, problem, {k: 1e-300 for k in NOISE}, samples=21)(inputs, 1)
    ref = _monod_run(profile, edges, np.linspace(0.0, 40.0, 21))
    for name in NOISE:
        np.testing.assert_allclose(clean.measurements[name].to_numpy(), ref[name].to_numpy(),
                                   rtol=2e-3, atol=5e-3, err_msg=name)  # 20 Radau elements
    assert clean.objective == pytest.approx(-ref["P"].iloc[-1] * ref["V"].iloc[-1], rel=1e-3)
    noisy = true_flowsheet_plant(hf, problem, NOISE, samples=21, seed=3)(inputs, 2)
    draw = np.random.default_rng([3, 2]).standard_normal((21, 4)) * np.array(list(NOISE.values()))
    np.testing.assert_allclose(noisy.measurements.to_numpy() - clean.measurements.to_numpy(), draw,
                               atol=1e-9)


#: A feed the closed loop chose on the Haldane case (issue 16): the substrate is nearly used
#: up in the 8th segment, and 20 Radau elements undershoot it below 0.
STARVING_FEED = [1.6e-06, 2.05e-06, 3.89e-06, 1.47e-05, 0.00766, 0.01578, 0.07965, 0.18471, 0.08717, 7.6e-07]


def _haldane_scipy(profile: list[float]) -> tuple[float, float]:
    """P(tf) V(tf) and the lowest S of the Haldane reactor (X0 0.1, S0 5, V0 1, Sf 30) by scipy."""
    from scipy.integrate import solve_ivp

    y, s_min = [0.1, 0.0, 5.0, 1.0], np.inf
    for k, f in enumerate(profile):
        def rhs(_t, z, f=f):
            x, p, s, v = z
            mu = 0.3 * s / (1.0 + s + 0.2 * s * s)
            return [mu * x - f * x / v, 0.2 * mu * x - f * p / v, f * (30.0 - s) / v - mu * x / 0.5, f]
        sol = solve_ivp(rhs, (4.0 * k, 4.0 * (k + 1)), y, method="Radau", rtol=1e-10, atol=1e-12)
        y, s_min = sol.y[:, -1], min(s_min, sol.y[2].min())
    return float(y[1] * y[3]), float(s_min)


def build_haldane(fs) -> None:
    from idaes_hybrid.cases.fed_batch import FedBatchReactor
    from idaes_hybrid.model.contract import KineticsMode

    fs.unit = FedBatchReactor(dynamic=True, kinetics=KineticsMode.REFERENCE)
    fs.unit.set_physics(Yxs=0.5, Ypx=0.2, mu_max=0.3, Ks=1.0, Ki_inv=0.2)


@pytest.mark.component
def test_a_simulation_whose_grid_undershoots_a_bound_is_solved_and_the_plant_refines_it(truth):
    """On 20 elements the starving feed has no solution with S >= 0 (the true S stays above
    0.026): the simulation is solved again without bounds (S < 0 somewhere, product 0.4 %
    high); the reference plant's 4x finer grid is within 0.05 % of scipy."""
    from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
    from idaes_hybrid.model.inputs import InputProfile
    from idaes_hybrid.optimize.flowsheet_loop import LoopProblem, evaluate_profiles, true_flowsheet_plant

    config, _, problem = truth
    hf = HybridFlowsheet(build_haldane, [], config.flowsheet.variables, config.flowsheet.time_units)
    scenario = FlowsheetExperiment("haldane", 40.0, pd.DataFrame(), initial={"X": 0.1, "P": 0.0, "S": 5.0,
                                                                           "V": 1.0}, inputs={"Sf": 30.0})
    haldane = LoopProblem(scenario, problem.controls, problem.objective, problem.constraints, 10, 20, 3)
    inputs = {"F": InputProfile(tuple(np.linspace(0.0, 36.0, 10)), tuple(STARVING_FEED))}
    ref, s_min = _haldane_scipy(STARVING_FEED)
    assert s_min > 0.02
    coarse, blk = evaluate_profiles(hf, haldane, inputs)
    assert min(blk.fs.unit.S[t].value for t in blk.fs.time) < 0.0
    assert -coarse == pytest.approx(ref, rel=0.01)
    plant = true_flowsheet_plant(hf, haldane, {"S": 1e-300}, samples=5)(inputs, 1)
    assert -plant.objective == pytest.approx(ref, rel=5e-4)


@pytest.mark.component
def test_pull_keeps_the_profile_near_its_start_and_is_not_reported(truth):
    """Without a pull the true optimum (2.5 g, the volume limit binds); with a strong pull
    towards a constant feed the optimum stays there, and the objective reported is the
    user's (no pull term) at that profile."""
    from idaes_hybrid.optimize.flowsheet_loop import evaluate_profiles, optimize_problem

    config, hf, problem = truth
    free = optimize_problem(hf, None, problem, config.training.solver_options)
    assert free.objective == pytest.approx(-2.5, rel=1e-4)
    start = {"F": [0.03] * problem.segments}
    held = optimize_problem(hf, None, problem, config.training.solver_options, start=start, pull=1e4)
    np.testing.assert_allclose(held.profiles["F"], start["F"], atol=2e-4)
    value, _ = evaluate_profiles(hf, problem, held.inputs())
    assert held.objective == pytest.approx(value, rel=1e-5) and held.objective > free.objective


@pytest.mark.component
def test_a_plant_returning_something_else_is_named():
    from idaes_hybrid.optimize.flowsheet import FlowsheetOptimizationError
    from idaes_hybrid.optimize.flowsheet_loop import FlowsheetPlantBatch, check_loop, plant_batch

    with pytest.raises(FlowsheetOptimizationError, match="plant: round 3: expected a FlowsheetPlantBatch"):
        plant_batch(lambda inputs, k: {"X": 1.0}, {}, 3)
    frame = pd.DataFrame({"X": [1.0]}, index=pd.Index([0.0], name="time"))
    assert plant_batch(lambda inputs, k: frame, {}, 1) == FlowsheetPlantBatch(frame)

    def failing(inputs, round_):
        raise KeyError("F")

    with pytest.raises(FlowsheetOptimizationError) as info:  # the user's code, not an internal error
        plant_batch(failing, {}, 2)
    assert str(info.value) == "plant: round 2: the plant raised KeyError: 'F'"
    with pytest.raises(FlowsheetOptimizationError, match="rounds: expected an integer >= 1"):
        check_loop(0, 0.01, [], "loop")
    with pytest.raises(FlowsheetOptimizationError, match="proximal: expected a finite number"):
        check_loop(2, -1.0, [], "loop")


# ---------------------------------------------------------------------- integration
@pytest.mark.integration
def test_loop_on_the_bioreactor_flowsheet_end_to_end(tmp_path, truth):
    """`idaes-hybrid loop` with the reference plant: every round's plant objective is the
    true flowsheet's at that round's profile, the gap to the true optimum shrinks, and the
    final model is a flowsheet model that `predict` reads."""
    from idaes_hybrid.cli.app import main
    from idaes_hybrid.model.inputs import InputProfile
    from idaes_hybrid.optimize.flowsheet_loop import PLANT_REFINE, evaluate_profiles

    cfg = _config(tmp_path, hidden="[8, 8]")
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["loop", str(tmp_path / "run" / "model"), str(cfg), "--out", str(tmp_path / "loop"),
                 "--quiet"]) == 0
    doc = json.loads((tmp_path / "loop" / "loop.json").read_text())
    assert doc["true_optimum"] == pytest.approx(-2.5, rel=1e-4)
    assert [r["experiment"] for r in doc["rounds"]] == ["loop1", "loop2"]
    _, hf, problem = truth
    plant_grid = dataclasses.replace(problem, nfe=PLANT_REFINE * problem.nfe)
    edges = doc["segment_times"]
    for r in doc["rounds"]:
        inputs = {"F": InputProfile(tuple(edges[:-1]), tuple(r["profiles"]["F"]))}
        assert r["true"] == pytest.approx(evaluate_profiles(hf, plant_grid, inputs)[0], rel=1e-6)
        assert -0.5 < r["gap_percent"] < 3.0
    assert doc["rounds"][1]["gap_percent"] <= doc["rounds"][0]["gap_percent"] + 0.05
    for name in ("loop.md", "loop.png", "metrics.json", "report.md", "model/flowsheet_model.json"):
        assert (tmp_path / "loop" / name).is_file(), name
    assert main(["predict", str(tmp_path / "loop" / "model"), str(cfg), "--out",
                 str(tmp_path / "pred"), "--quiet"]) == 0
