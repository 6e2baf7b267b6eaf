"""An outside user's case: two heated CSTRs in series (Feed -> r1 -> r2, arcs) on IDAES's
saponification property package, the rate of R1 learned from (T, C_NaOH) by a network
with 2 inputs (``LearnedQuantity.RATE``), written from the how-to and the config
reference alone (``flowsheets/cstr_cascade``). The data came from IDAES's own
saponification reaction package (Arrhenius) through ``generate.py``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "cstr_cascade"
NOISE_SD = 0.02  # mol/m^3, of C1 and C2 in the training data


def _case_module():
    """The case's model.py under its own module name (a bare ``import model`` would leave
    ``sys.modules['model']`` pointing here for the other cases' tests)."""
    from case_modules import case_module

    return case_module("cstr_cascade_model", CASE / "model.py")


@pytest.mark.unit
def test_validation_data_start_at_the_analytic_steady_state_of_the_true_kinetics():
    """Independent check of the data: at t = 0 (steady state of the initial inputs),
    F (Cf - C1) = V k(T1) C1^2 with IDAES's Arrhenius constants, for r1 and r2."""
    model = _case_module()
    first = pd.read_csv(CASE / "data" / "val.csv").apply(lambda c: c.dropna().iloc[0])
    F, cf, V = 9e-4, 2.0, model.VOLUME
    k1 = model.true_rate(first["T1"], 1.0)
    k2 = model.true_rate(first["T2"], 1.0)
    c1 = (-F + np.sqrt(F**2 + 4 * V * k1 * F * cf)) / (2 * V * k1)
    c2 = (-F + np.sqrt(F**2 + 4 * V * k2 * F * c1)) / (2 * V * k2)
    assert first["C1"] == pytest.approx(c1, rel=1e-5)
    assert first["C2"] == pytest.approx(c2, rel=1e-4)


@pytest.mark.unit
def test_estimate_table_puts_long_state_paths_one_per_line():
    from idaes_hybrid.cli.twin import state_table

    states = ["fs.r1.control_volume.properties_out[*].temperature", "X"]
    lines = state_table(states, {"t = 30": {states[0]: 307.0, "X": 1.5},
                                 "t = 60 (fc)": {states[0]: 304.1, "X": 1.7}})
    assert len(lines) == 3 and lines[1].startswith(states[0]) and lines[2].startswith("X ")
    assert lines[1].split()[1:] == ["307", "304.1"]
    short = state_table(["X", "S"], {"t = 30": {"X": 1.0, "S": 2.0}})
    assert short[0].split() == ["X", "S"] and short[1].split()[-2:] == ["1", "2"]


@pytest.mark.unit
def test_user_constraints_take_lists_and_name_what_is_wrong():
    from idaes_hybrid.optimize.flowsheet import FlowsheetOptimizationError, add_user_constraints

    m = pyo.ConcreteModel()
    m.x = pyo.Var([0, 1, 2], initialize=1.0)
    add_user_constraints(m, {"path": [m.x[t] <= 3.0 for t in range(3)], "one": m.x[0] >= 0.0,
                             "by_time": {0.5: m.x[1] == 1.0}})
    assert len(m.user_constraints.path) == 3 and m.user_constraints.path[2].upper == 3.0
    assert m.user_constraints.by_time[0.5].equality and not m.user_constraints.one.is_indexed()
    with pytest.raises(FlowsheetOptimizationError, match=r"constraints.bad\[1\]: expected a relation"):
        add_user_constraints(pyo.ConcreteModel(), {"bad": [m.x[0] <= 1.0, m.x[1] + 1.0]})
    with pytest.raises(FlowsheetOptimizationError, match="constraints: the function must return"):
        add_user_constraints(pyo.ConcreteModel(), [m.x[0] <= 1.0])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`idaes-hybrid train` on a copy of the case with a coarser grid (nfe 12)."""
    from idaes_hybrid.cli.app import main

    tmp = tmp_path_factory.mktemp("cascade")
    for name in ("model.py", "objective.py"):
        shutil.copy(CASE / name, tmp / name)
    shutil.copytree(CASE / "data", tmp / "data")
    text = (CASE / "config.toml").read_text()
    assert "nfe = 20" in text
    (tmp / "config.toml").write_text(text.replace("nfe = 20", "nfe = 12"))
    assert main(["train", str(tmp / "config.toml"), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp


@pytest.mark.integration
def test_cascade_learns_the_two_input_rate_and_predicts_below_the_noise(trained):
    from idaes_hybrid.cli.flowsheet import load_flowsheet_model

    metrics = json.loads((trained / "run" / "metrics.json").read_text())
    assert metrics["status"] == "optimal"
    assert metrics["networks"]["rate"]["sizes"] == [2, 8, 1]
    assert (trained / "run" / "learned_term.png").is_file()
    val = metrics["validation"]["rmse"]
    assert val["C1"] < 0.25 * NOISE_SD and val["C2"] < 0.25 * NOISE_SD   # measured ~0.002
    assert val["T1"] < 0.05 and val["T2"] < 0.05                          # noise sd 0.1 K
    spec = load_flowsheet_model(trained / "run" / "model")["rate"]
    # the (T, C_NaOH) the experiments visit: the box is far wider than the data's
    # diagonal band, so compare on points along it (r1 and r2 steady states)
    T = np.array([300.0, 302.0, 304.0, 306.0, 308.0, 310.0])
    C = np.array([1.8, 1.6, 1.4, 1.2, 1.0, 0.9])
    rel = np.abs(np.ravel(spec.predict(np.c_[T, C])) - _case_module().true_rate(T, C)) / \
        _case_module().true_rate(T, C)
    assert np.median(rel) < 0.03 and rel.max() < 0.08


@pytest.mark.integration
def test_cascade_heat_duty_optimum_matches_the_true_flowsheet(trained):
    """Two W-sized heat duties with the config's active path constraints T <= 312 K: the
    hybrid optimum, evaluated on the true flowsheet, reaches the true flowsheet's own
    optimum (measured gap ~5e-6 %; nfe 20: 60.70 with, 60.40 without the limits)."""
    from idaes_hybrid.cli.app import main

    assert main(["optimize", str(trained / "run" / "model"), str(trained / "config.toml"),
                 "--out", str(trained / "opt"), "--quiet"]) == 0
    doc = json.loads((trained / "opt" / "optimization.json").read_text())
    truth = doc["true_flowsheet"]
    assert doc["status"] == "optimal" and doc["functions"]["constraints"] == "objective.py:constraints"
    assert abs(truth["gap_percent"]) < 0.5
    assert doc["objective"] == pytest.approx(truth["optimum"], rel=0.01)
    assert min(doc["profiles"]["Q2"][:2]) < 0.9 * 2e4   # the limit holds Q2 back early on


@pytest.mark.integration
def test_cascade_optimum_is_unchanged_by_a_never_active_temperature_limit(trained):
    """The hybrid optimum with T <= 400 K (never reached: 314 K at most) is the optimum
    without limits; before the solves were scaled by magnitude the limit moved the
    returned "optimum" from 60.57 to 60.88 (the true and hybrid optimum: 60.41)."""
    from idaes_hybrid.cli.app import main

    text = (trained / "config.toml").read_text()
    assert 'constraints = "objective.py:constraints"\n' in text
    (trained / "objective_400.py").write_text(
        (trained / "objective.py").read_text().replace("<= 312.0", "<= 400.0"))
    variants = {"free": text.replace('constraints = "objective.py:constraints"\n', ""),
                "t400": text.replace("objective.py:constraints", "objective_400.py:constraints")}
    docs = {}
    for name, body in variants.items():
        (trained / f"{name}.toml").write_text(body)
        assert main(["optimize", str(trained / "run" / "model"), str(trained / f"{name}.toml"),
                     "--out", str(trained / f"opt_{name}"), "--quiet"]) == 0
        docs[name] = json.loads((trained / f"opt_{name}" / "optimization.json").read_text())
    assert docs["t400"]["objective"] == pytest.approx(docs["free"]["objective"], rel=1e-7)
    for q in ("Q1", "Q2"):
        np.testing.assert_allclose(docs["t400"]["profiles"][q], docs["free"]["profiles"][q], rtol=1e-5)
    truth = docs["free"]["true_flowsheet"]
    assert abs(truth["gap_percent"]) < 0.1


@pytest.mark.unit
def test_learned_term_plot_of_a_two_input_network_uses_the_visited_inputs():
    """A 2-input term is drawn at the smoother's own (T, C) points, not along a line
    through the mean C (a state the process never visits); a 1-input term as a line."""
    from idaes_hybrid import NetworkSpec
    from idaes_hybrid.output.flowsheet import learned_term_curve

    spec = NetworkSpec.dense(2, [4], 1, activation="softplus", seed=3)
    v = np.array([[310.0, 0.9], [300.0, 1.8], [305.0, 1.3]])
    x, y, is_line = learned_term_curve(spec, v)
    assert not is_line and list(x) == [300.0, 305.0, 310.0]
    np.testing.assert_allclose(y, np.ravel(spec.predict(v[[1, 2, 0]])), rtol=1e-12)
    one = NetworkSpec.dense(1, [4], 1, activation="softplus", seed=3)
    x1, y1, line1 = learned_term_curve(one, v[:, :1])
    assert line1 and x1[0] == 300.0 and x1[-1] == 310.0 and len(y1) == 100


@pytest.mark.unit
def test_prior_rel_sd_keeps_commas_inside_a_path():
    """`--prior-rel-sd` with flowsheet paths whose index holds commas."""
    from idaes_hybrid.cli.common import UsageError
    from idaes_hybrid.cli.twin import parse_rel_sd

    acc = "fs.r1.control_volume.material_accumulation[*,Liq,H2O]"
    temp = "fs.r1.control_volume.properties_out[*].temperature"
    assert parse_rel_sd(f"{acc}=0.1,{temp}=0.02,X=0.5") == {acc: 0.1, temp: 0.02, "X": 0.5}
    assert parse_rel_sd("X=0.5,V=0.02") == {"X": 0.5, "V": 0.02} and parse_rel_sd("0.3") == 0.3
    with pytest.raises(UsageError, match="expected NAME=SD"):
        parse_rel_sd("X=0.5,V")


@pytest.mark.component
def test_simulation_with_an_incomplete_initial_state_names_the_experiment_and_the_fix():
    """One state short (r2's water accumulation): a DataError naming the experiment and
    what to give (it was a DegreesOfFreedomError the CLI called an internal error)."""
    from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
    from idaes_hybrid.model.experiment import DataError
    from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

    model = _case_module()
    variables = {"C2": "fs.r2.control_volume.properties_out[*].conc_mol_comp[NaOH]"}
    initial = {}
    for r, c, temp in (("r1", 1.2, 307.0), ("r2", 0.85, 308.3)):
        p = f"fs.{r}.control_volume.properties_out[*]"
        initial.update({f"{p}.conc_mol_comp[NaOH]": c, f"{p}.conc_mol_comp[EthylAcetate]": c,
                        f"{p}.conc_mol_comp[SodiumAcetate]": 2 - c,
                        f"{p}.conc_mol_comp[Ethanol]": 2 - c, f"{p}.temperature": temp})
    initial["fs.r1.control_volume.material_accumulation[*,Liq,H2O]"] = 0.0
    inputs = {"fs.feed.flow_vol[*]": 9e-4, "fs.feed.temperature[*]": 303.0,
              "fs.feed.conc_mol_comp[*,NaOH]": 2.0, "fs.feed.conc_mol_comp[*,EthylAcetate]": 2.0,
              "fs.r1.heat_duty[*]": 1.5e4, "fs.r2.heat_duty[*]": 5e3}
    data = pd.DataFrame({"C2": [np.nan]}, index=pd.Index([10.0], name="time"))
    exp = FlowsheetExperiment("short", 10.0, data, initial=initial, inputs=inputs)
    hf = HybridFlowsheet(model.build_true, [], variables)
    with pytest.raises(DataError, match=r"experiments\['short'\]: the flowsheet keeps 1 degrees "
                                        r"of freedom.*material_accumulation\[\*,Liq,H2O\] = 0") as info:
        simulate_flowsheet(hf, exp, None, 2, 1)
    # the message shows r2's accumulations at t = 0, the missing one (H2O) among them
    assert re.search(r"under-determined part holds, at t = 0, .*fs\.r2\.control_volume\."
                     r"material_accumulation\[0(\.0)?,Liq,\*\] \([^)]*H2O", str(info.value)), str(info.value)
    assert "fs.r1.control_volume.material_accumulation" not in str(info.value).split("; fix every")[0]
    initial["fs.r2.control_volume.material_accumulation[*,Liq,H2O]"] = 0.0
    exp = FlowsheetExperiment("full", 10.0, data, initial=initial, inputs=inputs)
    assert simulate_flowsheet(hf, exp, None, 2, 1, ["C2"]).series["C2"][0] == pytest.approx(0.85)


@pytest.mark.unit
def test_two_cases_with_a_neighbour_of_the_same_name_load_their_own(tmp_path):
    """Two case folders whose build modules both do `from model import ...`, loaded in one
    process (a notebook, a test session): each gets its own model.py."""
    from idaes_hybrid.config.flowsheet_parse import load_build_function

    funcs = []
    for value in (1, 2):
        folder = tmp_path / f"case{value}"
        folder.mkdir()
        (folder / "model.py").write_text(f"VALUE = {value}\n")
        (folder / "build.py").write_text("from model import VALUE\n\ndef build(fs):\n    return VALUE\n")
        funcs.append(load_build_function("build.py:build", folder))
    assert [f(None) for f in funcs] == [1, 2]


@pytest.mark.unit
def test_learned_term_axis_labels_name_the_variables_and_their_units():
    """learned_term.png labels its axes with the term's own variables (no time or space
    index, other indices kept) and their units, not "network input 1"."""
    import pyomo.environ as pyo
    from idaes_hybrid.model import NetworkTerm
    from idaes_hybrid.model.terms import series_labels, variable_label

    m = pyo.ConcreteModel()
    m.t = pyo.Set(initialize=[0.0, 1.0])
    m.x = pyo.Set(initialize=[0.0, 0.5])
    m.T = pyo.Var(m.t, units=pyo.units.K)
    m.UA = pyo.Var(m.t, units=pyo.units.W / pyo.units.K)
    m.c = pyo.Var(m.t, m.x, ["NaOH"], units=pyo.units.mol / pyo.units.m**3)
    m.n = pyo.Var(m.t)
    assert variable_label(m.c[1.0, 0.5, "NaOH"]) == "c[NaOH] (mol/m**3)"
    assert variable_label(m.n[0.0]) == "n"
    series = NetworkTerm(["T[*]"], ["UA[*]"], name="ua").series(m)
    assert series_labels(series[0]) == {"inputs": ["T (K)"], "outputs": ["UA (W/K)"]}
