"""What the unit workflow needs to know of a hybrid unit model: :class:`HybridModelDefinition`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from pyomo.environ import units as pyunits


@dataclass(frozen=True)
class HybridModelDefinition:
    """Everything the workflow needs to build one experiment of a hybrid model.

    Attributes
    ----------
    name
        Name used in configs (``model = "fed_batch_bioreactor"``).
    unit_class
        IDAES unit model class implementing :class:`~idaes_hybrid.model.contract.HybridUnit`.
    state_names, input_names, learned_names
        As in the contract, repeated here so configs can be validated before a build.
    default_network_inputs
        Network inputs used when a config does not name them.
    physics_defaults
        Physics parameters and their default values.
    time_units
        Units of the time domain.
    nonnegative_states
        States that must stay >= 0 (bounds hold during training and prediction).
    unit_options
        Maps the network input names to extra keyword options of ``unit_class``.
    reference
        Optional known truth of the first learned term, for synthetic studies: a
        factory taking ``reference_parameters`` and returning a function of one
        network input (its argument name names the input).
    reference_parameters
        Default parameters of ``reference``.
    fixed_initial_states
        States whose initial value is fixed in every experiment; ``None`` (the
        default) fixes all of them. A DAE whose algebraic equations tie states
        together at ``t0`` (the tank manifold's ``x0 = x1``) fixes only the
        independent ones; the unit's equations at ``t0`` give the others, and
        their ``initial`` values are only starting guesses.
    simulation_unit_config
        Unit CONFIG options a simulation, an optimization or an estimate adds to the
        run's own (the training model is built without them), e.g. the bioreactor's
        ``uptake_limit``: where the training data hold a state up by its bounds, a
        prediction beyond the data needs the model's own guarantee.
    """

    name: str
    unit_class: type
    state_names: tuple[str, ...]
    input_names: tuple[str, ...]
    learned_names: tuple[str, ...]
    default_network_inputs: tuple[str, ...]
    physics_defaults: dict[str, float] = field(default_factory=dict)
    time_units: object = field(default_factory=lambda: pyunits.h)
    nonnegative_states: tuple[str, ...] = ()
    unit_options: Callable[[list[str]], dict] = field(
        default=lambda inputs: {"network_inputs": list(inputs)})
    reference: Callable[[dict], Callable] | None = None
    reference_parameters: dict[str, float] = field(default_factory=dict)
    fixed_initial_states: tuple[str, ...] | None = None
    simulation_unit_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def initial_states(self) -> tuple[str, ...]:
        """The states whose initial value every experiment fixes (``fixed_initial_states``,
        else all of them)."""
        return tuple(self.state_names if self.fixed_initial_states is None
                     else self.fixed_initial_states)


def definition_problem(definition: HybridModelDefinition) -> str | None:
    """What makes ``definition`` unusable before anything is built (``"field: why"``), or None:
    a ``unit_class`` that is not the class ``declare_process_block_class`` declares (its data
    class is a common slip), a ``time_units`` that is not a Pyomo unit."""
    from pyomo.core.expr.numvalue import NumericValue

    from idaes.core.base.process_base import ProcessBlockData
    from idaes.core.base.process_block import ProcessBlock

    unit_class = definition.unit_class
    if not isinstance(unit_class, type):
        return (f"unit_class: expected the unit model class that declare_process_block_class "
                f"declares, got {type(unit_class).__name__}")
    if issubclass(unit_class, ProcessBlockData):
        return (f"unit_class: {unit_class.__name__} is the data class; give the class that "
                "@declare_process_block_class declares with it (e.g. 'MyReactor' for "
                "'MyReactorData')")
    if not issubclass(unit_class, ProcessBlock):
        return (f"unit_class: {unit_class.__name__} is not an IDAES unit model class "
                "(declare_process_block_class)")
    if not isinstance(definition.time_units, NumericValue):
        return (f"time_units: expected a Pyomo unit (e.g. pyomo.environ.units.min), got "
                f"{definition.time_units!r}")
    return None
