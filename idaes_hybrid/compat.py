"""Old module paths of idaes-hybrid 0.x, still importable.

The package was laid out in folders by layer (``cli/``, ``config/``, ``solve/``,
``output/``, ``optimize/``, ``diagnostics/``, ``cases/``). Code written against
the former flat layout (``idaes_hybrid.io``, ``idaes_hybrid.units.fed_batch``,
``idaes_hybrid.reuse.flowsheet_optimize``, ...) keeps working: importing an old
path returns the module at its new place (the same module object, so a
monkeypatch through either name affects both). New code imports the new paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: Old dotted path (below ``idaes_hybrid.``) -> new one.
MOVED: dict[str, str] = {
    "cli_common": "cli.common", "cli_diagnose": "cli.diagnose", "cli_size": "cli.size",
    "cli_output": "cli.output", "cli_flowsheet": "cli.flowsheet", "cli_optimize": "cli.optimize",
    "cli_twin": "cli.twin",
    "config_checks": "config.checks", "flowsheet_config": "config.flowsheet",
    "flowsheet_parse": "config.flowsheet_parse", "optimization_config": "config.optimization",
    "flowsheet_optimization_config": "config.flowsheet_optimization",
    "fd_capture": "solve.fd_capture", "solver": "solve.solver", "solver_options": "solve.options",
    "nl_solve": "solve.nl_solve", "idaes_solver": "solve.idaes_plugin",
    "idaes_default": "solve.idaes_default", "batched_solve": "solve.batched", "nl_system": "solve.nl_system",
    "io": "output.saved", "plots": "output.plots", "report": "output.report",
    "flowsheet_output": "output.flowsheet", "optimization_plots": "output.optimization_plots",
    "reuse": "optimize", "reuse.flowsheet_optimize": "optimize.flowsheet",
    "diagnose": "diagnostics.diagnose", "numerical_checks": "diagnostics.numerical_checks",
    "dof": "model.dof", "scaling": "model.scaling",
    "units": "cases", "units.contract": "model.contract", "units.initialization": "model.initialization",
    "units.discretization": "model.discretization", "units.registry": "cases.registry",
    "units.fed_batch": "cases.fed_batch", "units.predator_prey": "cases.predator_prey",
    "units.tank_manifold": "cases.tank_manifold", "units.tank": "cases.tank",
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves an old path of :data:`MOVED` to the module at its new place."""

    prefix = "idaes_hybrid."

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(self.prefix) and fullname[len(self.prefix):] in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(self.prefix + MOVED[spec.name[len(self.prefix):]])

    def exec_module(self, module) -> None:
        """Nothing to run: the module was imported at its new place."""


def reexport(package: str, module: str):
    """A module ``__getattr__`` for ``package`` that hands out ``module``'s names, importing
    it on first use (``idaes_hybrid.config`` re-exports ``idaes_hybrid.config.run``)."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(importlib.import_module(module), name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return __getattr__


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
