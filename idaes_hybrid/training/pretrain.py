"""Pretrain a :class:`~idaes_hybrid.nn.network.NetworkSpec` on input/output data.

Pretraining fits the network to sampled data before it is embedded in a Pyomo
model, giving the NLP a good starting point. The fit works on normalized data,
using the normalization constants already stored in the spec (see
:func:`normalization_from_data` to compute them), and starts from the spec's
current weights.

Two backends run the same float64 optimization (mini-batch Adam on the mean
squared error of the normalized outputs plus an L2 penalty on the weight
matrices), chosen with :class:`PretrainBackend`: ``NUMPY`` (the default, hand-written
back-propagation in :mod:`idaes_hybrid.training.pretrain_numpy`; no TensorFlow
import, which costs several seconds) and ``KERAS``. The Keras backend runs a
small float64 loop (``tf.GradientTape`` + Keras ``Adam``) rather than ``model.fit``:
Keras 3 casts NumPy data given to ``fit`` and the compiled loss to
``keras.config.floatx()`` (float32 by default), which would lose precision, and mixes
dtypes with float64 regularization losses.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

import numpy as np

import idaes.logger as idaeslog

from idaes_hybrid.nn.network import NetworkConfigError, NetworkSpec
from idaes_hybrid.training.pretrain_numpy import AdamSettings, fit_numpy

_log = idaeslog.getLogger(__name__)


class PretrainBackend(str, enum.Enum):
    """Library that runs the pre-training fit."""

    NUMPY = "numpy"
    KERAS = "keras"


#: Default smallest standard deviation returned by :func:`normalization_from_data`.
MIN_STD = 1e-8


@dataclass
class PretrainResult:
    """Outcome of :func:`pretrain_network`.

    Attributes
    ----------
    spec
        The trained network (a new object; the input spec is not changed).
    loss
        Training objective after the last epoch: mean squared error of the
        normalized outputs plus the L2 penalty, averaged over the epoch's batches
        as Keras reports it.
    mse
        Mean squared error of the normalized outputs of the trained network on
        the full data set (no penalty), evaluated after training.
    epochs
        Number of epochs run.
    wall_time_s
        Wall-clock time of the fit in seconds.
    loss_history
        Training objective after each epoch.
    """

    spec: NetworkSpec
    loss: float
    mse: float
    epochs: int
    wall_time_s: float
    loss_history: list[float] = field(default_factory=list)


def normalization_from_data(
    inputs: np.ndarray, outputs: np.ndarray, min_std: float = MIN_STD
) -> dict[str, np.ndarray]:
    """Per-column means and standard deviations of training data.

    Parameters
    ----------
    inputs
        Array of shape ``(n_points, n_inputs)``.
    outputs
        Array of shape ``(n_points, n_outputs)`` (or ``(n_points,)`` for one output).
    min_std
        Floor applied to every standard deviation, so a constant column does not
        cause a division by zero. Must be positive.

    Returns
    -------
    dict
        Keys ``input_mean``, ``input_std``, ``output_mean``, ``output_std``
        (1-D float arrays), matching the :class:`NetworkSpec` fields, so
        ``NetworkSpec(..., **normalization_from_data(v, z))`` works. Standard
        deviations are population values (``ddof=0``).

    Raises
    ------
    ValueError
        If the arrays are empty, not finite, have different numbers of rows, or
        ``min_std`` is not positive.
    """
    if not min_std > 0:
        raise ValueError(f"min_std={min_std!r} must be positive")
    v, z = _as_2d("inputs", inputs), _as_2d("outputs", outputs)
    if v.shape[0] != z.shape[0]:
        raise ValueError(f"inputs have {v.shape[0]} rows but outputs have {z.shape[0]}")
    return {
        "input_mean": v.mean(axis=0),
        "input_std": np.maximum(v.std(axis=0), min_std),
        "output_mean": z.mean(axis=0),
        "output_std": np.maximum(z.std(axis=0), min_std),
    }


def _as_2d(name: str, data: np.ndarray) -> np.ndarray:
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {np.shape(data)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def pretrain_network(spec: NetworkSpec, inputs: np.ndarray, outputs: np.ndarray, epochs: int = 200,
                     batch_size: int = 32, learning_rate: float = 1e-3, l2: float = 1e-3,
                     seed: int = 0, logger=None,
                     backend: PretrainBackend | str = PretrainBackend.NUMPY) -> PretrainResult:
    """Fit a network to data with the Adam optimizer.

    The objective is the mean squared error of the normalized outputs,
    ``mean(((z - output_mean) / output_std - NN((v - input_mean) / input_std))**2)``,
    plus ``l2 * sum(W**2)`` over all weight matrices (biases are not
    penalized). The spec's normalization constants are used as they are (set
    them first, e.g. with :func:`normalization_from_data`); training starts from
    the spec's current weights.

    The run is deterministic for a given ``seed``: each epoch's shuffle is drawn
    from ``numpy.random.default_rng(seed)``. The Keras backend also calls
    ``keras.utils.set_random_seed`` (this changes the global random state of
    Python, NumPy and TensorFlow).

    Parameters
    ----------
    spec
        The network to train; not modified.
    inputs
        Raw inputs, shape ``(n_points, n_inputs)``.
    outputs
        Raw outputs, shape ``(n_points, n_outputs)`` (or ``(n_points,)`` for one output).
    epochs, batch_size, learning_rate, l2, seed
        Passes over the data, mini-batch size, Adam step size, L2 penalty coefficient on
        the weight matrices (0 disables it) and random seed of the shuffling
        (:class:`~idaes_hybrid.training.pretrain_numpy.AdamSettings`).
    logger
        Logger for progress messages (every ~50 epochs, at INFO level);
        defaults to this module's IDAES logger.
    backend
        ``NUMPY`` (default; no TensorFlow import) or ``KERAS``.

    Returns
    -------
    PretrainResult

    Raises
    ------
    ValueError
        If the data shapes do not match the network or an option is invalid.
    """
    log = logger if logger is not None else _log
    v, z = _check_inputs(spec, inputs, outputs)
    settings = AdamSettings(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                            l2=l2, seed=seed)
    backend = PretrainBackend(backend.lower() if isinstance(backend, str) else backend)
    v_bar = (v - spec.input_mean) / spec.input_std
    z_bar = (z - spec.output_mean) / spec.output_std
    log_every = max(1, min(50, settings.epochs))
    log.info(f"pretraining {spec.sizes} network on {v.shape[0]} points ({backend.value}): "
             f"{settings.epochs} epochs, batch {settings.batch_size}, lr {learning_rate:g}, "
             f"l2 {l2:g}, seed {seed}")

    def report(epoch: int, loss: float) -> None:
        if (epoch + 1) % log_every == 0 or epoch + 1 == settings.epochs:
            log.info(f"pretrain epoch {epoch + 1}/{settings.epochs}: loss {loss:.6g}")

    start = time.perf_counter()
    fit = fit_numpy if backend is PretrainBackend.NUMPY else _fit_keras
    weights, biases, losses = fit(spec, v_bar, z_bar, settings, report)
    wall = time.perf_counter() - start
    trained = NetworkSpec.from_dict({**spec.to_dict(), "weights": weights, "biases": biases})
    mse = float(np.mean((trained.forward_normalized(v_bar) - z_bar) ** 2))
    log.info(f"pretraining done in {wall:.2f} s: loss {losses[-1]:.6g}, normalized MSE {mse:.6g}")
    return PretrainResult(
        spec=trained,
        loss=losses[-1],
        mse=mse,
        epochs=len(losses),
        wall_time_s=wall,
        loss_history=losses,
    )


def _check_inputs(spec: NetworkSpec, inputs: np.ndarray,
                  outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The data as 2-D float arrays, after checking them."""
    v, z = _as_2d("inputs", inputs), _as_2d("outputs", outputs)
    if v.shape[1] != spec.n_inputs:
        raise NetworkConfigError(f"inputs have {v.shape[1]} columns, expected {spec.n_inputs}")
    if z.shape[1] != spec.n_outputs:
        raise NetworkConfigError(f"outputs have {z.shape[1]} columns, expected {spec.n_outputs}")
    if v.shape[0] != z.shape[0]:
        raise ValueError(f"inputs have {v.shape[0]} rows but outputs have {z.shape[0]}")
    return v, z


def _fit_keras(start: NetworkSpec, v_bar: np.ndarray, z_bar: np.ndarray, settings: AdamSettings,
               on_epoch) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """The Keras backend; same arguments and returns as
    :func:`~idaes_hybrid.training.pretrain_numpy.fit_numpy`."""
    import keras
    import tensorflow as tf

    from idaes_hybrid.nn.keras_io import spec_from_keras, spec_to_keras

    keras.utils.set_random_seed(int(settings.seed))
    rng = np.random.default_rng(int(settings.seed))
    spec = NetworkSpec(sizes=list(start.sizes), activations=list(start.activations),
                       weights=[w.copy() for w in start.weights], biases=[b.copy() for b in start.biases])
    model = spec_to_keras(spec, normalization=False)
    variables = model.trainable_variables
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate)
    optimizer.build(variables)
    l2_t = tf.constant(float(settings.l2), dtype=tf.float64)
    sig = (
        tf.TensorSpec([None, spec.n_inputs], tf.float64),
        tf.TensorSpec([None, spec.n_outputs], tf.float64),
    )

    # A hand-written float64 loop: Keras 3's fit() casts NumPy data and the
    # compiled loss to floatx (float32), and its shuffling depends on TF state.
    @tf.function(input_signature=sig)
    def train_step(x_batch: tf.Tensor, y_batch: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            pred = model(x_batch, training=True)
            loss = tf.reduce_mean(tf.square(pred - y_batch))
            loss = loss + l2_t * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    n, losses = v_bar.shape[0], []
    for epoch in range(settings.epochs):
        order = rng.permutation(n)
        total = 0.0
        for lo in range(0, n, settings.batch_size):
            idx = order[lo : lo + settings.batch_size]
            total += float(train_step(tf.constant(v_bar[idx]), tf.constant(z_bar[idx]))) * idx.size
        losses.append(total / n)
        on_epoch(epoch, losses[-1])
    trained = spec_from_keras(model)
    return trained.weights, trained.biases, losses
