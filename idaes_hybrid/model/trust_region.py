"""The region of network inputs the training data cover, and constraints that keep an
optimization inside it.

A trained network is only known where the training data put its inputs. An optimizer
free to choose the inputs of a process (a feed profile, a heat duty) may drive the
network's inputs into a region no experiment covered, where its prediction means
little; the optimum is then an artefact of the extrapolation (issue 16). An
:class:`InputBox` records, per network input, the smallest and largest value the
network saw in training (at the smoother's profiles: the data's own trajectories),
optionally widened by a margin, and the convex hull of the points it saw
(:class:`~idaes_hybrid.model.input_hull.InputHull`); :func:`add_input_box_constraints`
keeps the network's input variables at every point of an optimization model inside the
box and, if the box carries one, inside the hull or the smallest ellipsoid around the
training inputs (:class:`~idaes_hybrid.model.input_ellipsoid.InputEllipsoid`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyomo.environ as pyo

from idaes_hybrid.model.input_ellipsoid import InputEllipsoid, add_ellipsoid_constraints
from idaes_hybrid.model.input_hull import HULL_SLACK, InputHull, InputHullError, add_hull_constraints


class InputBoxError(ValueError):
    """An input box that cannot be built or read; the message names the field."""


class TrustShape(str, enum.Enum):
    """The shape of the trust region (``[optimization] trust_region``)."""

    #: Each input within its own training range, independently of the others: ``true``.
    BOX = "box"
    #: The convex hull of the training inputs (inside their box): only combinations of
    #: inputs the training saw together; tighter, and a prediction there is close to the
    #: truth, but the optimum may need inputs just past the data
    #: (benchmarks/results/trust_region_hull.md).
    HULL = "hull"
    #: The smallest ellipsoid around the training inputs (inside their box): excludes the
    #: box's far corners along the directions the inputs moved together, but not the
    #: inputs just past the data that the hull cuts off
    #: (benchmarks/results/trust_region_ellipsoid.md).
    ELLIPSOID = "ellipsoid"


@dataclass(frozen=True)
class InputBox:
    """Per-input bounds ``lower[i] <= v_i <= upper[i]`` of a network's inputs, and
    optionally the convex hull of the training inputs inside them.

    Attributes
    ----------
    lower, upper
        Smallest and largest value of each input, in the network's input order.
    hull
        The convex hull of the training inputs (its vertices), or ``None`` for the box alone.
    ellipsoid
        An ellipsoid the inputs must also stay in (an optimization's trust region, derived
        from the hull; never saved), or ``None``.
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    hull: InputHull | None = None
    ellipsoid: InputEllipsoid | None = None

    @classmethod
    def from_points(cls, inputs: np.ndarray, hull: bool = True) -> InputBox:
        """The box of the rows of ``inputs`` (points x network inputs), with their convex
        hull unless ``hull`` is false."""
        v = np.asarray(inputs, dtype=float)
        if v.ndim != 2 or v.shape[0] == 0 or not np.all(np.isfinite(v)):
            raise InputBoxError("input_box: expected a non-empty finite array of points x inputs")
        return cls(tuple(float(x) for x in v.min(axis=0)), tuple(float(x) for x in v.max(axis=0)),
                   InputHull.from_points(v) if hull else None)

    def box_only(self) -> InputBox:
        """The same box without the hull."""
        return InputBox(self.lower, self.upper)

    def widened(self, margin: float) -> InputBox:
        """Each side moved out by ``margin`` times the input's range; the hull stretched
        by ``1 + 2 margin`` about its centroid (the same growth of each range)."""
        if not margin >= 0.0:
            raise InputBoxError(f"trust_margin: expected a number >= 0, got {margin!r}")
        width = np.subtract(self.upper, self.lower)
        return InputBox(tuple(float(x) for x in np.subtract(self.lower, margin * width)),
                        tuple(float(x) for x in np.add(self.upper, margin * width)),
                        self.hull if self.hull is None or margin == 0 else self.hull.scaled(1.0 + 2.0 * margin))

    def contains(self, inputs: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
        """Whether each row of ``inputs`` lies in the box (within ``rtol`` of the range)
        and, if the box has one, in the hull."""
        v = np.atleast_2d(np.asarray(inputs, dtype=float))
        tol = rtol * np.maximum(np.subtract(self.upper, self.lower), 1.0)
        inside = np.all((v >= np.asarray(self.lower) - tol) & (v <= np.asarray(self.upper) + tol), axis=1)
        if self.hull is not None and inside.any():
            inside[inside] = self.hull.contains(v[inside], rtol)
        if self.ellipsoid is not None:
            inside &= self.ellipsoid.contains(v, rtol)
        return inside

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (``vertices``: the hull's, if any; ``ellipsoid``: an optimization's
        ellipsoid, if any, which :meth:`from_dict` does not read back)."""
        data: dict[str, Any] = {"lower": list(self.lower), "upper": list(self.upper)}
        if self.hull is not None:
            data["vertices"] = self.hull.to_list()
        if self.ellipsoid is not None:
            data["ellipsoid"] = self.ellipsoid.to_dict()
        return data

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
        try:
            hull = None if data.get("vertices") is None else InputHull.from_list(data["vertices"], len(lower))
        except InputHullError as err:
            raise InputBoxError(str(err)) from None
        return cls(lower, upper, hull)


def trust_region(saved: InputBox, shape: TrustShape, margin: float) -> InputBox:
    """The region an optimization keeps the network inputs in: ``saved`` (a model's
    training region) in ``shape``, widened by ``margin``. A saved box without a hull
    (a model trained before hulls were saved) serves as the box, with a warning. The
    ellipsoid is the smallest around the saved hull's vertices, stretched by ``1 + 2 margin``
    about its centre (as the hull)."""
    if shape is TrustShape.BOX:
        return saved.box_only().widened(margin)
    if saved.hull is None:
        import idaes.logger as idaeslog

        idaeslog.getLogger(__name__).warning(
            f"optimization.trust_region: the saved model records only the box of the training "
            f"inputs (trained before the hull was saved); using the box. Train again for the {shape.value}.")
        return saved.widened(margin)
    if shape is TrustShape.ELLIPSOID:
        ellipsoid = InputEllipsoid.from_points(saved.hull.array).scaled(1.0 + 2.0 * margin)
        return replace(saved.box_only().widened(margin), ellipsoid=ellipsoid)
    return saved.widened(margin)


def add_input_box_constraints(block: pyo.Block, name: str, box: InputBox,
                              points: Iterable[Sequence[pyo.Var]]) -> int:
    """Add ``block.<name>``: every free input variable of every point inside ``box``, and,
    if the box has a hull, ``block.<name>_hull``: every point not wholly fixed inside it
    (:func:`~idaes_hybrid.model.input_hull.add_hull_constraints`); if it has an ellipsoid,
    ``block.<name>_ellipsoid`` likewise
    (:func:`~idaes_hybrid.model.input_ellipsoid.add_ellipsoid_constraints`).

    ``points`` yields each point's input variables in the network's order (e.g.
    ``unit.network_input_vars(t)`` for every ``t``); fixed variables (an initial state)
    are left alone. Returns the number of box constraints added.
    """
    points = [list(vin) for vin in points]
    rows = [(i, v) for vin in points for i, v in enumerate(vin) if not v.fixed]
    if any(i >= len(box.lower) for i, _ in rows):
        raise InputBoxError(f"input_box: has {len(box.lower)} inputs, the network has more")
    index = range(len(rows))
    con = pyo.Constraint(index, rule=lambda _, k: pyo.inequality(
        box.lower[rows[k][0]], rows[k][1] / _units_of(rows[k][1]), box.upper[rows[k][0]]),
        doc="Network inputs inside the region of the training data (trust region)")
    block.add_component(name, con)
    if box.hull is not None:
        add_hull_constraints(block, f"{name}_hull", box.hull, points, _units_of)
    if box.ellipsoid is not None:
        add_ellipsoid_constraints(block, f"{name}_ellipsoid", box.ellipsoid, points, _units_of)
    return len(rows)


def _units_of(var: pyo.Var):
    """The variable's units (1 if it has none), so that the bounds are plain numbers."""
    from pyomo.environ import units as pyunits

    units = pyunits.get_units(var)
    return 1 if units is None else units


def extrapolation_share(saved: InputBox, inputs: np.ndarray) -> dict[str, float]:
    """How much of a trajectory lies where the training did not go: the share of the rows
    of ``inputs`` (points x network inputs) outside the saved box (``outside_box``, by more
    than 1e-4 of an input's range) and, if it has one, outside the hull (``outside_hull``,
    by more than the hull constraints' allowance, ``HULL_SLACK`` of a range)."""
    v = np.atleast_2d(np.asarray(inputs, dtype=float))
    inside = saved.box_only().contains(v, rtol=1e-4)
    share = {"outside_box": float(1.0 - inside.mean())}
    if saved.hull is not None:
        if inside.any():
            inside[inside] = saved.hull.contains(v[inside], rtol=HULL_SLACK + 1e-4)
        share["outside_hull"] = float(1.0 - inside.mean())
    return share


def extrapolation_warning(share: Mapping[str, float], what: str) -> str | None:
    """The warning for an optimum whose ``what`` (e.g. "the network's inputs") leave the
    training data by :func:`extrapolation_share`'s ``share``; ``None`` if they stay inside."""
    outside = share.get("outside_hull", share["outside_box"])
    if not outside > 0:
        return None
    where = "convex hull" if "outside_hull" in share else "box"
    return (f"optimize: {outside:.0%} of the optimum's points put {what} outside the {where} of the "
            f"training data (outside the box: {share['outside_box']:.0%}); the prediction there "
            'extrapolates. trust_region = "box", "ellipsoid" or "hull" keeps the optimum inside.')
