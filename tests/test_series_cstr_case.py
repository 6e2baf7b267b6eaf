"""Two reactions in one learned reaction package, one rate known and one learned
(``benchmarks/cases/series_cstr``): A -> B -> C in a dynamic CSTR on IDAES's generic property
framework; A -> B keeps its Arrhenius rate through ``known_rates``, the network gives k2(T)
of B -> C. Written from the how-to; the truth is IDAES's generic reaction package."""

from __future__ import annotations

import dataclasses
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
from case_modules import case_module

CASE = Path(__file__).resolve().parents[1] / "benchmarks" / "cases" / "series_cstr"
VARIABLES = {"F": "fs.feed.flow_mol[*]", "Tf": "fs.feed.temperature[*]", "Q": "fs.r1.heat_duty[*]",
             "cA": "fs.conc[*,A]", "cB": "fs.conc[*,B]",
             "T": "fs.r1.control_volume.properties_out[*].temperature"}


def _model():
    return case_module("series_cstr_model", CASE / "model.py")


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


@pytest.mark.integration
def test_training_learns_k2_with_r1_known_on_a_coarse_grid():
    """The case's config trained on a coarse grid (nfe = 12, two training batches): k2(T)
    against IDAES's Arrhenius law over the data's temperatures, and the validation batch
    simulated from its inputs alone against its noise-free truth."""
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.training.flowsheet_train import train_flowsheet

    model = _model()
    cfg = load_flowsheet_config(CASE / "config.toml")
    exps = [e for e in cfg.experiments if e.name in ("b1", "b2", "val")]
    result = train_flowsheet(cfg.flowsheet, exps, cfg.network_specs()["k2"], nfe=12, ncp=3,
                             settings=cfg.training)
    assert result.status == "optimal"
    T = np.linspace(303.0, 325.0, 23)
    rel = np.abs(result.specs["k2"].predict(T[:, None])[:, 0] / model.k_true(T) - 1)
    assert rel.max() < 0.05
    truth = pd.read_csv(CASE / "data" / "val_true.csv.txt")
    traj = result.trajectories["val"]
    for name, sd in (("cB", 5.0), ("T", 0.1)):
        err = np.interp(truth["time"], traj["time"], traj[name]) - truth[name]
        assert np.sqrt(np.mean(err**2)) < sd


def _build_min_at_truth(fs):
    """The learned flowsheet in minutes with k2 held at its Arrhenius truth (1/min)."""
    model = _model()
    model.build_learned_min(fs)
    fs.k2_truth = pyo.Constraint(fs.time, rule=lambda fs, t: (
        fs.r1.control_volume.reactions[t].k_rxn["R2"] == 60.0 * model.A_ARR["R2"] * pyo.units.min**-1
        * pyo.exp(-model.EA["R2"] / (model.R_GAS * fs.r1.control_volume.properties_out[t].temperature
                                      / pyo.units.K))))


@pytest.mark.component
def test_learned_package_in_minutes_matches_the_seconds_flowsheet():
    """A generic property package in minutes (flowsheet time_units = min): the learned package
    takes its base units (it was refused: 'does not use the same set of units'), and the
    march converges (its energy balances in J/min carry terms of 5e10, whose round-off of
    ~1e-5 it took for a failure). With k2 held at its truth (in 1/min) the marched flowsheet
    in minutes reproduces IDAES's true flowsheet in seconds at the same physical times."""
    from idaes_hybrid.training.flowsheet_problem import fixed_weight_model, initialize_flowsheet

    model, build = _model(), _build_min_at_truth

    # 600 mol/min = 10 mol/s; a heat step of 8 kW at 1/3 min = 20 s, in the package's power
    # unit kg m^2/min^3 (its energy is kg m^2/min^2, not J): 8000 * 60^3
    hf = HybridFlowsheet(build, [], VARIABLES, time_units=pyo.units.min)
    exp_min = FlowsheetExperiment("step", 5.0 / 3.0, pd.DataFrame(), inputs={
        "F": 600.0, "Tf": 300.0, "Q": parse_input([[0, 0.0], [1.0 / 3.0, 8000.0 * 60**3]], "Q", None)})
    model_min, blk, _ = fixed_weight_model(hf, exp_min, None, 20, 3, "step")
    initialize_flowsheet(blk)
    exp_s = FlowsheetExperiment("step", 100.0, pd.DataFrame(), inputs={
        "F": 10.0, "Tf": 300.0, "Q": parse_input([[0, 0.0], [20.0, 8000.0]], "Q", None)})
    ref = simulate_flowsheet(HybridFlowsheet(model.build_true, [], VARIABLES), exp_s, None, nfe=20,
                             ncp=3, outputs=["cA", "cB", "T"])
    times = list(blk.fs.time)
    np.testing.assert_allclose(np.array(times) * 60.0, ref.time, rtol=2e-5)   # times rounded
    for name in ("cA", "cB", "T"):
        var = hf.var(blk, name, name)
        np.testing.assert_allclose([pyo.value(var[t]) for t in times], ref.series[name], rtol=1e-6)
    assert ref.series["T"][-1] > ref.series["T"][0] + 10.0
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=False)
    build(m.fs)
    assert_units_consistent(m)
    assert str(pyo.units.get_units(m.fs.r1.control_volume.reactions[0].k_rxn["R2"])) == "1/min"


@pytest.mark.integration
def test_one_network_in_two_reactors_from_the_second_outlet_only():
    """``config_two.toml``: Feed -> r1 -> r2 (arcs), the learned package in both reactors (one
    network k2(T)), only r2's outlet measured (cA2, cB2, T2). Coarse grid, two training
    batches: k2 against IDAES's Arrhenius law over r2's measured temperatures, and the
    validation batch simulated from its inputs against its noise-free truth."""
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.training.flowsheet_train import train_flowsheet

    model = _model()
    cfg = load_flowsheet_config(CASE / "config_two.toml")
    exps = [e for e in cfg.experiments if e.name in ("b1", "b2", "val")]
    result = train_flowsheet(cfg.flowsheet, exps, cfg.network_specs()["k2"], nfe=12, ncp=3,
                             settings=cfg.training)
    assert result.status == "optimal"
    T = np.linspace(303.0, 326.0, 24)
    rel = np.abs(result.specs["k2"].predict(T[:, None])[:, 0] / model.k_true(T) - 1)
    assert rel.max() < 0.05
    truth = pd.read_csv(CASE / "data_two" / "val_true.csv.txt")
    traj = result.trajectories["val"]
    for name, sd in (("cB2", 5.0), ("T2", 0.1)):
        err = np.interp(truth["time"], traj["time"], traj[name]) - truth[name]
        assert np.sqrt(np.mean(err**2)) < sd



@pytest.mark.component
@pytest.mark.parametrize("build_name", ["learned_at_truth", "build_true_min"])
def test_simulation_in_minutes_keeps_the_converged_march_when_ipopt_stalls(build_name):
    """``simulate_flowsheet`` in minutes (the learned package with k2 at its truth, and IDAES's
    generic reaction package itself): Ipopt's square solve stalls at the round-off of the
    energy terms (max_iterations; the simulation was a PredictionError, and with the generic
    reaction package the march stalled too, a performance equation at 1e-9 of its terms
    beside energy rows at 1e-5); the converged march's solution is kept, and it is IDAES's
    true flowsheet in seconds."""
    model = _model()
    build = _build_min_at_truth if build_name == "learned_at_truth" else model.build_true_min
    exp_min = FlowsheetExperiment("step", 5.0 / 3.0, pd.DataFrame(), inputs={
        "F": 600.0, "Tf": 300.0, "Q": parse_input([[0, 0.0], [1.0 / 3.0, 8000.0 * 60**3]], "Q", None)})
    sim = simulate_flowsheet(HybridFlowsheet(build, [], VARIABLES, time_units=pyo.units.min),
                             exp_min, None, nfe=10, ncp=3, outputs=["cA", "cB", "T"])
    exp_s = FlowsheetExperiment("step", 100.0, pd.DataFrame(), inputs={
        "F": 10.0, "Tf": 300.0, "Q": parse_input([[0, 0.0], [20.0, 8000.0]], "Q", None)})
    ref = simulate_flowsheet(HybridFlowsheet(model.build_true, [], VARIABLES), exp_s, None, nfe=10,
                             ncp=3, outputs=["cA", "cB", "T"])
    for name in ("cA", "cB", "T"):
        np.testing.assert_allclose(sim.series[name], ref.series[name], rtol=1e-6)
    assert sim.series["T"][-1] > sim.series["T"][0] + 10.0


@pytest.mark.integration
def test_smoother_in_minutes_stops_at_its_optimum():
    """``config_min.toml`` (the case in minutes) on a coarse grid: the smoother's energy rows
    carry terms of 1e11 (kg m^2/min^2 holdups over elements of minutes) with gradients below
    Ipopt's scaling threshold; their round-off (3e-5) stayed above ``tol`` and Ipopt ran to
    ``max_iter`` (3000 iterations, restoration phases) at the optimum it had reached in ~10.
    Those rows are now scaled down for the round-off of their terms: optimal in a few."""
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.training import flowsheet_train as ft
    from idaes_hybrid.training.flowsheet_problem import build_flowsheet_training_model, smoothness

    cfg = load_flowsheet_config(CASE / "config_min.toml")
    exps = [e for e in cfg.experiments if e.name == "b1"]
    m = build_flowsheet_training_model(cfg.flowsheet, exps, cfg.network_specs(), nfe=8, ncp=3)
    m.smoother_objective = pyo.Objective(expr=m.data_fit + cfg.training.smoother_penalty * smoothness(m))
    settings = dataclasses.replace(cfg.training, smoother_options={"max_iter": 60})
    report = ft.smoother_stage(m, cfg.flowsheet, exps, ft.TRAINING_OPTIONS, settings, tee=False)
    assert report.status == "optimal"
    assert report.iterations < 40
