"""Figures of a training run: data vs model, and the learned term vs its inputs.

Figures are drawn on matplotlib's Agg canvas directly (no ``pyplot``, no change
of the global backend) and written to PNG files atomically.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import idaes.logger as idaeslog

from idaes_hybrid.output.saved import temporary_sibling
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.experiment import Experiment, Role

if TYPE_CHECKING:  # pragma: no cover
    from idaes_hybrid.training.train import TrainingResult
    from idaes_hybrid.model.definition import HybridModelDefinition

_log = idaeslog.getLogger(__name__)

_DPI = 120


def _unit_text(units) -> str:
    """Pint/Pyomo units as compact text, with litres written ``L``."""
    text = str(units).strip()
    if text in ("", "dimensionless", "None"):
        return ""
    text = text.replace("**", "^").replace(" ", "")
    return re.sub(r"(?<![A-Za-z])l(?![A-Za-z])", "L", text)


def variable_units(definition: HybridModelDefinition,
                   network_inputs: Sequence[str] | None = None) -> dict[str, str]:
    """Units of the model's states, inputs, learned terms and ``time`` as text.

    Builds one (undiscretized) unit of the model to read its variables' units.
    Names whose units cannot be found are left out.
    """
    import pyomo.environ as pyo
    from idaes.core import FlowsheetBlock
    from pyomo.environ import units as pyunits

    out = {"time": _unit_text(definition.time_units)}
    try:
        m = pyo.ConcreteModel()
        m.fs = FlowsheetBlock(dynamic=True, time_set=[0.0, 1.0], time_units=definition.time_units)
        inputs = list(network_inputs or definition.default_network_inputs)
        m.fs.unit = definition.unit_class(dynamic=True, **definition.unit_options(inputs))
        for name in (*definition.state_names, *definition.input_names, *definition.learned_names):
            var = getattr(m.fs.unit, name, None)
            if var is not None:  # an element's units: a Reference component has none itself
                out[name] = _unit_text(pyunits.get_units(var[m.fs.time.first()]))
    except Exception as err:  # units are decoration: never fail a plot for them
        _log.debug(f"units of model {definition.name!r} not available: {err}")
    return out


def axis_label(name: str, units: Mapping[str, str]) -> str:
    """``"name [unit]"`` (just the name when ``units`` has none for it)."""
    u = units.get(name, "")
    return f"{name} [{u}]" if u else name


def panel_figure(nrows: int, ncols: int, panel: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows x ncols`` panels of ``panel`` (width, height) inches and its axes.

    Fixed margins in inches (room for a suptitle, panel titles, tick and axis labels)
    instead of a layout engine: the training plots are drawn in a fraction of the time.
    """
    left, right, top, bottom, gap_w, gap_h = 0.85, 0.2, 0.65, 0.55, 0.9, 0.6
    width = left + right + ncols * panel[0] + (ncols - 1) * gap_w
    height = top + bottom + nrows * panel[1] + (nrows - 1) * gap_h
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height,
                        bottom=bottom / height, wspace=gap_w / panel[0], hspace=gap_h / panel[1])
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG (Agg canvas, no pyplot state), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    tmp = temporary_sibling(path)
    try:
        fig.savefig(tmp, dpi=_DPI, format=(path.suffix.lstrip(".") or "png"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _log.info(f"wrote {path}")
    return path


def _describe(role: Role | None) -> tuple[str, str]:
    """(title suffix, model-line label) of an experiment role."""
    if role is Role.VALIDATION:
        return "validation, predicted", "model (predicted)"
    if role is Role.TRAIN:
        return "training, fitted", "model (fitted)"
    return "", "model"


def plot_fit(result: TrainingResult, experiments: Sequence[Experiment],
             definition: HybridModelDefinition, path: str | Path,
             units: Mapping[str, str] | None = None, bands: Mapping[str, Any] | None = None) -> Path:
    """Data points and model trajectories, one row per experiment, one column per state.

    Training experiments show the fitted trajectories, validation experiments
    the predictions from initial state and inputs alone (marked in the titles).

    Parameters
    ----------
    result : TrainingResult
        Its ``trajectories`` (and ``per_experiment_rmse``, shown in each panel).
    experiments : Sequence[Experiment]
        Experiments to draw, in row order; their measurements are the points.
    definition : HybridModelDefinition
        Gives the state names (columns).
    path : str or pathlib.Path
        PNG file to write.
    units : Mapping[str, str], optional
        Units per variable (and ``time``); default :func:`variable_units`.
    bands : Mapping, optional
        By experiment name: prediction bands (objects with ``time``, ``lower``,
        ``upper``, ``level``, e.g. :class:`~idaes_hybrid.uncertainty.laplace.PredictionBands`),
        shaded around the trajectory.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    if not experiments:
        raise ValueError("experiments: nothing to plot (empty list)")
    units = dict(variable_units(definition) if units is None else units)
    states = list(definition.state_names)
    nrows, ncols = len(experiments), len(states)
    fig, axes = panel_figure(nrows, ncols, (2.6, 1.9))
    for r, exp in enumerate(experiments):
        traj = result.trajectories.get(exp.name)
        rmse = result.per_experiment_rmse.get(exp.name, {})
        what, line_label = _describe(exp.role)
        if traj is None:
            _log.warning(f"plot_fit: no trajectory for experiment {exp.name!r}; data only")
        for c, state in enumerate(states):
            ax = axes[r, c]
            if state in exp.measurements.columns:
                col = exp.measurements[state].dropna()
                ax.plot(col.index.to_numpy(), col.to_numpy(), "o", ms=3.5, color="tab:blue",
                        alpha=0.8, label="data")
            if traj is not None and state in traj:
                ax.plot(traj["time"], traj[state], "-", lw=1.8,
                        color="tab:red" if exp.role is Role.VALIDATION else "tab:orange",
                        label=line_label)
            band = (bands or {}).get(exp.name)
            if band is not None and state in band.lower:
                ax.fill_between(band.time, band.lower[state], band.upper[state], color="tab:red",
                                alpha=0.2, lw=0, label=f"{band.level:.0%} band")
            title = f"{exp.name} ({what}): {state}" if what else f"{exp.name}: {state}"
            ax.set_title(title, fontsize=9)
            if state in rmse and np.isfinite(rmse[state]):
                ax.text(0.02, 0.96, f"RMSE {rmse[state]:.3g}", transform=ax.transAxes,
                        va="top", ha="left", fontsize=8,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0})
            ax.set_ylabel(axis_label(state, units), fontsize=9)
            if r == nrows - 1:
                ax.set_xlabel(axis_label("time", units), fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{definition.name}: data vs hybrid model", fontsize=11)
    return save_figure(fig, path)


def _reference_input(reference: Callable, reference_input: str | None,
                     network_inputs: Sequence[str]) -> str:
    if reference_input is not None:
        if reference_input not in network_inputs:
            raise ValueError(f"reference_input: {reference_input!r} is not a network input; "
                             f"network inputs: {list(network_inputs)}")
        return reference_input
    try:
        params = list(inspect.signature(reference).parameters)
    except (TypeError, ValueError):
        params = []
    if params and params[0] in network_inputs:
        return params[0]
    if len(network_inputs) == 1:
        return network_inputs[0]
    raise ValueError("reference_input: name the network input the reference is a function of "
                     f"(one of {list(network_inputs)}), or name the callable's argument after it")


def _evaluate_reference(reference: Callable, x: np.ndarray) -> np.ndarray:
    try:
        y = np.asarray(reference(x), dtype=float)
        if y.shape == x.shape:
            return y
    except (TypeError, ValueError):
        pass
    return np.array([float(reference(float(v))) for v in x])


def _smoother_points(result: TrainingResult, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The smoother's network inputs and outputs, and whether there are any."""
    smoother = result.smoother_profiles or {}
    sv = np.asarray(smoother.get("inputs", np.empty((0, n_in))), dtype=float)
    sz = np.asarray(smoother.get("outputs", np.empty((0, n_out))), dtype=float)
    return sv, sz, bool(sv.ndim == 2 and sv.shape[0] > 0 and sv.shape[1] == n_in)


def _network_points(spec: NetworkSpec, result: TrainingResult,
                    inputs: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per trajectory holding every input: the network's inputs and its prediction there."""
    points = {}
    for name, traj in result.trajectories.items():
        if all(n in traj for n in inputs):
            v = np.column_stack([np.asarray(traj[n], dtype=float) for n in inputs])
            points[name] = (v, spec.predict(v))
    return points


def plot_learned_rate(spec: NetworkSpec, result: TrainingResult,
                      definition: HybridModelDefinition, network_inputs: Sequence[str],
                      path: str | Path, reference: Callable | None = None,
                      reference_input: str | None = None,
                      experiments: Sequence[Experiment] | None = None,
                      units: Mapping[str, str] | None = None, band: Callable | None = None) -> Path:
    """The learned term(s) against each network input.

    One panel per (learned term, network input): the network evaluated at the
    states of every trajectory (one colour per experiment), and the smoother's
    estimates at its points. With a ``reference``, its curve over the training
    range of its input is drawn too, with the network evaluated at the
    smoother's points for comparison.

    Parameters
    ----------
    spec : NetworkSpec
        The trained network.
    result : TrainingResult
        Its ``trajectories`` and ``smoother_profiles``.
    definition : HybridModelDefinition
        Gives the learned names.
    network_inputs : Sequence[str]
        The network's inputs, in order.
    path : str or pathlib.Path
        PNG file to write.
    reference : callable, optional
        Known truth of the first learned term as a function of one network
        input, vectorized or scalar (e.g. Monod ``lambda S: 0.2 * S / (1 + S)``).
    reference_input : str, optional
        The input ``reference`` takes; default the callable's first argument
        name if it is a network input (``S`` above).
    experiments : Sequence[Experiment], optional
        Gives the roles (training / validation) of the trajectories for legends.
    units : Mapping[str, str], optional
        Units per variable; default :func:`variable_units`.
    band : callable, optional
        ``band(v) -> (centre, lower, upper)`` of the network's outputs at raw inputs ``v``
        (:class:`~idaes_hybrid.uncertainty.term_band.TermBand`): drawn at every point, and
        along a one-input network's curve past the data.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    inputs, learned = list(network_inputs), list(definition.learned_names)
    if spec.n_inputs != len(inputs):
        raise ValueError(f"network_inputs: {inputs} has {len(inputs)} names but the network "
                         f"takes {spec.n_inputs} inputs")
    units = dict(variable_units(definition, inputs) if units is None else units)
    roles = {e.name: e.role for e in experiments or ()}
    ref_in = None if reference is None else _reference_input(reference, reference_input, inputs)
    sv, sz, has_smoother = _smoother_points(result, len(inputs), len(learned))
    points = _network_points(spec, result, inputs)
    fig, axes = panel_figure(len(learned), len(inputs), (3.4, 2.6))
    colours = [f"C{k % 10}" for k in range(len(points))]
    for o, out_name in enumerate(learned):
        for i, in_name in enumerate(inputs):
            ax = axes[o, i]
            if has_smoother and sz.ndim == 2 and sz.shape[1] > o:
                ax.plot(sv[:, i], sz[:, o], "x", ms=4, color="0.55", label="smoother estimate")
            _draw_points(ax, points, colours, roles, (i, o), band)
            if spec.n_inputs == 1:  # the whole learned function can be drawn
                _draw_network_curve(ax, spec, o, sv if has_smoother else None, points, band)
            if reference is not None and o == 0 and in_name == ref_in:
                _draw_reference(ax, reference, i, sv if has_smoother else None, points, roles,
                                spec, has_smoother)
            ax.set_xlabel(axis_label(in_name, units), fontsize=9)
            ax.set_ylabel(axis_label(out_name, units), fontsize=9)
            ax.set_title(f"learned {out_name} vs {in_name}", fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{definition.name}: learned term vs network inputs", fontsize=11)
    return save_figure(fig, path)


def _draw_points(ax, points: dict, colours: Sequence[str], roles: dict, io: tuple[int, int],
                 band: Callable | None) -> None:
    """The network's output ``o`` at every trajectory's points against input ``i``, with
    the band's error bars."""
    i, o = io
    for colour, (name, (v, z)) in zip(colours, points.items()):
        role = roles.get(name)
        ax.plot(v[:, i], z[:, o], "^" if role is Role.VALIDATION else "o", ms=4,
                color=colour, alpha=0.85, linestyle="none",
                label=f"network on {name}" + {Role.TRAIN: " (fitted)",
                                              Role.VALIDATION: " (predicted)"}.get(role, ""))
        if band is not None:
            _, lower, upper = band(v)
            ax.errorbar(v[:, i], z[:, o], yerr=[z[:, o] - lower[:, o], upper[:, o] - z[:, o]],
                        fmt="none", ecolor=colour, alpha=0.3, lw=1)


def widened_grid(values: np.ndarray, n: int = 200, widen: float = 0.25) -> np.ndarray:
    """``n`` points over the finite ``values``' range widened by ``widen`` of it on each
    side (where a band drawn past the data widens)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    lo, hi = float(x.min()), float(x.max())
    pad = widen * (hi - lo) if hi > lo else max(abs(lo), 1.0) * widen
    return np.linspace(lo - pad, hi + pad, n)


def _draw_reference(ax, reference: Callable, i: int, smoother_inputs: np.ndarray | None,
                    points: dict, roles: dict, spec: NetworkSpec, has_smoother: bool) -> None:
    """Reference curve over the training range of input ``i``, and the network along it."""
    if smoother_inputs is not None:
        train_x = smoother_inputs[:, i]
    else:
        train_x = np.concatenate([v[:, i] for n, (v, _) in points.items()
                                  if roles.get(n, Role.TRAIN) is Role.TRAIN] or [np.empty(0)])
    train_x = train_x[np.isfinite(train_x)]
    if train_x.size == 0:
        return
    lo, hi = float(train_x.min()), float(train_x.max())
    grid = np.linspace(lo, hi, 200) if hi > lo else np.array([lo])
    shown = [0.0 if abs(x) < 1e-6 * max(abs(lo), abs(hi)) else x for x in (lo, hi)]
    ax.plot(grid, _evaluate_reference(reference, grid), "k--", lw=1.6,
            label=f"reference, training range [{shown[0]:.3g}, {shown[1]:.3g}]")
    if has_smoother:
        order = np.argsort(smoother_inputs[:, i])
        ax.plot(smoother_inputs[order, i], spec.predict(smoother_inputs[order])[:, 0], "s",
                ms=3, linestyle="none", color="tab:purple", alpha=0.8,
                label="network at smoother points")


def _draw_network_curve(ax, spec: NetworkSpec, o: int, smoother_inputs: np.ndarray | None,
                        points: dict, band: Callable | None = None) -> None:
    """Line of a one-input network's output ``o`` over the range of all drawn points; with
    a ``band``, over that range widened by a quarter on each side, the band shaded."""
    xs = [v[:, 0] for v, _ in points.values()]
    if smoother_inputs is not None:
        xs.append(smoother_inputs[:, 0])
    x = np.concatenate(xs) if xs else np.empty(0)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return
    grid = widened_grid(x, widen=0.25 if band is not None else 0.0)
    ax.plot(grid, spec.predict(grid[:, None])[:, o], "-", lw=1.2, color="tab:green",
            alpha=0.8, label="network")
    if band is not None:
        _, lower, upper = band(grid[:, None])
        ax.fill_between(grid, lower[:, o], upper[:, o], color="tab:green", alpha=0.2,
                        label=f"{getattr(band, 'level', 0.9):.0%} band")
