"""``idaes-hybrid loop MODEL_DIR CONFIG.toml --out DIR``: the closed loop on a saved model.

A flowsheet config (``[flowsheet]``) goes to :mod:`idaes_hybrid.cli.flowsheet_loop`; the
rest of this module handles ``model = ...`` configs (their feed optimization and update run
on the one-unit flowsheet).

Each round optimizes the feed of the config's ``[optimization]`` table on the current
model, runs it on the ``[loop]`` table's plant (a Python function, or ``"reference"``:
the ``[reference]`` kinetics measured with ``noise_sd``), and updates the model with the
batch and every earlier one (:func:`idaes_hybrid.optimize.closed_loop.run_closed_loop`).
With ``compare_reference = true`` the true optimum is computed too and every round's
product is given as a share of it. Writes ``DIR/loop.json``, ``DIR/loop.md``,
``DIR/loop.png`` and the final model ``DIR/model/``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from idaes_hybrid.cli.common import add_saved_model_options, open_saved_run
from idaes_hybrid.cli.output import write_staged


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``loop`` sub-command to the command line's sub-parsers."""
    lp = sub.add_parser("loop", help="closed loop: optimize, run the batch, update, repeat",
                        description="Optimize the feed ([optimization]), run it on the plant of "
                                    "the [loop] table, update the model with the batch; repeat "
                                    "for loop.rounds rounds.")
    add_saved_model_options(lp, "run configuration with [optimization] and [loop]", tee=False)


def _plant(saved, config, request):
    """The plant of the ``[loop]`` table: the user's function or the reference simulator."""
    from idaes_hybrid.optimize.closed_loop import reference_plant

    loop = config.loop
    if not loop.is_reference:
        return loop.plant_function()
    truth = {**config.physics, **config.reference}
    return reference_plant(saved, truth, request, loop.noise_sd, loop.samples, loop.seed,
                           config.training)


def render_markdown(doc: dict[str, Any]) -> str:
    """``loop.md``: one row per round (the share of the true optimum when it is known)."""
    optimum = doc.get("true_optimum_product")
    lines = ["# Closed loop", "", f"Plant: `{doc['plant']}`; {len(doc['rounds'])} rounds; "
             "round 1 runs the nominal optimum of the saved model.", ""]
    if optimum is not None:
        lines += [f"True optimum: {optimum:.4f} g.", ""]
    head = "| round | predicted P V (g) | plant P V (g) |" + (" share of the true optimum |"
                                                          if optimum is not None else "")
    lines += [head, "|---|---|---|" + ("---|" if optimum is not None else "")]
    for r in doc["rounds"]:
        row = f"| {r['round']} | {r['predicted']:.4f} | {_num(r['true'])}{_SAMPLED.get(r.get('true_source'), '')} |"
        if optimum is not None:
            row += f" {_share(r.get('share'))} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


#: How a round's plant value reads when it is one measured sample, not the plant's own figure.
_SAMPLED = {"last sample": " (P V of the last sample: one noisy measurement)"}


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _share(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _document(saved, config, result, optimum) -> dict[str, Any]:
    loop = config.loop
    doc: dict[str, Any] = {
        "model": saved.model_name, "model_dir": str(saved.directory), "config": str(config.path),
        "plant": loop.plant, "rounds_requested": loop.rounds, "anchor": loop.anchor,
        "proximal": loop.proximal,
        "request": config.optimization.request().to_dict(), "objective": "maximize P(tf) * V(tf)",
        **result.to_dict()}
    if optimum is not None:
        doc["true_optimum_product"] = optimum.product_mass
        doc["true_optimum"] = optimum.to_dict()
        for row in doc["rounds"]:
            row["share"] = row["true"] / optimum.product_mass if row["true"] == row["true"] else None
        doc["nominal_share"] = doc["rounds"][0]["share"]
    for row in doc["rounds"]:
        if row["true"] != row["true"]:  # NaN: the plant's measurements did not tell
            row["true"] = None
    return doc


def run(args: argparse.Namespace) -> int:
    """Run ``idaes-hybrid loop``; return the exit code (errors are raised)."""
    from idaes_hybrid.config.flowsheet import is_flowsheet_config
    from idaes_hybrid.config.run import ConfigError
    from idaes_hybrid.optimize.closed_loop import run_closed_loop, true_optimum

    if is_flowsheet_config(args.config):
        from idaes_hybrid.cli import flowsheet_loop
        from idaes_hybrid.cli.output import check_out_dir

        doc, out, _ = flowsheet_loop.run(args, check_out_dir, write_staged)
        flowsheet_loop.print_summary(doc, out)
        return 0
    out, saved, config, log = open_saved_run(args)
    if config.loop is None:
        raise ConfigError(f"loop: the config '{config.path}' has no [loop] table")
    loop, request = config.loop, config.optimization.request()
    plant = _plant(saved, config, request)
    optimum = None
    if config.optimization.compare_reference:
        optimum = true_optimum(saved, {**config.physics, **config.reference}, request,
                               config.training)
    log.info(f"loop: {loop.rounds} rounds on plant {loop.plant!r}")
    result = run_closed_loop(saved, request, plant, loop.rounds, config.training_experiments,
                             config.validation_experiments, config.training, loop.noise_sd,
                             anchor=loop.anchor, proximal=loop.proximal)
    doc = _document(saved, config, result, optimum)
    write_staged(out, lambda staging: _write(staging, doc, result, config, saved, log))
    _print_summary(doc, out)
    return 0


def _write(staging: Path, doc: dict[str, Any], result, config, saved, log) -> None:
    from idaes_hybrid.output.saved import save_model, write_json_atomic, write_text_atomic

    write_json_atomic(staging / "loop.json", doc)
    write_text_atomic(staging / "loop.md", render_markdown(doc))
    used = dataclasses.replace(config, network_inputs=list(saved.network_inputs),
                               physics=dict(saved.physics), discretization=saved.discretization,
                               experiments=[*result.batches, *config.validation_experiments])
    save_model(staging / "model", result.last_update.training, used,
               result.last_update.metrics())
    from idaes_hybrid.output.figure_jobs import write_figures
    from idaes_hybrid.output.optimization_plots import plot_loop_document

    write_figures({"loop.png": lambda p: plot_loop_document(doc, p, doc.get("true_optimum_product"))},
                  staging, log)


def _print_summary(doc: dict[str, Any], out: Path) -> None:
    optimum = doc.get("true_optimum_product")
    for r in doc["rounds"]:
        share = f" ({_share(r.get('share'))} of the true optimum)" if optimum is not None else ""
        print(f"round {r['round']}: predicted {r['predicted']:.4f} g, plant {_num(r['true'])} g"
              + share + _SAMPLED.get(r.get("true_source"), ""))
    if optimum is not None:
        print(f"true optimum: {optimum:.4f} g")
    print(f"wrote loop.json, loop.md, loop.png, model/ in {out}")
