"""The prior precision the training data support: MacKay's evidence, iterated to its fixed
point with warm re-solves of the training model.

The training objective is the negative log posterior ``NLL(theta) + alpha/2 ||theta||^2``
(:mod:`idaes_hybrid.training.regularization`). At its minimum, the Hessian of the data term
``H = sum_e (N_e / 2) d^2 V_e / d theta^2`` (each experiment's reduced Hessian with its
states eliminated, the Laplace posterior's data part) has eigenvalues ``lambda_i``; the
number of weights the data determine is

.. math::

    \\gamma = \\sum_i \\frac{\\lambda_i}{\\lambda_i + \\alpha},

and the evidence (marginal likelihood) is stationary in ``alpha`` where
``alpha = gamma / ||theta||^2`` (MacKay 1992). Each step re-estimates ``alpha`` so and
re-solves the training model from its solution; a step that reverses the previous one's
direction is halved (in ``log alpha``). Measured on fed-batch data sets
(benchmarks/results/evidence.md): the fixed point lies at 2-4 for the generated fed-batch
sets and near 1 for the Leslie-Gower model of the own-model how-to, and the runs with and
without ``noise_sd`` agree there where they did not at a fixed ``alpha = 1``.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import pyomo.environ as pyo

import idaes.logger as idaeslog

from idaes_hybrid.decomposition.inner import InnerProblem
from idaes_hybrid.model.experiment import observation_count
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.solve.solver import SolveResult
from idaes_hybrid.solve.values import restore_values, unfixed_values
from idaes_hybrid.training.regularization import RegularizationChoice, RegularizationSource

_log = idaeslog.getLogger(__name__)

#: Largest number of re-solves at a re-estimated prior precision.
MAX_REFITS = 3
#: A re-estimate within this factor of the prior precision it was computed at ends the path.
CONVERGED_RATIO = 1.1
#: Tight inner solves: the Hessian is taken at the solution.
HESSIAN_OPTIONS = {"tol": 1e-10, "max_iter": 500, "print_level": 0}


class EvidenceError(RuntimeError):
    """The data Hessian could not be computed; the message names the experiment."""


def data_hessian(make_spec: Callable, train_experiments: Sequence, network_spec: NetworkSpec,
                 scales: Mapping[str, float],
                 starts: Mapping[str, Mapping[str, float]] | None = None,
                 built: dict[str, InnerProblem] | None = None) -> np.ndarray:
    """``sum_e (N_e / 2) d^2 V_e / d theta^2`` at the weights of ``network_spec``.

    ``make_spec(experiment=, network=, scales=, slack_penalty=, options=[, start=])`` builds an
    experiment's inner problem (``V_e`` its mean squared scaled residual, states eliminated);
    ``starts`` gives each experiment's values at the trained point (no march). A built
    inner spec (with ``build_model``) in place of the factory serves every experiment.
    ``built`` keeps each experiment's inner problem by name between calls (the evidence's
    later estimates re-use them, restarted from ``starts``, instead of building them again).
    """
    theta = network_spec.flat_parameters()
    hessian = np.zeros((theta.size, theta.size))
    for exp in train_experiments:
        if observation_count(exp) == 0:  # no data: the fit has no curvature there
            continue
        start = (starts or {}).get(exp.name)
        problem = (built or {}).get(exp.name)
        if problem is not None and start:
            problem.restart_from(start)
        elif problem is None:
            spec = make_spec if hasattr(make_spec, "build_model") else make_spec(
                experiment=exp, network=network_spec, scales=scales, slack_penalty=None,
                options=dict(HESSIAN_OPTIONS), **({"start": dict(start)} if start else {}))
            problem = InnerProblem(spec)
            if built is not None:
                built[exp.name] = problem
        res = problem.simulate(theta, hessian=True)
        if not res.ok or res.hessian is None:
            raise EvidenceError(f"experiments[{exp.name!r}]: the simulation with the trained weights "
                                f"failed ({res.status.value})")
        hessian += 0.5 * observation_count(exp) * res.hessian
    return 0.5 * (hessian + hessian.T)


def effective_parameters(hessian: np.ndarray, alpha: float) -> float:
    """``gamma = sum_i lambda_i / (lambda_i + alpha)`` over the eigenvalues of ``hessian``
    (negative ones, of a saddle or an unconverged fit, count as 0)."""
    vals = np.clip(np.linalg.eigvalsh(0.5 * (hessian + hessian.T)), 0.0, None)
    return float(np.sum(vals / (vals + alpha))) if alpha > 0 else float(np.count_nonzero(vals))


def evidence_alpha(hessian: np.ndarray, theta: np.ndarray, alpha: float) -> tuple[float, float]:
    """``(gamma, gamma / ||theta||^2)``: the well-determined weights and the prior
    precision the evidence asks for, at the solution for ``alpha``."""
    gamma = effective_parameters(hessian, alpha)
    return gamma, gamma / max(float(np.dot(theta, theta)), 1e-300)


def _next_alpha(alpha: float, target: float, previous_step: float) -> float:
    """``target``, or halfway (in ``log alpha``) if the step reverses the previous one."""
    step = math.log(target / alpha)
    if previous_step * step < 0:
        step *= 0.5
    return alpha * math.exp(step)


def evidence_path(m: pyo.Block, solve: Callable[[str], SolveResult],
                  hessian_at: Callable[[], np.ndarray], theta_of: Callable[[], np.ndarray],
                  max_refits: int = MAX_REFITS, ratio: float = CONVERGED_RATIO) -> RegularizationChoice:
    """Re-estimate the prior precision of the solved training model ``m`` and re-solve it.

    Parameters
    ----------
    m
        The solved training model (its ``prior_precision`` the start).
    solve
        Re-solves ``m`` from its current values (the argument names the solve for the log),
        without raising on failure.
    hessian_at, theta_of
        The data Hessian (:func:`data_hessian`) and the flat weights at ``m``'s solution.
    max_refits, ratio
        At most this many re-solves; a re-estimate within ``ratio`` of the current value ends
        the path.

    Returns
    -------
    RegularizationChoice
        Source ``evidence``; ``path`` holds per step ``alpha``, ``gamma``, ``theta_norm2`` and
        ``evidence_alpha``; ``data_hessian`` the last Hessian when it was taken at the final
        solution. ``m`` is left solved at the choice. A failed re-solve or Hessian keeps the
        last good solution (``reason`` says why).
    """
    tick, alpha = time.perf_counter(), float(pyo.value(m.prior_precision))
    path, reason, iterations, previous, at_alpha = [], "", 0, 0.0, None
    for k in range(max_refits + 1):
        try:
            hessian = at_alpha = hessian_at()
        except EvidenceError as err:
            reason = f"no data Hessian at alpha={alpha:.4g}: {err}"
            _log.warning(f"evidence: {reason}; keeping alpha={alpha:.4g}"
                         + ("" if path else " (the start: set [training] regularization to choose it)"))
            break
        theta = theta_of()
        gamma, target = evidence_alpha(hessian, theta, alpha)
        path.append({"alpha": alpha, "gamma": gamma, "theta_norm2": float(np.dot(theta, theta)),
                     "evidence_alpha": target})
        _log.info(f"evidence: alpha={alpha:.4g}: gamma={gamma:.4g} of {theta.size} weights, "
                  f"||theta||^2={path[-1]['theta_norm2']:.4g} -> {target:.4g}")
        if abs(math.log(target / alpha)) <= math.log(ratio) or k == max_refits:
            break
        new = _next_alpha(alpha, target, previous)
        base = unfixed_values(m)
        m.prior_precision.set_value(new)
        res = solve(f"train with alpha={new:.4g} (evidence)")
        iterations += res.iterations or 0
        if not (res.ok and res.solution_loaded):
            restore_values(base)
            m.prior_precision.set_value(alpha)
            reason = f"the re-solve with alpha={new:.4g} failed ({res.status.value})"
            _log.warning(f"evidence: {reason}; keeping alpha={alpha:.4g}")
            break
        previous, alpha, at_alpha = math.log(new / alpha), new, None
    wall = time.perf_counter() - tick
    if path and not reason and abs(math.log(path[-1]["evidence_alpha"] / alpha)) > math.log(ratio):
        reason = (f"not settled after {max_refits} re-solves: the last estimate "
                  f"{path[-1]['evidence_alpha']:.4g} is {abs(path[-1]['evidence_alpha'] / alpha - 1):.0%} from "
                  f"alpha={alpha:.4g}, which is kept (the evidence is flat there)")
    _log.info(f"evidence: alpha={alpha:.4g} after {len(path)} estimates ({wall:.1f} s)"
              + (f"; {reason}" if reason else ""))
    return RegularizationChoice(alpha, RegularizationSource.EVIDENCE, path, reason, wall, iterations, at_alpha)
