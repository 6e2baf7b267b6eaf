"""Variant of the saponification flowsheet for tests: the network gives the whole rate
from temperature and both reactant concentrations (LearnedQuantity.RATE)."""

from pyomo.network import Arc
from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock
from idaes.models.unit_models import CSTR, Feed
from idaes_hybrid.model import LearnedQuantity, LearnedRateReactionParameterBlock

def build(fs):
    fs.props = SaponificationParameterBlock()
    fs.rxn = LearnedRateReactionParameterBlock(
        property_package=fs.props, learned=LearnedQuantity.RATE,
        network_inputs=["temperature", "conc_mol_comp[NaOH]", "conc_mol_comp[EthylAcetate]"],
        rate_reactions={"R1": {"NaOH": -1, "EthylAcetate": -1, "SodiumAcetate": 1, "Ethanol": 1}},
        dh_rxn={"R1": -49000}, initial_value=0.1)
    fs.feed = Feed(property_package=fs.props)
    fs.r1 = CSTR(property_package=fs.props, reaction_package=fs.rxn, has_holdup=True,
                 has_heat_of_reaction=True, has_heat_transfer=True)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.r1.inlet)
    fs.r1.volume.fix(5e-3)
    fs.feed.pressure.fix(101325)
    for j, c in {"H2O": 55388, "NaOH": 2, "EthylAcetate": 2, "SodiumAcetate": 0, "Ethanol": 0}.items():
        fs.feed.conc_mol_comp[:, j].fix(c)
