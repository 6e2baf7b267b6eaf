"""Synthetic data of the two-CSTR cascade from the true IDAES flowsheet.

Each experiment is simulated on a fine Radau grid from the steady state of its initial
inputs; measurements are a random subset of grid points per variable (ragged grids),
with Gaussian noise for training experiments and none for the validation one.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import build_true  # noqa: E402

HORIZON = 60.0
VARIABLES = {
    "F": "fs.feed.flow_vol[*]", "Tf": "fs.feed.temperature[*]",
    "CfA": "fs.feed.conc_mol_comp[*,NaOH]", "CfB": "fs.feed.conc_mol_comp[*,EthylAcetate]",
    "Q1": "fs.r1.heat_duty[*]", "Q2": "fs.r2.heat_duty[*]",
    "C1": "fs.r1.control_volume.properties_out[*].conc_mol_comp[NaOH]",
    "C2": "fs.r2.control_volume.properties_out[*].conc_mol_comp[NaOH]",
    "T1": "fs.r1.control_volume.properties_out[*].temperature",
    "T2": "fs.r2.control_volume.properties_out[*].temperature",
}
NOISE = {"C1": 0.02, "C2": 0.02, "T1": 0.1, "T2": 0.1}
RUNS = {
    "b1": {"F": [[0, 1e-3], [20, 7e-4], [40, 1.3e-3]], "Tf": 300.0, "CfA": 2.0, "CfB": 2.0,
           "Q1": [[0, 0.0], [10, 2e4], [30, 5e3]], "Q2": [[0, 1e4], [50, 0.0]]},
    "b2": {"F": 8e-4, "Tf": [[0, 305.0], [30, 299.0]], "CfA": [[0, 3.0], [40, 1.5]],
           "CfB": [[0, 3.0], [40, 1.5]], "Q1": [[0, 1e4], [20, 0.0]], "Q2": [[0, 0.0], [30, 2e4]]},
    "b3": {"F": [[0, 1.2e-3], [30, 9e-4]], "Tf": [[0, 308.0], [20, 302.0]], "CfA": 2.5,
           "CfB": 2.5, "Q1": [[0, 2e4], [40, 0.0]], "Q2": 5e3},
    "val": {"F": [[0, 9e-4], [30, 1.1e-3]], "Tf": 303.0, "CfA": [[0, 2.0], [20, 2.8]],
            "CfB": [[0, 2.0], [20, 2.8]], "Q1": [[0, 1.5e4], [40, 5e3]], "Q2": [[0, 5e3], [25, 1.5e4]]},
}


def hybrid_true() -> HybridFlowsheet:
    """The true flowsheet (no learned term) with the case's variable names."""
    return HybridFlowsheet(build_true, [], variables=VARIABLES)


def simulate(inputs: dict, horizon: float = HORIZON, nfe: int = 120, ncp: int = 3):
    """Solve the true flowsheet from the steady state of the initial inputs (about two
    minutes per experiment at nfe = 120 on one core)."""
    no_data = pd.DataFrame({"C2": [float("nan")]}, index=pd.Index([horizon], name="time"))
    exp = FlowsheetExperiment("truth", horizon, no_data, inputs=inputs)
    return simulate_flowsheet(hybrid_true(), exp, None, nfe, ncp, outputs=list(NOISE))


def write(name: str, inputs: dict, seed: int, noisy: bool, out: Path = HERE / "data") -> Path:
    """Simulate and write the ragged measurement CSV of one experiment."""
    sim = simulate(inputs)
    rng = np.random.default_rng(seed)
    times = sim.time[1:]
    rows = {}
    for var, sd in NOISE.items():
        keep = rng.random(len(times)) < (0.25 if var == "C1" else 0.5)
        for t, k, y in zip(times, keep, sim.series[var][1:]):
            if k:
                rows.setdefault(t, {})[var] = y + (rng.normal(0, sd) if noisy else 0.0)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", *NOISE])
        for t in sorted(rows):
            w.writerow([f"{t:.6g}", *[f"{rows[t][v]:.8g}" if v in rows[t] else "" for v in NOISE]])
    return path


if __name__ == "__main__":
    for i, (name, u) in enumerate(RUNS.items()):
        write(name, u, seed=i, noisy=name != "val")
