"""Driver run *inside* ``benchmarks/.venv-sindae`` by ``benchmarks/peers_sindae.py``.

Trains SiNDAE's simultaneous method (its public API: ``solve_smoother`` ->
``extract_instance_data`` -> ``pretrain_mlp`` -> ``solve_simultaneous``, the
stages ``HybridDAE.fit`` runs, called one by one so each can be timed) on the
bioreactor CSVs ``b1``, ``b2``, ``b3`` of a data folder (default
``flowsheets/bioreactor/data``; the noise benchmark's data sets of
``benchmarks/noise_data.py`` have the same batches), with the network and
discretization of ``flowsheets/bioreactor/config.toml``, then predicts the
validation batch ``val`` by integrating the trained network with
``scipy.integrate.solve_ivp`` from the validation initial state. Prints one JSON
object on stdout (last line).

Observations: SiNDAE takes one time array per trajectory (``obs_times``), so a
batch keeps its own, ragged, sample times. It has no mask for missing values: its
data fit interpolates every observed variable linearly (``np.interp``) from the
observation times onto the collocation points, and a NaN would make that target
NaN. A missing cell (empty in the CSV) is therefore filled by linear interpolation
of that variable over the batch's samples where it was measured (held constant
before the first / after the last one, as ``np.interp`` does): SiNDAE's
interpolated targets are then exactly those of each variable's own measured
samples. The standardization of the observations (``obs_mean`` / ``obs_std``,
overridden in the problem class) uses the measured cells only. On data without
missing cells (the public case) both are SiNDAE's defaults unchanged.

``python _sindae_driver.py [DATA_DIR [REG [HESSIAN]]]``: L2 weight of the simultaneous
NLP (default 1e-2), Hessian of the simultaneous solve, ``exact`` (default, POUNCE's
default) or ``limited-memory`` (the smoother keeps the exact Hessian).

Only numpy, scipy, jax and sindae are needed (what ``pip install sindae`` brings).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "flowsheets/bioreactor/data"
STATES = ("X", "P", "S", "V")
INPUT_ORDER = (0, 2, 1, 3)  # network inputs X, S, P, V (config.toml order)
YXS, YPX, FEED = 0.5, 0.2, 0.05
# initial states of b1, b2, b3 and val: flowsheets/bioreactor/generate_data.py
# TRAIN_BATCHES / VALIDATION_BATCH, which benchmarks/noise_data.py reuses
TRAIN_ICS = np.array([[0.05, 0.0, 10.0, 1.0], [0.025, 0.0, 5.0, 0.8], [0.5, 0.0, 7.5, 0.95]])
VAL_IC = np.array([0.1, 0.0, 8.0, 0.9])
MISSING_TREATMENT = ("per-trajectory obs_times; missing cells filled by linear interpolation of the "
                     "variable over its measured samples (SiNDAE has no mask; its fit interpolates the "
                     "observations onto the collocation points); obs_mean/obs_std from measured cells")


def read_csv(data: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Times and ``X, P, S, V`` of ``data/name.csv``; an empty cell is NaN."""
    arr = np.genfromtxt(data / f"{name}.csv", delimiter=",", skip_header=1, dtype=float)
    return arr[:, 0], arr[:, 1:5]


def fill_missing(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each column's NaN cells linearly interpolated over its measured samples."""
    out = y.copy()
    for j in range(y.shape[1]):
        seen = ~np.isnan(y[:, j])
        if not seen.any():
            raise ValueError(f"variable {STATES[j]} has no measured sample in a batch")
        out[~seen, j] = np.interp(t[~seen], t[seen], y[seen, j])
    return out


def make_problem(sd, pyo, dae, times, raw_values):
    """SiNDAE problem of our bioreactor on the training batches (times, values with NaN)."""

    class Bioreactor(sd.ProblemDefinition):
        """Our bioreactor (dP/dt uses F P / V, as the data were generated;
        SiNDAE's bundled FedBatchBioreactorProblem writes F P / X)."""

        def __init__(self, ics, raw, **kw):
            super().__init__(np.asarray(ics), input_dim=4, z_dim=1, t_span=(0.0, 40.0), obs_dim=4, **kw)
            self.raw_obs = np.vstack(raw)

        @property
        def obs_mean(self):
            return np.nanmean(self.raw_obs, axis=0)

        @property
        def obs_std(self):
            return np.nanstd(self.raw_obs, axis=0).clip(min=1e-8)

        def build_trajectory(self, block, traj_idx):
            x0 = self.ics[traj_idx]
            Sf = float(x0[2])
            block.t = dae.ContinuousSet(bounds=self.t_span)
            block.x = pyo.Var(block.t, range(4), domain=pyo.NonNegativeReals, initialize=1.0)
            block.z = pyo.Var(block.t, range(1), initialize=0.1)
            block.dxdt = dae.DerivativeVar(block.x, wrt=block.t)

            @block.Constraint(block.t, range(4))
            def diffeq(b, t, s):
                mu = b.z[t, 0]
                X, P, S, V = (b.x[t, j] for j in range(4))
                return b.dxdt[t, s] == [mu * X - FEED * X / V, YPX * mu * X - FEED * P / V,
                                        FEED * (Sf - S) / V - mu * X / YXS, FEED][s]

            for j in range(4):
                block.x[self.t_span[0], j].fix(float(x0[j]))

        def get_input_vars(self, block, t):
            return [block.x[t, j] for j in INPUT_ORDER]

        def get_obs_vars(self, block, t):
            return [block.x[t, j] for j in range(4)]

        def get_output_vars(self, block, t):
            return [block.z[t, 0]]

    filled = [fill_missing(t, y) for t, y in zip(times, raw_values)]
    return Bioreactor(TRAIN_ICS, raw_values, nfe=20, ncp=3, obs_times=list(times), obs_values=filled)


def _termination(model) -> str | None:
    res = getattr(model, "_solver_result", None)
    return str(res.solver.termination_condition) if res is not None else None


def train(sd, jax, problem, reg: float, hessian: str) -> tuple[dict, object, object]:
    """SiNDAE's stages, timed: smoother, extract, pretrain, simultaneous NLP."""
    mlp = sd.SimpleMLP(in_size=4, out_size=1, widths=[20, 20], activations=[jax.nn.softplus] * 2,
                       key=jax.random.PRNGKey(0))
    solver_options = sd.SolverConfig(tol=1e-6, max_iter=1000)
    stages: dict = {}
    tick = time.perf_counter()
    smoother_model = sd.solve_smoother(problem, mlp, smooth_coef=sd.SmootherConfig().smooth_coef,
                                       solver_options=solver_options, nlp_solver="pounce")
    stages["smoother"] = {"wall_time_s": time.perf_counter() - tick, "termination": _termination(smoother_model),
                          "solver_timing": _jsonable(getattr(smoother_model, "_pounce_timing", None))}
    tick = time.perf_counter()
    smoother_data = sd.extract_instance_data(problem, smoother_model)
    stages["extract"] = {"wall_time_s": time.perf_counter() - tick}

    tick = time.perf_counter()
    pre = sd.PretrainConfig()
    mlp = sd.pretrain_mlp(mlp, smoother_data, pre)
    stages["pretrain"] = {"wall_time_s": time.perf_counter() - tick, "epochs": pre.epochs,
                          "reg_coef": pre.reg_coef}

    tick = time.perf_counter()
    train_options = solver_options if hessian == "exact" else \
        sd.SolverConfig(tol=1e-6, max_iter=1000, hessian_approximation=hessian)
    train_model, net = sd.solve_simultaneous(problem, mlp, sd.SimultaneousConfig(reg_coef=reg),
                                             data=smoother_data, smoother_model=smoother_model,
                                             solver_options=train_options, nlp_solver="pounce")
    stages["train"] = {"wall_time_s": time.perf_counter() - tick, "termination": _termination(train_model),
                       "hessian": hessian,
                       "solver_timing": _jsonable(getattr(train_model, "_pounce_timing", None))}
    return stages, smoother_data, net


def validate(data: Path, smoother_data, net) -> tuple[dict, dict, dict]:
    """Integrate the trained network from the validation start; RMSE against ``val.csv``."""
    from scipy.integrate import solve_ivp

    tick = time.perf_counter()
    norm = {k: np.asarray(getattr(smoother_data, k), float)
            for k in ("input_mean", "input_std", "output_mean", "output_std")}
    Ws = [np.asarray(layer.weight, float) for layer in net.layers]
    bs = [np.asarray(layer.bias, float) for layer in net.layers]

    def mu(x):  # the trained SimpleMLP in numpy (softplus hidden layers, linear output)
        h = (x[list(INPUT_ORDER)] - norm["input_mean"]) / norm["input_std"]
        for W, b in zip(Ws[:-1], bs[:-1]):
            h = np.logaddexp(0.0, W @ h + b)
        return float(norm["output_mean"][0] + norm["output_std"][0] * (Ws[-1] @ h + bs[-1])[0])

    def rhs(_t, x, Sf):
        X, P, S, V = x
        m = mu(x)
        return [m * X - FEED * X / V, YPX * m * X - FEED * P / V, FEED * (Sf - S) / V - m * X / YXS, FEED]

    val_t, val_y = read_csv(data, "val")
    sol = solve_ivp(rhs, (0.0, 40.0), VAL_IC, t_eval=val_t, args=(VAL_IC[2],), method="LSODA",
                    rtol=1e-8, atol=1e-10)
    rmse = {}
    if sol.success and sol.y.shape[1] == len(val_t):
        rmse = {s: float(np.sqrt(np.mean((sol.y[i] - val_y[:, i]) ** 2))) for i, s in enumerate(STATES)}
    stage = {"wall_time_s": time.perf_counter() - tick, "ivp_success": bool(sol.success),
             "ivp_message": sol.message}
    return rmse, stage, {k: v.tolist() for k, v in norm.items()}


def main(data: Path = DEFAULT_DATA, reg: float = 1e-2, hessian: str = "exact") -> dict:
    """Train SiNDAE on ``data`` and validate; the JSON-ready result."""
    out: dict = {"method": "SiNDAE simultaneous (smoother + pretrain + single NLP)", "data": str(data),
                 "reg_coef": reg, "hessian": hessian}
    t_all = time.perf_counter()
    tick = time.perf_counter()
    import jax
    import pyomo.environ as pyo
    import pyomo.dae as dae
    import sindae as sd

    jax.config.update("jax_enable_x64", True)
    out["sindae"] = sd.__version__
    out["import_s"] = time.perf_counter() - tick

    times, values = zip(*(read_csv(data, b) for b in ("b1", "b2", "b3")))
    missing = {s: int(sum(np.isnan(y[:, j]).sum() for y in values)) for j, s in enumerate(STATES)}
    out["observations"] = {"samples": [len(t) for t in times], "missing_cells": missing,
                           "treatment": MISSING_TREATMENT if any(missing.values()) else "none needed"}
    problem = make_problem(sd, pyo, dae, times, values)
    stages, smoother_data, net = train(sd, jax, problem, reg, hessian)
    out["pipeline_s"] = sum(s["wall_time_s"] for s in stages.values())
    rmse, stages["validate"], out["normalization"] = validate(data, smoother_data, net)
    out["stages"] = stages
    out["validation_rmse"] = rmse
    out["wall_time_s"] = time.perf_counter() - t_all
    return out


def _jsonable(obj):
    try:
        json.dumps(obj)
        return obj
    except TypeError:
        if isinstance(obj, dict):
            return {str(k): _jsonable(v) for k, v in obj.items()}
        return repr(obj)


if __name__ == "__main__":
    argv = sys.argv[1:]
    try:
        result = main(Path(argv[0]) if argv else DEFAULT_DATA, float(argv[1]) if len(argv) > 1 else 1e-2,
                      argv[2] if len(argv) > 2 else "exact")
    except Exception as exc:  # the error is the result
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print(json.dumps(result, default=str))
