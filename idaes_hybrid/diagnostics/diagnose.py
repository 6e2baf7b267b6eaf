"""Structural and numerical diagnostics of a configured training problem.

:func:`build_flowsheet_diagnostic_model` builds the simultaneous training problem a run
configuration describes (a ``model = ...`` one as its one-unit flowsheet,
:func:`~idaes_hybrid.config.unit_translation.load_config`), without training: the
smoother is solved (consistent trajectories and a learned-term profile), each network's
normalization is taken from the smoother's profiles, the weights are fixed (the model is
square, as in the final state of training), and every experiment is marched with the
untrained networks.

:func:`structural_report` is IDAES's ``DiagnosticsToolbox.report_structural_issues``.
IDAES's numerical report needs PyNumero's compiled ASL library, which pip does not
install; :func:`numerical_report` computes the same kind of checks (residuals,
bounds, extreme Jacobian entries, rows and columns, condition number) from the
compiled system of :mod:`idaes_hybrid.solve.nl_system`, in the scaled space when
scaling factors are set. ``idaes-hybrid diagnose CONFIG.toml`` prints both.
"""

from __future__ import annotations

import contextlib
import io
import sys
from typing import Iterator, TextIO

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.units_container import units as pyunits
from pyomo.common.modeling import unique_component_name

import idaes.logger as idaeslog
from idaes.core.util.diagnostics_tools.diagnostics_toolbox import DiagnosticsToolbox
from idaes.core.util.exceptions import InitializationError
from pyomo.core.base.units_container import UnitsError
from pyomo.util.check_units import assert_units_consistent

from idaes_hybrid.diagnostics.numerical_checks import (  # noqa: F401 (re-exported: diagnose's API)
    NumericalFindings, condition_estimate, numerical_checks, numerical_report)
from idaes_hybrid.nn.block import as_networks

_log = idaeslog.getLogger(__name__)

def build_flowsheet_diagnostic_model(config, formulation=None) -> tuple[pyo.ConcreteModel, list]:
    """The training problem of a flowsheet configuration, smoother solved, weights fixed.

    ``config``: a :class:`~idaes_hybrid.config.flowsheet.FlowsheetRunConfig`. Every term's network
    gets its normalization and output layer from the smoother's profiles, then
    every training experiment is marched with the untrained networks. Returns the
    model and its network blocks.
    """
    from idaes_hybrid.model.experiment import Role
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.solve.idaes_default import ensure_idaes_default_solver
    from idaes_hybrid.training.flowsheet_problem import (
        POINTS, build_flowsheet_training_model, initialize_flowsheet, io_arrays, networks, smoothness)
    from idaes_hybrid.training.flowsheet_train import smoother_stage
    from idaes_hybrid.training.pretrain import normalization_from_data

    ensure_idaes_default_solver()
    settings, disc = config.training, config.discretization
    exps = [e for e in config.experiments if e.role is Role.TRAIN]
    m = build_flowsheet_training_model(config.flowsheet, exps, config.network_specs(), disc.nfe,
                                       disc.ncp, formulation or settings.formulation)
    m.smoothness = pyo.Expression(expr=smoothness(m, settings.smoother_scale))
    m.smoother_objective = pyo.Objective(expr=m.data_fit + settings.smoother_penalty * m.smoothness)
    options = {"bound_push": 1e-8, "bound_frac": 1e-8, **settings.solver_options}
    report = smoother_stage(m, config.flowsheet, exps, options, settings, tee=False)
    _log.info(f"diagnose: smoother {report.status} after {report.iterations} iterations")
    nets = networks(m)
    for net in nets:
        v, z = io_arrays(net)
        spec = net.to_spec()
        spec = NetworkSpec(sizes=spec.sizes, activations=spec.activations, weights=spec.weights,
                          biases=spec.biases, **normalization_from_data(v, z))
        fit_output_layer(spec, v, z)
        net.load_spec(spec)
        getattr(net, POINTS).activate()
        net.fix_weights()
    m.smoother_objective.deactivate()
    for exp in exps:
        try:
            initialize_flowsheet(m.experiment[exp.name], nets)
        except (InitializationError, ValueError) as err:
            _log.warning(f"diagnose: march of {exp.name!r} with the untrained networks failed "
                         f"({err}); keeping the smoother's trajectories")
    for net in nets:
        net.initialize_points(outputs=False)
    return m, nets


def fit_output_layer(spec, v: np.ndarray, z: np.ndarray, ridge: float = 1e-3) -> bool:
    """Least-squares fit of a linear output layer to ``z`` (random hidden features).

    A cheap stand-in for pre-training: the diagnostic model's network then roughly
    follows the smoother's profile. Returns False (spec unchanged) for a
    non-linear output activation.
    """
    from idaes_hybrid.nn.network import NUMPY_ACTIVATIONS, Activation

    if spec.activations[-1] is not Activation.LINEAR:
        return False
    h = (np.asarray(v, float) - spec.input_mean) / spec.input_std
    for w, b, act in zip(spec.weights[:-1], spec.biases[:-1], spec.activations[:-1]):
        h = NUMPY_ACTIVATIONS[act](h @ w.T + b)
    feats = np.hstack([h, np.ones((h.shape[0], 1))])
    target = (np.asarray(z, float) - spec.output_mean) / spec.output_std
    coef = np.linalg.solve(feats.T @ feats + ridge * np.eye(feats.shape[1]), feats.T @ target)
    spec.weights[-1], spec.biases[-1] = coef[:-1].T.copy(), coef[-1].copy()
    return True


@contextlib.contextmanager
def network_proxies(model: pyo.Block, net, keep: int = 1) -> Iterator[int]:
    """Stand in for most network points with incidence-equivalent linear equations.

    Every point of a point block is built by the same rule, so checking units and
    potential evaluation errors of ``keep`` points per block checks them all; but
    walking tens of thousands of nested nodes per point makes IDAES's structural
    checks take many minutes. Inside the context, all other points are deactivated
    and each output gets ``z == sum(v_i / units(v_i)) * units(z)``, which involves
    the same variables (the weights are fixed), so degrees of freedom and the
    Dulmage-Mendelsohn partition are unchanged. Yields the number of proxied points.
    """
    name = unique_component_name(model, "_diagnostic_network_proxy")
    proxy = pyo.ConstraintList()
    model.add_component(name, proxy)
    replaced, seen = [], {}
    for blk, v, z in [item for n in as_networks(net) for item in n.point_items()]:
        parent = blk.parent_component()
        seen[id(parent)] = seen.get(id(parent), 0) + 1
        if seen[id(parent)] <= keep:
            continue
        blk.deactivate()
        replaced.append(blk)
        for zvar in z:
            proxy.add(zvar == sum(x / pyunits.get_units(x) for x in v) * pyunits.get_units(zvar))
    try:
        yield len(replaced)
    finally:
        model.del_component(proxy)
        for blk in replaced:
            blk.activate()


def inconsistent_units_active(block: pyo.Block) -> list:
    """Active constraints and objectives, and named expressions, of active blocks with
    inconsistent units (IDAES's check also walks deactivated components)."""
    bad = []
    for comp in block.component_data_objects([pyo.Constraint, pyo.Objective, pyo.Expression],
                                             active=True, descend_into=True):
        try:
            assert_units_consistent(comp)
        except UnitsError:
            bad.append(comp)
    return bad


class HybridDiagnosticsToolbox(DiagnosticsToolbox):
    """IDAES's DiagnosticsToolbox with the unit check limited to active components.

    Deactivated components (the network points standing in for proxies, the
    objective of another training stage) are not part of the problem being
    solved; IDAES's own check walks them too.
    """

    def _collect_structural_warnings(self, ignore_evaluation_errors=False, ignore_unit_consistency=False):
        warnings, next_steps = super()._collect_structural_warnings(
            ignore_evaluation_errors=ignore_evaluation_errors, ignore_unit_consistency=True)
        bad = [] if ignore_unit_consistency else inconsistent_units_active(self._model)
        if bad:
            noun = "Component" if len(bad) == 1 else "Components"
            at = 1 if warnings and "Degree" in warnings[0] else 0
            warnings.insert(at, f"WARNING: {len(bad)} {noun} with inconsistent units")
            next_steps.insert(0, "display_components_with_inconsistent_units()")
        return warnings, next_steps


def structural_report(model: pyo.Block, net=None, stream: TextIO | None = None,
                      full: bool = False) -> list[str]:
    """Print IDAES's structural report; return its warnings.

    Parameters
    ----------
    model
        The model (square, for a warning-free report).
    net
        Its network block; unless ``full``, all but one point per point block are
        analysed through :func:`network_proxies` (same structure, minutes faster).
    stream
        Where the report goes (stdout by default).
    full
        Walk every network point's nested expression (IDAES's own toolbox).
    """
    stream = stream or sys.stdout
    buf = io.StringIO()
    with network_proxies(model, None if full else net) as n_proxy:
        dt = DiagnosticsToolbox(model) if full else HybridDiagnosticsToolbox(model)
        dt.report_structural_issues(stream=buf)
    text = buf.getvalue()
    stream.write(text)
    if n_proxy:
        stream.write(f"    ({n_proxy} network points were checked through incidence-equivalent "
                     "proxies; one point per point block in full)\n")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("WARNING:")]
