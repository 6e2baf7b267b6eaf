"""Digital-twin commands of the ``idaes-hybrid`` command line.

``idaes-hybrid update MODEL_DIR CONFIG.toml --out DIR [--start S] [--no-anchor] [--tee] [--quiet]``
    Re-train a saved model with the config's training batches. Training batches
    whose data match the saved model's training data (name and fingerprint) are
    re-used as original batches, the others are the new ones (at least one is
    needed). With every original batch listed the update trains from the data,
    else it is warm-started from the saved network (``--start`` overrides). Writes ``DIR/model/``, ``DIR/metrics.json``
    (with ``update.validation_rmse.before/after/change``) and the training plots.
``idaes-hybrid estimate MODEL_DIR CONFIG.toml --experiment NAME --now T --window W --out DIR``
    Estimate the state of the config's batch ``NAME`` at ``T`` from its
    measurements in the last ``W`` hours and forecast the rest of it; writes
    ``DIR/estimate.json`` and ``DIR/estimate.png``. A flowsheet config ([flowsheet]
    table) with a saved flowsheet model estimates the variables of the batch's
    ``initial`` table (:mod:`idaes_hybrid.twin.flowsheet_estimate`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

from idaes_hybrid.cli.common import (LOGGER_NAME, UsageError, add_saved_model_options,
                                     check_horizon_end, check_rel_sd_names, fmt,
                                     load_saved_with_config, open_saved_run, write_plots,
                                     warn_uncertainty_not_updated)
from idaes_hybrid.cli.output import check_out_dir, write_staged

#: ``--start`` of ``update``: the values of :class:`~idaes_hybrid.twin.update.UpdateStart`
#: (not imported here: ``--help`` stays free of IDAES's import).
UPDATE_STARTS = ("auto", "saved", "data")

#: How the status line names where an update started.
_FROM = {"data": "data", "saved": "saved network"}

#: Command-line option of each request field, for error messages.
_OPTION_OF = {"t_now": "--now", "window": "--window", "horizon_end": "--horizon-end",
              "experiment": "--experiment"}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``update`` and ``estimate`` sub-commands."""
    up = sub.add_parser("update", help="re-train a saved model with new batches",
                        description="Re-train a saved model with the config's new training "
                                    "batches (and the original ones, if listed): from the data "
                                    "when every original batch is listed, else warm-started from "
                                    "its network; report the validation RMSE before and after.")
    add_saved_model_options(up, "config listing new and validation batches")
    up.add_argument("--start", choices=UPDATE_STARTS, default="auto",
                    help="auto (default): from the data when every batch the model was trained "
                         "on is in the config, else from the saved network; saved; data")
    up.add_argument("--no-anchor", action="store_true",
                    help="regularize towards zero instead of towards the saved weights "
                         "(a start from the saved network)")
    es = sub.add_parser("estimate", help="estimate a running batch's state and forecast it",
                        description="Moving-horizon state estimate of a batch in progress with a "
                                    "saved model, and a forecast to the end of the batch.")
    add_saved_model_options(es, "config holding the batch")
    es.add_argument("--experiment", required=True, metavar="NAME", help="the batch in progress")
    es.add_argument("--now", required=True, type=float, metavar="T", help="current time")
    es.add_argument("--window", required=True, type=float, metavar="W",
                    help="length of the estimation window (the last W time units)")
    es.add_argument("--horizon-end", type=float, metavar="T_END",
                    help="end of the forecast (default: the batch's horizon)")
    es.add_argument("--prior", choices=["open-loop", "none"], default="open-loop",
                    help="arrival cost on the window's initial state (default open-loop)")
    es.add_argument("--prior-rel-sd", default="0.2", metavar="SD",
                    help="relative sd of the arrival cost: one number or NAME=SD,... "
                         "(e.g. X=0.5,V=0.02; unnamed states 0.2)")


# ----------------------------------------------------------------------------- update
def run_update(args: argparse.Namespace) -> int:
    """Run ``idaes-hybrid update``; return the exit code (errors are raised)."""
    from idaes_hybrid.config.flowsheet import is_flowsheet_config

    if is_flowsheet_config(args.config):
        return _run_flowsheet_update(args)
    out, saved, config, log = open_saved_run(args)
    from idaes_hybrid.output.saved import ModelFileError, save_model, write_json_atomic
    from idaes_hybrid.training.train import TrainingError
    from idaes_hybrid.twin.common import TwinRequestError
    from idaes_hybrid.twin.update import UpdateStart, original_training_names, update_model

    originals = set(original_training_names(saved, config.training_experiments))
    new = [e for e in config.training_experiments if e.name not in originals]
    original = [e for e in config.training_experiments if e.name in originals]
    if not new:
        raise TwinRequestError("experiments", f"every training experiment of '{config.path}' "
                                              f"({sorted(originals)}) was already used to train the "
                                              "saved model; add a new batch with role 'train'")
    if config.discretization != saved.discretization:
        log.warning(f"discretization {config.discretization} of the config differs from the "
                    f"saved model's {saved.discretization}; using the saved model's")
    if list(config.hidden) != list(saved.spec.sizes[1:-1]):
        log.warning(f"network.hidden {list(config.hidden)} of the config differs from the saved "
                    f"network's {list(saved.spec.sizes[1:-1])}; an update keeps the saved network's shape")
    warn_uncertainty_not_updated(config.uncertainty, log)
    log.info(f"update: {len(new)} new batch(es) {[e.name for e in new]}, {len(original)} original, "
             f"{len(config.validation_experiments)} validation")
    result = update_model(saved, new, config.validation_experiments, original, config.training,
                          anchor=not args.no_anchor, tee=args.tee, start=UpdateStart(args.start))
    metrics = result.metrics()
    metrics["update"]["parent"] = {"model_dir": str(saved.directory),
                                   "training_data": saved.training_data,
                                   "anchor": not args.no_anchor and result.start is UpdateStart.SAVED}
    document = {**metrics, "model": saved.model_name, "config": str(config.path),
                "network_inputs": saved.network_inputs}
    used = dataclasses.replace(config, network_inputs=list(saved.network_inputs),
                               physics=dict(saved.physics), discretization=saved.discretization,
                               experiments=[*original, *new, *config.validation_experiments])

    def write(staging: Path) -> None:
        write_json_atomic(staging / "metrics.json", document)
        try:
            save_model(staging / "model", result.spec, used, metrics)
        except ModelFileError as err:
            raise TrainingError(f"the updated model cannot be saved: {err}") from err
        write_plots(result.training, used, staging, log)

    written = write_staged(out, write)
    up = metrics["update"]["validation_rmse"]
    print(f"status: {metrics['status']} ({metrics['iterations']} iterations, "
          f"{metrics['wall_time_s']:.1f} s, from the {_FROM[result.start.value]}); "
          f"new batches {result.new_experiments}")
    names = sorted(up["before"])
    if names:
        print("validation RMSE".ljust(16) + "".join(n.rjust(11) for n in names))
        for part in ("before", "after", "change"):
            print(part.ljust(16) + "".join(fmt(up[part].get(n)).rjust(11) for n in names))
    print(f"wrote {', '.join(p.name + ('/' if p.is_dir() else '') for p in written)} in {out}")
    return 0


def _run_flowsheet_update(args: argparse.Namespace) -> int:
    """``update`` of a flowsheet configuration: from the data when every batch the model was
    trained on is listed (same fingerprint), else from the saved networks."""
    from idaes_hybrid.cli import flowsheet as cli_flowsheet

    document, out, written = cli_flowsheet.update(args, check_out_dir, write_staged)
    up = document["update"]
    print(f"status: {document['status']} ({document['iterations']} iterations, "
          f"{document['wall_time_s']:.1f} s, from the {_FROM[up['start']]}); "
          f"new batches {up['new_batches']}")
    for part in ("new", "validation"):
        names = sorted(up[f"{part}_before"])
        if names:
            print(f"{part} RMSE".ljust(16) + "".join(n.rjust(11) for n in names))
            for when in ("before", "after"):
                print(when.ljust(16) + "".join(fmt(up[f"{part}_{when}"].get(n)).rjust(11) for n in names))
    print(f"wrote {', '.join(p.name + ('/' if p.is_dir() else '') for p in written)} in {out}")
    return 0


# ----------------------------------------------------------------------------- estimate
def parse_rel_sd(text: str) -> float | dict[str, float]:
    """``"0.2"`` -> 0.2; ``"X=0.5,V=0.02"`` -> ``{"X": 0.5, "V": 0.02}``; :class:`UsageError` otherwise.
    Commas inside brackets belong to the name (flowsheet paths: ``fs.r1.x[*,Liq,H2O]=0.1``)."""
    def number(value: str, where: str) -> float:
        try:
            x = float(value)
        except ValueError:
            raise UsageError(f"--prior-rel-sd: {where}{value!r} is not a number") from None
        if not x > 0 or x == float("inf"):
            raise UsageError(f"--prior-rel-sd: {where}must be a finite number > 0, got {value!r}")
        return x

    if "=" not in text:
        return number(text.strip(), "")
    out = {}
    for item in re.split(r",(?![^\[]*\])", text):
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip():
            raise UsageError(f"--prior-rel-sd: expected NAME=SD items separated by commas, got {item!r}")
        out[name.strip()] = number(value.strip(), f"{name.strip()}: ")
    return out


def run_estimate(args: argparse.Namespace) -> int:
    """Run ``idaes-hybrid estimate``; return the exit code (errors are raised).

    A flowsheet config ([flowsheet] table) with a saved flowsheet model goes to
    :func:`idaes_hybrid.cli.flowsheet.estimate`, a ``model = ...`` one to
    :func:`~idaes_hybrid.twin.unit_estimate.estimate_and_forecast` (its one-unit flowsheet)."""
    from idaes_hybrid.config.flowsheet import is_flowsheet_config
    from idaes_hybrid.output.figure_jobs import write_figures
    from idaes_hybrid.output.saved import write_json_atomic
    from idaes_hybrid.twin.common import TwinRequestError

    out = Path(args.out).expanduser().resolve()
    check_out_dir(out, [("input model", args.model_dir), ("config", args.config)])
    rel_sd = parse_rel_sd(args.prior_rel_sd)
    try:
        if is_flowsheet_config(args.config):
            from idaes_hybrid.cli import flowsheet as cli_flowsheet

            est, document, plot, states = cli_flowsheet.estimate(args, rel_sd)
        else:
            est, document, plot, states = _unit_estimate(args, rel_sd)
    except TwinRequestError as err:
        option = _OPTION_OF.get(err.field)
        if option is None:
            raise
        raise UsageError(f"{option}: {str(err).split(': ', 1)[1]}") from None
    log = logging.getLogger(LOGGER_NAME + ".cli")

    def write(staging: Path) -> None:
        write_json_atomic(staging / "estimate.json", document)
        write_figures({"estimate.png": plot}, staging, log)

    written = write_staged(out, write)
    print(f"estimate of {est.experiment!r} at t = {est.t_now:g} from {est.n_observations} "
          f"measurements in [{est.window_start:g}, {est.t_now:g}] ({est.status}, "
          f"{est.iterations} iterations)")
    for line in state_table(states, {f"t = {est.t_now:g}": est.state,
                                     f"t = {est.horizon_end:g} (fc)": est.final_state}):
        print(line)
    print(f"wrote {', '.join(p.name for p in written)} in {out}")
    return 0


def state_table(states: list[str], rows: dict[str, dict[str, float]]) -> list[str]:
    """Lines of the estimate table: one column per state, or, when a state name does not
    fit a column (flowsheet paths), one line per state with the times as columns."""
    if all(len(n) <= 10 for n in states):
        return ["".ljust(16) + "".join(n.rjust(11) for n in states),
                *(label.ljust(16) + "".join(fmt(values[n]).rjust(11) for n in states)
                  for label, values in rows.items())]
    width = max(len(n) for n in states) + 2
    labels = [label.rjust(max(11, len(label) + 2)) for label in rows]
    return ["".ljust(width) + "".join(labels),
            *(n.ljust(width) + "".join(fmt(values[n]).rjust(len(lab))
                                       for lab, values in zip(labels, rows.values()))
              for n in states)]


def _unit_estimate(args: argparse.Namespace, rel_sd: float | dict[str, float]) -> tuple:
    """A ``model = ...`` config's estimate: ``(estimate, document, plot(path), states)``."""
    saved, config, _ = load_saved_with_config(args.model_dir, args.config,
                                              args.accept_edited_model)
    from idaes_hybrid.twin.common import find_experiment
    from idaes_hybrid.twin.estimate import EstimationSettings, PriorMode
    from idaes_hybrid.twin.unit_estimate import estimate_and_forecast

    states = list(saved.definition.initial_states)  # the estimated state (the tank's x1 follows x0)
    check_rel_sd_names(rel_sd, states)
    settings = EstimationSettings(prior=PriorMode(args.prior), prior_rel_sd=rel_sd,
                                  solver_options={**EstimationSettings().solver_options,
                                                  **config.solver},
                                  unit_config=dict(config.training.unit_config))
    experiment = find_experiment(config.experiments, args.experiment)
    check_horizon_end(args.horizon_end, experiment)
    est = estimate_and_forecast(saved, experiment, args.now, args.window, args.horizon_end,
                                settings=settings, tee=args.tee)
    document: dict[str, Any] = {"model": saved.model_name, "model_dir": str(saved.directory),
                                "config": str(config.path), **est.to_dict()}

    def plot(path: Path) -> None:
        from idaes_hybrid.output.plots import variable_units
        from idaes_hybrid.twin.plots import plot_estimate

        plot_estimate(est, experiment, states, path,
                      units=variable_units(saved.definition, saved.network_inputs))

    return est, document, plot, states
