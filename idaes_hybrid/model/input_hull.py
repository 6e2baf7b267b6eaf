"""The convex hull of the network inputs seen in training, and constraints that keep an
optimization's network inputs inside it.

A box of per-input ranges (:class:`~idaes_hybrid.model.trust_region.InputBox`) still
contains combinations no experiment produced: in a fed batch the substrate is high
while the biomass is low and low once it is high, and the box's corner "high substrate
and high biomass" lies inside the box but far from every training point. The hull of
the training points excludes such corners. A point ``v`` of an optimization is inside
the hull when it is a convex combination of the hull's vertices ``w_j``:

.. math::

    \\frac{v_i - l_i}{u_i - l_i} = \\sum_j \\lambda_j \\frac{w_{ji} - l_i}{u_i - l_i},
    \\qquad \\sum_j \\lambda_j = 1, \\qquad \\lambda_j \\ge 0

(``l``, ``u`` the box; inputs with a zero range are held by the box alone). These are
linear constraints with one ``lambda`` per vertex and point; only the hull's vertices
(found by Qhull in the normalized coordinates, on the points' affine span when they
are degenerate) enter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyomo.environ as pyo

#: Above this many varying inputs the vertices are not reduced by Qhull (the hull's size
#: grows quickly with the dimension); every distinct training point is kept instead.
MAX_REDUCED_DIMENSION = 8
#: How far outside the hull a point may lie, as a share of each input's range (the hull
#: grown by this box): inputs tied by conservation laws (P V = Ypx (X V - X0 V0) in a
#: fed batch) lie on a curved surface whose hull is a thin sliver that the surface itself
#: leaves between samples; without the allowance Ipopt stalls there (1000 iterations on
#: the bioreactor case; with it 43, the same optimum as the box to 0.01 %).
HULL_SLACK = 0.02
#: Relative size of a singular value below which a direction of the normalized points
#: counts as degenerate (the points lie on a lower-dimensional affine set).
RANK_TOL = 1e-9


class InputHullError(ValueError):
    """A hull that cannot be built or read; the message names the field."""


def range_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, scale)`` of the rows of ``points``: each input's smallest value and range
    (1 for an input with a zero range), the normalization of every hull computation."""
    width = np.ptp(points, axis=0)
    return points.min(axis=0), np.where(width > 0, width, 1.0)


def hull_vertex_rows(points: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``points`` that span their convex hull (its vertices).

    Inputs with a zero range are dropped; the rest are scaled to [0, 1] and, if the
    points are degenerate, projected onto their affine span before Qhull runs. Above
    :data:`MAX_REDUCED_DIMENSION` varying inputs, or if Qhull fails, every distinct row
    is returned (the same hull, described by more points).
    """
    from scipy.spatial import ConvexHull, QhullError

    pts = np.asarray(points, dtype=float)
    distinct = np.unique(pts, axis=0, return_index=True)[1]
    lower, scale = range_frame(pts)
    z = ((pts[distinct] - lower) / scale)[:, np.ptp(pts, axis=0) > 0]
    if z.shape[1] == 0:
        return distinct[:1]
    centred = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    rank = int(np.sum(s > RANK_TOL * s[0]))
    y = centred @ vt[:rank].T
    if rank == 1:
        return np.sort(distinct[[int(np.argmin(y[:, 0])), int(np.argmax(y[:, 0]))]])
    if rank > MAX_REDUCED_DIMENSION:
        return np.sort(distinct)
    try:
        return np.sort(distinct[ConvexHull(y).vertices])
    except QhullError:
        return np.sort(distinct)


@dataclass(frozen=True)
class InputHull:
    """The convex hull of a network's training inputs, by its vertices.

    Attributes
    ----------
    vertices
        The hull's vertices, one tuple per vertex in the network's input order
        (original units).
    """

    vertices: tuple[tuple[float, ...], ...]

    @classmethod
    def from_points(cls, inputs: np.ndarray) -> InputHull:
        """The hull of the rows of ``inputs`` (points x network inputs)."""
        v = np.asarray(inputs, dtype=float)
        if v.ndim != 2 or v.shape[0] == 0 or not np.all(np.isfinite(v)):
            raise InputHullError("input_box.vertices: expected a non-empty finite array of "
                                 "points x inputs")
        return cls(tuple(tuple(float(x) for x in v[i]) for i in hull_vertex_rows(v)))

    @property
    def array(self) -> np.ndarray:
        """The vertices as an array (vertices x inputs)."""
        return np.asarray(self.vertices, dtype=float)

    def scaled(self, factor: float) -> InputHull:
        """The hull stretched by ``factor`` about its vertices' centroid."""
        w = self.array
        centre = w.mean(axis=0)
        return InputHull(tuple(tuple(float(x) for x in row) for row in centre + factor * (w - centre)))

    def contains(self, inputs: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
        """Whether each row of ``inputs`` is a convex combination of the vertices (to
        ``rtol`` of each input's range), by a small linear program per row."""
        from scipy.optimize import linprog

        w, v = self.array, np.atleast_2d(np.asarray(inputs, dtype=float))
        lower, scale = range_frame(w)
        coords, n = ((w - lower) / scale).T, len(w)
        # variables (lam, e): minimize e with |coords lam - row| <= e, sum lam = 1, lam, e >= 0
        ones = np.ones((coords.shape[0], 1))
        a_ub = np.vstack([np.hstack([coords, -ones]), np.hstack([-coords, -ones])])
        cost, a_eq = np.r_[np.zeros(n), 1.0], np.r_[np.ones(n), 0.0][None, :]
        inside = []
        for row in (v - lower) / scale:
            res = linprog(cost, A_ub=a_ub, b_ub=np.r_[row, -row], A_eq=a_eq, b_eq=[1.0],
                          bounds=[(0, None)] * (n + 1), method="highs")
            inside.append(bool(res.status == 0 and res.fun <= rtol))
        return np.asarray(inside)

    def to_list(self) -> list[list[float]]:
        """Plain JSON data."""
        return [list(row) for row in self.vertices]

    @classmethod
    def from_list(cls, data: Any, n_inputs: int) -> InputHull:
        """Read :meth:`to_list`'s data; :class:`InputHullError` names a malformed field."""
        try:
            rows = tuple(tuple(float(x) for x in row) for row in data)
        except (TypeError, ValueError) as err:
            raise InputHullError(f"input_box.vertices: expected a list of lists of numbers ({err})") from None
        if not rows or any(len(r) != n_inputs for r in rows) or not np.all(np.isfinite(rows)):
            raise InputHullError(f"input_box.vertices: expected finite vertices of {n_inputs} inputs each")
        return cls(rows)


#: Share of the uniform weights in a point's starting weights: the weights start well
#: inside their bounds (an optimization pushes starts only ``bound_push`` = 1e-8 inside,
#: and weights at 1e-8 stall Ipopt's steps at the fraction-to-boundary rule).
START_SPREAD = 0.5


def _start_weights(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Convex weights whose combination of ``w``'s rows is close to ``v``, every one of them
    at least ``START_SPREAD / len(w)`` (a start for Ipopt)."""
    from scipy.optimize import nnls

    a = np.vstack([w.T, 10.0 * np.ones(len(w))])
    lam, _ = nnls(a, np.r_[v, 10.0])
    total = lam.sum()
    lam = lam / total if total > 0 else np.full(len(w), 1.0 / len(w))
    return (1.0 - START_SPREAD) * lam + START_SPREAD / len(w)


def add_hull_constraints(block: pyo.Block, name: str, hull: InputHull,
                         points: Sequence[Sequence[pyo.Var]], units_of) -> int:
    """Add ``block.<name>``: each point whose inputs are not all fixed is a convex
    combination of ``hull``'s vertices, to within :data:`HULL_SLACK` of each input's range
    (in coordinates scaled by the vertices' ranges).

    ``points`` gives each point's input variables in the network's order; ``units_of(var)``
    their units (the vertices are plain numbers). Returns the number of points constrained.
    """
    w = hull.array
    (lower, width), dims = range_frame(w), [i for i in range(w.shape[1]) if np.ptp(w[:, i]) > 0]
    free = [p for p in points if not all(v.fixed for v in p)]
    if not dims or not free:
        return 0
    z = (w[:, dims] - lower[dims]) / width[dims]
    hb = pyo.Block(doc="Network inputs inside the convex hull of the training inputs")
    block.add_component(name, hb)
    hb.lam = pyo.Var(range(len(free)), range(len(w)), bounds=(0.0, 1.0), initialize=1.0 / len(w),
                     doc="Weight of each hull vertex in each point's inputs")
    hb.convex = pyo.Constraint(range(len(free)), rule=lambda b, k: sum(b.lam[k, j] for j in range(len(w))) == 1)
    hb.slack = pyo.Var(range(len(free)), range(len(dims)), bounds=(-HULL_SLACK, HULL_SLACK), initialize=0.0,
                       doc="Distance allowed from the hull, as a share of each input's range")

    def coordinate(b, k, d):
        i, var = dims[d], free[k][dims[d]]
        return (var / units_of(var) - lower[i]) / width[i] == \
            sum(z[j, d] * b.lam[k, j] for j in range(len(w))) + b.slack[k, d]

    hb.inside = pyo.Constraint(range(len(free)), range(len(dims)), rule=coordinate)
    for k, p in enumerate(free):
        here = np.array([(pyo.value(p[i]) / pyo.value(units_of(p[i])) - lower[i]) / width[i] for i in dims])
        for j, lam in enumerate(_start_weights(z, here)):
            hb.lam[k, j].set_value(float(lam))
    return len(free)

