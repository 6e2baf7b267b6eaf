"""Bands on the learned term itself: how sure the network is of its output at given inputs.

The trajectory bands (:mod:`~idaes_hybrid.uncertainty.laplace`,
:mod:`~idaes_hybrid.uncertainty.ensemble`) say how uncertain a prediction is; the
learned-term plot shows where that comes from. At network inputs ``v``:

* Laplace: the output's sd is ``sqrt(g(v)^T Sigma g(v))``, ``g = dNN(v)/dtheta`` (the
  denormalized network's exact Jacobian in its flat weights, :class:`BatchedNetwork`);
* ensemble: the sd of the members' outputs, with ``resample = "residuals"`` combined with
  the linearly propagated prior share, ``sqrt(s^2 + g^T (alpha Sigma^2) g)``;

and the band is the trained network's output ``+- z sd`` (``z`` of the two-sided
``level``: normal for Laplace and an ensemble with a prior share, Student's t with
``members - 1`` degrees of freedom for an ensemble's sample sd alone), as for the
trajectories. Away from the training data the weights are less
constrained, so the band widens there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from idaes_hybrid.nn.batched import BatchedNetwork
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.uncertainty.settings import band_quantile


@dataclass(frozen=True)
class TermBand:
    """A learned term's band: call it with raw network inputs ``(n, n_inputs)``.

    Attributes
    ----------
    spec
        The trained network (the band's centre).
    level
        Probability of the two-sided band.
    covariance
        Laplace: covariance of the flat weights; an ensemble's prior share
        (``alpha Sigma^2``) or ``None``.
    members
        Ensemble: the member networks; empty for Laplace.
    """

    spec: NetworkSpec
    level: float
    covariance: np.ndarray | None = None
    members: tuple[NetworkSpec, ...] = ()

    def sd(self, v: np.ndarray) -> np.ndarray:
        """The output's sd at the raw inputs ``v``, shape ``(n, n_outputs)``."""
        v = np.atleast_2d(np.asarray(v, dtype=float))
        var = 0.0
        if self.covariance is not None:
            u = (v - self.spec.input_mean) / self.spec.input_std
            d_theta, _ = BatchedNetwork(self.spec).jacobian(self.spec.flat_parameters(), u)
            g = d_theta * self.spec.output_std[None, :, None]  # (n, n_out, n_theta)
            var = np.maximum(np.einsum("poi,ij,poj->po", g, self.covariance, g), 0.0)
        if self.members:
            var = var + np.stack([m.predict(v) for m in self.members]).var(axis=0, ddof=1)
        return np.sqrt(var)

    def __call__(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(centre, lower, upper)`` at the raw inputs ``v``, each ``(n, n_outputs)``."""
        centre = self.spec.predict(np.atleast_2d(np.asarray(v, dtype=float)))
        dof = len(self.members) - 1 if self.members and self.covariance is None else None
        half = band_quantile(self.level, dof) * self.sd(v)
        return centre, centre - half, centre + half


def term_band(spec: NetworkSpec, saved: Mapping[str, Any] | None) -> TermBand | None:
    """The band of ``spec``'s output from a saved ``uncertainty`` entry (a Laplace
    covariance or ensemble members, with their ``level``); ``None`` without one or when
    it does not fit the network."""
    if not saved:
        return None
    level = float(saved.get("level", 0.9))
    if saved.get("method") == "ensemble":
        members = tuple(NetworkSpec.from_dict(d) for d in saved.get("members", ()))
        if len(members) < 2 or any(list(m.sizes) != list(spec.sizes) for m in members):
            return None
        prior = saved.get("prior_covariance")
        prior = None if prior is None else np.asarray(prior, dtype=float)
        if prior is not None and prior.shape != (spec.n_parameters, spec.n_parameters):
            return None
        return TermBand(spec, level, covariance=prior, members=members)
    cov = np.asarray(saved.get("covariance", ()), dtype=float)
    if cov.shape != (spec.n_parameters, spec.n_parameters):
        return None
    return TermBand(spec, level, covariance=cov)

