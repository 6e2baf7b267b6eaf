"""The best feasible iterate of an interior-point solve that stops at a limit.

An interior-point solve stopped by its iteration or time limit returns its last iterate,
which need not satisfy the constraints even when earlier iterates did: an ensemble feed
optimization on ridged kinetics (benchmarks/results/trust_region_ensemble_box.md) crossed
feasible points of ever better objective for hundreds of iterations (constraint violation
1e-8) and stopped at 1000 iterations on one with a violation of 1.7e-4, so the optimization
failed. :class:`FeasibleIterates`, called from the solver's per-iteration callback, keeps
the iterate with the lowest objective among those whose constraint violation is at most
:data:`FEASIBLE_VIOLATION`, for the caller to use instead of an infeasible last iterate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Largest constraint violation (in the model's units; Ipopt's default ``constr_viol_tol``)
#: of an iterate that counts as feasible.
FEASIBLE_VIOLATION = 1e-4


def violation(g: np.ndarray, cl: np.ndarray, cu: np.ndarray) -> float:
    """Largest amount by which the constraint values ``g`` leave ``[cl, cu]`` (0 inside)."""
    g = np.asarray(g, dtype=float)
    return float(np.max(np.maximum(np.asarray(cl) - g, g - np.asarray(cu)), initial=0.0))


class FeasibleIterates:
    """The feasible iterate of lowest objective seen during a solve.

    Parameters
    ----------
    cl, cu
        The constraints' lower and upper bounds (equalities: ``cl == cu``).
    tol
        Largest constraint violation of a feasible iterate.

    Attributes
    ----------
    best
        ``(objective, x, iteration, violation)`` of the best feasible iterate, or ``None``.
    """

    def __init__(self, cl: np.ndarray, cu: np.ndarray, tol: float = FEASIBLE_VIOLATION) -> None:
        self.cl, self.cu, self.tol = np.asarray(cl, dtype=float), np.asarray(cu, dtype=float), tol
        self.best: tuple[float, np.ndarray, int, float] | None = None
        self._problem: Any = None

    def attach(self, problem: Any) -> bool:
        """Read the iterates of ``problem`` (a solver object with ``get_current_iterate``,
        as cyipopt's); ``False`` (nothing recorded) for a solver without it."""
        self._problem = problem if hasattr(problem, "get_current_iterate") else None
        return self._problem is not None

    def record(self, iteration: int, objective: float) -> None:
        """Look at the solver's current iterate (call from its per-iteration callback, with
        the objective the solver minimizes)."""
        if self._problem is None or not np.isfinite(objective):
            return
        if self.best is not None and objective >= self.best[0]:
            return
        current = self._problem.get_current_iterate(scaled=False)
        if current is None:
            return
        viol = violation(current["g"], self.cl, self.cu)
        if viol <= self.tol:
            self.best = (float(objective), np.array(current["x"], dtype=float), int(iteration), viol)
