"""Dynamic optimization of inputs on a (trained) hybrid flowsheet.

The same flowsheet that was trained, built the same way, with the weights fixed
(one formulation for training and optimization): chosen inputs become
piecewise-constant decision profiles (one variable per segment, bounded), the
user gives an objective and optional constraints as functions of the
experiment block. The problem is initialized by a march with the starting
profile, then solved by real Ipopt (batched network callbacks). With
``spec=None`` the same optimization runs on a flowsheet without learned terms
(the first-principles truth, for checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr import ExpressionType

import idaes.logger as idaeslog

from idaes_hybrid.model.trust_region import InputBox, add_input_box_constraints
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.inputs import InputProfile
from idaes_hybrid.model.user_module import call_user_function
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.feasible_iterates import FEASIBLE_VIOLATION
from idaes_hybrid.solve.last_point import last_point_summary
from idaes_hybrid.solve.solver import SolveResult, SolveStatus
from idaes_hybrid.training.flowsheet_problem import check_square, fixed_weight_model, initialize_flowsheet

_log = idaeslog.getLogger(__name__)


class FlowsheetOptimizationError(RuntimeError):
    """The optimization could not be set up or solved; the message says which part.
    ``result``: the solve's :class:`~idaes_hybrid.solve.solver.SolveResult` when it ran."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class UserFunctionError(FlowsheetOptimizationError, ValueError):
    """The user's ``objective`` or ``constraints`` function raised on the flowsheet (a
    misspelt variable, a wrong index); the message names the field. Bad input."""


def call_user(function: Callable, blk: pyo.Block, field: str):
    """``function(blk)``; an exception it raises becomes a :class:`UserFunctionError`
    naming ``field`` (``optimization.objective`` or ``optimization.constraints``)."""
    return call_user_function(function, blk, field, "blk", UserFunctionError)


@dataclass(frozen=True)
class Control:
    """A piecewise-constant decision profile of one input.

    Attributes
    ----------
    name
        Input name (of ``HybridFlowsheet.variables``) or path.
    lower, upper
        Bounds of every segment's value.
    start
        Starting value of every segment.
    """

    name: str
    lower: float
    upper: float
    start: float

    def __post_init__(self) -> None:
        if not self.lower <= self.start <= self.upper:
            raise FlowsheetOptimizationError(
                f"controls.{self.name}: need lower <= start <= upper, got "
                f"{self.lower} <= {self.start} <= {self.upper}")


@dataclass
class FlowsheetOptimizationResult:
    """The optimal profiles and what the solve did."""

    status: str
    objective: float | None
    segment_times: list[float]
    profiles: dict[str, list[float]]
    iterations: int | None
    wall_time_s: float
    model: pyo.Block = field(repr=False)
    #: The solver path that solved it (``SolveResult.solver_name``).
    solver: str = ""

    def inputs(self) -> dict[str, InputProfile]:
        """The optimal profiles as experiment inputs (to evaluate them elsewhere)."""
        return {n: InputProfile(tuple(self.segment_times[:-1]), tuple(v))
                for n, v in self.profiles.items()}


def _segment(t: float, bounds: Sequence[float]) -> int:
    """Segment of ``t``: a boundary belongs to the segment it ends (Radau points)."""
    k = int(np.searchsorted(bounds, t, side="left")) - 1
    return min(max(k, 0), len(bounds) - 2)


def _start_values(c: Control, start: Mapping[str, Sequence[float]] | None,
                  segments: int) -> tuple[float, ...]:
    """Control ``c``'s starting value per segment (``start[c.name]`` or its ``start``)."""
    if start is None or c.name not in start:
        return tuple([c.start] * segments)
    values = tuple(float(v) for v in start[c.name])
    if len(values) != segments:
        raise FlowsheetOptimizationError(f"start.{c.name}: expected {segments} values (one per "
                                         f"segment), got {len(values)}")
    if not all(c.lower <= v <= c.upper for v in values):
        raise FlowsheetOptimizationError(f"start.{c.name}: values must lie in [{c.lower}, {c.upper}]")
    return values


def starting_run(experiment: FlowsheetExperiment, controls: Sequence[Control], segments: int,
                 start: Mapping[str, Sequence[float]] | None = None) -> tuple:
    """``(segment bounds, starting profiles, experiment run with them)``."""
    horizon = float(experiment.horizon)
    bounds = list(np.linspace(0.0, horizon, int(segments) + 1))
    guess = {c.name: InputProfile(tuple(bounds[:-1]), _start_values(c, start, int(segments)))
             for c in controls}
    exp = FlowsheetExperiment(experiment.name, horizon, experiment.measurements,
                              initial=experiment.initial, inputs={**experiment.inputs, **guess},
                              role=experiment.role)
    return bounds, guess, exp


def _with_pull(m: pyo.ConcreteModel, objective, controls: Sequence[Control],
               centre: Mapping[str, Sequence[float]], pull: float):
    """``objective + pull * sum_k (scaled control - scaled centre)^2`` (in the objective's units)."""
    if not pull:
        return objective
    if not (np.isfinite(pull) and pull > 0):
        raise FlowsheetOptimizationError(f"pull: expected a finite number >= 0, got {pull!r}")
    units = pyo.units.get_units(objective)
    scale = float(pull) * (1.0 if units is None else units)
    terms = []
    for c in controls:
        span = (c.upper - c.lower) or 1.0
        v = getattr(m.control, f"{c.name}_scaled")
        terms += [(v[k] - (x - c.lower) / span) ** 2 for k, x in zip(m.segment, centre[c.name])]
    return objective + scale * sum(terms)


def add_controls(m: pyo.ConcreteModel, hf: HybridFlowsheet, blocks: Sequence[pyo.Block],
                 controls: Sequence[Control], bounds: Sequence[float],
                 start: Mapping[str, InputProfile] | None = None) -> None:
    """Free every control as a piecewise-constant profile on the segments ``bounds``,
    shared by the experiment ``blocks`` (one, or an ensemble's copies), each segment's
    value starting at ``start`` (the profiles the blocks were marched with, from
    :func:`starting_run`) or at the control's ``start``.

    The decision variable of segment ``k`` is ``m.control.<name>_scaled[k]`` in [0, 1]
    (the control's bounds mapped onto it); ``m.control.<name>[k]`` is the value in the
    control's units, linked to the flowsheet variable at every time point. Ipopt stops
    when the gradient of the Lagrangian is small in the variables' own units: with a
    control of size 1e4 (a heat duty in W) the reduced gradient per W is ~1e-5 far from
    the optimum, so an unscaled control stopped there ("optimal" at a non-stationary
    point; any path inequality changed where). Per unit of the [0, 1] range it is the
    objective change over the control's whole range.
    """
    m.segment = pyo.RangeSet(0, len(bounds) - 2)
    m.control = pyo.Block()
    for c in controls:
        span = (c.upper - c.lower) or 1.0
        first = start[c.name].values if start and c.name in start else [c.start] * len(m.segment)
        v = pyo.Var(m.segment, bounds=(0.0, 1.0 if c.upper > c.lower else 0.0),
                    initialize=lambda b, k, f=first, lo=c.lower, span=span: (f[k] - lo) / span)
        m.control.add_component(f"{c.name}_scaled", v)
        m.control.add_component(c.name, pyo.Expression(
            m.segment, rule=lambda b, k, v=v, lo=c.lower, span=span: lo + span * v[k]))
        for k, blk in enumerate(blocks):
            ref = hf.var(blk, c.name, f"controls.{c.name}")
            for t in blk.fs.time:
                ref[t].unfix()
            link = pyo.Constraint(list(blk.fs.time), rule=lambda b, t, ref=ref, v=v, lo=c.lower, span=span: (
                (ref[t] / pyo.units.get_units(ref[t]) - lo) / span == v[_segment(t, bounds)]))
            m.control.add_component(f"{c.name}_link" + (f"_{k}" if k else ""), link)


def add_user_constraints(m: pyo.ConcreteModel, constraints: Mapping[str, object]) -> None:
    """Add ``{name: relation}`` as ``m.user_constraints.<name>``; a value may also be a
    list of relations or ``{index: relation}`` (e.g. a path constraint at every time),
    which becomes one indexed constraint."""
    m.user_constraints = pyo.Block()
    if not isinstance(constraints, Mapping):
        raise FlowsheetOptimizationError(
            f"constraints: the function must return {{name: relation}}, got "
            f"{type(constraints).__name__}")
    for name, expr in constraints.items():
        field = f"constraints.{name}"
        if isinstance(expr, Mapping):
            rows = dict(expr)
        elif isinstance(expr, (list, tuple)):
            rows = dict(enumerate(expr))
        else:
            m.user_constraints.add_component(name, pyo.Constraint(expr=_relation(expr, field)))
            continue
        if not rows:
            raise FlowsheetOptimizationError(f"{field}: an empty list of relations")
        rel = {k: _relation(e, f"{field}[{k!r}]") for k, e in rows.items()}
        m.user_constraints.add_component(name, pyo.Constraint(
            list(rel), rule=lambda b, *k, rel=rel: rel[k[0] if len(k) == 1 else k]))


def _row_gap(c) -> float | None:
    """How far a constraint row's body is inside its bounds, in its own units (negative:
    violated; ``None``: not evaluable)."""
    body = pyo.value(c.body, exception=False)
    if body is None:
        return None
    gaps = ([body - pyo.value(c.lower)] if c.has_lb() else []) + \
        ([pyo.value(c.upper) - body] if c.has_ub() else [])
    return min(gaps, default=float("inf"))


def _user_constraints(m: pyo.Block) -> list:
    """The components of ``m.user_constraints`` (none if the model has no such block)."""
    block = getattr(m, "user_constraints", None)
    return [] if block is None else list(block.component_objects(pyo.Constraint, descend_into=False))


def constraint_violations(m: pyo.Block) -> dict[str, float]:
    """Largest violation of each of ``m.user_constraints``' constraints at the model's
    current values (0: satisfied), in the constraint's own units: how far a control
    profile run on another model (the true flowsheet) breaks the user's constraints."""
    return {con.local_name: float(max([0.0] + [-g for g in map(_row_gap, con.values()) if g is not None]))
            for con in _user_constraints(m)}


def user_constraints_text(m: pyo.Block, tol: float = 1e-6) -> str:
    """The user's constraints that bind or are violated at the model's current values, e.g.
    ``"T_max binding at 12 of 14 points, violated at 2 (by up to 0.3)"`` ("" if none): at a
    failed solve's last point, the likely cause of an infeasible optimization."""
    parts = []
    for con in _user_constraints(m):
        binding, violated = 0, []
        for c in con.values():
            gap = _row_gap(c)
            bound = tol * max([1.0] + [abs(pyo.value(b)) for b in (c.lower, c.upper) if b is not None])
            if gap is not None and gap < -bound:
                violated.append(-gap)
            elif gap is not None and gap <= bound:
                binding += 1
        if binding or violated:
            parts.append(f"{con.local_name} binding at {binding} of {len(con)} points" + (
                f", violated at {len(violated)} (by up to {max(violated):.3g})" if violated else ""))
    return "; ".join(parts)


def _relation(expr, field: str):
    """A relational expression, or ``Constraint.Skip`` for one that is trivially true."""
    if expr is True:
        return pyo.Constraint.Skip
    if expr is False:
        raise FlowsheetOptimizationError(f"{field}: the relation is always false")
    if not getattr(expr, "is_expression_type", lambda _t: False)(ExpressionType.RELATIONAL):
        raise FlowsheetOptimizationError(
            f"{field}: expected a relation (<=, >= or ==), got {type(expr).__name__}")
    return expr


def _controlled_model(hf: HybridFlowsheet, exp: FlowsheetExperiment, spec, controls: Sequence[Control],
                      bounds: Sequence[float], nfe: int, ncp: int,
                      input_boxes: Mapping[str, InputBox] | None,
                      start: Mapping[str, InputProfile] | None = None) -> tuple:
    """The fixed-weight model of ``exp`` marched with the starting profiles, its controls
    freed, and each term's trust region (if given): ``(m, blk, networks)``."""
    m, blk, net = fixed_weight_model(hf, exp, spec, nfe, ncp, f"optimize_{exp.name}")
    check_square(m, blk, net, f"optimization of {exp.name!r} (starting profile)")
    initialize_flowsheet(blk, net)
    add_controls(m, hf, [blk], controls, bounds, start)
    add_trust_region(m, net, input_boxes, f"optimization of {exp.name!r}")
    return m, blk, net


def add_trust_region(m: pyo.Block, nets: Sequence, input_boxes: Mapping[str, InputBox] | None,
                     context: str) -> None:
    """Keep every network's inputs at every point inside its term's box (if given)."""
    for block in nets:
        box = (input_boxes or {}).get(block.local_name)
        if box is not None:
            n = add_input_box_constraints(m, f"trust_region_{block.local_name}", box,
                                          (vin for vin, _ in block.point_io()))
            _log.info(f"{context}: trust region on {n} inputs of {block.local_name!r}")


def optimize_flowsheet(
    hf: HybridFlowsheet,
    experiment: FlowsheetExperiment,
    spec: NetworkSpec | Mapping[str, NetworkSpec] | None,
    controls: Sequence[Control],
    objective: Callable[[pyo.Block], object],
    constraints: Callable[[pyo.Block], Mapping[str, object]] | None = None,
    segments: int = 6,
    nfe: int = 40,
    ncp: int = 3,
    options: dict | None = None,
    input_boxes: Mapping[str, InputBox] | None = None,
    start: Mapping[str, Sequence[float]] | None = None,
    pull: float = 0.0,
    pull_centre: Mapping[str, Sequence[float]] | None = None,
    tee: bool = False,
) -> FlowsheetOptimizationResult:
    """Optimize piecewise-constant inputs of one experiment.

    Parameters
    ----------
    hf
        The flowsheet (its learned terms get the trained networks ``spec``).
    experiment
        Horizon, initial state and the inputs that are not decisions.
    spec
        The trained network (weights fixed; ``{term name: NetworkSpec}`` for several
        terms, e.g. a training result's ``specs``), or ``None`` for a flowsheet
        without terms.
    controls
        Inputs to optimize, each with bounds and a starting value.
    objective
        ``objective(blk)`` -> expression to minimize (``blk.fs`` is the flowsheet).
    constraints
        ``constraints(blk)`` -> ``{name: relation}`` added as constraints; a value may
        be a list of relations (or ``{index: relation}``), e.g. one per time point.
    segments
        Equal-length segments of every control profile.
    nfe, ncp
        Radau discretization (segment boundaries are element boundaries).
    options
        Ipopt options.
    input_boxes
        Trust region per term name: the term's network inputs stay inside the box at
        every point (the region its training covered).
    start
        Starting profile per control (one value per segment) instead of its ``start``.
    pull
        Weight ``w`` of ``w * sum_k ((u_k - start_k) / (upper - lower))^2`` added to the
        objective (in its units): of profiles the model rates nearly equal, the one nearest
        ``start`` wins (the closed loop's pull towards its best batch).
    pull_centre
        Profile per control (one value per segment) the pull draws towards instead of
        the starting profile.
    tee
        Stream the solver log.
    """
    bounds, guess, exp = starting_run(experiment, controls, segments, start)
    m, blk, net = _controlled_model(hf, exp, spec, controls, bounds, nfe, ncp, input_boxes, guess)
    add_user_constraints(m, call_user(constraints, blk, "optimization.constraints") if constraints else {})
    m.user_objective = pyo.Expression(expr=call_user(objective, blk, "optimization.objective"))
    centre = {c.name: guess[c.name].values for c in controls}
    if pull_centre is not None:
        centre.update({c.name: _start_values(c, pull_centre, int(segments)) for c in controls
                       if c.name in pull_centre})
    m.objective = pyo.Objective(expr=_with_pull(m, m.user_objective, controls, centre, pull))
    res, profiles = solve_controls(m, net, controls, options, f"optimization of {exp.name!r}", tee,
                                   trust_region=bool(input_boxes))
    value = float(pyo.value(m.user_objective)) if pull else res.objective  # without the pull
    _log.info(f"optimization of {exp.name!r}: objective {value:.6g} in {res.iterations} iterations")
    return FlowsheetOptimizationResult(res.status.value, value, bounds, profiles,
                                       res.iterations, res.wall_time_s, m, res.solver_name)


#: Ipopt's ``acceptable_tol`` of optimization solves unless the ``[solver]`` table sets it.
#: Optimizations over ensembles (and plateaus of the objective: many feeds that exhaust the
#: substrate give the same product) can end with Ipopt failing to compute a step after
#: hundreds of iterations at a feasible point whose dual infeasibility is ~1e-3 of the
#: objective's scale; with Ipopt's default (1e-6) that point is lost ("unrecoverable error"),
#: with 1e-4 Ipopt returns it as "acceptable" (reported so).
OPTIMIZATION_ACCEPTABLE_TOL = 1e-4

#: Ipopt options of the second solve of an optimization that failed (restoration failed, a step
#: it could not compute) after passing a feasible point: started there, with a small barrier
#: parameter (the point is near a solution, as a warm start is).
RESTART_OPTIONS = {"mu_init": 1e-6}

#: Largest constraint violation (Ipopt's default ``constr_viol_tol``) at which a solve that
#: stopped at its iteration or time limit still gives a usable, feasible profile.
FEASIBLE_STOP_VIOLATION = FEASIBLE_VIOLATION  # the batched solve keeps its best such iterate


#: Appended to an infeasible optimization's message when a trust region holds the inputs.
TRUST_REGION_HINT = (
    "; with the trust region (every network input inside the region the training data cover, "
    "widened by trust_margin) no profile may meet the constraints: they (or the scenario's start) "
    "may need states no training experiment reached; raise trust_margin, use a wider shape "
    "(\"hull\" < \"ellipsoid\" < \"box\"), or optimize without the trust region")


def feasible_stop(res: SolveResult) -> bool:
    """True if ``res`` stopped at a limit with its final, loaded point feasible."""
    return (res.status is SolveStatus.MAX_ITERATIONS and res.solution_loaded
            and res.constraint_violation is not None
            and res.constraint_violation <= FEASIBLE_STOP_VIOLATION)


def solve_controls(m: pyo.ConcreteModel, nets: Sequence, controls: Sequence[Control],
                   options: dict | None, context: str, tee: bool = False,
                   accept_feasible_stop: bool = False, trust_region: bool = False) -> tuple:
    """Solve an optimization built with :func:`add_controls`; ``(SolveResult, profiles)``.
    Raises :class:`FlowsheetOptimizationError` (its ``result`` the solve's) unless optimal
    or acceptable, or (``accept_feasible_stop``) stopped by an iteration or time limit at a
    feasible point (constraint violation <= :data:`FEASIBLE_STOP_VIOLATION`), which is kept
    with a warning: a profile that satisfies the model and every limit, not proven optimal.
    ``trust_region``: the model holds a trust region (an infeasible solve's message says
    what to change)."""
    from idaes_hybrid.solve.batched import solve_hybrid
    from idaes_hybrid.solve.nl_solve import solve_nl

    opts = {"tol": 1e-8, "max_iter": 500, "bound_push": 1e-8, "bound_frac": 1e-8,
            "acceptable_tol": OPTIMIZATION_ACCEPTABLE_TOL, **(options or {})}
    # Decisions and states of very different sizes (W, J, mol/m^3): scaled by their
    # magnitudes, or Ipopt may stop "optimal" where the reduced gradient is of order 1.
    def solve(o: dict):
        return solve_hybrid(m, list(nets), o, tee=tee, magnitude_scaling=True) if nets else \
            solve_nl(m, o, tee=tee, magnitude_scaling=True)

    res = solve(opts)
    if res.status is SolveStatus.FAILED and res.load_best_feasible is not None:
        _log.info(f"{context}: {res.termination_message} after {res.iterations} iterations; solving "
                  "again from the best feasible point it passed")
        res.load_best_feasible()
        res = solve({**opts, **RESTART_OPTIONS})
    if accept_feasible_stop and feasible_stop(res):
        _log.warning(f"{context}: the solver stopped at its limit ({res.termination_message}) "
                     f"after {res.iterations} iterations at a feasible point (constraint violation "
                     f"{res.constraint_violation:.1e}); its profile is returned, not proven optimal")
    elif res.status not in (SolveStatus.OPTIMAL, SolveStatus.ACCEPTABLE):
        if res.load_last_point is not None:  # the model is discarded: show where the solver ended
            res.load_last_point()
        mine = user_constraints_text(m)
        where = "; ".join(x for x in (f"[optimization] constraints: {mine}" if mine else "",
                                        last_point_summary(m)) if x)
        hint = TRUST_REGION_HINT if trust_region and res.status is SolveStatus.INFEASIBLE else ""
        raise FlowsheetOptimizationError(f"{context}: {res.status.value} ({res.termination_message})"
                                         + (f"; at the solver's last point: {where}" if where else "")
                                         + hint, res)
    return res, control_profiles(m, controls)


def control_profiles(m: pyo.ConcreteModel, controls: Sequence[Control]) -> dict[str, list[float]]:
    """Each control's value per segment at the model's current values."""
    return {c.name: [float(pyo.value(getattr(m.control, c.name)[k])) for k in m.segment]
            for c in controls}


def trapezoid(blk: pyo.Block, expr_at: Callable[[float], object]):
    """``integral of expr_at(t) dt`` over the flowsheet's time grid (trapezoid rule)."""
    times = list(blk.fs.time)
    return sum(0.5 * (b - a) * (expr_at(a) + expr_at(b)) for a, b in zip(times[:-1], times[1:]))
