"""Feed -> Mixer (feed + recycle) -> dynamic CSTR (heat of reaction, heat duty Q) -> Separator
-> product; recycle back to the Mixer. IDAES's saponification property package; k(T) learned
(true: IDAES's Arrhenius reaction package).

The Separator splits by component (RECYCLE_FRACTIONS): 30 % of the water and products but 60 %
of the unreacted NaOH and ethyl acetate go back, so the recycle is enriched in reactants. (A
plain 30 % total-flow split of a well-mixed CSTR's own outlet changes nothing in the reactor:
what the recycle brings in, the extra outflow takes out; RECYCLE_SPLIT=total reproduces it.)"""
import os
import numpy as np
from pyomo.network import Arc
from idaes.models.properties.examples.saponification_reactions import SaponificationReactionParameterBlock
from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock
from idaes.models.unit_models import CSTR, Feed, Mixer, Separator, Product
from idaes.models.unit_models.mixer import MomentumMixingType
from idaes.models.unit_models.separator import SplittingType

from idaes_hybrid.model import LearnedRateReactionParameterBlock

VOLUME = 5e-3  # m^3
RECYCLE = 0.3
RECYCLE_FRACTIONS = {"H2O": 0.3, "NaOH": 0.6, "EthylAcetate": 0.6, "SodiumAcetate": 0.3, "Ethanol": 0.3}
SPLIT = os.environ.get("RECYCLE_SPLIT", "component")
FEED = {"H2O": 55388.0, "NaOH": 2.0, "EthylAcetate": 2.0, "SodiumAcetate": 0.0, "Ethanol": 0.0}
# RECYCLE_MIXING=minimize reproduces the IDAES default (smooth-min pressure) for the probe.
MIXING = os.environ.get("RECYCLE_MIXING", "none")


def _units(fs):
    fs.feed = Feed(property_package=fs.props)
    fs.feed.pressure.fix(101325)
    for j, c in FEED.items():
        fs.feed.conc_mol_comp[:, j].fix(c)
    if MIXING == "minimize":
        fs.mix = Mixer(property_package=fs.props, inlet_list=["feed", "recycle"])
    else:
        fs.mix = Mixer(property_package=fs.props, inlet_list=["feed", "recycle"],
                       momentum_mixing_type=MomentumMixingType.none)
        fs.mix.outlet.pressure.fix(101325)
    fs.r1 = CSTR(property_package=fs.props, reaction_package=fs.rxn, has_holdup=True,
                 has_heat_of_reaction=True, has_heat_transfer=True)
    fs.r1.volume.fix(VOLUME)
    if SPLIT == "total":
        fs.split = Separator(property_package=fs.props, outlet_list=["product", "recycle"])
        fs.split.split_fraction[:, "recycle"].fix(RECYCLE)
    else:
        fs.split = Separator(property_package=fs.props, outlet_list=["product", "recycle"],
                             split_basis=SplittingType.componentFlow)
        for j, f in RECYCLE_FRACTIONS.items():
            fs.split.split_fraction[:, "recycle", j].fix(f)
    fs.prod = Product(property_package=fs.props)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.mix.feed)
    fs.s02 = Arc(source=fs.mix.outlet, destination=fs.r1.inlet)
    fs.s03 = Arc(source=fs.r1.outlet, destination=fs.split.inlet)
    fs.s04 = Arc(source=fs.split.product, destination=fs.prod.inlet)
    fs.s05 = Arc(source=fs.split.recycle, destination=fs.mix.recycle)


def build_learned(fs):
    fs.props = SaponificationParameterBlock()
    fs.rxn = LearnedRateReactionParameterBlock(
        property_package=fs.props, network_inputs=["temperature"], dh_rxn={"R1": -49000},
        rate_reactions={"R1": {"NaOH": -1, "EthylAcetate": -1, "SodiumAcetate": 1, "Ethanol": 1}},
        mass_action={"R1": {"NaOH": 1, "EthylAcetate": 1}}, initial_value=0.1)
    _units(fs)


def build_true(fs):
    fs.props = SaponificationParameterBlock()
    fs.rxn = SaponificationReactionParameterBlock(property_package=fs.props)
    _units(fs)


def k_true(T):
    """IDAES's saponification rate constant, m^3/mol/s."""
    return 3.132e6 * np.exp(-43000.0 / (8.314462618 * np.asarray(T)))
