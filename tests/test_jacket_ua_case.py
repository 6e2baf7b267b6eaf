"""A network term on a user variable of an IDAES flowsheet: the jacket UA(Fc, T) of a CSTR
(``benchmarks/cases/jacket_ua``), trained from its config with the defaults."""
from __future__ import annotations

import importlib.util
import json
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


def _covered_points() -> np.ndarray:
    """(Fc, T) where the training data were taken: measured T, coolant flow at that time."""
    config = tomllib.loads((CASE / "config.toml").read_text())
    points = []
    for table in config["experiments"]:
        if table.get("role", "train") != "train":
            continue
        fc = parse_input(table["inputs"]["Fc"], "Fc", CASE)
        data = pd.read_csv(CASE / table["data"]).dropna(subset=["T"])
        points += [(fc.value_at(t), temp) for t, temp in zip(data.time, data["T"])]
    return np.array(points)


@pytest.mark.integration
def test_jacket_ua_learned_within_five_percent_and_validation_within_the_noise(tmp_path):
    """The true law UA = 400 Fc^0.6 (1 + 0.02 (T - 300)) W/K against the trained network at
    every (Fc, T) of the training data; the validation batch simulated from its inputs."""
    out = tmp_path / "out"
    assert main(["train", str(CASE / "config.toml"), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    for name, sd in NOISE.items():
        assert metrics["validation"]["rmse"][name] < 2 * sd
    saved = json.loads((out / "model" / "flowsheet_model.json").read_text())
    spec = NetworkSpec.from_dict(saved["networks"]["jacket"])
    points = _covered_points()
    learned = spec.predict(points)[:, 0]
    true = _ua_true()(points[:, 0], points[:, 1])
    assert np.max(np.abs(learned / true - 1.0)) < 0.05
