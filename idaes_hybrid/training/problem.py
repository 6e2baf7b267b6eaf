"""Shared pieces of the training NLPs: the discretization, interpolation of the
collocation polynomials at measurement times (data need not sit on the collocation
grid), noise levels and observation scales of the weighted least-squares fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.environ import units as pyunits


from idaes_hybrid.model.noise import estimate_noise_sd
from idaes_hybrid.training.experiment import DataError, Experiment


@dataclass(frozen=True)
class Discretization:
    """Radau collocation settings: finite elements and points per element."""

    nfe: int = 20
    ncp: int = 3

    def __post_init__(self) -> None:
        if int(self.nfe) < 1:
            raise DataError(f"discretization.nfe={self.nfe} must be a positive integer")
        if not 1 <= int(self.ncp) <= 10:
            raise DataError(f"discretization.ncp={self.ncp} must be between 1 and 10")


def interpolation_weights(time_set, t_obs: float, steps: Collection[float] = ()) -> list[tuple[float, float]]:
    """Lagrange weights that give a state at ``t_obs`` from the collocation points.

    Returns ``(grid time, weight)`` pairs over the finite element holding
    ``t_obs`` (its left boundary and its collocation points), so that
    ``x(t_obs) = sum(w * x[t])`` exactly for the collocation polynomial.
    An element that starts at one of ``steps`` (input steps) leaves its left
    boundary out: there the model holds the values before the step, and a quantity
    that follows the inputs at once (the outlet of a unit without holdup) jumps.
    """
    grid = list(time_set)
    for t in grid:
        if abs(t - t_obs) <= 1e-9 * max(1.0, abs(t_obs)):
            return [(t, 1.0)]
    fe = list(time_set.get_finite_elements())
    k = int(np.searchsorted(fe, t_obs) - 1)
    k = min(max(k, 0), len(fe) - 2)
    open_left = any(abs(fe[k] - s) <= 1e-9 * max(1.0, abs(s)) for s in steps)
    nodes = [t for t in grid if fe[k] < t <= fe[k + 1] or (t == fe[k] and not open_left)]
    weights = []
    for i, ti in enumerate(nodes):
        w = 1.0
        for j, tj in enumerate(nodes):
            if j != i:
                w *= (t_obs - tj) / (ti - tj)
        weights.append((ti, w))
    return weights


def state_at(unit, name: str, time_set, t_obs: float):
    """Pyomo expression of state ``name`` at ``t_obs`` (interpolated on the grid)."""
    var = getattr(unit, name)
    return sum(w * var[t] for t, w in interpolation_weights(time_set, t_obs))


def noise_levels(experiments: Sequence[Experiment]) -> dict[str, dict]:
    """Per measured variable, the noise sd the fit divides by and where it comes from.

    ``source`` is ``"given"`` (every experiment measuring it gives ``noise_sd``),
    ``"estimated"`` (:func:`~idaes_hybrid.model.noise.estimate_noise_sd` from the
    series themselves, input steps excluded) or ``"data spread"`` (too few data to
    estimate: the standard deviation of the values).
    """
    names = sorted({v for e in experiments for v in e.measured_variables})
    out = {}
    for name in names:
        measuring = [e for e in experiments if name in e.measured_variables]
        sds = [(e.noise_sd or {}).get(name) for e in measuring]
        if sds and all(s is not None and s > 0 for s in sds):
            out[name] = {"sd": float(np.mean(sds)), "source": "given"}
            continue
        series = [(e.measurements[name].dropna().index.to_numpy(float),
                   e.measurements[name].dropna().to_numpy(float)) for e in measuring]
        est = estimate_noise_sd(series, [e.input_steps() for e in measuring])
        values = np.concatenate([y for _, y in series])
        floor = 1e-6 * max(1.0, float(np.abs(values).max()))
        if est is not None and est.sd > floor:
            out[name] = {"sd": est.sd, "source": "estimated", "n_residuals": est.n_residuals}
        else:
            out[name] = {"sd": float(max(np.std(values), floor)), "source": "data spread"}
    return out


def observation_scales(experiments: Sequence[Experiment]) -> dict[str, float]:
    """Per-variable weights of the fit: the noise sd of :func:`noise_levels`."""
    return {name: level["sd"] for name, level in noise_levels(experiments).items()}


def experiment_fit_sums(m: pyo.Block, experiments: Sequence[Experiment],
                        scales: dict[str, float]) -> dict[str, tuple]:
    """Per experiment: (sum of squared scaled residuals, number of observations)."""
    out = {}
    for exp in experiments:
        blk = m.experiment[exp.name]
        times, names, values = exp.observations()
        terms = []
        for t_obs, name, y in zip(times, names, values):
            x = state_at(blk.fs.unit, name, blk.fs.time, float(t_obs))
            var = getattr(blk.fs.unit, name)  # units of an element: a Reference has none itself
            terms.append(((x / pyunits.get_units(var[blk.fs.time.first()]) - float(y)) / scales[name]) ** 2)
        out[exp.name] = (sum(terms), len(terms))
    return out


