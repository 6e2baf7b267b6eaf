"""Figure of a feed optimization: feed profiles, volume and product trajectories.

Drawn on matplotlib's Agg canvas (no ``pyplot``) and written atomically, as the
training plots of :mod:`idaes_hybrid.output.plots`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

import idaes.logger as idaeslog

from idaes_hybrid.output.plots import axis_label, save_figure

if TYPE_CHECKING:  # pragma: no cover
    from idaes_hybrid.optimize.feed import FeedEvaluation, FeedOptimizationResult, FeedProfile

_log = idaeslog.getLogger(__name__)


def _steps(profile: FeedProfile) -> tuple[np.ndarray, np.ndarray]:
    """Staircase points of a piecewise-constant profile."""
    edges = np.asarray(profile.edges, dtype=float)
    values = np.asarray(profile.values, dtype=float)
    return np.repeat(edges, 2)[1:-1], np.repeat(values, 2)


def plot_feed_profiles(hybrid: FeedOptimizationResult, path: str | Path, V_max: float,
                       hybrid_on_reference: FeedEvaluation | None = None,
                       reference: FeedOptimizationResult | None = None,
                       units: Mapping[str, str] | None = None) -> Path:
    """Feed profiles ``F(t)`` and the volume and product trajectories they give.

    Parameters
    ----------
    hybrid : FeedOptimizationResult
        The hybrid-optimal feed and the hybrid model's prediction for it.
    path : str or pathlib.Path
        PNG file to write.
    V_max : float
        Volume limit (drawn as a line).
    hybrid_on_reference : FeedEvaluation, optional
        The hybrid-optimal feed simulated with the true kinetics.
    reference : FeedOptimizationResult, optional
        The true optimum (the optimization with the true kinetics).
    units : Mapping[str, str], optional
        Units per variable (``F``, ``V``, ``P``, ``time``).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    units = dict(units or {})
    fig = Figure(figsize=(13.0, 3.8), layout="constrained")
    ax_f, ax_v, ax_p = fig.subplots(1, 3)
    blue, orange = "tab:blue", "tab:orange"
    ax_f.plot(*_steps(hybrid.profile), color=blue, lw=2, label="hybrid optimum")
    if reference is not None:
        ax_f.plot(*_steps(reference.profile), color=orange, lw=2, ls="--", label="true optimum")
    ax_f.set_title("Feed profile")
    ax_f.set_ylabel(axis_label("F", units))
    curves = [("hybrid optimum (hybrid prediction)", hybrid.trajectories, blue, ":")]
    if hybrid_on_reference is not None:
        curves.append(("hybrid optimum (true model)", hybrid_on_reference.trajectories, blue, "-"))
    if reference is not None:
        curves.append(("true optimum", reference.trajectories, orange, "--"))
    for ax, name in ((ax_v, "V"), (ax_p, "P")):
        for label, traj, color, style in curves:
            ax.plot(traj["time"], traj[name], color=color, ls=style, lw=1.6, label=label)
        ax.set_ylabel(axis_label(name, units))
    ax_v.axhline(V_max, color="grey", lw=1, ls="-.", label="V_max")
    ax_v.set_title("Volume")
    ax_p.set_title("Product concentration")
    for ax in (ax_f, ax_v, ax_p):
        ax.set_xlabel(axis_label("time", units))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Feed optimization: product {hybrid.product_mass:.4g} g predicted"
                 + (f", {hybrid_on_reference.product_mass:.4g} g on the true model"
                    if hybrid_on_reference is not None else "")
                 + (f", true optimum {reference.product_mass:.4g} g" if reference is not None else ""))
    return save_figure(fig, path)


def plot_closed_loop(rounds: Sequence[int], true: Sequence[float], predicted: Sequence[float],
                     path: str | Path, true_optimum: float | None = None,
                     unit: str = "g", quantity: str = "product P(tf) V(tf)",
                     near: float | None = 0.99) -> Path:
    """Product mass per round of a closed loop: the plant's, the model's prediction, the optimum.

    Parameters
    ----------
    rounds : Sequence[int]
        Round numbers.
    true, predicted : Sequence[float]
        ``P(tf) V(tf)`` the plant gave and the model predicted in each round.
    path : str or pathlib.Path
        PNG file to write.
    true_optimum : float, optional
        The true optimum (drawn as a line, with its 99% level).
    unit : str
        Unit of the quantity (empty: none).
    quantity : str
        What is drawn per round (the axis label).
    near : float, optional
        Draw ``near`` times the true optimum too (``None``: not).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(rounds, true, "o-", color="tab:blue", lw=2, label="plant (true model)")
    ax.plot(rounds, predicted, "s:", color="tab:green", lw=1.4, label="model prediction")
    if true_optimum is not None:
        ax.axhline(true_optimum, color="tab:orange", ls="--", lw=1.6, label="true optimum")
        if near is not None:
            ax.axhline(near * true_optimum, color="tab:orange", ls=":", lw=1,
                       label=f"{100 * near:g}% of it")
    ax.set_xticks(list(rounds))
    ax.set_xlabel("round")
    ax.set_ylabel(f"{quantity} ({unit})" if unit else quantity)
    ax.set_title(f"Closed loop: {quantity} per round")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_loop_document(doc: dict, path: str | Path, true_optimum: float | None = None,
                       **kwargs) -> Path:
    """:func:`plot_closed_loop` of a ``loop.json`` document's rounds (a round without a plant
    result drawn as a gap); ``kwargs`` go to :func:`plot_closed_loop`."""
    rows = doc["rounds"]
    return plot_closed_loop([r["round"] for r in rows],
                            [float("nan") if r["true"] is None else r["true"] for r in rows],
                            [r["predicted"] for r in rows], path, true_optimum, **kwargs)
