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
from collections import defaultdict

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentSet
from pyomo.common.config import ConfigValue
from pyomo.contrib.incidence_analysis.triangularize import block_triangularize

import idaes.logger as idaeslog
from idaes.core.initialization import InitializerBase
from idaes.core.initialization.initializer_base import InitializationStatus
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.model.dof import dof_causes, hybrid_units
from idaes_hybrid.solve.nl_system import EquationSystem, physics_constraints
from idaes_hybrid.nn.block import as_networks

_log = idaeslog.getLogger(__name__)


def _key_and_time(var, time_set):
    """``(component, index without time)`` and the time of a time-indexed variable."""
    idx = var.index()
    parts = idx if isinstance(idx, tuple) else (idx,)
    t = next((p for p in parts if isinstance(p, float) and p in time_set), None)
    rest = tuple(p for p in parts if p is not t)
    return (id(var.parent_component()), rest), t


def _newton(system: EquationSystem, x: np.ndarray, rows, cols, tol: float, max_iter: int):
    """Damped Newton on ``F[rows](x) = 0`` in ``x[cols]``; returns (x, residual, iterations)."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    f = system.residuals(x)[rows]
    norm = float(np.max(np.abs(f))) if len(f) else 0.0
    for it in range(max_iter):
        if norm <= tol:
            return x, norm, it
        jac = system.jacobian(x)[rows][:, cols].toarray()
        try:
            step = np.linalg.solve(jac, -f)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(jac, -f, rcond=None)[0]
        alpha, phi = 1.0, 0.5 * float(f @ f)
        while alpha > 1e-6:
            trial = x.copy()
            trial[cols] += alpha * step
            f_trial = system.residuals(trial)[rows]
            if np.all(np.isfinite(f_trial)) and 0.5 * float(f_trial @ f_trial) <= (1 - 1e-4 * alpha) * phi:
                break
            alpha *= 0.5
        else:
            return x, norm, it
        x, f = trial, f_trial
        norm = float(np.max(np.abs(f)))
        if alpha == 1.0 and np.max(np.abs(step)) <= 1e-14 * (1.0 + np.max(np.abs(x[cols]))):
            return x, norm, it + 1
    return x, norm, max_iter


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
        self.stats: dict = {}

    # -------------------------------------------------------------- workflow
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
        """March through the blocks of the triangular decomposition in order."""
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
        """Solve the system block by block; return the solution vector."""
        time_set = model.time if isinstance(getattr(model, "time", None), pyo.Set) \
            else model.flowsheet().time
        row_blocks, col_blocks = block_triangularize(system.pattern())
        keys = [_key_and_time(v, time_set) for v in system.variables]
        latest: dict = {}
        x = system.get_x()
        n_newton, worst = 0, 0.0
        tol, max_iter = self.config.newton_tol, self.config.max_newton_iter
        for rows, cols in zip(row_blocks, col_blocks):
            for c in cols:  # start from the latest solved value of the same variable
                key, _ = keys[c]
                if key in latest:
                    x[c] = latest[key]
            x, res, its = _newton(system, x, rows, cols, tol, max_iter)
            n_newton += its
            if not res <= tol:
                names = [system.variables[c].name for c in cols]
                times = [keys[c][1] for c in cols if keys[c][1] is not None]
                where = f"t in [{min(times):g}, {max(times):g}]" if times else "no time index"
                bad = system.row_names[rows[int(np.argmax(np.abs(system.residuals(x)[rows])))]]
                self._update_summary(model, "status", InitializationStatus.Failed)
                raise InitializationError(
                    f"{model.name}: the march did not converge in the block of {len(cols)} variables "
                    f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}; {where}): "
                    f"residual {res:.3g} after {its} Newton iterations, largest in {bad}")
            worst = max(worst, res)
            for c in cols:
                latest[keys[c][0]] = x[c]
        self.stats[model] = {"blocks": len(row_blocks), "newton_iterations": n_newton,
                             "max_residual": worst}
        _log.debug(f"{model.name}: marched {len(row_blocks)} blocks, {n_newton} Newton iterations")
        return x

    def postcheck(self, model: pyo.Block, results_obj=None, exclude_unused_vars: bool = False):
        """Check the equality residuals (physics and network) at the marched point."""
        system = self._systems.pop(model, None)
        if system is None:
            return super().postcheck(model, results_obj, exclude_unused_vars)
        res = np.abs(system.residuals(system.get_x()))[system.equality]
        worst = float(res.max()) if len(res) else 0.0
        self._update_summary(model, "max_residual", worst)
        if worst > self.config.constraint_tolerance:
            names = np.asarray(system.row_names)[system.equality]
            self._update_summary(model, "status", InitializationStatus.Failed)
            raise InitializationError(f"{model.name}: residual {worst:.3g} in "
                                      f"{names[int(np.argmax(res))]} after initialization")
        self._update_summary(model, "status", InitializationStatus.Ok)
        return self.summary[model]["status"]


def initialize_hybrid_units(model: pyo.Block, net=None, **options) -> dict:
    """Initialize every hybrid unit of ``model`` with its ``default_initializer``.

    Parameters
    ----------
    model
        Model holding one or more hybrid units (e.g. a prediction model).
    net
        The network block supplying the units' learned terms (weights fixed).
    **options
        Further options of the initializer (``newton_tol``, ``max_newton_iter``).

    Returns
    -------
    dict
        Unit name -> march statistics (blocks, Newton iterations, wall time).
    """
    stats = defaultdict(dict)
    for unit in hybrid_units(model):
        cls = getattr(unit, "default_initializer", None)
        if not (isinstance(cls, type) and issubclass(cls, HybridUnitInitializer)):
            cls = HybridUnitInitializer
        init = cls(network=net, **options)
        init.initialize(unit)
        stats[unit.name] = init.stats.get(unit, {})
    return dict(stats)
