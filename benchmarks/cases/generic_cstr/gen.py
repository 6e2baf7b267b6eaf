"""Write data/*.csv: the true generic-property CSTR (IDAES generic reaction package, power law
with Arrhenius k) simulated on each experiment of config.toml; reactor cA and T sampled on one
ragged grid per batch with noise (5 mol/m^3, 0.1 K) and a few missing cells.

    python benchmarks/cases/generic_cstr/gen.py [--seed N] [--out DIR]
"""
import sys
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import model
import synthetic

NOISE = {"cA": 5.0, "T": 0.1}


def write_data(out: Path, seed: int = 5) -> None:
    synthetic.write_shared_grid(HERE, model.build_true, NOISE, out, seed)


if __name__ == "__main__":
    synthetic.main(__doc__.splitlines()[0], write_data, HERE, 5)
