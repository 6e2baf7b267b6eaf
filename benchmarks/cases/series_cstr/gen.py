"""Write data/*.csv: the true series-reaction CSTR (IDAES generic reaction package, A -> B -> C,
first order, Arrhenius) simulated on each experiment of config.toml; reactor cA, cB and T
sampled on one ragged grid per batch with noise (5, 5 mol/m^3, 0.1 K) and a few missing cells.

    python benchmarks/cases/series_cstr/gen.py [--seed N] [--out DIR]
"""
import sys
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import model
import synthetic

NOISE = {"cA": 5.0, "cB": 5.0, "T": 0.1}


def write_data(out: Path, seed: int = 11) -> None:
    synthetic.write_shared_grid(HERE, model.build_true, NOISE, out, seed)


if __name__ == "__main__":
    synthetic.main(__doc__.splitlines()[0], write_data, HERE, 11)
