"""Figures drawn side by side in forked processes: files, warnings, failures."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from idaes_hybrid.output import figure_jobs
from idaes_hybrid.output.figure_jobs import write_figures

pytestmark = pytest.mark.unit


def _writer(text: str):
    def job(path):
        path.write_text(f"{text} {os.getpid()}")
    return job


def _failing(path):
    raise ValueError("no data to draw")


def _killed(path):
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture
def fork_allowed(monkeypatch):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    monkeypatch.setattr(figure_jobs, "forking_is_safe", lambda: True)


def test_all_but_last_figure_drawn_in_a_child_process(tmp_path, fork_allowed):
    done = write_figures({"a.png": _writer("a"), "b.png": _writer("b")}, tmp_path,
                         logging.getLogger("test"))
    assert done == ["a.png", "b.png"]
    a_text, a_pid = (tmp_path / "a.png").read_text().split()
    b_text, b_pid = (tmp_path / "b.png").read_text().split()
    assert (a_text, b_text) == ("a", "b")
    assert int(b_pid) == os.getpid() and int(a_pid) != os.getpid()


@pytest.mark.parametrize("parallel", [True, False])
def test_a_failing_figure_is_a_warning_naming_it_and_the_others_are_written(
        tmp_path, caplog, fork_allowed, parallel):
    with caplog.at_level(logging.WARNING, logger="test"):
        done = write_figures({"fit.png": _failing, "rate.png": _writer("r")}, tmp_path,
                             logging.getLogger("test"), parallel=parallel)
    assert done == ["rate.png"]
    assert not (tmp_path / "fit.png").exists() and (tmp_path / "rate.png").exists()
    assert "plot fit.png not written: ValueError: no data to draw" in caplog.text


def test_a_drawing_process_killed_by_a_signal_is_reported(tmp_path, caplog, fork_allowed):
    with caplog.at_level(logging.WARNING, logger="test"):
        done = write_figures({"fit.png": _killed, "rate.png": _writer("r")}, tmp_path,
                             logging.getLogger("test"))
    assert done == ["rate.png"]
    assert f"plot fit.png not written: its drawing process ended by signal {int(signal.SIGKILL)}" \
        in caplog.text


def test_without_safe_fork_the_figures_are_drawn_here_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(figure_jobs, "forking_is_safe", lambda: False)
    done = write_figures({"b.png": _writer("b"), "a.png": _writer("a")}, tmp_path,
                         logging.getLogger("test"))
    assert done == ["b.png", "a.png"]
    pids = {int((tmp_path / n).read_text().split()[1]) for n in done}
    assert pids == {os.getpid()}


def test_fork_is_not_safe_with_another_thread_running():
    import threading

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not figure_jobs.forking_is_safe()
    finally:
        stop.set()
        worker.join()


def test_when_no_process_can_be_forked_the_figures_are_drawn_here(tmp_path, fork_allowed, monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(figure_jobs.os, "fork", no_fork)
    done = write_figures({"a.png": _writer("a"), "b.png": _writer("b")}, tmp_path,
                         logging.getLogger("test"))
    assert done == ["a.png", "b.png"]
    pids = {int((tmp_path / n).read_text().split()[1]) for n in done}
    assert pids == {os.getpid()}


def test_a_loop_document_is_drawn_with_a_round_without_a_plant_result(tmp_path):
    from PIL import Image

    from idaes_hybrid.output.optimization_plots import plot_loop_document

    doc = {"rounds": [{"round": 1, "true": 2.5, "predicted": 3.0},
                      {"round": 2, "true": None, "predicted": 2.9},
                      {"round": 3, "true": 2.95, "predicted": 2.97}]}
    done = write_figures({"loop.png": lambda p: plot_loop_document(doc, p, 3.0)}, tmp_path,
                         logging.getLogger("test"))
    assert done == ["loop.png"]
    with Image.open(tmp_path / "loop.png") as image:
        assert image.format == "PNG" and min(image.size) > 100
