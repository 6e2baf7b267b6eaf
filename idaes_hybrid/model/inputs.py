"""Input profiles of an experiment: constants, piecewise-constant steps, series."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

import idaes.logger as idaeslog

from idaes_hybrid.model.experiment import DataError, data_path, read_measurements

_log = idaeslog.getLogger(__name__)


class Interpolation(str, enum.Enum):
    """How an input is valued between its given times."""

    #: Piecewise constant: each value holds from its time until the next one.
    STEP = "step"
    #: Linear between given times (a measured series).
    LINEAR = "linear"


@dataclass(frozen=True)
class InputProfile:
    """An input's value over time.

    Attributes
    ----------
    times, values
        Given times (increasing, the first at or before the start) and values.
    interpolation
        ``STEP`` (the value at ``times[i]`` holds until ``times[i + 1]``) or ``LINEAR``.
    """

    times: tuple[float, ...]
    values: tuple[float, ...]
    interpolation: Interpolation = Interpolation.STEP

    @classmethod
    def constant(cls, value: float) -> InputProfile:
        """The same value at all times."""
        return cls((0.0,), (float(value),), Interpolation.STEP)

    @property
    def breakpoints(self) -> list[float]:
        """Times where a step changes the value (finite-element boundaries belong there)."""
        return list(self.times[1:]) if self.interpolation is Interpolation.STEP else []

    def value_at(self, t: float, left: bool = True) -> float:
        """Value at ``t``; at a step time ``left`` takes the value before the step
        (Radau points of an element end at its right boundary)."""
        if self.interpolation is Interpolation.LINEAR:
            return float(np.interp(t, self.times, self.values))
        k = int(np.searchsorted(self.times, t, side="left" if left else "right")) - 1
        return float(self.values[max(k, 0)])

    def shifted(self, offset: float) -> InputProfile:
        """The profile seen from ``offset`` on: its time ``t`` is this profile's ``t + offset``.

        The value at the new start is the one in force just after ``offset`` (after a
        step at ``offset``); later steps and series points move by ``-offset``.
        """
        if offset == 0.0:
            return self
        tol = 1e-9 * max(1.0, abs(offset))
        start = self.value_at(offset if self.interpolation is Interpolation.LINEAR
                              else offset + tol, left=False)
        later = [(t - offset, v) for t, v in zip(self.times, self.values) if t > offset + tol]
        return InputProfile((0.0, *(t for t, _ in later)), (start, *(v for _, v in later)),
                            self.interpolation)

    def until(self, end: float) -> InputProfile:
        """The profile without the steps at or after ``end`` (a window ending there, whose
        horizon they would not reach); a series is kept whole."""
        if self.interpolation is Interpolation.LINEAR:
            return self
        keep = [i for i, t in enumerate(self.times) if i == 0 or t < end * (1 - 1e-12)]
        if len(keep) == len(self.times):
            return self
        return InputProfile(tuple(self.times[i] for i in keep), tuple(self.values[i] for i in keep),
                            self.interpolation)

    def check(self, horizon: float, field: str) -> None:
        """Raise :class:`DataError` unless the profile covers ``[0, horizon]``."""
        t = np.asarray(self.times, dtype=float)
        if t.size == 0 or t.size != len(self.values):
            raise DataError(f"{field}: needs as many times as values (got {t.size} and {len(self.values)})")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(self.values))):
            raise DataError(f"{field}: times and values must be finite numbers")
        if np.any(np.diff(t) <= 0):
            k = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
            raise DataError(f"{field}: times must increase strictly; t={t[k]:g} (entry {k + 1}) "
                            f"follows t={t[k - 1]:g}")
        if t[0] > 1e-12 * max(1.0, horizon):
            raise DataError(f"{field}: the profile starts at t={t[0]:g}, after the start (0); "
                            "it does not cover the horizon")
        if self.interpolation is Interpolation.LINEAR and t[-1] < horizon * (1 - 1e-12):
            raise DataError(f"{field}: the series ends at t={t[-1]:g}, before the horizon "
                            f"({horizon:g}); it does not cover the horizon")
        late = t[t >= horizon * (1 + 1e-12)]
        if self.interpolation is Interpolation.STEP and late.size:
            _log.warning(f"{field}: the step at t={late[0]:g} is after the end of the "
                         f"experiment ({horizon:g}) and has no effect; is the horizon or the step "
                         "time mistyped?")


def parse_input(value: Any, field: str, base_dir: str | Path = ".") -> InputProfile:
    """An :class:`InputProfile` from a config value.

    Accepts a number (constant), a list of ``[time, value]`` pairs (steps), a
    table ``{steps = [[t, v], ...]}``, or ``{file = "inputs.csv", column = "Q"}``
    (a series with a ``time`` column, linear in between; ``interpolation =
    "step"`` makes it piecewise constant), or an :class:`InputProfile`.
    """
    if isinstance(value, InputProfile):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(float(value)):
            raise DataError(f"{field}: value {value!r} is not a finite number")
        return InputProfile.constant(float(value))
    if isinstance(value, Mapping) and "steps" in value:
        return parse_input(value["steps"], f"{field}.steps", base_dir)
    if isinstance(value, (list, tuple)):
        try:
            pairs = [(float(t), float(v)) for t, v in value]
        except (TypeError, ValueError):
            raise DataError(f"{field}: expected [[time, value], ...] steps, got {value!r}") from None
        return InputProfile(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))
    if isinstance(value, Mapping) and "file" in value:
        col = value.get("column")
        frame = read_measurements(data_path(base_dir, str(value["file"])), f"{field}.file")
        if col not in frame.columns:
            raise DataError(f"{field}.column: {col!r} is not a column of {value['file']!r} "
                            f"(columns: {', '.join(map(str, frame.columns))})")
        s = frame[col].dropna()
        try:
            kind = Interpolation(value.get("interpolation", Interpolation.LINEAR.value))
        except ValueError:
            raise DataError(f"{field}.interpolation: must be 'step' or 'linear', "
                            f"got {value.get('interpolation')!r}") from None
        return InputProfile(tuple(s.index.to_numpy(float)), tuple(s.to_numpy(float)), kind)
    raise DataError(f"{field}: expected a number, [[time, value], ...] steps or "
                    f"{{file = ..., column = ...}}, got {value!r}")
