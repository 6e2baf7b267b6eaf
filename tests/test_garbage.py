"""The command line's garbage-collector thresholds: set from Python's defaults, a user's
own left alone, and cycles still collected."""

from __future__ import annotations

import gc
import weakref

import pytest

from idaes_hybrid.solve.garbage import PYTHON_DEFAULT, THRESHOLDS, collect_garbage_less_often


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.unit
def test_defaults_are_raised_once_and_a_users_choice_is_kept(thresholds):
    gc.set_threshold(*PYTHON_DEFAULT)
    assert collect_garbage_less_often() and gc.get_threshold() == THRESHOLDS
    assert collect_garbage_less_often() and gc.get_threshold() == THRESHOLDS  # idempotent
    gc.set_threshold(2000, 5, 5)
    assert not collect_garbage_less_often() and gc.get_threshold() == (2000, 5, 5)


@pytest.mark.unit
def test_cycles_are_still_collected_without_an_explicit_collect(thresholds):
    """A reference cycle dropped amid many allocations is freed by the collector's own runs."""
    gc.set_threshold(*PYTHON_DEFAULT)
    collect_garbage_less_often()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    junk = [[] for _ in range(5 * THRESHOLDS[0] * THRESHOLDS[1])]  # enough for a generation-1 run
    del junk
    for _ in range(3 * THRESHOLDS[0]):
        _ = [[]]
    assert alive() is None
