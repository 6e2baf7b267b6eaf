"""What a failed solve's last point says: the equations it could not satisfy and the
variables it pressed against their bounds, by component, for an error message.

An interior-point method that ends "locally infeasible" has minimized the violation of
the equations within the bounds; the components whose equations stay violated there and
the variables sitting at a bound usually name the physical cause (a substrate at its
lower bound zero while the learned rate still consumes it, a volume limit reached).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyomo.environ as pyo

#: Violations and bound distances below this (relative to ``max(1, |bound|)``) are not reported.
TOLERANCE = 1e-6


@dataclass
class Violation:
    """The largest violation of one component and where it is."""

    amount: float = 0.0
    where: object = None
    count: int = 0


@dataclass
class AtBound:
    """The points where one variable component sits at one of its bounds."""

    side: str
    bound: float
    where: list = field(default_factory=list)


def _violation(c) -> float:
    body = pyo.value(c.body, exception=False)
    if body is None:
        return 0.0
    lower = pyo.value(c.lower) if c.has_lb() else None
    upper = pyo.value(c.upper) if c.has_ub() else None
    worst = 0.0
    if lower is not None:
        worst = max(worst, (lower - body) / max(1.0, abs(lower)))
    if upper is not None:
        worst = max(worst, (body - upper) / max(1.0, abs(upper)))
    return worst


def violated_equations(blk: pyo.Block, tol: float = TOLERANCE) -> dict[str, Violation]:
    """Per constraint component, its largest (relative) violation and where."""
    out: dict[str, Violation] = {}
    for c in blk.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        amount = _violation(c)
        if amount > tol:
            worst = out.setdefault(c.parent_component().name, Violation())
            worst.count += 1
            if amount > worst.amount:
                worst.amount, worst.where = amount, c.index()
    return out


def variables_at_bounds(blk: pyo.Block, tol: float = TOLERANCE) -> dict[str, AtBound]:
    """Per free variable component and bound side, the indices where it sits at the bound."""
    out: dict[str, AtBound] = {}
    for v in blk.component_data_objects(pyo.Var, descend_into=True):
        if v.fixed or v.value is None:
            continue
        for side, bound in (("lower", v.lb), ("upper", v.ub)):
            if bound is None:
                continue
            gap = (v.value - bound) if side == "lower" else (bound - v.value)
            if gap <= tol * max(1.0, abs(bound)):
                key = f"{v.parent_component().name} {side}"
                out.setdefault(key, AtBound(side, float(bound))).where.append(v.index())
    return out


def _index_text(index) -> str:
    if index is None:
        return ""
    if isinstance(index, tuple):
        return ", ".join(f"{i:g}" if isinstance(i, float) else str(i) for i in index)
    return f"{index:g}" if isinstance(index, float) else str(index)


def last_point_summary(blk: pyo.Block, top: int = 3, tol: float = TOLERANCE) -> str:
    """The components with the largest equation violations and the variables at a bound
    at ``blk``'s current values, at most ``top`` of each ("" when nothing is found).

    Parameters
    ----------
    blk
        The model at the solver's last point.
    top
        Components reported per kind.
    tol
        Relative violation / bound distance below which nothing is reported.

    Returns
    -------
    str
        E.g. ``"equations not satisfied: fs.unit.S_balance (3.2e-02 at [28]); at a bound:
        fs.unit.S at its lower bound 0 at 31 points ([12.5] ... [40])"``.
    """
    parts = []
    worst = sorted(violated_equations(blk, tol).items(), key=lambda kv: -kv[1].amount)[:top]
    if worst:
        parts.append("equations not satisfied: " + "; ".join(
            f"{name} ({w.amount:.2g} at [{_index_text(w.where)}], {w.count} points)" for name, w in worst))
    bounds = sorted(variables_at_bounds(blk, tol).items(), key=lambda kv: -len(kv[1].where))[:top]
    if bounds:
        def _span(where: list) -> str:
            ends = [f"[{_index_text(where[0])}]", f"[{_index_text(where[-1])}]"]
            return ends[0] if len(where) == 1 else f"{ends[0]} ... {ends[1]}"

        parts.append("at a bound: " + "; ".join(
            f"{key.rsplit(' ', 1)[0]} at its {b.side} bound {b.bound:g} at {len(b.where)} points ({_span(b.where)})"
            for key, b in bounds))
    return "; ".join(parts)
