"""Helpers the command-line modules share: the usage error, options and loading of saved
models, plots of a training run, number formatting. (The command-line layer; nothing
below it imports this module.)"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

#: Logger whose messages the command line shows (all of idaes_hybrid's loggers).
LOGGER_NAME = "idaes.idaes_hybrid"


class UsageError(ValueError):
    """A bad command-line argument; the message starts with the option's name."""


def add_saved_model_arguments(parser: argparse.ArgumentParser, config_help: str) -> None:
    """Add the ``MODEL_DIR CONFIG.toml`` positionals of a command on a saved model."""
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="saved model directory (DIR/model)")
    parser.add_argument("config", metavar="CONFIG.toml", help=config_help)


def add_run_options(parser: argparse.ArgumentParser, out_metavar: str = "DIR",
                    out_help: str = "output directory", tee: bool = True) -> None:
    """Add ``--out`` (required), ``--tee`` (with ``tee``) and ``--quiet``."""
    parser.add_argument("--out", required=True, metavar=out_metavar, help=out_help)
    if tee:
        parser.add_argument("--tee", action="store_true", help="stream solver output to stdout")
    parser.add_argument("--quiet", action="store_true", help="show warnings and errors only")


def add_saved_model_options(parser: argparse.ArgumentParser, config_help: str,
                            out_metavar: str = "DIR", out_help: str = "output directory",
                            tee: bool = True) -> None:
    """What every command on a saved model takes: ``MODEL_DIR CONFIG.toml``, ``--out``,
    (``--tee``), ``--quiet`` and ``--accept-edited-model``."""
    add_saved_model_arguments(parser, config_help)
    add_run_options(parser, out_metavar, out_help, tee)
    add_accept_edited_option(parser)


def add_accept_edited_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--accept-edited-model`` to a command that reads a saved model."""
    parser.add_argument("--accept-edited-model", action="store_true",
                        help="use a saved model whose contents do not match their checksum "
                             "(edited after saving) instead of refusing it")


def open_saved_run(args) -> tuple:
    """What a command on a saved unit model starts with: ``--out`` resolved and checked
    (never the input model or config), the model and its config loaded.

    Returns ``(out, saved, config, log)`` (see :func:`load_saved_with_config`).
    """
    from idaes_hybrid.cli.output import check_out_dir

    out = Path(args.out).expanduser().resolve()
    check_out_dir(out, [("input model", args.model_dir), ("config", args.config)])
    return (out, *load_saved_with_config(args.model_dir, args.config, args.accept_edited_model))


def load_saved_with_config(model_dir: str, config_path: str, accept_edited: bool = False):
    """A saved model and a run config that must name the same model.

    Parameters
    ----------
    model_dir : str
        The saved-model directory.
    config_path : str
        The run configuration.
    accept_edited : bool
        Use a model file whose contents do not match their checksum.

    Returns
    -------
    tuple
        ``(saved, config, log)``; differing network inputs or physics are logged,
        and the saved model's values win.
    """
    from idaes_hybrid.config.run import ConfigError, load_run_config
    from idaes_hybrid.output.saved import load_model

    saved = load_model(model_dir, accept_edited=accept_edited)
    config = load_run_config(config_path)
    if config.model_name != saved.model_name:
        raise ConfigError(f"model: the config names {config.model_name!r} but the saved model "
                          f"in '{saved.directory}' is {saved.model_name!r}")
    log = logging.getLogger(LOGGER_NAME + ".cli")
    if list(config.network_inputs) != saved.network_inputs:
        log.warning(f"network.inputs {config.network_inputs} of the config differ from the "
                    f"saved model's {saved.network_inputs}; using the saved model's")
    changed = sorted(k for k in saved.physics if config.physics.get(k) != saved.physics[k])
    if changed:
        log.warning(f"physics {changed} of the config differ from the saved model's; "
                    "using the saved model's")
    return saved, config, log


def check_rel_sd_names(rel_sd: float | dict[str, float], states: list[str],
                       aliases: dict[str, str] | None = None) -> None:
    """:class:`UsageError` naming ``--prior-rel-sd`` if it names a variable not in ``states``.
    ``aliases`` (a flowsheet's ``{name: path}``): a name whose path is a state is pointed to it."""
    if isinstance(rel_sd, dict):
        unknown = [n for n in rel_sd if n not in states]
        if unknown:
            path = (aliases or {}).get(unknown[0])
            hint = (f"; {unknown[0]!r} is {path!r}, which the batch's initial table names by "
                    "its path: give it as written there" if path in states else "")
            raise UsageError(f"--prior-rel-sd: {unknown[0]!r} is not a state{hint}; valid names: "
                             f"{states}")


def check_horizon_end(horizon_end: float | None, experiment) -> None:
    """:class:`UsageError` naming ``--horizon-end`` if it is past the batch's horizon."""
    if horizon_end is not None and horizon_end > experiment.horizon:
        raise UsageError(f"--horizon-end: {horizon_end:g} is past the end of batch "
                         f"{experiment.name!r} (horizon {experiment.horizon:g}); the model "
                         "knows nothing of the batch after it ends, so give at most "
                         f"{experiment.horizon:g}")


def write_plots(result, config, directory: Path, log: logging.Logger, bands=None,
                term_band=None) -> None:
    """Write the training plots; a plotting problem is a warning, not a failed run.

    Parameters
    ----------
    result : TrainingResult
        The training result to draw.
    config : RunConfig
        The run configuration (model, experiments, reference).
    directory : pathlib.Path
        Where ``fit.png`` and ``learned_rate.png`` go.
    log : logging.Logger
        Gets a warning for a plot that could not be written.
    bands : dict, optional
        Prediction bands by experiment name, shaded in ``fit.png``.
    term_band : callable, optional
        The learned term's band (``TermBand``), drawn in ``learned_rate.png``.
    """
    from idaes_hybrid.output.figure_jobs import write_figures
    from idaes_hybrid.output.plots import plot_fit, plot_learned_rate, variable_units

    units = variable_units(config.definition, config.network_inputs)
    jobs = {
        "fit.png": lambda p: plot_fit(result, config.experiments, config.definition, p, units=units,
                                      bands=bands),
        "learned_rate.png": lambda p: plot_learned_rate(
            result.spec, result, config.definition, config.network_inputs, p,
            reference=(config.definition.reference(config.reference)
                       if config.reference is not None else None),
            experiments=config.experiments, units=units, band=term_band),
    }
    write_figures(jobs, directory, log)


def fmt(value: float | None) -> str:
    """A number in 4 significant digits, ``-`` for None or NaN (not available)."""
    return "-" if value is None or value != value else f"{value:.4g}"


def warn_uncertainty_not_updated(uncertainty, log: logging.Logger) -> None:
    """An update re-trains the networks only: a config's ``[uncertainty]`` is not applied,
    and the updated model carries no bands (warned, so that a user who relies on them knows)."""
    if uncertainty is not None:
        log.warning("uncertainty: an update does not compute prediction bands; the updated model "
                    "has none (train on all batches with [uncertainty] to get them)")
