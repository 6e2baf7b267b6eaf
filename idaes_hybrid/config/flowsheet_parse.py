"""Values that several tables of a flowsheet config share: the user's functions named as
``"module.py:function"`` (relative to the config) and an experiment's initial state."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from idaes_hybrid.config.checks import ConfigError
from idaes_hybrid.model.flowsheet import InitialState
from idaes_hybrid.model.user_module import UserFunction, UserModuleError


def load_build_function(ref: str, base_dir: Path, field: str = "flowsheet.build") -> Callable:
    """The function ``module.py:function`` names (the module path relative to ``base_dir``),
    as a :class:`~idaes_hybrid.model.user_module.UserFunction` (pickled by its reference)."""
    try:
        return UserFunction(ref, base_dir, field)
    except UserModuleError as err:
        raise ConfigError(str(err)) from err.__cause__


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
