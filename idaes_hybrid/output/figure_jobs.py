"""Draw a run's figures, side by side on the machine's cores when that is safe.

Rendering a training run's figures takes longer than anything else after the training
(the bioreactor's ``fit.png`` about 1.0 s, ``learned_rate.png`` 0.6 s on a 2-core machine,
measured 2026-12-04), and each figure is independent of the others. On a POSIX system,
with no other thread running in the process, all but the last figure are drawn in forked
child processes while the process itself draws the last one; otherwise they are drawn one
after the other. Either way a figure that cannot be drawn is a warning, never a failed
run: the trained model matters more than its pictures.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

#: A figure job: draws and writes the figure to the path it is given.
FigureJob = Callable[[Path], Any]


def forking_is_safe() -> bool:
    """Whether a forked child can draw a figure: fork exists, only this thread runs, and
    no library with threads of its own (TensorFlow) has been loaded."""
    return (hasattr(os, "fork") and threading.active_count() == 1
            and "tensorflow" not in sys.modules and (os.cpu_count() or 1) > 1)


def _draw(name: str, job: FigureJob, directory: Path, log: logging.Logger) -> bool:
    try:
        job(directory / name)
        return True
    except Exception as err:  # noqa: BLE001 - keep the trained model whatever happens
        log.warning(f"plot {name} not written: {type(err).__name__}: {err}")
        return False


def _fork_draw(name: str, job: FigureJob, directory: Path) -> tuple[int, int]:
    """Draw in a forked child; returns its pid and the pipe its error message comes on.
    The child never returns."""
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        stream.flush()
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid:
        os.close(write_end)
        return pid, read_end
    code = 1
    try:
        os.close(read_end)
        try:
            job(directory / name)
            code = 0
        except Exception as err:  # noqa: BLE001 - reported by the parent
            os.write(write_end, f"{type(err).__name__}: {err}".encode(errors="replace")[:4000])
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    finally:  # no exit handlers, no interpreter shutdown: they belong to the parent
        os._exit(code)


def _wait(pid: int, read_end: int, name: str, log: logging.Logger) -> bool:
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        message = f"its drawing process ended by signal {os.WTERMSIG(status)}"
    elif os.WEXITSTATUS(status) == 0:
        return True
    log.warning(f"plot {name} not written: {message or 'its drawing process failed'}")
    return False


def write_figures(jobs: Mapping[str, FigureJob], directory: Path, log: logging.Logger,
                  parallel: bool = True) -> list[str]:
    """Run ``job(directory / name)`` for each figure; failures are logged warnings.

    Parameters
    ----------
    jobs : Mapping[str, callable]
        File name -> a function that draws that figure to the path it is given.
    directory : pathlib.Path
        Where the figures go.
    log : logging.Logger
        Gets a warning for each figure that could not be written.
    parallel : bool, optional
        Draw in forked processes when :func:`forking_is_safe` (default True). A single
        figure is always drawn in this process.

    Returns
    -------
    list[str]
        The names of the figures written.
    """
    items = list(jobs.items())
    children: list[tuple[tuple[int, int], str]] = []
    if parallel and len(items) > 1 and forking_is_safe():
        spare = os.cpu_count() - 1  # the process itself draws on the last core
        for name, job in items[:-1][:spare]:
            try:
                children.append((_fork_draw(name, job, directory), name))
            except OSError as err:  # no process to spare (EAGAIN, ENOMEM): draw it here
                log.debug(f"plot {name}: drawn in this process ({err})")
                break
        items = items[len(children):]
    done = [name for name, job in items if _draw(name, job, directory, log)]
    done += [name for (pid, pipe), name in children if _wait(pid, pipe, name, log)]
    order = list(jobs)
    return sorted(done, key=order.index)
