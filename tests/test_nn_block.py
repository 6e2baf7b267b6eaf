"""Tests of the trainable network block: structure, evaluation, fitting."""

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.util.check_units import assert_units_consistent

from idaes_hybrid.nn.block import NeuralNetworkBlock
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import Activation, NetworkConfigError, NetworkSpec

N_POINTS = 25
EVAL_TOL = 1e-9


def _spec(activation="softplus", seed=3):
    spec = NetworkSpec.dense(3, [6, 5], 2, activation=activation, seed=seed)
    rng = np.random.default_rng(seed)
    for b in spec.biases:
        b[:] = rng.normal(0, 0.3, b.shape)
    spec.input_mean = np.array([1.0, -2.0, 0.5])
    spec.input_std = np.array([2.0, 0.5, 3.0])
    spec.output_mean = np.array([0.3, -1.0])
    spec.output_std = np.array([1.5, 0.2])
    return spec


def _model_with_points(spec, formulation, v):
    m = pyo.ConcreteModel()
    m.P = pyo.RangeSet(0, len(v) - 1)
    m.v = pyo.Var(m.P, range(spec.n_inputs), units=pyo.units.m)
    m.z = pyo.Var(m.P, range(spec.n_outputs), units=pyo.units.s**-1)
    for (p, i), var in m.v.items():
        var.fix(v[p, i])
    m.net = NeuralNetworkBlock(spec=spec, formulation=formulation)
    m.net.add_points("pts", list(m.P), inputs=lambda p: [m.v[p, i] for i in range(spec.n_inputs)],
                     outputs=lambda p: [m.z[p, o] for o in range(spec.n_outputs)])
    return m


@pytest.mark.unit
@pytest.mark.parametrize("formulation", list(Formulation))
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "swish"])
def test_block_matches_numpy_forward(formulation, activation):
    spec = _spec(activation)
    v = np.random.default_rng(1).normal(0, 2, (N_POINTS, 3))
    m = _model_with_points(spec, formulation, v)
    m.net.initialize_points()
    z = np.array([[pyo.value(m.z[p, o]) for o in range(2)] for p in range(N_POINTS)])
    np.testing.assert_allclose(z, spec.predict(v), rtol=0, atol=EVAL_TOL)
    # every point's equations hold at the computed values
    for con in m.component_data_objects(pyo.Constraint, active=True):
        assert abs(pyo.value(con.body) - pyo.value(con.upper)) < 1e-8


@pytest.mark.unit
@pytest.mark.parametrize("formulation", list(Formulation))
def test_block_structure_and_units(formulation):
    spec = _spec()
    m = _model_with_points(spec, formulation, np.zeros((4, 3)))
    assert len(m.net.weight) == 3 * 6 + 6 * 5 + 5 * 2
    assert len(m.net.bias) == 6 + 5 + 2
    assert m.net.weights_fixed
    m.net.unfix_weights()
    assert not any(v.fixed for v in m.net.parameter_vars())
    m.net.fix_weights()
    assert m.net.weights_fixed
    assert_units_consistent(m)
    n_lifted = sum(1 for _ in m.net.pts[0].component_data_objects(pyo.Var)) if formulation is Formulation.LIFTED else 0
    assert n_lifted == (11 if formulation is Formulation.LIFTED else 0)


@pytest.mark.unit
def test_spec_round_trip_through_block():
    spec = _spec("tanh")
    m = _model_with_points(spec, Formulation.NESTED, np.zeros((2, 3)))
    back = m.net.to_spec()
    np.testing.assert_array_equal(back.flat_parameters(), spec.flat_parameters())
    np.testing.assert_array_equal(back.output_std, spec.output_std)
    again = NetworkSpec.from_dict(back.to_dict())
    np.testing.assert_array_equal(again.flat_parameters(), spec.flat_parameters())


@pytest.mark.unit
def test_seeded_initialization_is_reproducible():
    a = NetworkSpec.dense(4, [20, 20], 1, "softplus", seed=7)
    b = NetworkSpec.dense(4, [20, 20], 1, "softplus", seed=7)
    c = NetworkSpec.dense(4, [20, 20], 1, "softplus", seed=8)
    np.testing.assert_array_equal(a.flat_parameters(), b.flat_parameters())
    assert not np.allclose(a.flat_parameters(), c.flat_parameters())
    assert a.n_parameters == 4 * 20 + 20 + 20 * 20 + 20 + 20 + 1


@pytest.mark.unit
@pytest.mark.parametrize("bad, field", [("relu", "relu"), ("elu", "elu"), ("cubic", "cubic")])
def test_bad_activation_is_refused(bad, field):
    with pytest.raises(NetworkConfigError, match=field):
        NetworkSpec.dense(2, [4], 1, activation=bad)


@pytest.mark.unit
def test_mismatched_sizes_are_refused():
    with pytest.raises(NetworkConfigError, match="activations"):
        NetworkSpec(sizes=[2, 3, 1], activations=["tanh"])
    with pytest.raises(NetworkConfigError, match=r"weights\[0\]"):
        NetworkSpec(sizes=[2, 3, 1], activations=["tanh", "linear"],
                    weights=[np.zeros((2, 3)), np.zeros((1, 3))],
                    biases=[np.zeros(3), np.zeros(1)])
    with pytest.raises(NetworkConfigError, match="input_std"):
        NetworkSpec(sizes=[2, 1], activations=["linear"], input_std=[1.0, 0.0])
    with pytest.raises(NetworkConfigError, match="sizes"):
        NetworkSpec(sizes=[2], activations=[])


@pytest.mark.unit
def test_points_with_wrong_width_are_refused():
    spec = _spec()
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2))
    m.net = NeuralNetworkBlock(spec=spec)
    with pytest.raises(NetworkConfigError, match="2 inputs"):
        m.net.add_points("pts", [0], inputs=lambda p: [m.x[0], m.x[1]], outputs=lambda p: [m.x[0], m.x[1]])


@pytest.mark.unit
def test_load_spec_of_other_shape_is_refused():
    m = pyo.ConcreteModel()
    m.net = NeuralNetworkBlock(spec=_spec())
    with pytest.raises(NetworkConfigError, match="sizes"):
        m.net.load_spec(NetworkSpec.dense(3, [4], 2))


@pytest.mark.unit
@pytest.mark.parametrize("formulation", list(Formulation))
def test_block_matches_keras_prediction(formulation):
    """The Pyomo block and the exported Keras model give the same outputs."""
    from idaes_hybrid.nn.keras_io import spec_to_keras

    spec = _spec("softplus", seed=11)
    v = np.random.default_rng(5).normal(0, 2, (N_POINTS, 3))
    keras_out = np.asarray(spec_to_keras(spec)(v))
    m = _model_with_points(spec, formulation, v)
    m.net.initialize_points()
    z = np.array([[pyo.value(m.z[p, o]) for o in range(2)] for p in range(N_POINTS)])
    np.testing.assert_allclose(z, keras_out, rtol=0, atol=EVAL_TOL)


@pytest.mark.unit
@pytest.mark.parametrize("formulation", [Formulation.NESTED, Formulation.BATCHED])
def test_direct_expressions_equal_operator_built_ones(formulation):
    """The pre-activations built without operator dispatch are the very tree that
    ``b + sum(w * h)`` gives (same terms, same order), at every point and output."""
    from idaes_hybrid.nn.formulations import PYOMO_ACTIVATIONS

    spec = _spec()
    m = _model_with_points(spec, formulation, np.random.default_rng(2).normal(0, 1, (3, 3)))
    net = m.net
    for p in range(3):
        v = [m.v[p, i] for i in range(spec.n_inputs)]
        h = [(v[i] - net.input_mean[i] * pyo.units.get_units(v[i]))
             / (net.input_std[i] * pyo.units.get_units(v[i])) for i in range(len(v))]
        for k, act in enumerate(net.activations):
            n_in = net.sizes[k]
            h = [PYOMO_ACTIVATIONS[act](net.bias[k, i] + sum(net.weight[k, i, j] * h[j]
                                                              for j in range(n_in)))
                 for i in range(net.sizes[k + 1])]
        for o in range(spec.n_outputs):
            body = m.net.pts[p].output_eq[o].body
            expected = (m.z[p, o] - (net.output_mean[o] + net.output_std[o] * h[o])
                        * pyo.units.get_units(m.z[p, o]))
            assert str(body) == str(expected)
