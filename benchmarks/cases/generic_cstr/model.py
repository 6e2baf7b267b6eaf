"""Feed -> dynamic CSTR (heat of reaction, heat duty Q) on IDAES's modular generic property
framework: an ideal liquid of solvent S and A, B, C (A + B -> C), constant molar density and
heat capacity, FTPx state. True kinetics: IDAES's generic reaction framework (power law
r = k(T) c_A c_B, Arrhenius k); learned: k(T) by idaes-hybrid's LearnedRateReactionParameterBlock."""
import numpy as np
from pyomo.environ import Constraint, Var, units as pyunits
from pyomo.network import Arc
from idaes.core import Component, LiquidPhase
from idaes.models.properties.modular_properties.base.generic_property import GenericParameterBlock
from idaes.models.properties.modular_properties.base.generic_reaction import GenericReactionParameterBlock
from idaes.models.properties.modular_properties.base.utility import ConcentrationForm
from idaes.models.properties.modular_properties.eos.ideal import Ideal
from idaes.models.properties.modular_properties.pure.ConstantProperties import Constant
from idaes.models.properties.modular_properties.reactions.dh_rxn import constant_dh_rxn
from idaes.models.properties.modular_properties.reactions.rate_constant import arrhenius
from idaes.models.properties.modular_properties.reactions.rate_forms import power_law_rate
from idaes.models.properties.modular_properties.state_definitions import FTPx
from idaes.models.unit_models import CSTR, Feed

from idaes_hybrid.model import LearnedRateReactionParameterBlock

VOLUME = 0.02          # m^3
DENS = 1.0e4           # mol/m^3, every component (so the liquid's molar density is constant)
CP = 100.0             # J/mol/K, every component
DH = -20000.0          # J/mol
A_ARR = 1.45e4         # m^3/mol/s
EA = 50000.0           # J/mol
FEED_X = {"S": 0.8, "A": 0.1, "B": 0.1, "C": 0.0}
SI = {"time": pyunits.s, "length": pyunits.m, "mass": pyunits.kg, "amount": pyunits.mol,
      "temperature": pyunits.K}


def _component() -> dict:
    return {"type": Component, "dens_mol_liq_comp": Constant, "enth_mol_liq_comp": Constant,
            "parameter_data": {"dens_mol_liq_comp_coeff": (DENS, pyunits.mol / pyunits.m**3),
                               "cp_mol_liq_comp_coeff": (CP, pyunits.J / pyunits.mol / pyunits.K),
                               "enth_mol_form_liq_comp_ref": (0.0, pyunits.J / pyunits.mol)}}


THERMO = {
    "components": {j: _component() for j in FEED_X},
    "phases": {"Liq": {"type": LiquidPhase, "equation_of_state": Ideal}},
    "state_definition": FTPx,
    "state_bounds": {"flow_mol": (0, 10, 100), "temperature": (273.15, 300, 450),
                     "pressure": (5e4, 1e5, 1e6)},
    "pressure_ref": 1e5, "temperature_ref": 300, "base_units": SI,
    # the heat of reaction comes from the reaction package (has_heat_of_reaction=True)
    "include_enthalpy_of_formation": False,
}

REACTIONS = {
    "base_units": SI,
    "rate_reactions": {"R1": {
        "stoichiometry": {("Liq", "A"): -1, ("Liq", "B"): -1, ("Liq", "C"): 1},
        "heat_of_reaction": constant_dh_rxn, "rate_constant": arrhenius,
        "rate_form": power_law_rate, "concentration_form": ConcentrationForm.molarity,
        "parameter_data": {"dh_rxn_ref": (DH, pyunits.J / pyunits.mol),
                           "arrhenius_const": (A_ARR, pyunits.m**3 / pyunits.mol / pyunits.s),
                           "energy_activation": (EA, pyunits.J / pyunits.mol)}}},
}


def _units(fs):
    fs.feed = Feed(property_package=fs.props)
    fs.feed.pressure.fix(1e5)
    for j, x in FEED_X.items():
        fs.feed.mole_frac_comp[:, j].fix(x)
    fs.r1 = CSTR(property_package=fs.props, reaction_package=fs.rxn, has_holdup=True,
                 has_heat_of_reaction=True, has_heat_transfer=True)
    fs.r1.volume.fix(VOLUME)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.r1.inlet)
    # The generic framework's conc_mol_comp is an Expression: a Var for the measured A.
    fs.conc_A = Var(fs.time, initialize=1000.0, units=pyunits.mol / pyunits.m**3,
                    doc="Reactor concentration of A (measured)")
    fs.conc_A_eq = Constraint(fs.time, rule=lambda fs, t: fs.conc_A[t] == (
        fs.r1.control_volume.properties_out[t].conc_mol_comp["A"]))


def build_learned(fs):
    fs.props = GenericParameterBlock(**THERMO)
    fs.rxn = LearnedRateReactionParameterBlock(
        property_package=fs.props, network_inputs=["temperature"], dh_rxn={"R1": DH},
        rate_reactions={"R1": {"A": -1, "B": -1, "C": 1}},
        mass_action={"R1": {"A": 1, "B": 1}}, initial_value=1e-4)
    _units(fs)


def build_true(fs):
    fs.props = GenericParameterBlock(**THERMO)
    fs.rxn = GenericReactionParameterBlock(property_package=fs.props, **REACTIONS)
    _units(fs)


def k_true(T):
    """The Arrhenius rate constant behind the data, m^3/mol/s."""
    return A_ARR * np.exp(-EA / (8.314462618 * np.asarray(T)))
