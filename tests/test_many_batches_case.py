"""The many-batch bioreactor case through the command line, by the decomposition.

To stay near a minute, the shipped ``flowsheets/bioreactor/many/config.toml`` is cut
to its first 4 training batches and 1 validation batch, 40 epochs, in-process inner
solves (the Dask path is covered in ``test_decomposition.py``).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "flowsheets" / "bioreactor" / "many"


def _cut_config(text: str, n_train: int, n_val: int) -> str:
    head, *blocks = text.split("[[experiments]]")
    keep = []
    for block in blocks:
        name = re.search(r'name = "(\w+)"', block).group(1)
        if (name.startswith("t") and int(name[1:]) <= n_train) or (name.startswith("v") and int(name[1:]) <= n_val):
            keep.append(block)
    return head + "".join("[[experiments]]" + b for b in keep)


@pytest.mark.integration
def test_many_batches_cli_decomposition(tmp_path):
    text = (CASE / "config.toml").read_text()
    assert 'method = "decomposition"' in text and text.count("[[experiments]]") == 36
    text = _cut_config(text, 4, 1).replace("max_epochs = 150", "max_epochs = 40\nstage_epochs = 10").replace(
        "n_workers = 2", "n_workers = 0")
    text = text.replace('data = "data/', f'data = "{CASE}/data/')
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "idaes_hybrid.cli.app", "train", str(cfg), "--out", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "epoch   40" in run.stderr or "early-stopped" in run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    history = metrics["decomposition"]["history"]
    assert metrics["status"] in ("converged", "early-stopped", "max-epochs")
    assert [h["slack_penalty"] for h in history][:21] == [10.0] * 10 + [100.0] * 10 + [1000.0]
    val = [h["validation_loss"] for h in history if h["validation_loss"] is not None]
    assert val, history[:3]
    assert np.isfinite(min(val)) and min(val) < 1.0  # below the noise level of the training data
    for name in ("report.md", "fit.png", "learned_rate.png"):
        assert (out / name).exists()
    assert set(metrics["validation"]["rmse"]) == {"X", "P", "S", "V"}
