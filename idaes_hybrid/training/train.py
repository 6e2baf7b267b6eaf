"""What every training run shares: its settings, stage reports and result.

:class:`TrainingSettings` (the ``[training]`` table), :class:`TrainingResult` and the
stage helpers used by the one training path,
:func:`~idaes_hybrid.training.flowsheet_train.train_flowsheet`. A one-unit model
(:class:`~idaes_hybrid.model.definition.HybridModelDefinition`) trains through it with
:func:`~idaes_hybrid.training.unit_train.train`.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.solve.solver import SolveResult
from idaes_hybrid.solve.values import named_values
from idaes_hybrid.decomposition import checkpoint as ckpt
from idaes_hybrid.decomposition.settings import DecompositionSettings, TrainingMethod
from idaes_hybrid.nn.formulations import Formulation
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.batched import BLOCK_DIAGONAL as BLOCK_DIAGONAL_HESSIAN
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.training.hybrid_model import HybridModel
from idaes_hybrid.training.pretrain import (
    PretrainBackend, PretrainResult, normalization_from_data, pretrain_network)
from idaes_hybrid.training.noise_refit import refit_noise

_log = idaeslog.getLogger(__name__)


class HessianMode(str, enum.Enum):
    """Hessian used by the interior-point solver; ``AUTO``: limited-memory above
    :data:`EXACT_HESSIAN_MAX_WEIGHTS` network weights, else block-diagonal when the
    networks' weight-input coupling is large (:data:`BLOCK_DIAGONAL_MIN_COUPLING`), else
    exact (:func:`resolve_hessian`).

    ``BLOCK_DIAGONAL`` is the exact Hessian without the network's weight-input coupling
    (the physics and the data fit keep their exact second derivatives, the network keeps
    its exact weight block and each point's input block): the KKT matrix no longer
    couples every collocation point's states to every weight, so each factorization is
    much cheaper; the NLP is the same, the steps are approximate Newton steps, which can
    end at another local optimum of a non-convex fit.
    """

    AUTO = "auto"
    EXACT = "exact"
    BLOCK_DIAGONAL = BLOCK_DIAGONAL_HESSIAN
    LIMITED_MEMORY = "limited-memory"


#: Largest number of network weights (all terms) trained with the exact Hessian under
#: ``HessianMode.AUTO``. The exact Hessian's weight block is dense: its evaluation costs
#: points x weights^2 and its KKT factorization weights^2 memory. Measured on the
#: bioreactor (183 network points, 3 batches): 4-40-40-1 (1,881 weights) exact 67 s and
#: 1.7 GB, limited-memory 35 s and 0.5 GB, same validation RMSE; 4-80-80-1 (6,961) exact 2
#: iterations in 300 s and 12 GB, limited-memory optimal in 159 s and 3.0 GB; 4-20-20-1
#: (541) exact 15 s, limited-memory ended at a worse local optimum (train RMSE X 0.092
#: against 0.053).
EXACT_HESSIAN_MAX_WEIGHTS = 4000
#: Smallest weight-input coupling (network points x weights^2, summed over the networks)
#: for which ``HessianMode.AUTO`` chooses the block-diagonal Hessian: the coupling is about
#: the flops each exact-Hessian KKT factorization spends on it (1e7: ~0.01 GFlop, beyond
#: which it dominates an iteration). Measured: bioreactor batches with 4-20-20-1 (61 points
#: per batch, 1.8e7 each): 3 batches train 2.4-4x faster per iteration (0.42 -> 0.10 s),
#: 8 batches 36.4 -> 17.4 s, 16 batches 391 s and 210 iterations -> 34 s and 49
#: (``benchmarks/results/growth_2026-12-03``). Block-diagonal steps can end at another local
#: optimum than exact ones, better or worse (36 fresh pairs: 35 the same,
#: ``benchmarks/results/hessian_paired_fresh.md``); the noise refit restarts from the train
#: solve's start, so an estimated noise level no longer carries a first fit's optimum into
#: the result (``training.noise_refit``). Below 1e7 (networks of a few dozen weights) the
#: exact Hessian costs a factorization little.
BLOCK_DIAGONAL_MIN_COUPLING = 1e7
#: Iterations the block-diagonal train solve gets before the exact Hessian is tried
#: from the same start (a guard: it has needed up to ~3x the exact solve's iterations).
BLOCK_DIAGONAL_MAX_ITER = 200
#: Iterations a warm-started exact train solve (a model update, an ensemble member) gets
#: before the limited-memory Hessian is tried from the same start. Measured 2026-12-04 on
#: a 4-10-10-1 network (Tessier data, 15 samples per batch): members started at the base
#: solution crept along a flat valley with exact steps (1000 iterations, 138 s, not
#: converged) where the limited-memory Hessian converged in 84 iterations, 2.9 s.
WARM_EXACT_MAX_ITER = 200


def resolve_hessian(mode: HessianMode, n_weights: int, coupling: float = 0.0) -> HessianMode:
    """The Hessian ``mode`` asks for; ``AUTO`` decided by the number of weights and the
    weight-input ``coupling`` (network points x weights^2, summed over the networks)."""
    if mode is not HessianMode.AUTO:
        return mode
    if n_weights > EXACT_HESSIAN_MAX_WEIGHTS:
        return HessianMode.LIMITED_MEMORY
    return HessianMode.BLOCK_DIAGONAL if coupling >= BLOCK_DIAGONAL_MIN_COUPLING else HessianMode.EXACT


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


class TrainingRequestError(TrainingError):
    """The training cannot start as configured (a checkpoint of another run, an unreachable
    Dask scheduler); the message names the field. Bad input, as a config error is."""


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
        a warm start from trained networks, a model update or an ensemble member, scales by
        magnitudes only where some variable is 1000 or larger), ``GRADIENT`` for registered
        unit models (their measured results were chosen so).
    solver_defaults
        Ipopt options of the training solves (smoother, train, noise refit,
        cross-validation) under ``solver_options``; ``None``: the flowsheet path's
        (:data:`~idaes_hybrid.training.flowsheet_train.TRAINING_OPTIONS`). One-unit models
        set Ipopt's own defaults (:func:`~idaes_hybrid.training.unit_train.unit_settings`),
        which their shipped results were measured with. Not a ``[training]`` key.
    """

    hessian: HessianMode = HessianMode.AUTO
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
    solver_defaults: dict | None = None

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
    #: Validation: some experiments could not be simulated with the trained networks.
    FAILED_EXPERIMENTS = "failed for some experiments"


@dataclass
class StageReport:
    """What one stage did: status (a :class:`StageStatus`, a solver's
    :class:`~idaes_hybrid.solve.solver.SolveStatus` value or a decomposition's
    :class:`~idaes_hybrid.decomposition.settings.DecompositionStatus`), solver iterations,
    wall time; for the train solve, the Hessian of the attempt that converged."""

    status: str
    wall_time_s: float
    iterations: int | None = None
    objective: float | None = None
    hessian: str | None = None


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
    term_labels
        Flowsheet path: every term's axis labels ``{"inputs", "outputs"}`` (variable names
        with units).
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
    solved_values
        Each training experiment's free variable values at the trained point, by full
        name, when asked for (``keep_values``): where a re-solve with the trained weights
        (the Laplace covariance, ensemble members) starts. Empty otherwise.
    data_hessian
        The data Hessian the evidence took at the trained weights (the Laplace covariance's
        data part, with the training's own noise levels), or ``None``.
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
    term_labels: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    noise: dict[str, dict] = field(default_factory=dict)
    regularization: dict = field(default_factory=dict)
    model: HybridModel | None = field(default=None, repr=False)
    solved_values: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    data_hessian: np.ndarray | None = field(default=None, repr=False)

    def metrics(self) -> dict:
        """The JSON-ready summary written to ``metrics.json``."""
        return {
            "status": self.status,
            "wall_time_s": self.wall_time_s,
            "iterations": self.iterations,
            "objective": self.objective,
            "stages": {k: {f: x for f, x in asdict(v).items() if f != "hessian" or x is not None}
                       for k, v in self.stages.items()},
            "train": {"rmse": self.train_rmse},
            "validation": {"rmse": self.validation_rmse},
            "experiments": self.per_experiment_rmse,
            "diagnostics": self.diagnostics,
            **({"noise_sd": self.noise} if self.noise else {}),
            **({"regularization": self.regularization} if self.regularization else {}),
            **({"decomposition": {"history": self.history}} if self.history else {}),
        }


def check_noise(m: pyo.Block, levels: dict, fit_rms: Callable[[], dict], fit_sums, solve,
                stages: dict, restart: Callable[[], SolveResult | None] | None = None) -> dict:
    """Estimated noise levels against the solved model's residual RMS (``fit_rms()``); one
    refit where they are off, by ``restart`` (from the train solve's start) if given, else
    (or if it fails) by the warm ``solve`` (:func:`~idaes_hybrid.training.noise_refit.refit_noise`,
    recorded as stage ``noise_refit`` in ``stages``). Levels that came from the data's spread
    (too few data to estimate them; a warning) move to the fit's residual RMS in one more
    refit (the evidence, when it chooses the prior precision, re-estimates them further).
    Returns the levels in force (both training paths)."""
    levels, refit = refit_noise(m, levels, fit_rms(), fit_sums, solve, restart=restart)
    reports = [refit] if refit is not None else []
    spread = [k for k, v in levels.items() if v.get("source") == "data spread"]
    if spread:
        _log.warning(f"noise of {', '.join(spread)}: too few samples to estimate it from the data; "
                     "the fit starts from the spread of the values and follows its residuals "
                     "(give noise_sd if you know it)")
        levels, refit = refit_noise(m, levels, fit_rms(), fit_sums, solve, spread=True, restart=restart)
        reports += [refit] if refit is not None else []
    if reports:
        stages["noise_refit"] = StageReport(reports[-1].status.value, sum(r.wall_time_s for r in reports),
                                            sum(r.iterations for r in reports), reports[-1].objective)
    return levels


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


def decomposition_resumes(s: DecompositionSettings, spec: NetworkSpec, train_exps: Sequence[Experiment]) -> bool:
    """Whether a decomposition run resumes (raises if the checkpoint is another run's)."""
    if not (s.checkpoint_dir and s.resume):
        return False
    expected = ckpt.fingerprint(spec, [e.name for e in train_exps], s.optimizer.value)
    try:
        return ckpt.load(s.checkpoint_dir, expected) is not None
    except ckpt.CheckpointError as err:
        raise TrainingRequestError(str(err)) from None


def check_scheduler(s: DecompositionSettings, timeout: float = 10.0) -> None:
    """Before any work: the configured Dask scheduler (``scheduler_address``) answers.

    Raises
    ------
    TrainingRequestError
        If no TCP connection to it opens within ``timeout`` seconds.
    """
    from idaes_hybrid.decomposition.engine import scheduler_unreachable

    if s.scheduler_address and (why := scheduler_unreachable(s.scheduler_address, timeout)):
        raise TrainingRequestError(f"decomposition.scheduler_address: cannot reach Dask scheduler "
                                   f"{s.scheduler_address!r}: {why}")


def starting_values(m: pyo.Block, experiments: Sequence[Experiment]) -> dict[str, dict[str, float]]:
    """Every experiment's variable values (the smoother's, or the trained, solution) by full name."""
    return {e.name: named_values(m.experiment[e.name]) for e in experiments}

