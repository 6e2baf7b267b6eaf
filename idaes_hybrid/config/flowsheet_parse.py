"""Values that several tables of a flowsheet config share: the user's functions named as
``"module.py:function"`` (relative to the config) and an experiment's initial state."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from idaes_hybrid.config.checks import ConfigError
from idaes_hybrid.model.flowsheet import InitialState


def load_build_function(ref: str, base_dir: Path, field: str = "flowsheet.build") -> Callable:
    """The function ``module.py:function`` names (the module path relative to ``base_dir``)."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ConfigError(f"{field}: expected 'module.py:function', got {ref!r}")
    module_path, name = ref.split(":")
    path = (base_dir / module_path).resolve()
    if not path.is_file():
        raise ConfigError(f"{field}: module file '{path}' not found")
    sys.path.insert(0, str(path.parent))  # the module may import its neighbours
    hidden = _hide_other_neighbours(path.parent)
    try:
        spec = importlib.util.spec_from_file_location(f"idaes_hybrid_user_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - the user's module: report what it raised
        raise ConfigError(f"{field}: importing '{path}' failed: {type(err).__name__}: {err}") from err
    finally:
        sys.path.remove(str(path.parent))
        sys.modules.update(hidden)
    func = getattr(module, name, None)
    if not callable(func):
        raise ConfigError(f"{field}: '{path}' has no function {name!r}")
    return func


def _hide_other_neighbours(folder: Path) -> dict:
    """Take out of ``sys.modules`` (and return) the modules named like a ``.py`` file of
    ``folder`` but loaded from elsewhere: another case's ``model`` imported earlier in the
    process must not stand in for this folder's ``model.py``."""
    hidden = {}
    for stem in {p.stem for p in folder.glob("*.py")}:
        loaded = sys.modules.get(stem)
        origin = getattr(loaded, "__file__", None)
        if loaded is not None and (origin is None or Path(origin).resolve().parent != folder):
            hidden[stem] = sys.modules.pop(stem)
    return hidden


def parse_initial(initial: Any, field: str) -> InitialState | dict[str, float]:
    """An experiment's ``initial``: ``"steady-state"`` or a table ``{name: value}``."""
    if isinstance(initial, str):
        try:
            return InitialState(initial)
        except ValueError:
            raise ConfigError(f"{field}: expected 'steady-state' or a table of values") from None
    if isinstance(initial, Mapping):
        bad = [k for k, v in initial.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise ConfigError(f"{field}.{bad[0]}: expected a number, got {initial[bad[0]]!r}")
        return {str(k): float(v) for k, v in initial.items()}
    raise ConfigError(f"{field}: expected 'steady-state' or a table of values")
