"""Solve any Pyomo model with real Ipopt + MUMPS through ``.nl`` evaluators.

No ``ipopt`` executable and no AMPL Solver Library are needed: the model is
written to ``.nl`` by Pyomo, POUNCE's reader (``pounce.read_nl``) evaluates it,
and cyipopt's Ipopt (``cyipopt-wheels``) solves it through callbacks. This is the
path IDAES's ``get_solver()`` uses after :func:`idaes_hybrid.solve.idaes_default.ensure_idaes_default_solver`
when no ``ipopt`` is on ``PATH``; the batched network path
(:mod:`idaes_hybrid.solve.batched`) is the same with network equations added.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
from pyomo.repn.plugins.nl_writer import NLWriter

import idaes.logger as idaeslog

from idaes_hybrid.solve.magnitude_scaling import magnitude_scaling as scale_by_magnitude
from idaes_hybrid.solve.magnitude_scaling import round_off_scaling
from idaes_hybrid.solve.solver import IPOPT_STATUS, SolveResult, SolveStatus

_log = idaeslog.getLogger(__name__)


class _NLProblem:
    """cyipopt's callback interface over a POUNCE ``.nl`` evaluator."""

    def __init__(self, nl, has_objective: bool):
        self.nl, self.has_obj = nl, has_objective
        self.iterations = 0

    def objective(self, x):
        return self.nl.objective(x) if self.has_obj else 0.0

    def gradient(self, x):
        return np.asarray(self.nl.gradient(x)) if self.has_obj else np.zeros(len(x))

    def constraints(self, x):
        return np.asarray(self.nl.constraints(x))

    def jacobianstructure(self):
        r, c = self.nl.jacobian_structure()
        return np.asarray(r, dtype=np.int64), np.asarray(c, dtype=np.int64)

    def jacobian(self, x):
        return np.asarray(self.nl.jacobian(x))

    def hessianstructure(self):
        r, c = self.nl.hessian_structure()
        return np.asarray(r, dtype=np.int64), np.asarray(c, dtype=np.int64)

    def hessian(self, x, lagrange, obj_factor):
        return np.asarray(self.nl.hessian(x, np.asarray(lagrange), obj_factor if self.has_obj else 0.0))

    def intermediate(self, alg_mod, iter_count, *args):
        self.iterations = int(iter_count)
        return True


def read_model_nl(model: pyo.Block):
    """Write the active part of ``model`` to ``.nl`` (unscaled, nothing presolved) and
    read it back with POUNCE: ``(evaluator, writer info)``; the info's ``variables`` and
    ``constraints`` give the column and row order."""
    import pounce

    with tempfile.TemporaryDirectory(prefix="idaes_hybrid_") as tmp:
        path = Path(tmp) / "model.nl"
        with open(path, "w") as f:
            info = NLWriter().write(model, f, linear_presolve=False, scale_model=False,
                                    skip_trivial_constraints=False)
        return pounce.read_nl(str(path)), info


def solve_nl(model: pyo.Block, options: dict | None = None, tee: bool = False,
             magnitude_scaling: bool = False) -> SolveResult:
    """Solve ``model`` (at most one active objective; none for a square system).

    Parameters
    ----------
    model
        Any Pyomo model or block.
    options
        Ipopt options (``tol``, ``max_iter``, ``hessian_approximation``, ...).
    tee
        Print Ipopt's iteration log.
    magnitude_scaling
        Scale every variable by the magnitude of its starting value
        (:func:`~idaes_hybrid.solve.magnitude_scaling.magnitude_scaling`), rows and
        objective by Ipopt's gradient-based rule in the scaled variables. Without it (and
        without an ``nlp_scaling_method`` in ``options``) Ipopt's own rule, with rows whose
        terms are too large for ``tol`` scaled down
        (:func:`~idaes_hybrid.solve.magnitude_scaling.round_off_scaling`).

    Returns
    -------
    SolveResult
        The point is loaded into the model when optimal, acceptable or at the
        iteration limit.
    """
    from idaes_hybrid.solve.ipopt_c import ipopt_problem_class

    start = time.perf_counter()
    objs = list(model.component_data_objects(pyo.Objective, active=True))
    nl, info = read_model_nl(model)
    variables = list(info.variables)
    if not variables:
        raise ValueError(f"{model.name}: no free variables to solve for")
    prob = _NLProblem(nl, bool(objs))
    problem = ipopt_problem_class()(n=len(variables), m=len(nl.g_l), problem_obj=prob,
                              lb=np.asarray(nl.x_l), ub=np.asarray(nl.x_u),
                              cl=np.asarray(nl.g_l), cu=np.asarray(nl.g_u))
    x0 = np.array([v.value if v.value is not None else 0.0 for v in variables], dtype=float)
    opts = {"print_level": 5 if tee else 0, "sb": "yes", **(options or {})}
    if magnitude_scaling:
        problem.set_problem_scaling(*scale_by_magnitude(prob, x0, len(nl.g_l)))
        opts["nlp_scaling_method"] = "user-scaling"
    elif "nlp_scaling_method" not in opts:
        capped = round_off_scaling(prob, x0, len(nl.g_l), float(opts.get("tol", 1e-8)))
        if capped is not None:
            problem.set_problem_scaling(*capped)
            opts["nlp_scaling_method"] = "user-scaling"
    for key, val in opts.items():
        problem.add_option(key, val)
    x, sol = problem.solve(x0)
    status = IPOPT_STATUS.get(int(sol["status"]), SolveStatus.FAILED)
    load = status in (SolveStatus.OPTIMAL, SolveStatus.ACCEPTABLE, SolveStatus.MAX_ITERATIONS)

    def load_point() -> None:
        for v, val in zip(variables, x):
            v.set_value(float(val), skip_validation=True)

    if load:
        load_point()
    msg = sol.get("status_msg", b"")
    msg = msg.decode() if isinstance(msg, bytes) else str(msg)
    wall = time.perf_counter() - start
    _log.debug(f"ipopt-mumps (.nl): {status.name} after {prob.iterations} iterations in {wall:.2f} s")
    return SolveResult(status, msg, prob.iterations, wall,
                       float(pyo.value(objs[0])) if load and objs else None, "ipopt-mumps-nl", "",
                       solver_time_s=wall, solution_loaded=load, load_last_point=None if load else load_point)
