"""Experiments and measurements; moved to :mod:`idaes_hybrid.model.experiment`."""

from idaes_hybrid.model.experiment import (  # noqa: F401 - re-exported for old imports
    DataError, Experiment, Role, experiment_field, read_measurements, split_by_role)
