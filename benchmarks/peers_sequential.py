"""Peer baseline: a sequential neural ODE in TensorFlow on the bioreactor case.

The same hybrid model as ``flowsheets/bioreactor/config.toml`` (mass balances
with a learned growth rate ``mu(X, S, P, V)``: a 4-20-20-1 softplus network on
standardized inputs), but trained the *sequential* way: every loss evaluation
integrates the ODE of the three training batches with a fixed-step RK4
(``--step`` hours, default 1/3 h so that every observation time lies on the
grid), and Adam (lr 1e-3) follows the gradient obtained by back-propagating
through the integrator. The loss is the package's own objective: the mean of
the squared residuals scaled by the noise sd, plus ``alpha/2 ||theta||^2``
(alpha = 1e-2).

Training stops when the validation RMSE (the validation batch simulated from
its initial state, RMSE of S and X on val.csv) has not improved for
``--patience`` evaluations, or when ``--budget`` seconds have passed. When
``--target-S``/``--target-X`` are given (the simultaneous method's validation
RMSE), the time at which both are first reached is recorded.

``python -m benchmarks.peers_sequential [--budget 600] [--json out.json]``
prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "flowsheets" / "bioreactor" / "data"
STATES = ("X", "P", "S", "V")
YXS, YPX = 0.5, 0.2
NOISE_SD = {"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1}
#: name -> (initial [X, P, S, V], F, Sf), as in config.toml.
BATCHES = {
    "b1": ([0.05, 0.0, 10.0, 1.0], 0.05, 10.0),
    "b2": ([0.025, 0.0, 5.0, 0.8], 0.05, 5.0),
    "b3": ([0.5, 0.0, 7.5, 0.95], 0.05, 7.5),
    "val": ([0.1, 0.0, 8.0, 0.9], 0.05, 8.0),
}
TRAIN = ("b1", "b2", "b3")
HORIZON = 40.0
#: Output normalization mu = MU_OFFSET + MU_SCALE * net (the package also
#: de-normalizes the network output); without it Adam's first steps from a
#: random network blow the ODE up.
MU_OFFSET, MU_SCALE = 0.1, 0.1
#: Network inputs, in the order of config.toml.
INPUTS = ("X", "S", "P", "V")


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv")


def run(budget: float = 600.0, step: float = 1.0 / 3.0, lr: float = 1e-3, alpha: float = 1e-2,
        patience: int = 200, eval_every: int = 10, seed: int = 0,
        target_S: float | None = None, target_X: float | None = None) -> dict:
    import tensorflow as tf

    tf.random.set_seed(seed)
    t_import = time.perf_counter()
    n_steps = int(round(HORIZON / step))
    train = {b: load(b) for b in TRAIN}
    val = load("val")

    def grid_index(times: np.ndarray) -> np.ndarray:
        idx = np.rint(times / step).astype(int)
        if np.max(np.abs(idx * step - times)) > 1e-6:
            raise ValueError(f"observation times not on the RK4 grid of step {step}")
        return idx

    # training observations: [batch, obs, state]; all batches share the same times
    t_obs = train["b1"]["time"].to_numpy()
    obs_idx = grid_index(t_obs)
    y_train = np.stack([train[b][list(STATES)].to_numpy() for b in TRAIN])
    sd = np.array([NOISE_SD[s] for s in STATES])
    val_idx = grid_index(val["time"].to_numpy())
    y_val = val[list(STATES)].to_numpy()

    # input standardization from the training data (the package uses the smoother's profiles)
    all_data = np.concatenate([y_train.reshape(-1, 4)])
    cols = [STATES.index(s) for s in INPUTS]
    in_mean = all_data[:, cols].mean(axis=0)
    in_std = all_data[:, cols].std(axis=0)

    init = tf.keras.initializers.GlorotUniform(seed=seed)
    sizes = [4, 20, 20, 1]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append(tf.Variable(init((a, b), dtype=tf.float64)))
        params.append(tf.Variable(tf.zeros((b,), dtype=tf.float64)))
    n_params = int(sum(np.prod(p.shape) for p in params))
    in_mean_t = tf.constant(in_mean, tf.float64)
    in_std_t = tf.constant(in_std, tf.float64)
    cols_t = tf.constant(cols)

    def mu(x):  # x: [batch, 4] in STATES order
        h = (tf.gather(x, cols_t, axis=1) - in_mean_t) / in_std_t
        h = tf.nn.softplus(h @ params[0] + params[1])
        h = tf.nn.softplus(h @ params[2] + params[3])
        return MU_OFFSET + MU_SCALE * (h @ params[4] + params[5])[:, 0]

    def rhs(x, F, Sf):
        X, P, S, V = x[:, 0], x[:, 1], x[:, 2], x[:, 3]
        r = mu(x) * X
        D = F / V
        return tf.stack([r - D * X, YPX * r - D * P, D * (Sf - S) - r / YXS, F * tf.ones_like(V)], axis=1)

    def integrate(x0, F, Sf):
        h = tf.constant(step, tf.float64)

        def rk4(x, _):
            k1 = rhs(x, F, Sf)
            k2 = rhs(x + 0.5 * h * k1, F, Sf)
            k3 = rhs(x + 0.5 * h * k2, F, Sf)
            k4 = rhs(x + h * k3, F, Sf)
            return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)

        xs = tf.scan(rk4, tf.zeros((n_steps,), tf.float64), initializer=x0)  # [n_steps, batch, 4]
        return tf.transpose(tf.concat([x0[None], xs], axis=0), [1, 0, 2])  # [batch, n_steps+1, 4]

    x0_tr = tf.constant([BATCHES[b][0] for b in TRAIN], tf.float64)
    F_tr = tf.constant([BATCHES[b][1] for b in TRAIN], tf.float64)
    Sf_tr = tf.constant([BATCHES[b][2] for b in TRAIN], tf.float64)
    y_tr = tf.constant(y_train, tf.float64)
    sd_t = tf.constant(sd, tf.float64)
    obs_idx_t = tf.constant(obs_idx)
    opt = tf.keras.optimizers.Adam(learning_rate=lr)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            traj = tf.gather(integrate(x0_tr, F_tr, Sf_tr), obs_idx_t, axis=1)
            fit = tf.reduce_mean(((traj - y_tr) / sd_t) ** 2)
            reg = tf.add_n([tf.reduce_sum(p ** 2) for p in params])
            loss = fit + 0.5 * alpha * reg
        grads = tape.gradient(loss, params)
        opt.apply_gradients(zip(grads, params))
        return loss, fit

    x0_v = tf.constant([BATCHES["val"][0]], tf.float64)
    F_v = tf.constant([BATCHES["val"][1]], tf.float64)
    Sf_v = tf.constant([BATCHES["val"][2]], tf.float64)
    val_idx_t = tf.constant(val_idx)

    @tf.function
    def predict_val():
        return tf.gather(integrate(x0_v, F_v, Sf_v), val_idx_t, axis=1)[0]

    def val_rmse() -> dict[str, float]:
        pred = predict_val().numpy()
        if not np.all(np.isfinite(pred)):
            return {s: float("inf") for s in STATES}
        return {s: float(np.sqrt(np.mean((pred[:, i] - y_val[:, i]) ** 2))) for i, s in enumerate(STATES)}

    tick = time.perf_counter()
    train_step()  # trace + compile
    predict_val()
    compile_s = time.perf_counter() - tick
    start = time.perf_counter()
    best = {"score": float("inf")}
    history = []
    reached = None
    it = 0
    since_best = 0
    stop = "budget"
    loss = fit = float("nan")
    while True:
        loss, fit = (float(v) for v in train_step())
        it += 1
        elapsed = time.perf_counter() - start
        if it % eval_every == 0:
            r = val_rmse()
            score = r["S"] / NOISE_SD["S"] + r["X"] / NOISE_SD["X"]
            history.append({"iter": it, "time_s": round(elapsed, 2), "loss": loss, "rmse": r})
            if score < best["score"]:
                best = {"score": score, "iter": it, "time_s": elapsed, "rmse": r, "loss": loss}
                since_best = 0
            else:
                since_best += 1
            if (reached is None and target_S is not None and target_X is not None
                    and r["S"] <= target_S and r["X"] <= target_X):
                reached = {"iter": it, "time_s": elapsed, "rmse": r}
            if since_best >= patience:
                stop = "patience"
                break
        if not np.isfinite(loss):
            stop = "diverged"
            break
        if elapsed >= budget:
            break
    total = time.perf_counter() - start
    return {
        "method": "sequential neural ODE (TensorFlow, RK4 + Adam)",
        "tensorflow": tf.__version__,
        "network": "4-20-20-1 softplus", "n_params": n_params,
        "rk4_step_h": step, "n_steps": n_steps, "lr": lr, "alpha": alpha,
        "patience_evals": patience, "eval_every": eval_every, "budget_s": budget,
        "stop": stop, "iterations": it, "final_loss": loss, "final_fit": fit,
        "setup_s": start - t_import - compile_s, "compile_s": compile_s, "train_s": total,
        "wall_time_s": time.perf_counter() - t_import,
        "best": best, "target": {"S": target_S, "X": target_X}, "reached_target": reached,
        "history": history[:: max(1, len(history) // 60)],
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peers_sequential", description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=600.0, help="training time budget (s)")
    p.add_argument("--step", type=float, default=1.0 / 3.0, help="RK4 step (h)")
    p.add_argument("--patience", type=int, default=200, help="evaluations without improvement")
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--target-S", type=float)
    p.add_argument("--target-X", type=float)
    p.add_argument("--json", type=Path, help="also write the result here")
    a = p.parse_args(argv)
    out = run(budget=a.budget, step=a.step, patience=a.patience, eval_every=a.eval_every,
              target_S=a.target_S, target_X=a.target_X)
    text = json.dumps(out, indent=1, default=float)
    if a.json:
        a.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
