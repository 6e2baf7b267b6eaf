"""The simultaneous training workflow: smoother, pre-training, full solve.

:func:`train` is the one entry point: it builds the multi-experiment model,
solves the smoother problem, pre-trains the network on the smoother's profiles
with Keras, solves the full simultaneous problem warm-started from both, and
judges the result on training and validation experiments.
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.decomposition import checkpoint as ckpt
from idaes_hybrid.decomposition.settings import DecompositionSettings, TrainingMethod
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.batched import solve_hybrid
from idaes_hybrid.model.dof import DegreesOfFreedomError, check_degrees_of_freedom, training_degrees_of_freedom
from idaes_hybrid.solve.solver import SolveResult
from idaes_hybrid.solve.idaes_default import ensure_idaes_default_solver
from idaes_hybrid.training.experiment import Experiment, Role
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.predict import pooled_rmse, rmse, simulate
from idaes_hybrid.training.pretrain import (
    PretrainBackend, PretrainResult, normalization_from_data, pretrain_network)
from idaes_hybrid.training.problem import (
    Discretization, build_training_model, experiment_fit_sums, network_io_arrays, noise_levels,
    trajectories)
from idaes_hybrid.training.noise_refit import fit_residual_rms, refit_noise
from idaes_hybrid.training.regularization import (
    WARM_START_OPTIONS, RegularizationChoice, choose_regularization, prior_term, resolve_setting)
from idaes_hybrid.training.smoother import (
    add_smoother_objective, set_smoother_mode)
from idaes_hybrid.training.warm_start import (
    WarmStart, as_warm_start, check_warm_start, initialize_by_simulation, prepare_warm_start,
    regularization_term)
from idaes_hybrid.model.definition import HybridModelDefinition

_log = idaeslog.getLogger(__name__)


class HessianMode(str, enum.Enum):
    """Hessian used by the interior-point solver."""

    EXACT = "exact"
    LIMITED_MEMORY = "limited-memory"


class NlpScaling(str, enum.Enum):
    """How the training solves are scaled for Ipopt."""

    #: Variables scaled by ``1 / max(1, |x0|)`` at the solve's start, rows and objective by
    #: their gradients in the scaled variables
    #: (:func:`~idaes_hybrid.solve.magnitude_scaling.magnitude_scaling`).
    MAGNITUDE = "magnitude"
    #: Ipopt's own gradient-based scaling of rows and objective; variables unscaled.
    GRADIENT = "gradient"


class TrainingError(RuntimeError):
    """A training stage failed; the message names the stage."""


@dataclass
class TrainingSettings:
    """Options of the simultaneous training workflow.

    Attributes
    ----------
    hessian
        Exact or limited-memory (L-BFGS) Hessian in the full solve.
    formulation
        How the network is written into the NLP.
    regularization
        Prior precision ``alpha`` of the weights: the objective is
        ``sum r^2 / (2 sd^2) + alpha / 2 * ||theta||^2`` (see
        :mod:`idaes_hybrid.training.regularization`). ``None`` (the default):
        ``DEFAULT_PRIOR`` = 1. ``"cv"``: chosen by leave-one-experiment-out
        cross-validation, a line search on ``DEFAULT_GRID`` from 1 (1 when that cannot
        run: one training experiment, decomposition, a model update).
    smoother_penalty
        Smoothness weight ``c_s`` of the smoother problem.
    smoother_scale
        Typical magnitude of the learned term, dividing its derivative in the penalty;
        ``None`` (the default): each learned output's own magnitude
        (:func:`~idaes_hybrid.training.smoother.output_scale`: its IDAES scaling factor's
        inverse, else its starting value), so that the penalty does not depend on the
        output's units.
    pretrain_epochs, pretrain_batch_size, pretrain_learning_rate, pretrain_l2
        Pre-training settings (mini-batch Adam fit to the smoother's profiles).
    pretrain_backend
        Library of the pre-training fit: ``NUMPY`` (the default; no TensorFlow
        import) or ``KERAS``; both run the same float64 optimization.
    solver_options
        Ipopt-style options passed to every solve (``tol``, ``max_iter``, ...).
    smoother_options
        Options that override ``solver_options`` in the smoother solve.
    seed
        Seed of weight initialization and pre-training.
    unit_config
        Extra CONFIG options of the hybrid unit in training and prediction (the
        ``[unit]`` table of a run configuration, e.g. ``lyapunov_constraint``).
    method
        ``SIMULTANEOUS`` (one NLP, the default) or ``DECOMPOSITION`` (outer loop over
        the weights, one inner NLP per experiment, on Dask workers; for many batches).
    decomposition
        Options of the decomposition method.
    user_scaling
        Scale the training solve with IDAES scaling factors from the smoother's
        solution (:mod:`idaes_hybrid.model.scaling`) and give them to Ipopt; off by
        default (it does not speed up the bioreactor, see benchmarks/results/scaling.md).
        When on, it replaces ``scaling``.
    scaling
        Scaling of the training solves (train, noise refit, cross-validation):
        ``MAGNITUDE`` scales every variable by its starting magnitude, so that Ipopt's
        steps and stopping test do not depend on the units (energies in J next to weights
        of order 1); ``GRADIENT`` leaves it to Ipopt's row scaling. ``None`` (the
        default): ``MAGNITUDE`` on the flowsheet path (:mod:`~idaes_hybrid.training.flowsheet_train`;
        ``GRADIENT`` in a model update, which starts from a solved model), ``GRADIENT`` for
        registered unit models (their measured results were chosen so).
    """

    hessian: HessianMode = HessianMode.EXACT
    formulation: Formulation = Formulation.BATCHED
    regularization: float | str | None = None
    smoother_penalty: float = 10.0
    smoother_scale: float | None = None
    pretrain_epochs: int = 200
    pretrain_batch_size: int = 32
    pretrain_learning_rate: float = 1e-3
    pretrain_l2: float = 1e-3
    pretrain_backend: PretrainBackend = PretrainBackend.NUMPY
    solver_options: dict = field(default_factory=lambda: {"tol": 1e-6, "max_iter": 1000})
    smoother_options: dict = field(default_factory=lambda: {"max_iter": 3000})
    seed: int = 0
    unit_config: dict = field(default_factory=dict)
    user_scaling: bool = False
    scaling: NlpScaling | None = None
    method: TrainingMethod = TrainingMethod.SIMULTANEOUS
    decomposition: DecompositionSettings = field(default_factory=DecompositionSettings)

    def solve_scaling(self, default: NlpScaling) -> dict[str, bool]:
        """Keyword arguments of :func:`~idaes_hybrid.solve.batched.solve_hybrid` for the
        training solves: IDAES factors (``user_scaling``), else ``scaling`` (``default``
        when unset) decides whether the variables are scaled by their magnitudes."""
        scaling = self.scaling or default
        return {"user_scaling": self.user_scaling,
                "magnitude_scaling": not self.user_scaling and scaling is NlpScaling.MAGNITUDE}


class StageStatus(enum.StrEnum):
    """Status of a training stage that is not a solve."""

    OK = "ok"
    SKIPPED = "skipped"
    #: A decomposition resumed from its checkpoint: smoother and pre-training done before.
    RESUMED = "skipped (resumed)"
    #: A model update: the saved networks replace pre-training.
    WARM_START = "skipped (warm start)"
    #: A model update: the states marched with the saved networks replace the smoother.
    MARCHED = "skipped (warm start: march with the saved networks)"


@dataclass
class StageReport:
    """What one stage did: status (a :class:`StageStatus`, a solver's
    :class:`~idaes_hybrid.solve.solver.SolveStatus` value or a decomposition's
    :class:`~idaes_hybrid.decomposition.settings.DecompositionStatus`), solver iterations,
    wall time."""

    status: str
    wall_time_s: float
    iterations: int | None = None
    objective: float | None = None


@dataclass
class TrainingResult:
    """Everything a training run produced.

    Attributes
    ----------
    spec
        The trained network (weights and normalization).
    status
        Status of the fit: the simultaneous solve's, or the decomposition's
        (``converged``, ``early-stopped``, ``max-epochs``; its ``objective`` is then
        the best validation loss and ``iterations`` its epochs).
    stages
        Reports of ``build``, ``smoother``, ``pretrain`` and ``train``.
    train_rmse, validation_rmse
        RMSE per measured variable pooled over training / validation experiments
        (validation experiments are simulated from initial state and inputs alone).
    trajectories
        Per experiment: time grid, states and learned terms (training: the fitted
        trajectories; validation: the predictions).
    specs
        Flowsheet path: every learned term's trained network, by term name
        (``spec`` is the first).
    term_profiles
        Flowsheet path: every term's smoother profile ``{"inputs", "outputs"}``
        (``smoother_profiles`` is the first term's).
    noise
        Per measured variable, the noise sd the fit divided by and its ``source``
        (``given``, ``estimated`` from the data, or ``data spread``).
    regularization
        The prior precision used (``alpha``), its ``source`` and, when chosen by
        cross-validation, the ``path`` of candidates with their held-out scores.
    model
        Unit path: the trained model as one object (definition, physics, network inputs,
        discretization, the trained network, ``[unit]`` and solver options) for
        :func:`~idaes_hybrid.training.predict.simulate`,
        :func:`~idaes_hybrid.optimize.feed.optimize_feed` and the twin; ``None`` on the
        flowsheet path.
    """

    spec: NetworkSpec
    status: str
    iterations: int | None
    objective: float | None
    wall_time_s: float
    stages: dict[str, StageReport]
    train_rmse: dict[str, float]
    validation_rmse: dict[str, float]
    per_experiment_rmse: dict[str, dict[str, float]]
    trajectories: dict[str, dict[str, np.ndarray]]
    smoother_profiles: dict[str, np.ndarray]
    diagnostics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    specs: dict[str, NetworkSpec] = field(default_factory=dict)
    term_profiles: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    noise: dict[str, dict] = field(default_factory=dict)
    regularization: dict = field(default_factory=dict)
    model: HybridModel | None = field(default=None, repr=False)

    def metrics(self) -> dict:
        """The JSON-ready summary written to ``metrics.json``."""
        return {
            "status": self.status,
            "wall_time_s": self.wall_time_s,
            "iterations": self.iterations,
            "objective": self.objective,
            "stages": {k: asdict(v) for k, v in self.stages.items()},
            "train": {"rmse": self.train_rmse},
            "validation": {"rmse": self.validation_rmse},
            "experiments": self.per_experiment_rmse,
            "diagnostics": self.diagnostics,
            **({"noise_sd": self.noise} if self.noise else {}),
            **({"regularization": self.regularization} if self.regularization else {}),
            **({"decomposition": {"history": self.history}} if self.history else {}),
        }


def _unit_scaling(settings: TrainingSettings) -> dict[str, bool]:
    """The training solves' scaling on a registered unit: Ipopt's row scaling unless the
    settings say otherwise."""
    return settings.solve_scaling(NlpScaling.GRADIENT)


def _solve(m: pyo.Block, stage: str, options: dict, tee: bool, scaling: dict | None = None) -> SolveResult:
    try:  # e.g. an input left free: say so before the solver wanders
        check_degrees_of_freedom(m, training_degrees_of_freedom(m.net), f"{stage} solve", m.net)
    except DegreesOfFreedomError as err:
        raise TrainingError(str(err)) from None
    _log.info(f"{stage}: solving ({sum(1 for _ in m.component_data_objects(pyo.Var, active=True))} variables)")
    result = solve_hybrid(m, m.net, options, tee, **(scaling or {}))
    _log.info(f"{stage}: {result.status.value} after {result.iterations} iterations "
              f"in {result.wall_time_s:.1f} s")
    if not result.ok:
        raise TrainingError(f"{stage} solve did not converge: {result.status.value} "
                            f"({result.termination_message})")
    return result


def _numerical_diagnostics(m: pyo.Block) -> dict:
    """IDAES-style numerical checks of the trained model (residuals, bounds, Jacobian)."""
    from idaes_hybrid.diagnostics.numerical_checks import numerical_checks

    try:
        found = numerical_checks(m, m.net)
    except Exception as err:  # noqa: BLE001 - a report must never fail a finished training
        _log.warning(f"numerical diagnostics skipped: {type(err).__name__}: {err}")
        return {"error": f"{type(err).__name__}: {err}"}
    for line in found.warnings:
        _log.warning(f"diagnostics: {line}")
    return {"warnings": list(found.warnings), "cautions": list(found.cautions),
            "max_residual": found.max_residual}


def train(
    definition: HybridModelDefinition,
    experiments: Sequence[Experiment],
    spec: NetworkSpec,
    disc: Discretization = Discretization(),
    physics: dict[str, float] | None = None,
    network_inputs: Sequence[str] | None = None,
    settings: TrainingSettings | None = None,
    tee: bool = False,
    warm_start: WarmStart | NetworkSpec | None = None,
) -> TrainingResult:
    """Train the network inside the hybrid model by the simultaneous approach.

    Parameters
    ----------
    definition
        The hybrid model (for example ``FED_BATCH_BIOREACTOR``).
    experiments
        Training and validation experiments (by their ``role``).
    spec
        Network sizes, activations and initial weights.
    disc
        Radau discretization.
    physics
        Known physics parameters (defaults from the definition).
    network_inputs
        States fed to the network (defaults from the definition).
    settings
        Training options.
    tee
        Stream solver output to the console.
    warm_start
        Start from a trained network (a model update, see
        :mod:`idaes_hybrid.training.warm_start`): the smoother and pre-training
        are skipped, the saved weights and normalization are loaded, the states
        start from simulations with them and (``WarmStart.anchor``) the
        regularization pulls towards the saved weights. ``spec`` then only gives
        the expected network shape.
    """
    settings = settings or TrainingSettings()
    warm = None if warm_start is None else as_warm_start(warm_start)
    if warm is not None:
        check_warm_start(warm, spec)
    ensure_idaes_default_solver()
    train_exps, val_exps = _split_experiments(definition, experiments)
    options = {**settings.solver_options}
    run = _Run(HybridModel.of(definition, spec, physics=physics, network_inputs=network_inputs,
                              disc=disc, unit_config=settings.unit_config, solver_options=options),
               train_exps)
    start = time.perf_counter()
    m, stages, cross_validating, choice = _build_stage(run, settings, warm)
    decomposed = settings.method is TrainingMethod.DECOMPOSITION
    resuming = decomposed and decomposition_resumes(settings.decomposition, spec, train_exps)
    begun, smoother_profiles = _start_stages(m, run, spec, settings, warm, resuming, options, tee)
    stages.update(begun)
    history, noise = [], noise_levels(train_exps)
    if decomposed:
        stages["train"], history = _train_decomposed(
            m, run, val_exps, settings, warm, starts=None if resuming else starting_values(m, train_exps))
        trained = m.net.to_spec()
    else:
        fitted = _fit_simultaneous(m, run, settings, options, tee, cross_validating, None if warm else noise)
        stages.update(fitted[0])
        choice, noise = fitted[1] or choice, fitted[2] or noise
        trained = m.net.to_spec()
        m.net.fix_weights()
    stages["diagnostics"], diagnostics = _diagnostics_stage(m, decomposed)

    tick = time.perf_counter()
    per_exp, trajs = _judge(m, run, val_exps, trained, decomposed, settings.user_scaling)
    stages["validate"] = StageReport(StageStatus.OK, time.perf_counter() - tick)

    return TrainingResult(
        spec=trained, status=stages["train"].status, iterations=stages["train"].iterations,
        objective=stages["train"].objective,
        wall_time_s=time.perf_counter() - start, stages=stages,
        train_rmse=pooled_rmse(per_exp, train_exps), validation_rmse=pooled_rmse(per_exp, val_exps),
        per_experiment_rmse=per_exp, trajectories=trajs, smoother_profiles=smoother_profiles,
        diagnostics=diagnostics, history=history, noise=noise,
        regularization=choice.to_dict(), model=run.model.replace(spec=trained))


@dataclass
class _Run:
    """What the stages share: the hybrid model (its network not yet trained; the run's
    solver options) and the training experiments."""

    model: HybridModel
    experiments: Sequence[Experiment]


def _build_stage(run: _Run, settings: TrainingSettings, warm: WarmStart | None,
                 ) -> tuple[pyo.ConcreteModel, dict[str, StageReport], bool, RegularizationChoice | None]:
    """Build the training model with its smoother and training objectives; the stage report,
    whether to cross-validate the prior precision, and the choice when already known."""
    tick, model = time.perf_counter(), run.model
    m = build_training_model(model.definition, run.experiments, model.spec, model.discretization,
                             dict(model.physics), model.network_inputs, settings.formulation,
                             unit_config=model.unit_config)
    add_smoother_objective(m, run.experiments, model.definition.learned_names,
                           settings.smoother_penalty, settings.smoother_scale)
    cross_validating, choice = _add_training_objective(m, settings, warm, len(run.experiments))
    _log.info(f"build: {len(run.experiments)} experiments, {len(m.net.kinetics)} network points, "
              f"{model.spec.n_parameters} weights")
    return m, {"build": StageReport(StageStatus.OK, time.perf_counter() - tick)}, cross_validating, choice


def _split_experiments(definition: HybridModelDefinition, experiments: Sequence[Experiment],
                       ) -> tuple[list[Experiment], list[Experiment]]:
    """Every experiment checked against the model; the training and validation ones."""
    for i, exp in enumerate(experiments):
        exp.validate(definition.state_names, definition.input_names, f"experiments[{i}] ({exp.name!r})")
    train_exps = [e for e in experiments if e.role is Role.TRAIN]
    if not train_exps:
        raise TrainingError("experiments: at least one experiment must have role 'train'")
    return train_exps, [e for e in experiments if e.role is Role.VALIDATION]


def _add_training_objective(m: pyo.Block, settings: TrainingSettings, warm: WarmStart | None,
                            n_train: int) -> tuple[bool, RegularizationChoice | None]:
    """The (inactive until stage 3) likelihood + prior objective; whether to cross-validate
    the prior precision, and the choice when it is already known."""
    decomposed = settings.method is TrainingMethod.DECOMPOSITION
    why_not = "decomposition" if decomposed else "model update" if warm is not None else ""
    alpha, cross_validating, choice = resolve_setting(settings.regularization, n_train, not why_not, why_not)
    m.prior_precision.set_value(alpha)
    m.training_objective = pyo.Objective(expr=m.data_fit + prior_term(m, regularization_term(m.net, warm)))
    return cross_validating, choice


def _fit_simultaneous(m: pyo.Block, run: _Run, settings: TrainingSettings, options: dict, tee: bool,
                      cross_validating: bool, noise: dict | None = None,
                      ) -> tuple[dict[str, StageReport], RegularizationChoice | None, dict]:
    """Stage 3: the weights free, one simultaneous solve; given the ``noise`` levels the fit
    used, those estimated checked against the fit (:func:`check_noise`); then, if asked,
    the prior precision cross-validated (and the model re-solved with it). Returns the stage
    reports, the regularization choice and the noise levels in force."""
    m.net.unfix_weights()
    if settings.user_scaling:  # nominal values from the smoother's solution
        from idaes_hybrid.model.scaling import scale_hybrid_model

        scale_hybrid_model(m, m.net)
    opts = {**options, "hessian_approximation": settings.hessian.value}
    res = _solve(m, "train", opts, tee, scaling=_unit_scaling(settings))
    stages = {"train": StageReport(res.status.value, res.wall_time_s, res.iterations, res.objective)}
    if noise is not None:
        noise = check_noise(m, noise, fit_residual_rms(m, run.experiments),
                            lambda sc: experiment_fit_sums(m, run.experiments, sc),
                            lambda: solve_hybrid(m, m.net, {**opts, **WARM_START_OPTIONS}, tee,
                                                 **_unit_scaling(settings)), stages)
    if not cross_validating:
        return stages, None, noise
    choice, stages["regularization"] = _choose_regularization(m, run, opts, tee, _unit_scaling(settings))
    return stages, choice, noise


def check_noise(m: pyo.Block, levels: dict, fit_rms: dict, fit_sums, solve, stages: dict) -> dict:
    """Estimated noise levels against the solved model's residual RMS; one warm refit where
    they are off (:func:`~idaes_hybrid.training.noise_refit.refit_noise`, recorded as stage
    ``noise_refit`` in ``stages``). Returns the levels in force (both training paths)."""
    levels, refit = refit_noise(m, levels, fit_rms, fit_sums, solve)
    if refit is not None:
        stages["noise_refit"] = StageReport(refit.status.value, refit.wall_time_s, refit.iterations,
                                            refit.objective)
    return levels


def _diagnostics_stage(m: pyo.Block, decomposed: bool) -> tuple[StageReport, dict]:
    """IDAES-style numerical checks of the trained model, with their stage report."""
    tick = time.perf_counter()
    if decomposed:  # m holds the smoother's states, not a solution with the trained weights
        diagnostics = {"skipped": "decomposition: the inner problems are solved on the workers"}
    else:
        diagnostics = _numerical_diagnostics(m)
    status = StageStatus.OK if not ({"error", "skipped"} & set(diagnostics)) else StageStatus.SKIPPED
    return StageReport(status, time.perf_counter() - tick), diagnostics


def pretrain_on_profiles(spec: NetworkSpec, v: np.ndarray, z: np.ndarray,
                         settings: TrainingSettings) -> PretrainResult:
    """Stage 2 for one network: normalization from the smoother's profiles ``(v, z)``,
    then a fit to them from ``spec``'s weights with ``settings``' pre-training options."""
    start = NetworkSpec(sizes=spec.sizes, activations=spec.activations,
                        weights=[w.copy() for w in spec.weights],
                        biases=[b.copy() for b in spec.biases], **normalization_from_data(v, z))
    return pretrain_network(start, v, z, epochs=settings.pretrain_epochs,
                            batch_size=settings.pretrain_batch_size,
                            learning_rate=settings.pretrain_learning_rate,
                            l2=settings.pretrain_l2, seed=settings.seed,
                            backend=settings.pretrain_backend)


def _start_stages(m: pyo.Block, run: _Run, spec: NetworkSpec, settings: TrainingSettings,
                  warm: WarmStart | None, resuming: bool, options: dict,
                  tee: bool) -> tuple[dict[str, StageReport], dict[str, np.ndarray]]:
    """Stages 1 and 2 (smoother, pre-training), or what replaces them (a resumed
    decomposition, a model update); returns their reports and the smoother's profiles.
    The network is left loaded and its points initialized for stage 3."""
    if resuming:  # the checkpoint holds weights and normalization: stages 1 and 2 are done
        set_smoother_mode(m, on=False)
        return {"smoother": StageReport(StageStatus.RESUMED, 0.0),
                "pretrain": StageReport(StageStatus.RESUMED, 0.0)}, {}
    if warm is not None:  # a model update: the saved network replaces stages 1 and 2
        wall, _ = prepare_warm_start(m, warm, run.model, run.experiments)
        set_smoother_mode(m, on=False)
        return {"smoother": StageReport(StageStatus.SKIPPED, 0.0), "pretrain": StageReport(StageStatus.SKIPPED, 0.0),
                "warm_start": StageReport(StageStatus.OK, wall)}, {}
    set_smoother_mode(m, on=True)  # stage 1: smoother
    res = _solve(m, "smoother", {**options, "hessian_approximation": "exact",
                                  **settings.smoother_options}, tee)
    stages = {"smoother": StageReport(res.status.value, res.wall_time_s, res.iterations, res.objective)}
    v, z = network_io_arrays(m)
    tick = time.perf_counter()  # stage 2: normalization + pre-training
    pre = pretrain_on_profiles(spec, v, z, settings)
    stages["pretrain"] = StageReport(StageStatus.OK, time.perf_counter() - tick, pre.epochs, pre.loss)
    m.net.load_spec(pre.spec)  # stage 3 starts from the pre-trained network
    set_smoother_mode(m, on=False)
    m.net.initialize_points(outputs=False)
    return stages, {"inputs": v, "outputs": z}


def _judge(m: pyo.Block, run: _Run, val_exps: Sequence[Experiment], trained: NetworkSpec,
           decomposed: bool, user_scaling: bool) -> tuple[dict, dict]:
    """RMSE and trajectories per experiment: the training fit (the decomposition's:
    simulated, ``m`` holds the smoother's states) and validation by simulation."""
    per_exp, trajs = {}, {}
    for exp in ([] if decomposed else run.experiments):
        blk = m.experiment[exp.name]
        per_exp[exp.name] = rmse(blk, exp)
        trajs[exp.name] = trajectories(blk, run.model.definition)
    for exp in ([*run.experiments, *val_exps] if decomposed else val_exps):
        traj = simulate(run.model.replace(spec=trained), exp, user_scaling=user_scaling)
        per_exp[exp.name] = rmse(traj.model.experiment[exp.name], exp)
        trajs[exp.name] = traj.trajectories()
    return per_exp, trajs


def _choose_regularization(m: pyo.Block, run: _Run, options: dict, tee: bool,
                           scaling: dict) -> tuple[RegularizationChoice, StageReport]:
    """Cross-validate the prior precision on the solved model ``m`` (see
    :func:`~idaes_hybrid.training.regularization.choose_regularization`)."""
    def solve(label: str) -> SolveResult:
        _log.info(f"{label}: solving")
        return solve_hybrid(m, m.net, {**options, **WARM_START_OPTIONS}, tee, **scaling)

    def start_fold(held: str) -> None:  # the held-out experiment simulated with the weights
        exp = next(e for e in run.experiments if e.name == held)
        initialize_by_simulation(m, run.model.replace(spec=m.net.to_spec(), solver_options=options),
                                 [exp])
        m.net.initialize_points(outputs=False)

    choice = choose_regularization(m, solve, {e.name: len(e.observations()[0]) for e in run.experiments},
                                   start_fold=start_fold)
    return choice, StageReport(choice.source.value, choice.wall_time_s, choice.iterations)


def decomposition_resumes(s: DecompositionSettings, spec: NetworkSpec, train_exps: Sequence[Experiment]) -> bool:
    """Whether a decomposition run resumes (raises if the checkpoint is another run's)."""
    if not (s.checkpoint_dir and s.resume):
        return False
    expected = ckpt.fingerprint(spec, [e.name for e in train_exps], s.optimizer.value)
    try:
        return ckpt.load(s.checkpoint_dir, expected) is not None
    except ckpt.CheckpointError as err:
        raise TrainingError(str(err)) from None


def starting_values(m: pyo.Block, experiments: Sequence[Experiment]) -> dict[str, dict[str, float]]:
    """Every experiment's variable values (the smoother's solution) by full name."""
    return {e.name: {v.name: v.value for v in m.experiment[e.name].component_data_objects(pyo.Var)
                     if v.value is not None and not v.fixed} for e in experiments}


def _train_decomposed(m: pyo.Block, run: _Run, val_exps: Sequence[Experiment],
                      settings: TrainingSettings, warm: WarmStart | None, starts):
    """Stage 3 by the decomposition: the best weights end up in ``m.net`` (fixed)."""
    from idaes_hybrid.decomposition.engine import EngineError
    from idaes_hybrid.decomposition.outer import DecompositionError, run_decomposition

    anchor = None if warm is None else warm.centre()
    try:
        alpha = 2.0 * float(pyo.value(m.prior_precision)) / m.n_observations
        dres = run_decomposition(run.model.replace(spec=m.net.to_spec()), run.experiments, val_exps,
                                 alpha, settings.decomposition, starts=starts, anchor=anchor)
    except (DecompositionError, ckpt.CheckpointError, EngineError) as err:
        raise TrainingError(f"train (decomposition): {err}") from None
    m.net.load_spec(dres.spec)
    m.net.fix_weights()
    stage = StageReport(dres.status, dres.wall_time_s, dres.epochs, dres.best_loss)
    return stage, dres.history
