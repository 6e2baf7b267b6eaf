"""Write data/*.csv: the true recycle flowsheet (IDAES's Arrhenius saponification) simulated on
each experiment of config.toml; NaOH and T sampled on one ragged grid per batch with noise
(0.02 mol/m^3, 0.1 K) and a few missing cells.

    python benchmarks/cases/recycle_cstr/gen.py [--seed N] [--out DIR]
"""
import argparse, sys
from pathlib import Path
import numpy as np, pandas as pd
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import model
from synthetic import sampled, true_runs, write_table, write_truth

NOISE = {"NaOH": 0.02, "T": 0.1}


def write_data(out: Path, seed: int = 3, nfe: int = 120) -> None:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for t, traj in true_runs(HERE, model.build_true, list(NOISE), nfe):
        write_truth(out / f"{t['name']}_true.csv.txt", traj, list(NOISE))
        times = np.round(np.sort(rng.uniform(1.0, t["horizon"], 50)), 3)
        cols = {}
        for var in NOISE:
            vals = sampled(traj, var, times, NOISE[var], rng)
            vals[rng.choice(times.size, 4, replace=False)] = np.nan   # missing cells
            cols[var] = pd.Series(vals, index=times)
        f = write_table(out / f"{t['name']}.csv", cols)
        print(t["name"], *(f"{v} {np.nanmin(f[v]):.3f}-{np.nanmax(f[v]):.3f}" for v in NOISE), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    write_data(args.out, args.seed)
