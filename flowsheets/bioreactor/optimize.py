"""Feed optimization of the bioreactor flowsheet (``[optimization]`` of config_flowsheet.toml):
the most product ``P(tf) V(tf)`` with the reactor filled to at most ``V_MAX``."""
import pyomo.environ as pyo

#: Volume limit of the reactor (L).
V_MAX = 2.5


def objective(blk: pyo.Block):
    """Minus the product mass at the final time (g): minimized, so the product is maximized."""
    unit, tf = blk.fs.unit, blk.fs.time.last()
    return -unit.P[tf] * unit.V[tf]


def constraints(blk: pyo.Block) -> dict:
    """The volume stays at most ``V_MAX`` (it only grows: the final time suffices)."""
    unit = blk.fs.unit
    return {"V_max": unit.V[blk.fs.time.last()] <= V_MAX * pyo.units.L}
