"""Pre-training of a dense network in plain numpy (float64), without TensorFlow.

The same optimization as the Keras backend of
:func:`~idaes_hybrid.training.pretrain.pretrain_network`, written out by hand:

* loss: mean squared error of the normalized outputs (mean over points and
  outputs) plus ``l2 * sum(W**2)`` over the weight matrices (biases are not
  penalized);
* gradients: back-propagation through the smooth activations of
  :class:`~idaes_hybrid.nn.network.Activation`;
* optimizer: Adam as Keras 3 implements it (``beta1 = 0.9``, ``beta2 = 0.999``,
  ``epsilon = 1e-7`` added to ``sqrt(v)`` of the uncorrected second moment, with
  the bias corrections folded into the step size);
* mini-batches of ``batch_size`` points, in an order drawn each epoch from
  ``numpy.random.default_rng(seed)`` (the same order as the Keras backend).

Importing this module does not import TensorFlow or Keras (a TensorFlow import
costs several seconds, more than the fit itself for the networks of this project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from idaes_hybrid.nn.batched import activation_derivatives
from idaes_hybrid.nn.network import Activation

#: Adam constants of Keras 3 (``keras.optimizers.Adam`` defaults).
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-7


def loss_and_gradients(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activations: Sequence[Activation],
    x: np.ndarray,
    y: np.ndarray,
    l2: float,
) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Pre-training objective on one batch and its gradient.

    Parameters
    ----------
    weights, biases, activations
        The network, as in :class:`~idaes_hybrid.nn.network.NetworkSpec`
        (``weights[k]`` of shape ``(sizes[k+1], sizes[k])``).
    x
        Normalized inputs, shape ``(n_points, n_inputs)``.
    y
        Normalized target outputs, shape ``(n_points, n_outputs)``.
    l2
        Coefficient of ``sum(W**2)`` over the weight matrices.

    Returns
    -------
    loss : float
        ``mean((NN(x) - y)**2) + l2 * sum_k sum(W_k**2)``.
    grad_weights, grad_biases : list of numpy.ndarray
        Gradients with the shapes of ``weights`` and ``biases``.
    """
    hs, slopes = [x], []
    for w, b, act in zip(weights, biases, activations):
        h, d1, _ = activation_derivatives(act, hs[-1] @ w.T + b)
        hs.append(h)
        slopes.append(d1)
    err = hs[-1] - y
    penalty = sum(float(np.sum(w * w)) for w in weights)
    loss = float(np.mean(err * err)) + l2 * penalty
    delta = (2.0 / err.size) * err  # d loss / d output
    grad_w: list[np.ndarray] = [np.empty(0)] * len(weights)
    grad_b: list[np.ndarray] = [np.empty(0)] * len(weights)
    for k in range(len(weights) - 1, -1, -1):
        delta = delta * slopes[k]  # d loss / d pre-activation of layer k
        grad_w[k] = delta.T @ hs[k] + (2.0 * l2) * weights[k]
        grad_b[k] = delta.sum(axis=0)
        if k > 0:
            delta = delta @ weights[k]
    return loss, grad_w, grad_b


@dataclass
class Adam:
    """Adam optimizer state, updating a list of arrays in place as Keras 3 does.

    Attributes
    ----------
    learning_rate
        Step size.
    beta1, beta2, epsilon
        Decay rates of the moment estimates and the denominator's offset.
    iterations
        Number of steps taken.
    """

    learning_rate: float
    beta1: float = ADAM_BETA1
    beta2: float = ADAM_BETA2
    epsilon: float = ADAM_EPSILON
    iterations: int = 0
    moments: list[np.ndarray] = field(default_factory=list)
    velocities: list[np.ndarray] = field(default_factory=list)

    def step(self, variables: Sequence[np.ndarray], gradients: Sequence[np.ndarray]) -> None:
        """Update ``variables`` in place by one Adam step along ``gradients``."""
        if not self.moments:
            self.moments = [np.zeros_like(v) for v in variables]
            self.velocities = [np.zeros_like(v) for v in variables]
        t = self.iterations + 1
        alpha = self.learning_rate * np.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)
        for var, g, m, v in zip(variables, gradients, self.moments, self.velocities):
            m += (g - m) * (1.0 - self.beta1)
            v += (g * g - v) * (1.0 - self.beta2)
            var -= alpha * m / (np.sqrt(v) + self.epsilon)
        self.iterations = t


@dataclass(frozen=True)
class AdamSettings:
    """Options of a mini-batch Adam fit; see :func:`~idaes_hybrid.training.pretrain.pretrain_network`.

    Raises
    ------
    ValueError
        Naming the option (``epochs=0 must be a positive integer``).
    """

    epochs: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    l2: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        for name, integer in (("epochs", True), ("batch_size", True), ("learning_rate", False)):
            value = getattr(self, name)
            if integer and (isinstance(value, bool) or int(value) != value):
                raise ValueError(f"{name}={value!r} must be an integer")
            if not value > 0:
                raise ValueError(f"{name}={value!r} must be positive")
        if not self.l2 >= 0:
            raise ValueError(f"l2={self.l2!r} must be non-negative")
        object.__setattr__(self, "epochs", int(self.epochs))
        object.__setattr__(self, "batch_size", int(self.batch_size))


def fit_numpy(spec, x: np.ndarray, y: np.ndarray, settings: AdamSettings,
              on_epoch=None) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """Mini-batch Adam fit of a network to normalized data.

    Parameters
    ----------
    spec : NetworkSpec
        Starting network (not modified; copies of its weights are trained; its
        normalization is not used).
    x, y
        Normalized inputs and outputs, shapes ``(n, n_inputs)`` and ``(n, n_outputs)``.
    settings
        Epochs, batch size, learning rate, L2 penalty and seed.
    on_epoch
        Optional callable ``on_epoch(epoch_index, loss)`` called after each epoch.

    Returns
    -------
    weights, biases : list of numpy.ndarray
        The trained network.
    losses : list of float
        Objective of each epoch: the batch objectives averaged with the batch
        sizes as weights (as the Keras backend reports it).
    """
    w = [np.array(a, dtype=np.float64) for a in spec.weights]
    b = [np.array(a, dtype=np.float64) for a in spec.biases]
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(int(settings.seed))
    adam = Adam(learning_rate=float(settings.learning_rate))
    n, losses, size = x.shape[0], [], settings.batch_size
    for epoch in range(settings.epochs):
        order = rng.permutation(n)
        total = 0.0
        for lo in range(0, n, size):
            idx = order[lo : lo + size]
            loss, gw, gb = loss_and_gradients(w, b, spec.activations, x[idx], y[idx], settings.l2)
            adam.step([*w, *b], [*gw, *gb])
            total += loss * idx.size
        losses.append(total / n)
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return w, b, losses
