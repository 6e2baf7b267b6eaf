"""The how-to "Build your own hybrid model" runs as written (its three code blocks)."""

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
HOWTO = ROOT / "docs" / "how-to" / "own-model.md"
DATA = ROOT / "flowsheets" / "predator_prey" / "data"
#: The small case: fewer elements and a smaller network than the page's config.
SMALL = {"nfe = 40": "nfe = 20", "hidden = [16, 16]": "hidden = [8, 8]"}


def _blocks() -> list[tuple[str, str]]:
    return re.findall(r"^```(\w+)\n(.*?)^```", HOWTO.read_text(), flags=re.S | re.M)


@pytest.mark.unit
def test_the_page_has_the_three_blocks_and_the_user_code_is_short():
    langs = [lang for lang, _ in _blocks() if lang in ("python", "toml")]
    assert langs == ["python", "toml", "python"]
    code = [body for lang, body in _blocks() if lang in ("python", "toml")]
    lines = sum(1 for body in code for line in body.splitlines() if line.strip())
    assert lines < 60, f"the how-to's user code has {lines} non-blank lines"


@pytest.mark.component
def test_the_howto_code_trains_a_registered_model(tmp_path, monkeypatch):
    module, config, run = [body for lang, body in _blocks() if lang in ("python", "toml")]
    for old, new in SMALL.items():
        assert old in config
        config = config.replace(old, new)
    (tmp_path / "my_model.py").write_text(module)
    (tmp_path / "my_model.toml").write_text(config)
    shutil.copytree(DATA, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {}
    exec(compile(run, str(HOWTO), "exec"), namespace)
    assert namespace["exit_code"] == 0
    out = tmp_path / "runs" / "leslie_gower"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    assert json.loads((out / "model" / "model.json").read_text())["model"] == "leslie_gower"
    # a 2-8-8-1 network on 20 elements fits at the noise level (sd 0.05; measured 0.044
    # and 0.047) and predicts the unseen trajectory from (0.3, 1.5) (measured 0.002, 0.028)
    assert max(metrics["train"]["rmse"].values()) < 0.06
    assert max(metrics["validation"]["rmse"].values()) < 0.05
    for name in ("fit.png", "learned_rate.png", "report.md"):
        assert (out / name).is_file()
    # nothing was registered: the saved model names the module, and predict reloads it
    from idaes_hybrid.cases.registry import BUILT_IN_MODELS
    from idaes_hybrid.cli.app import main
    from idaes_hybrid.output.saved import load_model

    assert "leslie_gower" not in BUILT_IN_MODELS
    saved = load_model(out / "model")
    assert saved.model_ref == f"{tmp_path.resolve() / 'my_model.py'}:LESLIE_GOWER"
    assert saved.definition.name == "leslie_gower" and saved.definition.state_names == ("x0", "x1")
    assert main(["predict", str(out / "model"), "my_model.toml", "--out", "pred.csv", "--quiet"]) == 0
    assert len(pd.read_csv(tmp_path / "pred.csv")) > 0
