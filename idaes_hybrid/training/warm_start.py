"""Warm-starting the simultaneous training from a trained network (model updates).

A model update re-solves the full simultaneous problem from a saved network
instead of running the smoother and Keras pre-training: the weights and the
normalization are the saved ones, and the states of every training experiment
start from a simulation with the saved network (a consistent trajectory, so the
solve starts feasible up to the data misfit).

With ``anchor`` (the default) the regularization term ``alpha/2 ||theta||^2``
of the objective becomes ``alpha/2 ||theta - theta_saved||^2``: the saved
network is the prior of the update, so an update with only a few new batches
moves the weights as far as the new data ask and no farther (a plain
``||theta||^2`` would pull the network towards zero wherever the new data are
silent).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.nn.network import NetworkConfigError, NetworkSpec
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.training.predict import PredictionError, simulate
from idaes_hybrid.training.hybrid_model import HybridModel

_log = idaeslog.getLogger(__name__)


@dataclass(frozen=True)
class WarmStart:
    """Start of a warm-started training.

    Attributes
    ----------
    spec : NetworkSpec
        The trained network (weights and normalization) to start from.
    anchor : bool
        Regularize towards ``spec``'s weights (``||theta - theta_saved||^2``)
        instead of towards zero.
    simulate : bool
        Initialize the states of every training experiment by simulating it with
        ``spec`` (otherwise the states start constant at the initial state).
    prior_centre : tuple of float or None
        Flat weights the prior is centred on instead (an ensemble member's random draw
        from the prior, randomized MAP); overrides ``anchor``.
    """

    spec: NetworkSpec
    anchor: bool = True
    simulate: bool = True
    prior_centre: tuple | None = None

    def centre(self) -> np.ndarray | None:
        """The flat weights the prior pulls towards; ``None``: zero."""
        if self.prior_centre is not None:
            return np.asarray(self.prior_centre, dtype=float)
        return self.spec.flat_parameters() if self.anchor else None


def as_warm_start(value: WarmStart | NetworkSpec) -> WarmStart:
    """``value`` as a :class:`WarmStart` (a bare spec gets the defaults)."""
    return value if isinstance(value, WarmStart) else WarmStart(spec=value)


def check_warm_start(warm: WarmStart, spec: NetworkSpec) -> None:
    """Raise :class:`NetworkConfigError` (field ``warm_start``) unless ``warm`` fits ``spec``'s shape."""
    if list(warm.spec.sizes) != list(spec.sizes) or \
            [a.value for a in warm.spec.activations] != [a.value for a in spec.activations]:
        raise NetworkConfigError(
            f"warm_start: network sizes {list(warm.spec.sizes)} / activations "
            f"{[a.value for a in warm.spec.activations]} differ from the configured "
            f"{list(spec.sizes)} / {[a.value for a in spec.activations]}")
    if not np.all(np.isfinite(warm.spec.flat_parameters())):
        raise NetworkConfigError("warm_start: the network has NaN or infinite weights")


def regularization_term(net, warm: WarmStart | None):
    """``||theta||^2``, or ``||theta - theta_centre||^2`` for a warm start with a centre
    (:meth:`WarmStart.centre`)."""
    centre = None if warm is None else warm.centre()
    if centre is None:
        return net.l2_norm_squared()
    return sum((v - float(c)) ** 2 for v, c in zip(net.parameter_vars_flat(), centre))


def copy_unit_values(source_unit: pyo.Block, target_unit: pyo.Block) -> int:
    """Copy the values of every unfixed variable of ``source_unit`` to the same one of ``target_unit``.

    Variables are matched by their name relative to the unit, so both units
    must be built alike (same model, horizon and discretization). Returns the
    number of values copied.
    """
    copied = 0
    for var in source_unit.component_data_objects(pyo.Var, descend_into=True):
        if var.value is None:
            continue
        target = pyo.ComponentUID(var, context=source_unit).find_component_on(target_unit)
        if target is not None and not target.fixed:
            target.set_value(float(var.value), skip_validation=True)
            copied += 1
    return copied


def initialize_by_simulation(m: pyo.Block, model: HybridModel,
                             experiments: Sequence[Experiment]) -> dict[str, str]:
    """Set the states of ``m.experiment[e.name]`` to a simulation of ``e`` with ``model``.

    A failed simulation is a warning: that experiment keeps its constant
    initial guess. Returns experiment name -> ``"simulated"`` or ``"constant"``.
    """
    status = {}
    for exp in experiments:
        try:
            traj = simulate(model, exp)
        except PredictionError as err:
            _log.warning(f"warm start: experiment {exp.name!r} not simulated ({err}); its states "
                         "start constant")
            status[exp.name] = "constant"
            continue
        sim_unit = traj.model.experiment[exp.name].fs.unit
        copy_unit_values(sim_unit, m.experiment[exp.name].fs.unit)
        status[exp.name] = "simulated"
    return status


def prepare_warm_start(m: pyo.Block, warm: WarmStart, model: HybridModel,
                       experiments: Sequence[Experiment]) -> tuple[float, dict[str, str]]:
    """Load ``warm.spec`` into ``m.net`` and initialize states and network points (by
    simulating every experiment with ``model``, its network replaced by ``warm.spec``).

    Returns the wall time and the initialization of each experiment.
    """
    tick = time.perf_counter()
    m.net.load_spec(warm.spec)
    status = {e.name: "constant" for e in experiments}
    if warm.simulate:
        status = initialize_by_simulation(m, model.replace(spec=warm.spec), experiments)
    m.net.initialize_points(outputs=True)
    wall = time.perf_counter() - tick
    _log.info(f"warm start: {sum(s == 'simulated' for s in status.values())} of {len(status)} "
              f"experiments initialized by simulation in {wall:.1f} s")
    return wall, status
