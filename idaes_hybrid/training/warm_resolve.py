"""Warm re-solves of a solved training model: block-diagonal steps where they pay.

After the train solve, the noise refit, the evidence's prior precision and the
cross-validation folds re-solve the same training model from its solution with a changed
weighting, prior precision or fold. Started that close to a solution, the block-diagonal
Hessian (the exact one without the network's weight-input coupling,
:data:`~idaes_hybrid.training.train.HessianMode.BLOCK_DIAGONAL`) reaches the same solution
as the exact one: the NLP is the same, only the steps differ. Measured on three fresh
fed-batch sets (4-20-20-1, 3 batches, coupling 5.4e7, no ``noise_sd``, the evidence's
prior): the same prior precision and validation RMSE to 4 digits, the noise refit and the
evidence 12.4 -> 6.4 s, 8.8 -> 6.5 s and 13.9 -> 7.2 s. From a cold start the two can end at
different local optima, which is why the train solve itself keeps the exact Hessian on
problems of this size (:data:`~idaes_hybrid.training.train.BLOCK_DIAGONAL_MIN_COUPLING`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import idaes.logger as idaeslog

from idaes_hybrid.solve.solver import SolveResult
from idaes_hybrid.solve.values import restore_values, unfixed_values
from idaes_hybrid.training.train import HessianMode

_log = idaeslog.getLogger(__name__)

#: Smallest weight-input coupling (network points x weights^2) for which ``hessian = auto``
#: re-solves warm with the block-diagonal Hessian where the train solve uses the exact one:
#: below it the coupling costs a factorization little (networks of a few dozen weights
#: gained nothing from block-diagonal steps in ``benchmarks/results/hessian_modes.md``).
WARM_BLOCK_DIAGONAL_MIN_COUPLING = 1e7


def warm_hessian(requested: HessianMode, resolved: HessianMode, coupling: float) -> HessianMode | None:
    """The Hessian of the warm re-solves when it differs from the train solve's ``resolved``
    one: block-diagonal if ``hessian = auto`` chose the exact one and the ``coupling`` is at
    least :data:`WARM_BLOCK_DIAGONAL_MIN_COUPLING`; else ``None`` (a Hessian the user asked
    for is used throughout)."""
    if requested is HessianMode.AUTO and resolved is HessianMode.EXACT \
            and coupling >= WARM_BLOCK_DIAGONAL_MIN_COUPLING:
        return HessianMode.BLOCK_DIAGONAL
    return None


def warm_resolve(m, solve: Callable[[dict], SolveResult], options: dict) -> SolveResult:
    """``solve(options)`` on the solved model ``m``; a block-diagonal re-solve that does not
    end optimal or acceptable is repeated with the exact Hessian from the same start (its
    iterations counted in the result's)."""
    if options.get("hessian_approximation") != HessianMode.BLOCK_DIAGONAL.value:
        return solve(options)
    start = unfixed_values(m)
    first = solve(options)
    if first.ok:
        return first
    _log.info(f"warm re-solve with the block-diagonal Hessian ended {first.status.value}; "
              "again with the exact Hessian from the same start")
    restore_values(start)
    again = solve({**options, "hessian_approximation": HessianMode.EXACT.value})
    return dataclasses.replace(again, iterations=(again.iterations or 0) + (first.iterations or 0))
