"""Noise estimated from the data alone, against series with a known noise level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from idaes_hybrid.model.noise import estimate_noise_sd, scaled_prediction_errors
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.training.problem import noise_levels, observation_scales


def _logistic(t, top=8.0, rate=0.15, mid=25.0):
    return top / (1.0 + np.exp(-rate * (t - mid)))


@pytest.mark.unit
def test_errors_of_a_quadratic_are_zero_on_any_grid():
    t = np.sort(np.random.default_rng(0).uniform(0, 10, 15))
    assert np.max(np.abs(scaled_prediction_errors(t, 3 * t**2 - t + 2))) < 1e-9


@pytest.mark.unit
@pytest.mark.parametrize("seed, sd, n", [(0, 0.05, 20), (1, 0.2, 15), (2, 0.01, 25), (3, 0.5, 30)])
def test_estimate_within_30_percent_on_ragged_smooth_series(seed, sd, n):
    """Three ragged batches of a growth curve (known noise): within 30%."""
    rng = np.random.default_rng(seed)
    series = []
    for _ in range(3):
        t = np.sort(rng.uniform(0.0, 60.0, n))
        series.append((t, _logistic(t, top=rng.uniform(5, 10)) + rng.normal(0.0, sd, n)))
    est = estimate_noise_sd(series)
    assert est is not None and abs(est.sd / sd - 1) < 0.3


@pytest.mark.unit
def test_pooled_estimate_converges_with_many_points():
    rng = np.random.default_rng(7)
    t = np.linspace(0, 60, 400)
    est = estimate_noise_sd([(t, np.sin(t / 7.0) + rng.normal(0, 0.03, t.size))])
    # the scaled errors of neighbours are correlated: about 5% standard error at 400 points
    assert est.sd == pytest.approx(0.03, rel=0.15) and est.n_residuals == 398


@pytest.mark.unit
def test_windows_across_an_input_step_are_left_out():
    """A jump at t = 30 (a step input): the windows across it are skipped (and clipping
    would remove them anyway); the estimate stays at the noise level."""
    rng = np.random.default_rng(3)
    t = np.linspace(0, 60, 121)
    y = np.where(t < 30, 1.0, 4.0) + rng.normal(0, 0.02, t.size)
    naive, skipped = estimate_noise_sd([(t, y)]), estimate_noise_sd([(t, y)], [[30.0]])
    assert skipped.sd == pytest.approx(0.02, rel=0.3) and naive.sd == pytest.approx(0.02, rel=0.3)
    assert skipped.n_residuals < naive.n_residuals


@pytest.mark.unit
def test_too_few_data_give_no_estimate():
    assert estimate_noise_sd([(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.5, 3.5]))]) is None


@pytest.mark.unit
def test_noise_levels_say_where_each_sd_comes_from():
    rng = np.random.default_rng(11)

    def exp(name, noise_sd=None):
        t = np.sort(rng.uniform(0, 50, 20))
        frame = pd.DataFrame({"X": _logistic(t) + rng.normal(0, 0.1, t.size), "S": np.nan},
                             index=pd.Index(t, name="time"))
        frame.loc[frame.index[:3], "S"] = [10.0, 9.0, 8.5]
        return Experiment(name, {"X": 0.1, "S": 10.0}, {}, 50.0, frame, noise_sd=noise_sd)

    levels = noise_levels([exp("a"), exp("b")])
    assert levels["X"]["source"] == "estimated" and abs(levels["X"]["sd"] / 0.1 - 1) < 0.3
    assert levels["S"]["source"] == "data spread"  # 6 values: too few to estimate
    given = noise_levels([exp("a", {"X": 0.2}), exp("b", {"X": 0.3})])
    assert given["X"] == {"sd": 0.25, "source": "given"}
    assert observation_scales([exp("a", {"X": 0.2}), exp("b")])["X"] == pytest.approx(levels["X"]["sd"], rel=0.5)


@pytest.mark.unit
def test_a_fit_that_misses_the_data_by_far_more_than_their_noise_is_a_warning():
    """A wrong initial state or input leaves residuals many times the data's noise; the refit
    would take them for noise: it is said as a warning naming the variables and factors."""
    from idaes_hybrid.training.noise_refit import MISMATCH_RATIO, mismatch_warning, refined_levels

    levels = {"cA": {"sd": 4.73, "source": "estimated"}, "T": {"sd": 0.206, "source": "estimated"},
              "cC": {"sd": 4.36, "source": "estimated"}}
    far = refined_levels(levels, {"cA": 106.0, "T": 2.22, "cC": 4.5})
    text = mismatch_warning(levels, far)
    assert text is not None and "cA 22x" in text and "T 11x" in text and "cC" not in text
    assert "initial states" in text
    assert mismatch_warning(levels, refined_levels(levels, {"cA": 8.5, "T": 0.3, "cC": 2.0})) is None
    just = refined_levels(levels, {"cA": 4.73 * MISMATCH_RATIO * 1.01, "T": 0.2, "cC": 4.4})
    assert "cA 5x" in mismatch_warning(levels, just)


@pytest.mark.unit
def test_refined_levels_replace_only_estimates_the_fit_contradicts():
    from idaes_hybrid.training.noise_refit import REFIT_RATIO, refined_levels

    levels = {"X": {"sd": 0.05, "source": "given"},
              "S": {"sd": 0.27, "source": "estimated", "n_residuals": 60},
              "P": {"sd": 0.045, "source": "estimated", "n_residuals": 58},
              "V": {"sd": 0.3, "source": "data spread"}}
    fit = {"X": 0.02, "S": 0.49, "P": 0.05, "V": 0.1}
    new = refined_levels(levels, fit)
    # S: 0.49 / 0.27 = 1.81 > 1.25 -> the fit's RMS; P: 1.11 -> kept; given and spread kept
    assert new["S"] == {"sd": 0.49, "source": "estimated", "n_residuals": 60,
                        "difference_estimate": 0.27, "refined": True}
    assert new["P"] == levels["P"] and new["X"] == levels["X"] and new["V"] == levels["V"]
    # with spread=True only the data-spread level moves: V 0.3 -> 0.1
    moved = refined_levels(levels, fit, spread=True)
    assert moved["V"] == {"sd": 0.1, "source": "fit residuals", "data_spread": 0.3}
    assert all(moved[k] == levels[k] for k in "XSP")
    assert refined_levels({**levels, "V": moved["V"]}, {**fit, "V": 0.05}, spread=True)["V"] == {
        "sd": 0.05, "source": "fit residuals", "data_spread": 0.3}
    assert refined_levels(levels, {**fit, "V": 0.27}, spread=True) is None
    assert refined_levels(levels, {**fit, "S": 0.27 * REFIT_RATIO * 0.99}) is None
    assert refined_levels(levels, {**fit, "S": 0.27 / REFIT_RATIO / 0.99}) is None
    assert refined_levels(levels, {**fit, "S": 0.27 / REFIT_RATIO / 1.01})["S"]["sd"] == pytest.approx(
        0.27 / REFIT_RATIO / 1.01)


def _refit_model():
    """A one-variable stand-in for a training model: ``x`` is the fit, ``S`` its one level."""
    import pyomo.environ as pyo

    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=1.0)
    m.experiment_fit = pyo.Expression(["b1"], initialize=0.0)
    m.scales = {"S": 0.3}
    return m, (lambda sc: {"b1": (m.x / sc["S"] ** 2, 1)})


def _result(ok: bool):
    from idaes_hybrid.solve.solver import SolveResult, SolveStatus

    status = SolveStatus.OPTIMAL if ok else SolveStatus.MAX_ITERATIONS
    return SolveResult(status, status.value, 7, 0.1, 1.0 if ok else None, "stub", "")


@pytest.mark.unit
def test_a_noise_refit_restarts_from_the_first_fits_start_and_falls_back_to_the_warm_one():
    """The refit is the refined levels' own fit from the train solve's start (``restart``);
    if that does not converge, the warm re-solve from the first fit follows; if neither
    does, the first fit, its weights and its levels stay."""
    import pyomo.environ as pyo

    from idaes_hybrid.training.noise_refit import refit_noise

    levels = {"S": {"sd": 0.3, "source": "estimated"}}
    m, sums = _refit_model()
    seen = []

    def restart(ok=True):
        seen.append(("restart", m.x.value))
        m.x.set_value(5.0)  # the restarted fit's point
        return _result(ok) if ok is not None else None

    def warm():
        seen.append(("warm", m.x.value))
        return _result(True)

    new, res = refit_noise(m, levels, {"S": 0.5}, sums, warm, restart=restart)
    assert new["S"]["sd"] == 0.5 and new["S"]["refined"] and res.ok
    assert seen == [("restart", 1.0)] and m.x.value == 5.0 and m.scales == {"S": 0.5}
    assert pyo.value(m.experiment_fit["b1"]) == pytest.approx(5.0 / 0.25)

    for failed in (False, None):  # restart not converged, or raised and reported None
        m, sums = _refit_model()
        seen.clear()
        new, res = refit_noise(m, levels, {"S": 0.5}, sums, warm, restart=lambda: restart(failed))
        assert seen == [("restart", 1.0), ("warm", 1.0)]  # warm from the first fit, not from 5.0
        assert res.ok and new["S"]["sd"] == 0.5

    m, sums = _refit_model()
    new, res = refit_noise(m, levels, {"S": 0.5}, sums, lambda: _result(False), restart=lambda: restart(False))
    assert not res.ok and new == levels and m.x.value == 1.0 and m.scales == {"S": 0.3}
