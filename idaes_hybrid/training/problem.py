"""The multi-experiment training NLP.

One flowsheet per experiment (``m.experiment[name].fs.unit``), all discretized by
Radau collocation, one shared :class:`~idaes_hybrid.nn.block.NeuralNetworkBlock`
evaluated at every time point of every experiment, and a weighted least-squares
fit at the true measurement times (the collocation polynomial of each element
is interpolated, so data need not sit on the collocation grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.environ import units as pyunits

from idaes.core import FlowsheetBlock

from idaes_hybrid.nn.block import NeuralNetworkBlock
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.model.noise import estimate_noise_sd
from idaes_hybrid.training.experiment import DataError, Experiment
from idaes_hybrid.training.regularization import add_likelihood_objective_parts
from idaes_hybrid.model.contract import KineticsMode, check_contract
from idaes_hybrid.model.discretization import make_time_discretization_consistent
from idaes_hybrid.model.definition import HybridModelDefinition


@dataclass(frozen=True)
class Discretization:
    """Radau collocation settings: finite elements and points per element."""

    nfe: int = 20
    ncp: int = 3

    def __post_init__(self) -> None:
        if int(self.nfe) < 1:
            raise DataError(f"discretization.nfe={self.nfe} must be a positive integer")
        if not 1 <= int(self.ncp) <= 10:
            raise DataError(f"discretization.ncp={self.ncp} must be between 1 and 10")


def build_experiment_flowsheet(
    blk: pyo.Block,
    definition: HybridModelDefinition,
    experiment: Experiment,
    disc: Discretization,
    physics: dict[str, float],
    network_inputs: Sequence[str],
    kinetics: KineticsMode | None = None,
    unit_config: Mapping[str, Any] | None = None,
) -> None:
    """Add ``blk.fs`` (dynamic flowsheet) with ``blk.fs.unit`` set up for ``experiment``.

    The initial state (the definition's ``fixed_initial_states``; all states by
    default) and the inputs are fixed; the states are initialized at their
    initial values over the whole horizon. ``kinetics``, if given, is passed
    to the unit as its ``kinetics`` option (``KineticsMode.REFERENCE`` builds the
    unit's own first-principles term instead of the slot for a network).
    ``unit_config`` holds further CONFIG options of the unit (the ``[unit]``
    table of a run configuration, e.g. ``lyapunov_constraint``).
    """
    horizon = float(experiment.horizon)
    steps = [t for t in experiment.input_steps() if 0 < t < horizon]  # element boundaries
    blk.fs = FlowsheetBlock(dynamic=True, time_set=[0.0, *steps, horizon],
                            time_units=definition.time_units)
    options = {**definition.unit_options(list(network_inputs)), **dict(unit_config or {})}
    if kinetics is not None:
        options = {**options, "kinetics": kinetics}
    blk.fs.unit = definition.unit_class(dynamic=True, **options)
    unit = blk.fs.unit
    check_contract(unit)
    pyo.TransformationFactory("dae.collocation").apply_to(
        blk.fs, nfe=int(disc.nfe), ncp=int(disc.ncp), scheme="LAGRANGE-RADAU", wrt=blk.fs.time)
    make_time_discretization_consistent(blk.fs, blk.fs.time, blk.fs.time_units)
    unit.set_physics(**physics)
    t0 = blk.fs.time.first()
    for name, value in experiment.inputs.items():
        if hasattr(value, "value_at"):  # an InputProfile: its value at every time point
            for t in blk.fs.time:
                getattr(unit, name)[t].fix(value.value_at(t, left=t != t0))
        else:
            getattr(unit, name).fix(float(value))
    fixed = definition.initial_states
    for name in definition.state_names:
        var = getattr(unit, name)
        for t in blk.fs.time:
            var[t].set_value(float(experiment.initial[name]))
        if name in fixed:
            var[t0].fix(float(experiment.initial[name]))


def interpolation_weights(time_set, t_obs: float, steps: Collection[float] = ()) -> list[tuple[float, float]]:
    """Lagrange weights that give a state at ``t_obs`` from the collocation points.

    Returns ``(grid time, weight)`` pairs over the finite element holding
    ``t_obs`` (its left boundary and its collocation points), so that
    ``x(t_obs) = sum(w * x[t])`` exactly for the collocation polynomial.
    An element that starts at one of ``steps`` (input steps) leaves its left
    boundary out: there the model holds the values before the step, and a quantity
    that follows the inputs at once (the outlet of a unit without holdup) jumps.
    """
    grid = list(time_set)
    for t in grid:
        if abs(t - t_obs) <= 1e-9 * max(1.0, abs(t_obs)):
            return [(t, 1.0)]
    fe = list(time_set.get_finite_elements())
    k = int(np.searchsorted(fe, t_obs) - 1)
    k = min(max(k, 0), len(fe) - 2)
    open_left = any(abs(fe[k] - s) <= 1e-9 * max(1.0, abs(s)) for s in steps)
    nodes = [t for t in grid if fe[k] < t <= fe[k + 1] or (t == fe[k] and not open_left)]
    weights = []
    for i, ti in enumerate(nodes):
        w = 1.0
        for j, tj in enumerate(nodes):
            if j != i:
                w *= (t_obs - tj) / (ti - tj)
        weights.append((ti, w))
    return weights


def state_at(unit, name: str, time_set, t_obs: float):
    """Pyomo expression of state ``name`` at ``t_obs`` (interpolated on the grid)."""
    var = getattr(unit, name)
    return sum(w * var[t] for t, w in interpolation_weights(time_set, t_obs))


def noise_levels(experiments: Sequence[Experiment]) -> dict[str, dict]:
    """Per measured variable, the noise sd the fit divides by and where it comes from.

    ``source`` is ``"given"`` (every experiment measuring it gives ``noise_sd``),
    ``"estimated"`` (:func:`~idaes_hybrid.model.noise.estimate_noise_sd` from the
    series themselves, input steps excluded) or ``"data spread"`` (too few data to
    estimate: the standard deviation of the values).
    """
    names = sorted({v for e in experiments for v in e.measured_variables})
    out = {}
    for name in names:
        measuring = [e for e in experiments if name in e.measured_variables]
        sds = [(e.noise_sd or {}).get(name) for e in measuring]
        if sds and all(s is not None and s > 0 for s in sds):
            out[name] = {"sd": float(np.mean(sds)), "source": "given"}
            continue
        series = [(e.measurements[name].dropna().index.to_numpy(float),
                   e.measurements[name].dropna().to_numpy(float)) for e in measuring]
        est = estimate_noise_sd(series, [e.input_steps() for e in measuring])
        values = np.concatenate([y for _, y in series])
        floor = 1e-6 * max(1.0, float(np.abs(values).max()))
        if est is not None and est.sd > floor:
            out[name] = {"sd": est.sd, "source": "estimated", "n_residuals": est.n_residuals}
        else:
            out[name] = {"sd": float(max(np.std(values), floor)), "source": "data spread"}
    return out


def observation_scales(experiments: Sequence[Experiment]) -> dict[str, float]:
    """Per-variable weights of the fit: the noise sd of :func:`noise_levels`."""
    return {name: level["sd"] for name, level in noise_levels(experiments).items()}


def experiment_fit_sums(m: pyo.Block, experiments: Sequence[Experiment],
                        scales: dict[str, float]) -> dict[str, tuple]:
    """Per experiment: (sum of squared scaled residuals, number of observations)."""
    out = {}
    for exp in experiments:
        blk = m.experiment[exp.name]
        times, names, values = exp.observations()
        terms = []
        for t_obs, name, y in zip(times, names, values):
            x = state_at(blk.fs.unit, name, blk.fs.time, float(t_obs))
            var = getattr(blk.fs.unit, name)  # units of an element: a Reference has none itself
            terms.append(((x / pyunits.get_units(var[blk.fs.time.first()]) - float(y)) / scales[name]) ** 2)
        out[exp.name] = (sum(terms), len(terms))
    return out


def network_points(m: pyo.Block, experiments: Sequence[Experiment]) -> list[tuple[str, float]]:
    """Every (experiment, time) point at which the network is evaluated."""
    return [(e.name, t) for e in experiments for t in m.experiment[e.name].fs.time]


def build_training_model(
    definition: HybridModelDefinition,
    experiments: Sequence[Experiment],
    spec: NetworkSpec,
    disc: Discretization,
    physics: dict[str, float],
    network_inputs: Sequence[str],
    formulation: Formulation = Formulation.NESTED,
    unit_config: Mapping[str, Any] | None = None,
    scales: Mapping[str, float] | None = None,
) -> pyo.ConcreteModel:
    """Build the simultaneous training model (objective not yet set).

    ``unit_config`` holds extra CONFIG options of every experiment's unit.
    ``scales`` overrides the per-variable fit weights (default:
    :func:`observation_scales` of ``experiments``), so that a model of a subset
    of experiments weighs residuals as the model of all of them does.

    The model has ``experiment[name]`` blocks, the shared network ``net`` with
    its points sub-block ``net.kinetics``, and the expression ``data_fit`` with the
    parts of :func:`~idaes_hybrid.training.regularization.add_likelihood_objective_parts`.
    """
    m = pyo.ConcreteModel(name="hybrid_training")
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise DataError(f"experiments: names must be unique, got {names}")
    m.experiment = pyo.Block(names)
    for exp in experiments:
        build_experiment_flowsheet(m.experiment[exp.name], definition, exp, disc, physics, network_inputs,
                                   unit_config=unit_config)
    m.net = NeuralNetworkBlock(spec=spec, formulation=formulation)

    def unit(p):
        return m.experiment[p[0]].fs.unit

    m.net.add_points("kinetics", network_points(m, experiments),
                     inputs=lambda p: unit(p).network_input_vars(p[1]),
                     outputs=lambda p: unit(p).network_output_vars(p[1]))
    m.scales = dict(scales) if scales is not None else observation_scales(experiments)
    add_likelihood_objective_parts(m, experiment_fit_sums(m, experiments, m.scales))
    return m
