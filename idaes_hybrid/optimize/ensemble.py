"""Feed optimization over the members of an ensemble at once.

A model trained with ``[uncertainty] method = "ensemble"`` keeps its member networks:
networks that fit the training data about equally well and disagree where the data say
little. :func:`optimize_feed_ensemble` builds one copy of the batch's flowsheet per member
(each with its network, weights fixed: the training formulation), shares the decisions,
the piecewise-constant feed ``F_k``, between them, keeps every copy inside the limits
(``V <= V_max`` on the first copy, whose volume every copy shares; states ``>= 0``) and
maximizes::

    expected:    (1/K) sum_m P_m(tf) V_m(tf)
    worst-case:  min_m  P_m(tf) V_m(tf)       (as  max z  s.t.  z <= P_m(tf) V_m(tf))

on the one-unit flowsheet (:func:`~idaes_hybrid.optimize.flowsheet_ensemble.optimize_flowsheet_ensemble`).

A feed that only one member rates highly is not chosen: the optimum is one the ensemble
agrees on, which is what keeps it good on the plant when the nominal model is wrong
away from its data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

import idaes.logger as idaeslog

from idaes_hybrid.model.trust_region import InputBox
from idaes_hybrid.model.unit_flowsheet import term_name, unit_flowsheet
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.optimize.fed_batch_objective import FEED, FeedObjective, SharedVolumeLimit
from idaes_hybrid.optimize.feed import (
    FeedProfile, FeedRequest, OptimizationError, OptimizationRequestError, feed_problem,
    feed_trajectories, solved_from_filling_or_f_min)
from idaes_hybrid.optimize.flowsheet_ensemble import EnsembleObjective, optimize_flowsheet_ensemble
from idaes_hybrid.training.hybrid_model import HybridModel

_log = idaeslog.getLogger(__name__)


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
    definition = model.definition
    hf = unit_flowsheet(definition, model.physics, model.network_inputs, model.unit_config)
    problem, term = feed_problem(request, definition, model.discretization), term_name(definition)
    what = f"ensemble feed optimization ({objective.value})"

    def solve(start_at: dict | None):
        return optimize_flowsheet_ensemble(
            hf, problem.scenario, [{term: spec} for spec in members], [problem.control],
            FeedObjective(), SharedVolumeLimit(float(request.V_max)), problem.segments, problem.nfe,
            problem.ncp, model.solver_options_dict, objective,
            {term: input_box} if input_box is not None else None, tee, start=start_at)

    res = solved_from_filling_or_f_min(
        solve, None, request, True, lambda err, retried: OptimizationError(
            f"{what} failed{' from the filling feed (infeasible) and from F_min' if retried else ''}: {err}"), what)
    blocks = [res.model.member[k].experiment[problem.scenario.name] for k in range(len(members))]
    out = EnsembleFeedResult(FeedProfile(tuple(res.segment_times), tuple(res.profiles[FEED])), objective,
                             [-v for v in res.member_objectives],
                             [feed_trajectories(blk, hf, definition) for blk in blocks],
                             res.status, res.iterations, time.perf_counter() - start)
    _log.info(f"ensemble feed optimization ({objective.value}, {len(members)} members): "
              f"product {out.product_mass:.5g} g, {res.status} after {res.iterations} iterations")
    return out

