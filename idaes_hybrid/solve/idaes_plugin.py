"""Pyomo solver plugin ``"idaes_hybrid_ipopt"``: real Ipopt + MUMPS without an executable.

IDAES's ``get_solver()``, unit ``initialize()`` methods and Initializer classes ask
Pyomo's ``SolverFactory`` for a solver. Where no ``ipopt`` executable exists (a
pip-only machine), :func:`idaes_hybrid.solve.idaes_default.configure_idaes_default_solver`
points IDAES at this plugin: it writes the model to ``.nl``, evaluates it with
POUNCE's reader and solves it with cyipopt's Ipopt 3.14 + MUMPS
(:func:`idaes_hybrid.solve.nl_solve.solve_nl`), returning ordinary Pyomo results.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pyomo.environ as pyo
from pyomo.common.collections import Bunch
from pyomo.common.config import ConfigDict
from pyomo.opt import SolverFactory, SolverResults, SolverStatus, TerminationCondition as TC

from idaes_hybrid.solve.solver import SolveStatus

#: SolverFactory name of the plugin.
CYIPOPT_PLUGIN_NAME = "idaes_hybrid_ipopt"

_CONDITIONS = {
    SolveStatus.OPTIMAL: (SolverStatus.ok, TC.optimal),
    SolveStatus.ACCEPTABLE: (SolverStatus.ok, TC.optimal),
    SolveStatus.MAX_ITERATIONS: (SolverStatus.warning, TC.maxIterations),
    SolveStatus.INFEASIBLE: (SolverStatus.warning, TC.infeasible),
}
#: Options of Ipopt's AMPL driver that the callback interface does not take.
_DRIVER_ONLY = frozenset({"halt_on_ampl_error", "wantsol", "solver", "option_file_name"})


def cyipopt_available() -> bool:
    """Whether cyipopt (``cyipopt-wheels``) and POUNCE's ``.nl`` reader are installed (found,
    not imported: importing cyipopt pulls in scipy.stats, a second of start-up)."""
    return all(importlib.util.find_spec(name) is not None for name in ("cyipopt", "pounce"))


@SolverFactory.register(CYIPOPT_PLUGIN_NAME, doc="Ipopt + MUMPS via cyipopt on .nl evaluators")
class CyIpoptNLPlugin:
    """A legacy-style Pyomo solver: ``solve(model, tee=..., options=...)`` -> ``SolverResults``."""

    def __init__(self, **kwds: Any):
        self.options = Bunch(**dict(kwds.pop("options", None) or {}))
        self.config = ConfigDict()
        self.config.declare("writer_config", ConfigDict(implicit=True)).set_value(
            dict(kwds.pop("writer_config", None) or {}))
        self.name = CYIPOPT_PLUGIN_NAME

    def available(self, exception_flag: bool = True) -> bool:
        """True when cyipopt and POUNCE are installed."""
        ok = cyipopt_available()
        if not ok and exception_flag:
            raise RuntimeError(f"{CYIPOPT_PLUGIN_NAME}: install cyipopt-wheels and pounce-solver")
        return ok

    def license_is_valid(self) -> bool:
        return True

    def version(self) -> tuple[int, int, int]:
        return (3, 14, 0)

    def warm_start_capable(self) -> bool:
        return False

    def __enter__(self):
        return self

    def __exit__(self, *args) -> None:
        return None

    def solve(self, model: pyo.Block, tee: bool = False, load_solutions: bool = True,
              options: dict | None = None, **kwds: Any) -> SolverResults:
        """Solve ``model``; the point is loaded when Ipopt ends optimal, acceptable or at
        its iteration limit. Returns results with IDAES's usual termination conditions."""
        from idaes_hybrid.solve.nl_solve import solve_nl

        opts = {k: v for k, v in {**dict(self.options), **dict(options or {})}.items()
                if k not in _DRIVER_ONLY}
        if str(opts.get("linear_solver", "mumps")).lower() != "mumps":  # IDAES asks for HSL's ma57
            opts.pop("linear_solver")
        res = solve_nl(model, opts, tee=tee)
        results = SolverResults()
        status, condition = _CONDITIONS.get(res.status, (SolverStatus.error, TC.error))
        results.solver.status = status
        results.solver.termination_condition = condition
        results.solver.message = res.termination_message
        results.solver.name = "ipopt (cyipopt, .nl evaluators)"
        results.solver.wallclock_time = res.wall_time_s
        results.solver.iterations = res.iterations
        return results
