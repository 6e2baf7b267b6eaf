"""Closed loop on the flowsheet path: optimize the inputs, run the batch, update, repeat.

:func:`run_flowsheet_loop` repeats, for ``rounds`` rounds::

    profiles = optimize_flowsheet(current networks)        (the user's objective and controls)
    batch    = plant(profiles, round)                      (the plant, or the true flowsheet)
    networks = update_flowsheet(networks, every batch)     (warm-started re-training)

Every update re-trains on all batches so far (the model's training experiments and the
loop's), so no batch is forgotten. From round 2 on each optimization starts from the best
batch so far and is pulled towards it (``proximal``): of the profiles the model rates
nearly equal, the one nearest a batch that worked wins. The plant is a Python callable
``plant(inputs, round)`` (``inputs``: ``{control: InputProfile}``) returning the batch's
measurements or a :class:`FlowsheetPlantBatch`; :func:`true_flowsheet_plant` makes one
from a first-principles flowsheet (tests, benchmarks). Nothing is written to disk here.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np
import pandas as pd
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.model.experiment import Role
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.inputs import InputProfile
from idaes_hybrid.model.trust_region import InputBox
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.optimize.flowsheet import (
    Control, FlowsheetOptimizationError, FlowsheetOptimizationResult, call_user, optimize_flowsheet)
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet
from idaes_hybrid.training.problem import interpolation_weights
from idaes_hybrid.training.train import TrainingSettings
from idaes_hybrid.twin.flowsheet_update import FlowsheetUpdateResult, update_flowsheet

_log = idaeslog.getLogger(__name__)

#: Finite elements of a reference plant's simulation per element of the optimization.
PLANT_REFINE = 4
#: Default weight of the pull towards the best batch so far, as a fraction of its objective
#: per full-range move of one segment of one control.
DEFAULT_PULL = 0.01


@dataclass
class LoopProblem:
    """The batch optimized every round (as an ``[optimization]`` table gives it).

    Attributes
    ----------
    scenario
        Horizon, initial state and the inputs that are not decisions.
    controls
        Decision inputs (piecewise constant on ``segments`` equal segments).
    objective, constraints
        ``objective(blk)`` -> expression to minimize; optional ``constraints(blk)``.
    segments, nfe, ncp
        Segments of every control; Radau discretization of the optimization.
    """

    scenario: FlowsheetExperiment
    controls: Sequence[Control]
    objective: Callable[[pyo.Block], Any]
    constraints: Callable[[pyo.Block], Mapping[str, Any]] | None = None
    segments: int = 6
    nfe: int = 40
    ncp: int = 3

    def run(self, inputs: Mapping[str, InputProfile], name: str = "batch",
            measurements: pd.DataFrame | None = None, noise_sd: Mapping[str, float] | None = None
            ) -> FlowsheetExperiment:
        """The scenario run with the control profiles ``inputs`` (a training experiment)."""
        sc = self.scenario
        return FlowsheetExperiment(name, sc.horizon, pd.DataFrame() if measurements is None else measurements,
                                   initial=sc.initial, inputs={**sc.inputs, **inputs}, role=Role.TRAIN,
                                   noise_sd=dict(noise_sd) if noise_sd else None)


@dataclass
class FlowsheetPlantBatch:
    """What a plant returns for one batch.

    Attributes
    ----------
    measurements
        Index ``time``; one column per measured variable name; NaN = missing.
    objective
        The batch's true objective value, if the plant knows it (else reported unknown).
    noise_sd
        Noise sd per measured column (the update's fit weights); ``None``: the loop's.
    """

    measurements: pd.DataFrame
    objective: float | None = None
    noise_sd: dict[str, float] | None = None


#: A plant: ``plant({control: InputProfile}, round) -> FlowsheetPlantBatch | DataFrame``.
FlowsheetPlant = Callable[[dict, int], Union[FlowsheetPlantBatch, pd.DataFrame]]


@dataclass
class FlowsheetLoopRound:
    """One round: the profiles optimized on the model before its update, the model's and
    the plant's objective values, the batch as added, and the update's RMSE on it."""

    round: int
    profiles: dict[str, list[float]]
    predicted: float
    true: float
    experiment: FlowsheetExperiment = field(repr=False)
    update_rmse_before: dict[str, float]
    update_rmse_after: dict[str, float]
    wall_time_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no measurements); an unknown true value is ``None``."""
        return {"round": self.round, "predicted": self.predicted,
                "true": self.true if math.isfinite(self.true) else None,
                "experiment": self.experiment.name, "profiles": self.profiles,
                "update_rmse": {"before": self.update_rmse_before, "after": self.update_rmse_after},
                "wall_time_s": self.wall_time_s}


@dataclass
class FlowsheetLoopResult:
    """Every round, the final networks, the last update and every training batch."""

    rounds: list[FlowsheetLoopRound]
    specs: dict[str, NetworkSpec]
    last_update: FlowsheetUpdateResult
    batches: list[FlowsheetExperiment]
    segment_times: list[float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary of the rounds."""
        return {"segment_times": self.segment_times, "rounds": [r.to_dict() for r in self.rounds],
                "batches": [b.name for b in self.batches]}


def optimize_problem(hf: HybridFlowsheet, specs: Mapping[str, NetworkSpec] | None, problem: LoopProblem,
                     options: dict | None = None, input_boxes: Mapping[str, InputBox] | None = None,
                     start: Mapping[str, Sequence[float]] | None = None,
                     pull: float = 0.0) -> FlowsheetOptimizationResult:
    """:func:`~idaes_hybrid.optimize.flowsheet.optimize_flowsheet` on ``problem``."""
    return optimize_flowsheet(hf, problem.scenario, specs, problem.controls, problem.objective,
                              problem.constraints, problem.segments, problem.nfe, problem.ncp,
                              options, input_boxes, start, pull)


def evaluate_profiles(hf: HybridFlowsheet, problem: LoopProblem, inputs: Mapping[str, InputProfile],
                      specs: Mapping[str, NetworkSpec] | None = None, options: dict | None = None):
    """Simulate ``problem``'s scenario with ``inputs``; ``(objective value, solved block)``."""
    run = problem.run(inputs, "evaluate")
    sim = simulate_flowsheet(hf, run, specs, problem.nfe, problem.ncp, (), options)
    blk = sim.model.experiment[run.name]
    return float(pyo.value(call_user(problem.objective, blk, "optimization.objective"))), blk


def sample_block(blk: pyo.Block, hf: HybridFlowsheet, names: Sequence[str], times: Sequence[float],
                 steps: Sequence[float] = ()) -> pd.DataFrame:
    """Values of the variables ``names`` of a solved experiment block at ``times``
    (interpolated on the collocation grid as the fit does)."""
    refs = {n: hf.var(blk, n, f"noise_sd.{n}") for n in names}
    cols = {n: [sum(w * pyo.value(ref[t]) for t, w in interpolation_weights(blk.fs.time, float(x), steps))
                for x in times] for n, ref in refs.items()}
    return pd.DataFrame(cols, index=pd.Index(np.asarray(times, dtype=float), name="time"))


def true_flowsheet_plant(true_hf: HybridFlowsheet, problem: LoopProblem, noise_sd: Mapping[str, float],
                         samples: int = 41, seed: int = 0, options: dict | None = None,
                         refine: int = PLANT_REFINE) -> FlowsheetPlant:
    """A plant simulated by the first-principles flowsheet ``true_hf``.

    Each batch is simulated with the round's profiles on ``refine`` times the problem's
    finite elements (a plant is not discretized: on the optimization's grid a substrate
    depleted within one element undershoots 0, and the product came out 0.4 % high on
    the Haldane bioreactor against scipy's integration); the variables named in ``noise_sd``
    are sampled at ``samples`` equally spaced times with Gaussian noise of that sd (round
    ``k`` draws from ``numpy.random.default_rng([seed, k])``); the batch's objective is the
    user's objective on the noise-free simulation.
    """
    sd = {str(k): float(v) for k, v in noise_sd.items()}
    if not sd:
        raise FlowsheetOptimizationError("noise_sd: name at least one measured variable")

    fine = dataclasses.replace(problem, nfe=int(refine) * problem.nfe)

    def plant(inputs: dict, round_: int) -> FlowsheetPlantBatch:
        value, blk = evaluate_profiles(true_hf, fine, inputs, None, options)
        times = np.linspace(0.0, float(problem.scenario.horizon), int(samples))
        clean = sample_block(blk, true_hf, list(sd), times, problem.run(inputs).step_times())
        rng = np.random.default_rng([int(seed), int(round_)])
        noisy = clean + rng.standard_normal(clean.shape) * np.array([sd[c] for c in clean.columns])
        return FlowsheetPlantBatch(noisy, value, {k: v for k, v in sd.items() if v > 0} or None)

    return plant


def plant_batch(plant: FlowsheetPlant, inputs: dict, round_: int) -> FlowsheetPlantBatch:
    """Call ``plant`` and check what it returned (an exception of the plant becomes a
    :class:`FlowsheetOptimizationError` naming the plant and the round)."""
    try:
        out = plant(inputs, round_)
    except Exception as err:  # noqa: BLE001 - any failure of the user's plant, named as such
        raise FlowsheetOptimizationError(f"plant: round {round_}: the plant raised "
                                         f"{type(err).__name__}: {err}") from err
    if isinstance(out, pd.DataFrame):
        out = FlowsheetPlantBatch(out)
    if not isinstance(out, FlowsheetPlantBatch):
        raise FlowsheetOptimizationError(f"plant: round {round_}: expected a FlowsheetPlantBatch or a "
                                         f"pandas DataFrame, got {type(out).__name__}")
    return out


def pull_center(rows: Sequence[FlowsheetLoopRound], weight: float):
    """``(profiles, w)`` of the best batch so far (lowest true objective; the last batch if
    none is known) with ``w = weight * |its objective|``; ``None`` before the first batch."""
    if not rows or not weight:
        return None
    known = [r for r in rows if math.isfinite(r.true)]
    best = min(known, key=lambda r: r.true) if known else rows[-1]
    scale = abs(best.true) if known and best.true != 0 else max(abs(best.predicted), 1.0)
    return best.profiles, float(weight) * scale


def check_loop(rounds: int, proximal: float, training: Sequence[FlowsheetExperiment],
               name_prefix: str) -> None:
    """Raise :class:`FlowsheetOptimizationError` naming the first bad argument."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise FlowsheetOptimizationError(f"rounds: expected an integer >= 1, got {rounds!r}")
    if isinstance(proximal, bool) or not isinstance(proximal, (int, float)) \
            or not (math.isfinite(proximal) and proximal >= 0):
        raise FlowsheetOptimizationError(f"proximal: expected a finite number >= 0, got {proximal!r}")
    clash = sorted({f"{name_prefix}{k}" for k in range(1, rounds + 1)} & {e.name for e in training})
    if clash:
        raise FlowsheetOptimizationError(f"name_prefix: batch name {clash[0]!r} is already an "
                                         "experiment's; choose another prefix")
    for i, exp in enumerate(training):
        if exp.role is not Role.TRAIN:
            raise FlowsheetOptimizationError(f"training_experiments[{i}] ({exp.name!r}).role: must "
                                             f"be 'train', got {exp.role.value!r}")


def run_flowsheet_loop(hf: HybridFlowsheet, specs: Mapping[str, NetworkSpec], problem: LoopProblem,
                       plant: FlowsheetPlant, nfe: int, ncp: int, rounds: int = 5,
                       training_experiments: Sequence[FlowsheetExperiment] = (),
                       validation_experiments: Sequence[FlowsheetExperiment] = (),
                       settings: TrainingSettings | None = None,
                       noise_sd: Mapping[str, float] | None = None, anchor: bool = True,
                       proximal: float = DEFAULT_PULL, name_prefix: str = "loop",
                       input_boxes: Mapping[str, InputBox] | None = None) -> FlowsheetLoopResult:
    """Optimize ``problem`` on the current networks, run it on ``plant``, update; ``rounds`` times.

    Parameters
    ----------
    hf, specs
        The hybrid flowsheet and its trained networks by term name.
    problem
        The batch optimized every round.
    plant
        ``plant(inputs, round)`` runs the profiles and returns the measurements.
    nfe, ncp
        Radau discretization of the updates (the training's).
    rounds
        Batches run, each followed by an update.
    training_experiments, validation_experiments
        The model's training batches (re-used in every update) and the experiments every
        update is judged on.
    settings
        Training settings of the updates (their solver options also the optimizations').
    noise_sd
        Noise sd per measured variable unless the plant's batch gives them.
    anchor
        Regularize each update towards the networks before it (else towards zero).
    proximal
        From round 2 on: start at the best batch so far and pull towards it with this
        weight (times its objective); 0 switches the pull off.
    name_prefix
        Batch ``k`` is named ``f"{name_prefix}{k}"``.
    input_boxes
        Trust region per term for every optimization (see ``optimize_flowsheet``).
    """
    settings = settings or TrainingSettings()
    batches = list(training_experiments)
    check_loop(rounds, proximal, batches, name_prefix)
    current, rows, update, options = dict(specs), [], None, settings.solver_options
    opt = None
    for k in range(1, rounds + 1):
        tick = time.perf_counter()
        center = pull_center(rows, proximal)
        opt = optimize_problem(hf, current, problem, options, input_boxes,
                               *(center if center else (None, 0.0)))
        batch = plant_batch(plant, opt.inputs(), k)
        exp = problem.run(opt.inputs(), f"{name_prefix}{k}", batch.measurements,
                          batch.noise_sd if batch.noise_sd is not None else noise_sd)
        update = update_flowsheet(hf, current, [*batches, exp, *validation_experiments], nfe, ncp,
                                  settings, anchor=anchor,
                                  judged=[exp.name, *(e.name for e in validation_experiments)])
        batches.append(exp)
        current = dict(update.training.specs)
        true = float("nan") if batch.objective is None else float(batch.objective)
        rows.append(FlowsheetLoopRound(k, opt.profiles, float(opt.objective), true, exp,
                                       update.before.get(exp.name, {}), update.after.get(exp.name, {}),
                                       time.perf_counter() - tick))
        _log.info(f"closed loop round {k}/{rounds}: predicted {opt.objective:.6g}, plant {true:.6g}")
    return FlowsheetLoopResult(rows, current, update, batches, list(opt.segment_times))
