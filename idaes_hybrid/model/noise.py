"""Measurement noise estimated from the data alone (when ``noise_sd`` is not given).

A difference-based estimator that needs no model: each observation ``y_i`` is
predicted by the quadratic through its three nearest neighbours in time (Lagrange
weights ``w``, any spacing), and the prediction error ``e_i = y_i - w . y_nb`` has
variance ``sigma^2 (1 + w . w)`` wherever the signal is locally smooth (a quadratic
is reproduced exactly, so smooth curvature does not bias it). The scaled errors of
all series of a variable are pooled; the few that a fast transient or a kink
inflates are clipped at three robust standard deviations (median absolute
deviation), and the estimate is the root mean square of the rest, corrected for
the clipping (a factor 0.9733 of the variance of a normal variable).

Windows that straddle a known input step (a kink or jump in the signal) are left
out. Where the data undersample the dynamics, the estimate errs high (a
conservative weight), never towards fitting noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

#: Neighbours of each observation in its prediction (a quadratic through them).
NEIGHBOURS = 3
#: Clipping threshold in robust standard deviations, and the variance kept by it.
CLIP, CLIP_VARIANCE = 3.0, 0.9733
#: Fewer scaled errors than this give no estimate.
MIN_RESIDUALS = 8


@dataclass(frozen=True)
class NoiseEstimate:
    """An estimated noise standard deviation and how many errors it rests on."""

    sd: float
    n_residuals: int


def _lagrange_weights(nodes: np.ndarray, t: float) -> np.ndarray:
    """Weights of the polynomial through ``nodes`` evaluated at ``t``."""
    w = np.ones(len(nodes))
    for j, tj in enumerate(nodes):
        for k, tk in enumerate(nodes):
            if k != j:
                w[j] *= (t - tk) / (tj - tk)
    return w


def scaled_prediction_errors(times: Sequence[float], values: Sequence[float],
                             breakpoints: Iterable[float] = ()) -> np.ndarray:
    """``e_i / sqrt(1 + w . w)`` of every interior observation of one series.

    Parameters
    ----------
    times, values
        One series (any order, no NaN; repeated times are averaged over by skipping).
    breakpoints
        Times of input steps; a window that spans one is skipped.
    """
    t = np.asarray(times, float)
    y = np.asarray(values, float)
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    steps = np.asarray(sorted(breakpoints), float)
    out = []
    for i in range(len(t)):
        nb = [j for j in np.argsort(np.abs(t - t[i]), kind="stable") if j != i][:NEIGHBOURS]
        if len(nb) < NEIGHBOURS:
            continue
        nodes = t[nb]
        lo, hi = nodes.min(), nodes.max()
        if not lo < t[i] < hi or len(np.unique(nodes)) < NEIGHBOURS:
            continue  # no extrapolation; no duplicate times
        if np.any((steps > lo) & (steps < hi)):
            continue
        w = _lagrange_weights(nodes, t[i])
        out.append((y[i] - w @ y[nb]) / np.sqrt(1.0 + w @ w))
    return np.asarray(out, float)


def estimate_noise_sd(series: Iterable[tuple[Sequence[float], Sequence[float]]],
                      breakpoints: Iterable[Iterable[float]] | None = None) -> NoiseEstimate | None:
    """Pooled noise estimate of one variable over several series (``None``: too few data).

    Parameters
    ----------
    series
        ``(times, values)`` of the variable in each experiment.
    breakpoints
        Per series, the times of its input steps (optional).
    """
    series = list(series)
    steps = list(breakpoints) if breakpoints is not None else [()] * len(series)
    errors = np.concatenate([scaled_prediction_errors(t, y, b) for (t, y), b in zip(series, steps)]
                            or [np.zeros(0)])
    if errors.size < MIN_RESIDUALS:
        return None
    robust = 1.4826 * float(np.median(np.abs(errors)))
    if robust <= 0.0:
        return None
    kept = errors[np.abs(errors) < CLIP * robust]
    return NoiseEstimate(float(np.sqrt(np.mean(kept**2) / CLIP_VARIANCE)), int(errors.size))
