"""The fed-batch ``[optimization]`` of a ``model = ...`` configuration, on the flowsheet path.

The configuration is translated (:mod:`idaes_hybrid.config.unit_translation`): the saved
network drives the one-unit flowsheet, the feed ``F`` is the control and ``P(tf) V(tf)``
the objective; :func:`~idaes_hybrid.optimize.flowsheet.optimize_flowsheet` (or its ensemble
form) solves it. The results take the fed-batch form of ``optimization.json``: feed
profiles (:class:`~idaes_hybrid.optimize.feed.FeedProfile`), product masses and the
trajectories of every state, learned term and ``F``.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from idaes_hybrid.cli.common import LOGGER_NAME
from idaes_hybrid.model.contract import KineticsMode
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.inputs import InputProfile
from idaes_hybrid.optimize.fed_batch_objective import FEED
from idaes_hybrid.optimize.feed import FeedEvaluation, FeedOptimizationResult, FeedProfile
from idaes_hybrid.solve.solver import SolveStatus


def feed_profile(segment_times: Sequence[float], values: Sequence[float]) -> FeedProfile:
    """The control ``F``'s piecewise-constant profile on the segments' edges."""
    return FeedProfile(tuple(float(t) for t in segment_times), tuple(float(v) for v in values))


def feed_result(result, hf: HybridFlowsheet, names: Sequence[str],
                kinetics: KineticsMode) -> FeedOptimizationResult:
    """A flowsheet optimization ``result`` of the fed-batch problem in its fed-batch form:
    the feed profile, the trajectories of ``names`` and ``F``, the product mass."""
    from idaes_hybrid.training.flowsheet_problem import variable_series

    blk = next(iter(result.model.experiment.values()))
    traj = {"time": np.array(list(blk.fs.time)), **variable_series(blk, hf, [*names, FEED])}
    return FeedOptimizationResult(feed_profile(result.segment_times, result.profiles[FEED]), traj,
                                  -float(result.objective), SolveStatus(result.status),
                                  result.iterations, result.wall_time_s, kinetics)


def on_plant(plant: HybridFlowsheet, scenario: FlowsheetExperiment, profile: FeedProfile,
             names: Sequence[str], nfe: int, ncp: int, options: dict | None) -> FeedEvaluation:
    """The feed ``profile`` simulated on the true flowsheet ``plant``: what it really gives."""
    from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

    feed = InputProfile(tuple(profile.edges[:-1]), tuple(profile.values))
    run = FlowsheetExperiment(scenario.name, scenario.horizon, scenario.measurements,
                              initial=scenario.initial, inputs={**scenario.inputs, FEED: feed})
    sim = simulate_flowsheet(plant, run, None, nfe, ncp, [*names, FEED], options)
    traj = sim.trajectories()
    return FeedEvaluation(profile, traj, float(traj["P"][-1] * traj["V"][-1]))


def hybrid_optimum(fs_config, specs: dict, boxes: dict | None, names: Sequence[str],
                   options: dict | None) -> FeedOptimizationResult:
    """The feed the trained network rates best (inside ``boxes`` if given)."""
    from idaes_hybrid.optimize.flowsheet import optimize_flowsheet

    opt = fs_config.optimization()
    result = optimize_flowsheet(fs_config.flowsheet, opt.scenario, specs, opt.controls, opt.objective,
                                opt.constraints, opt.segments, opt.nfe, opt.ncp, options, boxes)
    return feed_result(result, fs_config.flowsheet, names, KineticsMode.EXTERNAL)


def compare_on_plant(fs_config, hybrid: FeedOptimizationResult, names: Sequence[str],
                     options: dict | None) -> tuple:
    """The hybrid optimum's feed and the constant (filling) feed run on the true flowsheet,
    and the true optimum: ``(on_truth, reference, constant)``."""
    from idaes_hybrid.optimize.flowsheet import optimize_flowsheet

    log = logging.getLogger(LOGGER_NAME + ".cli")
    log.info("optimize: checking the hybrid-optimal feed on the true (reference) model")
    opt = fs_config.optimization()
    plant = HybridFlowsheet(opt.true_build, [], fs_config.flowsheet.variables,
                            fs_config.flowsheet.time_units)
    best = optimize_flowsheet(plant, opt.scenario, None, opt.controls, opt.objective, opt.constraints,
                              opt.segments, opt.nfe, opt.ncp, options)
    reference = feed_result(best, plant, names, KineticsMode.REFERENCE)
    on_truth = on_plant(plant, opt.scenario, hybrid.profile, names, opt.nfe, opt.ncp, options)
    filling = feed_profile(hybrid.profile.edges, [opt.controls[0].start] * opt.segments)
    constant = on_plant(plant, opt.scenario, filling, names, opt.nfe, opt.ncp, options)
    return on_truth, reference, constant


def ensemble_optimum(fs_config, members: list[dict], mode, boxes: dict | None,
                     names: Sequence[str], options: dict | None, compare: bool) -> dict[str, Any]:
    """The feed optimal over the ensemble's ``members`` at once (``mode``: expected or
    worst case), and (``compare``) what it gives on the true flowsheet."""
    from idaes_hybrid.optimize.flowsheet_ensemble import optimize_flowsheet_ensemble

    opt = fs_config.optimization()
    result = optimize_flowsheet_ensemble(fs_config.flowsheet, opt.scenario, members, opt.controls,
                                         opt.objective, opt.constraints, opt.segments, opt.nfe,
                                         opt.ncp, options, mode, boxes)
    profile = feed_profile(result.segment_times, result.profiles[FEED])
    summary = {"objective": result.mode.value, "product_mass": -float(result.objective),
               "member_product_masses": [-v for v in result.member_objectives],
               "status": result.status, "iterations": result.iterations,
               "wall_time_s": result.wall_time_s, "feed_profile": profile.to_dict()}
    if compare:
        plant = HybridFlowsheet(opt.true_build, [], fs_config.flowsheet.variables,
                                fs_config.flowsheet.time_units)
        summary["product_true"] = on_plant(plant, opt.scenario, profile, names, opt.nfe, opt.ncp,
                                           options).product_mass
    return summary
