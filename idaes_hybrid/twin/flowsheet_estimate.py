"""State estimation and forecast of a running batch on the flowsheet path.

:func:`estimate_flowsheet` estimates and forecasts a running batch of a
:class:`~idaes_hybrid.model.flowsheet.HybridFlowsheet` with its saved networks:

1. **estimate**: the flowsheet is built on the window ``[t_s, t_now]``,
   ``t_s = max(0, t_now - window)``, as an experiment of its own (time shifted to
   start at 0: input steps and series, and the measurements, move by ``-t_s``),
   with the networks' weights fixed. Its *state* is the set of variables the
   batch's initial state fixes at ``t = 0`` (the names or paths of
   ``FlowsheetExperiment.initial``; e.g. a CSTR's outlet concentrations and
   temperature, a tank's levels). They are unfixed at the window start and chosen
   to minimize::

       J = [ sum_obs ((y_model(t) - y(t)) / sd_y)^2
             + sum_state ((x_i(t_s) - m_i) / s_i)^2 ] / n_obs

   with the flowsheet's equations as constraints (path inequalities, e.g. a
   stability constraint imposed in training, are dropped, as in a simulation).
   The arrival cost's mean ``m`` is the saved model's open-loop simulation from
   the batch's recorded initial state to ``t_s`` (``PriorMode.OPEN_LOOP``; at
   ``t_s = 0`` the recorded values themselves), its sds
   ``s_i = prior_rel_sd * max(|m_i|, prior_floor)``.
2. **forecast**: :func:`~idaes_hybrid.training.flowsheet_problem.simulate_flowsheet`
   from the estimated state at ``t_now`` to ``horizon_end`` (inputs shifted by
   ``t_now``).

Why a window model rather than the whole batch with ``x(0)`` free: the prior
then sits on the state at the window start, so the estimate can correct the
model's drift over ``[0, t_s]``; with ``x(0)`` free, a contracting flowsheet
would need huge moves of ``x(0)`` to move ``x(t_s)``. At ``t_s = 0`` both agree.

An experiment starting at ``initial = "steady-state"`` names no state variables:
pass ``state=[names or paths]`` (variables that, fixed at ``t = 0``, make the
flowsheet square, as an ``initial`` table would).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.environ import units as pyunits

import idaes.logger as idaeslog
from idaes.core.util.exceptions import InitializationError

from idaes_hybrid.model.experiment import DataError
from idaes_hybrid.model.flowsheet import FlowsheetExperiment, HybridFlowsheet, InitialState
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.flowsheet_problem import (
    experiment_fit_sums, fixed_weight_model, flowsheet_rmse, initialize_flowsheet,
    simulate_flowsheet)
from idaes_hybrid.twin.common import TwinRequestError, finite_number
from idaes_hybrid.twin.estimate import (
    ArrivalCost, EstimationSettings, TwinEstimate, arrival_cost_for, check_request, solve_estimate,
    warn_unseen_states, window_data)

_log = idaeslog.getLogger(__name__)

_TOL = 1e-9


@dataclass
class FlowsheetEstimate(TwinEstimate):
    """A :class:`~idaes_hybrid.twin.estimate.TwinEstimate` of a flowsheet batch.

    ``state`` and ``window_initial`` hold the state variables (the names of the
    experiment's ``initial`` table, or ``state=``); ``estimate`` and ``forecast`` hold
    ``time`` and every state variable and every name of ``HybridFlowsheet.variables``.
    ``flowsheet`` and ``forecast_model`` (the solved forecast's experiment block, time
    from 0 = ``t_now``) are set; ``forecast_steps`` are the forecast's input step times
    (outlets of units without holdup jump there, so they are interpolated from the
    element after the step).
    """


def flowsheet_state_names(experiment: FlowsheetExperiment,
                          state: Sequence[str] | None = None) -> list[str]:
    """The variables that make up the flowsheet's state: ``state`` if given, else the
    names of the experiment's ``initial`` table.

    Raises
    ------
    TwinRequestError
        ``experiments['name'].initial`` is ``"steady-state"`` and no ``state`` is given,
        or the state is empty.
    """
    field_name = f"experiments[{experiment.name!r}].initial"
    if state is not None:
        names = [str(s) for s in state]
        field_name = "state"
    elif experiment.initial is InitialState.STEADY_STATE:
        raise TwinRequestError(field_name, "'steady-state' names no state variables to estimate; "
                                           "give the initial state as a table {name = value} of "
                                           "the variables fixed at t = 0 (or pass state=[names])")
    else:
        names = [str(s) for s in experiment.initial]
    if not names or len(set(names)) != len(names):
        raise TwinRequestError(field_name, f"expected distinct state variables, got {names}")
    return names


def _grid_nfe(length: float, element: float) -> int:
    return max(1, int(math.ceil(length / element - 1e-9)))


def _shifted_experiment(experiment: FlowsheetExperiment, suffix: str, start: float, length: float,
                        initial: Mapping[str, float] | InitialState,
                        measurements: pd.DataFrame | None = None,
                        noise_sd: dict[str, float] | None = None) -> FlowsheetExperiment:
    """The part ``[start, start + length]`` of the batch as an experiment starting at 0."""
    empty = pd.DataFrame(index=pd.Index([], name="time", dtype=float))
    return FlowsheetExperiment(
        name=f"{experiment.name}_{suffix}", horizon=float(length),
        measurements=empty if measurements is None else measurements,
        initial=initial if isinstance(initial, InitialState) else
        {k: float(v) for k, v in initial.items()},
        inputs={k: p.shifted(start).until(length) for k, p in experiment.inputs.items()},
        role=experiment.role, noise_sd=noise_sd)


def series(hf: HybridFlowsheet, blk: pyo.Block, names: Sequence[str], offset: float = 0.0
           ) -> dict[str, np.ndarray]:
    """``time`` (plus ``offset``) and the values of ``names`` at every time point of ``blk.fs``."""
    out = {"time": np.array([float(t) + offset for t in blk.fs.time])}
    for name in names:
        ref = hf.var(blk, name, f"variables.{name}")
        out[name] = np.array([pyo.value(ref[t]) for t in blk.fs.time], dtype=float)
    return out


def open_loop_state(hf: HybridFlowsheet, specs: Mapping[str, NetworkSpec] | None,
                    experiment: FlowsheetExperiment, names: Sequence[str], t: float,
                    element: float, ncp: int, options: dict | None = None) -> dict[str, float]:
    """The saved model's prediction of the state variables ``names`` at ``t`` from the
    batch's recorded initial state (the recorded values themselves at ``t = 0``).

    Parameters
    ----------
    hf, specs
        The flowsheet and its networks (weights fixed).
    experiment
        The batch: recorded initial state and inputs.
    names
        State variables (names or paths).
    t
        Time of the prediction (>= 0).
    element, ncp
        Finite-element length and collocation points of the simulation grid.
    options
        Solver options.
    """
    initial = experiment.initial
    if t <= 0.0 and isinstance(initial, Mapping) and all(n in initial for n in names):
        return {n: float(initial[n]) for n in names}
    horizon = t if t > 0.0 else element  # steady-state start: read the state at t = 0
    exp = _shifted_experiment(experiment, "open_loop", 0.0, horizon, initial)
    sim = simulate_flowsheet(hf, exp, specs, _grid_nfe(horizon, element), ncp, names, options)
    k = -1 if t > 0.0 else 0
    return {n: float(sim[n][k]) for n in names}


def _window_problem(hf: HybridFlowsheet, specs: Mapping[str, NetworkSpec] | None,
                    win: FlowsheetExperiment, names: Sequence[str], nfe: int, ncp: int,
                    noise: dict[str, float], prior: ArrivalCost | None) -> tuple:
    """The window's flowsheet (marched from the prior mean), its state freed at the start,
    and the least-squares objective; returns ``(model, block, networks, n_obs)``."""
    m, blk, nets = fixed_weight_model(hf, win, specs, nfe, ncp, f"estimate_{win.name}")
    for con in blk.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        if not con.equality:  # path inequalities of training, as in a simulation
            con.deactivate()
    try:
        initialize_flowsheet(blk, nets)
    except InitializationError as err:
        _log.warning(f"estimate: the march over the window did not converge ({err}); "
                     "solving from the partly marched point")
    t0 = blk.fs.time.first()
    refs = {n: hf.var(blk, n, f"state.{n}")[t0] for n in names}
    for ref in refs.values():
        ref.unfix()
    fit, n_obs = experiment_fit_sums(m, hf, [win], noise)[win.name]
    cost = 0.0 if prior is None else sum(
        ((ref / pyunits.get_units(ref) - prior.mean[n]) / prior.sd[n]) ** 2 for n, ref in refs.items())
    m.objective = pyo.Objective(expr=(fit + cost) / n_obs)
    return m, blk, nets, n_obs


def _forecast(hf: HybridFlowsheet, specs, experiment: FlowsheetExperiment, span: tuple[float, float],
              now: Mapping[str, float], grid: tuple[float, int], reported: Sequence[str],
              options: dict) -> tuple[dict[str, np.ndarray], pyo.Block, tuple[float, ...]]:
    """Simulate ``span`` from the state ``now``: trajectories (absolute time), the block and
    its input step times."""
    (t_now, t_end), (element, ncp) = span, grid
    fc_exp = _shifted_experiment(experiment, "forecast", t_now, t_end - t_now, now)
    forecast = simulate_flowsheet(hf, fc_exp, specs, _grid_nfe(t_end - t_now, element), ncp,
                                  reported, options)
    return ({**forecast.trajectories(), "time": forecast.time + t_now},
            forecast.model.experiment[fc_exp.name], tuple(fc_exp.step_times()))


def estimate_flowsheet(hf: HybridFlowsheet, specs: Mapping[str, NetworkSpec] | None,
                       experiment: FlowsheetExperiment, t_now: float, window: float,
                       horizon_end: float | None = None, *, nfe: int, ncp: int,
                       settings: EstimationSettings | None = None,
                       state: Sequence[str] | None = None, arrival_cost: ArrivalCost | None = None,
                       tee: bool = False) -> FlowsheetEstimate:
    """Estimate the current state of a running flowsheet batch and forecast the rest of it.

    Parameters
    ----------
    hf : HybridFlowsheet
        The flowsheet the networks were trained on.
    specs : Mapping[str, NetworkSpec] or None
        The saved networks by term name (weights fixed); ``None``: no learned term.
    experiment : FlowsheetExperiment
        The batch in progress: recorded initial state (the prior's start), inputs
        (constants, steps, series), horizon and measurements (any subset of the
        variables; times after ``t_now`` ignored).
    t_now : float
        Current time; the last measurement must be at or after it.
    window : float
        Length of the estimation window (the whole batch so far if longer).
    horizon_end : float, optional
        End of the forecast; default the experiment's horizon.
    nfe, ncp : int
        Training discretization: elements of length ``horizon / nfe`` (unless
        ``settings.element_length``) on the window and the forecast, ``ncp`` Radau points.
    settings : EstimationSettings, optional
        Prior, noise and solver options (``unit_config`` is not used).
    state : Sequence[str], optional
        State variables; default the names of ``experiment.initial``.
    arrival_cost : ArrivalCost, optional
        Explicit prior on the window's initial state (overrides ``settings.prior``).
    tee : bool
        Stream the solver log.

    Returns
    -------
    FlowsheetEstimate

    Raises
    ------
    TwinRequestError
        A bad ``t_now``, ``window``, ``horizon_end``, state or arrival cost, or no data in the window.
    EstimationError
        The estimation solve failed.
    PredictionError
        The forecast (or the open-loop prior) simulation failed.
    DataError
        The batch cannot be simulated as given (e.g. an incomplete ``initial``); the message
        names ``experiments['<batch>']``.
    """
    try:
        return _estimate(hf, specs, experiment, t_now, window, horizon_end, nfe, ncp, settings,
                         state, arrival_cost, tee)
    except DataError as err:  # the open-loop, window and forecast parts are the user's batch
        message = str(err)
        for part in _PARTS:
            message = message.replace(f"experiments[{experiment.name + '_' + part!r}]",
                                      f"experiments[{experiment.name!r}]")
        raise DataError(message) from None


#: The experiments an estimate builds from the batch (``<batch>_<part>``).
_PARTS = ("open_loop", "window", "forecast")


def _estimate(hf: HybridFlowsheet, specs: Mapping[str, NetworkSpec] | None,
              experiment: FlowsheetExperiment, t_now: float, window: float,
              horizon_end: float | None, nfe: int, ncp: int, settings: EstimationSettings | None,
              state: Sequence[str] | None, arrival_cost: ArrivalCost | None,
              tee: bool) -> FlowsheetEstimate:
    """:func:`estimate_flowsheet` (its errors not yet named after the batch)."""
    settings, clock = settings or EstimationSettings(), time.perf_counter()
    t_now, t_s, t_end = check_request(experiment, t_now, window, horizon_end)
    names = flowsheet_state_names(experiment, state)
    element = finite_number(settings.element_length or experiment.horizon / nfe, "element_length")
    data, noise = window_data(experiment, t_s, t_now, settings)
    options = settings.solver_options
    guess = open_loop_state(hf, specs, experiment, names, t_s, element, ncp, options)
    arrival_cost = arrival_cost_for(guess, arrival_cost, settings, names)
    if arrival_cost is not None:
        guess = {n: arrival_cost.mean[n] for n in names}
    else:
        warn_unseen_states(names, data)
    win = _shifted_experiment(experiment, "window", t_s, t_now - t_s, guess, data,
                              {k: v for k, v in noise.items() if k in data.columns})
    m, blk, nets, n_obs = _window_problem(hf, specs, win, names, _grid_nfe(t_now - t_s, element),
                                          ncp, noise, arrival_cost)
    result = solve_estimate(m, nets, len(names), options, tee,
                            f"experiment {experiment.name!r}", (t_s, t_now))
    reported = list(dict.fromkeys([*names, *hf.variables]))
    est = series(hf, blk, reported, t_s)
    now = {n: float(est[n][-1]) for n in names}
    _log.info(f"estimate: {experiment.name!r} at t = {t_now:g} from {n_obs} measurements in "
              f"[{t_s:g}, {t_now:g}]: " + ", ".join(f"{k} = {v:.4g}" for k, v in now.items()))
    forecast, fc_block, fc_steps = _forecast(hf, specs, experiment, (t_now, t_end), now, (element, ncp),
                                   reported, options)
    return FlowsheetEstimate(
        experiment=experiment.name, t_now=t_now, window_start=t_s, horizon_end=t_end, state=now,
        window_initial={n: float(est[n][0]) for n in names}, estimate=est, forecast=forecast,
        arrival_cost=arrival_cost, noise_sd=noise, fit_rmse=flowsheet_rmse(blk, hf, win),
        n_observations=n_obs, status=result.status.value, iterations=result.iterations,
        objective=result.objective, wall_time_s=time.perf_counter() - clock, flowsheet=hf,
        forecast_model=fc_block, forecast_steps=fc_steps)
