"""Closed loop on the flowsheet path: issue 16's Haldane feed case through ``idaes-hybrid loop``.

The case of :mod:`benchmarks.closed_loop` (three substrate-inhibited batches with Sf 5-10 g/L,
a batch with a concentrated feed Sf = 30 g/L to optimize: 10 feed segments, V(tf) <= 2.5 L,
40 h), written as a flowsheet config: the bioreactor's build function with a network term on
``mu``, the feed optimization of ``flowsheets/bioreactor/optimize.py``, and a ``true_build``
with the true Haldane kinetics as the loop's plant (sampled at 41 times with the training
data's noise). Each round's profile is run on the true flowsheet; its product over the true
optimum's is reported.

Run: ``python -m benchmarks.closed_loop_flowsheet [--seeds 1] [--rounds 5]``; results in
``benchmarks/results/closed_loop_flowsheet.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from benchmarks import noise_data

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CASE = ROOT / "flowsheets" / "bioreactor"
#: The true Haldane law of the data (benchmarks.noise_data / benchmarks.trust_region).
MU_MAX, KS, KI_INV = 0.3, 1.0, 0.2
TARGET = 0.99

TRUTH = f'''"""The true plant: the bioreactor with Haldane growth."""
from idaes_hybrid.cases.fed_batch import FedBatchReactor
from idaes_hybrid.model.contract import KineticsMode


def build_true(fs):
    fs.unit = FedBatchReactor(dynamic=True, kinetics=KineticsMode.REFERENCE)
    fs.unit.set_physics(Yxs={noise_data.YXS}, Ypx={noise_data.YPX}, mu_max={MU_MAX}, Ks={KS},
                        Ki_inv={KI_INV})
'''


def config_text(seed: int, rounds: int) -> str:
    """The flowsheet config of one data set (the unit config's experiments, true noise given)."""
    sd = "{" + ", ".join(f"{k} = {v}" for k, v in noise_data.NOISE_SD.items()) + "}"
    unit = noise_data.config_text(True)
    experiments = unit[unit.index("[[experiments]]"):]
    names = ("X", "P", "S", "V", "F", "Sf")
    return "\n".join([
        "[flowsheet]", f'build = "{CASE}/hybrid_flowsheet.py:build"', 'time_units = "h"',
        "[[flowsheet.terms]]", 'kind = "network"', 'name = "growth"',
        'inputs = ["fs.unit.X[*]", "fs.unit.S[*]", "fs.unit.P[*]", "fs.unit.V[*]"]',
        'outputs = ["fs.unit.mu[*]"]', "[flowsheet.variables]",
        *[f'{n} = "fs.unit.{n}[*]"' for n in names],
        "[network]", "hidden = [20, 20]", 'activation = "softplus"', "seed = 0",
        "[discretization]", "nfe = 20", "ncp = 3", "[solver]", "tol = 1e-6", "max_iter = 1000",
        "[optimization]", "initial = {X = 0.1, P = 0.0, S = 5.0, V = 1.0}", "inputs = {Sf = 30.0}",
        "horizon = 40.0", f'objective = "{CASE}/optimize.py:objective"',
        f'constraints = "{CASE}/optimize.py:constraints"', "segments = 10", "nfe = 20",
        'true_build = "truth.py:build_true"',
        "[[optimization.controls]]", 'name = "F"', "lower = 0.0", "upper = 0.2", "start = 0.0375",
        "[loop]", 'plant = "reference"', f"rounds = {rounds}", f"noise_sd = {sd}", "samples = 41",
        f"seed = {seed}", "", experiments])


def run_seed(seed: int, work: Path, rounds: int) -> dict:
    """Generate one data set, train on it, run the loop; the rounds as shares of the optimum."""
    from idaes_hybrid.cli.app import main

    folder = work / f"haldane_{seed}"
    noise_data.write_data_set(folder, "haldane", seed)
    (folder / "truth.py").write_text(TRUTH)
    cfg = folder / "flowsheet.toml"
    cfg.write_text(config_text(seed, rounds))
    tick = time.perf_counter()
    if main(["train", str(cfg), "--out", str(folder / "run"), "--quiet"]) != 0:
        return {"seed": seed, "error": "training failed"}
    if main(["loop", str(folder / "run" / "model"), str(cfg), "--out", str(folder / "loop"),
             "--quiet"]) != 0:
        return {"seed": seed, "error": "loop failed"}
    doc = json.loads((folder / "loop" / "loop.json").read_text())
    optimum = doc["true_optimum"]
    rows = [{"round": r["round"], "predicted": -r["predicted"], "true": -r["true"],
             "share": r["true"] / optimum, "feed": r["profiles"]["F"]} for r in doc["rounds"]]
    return {"seed": seed, "true_optimum": -optimum, "rounds": rows,
            "reached_round": next((r["round"] for r in rows if r["share"] >= TARGET), None),
            "wall_time_s": time.perf_counter() - tick}


def markdown(results: list[dict]) -> str:
    """The results, one table per seed."""
    lines = ["# Closed loop on the flowsheet path (issue 16's Haldane case)", "",
             "`python -m benchmarks.closed_loop_flowsheet`: the case of `closed_loop.md` as a "
             "flowsheet config (`idaes-hybrid train`, then `idaes-hybrid loop` with the true "
             "Haldane flowsheet as the plant, measured at 41 times with the training data's "
             "noise). Round 1 runs the nominal optimum; the product P(tf) V(tf) of each round's "
             "feed on the true flowsheet over the true optimum's.", ""]
    for res in results:
        if "error" in res:
            lines += [f"## seed {res['seed']}: {res['error']}", ""]
            continue
        lines += [f"## seed {res['seed']} (true optimum {res['true_optimum']:.3f} g; "
                  f"{res['wall_time_s']:.0f} s train + loop)", "",
                  f"99% reached: round {res['reached_round'] or '-'}", "",
                  "| round | predicted P V (g) | on the true flowsheet (g) | share of the true optimum |",
                  "|---|---|---|---|"]
        lines += [f"| {r['round']} | {r['predicted']:.3f} | {r['true']:.3f} | {100 * r['share']:.1f}% |"
                  for r in res["rounds"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.closed_loop_flowsheet",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[1])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="closed_loop_flowsheet_") as tmp:
        results = [run_seed(seed, Path(tmp), args.rounds) for seed in args.seeds]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "closed_loop_flowsheet.json").write_text(json.dumps(results, indent=2))
    (args.out / "closed_loop_flowsheet.md").write_text(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
