"""Dynamic optimization of a fed-batch feed profile with a trained hybrid model.

The model runs as its one-unit flowsheet (:mod:`idaes_hybrid.model.unit_flowsheet`), the
trained network attached with its weights fixed (one formulation for training, prediction
and optimization), through :func:`~idaes_hybrid.optimize.flowsheet.optimize_flowsheet`,
with the feed flow ``F(t)`` freed as a piecewise-constant profile on equal intervals::

    max  P(tf) V(tf)                   (product mass)
    s.t. the unit's balances and the network (or, with KineticsMode.REFERENCE,
         the unit's own Monod kinetics, no network)
         F(t) = F_k   for t in (t_k, t_k+1],   F_min <= F_k <= F_max
         V(tf) <= V_max (F >= 0: every V(t) too),  X, P, S >= 0   at every time point

:func:`evaluate_feed_on_reference` applies a profile to the true (reference)
model as a square simulation: the independent check of a hybrid-optimal feed.
The model must have the fed-batch contract: inputs ``F`` and ``Sf``, states
``P`` and ``V``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.model.contract import KineticsMode
from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.inputs import InputProfile
from idaes_hybrid.model.trust_region import InputBox
from idaes_hybrid.model.unit_flowsheet import term_name, true_build, unit_flowsheet
from idaes_hybrid.optimize.fed_batch_objective import (
    FEED, FEED_CONCENTRATION, PRODUCT, VOLUME, FeedObjective, VolumeLimit)
from idaes_hybrid.optimize.flowsheet import Control, FlowsheetOptimizationError, optimize_flowsheet
from idaes_hybrid.solve.solver import SolveResult, SolveStatus
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet, variable_series
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.predict import PredictionError
from idaes_hybrid.training.problem import Discretization

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


def check_feed_model(definition: HybridModelDefinition, prefix: str = "") -> None:
    """Raise :class:`OptimizationRequestError` (field ``model``) unless the model has the feed
    optimization's inputs and states."""
    missing = [n for n in (FEED, FEED_CONCENTRATION) if n not in definition.input_names]
    missing += [n for n in (PRODUCT, VOLUME) if n not in definition.state_names]
    if missing:
        raise OptimizationRequestError(
            prefix + "model", f"{definition.name!r} has no {missing[0]!r}; feed optimization needs "
                              f"inputs {FEED!r}, {FEED_CONCENTRATION!r} and states {PRODUCT!r}, {VOLUME!r}")


def check_feed_request(definition: HybridModelDefinition, initial: Mapping[str, float], Sf: float,
                       horizon: float, n_intervals: int, F_bounds: Sequence[float],
                       V_max: float | None, prefix: str = "") -> None:
    """Raise :class:`OptimizationRequestError` naming the first invalid or infeasible field.

    ``V_max=None`` skips the volume checks. ``prefix`` is put before field names
    (``"optimization."`` in a config).
    """
    def fail(name: str, problem: str) -> None:
        raise OptimizationRequestError(prefix + name, problem)

    check_feed_model(definition, prefix)
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


def aligned_discretization(disc: Discretization, n_intervals: int) -> Discretization:
    """``disc`` with ``nfe`` rounded up to a multiple of ``n_intervals`` (feed steps on element edges)."""
    nfe = int(math.ceil(disc.nfe / n_intervals) * n_intervals)
    if nfe != disc.nfe:
        _log.info(f"discretization.nfe {disc.nfe} -> {nfe}: a multiple of the {n_intervals} feed "
                  "intervals, so every feed step falls on a finite-element boundary")
    return Discretization(nfe=nfe, ncp=disc.ncp)


def _flowsheet(model: HybridModel, kinetics: KineticsMode) -> HybridFlowsheet:
    """The model's one-unit flowsheet: with its network term, or (``REFERENCE``) the plant
    with the unit's own true term at ``model.physics``."""
    d = model.definition
    hf = unit_flowsheet(d, model.physics, model.network_inputs, model.unit_config)
    if kinetics is KineticsMode.EXTERNAL:
        return hf
    return HybridFlowsheet(true_build(d, model.physics, {}, model.unit_config), [], hf.variables,
                           hf.time_units)


@dataclass(frozen=True)
class FeedProblem:
    """The fed-batch request as a flowsheet optimization: the batch without data (its
    initial state and ``Sf``), the feed control starting at the filling feed, its
    intervals and the collocation grid (every feed step on an element boundary)."""

    scenario: FlowsheetExperiment
    control: Control
    segments: int
    nfe: int
    ncp: int


def feed_problem(request: FeedRequest, definition: HybridModelDefinition,
                 disc: Discretization) -> FeedProblem:
    """The :class:`FeedProblem` of ``request`` on ``definition``'s unit discretized by ``disc``."""
    fixed = definition.initial_states
    scenario = FlowsheetExperiment(
        _EXPERIMENT_NAME, float(request.horizon), pd.DataFrame(index=pd.Index([], name="time")),
        initial={k: float(v) for k, v in request.initial.items() if k in fixed},
        inputs={FEED_CONCENTRATION: float(request.Sf)})
    lo, hi = (float(f) for f in request.F_bounds)
    grid = aligned_discretization(disc, int(request.n_intervals))
    return FeedProblem(scenario, Control(FEED, lo, hi, request.filling_feed),
                       int(request.n_intervals), grid.nfe, grid.ncp)


def feed_trajectories(blk: pyo.Block, hf: HybridFlowsheet,
                      definition: HybridModelDefinition) -> dict[str, np.ndarray]:
    """``time``, states and learned terms of a solved batch block, and its feed ``F``."""
    names = [*definition.state_names, *definition.learned_names, FEED]
    return {"time": np.array(list(blk.fs.time)), **variable_series(blk, hf, names)}


def solved_from_filling_or_f_min(solve: Callable[[dict | None], Any], start: dict | None,
                                 request: FeedRequest, retry: bool,
                                 failure: Callable[[FlowsheetOptimizationError, bool], Exception],
                                 context: str = "feed optimization (trust region)"):
    """``solve(start)``; with ``retry``, infeasible from the filling feed (``start`` None),
    once more from ``F_min``: the filling feed runs S high early, which can lie far outside a
    trust region or where a learned rate turns negative, while ``F_min`` keeps every state
    near the data.

    ``failure(err, retried)`` builds the exception raised for a failed solve (``retried``:
    the ``F_min`` start failed too).
    """
    try:
        return solve(start)
    except FlowsheetOptimizationError as err:
        infeasible = err.result is not None and err.result.status is SolveStatus.INFEASIBLE
        if not (retry and start is None and infeasible):
            raise failure(err, False) from err
        _log.info(f"{context}: infeasible from the filling feed ({err}); starting again from F_min")
    try:
        return solve({FEED: [float(request.F_bounds[0])] * int(request.n_intervals)})
    except FlowsheetOptimizationError as again:
        raise failure(again, True) from again


def _infeasible_hint(result: SolveResult | None, kinetics: KineticsMode, trust_region: bool = False) -> str:
    """Why a hybrid model's feed problem is infeasible, most of the time."""
    if result is None or result.status is not SolveStatus.INFEASIBLE \
            or kinetics is not KineticsMode.EXTERNAL:
        return ""
    if trust_region:
        return ("; the trust region (every network input inside the range the training data "
                "cover, widened by trust_margin) leaves no feasible feed from the starts tried "
                "(the filling feed, then F_min): the request's start or its batch may lie outside "
                "the data; raise trust_margin or optimize without the trust region")
    return ("; a learned rate that stays above zero where a consumed state reaches zero (mu > 0 "
            "at S = 0, see learned_rate.png) makes X, P, S >= 0 impossible to keep with any "
            "feed unless the unit's uptake limit is on ([unit] uptake_limit = true, the "
            "bioreactor's default in optimizations): more data near S = 0, a larger network, "
            "trust_region = true or a shorter horizon help")


def _failure(err: FlowsheetOptimizationError, kinetics: KineticsMode,
             trust_region: bool = False) -> OptimizationError:
    """The :class:`OptimizationError` of a failed feed optimization: status, iterations, hint."""
    what, solved = f"feed optimization ({kinetics.value} kinetics) failed", err.result
    if solved is None:
        return OptimizationError(f"{what}: {err}")
    return OptimizationError(f"{what}: {solved.status.value} after {solved.iterations} iterations "
                             f"({solved.termination_message})"
                             + _infeasible_hint(solved, kinetics, trust_region))


def _pull(proximal: tuple[FeedProfile, float] | None, request: FeedRequest) -> tuple[float, dict | None]:
    """``(weight, centre)`` of the pull towards ``proximal``'s feed (``(0, None)`` if none)."""
    if proximal is None:
        return 0.0, None
    ref, weight = proximal
    if len(ref.values) != request.n_intervals:
        raise OptimizationRequestError("proximal", f"the reference feed has {len(ref.values)} "
                                       f"intervals, the request {request.n_intervals}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0 \
            or not math.isfinite(weight):
        raise OptimizationRequestError("proximal", f"weight must be a finite number >= 0, got {weight!r}")
    return float(weight), {FEED: _clipped(ref, request).values}


def _clipped(profile: FeedProfile, request: FeedRequest) -> FeedProfile:
    """``profile`` clipped to the request's feed bounds."""
    lo, hi = (float(f) for f in request.F_bounds)
    return FeedProfile(profile.edges, tuple(min(max(v, lo), hi) for v in profile.values))


def _start_profile(initial_feed: FeedProfile | None, request: FeedRequest) -> dict | None:
    """``initial_feed`` as the control's starting values, clipped to the feed bounds."""
    if initial_feed is None:
        return None
    if len(initial_feed.values) != request.n_intervals:
        raise OptimizationRequestError("initial_feed", f"has {len(initial_feed.values)} "
                                       f"intervals, the request {request.n_intervals}")
    return {FEED: _clipped(initial_feed, request).values}


def optimize_feed(model: HybridModel, request: FeedRequest, *,
                  kinetics: KineticsMode = KineticsMode.EXTERNAL,
                  input_box: InputBox | None = None, tee: bool = False, user_scaling: bool = False,
                  proximal: tuple[FeedProfile, float] | None = None,
                  initial_feed: FeedProfile | None = None) -> FeedOptimizationResult:
    """Find the piecewise-constant feed that maximizes the final product mass.

    The model runs as its one-unit flowsheet (:func:`~idaes_hybrid.model.unit_flowsheet.unit_flowsheet`)
    through :func:`~idaes_hybrid.optimize.flowsheet.optimize_flowsheet`: marched at the
    starting feed, the feed freed on equal intervals, ``-P(tf) V(tf)`` minimized with
    ``V(tf) <= V_max``.

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
        Kept for existing callers: the flowsheet path always scales the problem by the
        variables' magnitudes.
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
        The solve did not end optimal or acceptable (its status in the message).
    """
    kinetics, definition = KineticsMode(kinetics), model.definition
    request.check(definition)
    if kinetics is KineticsMode.EXTERNAL and model.spec is None:
        raise OptimizationRequestError("spec", "a trained network is needed unless kinetics is "
                                       f"{KineticsMode.REFERENCE.value!r}")
    tick = time.perf_counter()
    start, (pull, centre) = _start_profile(initial_feed, request), _pull(proximal, request)
    hf, problem = _flowsheet(model, kinetics), feed_problem(request, definition, model.discretization)
    term, external = term_name(definition), kinetics is KineticsMode.EXTERNAL
    boxes = {term: input_box} if input_box is not None and external else None

    def solve(start_at: dict | None):
        return optimize_flowsheet(
            hf, problem.scenario, {term: model.spec} if external else None, [problem.control],
            FeedObjective(), VolumeLimit(float(request.V_max)), problem.segments, problem.nfe,
            problem.ncp, model.solver_options_dict, boxes, start=start_at, pull=pull,
            pull_centre=centre, tee=tee)

    res = solved_from_filling_or_f_min(solve, start, request, boxes is not None,
                                       lambda err, _: _failure(err, kinetics, boxes is not None))
    wall = time.perf_counter() - tick
    out = FeedOptimizationResult(
        profile=FeedProfile(tuple(res.segment_times), tuple(res.profiles[FEED])),
        trajectories=feed_trajectories(res.model.experiment[problem.scenario.name], hf, definition),
        product_mass=-float(pyo.value(res.model.user_objective)), status=SolveStatus(res.status),
        iterations=res.iterations, wall_time_s=wall, kinetics=kinetics, solver=res.solver)
    _log.info(f"feed optimization ({kinetics.value}): product {out.product_mass:.5g} g, "
              f"{res.status} after {res.iterations} iterations in {wall:.1f} s")
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
    request = FeedRequest(initial, Sf, profile.horizon, n, (0.0, max(profile.values)), float("inf"))
    problem = feed_problem(request, definition, model.discretization)
    sc = problem.scenario
    run = FlowsheetExperiment(sc.name, sc.horizon, sc.measurements, initial=sc.initial, inputs={
        **sc.inputs, FEED: InputProfile(tuple(profile.edges[:-1]), tuple(profile.values))})
    hf = _flowsheet(model, KineticsMode.REFERENCE)
    try:
        sim = simulate_flowsheet(hf, run, None, problem.nfe, problem.ncp, (),
                                 model.solver_options_dict)
    except PredictionError as err:
        raise OptimizationError(f"reference simulation of the feed profile failed: {err}") from err
    blk = sim.model.experiment[sc.name]
    traj = feed_trajectories(blk, hf, definition)
    mass = float(traj[PRODUCT][-1] * traj[VOLUME][-1])
    _log.info(f"feed profile on the reference model: product {mass:.5g} g")
    return FeedEvaluation(profile, traj, mass)
