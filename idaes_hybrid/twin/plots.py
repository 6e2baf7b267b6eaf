"""Figure of a state estimate: past data, the estimate over the window, the forecast.

Drawn on matplotlib's Agg canvas (no ``pyplot``) and written atomically, as the
training plots of :mod:`idaes_hybrid.output.plots`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from idaes_hybrid.output.plots import axis_label, save_figure

if TYPE_CHECKING:  # pragma: no cover
    from idaes_hybrid.training.experiment import Experiment
    from idaes_hybrid.twin.estimate import TwinEstimate


def plot_estimate(estimate: TwinEstimate, experiment: Experiment, states: Sequence[str],
                  path: str | Path, units: Mapping[str, str] | None = None) -> Path:
    """One panel per state: measurements, moving-horizon estimate and forecast.

    Parameters
    ----------
    estimate : TwinEstimate
        Result of :func:`~idaes_hybrid.twin.unit_estimate.estimate_and_forecast` or
        :func:`~idaes_hybrid.twin.flowsheet_estimate.estimate_flowsheet`.
    experiment : Experiment
        The batch (its measurements up to ``t_now`` are drawn as used; later
        ones, if any, as hollow markers: not used by the estimate).
    states : Sequence[str]
        States to draw, in order.
    path : str or pathlib.Path
        PNG file to write.
    units : Mapping[str, str], optional
        Units per variable for the axis labels.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    units = dict(units or {})
    states = list(states)
    ncols = 2 if len(states) > 1 else 1
    nrows = int(math.ceil(len(states) / ncols))
    fig = Figure(figsize=(5.2 * ncols, 3.4 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    meas = experiment.measurements
    times = meas.index.to_numpy(dtype=float)
    t_now, t_s = estimate.t_now, estimate.window_start
    for ax, name in zip(axes, states):
        ax.axvspan(t_s, t_now, color="tab:blue", alpha=0.08, label="estimation window")
        ax.axvline(t_now, color="0.3", lw=1.0, ls=":", label=f"now (t = {t_now:g})")
        if name in meas.columns:
            values = meas[name].to_numpy(dtype=float)
            ok = ~np.isnan(values)
            used = ok & (times <= t_now + 1e-9)
            later = ok & (times > t_now + 1e-9)
            if used.any():
                ax.plot(times[used], values[used], "o", ms=4, color="k", label="measured")
            if later.any():
                ax.plot(times[later], values[later], "o", ms=4, mfc="none", color="0.5",
                        label="measured later (not used)")
        ax.plot(estimate.estimate["time"], estimate.estimate[name], "-", lw=2.0,
                color="tab:blue", label="estimate")
        ax.plot(estimate.forecast["time"], estimate.forecast[name], "--", lw=2.0,
                color="tab:orange", label="forecast")
        ax.plot([t_now], [estimate.state[name]], "D", ms=6, color="tab:blue")
        prior = estimate.arrival_cost
        if prior is not None and name in prior.mean:
            ax.errorbar([t_s], [prior.mean[name]], yerr=[prior.sd[name]], fmt="x", ms=6,
                        capsize=3, color="tab:purple", label="prior at window start (mean, sd)")
        ax.set_xlim(0.0, estimate.horizon_end)
        ax.set_xlabel(axis_label("time", units), fontsize=9)
        ax.set_ylabel(axis_label(name, units), fontsize=9)
        ax.set_title(name + ("" if name in experiment.measured_variables else " (not measured)"),
                     fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(states):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{estimate.experiment}: state estimate at t = {t_now:g} "
                 f"(window [{t_s:g}, {t_now:g}]) and forecast to {estimate.horizon_end:g}",
                 fontsize=11)
    return save_figure(fig, path)
