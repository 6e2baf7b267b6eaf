"""Liquid tanks and a manifold, connected by ports that carry a volumetric flow.

Two small IDAES unit models, the building blocks of the tank-manifold case
(:mod:`idaes_hybrid.cases.tank_manifold`):

* :class:`Tank`: level ``h`` (m) of a tank of cross-section ``area`` (m^2),
  ``area dh/dt = inflow - outflow``; ports ``inlet`` and ``outlet`` hold the
  flows (m^3/s). Its outlet is chosen by the ``outlet`` option
  (:class:`TankOutlet`): none, a free flow set from outside (a pump, a
  learned flow), or an orifice ``outflow = coefficient sqrt(h)``.
* :class:`Manifold`: splits the flow entering by port ``inlet`` into
  ``num_outlets`` flows leaving by ports ``outlet_0``, ``outlet_1``, ...
  (``inflow = sum of outflows``).

Flows are nonnegative unless an option frees them (a flow that may reverse):
``Tank(nonnegative_inflow=False)``, ``Manifold(free_outlets=[1])``. The bounds
are declared with the variables, so they also hold at the time points that
collocation adds later.
"""

from __future__ import annotations

import enum

import pyomo.environ as pyo
from pyomo.common.config import Bool, ConfigValue, In, ListOf, NonNegativeInt, PositiveInt
from pyomo.dae import DerivativeVar
from pyomo.environ import units as pyunits
from pyomo.network import Port

from idaes.core import UnitModelBlockData, declare_process_block_class

from idaes_hybrid.model.contract import ContractError

LEVEL_UNITS = pyunits.m
FLOW_UNITS = pyunits.m**3 / pyunits.s


class TankOutlet(str, enum.Enum):
    """How liquid leaves a tank."""

    #: No outlet (a dead-end tank).
    NONE = "none"
    #: An outlet flow set from outside the tank (a pump, a learned flow).
    FREE = "free"
    #: An orifice: ``outflow = outlet_coefficient * sqrt(level)``, written as
    #: ``outflow^2 = outlet_coefficient^2 level`` with ``outflow >= 0``.
    ORIFICE = "orifice"


@declare_process_block_class("Tank", doc="Liquid tank with a level state and flow ports")
class TankData(UnitModelBlockData):
    """A tank's volume balance ``area dh/dt = inflow - outflow``."""

    CONFIG = UnitModelBlockData.CONFIG()
    CONFIG.declare("outlet", ConfigValue(
        default=TankOutlet.FREE, domain=In(TankOutlet),
        doc="Outlet of the tank: TankOutlet.NONE, FREE (set from outside) or ORIFICE"))
    CONFIG.declare("area", ConfigValue(
        default=1.0, domain=float, doc="Cross-section area of the tank (m^2)"))
    CONFIG.declare("outlet_coefficient", ConfigValue(
        default=0.1, domain=float,
        doc="Orifice coefficient (m^2.5/s) of an ORIFICE outlet: outflow = c sqrt(level)"))
    CONFIG.declare("nonnegative_inflow", ConfigValue(
        default=True, domain=Bool, doc="If False, the inflow may be negative (liquid may leave)"))
    CONFIG.declare("nonnegative_outflow", ConfigValue(
        default=True, domain=Bool,
        doc="If False, a FREE outflow may be negative (an ORIFICE outflow never is)"))

    def build(self) -> None:
        """Parameters, level, flows, ports, then the volume balance and the outlet law."""
        super().build()
        if not self.config.dynamic:
            raise ContractError(f"{self.name}: a tank must be dynamic (dynamic=True)")
        t = self.flowsheet().time
        self.area = pyo.Param(initialize=self.config.area, mutable=True, units=pyunits.m**2,
                              doc="Cross-section area")
        self.level = pyo.Var(t, initialize=1.0, bounds=(0, None), units=LEVEL_UNITS,
                             doc="Liquid level")
        self.dlevel_dt = DerivativeVar(self.level, wrt=t, initialize=0.0,
                                       units=LEVEL_UNITS / self.flowsheet().time_units,
                                       doc="Time derivative of the level")
        self.inflow = pyo.Var(t, initialize=0.1, units=FLOW_UNITS, doc="Volumetric flow in",
                              bounds=(0, None) if self.config.nonnegative_inflow else (None, None))
        self.inlet = Port(initialize={"flow": self.inflow}, doc="Inlet (flow)")
        outlet = self.config.outlet
        if outlet is not TankOutlet.NONE:
            nonnegative = self.config.nonnegative_outflow or outlet is TankOutlet.ORIFICE
            self.outflow = pyo.Var(t, initialize=0.1, units=FLOW_UNITS, doc="Volumetric flow out",
                                   bounds=(0, None) if nonnegative else (None, None))
            self.outlet = Port(initialize={"flow": self.outflow}, doc="Outlet (flow)")
        self.volume_balance = pyo.Constraint(t, rule=lambda b, tt: b.area * b.dlevel_dt[tt] == (
            b.inflow[tt] - (b.outflow[tt] if outlet is not TankOutlet.NONE else 0)))
        if outlet is TankOutlet.ORIFICE:
            self.outlet_coefficient = pyo.Param(
                initialize=self.config.outlet_coefficient, mutable=True,
                units=FLOW_UNITS / LEVEL_UNITS**0.5, doc="Orifice coefficient")
            self.orifice_eq = pyo.Constraint(t, rule=lambda b, tt: b.outflow[tt] ** 2
                                             == b.outlet_coefficient**2 * b.level[tt],
                                             doc="Orifice law outflow = c sqrt(level), squared")


@declare_process_block_class("Manifold", doc="Splits one flow into several")
class ManifoldData(UnitModelBlockData):
    """Flow split ``inflow = sum_k outflow[k]``; ports ``inlet`` and ``outlet_k``."""

    CONFIG = UnitModelBlockData.CONFIG()
    CONFIG.declare("num_outlets", ConfigValue(
        default=2, domain=PositiveInt, doc="Number of outlets (ports outlet_0, outlet_1, ...)"))
    CONFIG.declare("free_outlets", ConfigValue(
        default=[], domain=ListOf(int, NonNegativeInt),
        doc="Outlets whose flow may be negative (the others are >= 0, as is the inflow)"))

    def build(self) -> None:
        """Flows, ports, then the flow balance."""
        super().build()
        t = self.flowsheet().time
        self.outlet_set = pyo.Set(initialize=range(self.config.num_outlets), ordered=True,
                                  doc="Outlet indices")
        free = set(self.config.free_outlets)
        if not free <= set(self.outlet_set):
            raise ContractError(f"{self.name}: free_outlets={sorted(free)} names outlets that do "
                                f"not exist (num_outlets={self.config.num_outlets})")
        self.inflow = pyo.Var(t, initialize=0.1, bounds=(0, None), units=FLOW_UNITS,
                              doc="Volumetric flow in")
        self.outflow = pyo.Var(t, self.outlet_set, initialize=0.05, units=FLOW_UNITS,
                               bounds=lambda b, tt, k: (None, None) if k in free else (0, None),
                               doc="Volumetric flow out of each outlet")
        self.inlet = Port(initialize={"flow": self.inflow}, doc="Inlet (flow)")
        for k in self.outlet_set:
            self.add_component(f"outflow_{k}", pyo.Reference(self.outflow[:, k]))
            self.add_component(f"outlet_{k}", Port(
                initialize={"flow": getattr(self, f"outflow_{k}")}, doc=f"Outlet {k} (flow)"))
        self.flow_balance = pyo.Constraint(t, rule=lambda b, tt: b.inflow[tt] == sum(
            b.outflow[tt, k] for k in b.outlet_set))
