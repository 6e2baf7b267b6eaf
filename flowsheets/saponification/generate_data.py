"""Write the saponification data: the true IDAES flowsheet (Arrhenius kinetics),
simulated with real Ipopt, sampled on ragged grids with noise.

    python flowsheets/saponification/generate_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tomllib  # noqa: E402

from model import VARIABLES, build_true  # noqa: E402

from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet  # noqa: E402
from idaes_hybrid.model.inputs import parse_input  # noqa: E402

#: Noise of the training measurements (mol/m^3, K); validation data are noise-free.
NOISE_SD = {"NaOH": 0.01, "T": 0.05}
HORIZON = 120.0
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet  # noqa: E402


def sample_times(rng: np.random.Generator, step: float) -> np.ndarray:
    """A ragged grid: about every ``step`` seconds, jittered, starting after 0."""
    t = np.arange(step, HORIZON + 1e-9, step) + rng.uniform(-0.3, 0.3, int(HORIZON / step)) * step
    return np.round(np.clip(t, 0.5, HORIZON), 3)


def main(seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    plant = HybridFlowsheet(build_true, [], VARIABLES)
    (HERE / "data").mkdir(exist_ok=True)
    config = tomllib.loads((HERE / "config.toml").read_text())
    for table in config["experiments"]:
        name, role = table["name"], table.get("role", "train")
        inputs = {k: parse_input(v, k, HERE) for k, v in table["inputs"].items()}
        exp = FlowsheetExperiment(name, HORIZON, pd.DataFrame(), inputs=inputs)
        traj = simulate_flowsheet(plant, exp, None, nfe=60, ncp=3, outputs=["NaOH", "T"])
        noisy = role == "train"
        cols = {}
        for var, step in (("NaOH", 3.0), ("T", 5.0)):
            times = sample_times(rng, step) if noisy else np.arange(5.0, HORIZON + 1e-9, 5.0)
            values = np.interp(times, traj["time"], traj[var])
            if noisy:
                values = values + rng.normal(0.0, NOISE_SD[var], size=times.size)
            cols[var] = pd.Series(values, index=times)
        frame = pd.DataFrame(cols).sort_index()
        frame.index.name = "time"
        frame.to_csv(HERE / "data" / f"{name}.csv", float_format="%.6g")
        print(f"{name}: {frame.notna().sum().to_dict()} measurements")


if __name__ == "__main__":
    main()
