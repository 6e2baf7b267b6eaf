"""One experiment's inner problem of the decomposition on any IDAES flowsheet.

The decomposition's one inner-problem spec, for every model: the experiment's flowsheet
is built by the user's function (:meth:`~idaes_hybrid.model.HybridFlowsheet.build_experiment`;
a one-unit model's by :func:`~idaes_hybrid.model.unit_flowsheet.unit_flowsheet`), its
learned term's network evaluated at every point of the term with the weights fixed, and
the data fit of :func:`~idaes_hybrid.training.flowsheet_problem.build_flowsheet_training_model`
as objective. :class:`~idaes_hybrid.decomposition.inner.InnerProblem` solves it for given
weights and returns the envelope gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyomo.environ as pyo

from idaes_hybrid.decomposition.inner import InnerSolveOptions
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.flowsheet_problem import (
    build_flowsheet_training_model, flowsheet_rmse, initialize_flowsheet, networks)


@dataclass(frozen=True)
class FlowsheetInnerSpec(InnerSolveOptions):
    """Everything a worker needs to build one flowsheet experiment's inner problem.

    Picklable: the user's build function travels by value when its module was loaded
    from a file (cloudpickle), by reference when it is importable.

    Attributes
    ----------
    hf
        The hybrid flowsheet, with exactly one learned term.
    experiment
        The experiment (inputs, initial state, measurements).
    network
        The term's network (its weights are replaced by each solve's ``theta``).
    nfe, ncp
        Radau finite elements and collocation points per element.
    scales, slack_penalty, slack_kind, options, start
        Keywords only: see :class:`~idaes_hybrid.decomposition.inner.InnerSolveOptions`.
    """

    hf: HybridFlowsheet
    experiment: FlowsheetExperiment
    network: NetworkSpec
    nfe: int
    ncp: int

    def build_model(self) -> tuple[pyo.ConcreteModel, Any]:
        """The experiment's flowsheet and network points, ``data_fit`` not yet an objective;
        the network block (weights fixed)."""
        scales = dict(self.scales) if self.scales is not None else None
        m = build_flowsheet_training_model(self.hf, [self.experiment], self.network, self.nfe, self.ncp,
                                           Formulation.BATCHED, scales)
        net = networks(m)[0]
        net.fix_weights()
        return m, net

    def march(self, m: pyo.ConcreteModel, net: Any) -> None:
        """March the flowsheet in time with the network's weights."""
        initialize_flowsheet(m.experiment[self.name], [net])
        net.initialize_points(outputs=False)

    def rmse(self, m: pyo.ConcreteModel) -> dict[str, float]:
        """RMSE of each measured variable at the solved point."""
        return flowsheet_rmse(m.experiment[self.name], self.hf, self.experiment)

    def time_variable(self, m: pyo.ConcreteModel, variable: str) -> tuple[Any, Any]:
        """The experiment's time set and the named variable (or path) over it."""
        blk = m.experiment[self.name]
        return blk.fs.time, self.hf.var(blk, variable, f"variables.{variable}")
