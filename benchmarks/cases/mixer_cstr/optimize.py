"""Heat-duty profile of the Mixer -> CSTR case: time-averaged outlet ethyl acetate plus the
heat duty priced in the same units, with the reactor at most 305 K."""
import pyomo.environ as pyo
from pyomo.environ import units as pyunits

from idaes_hybrid.optimize.flowsheet import trapezoid

HORIZON = 300.0
#: Price of one W of heat duty in mol/m^3 of outlet ethyl acetate.
ENERGY_WEIGHT = 1.5e-6
T_MAX = 305.0


def objective(blk: pyo.Block):
    ea = blk.fs.r1.control_volume.properties_out
    q = blk.fs.r1.heat_duty
    return trapezoid(blk, lambda t: ea[t].conc_mol_comp["EthylAcetate"] / (pyunits.mol / pyunits.m**3)
                     + ENERGY_WEIGHT * q[t] / pyunits.W) / HORIZON


def constraints(blk: pyo.Block) -> dict:
    temp = blk.fs.r1.control_volume.properties_out
    return {"T_max": [temp[t].temperature / pyunits.K <= T_MAX for t in blk.fs.time]}
