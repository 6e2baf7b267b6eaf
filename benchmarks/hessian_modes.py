"""Benchmark: the exact against the block-diagonal network Hessian in training (issue 14).

``python -m benchmarks.hessian_modes [--cases NAME ...] [--modes MODE ...] [--budget S]``
trains every case of :mod:`benchmarks.training_scaling` (the shipped flowsheet cases and
two benchmark flowsheets), the shipped ``model = ...`` configs, and bioreactor data sets
of other kinetics (:mod:`benchmarks.noise_data`: Haldane and Contois, without
``noise_sd``), once per ``[training] hessian`` mode. Both modes solve the same NLP to the
same tolerance, so equal validation RMSE is expected; iterations and seconds per
iteration show what the sparser KKT matrix of ``block-diagonal`` buys and costs. Each run
is a whole ``idaes-hybrid train`` in its own process, one after the other. Writes
``benchmarks/results/hessian_modes.md`` and ``hessian_modes.json``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from benchmarks import noise_data
from benchmarks.mumps_ordering import UNIT_CASES, unit_copy
from benchmarks.training_scaling import CASES as FLOWSHEET_CASES
from benchmarks.training_scaling import (
    case_copy, generated_line, per_iteration_lines, run_variants, with_table_line, write_results)

RESULTS = Path(__file__).resolve().parent / "results"
#: Generated bioreactor data sets: name -> (kinetics, seed); configs without ``noise_sd``.
DATA_CASES = {"haldane_s2": ("haldane", 2), "contois_s3": ("contois", 3), "monod_s4": ("monod", 4)}
CASES = [*FLOWSHEET_CASES, *UNIT_CASES, *DATA_CASES]
MODES = ("exact", "block-diagonal")


def with_hessian(config: Path, mode: str) -> Path:
    """A sibling of ``config`` with ``[training] hessian = mode`` (any former value removed)."""
    text = re.sub(r"^hessian\s*=.*$\n?", "", config.read_text(), flags=re.M)
    bare = config.with_name(f"{config.stem}_nohessian.toml")
    bare.write_text(text)
    return with_table_line(bare, "training", f'hessian = "{mode}"', mode)


def case_config(name: str, work: Path) -> Path:
    """The config of case ``name``, its data copied or generated under ``work``."""
    if name in FLOWSHEET_CASES:
        return case_copy(name, work)
    if name in UNIT_CASES:
        return unit_copy(name, work)
    kinetics, seed = DATA_CASES[name]
    return noise_data.write_data_set(work / name, kinetics, seed)["without"]


def markdown(rows: list[dict], budget: float) -> str:
    """The results table, one row per case and mode."""
    lines = [
        "# Benchmark: exact vs block-diagonal network Hessian in training",
        "",
        generated_line("hessian_modes") + " Each run is a whole `idaes-hybrid train` with the config's "
        f"settings and `[training] hessian` set, stopped after {budget:.0f} s. `s/it`: train-stage "
        f"seconds per Ipopt iteration. `haldane_s2`, `contois_s3`, `monod_s4`: generated bioreactor "
        f"data (`benchmarks/noise_data.py`), configs without `noise_sd`.",
        "",
        *per_iteration_lines(rows, "hessian"),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hessian_modes",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=CASES, choices=CASES)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per training run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hessian_modes_") as tmp:
        rows = run_variants(args.cases, args.modes, case_config, with_hessian, "hessian", Path(tmp),
                            args.budget)
    write_results(args.out, "hessian_modes", rows, markdown(rows, args.budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
