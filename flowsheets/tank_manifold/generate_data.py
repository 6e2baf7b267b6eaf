"""Generate synthetic tank-manifold data from the true index-2 DAE.

Levels ``x0..x3`` (m) of four tanks with cross-sections ``phi = [0.1, 0.5, 2, 10]``
(m^2), flows ``u0..u4`` (m^3/s)::

    phi0 dx0/dt = u1 - u3        x0 = x1
    phi1 dx1/dt = u2             u0 = u1 + u2
    phi2 dx2/dt = u3 - u4        u4 = a2 sqrt(x2)
    phi3 dx3/dt = u4 - u0        u0 = k x0 x3,  u3 = a1 sqrt(x0)

with ``k = 0.2``, ``a1 = a2 = 0.1``. The DAE is solved by substituting the
algebraic relations. Differentiating ``x0 = x1`` gives ``(u1 - u3)/phi0 =
u2/phi1``; with ``u1 + u2 = u0`` this yields::

    u1 = (phi0 u0 + phi1 u3) / (phi0 + phi1),   u2 = phi1 (u0 - u3) / (phi0 + phi1)

so the common level ``y = x0 = x1`` of the communicating tanks 0 and 1 obeys
``(phi0 + phi1) dy/dt = u0 - u3`` (one tank of area ``phi0 + phi1`` fed by the
pump and drained by ``u3``). The reduced ODE in ``(y, x2, x3)`` is integrated
with scipy and ``x0 = x1 = y`` reported.

Three noisy training trajectories (31 samples on [0, 400] s, noise sd 0.05 m on
every level) and one noise-free validation trajectory from another consistent
initial state are written to ``data/t1.csv`` .. ``data/t3.csv`` and
``data/val.csv``. Run ``python generate_data.py``; the output is deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

#: Names of the levels, in the column order of the CSV files.
STATES = ("x0", "x1", "x2", "x3")
#: True parameters: areas (m^2), orifice coefficients (m^2.5/s), pump coefficient (m/s).
PARAMETERS = {"phi0": 0.1, "phi1": 0.5, "phi2": 2.0, "phi3": 10.0, "a1": 0.1, "a2": 0.1, "k": 0.2}
HORIZON = 400.0
SEED = 20260403
NOISE_SD = 0.05
TRAIN = {"t1": [0.75, 0.75, 2.5, 0.6], "t2": [3.1, 3.1, 1.5, 0.5], "t3": [0.9, 0.9, 1.8, 1.1]}
VALIDATION = {"val": [1.5, 1.5, 1.0, 0.8]}
N_TRAIN, N_VALIDATION = 31, 41

DATA_DIR = Path(__file__).resolve().parent / "data"


def flows(x: Sequence[float], phi0: float = 0.1, phi1: float = 0.5, a1: float = 0.1,
          a2: float = 0.1, k: float = 0.2, **_: float) -> np.ndarray:
    """The five flows ``u0..u4`` of a consistent state ``x`` (``x0 == x1``)."""
    x0, _x1, x2, x3 = x
    u0, u3, u4 = k * x0 * x3, a1 * np.sqrt(x0), a2 * np.sqrt(x2)
    u1 = (phi0 * u0 + phi1 * u3) / (phi0 + phi1)
    return np.array([u0, u1, u0 - u1, u3, u4])


def simulate_tanks(initial: Sequence[float], t_eval: Sequence[float] | np.ndarray,
                   **parameters: float) -> pd.DataFrame:
    """Simulate the true tank manifold from a consistent initial state.

    Parameters
    ----------
    initial : Sequence[float]
        Initial levels ``[x0, x1, x2, x3]`` with ``x0 == x1``.
    t_eval : array_like
        Increasing times (s); the first is the time of ``initial``.
    **parameters : float
        Overrides of :data:`PARAMETERS`.

    Returns
    -------
    pandas.DataFrame
        Index ``time``, columns ``x0..x3`` and ``u0..u4``.
    """
    p = {**PARAMETERS, **parameters}
    if abs(initial[0] - initial[1]) > 1e-12:
        raise ValueError(f"initial: x0={initial[0]} and x1={initial[1]} must be equal (x0 = x1)")
    t = np.asarray(t_eval, dtype=float)

    def rhs(_t: float, z: np.ndarray) -> list[float]:
        y, x2, x3 = z
        u0, _u1, _u2, u3, u4 = flows([y, y, x2, x3], **p)
        return [(u0 - u3) / (p["phi0"] + p["phi1"]), (u3 - u4) / p["phi2"], (u4 - u0) / p["phi3"]]

    sol = solve_ivp(rhs, (t[0], t[-1]), [initial[0], initial[2], initial[3]], method="Radau",
                    t_eval=t, rtol=1e-10, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    y, x2, x3 = sol.y
    levels = np.column_stack([y, y, x2, x3])
    u = np.array([flows(row, **p) for row in levels])
    frame = pd.DataFrame(np.column_stack([levels, u]), columns=[*STATES, "u0", "u1", "u2", "u3", "u4"],
                         index=pd.Index(t, name="time"))
    return frame


def generate(data_dir: Path = DATA_DIR) -> dict[str, pd.DataFrame]:
    """Simulate all trajectories and write the measured levels as CSV files."""
    rng = np.random.default_rng(SEED)
    frames: dict[str, pd.DataFrame] = {}
    for name, initial in TRAIN.items():
        clean = simulate_tanks(initial, np.linspace(0.0, HORIZON, N_TRAIN))[list(STATES)]
        frames[name] = clean + rng.normal(0.0, NOISE_SD, size=clean.shape)
    for name, initial in VALIDATION.items():
        frames[name] = simulate_tanks(initial, np.linspace(0.0, HORIZON, N_VALIDATION))[list(STATES)]
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(data_dir / f"{name}.csv", float_format="%.8g", lineterminator="\n")
    return frames


if __name__ == "__main__":
    generate()
