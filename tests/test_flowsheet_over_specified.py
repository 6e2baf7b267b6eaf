"""An over-specified flowsheet (more equations than free variables) is named as such, with
the equations left without a variable, at the march and at the square check."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

CASE = Path(__file__).resolve().parents[1] / "benchmarks" / "cases" / "recycle_cstr" / "model.py"


def _case_module():
    spec = importlib.util.spec_from_file_location("recycle_cstr_model", CASE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.component
def test_over_specified_recycle_flowsheet_names_the_equations_without_a_variable():
    from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
    from idaes_hybrid.model.experiment import DataError
    from idaes_hybrid.training import flowsheet_problem as fp

    case = _case_module()

    def build_over(fs):  # the water split fixed for both outlets: their sum is an equation
        case.build_true(fs)
        fs.split.split_fraction[:, "product", "H2O"].fix(0.7)

    hf = HybridFlowsheet(build_over, [], {"F": "fs.feed.flow_vol[*]", "Tf": "fs.feed.temperature[*]",
                                          "Q": "fs.r1.heat_duty[*]"})
    exp = FlowsheetExperiment("x", 10.0, pd.DataFrame(), inputs={"F": 1e-3, "Tf": 300.0, "Q": 0.0})
    m, blk, net = fp.fixed_weight_model(hf, exp, None, 2, 1, "x")
    for step in (lambda: fp.check_square(m, blk, net, "simulation of 'x'"), lambda: fp.initialize_flowsheet(blk)):
        with pytest.raises(DataError) as err:
            step()
        text = str(err.value)
        # 3 time points (nfe 2, ncp 1) x one sum_split_frac equation for water
        assert "experiments['x']: the flowsheet has -3 degrees of freedom" in text
        assert "more equations than free variables" in text and "fs.split.sum_split_frac[0.0,H2O]" in text
        assert "fix every input" not in text


@pytest.mark.component
def test_over_specified_hybrid_flowsheet_names_an_equation_not_a_network_output():
    """One extra fixed variable in a flowsheet with a learned rate (-1 degree of freedom):
    the networks' outputs are no partner for the flowsheet's equations, so the message
    names an equation left without a variable (it said 'some equations' when the matching
    paired that equation with the network's output)."""
    from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
    from idaes_hybrid.model.experiment import DataError
    from idaes_hybrid.model.terms import LearnedReactionTerm
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training import flowsheet_problem as fp

    case = _case_module()

    def build_over(fs):  # the rate at t = 0 fixed: its rate equation has no variable left
        case.build_learned(fs)
        fs.r1.control_volume.reactions[0.0].reaction_rate["R1"].fix(1.0)

    hf = HybridFlowsheet(build_over, [LearnedReactionTerm("fs.rxn")],
                         {"F": "fs.feed.flow_vol[*]", "Tf": "fs.feed.temperature[*]", "Q": "fs.r1.heat_duty[*]"})
    exp = FlowsheetExperiment("x", 10.0, pd.DataFrame(), inputs={"F": 1e-3, "Tf": 300.0, "Q": 0.0})
    spec = NetworkSpec.dense(1, [3], 1, "softplus", seed=0)
    spec.input_mean[:], spec.input_std[:] = [300.0], [5.0]
    spec.output_mean[:], spec.output_std[:] = [0.1], [0.01]
    m, blk, net = fp.fixed_weight_model(hf, exp, spec, 2, 1, "x")
    for step in (lambda: fp.check_square(m, blk, net, "simulation of 'x'"),
                 lambda: fp.initialize_flowsheet(blk, net)):
        with pytest.raises(DataError) as err:
            step()
        text = str(err.value)
        assert "experiments['x']: the flowsheet has -1 degrees of freedom" in text
        assert "no free variable left for experiment[x].fs." in text and "some equations" not in text
