"""The [optimization] table of a flowsheet configuration and `optimize` on the flowsheet path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from idaes_hybrid.config.run import ConfigError
from idaes_hybrid.config.flowsheet import load_flowsheet_config

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "saponification"


def _config(tmp_path: Path, old: str = "", new: str = "") -> Path:
    for name in ("model.py", "optimize.py"):
        shutil.copy(CASE / name, tmp_path / name)
    shutil.copytree(CASE / "data", tmp_path / "data")
    path = tmp_path / "config.toml"
    text = (CASE / "config.toml").read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.unit
def test_shipped_optimization_table_is_read_with_its_functions():
    opt = load_flowsheet_config(CASE / "config.toml").optimization()
    assert [c.name for c in opt.controls] == ["Q"] and opt.controls[0].upper == 4.0e4
    assert opt.segments == 6 and opt.nfe == 40 and opt.ncp == 3
    assert opt.scenario.horizon == 120.0 and "Q" not in opt.scenario.inputs
    assert opt.scenario.inputs["Tf"].value_at(90.0) == 306.0
    assert callable(opt.objective) and callable(opt.constraints) and callable(opt.true_build)


@pytest.mark.unit
@pytest.mark.parametrize("old, new, field", [
    ('objective = "optimize.py:objective"', 'objective = "optimize.py:nothing"', "optimization.objective"),
    ('objective = "optimize.py:objective"\n', "", "optimization.objective: required"),
    ("segments = 6", "segments = 0", "optimization.segments"),
    ("segments = 6", "segment = 6", "optimization.segment: unknown key"),
    ("start = 1.0e4", "start = 5.0e4", r"optimization.controls\[0\]: need lower <= start <= upper"),
    ("upper = 4.0e4", 'upper = "high"', r"optimization.controls\[0\].upper"),
    ('name = "Q"\nlower', 'lower', r"optimization.controls\[0\].name: required key missing"),
    ("horizon = 120.0\ninitial = \"steady-state\"\ninputs = { F = 1.0e-3",
     "experiment = \"b9\"\ninputs = { F = 1.0e-3", "optimization.experiment: 'b9'"),
    ("horizon = 120.0\ninitial = \"steady-state\"\ninputs = { F = 1.0e-3",
     "horizon = -1.0\ninputs = { F = 1.0e-3", "optimization.horizon: must be > 0"),
    ('Tf = [[0, 300.0], [60, 306.0]]', 'Tf = { file = "none.csv", column = "Tf" }', "optimization.inputs.Tf"),
    # a control that is also given as an input was silently a control
    ('Tf = [[0, 300.0], [60, 306.0]] }', 'Tf = [[0, 300.0], [60, 306.0]], Q = 1.0e4 }',
     r"optimization.inputs.Q: 'Q' is a control \(optimization.controls\[0\].name\); a control is never"),
])
def test_bad_optimization_table_names_the_field(tmp_path, old, new, field):
    path = _config(tmp_path, old, new)
    with pytest.raises(ConfigError, match=field):
        load_flowsheet_config(path).optimization()


@pytest.mark.unit
def test_an_experiment_supplies_horizon_initial_and_inputs(tmp_path):
    path = _config(tmp_path, "horizon = 120.0\ninitial = \"steady-state\"\ninputs = { F = 1.0e-3, Tf = [[0, 300.0], [60, 306.0]] }",
                   "experiment = \"b2\"")
    opt = load_flowsheet_config(path).optimization()
    assert opt.scenario.horizon == 120.0
    assert opt.scenario.inputs["Tf"].value_at(60.0) == 299.0 and "Q" not in opt.scenario.inputs


@pytest.mark.unit
def test_constraint_violations_are_the_distance_beyond_each_bound():
    """x = 3: x <= 2 is broken by 1; of x >= 1 and x >= 5 the worse row by 2; 0 <= x <= 4 holds."""
    import pyomo.environ as pyo

    from idaes_hybrid.optimize.flowsheet import add_user_constraints, constraint_violations

    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=3.0)
    add_user_constraints(m, {"a": m.x <= 2, "b": [m.x >= 1, m.x >= 5], "c": pyo.inequality(0, m.x, 4)})
    assert constraint_violations(m) == {"a": pytest.approx(1.0), "b": pytest.approx(2.0), "c": 0.0}


@pytest.mark.unit
def test_a_misspelled_control_and_a_forgotten_input_are_named(tmp_path, caplog):
    """A control name that is no variable was reported under ``experiments['optimization']
    .inputs``; an input of the experiments that the optimization neither gives nor controls
    ended as a count of degrees of freedom that named no variable."""
    from idaes_hybrid.model.paths import PathError

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    path = _config(tmp_path / "a", 'name = "Q"\nlower', 'name = "Qq"\nlower')
    with pytest.raises(PathError, match=r"^optimization.controls\[0\].name: 'Qq' is neither a name in variables"):
        load_flowsheet_config(path).optimization()
    path = _config(tmp_path / "b", "inputs = { F = 1.0e-3, Tf", "inputs = { Tf")
    with caplog.at_level("WARNING"):
        opt = load_flowsheet_config(path).optimization()
    assert "F" not in opt.scenario.inputs
    assert any("optimization.inputs: no value for 'F', which the experiments give" in r.getMessage()
               for r in caplog.records)
