"""Laplace prediction bands: the weights' posterior at the trained weights, propagated
to the predicted trajectories by implicit differentiation.

The training objective is ``(1/N) sum r^2/sd^2 + (alpha/N) ||theta||^2``, that is
``(2/N) [NLL + alpha/2 ||theta||^2]`` with ``NLL = sum r^2 / (2 sd^2)``. One
experiment's inner value (:class:`~idaes_hybrid.decomposition.inner.InnerProblem`,
exact network equation) is ``V_e = (1/N_e) sum_e r^2/sd^2``, so ``NLL_e = (N_e/2) V_e``
and the posterior precision of the weights is

.. math::

    P = \\sum_e \\frac{N_e}{2} \\nabla^2_\\theta V_e + \\alpha I, \\qquad \\Sigma = P^{-1}.

If ``P`` is not positive definite (a saddle or an unconverged training), its
eigenvalues below ``alpha`` (or below ``1e-10`` of the largest if ``alpha = 0``) are
raised to that floor (eigenvalue clipping) and a warning is logged.

A prediction ``y(t)`` of a simulated experiment has the sensitivity
``g_t = dy(t)/dtheta`` (:meth:`~idaes_hybrid.decomposition.inner.InnerProblem.state_sensitivity`);
its variance is ``g_t^T Sigma g_t`` and the band ``y +- z_{(1+level)/2} sd`` (parameter
uncertainty only: the band is meant to cover the noise-free truth).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import idaes.logger as idaeslog

from idaes_hybrid.decomposition.inner import InnerProblem, InnerSource
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.evidence import HESSIAN_OPTIONS, EvidenceError, data_hessian
from idaes_hybrid.training.problem import interpolation_weights, observation_scales
from idaes_hybrid.training.simulation import series_bounds
from idaes_hybrid.uncertainty.settings import band_quantile

_log = idaeslog.getLogger(__name__)

#: Tight inner solves: the Hessian and the sensitivities are taken at the solution.
LAPLACE_OPTIONS = HESSIAN_OPTIONS


class UncertaintyError(RuntimeError):
    """Bands could not be computed; the message names the experiment."""


@dataclass
class LaplaceCovariance:
    """The Laplace posterior of the flat network weights.

    A Gaussian ``N(theta, Sigma)`` with ``Sigma = P^-1``, ``P`` the experiments' reduced
    Hessians plus the prior precision (:func:`laplace_covariance`).

    Attributes
    ----------
    theta
        The trained weights (the posterior mean).
    covariance, precision
        ``Sigma`` and ``P`` (after clipping, if any).
    raw_precision
        ``P`` before clipping (``None`` when read from a file).
    clipped
        Number of eigenvalues of ``P`` raised to the floor.
    alpha
        Prior precision.
    wall_time_s
        Time taken.
    """

    theta: np.ndarray
    covariance: np.ndarray
    precision: np.ndarray
    clipped: int = 0
    alpha: float = 0.0
    wall_time_s: float = 0.0
    raw_precision: np.ndarray | None = None

    def to_dict(self) -> dict:
        """JSON-ready (the covariance as nested lists)."""
        return {"method": "laplace", "theta": self.theta.tolist(), "covariance": self.covariance.tolist(),
                "clipped_eigenvalues": int(self.clipped), "alpha": float(self.alpha)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LaplaceCovariance":
        """Read :meth:`to_dict`'s output."""
        cov = np.asarray(d["covariance"], dtype=float)
        return cls(theta=np.asarray(d["theta"], dtype=float), covariance=cov,
                   precision=np.linalg.pinv(cov), clipped=int(d.get("clipped_eigenvalues", 0)),
                   alpha=float(d.get("alpha", 0.0)))


def _make(make_spec: Callable[..., InnerSource] | InnerSource, experiment, network: NetworkSpec,
          scales: Mapping[str, float] | None, start: Mapping[str, float] | None = None) -> InnerSource:
    """A spec from a factory (``make_spec(experiment=, network=, ...)``), or the spec itself;
    ``start``: the experiment's variable values to start from instead of a march."""
    if hasattr(make_spec, "build_model"):
        return make_spec
    extra = {"start": dict(start)} if start else {}
    return make_spec(experiment=experiment, network=network, scales=scales, slack_penalty=None,
                     options=dict(LAPLACE_OPTIONS), **extra)


def clip_to_positive_definite(precision: np.ndarray, floor: float) -> tuple[np.ndarray, int]:
    """The symmetric ``precision`` with eigenvalues below ``floor`` raised to it.

    Returns the matrix and how many eigenvalues were raised."""
    sym = 0.5 * (precision + precision.T)
    vals, vecs = np.linalg.eigh(sym)
    low = vals < floor - 1e-9 * float(np.abs(vals).max())  # rounding below the floor is not counted
    if not low.any():
        return sym, 0
    vals = np.where(low, floor, vals)
    return (vecs * vals) @ vecs.T, int(low.sum())


def laplace_covariance(make_spec: Callable[..., InnerSource], train_experiments: Sequence,
                       network_spec: NetworkSpec, alpha: float,
                       scales: Mapping[str, float] | None = None,
                       starts: Mapping[str, Mapping[str, float]] | None = None,
                       hessian: np.ndarray | None = None) -> LaplaceCovariance:
    """The Laplace posterior covariance of the trained weights.

    Parameters
    ----------
    make_spec
        Spec factory (``functools.partial`` of
        :class:`~idaes_hybrid.decomposition.flowsheet_inner.FlowsheetInnerSpec` on the
        flowsheet, a one-unit model's included), called
        with ``experiment``, ``network``, ``scales``, ``slack_penalty`` and ``options``.
    train_experiments
        The training experiments.
    network_spec
        The trained network (``theta`` = its flat parameters).
    alpha
        Prior precision (``result.regularization["alpha"]``).
    scales
        Fit weights (default: those of the training, from ``train_experiments``).
    starts
        Per experiment, its variable values at the trained point
        (``TrainingResult.solved_values``): each inner problem starts there, solved
        already, instead of being marched with the trained weights.
    hessian
        The data Hessian at the trained weights, when the training computed it already
        (``TrainingResult.data_hessian``): no inner problem is solved.

    Returns
    -------
    LaplaceCovariance

    Raises
    ------
    UncertaintyError
        If an experiment's inner solve fails.
    """
    tick = time.perf_counter()
    theta = network_spec.flat_parameters()
    scales = dict(scales) if scales is not None else observation_scales(list(train_experiments))
    try:
        precision = float(alpha) * np.eye(theta.size) + (hessian if hessian is not None else data_hessian(
            make_spec, train_experiments, network_spec, scales, starts))
    except EvidenceError as err:
        raise UncertaintyError(f"{err}; no Laplace covariance") from None
    raw = precision.copy()
    vals = np.linalg.eigvalsh(0.5 * (precision + precision.T))
    floor = float(alpha) if alpha > 0 else 1e-10 * max(float(vals.max()), 1e-300)
    precision, clipped = clip_to_positive_definite(precision, floor)
    if clipped:
        _log.warning(f"uncertainty: the posterior precision has {clipped} of {theta.size} eigenvalues "
                     f"below {floor:.3g} (smallest {vals.min():.3g}); raised to it (eigenvalue clipping)")
    covariance = np.linalg.inv(precision)
    covariance = 0.5 * (covariance + covariance.T)
    _log.info(f"uncertainty: Laplace covariance of {theta.size} weights from {len(train_experiments)} "
              f"experiments in {time.perf_counter() - tick:.1f} s")
    return LaplaceCovariance(theta, covariance, precision, clipped, float(alpha), time.perf_counter() - tick,
                             raw)


@dataclass
class PredictionBands:
    """Predicted trajectories of one experiment with their parameter-uncertainty bands.

    Attributes
    ----------
    experiment
        The experiment's name.
    level
        Band probability; ``z`` its quantile ``z_{(1+level)/2}``: normal, or Student's t
        with ``dof`` degrees of freedom when ``sd`` is a sample sd (an ensemble's).
    time
        The collocation grid.
    mean, sd
        Per variable: prediction and its standard deviation on ``time``.
    observed
        Per measured variable: ``(times, prediction, sd)`` at its measurement times.
    dof
        Degrees of freedom of a sample ``sd`` (``members - 1``); ``None``: ``sd`` is exact.
    bounds
        Per variable: the model's ``(lower, upper)`` bounds (``None``: unbounded). The band's
        edges stop there: a concentration's lower edge at 0, not below.
    """

    experiment: str
    level: float
    time: np.ndarray
    mean: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    observed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    dof: int | None = None
    bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def z(self) -> float:
        return band_quantile(self.level, self.dof)

    @property
    def lower(self) -> dict[str, np.ndarray]:
        return {k: self._clip(k, self.mean[k] - self.z * self.sd[k]) for k in self.mean}

    @property
    def upper(self) -> dict[str, np.ndarray]:
        return {k: self._clip(k, self.mean[k] + self.z * self.sd[k]) for k in self.mean}

    def _clip(self, name: str, edge: np.ndarray) -> np.ndarray:
        lower, upper = self.bounds.get(name, (None, None))
        return np.clip(edge, lower, upper) if lower is not None or upper is not None else edge


def _sensitivity_rows(problem: InnerProblem, spec: InnerSource, variable: str,
                      times: Sequence[float], x: np.ndarray, dx: np.ndarray,
                      steps: Sequence[float] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Value and ``d/dtheta`` of ``variable`` at ``times`` (interpolated on the grid; an
    element starting at one of the input ``steps`` without its pre-step boundary)."""
    column = {id(v): i for i, v in enumerate(problem.variables)}
    time_set, ref = spec.time_variable(problem.model, variable)
    values, grads = np.zeros(len(times)), np.zeros((len(times), dx.shape[1]))
    for k, t_obs in enumerate(times):
        for t, w in interpolation_weights(time_set, float(t_obs), steps):
            var = ref[t]
            i = column.get(id(var))
            values[k] += w * (x[i] if i is not None else float(var.value))
            if i is not None:
                grads[k] += w * dx[i]
    return values, grads


def _sd(grads: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(np.einsum("kt,ts,ks->k", grads, covariance, grads), 0.0))


def prediction_bands(make_spec: Callable[..., InnerSource] | InnerSource, experiment,
                     network_spec: NetworkSpec, covariance: np.ndarray, level: float = 0.9,
                     variables: Sequence[str] | None = None) -> PredictionBands:
    """Simulate ``experiment`` with the trained weights and propagate ``covariance``.

    Parameters
    ----------
    make_spec
        Spec factory of the path (as for :func:`laplace_covariance`) or a spec.
    experiment
        The experiment to predict (unit or flowsheet experiment).
    network_spec
        The trained network.
    covariance
        Covariance of its flat weights.
    level
        Band probability.
    variables
        Variables to report (default: the measured ones).

    Returns
    -------
    PredictionBands

    Raises
    ------
    UncertaintyError
        If the simulation fails.
    """
    spec = _make(make_spec, experiment, network_spec, None)
    theta = network_spec.flat_parameters()
    problem = InnerProblem(spec)
    res = problem.simulate(theta, gradient=False)  # as predict's: bounds lifted if infeasible
    if not res.ok:
        raise UncertaintyError(f"experiments[{experiment.name!r}]: the simulation with the trained "
                               f"weights failed ({res.status.value}); no bands")
    x = res.warm.x[: len(problem.variables)]
    dx = problem.state_sensitivity(res, theta)
    names = list(variables) if variables is not None else list(experiment.measured_variables)
    time_set, _ = spec.time_variable(problem.model, names[0])
    grid = np.array(list(time_set), dtype=float)
    bands = PredictionBands(experiment.name, float(level), grid, {}, {})
    cov = np.asarray(covariance, dtype=float)
    bands.bounds = {name: series_bounds(spec.time_variable(problem.model, name)[1][t] for t in time_set)
                    for name in names}
    # flowsheet experiments: outlets of units without holdup jump at input steps
    steps = experiment.step_times() if hasattr(experiment, "step_times") else ()
    for name in names:
        mean, grads = _sensitivity_rows(problem, spec, name, grid, x, dx, steps)
        bands.mean[name], bands.sd[name] = mean, _sd(grads, cov)
        if name in experiment.measured_variables:
            t_obs = experiment.measurements[name].dropna().index.to_numpy(dtype=float)
            m_obs, g_obs = _sensitivity_rows(problem, spec, name, t_obs, x, dx, steps)
            bands.observed[name] = (t_obs, m_obs, _sd(g_obs, cov))
    return bands


def band_coverage(bands: Sequence[PredictionBands], experiments: Sequence,
                  noise_sd: Mapping[str, float] | None = None) -> dict[str, float]:
    """Per variable, the fraction of the experiments' measurements inside their bands.

    Parameters
    ----------
    bands
        Bands of (some of) ``experiments``.
    experiments
        The experiments with their measurements (matched by name).
    noise_sd
        Measurement noise sd per variable: when given, a measurement counts as inside
        when it lies within the prediction interval ``z sqrt(sd^2 + noise_sd^2)``
        (model and measurement uncertainty), the check for noisy validation data;
        variables without a noise level are left out.
    """
    by_name = {e.name: e for e in experiments}
    inside: dict[str, int] = {}
    total: dict[str, int] = {}
    for b in bands:
        exp = by_name[b.experiment]
        for name, (t_obs, mean, sd) in b.observed.items():
            if noise_sd is not None and name not in noise_sd:
                continue
            noise = 0.0 if noise_sd is None else float(noise_sd[name])
            y = exp.measurements[name].dropna().to_numpy(dtype=float)
            half = b.z * np.sqrt(np.asarray(sd, float) ** 2 + noise ** 2)
            hit = np.abs(y - mean) <= half + 1e-6 * np.maximum(1.0, np.abs(y))  # solver tolerance
            inside[name] = inside.get(name, 0) + int(hit.sum())
            total[name] = total.get(name, 0) + len(y)
    return {k: inside[k] / total[k] for k in sorted(total) if total[k]}


def coverage_log_line(coverage: Mapping[str, float], with_noise: Mapping[str, float],
                      failures: Mapping[str, str] | None = None) -> str:
    """The coverages for the log: ``"X 90% (97% with noise), ..."``; without any, why
    (``failures``: the validation experiments whose bands failed)."""
    line = ", ".join(f"{k} {v:.0%}" + (f" ({with_noise[k]:.0%} with noise)" if k in with_noise else "")
                     for k, v in coverage.items())
    if line:
        return line
    if failures:
        return f"none (no bands for {', '.join(repr(k) for k in failures)}: see the warnings above)"
    return "no validation data"


@dataclass
class ValidationBands:
    """The validation experiments' bands of a training run with ``[uncertainty]``, their
    coverage, and the experiments whose bands could not be computed."""

    level: float
    bands: dict[str, PredictionBands]
    coverage: dict[str, float]
    failures: dict[str, str] = field(default_factory=dict)
    #: Coverage of the prediction intervals (band and measurement noise together).
    coverage_with_noise: dict[str, float] = field(default_factory=dict)

    def common_summary(self, method: str) -> dict:
        """``{"method", "level", "validation_coverage"}`` (with ``validation_coverage_with_noise``
        and ``failures`` when there are any) for ``metrics.json``."""
        out = {"method": method, "level": self.level, "validation_coverage": self.coverage}
        if self.coverage_with_noise:
            out["validation_coverage_with_noise"] = self.coverage_with_noise
        if self.failures:
            out["failures"] = self.failures
        return out


@dataclass(kw_only=True)
class ValidationUncertainty(ValidationBands):
    """What a training run with ``[uncertainty] method = "laplace"`` adds: the covariance,
    the validation experiments' bands and the summary for ``metrics.json``."""

    covariance: LaplaceCovariance
    #: Time of the covariance and the bands' simulations together (0: not measured).
    wall_time_s: float = 0.0

    def summary(self) -> dict:
        """``{"method", "level", "validation_coverage", ...}`` for ``metrics.json``."""
        return {**self.common_summary("laplace"), "clipped_eigenvalues": self.covariance.clipped,
                "wall_time_s": self.wall_time_s or self.covariance.wall_time_s}

    def saved(self) -> dict:
        """What the model file keeps (``predict`` draws bands from it)."""
        return {**self.covariance.to_dict(), "level": self.level}


def validation_uncertainty(make_spec: Callable[..., InnerSource], train_experiments: Sequence,
                           validation_experiments: Sequence, network_spec: NetworkSpec, alpha: float,
                           level: float, noise_sd: Mapping[str, float] | None = None,
                           starts: Mapping[str, Mapping[str, float]] | None = None,
                           hessian: np.ndarray | None = None
                           ) -> ValidationUncertainty:
    """The Laplace covariance of a trained network and the validation experiments' bands.

    Parameters
    ----------
    make_spec
        Spec factory of the path (see :func:`laplace_covariance`).
    train_experiments, validation_experiments
        The run's experiments by role.
    network_spec
        The trained network.
    alpha
        Prior precision of the training.
    level
        Band probability.
    noise_sd
        Measurement noise sd per variable (given or estimated; the training's final levels,
        ``TrainingResult.noise``): the fit weights of a data Hessian computed here (else the
        levels estimated from the data, before the training's noise refit) and the coverage
        of the prediction intervals (``coverage_with_noise``).
    starts, hessian
        The training experiments' values at the trained point and the data Hessian there,
        when known (see :func:`laplace_covariance`).

    Returns
    -------
    ValidationUncertainty
        A validation experiment whose simulation fails is left out (and named in
        ``failures``).
    """
    tick = time.perf_counter()
    lap = laplace_covariance(make_spec, train_experiments, network_spec, alpha, scales=noise_sd or None,
                             starts=starts, hessian=hessian)
    bands, failures = {}, {}
    for exp in validation_experiments:
        try:
            bands[exp.name] = prediction_bands(make_spec, exp, network_spec, lap.covariance, level)
        except UncertaintyError as err:
            _log.warning(f"uncertainty: {err}")
            failures[exp.name] = str(err)
    coverage = band_coverage(list(bands.values()), validation_experiments)
    with_noise = band_coverage(list(bands.values()), validation_experiments, noise_sd) if noise_sd else {}
    _log.info("uncertainty: validation coverage of the %g band: %s", level,
              coverage_log_line(coverage, with_noise, failures))
    return ValidationUncertainty(float(level), bands, coverage, failures, with_noise, covariance=lap,
                                 wall_time_s=time.perf_counter() - tick)
