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
