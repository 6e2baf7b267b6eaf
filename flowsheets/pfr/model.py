"""Saponification in a dynamic plug-flow reactor: IDAES Feed -> IDAES PFR (time and length).

``build_learned(fs)`` is the hybrid flowsheet: IDAES's saponification property
package in an adiabatic ``PFR`` with holdup, its rate constant k(T) learned by a
network (:class:`~idaes_hybrid.model.learned_reaction.LearnedRateReactionParameterBlock`
with the known mass-action term ``c_NaOH * c_EtOAc``), evaluated at every (t, x)
reaction block with one weight set. ``build_true(fs)`` is the same flowsheet with
IDAES's Arrhenius reaction package (the synthetic plant).

The PFR discretizes its own length domain when it is built (``transformation_method``
and ``finite_elements``); the framework then discretizes time.
"""

from __future__ import annotations

import math

from pyomo.network import Arc

from idaes.models.properties.examples.saponification_reactions import (
    SaponificationReactionParameterBlock)
from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock
from idaes.models.unit_models import PFR, Feed

from idaes_hybrid.model import LearnedQuantity, LearnedRateReactionParameterBlock

#: Known, constant operating data (SI units).
LENGTH = 1.0             # m
AREA = 5e-3              # m^2 (volume 5 L, as the saponification CSTR)
LENGTH_ELEMENTS = 6      # backward finite differences along the reactor
FEED_CONC = {"H2O": 55388.0, "NaOH": 2.0, "EthylAcetate": 2.0, "SodiumAcetate": 0.0, "Ethanol": 0.0}
PRESSURE = 101325.0      # Pa
DH_RXN = -49000.0        # J/mol, as in IDAES's package

#: The paths experiments refer to, by short name (x = 1.0 is the outlet).
VARIABLES = {
    "F": "fs.feed.flow_vol[*]",
    "Tf": "fs.feed.temperature[*]",
    "NaOH": "fs.r1.control_volume.properties[*,1.0].conc_mol_comp[NaOH]",
    "T": "fs.r1.control_volume.properties[*,1.0].temperature",
}


def _common(fs, reaction_package) -> None:
    fs.feed = Feed(property_package=fs.props)
    fs.r1 = PFR(property_package=fs.props, reaction_package=reaction_package, has_holdup=True,
                has_equilibrium_reactions=False, has_heat_of_reaction=True,
                has_heat_transfer=False, has_pressure_change=False,
                transformation_method="dae.finite_difference", transformation_scheme="BACKWARD",
                finite_elements=LENGTH_ELEMENTS)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.r1.inlet)
    fs.r1.length.fix(LENGTH)
    fs.r1.area.fix(AREA)
    fs.feed.pressure.fix(PRESSURE)
    for j, c in FEED_CONC.items():
        fs.feed.conc_mol_comp[:, j].fix(c)


def build_learned(fs) -> None:
    """The hybrid flowsheet: k(T) of the saponification rate is a network."""
    fs.props = SaponificationParameterBlock()
    fs.rxn = LearnedRateReactionParameterBlock(
        property_package=fs.props,
        rate_reactions={"R1": {"NaOH": -1, "EthylAcetate": -1, "SodiumAcetate": 1, "Ethanol": 1}},
        learned=LearnedQuantity.RATE_CONSTANT,
        mass_action={"R1": {"NaOH": 1, "EthylAcetate": 1}},
        network_inputs=["temperature"],
        dh_rxn={"R1": DH_RXN}, initial_value=0.1)
    _common(fs, fs.rxn)


def build_true(fs) -> None:
    """The synthetic plant: IDAES's Arrhenius saponification kinetics."""
    fs.props = SaponificationParameterBlock()
    fs.rxn = SaponificationReactionParameterBlock(property_package=fs.props)
    _common(fs, fs.rxn)


def arrhenius(temperature):
    """The true rate constant, m^3/mol/s (IDAES's package: A = 3.132e6, E = 43 kJ/mol)."""
    return 3.132e6 * math.exp(-43000.0 / (8.314462618 * temperature))
