"""Defaults on data nobody tuned for: other kinetics, another seed, random sampling, only
NaOH measured, no noise_sd, generated here from a flowsheet with a known k(T)."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
import tomllib

from idaes_hybrid.cli.app import main
from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "saponification"
sys.path.insert(0, str(CASE))
from model import VARIABLES, build_learned  # noqa: E402

A, E, R = 2.3e9, 60000.0, 8.314462618  # E = 60 kJ/mol, not the package's 43 kJ/mol
NOISE = 0.01


def k_true(temperature):
    return A * np.exp(-E / (R * np.asarray(temperature)))


def build_plant(fs) -> None:
    """The same flowsheet with k(T) pinned to the law above (the synthetic plant)."""
    build_learned(fs)
    props = fs.r1.control_volume.properties_out

    @fs.Constraint(fs.time)
    def true_k(fs, t):
        return fs.r1.control_volume.reactions[t].k_rxn["R1"] == A * pyo.exp(-E / (R * props[t].temperature))


@pytest.mark.integration
@pytest.mark.parametrize("user_scaling", [False, True])
def test_k_learned_from_fresh_data_with_only_naoh_measured(tmp_path, user_scaling):
    """Also with IDAES scaling factors given to Ipopt (``user_scaling``): the same fit."""
    for name in ("model.py", "optimize.py"):
        shutil.copy(CASE / name, tmp_path / name)
    text = (CASE / "config.toml").read_text()
    config = tomllib.loads(text)
    text = text.replace("[training]\n", f"[training]\nuser_scaling = {str(user_scaling).lower()}\n")
    (tmp_path / "config.toml").write_text("\n".join(
        line for line in text.splitlines() if not line.startswith("T = ")))  # T is not measured
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(1)
    plant = HybridFlowsheet(build_plant, [], VARIABLES)
    temps = []
    for table in config["experiments"]:
        inputs = {k: parse_input(v, k) for k, v in table["inputs"].items()}
        exp = FlowsheetExperiment(table["name"], table["horizon"], pd.DataFrame(), inputs=inputs)
        traj = simulate_flowsheet(plant, exp, None, nfe=60, ncp=3, outputs=["NaOH", "T"])
        if table.get("role", "train") == "train":
            t = np.sort(rng.uniform(1.0, table["horizon"], 30)).round(3)
            y = np.interp(t, traj["time"], traj["NaOH"]) + rng.normal(0.0, NOISE, t.size)
            temps.extend(traj["T"])
        else:
            t = np.arange(4.0, table["horizon"] + 1e-9, 4.0)
            y = np.interp(t, traj["time"], traj["NaOH"])
        frame = pd.DataFrame({"NaOH": y}, index=pd.Index(t, name="time"))
        frame.to_csv(tmp_path / "data" / f"{table['name']}.csv")

    out = tmp_path / "out"
    assert main(["train", str(tmp_path / "config.toml"), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["rmse"]["NaOH"] < 2 * NOISE
    assert metrics["train"]["rmse"]["NaOH"] < 1.5 * NOISE
    assert metrics["status"] == "optimal"
    saved = json.loads((out / "model" / "flowsheet_model.json").read_text())
    spec = NetworkSpec.from_dict(saved["networks"]["kinetics"])
    grid = np.linspace(min(temps), max(temps), 30)
    assert np.max(np.abs(spec.predict(grid[:, None])[:, 0] / k_true(grid) - 1)) < 0.05
    assert math.isclose(float(k_true(310.0)), 0.18, rel_tol=0.05)  # a rate of this case's size
