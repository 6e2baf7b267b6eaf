"""Ipopt's C interface, called through ``ctypes``, with numpy buffers.

The package's callback solves (the batched training NLP, the ``.nl`` solves, the
decomposition's inner problems, single blocks of a march) run the Ipopt 3.14 + MUMPS
library that ``cyipopt-wheels`` ships. cyipopt's own wrapper copies every value a
callback returns into Ipopt's array one Python object at a time: about 70 ns a value,
so 40 ms per Hessian of the bioreactor's training NLP (541,676 nonzeros; measured
2026-12-04), a tenth of an exact-Hessian iteration. :class:`IpoptProblem` calls the
same library through its C interface (``IpStdCInterface.h``) and copies each array at
once. It offers the part of ``cyipopt.Problem``'s interface the package uses, with the
same meaning: ``add_option``, ``set_problem_scaling``, ``solve(x0, lagrange, zl, zu)``
returning ``(x, info)`` and ``get_current_iterate`` inside the intermediate callback.
:func:`ipopt_problem_class` gives it, or ``cyipopt.Problem`` where the library file is
not found.

The problem object has cyipopt's callbacks: ``objective``, ``gradient``,
``constraints``, ``jacobianstructure``, ``jacobian``, ``hessianstructure``, ``hessian``
and, optionally, ``intermediate``. An exception raised in a callback stops the solve
and is raised again by :meth:`IpoptProblem.solve`.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import signal
import threading
import weakref
from ctypes import POINTER, c_bool, c_char_p, c_double, c_int, c_void_p
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_DP, _IP = POINTER(c_double), POINTER(c_int)
_EVAL_F = ctypes.CFUNCTYPE(c_bool, c_int, _DP, c_bool, _DP, c_void_p)
_EVAL_G = ctypes.CFUNCTYPE(c_bool, c_int, _DP, c_bool, c_int, _DP, c_void_p)
_EVAL_JAC = ctypes.CFUNCTYPE(c_bool, c_int, _DP, c_bool, c_int, c_int, _IP, _IP, _DP, c_void_p)
_EVAL_H = ctypes.CFUNCTYPE(c_bool, c_int, _DP, c_bool, c_double, c_int, _DP, c_bool, c_int, _IP, _IP,
                           _DP, c_void_p)
_INTERMEDIATE = ctypes.CFUNCTYPE(c_bool, c_int, c_int, c_double, c_double, c_double, c_double,
                                 c_double, c_double, c_double, c_double, c_int, c_void_p)

#: Ipopt's ApplicationReturnStatus codes and what they mean.
STATUS_MESSAGES = {
    0: "Solve_Succeeded: optimal solution found",
    1: "Solved_To_Acceptable_Level: solved to the acceptable tolerances",
    2: "Infeasible_Problem_Detected: the problem appears locally infeasible",
    3: "Search_Direction_Becomes_Too_Small: the search direction became too small",
    4: "Diverging_Iterates: the iterates diverge",
    5: "User_Requested_Stop: stopped by the intermediate callback",
    6: "Feasible_Point_Found: a feasible point was found",
    -1: "Maximum_Iterations_Exceeded: the iteration limit was reached",
    -2: "Restoration_Failed: the restoration phase failed",
    -3: "Error_In_Step_Computation: error in the step computation",
    -4: "Maximum_CpuTime_Exceeded: the CPU time limit was reached",
    -5: "Maximum_WallTime_Exceeded: the wall time limit was reached",
    -10: "Not_Enough_Degrees_Of_Freedom: too few degrees of freedom",
    -11: "Invalid_Problem_Definition: invalid problem definition",
    -12: "Invalid_Option: an option is invalid",
    -13: "Invalid_Number_Detected: a callback returned NaN or Inf",
    -100: "Unrecoverable_Exception: unrecoverable exception",
    -101: "NonIpopt_Exception_Thrown: an exception was thrown",
    -102: "Insufficient_Memory: not enough memory",
    -199: "Internal_Error: Ipopt internal error",
}


class IpoptOptionError(TypeError):
    """Ipopt refused an option (a ``TypeError``, as ``cyipopt.Problem.add_option`` raises)."""


def ipopt_library_path() -> Path | None:
    """The Ipopt shared library of ``cyipopt-wheels`` (``cyipopt_wheels.libs/libipopt-*``),
    or None when it is not installed that way."""
    spec = importlib.util.find_spec("cyipopt")
    if spec is None or not spec.submodule_search_locations:
        return None
    libs = Path(list(spec.submodule_search_locations)[0]).parent / "cyipopt_wheels.libs"
    found = sorted(libs.glob("libipopt*.so*")) if libs.is_dir() else []
    return found[0] if found else None


def _load_beside(path: Path) -> ctypes.CDLL:
    """Load ``path`` after the libraries beside it that it needs (the wheel's copies of
    MUMPS, OpenBLAS and the Fortran run-time carry no search path of their own: the
    extension module does). A library loaded once is found by its name afterwards."""
    pending = [p for p in sorted(path.parent.glob("*.so*")) if p != path]
    for _ in range(len(pending)):
        failed = []
        for lib in pending:
            try:
                ctypes.CDLL(str(lib))
            except OSError:
                failed.append(lib)
        if len(failed) == len(pending):
            break
        pending = failed
    return ctypes.CDLL(str(path))


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    path = ipopt_library_path()
    if path is None:
        return None
    try:
        lib = _load_beside(path)
    except OSError:
        return None
    lib.CreateIpoptProblem.restype = c_void_p
    lib.CreateIpoptProblem.argtypes = [c_int, _DP, _DP, c_int, _DP, _DP, c_int, c_int, c_int,
                                       _EVAL_F, _EVAL_G, _EVAL_F, _EVAL_JAC, _EVAL_H]
    lib.FreeIpoptProblem.argtypes = [c_void_p]
    lib.AddIpoptStrOption.argtypes = [c_void_p, c_char_p, c_char_p]
    lib.AddIpoptNumOption.argtypes = [c_void_p, c_char_p, c_double]
    lib.AddIpoptIntOption.argtypes = [c_void_p, c_char_p, c_int]
    for name in ("AddIpoptStrOption", "AddIpoptNumOption", "AddIpoptIntOption",
                 "SetIpoptProblemScaling", "SetIntermediateCallback", "GetIpoptCurrentIterate"):
        getattr(lib, name).restype = c_bool
    lib.SetIpoptProblemScaling.argtypes = [c_void_p, c_double, _DP, _DP]
    lib.SetIntermediateCallback.argtypes = [c_void_p, _INTERMEDIATE]
    lib.IpoptSolve.restype = c_int
    lib.IpoptSolve.argtypes = [c_void_p, _DP, _DP, _DP, _DP, _DP, _DP, c_void_p]
    lib.GetIpoptCurrentIterate.argtypes = [c_void_p, c_bool, c_int, _DP, _DP, _DP, c_int, _DP, _DP]
    return lib


def ipopt_problem_class() -> type:
    """:class:`IpoptProblem` when Ipopt's library file is found, else ``cyipopt.Problem``."""
    if _library() is not None:
        return IpoptProblem
    import cyipopt

    return cyipopt.Problem


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(_DP)


def _view(ptr, n: int) -> np.ndarray:
    return np.ctypeslib.as_array(ptr, shape=(n,)) if n else np.zeros(0)


def _vector(values, n: int, name: str) -> np.ndarray:
    out = np.ascontiguousarray(values if values is not None else np.zeros(n), dtype=float).ravel()
    if out.size != n:
        raise ValueError(f"IpoptProblem: {name} has {out.size} entries, expected {n}")
    return out


class IpoptProblem:
    """An NLP for Ipopt's C interface: ``cyipopt.Problem``'s interface, arrays copied whole.

    Parameters
    ----------
    n, m : int
        Numbers of variables and constraints.
    problem_obj : object
        The callbacks (see the module docstring).
    lb, ub : array_like
        Variable bounds (``+-1e19`` or beyond: none), length ``n``.
    cl, cu : array_like
        Constraint bounds, length ``m``.
    """

    def __init__(self, n: int, m: int, problem_obj: Any, lb=None, ub=None, cl=None, cu=None) -> None:
        lib = _library()
        if lib is None:
            raise RuntimeError("IpoptProblem: Ipopt's library (cyipopt-wheels) was not found")
        self._lib, self.n, self.m, self._obj = lib, int(n), int(m), problem_obj
        self._lb, self._ub = _vector(lb, self.n, "lb"), _vector(ub, self.n, "ub")
        self._cl, self._cu = _vector(cl, self.m, "cl"), _vector(cu, self.m, "cu")
        jr, jc = _structure(problem_obj, "jacobianstructure",
                            lambda: np.divmod(np.arange(self.m * self.n), self.n))
        hr, hc = _structure(problem_obj, "hessianstructure", lambda: np.tril_indices(self.n))
        self._jac = (np.asarray(jr, dtype=np.int32), np.asarray(jc, dtype=np.int32))
        self._hess = (np.asarray(hr, dtype=np.int32), np.asarray(hc, dtype=np.int32))
        self._error: BaseException | None = None
        # the callbacks reach this object through a weak reference: no reference cycle, so Ipopt's
        # memory (MUMPS's factors) is freed as soon as the problem is dropped, not at a later
        # garbage collection
        me = weakref.ref(self)
        self._callbacks = tuple(kind(_forward(me, name)) for kind, name in (
            (_EVAL_F, "_eval_f"), (_EVAL_G, "_eval_g"), (_EVAL_F, "_eval_grad_f"), (_EVAL_JAC, "_eval_jac"),
            (_EVAL_H, "_eval_h"), (_INTERMEDIATE, "_intermediate")))
        self._handle = lib.CreateIpoptProblem(
            self.n, _ptr(self._lb), _ptr(self._ub), self.m, _ptr(self._cl), _ptr(self._cu),
            len(self._jac[0]), len(self._hess[0]), 0, *self._callbacks[:5])
        if not self._handle:
            raise ValueError("IpoptProblem: Ipopt refused the problem definition (sizes or bounds)")
        lib.SetIntermediateCallback(self._handle, self._callbacks[5])

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._lib.FreeIpoptProblem(handle)

    # ------------------------------------------------------------------ set-up
    def add_option(self, key: str | bytes, value: Any) -> None:
        """Set an Ipopt option; :class:`IpoptOptionError` if Ipopt refuses it (its reason
        is printed by Ipopt on the standard output)."""
        name = key.encode() if isinstance(key, str) else bytes(key)
        if isinstance(value, (str, bytes)):
            ok = self._lib.AddIpoptStrOption(self._handle, name,
                                              value.encode() if isinstance(value, str) else value)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            ok = self._lib.AddIpoptIntOption(self._handle, name, int(value))
        elif isinstance(value, (float, np.floating)):
            ok = self._lib.AddIpoptNumOption(self._handle, name, float(value))
        else:
            raise IpoptOptionError(f"Ipopt option {name.decode()}: a {type(value).__name__} value "
                                   "(expected a string, an integer or a number)")
        if not ok:
            raise IpoptOptionError(f"Error while assigning an option: {name.decode()} = {value!r}")

    def set_problem_scaling(self, obj_scaling: float = 1.0, x_scaling=None, g_scaling=None) -> None:
        """Ipopt's user scaling (used with ``nlp_scaling_method = user-scaling``)."""
        self._x_scale = None if x_scaling is None else _vector(x_scaling, self.n, "x_scaling")
        self._g_scale = None if g_scaling is None else _vector(g_scaling, self.m, "g_scaling")
        self._lib.SetIpoptProblemScaling(
            self._handle, float(obj_scaling),
            None if self._x_scale is None else _ptr(self._x_scale),
            None if self._g_scale is None else _ptr(self._g_scale))

    # ------------------------------------------------------------------ solve
    def solve(self, x, lagrange=None, zl=None, zu=None) -> tuple[np.ndarray, dict]:
        """Solve from ``x`` (multipliers ``lagrange``, ``zl``, ``zu`` for a warm start).

        Returns
        -------
        (numpy.ndarray, dict)
            The final point and ``info``: ``x``, ``g``, ``obj_val``, ``mult_g``,
            ``mult_x_L``, ``mult_x_U``, ``status`` (Ipopt's return code) and ``status_msg``.
        """
        xs = _vector(x, self.n, "x").copy()
        g, obj = np.zeros(self.m), c_double(0.0)
        lam, z_l, z_u = (_vector(lagrange, self.m, "lagrange").copy(), _vector(zl, self.n, "zl").copy(),
                         _vector(zu, self.n, "zu").copy())
        self._error = None
        with _interrupts_at_iterations(self):
            status = self._lib.IpoptSolve(self._handle, _ptr(xs), _ptr(g), ctypes.byref(obj), _ptr(lam),
                                          _ptr(z_l), _ptr(z_u), None)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        info = {"x": xs, "g": g, "obj_val": obj.value, "mult_g": lam, "mult_x_L": z_l, "mult_x_U": z_u,
                "status": int(status),
                "status_msg": STATUS_MESSAGES.get(int(status), f"Ipopt status {status}").encode()}
        return xs, info

    def get_current_iterate(self, scaled: bool = False) -> dict | None:
        """The current iterate (inside the intermediate callback), or None outside it."""
        x, z_l, z_u = np.zeros(self.n), np.zeros(self.n), np.zeros(self.n)
        g, lam = np.zeros(self.m), np.zeros(self.m)
        if not self._lib.GetIpoptCurrentIterate(self._handle, bool(scaled), self.n, _ptr(x), _ptr(z_l),
                                                _ptr(z_u), self.m, _ptr(g), _ptr(lam)):
            return None
        return {"x": x, "mult_x_L": z_l, "mult_x_U": z_u, "g": g, "mult_g": lam}

    # ------------------------------------------------------------------ callbacks
    def _failed(self, err: BaseException) -> bool:
        if self._error is None:
            self._error = err
        return False

    def _x(self, x_ptr) -> np.ndarray:
        return _view(x_ptr, self.n).copy()

    def _eval_f(self, n, x, new_x, obj_value, user_data) -> bool:
        try:
            obj_value[0] = float(self._obj.objective(self._x(x)))
            return True
        except BaseException as err:  # noqa: BLE001 - raised again by solve()
            return self._failed(err)

    def _eval_grad_f(self, n, x, new_x, grad_f, user_data) -> bool:
        try:
            _view(grad_f, self.n)[:] = np.asarray(self._obj.gradient(self._x(x)), dtype=float).ravel()
            return True
        except BaseException as err:  # noqa: BLE001
            return self._failed(err)

    def _eval_g(self, n, x, new_x, m, g, user_data) -> bool:
        try:
            if self.m:
                _view(g, self.m)[:] = np.asarray(self._obj.constraints(self._x(x)), dtype=float).ravel()
            return True
        except BaseException as err:  # noqa: BLE001
            return self._failed(err)

    def _eval_jac(self, n, x, new_x, m, nele, i_row, j_col, values, user_data) -> bool:
        try:
            if not values:  # the structure
                _view_int(i_row, nele)[:] = self._jac[0]
                _view_int(j_col, nele)[:] = self._jac[1]
            elif nele:
                _view(values, nele)[:] = np.asarray(self._obj.jacobian(self._x(x)), dtype=float).ravel()
            return True
        except BaseException as err:  # noqa: BLE001
            return self._failed(err)

    def _eval_h(self, n, x, new_x, obj_factor, m, lam, new_lam, nele, i_row, j_col, values,
                user_data) -> bool:
        try:
            if not values:
                _view_int(i_row, nele)[:] = self._hess[0]
                _view_int(j_col, nele)[:] = self._hess[1]
            elif nele:
                lagrange = _view(lam, self.m).copy() if self.m else np.zeros(0)
                _view(values, nele)[:] = np.asarray(
                    self._obj.hessian(self._x(x), lagrange, float(obj_factor)), dtype=float).ravel()
            return True
        except BaseException as err:  # noqa: BLE001
            return self._failed(err)

    def _intermediate(self, alg_mod, iter_count, obj_value, inf_pr, inf_du, mu, d_norm,
                      regularization_size, alpha_du, alpha_pr, ls_trials, user_data) -> bool:
        if self._error is not None:
            return False  # a callback failed: stop, solve() raises its exception
        callback = getattr(self._obj, "intermediate", None)
        if callback is None:
            return True
        try:
            go_on = callback(alg_mod, iter_count, obj_value, inf_pr, inf_du, mu, d_norm,
                             regularization_size, alpha_du, alpha_pr, ls_trials)
            return True if go_on is None else bool(go_on)
        except BaseException as err:  # noqa: BLE001
            return self._failed(err)


@contextlib.contextmanager
def _interrupts_at_iterations(problem: "IpoptProblem"):
    """Hold SIGINT and SIGTERM back while Ipopt runs (main thread, Python handlers only).

    A Python signal handler raises at the next bytecode, often the first one of a ctypes
    callback, outside every ``try``; ctypes then prints "Exception ignored" and Ipopt goes
    on, so Ctrl-C or a scheduler's SIGTERM was lost until the run ended. Here the signal is
    only recorded; the next iteration's callback stops Ipopt, and once ``IpoptSolve`` has
    returned the original handler runs (raising ``KeyboardInterrupt`` or the CLI's
    ``Interrupted``) in plain Python."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {s: h for s in (signal.SIGINT, signal.SIGTERM) if callable(h := signal.getsignal(s))}
    pending: list[tuple[int, Any]] = []

    def record(signum: int, frame) -> None:
        pending.append((signum, frame))
        if problem._error is None:
            problem._error = _Pending()

    for s in held:
        signal.signal(s, record)
    try:
        yield
    finally:
        for s, handler in held.items():
            signal.signal(s, handler)
    if pending:
        if isinstance(problem._error, _Pending):
            problem._error = None
        signum, frame = pending[0]
        held[signum](signum, frame)


class _Pending(Exception):
    """Marks a held signal: the intermediate callback stops Ipopt."""


def _forward(ref: weakref.ref, name: str):
    """A callback calling method ``name`` of the object ``ref`` refers to (False once it is gone)."""
    def call(*args):
        target = ref()
        return False if target is None else getattr(target, name)(*args)
    return call


def _structure(problem_obj: Any, name: str, dense) -> tuple:
    """``problem_obj.<name>()``, or the dense structure (as cyipopt assumes) without it."""
    method = getattr(problem_obj, name, None)
    return method() if method is not None else dense()


def _view_int(ptr, n: int) -> np.ndarray:
    return np.ctypeslib.as_array(ptr, shape=(n,)) if n else np.zeros(0, dtype=np.int32)
