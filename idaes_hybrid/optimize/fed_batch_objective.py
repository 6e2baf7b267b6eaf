"""Objective and constraint of the fed-batch feed optimization on the flowsheet path.

A ``model = ...`` configuration's fed-batch ``[optimization]`` table (``F_min``, ``F_max``,
``V_max``) asks for the feed that makes the most product ``P(tf) V(tf)`` without filling
the reactor above ``V_max``; these two callables state it for
:func:`~idaes_hybrid.optimize.flowsheet.optimize_flowsheet` on the one-unit flowsheet
(``fs.unit``, :mod:`idaes_hybrid.model.unit_flowsheet`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.environ as pyo
from pyomo.environ import units as pyunits

#: Names the fed-batch contract requires: the freed input, the fixed feed concentration, the
#: product state and the volume state (also :mod:`idaes_hybrid.optimize.feed`'s).
FEED, FEED_CONCENTRATION, PRODUCT, VOLUME = "F", "Sf", "P", "V"


@dataclass(frozen=True)
class FeedObjective:
    """``objective(blk)``: minus the product mass ``P(tf) V(tf)`` of ``blk.fs.unit`` (minimized)."""

    def __call__(self, blk: pyo.Block):
        unit, tf = blk.fs.unit, blk.fs.time.last()
        return -getattr(unit, PRODUCT)[tf] * getattr(unit, VOLUME)[tf]


@dataclass(frozen=True)
class VolumeLimit:
    """``constraints(blk)``: ``V(tf) <= V_max`` (with a feed >= 0 the volume only grows, so
    the final time bounds every time)."""

    V_max: float

    def __call__(self, blk: pyo.Block) -> dict:
        volume = getattr(blk.fs.unit, VOLUME)
        tf = blk.fs.time.last()
        units = pyunits.get_units(volume[tf])
        return {"V_max": volume[tf] <= self.V_max * (pyunits.dimensionless if units is None else units)}


@dataclass(frozen=True)
class SharedVolumeLimit:
    """:class:`VolumeLimit` for an ensemble's copies of the batch (``m.member[k]``): in a fed
    batch ``dV/dt = F`` whatever the kinetics, so every copy has the same volume; the limit
    holds on the first copy only (repeated on every copy the active constraints would be
    linearly dependent, and Ipopt's multipliers not unique)."""

    V_max: float

    def __call__(self, blk: pyo.Block) -> dict:
        member = blk.parent_block()
        index = member.index() if member is not None and hasattr(member, "index") else 0
        return VolumeLimit(self.V_max)(blk) if index in (0, None) else {}
