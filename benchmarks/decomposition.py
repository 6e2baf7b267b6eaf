"""Benchmark: decomposition vs simultaneous training as the number of batches grows.

``python -m benchmarks.decomposition [--batches 4,16,32,64] [--simultaneous-max 32]
[--workers-at 16] [--max-epochs 100] [--quick]``

For each number of training batches ``n`` (the first ``n`` of
``flowsheets/bioreactor/many_batches.py``, plus its 4 noise-free validation
batches), both methods run the whole pipeline (smoother, pre-training, fit,
validation) in a fresh process with the bioreactor network (4-20-20-1 softplus,
20 x 3 Radau):

* ``simultaneous``: one NLP over all batches (exact Hessian, batched network);
* ``decomposition``: L-BFGS over the weights with penalty continuation, one inner
  NLP per batch on a local Dask cluster of 2 workers (and of 1 worker at the
  ``--workers-at`` size). The simultaneous method runs up to ``--simultaneous-max``
  batches (its time grows ~n^1.3, see ``growth.md``); each case has a time limit.

The target is the simultaneous method's validation loss on the same data (mean
squared validation error in noise standard deviations, the same number as its
pooled RMSE per state); the decomposition's *time to target* is the pre-fit
stages plus the elapsed time of its first epoch whose validation loss is within
``--tolerance`` (default 5%) of it. Writes ``benchmarks/results/decomposition.md``
and ``decomposition.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from benchmarks.peers import RESULTS, machine, run_child

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "flowsheets" / "bioreactor" / "config.toml"
#: Noise standard deviations: the fit's scales of X, P, S, V.
SCALES = {"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1}


def validation_loss(rmse: dict[str, float]) -> float:
    """Mean squared validation error in noise sd (equal sample counts per state)."""
    return float(sum((rmse[k] / SCALES[k]) ** 2 for k in rmse) / len(rmse))


def run_case(n: int, method: str, workers: int, max_epochs: int) -> dict:
    """One pipeline in this process (the child side)."""
    import logging
    from dataclasses import replace

    from flowsheets.bioreactor.many_batches import experiments
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.decomposition.settings import DecompositionSettings, TrainingMethod
    from idaes_hybrid.training.unit_train import train

    logging.getLogger("idaes.idaes_hybrid").setLevel(logging.WARNING)
    cfg = load_run_config(CONFIG)
    exps = experiments(n)
    settings = cfg.training
    if method == "decomposition":
        settings = replace(settings, method=TrainingMethod.DECOMPOSITION,
                           decomposition=DecompositionSettings(n_workers=workers, max_epochs=max_epochs))
    tick = time.perf_counter()
    result = train(cfg.definition, exps, cfg.network_spec(), cfg.discretization, cfg.physics,
                   cfg.network_inputs, settings)
    total = time.perf_counter() - tick
    stages = {k: v.wall_time_s for k, v in result.stages.items()}
    pre = sum(stages.get(k, 0.0) for k in ("build", "smoother", "pretrain"))
    history = [{"elapsed_s": pre + h["elapsed_s"], "validation_loss": h["validation_loss"]}
               for h in result.history if h.get("validation_loss") is not None]
    return {"n": n, "method": method, "workers": workers, "status": result.status, "total_s": total,
            "stages": stages, "iterations": result.iterations, "validation_rmse": result.validation_rmse,
            "validation_loss": validation_loss(result.validation_rmse), "history": history}


def time_to_target(case: dict, target: float, tolerance: float) -> float | None:
    """First time the case's validation loss is within ``tolerance`` of ``target``."""
    if case["method"] == "simultaneous":
        return case["total_s"] if case["validation_loss"] <= target * (1 + tolerance) else None
    for h in case["history"]:
        if h["validation_loss"] <= target * (1 + tolerance):
            return h["elapsed_s"]
    return None


def _child(n: int, method: str, workers: int, max_epochs: int, work: Path, timeout: float) -> dict:
    out = work / f"{method}-{n}-{workers}.json"
    cmd = [sys.executable, "-m", "benchmarks.decomposition", "--child", str(n), method, str(workers),
           str(max_epochs)]
    info = run_child(cmd, out.with_suffix(".log"), timeout=timeout)
    text = out.with_suffix(".log").read_text().strip().splitlines()
    try:
        case = json.loads(text[-1])
    except (IndexError, json.JSONDecodeError):
        err = out.with_suffix(".err").read_text()[-2000:]
        why = f"not finished in {timeout:.0f} s" if info["wall_time_s"] >= timeout else f"failed: {err[-300:]}"
        return {"n": n, "method": method, "workers": workers, "status": why,
                "peak_rss_mb": info.get("peak_rss_mb"), "process_s": info["wall_time_s"]}
    case["peak_rss_mb"] = info.get("peak_rss_mb")
    case["process_s"] = info.get("wall_time_s")
    return case


def _f(v, fmt="{:.3g}") -> str:
    return "-" if v is None else fmt.format(v)


def _status(text) -> str:
    """One table-safe line of a status (a failure's last line)."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return (lines[-1] if lines else "-").replace("|", "/")[:120]


def render(res: dict) -> str:
    m = res["machine"]
    lines = [
        "# Decomposition vs simultaneous training (bioreactor, many batches)", "",
        f"Generated by `python -m benchmarks.decomposition` on {res['date']}.", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}; Python {m['python']}. "
        "Runs one after the other, each in a fresh process (shared machine: timings are indicative).", "",
        "Data: the first n training batches of `flowsheets/bioreactor/many_batches.py` (noise sd X, P 0.05, "
        "S 0.5, V 0.1; varied X0, S0, V0, F, Sf) and its 4 noise-free validation batches. Network "
        "4-20-20-1 softplus, 20 x 3 Radau, L2 1e-2. Decomposition: L-BFGS, quadratic slacks with penalty "
        f"continuation 10 -> 100 -> 1000, at most {res['max_epochs']} epochs, local Dask cluster. Target: the "
        f"simultaneous method's validation loss on the same data, within {res['tolerance']:.0%}.", "",
        "## Time to the simultaneous method's validation loss", "",
        "| batches | method | workers | time to target (s) | total (s) | epochs / iterations | "
        "val loss | val RMSE X | val RMSE S | peak RSS (MB) | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in res["cases"]:
        r = c.get("validation_rmse") or {}
        lines.append(f"| {c['n']} | {c['method']} | {c['workers'] or '-'} | {_f(c.get('time_to_target_s'), '{:.1f}')} | "
                     f"{_f(c.get('total_s'), '{:.1f}')} | {_f(c.get('iterations'), '{}')} | "
                     f"{_f(c.get('validation_loss'))} | {_f(r.get('X'))} | {_f(r.get('S'))} | "
                     f"{_f(c.get('peak_rss_mb'), '{:.0f}')} | {_status(c.get('status'))} |")
    lines += ["", "Time to target: simultaneous = its whole pipeline (if it reaches its own target, always); "
              "decomposition = build + smoother + pretrain + the elapsed time of its first epoch within "
              "the tolerance ('-': not reached within the epoch limit). Total: the whole pipeline including "
              "validation simulations and (decomposition) the Dask cluster start.", ""]
    if res.get("notes"):
        lines += ["## Notes", "", *res["notes"], ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        n, method, workers, max_epochs = int(argv[1]), argv[2], int(argv[3]), int(argv[4])
        print(json.dumps(run_case(n, method, workers, max_epochs)), flush=True)
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.decomposition", description=__doc__.split("\n")[0])
    p.add_argument("--batches", default="4,16,32,64", help="numbers of training batches")
    p.add_argument("--simultaneous-max", type=int, default=32, help="largest n for the simultaneous method")
    p.add_argument("--workers-at", type=int, default=16, help="batches at which 1 worker is also run")
    p.add_argument("--max-epochs", type=int, default=100)
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--case-timeout", type=float, default=2400.0, help="seconds per case")
    p.add_argument("--quick", action="store_true", help="4 batches, 10 epochs (smoke test)")
    p.add_argument("--append", action="store_true",
                   help="keep the cases of the existing decomposition.json, replacing re-run ones")
    p.add_argument("--only-workers", type=int, default=None,
                   help="run only the decomposition with this many workers (with --append)")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    sizes = [4] if a.quick else [int(x) for x in a.batches.split(",")]
    max_epochs = 10 if a.quick else a.max_epochs
    plan = []
    for n in sizes:
        if n <= a.simultaneous_max:
            plan.append((n, "simultaneous", 0))
        plan.append((n, "decomposition", 2))
        if n == a.workers_at and not a.quick:
            plan.append((n, "decomposition", 1))
    if a.only_workers is not None:
        plan = [(n, "decomposition", a.only_workers) for n in sizes]
    previous, previous_notes = [], []
    if a.append and (a.out / "decomposition.json").exists():
        keys = {(n, m, w) for n, m, w in plan}
        old = json.loads((a.out / "decomposition.json").read_text())
        previous = [c for c in old["cases"] if (c["n"], c["method"], c["workers"]) not in keys]
        previous_notes = old.get("notes", [])
    res = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
           "max_epochs": max_epochs, "tolerance": a.tolerance, "cases": [],
           "notes": [f"- The simultaneous method was not run above {a.simultaneous_max} batches "
                     "(at 16 batches it already takes ~4 min with the exact Hessian, growing ~n^1.3; "
                     "see growth.md)."] if any(n > a.simultaneous_max for n in sizes) else []}
    res["cases"] = previous
    res["notes"] = res["notes"] or previous_notes
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench_decomp_") as tmp:
        for n, method, workers in plan:
            tick = time.perf_counter()
            print(f"  {method} with {n} batches{f', {workers} workers' if workers else ''} ...", flush=True)
            case = _child(n, method, workers, max_epochs, Path(tmp), a.case_timeout)
            print(f"    {case.get('status')} in {time.perf_counter() - tick:.0f} s", flush=True)
            res["cases"].append(case)
            res["cases"].sort(key=lambda c: (c["n"], c["method"] != "simultaneous", -c["workers"]))
            targets = {c["n"]: c["validation_loss"] for c in res["cases"]
                       if c["method"] == "simultaneous" and "validation_loss" in c}
            for c in res["cases"]:
                if "validation_loss" in c and c["n"] in targets:
                    c["time_to_target_s"] = time_to_target(c, targets[c["n"]], a.tolerance)
            (a.out / "decomposition.json").write_text(json.dumps(res, indent=1))
            (a.out / "decomposition.md").write_text(render(res))
    print(f"wrote {a.out / 'decomposition.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
