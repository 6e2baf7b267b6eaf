"""A spatially distributed IDAES unit on the flowsheet path: a dynamic ``PFR`` (time and
length) on IDAES's saponification package, fed by a ``Feed`` through an arc, its k(T)
learned by ``LearnedRateReactionParameterBlock`` at every (t, x) with one weight set
(``flowsheets/pfr``). The data came from IDAES's own Arrhenius reaction package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from pyomo.util.check_units import assert_units_consistent

from idaes.core.util.model_statistics import degrees_of_freedom

from idaes_hybrid import NetworkSpec
from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet, LearnedReactionTerm

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "pfr"


def _case(name: str):
    """A module of the case under its own name (``model`` is taken by other cases)."""
    key = f"pfr_case_{name}"
    if key not in sys.modules:
        sys.path.insert(0, str(CASE))
        try:
            spec = importlib.util.spec_from_file_location(key, CASE / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(CASE))
        sys.modules[key] = module
    return sys.modules[key]


def _experiment(inputs, horizon=40.0):
    frame = pd.DataFrame({"NaOH": [1.0]}, index=pd.Index([5.0], name="time"))
    return FlowsheetExperiment("e", horizon, frame, inputs=inputs)


def _hybrid(build):
    model = _case("model")
    return HybridFlowsheet(build, [LearnedReactionTerm("fs.rxn")], model.VARIABLES)


@pytest.mark.component
def test_learned_pfr_builds_square_consistent_with_points_at_every_time_and_place():
    model = _case("model")
    m = pyo.ConcreteModel()
    m.b = pyo.Block()
    hf = _hybrid(model.build_learned)
    hf.build_experiment(m.b, _experiment({"F": [[0, 1e-3], [20, 8e-4]], "Tf": 305.0}), 6, 3)
    assert_units_consistent(m)
    cv = m.b.fs.r1.control_volume
    series = LearnedReactionTerm("fs.rxn").series(m.b)
    places = list(cv.length_domain)
    assert len(places) == model.LENGTH_ELEMENTS + 1 and len(series) == len(places)
    for s, x in zip(series, places):
        assert s.times() == list(m.b.fs.time)
        assert [v[0] for v in s.inputs] == [cv.properties[t, x].temperature for t in m.b.fs.time]
        assert [z[0] for z in s.outputs] == [cv.reactions[t, x].k_rxn["R1"] for t in m.b.fs.time]
    for s in series:
        for z in s.outputs:
            z[0].fix(0.1)
    assert degrees_of_freedom(m) == 0


@pytest.mark.component
def test_training_model_has_one_network_point_per_time_and_place():
    from idaes_hybrid.training.flowsheet_problem import build_flowsheet_training_model

    model = _case("model")
    spec = NetworkSpec.dense(1, [4], 1, activation="softplus", seed=0)
    m = build_flowsheet_training_model(_hybrid(model.build_learned),
                                       [_experiment({"F": 1e-3, "Tf": 305.0})], spec, 4, 2)
    blk = m.experiment["e"]
    points = m.networks.kinetics.point_items(active=False)
    assert len(points) == len(blk.fs.time) * len(blk.fs.r1.control_volume.length_domain)
    t, x = blk.fs.time.at(3), blk.fs.r1.control_volume.length_domain.at(4)
    (v, z), = [(v, z) for _, v, z in points if z[0] is blk.fs.r1.control_volume.reactions[t, x].k_rxn["R1"]]
    assert v[0] is blk.fs.r1.control_volume.properties[t, x].temperature


@pytest.mark.component
def test_true_pfr_marches_and_reaches_the_steady_state_of_cstrs_in_series():
    """Independent check of the simulated plant: at steady state, backward differences in
    length make the PFR N equal CSTRs in series, F (c[i-1] - c[i]) = V/N k(T[i]) c[i]^2
    with IDAES's Arrhenius k (the temperatures are the simulated ones)."""
    from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

    model = _case("model")
    plant = HybridFlowsheet(model.build_true, [], model.VARIABLES)
    flow = 8e-4
    sim = simulate_flowsheet(plant, _experiment({"F": [[0, 1.2e-3], [2, flow]], "Tf": 308.0}, 120.0),
                             None, nfe=10, ncp=3)
    blk = sim.model.experiment["e"]
    cv, tend = blk.fs.r1.control_volume, blk.fs.time.last()
    xs = list(cv.length_domain)
    c = model.FEED_CONC["NaOH"]
    vol = model.AREA * model.LENGTH / (len(xs) - 1)
    for x in xs[1:]:
        k = model.arrhenius(pyo.value(cv.properties[tend, x].temperature))
        c = (-flow + np.sqrt(flow**2 + 4 * vol * k * flow * c)) / (2 * vol * k)
        assert pyo.value(cv.properties[tend, x].conc_mol_comp["NaOH"]) == pytest.approx(c, rel=1e-6)
    assert sim.model is not None


@pytest.mark.integration
def test_pfr_learns_arrhenius_k_from_the_outlet_and_predicts_within_the_noise():
    """Trained on three experiments' noisy outlet NaOH (sd 0.01 mol/m^3): k(T) within 5 % of
    IDAES's Arrhenius law over the trained feed temperatures, and the validation experiment,
    simulated from its inputs alone, within the noise."""
    gen, train = _case("generate_data"), _case("train")
    result = train.train()
    assert result.status == "optimal"                    # measured: 19 iterations
    assert train.k_errors(result.spec).max() < 0.05          # measured 0.5 %
    assert result.validation_rmse["NaOH"] < 0.5 * gen.NOISE_SD   # measured 0.0039
    assert result.train_rmse["NaOH"] < 1.5 * gen.NOISE_SD        # measured 0.0124
