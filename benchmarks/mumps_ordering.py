"""Benchmark: MUMPS's fill-reducing ordering in the training solves (issue 14).

``python -m benchmarks.mumps_ordering [--cases NAME ...] [--orderings NAME ...] [--budget S]``
trains every case of :mod:`benchmarks.training_scaling` (flowsheet path) and the unit-path
configs of the shipped cases, once per ordering of Ipopt's ``mumps_pivot_order`` set in
the config's ``[solver]`` table: ``auto`` (MUMPS's own choice, 7), ``amd`` (0) and ``qamd``
(6). The iterates do not depend on the ordering (the same KKT systems are solved exactly),
so equal iteration counts and validation RMSE are expected and the time per iteration is
the linear algebra's. Each run is a whole ``idaes-hybrid train`` in its own process.
Writes ``benchmarks/results/mumps_ordering.md`` and ``mumps_ordering.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from benchmarks.training_scaling import CASES as FLOWSHEET_CASES
from benchmarks.training_scaling import (
    case_copy, generated_line, per_iteration_lines, run_variants, with_table_line, write_results)

RESULTS = Path(__file__).resolve().parent / "results"
#: The unit-path configs (``model = ...``) beside the flowsheet-path cases.
UNIT_CASES = {
    "bioreactor_unit": "flowsheets/bioreactor/config.toml",
    "tank_unit": "flowsheets/tank_manifold/config.toml",
    "predator_prey_unit": "flowsheets/predator_prey/config.toml",
}
CASES = {**FLOWSHEET_CASES, **UNIT_CASES}
#: Ordering name -> ``mumps_pivot_order`` (``None``: the option left out).
ORDERINGS = {"auto": None, "amd": 0, "qamd": 6}


def with_ordering(config: Path, ordering: str) -> Path:
    """The config with ``[solver] mumps_pivot_order`` set (a sibling file)."""
    value = ORDERINGS[ordering]
    line = "" if value is None else f"mumps_pivot_order = {value}"
    return with_table_line(config, "solver", line, ordering)


def markdown(rows: list[dict], budget: float) -> str:
    """The results table, one row per case and ordering."""
    lines = [
        "# Benchmark: MUMPS ordering in the training solves",
        "",
        generated_line("mumps_ordering") + " Each run is a whole `idaes-hybrid train` with the config's "
        f"defaults and `[solver] mumps_pivot_order` set (`auto`: left to MUMPS), stopped after "
        f"{budget:.0f} s. `s/it`: train-stage seconds per Ipopt iteration.",
        "",
        *per_iteration_lines(rows, "ordering"),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mumps_ordering",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--orderings", nargs="*", default=["auto", "amd"], choices=list(ORDERINGS))
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per training run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mumps_ordering_") as tmp:
        rows = run_variants(args.cases, args.orderings, case_config, with_ordering, "ordering", Path(tmp),
                            args.budget)
    write_results(args.out, "mumps_ordering", rows, markdown(rows, args.budget))
    return 0


def case_config(name: str, work: Path) -> Path:
    """A case's config copied into ``work`` (flowsheet-path folder or unit-path file)."""
    return case_copy(name, work) if name in FLOWSHEET_CASES else unit_copy(name, work)


def unit_copy(name: str, work: Path) -> Path:
    """A unit-path config with its data paths made absolute (the case folder stays put)."""
    config = Path(__file__).resolve().parents[1] / UNIT_CASES[name]
    text = config.read_text().replace('data = "data/', f'data = "{config.parent}/data/')
    out = work / name / config.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


if __name__ == "__main__":
    sys.exit(main())
