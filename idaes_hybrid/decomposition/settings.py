"""Options of the decomposition training method."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from idaes_hybrid.decomposition.inner import SlackKind


class TrainingMethod(str, enum.Enum):
    """How the network weights are fitted."""

    #: One NLP over all experiments, weights and states together (the default).
    SIMULTANEOUS = "simultaneous"
    #: Outer loop over the weights, one inner NLP per experiment (many batches).
    DECOMPOSITION = "decomposition"


class Optimizer(str, enum.Enum):
    """Outer optimizer over the network weights."""

    #: Trust-region Newton on the full batch with exact reduced Hessians from the
    #: inner KKT systems (scipy ``trust-exact``): as few outer iterations as the
    #: simultaneous solve takes.
    NEWTON = "newton"
    #: Quasi-Newton on the full batch of training experiments (scipy L-BFGS-B).
    LBFGS = "lbfgs"
    #: Adam on mini-batches of experiments.
    ADAM = "adam"


class Schedule(str, enum.Enum):
    """Learning-rate schedule of Adam, per epoch."""

    CONSTANT = "constant"
    #: ``lr * decay ** epoch``.
    EXPONENTIAL = "exponential"
    #: Cosine from ``lr`` to ``lr * decay`` over ``max_epochs``.
    COSINE = "cosine"


class DecompositionStatus(enum.StrEnum):
    """How a decomposition run ended."""

    CONVERGED = "converged"
    #: ``patience`` epochs without improvement (the best weights are kept).
    EARLY_STOPPED = "early-stopped"
    MAX_EPOCHS = "max-epochs"
    #: The outer optimizer stopped for another reason (its message is logged).
    STOPPED = "stopped"


@dataclass
class DecompositionSettings:
    """Options of :func:`~idaes_hybrid.decomposition.outer.decompose`.

    Attributes
    ----------
    optimizer
        ``LBFGS`` (full batch, default), ``NEWTON`` (full batch, exact reduced
        Hessians: fewer but dearer iterations) or ``ADAM`` (mini-batches).
    learning_rate, schedule, decay
        Adam's step size and its schedule (ignored by Newton and L-BFGS).
    batch_size
        Training experiments per Adam step; ``None``: all of them.
    max_epochs
        Passes over the training experiments (Newton, L-BFGS: iterations).
    patience, min_improvement
        Stop when the validation loss has not improved by a relative
        ``min_improvement`` for ``patience`` epochs (training loss without
        validation experiments); the best weights are kept.
    gradient_tol
        Newton and L-BFGS stop when the gradient norm falls below it.
    slack_penalty
        ``rho`` of the slacks on the network equation in training experiments;
        ``None`` keeps the network equation exact (the inner problem is then a
        simulation and the outer loss the simultaneous objective), which fails
        where a poor network drives a state out of its bounds.
    slack_kind
        ``QUADRATIC`` (smooth, for Newton; default) or ``L1`` (the paper's).
    slack_penalty_start, slack_growth
        Penalty continuation of Newton and L-BFGS: start at ``slack_penalty_start``
        (small: the inner trajectories follow the data, the outer problem is
        nearly a regression) and multiply by ``slack_growth`` each time the outer
        problem is solved, until ``slack_penalty``. Adam uses ``slack_penalty``.
    stage_epochs
        At most this many epochs in each continuation stage but the last.
    validate_every
        Simulate the validation experiments every this many epochs in all but the
        last continuation stage (the last one validates every epoch: ``patience``
        counts there only).
    n_workers
        Workers of the local Dask cluster; ``0`` solves in this process.
    scheduler_address
        Address of a running Dask scheduler; overrides ``n_workers``.
    checkpoint_dir
        Directory of the checkpoint written after every epoch; ``None``: none.
    resume
        Continue from the checkpoint in ``checkpoint_dir`` if there is one.
    retries
        Resubmissions of a batch of inner solves that lost a worker.
    inner_options
        Ipopt-style options of the inner solves.
    seed
        Seed of the mini-batch order.
    """

    optimizer: Optimizer = Optimizer.LBFGS
    learning_rate: float = 1e-3
    schedule: Schedule = Schedule.EXPONENTIAL
    decay: float = 0.98
    batch_size: int | None = None
    max_epochs: int = 100
    patience: int = 20
    min_improvement: float = 1e-4
    gradient_tol: float = 1e-6
    slack_penalty: float | None = 1e3
    slack_kind: SlackKind = SlackKind.QUADRATIC
    slack_penalty_start: float = 10.0
    slack_growth: float = 10.0
    stage_epochs: int = 20
    validate_every: int = 1
    n_workers: int = 2
    scheduler_address: str | None = None
    checkpoint_dir: str | None = None
    resume: bool = True
    retries: int = 2
    inner_options: dict = field(default_factory=lambda: {"tol": 1e-9, "max_iter": 300})
    seed: int = 0

    def __post_init__(self) -> None:
        self.optimizer = _enum(Optimizer, self.optimizer, "decomposition.optimizer")
        self.schedule = _enum(Schedule, self.schedule, "decomposition.schedule")
        self.slack_kind = _enum(SlackKind, self.slack_kind, "decomposition.slack_kind")
        for name in ("learning_rate", "decay", "gradient_tol", "slack_penalty_start", "min_improvement"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"decomposition.{name}={getattr(self, name)!r} must be > 0")
        for name, low in (("max_epochs", 1), ("patience", 1), ("validate_every", 1), ("stage_epochs", 1), ("n_workers", 0), ("retries", 0)):
            if int(getattr(self, name)) < low:
                raise ValueError(f"decomposition.{name}={getattr(self, name)!r} must be >= {low}")
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"decomposition.batch_size={self.batch_size!r} must be >= 1")
        if self.slack_penalty is not None and not float(self.slack_penalty) > 0:
            raise ValueError(f"decomposition.slack_penalty={self.slack_penalty!r} must be > 0 (or omitted)")
        if self.optimizer is Optimizer.NEWTON and self.slack_kind is SlackKind.L1 and self.slack_penalty:
            raise ValueError("decomposition.slack_kind: Newton needs a smooth outer loss; use 'quadratic' "
                             "slacks (or optimizer = 'lbfgs' / 'adam' with 'l1')")
        if not float(self.slack_growth) > 1:
            raise ValueError(f"decomposition.slack_growth={self.slack_growth!r} must be > 1")
        if self.optimizer is not Optimizer.ADAM and self.batch_size is not None:
            raise ValueError(f"decomposition.batch_size: {self.optimizer.value} uses the full batch; "
                             "omit batch_size or choose optimizer = 'adam'")

    def penalty_stages(self) -> list[float | None]:
        """The slack penalties of the continuation, last = ``slack_penalty``."""
        if self.slack_penalty is None:
            return [None]
        final = float(self.slack_penalty)
        if self.optimizer is Optimizer.ADAM:
            return [final]
        stages, rho = [], min(float(self.slack_penalty_start), final)
        while rho < final * (1 - 1e-12):
            stages.append(rho)
            rho *= float(self.slack_growth)
        return stages + [final]

    def learning_rate_at(self, epoch: int) -> float:
        """Adam's step size in ``epoch`` (0-based)."""
        import math

        if self.schedule is Schedule.CONSTANT:
            return self.learning_rate
        if self.schedule is Schedule.EXPONENTIAL:
            return self.learning_rate * self.decay ** epoch
        frac = min(epoch / max(self.max_epochs - 1, 1), 1.0)
        return self.learning_rate * (self.decay + (1 - self.decay) * 0.5 * (1 + math.cos(math.pi * frac)))


def _enum(cls, value, field_name: str):
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{field_name}: {value!r} is not one of "
                         f"{', '.join(repr(m.value) for m in cls)}") from None
