"""Leslie-Gower predator-prey as an ordinary user of the flowsheet path.

The unit with the Lyapunov path constraint; the predator growth rate ``z`` is a
:class:`~idaes_hybrid.model.NetworkTerm` on its variables (``config_flowsheet.toml``).
"""

from __future__ import annotations

from idaes_hybrid.cases.predator_prey import PredatorPrey


def build(fs) -> None:
    """One predator-prey unit with known r1, a1, b1 and the equilibrium's r2, a2."""
    fs.unit = PredatorPrey(dynamic=True, network_inputs=["x0", "x1"], lyapunov_constraint=True)
    fs.unit.set_physics(r1=0.2, a1=0.2, b1=0.1, r2=0.2, a2=0.01)
