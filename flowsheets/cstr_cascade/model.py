"""Two heated CSTRs in series (Feed -> r1 -> r2, joined by arcs) on IDAES's saponification
property package. The reaction rate is learned from temperature and NaOH concentration
(a network with 2 inputs giving the rate itself); the true model uses IDAES's own
saponification reaction package (Arrhenius k(T) * C_NaOH * C_EA)."""

from pyomo.network import Arc

from idaes.models.properties.examples.saponification_reactions import (
    SaponificationReactionParameterBlock)
from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock
from idaes.models.unit_models import CSTR, Feed

from idaes_hybrid.model import LearnedRateReactionParameterBlock
from idaes_hybrid.model.learned_reaction import LearnedQuantity

VOLUME = 3e-3        # m^3, each reactor
ARRHENIUS = 3.132e6  # m^3/mol/s, IDAES's saponification package
E_ACT = 43000.0      # J/mol
GAS_CONSTANT = 8.314462618  # J/mol/K, as IDAES


def units(fs):
    """Feed, two CSTRs with holdup and heat duty, and the arcs between them."""
    fs.feed = Feed(property_package=fs.props)
    for name in ("r1", "r2"):
        setattr(fs, name, CSTR(property_package=fs.props, reaction_package=fs.rxn,
                               has_holdup=True, has_heat_of_reaction=True,
                               has_heat_transfer=True))
        getattr(fs, name).volume.fix(VOLUME)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.r1.inlet)
    fs.s12 = Arc(source=fs.r1.outlet, destination=fs.r2.inlet)
    fs.feed.pressure.fix(101325)
    for j, c in {"H2O": 55388, "SodiumAcetate": 0, "Ethanol": 0}.items():
        fs.feed.conc_mol_comp[:, j].fix(c)


def build_learned(fs):
    """The hybrid flowsheet: the rate of R1 is a network of (T, C_NaOH)."""
    fs.props = SaponificationParameterBlock()
    fs.rxn = LearnedRateReactionParameterBlock(
        property_package=fs.props, learned=LearnedQuantity.RATE,
        network_inputs=["temperature", "conc_mol_comp[NaOH]"], dh_rxn={"R1": -49000},
        rate_reactions={"R1": {"NaOH": -1, "EthylAcetate": -1, "SodiumAcetate": 1,
                               "Ethanol": 1}},
        initial_value=0.5)
    units(fs)


def build_true(fs):
    """The true flowsheet: IDAES's saponification reaction package."""
    fs.props = SaponificationParameterBlock()
    fs.rxn = SaponificationReactionParameterBlock(property_package=fs.props)
    units(fs)


def true_rate(T, c_naoh, c_ea=None):
    """The true rate (mol/m^3/s); with equimolar feed C_EA = C_NaOH."""
    import numpy as np
    c_ea = c_naoh if c_ea is None else c_ea
    return ARRHENIUS * np.exp(-E_ACT / (GAS_CONSTANT * np.asarray(T))) * np.asarray(c_naoh) * c_ea
