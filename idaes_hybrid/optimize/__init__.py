"""Optimization with a trained hybrid model (weights fixed): ``feed`` (a unit model's
feed profile, the unit configs' ``[optimization]``) and ``flowsheet`` (piecewise-constant
decisions on any trained flowsheet, the user's objective). The names of ``feed`` are
available here too (``from idaes_hybrid.optimize import optimize_feed``)."""

from idaes_hybrid.compat import reexport

__getattr__ = reexport("idaes_hybrid.optimize", "idaes_hybrid.optimize.feed")
