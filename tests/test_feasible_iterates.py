"""The best feasible iterate of a solve stopped at a limit: chosen by objective among the
feasible iterates only, read from a real Ipopt solve's callback, and used by the ensemble
feed optimization that used to fail at its iteration limit."""

from __future__ import annotations

import numpy as np
import pytest

from idaes_hybrid.solve.feasible_iterates import FEASIBLE_VIOLATION, FeasibleIterates, violation


class _Scripted:
    """A solver object whose current iterate is set by the test."""

    def __init__(self) -> None:
        self.current = None

    def get_current_iterate(self, scaled: bool = False) -> dict:
        return self.current


@pytest.mark.unit
def test_lowest_objective_among_feasible_iterates_only():
    cl, cu = np.array([0.0, -1.0]), np.array([0.0, 1.0])  # an equality and a range
    assert violation([0.0, 0.5], cl, cu) == 0.0 and violation([2e-4, 1.5], cl, cu) == pytest.approx(0.5)
    solver, track = _Scripted(), FeasibleIterates(cl, cu)
    assert track.attach(solver) and not FeasibleIterates(cl, cu).attach(object())
    script = [  # iteration, objective, g: feasible 5.0, infeasible 1.0, feasible 3.0, worse 4.0
        (0, 5.0, [0.0, 0.0]), (1, 1.0, [1e-3, 0.0]), (2, 3.0, [5e-5, -1.0]), (3, 4.0, [0.0, 0.2])]
    for it, obj, g in script:
        solver.current = {"x": np.full(2, float(it)), "g": np.asarray(g)}
        track.record(it, obj)
    objective, x, iteration, viol = track.best
    assert (objective, iteration, viol) == (3.0, 2, pytest.approx(5e-5)) and x.tolist() == [2.0, 2.0]
    solver.current = {"x": np.zeros(2), "g": np.zeros(2)}
    track.record(4, float("nan"))  # a failed evaluation is never the best
    assert track.best[2] == 2


@pytest.mark.component
def test_ipopt_stopped_off_the_constraint_keeps_a_feasible_iterate():
    """min x + y on the unit circle from (1, 0): Ipopt's steps leave the circle and come
    back; stopped after 3 iterations far off it, the tracked iterate lies on the circle (to
    FEASIBLE_VIOLATION) with an objective no worse than the start's."""
    import cyipopt

    class Circle:
        def objective(self, x):
            return x[0] + x[1]

        def gradient(self, x):
            return np.ones(2)

        def constraints(self, x):
            return np.array([x[0] ** 2 + x[1] ** 2])

        def jacobian(self, x):
            return 2.0 * np.asarray(x, dtype=float)

        def hessianstructure(self):
            return np.array([0, 1]), np.array([0, 1])

        def hessian(self, x, lam, obj_factor):
            return np.array([2.0 * lam[0], 2.0 * lam[0]])

        def intermediate(self, alg_mod, it, obj, *rest):
            track.record(it, obj)
            return True

    track = FeasibleIterates(np.array([1.0]), np.array([1.0]))
    problem = cyipopt.Problem(n=2, m=1, problem_obj=Circle(), lb=[-10.0] * 2, ub=[10.0] * 2,
                              cl=[1.0], cu=[1.0])
    assert track.attach(problem)
    for key, val in (("print_level", 0), ("sb", "yes"), ("max_iter", 3)):
        problem.add_option(key, val)
    x, info = problem.solve(np.array([1.0, 0.0]))
    assert x @ x - 1.0 > 1.0  # the last iterate is far off the circle (x^2 + y^2 = 2.23)
    objective, best, _, viol = track.best
    assert viol <= FEASIBLE_VIOLATION and abs(best @ best - 1.0) <= FEASIBLE_VIOLATION
    assert objective == pytest.approx(best.sum()) and objective <= 1.0
