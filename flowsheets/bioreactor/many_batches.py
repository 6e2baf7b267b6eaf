"""A plant historian's worth of fed-batch bioreactor batches (synthetic).

Batches differ in initial biomass, substrate and volume and in the feed rate and
feed concentration, all drawn from fixed ranges with a fixed seed, and are
simulated with the true Monod model (:func:`generate_data.simulate_monod`).
Training batches carry Gaussian measurement noise (``NOISE_SD``); validation
batches are noise-free. Used by the decomposition case study
(``flowsheets/bioreactor/many/config.toml``) and by the scaling benchmarks.

``python flowsheets/bioreactor/many_batches.py`` writes ``many/data/*.csv`` and
``many/config.toml`` (64 training + 4 validation batches; a run selects the first
``n`` training batches with :func:`experiments`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

try:  # run as a script or imported as flowsheets.bioreactor.many_batches
    from flowsheets.bioreactor.generate_data import HORIZON, NOISE_SD, STATES, simulate_monod
except ImportError:  # pragma: no cover - script mode
    from generate_data import HORIZON, NOISE_SD, STATES, simulate_monod

#: Seed of the batch conditions and of the measurement noise.
SEED = 20261127
#: Ranges of the drawn conditions (uniform): initial states and inputs.
RANGES = {"X": (0.02, 0.5), "S": (4.0, 12.0), "V": (0.7, 1.1), "F": (0.02, 0.1), "Sf": (5.0, 15.0)}
#: Batches written by :func:`generate`.
N_TRAIN_MAX, N_VALIDATION = 64, 4
#: Samples per training / validation batch on [0, HORIZON].
N_SAMPLES_TRAIN, N_SAMPLES_VALIDATION = 31, 41

DIR = Path(__file__).resolve().parent / "many"


def conditions(n: int, seed: int = SEED) -> list[tuple[dict[str, float], dict[str, float]]]:
    """``n`` drawn (initial state, inputs) pairs; the first ``k`` never depend on ``n``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        d = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in RANGES.items()}
        out.append(({"X": d["X"], "P": 0.0, "S": d["S"], "V": d["V"]}, {"F": d["F"], "Sf": d["Sf"]}))
    return out


def batches(n_train: int = N_TRAIN_MAX, n_validation: int = N_VALIDATION,
            seed: int = SEED) -> dict[str, tuple[dict, dict, pd.DataFrame, str]]:
    """Simulate ``n_train`` noisy and ``n_validation`` noise-free batches.

    Returns
    -------
    dict
        ``name -> (initial, inputs, measurements, role)``; training batches are
        ``t01, t02, ...``, validation batches ``v1, v2, ...``.
    """
    conds = conditions(N_TRAIN_MAX + n_validation, seed)
    noise = np.random.default_rng(seed + 1)
    sd = np.array([NOISE_SD[s] for s in STATES])
    out = {}
    for k in range(N_TRAIN_MAX):
        initial, inputs = conds[k]
        draw = noise.normal(0.0, 1.0, size=(N_SAMPLES_TRAIN, len(STATES)))  # drawn for every batch
        if k < n_train:
            t = np.linspace(0.0, HORIZON, N_SAMPLES_TRAIN)
            clean = simulate_monod(initial, inputs["F"], inputs["Sf"], t)
            out[f"t{k + 1:02d}"] = (initial, inputs, clean + draw * sd, "train")
    for k in range(n_validation):
        initial, inputs = conds[N_TRAIN_MAX + k]
        t = np.linspace(0.0, HORIZON, N_SAMPLES_VALIDATION)
        out[f"v{k + 1}"] = (initial, inputs, simulate_monod(initial, inputs["F"], inputs["Sf"], t),
                            "validation")
    return out


def experiments(n_train: int, n_validation: int = N_VALIDATION, seed: int = SEED) -> list:
    """The first ``n_train`` training and ``n_validation`` validation batches as
    :class:`~idaes_hybrid.training.experiment.Experiment` objects (in memory)."""
    from idaes_hybrid.training.experiment import Experiment, Role

    if not 1 <= n_train <= N_TRAIN_MAX:
        raise ValueError(f"n_train={n_train} must be between 1 and {N_TRAIN_MAX}")
    exps = []
    for name, (initial, inputs, frame, role) in batches(n_train, n_validation, seed).items():
        exps.append(Experiment(name=name, initial=initial, inputs=inputs, horizon=HORIZON,
                               measurements=frame, role=Role(role),
                               noise_sd=dict(NOISE_SD) if role == "train" else None))
    return exps


def _toml_table(d: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k} = {v:.6g}" for k, v in d.items()) + "}"


HEADER = """\
# Fed-batch bioreactor, {n} synthetic batches (varied initial state, feed rate and
# feed concentration) + {v} noise-free validation batches, trained by the
# decomposition: an outer L-BFGS over the network weights, one inner NLP per batch
# on local Dask workers. Written by flowsheets/bioreactor/many_batches.py.
model = "fed_batch_bioreactor"
[physics]
Yxs = 0.5
Ypx = 0.2
[network]
inputs = ["X", "S", "P", "V"]
hidden = [20, 20]
activation = "softplus"
seed = 0
[discretization]
nfe = 20
ncp = 3
[training]
method = "decomposition"
regularization = 2.5  # prior precision alpha (the former 1e-2 per mean residual at 4 batches, 496 observations)
smoother_penalty = 10.0
[decomposition]
optimizer = "lbfgs"
n_workers = 2
max_epochs = 150
# checkpoint_dir = "checkpoint"   # write a checkpoint every epoch; a stopped run resumes from it
[solver]
tol = 1e-6
max_iter = 1000
[reference]
mu_max = 0.2
Ks = 1.0
"""


def generate(directory: Path = DIR, n_train: int = 32) -> Path:
    """Write every batch as CSV and a run configuration using ``n_train`` of them."""
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    lines = [HEADER.format(n=n_train, v=N_VALIDATION)]
    for name, (initial, inputs, frame, role) in batches(N_TRAIN_MAX, N_VALIDATION).items():
        frame.to_csv(data / f"{name}.csv", float_format="%.8g", lineterminator="\n")
        if role == "train" and int(name[1:]) > n_train:
            continue
        lines.append("[[experiments]]")
        lines.append(f'name = "{name}"\ndata = "data/{name}.csv"')
        lines.append(f"initial = {_toml_table(initial)}\ninputs = {_toml_table(inputs)}")
        lines.append(f'horizon = {HORIZON}\nrole = "{role}"')
        if role == "train":
            lines.append(f"noise_sd = {_toml_table(NOISE_SD)}")
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    print(generate())
