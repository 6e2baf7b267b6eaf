"""Small networks and helpers the decomposition and uncertainty tests share."""

from __future__ import annotations

from idaes_hybrid.nn.network import NetworkSpec


def small_bioreactor_network(seed: int = 3) -> NetworkSpec:
    """A 4-5-1 softplus network on (X, S, P, V) -> mu, normalized for the bioreactor data."""
    spec = NetworkSpec.dense(4, [5], 1, "softplus", seed=seed)
    spec.input_mean[:] = [0.5, 5.0, 0.2, 1.5]
    spec.input_std[:] = [0.5, 3.0, 0.3, 0.5]
    spec.output_mean[:] = [0.1]
    spec.output_std[:] = [0.05]
    return spec
