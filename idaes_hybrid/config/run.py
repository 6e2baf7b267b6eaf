"""Run configurations: one TOML file describing a training run.

:func:`load_run_config` reads and checks a file shaped like
``flowsheets/bioreactor/config.toml``::

    model = "fed_batch_bioreactor"
    [physics]          # known physics parameters (defaults from the model)
    [unit]             # extra CONFIG options of the model's unit (e.g. lyapunov_constraint)
    [network]          # inputs, hidden, activation, seed, formulation
    [discretization]   # nfe, ncp
    [training]         # hessian, regularization, smoother_penalty, ...
    [solver]           # Ipopt options (tol, max_iter, ...)
    [[experiments]]    # name, data, initial, inputs, horizon, role, noise_sd

Every problem raises a :class:`ConfigError` (or a
:class:`~idaes_hybrid.training.experiment.DataError` for experiment data), both
:class:`ValueError`, whose message starts with the bad field, e.g.
``network.inputs: 'Q' is not a state of model 'fed_batch_bioreactor'; ...``.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import idaes.logger as idaeslog

from idaes_hybrid.config.checks import (
    ConfigError, as_table, enum_value, integer, number, reject_unknown, valid_names)
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import Activation, NetworkConfigError, NetworkSpec, parse_activation
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.experiment import DataError, Experiment, Role, experiment_field
from idaes_hybrid.model.experiment import warn_partial_noise_sd
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.decomposition.settings import DecompositionSettings
from idaes_hybrid.uncertainty.settings import UncertaintyMethod, UncertaintySettings
from idaes_hybrid.training.regularization import CROSS_VALIDATE, EVIDENCE
from idaes_hybrid.training.train import NlpScaling, TrainingSettings
from idaes_hybrid.cases.registry import BUILT_IN_MODELS, HybridModelDefinition, get_model_definition
from idaes_hybrid.model.user_module import UserModuleError, absolute_reference, load_definition

if TYPE_CHECKING:  # pragma: no cover
    from idaes_hybrid.config.loop import LoopSettings
    from idaes_hybrid.config.optimization import OptimizationSettings

_log = idaeslog.getLogger(__name__)

#: Top-level keys of a run configuration.
TOP_LEVEL_KEYS = ("model", "physics", "unit", "network", "discretization", "training", "solver",
                  "reference", "experiments", "optimization", "decomposition", "uncertainty",
                  "loop")
#: Keys of the ``[network]`` table.
NETWORK_KEYS = ("inputs", "hidden", "activation", "seed", "formulation")
#: Keys of the ``[discretization]`` table.
DISCRETIZATION_KEYS = ("nfe", "ncp")
#: Defaults of the ``[network]`` table (``inputs`` defaults to the model's own choice).
NETWORK_DEFAULTS = {"hidden": [20, 20], "activation": Activation.TANH.value, "seed": 0}
#: TrainingSettings fields that are set from another table, and where.
_SET_ELSEWHERE = {"formulation": "network.formulation", "solver_options": "the [solver] table",
                  "seed": "network.seed", "unit_config": "the [unit] table",
                  "decomposition": "the [decomposition] table",
                  "solver_defaults": "the workflow (Ipopt options under [solver])"}
#: Unit CONFIG options the workflow sets itself, and where a config controls them.
_UNIT_RESERVED = {"dynamic": "the workflow (always dynamic)", "has_holdup": "the workflow",
                  "kinetics": "the workflow (network in training, reference in data checks)",
                  "network_inputs": "network.inputs"}
#: Solver options that other settings control, and which setting does.
_SOLVER_RESERVED = {"hessian_approximation": "training.hessian"}
#: Range checks of numeric training settings: (lower bound, bound included?).
_TRAINING_BOUNDS = {
    "regularization": (0.0, True), "smoother_penalty": (0.0, True), "smoother_scale": (0.0, False),
    "pretrain_epochs": (1, True), "pretrain_batch_size": (1, True),
    "pretrain_learning_rate": (0.0, False), "pretrain_l2": (0.0, True),
}


@dataclass
class RunConfig:
    """A checked training run configuration.

    Attributes
    ----------
    path : pathlib.Path
        Absolute path of the TOML file (``None`` if built from a dict without a file).
    definition : HybridModelDefinition
        The hybrid model (``model`` key: a built-in name or ``"module.py:NAME"``).
    physics : dict[str, float]
        Every physics parameter: the model's defaults updated by ``[physics]``.
    network_inputs : list[str]
        States fed to the network, in order.
    hidden : list[int]
        Hidden layer widths.
    activation : Activation
        Activation of the hidden layers.
    seed : int
        Seed of the weight initialization and of pre-training.
    discretization : Discretization
        Radau collocation settings.
    training : TrainingSettings
        Training options; ``training.solver_options`` holds the ``[solver]``
        options over the defaults and ``training.formulation`` the network's.
    solver : dict
        The ``[solver]`` table as written.
    experiments : list[Experiment]
        Training and validation experiments, each validated against the model.
    reference : dict or None
        Parameters of the model's known reference term (``[reference]``), drawn in
        the learned-rate plot; ``None`` when the truth is unknown (real data).
    optimization : OptimizationSettings or None
        The ``[optimization]`` table (:mod:`idaes_hybrid.config.optimization`).
    uncertainty : UncertaintySettings or None
        The ``[uncertainty]`` table (prediction bands); ``None`` without one.
    loop : LoopSettings or None
        The ``[loop]`` table (:mod:`idaes_hybrid.config.loop`, ``idaes-hybrid loop``).
    model_ref : str or None
        ``"/absolute/module.py:NAME"`` when ``model`` names the user's module (saved with
        the model, which then reloads without a registration step); ``None`` for a
        built-in name.
    """

    path: Path | None
    definition: HybridModelDefinition
    physics: dict[str, float]
    network_inputs: list[str]
    hidden: list[int]
    activation: Activation
    seed: int
    discretization: Discretization
    training: TrainingSettings
    solver: dict[str, Any] = field(default_factory=dict)
    experiments: list[Experiment] = field(default_factory=list)
    reference: dict[str, float] | None = None
    optimization: OptimizationSettings | None = None
    uncertainty: UncertaintySettings | None = None
    loop: LoopSettings | None = None
    model_ref: str | None = None

    @property
    def model_name(self) -> str:
        """Registered name of the hybrid model."""
        return self.definition.name

    @property
    def formulation(self) -> Formulation:
        """How the network is written into the NLP."""
        return self.training.formulation

    def hybrid_model(self, spec: NetworkSpec | None = None,
                     physics: Mapping[str, float] | None = None) -> HybridModel:
        """The config's hybrid model (physics, network inputs, discretization, ``[unit]``
        options, solver options) with the network ``spec``; ``physics`` replaces the config's."""
        return HybridModel(self.definition, self.physics if physics is None else physics,
                           tuple(self.network_inputs), self.discretization, spec,
                           unit_config=self.training.unit_config,
                           solver_options=self.training.solver_options)

    @property
    def training_experiments(self) -> list[Experiment]:
        """Experiments with role ``train``, in file order."""
        return [e for e in self.experiments if e.role is Role.TRAIN]

    @property
    def validation_experiments(self) -> list[Experiment]:
        """Experiments with role ``validation``, in file order."""
        return [e for e in self.experiments if e.role is Role.VALIDATION]

    def network_spec(self) -> NetworkSpec:
        """A freshly initialized network: ``[len(inputs), *hidden, len(learned)]``, seeded."""
        return NetworkSpec.dense(len(self.network_inputs), self.hidden,
                                 len(self.definition.learned_names),
                                 activation=self.activation, seed=self.seed)


def load_run_config(path: str | Path) -> RunConfig:
    """Read and check a run configuration TOML file.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file; relative ``data`` paths of experiments are resolved
        against its directory.

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        Unreadable file, TOML syntax error, or an invalid key or value (the
        message starts with the field, e.g. ``training.hessian``).
    DataError
        Invalid experiment data (missing file or column, bad times, ...).
    """
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise ConfigError(f"config: '{path}' is a directory, not a TOML file")
    if not path.is_file():
        raise ConfigError(f"config: file '{path}' not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config: file '{path}' is not valid TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config: cannot read file '{path}': {err}") from None
    config = run_config_from_dict(data, path.parent)
    config.path = path
    return config


def run_config_from_dict(data: Mapping[str, Any], base_dir: str | Path) -> RunConfig:
    """Check a parsed configuration (see :func:`load_run_config`).

    Parameters
    ----------
    data : Mapping[str, Any]
        The configuration as parsed from TOML.
    base_dir : str or pathlib.Path
        Directory that relative experiment ``data`` paths are resolved against.
    """
    reject_unknown(data, TOP_LEVEL_KEYS, "")
    definition, model_ref = _parse_model(data.get("model"), base_dir)
    physics = _parse_physics(data.get("physics", {}), definition)
    net = _parse_network(data.get("network", {}), definition)
    disc = parse_discretization(data.get("discretization", {}))
    solver = parse_solver(data.get("solver", {}))
    training = parse_training(data.get("training", {}))
    training.formulation = net["formulation"]
    training.seed = net["seed"]
    training.solver_options = {**training.solver_options, **solver}
    training.unit_config = _parse_unit(data.get("unit", {}), definition)
    training.decomposition = parse_decomposition(data.get("decomposition", {}), base_dir)
    experiments = _parse_experiments(data.get("experiments"), base_dir, definition)
    reference = _parse_reference(data.get("reference"), definition, net["inputs"])
    from idaes_hybrid.config.optimization import parse_optimization

    optimization = parse_optimization(data.get("optimization"), experiments, definition, reference)
    from idaes_hybrid.config.loop import parse_loop

    loop = parse_loop(data.get("loop"), base_dir, definition, reference, optimization is not None)
    _log.debug("run config: model %s, %d experiments", definition.name, len(experiments))
    return RunConfig(path=None, definition=definition, physics=physics,
                     network_inputs=net["inputs"], hidden=net["hidden"],
                     activation=net["activation"], seed=net["seed"], discretization=disc,
                     training=training, solver=solver, experiments=experiments,
                     reference=reference, optimization=optimization,
                     uncertainty=parse_uncertainty(data.get("uncertainty")), loop=loop,
                     model_ref=model_ref)


def _parse_reference(table: Any, definition: HybridModelDefinition,
                     network_inputs: Sequence[str]) -> dict[str, float] | None:
    """The optional ``[reference]`` table: parameters of the known true term (synthetic cases).
    The term (``definition.reference(parameters)``) is drawn against the network input its
    argument is named after (or the only one): checked here, not after the training."""
    if table is None:
        return None
    table = as_table(table, "reference")
    if definition.reference is None:
        raise ConfigError(f"reference: model {definition.name!r} has no reference term")
    reject_unknown(table, definition.reference_parameters, "reference")
    values = {k: number(v, f"reference.{k}") for k, v in table.items()}
    parameters = {**definition.reference_parameters, **values}
    try:
        term = definition.reference(parameters)
        argument = next(iter(inspect.signature(term).parameters), None)
    except (TypeError, ValueError):  # not introspectable: the plot finds out
        return parameters
    if len(network_inputs) > 1 and argument not in network_inputs:
        raise ConfigError(f"reference: the reference term of model {definition.name!r} takes {argument!r}, "
                          f"not a network input ({', '.join(network_inputs)}); name its argument "
                          "after the network input it is a function of")
    return parameters


def _parse_model(value: Any, base_dir: str | Path) -> tuple[HybridModelDefinition, str | None]:
    """The ``model`` key: a built-in name, or ``"module.py:NAME"`` naming a
    :class:`HybridModelDefinition` in the user's module (no registration step). Returns the
    definition and, for a module reference, its absolute form (saved with the model)."""
    if value is None:
        raise ConfigError(f"model: required key missing; known models: {valid_names(sorted(BUILT_IN_MODELS))} "
                          "or 'module.py:NAME' (a HybridModelDefinition in your module)")
    if isinstance(value, str) and ":" in value:
        try:
            definition = load_definition(value, base_dir, "model")
        except UserModuleError as err:
            raise ConfigError(str(err)) from err.__cause__
        return definition, absolute_reference(value, base_dir)
    if not isinstance(value, str) or value not in BUILT_IN_MODELS:
        raise ConfigError(f"model: {value!r} is not a known hybrid model; known models: "
                          f"{valid_names(sorted(BUILT_IN_MODELS))} or 'module.py:NAME' (a "
                          "HybridModelDefinition in your module)")
    return get_model_definition(value), None


def _parse_unit(table: Any, definition: HybridModelDefinition) -> dict[str, Any]:
    """The ``[unit]`` table: CONFIG options of the model's unit, checked by their domains."""
    table = as_table(table, "unit")
    data_class = getattr(definition.unit_class, "_ComponentDataClass", definition.unit_class)
    declared = getattr(data_class, "CONFIG", None)
    if declared is None:
        if table:
            raise ConfigError(f"unit: model {definition.name!r} has no CONFIG options")
        return {}
    known = [k for k in declared.keys() if k not in _UNIT_RESERVED]
    options: dict[str, Any] = {}
    for key, value in table.items():
        if key in _UNIT_RESERVED:
            raise ConfigError(f"unit.{key}: set by {_UNIT_RESERVED[key]}; remove it here")
        if key not in known:
            raise ConfigError(f"unit.{key}: not an option of model {definition.name!r}; "
                              f"valid keys: {valid_names(known)}")
        if isinstance(declared.get(key).value(), bool) and not isinstance(value, bool):
            raise ConfigError(f"unit.{key}: expected true or false, got {value!r}")
        trial = declared()
        try:
            trial[key] = value
        except (ValueError, TypeError) as err:
            detail = str(err).strip().splitlines()[-1].strip()
            raise ConfigError(f"unit.{key}: invalid value {value!r} ({detail})") from None
        options[key] = trial[key]
    return options


def _parse_physics(table: Any, definition: HybridModelDefinition) -> dict[str, float]:
    table = as_table(table, "physics")
    reject_unknown(table, definition.physics_defaults, "physics")
    values = {k: number(v, f"physics.{k}") for k, v in table.items()}
    return {**definition.physics_defaults, **values}


def _parse_network(table: Any, definition: HybridModelDefinition) -> dict[str, Any]:
    table = as_table(table, "network")
    reject_unknown(table, NETWORK_KEYS, "network")
    states = list(definition.state_names)
    inputs = table.get("inputs", list(definition.default_network_inputs))
    if not isinstance(inputs, list) or not inputs:
        raise ConfigError(f"network.inputs: expected a non-empty list of state names, got "
                          f"{inputs!r}; valid names: {valid_names(states)}")
    for name in inputs:
        if name not in states:
            raise ConfigError(f"network.inputs: {name!r} is not a state of model "
                              f"{definition.name!r}; valid names: {valid_names(states)}")
    repeated = sorted({n for n in inputs if inputs.count(n) > 1})
    if repeated:
        raise ConfigError(f"network.inputs: repeated name(s) {valid_names(repeated)}")
    hidden = table.get("hidden", NETWORK_DEFAULTS["hidden"])
    if not isinstance(hidden, list) or not hidden:
        raise ConfigError(f"network.hidden: expected a non-empty list of layer widths, "
                          f"got {hidden!r}")
    hidden = [integer(h, f"network.hidden[{i}]", lower=1) for i, h in enumerate(hidden)]
    try:
        activation = parse_activation(table.get("activation", NETWORK_DEFAULTS["activation"]),
                                      "network.activation")
    except NetworkConfigError as err:
        raise ConfigError(str(err)) from None
    seed = integer(table.get("seed", NETWORK_DEFAULTS["seed"]), "network.seed", lower=0)
    formulation = enum_value(Formulation, table.get("formulation", TrainingSettings.formulation.value),
                        "network.formulation")
    return {"inputs": [str(n) for n in inputs], "hidden": hidden, "activation": activation,
            "seed": seed, "formulation": formulation}


def parse_discretization(table: Any) -> Discretization:
    table = as_table(table, "discretization")
    reject_unknown(table, DISCRETIZATION_KEYS, "discretization")
    default = Discretization()
    nfe = integer(table.get("nfe", default.nfe), "discretization.nfe", lower=1)
    ncp = integer(table.get("ncp", default.ncp), "discretization.ncp", lower=1)
    if ncp > 10:
        raise ConfigError(f"discretization.ncp: must be between 1 and 10, got {ncp}")
    return Discretization(nfe=nfe, ncp=ncp)


def parse_solver(table: Any, prefix: str = "solver") -> dict[str, Any]:
    """A table of Ipopt options, checked with the installed Ipopt (names, types, ranges,
    linear solver); an integer given for a real option becomes a float.

    Parameters
    ----------
    table : Any
        The table as parsed from TOML.
    prefix : str
        Its field name, for messages (e.g. ``solver`` or ``training.smoother_options``).

    Returns
    -------
    dict[str, Any]
        The options; :class:`ConfigError` names the first bad one.
    """
    table = as_table(table, prefix)
    options = {}
    for key, value in table.items():
        if prefix == "solver" and key in _SOLVER_RESERVED:
            raise ConfigError(f"{prefix}.{key}: set by {_SOLVER_RESERVED[key]}; remove it here")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{prefix}.{key}: expected a string or a number (an Ipopt option "
                              f"value), got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{prefix}.{key}: expected a finite number, got {value!r}")
        options[str(key)] = value
    from idaes_hybrid.solve.options import SolverOptionError, check_ipopt_options

    try:
        return check_ipopt_options(options, prefix)
    except SolverOptionError as err:
        raise ConfigError(str(err)) from None


def _training_defaults() -> dict[str, Any]:
    """Default value of every TrainingSettings field set from ``[training]``."""
    out = {}
    for f in dataclasses.fields(TrainingSettings):
        if f.name in _SET_ELSEWHERE:
            continue
        out[f.name] = f.default_factory() if f.default is dataclasses.MISSING else f.default
    return out


def parse_training(table: Any) -> TrainingSettings:
    """The ``[training]`` table; ``regularization`` is a number >= 0, ``\"cv\"`` or
    ``\"evidence\"``."""
    table = as_table(table, "training")
    defaults = _training_defaults()
    reject_unknown(table, defaults, "training", _SET_ELSEWHERE)
    values: dict[str, Any] = {}
    for key, value in table.items():
        lower, inclusive = _TRAINING_BOUNDS.get(key, (None, True))
        if key == "regularization" and isinstance(value, str):
            if value.lower() in (CROSS_VALIDATE, EVIDENCE):
                values[key] = value.lower()
                continue
            raise ConfigError(f"training.regularization: expected a number >= 0, "
                              f"{CROSS_VALIDATE!r} (cross-validation) or {EVIDENCE!r}, got {value!r}")
        default = (1.0 if key in ("regularization", "smoother_scale")
                   else NlpScaling.MAGNITUDE if key == "scaling" else defaults[key])
        values[key] = _typed(value, default, f"training.{key}", lower, inclusive)
    return TrainingSettings(**values)


def _typed(value: Any, default: Any, name: str, lower: float | None, inclusive: bool) -> Any:
    """``value`` checked against the type of a settings field's ``default``."""
    if isinstance(default, enum.Enum):
        return enum_value(type(default), value, name)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        return integer(value, name, lower=None if lower is None else int(lower))
    if isinstance(default, float):
        return number(value, name, lower, inclusive)
    if isinstance(default, dict):
        return {**default, **parse_solver(value, name)}
    return value


def parse_decomposition(table: Any, base_dir: str | Path) -> DecompositionSettings:
    """The ``[decomposition]`` table (options of ``training.method = "decomposition"``).

    ``slack_penalty = 0`` keeps the network equation exact; a relative
    ``checkpoint_dir`` is resolved against the configuration's directory.
    """
    table = as_table(table, "decomposition")
    fields = {f.name: f for f in dataclasses.fields(DecompositionSettings)}
    reject_unknown(table, fields, "decomposition")
    defaults = DecompositionSettings()
    values: dict[str, Any] = {}
    for key, value in table.items():
        name, default = f"decomposition.{key}", getattr(defaults, key)
        if key in ("scheduler_address", "checkpoint_dir"):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{name}: expected a non-empty string, got {value!r}")
            values[key] = str(Path(base_dir) / value) if key == "checkpoint_dir" else value
        elif key == "slack_penalty":
            values[key] = number(value, name, 0.0, True) or None
        elif key == "batch_size":
            values[key] = integer(value, name, lower=1)
        else:  # integers >= 0, floats > 0 (DecompositionSettings checks tighter bounds)
            values[key] = _typed(value, default, name, 0.0, inclusive=False)
    try:
        return DecompositionSettings(**values)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def parse_uncertainty(table: Any) -> UncertaintySettings | None:
    """The ``[uncertainty]`` table (``method``, ``members``, ``level``, ``resample``); ``None``
    without one."""
    if table is None:
        return None
    table = as_table(table, "uncertainty")
    reject_unknown(table, ("method", "members", "level", "resample"), "uncertainty")
    try:
        settings = UncertaintySettings(**table)
    except (ValueError, TypeError) as err:
        raise ConfigError(str(err)) from None
    unused = [k for k in ("members", "resample") if k in table]
    if settings.method is UncertaintyMethod.LAPLACE and unused:
        _log.warning(f"uncertainty.{unused[0]}: used by method = \"ensemble\" only; ignored "
                     "with method = \"laplace\"")
    return settings


def _with_profiles(table: Any, base_dir: str | Path, index: int) -> Any:
    """``table`` with each input that is not a number parsed as a time-varying profile
    (:func:`~idaes_hybrid.model.inputs.parse_input`: steps, or a file column)."""
    inputs = table.get("inputs") if isinstance(table, Mapping) else None
    if not isinstance(inputs, Mapping):
        return table
    field = f"{experiment_field(index, table.get('name') if isinstance(table.get('name'), str) else None)}.inputs"
    parsed = {k: v if isinstance(v, (int, float)) and not isinstance(v, bool)
              else parse_input(v, f"{field}.{k}", base_dir) for k, v in inputs.items()}
    return {**table, "inputs": parsed}


def _parse_experiments(value: Any, base_dir: str | Path,
                       definition: HybridModelDefinition) -> list[Experiment]:
    if value is None:
        raise ConfigError("experiments: required; add at least one [[experiments]] table")
    if not isinstance(value, list) or not value:
        raise ConfigError(f"experiments: expected a non-empty list of [[experiments]] tables, "
                          f"got {value!r}")
    experiments: list[Experiment] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(value):
        exp = Experiment.from_dict(_with_profiles(table, base_dir, i), base_dir, i)
        field_name = experiment_field(i, exp.name)
        if exp.name in seen:
            raise ConfigError(f"{field_name}.name: {exp.name!r} is already used by "
                              f"experiments[{seen[exp.name]}]; names must be unique")
        seen[exp.name] = i
        exp.validate(definition.state_names, definition.input_names, field_name)
        experiments.append(exp)
    warn_partial_noise_sd(experiments)
    return experiments
