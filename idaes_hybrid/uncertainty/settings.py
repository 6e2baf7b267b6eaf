"""The ``[uncertainty]`` table: how prediction bands are computed."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class UncertaintyMethod(str, enum.Enum):
    """How the weights' uncertainty is estimated.

    ``LAPLACE``: a Gaussian posterior at the trained weights (reduced Hessian of the
    training NLP). ``ENSEMBLE``: members re-trained on bootstrap resamples of the
    training experiments.
    """

    LAPLACE = "laplace"
    ENSEMBLE = "ensemble"


class Resampling(str, enum.Enum):
    """What differs between an ensemble's members' data.

    ``RESIDUALS`` (default): every member fits all training experiments, each measurement
    perturbed by Gaussian noise of its variable's noise level (the spread is the
    estimator's scatter under the noise), and the band adds the prior's share of the
    Laplace posterior, propagated linearly (randomized MAP linearized in its prior draw).
    ``EXPERIMENTS``: a bootstrap resample of the training experiments, data as measured.
    ``BOTH``: a resample, then perturbed. Neither adds the prior share.
    """

    RESIDUALS = "residuals"
    EXPERIMENTS = "experiments"
    BOTH = "both"


@dataclass(frozen=True, kw_only=True)
class UncertaintySettings:
    """Settings of the ``[uncertainty]`` table.

    Attributes
    ----------
    method
        :class:`UncertaintyMethod` (or its value).
    members
        Ensemble size (``ensemble`` only), at least 2.
    level
        Probability of the two-sided band, in (0, 1).
    resample
        :class:`Resampling` (or its value): what differs between the members' data
        (``ensemble`` only).

    Raises
    ------
    ValueError
        Naming the field (``uncertainty.level: ...``).
    """

    method: UncertaintyMethod = UncertaintyMethod.LAPLACE
    members: int = 5
    level: float = 0.9
    resample: Resampling = Resampling.RESIDUALS

    def __post_init__(self) -> None:
        for name, kind in (("method", UncertaintyMethod), ("resample", Resampling)):
            try:
                object.__setattr__(self, name, kind(getattr(self, name)))
            except ValueError:
                choices = ", ".join(repr(m.value) for m in kind)
                raise ValueError(f"uncertainty.{name}: expected one of {choices}, "
                                 f"got {getattr(self, name)!r}") from None
        if isinstance(self.members, bool) or not isinstance(self.members, int) or self.members < 2:
            raise ValueError(f"uncertainty.members: expected an integer >= 2, got {self.members!r}")
        level = self.level
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not math.isfinite(level) \
                or not 0.0 < level < 1.0:
            raise ValueError(f"uncertainty.level: expected a number in (0, 1), got {level!r}")
        object.__setattr__(self, "level", float(level))

    def to_dict(self) -> dict:
        """The settings as plain JSON values."""
        return {"method": self.method.value, "members": self.members, "level": self.level,
                "resample": self.resample.value}


def band_quantile(level: float, dof: int | None = None) -> float:
    """Half-width of a two-sided ``level`` band in sds: the normal quantile
    ``z_{(1+level)/2}``, or Student's t quantile with ``dof`` degrees of freedom when the
    sd is estimated from ``dof + 1`` samples (then ``(truth - centre) / sd ~ t_dof``)."""
    from scipy.stats import norm
    from scipy.stats import t as student_t

    q = 0.5 * (1.0 + level)
    return float(norm.ppf(q) if dof is None else student_t.ppf(q, dof))
