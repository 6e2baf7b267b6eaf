"""Write data/*.csv: the true generic-property CSTR (IDAES generic reaction package, power law
with Arrhenius k) simulated on each experiment of config.toml; reactor cA and T sampled on one
ragged grid per batch with noise (5 mol/m^3, 0.1 K) and a few missing cells.

    python benchmarks/cases/generic_cstr/gen.py [--seed N] [--out DIR]
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

NOISE = {"cA": 5.0, "T": 0.1}


def write_data(out: Path, seed: int = 5, nfe: int = 120) -> None:
    cfg = tomllib.loads((HERE / "config.toml").read_text())
    rng = np.random.default_rng(seed)
    plant = HybridFlowsheet(model.build_true, [], cfg["flowsheet"]["variables"])
    out.mkdir(parents=True, exist_ok=True)
    for t in cfg["experiments"]:
        inputs = {k: parse_input(v, k, HERE) for k, v in t["inputs"].items()}
        exp = FlowsheetExperiment(t["name"], t["horizon"], pd.DataFrame(), inputs=inputs)
        traj = simulate_flowsheet(plant, exp, None, nfe=nfe, ncp=3, outputs=["cA", "T"])
        pd.DataFrame({"time": traj.time, **{k: traj.series[k] for k in ("cA", "T")}}).to_csv(
            out / f"{t['name']}_true.csv.txt", index=False, float_format="%.8g")
        times = np.round(np.sort(rng.uniform(1.0, t["horizon"], 50)), 3)
        cols = {}
        for var in ("cA", "T"):
            vals = np.interp(times, traj.time, traj.series[var]) + rng.normal(0, NOISE[var], times.size)
            vals[rng.choice(times.size, 4, replace=False)] = np.nan   # missing cells
            cols[var] = vals
        f = pd.DataFrame(cols, index=pd.Index(times, name="time"))
        f.to_csv(out / f"{t['name']}.csv", float_format="%.6g")
        print(t["name"], "T", round(np.nanmin(f["T"]), 2), round(np.nanmax(f["T"]), 2),
              "cA", round(np.nanmin(f["cA"]), 3), round(np.nanmax(f["cA"]), 3), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    write_data(args.out, args.seed)
