"""Modules that Pyomo imports eagerly but a command seldom uses, loaded on first use.

When SciPy is first touched (IDAES's diagnostics import ``scipy.sparse``), Pyomo imports
``scipy.stats``, ``scipy.integrate`` and ``scipy.spatial`` with it; when matplotlib is first
imported (for the plots), Pyomo imports ``matplotlib.pyplot`` and ``matplotlib.pylab``. A
training run uses neither ``scipy.stats`` (only uncertainty bands do), ``scipy.integrate`` nor
``pyplot``, and ``scipy.spatial`` only when it saves the input hull, yet their imports cost
about 0.9 s of every ``idaes-hybrid`` process (measured 2026-12-04). :func:`defer_unused_modules` puts a stand-in for each in
``sys.modules``: an ``import`` statement returns the stand-in at once, and the first use of
one of its attributes imports the real module, which then replaces the stand-in everywhere
it can (``sys.modules``, the parent package) and lends the stand-in its namespace.

The standard library's ``importlib.util.LazyLoader`` does not serve here on Python 3.11: the
import statement itself reads the module's ``__spec__``, which runs the module. The
executable calls :func:`defer_unused_modules` at start-up; the package's functions behave
the same either way.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any, Sequence

#: Loaded on first attribute access by the command-line tool.
DEFERRED = ("scipy.stats", "scipy.integrate", "scipy.spatial", "matplotlib.pyplot", "matplotlib.pylab")


class DeferredModule(types.ModuleType):
    """A stand-in for a module that is imported when an attribute it lacks is first read."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)  # sets the parent package's attribute too
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def defer_module(name: str) -> bool:
    """Put a :class:`DeferredModule` for submodule ``name`` (``"package.module"``) in place.

    The parent package is imported (so that ``import package.module`` followed by
    ``package.module.f`` works as usual); the submodule itself runs on first use. A module
    that is already imported, or that cannot be found, is left alone.

    Parameters
    ----------
    name : str
        Dotted name of a submodule of a top-level package.

    Returns
    -------
    bool
        Whether ``name`` is now deferred.
    """
    parent, _, child = name.rpartition(".")
    if not parent or "." in parent:
        raise ValueError(f"defer_module: {name!r} is not a submodule of a top-level package")
    if name in sys.modules:
        return False
    try:
        parent_spec = importlib.util.find_spec(parent)
    except (ImportError, ValueError):
        return False
    if parent_spec is None or not parent_spec.submodule_search_locations:
        return False
    spec = importlib.machinery.PathFinder.find_spec(name, parent_spec.submodule_search_locations)
    if spec is None:
        return False
    module = DeferredModule(name)
    module.__spec__ = spec
    module.__loader__ = spec.loader
    # no __path__: importing one of its submodules reads it, which imports the real module
    module.__package__ = parent if spec.submodule_search_locations is None else name
    sys.modules[name] = module
    setattr(importlib.import_module(parent), child, module)
    return True


def defer_unused_modules(names: Sequence[str] = DEFERRED) -> list[str]:
    """:func:`defer_module` for each of ``names``; returns the names now deferred."""
    return [name for name in names if defer_module(name)]
