"""Coverage of the Laplace 90% prediction bands on noise-free validation points.

For each seed, :func:`benchmarks.noise_data.write_data_set` draws a fed-batch bioreactor
data set with Haldane (substrate-inhibition) kinetics, not the public case's Monod: three
noisy, ragged training batches (true ``noise_sd`` given) and one noise-free validation
batch. ``idaes-hybrid train`` runs with ``[uncertainty] method = "laplace", level = 0.9``;
the table reports ``metrics.json``'s validation coverage per variable (the issue's target:
between 80% and 98%).

Run: ``python -m benchmarks.uncertainty [--seeds 1 2 3]`` (about a minute per seed);
results in ``benchmarks/results/uncertainty.md`` and ``.json``.
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
TABLE = f'\n[uncertainty]\nmethod = "laplace"\nlevel = {LEVEL}\n'


def run_seed(seed: int, work: Path) -> dict:
    """Train one data set with ``[uncertainty]``; its coverage, RMSE and times."""
    from idaes_hybrid.cli.app import main

    folder = work / f"{KINETICS}_{seed}"
    config = noise_data.write_data_set(folder, KINETICS, seed)["with"]
    config.write_text(config.read_text() + TABLE)
    tick = time.perf_counter()
    rc = main(["train", str(config), "--out", str(folder / "run"), "--quiet"])
    wall = time.perf_counter() - tick
    if rc != 0:
        return {"seed": seed, "error": f"exit code {rc}", "wall_time_s": wall}
    m = json.loads((folder / "run" / "metrics.json").read_text())
    return {"seed": seed, "status": m["status"], "wall_time_s": wall,
            "validation_rmse": m["validation"]["rmse"], "uncertainty": m.get("uncertainty")}


def render(rows: Sequence[dict]) -> str:
    """Markdown table of the runs."""
    names = ["X", "S", "P"]
    lines = ["# Laplace prediction bands: coverage of noise-free validation points", "",
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_seed(s, Path(tmp)) for s in args.seeds]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "uncertainty.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "uncertainty.md").write_text(render(rows))
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
