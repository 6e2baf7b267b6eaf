"""Tests of run-configuration parsing: the shipped config and every bad-input case."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from idaes_hybrid.config.run import ConfigError, RunConfig, load_run_config, run_config_from_dict
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import Activation
from idaes_hybrid.training.experiment import DataError, Role
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.training.train import HessianMode, TrainingSettings

pytestmark = pytest.mark.unit

BIOREACTOR = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"
SHIPPED = BIOREACTOR / "config.toml"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else
                                                "-inf" if value == -math.inf else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def dump_toml(data: dict) -> str:
    """Write the subset of TOML run configs use (scalars, tables, [[experiments]])."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for table in value:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def shipped_dict() -> dict:
    with open(SHIPPED, "rb") as fh:
        data = tomllib.load(fh)
    for exp in data["experiments"]:  # absolute paths: configs are written elsewhere
        exp["data"] = str(BIOREACTOR / exp["data"])
    return data


def write_config(tmp_path: Path, data: dict, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(dump_toml(data))
    return path


def check_error(tmp_path: Path, data: dict, field: str, *also: str,
                error: type[Exception] = ValueError) -> str:
    """Loading ``data`` raises ``error`` whose message starts with ``field`` and names ``also``."""
    with pytest.raises(error) as info:
        load_run_config(write_config(tmp_path, data))
    message = str(info.value)
    assert message.startswith(field), message
    for text in also:
        assert text in message, message
    assert "\n" not in message
    return message


def test_shipped_config_parses():
    """The shipped config loads; expectations come from the file (its values are tuned)."""
    with open(SHIPPED, "rb") as fh:
        raw = tomllib.load(fh)
    config = load_run_config(SHIPPED)
    assert isinstance(config, RunConfig)
    assert config.path == SHIPPED.resolve()
    assert config.model_name == raw["model"] == "fed_batch_bioreactor"
    assert config.physics == {**config.definition.physics_defaults, **raw.get("physics", {})}
    net = raw["network"]
    assert config.network_inputs == net["inputs"]
    assert config.hidden == net["hidden"]
    assert config.activation is Activation(net["activation"])
    assert config.seed == net.get("seed", 0) == config.training.seed
    assert config.discretization == Discretization(**raw["discretization"])
    training = raw.get("training", {})
    assert config.training.hessian is HessianMode(training.get("hessian", TrainingSettings.hessian.value))
    for key in ("regularization", "smoother_penalty", "smoother_scale", "pretrain_epochs"):
        if key in training:
            assert getattr(config.training, key) == training[key]
    assert config.training.formulation is Formulation(net.get("formulation", TrainingSettings.formulation.value))
    for key, value in raw.get("solver", {}).items():
        assert config.training.solver_options[key] == value
    names = [e["name"] for e in raw["experiments"]]
    assert [e.name for e in config.experiments] == names
    roles = [Role(e.get("role", "train")) for e in raw["experiments"]]
    assert [e.role for e in config.experiments] == roles
    assert [e.name for e in config.training_experiments] == [
        n for n, r in zip(names, roles) if r is Role.TRAIN]
    assert [e.name for e in config.validation_experiments] == [
        n for n, r in zip(names, roles) if r is Role.VALIDATION]
    first = config.experiments[0]
    assert first.measurements.attrs["source"] == str((BIOREACTOR / raw["experiments"][0]["data"])
                                                     .resolve())
    assert first.initial == raw["experiments"][0]["initial"]


def test_network_spec_sizes_and_seed():
    config = load_run_config(SHIPPED)
    spec = config.network_spec()
    assert spec.sizes == [len(config.network_inputs), *config.hidden, 1]
    assert spec.activations == [config.activation] * len(config.hidden) + [Activation.LINEAR]
    again = config.network_spec()
    assert all(np.array_equal(a, b) for a, b in zip(spec.weights, again.weights))
    config.seed = 1
    other = config.network_spec()
    assert not np.array_equal(spec.weights[0], other.weights[0])


def test_relative_data_paths_are_resolved_against_the_config(tmp_path, shipped_dict):
    data = copy.deepcopy(shipped_dict)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b1.csv").write_text((BIOREACTOR / "data" / "b1.csv").read_text())
    data["experiments"] = [dict(data["experiments"][0], data="sub/b1.csv")]
    config = load_run_config(write_config(tmp_path, data))
    assert config.experiments[0].measurements.attrs["source"] == str(tmp_path / "sub" / "b1.csv")


def test_defaults_and_settings_from_other_tables(tmp_path, shipped_dict):
    data = copy.deepcopy(shipped_dict)
    del data["physics"], data["training"], data["discretization"]
    data["network"] = {"formulation": "lifted", "seed": 7}
    data["solver"] = {"tol": 1e-8, "linear_solver": "mumps", "print_level": 3}
    config = load_run_config(write_config(tmp_path, data))
    assert config.physics == {"Yxs": 0.5, "Ypx": 0.2, "S_lim": 1e-3}
    assert config.network_inputs == ["X", "S", "P", "V"]  # the model's default inputs
    assert config.discretization == Discretization()
    assert config.training.formulation is Formulation.LIFTED
    assert config.training.seed == 7 and config.seed == 7
    assert config.training.solver_options == {**TrainingSettings().solver_options, "tol": 1e-8,
                                              "linear_solver": "mumps", "print_level": 3}
    assert config.solver == {"tol": 1e-8, "linear_solver": "mumps", "print_level": 3}


def test_training_values_are_converted(tmp_path, shipped_dict):
    data = copy.deepcopy(shipped_dict)
    data["training"] = {"hessian": "exact", "regularization": 0, "smoother_penalty": 2,
                        "smoother_scale": 0.5, "pretrain_epochs": 20, "pretrain_batch_size": 8,
                        "pretrain_learning_rate": 0.01, "pretrain_l2": 0.0}
    t = load_run_config(write_config(tmp_path, data)).training
    assert t.hessian is HessianMode.EXACT
    assert (t.regularization, t.smoother_penalty, t.smoother_scale) == (0.0, 2.0, 0.5)
    assert isinstance(t.regularization, float)
    assert (t.pretrain_epochs, t.pretrain_batch_size) == (20, 8)
    assert (t.pretrain_learning_rate, t.pretrain_l2) == (0.01, 0.0)


def test_run_config_from_dict(shipped_dict):
    config = run_config_from_dict(shipped_dict, BIOREACTOR)
    assert config.path is None and len(config.experiments) == 4


def _set(data: dict, dotted: str, value) -> dict:
    data = copy.deepcopy(data)
    *parents, key = dotted.split(".")
    target = data
    for p in parents:
        target = target[int(p)] if isinstance(target, list) else target.setdefault(p, {})
    target[key] = value
    return data


def _delete(data: dict, dotted: str) -> dict:
    data = copy.deepcopy(data)
    *parents, key = dotted.split(".")
    target = data
    for p in parents:
        target = target[int(p)] if isinstance(target, list) else target[p]
    del target[key]
    return data


BAD_VALUES = [
    # (dotted key, value, field the message starts with, texts it must contain)
    ("model", "no_such_model", "model", ["'no_such_model'", "'fed_batch_bioreactor'"]),
    ("model", 3, "model", ["fed_batch_bioreactor"]),
    ("colour", "red", "colour", ["unknown key", "'experiments'"]),
    ("physics.mu_max", 0.3, "physics.mu_max", ["'Yxs'", "'Ypx'"]),
    ("physics.Yxs", "half", "physics.Yxs", ["number"]),
    ("physics.Yxs", math.nan, "physics.Yxs", ["finite"]),
    ("physics", 0.5, "physics", ["table"]),
    ("network.inputs", ["X", "Q"], "network.inputs", ["'Q'", "'X', 'P', 'S', 'V'"]),
    ("network.inputs", ["X", "X"], "network.inputs", ["repeated"]),
    ("network.inputs", [], "network.inputs", ["non-empty"]),
    ("network.inputs", "S", "network.inputs", ["list"]),
    ("network.hidden", [4, 0], "network.hidden[1]", [">= 1"]),
    ("network.hidden", [4, -2], "network.hidden[1]", [">= 1"]),
    ("network.hidden", [4.5], "network.hidden[0]", ["integer"]),
    ("network.hidden", [True], "network.hidden[0]", ["integer"]),
    ("network.hidden", [], "network.hidden", ["non-empty"]),
    ("network.hidden", 20, "network.hidden", ["list"]),
    ("network.activation", "relu", "network.activation", ["differentiable", "tanh"]),
    ("network.activation", "wiggle", "network.activation", ["not a known activation", "softplus"]),
    ("network.formulation", "flat", "network.formulation", ["'nested'", "'lifted'"]),
    ("network.seed", -1, "network.seed", [">= 0"]),
    ("network.seed", "zero", "network.seed", ["integer"]),
    ("network.width", 3, "network.width", ["unknown key", "'hidden'"]),
    ("discretization.nfe", 0, "discretization.nfe", [">= 1"]),
    ("discretization.nfe", 2.5, "discretization.nfe", ["integer"]),
    ("discretization.ncp", 11, "discretization.ncp", ["between 1 and 10"]),
    ("discretization.scheme", "radau", "discretization.scheme", ["unknown key", "'nfe'", "'ncp'"]),
    ("training.hessian", "bfgs", "training.hessian", ["'exact'", "'limited-memory'"]),
    ("training.hessian", 1, "training.hessian", ["'exact'", "'limited-memory'"]),
    ("training.learning", 1.0, "training.learning", ["unknown key", "'regularization'",
                                                     "'pretrain_epochs'"]),
    ("training.formulation", "lifted", "training.formulation", ["network.formulation"]),
    ("training.seed", 1, "training.seed", ["network.seed"]),
    ("training.solver_options", {"tol": 1.0}, "training.solver_options", ["[solver]"]),
    ("training.regularization", -1.0, "training.regularization", [">= 0"]),
    ("training.regularization", "small", "training.regularization", ["number"]),
    ("training.smoother_scale", 0.0, "training.smoother_scale", ["> 0"]),
    ("training.pretrain_epochs", 0, "training.pretrain_epochs", [">= 1"]),
    ("training.pretrain_epochs", 1.5, "training.pretrain_epochs", ["integer"]),
    ("training.pretrain_learning_rate", 0.0, "training.pretrain_learning_rate", ["> 0"]),
    ("solver.hessian_approximation", "exact", "solver.hessian_approximation", ["training.hessian"]),
    ("solver.tol", [1e-6], "solver.tol", ["string or a number"]),
    ("solver.mu_init", math.inf, "solver.mu_init", ["finite"]),
    ("solver.wantsol", True, "solver.wantsol", ["string or a number"]),
    ("experiments", [], "experiments", ["non-empty"]),
    ("experiments", 3, "experiments", ["list"]),
]


@pytest.mark.parametrize("key, value, field, texts", BAD_VALUES,
                         ids=[f"{c[0]}={c[1]!r}" for c in BAD_VALUES])
def test_bad_value_names_the_field(tmp_path, shipped_dict, key, value, field, texts):
    check_error(tmp_path, _set(shipped_dict, key, value), field, *texts, error=ConfigError)


@pytest.mark.parametrize("key, field", [("model", "model"), ("experiments", "experiments")])
def test_missing_required_key(tmp_path, shipped_dict, key, field):
    check_error(tmp_path, _delete(shipped_dict, key), field, "required", error=ConfigError)


def test_no_training_experiment(tmp_path, shipped_dict):
    data = copy.deepcopy(shipped_dict)
    data["experiments"] = [data["experiments"][3]]  # the validation one
    data.pop("optimization", None)
    config = load_run_config(write_config(tmp_path, data))  # predict takes it; train does not
    assert [e.role for e in config.experiments] == [Role.VALIDATION]
    from idaes_hybrid.config.checks import require_training_experiment

    with pytest.raises(ConfigError) as info:
        require_training_experiment(config.experiments)
    assert str(info.value) == "experiments: no experiment has role 'train'; at least one must"


def test_repeated_experiment_name(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.1.name", "b1")
    check_error(tmp_path, data, "experiments[1] ('b1').name", "already used", "experiments[0]",
                error=ConfigError)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^config: file '.*nowhere\.toml' not found"):
        load_run_config(tmp_path / "nowhere.toml")


def test_invalid_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('model = "fed_batch_bioreactor"\n[network\n')
    with pytest.raises(ConfigError, match=r"^config: file '.*bad\.toml' is not valid TOML"):
        load_run_config(path)


# ----------------------------------------------------------------------------- experiment data
def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def test_missing_data_file(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.1.data", str(tmp_path / "missing.csv"))
    check_error(tmp_path, data, "experiments[1] ('b2').data", "missing.csv", "not found",
                error=DataError)


def test_missing_time_column(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.0.data", _csv(tmp_path, "t,X,S\n0,1,2\n1,1,2\n"))
    check_error(tmp_path, data, "experiments[0] ('b1').data", "no 'time' column", error=DataError)


def test_unknown_data_column(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.0.data", _csv(tmp_path, "time,X,Q\n0,1,2\n1,1,2\n"))
    check_error(tmp_path, data, "experiments[0] ('b1').measurements", "'Q'",
                "'X', 'P', 'S', 'V'", error=DataError)


def test_non_numeric_cell(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.0.data", _csv(tmp_path, "time,X\n0,1\n1,abc\n"))
    check_error(tmp_path, data, "experiments[0] ('b1').data", "column 'X', row 2", error=DataError)


@pytest.mark.parametrize("csv, problem", [
    ("time,X\n-1,1\n2,1\n", "is negative"),
    ("time,X\n0,1\n50,1\n", "after the horizon"),
])
def test_bad_times(tmp_path, shipped_dict, csv, problem):
    data = _set(shipped_dict, "experiments.2.data", _csv(tmp_path, csv))
    check_error(tmp_path, data, "experiments[2] ('b3').measurements", problem, error=DataError)


def test_nan_initial_condition(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.0.initial.X", math.nan)
    check_error(tmp_path, data, "experiments[0] ('b1').initial.X", "not a finite number",
                error=DataError)


def test_missing_initial_condition(tmp_path, shipped_dict):
    data = _delete(shipped_dict, "experiments.0.initial.V")
    check_error(tmp_path, data, "experiments[0] ('b1').initial.V", "missing", error=DataError)


def test_unknown_initial_state(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.0.initial.Q", 1.0)
    check_error(tmp_path, data, "experiments[0] ('b1').initial.Q", "'X', 'P', 'S', 'V'",
                error=DataError)


def test_unknown_input(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.3.inputs.T", 300.0)
    check_error(tmp_path, data, "experiments[3] ('val').inputs.T", "'F', 'Sf'", error=DataError)


def test_bad_role(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.3.role", "test")
    check_error(tmp_path, data, "experiments[3] ('val').role", "'train'", "'validation'",
                error=DataError)


def test_unknown_experiment_key(tmp_path, shipped_dict):
    data = _set(shipped_dict, "experiments.0.weight", 2.0)
    check_error(tmp_path, data, "experiments[0] ('b1').weight", "unknown key", error=DataError)


def test_missing_horizon(tmp_path, shipped_dict):
    data = _delete(shipped_dict, "experiments.0.horizon")
    check_error(tmp_path, data, "experiments[0] ('b1').horizon", "required", error=DataError)


def test_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError) and issubclass(DataError, ValueError)


def test_roles_are_kept(shipped_dict):
    config = run_config_from_dict(shipped_dict, BIOREACTOR)
    assert [e.role for e in config.experiments] == [
        Role(e.get("role", "train")) for e in shipped_dict["experiments"]]


@pytest.mark.unit
def test_model_named_by_file_needs_no_registration(tmp_path, shipped_dict):
    """``model = "my_model.py:NAME"``: the definition is imported from the user's file (path
    relative to the config); a missing file, a name that is not a definition, or a module
    that fails to import stop with one message naming ``model``."""
    (tmp_path / "my_model.py").write_text(
        "import dataclasses\n"
        "from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR\n"
        "MINE = dataclasses.replace(FED_BATCH_BIOREACTOR, name='my_bioreactor')\n"
        "NOT_A_MODEL = 3\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    data = copy.deepcopy(shipped_dict)
    data["model"] = "my_model.py:MINE"
    config = load_run_config(write_config(tmp_path, data))
    assert config.definition.name == "my_bioreactor"
    assert config.model_ref == f"{(tmp_path / 'my_model.py').resolve()}:MINE"
    for ref, words in (("nofile.py:MINE", ["not found"]),
                       ("my_model.py:NOT_A_MODEL", ["no HybridModelDefinition 'NOT_A_MODEL'"]),
                       ("my_model.py:MISSING", ["no HybridModelDefinition 'MISSING'"]),
                       ("broken.py:MINE", ["RuntimeError: boom"]),
                       ("a:b:c", ["expected 'module.py:name'"])):
        check_error(tmp_path, dict(data, model=ref), "model", *words)


@pytest.mark.unit
def test_hessian_defaults_to_auto_exact_up_to_the_weight_threshold(tmp_path, shipped_dict):
    """No `hessian` key: AUTO, exact up to EXACT_HESSIAN_MAX_WEIGHTS weights (a 4-20-20-1
    network's 541), limited-memory above (4-80-80-1: 6,961); a set mode is kept."""
    from idaes_hybrid.training.train import EXACT_HESSIAN_MAX_WEIGHTS, resolve_hessian

    data = copy.deepcopy(shipped_dict)
    data.get("training", {}).pop("hessian", None)
    config = load_run_config(write_config(tmp_path, data))
    assert config.training.hessian is HessianMode.AUTO and TrainingSettings().hessian is HessianMode.AUTO
    assert resolve_hessian(HessianMode.AUTO, config.network_spec().n_parameters) is HessianMode.EXACT
    assert resolve_hessian(HessianMode.AUTO, EXACT_HESSIAN_MAX_WEIGHTS) is HessianMode.EXACT
    assert resolve_hessian(HessianMode.AUTO, EXACT_HESSIAN_MAX_WEIGHTS + 1) is HessianMode.LIMITED_MEMORY
    assert resolve_hessian(HessianMode.AUTO, 6961) is HessianMode.LIMITED_MEMORY
    for mode in (HessianMode.EXACT, HessianMode.LIMITED_MEMORY):
        assert resolve_hessian(mode, 6961) is mode and resolve_hessian(mode, 10) is mode
    data["training"] = {**data.get("training", {}), "hessian": "auto"}
    assert load_run_config(write_config(tmp_path, data)).training.hessian is HessianMode.AUTO


def test_time_varying_inputs_in_a_unit_config(tmp_path, shipped_dict):
    """A unit config takes the same input forms as a flowsheet config: steps and a file
    column (InputProfile); a bad profile names its field."""
    from idaes_hybrid.model.inputs import InputProfile

    (tmp_path / "feed.csv").write_text("time,F\n0,0.05\n20,0.02\n40,0.02\n")
    data = _set(shipped_dict, "experiments.0.inputs.F", [[0, 0.05], [10, 0.03]])
    data = _set(data, "experiments.1.inputs.F", {"file": str(tmp_path / "feed.csv"), "column": "F"})
    config = load_run_config(write_config(tmp_path, data))
    b1, b2 = config.experiments[0], config.experiments[1]
    assert isinstance(b1.inputs["F"], InputProfile) and b1.inputs["Sf"] == 10.0
    assert b1.input_steps() == [10.0]
    assert isinstance(b2.inputs["F"], InputProfile)
    check_error(tmp_path, _set(shipped_dict, "experiments.0.inputs.F", [[0, 0.05], [-1, 0.03]]),
                "experiments[0] ('b1').inputs.F", error=DataError)
    check_error(tmp_path, _set(shipped_dict, "experiments.0.inputs.F", "fast"),
                "experiments[0] ('b1').inputs.F", error=DataError)


@pytest.mark.unit
def test_a_misspelt_key_gets_a_did_you_mean(tmp_path):
    """``regularisation`` (a review case) named the valid keys only; now the close one first."""
    from idaes_hybrid.config.checks import ConfigError, reject_unknown

    with pytest.raises(ConfigError, match=r"^training\.regularisation: unknown key; did you mean "
                                          r"'regularization'\?; valid keys: 'hessian', 'regularization'"):
        reject_unknown({"regularisation": 3.0}, ["hessian", "regularization"], "training")
    with pytest.raises(ConfigError, match=r"^training\.colour: unknown key; valid keys: "):
        reject_unknown({"colour": 1}, ["hessian", "regularization"], "training")
