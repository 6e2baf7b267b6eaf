"""``idaes-hybrid train``, ``predict``, ``optimize``, ``update`` and ``estimate`` for
flowsheet configurations ([flowsheet] table)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from idaes_hybrid.cli.common import LOGGER_NAME, warn_uncertainty_not_updated


class FlowsheetModelError(ValueError):
    """A saved flowsheet model cannot be read; the message names the file and field."""


def train(args: argparse.Namespace, config, write_staged) -> tuple[dict, Path, list[Path]]:
    """Train the learned terms of ``config`` (a checked
    :class:`~idaes_hybrid.config.flowsheet.FlowsheetRunConfig`; ``--out`` checked by the
    caller); write metrics, model, plots and report.

    Returns the metrics, the output directory and the paths written (the CLI prints them)."""
    from idaes_hybrid.cli.uncertainty import learned_term_band
    from idaes_hybrid.output.flowsheet import write_outputs

    out = Path(args.out).expanduser().resolve()
    log = logging.getLogger(LOGGER_NAME + ".cli")
    log.info(f"config {config.path}: flowsheet {config.build_ref}, {len(config.experiments)} experiments")
    result = train_result(config, args.tee)
    metrics = result.metrics()
    document = {**metrics, "flowsheet": config.build_ref, "config": str(config.path),
                "networks": {term: {"sizes": list(spec.sizes),
                                    "activations": [a.value for a in spec.activations],
                                    "n_parameters": spec.n_parameters}
                             for term, spec in result.specs.items()}}
    uncertainty = uncertainty_after_training(config, result)
    if uncertainty is not None:
        document["uncertainty"] = metrics["uncertainty"] = uncertainty.summary()
    first = next(iter(result.specs))
    band = learned_term_band(result.specs[first], uncertainty)
    written = write_staged(out, lambda staging: write_outputs(
        staging, result, document, config.path, config.build_ref, config.experiments, log,
        uncertainty, {first: band} if band is not None else None))
    return metrics, out, written


def train_result(config, tee: bool = False):
    """Train the learned terms of ``config`` from fresh networks: the
    :class:`~idaes_hybrid.training.train.TrainingResult`."""
    from idaes_hybrid.training.flowsheet_train import train_flowsheet

    disc = config.discretization
    return train_flowsheet(config.flowsheet, config.experiments, config.network_specs(), disc.nfe,
                           disc.ncp, config.training, tee=tee, keep_values=config.uncertainty is not None)


def _simulator(config):
    """The flowsheet path's simulator of one experiment with one network (ensembles)."""
    from idaes_hybrid.uncertainty.ensemble import flowsheet_simulator

    disc = config.discretization
    return flowsheet_simulator(config.flowsheet, disc.nfe, disc.ncp, config.training.solver_options)


def _spec_factory(config):
    """The flowsheet path's inner-problem spec factory (one learned term)."""
    import functools

    from idaes_hybrid.decomposition.flowsheet_inner import FlowsheetInnerSpec

    disc = config.discretization
    return functools.partial(FlowsheetInnerSpec, hf=config.flowsheet, nfe=disc.nfe, ncp=disc.ncp)


def uncertainty_after_training(config, result):
    """Laplace covariance or ensemble members, and validation bands, when the config has
    ``[uncertainty]``."""
    if config.uncertainty is None:
        return None
    from idaes_hybrid.cli.uncertainty import ensemble_bands_after_training, is_ensemble, validation_bands

    if is_ensemble(config.uncertainty):
        from idaes_hybrid.uncertainty.ensemble import flowsheet_member_trainer

        disc = config.discretization
        alpha = result.regularization["alpha"]
        train_member = flowsheet_member_trainer(config.flowsheet, result.spec, disc.nfe, disc.ncp,
                                                config.training, alpha, result.solved_values)
        return ensemble_bands_after_training(train_member, _simulator(config), config.experiments,
                                             result.spec, config, result.noise, _spec_factory(config), alpha,
                                             starts=result.solved_values, hessian=result.data_hessian)

    return validation_bands(_spec_factory(config), config.experiments, result.spec,
                            result.regularization["alpha"], config.uncertainty.level,
                            logging.getLogger(LOGGER_NAME + ".cli"), result.noise,
                            starts=result.solved_values, hessian=result.data_hessian)


def load_flowsheet_model(model_dir: str | Path, accept_edited: bool = False) -> dict:
    """The trained networks of ``model_dir/flowsheet_model.json``, by term name.

    The file's checksum is verified (``accept_edited``: a mismatch only warns), and
    non-finite numbers and files of a newer idaes-hybrid are refused.
    """
    from idaes_hybrid.output.flowsheet import FORMAT, FORMAT_V1
    from idaes_hybrid.output.saved import ModelFileError, check_writer_version, first_non_finite, verify_checksum
    from idaes_hybrid.nn.network import NetworkSpec

    base = Path(model_dir).expanduser().resolve()
    path = base / "flowsheet_model.json"
    if not path.is_file():
        hint = (" (a run folder: add /model)" if (base / "model" / "flowsheet_model.json").is_file()
                else " (it holds a unit model, 'model.json', saved from a config with 'model = ...'; "
                     "a flowsheet config needs a model trained from a flowsheet config)"
                if (base / "model.json").is_file() else " (train a flowsheet config first)")
        raise FlowsheetModelError(f"model_dir: '{path}' not found{hint}")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FlowsheetModelError(f"model_dir: '{path}' is not readable JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") not in (FORMAT, FORMAT_V1):
        found = doc.get("format") if isinstance(doc, dict) else None
        raise FlowsheetModelError(f"{path}: format {found!r} is not {FORMAT!r}")
    bad = first_non_finite(doc, "")
    if bad:
        raise FlowsheetModelError(f"{bad}: not a finite number (NaN or infinite) in '{path}'")
    try:
        check_writer_version(doc, str(path))
        verify_checksum(doc, str(path), accept_edited)
    except ModelFileError as err:
        raise FlowsheetModelError(str(err)) from None
    networks = ({str(doc.get("term", "kinetics")): doc.get("network")} if doc["format"] == FORMAT_V1
                else doc.get("networks"))
    if not isinstance(networks, dict) or not networks:
        raise FlowsheetModelError(f"{path}: networks: expected a table of trained networks by term")
    specs = {}
    for term, d in networks.items():
        try:
            specs[term] = NetworkSpec.from_dict(d)
        except (KeyError, TypeError, ValueError) as err:
            raise FlowsheetModelError(f"{path}: networks.{term}: {err}") from None
    return specs


def predict(args: argparse.Namespace) -> tuple[dict[str, dict[str, float]], list, int]:
    """Simulate every experiment of a flowsheet config with a saved network; write a CSV.

    Returns the RMSE per experiment, the experiments and the number of rows written."""
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.output.saved import write_text_atomic

    out = Path(args.out).expanduser().resolve()
    config = load_flowsheet_config(args.config)
    specs = checked_specs(args.model_dir, config, getattr(args, "accept_edited_model", False))
    scores, table = prediction_table(config, specs, saved_uncertainty(args.model_dir),
                                     list(config.flowsheet.variables))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, table.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
    return scores, config.experiments, len(table)


def prediction_table(config, specs: dict, saved: dict | None, names: list[str]):
    """Simulate every experiment of ``config`` with the networks ``specs``: the RMSE per
    experiment and one table (``experiment``, ``time``, ``names``; with ``saved``
    uncertainty, ``<name>_lower`` and ``<name>_upper`` after each)."""
    import pandas as pd

    from idaes_hybrid.training.flowsheet_problem import flowsheet_rmse, simulate_flowsheet

    frames, scores = [], {}
    disc = config.discretization
    for exp in config.experiments:
        logging.getLogger(LOGGER_NAME + ".cli").info(f"predict: simulating experiment {exp.name!r}")
        sim = simulate_flowsheet(config.flowsheet, exp, specs, disc.nfe, disc.ncp, names,
                                 config.training.solver_options)
        scores[exp.name] = flowsheet_rmse(sim.model.experiment[exp.name], config.flowsheet, exp)
        frame = pd.DataFrame(sim.trajectories())
        if saved is not None:  # an input is given, not predicted: no band
            frame = _with_bands(frame, config, exp, specs, saved, [n for n in names if n not in exp.inputs], sim)
        for column, values in term_columns(config.flowsheet, sim.model.experiment[exp.name],
                                           frame["time"].to_numpy()).items():
            if column not in frame:
                frame[column] = values
        frame.insert(0, "experiment", exp.name)
        frames.append(frame)
    return scores, pd.concat(frames, ignore_index=True)


def term_columns(hf, blk, times) -> dict[str, Any]:
    """The learned terms' outputs at ``times`` for the prediction table, where a term applies
    in time alone (one series on the same grid, e.g. a CSTR's rates; a PFR's, one series per
    length point, are left out): one column per output, named by its component and non-time
    index (``k_rxn[R1]``; the term's name in front if two terms share it)."""
    import numpy as np
    import pyomo.environ as pyo

    from idaes_hybrid.model.terms import variable_label

    out: dict[str, Any] = {}
    for term, series in hf.series(blk).items():
        if len(series) != 1 or len(series[0].index) != len(times) \
                or not np.allclose(series[0].times(), times):
            continue
        s = series[0]
        for k, first in enumerate(s.outputs[0]):
            label = variable_label(first).split(" (")[0]
            out[label if label not in out else f"{term}.{label}"] = np.array([pyo.value(z[k]) for z in s.outputs])
    return out


def saved_uncertainty(model_dir) -> dict | None:
    """The ``uncertainty`` entry of a saved flowsheet model (covariance of the weights,
    band level), or ``None`` (trained without ``[uncertainty]``, or an older file)."""
    path = Path(model_dir).expanduser().resolve() / "flowsheet_model.json"
    saved = json.loads(path.read_text()).get("uncertainty")  # read and checked by load_flowsheet_model
    if not isinstance(saved, dict):
        return None
    return saved if "covariance" in saved or saved.get("method") == "ensemble" else None


def _with_bands(frame, config, exp, specs: dict, saved: dict, names: list[str], sim):
    """``frame`` with ``<var>_lower`` and ``<var>_upper`` after each predicted column
    (``sim``: the experiment simulated with the saved network)."""
    from idaes_hybrid.cli.uncertainty import is_ensemble, saved_bands, saved_ensemble_bands, with_band_columns
    from idaes_hybrid.output.saved import ModelFileError

    spec = next(iter(specs.values()))
    try:
        if is_ensemble(saved):
            bands = saved_ensemble_bands(_simulator(config), exp, sim, spec, saved, names, _spec_factory(config))
        else:
            bands = saved_bands(_spec_factory(config), exp, spec, saved, names, sim)
    except ModelFileError as err:
        raise FlowsheetModelError(str(err)) from None
    return with_band_columns(frame, bands)


def optimize(args: argparse.Namespace, check_out_dir, write_staged) -> tuple[dict, Path, list[Path]]:
    """Optimize the ``[optimization]`` controls with a saved flowsheet model; with
    ``true_build``, also on the true flowsheet, and the hybrid optimum evaluated there.

    Returns the result document, the output directory and the paths written."""
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.output.flowsheet import write_optimization

    out = Path(args.out).expanduser().resolve()
    check_out_dir(out, [("input model", args.model_dir), ("config", args.config)])
    config = load_flowsheet_config(args.config)
    specs = checked_specs(args.model_dir, config, getattr(args, "accept_edited_model", False))
    opt = config.optimization()
    if opt is None:
        raise ConfigError(f"optimization: the config '{config.path}' has no [optimization] table")
    log = logging.getLogger(LOGGER_NAME + ".cli")
    log.info(f"optimize: {', '.join(c.name for c in opt.controls)} in {opt.segments} segments "
             f"over {opt.scenario.horizon:g}")
    boxes = saved_input_boxes(args.model_dir, opt.trust_margin, opt.trust_region) if opt.trust_region else None
    members = saved_members(args.model_dir, config) if opt.ensemble is not None else None
    document = optimization_document(config, opt, specs, config.training.solver_options, boxes, members,
                                     saved_regions(args.model_dir))
    from idaes_hybrid.model.trust_region import extrapolation_warning

    for term, share in (document.get("extrapolation") or {}).items():
        warning = extrapolation_warning(share, f"the inputs of {term!r}")
        if warning:
            log.warning(warning)
    written = write_staged(out, lambda staging: write_optimization(staging, document, log))
    return document, out, written


def saved_regions(model_dir) -> dict:
    """Each term's region of training inputs from ``model_dir/flowsheet_model.json`` (its
    ``input_boxes``, as saved; empty if the model records none)."""
    from idaes_hybrid.model.trust_region import InputBox, InputBoxError

    path = Path(model_dir).expanduser().resolve() / "flowsheet_model.json"
    boxes = json.loads(path.read_text()).get("input_boxes")
    if not isinstance(boxes, dict):
        return {}
    try:
        return {term: InputBox.from_dict(b) for term, b in boxes.items()}
    except InputBoxError as err:
        raise FlowsheetModelError(f"{path}: {err}") from None


def saved_input_boxes(model_dir, margin: float, shape=None) -> dict:
    """Each term's trust region from ``model_dir/flowsheet_model.json`` (its ``input_boxes``
    as box, or in ``shape`` (:class:`TrustShape`: box, ellipsoid or hull), widened by ``margin``);
    :class:`ConfigError` if the model records none."""
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.model.trust_region import TrustShape, trust_region

    regions = saved_regions(model_dir)
    if not regions:
        raise ConfigError("optimization.trust_region: the saved model records no input region "
                          "(trained before this option existed); train it again or set "
                          "trust_region = false")
    return {term: trust_region(box, shape or TrustShape.BOX, margin) for term, box in regions.items()}


def extrapolation(model, regions: dict) -> dict | None:
    """Per term, the share of the solved ``model``'s network points whose inputs lie outside
    the training box and hull (``extrapolation_share``); ``None`` without regions."""
    import numpy as np
    import pyomo.environ as pyo

    from idaes_hybrid.model.trust_region import extrapolation_share

    nets = getattr(model, "networks", None)
    out = {}
    for term, region in (regions or {}).items():
        block = getattr(nets, term, None) if nets is not None else None
        if block is not None:
            points = np.array([[pyo.value(v) for v in vin] for vin, _ in block.point_io()], dtype=float)
            out[term] = extrapolation_share(region, points)
    return out or None


def saved_members(model_dir, config) -> list[dict]:
    """The saved ensemble's member networks, each as ``{term: NetworkSpec}``; ConfigError if
    the model has none."""
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.uncertainty.ensemble import EnsembleMembers

    saved = saved_uncertainty(model_dir)
    if saved is None or saved.get("method") != "ensemble":
        raise ConfigError("optimization.ensemble: the saved model has no ensemble members; train it "
                          "with [uncertainty] method = \"ensemble\" or leave ensemble out")
    try:
        specs = EnsembleMembers.from_dict(saved).specs
    except ValueError as err:
        raise FlowsheetModelError(f"{Path(model_dir) / 'flowsheet_model.json'}: {err}") from None
    term = config.flowsheet.terms[0].name
    return [{term: spec} for spec in specs]


def optimization_document(config, opt, specs: dict, options: dict, boxes: dict | None = None,
                          members: list[dict] | None = None, regions: dict | None = None) -> dict:
    """Solve the optimization (and its true-flowsheet checks); the JSON-ready result.
    ``boxes``: trust region per term (``saved_input_boxes``), for the hybrid optimum;
    ``members``: the ensemble's networks (``saved_members``) when ``opt.ensemble`` is set;
    ``regions``: the saved training regions (``saved_regions``), for the ``extrapolation``
    of the nominal optimum."""
    from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
    from idaes_hybrid.optimize.flowsheet import add_user_constraints, constraint_violations, optimize_flowsheet
    from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

    import pyomo.environ as pyo

    def solve(hf, spec, trust=None):
        return optimize_flowsheet(hf, opt.scenario, spec, opt.controls, opt.objective,
                                  opt.constraints, opt.segments, opt.nfe, opt.ncp, options, trust)

    if members is not None:
        from idaes_hybrid.optimize.flowsheet_ensemble import optimize_flowsheet_ensemble

        hybrid = optimize_flowsheet_ensemble(
            config.flowsheet, opt.scenario, members, opt.controls, opt.objective, opt.constraints,
            opt.segments, opt.nfe, opt.ncp, options, opt.ensemble, boxes)
    else:
        hybrid = solve(config.flowsheet, specs, boxes)
    doc = {"status": hybrid.status, "objective": hybrid.objective, "iterations": hybrid.iterations,
           "wall_time_s": hybrid.wall_time_s, "segment_times": hybrid.segment_times,
           "profiles": hybrid.profiles, "functions": opt.refs,
           "trust_region": {t: b.to_dict() for t, b in boxes.items()} if boxes else None,
           "ensemble": {"mode": hybrid.mode.value, "members": len(hybrid.member_objectives),
                        "member_objectives": hybrid.member_objectives} if members is not None else None,
           "extrapolation": extrapolation(hybrid.model, regions) if members is None else None}
    if opt.true_build is not None:
        truth_hf = HybridFlowsheet(opt.true_build, [], config.flowsheet.variables, config.flowsheet.time_units)
        truth = solve(truth_hf, None)
        sc = opt.scenario
        run = FlowsheetExperiment(sc.name, sc.horizon, sc.measurements, initial=sc.initial,
                                  inputs={**sc.inputs, **hybrid.inputs()})
        sim = simulate_flowsheet(truth_hf, run, None, opt.nfe, opt.ncp, (), options)
        blk = sim.model.experiment[run.name]
        achieved = float(pyo.value(opt.objective(blk)))
        add_user_constraints(sim.model, opt.constraints(blk) if opt.constraints else {})
        doc["true_flowsheet"] = {"constraint_violations": constraint_violations(sim.model),
            "optimum": truth.objective, "profiles": truth.profiles,
            "objective_of_hybrid_profiles": achieved,
            "gap_percent": 100.0 * (achieved - truth.objective) / abs(truth.objective)
            if truth.objective else None}
    return doc


def warn_other_build(model_dir, config) -> None:
    """Warn when ``config`` builds another flowsheet than the one the saved model was trained
    on: another build function, or a build module whose file differs from the one beside the
    training config (a moved project, whose old file is gone, is not warned about)."""
    from idaes_hybrid.model.user_module import absolute_reference

    try:
        doc = json.loads((Path(model_dir).expanduser().resolve() / "flowsheet_model.json").read_text())
        saved = absolute_reference(str(doc["build"]), Path(str(doc["config"])).parent)
    except (OSError, ValueError, KeyError, TypeError):
        return
    if config.path is None:
        return
    used = absolute_reference(config.build_ref, config.path.parent)
    (saved_file, saved_fn), (used_file, used_fn) = saved.rsplit(":", 1), used.rsplit(":", 1)
    try:
        other_file = saved_file != used_file and \
            Path(saved_file).read_bytes() != Path(used_file).read_bytes()
    except OSError:
        other_file = False
    if saved_fn != used_fn or other_file:
        logging.getLogger(LOGGER_NAME + ".cli").warning(
            f"flowsheet.build: the config builds '{used}', but the saved model was trained on "
            f"'{saved}'{' (a different file)' if other_file else ''}; the saved networks are "
            "used in this flowsheet as they are: check that the config belongs to the model")


def checked_specs(model_dir, config, accept_edited: bool = False) -> dict:
    """The saved networks, checked against the config's terms and their shapes (a config
    building another flowsheet than the training's is warned about: :func:`warn_other_build`)."""
    specs = load_flowsheet_model(model_dir, accept_edited)
    warn_other_build(model_dir, config)
    terms = [t.name for t in config.flowsheet.terms]
    if sorted(terms) != sorted(specs):
        raise FlowsheetModelError(f"flowsheet.terms: the config's terms {terms} are not the saved "
                                  f"model's {sorted(specs)}")
    for term, (n_in, n_out) in config.flowsheet.network_shapes().items():
        if (specs[term].n_inputs, specs[term].n_outputs) != (n_in, n_out):
            raise FlowsheetModelError(
                f"flowsheet.terms.{term}: the term has {n_in} inputs and {n_out} outputs, the saved "
                f"network {specs[term].n_inputs} and {specs[term].n_outputs}")
    return specs


def saved_record(model_dir: str | Path, key: str) -> Any:
    """The entry ``key`` of ``model_dir/flowsheet_model.json`` (read and checked by
    :func:`load_flowsheet_model` before), or None."""
    return json.loads((Path(model_dir).expanduser().resolve() / "flowsheet_model.json").read_text()).get(key)


def saved_training_data(model_dir: str | Path) -> list:
    """The training experiments' fingerprints (name, sha256) recorded in
    ``model_dir/flowsheet_model.json``; empty for a model saved without them."""
    recorded = saved_record(model_dir, "training_data") or {}
    items = recorded.get("experiments") if isinstance(recorded, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def update(args: argparse.Namespace, check_out_dir, write_staged) -> tuple[dict, Path, list[Path]]:
    """Re-train a saved flowsheet model on the config's experiments (role ``train``: the
    new batches), warm-started from the saved networks; write metrics (with the
    simulated RMSE before and after), the updated model, plots and report.

    Returns the metrics document, the output directory and the paths written."""
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.output.flowsheet import write_outputs
    from idaes_hybrid.twin.flowsheet_update import flowsheet_start, original_batches, update_flowsheet
    from idaes_hybrid.twin.update import UpdateStart

    out = Path(args.out).expanduser().resolve()
    check_out_dir(out, [("input model", args.model_dir), ("config", args.config)])
    config = load_flowsheet_config(args.config)
    saved = checked_specs(args.model_dir, config, getattr(args, "accept_edited_model", False))
    log = logging.getLogger(LOGGER_NAME + ".cli")
    disc = config.discretization
    warn_uncertainty_not_updated(config.uncertainty, log)
    log.info(f"update: {len(config.experiments)} experiments, networks {sorted(saved)}")
    recorded = saved_training_data(args.model_dir)
    start = flowsheet_start(UpdateStart(getattr(args, "start", "auto")), recorded, config.experiments)
    result = update_flowsheet(config.flowsheet, saved, config.experiments, disc.nfe, disc.ncp,
                              config.training, anchor=not args.no_anchor, tee=args.tee,
                              fresh=config.network_specs() if start is UpdateStart.DATA else None,
                              originals=original_batches(recorded, config.experiments))
    metrics = result.training.metrics()
    metrics["update"] = {**result.metrics(), "parent": {
        "model_dir": str(Path(args.model_dir).expanduser().resolve()),
        "anchor": not args.no_anchor and start is UpdateStart.SAVED}}
    document = {**metrics, "flowsheet": config.build_ref, "config": str(config.path)}
    written = write_staged(out, lambda staging: write_outputs(
        staging, result.training, document, config.path, config.build_ref, config.experiments, log))
    return document, out, written


def estimate(args: argparse.Namespace, rel_sd: float | dict[str, float]) -> tuple:
    """Moving-horizon estimate and forecast of the config's batch ``args.experiment`` with a
    saved flowsheet model (:func:`~idaes_hybrid.twin.flowsheet_estimate.estimate_flowsheet`).

    Returns ``(estimate, document, plot(path), states)``; the caller writes and prints them."""
    from idaes_hybrid.cli.common import check_horizon_end, check_rel_sd_names
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.twin.common import find_experiment
    from idaes_hybrid.twin.estimate import EstimationSettings, PriorMode, saved_noise_sd
    from idaes_hybrid.twin.flowsheet_estimate import estimate_flowsheet, flowsheet_state_names

    config = load_flowsheet_config(args.config)
    specs = checked_specs(args.model_dir, config, getattr(args, "accept_edited_model", False))
    experiment = find_experiment(config.experiments, args.experiment)
    states = flowsheet_state_names(experiment)
    check_rel_sd_names(rel_sd, states, dict(config.flowsheet.variables))
    check_horizon_end(args.horizon_end, experiment)
    settings = EstimationSettings(prior=PriorMode(args.prior), prior_rel_sd=rel_sd,
                                  solver_options={**EstimationSettings().solver_options,
                                                  **config.training.solver_options},
                                  trained_noise_sd=saved_noise_sd(saved_record(args.model_dir, "noise_sd")))
    disc = config.discretization
    est = estimate_flowsheet(config.flowsheet, specs, experiment, args.now, args.window,
                             args.horizon_end, nfe=disc.nfe, ncp=disc.ncp, settings=settings,
                             tee=args.tee)
    document = {"flowsheet": config.build_ref,
                "model_dir": str(Path(args.model_dir).expanduser().resolve()),
                "config": str(config.path), **est.to_dict()}

    def plot(path: Path) -> None:
        from idaes_hybrid.twin.plots import plot_estimate

        plot_estimate(est, experiment, states, path)

    return est, document, plot, states
