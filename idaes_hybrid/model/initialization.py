"""Initialization of hybrid dynamic units: an element-by-element Newton march.

With the network's weights fixed (or the unit's own reference kinetics), a
discretized hybrid unit with fixed inputs and initial state is a square system
whose incidence matrix is block lower triangular in time: the equations at
``t0``, then one block per finite element (its collocation points' balances,
collocation equations and network points). :class:`HybridUnitInitializer`
solves these blocks in order, like an implicit integrator: each block starts
from the values solved for the previous time and is converged by a damped Newton
method, with the physics compiled from ``.nl`` and the network evaluated in
numpy (:class:`~idaes_hybrid.solve.nl_system.EquationSystem`). The result is a
consistent trajectory, from which the full square solve (prediction) or the
training solve starts.

    init = HybridUnitInitializer(network=m.net)
    init.initialize(m.experiment["b1"].fs.unit)
"""

from __future__ import annotations

import time as _time

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentSet
from pyomo.common.config import ConfigValue
from pyomo.contrib.incidence_analysis.triangularize import block_triangularize
from scipy import sparse
from scipy.sparse.linalg import splu

import idaes.logger as idaeslog
from idaes.core.initialization import InitializerBase
from idaes.core.initialization.initializer_base import InitializationStatus
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.model.dof import dof_causes
from idaes_hybrid.solve.nl_system import EquationSystem, physics_constraints
from idaes_hybrid.solve.square_block import solve_square_block
from idaes_hybrid.nn.block import as_networks

_log = idaeslog.getLogger(__name__)


def _time_position(component, time_set) -> int | None:
    """Position of ``time_set`` in the (flattened) index of ``component``; None if the
    component is not indexed by it (or its index sets have no fixed dimension)."""
    if not component.is_indexed():
        return None
    pos = 0
    for sub in component.index_set().subsets():
        if sub is time_set:
            return pos
        if sub.dimen is None:
            return None
        pos += sub.dimen
    return None


def _key_and_time(var, time_set, positions: dict):
    """``(where the variable sits, without time)`` and its time (None without one).

    The time is found by position in the index sets of the variable or of the block
    holding it (a state block ``properties[t, x]``), so the same variable at another
    time has the same key, and a space index stays in the key whatever values the
    time and space domains share."""
    key, t, obj = [], None, var
    while obj is not None:
        comp = obj.parent_component()
        if id(comp) not in positions:
            positions[id(comp)] = _time_position(comp, time_set)
        pos = positions[id(comp)]
        idx = obj.index()
        parts = idx if isinstance(idx, tuple) else (idx,)
        if t is None and pos is not None and pos < len(parts):
            t, parts = parts[pos], parts[:pos] + parts[pos + 1:]
        key.append((comp.local_name, parts))
        obj = comp.parent_block()
    return tuple(key), t


#: Blocks up to this size are solved densely (least squares if singular); larger ones
#: (the union of a finite element's blocks) by a sparse LU.
DENSE_LIMIT = 200
#: Newton iterations a finite element's group gets before it is solved block by block
#: (a stiff or badly scaled group stalls where its triangular blocks converge).
GROUP_NEWTON_ITER = 10
#: A residual below this fraction of its equation's largest term (``_term_sizes``) where
#: Newton can no longer decrease it is round-off: the block has converged.
ROUNDOFF = 1e-8


def _newton_step(jac, f: np.ndarray) -> np.ndarray | None:
    """Solve ``jac @ step = -f``; None when a large block is singular."""
    if jac.shape[0] <= DENSE_LIMIT:
        dense = jac.toarray()
        try:
            return np.linalg.solve(dense, -f)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(dense, -f, rcond=None)[0]
    try:
        step = splu(jac.tocsc()).solve(-f)
    except RuntimeError:  # exactly singular
        return None
    return step if np.all(np.isfinite(step)) else None


def _row_weights(jac) -> np.ndarray:
    """1 / the largest absolute entry of each row of ``jac`` (1 for an empty row)."""
    largest = np.asarray(abs(jac).max(axis=1).todense()).ravel() if jac.shape[1] else np.zeros(jac.shape[0])
    return np.where(largest > 0, 1.0 / np.where(largest > 0, largest, 1.0), 1.0)


def _term_sizes(jac, xc: np.ndarray) -> np.ndarray:
    """Each row's largest term size ``max_j |J_ij| max(1, |x_j|)``, at least 1: a residual
    below ``ROUNDOFF`` times it is zero to round-off. A time unit of minutes multiplies the
    collocation equations' terms by 60 (an energy holdup of 4e5 J over elements of 0.08
    min leaves 1e-6 of round-off, above an absolute 1e-9)."""
    if not jac.shape[1]:
        return np.ones(jac.shape[0])
    sized = abs(jac) @ sparse.diags(np.maximum(1.0, np.abs(xc)))
    return np.maximum(1.0, np.asarray(sized.max(axis=1).todense()).ravel())


def _newton(system: EquationSystem, x: np.ndarray, rows, cols, tol: float, max_iter: int,
            weighted: bool = False):
    """Damped Newton on ``F[rows](x) = 0`` in ``x[cols]``; returns (x, residual, iterations).

    ``weighted``: the line search's merit weighs each equation by its largest Jacobian
    entry at the start (``_row_weights``). Unweighted, a balance in W outweighs one in
    mol/s, and the full step that settles the temperature of an exothermic reactor is
    refused (the march then stalls); the unweighted merit stays nearer the start (a
    state near its bound of 0 stays on its side)."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    f = system.residuals(x)[rows]
    norm = float(np.max(np.abs(f))) if len(f) else 0.0
    weights, scale = None, None
    for it in range(max_iter):
        if norm <= tol:
            return x, norm, it
        jac = system.jacobian(x)[rows][:, cols]
        if scale is None:
            scale = _term_sizes(jac, x[cols])
        if weights is None:
            weights = _row_weights(jac) if weighted else np.ones(len(rows))
        step = _newton_step(jac, f)
        if step is None:
            return x, _settled(f, norm, scale), it
        alpha, phi = 1.0, 0.5 * float((weights * f) @ (weights * f))
        while alpha > 1e-6:
            trial = x.copy()
            trial[cols] += alpha * step
            f_trial = system.residuals(trial)[rows]
            with np.errstate(over="ignore"):  # a huge trial residual: merit inf, step refused
                w_trial = weights * f_trial
                merit = 0.5 * float(w_trial @ w_trial)
            if np.all(np.isfinite(f_trial)) and merit <= (1 - 1e-4 * alpha) * phi:
                break
            alpha *= 0.5
        else:
            return x, _settled(f, norm, scale), it
        x, f = trial, f_trial
        norm = float(np.max(np.abs(f)))
        if alpha == 1.0 and np.max(np.abs(step)) <= 1e-14 * (1.0 + np.max(np.abs(x[cols]))):
            return x, _settled(f, norm, scale), it + 1
    return x, _settled(f, norm, scale), max_iter


def _settled(f: np.ndarray, norm: float, scale: np.ndarray | None) -> float:
    """The residual Newton stopped at: ``norm``, or, where every equation is zero to the
    round-off of its terms (``ROUNDOFF`` of ``_term_sizes``), that relative size (the block
    has converged)."""
    if scale is None or not len(f):
        return norm
    rel = float(np.max(np.abs(f) / scale))
    return rel if rel <= ROUNDOFF else norm


def _violations(system: EquationSystem, x: np.ndarray, cols) -> int:
    """How many of the variables ``cols`` lie outside their bounds at ``x`` (beyond a
    relative 1e-6: a state depleted to -1e-10 within an element is not counted)."""
    count = 0
    for c in cols:
        v = system.variables[c]
        lo, hi = v.lb, v.ub
        if (lo is not None and x[c] < lo - 1e-6 * max(1.0, abs(lo))) or \
                (hi is not None and x[c] > hi + 1e-6 * max(1.0, abs(hi))):
            count += 1
    return count


def _outlet_twins(model: pyo.Block, system: EquationSystem) -> dict[int, int | pyo.Var]:
    """Each variable of a 0D control volume's outlet state block in the system (by column),
    with its twin in the inlet state block at the same time (its column, or the variable
    when the system does not hold it): IDAES's own first guess for a unit's outlet is its
    inlet state."""
    from idaes.core.base.control_volume0d import ControlVolume0DBlockData

    column = {id(v): i for i, v in enumerate(system.variables)}
    twins: dict[int, int | pyo.Var] = {}
    for cv in model.component_data_objects(pyo.Block, descend_into=True):
        if not isinstance(cv, ControlVolume0DBlockData) or not hasattr(cv, "properties_in"):
            continue
        for t in cv.properties_out:
            pin = cv.properties_in[t]
            for var in cv.properties_out[t].component_data_objects(pyo.Var, descend_into=False):
                twin = pin.component(var.parent_component().local_name)
                if id(var) in column and twin is not None and var.index() in twin:
                    twin = twin[var.index()]
                    twins[column[id(var)]] = column.get(id(twin), twin)
    return twins


def _element_groups(pattern, row_blocks, col_blocks, times: list, time_set) -> list[list[int]]:
    """The triangular blocks grouped by finite element of time, in a valid solve order.

    A block's element is the latest element of its own variables' times and of the
    blocks it depends on (-1 without either), so sorting the blocks by it (stably: the
    triangular order within an element) keeps every block after those it depends on.
    """
    finite = getattr(time_set, "get_finite_elements", None)
    bounds = np.asarray(finite() if finite is not None else list(time_set), float)
    block_of = np.empty(pattern.shape[1], dtype=np.int64)
    for b, cols in enumerate(col_blocks):
        block_of[np.asarray(cols, dtype=np.int64)] = b
    csr = pattern.tocsr()
    element = np.full(len(col_blocks), -1, dtype=np.int64)
    for b, (rows, cols) in enumerate(zip(row_blocks, col_blocks)):
        own = [t for t in (times[c] for c in cols) if t is not None]
        if own:
            element[b] = int(np.searchsorted(bounds, max(own) - 1e-12 * max(1.0, abs(bounds[-1]))))
        deps = block_of[np.concatenate([csr.indices[csr.indptr[r]:csr.indptr[r + 1]] for r in rows])]
        if len(deps):
            element[b] = max(element[b], int(element[deps].max()))
    order = np.argsort(element, kind="stable")
    groups: list[list[int]] = []
    for b in order:
        if groups and element[groups[-1][0]] == element[b]:
            groups[-1].append(int(b))
        else:
            groups.append([int(b)])
    return groups


class HybridUnitInitializer(InitializerBase):
    """Initializer for dynamic hybrid units: element-by-element Newton march.

    The unit's inputs and initial state must be fixed, and its learned term must
    be determined: by the active points of ``network`` (weights fixed) or by the
    unit's own equations (``KineticsMode.REFERENCE``). The march does not change
    which variables are fixed; it raises :class:`InitializationError` naming the
    unit and the block (variables and time) that did not converge.
    """

    CONFIG = InitializerBase.CONFIG()
    CONFIG.declare("network", ConfigValue(
        default=None,
        description="NeuralNetworkBlock (or list of them) whose points supply the unit's "
                    "learned terms (weights fixed); None if the unit's own equations determine them"))
    CONFIG.declare("newton_tol", ConfigValue(
        default=1e-9, domain=float, description="Absolute residual tolerance of each block"))
    CONFIG.declare("max_newton_iter", ConfigValue(
        default=50, domain=int, description="Newton iterations allowed per block"))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._systems: dict = {}
        self._twins: dict = {}
        self.stats: dict = {}

    # -------------------------------------------------------------- workflow
    def get_current_state(self, model: pyo.Block):
        """IDAES's record of every fixed flag and active status, taken only where
        :meth:`fix_initialization_states` changes some (a unit model): the march sets the
        values of free variables and nothing else, and on a flowsheet of a few thousand
        equations the record and its restore cost ~0.9 s per march."""
        if hasattr(model, "fix_initialization_states"):
            return super().get_current_state(model)
        self.initial_state.pop(model, None)
        return None

    def restore_model_state(self, model: pyo.Block) -> None:
        """Restore what :meth:`get_current_state` recorded (nothing on a flowsheet)."""
        if model in self.initial_state:
            super().restore_model_state(model)

    def precheck(self, model: pyo.Block) -> None:
        """Build the unit's equation system and check that it is square."""
        net = self.config.network
        for n in as_networks(net):
            if not n.weights_fixed:
                self._update_summary(model, "status", InitializationStatus.PrecheckFailed)
                raise InitializationError(f"{model.name}: the weights of {n.name} must be fixed to "
                                          "initialize the unit (call fix_weights())")
        cons = physics_constraints(model, equality_only=True)
        system = EquationSystem(cons, net)
        dof = system.n - system.m
        self._update_summary(model, "DoF", dof)
        if dof != 0:
            self._update_summary(model, "status", InitializationStatus.DoF)
            causes = dof_causes(model, net, dof) or ["no free input or fixed state found"]
            raise InitializationError(
                f"{model.name}: {dof} degrees of freedom in its equations with the network points "
                f"(expected 0); likely cause: {'; '.join(causes)}")
        self._systems[model] = system

    def initialization_routine(self, model: pyo.Block) -> None:
        """March through the finite elements of time in order (see :meth:`march`)."""
        system = self._systems[model]
        start = _time.perf_counter()
        x = self.march(model, system)
        system.set_x(x)
        unit_vars = ComponentSet(system.variables)
        for net in as_networks(self.config.network):
            from idaes_hybrid.nn.formulations import FORMULATIONS

            init_aux = FORMULATIONS[net.config.formulation].initialize
            for blk, _, z in net.point_items():
                if any(v in unit_vars for v in z):
                    init_aux(blk)
        self.stats[model] = {**self.stats.get(model, {}), "wall_time_s": _time.perf_counter() - start}
        return None

    def march(self, model: pyo.Block, system: EquationSystem) -> np.ndarray:
        """Solve the system element by element; return the solution vector.

        The blocks of the triangular decomposition are grouped by the finite element of
        time they belong to (a block's element is the latest one of its own variables and
        of the blocks it depends on). Each group, all its space points included, is one
        Newton solve; a group that does not converge is solved again block by block from
        the same start (and, if it stalls, once more with the equations weighted by their
        Jacobian rows in the line search)."""
        time_set = model.time if isinstance(getattr(model, "time", None), pyo.Set) \
            else model.flowsheet().time
        pattern = system.pattern()
        row_blocks, col_blocks = block_triangularize(pattern)
        positions: dict = {}
        keys = [_key_and_time(v, time_set, positions) for v in system.variables]
        groups = _element_groups(pattern, row_blocks, col_blocks, [k[1] for k in keys], time_set)
        latest: dict = {}
        x = system.get_x()
        stats = {"blocks": len(row_blocks), "groups": len(groups), "newton_iterations": 0,
                 "max_residual": 0.0, "groups_solved_by_block": 0}
        for group in groups:
            cols = np.concatenate([col_blocks[b] for b in group])
            for c in cols:  # start from the latest solved value of the same variable
                if keys[c][0] in latest:
                    x[c] = latest[keys[c][0]]
            rows = np.concatenate([row_blocks[b] for b in group])
            trial, res, its = _newton(system, x, rows, cols, self.config.newton_tol,
                                      min(GROUP_NEWTON_ITER, self.config.max_newton_iter))
            stats["newton_iterations"] += its
            if res <= self.config.newton_tol:
                x = self._physical(model, system, x, trial, rows, cols, stats)
            else:
                stats["groups_solved_by_block"] += 1
                start = x.copy()
                x, res = self._solve_blocks(model, system, x, [(row_blocks[b], col_blocks[b]) for b in group],
                                            keys, latest, stats)
                x = self._physical(model, system, start, x, rows, cols, stats)
            stats["max_residual"] = max(stats["max_residual"], res)
            for c in cols:
                latest[keys[c][0]] = x[c]
        self.stats[model] = stats
        _log.debug(f"{model.name}: marched {len(groups)} elements ({len(row_blocks)} blocks), "
                   f"{stats['newton_iterations']} Newton iterations")
        return x

    def _physical(self, model: pyo.Block, system: EquationSystem, start: np.ndarray, solved: np.ndarray,
                  rows, cols, stats: dict) -> np.ndarray:
        """``solved``, unless it left variable bounds (a root where a mole fraction is
        negative: a network extrapolating to a negative rate on the way there) and the
        group converges, with fewer variables outside, from its units' outlet states
        started at their inlet states (clipped into the bounds)."""
        bad = _violations(system, solved, cols)
        if not bad:
            return solved
        if id(system) not in self._twins:
            self._twins[id(system)] = _outlet_twins(model, system)
        twins = self._twins[id(system)]
        moved = [c for c in cols if c in twins]
        if not moved:
            return solved
        retry = start.copy()
        for c in moved:
            twin = twins[c]
            value = solved[twin] if isinstance(twin, int) else twin.value
            v = system.variables[c]
            if value is not None:
                retry[c] = min(max(value, -np.inf if v.lb is None else v.lb),
                               np.inf if v.ub is None else v.ub)
        for weighted in (False, True):
            x, res, its = _newton(system, retry, rows, cols, self.config.newton_tol,
                                  self.config.max_newton_iter, weighted=weighted)
            stats["newton_iterations"] += its
            if res <= self.config.newton_tol and _violations(system, x, cols) < bad:
                stats["groups_restarted_from_inlet"] = stats.get("groups_restarted_from_inlet", 0) + 1
                return x
        return solved

    def _solve_blocks(self, model, system: EquationSystem, x: np.ndarray, blocks: list, keys: list,
                      latest: dict, stats: dict) -> tuple[np.ndarray, float]:
        """Solve ``blocks`` one after the other (each from the latest solved values);
        raise :class:`InitializationError` naming the first that does not converge."""
        tol, worst = self.config.newton_tol, 0.0
        for rows, cols in blocks:
            for c in cols:
                if keys[c][0] in latest:
                    x[c] = latest[keys[c][0]]
            start = x
            x, res, its = _newton(system, start, rows, cols, tol, self.config.max_newton_iter)
            stats["newton_iterations"] += its
            if not res <= tol:  # stalled: again with a merit that weighs W and mol/s alike
                x, res, its = _newton(system, start, rows, cols, tol, self.config.max_newton_iter,
                                      weighted=True)
                stats["newton_iterations"] += its
                stats["blocks_weighted"] = stats.get("blocks_weighted", 0) + 1
            if not res <= tol:  # a non-root where the norm has a local minimum: Ipopt's globalization
                x, norm = solve_square_block(system, start, rows, cols, tol)
                res = _settled(system.residuals(x)[rows], norm,  # as Newton's: zero to its terms' round-off
                               _term_sizes(system.jacobian(x)[rows][:, cols], x[cols]))
                stats["blocks_by_ipopt"] = stats.get("blocks_by_ipopt", 0) + 1
            if not res <= tol:
                names = [system.variables[c].name for c in cols]
                times = [keys[c][1] for c in cols if keys[c][1] is not None]
                where = f"t in [{min(times):g}, {max(times):g}]" if times else "no time index"
                bad = system.row_names[rows[int(np.argmax(np.abs(system.residuals(x)[rows])))]]
                self._update_summary(model, "status", InitializationStatus.Failed)
                raise InitializationError(
                    f"{model.name}: the march did not converge in the block of {len(cols)} variables "
                    f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}; {where}): "
                    f"residual {res:.3g} after {its} Newton iterations and an Ipopt solve of the block, "
                    f"largest in {bad}")
            worst = max(worst, res)
            for c in cols:
                latest[keys[c][0]] = x[c]
        return x, worst

    def postcheck(self, model: pyo.Block, results_obj=None, exclude_unused_vars: bool = False):
        """Check the equality residuals (physics and network) at the marched point."""
        system = self._systems.pop(model, None)
        if system is None:
            return super().postcheck(model, results_obj, exclude_unused_vars)
        x = system.get_x()
        res = np.abs(system.residuals(x))[system.equality]
        if len(res) and res.max() > self.config.constraint_tolerance:  # relative to the terms
            res = res / _term_sizes(system.jacobian(x)[system.equality], x)
        worst = float(res.max()) if len(res) else 0.0
        self._update_summary(model, "max_residual", worst)
        if worst > self.config.constraint_tolerance:
            names = np.asarray(system.row_names)[system.equality]
            self._update_summary(model, "status", InitializationStatus.Failed)
            raise InitializationError(f"{model.name}: residual {worst:.3g} in "
                                      f"{names[int(np.argmax(res))]} after initialization")
        self._update_summary(model, "status", InitializationStatus.Ok)
        return self.summary[model]["status"]
