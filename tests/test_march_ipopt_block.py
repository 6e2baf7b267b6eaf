"""The march's fallback for a block its damped Newton cannot solve: Ipopt on that square
block alone (``idaes_hybrid.solve.square_block``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from scipy.optimize import brentq

from idaes_hybrid.solve.nl_system import EquationSystem
from idaes_hybrid.solve.square_block import solve_square_block
from case_modules import case_module

CASE = Path(__file__).resolve().parents[1] / "benchmarks" / "cases" / "series_cstr"


@pytest.mark.unit
def test_ipopt_solves_the_block_inside_the_bounds_and_leaves_other_columns():
    """x^2 + y^2 = 4, x = y with x, y >= 0: the root (sqrt 2, sqrt 2), not its mirror
    image outside the bounds; z (not in the block) keeps its value."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 10), initialize=3.0)
    m.y = pyo.Var(bounds=(0, 10), initialize=0.5)
    m.z = pyo.Var(initialize=7.0)
    m.f = pyo.Constraint(expr=m.x ** 2 + m.y ** 2 == 4)
    m.g = pyo.Constraint(expr=m.x == m.y)
    m.h = pyo.Constraint(expr=m.z == m.x + 1)
    system = EquationSystem([m.f, m.g, m.h])
    cols = [system.column(m.x), system.column(m.y)]
    rows = [system.row_names.index("f"), system.row_names.index("g")]
    x, res = solve_square_block(system, system.get_x(), rows, cols, 1e-10)
    assert res <= 1e-10
    assert x[cols] == pytest.approx([np.sqrt(2.0)] * 2, abs=1e-9)
    assert x[system.column(m.z)] == 7.0


def _case():
    return case_module("series_cstr_model", CASE / "model.py")


def _hot_build(fs):
    """The series CSTR's truth with twice its heats of reaction: it ignites."""
    case = _case()
    case.build_true(fs)
    for r in ("R1", "R2"):
        getattr(fs.rxn, f"reaction_{r}").dh_rxn_ref.fix(2 * case.DH[r])


def _ignited_temperature(F: float, Tf: float, Q: float) -> float:
    """The steady state's energy balance with the mass balances solved (scipy brentq)."""
    case = _case()
    tau = case.VOLUME * case.DENS / F
    k = {r: (lambda T, r=r: case.K_310[r] * np.exp(-case.EA[r] / case.R_GAS * (1 / T - 1 / 310.0)))
         for r in case.EA}

    def balance(T):
        xa = case.FEED_X["A"] / (1 + k["R1"](T) * tau)
        xb = k["R1"](T) * tau * xa / (1 + k["R2"](T) * tau)
        heat = -case.VOLUME * case.DENS * 2 * (case.DH["R1"] * k["R1"](T) * xa + case.DH["R2"] * k["R2"](T) * xb)
        return F * case.CP * (Tf - T) + Q + heat
    return brentq(balance, 330.0, 400.0)


@pytest.mark.component
def test_the_march_reaches_an_ignited_steady_state(caplog):
    """Started at steady state with a hot feed, the reactor's only steady state is ignited
    (345 K); the march's Newton from the property package's 300 K stalls at a non-root, the
    block's Ipopt solve finds it, and no whole-horizon fallback is needed."""
    from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
    from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

    plant = HybridFlowsheet(_hot_build, [], {"F": "fs.feed.flow_mol[*]", "Tf": "fs.feed.temperature[*]",
                                             "Q": "fs.r1.heat_duty[*]",
                                             "T": "fs.r1.control_volume.properties_out[*].temperature"})
    exp = FlowsheetExperiment("hot", 200.0, pd.DataFrame(), inputs={"F": 10.0, "Tf": 310.0, "Q": 2000.0})
    with caplog.at_level(logging.WARNING):
        sim = simulate_flowsheet(plant, exp, None, nfe=4, ncp=3, outputs=["T"])
    assert "march did not converge" not in caplog.text
    T = np.asarray(sim.series["T"], float)
    assert T[0] == pytest.approx(_ignited_temperature(10.0, 310.0, 2000.0), abs=1e-3)
    assert T[0] > 340.0 and np.ptp(T) < 1e-3
