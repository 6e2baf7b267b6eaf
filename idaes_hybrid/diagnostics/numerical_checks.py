"""Numerical checks of a hybrid model at its current point, in the layout of IDAES's
reports: residuals, bounds, extreme (scaled) Jacobian entries and the condition number of
the equations with the network evaluated in numpy (:class:`~idaes_hybrid.solve.nl_system.EquationSystem`).

Used after training (``metrics.json`` ``diagnostics``) and by ``idaes-hybrid diagnose``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from idaes.core.scaling.util import get_scaling_factor

from idaes_hybrid.solve.nl_system import EquationSystem, physics_constraints

#: Thresholds of the numerical checks (IDAES's DiagnosticsToolbox defaults).
LARGE_JAC, SMALL_JAC = 1e8, 1e-8
LARGE_JAC_CAUTION, SMALL_JAC_CAUTION = 1e4, 1e-4
RESIDUAL_TOL, BOUND_TOL = 1e-5, 1e-4
#: Condition numbers above this are reported.
LARGE_CONDITION = 1e10


@dataclass
class NumericalFindings:
    """What :func:`numerical_checks` found (lists of messages and key numbers)."""

    warnings: list[str] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)
    max_residual: float = 0.0
    condition_number: float | None = None
    #: The condition number after row and column equilibration: what no scaling removes.
    equilibrated_condition_number: float | None = None
    n_variables: int = 0
    n_constraints: int = 0



def _scaled_jacobian(system: EquationSystem, x: np.ndarray) -> sp.csr_matrix:
    sv = np.array([get_scaling_factor(v, default=1.0) for v in system.variables])
    sc = np.array([get_scaling_factor(c, default=1.0) for c in system.row_constraints])
    return sp.diags(sc) @ system.jacobian(x) @ sp.diags(1.0 / sv)


def numerical_checks(model: pyo.Block, net=None) -> NumericalFindings:
    """Residuals, bounds and (scaled) Jacobian of ``model``'s equations at the current point."""
    system = EquationSystem(physics_constraints(model, net), net)
    x = system.get_x()
    out = NumericalFindings(n_variables=system.n, n_constraints=system.m)
    res = np.abs(system.residuals(x))
    out.max_residual = float(res.max()) if len(res) else 0.0
    big = np.flatnonzero(res > RESIDUAL_TOL)
    if len(big):
        out.warnings.append(f"WARNING: {len(big)} Constraints with large residuals (>{RESIDUAL_TOL:g}); "
                            f"largest {out.max_residual:.3g} in {system.row_names[int(np.argmax(res))]}")
    at_bounds = [v.name for v in system.variables if v.value is not None and (
        (v.lb is not None and v.value < v.lb - BOUND_TOL) or (v.ub is not None and v.value > v.ub + BOUND_TOL))]
    if at_bounds:
        out.warnings.append(f"WARNING: {len(at_bounds)} Variables outside their bounds "
                            f"(e.g. {at_bounds[0]})")
    jac = _scaled_jacobian(system, x).tocoo()
    vals = np.abs(jac.data)
    n_large, n_large_c = int(np.sum(vals > LARGE_JAC)), int(np.sum((vals > LARGE_JAC_CAUTION) & (vals <= LARGE_JAC)))
    if n_large:
        out.warnings.append(f"WARNING: {n_large} extreme Jacobian entries (>{LARGE_JAC:g})")
    if n_large_c:
        out.cautions.append(f"Caution: {n_large_c} extreme Jacobian entries (>{LARGE_JAC_CAUTION:g})")
    nz = vals[vals > 0]
    n_small = int(np.sum(nz < SMALL_JAC))
    if n_small:
        out.warnings.append(f"WARNING: {n_small} extreme Jacobian entries (<{SMALL_JAC:g})")
    n_small_c = int(np.sum((nz < SMALL_JAC_CAUTION) & (nz >= SMALL_JAC)))
    if n_small_c:
        out.cautions.append(f"Caution: {n_small_c} extreme Jacobian entries (<{SMALL_JAC_CAUTION:g})")
    csr = jac.tocsr()
    row_norm = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
    col_norm = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=0)).ravel())
    for norms, what, label in ((row_norm, "Constraints", lambda i: system.row_names[i]),
                               (col_norm, "Variables", lambda i: system.variables[i].name)):
        bad = np.flatnonzero((norms > LARGE_JAC) | (norms < SMALL_JAC))
        if len(bad):  # names only of what is reported (a name costs ~0.1 ms)
            out.warnings.append(f"WARNING: {len(bad)} {what} with extreme Jacobian values "
                                f"(e.g. {label(int(bad[0]))}: {norms[int(bad[0])]:.3g})")
    if system.m == system.n:
        _condition_findings(csr, out)
    return out


def _condition_findings(jac: sp.csr_matrix, out: NumericalFindings) -> None:
    """Condition numbers as given and equilibrated: a warning when even the equilibrated
    matrix is ill-conditioned, a caution when only the scaling is at fault."""
    out.condition_number = condition_estimate(jac)
    out.equilibrated_condition_number = condition_estimate(equilibrate(jac))
    if out.equilibrated_condition_number > LARGE_CONDITION:
        out.warnings.append(f"WARNING: Jacobian condition number {out.condition_number:.3e} "
                            f"(>{LARGE_CONDITION:g}), {out.equilibrated_condition_number:.3e} "
                            "after row and column equilibration")
    elif out.condition_number > LARGE_CONDITION:
        out.cautions.append(f"Caution: Jacobian condition number {out.condition_number:.3e} "
                            f"(>{LARGE_CONDITION:g}) is a scaling problem: "
                            f"{out.equilibrated_condition_number:.3e} after row and column "
                            "equilibration (set scaling factors, or run with --scaled)")


def equilibrate(jac: sp.spmatrix, sweeps: int = 10) -> sp.csr_matrix:
    """``R jac C`` with diagonal ``R``, ``C`` making every row and column's largest
    magnitude about 1 (Ruiz's iteration: divide by the square roots of the row and column
    maxima, ``sweeps`` times)."""
    a = sp.csr_matrix(jac, dtype=float, copy=True)
    a.data = np.abs(a.data)
    rows, cols = np.ones(a.shape[0]), np.ones(a.shape[1])
    for _ in range(sweeps):
        scaled = sp.diags(rows) @ a @ sp.diags(cols)
        r = np.sqrt(np.asarray(scaled.max(axis=1).todense()).ravel())
        c = np.sqrt(np.asarray(scaled.max(axis=0).todense()).ravel())
        rows /= np.where(r > 0, r, 1.0)
        cols /= np.where(c > 0, c, 1.0)
    return sp.csr_matrix(sp.diags(rows) @ sp.csr_matrix(jac) @ sp.diags(cols))


def condition_estimate(jac: sp.spmatrix) -> float:
    """1-norm condition number estimate of a square sparse matrix (``inf`` if singular)."""
    from scipy.sparse.linalg import LinearOperator, onenormest, splu

    a = sp.csc_matrix(jac)
    try:
        lu = splu(a)
    except RuntimeError:  # exactly singular
        return float("inf")
    inv = LinearOperator(a.shape, matvec=lu.solve, rmatvec=lambda y: lu.solve(y, trans="T"),
                         dtype=float)
    return float(sp.linalg.norm(a, 1) * onenormest(inv))


def numerical_report(model: pyo.Block, net=None, stream: TextIO | None = None) -> NumericalFindings:
    """Print :func:`numerical_checks` in the layout of IDAES's reports; return the findings."""
    stream = stream or sys.stdout
    f = numerical_checks(model, net)
    line = "=" * 84
    stream.write(f"{line}\nNumerical checks ({f.n_variables} variables, {f.n_constraints} equations, "
                 f"network points evaluated in numpy)\n\n")
    cond = "-" if f.condition_number is None else (
        f"{f.condition_number:.4e} ({f.equilibrated_condition_number:.4e} equilibrated)")
    stream.write(f"    Largest residual: {f.max_residual:.3e}\n    Jacobian condition number: {cond}\n")
    for title, items in ((f"{len(f.warnings)} WARNINGS", f.warnings), (f"{len(f.cautions)} Cautions", f.cautions)):
        stream.write(f"\n{'-' * 84}\n{title}\n\n")
        for item in items or ["No numerical warnings found!" if "WARN" in title else "No cautions found!"]:
            stream.write(f"    {item}\n")
    stream.write(f"{line}\n")
    return f
