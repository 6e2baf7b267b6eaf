"""The likelihood objective and the cross-validated prior precision
(:mod:`idaes_hybrid.training.regularization`), against closed-form ridge regression."""

from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo
import pytest

from idaes_hybrid.config.run import ConfigError, parse_training
from idaes_hybrid.solve.solver import get_nlp_solver
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.regularization import (
    CROSS_VALIDATE, DEFAULT_PRIOR, RegularizationSource, add_likelihood_objective_parts, choose_regularization,
    EVIDENCE, cross_validate, prior_term, resolve_setting)

SD = 0.3
GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3)


def _data(seed: int = 3, n_exp: int = 4, n: int = 8, p: int = 6):
    """Linear-in-weights "experiments": y = X theta_true + noise, few points per experiment."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 0.7, p)
    exps = {}
    for i in range(n_exp):
        x = rng.normal(size=(n, p))
        exps[f"e{i}"] = (x, x @ theta + rng.normal(0.0, SD, n))
    return exps


def _model(exps, alpha):
    p = next(iter(exps.values()))[0].shape[1]
    m = pyo.ConcreteModel()
    m.theta = pyo.Var(range(p), initialize=0.0)
    fits = {e: (sum(((sum(float(x[i, j]) * m.theta[j] for j in range(p)) - float(y[i])) / SD) ** 2
                    for i in range(len(y))), len(y)) for e, (x, y) in exps.items()}
    add_likelihood_objective_parts(m, fits, alpha)
    m.obj = pyo.Objective(expr=m.data_fit + prior_term(m, sum(m.theta[j] ** 2 for j in range(p))))
    return m


def _solve(m):
    solver = get_nlp_solver({"tol": 1e-10})

    def solve(label):
        return solver.solve(m)
    return solve


def _ridge(exps, names, alpha):
    """MAP of sum r^2 / (2 sd^2) + alpha / 2 ||theta||^2 over the experiments ``names``."""
    x = np.vstack([exps[e][0] for e in names])
    y = np.concatenate([exps[e][1] for e in names])
    return np.linalg.solve(x.T @ x / SD**2 + alpha * np.eye(x.shape[1]), x.T @ y / SD**2)


def _loo_score(exps, alpha):
    total, n = 0.0, 0
    for held, (x, y) in exps.items():
        theta = _ridge(exps, [e for e in exps if e != held], alpha)
        total += float(np.sum(((x @ theta - y) / SD) ** 2))
        n += len(y)
    return total / n


@pytest.mark.component
@pytest.mark.parametrize("seed", [3, 11])
def test_objective_is_the_gaussian_map_whatever_the_number_of_observations(seed):
    exps = _data(seed)
    for alpha in (0.1, 10.0):
        m = _model(exps, alpha)
        assert _solve(m)("fit").ok
        got = np.array([pyo.value(m.theta[j]) for j in m.theta])
        np.testing.assert_allclose(got, _ridge(exps, list(exps), alpha), rtol=1e-6, atol=1e-8)


@pytest.mark.component
@pytest.mark.parametrize("seed", [3, 11])
def test_cross_validation_scores_and_choice_match_closed_form_ridge(seed):
    exps = _data(seed)
    m = _model(exps, DEFAULT_PRIOR)
    solve = _solve(m)
    assert solve("fit").ok
    start = [pyo.value(m.theta[j]) for j in m.theta]
    choice = cross_validate(m, solve, {e: len(y) for e, (_, y) in exps.items()}, GRID)
    reference = {a: _loo_score(exps, a) for a in (*GRID, DEFAULT_PRIOR)}  # the line search starts at the default
    assert choice.source is RegularizationSource.CROSS_VALIDATION
    assert choice.alpha == min(reference, key=reference.get)
    for rec in choice.path:  # every candidate scored equals the closed form
        assert rec["score"] == pytest.approx(reference[rec["alpha"]], rel=1e-6)
    # the model is left as found: every experiment weighted, start values, prior unchanged
    assert [pyo.value(m.fit_weight[e]) for e in m.fit_weight] == [1.0] * len(exps)
    assert pyo.value(m.prior_precision) == DEFAULT_PRIOR
    assert [pyo.value(m.theta[j]) for j in m.theta] == start


@pytest.mark.component
def test_choose_regularization_refits_with_the_winner():
    exps = _data(3)
    m = _model(exps, DEFAULT_PRIOR)
    solve = _solve(m)
    solve("fit")
    choice = choose_regularization(m, solve, {e: len(y) for e, (_, y) in exps.items()}, GRID)
    assert pyo.value(m.prior_precision) == choice.alpha
    got = np.array([pyo.value(m.theta[j]) for j in m.theta])
    np.testing.assert_allclose(got, _ridge(exps, list(exps), choice.alpha), rtol=1e-6, atol=1e-8)
    record = choice.to_dict()
    assert record["source"] == "cross-validation" and record["alpha"] == choice.alpha
    assert all(math.isfinite(p["score"]) for p in record["path"])


@pytest.mark.component
def test_a_failed_fold_drops_its_candidate_and_all_failed_keeps_the_default():
    exps = _data(3)
    m = _model(exps, DEFAULT_PRIOR)
    real = _solve(m)
    real("fit")

    class Failed:
        ok, solution_loaded, iterations = False, False, 3

    def fail_weak(label):  # every candidate weaker than 1 fails
        return Failed() if pyo.value(m.prior_precision) < 1 else real(label)

    choice = cross_validate(m, fail_weak, {e: len(y) for e, (_, y) in exps.items()}, GRID)
    assert choice.alpha >= 1.0
    assert all(r["score"] == math.inf for r in choice.path if r["alpha"] < 1)
    # the first fold of a failing candidate failed; the other two were not solved
    assert all(list(r["folds"].values()) == [math.inf] for r in choice.path if r["alpha"] < 1)
    assert choice.to_dict()["path"][-1]["score"] is None or choice.path[-1]["alpha"] >= 1

    choice = cross_validate(m, lambda label: Failed(), {e: len(y) for e, (_, y) in exps.items()}, GRID)
    assert choice.source is RegularizationSource.DEFAULT and choice.alpha == DEFAULT_PRIOR
    assert "failed" in choice.reason


@pytest.mark.unit
def test_resolve_setting():
    assert resolve_setting(0.5, 3, True)[:2] == (0.5, False)
    assert resolve_setting(0.5, 3, True)[2].source is RegularizationSource.GIVEN
    assert resolve_setting(None, 3, True) == (DEFAULT_PRIOR, EVIDENCE, None)  # the default
    assert resolve_setting(EVIDENCE, 1, True) == (DEFAULT_PRIOR, EVIDENCE, None)
    alpha, cv, choice = resolve_setting(None, 3, False, "model update")
    assert (alpha, cv, choice.source, choice.reason) == (DEFAULT_PRIOR, False, RegularizationSource.DEFAULT,
                                                         "model update")
    assert resolve_setting(CROSS_VALIDATE, 3, True) == (DEFAULT_PRIOR, True, None)
    alpha, cv, choice = resolve_setting(CROSS_VALIDATE, 1, True)
    assert (alpha, cv, choice.source) == (DEFAULT_PRIOR, False, RegularizationSource.DEFAULT)
    assert "one training experiment" in choice.reason
    alpha, cv, choice = resolve_setting(CROSS_VALIDATE, 4, False, "decomposition")
    assert (cv, choice.reason) == (False, "decomposition")


@pytest.mark.unit
def test_config_regularization_cv_number_or_clear_error():
    assert parse_training({}).regularization is None
    assert parse_training({"regularization": "cv"}).regularization == CROSS_VALIDATE
    assert parse_training({"regularization": "CV"}).regularization == CROSS_VALIDATE
    assert parse_training({"regularization": 3}).regularization == 3.0
    with pytest.raises(ConfigError, match=r"^training\.regularization: expected a number >= 0, 'cv' \(cross-validation\) or 'evidence'"):
        parse_training({"regularization": "small"})
    with pytest.raises(ConfigError, match=r"^training\.regularization: must be >= 0"):
        parse_training({"regularization": -1.0})


@pytest.mark.component
def test_training_cross_validates_and_a_fold_equals_training_without_that_experiment():
    """Unit path, two fed-batch batches, ``regularization = "cv"``: the held-out score of a fold equals, independently, the prediction error of that batch
    by a model trained on the other batch alone with the same prior precision (the
    likelihood form makes the prior mean the same with fewer observations)."""
    from pathlib import Path

    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training.experiment import Experiment, Role, read_measurements
    from idaes_hybrid.training.predict import simulate
    from idaes_hybrid.training.problem import Discretization
    from idaes_hybrid.training.train import TrainingSettings
    from idaes_hybrid.training.unit_train import train
    from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR

    data = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor" / "data"
    noise = {"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1}

    def exp(name, initial, role=Role.TRAIN):
        return Experiment(name=name, initial=initial, inputs={"F": 0.05, "Sf": initial["S"]},
                          horizon=40.0, measurements=read_measurements(data / f"{name}.csv", name),
                          role=role, noise_sd=noise)

    b1 = exp("b1", {"X": 0.05, "P": 0.0, "S": 10.0, "V": 1.0})
    b2 = exp("b2", {"X": 0.025, "P": 0.0, "S": 5.0, "V": 0.8})
    disc = Discretization(nfe=8, ncp=2)
    # linear in its inputs: each fold's fit has one optimum, whatever the start
    spec = NetworkSpec.dense(2, [2], 1, "linear", seed=0)
    settings = TrainingSettings(pretrain_epochs=100, solver_options={"tol": 1e-8, "max_iter": 300},
                                regularization=CROSS_VALIDATE)
    result = train(FED_BATCH_BIOREACTOR, [b1, b2], spec, disc, network_inputs=["X", "S"],
                   settings=settings)
    reg = result.regularization
    assert reg["source"] == "cross-validation"
    assert result.stages["regularization"].status == "cross-validation"
    scored = {p["alpha"]: p for p in reg["path"]}
    assert 1.0 in scored and reg["alpha"] in scored
    assert scored[reg["alpha"]]["score"] == min(p["score"] for p in reg["path"] if p["score"] is not None)
    assert result.metrics()["regularization"] == reg
    # not asked for: no cross-validation; the evidence's prior precision, from alpha = 1
    plain = train(FED_BATCH_BIOREACTOR, [b1, b2], spec, disc, network_inputs=["X", "S"],
                  settings=TrainingSettings(pretrain_epochs=100))
    ev = plain.regularization
    assert ev["source"] == "evidence" and ev["path"][0]["alpha"] == DEFAULT_PRIOR
    assert plain.stages["regularization"].status == "evidence"
    assert ev["alpha"] == ev["path"][-1]["alpha"] and all("folds" not in p for p in ev["path"])
    n_weights = spec.flat_parameters().size
    assert all(0 < p["gamma"] <= n_weights for p in ev["path"])

    # independent reference for the fold holding b1 out, at alpha = 1
    alone = train(FED_BATCH_BIOREACTOR, [b2], spec, disc, network_inputs=["X", "S"],
                  settings=TrainingSettings(**{**settings.__dict__, "regularization": 1.0}))
    sim = simulate(HybridModel(FED_BATCH_BIOREACTOR, {}, ("X", "S"), disc, alone.spec), b1)
    times, names, values = b1.observations()
    pred = np.array([np.interp(t, sim["time"], sim[n]) for t, n in zip(times, names)])
    sd = np.array([noise[n] for n in names])
    reference = float(np.mean(((pred - values) / sd) ** 2))
    assert scored[1.0]["folds"]["b1"] == pytest.approx(reference, rel=0.05)


@pytest.mark.unit
def test_report_gives_the_prior_and_the_cross_validation_path():
    from idaes_hybrid.output.report import training_report

    metrics = {"status": "optimal", "iterations": 12, "wall_time_s": 3.0, "stages": {},
               "train": {"rmse": {"X": 0.05}}, "validation": {"rmse": {"X": 0.04}},
               "regularization": {"alpha": 10.0, "source": "cross-validation", "path": [
                   {"alpha": 100.0, "score": 7.85, "folds": {"b1": 9.0, "b2": None}},
                   {"alpha": 10.0, "score": 4.93, "folds": {"b1": 5.0, "b2": 4.8}},
                   {"alpha": 1.0, "score": None, "folds": {"b1": None}}]}}
    text = training_report(metrics, [], "run")
    assert "alpha = 10, cross-validation" in text
    assert "| 100 | 7.85 | 9 | - |" in text and "| 10 | 4.93 | 5 | 4.8 |" in text
    # b1 failed at alpha = 1, so b2 was not solved: not reported as failed
    assert "| 1 | - | - | not tried |" in text
    plain = training_report({**metrics, "regularization": {"alpha": 1.0, "source": "default"}}, [], "run")
    assert "alpha = 1, default." in plain and "Leave-one-experiment-out" not in plain


@pytest.mark.unit
def test_report_counts_a_decompositions_epochs():
    from idaes_hybrid.output.report import training_report

    metrics = {"status": "max-epochs", "iterations": 100, "wall_time_s": 3.0, "stages": {},
               "train": {"rmse": {"X": 0.05}}, "validation": {"rmse": {"X": 0.04}},
               "decomposition": {"history": [{"epoch": 1}]}}
    assert "after 100 epochs of the decomposition;" in training_report(metrics, [], "run")
    del metrics["decomposition"]
    assert "after 100 interior-point iterations;" in training_report(metrics, [], "run")
