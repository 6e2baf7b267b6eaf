"""A user's IDAES flowsheet with learned terms, and its experiments.

:class:`HybridFlowsheet` says how one experiment's flowsheet is built (the
user's ``build(fs)`` adds units, arcs, property and reaction packages to a
dynamic ``FlowsheetBlock``), which learned terms it has, and names the
variables that experiments refer to (measured columns, inputs, initial states).
:class:`FlowsheetExperiment` gives one experiment's initial state, input
profiles and measurements. :meth:`HybridFlowsheet.build_experiment` puts both
together on a block: build, expand arcs, Radau collocation, fix inputs and the
initial state.
"""

from __future__ import annotations

import difflib
import enum
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.dae.flatten import flatten_dae_components
from pyomo.environ import units as pyunits

import idaes.logger as idaeslog
from idaes.core import FlowsheetBlock

from idaes_hybrid.model import paths
from idaes_hybrid.model.experiment import DataError, Measured, Role
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.model.terms import Series, Term
from idaes_hybrid.model.user_module import call_user_function
from idaes_hybrid.model.discretization import make_time_discretization_consistent

_log = idaeslog.getLogger(__name__)


class BuildFunctionError(paths.PathError):
    """The user's flowsheet build function raised (an Arc to a unit it never made, a
    misspelt package); the message names ``flowsheet.build``. Bad input."""


def call_build(build: Callable, fs: pyo.Block, field: str = "flowsheet.build") -> None:
    """``build(fs)``; an exception it raises becomes a :class:`BuildFunctionError` naming
    ``field`` (a mistake in the user's code, not in the package)."""
    call_user_function(build, fs, field, "fs", BuildFunctionError)


class InitialState(str, enum.Enum):
    """How an experiment starts when it does not list initial values."""

    #: All time derivatives are zero at the start (the plant sits at the steady
    #: state of its initial inputs).
    STEADY_STATE = "steady-state"


@dataclass(eq=False)
class FlowsheetExperiment(Measured):
    """One experiment on a hybrid flowsheet.

    Attributes
    ----------
    name
        Unique name.
    horizon
        Final time; the flowsheet is built on ``[0, horizon]``.
    measurements
        Index ``time``; one column per measured variable (a name of
        ``HybridFlowsheet.variables``); NaN = missing (ragged grids).
    initial
        ``{name or path: value}`` fixed at the start (differential states such as
        a CSTR's outlet concentrations and temperature), or
        ``InitialState.STEADY_STATE``.
    inputs
        ``{name or path: number | InputProfile}``: fixed at every time point.
    role
        Training or validation.
    noise_sd
        Known measurement noise per measured column, if any.
    """

    name: str
    horizon: float
    measurements: pd.DataFrame
    initial: Mapping[str, float] | InitialState = InitialState.STEADY_STATE
    inputs: Mapping[str, Any] = field(default_factory=dict)
    role: Role = Role.TRAIN
    noise_sd: dict[str, float] | None = None

    def __post_init__(self) -> None:
        self.role = Role(self.role)
        if isinstance(self.initial, str):
            self.initial = InitialState(self.initial)
        self.inputs = {k: parse_input(v, f"experiments[{self.name!r}].inputs.{k}")
                       for k, v in dict(self.inputs).items()}

    def step_times(self) -> list[float]:
        """Times inside the horizon where an input steps (element boundaries of the grid)."""
        horizon = float(self.horizon)
        return sorted({t for p in self.inputs.values() for t in p.breakpoints if 0 < t < horizon})


def missing_inputs(experiments: Sequence[FlowsheetExperiment]) -> dict[str, list[tuple[str, str]]]:
    """Per experiment, the inputs other experiments give and it does not, each with the
    first experiment that gives it (a forgotten input leaves degrees of freedom free)."""
    given: dict[str, str] = {}
    for exp in experiments:
        for name in exp.inputs:
            given.setdefault(name, exp.name)
    out = {exp.name: [(n, given[n]) for n in given if n not in exp.inputs] for exp in experiments}
    return {k: v for k, v in out.items() if v}


def with_missing_inputs(message: str, experiments: Sequence[FlowsheetExperiment]) -> str:
    """``message`` (an error about an experiment's free degrees of freedom) with the inputs
    that experiment lacks and others give, the likely cause, in front of its other hints."""
    for name, missing in missing_inputs(experiments).items():
        if message.startswith(f"experiments[{name!r}]") and "degrees of freedom" in message:
            lacking = ", ".join(f"{n!r} (given by {giver!r})" for n, giver in missing)
            head, _, rest = message.partition("; ")
            return f"{head}; likely cause: no value for input {lacking}" + (f"; {rest}" if rest else "")
    return message


def check_variable_name(name: str, variables: Mapping[str, str], field: str) -> None:
    """:class:`~idaes_hybrid.model.paths.PathError` unless ``name`` is a name in
    ``variables`` (``[flowsheet.variables]``) or a path (it has a ``.``)."""
    if name not in variables and "." not in name:
        close = _closest_name(name, list(variables))
        hint = ("; sample times belong in the table's index (the first CSV column)"
                if name.strip().lower() in ("time", "t") else f"; did you mean {close!r}?" if close else "")
        raise paths.PathError(f"{field}: {name!r} is neither a name in variables "
                              f"({', '.join(variables) or 'none declared'}) nor a path{hint}")


def _closest_name(name: str, names: list[str]) -> str | None:
    """The declared name ``name`` most likely meant: the same but for case, else the closest
    by :func:`difflib.get_close_matches` (``None`` if none is close)."""
    lower = {n.lower(): n for n in names}
    if name.strip().lower() in lower:
        return lower[name.strip().lower()]
    close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.75)
    return lower[close[0]] if close else None


#: Units of time a flowsheet may use, by the names a config (``flowsheet.time_units``) and
#: :class:`HybridFlowsheet` accept.
TIME_UNITS = {"s": pyunits.s, "min": pyunits.min, "h": pyunits.h, "hr": pyunits.h,
              "dimensionless": pyunits.dimensionless}


@dataclass
class HybridFlowsheet:
    """A flowsheet with learned terms, as training, prediction and optimization see it.

    Attributes
    ----------
    build
        ``build(fs)`` adds the user's units, packages and arcs to ``fs``, a dynamic
        ``FlowsheetBlock`` on ``[0, horizon]`` (plus input step times). Arcs are
        expanded and time is discretized by the framework afterwards.
    terms
        Learned terms (:class:`~idaes_hybrid.model.terms.LearnedReactionTerm`,
        :class:`~idaes_hybrid.model.terms.NetworkTerm`).
    variables
        ``{name: path}``: short names for measured columns, inputs and initial
        states; paths hold ``*`` at the time index (relative to the block holding ``fs``).
    time_units
        Units of time of the flowsheet: a Pyomo unit (``pyo.units.min``) or its name in
        :data:`TIME_UNITS` (``"min"``).
    simulation_build
        Optional build used where the weights are fixed (simulation, optimization,
        estimation) instead of ``build``: the same flowsheet with a safeguard that
        training leaves out (the bioreactor's uptake limit keeps a prediction beyond the
        data from consuming substrate below zero). ``None``: ``build`` everywhere.
    """

    build: Callable[[FlowsheetBlock], None]
    terms: Sequence[Term]
    variables: Mapping[str, str] = field(default_factory=dict)
    time_units: Any = field(default_factory=lambda: pyunits.s)
    simulation_build: Callable[[FlowsheetBlock], None] | None = None
    _shapes: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.time_units, str):
            if self.time_units not in TIME_UNITS:
                raise ValueError(f"time_units: expected a Pyomo unit of time or one of "
                                 f"{', '.join(TIME_UNITS)}, got {self.time_units!r}")
            self.time_units = TIME_UNITS[self.time_units]

    def path(self, name: str) -> str:
        """The path a variable name stands for (a path stands for itself)."""
        return self.variables.get(name, name)

    def var(self, blk: pyo.Block, name: str, field: str):
        """The time-indexed variable ``name`` (a name of ``variables`` or a path) under ``blk``."""
        self.check_name(name, field)
        if name in self.variables:  # a wrong path is the [flowsheet.variables] entry's
            field = f"flowsheet.variables.{name}"
        ref = paths.resolve(blk, self.path(name), field)
        if ref.dim() != 1:
            raise paths.PathError(f"{field}: {self.path(name)!r} must have exactly one '*' (time)")
        return ref

    def check_name(self, name: str, field: str) -> None:
        """Refuse ``name`` unless it is a name in ``variables`` or a path (no model needed:
        every experiment's columns can be checked before anything is built or solved)."""
        check_variable_name(name, self.variables, field)

    def build_experiment(self, blk: pyo.Block, exp: FlowsheetExperiment, nfe: int, ncp: int,
                         fixed_weights: bool = False) -> None:
        """Build ``blk.fs`` for ``exp``: discretized, inputs and initial state fixed
        (``fixed_weights``: with ``simulation_build`` if there is one)."""
        horizon = float(exp.horizon)
        if not (math.isfinite(horizon) and horizon > 0):
            raise DataError(f"experiments[{exp.name!r}].horizon: must be > 0, got {exp.horizon!r}")
        blk.fs = FlowsheetBlock(dynamic=True, time_set=[0.0, *exp.step_times(), horizon],
                                time_units=self.time_units)
        call_build(self.simulation_build if fixed_weights and self.simulation_build else self.build, blk.fs)
        pyo.TransformationFactory("network.expand_arcs").apply_to(blk)
        fixed = _fixed_at_all_times(blk.fs)
        pyo.TransformationFactory("dae.collocation").apply_to(
            blk.fs, nfe=int(nfe), ncp=int(ncp), scheme="LAGRANGE-RADAU", wrt=blk.fs.time)
        _fix_new_points(fixed, blk.fs.time)
        make_time_discretization_consistent(blk.fs, blk.fs.time, self.time_units)
        self.fix_inputs(blk, exp)
        self.fix_initial_state(blk, exp)

    def fix_inputs(self, blk: pyo.Block, exp: FlowsheetExperiment) -> None:
        """Fix every input of ``exp`` at every time point of ``blk.fs``."""
        for name, profile in exp.inputs.items():
            field = f"experiments[{exp.name!r}].inputs.{name}"
            profile.check(float(exp.horizon), field)
            var = self.var(blk, name, field)
            t0 = blk.fs.time.first()
            for t in blk.fs.time:
                fix_within_bounds(var[t], profile.value_at(t, left=t != t0), field, t)

    def fix_initial_state(self, blk: pyo.Block, exp: FlowsheetExperiment) -> None:
        """Fix the initial state (values at t0, or zero derivatives)."""
        t0 = blk.fs.time.first()
        if exp.initial is InitialState.STEADY_STATE:
            blk.fs.fix_initial_conditions("steady-state")
            return
        for name, value in exp.initial.items():
            field = f"experiments[{exp.name!r}].initial.{name}"
            var = self.var(blk, name, field)
            fix_within_bounds(var[t0], float(value), field, t0)
            for t in blk.fs.time:  # a flat start: the state sits at its initial value
                if not var[t].fixed:
                    var[t].set_value(float(value))

    def term_names(self) -> list[str]:
        """Names of the learned terms, checked: unique identifiers (each names a network)."""
        names = [t.name for t in self.terms]
        for i, n in enumerate(names):
            if not (isinstance(n, str) and n.isidentifier()):
                raise paths.PathError(f"terms[{i}].name: {n!r} is not a valid name (letters, digits, _)")
        if len(set(names)) != len(names):
            raise paths.PathError(f"terms: names must be unique, got {names}")
        return names

    def network_shapes(self) -> dict[str, tuple[int, int]]:
        """Inputs and outputs of each term's network, by term name, read from a build
        of the flowsheet alone (no experiment, no discretization; built once)."""
        self.term_names()
        key = (self.build, tuple(self.terms))
        if self._shapes is None or self._shapes[0] != key:
            m = pyo.ConcreteModel()
            m.fs = FlowsheetBlock(dynamic=True, time_set=[0.0, 1.0], time_units=self.time_units)
            call_build(self.build, m.fs)
            self._shapes = (key, {t.name: (t.n_inputs_of(m), t.n_outputs_of(m)) for t in self.terms})
        return dict(self._shapes[1])

    def network_shape(self) -> tuple[int, int]:
        """Inputs and outputs of the network of a flowsheet with one learned term."""
        shapes = self.network_shapes()
        if len(shapes) != 1:
            raise paths.PathError(f"terms: {len(shapes)} learned terms ({', '.join(shapes)}); "
                                  "use network_shapes()")
        return next(iter(shapes.values()))

    def specs_by_term(self, spec) -> dict:
        """``{term name: NetworkSpec}`` from one spec (a flowsheet with one term) or a mapping."""
        if spec is None:
            return {}
        names = self.term_names()
        if not names:
            raise paths.PathError("terms: the flowsheet has no learned term to give a network")
        if not isinstance(spec, Mapping):
            if len(names) != 1:
                raise paths.PathError(f"terms: {len(names)} learned terms ({', '.join(names)}) need "
                                      "one network each: give {term name: NetworkSpec}")
            return {names[0]: spec}
        missing = [n for n in names if n not in spec]
        extra = [n for n in spec if n not in names]
        if missing or extra:
            raise paths.PathError(f"terms: networks given for {sorted(spec)}, the flowsheet's terms "
                                  f"are {names}")
        return {n: spec[n] for n in names}

    def series(self, blk: pyo.Block) -> dict[str, list[Series]]:
        """Every term's series under ``blk``, by term name."""
        self.term_names()
        return {t.name: t.series(blk) for t in self.terms}


def _fixed_at_all_times(fs: FlowsheetBlock) -> list:
    """Time-indexed variables the user's build fixed at every (pre-discretization) time point."""
    _, dynamic = flatten_dae_components(fs, fs.time, pyo.Var)
    return [(ref, {t: ref[t].value for t in fs.time}) for ref in dynamic
            if all(ref[t].fixed for t in fs.time)]


def _fix_new_points(fixed: list, time) -> None:
    """Fix the collocation points discretization added, at the value of the time point
    before them (a build that fixes ``var[:].fix(v)`` means all times)."""
    for ref, values in fixed:
        known = sorted(values)
        for t in time:
            if t not in values:
                before = known[max(0, int(np.searchsorted(known, t)) - 1)]
                ref[t].fix(values[before], skip_validation=True)  # the build's own fix was checked


def fix_within_bounds(var: pyo.Var, value: float, field: str, t: float) -> None:
    """Fix ``var`` at ``value``; a :class:`DataError` naming ``field`` when the value lies
    outside the variable's bounds (a property package's valid range, e.g. IDAES's
    saponification temperature 298.15-323.15 K), which no solver could then satisfy."""
    lb, ub = var.lb, var.ub
    if (lb is not None and value < lb) or (ub is not None and value > ub):
        raise DataError(f"{field}: {value:g} at t = {t:g} is outside the bounds "
                        f"[{'-inf' if lb is None else f'{lb:g}'}, {'inf' if ub is None else f'{ub:g}'}] "
                        f"of {var.name}")
    var.fix(float(value))
