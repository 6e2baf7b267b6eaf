"""Closed loop: optimize -> run the batch -> update -> optimize again
(``idaes_hybrid.optimize.closed_loop``, ``idaes-hybrid loop``, the ``[loop]`` table).

The integration case is issue 16's (``benchmarks/trust_region.py``): a hybrid model trained
on three substrate-inhibited (Haldane) batches with Sf 5-10 g/L optimizes a batch with
Sf = 30 g/L; the plant is the true Haldane model measured with the training data's noise.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import noise_data
from benchmarks.trust_region import TABLES
from idaes_hybrid.config.run import ConfigError, load_run_config, run_config_from_dict
from idaes_hybrid.model.inputs import InputProfile
from idaes_hybrid.optimize import closed_loop as cl
from idaes_hybrid.model.contract import KineticsMode
from idaes_hybrid.optimize.feed import (FeedProfile, FeedRequest, OptimizationRequestError,
                                        evaluate_feed_on_reference, feed_problem, optimize_feed)
from idaes_hybrid.output.saved import experiment_fingerprint, load_model, save_model
from idaes_hybrid.training.experiment import DataError, Experiment
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "flowsheets" / "bioreactor" / "config.toml"
INITIAL = {"X": 0.1, "P": 0.0, "S": 5.0, "V": 1.0}
REQUEST = FeedRequest(initial=INITIAL, Sf=30.0, horizon=40.0, n_intervals=10, F_bounds=(0.0, 0.2),
                      V_max=2.5)
LOOP = {"plant": "reference", "rounds": 2, "noise_sd": {"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1}}


def _config_dict(**loop):
    data = tomllib.loads(CONFIG.read_text().replace(
        'data = "data/', f'data = "{(CONFIG.parent / "data").as_posix()}/'))
    if loop.pop("_drop_reference", False):
        data.pop("reference")
        data["optimization"]["compare_reference"] = False
    if loop.pop("_drop_optimization", False):
        data.pop("optimization")
    data["loop"] = {**LOOP, **loop}
    return data


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "idaes_hybrid.cli.app", *map(str, args)],
                          capture_output=True, text=True, timeout=1800)


# ----------------------------------------------------------------------------- unit
@pytest.mark.unit
def test_config_loop_table_defaults_and_user_plant(tmp_path):
    loop = run_config_from_dict(_config_dict(), CONFIG.parent).loop
    assert (loop.plant, loop.rounds, loop.samples, loop.seed, loop.anchor, loop.proximal) == \
        ("reference", 2, 41, 0, True, cl.DEFAULT_PROXIMAL) and loop.is_reference
    (tmp_path / "plant.py").write_text("def run(profile, round):\n    return None\n")
    data = _config_dict(plant="plant.py:run", noise_sd={"S": 0.5})
    del data["loop"]["rounds"]
    loop = run_config_from_dict(data, tmp_path).loop
    assert loop.rounds == cl.DEFAULT_ROUNDS and not loop.is_reference
    assert loop.plant_function().__name__ == "run"


@pytest.mark.unit
@pytest.mark.parametrize("overrides, field", [
    ({"rounds": 0}, "loop.rounds"),
    ({"rounds": 2.5}, "loop.rounds"),
    ({"rounds": True}, "loop.rounds"),
    ({"plant": None}, "loop.plant"),
    ({"plant": "plant.py"}, "loop.plant"),
    ({"plant": "missing.py:run"}, "loop.plant"),
    ({"plant": 3}, "loop.plant"),
    ({"_drop_reference": True}, "loop.plant"),
    ({"noise_sd": {"Q": 0.1}}, "loop.noise_sd.Q"),
    ({"noise_sd": {"S": 0.0}}, "loop.noise_sd.S"),
    ({"noise_sd": None}, "loop.noise_sd"),
    ({"samples": 1}, "loop.samples"),
    ({"anchor": "yes"}, "loop.anchor"),
    ({"proximal": -0.1}, "loop.proximal"),
    ({"speed": 1}, "loop.speed"),
    ({"_drop_optimization": True}, "loop"),
])
def test_config_loop_errors_name_the_field(overrides, field):
    data = _config_dict(**overrides)
    for key, value in list(data["loop"].items()):
        if value is None:
            del data["loop"][key]
    with pytest.raises(ConfigError) as info:
        run_config_from_dict(data, CONFIG.parent)
    assert str(info.value).startswith(f"{field}: ")


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    config = load_run_config(CONFIG)
    return load_model(save_model(tmp_path_factory.mktemp("untrained") / "model",
                                 config.network_spec(), config).parent)


@pytest.mark.unit
@pytest.mark.parametrize("rounds, field", [(0, "rounds"), (1.5, "rounds"), (None, "V_max")])
def test_bad_loop_requests_name_the_field_and_run_nothing(untrained, rounds, field):
    def plant(profile, round_):
        raise AssertionError("the plant ran for an invalid request")

    request = REQUEST if rounds is not None else dataclasses.replace(REQUEST, V_max=0.5)
    with pytest.raises(OptimizationRequestError) as info:
        cl.run_closed_loop(untrained, request, plant, rounds if rounds is not None else 1)
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.unit
def test_batch_names_may_not_clash_with_training_batches(untrained):
    config = load_run_config(CONFIG)
    with pytest.raises(OptimizationRequestError, match=r"^name_prefix: batch name 'b1'"):
        cl.run_closed_loop(untrained, REQUEST, lambda p, k: None, 2, config.training_experiments,
                           name_prefix="b")


@pytest.mark.unit
def test_plant_results_and_measured_product():
    frame = pd.DataFrame({"P": [0.0, 2.0], "V": [1.0, 2.5]}, index=pd.Index([0.0, 40.0], name="time"))
    batch = cl.plant_batch(lambda p, k: frame, FeedProfile.uniform([0.1], 40.0), 1)
    assert batch.product_mass is None and batch.measurements is frame
    assert cl.measured_product_mass(frame, 40.0) == pytest.approx(5.0)
    assert np.isnan(cl.measured_product_mass(frame.iloc[:1], 40.0))
    with pytest.raises(OptimizationRequestError, match=r"^plant: round 3"):
        cl.plant_batch(lambda p, k: [1, 2], FeedProfile.uniform([0.1], 40.0), 3)


@pytest.mark.unit
def test_a_failing_plant_is_named_not_reported_as_an_internal_error():
    def plant(profile, round_):
        raise RuntimeError("sensor offline")

    with pytest.raises(cl.OptimizationError) as info:
        cl.plant_batch(plant, FeedProfile.uniform([0.1], 40.0), 2)
    assert str(info.value) == "plant: round 2: the plant raised RuntimeError: sensor offline"
    assert not isinstance(info.value, OptimizationRequestError)


@pytest.mark.component
def test_plant_measurements_are_checked_before_the_update_naming_the_plant(untrained):
    def plant(profile, round_):  # the time as a column instead of the index
        return pd.DataFrame({"time": [0.0, 40.0], "X": [0.1, 2.0]})

    with pytest.raises(DataError) as info:
        cl.run_closed_loop(untrained, REQUEST, plant, 1)
    assert str(info.value) == (
        "plant (round 1, batch 'loop1').measurements: column 'time' is not a state of the "
        "model; valid names: 'X', 'P', 'S', 'V'; the times belong in the index "
        "(DataFrame.set_index('time'))")


@pytest.mark.unit
def test_batch_experiment_carries_the_feed_steps_and_validates():
    profile = FeedProfile.uniform([0.0, 0.1, 0.2, 0.05], 40.0)
    rng = np.random.default_rng(0)
    traj = {"time": np.linspace(0, 40, 9), **{s: np.linspace(1, 2, 9) for s in "XPSV"}}
    frame = cl.sample_measurements(traj, {"X": 0.0, "S": 0.5}, 5, rng)
    assert list(frame.columns) == ["X", "S"] and list(frame.index) == [0, 10, 20, 30, 40]
    assert np.allclose(frame["X"], np.linspace(1, 2, 5))
    exp = cl.batch_experiment("loop1", REQUEST, profile, cl.PlantBatch(frame), {"S": 0.5})
    assert isinstance(exp.inputs["F"], InputProfile) and exp.inputs["Sf"] == 30.0
    assert exp.input_steps() == [10.0, 20.0, 30.0] and exp.noise_sd == {"S": 0.5}
    d = FED_BATCH_BIOREACTOR
    exp.validate(d.state_names, d.input_names, "loop1")
    assert len(experiment_fingerprint(exp)) == 64
    short = Experiment("short", INITIAL, {"F": InputProfile((5.0,), (0.1,)), "Sf": 30.0}, 40.0, frame)
    with pytest.raises(DataError, match=r"^short\.inputs\.F: the profile starts at t=5"):
        short.validate(d.state_names, d.input_names, "short")


@pytest.mark.unit
def test_proximal_center_is_the_best_batch_so_far():
    frame = pd.DataFrame({"S": [1.0]}, index=pd.Index([0.0], name="time"))
    exp = Experiment("e", INITIAL, {"F": 0.1, "Sf": 30.0}, 40.0, frame)
    rows = [cl.LoopRound(k, FeedProfile.uniform([0.01 * k], 40.0), 5.0, true, exp, {}, {}, 0.0)
            for k, true in ((1, 3.0), (2, 4.0), (3, 1.0))]
    assert cl.proximal_center([], 0.01) is None and cl.proximal_center(rows, 0.0)[1] == 0.0
    profile, weight = cl.proximal_center(rows, 0.01)
    assert profile.values == (0.02,) and weight == pytest.approx(0.04)
    unknown = [dataclasses.replace(r, true=float("nan")) for r in rows]
    profile, weight = cl.proximal_center(unknown, 0.01)  # none known: the last batch
    assert profile.values == (0.03,) and weight == pytest.approx(0.05)


@pytest.mark.component
def test_proximal_term_picks_the_reference_feed_when_it_dominates():
    d = FED_BATCH_BIOREACTOR
    truth = HybridModel(d, {**d.physics_defaults, "mu_max": 0.3, "Ks": 1.0, "Ki_inv": 0.2},
                        tuple(d.state_names), Discretization(nfe=10, ncp=2))
    request = FeedRequest(INITIAL, Sf=30.0, horizon=40.0, n_intervals=5, F_bounds=(0.0, 0.2), V_max=2.5)
    ref = FeedProfile.uniform([0.01, 0.02, 0.03, 0.04, 0.05], 40.0)
    kw = dict(kinetics=KineticsMode.REFERENCE)
    free = optimize_feed(truth, request, **kw)
    pulled = optimize_feed(truth, request, proximal=(ref, 1e4), **kw)
    assert np.allclose(pulled.profile.values, ref.values, atol=1e-3)
    assert free.product_mass > pulled.product_mass + 0.5
    started = optimize_feed(truth, request, initial_feed=ref, **kw)
    assert started.product_mass == pytest.approx(free.product_mass, abs=1e-4)
    with pytest.raises(OptimizationRequestError, match=r"^initial_feed: has 1 intervals"):
        optimize_feed(truth, request, initial_feed=FeedProfile.uniform([0.1], 40.0), **kw)
    with pytest.raises(OptimizationRequestError, match=r"^proximal: weight"):
        optimize_feed(truth, request, proximal=(ref, -1.0), **kw)


@pytest.mark.component
def test_feed_steps_fall_on_element_boundaries_of_the_unit_model():
    """The plant's batch (its feed a step input) on the one-unit flowsheet, and the feed
    optimization's own batch (the feed freed on its intervals), on the grid of feed_problem."""
    import pyomo.environ as pyo

    from idaes_hybrid.model.unit_flowsheet import unit_experiment, unit_flowsheet
    from idaes_hybrid.optimize.flowsheet import starting_run

    profile = FeedProfile.uniform([0.0, 0.1, 0.2], 30.0)
    frame = pd.DataFrame({"S": [5.0]}, index=pd.Index([0.0], name="time"))
    request = FeedRequest(INITIAL, 30.0, 30.0, 3, (0.0, 0.2), 2.5)
    exp = cl.batch_experiment("b", request, profile, cl.PlantBatch(frame), None)
    d = FED_BATCH_BIOREACTOR
    hf = unit_flowsheet(d, dict(d.physics_defaults), list(d.state_names))
    problem = feed_problem(request, d, Discretization(nfe=6, ncp=3))
    _, _, optimized = starting_run(problem.scenario, [problem.control], problem.segments,
                                   {problem.control.name: profile.values})
    for batch in (unit_experiment(exp, d), optimized):
        m = pyo.ConcreteModel()
        hf.build_experiment(m, batch, problem.nfe, problem.ncp)
        fe = list(m.fs.time.get_finite_elements())
        assert all(any(abs(t - e) < 1e-9 for t in fe) for e in profile.edges)
        for t in m.fs.time:
            assert m.fs.unit.F[t].fixed and pyo.value(m.fs.unit.F[t]) == profile.value_at(t)


# ----------------------------------------------------------------------------- integration
@pytest.fixture(scope="module")
def looped(tmp_path_factory):
    """Issue 16's Haldane case trained once, then ``idaes-hybrid loop`` for 1 round."""
    root = tmp_path_factory.mktemp("loop")
    config = noise_data.write_data_set(root, "haldane", 1)["with"]
    sd = "{" + ", ".join(f"{k} = {v}" for k, v in noise_data.NOISE_SD.items()) + "}"
    # alpha pinned at 1: the case whose nominal optimum falls short (the evidence's prior,
    # the default, makes this model's nominal optimum better: 75% of the true one)
    config.write_text(config.read_text() + "\n[training]\nregularization = 1.0\n" + TABLES
                      + "\n[loop]\nplant = \"reference\"\n"
                      f"rounds = 1\nnoise_sd = {sd}\nseed = 1\n")
    run = _cli("train", config, "--out", root / "trained", "--quiet")
    assert run.returncode == 0, run.stderr[-3000:]
    run = _cli("loop", root / "trained" / "model", config, "--out", root / "loop", "--quiet")
    assert run.returncode == 0, run.stderr[-3000:]
    return root, config, run


def _on_truth(config, feed: dict) -> float:
    """An independent check: the recorded feed simulated on the true model."""
    o = config.optimization
    profile = FeedProfile(tuple(feed["edges"]), tuple(feed["values"]))
    truth = config.hybrid_model(physics={**config.physics, **config.reference})
    return evaluate_feed_on_reference(truth, o.initial, o.Sf, profile).product_mass


@pytest.mark.integration
def test_loop_records_the_true_product_and_its_update_improves_the_next_optimum(looped):
    root, config_path, run = looped
    doc = json.loads((root / "loop" / "loop.json").read_text())
    config = load_run_config(config_path)
    (row,) = doc["rounds"]
    assert row["round"] == 1 and doc["batches"] == ["b1", "b2", "b3", "loop1"]
    assert row["true"] == pytest.approx(_on_truth(config, row["feed_profile"]), abs=1e-6)
    assert row["true_source"] == "plant"  # the reference plant's noise-free product
    assert doc["true_optimum_product"] == pytest.approx(5.0, rel=1e-3)
    assert row["share"] == pytest.approx(row["true"] / doc["true_optimum_product"])
    assert doc["nominal_share"] == row["share"] < 0.7  # the nominal optimum falls short
    assert row["update_rmse"]["after"]["S"] < 0.75 * row["update_rmse"]["before"]["S"]
    # round 2's optimum, on the updated model, gives more on the true model
    model, o = load_model(root / "loop" / "model"), config.optimization
    request = o.request()
    profile = FeedProfile(tuple(row["feed_profile"]["edges"]), tuple(row["feed_profile"]["values"]))
    best = cl.proximal_center([cl.LoopRound(1, profile, row["predicted"], row["true"], None, {}, {},
                                            0.0)], cl.DEFAULT_PROXIMAL)
    second = cl.model_optimum(model, request, config.training, best)
    assert _on_truth(config, second.profile.to_dict()) > row["true"] + 0.3


@pytest.mark.integration
def test_cli_loop_writes_report_plot_and_the_final_model(looped):
    root, _, run = looped
    out = root / "loop"
    assert sorted(p.name for p in out.iterdir()) == ["loop.json", "loop.md", "loop.png", "model"]
    assert (out / "loop.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "loop.md").read_text()
    assert "| round | predicted P V (g) | plant P V (g) | share of the true optimum |" in md
    saved = load_model(out / "model")
    assert [e["name"] for e in saved.training_data["experiments"]] == ["b1", "b2", "b3", "loop1"]
    assert "round 1: predicted" in run.stdout and "true optimum: 5.0" in run.stdout


@pytest.mark.unit
def test_a_product_read_from_the_last_sample_is_labelled_as_such():
    """Without the plant's product_mass the loop takes P V from the last sample: one noisy
    measurement, and the report says so (it read like the plant's figure)."""
    from idaes_hybrid.cli.loop import render_markdown

    doc = {"plant": "plant.py:run", "rounds": [
        {"round": 1, "predicted": 2.2, "true": 2.3531, "true_source": "last sample"},
        {"round": 2, "predicted": 2.3, "true": 2.2973, "true_source": "plant"}]}
    md = render_markdown(doc)
    assert "| 1 | 2.2000 | 2.3531 (P V of the last sample: one noisy measurement) |" in md
    assert "| 2 | 2.3000 | 2.2973 |" in md


@pytest.mark.unit
def test_cli_loop_bad_rounds_exits_2_naming_the_field(tmp_path, untrained):
    bad = tmp_path / "bad.toml"
    text = CONFIG.read_text().replace('data = "data/', f'data = "{(CONFIG.parent / "data").as_posix()}/')
    bad.write_text(text + "\n[loop]\nplant = \"reference\"\nrounds = 0\nnoise_sd = {S = 0.5}\n")
    run = _cli("loop", untrained.directory, bad, "--out", tmp_path / "out")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["error: loop.rounds: must be >= 1, got 0"]
    nothing = tmp_path / "none.toml"
    nothing.write_text(text)
    run = _cli("loop", untrained.directory, nothing, "--out", tmp_path / "out")
    assert run.returncode == 2 and run.stderr.startswith("error: loop: the config")
