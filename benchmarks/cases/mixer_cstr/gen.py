"""Write data/*.csv: the true flowsheet (IDAES's Arrhenius saponification) simulated on each
experiment of config.toml; EA and T sampled on ragged grids with noise (0.02 mol/m^3, 0.1 K),
the validation batch noise-free.

    python benchmarks/cases/mixer_cstr/gen.py [--seed N] [--out DIR]
"""
import sys
from pathlib import Path
import numpy as np, pandas as pd
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import model
import synthetic
from synthetic import is_training, sampled, true_runs, write_table

NOISE = {"EA": 0.02, "T": 0.1}


def write_data(out: Path, seed: int = 5) -> None:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for t, traj in true_runs(HERE, model.build_true, list(NOISE), nfe=90):
        train = is_training(t)
        cols = {}
        for var, n in (("EA", 45), ("T", 30)):
            times = (np.sort(rng.uniform(2, t["horizon"], n)) if train
                     else np.linspace(10.0, t["horizon"], 30))
            cols[var] = pd.Series(sampled(traj, var, times, NOISE[var] if train else 0.0, rng),
                                  index=np.round(times, 3))
        f = write_table(out / f"{t['name']}.csv", cols)
        print(t["name"], *(f"{v} {f[v].min():.3f}-{f[v].max():.3f}" for v in NOISE))


if __name__ == "__main__":
    synthetic.main(__doc__.splitlines()[0], write_data, HERE, 5)
