"""The general flowsheet path: paths, input profiles, the learned-rate reaction
package on IDAES's CSTR, and training the saponification flowsheet."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from pyomo.util.check_units import assert_units_consistent

from idaes.core import FlowsheetBlock
from idaes.core.util.exceptions import ConfigurationError
from idaes.core.util.model_statistics import degrees_of_freedom
from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock

from idaes_hybrid.model import (
    DataError, FlowsheetExperiment, HybridFlowsheet, InputProfile, Interpolation,
    LearnedRateReactionParameterBlock, LearnedReactionTerm, NetworkTerm, PathError, resolve)
from idaes_hybrid.model.inputs import parse_input

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "saponification"
sys.path.insert(0, str(CASE))
from model import FEED_CONC, VARIABLES, VOLUME, arrhenius, build_learned, build_true  # noqa: E402

STEP_INPUTS = {"F": [[0, 1.0e-3], [20, 0.7e-3]], "Tf": 302.0, "Q": [[0, 0.0], [10, 2.0e4]]}


def _experiment(name="e", horizon=40.0, inputs=None, data=None, **kw):
    frame = data if data is not None else pd.DataFrame({"NaOH": [1.0]}, index=pd.Index([5.0], name="time"))
    return FlowsheetExperiment(name, horizon, frame, inputs=inputs or STEP_INPUTS, **kw)


def _built(build=build_learned, exp=None, nfe=8):
    m = pyo.ConcreteModel()
    m.b = pyo.Block()
    HybridFlowsheet(build, [LearnedReactionTerm("fs.rxn")], VARIABLES).build_experiment(
        m.b, exp or _experiment(), nfe, 3)
    return m


# ----------------------------------------------------------------------------- unit
@pytest.mark.unit
def test_input_profiles_steps_series_and_coverage(tmp_path):
    steps = parse_input([[0, 1.0], [10, 2.0]], "inputs.Q")
    assert steps.value_at(10.0) == 1.0 and steps.value_at(10.0, left=False) == 2.0
    assert steps.breakpoints == [10.0]
    (tmp_path / "u.csv").write_text("time,Q\n0,0\n5,10\n10,20\n")
    series = parse_input({"file": "u.csv", "column": "Q"}, "inputs.Q", tmp_path)
    assert series.interpolation is Interpolation.LINEAR and series.value_at(2.5) == pytest.approx(5.0)
    with pytest.raises(DataError, match=r"inputs.Q: the series ends at t=10.*does not cover the horizon"):
        series.check(20.0, "inputs.Q")
    with pytest.raises(DataError, match=r"inputs.Q: the profile starts at t=1.*does not cover"):
        InputProfile((1.0,), (2.0,)).check(5.0, "inputs.Q")
    with pytest.raises(DataError, match=r"inputs.Q.column: 'X' is not a column"):
        parse_input({"file": "u.csv", "column": "X"}, "inputs.Q", tmp_path)


@pytest.mark.unit
def test_reaction_package_refuses_a_missing_property_package():
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=False)
    with pytest.raises(ConfigurationError, match="property_package"):
        m.fs.rxn = LearnedRateReactionParameterBlock(rate_reactions={"R1": {"NaOH": -1}})


@pytest.mark.unit
def test_reaction_package_refuses_unknown_components():
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=False)
    m.fs.props = SaponificationParameterBlock()
    with pytest.raises(ConfigurationError, match=r"rate_reactions.R1: \['NaCl'\] not components"):
        m.fs.rxn = LearnedRateReactionParameterBlock(property_package=m.fs.props,
                                                     rate_reactions={"R1": {"NaCl": -1}})


# ------------------------------------------------------------------------ component
@pytest.mark.component
def test_paths_resolve_and_bad_paths_name_the_field():
    m = _built()
    ref = resolve(m.b, VARIABLES["NaOH"], "measurements.NaOH")
    assert len(ref) == len(m.b.fs.time)
    with pytest.raises(PathError, match=r"measurements.X: 'fs.r1.nothing\[\*\]' names no variable"):
        resolve(m.b, "fs.r1.nothing[*]", "measurements.X")
    with pytest.raises(PathError, match=r"'fs.r1.nothing\[\*\].volume' names no variable "
                                        r"\('nothing\[\*\]' not found under b.fs.r1"):
        resolve(m.b, "fs.r1.nothing[*].volume", "measurements.X")
    # names after the wildcard are looked up on each block the slice covers: a misspelled
    # property (IDAES raises its own AttributeError), an unknown component, a scalar indexed
    cv = "fs.r1.control_volume.properties_out[*]"
    with pytest.raises(PathError, match=r"measurements.X: .*conc_mol_cmp\[NaOH\]' names no variable "
                                        r"\(PropertyNotSupportedError: .*conc_mol_cmp is not supported"):
        resolve(m.b, f"{cv}.conc_mol_cmp[NaOH]", "measurements.X")
    with pytest.raises(PathError, match=r"conc_mol_comp\[NaCl\]' names no variable \(KeyError: "
                                        r"Index 'NaCl' is not valid"):
        resolve(m.b, f"{cv}.conc_mol_comp[NaCl]", "measurements.X")
    with pytest.raises(PathError, match=r"temperature\[1\]' names no variable \(KeyError: Cannot "
                                        r"treat the scalar component"):
        resolve(m.b, f"{cv}.temperature[1]", "measurements.X")
    with pytest.raises(PathError, match=r"measurements.V: 'fs.r1.volume\[0\]' has no time index"):
        resolve(m.b, "fs.r1.volume[0]", "measurements.V")
    hf = HybridFlowsheet(build_learned, [LearnedReactionTerm("fs.rxn")], VARIABLES)
    with pytest.raises(PathError, match="measurements.Y: 'Y' is neither a name in variables"):
        hf.var(m.b, "Y", "measurements.Y")
    with pytest.raises(PathError, match=r"measurements.time: 'time' is neither .* nor a path; sample "
                                        r"times belong in the table's index"):
        hf.var(m.b, "time", "measurements.time")
    # a wrong path in [flowsheet.variables] is that entry's, whichever use met it first
    typo = HybridFlowsheet(build_learned, [LearnedReactionTerm("fs.rxn")],
                           {**VARIABLES, "NaOH": f"{cv}.conc_mol_cmp[NaOH]"})
    with pytest.raises(PathError, match=r"^flowsheet\.variables\.NaOH: .*conc_mol_cmp\[NaOH\]' names no"):
        typo.var(m.b, "NaOH", "experiments['b1'].measurements.NaOH")


@pytest.mark.unit
def test_time_units_by_name_as_in_a_config():
    """``time_units="min"`` (the config's spelling) is the Pyomo unit; a wrong name is refused
    naming the field and the names (it failed deep in IDAES's FlowsheetBlock)."""
    term = [LearnedReactionTerm("fs.rxn")]
    assert HybridFlowsheet(build_learned, term, VARIABLES, time_units="min").time_units is pyo.units.min
    assert HybridFlowsheet(build_learned, term, VARIABLES, time_units=pyo.units.h).time_units is pyo.units.h
    assert HybridFlowsheet(build_learned, term, VARIABLES).time_units is pyo.units.s
    with pytest.raises(ValueError, match=r"^time_units: expected a Pyomo unit of time or one of s, min, "
                                         r"h, hr, dimensionless, got 'minutes'"):
        HybridFlowsheet(build_learned, term, VARIABLES, time_units="minutes")


@pytest.mark.component
def test_network_input_that_is_not_a_property_is_named():
    def build(fs):
        build_learned(fs)
        fs.rxn.config.network_inputs = ["enthalpy_of_nothing"]

    m = pyo.ConcreteModel()
    m.b = pyo.Block()
    hf = HybridFlowsheet(build, [LearnedReactionTerm("fs.rxn")], VARIABLES)
    hf.build_experiment(m.b, _experiment(), 4, 2)
    with pytest.raises(PathError, match=r"fs.rxn.network_inputs\[0\]: 'enthalpy_of_nothing' is not "
                                        r"a property of the state block"):
        LearnedReactionTerm("fs.rxn").series(m.b)


@pytest.mark.component
def test_an_expression_element_gets_the_expression_hint_for_network_inputs_too():
    """``conc_mol_comp[A]`` of IDAES's generic packages is an element of an Expression (an
    ``ExpressionData``): as a network input it got no hint."""
    from idaes_hybrid.model.paths import NotAVariableError

    state = _built().b.fs.r1.control_volume.properties_out[0.0]
    state.conc_expr = pyo.Expression(["A"], rule=lambda b, j: 2.0)
    with pytest.raises(NotAVariableError, match=r"network_inputs\[0\]: 'conc_expr\[A\]' is not a variable "
                                                r"but a Pyomo ExpressionData .* feed the network a state variable"):
        resolve(state, "conc_expr[A]", "fs.rxn.network_inputs[0]", require_wildcard=False)
    with pytest.raises(NotAVariableError, match=r"measurements.X: .* ExpressionData .* add a Var indexed by fs.time"):
        resolve(state, "conc_expr[A]", "measurements.X", require_wildcard=False)


@pytest.mark.component
def test_a_misspelled_reaction_package_is_named_with_the_flowsheets_packages():
    m = _built()
    with pytest.raises(PathError, match=r"^terms.kinetics.package: 'fs.rxns' is not a "
                                        r"LearnedRateReactionParameterBlock of the flowsheet "
                                        r"\(the flowsheet's: fs.rxn\)$"):
        LearnedReactionTerm("fs.rxns").series(m.b)


@pytest.mark.component
def test_uncovered_input_series_stops_the_build():
    exp = _experiment(inputs={**STEP_INPUTS, "Q": InputProfile((0.0, 10.0), (0.0, 1.0),
                                                                Interpolation.LINEAR)})
    with pytest.raises(DataError, match=r"inputs.Q: the series ends at t=10.*does not cover"):
        _built(exp=exp)


@pytest.mark.component
def test_input_outside_the_property_package_range_names_the_input():
    """IDAES's saponification package bounds T to 298.15-323.15 K: a feed at 295 K is a
    data error naming the input and the time, not a solver's 'trivially infeasible'."""
    exp = _experiment(name="cold", inputs={**STEP_INPUTS, "Tf": [[0, 302.0], [20, 295.0]]})
    with pytest.raises(DataError, match=r"experiments\['cold'\].inputs.Tf: 295 at t = 2\d.* outside "
                                        r"the bounds \[298.15, 323.15\]"):
        _built(exp=exp)


@pytest.mark.component
def test_learned_cstr_is_square_with_k_fixed_and_units_consistent():
    m = _built()
    assert_units_consistent(m)
    (series,) = LearnedReactionTerm("fs.rxn").series(m.b)
    assert len(series.index) == len(m.b.fs.time)
    assert series.inputs[0][0] is m.b.fs.r1.control_volume.properties_out[0.0].temperature
    for z in series.outputs:
        z[0].fix(0.1)
    assert degrees_of_freedom(m) == 0
    # a step input sits on an element boundary: the value before the step at t=20
    f = resolve(m.b, VARIABLES["F"], "F")
    assert 20.0 in m.b.fs.time and f[20.0].value == pytest.approx(1.0e-3)


@pytest.mark.component
def test_true_flowsheet_reaches_the_analytic_steady_state():
    """Constant inputs for long: the outlet meets F (c0 - c) = V k(T) c^2."""
    from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

    plant = HybridFlowsheet(build_true, [], VARIABLES)
    exp = _experiment(horizon=200.0, inputs={"F": [[0, 1.0e-3], [1, 0.8e-3]], "Tf": 305.0, "Q": 1.0e4})
    traj = simulate_flowsheet(plant, exp, None, nfe=20, ncp=3, outputs=["NaOH", "T"])
    c, temp = traj["NaOH"][-1], traj["T"][-1]
    # the property package's bounds travel with the simulation (the bands' limits)
    assert traj.bounds["T"] == (298.15, 323.15)
    c0, flow = FEED_CONC["NaOH"], 0.8e-3
    k = arrhenius(temp)
    c_ref = (-flow + math.sqrt(flow**2 + 4 * VOLUME * k * flow * c0)) / (2 * VOLUME * k)
    assert c == pytest.approx(c_ref, rel=1e-4)
    # energy: F rho cp (T - Tf) = Q + (-dH) V k c^2
    rho_cp = 55388.0 * 75.327
    t_ref = 305.0 + (1.0e4 + 49000.0 * VOLUME * k * c**2) / (flow * rho_cp)
    assert temp == pytest.approx(t_ref, abs=1e-3)


@pytest.mark.component
def test_network_term_on_paths_builds_points():
    m = _built()
    term = NetworkTerm(inputs=[VARIABLES["T"]], outputs=["fs.r1.control_volume.reactions[*].k_rxn[R1]"],
                       name="k")
    (series,) = term.series(m.b)
    assert series.times() == list(m.b.fs.time)
    with pytest.raises(PathError, match=r"terms.k.outputs\[0\]"):
        NetworkTerm(inputs=[VARIABLES["T"]], outputs=["fs.r1.k[*]"], name="k").series(m.b)




@pytest.mark.component
def test_diagnostics_toolbox_finds_no_structural_warning_with_the_network_in_place():
    """The hybrid flowsheet with network equations written out (weights fixed, as in
    prediction and optimization): IDAES's structural checks pass, units included."""
    from idaes.core.util.model_diagnostics import DiagnosticsToolbox

    from idaes_hybrid import NetworkSpec
    from idaes_hybrid.nn.formulations import Formulation
    from idaes_hybrid.training.flowsheet_problem import build_flowsheet_training_model

    hf = HybridFlowsheet(build_learned, [LearnedReactionTerm("fs.rxn")], VARIABLES)
    spec = NetworkSpec.dense(1, [5], 1, activation="softplus", seed=0)
    m = build_flowsheet_training_model(hf, [_experiment()], spec, 6, 2, Formulation.NESTED)
    m.obj = pyo.Objective(expr=m.data_fit)
    m.networks.kinetics.fix_weights()
    DiagnosticsToolbox(m).assert_no_structural_warnings()


@pytest.mark.component
def test_heat_duty_optimization_on_the_true_flowsheet_beats_the_start_and_is_clean():
    """The optimization problem: better than its starting profile evaluated independently
    (a plain simulation), and structurally clean with its decisions fixed."""
    from idaes.core.util.model_diagnostics import DiagnosticsToolbox

    import optimize as opt

    res = opt.optimize(HybridFlowsheet(build_true, [], VARIABLES), None, nfe=18)
    start = {"Q": InputProfile((0.0,), (opt.CONTROLS[0].start,))}
    assert res.objective < opt.evaluate_on_truth(start, nfe=18) - 1e-3
    assert opt.evaluate_on_truth(res.inputs(), nfe=18) == pytest.approx(res.objective, rel=1e-6)
    assert all(0.0 - 1e-6 <= q <= 4.0e4 + 1e-6 for q in res.profiles["Q"])
    res.model.control.Q_scaled.fix()
    DiagnosticsToolbox(res.model).assert_no_structural_warnings()


@pytest.mark.component
def test_learned_package_on_a_steady_state_cstr_matches_the_analytic_solution():
    """Steady-state IDAES CSTR with the learned package and k fixed: F (c0 - c) = V k c^2,
    solved through IDAES's get_solver() (real Ipopt via the plugin)."""
    from idaes.core.solvers import get_solver
    from idaes.models.unit_models import CSTR

    from idaes_hybrid.solve.idaes_default import ensure_idaes_default_solver

    ensure_idaes_default_solver()
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=False)
    m.fs.props = SaponificationParameterBlock()
    m.fs.rxn = LearnedRateReactionParameterBlock(
        property_package=m.fs.props, dh_rxn={"R1": -49000.0},
        rate_reactions={"R1": {"NaOH": -1, "EthylAcetate": -1, "SodiumAcetate": 1, "Ethanol": 1}},
        mass_action={"R1": {"NaOH": 1, "EthylAcetate": 1}})
    m.fs.r1 = CSTR(property_package=m.fs.props, reaction_package=m.fs.rxn,
                   has_heat_of_reaction=True, has_heat_transfer=True)
    for j, c in FEED_CONC.items():
        m.fs.r1.inlet.conc_mol_comp[0, j].fix(c)
    m.fs.r1.inlet.flow_vol.fix(1e-3)
    m.fs.r1.inlet.temperature.fix(303.0)
    m.fs.r1.inlet.pressure.fix(101325.0)
    m.fs.r1.volume.fix(VOLUME)
    m.fs.r1.heat_duty.fix(0.0)
    m.fs.r1.control_volume.reactions[0].k_rxn["R1"].fix(0.15)
    assert degrees_of_freedom(m) == 0
    assert_units_consistent(m)
    m.fs.r1.initialize()
    assert pyo.check_optimal_termination(get_solver().solve(m))
    a = VOLUME * 0.15
    c_ref = (-1e-3 + math.sqrt(1e-6 + 4 * a * 1e-3 * FEED_CONC["NaOH"])) / (2 * a)
    assert pyo.value(m.fs.r1.outlet.conc_mol_comp[0, "NaOH"]) == pytest.approx(c_ref, rel=1e-6)
