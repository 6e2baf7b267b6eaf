"""Noise levels checked against the trained fit, and one refit where they disagree.

A noise level estimated from the data alone (:func:`~idaes_hybrid.model.noise.estimate_noise_sd`,
a difference-based estimator) scatters by 13-19 % around the truth on data sets of a few
batches of about 30 samples. Once the model is trained, the root mean square of its
training residuals is a second estimate, and a sharper one (0.84-1.11 of the truth on
the noise benchmark): the model has few effective parameters next to the observations.
Where the two disagree by more than :data:`REFIT_RATIO`, the weights of the fit are
replaced by the residual RMS and the model is re-solved once, so the weights, the fit and
the reported noise level agree. Given levels (``noise_sd``) are never changed.

The re-solve starts where the first fit started (``restart``), not from the first fit:
a fit under weights the residuals reject can settle in another local optimum of the
network than the refined weights' own fit, and a warm re-solve stays there. Restarted,
the result is the fit the refined levels give, as if they had been given as ``noise_sd``
(the Haldane set of ``tests/test_noise_defaults.py`` with block-diagonal steps: validation
X 0.154 warm, 0.093 restarted, 0.087 with the true levels). A restart that does not
converge falls back to the warm re-solve.
"""

from __future__ import annotations

from typing import Callable, Mapping

import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.solve.solver import SolveResult
from idaes_hybrid.solve.values import restore_values, unfixed_values

_log = idaeslog.getLogger(__name__)

#: An estimated level and the fit's residual RMS further apart than this factor: refit.
REFIT_RATIO = 1.25
#: Residuals larger than the data's own noise by this factor: the model does not follow the
#: measurements (where it does, the two estimates lie within 0.8-1.2 of the true level),
#: and the refit, which takes the misfit for noise, is announced as a warning.
MISMATCH_RATIO = 5.0


def mismatch_warning(levels: Mapping[str, dict], new: Mapping[str, dict],
                     ratio: float = MISMATCH_RATIO) -> str | None:
    """The warning for the variables whose refined level is more than ``ratio`` times the
    level estimated from the data (``None`` if there is none)."""
    risen = {k: v["sd"] / levels[k]["sd"] for k, v in new.items()
             if levels[k]["sd"] > 0 and v["sd"] > ratio * levels[k]["sd"]}
    if not risen:
        return None
    names = ", ".join(f"{k} {r:.0f}x" for k, r in risen.items())
    return (f"the trained fit misses the measurements by far more than their noise ({names} the "
            "level the data show): the model does not follow these data; check the experiments' "
            "initial states, inputs and units. The fit's residuals are taken for noise from here "
            "on (levels, bands)")


def refined_levels(levels: Mapping[str, dict], fit_rms: Mapping[str, float],
                   ratio: float = REFIT_RATIO, spread: bool = False) -> dict[str, dict] | None:
    """The noise levels with every estimated one that the fit contradicts replaced.

    Parameters
    ----------
    levels
        Per variable ``{"sd", "source", ...}`` (:func:`~idaes_hybrid.training.problem.noise_levels`).
    fit_rms
        Per variable, the RMS of the trained model's training residuals.
    ratio
        Largest factor between an estimated level and the residual RMS that is kept.
    spread
        Refine only the levels that came from the data's spread (source ``"data spread"``,
        or an entry with ``data_spread``: refined before), instead of the estimated ones.

    Returns
    -------
    dict or None
        The new levels (a replaced estimate has ``source`` ``"estimated"``, ``sd`` the
        residual RMS, ``difference_estimate`` the first estimate and ``refined`` true; a
        replaced data spread has ``source`` ``"fit residuals"`` and ``data_spread`` the
        spread); ``None`` when nothing is replaced.
    """
    out, changed = {}, False
    for name, level in levels.items():
        rms = fit_rms.get(name)
        out[name] = dict(level)
        from_spread = level.get("source") == "data spread" or "data_spread" in level
        if (not from_spread if spread else level.get("source") != "estimated") or rms is None or rms <= 0.0:
            continue
        if max(rms / level["sd"], level["sd"] / rms) > ratio:
            if spread:
                out[name].update(sd=float(rms), source="fit residuals",
                                 data_spread=float(level.get("data_spread", level["sd"])))
            else:
                out[name].update(sd=float(rms), difference_estimate=float(level["sd"]), refined=True)
            changed = True
    return out if changed else None


def set_fit_scales(m: pyo.Block, fit_sums: Callable[[dict[str, float]], Mapping[str, tuple]],
                   scales: Mapping[str, float]) -> None:
    """Replace the training model's fit weights: ``m.scales`` and every ``experiment_fit[e]``
    (rebuilt by ``fit_sums(scales)``, the model's per-experiment ``(sum, n)``)."""
    m.scales = dict(scales)
    for name, (expr, _) in fit_sums(m.scales).items():
        m.experiment_fit[name].set_value(expr)


def refit_noise(m: pyo.Block, levels: Mapping[str, dict], fit_rms: Mapping[str, float],
                fit_sums: Callable[[dict[str, float]], Mapping[str, tuple]],
                solve: Callable[[], SolveResult], spread: bool = False,
                restart: Callable[[], SolveResult | None] | None = None) -> tuple[dict, SolveResult | None]:
    """Check the estimated noise levels against the solved model ``m``; refit once if off.

    Parameters
    ----------
    m
        The solved training model (weights free; ``m.scales``, ``m.experiment_fit``).
    levels
        The noise levels the fit used.
    fit_rms
        Per variable, the RMS of ``m``'s training residuals (the pooled
        :func:`~idaes_hybrid.training.flowsheet_problem.flowsheet_rmse` of its experiments).
    fit_sums
        Per-experiment fit sums for given weights (``experiment_fit_sums`` of the model).
    solve
        Re-solves ``m`` from its current point.
    spread
        Check the levels from the data's spread instead of the estimated ones
        (:func:`refined_levels`).
    restart
        Solves ``m`` from the first fit's own start (``None`` if it does not converge);
        tried before ``solve``. ``None``: only the warm ``solve``.

    Returns
    -------
    tuple
        The levels in force after the check and the refit's result (``None``: no refit).
        A refit that fails leaves the model, its weights and its levels as they were.
    """
    new = refined_levels(levels, fit_rms, spread=spread)
    if new is None:
        return dict(levels), None
    names = ", ".join(f"{k} {levels[k]['sd']:.3g} -> {v['sd']:.3g}" for k, v in new.items()
                      if v["sd"] != levels[k]["sd"])
    _log.info(f"noise levels refined from the fit's residuals ({names}): refitting")
    warning = mismatch_warning(levels, new)
    if warning:
        _log.warning(f"noise refit: {warning}")
    saved = unfixed_values(m)
    old_scales = dict(m.scales)
    set_fit_scales(m, fit_sums, {k: v["sd"] for k, v in new.items()})
    result = restart() if restart is not None else None
    if result is not None and result.ok:
        return new, result
    if restart is not None:
        _log.info("noise refit: the restarted fit did not converge; re-solving from the first fit")
        restore_values(saved)
    result = solve()
    if result.ok:
        return new, result
    _log.warning(f"noise refit: {result.status.value}; keeping the first fit and its levels")
    restore_values(saved)
    set_fit_scales(m, fit_sums, old_scales)
    return dict(levels), result
