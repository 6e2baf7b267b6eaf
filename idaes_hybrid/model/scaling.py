"""IDAES scaling of hybrid units and network blocks, and the solver's scaling vectors.

:class:`HybridUnitScaler` (a :class:`~idaes.core.scaling.CustomScalerBase`) scales
a dynamic hybrid unit from nominal values: the states, learned terms and inputs
by their largest magnitude over time (current values: the smoother's solution
in training, or values given in ``nominal_values``), each derivative by its own
largest magnitude but at least its state's nominal value over the horizon, the
collocation equations like their derivative and the other equations (balances,
reference kinetics) by the largest nominal term (``inverseMaximum``).
:class:`NeuralNetworkScaler` scales a network block's points: inputs and outputs
from the normalization constants (``|mean| + std``) unless the unit already did,
each output equation like its output, lifted pre-activations by 1 (they are
normalized). The factors live in IDAES ``scaling_factor`` suffixes;
:func:`~idaes_hybrid.solve.batched.scaling_vectors` turns them into the column and row vectors the batched
solve gives Ipopt (``nlp_scaling_method = user-scaling``); the ``.nl`` path writes
the scaled model itself (Pyomo's NL writer, ``scale_model``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.common.config import ConfigValue
from pyomo.core.base.var import VarData
from pyomo.dae import DerivativeVar

from idaes.core.scaling import CustomScalerBase
from idaes.core.scaling.custom_scaler_base import ConstraintScalingScheme
from idaes.core.scaling.util import get_scaling_factor


def _magnitude(values: Sequence[float | None], floor: float) -> float:
    vals = np.abs([v for v in values if v is not None])
    top = float(vals.max()) if vals.size else 0.0
    return top if top > floor else max(floor, 1e-12)


class HybridUnitScaler(CustomScalerBase):
    """Scaler of a dynamic hybrid unit (states, derivatives, learned terms, balances)."""

    CONFIG = CustomScalerBase.CONFIG()
    CONFIG.declare("nominal_values", ConfigValue(
        default=None, domain=dict,
        description="Nominal magnitude by variable name (e.g. {'X': 5.0}); others come "
                    "from the largest current value over time"))
    CONFIG.declare("floor", ConfigValue(
        default=1e-2, domain=float,
        description="Smallest nominal magnitude of a state, learned term or input"))

    def _nominal(self, unit, name: str) -> float:
        given = (self.config.nominal_values or {}).get(name)
        if given is not None:
            return abs(float(given)) or 1.0
        return _magnitude([v.value for v in getattr(unit, name).values()], self.config.floor)

    def variable_scaling_routine(self, model, overwrite: bool = False, submodel_scalers=None) -> None:
        """States, learned terms and inputs by magnitude; derivatives by rate."""
        nominal = {}
        for name in (*model.state_names, *model.learned_names, *model.input_names):
            nominal[name] = self._nominal(model, name)
            for v in getattr(model, name).values():
                self.set_variable_scaling_factor(v, 1.0 / nominal[name], overwrite=overwrite)
        time = model.flowsheet().time
        horizon = max(time.last() - time.first(), 1e-12)
        for dv in model.component_objects((DerivativeVar, pyo.Var), descend_into=False):
            if not isinstance(dv, DerivativeVar):
                continue
            state = dv.get_state_var()
            base = nominal.get(state.local_name) or _magnitude([v.value for v in state.values()],
                                                              self.config.floor)
            nom = _magnitude([v.value for v in dv.values()], base / horizon)
            for v in dv.values():
                self.set_variable_scaling_factor(v, 1.0 / nom, overwrite=overwrite)

    def constraint_scaling_routine(self, model, overwrite: bool = False, submodel_scalers=None) -> None:
        """Collocation equations like their derivative; other equations by nominal value."""
        disc = set()
        for dv in model.component_objects((DerivativeVar, pyo.Var), descend_into=False):
            eq = model.component(dv.local_name + "_disc_eq") if isinstance(dv, DerivativeVar) else None
            if eq is None:
                continue
            disc.add(id(eq))
            for idx, con in eq.items():
                self.set_constraint_scaling_factor(con, get_scaling_factor(dv[idx], default=1.0),
                                                   overwrite=overwrite)
        for con in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
            if id(con.parent_component()) not in disc:
                self.scale_constraint_by_nominal_value(
                    con, scheme=ConstraintScalingScheme.inverseMaximum, overwrite=overwrite)


class NeuralNetworkScaler(CustomScalerBase):
    """Scaler of a :class:`~idaes_hybrid.nn.block.NeuralNetworkBlock`'s points."""

    CONFIG = CustomScalerBase.CONFIG()

    def variable_scaling_routine(self, model, overwrite: bool = False, submodel_scalers=None) -> None:
        """Inputs and outputs from the normalization (unless set); lifted variables by 1."""
        spec = model.to_spec()
        for blk, v, z in model.point_items(active=False):
            for x, mean, std in [*zip(v, spec.input_mean, spec.input_std),
                                 *zip(z, spec.output_mean, spec.output_std)]:
                # the unit's own (data-based) factor wins; fill in the rest
                if isinstance(x, VarData) and get_scaling_factor(x) is None:
                    self.set_variable_scaling_factor(x, 1.0 / (abs(mean) + std), overwrite=True)
            pre = blk.component("pre")
            for var in pre.values() if pre is not None else ():
                self.set_variable_scaling_factor(var, 1.0, overwrite=overwrite)

    def constraint_scaling_routine(self, model, overwrite: bool = False, submodel_scalers=None) -> None:
        """Each output equation like its output; pre-activation equations by 1."""
        for blk, _, z in model.point_items(active=False):
            for o, con in blk.output_eq.items():
                self.set_constraint_scaling_factor(con, get_scaling_factor(z[o], default=1.0),
                                                   overwrite=overwrite)
            pre_eq = blk.component("pre_eq")
            for con in pre_eq.values() if pre_eq is not None else ():
                self.set_constraint_scaling_factor(con, 1.0, overwrite=overwrite)
