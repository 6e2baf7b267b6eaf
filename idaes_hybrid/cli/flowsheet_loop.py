"""``idaes-hybrid loop MODEL_DIR CONFIG.toml --out DIR`` for a flowsheet config.

Each round optimizes the ``[optimization]`` controls on the current networks, runs the
profiles on the ``[loop]`` table's plant (a Python function ``plant(inputs, round)``, or
``"reference"``: the optimization's ``true_build`` flowsheet, sampled with ``noise_sd``),
and updates the networks with the batch and every earlier one
(:func:`idaes_hybrid.optimize.flowsheet_loop.run_flowsheet_loop`). With ``true_build`` the
true optimum is computed too and every round's objective is given beside it. Writes
``DIR/loop.json``, ``DIR/loop.md``, ``DIR/loop.png``, and the last update's outputs: the
final model ``DIR/model/``, ``metrics.json``, ``report.md`` and its plots.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from idaes_hybrid.cli.common import LOGGER_NAME


def loop_problem(opt):
    """The ``[optimization]`` settings as the batch a loop optimizes every round."""
    from idaes_hybrid.optimize.flowsheet_loop import LoopProblem

    return LoopProblem(opt.scenario, opt.controls, opt.objective, opt.constraints, opt.segments,
                       opt.nfe, opt.ncp)


def true_flowsheet(config, opt):
    """The ``true_build`` flowsheet (no learned terms, the config's variables), or ``None``."""
    from idaes_hybrid.model.flowsheet import HybridFlowsheet

    if opt.true_build is None:
        return None
    fs = config.flowsheet
    return HybridFlowsheet(opt.true_build, [], fs.variables, fs.time_units)


def render_markdown(doc: dict[str, Any]) -> str:
    """``loop.md``: one row per round (the gap to the true optimum when it is known)."""
    optimum = doc.get("true_optimum")
    lines = ["# Closed loop", "", f"Plant: `{doc['plant']}`; {len(doc['rounds'])} rounds; objective "
             f"`{doc['functions'].get('objective')}` (minimized); round 1 runs the nominal optimum "
             "of the saved model.", ""]
    if optimum is not None:
        lines += [f"True optimum: {optimum:.6g}.", ""]
    head = "| round | predicted | plant |" + (" gap to the true optimum |" if optimum is not None else "")
    lines += [head, "|---|---|---|" + ("---|" if optimum is not None else "")]
    for r in doc["rounds"]:
        row = f"| {r['round']} | {r['predicted']:.6g} | {_num(r['true'])} |"
        if optimum is not None:
            row += f" {_gap(r.get('gap_percent'))} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def _num(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def _gap(value) -> str:
    return "-" if value is None else f"{value:.3g}%"


def _document(config, args, opt, result, optimum) -> dict[str, Any]:
    loop = config.loop
    doc: dict[str, Any] = {
        "model_dir": str(Path(args.model_dir).expanduser().resolve()), "config": str(config.path),
        "flowsheet": config.build_ref, "plant": loop.plant, "rounds_requested": loop.rounds,
        "anchor": loop.anchor, "proximal": loop.proximal, "functions": opt.refs,
        "controls": [c.name for c in opt.controls], **result.to_dict()}
    if optimum is not None:
        doc["true_optimum"] = optimum.objective
        doc["true_optimum_profiles"] = optimum.profiles
        for row in doc["rounds"]:
            row["gap_percent"] = None if row["true"] is None or not optimum.objective else \
                100.0 * (row["true"] - optimum.objective) / abs(optimum.objective)
        doc["nominal_gap_percent"] = doc["rounds"][0]["gap_percent"]
    return doc


def run(args: argparse.Namespace, check_out_dir, write_staged) -> tuple[dict, Path, list[Path]]:
    """Run the closed loop of a flowsheet config; returns the document, the output
    directory and the paths written."""
    from idaes_hybrid.cli.flowsheet import checked_specs
    from idaes_hybrid.config.flowsheet import load_flowsheet_config
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.model.experiment import Role
    from idaes_hybrid.optimize.flowsheet_loop import (
        optimize_problem, run_flowsheet_loop, true_flowsheet_plant)

    out = Path(args.out).expanduser().resolve()
    check_out_dir(out, [("input model", args.model_dir), ("config", args.config)])
    config = load_flowsheet_config(args.config)
    if config.loop is None:
        raise ConfigError(f"loop: the config '{config.path}' has no [loop] table")
    specs = checked_specs(args.model_dir, config, getattr(args, "accept_edited_model", False))
    opt, loop, log = config.optimization(), config.loop, logging.getLogger(LOGGER_NAME + ".cli")
    problem, truth, options = loop_problem(opt), true_flowsheet(config, opt), config.training.solver_options
    plant = true_flowsheet_plant(truth, problem, loop.noise_sd, loop.samples, loop.seed, options) \
        if loop.is_reference else loop.plant_function()
    optimum = optimize_problem(truth, None, problem, options) if truth is not None else None
    log.info(f"loop: {loop.rounds} rounds on plant {loop.plant!r}")
    disc = config.discretization
    result = run_flowsheet_loop(
        config.flowsheet, specs, problem, plant, disc.nfe, disc.ncp, loop.rounds,
        [e for e in config.experiments if e.role is Role.TRAIN],
        [e for e in config.experiments if e.role is not Role.TRAIN], config.training,
        loop.noise_sd, anchor=loop.anchor, proximal=loop.proximal)
    doc = _document(config, args, opt, result, optimum)
    written = write_staged(out, lambda staging: _write(staging, doc, result, config, log))
    return doc, out, written


def _write(staging: Path, doc: dict[str, Any], result, config, log) -> None:
    from idaes_hybrid.model.experiment import Role
    from idaes_hybrid.output.flowsheet import write_outputs
    from idaes_hybrid.output.saved import write_json_atomic, write_text_atomic

    write_json_atomic(staging / "loop.json", doc)
    write_text_atomic(staging / "loop.md", render_markdown(doc))
    training = result.last_update.training
    metrics = {**training.metrics(), "update": result.last_update.metrics(),
               "flowsheet": config.build_ref, "config": str(config.path)}
    experiments = [*result.batches, *(e for e in config.experiments if e.role is not Role.TRAIN)]
    write_outputs(staging, training, metrics, config.path, config.build_ref, experiments, log)
    from idaes_hybrid.output.figure_jobs import write_figures
    from idaes_hybrid.output.optimization_plots import plot_loop_document

    write_figures({"loop.png": lambda p: plot_loop_document(doc, p, doc.get("true_optimum"), unit="",
                                                             quantity="objective", near=None)},
                  staging, log)


def print_summary(doc: dict[str, Any], out: Path) -> None:
    """One line per round, the true optimum, what was written."""
    for r in doc["rounds"]:
        gap = f" (gap {_gap(r.get('gap_percent'))})" if "gap_percent" in r else ""
        print(f"round {r['round']}: predicted {r['predicted']:.6g}, plant {_num(r['true'])}{gap}")
    if doc.get("true_optimum") is not None:
        print(f"true optimum: {doc['true_optimum']:.6g}")
    print(f"wrote loop.json, loop.md, loop.png, metrics.json, model/, report.md in {out}")
