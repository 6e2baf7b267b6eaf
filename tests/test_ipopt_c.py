"""Ipopt through its C interface (``idaes_hybrid.solve.ipopt_c``) against cyipopt's wrapper
of the same library: the same iterates, solutions and multipliers, warm starts, scaling,
errors raised from callbacks, and refused options."""

from __future__ import annotations

import numpy as np
import pytest

cyipopt = pytest.importorskip("cyipopt")

from idaes_hybrid.solve.ipopt_c import (  # noqa: E402
    IpoptOptionError, IpoptProblem, STATUS_MESSAGES, ipopt_library_path, ipopt_problem_class)

pytestmark = pytest.mark.unit

#: Hock-Schittkowski problem 71: its optimum is known to 8 digits.
HS071_X = np.array([1.0, 4.74299963, 3.82114998, 1.37940829])
HS071_F = 17.0140173
LB, UB, CL, CU = [1.0] * 4, [5.0] * 4, [25.0, 40.0], [2e19, 40.0]
X0 = [1.0, 5.0, 5.0, 1.0]


class HS071:
    """min x0 x3 (x0 + x1 + x2) + x2  s.t.  x0 x1 x2 x3 >= 25,  |x|^2 = 40,  1 <= x <= 5."""

    def __init__(self, fail_at: int | None = None):
        self.fail_at, self.calls, self.iterates = fail_at, 0, []
        self.problem = None

    def objective(self, x):
        return x[0] * x[3] * np.sum(x[0:3]) + x[2]

    def gradient(self, x):
        return np.array([x[0] * x[3] + x[3] * np.sum(x[0:3]), x[0] * x[3],
                         x[0] * x[3] + 1.0, x[0] * np.sum(x[0:3])])

    def constraints(self, x):
        return np.array((np.prod(x), np.dot(x, x)))

    def jacobianstructure(self):
        return np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0, 1, 2, 3, 0, 1, 2, 3])

    def jacobian(self, x):
        return np.concatenate((np.prod(x) / x, 2 * x))

    def hessianstructure(self):
        return np.tril_indices(4)

    def hessian(self, x, lagrange, obj_factor):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise ZeroDivisionError("a failing Hessian")
        h = obj_factor * np.array(((2 * x[3], 0, 0, 0), (x[3], 0, 0, 0), (x[3], 0, 0, 0),
                                   (2 * x[0] + x[1] + x[2], x[0], x[0], 0)))
        h += lagrange[0] * np.array(((0, 0, 0, 0), (x[2] * x[3], 0, 0, 0), (x[1] * x[3], x[0] * x[3], 0, 0),
                                     (x[1] * x[2], x[0] * x[2], x[0] * x[1], 0)))
        h += lagrange[1] * 2 * np.eye(4)
        r, c = self.hessianstructure()
        return h[r, c]

    def intermediate(self, alg_mod, iter_count, *rest):
        if self.problem is not None:
            current = self.problem.get_current_iterate(scaled=False)
            self.iterates.append(None if current is None else current["x"].copy())
        return True


def _solve(cls, obj=None, options=None, scaling=None, **start):
    obj = obj or HS071()
    problem = cls(n=4, m=2, problem_obj=obj, lb=LB, ub=UB, cl=CL, cu=CU)
    obj.problem = problem
    for key, value in {"sb": "yes", "print_level": 0, "tol": 1e-9, **(options or {})}.items():
        problem.add_option(key, value)
    if scaling is not None:
        problem.set_problem_scaling(*scaling)
    x, info = problem.solve(start.pop("x0", X0), **start)
    return x, info, obj


def test_the_library_is_found_and_used():
    assert ipopt_library_path() is not None and ipopt_library_path().name.startswith("libipopt")
    assert ipopt_problem_class() is IpoptProblem


def test_same_solution_iterates_and_multipliers_as_cyipopt():
    xa, ia, oa = _solve(cyipopt.Problem)
    xb, ib, ob = _solve(IpoptProblem)
    np.testing.assert_allclose(xb, HS071_X, atol=1e-7)
    assert ib["obj_val"] == pytest.approx(HS071_F, abs=1e-6)
    assert ib["status"] == ia["status"] == 0 and ib["status_msg"].startswith(b"Solve_Succeeded")
    np.testing.assert_array_equal(xb, xa)
    for key in ("g", "mult_g", "mult_x_L", "mult_x_U"):
        np.testing.assert_array_equal(ib[key], ia[key])
    assert len(ob.iterates) == len(oa.iterates) and ob.calls == oa.calls
    for a, b in zip(oa.iterates, ob.iterates):  # the iterate read inside the callback
        np.testing.assert_array_equal(a, b)


def test_warm_start_from_the_solution_takes_fewer_iterations():
    _, info, _ = _solve(IpoptProblem)
    warm = {"warm_start_init_point": "yes", "mu_init": 1e-9, "warm_start_bound_push": 1e-9,
            "warm_start_mult_bound_push": 1e-9}
    xa, ia, oa = _solve(cyipopt.Problem, options=warm, x0=info["x"], lagrange=info["mult_g"],
                        zl=info["mult_x_L"], zu=info["mult_x_U"])
    xb, ib, ob = _solve(IpoptProblem, options=warm, x0=info["x"], lagrange=info["mult_g"],
                        zl=info["mult_x_L"], zu=info["mult_x_U"])
    np.testing.assert_array_equal(xb, xa)
    assert len(ob.iterates) == len(oa.iterates) <= 3


def test_user_scaling_matches_cyipopt():
    scaling = (2.0, np.array([1.0, 0.5, 0.5, 2.0]), np.array([0.1, 0.05]))
    opts = {"nlp_scaling_method": "user-scaling"}
    xa, ia, _ = _solve(cyipopt.Problem, options=opts, scaling=scaling)
    xb, ib, _ = _solve(IpoptProblem, options=opts, scaling=scaling)
    np.testing.assert_array_equal(xb, xa)
    np.testing.assert_allclose(xb, HS071_X, atol=1e-6)


def test_iteration_limit_status_and_message():
    _, info, _ = _solve(IpoptProblem, options={"max_iter": 2})
    assert info["status"] == -1 and info["status_msg"] == STATUS_MESSAGES[-1].encode()


def test_an_exception_in_a_callback_stops_the_solve_and_is_raised():
    obj = HS071(fail_at=3)
    with pytest.raises(ZeroDivisionError, match="a failing Hessian"):
        _solve(IpoptProblem, obj=obj)
    assert obj.calls == 3  # stopped at the failing evaluation
    x, info, _ = _solve(IpoptProblem)  # the next problem solves normally
    assert info["status"] == 0


def test_a_keyboard_interrupt_in_a_callback_propagates():
    class Interrupted(HS071):
        def gradient(self, x):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _solve(IpoptProblem, obj=Interrupted())


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_while_ipopt_factorizes_stops_the_solve_and_raises_from_the_handler(signum, capfd):
    """A Python signal handler fires at the next bytecode: a signal that arrives while Ipopt
    runs C code (here: MUMPS factorizing a dense 1200 x 1200 Hessian) fires at the entry of
    the next ctypes callback, where ctypes would swallow its exception ("Exception
    ignored") and the solve would go on. The signal is held while Ipopt runs, stops it at
    the next iteration, and the handler runs after the solve; the handlers are restored."""
    import os
    import signal
    import threading
    import time

    sig, n = getattr(signal, signum), 1200
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    hess = a.T @ a + np.eye(n)
    rows, cols = np.tril_indices(n)
    values = hess[rows, cols]
    started = threading.Event()

    class DenseQuadratic:
        def objective(self, x):
            return 0.5 * x @ hess @ x - x.sum()

        def gradient(self, x):
            return hess @ x - 1.0

        def constraints(self, x):
            return np.zeros(0)

        def jacobianstructure(self):
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)

        def jacobian(self, x):
            return np.zeros(0)

        def hessianstructure(self):
            return rows, cols

        def hessian(self, x, lagrange, obj_factor):
            started.set()  # Ipopt factorizes next, in C, for a good part of a second
            return obj_factor * values

    class Stop(Exception):
        pass

    def handler(s, frame):
        raise Stop(s)

    def send():
        started.wait(30)
        time.sleep(0.05)  # inside the factorization
        os.kill(os.getpid(), sig)

    sender = threading.Thread(target=send)
    before = signal.signal(sig, handler)
    try:
        problem = IpoptProblem(n=n, m=0, problem_obj=DenseQuadratic(), lb=[-1e19] * n, ub=[1e19] * n,
                               cl=[], cu=[])
        problem.add_option("print_level", 0)
        sender.start()
        with pytest.raises(Stop):
            problem.solve(np.zeros(n))
        sender.join()
        assert signal.getsignal(sig) is handler
        assert "Exception ignored" not in capfd.readouterr().err
    finally:
        signal.signal(sig, before)


def test_refused_options_raise_a_type_error_naming_the_option(capfd):
    problem = IpoptProblem(n=4, m=2, problem_obj=HS071(), lb=LB, ub=UB, cl=CL, cu=CU)
    with pytest.raises(IpoptOptionError, match="max_iters"):
        problem.add_option("max_iters", 5)
    with pytest.raises(TypeError, match="tol"):
        problem.add_option("tol", "abc")
    with pytest.raises(TypeError, match="mu_strategy"):
        problem.add_option("mu_strategy", [1])
    capfd.readouterr()
    problem.add_option("max_iter", 5)  # the problem stays usable


def test_wrong_sizes_are_refused_before_ipopt_sees_them():
    with pytest.raises(ValueError, match="lb has 3 entries, expected 4"):
        IpoptProblem(n=4, m=2, problem_obj=HS071(), lb=[1.0] * 3, ub=UB, cl=CL, cu=CU)
    problem = IpoptProblem(n=4, m=2, problem_obj=HS071(), lb=LB, ub=UB, cl=CL, cu=CU)
    with pytest.raises(ValueError, match="lagrange has 3 entries, expected 2"):
        problem.solve(X0, lagrange=[0.0] * 3)


def test_a_dropped_problem_frees_ipopt_at_once(monkeypatch):
    """No reference cycle through the callbacks: Ipopt's problem is freed when the last
    reference goes, without waiting for the garbage collector."""
    import gc

    freed = []
    lib = IpoptProblem(n=4, m=2, problem_obj=HS071(), lb=LB, ub=UB, cl=CL, cu=CU)._lib
    real_free = lib.FreeIpoptProblem

    class Spy:
        def __getattr__(self, name):
            return getattr(lib, name)

        def FreeIpoptProblem(self, handle):  # noqa: N802 - the C function's name
            freed.append(handle)
            real_free(handle)

    gc.disable()
    try:
        problem = IpoptProblem(n=4, m=2, problem_obj=HS071(), lb=LB, ub=UB, cl=CL, cu=CU)
        problem._lib = Spy()
        x, info = problem.solve(X0)
        assert info["status"] == 0
        del problem
        assert len(freed) == 1
    finally:
        gc.enable()
