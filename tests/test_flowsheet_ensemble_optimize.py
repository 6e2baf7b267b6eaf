"""Optimization over an ensemble's members on the flowsheet path
(``idaes_hybrid.optimize.flowsheet_ensemble``, ``[optimization] ensemble`` in a flowsheet
config), on the bioreactor flowsheet's feed optimization (maximize P(tf) V(tf), V(tf) <= 2.5 L)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from idaes_hybrid.config.flowsheet import load_flowsheet_config
from idaes_hybrid.config.run import ConfigError

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"


def _config(tmp_path: Path, extra_optimization: str = "") -> Path:
    """The shipped bioreactor flowsheet config (absolute paths, an 8-8 network, 6 segments)."""
    text = (CASE / "config_flowsheet.toml").read_text()
    for rel in ('"hybrid_flowsheet.py:', '"optimize.py:', '"data/'):
        text = text.replace(rel, f'"{CASE}/{rel[1:]}')
    text = text.replace("hidden = [20, 20]", "hidden = [8, 8]").replace("segments = 10", "segments = 6")
    text = text.replace("[optimization]\n", "[optimization]\n" + extra_optimization, 1)
    path = tmp_path / f"cfg{abs(hash(extra_optimization))}.toml"
    path.write_text(text)
    return path


def _shifted(spec, delta: float):
    """``spec`` with its output moved by ``delta`` (1/h: a member that rates growth lower)."""
    from idaes_hybrid.nn.network import NetworkSpec

    d = spec.to_dict()
    d["output_mean"] = [b + delta for b in d["output_mean"]]
    return NetworkSpec.from_dict(d)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from idaes_hybrid.cli.app import main
    from idaes_hybrid.cli.flowsheet import checked_specs

    tmp = tmp_path_factory.mktemp("ens")
    cfg = _config(tmp)
    assert main(["train", str(cfg), "--out", str(tmp / "run"), "--quiet"]) == 0
    config = load_flowsheet_config(cfg)
    return tmp, config, checked_specs(tmp / "run" / "model", config)


def _problem(config):
    opt = config.optimization()
    return opt, (opt.scenario, opt.controls, opt.objective, opt.constraints, opt.segments, opt.nfe,
                 opt.ncp, config.training.solver_options)


@pytest.mark.unit
def test_bad_ensemble_value_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"optimization.ensemble: expected one of 'expected', "
                                          r"'worst-case', got 'mean'"):
        load_flowsheet_config(_config(tmp_path, 'ensemble = "mean"\n')).optimization()
    assert load_flowsheet_config(_config(tmp_path, 'ensemble = "worst-case"\n')).optimization() \
        .ensemble.value == "worst-case"


@pytest.mark.component
def test_identical_members_give_the_nominal_optimum(trained):
    """K copies of one network: expected and worst-case optima are the single model's."""
    from idaes_hybrid.optimize.flowsheet import optimize_flowsheet
    from idaes_hybrid.optimize.flowsheet_ensemble import optimize_flowsheet_ensemble

    _, config, specs = trained
    opt, args = _problem(config)
    nominal = optimize_flowsheet(config.flowsheet, args[0], specs, *args[1:])
    for mode in ("expected", "worst-case"):
        ens = optimize_flowsheet_ensemble(config.flowsheet, args[0], [specs, specs], *args[1:], mode=mode)
        assert ens.objective == pytest.approx(nominal.objective, rel=1e-5), mode
        np.testing.assert_allclose(ens.profiles["F"], nominal.profiles["F"], atol=1e-3)
        assert ens.member_objectives == pytest.approx([ens.objective] * 2, rel=1e-9)


@pytest.mark.component
def test_a_member_the_march_fails_on_starts_at_its_simulation(trained, monkeypatch, caplog):
    """Member 1's march fails: its copy starts at predict's simulation and the ensemble
    reaches the optimum of a run whose marches all converge."""
    import logging

    from idaes.core.util.exceptions import InitializationError

    from idaes_hybrid.optimize import flowsheet_ensemble
    from idaes_hybrid.optimize.flowsheet_ensemble import optimize_flowsheet_ensemble

    _, config, specs = trained
    opt, args = _problem(config)
    plain = optimize_flowsheet_ensemble(config.flowsheet, args[0], [specs, specs], *args[1:])
    march = flowsheet_ensemble.initialize_flowsheet

    def fail_member_1(blk, net=None):
        if "member[1]" in blk.name:
            raise InitializationError(f"{blk.name}.fs: the march did not converge")
        return march(blk, net)

    monkeypatch.setattr(flowsheet_ensemble, "initialize_flowsheet", fail_member_1)
    with caplog.at_level(logging.INFO, logger="idaes.idaes_hybrid"):
        ens = optimize_flowsheet_ensemble(config.flowsheet, args[0], [specs, specs], *args[1:])
    assert "member 1 started at its simulation" in caplog.text
    assert ens.objective == pytest.approx(plain.objective, rel=1e-6)
    np.testing.assert_allclose(ens.profiles["F"], plain.profiles["F"], atol=1e-4)


@pytest.mark.component
def test_members_objectives_match_their_simulations_and_worst_case_bounds_them(trained):
    """Two members that disagree: each member's objective at the ensemble optimum equals its
    own simulation of those profiles; the expected optimum minimizes the mean, the
    worst-case optimum the largest (so neither beats the other on its own measure)."""
    from idaes_hybrid.optimize.flowsheet_ensemble import optimize_flowsheet_ensemble
    from idaes_hybrid.optimize.flowsheet_loop import LoopProblem, evaluate_profiles

    _, config, specs = trained
    term = next(iter(specs))
    members = [specs, {term: _shifted(specs[term], -0.01)}]
    opt, args = _problem(config)
    expected = optimize_flowsheet_ensemble(config.flowsheet, args[0], members, *args[1:], mode="expected")
    worst = optimize_flowsheet_ensemble(config.flowsheet, args[0], members, *args[1:], mode="worst-case")
    problem = LoopProblem(opt.scenario, opt.controls, opt.objective, opt.constraints, opt.segments,
                          opt.nfe, opt.ncp)
    for res in (expected, worst):
        sims = [evaluate_profiles(config.flowsheet, problem, res.inputs(), member)[0] for member in members]
        np.testing.assert_allclose(res.member_objectives, sims, rtol=1e-5)
    assert abs(expected.member_objectives[0] - expected.member_objectives[1]) > 1e-3  # they disagree
    assert expected.objective == pytest.approx(np.mean(expected.member_objectives), rel=1e-9)
    assert worst.objective == pytest.approx(max(worst.member_objectives), rel=1e-9)
    assert worst.objective <= max(expected.member_objectives) + 1e-6
    assert expected.objective <= np.mean(worst.member_objectives) + 1e-6


@pytest.mark.component
def test_a_solve_stopped_at_its_limit_at_a_feasible_point_keeps_that_point(trained):
    """Ensemble optimizations keep the profile of a solve stopped by max_iter when the
    point is feasible: each member's objective there equals its own simulation of the
    returned profiles, and it is no better than the converged optimum."""
    from idaes_hybrid.optimize.flowsheet_ensemble import optimize_flowsheet_ensemble
    from idaes_hybrid.optimize.flowsheet_loop import LoopProblem, evaluate_profiles

    _, config, specs = trained
    term = next(iter(specs))
    members = [specs, {term: _shifted(specs[term], -0.01)}]
    opt, args = _problem(config)
    full = optimize_flowsheet_ensemble(config.flowsheet, args[0], members, *args[1:])
    assert full.status == "optimal" and full.iterations > 6
    options = {**(args[-1] or {}), "max_iter": full.iterations - 3}
    stopped = optimize_flowsheet_ensemble(config.flowsheet, args[0], members, *args[1:-1], options)
    assert stopped.status == "max_iterations"
    problem = LoopProblem(opt.scenario, opt.controls, opt.objective, opt.constraints, opt.segments,
                          opt.nfe, opt.ncp)
    sims = [evaluate_profiles(config.flowsheet, problem, stopped.inputs(), member)[0] for member in members]
    np.testing.assert_allclose(stopped.member_objectives, sims, rtol=1e-4)
    assert stopped.objective >= full.objective - 1e-6  # minimized: not below the optimum
    assert stopped.objective == pytest.approx(full.objective, rel=1e-2)


@pytest.mark.component
def test_a_worst_case_solve_stopped_somewhere_worse_returns_its_start(trained, monkeypatch):
    """The worst-case solve starts at the expected objective's optimum; stopped at its limit
    at a point where the worst member fares worse (here: made so), that start is returned."""
    import pyomo.environ as pyo

    import idaes_hybrid.optimize.flowsheet_ensemble as fe
    from idaes_hybrid.solve.solver import SolveResult, SolveStatus

    _, config, specs = trained
    term = next(iter(specs))
    members = [specs, {term: _shifted(specs[term], -0.01)}]
    real, seen = fe.solve_controls, {}

    def solve_then_spoil(m, *args, **kwargs):
        if "expected" not in seen:  # the expected-objective stage: solved for real
            out = real(m, *args, **kwargs)
            seen["expected"] = [float(pyo.value(e)) for e in m.member_objective.values()]
            return out
        for v in m.member[0].component_data_objects(pyo.Var, descend_into=True):
            if not v.fixed:
                v.set_value(0.0, skip_validation=True)  # member 0's objective rises to 0
        stopped = SolveResult(SolveStatus.MAX_ITERATIONS, "limit", 3, 0.1, None, "test", "",
                              solution_loaded=True, constraint_violation=0.0)
        return stopped, fe.control_profiles(m, args[1])

    monkeypatch.setattr(fe, "solve_controls", solve_then_spoil)
    opt, args = _problem(config)
    res = fe.optimize_flowsheet_ensemble(config.flowsheet, args[0], members, *args[1:], mode="worst-case")
    assert res.status == "max_iterations"
    assert res.member_objectives == pytest.approx(seen["expected"], rel=1e-12)
    assert res.objective == pytest.approx(max(seen["expected"]), rel=1e-12) and res.objective < 0


@pytest.mark.component
def test_an_infeasible_hull_trust_region_says_what_to_change(trained):
    """This case's three batches all fed 0.05 L/h: their inputs' hull is a sliver that no
    feed meeting V(tf) <= 2.5 L stays in (the box is feasible). The infeasible solve names the
    trust region and what to change."""
    from idaes_hybrid.cli.flowsheet import saved_input_boxes
    from idaes_hybrid.model.trust_region import TrustShape
    from idaes_hybrid.optimize.flowsheet import FlowsheetOptimizationError, optimize_flowsheet

    tmp, config, specs = trained
    _, args = _problem(config)
    model = tmp / "run" / "model"
    box = optimize_flowsheet(config.flowsheet, args[0], specs, *args[1:],
                             input_boxes=saved_input_boxes(model, 0.0, TrustShape.BOX))
    assert box.status == "optimal"
    hull = saved_input_boxes(model, 0.0, TrustShape.HULL)
    with pytest.raises(FlowsheetOptimizationError, match=r"infeasible .*raise trust_margin, use a wider "
                                                         r"shape \(\"hull\" < \"ellipsoid\" < \"box\"\)"):
        optimize_flowsheet(config.flowsheet, args[0], specs, *args[1:], input_boxes=hull)


@pytest.mark.unit
def test_only_a_loaded_feasible_limit_stop_is_kept():
    from idaes_hybrid.optimize.flowsheet import FEASIBLE_STOP_VIOLATION, feasible_stop
    from idaes_hybrid.solve.solver import SolveResult, SolveStatus

    def result(status, loaded=True, violation=1e-9):
        return SolveResult(status, "", 10, 1.0, None, "ipopt", "", solution_loaded=loaded,
                           constraint_violation=violation)

    assert feasible_stop(result(SolveStatus.MAX_ITERATIONS))
    assert not feasible_stop(result(SolveStatus.MAX_ITERATIONS, violation=10 * FEASIBLE_STOP_VIOLATION))
    assert not feasible_stop(result(SolveStatus.MAX_ITERATIONS, loaded=False))
    assert not feasible_stop(result(SolveStatus.MAX_ITERATIONS, violation=None))
    assert not feasible_stop(result(SolveStatus.INFEASIBLE))
    assert not feasible_stop(result(SolveStatus.FAILED))


@pytest.mark.integration
def test_cli_optimizes_over_the_saved_members(trained, tmp_path):
    """`idaes-hybrid optimize` with `ensemble = "worst-case"` reads the members saved with the
    model; a model without members is refused naming the field."""
    from idaes_hybrid.cli.app import main
    from idaes_hybrid.optimize.flowsheet_ensemble import optimize_flowsheet_ensemble
    from idaes_hybrid.output.flowsheet import save_flowsheet_model
    from idaes_hybrid.uncertainty.ensemble import EnsembleMembers

    tmp, config, specs = trained
    term = next(iter(specs))
    shifted = _shifted(specs[term], -0.01)
    saved = EnsembleMembers([specs[term], shifted], [1, 2], [["b1"], ["b2"]], 2).to_dict()
    save_flowsheet_model(tmp_path / "model", SimpleNamespace(specs=specs), None, config.build_ref, saved)
    cfg = _config(tmp_path, 'ensemble = "worst-case"\n')
    assert main(["optimize", str(tmp_path / "model"), str(cfg), "--out", str(tmp_path / "opt"),
                 "--quiet"]) == 0
    doc = json.loads((tmp_path / "opt" / "optimization.json").read_text())
    opt, args = _problem(load_flowsheet_config(cfg))
    direct = optimize_flowsheet_ensemble(config.flowsheet, args[0], [specs, {term: shifted}], *args[1:],
                                         mode="worst-case")
    assert doc["ensemble"]["mode"] == "worst-case" and doc["ensemble"]["members"] == 2
    assert doc["objective"] == pytest.approx(direct.objective, rel=1e-6)
    assert doc["true_flowsheet"]["gap_percent"] < 10.0
    assert main(["optimize", str(tmp / "run" / "model"), str(cfg), "--out", str(tmp_path / "opt2"),
                 "--quiet"]) == 2
