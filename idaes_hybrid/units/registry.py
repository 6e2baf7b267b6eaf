"""Named hybrid model definitions, as the command line and configs refer to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pyomo.environ import units as pyunits

from idaes_hybrid.units.contract import ContractError
from idaes_hybrid.units.fed_batch import DEFAULT_PHYSICS, FedBatchReactor
from idaes_hybrid.units.predator_prey import DEFAULT_PHYSICS as PREDATOR_PREY_PHYSICS, PredatorPrey
from idaes_hybrid.units.tank_manifold import DEFAULT_PHYSICS as TANK_PHYSICS, TankManifold


@dataclass(frozen=True)
class HybridModelDefinition:
    """Everything the workflow needs to build one experiment of a hybrid model.

    Attributes
    ----------
    name
        Name used in configs (``model = "fed_batch_bioreactor"``).
    unit_class
        IDAES unit model class implementing :class:`~idaes_hybrid.units.contract.HybridUnit`.
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


def monod(params: dict) -> Callable:
    """Monod growth rate ``mu_max S / (Ks + S)`` as a function of ``S``."""
    mu_max, ks = float(params["mu_max"]), float(params["Ks"])

    def mu(S):
        return mu_max * S / (ks + S)

    return mu


FED_BATCH_BIOREACTOR = HybridModelDefinition(
    name="fed_batch_bioreactor",
    unit_class=FedBatchReactor,
    state_names=("X", "P", "S", "V"),
    input_names=("F", "Sf"),
    learned_names=("mu",),
    default_network_inputs=("X", "S", "P", "V"),
    physics_defaults={k: DEFAULT_PHYSICS[k] for k in ("Yxs", "Ypx")},
    time_units=pyunits.h,
    nonnegative_states=("X", "P", "S"),
    reference=monod,
    reference_parameters={"mu_max": DEFAULT_PHYSICS["mu_max"], "Ks": DEFAULT_PHYSICS["Ks"]},
)

#: Leslie-Gower predator-prey: learned predator growth rate z(x0, x1); r2 and a2
#: are known only through the equilibrium of the optional Lyapunov constraint.
#: No ``nonnegative_states``: the positive quadrant is invariant under the model
#: (x0 = 0 and x1 = 0 are solutions), so the unit's bounds x >= 0 never bind at a
#: solution and stay in predictions to keep the solver's iterates where the
#: network was trained (lifted, a 120-long prediction wandered to x0 < 0).
PREDATOR_PREY = HybridModelDefinition(
    name="predator_prey",
    unit_class=PredatorPrey,
    state_names=("x0", "x1"),
    input_names=(),
    learned_names=("z",),
    default_network_inputs=("x0", "x1"),
    physics_defaults=dict(PREDATOR_PREY_PHYSICS),
    time_units=pyunits.dimensionless,
)

#: Tank manifold (index-2 DAE): learned pump flow u0 and tank-0 outflow u3 from the
#: four levels. Only x0, x2, x3 are fixed at t0; x1(t0) follows from x0 = x1. The
#: levels keep their bounds >= 0 in predictions (no ``nonnegative_states``): the
#: orifice law u4^2 = a2^2 x2 has no solution below zero.
TANK_MANIFOLD = HybridModelDefinition(
    name="tank_manifold",
    unit_class=TankManifold,
    state_names=("x0", "x1", "x2", "x3"),
    input_names=(),
    learned_names=("u0", "u3"),
    default_network_inputs=("x0", "x1", "x2", "x3"),
    physics_defaults={k: TANK_PHYSICS[k] for k in ("phi0", "phi1", "phi2", "phi3", "a2")},
    time_units=pyunits.s,
    fixed_initial_states=("x0", "x2", "x3"),
)

REGISTRY: dict[str, HybridModelDefinition] = {
    d.name: d for d in (FED_BATCH_BIOREACTOR, PREDATOR_PREY, TANK_MANIFOLD)}


def register_model(definition: HybridModelDefinition) -> None:
    """Make a user's hybrid model available to configs and the command line by name."""
    REGISTRY[definition.name] = definition


def get_model_definition(name: str) -> HybridModelDefinition:
    """Look up a model by name; the error lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ContractError(f"model={name!r} is not a known hybrid model; known: {sorted(REGISTRY)}") from None
