"""IDAES's own solves after ``import idaes_hybrid`` on a machine without ``ipopt``."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pyomo.environ as pyo
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import pyomo.environ as pyo
from pyomo.environ import units as pyunits
import idaes_hybrid                                   # configures IDAES's default solver
from idaes.core import FlowsheetBlock
from idaes.core.solvers import get_solver
from idaes.core.util.initialization import propagate_state
sys.path.insert(0, "flowsheets/saponification")
from model import build_true
m = pyo.ConcreteModel()
m.fs = FlowsheetBlock(dynamic=True, time_set=[0, 60], time_units=pyunits.s)
build_true(m.fs)
pyo.TransformationFactory("network.expand_arcs").apply_to(m)
pyo.TransformationFactory("dae.collocation").apply_to(m.fs, nfe=10, ncp=3, scheme="LAGRANGE-RADAU",
                                                      wrt=m.fs.time)
for j, c in {"H2O": 55388, "NaOH": 2, "EthylAcetate": 2, "SodiumAcetate": 0, "Ethanol": 0}.items():
    m.fs.feed.conc_mol_comp[:, j].fix(c)
m.fs.feed.pressure.fix(101325); m.fs.feed.flow_vol.fix(1e-3); m.fs.feed.temperature.fix(303)
m.fs.r1.volume.fix(5e-3); m.fs.r1.heat_duty.fix(1e4)
m.fs.fix_initial_conditions()
m.fs.feed.initialize()
propagate_state(m.fs.s01)
m.fs.r1.initialize()
res = get_solver().solve(m)
print(json.dumps({"solver": get_solver().name, "condition": str(res.solver.termination_condition),
                  "c": pyo.value(m.fs.r1.outlet.conc_mol_comp[60, "NaOH"]),
                  "T": pyo.value(m.fs.r1.outlet.temperature[60])}))
"""


@pytest.mark.component
def test_cstr_initialize_and_get_solver_work_after_import(tmp_path):
    """A dynamic IDAES CSTR: ``initialize()`` and ``get_solver().solve()`` run on real Ipopt
    (cyipopt) with nothing configured; the steady start stays at the analytic steady state."""
    if shutil.which("ipopt") is not None:
        pytest.skip("a real ipopt executable is on PATH: IDAES uses it directly")
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["solver"] == "idaes_hybrid_ipopt" and got["condition"] == "optimal"
    sys.path.insert(0, str(ROOT / "flowsheets" / "saponification"))
    from model import arrhenius

    k, flow, vol, c0 = arrhenius(got["T"]), 1e-3, 5e-3, 2.0
    c_ref = (-flow + math.sqrt(flow**2 + 4 * vol * k * flow * c0)) / (2 * vol * k)
    assert got["c"] == pytest.approx(c_ref, rel=1e-5)


@pytest.mark.component
def test_plugin_reports_infeasible_problems():
    from idaes_hybrid.solve.idaes_plugin import CyIpoptNLPlugin

    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.c = pyo.Constraint(expr=m.x == 2)
    m.o = pyo.Objective(expr=m.x)
    res = CyIpoptNLPlugin().solve(m)
    assert not pyo.check_optimal_termination(res)
