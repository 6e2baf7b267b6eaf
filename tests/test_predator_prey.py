"""The Leslie-Gower predator-prey unit: structure, reference vs scipy, the Lyapunov
constraint, and the ``[unit]`` table that switches it on."""

import tomllib
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.util.check_units import assert_units_consistent

from idaes.core import FlowsheetBlock
from idaes.core.util.model_statistics import degrees_of_freedom

from flowsheets.predator_prey.generate_data import PARAMETERS, simulate_leslie_gower
from idaes_hybrid.config.run import ConfigError, run_config_from_dict
from idaes_hybrid.solve.solver import get_nlp_solver
from idaes_hybrid.model.contract import ContractError, HybridUnit, KineticsMode
from idaes_hybrid.cases.predator_prey import PredatorPrey, equilibrium
from idaes_hybrid.cases.registry import BUILT_IN_MODELS

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "predator_prey"
INITIAL = {"x0": 1.0, "x1": 0.1}
SIM_TOL = 2e-3  # collocation (40 x 3 Radau on [0, 80]) against a 1e-10 scipy integration


def _flowsheet(kinetics=KineticsMode.EXTERNAL, nfe=40, lyapunov=False, discretize=True):
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=True, time_set=[0, 80.0], time_units=pyo.units.dimensionless)
    m.fs.unit = PredatorPrey(kinetics=kinetics, lyapunov_constraint=lyapunov)
    if not discretize:
        return m
    pyo.TransformationFactory("dae.collocation").apply_to(m.fs, nfe=nfe, ncp=3, scheme="LAGRANGE-RADAU")
    for name, val in INITIAL.items():
        getattr(m.fs.unit, name)[0].fix(val)
    return m


@pytest.mark.unit
def test_equilibrium_from_the_parameters():
    x0, x1 = equilibrium(**PARAMETERS)
    assert (x0, x1) == pytest.approx((0.0488, 0.9756), abs=1e-4)
    m = _flowsheet(nfe=2)
    assert pyo.value(m.fs.unit.x0_eq) == pytest.approx(x0, rel=1e-12)
    assert pyo.value(m.fs.unit.x1_eq) == pytest.approx(x1, rel=1e-12)
    m.fs.unit.set_physics(b1=0.2)  # the equilibrium follows the parameters
    assert pyo.value(m.fs.unit.x0_eq) == pytest.approx(equilibrium(**{**PARAMETERS, "b1": 0.2})[0])


@pytest.mark.unit
def test_structure_dof_units_and_contract():
    m = _flowsheet(nfe=5)
    u = m.fs.unit
    assert isinstance(u, HybridUnit)
    assert (u.state_names, u.input_names, u.learned_names) == (("x0", "x1"), (), ("z",))
    assert degrees_of_freedom(m) == len(m.fs.time)  # z free at every point
    assert [v.name for v in u.network_input_vars(0)] == ["fs.unit.x0[0.0]", "fs.unit.x1[0.0]"]
    assert u.network_output_vars(80.0)[0] is u.z[80.0]
    assert not hasattr(u, "lyapunov_decrease")
    assert degrees_of_freedom(_flowsheet(KineticsMode.REFERENCE, nfe=5)) == 0
    with_v = _flowsheet(nfe=5, lyapunov=True).fs.unit
    assert len(with_v.lyapunov_decrease) == len(m.fs.time)
    assert not with_v.lyapunov_decrease[0].equality
    for kinetics in KineticsMode:
        assert_units_consistent(_flowsheet(kinetics, lyapunov=True, discretize=False))
    with pytest.raises(ContractError, match="physics.c1"):
        u.set_physics(c1=1.0)
    with pytest.raises(ValueError, match="network_inputs"):
        m.fs.bad = PredatorPrey(network_inputs=["x0", "y"])


@pytest.mark.component
def test_reference_matches_scipy_and_decreases_the_lyapunov_function():
    m = _flowsheet(KineticsMode.REFERENCE, lyapunov=True)
    u = m.fs.unit
    m.obj = pyo.Objective(expr=0.0)
    assert get_nlp_solver({"tol": 1e-10}).solve(m).ok
    times = np.array(list(m.fs.time))
    ref = simulate_leslie_gower(INITIAL, times, **PARAMETERS)
    for name in ("x0", "x1"):
        model = np.array([pyo.value(getattr(u, name)[t]) for t in times])
        np.testing.assert_allclose(model, ref[name].to_numpy(), atol=SIM_TOL)
    # the chain-rule dV/dt equals the closed form of the true system,
    # -b1 (x0 - x0*)^2 / x0 - a1 (x1 - x1*)^2 / x1, at every point
    x0s, x1s = equilibrium(**PARAMETERS)
    for t in times:
        x0, x1 = pyo.value(u.x0[t]), pyo.value(u.x1[t])
        closed = -0.1 * (x0 - x0s) ** 2 / x0 - 0.2 * (x1 - x1s) ** 2 / x1
        assert pyo.value(u.lyapunov_rate[t]) == pytest.approx(closed, rel=1e-7, abs=1e-12)
    # V decreases along the trajectory
    v = np.array([pyo.value(u.lyapunov[t]) for t in times])
    assert np.all(np.diff(v) <= 1e-9)


@pytest.mark.component
def test_lyapunov_constraint_cuts_off_a_growing_trajectory():
    """A predator that always grows (z = 0.01) from (x0*, 2 x1*) raises V: infeasible."""
    m = _flowsheet(nfe=10, lyapunov=True)
    x0s, x1s = equilibrium(**PARAMETERS)
    m.fs.unit.x0[0].fix(x0s)
    m.fs.unit.x1[0].fix(2 * x1s)
    m.fs.unit.z.fix(0.01)
    m.obj = pyo.Objective(expr=0.0)
    assert not get_nlp_solver({"tol": 1e-8, "max_iter": 200}).solve(m).ok
    m.fs.unit.lyapunov_decrease.deactivate()
    assert get_nlp_solver({"tol": 1e-8}).solve(m).ok


def _shipped():
    return tomllib.loads((CASE / "config.toml").read_text())


@pytest.mark.unit
def test_shipped_config_switches_the_constraint_on():
    config = run_config_from_dict(_shipped(), CASE)
    assert config.definition is BUILT_IN_MODELS["predator_prey"]
    assert config.training.unit_config == {"lyapunov_constraint": True}
    assert config.network_spec().sizes == [2, 16, 16, 1]
    assert config.network_spec().n_parameters == 337
    assert (config.discretization.nfe, config.discretization.ncp) == (40, 3)
    assert [e.name for e in config.validation_experiments] == ["val"]
    off = {**_shipped(), "unit": {}}
    assert run_config_from_dict(off, CASE).training.unit_config == {}


@pytest.mark.unit
@pytest.mark.parametrize("table,field,text", [
    ({"lyapunov_constraint": "yes"}, "unit.lyapunov_constraint", "true or false"),
    ({"lyapunov": True}, "unit.lyapunov", "valid keys: 'lyapunov_constraint'"),
    ({"network_inputs": ["x0"]}, "unit.network_inputs", "network.inputs"),
    ({"kinetics": "reference"}, "unit.kinetics", "set by the workflow"),
    ("on", "unit", "expected a table"),
])
def test_bad_unit_table_names_the_field(table, field, text):
    with pytest.raises(ConfigError, match=rf"^{field}: .*{text}"):
        run_config_from_dict({**_shipped(), "unit": table}, CASE)


@pytest.mark.unit
def test_unit_table_of_a_model_without_the_option():
    bio = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"
    data = tomllib.loads((bio / "config.toml").read_text())
    with pytest.raises(ConfigError, match="^unit.lyapunov_constraint: not an option of model "
                                          "'fed_batch_bioreactor'"):
        run_config_from_dict({**data, "unit": {"lyapunov_constraint": True}}, bio)
