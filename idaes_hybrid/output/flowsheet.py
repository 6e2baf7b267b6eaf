"""Outputs of a flowsheet training run: saved network, metrics, plots, report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from idaes_hybrid.output.figure_jobs import write_figures
from idaes_hybrid.output.saved import (
    CHECKSUM_FIELD, contents_checksum, package_versions, to_jsonable, training_data_fingerprint,
    write_json_atomic, write_text_atomic)
from idaes_hybrid.model.experiment import Role
from idaes_hybrid.model.flowsheet import FlowsheetExperiment
from idaes_hybrid.model.trust_region import InputBox
from idaes_hybrid.output.plots import save_figure, widened_grid
from idaes_hybrid.training.train import TrainingResult

#: Version of ``model/flowsheet_model.json`` (``/1``: one network, still read).
FORMAT = "idaes-hybrid-flowsheet-model/2"
FORMAT_V1 = "idaes-hybrid-flowsheet-model/1"



def _subplots(rows: int, cols: int, figsize: tuple[float, float], squeeze: bool = False):
    """A figure and its axes grid, without pyplot's global state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(rows, cols, squeeze=squeeze)


def _finish_time_panels(fig, axes, path: Path) -> None:
    """Time on the bottom axis; the figure written."""
    axes[-1, 0].set_xlabel("time")
    fig.tight_layout()
    save_figure(fig, path)

def save_flowsheet_model(directory: Path, result: TrainingResult, config_path: Path | None,
                         build_ref: str, uncertainty: Mapping[str, Any] | None = None,
                         training: Sequence[FlowsheetExperiment] = ()) -> Path:
    """``directory/flowsheet_model.json``: every term's trained network and how to rebuild
    the flowsheet (the config and its build function; no registration needed), each
    term's box of network inputs seen in training (``input_boxes``, the trust region of
    an optimization), the weights' covariance (``uncertainty``, when computed), the
    fingerprints of the ``training`` experiments (``training_data``: an update recognizes
    them) and the noise levels the training weighted the data by (``noise_sd``: an
    estimate's default); older files have none of the four."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {"format": FORMAT, "config": str(config_path) if config_path else None,
                "build": build_ref, "versions": package_versions(),
                "networks": {k: s.to_dict() for k, s in result.specs.items()}}
    if training:
        document["training_data"] = training_data_fingerprint(training)
    if getattr(result, "noise", None):
        document["noise_sd"] = dict(result.noise)
    profiles = getattr(result, "term_profiles", None) or {}  # a bare result: specs only
    boxes = {term: InputBox.from_points(p["inputs"]).to_dict()
             for term, p in profiles.items() if len(p.get("inputs", []))}
    if boxes:
        document["input_boxes"] = boxes
    if uncertainty is not None:
        document["uncertainty"] = dict(uncertainty)
    document = to_jsonable(document)  # the checksum covers what is written
    document[CHECKSUM_FIELD] = {"sha256": contents_checksum(document)}
    return write_json_atomic(directory / "flowsheet_model.json", document)


def learned_term_curve(spec, inputs: np.ndarray, widen: float = 0.0,
                       output: int = 0) -> tuple[np.ndarray, np.ndarray, bool]:
    """What ``learned_term.png`` draws for one output of a term against its first input:
    ``(x, y, is_line)``. One input: the network on a grid over the smoother's range, widened
    by ``widen`` of it on each side (a line). Several: the network at the smoother's own
    input points, sorted by the first input (points; a line through the mean of the other
    inputs would show a state the process never visits)."""
    rows = _curve_inputs(inputs, widen)
    return rows[:, 0], np.asarray(spec.predict(rows))[:, output], rows.shape[1] == 1


def _curve_inputs(inputs: np.ndarray, widen: float) -> np.ndarray:
    """The network inputs :func:`learned_term_curve` evaluates at."""
    v = np.asarray(inputs, float)
    if v.shape[1] == 1:
        return widened_grid(v[:, 0], 100, widen)[:, None]
    return v[np.argsort(v[:, 0], kind="stable")]


def plot_learned_terms(result: TrainingResult, path: Path,
                       bands: Mapping[str, Callable] | None = None) -> None:
    """Every learned output of every term against its network's first input, with the
    smoother's profile (one column per term, one row per output: a network giving two
    reactions' rates draws both); see :func:`learned_term_curve`. ``bands`` by term:
    ``band(v) -> (centre, lower, upper)``
    (:class:`~idaes_hybrid.uncertainty.term_band.TermBand`), shaded along a one-input
    term's curve (its range widened by a quarter on each side) or as error bars."""
    import matplotlib

    matplotlib.use("Agg")

    terms = list(result.specs)
    n_out = {t: np.asarray(result.term_profiles[t]["outputs"]).shape[1] for t in terms}
    rows = max(n_out.values())
    fig, axes = _subplots(rows, len(terms), figsize=(6 * len(terms), 4 * rows), squeeze=False)
    for col, term in enumerate(terms):
        for k in range(rows):
            if k < n_out[term]:
                _plot_term_output(axes[k, col], result, term, k, (bands or {}).get(term))
            else:
                axes[k, col].set_visible(False)
    fig.tight_layout()
    save_figure(fig, path)


def _plot_term_output(ax, result: TrainingResult, term: str, k: int, band: Callable | None) -> None:
    """One panel of :func:`plot_learned_terms`: output ``k`` of ``term``."""
    v, z = result.term_profiles[term]["inputs"], result.term_profiles[term]["outputs"]
    widen = 0.25 if band is not None else 0.0
    x, y, is_line = learned_term_curve(result.specs[term], v, widen, output=k)
    ax.plot(v[:, 0], z[:, k], ".", color="0.6", ms=3, label="smoother profile")
    if is_line:
        ax.plot(x, y, "r-", label="trained network")
    else:
        ax.plot(x, y, "r.", ms=2, label="trained network at the same inputs")
    if band is not None:
        _draw_term_band(ax, band, _curve_inputs(v, widen), is_line, k)
    n_in = v.shape[1]
    labels = result.term_labels.get(term, {})
    outputs = labels.get("outputs") or []
    ax.set_title(term if n_in == 1 else f"{term} (against the first of {n_in} inputs)")
    ax.set_xlabel((labels.get("inputs") or ["network input 1"])[0])
    ax.set_ylabel(outputs[k] if k < len(outputs) else f"learned output {k + 1}")
    ax.legend()


def _draw_term_band(ax, band: Callable, rows: np.ndarray, is_line: bool, k: int = 0) -> None:
    """Output ``k`` of a term's band at ``rows``: shaded along a line, error bars at points."""
    centre, lower, upper = band(rows)
    label = f"{getattr(band, 'level', 0.9):.0%} band"
    if is_line:
        ax.fill_between(rows[:, 0], lower[:, k], upper[:, k], color="r", alpha=0.2, label=label)
    else:
        ax.errorbar(rows[:, 0], centre[:, k], yerr=[centre[:, k] - lower[:, k], upper[:, k] - centre[:, k]],
                    fmt="none", ecolor="r", alpha=0.25, lw=1, label=label)


def plot_validation(result: TrainingResult, experiments: Sequence[FlowsheetExperiment], path: Path,
                    bands: Mapping[str, Any] | None = None) -> None:
    """Measured vs simulated validation experiments, one panel per measured variable;
    ``bands`` (by experiment: objects with ``time``, ``lower``, ``upper`` and ``level``,
    e.g. :class:`~idaes_hybrid.uncertainty.laplace.PredictionBands`) shaded."""
    import matplotlib

    matplotlib.use("Agg")

    vals = [e for e in experiments if e.name in result.trajectories]
    names = sorted({n for e in vals for n in e.measured_variables})
    if not names:
        return
    fig, axes = _subplots(len(names), 1, figsize=(7, 2.6 * len(names)), squeeze=False)
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[:, 0], names):
        for i, e in enumerate(vals):
            traj = result.trajectories[e.name]
            color = cycle[i % len(cycle)]  # one colour per experiment: its points and its line
            if name in e.measurements.columns:  # experiments may measure different variables
                s = e.measurements[name].dropna()
                ax.plot(s.index, s.to_numpy(), "o", ms=3, color=color, label=f"{e.name} measured")
            if name in traj:
                line, = ax.plot(traj["time"], traj[name], "-", color=color, label=f"{e.name} simulated")
                band = (bands or {}).get(e.name)
                if band is not None and name in band.lower:
                    ax.fill_between(band.time, band.lower[name], band.upper[name], color=line.get_color(),
                                    alpha=0.2, label=f"{e.name} {band.level:.0%} band")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
    _finish_time_panels(fig, axes, path)


def write_outputs(staging: Path, result: TrainingResult, document: dict, config_path: Path | None,
                  build_ref: str, experiments, log: logging.Logger, uncertainty: Any = None,
                  term_bands: Mapping[str, Callable] | None = None) -> None:
    """Everything ``idaes-hybrid train`` writes for a flowsheet config; ``uncertainty``
    (:class:`~idaes_hybrid.uncertainty.laplace.ValidationUncertainty`): the covariance
    saved with the model, the bands drawn in validation.png; ``term_bands`` drawn in
    learned_term.png."""
    write_json_atomic(staging / "metrics.json", document)
    save_flowsheet_model(staging / "model", result, config_path, build_ref,
                         uncertainty.saved() if uncertainty is not None else None,
                         [e for e in experiments if e.role is Role.TRAIN])
    bands = uncertainty.bands if uncertainty is not None else None
    write_figures({"learned_term.png": lambda p: plot_learned_terms(result, p, term_bands),
                   "validation.png": lambda p: plot_validation(result, experiments, p, bands)},
                  staging, log)
    from idaes_hybrid.output.report import training_report

    plots = sorted(p.name for p in staging.glob("*.png"))
    write_text_atomic(staging / "report.md", training_report(document, plots, "Hybrid flowsheet training report"))


def plot_optimization(document: dict, path: Path) -> None:
    """Each control's optimal profile (and the true flowsheet's, when computed)."""
    import matplotlib

    matplotlib.use("Agg")

    times = document["segment_times"]
    names = list(document["profiles"])
    fig, axes = _subplots(len(names), 1, figsize=(7, 2.8 * len(names)), squeeze=False)
    truth = document.get("true_flowsheet", {}).get("profiles", {})
    for ax, name in zip(axes[:, 0], names):
        for label, values, style in (("hybrid optimum", document["profiles"][name], "r-"),
                                     ("true optimum", truth.get(name), "k--")):
            if values is not None:
                ax.step(times, [*values, values[-1]], style, where="post", label=label)
        ax.set_ylabel(name)
        ax.legend(fontsize=8)
    _finish_time_panels(fig, axes, path)


def write_optimization(staging: Path, document: dict, log: logging.Logger) -> None:
    """``optimization.json`` and ``profiles.png`` of ``idaes-hybrid optimize``."""
    write_json_atomic(staging / "optimization.json", document)
    write_figures({"profiles.png": lambda p: plot_optimization(document, p)}, staging, log)
