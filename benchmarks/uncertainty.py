"""Coverage of the 90% prediction bands (Laplace or ensemble) on noise-free validation points.

For each seed, :func:`benchmarks.noise_data.write_data_set` draws a fed-batch bioreactor
data set with Haldane (substrate-inhibition) kinetics, not the public case's Monod: three
noisy, ragged training batches (true ``noise_sd`` given) and one noise-free validation
batch. ``idaes-hybrid train`` runs with ``[uncertainty] method = "laplace"`` (or
``"ensemble"``, 5 members), ``level = 0.9``;
the table reports ``metrics.json``'s validation coverage per variable (the issue's target:
between 80% and 98%).

Run: ``python -m benchmarks.uncertainty [--seeds 1 2 3] [--method laplace|ensemble]``
(about a minute per seed, a few with the ensemble); results in
``benchmarks/results/uncertainty.md`` and ``.json`` (``uncertainty_ensemble.*``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Sequence

from benchmarks import noise_data

RESULTS = Path(__file__).resolve().parent / "results"
KINETICS = "haldane"
LEVEL = 0.9
TABLES = {"laplace": f'\n[uncertainty]\nmethod = "laplace"\nlevel = {LEVEL}\n',
          "ensemble": f'\n[uncertainty]\nmethod = "ensemble"\nmembers = 5\nlevel = {LEVEL}\n'}


def run_seed(seed: int, work: Path, method: str = "laplace") -> dict:
    """Train one data set with ``[uncertainty]``; its coverage, RMSE and times."""
    from idaes_hybrid.cli.app import main

    folder = work / f"{KINETICS}_{seed}"
    config = noise_data.write_data_set(folder, KINETICS, seed)["with"]
    config.write_text(config.read_text() + TABLES[method])
    tick = time.perf_counter()
    rc = main(["train", str(config), "--out", str(folder / "run"), "--quiet"])
    wall = time.perf_counter() - tick
    if rc != 0:
        return {"seed": seed, "error": f"exit code {rc}", "wall_time_s": wall}
    m = json.loads((folder / "run" / "metrics.json").read_text())
    return {"seed": seed, "status": m["status"], "wall_time_s": wall,
            "validation_rmse": m["validation"]["rmse"], "uncertainty": m.get("uncertainty")}


def render(rows: Sequence[dict], method: str = "laplace") -> str:
    """Markdown table of the runs."""
    names = ["X", "S", "P"]
    lines = [f"# {method.capitalize()} prediction bands: coverage of noise-free validation points", "",
             f"Fed-batch bioreactor, {KINETICS} kinetics (`benchmarks/noise_data.py`), default training "
             f"(20x20 softplus network, nfe = 20), true noise sd given; `[uncertainty] level = {LEVEL}`.",
             "Coverage: fraction of the validation batch's noise-free points inside the band "
             "(target 80-98%).", "",
             "| seed | status | " + " | ".join(f"coverage {n}" for n in names)
             + " | " + " | ".join(f"RMSE {n}" for n in names) + " | clipped eigenvalues | wall s |",
             "|---" * (2 * len(names) + 4) + "|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['seed']} | {r['error']} |" + " - |" * (2 * len(names) + 2))
            continue
        unc = r.get("uncertainty") or {}
        cov = unc.get("validation_coverage", {})
        lines.append(f"| {r['seed']} | {r['status']} | "
                     + " | ".join(f"{cov[n]:.0%}" if n in cov else "-" for n in names) + " | "
                     + " | ".join(f"{r['validation_rmse'].get(n, float('nan')):.3g}" for n in names)
                     + f" | {unc.get('clipped_eigenvalues', '-')} | {r['wall_time_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--method", choices=sorted(TABLES), default="laplace")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_seed(s, Path(tmp), args.method) for s in args.seeds]
    RESULTS.mkdir(exist_ok=True)
    stem = "uncertainty" if args.method == "laplace" else f"uncertainty_{args.method}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(render(rows, args.method))
    print(render(rows, args.method))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
