"""Write data/*.csv: the true flowsheet (IDAES's Arrhenius saponification) simulated on each
experiment of config.toml; EA and T sampled on ragged grids with noise (0.02 mol/m^3, 0.1 K),
the validation batch noise-free.

    python benchmarks/cases/mixer_cstr/gen.py [--seed N] [--out DIR]
"""
import argparse, sys, tomllib
from pathlib import Path
import numpy as np, pandas as pd
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import model
from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

NOISE = {"EA": 0.02, "T": 0.1}


def write_data(out: Path, seed: int = 5) -> None:
    cfg = tomllib.loads((HERE / "config.toml").read_text())
    rng = np.random.default_rng(seed)
    plant = HybridFlowsheet(model.build_true, [], cfg["flowsheet"]["variables"])
    out.mkdir(parents=True, exist_ok=True)
    for t in cfg["experiments"]:
        inputs = {k: parse_input(v, k, HERE) for k, v in t["inputs"].items()}
        exp = FlowsheetExperiment(t["name"], t["horizon"], pd.DataFrame(), inputs=inputs)
        traj = simulate_flowsheet(plant, exp, None, nfe=90, ncp=3, outputs=["EA", "T"])
        train = t.get("role", "train") == "train"
        cols = {}
        for var, n in (("EA", 45), ("T", 30)):
            times = (np.sort(rng.uniform(2, t["horizon"], n)) if train
                     else np.linspace(10.0, t["horizon"], 30))
            vals = np.interp(times, traj["time"], traj[var])
            if train:
                vals = vals + rng.normal(0, NOISE[var], times.size)
            cols[var] = pd.Series(vals, index=np.round(times, 3))
        f = pd.DataFrame(cols).sort_index(); f.index.name = "time"
        f.to_csv(out / f"{t['name']}.csv", float_format="%.6g")
        print(t["name"], "T", round(f["T"].min(), 2), round(f["T"].max(), 2), "EA", round(f["EA"].min(), 3), round(f["EA"].max(), 3))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    write_data(args.out, args.seed)
