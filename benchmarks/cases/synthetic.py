"""Synthetic data of the benchmark cases: every ``[[experiments]]`` table of a case's
``config.toml`` simulated on its true flowsheet, then sampled with Gaussian noise.

Used by each case's ``gen.py`` (run as a script: ``sys.path`` gets ``benchmarks/cases``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet


def true_runs(case: Path, build_true: Callable, outputs: Sequence[str], nfe: int,
              ncp: int = 3, config: str = "config.toml") -> Iterator[tuple[dict, object]]:
    """Each experiment table of ``case/config`` with its simulation on the flowsheet
    ``build_true`` (``.time`` and ``.series[name]`` of ``outputs``)."""
    cfg = tomllib.loads((case / config).read_text())
    plant = HybridFlowsheet(build_true, [], cfg["flowsheet"]["variables"])
    for table in cfg["experiments"]:
        inputs = {k: parse_input(v, k, case) for k, v in table["inputs"].items()}
        exp = FlowsheetExperiment(table["name"], table["horizon"], pd.DataFrame(), inputs=inputs)
        yield table, simulate_flowsheet(plant, exp, None, nfe=nfe, ncp=ncp, outputs=list(outputs))


def is_training(table: Mapping) -> bool:
    """Whether an experiment table is a training experiment (the default role)."""
    return table.get("role", "train") == "train"


def sampled(traj, name: str, times: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """``name`` interpolated at ``times``, plus N(0, sd) noise unless ``sd`` is 0 (then ``rng``
    is not drawn from)."""
    values = np.interp(times, traj.time, traj.series[name])
    return values + rng.normal(0, sd, times.size) if sd else values


def write_table(path: Path, columns: Mapping[str, pd.Series]) -> pd.DataFrame:
    """The columns (each indexed by its sample times) as one CSV, rows sorted by ``time``."""
    frame = pd.DataFrame(columns).sort_index()
    frame.index.name = "time"
    frame.to_csv(path, float_format="%.6g")
    return frame


def write_truth(path: Path, traj, names: Sequence[str]) -> None:
    """The noise-free trajectories of ``names`` on the simulation grid."""
    pd.DataFrame({"time": traj.time, **{k: traj.series[k] for k in names}}).to_csv(
        path, index=False, float_format="%.8g")


def write_shared_grid(case: Path, build_true: Callable, noise: Mapping[str, float], out: Path,
                      seed: int, nfe: int = 120, samples: int = 50, missing: int = 4,
                      config: str = "config.toml") -> None:
    """Every experiment of ``case`` on one ragged grid of ``samples`` times in [1, horizon],
    each variable with its ``noise`` sd and ``missing`` cells left empty; the noise-free
    trajectories beside them (``<name>_true.csv.txt``)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for t, traj in true_runs(case, build_true, list(noise), nfe, config=config):
        write_truth(out / f"{t['name']}_true.csv.txt", traj, list(noise))
        times = np.round(np.sort(rng.uniform(1.0, t["horizon"], samples)), 3)
        cols = {}
        for var, sd in noise.items():
            vals = sampled(traj, var, times, sd, rng)
            vals[rng.choice(times.size, missing, replace=False)] = np.nan
            cols[var] = pd.Series(vals, index=times)
        f = write_table(out / f"{t['name']}.csv", cols)
        print(t["name"], *(f"{v} {np.nanmin(f[v]):.3f}-{np.nanmax(f[v]):.3f}" for v in noise), flush=True)


def main(description: str, write: Callable[[Path, int], None], case: Path, seed: int,
         data: str = "data") -> None:
    """The command line of a ``gen.py``: ``[--seed N] [--out DIR]`` (default ``case/data``)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--out", type=Path, default=case / data)
    args = parser.parse_args()
    write(args.out, args.seed)
