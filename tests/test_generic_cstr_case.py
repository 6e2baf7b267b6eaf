"""A CSTR on IDAES's modular generic property framework (``benchmarks/cases/generic_cstr``:
ideal liquid S, A, B, C, FTPx state, generic power-law/Arrhenius reaction package for the
truth) written from the how-to: the march starts its states from the generic package's
defaults (uniform mole fractions), and the generic package builds ``conc_mol_comp`` as an
Expression."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pyomo.environ as pyo
import pytest

from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet, paths
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.training.flowsheet_problem import fixed_weight_model, initialize_flowsheet

CASE = Path(__file__).resolve().parents[1] / "benchmarks" / "cases" / "generic_cstr"


def _model():
    spec = importlib.util.spec_from_file_location("generic_cstr_model", CASE / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.component
def test_march_finds_the_exothermic_steady_state_from_the_generic_package_defaults():
    # The states start at the generic package's defaults (T = 300 K, x = 0.25 each); the
    # full Newton steps are right (at t = 0: T 300 -> 309 -> 308.12), but a line search on
    # the unweighted residuals (the enthalpy balance in W next to balances in mol/s)
    # refused them: "the march did not converge in the block of 72 variables".
    model = _model()
    hf = HybridFlowsheet(model.build_true, [], {
        "F": "fs.feed.flow_mol[*]", "Tf": "fs.feed.temperature[*]", "Q": "fs.r1.heat_duty[*]",
        "cA": "fs.conc_A[*]", "T": "fs.r1.control_volume.properties_out[*].temperature"})
    exp = FlowsheetExperiment("step", 200.0, pd.DataFrame(), inputs={
        "F": parse_input([[0, 10.0], [70, 7.0]], "F", None), "Tf": 300.0, "Q": 0.0})
    m, blk, _ = fixed_weight_model(hf, exp, None, 4, 3, "generic")
    stats = initialize_flowsheet(blk)
    assert stats["max_residual"] < 1e-6
    t0 = blk.fs.time.first()
    # IDAES's own steady-state CSTR initialize + solve on the same packages: 308.11970 K, 634.6134 mol/m3
    assert pyo.value(hf.var(blk, "T", "T")[t0]) == pytest.approx(308.11970, abs=1e-4)
    assert pyo.value(blk.fs.conc_A[t0]) == pytest.approx(634.6134, abs=1e-3)
    assert pyo.value(hf.var(blk, "T", "T")[70.0]) == pytest.approx(308.11970, abs=1e-3)


@pytest.mark.unit
def test_an_expression_path_says_what_to_name_instead():
    m = pyo.ConcreteModel()
    m.b = pyo.Block([0.0, 1.0])
    for b in m.b.values():
        b.x = pyo.Var(initialize=1.0)
        b.conc = pyo.Expression(["A"], rule=lambda b, j: 2 * b.x)
    with pytest.raises(paths.NotAVariableError) as err:
        paths.resolve(m, "b[*].conc[A]", "measurements.cA")
    assert str(err.value) == (
        "measurements.cA: 'b[*].conc[A]' is not a variable but a Pyomo IndexedExpression "
        "(IDAES's generic property framework builds e.g. conc_mol_comp as an Expression); "
        "name a state variable (mole_frac_comp with FTPx) or, in the build function, add a "
        "Var indexed by fs.time with units and a Constraint setting it equal to the "
        "expression, and name that Var")
    with pytest.raises(paths.PathError, match=r"^x: 'b\[\*\]' is not a variable \(IndexedBlock\)"):
        paths.resolve(m, "b[*]", "x")


@pytest.mark.component
def test_march_of_a_trained_network_keeps_the_physical_root_at_t0():
    """The case's trained k(T) turns negative below about 285 K, outside its data: the
    Newton march from the package's defaults converged at t = 0 to a root with the reaction
    running backwards (mole fraction of C -0.162, T 272.7 K) and the validation simulation
    then failed. A group that ends outside its bounds is solved again from its units'
    outlet states started at their inlet states: the physical root (C > 0, T 317 K)."""
    import json

    import numpy as np

    from idaes_hybrid import NetworkSpec
    from idaes_hybrid.config.flowsheet import load_flowsheet_config

    cfg = load_flowsheet_config(CASE / "config.toml")
    spec = NetworkSpec.from_dict(json.loads((CASE / "trained_kinetics.json").read_text()))
    assert spec.predict([[280.0]])[0, 0] < 0 < spec.predict([[300.0]])[0, 0]
    val = next(e for e in cfg.experiments if e.name == "val")
    m, blk, net = fixed_weight_model(cfg.flowsheet, val, {"kinetics": spec}, 4, 3, "generic_val")
    stats = initialize_flowsheet(blk, net)
    assert stats["max_residual"] < 1e-6 and stats["groups_restarted_from_inlet"] >= 1
    out = blk.fs.r1.control_volume.properties_out
    for t in blk.fs.time:
        assert min(pyo.value(out[t].mole_frac_comp[j]) for j in "SABC") > 0.0
    t0 = blk.fs.time.first()
    assert 310.0 < pyo.value(out[t0].temperature) < 325.0   # inlet 300-310 K, exothermic
    assert spec.predict([[pyo.value(out[t0].temperature)]])[0, 0] > 0
    # A + B -> C from a feed with A = B and no C: A and B stay equal, C is what they lost
    x = {j: pyo.value(out[t0].mole_frac_comp[j]) for j in "SABC"}
    np.testing.assert_allclose(x["A"], x["B"], rtol=1e-8)
