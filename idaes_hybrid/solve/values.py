"""Snapshots of a model's free variable values: taken before a solve, put back after one
that is not kept (a failed refit, a cross-validation fold, a stalled simulation)."""

from __future__ import annotations

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
