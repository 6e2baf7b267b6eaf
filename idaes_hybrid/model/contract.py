"""The contract between a hybrid unit model and the training code.

Training, prediction and optimization know a unit only through this contract:
which states it integrates, which inputs it takes, which variables feed the
network and which term the network supplies. A unit model that implements it
(see :class:`HybridUnit`) gets the whole workflow: smoother, pre-training,
simultaneous training, prediction, saving and plotting.
"""

from __future__ import annotations

import enum
from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

import pyomo.environ as pyo
from pyomo.common.config import ConfigValue, In, ListOf

from idaes.core import UnitModelBlockData


class KineticsMode(str, enum.Enum):
    """Where the unknown term of a hybrid unit comes from."""

    #: The term is a free variable at every time point, supplied from outside
    #: the unit: by a network block (training, prediction, optimization) or by
    #: a smoothness-penalized free profile (the smoother problem).
    EXTERNAL = "external"
    #: The unit's own first-principles reference expression (for example Monod
    #: kinetics), used to generate data and to check learned models.
    REFERENCE = "reference"


class ContractError(ValueError):
    """A unit does not satisfy the hybrid-unit contract; the message names it."""


@runtime_checkable
class HybridUnit(Protocol):
    """What a hybrid unit model exposes to the training workflow.

    Attributes
    ----------
    state_names
        Names of the differential states, each a time-indexed ``Var`` attribute
        of the unit (``unit.X``), in a fixed order.
    input_names
        Names of the time-indexed input variables (``unit.F``), fixed by the user.
    learned_names
        Names of the time-indexed variables the network supplies (``unit.mu``).
    """

    state_names: tuple[str, ...]
    input_names: tuple[str, ...]
    learned_names: tuple[str, ...]

    def network_input_vars(self, t: float) -> Sequence[pyo.Var]:
        """Variables fed to the network at time ``t``, in network-input order."""

    def network_output_vars(self, t: float) -> Sequence[pyo.Var]:
        """Variables the network supplies at time ``t``, in network-output order."""

    def set_physics(self, **values: float) -> None:
        """Set known physics parameters by name (unknown names raise ContractError)."""


def check_contract(unit) -> None:
    """Raise :class:`ContractError` naming what ``unit`` lacks."""
    for attr in ("state_names", "input_names", "learned_names",
                 "network_input_vars", "network_output_vars", "set_physics"):
        if not hasattr(unit, attr):
            raise ContractError(f"{unit.name} does not implement HybridUnit: missing '{attr}'")
    for kind in ("state_names", "input_names", "learned_names"):
        for name in getattr(unit, kind):
            if not isinstance(unit.find_component(name), pyo.Var):
                raise ContractError(f"{unit.name}.{kind} names {name!r}, which is not a Var of the unit")


def network_inputs_domain(states: Sequence[str]) -> Callable[[object], list[str]]:
    """A CONFIG domain accepting a non-empty, repeat-free list of the unit's ``states``."""
    valid = list(states)

    def domain(value) -> list[str]:
        names = [str(v) for v in ListOf(str)(value)]
        bad = [n for n in names if n not in valid]
        if bad:
            raise ContractError(f"network_inputs contains {bad}; valid states are {valid}")
        if not names or len(set(names)) != len(names):
            raise ContractError(f"network_inputs={names} must be a non-empty list without repeats")
        return names

    return domain


def hybrid_unit_config(states: Sequence[str], kinetics_doc: str, inputs_doc: str):
    """A unit's CONFIG: IDAES's unit options plus ``kinetics`` (a :class:`KineticsMode`)
    and ``network_inputs`` (an ordered subset of ``states``, all of them by default)."""
    config = UnitModelBlockData.CONFIG()
    config.declare("kinetics", ConfigValue(default=KineticsMode.EXTERNAL, domain=In(KineticsMode),
                                           doc=kinetics_doc))
    config.declare("network_inputs", ConfigValue(default=list(states), domain=network_inputs_domain(states),
                                                 doc=inputs_doc))
    return config


class HybridUnitBlockData(UnitModelBlockData):
    """Base of the hybrid units: the contract's generic parts.

    A subclass sets ``CONFIG`` (:func:`hybrid_unit_config`), ``physics_defaults``, the
    name tuples, and ``network_output_vars``; ``physics_parameter`` maps a physics name
    to its Param when that is not the attribute of the same name.
    """

    #: Physics parameter names and their default values.
    physics_defaults: Mapping[str, float] = {}

    def network_input_vars(self, t: float) -> Sequence[pyo.Var]:
        """The states named in ``network_inputs`` at time ``t``."""
        return [getattr(self, n)[t] for n in self.config.network_inputs]

    def set_physics(self, **values: float) -> None:
        """Set physics parameters by name (an unknown name raises :class:`ContractError`)."""
        set_named_parameters(self, self.physics_defaults, values, self.physics_parameter)

    def physics_parameter(self, name: str) -> pyo.Param:
        """The Param of physics parameter ``name``."""
        return getattr(self, name)


def require_dynamic(unit, what: str) -> None:
    """:class:`ContractError` unless ``unit`` is dynamic (``what``: e.g. "a fed-batch reactor")."""
    if not unit.config.dynamic:
        raise ContractError(f"{unit.name}: {what} must be dynamic (dynamic=True)")


def set_named_parameters(unit, defaults: Mapping[str, float], values: Mapping[str, float],
                         lookup: Callable[[str], pyo.Param] | None = None) -> None:
    """Set a unit's physics parameters by name (the body of ``set_physics``).

    Raises :class:`ContractError` naming ``physics.<name>`` for an unknown name.
    """
    for name, val in values.items():
        if name not in defaults:
            raise ContractError(
                f"physics.{name} is not a parameter of {unit.name}; valid: {list(defaults)}")
        (lookup(name) if lookup else getattr(unit, name)).set_value(float(val))
