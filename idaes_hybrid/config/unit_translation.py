"""``model = ...`` configurations on the flowsheet path.

A configuration that names a hybrid model (``model = "fed_batch_bioreactor"`` or
``model = "my_model.py:NAME"``) is read and checked as before
(:func:`~idaes_hybrid.config.run.load_run_config`: the same messages naming the same fields),
then translated into a :class:`~idaes_hybrid.config.flowsheet.FlowsheetRunConfig`:

- the model becomes a one-unit flowsheet (``fs.unit``) with one network term from the
  network inputs to the learned variables (:func:`~idaes_hybrid.model.unit_flowsheet.unit_flowsheet`);
  variables keep the model's names (``X``, ``F``, ``mu``);
- ``[reference]`` becomes the plant (the unit with its own true term) on which the
  optimization's true optimum is computed (``compare_reference``);
- the fed-batch ``[optimization]`` table (``F_min``, ``F_max``, ``V_max``, ``intervals``)
  becomes a feed control on ``intervals`` segments, the objective ``-P(tf) V(tf)`` and the
  volume limit (:mod:`idaes_hybrid.optimize.fed_batch_objective`).

Every command then runs the one flowsheet path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from idaes_hybrid.config.flowsheet import FlowsheetRunConfig, load_flowsheet_config
from idaes_hybrid.config.flowsheet_optimization import FlowsheetOptimizationSettings
from idaes_hybrid.config.optimization import OptimizationSettings
from idaes_hybrid.config.run import RunConfig, load_run_config
from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.model.unit_flowsheet import true_build, unit_experiment, unit_flowsheet
from idaes_hybrid.optimize.fed_batch_objective import FeedObjective, VolumeLimit
from idaes_hybrid.optimize.feed import feed_problem
from idaes_hybrid.training.unit_train import unit_settings


def load_config(path: str | Path) -> FlowsheetRunConfig:
    """Read and check any run configuration: a ``[flowsheet]`` one as written, a
    ``model = ...`` one translated (:func:`as_flowsheet_config`)."""
    if _names_model(path):
        return as_flowsheet_config(load_run_config(path))
    return load_flowsheet_config(path)


def _names_model(path: str | Path) -> bool:
    """Whether the TOML file at ``path`` names a model and has no ``[flowsheet]`` table."""
    try:
        data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return "flowsheet" not in data and "model" in data


def as_flowsheet_config(config: RunConfig) -> FlowsheetRunConfig:
    """The flowsheet configuration that runs ``config``'s model, data and tables."""
    d = config.definition
    hybrid = unit_flowsheet(d, config.physics, config.network_inputs, config.training.unit_config)
    plant = None
    if config.reference is not None:
        plant = true_build(d, config.physics, config.reference, config.training.unit_config)
    experiments = [unit_experiment(e, d) for e in config.experiments]
    translated = FlowsheetRunConfig(
        config.path, config.model_ref or d.name, hybrid, list(config.hidden), config.activation,
        config.seed, config.discretization, unit_settings(config.training), experiments,
        uncertainty=config.uncertainty, loop=config.loop)
    translated.model_name = d.name
    if config.optimization is not None:
        translated.prepared_optimization = feed_optimization(
            config.optimization, d, config.discretization, plant)
    return translated


def saved_model_config(config: RunConfig, saved) -> tuple[FlowsheetRunConfig, dict]:
    """``config`` translated with a saved unit model's physics and network inputs (what the
    network was trained with), and the saved network by term name."""
    import dataclasses

    translated = as_flowsheet_config(dataclasses.replace(
        config, physics=dict(saved.physics), network_inputs=list(saved.network_inputs)))
    return translated, {translated.flowsheet.terms[0].name: saved.spec}


def feed_optimization(opt: OptimizationSettings, definition: HybridModelDefinition, disc,
                      plant) -> FlowsheetOptimizationSettings:
    """The fed-batch ``[optimization]`` table as a flowsheet optimization
    (:func:`~idaes_hybrid.optimize.feed.feed_problem`: the feed ``F`` free on ``intervals``
    equal segments within ``[F_min, F_max]``, starting at the constant feed that just fills
    the reactor), the most product ``P(tf) V(tf)`` with ``V <= V_max``; the true optimum on
    the plant when ``compare_reference``."""
    problem = feed_problem(opt.request(), definition, disc)
    return FlowsheetOptimizationSettings(
        problem.scenario, [problem.control], FeedObjective(), VolumeLimit(float(opt.V_max)),
        problem.segments, problem.nfe, problem.ncp, plant if opt.compare_reference else None,
        {"objective": "maximize P(tf) V(tf)", "constraints": f"V <= {opt.V_max:g}"},
        opt.trust_region, opt.trust_margin, opt.ensemble)
