"""Degrees of freedom of hybrid models, counted fast and explained when wrong.

IDAES's :func:`~idaes.core.util.model_statistics.degrees_of_freedom` walks every
constraint's expression; a nested network expression has tens of thousands of
nodes, so a prediction model takes seconds. :func:`count_degrees_of_freedom`
gives the same number but takes the variables of a network point from the
network block (its inputs, outputs and weights) instead of walking it.
:func:`check_degrees_of_freedom` raises :class:`DegreesOfFreedomError` whose
message names the likely cause: an input left free, an initial state not fixed,
a learned term with no equation, a state fixed after the start.
"""

from __future__ import annotations

import pyomo.environ as pyo
from pyomo.common.collections import ComponentSet
from pyomo.core.expr.visitor import identify_variables

from idaes_hybrid.nn.block import as_networks
from idaes_hybrid.model.contract import HybridUnit, KineticsMode


class DegreesOfFreedomError(ValueError):
    """A model has the wrong number of degrees of freedom; the message says why."""


def hybrid_units(block: pyo.Block) -> list:
    """Every active block of ``block`` (itself included) implementing the hybrid-unit contract."""
    blocks = [block, *block.component_data_objects(pyo.Block, active=True, descend_into=True)]
    return [b for b in blocks if isinstance(b, HybridUnit) and hasattr(b, "flowsheet")]


def _network_point_vars(net) -> dict[int, list]:
    """Point block id -> variables of its output equations (inputs, outputs, weights)."""
    out = {}
    for n in as_networks(net):
        weights = list(n.parameter_vars())
        for blk, v, z in n.point_items(active=False):
            vars_ = [x for e in v for x in identify_variables(e, include_fixed=False)] if v else []
            out[id(blk)] = vars_ + [x for x in z if not x.fixed] + weights
    return out


def count_degrees_of_freedom(model: pyo.Block, net=None) -> int:
    """Unfixed variables in active equalities minus active equalities (as IDAES counts).

    Parameters
    ----------
    model
        The model or block.
    net
        Its :class:`~idaes_hybrid.nn.block.NeuralNetworkBlock` (or a list of them),
        if any: the variables of a point's ``output_eq`` come from the block, not a walk.
    """
    point_vars = _network_point_vars(net)
    seen = ComponentSet()
    n_eq = 0
    for con in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        if not con.equality:
            continue
        n_eq += 1
        parent = con.parent_block()
        if id(parent) in point_vars and con.parent_component().local_name == "output_eq":
            vars_ = point_vars[id(parent)]
        else:
            vars_ = identify_variables(con.body, include_fixed=False)
        for v in vars_:
            if not v.fixed:
                seen.add(v)
    return len(seen) - n_eq


def dof_causes(model: pyo.Block, net=None, excess: int = 0) -> list[str]:
    """Likely reasons for ``excess`` unexpected degrees of freedom (negative: too few).

    Looks at every hybrid unit of ``model``: inputs left free, initial states
    not fixed, learned terms without a network equation (too many); states
    fixed after the start (too few).
    """
    covered = ComponentSet()
    for n in as_networks(net):
        for _, _, z in n.point_items(active=True):
            covered.update(z)
    causes = []
    for unit in hybrid_units(model):
        time = unit.flowsheet().time
        t0 = time.first()
        for name in unit.input_names if excess > 0 else ():
            free = [v for v in getattr(unit, name).values() if not v.fixed]
            if free:
                causes.append(f"input {unit.name}.{name} is free at {len(free)} time points (fix it)")
        for name in unit.state_names:
            var = getattr(unit, name)
            if excess > 0 and not var[t0].fixed:
                causes.append(f"initial state {var[t0].name} is not fixed")
            late = [t for t in time if t != t0 and var[t].fixed]
            if excess < 0 and late:
                causes.append(f"state {unit.name}.{name} is fixed at {len(late)} time points after "
                              f"t0 (only the initial state may be fixed)")
        external = getattr(getattr(unit, "config", None), "kinetics", None) is KineticsMode.EXTERNAL
        for name in unit.learned_names if excess > 0 and external else ():
            loose = [v for v in getattr(unit, name).values() if not v.fixed and v not in covered]
            if loose:
                causes.append(f"learned term {unit.name}.{name} has no equation at {len(loose)} time "
                              "points (no active network point supplies it)")
    for n in as_networks(net) if excess > 0 else ():
        if not n.weights_fixed and any(b.active for b, _, _ in n.point_items(active=False)):
            causes.append(f"the weights of {n.name} are free (fix them for a simulation)")
    return causes


def check_degrees_of_freedom(model: pyo.Block, expected: int, context: str, net=None) -> int:
    """Raise :class:`DegreesOfFreedomError` unless ``model`` has ``expected`` degrees of freedom.

    Parameters
    ----------
    model
        The model about to be solved.
    expected
        Degrees of freedom the solve needs (0 for a simulation, the number of free
        weights for training, ...).
    context
        Start of the error message (what is being solved, e.g. ``"prediction of 'b1'"``).
    net
        The model's network block (faster count, and its weights are checked).

    Returns
    -------
    int
        The degrees of freedom (equal to ``expected``).
    """
    dof = count_degrees_of_freedom(model, net)
    if dof != expected:
        causes = dof_causes(model, net, dof - expected) or [
            "no free input or fixed state found; look for a variable that no equation determines"]
        raise DegreesOfFreedomError(
            f"{context}: the model has {dof} degrees of freedom, expected {expected}; likely "
            f"cause: {'; '.join(causes)}")
    return dof


def training_degrees_of_freedom(net) -> int:
    """Degrees of freedom a training-stage model should have.

    The free weights and biases (of each network with an active point) plus the
    free outputs of inactive points (the smoother's free profiles). ``net`` is a
    network block or a list of them.
    """
    total, free_outputs = 0, ComponentSet()
    for n in as_networks(net):
        items = n.point_items(active=False)
        if any(b.active for b, _, _ in items):
            total += sum(1 for v in n.parameter_vars() if not v.fixed)
        free_outputs.update(z for b, _, zs in items if not b.active for z in zs if not z.fixed)
    return total + len(free_outputs)
