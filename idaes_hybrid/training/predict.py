"""Prediction with a trained hybrid model, and the metrics that judge it.

A prediction is the same flowsheet the training uses, with the network's
weights fixed: a square system solved from the experiment's initial state and
inputs alone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.problem import state_at
from idaes_hybrid.training.simulation import PredictionError, Simulation  # noqa: F401 (re-exported)

_log = idaeslog.getLogger(__name__)


def simulate(model: HybridModel, experiment: Experiment, *, initialize: bool = True,
             user_scaling: bool = False) -> Simulation:
    """Predict one experiment from its initial state and inputs.

    The model runs as its one-unit flowsheet (:func:`~idaes_hybrid.model.unit_flowsheet.unit_flowsheet`)
    through :func:`~idaes_hybrid.training.flowsheet_problem.simulate_flowsheet`: the
    elements are marched first, then the square system is solved (path inequalities
    deactivated: a simulation reports what the model does; bounds lifted when the
    discretized trajectory leaves them).

    ``initialize`` and ``user_scaling`` are kept for existing callers: the march always
    runs, and the flowsheet path scales by magnitudes.

    Returns
    -------
    Simulation
        ``time`` (the collocation grid), one array per state and learned term, the model.
    """
    from idaes_hybrid.model.unit_flowsheet import term_name, unit_experiment, unit_flowsheet
    from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

    definition = model.definition
    if model.spec is None:
        raise PredictionError(f"experiment {experiment.name!r}: the model has no trained network")
    hf = unit_flowsheet(definition, model.physics, model.network_inputs, model.unit_config)
    disc = model.discretization
    sim = simulate_flowsheet(hf, unit_experiment(experiment, definition),
                             {term_name(definition): model.spec}, disc.nfe, disc.ncp,
                             [*definition.state_names, *definition.learned_names],
                             model.solver_options_dict)
    for name in definition.nonnegative_states:
        if sim[name].min() < -1e-6:
            _log.warning(f"experiment {experiment.name!r}: predicted {name} falls to "
                         f"{sim[name].min():.4g} (below zero)")
    return sim


def values_at_times(blk: pyo.Block, names: Sequence[str], times: Sequence[float]) -> pd.DataFrame:
    """States of a solved experiment block interpolated at ``times``."""
    unit = blk.fs.unit
    data = {n: [pyo.value(state_at(unit, n, blk.fs.time, float(t))) for t in times] for n in names}
    return pd.DataFrame(data, index=pd.Index(np.asarray(times, dtype=float), name="time"))


def rmse(blk: pyo.Block, experiment: Experiment) -> dict[str, float]:
    """Root-mean-square error of every measured variable at its measurement times."""
    out = {}
    meas = experiment.measurements
    for name in experiment.measured_variables:
        col = meas[name].dropna()
        pred = values_at_times(blk, [name], col.index.to_numpy())[name].to_numpy()
        out[name] = float(np.sqrt(np.mean((pred - col.to_numpy()) ** 2)))
    return out


def pooled_rmse(per_experiment: dict[str, dict[str, float]], experiments: Sequence[Experiment]) -> dict[str, float]:
    """RMSE per variable pooled over experiments (weighted by their sample counts)."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for exp in experiments:
        for name, value in per_experiment.get(exp.name, {}).items():
            n = int(exp.measurements[name].notna().sum())
            sums[name] = sums.get(name, 0.0) + n * value**2
            counts[name] = counts.get(name, 0) + n
    return {k: float(np.sqrt(sums[k] / counts[k])) for k in sorted(sums)}
