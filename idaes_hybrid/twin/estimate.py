"""State estimation and forecast of a batch in progress: settings, request checks, results.

The estimate itself runs on the flowsheet path
(:func:`~idaes_hybrid.twin.flowsheet_estimate.estimate_flowsheet`; a saved one-unit model
through :func:`~idaes_hybrid.twin.unit_estimate.estimate_and_forecast`). It takes the
measurements of a running batch up to the current time ``t_now`` (any subset of the
states, at any times) and

1. **estimates** the state by a moving-horizon estimate over the window
   ``[t_s, t_now]``, ``t_s = max(0, t_now - window)``: the flowsheet with the saved
   networks (weights fixed, variable bounds kept) on the window, whose initial state
   ``x(t_s)`` is free and chosen to minimize::

       J = [ sum_obs ((y_model(t) - y(t)) / sd_y)^2
             + sum_states ((x_i(t_s) - m_i) / s_i)^2 ] / n_obs

   with the model equations as constraints. The second sum is the arrival cost
   (a Gaussian prior on the window's initial state, :class:`ArrivalCost`): by
   default its mean ``m`` is the model's open-loop prediction from the batch's
   recorded initial state (``PriorMode.OPEN_LOOP``) and its standard deviations
   ``s_i = prior_rel_sd * max(|m_i|, prior_floor)``. States that no measurement
   sees (e.g. ``P`` and ``V`` when only ``X`` and ``S`` are measured) are
   pinned by this prior and carried through the window by the model.
2. **forecasts** the rest of the batch: a simulation with the saved network
   from the estimated state at ``t_now`` to ``horizon_end``.

Measurements after ``t_now`` are ignored (a record of a finished batch can be
replayed); a ``t_now`` after the last measurement is refused.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.solve.batched import solve_hybrid
from idaes_hybrid.model.dof import DegreesOfFreedomError, check_degrees_of_freedom
from idaes_hybrid.solve.solver import SolveResult, SolverCrashError, SolverNotFoundError
from idaes_hybrid.model.experiment import Measured
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.training.problem import interpolation_weights, noise_levels
from idaes_hybrid.twin.common import TwinRequestError, finite_number

_log = idaeslog.getLogger(__name__)

_TOL = 1e-9
#: Relative standard deviation of the arrival cost of a state not named in a per-state table.
_DEFAULT_REL_SD = 0.2


class EstimationError(RuntimeError):
    """The moving-horizon estimate did not converge (solver status in the message)."""


class PriorMode(str, enum.Enum):
    """Where the arrival cost's mean comes from."""

    #: No arrival cost: the window's initial state is fitted to the window's data alone.
    NONE = "none"
    #: The saved model simulated from the batch's recorded initial state to the window start.
    OPEN_LOOP = "open-loop"


@dataclass(frozen=True)
class ArrivalCost:
    """Gaussian prior ``N(mean, sd^2)`` on the window's initial state (per state)."""

    mean: dict[str, float]
    sd: dict[str, float]

    @classmethod
    def relative(cls, mean: Mapping[str, float], rel_sd: float | Mapping[str, float],
                 floor: float) -> ArrivalCost:
        """Standard deviations ``rel_sd * max(|mean|, floor)`` (``rel_sd`` one number or per state)."""
        rel = {k: float(rel_sd[k] if isinstance(rel_sd, Mapping) and k in rel_sd else
                        _DEFAULT_REL_SD if isinstance(rel_sd, Mapping) else rel_sd) for k in mean}
        return cls({k: float(v) for k, v in mean.items()},
                   {k: rel[k] * max(abs(float(v)), float(floor)) for k, v in mean.items()})

    def check(self, states: list[str]) -> None:
        """:class:`TwinRequestError` naming the first state without a finite mean or a positive sd."""
        for name in states:
            m, s = self.mean.get(name), self.sd.get(name)
            if m is None or not math.isfinite(m):
                raise TwinRequestError(f"arrival_cost.mean.{name}", f"expected a finite number, got {m!r}")
            if s is None or not (math.isfinite(s) and s > 0):
                raise TwinRequestError(f"arrival_cost.sd.{name}", f"expected a number > 0, got {s!r}")


@dataclass
class EstimationSettings:
    """Options of :func:`estimate_and_forecast`.

    Attributes
    ----------
    prior : PriorMode
        Source of the arrival cost's mean (ignored when an explicit ``ArrivalCost`` is given).
    prior_rel_sd : float or dict[str, float]
        Relative standard deviation of the arrival cost, one for all states or per
        state (states not named: 0.2); e.g. ``{"X": 0.5, "V": 0.02}`` for an
        uncertain inoculum and a volume known from the feed record.
    prior_floor : float
        Arrival-cost standard deviations are ``prior_rel_sd * max(|mean|, prior_floor)``.
    noise_sd : dict or None
        Measurement noise sd per variable; default the experiment's ``noise_sd``,
        else ``trained_noise_sd``, else estimated from its data up to ``t_now``.
    trained_noise_sd : dict or None
        Noise sd per variable the model was trained with (a saved one-unit model's
        ``metrics.noise_sd``, given or estimated at training, filled in by
        :func:`~idaes_hybrid.twin.unit_estimate.estimate_and_forecast`): a running batch's
        few samples give a poor noise estimate (their spread includes the trend).
    element_length : float or None
        Length of a finite element of the window and forecast grids; default the
        saved model's (experiment horizon / nfe).
    solver_options : dict
        Ipopt-style options.
    unit_config : dict
        Extra CONFIG options of the unit (the ``[unit]`` table).
    """

    prior: PriorMode = PriorMode.OPEN_LOOP
    prior_rel_sd: float | dict[str, float] = _DEFAULT_REL_SD
    prior_floor: float = 1e-2
    noise_sd: dict[str, float] | None = None
    trained_noise_sd: dict[str, float] | None = None
    element_length: float | None = None
    solver_options: dict = field(default_factory=lambda: {"tol": 1e-8, "max_iter": 500})
    unit_config: dict = field(default_factory=dict)


@dataclass
class TwinEstimate:
    """Estimated state of a running batch and the forecast of the rest of it.

    Attributes
    ----------
    experiment : str
        Name of the batch.
    t_now, window_start : float
        Current time and start of the estimation window.
    state : dict[str, float]
        Estimated state at ``t_now``.
    window_initial : dict[str, float]
        Estimated state at ``window_start``.
    estimate, forecast : dict[str, numpy.ndarray]
        ``time`` (absolute) and every state and learned term on the window's
        grid / on ``[t_now, horizon_end]``.
    arrival_cost : ArrivalCost or None
        The prior on the window's initial state.
    noise_sd : dict[str, float]
        Measurement sd used per variable.
    fit_rmse : dict[str, float]
        RMSE of the estimate against the window's measurements, per variable.
    n_observations : int
        Measurements in the window.
    status, iterations, objective, wall_time_s
        The estimation solve and the whole call.
    """

    experiment: str
    t_now: float
    window_start: float
    horizon_end: float
    state: dict[str, float]
    window_initial: dict[str, float]
    estimate: dict[str, np.ndarray] = field(repr=False)
    forecast: dict[str, np.ndarray] = field(repr=False)
    arrival_cost: ArrivalCost | None
    noise_sd: dict[str, float]
    fit_rmse: dict[str, float]
    n_observations: int
    status: str
    iterations: int | None
    objective: float | None
    wall_time_s: float
    flowsheet: Any = field(default=None, repr=False)
    forecast_model: Any = field(default=None, repr=False)
    forecast_steps: tuple[float, ...] = ()

    @property
    def final_state(self) -> dict[str, float]:
        """Forecast state at ``horizon_end``."""
        return {k: float(v[-1]) for k, v in self.forecast.items() if k != "time"}

    def forecast_at(self, times: Any) -> pd.DataFrame:
        """Forecast state variables at ``times`` in ``[t_now, horizon_end]`` (collocation polynomials)."""
        times = np.asarray(times, dtype=float)
        if times.size and (times.min() < self.t_now - _TOL or times.max() > self.horizon_end + _TOL):
            raise TwinRequestError("times", f"must lie in [{self.t_now:g}, {self.horizon_end:g}]")
        blk = self.forecast_model
        columns = {}
        for name in self.state:
            ref = self.flowsheet.var(blk, name, f"forecast.{name}")
            columns[name] = [sum(w * pyo.value(ref[t]) for t, w in
                                 interpolation_weights(blk.fs.time, float(tt - self.t_now),
                                                       self.forecast_steps))
                             for tt in times]
        return pd.DataFrame(columns, index=pd.Index(times, name="time"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (written to ``estimate.json``)."""
        return {
            "experiment": self.experiment, "t_now": self.t_now,
            "window": {"start": self.window_start, "end": self.t_now,
                       "length": self.t_now - self.window_start},
            "horizon_end": self.horizon_end,
            "state": self.state, "window_initial": self.window_initial,
            "final_state": self.final_state,
            "arrival_cost": None if self.arrival_cost is None else
            {"mean": self.arrival_cost.mean, "sd": self.arrival_cost.sd},
            "noise_sd": self.noise_sd, "fit_rmse": self.fit_rmse,
            "n_observations": self.n_observations,
            "solve": {"status": self.status, "iterations": self.iterations,
                      "objective": self.objective, "wall_time_s": self.wall_time_s},
            "estimate": {k: np.asarray(v).tolist() for k, v in self.estimate.items()},
            "forecast": {k: np.asarray(v).tolist() for k, v in self.forecast.items()},
        }


def check_request(experiment: Experiment, t_now: Any, window: Any,
                  horizon_end: Any) -> tuple[float, float, float]:
    """Check the times of a request; return ``(t_now, window_start, horizon_end)``.

    Raises
    ------
    TwinRequestError
        Naming ``t_now``, ``window`` or ``horizon_end``.
    """
    t_now = finite_number(t_now, "t_now")
    window = finite_number(window, "window")
    if t_now <= 0:
        raise TwinRequestError("t_now", f"must be > 0 (some of the batch must have run), got {t_now!r}")
    times = experiment.measurements.dropna(how="all").index.to_numpy(dtype=float)
    if not times.size:
        raise TwinRequestError("t_now", f"experiment {experiment.name!r} has no measurements yet")
    last = float(times.max())
    if t_now > last + _TOL * max(1.0, last) and t_now <= experiment.horizon * (1 + _TOL):
        # irregular samples: "now" is usually after the last one
        _log.warning(f"t_now {t_now!r} is after the last measurement of experiment "
                     f"{experiment.name!r} ({last!r}): the state at t_now is predicted from it")
    if t_now > experiment.horizon * (1 + _TOL):
        raise TwinRequestError("t_now", f"{t_now!r} is after the end of experiment "
                                        f"{experiment.name!r} (horizon {experiment.horizon!r})")
    if window <= 0:
        raise TwinRequestError("window", f"must be > 0, got {window!r}")
    end = experiment.horizon if horizon_end is None else finite_number(horizon_end, "horizon_end")
    if end <= t_now:
        raise TwinRequestError("horizon_end", f"must be after t_now ({t_now!r}), got {end!r}")
    start = max(0.0, t_now - window)
    if start == 0.0 and window > t_now:
        _log.info(f"window {window:g} is longer than the batch so far; estimating over [0, {t_now:g}]")
    return t_now, start, float(end)


def window_measurements(experiment: Measured, start: float, t_now: float) -> pd.DataFrame:
    """The measurements in ``[start, t_now]``, times shifted to start at 0 (empty rows dropped)."""
    meas = experiment.measurements
    times = meas.index.to_numpy(dtype=float)
    keep = (times >= start - _TOL * max(1.0, start)) & (times <= t_now + _TOL * max(1.0, t_now))
    window = meas.loc[keep].dropna(how="all")
    window.index = pd.Index(np.clip(window.index.to_numpy(dtype=float) - start, 0.0, t_now - start),
                            name="time")
    return window


def window_data(experiment: Measured, t_s: float, t_now: float,
                settings: EstimationSettings) -> tuple[pd.DataFrame, dict[str, float]]:
    """The window's measurements (times from its start) and the noise sd of every measured
    variable; :class:`TwinRequestError` naming ``window`` if it holds no measurement."""
    data = window_measurements(experiment, t_s, t_now)
    if data.empty:
        raise TwinRequestError("window", f"no measurements of experiment {experiment.name!r} in "
                                         f"[{t_s:g}, {t_now:g}]; lengthen the window")
    return data, measurement_noise(experiment, window_measurements(experiment, 0.0, t_now), settings)


def arrival_cost_for(guess: Mapping[str, float], arrival_cost: ArrivalCost | None,
                     settings: EstimationSettings, names: Sequence[str]) -> ArrivalCost | None:
    """The prior on the window's initial state: the explicit one, else one relative to
    ``guess`` (unless ``settings.prior`` is ``NONE``); checked to cover ``names``."""
    if arrival_cost is None and settings.prior is not PriorMode.NONE:
        arrival_cost = ArrivalCost.relative(guess, settings.prior_rel_sd, settings.prior_floor)
    if arrival_cost is not None:
        arrival_cost.check(names)
    return arrival_cost


def warn_unseen_states(names: Sequence[str], data: pd.DataFrame) -> list[str]:
    """Without a prior, a state no measurement of the window sees is set by the model alone
    from a free initial value, and can come out anywhere: warn, naming them; returns them."""
    seen = {str(c) for c in data.columns if data[c].notna().any()}
    unseen = [n for n in names if n not in seen]
    if unseen:
        _log.warning(f"prior: none, and no measurement in the window of {', '.join(unseen)}: their "
                     "estimates rest on the model alone and may be far off (give a prior, or "
                     "lengthen the window)")
    return unseen


def saved_noise_sd(levels: Any) -> dict[str, float]:
    """The noise sd per variable of a saved model's ``noise_sd`` record (``{name: {"sd": ...,
    "source": ...}}`` or ``{name: sd}``, as training gave or estimated them): only positive
    numbers; empty for a model saved without them."""
    out = {}
    for name, level in (levels if isinstance(levels, dict) else {}).items():
        sd = level.get("sd") if isinstance(level, dict) else level
        if isinstance(sd, (int, float)) and not isinstance(sd, bool) and math.isfinite(sd) and sd > 0:
            out[str(name)] = float(sd)
    return out


def measurement_noise(experiment: Measured, past: pd.DataFrame,
                      settings: EstimationSettings) -> dict[str, float]:
    """Noise sd per variable measured in ``past``: ``settings.noise_sd``, else the
    experiment's ``noise_sd``, else the training's (``settings.trained_noise_sd``, logged),
    else estimated from ``past`` as training does (a warning)."""
    names = [str(c) for c in past.columns if past[c].notna().any()]
    given = {**(experiment.noise_sd or {}), **(settings.noise_sd or {})}
    for name in names:
        trained = (settings.trained_noise_sd or {}).get(name)
        if name not in given and trained is not None and math.isfinite(trained) and trained > 0:
            given[name] = float(trained)
            _log.info(f"noise_sd.{name}: not given; weighting {name} by the training's noise level: "
                      f"sd {given[name]:.4g}")
    missing = [n for n in names if n not in given]
    levels = noise_levels([dataclasses.replace(experiment, name="past", measurements=past,
                                               noise_sd=None)]) if missing else {}
    for name in missing:
        how = ("a noise level estimated from its data" if levels[name]["source"] == "estimated"
               else "the spread of its data (too few samples to estimate a noise level)")
        _log.warning(f"noise_sd.{name}: not given; weighting {name} by {how}: sd {levels[name]['sd']:.4g}")
    return {n: float(given[n]) if n in given else levels[n]["sd"] for n in names}


def solve_estimate(m: pyo.Block, net: Any, n_free: int, options: dict, tee: bool, what: str,
                   span: tuple[float, float]) -> SolveResult:
    """Check that ``m`` has ``n_free`` degrees of freedom (the window's initial state)
    and solve it.

    Parameters
    ----------
    m : pyomo.environ.Block
        The estimation model, objective set.
    net : Any
        Its network block(s) (weights fixed), or an empty list.
    n_free : int
        Freed initial-state variables.
    options : dict
        Solver options.
    tee : bool
        Stream the solver log.
    what, span : str, tuple[float, float]
        Start of the error messages; the window ``(start, end)``.

    Returns
    -------
    SolveResult

    Raises
    ------
    EstimationError
        Wrong degrees of freedom, solver not run, or not converged.
    """
    try:
        check_degrees_of_freedom(m, n_free, f"{what}: estimate", net)
    except DegreesOfFreedomError as err:
        raise EstimationError(str(err)) from None
    try:
        result = solve_hybrid(m, net, options, tee=tee)
    except (SolverCrashError, SolverNotFoundError) as err:
        raise EstimationError(f"estimate: the solver did not run ({err})") from err
    if not result.ok:
        raise EstimationError(f"{what}: estimate over [{span[0]:g}, {span[1]:g}] "
                              f"failed: {result.status.value} after {result.iterations} iterations "
                              f"({result.termination_message})")
    return result


