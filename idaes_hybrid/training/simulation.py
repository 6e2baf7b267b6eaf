"""What a simulation returns, and the error when it cannot be computed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping

import numpy as np
import pyomo.environ as pyo


@dataclass
class Simulation(Mapping[str, np.ndarray]):
    """A simulated experiment: its time grid, trajectories by name and the solved model.

    Reads like a mapping of trajectories (``sim["time"]``, ``sim["S"]``, ``"S" in sim``);
    :meth:`trajectories` gives them as a plain dict (for plots and JSON).
    """

    time: np.ndarray
    series: dict[str, np.ndarray]
    model: pyo.ConcreteModel = field(repr=False)
    #: Per variable: its ``(lower, upper)`` bounds in the model (``None``: unbounded).
    bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.time if key == "time" else self.series[key]

    def __iter__(self) -> Iterator[str]:
        return iter(["time", *self.series])

    def __len__(self) -> int:
        return 1 + len(self.series)

    def trajectories(self) -> dict[str, np.ndarray]:
        """``{"time": ..., name: values, ...}``."""
        return {"time": self.time, **self.series}


def series_bounds(variables: Iterator) -> tuple[float | None, float | None]:
    """The widest ``(lower, upper)`` bounds over ``variables`` (the points of one
    time-indexed variable); ``None`` where any point is unbounded (or an expression)."""
    lbs, ubs = [], []
    for var in variables:
        lbs.append(getattr(var, "lb", None))
        ubs.append(getattr(var, "ub", None))
    lower = None if not lbs or any(b is None for b in lbs) else float(min(lbs))
    upper = None if not ubs or any(b is None for b in ubs) else float(max(ubs))
    return lower, upper


class PredictionError(RuntimeError):
    """A prediction could not be computed; the message names the experiment."""
