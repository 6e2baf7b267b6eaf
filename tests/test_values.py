"""Copying variable values between blocks built the same way (``solve.values``)."""

from __future__ import annotations

import pyomo.environ as pyo
import pytest

from idaes_hybrid.solve.values import copy_block_values

pytestmark = pytest.mark.unit


def _block(m: pyo.ConcreteModel, name: str) -> pyo.Block:
    blk = pyo.Block([name])
    setattr(m, "experiment", blk)
    b = blk[name]
    b.x = pyo.Var([1, 2], initialize=0.0)
    b.sub = pyo.Block()
    b.sub.y = pyo.Var(initialize=0.0)
    b.fixed = pyo.Var(initialize=7.0)
    b.fixed.fix()
    return b


def test_values_are_copied_by_path_relative_to_the_blocks_and_fixed_ones_kept():
    source = _block(pyo.ConcreteModel(), "e")
    target_model = pyo.ConcreteModel()
    target_model.member = pyo.Block([0])
    target = _block(target_model.member[0], "e")  # member[0].experiment[e]: another full name
    source.x[1].set_value(1.5)
    source.x[2].set_value(-2.0)
    source.sub.y.set_value(3.25)
    source.fixed.value = 99.0
    assert copy_block_values(source, target) == 3
    assert [target.x[1].value, target.x[2].value, target.sub.y.value] == [1.5, -2.0, 3.25]
    assert target.fixed.value == 7.0
