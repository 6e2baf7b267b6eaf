"""Model update on the flowsheet path: re-train a saved flowsheet model with new batches.

:func:`update_flowsheet` re-solves the simultaneous training problem on the config's
training batches, from their data when every batch the saved model was trained on is
among them (:func:`flowsheet_start`; a training of all the batches), else starting from
the saved networks (:func:`~idaes_hybrid.training.flowsheet_train.train_flowsheet`
with ``warm=True``: no smoother, no pre-training, states marched with the saved
networks, regularization towards the saved weights). The saved and the updated
networks are judged the same way, by simulating every experiment from its initial
state and inputs alone, so ``before`` and ``after`` are directly comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import idaes.logger as idaeslog

from idaes_hybrid.model.experiment import Role, split_by_role
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.flowsheet_problem import flowsheet_rmse, simulate_flowsheet
from idaes_hybrid.training.flowsheet_train import train_flowsheet
from idaes_hybrid.training.predict import PredictionError, pooled_rmse
from idaes_hybrid.training.train import TrainingResult, TrainingSettings
from idaes_hybrid.twin.common import warn_if_validation_worse
from idaes_hybrid.twin.update import UpdateStart, choose_start, matching_batches

_log = idaeslog.getLogger(__name__)


@dataclass
class FlowsheetUpdateResult:
    """A flowsheet model update and how it moved the prediction errors.

    Attributes
    ----------
    training
        The warm-started training run (``training.specs``: the updated networks).
    before, after
        Per experiment, RMSE per measured variable simulated from its initial state
        with the saved (``before``) and the updated (``after``) networks.
    start
        Where the update started (``DATA`` or ``SAVED``).
    originals
        The training batches the saved model was trained on (same name and fingerprint).
    """

    training: TrainingResult
    before: dict[str, dict[str, float]]
    after: dict[str, dict[str, float]]
    experiments: list[FlowsheetExperiment]
    start: UpdateStart = UpdateStart.SAVED
    originals: tuple[str, ...] = ()

    def metrics(self) -> dict:
        """The ``update`` part of ``metrics.json``: where it started, the simulated RMSE before
        and after, pooled over the new batches (training batches that are not ``originals``)
        and over the validation experiments."""
        train, val = split_by_role(self.experiments)
        new = [e for e in train if e.name not in self.originals]
        return {"start": self.start.value, "new_batches": [e.name for e in new],
                "original_batches": [e.name for e in train if e.name in self.originals],
                "validation_experiments": [e.name for e in val],
                "before": self.before, "after": self.after,
                "new_before": pooled_rmse(self.before, new), "new_after": pooled_rmse(self.after, new),
                "validation_before": pooled_rmse(self.before, val),
                "validation_after": pooled_rmse(self.after, val)}


def simulated_rmse(hf: HybridFlowsheet, experiments: Sequence[FlowsheetExperiment],
                   specs: Mapping[str, NetworkSpec], nfe: int, ncp: int,
                   options: dict | None = None) -> dict[str, dict[str, float]]:
    """RMSE of every experiment simulated from its initial state and inputs alone.

    An experiment the networks cannot simulate (a new batch far outside the data they were
    trained on: the reason to update) gets NaN for each measured variable and a warning.
    """
    out = {}
    for exp in experiments:
        try:
            sim = simulate_flowsheet(hf, exp, specs, nfe, ncp, exp.measured_variables, options)
        except PredictionError as err:
            _log.warning(f"update: {' '.join(str(err).split())}; its RMSE is not available")
            out[exp.name] = {name: math.nan for name in exp.measured_variables}
            continue
        out[exp.name] = flowsheet_rmse(sim.model.experiment[exp.name], hf, exp)
    return out


def original_batches(recorded: Sequence[Mapping], experiments: Sequence[FlowsheetExperiment]) -> list[str]:
    """Names of the training experiments that are batches of ``recorded`` (the saved model's
    ``training_data`` experiments): :func:`~idaes_hybrid.twin.update.matching_batches`."""
    return matching_batches(recorded, [e for e in experiments if e.role is Role.TRAIN])


def flowsheet_start(start: UpdateStart, recorded: Sequence[Mapping],
                    experiments: Sequence[FlowsheetExperiment]) -> UpdateStart:
    """:func:`~idaes_hybrid.twin.update.choose_start` with the original batches of
    ``experiments`` (:func:`original_batches`)."""
    return choose_start(start, recorded, original_batches(recorded, experiments))


def update_flowsheet(hf: HybridFlowsheet, saved: Mapping[str, NetworkSpec],
                     experiments: Sequence[FlowsheetExperiment], nfe: int, ncp: int,
                     settings: TrainingSettings | None = None, anchor: bool = True,
                     tee: bool = False, judged: Sequence[str] | None = None,
                     fresh: Mapping[str, NetworkSpec] | None = None,
                     originals: Sequence[str] = ()) -> FlowsheetUpdateResult:
    """Re-train the saved networks on ``experiments`` (role ``train``: the batches of the
    update; ``validation``: judged only): warm-started and regularized towards the saved
    weights, or (``fresh``) trained from the data.

    Parameters
    ----------
    hf
        The flowsheet the networks were trained on (its terms name the networks).
    saved
        The saved networks by term name.
    experiments
        New batches and validation experiments.
    nfe, ncp
        Radau discretization.
    settings
        Training settings (``regularization`` is the pull towards the saved weights).
    anchor
        Regularize towards the saved weights (``False``: towards zero).
    tee
        Stream the solver's output.
    judged
        Names of the experiments simulated before and after (default: all); a closed loop
        judges its new batch and the validation experiments only.
    fresh
        Freshly initialized networks by term name: train from the data with them (smoother,
        pre-training, the training's noise and regularization choices; ``anchor`` unused),
        as for a model whose training batches are all in ``experiments``
        (:func:`flowsheet_start`). ``None``: start from the saved networks.
    originals
        Names of the training batches the saved model was trained on
        (:func:`original_batches`); the others are reported as new.
    """
    settings = settings or TrainingSettings()
    options = settings.solver_options
    for exp in experiments:  # every batch's columns before the first simulation
        for name in exp.measured_variables:
            hf.check_name(name, f"experiments[{exp.name!r}].measurements.{name}")
    shown = [e for e in experiments if judged is None or e.name in judged]
    before = simulated_rmse(hf, shown, saved, nfe, ncp, options)
    _log.info(f"update: saved networks simulated on {len(shown)} experiments")
    if fresh is None:
        result = train_flowsheet(hf, experiments, dict(saved), nfe, ncp, settings, tee, warm=True,
                                 anchor=anchor)
    else:
        _log.info("update: every batch the saved model was trained on is listed: training all "
                  "batches from their data, not from the saved networks")
        result = train_flowsheet(hf, experiments, dict(fresh), nfe, ncp, settings, tee)
    after = simulated_rmse(hf, shown, result.specs, nfe, ncp, options)
    validation = split_by_role(shown)[1]
    warn_if_validation_worse(pooled_rmse(before, validation), pooled_rmse(after, validation), _log)
    return FlowsheetUpdateResult(result, before, after, shown,
                                 UpdateStart.SAVED if fresh is None else UpdateStart.DATA, tuple(originals))
