"""Warm-starting the simultaneous training from a trained network (model updates).

A model update re-solves the full simultaneous problem from a saved network
instead of running the smoother and Keras pre-training: the weights and the
normalization are the saved ones, and every training experiment is marched with the
saved network (a consistent trajectory, so the solve starts feasible up to the data
misfit; :func:`~idaes_hybrid.training.flowsheet_train.train_flowsheet` with ``warm``).

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
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pyomo.environ as pyo

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.nn.network import NetworkConfigError, NetworkSpec
from idaes_hybrid.solve.values import copy_block_values, set_named_values
from idaes_hybrid.model.experiment import DataError
from idaes_hybrid.training.flowsheet_problem import (
    initialize_flowsheet, io_arrays, march_outputs_held, networks)
from idaes_hybrid.training.simulation import PredictionError
from idaes_hybrid.training.train import StageReport, StageStatus

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
        Kept for existing callers: a warm start always marches every training
        experiment with ``spec``.
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


def warm_start_stage(m: pyo.Block, train_exps, starts: Mapping[str, Mapping[str, float]] | None = None,
                     simulate: Callable[[Any, dict], Any] | None = None) -> tuple[dict, dict]:
    """A trained model's networks in place: every experiment marched with them, or started
    at ``starts[name]`` (its values solved with these networks: ``TrainingResult.solved_values``)
    where given (no smoother, no pre-training). Returns the stage reports and each term's profiles.

    An experiment the march fails on is simulated as ``predict`` does (``simulate(experiment,
    {term: NetworkSpec})``, a :class:`~idaes_hybrid.training.simulation.Simulation`: one
    square solve, bounds lifted if needed) and starts at that solution. One that cannot be
    simulated either (a new batch far outside the data the networks were trained on, where a
    learned rate may turn negative) is marched with its learned outputs held at their median
    over the experiments that did march, and the training solve starts from there.
    """
    tick = time.perf_counter()
    nets = networks(m)
    for net in nets:
        net.fix_weights()
    marched, failed = [], []
    for exp in train_exps:
        if starts and exp.name in starts:
            set_named_values(m.experiment[exp.name], starts[exp.name])
            continue
        try:
            initialize_flowsheet(m.experiment[exp.name], nets)
            marched.append(exp.name)
        except InitializationError as err:
            if _simulated_start(m, exp, nets, simulate):
                marched.append(exp.name)
                continue
            _log.warning(f"warm start: the saved networks cannot march {exp.name!r} "
                         f"({' '.join(str(err).split())[:300]}); it is marched with the learned "
                         "terms held at their median over the other experiments")
            failed.append(exp.name)
    if failed:
        hold_typical_outputs(m, marched or [e.name for e in train_exps if e.name not in failed], failed)
        march_outputs_held(m, failed)
    for net in nets:
        net.initialize_points(outputs=not failed)  # held outputs stay; else the networks give them
    profiles = {net.local_name: dict(zip(("inputs", "outputs"), io_arrays(net))) for net in nets}
    skipped = StageReport(StageStatus.SKIPPED, 0.0)
    return {"smoother": skipped, "pretrain": skipped,
            "warm_start": StageReport(StageStatus.MARCHED, time.perf_counter() - tick)}, profiles


def start_at_simulation(simulate: Callable[[Any, dict], Any], exp, nets, blk: pyo.Block) -> Exception | None:
    """Set ``blk`` (an experiment block of ``exp`` whose march failed) to ``simulate(exp,
    {term: NetworkSpec})`` with the networks ``nets``: ``predict``'s simulation, one square
    solve, bounds lifted if needed (a :class:`~idaes_hybrid.training.simulation.Simulation`).
    Returns ``None``, or the error if the simulation failed too (``blk`` then unchanged)."""
    try:
        sim = simulate(exp, {net.local_name: net.to_spec() for net in nets})
    except (PredictionError, InitializationError, DataError) as err:
        return err
    copy_block_values(sim.model.experiment[exp.name], blk)
    return None


def _simulated_start(m: pyo.Block, exp, nets, simulate) -> bool:
    """Whether ``simulate`` solved ``exp`` (see :func:`start_at_simulation`); its values are
    then set in ``m``'s block of ``exp``."""
    if simulate is None:
        return False
    if err := start_at_simulation(simulate, exp, nets, m.experiment[exp.name]):
        _log.debug(f"warm start: {exp.name!r} not simulated either ({err})")
        return False
    _log.info(f"warm start: {exp.name!r} started at its simulation with the saved networks "
              "(the march did not converge)")
    return True


def hold_typical_outputs(m: pyo.Block, typical_of: Sequence[str], names: Sequence[str]) -> None:
    """Set the learned outputs of experiments ``names`` to their median (per output) over
    the experiments ``typical_of``; a term without such values keeps its own."""
    for by_experiment in m.term_series.values():
        values = [[pyo.value(z) for z in zs] for name in typical_of
                  for s in by_experiment[name] for zs in s.outputs]
        if not values:
            continue
        typical = np.median(np.array(values, dtype=float), axis=0)
        for name in names:
            for s in by_experiment[name]:
                for zs in s.outputs:
                    for z, v in zip(zs, typical):
                        if not z.fixed:
                            z.set_value(float(v), skip_validation=True)
