"""Tests of the numpy pre-training backend (no TensorFlow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idaes_hybrid.config.run import parse_training
from idaes_hybrid.nn.network import Activation, NetworkSpec
from idaes_hybrid.training.pretrain import (PretrainBackend, normalization_from_data,
                                            pretrain_network)
from idaes_hybrid.training.pretrain_numpy import Adam, loss_and_gradients
from idaes_hybrid.training.train import TrainingSettings

DATA = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor" / "data"

#: A tiny run (as tests/test_cli.py's SMALL), default pre-training backend.
TINY = """\
model = "fed_batch_bioreactor"
[physics]
Yxs = 0.5
Ypx = 0.2
[network]
inputs = ["S"]
hidden = [4]
activation = "softplus"
seed = 0
[discretization]
nfe = 4
ncp = 2
[training]
hessian = "limited-memory"
regularization = 62.0
pretrain_epochs = 20
[solver]
tol = 1e-6
max_iter = 200
[[experiments]]
name = "b1"
data = "{b1}"
initial = {{X = 0.05, P = 0.0, S = 10.0, V = 1.0}}
inputs = {{F = 0.05, Sf = 10.0}}
horizon = 40.0
role = "train"
noise_sd = {{X = 0.05, P = 0.05, S = 0.5, V = 0.1}}
[[experiments]]
name = "val"
data = "{val}"
initial = {{X = 0.1, P = 0.0, S = 8.0, V = 0.9}}
inputs = {{F = 0.05, Sf = 8.0}}
horizon = 40.0
role = "validation"
"""


def regression_data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Samples of z = sin(v0) + v1 v2 - 0.3 v3 on [-2, 2]^4."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(-2.0, 2.0, (n, 4))
    return v, (np.sin(v[:, 0]) + v[:, 1] * v[:, 2] - 0.3 * v[:, 3])[:, None]


def start_spec(v: np.ndarray, z: np.ndarray, activation: str = "tanh") -> NetworkSpec:
    spec = NetworkSpec.dense(4, [12, 12], 1, activation=activation, seed=0)
    for name, value in normalization_from_data(v, z).items():
        setattr(spec, name, value)
    return spec


@pytest.mark.unit
@pytest.mark.parametrize("activation", [a.value for a in Activation])
def test_gradient_matches_finite_differences(activation):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    spec = NetworkSpec.dense(3, [5, 4], 2, activation=activation, seed=1)
    for b in spec.biases:
        b[:] = rng.normal(scale=0.3, size=b.shape)
    l2 = 0.05

    def loss_at(theta: np.ndarray) -> float:
        s = NetworkSpec.from_dict(spec.to_dict())
        s.set_flat_parameters(theta)
        return loss_and_gradients(s.weights, s.biases, s.activations, x, y, l2)[0]

    _, gw, gb = loss_and_gradients(spec.weights, spec.biases, spec.activations, x, y, l2)
    grad = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(gw, gb)])
    theta, h = spec.flat_parameters(), 1e-6
    fd = np.array([(loss_at(theta + h * e) - loss_at(theta - h * e)) / (2 * h)
                   for e in np.eye(theta.size)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.unit
def test_loss_penalizes_weights_not_biases():
    spec = NetworkSpec.dense(2, [3], 1, seed=0)
    x, y = np.zeros((4, 2)), np.zeros((4, 1))
    base, _, gb = loss_and_gradients(spec.weights, spec.biases, spec.activations, x, y, 0.0)
    pen, gw, gb2 = loss_and_gradients(spec.weights, spec.biases, spec.activations, x, y, 0.5)
    assert pen - base == pytest.approx(0.5 * sum(float(np.sum(w**2)) for w in spec.weights))
    for g, g2 in zip(gb, gb2):
        np.testing.assert_array_equal(g, g2)


@pytest.mark.unit
def test_adam_first_step_is_keras_step():
    adam = Adam(learning_rate=0.1)
    start, g = np.array([1.0, -1.0, 0.5]), np.array([2.0, -3.0, 1e-3])
    var = [start.copy()]
    adam.step(var, [g])
    # Keras' first step: lr * g / (|g| + eps / sqrt(1 - beta2)), about lr * sign(g)
    np.testing.assert_allclose(var[0], start - 0.1 * g / (np.abs(g) + 1e-7 / np.sqrt(1e-3)),
                               rtol=1e-12)
    np.testing.assert_allclose(var[0], [0.9, -0.9, 0.4], atol=1e-3)
    assert adam.iterations == 1


@pytest.mark.unit
def test_backend_setting_and_config():
    assert TrainingSettings().pretrain_backend is PretrainBackend.NUMPY
    assert parse_training({"pretrain_backend": "keras"}).pretrain_backend is PretrainBackend.KERAS
    assert parse_training({"pretrain_backend": "NumPy"}).pretrain_backend is PretrainBackend.NUMPY
    with pytest.raises(ValueError, match="pretrain_backend"):
        parse_training({"pretrain_backend": "torch"})


@pytest.mark.unit
def test_numpy_fit_predicts_targets_and_is_deterministic():
    v, z = regression_data()
    spec = start_spec(v, z)
    options = dict(epochs=150, batch_size=32, learning_rate=5e-3, l2=1e-6, seed=0)
    runs = [pretrain_network(spec, v, z, backend="numpy", **options) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].spec.flat_parameters(), runs[1].spec.flat_parameters())
    assert runs[0].epochs == 150 and len(runs[0].loss_history) == 150
    assert runs[0].loss_history[-1] < 0.2 * runs[0].loss_history[0]
    rmse = float(np.sqrt(np.mean((runs[0].spec.predict(v) - z) ** 2)))
    assert rmse < 0.15 * float(np.std(z))
    assert runs[0].mse == pytest.approx(float(np.mean(((runs[0].spec.predict(v) - z)
                                                      / spec.output_std) ** 2)))


@pytest.mark.component
@pytest.mark.parametrize("activation", ["tanh", "swish"])
def test_numpy_and_keras_backends_agree(activation):
    v, z = regression_data()
    spec = start_spec(v, z, activation)
    options = dict(epochs=60, batch_size=32, learning_rate=5e-3, l2=1e-4, seed=2)
    fits = {b: pretrain_network(spec, v, z, backend=b, **options) for b in PretrainBackend}
    num, ker = fits[PretrainBackend.NUMPY], fits[PretrainBackend.KERAS]
    assert num.loss == pytest.approx(ker.loss, rel=0.2)
    assert num.mse == pytest.approx(ker.mse, rel=0.2)
    # the same float64 optimization: the trajectories agree closely, not only the end point
    np.testing.assert_allclose(num.loss_history, ker.loss_history, rtol=1e-3)
    np.testing.assert_allclose(num.spec.predict(v), ker.spec.predict(v), atol=1e-3 * np.std(z))


@pytest.mark.component
def test_cli_train_with_default_backend_does_not_import_tensorflow(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(b1=(DATA / "b1.csv").as_posix(), val=(DATA / "val.csv").as_posix()))
    code = ("import json, sys\nfrom idaes_hybrid.cli.app import main\n"
            f"rc = main(['train', {str(config)!r}, '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
            "print(json.dumps({'rc': rc, 'tf': 'tensorflow' in sys.modules, "
            "'keras': 'keras' in sys.modules}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "tf": False, "keras": False}, proc.stderr
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["stages"]["pretrain"]["status"] == "ok"
