"""How a network is written into the NLP.

Each formulation turns the normalized inputs of one evaluation point into
Pyomo expressions for the normalized outputs. All points share the block's
weight variables; only the per-point auxiliary variables differ.

* ``NESTED``: one nested algebraic expression per output and point; no extra
  variables.
* ``LIFTED``: a variable for every hidden unit's pre-activation at every point,
  with one equality constraint each; expressions stay one layer deep.
* ``BATCHED``: as ``NESTED`` in the Pyomo model, but the solver evaluates every
  point at once through callbacks (see :mod:`idaes_hybrid.solve.batched`).
"""

from __future__ import annotations

import enum
from typing import Callable, NamedTuple, Sequence

import pyomo.environ as pyo
from pyomo.util.calc_var_value import calculate_variable_from_constraint
from pyomo.core.expr.numeric_expr import LinearExpression  # noqa: F401  (documented type)
from pyomo.core.expr.numeric_expr import ProductExpression, SumExpression

from idaes_hybrid.nn.network import Activation


class Formulation(str, enum.Enum):
    """Ways of writing a network into the NLP."""

    NESTED = "nested"
    LIFTED = "lifted"
    #: The Pyomo model holds the nested form (for inspection and diagnostics), but
    #: solves evaluate all points in one numpy batch with exact derivatives
    #: (:mod:`idaes_hybrid.solve.batched`) instead of writing them into the ``.nl`` file.
    BATCHED = "batched"


def _softplus(x):
    return pyo.log(1.0 + pyo.exp(x))


def _sigmoid(x):
    return 1.0 / (1.0 + pyo.exp(-x))


def _swish(x):
    return x / (1.0 + pyo.exp(-x))


PYOMO_ACTIVATIONS: dict[Activation, Callable] = {
    Activation.TANH: pyo.tanh,
    Activation.SIGMOID: _sigmoid,
    Activation.SOFTPLUS: _softplus,
    Activation.SWISH: _swish,
    Activation.LINEAR: lambda x: x,
}


def _affine(net, layer: int, h: Sequence) -> list:
    """Pre-activations ``W_k h + b_k`` of one layer as Pyomo expressions.

    Where every ``h[j]`` is an expression (as the normalized inputs and the activations
    are), the sums are built as
    ``SumExpression([w_i0 * h_0, ..., w_in * h_n, b_i])`` directly: the same tree that
    ``b + sum(w * h)`` gives, without operator dispatch (about 4x faster to build,
    which is most of a model's build time for a 541-weight network at 183 points).
    """
    rows, biases = net.layer_rows(layer)
    if not all(getattr(x, "is_expression_type", lambda: False)() for x in h):
        return [b + sum(w * x for w, x in zip(row, h)) for row, b in zip(rows, biases)]
    return [SumExpression([*[ProductExpression((w, x)) for w, x in zip(row, h)], b])
            for row, b in zip(rows, biases)]


def nested_outputs(net, point_block, v_bar: Sequence) -> list:
    """Normalized outputs as one nested expression per output (no new variables)."""
    h = list(v_bar)
    for k, act in enumerate(net.activations):
        h = [PYOMO_ACTIVATIONS[act](a) for a in _affine(net, k, h)]
    return h


def lifted_outputs(net, point_block, v_bar: Sequence) -> list:
    """Normalized outputs with a pre-activation variable per hidden unit.

    Adds ``point_block.pre[k, i]`` (pre-activation of unit ``i`` in hidden layer
    ``k``) and ``point_block.pre_eq[k, i]`` to ``point_block``.
    """
    hidden = [(k, i) for k in range(net.n_layers - 1) for i in range(net.sizes[k + 1])]
    point_block.pre = pyo.Var(hidden, initialize=0.0, units=pyo.units.dimensionless,
                              doc="Pre-activation of each hidden unit")
    point_block.pre_eq = pyo.Constraint(hidden)
    h = list(v_bar)
    for k in range(net.n_layers - 1):
        act = PYOMO_ACTIVATIONS[net.activations[k]]
        for i, expr in enumerate(_affine(net, k, h)):
            point_block.pre_eq[k, i] = point_block.pre[k, i] == expr
        h = [act(point_block.pre[k, i]) for i in range(net.sizes[k + 1])]
    out_act = PYOMO_ACTIVATIONS[net.activations[-1]]
    return [out_act(a) for a in _affine(net, net.n_layers - 1, h)]


def initialize_lifted(point_block) -> None:
    """Compute a point's pre-activation variables from its current inputs."""
    for k, i in point_block.pre_eq:
        calculate_variable_from_constraint(point_block.pre[k, i], point_block.pre_eq[k, i])


class FormulationRules(NamedTuple):
    """How a formulation builds a point and initializes its auxiliary variables."""

    build: Callable
    initialize: Callable


def _nothing(point_block) -> None:
    return None


#: Dispatch table: formulation -> its build and initialization rules.
FORMULATIONS: dict[Formulation, FormulationRules] = {
    Formulation.NESTED: FormulationRules(nested_outputs, _nothing),
    Formulation.LIFTED: FormulationRules(lifted_outputs, initialize_lifted),
    Formulation.BATCHED: FormulationRules(nested_outputs, _nothing),
}
