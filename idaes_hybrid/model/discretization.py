"""Unit-consistent time discretization equations.

``pyomo.dae`` writes each collocation equation as ``dx/dt[t] == sum(a * x) / h``
with ``h`` a plain number: a ``ContinuousSet`` has no units, so every equation
is reported as having inconsistent units (``dx/dt`` in ``g/L/h``, the sum in
``g/L``), and IDAES's :class:`DiagnosticsToolbox` raises a structural warning for
each one. :func:`make_time_discretization_consistent` rewrites the equations
as ``c * dx/dt[t] * time_units == -(sum(a * x) + const)``, which is the same
equation numerically (units are 1 in the solver) and consistent in units.
"""

from __future__ import annotations

import pyomo.environ as pyo
from pyomo.dae import DerivativeVar
from pyomo.repn import generate_standard_repn


def make_time_discretization_consistent(block: pyo.Block, time_set, time_units) -> int:
    """Give the discretization equations of every time derivative in ``block`` units.

    Parameters
    ----------
    block
        A discretized block (for example a flowsheet).
    time_set
        The ``ContinuousSet`` the derivatives are taken with respect to.
    time_units
        Units of ``time_set`` (``flowsheet.time_units``).

    Returns
    -------
    int
        Number of equations rewritten (linear ones with one derivative term).
    """
    count = 0
    # after discretization pyomo.dae reclassifies derivatives as ctype Var
    for dv in block.component_objects((DerivativeVar, pyo.Var), descend_into=True):
        if not isinstance(dv, DerivativeVar) or dv.get_continuousset_list() != [time_set]:
            continue
        disc = dv.parent_block().component(dv.local_name + "_disc_eq")
        if disc is None:
            continue
        for con in disc.values():
            repn = generate_standard_repn(con.body, compute_values=False, quadratic=False)
            if not repn.is_linear():
                continue
            own = [(c, v) for c, v in zip(repn.linear_coefs, repn.linear_vars) if v.parent_component() is dv]
            if len(own) != 1 or con.lower is None or con.upper is None:
                continue
            terms = [c * v for c, v in zip(repn.linear_coefs, repn.linear_vars)
                     if v.parent_component() is not dv]
            const = repn.constant - pyo.value(con.upper)  # zero for collocation equations
            rest = sum(terms) + const if not isinstance(const, (int, float)) or const else sum(terms)
            coef, var = own[0]
            con.set_value(coef * var * time_units == -rest)
            count += 1
    return count
