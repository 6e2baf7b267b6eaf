"""The auxiliary "smoother" problem that initializes training.

The unknown term is a free time profile at every collocation point, fitted to
the data with the balances as hard constraints and a smoothness penalty::

    min  data_fit + c_s * sum_e (tf_e - t0_e) * mean_t((dz/dt)^2) / z_scale^2

Its solution gives consistent state trajectories, a profile of the unknown term
and the normalization statistics of the network's inputs and outputs.
"""

from __future__ import annotations

from typing import Sequence

import pyomo.environ as pyo

from idaes_hybrid.training.experiment import Experiment


def output_scale(values: Sequence, z_scale: float | None = None) -> float:
    """Typical magnitude of a learned output (the ``values`` of one series): ``z_scale``
    when given, else the inverse of the IDAES scaling factor set on its first value, else
    its largest starting magnitude (the build function's ``initialize``), else 1."""
    from idaes.core.scaling.util import get_scaling_factor

    if z_scale is not None:
        return float(z_scale)
    factor = get_scaling_factor(values[0])
    if factor:
        return 1.0 / abs(float(factor))
    size = max((abs(float(v.value)) for v in values if v.value is not None), default=0.0)
    return size if size > 1e-12 else 1.0


def smoothness_penalty(m: pyo.Block, experiments: list[Experiment], learned_names,
                       z_scale: float | None = None):
    """Mean squared time derivative of the learned profiles (finite differences), each
    divided by the square of its output's scale (:func:`output_scale`)."""
    total = 0
    for exp in experiments:
        blk = m.experiment[exp.name]
        times = list(blk.fs.time)
        horizon = times[-1] - times[0]
        for name in learned_names:
            var = getattr(blk.fs.unit, name)
            u = pyo.units.get_units(var[times[0]])  # dimensionless, like the data fit
            scale = output_scale([var[t] for t in times], z_scale)
            diffs = [((var[b] - var[a]) / u / (b - a)) ** 2 for a, b in zip(times[:-1], times[1:])]
            total += horizon * sum(diffs) / len(diffs) / scale**2
    return total / len(experiments)


def add_smoother_objective(m: pyo.Block, experiments: list[Experiment], learned_names,
                           penalty: float, z_scale: float | None = None) -> None:
    """Add ``m.smoother_objective`` (deactivated) to the training model."""
    m.smoothness = pyo.Expression(expr=smoothness_penalty(m, experiments, learned_names, z_scale))
    m.smoother_objective = pyo.Objective(expr=m.data_fit + penalty * m.smoothness)
    m.smoother_objective.deactivate()


def set_smoother_mode(m: pyo.Block, on: bool) -> None:
    """Switch the model between the smoother problem and the full training problem.

    With ``on``: network equations off, weights fixed, ``smoother_objective`` active.
    Otherwise: network equations on and ``training_objective`` (if declared) active;
    the caller frees the weights.
    """
    training_objective = m.component("training_objective")
    if on:
        m.net.kinetics.deactivate()
        m.net.fix_weights()
        m.smoother_objective.activate()
        if training_objective is not None:
            training_objective.deactivate()
    else:
        m.net.kinetics.activate()
        m.smoother_objective.deactivate()
        if training_objective is not None:
            training_objective.activate()
