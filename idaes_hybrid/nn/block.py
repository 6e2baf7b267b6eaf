"""The trainable neural network as an IDAES process block.

A :class:`NeuralNetworkBlock` holds the weights and biases of a dense network as
Pyomo variables and the normalization constants as mutable parameters. It is
evaluated at any number of points (one per experiment and collocation time)
through :meth:`NeuralNetworkBlockData.add_points`; every point shares the one
weight set. Weights are fixed for optimization and free for training::

    m.fs.net = NeuralNetworkBlock(spec=NetworkSpec.dense(2, [8], 1, "tanh"))
    m.fs.net.add_points("kinetics", index, inputs=..., outputs=...)
    m.fs.net.unfix_weights()   # train
    m.fs.net.fix_weights()     # optimize
"""

from __future__ import annotations

from typing import Callable, Hashable, Iterable, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.common.config import ConfigValue, In
from pyomo.core.base.units_container import units as pyunits

import idaes.logger as idaeslog
from idaes.core import declare_process_block_class
from idaes.core.base.process_base import ProcessBlockData

from idaes_hybrid.nn.formulations import FORMULATIONS, Formulation
from idaes_hybrid.nn.network import NetworkConfigError, NetworkSpec

_log = idaeslog.getLogger(__name__)


def _is_spec(value):
    if not isinstance(value, NetworkSpec):
        raise NetworkConfigError(f"spec must be a NetworkSpec, got {type(value).__name__}")
    return value


@declare_process_block_class("NeuralNetworkBlock", doc="Trainable dense neural network")
class NeuralNetworkBlockData(ProcessBlockData):
    """Weights, biases and normalization of a dense network, shared by many points."""

    CONFIG = ProcessBlockData.CONFIG()
    CONFIG.declare("spec", ConfigValue(
        domain=_is_spec, default=None,
        doc="NetworkSpec giving sizes, activations, initial weights and normalization"))
    CONFIG.declare("formulation", ConfigValue(
        domain=In(Formulation), default=Formulation.NESTED,
        doc="How the network is written into the NLP: Formulation.NESTED (one "
            "expression per point) or Formulation.LIFTED (pre-activation variables)"))
    CONFIG.declare("weight_bound", ConfigValue(
        domain=float, default=100.0,
        doc="Absolute bound on every weight and bias (keeps exp() finite in training)"))

    def build(self) -> None:
        """Declare weights, biases and normalization parameters from the spec."""
        super().build()
        spec = self.config.spec
        if spec is None:
            raise NetworkConfigError(f"{self.name}: the 'spec' option is required")
        self.sizes = list(spec.sizes)
        self.activations = list(spec.activations)
        self.n_layers = spec.n_layers
        self._point_blocks: list[str] = []
        self._point_io: dict[str, dict] = {}

        self._add_parameters()
        self._layer_rows: dict[int, tuple[list, list]] = {}
        self._add_normalization()
        self.load_spec(spec)
        self.fix_weights()

    def _add_parameters(self) -> None:
        widx = [(k, i, j) for k in range(self.n_layers)
                for i in range(self.sizes[k + 1]) for j in range(self.sizes[k])]
        bidx = [(k, i) for k in range(self.n_layers) for i in range(self.sizes[k + 1])]
        bound = self.config.weight_bound
        self.weight = pyo.Var(widx, bounds=(-bound, bound), initialize=0.0,
                              units=pyunits.dimensionless, doc="Weights W[layer, out, in]")
        self.bias = pyo.Var(bidx, bounds=(-bound, bound), initialize=0.0,
                            units=pyunits.dimensionless, doc="Biases b[layer, out]")

    def _add_normalization(self) -> None:
        n_in, n_out = self.sizes[0], self.sizes[-1]
        self.input_mean = pyo.Param(range(n_in), mutable=True, initialize=0.0,
                                    doc="Input offsets (in the input's units)")
        self.input_std = pyo.Param(range(n_in), mutable=True, initialize=1.0,
                                   doc="Input scales (in the input's units)")
        self.output_mean = pyo.Param(range(n_out), mutable=True, initialize=0.0,
                                     doc="Output offsets (in the output's units)")
        self.output_std = pyo.Param(range(n_out), mutable=True, initialize=1.0,
                                    doc="Output scales (in the output's units)")

    # ------------------------------------------------------------------ weights
    def fix_weights(self) -> None:
        """Fix all weights and biases (optimization, prediction)."""
        self.weight.fix()
        self.bias.fix()

    def unfix_weights(self) -> None:
        """Free all weights and biases (training)."""
        self.weight.unfix()
        self.bias.unfix()

    @property
    def weights_fixed(self) -> bool:
        """True when every weight and bias is fixed."""
        return all(v.fixed for v in self.weight.values()) and all(v.fixed for v in self.bias.values())

    def load_spec(self, spec: NetworkSpec) -> None:
        """Copy weights and normalization from ``spec`` into the block."""
        if list(spec.sizes) != self.sizes:
            raise NetworkConfigError(
                f"{self.name}: spec sizes {spec.sizes} do not match the block's {self.sizes}")
        if list(spec.activations) != self.activations:
            raise NetworkConfigError(
                f"{self.name}: spec activations {[a.value for a in spec.activations]} do not "
                f"match the block's {[a.value for a in self.activations]}")
        for k, (w, b) in enumerate(zip(spec.weights, spec.biases)):
            for (i, j), val in np.ndenumerate(w):
                self.weight[k, i, j].set_value(float(val))
            for i, val in enumerate(b):
                self.bias[k, i].set_value(float(val))
        for i in range(self.sizes[0]):
            self.input_mean[i] = float(spec.input_mean[i])
            self.input_std[i] = float(spec.input_std[i])
        for i in range(self.sizes[-1]):
            self.output_mean[i] = float(spec.output_mean[i])
            self.output_std[i] = float(spec.output_std[i])

    def to_spec(self) -> NetworkSpec:
        """The block's current weights and normalization as a :class:`NetworkSpec`."""
        weights = [np.array([[pyo.value(self.weight[k, i, j]) for j in range(self.sizes[k])]
                             for i in range(self.sizes[k + 1])]) for k in range(self.n_layers)]
        biases = [np.array([pyo.value(self.bias[k, i]) for i in range(self.sizes[k + 1])])
                  for k in range(self.n_layers)]
        return NetworkSpec(
            sizes=self.sizes, activations=self.activations, weights=weights, biases=biases,
            input_mean=[pyo.value(p) for p in self.input_mean.values()],
            input_std=[pyo.value(p) for p in self.input_std.values()],
            output_mean=[pyo.value(p) for p in self.output_mean.values()],
            output_std=[pyo.value(p) for p in self.output_std.values()],
        )

    def layer_rows(self, layer: int) -> tuple[list[list], list]:
        """``(rows, biases)`` of one layer: ``rows[i][j]`` is ``weight[layer, i, j]``,
        ``biases[i]`` is ``bias[layer, i]`` (looked up once, then reused by every point)."""
        if layer not in self._layer_rows:
            n_out, n_in = self.sizes[layer + 1], self.sizes[layer]
            self._layer_rows[layer] = (
                [[self.weight[layer, i, j] for j in range(n_in)] for i in range(n_out)],
                [self.bias[layer, i] for i in range(n_out)])
        return self._layer_rows[layer]

    def parameter_vars(self) -> Iterable[pyo.Var]:
        """Every weight and bias variable."""
        yield from self.weight.values()
        yield from self.bias.values()

    def parameter_vars_flat(self) -> Iterable[pyo.Var]:
        """Weights and biases in :meth:`NetworkSpec.flat_parameters` order."""
        for k in range(self.n_layers):
            for i in range(self.sizes[k + 1]):
                for j in range(self.sizes[k]):
                    yield self.weight[k, i, j]
            for i in range(self.sizes[k + 1]):
                yield self.bias[k, i]

    def l2_norm_squared(self):
        """Pyomo expression of the sum of squared weights and biases."""
        return sum(v**2 for v in self.parameter_vars())

    # ------------------------------------------------------------------ points
    def add_points(
        self,
        name: str,
        index: Sequence[Hashable],
        inputs: Callable[[Hashable], Sequence],
        outputs: Callable[[Hashable], Sequence[pyo.Var]],
    ) -> pyo.Block:
        """Evaluate the network at every point of ``index``.

        Parameters
        ----------
        name
            Name of the new sub-block holding the points' constraints.
        index
            Hashable point labels (for example ``(experiment, t)`` tuples).
        inputs
            Maps a point to its raw network inputs (variables or expressions), in
            the order of the network's inputs.
        outputs
            Maps a point to the variables that receive the raw network outputs.

        Returns
        -------
        pyomo.environ.Block
            The indexed sub-block; ``blk[p].output_eq[o]`` is the equation of
            output ``o`` at point ``p``.
        """
        if self.find_component(name) is not None:
            raise NetworkConfigError(f"{self.name}: a component named {name!r} already exists")
        index = list(index)
        if not index:
            raise NetworkConfigError(f"{self.name}.add_points({name!r}): index is empty")
        build = FORMULATIONS[self.config.formulation].build
        net = self
        io_map = self._point_io.setdefault(name, {})

        def point_rule(b, *p):
            p = p[0] if len(p) == 1 else p
            v, z = list(inputs(p)), list(outputs(p))
            io_map[p] = (v, z)
            if len(v) != net.sizes[0] or len(z) != net.sizes[-1]:
                raise NetworkConfigError(
                    f"{net.name}.add_points({name!r}) point {p}: got {len(v)} inputs and "
                    f"{len(z)} outputs, the network has {net.sizes[0]} and {net.sizes[-1]}")
            v_bar = [(v[i] - net.input_mean[i] * pyunits.get_units(v[i]))
                     / (net.input_std[i] * pyunits.get_units(v[i])) for i in range(len(v))]
            out = build(net, b, v_bar)
            b.output_eq = pyo.Constraint(range(len(z)), rule=lambda bb, o: z[o] == (
                net.output_mean[o] + net.output_std[o] * out[o]) * pyunits.get_units(z[o]))

        blk = pyo.Block(index, rule=point_rule, doc=f"Network evaluations for {name}")
        self.add_component(name, blk)
        self._point_blocks.append(name)
        return blk

    def point_io(self) -> list[tuple[list, list]]:
        """``(inputs, outputs)`` of every active point, over all point sub-blocks."""
        out = []
        for name in self._point_blocks:
            blk = self.find_component(name)
            out.extend(io for p, io in self._point_io[name].items() if blk[p].active)
        return out

    def point_blocks(self) -> list[pyo.Block]:
        """The sub-blocks created by :meth:`add_points`."""
        return [self.find_component(n) for n in self._point_blocks]

    def point_items(self, active: bool = True) -> list[tuple[pyo.Block, list, list]]:
        """``(point block data, inputs, outputs)`` of every point (only active ones if ``active``)."""
        out = []
        for name in self._point_blocks:
            blk = self.find_component(name)
            out.extend((blk[p], *io) for p, io in self._point_io[name].items()
                       if blk[p].active or not active)
        return out

    def initialize_points(self, outputs: bool = True) -> None:
        """Compute every point's lifted variables (and outputs) from current inputs.

        Parameters
        ----------
        outputs
            Also overwrite the output variables; ``False`` keeps their values (for
            example the smoother's profile) and only sets the lifted variables.
        """
        init_auxiliary = FORMULATIONS[self.config.formulation].initialize
        for blk in self.point_blocks():
            for b in blk.values():
                init_auxiliary(b)
        items = self.point_items(active=False) if outputs else []
        if items:  # in numpy: evaluating the nested Pyomo expressions takes seconds
            z = self.to_spec().predict([[pyo.value(x) for x in v] for _, v, _ in items])
            for (_, _, zvars), row in zip(items, z):
                for var, val in zip(zvars, row):
                    if not var.fixed:
                        var.set_value(float(val), skip_validation=True)


def as_networks(net) -> list:
    """The network blocks ``net`` stands for: ``None`` -> ``[]``, one block -> ``[block]``,
    a sequence of blocks -> that list (a model with several learned terms)."""
    if net is None:
        return []
    if isinstance(net, (list, tuple)):
        return list(net)
    return [net]
