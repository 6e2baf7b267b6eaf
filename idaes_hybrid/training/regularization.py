"""The training objective as a Gaussian negative log-likelihood with a prior on the weights,
and the prior's strength chosen by leave-one-experiment-out cross-validation.

The simultaneous training problem minimizes

    sum over observations of r^2 / (2 sd^2)  +  alpha / 2 * ||theta||^2

(``r`` a residual, ``sd`` the noise level of its variable, ``theta`` the network weights):
a maximum a-posteriori fit with the prior ``theta ~ N(0, I / alpha)``. ``alpha`` (the
``regularization`` setting) therefore means the same whatever the number of observations.
The solver sees this objective divided by half the number of training observations ``N``
(the mean squared scaled residual plus ``alpha / N * ||theta||^2``), which leaves the
minimizer unchanged and keeps the objective of order one.

Not given, ``alpha`` is :data:`DEFAULT_PRIOR` (1: a unit Gaussian prior on weights that act
on normalized inputs and outputs). With ``regularization = "cv"``, :func:`cross_validate`
solves the model once per held-out training experiment and candidate ``alpha`` (a line
search on a grid): the held-out experiment's
data leave the objective (its weight is set to zero), so its states are the model's
prediction for it with the fold's weights, in the same collocation model. The candidate
with the smallest held-out mean squared scaled residual wins. Validation experiments are
never part of this choice.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import idaes.logger as idaeslog
import pyomo.environ as pyo

from idaes_hybrid.model.experiment import DataError
from idaes_hybrid.solve.solver import SolveResult
from idaes_hybrid.solve.values import restore_values, unfixed_values

_log = idaeslog.getLogger(__name__)

#: Candidate prior precisions of the cross-validation's line search.
DEFAULT_GRID: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
#: The first solve's prior precision with cross-validation or the evidence, and the choice
#: when neither can run (one training experiment for cross-validation; decomposition,
#: update, several learned terms).
#: Leave-one-experiment-out cross-validation is not the default: on three fed-batch data
#: sets it beat this prior on one and lost on two, at 2-10 times the cost
#: (benchmarks/results/regularization.md).
DEFAULT_PRIOR = 1.0
#: Solver options of the warm-started cross-validation solves (a small barrier start: each
#: begins at the solution of a neighbouring problem).
#: A solve that needs more iterations counts as failed (its candidate is dropped).
WARM_START_OPTIONS: dict = {"mu_init": 1e-4, "max_iter": 100}
#: The value of the ``regularization`` setting that asks for cross-validation.
CROSS_VALIDATE = "cv"
#: The value of the ``regularization`` setting that asks for the evidence's prior precision
#: (:mod:`idaes_hybrid.training.evidence`).
EVIDENCE = "evidence"
#: What an absent ``regularization`` setting means: the evidence's prior precision, from
#: :data:`DEFAULT_PRIOR` (one learned term, simultaneous training, not a model update; else
#: :data:`DEFAULT_PRIOR` itself). With a fixed alpha = 1, the runs without ``noise_sd`` of
#: one fed-batch data set validated 2.5x worse than with it (benchmarks/results/noise.md);
#: the evidence's alpha differs by model (2-4 on fed-batch sets, about 1 on the
#: Leslie-Gower how-to), which no fixed value matches (noise_prior_2_5.md).
DEFAULT_SETTING = EVIDENCE


class RegularizationSource(str, enum.Enum):
    """Where the prior precision of a training comes from."""

    GIVEN = "given"
    CROSS_VALIDATION = "cross-validation"
    EVIDENCE = "evidence"
    DEFAULT = "default"


@dataclass
class RegularizationChoice:
    """The prior precision used, where it comes from and, for cross-validation or the
    evidence, the path.

    A cross-validation ``path`` holds one entry per candidate: ``alpha``, ``score``
    (held-out mean squared scaled residual over all folds; ``inf`` if a fold's solve
    failed) and ``folds`` (the score of each held-out experiment solved: ``inf`` for the one
    that failed; the folds after it are not solved, and not listed); an evidence path one per
    step (:func:`~idaes_hybrid.training.evidence.evidence_path`). ``data_hessian``: the
    evidence's last data Hessian, taken at the solution for ``alpha`` (the Laplace
    covariance's data part; not written to ``metrics.json``).
    """

    alpha: float
    source: RegularizationSource
    path: list[dict] = field(default_factory=list)
    reason: str = ""
    wall_time_s: float = 0.0
    iterations: int = 0
    data_hessian: Any = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready record for ``metrics.json``."""
        out = {"alpha": self.alpha, "source": self.source.value}
        if self.path:
            out["path"] = [{**p, "score": _finite(p["score"]),
                            "folds": {k: _finite(v) for k, v in p["folds"].items()}}
                           if "score" in p else dict(p) for p in self.path]
        if self.reason:
            out["reason"] = self.reason
        return out


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def add_likelihood_objective_parts(m: pyo.Block, experiment_fits: Mapping[str, tuple],
                                   alpha: float = DEFAULT_PRIOR) -> None:
    """Add the fit and prior components the training and cross-validation use.

    Parameters
    ----------
    m
        The training model.
    experiment_fits
        Per training experiment, ``(sum of squared scaled residuals, number of
        observations)``.
    alpha
        The prior precision to start with.

    Adds the mutable parameters ``fit_weight[e]`` (1; 0 holds experiment ``e`` out) and
    ``prior_precision``, the expressions ``experiment_fit[e]`` and ``data_fit`` (the
    weighted mean squared scaled residual) and the constant ``n_observations``.
    """
    names = list(experiment_fits)
    m.n_observations = sum(n for _, n in experiment_fits.values())
    if m.n_observations == 0:
        raise DataError("experiments: no measurements to fit")
    m.fit_weight = pyo.Param(names, initialize=1.0, mutable=True, within=pyo.NonNegativeReals)
    m.prior_precision = pyo.Param(initialize=float(alpha), mutable=True, within=pyo.NonNegativeReals)
    m.experiment_fit = pyo.Expression(names, rule=lambda b, e: experiment_fits[e][0])
    m.data_fit = pyo.Expression(expr=sum(m.fit_weight[e] * m.experiment_fit[e] for e in names)
                                / m.n_observations)


def prior_term(m: pyo.Block, l2):
    """``alpha / N * l2``: the prior in the objective's scale (``l2`` = ``||theta||^2``)."""
    return m.prior_precision / m.n_observations * l2


class _Folds:
    """Leave-one-experiment-out solves of one model; each fold keeps its last solution."""

    def __init__(self, m: pyo.Block, solve: Callable[[str], SolveResult], n_obs: Mapping[str, int],
                 start_fold: Callable[[str], None] | None):
        self.m, self.solve, self.n_obs, self.start_fold = m, solve, dict(n_obs), start_fold
        self.base = unfixed_values(m)  # the start of a fold without a solution of its own
        self.iterations = 0
        self.records: list[dict] = []

    def score(self, alpha: float, starts: dict[str, list]) -> tuple[float, dict[str, list]]:
        """Every fold solved with ``alpha`` from its start; the held-out mean squared scaled
        residual over all folds (``inf`` if a solve failed) and each fold's solution."""
        m, folds, ends = self.m, {}, {}
        m.prior_precision.set_value(alpha)
        for held in m.fit_weight:
            for e in m.fit_weight:
                m.fit_weight[e] = 0.0 if e == held else 1.0
            if held in starts:
                restore_values(starts[held])
            else:
                restore_values(self.base)
                if self.start_fold is not None:
                    self.start_fold(held)
            res = self.solve(f"cross-validation, {held!r} held out, alpha={alpha:g}")
            self.iterations += res.iterations
            if not (res.ok and res.solution_loaded):
                folds[held] = math.inf
                break  # this candidate is out: no need to solve its other folds
            folds[held] = float(pyo.value(m.experiment_fit[held])) / self.n_obs[held]
            ends[held] = unfixed_values(m)
        total = sum(self.n_obs.values())
        score = sum(folds.get(e, math.inf) * n for e, n in self.n_obs.items()) / total
        # the folds after a failed one are not solved: they are left out of the record
        self.records.append({"alpha": alpha, "folds": {e: folds[e] for e in self.n_obs if e in folds},
                             "score": score})
        return score, ends


def cross_validate(m: pyo.Block, solve: Callable[[str], SolveResult],
                   n_obs: Mapping[str, int], grid: tuple[float, ...] | None = None,
                   start_fold: Callable[[str], None] | None = None) -> RegularizationChoice:
    """Choose the prior precision by leave-one-experiment-out cross-validation.

    A line search on ``grid``: the folds are solved with the precision ``m`` was solved
    with, then with its grid neighbours upwards while the held-out score improves, else
    downwards while it improves (the score is assumed unimodal in ``log alpha``). Each
    solve starts from the fold's solution at the previous candidate.

    Parameters
    ----------
    m
        A solved training model with the parts of :func:`add_likelihood_objective_parts`.
    solve
        Solves ``m`` from its current values (the argument names the solve for the log)
        and returns the result without raising on failure.
    n_obs
        Observations per training experiment.
    grid
        Candidate prior precisions (default :data:`DEFAULT_GRID`).
    start_fold
        Called with the held-out experiment's name before its first solve (from the full
        fit): puts that experiment's states on the prediction with the current weights
        (a simulation), so that the fold's solve starts near its solution.

    Returns
    -------
    RegularizationChoice
        The winner and the candidates scored. ``m`` is left at its starting values with
        every experiment's weight 1 and ``prior_precision`` unchanged.
    """
    grid = DEFAULT_GRID if grid is None else grid
    start = time.perf_counter()
    alpha0 = float(pyo.value(m.prior_precision))
    folds = _Folds(m, solve, n_obs, start_fold)
    best, at_best = folds.score(alpha0, {})
    for direction in (sorted(a for a in grid if a > alpha0),
                      sorted((a for a in grid if a < alpha0), reverse=True)):
        improved, starts = False, at_best
        for alpha in direction:
            score, ends = folds.score(alpha, starts)
            if not score < best:
                break
            best, starts, improved = score, ends, True
        if improved:
            break  # unimodal: the other direction can only be worse
    restore_values(folds.base)
    for e in m.fit_weight:
        m.fit_weight[e] = 1.0
    m.prior_precision.set_value(alpha0)
    records = sorted(folds.records, key=lambda r: -r["alpha"])
    wall = time.perf_counter() - start
    finite = [r for r in records if math.isfinite(r["score"])]
    if not finite:
        _log.warning("cross-validation: every fold failed; keeping the default prior precision")
        return RegularizationChoice(alpha0, RegularizationSource.DEFAULT, records,
                                    "every cross-validation solve failed", wall, folds.iterations)
    winner = min(finite, key=lambda r: r["score"])  # min keeps the first (strongest) of ties
    _log.info("cross-validation: " + ", ".join(f"alpha={r['alpha']:g}: {r['score']:.4g}" for r in records)
              + f" -> alpha={winner['alpha']:g} ({wall:.1f} s)")
    return RegularizationChoice(winner["alpha"], RegularizationSource.CROSS_VALIDATION, records,
                                wall_time_s=wall, iterations=folds.iterations)


def choose_regularization(m: pyo.Block, solve: Callable[[str], SolveResult],
                          n_obs: Mapping[str, int], grid: tuple[float, ...] | None = None,
                          start_fold: Callable[[str], None] | None = None) -> RegularizationChoice:
    """:func:`cross_validate`, then the full model re-solved with the winner (when it is not
    the prior precision ``m`` was solved with). A failed re-solve keeps the first solution."""
    tick = time.perf_counter()
    choice = cross_validate(m, solve, n_obs, grid, start_fold)
    alpha0 = float(pyo.value(m.prior_precision))
    if choice.alpha != alpha0:
        base = unfixed_values(m)
        m.prior_precision.set_value(choice.alpha)
        res = solve(f"train with alpha={choice.alpha:g}")
        choice.iterations += res.iterations
        if not (res.ok and res.solution_loaded):
            _log.warning(f"train with alpha={choice.alpha:g}: {res.status.value}; keeping the "
                         f"solution with alpha={alpha0:g}")
            restore_values(base)
            m.prior_precision.set_value(alpha0)
            choice = RegularizationChoice(
                alpha0, RegularizationSource.DEFAULT, choice.path,
                f"the re-solve with alpha={choice.alpha:g} failed ({res.status.value})",
                iterations=choice.iterations)
    choice.wall_time_s = time.perf_counter() - tick
    return choice


def resolve_setting(value: float | str | None, n_train: int, can_cross_validate: bool,
                    why_not: str = "") -> tuple[float, bool, RegularizationChoice | None]:
    """From the ``regularization`` setting (a number, :data:`CROSS_VALIDATE`,
    :data:`EVIDENCE` or ``None``): the first solve's prior precision, whether to choose it
    after that solve (``True`` or :data:`EVIDENCE`; false when ``can_cross_validate`` is
    false, for the reason ``why_not``), and the final choice when it is already known."""
    asked, value = value is not None, DEFAULT_SETTING if value is None else value
    if value == EVIDENCE:
        if not can_cross_validate:
            if asked:
                _log.warning(f"regularization: no evidence ({why_not}); alpha = {DEFAULT_PRIOR:g}")
            return DEFAULT_PRIOR, False, RegularizationChoice(DEFAULT_PRIOR, RegularizationSource.DEFAULT,
                                                              reason=why_not)
        return DEFAULT_PRIOR, EVIDENCE, None
    if value != CROSS_VALIDATE:
        alpha = float(value)
        return alpha, False, RegularizationChoice(alpha, RegularizationSource.GIVEN)
    if n_train < 2:
        why_not = "one training experiment: nothing to hold out"
    if not can_cross_validate or n_train < 2:
        _log.warning(f"regularization: no cross-validation ({why_not}); alpha = {DEFAULT_PRIOR:g}")
        return DEFAULT_PRIOR, False, RegularizationChoice(DEFAULT_PRIOR, RegularizationSource.DEFAULT,
                                                          reason=why_not)
    return DEFAULT_PRIOR, True, None
