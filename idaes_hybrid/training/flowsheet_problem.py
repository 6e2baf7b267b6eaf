"""The training and simulation problems of a :class:`~idaes_hybrid.model.HybridFlowsheet`.

One flowsheet per experiment (``m.experiment[name].fs``, built by the user's
function, discretized by Radau collocation), one network per learned term
(``m.networks.<term name>``) evaluated at every point of its term, in every
experiment, all points of a term sharing its weights, and a weighted least-squares fit of the measured variables at their own times
(the collocation polynomial is interpolated: data need not sit on the grid).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.environ import units as pyunits

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.model.dof import (DegreesOfFreedomError, check_degrees_of_freedom,
                                    count_degrees_of_freedom)
from idaes_hybrid.model.experiment import DataError
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.model.paths import PathError
from idaes_hybrid.model.terms import series_labels
from idaes_hybrid.nn.block import NeuralNetworkBlock, as_networks
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.solver import SolveStatus
from idaes_hybrid.solve.values import restore_values, unfixed_values, within_bounds
from idaes_hybrid.training.simulation import PredictionError, Simulation, series_bounds
from idaes_hybrid.training.problem import interpolation_weights, observation_scales
from idaes_hybrid.training.regularization import add_likelihood_objective_parts
from idaes_hybrid.training.smoother import output_scale
from idaes_hybrid.model.initialization import HybridUnitInitializer

_log = idaeslog.getLogger(__name__)

#: Name of the network's point block (as in the unit-based problem).
POINTS = "kinetics"


def add_networks(m: pyo.Block, hf: HybridFlowsheet, specs: Mapping[str, NetworkSpec],
                 formulation: Formulation, names: Sequence[str]) -> list:
    """``m.networks.<term>``: each term's network at every point of the term in every
    ``m.experiment[name]``; ``m.term_series[term][experiment]`` its series. Returns
    the network blocks in term order."""
    m.networks = pyo.Block()
    m.term_series = {}
    for term in hf.terms:
        spec = specs[term.name]
        net = NeuralNetworkBlock(spec=spec, formulation=formulation)
        m.networks.add_component(term.name, net)
        io, m.term_series[term.name] = {}, {}
        for name in names:
            series = term.series(m.experiment[name])
            m.term_series[term.name][name] = series
            for s in series:
                for idx, v, z in zip(s.index, s.inputs, s.outputs):
                    # flat labels: Pyomo flattens a (t, x) index inside a point's label
                    io[(name, s.key, *(idx if isinstance(idx, tuple) else (idx,)))] = (v, z)
        n_in, n_out = len(next(iter(io.values()))[0]), len(next(iter(io.values()))[1])
        if (n_in, n_out) != (spec.n_inputs, spec.n_outputs):
            raise PathError(f"terms.{term.name}: has {n_in} inputs and {n_out} outputs, its network "
                            f"has {spec.n_inputs} and {spec.n_outputs}")
        net.add_points(POINTS, list(io), inputs=lambda p, io=io: io[p][0],
                       outputs=lambda p, io=io: io[p][1])
    return networks(m)


def networks(m: pyo.Block) -> list:
    """The network blocks of a model built by :func:`add_networks`, in term order."""
    return [m.networks.component(name) for name in m.term_series]


def term_labels(m: pyo.Block, experiment: str) -> dict[str, dict[str, list[str]]]:
    """Each term's axis labels (:func:`~idaes_hybrid.model.terms.series_labels`), read from
    its first series in ``experiment``."""
    return {term: series_labels(by_exp[experiment][0]) for term, by_exp in m.term_series.items()}


def scale_flowsheet_model(m: pyo.Block) -> None:
    """IDAES scaling factors of every experiment's flowsheet (its units' and packages' own
    ``calculate_scaling_factors``, from the current values) and of every network's points
    (:class:`~idaes_hybrid.model.scaling.NeuralNetworkScaler`), for Ipopt's user scaling."""
    import logging

    from idaes.core.util import scaling as iscale

    from idaes_hybrid.model.scaling import NeuralNetworkScaler

    missing = []

    def count(record: logging.LogRecord) -> bool:  # one summary line, not one per variable
        if record.levelno > logging.WARNING:
            return True
        missing.append(record)
        return False

    logger = logging.getLogger("idaes.core.util.scaling")
    logger.addFilter(count)
    try:
        for blk in m.experiment.values():
            iscale.calculate_scaling_factors(blk.fs)
    finally:
        logger.removeFilter(count)
    n_missing = sum(r.getMessage().startswith("Missing scaling factor") for r in missing)
    if missing:
        _log.info(f"user scaling: {n_missing} components of the flowsheet have no IDAES scaling "
                  f"factor (left at 1); {len(missing) - n_missing} other scaling notices")
    for net in networks(m):
        NeuralNetworkScaler(overwrite=True).scale_model(net)


def experiment_fit_sums(m: pyo.Block, hf: HybridFlowsheet,
                        experiments: Sequence[FlowsheetExperiment],
                        scales: dict[str, float]) -> dict[str, tuple]:
    """Per experiment: (sum of squared scaled residuals, number of observations)."""
    out = {}
    for exp in experiments:
        blk = m.experiment[exp.name]
        times, names, values = exp.observations()
        refs = {n: hf.var(blk, n, f"experiments[{exp.name!r}].measurements.{n}")
                for n in exp.measured_variables}
        terms, steps = [], exp.step_times()
        for t_obs, name, y in zip(times, names, values):
            ref = refs[name]
            x = sum(w * ref[t] for t, w in interpolation_weights(blk.fs.time, float(t_obs), steps))
            u = pyunits.get_units(ref[blk.fs.time.first()])
            terms.append(((x / u - float(y)) / scales[name]) ** 2)
        out[exp.name] = (sum(terms), len(terms))
    return out


#: Share of a column's measurements beyond its variable's bounds from which the column is
#: refused (a unit mismatch, e.g. a temperature in degC against a package's bound 273.15 K).
OUTSIDE_BOUNDS_REFUSED = 0.5


def check_measurements_within_bounds(blk: pyo.Block, hf: HybridFlowsheet, exp: FlowsheetExperiment) -> None:
    """Each measured column against the bounds of its variable in ``blk``: a warning when some
    values lie beyond a bound by more than a tenth of the column's own range (noise near a
    bound does not), a :class:`DataError` naming the column when more than
    :data:`OUTSIDE_BOUNDS_REFUSED` of them do (the fit could never reach them)."""
    for name in exp.measured_variables:
        values = exp.measurements[name].dropna().to_numpy(dtype=float)
        ref = hf.var(blk, name, f"experiments[{exp.name!r}].measurements.{name}")
        var = ref[blk.fs.time.first()]
        lb, ub = getattr(var, "lb", None), getattr(var, "ub", None)  # an expression has none
        if values.size == 0 or (lb is None and ub is None):
            continue
        slack = 0.1 * float(np.ptp(values))
        low = values < lb - slack if lb is not None else np.zeros(values.size, bool)
        high = values > ub + slack if ub is not None else np.zeros(values.size, bool)
        n_out = int(low.sum() + high.sum())
        if n_out == 0:
            continue
        units = pyunits.get_units(var)
        units = "" if units is None else f" {units}"
        side = f"below the lower bound {lb:g}" if low.sum() >= high.sum() else f"above the upper bound {ub:g}"
        text = (f"experiments[{exp.name!r}].data, column {name}: {n_out} of {values.size} values "
                f"({values.min():.4g} to {values.max():.4g}) lie {side}{units} of {hf.path(name)}; "
                f"measurements are compared with the variable in its own units")
        if n_out > OUTSIDE_BOUNDS_REFUSED * values.size:
            raise DataError(f"{text}: check the column's units")
        _log.warning(text)


def build_flowsheet_training_model(
    hf: HybridFlowsheet, experiments: Sequence[FlowsheetExperiment],
    spec: NetworkSpec | Mapping[str, NetworkSpec], nfe: int, ncp: int,
    formulation: Formulation = Formulation.BATCHED, scales: dict[str, float] | None = None,
) -> pyo.ConcreteModel:
    """The simultaneous training model (objective not yet set): ``experiment[name]``
    blocks, ``networks`` with their points, ``scales`` and the expression ``data_fit`` with
    the parts of :func:`~idaes_hybrid.training.regularization.add_likelihood_objective_parts`.
    ``spec``: one network (one term) or ``{term name: NetworkSpec}``."""
    specs = hf.specs_by_term(spec)
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise DataError(f"experiments: names must be unique, got {names}")
    m = pyo.ConcreteModel(name="hybrid_flowsheet_training")
    m.experiment = pyo.Block(names)
    for exp in experiments:
        hf.build_experiment(m.experiment[exp.name], exp, nfe, ncp)
        check_measurements_within_bounds(m.experiment[exp.name], hf, exp)
    add_networks(m, hf, specs, formulation, names)
    m.scales = dict(scales) if scales is not None else observation_scales(experiments)
    add_likelihood_objective_parts(m, experiment_fit_sums(m, hf, experiments, m.scales))
    return m


def smoothness(m: pyo.Block, z_scale: float | None = None):
    """Mean squared rate of change of the learned outputs: along time in every series
    (horizon-weighted), and between neighbouring places of a family of series (a term at
    every length point of a distributed unit: :func:`_space_smoothness`); each divided by
    the square of its output's scale (:func:`~idaes_hybrid.training.smoother.output_scale`)."""
    total, count = 0, 0
    for by_experiment in m.term_series.values():
        for series in by_experiment.values():
            for s in series:
                times = s.times()
                horizon = times[-1] - times[0]
                for o in range(len(s.outputs[0])):
                    u = pyunits.get_units(s.outputs[0][o])
                    scale = output_scale([z[o] for z in s.outputs], z_scale)
                    diffs = [((s.outputs[k + 1][o] - s.outputs[k][o]) / u / (times[k + 1] - times[k])) ** 2
                             for k in range(len(times) - 1) if times[k + 1] > times[k]]
                    total += horizon * sum(diffs) / max(len(diffs), 1) / scale**2
                    count += 1
            space_total, space_count = _space_smoothness(series, z_scale)
            total, count = total + space_total, count + space_count
    return total / max(count, 1)


def _space_smoothness(series: list, z_scale: float | None) -> tuple:
    """Sum and count of the mean squared difference quotients of the outputs between
    neighbouring places of each family of series (one numeric non-time index, e.g. the
    length points of a PFR), weighted by the family's extent. Without it the outputs at
    places the data see only through their sum (an outlet) are free to trade off."""
    families: dict = {}
    for s in series:
        place = s.place()
        if len(place) == 1 and isinstance(place[0], (int, float)):
            families.setdefault(s.family, []).append((float(place[0]), s))
    total, count = 0, 0
    for members in families.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda p: p[0])
        extent = members[-1][0] - members[0][0]
        for (xa, a), (xb, b) in zip(members, members[1:]):
            if len(a.outputs) != len(b.outputs) or xb <= xa:
                continue
            for o in range(len(a.outputs[0])):
                u = pyunits.get_units(a.outputs[0][o])
                scale = output_scale([z[o] for z in a.outputs], z_scale)
                diffs = [((zb[o] - za[o]) / u / (xb - xa)) ** 2 for za, zb in zip(a.outputs, b.outputs)]
                total += extent * sum(diffs) / len(diffs) / scale**2
                count += 1
    return total, count


def _dulmage_mendelsohn(blk: pyo.Block, net=None):
    """Dulmage-Mendelsohn partition of ``blk.fs``'s equalities and free variables, the
    networks' outputs left out: the networks set them, so they are no partner of an equation
    of the flowsheet (else an over-specified equation matches a network output and is not
    found)."""
    from pyomo.contrib.incidence_analysis import IncidenceGraphInterface

    igraph = IncidenceGraphInterface(blk.fs, include_inequality=False)
    taken = {id(z) for n in as_networks(net) for _, _, zs in n.point_items(active=False) for z in zs}
    return igraph.dulmage_mendelsohn(variables=[v for v in igraph.variables if id(v) not in taken])


def _unmatched(blk: pyo.Block, net=None) -> tuple[str, str, str]:
    """The experiment's name and the first equations and variables without a partner
    (Dulmage-Mendelsohn on the free variables), for a message."""
    var_dm, con_dm = _dulmage_mendelsohn(blk, net)
    name = blk.index() if blk.parent_component().is_indexed() else blk.name
    return (name, ", ".join(c.name for c in con_dm.unmatched[:3]),
            ", ".join(v.name for v in var_dm.unmatched[:3]))


def _singular_message(blk: pyo.Block, net=None) -> str:
    """Which equations and variables have no partner, for a message."""
    name, cons, var_names = _unmatched(blk, net)
    return (f"experiments[{name!r}]: the flowsheet's equations are structurally singular with this "
            f"initial state and these inputs: no variable left for {cons or 'some equations'}"
            f"{f' (unmatched variables: {var_names})' if var_names else ''}; an initial value or "
            "input probably fixes a variable that an equation already determines (e.g. a "
            "property package's water concentration)")


def initialize_flowsheet(blk: pyo.Block, net=None) -> dict:
    """March a square experiment block (inputs, initial state and weights fixed) in time.

    Returns the march statistics; raises ``InitializationError`` naming the block
    that did not converge.
    """
    init = HybridUnitInitializer(network=net, newton_tol=1e-6)
    try:
        init.initialize(blk.fs)
    except RuntimeError as err:  # block triangularization: no perfect matching
        if "perfect matching" not in str(err):
            raise
        raise DataError(_singular_message(blk, net)) from None
    except InitializationError as err:
        if "degrees of freedom" not in str(err):
            raise
        dof = int(str(err).split(": ", 1)[1].split(" degrees", 1)[0])
        raise DataError(_over_specified_message(blk, dof, net) if dof < 0 else _free_state_message(blk, dof, net)) from None
    return init.stats.get(blk.fs, {})


def _free_components(blk: pyo.Block, net=None, limit: int = 3) -> str:
    """The variables (by component, with how many of their elements) a maximum matching of
    the equations leaves free: one choice of what is missing, for a message. The networks'
    outputs (``net``: one network block or several) are not free: the networks set them."""
    var_dm, _ = _dulmage_mendelsohn(blk, net)
    counts: dict[str, int] = {}
    prefix = f"{blk.name}."
    for v in var_dm.unmatched:  # every index written as '*': fs.r1.properties_in[*].temperature
        key = re.sub(r"\[[^\]]*\]", "[*]", v.name.removeprefix(prefix))
        counts[key] = counts.get(key, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    text = ", ".join(f"{k} ({n} element{'s' if n > 1 else ''})" for k, n in top)
    initial = _free_initial_accumulations(blk, var_dm, limit)
    return text + (f"; its under-determined part holds, at t = 0, {initial}: one of these likely "
                   "needs an initial value" if text and initial else "")


def _free_initial_accumulations(blk: pyo.Block, var_dm, limit: int = 3) -> str:
    """The accumulation terms at the first time in the under-determined part of the
    equations (Dulmage-Mendelsohn), by component with their last index listed
    (``fs.r1.control_volume.material_accumulation[0.0,Liq,*] (A, B, S)``): where a missing
    initial condition usually is, which a matching's free variable (often far downstream)
    does not show."""
    t0 = blk.fs.time.first()
    groups: dict[str, list[str]] = {}
    for v in list(var_dm.unmatched) + list(var_dm.underconstrained):
        index = v.index()
        first = index[0] if isinstance(index, tuple) else index
        if "accumulation" not in v.parent_component().local_name or first != t0:
            continue
        name = v.name.removeprefix(f"{blk.name}.")
        if isinstance(index, tuple) and len(index) > 1:
            head, _, last = name[:-1].rpartition(",")
            groups.setdefault(f"{head},*]", []).append(last)
        else:
            groups.setdefault(name, [])
    return ", ".join(f"{k} ({', '.join(sorted(set(v)))})" if v else k
                     for k, v in sorted(groups.items())[:limit])


def _free_state_message(blk: pyo.Block, dof, net=None) -> str:
    name = blk.index() if blk.parent_component().is_indexed() else blk.name
    free = _free_components(blk, net)
    return (f"experiments[{name!r}]: the flowsheet keeps {dof} degrees of freedom with its inputs "
            f"and initial state fixed{f' (left free, one choice: {free})' if free else ''}; "
            "fix every input (inputs) and give every differential state "
            "at t = 0 that the property package leaves free (initial: for a CSTR its outlet "
            "concentrations and temperature; a liquid of fixed density at fixed volume also needs "
            "its solvent's accumulation at t = 0, e.g. material_accumulation[*,Liq,H2O] = 0), or "
            "start at initial = 'steady-state'")


def _over_specified_message(blk: pyo.Block, dof, net=None) -> str:
    """Negative degrees of freedom: the equations whose variables are all fixed or taken
    (Dulmage-Mendelsohn's unmatched constraints), for a message."""
    name, cons, _ = _unmatched(blk, net)
    return (f"experiments[{name!r}]: the flowsheet has {dof} degrees of freedom with its inputs "
            f"and initial state fixed: more equations than free variables; no free variable left "
            f"for {cons or 'some equations'}: the build, an input or an initial value fixes a "
            "variable that these equations determine (e.g. every split fraction of a splitter, "
            "whose sum is an equation); unfix it")


def check_square(m: pyo.Block, blk: pyo.Block, net, context: str) -> None:
    """A simulation's (or an optimization start's) model must be square: a
    :class:`DataError` naming the experiment and what to give, when it keeps free
    variables (an incomplete initial state, an input not given) or has too few."""
    try:
        check_degrees_of_freedom(m, 0, context, net)
    except DegreesOfFreedomError:
        dof = count_degrees_of_freedom(m, net)
        raise DataError(_free_state_message(blk, dof, net) if dof > 0 else _over_specified_message(blk, dof, net)) from None


def fixed_weight_model(hf: HybridFlowsheet, exp: FlowsheetExperiment,
                       spec: NetworkSpec | Mapping[str, NetworkSpec] | None,
                       nfe: int, ncp: int, name: str,
                       formulation: Formulation = Formulation.BATCHED
                       ) -> tuple[pyo.ConcreteModel, pyo.Block, list]:
    """One experiment's flowsheet with the networks' weights fixed (``spec=None``: no
    network): the model, the experiment block and the network blocks (maybe none).
    ``formulation``: how the networks meet the solver (the batched callbacks by default)."""
    m = pyo.ConcreteModel(name=name)
    m.experiment = pyo.Block([exp.name])
    blk = m.experiment[exp.name]
    hf.build_experiment(blk, exp, nfe, ncp, fixed_weights=True)
    if spec is None:
        return m, blk, []
    nets = add_networks(m, hf, hf.specs_by_term(spec), formulation, [exp.name])
    for net in nets:
        net.fix_weights()
    return m, blk, nets


#: Ipopt options of a simulation's square solve. The march leaves a feasible start, on which
#: variables may sit at a bound (a component absent from one feed: zero at a Mixer inlet);
#: Ipopt's default ``bound_push`` of 1e-2 would move them inside and break the balances by
#: up to ~1e5 (a Mixer -> CSTR flowsheet then failed at 1000 iterations; it solves in 1).
SIMULATION_OPTIONS = {"tol": 1e-8, "bound_push": 1e-8, "bound_frac": 1e-8}


def simulate_flowsheet(hf: HybridFlowsheet, exp: FlowsheetExperiment,
                       spec: NetworkSpec | Mapping[str, NetworkSpec] | None,
                       nfe: int, ncp: int, outputs: Sequence[str] = (),
                       options: dict | None = None) -> Simulation:
    """Simulate ``exp`` (weights fixed): march initialization, then one square solve.

    ``spec``: the network (one term) or ``{term name: NetworkSpec}``; ``spec=None`` simulates a flowsheet without learned terms (a first-principles
    plant). Returns ``time``, each of ``outputs`` (names or paths) and ``_model``.
    """
    from idaes_hybrid.solve.batched import solve_hybrid
    from idaes_hybrid.solve.nl_solve import solve_nl

    m, blk, net = fixed_weight_model(hf, exp, spec, nfe, ncp, f"simulate_{exp.name}")
    # unknown output names are refused before the solve; a measured column is named as such
    measured, bounds = set(exp.measured_variables), {}
    for name in outputs:  # their bounds now: a retry below may lift them
        ref = hf.var(blk, name, f"experiments[{exp.name!r}].measurements.{name}" if name in measured
                     else f"outputs.{name}")
        bounds[name] = series_bounds(ref[t] for t in blk.fs.time)
    check_square(m, blk, net, f"simulation of {exp.name!r}")
    # A simulation is the square system: path inequalities (e.g. a Lyapunov decrease
    # imposed in training) are not enforced on a prediction.
    for con in blk.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        if not con.equality:
            con.deactivate()
    march_error = None
    try:
        initialize_flowsheet(blk, net)
    except InitializationError as err:  # e.g. a network far outside its data: let Ipopt try
        march_error = str(err)
        _log.warning(f"simulation of {exp.name!r}: the march did not converge ({err}); "
                     "solving from the partly marched point")
    opts = {**SIMULATION_OPTIONS, "max_iter": 200 if march_error is None else 1000, **(options or {})}
    # a run's [solver] tol is the training's; a square simulation is solved to 1e-8 at least
    opts["tol"] = min(float(opts["tol"]), SIMULATION_OPTIONS["tol"])
    marched = None if march_error else unfixed_values(m)
    res = solve_hybrid(m, net, opts) if net else solve_nl(m, opts)
    if not res.ok and res.status is not SolveStatus.INFEASIBLE and marched and within_bounds(marched):
        restore_values(marched)
        # Ipopt may stall on round-off of large terms (a package in minutes: energy terms of
        # 1e10) where the march has solved every equation to it.
        _log.warning(f"simulation of {exp.name!r}: Ipopt ended {res.status.value} from the "
                     "converged march; the marched solution is kept")
        return Simulation(np.array(list(blk.fs.time)), variable_series(blk, hf, outputs), m, bounds)
    if res.status is SolveStatus.INFEASIBLE:
        # The discretized trajectory may leave a bound the true one only touches (a substrate
        # depleted within one element undershoots 0): the square system has its solution
        # outside the bounds, so it is solved again, from the march, without them.
        lifted = lift_bounds(blk)
        _log.warning(f"simulation of {exp.name!r}: no solution within the variables' bounds; "
                     f"solved again with {lifted} bounds lifted")
        res = solve_hybrid(m, net, opts) if net else solve_nl(m, opts)
    if not res.ok:
        raise PredictionError(f"simulation of {exp.name!r}: {res.status.value} "
                              f"({res.termination_message})"
                              + (f"; the march failed before: {march_error}" if march_error else ""))
    return Simulation(np.array(list(blk.fs.time)), variable_series(blk, hf, outputs), m, bounds)


def variable_series(blk: pyo.Block, hf: HybridFlowsheet, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The values of the variables ``names`` (names or paths) at every time point of ``blk.fs``."""
    series = {}
    for name in names:
        ref = hf.var(blk, name, f"outputs.{name}")
        series[name] = np.array([pyo.value(ref[t]) for t in blk.fs.time])
    return series


def lift_bounds(blk: pyo.Block) -> int:
    """Remove the bounds of every unfixed variable under ``blk``; how many were set."""
    n = 0
    for v in blk.component_data_objects(pyo.Var, descend_into=True):
        if not v.fixed and (v.lb is not None or v.ub is not None):
            v.setlb(None)
            v.setub(None)
            n += 1
    return n


def flowsheet_rmse(blk: pyo.Block, hf: HybridFlowsheet, exp: FlowsheetExperiment) -> dict[str, float]:
    """RMSE of each measured variable of ``exp`` against the solved ``blk``."""
    out, steps = {}, exp.step_times()
    for name in exp.measured_variables:
        ref = hf.var(blk, name, f"measurements.{name}")
        s = exp.measurements[name].dropna()
        pred = [sum(w * pyo.value(ref[t]) for t, w in interpolation_weights(blk.fs.time, float(t_obs), steps))
                for t_obs in s.index]
        out[name] = float(np.sqrt(np.mean((np.array(pred) - s.to_numpy()) ** 2)))
    return out


def io_arrays(net) -> tuple[np.ndarray, np.ndarray]:
    """A network's (inputs, outputs) values at all its points."""
    items = net.point_items(active=False)
    return (np.array([[pyo.value(x) for x in v] for _, v, _ in items]),
            np.array([[pyo.value(x) for x in z] for _, _, z in items]))


def set_points_active(m: pyo.Block, active: bool) -> None:
    """(De)activate the network points of every term of a training model."""
    for net in networks(m):
        getattr(net, POINTS).activate() if active else getattr(net, POINTS).deactivate()


def march_outputs_held(m: pyo.Block, names: Sequence[str]) -> None:
    """March the experiments ``names`` with every learned output held at its current value
    (the networks' points inactive); raises ``InitializationError`` as the march does."""
    set_points_active(m, False)
    outputs = [z for net in networks(m) for _, _, zs in net.point_items(active=False) for z in zs]
    held = [z for z in outputs if not z.fixed]
    for z in held:
        z.fix()
    try:
        for name in names:
            initialize_flowsheet(m.experiment[name])
    finally:
        for z in held:
            z.unfix()
        set_points_active(m, True)
