"""Ensemble prediction bands: members re-trained on randomized copies of the training
data, warm-started from the trained (base) network.

Member ``i`` (``1 .. members``, seed ``seed + i``) fits data chosen by ``[uncertainty]
resample`` (:func:`member_data`): ``residuals`` (default) every training experiment with
every measurement moved by Gaussian noise of its variable's noise level
(:func:`perturbed_measurements`); ``experiments`` as many training experiments as there
are, drawn with replacement (:func:`bootstrap_experiments`; an experiment drawn twice
enters as a renamed copy, ``b1~2``, since names must be unique); ``both`` a resample,
perturbed. It is re-trained from the base weights with the base run's prior precision
``alpha``, the prior pulling towards zero as in the base training.

The band of a prediction ``y(t)`` is centred on the base network's prediction, with
half-width ``t_{(1+level)/2, n-1} s(t)``, ``s(t)`` the sample standard deviation
(``ddof=1``) of the ``n`` members' predictions at ``t`` and ``t`` Student's quantile (the
sd is estimated from ``n`` samples; members on another time grid are interpolated
linearly onto the base grid). With ``residuals`` the band is randomized MAP linearized in
its prior draw: the members sample the data-noise part ``Sigma H Sigma`` of the Laplace
posterior covariance ``Sigma = Sigma H Sigma + alpha Sigma^2`` (nonlinearly), and the prior
draw's part ``alpha Sigma^2`` is propagated linearly (``prior_covariance``), so
``sd(t)^2 = s(t)^2 + alpha ||Sigma g_t||^2`` with the normal quantile. Members that fail to
train are dropped with a warning; with fewer than two there are no bands.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.model.experiment import DataError
from idaes_hybrid.nn.network import NetworkConfigError, NetworkSpec
from idaes_hybrid.training.predict import PredictionError, Simulation
from idaes_hybrid.uncertainty.laplace import (
    PredictionBands, UncertaintyError, ValidationBands, band_coverage, coverage_log_line, prediction_bands)
from idaes_hybrid.uncertainty.settings import Resampling

_log = idaeslog.getLogger(__name__)

#: Joins an experiment's name and its copy number in a bootstrap resample (``b1~2``).
COPY_SEPARATOR = "~"

#: What a failed simulation raises (the member is left out of that experiment's band).
SIMULATION_ERRORS = (PredictionError, InitializationError, DataError, ValueError, RuntimeError)

#: ``train_member(experiments, seed)``: the member network trained on ``experiments``.
MemberTrainer = Callable[[list, int], NetworkSpec]
#: ``simulate(experiment, spec)``: the experiment predicted with the network ``spec``.
Simulator = Callable[[Any, NetworkSpec], Simulation]


def bootstrap_experiments(experiments: Sequence, seed: int) -> list:
    """A bootstrap resample of ``experiments``: as many drawn with replacement.

    Parameters
    ----------
    experiments
        Experiments (unit or flowsheet dataclasses with a unique ``name``).
    seed
        Seed of the draw (the same seed gives the same resample).

    Returns
    -------
    list
        The drawn experiments in their original order; the k-th copy (k >= 2) of an
        experiment is a copy named ``<name>~k``.
    """
    rng = np.random.default_rng(seed)
    draws = np.sort(rng.integers(0, len(experiments), size=len(experiments)))
    taken = {e.name for e in experiments}
    counts: dict[str, int] = {}
    out = []
    for i in draws:
        exp = experiments[int(i)]
        counts[exp.name] = counts.get(exp.name, 0) + 1
        if counts[exp.name] == 1:
            out.append(exp)
            continue
        k = counts[exp.name]
        while f"{exp.name}{COPY_SEPARATOR}{k}" in taken:
            k += 1
        name = f"{exp.name}{COPY_SEPARATOR}{k}"
        taken.add(name)
        out.append(dataclasses.replace(exp, name=name))
    return out


@dataclass
class EnsembleMembers:
    """The trained members of an ensemble.

    Attributes
    ----------
    specs
        The members' networks.
    seeds
        Each member's seed (of its bootstrap resample).
    resamples
        Each member's training experiments (names, copies renamed).
    requested
        Members asked for (``specs`` holds those that trained).
    failures
        ``{"member <i>": message}`` of the members dropped.
    wall_time_s
        Time taken.
    prior_covariance
        ``alpha Sigma^2`` (``resample = "residuals"``): the covariance of the weights that the
        band adds to the members' spread, propagated linearly; ``None``: members only.
    """

    specs: list[NetworkSpec]
    seeds: list[int]
    resamples: list[list[str]]
    requested: int
    failures: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0
    prior_covariance: np.ndarray | None = None

    def to_dict(self) -> dict:
        """JSON-ready: ``method`` ``"ensemble"``, the member networks and the prior
        covariance (when there is one)."""
        out = {"method": "ensemble", "members": [s.to_dict() for s in self.specs],
               "seeds": list(self.seeds), "resamples": [list(r) for r in self.resamples]}
        if self.prior_covariance is not None:
            out["prior_covariance"] = np.asarray(self.prior_covariance).tolist()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EnsembleMembers":
        """Read :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            Naming the field (``uncertainty.members[1]: ...``).
        """
        members = d.get("members")
        if not isinstance(members, list) or len(members) < 2:
            raise ValueError(f"uncertainty.members: expected a list of at least 2 networks, got {members!r:.60}")
        specs = []
        for i, m in enumerate(members):
            try:
                specs.append(NetworkSpec.from_dict(m))
            except (KeyError, TypeError, ValueError, NetworkConfigError) as err:
                raise ValueError(f"uncertainty.members[{i}]: {err}") from None
        prior = d.get("prior_covariance")
        if prior is not None:
            prior = np.asarray(prior, dtype=float)
            n = specs[0].n_parameters
            if prior.shape != (n, n):
                raise ValueError(f"uncertainty.prior_covariance: shape {prior.shape} does not match the "
                                 f"network's {n} weights")
        return cls(specs, list(d.get("seeds", [])), list(d.get("resamples", [])), len(specs),
                   prior_covariance=prior)


@dataclass
class MemberJob:
    """One member's training: the path's trainer, its resample and its seed."""

    train_member: MemberTrainer
    experiments: list
    seed: int


def run_member(job: MemberJob) -> tuple[NetworkSpec | None, str]:
    """Train one member, here or on a Dask worker: ``(spec, "")``, or ``(None, message)``
    when its training raised (never raises, so one failed member loses no other)."""
    try:
        return job.train_member(job.experiments, job.seed), ""
    except Exception as err:  # noqa: BLE001 - a failed member is dropped, the run goes on
        return None, f"{type(err).__name__}: {err}"


def _run_jobs(jobs: list[MemberJob], n_workers: int, address: str | None) -> list[tuple]:
    """The jobs' results: on a Dask engine (``n_workers`` > 0 or ``address``), else here;
    if the engine fails, here, with a warning."""
    if n_workers > 0 or address:
        from idaes_hybrid.decomposition.engine import Engine, EngineError

        try:
            with Engine(n_workers, address, task=run_member) as engine:
                _log.info(f"uncertainty: training {len(jobs)} ensemble members on the Dask engine")
                return engine.run(jobs)
        except EngineError as err:
            _log.warning(f"uncertainty: the Dask engine failed ({err}); training the members here")
    return [run_member(job) for job in jobs]


def perturbed_measurements(experiments: Sequence, sd: Mapping[str, float], seed: int) -> list:
    """Randomized data: every measurement plus Gaussian noise of its variable's sd ``sd``
    (the base run's noise levels, given or estimated), which also become the copies'
    ``noise_sd`` so that a member's fit weighs the data as the base run did.

    A member fitted to such data differs from the base fit by about the estimator's own
    scatter (``theta(y + e) - theta(y) ~ G e``), also when two members drew the same
    experiments.
    """
    rng = np.random.default_rng([seed, 7919])
    out = []
    for exp in experiments:
        frame = exp.measurements.copy()
        names = [n for n in exp.measured_variables if n in sd]
        for name in names:
            frame[name] = frame[name] + rng.normal(0.0, float(sd[name]), size=len(frame))
        out.append(dataclasses.replace(exp, measurements=frame, noise_sd={n: float(sd[n]) for n in names}))
    return out


def member_data(train_experiments: Sequence, seed: int, resample: Resampling,
                noise_sd: Mapping[str, float] | None) -> list:
    """One member's training data: ``train_experiments`` resampled and/or perturbed as
    ``resample`` says (seed ``seed``). Without ``noise_sd`` nothing can be perturbed and the
    experiments are resampled."""
    if noise_sd is None or resample is Resampling.EXPERIMENTS:
        return bootstrap_experiments(list(train_experiments), seed)
    drawn = list(train_experiments) if resample is Resampling.RESIDUALS \
        else bootstrap_experiments(list(train_experiments), seed)
    return perturbed_measurements(drawn, noise_sd, seed)


def train_members(train_member: MemberTrainer, train_experiments: Sequence, members: int,
                  seed: int, n_workers: int = 0, address: str | None = None,
                  noise_sd: Mapping[str, float] | None = None,
                  resample: Resampling = Resampling.RESIDUALS) -> EnsembleMembers:
    """Train ``members`` networks, each on its own randomized copy of ``train_experiments``.

    Parameters
    ----------
    train_member
        The path's trainer: ``train_member(experiments, seed)`` returns the member's
        network (warm-started from the base network). On a Dask engine it must pickle
        (cloudpickle: the trainers of this module do).
    train_experiments
        The base run's training experiments.
    members
        How many members to train.
    seed
        Base seed (``[network] seed``); member ``i`` uses ``seed + i``.
    n_workers, address
        Train the members in parallel on the decomposition's Dask engine
        (:class:`~idaes_hybrid.decomposition.engine.Engine`): a local cluster of
        ``n_workers`` processes, or the scheduler at ``address``; ``0`` and ``None``:
        one after the other in this process.
    noise_sd
        Noise level per measured variable, by which members' data are perturbed
        (:func:`perturbed_measurements`); ``None``: the experiments are resampled.
    resample
        What differs between members' data (:func:`member_data`).

    Returns
    -------
    EnsembleMembers
        Members whose training raised are left out, with a warning.
    """
    tick = time.perf_counter()
    if len(train_experiments) == 1 and (noise_sd is None or resample is Resampling.EXPERIMENTS):
        _log.warning("uncertainty: a bootstrap resample of one training experiment is that "
                     "experiment: every member fits the same data, the members barely differ "
                     "and the bands are far too narrow; use resample = 'residuals' or 'both'")
    jobs = [MemberJob(train_member, member_data(train_experiments, seed + i, resample, noise_sd), seed + i)
            for i in range(1, members + 1)]
    for i, job in enumerate(jobs, 1):
        _log.info(f"uncertainty: ensemble member {i}/{members} on {', '.join(e.name for e in job.experiments)}")
    specs, seeds, resamples, failures = [], [], [], {}
    for i, (job, (spec, error)) in enumerate(zip(jobs, _run_jobs(jobs, n_workers, address)), 1):
        if spec is None:
            _log.warning(f"uncertainty: ensemble member {i} dropped: {error}")
            failures[f"member {i}"] = error
            continue
        specs.append(spec)
        seeds.append(job.seed)
        resamples.append([e.name for e in job.experiments])
    return EnsembleMembers(specs, seeds, resamples, members, failures, time.perf_counter() - tick)


def ensemble_workers(settings) -> tuple[int, str | None]:
    """Where a run's members train: the ``[decomposition]`` engine's ``n_workers`` and
    ``scheduler_address`` when ``training.method = "decomposition"``, else ``(0, None)``
    (in this process)."""
    from idaes_hybrid.decomposition.settings import TrainingMethod

    if settings.method is not TrainingMethod.DECOMPOSITION:
        return 0, None
    return int(settings.decomposition.n_workers), settings.decomposition.scheduler_address


def _on_times(sim: Simulation, name: str, times: np.ndarray) -> np.ndarray:
    """``sim[name]`` at ``times`` (linear interpolation unless on the simulation's grid)."""
    grid, values = np.asarray(sim.time, dtype=float), np.asarray(sim[name], dtype=float)
    if grid.shape == times.shape and np.allclose(grid, times):
        return values
    return np.interp(times, grid, values)


def member_sd(members: Sequence[Simulation], name: str, times: np.ndarray) -> np.ndarray:
    """Sample standard deviation (``ddof=1``) of the members' ``name`` at ``times``."""
    runs = np.array([_on_times(m, name, times) for m in members])
    return runs.std(axis=0, ddof=1)


def _with_prior(sd: np.ndarray, prior: PredictionBands | None, name: str, times: np.ndarray,
                observed: bool = False) -> np.ndarray:
    """``sqrt(sd^2 + p^2)``, ``p`` the prior band's sd of ``name`` at ``times`` (its own values
    at the measurement times when ``observed``, else interpolated from its grid)."""
    if prior is None:
        return sd
    if observed and name in prior.observed and len(prior.observed[name][0]) == len(times):
        p = prior.observed[name][2]
    else:
        p = np.interp(times, prior.time, prior.sd[name])
    return np.sqrt(sd ** 2 + np.asarray(p, dtype=float) ** 2)


def ensemble_bands(experiment, base: Simulation, members: Sequence[Simulation], names: Sequence[str],
                   level: float, prior: PredictionBands | None = None) -> PredictionBands:
    """Bands of ``experiment``: the base prediction +- ``t`` times the members' sample sd
    (``t`` Student's quantile with ``members - 1`` degrees of freedom), or with ``prior``
    +- ``z`` times ``sqrt(s^2 + p^2)`` (``z`` the normal quantile, ``p`` the prior band's sd).

    Parameters
    ----------
    experiment
        The experiment (its measurements give the observed points).
    base
        Its simulation with the base network (the band centre and the time grid).
    members
        Its simulations with the members (at least 2).
    names
        Variables to band.
    level
        Band probability.
    prior
        The linearly propagated prior share of the posterior (``resample = "residuals"``):
        :func:`~idaes_hybrid.uncertainty.laplace.prediction_bands` of
        ``EnsembleMembers.prior_covariance``; ``None``: the members alone.

    Returns
    -------
    PredictionBands
    """
    if len(members) < 2:
        raise UncertaintyError(f"experiments[{experiment.name!r}]: {len(members)} member simulations; "
                               "an ensemble band needs at least 2")
    grid = np.asarray(base.time, dtype=float)
    bands = PredictionBands(experiment.name, float(level), grid, {}, {},
                            dof=len(members) - 1 if prior is None else None,
                            bounds=dict(getattr(base, "bounds", {})))
    for name in names:
        bands.mean[name] = np.asarray(base[name], dtype=float)
        bands.sd[name] = _with_prior(member_sd(members, name, grid), prior, name, grid)
        if name in experiment.measured_variables:
            t_obs = experiment.measurements[name].dropna().index.to_numpy(dtype=float)
            bands.observed[name] = (t_obs, _on_times(base, name, t_obs),
                                    _with_prior(member_sd(members, name, t_obs), prior, name, t_obs, True))
    return bands


def simulate_members(simulate: Simulator, experiment, specs: Sequence[NetworkSpec]) -> list[Simulation]:
    """``experiment`` simulated with every member; a failed simulation is left out (warning)."""
    out = []
    for i, spec in enumerate(specs):
        try:
            out.append(simulate(experiment, spec))
        except SIMULATION_ERRORS as err:
            _log.warning(f"uncertainty: experiments[{experiment.name!r}]: member {i + 1} "
                         f"simulation failed ({err}); left out of the band")
    return out


def predicted_bands(simulate: Simulator, experiment, base: Simulation, specs: Sequence[NetworkSpec],
                    names: Sequence[str], level: float, prior: PredictionBands | None = None) -> PredictionBands:
    """Bands of ``experiment`` from member networks (``predict`` of a saved ensemble) and,
    with ``resample = "residuals"``, the prior share's band ``prior``."""
    return ensemble_bands(experiment, base, simulate_members(simulate, experiment, specs), names, level, prior)


def prior_share(make_spec: Callable[..., Any], train_experiments: Sequence, base: NetworkSpec,
                alpha: float, starts: Mapping[str, Mapping[str, float]] | None = None,
                hessian: np.ndarray | None = None, scales: Mapping[str, float] | None = None) -> np.ndarray:
    """``alpha Sigma^2``: the prior draw's share of the Laplace posterior covariance
    ``Sigma`` of ``base`` (:func:`~idaes_hybrid.uncertainty.laplace.laplace_covariance`,
    started at ``starts``; from the training's data ``hessian`` when given, as the Laplace
    bands take it, else computed with the fit weights ``scales``, the training's noise
    levels), the part of randomized MAP's scatter that perturbed data alone do not give."""
    from idaes_hybrid.uncertainty.laplace import laplace_covariance

    sigma = laplace_covariance(make_spec, train_experiments, base, float(alpha), scales=scales,
                               starts=starts, hessian=hessian).covariance
    return float(alpha) * sigma @ sigma


def prior_band(make_spec: Callable[..., Any] | None, experiment, base: NetworkSpec,
               prior_covariance: np.ndarray | None, names: Sequence[str], level: float) -> PredictionBands | None:
    """The prior share's band of ``experiment`` (``None`` without a prior covariance)."""
    if prior_covariance is None or make_spec is None:
        return None
    return prediction_bands(make_spec, experiment, base, prior_covariance, level, names)


@dataclass(kw_only=True)
class EnsembleUncertainty(ValidationBands):
    """What a training run with ``[uncertainty] method = "ensemble"`` adds: the members,
    the validation experiments' bands and the summary for ``metrics.json``."""

    members: EnsembleMembers
    resample: Resampling = Resampling.RESIDUALS

    def summary(self) -> dict:
        """``{"method", "level", "validation_coverage", "members", "resample", ...}`` for
        ``metrics.json``."""
        out = {**self.common_summary("ensemble"), "members": len(self.members.specs),
               "resample": Resampling(self.resample).value,
               "members_requested": self.members.requested, "wall_time_s": self.members.wall_time_s}
        if self.members.failures:
            out["member_failures"] = self.members.failures
        return out

    def saved(self) -> dict:
        """What the model file keeps (``predict`` draws bands from the members)."""
        return {**self.members.to_dict(), "level": self.level}


def ensemble_uncertainty(train_member: MemberTrainer, simulate: Simulator, base_spec: NetworkSpec,
                         train_experiments: Sequence, validation_experiments: Sequence,
                         members: int, seed: int, level: float,
                         workers: tuple[int, str | None] = (0, None),
                         noise_sd: Mapping[str, float] | None = None,
                         resample: Resampling = Resampling.RESIDUALS,
                         make_spec: Callable[..., Any] | None = None,
                         alpha: float | None = None,
                         starts: Mapping[str, Mapping[str, float]] | None = None,
                         hessian: np.ndarray | None = None) -> EnsembleUncertainty | None:
    """Train an ensemble and band the validation experiments.

    Parameters
    ----------
    train_member, simulate
        The path's member trainer and simulator.
    base_spec
        The trained network (the band centre).
    train_experiments, validation_experiments
        The run's experiments by role.
    members, seed, level
        ``[uncertainty] members``, ``[network] seed`` and ``[uncertainty] level``.
    workers
        ``(n_workers, address)`` of :func:`train_members` (:func:`ensemble_workers`).
    noise_sd
        The base run's noise level per measured variable (``TrainingResult.noise``'s
        ``sd``), by which members' data are perturbed; ``None``: resampling only.
    resample
        ``[uncertainty] resample`` (:func:`member_data`).
    make_spec, alpha
        The path's inner-problem spec factory and the prior precision: with ``residuals``
        the bands add the prior share of the posterior (:func:`prior_share`); ``None``:
        the members alone.
    starts
        The training experiments' values at the trained point (``TrainingResult.solved_values``):
        the prior share's Laplace solves start there instead of a march.
    hessian
        The data Hessian at the trained weights when the training computed it
        (``TrainingResult.data_hessian``): the prior share uses it, as the Laplace bands do,
        instead of solving the inner problems again.

    Returns
    -------
    EnsembleUncertainty or None
        ``None`` (with a warning) when fewer than 2 members trained. A validation
        experiment that cannot be banded is named in ``failures``.
    """
    ens = train_members(train_member, train_experiments, members, seed, *workers, noise_sd=noise_sd,
                        resample=resample)
    if len(ens.specs) < 2:
        _log.warning(f"uncertainty: only {len(ens.specs)} of {members} ensemble members trained; no bands")
        return None
    if resample is Resampling.RESIDUALS:
        try:
            if make_spec is None or alpha is None:
                raise UncertaintyError("no spec factory or prior precision given")
            ens.prior_covariance = prior_share(make_spec, train_experiments, base_spec, alpha, starts, hessian,
                                               scales=dict(noise_sd) if noise_sd else None)
        except UncertaintyError as err:
            _log.warning(f"uncertainty: no prior share in the bands, members only: they are too narrow ({err})")
    bands, failures = {}, {}
    for exp in validation_experiments:
        try:
            base = simulate(exp, base_spec)
            prior = prior_band(make_spec, exp, base_spec, ens.prior_covariance, exp.measured_variables, level)
            bands[exp.name] = predicted_bands(simulate, exp, base, ens.specs, exp.measured_variables, level,
                                              prior)
        except (UncertaintyError, *SIMULATION_ERRORS) as err:
            _log.warning(f"uncertainty: experiments[{exp.name!r}]: no band ({err})")
            failures[exp.name] = str(err)
    coverage = band_coverage(list(bands.values()), validation_experiments)
    with_noise = band_coverage(list(bands.values()), validation_experiments, noise_sd) if noise_sd else {}
    _log.info("uncertainty: %d-member ensemble, validation coverage of the %g band: %s", len(ens.specs),
              level, coverage_log_line(coverage, with_noise, failures))
    return EnsembleUncertainty(float(level), bands, coverage, failures, with_noise, members=ens,
                               resample=resample)


# ----------------------------------------------------------------------------- the two paths
def member_settings(settings, alpha: float):
    """The base run's :class:`~idaes_hybrid.training.train.TrainingSettings` for a member:
    the base run's prior precision ``alpha`` (no new cross-validation), no decomposition
    checkpoint (members must not resume the base run's) and a decomposed member's inner
    solves in its own process (the members themselves run on the engine,
    :func:`ensemble_workers`)."""
    decomposition = dataclasses.replace(settings.decomposition, checkpoint_dir=None, n_workers=0,
                                        scheduler_address=None)
    return dataclasses.replace(settings, regularization=float(alpha), decomposition=decomposition)


def flowsheet_member_trainer(hf, base: NetworkSpec, nfe: int, ncp: int, settings,
                             alpha: float, starts: Mapping[str, Mapping[str, float]] | None = None
                             ) -> MemberTrainer:
    """Flowsheet path (one learned term):
    :func:`~idaes_hybrid.training.flowsheet_train.train_flowsheet` with ``warm=True``, the
    prior centred on zero, no numerical checks; an experiment in ``starts`` (the base run's
    ``solved_values``) starts at the base solution instead of a march (perturbed data change
    no state)."""
    from idaes_hybrid.training.flowsheet_train import train_flowsheet

    member = member_settings(settings, alpha)

    def train_member(experiments: list, seed: int) -> NetworkSpec:
        return train_flowsheet(hf, experiments, base, nfe, ncp, dataclasses.replace(member, seed=seed),
                               warm=True, anchor=False, starts=starts, diagnose=False).spec

    return train_member


def flowsheet_simulator(hf, nfe: int, ncp: int, options: Mapping[str, Any] | None = None) -> Simulator:
    """Flowsheet path: :func:`~idaes_hybrid.training.flowsheet_problem.simulate_flowsheet`
    of every flowsheet variable."""
    from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

    def run(experiment, spec: NetworkSpec) -> Simulation:
        return simulate_flowsheet(hf, experiment, spec, nfe, ncp, list(hf.variables),
                                  dict(options or {}))

    return run
