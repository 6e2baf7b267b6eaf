"""Driver run *inside* ``benchmarks/.venv-sindae`` by ``benchmarks/peers_sindae.py --case tank_manifold``.

Trains SiNDAE's simultaneous method on the tank-manifold CSVs of
``flowsheets/tank_manifold/data`` (three noisy trajectories t1..t3), with SiNDAE's
own ``FourTankProblem`` (the same index-2 DAE: four tanks, x0 = x1, learned pump
flow z0 = u0 and tank-0 outflow z1 = u3; its default initial states are our
t1..t3) and the network and discretization of ``flowsheets/tank_manifold/config.toml``
(4-32-32-2 tanh, 20 elements x 3 Radau points, L2 1e-2), through its public API
(``solve_smoother`` -> ``extract_instance_data`` -> ``pretrain_mlp`` ->
``solve_simultaneous``). The smoothness weight (10) and pre-training L2 (1e-2)
follow SiNDAE's ``examples/four_tank.py``.

The validation trajectory (``val.csv``) is predicted by integrating the reduced
ODE of the communicating tanks (y = x0 = x1, see ``generate_data.py``) with the
trained network by ``scipy.integrate.solve_ivp``.

``python _sindae_tank_driver.py DATA_DIR REG HESSIAN [MAX_CPU_TIME]``; prints one
JSON object on stdout (last line).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "flowsheets/tank_manifold/data"
REG = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-2
HESSIAN = sys.argv[3] if len(sys.argv) > 3 else "exact"
MAX_CPU = float(sys.argv[4]) if len(sys.argv) > 4 else None
STATES = ("x0", "x1", "x2", "x3")
PHI = (0.1, 0.5, 2.0, 10.0)
A2 = 0.1
SMOOTH_COEF = 10.0
TRAIN = ("t1", "t2", "t3")
TRAIN_ICS = np.array([[0.75, 0.75, 2.5, 0.6], [3.1, 3.1, 1.5, 0.5], [0.9, 0.9, 1.8, 1.1]])
VAL_IC = np.array([1.5, 1.5, 1.0, 0.8])
HORIZON = 400.0
#: The result, filled stage by stage (so a failure still reports the stages before it).
OUT: dict = {}


def read_csv(name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1)
    return arr[:, 0], arr[:, 1:5]


def main() -> dict:
    out = OUT
    out.update(method="SiNDAE simultaneous (smoother + pretrain + single NLP)", case="tank_manifold",
               hessian=HESSIAN, max_cpu_time=MAX_CPU)
    tick = time.perf_counter()
    import jax
    import sindae as sd
    from pyomo.common.timing import HierarchicalTimer
    from scipy.integrate import solve_ivp

    jax.config.update("jax_enable_x64", True)
    out["sindae"] = sd.__version__
    out["import_s"] = time.perf_counter() - tick

    times, values = zip(*(read_csv(b) for b in TRAIN))
    problem = sd.FourTankProblem(ics=TRAIN_ICS, t_span=(0.0, HORIZON), nfe=20, ncp=3,
                                 obs_times=list(times), obs_values=list(values))
    mlp = sd.SimpleMLP(in_size=4, out_size=2, widths=[32, 32], activations=[jax.nn.tanh] * 2,
                       key=jax.random.PRNGKey(0))
    extra = {"max_cpu_time": MAX_CPU} if MAX_CPU else {}
    solver_options = sd.SolverConfig(tol=1e-6, max_iter=1000, hessian_approximation=HESSIAN,
                                     extra_options=extra)
    stages: dict = {}
    out["stages"] = stages

    tick = time.perf_counter()
    smoother_model = sd.solve_smoother(problem, mlp, smooth_coef=SMOOTH_COEF,
                                       solver_options=sd.SolverConfig(tol=1e-6, max_iter=1000),
                                       nlp_solver="pounce")
    stages["smoother"] = {"wall_time_s": time.perf_counter() - tick,
                          "termination": str(smoother_model._solver_result.solver.termination_condition)
                          if getattr(smoother_model, "_solver_result", None) is not None else None,
                          "solver_timing": _jsonable(getattr(smoother_model, "_pounce_timing", None))}
    tick = time.perf_counter()
    smoother_data = sd.extract_instance_data(problem, smoother_model)
    stages["extract"] = {"wall_time_s": time.perf_counter() - tick}

    tick = time.perf_counter()
    pre = sd.PretrainConfig(epochs=200, batch_size=32, reg_coef=REG)
    mlp = sd.pretrain_mlp(mlp, smoother_data, pre)
    stages["pretrain"] = {"wall_time_s": time.perf_counter() - tick, "epochs": pre.epochs,
                          "reg_coef": pre.reg_coef}

    tick = time.perf_counter()
    timer = HierarchicalTimer()
    try:
        train_model, net = sd.solve_simultaneous(problem, mlp, sd.SimultaneousConfig(reg_coef=REG),
                                                 data=smoother_data, smoother_model=smoother_model,
                                                 solver_options=solver_options, nlp_solver="pounce",
                                                 timer=timer)
    finally:
        stages["train"] = {"wall_time_s": time.perf_counter() - tick,
                           "build_s": _timer(timer, "build"), "solve_s": _timer(timer, "solve")}
    res = train_model._solver_result
    stages["train"].update(termination=str(res.solver.termination_condition),
                           solver_timing=_jsonable(getattr(train_model, "_pounce_timing", None)))
    out["pipeline_s"] = sum(s["wall_time_s"] for s in stages.values())

    # ---- validation: integrate the reduced ODE with the trained network
    tick = time.perf_counter()
    in_mean = np.asarray(smoother_data.input_mean, float)
    in_std = np.asarray(smoother_data.input_std, float)
    out_mean = np.asarray(smoother_data.output_mean, float)
    out_std = np.asarray(smoother_data.output_std, float)
    Ws = [np.asarray(layer.weight, float) for layer in net.layers]
    bs = [np.asarray(layer.bias, float) for layer in net.layers]

    def z(x):  # the trained SimpleMLP in numpy (tanh hidden layers, linear output)
        h = (x - in_mean) / in_std
        for W, b in zip(Ws[:-1], bs[:-1]):
            h = np.tanh(W @ h + b)
        return out_mean + out_std * (Ws[-1] @ h + bs[-1])

    def rhs(_t, s):
        y, x2, x3 = s
        u0, u3 = z(np.array([y, y, x2, x3]))
        u4 = A2 * np.sqrt(max(x2, 0.0))
        return [(u0 - u3) / (PHI[0] + PHI[1]), (u3 - u4) / PHI[2], (u4 - u0) / PHI[3]]

    val_t, val_y = read_csv("val")
    sol = solve_ivp(rhs, (0.0, HORIZON), [VAL_IC[0], VAL_IC[2], VAL_IC[3]], t_eval=val_t, method="LSODA",
                    rtol=1e-8, atol=1e-10)
    rmse = {}
    if sol.success and sol.y.shape[1] == len(val_t):
        pred = np.column_stack([sol.y[0], sol.y[0], sol.y[1], sol.y[2]])
        rmse = {s: float(np.sqrt(np.mean((pred[:, i] - val_y[:, i]) ** 2))) for i, s in enumerate(STATES)}
    stages["validate"] = {"wall_time_s": time.perf_counter() - tick, "ivp_success": bool(sol.success),
                          "ivp_message": sol.message}
    out["validation_rmse"] = rmse
    return out


def _timer(timer, name: str) -> float | None:
    try:
        return float(timer.get_total_time(name))
    except (KeyError, AttributeError, RuntimeError):
        return None


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
        result = {**OUT, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print(json.dumps(result, default=str))
