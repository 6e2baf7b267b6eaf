"""Small networks and helpers the decomposition and uncertainty tests share."""

from __future__ import annotations

import numpy as np

from idaes_hybrid.diagnostics.diagnose import fit_output_layer
from idaes_hybrid.nn.network import NetworkSpec


def small_bioreactor_network(seed: int = 3) -> NetworkSpec:
    """A 4-5-1 softplus network on (X, S, P, V) -> mu, normalized for the bioreactor data."""
    spec = NetworkSpec.dense(4, [5], 1, "softplus", seed=seed)
    spec.input_mean[:] = [0.5, 5.0, 0.2, 1.5]
    spec.input_std[:] = [0.5, 3.0, 0.3, 0.5]
    spec.output_mean[:] = [0.1]
    spec.output_std[:] = [0.05]
    return spec


def monod_network(n_hidden: int = 16, mu_max: float = 0.2, Ks: float = 1.0) -> NetworkSpec:
    """A softplus network of (X, S) that imitates Monod kinetics ``mu_max S / (Ks + S)`` (no
    training): hidden units are ramps in S at spread knots; the output layer is fitted by
    least squares."""
    spec = NetworkSpec.dense(2, [n_hidden], 1, "softplus")
    xs, ss = np.meshgrid(np.linspace(0.0, 8.0, 9), np.linspace(0.0, 12.0, 49))
    v = np.column_stack([xs.ravel(), ss.ravel()])
    z = (mu_max * v[:, 1] / (Ks + v[:, 1]))[:, None]
    spec.input_mean, spec.input_std = v.mean(axis=0), v.std(axis=0)
    spec.output_mean, spec.output_std = z.mean(axis=0), z.std(axis=0)
    knots = (np.geomspace(0.05, 12.0, n_hidden) - spec.input_mean[1]) / spec.input_std[1]
    spec.weights[0] = np.column_stack([np.zeros(n_hidden), np.full(n_hidden, 6.0)])
    spec.biases[0] = -6.0 * knots
    assert fit_output_layer(spec, v, z, ridge=1e-4)
    assert np.abs(spec.predict(v) - z).max() < 0.005 * mu_max / 0.2 and np.abs(spec.weights[-1]).max() < 100
    return spec
