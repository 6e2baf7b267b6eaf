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

    def __getitem__(self, key: str) -> np.ndarray:
        return self.time if key == "time" else self.series[key]

    def __iter__(self) -> Iterator[str]:
        return iter(["time", *self.series])

    def __len__(self) -> int:
        return 1 + len(self.series)

    def trajectories(self) -> dict[str, np.ndarray]:
        """``{"time": ..., name: values, ...}``."""
        return {"time": self.time, **self.series}


class PredictionError(RuntimeError):
    """A prediction could not be computed; the message names the experiment."""
