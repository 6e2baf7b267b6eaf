"""Exact vs block-diagonal network Hessian on small data sets, paired fit by fit.

Whether block-diagonal steps end where exact ones do on three bioreactor batches (why
``[training] hessian = "auto"`` kept the exact Hessian there until 2026-12-05): every data set of
:mod:`benchmarks.noise` (Monod, Haldane and Contois kinetics, seeds 1-3, 3 ragged noisy
batches, 10 % missing cells) is trained with and without its true ``noise_sd`` and with
network seeds 0 and 1, once with each Hessian; the pairs differ only in the Hessian.
Table: per pair the objective and the validation RMSE of X (P and S follow it through
the yields); summary: the geometric mean of the validation ratio block / exact and how
many pairs differ by more than 1.25x either way.

Run: ``python -m benchmarks.hessian_paired [--work DIR]`` (about 20 s per fit, 72 fits;
a run resumes from ``DIR/results.jsonl``); results in
``benchmarks/results/hessian_paired.md`` and ``.json``. Other laws and seeds:
``--kinetics tessier,moser --seeds 4,5,6 --name hessian_paired_fresh``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from benchmarks import noise_data

RESULTS = Path(__file__).resolve().parent / "results"
KINETICS = ("monod", "haldane", "contois")
SEEDS = (1, 2, 3)
NETWORK_SEEDS = (0, 1)
MODES = ("exact", "block-diagonal")
#: Validation ratios beyond this factor count as a different fit.
FACTOR = 1.25


def variant(config: str, network_seed: int, hessian: str) -> str:
    """``config`` with ``[network] seed`` and ``[training] hessian`` set."""
    text = re.sub(r"^seed = \d+", f"seed = {network_seed}", config, count=1, flags=re.M)
    return text.replace("[[experiments]]", f'[training]\nhessian = "{hessian}"\n\n[[experiments]]', 1)


def train(config: Path, out: Path) -> dict:
    """One ``idaes-hybrid train`` in a subprocess: status, objective, train-stage numbers."""
    proc = subprocess.run([sys.executable, "-m", "idaes_hybrid.cli", "train", str(config), "--out", str(out),
                           "--quiet"], capture_output=True, text=True, timeout=900)
    try:
        m = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return {"status": "failed", "error": proc.stderr[-400:]}
    stage = m["stages"]["train"]
    return {"status": m["status"], "objective": m["objective"], "val": m["validation"]["rmse"],
            "iterations": stage["iterations"], "train_s": stage["wall_time_s"], "used": stage.get("hessian")}


def run(work: Path, kinetics: Sequence[str] = KINETICS, seeds: Sequence[int] = SEEDS) -> list[dict]:
    """Every fit (resuming from ``work/results.jsonl``); the records in file order."""
    log = work / "results.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["kin"], r["dseed"], r["noise"], r["nseed"], r["hess"]) for r in rows}
    for kin, dseed in itertools.product(kinetics, seeds):
        folder = work / f"{kin}_s{dseed}"
        configs = noise_data.write_data_set(folder, kin, dseed)
        for noise, nseed, hess in itertools.product(("with", "without"), NETWORK_SEEDS, MODES):
            if (kin, dseed, noise, nseed, hess) in done:
                continue
            cfg = folder / f"cfg_{noise}_{nseed}_{hess}.toml"
            cfg.write_text(variant(configs[noise].read_text(), nseed, hess))
            print(f"  {kin} seed {dseed}, {noise} noise_sd, network seed {nseed}: {hess}", flush=True)
            res = train(cfg, folder / f"run_{noise}_{nseed}_{hess}")
            row = {"kin": kin, "dseed": dseed, "noise": noise, "nseed": nseed, "hess": hess, **res}
            if "val" in row:
                row["t"], row["it"], row["obj"] = row["train_s"], row["iterations"], row["objective"]
            rows.append(row)
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
    return rows


def pairs(rows: Sequence[dict]) -> list[tuple[dict, dict]]:
    """``(exact, block)`` records of the same fit, both with a validation RMSE."""
    by: dict[tuple, dict] = {}
    for r in rows:
        by.setdefault((r["kin"], r["dseed"], r["noise"], r["nseed"]), {})[r["hess"]] = r
    return [(v["exact"], v["block-diagonal"]) for v in by.values()
            if "val" in v.get("exact", {}) and "val" in v.get("block-diagonal", {})]


def summary(rows: Sequence[dict]) -> dict:
    """Geometric-mean validation ratio block / exact (X), pairs beyond :data:`FACTOR` either
    way, pairs whose objectives differ (relative 1e-4) and the median train s/iteration."""
    ps = pairs(rows)
    logs = [math.log(b["val"]["X"] / e["val"]["X"]) for e, b in ps]
    lower = sum(b["obj"] < e["obj"] * (1 - 1e-4) for e, b in ps)
    higher = sum(b["obj"] > e["obj"] * (1 + 1e-4) for e, b in ps)
    return {"pairs": len(ps), "geo_mean_ratio": math.exp(statistics.fmean(logs)) if logs else None,
            "worse": sum(x > math.log(FACTOR) for x in logs), "better": sum(x < -math.log(FACTOR) for x in logs),
            "block_objective_lower": lower, "block_objective_higher": higher,
            "s_per_it": {h: statistics.median(r["t"] / r["it"] for r in rows if r["hess"] == h and r.get("it"))
                         for h in MODES if any(r["hess"] == h and r.get("it") for r in rows)}}


def render(rows: Sequence[dict], note: str = "") -> str:
    """Markdown: the summary and one line per pair."""
    s = summary(rows)
    geo = "-" if s["geo_mean_ratio"] is None else f"{s['geo_mean_ratio']:.3f}"
    lines = ["# Exact vs block-diagonal Hessian at three batches, paired fits", "", note, "",
             f"**{s['pairs']} pairs: validation RMSE ratio block / exact, geometric mean {geo}; "
             f"block-diagonal worse than {FACTOR}x in {s['worse']}, better than 1/{FACTOR}x in {s['better']}, "
             f"within in {s['pairs'] - s['worse'] - s['better']}.** Objectives: block-diagonal lower in "
             f"{s['block_objective_lower']}, higher in {s['block_objective_higher']} pairs (relative 1e-4). "
             "Train s/iteration (median): "
             + ", ".join(f"{h} {v:.3f}" for h, v in s["s_per_it"].items()) + ".", "",
             "| kinetics | seed | noise_sd | network seed | exact: it, objective, val X | "
             "block-diagonal: it, objective, val X | ratio |", "|---|---|---|---|---|---|---|"]
    for e, b in pairs(rows):
        cells = [f"{r['it']}, {r['obj']:.5g}, {r['val']['X']:.4g}" for r in (e, b)]
        lines.append(f"| {e['kin']} | {e['dseed']} | {e['noise']} | {e['nseed']} | {cells[0]} | {cells[1]} | "
                     f"{b['val']['X'] / e['val']['X']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hessian_paired", description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, help="data, runs and results.jsonl (resumed); default: a temporary folder")
    p.add_argument("--note", default="", help="a line on the run (machine, load) for the table's head")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--kinetics", default=",".join(KINETICS),
                   help=f"comma-separated laws of benchmarks.noise_data (default {','.join(KINETICS)})")
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma-separated data seeds")
    p.add_argument("--name", default="hessian_paired", help="results file stem")
    args = p.parse_args(argv)
    kinetics = args.kinetics.split(",")
    unknown = sorted(set(kinetics) - set(noise_data.KINETICS))
    if unknown:
        p.error(f"--kinetics: unknown {unknown}; known: {sorted(noise_data.KINETICS)}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(args.work or Path(tmp), kinetics, [int(x) for x in args.seeds.split(",")])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"summary": summary(rows), "rows": rows}, indent=1))
    (args.out / f"{args.name}.md").write_text(render(rows, args.note))
    print(render(rows, args.note))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
