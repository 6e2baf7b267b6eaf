"""The worked bioreactor case end to end, as `make demo` runs it (integration)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from idaes_hybrid.output.saved import load_model
from idaes_hybrid.cases.registry import monod

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "flowsheets" / "bioreactor" / "config.toml"
# acceptance thresholds of the case (issue: validation RMSE S < 0.3 g/L, X < 0.1 g/L)
MAX_VAL_RMSE = {"S": 0.3, "X": 0.1}
MU_TOL = 0.02  # 1/h, learned mu against Monod along the validation trajectory


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "idaes_hybrid.cli.app", *map(str, args)],
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bioreactor")
    run = _cli("train", CONFIG, "--out", out, "--quiet")
    assert run.returncode == 0, run.stderr[-3000:]
    return out


@pytest.mark.integration
def test_training_meets_the_case_targets(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    for name, limit in MAX_VAL_RMSE.items():
        assert metrics["validation"]["rmse"][name] < limit
    # training fit at the noise level (sd 0.05 for X, 0.5 for S), not beyond it
    assert 0.03 < metrics["train"]["rmse"]["X"] < 0.08
    assert 0.3 < metrics["train"]["rmse"]["S"] < 0.7
    for name in ("fit.png", "learned_rate.png", "report.md", "model/model.json"):
        assert (trained / name).is_file()


@pytest.mark.integration
def test_prediction_keeps_substrate_nonnegative_and_mu_is_monod(trained, tmp_path):
    csv = tmp_path / "pred.csv"
    run = _cli("predict", trained / "model", CONFIG, "--out", csv)
    assert run.returncode == 0, run.stderr[-3000:]
    table = pd.read_csv(csv)
    val = table[table.experiment == "val"]
    assert val.S.min() >= -1e-6
    saved = load_model(trained / "model")
    inputs = val[saved.network_inputs].to_numpy()
    learned = saved.spec.predict(inputs)[:, 0]
    truth = monod({"mu_max": 0.2, "Ks": 1.0})(val.S.to_numpy())
    assert np.max(np.abs(learned - truth)) < MU_TOL
