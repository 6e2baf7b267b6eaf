"""One square block of an :class:`~idaes_hybrid.solve.nl_system.EquationSystem` solved by
Ipopt: the fallback of the time march when its damped Newton stalls.

A damped Newton on the residual norm stops at a non-root where the norm has a local
minimum. That happens where the block has several roots and the start lies in the basin of
none: an exothermic CSTR started at its feed temperature whose steady state is the ignited
one (Newton from 300 K stalls near 292 K; the root is at 345 K). Ipopt on the same square
block (zero objective, the block's equations as equality constraints, the variables'
bounds kept) has a restoration phase and a filter line search, and finds such roots. It
solves only this block, from the march's start, where solving the whole horizon from a
partly marched point took more than 8 minutes on 120 elements (30 s with this fallback).
Each evaluation takes the whole system's residuals and Jacobian and keeps the block's part:
simple, and cheap enough for a fallback.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

import idaes.logger as idaeslog

from idaes_hybrid.solve.nl_system import EquationSystem

_log = idaeslog.getLogger(__name__)

#: Ipopt options of a block solve: limited-memory Hessian (the block's second derivatives
#: are not evaluated), no output.
BLOCK_OPTIONS = {"hessian_approximation": "limited-memory", "print_level": 0, "sb": "yes",
                 "max_iter": 300, "bound_push": 1e-8, "bound_frac": 1e-8}
_INF = 1e20


class _Block:
    """cyipopt callbacks of ``F[rows](x) = 0`` in ``x[cols]``, the other columns fixed."""

    def __init__(self, system: EquationSystem, x: np.ndarray, rows: np.ndarray, cols: np.ndarray):
        self.system, self.base, self.rows, self.cols = system, x.copy(), rows, cols
        sub = system.pattern().tocsr()[rows][:, cols].tocoo()
        self.jr, self.jc = sub.row.astype(np.int64), sub.col.astype(np.int64)

    def full(self, xc: np.ndarray) -> np.ndarray:
        x = self.base.copy()
        x[self.cols] = xc
        return x

    def objective(self, xc: np.ndarray) -> float:
        return 0.0

    def gradient(self, xc: np.ndarray) -> np.ndarray:
        return np.zeros(len(self.cols))

    def constraints(self, xc: np.ndarray) -> np.ndarray:
        return self.system.residuals(self.full(xc))[self.rows]

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self.jr, self.jc

    def jacobian(self, xc: np.ndarray) -> np.ndarray:
        jac = self.system.jacobian(self.full(xc)).tocsr()[self.rows][:, self.cols].tocsr()
        return np.asarray(jac[self.jr, self.jc], dtype=float).ravel()


def solve_square_block(system: EquationSystem, x: np.ndarray, rows: Sequence[int], cols: Sequence[int],
                       tol: float) -> tuple[np.ndarray, float]:
    """Solve ``F[rows](x) = 0`` for ``x[cols]`` (square) with Ipopt from ``x``.

    Parameters
    ----------
    system
        The equations and their Jacobian.
    x
        The full point; only ``x[cols]`` changes.
    rows, cols
        The block's equations and variables (as many of each).
    tol
        Absolute residual tolerance (Ipopt's ``constr_viol_tol`` and the returned check).

    Returns
    -------
    (numpy.ndarray, float)
        The point (``x`` with the block's solution, or Ipopt's last iterate) and the
        largest absolute residual of the block there.
    """
    from idaes_hybrid.solve.ipopt_c import ipopt_problem_class

    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    block = _Block(system, np.asarray(x, float), rows, cols)
    variables = [system.variables[c] for c in cols]
    lb = np.array([-_INF if v.lb is None else float(v.lb) for v in variables])
    ub = np.array([_INF if v.ub is None else float(v.ub) for v in variables])
    zero = np.zeros(len(rows))
    problem = ipopt_problem_class()(n=len(cols), m=len(rows), problem_obj=block, lb=lb, ub=ub, cl=zero,
                                    cu=zero)
    for key, value in {**BLOCK_OPTIONS, "tol": tol, "constr_viol_tol": tol}.items():
        problem.add_option(key, value)
    start = np.clip(np.asarray(x, float)[cols], lb, ub)
    xc, info = problem.solve(start)
    out = block.full(np.asarray(xc, float))
    res = float(np.max(np.abs(block.constraints(out[cols])))) if len(rows) else 0.0
    _log.debug(f"block of {len(cols)} variables by Ipopt: status {info['status']}, residual {res:.3g}")
    return out, res
