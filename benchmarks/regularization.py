"""The default prior precision against leave-one-experiment-out cross-validation (issue 13).

``python -m benchmarks.regularization [--sets monod:1,haldane:1,contois:2]``

On fed-batch data sets of :mod:`benchmarks.noise_data` (3 noisy training batches with
ragged sampling and missing cells, a noise-free validation batch; no ``noise_sd`` in the
config, so the noise is estimated), trains each set twice with ``idaes-hybrid train``:
with the default ``regularization`` (prior precision 1) and with ``regularization =
"cv"``. Writes ``benchmarks/results/regularization.{json,md}``: validation RMSE, the
chosen ``alpha`` with its cross-validation path, and the whole-process wall time.
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
from benchmarks.formulations import git_revision
from benchmarks.noise import SCORED, train_run
from benchmarks.peers import machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: (kinetics, seed) of the data sets: one per kinetic law.
SETS: tuple[tuple[str, int], ...] = (("monod", 1), ("haldane", 1), ("contois", 2))
#: The two ways of setting the prior: ``[training]`` text added to the config.
VARIANTS = {"default (alpha = 1)": "", "cross-validation": '[training]\nregularization = "cv"\n\n'}
TIMEOUT_S = 1500.0


def run_set(kinetics: str, seed: int, work: Path, timeout: float = TIMEOUT_S) -> dict:
    """Generate one data set (config without ``noise_sd``) and train it both ways."""
    folder = work / f"{kinetics}_s{seed}"
    text = noise_data.write_data_set(folder, kinetics, seed)["without"].read_text()
    out: dict = {"kinetics": kinetics, "seed": seed, "runs": {}}
    for i, (label, training) in enumerate(VARIANTS.items()):
        config = folder / f"variant{i}.toml"
        config.write_text(text.replace("[[experiments]]", training + "[[experiments]]", 1))
        print(f"  {kinetics} seed {seed}: {label}", flush=True)
        res = train_run(config, folder / f"run{i}", timeout)
        metrics = folder / f"run{i}" / "metrics.json"
        res["regularization"] = json.loads(metrics.read_text()).get("regularization") if metrics.exists() else None
        out["runs"][label] = res
    return out


def _f(v, fmt: str = "{:.4f}") -> str:
    return "–" if v is None else fmt.format(v)


def render(doc: dict) -> str:
    """Markdown report of a benchmark document."""
    mach = doc["machine"]
    lines = ["# Default prior precision vs cross-validation (issue 13)", "",
             f"Run {doc['date']} at revision `{doc['revision']}` on {mach['cpu']} ({mach['cores']} "
             f"cores, {mach['memory_gib']} GiB, shared with other work), Python {mach['python']}; runs "
             "one after the other.", "",
             "Data: `benchmarks/noise_data.py` (3 training batches, ragged sampling, 10% missing "
             "cells, noise estimated: no `noise_sd`), 4-20-20-1 softplus network, 20 x 3 Radau. Each "
             "set trained with the default `regularization` (prior precision alpha = 1) and with "
             "`regularization = \"cv\"` (leave-one-experiment-out cross-validation, line search "
             "from 1 on 1e-2 ... 1e3). Validation: a noise-free batch never used in training.", "",
             "| kinetics | seed | variant | alpha | CV path (alpha: held-out score) | "
             + " | ".join(f"val {v}" for v in SCORED) + " | wall s |",
             "|---|---|---|---|---|" + "---|" * len(SCORED) + "---|"]
    for s in doc["sets"]:
        for label, r in s["runs"].items():
            reg = r.get("regularization") or {}
            path = ", ".join(f"{p['alpha']:g}: {_f(p['score'], '{:.3g}')}" for p in reg.get("path", [])) or "–"
            val = r.get("validation_rmse") or {}
            lines.append(f"| {s['kinetics']} | {s['seed']} | {label} | {_f(reg.get('alpha'), '{:g}')} | "
                         f"{path} | " + " | ".join(_f(val.get(v)) for v in SCORED)
                         + f" | {_f(r['process'].get('wall_time_s'), '{:.0f}')} |")
    lines += ["", "The held-out score is the mean squared residual divided by the (estimated) noise "
              "sd of the held-out batch predicted from the other two: about 1 for a prediction "
              "within the noise.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the sets, write ``regularization.json`` and ``.md``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.regularization",
                                description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(f"{k}:{s}" for k, s in SETS),
                   help="comma-separated kinetics:seed")
    p.add_argument("--work", type=Path, help="keep data and run folders here")
    a = p.parse_args(argv)
    sets = [(k, int(s)) for k, s in (item.split(":") for item in a.sets.split(","))]
    tick = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_reg_") as tmp:
        work = a.work or Path(tmp)
        results = [run_set(k, s, work) for k, s in sets]
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "revision": git_revision(),
           "machine": machine(), "total_s": time.perf_counter() - tick, "sets": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "regularization.json").write_text(json.dumps(doc, indent=1, default=str))
    (RESULTS / "regularization.md").write_text(render(doc))
    print(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
