"""A flowsheet written the way the how-to says, new to the code: two feeds (NaOH, ethyl
acetate) -> IDAES Mixer -> dynamic CSTR with heat duty (``benchmarks/cases/mixer_cstr``),
k(T) learned from ethyl acetate and T alone, trained from its config with the defaults."""
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
from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

CASE = Path(__file__).resolve().parents[1] / "benchmarks" / "cases" / "mixer_cstr"
NOISE = {"EA": 0.02, "T": 0.1}  # gen.py


def _model():
    spec = importlib.util.spec_from_file_location("mixer_cstr_model", CASE / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _experiment(name: str) -> FlowsheetExperiment:
    config = tomllib.loads((CASE / "config.toml").read_text())
    table = next(t for t in config["experiments"] if t["name"] == name)
    inputs = {k: parse_input(v, k, CASE) for k, v in table["inputs"].items()}
    return FlowsheetExperiment(name, table["horizon"], pd.DataFrame(), inputs=inputs)


@pytest.mark.component
def test_true_flowsheet_simulates_from_its_marched_start_and_matches_the_finer_grid():
    """The square solve starts where the march left it: zero concentrations at the Mixer's
    inlets stay on their bound (Ipopt's default bound_push broke the start by ~1e5 and the
    solve hit max_iter). nfe 30 against the noise-free validation data made at nfe 90."""
    config = tomllib.loads((CASE / "config.toml").read_text())
    plant = HybridFlowsheet(_model().build_true, [], config["flowsheet"]["variables"])
    sim = simulate_flowsheet(plant, _experiment("val"), None, nfe=30, ncp=3, outputs=["EA", "T"])
    data = pd.read_csv(CASE / "data" / "val.csv")
    for name, tol in (("EA", 2e-3), ("T", 0.05)):  # half the noise sd; the grids differ at steps
        assert np.interp(data.time, sim.time, sim.series[name]) == pytest.approx(data[name], abs=tol)


@pytest.mark.integration
def test_k_learned_within_five_percent_with_the_defaults_and_the_optimum_holds_on_the_truth(tmp_path):
    """Then ``optimize`` (heat duty against outlet EA, T <= 305 K: the bound makes Q drop
    when the feed warms) on the trained model; its profile on the true flowsheet against
    the same optimization on the true flowsheet."""
    out = tmp_path / "out"
    assert main(["train", str(CASE / "config.toml"), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    for name, sd in NOISE.items():
        assert metrics["validation"]["rmse"][name] < 2 * sd
        assert metrics["noise_sd"][name]["sd"] == pytest.approx(sd, rel=0.3)
    saved = json.loads((out / "model" / "flowsheet_model.json").read_text())
    spec = NetworkSpec.from_dict(saved["networks"]["k"])
    measured = pd.concat([pd.read_csv(CASE / f"data/{b}.csv")["T"] for b in ("b1", "b2", "b3")]).dropna()
    temps = np.linspace(measured.min(), measured.max(), 25)
    learned = spec.predict(temps[:, None])[:, 0]
    assert np.max(np.abs(learned / _model().k_true(temps) - 1.0)) < 0.05
    opt = tmp_path / "opt"
    assert main(["optimize", str(out / "model"), str(CASE / "config.toml"), "--out", str(opt), "--quiet"]) == 0
    doc = json.loads((opt / "optimization.json").read_text())
    assert doc["status"] == "optimal"
    q = np.array(doc["profiles"]["Q"])
    assert np.all((q > 1e3) & (q < 5.9e4)) and q[0] - q[-1] > 1e4  # set by the T bound, not Q's
    truth = doc["true_flowsheet"]
    assert truth["objective_of_hybrid_profiles"] == pytest.approx(truth["optimum"], rel=0.01)
    # the hybrid profile run on the true flowsheet keeps T <= 305 K to within 0.1 K
    assert list(truth["constraint_violations"]) == ["T_max"]
    assert 0.0 <= truth["constraint_violations"]["T_max"] < 0.1
