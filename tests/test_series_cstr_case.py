"""Two reactions in one learned reaction package, one rate known and one learned
(``benchmarks/cases/series_cstr``): A -> B -> C in a dynamic CSTR on IDAES's generic property
framework; A -> B keeps its Arrhenius rate through ``known_rates``, the network gives k2(T)
of B -> C. Written from the how-to; the truth is IDAES's generic reaction package."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from pyomo.util.check_units import assert_units_consistent
from scipy.integrate import solve_ivp

from idaes.core import FlowsheetBlock
from idaes.core.util.exceptions import ConfigurationError

from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet, LearnedReactionTerm
from idaes_hybrid.model.inputs import parse_input
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

CASE = Path(__file__).resolve().parents[1] / "benchmarks" / "cases" / "series_cstr"
VARIABLES = {"F": "fs.feed.flow_mol[*]", "Tf": "fs.feed.temperature[*]", "Q": "fs.r1.heat_duty[*]",
             "cA": "fs.conc[*,A]", "cB": "fs.conc[*,B]",
             "T": "fs.r1.control_volume.properties_out[*].temperature"}


def _model():
    name = "series_cstr_model"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, CASE / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def _rhs(model, F: float, Tf: float, Q: float):
    """The CSTR's balances as ODEs in (cA, cB, T): constant molar density and volume, so the
    outflow equals the inflow (every reaction keeps the moles)."""
    n, cf = model.VOLUME * model.DENS, model.FEED_X["A"] * model.DENS

    def f(t, y):
        ca, cb, temp = y
        r1 = model.k_true(temp, "R1") * ca
        r2 = model.k_true(temp, "R2") * cb
        q = Q(t) if callable(Q) else Q
        dca = F / n * (cf - ca) - r1
        dcb = -F / n * cb + r1 - r2
        dT = (F * model.CP * (Tf - temp) + q - model.VOLUME * (model.DH["R1"] * r1 + model.DH["R2"] * r2)) \
            / (n * model.CP)
        return [dca, dcb, dT]
    return f


@pytest.mark.component
def test_known_rate_plus_learned_rate_at_its_truth_matches_scipy():
    """The learned package with R1 known and k2 held at its Arrhenius truth (a constraint on
    the learned variable) is the true flowsheet: its steady start and its response to a heat
    step agree with scipy's integration of the same balances."""
    model = _model()

    def build(fs):
        model.build_learned(fs)
        fs.k2_truth = pyo.Constraint(fs.time, rule=lambda fs, t: (
            fs.r1.control_volume.reactions[t].k_rxn["R2"] == model.A_ARR["R2"] * pyo.units.s**-1
            * pyo.exp(-model.EA["R2"] / (model.R_GAS * fs.r1.control_volume.properties_out[t].temperature
                                          / pyo.units.K))))

    exp = FlowsheetExperiment("step", 100.0, pd.DataFrame(), inputs={
        "F": 10.0, "Tf": 300.0, "Q": parse_input([[0, 0.0], [20, 8000.0]], "Q", None)})
    sim = simulate_flowsheet(HybridFlowsheet(build, [], VARIABLES), exp, None, nfe=20, ncp=3,
                             outputs=["cA", "cB", "T"])
    rhs = _rhs(model, 10.0, 300.0, 0.0)
    from scipy.optimize import fsolve
    y0 = fsolve(lambda y: rhs(0, y), [500.0, 300.0, 305.0], xtol=1e-12)
    np.testing.assert_allclose([sim.series[k][0] for k in ("cA", "cB", "T")], y0, rtol=1e-7)
    ref = solve_ivp(_rhs(model, 10.0, 300.0, lambda t: 0.0 if t < 20 else 8000.0), (0, 100), y0,
                    method="Radau", rtol=1e-10, atol=1e-8, max_step=0.5, dense_output=True)
    for t in (30.0, 60.0, 100.0):
        i = int(np.argmin(np.abs(sim.time - t)))
        np.testing.assert_allclose([sim.series[k][i] for k in ("cA", "cB", "T")], ref.sol(sim.time[i]),
                                   rtol=2e-4)
    assert sim.series["T"][-1] > y0[2] + 10.0   # the heat step matters


@pytest.mark.component
def test_known_rate_leaves_one_network_output_and_units_consistent():
    model = _model()
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=False)
    model.build_learned(m.fs)
    assert_units_consistent(m)
    blk = m.fs.r1.control_volume.reactions[0]
    assert [v.name for v in blk.learned_vars()] == ["fs.r1.control_volume.reactions[0.0].k_rxn[R2]"]
    assert LearnedReactionTerm("fs.rxn").n_outputs_of(m) == 1
    assert list(blk.known_rate_eq) == ["R1"]
    assert str(pyo.units.get_units(blk.k_rxn["R2"])) == "1/s"


@pytest.mark.unit
@pytest.mark.parametrize("kwargs, message", [
    ({"known_rates": {"R3": lambda b: 0}}, r"known_rates names unknown reaction\(s\) \['R3'\]"),
    ({"known_rates": {"R1": lambda b: 0, "R2": lambda b: 0}}, r"known_rates covers every reaction"),
    ({"known_rates": {"R1": 1.0}}, r"known_rates: expected \{reaction: function\(b\)"),
    ({"known_rates": {"R1": lambda b: 0}, "mass_action": {"R1": {"A": 1}}},
     r"mass_action.R1: R1 has a known rate"),
])
def test_known_rates_mistakes_are_named(kwargs, message):
    from idaes_hybrid.model import LearnedRateReactionParameterBlock

    model = _model()
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=False)
    from idaes.models.properties.modular_properties.base.generic_property import GenericParameterBlock
    m.fs.props = GenericParameterBlock(**model.THERMO)
    with pytest.raises((ConfigurationError, ValueError), match=message):
        m.fs.rxn = LearnedRateReactionParameterBlock(
            property_package=m.fs.props, rate_reactions={"R1": {"A": -1, "B": 1}, "R2": {"B": -1, "C": 1}},
            **kwargs)


@pytest.mark.component
def test_network_on_a_generic_reaction_rate_constant_points_to_known_rates():
    """The how-to's other route, a NetworkTerm on the true generic package's k_rxn of R2, is
    refused by name: it is an Expression of the package's Arrhenius law (the workaround of
    the message for measured expressions, a Var equal to it, would over-specify)."""
    from idaes_hybrid.model import NetworkTerm, PathError

    model = _model()
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=False)
    model.build_true(m.fs)
    term = NetworkTerm(["fs.r1.control_volume.properties_out[*].temperature"],
                       ["fs.r1.control_volume.reactions[*].k_rxn[R2]"], name="k2")
    with pytest.raises(PathError, match=r"^terms.k2.outputs\[0\]: .* is not a variable but a Pyomo "
                                        r".*Expression: a learned output must be a free variable.*"
                                        r"known_rates=\{reaction: function\(b\)\}"):
        term.series(m)
