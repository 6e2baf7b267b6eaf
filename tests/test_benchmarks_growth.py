"""The growth benchmark's arithmetic and report (no solver): slope fits, sweep points,
table rendering and the log-log plots, on made-up numbers with known answers."""

from __future__ import annotations

import math

import pytest

from benchmarks import growth

pytestmark = pytest.mark.unit


def _doc(points):
    return {"date": "2026-01-01 00:00 UTC", "revision": "abc", "quick": False, "base": dict(growth.BASE),
            "budget_s": 300.0, "pretrain_epochs": None, "points": points,
            "machine": {"cpu": "CPU", "cores": 2, "memory_gib": 8.0, "os": "Linux", "python": "3.11"}}


def _point(sweep, x, hessian="exact", total=None, per_it=None, iterations=20, status="optimal"):
    return {"sweep": sweep, "x": x, "hessian": hessian, "status": status, "total_s": total,
            "stages": {"build": {"wall_s": 0.5}, "train": {"wall_s": (per_it or 0) * iterations}},
            "train": {"iterations": iterations, "wall_s": (per_it or 0) * iterations, "s_per_iteration": per_it},
            "n_variables": 100 * x, "validation_rmse": {"X": 0.01, "S": 0.02, "P": 0.003},
            "process": {"peak_rss_mb": 900.0, "other_cores": 0.1}}


def test_slope_of_a_power_law():
    xs = [1, 2, 4, 8, 16]
    slope, prefactor = growth.fit_slope(xs, [3 * x**2 for x in xs])
    assert slope == pytest.approx(2.0)
    assert prefactor == pytest.approx(3.0)
    slope, prefactor = growth.fit_slope([10, 20, 40], [0.5 * x**-1.5 for x in (10, 20, 40)])
    assert (slope, prefactor) == (pytest.approx(-1.5), pytest.approx(0.5))


def test_slope_skips_missing_values_and_needs_two_sizes():
    assert growth.fit_slope([1, 2, 4, 8], [3.0, None, 48.0, 0.0])[0] == pytest.approx(2.0)
    assert growth.fit_slope([1, 2], [3.0, None]) is None
    assert growth.fit_slope([2, 2], [1.0, 4.0]) is None


def test_sweep_points_vary_one_size_from_the_base_case():
    pts = growth.points(["experiments", "width"], growth.DEFAULT_HESSIANS)
    exp = [p for p in pts if p["sweep"] == "experiments"]
    assert [p["n_train"] for p in exp] == [1, 2, 4, 8, 16] * 2
    assert {p["hessian"] for p in exp} == {"auto", "exact"}  # the package default beside exact steps
    assert all(p["nfe"] == 20 and p["width"] == 20 for p in exp)
    width = [p for p in pts if p["sweep"] == "width"]
    assert [p["width"] for p in width] == [5, 10, 20, 40, 80]
    assert all(p["n_train"] == 3 and p["hessian"] == "auto" for p in width)
    quick = growth.points(["elements"], growth.DEFAULT_HESSIANS, quick=True)
    assert [(p["nfe"], p["n_train"], p["width"]) for p in quick] == [(4, 1, 3), (8, 1, 3)]


def test_weight_count_of_the_base_network():
    assert growth.n_weights(20) == 541  # the 4-20-20-1 network of the bioreactor config


def test_fits_and_report_of_a_known_sweep(tmp_path):
    xs = [1, 2, 4, 8]
    pts = [_point("experiments", x, total=3.0 * x**2, per_it=0.1 * x) for x in xs]
    pts.append(_point("experiments", 16, total=None, per_it=1.6, status="max_iterations"))
    doc = _doc(pts)
    fit = growth.fits(doc)["experiments/exact"]
    assert fit["total_s"] == pytest.approx(2.0)  # the unfinished point has no total
    assert fit["s_per_iteration"] == pytest.approx(1.0)  # ... but its time per iteration counts
    assert fit["iterations"] == pytest.approx(0.0, abs=1e-12)
    assert fit["n_variables"] == pytest.approx(1.0)
    growth.write(doc, tmp_path)
    text = (tmp_path / "growth.md").read_text()
    assert "| experiments | exact | training experiments | 2.00 | 1.00 | 1.00 | 0.00 | 1.00 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| exact | 4 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["exact", "4", "optimal", "48.0"]
    assert "Machine: CPU, 2 cores" in text
    png = tmp_path / "growth_experiments.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert math.isclose(growth.fits(growth.json.loads((tmp_path / "growth.json").read_text()))
                        ["experiments/exact"]["total_s"], 2.0)
