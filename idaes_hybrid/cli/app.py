"""The ``idaes-hybrid`` command line.

``idaes-hybrid train CONFIG.toml --out DIR [--tee] [--quiet]``
    Train the configured hybrid model; write ``DIR/metrics.json``, the saved
    model ``DIR/model/`` and the plots ``DIR/fit.png`` and ``DIR/learned_rate.png``.
``idaes-hybrid predict MODEL_DIR CONFIG.toml --out FILE.csv [--quiet]``
    Simulate every experiment of the config with a saved model; write one CSV
    with columns ``experiment,time,<states>,<learned>``.
``idaes-hybrid optimize MODEL_DIR CONFIG.toml --out DIR [--tee] [--quiet]``
    Optimize the feed profile of the config's ``[optimization]`` table with a saved
    model; write ``DIR/optimization.json`` and ``DIR/feed_profiles.png``
    (see :mod:`idaes_hybrid.cli.optimize`).
``idaes-hybrid loop MODEL_DIR CONFIG.toml --out DIR [--quiet]``
    Closed loop: optimize the feed, run it on the ``[loop]`` table's plant, update the
    model with the batch, repeat; write ``DIR/loop.json``, ``DIR/loop.md``,
    ``DIR/loop.png`` and ``DIR/model/`` (see :mod:`idaes_hybrid.cli.loop`).
``idaes-hybrid update MODEL_DIR CONFIG.toml --out DIR``
    Re-train a saved model with new batches; ``idaes-hybrid estimate MODEL_DIR
    CONFIG.toml --experiment NAME --now T --window W --out DIR``: estimate the
    state of a running batch and forecast it (see :mod:`idaes_hybrid.cli.twin`).
``idaes-hybrid diagnose CONFIG.toml [--formulation F] [--scaled] [--quiet]``
    Build the config's training problem (smoother solved, untrained network fixed)
    and print IDAES's structural report and the numerical checks; exit code 1 if
    the structure has warnings (see :mod:`idaes_hybrid.diagnostics.diagnose`).

Exit codes: 0 success, 1 failed run (solver, training), 2 bad input (the one
line ``error: <field>: <problem>`` on stderr). Nothing in an existing output
directory is replaced before a run has succeeded: results are written to a
temporary directory next to it and moved in at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Iterator, Sequence

from idaes_hybrid.cli.common import (
    LOGGER_NAME, UsageError, add_run_options, add_saved_model_options,
    fmt, load_saved_with_config, write_plots)
from idaes_hybrid.cli.uncertainty import learned_term_band
from idaes_hybrid.cli.size import ProblemSizeError, add_max_weights_option, check_problem_size
from idaes_hybrid.cli.output import (Interrupted, OutputPathError, check_out_dir, check_out_file,
                                     import_tensorflow_if_needed, interrupts_raise, write_staged)

_LOG_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"



def _bad_input_errors() -> tuple[type[BaseException], ...]:
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.output.saved import ModelFileError
    from idaes_hybrid.nn.network import NetworkConfigError
    from idaes_hybrid.optimize.feed import OptimizationRequestError
    from idaes_hybrid.training.experiment import DataError
    from idaes_hybrid.twin.common import TwinRequestError
    from idaes_hybrid.model.contract import ContractError

    from idaes.core.util.exceptions import ConfigurationError

    from idaes_hybrid.cli.flowsheet import FlowsheetModelError
    from idaes_hybrid.model.paths import PathError
    from idaes_hybrid.training.train import TrainingRequestError
    from idaes_hybrid.optimize.flowsheet import UserFunctionError

    return (FlowsheetModelError, UsageError, ProblemSizeError, OutputPathError, ConfigError, DataError, ContractError, NetworkConfigError, ModelFileError,
            OptimizationRequestError, TwinRequestError, PathError, ConfigurationError, TrainingRequestError,
            UserFunctionError)


def _run_failure_errors() -> tuple[type[BaseException], ...]:
    from idaes_hybrid.solve.solver import SolverCrashError, SolverFailedError, SolverNotFoundError
    from idaes_hybrid.training.predict import PredictionError
    from idaes_hybrid.training.train import TrainingError
    from idaes_hybrid.optimize.feed import OptimizationError
    from idaes_hybrid.optimize.flowsheet import FlowsheetOptimizationError
    from idaes_hybrid.twin.estimate import EstimationError

    from idaes.core.util.exceptions import InitializationError

    return (TrainingError, PredictionError, SolverNotFoundError, SolverCrashError,
            SolverFailedError, OptimizationError, FlowsheetOptimizationError, EstimationError,
            InitializationError)


@contextlib.contextmanager
def _logging_to_stderr(quiet: bool) -> Iterator[logging.Logger]:
    """Show idaes_hybrid's messages on stderr with timestamps (warnings only if quiet)."""
    logger = logging.getLogger(LOGGER_NAME)
    saved = (logger.level, logger.propagate, list(logger.handlers))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    logger.handlers = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    from idaes_hybrid.cli.log_filters import warnings_once

    try:
        with warnings_once(logger):
            yield logger
    finally:
        handler.flush()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers = saved[2]


def version_text() -> str:
    """``idaes-hybrid X.Y.Z (idaes-pse ..., pyomo ..., Python ...)`` for ``--version``."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    from idaes_hybrid import __version__

    return (f"idaes-hybrid {__version__} (idaes-pse {installed('idaes-pse')}, pyomo "
            f"{installed('pyomo')}, Python {sys.version.split()[0]})")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idaes-hybrid",
        description="Train hybrid (physics + neural network) dynamic models in IDAES.")
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tr = sub.add_parser("train", help="train a hybrid model from a TOML config",
                        description="Train a hybrid model; write metrics, model and plots.")
    tr.add_argument("config", metavar="CONFIG.toml", help="run configuration")
    add_run_options(tr)
    add_max_weights_option(tr)
    pr = sub.add_parser("predict", help="simulate a config's experiments with a saved model",
                        description="Simulate every experiment of a config with a saved model.")
    add_saved_model_options(pr, "run configuration with experiments", "FILE.csv",
                            "predictions CSV to write", tee=False)
    from idaes_hybrid.cli.optimize import add_parser as add_optimize_parser

    add_optimize_parser(sub)
    from idaes_hybrid.cli.loop import add_parser as add_loop_parser

    add_loop_parser(sub)
    from idaes_hybrid.cli.twin import add_parsers as add_twin_parsers

    add_twin_parsers(sub)
    from idaes_hybrid.cli.diagnose import add_parser as add_diagnose_parser

    add_diagnose_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``idaes-hybrid`` command line.

    Parameters
    ----------
    argv : Sequence[str], optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 if the run failed, 2 on bad input.
    """
    args = _parser().parse_args(argv)
    from idaes_hybrid.solve.threads import one_blas_thread_per_library

    one_blas_thread_per_library()  # before numpy: no BLAS pool spins against MUMPS's
    from idaes_hybrid.solve.garbage import collect_garbage_less_often

    collect_garbage_less_often()  # imports and models: millions of objects not walked 1,000 times
    from idaes_hybrid.cli.lazy_modules import defer_unused_modules

    defer_unused_modules()  # scipy.stats, scipy.spatial, pyplot: Pyomo imports them, few runs use them
    from idaes_hybrid.cli.unit_registry import use_cached_unit_registry

    use_cached_unit_registry()  # before IDAES: pint's parsed definitions read from its cache
    # TensorFlow reads this when it is imported: its C++ start-up lines (a CUDA probe
    # reported as an error on machines without a GPU) stay out of the user's way unless
    # the user set a level (--quiet: always hidden)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3" if args.quiet else os.environ.get(
        "TF_CPP_MIN_LOG_LEVEL", "3")
    # IDAES applies its logging configuration (dictConfig) when first imported, which
    # resets the loggers below "idaes": import it before configuring ours
    import idaes  # noqa: F401
    from idaes_hybrid.solve.memory import keep_freed_memory

    keep_freed_memory()  # solver iterations reuse freed memory instead of faulting it in again
    with _logging_to_stderr(args.quiet):
        try:
            with interrupts_raise():  # SIGTERM (a scheduler, kill) is handled as Ctrl-C
                return _run(args)
        except KeyboardInterrupt as err:
            print("error: interrupted; output left unchanged", file=sys.stderr)
            return 128 + (err.signum if isinstance(err, Interrupted) else 2)


def console_entry() -> None:
    """The ``idaes-hybrid`` executable: :func:`main`, then a quick exit.

    After the command has finished and its output is written, the interpreter's own
    shutdown would free every object of the training models one by one (about 0.8 s after
    a bioreactor training, measured 2026-12-04). Here the exit handlers run (temporary
    files, logging, Dask), the standard streams are flushed, and the process ends at once.
    """
    import atexit

    code = main()
    atexit._run_exitfuncs()  # what a normal exit runs, before the objects are freed
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _run(args: argparse.Namespace) -> int:
    """Run the command; print one ``error:`` line and return 1 or 2 if it fails."""
    bad_input, failure = _bad_input_errors(), _run_failure_errors()
    try:
        return _dispatch(args)
    except bad_input as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except failure as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # an input or output path the checks could not foresee
        where = f"'{err.filename}'" if err.filename else "file"
        print(f"error: {where}: {err.strerror or err}", file=sys.stderr)
        return 2 if isinstance(err, (PermissionError, FileNotFoundError, IsADirectoryError,
                                     NotADirectoryError)) else 1
    except Exception as err:  # noqa: BLE001 - one line, not a traceback; debug shows it
        logging.getLogger(LOGGER_NAME + ".cli").debug("internal error", exc_info=True)
        print(f"error: internal error: {type(err).__name__}: {' '.join(str(err).split())} "
              "(please report it; the log at DEBUG level holds the traceback)", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "train":
        return _train(args)
    if args.command == "diagnose":
        from idaes_hybrid.cli.diagnose import run as _diagnose

        return _diagnose(args)
    if args.command == "optimize":
        from idaes_hybrid.cli.optimize import run as _optimize

        return _optimize(args)
    if args.command == "loop":
        from idaes_hybrid.cli.loop import run as _loop

        return _loop(args)
    if args.command in ("update", "estimate"):
        from idaes_hybrid.cli import twin as cli_twin

        return cli_twin.run_update(args) if args.command == "update" \
            else cli_twin.run_estimate(args)
    return _predict(args)


# ----------------------------------------------------------------------------- train
def _train(args: argparse.Namespace) -> int:
    from idaes_hybrid.config.checks import require_training_experiment
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.config.flowsheet import is_flowsheet_config

    if is_flowsheet_config(args.config):
        from idaes_hybrid.cli import flowsheet as cli_flowsheet
        from idaes_hybrid.config.flowsheet import load_flowsheet_config

        check_out_dir(Path(args.out).expanduser().resolve(), [("config", args.config)])
        fs_config = load_flowsheet_config(args.config)  # bad input before TensorFlow loads
        require_training_experiment(fs_config.experiments)
        disc = fs_config.discretization
        check_problem_size(sum(s.n_parameters for s in fs_config.network_specs().values()),
                           len(fs_config.experiments) * disc.nfe * disc.ncp, args.max_weights,
                           logging.getLogger(LOGGER_NAME + ".cli"))
        import_tensorflow_if_needed(fs_config.training, args.quiet)
        metrics, out, written = cli_flowsheet.train(args, fs_config, write_staged)
        _print_summary(metrics, out, written)
        return 0

    out = Path(args.out).expanduser().resolve()
    check_out_dir(out, [("config", args.config)])
    config = load_run_config(args.config)
    require_training_experiment(config.experiments)
    log = logging.getLogger(LOGGER_NAME + ".cli")
    disc = config.discretization
    check_problem_size(config.network_spec().n_parameters,
                       len(config.training_experiments) * disc.nfe * disc.ncp,
                       args.max_weights, log)
    # Keras pre-training: TensorFlow now, so that an interrupt inside its import is not lost
    import_tensorflow_if_needed(config.training, args.quiet)
    log.info(f"config {config.path}: model {config.model_name!r}, "
             f"{len(config.training_experiments)} training and "
             f"{len(config.validation_experiments)} validation experiments")

    from idaes_hybrid.cli import flowsheet as cli_flowsheet
    from idaes_hybrid.config.unit_translation import as_flowsheet_config
    from idaes_hybrid.output.saved import ModelFileError, save_model, write_json_atomic, write_text_atomic
    from idaes_hybrid.training.train import TrainingError

    # one training path: the model runs as a one-unit flowsheet; its outputs keep their form
    fs_config = as_flowsheet_config(config)
    result = cli_flowsheet.train_result(fs_config, args.tee)
    metrics = result.metrics()
    uncertainty = cli_flowsheet.uncertainty_after_training(fs_config, result)
    if uncertainty is not None:
        metrics["uncertainty"] = uncertainty.summary()
    document = {**metrics, "model": config.model_name, "config": str(config.path),
                "network_inputs": config.network_inputs}

    def write(staging: Path) -> None:
        write_json_atomic(staging / "metrics.json", document)
        try:
            save_model(staging / "model", result, config, metrics,
                       uncertainty.saved() if uncertainty is not None else None)
        except ModelFileError as err:  # not bad input: the trained network is unusable
            raise TrainingError(f"the trained model cannot be saved: {err}") from err
        write_plots(result, config, staging, log, uncertainty.bands if uncertainty is not None else None,
                    learned_term_band(result.spec, uncertainty))
        from idaes_hybrid.output.report import training_report

        plots = sorted(p.name for p in staging.glob("*.png"))
        write_text_atomic(staging / "report.md", training_report(
            document, plots, f"Hybrid {config.model_name} training report"))

    written = write_staged(out, write)
    _print_summary(metrics, out, written)
    return 0


def _print_summary(metrics: dict, out: Path, written: Sequence[Path]) -> None:
    uncertainty = (metrics.get("uncertainty") or {}).get("wall_time_s")
    more = "" if uncertainty is None else \
        f"; uncertainty {'< 0.1' if uncertainty < 0.05 else f'{uncertainty:.1f}'} s more"  # not "0.0 s"
    print(f"status: {metrics['status']} ({_iterations(metrics)}, {metrics['wall_time_s']:.1f} s{more})")
    names = sorted({*metrics["train"]["rmse"], *metrics["validation"]["rmse"]})
    if names:
        print("RMSE".ljust(12) + "".join(n.rjust(11) for n in names))
        for part in ("train", "validation"):
            rmse = metrics[part]["rmse"]
            if rmse:
                print(part.ljust(12) + "".join(fmt(rmse.get(n)).rjust(11) for n in names))
    for name, message in (metrics.get("diagnostics") or {}).get("validation_failures", {}).items():
        print(f"not simulated with the trained model: {name}: {message}")
    print(f"wrote {', '.join(p.name + ('/' if p.is_dir() else '') for p in written)} in {out}")


def _iterations(metrics: dict) -> str:
    """``"24 iterations"``, or with the later solves (noise refit, the prior's choice)
    ``"24 iterations, 93 in all"``."""
    later = sum(int((metrics.get("stages") or {}).get(k, {}).get("iterations") or 0)
                for k in ("noise_refit", "regularization"))
    return f"{metrics['iterations']} iterations" + (f", {metrics['iterations'] + later} in all" if later else "")


# ----------------------------------------------------------------------------- predict
def _predict(args: argparse.Namespace) -> int:
    from idaes_hybrid.output.saved import write_text_atomic

    out = Path(args.out).expanduser().resolve()
    check_out_file(out, [("input model", args.model_dir), ("config", args.config)])
    from idaes_hybrid.config.flowsheet import is_flowsheet_config

    if is_flowsheet_config(args.config):
        from idaes_hybrid.cli import flowsheet as cli_flowsheet

        scores, experiments, rows = cli_flowsheet.predict(args)
        _print_scores(scores, experiments)
        print(f"wrote {rows} rows for {_count(len(experiments), 'experiment')} to {out}")
        return 0
    saved, config, log = load_saved_with_config(args.model_dir, args.config,
                                                args.accept_edited_model)
    from idaes_hybrid.cli import flowsheet as cli_flowsheet
    from idaes_hybrid.config.unit_translation import saved_model_config

    # one simulation path: the saved model as a one-unit flowsheet
    fs_config, specs = saved_model_config(config, saved)
    definition = config.definition
    scores, table = cli_flowsheet.prediction_table(
        fs_config, specs, saved.uncertainty, [*definition.state_names, *definition.learned_names])
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, table.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
    _print_scores(scores, config.experiments)
    print(f"wrote {len(table)} rows for {_count(len(config.experiments), 'experiment')} to {out}")
    return 0


def _print_scores(scores: dict[str, dict[str, float]], experiments) -> None:
    """RMSE table: one row per experiment, one column per measured variable."""
    names = sorted({n for s in scores.values() for n in s})
    print("RMSE".ljust(16) + "".join(n.rjust(11) for n in names))
    for exp in experiments:
        label = f"{exp.name} ({exp.role.value})"
        print(label.ljust(16) + "".join(fmt(scores[exp.name].get(n)).rjust(11) for n in names))


def _count(n: int, noun: str) -> str:
    """``1 experiment``, ``2 experiments``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
