"""The tank manifold: Tank and Manifold units, their arcs, the index-2 DAE at t0,
the reference flows against scipy, and the conserved total volume."""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from pyomo.network import Arc, Port
from pyomo.util.check_units import assert_units_consistent

from idaes.core import FlowsheetBlock
from idaes.core.util.model_statistics import degrees_of_freedom

from flowsheets.tank_manifold.generate_data import PARAMETERS, flows, simulate_tanks
from idaes_hybrid.config.run import run_config_from_dict
from idaes_hybrid.solve.solver import get_nlp_solver
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.model.contract import ContractError, HybridUnit, KineticsMode
from idaes_hybrid.model.flowsheet import HybridFlowsheet
from idaes_hybrid.model.unit_flowsheet import true_build, unit_experiment, unit_flowsheet
from idaes_hybrid.cases.registry import BUILT_IN_MODELS
from idaes_hybrid.cases.tank import Manifold, Tank, TankOutlet
from idaes_hybrid.cases.tank_manifold import TankManifold

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "tank_manifold"
DEF = BUILT_IN_MODELS["tank_manifold"]
INITIAL = [0.75, 0.75, 2.5, 0.6]
LEVEL_TOL, FLOW_TOL = 0.015, 2e-3  # 40 x 3 Radau against a 1e-10 scipy integration


def _experiment(initial=INITIAL, horizon=400.0):
    meas = pd.DataFrame({"x0": [initial[0]]}, index=pd.Index([0.0], name="time"))
    return Experiment("e", dict(zip(DEF.state_names, initial)), {}, horizon, meas)


def _flowsheet(kinetics=KineticsMode.EXTERNAL):
    """The one-unit flowsheet: with its network term, or (``REFERENCE``) the unit's own flows."""
    hf = unit_flowsheet(DEF, DEF.physics_defaults, DEF.default_network_inputs)
    if kinetics is KineticsMode.EXTERNAL:
        return hf
    return HybridFlowsheet(true_build(DEF, DEF.physics_defaults, {}), [], hf.variables, hf.time_units)


def _model(kinetics=KineticsMode.REFERENCE, nfe=40, initial=INITIAL):
    m = pyo.ConcreteModel()
    m.e = pyo.Block()
    _flowsheet(kinetics).build_experiment(m.e, unit_experiment(_experiment(initial), DEF), nfe, 3)
    return m, m.e.fs.unit


@pytest.mark.unit
def test_tank_and_manifold_units():
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=True, time_set=[0, 1.0], time_units=pyo.units.s)
    m.fs.tank = Tank(outlet=TankOutlet.ORIFICE, area=2.0, outlet_coefficient=0.3)
    m.fs.dead_end = Tank(outlet=TankOutlet.NONE, nonnegative_inflow=False)
    m.fs.split = Manifold(dynamic=False, num_outlets=3, free_outlets=[2])
    assert isinstance(m.fs.tank.inlet, Port) and isinstance(m.fs.split.outlet_2, Port)
    assert not hasattr(m.fs.dead_end, "outlet")
    assert m.fs.tank.outflow[1.0].lb == 0 and m.fs.dead_end.inflow[1.0].lb is None
    assert m.fs.split.outflow[0, 1].lb == 0 and m.fs.split.outflow[0, 2].lb is None
    assert pyo.value(m.fs.tank.area) == 2.0
    assert_units_consistent(m)
    with pytest.raises(ContractError, match="free_outlets"):
        m.fs.bad = Manifold(dynamic=False, num_outlets=2, free_outlets=[2])


@pytest.mark.unit
def test_structure_ports_dof_and_units():
    m, u = _model(KineticsMode.EXTERNAL, nfe=5)
    assert isinstance(u, HybridUnit)
    assert (u.state_names, u.learned_names) == (("x0", "x1", "x2", "x3"), ("u0", "u3"))
    assert len(list(u.component_objects(Arc, descend_into=False))) == 5
    n_t = len(m.e.fs.time)
    # x0, x2, x3 fixed at t0, x1(t0) from x0 = x1; u0 and u3 free at every point
    assert [getattr(u, n)[0].fixed for n in DEF.state_names] == [True, False, True, True]
    assert degrees_of_freedom(m) == 2 * n_t
    assert [v.name for v in u.network_output_vars(0)] == ["e.fs.unit.manifold.inflow[0.0]",
                                                          "e.fs.unit.tank0.outflow[0.0]"]
    t1 = m.e.fs.time.at(2)  # a point that collocation added
    assert u.u2[t1].lb is None and all(getattr(u, f"u{k}")[t1].lb == 0 for k in (0, 1, 3, 4))
    ref, _ = _model(KineticsMode.REFERENCE, nfe=5)
    assert degrees_of_freedom(ref) == 0
    # fixing x1(t0) as well over-specifies the index-2 system at t0
    ref.e.fs.unit.x1[0].fix(INITIAL[1])
    assert degrees_of_freedom(ref) == -1
    for kinetics in KineticsMode:
        plain = pyo.ConcreteModel()
        plain.fs = FlowsheetBlock(dynamic=True, time_set=[0, 1.0], time_units=pyo.units.s)
        plain.fs.unit = TankManifold(kinetics=kinetics)
        assert_units_consistent(plain)
    with pytest.raises(ContractError, match="physics.phi4"):
        u.set_physics(phi4=1.0)
    u.set_physics(phi2=3.0, a2=0.2)
    assert pyo.value(u.tank2.area) == 3.0 and pyo.value(u.tank2.outlet_coefficient) == 0.2


@pytest.mark.component
def test_reference_matches_scipy_and_conserves_volume():
    m, u = _model()
    m.obj = pyo.Objective(expr=0.0)
    assert get_nlp_solver({"tol": 1e-10}).solve(m).ok
    times = np.array(list(m.e.fs.time))
    ref = simulate_tanks(INITIAL, times)
    for name in ("x0", "x1", "x2", "x3"):
        model = np.array([pyo.value(getattr(u, name)[t]) for t in times])
        np.testing.assert_allclose(model, ref[name].to_numpy(), atol=LEVEL_TOL)
    for name in ("u0", "u1", "u2", "u3", "u4"):
        model = np.array([pyo.value(getattr(u, name)[t]) for t in times])
        np.testing.assert_allclose(model, ref[name].to_numpy(), atol=FLOW_TOL)
    # t0: x1 follows x0, and the manifold split is the consistent one (hidden constraint)
    assert pyo.value(u.x1[0]) == pytest.approx(INITIAL[0], abs=1e-9)
    consistent = flows(INITIAL, **PARAMETERS)
    for k in range(5):
        assert pyo.value(getattr(u, f"u{k}")[0]) == pytest.approx(consistent[k], abs=1e-8)
    u2 = np.array([pyo.value(u.u2[t]) for t in times])
    assert u2.min() < -0.01 < 0.01 < u2.max()  # the free flow does reverse
    volume = np.array([pyo.value(u.total_volume[t]) for t in times])
    assert np.ptp(volume) < 1e-9
    assert volume[0] == pytest.approx(np.dot([0.1, 0.5, 2.0, 10.0], INITIAL))


@pytest.mark.unit
def test_total_volume_is_constant_by_the_equations():
    """sum(phi_i dx_i/dt) = (u1 - u3) + u2 + (u3 - u4) + (u4 - u0) = u1 + u2 - u0 = 0."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        y, x2, x3 = rng.uniform(0.2, 5.0, 3)
        u0, u1, u2, u3, u4 = flows([y, y, x2, x3], **PARAMETERS)
        rates = np.array([u1 - u3, u2, u3 - u4, u4 - u0])  # phi_i dx_i/dt
        assert rates.sum() == pytest.approx(0.0, abs=1e-15)
        assert rates[0] / 0.1 == pytest.approx(rates[1] / 0.5)  # dx0/dt = dx1/dt


@pytest.mark.unit
def test_shipped_config():
    data = tomllib.loads((CASE / "config.toml").read_text())
    config = run_config_from_dict(data, CASE)
    assert config.definition is DEF
    assert config.network_spec().sizes == [4, 32, 32, 2]
    assert config.network_spec().n_parameters == 1282
    assert config.training.regularization == 1.86
    assert (config.discretization.nfe, config.discretization.ncp) == (20, 3)
    assert [e.name for e in config.training_experiments] == ["t1", "t2", "t3"]
    for exp in config.experiments:
        assert exp.initial["x0"] == exp.initial["x1"]


@pytest.mark.component
def test_training_and_prediction_models_have_no_structural_warnings():
    """IDAES's DiagnosticsToolbox on the index-2 training problem (small network)."""
    from idaes.core.util.diagnostics_tools.diagnostics_toolbox import DiagnosticsToolbox

    from idaes_hybrid.nn.formulations import Formulation
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training.flowsheet_problem import (
        build_flowsheet_training_model, fixed_weight_model, networks, smoothness)

    spec = NetworkSpec.dense(4, [3], 2, "tanh", seed=0)
    exps = [_experiment(), _experiment([3.1, 3.1, 1.5, 0.5])]
    exps[1].name = "e2"
    hf = _flowsheet()
    m = build_flowsheet_training_model(hf, [unit_experiment(e, DEF) for e in exps], spec, 4, 2,
                                       Formulation.NESTED)
    (net,) = networks(m)
    m.smoothness = pyo.Expression(expr=smoothness(m, 0.1))
    m.smoother_objective = pyo.Objective(expr=m.data_fit + 10.0 * m.smoothness)
    m.smoother_objective.deactivate()
    m.training_objective = pyo.Objective(expr=m.data_fit + 0.005 * net.l2_norm_squared())
    net.fix_weights()  # the final state of train()
    DiagnosticsToolbox(m).assert_no_structural_warnings()
    p, _, _ = fixed_weight_model(hf, unit_experiment(_experiment(), DEF), spec, 4, 2, "predict_e")
    DiagnosticsToolbox(p).assert_no_structural_warnings()
