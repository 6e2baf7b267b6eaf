"""Third-party warnings repeated for every time point are shown once by the command line."""

import logging

import pyomo.environ as pyo
import pytest

from idaes_hybrid.cli.log_filters import RepeatedWarnings, warnings_once


@pytest.mark.unit
def test_pyomo_bound_warnings_show_once_per_variable_and_the_repeats_are_counted(caplog):
    m = pyo.ConcreteModel()
    m.t = pyo.Set(initialize=[0.0, 1.0, 2.0])
    m.x = pyo.Var(m.t, ["A", "C"], bounds=(1e-20, 1.0))
    m.y = pyo.Var(m.t, bounds=(0.0, 1.0))
    report = logging.getLogger("idaes.idaes_hybrid.test_filters")
    with caplog.at_level(logging.INFO):
        with warnings_once(report) as filt:
            for t in m.t:
                m.x[t, "C"].set_value(0.0)   # W1002 at every time: shown once
                m.y[t].set_value(-1.0)       # another variable: shown once too
            logging.getLogger("pyomo.core").warning("no quoted name: always shown")
            logging.getLogger("pyomo.core").warning("no quoted name: always shown")
    shown = [r for r in caplog.records if r.name == "pyomo.core"]
    assert [("'x[" in r.getMessage(), "'y[" in r.getMessage()) for r in shown] == [
        (True, False), (False, True), (False, False), (False, False)]
    assert filt.suppressed == 4
    assert any("4 repeats of the warnings above" in r.getMessage() for r in caplog.records
               if r.name == report.name)
    # the filter is removed on exit
    assert not any(isinstance(f, RepeatedWarnings) for f in logging.getLogger("pyomo.core").filters)
