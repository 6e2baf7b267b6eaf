"""``model = ...`` configurations translated to the flowsheet path
(:mod:`idaes_hybrid.config.unit_translation`): the one-unit flowsheet reproduces the unit
path's training and feed optimization (independent references: the unit path's own solves)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from idaes_hybrid.config.flowsheet import FlowsheetRunConfig
from idaes_hybrid.config.run import ConfigError, load_run_config
from idaes_hybrid.config.unit_translation import as_flowsheet_config, load_config
from idaes_hybrid.model.contract import KineticsMode
from idaes_hybrid.optimize.feed import optimize_feed
from idaes_hybrid.optimize.flowsheet import optimize_flowsheet
from idaes_hybrid.training.flowsheet_train import train_flowsheet
from idaes_hybrid.training.unit_train import train

ROOT = Path(__file__).resolve().parents[1] / "flowsheets"
DATA = ROOT / "bioreactor" / "data"

#: One training and one validation batch, a 1-6-1 network on S, a coarse grid, and the
#: fed-batch [optimization] table (5 feed intervals) with the Monod [reference].
SMALL = f"""\
model = "fed_batch_bioreactor"
[network]
inputs = ["S"]
hidden = [6]
activation = "softplus"
[discretization]
nfe = 10
ncp = 3
[training]
regularization = 1.0
[solver]
tol = 1e-8
[reference]
mu_max = 0.2
Ks = 1.0
[optimization]
experiment = "b1"
intervals = 5
F_max = 0.2
V_max = 2.5
[[experiments]]
name = "b1"
data = "{(DATA / 'b1.csv').as_posix()}"
initial = {{X = 0.05, P = 0.0, S = 10.0, V = 1.0}}
inputs = {{F = 0.05, Sf = 10.0}}
horizon = 40.0
noise_sd = {{X = 0.05, P = 0.05, S = 0.5, V = 0.1}}
[[experiments]]
name = "val"
data = "{(DATA / 'val.csv').as_posix()}"
initial = {{X = 0.1, P = 0.0, S = 8.0, V = 0.9}}
inputs = {{F = 0.05, Sf = 8.0}}
horizon = 40.0
role = "validation"
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("translation") / "small.toml"
    path.write_text(SMALL)
    return load_run_config(path)


@pytest.mark.unit
def test_the_translated_config_names_the_units_variables(small):
    fs = as_flowsheet_config(small)
    assert isinstance(fs, FlowsheetRunConfig) and fs.model_name == "fed_batch_bioreactor"
    assert fs.flowsheet.variables["S"] == "fs.unit.S[*]" and fs.flowsheet.variables["mu"] == "fs.unit.mu[*]"
    (term,) = fs.flowsheet.terms
    assert term.inputs == ("fs.unit.S[*]",) and term.outputs == ("fs.unit.mu[*]",)
    assert fs.flowsheet.network_shapes() == {"mu": (1, 1)}
    assert fs.network_specs()["mu"].sizes == [1, 6, 1]
    assert [e.name for e in fs.experiments] == ["b1", "val"]
    assert fs.experiments[0].initial == {"X": 0.05, "P": 0.0, "S": 10.0, "V": 1.0}
    assert fs.flowsheet.simulation_build.unit_config == {"uptake_limit": True}  # predictions only
    opt = fs.optimization()
    assert opt.segments == 5 and opt.nfe == 10 and [c.name for c in opt.controls] == ["F"]
    assert opt.controls[0].start == pytest.approx((2.5 - 1.0) / 40.0)  # just fills the reactor
    assert opt.scenario.inputs["Sf"].value_at(0.0) == 10.0
    assert opt.true_build.kinetics is KineticsMode.REFERENCE  # the plant: Monod at [reference]


@pytest.mark.unit
def test_a_dae_fixes_only_its_independent_initial_states():
    fs = load_config(ROOT / "tank_manifold" / "config.toml")
    assert all(set(e.initial) == {"x0", "x2", "x3"} for e in fs.experiments)  # x1(t0) from x0 = x1
    assert fs.flowsheet.network_shapes() == {"u0_u3": (4, 2)}
    pp = load_config(ROOT / "predator_prey" / "config.toml")
    assert pp.flowsheet.network_shapes() == {"z": (2, 1)} and pp.flowsheet.simulation_build is None


@pytest.mark.unit
def test_load_config_reads_both_kinds_and_keeps_the_unit_messages(tmp_path):
    flowsheet = load_config(ROOT / "bioreactor" / "config_flowsheet.toml")
    assert flowsheet.model_name is None and flowsheet.build_ref == "hybrid_flowsheet.py:build"
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace('inputs = ["S"]', 'inputs = ["Q"]'))
    with pytest.raises(ConfigError, match=r"^network\.inputs: 'Q' is not a state"):
        load_config(bad)


#: The former unit-path engine's fit of SMALL (its own NLP builder, retired; measured at
#: commit 54bf087): validation RMSE, objective, iterations and the learned mu(S) at
#: S = 0, 2, ..., 10 g/L.
FORMER_ENGINE = {"val": {"P": 0.010320200911878, "S": 0.103202008957715, "X": 0.051601008908004},
                 "objective": 1.3770433889724396, "iterations": 13,
                 "mu": [0.017394097236953, 0.117967958190711, 0.161483033303163,
                        0.175189720445784, 0.179302830301109, 0.180889277221460]}


@pytest.mark.component
def test_training_and_feed_optimization_match_the_unit_path(small):
    """Same data, network, settings: the one training path reproduces the former unit
    engine's fit, and the translated feed optimization the unit feed optimizer's optimum."""
    unit = train(small.definition, small.experiments, small.network_spec(), small.discretization,
                 small.physics, small.network_inputs, small.training)
    fs = as_flowsheet_config(small)
    flow = train_flowsheet(fs.flowsheet, fs.experiments, fs.network_specs(), 10, 3, fs.training)
    for result in (unit, flow):
        m = result.metrics()
        assert m["status"] == "optimal" and m["iterations"] == FORMER_ENGINE["iterations"]
        assert m["objective"] == pytest.approx(FORMER_ENGINE["objective"], rel=1e-9)
        for name, value in FORMER_ENGINE["val"].items():
            assert m["validation"]["rmse"][name] == pytest.approx(value, rel=1e-7), name
    x = np.linspace(0.0, 10.0, 6)[:, None]
    assert np.allclose(unit.spec.predict(x).ravel(), FORMER_ENGINE["mu"], rtol=1e-8)
    assert np.allclose(flow.specs["mu"].predict(x).ravel(), FORMER_ENGINE["mu"], rtol=1e-8)

    opt = fs.optimization()
    hybrid = optimize_flowsheet(fs.flowsheet, opt.scenario, {"mu": unit.spec}, opt.controls,
                                opt.objective, opt.constraints, opt.segments, opt.nfe, opt.ncp)
    reference = optimize_feed(small.hybrid_model(unit.spec), small.optimization.request())
    # the product is flat near its optimum: the two paths end at neighbouring local optima
    # (measured 2.49972 g with F = (0, 0, 0, 0.149, 0.038) and 2.49998 g with (0, 0, 0, 0.183, 0.004))
    assert -hybrid.objective == pytest.approx(reference.product_mass, rel=5e-4)
    truth_fs = optimize_flowsheet(type(fs.flowsheet)(opt.true_build, [], fs.flowsheet.variables,
                                                     fs.flowsheet.time_units),
                                  opt.scenario, None, opt.controls, opt.objective, opt.constraints,
                                  opt.segments, opt.nfe, opt.ncp)
    truth = optimize_feed(small.hybrid_model(physics={**small.physics, **small.reference}),
                          small.optimization.request(), kinetics=KineticsMode.REFERENCE)
    # the true product has two near-equal local optima (feed early or late): measured
    # 2.49771 g (F = 0.183 on the first interval) and 2.49962 g (0.187 on the fourth)
    assert -truth_fs.objective == pytest.approx(truth.product_mass, rel=1e-3)
