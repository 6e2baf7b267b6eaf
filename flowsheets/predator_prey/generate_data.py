"""Generate synthetic Leslie-Gower predator-prey data from the true model.

Prey ``x0`` and predator ``x1`` (dimensionless, dimensionless time)::

    dx0/dt = x0 (r1 - a1 x1 - b1 x0)
    dx1/dt = x1 (r2 - a2 x1 / x0)

with ``r1 = r2 = 0.2``, ``a1 = 0.2``, ``a2 = 0.01``, ``b1 = 0.1`` (coexistence
equilibrium ``(0.0488, 0.9756)``). One noisy training trajectory from
``(1.0, 0.1)`` (46 samples on [0, 80], noise sd 0.05) and one noise-free
validation trajectory from ``(0.3, 1.5)``, an initial state off the training
trajectory, on [0, 120] (a longer horizon, to see the approach to the
equilibrium) are written to ``data/train.csv`` and ``data/val.csv`` next to this
script. Run ``python generate_data.py``; the output is deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

#: Names of the states, in the column order of the CSV files.
STATES = ("x0", "x1")
#: True parameters.
PARAMETERS = {"r1": 0.2, "a1": 0.2, "b1": 0.1, "r2": 0.2, "a2": 0.01}
#: Seed of the measurement-noise generator.
SEED = 20260402
#: Standard deviation of the Gaussian measurement noise (both states).
NOISE_SD = 0.05
#: Training trajectory: initial state, horizon, samples.
TRAIN = {"initial": {"x0": 1.0, "x1": 0.1}, "horizon": 80.0, "samples": 46}
#: Validation trajectory (noise-free): initial state, horizon, samples.
VALIDATION = {"initial": {"x0": 0.3, "x1": 1.5}, "horizon": 120.0, "samples": 61}

DATA_DIR = Path(__file__).resolve().parent / "data"


def simulate_leslie_gower(initial: Mapping[str, float], t_eval: Sequence[float] | np.ndarray,
                          r1: float = 0.2, a1: float = 0.2, b1: float = 0.1, r2: float = 0.2,
                          a2: float = 0.01) -> pd.DataFrame:
    """Simulate the true Leslie-Gower model.

    Parameters
    ----------
    initial : Mapping[str, float]
        Initial values of ``x0`` and ``x1`` (both > 0).
    t_eval : array_like
        Increasing times at which to report the states; the first is the time
        of ``initial``.
    r1, a1, b1, r2, a2 : float, optional
        Model parameters.

    Returns
    -------
    pandas.DataFrame
        Index ``time`` (float), columns ``x0``, ``x1``.
    """
    t = np.asarray(t_eval, dtype=float)

    def rhs(_t: float, x: np.ndarray) -> list[float]:
        return [x[0] * (r1 - a1 * x[1] - b1 * x[0]), x[1] * (r2 - a2 * x[1] / x[0])]

    y0 = [float(initial[name]) for name in STATES]
    sol = solve_ivp(rhs, (t[0], t[-1]), y0, method="Radau", t_eval=t, rtol=1e-10, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    return pd.DataFrame(sol.y.T, columns=list(STATES), index=pd.Index(t, name="time"))


def generate(data_dir: Path = DATA_DIR) -> dict[str, pd.DataFrame]:
    """Simulate both trajectories and write them as CSV files.

    Returns
    -------
    dict[str, pandas.DataFrame]
        The written data, keyed ``train`` and ``val``.
    """
    rng = np.random.default_rng(SEED)
    t = np.linspace(0.0, TRAIN["horizon"], TRAIN["samples"])
    clean = simulate_leslie_gower(TRAIN["initial"], t, **PARAMETERS)
    # noisy values are kept as measured: no clipping of negative densities
    frames = {"train": clean + rng.normal(0.0, NOISE_SD, size=clean.shape)}
    t = np.linspace(0.0, VALIDATION["horizon"], VALIDATION["samples"])
    frames["val"] = simulate_leslie_gower(VALIDATION["initial"], t, **PARAMETERS)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(data_dir / f"{name}.csv", float_format="%.8g", lineterminator="\n")
    return frames


if __name__ == "__main__":
    generate()
