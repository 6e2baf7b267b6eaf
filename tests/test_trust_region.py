"""Trust region of the feed optimization: the network's inputs stay where training saw them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from idaes_hybrid.config.run import ConfigError
from idaes_hybrid.model.trust_region import InputBox, InputBoxError, TrustShape, trust_region

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"


@pytest.mark.unit
def test_input_box_from_points_widened_and_round_trip():
    pts = np.array([[0.0, 5.0], [2.0, 1.0], [1.0, 3.0]])
    box = InputBox.from_points(pts, hull=False)  # the points are collinear: their hull is a segment
    assert box.lower == (0.0, 1.0) and box.upper == (2.0, 5.0)
    wide = box.widened(0.1)
    assert wide.lower == pytest.approx((-0.2, 0.6)) and wide.upper == pytest.approx((2.2, 5.4))
    assert InputBox.from_dict(json.loads(json.dumps(box.to_dict())), 2) == box
    assert box.contains(np.array([[1.0, 2.0], [2.5, 2.0], [1.0, 0.9]])).tolist() == [True, False, False]


@pytest.mark.unit
def test_bad_input_box_and_trust_settings_name_the_field(tmp_path):
    with pytest.raises(InputBoxError, match="input_box"):
        InputBox.from_dict({"lower": [0.0, 1.0], "upper": [1.0]})
    with pytest.raises(InputBoxError, match="input_box"):
        InputBox.from_dict({"lower": [2.0], "upper": [1.0]})
    with pytest.raises(InputBoxError, match="trust_margin"):
        InputBox((0.0,), (1.0,)).widened(-0.1)
    from idaes_hybrid.config.run import load_run_config

    text = (CASE / "config.toml").read_text().replace('data = "data/', f'data = "{CASE}/data/')
    for line, field in (("trust_region = 1", "optimization.trust_region"),
                        ('trust_region = "sphere"', "optimization.trust_region"),
                        ("trust_margin = -0.5", "optimization.trust_margin")):
        cfg = tmp_path / "bad.toml"
        cfg.write_text(text.replace("compare_reference = true", f"compare_reference = true\n{line}"))
        with pytest.raises(ConfigError, match=field):
            load_run_config(cfg)


def _network_inputs(doc: dict, names: list[str]) -> np.ndarray:
    traj = doc["hybrid_optimum"]["trajectories"]
    return np.column_stack([traj[n] for n in names])


@pytest.mark.integration
def test_trust_region_keeps_the_network_inputs_inside_the_training_box(tmp_path):
    """A volume limit above every trained volume: the free optimum fills past the box
    (V > 3 L, never seen in training); with trust_region = true every network input at
    every time point stays inside the saved box, and the predicted product is no larger."""
    from idaes_hybrid.cli.app import main

    text = (CASE / "config.toml").read_text().replace('data = "data/', f'data = "{CASE}/data/')
    text = text.replace("V_max = 2.5", "V_max = 4.0").replace("compare_reference = true",
                                                            "compare_reference = false")
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(text)
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    model = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    saved = InputBox.from_dict(model["input_box"], 4)
    box = saved.box_only()
    names = model["network_inputs"]
    assert box.upper[names.index("V")] == pytest.approx(3.0, rel=1e-6)  # b1: 1 L + 0.05 L/h * 40 h

    assert main(["optimize", str(tmp_path / "run" / "model"), str(cfg), "--out", str(tmp_path / "free"),
                 "--quiet"]) == 0
    free = json.loads((tmp_path / "free" / "optimization.json").read_text())
    assert not box.contains(_network_inputs(free, names)).all()
    assert max(free["hybrid_optimum"]["trajectories"]["V"]) > 3.1
    outside = 1.0 - box.contains(_network_inputs(free, names), rtol=1e-4).mean()
    assert free["extrapolation"]["outside_box"] == pytest.approx(outside)
    assert free["extrapolation"]["outside_hull"] >= outside

    cfg.write_text(text.replace("compare_reference = false", "compare_reference = false\ntrust_region = true"))
    assert main(["optimize", str(tmp_path / "run" / "model"), str(cfg), "--out", str(tmp_path / "tr"),
                 "--quiet"]) == 0
    held = json.loads((tmp_path / "tr" / "optimization.json").read_text())
    assert held["trust_region"] == box.to_dict() and held["request"]["trust_region"] == "box"
    assert box.contains(_network_inputs(held, names), rtol=1e-6).all()
    assert held["hybrid_product_predicted"] <= free["hybrid_product_predicted"] * (1 + 1e-6)

    # the hull: only combinations of inputs training saw together; a tighter optimum
    cfg.write_text(text.replace("compare_reference = false", 'compare_reference = false\ntrust_region = "hull"'))
    assert main(["optimize", str(tmp_path / "run" / "model"), str(cfg), "--out", str(tmp_path / "hull"),
                 "--quiet"]) == 0
    hull = json.loads((tmp_path / "hull" / "optimization.json").read_text())
    assert hull["trust_region"] == saved.to_dict() and len(saved.hull.vertices) >= 5
    from idaes_hybrid.model.input_hull import HULL_SLACK

    assert saved.hull.contains(_network_inputs(hull, names), rtol=HULL_SLACK + 1e-5).all()
    assert hull["extrapolation"]["outside_hull"] == 0.0
    assert hull["hybrid_product_predicted"] <= held["hybrid_product_predicted"] * (1 + 1e-6)

    # the smallest ellipsoid around the hull's vertices, inside the box
    cfg.write_text(text.replace("compare_reference = false", 'compare_reference = false\ntrust_region = "ellipsoid"'))
    assert main(["optimize", str(tmp_path / "run" / "model"), str(cfg), "--out", str(tmp_path / "ell"),
                 "--quiet"]) == 0
    ell = json.loads((tmp_path / "ell" / "optimization.json").read_text())
    region = trust_region(saved, TrustShape.ELLIPSOID, 0.0)
    assert ell["trust_region"] == region.to_dict() and ell["request"]["trust_region"] == "ellipsoid"
    assert region.contains(_network_inputs(ell, names), rtol=1e-5).all()
    assert ell["hybrid_product_predicted"] <= held["hybrid_product_predicted"] * (1 + 1e-6)


OBJECTIVE = '''
def objective(blk):
    t = blk.fs.time.last()
    return -blk.fs.unit.P[t] * blk.fs.unit.V[t]


def constraints(blk):
    return {"volume": blk.fs.unit.V[blk.fs.time.last()] <= 4.0}
'''


@pytest.mark.integration
def test_flowsheet_trust_region_keeps_every_network_point_inside_the_box(tmp_path):
    """The bioreactor through the flowsheet path: the saved model records each term's box;
    `idaes-hybrid optimize` with trust_region = true keeps the network's inputs at every
    point inside it, while the free optimum fills past the trained volume."""
    from idaes_hybrid.cli.app import main
    from idaes_hybrid.cli.flowsheet import saved_input_boxes
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.optimize.flowsheet import optimize_flowsheet

    (tmp_path / "objective.py").write_text(OBJECTIVE)
    text = (CASE / "config_flowsheet.toml").read_text()
    text = text.replace('build = "hybrid_flowsheet.py:build"', f'build = "{CASE}/hybrid_flowsheet.py:build"')
    text = text.replace('data = "data/', f'data = "{CASE}/data/')
    text = text[:text.index("[optimization]")] + text[text.index("[[experiments]]"):]  # the test's own
    text += ('\n[optimization]\nexperiment = "b1"\nobjective = "objective.py:objective"\n'
             'constraints = "objective.py:constraints"\nsegments = 5\nnfe = 20\ntrust_region = true\n'
             '[[optimization.controls]]\nname = "F"\nlower = 0.0\nupper = 0.2\nstart = 0.05\n')
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(text)
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    model_dir = tmp_path / "run" / "model"
    boxes = saved_input_boxes(model_dir, 0.0)
    box = boxes["growth"]
    assert box.upper[3] == pytest.approx(3.0, rel=1e-6)  # V of b1 at 40 h: 1 L + 0.05 L/h * 40 h

    config = load_flowsheet_config(cfg)
    opt = config.optimization()
    specs = json.loads((model_dir / "flowsheet_model.json").read_text())["networks"]
    from idaes_hybrid.nn.network import NetworkSpec

    specs = {k: NetworkSpec.from_dict(v) for k, v in specs.items()}

    def inputs_at_points(result) -> np.ndarray:
        import pyomo.environ as pyo

        net = result.model.networks.growth
        return np.array([[pyo.value(v) for v in vin] for vin, _ in net.point_io()])

    args = (config.flowsheet, opt.scenario, specs, opt.controls, opt.objective, opt.constraints,
            opt.segments, opt.nfe, opt.ncp, config.training.solver_options)
    free = optimize_flowsheet(*args)
    assert not box.contains(inputs_at_points(free)).all()
    held = optimize_flowsheet(*args, boxes)
    assert box.contains(inputs_at_points(held)).all()
    assert held.objective >= free.objective - 1e-6 * abs(free.objective)  # a minimization
    assert main(["optimize", str(model_dir), str(cfg), "--out", str(tmp_path / "opt"), "--quiet"]) == 0
    doc = json.loads((tmp_path / "opt" / "optimization.json").read_text())
    assert doc["trust_region"]["growth"] == box.to_dict()
    assert doc["extrapolation"]["growth"]["outside_box"] == 0.0  # held inside the box
    assert 0.0 <= doc["extrapolation"]["growth"]["outside_hull"] <= 1.0
    assert doc["objective"] == pytest.approx(held.objective, rel=1e-6)


@pytest.mark.component
def test_trust_region_infeasible_from_the_filling_feed_starts_again_from_f_min(monkeypatch):
    """The filling feed's start can lie far outside the trust region (Ipopt then ends locally
    infeasible): the feed optimization starts once more from F_min; if that fails too, the
    message names the trust region, not the learned rate's sign."""
    from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR
    from idaes_hybrid.optimize import feed
    from idaes_hybrid.optimize.flowsheet import FlowsheetOptimizationError
    from idaes_hybrid.solve.solver import SolveResult, SolveStatus
    from idaes_hybrid.training.hybrid_model import HybridModel
    from idaes_hybrid.training.problem import Discretization
    from small_networks import monod_network

    model = HybridModel(FED_BATCH_BIOREACTOR, {"Yxs": 0.5, "Ypx": 0.2}, ("X", "S"),
                        Discretization(nfe=8, ncp=2), monod_network())
    request = feed.FeedRequest({"X": 0.1, "P": 0.0, "S": 5.0, "V": 1.0}, Sf=30.0, horizon=40.0,
                               n_intervals=4, F_bounds=(0.01, 0.2), V_max=2.5)
    starts = []
    infeasible = SolveResult(SolveStatus.INFEASIBLE, "local infeasibility", 7, 0.1, None, "ipopt", "")

    def fails_from_filling(*args, start=None, **kwargs):
        starts.append(start)
        raise FlowsheetOptimizationError("infeasible", infeasible)

    monkeypatch.setattr(feed, "optimize_flowsheet", fails_from_filling)
    box = InputBox((0.0,) * 2, (10.0,) * 2)
    with pytest.raises(feed.OptimizationError, match="trust region .* leaves no feasible feed"):
        feed.optimize_feed(model, request, input_box=box)
    assert starts == [None, {"F": [0.01] * 4}]
    starts.clear()
    with pytest.raises(feed.OptimizationError, match="mu > 0 at S = 0"):  # no trust region: no retry
        feed.optimize_feed(model, request)
    assert starts == [None]
