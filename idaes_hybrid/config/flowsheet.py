"""Run configurations of the flowsheet path: a TOML file naming the user's build function.

```toml
[flowsheet]
build = "model.py:build_learned"     # module path relative to this file : function
time_units = "s"                      # s, min, h (default s)

[flowsheet.variables]                 # short names -> variable paths, '*' = time
NaOH = "fs.r1.control_volume.properties_out[*].conc_mol_comp[NaOH]"

[[flowsheet.terms]]                   # one network per term; several terms allowed
kind = "reaction"                     # a LearnedRateReactionParameterBlock ...
package = "fs.rxn"
# kind = "network", inputs = [paths], outputs = [paths]: a network on any variables
# name = "kinetics"; hidden = [..], activation = "..": this term's network ([network] else)

[network]         hidden, activation, seed (inputs and outputs come from the term)
[discretization]  nfe, ncp
[training]        as for unit models;  [solver] Ipopt options
[optimization]    see config/flowsheet_optimization.py;  [loop] see config/loop.py

[[experiments]]
name = "b1"; data = "data/b1.csv"; horizon = 120; role = "train"
initial = "steady-state"              # or a table {name = value} at t = 0
inputs = { F = [[0, 1e-3], [40, 7e-4]], Tf = 300.0, Q = { file = "u.csv", column = "Q" } }
noise_sd = { NaOH = 0.01 }            # optional
```
A config with a ``[flowsheet]`` table goes this way; a ``model = ...`` one is translated to a
one-unit flowsheet (:mod:`idaes_hybrid.config.unit_translation`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import idaes.logger as idaeslog

from idaes_hybrid.config.checks import valid_names
from idaes_hybrid.config.run import (
    ConfigError, parse_decomposition, parse_discretization, parse_solver, parse_training,
    parse_uncertainty)
from idaes_hybrid.decomposition.settings import TrainingMethod
from idaes_hybrid.config.flowsheet_parse import load_build_function, parse_initial
from idaes_hybrid.model.experiment import (
    DataError, Role, check_measurements, data_path, read_measurements, warn_partial_noise_sd)
from idaes_hybrid.model.flowsheet import (
    TIME_UNITS, FlowsheetExperiment, HybridFlowsheet, InitialState, check_variable_name, missing_inputs)
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.model.terms import LearnedReactionTerm, NetworkTerm
from idaes_hybrid.nn.network import Activation, NetworkConfigError, NetworkSpec, parse_activation
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.training.train import TrainingSettings

_log = idaeslog.getLogger(__name__)

TOP_LEVEL_KEYS = ("flowsheet", "network", "discretization", "training", "solver", "experiments",
                  "optimization", "decomposition", "uncertainty", "loop")
#: Keys of the ``[flowsheet]`` table.
FLOWSHEET_KEYS = ("build", "time_units", "variables", "terms")
_EXPERIMENT_KEYS = ("name", "data", "horizon", "role", "initial", "inputs", "noise_sd")


@dataclass
class FlowsheetRunConfig:
    """A checked flowsheet configuration."""

    path: Path | None
    build_ref: str
    flowsheet: HybridFlowsheet
    hidden: list[int]
    activation: Activation
    seed: int
    discretization: Discretization
    training: TrainingSettings
    experiments: list[FlowsheetExperiment]
    term_networks: dict[str, dict] = field(default_factory=dict)
    optimization_table: dict | None = None
    uncertainty: Any = None  #: UncertaintySettings of the [uncertainty] table, or None
    loop: Any = None  #: LoopSettings of the [loop] table (``idaes-hybrid loop``), or None
    #: FlowsheetOptimizationSettings made by a translated ``model = ...`` config, or None
    prepared_optimization: Any = None
    #: Name of the model of a translated ``model = ...`` config (None: a [flowsheet] config)
    model_name: str | None = None

    def optimization(self):
        """The checked ``[optimization]`` table (its functions imported), or ``None``.

        Returns a :class:`~idaes_hybrid.config.flowsheet_optimization.FlowsheetOptimizationSettings`.
        """
        if self.prepared_optimization is not None:
            return self.prepared_optimization
        if self.optimization_table is None:
            return None
        from idaes_hybrid.config.flowsheet_optimization import parse_flowsheet_optimization

        base = self.path.parent if self.path else Path.cwd()
        return parse_flowsheet_optimization(self.optimization_table, self.experiments, base,
                                            self.discretization.nfe, self.discretization.ncp,
                                            self.flowsheet)

    def network_spec(self, n_inputs: int, n_outputs: int, term: str | None = None) -> NetworkSpec:
        """A freshly initialized, seeded network of a term's size (the term's own
        ``hidden``/``activation`` if it sets them, else ``[network]``'s)."""
        own = self.term_networks.get(term, {}) if term else {}
        names = [t.name for t in self.flowsheet.terms]
        offset = names.index(term) if term in names else 0
        return NetworkSpec.dense(n_inputs, own.get("hidden", self.hidden), n_outputs,
                                 activation=own.get("activation", self.activation),
                                 seed=self.seed + offset)

    def network_specs(self) -> dict[str, NetworkSpec]:
        """Every term's freshly initialized network, by term name."""
        return {name: self.network_spec(n_in, n_out, name)
                for name, (n_in, n_out) in self.flowsheet.network_shapes().items()}


def is_flowsheet_config(path: str | Path) -> bool:
    """Whether the TOML file at ``path`` has a ``[flowsheet]`` table (False if unreadable)."""
    try:
        return "flowsheet" in tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


_TERM_KEYS = {"reaction": ("kind", "name", "package", "hidden", "activation"),
              "network": ("kind", "name", "inputs", "outputs", "hidden", "activation")}


def _term_network(t: Mapping, field: str) -> dict:
    """A term's own ``hidden`` and ``activation`` (checked), if it sets them."""
    own = {}
    if "hidden" in t:
        own["hidden"] = _hidden(t["hidden"], f"{field}.hidden")
    if "activation" in t:
        try:
            own["activation"] = parse_activation(t["activation"], f"{field}.activation")
        except NetworkConfigError as err:
            raise ConfigError(str(err)) from None
    return own


def _term(t: Any, i: int):
    field = f"flowsheet.terms[{i}]"
    kind = t.get("kind") if isinstance(t, Mapping) else None
    if not isinstance(kind, str) or kind not in _TERM_KEYS:
        raise ConfigError(f"{field}.kind: expected 'reaction' or 'network', got {kind!r}")
    unknown = [k for k in t if k not in _TERM_KEYS[kind]]
    if unknown:
        raise ConfigError(f"{field}.{unknown[0]}: unknown key; valid keys: {', '.join(_TERM_KEYS[kind])}")
    name = t.get("name", "kinetics" if kind == "reaction" else f"term{i}")
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"{field}.name: expected a name of letters, digits and _, got {name!r}")
    if kind == "reaction":
        if not isinstance(t.get("package"), str):
            raise ConfigError(f"{field}.package: the path of the learned reaction package, e.g. 'fs.rxn'")
        return LearnedReactionTerm(t["package"], name)
    ins, outs = t.get("inputs"), t.get("outputs")
    for key, v in (("inputs", ins), ("outputs", outs)):
        if not isinstance(v, list) or not v or not all(isinstance(p, str) for p in v):
            raise ConfigError(f"{field}.{key}: expected a non-empty list of variable paths")
    return NetworkTerm(tuple(ins), tuple(outs), name)


def _terms(value: Any) -> tuple[list, dict[str, dict]]:
    """The learned terms and each term's own network settings."""
    if not isinstance(value, list) or not value:
        raise ConfigError("flowsheet.terms: expected a list of tables [[flowsheet.terms]]")
    terms, own = [], {}
    for i, t in enumerate(value):
        term = _term(t, i)
        if term.name in own:
            raise ConfigError(f"flowsheet.terms[{i}].name: {term.name!r} is used by an earlier term; "
                              "give each term its own name")
        terms.append(term)
        own[term.name] = _term_network(t, f"flowsheet.terms[{i}]")
    return terms, own


def _experiment(d: Any, i: int, base_dir: Path, variables: Mapping[str, str]) -> FlowsheetExperiment:
    field = f"experiments[{i}]"
    if not isinstance(d, Mapping):
        raise ConfigError(f"{field}: expected a table")
    unknown = [k for k in d if k not in _EXPERIMENT_KEYS]
    if unknown:
        raise ConfigError(f"{field}.{unknown[0]}: unknown key; valid keys: {', '.join(_EXPERIMENT_KEYS)}")
    for key in ("name", "data", "horizon"):
        if key not in d:
            raise ConfigError(f"{field}.{key}: required key missing")
    if not isinstance(d["name"], str) or not d["name"].strip():
        raise ConfigError(f"{field}.name: expected a non-empty string, got {d['name']!r}")
    field = f"experiments[{i}] ({d['name']!r})"
    horizon = d["horizon"]
    if isinstance(horizon, bool) or not isinstance(horizon, (int, float)) or not 0 < horizon < float("inf"):
        raise ConfigError(f"{field}.horizon: expected a positive number, got {horizon!r}")
    initial = parse_initial(d.get("initial", InitialState.STEADY_STATE.value), f"{field}.initial")
    inputs = d.get("inputs", {})
    if not isinstance(inputs, Mapping):
        raise ConfigError(f"{field}.inputs: expected a table name = value | steps | {{file, column}}")
    try:
        role = Role(d.get("role", "train"))
    except ValueError:
        raise ConfigError(f"{field}.role: expected 'train' or 'validation', got {d.get('role')!r}") from None
    data = read_measurements(data_path(base_dir, str(d["data"])), f"{field}.data")
    data = _short_names(data, variables, f"{field}.data")
    source = data.attrs.get("source")
    for column in data.columns:  # every role's columns, before anything is built or trained
        check_variable_name(str(column), variables, f"{field}.data" + (
            f" (file '{source}'), column" if source else ", column"))
    check_measurements(data, float(horizon), f"{field}.measurements" + (
        f" (file '{source}')" if source else ""), increasing=False)  # ragged grids: any order
    for name in inputs:  # a misspelt input stops here, not after warnings about the others
        check_variable_name(str(name), variables, f"{field}.inputs.{name}")
    profiles = {str(k): parse_input(v, f"{field}.inputs.{k}", base_dir) for k, v in inputs.items()}
    for name, profile in profiles.items():
        profile.check(float(horizon), f"{field}.inputs.{name}")
    if role is Role.TRAIN and not data.notna().to_numpy().any():
        _log.warning("%s.data: no measured values; this training experiment does not inform the "
                     "fit", field)
    fixed = [n for n in profiles if n in data.columns and data[n].notna().any()]
    if fixed:
        _log.warning("%s.measurements: %s also given in inputs (fixed at the given values); its "
                     "measurements do not inform the fit", field, valid_names(fixed))
    noise_sd = _noise_sd(d["noise_sd"], f"{field}.noise_sd") if "noise_sd" in d else None
    if noise_sd:  # a path of a name in flowsheet.variables stands for the name
        short = {p: n for n, p in variables.items()}
        noise_sd = {short.get(k, k): v for k, v in noise_sd.items()}
    unused = [n for n in noise_sd or {} if n not in data.columns or data[n].isna().all()]
    if unused:
        _log.warning("%s.noise_sd: %s not measured in this experiment; ignored", field,
                     valid_names(unused))
    return FlowsheetExperiment(d["name"], float(horizon), data, initial=initial, role=role,
                               noise_sd=noise_sd, inputs=profiles)


def _check_experiments(experiments: list[FlowsheetExperiment]) -> None:
    """Unique names; a warning for a ``noise_sd`` that only some training experiments give."""
    names = [e.name for e in experiments]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"experiments[{i}] ({name!r}).name: {name!r} is already used by "
                              f"experiments[{names.index(name)}]; names must be unique")
    warn_partial_noise_sd(experiments)
    warn_missing_inputs(experiments)


def warn_missing_inputs(experiments: list[FlowsheetExperiment]) -> list[str]:
    """Warn for each experiment that gives no value for an input other experiments give (a
    forgotten input leaves the flowsheet with free degrees of freedom, a count that names no
    variable); returns the warnings."""
    index = {e.name: i for i, e in enumerate(experiments)}
    warnings = []
    for name, missing in missing_inputs(experiments).items():
        lacking = ", ".join(f"{n!r} (given by {giver!r})" for n, giver in missing)
        warnings.append(f"experiments[{index[name]}] ({name!r}).inputs: no value for {lacking}; "
                        "unless the flowsheet fixes it, this experiment keeps free degrees of freedom")
        _log.warning(warnings[-1])
    return warnings


def _short_names(data, variables: Mapping[str, str], field: str):
    """``data`` with a column written as the path of a name in ``flowsheet.variables``
    renamed to that name (one variable, one name in the metrics and plots)."""
    short = {p: n for n, p in variables.items()}
    rename = {c: short[c] for c in data.columns if c in short}
    both = [c for c, n in rename.items() if n in data.columns]
    if both:
        raise ConfigError(f"{field}: columns {both[0]!r} and {short[both[0]]!r} are the same "
                          "variable; keep one")
    return data.rename(columns=rename) if rename else data


def _noise_sd(table: Any, field: str) -> dict[str, float]:
    """``noise_sd``: measured variable = positive number."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{field}: expected a table variable = noise sd, got {table!r}")
    for name, sd in table.items():
        if isinstance(sd, bool) or not isinstance(sd, (int, float)) or not 0 < sd < float("inf"):
            raise ConfigError(f"{field}.{name}: expected a positive number, got {sd!r}")
    return {str(k): float(v) for k, v in table.items()}


def _hidden(hidden: Any, field: str) -> list[int]:
    if not isinstance(hidden, list) or not hidden or not all(
            isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden):
        raise ConfigError(f"{field}: expected a non-empty list of positive widths, got {hidden!r}")
    return hidden


def _network(table: Any) -> tuple[list[int], Activation, int]:
    table = dict(table or {})
    unknown = [k for k in table if k not in ("hidden", "activation", "seed")]
    if unknown:
        raise ConfigError(f"network.{unknown[0]}: unknown key (inputs and outputs come from the "
                          "flowsheet's term); valid keys: hidden, activation, seed")
    hidden = _hidden(table.get("hidden", [10]), "network.hidden")
    try:
        activation = parse_activation(table.get("activation", "softplus"), "network.activation")
    except NetworkConfigError as err:
        raise ConfigError(str(err)) from None
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"network.seed: expected an integer >= 0, got {seed!r}")
    return hidden, activation, seed


def _optional_table(data: Mapping, key: str) -> dict | None:
    if key not in data:
        return None
    if not isinstance(data[key], Mapping):
        raise ConfigError(f"{key}: expected a table")
    return dict(data[key])


def load_flowsheet_config(path: str | Path) -> FlowsheetRunConfig:
    """Read and check a flowsheet run configuration (errors name the field)."""
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise ConfigError(f"config: '{path}' is a directory, not a TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"config: cannot read '{path}': {err}") from None
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown table; valid: {', '.join(TOP_LEVEL_KEYS)}")
    fs = data.get("flowsheet")
    if not isinstance(fs, Mapping):
        raise ConfigError("flowsheet: expected a table with build, variables and terms")
    unknown = [k for k in fs if k not in FLOWSHEET_KEYS]
    if unknown:
        raise ConfigError(f"flowsheet.{unknown[0]}: unknown key; valid keys: {', '.join(FLOWSHEET_KEYS)}")
    units = fs.get("time_units", "s")
    if not isinstance(units, str) or units not in TIME_UNITS:
        raise ConfigError(f"flowsheet.time_units: expected one of {', '.join(TIME_UNITS)}, got {units!r}")
    variables = fs.get("variables", {})
    if not isinstance(variables, Mapping) or not all(isinstance(v, str) for v in variables.values()):
        raise ConfigError("flowsheet.variables: expected a table name = 'variable path'")
    terms, term_networks = _terms(fs.get("terms"))
    hybrid = HybridFlowsheet(load_build_function(fs.get("build"), path.parent), terms,
                             dict(variables), TIME_UNITS[units])
    hidden, activation, seed = _network(data.get("network"))
    training = parse_training(data.get("training", {}))
    training.decomposition = parse_decomposition(data.get("decomposition", {}), path.parent)
    if training.method is TrainingMethod.DECOMPOSITION and len(terms) != 1:
        raise ConfigError(f"training.method: 'decomposition' trains one learned term; this flowsheet "
                          f"has {len(terms)} ({', '.join(t.name for t in terms)}): use 'simultaneous'")
    uncertainty = parse_uncertainty(data.get("uncertainty"))
    if uncertainty is not None and len(terms) != 1:
        raise ConfigError(f"uncertainty: prediction bands need one learned term; this flowsheet has "
                          f"{len(terms)} ({', '.join(t.name for t in terms)})")
    training.seed = seed
    training.solver_options = {**training.solver_options, **parse_solver(data.get("solver", {}))}
    exps = data.get("experiments")
    if not isinstance(exps, list) or not exps:
        raise ConfigError("experiments: expected at least one [[experiments]] table")
    try:
        experiments = [_experiment(d, i, path.parent, variables) for i, d in enumerate(exps)]
    except DataError as err:
        raise ConfigError(str(err)) from None
    _check_experiments(experiments)
    optimization = _optional_table(data, "optimization")
    return FlowsheetRunConfig(path, fs["build"], hybrid, hidden, activation, seed,
                              parse_discretization(data.get("discretization", {})), training,
                              experiments, term_networks, optimization, uncertainty,
                              _loop(data.get("loop"), path.parent, hybrid, optimization))


def _loop(table: Any, base_dir: Path, hybrid: HybridFlowsheet, optimization: dict | None):
    """The checked ``[loop]`` table (``plant = "reference"``: the optimization's ``true_build``)."""
    if table is None:
        return None
    from idaes_hybrid.config.loop import parse_loop_table

    has_truth = optimization is not None and "true_build" in optimization
    return parse_loop_table(table, base_dir, list(hybrid.variables), "the flowsheet (flowsheet.variables)",
                            None if has_truth else "optimization.true_build (the flowsheet without "
                            "learned terms that simulates the plant)", optimization is not None)
