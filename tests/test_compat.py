"""Modules of the former flat layout are still importable: the same module objects."""

from __future__ import annotations

import importlib

import pytest

from idaes_hybrid.compat import MOVED


@pytest.mark.unit
@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_module_at_its_new_place(old):
    module = importlib.import_module(f"idaes_hybrid.{old}")
    assert module is importlib.import_module(f"idaes_hybrid.{MOVED[old]}")
    assert module.__name__ == f"idaes_hybrid.{MOVED[old]}"


@pytest.mark.unit
def test_documented_imports_of_the_former_layout_still_work():
    from idaes_hybrid.cases.fed_batch import FedBatchReactor
    from idaes_hybrid.config import ConfigError, load_run_config  # noqa: F401 - the package re-exports run
    from idaes_hybrid.io import load_model, save_model  # noqa: F401
    from idaes_hybrid.optimize import optimize_feed  # noqa: F401 - the package re-exports feed
    from idaes_hybrid.reuse.flowsheet_optimize import trapezoid
    from idaes_hybrid.units.fed_batch import FedBatchReactor as Old

    assert Old is FedBatchReactor
    assert trapezoid is importlib.import_module("idaes_hybrid.optimize.flowsheet").trapezoid
    with pytest.raises(AttributeError, match="idaes_hybrid.config.*no_such_name"):
        importlib.import_module("idaes_hybrid.config").no_such_name
