"""The tank manifold (index-2 DAE) as an ordinary user of the flowsheet path.

The unit on the flowsheet in a build function; the pump flow ``u0`` and the outflow
``u3`` are a :class:`~idaes_hybrid.model.NetworkTerm` on its variables
(``config_flowsheet.toml``). Only x0, x2 and x3 are given at t = 0: x1(0) follows from
the manifold's algebraic equation x0 = x1.
"""

from __future__ import annotations

from idaes_hybrid.cases.tank_manifold import TankManifold


def build(fs) -> None:
    """One tank manifold with its known tank areas and orifice constant."""
    fs.unit = TankManifold(dynamic=True, network_inputs=["x0", "x1", "x2", "x3"])
    fs.unit.set_physics(phi0=0.1, phi1=0.5, phi2=2.0, phi3=10.0, a2=0.1)
