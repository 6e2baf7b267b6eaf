"""Check Ipopt options before any work, against the Ipopt that will run them.

A ``[solver]`` table (and the other tables of Ipopt options) is handed to Ipopt
only after the smoother and pre-training; a misspelled name, a value of the
wrong type or a linear solver this Ipopt does not have would then fail late and
without naming the option. :func:`check_ipopt_options` asks Ipopt itself
(cyipopt, ``cyipopt-wheels``: Ipopt 3.14 with MUMPS) about every option, on a
one-variable problem, and raises :class:`SolverOptionError` naming the field::

    solver.max_iters: not an Ipopt option; did you mean 'max_iter'?
    solver.tol: expected a number, got 'abc'
    solver.max_iter: expected an integer >= 0, got -5
    solver.linear_solver: 'ma27' is not available in this Ipopt; available: 'mumps'

Where cyipopt is not installed the options are passed through unchecked.
"""

from __future__ import annotations

import ctypes
import difflib
import importlib.util
import re
import sys
from functools import lru_cache
from typing import Any, Mapping

import idaes.logger as idaeslog
import numpy as np

from idaes_hybrid.solve.fd_capture import captured_fd

_log = idaeslog.getLogger(__name__)

#: Ipopt's type names -> how a message describes an expected value.
_KIND = {"Number": "a number", "Real Number": "a number", "Integer": "an integer",
         "String": "a string"}
#: Ipopt return status "Invalid_Option" (e.g. a linear solver whose library is missing).
_INVALID_OPTION = -12


class SolverOptionError(ValueError):
    """An Ipopt option Ipopt refuses; the message starts with the option's field name."""


class _Quadratic:
    """min (x - 1)^2 on [-10, 10]: the smallest problem Ipopt accepts options for."""

    def objective(self, x):
        return float((x[0] - 1.0) ** 2)

    def gradient(self, x):
        return np.array([2.0 * (x[0] - 1.0)])

    def constraints(self, x):
        return np.zeros(0)

    def jacobianstructure(self):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)

    def jacobian(self, x):
        return np.zeros(0)

    def hessianstructure(self):
        return np.array([0], dtype=np.int64), np.array([0], dtype=np.int64)

    def hessian(self, x, lagrange, obj_factor):
        return np.array([2.0 * obj_factor])


def _problem(print_level: int = 0):
    from idaes_hybrid.solve.ipopt_c import ipopt_problem_class

    problem = ipopt_problem_class()(n=1, m=0, problem_obj=_Quadratic(), lb=[-10.0], ub=[10.0],
                                    cl=[], cu=[])
    problem.add_option("print_level", print_level)
    problem.add_option("sb", "yes")
    return problem


def _ipopt_refusal(key: str, value: Any) -> str | None:
    """Ipopt's message if it refuses ``key = value``, else None."""
    problem = _problem()
    with captured_fd(1) as out:
        try:
            problem.add_option(key, value)
            accepted = True
        except TypeError:
            accepted = False
    return None if accepted else out[0]


@lru_cache(maxsize=None)
def ipopt_option_names() -> tuple[str, ...]:
    """Every option name of the installed Ipopt (from its own documentation)."""
    problem = _problem(print_level=5)
    problem.add_option("print_options_documentation", "yes")
    with captured_fd(1) as out:
        problem.solve(np.array([0.0]))
    return tuple(sorted(set(re.findall(r"^([a-z][a-z0-9_]*)\s", out[0], re.M))))


def _loadable(*libraries: str) -> bool:
    for name in libraries:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def linear_solver_available(name: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether Ipopt can use the linear solver ``name``.

    MUMPS is tried on a one-variable problem; the HSL solvers (``ma27`` ... ``ma97``)
    and Pardiso need their shared library (``hsl_library``, ``pardisolib``), which is
    looked for without a solve (a solve with a missing one may crash Ipopt).
    """
    options = options or {}
    ext = {"darwin": ".dylib", "win32": ".dll"}.get(sys.platform, ".so")
    if name in ("ma27", "ma57", "ma77", "ma86", "ma97"):
        return _loadable(*([str(options["hsl_library"])] if "hsl_library" in options
                           else [f"libhsl{ext}", f"libcoinhsl{ext}"]))
    if name == "pardiso":
        return _loadable(str(options.get("pardisolib", f"libpardiso{ext}")))
    return name == "mumps" and _mumps_available()


@lru_cache(maxsize=None)
def _mumps_available() -> bool:
    problem = _problem()
    with captured_fd(1):
        problem.add_option("linear_solver", "mumps")
        _, info = problem.solve(np.array([0.0]))
    return int(info["status"]) != _INVALID_OPTION


def _expected(message: str) -> str:
    """What Ipopt's documentation block in ``message`` allows, in words."""
    kind = re.search(r"###\s+\S+\s+\(([\w ]+)\)", message)
    kind_text = _KIND.get(kind.group(1) if kind else "", "a valid value")
    settings = re.findall(r"^\t(\S+)", message, re.M)
    if settings:
        return "one of " + ", ".join(repr(s) for s in settings)
    bounds = re.search(r"^\s*(\S+)\s+(<=?)\s+\(.*\)\s+(<=?)\s+(\S+)\s*$", message, re.M)
    parts = []
    if bounds:
        lower, lower_op, upper_op, upper = bounds.groups()
        if lower != "-inf":
            parts.append(f"{'>=' if lower_op == '<=' else '>'} {lower}")
        if upper != "+inf":
            parts.append(f"{upper_op} {upper}")
    return kind_text + (" " + " and ".join(parts) if parts else "")


def _check_one(key: str, value: Any, field: str) -> Any:
    """``value`` as Ipopt takes it (an integer given for a real option becomes a float)."""
    message = _ipopt_refusal(key, value)
    if message is None:
        return value
    if "not a valid option" in message:
        close = difflib.get_close_matches(key, ipopt_option_names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else \
            " (see Ipopt's option list: https://coin-or.github.io/Ipopt/OPTIONS.html)"
        raise SolverOptionError(f"{field}: not an Ipopt option{hint}")
    wrong_type = re.search(r"of type\s+(\w+), not of type", message)
    if wrong_type and wrong_type.group(1) == "Number" and isinstance(value, int):
        return _check_one(key, float(value), field)
    if wrong_type:
        raise SolverOptionError(f"{field}: expected {_KIND.get(wrong_type.group(1), 'another type')}, "
                                f"got {value!r}")
    raise SolverOptionError(f"{field}: expected {_expected(message)}, got {value!r}")


def check_ipopt_options(options: Mapping[str, Any], prefix: str = "solver") -> dict[str, Any]:
    """Check Ipopt options with the installed Ipopt before any work.

    Parameters
    ----------
    options : Mapping[str, Any]
        Option names and values (strings or numbers), e.g. a ``[solver]`` table.
    prefix : str
        Field name of the table, for messages (``solver`` -> ``solver.tol``).

    Returns
    -------
    dict[str, Any]
        The options as Ipopt takes them: integers given for real options become floats.

    Raises
    ------
    SolverOptionError
        An unknown option (with the closest name), a value of the wrong type or out of
        range, or a linear solver this Ipopt cannot load.
    """
    if importlib.util.find_spec("cyipopt") is None:  # found, not imported (scipy.optimize with it)
        _log.debug("cyipopt not installed: Ipopt options are not checked before the run")
        return dict(options)
    checked = {}
    for key, value in options.items():
        field = f"{prefix}.{key}"
        checked[key] = _check_one(str(key), value, field)
        if key == "linear_solver" and not linear_solver_available(str(value), options):
            known = re.findall(r"^\t(\S+)", _ipopt_refusal("linear_solver", "?") or "", re.M)
            available = [s for s in known if linear_solver_available(s, options)]
            raise SolverOptionError(
                f"{field}: {value!r} is not available in this Ipopt; available: "
                + ", ".join(repr(s) for s in available))
    return checked
