"""Convert :class:`~idaes_hybrid.nn.network.NetworkSpec` to and from Keras.

Three bridges are provided:

* :func:`spec_to_keras` builds a float64 ``keras.Sequential`` model of Dense
  layers, optionally wrapped in the spec's input/output normalization;
* :func:`spec_from_keras` reads such a model (or any Sequential of Dense layers
  with smooth activations) back into a :class:`NetworkSpec`;
* :func:`to_keras_surrogate` wraps a spec in an IDAES
  :class:`~idaes.core.surrogate.keras_surrogate.KerasSurrogate` so it can be used
  in a ``SurrogateBlock`` through OMLT.

Normalization layers are instances of a small custom layer, ``FeatureScaling``,
registered with Keras as ``"idaes_hybrid>FeatureScaling"``. Because the class is
created lazily (importing Keras costs seconds), call :func:`load_keras_model`
(or pass :func:`keras_custom_objects` to ``keras.models.load_model``) to load a
saved model that contains it.

Keras 3 casts NumPy arrays passed to ``model.predict``/``fit`` to
``keras.config.floatx()`` (float32 by default). For float64 results call
``model(x)`` or ``model.predict_on_batch(x)``, or pass a float64 ``tf.data.Dataset``.

OMLT's smooth formulations support only ``tanh``, ``sigmoid``, ``softplus`` and
``linear`` activations; :func:`to_keras_surrogate` raises
:class:`NotImplementedError` for networks that use ``swish``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from idaes_hybrid.nn.network import Activation, NetworkConfigError, NetworkSpec, parse_activation

if TYPE_CHECKING:  # pragma: no cover
    import keras
    from idaes.core.surrogate.keras_surrogate import KerasSurrogate

#: Keras spelling of each activation.
KERAS_ACTIVATIONS = {
    Activation.TANH: "tanh",
    Activation.SIGMOID: "sigmoid",
    Activation.SOFTPLUS: "softplus",
    Activation.SWISH: "silu",
    Activation.LINEAR: "linear",
}

#: Activations that OMLT's full-space and reduced-space smooth formulations support.
OMLT_ACTIVATIONS = frozenset(
    {Activation.TANH, Activation.SIGMOID, Activation.SOFTPLUS, Activation.LINEAR}
)

#: Registered name of the normalization layer.
FEATURE_SCALING_NAME = "idaes_hybrid>FeatureScaling"

_FEATURE_SCALING_CLASS: type | None = None


def _feature_scaling_class() -> type:
    """Create (once) and return the registered ``FeatureScaling`` layer class."""
    global _FEATURE_SCALING_CLASS
    if _FEATURE_SCALING_CLASS is not None:
        return _FEATURE_SCALING_CLASS
    import keras

    @keras.saving.register_keras_serializable(package="idaes_hybrid", name="FeatureScaling")
    class FeatureScaling(keras.layers.Layer):
        """Per-feature affine scaling with fixed constants.

        ``inverse=False`` normalizes, ``y = (x - mean) / std``; ``inverse=True``
        denormalizes, ``y = mean + std * x``. The constants are stored in the
        layer config (exact float64 round trip) and are not trainable.
        """

        def __init__(
            self, mean: Sequence[float], std: Sequence[float], inverse: bool = False, **kwargs: Any
        ) -> None:
            super().__init__(**kwargs)
            self.mean = [float(m) for m in np.asarray(mean, dtype=float).reshape(-1)]
            self.std = [float(s) for s in np.asarray(std, dtype=float).reshape(-1)]
            self.inverse = bool(inverse)
            if len(self.mean) != len(self.std):
                raise ValueError(
                    f"FeatureScaling got {len(self.mean)} means and {len(self.std)} stds"
                )

        def call(self, inputs: Any) -> Any:
            mean = keras.ops.convert_to_tensor(np.asarray(self.mean), dtype=self.compute_dtype)
            std = keras.ops.convert_to_tensor(np.asarray(self.std), dtype=self.compute_dtype)
            if self.inverse:
                return mean + std * inputs
            return (inputs - mean) / std

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

        def get_config(self) -> dict:
            config = super().get_config()
            config.update({"mean": list(self.mean), "std": list(self.std), "inverse": self.inverse})
            return config

    _FEATURE_SCALING_CLASS = FeatureScaling
    return FeatureScaling


def keras_custom_objects() -> dict[str, type]:
    """``custom_objects`` for ``keras.models.load_model`` of a :func:`spec_to_keras` model."""
    return {FEATURE_SCALING_NAME: _feature_scaling_class()}


def load_keras_model(path: str) -> "keras.Model":
    """Load a ``.keras`` file (from ``model.save``), registering the normalization layer first."""
    import keras

    return keras.models.load_model(path, custom_objects=keras_custom_objects())


def _dense_model(spec: NetworkSpec, normalization: bool) -> "keras.Sequential":
    """Build the float64 Sequential model."""
    import keras

    layers: list[Any] = [keras.Input(shape=(spec.n_inputs,), dtype="float64", name="inputs")]
    if normalization:
        scaling = _feature_scaling_class()
        layers.append(
            scaling(
                spec.input_mean,
                spec.input_std,
                inverse=False,
                dtype="float64",
                name="input_normalization",
            )
        )
    for k, act in enumerate(spec.activations):
        layers.append(
            keras.layers.Dense(
                spec.sizes[k + 1],
                activation=KERAS_ACTIVATIONS[act],
                dtype="float64",
                name=f"dense_{k}",
            )
        )
    if normalization:
        layers.append(
            scaling(
                spec.output_mean,
                spec.output_std,
                inverse=True,
                dtype="float64",
                name="output_denormalization",
            )
        )
    model = keras.Sequential(layers, name="network")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, w, b in zip(dense, spec.weights, spec.biases):
        layer.set_weights(
            [np.asarray(w, dtype=np.float64).T.copy(), np.asarray(b, dtype=np.float64).copy()]
        )
    return model


def spec_to_keras(spec: NetworkSpec, normalization: bool = True) -> "keras.Sequential":
    """Build a float64 Keras model that computes the same function as ``spec``.

    Parameters
    ----------
    spec
        The network to convert. Its arrays are copied, not shared.
    normalization
        If True, the model maps raw inputs to raw outputs: it starts with a
        ``FeatureScaling`` layer that applies ``(v - input_mean) / input_std`` and
        ends with one that applies ``output_mean + output_std * y``. If False, the
        model contains only the Dense layers and maps normalized inputs to
        normalized outputs.

    Returns
    -------
    keras.Sequential
        Dense layers named ``dense_0``, ``dense_1``, ... with activations
        ``tanh``, ``sigmoid``, ``softplus``, ``silu`` (swish) or ``linear``; all
        layers use ``dtype="float64"``.
    """
    return _dense_model(spec, normalization)


def _layer_activation_name(layer: Any) -> Any:
    """Return the activation name of a Dense layer as Keras serializes it."""
    name = layer.get_config().get("activation")
    if isinstance(name, str) or name is None:
        return name
    return getattr(layer.activation, "__name__", repr(layer.activation))


def _pick(name: str, from_layer: np.ndarray | None, given: Any) -> Any:
    if from_layer is not None and given is not None:
        raise NetworkConfigError(
            f"{name} was passed, but the model already has a normalization layer that sets it"
        )
    return from_layer if from_layer is not None else given


def _dense_layer(layer, scaling: type, n_in: int | None) -> tuple[Activation, np.ndarray, np.ndarray]:
    """A Dense layer's activation, kernel ``(in, out)`` and bias, checked (``n_in``: the
    previous layer's outputs)."""
    import keras

    if isinstance(layer, scaling):
        raise NetworkConfigError(
            f"layer {layer.name!r} is a FeatureScaling layer in an unsupported position; a "
            "normalizing one may only come first and a denormalizing one only last"
        )
    if not isinstance(layer, keras.layers.Dense):
        raise NetworkConfigError(
            f"layer {layer.name!r} of type {type(layer).__name__} is not supported: only Dense "
            "layers (and the normalization layers written by spec_to_keras) can be converted"
        )
    act = parse_activation(_layer_activation_name(layer), field_name=f"layer {layer.name} activation")
    params = layer.get_weights()
    if not params:
        raise NetworkConfigError(
            f"layer {layer.name!r} has no weights; build the model (give it an Input) first"
        )
    kernel = np.asarray(params[0], dtype=np.float64)
    if kernel.ndim != 2:
        raise NetworkConfigError(f"layer {layer.name!r} has a kernel of shape {kernel.shape}, expected 2-D")
    bias = np.asarray(params[1] if len(params) > 1 else np.zeros(kernel.shape[1]), float)
    if n_in is not None and kernel.shape[0] != n_in:
        raise NetworkConfigError(
            f"layer {layer.name!r} expects {kernel.shape[0]} inputs but the previous layer "
            f"has {n_in} outputs"
        )
    return act, kernel, bias


def spec_from_keras(
    model: "keras.Model",
    input_mean: Sequence[float] | None = None,
    input_std: Sequence[float] | None = None,
    output_mean: Sequence[float] | None = None,
    output_std: Sequence[float] | None = None,
) -> NetworkSpec:
    """Read a Keras Sequential model of Dense layers into a :class:`NetworkSpec`.

    Parameters
    ----------
    model
        A built ``keras.Sequential`` whose layers are Dense layers with smooth
        activations, optionally preceded by a normalizing and followed by a
        denormalizing ``FeatureScaling`` layer (as written by
        :func:`spec_to_keras`). ``InputLayer`` entries are ignored.
    input_mean, input_std, output_mean, output_std
        Normalization constants for a model without normalization layers
        (default 0 and 1). Passing a constant that a normalization layer of the
        model already sets is an error.

    Returns
    -------
    NetworkSpec
        A new spec; weights are transposed to shape ``(out, in)`` and cast to float64.

    Raises
    ------
    NetworkConfigError
        If a layer is not Dense (the message names the layer), an activation is
        unknown or non-smooth such as ReLU (message from
        :func:`~idaes_hybrid.nn.network.parse_activation`), a normalization layer
        is misplaced, or the model has not been built.
    """
    import keras

    if not isinstance(model, keras.Sequential):
        raise NetworkConfigError(
            f"model {model.name!r} is a {type(model).__name__}; only keras.Sequential is supported"
        )
    scaling = _feature_scaling_class()
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    norms: dict[str, np.ndarray | None] = dict.fromkeys(
        ("in_mean", "in_std", "out_mean", "out_std")
    )
    if layers and isinstance(layers[0], scaling) and not layers[0].inverse:
        first = layers.pop(0)
        norms["in_mean"], norms["in_std"] = np.array(first.mean), np.array(first.std)
    if layers and isinstance(layers[-1], scaling) and layers[-1].inverse:
        last = layers.pop()
        norms["out_mean"], norms["out_std"] = np.array(last.mean), np.array(last.std)
    if not layers:
        raise NetworkConfigError(f"model {model.name!r} contains no Dense layers")

    sizes: list[int] = []
    activations: list[Activation] = []
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    for layer in layers:
        act, kernel, bias = _dense_layer(layer, scaling, sizes[-1] if sizes else None)
        if not sizes:
            sizes.append(kernel.shape[0])
        sizes.append(kernel.shape[1])
        activations.append(act)
        weights.append(kernel.T.copy())
        biases.append(bias.copy())

    return NetworkSpec(
        sizes=sizes,
        activations=activations,
        weights=weights,
        biases=biases,
        input_mean=_pick("input_mean", norms["in_mean"], input_mean),
        input_std=_pick("input_std", norms["in_std"], input_std),
        output_mean=_pick("output_mean", norms["out_mean"], output_mean),
        output_std=_pick("output_std", norms["out_std"], output_std),
    )


def _labelled_bounds(input_bounds, labels: list[str]) -> dict[str, tuple[float, float]]:
    """``(lower, upper)`` per input label, from a mapping or a sequence in label order."""
    if not isinstance(input_bounds, Mapping):
        pairs = list(input_bounds)
        if len(pairs) != len(labels):
            raise ValueError(f"got {len(pairs)} input bounds for {len(labels)} inputs")
        input_bounds = dict(zip(labels, pairs))
    missing = [label for label in labels if label not in input_bounds]
    if missing:
        raise ValueError(f"input_bounds has no entry for input(s) {missing}")
    return {label: (float(input_bounds[label][0]), float(input_bounds[label][1])) for label in labels}


def to_keras_surrogate(
    spec: NetworkSpec,
    input_labels: Sequence[str],
    output_labels: Sequence[str],
    input_bounds: Mapping[str, tuple[float, float]] | Sequence[tuple[float, float]],
) -> "KerasSurrogate":
    """Wrap a network in an IDAES ``KerasSurrogate`` for use in a ``SurrogateBlock``.

    The Keras model holds only the Dense layers (OMLT reads nothing else); the
    normalization is passed as ``OffsetScaler`` objects (offset = mean,
    factor = std), which OMLT writes as scaling constraints.

    Parameters
    ----------
    spec
        The network. Its activations must be supported by OMLT.
    input_labels, output_labels
        Names of the inputs and outputs, in the spec's order.
    input_bounds
        ``{label: (lb, ub)}`` in raw units, or a sequence of ``(lb, ub)`` pairs
        in the order of ``input_labels``.

    Returns
    -------
    KerasSurrogate
        Use with ``SurrogateBlock.build_model(surrogate,
        formulation=KerasSurrogate.Formulation.FULL_SPACE)`` (or ``REDUCED_SPACE``).

    Raises
    ------
    NotImplementedError
        If the network uses an activation OMLT's smooth formulations lack
        (``swish``: OMLT 1.2 supports only tanh, sigmoid, softplus and linear).
    ValueError
        If the label or bound counts do not match the network.
    """
    unsupported = sorted({a.value for a in spec.activations if a not in OMLT_ACTIVATIONS})
    if unsupported:
        raise NotImplementedError(
            f"OMLT's smooth formulations do not support the activation(s) {unsupported}; "
            f"a KerasSurrogate can only use {sorted(a.value for a in OMLT_ACTIVATIONS)}"
        )
    input_labels, output_labels = [str(s) for s in input_labels], [str(s) for s in output_labels]
    if len(input_labels) != spec.n_inputs or len(output_labels) != spec.n_outputs:
        raise ValueError(
            f"got {len(input_labels)} input and {len(output_labels)} output labels for a network "
            f"with {spec.n_inputs} inputs and {spec.n_outputs} outputs"
        )
    bounds = _labelled_bounds(input_bounds, input_labels)

    import pandas as pd
    from idaes.core.surrogate.keras_surrogate import KerasSurrogate
    from idaes.core.surrogate.sampling.scaling import OffsetScaler

    input_scaler = OffsetScaler(
        input_labels,
        pd.Series(spec.input_mean, index=input_labels, dtype="float64"),
        pd.Series(spec.input_std, index=input_labels, dtype="float64"),
    )
    output_scaler = OffsetScaler(
        output_labels,
        pd.Series(spec.output_mean, index=output_labels, dtype="float64"),
        pd.Series(spec.output_std, index=output_labels, dtype="float64"),
    )
    return KerasSurrogate(
        spec_to_keras(spec, normalization=False),
        input_labels=input_labels,
        output_labels=output_labels,
        input_bounds=bounds,
        input_scaler=input_scaler,
        output_scaler=output_scaler,
    )
