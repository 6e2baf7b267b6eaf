"""Train the learned term of a :class:`~idaes_hybrid.model.HybridFlowsheet`.

The same three stages as the unit workflow (:func:`idaes_hybrid.training.train.train`),
for every learned term's network at once:

1. **smoother** -- the learned outputs are free profiles at every point, fitted to
   the data with the flowsheet's equations as hard constraints and a smoothness
   penalty (after an element-by-element march from the flat start);
2. **pre-training** -- the network's normalization and a Keras fit to the
   smoother's (inputs, outputs) pairs;
3. **simultaneous solve** -- network equations at every point, weights free,
   batched network callbacks and real Ipopt.

Validation experiments are then simulated from their initial state and inputs.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.solve.batched import solve_hybrid
from idaes_hybrid.decomposition.settings import TrainingMethod
from idaes_hybrid.model.dof import DegreesOfFreedomError, check_degrees_of_freedom, training_degrees_of_freedom
from idaes_hybrid.model.experiment import DataError, check_measurements, observation_count, split_by_role
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet, with_missing_inputs
from idaes_hybrid.solve.nl_solve import solve_nl
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.solver import SolveResult
from idaes_hybrid.solve.idaes_default import ensure_idaes_default_solver
from idaes_hybrid.training.flowsheet_problem import (
    POINTS, build_flowsheet_training_model, flowsheet_rmse, initialize_flowsheet, io_arrays,
    march_outputs_held, networks, set_points_active,
    experiment_fit_sums, scale_flowsheet_model, simulate_flowsheet, smoothness, term_labels, variable_series,
    SIMULATION_OPTIONS)
from idaes_hybrid.training.predict import PredictionError, pooled_rmse
from idaes_hybrid.training.problem import noise_levels
from idaes_hybrid.training.train import (
    BLOCK_DIAGONAL_MAX_ITER, EXACT_HESSIAN_MAX_WEIGHTS, WARM_EXACT_MAX_ITER, HessianMode, NlpScaling,
    StageReport,
    StageStatus, TrainingError, TrainingRequestError, TrainingResult, TrainingSettings, check_noise,
    check_scheduler, decomposition_resumes,
    pretrain_on_profiles, resolve_hessian, starting_values)
from idaes_hybrid.training.regularization import (
    EVIDENCE, WARM_START_OPTIONS, RegularizationChoice, choose_regularization, prior_term, resolve_setting)
from idaes_hybrid.training.warm_start import regularization_term, warm_start_stage
from idaes_hybrid.training.warm_resolve import warm_resolve

_log = idaeslog.getLogger(__name__)


#: Ipopt options of every solve in training, under the user's ``[solver]``. Every stage
#: starts from a consistent point (march, smoother): keep Ipopt from pushing it off bounds
#: that states sit near (a temperature at its lower bound), and start the constraint
#: multipliers at zero rather than at Ipopt's least-squares estimate, which is poor at
#: these starts and enters the Hessian through the network rows. Measured with and without
#: the zero start: the CSTR cascade 647 -> 56 iterations, the PFR 73 (acceptable) -> 19, a
#: jacket ``UA`` term on an IDAES CSTR restoration failure -> trained
#: (``benchmarks/cases/jacket_ua/README.md``), the other shipped cases unchanged.
#: MUMPS orders the KKT matrix by approximate minimum degree (``mumps_pivot_order = 0``)
#: instead of its own choice: the same systems solved exactly, per iteration 1.8x faster on
#: the bioreactor flowsheet, 1.7x on the CSTR cascade, 1.3x on the tank manifold, equal on
#: the rest (``benchmarks/results/mumps_ordering.md``; on the unit path's models MUMPS's own
#: choice is as fast or faster, so it stays there).
TRAINING_OPTIONS = {"bound_push": 1e-8, "bound_frac": 1e-8, "constr_mult_init_max": 0.0,
                    "mumps_pivot_order": 0}


def _start_from_data(m: pyo.Block, hf: HybridFlowsheet, experiments: Sequence[FlowsheetExperiment]) -> None:
    """Measured variables start at their data (linear interpolation between observations,
    within bounds): the smoother then starts near the fit it looks for, not at a march
    driven by a guessed learned term (which can lead an oscillating system astray)."""
    for exp in experiments:
        blk = m.experiment[exp.name]
        for name in exp.measured_variables:
            ref = hf.var(blk, name, f"experiments[{exp.name!r}].measurements.{name}")
            s = exp.measurements[name].dropna().sort_index(kind="stable")  # files in any order
            for t in blk.fs.time:
                var = ref[t]
                if var.fixed:
                    continue
                value = float(np.interp(t, s.index.to_numpy(float), s.to_numpy(float)))
                lo, hi = var.lb, var.ub
                value = max(value, lo) if lo is not None else value
                value = min(value, hi) if hi is not None else value
                var.set_value(value, skip_validation=True)


def _scaling(settings: TrainingSettings) -> dict[str, bool]:
    """The training solves' scaling: by magnitudes unless the settings say otherwise
    (IDAES property packages often give no scaling factors; energies in J sit beside
    weights of order 1)."""
    return settings.solve_scaling(NlpScaling.MAGNITUDE)


#: A warm-started solve (model update, ensemble member) scales by magnitudes when some
#: variable is at least this large at its start (energies in J, pressures in Pa, as IDAES
#: property packages give them), else keeps Ipopt's row scaling.
WARM_MAGNITUDE_FROM = 1e3


def _warm_scaling(settings: TrainingSettings, m: pyo.Block) -> TrainingSettings:
    """A warm start (a model update, an ensemble member) begins at a solved model, not at a
    smoother. Unless ``scaling`` is set, it keeps Ipopt's row scaling where every variable
    is of moderate size (measured: the two-term tank update kept its validation RMSE within
    25 % with it and lost 36 % in x0 with magnitude scaling), and scales by magnitudes where
    some variable is :data:`WARM_MAGNITUDE_FROM` or larger (a generic-package CSTR series: 13
    iterations and 23 s against 89 iterations and 650 s with row scaling, same RMSEs)."""
    if settings.scaling is not None:
        return settings
    largest = max((abs(v.value) for v in m.component_data_objects(pyo.Var, descend_into=True)
                   if not v.fixed and v.value is not None), default=0.0)
    scaling = NlpScaling.MAGNITUDE if largest >= WARM_MAGNITUDE_FROM else NlpScaling.GRADIENT
    _log.debug(f"warm start: largest variable {largest:.3g}: {scaling.value} scaling")
    return dataclasses.replace(settings, scaling=scaling)


def _resolved_hessian(settings: TrainingSettings, nets: Sequence, quiet: bool = False) -> TrainingSettings:
    """``settings`` with ``hessian = AUTO`` decided by the networks' weights and points
    (:func:`~idaes_hybrid.training.train.resolve_hessian`; a choice other than exact is
    logged unless ``quiet``: the decomposition's train stage uses none)."""
    sizes = [(net.to_spec().n_parameters, len(net.point_io())) for net in nets]
    n_weights = sum(w for w, _ in sizes)
    coupling = float(sum(p * w ** 2 for w, p in sizes))
    hessian = resolve_hessian(settings.hessian, n_weights, coupling)
    if settings.hessian is HessianMode.AUTO and hessian is not HessianMode.EXACT and not quiet:
        why = (f"{n_weights} network weights (> {EXACT_HESSIAN_MAX_WEIGHTS})"
               if hessian is HessianMode.LIMITED_MEMORY else
               f"weight-input coupling {coupling:.2g} (network points x weights^2)")
        _log.info(f"train: {hessian.value} Hessian: {why}; [training] hessian overrides")
    return dataclasses.replace(settings, hessian=hessian)


def _warm_solver(m: pyo.Block, options: dict, settings: TrainingSettings, tee: bool) -> Callable[[], SolveResult]:
    """A warm re-solve of the solved model ``m`` (noise refit, evidence, cross-validation)
    with the train solve's Hessian (:func:`~idaes_hybrid.training.warm_resolve.warm_resolve`)."""
    opts = {**_sum_scaled(m, options), "hessian_approximation": settings.hessian.value, **WARM_START_OPTIONS}
    return lambda: warm_resolve(m, lambda o: solve_hybrid(m, networks(m), o, tee, **_scaling(settings)), opts)


def _solve(m: pyo.Block, stage: str, options: dict, tee: bool, batched: bool,
           scaling: dict | None = None):
    nets = networks(m)
    try:
        check_degrees_of_freedom(m, training_degrees_of_freedom(nets), f"{stage} solve", nets)
    except DegreesOfFreedomError as err:
        raise TrainingError(str(err)) from None
    res = solve_hybrid(m, nets, options, tee, **(scaling or {})) if batched else solve_nl(m, options, tee)
    _log.info(f"{stage}: {res.status.value} after {res.iterations} iterations in {res.wall_time_s:.1f} s")
    if not res.ok:
        raise TrainingError(f"{stage} solve did not converge: {res.status.value} "
                            f"({res.termination_message})")
    return res


def _train_attempts(options: dict, settings: TrainingSettings, warm: bool = False) -> list[dict]:
    """Option sets of the training solve, tried in order from the same start.

    The Hessian the settings ask for goes first; the other one is the fallback. Why a
    fallback: the start (smoother profiles, pre-trained weights) is feasible for the
    flowsheet but the network misses the smoother's outputs by up to ~20%, and the
    weights of a network with a small ``regularization`` have flat and negative-curvature
    directions. Exact-Hessian steps can then move far along them (restoration phases,
    dual infeasibility ~1e10: the saponification case failed so at nfe 20 and 30), while
    a limited-memory Hessian takes moderate quasi-Newton steps (converged in every case
    measured, more slowly). The exact fallback uses the adaptive barrier, which keeps a
    warm start near its point. The block-diagonal Hessian gets
    :data:`~idaes_hybrid.training.train.BLOCK_DIAGONAL_MAX_ITER` iterations, then the exact
    and the limited-memory ones follow. A warm start (``warm``: a model update, an ensemble
    member) gives the exact Hessian :data:`~idaes_hybrid.training.train.WARM_EXACT_MAX_ITER`
    iterations before the limited-memory one. ``hessian_approximation`` in
    ``solver_options`` is honoured as the only attempt.
    """
    if "hessian_approximation" in settings.solver_options:
        return [options]
    lbfgs = {**options, "hessian_approximation": HessianMode.LIMITED_MEMORY.value}
    exact = {**options, "hessian_approximation": HessianMode.EXACT.value}
    if warm:
        exact["max_iter"] = min(int(options.get("max_iter", WARM_EXACT_MAX_ITER)), WARM_EXACT_MAX_ITER)
    if settings.hessian is HessianMode.BLOCK_DIAGONAL:
        capped = min(int(options.get("max_iter", BLOCK_DIAGONAL_MAX_ITER)), BLOCK_DIAGONAL_MAX_ITER)
        return [{**options, "hessian_approximation": HessianMode.BLOCK_DIAGONAL.value,
                 "max_iter": capped}, exact, lbfgs]
    if settings.hessian is HessianMode.EXACT:
        return [exact, lbfgs]
    return [lbfgs, {"mu_strategy": "adaptive", **exact}]


def _train_solve(m: pyo.Block, options: dict, settings: TrainingSettings, tee: bool, warm: bool = False,
                 start: ComponentMap | None = None):
    """The simultaneous solve: each of :func:`_train_attempts` from the same start (``start``,
    every variable's value, :func:`_snapshot`; default: the model's current values) until one
    converges; its result and its ``hessian_approximation``. The last error is raised if none
    converges."""
    start = start if start is not None else _snapshot(m)
    attempts, tick = _train_attempts(options, settings, warm), time.perf_counter()
    for i, opts in enumerate(attempts):
        for v, val in start.items():
            v.set_value(val, skip_validation=True)
        try:
            res = _solve(m, "train", opts, tee, batched=True, scaling=_scaling(settings))
        except TrainingError as err:
            if i == len(attempts) - 1:
                raise
            _log.info(f"train: {err}; retrying from the pre-trained start with "
                         f"hessian_approximation={attempts[i + 1]['hessian_approximation']}")
            continue
        res.wall_time_s = time.perf_counter() - tick  # all attempts
        return res, str(opts.get("hessian_approximation", HessianMode.EXACT.value))


def smoother_stage(m: pyo.Block, hf: HybridFlowsheet, train_exps, options: dict,
                    settings: TrainingSettings, tee: bool) -> StageReport:
    """Stage 1: march, start from the data, solve with the learned outputs free."""
    tick = time.perf_counter()
    march_outputs_held(m, [e.name for e in train_exps])
    _start_from_data(m, hf, train_exps)
    set_points_active(m, False)
    for net in networks(m):
        net.fix_weights()
    res = _solve(m, "smoother", {**options, **settings.smoother_options}, tee, batched=False)
    return StageReport(res.status.value, time.perf_counter() - tick, res.iterations, res.objective)


def _pretrain_stage(m: pyo.Block, settings: TrainingSettings) -> tuple[StageReport, dict]:
    """Stage 2, per network: normalization from the smoother's profiles and a fit
    to them (loaded into the network). Returns the report and each term's profiles."""
    tick = time.perf_counter()
    profiles, epochs, loss = {}, 0, 0.0
    for net in networks(m):
        v, z = io_arrays(net)
        profiles[net.local_name] = {"inputs": v, "outputs": z}
        pre = pretrain_on_profiles(net.to_spec(), v, z, settings)
        net.load_spec(pre.spec)
        epochs, loss = epochs + pre.epochs, loss + pre.loss
    return StageReport(StageStatus.OK, time.perf_counter() - tick, epochs, loss), profiles


def _judge(m: pyo.Block, hf: HybridFlowsheet, fitted, simulated, trained: dict,
           nfe: int, ncp: int, options: dict) -> tuple[dict, dict, dict]:
    """RMSE of the ``fitted`` experiments (solved in ``m``) and of the ``simulated`` ones
    (validation; after a decomposition also the training experiments).

    An experiment whose simulation fails does not fail the training: it is left out of
    the RMSE and returned with its message (third value)."""
    per_exp, trajs, failed = {}, {}, {}
    names = list(hf.variables)
    for exp in fitted:
        blk = m.experiment[exp.name]
        per_exp[exp.name] = flowsheet_rmse(blk, hf, exp)
        trajs[exp.name] = {"time": np.array(list(blk.fs.time)), **variable_series(blk, hf, names)}
    for exp in simulated:
        try:
            sim = simulate_flowsheet(hf, exp, trained, nfe, ncp, names or exp.measured_variables, options)
        except (PredictionError, InitializationError, DataError) as err:
            _log.warning(f"validation: {err}")
            failed[exp.name] = str(err)
            continue
        per_exp[exp.name] = flowsheet_rmse(sim.model.experiment[exp.name], hf, exp)
        trajs[exp.name] = sim.trajectories()
    return per_exp, trajs, failed


def _anchored_l2(net, centre: NetworkSpec | None):
    """``||theta||^2``, or ``||theta - theta_centre||^2`` (a model update)."""
    if centre is None:
        return regularization_term(net, None)
    return sum((v - float(c)) ** 2 for v, c in zip(net.parameter_vars_flat(), centre.flat_parameters()))


def _fresh_start(m: pyo.Block, hf: HybridFlowsheet, train_exps, options: dict,
                 settings: TrainingSettings, tee: bool) -> tuple[dict, dict]:
    """Smoother and pre-training: the stage reports and each term's profiles."""
    m.smoothness = pyo.Expression(expr=smoothness(m, settings.smoother_scale))
    m.smoother_objective = pyo.Objective(expr=m.data_fit + settings.smoother_penalty * m.smoothness)
    stages = {"smoother": smoother_stage(m, hf, train_exps, options, settings, tee)}
    stages["pretrain"], profiles = _pretrain_stage(m, settings)
    m.smoother_objective.deactivate()
    return stages, profiles


def diagnostics_stage(m: pyo.Block, nets: list, decomposed: bool,
                      asked: bool = True) -> tuple[StageReport, dict]:
    """IDAES-style numerical checks of the trained model (residuals, bounds, scaled
    Jacobian) with their stage report; a report never fails a finished training.
    ``asked=False`` (an ensemble member, whose report nobody reads) skips them."""
    from idaes_hybrid.diagnostics.numerical_checks import numerical_checks

    tick = time.perf_counter()
    if decomposed:  # m holds the smoother's states, not a solution with the trained weights
        found = {"skipped": "decomposition: the inner problems are solved on the workers"}
    elif not asked:
        found = {"skipped": "not asked for"}
    else:
        try:
            checks = numerical_checks(m, nets)
            for line in checks.warnings:
                _log.warning(f"diagnostics: {line}")
            found = {"warnings": list(checks.warnings), "cautions": list(checks.cautions),
                     "max_residual": checks.max_residual}
        except Exception as err:  # noqa: BLE001 - a report must never fail a finished training
            _log.warning(f"numerical diagnostics skipped: {type(err).__name__}: {err}")
            found = {"error": f"{type(err).__name__}: {err}"}
    status = StageStatus.SKIPPED if {"error", "skipped"} & set(found) else StageStatus.OK
    return StageReport(status, time.perf_counter() - tick), found


def _split(experiments: Sequence[FlowsheetExperiment]) -> tuple[list, list]:
    """The training and validation experiments; at least one training experiment, and
    every measurement time inside its experiment's ``[0, horizon]``."""
    for exp in experiments:  # config files are checked when read; experiments built in Python here
        check_measurements(exp.measurements, float(exp.horizon), f"experiments[{exp.name!r}].measurements",
                           increasing=False)
    train_exps, val_exps = split_by_role(experiments)
    if not train_exps:
        raise TrainingError("experiments: at least one experiment must have role 'train'")
    return train_exps, val_exps


def _build_stage(hf: HybridFlowsheet, train_exps, spec, grid: tuple[int, int],
                 settings: TrainingSettings, why_not: str, anchored) -> tuple:
    """Build the training model and its (inactive) likelihood + prior objective:
    ``(model, anchors by network, stage reports, cross-validating, choice)``; ``why_not``
    names what rules out cross-validating the prior, ``anchored`` centres it on the
    starting weights (``True``) or on a given network's weights (a ``NetworkSpec``, one term)."""
    tick = time.perf_counter()
    m = build_flowsheet_training_model(hf, train_exps, spec, grid[0], grid[1], settings.formulation)
    nets = networks(m)
    if settings.regularization in (None, EVIDENCE) and len(nets) > 1 and not why_not:
        why_not = f"{len(nets)} learned terms (the evidence is computed for one)"
    centres = {net.local_name: anchored if isinstance(anchored, NetworkSpec)
               else net.to_spec() if anchored else None for net in nets}
    alpha, cross_validating, choice = resolve_setting(settings.regularization, len(train_exps),
                                                      not why_not, why_not)
    m.prior_precision.set_value(alpha)
    m.training_objective = pyo.Objective(expr=m.data_fit + prior_term(m, sum(
        _anchored_l2(net, centres[net.local_name]) for net in nets)))
    m.training_objective.deactivate()
    _log.info(f"build: {len(train_exps)} experiments, " + ", ".join(
        f"{net.local_name}: {len(getattr(net, POINTS))} network points" for net in nets))
    stages = {"build": StageReport(StageStatus.OK, time.perf_counter() - tick)}
    return m, centres, stages, cross_validating, choice


def train_flowsheet(hf: HybridFlowsheet, experiments: Sequence[FlowsheetExperiment],
                    spec: NetworkSpec | Mapping[str, NetworkSpec], nfe: int = 20, ncp: int = 3,
                    settings: TrainingSettings | None = None, tee: bool = False,
                    warm: bool = False, anchor: bool | NetworkSpec = True,
                    starts: Mapping[str, Mapping[str, float]] | None = None,
                    diagnose: bool = True, keep_values: bool = False) -> TrainingResult:
    """Train the flowsheet's learned terms by the simultaneous approach.

    Parameters
    ----------
    hf
        The hybrid flowsheet (build function, learned term, variable names).
    experiments
        Training and validation experiments (by ``role``).
    spec
        Network sizes, activations and initial weights: one ``NetworkSpec`` for a flowsheet
        with one term, else ``{term name: NetworkSpec}``. The result's ``specs`` holds
        every trained network by term name (``spec`` the first).
    nfe, ncp, settings, tee
        Radau elements and points per element; regularization, smoother, pre-training and
        solver options; stream the solver's output.
    warm, anchor, starts
        ``spec`` are trained networks (a model update): no smoother and no pre-training,
        states marched with them or loaded from ``starts`` (``solved_values`` by experiment),
        and (``anchor``) the prior pulls the weights towards them (or ``anchor``'s), not zero.
    diagnose, keep_values
        Run the numerical checks (False: an ensemble member); keep each training experiment's
        values at the solution in ``solved_values`` (where Laplace solves and members start).
    """
    settings = settings or TrainingSettings()
    decomposed, start = settings.method is TrainingMethod.DECOMPOSITION, time.perf_counter()
    if decomposed:
        _check_decomposition(hf, settings)
    ensure_idaes_default_solver()
    train_exps, val_exps = _split(experiments)
    options = {**(TRAINING_OPTIONS if settings.solver_defaults is None else settings.solver_defaults),
               **settings.solver_options}
    m, centres, stages, cross_validating, choice = _build_stage(
        hf, train_exps, spec, (nfe, ncp), settings, "decomposition" if decomposed else
        "model update" if warm else "", anchor if warm else False)
    nets = networks(m)
    settings = _resolved_hessian(settings, nets, quiet=decomposed)
    resuming = decomposed and decomposition_resumes(settings.decomposition, nets[0].to_spec(), train_exps)
    if resuming:  # the checkpoint holds weights and normalization: stages 1 and 2 are done
        begun, profiles = _resumed(m, hf)
    else:
        begun, profiles = _begin(m, hf, train_exps, options, settings, tee, warm, starts, (nfe, ncp))
    stages.update(begun)
    settings = _warm_scaling(settings, m) if warm else settings  # at the warm start's values
    history, noise = [], noise_levels(train_exps)
    if decomposed:
        stages["train"], history = _train_decomposed(
            m, hf, train_exps, val_exps, nfe, ncp, settings, centres[nets[0].local_name],
            None if resuming else starting_values(m, train_exps))
    else:
        if settings.user_scaling:  # from the smoother's (or march's) solution and the networks
            scale_flowsheet_model(m)
        stages["train"], settings, begin = _train_stage(m, train_exps, options, settings, tee, warm)
        noise = noise if warm else _check_noise(m, hf, train_exps, noise, options, settings, tee, stages, begin)
    if cross_validating:
        choice, stages["regularization"] = _choose_regularization(
            m, train_exps, options, settings, tee, (hf, nfe, ncp, noise) if cross_validating == EVIDENCE else None)
    trained = {net.local_name: net.to_spec() for net in nets}
    for net in nets:
        net.fix_weights()
    stages["diagnostics"], diagnostics = diagnostics_stage(m, nets, decomposed, diagnose)
    tick, simulated = time.perf_counter(), [*(train_exps if decomposed else []), *val_exps]
    per_exp, trajs, failed = _judge(m, hf, [] if decomposed else train_exps, simulated, trained,
                                    nfe, ncp, _judge_options(settings))
    stages["validate"], first = StageReport(_validate_status(failed), time.perf_counter() - tick), hf.terms[0].name
    return TrainingResult(
        spec=trained[first], status=stages["train"].status, iterations=stages["train"].iterations,
        objective=stages["train"].objective, wall_time_s=time.perf_counter() - start, stages=stages,
        train_rmse=pooled_rmse(per_exp, train_exps), validation_rmse=pooled_rmse(per_exp, val_exps),
        per_experiment_rmse=per_exp, trajectories=trajs, smoother_profiles=profiles[first],
        specs=trained, term_profiles=profiles, term_labels=term_labels(m, train_exps[0].name),
        noise=noise, regularization=choice.to_dict(), history=history, data_hessian=choice.data_hessian,
        diagnostics={**diagnostics, **({"validation_failures": failed} if failed else {})},
        solved_values=starting_values(m, train_exps) if keep_values and not decomposed else {})


def _validate_status(failed: dict) -> StageStatus:
    """The validate stage's status: failed for some experiments when any could not be simulated."""
    return StageStatus.FAILED_EXPERIMENTS if failed else StageStatus.OK


def _judge_options(settings: TrainingSettings) -> dict:
    """Ipopt options of the validation simulations: the run's, solved to 1e-8 at least."""
    judge = {**TRAINING_OPTIONS, **settings.solver_options}
    judge["tol"] = min(float(judge.get("tol", SIMULATION_OPTIONS["tol"])), SIMULATION_OPTIONS["tol"])
    return judge


def _snapshot(m: pyo.Block) -> ComponentMap:
    """Every variable's value in ``m`` (where a train solve starts)."""
    return ComponentMap((v, v.value) for v in m.component_data_objects(pyo.Var))


def _train_stage(m: pyo.Block, train_exps, options: dict, settings: TrainingSettings,
                 tee: bool, warm: bool = False) -> tuple[StageReport, TrainingSettings, ComponentMap]:
    """Stage 3: network equations active, weights free, the training objective. Its
    report names the Hessian of the attempt that converged (:func:`_train_solve`); the
    settings returned carry that Hessian for the later solves (noise refit,
    cross-validation): a block-diagonal solve that fell back is not repeated there. Also
    returns the solve's start (every variable's value), where a noise refit restarts."""
    set_points_active(m, True)
    m.training_objective.activate()
    for net in networks(m):
        net.initialize_points(outputs=False)
        net.unfix_weights()
    begin = _snapshot(m)
    res, hessian = _train_solve(m, _sum_scaled(m, options), settings, tee, warm, begin)
    report = StageReport(res.status.value, res.wall_time_s, res.iterations, res.objective, hessian)
    return report, dataclasses.replace(settings, hessian=HessianMode(hessian)), begin


def _check_noise(m: pyo.Block, hf: HybridFlowsheet, train_exps, levels: dict, options: dict,
                 settings: TrainingSettings, tee: bool, stages: dict, begin: ComponentMap) -> dict:
    """:func:`~idaes_hybrid.training.train.check_noise` on a flowsheet training model; a
    refit restarts the train solve from ``begin`` (its start)."""
    def fit_rms() -> dict:
        per_exp = {e.name: flowsheet_rmse(m.experiment[e.name], hf, e) for e in train_exps}
        return pooled_rmse(per_exp, train_exps)

    def restart() -> SolveResult | None:
        try:
            return _train_solve(m, _sum_scaled(m, options), settings, tee, start=begin)[0]
        except TrainingError as err:
            _log.info(f"noise refit: {err}")
            return None

    return check_noise(m, levels, fit_rms,
                       lambda sc: experiment_fit_sums(m, hf, train_exps, sc),
                       _warm_solver(m, options, settings, tee), stages, restart)


def _sum_scaled(m: pyo.Block, options: dict) -> dict:
    """The fit is a mean over observations; Ipopt sees the sum (its curvature must not
    drown in the regularization Ipopt adds to the Hessian of a non-convex problem)."""
    return {"obj_scaling_factor": float(m.n_observations), **options}


def _choose_regularization(m: pyo.Block, train_exps, options: dict, settings: TrainingSettings,
                           tee: bool, evidence: tuple | None = None) -> tuple[RegularizationChoice, StageReport]:
    """Cross-validate the prior precision on the solved model ``m`` (see
    :func:`~idaes_hybrid.training.regularization.choose_regularization`), or with
    ``evidence`` = ``(hf, nfe, ncp, noise levels)`` follow the evidence to its fixed point
    (:func:`~idaes_hybrid.training.evidence.evidence_path`)."""
    resolve = _warm_solver(m, options, settings, tee)

    def solve(label: str) -> SolveResult:
        _log.info(f"{label}: solving")
        return resolve()

    if evidence is not None:
        choice = _evidence(m, train_exps, solve, *evidence)
        return choice, StageReport(choice.source.value, choice.wall_time_s, choice.iterations)

    def start_fold(held: str) -> None:  # the held-out experiment marched with the weights
        nets = networks(m)
        for net in nets:
            net.fix_weights()
        try:
            initialize_flowsheet(m.experiment[held], nets)
        except (InitializationError, DataError) as err:
            _log.info(f"cross-validation: {held!r} not marched ({err}); starting from the fit")
        for net in nets:
            net.initialize_points(outputs=False)
            net.unfix_weights()

    choice = choose_regularization(m, solve, {e.name: len(e.observations()[0]) for e in train_exps},
                                   start_fold=start_fold)
    return choice, StageReport(choice.source.value, choice.wall_time_s, choice.iterations)


def _evidence(m: pyo.Block, train_exps, solve, hf: HybridFlowsheet, nfe: int, ncp: int,
              noise: dict) -> RegularizationChoice:
    """The evidence's prior precision for the one learned term of ``m`` (solved), its data
    Hessian from each experiment's inner problem started at the solution."""
    from idaes_hybrid.decomposition.flowsheet_inner import FlowsheetInnerSpec
    from idaes_hybrid.training.evidence import data_hessian, evidence_path

    net = networks(m)[0]
    make_spec = functools.partial(FlowsheetInnerSpec, hf=hf, nfe=nfe, ncp=ncp)
    scales = {name: float(level["sd"]) for name, level in noise.items()}
    built: dict = {}  # each experiment's inner problem, built for the first estimate only
    return evidence_path(
        m, solve, lambda: data_hessian(make_spec, train_exps, net.to_spec(), scales,
                                       starting_values(m, train_exps), built),
        lambda: net.to_spec().flat_parameters())


def _begin(m: pyo.Block, hf: HybridFlowsheet, train_exps, options: dict, settings: TrainingSettings,
           tee: bool, warm: bool, starts, grid: tuple[int, int]) -> tuple[dict, dict]:
    """Stages 1 and 2: the smoother and pre-training, or (``warm``: a model update) the warm
    start from ``starts`` (an experiment the march fails on is simulated on the ``(nfe,
    ncp)`` grid as ``predict`` does). An experiment left with free degrees of freedom that
    lacks an input the others give is told so (the count alone names no variable)."""
    def simulate(exp, specs):
        return simulate_flowsheet(hf, exp, specs, *grid)

    try:
        return (warm_start_stage(m, train_exps, starts, simulate) if warm
                else _fresh_start(m, hf, train_exps, options, settings, tee))
    except DataError as err:
        raise DataError(with_missing_inputs(str(err), train_exps)) from None


def _resumed(m: pyo.Block, hf: HybridFlowsheet) -> tuple[dict, dict]:
    """A decomposition resumed from its checkpoint: no smoother, no pre-training."""
    set_points_active(m, True)
    skipped = StageReport(StageStatus.RESUMED, 0.0)
    return {"smoother": skipped, "pretrain": skipped}, {t.name: {} for t in hf.terms}


def _check_decomposition(hf: HybridFlowsheet, settings: TrainingSettings) -> None:
    """Before any work: one learned term, and the Dask scheduler (if one is named) answers."""
    if len(hf.terms) != 1:
        raise TrainingError(f"training.method: 'decomposition' trains one learned term; this "
                            f"flowsheet has {len(hf.terms)}: use 'simultaneous'")
    check_scheduler(settings.decomposition)


def _train_decomposed(m: pyo.Block, hf: HybridFlowsheet, train_exps, val_exps, nfe: int, ncp: int,
                      settings: TrainingSettings, centre: NetworkSpec | None, starts):
    """Stage 3 by the decomposition (one inner flowsheet problem per experiment, on the
    Dask engine if configured): the best weights end up in the network (fixed)."""
    from idaes_hybrid.decomposition.checkpoint import CheckpointError
    from idaes_hybrid.decomposition.engine import EngineError
    from idaes_hybrid.decomposition.flowsheet_inner import FlowsheetInnerSpec
    from idaes_hybrid.decomposition.outer import DecompositionError, decompose

    net = networks(m)[0]
    make_spec = functools.partial(FlowsheetInnerSpec, hf=hf, nfe=nfe, ncp=ncp)
    alpha = 2.0 * float(pyo.value(m.prior_precision)) / m.n_observations  # the outer loss is a mean
    try:
        # an experiment without data adds nothing to the outer loss (its inner problem only simulates)
        informative = [e for e in train_exps if observation_count(e) > 0]
        dres = decompose(make_spec, informative, val_exps, net.to_spec(), alpha, settings.decomposition,
                         starts, None if centre is None else centre.flat_parameters())
    except CheckpointError as err:  # names its field
        raise TrainingRequestError(str(err)) from None
    except (DecompositionError, EngineError) as err:
        raise TrainingError(f"train (decomposition): {err}") from None
    net.load_spec(dres.spec)
    net.fix_weights()
    return StageReport(dres.status, dres.wall_time_s, dres.epochs, dres.best_loss), dres.history
