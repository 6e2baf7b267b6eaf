"""The built-in cases as ordinary users of the flowsheet path give the unit path's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idaes_hybrid.cli.app import main

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


@pytest.mark.integration
def test_tank_manifold_with_two_terms_learns_both_true_flow_laws(tmp_path):
    """Two learned terms, each with its own network and only the levels it depends on:
    the pump flow u0 = k x0 x3 (k = 0.2) and the outflow of tank 0 u3 = a1 sqrt(x0)
    (a1 = 0.1), compared with those laws over the levels the training data cover; then
    predict with the saved model gives the same validation RMSE."""
    import numpy as np
    import pandas as pd

    from idaes_hybrid import NetworkSpec

    case = CASE.parent / "tank_manifold"
    out = tmp_path / "out"
    assert main(["train", str(case / "config_two_terms.toml"), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    assert metrics["networks"]["pump"]["sizes"] == [2, 16, 1]
    assert metrics["networks"]["outflow"]["sizes"] == [1, 8, 1]
    saved = json.loads((out / "model" / "flowsheet_model.json").read_text())["networks"]
    pump, outflow = NetworkSpec.from_dict(saved["pump"]), NetworkSpec.from_dict(saved["outflow"])
    data = pd.concat([pd.read_csv(case / "data" / f"{n}.csv") for n in ("t1", "t2", "t3")])
    x0 = data["x0"].dropna().to_numpy()
    grid = np.linspace(np.percentile(x0, 5), np.percentile(x0, 95), 25)
    u3 = outflow.predict(grid[:, None])[:, 0]
    np.testing.assert_allclose(u3, 0.1 * np.sqrt(grid), rtol=0.03)
    levels = data[["x0", "x3"]].dropna().to_numpy()
    true_u0 = 0.2 * levels[:, 0] * levels[:, 1]
    assert np.median(np.abs(pump.predict(levels)[:, 0] - true_u0) / true_u0) < 0.03
    for name, limit in {"x0": 0.25, "x2": 0.06, "x3": 0.03}.items():
        assert metrics["validation"]["rmse"][name] < limit, name

    pred = tmp_path / "pred.csv"
    assert main(["predict", str(out / "model"), str(case / "config_two_terms.toml"),
                 "--out", str(pred), "--quiet"]) == 0
    table = pd.read_csv(pred)
    val = table[table.experiment == "val"].set_index("time")
    ref = pd.read_csv(case / "data" / "val.csv").set_index("time")["x3"].dropna()
    rmse = float(np.sqrt(np.mean((np.interp(ref.index, val.index, val["x3"]) - ref) ** 2)))
    # linear interpolation of the predicted grid (training interpolates the collocation polynomial)
    assert rmse == pytest.approx(metrics["validation"]["rmse"]["x3"], rel=0.15)
