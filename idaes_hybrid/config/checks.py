"""Checks of configuration values shared by the config readers: each raises
:class:`ConfigError` whose message starts with the bad field's name."""

from __future__ import annotations

import difflib
import enum
import math
from typing import Any, Iterable, Mapping


class ConfigError(ValueError):
    """An invalid run configuration; the message starts with the bad field's name."""


def valid_names(names: Iterable[Any]) -> str:
    """The names quoted and comma-separated for an error message (``(none)`` if empty)."""
    return ", ".join(repr(n) for n in names) or "(none)"


def as_table(value: Any, field_name: str) -> Mapping[str, Any]:
    """``value`` if it is a TOML table, else a :class:`ConfigError` naming the field."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{field_name}: expected a table, got {value!r}")
    return value


def reject_unknown(table: Mapping[str, Any], known: Iterable[str], prefix: str,
                   hints: Mapping[str, str] | None = None) -> None:
    """A :class:`ConfigError` for the first key of ``table`` not in ``known`` (``hints``:
    where a misplaced key belongs)."""
    known = list(known)
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
            hint = (f" (set it in {hints[key]})" if hints and key in hints else
                    f"; did you mean {close[0]!r}?" if close else "")
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{where}: unknown key{hint}; valid keys: {valid_names(known)}")


def number(value: Any, field_name: str, lower: float | None = None,
            inclusive: bool = True) -> float:
    """A finite number (bounded below if asked), else a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{field_name}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{field_name}: expected a finite number, got {value!r}")
    if lower is not None and (value < lower or (not inclusive and value == lower)):
        raise ConfigError(f"{field_name}: must be {'>=' if inclusive else '>'} {lower:g}, "
                          f"got {value!r}")
    return value


def integer(value: Any, field_name: str, lower: int | None = None) -> int:
    """An integer (bounded below if asked), else a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{field_name}: expected an integer, got {value!r}")
    if lower is not None and value < lower:
        raise ConfigError(f"{field_name}: must be >= {lower}, got {value!r}")
    return int(value)


def enum_value(cls: type[enum.Enum], value: Any, field_name: str) -> Any:
    """The member of ``cls`` with this value (case-insensitive), else a :class:`ConfigError`."""
    try:
        return cls(value.lower() if isinstance(value, str) else value)
    except (ValueError, TypeError):
        raise ConfigError(f"{field_name}: {value!r} is not valid; valid values: "
                          f"{valid_names(m.value for m in cls)}") from None


def require_training_experiment(experiments: Iterable[Any]) -> None:
    """A :class:`ConfigError` naming ``experiments`` unless one experiment has role ``train``
    (training needs one; ``predict`` and ``optimize`` do not).

    Parameters
    ----------
    experiments : Iterable
        Experiments of a unit or flowsheet configuration (each with a ``role``).
    """
    if not any(getattr(e.role, "value", e.role) == "train" for e in experiments):
        raise ConfigError("experiments: no experiment has role 'train'; at least one must")
