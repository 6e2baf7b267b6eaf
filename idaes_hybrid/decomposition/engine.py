"""Where the inner solves run: in this process, or on a Dask distributed cluster.

Dask distributed is the engine because it is pure Python and pip-installable
with the rest of the stack, starts a local cluster of worker processes with one
call (:class:`distributed.LocalCluster`), connects to a remote scheduler by its
address alone, reschedules the tasks of a worker that dies (its nanny restarts
the process) and ships arbitrary Python objects (Pyomo/IDAES model definitions
travel by reference, experiments by value) with cloudpickle. Ray would do the
same with a heavier runtime and no gain for a few hundred short tasks.

Each worker keeps the inner problems it has built (:data:`_PROBLEMS`), so a
re-solve for new weights only costs the solve; tasks prefer the worker that
solved the same experiment before, and warm starts travel with the task, so a
task that lands on another worker (or on a restarted one) rebuilds its problem
and still starts from the previous solution.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

import idaes.logger as idaeslog

from idaes_hybrid.decomposition.inner import InnerProblem, InnerResult, InnerSource, WarmPoint

_log = idaeslog.getLogger(__name__)

#: Inner problems built in this process, by (run id, experiment name); bounded.
_PROBLEMS: OrderedDict[tuple[str, str], InnerProblem] = OrderedDict()
_MAX_PROBLEMS = 512


class EngineError(RuntimeError):
    """Inner solves could not be run (cluster unreachable, repeated worker loss)."""


def scheduler_unreachable(address: str, timeout: float = 10.0) -> str | None:
    """Why a TCP connection to the Dask scheduler at ``address`` (``tcp://host:port``,
    ``tls://...`` or ``host:port``; port 8786 if none) fails, or ``None`` when it connects.
    Other transports are left to Dask. A check before any work, without importing Dask."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):
        return None
    try:
        host, port = parts.hostname, parts.port or 8786
    except ValueError as err:  # a port that is not a number
        return str(err)
    if not host:
        return "the address names no host"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as err:
        return str(err) or type(err).__name__


@dataclass
class Job:
    """One inner solve: which problem, for which weights, from where."""

    run_id: str
    spec: InnerSource
    theta: np.ndarray
    warm: WarmPoint | None = None
    gradient: bool = True
    want_rmse: bool = False
    hessian: bool = False
    slack_penalty: float | None = None


def solve_inner(job: Job) -> InnerResult:
    """Solve ``job`` in this process, building (and caching) its problem if needed."""
    key = (job.run_id, job.spec.name)
    problem = _PROBLEMS.get(key)
    if problem is None:
        problem = InnerProblem(job.spec)
        _PROBLEMS[key] = problem
        while len(_PROBLEMS) > _MAX_PROBLEMS:
            _PROBLEMS.popitem(last=False)
    else:
        _PROBLEMS.move_to_end(key)
    if job.slack_penalty is not None:
        problem.set_slack_penalty(job.slack_penalty)
    return problem.simulate(job.theta, job.warm, job.gradient, job.want_rmse, job.hessian)


def forget_run(run_id: str) -> None:
    """Drop this process's inner problems of ``run_id``."""
    for key in [k for k in _PROBLEMS if k[0] == run_id]:
        del _PROBLEMS[key]


class Engine:
    """Runs batches of inner solves.

    Parameters
    ----------
    n_workers
        Worker processes of a local Dask cluster; ``0`` solves in this process,
        one after the other (no Dask).
    address
        Address of a running Dask scheduler (``tcp://host:8786``); overrides
        ``n_workers``.
    retries
        How many times a batch is resubmitted after Dask gave up on it because
        its workers kept dying (``KilledWorker``) or the connection broke, before
        :class:`EngineError`. (A single dead worker costs no resubmission: the
        scheduler reruns its tasks elsewhere.) Errors raised by a task propagate.
    task
        The function that runs a :class:`Job` (tests substitute a faulty one).
    connect_timeout
        Seconds to wait for a remote scheduler.
    """

    def __init__(self, n_workers: int = 2, address: str | None = None, retries: int = 2,
                 task: Callable[[Job], InnerResult] = solve_inner, connect_timeout: float = 30.0):
        self.n_workers, self.address, self.retries, self.task = n_workers, address, retries, task
        self.connect_timeout = connect_timeout
        self.client = None
        self.cluster = None
        self.resubmissions = 0
        if address or n_workers > 0:
            self._connect()

    @property
    def distributed(self) -> bool:
        """Whether solves run on a Dask cluster."""
        return self.client is not None

    def _connect(self) -> None:
        from distributed import Client, LocalCluster

        tick = time.perf_counter()
        try:
            if self.address:
                self.client = Client(self.address, timeout=f"{self.connect_timeout}s")
            else:
                self.cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.WARNING)
                self.client = Client(self.cluster)
        except OSError as err:
            raise EngineError(f"decomposition.scheduler_address: cannot reach Dask scheduler "
                              f"{self.address!r}: {err}") from None
        workers = self.client.scheduler_info().get("workers", {})
        _log.info(f"Dask cluster ready in {time.perf_counter() - tick:.1f} s: {len(workers)} workers"
                  + (f" at {self.address}" if self.address else " (local)"))

    def _workers(self) -> list[str]:
        return sorted(self.client.scheduler_info().get("workers", {}))

    def run(self, jobs: Sequence[Job], slots: Sequence[int] | None = None) -> list[InnerResult]:
        """Run ``jobs`` and return their results in order.

        ``slots`` (one integer per job, e.g. the experiment's index) map jobs to
        preferred workers, so each experiment tends to stay where its problem is
        built.
        """
        if not self.distributed:
            return [self.task(job) for job in jobs]
        from distributed import KilledWorker

        slots = list(range(len(jobs))) if slots is None else list(slots)
        for attempt in range(self.retries + 1):
            workers = self._workers()
            futures = []
            for job, slot in zip(jobs, slots):
                # prefer the worker that holds the problem; any worker if none is listed
                where = {"workers": [workers[slot % len(workers)]], "allow_other_workers": True} \
                    if workers else {}
                futures.append(self.client.submit(self.task, job, pure=False, **where))
            try:
                return self.client.gather(futures)
            except (KilledWorker, OSError, EOFError) as err:
                self.resubmissions += 1
                _log.warning(f"inner solves lost a worker ({type(err).__name__}: {err}); "
                             f"resubmitting (attempt {attempt + 2} of {self.retries + 1})")
                for f in futures:
                    f.cancel()
        raise EngineError(f"inner solves failed {self.retries + 1} times in a row; "
                          "the last checkpoint (if any) holds the run")

    def forget(self, run_id: str) -> None:
        """Free the inner problems of ``run_id`` in this process and on every worker."""
        forget_run(run_id)
        if self.distributed:
            try:
                self.client.run(forget_run, run_id)
            except Exception as err:  # noqa: BLE001 - freeing memory must not fail a finished run
                _log.debug(f"could not free the workers' inner problems: {err}")

    def close(self) -> None:
        """Shut a local cluster down (a remote one is only disconnected)."""
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
