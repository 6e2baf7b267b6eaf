"""A model's constraints as one compiled numeric system ``F(x)``, with its Jacobian.

The constraints outside the network (balances, collocation equations, ...) are
written to an ``.nl`` file and evaluated by POUNCE's compiled reader; the network
equations at every point are evaluated together in numpy with exact input
derivatives (as in :mod:`idaes_hybrid.solve.batched`), so the nested network
expressions are never walked in Python. Used by the initializer (element by
element Newton march), the numerical diagnostics and the scaling code.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.base.constraint import ConstraintData
from pyomo.repn.plugins.nl_writer import NLWriter
from pyomo.core.base.reference import Reference
from pyomo.util.subsystems import add_local_external_functions

from idaes_hybrid.solve.batched import NetworkParts
from idaes_hybrid.nn.block import as_networks


def network_constraint_ids(net) -> set[int]:
    """``id`` of every constraint inside the point blocks of ``net`` (a network block,
    a list of them or None), active or not."""
    return {id(c) for n in as_networks(net) for b, _, _ in n.point_items(active=False)
            for c in b.component_data_objects(pyo.Constraint, descend_into=True)}


def physics_constraints(block: pyo.Block, net=None, equality_only: bool = False) -> list[ConstraintData]:
    """Active constraints of ``block`` that are not network point equations."""
    skip = network_constraint_ids(net)
    return [c for c in block.component_data_objects(pyo.Constraint, active=True, descend_into=True)
            if id(c) not in skip and (c.equality or not equality_only)]


def constraint_block(constraints: Sequence[ConstraintData]) -> pyo.Block:
    """A block that references ``constraints`` (and the external functions they call), for
    the ``.nl`` writer. Pyomo's ``create_subsystem_block`` also collects the variables in a
    second reference, which the writer finds by itself: the same ``.nl`` file, about a third
    of the time (0.69 -> 0.24 s for 6045 constraints of an IDAES CSTR on 40 elements)."""
    block = pyo.Block(concrete=True)
    block.cons = Reference(list(constraints))
    add_local_external_functions(block)
    return block


class EquationSystem:
    """Constraints plus network points of a model as ``F(x)`` over its free variables.

    Parameters
    ----------
    constraints
        Pyomo constraints (no network point equations) written to ``.nl``.
    net
        Optional :class:`~idaes_hybrid.nn.block.NeuralNetworkBlock` (or a list of
        them) with fixed weights; active points whose outputs are columns of the
        system add one row per output.

    Attributes
    ----------
    variables : list
        Pyomo variables, one per column.
    row_constraints : list
        Pyomo constraint of every row (a network row: its point's ``output_eq[o]``).
    row_names : list of str
        Name of every row's constraint.
    equality : numpy.ndarray of bool
        Which rows are equalities (inequality rows report their violation).
    """

    def __init__(self, constraints: Sequence[ConstraintData], net=None):
        import pounce

        if not constraints:
            raise ValueError("EquationSystem: no constraints to write")
        sub = constraint_block(constraints)
        with tempfile.TemporaryDirectory(prefix="idaes_hybrid_sys_") as tmp:
            path = Path(tmp) / "system.nl"
            with open(path, "w") as f:
                info = NLWriter().write(sub, f, linear_presolve=False, scale_model=False,
                                        skip_trivial_constraints=False)
            self._nl = pounce.read_nl(str(path))
        self.variables = list(info.variables)
        self.constraints = list(info.constraints)
        self.n = len(self.variables)
        self._col_of = {id(v): i for i, v in enumerate(self.variables)}
        self._gl, self._gu = np.asarray(self._nl.g_l, float), np.asarray(self._nl.g_u, float)
        jr, jc = self._nl.jacobian_structure()
        self._jr, self._jc = np.asarray(jr, np.int64), np.asarray(jc, np.int64)
        self.m_nl = len(self.constraints)
        self.row_constraints = list(self.constraints)
        self._netp, self._net_rows = None, np.zeros(0, dtype=np.int64)
        nets = [n for n in as_networks(net) if n.point_io()]
        for n in nets:
            if not n.weights_fixed:
                raise ValueError(f"{n.name}: weights must be fixed to evaluate the network points")
        if nets:
            self._add_network(nets)
        self.m = self.m_nl + len(self._net_rows)
        self.equality = np.concatenate([np.isclose(self._gl, self._gu, rtol=0, atol=0),
                                        np.ones(len(self._net_rows), bool)])

    def _add_network(self, nets) -> None:
        netp = NetworkParts(nets, self._col_of, self.n)
        keep = np.flatnonzero(netp.row_out_cols >= 0)
        if not len(keep):
            return
        self._netp, self._net_rows = netp, np.asarray(keep, dtype=np.int64)
        new_row = -np.ones(netp.n_rows, dtype=np.int64)
        new_row[self._net_rows] = np.arange(len(keep))
        mask = new_row[netp.jac_rows] >= 0
        self._net_jmask = mask
        self._net_jr = self.m_nl + new_row[netp.jac_rows[mask]]
        self._net_jc = netp.jac_cols[mask]
        self.row_constraints += [netp.row_constraint(r) for r in keep]

    @functools.cached_property
    def row_names(self) -> list[str]:
        """Name of every row's constraint (built on first use: ~0.1 ms a name)."""
        return [c.name for c in self.row_constraints]

    # ------------------------------------------------------------------ values
    def get_x(self) -> np.ndarray:
        """Current values of the columns (None counts as 0)."""
        return np.array([v.value if v.value is not None else 0.0 for v in self.variables], float)

    def set_x(self, x: np.ndarray) -> None:
        """Load ``x`` into the Pyomo variables (bounds not enforced)."""
        for v, val in zip(self.variables, x):
            v.set_value(float(val), skip_validation=True)

    def column(self, var) -> int | None:
        """Column of ``var``, or None."""
        return self._col_of.get(id(var))

    # ------------------------------------------------------------- evaluation
    def body(self, x: np.ndarray) -> np.ndarray:
        """Constraint bodies of the ``.nl`` rows and network residuals."""
        g = np.asarray(self._nl.constraints(np.asarray(x, float)), float)
        if self._netp is None:
            return g
        return np.concatenate([g, self._netp.residuals(np.asarray(x, float))[self._net_rows]])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """Equality rows: ``body - rhs``; inequality rows: their violation (0 if satisfied)."""
        g = self.body(x)
        r = np.zeros(self.m)
        gl = np.concatenate([self._gl, np.zeros(len(self._net_rows))])
        gu = np.concatenate([self._gu, np.zeros(len(self._net_rows))])
        eq = self.equality
        r[eq] = g[eq] - gl[eq]
        below, above = np.maximum(gl - g, 0.0), np.maximum(g - gu, 0.0)
        r[~eq] = np.where(np.isfinite(below), below, 0.0)[~eq] + np.where(np.isfinite(above), above, 0.0)[~eq]
        return r

    def jacobian(self, x: np.ndarray) -> sp.csr_matrix:
        """Sparse Jacobian of :meth:`body` at ``x``."""
        x = np.asarray(x, float)
        vals = [np.asarray(self._nl.jacobian(x), float)]
        rows, cols = [self._jr], [self._jc]
        if self._netp is not None:
            vals.append(self._netp.jacobian(x)[self._net_jmask])
            rows.append(self._net_jr)
            cols.append(self._net_jc)
        return sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(self.m, self.n)).tocsr()

    def pattern(self) -> sp.coo_matrix:
        """Structural sparsity pattern (ones) of the Jacobian."""
        rows, cols = [self._jr], [self._jc]
        if self._netp is not None:
            rows.append(self._net_jr)
            cols.append(self._net_jc)
        r, c = np.concatenate(rows), np.concatenate(cols)
        return sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(self.m, self.n)).tocsr().tocoo()
