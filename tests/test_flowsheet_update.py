"""`idaes-hybrid update` on a flowsheet configuration (the twin's model update)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from idaes_hybrid.cli.app import main

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "tank_manifold"
NOISE = 0.05


def _split_config(tmp_path: Path, names: list[str]) -> Path:
    """The two-term tank config with only the experiments ``names`` (and ``val``)."""
    text = (CASE / "config_two_terms.toml").read_text()
    head, rest = text.split("[[experiments]]", 1)
    blocks = {b.split('name = "')[1].split('"')[0]: "[[experiments]]" + b
              for b in rest.split("[[experiments]]")}
    path = tmp_path / f"config_{'_'.join(names)}.toml"
    path.write_text(head + "".join(blocks[n] for n in [*names, "val"]))
    return path


@pytest.mark.integration
def test_update_learns_a_new_batch_and_keeps_the_validation_error(tmp_path):
    """A model trained on t2 and t3 mispredicts batch t1 (RMSE ~0.9 in the levels); the
    update on t1 (warm start from the saved networks, anchored regularization) predicts
    it at the noise level (x0: 0.87 -> 0.043), and the validation error stays within 25%."""
    shutil.copy(CASE / "hybrid_flowsheet.py", tmp_path / "hybrid_flowsheet.py")
    shutil.copytree(CASE / "data", tmp_path / "data")
    first, new = _split_config(tmp_path, ["t2", "t3"]), _split_config(tmp_path, ["t1"])
    assert main(["train", str(first), "--out", str(tmp_path / "A"), "--quiet"]) == 0
    assert main(["update", str(tmp_path / "A" / "model"), str(new), "--out", str(tmp_path / "B"),
                 "--quiet"]) == 0
    metrics = json.loads((tmp_path / "B" / "metrics.json").read_text())
    up = metrics["update"]
    assert metrics["status"] == "optimal" and up["new_batches"] == ["t1"]
    assert up["parent"]["anchor"] is True and up["parent"]["model_dir"].endswith("A/model")
    assert metrics["stages"]["pretrain"]["status"].startswith("skipped")
    for name in ("x0", "x1", "x2", "x3"):
        assert up["new_after"][name] < min(up["new_before"][name], 1.5 * NOISE), name
        assert up["validation_after"][name] < 1.25 * up["validation_before"][name], name
    # the updated model is a complete saved model: predict reproduces its validation error
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(tmp_path / "B" / "model"), str(new), "--out", str(pred), "--quiet"]) == 0
    # the parent model is untouched and the output may not overwrite it
    assert (tmp_path / "A" / "model" / "flowsheet_model.json").is_file()
    assert main(["update", str(tmp_path / "A" / "model"), str(new), "--out", str(tmp_path / "A"),
                 "--quiet"]) == 2
