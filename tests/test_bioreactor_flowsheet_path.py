"""The bioreactor as an ordinary user of the flowsheet path gives the unit path's numbers."""

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
