"""Scaling of an NLP by the magnitudes of its starting point, for Ipopt's user scaling.

Ipopt scales constraints and the objective (``gradient-based``) but never variables, and
its stopping test asks the gradient of the Lagrangian to be small in the variables' own
units. On an IDAES flowsheet, energies in J (1e5) and heat duties in W (1e4) next to
concentrations of order 1, a dual infeasibility of 1e-7 per J stays below the tolerance
while the reduced gradient of a decision is of order 1: Ipopt then reports an optimum at a
point that is not stationary (or stalls there). Here every variable is scaled by
``1 / max(1, |x0|)`` and rows and objective get Ipopt's gradient-based rule in the scaled
variables (largest entry at most 100), so the stopping test is relative to the sizes
the model actually has.

:func:`round_off_scaling` keeps Ipopt's own rule for the unscaled solves and only scales
down rows whose terms are so large that their round-off exceeds the tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Largest gradient entry of a row (or the objective) after scaling, as Ipopt's
#: ``nlp_scaling_max_gradient``.
MAX_GRADIENT = 100.0
#: Smallest row or objective scaling factor, as Ipopt's ``nlp_scaling_min_value``.
MIN_FACTOR = 1e-8


def magnitude_scaling(problem: Any, x0: np.ndarray, n_rows: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Objective, variable and constraint scaling factors of a cyipopt-style problem.

    Parameters
    ----------
    problem
        An object with ``gradient(x)``, ``jacobianstructure()`` and ``jacobian(x)`` (the
        callback interface of ``cyipopt.Problem``).
    x0
        The starting point; variable ``j`` is scaled by ``1 / max(1, |x0[j]|)``.
    n_rows
        Number of constraints.

    Returns
    -------
    tuple
        ``(obj_scale, x_scale, g_scale)`` for ``set_problem_scaling`` with
        ``nlp_scaling_method = user-scaling``. A row whose largest entry with respect to
        the scaled variables exceeds :data:`MAX_GRADIENT` is scaled down to it (likewise
        the objective); the others keep factor 1.
    """
    x0 = np.asarray(x0, dtype=float)
    x_scale = 1.0 / np.maximum(1.0, np.abs(x0))
    rows, cols = (np.asarray(a, dtype=np.int64) for a in problem.jacobianstructure())
    entries = np.abs(np.asarray(problem.jacobian(x0), dtype=float)) / x_scale[cols]
    row_max = np.zeros(int(n_rows))
    np.maximum.at(row_max, rows, entries)
    g_scale = _factor(row_max)
    grad_max = float(np.max(np.abs(np.asarray(problem.gradient(x0), dtype=float)) / x_scale, initial=0.0))
    return float(_factor(np.array([grad_max]))[0]), x_scale, g_scale


def _factor(largest: np.ndarray) -> np.ndarray:
    """Ipopt's gradient-based factor: ``MAX_GRADIENT / largest`` where that is below 1."""
    safe = np.maximum(largest, 1e-300)  # an empty row: its factor is 1 (no overflow warning)
    return np.where(largest > MAX_GRADIENT, np.maximum(MAX_GRADIENT / safe, MIN_FACTOR), 1.0)


#: A row's round-off (a few units in the last place of its largest term) must stay this
#: many times below the solve's ``tol`` after scaling (:func:`round_off_scaling`).
ROUND_OFF_MARGIN = 10.0


def round_off_scaling(problem: Any, x0: np.ndarray, n_rows: int,
                      tol: float) -> tuple[float, np.ndarray, np.ndarray] | None:
    """Ipopt's own gradient-based scaling (variables unscaled), with each row's factor
    capped so that the round-off of its largest term, ``eps * max_j |J_ij| max(1, |x0_j|)``,
    is at most ``tol / ROUND_OFF_MARGIN`` after scaling; ``None`` when no cap binds (Ipopt's
    own scaling is then the same).

    A row whose terms are huge but whose gradient is moderate keeps factor 1 under
    Ipopt's rule: an IDAES energy holdup in a package whose time unit is minutes
    (kg m^2/min^2, 2e10 over elements of 0.08 min: terms of 1.8e11 with gradients below
    100) leaves a residual of 3e-5 that no step can reduce, above ``tol = 1e-8``, and Ipopt
    ran its 3000 iterations (restoration phases) at the optimum it had reached in 8.
    Returns ``(obj_scale, x_scale, g_scale)`` (``x_scale`` all ones) for ``set_problem_scaling`` with
    ``nlp_scaling_method = user-scaling``.
    """
    x0 = np.asarray(x0, dtype=float)
    rows, cols = (np.asarray(a, dtype=np.int64) for a in problem.jacobianstructure())
    jac = np.abs(np.asarray(problem.jacobian(x0), dtype=float))
    row_max, terms = np.zeros(int(n_rows)), np.zeros(int(n_rows))
    np.maximum.at(row_max, rows, jac)
    np.maximum.at(terms, rows, jac * np.maximum(1.0, np.abs(x0[cols])))
    g_scale = _factor(row_max)
    cap = float(tol) / (ROUND_OFF_MARGIN * np.finfo(float).eps * np.maximum(terms, 1.0))
    if not np.any(cap < g_scale):
        return None
    grad_max = float(np.max(np.abs(np.asarray(problem.gradient(x0), dtype=float)), initial=0.0))
    return (float(_factor(np.array([grad_max]))[0]), np.ones(len(x0)),
            np.maximum(np.minimum(g_scale, cap), MIN_FACTOR))
