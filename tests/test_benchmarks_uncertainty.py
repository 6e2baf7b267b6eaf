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


def test_band_ratios_interpolate_the_band_onto_the_validation_times(tmp_path):
    import numpy as np
    import pandas as pd

    # band centre 2 t, half-width 0.5 + t on a coarse grid; truth = centre + 0.25 (1 + t / 2)
    grid = np.array([0.0, 1.0, 2.0, 4.0])
    centre, half = 2 * grid, 0.5 + grid
    pred = {"experiment": ["val"] * 4, "time": grid}
    for name in ("X", "S", "P"):
        pred.update({name: centre, f"{name}_lower": centre - half, f"{name}_upper": centre + half})
    pd.DataFrame(pred).to_csv(tmp_path / "pred.csv", index=False)
    t = np.array([0.0, 0.5, 3.0])
    truth = 2 * t + 0.25 * (1 + t / 2)
    pd.DataFrame({"time": t, "X": truth, "S": truth, "P": truth}).to_csv(tmp_path / "val.csv", index=False)
    ratios = uncertainty.band_ratios(tmp_path / "pred.csv", tmp_path / "val.csv")
    expected = 0.25 * (1 + t[1:] / 2) / (0.5 + t[1:])  # t = 0 left out: the band is empty there
    assert ratios == pytest.approx(np.tile(expected, 3), rel=1e-12)
    rows = [{"band_ratios": [0.1, 0.2, 0.3]}, {"band_ratios": [0.4, 0.5]}, {"kinetics": "x"}]
    assert uncertainty.band_scale(rows, level=0.5) == pytest.approx(0.3)
    assert uncertainty.band_scale([{}]) is None
    text = uncertainty.render([{**_row("haldane", 1, 1.0), "band_ratios": [0.2] * 10}])
    assert "**0.20** (too wide" in text and "| 0.20 |" in text


def test_varied_design_drops_the_unmeasured_column_and_sets_the_network(tmp_path):
    import numpy as np
    import pandas as pd

    from benchmarks import noise_data

    variant = uncertainty.Variant(6, hidden=(10, 10), unmeasured=("P",), seed=3)
    config = uncertainty.write_variant(tmp_path, "tessier", variant)
    text = config.read_text()
    assert "hidden = [10, 10]" in text and "hidden = [20, 20]" not in text
    for name in noise_data.TRAIN_BATCHES:
        frame = pd.read_csv(tmp_path / "data" / f"{name}.csv")
        assert list(frame.columns) == ["time", "X", "S", "V"]
        assert 1 <= len(frame) <= 6 and frame.drop(columns="time").notna().any(axis=1).all()
    assert "P" in pd.read_csv(tmp_path / "data" / "val.csv").columns  # validation keeps every state
    # the new laws against their formulas
    assert noise_data.tessier(1.0, 2.0) == pytest.approx(0.25 * (1 - np.exp(-1.0)))
    assert noise_data.moser(1.0, 3.0) == pytest.approx(0.22 * 9 / 10.5)
    assert noise_data.moser(1.0, -1.0) == 0.0
