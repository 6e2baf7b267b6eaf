"""Tests of the NetworkSpec <-> Keras bridge and the IDAES KerasSurrogate export."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from idaes_hybrid.nn import keras_io
from idaes_hybrid.nn.network import Activation, NetworkConfigError, NetworkSpec

SMOOTH = [Activation.TANH, Activation.SIGMOID, Activation.SOFTPLUS, Activation.SWISH]
POUNCE = Path(sys.executable).parent / "pounce"


def make_spec(activation: Activation, seed: int = 1) -> NetworkSpec:
    """A 3-input, 2-output network with random biases and non-trivial normalization."""
    spec = NetworkSpec.dense(3, [7, 5], 2, activation=activation, seed=seed)
    rng = np.random.default_rng(seed + 100)
    spec.biases = [rng.normal(scale=0.3, size=b.shape) for b in spec.biases]
    spec.input_mean = np.array([1.5, -20.0, 300.0])
    spec.input_std = np.array([0.25, 4.0, 50.0])
    spec.output_mean = np.array([12.0, -0.3])
    spec.output_std = np.array([3.0, 0.01])
    return spec


def raw_inputs(spec: NetworkSpec, n: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return spec.input_mean + 2.0 * spec.input_std * rng.standard_normal((n, spec.n_inputs))


def float64_predict(model, x: np.ndarray) -> np.ndarray:
    """``model.predict`` on a float64 dataset (NumPy input would be cast to float32)."""
    import tensorflow as tf

    return model.predict(tf.data.Dataset.from_tensor_slices(x).batch(32), verbose=0)


def assert_specs_identical(a: NetworkSpec, b: NetworkSpec) -> None:
    assert a.sizes == b.sizes
    assert a.activations == b.activations
    for name in ("weights", "biases"):
        for x, y in zip(getattr(a, name), getattr(b, name)):
            np.testing.assert_array_equal(x, y)
    for name in ("input_mean", "input_std", "output_mean", "output_std"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.component
@pytest.mark.parametrize("activation", SMOOTH)
def test_round_trip_is_identical(activation):
    spec = make_spec(activation)
    before = spec.to_dict()
    back = keras_io.spec_from_keras(keras_io.spec_to_keras(spec))
    assert_specs_identical(spec, back)
    assert spec.to_dict() == before  # the input spec is not changed


@pytest.mark.component
def test_round_trip_without_normalization_layers():
    spec = make_spec(Activation.TANH)
    model = keras_io.spec_to_keras(spec, normalization=False)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"] * 3
    assert all(layer.dtype_policy.name == "float64" for layer in model.layers)
    back = keras_io.spec_from_keras(
        model,
        input_mean=spec.input_mean,
        input_std=spec.input_std,
        output_mean=spec.output_mean,
        output_std=spec.output_std,
    )
    assert_specs_identical(spec, back)
    plain = keras_io.spec_from_keras(model)
    np.testing.assert_array_equal(plain.input_std, np.ones(3))
    np.testing.assert_array_equal(plain.output_mean, np.zeros(2))


@pytest.mark.component
@pytest.mark.parametrize("activation", SMOOTH)
def test_keras_predict_matches_spec(activation):
    spec = make_spec(activation)
    x = raw_inputs(spec)
    expected = spec.predict(x)
    assert np.ptp(expected, axis=0).min() > 1e-3  # the outputs really vary
    model = keras_io.spec_to_keras(spec)
    np.testing.assert_allclose(float64_predict(model, x), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.predict_on_batch(x), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=0, atol=1e-9)
    bare = keras_io.spec_to_keras(spec, normalization=False)
    x_bar = (x - spec.input_mean) / spec.input_std
    np.testing.assert_allclose(
        float64_predict(bare, x_bar), spec.forward_normalized(x_bar), rtol=0, atol=1e-12
    )


@pytest.mark.component
def test_numpy_predict_is_float64_when_floatx_is_float64():
    import keras

    spec = make_spec(Activation.SOFTPLUS)
    x = raw_inputs(spec)
    model = keras_io.spec_to_keras(spec)
    old = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        y = model.predict(x, verbose=0)
    finally:
        keras.config.set_floatx(old)
    np.testing.assert_allclose(y, spec.predict(x), rtol=0, atol=1e-9)


@pytest.mark.component
def test_save_and_load(tmp_path):
    spec = make_spec(Activation.SWISH)
    path = tmp_path / "net.keras"
    keras_io.spec_to_keras(spec).save(path)
    loaded = keras_io.load_keras_model(str(path))
    assert_specs_identical(spec, keras_io.spec_from_keras(loaded))
    x = raw_inputs(spec)
    np.testing.assert_allclose(float64_predict(loaded, x), spec.predict(x), rtol=0, atol=1e-9)


@pytest.mark.component
def test_import_model_built_with_keras_dense():
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(3,), dtype="float64"),
            keras.layers.Dense(6, activation="tanh", dtype="float64"),
            keras.layers.Dense(4, activation="swish", dtype="float64"),
            keras.layers.Dense(5, activation=keras.activations.softplus, dtype="float64"),
            keras.layers.Dense(3, activation="sigmoid", dtype="float64"),
            keras.layers.Dense(2, dtype="float64"),
        ]
    )
    mean, std = np.array([1.0, 2.0, 3.0]), np.array([0.5, 2.0, 4.0])
    out_mean, out_std = np.array([-1.0, 5.0]), np.array([2.0, 0.1])
    spec = keras_io.spec_from_keras(model, mean, std, out_mean, out_std)
    assert spec.sizes == [3, 6, 4, 5, 3, 2]
    assert spec.activations == [
        Activation.TANH,
        Activation.SWISH,
        Activation.SOFTPLUS,
        Activation.SIGMOID,
        Activation.LINEAR,
    ]
    x = np.random.default_rng(3).normal(size=(100, 3)) * 3
    expected = out_mean + out_std * float64_predict(model, (x - mean) / std)
    np.testing.assert_allclose(spec.predict(x), expected, rtol=0, atol=1e-9)


@pytest.mark.component
def test_import_float32_model_without_bias():
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            keras.layers.Dense(4, "tanh"),
            keras.layers.Dense(1, use_bias=False),
        ]
    )
    spec = keras_io.spec_from_keras(model)
    assert spec.weights[0].dtype == np.float64
    np.testing.assert_array_equal(spec.biases[1], np.zeros(1))
    x = np.random.default_rng(0).normal(size=(20, 2))
    np.testing.assert_allclose(spec.predict(x), np.asarray(model(x.astype("float32"))), atol=1e-5)


@pytest.mark.component
@pytest.mark.parametrize("name", ["relu", "elu", "gelu"])
def test_nonsmooth_or_unknown_activation_rejected(name):
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            keras.layers.Dense(4, activation=name, name="hidden_a"),
            keras.layers.Dense(1),
        ]
    )
    with pytest.raises(NetworkConfigError, match=f"layer hidden_a activation='{name}'"):
        keras_io.spec_from_keras(model)


@pytest.mark.component
def test_relu_message_explains_smoothness():
    import keras

    model = keras.Sequential(
        [keras.Input(shape=(2,)), keras.layers.Dense(1, activation="relu", name="out")]
    )
    with pytest.raises(NetworkConfigError, match="not twice continuously differentiable"):
        keras_io.spec_from_keras(model)


@pytest.mark.component
@pytest.mark.parametrize(
    "layers, bad",
    [
        (
            lambda k: [
                k.Input(shape=(4,)),
                k.layers.Dense(3),
                k.layers.Dropout(0.1, name="drop"),
                k.layers.Dense(1),
            ],
            "drop",
        ),
        (
            lambda k: [
                k.Input(shape=(4,)),
                k.layers.Dense(3),
                k.layers.ReLU(name="relu_layer"),
                k.layers.Dense(1),
            ],
            "relu_layer",
        ),
        (
            lambda k: [
                k.Input(shape=(4, 1)),
                k.layers.Conv1D(2, 2, name="conv"),
                k.layers.Flatten(),
                k.layers.Dense(1),
            ],
            "conv",
        ),
    ],
)
def test_non_dense_layers_rejected(layers, bad):
    import keras

    model = keras.Sequential(layers(keras))
    with pytest.raises(NetworkConfigError, match=f"layer '{bad}' of type .* is not supported"):
        keras_io.spec_from_keras(model)


@pytest.mark.component
def test_normalization_conflicts_and_misplacement_rejected():
    import keras

    spec = make_spec(Activation.TANH)
    model = keras_io.spec_to_keras(spec)
    with pytest.raises(NetworkConfigError, match="input_mean was passed"):
        keras_io.spec_from_keras(model, input_mean=np.zeros(3))
    scaling = type(model.layers[0])
    bad = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(3),
            scaling([0.0] * 3, [1.0] * 3, name="mid"),
            keras.layers.Dense(1),
        ]
    )
    with pytest.raises(NetworkConfigError, match="layer 'mid' is a FeatureScaling layer"):
        keras_io.spec_from_keras(bad)


@pytest.mark.component
def test_functional_model_rejected():
    import keras

    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="func")
    with pytest.raises(NetworkConfigError, match="model 'func' is a Functional"):
        keras_io.spec_from_keras(model)


def _surrogate_outputs(spec: NetworkSpec, x: np.ndarray, formulation_name: str) -> np.ndarray:
    """Fix the inputs of a SurrogateBlock and solve the square system with pounce."""
    import pyomo.environ as pyo
    from idaes.core.surrogate.keras_surrogate import KerasSurrogate
    from idaes.core.surrogate.surrogate_block import SurrogateBlock
    from idaes.core.util.model_statistics import degrees_of_freedom

    in_labels, out_labels = ["T", "P", "F"], ["y", "q"]
    bounds = {
        lab: (m - 5 * s, m + 5 * s) for lab, m, s in zip(in_labels, spec.input_mean, spec.input_std)
    }
    surrogate = keras_io.to_keras_surrogate(spec, in_labels, out_labels, bounds)
    m = pyo.ConcreteModel()
    m.surr = SurrogateBlock(concrete=True)
    m.surr.build_model(surrogate, formulation=getattr(KerasSurrogate.Formulation, formulation_name))
    solver = pyo.SolverFactory("asl:pounce", executable=str(POUNCE))
    result = []
    for point in x:
        for lab, val in zip(in_labels, point):
            m.surr.inputs[lab].fix(val)
        assert degrees_of_freedom(m) == 0
        res = solver.solve(m, tee=False)
        pyo.assert_optimal_termination(res)
        result.append([pyo.value(m.surr.outputs[lab]) for lab in out_labels])
    return np.array(result)


@pytest.mark.component
@pytest.mark.skipif(not POUNCE.exists(), reason="pounce solver not installed")
@pytest.mark.parametrize("activation", [Activation.TANH, Activation.SIGMOID, Activation.SOFTPLUS])
def test_keras_surrogate_full_space_matches_spec(activation):
    spec = make_spec(activation)
    x = raw_inputs(spec, n=4, seed=7)
    got = _surrogate_outputs(spec, x, "FULL_SPACE")
    np.testing.assert_allclose(got, spec.predict(x), rtol=1e-7, atol=1e-9)


@pytest.mark.component
@pytest.mark.skipif(not POUNCE.exists(), reason="pounce solver not installed")
def test_keras_surrogate_reduced_space_matches_spec():
    spec = make_spec(Activation.TANH)
    x = raw_inputs(spec, n=2, seed=8)
    np.testing.assert_allclose(
        _surrogate_outputs(spec, x, "REDUCED_SPACE"), spec.predict(x), rtol=1e-7, atol=1e-9
    )


@pytest.mark.component
def test_keras_surrogate_evaluate_and_scalers():
    import pandas as pd

    spec = make_spec(Activation.SIGMOID)
    surrogate = keras_io.to_keras_surrogate(
        spec, ["T", "P", "F"], ["y", "q"], [(-1, 4), (-40, 0), (0, 600)]
    )
    assert surrogate.input_bounds() == {"T": (-1.0, 4.0), "P": (-40.0, 0.0), "F": (0.0, 600.0)}
    np.testing.assert_array_equal(
        surrogate._input_scaler.factor_series().to_numpy(), spec.input_std
    )
    x = raw_inputs(spec, n=5)
    got = surrogate.evaluate_surrogate(pd.DataFrame(x, columns=["T", "P", "F"])).to_numpy()
    # IDAES feeds NumPy to model.predict, which Keras casts to float32.
    np.testing.assert_allclose(got, spec.predict(x), rtol=1e-5, atol=1e-5)


@pytest.mark.unit
def test_keras_surrogate_rejects_swish():
    spec = make_spec(Activation.SWISH)
    with pytest.raises(NotImplementedError, match=r"activation\(s\) \['swish'\]"):
        keras_io.to_keras_surrogate(spec, ["a", "b", "c"], ["y", "z"], [(0, 1)] * 3)


@pytest.mark.unit
def test_keras_surrogate_rejects_bad_labels_and_bounds():
    spec = make_spec(Activation.TANH)
    with pytest.raises(ValueError, match="2 input and 2 output labels"):
        keras_io.to_keras_surrogate(spec, ["a", "b"], ["y", "z"], [(0, 1)] * 2)
    with pytest.raises(ValueError, match="no entry for input"):
        keras_io.to_keras_surrogate(spec, ["a", "b", "c"], ["y", "z"], {"a": (0, 1), "b": (0, 1)})
    with pytest.raises(ValueError, match="got 2 input bounds"):
        keras_io.to_keras_surrogate(spec, ["a", "b", "c"], ["y", "z"], [(0, 1)] * 2)
