"""Training with the defaults on data nobody tuned for: noise estimated, fit as good (issue 13).

One freshly generated substrate-inhibition (Haldane) fed-batch data set with ragged
sampling (random sample times per batch, 10% of the cells missing) and the noise sd
of ``flowsheets/bioreactor/generate_data.py`` (``benchmarks/noise_data.py``), trained
in-process through ``idaes_hybrid.cli.app.main`` twice: with the true ``noise_sd`` and
without it (no ``noise_sd``, no ``[training]`` table). The seed was fixed before the
first run and not changed afterwards. ``benchmarks/noise.py`` runs the same check
over three kinetics and several seeds.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks import noise_data
from idaes_hybrid.cli.app import main as cli_main

pytestmark = pytest.mark.integration

#: Seed of the data set (sample times, noise, missing cells); not one of the benchmark's.
SEED = 20260413
#: Target of issue 13 for the fit; the noise estimate's band (see the test).
RMSE_RATIO, NOISE_TOLERANCE = 1.25, 0.30


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Metrics of the two trainings, keyed ``"with"`` / ``"without"``."""
    folder = tmp_path_factory.mktemp("haldane")
    configs = noise_data.write_data_set(folder, "haldane", SEED)
    out = {}
    for key, config in configs.items():
        run_dir = folder / f"run_{key}"
        assert cli_main(["train", str(config), "--out", str(run_dir), "--quiet"]) == 0
        out[key] = json.loads((run_dir / "metrics.json").read_text())
    return out


def test_the_data_are_ragged(tmp_path):
    noise_data.write_data_set(tmp_path, "haldane", SEED)
    frames = [pd.read_csv(tmp_path / "data" / f"{b}.csv") for b in noise_data.TRAIN_BATCHES]
    assert len({tuple(f.time) for f in frames}) == len(frames)  # a different grid per batch
    assert all(f.isna().to_numpy().any() for f in frames)  # missing cells


def test_noise_is_estimated_within_its_band(runs):
    """Every variable's estimate within issue 13's 30% of the true sd. The difference
    estimate alone gives S 0.332 for 0.5 on this seed (fixed before the first run; -34%:
    the estimator's relative spread on data of this size is 13-19%); the check against
    the trained fit's residuals (training.noise_refit) refines it to 0.43, X, P and V
    stay within 30% as estimated."""
    given = runs["with"]["noise_sd"]
    estimated = runs["without"]["noise_sd"]
    for name, true_sd in noise_data.NOISE_SD.items():
        assert given[name]["source"] == "given"
        assert estimated[name]["source"] == "estimated"
        assert abs(estimated[name]["sd"] / true_sd - 1.0) <= NOISE_TOLERANCE, (name, estimated[name])
    assert estimated["S"].get("refined") and estimated["S"]["difference_estimate"] < 0.7 * 0.5


def test_validation_rmse_without_noise_sd_within_1_25x(runs):
    assert runs["with"]["status"] == runs["without"]["status"] == "optimal"
    with_rmse, without_rmse = runs["with"]["validation"]["rmse"], runs["without"]["validation"]["rmse"]
    for name in ("X", "P", "S"):  # V is exact in the model (dV/dt = F): round-off in both runs
        assert without_rmse[name] <= RMSE_RATIO * with_rmse[name], (name, with_rmse, without_rmse)


def test_too_few_samples_to_estimate_the_noise_warn_and_follow_the_fit(tmp_path, capsys):
    """Four samples per batch (two interior residuals each, fewer than the estimator needs):
    the fit starts from the spread of the values, says so, and moves each level to its
    residual RMS in one refit (was: the spread kept, e.g. X 1.33 for a true 0.05)."""
    configs = noise_data.write_data_set(tmp_path, "haldane", 5, n_train=4, missing=0.0)
    assert cli_main(["train", str(configs["without"]), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "noise of P, S, V, X: too few samples to estimate it from the data" in printed.err
    # the summary counts the refit's and the evidence's iterations too
    first = json.loads((tmp_path / "run" / "metrics.json").read_text())
    stages = first["stages"]
    total = first["iterations"] + stages["noise_refit"]["iterations"] + stages["regularization"]["iterations"]
    assert f"status: optimal ({first['iterations']} iterations, {total} in all, " in printed.out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    noise = metrics["noise_sd"]
    for name in ("X", "P", "S"):
        assert noise[name]["source"] == "fit residuals", noise[name]
        assert noise[name]["sd"] < 0.5 * noise[name]["data_spread"], noise[name]
    # the first fit's residual RMS; the final fit (refit, evidence) ends closer to the data
    assert metrics["train"]["rmse"]["X"] <= noise["X"]["sd"]
    assert "too few samples to estimate it" in (tmp_path / "run" / "report.md").read_text()
