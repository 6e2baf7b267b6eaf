"""The fed-batch bioreactor unit: structure, units, and the Monod reference against scipy."""

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.util.check_units import assert_units_consistent

from idaes.core import FlowsheetBlock
from idaes.core.util.model_statistics import degrees_of_freedom

from flowsheets.bioreactor.generate_data import simulate_monod
from idaes_hybrid.solve.solver import get_nlp_solver
from idaes_hybrid.model.contract import ContractError, HybridUnit, KineticsMode
from idaes_hybrid.cases.fed_batch import FedBatchReactor

INITIAL = {"X": 0.05, "P": 0.0, "S": 10.0, "V": 1.0}
SIM_TOL = 2e-3  # collocation (40 x 3 Radau) against a 1e-10 scipy integration


def _flowsheet(kinetics, nfe=40, inputs=("X", "S", "P", "V"), discretize=True):
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=True, time_set=[0, 40.0], time_units=pyo.units.h)
    m.fs.unit = FedBatchReactor(kinetics=kinetics, network_inputs=list(inputs))
    if not discretize:  # pyomo.dae's collocation equations carry no time units
        return m
    pyo.TransformationFactory("dae.collocation").apply_to(m.fs, nfe=nfe, ncp=3, scheme="LAGRANGE-RADAU")
    u = m.fs.unit
    u.F.fix(0.05)
    u.Sf.fix(10.0)
    for name, val in INITIAL.items():
        getattr(u, name)[0].fix(val)
    return m


@pytest.mark.unit
def test_structure_dof_and_units():
    m = _flowsheet(KineticsMode.EXTERNAL, nfe=5)
    u = m.fs.unit
    assert isinstance(u, HybridUnit)
    assert u.state_names == ("X", "P", "S", "V")
    n_t = len(m.fs.time)
    # with mu free at every time point the unit lacks exactly those equations
    assert degrees_of_freedom(m) == n_t
    assert_units_consistent(_flowsheet(KineticsMode.EXTERNAL, discretize=False))
    assert [v.name for v in u.network_input_vars(0)] == [f"fs.unit.{n}[0.0]" for n in "XSPV"]
    assert u.network_output_vars(40.0)[0] is u.mu[40.0]
    ref = _flowsheet(KineticsMode.REFERENCE, nfe=5)
    assert degrees_of_freedom(ref) == 0
    assert_units_consistent(_flowsheet(KineticsMode.REFERENCE, discretize=False))


@pytest.mark.unit
def test_bad_options_are_refused():
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=True, time_set=[0, 1.0], time_units=pyo.units.h)
    with pytest.raises(ValueError, match="network_inputs"):
        m.fs.unit = FedBatchReactor(network_inputs=["X", "Q"])
    m2 = _flowsheet(KineticsMode.EXTERNAL, nfe=2)
    with pytest.raises(ContractError, match="physics.Kd"):
        m2.fs.unit.set_physics(Kd=1.0)


@pytest.mark.component
def test_monod_reference_matches_scipy():
    m = _flowsheet(KineticsMode.REFERENCE)
    m.obj = pyo.Objective(expr=0.0)
    result = get_nlp_solver({"tol": 1e-10}).solve(m)
    assert result.ok
    times = np.array(list(m.fs.time))
    ref = simulate_monod(INITIAL, F=0.05, Sf=10.0, t_eval=times)
    for name in "XPSV":
        model = np.array([pyo.value(getattr(m.fs.unit, name)[t]) for t in times])
        np.testing.assert_allclose(model, ref[name].to_numpy(), atol=SIM_TOL)
    # conservation: V = V0 + F t exactly
    np.testing.assert_allclose([pyo.value(m.fs.unit.V[t]) for t in times], 1.0 + 0.05 * times, atol=1e-9)
