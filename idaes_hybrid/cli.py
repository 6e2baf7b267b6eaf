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
    (see :mod:`idaes_hybrid.cli_optimize`).
``idaes-hybrid update MODEL_DIR CONFIG.toml --out DIR``
    Re-train a saved model with new batches; ``idaes-hybrid estimate MODEL_DIR
    CONFIG.toml --experiment NAME --now T --window W --out DIR``: estimate the
    state of a running batch and forecast it (see :mod:`idaes_hybrid.cli_twin`).
``idaes-hybrid diagnose CONFIG.toml [--formulation F] [--scaled] [--quiet]``
    Build the config's training problem (smoother solved, untrained network fixed)
    and print IDAES's structural report and the numerical checks; exit code 1 if
    the structure has warnings (see :mod:`idaes_hybrid.diagnose`).

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
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

#: Logger whose messages the command line shows (all of idaes_hybrid's loggers).
LOGGER_NAME = "idaes.idaes_hybrid"
_LOG_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"


class UsageError(ValueError):
    """A bad command-line argument; the message starts with the option's name."""


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    from idaes_hybrid.config import ConfigError
    from idaes_hybrid.io import ModelFileError
    from idaes_hybrid.nn.network import NetworkConfigError
    from idaes_hybrid.optimize import OptimizationRequestError
    from idaes_hybrid.training.experiment import DataError
    from idaes_hybrid.twin.common import TwinRequestError
    from idaes_hybrid.units.contract import ContractError

    from idaes.core.util.exceptions import ConfigurationError

    from idaes_hybrid.cli_flowsheet import FlowsheetModelError
    from idaes_hybrid.model.paths import PathError

    return (FlowsheetModelError, UsageError, ConfigError, DataError, ContractError, NetworkConfigError, ModelFileError,
            OptimizationRequestError, TwinRequestError, PathError, ConfigurationError)


def _run_failure_errors() -> tuple[type[BaseException], ...]:
    from idaes_hybrid.solver import SolverCrashError, SolverFailedError, SolverNotFoundError
    from idaes_hybrid.training.predict import PredictionError
    from idaes_hybrid.training.train import TrainingError
    from idaes_hybrid.optimize import OptimizationError
    from idaes_hybrid.twin.estimate import EstimationError

    from idaes.core.util.exceptions import InitializationError

    return (TrainingError, PredictionError, SolverNotFoundError, SolverCrashError,
            SolverFailedError, OptimizationError, EstimationError, InitializationError)


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
    try:
        yield logger
    finally:
        handler.flush()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers = saved[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idaes-hybrid",
        description="Train hybrid (physics + neural network) dynamic models in IDAES.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tr = sub.add_parser("train", help="train a hybrid model from a TOML config",
                        description="Train a hybrid model; write metrics, model and plots.")
    tr.add_argument("config", metavar="CONFIG.toml", help="run configuration")
    tr.add_argument("--out", required=True, metavar="DIR", help="output directory")
    tr.add_argument("--tee", action="store_true", help="stream solver output to stdout")
    tr.add_argument("--quiet", action="store_true", help="show warnings and errors only")
    pr = sub.add_parser("predict", help="simulate a config's experiments with a saved model",
                        description="Simulate every experiment of a config with a saved model.")
    pr.add_argument("model_dir", metavar="MODEL_DIR", help="saved model directory (DIR/model)")
    pr.add_argument("config", metavar="CONFIG.toml", help="run configuration with experiments")
    pr.add_argument("--out", required=True, metavar="FILE.csv", help="predictions CSV to write")
    pr.add_argument("--quiet", action="store_true", help="show warnings and errors only")
    from idaes_hybrid.cli_optimize import add_parser as add_optimize_parser

    add_optimize_parser(sub)
    from idaes_hybrid.cli_twin import add_parsers as add_twin_parsers

    add_twin_parsers(sub)
    from idaes_hybrid.diagnose import add_parser as add_diagnose_parser

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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    bad_input, failure = _bad_input_errors(), _run_failure_errors()
    with _logging_to_stderr(args.quiet):
        try:
            if args.command == "train":
                return _train(args)
            if args.command == "diagnose":
                from idaes_hybrid.diagnose import run as _diagnose

                return _diagnose(args)
            if args.command == "optimize":
                from idaes_hybrid.cli_optimize import run as _optimize

                return _optimize(args)
            if args.command in ("update", "estimate"):
                from idaes_hybrid import cli_twin

                return cli_twin.run_update(args) if args.command == "update" \
                    else cli_twin.run_estimate(args)
            return _predict(args)
        except bad_input as err:
            print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
        except failure as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("error: interrupted; output left unchanged", file=sys.stderr)
            return 130


# ----------------------------------------------------------------------------- train
def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: '{out}' exists and is not a directory")
    parent = next((p for p in [out, *out.parents] if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out: cannot create or write to '{out}' ('{parent}' is not writable)")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _move_into(staging: Path, out: Path) -> list[Path]:
    """Move every entry of ``staging`` into ``out`` (replacing same-named entries)."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out)
        return sorted(out.iterdir())
    moved = []
    for src in sorted(staging.iterdir()):
        dest = out / src.name
        if dest.is_dir() and not dest.is_symlink():
            old = staging / f".old-{src.name}"
            os.replace(dest, old)
            os.replace(src, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dest)
        moved.append(dest)
    return moved


def write_staged(out: Path, write) -> list[Path]:
    """Run ``write(dir)`` on a private temporary sibling of ``out``, then move its
    entries into ``out``; nothing in ``out`` changes unless ``write`` succeeds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; it may become --out
        write(staging)
        return _move_into(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_saved_with_config(model_dir: str, config_path: str):
    """A saved model and a run config that must name the same model.

    Returns ``(saved, config, log)``; differing network inputs or physics are
    logged, and the saved model's values win.
    """
    from idaes_hybrid.config import ConfigError, load_run_config
    from idaes_hybrid.io import load_model

    saved = load_model(model_dir)
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


def _train(args: argparse.Namespace) -> int:
    from idaes_hybrid.config import load_run_config
    from idaes_hybrid.flowsheet_config import is_flowsheet_config

    if is_flowsheet_config(args.config):
        from idaes_hybrid import cli_flowsheet

        metrics, out, written = cli_flowsheet.train(args, _check_out_dir, write_staged)
        _print_summary(metrics, out, written)
        return 0

    out = Path(args.out).expanduser().resolve()
    _check_out_dir(out)
    config = load_run_config(args.config)
    log = logging.getLogger(LOGGER_NAME + ".cli")
    log.info(f"config {config.path}: model {config.model_name!r}, "
             f"{len(config.training_experiments)} training and "
             f"{len(config.validation_experiments)} validation experiments")

    from idaes_hybrid.io import ModelFileError, save_model, write_json_atomic, write_text_atomic
    from idaes_hybrid.training.train import TrainingError, train

    result = train(config.definition, config.experiments, config.network_spec(),
                   config.discretization, config.physics, config.network_inputs,
                   config.training, tee=args.tee)
    metrics = result.metrics()
    document = {**metrics, "model": config.model_name, "config": str(config.path),
                "network_inputs": config.network_inputs}

    def write(staging: Path) -> None:
        write_json_atomic(staging / "metrics.json", document)
        try:
            save_model(staging / "model", result, config, metrics)
        except ModelFileError as err:  # not bad input: the trained network is unusable
            raise TrainingError(f"the trained model cannot be saved: {err}") from err
        _write_plots(result, config, staging, log)
        from idaes_hybrid.report import training_report

        plots = sorted(p.name for p in staging.glob("*.png"))
        write_text_atomic(staging / "report.md", training_report(
            document, plots, f"Hybrid {config.model_name} training report"))

    written = write_staged(out, write)
    _print_summary(metrics, out, written)
    return 0


def _write_plots(result, config, directory: Path, log: logging.Logger) -> None:
    """Write the plots; a plotting problem is a warning, not a failed run."""
    from idaes_hybrid.plots import plot_fit, plot_learned_rate, variable_units

    units = variable_units(config.definition, config.network_inputs)
    jobs = {
        "fit.png": lambda p: plot_fit(result, config.experiments, config.definition, p, units=units),
        "learned_rate.png": lambda p: plot_learned_rate(
            result.spec, result, config.definition, config.network_inputs, p,
            reference=(config.definition.reference(config.reference)
                       if config.reference is not None else None),
            experiments=config.experiments, units=units),
    }
    for name, job in jobs.items():
        try:
            job(directory / name)
        except Exception as err:  # noqa: BLE001 - keep the trained model whatever happens
            log.warning(f"plot {name} not written: {type(err).__name__}: {err}")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _print_summary(metrics: dict, out: Path, written: Sequence[Path]) -> None:
    print(f"status: {metrics['status']} ({metrics['iterations']} iterations, "
          f"{metrics['wall_time_s']:.1f} s)")
    names = sorted({*metrics["train"]["rmse"], *metrics["validation"]["rmse"]})
    if names:
        print("RMSE".ljust(12) + "".join(n.rjust(11) for n in names))
        for part in ("train", "validation"):
            rmse = metrics[part]["rmse"]
            if rmse:
                print(part.ljust(12) + "".join(_fmt(rmse.get(n)).rjust(11) for n in names))
    print(f"wrote {', '.join(p.name + ('/' if p.is_dir() else '') for p in written)} in {out}")


# ----------------------------------------------------------------------------- predict
def _predict(args: argparse.Namespace) -> int:
    from idaes_hybrid.io import write_text_atomic

    out = Path(args.out).expanduser().resolve()
    if out.is_dir():
        raise UsageError(f"--out: '{out}' is a directory; give a CSV file name")
    from idaes_hybrid.flowsheet_config import is_flowsheet_config

    if is_flowsheet_config(args.config):
        from idaes_hybrid import cli_flowsheet

        scores, experiments, rows = cli_flowsheet.predict(args)
        _print_scores(scores, experiments)
        print(f"wrote {rows} rows for {len(experiments)} experiments to {out}")
        return 0
    saved, config, log = load_saved_with_config(args.model_dir, args.config)

    import pandas as pd

    from idaes_hybrid.training.predict import rmse, simulate

    definition = config.definition
    columns = ["experiment", "time", *definition.state_names, *definition.learned_names]
    frames, scores = [], {}
    for exp in config.experiments:
        log.info(f"predict: simulating experiment {exp.name!r}")
        traj = simulate(definition, exp, saved.spec, config.discretization, saved.physics,
                        saved.network_inputs, config.training.solver_options,
                        unit_config=config.training.unit_config,
                        user_scaling=config.training.user_scaling)
        model = traj.pop("_model")
        scores[exp.name] = rmse(model.experiment[exp.name], exp)
        frame = pd.DataFrame({k: traj[k] for k in columns[1:]})
        frame.insert(0, "experiment", exp.name)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)[columns]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, table.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
    _print_scores(scores, config.experiments)
    print(f"wrote {len(table)} rows for {len(frames)} experiments to {out}")
    return 0


def _print_scores(scores: dict[str, dict[str, float]], experiments) -> None:
    """RMSE table: one row per experiment, one column per measured variable."""
    names = sorted({n for s in scores.values() for n in s})
    print("RMSE".ljust(16) + "".join(n.rjust(11) for n in names))
    for exp in experiments:
        label = f"{exp.name} ({exp.role.value})"
        print(label.ljust(16) + "".join(_fmt(scores[exp.name].get(n)).rjust(11) for n in names))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
