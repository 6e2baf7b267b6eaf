"""`idaes-hybrid update` on a flowsheet configuration (the twin's model update)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from idaes_hybrid.cli.app import main

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "tank_manifold"
NOISE = 0.05


def _split_config(tmp_path: Path, names: list[str]) -> Path:
    """The two-term tank config with only the experiments ``names`` (and ``val``)."""
    text = (CASE / "config_two_terms.toml").read_text()
    head, rest = text.split("[[experiments]]", 1)
    blocks = {b.split('name = "')[1].split('"')[0]: "[[experiments]]" + b
              for b in rest.split("[[experiments]]")}
    path = tmp_path / f"config_{'_'.join(names)}.toml"
    path.write_text(head + "".join(blocks[n] for n in [*names, "val"]))
    return path


@pytest.mark.integration
def test_update_learns_a_new_batch_and_keeps_the_validation_error(tmp_path):
    """A model trained on t2 and t3 mispredicts batch t1 (RMSE ~0.9 in the levels); the
    update on t1 (warm start from the saved networks, anchored regularization) predicts
    it at the noise level (x0: 0.87 -> 0.043), and the validation error stays within 25%."""
    shutil.copy(CASE / "hybrid_flowsheet.py", tmp_path / "hybrid_flowsheet.py")
    shutil.copytree(CASE / "data", tmp_path / "data")
    first, new = _split_config(tmp_path, ["t2", "t3"]), _split_config(tmp_path, ["t1"])
    assert main(["train", str(first), "--out", str(tmp_path / "A"), "--quiet"]) == 0
    assert main(["update", str(tmp_path / "A" / "model"), str(new), "--out", str(tmp_path / "B"),
                 "--quiet"]) == 0
    metrics = json.loads((tmp_path / "B" / "metrics.json").read_text())
    up = metrics["update"]
    assert metrics["status"] == "optimal" and up["new_batches"] == ["t1"]
    assert up["parent"]["anchor"] is True and up["parent"]["model_dir"].endswith("A/model")
    assert metrics["stages"]["pretrain"]["status"].startswith("skipped")
    for name in ("x0", "x1", "x2", "x3"):
        assert up["new_after"][name] < min(up["new_before"][name], 1.5 * NOISE), name
        assert up["validation_after"][name] < 1.25 * up["validation_before"][name], name
    # the updated model is a complete saved model: predict reproduces its validation error
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(tmp_path / "B" / "model"), str(new), "--out", str(pred), "--quiet"]) == 0
    # the parent model is untouched and the output may not overwrite it
    assert (tmp_path / "A" / "model" / "flowsheet_model.json").is_file()
    assert main(["update", str(tmp_path / "A" / "model"), str(new), "--out", str(tmp_path / "A"),
                 "--quiet"]) == 2


@pytest.mark.integration
def test_update_with_every_original_batch_trains_from_the_data(tmp_path):
    """The saved model records its training batches' fingerprints; an update whose config
    lists them all (t2, t3, unchanged) beside a new one (t1) trains from the data: the same
    networks as ``idaes-hybrid train`` of that config (all batches were new before: a
    start from the saved networks)."""
    shutil.copy(CASE / "hybrid_flowsheet.py", tmp_path / "hybrid_flowsheet.py")
    shutil.copytree(CASE / "data", tmp_path / "data")
    first, every = _split_config(tmp_path, ["t2", "t3"]), _split_config(tmp_path, ["t2", "t3", "t1"])
    assert main(["train", str(first), "--out", str(tmp_path / "A"), "--quiet"]) == 0
    saved = json.loads((tmp_path / "A" / "model" / "flowsheet_model.json").read_text())
    assert [e["name"] for e in saved["training_data"]["experiments"]] == ["t2", "t3"]  # not val
    assert main(["update", str(tmp_path / "A" / "model"), str(every), "--out", str(tmp_path / "B"),
                 "--quiet"]) == 0
    assert main(["train", str(every), "--out", str(tmp_path / "C"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "B" / "metrics.json").read_text())
    fresh = json.loads((tmp_path / "C" / "metrics.json").read_text())
    up = metrics["update"]
    assert up["start"] == "data" and up["parent"]["anchor"] is False
    assert up["new_batches"] == ["t1"] and up["original_batches"] == ["t2", "t3"]
    assert set(up["new_after"]) == {"x0", "x1", "x2", "x3"}  # pooled over t1 alone
    assert metrics["stages"]["smoother"]["status"] == "optimal"
    assert metrics["objective"] == pytest.approx(fresh["objective"], rel=1e-8)
    updated = json.loads((tmp_path / "B" / "model" / "flowsheet_model.json").read_text())["networks"]
    reference = json.loads((tmp_path / "C" / "model" / "flowsheet_model.json").read_text())["networks"]
    for term in reference:
        for mine, theirs in zip(updated[term]["weights"], reference[term]["weights"]):
            assert np.asarray(mine) == pytest.approx(np.asarray(theirs), rel=1e-6, abs=1e-9)
    for name, value in fresh["validation"]["rmse"].items():
        assert up["validation_after"][name] == pytest.approx(value, rel=1e-4, abs=1e-9)
    # t3 renamed: an original batch is missing, so the update starts from the saved networks
    edited = tmp_path / "config_renamed.toml"
    edited.write_text(every.read_text().replace('name = "t3"', 'name = "t3b"'))
    assert main(["update", str(tmp_path / "A" / "model"), str(edited), "--out", str(tmp_path / "D"),
                 "--quiet"]) == 0
    renamed = json.loads((tmp_path / "D" / "metrics.json").read_text())["update"]
    assert renamed["start"] == "saved" and renamed["original_batches"] == ["t2"]
    assert renamed["new_batches"] == ["t3b", "t1"]


@pytest.mark.unit
def test_the_start_is_data_only_when_every_recorded_batch_is_listed_unchanged(caplog):
    import pandas as pd

    from idaes_hybrid.model.experiment import Role
    from idaes_hybrid.model.flowsheet import FlowsheetExperiment
    from idaes_hybrid.output.saved import experiment_fingerprint
    from idaes_hybrid.twin.flowsheet_update import flowsheet_start, original_batches
    from idaes_hybrid.twin.update import UpdateStart

    def exp(name, x=1.0, role=Role.TRAIN):
        data = pd.DataFrame({"T": [300.0, x]}, index=pd.Index([0.0, 5.0], name="time"))
        return FlowsheetExperiment(name, 5.0, data, inputs={"Q": 2.0}, role=role)  # steady initial

    a, b, c = exp("a"), exp("b"), exp("c")
    recorded = [{"name": e.name, "sha256": experiment_fingerprint(e)} for e in (a, b)]
    auto = UpdateStart.AUTO
    assert flowsheet_start(auto, recorded, [a, b, c]) is UpdateStart.DATA
    assert flowsheet_start(auto, recorded, [a, c]) is UpdateStart.SAVED  # b left out
    assert flowsheet_start(auto, recorded, [a, exp("b", 2.0), c]) is UpdateStart.SAVED  # b's data changed
    assert flowsheet_start(auto, recorded, [a, exp("b", role=Role.VALIDATION), c]) is UpdateStart.SAVED
    assert flowsheet_start(auto, [], [a, b, c]) is UpdateStart.SAVED  # a model saved without them
    assert flowsheet_start(UpdateStart.SAVED, recorded, [a, b, c]) is UpdateStart.SAVED
    assert flowsheet_start(UpdateStart.DATA, [], [c]) is UpdateStart.DATA
    with caplog.at_level("WARNING", logger="idaes.idaes_hybrid.twin.update"):
        assert flowsheet_start(UpdateStart.DATA, recorded, [a, c]) is UpdateStart.DATA
    assert "batches ['b'] are not among them" in caplog.text  # asked for, b left out: forgotten
    assert original_batches(recorded, [c, exp("b", 2.0), a]) == ["a"]


@pytest.mark.component
def test_update_names_the_experiment_of_an_unknown_column_before_any_solve(monkeypatch):
    """A new batch with a column that is no variable of the flowsheet: the update says which
    experiment's data hold it (as training does), not ``outputs.Z``, and solves nothing."""
    import numpy as np
    import pandas as pd

    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.model.flowsheet import FlowsheetExperiment
    from idaes_hybrid.model.paths import PathError
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.twin.flowsheet_update import update_flowsheet

    hf = load_flowsheet_config(CASE.parent / "bioreactor" / "config_flowsheet.toml").flowsheet
    spec = NetworkSpec([4, 1, 1], ["tanh", "linear"],
                       weights=[np.array([[0.0, 0.5, 0.0, 0.0]]), np.array([[0.25]])])
    data = pd.DataFrame({"X": [0.2, 0.5], "Z": [1.0, 2.0]}, index=pd.Index([0.0, 10.0], name="time"))
    exp = FlowsheetExperiment("b4", 10.0, data, initial={"X": 0.2, "P": 0.0, "S": 6.0, "V": 1.1},
                              inputs={"F": 0.05, "Sf": 9.0})
    good = FlowsheetExperiment("b3", 10.0, data[["X"]], initial={"X": 0.2, "P": 0.0, "S": 6.0, "V": 1.1},
                               inputs={"F": 0.05, "Sf": 9.0})
    simulated = []
    monkeypatch.setattr("idaes_hybrid.twin.flowsheet_update.simulate_flowsheet",
                        lambda *a, **k: simulated.append(a[1].name))
    with pytest.raises(PathError) as info:  # the bad batch last: refused before b3 is simulated
        update_flowsheet(hf, {"growth": spec}, [good, exp], 5, 3)
    assert simulated == []
    assert str(info.value) == ("experiments['b4'].measurements.Z: 'Z' is neither a name in "
                               "variables (X, P, S, V, F, Sf) nor a path")


@pytest.mark.component
def test_a_config_of_another_flowsheet_is_warned_about(tmp_path, caplog):
    """A saved flowsheet model used with a config whose build module is another file (a
    config of another case whose networks happen to have the same shape) is warned about;
    the same module copied elsewhere, or the training config itself, is not."""
    import logging
    import types

    from idaes_hybrid.cli.flowsheet import warn_other_build
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.output.flowsheet import save_flowsheet_model

    bio = CASE.parent / "bioreactor"
    config = load_flowsheet_config(bio / "config_flowsheet.toml")
    model = save_flowsheet_model(tmp_path / "model", types.SimpleNamespace(specs={}), config.path,
                                 config.build_ref).parent
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(bio / "hybrid_flowsheet.py", copy / "hybrid_flowsheet.py")
    other = copy / "other"
    other.mkdir()
    (other / "hybrid_flowsheet.py").write_text("def build(fs):\n    pass\n")
    with caplog.at_level(logging.WARNING, logger="idaes.idaes_hybrid"):
        warn_other_build(model, config)
        warn_other_build(model, types.SimpleNamespace(path=copy / "c.toml", build_ref=config.build_ref))
        assert not [r for r in caplog.records if "flowsheet.build" in r.getMessage()]
        warn_other_build(model, types.SimpleNamespace(path=other / "c.toml", build_ref=config.build_ref))
    messages = [r.getMessage() for r in caplog.records if "flowsheet.build" in r.getMessage()]
    assert messages == [
        f"flowsheet.build: the config builds '{other / 'hybrid_flowsheet.py'}:build', but the saved "
        f"model was trained on '{bio / 'hybrid_flowsheet.py'}:build' (a different file); the saved "
        "networks are used in this flowsheet as they are: check that the config belongs to the model"]


@pytest.mark.unit
def test_a_unit_model_folder_and_a_flowsheet_config_say_which_is_which(tmp_path):
    """The model folder holds the other kind of model than the config needs: both ways the
    error says so instead of only 'not found'."""
    from idaes_hybrid.cli.flowsheet import FlowsheetModelError, load_flowsheet_model
    from idaes_hybrid.output.saved import ModelFileError, load_model

    (tmp_path / "unit").mkdir()
    (tmp_path / "unit" / "model.json").write_text("{}")
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "flowsheet_model.json").write_text("{}")
    with pytest.raises(FlowsheetModelError) as info:
        load_flowsheet_model(tmp_path / "unit")
    assert str(info.value) == (
        f"model_dir: '{tmp_path / 'unit' / 'flowsheet_model.json'}' not found (it holds a unit "
        "model, 'model.json', saved from a config with 'model = ...'; a flowsheet config needs a "
        "model trained from a flowsheet config)")
    with pytest.raises(ModelFileError) as info:
        load_model(tmp_path / "fs")
    assert str(info.value) == (
        f"model_dir: no saved model at '{tmp_path / 'fs'}' ('model.json' not found); it holds a "
        "flowsheet model ('flowsheet_model.json'), which needs a flowsheet config (a [flowsheet] "
        "table), not a config with 'model = ...'")


@pytest.mark.component
def test_a_batch_the_saved_networks_cannot_march_starts_with_typical_outputs(monkeypatch):
    """A new batch far outside the saved networks' data (their rate negative there, no start
    within bounds) was the end of an update: its "before" simulation and its warm-start march
    both raised. Now its RMSE before is NaN, and it is marched with the learned outputs held at
    their median over the batches that did march."""
    import math

    import numpy as np
    import pandas as pd
    import pyomo.environ as pyo

    from idaes_hybrid.cli.common import fmt
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.model.flowsheet import FlowsheetExperiment
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training import warm_start
    from idaes_hybrid.training.flowsheet_problem import build_flowsheet_training_model
    from idaes_hybrid.training.predict import PredictionError
    from idaes_hybrid.training.train import StageStatus
    from idaes_hybrid.twin.flowsheet_update import simulated_rmse

    hf = load_flowsheet_config(CASE.parent / "bioreactor" / "config_flowsheet.toml").flowsheet
    spec = NetworkSpec([4, 1, 1], ["tanh", "linear"],
                       weights=[np.array([[0.0, 0.5, 0.0, 0.0]]), np.array([[0.25]])])
    data = pd.DataFrame({"X": [0.2, 0.5]}, index=pd.Index([0.0, 10.0], name="time"))
    exps = [FlowsheetExperiment(name, 10.0, data, initial={"X": 0.2, "P": 0.0, "S": s, "V": 1.1},
                                inputs={"F": 0.05, "Sf": 9.0}) for name, s in (("a", 6.0), ("b", 2.0), ("far", 9.0))]

    def simulate(hf_, exp, *a, **k):
        raise PredictionError(f"simulation of {exp.name!r}: max_iterations (...)")

    monkeypatch.setattr("idaes_hybrid.twin.flowsheet_update.simulate_flowsheet", simulate)
    before = simulated_rmse(hf, exps[2:], {"growth": spec}, 4, 2)
    assert list(before) == ["far"] and math.isnan(before["far"]["X"])
    assert fmt(before["far"]["X"]) == "-" and fmt(0.012345) == "0.01235"  # the update's table

    m = build_flowsheet_training_model(hf, exps, {"growth": spec}, 4, 2)
    _march_fails_on_far(monkeypatch)
    stages, profiles = warm_start.warm_start_stage(m, exps)
    outputs = {name: [pyo.value(z) for s in m.term_series["growth"][name] for zs in s.outputs for z in zs]
               for name in ("a", "b", "far")}
    median = float(np.median(outputs["a"] + outputs["b"]))
    assert outputs["far"] == pytest.approx([median] * len(outputs["far"]))
    assert stages["warm_start"].status is StageStatus.MARCHED
    assert profiles["growth"]["outputs"].shape == (3 * len(outputs["a"]), 1)
    # the held march left a consistent trajectory: the balances hold at the median rate
    residuals = [abs(pyo.value(c.body) - pyo.value(c.upper)) for c in m.experiment["far"].component_data_objects(
        pyo.Constraint, active=True) if c.equality]
    assert max(residuals) < 1e-6


def _march_fails_on_far(monkeypatch) -> None:
    """The warm start's march of experiment ``far`` with the networks fails."""
    from idaes.core.util.exceptions import InitializationError

    from idaes_hybrid.training import warm_start

    march = warm_start.initialize_flowsheet

    def fail_far(blk, net=None):
        if net is not None and blk.index() == "far":
            raise InitializationError("experiment[far].fs: the march did not converge")
        return march(blk, net)

    monkeypatch.setattr(warm_start, "initialize_flowsheet", fail_far)


@pytest.mark.component
def test_a_warm_start_simulates_an_experiment_the_march_fails_on(monkeypatch):
    """The march of a training experiment fails, predict's simulation (a square solve) does
    not: the warm start begins at the simulation, the trajectory a successful march gives."""
    import numpy as np
    import pandas as pd
    import pyomo.environ as pyo

    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.model.flowsheet import FlowsheetExperiment
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training import warm_start
    from idaes_hybrid.training.flowsheet_problem import build_flowsheet_training_model, simulate_flowsheet

    hf = load_flowsheet_config(CASE.parent / "bioreactor" / "config_flowsheet.toml").flowsheet
    spec = NetworkSpec([4, 1, 1], ["tanh", "linear"],
                       weights=[np.array([[0.0, 0.5, 0.0, 0.0]]), np.array([[0.25]])])
    data = pd.DataFrame({"X": [0.2, 0.5]}, index=pd.Index([0.0, 10.0], name="time"))
    exps = [FlowsheetExperiment(name, 10.0, data, initial={"X": 0.2, "P": 0.0, "S": s, "V": 1.1},
                                inputs={"F": 0.05, "Sf": 9.0}) for name, s in (("a", 6.0), ("far", 9.0))]
    marched = build_flowsheet_training_model(hf, exps, {"growth": spec}, 4, 2)
    warm_start.warm_start_stage(marched, exps)
    m = build_flowsheet_training_model(hf, exps, {"growth": spec}, 4, 2)
    _march_fails_on_far(monkeypatch)
    warm_start.warm_start_stage(m, exps, simulate=lambda exp, specs: simulate_flowsheet(hf, exp, specs, 4, 2))
    for name in ("X", "S"):
        got = [pyo.value(v) for v in getattr(m.experiment["far"].fs.unit, name).values()]
        want = [pyo.value(v) for v in getattr(marched.experiment["far"].fs.unit, name).values()]
        assert got == pytest.approx(want, rel=1e-6, abs=1e-8)


@pytest.mark.unit
def test_a_warm_start_scales_by_magnitudes_where_variables_are_large():
    """Update and ensemble members: magnitude scaling where some free variable is >= 1000 at
    the start (an IDAES energy or pressure), Ipopt's row scaling otherwise; a set choice stays."""
    import pyomo.environ as pyo

    from idaes_hybrid.training import flowsheet_train as ft
    from idaes_hybrid.training.train import NlpScaling, TrainingSettings

    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=2.0)
    m.p = pyo.Var(initialize=1.0e5)
    m.p.fix()  # fixed: not what the solve scales
    assert ft._warm_scaling(TrainingSettings(), m).scaling is NlpScaling.GRADIENT
    m.p.unfix()
    assert ft._warm_scaling(TrainingSettings(), m).scaling is NlpScaling.MAGNITUDE
    m.p.set_value(-ft.WARM_MAGNITUDE_FROM)
    assert ft._warm_scaling(TrainingSettings(), m).scaling is NlpScaling.MAGNITUDE
    chosen = TrainingSettings(scaling=NlpScaling.GRADIENT)
    assert ft._warm_scaling(chosen, m).scaling is NlpScaling.GRADIENT
