"""What a network is: layer sizes, activations, normalization and weights.

`NetworkSpec` is plain data (numpy arrays), independent of Pyomo and Keras. The
Pyomo block (:mod:`idaes_hybrid.nn.block`) writes it into an NLP; the Keras
bridge (:mod:`idaes_hybrid.nn.keras_io`) converts it to and from Keras models.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


class Activation(str, enum.Enum):
    """Twice continuously differentiable activations a network may use."""

    TANH = "tanh"
    SIGMOID = "sigmoid"
    SOFTPLUS = "softplus"
    SWISH = "swish"
    LINEAR = "linear"


#: Activations refused because they are not twice differentiable.
NONSMOOTH_ACTIVATIONS = frozenset({"relu", "relu6", "leaky_relu", "elu", "selu", "hard_sigmoid", "hard_tanh", "hard_swish", "hard_silu", "abs"})

#: Alternative names accepted for an activation (Keras spells swish "silu").
_ALIASES = {"silu": Activation.SWISH, "identity": Activation.LINEAR, None: Activation.LINEAR}


class NetworkConfigError(ValueError):
    """A network definition is invalid; the message names the bad field."""


def parse_activation(value: Activation | str | None, field_name: str = "activation") -> Activation:
    """Convert a user's activation name to an :class:`Activation`.

    Parameters
    ----------
    value
        An :class:`Activation`, its string value, or a Keras alias (``"silu"``).
    field_name
        Name of the field the value came from, used in error messages.

    Returns
    -------
    Activation

    Raises
    ------
    NetworkConfigError
        If the name is unknown or names a non-smooth activation such as ReLU.
    """
    if isinstance(value, Activation):
        return value
    if not isinstance(value, str):
        raise NetworkConfigError(f"{field_name}: expected an activation name, one of "
                                 f"{[a.value for a in Activation]}, got {value!r}")
    key = value.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key in NONSMOOTH_ACTIVATIONS:
        raise NetworkConfigError(
            f"{field_name}={value!r} is not twice continuously differentiable, so an "
            "interior-point solver cannot use it; choose one of "
            f"{[a.value for a in Activation]}"
        )
    try:
        return Activation(key)
    except ValueError:
        raise NetworkConfigError(
            f"{field_name}={value!r} is not a known activation; choose one of "
            f"{[a.value for a in Activation]}"
        ) from None


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


NUMPY_ACTIVATIONS = {
    Activation.TANH: np.tanh,
    Activation.SIGMOID: _sigmoid,
    Activation.SOFTPLUS: _softplus,
    Activation.SWISH: lambda x: x * _sigmoid(x),
    Activation.LINEAR: lambda x: x,
}


@dataclass
class NetworkSpec:
    """A dense feed-forward network with input and output normalization.

    The network maps raw inputs ``v`` to raw outputs ``z``::

        v_bar = (v - input_mean) / input_std
        h_0 = v_bar;  h_k = act_k(W_k h_{k-1} + b_k)
        z = output_mean + output_std * h_L

    Attributes
    ----------
    sizes
        Layer widths, inputs first and outputs last, e.g. ``[4, 20, 20, 1]``.
    activations
        One activation per weight layer (``len(sizes) - 1`` entries); the output
        layer is normally ``LINEAR``.
    weights, biases
        ``weights[k]`` has shape ``(sizes[k+1], sizes[k])`` and ``biases[k]`` has
        shape ``(sizes[k+1],)``.
    input_mean, input_std, output_mean, output_std
        Normalization constants (raw units).
    """

    sizes: list[int]
    activations: list[Activation]
    weights: list[np.ndarray] = field(default_factory=list)
    biases: list[np.ndarray] = field(default_factory=list)
    input_mean: np.ndarray | None = None
    input_std: np.ndarray | None = None
    output_mean: np.ndarray | None = None
    output_std: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.sizes = [int(s) for s in self.sizes]
        if len(self.sizes) < 2 or any(s < 1 for s in self.sizes):
            raise NetworkConfigError(
                f"sizes={self.sizes!r} must list at least an input and an output width, all >= 1"
            )
        if len(self.activations) != self.n_layers:
            raise NetworkConfigError(
                f"activations has {len(self.activations)} entries but sizes={self.sizes} "
                f"needs {self.n_layers} (one per weight layer)"
            )
        self.activations = [
            parse_activation(a, f"activations[{k}]") for k, a in enumerate(self.activations)
        ]
        if not self.weights:
            self.weights = [np.zeros((o, i)) for i, o in zip(self.sizes[:-1], self.sizes[1:])]
        if not self.biases:
            self.biases = [np.zeros(o) for o in self.sizes[1:]]
        self.weights = [np.asarray(w, dtype=float) for w in self.weights]
        self.biases = [np.asarray(b, dtype=float) for b in self.biases]
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            want = (self.sizes[k + 1], self.sizes[k])
            if w.shape != want:
                raise NetworkConfigError(f"weights[{k}] has shape {w.shape}, expected {want}")
            if b.shape != (want[0],):
                raise NetworkConfigError(f"biases[{k}] has shape {b.shape}, expected {(want[0],)}")
        if len(self.weights) != self.n_layers or len(self.biases) != self.n_layers:
            raise NetworkConfigError(
                f"got {len(self.weights)} weight and {len(self.biases)} bias arrays for "
                f"{self.n_layers} layers"
            )
        self.input_mean = self._norm("input_mean", self.input_mean, self.n_inputs, 0.0)
        self.input_std = self._norm("input_std", self.input_std, self.n_inputs, 1.0)
        self.output_mean = self._norm("output_mean", self.output_mean, self.n_outputs, 0.0)
        self.output_std = self._norm("output_std", self.output_std, self.n_outputs, 1.0)
        for name in ("input_std", "output_std"):
            if np.any(getattr(self, name) <= 0):
                raise NetworkConfigError(f"{name} must be positive, got {getattr(self, name)}")

    @staticmethod
    def _norm(name: str, value: Sequence[float] | None, n: int, default: float) -> np.ndarray:
        arr = np.full(n, default) if value is None else np.asarray(value, dtype=float).reshape(-1)
        if arr.shape != (n,):
            raise NetworkConfigError(f"{name} has {arr.size} entries, expected {n}")
        if not np.all(np.isfinite(arr)):
            raise NetworkConfigError(f"{name} contains NaN or infinite values: {arr}")
        return arr

    @classmethod
    def dense(
        cls,
        n_inputs: int,
        hidden: Sequence[int],
        n_outputs: int,
        activation: Activation | str = Activation.TANH,
        output_activation: Activation | str = Activation.LINEAR,
        seed: int | None = 0,
    ) -> "NetworkSpec":
        """Build a network with Glorot-uniform weights and zero biases.

        Parameters
        ----------
        n_inputs, n_outputs
            Input and output widths.
        hidden
            Hidden layer widths.
        activation
            Activation of every hidden layer.
        output_activation
            Activation of the output layer (``LINEAR`` by default).
        seed
            Seed of the weight initialization; the same seed gives the same weights.
        """
        sizes = [int(n_inputs), *[int(h) for h in hidden], int(n_outputs)]
        act = parse_activation(activation)
        acts = [act] * (len(sizes) - 2) + [parse_activation(output_activation, "output_activation")]
        spec = cls(sizes=sizes, activations=acts)
        spec.initialize_weights(seed)
        return spec

    def initialize_weights(self, seed: int | None = 0) -> None:
        """Draw Glorot-uniform weights and zero biases from a seeded generator."""
        rng = np.random.default_rng(seed)
        for k in range(self.n_layers):
            fan_in, fan_out = self.sizes[k], self.sizes[k + 1]
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            self.weights[k] = rng.uniform(-limit, limit, size=(fan_out, fan_in))
            self.biases[k] = np.zeros(fan_out)

    @property
    def n_layers(self) -> int:
        """Number of weight layers."""
        return len(self.sizes) - 1

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.sizes[-1]

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    def flat_parameters(self) -> np.ndarray:
        """All weights and biases as one vector (layer by layer, W then b)."""
        return np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(self.weights, self.biases)])

    def set_flat_parameters(self, theta: np.ndarray) -> None:
        """Inverse of :meth:`flat_parameters`."""
        theta = np.asarray(theta, dtype=float).ravel()
        if theta.size != self.n_parameters:
            raise NetworkConfigError(f"theta has {theta.size} entries, expected {self.n_parameters}")
        pos = 0
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            self.weights[k] = theta[pos : pos + w.size].reshape(w.shape)
            pos += w.size
            self.biases[k] = theta[pos : pos + b.size].copy()
            pos += b.size

    def forward_normalized(self, v_bar: np.ndarray) -> np.ndarray:
        """Evaluate the network on normalized inputs; returns normalized outputs."""
        h = np.atleast_2d(np.asarray(v_bar, dtype=float))
        for w, b, act in zip(self.weights, self.biases, self.activations):
            h = NUMPY_ACTIVATIONS[act](h @ w.T + b)
        return h

    def predict(self, v: np.ndarray) -> np.ndarray:
        """Evaluate the network on raw inputs of shape ``(n_points, n_inputs)``."""
        v = np.atleast_2d(np.asarray(v, dtype=float))
        if v.shape[1] != self.n_inputs:
            raise NetworkConfigError(f"inputs have {v.shape[1]} columns, expected {self.n_inputs}")
        out = self.forward_normalized((v - self.input_mean) / self.input_std)
        return self.output_mean + self.output_std * out

    def to_dict(self) -> dict:
        """JSON-serializable representation (lists of floats)."""
        return {
            "sizes": self.sizes,
            "activations": [a.value for a in self.activations],
            "weights": [w.tolist() for w in self.weights],
            "biases": [b.tolist() for b in self.biases],
            "input_mean": self.input_mean.tolist(),
            "input_std": self.input_std.tolist(),
            "output_mean": self.output_mean.tolist(),
            "output_std": self.output_std.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "NetworkSpec":
        """Inverse of :meth:`to_dict`; validates every field."""
        missing = [k for k in ("sizes", "activations", "weights", "biases") if k not in data]
        if missing:
            raise NetworkConfigError(f"network data is missing field(s) {missing}")
        return cls(
            sizes=data["sizes"],
            activations=data["activations"],
            weights=[np.asarray(w) for w in data["weights"]],
            biases=[np.asarray(b) for b in data["biases"]],
            input_mean=data.get("input_mean"),
            input_std=data.get("input_std"),
            output_mean=data.get("output_mean"),
            output_std=data.get("output_std"),
        )
