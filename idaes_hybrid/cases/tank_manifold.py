"""Four tanks and a manifold: an index-2 DAE with two learned flows.

The hybrid unit :class:`TankManifold` is a small flowsheet of IDAES unit models
(:mod:`idaes_hybrid.cases.tank`) connected by arcs::

    tank3 --pump u0--> manifold --u1--> tank0 --u3--> tank2 --u4--> tank3
                               \\--u2--> tank1

Tanks 0 and 1 are communicating vessels (their bottoms are joined by the
manifold), so their levels are equal. With levels ``x0..x3`` (m),
cross-sections ``phi = [0.1, 0.5, 2, 10]`` (m^2) and flows ``u0..u4`` (m^3/s)::

    phi0 dx0/dt = u1 - u3          x0 = x1          (algebraic, index 2)
    phi1 dx1/dt = u2               u0 = u1 + u2     (manifold)
    phi2 dx2/dt = u3 - u4          u4 = a2 sqrt(x2) (orifice of tank 2)
    phi3 dx3/dt = u4 - u0

``u0, u1, u3, u4 >= 0``; ``u2`` is free (tank 1 may drain back). The pump flow
``u0`` (true ``k x0 x3``, ``k = 0.2``) and the outflow of tank 0 ``u3`` (true
``a1 sqrt(x0)``, ``a1 = 0.1``) are the learned terms, both from one network.
Summing the balances, ``d/dt sum(phi_i x_i) = u1 + u2 - u0 = 0``: the total
volume is constant, exactly also on the collocation grid (a linear invariant).

Consistent initial conditions. ``x0 = x1`` makes ``u2`` an index-2 algebraic
variable, fixed only by the hidden constraint ``dx0/dt = dx1/dt``. Radau
collocation imposes it at every collocation point (the collocation polynomial of
``x0 - x1`` vanishes at all nodes), but not at ``t0``, where the derivative
variables are tied to nothing but the balances. The unit therefore imposes
``x0 = x1`` at every point including ``t0`` and ``dx0/dt = dx1/dt`` at ``t0``
only; the training code fixes only the independent initial levels ``x0, x2,
x3`` (``HybridModelDefinition.fixed_initial_states``), and ``x1(t0)`` follows
from ``x0 = x1``. The system is then square at ``t0`` (and everywhere else).
"""

from __future__ import annotations

from typing import Sequence

import pyomo.environ as pyo
from pyomo.network import Arc

from idaes.core import declare_process_block_class

from idaes_hybrid.model.contract import (
    HybridUnitBlockData, KineticsMode, hybrid_unit_config, require_dynamic)
from idaes_hybrid.cases.tank import FLOW_UNITS, LEVEL_UNITS, Manifold, Tank, TankOutlet

#: Default values of the parameters: tank areas phi0..phi3 (m^2) and the
#: orifice coefficient a2 of tank 2 are physics; a1 (orifice of tank 0) and
#: the pump coefficient k are the reference (true) values of the learned flows.
DEFAULT_PHYSICS = {"phi0": 0.1, "phi1": 0.5, "phi2": 2.0, "phi3": 10.0, "a2": 0.1,
                   "a1": 0.1, "k": 0.2}
STATES = ("x0", "x1", "x2", "x3")
FLOWS = ("u0", "u1", "u2", "u3", "u4")


@declare_process_block_class("TankManifold", doc="Four tanks and a manifold with learned flows")
class TankManifoldData(HybridUnitBlockData):
    """Tank-manifold flowsheet; see the module docstring for the equations."""

    physics_defaults = DEFAULT_PHYSICS

    CONFIG = hybrid_unit_config(
        STATES,
        "Source of the flows u0 (pump) and u3 (tank 0 outflow): KineticsMode.EXTERNAL (network "
        "or smoother) or KineticsMode.REFERENCE (k x0 x3 and a1 sqrt(x0))",
        "Levels fed to the network, in order (a subset of x0..x3)")

    state_names = STATES
    input_names = ()
    learned_names = ("u0", "u3")

    def build(self) -> None:
        """Units, arcs, named levels and flows, the communicating vessels, the flow laws."""
        super().build()
        require_dynamic(self, "the tank manifold")
        self._add_units()
        self._add_arcs()
        self._add_names()
        self._add_communicating_vessels()
        self._add_flow_laws()

    def _add_units(self) -> None:
        reference = self.config.kinetics is KineticsMode.REFERENCE
        p = DEFAULT_PHYSICS
        self.tank0 = Tank(dynamic=True, area=p["phi0"], outlet_coefficient=p["a1"],
                          outlet=TankOutlet.ORIFICE if reference else TankOutlet.FREE)
        self.tank1 = Tank(dynamic=True, area=p["phi1"], outlet=TankOutlet.NONE,
                          nonnegative_inflow=False)
        self.tank2 = Tank(dynamic=True, area=p["phi2"], outlet_coefficient=p["a2"],
                          outlet=TankOutlet.ORIFICE)
        self.tank3 = Tank(dynamic=True, area=p["phi3"], outlet=TankOutlet.FREE)
        self.manifold = Manifold(dynamic=False, num_outlets=2, free_outlets=[1])

    def _add_arcs(self) -> None:
        self.pump_line = Arc(source=self.tank3.outlet, destination=self.manifold.inlet)
        self.feed_0 = Arc(source=self.manifold.outlet_0, destination=self.tank0.inlet)
        self.feed_1 = Arc(source=self.manifold.outlet_1, destination=self.tank1.inlet)
        self.drain_0 = Arc(source=self.tank0.outlet, destination=self.tank2.inlet)
        self.drain_2 = Arc(source=self.tank2.outlet, destination=self.tank3.inlet)
        pyo.TransformationFactory("network.expand_arcs").apply_to(self)

    def _add_names(self) -> None:
        """The case's names: levels x0..x3 and flows u0..u4 (references into the units)."""
        for k in range(4):
            self.add_component(f"x{k}", pyo.Reference(getattr(self, f"tank{k}").level[:]))
        flows = {"u0": self.manifold.inflow, "u1": self.tank0.inflow, "u2": self.tank1.inflow,
                 "u3": self.tank0.outflow, "u4": self.tank2.outflow}
        for name, var in flows.items():  # bounds: u2 free, the others >= 0 (in the units)
            self.add_component(name, pyo.Reference(var[:]))

    def _add_communicating_vessels(self) -> None:
        t = self.flowsheet().time
        self.level_equality = pyo.Constraint(
            t, rule=lambda b, tt: b.tank0.level[tt] == b.tank1.level[tt],
            doc="Communicating vessels: x0 = x1")
        self.level_rate_equality_t0 = pyo.Constraint(
            expr=self.tank0.dlevel_dt[t.first()] == self.tank1.dlevel_dt[t.first()],
            doc="Hidden constraint dx0/dt = dx1/dt at t0 (collocation imposes it elsewhere)")

    def _add_flow_laws(self) -> None:
        t = self.flowsheet().time
        self.pump_coefficient = pyo.Param(initialize=DEFAULT_PHYSICS["k"], mutable=True,
                                          units=FLOW_UNITS / LEVEL_UNITS**2,
                                          doc="Pump coefficient k of u0 = k x0 x3 (reference)")
        if self.config.kinetics is KineticsMode.REFERENCE:
            self.pump_eq = pyo.Constraint(t, rule=lambda b, tt: b.u0[tt] == b.pump_coefficient
                                          * b.x0[tt] * b.x3[tt], doc="Pump law u0 = k x0 x3")
        else:  # a1 is still a parameter (reference value), unused by the equations
            self.a1_reference = pyo.Param(initialize=DEFAULT_PHYSICS["a1"], mutable=True,
                                          units=FLOW_UNITS / LEVEL_UNITS**0.5,
                                          doc="Orifice coefficient of tank 0 (reference)")
        self.total_volume = pyo.Expression(t, rule=lambda b, tt: sum(
            getattr(b, f"tank{k}").area * getattr(b, f"tank{k}").level[tt] for k in range(4)),
            doc="Total liquid volume sum(phi_i x_i), constant in time")

    # ----------------------------------------------------------- the contract
    def network_output_vars(self, t: float) -> Sequence[pyo.Var]:
        """The pump flow u0 and the tank-0 outflow u3 at time ``t``."""
        return [self.u0[t], self.u3[t]]

    def physics_parameter(self, name: str) -> pyo.Param:
        """The Param of ``phi0..phi3`` (tank areas), ``a2``, ``a1``, ``k``."""
        if name.startswith("phi"):
            return getattr(self, f"tank{name[3:]}").area
        if name == "a2":
            return self.tank2.outlet_coefficient
        if name == "k":
            return self.pump_coefficient
        return (self.tank0.outlet_coefficient if self.config.kinetics is KineticsMode.REFERENCE
                else self.a1_reference)
