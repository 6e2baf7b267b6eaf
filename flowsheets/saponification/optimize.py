"""Heat-duty profile of the saponification CSTR: conversion against energy.

Minimize the time-averaged outlet NaOH plus the heat duty priced in the same
units, ``(1/tf) int (c_NaOH + W Q) dt``, over six piecewise-constant heat-duty
segments, while the feed warms from 300 K to 306 K at t = 60 s and the reactor
stays below 316 K. Solved on the trained hybrid flowsheet and on the true one;
the hybrid optimum is then evaluated on the true flowsheet.
"""

from __future__ import annotations

import pandas as pd
import pyomo.environ as pyo
from pyomo.environ import units as pyunits

from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet
from idaes_hybrid.optimize.flowsheet import Control, optimize_flowsheet, trapezoid
from idaes_hybrid.training.flowsheet_problem import simulate_flowsheet

from model import VARIABLES, build_true  # noqa: E402 - the case folder is on sys.path

HORIZON = 120.0
#: Price of one W of heat duty in mol/m^3 of outlet NaOH (a marginal trade-off near 310 K).
ENERGY_WEIGHT = 4.3e-6
T_MAX = 316.0
CONTROLS = [Control("Q", lower=0.0, upper=4.0e4, start=1.0e4)]
SEGMENTS = 6


def scenario() -> FlowsheetExperiment:
    """Feed flow fixed; the feed warms by 6 K half-way; steady start."""
    return FlowsheetExperiment("opt", HORIZON, pd.DataFrame(),
                               inputs={"F": 1.0e-3, "Tf": [[0, 300.0], [60, 306.0]]})


def objective(blk: pyo.Block):
    """Time-averaged outlet NaOH plus priced heat duty (dimensionless)."""
    c = HybridFlowsheet(None, [], VARIABLES).var(blk, "NaOH", "objective")
    q = blk.fs.r1.heat_duty
    return trapezoid(blk, lambda t: c[t] / (pyunits.mol / pyunits.m**3)
                     + ENERGY_WEIGHT * q[t] / pyunits.W) / HORIZON


def constraints(blk: pyo.Block) -> dict:
    """The reactor temperature stays below ``T_MAX`` at every time point."""
    temp = blk.fs.r1.control_volume.properties_out
    return {f"t_max_{i}": temp[t].temperature / pyunits.K <= T_MAX for i, t in enumerate(blk.fs.time)}


def optimize(hf: HybridFlowsheet, spec, nfe: int = 40):
    """The optimization on ``hf`` (trained: ``spec``; a true flowsheet: ``None``)."""
    return optimize_flowsheet(hf, scenario(), spec, CONTROLS, objective, constraints,
                              segments=SEGMENTS, nfe=nfe)


def evaluate_on_truth(inputs: dict, nfe: int = 40) -> float:
    """Objective of a heat-duty profile on the true flowsheet."""
    exp = scenario()
    exp = FlowsheetExperiment(exp.name, HORIZON, exp.measurements, inputs={**exp.inputs, **inputs})
    sim = simulate_flowsheet(HybridFlowsheet(build_true, [], VARIABLES), exp, None, nfe, 3)
    return float(pyo.value(objective(sim.model.experiment[exp.name])))
