"""The fed-batch bioreactor as an ordinary user of the flowsheet path.

``build(fs)`` puts the bioreactor unit on the flowsheet; the growth rate ``mu`` is a
:class:`~idaes_hybrid.model.NetworkTerm` on the unit's variables (no registry, no
name-tuple contract). ``config_flowsheet.toml`` trains it with ``idaes-hybrid train``.
"""

from __future__ import annotations

from idaes_hybrid.cases.fed_batch import FedBatchReactor


def build(fs) -> None:
    """One fed-batch reactor whose growth rate is supplied from outside (the network)."""
    fs.unit = FedBatchReactor(dynamic=True, network_inputs=["X", "S", "P", "V"])
    fs.unit.set_physics(Yxs=0.5, Ypx=0.2)
