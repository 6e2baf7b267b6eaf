"""The convex hull of the training inputs as a trust region: its vertices, containment,
widening, saved form, and the optimization constraints against known optima."""

from __future__ import annotations

import json

import numpy as np
import pyomo.environ as pyo
import pytest

from idaes_hybrid.model.input_hull import hull_vertex_rows
from idaes_hybrid.model.trust_region import (InputBox, InputBoxError, TrustShape, add_input_box_constraints,
                                             trust_region)


def _square_with_inside(rng) -> np.ndarray:
    corners = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [0.0, 1.0]])
    inside = rng.uniform([0.1, 0.1], [1.9, 0.9], size=(30, 2))
    return np.vstack([inside[:10], corners, inside[10:]])


@pytest.mark.unit
def test_hull_vertices_are_the_corners_and_containment_matches_a_triangle():
    pts = _square_with_inside(np.random.default_rng(3))
    assert sorted(map(tuple, pts[hull_vertex_rows(pts)])) == [(0.0, 0.0), (0.0, 1.0), (2.0, 0.0), (2.0, 1.0)]
    # an L-shaped cloud: the box's far corner is outside the hull, the hull's edge inside
    tri = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 2.0], [1.0, 0.5]])
    box = InputBox.from_points(tri)
    assert len(box.hull.vertices) == 3
    probe = np.array([[3.9, 1.9], [2.0, 1.0], [1.0, 1.0], [-0.1, 0.5]])
    assert box.box_only().contains(probe).tolist() == [True, True, True, False]
    # inside the triangle x/4 + y/2 <= 1, x, y >= 0
    assert box.contains(probe).tolist() == [False, True, True, False]


@pytest.mark.unit
def test_degenerate_points_keep_their_affine_span():
    """Points on a plane of 4-D space (a constant input, a sum of two others): the hull is
    found in the span; points off the plane are outside, on it inside."""
    rng = np.random.default_rng(0)
    p = rng.random((40, 2))
    pts = np.c_[p, p[:, 0] + p[:, 1], np.full(40, 7.0)]
    box = InputBox.from_points(pts)
    assert 3 <= len(box.hull.vertices) < 40
    assert box.contains(np.array([[0.5, 0.5, 1.0, 7.0], [0.5, 0.5, 1.1, 7.0], [0.5, 0.5, 1.0, 7.1]])).tolist() \
        == [True, False, False]
    one = InputBox.from_points(np.array([[1.0, 2.0], [1.0, 2.0]]))
    assert one.hull.vertices == ((1.0, 2.0),)


@pytest.mark.unit
def test_widened_hull_and_saved_round_trip():
    tri = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    box = InputBox.from_points(tri)
    wide = box.widened(0.5)  # ranges x2 about the centroid (1, 1)
    assert sorted(wide.hull.vertices) == sorted(((-1.0, -1.0), (5.0, -1.0), (-1.0, 5.0)))
    assert wide.lower == pytest.approx((-1.5, -1.5)) and wide.upper == pytest.approx((4.5, 4.5))
    assert InputBox.from_dict(json.loads(json.dumps(box.to_dict())), 2) == box
    assert "vertices" not in box.box_only().to_dict()
    assert InputBox.from_dict({"lower": [0.0], "upper": [1.0]}).hull is None  # an older model file
    with pytest.raises(InputBoxError, match="input_box.vertices"):
        InputBox.from_dict({"lower": [0.0, 0.0], "upper": [1.0, 1.0], "vertices": [[0.0, 1.0], [0.5]]}, 2)
    with pytest.raises(InputBoxError, match="input_box.vertices"):
        InputBox.from_dict({"lower": [0.0], "upper": [1.0], "vertices": "none"}, 1)
    assert trust_region(box, TrustShape.BOX, 0.0) == box.box_only()
    assert trust_region(box, TrustShape.HULL, 0.5) == wide


@pytest.mark.unit
def test_old_model_without_hull_falls_back_to_its_box_with_a_warning(caplog):
    old = InputBox((0.0, 0.0), (1.0, 1.0))
    with caplog.at_level("WARNING"):
        assert trust_region(old, TrustShape.HULL, 0.0) == old
    assert "only the box" in caplog.text


def _hull_lp(points: np.ndarray, weights: tuple[float, float], fixed_first: bool = False) -> pyo.ConcreteModel:
    """max w . v over two free points v (2 inputs each, plus one fixed point) in the hull."""
    m = pyo.ConcreteModel()
    m.v = pyo.Var(range(3), range(2), initialize=0.5)
    m.v[0, 0].fix(float(points[0, 0]))
    m.v[0, 1].fix(float(points[0, 1]))
    box = InputBox.from_points(points)
    add_input_box_constraints(m, "region", box, ([m.v[k, 0], m.v[k, 1]] for k in range(3)))
    m.obj = pyo.Objective(expr=sum(weights[i] * m.v[k, i] for k in (1, 2) for i in range(2)), sense=pyo.maximize)
    return m


def _lp_reference(verts: np.ndarray, c: np.ndarray, slack: float) -> float:
    """max c . v over v = sum lam w + s * range, sum lam = 1, lam >= 0, |s| <= slack,
    v inside the box of the vertices (scipy's linprog)."""
    from scipy.optimize import linprog

    lo, width = verts.min(axis=0), np.ptp(verts, axis=0)
    k, d = verts.shape
    # variables: lam (k), s (d); v = W^T lam + width * s
    cost = -np.r_[verts @ c, width * c]
    a_eq = np.r_[np.ones(k), np.zeros(d)][None, :]
    a_ub = np.vstack([np.c_[verts.T, np.diag(width)], -np.c_[verts.T, np.diag(width)]])
    b_ub = np.r_[lo + width, -lo]
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0],
                  bounds=[(0, None)] * k + [(-slack, slack)] * d, method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.component
def test_hull_constraints_reach_the_optimum_a_linear_program_predicts():
    """An L-shaped cloud in 2-D: maximizing x + 1.5 y over the box would give its corner
    (4, 2), value 7; over the hull (grown by HULL_SLACK of each range, inside the box) Ipopt
    reaches the value scipy's linprog finds, near the vertex (4, 0) (value 4); the fixed
    point is left alone."""
    from idaes_hybrid.model.input_hull import HULL_SLACK
    from idaes_hybrid.solve.solver import get_nlp_solver

    pts = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 2.0], [1.0, 0.5], [3.0, 0.4], [0.5, 1.5]])
    c = np.array([1.0, 1.5])
    m = _hull_lp(pts, tuple(c))
    assert len(m.region_hull.lam) == 2 * 3 and len(m.region_hull.convex) == 2  # the two free points
    assert get_nlp_solver({"tol": 1e-10}).solve(m).ok
    hull = InputBox.from_points(pts).hull
    best = _lp_reference(hull.array, c, HULL_SLACK)
    assert 4.0 < best < 4.0 + 3 * HULL_SLACK * 2 * 1.5
    for k in (1, 2):
        v = np.array([pyo.value(m.v[k, 0]), pyo.value(m.v[k, 1])])
        assert v @ c == pytest.approx(best, rel=1e-6)
        assert hull.contains(v[None, :], rtol=HULL_SLACK + 1e-6)[0]
        assert not hull.contains(v[None, :], rtol=1e-6)[0]  # it uses the allowance
    assert (pyo.value(m.v[0, 0]), pyo.value(m.v[0, 1])) == (0.0, 0.0)
