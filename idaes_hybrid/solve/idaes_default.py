"""IDAES's own solves (``get_solver()``, unit initializers) on idaes-hybrid's solver.

On a machine without an ``ipopt`` executable, IDAES finds no solver. These functions make
``idaes.core.solvers.get_solver()`` return real Ipopt through cyipopt (``.nl`` evaluators,
:mod:`idaes_hybrid.solve.idaes_plugin`) or, without cyipopt, the POUNCE plugin of
:mod:`idaes_hybrid.solve.solver`; :mod:`idaes_hybrid.idaes_hook` calls
:func:`ensure_idaes_default_solver` when IDAES's solver module is imported.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterable

import idaes
from pyomo.common.config import ConfigDict
from pyomo.opt import SolverFactory

from idaes_hybrid.solve.idaes_plugin import CYIPOPT_PLUGIN_NAME, CyIpoptNLPlugin, cyipopt_available
from idaes_hybrid.solve.solver import PLUGIN_NAME, HybridNLPPlugin, SolverChoice, discover_backend

_log = logging.getLogger("idaes.idaes_hybrid.solve.idaes_default")
_saved_idaes_state: dict[str, Any] = {}  # what configure_idaes_default_solver replaced


def configure_idaes_default_solver(options: dict[str, Any] | None = None,
                                   solver: SolverChoice | str | None = None,
                                   redirect: Iterable[str] | None = None) -> str:
    """Make ``idaes.core.solvers.get_solver()`` return the idaes-hybrid solver.

    Sets ``idaes.cfg.default_solver`` to :data:`PLUGIN_NAME`, whose defaults are IDAES's
    Ipopt options (``nlp_scaling_method``, ``tol``, ``max_iter``) updated by ``options``.
    IDAES 2.x initializers ask for ``"ipopt_v2"``, whose interface refuses POUNCE, so with
    POUNCE that name is redirected too. :func:`reset_idaes_default_solver` undoes this.

    Parameters
    ----------
    options : dict, optional
        Extra default options for solvers returned by ``get_solver()``.
    solver : SolverChoice or str, optional
        As in :func:`get_nlp_solver`.
    redirect : iterable of str, optional
        ``SolverFactory`` names to re-register as this plugin (default: see above).

    Returns
    -------
    str
        The solver name ``get_solver()`` now uses.
    """
    backend = discover_backend(solver)
    HybridNLPPlugin.configured_backend = backend
    plugin_name, plugin = PLUGIN_NAME, HybridNLPPlugin
    auto = solver is None and not os.environ.get("IDAES_HYBRID_SOLVER")
    if backend.name == "pounce" and auto:  # no ipopt executable: real Ipopt through callbacks
        if cyipopt_available():
            plugin_name, plugin = CYIPOPT_PLUGIN_NAME, CyIpoptNLPlugin
    defaults = {**dict(idaes.cfg["ipopt"]["options"].items()), **(options or {})}
    if plugin_name not in idaes.cfg:
        idaes.cfg.declare(plugin_name, ConfigDict()).declare("options", ConfigDict(implicit=True))
    idaes.cfg[plugin_name]["options"].reset()
    idaes.cfg[plugin_name]["options"].set_value(defaults)
    _saved_idaes_state.setdefault("default_solver", idaes.cfg.default_solver)
    idaes.cfg.default_solver = plugin_name
    names = (("ipopt_v2", "ipopt") if plugin is not HybridNLPPlugin else ("ipopt_v2",)) \
        if backend.name == "pounce" else ()
    for name in names if redirect is None else redirect:
        old = SolverFactory.get_class(name) if name in SolverFactory else None
        if old is not plugin:  # the first replaced class is what reset restores
            _saved_idaes_state.setdefault(name, (old, SolverFactory.doc(name) if old else None))
            if old is not None:
                SolverFactory.unregister(name)
            SolverFactory.register(name, doc=f"{name} -> {plugin_name}")(plugin)
    where = "cyipopt (Ipopt 3.14 + MUMPS, .nl evaluators)" if plugin is not HybridNLPPlugin \
        else f"{backend.name} at {backend.path}"
    _log.debug(f"IDAES get_solver() now uses {where}")
    return plugin_name


def ensure_idaes_default_solver() -> None:
    """Configure IDAES's ``get_solver()`` once (see :func:`configure_idaes_default_solver`);
    the workflow calls this before it builds flowsheets, so IDAES initializers used on
    hybrid models run on the same solver. A user's own configuration is kept."""
    if "default_solver" not in _saved_idaes_state:
        configure_idaes_default_solver()


def reset_idaes_default_solver() -> None:
    """Undo :func:`configure_idaes_default_solver`: default solver, redirects, backend."""
    if "default_solver" in _saved_idaes_state:
        idaes.cfg.default_solver = _saved_idaes_state.pop("default_solver")
    while _saved_idaes_state:
        name, (cls, doc) = _saved_idaes_state.popitem()
        SolverFactory.unregister(name)
        if cls is not None:
            SolverFactory.register(name, doc=doc)(cls)
    HybridNLPPlugin.configured_backend = None
