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

from dataclasses import dataclass

import numpy as np

from idaes_hybrid.nn.network import NetworkConfigError, NetworkSpec


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
