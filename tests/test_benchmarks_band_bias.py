"""The band-bias benchmark's data: the lopsided design, fresh noise on the same cells (no solver)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import band_bias, noise_data

pytestmark = pytest.mark.unit


def test_refit_data_keep_the_times_and_missing_cells_with_fresh_noise(tmp_path):
    config = band_bias.write_design(tmp_path / "base", "contois", 1, (12, 5, 3))
    text = config.read_text()
    assert "hidden = [10, 10]" in text and 'method = "laplace"' in text
    sizes = [len(pd.read_csv(tmp_path / "base" / "data" / f"{n}.csv")) for n in noise_data.TRAIN_BATCHES]
    assert sizes[1] <= 5 and sizes[2] <= 3 and sizes[0] > 5
    band_bias.renoise(tmp_path / "base", tmp_path / "k0", "contois", np.random.default_rng(0))
    for name, initial in noise_data.TRAIN_BATCHES.items():
        base = pd.read_csv(tmp_path / "base" / "data" / f"{name}.csv", index_col="time")
        new = pd.read_csv(tmp_path / "k0" / "data" / f"{name}.csv", index_col="time")
        assert new.index.equals(base.index) and (new.isna() == base.isna()).all().all()
        clean = noise_data.simulate(initial, new.index.to_numpy(), noise_data.contois,
                                    *noise_data.DESIGNS["public"].feed_of(name))
        z = ((new - clean[new.columns]) / pd.Series(noise_data.NOISE_SD)[new.columns]).stack().dropna()
        assert len(z) and np.all(np.abs(z) < 5) and not np.allclose(new.fillna(0), base.fillna(0))
    assert (tmp_path / "k0" / "data" / "val.csv").read_text() == (tmp_path / "base" / "data" / "val.csv").read_text()


def test_render_reports_bias_scatter_and_coverage():
    r = {"kinetics": "contois", "seed": 1, "samples": [40, 5, 3], "alpha": 4.0, "refits": 8,
         "time": [1.0, 2.0], "truth": [0.2, 0.4], "band_sd": [0.01, 0.02],
         "base_error": [0.005, 0.05], "bias": [0.03, -0.02], "scatter": [0.01, 0.02]}
    text = band_bias.render(r, every=1)
    assert "band sd 0.0158" in text and "their bias 0.0255" in text and "covered 50%" in text
    assert "| 1.0 | 0.200 | 0.0100 | +0.0300 | 0.0100 | +3.0 |" in text
