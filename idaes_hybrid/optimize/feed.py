"""Dynamic optimization of a fed-batch feed profile with a trained hybrid model.

The optimization model is the prediction model of
:func:`~idaes_hybrid.training.predict.build_prediction_model` (one
experiment's flowsheet, the trained network attached with its weights fixed:
one formulation for training, prediction and optimization) in which the feed
flow ``F(t)`` is freed as a piecewise-constant profile on equal intervals::

    max  P(tf) V(tf)                   (product mass)
    s.t. the unit's balances and the network (or, with KineticsMode.REFERENCE,
         the unit's own Monod kinetics, no network)
         F(t) = F_k   for t in (t_k, t_k+1],   F_min <= F_k <= F_max
         V(t) <= V_max,  X, P, S >= 0       at every time point

:func:`evaluate_feed_on_reference` applies a profile to the true (reference)
model as a square simulation: the independent check of a hybrid-optimal feed.
The model must have the fed-batch contract: inputs ``F`` and ``Sf``, states
``P`` and ``V``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.environ import units as pyunits

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError
from idaes.core.util.model_statistics import degrees_of_freedom

from idaes_hybrid.solve.batched import solve_hybrid
from idaes_hybrid.model.initialization import initialize_hybrid_units
from idaes_hybrid.solve.solver import SolveResult, SolveStatus, SolverCrashError, SolverNotFoundError
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.predict import build_prediction_model
from idaes_hybrid.training.problem import Discretization, build_experiment_flowsheet, trajectories
from idaes_hybrid.model.contract import KineticsMode
from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.model.trust_region import InputBox, add_input_box_constraints
from idaes_hybrid.optimize.fed_batch_objective import FEED, FEED_CONCENTRATION, PRODUCT, VOLUME

_log = idaeslog.getLogger(__name__)

_EXPERIMENT_NAME = "optimization"


class OptimizationError(RuntimeError):
    """A feed optimization or evaluation failed (solver status in the message)."""


class OptimizationRequestError(OptimizationError, ValueError):
    """An invalid or infeasible request, found before any solve.

    The message starts with the bad field (``V_max: ...``); ``field`` holds it.
    """

    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name


@dataclass(frozen=True)
class FeedProfile:
    """A piecewise-constant feed: ``values[k]`` on ``(edges[k], edges[k+1]]``.

    ``values[0]`` also holds at ``edges[0]`` (the initial time).
    """

    edges: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.edges) != len(self.values) + 1 or not self.values:
            raise OptimizationRequestError("profile", f"{len(self.edges)} edges do not bound "
                                           f"{len(self.values)} values (need one more edge)")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:])):
            raise OptimizationRequestError("profile.edges", f"must increase strictly, got {self.edges}")

    @classmethod
    def uniform(cls, values: Sequence[float], horizon: float) -> FeedProfile:
        """Values on equal intervals of ``[0, horizon]``."""
        n = len(values)
        return cls(tuple(float(horizon) * k / n for k in range(n + 1)), tuple(float(v) for v in values))

    @property
    def horizon(self) -> float:
        """The last edge."""
        return self.edges[-1]

    def interval_of(self, t: float) -> int:
        """Index of the interval holding ``t`` (left-open intervals, as Radau collocation)."""
        tol = 1e-9 * max(1.0, abs(self.horizon))
        k = int(np.searchsorted(np.asarray(self.edges), float(t) - tol, side="left")) - 1
        return min(max(k, 0), len(self.values) - 1)

    def value_at(self, t: float) -> float:
        """Feed at time ``t``."""
        return self.values[self.interval_of(t)]

    def to_dict(self) -> dict[str, list[float]]:
        """``{"edges": [...], "values": [...]}``."""
        return {"edges": list(self.edges), "values": list(self.values)}


@dataclass
class FeedOptimizationResult:
    """An optimal feed profile and what the optimized model predicts for it.

    Attributes
    ----------
    profile : FeedProfile
        Optimal ``F`` per interval.
    trajectories : dict[str, numpy.ndarray]
        ``time`` (collocation grid), every state and learned term, and ``F``.
    product_mass : float
        ``P(tf) V(tf)`` of the optimized model (g).
    status : SolveStatus
        Outcome of the optimization solve.
    iterations : int or None
        Solver iterations of the optimization solve.
    wall_time_s : float
        Wall time of build, initialization and optimization.
    kinetics : KineticsMode
        ``EXTERNAL`` (the trained network) or ``REFERENCE`` (the true kinetics).
    solver : str
        Name of the solver path used.
    """

    profile: FeedProfile
    trajectories: dict[str, np.ndarray] = field(repr=False)
    product_mass: float
    status: SolveStatus
    iterations: int | None
    wall_time_s: float
    kinetics: KineticsMode
    solver: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (trajectories as lists)."""
        return {"kinetics": self.kinetics.value, "product_mass": self.product_mass,
                "status": self.status.value, "iterations": self.iterations,
                "wall_time_s": self.wall_time_s, "solver": self.solver,
                "feed_profile": self.profile.to_dict(),
                "trajectories": {k: np.asarray(v).tolist() for k, v in self.trajectories.items()}}


@dataclass
class FeedEvaluation:
    """A feed profile simulated with the reference (true) kinetics."""

    profile: FeedProfile
    trajectories: dict[str, np.ndarray] = field(repr=False)
    product_mass: float


@dataclass(frozen=True)
class FeedRequest:
    """What a feed optimization is asked: a new batch and the limits on its feed.

    Attributes
    ----------
    initial
        Initial value of every state.
    Sf
        Feed substrate concentration (constant).
    horizon
        Final time.
    n_intervals
        Number of equal feed intervals (the degrees of freedom).
    F_bounds
        ``(F_min, F_max)``.
    V_max
        Largest volume allowed at any time.
    """

    initial: Mapping[str, float]
    Sf: float
    horizon: float
    n_intervals: int
    F_bounds: tuple[float, float]
    V_max: float

    def check(self, definition: HybridModelDefinition, prefix: str = "") -> None:
        """:func:`check_feed_request` of this request."""
        check_feed_request(definition, self.initial, self.Sf, self.horizon, self.n_intervals,
                           self.F_bounds, self.V_max, prefix)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"initial": dict(self.initial), "Sf": float(self.Sf), "horizon": float(self.horizon),
                "n_intervals": int(self.n_intervals), "F_bounds": [float(f) for f in self.F_bounds],
                "V_max": float(self.V_max)}

    @property
    def filling_feed(self) -> float:
        """The constant feed that just fills the volume to ``V_max`` (within the bounds)."""
        lo, hi = (float(f) for f in self.F_bounds)
        return min(max((self.V_max - float(self.initial[VOLUME])) / self.horizon, lo), hi)


def check_feed_request(definition: HybridModelDefinition, initial: Mapping[str, float], Sf: float,
                       horizon: float, n_intervals: int, F_bounds: Sequence[float],
                       V_max: float | None, prefix: str = "") -> None:
    """Raise :class:`OptimizationRequestError` naming the first invalid or infeasible field.

    ``V_max=None`` skips the volume checks. ``prefix`` is put before field names
    (``"optimization."`` in a config).
    """
    def fail(name: str, problem: str) -> None:
        raise OptimizationRequestError(prefix + name, problem)

    missing = [n for n in (FEED, FEED_CONCENTRATION) if n not in definition.input_names]
    missing += [n for n in (PRODUCT, VOLUME) if n not in definition.state_names]
    if missing:
        fail("model", f"{definition.name!r} has no {missing[0]!r}; feed optimization needs inputs "
                      f"{FEED!r}, {FEED_CONCENTRATION!r} and states {PRODUCT!r}, {VOLUME!r}")
    for name in definition.state_names:
        value = initial.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(f"initial.{name}", f"expected a finite number, got {value!r}")
    unknown = sorted(set(initial) - set(definition.state_names))
    if unknown:
        fail(f"initial.{unknown[0]}", f"not a state of {definition.name!r}; valid names: "
                                      f"{list(definition.state_names)}")
    checks = {"Sf": (Sf, 0.0, True), "horizon": (horizon, 0.0, False)}
    if V_max is not None:
        checks["V_max"] = (V_max, 0.0, False)
    for name, (value, low, inclusive) in checks.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(name, f"expected a finite number, got {value!r}")
        if value < low or (value == low and not inclusive):
            fail(name, f"must be {'>=' if inclusive else '>'} {low:g}, got {value!r}")
    if isinstance(n_intervals, bool) or not isinstance(n_intervals, int) or n_intervals < 1:
        fail("intervals", f"expected an integer >= 1, got {n_intervals!r}")
    if len(F_bounds) != 2:
        fail("F_bounds", f"expected (F_min, F_max), got {F_bounds!r}")
    lo, hi = F_bounds
    for name, value in (("F_min", lo), ("F_max", hi)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(name, f"expected a finite number, got {value!r}")
    if lo < 0:
        fail("F_min", f"must be >= 0 (a feed cannot be withdrawn), got {lo!r}")
    if hi < lo:
        fail("F_max", f"must be >= F_min ({lo!r}), got {hi!r}")
    V0 = float(initial[VOLUME])
    if V_max is None:
        return
    if V_max < V0:
        fail("V_max", f"{V_max!r} is below the initial volume V = {V0!r}; no feed profile is feasible")
    if V0 + lo * horizon > V_max * (1 + 1e-12):
        fail("V_max", f"{V_max!r} is exceeded by the smallest feed: F_min = {lo!r} for "
                      f"{horizon!r} h fills V to {V0 + lo * horizon:.6g}")


def synthetic_experiment(initial: Mapping[str, float], Sf: float, horizon: float,
                         F: float) -> Experiment:
    """The batch to optimize as an experiment without data: constant feed ``F`` (the start)."""
    return Experiment(name=_EXPERIMENT_NAME, initial={k: float(v) for k, v in initial.items()},
                      inputs={FEED: float(F), FEED_CONCENTRATION: float(Sf)},
                      horizon=float(horizon), measurements=pd.DataFrame(index=pd.Index([], name="time")))


def aligned_discretization(disc: Discretization, n_intervals: int) -> Discretization:
    """``disc`` with ``nfe`` rounded up to a multiple of ``n_intervals`` (feed steps on element edges)."""
    nfe = int(math.ceil(disc.nfe / n_intervals) * n_intervals)
    if nfe != disc.nfe:
        _log.info(f"discretization.nfe {disc.nfe} -> {nfe}: a multiple of the {n_intervals} feed "
                  "intervals, so every feed step falls on a finite-element boundary")
    return Discretization(nfe=nfe, ncp=disc.ncp)


def _build(model: HybridModel, experiment: Experiment, disc: Discretization, kinetics: KineticsMode):
    """The flowsheet (and the network, weights fixed, unless REFERENCE): ``(model, block, net)``."""
    if kinetics is KineticsMode.REFERENCE:
        m = pyo.ConcreteModel(name="feed_reference")
        m.experiment = pyo.Block([experiment.name])
        build_experiment_flowsheet(m.experiment[experiment.name], model.definition, experiment, disc,
                                   dict(model.physics), model.network_inputs,
                                   kinetics=KineticsMode.REFERENCE, unit_config=model.unit_config)
        return m, m.experiment[experiment.name], None
    if model.spec is None:
        raise OptimizationRequestError("spec", "a trained network is needed unless kinetics is "
                                       f"{KineticsMode.REFERENCE.value!r}")
    m = build_prediction_model(model, experiment, disc=disc, lift_bounds=False)
    return m, m.experiment[experiment.name], m.net


def _solve(m: pyo.ConcreteModel, net, options: dict | None, tee: bool, what: str,
           user_scaling: bool = False) -> SolveResult:
    """Solve; a solver that cannot run becomes an :class:`OptimizationError`.

    With ``user_scaling`` the model is scaled by the IDAES scalers of its units and
    network (:func:`idaes_hybrid.model.scaling.scale_hybrid_model`) and the factors go to the solver.
    """
    if user_scaling:
        from idaes_hybrid.model.scaling import scale_hybrid_model

        scale_hybrid_model(m, net)
    try:
        return solve_hybrid(m, net, options, tee=tee, user_scaling=user_scaling)
    except (SolverCrashError, SolverNotFoundError) as err:
        raise OptimizationError(f"{what}: the solver did not run ({err})") from err


def feed_trajectories(blk: pyo.Block, definition: HybridModelDefinition) -> dict[str, np.ndarray]:
    """``time``, states and learned terms of a solved batch block, and its feed ``F``."""
    traj = trajectories(blk, definition)
    traj[FEED] = np.array([pyo.value(blk.fs.unit.F[t]) for t in blk.fs.time])
    return traj


def _product_mass(unit, tf: float) -> float:
    return float(pyo.value(getattr(unit, PRODUCT)[tf] * getattr(unit, VOLUME)[tf]))


def _initialize(m: pyo.ConcreteModel, net, definition: HybridModelDefinition, unit, F0: float,
                solver_options: dict | None, start: FeedProfile | None = None) -> None:
    """Simulate the constant feed ``F0`` (or the profile ``start``; square, nonnegativity
    bounds lifted as in a prediction: a model may be infeasible with them at a non-optimal
    feed), then restore the bounds and free the profile."""
    t0 = unit.flowsheet().time.first()
    lower = {n: getattr(unit, n)[t0].lb for n in definition.nonnegative_states}
    for name in lower:
        getattr(unit, name).setlb(None)
    m.F_interval.fix()
    m.objective.deactivate()
    m.volume_limit.deactivate()
    m.init_objective = pyo.Objective(expr=0.0)
    try:
        # the unit's Initializer marches the elements first (as prediction does), with
        # the feed fixed at F0 so the unit alone is square
        for k in m.feed_intervals:
            m.F_interval[k].set_value(F0 if start is None else start.values[k])
        for t in unit.flowsheet().time:
            unit.F[t].fix(F0 if start is None else start.value_at(t))
        m.feed_profile.deactivate()
        try:
            initialize_hybrid_units(m, net)
        except InitializationError as err:
            _log.warning(f"initializer failed ({err}); solving the constant feed from the "
                         "current point")
        finally:
            unit.F.unfix()
            m.feed_profile.activate()
        init = _solve(m, net, solver_options, False, "initialization")
        if not init.ok:
            what = f"constant F = {F0:.4g}" if start is None else "the start profile"
            _log.warning(f"initialization with {what} ended {init.status.value}; "
                         "optimizing from the current point")
    finally:
        m.del_component(m.init_objective)
        for name, lb in lower.items():
            getattr(unit, name).setlb(lb)
        m.F_interval.unfix()
        m.objective.activate()
        m.volume_limit.activate()


def _add_feed_problem(m: pyo.ConcreteModel, unit, time_set, request: FeedRequest) -> FeedProfile:
    """Free the feed as a piecewise-constant profile (``m.F_interval``), limit the volume and
    define the product mass (``m.product_mass``); the starting (filling) profile."""
    lo, hi = (float(f) for f in request.F_bounds)
    F0 = request.filling_feed
    profile = FeedProfile.uniform([F0] * request.n_intervals, request.horizon)
    m.feed_intervals = pyo.Set(initialize=range(request.n_intervals), ordered=True)
    m.F_interval = pyo.Var(m.feed_intervals, bounds=(lo, hi), initialize=F0,
                           units=pyunits.get_units(unit.F[time_set.first()]),
                           doc="Feed on each interval")
    unit.F.unfix()
    m.feed_profile = pyo.Constraint(
        time_set, rule=lambda _, t: unit.F[t] == m.F_interval[profile.interval_of(t)])
    volume = getattr(unit, VOLUME)
    v_units = pyunits.get_units(volume[time_set.first()])
    m.volume_limit = pyo.Constraint(
        time_set, rule=lambda _, t: volume[t] <= float(request.V_max) * v_units)
    tf = time_set.last()
    m.product_mass = pyo.Expression(expr=getattr(unit, PRODUCT)[tf] * volume[tf])
    return profile


def _infeasible_hint(result: SolveResult, kinetics: KineticsMode) -> str:
    """Why a hybrid model's feed problem is infeasible, most of the time."""
    if result.status is not SolveStatus.INFEASIBLE or kinetics is not KineticsMode.EXTERNAL:
        return ""
    return ("; a learned rate that stays above zero where a consumed state reaches zero (mu > 0 "
            "at S = 0, see learned_rate.png) makes X, P, S >= 0 impossible to keep with any "
            "feed unless the unit's uptake limit is on ([unit] uptake_limit = true, the "
            "bioreactor's default in optimizations): more data near S = 0, a larger network, "
            "trust_region = true or a shorter horizon help")


def _proximal_term(m: pyo.ConcreteModel, proximal: tuple[FeedProfile, float] | None,
                   F_bounds: tuple[float, float]):
    """``w * sum_k ((F_k - F_ref_k) / (F_max - F_min))^2`` in the product's units (0 if none)."""
    if proximal is None:
        return 0.0
    ref, weight = proximal
    if len(ref.values) != len(m.feed_intervals):
        raise OptimizationRequestError("proximal", f"the reference feed has {len(ref.values)} "
                                       f"intervals, the request {len(m.feed_intervals)}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0 \
            or not math.isfinite(weight):
        raise OptimizationRequestError("proximal", f"weight must be a finite number >= 0, got {weight!r}")
    f_units, p_units = (pyunits.get_units(e) for e in (m.F_interval[0], m.product_mass))
    f_units, p_units = (1.0 if u is None else u for u in (f_units, p_units))
    span = max(F_bounds[1] - F_bounds[0], 1e-12) * f_units
    return float(weight) * p_units * sum(((m.F_interval[k] - ref.values[k] * f_units) / span) ** 2
                                         for k in m.feed_intervals)


def _start_profile(initial_feed: FeedProfile | None, profile: FeedProfile,
                   request: FeedRequest) -> FeedProfile | None:
    """``initial_feed`` on the request's intervals, clipped to the feed bounds."""
    if initial_feed is None:
        return None
    if len(initial_feed.values) != request.n_intervals:
        raise OptimizationRequestError("initial_feed", f"has {len(initial_feed.values)} "
                                       f"intervals, the request {request.n_intervals}")
    lo, hi = (float(f) for f in request.F_bounds)
    return FeedProfile(profile.edges, tuple(min(max(v, lo), hi) for v in initial_feed.values))


def optimize_feed(model: HybridModel, request: FeedRequest, *,
                  kinetics: KineticsMode = KineticsMode.EXTERNAL,
                  input_box: InputBox | None = None, tee: bool = False, user_scaling: bool = False,
                  proximal: tuple[FeedProfile, float] | None = None,
                  initial_feed: FeedProfile | None = None) -> FeedOptimizationResult:
    """Find the piecewise-constant feed that maximizes the final product mass.

    Parameters
    ----------
    model : HybridModel
        The hybrid model (fed-batch contract: inputs ``F``, ``Sf``; states ``P``, ``V``)
        with its trained network (weights fixed; ignored with ``KineticsMode.REFERENCE``,
        whose ``physics`` hold the reference's parameters, e.g. ``mu_max``, ``Ks``). Its
        ``nfe`` is rounded up to a multiple of ``request.n_intervals``.
    request : FeedRequest
        The batch and the feed's limits.
    kinetics : KineticsMode
        ``EXTERNAL``: the network; ``REFERENCE``: the unit's true kinetics.
    input_box : InputBox, optional
        Trust region: the network's inputs stay inside this box at every time point
        (``SavedModel.input_box``, the range the training covered); ignored with
        ``KineticsMode.REFERENCE``.
    tee : bool
        Stream the solver log.
    user_scaling : bool
        Scale the model with the IDAES scalers of its unit and network.
    proximal : (FeedProfile, float), optional
        ``(F_ref, w)``: subtract ``w * sum_k ((F_k - F_ref_k) / (F_max - F_min))^2`` from
        the objective (``w`` in the objective's units, >= 0): among feeds the model rates
        (nearly) equal, the one closest to ``F_ref`` (a closed loop's best batch so far).
    initial_feed : FeedProfile, optional
        Start the optimization from this feed (same intervals, clipped to the bounds)
        instead of the constant feed that just fills the reactor to ``V_max``.

    Returns
    -------
    FeedOptimizationResult

    Raises
    ------
    OptimizationRequestError
        Invalid or infeasible request (before any solve); the message names the field.
    OptimizationError
        Wrong degrees of freedom, or the solve did not end optimal or acceptable.
    """
    kinetics, definition = KineticsMode(kinetics), model.definition
    request.check(definition)
    start, F0, n_intervals = time.perf_counter(), request.filling_feed, request.n_intervals
    exp = synthetic_experiment(request.initial, request.Sf, request.horizon, F0)
    m, blk, net = _build(model, exp, aligned_discretization(model.discretization, n_intervals), kinetics)
    unit, time_set = blk.fs.unit, blk.fs.time
    profile = _add_feed_problem(m, unit, time_set, request)
    if input_box is not None and kinetics is KineticsMode.EXTERNAL:
        n = add_input_box_constraints(m, "trust_region", input_box,
                                      (unit.network_input_vars(t) for t in time_set))
        _log.info(f"feed optimization: trust region on {n} network inputs")
    m.objective = pyo.Objective(expr=-m.product_mass + _proximal_term(m, proximal, request.F_bounds),
                                sense=pyo.minimize)
    dof = degrees_of_freedom(m)
    if dof != n_intervals:
        raise OptimizationError(f"optimization model has {dof} degrees of freedom, expected "
                                f"{n_intervals} (one per feed interval): an input or state left "
                                "free or fixed by mistake?")
    _initialize(m, net, definition, unit, F0, model.solver_options_dict,
                _start_profile(initial_feed, profile, request))
    result = _solve(m, net, model.solver_options_dict, tee, "feed optimization", user_scaling)
    if not result.ok:
        raise OptimizationError(f"feed optimization ({kinetics.value} kinetics) failed: "
                                f"{result.status.value} after {result.iterations} iterations "
                                f"({result.termination_message})" + _infeasible_hint(result, kinetics))
    values = tuple(float(pyo.value(m.F_interval[k])) for k in m.feed_intervals)
    wall = time.perf_counter() - start
    out = FeedOptimizationResult(
        profile=FeedProfile(profile.edges, values), trajectories=feed_trajectories(blk, definition),
        product_mass=_product_mass(unit, time_set.last()), status=result.status, iterations=result.iterations,
        wall_time_s=wall, kinetics=kinetics, solver=result.solver_name)
    _log.info(f"feed optimization ({kinetics.value}): product {out.product_mass:.5g} g, "
              f"{result.status.value} after {result.iterations} iterations in {wall:.1f} s")
    return out


def evaluate_feed_on_reference(model: HybridModel, initial: Mapping[str, float], Sf: float,
                               profile: FeedProfile) -> FeedEvaluation:
    """Simulate ``profile`` with the unit's reference (true) kinetics; the product it really gives.

    Parameters
    ----------
    model : HybridModel
        The model with the reference parameters in its ``physics`` (its network is not
        used); its ``nfe`` is rounded up to a multiple of the profile's intervals.
    initial : Mapping[str, float]
        Initial value of every state.
    Sf : float
        Feed substrate concentration.
    profile : FeedProfile
        The feed to apply on ``[0, profile.horizon]``.

    Raises
    ------
    OptimizationRequestError
        Invalid request (a negative feed, a bad initial state).
    OptimizationError
        The simulation did not converge.
    """
    n = len(profile.values)
    if min(profile.values) < 0:
        raise OptimizationRequestError("profile.values", f"a feed must be >= 0, got {min(profile.values)!r}")
    definition = model.definition
    check_feed_request(definition, initial, Sf, profile.horizon, n,
                       (0.0, max(profile.values)), None)
    exp = synthetic_experiment(initial, Sf, profile.horizon, profile.values[0])
    m, blk, _ = _build(model, exp, aligned_discretization(model.discretization, n), KineticsMode.REFERENCE)
    unit = blk.fs.unit
    for t in blk.fs.time:
        unit.F[t].fix(profile.value_at(t))
    for name in definition.nonnegative_states:  # a square simulation: a state the collocation
        getattr(unit, name).setlb(None)          # takes a hair below 0 is no infeasibility
    dof = degrees_of_freedom(m)
    if dof != 0:
        raise OptimizationError(f"reference simulation has {dof} degrees of freedom, expected 0")
    m.objective = pyo.Objective(expr=0.0)
    try:  # march the elements first, as a prediction does
        initialize_hybrid_units(m)
    except InitializationError as err:
        _log.warning(f"reference simulation: initializer failed ({err}); solving from the start")
    result = _solve(m, None, model.solver_options_dict, False, "reference simulation")
    if not result.ok:
        raise OptimizationError(f"reference simulation of the feed profile failed: "
                                f"{result.status.value} ({result.termination_message})")
    mass = _product_mass(unit, blk.fs.time.last())
    _log.info(f"feed profile on the reference model: product {mass:.5g} g")
    return FeedEvaluation(profile, feed_trajectories(blk, definition), mass)
