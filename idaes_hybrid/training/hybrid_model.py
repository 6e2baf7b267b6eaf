"""One object for a hybrid unit model as the workflow uses it: :class:`HybridModel`.

Prediction (:func:`~idaes_hybrid.training.predict.simulate`), feed optimization
(:func:`~idaes_hybrid.optimize.feed.optimize_feed`), the twin's state estimate and the
ensemble's members all build the same flowsheet of one experiment from the same
values: the model definition, its physics parameters, the network's inputs and
weights, the collocation, the unit's extra options and the solver's options. A
:class:`HybridModel` carries them together; a saved model gives one with
:meth:`~idaes_hybrid.output.saved.SavedModel.hybrid_model`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.model.trust_region import InputBox
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.problem import Discretization


@dataclass(frozen=True)
class HybridModel:
    """A hybrid unit model with its network: what every experiment's flowsheet is built from.

    Attributes
    ----------
    definition
        The hybrid model (its unit class and names).
    physics
        Physics parameters (with reference kinetics also their parameters).
    network_inputs
        States fed to the network, in order.
    discretization
        Radau collocation of an experiment's horizon.
    spec
        The trained network (weights fixed in prediction and optimization); ``None``
        when only the reference kinetics are used.
    formulation
        How the network meets the solver (``BATCHED``: the callback path).
    unit_config
        Extra CONFIG options of the unit (the ``[unit]`` table).
    solver_options
        Ipopt-style options of every solve.
    input_box
        The network inputs' range in training (the trust region), if known.
    """

    definition: HybridModelDefinition
    physics: Mapping[str, float] = field(default_factory=dict)
    network_inputs: tuple[str, ...] = ()
    discretization: Discretization = field(default_factory=Discretization)
    spec: NetworkSpec | None = field(default=None, repr=False)
    formulation: Formulation = Formulation.BATCHED
    unit_config: Mapping[str, Any] | None = None
    solver_options: Mapping[str, Any] | None = None
    input_box: InputBox | None = None

    def __post_init__(self) -> None:
        physics = {**self.definition.physics_defaults, **dict(self.physics)}
        object.__setattr__(self, "physics", {k: float(v) for k, v in physics.items()})
        inputs = tuple(self.network_inputs or self.definition.default_network_inputs)
        object.__setattr__(self, "network_inputs", inputs)
        object.__setattr__(self, "formulation", Formulation(self.formulation))

    @classmethod
    def of(cls, definition: HybridModelDefinition, spec: NetworkSpec | None = None, *,
           physics: Mapping[str, float] | None = None, network_inputs: Sequence[str] | None = None,
           disc: Discretization | None = None, **options: Any) -> HybridModel:
        """A model of ``definition``: physics and network inputs default to the definition's."""
        return cls(definition, physics or {}, tuple(network_inputs or ()),
                   disc or Discretization(), spec, **options)

    def replace(self, **changes: Any) -> HybridModel:
        """A copy with some attributes changed (``model.replace(spec=trained)``)."""
        return dataclasses.replace(self, **changes)

    @property
    def solver_options_dict(self) -> dict | None:
        """``solver_options`` as a fresh dict (``None`` when not given)."""
        return None if self.solver_options is None else dict(self.solver_options)
