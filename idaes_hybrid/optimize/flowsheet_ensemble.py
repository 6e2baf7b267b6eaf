"""Optimization of a flowsheet's inputs over the members of an ensemble at once.

A flowsheet model trained with ``[uncertainty] method = "ensemble"`` keeps its member
networks: networks that fit the data about equally well and disagree where the data say
little. :func:`optimize_flowsheet_ensemble` builds one copy of the flowsheet per member
(``m.member[k]``, each with its networks, weights fixed: the training formulation), shares
the piecewise-constant controls between the copies, imposes the user's constraints on
every copy and minimizes the user's objective ``J_k`` of the copies as::

    expected:    (1/K) sum_k J_k
    worst-case:  max_k J_k          (as  min z  s.t.  z >= J_k  for every k; started from
                                     the expected objective's optimum, which is returned if
                                     the solve stops at its limit somewhere worse)

so a profile that only some members rate well is not chosen.

Where several members exhaust a resource at the optimum (a fed batch consuming all its
substrate: each member's objective has a ridge there, smoothed over ``S_lim``), their
ridges meet at the ensemble's optimum and Ipopt can crawl towards it with heavily
regularized steps. A solve that stops at its iteration limit at a feasible point returns
that point (status ``max_iterations``, with a warning) rather than nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import pyomo.environ as pyo

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.trust_region import InputBox
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.optimize.flowsheet import (
    Control, FlowsheetOptimizationError, FlowsheetOptimizationResult, add_controls, add_trust_region,
    add_user_constraints, call_user, control_profiles, solve_controls, starting_run)
from idaes_hybrid.solve.values import restore_values, unfixed_values
from idaes_hybrid.training.flowsheet_problem import add_networks, initialize_flowsheet, simulate_flowsheet
from idaes_hybrid.training.warm_start import start_at_simulation

_log = idaeslog.getLogger(__name__)


class EnsembleObjective(str, enum.Enum):
    """How an ensemble optimization combines its members' objectives: their mean or their worst."""

    EXPECTED = "expected"
    WORST_CASE = "worst-case"


@dataclass
class FlowsheetEnsembleResult(FlowsheetOptimizationResult):
    """The profiles optimal for the whole ensemble; ``objective`` is the combined value,
    ``member_objectives`` each member's objective at those profiles."""

    mode: EnsembleObjective = EnsembleObjective.EXPECTED
    member_objectives: list[float] = field(default_factory=list)


def _member_blocks(m: pyo.ConcreteModel, hf: HybridFlowsheet, exp: FlowsheetExperiment,
                   members: Sequence[Mapping[str, NetworkSpec]], nfe: int, ncp: int) -> tuple[list, list]:
    """One flowsheet copy per member, marched with its networks: the experiment blocks and
    each member's networks."""
    m.member = pyo.Block(range(len(members)))
    blocks, nets = [], []
    for k, specs in enumerate(members):
        mb = m.member[k]
        mb.experiment = pyo.Block([exp.name])
        blk = mb.experiment[exp.name]
        hf.build_experiment(blk, exp, nfe, ncp, fixed_weights=True)
        member_nets = add_networks(mb, hf, hf.specs_by_term(specs), Formulation.BATCHED, [exp.name])
        for net in member_nets:
            net.fix_weights()
        try:
            initialize_flowsheet(blk, member_nets)
        except InitializationError as err:  # simulated as predict does, else Ipopt starts from the partial march
            _member_simulated(hf, exp, (nfe, ncp), (blk, member_nets), k, err)
        blocks.append(blk)
        nets.append(member_nets)
    return blocks, nets


def _member_simulated(hf: HybridFlowsheet, exp: FlowsheetExperiment, grid: tuple[int, int],
                      copy: tuple[pyo.Block, list], k: int, err: Exception) -> None:
    """Member ``k``'s march failed (``err``): start its copy (experiment block and networks)
    at ``predict``'s simulation on the ``(nfe, ncp)`` grid
    (:func:`~idaes_hybrid.training.warm_start.start_at_simulation`), the networks' outputs
    at their values there; or warn that Ipopt starts from the partial march."""
    blk, nets = copy
    sim_err = start_at_simulation(lambda e, specs: simulate_flowsheet(hf, e, specs, *grid), exp, nets, blk)
    if sim_err is not None:
        _log.warning(f"ensemble optimization: member {k} not marched ({err}) nor simulated ({sim_err}): "
                     "its copy starts from the partial march")
        return
    for net in nets:
        net.initialize_points(outputs=True)
    _log.info(f"ensemble optimization: member {k} started at its simulation (the march did not converge)")


def _worst(m: pyo.ConcreteModel) -> float:
    """The largest member objective at the model's current values."""
    return max(float(pyo.value(e)) for e in m.member_objective.values())


def _combined_objective(m: pyo.ConcreteModel, values: list, mode: EnsembleObjective):
    """The expected or worst-case objective over the members' ``values`` (expressions)."""
    if mode is EnsembleObjective.EXPECTED:
        return sum(values) / len(values)
    units = pyo.units.get_units(values[0])
    m.worst = pyo.Var(initialize=max(pyo.value(v) for v in values), units=units)
    m.worst_bound = pyo.Constraint(range(len(values)), rule=lambda b, k: m.worst >= values[k])
    return m.worst


def optimize_flowsheet_ensemble(
    hf: HybridFlowsheet,
    experiment: FlowsheetExperiment,
    members: Sequence[Mapping[str, NetworkSpec]],
    controls: Sequence[Control],
    objective: Callable[[pyo.Block], object],
    constraints: Callable[[pyo.Block], Mapping[str, object]] | None = None,
    segments: int = 6,
    nfe: int = 40,
    ncp: int = 3,
    options: dict | None = None,
    mode: EnsembleObjective | str = EnsembleObjective.EXPECTED,
    input_boxes: Mapping[str, InputBox] | None = None,
    tee: bool = False,
    start: Mapping[str, Sequence[float]] | None = None,
) -> FlowsheetEnsembleResult:
    """Optimize piecewise-constant inputs for every member of an ensemble at once.

    Parameters
    ----------
    hf, experiment
        The flowsheet and the scenario (horizon, initial state, inputs that are not
        decisions), as for :func:`~idaes_hybrid.optimize.flowsheet.optimize_flowsheet`.
    members
        Each member's networks by term name (at least two members).
    controls, objective, constraints, segments, nfe, ncp, options, input_boxes
        As for :func:`~idaes_hybrid.optimize.flowsheet.optimize_flowsheet`; the
        constraints and the trust region hold in every member's copy.
    mode
        ``"expected"`` (mean of the members' objectives) or ``"worst-case"`` (their largest;
        solved from the expected objective's optimum).
    tee
        Stream the solver log.
    start
        Starting profile per control (one value per segment) instead of its ``start``,
        as for :func:`~idaes_hybrid.optimize.flowsheet.optimize_flowsheet`.
    """
    mode = EnsembleObjective(mode)
    if len(members) < 2:
        raise FlowsheetOptimizationError(f"members: an ensemble optimization needs at least 2 "
                                         f"members, got {len(members)}")
    bounds, guess, exp = starting_run(experiment, controls, segments, start)
    m = pyo.ConcreteModel(name=f"optimize_ensemble_{exp.name}")
    blocks, nets = _member_blocks(m, hf, exp, members, nfe, ncp)
    add_controls(m, hf, blocks, controls, bounds, guess)
    for k, blk in enumerate(blocks):
        add_trust_region(m.member[k], nets[k], input_boxes, f"ensemble optimization, member {k}")
        add_user_constraints(m.member[k], call_user(constraints, blk, "optimization.constraints")
                             if constraints else {})
    m.member_objective = pyo.Expression(range(len(blocks)),
                                        rule=lambda b, k: call_user(objective, blocks[k], "optimization.objective"))
    flat, what = [n for member in nets for n in member], f"ensemble optimization of {exp.name!r}"
    stage = None
    if mode is EnsembleObjective.WORST_CASE:
        # the non-smooth max from the smooth mean's optimum (a start all members rate well)
        m.expected_stage = pyo.Objective(expr=sum(m.member_objective.values()) / len(blocks))
        solve_controls(m, flat, controls, options, f"{what}, expected-objective stage", tee,
                       accept_feasible_stop=True, trust_region=bool(input_boxes))
        m.expected_stage.deactivate()
        stage = (unfixed_values(m), _worst(m))
    m.objective = pyo.Objective(expr=_combined_objective(m, [m.member_objective[k] for k in
                                                             range(len(blocks))], mode))
    res, profiles = solve_controls(m, flat, controls, options, what, tee, accept_feasible_stop=True,
                                   trust_region=bool(input_boxes))
    if stage is not None and not res.ok and _worst(m) > stage[1]:
        # stopped at its limit where the worst member fares worse than at its start: keep the start
        _log.warning(f"{what}: the worst-case solve stopped at a point worse for the worst member "
                     f"({_worst(m):.6g}) than its start ({stage[1]:.6g}); the start is returned")
        restore_values(stage[0])
        m.worst.set_value(stage[1])
        profiles = control_profiles(m, controls)
    values = [float(pyo.value(m.member_objective[k])) for k in range(len(blocks))]
    combined = sum(values) / len(values) if mode is EnsembleObjective.EXPECTED else max(values)
    _log.info(f"ensemble optimization of {exp.name!r} ({mode.value}, {len(blocks)} members): "
              f"objective {combined:.6g} in {res.iterations} iterations")
    return FlowsheetEnsembleResult(res.status.value, combined, bounds, profiles, res.iterations,
                                   res.wall_time_s, m, solver=res.solver_name, mode=mode,
                                   member_objectives=values)
