"""Pyomo's unit registry built from pint's on-disk cache.

Pyomo builds its pint ``UnitRegistry`` when units are first used (IDAES uses them while it
is imported) by parsing pint's definition files: about 0.4 s of every ``idaes-hybrid``
process (measured 2026-12-04, ``import idaes.core`` 2.1 -> 1.6 s). pint can keep the parsed
definitions in its cache folder (``cache_folder=":auto:"``, the user's cache directory, keyed
by the definition files' content) and read them back instead. :func:`use_cached_unit_registry`
hands Pyomo such a registry before anything has built one; the units are the same. The
executable calls it at start-up; a script can do the same before importing IDAES.
"""

from __future__ import annotations

import logging

_log = logging.getLogger("idaes.idaes_hybrid.cli")

#: pint's cache folder: its default place in the user's cache directory.
CACHE_FOLDER = ":auto:"


def units_registry_built() -> bool:
    """Whether Pyomo's units container already has its pint registry (without building it)."""
    from pyomo.core.base.units_container import units

    # Pyomo's module-level container builds its registry on the first attribute read;
    # its instance dictionary is empty until then
    return "_pint_registry" in object.__getattribute__(units, "__dict__")


def use_cached_unit_registry(cache_folder: str = CACHE_FOLDER) -> bool:
    """Give Pyomo a pint registry read from pint's cache (written there on first use).

    Nothing is changed once Pyomo has built its registry (the units of existing models
    belong to it), or when pint is missing or its cache cannot be used; Pyomo then builds
    its registry as usual.

    Parameters
    ----------
    cache_folder : str, optional
        pint's ``cache_folder`` (default ``":auto:"``: the user's cache directory).

    Returns
    -------
    bool
        Whether Pyomo now uses a registry from the cache.
    """
    try:
        if units_registry_built():
            return False
        import pint
        from pyomo.core.base.units_container import units

        registry = pint.UnitRegistry(cache_folder=cache_folder)
    except Exception as err:  # noqa: BLE001 - a cache is an optimization: never fail a run for it
        _log.debug(f"pint's cached unit registry not used: {err}")
        return False
    units.set_pint_registry(registry)
    return True
