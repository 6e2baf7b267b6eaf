"""What a failed solve's last point says (``solve.last_point``) and the optimization's
error message that carries it."""

from __future__ import annotations

import pyomo.environ as pyo
import pytest

from idaes_hybrid.solve.last_point import last_point_summary, variables_at_bounds, violated_equations


def _model() -> pyo.ConcreteModel:
    """x_t + y_t = 3 at t = 0, 1, 2 with x, y <= 1: at most 2 of the 3 reachable."""
    m = pyo.ConcreteModel()
    m.t = pyo.Set(initialize=[0.0, 1.0, 2.0])
    m.x = pyo.Var(m.t, bounds=(0, 1), initialize=1.0)
    m.y = pyo.Var(m.t, bounds=(0, 1), initialize=1.0)
    m.sum = pyo.Constraint(m.t, rule=lambda m, t: m.x[t] + m.y[t] == 3)
    return m


@pytest.mark.unit
def test_violations_and_bounds_by_component():
    m = _model()
    m.y[2.0].value = 0.5  # the worst point: 3 - 1.5 = 1.5, relative to |3|: 0.5
    worst = violated_equations(m)
    assert list(worst) == ["sum"] and worst["sum"].count == 3
    assert worst["sum"].amount == pytest.approx(0.5) and worst["sum"].where == 2.0
    at = variables_at_bounds(m)
    assert [k for k in at] == ["x upper", "y upper"]
    assert at["x upper"].where == [0.0, 1.0, 2.0] and at["y upper"].where == [0.0, 1.0]
    assert last_point_summary(m, top=1) == ("equations not satisfied: sum (0.5 at [2], 3 points); "
                                            "at a bound: x at its upper bound 1 at 3 points ([0] ... [2])")
    m.x.fix()  # fixed variables are data, not a finding; a satisfied model says nothing
    for t in m.t:
        m.y[t].value = 2.0
    m.y.setub(None)
    assert last_point_summary(m) == ""


def _infeasible_error(m: pyo.ConcreteModel) -> str:
    """The error of maximizing-by-minimizing ``sum(x)`` on the toy from x = y = 0."""
    from idaes_hybrid.optimize.flowsheet import FlowsheetOptimizationError, solve_controls

    for t in m.t:
        m.x[t].value = m.y[t].value = 0.0
    m.objective = pyo.Objective(expr=sum(m.x[t] for t in m.t))
    with pytest.raises(FlowsheetOptimizationError) as info:
        solve_controls(m, [], [], {"max_iter": 200}, "optimization of 'toy'")
    return str(info.value)


@pytest.mark.component
def test_an_infeasible_optimization_names_where_the_solver_ended():
    """Ipopt ends locally infeasible on x + y = 3 with x, y <= 1; the error names the
    equations and the bounds of its final iterate (not of the start, x = y = 0)."""
    text = _infeasible_error(_model())
    assert text.startswith("optimization of 'toy': infeasible")
    assert "at the solver's last point: equations not satisfied: sum (0.33 at [" in text
    assert "x at its upper bound 1 at 3 points ([0] ... [2])" in text
    assert "y at its upper bound 1 at 3 points" in text


def _with_user_limit() -> pyo.ConcreteModel:
    """The toy with y's limit written as the user's ``[optimization] constraints``."""
    from idaes_hybrid.optimize.flowsheet import add_user_constraints

    m = _model()
    m.y.setub(None)
    add_user_constraints(m, {"y_max": [m.y[t] <= 1 for t in m.t]})
    return m


@pytest.mark.unit
def test_the_users_binding_and_violated_constraints_are_named():
    from idaes_hybrid.optimize.flowsheet import user_constraints_text

    m = _with_user_limit()
    m.y[2.0].value = 1.5
    assert user_constraints_text(m) == "y_max binding at 2 of 3 points, violated at 1 (by up to 0.5)"
    for t in m.t:
        m.y[t].value = 0.5
    assert user_constraints_text(m) == "" and user_constraints_text(pyo.ConcreteModel()) == ""


@pytest.mark.component
def test_an_infeasible_optimization_names_the_users_constraints_first():
    """The likely cause of an infeasible optimization is a constraint the user added: the
    error names it before the model's equations (a review's T <= 296 K was not named)."""
    text = _infeasible_error(_with_user_limit())
    assert "at the solver's last point: [optimization] constraints: y_max " in text
    assert "of 3 points" in text and text.index("y_max") < text.index("equations not satisfied")
