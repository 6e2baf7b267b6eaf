"""The region of network inputs the training data cover, and constraints that keep an
optimization inside it.

A trained network is only known where the training data put its inputs. An optimizer
free to choose the inputs of a process (a feed profile, a heat duty) may drive the
network's inputs into a region no experiment covered, where its prediction means
little; the optimum is then an artefact of the extrapolation (issue 16). An
:class:`InputBox` records, per network input, the smallest and largest value the
network saw in training (at the smoother's profiles: the data's own trajectories),
optionally widened by a margin; :func:`add_input_box_constraints` bounds the network's
input variables at every point of an optimization model to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyomo.environ as pyo


class InputBoxError(ValueError):
    """An input box that cannot be built or read; the message names the field."""


@dataclass(frozen=True)
class InputBox:
    """Per-input bounds ``lower[i] <= v_i <= upper[i]`` of a network's inputs.

    Attributes
    ----------
    lower, upper
        Smallest and largest value of each input, in the network's input order.
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]

    @classmethod
    def from_points(cls, inputs: np.ndarray) -> InputBox:
        """The box of the rows of ``inputs`` (points x network inputs)."""
        v = np.asarray(inputs, dtype=float)
        if v.ndim != 2 or v.shape[0] == 0 or not np.all(np.isfinite(v)):
            raise InputBoxError("input_box: expected a non-empty finite array of points x inputs")
        return cls(tuple(float(x) for x in v.min(axis=0)), tuple(float(x) for x in v.max(axis=0)))

    def widened(self, margin: float) -> InputBox:
        """Each side moved out by ``margin`` times the input's range."""
        if not margin >= 0.0:
            raise InputBoxError(f"trust_margin: expected a number >= 0, got {margin!r}")
        width = np.subtract(self.upper, self.lower)
        return InputBox(tuple(float(x) for x in np.subtract(self.lower, margin * width)),
                        tuple(float(x) for x in np.add(self.upper, margin * width)))

    def contains(self, inputs: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
        """Whether each row of ``inputs`` lies in the box (within ``rtol`` of the range)."""
        v = np.asarray(inputs, dtype=float)
        tol = rtol * np.maximum(np.subtract(self.upper, self.lower), 1.0)
        return np.all((v >= np.asarray(self.lower) - tol) & (v <= np.asarray(self.upper) + tol), axis=1)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain JSON data."""
        return {"lower": list(self.lower), "upper": list(self.upper)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], n_inputs: int | None = None) -> InputBox:
        """Read :meth:`to_dict`'s data; :class:`InputBoxError` names a malformed field."""
        try:
            lower = tuple(float(x) for x in data["lower"])
            upper = tuple(float(x) for x in data["upper"])
        except (KeyError, TypeError, ValueError) as err:
            raise InputBoxError(f"input_box: expected lists 'lower' and 'upper' ({err})") from None
        if len(lower) != len(upper) or (n_inputs is not None and len(lower) != n_inputs) or \
                not all(lo <= hi for lo, hi in zip(lower, upper)):
            raise InputBoxError("input_box: 'lower' and 'upper' must have one entry per network "
                                "input, lower <= upper")
        return cls(lower, upper)


def add_input_box_constraints(block: pyo.Block, name: str, box: InputBox,
                              points: Iterable[Sequence[pyo.Var]]) -> int:
    """Add ``block.<name>``: every free input variable of every point inside ``box``.

    ``points`` yields each point's input variables in the network's order (e.g.
    ``unit.network_input_vars(t)`` for every ``t``); fixed variables (an initial state)
    are left alone. Returns the number of constraints added.
    """
    rows = [(i, v) for vin in points for i, v in enumerate(vin) if not v.fixed]
    if any(i >= len(box.lower) for i, _ in rows):
        raise InputBoxError(f"input_box: has {len(box.lower)} inputs, the network has more")
    index = range(len(rows))
    con = pyo.Constraint(index, rule=lambda _, k: pyo.inequality(
        box.lower[rows[k][0]], rows[k][1] / _units_of(rows[k][1]), box.upper[rows[k][0]]),
        doc="Network inputs inside the region of the training data (trust region)")
    block.add_component(name, con)
    return len(rows)


def _units_of(var: pyo.Var):
    """The variable's units (1 if it has none), so that the bounds are plain numbers."""
    from pyomo.environ import units as pyunits

    units = pyunits.get_units(var)
    return 1 if units is None else units
