"""Leslie-Gower predator-prey model with a slot for the learned predator growth rate.

A hybrid model that is not a process: prey ``x0`` and predator ``x1``
(dimensionless densities) in dimensionless time::

    dx0/dt = x0 (r1 - a1 x1 - b1 x0)
    dx1/dt = x1 z

The predator's per-capita growth rate ``z`` is the unknown term: with
``KineticsMode.EXTERNAL`` it is a free variable supplied by a network block (or
the smoother); with ``KineticsMode.REFERENCE`` it is the Leslie-Gower law
``z = r2 - a2 x1 / x0``.

With the ``lyapunov_constraint`` option the unit adds the path constraint
``dV/dt <= 0`` at every time point, with the Lyapunov function of the true
system::

    V = ln(x0/x0*) + x0*/x0 + (a1 x0*/a2) (ln(x1/x1*) + x1*/x1)

around the coexistence equilibrium ``x0* = r1 a2 / (a1 r2 + b1 a2)``,
``x1* = r2 x0* / a2`` (``(0.0488, 0.9756)`` for the default parameters). By the
chain rule ``dV/dt = (1 - x0*/x0)/x0 dx0/dt + (a1 x0*/a2)(1 - x1*/x1)/x1 dx1/dt``,
written with the state derivative variables; the constraint is imposed
multiplied by ``x0^2 x1^2 > 0`` so it has no division. For the true ``z``,
``dV/dt = -b1 (x0 - x0*)^2/x0 - a1 (x1 - x1*)^2/x1 <= 0`` everywhere in the
positive quadrant, so the constraint only excludes networks that are wrong.
"""

from __future__ import annotations

from typing import Sequence

import pyomo.environ as pyo
from pyomo.common.config import Bool, ConfigValue
from pyomo.dae import DerivativeVar
from pyomo.environ import units as pyunits

from idaes.core import declare_process_block_class

from idaes_hybrid.model.contract import (
    HybridUnitBlockData, KineticsMode, hybrid_unit_config, require_dynamic)

#: Default values of the parameters: r1, a1, b1 enter the prey balance; r2, a2
#: the reference growth law and the equilibrium of the Lyapunov function.
DEFAULT_PHYSICS = {"r1": 0.2, "a1": 0.2, "b1": 0.1, "r2": 0.2, "a2": 0.01}
STATES = ("x0", "x1")


def equilibrium(r1: float, a1: float, b1: float, r2: float, a2: float) -> tuple[float, float]:
    """Coexistence equilibrium ``(x0*, x1*)`` of the Leslie-Gower model."""
    x0 = r1 * a2 / (a1 * r2 + b1 * a2)
    return x0, r2 * x0 / a2


@declare_process_block_class("PredatorPrey", doc="Leslie-Gower predator-prey with learned growth")
class PredatorPreyData(HybridUnitBlockData):
    """Dynamic Leslie-Gower model; see the module docstring for the equations."""

    state_names = STATES
    input_names = ()
    learned_names = ("z",)
    physics_defaults = DEFAULT_PHYSICS
    CONFIG = hybrid_unit_config(
        STATES,
        "Source of the predator growth rate z: KineticsMode.EXTERNAL (network or smoother) or "
        "KineticsMode.REFERENCE (Leslie-Gower r2 - a2 x1/x0)",
        "States fed to the network, in order (a subset of x0, x1)")
    CONFIG.declare("lyapunov_constraint", ConfigValue(
        default=False, domain=Bool,
        doc="If True, impose dV/dt <= 0 at every time point (V: the Lyapunov "
            "function of the true model around its coexistence equilibrium)"))

    def build(self) -> None:
        """Parameters, states, growth-rate slot, balances, then the optional Lyapunov decrease."""
        super().build()
        require_dynamic(self, "a predator-prey model")
        self._add_parameters()
        self._add_states()
        self._add_growth_rate()
        self._add_balances()
        self._add_lyapunov_function()
        if self.config.lyapunov_constraint:
            self._add_lyapunov_constraint()

    def _add_parameters(self) -> None:
        rate = self.flowsheet().time_units ** -1
        docs = {"r1": "Prey growth rate", "a1": "Predation rate", "b1": "Prey self-limitation",
                "r2": "Predator growth rate (reference, equilibrium)",
                "a2": "Predator self-limitation (reference, equilibrium)"}
        for name, doc in docs.items():
            self.add_component(name, pyo.Param(initialize=DEFAULT_PHYSICS[name], mutable=True,
                                               units=rate, doc=doc))
        self.x0_eq = pyo.Expression(expr=self.r1 * self.a2 / (self.a1 * self.r2 + self.b1 * self.a2),
                                    doc="Prey density at the coexistence equilibrium")
        self.x1_eq = pyo.Expression(expr=self.r2 * self.x0_eq / self.a2,
                                    doc="Predator density at the coexistence equilibrium")

    def _add_states(self) -> None:
        t = self.flowsheet().time
        rate = self.flowsheet().time_units ** -1
        for name, doc in (("x0", "Prey density"), ("x1", "Predator density")):
            var = pyo.Var(t, initialize=1.0, bounds=(0, None), units=pyunits.dimensionless, doc=doc)
            self.add_component(name, var)
            self.add_component(f"d{name}dt", DerivativeVar(
                var, wrt=t, initialize=0.0, units=rate, doc=f"Time derivative of {name}"))

    def _add_growth_rate(self) -> None:
        t = self.flowsheet().time
        self.z = pyo.Var(t, initialize=0.1, units=self.flowsheet().time_units ** -1,
                         doc="Per-capita predator growth rate")
        if self.config.kinetics is KineticsMode.REFERENCE:
            self.leslie_gower_eq = pyo.Constraint(
                t, rule=lambda b, tt: b.z[tt] * b.x0[tt] == b.r2 * b.x0[tt] - b.a2 * b.x1[tt],
                doc="Leslie-Gower growth z = r2 - a2 x1/x0 (times x0)")

    def _add_balances(self) -> None:
        t = self.flowsheet().time
        self.prey_balance = pyo.Constraint(t, rule=lambda b, tt: b.dx0dt[tt] == b.x0[tt] * (
            b.r1 - b.a1 * b.x1[tt] - b.b1 * b.x0[tt]))
        self.predator_balance = pyo.Constraint(t, rule=lambda b, tt: b.dx1dt[tt] == b.x1[tt] * b.z[tt])

    def _add_lyapunov_function(self) -> None:
        t = self.flowsheet().time
        self.lyapunov_weight = pyo.Expression(expr=self.a1 * self.x0_eq / self.a2,
                                              doc="Weight a1 x0*/a2 of the predator part of V")
        self.lyapunov = pyo.Expression(t, rule=lambda b, tt: (
            pyo.log(b.x0[tt] / b.x0_eq) + b.x0_eq / b.x0[tt]
            + b.lyapunov_weight * (pyo.log(b.x1[tt] / b.x1_eq) + b.x1_eq / b.x1[tt])),
            doc="Lyapunov function V")
        self.lyapunov_rate = pyo.Expression(t, rule=lambda b, tt: (
            (1 - b.x0_eq / b.x0[tt]) / b.x0[tt] * b.dx0dt[tt]
            + b.lyapunov_weight * (1 - b.x1_eq / b.x1[tt]) / b.x1[tt] * b.dx1dt[tt]),
            doc="dV/dt by the chain rule, from the state derivative variables")

    def _add_lyapunov_constraint(self) -> None:
        t = self.flowsheet().time
        self.lyapunov_decrease = pyo.Constraint(t, rule=lambda b, tt: (
            (b.x0[tt] - b.x0_eq) * b.x1[tt] ** 2 * b.dx0dt[tt]
            + b.lyapunov_weight * (b.x1[tt] - b.x1_eq) * b.x0[tt] ** 2 * b.dx1dt[tt] <= 0),
            doc="x0^2 x1^2 dV/dt <= 0")

    # ----------------------------------------------------------- the contract
    def network_output_vars(self, t: float) -> Sequence[pyo.Var]:
        """The predator growth rate at time ``t``."""
        return [self.z[t]]

