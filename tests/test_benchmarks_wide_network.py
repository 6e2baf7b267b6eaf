"""The wide-network benchmark's configs (no training run)."""

from __future__ import annotations

import tomllib

import pytest

from benchmarks.wide_network import wide_config

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("hessian, expected", [("default", None), ("limited-memory", "limited-memory"),
                                               ("exact", "exact")])
def test_wide_config_sets_the_width_and_the_hessian_asked_for(tmp_path, hessian, expected):
    """The shipped config has no ``hessian`` key (``auto``); each setting is written under
    ``[training]``, and ``default`` leaves it out."""
    config = tomllib.loads(wide_config(tmp_path, 40, hessian).read_text())
    assert config["network"]["hidden"] == [40, 40]
    assert config["training"].get("hessian") == expected
    assert config["training"]["regularization"] == 1.86
    assert all(e["data"].startswith("/") for e in config["experiments"])
