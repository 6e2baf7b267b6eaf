"""Heat-duty profile of the recycle case: maximize the time-averaged NaOH conversion of the
product stream, minus an energy price, with the reactor at most 308 K."""
import pyomo.environ as pyo
from pyomo.environ import units as pyunits

from idaes_hybrid.optimize.flowsheet import trapezoid

HORIZON = 120.0
NAOH_FEED = 2.0
#: price of one W of heat duty, in conversion units
ENERGY_WEIGHT = 2.0e-6
T_MAX = 308.0


def conversion(blk, t):
    return 1 - blk.fs.prod.properties[t].conc_mol_comp["NaOH"] / (NAOH_FEED * pyunits.mol / pyunits.m**3)


def objective(blk: pyo.Block):
    q = blk.fs.r1.heat_duty
    return trapezoid(blk, lambda t: -conversion(blk, t) + ENERGY_WEIGHT * q[t] / pyunits.W) / HORIZON


def constraints(blk: pyo.Block) -> dict:
    temp = blk.fs.r1.control_volume.properties_out
    return {"T_max": [temp[t].temperature / pyunits.K <= T_MAX for t in blk.fs.time]}
