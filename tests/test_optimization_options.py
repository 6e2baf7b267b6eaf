"""Solver options of optimization solves (``optimize.flowsheet.solve_controls``)."""

from __future__ import annotations

import pyomo.environ as pyo
import pytest

from idaes_hybrid.optimize import flowsheet as optimize_flowsheet
from idaes_hybrid.solve import nl_solve


def _toy() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 2), initialize=1.0)
    m.objective = pyo.Objective(expr=(m.x - 1.5) ** 2)
    return m


@pytest.mark.parametrize("given, expected", [({}, optimize_flowsheet.OPTIMIZATION_ACCEPTABLE_TOL),
                                             ({"acceptable_tol": 1e-7}, 1e-7)])
@pytest.mark.component
def test_acceptable_tol_defaults_for_optimization_and_the_solver_table_wins(monkeypatch, given, expected):
    """An optimization passes Ipopt ``acceptable_tol`` 1e-4 unless ``[solver]`` sets it,
    and still solves (x = 1.5)."""
    seen: list[dict] = []
    real = nl_solve.solve_nl

    def spy(m, options=None, **kw):
        seen.append(dict(options))
        return real(m, options, **kw)

    monkeypatch.setattr(nl_solve, "solve_nl", spy)
    m = _toy()
    res, _ = optimize_flowsheet.solve_controls(m, [], [], {"max_iter": 50, **given}, "toy")
    assert seen and seen[0]["acceptable_tol"] == expected
    assert seen[0]["max_iter"] == 50
    assert res.ok and pyo.value(m.x) == pytest.approx(1.5, abs=1e-6)


@pytest.mark.component
def test_a_failed_optimization_is_solved_again_from_its_best_feasible_point(monkeypatch):
    """A solve that fails (restoration failed) after passing a feasible point is started
    again there, with a small barrier parameter; the second solve's optimum is returned."""
    from idaes_hybrid.solve.solver import SolveResult, SolveStatus

    m = _toy()
    calls: list[tuple[dict, float]] = []
    real = nl_solve.solve_nl

    def failing_then_real(model, options=None, **kw):
        calls.append((dict(options), pyo.value(model.x)))
        if len(calls) == 1:
            model.x.set_value(0.1)  # where the failed solve ended
            return SolveResult(SolveStatus.FAILED, "Restoration_Failed", 195, 1.0, None, "fake", "",
                               load_best_feasible=lambda: model.x.set_value(1.4))
        return real(model, options, **kw)

    monkeypatch.setattr(nl_solve, "solve_nl", failing_then_real)
    res, _ = optimize_flowsheet.solve_controls(m, [], [], {"max_iter": 50}, "toy")
    assert len(calls) == 2
    assert calls[1][1] == 1.4  # started from the best feasible point
    assert calls[1][0]["mu_init"] == optimize_flowsheet.RESTART_OPTIONS["mu_init"]
    assert calls[1][0]["max_iter"] == 50 and "mu_init" not in calls[0][0]
    assert res.ok and pyo.value(m.x) == pytest.approx(1.5, abs=1e-6)


@pytest.mark.component
def test_a_failed_optimization_without_a_feasible_point_is_an_error(monkeypatch):
    from idaes_hybrid.solve.solver import SolveResult, SolveStatus

    monkeypatch.setattr(nl_solve, "solve_nl", lambda model, options=None, **kw: SolveResult(
        SolveStatus.FAILED, "Restoration_Failed", 12, 1.0, None, "fake", ""))
    with pytest.raises(optimize_flowsheet.FlowsheetOptimizationError, match="toy: failed"):
        optimize_flowsheet.solve_controls(_toy(), [], [], {}, "toy")
