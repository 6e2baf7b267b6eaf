"""Tests for idaes_hybrid.solve.solver: discovery, solve results, crashes, IDAES hook-up."""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from pathlib import Path

import pyomo.environ as pyo
import pytest

import idaes_hybrid.solve.solver as S
from idaes_hybrid.solve.solver import (
    PLUGIN_NAME,
    NLPSolver,
    SolveResult,
    SolverChoice,
    SolverCrashError,
    SolverFailedError,
    SolverNotFoundError,
    SolveStatus,
    get_nlp_solver,
)
from idaes_hybrid.solve.idaes_default import configure_idaes_default_solver, reset_idaes_default_solver

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fake solvers are shell scripts")
HS071_OBJ = 17.014017145179164
HS071_X = (1.0, 4.742999643, 3.821149978, 1.379408293)


# --------------------------------------------------------------------------- models
def rosenbrock() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=-1.2)
    m.y = pyo.Var(initialize=1.0)
    m.obj = pyo.Objective(expr=(1 - m.x) ** 2 + 100 * (m.y - m.x**2) ** 2)
    return m


def hs071() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(1, 4)
    m.x = pyo.Var(m.I, bounds=(1, 5), initialize={1: 1, 2: 5, 3: 5, 4: 1})
    m.prod = pyo.Constraint(expr=m.x[1] * m.x[2] * m.x[3] * m.x[4] >= 25)
    m.sumsq = pyo.Constraint(expr=sum(m.x[i] ** 2 for i in m.I) == 40)
    m.obj = pyo.Objective(expr=m.x[1] * m.x[4] * (m.x[1] + m.x[2] + m.x[3]) + m.x[3])
    return m


def infeasible() -> pyo.ConcreteModel:
    """A disc and a half-plane that do not meet."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=0.1)
    m.y = pyo.Var(initialize=0.2)
    m.disc = pyo.Constraint(expr=m.x**2 + m.y**2 <= 1)
    m.line = pyo.Constraint(expr=m.x + m.y >= 3)
    m.obj = pyo.Objective(expr=(m.x - 1) ** 2 + m.y**2)
    return m


def fake_solver(tmp_path: Path, name: str, body: str, version: str = "fakesolver 1.0.0") -> Path:
    """A shell script that answers --version/-v and otherwise runs ``body``."""
    path = tmp_path / name
    path.write_text(f'#!/bin/sh\ncase "$1" in -v|--version) echo "{version}"; exit 0;; esac\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def pounce() -> NLPSolver:
    return get_nlp_solver(solver="pounce")


@pytest.fixture
def idaes_configured():
    yield configure_idaes_default_solver(solver="pounce")
    reset_idaes_default_solver()


# --------------------------------------------------------------------------- discovery
@pytest.mark.unit
def test_not_found_when_nothing_is_installed(monkeypatch):
    monkeypatch.setattr(S, "_find_ipopt", lambda: None)
    monkeypatch.setattr(S, "_find_pounce", lambda: None)
    with pytest.raises(SolverNotFoundError) as err:
        get_nlp_solver()
    msg = str(err.value)
    assert isinstance(err.value, RuntimeError)
    assert "ipopt" in msg and "pounce" in msg.lower()
    assert "pip install pounce-solver" in msg and "idaes get-extensions" in msg
    with pytest.raises(SolverNotFoundError, match="solver='ipopt'"):
        get_nlp_solver(solver=SolverChoice.IPOPT)
    with pytest.raises(SolverNotFoundError):
        configure_idaes_default_solver()


@pytest.mark.unit
def test_pounce_found_without_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH at all
    monkeypatch.delenv("IDAES_HYBRID_SOLVER", raising=False)
    solver = get_nlp_solver()
    assert solver.name == "pounce"
    assert os.access(solver.executable, os.X_OK)
    assert Path(solver.executable).resolve().is_relative_to(Path(sys.prefix).resolve())


@posix_only
@pytest.mark.unit
def test_real_ipopt_preferred_but_pounce_named_ipopt_is_not(monkeypatch, tmp_path):
    real, impostor = tmp_path / "real", tmp_path / "impostor"
    real.mkdir(), impostor.mkdir()
    fake_solver(real, "ipopt", "exit 0", version="Ipopt 3.14.16 (Linux x86_64), ASL(20231111)")
    fake_solver(impostor, "ipopt", "exit 0", version="pounce 0.13.0")
    monkeypatch.delenv("IDAES_HYBRID_SOLVER", raising=False)
    monkeypatch.setenv("PATH", str(real))
    assert get_nlp_solver().name == "ipopt"
    assert get_nlp_solver(solver="pounce").name == "pounce"
    monkeypatch.setenv("IDAES_HYBRID_SOLVER", "pounce")
    assert get_nlp_solver().name == "pounce"
    monkeypatch.delenv("IDAES_HYBRID_SOLVER")
    monkeypatch.setenv("PATH", str(impostor))
    assert S._find_ipopt() is None
    assert get_nlp_solver().name == "pounce"
    with pytest.raises(SolverNotFoundError, match="does not name POUNCE"):
        get_nlp_solver(solver="ipopt")


@pytest.mark.unit
def test_options_filtered_per_backend(caplog):
    with caplog.at_level(logging.WARNING):
        opts = S._filter_options("pounce", {"tol": 1e-8, "halt_on_ampl_error": "yes", "linear_solver": "ma27"})
    assert opts == {"tol": 1e-8, "solver_selection": "nlp"}
    assert "halt_on_ampl_error" in caplog.text and "ma27" in caplog.text
    assert S._filter_options("pounce", {"linear_solver": "ma57"})["linear_solver"] == "ma57"
    assert S._filter_options("ipopt", {"solver_selection": "nlp", "tol": 1e-6}) == {"tol": 1e-6}
    with pytest.raises(ValueError):
        NLPSolver("auto", "/bin/true")


@pytest.mark.unit
def test_parse_ipopt_style_log():
    log = (
        "Number of Iterations....: 12\n\n                                   (scaled)                 (unscaled)\n"
        "Constraint violation....:   1.0e-09    2.5e-09\n"
        "Total seconds in IPOPT                               = 0.042\n\nEXIT: Optimal Solution Found.\n"
    )
    assert S._parse_log(log) == (12, 0.042, 2.5e-09)
    assert S._parse_log("garbage") == (None, None, None)


@pytest.mark.unit
def test_raise_if_failed():
    bad = SolveResult(SolveStatus.FAILED, "POUNCE: RestorationFailed", 7, 0.1, None, "pounce", "log")
    with pytest.raises(SolverFailedError, match=r"training step 3: pounce .*FAILED.*RestorationFailed") as err:
        bad.raise_if_failed("training step 3")
    assert err.value.result is bad and not bad.ok
    good = SolveResult(SolveStatus.ACCEPTABLE, "ok", 7, 0.1, 1.0, "pounce", "log")
    assert good.ok and good.raise_if_failed("x") is good


# --------------------------------------------------------------------------- crashes
@posix_only
@pytest.mark.unit
def test_crash_nonzero_exit(tmp_path):
    exe = fake_solver(tmp_path, "pounce", 'for i in $(seq 1 40); do echo "output line $i"; done; exit 3')
    m = rosenbrock()
    with pytest.raises(SolverCrashError) as err:
        NLPSolver("pounce", exe).solve(m)
    assert isinstance(err.value, RuntimeError)
    assert err.value.solver_path == str(exe)
    assert str(exe) in str(err.value) and "exit code 3" in str(err.value)
    assert "output line 40" in err.value.log_tail and "output line 5\n" not in err.value.log_tail
    assert m.x.value == -1.2


@posix_only
@pytest.mark.unit
def test_crash_no_sol_file(tmp_path):
    exe = fake_solver(tmp_path, "pounce", 'echo "Segmentation fault (pretend)"; exit 0')
    with pytest.raises(SolverCrashError, match="Segmentation fault"):
        NLPSolver("pounce", exe).solve(rosenbrock())


@pytest.mark.unit
def test_crash_missing_executable(tmp_path):
    with pytest.raises(SolverCrashError, match="does-not-exist"):
        NLPSolver("pounce", tmp_path / "does-not-exist").solve(rosenbrock())


@pytest.mark.component
def test_crash_on_option_pounce_rejects(pounce):
    with pytest.raises(SolverCrashError, match="not a valid option"):
        pounce.solve(rosenbrock(), options={"no_such_option": 1})


# --------------------------------------------------------------------------- POUNCE solves
@pytest.mark.component
def test_hs071_optimum_and_result_fields(pounce):
    m = hs071()
    res = pounce.solve(m, options={"tol": 1e-8})
    assert res.status is SolveStatus.OPTIMAL and res.ok and res.solution_loaded
    assert res.objective == pytest.approx(HS071_OBJ, rel=1e-7)
    assert [pyo.value(m.x[i]) for i in m.I] == pytest.approx(HS071_X, abs=1e-6)
    assert res.iterations > 0 and res.wall_time_s > 0 and res.solver_time_s is not None
    assert res.solver_name == "pounce" and "SolveSucceeded" in res.termination_message
    assert f"Number of Iterations....: {res.iterations}" in res.log
    assert res.raise_if_failed("hs071") is res


@pytest.mark.component
def test_rosenbrock_and_option_precedence():
    solver = get_nlp_solver(options={"tol": 1e-10, "max_iter": 1})
    m = rosenbrock()
    assert solver.solve(m).status is SolveStatus.MAX_ITERATIONS  # constructor options used
    res = solver.solve(m, options={"max_iter": 100})  # call options win
    assert res.status is SolveStatus.OPTIMAL
    assert (m.x.value, m.y.value) == pytest.approx((1.0, 1.0), abs=1e-6)
    assert res.objective == pytest.approx(0.0, abs=1e-12)


@pytest.mark.component
def test_max_iterations_is_not_optimal(pounce):
    m = rosenbrock()
    res = pounce.solve(m, options={"max_iter": 1})
    assert res.status is SolveStatus.MAX_ITERATIONS and not res.ok
    assert "MaximumIterations" in res.termination_message
    # unconstrained, so the last iterate is feasible and loaded, but it is nowhere near optimal
    assert res.solution_loaded and res.objective > 1.0 and abs(m.x.value - 1.0) > 0.1
    with pytest.raises(SolverFailedError, match="MAX_ITERATIONS"):
        res.raise_if_failed("rosenbrock")


@pytest.mark.component
def test_infeasible(pounce):
    m = infeasible()
    res = pounce.solve(m)
    assert res.status is SolveStatus.INFEASIBLE and not res.ok
    assert not res.solution_loaded and res.objective is None
    assert (m.x.value, m.y.value) == (0.1, 0.2)  # the failed point was not loaded
    with pytest.raises(SolverFailedError, match="INFEASIBLE"):
        res.raise_if_failed("infeasible model")


@pytest.mark.component
def test_acceptable(pounce):
    res = pounce.solve(rosenbrock(), options={"tol": 1e-30, "acceptable_tol": 1e-2, "acceptable_iter": 2})
    assert res.status is SolveStatus.ACCEPTABLE and res.ok and res.solution_loaded


@pytest.mark.component
def test_limited_memory_hessian(pounce):
    m = hs071()
    res = pounce.solve(m, options={"hessian_approximation": "limited-memory", "print_timing_statistics": "yes"})
    assert res.status is SolveStatus.OPTIMAL
    assert res.objective == pytest.approx(HS071_OBJ, rel=1e-6)
    assert re.search(r"Number of Lagrangian Hessian evaluations\s*=\s*0\b", res.log)  # L-BFGS really used
    assert "Timing Statistics" in res.log


@pytest.mark.component
def test_tee_to_stdout_and_logger(pounce, capsys, caplog):
    pounce.solve(rosenbrock())
    assert "Number of Iterations" not in capsys.readouterr().out
    pounce.solve(rosenbrock(), tee=True)
    assert "Number of Iterations" in capsys.readouterr().out
    logger = logging.getLogger("test_solver_tee")
    with caplog.at_level(logging.INFO, logger="test_solver_tee"):
        res = pounce.solve(rosenbrock(), tee=True, logger=logger)
    lines = [r.getMessage() for r in caplog.records if r.name == "test_solver_tee"]
    assert any(line.startswith("Number of Iterations") for line in lines)
    assert any("OPTIMAL" in line for line in lines)  # the summary line
    assert "Number of Iterations" not in capsys.readouterr().out
    assert "Number of Iterations" in res.log


# --------------------------------------------------------------------------- IDAES get_solver
@pytest.mark.component
def test_idaes_get_solver_uses_pounce(idaes_configured):
    import idaes
    from idaes.core.solvers import get_solver

    assert idaes_configured == PLUGIN_NAME and idaes.cfg.default_solver == PLUGIN_NAME
    opt = get_solver()
    assert isinstance(opt, S.HybridNLPPlugin) and opt.backend.name == "pounce"
    assert opt.options["nlp_scaling_method"] == "gradient-based"  # IDAES default options, accepted
    m = hs071()
    results = opt.solve(m)
    assert pyo.check_optimal_termination(results)
    assert pyo.value(m.obj) == pytest.approx(HS071_OBJ, rel=1e-6)
    # What IDAES initializers ask for: "ipopt_v2" with its defaults (linear_solver=ma57,
    # writer_config) and per-call options.
    m = rosenbrock()
    opt = get_solver("ipopt_v2", solver_options={"tol": 1e-9}, writer_config={"scale_model": False})
    assert pyo.check_optimal_termination(opt.solve(m))
    assert (m.x.value, m.y.value) == pytest.approx((1.0, 1.0), abs=1e-6)


@pytest.mark.component
def test_idaes_reset_restores_defaults():
    import idaes
    from pyomo.opt import SolverFactory

    before = (idaes.cfg.default_solver, SolverFactory.get_class("ipopt_v2"))
    configure_idaes_default_solver(options={"max_iter": 50}, solver="pounce")
    configure_idaes_default_solver(solver="pounce")  # idempotent
    assert SolverFactory.get_class("ipopt_v2") is S.HybridNLPPlugin
    assert idaes.cfg[PLUGIN_NAME]["options"]["max_iter"] == 200
    reset_idaes_default_solver()
    assert (idaes.cfg.default_solver, SolverFactory.get_class("ipopt_v2")) == before


@pytest.mark.component
def test_training_workflow_points_idaes_get_solver_at_the_same_solver():
    """After the workflow ran, IDAES tools (initializers) solve with our solver."""
    from idaes.core.solvers import get_solver

    import shutil

    from idaes_hybrid.solve.idaes_plugin import CYIPOPT_PLUGIN_NAME
    from idaes_hybrid.solve.solver import PLUGIN_NAME
    from idaes_hybrid.solve.idaes_default import ensure_idaes_default_solver, reset_idaes_default_solver

    try:
        reset_idaes_default_solver()  # as on a fresh import
        ensure_idaes_default_solver()
        import idaes
        # no ipopt executable: real Ipopt through cyipopt; else the executable
        expected = PLUGIN_NAME if shutil.which("ipopt") else CYIPOPT_PLUGIN_NAME
        assert idaes.cfg.default_solver == expected
        m = pyo.ConcreteModel()
        m.x = pyo.Var(initialize=0.0)
        m.c = pyo.Constraint(expr=m.x**3 + m.x == 10.0)
        m.o = pyo.Objective(expr=0.0)
        res = get_solver().solve(m)
        assert pyo.check_optimal_termination(res)
        assert pyo.value(m.x) == pytest.approx(2.0, abs=1e-6)
    finally:
        reset_idaes_default_solver()
