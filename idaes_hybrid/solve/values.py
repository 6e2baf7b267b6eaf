"""Snapshots of a model's free variable values: taken before a solve, put back after one
that is not kept (a failed refit, a cross-validation fold, a stalled simulation); by full
name, to start another model built the same way (a re-solve with trained weights)."""

from __future__ import annotations

from typing import Mapping

import pyomo.environ as pyo


def unfixed_values(m: pyo.Block) -> list[tuple]:
    """``(variable, value)`` of every unfixed variable under ``m``."""
    return [(v, v.value) for v in m.component_data_objects(pyo.Var, descend_into=True) if not v.fixed]


def restore_values(values: list[tuple]) -> None:
    """Set each variable of :func:`unfixed_values`' list back to its value."""
    for v, value in values:
        v.set_value(value, skip_validation=True)


def within_bounds(values: list[tuple], rel: float = 1e-8) -> bool:
    """Whether every value of the list is set and within its variable's bounds (beyond a
    relative ``rel``)."""
    for v, value in values:
        if value is None:
            return False
        lo, hi = v.lb, v.ub
        if (lo is not None and value < lo - rel * max(1.0, abs(lo))) or \
                (hi is not None and value > hi + rel * max(1.0, abs(hi))):
            return False
    return True


def named_values(block: pyo.Block) -> dict[str, float]:
    """Full name -> value of every unfixed variable under ``block`` that has a value."""
    return {v.name: v.value for v in block.component_data_objects(pyo.Var, descend_into=True)
            if v.value is not None and not v.fixed}


def set_named_values(block: pyo.Block, values: Mapping[str, float]) -> None:
    """Set every unfixed variable under ``block`` that ``values`` names (full names, as
    :func:`named_values` of a model built the same way gives them)."""
    for v in block.component_data_objects(pyo.Var, descend_into=True):
        value = values.get(v.name)
        if value is not None and not v.fixed:
            v.set_value(float(value), skip_validation=True)


def copy_block_values(source: pyo.Block, target: pyo.Block) -> int:
    """Set every unfixed variable of ``target`` to the value of the variable at the same
    path in ``source`` (a block built the same way elsewhere, e.g. a simulation's experiment
    block); how many were set."""
    n = 0
    for v in source.component_data_objects(pyo.Var, descend_into=True):
        if v.value is None:
            continue
        twin = target.find_component(v.getname(fully_qualified=True, relative_to=source))
        if twin is not None and not twin.fixed:
            twin.set_value(float(v.value), skip_validation=True)
            n += 1
    return n
