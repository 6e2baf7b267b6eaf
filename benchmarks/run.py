"""Run the benchmarks: ``python -m benchmarks.run`` (what ``make bench`` calls).

Each benchmark writes its results under ``benchmarks/results/``. Arguments after
``--`` are passed to every selected benchmark's own ``main``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, Sequence


def _formulations(argv: Sequence[str]) -> int:
    from benchmarks import formulations

    return formulations.main(argv)


def _scaling(argv: Sequence[str]) -> int:
    from benchmarks import scaling

    return scaling.main(argv)


def _peers(argv: Sequence[str]) -> int:
    from benchmarks import peers

    return peers.main(argv)


def _peers_tank(argv: Sequence[str]) -> int:
    from benchmarks import peers_tank

    return peers_tank.main(argv)


def _growth(argv: Sequence[str]) -> int:
    from benchmarks import growth

    return growth.main(argv)


def _decomposition(argv: Sequence[str]) -> int:
    from benchmarks import decomposition

    return decomposition.main(argv)


def _noise(argv: Sequence[str]) -> int:
    from benchmarks import noise

    return noise.main(argv)


def _regularization(argv: Sequence[str]) -> int:
    from benchmarks import regularization

    return regularization.main(argv)


def _evidence(argv: Sequence[str]) -> int:
    from benchmarks import evidence

    return evidence.main(argv)


def _uncertainty(argv: Sequence[str]) -> int:
    from benchmarks import uncertainty

    return uncertainty.main(argv)


def _trust_region(argv: Sequence[str]) -> int:
    from benchmarks import trust_region

    return trust_region.main(argv)


def _training_scaling(argv: Sequence[str]) -> int:
    from benchmarks import training_scaling

    return training_scaling.main(argv)


def _mumps_ordering(argv: Sequence[str]) -> int:
    from benchmarks import mumps_ordering

    return mumps_ordering.main(argv)


def _hessian_modes(argv: Sequence[str]) -> int:
    from benchmarks import hessian_modes

    return hessian_modes.main(argv)


def _closed_loop_flowsheet(argv: Sequence[str]) -> int:
    from benchmarks import closed_loop_flowsheet

    return closed_loop_flowsheet.main(argv)


def _wide_network(argv: Sequence[str]) -> int:
    from benchmarks import wide_network

    return wide_network.main(argv)


def _hessian_paired(argv: Sequence[str]) -> int:
    from benchmarks import hessian_paired

    return hessian_paired.main(argv)


def _closed_loop(argv: Sequence[str]) -> int:
    from benchmarks import closed_loop

    return closed_loop.main(argv)


#: Benchmark name -> its entry point (taking the command-line arguments it should see).
BENCHMARKS: dict[str, Callable[[Sequence[str]], int]] = {
    "formulations": _formulations,
    "scaling": _scaling,
    "training_scaling": _training_scaling,
    "mumps_ordering": _mumps_ordering,
    "hessian_modes": _hessian_modes,
    "hessian_paired": _hessian_paired,
    "peers": _peers,
    "peers_tank": _peers_tank,
    "growth": _growth,
    "wide_network": _wide_network,
    "decomposition": _decomposition,
    "noise": _noise,
    "regularization": _regularization,
    "evidence": _evidence,
    "uncertainty": _uncertainty,
    "trust_region": _trust_region,
    "closed_loop": _closed_loop,
    "closed_loop_flowsheet": _closed_loop_flowsheet,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks (default: all) one after the other."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                        help="benchmarks to run (default: all: " + ", ".join(BENCHMARKS) + ")")
    args = parser.parse_args(argv)
    if unknown := [b for b in args.benchmarks if b not in BENCHMARKS]:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    selected = args.benchmarks or list(BENCHMARKS)
    status = 0
    for name in selected:
        tick = time.perf_counter()
        print(f"== benchmark {name}", flush=True)
        rc = BENCHMARKS[name](extra)
        print(f"== benchmark {name}: exit code {rc} after {time.perf_counter() - tick:.0f} s", flush=True)
        status = status or rc
    return status


if __name__ == "__main__":
    sys.exit(main())
