"""The ``[uncertainty]`` table at the command line: Laplace bands after ``train`` and
band columns in ``predict``, on both paths (heavy imports inside the functions)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence


def validation_bands(make_spec: Callable[..., Any], experiments: Sequence, spec, alpha: float,
                     level: float, log: logging.Logger):
    """Covariance and validation bands of a trained network
    (:func:`~idaes_hybrid.uncertainty.laplace.validation_uncertainty`), or ``None`` with a
    warning when the training experiments cannot be re-simulated (the model is kept)."""
    from idaes_hybrid.model.experiment import Role
    from idaes_hybrid.uncertainty.laplace import UncertaintyError, validation_uncertainty

    train = [e for e in experiments if e.role is Role.TRAIN]
    val = [e for e in experiments if e.role is Role.VALIDATION]
    try:
        return validation_uncertainty(make_spec, train, val, spec, float(alpha), level)
    except UncertaintyError as err:
        log.warning(f"uncertainty: no bands: {err}")
        return None


def unit_spec_factory(config, physics: Mapping[str, float] | None = None,
                      network_inputs: Sequence[str] | None = None):
    """The unit path's inner-problem spec factory for a run configuration."""
    import functools

    from idaes_hybrid.decomposition.inner import InnerSpec

    return functools.partial(
        InnerSpec, definition=config.definition, disc=config.discretization,
        physics=dict(physics if physics is not None else config.physics),
        network_inputs=tuple(network_inputs if network_inputs is not None else config.network_inputs),
        unit_config=dict(config.training.unit_config))


def unit_uncertainty(config, result, log: logging.Logger):
    """After a unit-path training: the Laplace bands if the config has ``[uncertainty]``."""
    if config.uncertainty is None:
        return None
    return validation_bands(unit_spec_factory(config), config.experiments, result.spec,
                            result.regularization["alpha"], config.uncertainty.level, log)


def saved_bands(make_spec: Callable[..., Any], experiment, spec, saved: Mapping[str, Any],
                names: Sequence[str]):
    """Bands of ``experiment`` from a saved model's ``uncertainty`` entry."""
    from idaes_hybrid.output.saved import ModelFileError
    from idaes_hybrid.uncertainty.laplace import LaplaceCovariance, prediction_bands

    try:
        cov = LaplaceCovariance.from_dict(saved)
        level = float(saved["level"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"uncertainty: not a saved covariance ({err})") from None
    if cov.covariance.shape != (spec.n_parameters, spec.n_parameters):
        raise ModelFileError(f"uncertainty.covariance: shape {cov.covariance.shape} does not match "
                             f"the network's {spec.n_parameters} weights")
    return prediction_bands(make_spec, experiment, spec, cov.covariance, level, names)


def unit_bands(config, saved, experiment, names: Sequence[str]):
    """Bands of a unit-path prediction from the saved model (``saved.uncertainty``)."""
    make = unit_spec_factory(config, saved.physics, saved.network_inputs)
    return saved_bands(make, experiment, saved.spec, saved.uncertainty, names)


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
