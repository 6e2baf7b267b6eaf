"""Issue 8: IDAES initialization, diagnostics and scaling of hybrid models."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from pyomo.util.check_units import identify_inconsistent_units

from idaes.core import FlowsheetBlock
from idaes.core.scaling.util import get_scaling_factor
from idaes.core.util.diagnostics_tools.diagnostics_toolbox import DiagnosticsToolbox
from idaes.core.util.exceptions import InitializationError
from idaes.core.util.model_statistics import degrees_of_freedom

from flowsheets.bioreactor.generate_data import simulate_monod
from idaes_hybrid.solve.batched import solve_hybrid
from idaes_hybrid.cli.app import main
from idaes_hybrid.diagnostics.diagnose import (
    HybridDiagnosticsToolbox, network_proxies, numerical_checks, structural_report)
from idaes_hybrid.model.dof import (
    DegreesOfFreedomError, check_degrees_of_freedom, count_degrees_of_freedom,
    training_degrees_of_freedom)
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.model.scaling import NeuralNetworkScaler
from idaes_hybrid.model.unit_flowsheet import unit_experiment, unit_flowsheet
from idaes_hybrid.training.experiment import Experiment, Role
from idaes_hybrid.training.flowsheet_problem import (
    POINTS, SIMULATION_OPTIONS, build_flowsheet_training_model, fixed_weight_model, networks,
    scale_flowsheet_model, smoothness)
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.model.contract import KineticsMode
from idaes_hybrid.model.discretization import make_time_discretization_consistent
from idaes_hybrid.cases.fed_batch import (
    FedBatchReactor, FedBatchReactorData, FedBatchReactorInitializer, FedBatchReactorScaler)
from idaes_hybrid.model.initialization import HybridUnitInitializer
from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR
from small_networks import monod_network

CONFIG = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor" / "config.toml"
INITIAL = {"X": 0.05, "P": 0.0, "S": 10.0, "V": 1.0}
SMALL = Discretization(nfe=6, ncp=3)


def _experiment(name="b1", initial=None, horizon=40.0, F=0.05, Sf=10.0, role=Role.TRAIN):
    meas = pd.DataFrame({"X": [0.1, 0.5], "S": [9.0, 5.0]}, index=pd.Index([10.0, 20.0], name="time"))
    return Experiment(name=name, initial=dict(initial or INITIAL), inputs={"F": F, "Sf": Sf},
                      horizon=horizon, measurements=meas, role=role)


def _monod_network(n_hidden=16) -> NetworkSpec:
    """A softplus network of (X, S) that imitates Monod kinetics (no training)."""
    return monod_network(n_hidden)


def _prediction_model(exp, spec=None, disc=SMALL, formulation=Formulation.BATCHED, unit_config=None):
    """The prediction model of ``exp`` on the one-unit flowsheet (weights fixed, unit at
    ``m.experiment[name].fs.unit``) and its network block (``m.networks.mu``)."""
    hf = unit_flowsheet(FED_BATCH_BIOREACTOR, {"Yxs": 0.5, "Ypx": 0.2}, ("X", "S"), unit_config)
    m, _, nets = fixed_weight_model(hf, unit_experiment(exp, FED_BATCH_BIOREACTOR),
                                    spec or _monod_network(), disc.nfe, disc.ncp,
                                    f"predict_{exp.name}", formulation)
    return m, nets[0]


def _training_model(exps, spec, disc):
    """The flowsheet training model of ``exps`` (no physics given: the unit's defaults) with
    the smoother's objective (penalty 10, output scale 0.1), and its network block."""
    hf = unit_flowsheet(FED_BATCH_BIOREACTOR, {}, ["X", "S"])
    m = build_flowsheet_training_model(hf, [unit_experiment(e, FED_BATCH_BIOREACTOR) for e in exps],
                                       spec, disc.nfe, disc.ncp, Formulation.NESTED)
    m.smoothness = pyo.Expression(expr=smoothness(m, 0.1))
    m.smoother_objective = pyo.Objective(expr=m.data_fit + 10.0 * m.smoothness)
    m.smoother_objective.deactivate()
    return m, networks(m)[0]


def _march(m, net):
    """The flowsheet path's march (:func:`~idaes_hybrid.training.flowsheet_problem.initialize_flowsheet`)
    at the initializer's default Newton tolerance (1e-9; initialize_flowsheet asks 1e-6):
    its statistics."""
    (blk,) = m.experiment.values()
    init = HybridUnitInitializer(network=net)
    init.initialize(blk.fs)
    return init.stats[blk.fs]


def _reference_flowsheet(nfe=5):
    m = pyo.ConcreteModel()
    m.fs = FlowsheetBlock(dynamic=True, time_set=[0, 40.0], time_units=pyo.units.h)
    m.fs.unit = FedBatchReactor(kinetics=KineticsMode.REFERENCE)
    pyo.TransformationFactory("dae.collocation").apply_to(m.fs, nfe=nfe, ncp=3, scheme="LAGRANGE-RADAU")
    u = m.fs.unit
    u.F.fix(0.05)
    u.Sf.fix(10.0)
    for name, val in INITIAL.items():
        getattr(u, name)[0].fix(val)
    return m


# ----------------------------------------------------------------------------- structure
@pytest.mark.unit
def test_time_discretization_equations_get_units():
    m = _reference_flowsheet(nfe=5)
    assert len(identify_inconsistent_units(m)) == 4 * 5 * 3  # pyomo.dae: one per collocation eq
    assert make_time_discretization_consistent(m.fs, m.fs.time, m.fs.time_units) == 60
    assert len(identify_inconsistent_units(m)) == 0


@pytest.mark.unit
def test_defaults_and_fast_dof_count():
    assert FedBatchReactorData.default_initializer is FedBatchReactorInitializer
    assert issubclass(FedBatchReactorInitializer, HybridUnitInitializer)
    m, net = _prediction_model(_experiment(), NetworkSpec.dense(2, [3], 1, "softplus"))
    assert count_degrees_of_freedom(m, net) == degrees_of_freedom(m) == 0
    unit = m.experiment["b1"].fs.unit
    unit.F[20.0].unfix()
    unit.X[0.0].unfix()
    assert count_degrees_of_freedom(m, net) == degrees_of_freedom(m) == 2
    with pytest.raises(DegreesOfFreedomError, match=r"2 degrees of freedom, expected 0; likely cause: "
                       r"input experiment\[b1\]\.fs\.unit\.F is free at 1 time points.*"
                       r"initial state experiment\[b1\]\.fs\.unit\.X\[0\.0\] is not fixed"):
        check_degrees_of_freedom(m, 0, "prediction", net)
    unit.F[20.0].fix()
    unit.X[0.0].fix()
    unit.S[40.0].fix()
    with pytest.raises(DegreesOfFreedomError, match=r"-1 degrees of freedom.*state experiment\[b1\]"
                       r"\.fs\.unit\.S is fixed at 1 time points after t0"):
        check_degrees_of_freedom(m, 0, "prediction", net)


@pytest.mark.unit
def test_training_degrees_of_freedom_per_stage():
    spec = NetworkSpec.dense(2, [3], 1, "softplus")
    exps = [_experiment("b1"), _experiment("b2", {**INITIAL, "S": 5.0}, Sf=5.0)]
    m, net = _training_model(exps, spec, SMALL)
    n_points = 2 * len(m.experiment["b1"].fs.time)
    # the smoother (flowsheet_train.smoother_stage): network points off, weights fixed
    getattr(net, POINTS).deactivate()
    net.fix_weights()
    m.smoother_objective.activate()
    assert training_degrees_of_freedom(net) == n_points == count_degrees_of_freedom(m, net)
    # the simultaneous solve: points on, weights free
    getattr(net, POINTS).activate()
    m.smoother_objective.deactivate()
    net.unfix_weights()
    assert training_degrees_of_freedom(net) == spec.n_parameters == count_degrees_of_freedom(m, net)
    m.experiment["b2"].fs.unit.Sf.unfix()
    with pytest.raises(DegreesOfFreedomError, match=r"train solve: .*input experiment\[b2\]\.fs\.unit"
                       r"\.Sf is free at 19 time points"):
        check_degrees_of_freedom(m, training_degrees_of_freedom(net), "train solve", net)


@pytest.mark.unit
def test_training_and_prediction_models_have_no_structural_warnings():
    """IDAES's own toolbox, every nested network expression walked (small network)."""
    spec = NetworkSpec.dense(2, [3], 1, "softplus")
    exps = [_experiment("b1"), _experiment("b2", {**INITIAL, "S": 5.0}, Sf=5.0)]
    disc = Discretization(nfe=4, ncp=2)
    m, net = _training_model(exps, spec, disc)
    m.training_objective = pyo.Objective(expr=m.data_fit + 0.005 * net.l2_norm_squared())
    net.fix_weights()  # the final state of train()
    DiagnosticsToolbox(m).assert_no_structural_warnings()
    p, _ = _prediction_model(_experiment("val", role=Role.VALIDATION), spec, disc)
    DiagnosticsToolbox(p).assert_no_structural_warnings()
    # the fast report (proxies for all points but one) agrees, and sees a free input
    buf = io.StringIO()
    assert structural_report(m, net, buf) == []
    assert "17 network points were checked through incidence-equivalent proxies" in buf.getvalue()
    assert "Activated Equality Constraints: 154" in buf.getvalue()
    m.experiment["b1"].fs.unit.F[40.0].unfix()
    assert structural_report(m, net, io.StringIO()) == [
        "WARNING: 1 Degree of Freedom", "WARNING: Structural singularity found"]
    with network_proxies(m, net):
        with pytest.raises(AssertionError, match="Structural issues found"):
            HybridDiagnosticsToolbox(m).assert_no_structural_warnings()
    assert all(b.active for b, _, _ in net.point_items(active=False))  # restored


# ----------------------------------------------------------------------------- initializer
@pytest.mark.component
def test_march_matches_reference_integration():
    m = _reference_flowsheet(nfe=40)
    init = FedBatchReactorInitializer()
    assert init.initialize(m.fs.unit).name == "Ok"
    stats = init.stats[m.fs.unit]
    assert stats["max_residual"] < 1e-9
    assert stats["blocks"] >= 40  # the t0 equations, then (at least) one block per element
    ref = simulate_monod(INITIAL, 0.05, 10.0, np.linspace(0.0, 40.0, 5))
    for name in "XPSV":
        assert pyo.value(getattr(m.fs.unit, name)[40.0]) == pytest.approx(ref[name].iloc[-1], abs=2e-3)


@pytest.mark.component
def test_initializer_reports_what_is_missing():
    m, net = _prediction_model(_experiment())
    unit = m.experiment["b1"].fs.unit
    with pytest.raises(InitializationError, match=r"fs.unit: 19 degrees of freedom.*learned term "
                       r"experiment\[b1\]\.fs\.unit\.mu has no equation at 19 time points"):
        FedBatchReactorInitializer().initialize(unit)  # no network given
    net.unfix_weights()
    # the flowsheet's network block is networks.mu (one per learned term), not net
    with pytest.raises(InitializationError, match=r"the weights of networks\.mu must be fixed"):
        FedBatchReactorInitializer(network=net).initialize(unit)
    net.fix_weights()
    unit.Sf.unfix()
    with pytest.raises(InitializationError, match=r"input experiment\[b1\]\.fs\.unit\.Sf is free"):
        FedBatchReactorInitializer(network=net).initialize(unit)
    assert unit.Sf[0.0].fixed is False  # the model state is left as it was


@pytest.mark.component
def test_march_makes_prediction_converge_where_constant_guess_fails():
    """A 120 h batch (3x the training horizon): the square solve from the constant
    initial state fails; after the march it needs no iteration."""
    exp = _experiment("long", horizon=120.0)
    disc = Discretization(nfe=20, ncp=3)
    # The flowsheet path's simulation keeps the states' bounds (>= 0) and does not let Ipopt
    # push the start off them (SIMULATION_OPTIONS): S nearly depleted at 120 h sits near 0.
    options = {"tol": 1e-6, "max_iter": 40, "bound_push": SIMULATION_OPTIONS["bound_push"],
               "bound_frac": SIMULATION_OPTIONS["bound_frac"]}
    cold, cold_net = _prediction_model(exp, disc=disc)
    cold.objective = pyo.Objective(expr=0.0)
    res_cold = solve_hybrid(cold, cold_net, options)
    assert not res_cold.ok
    warm, warm_net = _prediction_model(exp, disc=disc)
    stats = _march(warm, warm_net)
    assert stats["max_residual"] < 1e-8
    warm.objective = pyo.Objective(expr=0.0)
    res = solve_hybrid(warm, warm_net, options)
    assert res.ok and res.iterations == 0
    ref = simulate_monod(INITIAL, 0.05, 10.0, np.linspace(0.0, 120.0, 5))  # the network imitates Monod
    assert pyo.value(warm.experiment["long"].fs.unit.X[120.0]) == pytest.approx(ref["X"].iloc[-1], rel=0.05)


@pytest.mark.component
@pytest.mark.parametrize("formulation", [Formulation.NESTED, Formulation.LIFTED])
def test_march_handles_every_formulation(formulation):
    """Marched, the square solve needs at most one iteration and equals the solve from the
    constant guess. Without the uptake limit: its saturating factor (tanh(S / S_lim)) gives
    the cold start a second, spurious branch at S < 0 that it can stall on; the march does
    not (test_uptake_limited_march_equals_the_plain_model_within_the_data)."""
    plain = {"uptake_limit": False}
    cold, cold_net = _prediction_model(_experiment(), formulation=formulation, unit_config=plain)
    cold.objective = pyo.Objective(expr=0.0)
    res_cold = solve_hybrid(cold, cold_net, {"tol": 1e-8})
    m, net = _prediction_model(_experiment(), formulation=formulation, unit_config=plain)
    _march(m, net)
    m.objective = pyo.Objective(expr=0.0)
    res = solve_hybrid(m, net, {"tol": 1e-8})  # the .nl path (POUNCE counts one iteration)
    assert res.ok and res.iterations <= 1 < res_cold.iterations
    for t in m.experiment["b1"].fs.time:
        assert pyo.value(m.experiment["b1"].fs.unit.X[t]) == pytest.approx(
            pyo.value(cold.experiment["b1"].fs.unit.X[t]), rel=1e-6, abs=1e-9)


@pytest.mark.component
def test_uptake_limited_march_equals_the_plain_model_within_the_data():
    """Where S stays far above S_lim (1e-3 g/L) the uptake limit changes nothing: the marched
    prediction with it equals the one without it (a square solve from the march)."""
    runs = {}
    for limit in (True, False):
        m, net = _prediction_model(_experiment(), unit_config={"uptake_limit": limit})
        _march(m, net)
        m.objective = pyo.Objective(expr=0.0)
        assert solve_hybrid(m, net, {"tol": 1e-8}).ok
        unit = m.experiment["b1"].fs.unit
        runs[limit] = np.array([[pyo.value(getattr(unit, n)[t]) for n in "XPSV"] for t in unit.flowsheet().time])
    assert runs[True][:, 2].min() > 0.1
    np.testing.assert_allclose(runs[True], runs[False], rtol=1e-7, atol=1e-9)


# ----------------------------------------------------------------------------- numerics
@pytest.mark.component
def test_numerical_checks_after_march():
    m, net = _prediction_model(_experiment())
    before = numerical_checks(m, net)
    assert before.max_residual > 1e-3  # constant initial guess
    assert any("large residuals" in w for w in before.warnings)
    _march(m, net)
    after = numerical_checks(m, net)
    assert after.max_residual < 1e-8 and after.warnings == []
    assert after.n_variables == after.n_constraints == 4 * 18 + 4 * 19 + 19
    assert 10 < after.condition_number < 1e8


# ----------------------------------------------------------------------------- scaling
@pytest.mark.component
def test_scaling_factors_and_user_scaled_solve():
    m, net = _prediction_model(_experiment(), formulation=Formulation.BATCHED)
    _march(m, net)
    unit = m.experiment["b1"].fs.unit
    x_max = max(pyo.value(v) for v in unit.X.values())
    # the unit's own IDAES scaler (its default_scaler), then the flowsheet path's scaling
    # (the flowsheet's calculate_scaling_factors and the networks' scaler), which keeps them
    assert unit.default_scaler is FedBatchReactorScaler
    unit.default_scaler(overwrite=True).scale_model(unit)
    scale_flowsheet_model(m)
    assert get_scaling_factor(unit.X[40.0]) == pytest.approx(1.0 / x_max)
    assert get_scaling_factor(unit.V[0.0]) == pytest.approx(1.0 / pyo.value(unit.V[40.0]))
    assert get_scaling_factor(unit.dVdt[0.0]) == pytest.approx(40.0 / pyo.value(unit.V[40.0]))
    assert get_scaling_factor(unit.dXdt_disc_eq[40.0]) == get_scaling_factor(unit.dXdt[40.0])
    mu_max = max(abs(pyo.value(v)) for v in unit.mu.values())
    point = getattr(net, POINTS)["b1", "mu", 40.0]
    assert get_scaling_factor(point.output_eq[0]) == pytest.approx(1.0 / mu_max)
    # the balance V dX/dt = mu X V - F X is scaled by its largest nominal term
    assert get_scaling_factor(unit.biomass_balance[40.0]) < 1.0
    expected = {v.name: pyo.value(v) for v in unit.X.values()}
    for v in unit.X.values():
        if not v.fixed:
            v.set_value(1.0)
    m.objective = pyo.Objective(expr=0.0)
    res = solve_hybrid(m, net, {"tol": 1e-10}, user_scaling=True)
    assert res.ok
    for v in unit.X.values():
        assert pyo.value(v) == pytest.approx(expected[v.name], rel=1e-6, abs=1e-8)


@pytest.mark.unit
def test_network_scaler_uses_normalization_and_lifted_variables():
    m, net = _prediction_model(_experiment(), formulation=Formulation.LIFTED)
    NeuralNetworkScaler().scale_model(net)
    spec, unit = net.to_spec(), m.experiment["b1"].fs.unit
    assert get_scaling_factor(unit.S[20.0]) == pytest.approx(1.0 / (spec.input_mean[1] + spec.input_std[1]))
    assert get_scaling_factor(unit.mu[20.0]) == pytest.approx(1.0 / (spec.output_mean[0] + spec.output_std[0]))
    point = getattr(net, POINTS)["b1", "mu", 20.0]
    assert get_scaling_factor(point.pre[0, 0]) == 1.0 and get_scaling_factor(point.pre_eq[0, 0]) == 1.0


# ----------------------------------------------------------------------------- command line
@pytest.mark.component
def test_diagnose_command(tmp_path, capsys):
    text = CONFIG.read_text().replace('data = "data/', f'data = "{CONFIG.parent}/data/')
    text = text.replace("hidden = [20, 20]", "hidden = [4]").replace("nfe = 20", "nfe = 6")
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    assert main(["diagnose", str(cfg), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "0 WARNINGS" in out and "Activated Equality Constraints: 501" in out
    assert "Numerical checks (501 variables, 501 equations" in out
    assert "diagnose: 0 structural" in out


@pytest.mark.component
def test_scaled_prediction_and_optimization_agree_with_unscaled():
    """user_scaling passes IDAES scaling factors to the solver; the answer is unchanged."""
    from idaes_hybrid.optimize.feed import FeedRequest, optimize_feed
    from idaes_hybrid.training.predict import simulate

    spec = NetworkSpec.dense(2, [4], 1, "softplus", seed=0)
    spec.output_mean, spec.output_std = np.array([0.1]), np.array([0.02])
    disc = Discretization(nfe=8, ncp=2)
    exp = _experiment("val", role=Role.VALIDATION)
    model = HybridModel(FED_BATCH_BIOREACTOR, {"Yxs": 0.5, "Ypx": 0.2}, ("X", "S"), disc, spec)
    plain = simulate(model, exp)
    scaled = simulate(model, exp, user_scaling=True)
    for name in ("X", "P", "S", "V"):
        np.testing.assert_allclose(scaled[name], plain[name], atol=1e-6)
    request = FeedRequest(INITIAL, 10.0, 40.0, 4, (0.0, 0.2), 2.5)
    truth = HybridModel(FED_BATCH_BIOREACTOR, {"Yxs": 0.5, "Ypx": 0.2, "mu_max": 0.2, "Ks": 1.0},
                        ("X", "S"), disc)
    a = optimize_feed(truth, request, kinetics=KineticsMode.REFERENCE)
    b = optimize_feed(truth, request, kinetics=KineticsMode.REFERENCE, user_scaling=True)
    assert b.product_mass == pytest.approx(a.product_mass, rel=1e-5)


@pytest.mark.unit
def test_training_scaling_setting_defaults_to_magnitudes_and_user_scaling_replaces_it():
    from idaes_hybrid.config.run import ConfigError, parse_training
    from idaes_hybrid.training.train import NlpScaling, TrainingSettings

    unset = TrainingSettings()
    assert unset.solve_scaling(NlpScaling.MAGNITUDE) == {"user_scaling": False, "magnitude_scaling": True}
    assert unset.solve_scaling(NlpScaling.GRADIENT) == {"user_scaling": False, "magnitude_scaling": False}
    gradient = parse_training({"scaling": "gradient"})
    assert gradient.scaling is NlpScaling.GRADIENT
    assert gradient.solve_scaling(NlpScaling.MAGNITUDE)["magnitude_scaling"] is False
    assert parse_training({"scaling": "Magnitude"}).solve_scaling(NlpScaling.GRADIENT)["magnitude_scaling"]
    assert parse_training({"user_scaling": True}).solve_scaling(NlpScaling.MAGNITUDE) == {
        "user_scaling": True, "magnitude_scaling": False}
    with pytest.raises(ConfigError, match="training.scaling"):
        parse_training({"scaling": "idaes"})
