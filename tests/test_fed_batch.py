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


def _constant_rate_model(mu: float, definition=None):
    """A hybrid bioreactor whose network returns ``mu`` everywhere (also at S = 0)."""
    from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR
    from idaes_hybrid.training.problem import Discretization
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training.hybrid_model import HybridModel

    spec = NetworkSpec.dense(2, [3], 1, "softplus", seed=0)
    spec.weights[-1][:] = 0.0
    spec.biases[-1][:] = 0.0
    spec.output_mean[:], spec.output_std[:] = [mu], [0.05]
    return HybridModel(definition or FED_BATCH_BIOREACTOR, {"Yxs": 0.5, "Ypx": 0.2}, ("X", "S"),
                       Discretization(nfe=30, ncp=3), spec)


@pytest.mark.component
def test_predictions_keep_substrate_nonnegative_past_the_data():
    """A network with mu(0) = 0.1 > 0 (what an unconstrained fit can return) in a batch that
    runs out of substrate abruptly (within one element): the simulation's uptake limit keeps
    S >= 0 up to a fraction of S_lim (1e-3 g/L; collocation error in that element) and
    converts exactly the substrate there is (X_end = X0 + Yxs S0, P_end = Ypx (X_end - X0):
    the mass balances), while the training formulation alone (no uptake limit) predicts
    S < 0 (-0.8 g/L per hour of growth past depletion)."""
    import dataclasses

    import pandas as pd

    from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR
    from idaes_hybrid.training.experiment import Experiment, Role
    from idaes_hybrid.training.predict import simulate

    x0, s0 = 1.0, 2.0
    exp = Experiment(name="run_out", initial={"X": x0, "P": 0.0, "S": s0, "V": 1.0},
                     inputs={"F": 0.0, "Sf": 0.0}, horizon=60.0, role=Role.VALIDATION,
                     measurements=pd.DataFrame({"X": [1.0]}, index=pd.Index([1.0], name="time")))
    sim = simulate(_constant_rate_model(0.1), exp)
    assert sim["S"].min() >= -1e-3 and abs(sim["S"][-1]) < 1e-6
    assert sim["X"][-1] == pytest.approx(x0 + 0.5 * s0, rel=1e-4)
    assert sim["P"][-1] == pytest.approx(0.2 * 0.5 * s0, rel=1e-4)
    unlimited = dataclasses.replace(FED_BATCH_BIOREACTOR, simulation_unit_config={})
    assert simulate(_constant_rate_model(0.1, unlimited), exp)["S"].min() < -1.0
