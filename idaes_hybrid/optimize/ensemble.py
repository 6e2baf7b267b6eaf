"""Feed optimization over the members of an ensemble at once.

A model trained with ``[uncertainty] method = "ensemble"`` keeps its member networks:
networks that fit the training data about equally well and disagree where the data say
little. :func:`optimize_feed_ensemble` builds one copy of the batch's flowsheet per member
(each with its network, weights fixed: the training formulation), shares the decisions,
the piecewise-constant feed ``F_k``, between them, keeps every copy inside the limits
(``V <= V_max``, the same in every copy; states ``>= 0``) and maximizes::

    expected:    (1/K) sum_m P_m(tf) V_m(tf)
    worst-case:  min_m  P_m(tf) V_m(tf)       (as  max z  s.t.  z <= P_m(tf) V_m(tf);
                                               started from the expected-product optimum)

A feed that only one member rates highly is not chosen: the optimum is one the ensemble
agrees on, which is what keeps it good on the plant when the nominal model is wrong
away from its data.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.environ import units as pyunits

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.model.initialization import initialize_hybrid_units
from idaes_hybrid.model.trust_region import InputBox, add_input_box_constraints
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.optimize.feed import (
    PRODUCT, VOLUME, FeedProfile, FeedRequest, OptimizationError, OptimizationRequestError,
    aligned_discretization, feed_trajectories, synthetic_experiment)
from idaes_hybrid.solve.batched import solve_or_raise
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.predict import add_prediction_experiment

_log = idaeslog.getLogger(__name__)


class EnsembleObjective(str, enum.Enum):
    """How an ensemble optimization combines its members' objectives: their mean or their worst."""

    EXPECTED = "expected"
    WORST_CASE = "worst-case"


@dataclass
class EnsembleFeedResult:
    """The feed profile optimal for the whole ensemble.

    Attributes
    ----------
    profile
        Optimal ``F`` per interval (shared by every member).
    objective
        ``EXPECTED`` or ``WORST_CASE``.
    product_masses
        ``P(tf) V(tf)`` of each member under the profile (g).
    trajectories
        Per member: ``time``, states, learned terms and ``F``.
    status, iterations, wall_time_s
        The solve and the whole call.
    """

    profile: FeedProfile
    objective: EnsembleObjective
    product_masses: list[float]
    trajectories: list[dict[str, np.ndarray]] = field(repr=False)
    status: str
    iterations: int | None
    wall_time_s: float

    @property
    def product_mass(self) -> float:
        """The optimized objective: the members' mean or their smallest product mass."""
        masses = np.asarray(self.product_masses)
        return float(masses.mean() if self.objective is EnsembleObjective.EXPECTED else masses.min())

    def to_dict(self) -> dict:
        """JSON-ready summary (trajectories left out)."""
        return {"objective": self.objective.value, "product_mass": self.product_mass,
                "member_product_masses": list(self.product_masses), "status": self.status,
                "iterations": self.iterations, "wall_time_s": self.wall_time_s,
                "feed_profile": self.profile.to_dict()}


def _member_blocks(m: pyo.ConcreteModel, model: HybridModel, members: Sequence[NetworkSpec],
                   request: FeedRequest) -> list:
    """One flowsheet copy per member (``m.member[k]``), marched at the filling feed: the
    members' experiment blocks."""
    exp = synthetic_experiment(request.initial, request.Sf, request.horizon, request.filling_feed)
    disc = aligned_discretization(model.discretization, request.n_intervals)
    m.member = pyo.Block(range(len(members)))
    blocks = []
    for k, spec in enumerate(members):
        blk, net = add_prediction_experiment(m.member[k], model.replace(spec=spec), exp, disc,
                                             lift_bounds=False)
        try:
            initialize_hybrid_units(m.member[k], net)
        except InitializationError as err:
            _log.warning(f"ensemble optimization: member {k} not marched ({err})")
        blocks.append(blk)
    return blocks


def _shared_feed(m: pyo.ConcreteModel, units: list, request: FeedRequest) -> FeedProfile:
    """The shared decisions ``m.F_interval[k]``, linked to every member's feed, and the
    volume limit (on the first copy: in a fed batch ``dV/dt = F`` whatever the kinetics, so
    every copy has the same volume, and repeating its limit would make the constraints
    linearly dependent)."""
    profile = FeedProfile.uniform([request.filling_feed] * request.n_intervals, request.horizon)
    time_set = units[0].flowsheet().time
    m.feed_intervals = pyo.Set(initialize=range(request.n_intervals), ordered=True)
    m.F_interval = pyo.Var(m.feed_intervals, bounds=tuple(float(f) for f in request.F_bounds),
                           initialize=request.filling_feed,
                           units=pyunits.get_units(units[0].F[time_set.first()]))
    m.feed_profile = pyo.ConstraintList()
    m.volume_limit = pyo.ConstraintList()
    for unit in units:
        unit.F.unfix()
        for t in unit.flowsheet().time:
            m.feed_profile.add(unit.F[t] == m.F_interval[profile.interval_of(t)])
    volume = getattr(units[0], VOLUME)
    v_units = pyunits.get_units(volume[time_set.first()])
    for t in time_set:
        m.volume_limit.add(volume[t] <= float(request.V_max) * v_units)
    return profile


def _objectives(m: pyo.ConcreteModel, units: list) -> None:
    """The members' product masses and both objectives over them (``m.expected`` active,
    ``m.worst_case_objective`` with its epigraph ``m.worst <= P_m V_m`` inactive)."""
    tf = units[0].flowsheet().time.last()
    m.product_mass = pyo.Expression(range(len(units)), rule=lambda _, k: (
        getattr(units[k], PRODUCT)[tf] * getattr(units[k], VOLUME)[tf]))
    m.expected = pyo.Objective(expr=-sum(m.product_mass.values()) / len(units))
    m.worst = pyo.Var(initialize=min(pyo.value(e) for e in m.product_mass.values()),
                      units=pyunits.get_units(m.product_mass[0]))
    m.worst_case = pyo.Constraint(range(len(units)), rule=lambda _, k: m.worst <= m.product_mass[k])
    m.worst_case_objective = pyo.Objective(expr=-m.worst)
    m.worst.fix()
    m.worst_case.deactivate()
    m.worst_case_objective.deactivate()


def _to_worst_case(m: pyo.ConcreteModel) -> None:
    """Switch from the expected to the worst-case objective, ``m.worst`` at the members'
    smallest product of the current point."""
    m.worst.set_value(min(pyo.value(e) for e in m.product_mass.values()))
    m.worst.unfix()
    m.worst_case.activate()
    m.expected.deactivate()
    m.worst_case_objective.activate()


def optimize_feed_ensemble(model: HybridModel, members: Sequence[NetworkSpec], request: FeedRequest,
                           *, objective: EnsembleObjective | str = EnsembleObjective.EXPECTED,
                           input_box: InputBox | None = None,
                           tee: bool = False) -> EnsembleFeedResult:
    """Find the piecewise-constant feed best for every member of an ensemble at once.

    Parameters
    ----------
    model : HybridModel
        The hybrid model (fed-batch contract) whose network the members replace.
    members : Sequence[NetworkSpec]
        The ensemble's networks (``uncertainty.members`` of a saved model), at least 2.
    request : FeedRequest
        The batch and the feed's limits.
    objective : EnsembleObjective
        ``EXPECTED`` (the members' mean product) or ``WORST_CASE`` (their smallest).
    input_box : InputBox, optional
        Trust region on every member's network inputs.
    tee : bool
        Stream the solver log.

    Raises
    ------
    OptimizationRequestError
        An invalid request or fewer than 2 members (before any solve).
    OptimizationError
        The solve did not end optimal or acceptable.
    """
    start, objective = time.perf_counter(), EnsembleObjective(objective)
    request.check(model.definition)
    if len(members) < 2:
        raise OptimizationRequestError("members", f"an ensemble needs at least 2 networks, got {len(members)}")
    m = pyo.ConcreteModel(name="feed_ensemble")
    blocks = _member_blocks(m, model, members, request)
    units = [blk.fs.unit for blk in blocks]
    profile = _shared_feed(m, units, request)
    if input_box is not None:
        add_input_box_constraints(m, "trust_region", input_box,
                                  (u.network_input_vars(t) for u in units for t in u.flowsheet().time))
    _objectives(m, units)
    nets = [m.member[k].net for k in range(len(members))]
    what = f"ensemble feed optimization ({objective.value})"
    res = solve_or_raise(m, nets, model.solver_options_dict, tee, OptimizationError,
                         f"{what}, expected-product stage" if objective is EnsembleObjective.WORST_CASE
                         else what)
    if objective is EnsembleObjective.WORST_CASE:  # the non-smooth one from the smooth optimum
        _to_worst_case(m)
        res = solve_or_raise(m, nets, model.solver_options_dict, tee, OptimizationError, what)
    values = tuple(float(pyo.value(m.F_interval[k])) for k in m.feed_intervals)
    trajs = [feed_trajectories(blk, model.definition) for blk in blocks]
    out = EnsembleFeedResult(FeedProfile(profile.edges, values), objective,
                             [float(pyo.value(e)) for e in m.product_mass.values()], trajs,
                             res.status.value, res.iterations, time.perf_counter() - start)
    _log.info(f"ensemble feed optimization ({objective.value}, {len(members)} members): "
              f"product {out.product_mass:.5g} g, {res.status.value} after {res.iterations} iterations")
    return out
