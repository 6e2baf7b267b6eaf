"""Feed -> dynamic CSTR (heat duty Q) with two reactions in series, A -> B (R1) -> C (R2),
on IDAES's generic property framework (ideal liquid of solvent S and A, B, C, constant
molar density and heat capacity, FTPx). True kinetics: IDAES's generic reaction framework,
both first order with Arrhenius constants. Learned: k2(T) of B -> C only; R1 keeps its
known Arrhenius rate (``known_rates`` of idaes-hybrid's LearnedRateReactionParameterBlock)."""
import numpy as np
from pyomo.environ import Constraint, Var, exp, units as pyunits
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

R_GAS = 8.314462618    # J/mol/K
VOLUME = 0.02          # m^3
DENS = 1.0e4           # mol/m^3, every component
CP = 100.0             # J/mol/K, every component
DH = {"R1": -10000.0, "R2": -8000.0}              # J/mol
EA = {"R1": 60000.0, "R2": 80000.0}                # J/mol
K_310 = {"R1": 0.08, "R2": 0.05}                   # 1/s at 310 K
A_ARR = {r: K_310[r] * np.exp(EA[r] / (R_GAS * 310.0)) for r in EA}   # 1/s
FEED_X = {"S": 0.9, "A": 0.1, "B": 0.0, "C": 0.0}
SI = {"time": pyunits.s, "length": pyunits.m, "mass": pyunits.kg, "amount": pyunits.mol,
      "temperature": pyunits.K}
MEASURED = {"cA": "A", "cB": "B"}


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
    "include_enthalpy_of_formation": False,
}


def _first_order(r: str, reactant: str, product: str) -> dict:
    return {"stoichiometry": {("Liq", reactant): -1, ("Liq", product): 1},
            "heat_of_reaction": constant_dh_rxn, "rate_constant": arrhenius,
            "rate_form": power_law_rate, "concentration_form": ConcentrationForm.molarity,
            "parameter_data": {"dh_rxn_ref": (DH[r], pyunits.J / pyunits.mol),
                               "arrhenius_const": (A_ARR[r], pyunits.s**-1),
                               "energy_activation": (EA[r], pyunits.J / pyunits.mol)}}


REACTIONS = {"base_units": SI, "rate_reactions": {"R1": _first_order("R1", "A", "B"),
                                                  "R2": _first_order("R2", "B", "C")}}


def _units(fs):
    fs.feed = Feed(property_package=fs.props)
    fs.feed.pressure.fix(1e5)
    for j, x in FEED_X.items():
        fs.feed.mole_frac_comp[:, j].fix(x)
    fs.r1 = CSTR(property_package=fs.props, reaction_package=fs.rxn, has_holdup=True,
                 has_heat_of_reaction=True, has_heat_transfer=True)
    fs.r1.volume.fix(VOLUME)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.r1.inlet)
    # conc_mol_comp of a generic state block is an Expression: Vars for the measured ones.
    fs.conc = Var(fs.time, list(MEASURED.values()), initialize=500.0,
                  units=pyunits.mol / pyunits.m**3, doc="Reactor concentrations (measured)")
    fs.conc_eq = Constraint(fs.time, list(MEASURED.values()), rule=lambda fs, t, j: (
        fs.conc[t, j] == fs.r1.control_volume.properties_out[t].conc_mol_comp[j]))


def _units_two(fs):
    """Feed -> r1 -> r2 (half the volume each), arcs; the measured Vars at r2's outlet only."""
    fs.feed = Feed(property_package=fs.props)
    fs.feed.pressure.fix(1e5)
    for j, x in FEED_X.items():
        fs.feed.mole_frac_comp[:, j].fix(x)
    for name in ("r1", "r2"):
        setattr(fs, name, CSTR(property_package=fs.props, reaction_package=fs.rxn, has_holdup=True,
                               has_heat_of_reaction=True, has_heat_transfer=True))
        getattr(fs, name).volume.fix(VOLUME / 2)
    fs.s01 = Arc(source=fs.feed.outlet, destination=fs.r1.inlet)
    fs.s12 = Arc(source=fs.r1.outlet, destination=fs.r2.inlet)
    fs.conc2 = Var(fs.time, list(MEASURED.values()), initialize=500.0,
                   units=pyunits.mol / pyunits.m**3, doc="Concentrations at r2's outlet (measured)")
    fs.conc2_eq = Constraint(fs.time, list(MEASURED.values()), rule=lambda fs, t, j: (
        fs.conc2[t, j] == fs.r2.control_volume.properties_out[t].conc_mol_comp[j]))


def known_r1(b):
    """Rate of A -> B in mol/m^3 per time unit of the property package: the known
    first-order Arrhenius law."""
    T = b.state_ref.temperature
    per_time = b.config.parameters.config.property_package.get_metadata().derived_units.TIME**-1
    k1 = pyunits.convert(A_ARR["R1"] * pyunits.s**-1, to_units=per_time) * exp(
        -EA["R1"] * pyunits.J / pyunits.mol / (R_GAS * pyunits.J / pyunits.mol / pyunits.K * T))
    return k1 * b.state_ref.conc_mol_comp["A"]


def build_learned(fs):
    _learned_package(fs)
    _units(fs)


def build_true(fs):
    fs.props = GenericParameterBlock(**THERMO)
    fs.rxn = GenericReactionParameterBlock(property_package=fs.props, **REACTIONS)
    _units(fs)


def _learned_package(fs, thermo=None):
    fs.props = GenericParameterBlock(**(thermo or THERMO))
    fs.rxn = LearnedRateReactionParameterBlock(
        property_package=fs.props, network_inputs=["temperature"], dh_rxn=DH,
        rate_reactions={"R1": {"A": -1, "B": 1}, "R2": {"B": -1, "C": 1}},
        known_rates={"R1": known_r1}, mass_action={"R2": {"B": 1}}, initial_value=0.05)


def build_learned_two(fs):
    """Two CSTRs in series sharing the learned package: one network k2(T) in both."""
    _learned_package(fs)
    _units_two(fs)


def build_true_two(fs):
    fs.props = GenericParameterBlock(**THERMO)
    fs.rxn = GenericReactionParameterBlock(property_package=fs.props, **REACTIONS)
    _units_two(fs)


# The same case in minutes: the generic packages' base time unit, the flowsheet's time_units.
THERMO_MIN = {**THERMO, "base_units": {**SI, "time": pyunits.min},
              "state_bounds": {**THERMO["state_bounds"], "flow_mol": (0, 600, 6000)}}
REACTIONS_MIN = {**REACTIONS, "base_units": {**SI, "time": pyunits.min}}


def build_learned_min(fs):
    """``build_learned`` with every package in minutes (flow in mol/min, k2 in 1/min)."""
    _learned_package(fs, THERMO_MIN)
    _units(fs)


def build_true_min(fs):
    fs.props = GenericParameterBlock(**THERMO_MIN)
    fs.rxn = GenericReactionParameterBlock(property_package=fs.props, **REACTIONS_MIN)
    _units(fs)


def k_true(T, reaction: str = "R2"):
    """The Arrhenius rate constant behind the data, 1/s."""
    return A_ARR[reaction] * np.exp(-EA[reaction] / (R_GAS * np.asarray(T)))
