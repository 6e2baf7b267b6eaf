"""Fed-batch bioreactor with a slot for learned growth kinetics.

States: biomass X, product P, substrate S (g/L) and liquid volume V (L); inputs:
feed flow F (L/h) and feed substrate concentration Sf (g/L). Balances::

    dX/dt = mu X - F X / V
    dP/dt = Ypx mu X - F P / V
    dS/dt = F (Sf - S) / V - mu X / Yxs
    dV/dt = F

The specific growth rate ``mu`` (1/h) is the kinetics slot: with
``KineticsMode.EXTERNAL`` it is a free variable supplied by a network block (or
the smoother); with ``KineticsMode.REFERENCE`` it is Monod kinetics
``mu_max S / (Ks + S)``, with substrate inhibition (Haldane)
``mu_max S / (Ks + S + S^2 Ki_inv)`` when ``Ki_inv = 1/Ki > 0``.

No substrate, no growth: with ``uptake_limit`` (set by simulations, optimizations
and estimates of ``FED_BATCH_BIOREACTOR``) the balances use
``mu tanh(S / S_lim)`` (``S_lim`` 1e-3 g/L by default, below any measurable
level), so whatever the network returns at ``S = 0``, the substrate is not consumed
below zero (the factor changes sign with ``S``: ``S = 0`` attracts from both sides) and
a prediction beyond the data keeps ``S >= 0`` up to the collocation error where the
substrate runs out within one element (of the order of ``S_lim``). The factor is smooth,
odd, has no pole, is 0.995 at ``3 S_lim`` and 1 to 8 digits from ``10 S_lim`` on (so
within the data the prediction is the trained model's, and the Jacobian has no tiny
entries there). Training leaves it out (its bounds hold
``S >= 0``, and the factor's steepness near ``S = 0`` costs the solver iterations); the
reference kinetics vanish at ``S = 0`` by themselves and are used as written.
"""

from __future__ import annotations

import enum
from typing import Sequence

import pyomo.environ as pyo
from pyomo.dae import DerivativeVar
from pyomo.common.config import Bool, ConfigValue
from pyomo.environ import units as pyunits

from idaes.core import declare_process_block_class

from idaes_hybrid.model.contract import (
    HybridUnitBlockData, KineticsMode, hybrid_unit_config, require_dynamic)
from idaes_hybrid.model.initialization import HybridUnitInitializer
from idaes_hybrid.model.scaling import HybridUnitScaler

#: Default values of the physics parameters.
DEFAULT_PHYSICS = {"Yxs": 0.5, "Ypx": 0.2, "S_lim": 1e-3, "mu_max": 0.2, "Ks": 1.0, "Ki_inv": 0.0}


class BioState(str, enum.Enum):
    """States of the fed-batch bioreactor."""

    X = "X"
    P = "P"
    S = "S"
    V = "V"


STATE_UNITS = {
    "X": pyunits.g / pyunits.L,
    "P": pyunits.g / pyunits.L,
    "S": pyunits.g / pyunits.L,
    "V": pyunits.L,
}


class FedBatchReactorInitializer(HybridUnitInitializer):
    """Initializer of :class:`FedBatchReactor`: the element-by-element Newton march of
    :class:`~idaes_hybrid.model.initialization.HybridUnitInitializer`."""


class FedBatchReactorScaler(HybridUnitScaler):
    """Scaler of :class:`FedBatchReactor`: nominal-value scaling of states and balances."""


@declare_process_block_class("FedBatchReactor", doc="Fed-batch bioreactor with learned kinetics")
class FedBatchReactorData(HybridUnitBlockData):
    """Dynamic fed-batch bioreactor; see the module docstring for the equations."""

    physics_defaults = DEFAULT_PHYSICS

    #: Element-by-element Newton march (``FedBatchReactorInitializer(network=net)``).
    default_initializer = FedBatchReactorInitializer
    #: Nominal-value scaling of states, derivatives and balances.
    default_scaler = FedBatchReactorScaler
    CONFIG = hybrid_unit_config(
        ["X", "S", "P", "V"],
        "Source of the growth rate mu: KineticsMode.EXTERNAL (network or smoother) or "
        "KineticsMode.REFERENCE (Monod)",
        "States fed to the network, in order (a subset of X, P, S, V)")
    CONFIG.declare("uptake_limit", ConfigValue(
        default=False, domain=Bool,
        doc="Learned growth acts as mu tanh(S / S_lim) in the balances (no substrate, no "
            "growth); simulations and optimizations of FED_BATCH_BIOREACTOR set it"))

    state_names = ("X", "P", "S", "V")
    input_names = ("F", "Sf")
    learned_names = ("mu",)

    def build(self) -> None:
        """Parameters, states, inputs, kinetics slot, then balances."""
        super().build()
        require_dynamic(self, "a fed-batch reactor")
        self._add_parameters()
        self._add_states()
        self._add_inputs()
        self._add_kinetics()
        self._add_balances()

    def _add_parameters(self) -> None:
        self.Yxs = pyo.Param(initialize=DEFAULT_PHYSICS["Yxs"], mutable=True,
                             units=pyunits.dimensionless, doc="Biomass yield on substrate")
        self.Ypx = pyo.Param(initialize=DEFAULT_PHYSICS["Ypx"], mutable=True,
                             units=pyunits.dimensionless, doc="Product yield on biomass")
        self.S_lim = pyo.Param(initialize=DEFAULT_PHYSICS["S_lim"], mutable=True,
                               units=pyunits.g / pyunits.L,
                               doc="Uptake limit: with uptake_limit, growth acts as mu tanh(S / S_lim)")
        self.mu_max = pyo.Param(initialize=DEFAULT_PHYSICS["mu_max"], mutable=True,
                                units=pyunits.h**-1, doc="Monod maximum growth rate (reference)")
        self.Ks = pyo.Param(initialize=DEFAULT_PHYSICS["Ks"], mutable=True,
                            units=pyunits.g / pyunits.L, doc="Monod saturation constant (reference)")
        self.Ki_inv = pyo.Param(initialize=DEFAULT_PHYSICS["Ki_inv"], mutable=True,
                                units=pyunits.L / pyunits.g,
                                doc="Inverse substrate-inhibition constant 1/Ki (reference; 0: Monod)")

    def _add_states(self) -> None:
        t = self.flowsheet().time
        t_units = self.flowsheet().time_units
        bounds = {"X": (0, None), "P": (0, None), "S": (0, None), "V": (1e-3, None)}
        for name in self.state_names:
            var = pyo.Var(t, initialize=1.0, bounds=bounds[name], units=STATE_UNITS[name],
                          doc=f"State {name}")
            self.add_component(name, var)
            self.add_component(f"d{name}dt", DerivativeVar(
                var, wrt=t, initialize=0.0, units=STATE_UNITS[name] / t_units,
                doc=f"Time derivative of {name}"))

    def _add_inputs(self) -> None:
        t = self.flowsheet().time
        self.F = pyo.Var(t, initialize=0.05, bounds=(0, None), units=pyunits.L / pyunits.h,
                         doc="Feed flow")
        self.Sf = pyo.Var(t, initialize=10.0, bounds=(0, None), units=pyunits.g / pyunits.L,
                          doc="Feed substrate concentration")
        self.F.fix()
        self.Sf.fix()

    def _add_kinetics(self) -> None:
        t = self.flowsheet().time
        self.mu = pyo.Var(t, initialize=0.1, units=pyunits.h**-1, doc="Specific growth rate")
        if self.config.kinetics is KineticsMode.REFERENCE:
            self.monod_eq = pyo.Constraint(
                t, rule=lambda b, tt: b.mu[tt] * (b.Ks + b.S[tt] + b.Ki_inv * b.S[tt] ** 2)
                == b.mu_max * b.S[tt], doc="Monod kinetics (Haldane with Ki_inv > 0)")

    def _add_balances(self) -> None:
        t = self.flowsheet().time
        if self.config.uptake_limit and self.config.kinetics is KineticsMode.EXTERNAL:
            self.growth = pyo.Expression(t, rule=lambda b, tt: b.mu[tt] * pyo.tanh(b.S[tt] / b.S_lim),
                                         doc="Specific growth rate acting in the balances")
        else:
            self.growth = pyo.Expression(t, rule=lambda b, tt: b.mu[tt],
                                         doc="Specific growth rate acting in the balances")
        self.biomass_balance = pyo.Constraint(t, rule=lambda b, tt: b.dXdt[tt] * b.V[tt]
                                              == b.growth[tt] * b.X[tt] * b.V[tt] - b.F[tt] * b.X[tt])
        self.product_balance = pyo.Constraint(t, rule=lambda b, tt: b.dPdt[tt] * b.V[tt]
                                              == b.Ypx * b.growth[tt] * b.X[tt] * b.V[tt] - b.F[tt] * b.P[tt])
        self.substrate_balance = pyo.Constraint(t, rule=lambda b, tt: b.dSdt[tt] * b.V[tt]
                                                == b.F[tt] * (b.Sf[tt] - b.S[tt])
                                                - b.growth[tt] * b.X[tt] * b.V[tt] / b.Yxs)
        self.volume_balance = pyo.Constraint(t, rule=lambda b, tt: b.dVdt[tt] == b.F[tt])

    # ----------------------------------------------------------- the contract
    def network_output_vars(self, t: float) -> Sequence[pyo.Var]:
        """The growth rate at time ``t``."""
        return [self.mu[t]]

