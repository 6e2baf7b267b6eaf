"""Write the PFR case's data: the true IDAES flowsheet (Arrhenius kinetics), simulated
with the framework's grid and inputs (``simulate_flowsheet``), outlet NaOH sampled on
ragged grids with noise (training) or without (validation).

    python flowsheets/pfr/generate_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from idaes_hybrid.model.user_module import hide_other_neighbours  # noqa: E402

hide_other_neighbours(HERE)  # another case's model.py imported earlier must not stand in

from model import VARIABLES, build_true  # noqa: E402

from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet  # noqa: E402
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet  # noqa: E402

HORIZON = 120.0
#: Noise sd of the training measurements of outlet NaOH (mol/m^3); validation is noise-free.
NOISE_SD = 0.01
#: Inputs of each experiment: feed flow (m^3/s) and feed temperature (K), steps.
RUNS = {
    "b1": {"F": [[0, 1.0e-3], [40, 0.7e-3], [80, 1.2e-3]], "Tf": [[0, 300.0], [60, 306.0]]},
    "b2": {"F": [[0, 8e-4], [70, 1.1e-3]], "Tf": [[0, 310.0], [30, 316.0], [90, 303.0]]},
    "b3": {"F": [[0, 1.3e-3], [50, 9e-4]], "Tf": [[0, 318.0], [40, 312.0], [100, 308.0]]},
    "val": {"F": [[0, 9e-4], [50, 1.1e-3]], "Tf": [[0, 304.0], [60, 314.0]]},
}


def simulate(inputs: dict, nfe: int = 60, ncp: int = 3):
    """The true flowsheet from the steady state of the initial inputs."""
    no_data = pd.DataFrame({"NaOH": [float("nan")]}, index=pd.Index([HORIZON], name="time"))
    exp = FlowsheetExperiment("truth", HORIZON, no_data, inputs=inputs)
    return simulate_flowsheet(HybridFlowsheet(build_true, [], VARIABLES), exp, None, nfe, ncp,
                              outputs=["NaOH", "T"])


def write(name: str, inputs: dict, seed: int, noisy: bool, out: Path = HERE / "data") -> Path:
    """Simulate one experiment and write its measurement CSV (``time,NaOH``)."""
    sim = simulate(inputs)
    rng = np.random.default_rng(seed)
    if noisy:   # about every 3 s, jittered
        times = np.arange(3.0, HORIZON + 1e-9, 3.0) + rng.uniform(-0.9, 0.9, int(HORIZON / 3.0))
        times = np.round(np.clip(times, 0.5, HORIZON), 3)
    else:
        times = np.arange(5.0, HORIZON + 1e-9, 5.0)
    values = np.interp(times, sim.time, sim.series["NaOH"])
    if noisy:
        values = values + rng.normal(0.0, NOISE_SD, size=times.size)
    frame = pd.DataFrame({"NaOH": values}, index=pd.Index(times, name="time"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.csv"
    frame.to_csv(path, float_format="%.6g")
    return path


if __name__ == "__main__":
    for i, (name, u) in enumerate(RUNS.items()):
        write(name, u, seed=i, noisy=name != "val")
