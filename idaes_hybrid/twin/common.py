"""Errors and small helpers shared by the digital-twin operations."""

from __future__ import annotations

import math
from typing import Any, Sequence

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
