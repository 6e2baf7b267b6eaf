"""Saponification flowsheet: Feed -> dynamic, non-isothermal CSTR, from IDAES's own units.

``build_learned(fs)`` is the hybrid flowsheet: IDAES's saponification property
package, the CSTR's rate constant k(T) learned by a network
(:class:`~idaes_hybrid.model.learned_reaction.LearnedRateReactionParameterBlock`
with the known mass-action term ``c_NaOH * c_EtOAc``). ``build_true(fs)`` is the
same flowsheet with IDAES's Arrhenius reaction package (the synthetic plant).
"""

from __future__ import annotations

import math

from pyomo.network import Arc

from idaes.models.properties.examples.saponification_reactions import (
    SaponificationReactionParameterBlock)
from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock
from idaes.models.unit_models import CSTR, Feed

from idaes_hybrid.model import LearnedQuantity, LearnedRateReactionParameterBlock

#: Known, constant operating data (SI units).
VOLUME = 5e-3            # m^3
FEED_CONC = {"H2O": 55388.0, "NaOH": 2.0, "EthylAcetate": 2.0, "SodiumAcetate": 0.0, "Ethanol": 0.0}
PRESSURE = 101325.0      # Pa
DH_RXN = -49000.0        # J/mol, as in IDAES's package

#: The paths experiments and configs refer to, by short name.
VARIABLES = {
    "F": "fs.feed.flow_vol[*]",
    "Tf": "fs.feed.temperature[*]",
    "Q": "fs.r1.heat_duty[*]",
    "NaOH": "fs.r1.control_volume.properties_out[*].conc_mol_comp[NaOH]",
    "T": "fs.r1.control_volume.properties_out[*].temperature",
}


def _common(fs, reaction_package) -> None:
    fs.feed = Feed(property_package=fs.props)
    fs.r1 = CSTR(property_package=fs.props, reaction_package=reaction_package, has_holdup=True,
                 has_equilibrium_reactions=False, has_heat_of_reaction=True,
                 has_heat_transfer=True, has_pressure_change=False)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.r1.inlet)
    fs.r1.volume.fix(VOLUME)
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
