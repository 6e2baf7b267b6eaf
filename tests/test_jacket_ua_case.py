"""A network term on a user variable of an IDAES flowsheet: the jacket UA(Fc, T) of a CSTR
(``benchmarks/cases/jacket_ua``), trained from its config with the defaults."""
from __future__ import annotations

import importlib.util
import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from idaes_hybrid import NetworkSpec
from idaes_hybrid.cli.app import main
from idaes_hybrid.model.inputs import parse_input

CASE = Path(__file__).resolve().parents[1] / "benchmarks" / "cases" / "jacket_ua"
NOISE = {"NaOH": 0.01, "T": 0.05}  # gen.py


def _ua_true():
    spec = importlib.util.spec_from_file_location("jacket_ua_model", CASE / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ua_true


def _covered_points(case: Path) -> np.ndarray:
    """(Fc, T) where the training data were taken: measured T, coolant flow at that time."""
    config = tomllib.loads((case / "config.toml").read_text())
    points = []
    for table in config["experiments"]:
        if table.get("role", "train") != "train":
            continue
        fc = parse_input(table["inputs"]["Fc"], "Fc", case)
        data = pd.read_csv(case / table["data"]).dropna(subset=["T"])
        points += [(fc.value_at(t), temp) for t, temp in zip(data.time, data["T"])]
    return np.array(points)


def _fresh_case(tmp_path: Path) -> Path:
    """The case folder with ``data_fresh/`` (written by ``gen.py --law 300 0.8 0.01 --seed 11
    --out data_fresh``: another true law and noise seed) as its data."""
    case = tmp_path / "case"
    shutil.copytree(CASE, case, ignore=shutil.ignore_patterns("data", "data_fresh", "__pycache__"))
    shutil.copytree(CASE / "data_fresh", case / "data")
    return case


@pytest.mark.integration
@pytest.mark.parametrize("law", [None, (300.0, 0.8, 0.01)], ids=["shipped", "fresh"])
def test_jacket_ua_learned_within_five_percent_and_validation_within_the_noise(tmp_path, law):
    """The true law UA = A Fc^B (1 + C (T - 300)) W/K against the trained network at every
    (Fc, T) of the training data; the validation batch simulated from its inputs. ``shipped``:
    the case's data (400, 0.6, 0.02); ``fresh``: ``data_fresh`` (another law, seed 11)."""
    case = CASE if law is None else _fresh_case(tmp_path)
    out = tmp_path / "out"
    assert main(["train", str(case / "config.toml"), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    for name, sd in NOISE.items():
        assert metrics["validation"]["rmse"][name] < 2 * sd
    saved = json.loads((out / "model" / "flowsheet_model.json").read_text())
    spec = NetworkSpec.from_dict(saved["networks"]["jacket"])
    points = _covered_points(case)
    learned = spec.predict(points)[:, 0]
    true = _ua_true()(points[:, 0], points[:, 1], law)
    assert np.max(np.abs(learned / true - 1.0)) < 0.05
