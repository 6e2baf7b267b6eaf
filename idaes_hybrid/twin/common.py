"""Errors and small helpers shared by the digital-twin operations."""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

from idaes_hybrid.output.saved import SavedModel
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.training.predict import rmse, simulate


class TwinRequestError(ValueError):
    """An invalid digital-twin request, found before any solve.

    The message starts with the bad field (``t_now: ...``); ``field`` holds it.
    """

    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name


def finite_number(value: Any, field_name: str) -> float:
    """``value`` as a float; :class:`TwinRequestError` unless it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TwinRequestError(field_name, f"expected a finite number, got {value!r}")
    return float(value)


def find_experiment(experiments: Sequence[Experiment], name: str,
                    field_name: str = "experiment") -> Experiment:
    """The experiment called ``name``; :class:`TwinRequestError` listing the valid names."""
    for exp in experiments:
        if exp.name == name:
            return exp
    valid = ", ".join(repr(e.name) for e in experiments) or "(none)"
    raise TwinRequestError(field_name, f"{name!r} is not an experiment of the config; "
                                       f"valid names: {valid}")


def check_experiments(saved: SavedModel, experiments: Sequence[Experiment], field_name: str) -> None:
    """Validate ``experiments`` against the saved model's states and inputs."""
    definition = saved.definition
    for i, exp in enumerate(experiments):
        exp.validate(definition.state_names, definition.input_names,
                     f"{field_name}[{i}] ({exp.name!r})")


def simulated_rmse(saved: SavedModel, spec, experiment: Experiment, solver_options: dict | None,
                   unit_config: dict | None) -> dict[str, float]:
    """RMSE per measured variable of ``experiment`` simulated with ``spec`` from its initial state."""
    traj = simulate(saved.hybrid_model(unit_config, solver_options).replace(spec=spec), experiment)
    return rmse(traj.model.experiment[experiment.name], experiment)


#: An update whose pooled validation RMSE of some variable grows by more than this factor
#: is warned about (:func:`warn_if_validation_worse`).
WORSE_FACTOR = 1.25


def warn_if_validation_worse(before: Mapping[str, float], after: Mapping[str, float],
                             log: logging.Logger, factor: float = WORSE_FACTOR) -> list[str]:
    """Warn when the updated networks predict the validation experiments worse than the
    saved ones: some variable's pooled RMSE grew by more than ``factor``. Returns the
    variables named (none: no warning)."""
    worse = sorted(n for n, b in before.items()
                   if math.isfinite(b) and b > 0 and math.isfinite(after.get(n, math.nan))
                   and after[n] > factor * b)
    if worse:
        changes = ", ".join(f"{n} {before[n]:.4g} -> {after[n]:.4g}" for n in worse)
        log.warning(f"update: the updated model predicts the validation experiments worse than the "
                    f"saved one ({changes}); the update started from the saved networks and can end "
                    "at another local optimum than a training on all batches: compare with "
                    "`idaes-hybrid train` on the original and the new batches before deploying it")
    return worse
