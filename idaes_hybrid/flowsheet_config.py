"""Run configurations of the flowsheet path: a TOML file naming the user's build function.

```toml
[flowsheet]
build = "model.py:build_learned"     # module path relative to this file : function
time_units = "s"                      # s, min, h (default s)

[flowsheet.variables]                 # short names -> variable paths, '*' = time
NaOH = "fs.r1.control_volume.properties_out[*].conc_mol_comp[NaOH]"

[[flowsheet.terms]]
kind = "reaction"                     # a LearnedRateReactionParameterBlock ...
package = "fs.rxn"
# kind = "network", inputs = [paths], outputs = [paths]: a network on any variables

[network]         hidden, activation, seed (inputs and outputs come from the term)
[discretization]  nfe, ncp
[training]        as for unit models;  [solver] Ipopt options

[[experiments]]
name = "b1"; data = "data/b1.csv"; horizon = 120; role = "train"
initial = "steady-state"              # or a table {name = value} at t = 0
inputs = { F = [[0, 1e-3], [40, 7e-4]], Tf = 300.0, Q = { file = "u.csv", column = "Q" } }
noise_sd = { NaOH = 0.01 }            # optional
```
A config with a ``[flowsheet]`` table goes this way; the others keep the unit path.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from pyomo.environ import units as pyunits

from idaes_hybrid.config import ConfigError, parse_discretization, parse_solver, parse_training
from idaes_hybrid.model.experiment import DataError, Role, read_measurements
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet, InitialState
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.model.terms import LearnedReactionTerm, NetworkTerm
from idaes_hybrid.nn.network import Activation, NetworkConfigError, NetworkSpec, parse_activation
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.training.train import TrainingSettings

TOP_LEVEL_KEYS = ("flowsheet", "network", "discretization", "training", "solver", "experiments")
TIME_UNITS = {"s": pyunits.s, "min": pyunits.min, "h": pyunits.h, "hr": pyunits.h,
              "dimensionless": pyunits.dimensionless}
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

    def network_spec(self, n_inputs: int, n_outputs: int) -> NetworkSpec:
        """A freshly initialized, seeded network of the term's size."""
        return NetworkSpec.dense(n_inputs, self.hidden, n_outputs, activation=self.activation,
                                 seed=self.seed)


def is_flowsheet_config(path: str | Path) -> bool:
    """Whether the TOML file at ``path`` has a ``[flowsheet]`` table (False if unreadable)."""
    try:
        return "flowsheet" in tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def load_build_function(ref: str, base_dir: Path, field: str = "flowsheet.build") -> Callable:
    """The function ``module.py:function`` names (the module path relative to ``base_dir``)."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ConfigError(f"{field}: expected 'module.py:function', got {ref!r}")
    module_path, name = ref.split(":")
    path = (base_dir / module_path).resolve()
    if not path.is_file():
        raise ConfigError(f"{field}: module file '{path}' not found")
    sys.path.insert(0, str(path.parent))  # the module may import its neighbours
    try:
        spec = importlib.util.spec_from_file_location(f"idaes_hybrid_user_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - the user's module: report what it raised
        raise ConfigError(f"{field}: importing '{path}' failed: {type(err).__name__}: {err}") from err
    finally:
        sys.path.remove(str(path.parent))
    func = getattr(module, name, None)
    if not callable(func):
        raise ConfigError(f"{field}: '{path}' has no function {name!r}")
    return func


def _terms(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise ConfigError("flowsheet.terms: expected a list of tables [[flowsheet.terms]]")
    out = []
    for i, t in enumerate(value):
        field = f"flowsheet.terms[{i}]"
        kind = t.get("kind") if isinstance(t, Mapping) else None
        if kind == "reaction":
            if not isinstance(t.get("package"), str):
                raise ConfigError(f"{field}.package: the path of the learned reaction package, e.g. 'fs.rxn'")
            out.append(LearnedReactionTerm(t["package"], str(t.get("name", "kinetics"))))
        elif kind == "network":
            ins, outs = t.get("inputs"), t.get("outputs")
            for key, v in (("inputs", ins), ("outputs", outs)):
                if not isinstance(v, list) or not v or not all(isinstance(p, str) for p in v):
                    raise ConfigError(f"{field}.{key}: expected a non-empty list of variable paths")
            out.append(NetworkTerm(tuple(ins), tuple(outs), str(t.get("name", f"term{i}"))))
        else:
            raise ConfigError(f"{field}.kind: expected 'reaction' or 'network', got {kind!r}")
    return out


def _experiment(d: Any, i: int, base_dir: Path) -> FlowsheetExperiment:
    field = f"experiments[{i}]"
    if not isinstance(d, Mapping):
        raise ConfigError(f"{field}: expected a table")
    unknown = [k for k in d if k not in _EXPERIMENT_KEYS]
    if unknown:
        raise ConfigError(f"{field}.{unknown[0]}: unknown key; valid keys: {', '.join(_EXPERIMENT_KEYS)}")
    for key in ("name", "data", "horizon"):
        if key not in d:
            raise ConfigError(f"{field}.{key}: required key missing")
    field = f"experiments[{i}] ({d['name']!r})"
    try:
        horizon = float(d["horizon"])
    except (TypeError, ValueError):
        raise ConfigError(f"{field}.horizon: expected a number, got {d['horizon']!r}") from None
    initial = d.get("initial", InitialState.STEADY_STATE.value)
    if isinstance(initial, str):
        try:
            initial = InitialState(initial)
        except ValueError:
            raise ConfigError(f"{field}.initial: expected 'steady-state' or a table of values") from None
    elif isinstance(initial, Mapping):
        bad = [k for k, v in initial.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise ConfigError(f"{field}.initial.{bad[0]}: expected a number, got {initial[bad[0]]!r}")
        initial = {str(k): float(v) for k, v in initial.items()}
    else:
        raise ConfigError(f"{field}.initial: expected 'steady-state' or a table of values")
    inputs = d.get("inputs", {})
    if not isinstance(inputs, Mapping):
        raise ConfigError(f"{field}.inputs: expected a table name = value | steps | {{file, column}}")
    try:
        role = Role(d.get("role", "train"))
    except ValueError:
        raise ConfigError(f"{field}.role: expected 'train' or 'validation', got {d.get('role')!r}") from None
    return FlowsheetExperiment(
        str(d["name"]), horizon, read_measurements(base_dir / str(d["data"]), f"{field}.data"),
        initial=initial, role=role, noise_sd=dict(d["noise_sd"]) if "noise_sd" in d else None,
        inputs={str(k): parse_input(v, f"{field}.inputs.{k}", base_dir) for k, v in inputs.items()})


def _network(table: Any) -> tuple[list[int], Activation, int]:
    table = dict(table or {})
    unknown = [k for k in table if k not in ("hidden", "activation", "seed")]
    if unknown:
        raise ConfigError(f"network.{unknown[0]}: unknown key (inputs and outputs come from the "
                          "flowsheet's term); valid keys: hidden, activation, seed")
    hidden = table.get("hidden", [10])
    if not isinstance(hidden, list) or not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
        raise ConfigError(f"network.hidden: expected a non-empty list of positive widths, got {hidden!r}")
    try:
        activation = parse_activation(table.get("activation", "softplus"), "network.activation")
    except NetworkConfigError as err:
        raise ConfigError(str(err)) from None
    seed = table.get("seed", 0)
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"network.seed: expected an integer >= 0, got {seed!r}")
    return hidden, activation, seed


def load_flowsheet_config(path: str | Path) -> FlowsheetRunConfig:
    """Read and check a flowsheet run configuration (errors name the field)."""
    path = Path(path).expanduser().resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"config: cannot read '{path}': {err}") from None
    unknown = [k for k in data if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown table; valid: {', '.join(TOP_LEVEL_KEYS)}")
    fs = data.get("flowsheet")
    if not isinstance(fs, Mapping):
        raise ConfigError("flowsheet: expected a table with build, variables and terms")
    units = fs.get("time_units", "s")
    if units not in TIME_UNITS:
        raise ConfigError(f"flowsheet.time_units: expected one of {', '.join(TIME_UNITS)}, got {units!r}")
    variables = fs.get("variables", {})
    if not isinstance(variables, Mapping) or not all(isinstance(v, str) for v in variables.values()):
        raise ConfigError("flowsheet.variables: expected a table name = 'variable path'")
    hybrid = HybridFlowsheet(load_build_function(fs.get("build"), path.parent), _terms(fs.get("terms")),
                             dict(variables), TIME_UNITS[units])
    hidden, activation, seed = _network(data.get("network"))
    training = parse_training(data.get("training", {}))
    training.seed = seed
    training.solver_options = {**training.solver_options, **parse_solver(data.get("solver", {}))}
    exps = data.get("experiments")
    if not isinstance(exps, list) or not exps:
        raise ConfigError("experiments: expected at least one [[experiments]] table")
    try:
        experiments = [_experiment(d, i, path.parent) for i, d in enumerate(exps)]
    except DataError as err:
        raise ConfigError(str(err)) from None
    return FlowsheetRunConfig(path, fs["build"], hybrid, hidden, activation, seed,
                              parse_discretization(data.get("discretization", {})), training,
                              experiments)
