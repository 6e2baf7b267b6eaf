"""Tests of saving and loading trained models (JSON, no pickle)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest

import idaes_hybrid.output.saved as hio
from idaes_hybrid.config.run import load_run_config
from idaes_hybrid.output.saved import (
    FORMAT_NAME, FORMAT_VERSION, MODEL_FILE, REQUIRED_FIELDS, ModelFileError, SavedModel,
    experiment_fingerprint, load_model, save_model, training_data_fingerprint)
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.training.train import StageReport, TrainingResult
from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR

pytestmark = pytest.mark.unit

SHIPPED = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor" / "config.toml"


@pytest.fixture(scope="module")
def config():
    return load_run_config(SHIPPED)


def trained_spec(config, seed: int = 3) -> NetworkSpec:
    """A network with non-trivial weights and normalization (values with long decimals)."""
    spec = config.network_spec()
    rng = np.random.default_rng(seed)
    spec.set_flat_parameters(rng.normal(size=spec.n_parameters) / 3.0)
    spec.input_mean = rng.uniform(0.1, 9.0, spec.n_inputs)
    spec.input_std = rng.uniform(0.1, 3.0, spec.n_inputs)
    spec.output_mean = np.array([0.1234567890123456789])
    spec.output_std = np.array([0.07111902070928094])
    return spec


METRICS = {"status": "optimal", "wall_time_s": 1.25, "iterations": 41,
           "train": {"rmse": {"X": 0.1, "S": 0.5}}, "validation": {"rmse": {"S": 1 / 3}}}


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_round_trip_is_exact(tmp_path, config):
    spec = trained_spec(config)
    path = save_model(tmp_path / "model", spec, config, METRICS)
    assert path == tmp_path / "model" / MODEL_FILE
    assert _files(tmp_path / "model") == [MODEL_FILE]
    saved = load_model(tmp_path / "model")
    assert isinstance(saved, SavedModel)
    assert saved.directory == (tmp_path / "model").resolve()
    assert saved.model_name == "fed_batch_bioreactor"
    assert saved.definition is FED_BATCH_BIOREACTOR
    assert saved.network_inputs == config.network_inputs
    assert saved.learned_names == ["mu"]
    assert saved.physics == config.physics
    assert saved.discretization == config.discretization
    assert isinstance(saved.discretization, Discretization)
    assert saved.formulation is config.formulation
    assert saved.metrics == METRICS
    assert saved.format_version == FORMAT_VERSION
    assert saved.spec.sizes == spec.sizes
    assert saved.spec.activations == spec.activations
    for a, b in zip([*spec.weights, *spec.biases], [*saved.spec.weights, *saved.spec.biases]):
        assert np.array_equal(a, b)
    for name in ("input_mean", "input_std", "output_mean", "output_std"):
        assert np.array_equal(getattr(spec, name), getattr(saved.spec, name))
    v = np.random.default_rng(0).uniform(0, 10, (5, 4))
    assert np.array_equal(spec.predict(v), saved.spec.predict(v))
    assert saved.training_data == training_data_fingerprint(config.training_experiments)


def test_file_content(tmp_path, config):
    spec = trained_spec(config)
    save_model(tmp_path, spec, config, METRICS)
    doc = json.loads((tmp_path / MODEL_FILE).read_text())
    assert set(REQUIRED_FIELDS) <= set(doc)
    assert doc["format"] == FORMAT_NAME and doc["format_version"] == FORMAT_VERSION
    assert set(doc["versions"]) == {"idaes-hybrid", "idaes-pse", "pyomo", "numpy", "tensorflow"}
    assert doc["versions"]["pyomo"] and doc["versions"]["numpy"] == np.__version__
    assert doc["model"] == "fed_batch_bioreactor"
    assert doc["discretization"] == {"nfe": config.discretization.nfe,
                                     "ncp": config.discretization.ncp}
    assert doc["network"] == spec.to_dict()
    k = config.network_inputs.index("S")
    assert doc["normalization"]["inputs"]["S"] == {"mean": spec.input_mean[k],
                                                   "std": spec.input_std[k]}
    assert doc["normalization"]["outputs"]["mu"]["std"] == 0.07111902070928094
    fp = doc["training_data"]
    assert [e["name"] for e in fp["experiments"]] == [  # training only
        e.name for e in config.training_experiments]
    assert "val" not in [e["name"] for e in fp["experiments"]]
    assert all(len(e["sha256"]) == 64 for e in fp["experiments"]) and len(fp["sha256"]) == 64
    assert fp["experiments"][0]["n_observations"] == 31 * 4  # b1.csv: 31 times x 4 states


def test_fingerprint_changes_with_data(config):
    exp = config.experiments[0]
    before = experiment_fingerprint(exp)
    assert experiment_fingerprint(copy.deepcopy(exp)) == before
    changed = copy.deepcopy(exp)
    changed.measurements.iloc[3, 1] += 1e-9
    assert experiment_fingerprint(changed) != before
    changed = copy.deepcopy(exp)
    changed.initial["X"] += 1.0
    assert experiment_fingerprint(changed) != before
    changed = copy.deepcopy(exp)
    changed.inputs["F"] *= 2
    assert experiment_fingerprint(changed) != before


def test_save_a_training_result_uses_its_metrics(tmp_path, config):
    spec = trained_spec(config)
    result = TrainingResult(
        spec=spec, status="optimal", iterations=7, objective=0.5, wall_time_s=2.0,
        stages={"train": StageReport("optimal", 1.0, 7, 0.5)}, train_rmse={"X": np.float64(0.1)},
        validation_rmse={"X": float("nan")}, per_experiment_rmse={}, trajectories={},
        smoother_profiles={})
    save_model(tmp_path, result, config)
    saved = load_model(tmp_path / MODEL_FILE)  # the file path works too
    assert saved.metrics["iterations"] == 7
    assert saved.metrics["train"]["rmse"] == {"X": 0.1}
    assert saved.metrics["validation"]["rmse"] == {"X": None}  # JSON has no NaN
    assert saved.metrics["stages"]["train"]["iterations"] == 7
    assert np.array_equal(saved.spec.weights[0], spec.weights[0])


def test_save_refuses_a_network_that_does_not_match(tmp_path, config):
    spec = NetworkSpec.dense(2, [3], 1)
    with pytest.raises(ModelFileError, match=r"^network: .*4 network inputs"):
        save_model(tmp_path / "m", spec, config, None)
    assert not (tmp_path / "m").exists()


# ----------------------------------------------------------------------------- atomic writes
def test_failed_save_keeps_the_previous_model(tmp_path, config):
    good = trained_spec(config, seed=1)
    save_model(tmp_path, good, config, METRICS)
    before = (tmp_path / MODEL_FILE).read_bytes()
    bad = trained_spec(config, seed=2)
    bad.weights[1][0, 0] = np.nan
    with pytest.raises(ModelFileError, match=r"^network.weights\[1\]: .*NaN"):
        save_model(tmp_path, bad, config, METRICS)
    with pytest.raises(TypeError):  # not JSON-serializable: fails before writing anything
        save_model(tmp_path, trained_spec(config), config, {"status": object()})
    assert (tmp_path / MODEL_FILE).read_bytes() == before
    assert _files(tmp_path) == [MODEL_FILE]


def test_interrupted_write_leaves_no_partial_file(tmp_path, config, monkeypatch):
    save_model(tmp_path, trained_spec(config, seed=1), config, METRICS)
    before = (tmp_path / MODEL_FILE).read_bytes()

    def crash(src, dst):
        assert Path(src).read_bytes()  # the new content was fully written first
        raise OSError("disk full")

    monkeypatch.setattr(hio.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(tmp_path, trained_spec(config, seed=2), config, METRICS)
    monkeypatch.undo()
    assert (tmp_path / MODEL_FILE).read_bytes() == before
    assert _files(tmp_path) == [MODEL_FILE]
    assert load_model(tmp_path).spec.sizes == config.network_spec().sizes


def test_new_file_gets_usual_permissions(tmp_path, config):
    save_model(tmp_path, trained_spec(config), config, METRICS)
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / MODEL_FILE).stat().st_mode & 0o777 == 0o666 & ~mask


# ----------------------------------------------------------------------------- bad files
@pytest.fixture
def saved_doc(tmp_path, config) -> dict:
    save_model(tmp_path, trained_spec(config), config, METRICS)
    return json.loads((tmp_path / MODEL_FILE).read_text())


def _rewrite(tmp_path: Path, doc: dict) -> Path:
    (tmp_path / MODEL_FILE).write_text(json.dumps(doc))
    return tmp_path


def _load_error(tmp_path: Path, doc: dict, field: str) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(_rewrite(tmp_path, doc))
    message = str(info.value)
    assert message.startswith(field + ":"), message
    return message


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_missing_field(tmp_path, saved_doc, field):
    del saved_doc[field]
    assert "missing" in _load_error(tmp_path, saved_doc, field)


@pytest.mark.parametrize("version", ["2.0", "0.9", "10.0"])
def test_other_major_version_is_refused(tmp_path, saved_doc, version):
    saved_doc["format_version"] = version
    message = _load_error(tmp_path, saved_doc, "format_version")
    assert version in message and FORMAT_VERSION in message


def test_newer_minor_version_is_refused(tmp_path, saved_doc):
    major = FORMAT_VERSION.split(".")[0]
    saved_doc["format_version"] = f"{major}.99"
    saved_doc["added_in_future"] = {"x": 1}
    assert "newer" in _load_error(tmp_path, saved_doc, "format_version")


@pytest.mark.parametrize("field, value", [
    ("format", "something-else"), ("format_version", "one"), ("format_version", 1),
    ("model", 5), ("network_inputs", []), ("network_inputs", ["X", 3]), ("learned_names", "mu"),
    ("physics", [1]), ("discretization", {"nfe": 0, "ncp": 3}), ("discretization", {"nfe": 2}),
    ("formulation", "flat"), ("network", {"sizes": [4, 1]}), ("metrics", [1, 2]),
])
def test_invalid_field(tmp_path, saved_doc, field, value):
    saved_doc[field] = value
    _load_error(tmp_path, saved_doc, field)


def test_invalid_physics_value(tmp_path, saved_doc):
    saved_doc["physics"]["Yxs"] = "half"
    _load_error(tmp_path, saved_doc, "physics.Yxs")


def test_network_must_match_inputs(tmp_path, saved_doc):
    saved_doc["network_inputs"] = ["X", "S"]
    assert "sizes" in _load_error(tmp_path, saved_doc, "network")


def test_normalization_must_match_network(tmp_path, saved_doc):
    saved_doc["normalization"]["inputs"]["S"]["mean"] += 1.0
    _load_error(tmp_path, saved_doc, "normalization")


def test_unknown_model_is_reported_on_use(tmp_path, saved_doc):
    saved_doc["model"] = "not_registered"
    saved = load_model(_rewrite(tmp_path, saved_doc), accept_edited=True)
    with pytest.raises(ModelFileError, match=r"^model: 'not_registered'.*fed_batch_bioreactor"):
        saved.definition


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ModelFileError, match=r"^model_dir: no saved model"):
        load_model(tmp_path / "nothing")
    (tmp_path / MODEL_FILE).write_text("{not json")
    with pytest.raises(ModelFileError, match=r"^model_dir: cannot read"):
        load_model(tmp_path)
    (tmp_path / MODEL_FILE).write_text("[1, 2]")
    with pytest.raises(ModelFileError, match=r"^model_dir: .*JSON object"):
        load_model(tmp_path)
