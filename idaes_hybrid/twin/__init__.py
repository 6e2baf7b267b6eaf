"""Digital-twin operations on a saved hybrid model.

* :func:`~idaes_hybrid.twin.update.update_model`: re-train a saved model with new
  batches, warm-started from its weights, and report how the validation error moved.
* :func:`~idaes_hybrid.twin.unit_estimate.estimate_and_forecast`: moving-horizon
  estimate of a batch in progress from partial measurements, then a forecast to
  the end of the batch.
"""

from idaes_hybrid.twin.common import TwinRequestError, find_experiment
from idaes_hybrid.twin.estimate import (
    ArrivalCost, EstimationError, EstimationSettings, PriorMode, TwinEstimate)
from idaes_hybrid.twin.unit_estimate import estimate_and_forecast
from idaes_hybrid.twin.update import UpdateResult, UpdateStart, update_model

__all__ = ["ArrivalCost", "EstimationError", "EstimationSettings", "PriorMode", "TwinEstimate",
           "TwinRequestError", "UpdateResult", "UpdateStart", "estimate_and_forecast", "find_experiment",
           "update_model"]
