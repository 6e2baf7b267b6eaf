"""Variables named by text paths, with ``*`` marking the time index.

A path names an indexed variable of a flowsheet the way Pyomo prints it, with
the time index written as ``*``::

    fs.r1.control_volume.properties_out[*].conc_mol_comp[NaOH]
    fs.r1.heat_duty[*]
    fs.pfr.control_volume.properties[*,*].temperature     (time and space)

:func:`resolve` turns a path into a Pyomo ``Reference`` indexed by the
wildcard positions, so every framework layer sees ``var[t]`` (or ``var[t, x]``)
whatever unit, state block or reaction block holds the variable.
"""

from __future__ import annotations

import re
from typing import Any

import pyomo.environ as pyo
from pyomo.core.base.indexed_component_slice import IndexedComponent_slice


class PathError(ValueError):
    """A path names no variable, or not a time-indexed one; the message names the field."""


class NotAVariableError(PathError):
    """A path names a component that is not a variable (an Expression, a Param, a Block)."""


_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(.*)\])?$")


def _split(path: str) -> list[str]:
    """Split on dots outside brackets (indices may hold dots: ``[1.5]``)."""
    parts, depth, cur = [], 0, ""
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _index_value(token: str) -> Any:
    token = token.strip()
    if token == "*":
        return slice(None)
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    for cast in (int, float):
        try:
            return cast(token)
        except ValueError:
            pass
    return token


def parse(path: str, field: str) -> list[tuple[str, tuple | None]]:
    """``path`` as ``(name, index or None)`` segments; raises :class:`PathError`."""
    if not isinstance(path, str) or not path.strip():
        raise PathError(f"{field}: expected a variable path such as "
                        f"'fs.unit.control_volume.properties_out[*].temperature', got {path!r}")
    out = []
    for seg in _split(path.strip()):
        match = _SEGMENT.match(seg.strip())
        if match is None:
            raise PathError(f"{field}: {path!r} is not a valid path (segment {seg!r})")
        name, index = match.groups()
        out.append((name, None if index is None else
                    tuple(_index_value(t) for t in index.split(","))))
    return out


def wildcard_count(path: str, field: str) -> int:
    """How many ``*`` index positions ``path`` has."""
    return sum(1 for _, idx in parse(path, field) if idx
               for i in idx if isinstance(i, slice))


def resolve(root: pyo.Block, path: str, field: str, *, require_wildcard: bool = True):
    """The variable ``path`` names under ``root``.

    Parameters
    ----------
    root
        Block the path starts from (an experiment block holding ``fs``).
    path
        Dotted path; ``*`` marks the indices a network or measurement runs over.
    field
        Name of the option or table entry the path came from, for messages.
    require_wildcard
        Refuse a path without ``*`` (a variable without a time index).

    Returns
    -------
    pyomo Var
        A ``Reference`` indexed by the wildcards' values if the path has any,
        else the variable data itself.
    """
    segments = parse(path, field)
    wild = sum(1 for _, idx in segments if idx for i in idx if isinstance(i, slice))
    if require_wildcard and wild == 0:
        raise PathError(f"{field}: {path!r} has no time index; write the time index as '*' "
                        "(e.g. 'fs.unit.heat_duty[*]')")
    obj: Any = root
    walked = root.name if hasattr(root, "name") else ""
    for name, idx in segments:
        try:
            obj = getattr(obj, name)
            if idx is not None:
                obj = obj[idx if len(idx) > 1 else idx[0]]
        except (AttributeError, KeyError, IndexError, TypeError) as err:
            raise PathError(f"{field}: {path!r} names no variable "
                            f"({_segment(name, idx)!r} not found under {walked}: "
                            f"{type(err).__name__})") from None
        walked = f"{walked}.{name}"
    if isinstance(obj, IndexedComponent_slice):
        try:  # the names after a '*' are looked up only now, on each block the slice covers
            ref = pyo.Reference(obj)
            first = next(iter(ref.values()), None)
        except (AttributeError, KeyError, IndexError, TypeError) as err:
            reason = " ".join(str(err.args[0] if err.args else "").split())
            raise PathError(f"{field}: {path!r} names no variable ({type(err).__name__}: "
                            f"{reason})") from None
        if first is None:
            raise PathError(f"{field}: {path!r} names no variable (the slice is empty)")
        if not isinstance(first.parent_component(), pyo.Var):
            raise NotAVariableError(_not_a_variable(field, path, first.parent_component()))
        return ref
    if not (isinstance(obj, pyo.Var) or getattr(obj, "is_variable_type", lambda: False)()):
        raise NotAVariableError(_not_a_variable(field, path, obj))
    return obj


def _segment(name: str, idx) -> str:
    """One path segment as written, ``*`` for a wildcard: ``properties_out[*]``."""
    if idx is None:
        return name
    return f"{name}[{','.join('*' if isinstance(i, slice) else str(i) for i in idx)}]"


def _not_a_variable(field: str, path: str, obj: Any) -> str:
    """The message for a path naming something other than a variable; an Expression
    (IDAES's generic property framework builds e.g. ``conc_mol_comp`` as one) gets the
    workaround."""
    kind = type(obj).__name__
    if not isinstance(obj, (pyo.Expression, pyo.Param)) and not kind.removesuffix("Data").endswith(
            ("Expression", "Param")):
        return f"{field}: {path!r} is not a variable ({kind})"
    if ".network_inputs[" in field:
        return (f"{field}: {path!r} is not a variable but a Pyomo {kind} (IDAES's generic property "
                "framework builds e.g. conc_mol_comp as an Expression); feed the network a state "
                "variable of the package instead (mole_frac_comp with FTPx, temperature)")
    if ".outputs[" in field:
        return (f"{field}: {path!r} is not a variable but a Pyomo {kind}: a learned output must be "
                "a free variable that no equation of the flowsheet sets (IDAES's generic reaction "
                "framework builds k_rxn and reaction_rate as Expressions of its own kinetics); to "
                "learn some reactions' rates and keep the others, use "
                "LearnedRateReactionParameterBlock with known_rates={reaction: function(b)} for "
                "the known ones")
    return (f"{field}: {path!r} is not a variable but a Pyomo {kind} (IDAES's generic property "
            "framework builds e.g. conc_mol_comp as an Expression); name a state variable "
            "(mole_frac_comp with FTPx) or, in the build function, add a Var indexed by "
            "fs.time with units and a Constraint setting it equal to the expression, and name "
            "that Var")
