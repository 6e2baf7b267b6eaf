"""Write data/*.csv: the true jacket flowsheet (by default UA = 400 Fc^0.6 (1 + 0.02 (T - 300))
W/K) simulated on each experiment of config.toml, NaOH and T sampled on ragged grids with noise
(0.01 mol/m^3, 0.05 K); the validation batch noise-free.

    python benchmarks/cases/jacket_ua/gen.py                    # the shipped data
    python benchmarks/cases/jacket_ua/gen.py --law 300 0.8 0.01 --seed 11 --out /tmp/j/data
"""
import argparse, sys
from pathlib import Path
import numpy as np, pandas as pd
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import model
from synthetic import is_training, sampled, true_runs, write_table

NOISE = {"NaOH": 0.01, "T": 0.05}


def write_data(out: Path, law: tuple = model.LAW, seed: int = 3) -> None:
    """Simulate the true flowsheet with ``law`` = (a, b, c) and write one CSV per experiment."""
    model.LAW = tuple(law)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for t, traj in true_runs(HERE, model.build_true, list(NOISE), nfe=60):
        train = is_training(t)
        cols = {}
        for var, step in (("NaOH", 25.0), ("T", 40.0)):
            times = (np.sort(rng.uniform(1, t["horizon"], int(t["horizon"] / step))) if train
                     else np.arange(40.0, t["horizon"] + 1e-9, 40.0))
            cols[var] = pd.Series(sampled(traj, var, times, NOISE[var] if train else 0.0, rng),
                                  index=np.round(times, 3))
        write_table(out / f"{t['name']}.csv", cols)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--law", type=float, nargs=3, default=model.LAW, metavar=("A", "B", "C"),
                        help="UA = A Fc^B (1 + C (T - 300)) W/K")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    write_data(args.out, tuple(args.law), args.seed)
