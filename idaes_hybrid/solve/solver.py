"""The NLP solver every part of idaes-hybrid uses: a real Ipopt, else POUNCE (``pounce-solver``).

Both run through Pyomo's AMPL (.nl/.sol) interface;
:func:`idaes_hybrid.solve.idaes_default.configure_idaes_default_solver` makes
``idaes.core.solvers.get_solver()`` use the same solver.
"""

from __future__ import annotations

import enum
import importlib.util
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, NamedTuple

import idaes.logger as idaeslog
import pyomo.environ as pyo
from pyomo.common.collections import Bunch
from pyomo.common.config import ConfigDict
from pyomo.common.errors import ApplicationError
from pyomo.common.log import LoggingIntercept, LogStream
from pyomo.common.tee import capture_output
from pyomo.opt import SolverFactory, SolverStatus, TerminationCondition as TC
from pyomo.opt.base.solvers import _extract_version
from pyomo.solvers.plugins.solvers.ASL import ASL

_log = idaeslog.getLogger(__name__)

#: Name of the Pyomo ``SolverFactory`` plugin (and of IDAES's default solver once configured).
PLUGIN_NAME = "idaes_hybrid_nlp"
# Per-backend default options, under the constructor's and the call's. POUNCE's "auto" sends
# LPs and convex QCQPs to conic solvers; "nlp" keeps Ipopt's algorithm for every model.
_BACKEND_DEFAULTS: dict[str, dict[str, Any]] = {"pounce": {"solver_selection": "nlp"}, "ipopt": {}}
_POUNCE_REJECTS = frozenset({"halt_on_ampl_error", "wantsol"})  # Ipopt AMPL-driver options
_POUNCE_LINEAR_SOLVERS = frozenset({"feral", "ma57"})  # others make POUNCE exit with code 2
_INSTALL_HINT = ("Install POUNCE with `pip install pounce-solver` (no PATH setup needed), or Ipopt "
                 "with `idaes get-extensions` (IDAES puts its bin directory on PATH when imported).")


class SolverChoice(str, enum.Enum):
    """Which NLP solver :func:`get_nlp_solver` may return: ``AUTO`` takes an ``ipopt``
    executable if one is on PATH and POUNCE otherwise; ``IPOPT`` and ``POUNCE`` insist on one."""

    AUTO = "auto"
    IPOPT = "ipopt"
    POUNCE = "pounce"


class SolveStatus(enum.Enum):
    """Outcome of :meth:`NLPSolver.solve`."""

    OPTIMAL = "optimal"
    ACCEPTABLE = "acceptable"
    MAX_ITERATIONS = "max_iterations"  # any limit: max_iter, max_cpu_time, max_wall_time
    INFEASIBLE = "infeasible"
    FAILED = "failed"


#: Ipopt return codes (cyipopt's ``info["status"]``) -> our status; 6 (Feasible_Point_Found)
#: is a square system solved by the restoration phase.
IPOPT_STATUS = {0: SolveStatus.OPTIMAL, 1: SolveStatus.ACCEPTABLE, 6: SolveStatus.ACCEPTABLE,
                -1: SolveStatus.MAX_ITERATIONS, -4: SolveStatus.MAX_ITERATIONS,
                -5: SolveStatus.MAX_ITERATIONS, 2: SolveStatus.INFEASIBLE}


class SolverNotFoundError(RuntimeError):
    """Neither a real Ipopt nor POUNCE could be found."""


class SolverFailedError(RuntimeError):
    """A solve ended without an optimal or acceptable point; ``.result`` is its :class:`SolveResult`."""

    def __init__(self, message: str, result: SolveResult):
        super().__init__(message)
        self.result = result


class SolverCrashError(RuntimeError):
    """The solver process failed (non-zero exit, no .sol file); has ``solver_path``, ``log_tail``."""

    def __init__(self, message: str, solver_path: str, log_tail: str):
        super().__init__(message)
        self.solver_path, self.log_tail = solver_path, log_tail


@dataclass
class SolveResult:
    """What one :meth:`NLPSolver.solve` call did (``log``: the full solver output).

    Attributes
    ----------
    iterations : int or None
        Iterations from the log, summed over all passes (POUNCE may re-solve).
    wall_time_s, solver_time_s : float
        Wall time of the call; the log's "Total seconds in IPOPT/POUNCE" (or None).
    objective : float or None
        Active objective at the loaded point; None if nothing was loaded. A point is
        loaded if optimal, acceptable, or a limit stop within ``constr_viol_tol`` (1e-4).
    constraint_violation : float or None
        Largest violation of the NLP's constraints at the solver's final iterate, in the
        solver's unscaled terms (``None``: not reported by this solver path).
    """

    status: SolveStatus
    termination_message: str
    iterations: int | None
    wall_time_s: float
    objective: float | None
    solver_name: str
    log: str = field(repr=False)
    solver_time_s: float | None = None
    solution_loaded: bool = False
    #: Loads the solver's final iterate into the model when it was not loaded (a failed
    #: solve), e.g. to say which equations and bounds it ended on; ``None``: not available.
    load_last_point: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    constraint_violation: float | None = None
    #: Loads the feasible iterate of lowest objective the solve passed through, when it
    #: failed (restoration failed, step computation error) after such a point; ``None``: none
    #: tracked. A solve can be started again from it.
    load_best_feasible: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True for an optimal or acceptable solve."""
        return self.status in (SolveStatus.OPTIMAL, SolveStatus.ACCEPTABLE)

    def raise_if_failed(self, context: str) -> SolveResult:
        """Raise :class:`SolverFailedError`, message prefixed by ``context``, unless ok; else self."""
        if not self.ok:
            raise SolverFailedError(
                f"{context}: {self.solver_name} ended with status {self.status.name} after "
                f"{self.iterations} iterations: {self.termination_message}", self)
        return self


class Backend(NamedTuple):
    """The NLP solver found: its kind and executable."""

    name: str  # "ipopt" or "pounce"
    path: str


@lru_cache(maxsize=None)
def _version_output(path: str) -> str:
    """``<path> --version`` output ('' on failure), cached per executable."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _find_ipopt() -> str | None:
    """A real Ipopt on PATH, or None (a POUNCE installed as ``ipopt`` does not count)."""
    path = shutil.which("ipopt")
    return None if path and "pounce" in _version_output(path).lower() else path


def _find_pounce() -> str | None:
    """POUNCE in the running environment, else on PATH, else None. The package's own binary
    comes first: the console script beside ``sys.executable`` execs it after a ~1 s start-up."""
    exe = "pounce.exe" if sys.platform == "win32" else "pounce"
    spec = importlib.util.find_spec("pounce")
    candidates = [Path(d) / "bin" / exe for d in (spec.submodule_search_locations or [])] if spec else []
    for path in [*candidates, Path(sys.executable).parent / exe]:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which("pounce")


def discover_backend(choice: SolverChoice | str | None) -> Backend:
    choice = SolverChoice(str(choice or os.environ.get("IDAES_HYBRID_SOLVER") or "auto").lower()
                          if not isinstance(choice, SolverChoice) else choice)
    looked = []
    if choice in (SolverChoice.AUTO, SolverChoice.IPOPT):
        if path := _find_ipopt():
            return Backend("ipopt", path)
        looked.append("a real `ipopt` on PATH (one whose `--version` does not name POUNCE)")
    if choice in (SolverChoice.AUTO, SolverChoice.POUNCE):
        if path := _find_pounce():
            return Backend("pounce", path)
        looked.append(f"POUNCE in the `pounce` package of {sys.executable}, "
                      f"{Path(sys.executable).parent / 'pounce'}, and `pounce` on PATH")
    raise SolverNotFoundError(f"No NLP solver found for solver={choice.value!r}. Looked for: "
                              + "; ".join(looked) + ". " + _INSTALL_HINT)


def _filter_options(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """Backend defaults under ``options``, minus options the backend would reject."""
    merged = {**_BACKEND_DEFAULTS[backend], **options}
    for key, value in list(merged.items()):
        if backend == "pounce":  # its linear solvers are feral and ma57
            drop = key in _POUNCE_REJECTS or (
                key == "linear_solver" and str(value).lower() not in _POUNCE_LINEAR_SOLVERS)
        else:  # POUNCE-only options
            drop = key == "solver_selection" or key.startswith("feral_")
        if drop:
            del merged[key]
            log = _log.warning if key in options else _log.debug
            log(f"Ignoring option {key}={value!r}: {backend} rejects it")
    return merged


@SolverFactory.register(PLUGIN_NAME, doc="idaes-hybrid NLP solver (Ipopt, else POUNCE)")
class HybridNLPPlugin(ASL):
    """Pyomo plugin ``"idaes_hybrid_nlp"``: Ipopt or POUNCE via ASL. Takes IDAES's ``options`` and
    ``writer_config`` (whose ``scale_model``/``linear_presolve`` legacy .nl interfaces ignore)."""

    #: Backend of new instances, set by :func:`configure_idaes_default_solver`; None: discover.
    configured_backend: Backend | None = None

    def __init__(self, **kwds: Any):
        writer_config = dict(kwds.pop("writer_config", None) or {})
        self.backend = kwds.pop("backend", None) or self.configured_backend or discover_backend(None)
        kwds.setdefault("type", PLUGIN_NAME)
        super().__init__(**kwds)
        self.config = ConfigDict()
        self.config.declare("writer_config", ConfigDict(implicit=True)).set_value(writer_config)
        self.options.solver = self.backend.name
        self.set_executable(self.backend.path, validate=False)

    def _get_version(self):
        return _extract_version(_version_output(self.backend.path)) or (0, 0, 0)

    def _presolve(self, *args, **kwds):
        user = {k: v for k, v in self.options.items() if k != "solver"}
        self.options = Bunch(solver=self.backend.name, **_filter_options(self.backend.name, user))
        super()._presolve(*args, **kwds)


def _parse_log(log: str) -> tuple[int | None, float | None, float | None]:
    """Iterations, solver seconds, last unscaled constraint violation."""
    _NUM = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    iters = [int(n) for n in re.findall(r"Number of Iterations\.*:\s*(\d+)", log)]
    secs = [float(s) for s in
            re.findall(r"Total (?:CPU )?sec(?:ond)?s in (?:IPOPT|POUNCE)[^=\n]*=\s*" + _NUM, log)]
    viol = re.findall(rf"Constraint violation\.*:\s*{_NUM}\s+{_NUM}", log)
    return sum(iters) if iters else None, sum(secs) if secs else None, float(viol[-1][1]) if viol else None


def _classify(results: Any, log: str) -> SolveStatus:
    tc = results.solver.termination_condition
    message = " ".join([str(results.solver.message), *re.findall(r"^EXIT:.*$", log, re.M)[-1:]])
    if tc in (TC.optimal, TC.locallyOptimal, TC.globallyOptimal):  # .sol codes 100-199 give a warning
        acceptable = "acceptable" in message.lower() or results.solver.status == SolverStatus.warning
        return SolveStatus.ACCEPTABLE if acceptable else SolveStatus.OPTIMAL
    if tc in (TC.maxIterations, TC.maxTimeLimit, TC.maxEvaluations):
        return SolveStatus.MAX_ITERATIONS
    if tc is TC.infeasible:
        return SolveStatus.INFEASIBLE
    return SolveStatus.FAILED


@dataclass
class NLPSolver:
    """An Ipopt-compatible NLP solver executable with default options.

    Parameters
    ----------
    name : {"ipopt", "pounce"}
    executable : str
    options : dict, optional
        Ipopt-style options for every solve.
    """

    name: str
    executable: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in _BACKEND_DEFAULTS:
            raise ValueError(f"NLPSolver name must be 'ipopt' or 'pounce', not {self.name!r}")
        self.executable, self.options = str(self.executable), dict(self.options or {})

    def solve(self, model: pyo.Block, tee: bool = False, options: dict[str, Any] | None = None,
              logger: logging.Logger | None = None) -> SolveResult:
        """Solve ``model``; load the point only if it is optimal, acceptable or feasible.

        Parameters
        ----------
        model : pyomo Block
        tee : bool
            Echo solver output as it runs: to ``logger`` at INFO if given, else stdout.
        options : dict, optional
            Ipopt-style options for this call (over the constructor's).
        logger : logging.Logger, optional
            Gets the echoed output and a one-line summary.

        Returns
        -------
        SolveResult
            Raises :class:`SolverCrashError` instead if the solver process fails.
        """
        opts = {**self.options, **(options or {})}
        opt = HybridNLPPlugin(backend=Backend(self.name, self.executable))
        buf = io.StringIO()
        echo = (LogStream(logging.INFO, logger) if logger else sys.stdout) if tee else None
        start = time.perf_counter()
        try:  # Pyomo's own errors go to the log too, so a crash report holds everything
            with capture_output([buf, echo] if echo else buf), LoggingIntercept(buf, "pyomo.opt"):
                results = opt.solve(model, tee=True, load_solutions=False, options=opts)
                if echo is not None:
                    echo.flush()
        except (ApplicationError, OSError, ValueError) as err:
            rc = getattr(opt, "_rc", None)
            if isinstance(err, ValueError) and rc is None:
                raise  # a model error raised before the solver ran (e.g. no variables)
            tail = "\n".join((buf.getvalue() or getattr(opt, "_log", "")).rstrip().splitlines()[-20:])
            raise SolverCrashError(
                f"{self.name} solver process failed (exit code {rc}; {type(err).__name__}: {err}); "
                f"executable: {self.executable}\nLast lines of solver output:\n{tail}",
                self.executable, tail) from err
        wall = time.perf_counter() - start
        log = buf.getvalue()
        iterations, solver_time, violation = _parse_log(log)
        status = _classify(results, log)
        feasible = violation is not None and violation <= float(opts.get("constr_viol_tol", 1e-4))
        load = len(results.solution) > 0 and (
            status in (SolveStatus.OPTIMAL, SolveStatus.ACCEPTABLE)
            or (status is SolveStatus.MAX_ITERATIONS and feasible))
        if load:
            with LoggingIntercept(io.StringIO(), "pyomo.core"):  # "warning status" noise
                model.solutions.load_from(results)
        objs = list(model.component_data_objects(pyo.Objective, active=True))
        result = SolveResult(
            status, str(results.solver.message or "").replace("\\x3a", ":"), iterations, wall,
            float(pyo.value(objs[0])) if load and len(objs) == 1 else None, self.name, log,
            solver_time_s=solver_time, solution_loaded=load)
        (logger.info if logger else _log.debug)(
            f"{self.name}: {status.name} after {iterations} iterations in {wall:.3f} s "
            f"({result.termination_message})")
        return result


def get_nlp_solver(options: dict[str, Any] | None = None,
                   solver: SolverChoice | str | None = None) -> NLPSolver:
    """Return the NLP solver idaes-hybrid uses: a real Ipopt, else POUNCE.

    Parameters
    ----------
    options : dict, optional
        Ipopt-style options (``tol``, ``max_iter``, ``hessian_approximation``...) for every solve.
    solver : SolverChoice or str, optional
        ``"auto"`` (default, or the ``IDAES_HYBRID_SOLVER`` environment variable) prefers a
        real ``ipopt`` on PATH and falls back to POUNCE; ``"ipopt"`` or ``"pounce"`` require it.

    Returns
    -------
    NLPSolver
        Raises :class:`SolverNotFoundError`, saying where it looked, if none is found.
    """
    backend = discover_backend(solver)
    return NLPSolver(backend.name, backend.path, options or {})
