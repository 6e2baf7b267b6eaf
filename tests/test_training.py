"""Training workflow on small cases: smoother, pre-training, simultaneous solve."""

from pathlib import Path

import numpy as np
import pytest

from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.experiment import Experiment, Role, read_measurements
from idaes_hybrid.training.predict import simulate
from idaes_hybrid.training.problem import Discretization, interpolation_weights
from idaes_hybrid.training.train import HessianMode, TrainingError, TrainingSettings
from idaes_hybrid.training.unit_train import train
from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR

DATA = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor" / "data"
SMALL = Discretization(nfe=8, ncp=2)


def _exp(name, csv, initial, role=Role.TRAIN, columns=None, noise=True):
    meas = read_measurements(DATA / csv, name)
    if columns:
        meas = meas[columns]
    return Experiment(name=name, initial=initial, inputs={"F": 0.05, "Sf": initial["S"]},
                      horizon=40.0, measurements=meas, role=role,
                      noise_sd={"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1} if noise else None)


def _experiments(columns=None):
    return [_exp("b1", "b1.csv", {"X": 0.05, "P": 0.0, "S": 10.0, "V": 1.0}, columns=columns),
            _exp("b2", "b2.csv", {"X": 0.025, "P": 0.0, "S": 5.0, "V": 0.8}, columns=columns),
            _exp("val", "val.csv", {"X": 0.1, "P": 0.0, "S": 8.0, "V": 0.9}, Role.VALIDATION, noise=False)]


def _settings(**kw):
    # regularization: the prior precision equal to the former 1e-2 per mean residual of
    # b1 + b2 (248 observations); cross-validation is tested in test_regularization.py
    base = dict(pretrain_epochs=300, solver_options={"tol": 1e-6, "max_iter": 300},
                regularization=1.24)
    base.update(kw)
    return TrainingSettings(**base)


@pytest.mark.unit
def test_interpolation_weights_reproduce_polynomials():
    import pyomo.environ as pyo
    from pyomo.dae import ContinuousSet, DerivativeVar

    m = pyo.ConcreteModel()
    m.t = ContinuousSet(bounds=(0, 10))
    m.x = pyo.Var(m.t)
    m.dx = DerivativeVar(m.x)
    pyo.TransformationFactory("dae.collocation").apply_to(m, nfe=4, ncp=3, scheme="LAGRANGE-RADAU")
    poly = lambda t: 1 + 2 * t - 0.3 * t**2 + 0.01 * t**3  # degree ncp: exact
    for t_obs in (0.0, 1.3, 2.5, 7.77, 10.0):
        value = sum(w * poly(t) for t, w in interpolation_weights(m.t, t_obs))
        assert value == pytest.approx(poly(t_obs), abs=1e-10)


@pytest.mark.unit
def test_interpolation_after_an_input_step_leaves_the_pre_step_boundary_out():
    """An element starting at an input step: a quantity that follows the input at once (a
    unit without holdup) is 0 at the boundary (pre-step, as the model holds it) and 2 + t
    inside; with the step named, the interpolant is the post-step polynomial."""
    import pyomo.environ as pyo
    from pyomo.dae import ContinuousSet, DerivativeVar

    m = pyo.ConcreteModel()
    m.t = ContinuousSet(initialize=[0.0, 5.0, 10.0])
    m.x = pyo.Var(m.t)
    m.dx = DerivativeVar(m.x)
    pyo.TransformationFactory("dae.collocation").apply_to(m, nfe=4, ncp=3, scheme="LAGRANGE-RADAU")
    after = lambda t: 2.0 + t if t > 5.0 else 0.0
    for t_obs in (5.4, 6.0, 7.4):
        weights = interpolation_weights(m.t, t_obs, steps=[5.0])
        assert 5.0 not in [t for t, _ in weights]
        assert sum(w * after(t) for t, w in weights) == pytest.approx(2.0 + t_obs, abs=1e-10)
        stepless = sum(w * after(t) for t, w in interpolation_weights(m.t, t_obs))
        assert abs(stepless - (2.0 + t_obs)) > 0.1  # the old interpolant through the jump
    # elsewhere (no step at its left boundary) the element keeps its boundary
    assert 2.5 in [t for t, _ in interpolation_weights(m.t, 3.0, steps=[5.0])]


@pytest.mark.component
def test_small_training_fits_and_predicts():
    spec = NetworkSpec.dense(2, [6], 1, "softplus", seed=0)
    result = train(FED_BATCH_BIOREACTOR, _experiments(), spec, SMALL,
                   network_inputs=["X", "S"], settings=_settings())
    assert result.status == "optimal"
    assert set(result.stages) == {"build", "smoother", "pretrain", "train", "diagnostics", "validate"}
    assert result.diagnostics["warnings"] == []  # the trained model is numerically clean
    assert result.diagnostics["max_residual"] < 1e-6
    # the smoother and the final fit are at the data's noise level
    assert result.train_rmse["S"] < 0.8
    assert result.train_rmse["X"] < 0.1
    # the validation batch (never seen) is predicted from its initial state alone
    assert result.validation_rmse["S"] < 0.6
    assert result.validation_rmse["X"] < 0.15
    # learned mu is Monod-like: near mu_max at high S, small at S ~ 0
    mu_hi = result.spec.predict([[1.0, 8.0]])[0, 0]
    mu_lo = result.spec.predict([[1.0, 0.05]])[0, 0]
    assert 0.12 < mu_hi < 0.26
    assert mu_lo < 0.08
    # the result carries the trained model as one object: it predicts the validation batch
    # as the run did
    assert result.model.spec is not None and result.model.network_inputs == ("X", "S")
    again = simulate(result.model, _experiments()[2])
    np.testing.assert_allclose(again["S"], result.trajectories["val"]["S"], atol=1e-6)


@pytest.mark.component
def test_partially_observed_training_reconstructs_unmeasured_states():
    """Only X and S measured; P is reconstructed by the model equations."""
    spec = NetworkSpec.dense(2, [6], 1, "softplus", seed=0)
    result = train(FED_BATCH_BIOREACTOR, _experiments(columns=["X", "S"]), spec, SMALL,
                   network_inputs=["X", "S"], settings=_settings())
    assert set(result.train_rmse) == {"X", "S"}
    assert result.validation_rmse["P"] < 0.1


@pytest.mark.component
@pytest.mark.parametrize("formulation,hessian", [(Formulation.NESTED, HessianMode.EXACT),
                                                 (Formulation.BATCHED, HessianMode.LIMITED_MEMORY)])
def test_other_formulations_and_hessians_agree(formulation, hessian):
    spec = NetworkSpec.dense(2, [4], 1, "tanh", seed=0)
    exps = _experiments()[:1] + _experiments()[2:]
    base = train(FED_BATCH_BIOREACTOR, exps, spec, Discretization(4, 2), network_inputs=["X", "S"],
                 settings=_settings())
    other = train(FED_BATCH_BIOREACTOR, exps, spec, Discretization(4, 2), network_inputs=["X", "S"],
                  settings=_settings(formulation=formulation, hessian=hessian,
                                     solver_options={"tol": 1e-6, "max_iter": 3000}))
    assert other.objective == pytest.approx(base.objective, rel=2e-2)


@pytest.mark.unit
def test_training_needs_a_training_experiment():
    spec = NetworkSpec.dense(2, [4], 1, "tanh", seed=0)
    with pytest.raises(TrainingError, match="train"):
        train(FED_BATCH_BIOREACTOR, _experiments()[2:], spec, SMALL, network_inputs=["X", "S"])


@pytest.mark.component
def test_smoother_profile_follows_monod():
    """The smoother's free mu profile, fitted to noisy data, already resembles Monod."""
    import pyomo.environ as pyo

    from idaes_hybrid.model.unit_flowsheet import unit_experiment, unit_flowsheet
    from idaes_hybrid.solve.solver import SolveStatus
    from idaes_hybrid.training.flowsheet_problem import build_flowsheet_training_model, networks, smoothness
    from idaes_hybrid.training.flowsheet_train import io_arrays, smoother_stage

    exps = [unit_experiment(e, FED_BATCH_BIOREACTOR) for e in _experiments()[:2]]
    spec = NetworkSpec.dense(2, [4], 1, "tanh", seed=0)
    hf = unit_flowsheet(FED_BATCH_BIOREACTOR, {"Yxs": 0.5, "Ypx": 0.2}, ["X", "S"])
    m = build_flowsheet_training_model(hf, exps, spec, 20, 3)
    m.smoothness = pyo.Expression(expr=smoothness(m, z_scale=0.1))
    m.smoother_objective = pyo.Objective(expr=m.data_fit + 10.0 * m.smoothness)
    report = smoother_stage(m, hf, exps, {"tol": 1e-6}, TrainingSettings(), tee=False)
    assert report.status in (SolveStatus.OPTIMAL.value, SolveStatus.ACCEPTABLE.value)
    v, z = io_arrays(networks(m)[0])
    monod = 0.2 * v[:, 1] / (1.0 + v[:, 1])
    # where biomass is large enough for mu to be identifiable from the data
    informative = v[:, 0] > 0.5
    assert informative.sum() > 20
    assert np.sqrt(np.mean((z[informative, 0] - monod[informative]) ** 2)) < 0.03


@pytest.mark.unit
def test_smoother_output_scale_follows_scaling_factor_start_value_or_setting():
    """The smoothness penalty divides each learned output by its own magnitude: an IDAES
    scaling factor's inverse, else its largest starting value, else 1; a number given as
    smoother_scale wins. So an output in W/K and the same in kW/K get the same penalty."""
    from types import SimpleNamespace

    import pyomo.environ as pyo
    from idaes.core.scaling.util import set_scaling_factor

    from idaes_hybrid.training.flowsheet_problem import smoothness
    from idaes_hybrid.training.smoother import output_scale

    m = pyo.ConcreteModel()
    m.t = pyo.Set(initialize=[0.0, 1.0, 2.0, 4.0])
    m.ua_w = pyo.Var(m.t, initialize=400.0)
    m.ua_kw = pyo.Var(m.t, initialize=0.4)
    m.zero = pyo.Var(m.t, initialize=0.0)
    m.scaled = pyo.Var(m.t, initialize=3.0)
    set_scaling_factor(m.scaled[0.0], 1e-2)
    series = lambda v: [v[t] for t in m.t]
    assert output_scale(series(m.ua_w)) == 400.0 and output_scale(series(m.ua_kw)) == 0.4
    assert output_scale(series(m.zero)) == 1.0 and output_scale(series(m.scaled)) == pytest.approx(100.0)
    assert output_scale(series(m.ua_w), 0.1) == 0.1
    for t, f in zip(m.t, (1.0, 1.2, 0.7, 1.1)):  # the same profile in two units
        m.ua_w[t].set_value(400.0 * f)
        m.ua_kw[t].set_value(0.4 * f)

    def penalty(var, z_scale=None):
        s = SimpleNamespace(times=lambda: list(m.t), outputs=[(var[t],) for t in m.t], place=lambda: (),
                            family="term")
        m.term_series = {"term": {"e": [s]}}
        return pyo.value(smoothness(m, z_scale))

    # at the new values the scale (largest magnitude) is 480 W/K or 0.48 kW/K
    expected = 4.0 * np.mean(np.square(np.diff([1.0, 1.2, 0.7, 1.1]) / np.diff([0.0, 1.0, 2.0, 4.0]))) / 1.2**2
    assert penalty(m.ua_w) == pytest.approx(expected) and penalty(m.ua_kw) == pytest.approx(expected)
    assert penalty(m.ua_w, 0.1) == pytest.approx(expected * (480.0 / 0.1) ** 2)
