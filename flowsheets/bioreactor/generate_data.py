"""Generate synthetic fed-batch bioreactor data from the true Monod model.

The "plant" is a fed-batch bioreactor with states biomass ``X`` (g/L), product
``P`` (g/L), substrate ``S`` (g/L) and volume ``V`` (L)::

    dX/dt = mu X - F X / V
    dP/dt = Ypx mu X - F P / V
    dS/dt = F (Sf - S) / V - mu X / Yxs
    dV/dt = F
    mu    = mu_max S / (Ks + S)

Three noisy training batches and one noise-free validation batch are written to
``data/b1.csv``, ``data/b2.csv``, ``data/b3.csv`` and ``data/val.csv`` next to
this script. Run ``python generate_data.py``; the output is deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

#: Names of the states, in the column order of the CSV files.
STATES = ("X", "P", "S", "V")
#: Feed flow rate (L/h), the same for every batch.
FEED = 0.05
#: Final time of every batch (h).
HORIZON = 40.0
#: Seed of the measurement-noise generator.
SEED = 20260401
#: Standard deviation of the Gaussian measurement noise of each state.
NOISE_SD = {"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1}
#: Initial states of the training batches; the feed concentration Sf equals S(0).
TRAIN_BATCHES = {
    "b1": {"X": 0.05, "P": 0.0, "S": 10.0, "V": 1.0},
    "b2": {"X": 0.025, "P": 0.0, "S": 5.0, "V": 0.8},
    "b3": {"X": 0.5, "P": 0.0, "S": 7.5, "V": 0.95},
}
#: Initial state of the (noise-free) validation batch; Sf = S(0) = 8.
VALIDATION_BATCH = {"val": {"X": 0.1, "P": 0.0, "S": 8.0, "V": 0.9}}
#: Number of samples of a training / validation batch on [0, HORIZON].
N_TRAIN, N_VALIDATION = 31, 41

DATA_DIR = Path(__file__).resolve().parent / "data"


def simulate_monod(
    initial: Mapping[str, float],
    F: float,
    Sf: float,
    t_eval: Sequence[float] | np.ndarray,
    mu_max: float = 0.2,
    Ks: float = 1.0,
    Yxs: float = 0.5,
    Ypx: float = 0.2,
) -> pd.DataFrame:
    """Simulate the fed-batch bioreactor with Monod kinetics.

    Parameters
    ----------
    initial : Mapping[str, float]
        Initial values of ``X``, ``P``, ``S`` and ``V``.
    F : float
        Constant feed flow rate (L/h).
    Sf : float
        Substrate concentration of the feed (g/L).
    t_eval : array_like
        Increasing times (h) at which to report the states; the first is the
        time of ``initial``.
    mu_max, Ks, Yxs, Ypx : float, optional
        Maximum growth rate (1/h), half-saturation constant (g/L), biomass
        yield on substrate and product yield on biomass.

    Returns
    -------
    pandas.DataFrame
        Index ``time`` (float), columns ``X``, ``P``, ``S``, ``V``.
    """
    t = np.asarray(t_eval, dtype=float)

    def rhs(_t: float, y: np.ndarray) -> list[float]:
        X, P, S, V = y
        mu = mu_max * S / (Ks + S)
        dil = F / V
        return [mu * X - dil * X, Ypx * mu * X - dil * P, dil * (Sf - S) - mu * X / Yxs, F]

    y0 = [float(initial[name]) for name in STATES]
    sol = solve_ivp(rhs, (t[0], t[-1]), y0, method="Radau", t_eval=t, rtol=1e-10, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    frame = pd.DataFrame(sol.y.T, columns=list(STATES), index=pd.Index(t, name="time"))
    return frame


def generate(data_dir: Path = DATA_DIR) -> dict[str, pd.DataFrame]:
    """Simulate all batches and write them as CSV files.

    Parameters
    ----------
    data_dir : pathlib.Path, optional
        Directory receiving ``<batch>.csv`` (created if missing).

    Returns
    -------
    dict[str, pandas.DataFrame]
        The written data of each batch, keyed by batch name.
    """
    rng = np.random.default_rng(SEED)
    sd = np.array([NOISE_SD[name] for name in STATES])
    batches: dict[str, pd.DataFrame] = {}
    for name, initial in TRAIN_BATCHES.items():
        t = np.linspace(0.0, HORIZON, N_TRAIN)
        clean = simulate_monod(initial, FEED, initial["S"], t)
        # Noisy values are kept as measured: no clipping of negative values.
        batches[name] = clean + rng.normal(0.0, 1.0, size=clean.shape) * sd
    for name, initial in VALIDATION_BATCH.items():
        t = np.linspace(0.0, HORIZON, N_VALIDATION)
        batches[name] = simulate_monod(initial, FEED, initial["S"], t)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in batches.items():
        frame.to_csv(data_dir / f"{name}.csv", float_format="%.8g", lineterminator="\n")
    return batches


if __name__ == "__main__":
    generate()
