"""Objects of the user's own Python files, named ``"module.py:name"`` (configs, saved models).

A config names the user's build function (``build = "model.py:build"``) or hybrid-model
definition (``model = "my_model.py:LESLIE_GOWER"``) by file, relative to the config: the
module is imported from that file, so nothing has to be installed or registered first.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable


#: Hybrid-model definitions loaded from users' modules, by absolute reference (one import each).
_DEFINITIONS: dict[str, Any] = {}


class UserModuleError(ValueError):
    """A ``"module.py:name"`` reference that names no usable object; the message names the field."""


def absolute_reference(ref: str, base_dir: str | Path) -> str:
    """``module.py:name`` with the module path made absolute (``base_dir`` for a relative one)."""
    module_path, name = ref.split(":")
    return f"{(Path(base_dir) / module_path).resolve()}:{name}"


def load_user_object(ref: str, base_dir: str | Path, field: str, check: Callable[[Any], bool] = callable,
                     what: str = "function") -> Any:
    """The object ``module.py:name`` names (the module path relative to ``base_dir``).

    Parameters
    ----------
    ref
        ``"module.py:name"``.
    base_dir
        Folder a relative module path is taken from (the config's).
    field
        The config field, named in every error.
    check
        Whether the object is of the expected kind.
    what
        The expected kind, for the error (``"function"``, ``"HybridModelDefinition"``).

    Raises
    ------
    UserModuleError
        A malformed reference, a missing file, a module that fails to import, or no
        object of the expected kind under ``name``.
    """
    if not isinstance(ref, str) or ref.count(":") != 1:
        kind = "function" if what == "function" else "name"
        raise UserModuleError(f"{field}: expected 'module.py:{kind}', got {ref!r}")
    module_path, name = ref.split(":")
    path = (Path(base_dir) / module_path).resolve()
    if not path.is_file():
        raise UserModuleError(f"{field}: module file '{path}' not found")
    sys.path.insert(0, str(path.parent))  # the module may import its neighbours
    hidden = hide_other_neighbours(path.parent)
    try:
        spec = importlib.util.spec_from_file_location(f"idaes_hybrid_user_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        # IDAES's declare_process_block_class looks the declaring module up in sys.modules;
        # it leaves again afterwards, so that cloudpickle sends the user's functions to Dask
        # workers by value (a worker cannot import this module by name)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - the user's module: report what it raised
        raise UserModuleError(f"{field}: importing '{path}' failed: {type(err).__name__}: {err}") from err
    finally:
        sys.modules.pop(f"idaes_hybrid_user_{path.stem}", None)
        sys.path.remove(str(path.parent))
        sys.modules.update(hidden)
    obj = getattr(module, name, None)
    if obj is None or not check(obj):
        raise UserModuleError(f"{field}: '{path}' has no {what} {name!r}")
    return obj


class UserFunction:
    """A function of the user's file ``module.py:name``, called like it and pickled by that
    reference: a Dask worker imports the file again (once per process) instead of receiving
    the function by value with everything its module holds (cloudpickle cannot pickle
    Pyomo's unit container, which a build module usually imports: ``from pyomo.environ
    import units``).

    Parameters
    ----------
    ref, base_dir, field
        As for :func:`load_user_object`; errors name ``field``.
    """

    def __init__(self, ref: str, base_dir: str | Path, field: str) -> None:
        self.function = load_user_object(ref, base_dir, field, callable, "function")
        self.reference = absolute_reference(ref, base_dir)
        self.field = field
        self.__name__ = getattr(self.function, "__name__", ref)
        self.__doc__ = getattr(self.function, "__doc__", None)
        _FUNCTIONS.setdefault(self.reference, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"UserFunction({self.reference!r})"

    def __reduce__(self):
        return (user_function, (self.reference, self.field))


#: User functions loaded in this process, by absolute reference (a worker imports each once).
_FUNCTIONS: dict[str, UserFunction] = {}


def user_function(reference: str, field: str = "function") -> UserFunction:
    """The :class:`UserFunction` of an absolute ``/path/module.py:name``, imported once per process."""
    if reference not in _FUNCTIONS:
        _FUNCTIONS[reference] = UserFunction(reference, "/", field)
    return _FUNCTIONS[reference]


def load_definition(ref: str, base_dir: str | Path, field: str = "model"):
    """The :class:`~idaes_hybrid.model.definition.HybridModelDefinition` ``module.py:NAME``
    names, imported once per process (a config and the model it saves share it)."""
    from idaes_hybrid.model.definition import HybridModelDefinition, definition_problem

    key = absolute_reference(ref, base_dir) if isinstance(ref, str) and ref.count(":") == 1 else ref
    if key not in _DEFINITIONS:
        definition = load_user_object(ref, base_dir, field,
                                      lambda obj: isinstance(obj, HybridModelDefinition),
                                      "HybridModelDefinition")
        problem = definition_problem(definition)
        if problem is not None:
            raise UserModuleError(f"{field}: {ref.split(':')[-1]}.{problem}")
        _DEFINITIONS[key] = definition
    return _DEFINITIONS[key]


def hide_other_neighbours(folder: Path) -> dict:
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


def call_user_function(function: Callable, argument: Any, field: str, argument_name: str,
                       error: type[Exception]) -> Any:
    """``function(argument)``; an exception it raises becomes ``error`` naming ``field``:
    ``"{field}: {name}({argument_name}) raised {type}: {message}"`` (a mistake in the user's
    code, not in the package). An ``error`` it raises itself passes unchanged."""
    try:
        return function(argument)
    except error:
        raise
    except Exception as err:  # noqa: BLE001 - any mistake in the user's code, named
        name = getattr(function, "__name__", "the function")
        raise error(f"{field}: {name}({argument_name}) raised {type(err).__name__}: "
                    f"{' '.join(str(err).split())}") from err
