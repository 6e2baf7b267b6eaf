"""The evidence's prior precision (``regularization = "evidence"``): the effective number of
parameters, the fixed point against the closed-form evidence of a linear-Gaussian model,
and a failed re-solve that keeps the last good solution."""

from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo
import pytest

from idaes_hybrid.solve.solver import SolveResult, SolveStatus, get_nlp_solver
from idaes_hybrid.training.evidence import (EvidenceError, effective_parameters, evidence_alpha,
                                            evidence_path)
from idaes_hybrid.training.regularization import RegularizationSource


@pytest.mark.unit
def test_effective_parameters_of_a_diagonal_hessian():
    lam = np.array([100.0, 1.0, 0.01, -0.5])  # a negative eigenvalue counts as 0
    assert effective_parameters(np.diag(lam), 1.0) == pytest.approx(100 / 101 + 0.5 + 0.01 / 1.01)
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    assert effective_parameters(rot @ np.diag(lam) @ rot.T, 2.0) == pytest.approx(
        100 / 102 + 1 / 3 + 0.01 / 2.01)
    gamma, alpha = evidence_alpha(np.diag(lam), np.array([1.0, 2.0, 0.0, 0.0]), 1.0)
    assert alpha == pytest.approx(gamma / 5.0)


def _linear_gaussian(seed: int = 3, n: int = 40, k: int = 6, sd: float = 0.3):
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n, k))
    theta_true = rng.normal(scale=0.7, size=k)
    y = phi @ theta_true + rng.normal(scale=sd, size=n)
    return phi, y, sd


def _closed_form_alpha(phi: np.ndarray, y: np.ndarray, sd: float) -> float:
    """argmax over alpha of log p(y | alpha) = k/2 log alpha - 1/2 log|A| - E(theta_MAP),
    A = Phi^T Phi / sd^2 + alpha I (Bishop, eq. 3.86), by scipy's bounded scalar search."""
    from scipy.optimize import minimize_scalar

    h = phi.T @ phi / sd**2

    def minus_log_evidence(log_alpha: float) -> float:
        alpha = math.exp(log_alpha)
        a = h + alpha * np.eye(h.shape[0])
        theta = np.linalg.solve(a, phi.T @ y / sd**2)
        e = 0.5 * np.sum((y - phi @ theta) ** 2) / sd**2 + 0.5 * alpha * theta @ theta
        return -(0.5 * h.shape[0] * log_alpha - 0.5 * np.linalg.slogdet(a)[1] - e)

    return math.exp(minimize_scalar(minus_log_evidence, bounds=(-8, 8), method="bounded",
                                    options={"xatol": 1e-10}).x)


def _training_model(phi: np.ndarray, y: np.ndarray, sd: float) -> pyo.ConcreteModel:
    """The training objective's form: mean of r^2 / sd^2 plus alpha / N ||theta||^2."""
    n, k = phi.shape
    m = pyo.ConcreteModel()
    m.theta = pyo.Var(range(k), initialize=0.0)
    m.prior_precision = pyo.Param(initialize=1.0, mutable=True)
    r = [sum(float(phi[i, j]) * m.theta[j] for j in range(k)) - float(y[i]) for i in range(n)]
    m.obj = pyo.Objective(expr=sum(ri**2 for ri in r) / sd**2 / n
                          + m.prior_precision / n * sum(m.theta[j] ** 2 for j in range(k)))
    return m


def _solved_path(phi: np.ndarray, y: np.ndarray, sd: float, max_refits: int):
    """The training model solved at alpha = 1, its weights' reader and its evidence path."""
    m = _training_model(phi, y, sd)
    solver = get_nlp_solver({"tol": 1e-12})
    assert solver.solve(m).ok
    theta = lambda: np.array([pyo.value(m.theta[j]) for j in m.theta])  # noqa: E731
    choice = evidence_path(m, lambda label: solver.solve(m), lambda: phi.T @ phi / sd**2, theta,
                           max_refits=max_refits, ratio=1.0 + 1e-7)
    return m, theta, choice


@pytest.mark.component
def test_the_path_reaches_the_maximum_of_the_closed_form_evidence():
    """Bayesian linear regression: the data Hessian is Phi^T Phi / sd^2 (the NLL's), and the
    evidence's fixed point is the maximum of log p(y | alpha) in closed form."""
    phi, y, sd = _linear_gaussian()
    m, theta, choice = _solved_path(phi, y, sd, max_refits=30)
    expected = _closed_form_alpha(phi, y, sd)
    assert choice.source is RegularizationSource.EVIDENCE and choice.reason == ""
    assert choice.alpha == pytest.approx(expected, rel=1e-4)
    assert float(pyo.value(m.prior_precision)) == choice.alpha
    a = phi.T @ phi / sd**2 + choice.alpha * np.eye(phi.shape[1])  # m solved at the choice
    np.testing.assert_allclose(theta(), np.linalg.solve(a, phi.T @ y / sd**2), rtol=1e-6)
    assert choice.path[0]["alpha"] == 1.0 and len(choice.path) >= 3
    assert choice.to_dict()["path"][0]["evidence_alpha"] == choice.path[0]["evidence_alpha"]


@pytest.mark.component
def test_a_failed_resolve_or_hessian_keeps_the_last_solution(caplog):
    phi, y, sd = _linear_gaussian()
    m = _training_model(phi, y, sd)
    solver = get_nlp_solver({"tol": 1e-12})
    solver.solve(m)
    before = [pyo.value(m.theta[j]) for j in m.theta]
    failed = SolveResult(SolveStatus.MAX_ITERATIONS, "limit", 100, 0.1, None, "ipopt", "")

    def fail(label):
        m.theta[0].set_value(99.0)  # a failed solve may leave anything behind
        return failed

    theta = lambda: np.array([pyo.value(m.theta[j]) for j in m.theta])  # noqa: E731
    choice = evidence_path(m, fail, lambda: phi.T @ phi / sd**2, theta)
    assert choice.alpha == 1.0 and "failed" in choice.reason and len(choice.path) == 1
    assert [pyo.value(m.theta[j]) for j in m.theta] == before
    assert float(pyo.value(m.prior_precision)) == 1.0

    def no_hessian():
        raise EvidenceError("experiments['b2']: the simulation with the trained weights failed")

    caplog.clear()
    choice = evidence_path(m, fail, no_hessian, theta)
    assert choice.alpha == 1.0 and "b2" in choice.reason and choice.path == []
    # said as a warning (it was an INFO line "alpha=1 after 0 estimates"), with what to do
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("no data Hessian at alpha=1" in w and "b2" in w and "[training] regularization" in w
               for w in warned), warned


@pytest.mark.component
def test_a_path_stopped_before_it_settles_says_so():
    """One re-solve allowed, far from the fixed point: the choice keeps the last trained
    alpha and its reason says the evidence did not settle (was: reported as a plain choice)."""
    _, _, choice = _solved_path(*_linear_gaussian(), max_refits=1)
    last = choice.path[-1]["evidence_alpha"]
    assert choice.alpha == choice.path[-1]["alpha"] != pytest.approx(last, rel=1e-6)
    assert choice.reason.startswith("not settled after 1 re-solves: the last estimate")
    assert f"{abs(last / choice.alpha - 1):.0%} from alpha={choice.alpha:.4g}" in choice.reason
