"""The problem-size guard of the commands that build a training problem (``train``,
``diagnose``): the size is logged before building, and a network larger than
``--max-weights`` is refused (a 2000 x 2000 network would take minutes and gigabytes
before the first log line)."""

from __future__ import annotations

import argparse
import logging

#: Default of ``--max-weights``: larger networks are refused before building.
DEFAULT_MAX_WEIGHTS = 100_000


class ProblemSizeError(ValueError):
    """The problem is larger than the limit; the message names the field or option."""


def add_max_weights_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--max-weights N`` to a command that builds a training problem."""
    parser.add_argument("--max-weights", type=int, default=DEFAULT_MAX_WEIGHTS, metavar="N",
                        help="refuse networks with more weights and biases than N before building "
                             f"(default {DEFAULT_MAX_WEIGHTS})")


def check_problem_size(n_weights: int, n_points: int, limit: int, log: logging.Logger) -> None:
    """Log the size of the training problem before it is built; refuse it above ``limit``.

    Parameters
    ----------
    n_weights : int
        Network weights and biases (all networks).
    n_points : int
        Collocation points of the training experiments (network evaluations).
    limit : int
        Most weights allowed (``--max-weights``).
    log : logging.Logger
        Gets the size line.
    """
    if limit < 1:
        raise ProblemSizeError(f"--max-weights: expected an integer >= 1, got {limit}")
    # network equations' Jacobian and Hessian blocks: about 3 doubles per weight and point
    memory_mb = 8.0 * 3 * n_weights * max(n_points, 1) / 1e6
    log.info(f"problem size: {n_weights} network weights, {n_points} collocation points, "
             f"memory estimate {memory_mb:.0f} MB")
    if n_weights > limit:
        raise ProblemSizeError(f"network.hidden: the network has {n_weights} weights, more than "
                               f"the limit {limit} (memory estimate {memory_mb:.0f} MB); use "
                               "smaller layers or raise --max-weights")
