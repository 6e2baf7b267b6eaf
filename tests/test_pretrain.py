"""Tests of pretraining of a NetworkSpec (default numpy backend)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from idaes_hybrid.nn.network import NetworkConfigError, NetworkSpec
from idaes_hybrid.training.pretrain import PretrainResult, normalization_from_data, pretrain_network

OPTIONS = dict(epochs=150, batch_size=32, learning_rate=5e-3, l2=1e-6)


def sine_data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Samples of z = sin(v0) + 0.5 v1 on [-2, 2] x [0, 10]."""
    rng = np.random.default_rng(seed)
    v = np.column_stack([rng.uniform(-2.0, 2.0, n), rng.uniform(0.0, 10.0, n)])
    return v, (np.sin(v[:, 0]) + 0.5 * v[:, 1])[:, None]


def sine_spec(v: np.ndarray, z: np.ndarray) -> NetworkSpec:
    spec = NetworkSpec.dense(2, [12, 12], 1, activation="tanh", seed=0)
    for name, value in normalization_from_data(v, z).items():
        setattr(spec, name, value)
    return spec


@pytest.fixture(scope="module")
def sine_runs():
    """Two runs with seed 0 and one with seed 1, from the same starting network."""
    v, z = sine_data()
    spec = sine_spec(v, z)
    before = spec.to_dict()
    runs = [pretrain_network(spec, v, z, seed=s, **OPTIONS) for s in (0, 0, 1)]
    return spec, before, v, z, runs


@pytest.mark.unit
def test_normalization_from_data():
    v = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    z = np.array([2.0, 4.0, 6.0])
    norm = normalization_from_data(v, z)
    assert set(norm) == {"input_mean", "input_std", "output_mean", "output_std"}
    np.testing.assert_allclose(norm["input_mean"], [3.0, 5.0])
    np.testing.assert_allclose(norm["input_std"], [np.std([1.0, 3.0, 5.0]), 1e-8])
    np.testing.assert_allclose(norm["output_mean"], [4.0])
    np.testing.assert_allclose(norm["output_std"], [np.std([2.0, 4.0, 6.0])])
    assert normalization_from_data(v, z, min_std=0.5)["input_std"][1] == 0.5
    spec = NetworkSpec(sizes=[2, 1], activations=["linear"], **norm)  # keys match the fields
    assert np.all(np.isfinite(spec.predict(v)))


@pytest.mark.unit
def test_normalization_from_data_rejects_bad_input():
    with pytest.raises(ValueError, match="3 rows but outputs have 2"):
        normalization_from_data(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        normalization_from_data(np.array([[np.nan]]), np.zeros(1))
    with pytest.raises(ValueError, match="non-empty"):
        normalization_from_data(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match="min_std"):
        normalization_from_data(np.zeros((2, 1)), np.zeros(2), min_std=0.0)


@pytest.mark.component
def test_pretrain_fits_sine(sine_runs):
    spec, _, v, z, runs = sine_runs
    result = runs[0]
    assert isinstance(result, PretrainResult)
    assert result.epochs == OPTIONS["epochs"] == len(result.loss_history)
    assert result.loss == result.loss_history[-1]
    assert result.wall_time_s > 0
    assert result.loss_history[-1] < 0.05 * result.loss_history[0]
    start_mse = float(np.mean((spec.predict(v) - z) ** 2))
    mse = float(np.mean((result.spec.predict(v) - z) ** 2))
    assert start_mse > 1.0
    assert mse < 2e-3  # raw units; z has variance ~ 8.7
    np.testing.assert_allclose(result.mse, mse / spec.output_std[0] ** 2, rtol=1e-9)
    v_test, z_test = sine_data(n=200, seed=5)
    assert float(np.mean((result.spec.predict(v_test) - z_test) ** 2)) < 3e-3


@pytest.mark.component
def test_pretrain_is_reproducible_and_does_not_mutate(sine_runs):
    spec, before, _, _, (a, b, c) = sine_runs
    np.testing.assert_array_equal(a.spec.flat_parameters(), b.spec.flat_parameters())
    assert a.loss_history == b.loss_history
    assert not np.array_equal(a.spec.flat_parameters(), c.spec.flat_parameters())
    assert spec.to_dict() == before
    assert a.spec is not spec
    for name in ("input_mean", "input_std", "output_mean", "output_std"):
        np.testing.assert_array_equal(getattr(a.spec, name), getattr(spec, name))
        assert getattr(a.spec, name) is not getattr(spec, name)


@pytest.mark.component
def test_pretrain_keeps_default_normalization_and_starts_from_weights(caplog):
    v, z = sine_data(n=64)
    spec = NetworkSpec.dense(2, [4], 1, activation="softplus", seed=3)
    logger = logging.getLogger("test_pretrain.progress")
    with caplog.at_level(logging.INFO, logger=logger.name):
        result = pretrain_network(
            spec, v, z[:, 0], epochs=100, learning_rate=1e-12, l2=0.0, logger=logger
        )
    np.testing.assert_array_equal(result.spec.input_mean, np.zeros(2))
    np.testing.assert_array_equal(result.spec.output_std, np.ones(1))
    # a vanishing step leaves the starting weights (almost) unchanged
    np.testing.assert_allclose(result.spec.flat_parameters(), spec.flat_parameters(), atol=1e-9)
    messages = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert any("epoch 50/100" in m for m in messages)
    assert any("epoch 100/100" in m for m in messages)
    assert not any("epoch 49/100" in m for m in messages)


@pytest.mark.component
def test_pretrain_l2_shrinks_weights():
    v, z = sine_data(n=64)
    spec = sine_spec(v, z)
    small = pretrain_network(spec, v, z, epochs=30, learning_rate=1e-2, l2=0.0)
    large = pretrain_network(spec, v, z, epochs=30, learning_rate=1e-2, l2=1.0)
    norm = lambda s: sum(float(np.sum(w**2)) for w in s.weights)  # noqa: E731
    assert norm(large.spec) < 0.5 * norm(small.spec)
    assert large.loss > large.mse  # the reported loss includes the penalty


@pytest.mark.unit
def test_pretrain_rejects_bad_arguments():
    v, z = sine_data(n=10)
    spec = NetworkSpec.dense(2, [3], 1)
    with pytest.raises(NetworkConfigError, match="inputs have 3 columns, expected 2"):
        pretrain_network(spec, np.zeros((10, 3)), z)
    with pytest.raises(NetworkConfigError, match="outputs have 2 columns, expected 1"):
        pretrain_network(spec, v, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="10 rows but outputs have 9"):
        pretrain_network(spec, v, z[:9])
    with pytest.raises(ValueError, match="epochs=0 must be positive"):
        pretrain_network(spec, v, z, epochs=0)
    with pytest.raises(ValueError, match="batch_size=2.5 must be an integer"):
        pretrain_network(spec, v, z, batch_size=2.5)
    with pytest.raises(ValueError, match="l2=-1"):
        pretrain_network(spec, v, z, l2=-1)
