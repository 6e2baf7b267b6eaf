"""Configure IDAES's ``get_solver()`` when IDAES's solver module is first imported.

``import idaes_hybrid`` promises that IDAES's own solves (``get_solver()``, unit
initializers) find a real solver on a machine without an ``ipopt`` executable. Doing that
on import would load Pyomo and IDAES (about a second) even for ``idaes-hybrid --help``.
Instead, :func:`configure_on_idaes_import` configures at once if ``idaes.core.solvers``
is already loaded, and otherwise adds a meta-path finder that configures right after
that module has been executed, i.e. before any ``get_solver`` can be called.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
from types import ModuleType

#: The module whose import triggers the configuration (home of IDAES's ``get_solver``).
TRIGGER = "idaes.core.solvers"


def configure_idaes_solver() -> None:
    """Point IDAES's ``get_solver()`` at idaes-hybrid's solver (a warning if none exists)."""
    from idaes_hybrid.solve.solver import SolverNotFoundError
    from idaes_hybrid.solve.idaes_default import ensure_idaes_default_solver

    try:
        ensure_idaes_default_solver()
    except SolverNotFoundError as err:  # workflows raise it again where a solve is needed
        logging.getLogger("idaes.idaes_hybrid").warning(
            f"IDAES default solver not configured: {err}")


class _Loader(importlib.abc.Loader):
    """Wraps the real loader of :data:`TRIGGER`; configures after executing the module."""

    def __init__(self, wrapped: importlib.abc.Loader) -> None:
        self.wrapped = wrapped

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.wrapped.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.wrapped.exec_module(module)
        configure_idaes_solver()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds :data:`TRIGGER` with the other finders and wraps its loader (once)."""

    def find_spec(self, fullname, path, target=None):  # noqa: D102 (MetaPathFinder API)
        if fullname != TRIGGER:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def configure_on_idaes_import() -> None:
    """Configure now if IDAES's solver module is loaded, else when it is first imported."""
    if TRIGGER in sys.modules:
        configure_idaes_solver()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
