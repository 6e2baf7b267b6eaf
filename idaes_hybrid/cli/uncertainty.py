"""The ``[uncertainty]`` table at the command line: Laplace or ensemble bands after
``train`` and band columns in ``predict``, on both paths (heavy imports inside the
functions)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence


def _noise_sd(noise: Mapping | None) -> dict[str, float] | None:
    """``{variable: sd}`` of a run's ``TrainingResult.noise`` (``None`` without one)."""
    return {k: float(v["sd"]) for k, v in (noise or {}).items()} or None


def validation_bands(make_spec: Callable[..., Any], experiments: Sequence, spec, alpha: float,
                     level: float, log: logging.Logger, noise: Mapping | None = None,
                     starts: Mapping | None = None, hessian=None):
    """Covariance and validation bands of a trained network
    (:func:`~idaes_hybrid.uncertainty.laplace.validation_uncertainty`), or ``None`` with a
    warning when the training experiments cannot be re-simulated (the model is kept).
    ``noise``: the run's ``TrainingResult.noise`` (for the prediction intervals' coverage);
    ``starts``: its ``solved_values`` (the Laplace solves start at the trained point);
    ``hessian``: its ``data_hessian`` (the evidence's, at the trained point: no Laplace solves)."""
    from idaes_hybrid.model.experiment import split_by_role
    from idaes_hybrid.uncertainty.laplace import UncertaintyError, validation_uncertainty

    train, val = split_by_role(experiments)
    noise_sd = _noise_sd(noise)
    try:
        return validation_uncertainty(make_spec, train, val, spec, float(alpha), level, noise_sd,
                                      starts=starts or None, hessian=hessian)
    except UncertaintyError as err:
        log.warning(f"uncertainty: no bands: {err}")
        return None


def is_ensemble(settings) -> bool:
    """Whether ``settings`` (``[uncertainty]``, or a saved ``uncertainty`` entry) is an ensemble."""
    method = settings.get("method") if isinstance(settings, Mapping) else settings.method
    return getattr(method, "value", method) == "ensemble"


def ensemble_bands_after_training(train_member: Callable[..., Any], simulate: Callable[..., Any],
                                  experiments: Sequence, spec, config, noise: Mapping | None = None,
                                  make_spec: Callable[..., Any] | None = None, alpha: float | None = None,
                                  starts: Mapping | None = None, hessian=None):
    """Members and validation bands of an ``[uncertainty] method = "ensemble"`` run
    (:func:`~idaes_hybrid.uncertainty.ensemble.ensemble_uncertainty`; on the Dask engine
    when ``training.method = "decomposition"``), or ``None``. ``noise``: the run's
    ``TrainingResult.noise`` (members' data are perturbed by its noise levels);
    ``make_spec``, ``alpha``: the spec factory and prior precision of the prior share
    (``resample = "residuals"``); ``starts``, ``hessian``: the run's ``solved_values`` and
    ``data_hessian``."""
    from idaes_hybrid.model.experiment import split_by_role
    from idaes_hybrid.uncertainty.ensemble import ensemble_uncertainty, ensemble_workers

    train, val = split_by_role(experiments)
    settings = config.uncertainty
    noise_sd = _noise_sd(noise)
    return ensemble_uncertainty(train_member, simulate, spec, train, val, settings.members, int(config.seed),
                                settings.level, ensemble_workers(config.training), noise_sd,
                                resample=settings.resample, make_spec=make_spec, alpha=alpha,
                                starts=starts or None, hessian=hessian)


def learned_term_band(spec, uncertainty):
    """The band of ``spec``'s learned output from a run's ``uncertainty`` (``None``
    without one): :class:`~idaes_hybrid.uncertainty.term_band.TermBand`."""
    if uncertainty is None:
        return None
    from idaes_hybrid.uncertainty.term_band import term_band

    return term_band(spec, uncertainty.saved())


def _nan_bands(experiment, base, names: Sequence[str], level: float, err: Exception):
    """NaN bands on the grid of ``base`` (the experiment's simulation), with a warning."""
    import numpy as np

    from idaes_hybrid.cli.common import LOGGER_NAME
    from idaes_hybrid.uncertainty.laplace import PredictionBands

    logging.getLogger(LOGGER_NAME + ".cli").warning(
        f"uncertainty: {str(err).removesuffix('; no bands')}; its band cells are left empty")
    nan = {k: np.full(len(base.time), np.nan) for k in names}
    return PredictionBands(experiment.name, level, np.asarray(base.time, dtype=float),
                           {k: np.asarray(base[k], dtype=float) for k in names}, nan)


def saved_bands(make_spec: Callable[..., Any], experiment, spec, saved: Mapping[str, Any],
                names: Sequence[str], base=None):
    """Bands of ``experiment`` from a saved model's ``uncertainty`` entry; NaN bands, with a
    warning, when the simulation with fixed weights fails (given ``base``, the experiment's
    simulation, whose grid they take)."""
    from idaes_hybrid.output.saved import ModelFileError
    from idaes_hybrid.uncertainty.laplace import LaplaceCovariance, UncertaintyError, prediction_bands

    try:
        cov = LaplaceCovariance.from_dict(saved)
        level = float(saved["level"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"uncertainty: not a saved covariance ({err})") from None
    if cov.covariance.shape != (spec.n_parameters, spec.n_parameters):
        raise ModelFileError(f"uncertainty.covariance: shape {cov.covariance.shape} does not match "
                             f"the network's {spec.n_parameters} weights")
    try:
        return prediction_bands(make_spec, experiment, spec, cov.covariance, level, names)
    except UncertaintyError as err:
        if base is None:
            raise
        return _nan_bands(experiment, base, names, level, err)


def saved_ensemble_bands(simulate: Callable[..., Any], experiment, base, spec, saved: Mapping[str, Any],
                         names: Sequence[str], make_spec: Callable[..., Any] | None = None):
    """Bands of ``experiment`` (its base simulation ``base``) from a saved ensemble, with
    its prior share when it has one (``make_spec`` propagates it); NaN bands, with a
    warning, when fewer than 2 members can simulate it."""
    from idaes_hybrid.output.saved import ModelFileError
    from idaes_hybrid.uncertainty.ensemble import EnsembleMembers, predicted_bands, prior_band
    from idaes_hybrid.uncertainty.laplace import UncertaintyError

    try:
        members = EnsembleMembers.from_dict(saved)
        level = float(saved["level"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"uncertainty: not a saved ensemble ({err})") from None
    for i, member in enumerate(members.specs):
        if list(member.sizes) != list(spec.sizes):
            raise ModelFileError(f"uncertainty.members[{i}]: sizes {list(member.sizes)} do not match "
                                 f"the network's {list(spec.sizes)}")
    try:
        prior = prior_band(make_spec, experiment, spec, members.prior_covariance, names, level)
        return predicted_bands(simulate, experiment, base, members.specs, names, level, prior)
    except UncertaintyError as err:
        return _nan_bands(experiment, base, names, level, err)


def with_band_columns(frame, bands):
    """``frame`` (a ``time`` column and predicted columns) with ``<var>_lower`` and
    ``<var>_upper`` after each column that ``bands`` covers."""
    import numpy as np

    if not np.allclose(bands.time, frame["time"].to_numpy()):
        raise ValueError("discretization: the bands' time grid is not the prediction's")
    out = {}
    for col in frame.columns:
        out[col] = frame[col].to_numpy()
        if col in bands.mean:
            out[f"{col}_lower"], out[f"{col}_upper"] = bands.lower[col], bands.upper[col]
    return type(frame)(out)
