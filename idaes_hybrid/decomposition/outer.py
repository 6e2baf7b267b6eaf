"""The outer loop of the decomposition: L-BFGS, Newton or Adam over the network weights.

The training loss is

.. math::

    \\Phi(\\theta) = \\sum_e w_e V_e(\\theta) + \\tfrac{\\alpha}{2} \\lVert \\theta - \\theta_0 \\rVert^2,
    \\qquad w_e = n_e / N,

with ``V_e`` each training experiment's inner optimal value
(:mod:`idaes_hybrid.decomposition.inner`), ``n_e`` its number of observations
and ``N`` theirs in all: with exact network equations this is the simultaneous
objective, evaluated in the reduced space of the weights. Its gradient is the
sum of the inner envelope gradients. A mini-batch ``B`` estimates it without
bias by ``(|E| / |B|) sum_{e in B} w_e V_e``. After every epoch the validation
experiments are simulated (inner problems without slacks), the best weights are
kept for early stopping and a checkpoint is written.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

import idaes.logger as idaeslog

from idaes_hybrid.decomposition import checkpoint as ckpt
from idaes_hybrid.decomposition.engine import Engine, Job
from idaes_hybrid.decomposition.inner import InnerSource, WarmPoint
from idaes_hybrid.decomposition.settings import DecompositionSettings, DecompositionStatus, Optimizer
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.model.experiment import observation_count
from idaes_hybrid.training.predict import pooled_rmse
from idaes_hybrid.training.problem import observation_scales

_log = idaeslog.getLogger(__name__)


class DecompositionError(RuntimeError):
    """The decomposition could not continue; the message names the experiment."""


@dataclass
class DecompositionResult:
    """What a decomposition run produced.

    Attributes
    ----------
    spec
        The best network (by validation loss, or training loss without validation).
    status
        ``converged``, ``early-stopped`` or ``max-epochs``.
    history
        One entry per epoch: ``epoch``, ``elapsed_s``, ``train_loss``,
        ``validation_loss``, ``validation_rmse``, ``learning_rate``,
        ``slack_penalty``, ``inner_solves``.
    """

    spec: NetworkSpec
    status: DecompositionStatus
    epochs: int
    history: list[dict]
    best_loss: float
    wall_time_s: float
    inner_solves: int
    resubmissions: int
    resumed_from: int | None = None


class _Outer:
    def __init__(self, make_spec, train_exps, val_exps, network, regularization, settings, starts,
                 anchor, engine, on_epoch):
        self.s, self.engine, self.on_epoch = settings, engine, on_epoch
        self.alpha = float(regularization)
        self.theta_ref = np.zeros(network.n_parameters) if anchor is None else np.asarray(anchor, float)
        self.run_id = uuid.uuid4().hex[:12]
        scales = observation_scales(train_exps)
        options = {**settings.inner_options, "print_level": 0}
        self.train = {e.name: make_spec(experiment=e, network=network, scales=scales, options=options,
                                        slack_penalty=settings.slack_penalty, slack_kind=settings.slack_kind,
                                        start=(starts or {}).get(e.name)) for e in train_exps}
        val_scales = {**observation_scales(val_exps), **scales} if val_exps else scales
        self.val = {e.name: make_spec(experiment=e, network=network, scales=val_scales, options=options,
                                      slack_penalty=None) for e in val_exps}
        n_tr = {e.name: observation_count(e) for e in train_exps}
        self.w = {k: v / sum(n_tr.values()) for k, v in n_tr.items()}
        n_va = {e.name: observation_count(e) for e in val_exps}
        self.w_val = {k: v / sum(n_va.values()) for k, v in n_va.items()} if val_exps else {}
        self.val_exps = list(val_exps)
        self.slot = {name: i for i, name in enumerate([*self.train, *self.val])}
        self.warm: dict[str, WarmPoint] = {}
        self.rho = settings.slack_penalty
        self.inner_solves = 0
        self.history: list[dict] = []

    def _run(self, specs: Mapping[str, InnerSource], names: Sequence[str], theta, gradient: bool,
             want_rmse: bool = False, hessian: bool = False):
        rho = self.rho if specs is self.train else None
        jobs = [Job(self.run_id, specs[n], theta, self.warm.get(n), gradient, want_rmse, hessian, rho)
                for n in names]
        results = self.engine.run(jobs, [self.slot[n] for n in names])
        self.inner_solves += len(results)
        for r in results:
            if r.ok:
                self.warm[r.name] = r.warm
        return results

    def loss_and_gradient(self, theta: np.ndarray, names: Sequence[str], hessian: bool = False,
                          strict: bool = True):
        """Mini-batch estimate of the training loss, its gradient (and Hessian).

        A failed inner solve raises :class:`DecompositionError` if ``strict``,
        else gives an infinite loss (a trust region or line search then steps back).
        """
        tick = time.perf_counter()
        results = self._run(self.train, names, theta, gradient=True, hessian=hessian)
        _log.debug(f"outer evaluation: {len(results)} inner solves, "
                   f"{sum(r.iterations for r in results)} inner iterations, "
                   f"{sum(r.wall_time_s for r in results):.2f} s in solves, {time.perf_counter() - tick:.2f} s wall")
        if failed := [r for r in results if not r.ok]:
            if not strict:
                _log.info(f"inner solve of {failed[0].name!r} failed ({failed[0].status.value}) at a trial "
                          "point; the outer step is rejected")
                return float("inf"), np.zeros_like(theta), (np.eye(len(theta)) if hessian else None)
            raise DecompositionError(
                f"inner solve of training experiment {failed[0].name!r} failed ({failed[0].status.value}); "
                "lower decomposition.learning_rate, set decomposition.slack_penalty, or check its data")
        k = len(self.train) / len(names)
        diff = theta - self.theta_ref
        loss = k * sum(self.w[r.name] * r.value for r in results) + 0.5 * self.alpha * float(diff @ diff)
        grad = k * sum(self.w[r.name] * r.gradient for r in results) + self.alpha * diff
        if not hessian:
            return float(loss), grad, None
        hess = k * sum(self.w[r.name] * r.hessian for r in results) + self.alpha * np.eye(len(theta))
        return float(loss), grad, hess

    def validate(self, theta: np.ndarray) -> tuple[float | None, dict[str, float]]:
        """Validation loss (mean scaled squared error) and pooled RMSE by simulation."""
        if not self.val:
            return None, {}
        results = self._run(self.val, list(self.val), theta, gradient=False, want_rmse=True)
        if not all(r.ok for r in results):
            bad = [r.name for r in results if not r.ok]
            _log.warning(f"validation simulation failed for {bad}; counting the epoch as no improvement")
            return float("inf"), {}
        loss = sum(self.w_val[r.name] * r.data_fit for r in results)
        return float(loss), pooled_rmse({r.name: r.rmse for r in results}, self.val_exps)


def decompose(
    make_spec: Callable[..., InnerSource],
    train_exps: Sequence,
    val_exps: Sequence,
    network: NetworkSpec,
    regularization: float,
    settings: DecompositionSettings | None = None,
    starts: Mapping[str, Mapping[str, float]] | None = None,
    anchor: np.ndarray | None = None,
    engine: Engine | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> DecompositionResult:
    """Train ``network``'s weights by the decomposition.

    Parameters
    ----------
    make_spec
        Builds one experiment's inner-problem spec from the keywords ``experiment``,
        ``network``, ``scales``, ``options``, ``slack_penalty`` (and ``slack_kind``,
        ``start``), e.g. a ``functools.partial`` of
        :class:`~idaes_hybrid.decomposition.flowsheet_inner.FlowsheetInnerSpec` on a
        flowsheet (a one-unit model's:
        :func:`~idaes_hybrid.model.unit_flowsheet.unit_flowsheet`).
    train_exps, val_exps
        Training and validation experiments (with ``name``, ``measurements``,
        ``measured_variables``).
    network
        Starting weights and the (fixed) normalization, e.g. after pre-training.
    regularization
        ``alpha`` of ``alpha / 2 * ||theta - anchor||^2``.
    starts
        Per training experiment, starting values by variable name (the smoother's).
    anchor
        Centre of the regularization (default: zero).
    engine
        Where inner solves run; default: from ``settings`` (closed at the end).
    on_epoch
        Called with each epoch's history entry (progress display).
    """
    s = settings or DecompositionSettings()
    tick = time.perf_counter()
    expected = ckpt.fingerprint(network, [e.name for e in train_exps], s.optimizer.value)
    state = ckpt.load(s.checkpoint_dir, expected) if s.checkpoint_dir and s.resume else None
    own_engine = engine is None
    engine = engine or Engine(s.n_workers, s.scheduler_address, s.retries)
    try:
        if state is not None:
            network = state.network
            _log.info(f"decomposition: resuming from the checkpoint of epoch {state.epoch} "
                      f"in {s.checkpoint_dir}")
        outer = _Outer(make_spec, train_exps, val_exps, network, regularization, s, starts, anchor,
                       engine, on_epoch)
        try:
            result = _optimize(outer, network, state, tick)
        finally:
            if not (own_engine and engine.cluster is not None):  # a local cluster ends with the run
                engine.forget(outer.run_id)
    finally:
        if own_engine:
            engine.close()
    return result


def _optimize(outer: _Outer, network: NetworkSpec, state, tick: float) -> DecompositionResult:
    s = outer.s
    if state is None:
        state = ckpt.OuterState(epoch=0, theta=network.flat_parameters(), best_theta=network.flat_parameters(),
                                best_loss=float("inf"), bad_epochs=0, network=network,
                                fingerprint=ckpt.fingerprint(network, list(outer.train), s.optimizer.value))
        resumed = None
    else:
        outer.warm.update(state.warm)
        outer.history = list(state.history)
        resumed = state.epoch
    base_elapsed = state.elapsed_s
    names = list(outer.train)

    stages = s.penalty_stages()

    def end_epoch(theta: np.ndarray, train_loss: float, lr: float | None) -> bool:
        """Validate, keep the best, checkpoint; True to stop."""
        state.epoch += 1
        final = state.stage >= len(stages) - 1
        judged = final or state.epoch % s.validate_every == 0 or not outer.val
        val_loss, val_rmse = outer.validate(theta) if judged else (None, {})
        metric = val_loss if outer.val else train_loss
        if not judged or (not outer.val and not final):
            pass  # without validation, only the last stage's (comparable) training losses count
        elif metric < state.best_loss * (1.0 - s.min_improvement) or not np.isfinite(state.best_loss):
            state.best_loss, state.best_theta, state.bad_epochs = metric, theta.copy(), 0
        elif final:  # patience counts in the last penalty stage only
            state.bad_epochs += 1
        state.theta = theta.copy()
        state.elapsed_s = base_elapsed + time.perf_counter() - tick
        entry = {"epoch": state.epoch, "elapsed_s": state.elapsed_s, "train_loss": train_loss,
                 "validation_loss": val_loss, "validation_rmse": val_rmse, "learning_rate": lr,
                 "slack_penalty": outer.rho, "inner_solves": outer.inner_solves}
        outer.history.append(entry)
        state.history = outer.history
        state.warm = {k: v for k, v in outer.warm.items() if k in outer.train}
        if s.checkpoint_dir:
            ckpt.save(s.checkpoint_dir, state)
        _log.info(f"epoch {state.epoch:4d}  rho {outer.rho if outer.rho is not None else '-':>6}  "
                  f"train loss {train_loss:.6e}  validation loss "
                  f"{'-' if val_loss is None else f'{val_loss:.6e}'}  ({state.elapsed_s:.1f} s)")
        if outer.on_epoch is not None:
            outer.on_epoch(entry)
        return state.bad_epochs >= s.patience

    status = DecompositionStatus.MAX_EPOCHS
    while state.stage < len(stages) and state.epoch < s.max_epochs:
        outer.rho = stages[state.stage]
        final = state.stage == len(stages) - 1
        if state.epoch == 0 and resumed is None:  # the start must be solvable: say which experiment is not
            outer.loss_and_gradient(state.theta, names, strict=True)
        gtol = s.gradient_tol if final else max(s.gradient_tol, 1e-4)
        if s.optimizer is Optimizer.NEWTON:
            status = _newton(outer, state, names, end_epoch, gtol)
        elif s.optimizer is Optimizer.LBFGS:
            status = _lbfgs(outer, state, names, end_epoch, gtol)
        else:
            status = _adam(outer, state, names, end_epoch)
        if final or status is DecompositionStatus.EARLY_STOPPED:
            break
        _log.info(f"decomposition: penalty stage rho = {outer.rho:g} {status} at epoch {state.epoch}")
        state.stage += 1
        state.bad_epochs = 0
    if not np.isfinite(state.best_loss):  # nothing judged (e.g. stopped before the last stage)
        state.best_theta = state.theta
    best = NetworkSpec.from_dict(network.to_dict())
    best.set_flat_parameters(state.best_theta)
    wall = time.perf_counter() - tick
    _log.info(f"decomposition: {status} after {state.epoch} epochs, {outer.inner_solves} inner solves, "
              f"{wall:.1f} s (best loss {state.best_loss:.6e})")
    return DecompositionResult(spec=best, status=status, epochs=state.epoch, history=outer.history,
                               best_loss=state.best_loss, wall_time_s=base_elapsed + wall,
                               inner_solves=outer.inner_solves, resubmissions=outer.engine.resubmissions,
                               resumed_from=resumed)


def _budget(outer: _Outer, state) -> int:
    """Epochs left for this continuation stage."""
    left = outer.s.max_epochs - state.epoch
    if state.stage < len(outer.s.penalty_stages()) - 1:
        left = min(left, outer.s.stage_epochs)
    return left


def _lbfgs(outer: _Outer, state, names, end_epoch, gtol: float) -> DecompositionStatus:
    from scipy.optimize import minimize

    last = {}

    def fun(theta):
        loss, grad, _ = outer.loss_and_gradient(np.asarray(theta, dtype=float), names, strict=False)
        if not np.isfinite(loss):  # a line search handles a large value better than inf
            return 1e30, last.get("grad", grad)
        last["grad"] = grad
        return loss, grad

    def callback(intermediate_result):
        if end_epoch(np.asarray(intermediate_result.x, dtype=float), float(intermediate_result.fun), None):
            raise StopIteration

    res = minimize(fun, state.theta, jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": _budget(outer, state), "gtol": gtol,
                            "ftol": 1e-12, "maxcor": 20})
    if state.bad_epochs >= outer.s.patience:
        return DecompositionStatus.EARLY_STOPPED
    if res.status == 0:
        if not state.history or not np.allclose(state.theta, res.x):
            end_epoch(np.asarray(res.x, dtype=float), float(res.fun), None)
        return DecompositionStatus.CONVERGED
    return DecompositionStatus.MAX_EPOCHS if res.status == 1 else _stopped(res.message)


def _stopped(message: str) -> DecompositionStatus:
    _log.warning(f"decomposition: the outer optimizer stopped: {message}")
    return DecompositionStatus.STOPPED


def _newton(outer: _Outer, state, names, end_epoch, gtol: float) -> DecompositionStatus:
    from scipy.optimize import minimize

    cache: dict[bytes, tuple] = {}

    def evaluate(theta):
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if key not in cache:
            cache.clear()  # only the latest point is asked for again
            cache[key] = outer.loss_and_gradient(theta, names, hessian=True, strict=False)
        return cache[key]

    def callback(intermediate_result):
        if end_epoch(np.asarray(intermediate_result.x, dtype=float), float(intermediate_result.fun), None):
            raise StopIteration

    budget = _budget(outer, state)
    res = minimize(lambda t: evaluate(t)[0], state.theta, jac=lambda t: evaluate(t)[1],
                   hess=lambda t: evaluate(t)[2], method="trust-exact", callback=callback,
                   options={"maxiter": budget, "gtol": gtol})
    if state.bad_epochs >= outer.s.patience:
        return DecompositionStatus.EARLY_STOPPED
    if res.success:
        return DecompositionStatus.CONVERGED
    return DecompositionStatus.MAX_EPOCHS if res.nit >= budget else _stopped(res.message)


def _adam(outer: _Outer, state, names, end_epoch, beta1: float = 0.9, beta2: float = 0.999,
          eps: float = 1e-8) -> DecompositionStatus:
    s = outer.s
    theta = state.theta.copy()
    m = state.adam_m if state.adam_m is not None else np.zeros_like(theta)
    v = state.adam_v if state.adam_v is not None else np.zeros_like(theta)
    size = s.batch_size or len(names)
    while state.epoch < s.max_epochs:
        lr = s.learning_rate_at(state.epoch)
        order = np.random.default_rng([s.seed, state.epoch]).permutation(len(names))
        losses, weights = [], []
        for i in range(0, len(names), size):
            batch = [names[j] for j in order[i:i + size]]
            loss, g, _ = outer.loss_and_gradient(theta, batch)
            losses.append(loss)
            weights.append(len(batch))
            state.adam_t += 1
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1 ** state.adam_t)
            v_hat = v / (1 - beta2 ** state.adam_t)
            theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        state.adam_m, state.adam_v = m, v
        if end_epoch(theta, float(np.average(losses, weights=weights)), lr):
            return DecompositionStatus.EARLY_STOPPED
    return DecompositionStatus.MAX_EPOCHS
