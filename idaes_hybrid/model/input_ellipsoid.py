"""The smallest ellipsoid around the network inputs seen in training, and constraints that
keep an optimization's network inputs inside it.

Between the box of per-input ranges (every combination of in-range inputs, corners no
experiment came near included) and the convex hull of the training points (only
combinations the training saw; a thin sliver where conservation laws tie the inputs, so
that an optimum needing inputs just past the data is cut off) lies the minimum-volume
ellipsoid enclosing the training points. It excludes the box's far corners along the
directions in which the inputs moved together, and it is smooth and full-dimensional:
one convex quadratic constraint per point,

.. math::

    \\lVert L^\\top (z - c) \\rVert^2 \\le 1, \\qquad z_i = \\frac{v_i - l_i}{s_i}

in coordinates scaled by each input's range (``l`` the smallest value, ``s`` the range;
inputs with a zero range are held by the box alone). The minimum-volume ellipsoid of a
point set is that of its convex hull, so it is computed from the hull's vertices that a
model already saves (Khachiyan's algorithm), and a model saved with a hull needs nothing
new. The ellipsoid is used together with the box (their intersection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pyomo.environ as pyo

from idaes_hybrid.model.input_hull import HULL_SLACK, RANK_TOL, range_frame

#: Half-width of the ellipsoid across a direction in which the training points do not
#: vary at all (they lie on a lower-dimensional affine set), as a share of the ranges:
#: the hull's allowance.
FLAT_HALF_WIDTH = HULL_SLACK
#: Khachiyan's iterations stop when a step moves the weights by less than this.
KHACHIYAN_TOL = 1e-6
#: ... or after this many iterations (the result is then scaled to contain every point).
KHACHIYAN_MAX_ITER = 10_000


def _full_rank(z: np.ndarray) -> np.ndarray:
    """``z`` with, for every direction in which its rows do not vary, two points
    :data:`FLAT_HALF_WIDTH` either side of their centroid (so that the enclosing ellipsoid
    is full-dimensional and thin across that direction)."""
    centre = z.mean(axis=0)
    _, s, vt = np.linalg.svd(z - centre, full_matrices=True)
    rank = int(np.sum(s > RANK_TOL * max(s[0], 1e-300))) if len(s) else 0
    flat = vt[rank:]
    if len(flat) == 0:
        return z
    extra = [centre + sign * FLAT_HALF_WIDTH * d for d in flat for sign in (-1.0, 1.0)]
    return np.vstack([z, extra])


def minimum_volume_ellipsoid(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c, A)`` with every row of ``z`` in ``(x - c)^T A (x - c) <= 1``: Khachiyan's
    approximation of the minimum-volume enclosing ellipsoid, scaled to contain every row
    exactly. ``z`` must span its space (see :func:`_full_rank`)."""
    n, d = z.shape
    q = np.vstack([z.T, np.ones(n)])
    u = np.full(n, 1.0 / n)
    for _ in range(KHACHIYAN_MAX_ITER):
        x = (q * u) @ q.T
        m = np.einsum("ij,ji->i", q.T, np.linalg.solve(x, q))
        j = int(np.argmax(m))
        step = (m[j] - d - 1.0) / ((d + 1.0) * (m[j] - 1.0))
        u *= 1.0 - step
        u[j] += step
        if step < KHACHIYAN_TOL:
            break
    c = z.T @ u
    a = np.linalg.inv((z.T * u) @ z - np.outer(c, c)) / d
    r = z - c
    return c, a / max(float(np.max(np.einsum("ij,jk,ik->i", r, a, r))), 1e-300)


@dataclass(frozen=True)
class InputEllipsoid:
    """An ellipsoid in a network's input space, in coordinates scaled by the training
    ranges: ``v`` is inside when ``(z - centre)^T matrix (z - centre) <= 1`` with
    ``z = (v[dims] - lower[dims]) / scale[dims]``.

    Attributes
    ----------
    lower, scale
        Each input's smallest training value and range (1 for a zero range).
    dims
        The inputs that vary in training (the others are held by the box alone).
    centre, matrix
        The ellipsoid's centre and shape matrix in the scaled coordinates of ``dims``.
    """

    lower: tuple[float, ...]
    scale: tuple[float, ...]
    dims: tuple[int, ...]
    centre: tuple[float, ...]
    matrix: tuple[tuple[float, ...], ...]

    @classmethod
    def from_points(cls, inputs: np.ndarray) -> InputEllipsoid:
        """The smallest ellipsoid around the rows of ``inputs`` (points x inputs), e.g.
        a hull's vertices; thin (:data:`FLAT_HALF_WIDTH`) across directions they do not span."""
        v = np.asarray(inputs, dtype=float)
        (lower, scale), dims = range_frame(v), [int(i) for i in np.flatnonzero(np.ptp(v, axis=0) > 0)]
        if not dims:
            return cls(tuple(map(float, lower)), tuple(map(float, scale)), (), (), ())
        z = _full_rank((v[:, dims] - lower[dims]) / scale[dims])
        c, a = minimum_volume_ellipsoid(z)
        return cls(tuple(map(float, lower)), tuple(map(float, scale)), tuple(dims),
                   tuple(map(float, c)), tuple(tuple(map(float, row)) for row in a))

    def scaled(self, factor: float) -> InputEllipsoid:
        """The ellipsoid stretched by ``factor`` about its centre."""
        a = np.asarray(self.matrix) / factor**2 if self.dims else np.asarray(self.matrix)
        return InputEllipsoid(self.lower, self.scale, self.dims, self.centre,
                              tuple(tuple(map(float, row)) for row in a))

    def distance(self, inputs: np.ndarray) -> np.ndarray:
        """``(z - c)^T A (z - c)`` of each row of ``inputs`` (<= 1 inside)."""
        v = np.atleast_2d(np.asarray(inputs, dtype=float))
        if not self.dims:
            return np.zeros(len(v))
        dims = list(self.dims)
        r = (v[:, dims] - np.asarray(self.lower)[dims]) / np.asarray(self.scale)[dims] - np.asarray(self.centre)
        return np.einsum("ij,jk,ik->i", r, np.asarray(self.matrix), r)

    def contains(self, inputs: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
        """Whether each row of ``inputs`` lies in the ellipsoid (``distance <= 1 + rtol``)."""
        return self.distance(inputs) <= 1.0 + rtol

    def to_dict(self) -> dict[str, list]:
        """Plain JSON data (an optimization's record of its trust region)."""
        return {"lower": list(self.lower), "scale": list(self.scale), "dims": list(self.dims),
                "centre": list(self.centre), "matrix": [list(row) for row in self.matrix]}


def add_ellipsoid_constraints(block: pyo.Block, name: str, ellipsoid: InputEllipsoid,
                              points: Sequence[Sequence[pyo.Var]], units_of: Callable) -> int:
    """Add ``block.<name>``: every point whose inputs are not all fixed inside
    ``ellipsoid`` (one quadratic constraint each, written with the Cholesky factor of its
    matrix). ``units_of(var)`` gives a variable's units. Returns the number of points
    constrained."""
    free = [p for p in points if not all(v.fixed for v in p)]
    if not ellipsoid.dims or not free:
        return 0
    factor = np.linalg.cholesky(np.asarray(ellipsoid.matrix))  # A = L L^T
    dims, c = ellipsoid.dims, ellipsoid.centre
    lower, scale = ellipsoid.lower, ellipsoid.scale

    def rule(_, k):
        p = free[k]
        r = [(p[i] / units_of(p[i]) - lower[i]) / scale[i] - c[d] for d, i in enumerate(dims)]
        return sum(sum(float(factor[a, b]) * r[a] for a in range(len(dims))) ** 2
                   for b in range(len(dims))) <= 1.0

    block.add_component(name, pyo.Constraint(
        range(len(free)), rule=rule,
        doc="Network inputs inside the smallest ellipsoid around the training inputs"))
    return len(free)
