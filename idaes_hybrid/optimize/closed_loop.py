"""Closed loop: optimize the feed, run the batch, update the model with it, optimize again.

:func:`run_closed_loop` repeats, for ``rounds`` rounds::

    profile   = optimize_feed(current model)          (the hybrid optimum, F piecewise constant)
    batch     = plant(profile, round)                 (the plant, or a simulator of it, runs it)
    model     = update_model(model, batch, earlier)   (warm-started re-training on every batch)

Every update re-uses all earlier batches (the original training batches and the batches of
the earlier rounds), so the model is the one a fresh training on all data would aim at,
started from the last one. The plant is a Python callable ``plant(profile, round)`` that
returns the batch's measurements (a :class:`pandas.DataFrame`, index ``time``) or a
:class:`PlantBatch` (measurements and, when it is known, the true product mass);
:func:`reference_plant` builds one from the model's true (reference) kinetics for tests
and benchmarks. Nothing is written to disk here (``idaes-hybrid loop`` does that).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np
import pandas as pd

import idaes.logger as idaeslog

from idaes_hybrid.model.contract import KineticsMode
from idaes_hybrid.model.inputs import InputProfile
from idaes_hybrid.optimize.feed import (
    FEED, FEED_CONCENTRATION, PRODUCT, VOLUME, FeedEvaluation, FeedOptimizationResult,
    FeedProfile, FeedRequest, OptimizationError, OptimizationRequestError,
    evaluate_feed_on_reference, optimize_feed)
from idaes_hybrid.output.saved import SavedModel, input_box_of, load_model, training_data_fingerprint
from idaes_hybrid.training.experiment import Experiment, Role
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.train import TrainingSettings
from idaes_hybrid.twin.update import UpdateResult, UpdateStart, update_model

_log = idaeslog.getLogger(__name__)

#: Default number of rounds (``[loop] rounds``).
DEFAULT_ROUNDS = 5
#: Default weight of the pull towards the best batch so far (``[loop] proximal``), as a
#: fraction of its product per full-range move of one interval's feed.
DEFAULT_PROXIMAL = 0.01


@dataclass
class PlantBatch:
    """What a plant returns for one batch.

    Attributes
    ----------
    measurements : pandas.DataFrame
        Index ``time``, one column per measured state, NaN = missing.
    product_mass : float or None
        The batch's true ``P(tf) V(tf)``; ``None``: taken from the last measured row
        (at the final time) of ``measurements``.
    noise_sd : dict[str, float] or None
        Measurement noise sd per state (the fit weights of the update); ``None``: the
        loop's ``noise_sd``.
    """

    measurements: pd.DataFrame
    product_mass: float | None = None
    noise_sd: dict[str, float] | None = None


#: A plant: ``plant(profile, round) -> PlantBatch or measurements DataFrame``.
Plant = Callable[[FeedProfile, int], Union[PlantBatch, pd.DataFrame]]


@dataclass
class LoopRound:
    """One round of the closed loop.

    Attributes
    ----------
    round : int
        1 for the first round.
    profile : FeedProfile
        The feed optimized on the model of this round (before its update).
    predicted : float
        ``P(tf) V(tf)`` the model predicted for ``profile`` (g).
    true : float
        ``P(tf) V(tf)`` the plant gave (NaN if it could not be told).
    true_source : str
        Where ``true`` comes from: ``"plant"`` (the plant's ``product_mass``, or the reference
        plant's noise-free value) or ``"last sample"`` (``P V`` of the measurements' last row:
        one noisy sample).
    experiment : Experiment
        The batch as added to the model.
    update_rmse_before, update_rmse_after : dict[str, float]
        RMSE per variable of the new batch simulated with the model before and after
        the update.
    wall_time_s : float
        Wall time of the round (optimization, plant, update).
    """

    round: int
    profile: FeedProfile
    predicted: float
    true: float
    experiment: Experiment = field(repr=False)
    update_rmse_before: dict[str, float]
    update_rmse_after: dict[str, float]
    wall_time_s: float
    true_source: str = "plant"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no measurements)."""
        return {"round": self.round, "predicted": self.predicted, "true": self.true,
                "true_source": self.true_source,
                "experiment": self.experiment.name, "feed_profile": self.profile.to_dict(),
                "update_rmse": {"before": self.update_rmse_before, "after": self.update_rmse_after},
                "wall_time_s": self.wall_time_s}


@dataclass
class ClosedLoopResult:
    """Every round of a closed loop and the final model.

    Attributes
    ----------
    rounds : list[LoopRound]
        The rounds in order.
    model : SavedModel
        The model after the last update (in memory; ``model.directory`` is the input's).
    last_update : UpdateResult
        The last update (its ``training`` is the final network's training run).
    batches : list[Experiment]
        Every batch of the final model's training: the original ones, then the loop's.
    """

    rounds: list[LoopRound]
    model: SavedModel
    last_update: UpdateResult
    batches: list[Experiment]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary of the rounds."""
        return {"rounds": [r.to_dict() for r in self.rounds],
                "batches": [e.name for e in self.batches]}


def _hybrid(model: SavedModel, settings: TrainingSettings,
            true_physics: Mapping[str, float] | None = None) -> HybridModel:
    """``model`` as a :class:`HybridModel` with the run's unit and solver options; with
    ``true_physics``, the true (reference) model instead (no network)."""
    hm = model.hybrid_model(settings.unit_config, settings.solver_options)
    return hm if true_physics is None else hm.replace(physics=dict(true_physics), spec=None)


def _optimize(model: HybridModel, request: FeedRequest, settings: TrainingSettings,
              kinetics: KineticsMode,
              proximal: tuple[FeedProfile, float] | None = None) -> FeedOptimizationResult:
    """The one call of :func:`~idaes_hybrid.optimize.feed.optimize_feed`."""
    return optimize_feed(model, request, kinetics=kinetics, user_scaling=settings.user_scaling,
                         proximal=proximal, initial_feed=proximal[0] if proximal else None)


def _evaluate(model: HybridModel, request: FeedRequest, profile: FeedProfile) -> FeedEvaluation:
    """The one call of :func:`~idaes_hybrid.optimize.feed.evaluate_feed_on_reference`."""
    return evaluate_feed_on_reference(model, request.initial, request.Sf, profile)


def _update(model: SavedModel, batch: Experiment, earlier: Sequence[Experiment],
            validation: Sequence[Experiment], settings: TrainingSettings,
            anchor: bool) -> UpdateResult:
    """The one call of :func:`~idaes_hybrid.twin.update.update_model`: every round starts
    from the model of the round before (a round adds one batch; its training stays short)."""
    return update_model(model, [batch], validation, earlier, settings, anchor=anchor,
                        start=UpdateStart.SAVED)


def true_optimum(model: SavedModel, true_physics: Mapping[str, float], request: FeedRequest,
                 settings: TrainingSettings | None = None) -> FeedOptimizationResult:
    """The optimum of ``request`` on the true (reference) kinetics of the model's unit.

    Parameters
    ----------
    model : SavedModel
        Supplies the model definition, network inputs and discretization.
    true_physics : Mapping[str, float]
        Physics and reference parameters (e.g. ``{**physics, **reference}``).
    request : FeedRequest
        The batch to optimize.
    settings : TrainingSettings, optional
        Solver options and unit options.
    """
    settings = settings or TrainingSettings()
    return _optimize(_hybrid(model, settings, true_physics), request, settings, KineticsMode.REFERENCE)


def model_optimum(model: SavedModel, request: FeedRequest, settings: TrainingSettings | None = None,
                  proximal: tuple[FeedProfile, float] | None = None) -> FeedOptimizationResult:
    """The optimum of ``request`` on ``model`` (its network, weights fixed); ``proximal``
    as in :func:`~idaes_hybrid.optimize.feed.optimize_feed`, whose profile is also the start."""
    settings = settings or TrainingSettings()
    return _optimize(_hybrid(model, settings), request, settings, KineticsMode.EXTERNAL, proximal)


def evaluate_on_truth(model: SavedModel, true_physics: Mapping[str, float], request: FeedRequest,
                      profile: FeedProfile, settings: TrainingSettings | None = None) -> FeedEvaluation:
    """``profile`` simulated on the true (reference) kinetics of the model's unit."""
    return _evaluate(_hybrid(model, settings or TrainingSettings(), true_physics), request, profile)


def reference_plant(model: SavedModel, true_physics: Mapping[str, float], request: FeedRequest,
                    noise_sd: Mapping[str, float], n_samples: int = 41, seed: int = 0,
                    settings: TrainingSettings | None = None) -> Plant:
    """A simulated plant: the feed run on the true kinetics, measured with Gaussian noise.

    Parameters
    ----------
    model, true_physics, request
        As in :func:`true_optimum` (``request`` gives the initial state, ``Sf`` and horizon).
    noise_sd : Mapping[str, float]
        Noise sd of each measured state (only these states are measured; 0: exact).
    n_samples : int
        Measurement times, equally spaced on ``[0, horizon]`` (values interpolated
        linearly between the collocation points of the simulation).
    seed : int
        Seed of the noise; round ``k`` draws from ``numpy.random.default_rng([seed, k])``.
    settings : TrainingSettings, optional
        Solver options and unit options of the simulation.

    Returns
    -------
    Plant
        ``plant(profile, round) -> PlantBatch`` with the true (noise-free) product mass.
    """
    settings = settings or TrainingSettings()
    unknown = sorted(set(noise_sd) - set(model.definition.state_names))
    if unknown:
        raise OptimizationRequestError(f"noise_sd.{unknown[0]}", "not a state of the model")
    if any(not (math.isfinite(v) and v >= 0) for v in noise_sd.values()):
        raise OptimizationRequestError("noise_sd", f"expected finite numbers >= 0, got {dict(noise_sd)}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise OptimizationRequestError("n_samples", f"expected an integer >= 2, got {n_samples!r}")

    def plant(profile: FeedProfile, round_: int) -> PlantBatch:
        run = evaluate_on_truth(model, true_physics, request, profile, settings)
        return PlantBatch(sample_measurements(run.trajectories, noise_sd, n_samples,
                                              np.random.default_rng([seed, round_])),
                          product_mass=run.product_mass,
                          noise_sd={k: v for k, v in noise_sd.items() if v > 0} or None)

    return plant


def sample_measurements(trajectories: Mapping[str, np.ndarray], noise_sd: Mapping[str, float],
                        n_samples: int, rng: np.random.Generator) -> pd.DataFrame:
    """Noisy samples of ``trajectories`` at ``n_samples`` equally spaced times.

    Parameters
    ----------
    trajectories : Mapping[str, numpy.ndarray]
        ``time`` and one array per state (as in :class:`~idaes_hybrid.optimize.feed.FeedEvaluation`).
    noise_sd : Mapping[str, float]
        Noise sd of each sampled state (the columns, in this order).
    n_samples : int
        Number of times on ``[time[0], time[-1]]``.
    rng : numpy.random.Generator
        Source of the noise.
    """
    t = np.asarray(trajectories["time"], dtype=float)
    grid = np.linspace(t[0], t[-1], n_samples)
    columns = {name: np.interp(grid, t, np.asarray(trajectories[name], dtype=float))
               + sd * rng.standard_normal(grid.size) for name, sd in noise_sd.items()}
    return pd.DataFrame(columns, index=pd.Index(grid, name="time"))


def measured_product_mass(measurements: pd.DataFrame, horizon: float) -> float:
    """``P V`` of the last row if it is at ``horizon`` and measures both, else NaN."""
    if measurements.empty or abs(float(measurements.index[-1]) - horizon) > 1e-9 * max(1.0, horizon):
        return float("nan")
    last = measurements.iloc[-1]
    if PRODUCT not in last or VOLUME not in last:
        return float("nan")
    value = float(last[PRODUCT]) * float(last[VOLUME])
    return value if math.isfinite(value) else float("nan")


def batch_experiment(name: str, request: FeedRequest, profile: FeedProfile, batch: PlantBatch,
                     noise_sd: Mapping[str, float] | None) -> Experiment:
    """The plant's batch as a training experiment: the feed profile as a step input."""
    steps = InputProfile(tuple(profile.edges[:-1]), tuple(profile.values))
    sd = batch.noise_sd if batch.noise_sd is not None else noise_sd
    return Experiment(name=name, initial={k: float(v) for k, v in request.initial.items()},
                      inputs={FEED: steps, FEED_CONCENTRATION: float(request.Sf)},
                      horizon=float(request.horizon), measurements=batch.measurements,
                      role=Role.TRAIN, noise_sd=dict(sd) if sd else None)


def updated_model(model: SavedModel, update: UpdateResult, batches: Sequence[Experiment]) -> SavedModel:
    """``model`` with the updated network (its metrics, input region and training data)."""
    return dataclasses.replace(model, spec=update.spec, metrics=update.metrics(),
                               input_box=input_box_of(update.training) or model.input_box,
                               training_data=training_data_fingerprint(batches), uncertainty=None)


def check_loop_request(model: SavedModel, request: FeedRequest, rounds: int,
                       training_experiments: Sequence[Experiment], name_prefix: str,
                       proximal: float = DEFAULT_PROXIMAL) -> None:
    """Raise :class:`OptimizationRequestError` naming the first bad field of a loop request."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise OptimizationRequestError("rounds", f"expected an integer >= 1, got {rounds!r}")
    if isinstance(proximal, bool) or not isinstance(proximal, (int, float)) \
            or not (math.isfinite(proximal) and proximal >= 0):
        raise OptimizationRequestError("proximal", f"expected a finite number >= 0, got {proximal!r}")
    request.check(model.definition)
    taken = {e.name for e in training_experiments}
    clash = sorted(n for n in (f"{name_prefix}{k}" for k in range(1, rounds + 1)) if n in taken)
    if clash:
        raise OptimizationRequestError("name_prefix", f"batch name {clash[0]!r} is already an "
                                       "experiment's; choose another prefix")
    for i, exp in enumerate(training_experiments):
        if exp.role is not Role.TRAIN:
            raise OptimizationRequestError(f"training_experiments[{i}] ({exp.name!r}).role",
                                           f"must be 'train', got {exp.role.value!r}")


def proximal_center(rows: Sequence[LoopRound], weight: float) -> tuple[FeedProfile, float] | None:
    """``(profile, w)`` of the best batch so far (the plant's product; the last batch if none
    is known), ``w = weight *`` its product; ``None`` before the first batch.

    The loop's optimizations start from ``profile`` (the model is not convex in the feed:
    from a constant feed Ipopt may stop at a local optimum worse than a batch already run)
    and lose ``w * sum_k ((F_k - profile_k) / (F_max - F_min))^2`` from the objective: of
    the feeds the model rates (nearly) equal, the one nearest the best batch wins.
    """
    if not rows:
        return None
    known = [r for r in rows if math.isfinite(r.true)]
    best = max(known, key=lambda r: r.true) if known else rows[-1]
    scale = abs(best.true) if known and best.true != 0 else max(abs(best.predicted), 1.0)
    return best.profile, float(weight) * scale


def plant_batch(plant: Plant, profile: FeedProfile, round_: int) -> PlantBatch:
    """Call ``plant`` and check what it returned.

    An exception of the plant becomes an :class:`OptimizationError` naming the plant and the
    round (the user's code failed, not the loop).
    """
    try:
        out = plant(profile, round_)
    except Exception as err:  # noqa: BLE001 - any failure of the user's plant, named as such
        raise OptimizationError(f"plant: round {round_}: the plant raised "
                                f"{type(err).__name__}: {err}") from err
    if isinstance(out, pd.DataFrame):
        out = PlantBatch(out)
    if not isinstance(out, PlantBatch):
        raise OptimizationRequestError("plant", f"round {round_}: expected a PlantBatch or a "
                                       f"pandas DataFrame, got {type(out).__name__}")
    return out


def run_closed_loop(model: SavedModel | str | Path, request: FeedRequest, plant: Plant,
                    rounds: int = DEFAULT_ROUNDS, training_experiments: Sequence[Experiment] = (),
                    validation_experiments: Sequence[Experiment] = (),
                    settings: TrainingSettings | None = None, noise_sd: Mapping[str, float] | None = None,
                    anchor: bool = True, name_prefix: str = "loop",
                    proximal: float = DEFAULT_PROXIMAL) -> ClosedLoopResult:
    """Optimize, run the batch on ``plant``, update the model with it; ``rounds`` times.

    Parameters
    ----------
    model : SavedModel or path
        The trained model (or its saved directory).
    request : FeedRequest
        The batch whose feed is optimized each round.
    plant : Plant
        ``plant(profile, round) -> PlantBatch | DataFrame`` runs the feed and returns the
        batch's measurements (see :class:`PlantBatch`; :func:`reference_plant`).
    rounds : int
        Number of batches run (each followed by an update).
    training_experiments : Sequence[Experiment]
        The model's training batches, re-used in every update with the earlier rounds'.
    validation_experiments : Sequence[Experiment]
        Batches on which every update is judged.
    settings : TrainingSettings, optional
        Solver, regularization and unit options of optimizations and updates.
    noise_sd : Mapping[str, float], optional
        Noise sd of the plant's measurements unless a :class:`PlantBatch` gives them.
    anchor : bool
        Regularize each update towards the weights before it (else towards zero).
    name_prefix : str
        Batch ``k`` is named ``f"{name_prefix}{k}"``.
    proximal : float
        From round 2 on, each optimization starts from the best batch so far and is pulled
        towards it with this weight (0: no pull; see :func:`proximal_center`).

    Returns
    -------
    ClosedLoopResult
    """
    current = model if isinstance(model, SavedModel) else load_model(model)
    settings = settings or TrainingSettings()
    batches = list(training_experiments)
    check_loop_request(current, request, rounds, batches, name_prefix, proximal)
    rows, update = [], None
    for k in range(1, rounds + 1):
        tick = time.perf_counter()
        opt = model_optimum(current, request, settings, proximal_center(rows, proximal))
        batch = plant_batch(plant, opt.profile, k)
        exp = batch_experiment(f"{name_prefix}{k}", request, opt.profile, batch, noise_sd)
        exp.validate(current.definition.state_names, current.definition.input_names,
                     f"plant (round {k}, batch {exp.name!r})")
        true = batch.product_mass if batch.product_mass is not None else \
            measured_product_mass(batch.measurements, request.horizon)
        update = _update(current, exp, batches, validation_experiments, settings, anchor)
        batches.append(exp)
        current = updated_model(current, update, batches)
        rows.append(LoopRound(k, opt.profile, opt.product_mass, float(true), exp,
                              update.new_before, update.new_after, time.perf_counter() - tick,
                              "plant" if batch.product_mass is not None else "last sample"))
        _log.info(f"closed loop round {k}/{rounds}: predicted {opt.product_mass:.5g} g, "
                  f"plant {true:.5g} g")
    return ClosedLoopResult(rows, current, update, batches)
