"""Optimization with a trained hybrid model (weights fixed): ``feed`` (a unit model's
feed profile, the unit configs' ``[optimization]``) and ``flowsheet`` (piecewise-constant
decisions on any trained flowsheet, the user's objective). The names of ``feed`` are
available here too (``from idaes_hybrid.optimize import optimize_feed``)."""


def __getattr__(name: str):
    import importlib

    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return getattr(importlib.import_module("idaes_hybrid.optimize.feed"), name)
    except AttributeError:
        raise AttributeError(f"module 'idaes_hybrid.optimize' has no attribute {name!r}") from None
