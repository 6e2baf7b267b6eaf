"""The ``[optimization]`` table of a flowsheet configuration (``idaes-hybrid optimize``).

```toml
[optimization]
experiment = "b1"                        # initial state and inputs from this experiment (optional)
horizon = 120.0                          # else the experiment's
initial = "steady-state"                 # or {name = value}; else the experiment's
inputs = { F = 1.0e-3, Tf = [[0, 300.0], [60, 306.0]] }   # inputs that are not decisions
objective = "optimize.py:objective"      # objective(blk) -> expression to minimize
constraints = "optimize.py:constraints"  # optional: constraints(blk) -> {name: relation}
segments = 6                             # piecewise-constant segments of every control
nfe = 40                                 # else [discretization]'s
true_build = "model.py:build_true"       # optional: check the optimum on the true flowsheet
trust_region = true                      # optional: network inputs inside the trained region
ensemble = "expected"                    # optional: over the saved ensemble's members ("worst-case")

[[optimization.controls]]
name = "Q"; lower = 0.0; upper = 4.0e4; start = 1.0e4
```
Functions are named as ``"module.py:function"`` relative to the config file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import idaes.logger as idaeslog

from idaes_hybrid.config.checks import ConfigError
from idaes_hybrid.config.flowsheet_parse import load_build_function, parse_initial
from idaes_hybrid.config.optimization import parse_ensemble, parse_trust_region
from idaes_hybrid.model.experiment import DataError
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, InitialState
from idaes_hybrid.model.trust_region import TrustShape
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.optimize.flowsheet import Control, FlowsheetOptimizationError
from idaes_hybrid.optimize.ensemble import EnsembleObjective

_log = idaeslog.getLogger(__name__)

OPTIMIZATION_KEYS = ("experiment", "horizon", "initial", "inputs", "objective", "constraints",
                     "segments", "nfe", "ncp", "true_build", "controls", "trust_region", "trust_margin",
                     "ensemble")
_CONTROL_KEYS = ("name", "lower", "upper", "start")


@dataclass
class FlowsheetOptimizationSettings:
    """A checked ``[optimization]`` table of a flowsheet configuration.

    Attributes
    ----------
    scenario
        Horizon, initial state and the inputs that are not decisions.
    controls
        Decision inputs with bounds and starting values.
    objective, constraints
        The user's ``objective(blk)`` and optional ``constraints(blk)``.
    segments, nfe, ncp
        Segments of every control profile; Radau discretization.
    true_build
        Build function of the true flowsheet (no learned terms), or ``None``.
    refs
        The ``module:function`` strings as written (for the outputs).
    trust_region, trust_margin
        Keep every network's inputs inside the region its training covered (the saved
        model's ``input_boxes``: each input's range, with :attr:`TrustShape.ELLIPSOID` also
        the smallest ellipsoid around the training inputs, with :attr:`TrustShape.HULL` their
        convex hull; ``None``: none), widened by
        ``trust_margin`` times each input's range.
    ensemble
        Optimize over the saved model's ensemble members at once (expected or worst-case
        objective), or ``None``: the nominal networks.
    """

    scenario: FlowsheetExperiment
    controls: list[Control]
    objective: Callable
    constraints: Callable | None
    segments: int
    nfe: int
    ncp: int
    true_build: Callable | None = None
    refs: dict[str, str] = field(default_factory=dict)
    trust_region: TrustShape | None = None
    trust_margin: float = 0.0
    ensemble: EnsembleObjective | None = None


def _positive_int(table: Mapping, key: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"optimization.{key}: expected an integer >= 1, got {value!r}")
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{field}: expected a finite number, got {value!r}")
    return float(value)


def _controls(value: Any) -> list[Control]:
    if not isinstance(value, list) or not value:
        raise ConfigError("optimization.controls: expected at least one [[optimization.controls]] "
                          "table with name, lower, upper, start")
    out = []
    for i, c in enumerate(value):
        field = f"optimization.controls[{i}]"
        if not isinstance(c, Mapping):
            raise ConfigError(f"{field}: expected a table with name, lower, upper, start")
        unknown = [k for k in c if k not in _CONTROL_KEYS]
        missing = [k for k in _CONTROL_KEYS if k not in c]
        if unknown or missing:
            key = (unknown or missing)[0]
            what = "unknown key" if unknown else "required key missing"
            raise ConfigError(f"{field}.{key}: {what}; keys: {', '.join(_CONTROL_KEYS)}")
        if not isinstance(c["name"], str):
            raise ConfigError(f"{field}.name: expected an input name or path")
        lo, hi, start = (_number(c[k], f"{field}.{k}") for k in ("lower", "upper", "start"))
        try:
            out.append(Control(c["name"], lo, hi, start))
        except FlowsheetOptimizationError as err:
            raise ConfigError(f"{field}: {str(err).split(': ', 1)[1]}") from None
    return out


def _scenario(table: Mapping, experiments: list[FlowsheetExperiment], base_dir: Path) -> FlowsheetExperiment:
    name = table.get("experiment")
    base = None
    if name is not None:
        base = next((e for e in experiments if e.name == name), None)
        if base is None:
            raise ConfigError(f"optimization.experiment: {name!r} is not an experiment of this "
                              f"config ({', '.join(e.name for e in experiments)})")
    if "horizon" in table:
        horizon = _number(table["horizon"], "optimization.horizon")
    elif base is not None:
        horizon = float(base.horizon)
    else:
        raise ConfigError("optimization.horizon: required when no experiment is named")
    if horizon <= 0:
        raise ConfigError(f"optimization.horizon: must be > 0, got {horizon:g}")
    if "initial" in table:
        initial = parse_initial(table["initial"], "optimization.initial")
    else:
        initial = base.initial if base is not None else InitialState.STEADY_STATE
    inputs = table.get("inputs", {})
    if not isinstance(inputs, Mapping):
        raise ConfigError("optimization.inputs: expected a table name = value | steps | {file, column}")
    merged = {**(base.inputs if base is not None else {}),
              **{str(k): parse_input(v, f"optimization.inputs.{k}", base_dir) for k, v in inputs.items()}}
    import pandas as pd

    return FlowsheetExperiment("optimization", horizon, pd.DataFrame(), initial=initial, inputs=merged)


def _warn_missing_inputs(scenario: FlowsheetExperiment, controls: list[Control],
                         experiments: list[FlowsheetExperiment]) -> None:
    """Warn for an input the training experiments give that is neither an input nor a control
    of the optimization (left free, it is a degree of freedom the count does not name)."""
    decided = {*scenario.inputs, *(c.name for c in controls)}
    missing = sorted({n for e in experiments for n in e.inputs} - decided)
    if missing:
        _log.warning(f"optimization.inputs: no value for {', '.join(repr(n) for n in missing)}, which "
                     "the experiments give, and no control of that name; unless the flowsheet fixes "
                     "it, the optimization keeps free degrees of freedom")


def parse_flowsheet_optimization(table: Any, experiments: list[FlowsheetExperiment], base_dir: Path,
                                 nfe: int, ncp: int, hybrid=None) -> FlowsheetOptimizationSettings:
    """Check an ``[optimization]`` table; errors name the field (``optimization.<key>``).
    ``hybrid`` (the :class:`~idaes_hybrid.model.flowsheet.HybridFlowsheet`) checks the
    controls' names."""
    if not isinstance(table, Mapping):
        raise ConfigError("optimization: expected a table")
    unknown = [k for k in table if k not in OPTIMIZATION_KEYS]
    if unknown:
        raise ConfigError(f"optimization.{unknown[0]}: unknown key; valid keys: {', '.join(OPTIMIZATION_KEYS)}")
    if "objective" not in table:
        raise ConfigError("optimization.objective: required: 'module.py:function' returning the "
                          "expression to minimize")
    refs = {k: table[k] for k in ("objective", "constraints", "true_build") if k in table}
    funcs = {k: load_build_function(v, base_dir, f"optimization.{k}") for k, v in refs.items()}
    controls = _controls(table.get("controls"))
    try:
        scenario = _scenario(table, experiments, base_dir)
    except DataError as err:  # an input series that cannot be read
        raise ConfigError(str(err)) from None
    given = table.get("inputs", {})
    for i, c in enumerate(controls):
        if c.name in given:
            raise ConfigError(f"optimization.inputs.{c.name}: {c.name!r} is a control "
                              f"(optimization.controls[{i}].name); a control is never a fixed input")
        if hybrid is not None:
            hybrid.check_name(c.name, f"optimization.controls[{i}].name")
        scenario.inputs.pop(c.name, None)  # a decision, not a given input (of a named experiment)
    _warn_missing_inputs(scenario, controls, experiments)
    return FlowsheetOptimizationSettings(
        scenario, controls, funcs["objective"], funcs.get("constraints"),
        _positive_int(table, "segments", 6), _positive_int(table, "nfe", nfe),
        _positive_int(table, "ncp", ncp), funcs.get("true_build"), {k: str(v) for k, v in refs.items()},
        *parse_trust_region(table), parse_ensemble(table))

