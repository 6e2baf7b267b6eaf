"""The built-in one-unit models by name (``model = "fed_batch_bioreactor"`` in a config).

A fixed, read-only table: a model of one's own is named by file in the config
(``model = "my_model.py:NAME"``) or built by a flowsheet build function
(``[flowsheet] build = "model.py:build"``); nothing is registered.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping

from pyomo.environ import units as pyunits

from idaes_hybrid.model.contract import ContractError
from idaes_hybrid.model.definition import HybridModelDefinition
from idaes_hybrid.cases.fed_batch import DEFAULT_PHYSICS, FedBatchReactor
from idaes_hybrid.cases.predator_prey import DEFAULT_PHYSICS as PREDATOR_PREY_PHYSICS, PredatorPrey
from idaes_hybrid.cases.tank_manifold import DEFAULT_PHYSICS as TANK_PHYSICS, TankManifold


def monod(params: dict) -> Callable:
    """Monod growth rate ``mu_max S / (Ks + S)`` as a function of ``S`` (Haldane
    ``mu_max S / (Ks + S + Ki_inv S^2)`` with ``Ki_inv > 0``)."""
    mu_max, ks = float(params["mu_max"]), float(params["Ks"])
    ki_inv = float(params.get("Ki_inv", 0.0))

    def mu(S):
        return mu_max * S / (ks + S + ki_inv * S * S)

    return mu


FED_BATCH_BIOREACTOR = HybridModelDefinition(
    name="fed_batch_bioreactor",
    unit_class=FedBatchReactor,
    state_names=("X", "P", "S", "V"),
    input_names=("F", "Sf"),
    learned_names=("mu",),
    default_network_inputs=("X", "S", "P", "V"),
    physics_defaults={k: DEFAULT_PHYSICS[k] for k in ("Yxs", "Ypx", "S_lim")},
    time_units=pyunits.h,
    nonnegative_states=("X", "P", "S"),
    reference=monod,
    reference_parameters={k: DEFAULT_PHYSICS[k] for k in ("mu_max", "Ks", "Ki_inv")},
    # training holds S >= 0 by its bounds; a prediction past the data by the uptake limit
    simulation_unit_config={"uptake_limit": True},
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

#: The built-in models by name (read-only).
BUILT_IN_MODELS: Mapping[str, HybridModelDefinition] = MappingProxyType(
    {d.name: d for d in (FED_BATCH_BIOREACTOR, PREDATOR_PREY, TANK_MANIFOLD)})


def get_model_definition(name: str) -> HybridModelDefinition:
    """Look up a built-in model by name; the error lists the known names."""
    try:
        return BUILT_IN_MODELS[name]
    except KeyError:
        raise ContractError(f"model={name!r} is not a built-in hybrid model; known: "
                            f"{sorted(BUILT_IN_MODELS)} (or name your own by file: "
                            "'module.py:NAME')") from None
