"""The uncertainty benchmark's pooled coverage and verdict on made-up runs (no solver)."""

from __future__ import annotations

import pytest

from benchmarks import uncertainty

pytestmark = pytest.mark.unit


def _row(kinetics, seed, coverage):
    return {"kinetics": kinetics, "seed": seed, "status": "optimal", "wall_time_s": 30.0,
            "validation_rmse": {"X": 0.05, "S": 0.1, "P": 0.01},
            "uncertainty": {"validation_coverage": {"X": coverage, "S": coverage, "P": coverage}}}


def test_pooled_coverage_is_the_share_of_all_validation_points():
    rows = [_row("haldane", 1, 1.0), _row("contois", 1, 0.78), _row("contois", 2, 0.9),
            {"kinetics": "haldane", "seed": 2, "error": "exit code 1", "wall_time_s": 3.0}]
    assert uncertainty.pooled_coverage(rows)["X"] == pytest.approx((1.0 + 0.78 + 0.9) / 3)
    text = uncertainty.render(rows)
    assert "Pooled over the 3 sets with bands: X 89.3%" in text and "inside the target" in text
    assert "outside the target" in uncertainty.render([_row("haldane", 1, 1.0)])
