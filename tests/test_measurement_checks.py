"""Measured columns against their variables (a unit mismatch refused by name; a misspelt name gets a hint)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from idaes_hybrid.model.experiment import DataError
from idaes_hybrid.training.flowsheet_problem import OUTSIDE_BOUNDS_REFUSED, check_measurements_within_bounds

pytestmark = pytest.mark.unit


def _case(column: str, values, lb=273.15, ub=None):
    blk = pyo.ConcreteModel()
    blk.fs = pyo.Block()
    blk.fs.time = pyo.Set(initialize=[0.0, 1.0], ordered=True)
    blk.fs.T = pyo.Var(blk.fs.time, bounds=(lb, ub), units=pyo.units.K)
    hf = SimpleNamespace(var=lambda b, name, field: b.fs.T, path=lambda name: "fs.r1.temperature[*]")
    frame = pd.DataFrame({column: values}, index=np.linspace(0.0, 1.0, len(values)))
    return blk, hf, SimpleNamespace(name="b2", measured_variables=[column], measurements=frame)


def test_a_temperature_column_in_degc_is_refused_naming_the_column_and_the_bound():
    blk, hf, exp = _case("T", [31.0, 40.0, np.nan, 55.5])
    with pytest.raises(DataError) as err:
        check_measurements_within_bounds(blk, hf, exp)
    text = str(err.value)
    assert "experiments['b2'].data, column T: 3 of 3 values (31 to 55.5)" in text
    assert "below the lower bound 273.15 K of fs.r1.temperature[*]" in text and "check the column's units" in text


def test_a_few_values_beyond_a_bound_are_a_warning_and_noise_near_it_is_nothing(caplog):
    values = [300.0] * 9 + [250.0]  # one of ten far below 273.15: not most of them
    assert 1 / 10 <= OUTSIDE_BOUNDS_REFUSED
    blk, hf, exp = _case("T", values)
    with caplog.at_level(logging.WARNING):
        check_measurements_within_bounds(blk, hf, exp)
    assert "column T: 1 of 10 values (250 to 300) lie below the lower bound 273.15 K" in caplog.text
    caplog.clear()
    blk, hf, exp = _case("c", [-0.3, 0.5, 2.0, 6.0, 10.0], lb=0.0)  # noise around zero: within 0.1 x range
    with caplog.at_level(logging.WARNING):
        check_measurements_within_bounds(blk, hf, exp)
    assert caplog.text == ""
    blk, hf, exp = _case("c", [1.5, 2.0, 2.5], lb=0.0, ub=1.0)  # above an upper bound
    with pytest.raises(DataError, match="above the upper bound 1 K"):
        check_measurements_within_bounds(blk, hf, exp)


def test_a_misspelt_name_gets_the_declared_name_it_most_likely_meant():
    from idaes_hybrid.model.flowsheet import check_variable_name
    from idaes_hybrid.model.paths import PathError

    variables = {n: f"fs.{n}[*]" for n in ("F", "Tf", "Tj", "cA", "cB", "cC", "T")}
    with pytest.raises(PathError, match=r"'cb' is neither a name in variables .* nor a path; did you mean 'cB'\?"):
        check_variable_name("cb", variables, "experiments[0] ('b1').data, column")
    with pytest.raises(PathError, match=r"did you mean 'Tj'\?"):
        check_variable_name("Tjj", variables, "experiments[0] ('b1').inputs.Tjj")
    with pytest.raises(PathError) as err:
        check_variable_name("flow", variables, "x")
    assert "did you mean" not in str(err.value)
    with pytest.raises(PathError, match="sample times belong in the table's index"):
        check_variable_name("time", variables, "x")


def test_a_column_measuring_an_expression_has_no_bounds_to_check():
    blk, hf, exp = _case("T", [31.0, 40.0])
    blk.fs.T_expr = pyo.Expression(blk.fs.time, rule=lambda b, t: b.T[t])
    hf = SimpleNamespace(var=lambda b, name, field: b.fs.T_expr, path=lambda name: "fs.T_expr[*]")
    check_measurements_within_bounds(blk, hf, exp)  # nothing raised: only variables have bounds
