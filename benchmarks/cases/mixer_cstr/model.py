"""Two feeds (NaOH solution, ethyl acetate solution) -> Mixer -> dynamic CSTR with heat duty,
on IDAES's saponification property package; the rate constant k(T) is learned (true:
IDAES's saponification reaction package, Arrhenius). The feeds' flows differ, so the
reactor is not equimolar; only ethyl acetate and T are measured."""
import numpy as np
from pyomo.network import Arc
from idaes.models.properties.examples.saponification_reactions import SaponificationReactionParameterBlock
from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock
from idaes.models.unit_models import CSTR, Feed, Mixer

from idaes_hybrid.model import LearnedRateReactionParameterBlock

VOLUME = 0.02  # m^3
FEEDS = {"feed_a": {"NaOH": 4.0, "EthylAcetate": 0.0}, "feed_b": {"NaOH": 0.0, "EthylAcetate": 4.0}}


def _units(fs):
    for name, conc in FEEDS.items():
        feed = Feed(property_package=fs.props)
        setattr(fs, name, feed)
        feed.pressure.fix(101325)
        for j, c in {"H2O": 55388.0, "SodiumAcetate": 0.0, "Ethanol": 0.0, **conc}.items():
            feed.conc_mol_comp[:, j].fix(c)
    fs.mix = Mixer(property_package=fs.props, inlet_list=["a", "b"])
    fs.r1 = CSTR(property_package=fs.props, reaction_package=fs.rxn, has_holdup=True,
                 has_heat_of_reaction=True, has_heat_transfer=True)
    fs.r1.volume.fix(VOLUME)
    fs.s_a = Arc(source=fs.feed_a.outlet, destination=fs.mix.a)
    fs.s_b = Arc(source=fs.feed_b.outlet, destination=fs.mix.b)
    fs.s_m = Arc(source=fs.mix.outlet, destination=fs.r1.inlet)


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
