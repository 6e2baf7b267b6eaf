"""Benchmark: scaling of the flowsheet path's training solves, by magnitudes or by Ipopt's rows.

``python -m benchmarks.training_scaling [--cases NAME ...] [--budget S] [--out DIR]`` trains
every flowsheet-path config of the repository, and the jacket case on data generated here
from another true law, twice: ``[training] scaling = "magnitude"`` (the flowsheet path's
default: every variable scaled by ``1 / max(1, |x0|)``, rows by gradient) and
``"gradient"`` (Ipopt's row scaling only, the former behaviour). Each run is a whole
``idaes-hybrid train`` in its own process (stopped after ``--budget`` seconds). Writes
``benchmarks/results/training_scaling.md`` and ``training_scaling.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
JACKET = ROOT / "benchmarks" / "cases" / "jacket_ua"
#: Case name -> config (relative to the repository); ``jacket_fresh`` is generated.
CASES = {
    "jacket_ua": "benchmarks/cases/jacket_ua/config.toml",
    "jacket_fresh": None,
    "mixer_cstr": "benchmarks/cases/mixer_cstr/config.toml",
    "cstr_cascade": "flowsheets/cstr_cascade/config.toml",
    "saponification": "flowsheets/saponification/config.toml",
    "bioreactor": "flowsheets/bioreactor/config_flowsheet.toml",
    "tank_manifold": "flowsheets/tank_manifold/config_flowsheet.toml",
    "tank_two_terms": "flowsheets/tank_manifold/config_two_terms.toml",
    "predator_prey": "flowsheets/predator_prey/config_flowsheet.toml",
}
#: The fresh jacket data: UA = A Fc^B (1 + C (T - 300)) W/K and the noise seed.
FRESH_LAW, FRESH_SEED = (300.0, 0.8, 0.01), 11
VARIANTS = ("magnitude", "gradient")


def case_copy(name: str, work: Path) -> Path:
    """A copy of the case's folder in ``work``; its config path."""
    if CASES[name] is None:
        dst = work / name
        shutil.copytree(JACKET, dst, ignore=shutil.ignore_patterns("data", "__pycache__"))
        shutil.copy(JACKET.parent / "synthetic.py", work)  # gen.py imports it from its parent folder
        subprocess.run([sys.executable, str(dst / "gen.py"), "--law", *map(str, FRESH_LAW),
                        "--seed", str(FRESH_SEED), "--out", str(dst / "data")], check=True,
                       capture_output=True)
        return dst / "config.toml"
    config = ROOT / CASES[name]
    dst = work / name
    shutil.copytree(config.parent, dst, ignore=shutil.ignore_patterns("__pycache__", "results"))
    return dst / config.name


def with_table_line(config: Path, table: str, line: str, suffix: str) -> Path:
    """A sibling of ``config`` (``<stem>_<suffix>.toml``) with ``line`` first in ``[table]``
    (the table appended if the config has none)."""
    text = config.read_text()
    if re.search(rf"^\[{table}\]\s*$", text, re.M):
        text = re.sub(rf"^\[{table}\]\s*$\n", f"[{table}]\n{line}\n", text, count=1, flags=re.M)
    else:
        text += f"\n[{table}]\n{line}\n"
    out = config.with_name(f"{config.stem}_{suffix}.toml")
    out.write_text(text)
    return out


def _with_scaling(config: Path, variant: str) -> Path:
    """The config with ``[training] scaling = variant`` (a sibling file)."""
    return with_table_line(config, "training", f'scaling = "{variant}"', variant)


def run_train(config: Path, out: Path, budget: float) -> dict[str, Any]:
    """One whole ``idaes-hybrid train``; its metrics, or why there are none."""
    tick = time.perf_counter()
    cmd = [sys.executable, "-m", "idaes_hybrid.cli", "train", str(config), "--out", str(out), "--quiet"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        return {"status": f"stopped at {budget:.0f} s", "wall_s": budget}
    wall = time.perf_counter() - tick
    metrics_file = out / "metrics.json"
    if proc.returncode != 0 or not metrics_file.exists():
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": "failed", "wall_s": wall, "message": last[:200]}
    m = json.loads(metrics_file.read_text())
    return {"status": m["status"], "wall_s": wall, "iterations": m["iterations"],
            "train_s": m["stages"]["train"]["wall_time_s"],
            "validation_rmse": m.get("validation", {}).get("rmse", {}),
            "train_rmse": m.get("train", {}).get("rmse", {})}


def run_variants(cases: Sequence[str], variants: Sequence[str], config_of, variant_config,
                 key: str, work: Path, budget: float) -> list[dict]:
    """Every case once per variant, one after the other (:func:`run_train`): ``config_of(name,
    work)`` gives a case's config, ``variant_config(config, variant)`` its variant's. Rows
    carry ``case`` and ``key`` (the variant)."""
    rows = []
    for name in cases:
        config = config_of(name, work)
        for variant in variants:
            print(f"{name}: {key} {variant} ...", flush=True)
            row = {"case": name, key: variant,
                   **run_train(variant_config(config, variant), work / f"{name}_{variant}", budget)}
            print(f"  {row['status']}, {row.get('iterations', '-')} iterations, "
                  f"train {row.get('train_s', float('nan')):.1f} s", flush=True)
            rows.append(row)
    return rows


def per_iteration_lines(rows: list[dict], key: str) -> list[str]:
    """Markdown table (header included) of :func:`run_variants` rows: status, train
    iterations, train seconds and seconds per iteration, whole seconds, validation RMSE."""
    lines = [f"| case | {key} | status | train iterations | train s | s/it | whole s | validation RMSE |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        its, train = r.get("iterations"), r.get("train_s", float("nan"))
        per = f"{train / its:.3f}" if its else "-"
        lines.append(f"| {r['case']} | {r[key]} | {r['status']} | {its if its is not None else '-'} | "
                     f"{train:.1f} | {per} | {r['wall_s']:.0f} | {rmse_text(r.get('validation_rmse', {}))} |")
    return lines


def generated_line(module: str) -> str:
    """``Generated by `python -m benchmarks.<module>` on <UTC time>; revision <rev>. Machine: ...``"""
    return (f"Generated by `python -m benchmarks.{module}` on "
            f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}; revision {revision()}. "
            f"Machine: {platform.platform()}, {os.cpu_count()} cores (shared: wall times vary by tens of "
            f"percent between identical runs).")


def write_results(out: Path, stem: str, rows: list[dict], text: str) -> None:
    """``<stem>.json`` (the rows) and ``<stem>.md`` (``text``) in ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=2))
    (out / f"{stem}.md").write_text(text)


def revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def rmse_text(values: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in values.items()) or "-"


def _markdown(rows: list[dict], budget: float) -> str:
    lines = [
        "# Benchmark: scaling of the flowsheet path's training solves",
        "",
        f"Generated by `python -m benchmarks.training_scaling` on {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}; "
        f"revision {revision()}. Machine: {platform.platform()}, {os.cpu_count()} cores (shared: wall "
        f"times vary by tens of percent between identical runs). Each run is a whole `idaes-hybrid train` "
        f"(defaults of the config, `[training] scaling` set), stopped after {budget:.0f} s.",
        "",
        "`magnitude`: every variable scaled by `1 / max(1, |x0|)` at the solve's start, rows and objective "
        "by their largest gradient entry in the scaled variables (at most 100). `gradient`: Ipopt's own "
        f"row scaling. `jacket_fresh`: the jacket case on data generated from UA = {FRESH_LAW[0]:g} "
        f"Fc^{FRESH_LAW[1]:g} (1 + {FRESH_LAW[2]:g} (T - 300)) W/K, seed {FRESH_SEED}.",
        "",
        "| case | scaling | status | train iterations | train s | whole s | validation RMSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['case']} | {r['scaling']} | {r['status']} | {r.get('iterations', '-')} | "
                     f"{r.get('train_s', float('nan')):.1f} | {r['wall_s']:.0f} | "
                     f"{rmse_text(r.get('validation_rmse', {}))} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_scaling",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per training run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="training_scaling_") as tmp:
        for name in args.cases:
            config = case_copy(name, Path(tmp))
            for variant in VARIANTS:
                print(f"{name}: scaling = {variant} ...", flush=True)
                row = {"case": name, "scaling": variant,
                       **run_train(_with_scaling(config, variant), Path(tmp) / f"{name}_{variant}", args.budget)}
                print(f"  {row['status']}, {row.get('iterations', '-')} iterations, {row['wall_s']:.0f} s",
                      flush=True)
                rows.append(row)
    write_results(args.out, "training_scaling", rows, _markdown(rows, args.budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
