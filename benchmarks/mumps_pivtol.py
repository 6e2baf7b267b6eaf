"""Benchmark: MUMPS's pivot tolerance in the training solves (issue 14).

``python -m benchmarks.mumps_pivtol [--cases NAME ...] [--pivtols VALUE ...] [--budget S]``
trains every case of :mod:`benchmarks.mumps_ordering` (the flowsheet-path cases and the
unit-path configs) once per value of Ipopt's ``mumps_pivtol`` set in the config's
``[solver]`` table. Ipopt's default is ``1e-6``; ``0`` asks MUMPS for no threshold pivoting,
so the pivot order its analysis chose (2x2 pivots included) is kept and no pivot is delayed,
but a zero pivot then makes the factorization fail as singular and Ipopt regularizes the
system; a value in ``[solver]`` applies to every solve of the training. ``auto`` leaves the
option out (Ipopt's default).
Unlike the ordering, the tolerance changes the factors and so, at rounding level, the steps:
the table shows iterations and validation RMSE beside the time. Each run is a whole
``idaes-hybrid train`` in its own process. Writes ``benchmarks/results/mumps_pivtol.md`` and
``mumps_pivtol.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from benchmarks.mumps_ordering import CASES, case_config
from benchmarks.training_scaling import (
    generated_line, per_iteration_lines, run_variants, with_table_line, write_results)

RESULTS = Path(__file__).resolve().parent / "results"


def with_pivtol(config: Path, pivtol: str) -> Path:
    """The config with ``[solver] mumps_pivtol = <pivtol>`` (a sibling file); ``auto``: left out."""
    line = "" if pivtol == "auto" else f"mumps_pivtol = {float(pivtol)!r}"
    return with_table_line(config, "solver", line, f"pivtol_{pivtol}")


def markdown(rows: list[dict], budget: float) -> str:
    """The results table, one row per case and tolerance."""
    lines = [
        "# Benchmark: MUMPS pivot tolerance in the training solves",
        "",
        generated_line("mumps_pivtol") + " Each run is a whole `idaes-hybrid train` with the config's "
        f"defaults and `[solver] mumps_pivtol` set, stopped after {budget:.0f} s. `s/it`: train-stage "
        "seconds per Ipopt iteration.",
        "",
        *per_iteration_lines(rows, "mumps_pivtol"),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mumps_pivtol",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--pivtols", nargs="*", default=["1e-6", "0"])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per training run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mumps_pivtol_") as tmp:
        rows = run_variants(args.cases, args.pivtols, case_config, with_pivtol, "mumps_pivtol", Path(tmp),
                            args.budget)
    write_results(args.out, "mumps_pivtol", rows, markdown(rows, args.budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
