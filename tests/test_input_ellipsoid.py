"""The smallest ellipsoid around the training inputs as a trust region: its shape against
closed forms, containment, flat directions, widening, and the optimization constraints
against a known optimum."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest

from idaes_hybrid.model.input_ellipsoid import FLAT_HALF_WIDTH, InputEllipsoid
from idaes_hybrid.model.trust_region import InputBox, TrustShape, add_input_box_constraints, trust_region

#: A triangle (0, 0), (4, 0), (0, 2) with points inside: in coordinates scaled by the
#: ranges, the unit right triangle, whose smallest enclosing ellipse is its Steiner
#: circumellipse, centre (1/3, 1/3), matrix [[3, 1.5], [1.5, 3]] (it passes through the
#: three vertices).
TRIANGLE = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 2.0], [1.0, 0.5], [2.0, 0.4], [0.5, 1.0]])


@pytest.mark.unit
def test_triangle_gives_its_steiner_ellipse_and_a_square_its_circumcircle():
    e = InputEllipsoid.from_points(TRIANGLE)
    assert e.dims == (0, 1) and e.lower == (0.0, 0.0) and e.scale == (4.0, 2.0)
    assert np.allclose(e.centre, [1 / 3, 1 / 3], atol=1e-4)
    assert np.allclose(e.matrix, [[3.0, 1.5], [1.5, 3.0]], rtol=1e-3)
    assert e.distance(TRIANGLE).max() == pytest.approx(1.0, abs=1e-12)  # scaled onto the vertices
    # the unit square's circle (centre (0.5, 0.5), radius sqrt(1/2)), with inner points that
    # do not change it; a constant third input is left to the box
    rng = np.random.default_rng(1)
    square = np.vstack([[[0, 0], [1, 0], [1, 1], [0, 1]], rng.uniform(0.1, 0.9, (20, 2))])
    sq = InputEllipsoid.from_points(np.c_[square * [2.0, 5.0] + [1.0, -1.0], np.full(24, 3.0)])
    assert sq.dims == (0, 1) and np.allclose(sq.matrix, 2.0 * np.eye(2), rtol=1e-3)


@pytest.mark.unit
def test_correlated_inputs_exclude_the_far_corners_of_their_box():
    """Inputs that rose together (a fed batch's biomass and volume): the box's corner
    "high one, low other" is far from every point and outside the ellipsoid, the data and
    the middle of the box inside."""
    rng = np.random.default_rng(0)
    t = rng.random(80)
    pts = np.c_[t, 2.0 * t + 0.05 * rng.normal(size=80)]
    box = trust_region(InputBox.from_points(pts), TrustShape.ELLIPSOID, 0.0)
    assert box.contains(pts).all()
    lo, hi = np.array(box.lower), np.array(box.upper)
    corners = np.array([[hi[0], lo[1]], [lo[0], hi[1]]])
    assert box.box_only().contains(corners).all() and not box.contains(corners).any()
    assert box.contains(((lo + hi) / 2)[None, :]).all()


@pytest.mark.unit
def test_points_on_a_line_give_a_thin_ellipsoid_around_it():
    t = np.linspace(0.0, 1.0, 30)
    e = InputEllipsoid.from_points(np.c_[t, 2.0 * t, 3.0 - t])
    on, off = [0.5, 1.0, 2.5], [0.5, 1.0 + 2.0 * 2.5 * FLAT_HALF_WIDTH, 2.5]  # 5 % of y's range off
    assert e.contains(np.array([on, off])).tolist() == [True, False]


@pytest.mark.unit
def test_margin_stretches_the_ellipsoid_and_an_old_model_falls_back_to_its_box(caplog):
    saved = InputBox.from_points(TRIANGLE)
    base = trust_region(saved, TrustShape.ELLIPSOID, 0.0)
    wide = trust_region(saved, TrustShape.ELLIPSOID, 0.5)
    assert base.hull is None and wide.lower == pytest.approx((-2.0, -1.0))
    probe = np.array([[3.0, 1.0], [-1.0, 0.2]])
    assert np.allclose(wide.ellipsoid.distance(probe), base.ellipsoid.distance(probe) / 4.0)
    assert wide.to_dict()["ellipsoid"]["matrix"] == pytest.approx(np.asarray(base.ellipsoid.matrix) / 4.0)
    old = InputBox((0.0, 0.0), (1.0, 1.0))
    with caplog.at_level("WARNING"):
        assert trust_region(old, TrustShape.ELLIPSOID, 0.0) == old
    assert "only the box" in caplog.text and "for the ellipsoid" in caplog.text


@pytest.mark.component
def test_ellipsoid_constraints_reach_the_steiner_ellipse_optimum():
    """max x/4 + y/2 over the triangle's trust region: the box would give 2 (its corner),
    the hull 1 (a vertex), the Steiner ellipse c.c0 + sqrt(c^T A^-1 c) = 2/3 + 2/3 = 4/3 at
    (8/3, 4/3); Ipopt reaches it with the inputs in metres, a fixed point left alone."""
    from idaes_hybrid.solve.solver import get_nlp_solver

    m = pyo.ConcreteModel()
    m.v = pyo.Var(range(3), range(2), initialize=0.5, units=pyo.units.m)
    m.v[0, 0].fix(0.0)
    m.v[0, 1].fix(0.0)
    region = trust_region(InputBox.from_points(TRIANGLE), TrustShape.ELLIPSOID, 0.0)
    add_input_box_constraints(m, "region", region, ([m.v[k, 0], m.v[k, 1]] for k in range(3)))
    assert len(m.region_ellipsoid) == 2  # the free points only
    m.obj = pyo.Objective(expr=sum(m.v[k, 0] / 4 + m.v[k, 1] / 2 for k in (1, 2)) / pyo.units.m,
                          sense=pyo.maximize)
    assert get_nlp_solver({"tol": 1e-10}).solve(m).ok
    for k in (1, 2):
        assert (pyo.value(m.v[k, 0]), pyo.value(m.v[k, 1])) == pytest.approx((8 / 3, 4 / 3), rel=2e-3)
    assert pyo.value(m.obj) == pytest.approx(2 * 4 / 3, rel=1e-3)
    assert (pyo.value(m.v[0, 0]), pyo.value(m.v[0, 1])) == (0.0, 0.0)
