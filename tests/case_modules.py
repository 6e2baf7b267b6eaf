"""Load a benchmark or shipped case's ``model.py`` once per test session under its own name
(not ``model``: several cases have one)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def case_module(name: str, path: Path) -> ModuleType:
    """The module in ``path``, imported once as ``name`` (kept in ``sys.modules``)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]
