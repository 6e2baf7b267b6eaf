"""The fed-batch bioreactor as an ordinary user of the flowsheet path.

``build(fs)`` puts the bioreactor unit on the flowsheet; the growth rate ``mu`` is a
:class:`~idaes_hybrid.model.NetworkTerm` on the unit's variables (no registry, no
name-tuple contract). ``config_flowsheet.toml`` trains it with ``idaes-hybrid train`` and
optimizes its feed (``optimize.py``) with ``idaes-hybrid optimize``; ``build_true`` is the
plant (Monod kinetics) the optimum is checked on.
"""

from __future__ import annotations

from idaes_hybrid.cases.fed_batch import FedBatchReactor
from idaes_hybrid.model.contract import KineticsMode


def build(fs) -> None:
    """One fed-batch reactor whose growth rate is supplied from outside (the network)."""
    fs.unit = FedBatchReactor(dynamic=True, network_inputs=["X", "S", "P", "V"])
    fs.unit.set_physics(Yxs=0.5, Ypx=0.2)


def build_true(fs) -> None:
    """The same reactor with the true (Monod) growth rate behind the data: the plant of
    the ``[optimization]`` table's check (``true_build``) and of a closed loop."""
    fs.unit = FedBatchReactor(dynamic=True, kinetics=KineticsMode.REFERENCE)
    fs.unit.set_physics(Yxs=0.5, Ypx=0.2, mu_max=0.2, Ks=1.0)
