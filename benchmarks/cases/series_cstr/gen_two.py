"""Write data_two/*.csv: two CSTRs in series with the true series kinetics (IDAES generic
reaction package) simulated on each experiment of config_two.toml; r2's outlet cA2, cB2
(sd 5 mol/m^3) and T2 (sd 0.1 K) sampled on one ragged grid per batch, a few cells missing.

    python benchmarks/cases/series_cstr/gen_two.py [--seed N] [--out DIR]
"""
import sys
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import model
import synthetic

NOISE = {"cA2": 5.0, "cB2": 5.0, "T2": 0.1}


def write_data(out: Path, seed: int = 12) -> None:
    synthetic.write_shared_grid(HERE, model.build_true_two, NOISE, out, seed, config="config_two.toml")


if __name__ == "__main__":
    synthetic.main(__doc__.splitlines()[0], write_data, HERE, 12, data="data_two")
