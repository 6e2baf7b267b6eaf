"""The built-in cases as ordinary users of the flowsheet path give the unit path's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idaes_hybrid.cli import main

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"


@pytest.mark.integration
def test_flowsheet_path_matches_the_unit_path(tmp_path):
    """Same data, network, discretization and settings through both paths: the
    validation RMSEs agree within solver tolerance."""
    assert main(["train", str(CASE / "config.toml"), "--out", str(tmp_path / "unit"), "--quiet"]) == 0
    assert main(["train", str(CASE / "config_flowsheet.toml"), "--out", str(tmp_path / "fs"),
                 "--quiet"]) == 0
    unit = json.loads((tmp_path / "unit" / "metrics.json").read_text())["validation"]["rmse"]
    flow = json.loads((tmp_path / "fs" / "metrics.json").read_text())["validation"]["rmse"]
    for name in ("S", "X", "P"):
        assert flow[name] == pytest.approx(unit[name], rel=0.02), name
    assert flow["S"] <= 0.06


@pytest.mark.integration
def test_predator_prey_through_the_flowsheet_path_fits_at_the_noise_level(tmp_path):
    """The Lyapunov-constrained predator-prey unit as a build function + NetworkTerm:
    the unit path's assertions hold (fit at the noise level, validation limits)."""
    case = CASE.parent / "predator_prey"
    assert main(["train", str(case / "config_flowsheet.toml"), "--out", str(tmp_path), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    for name in ("x0", "x1"):
        assert 0.03 < metrics["train"]["rmse"][name] < 0.07
    assert metrics["validation"]["rmse"]["x0"] < 0.01 and metrics["validation"]["rmse"]["x1"] < 0.1


@pytest.mark.integration
def test_tank_manifold_index2_through_the_flowsheet_path(tmp_path):
    """The index-2 tank manifold (only x0, x2, x3 given at t0; x1 from x0 = x1) as a build
    function + NetworkTerm: fit at the noise level and the unit path's validation limits."""
    case = CASE.parent / "tank_manifold"
    assert main(["train", str(case / "config_flowsheet.toml"), "--out", str(tmp_path), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    for name, limit in {"x0": 0.35, "x1": 0.35, "x2": 0.08, "x3": 0.04}.items():
        assert metrics["validation"]["rmse"][name] < limit
        assert 0.03 < metrics["train"]["rmse"][name] < 0.07
