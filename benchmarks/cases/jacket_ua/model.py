"""Feed -> dynamic CSTR (saponification, true Arrhenius kinetics), 0.1 m^3, cooled through a jacket
whose heat-transfer coefficient UA(Fc, T) is unknown: a network term on user variables."""
from pyomo.environ import Var, units as pyunits
from pyomo.network import Arc
from idaes.models.properties.examples.saponification_reactions import SaponificationReactionParameterBlock
from idaes.models.properties.examples.saponification_thermo import SaponificationParameterBlock
from idaes.models.unit_models import CSTR, Feed

TC = 290.0  # coolant temperature, K
#: The true law UA = A Fc^B (1 + C (T - 300)) W/K as (A, B, C); gen.py may change it.
LAW = (400.0, 0.6, 0.02)


def _common(fs):
    fs.props = SaponificationParameterBlock()
    fs.rxn = SaponificationReactionParameterBlock(property_package=fs.props)
    fs.feed = Feed(property_package=fs.props)
    fs.r1 = CSTR(property_package=fs.props, reaction_package=fs.rxn, has_holdup=True,
                 has_heat_of_reaction=True, has_heat_transfer=True)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.r1.inlet)
    fs.r1.volume.fix(0.1)
    fs.feed.pressure.fix(101325)
    for j, c in {"H2O": 55388, "NaOH": 2, "EthylAcetate": 2, "SodiumAcetate": 0, "Ethanol": 0}.items():
        fs.feed.conc_mol_comp[:, j].fix(c)
    fs.Fc = Var(fs.time, initialize=0.5, units=pyunits.kg / pyunits.s, doc="coolant flow")
    fs.UA = Var(fs.time, initialize=100.0, units=pyunits.W / pyunits.K)
    T = lambda t: fs.r1.control_volume.properties_out[t].temperature

    @fs.Constraint(fs.time)
    def jacket(b, t):
        return fs.r1.heat_duty[t] == fs.UA[t] * (TC * pyunits.K - T(t))


def build_learned(fs):
    _common(fs)


def build_true(fs):
    _common(fs)
    T = lambda t: fs.r1.control_volume.properties_out[t].temperature

    @fs.Constraint(fs.time)
    def ua_law(b, t):
        a, n, c = LAW
        return fs.UA[t] == a * pyunits.W / pyunits.K * (fs.Fc[t] / (pyunits.kg / pyunits.s)) ** n \
            * (1 + c * (T(t) / pyunits.K - 300.0))


def ua_true(fc, T, law=None):
    a, n, c = law or LAW
    return a * fc ** n * (1 + c * (T - 300.0))
