"""State estimation and forecast of a batch of a saved one-unit model (``model = ...``).

:func:`estimate_and_forecast` runs the saved model as its one-unit flowsheet
(:func:`~idaes_hybrid.model.unit_flowsheet.unit_flowsheet`) through
:func:`~idaes_hybrid.twin.flowsheet_estimate.estimate_flowsheet`: the moving-horizon
estimate over the window and the forecast described in :mod:`idaes_hybrid.twin.estimate`.
The state is the set of the unit's states fixed at the start of a batch (all of them by
default).
"""

from __future__ import annotations

import dataclasses

from idaes_hybrid.model.unit_flowsheet import term_name, unit_experiment, unit_flowsheet
from idaes_hybrid.output.saved import SavedModel
from idaes_hybrid.training.experiment import Experiment
from idaes_hybrid.twin.common import check_experiments
from idaes_hybrid.twin.estimate import ArrivalCost, EstimationSettings, TwinEstimate, saved_noise_sd
from idaes_hybrid.twin.flowsheet_estimate import estimate_flowsheet


def estimate_and_forecast(saved: SavedModel, experiment: Experiment, t_now: float, window: float,
                          horizon_end: float | None = None, *, arrival_cost: ArrivalCost | None = None,
                          settings: EstimationSettings | None = None, tee: bool = False) -> TwinEstimate:
    """Estimate the current state of a running batch and forecast the rest of it.

    Parameters
    ----------
    saved : SavedModel
        The trained model (:func:`idaes_hybrid.output.saved.load_model`); weights stay fixed.
    experiment : Experiment
        The batch in progress: recorded initial state (the prior's start), inputs,
        horizon and measurements (partial states allowed; times after ``t_now`` ignored).
    t_now : float
        Current time; the last measurement must be at or after it.
    window : float
        Length of the estimation window (the last ``window`` hours; the whole
        batch so far if longer).
    horizon_end : float, optional
        End of the forecast; default the experiment's horizon.
    arrival_cost : ArrivalCost, optional
        Explicit prior on the window's initial state (overrides ``settings.prior``).
    settings : EstimationSettings, optional
        Prior, noise, grid, solver and unit options.
    tee : bool
        Stream the solver log.

    Returns
    -------
    TwinEstimate
        ``estimate`` and ``forecast`` hold ``time`` and every state, input and learned term.

    Raises
    ------
    TwinRequestError
        A bad ``t_now``, ``window``, ``horizon_end`` or arrival cost, or no data in the window.
    EstimationError
        The estimation solve failed.
    PredictionError
        The forecast (or the open-loop prior) simulation failed.
    """
    settings = settings or EstimationSettings()
    if settings.trained_noise_sd is None:
        settings = dataclasses.replace(settings, trained_noise_sd=trained_noise_sd(saved))
    check_experiments(saved, [experiment], "experiment")
    definition, disc = saved.definition, saved.discretization
    hf = unit_flowsheet(definition, saved.physics, saved.network_inputs, settings.unit_config)
    return estimate_flowsheet(hf, {term_name(definition): saved.spec},
                              unit_experiment(experiment, definition), t_now, window, horizon_end,
                              nfe=disc.nfe, ncp=disc.ncp, settings=settings,
                              arrival_cost=arrival_cost, tee=tee)


def trained_noise_sd(saved: SavedModel) -> dict[str, float]:
    """The noise sd per variable ``saved`` was trained with (its ``metrics.noise_sd``: given
    or estimated at training); empty for a model saved without them."""
    return saved_noise_sd((saved.metrics or {}).get("noise_sd"))
