"""``idaes-hybrid optimize MODEL_DIR CONFIG.toml --out DIR``: optimize the feed with a saved model.

Reads the ``[optimization]`` table of the config, finds the hybrid-optimal
piecewise-constant feed, and (with ``compare_reference = true``) checks it
against the true kinetics of the ``[reference]`` table: the hybrid-optimal feed
simulated on the true model, the true optimum, and the gap between them.
Writes ``DIR/optimization.json`` and ``DIR/feed_profiles.png``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from idaes_hybrid.cli.common import LOGGER_NAME, add_saved_model_options, open_saved_run
from idaes_hybrid.cli.output import check_out_dir, write_staged


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``optimize`` sub-command to the command line's sub-parsers."""
    op = sub.add_parser("optimize", help="optimize controls with a saved model ([optimization])",
                        description="Optimize with a saved hybrid model, as the config's "
                                    "[optimization] table says: a flowsheet config's controls "
                                    "and objective, or a fed-batch model's feed profile (maximum "
                                    "final product mass).")
    add_saved_model_options(op, "run configuration with [optimization]")


def gap_percent(true_optimum: float, achieved: float) -> float:
    """How far ``achieved`` falls short of ``true_optimum``, in percent of it."""
    return 100.0 * (true_optimum - achieved) / abs(true_optimum) if true_optimum else float("nan")


def trust_region_of(saved, opt):
    """The trust region of ``saved`` (its hull or box, widened) if ``opt.trust_region``
    asks for it, else ``None``."""
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.model.trust_region import trust_region

    if not opt.trust_region:
        return None
    if saved.input_box is None:
        raise ConfigError("optimization.trust_region: the saved model records no input region "
                          "(trained before this option existed, or resumed from a checkpoint); "
                          "train it again or set trust_region = false")
    return trust_region(saved.input_box, opt.trust_region, opt.trust_margin)


def run(args: argparse.Namespace) -> int:
    """Run ``idaes-hybrid optimize``; return the exit code (errors are raised)."""
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.config.flowsheet import is_flowsheet_config
    from idaes_hybrid.output.figure_jobs import write_figures
    from idaes_hybrid.output.saved import write_json_atomic

    if is_flowsheet_config(args.config):
        return _run_flowsheet(args)
    out, saved, config, log = open_saved_run(args)
    opt = config.optimization
    if opt is None:
        raise ConfigError(f"optimization: the config '{config.path}' has no [optimization] table")
    log.info(f"optimize: {opt.intervals} feed intervals, F in [{opt.F_min:g}, {opt.F_max:g}], "
             f"V <= {opt.V_max:g}, horizon {opt.horizon:g}")

    from idaes_hybrid.optimize.feed import optimize_feed

    definition = config.definition
    model = saved.hybrid_model(config.training.unit_config, config.training.solver_options).replace(
        discretization=config.discretization)
    box = trust_region_of(saved, opt)
    hybrid = optimize_feed(model, opt.request(), input_box=box, tee=args.tee,
                           user_scaling=config.training.user_scaling)
    document: dict[str, Any] = {
        "model": saved.model_name, "model_dir": str(saved.directory), "config": str(config.path),
        "request": {"experiment": opt.experiment, "initial": opt.initial, "Sf": opt.Sf,
                    "horizon": opt.horizon, "intervals": opt.intervals, "F_min": opt.F_min,
                    "F_max": opt.F_max, "V_max": opt.V_max,
                    "trust_region": opt.trust_region.value if opt.trust_region else False,
                    "trust_margin": opt.trust_margin,
                    "ensemble": opt.ensemble.value if opt.ensemble is not None else None},
        "trust_region": box.to_dict() if box is not None else None,
        "objective": "maximize P(tf) * V(tf)",
        "hybrid_product_predicted": hybrid.product_mass,
        "hybrid_optimum": hybrid.to_dict(),
        "extrapolation": _extrapolation(saved, hybrid.trajectories, log),
    }
    on_truth = reference = None
    truth = model.replace(physics={**config.physics, **(config.reference or {})}, spec=None) \
        if opt.compare_reference else None
    if opt.ensemble is not None:
        document["ensemble_optimum"] = _ensemble_optimum(saved, model, opt, box, truth, args.tee)
    if truth is not None:
        on_truth, reference, base = _compare_reference(truth, opt, hybrid, config.training.user_scaling)
        document.update({
            "hybrid_product_true": on_truth.product_mass,
            "true_optimum_product": reference.product_mass,
            "gap_percent": gap_percent(reference.product_mass, on_truth.product_mass),
            "constant_feed": {"F": base.profile.values[0], "product_true": base.product_mass},
            "hybrid_profile_on_reference": {
                "product_mass": on_truth.product_mass,
                "trajectories": {k: v.tolist() for k, v in on_truth.trajectories.items()}},
            "true_optimum": reference.to_dict(),
        })

    def write(staging: Path) -> None:
        write_json_atomic(staging / "optimization.json", document)
        write_figures({"feed_profiles.png": draw_profiles}, staging, log)

    def draw_profiles(path: Path) -> None:
        from idaes_hybrid.output.optimization_plots import plot_feed_profiles
        from idaes_hybrid.output.plots import variable_units

        plot_feed_profiles(hybrid, path, opt.V_max, on_truth, reference,
                           units=variable_units(definition, saved.network_inputs))

    written = write_staged(out, write)
    _print_summary(document, out, written)
    return 0


def _extrapolation(saved, trajectories, log) -> dict | None:
    """The share of the optimum's time points whose network inputs lie outside the
    training's box and hull (``None`` if the model records no region); a warning if any."""
    import numpy as np

    from idaes_hybrid.model.trust_region import extrapolation_share, extrapolation_warning

    if saved.input_box is None or not all(n in trajectories for n in saved.network_inputs):
        return None
    share = extrapolation_share(saved.input_box, np.column_stack(
        [np.asarray(trajectories[n], dtype=float) for n in saved.network_inputs]))
    warning = extrapolation_warning(share, "the network's inputs")
    if warning:
        log.warning(warning)
    return share


def _compare_reference(truth, opt, hybrid, user_scaling: bool) -> tuple:
    """The hybrid optimum's feed and the constant (filling) feed run on the true model
    ``truth``, and the true optimum: ``(on_truth, reference, constant)``."""
    from idaes_hybrid.model.contract import KineticsMode
    from idaes_hybrid.optimize.feed import FeedProfile, evaluate_feed_on_reference, optimize_feed

    log = logging.getLogger(LOGGER_NAME + ".cli")
    log.info("optimize: checking the hybrid-optimal feed on the true (reference) model")
    request = opt.request()
    on_truth = evaluate_feed_on_reference(truth, opt.initial, opt.Sf, hybrid.profile)
    reference = optimize_feed(truth, request, kinetics=KineticsMode.REFERENCE, user_scaling=user_scaling)
    constant = FeedProfile.uniform([request.filling_feed] * opt.intervals, opt.horizon)
    return on_truth, reference, evaluate_feed_on_reference(truth, opt.initial, opt.Sf, constant)


def _ensemble_optimum(saved, model, opt, box, truth, tee: bool) -> dict:
    """``[optimization] ensemble``: the feed optimal over the saved ensemble's members at
    once, and (with the true model ``truth``) what it gives on the true model."""
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.optimize.ensemble import optimize_feed_ensemble
    from idaes_hybrid.optimize.feed import evaluate_feed_on_reference
    from idaes_hybrid.uncertainty.ensemble import EnsembleMembers

    if not saved.uncertainty or saved.uncertainty.get("method") != "ensemble":
        raise ConfigError("optimization.ensemble: the saved model has no ensemble members; train it "
                          "with [uncertainty] method = \"ensemble\"")
    members = EnsembleMembers.from_dict(saved.uncertainty).specs
    result = optimize_feed_ensemble(model, members, opt.request(), objective=opt.ensemble,
                                    input_box=box, tee=tee)
    summary = result.to_dict()
    if truth is not None:
        summary["product_true"] = evaluate_feed_on_reference(truth, opt.initial, opt.Sf,
                                                             result.profile).product_mass
    return summary


def _print_summary(doc: dict[str, Any], out: Path, written: list[Path]) -> None:
    hyb = doc["hybrid_optimum"]
    print(f"hybrid optimum:  {doc['hybrid_product_predicted']:.4f} g product predicted "
          f"({hyb['status']}, {hyb['iterations']} iterations, {hyb['wall_time_s']:.1f} s)")
    print("feed (F per interval): " + " ".join(f"{v:.4f}" for v in hyb["feed_profile"]["values"]))
    if "true_optimum_product" in doc:
        print(f"on the true model: {doc['hybrid_product_true']:.4f} g")
        print(f"true optimum:      {doc['true_optimum_product']:.4f} g")
        print(f"constant feed:     {doc['constant_feed']['product_true']:.4f} g "
              f"(F = {doc['constant_feed']['F']:.4g})")
        print(f"gap: {doc['gap_percent']:.2f} % of the true optimum")
    ens = doc.get("ensemble_optimum")
    if ens is not None:
        true = f", {ens['product_true']:.4f} g on the true model" if "product_true" in ens else ""
        print(f"ensemble optimum ({ens['objective']}): {ens['product_mass']:.4f} g predicted{true}")
    print(f"wrote {', '.join(p.name for p in written)} in {out}")


def _run_flowsheet(args: argparse.Namespace) -> int:
    """``optimize`` of a flowsheet configuration: its ``[optimization]`` table."""
    from idaes_hybrid.cli import flowsheet as cli_flowsheet

    document, out, written = cli_flowsheet.optimize(args, check_out_dir, write_staged)
    print(f"optimization: {document['status']}, objective {document['objective']:.6g} "
          f"({document['iterations']} iterations)")
    truth = document.get("true_flowsheet")
    if truth:
        print(f"on the true flowsheet: the hybrid optimum gives {truth['objective_of_hybrid_profiles']:.6g}, "
              f"the true optimum is {truth['optimum']:.6g} (gap {truth['gap_percent']:.3g}%)")
        broken = {k: v for k, v in truth.get("constraint_violations", {}).items() if v > 1e-6}
        print("  its constraints there: " + (", ".join(f"{k} violated by {v:.3g}" for k, v in broken.items())
                                             or "all hold (violation <= 1e-6)"))
    print(f"wrote {', '.join(p.name for p in written)} in {out}")
    return 0
