"""Driver run *inside* ``benchmarks/.venv-sindae`` by ``benchmarks/peers_sindae.py``.

Trains SiNDAE's simultaneous method (its public API: ``solve_smoother`` ->
``extract_instance_data`` -> ``pretrain_mlp`` -> ``solve_simultaneous``, the
stages ``HybridDAE.fit`` runs, called one by one so each can be timed) on the
bioreactor CSVs of ``flowsheets/bioreactor/data``, with the network and
discretization of ``flowsheets/bioreactor/config.toml``, then predicts the
validation batch by integrating the trained network with ``scipy.integrate.solve_ivp``
from the validation initial state. Prints one JSON object on stdout (last line).

Only numpy, scipy, jax and sindae are needed (what ``pip install sindae`` brings).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "flowsheets/bioreactor/data"
REG = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-2
STATES = ("X", "P", "S", "V")
INPUT_ORDER = (0, 2, 1, 3)  # network inputs X, S, P, V (config.toml order)
YXS, YPX, FEED = 0.5, 0.2, 0.05
TRAIN_ICS = np.array([[0.05, 0.0, 10.0, 1.0], [0.025, 0.0, 5.0, 0.8], [0.5, 0.0, 7.5, 0.95]])
VAL_IC = np.array([0.1, 0.0, 8.0, 0.9])


def read_csv(name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1)
    return arr[:, 0], arr[:, 1:5]


def main() -> dict:
    out: dict = {"method": "SiNDAE simultaneous (smoother + pretrain + single NLP)"}
    t_all = time.perf_counter()
    tick = time.perf_counter()
    import jax
    import pyomo.environ as pyo
    import pyomo.dae as dae
    import sindae as sd
    from scipy.integrate import solve_ivp

    jax.config.update("jax_enable_x64", True)
    out["sindae"] = sd.__version__
    out["import_s"] = time.perf_counter() - tick

    class Bioreactor(sd.ProblemDefinition):
        """Our bioreactor (dP/dt uses F P / V, as the data were generated;
        SiNDAE's bundled FedBatchBioreactorProblem writes F P / X)."""

        def __init__(self, ics, **kw):
            super().__init__(np.asarray(ics), input_dim=4, z_dim=1, t_span=(0.0, 40.0), obs_dim=4, **kw)

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

    times, values = zip(*(read_csv(b) for b in ("b1", "b2", "b3")))
    problem = Bioreactor(TRAIN_ICS, nfe=20, ncp=3, obs_times=list(times), obs_values=list(values))
    mlp = sd.SimpleMLP(in_size=4, out_size=1, widths=[20, 20], activations=[jax.nn.softplus] * 2,
                       key=jax.random.PRNGKey(0))
    solver_options = sd.SolverConfig(tol=1e-6, max_iter=1000)
    stages: dict = {}

    tick = time.perf_counter()
    smoother_model = sd.solve_smoother(problem, mlp, smooth_coef=sd.SmootherConfig().smooth_coef,
                                       solver_options=solver_options, nlp_solver="pounce")
    stages["smoother"] = {"wall_time_s": time.perf_counter() - tick,
                          "termination": str(getattr(getattr(smoother_model, "_solver_result", None), "solver", None)
                                             and smoother_model._solver_result.solver.termination_condition),
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
    train_model, net = sd.solve_simultaneous(problem, mlp, sd.SimultaneousConfig(reg_coef=REG),
                                             data=smoother_data, smoother_model=smoother_model,
                                             solver_options=solver_options, nlp_solver="pounce")
    res = train_model._solver_result
    stages["train"] = {"wall_time_s": time.perf_counter() - tick,
                       "termination": str(res.solver.termination_condition),
                       "solver_timing": _jsonable(getattr(train_model, "_pounce_timing", None))}
    out["pipeline_s"] = sum(s["wall_time_s"] for s in stages.values())

    # ---- validation: integrate the trained network from the validation start
    tick = time.perf_counter()
    in_mean = np.asarray(smoother_data.input_mean, float)
    in_std = np.asarray(smoother_data.input_std, float)
    out_mean = np.asarray(smoother_data.output_mean, float)
    out_std = np.asarray(smoother_data.output_std, float)
    Ws = [np.asarray(layer.weight, float) for layer in net.layers]
    bs = [np.asarray(layer.bias, float) for layer in net.layers]

    def mu(x):  # the trained SimpleMLP in numpy (softplus hidden layers, linear output)
        h = (x[list(INPUT_ORDER)] - in_mean) / in_std
        for W, b in zip(Ws[:-1], bs[:-1]):
            h = np.logaddexp(0.0, W @ h + b)
        return float(out_mean[0] + out_std[0] * (Ws[-1] @ h + bs[-1])[0])

    def rhs(_t, x, Sf):
        X, P, S, V = x
        m = mu(x)
        return [m * X - FEED * X / V, YPX * m * X - FEED * P / V, FEED * (Sf - S) / V - m * X / YXS, FEED]

    val_t, val_y = read_csv("val")
    sol = solve_ivp(rhs, (0.0, 40.0), VAL_IC, t_eval=val_t, args=(VAL_IC[2],), method="LSODA",
                    rtol=1e-8, atol=1e-10)
    rmse = {}
    if sol.success and sol.y.shape[1] == len(val_t):
        rmse = {s: float(np.sqrt(np.mean((sol.y[i] - val_y[:, i]) ** 2))) for i, s in enumerate(STATES)}
    stages["validate"] = {"wall_time_s": time.perf_counter() - tick, "ivp_success": bool(sol.success),
                          "ivp_message": sol.message}
    # the fitted training trajectories (sindae's own metrics, on the collocation grid)
    out["stages"] = stages
    out["validation_rmse"] = rmse
    out["wall_time_s"] = time.perf_counter() - t_all
    out["normalization"] = {"input_mean": in_mean.tolist(), "input_std": in_std.tolist(),
                            "output_mean": out_mean.tolist(), "output_std": out_std.tolist()}
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
    try:
        result = main()
    except Exception as exc:  # the error is the result
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print(json.dumps(result, default=str))
