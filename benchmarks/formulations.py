"""Benchmark: how the network is written into the NLP, and which Hessian the solver uses.

Runs :func:`idaes_hybrid.training.train.train` on the bioreactor case
(``flowsheets/bioreactor/config.toml``) once per case below and writes
``benchmarks/results/formulations.md`` and ``benchmarks/results/formulations.json``.

Cases (``formulation``, ``hessian``):

* ``batched-exact``: BATCHED + exact Hessian, the package default.
* ``batched-lbfgs``: BATCHED + limited-memory (L-BFGS) Hessian.
* ``batched-exact-pounce``: the default again, but with POUNCE's callback
  interior point instead of Ipopt + MUMPS (a control: it separates what the
  formulation buys from what the interior-point implementation buys, since the
  NESTED and LIFTED cases can only run through the POUNCE ``.nl`` executable).
* ``nested-exact``, ``nested-lbfgs``: the network written into the ``.nl`` file
  as one nested expression per output and point.
* ``lifted-exact``: a variable and a constraint per hidden unit and point.

NESTED and LIFTED are slow, so every case runs under a solver time budget
(the Ipopt option ``max_cpu_time``, applied to every solve of the run); a case
that hits it ends in :class:`~idaes_hybrid.training.train.TrainingError` and is
reported with the iterations it did and the time it spent.

Instrumentation (all undone when a case ends, and none of it changes what is
solved): a logging handler on ``idaes.idaes_hybrid`` records the package's own
log lines (stage summaries; the batched solve's "network Hessians X s"); the
package's ``solve_hybrid`` is wrapped to keep each solve's
:class:`~idaes_hybrid.solve.solver.SolveResult` even when the stage then fails; and
when the ``.nl`` solver is POUNCE, it is started through a tiny shell wrapper
that adds ``--json-output`` so its solve report (KKT matrix size, factor fill,
factorization time) can be read back.

Run with ``python -m benchmarks.formulations`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import re
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "flowsheets" / "bioreactor" / "config.toml"
RESULTS = Path(__file__).resolve().parent / "results"
LOGGER_NAME = "idaes.idaes_hybrid"
_REPORT_ENV = "IDAES_HYBRID_BENCH_POUNCE_REPORT"


@dataclass(frozen=True)
class Case:
    """One benchmark case."""

    name: str
    formulation: str  # Formulation value
    hessian: str  # HessianMode value
    budget_s: float  # max_cpu_time of every solve
    backend: str = "default"  # "pounce": force POUNCE's callback interior point (BATCHED only)
    note: str = ""


CASES: tuple[Case, ...] = (
    Case("batched-exact", "batched", "exact", 600.0, note="package default"),
    Case("batched-lbfgs", "batched", "limited-memory", 240.0),
    Case("batched-exact-pounce", "batched", "exact", 240.0, backend="pounce",
         note="control: POUNCE callbacks instead of Ipopt + MUMPS"),
    Case("nested-exact", "nested", "exact", 240.0),
    Case("nested-lbfgs", "nested", "limited-memory", 240.0),
    Case("lifted-exact", "lifted", "exact", 120.0),
)


# ----------------------------------------------------------------------------- environment
def machine_info() -> dict[str, Any]:
    """Platform, CPU model, core count and RAM of this machine."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024**2, 1)
                break
    except (OSError, ValueError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_model": cpu, "cores": os.cpu_count(), "usable_cores": usable, "ram_gb": ram_gb}


def package_versions() -> dict[str, str | None]:
    """Versions of the packages the benchmark exercises."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for dist in ("idaes-hybrid", "pyomo", "idaes-pse", "pounce-solver", "cyipopt", "cyipopt-wheels",
                 "numpy", "tensorflow", "keras"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:  # the `cyipopt` module may come from the cyipopt-wheels distribution
        import cyipopt

        out["cyipopt (module)"] = getattr(cyipopt, "__version__", None)
        ipv = getattr(cyipopt, "IPOPT_VERSION", None)
        out["ipopt (in cyipopt)"] = ".".join(map(str, ipv)) if ipv else None
    except ImportError:
        out["cyipopt (module)"] = None
    return out


def git_revision() -> str | None:
    """Commit of the working tree, with ``+dirty`` if it has changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_busy_s() -> float | None:
    """Busy CPU seconds of the whole machine (all cores) since boot, from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def other_load(seconds: float = 5.0) -> float | None:
    """Cores kept busy by other processes over the next ``seconds`` (this process idles)."""
    busy0 = _cpu_busy_s()
    time.sleep(seconds)
    busy1 = _cpu_busy_s()
    return None if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0) / seconds)


def wait_until_idle(max_wait_s: float, threshold: float = 0.3) -> float | None:
    """Wait (up to ``max_wait_s``) until other processes use less than ``threshold`` cores;
    returns the last measurement."""
    deadline = time.monotonic() + max_wait_s
    load = other_load()
    announced = False
    while load is not None and load >= threshold and time.monotonic() < deadline:
        if not announced:
            print(f"      waiting for the machine to be idle (other processes use {load:.2f} cores; "
                  f"up to {max_wait_s:.0f} s)", flush=True)
            announced = True
        time.sleep(10)
        load = other_load()
    return load


# ----------------------------------------------------------------------------- instrumentation
class _Capture(logging.Handler):
    """Keeps (perf_counter time, message) of every record."""

    def __init__(self, echo: bool):
        super().__init__(logging.INFO)
        self.records: list[tuple[float, str]] = []
        self.echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        self.records.append((time.perf_counter(), msg))
        if self.echo:
            print(f"      | {msg}", flush=True)


_BATCHED_RE = re.compile(r"batched solve \(([^)]+)\): (\w+) after (\d+) iterations in ([\d.]+) s "
                         r"\(setup ([\d.]+) s, network Hessians ([\d.]+) s\)")


def _pounce_wrapper(directory: Path, real: str) -> str:
    """A shell script that runs ``real`` with ``--json-output $IDAES_HYBRID_BENCH_POUNCE_REPORT``."""
    path = directory / "pounce"
    path.write_text(
        "#!/bin/sh\n"
        f'case "$1" in -*) exec "{real}" "$@";; esac\n'  # --version and friends: untouched
        f'if [ -n "${_REPORT_ENV}" ]; then exec "{real}" --json-output "${_REPORT_ENV}" "$@"; fi\n'
        f'exec "{real}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def _read_pounce_report(path: Path) -> dict[str, Any] | None:
    """The numbers we use from a POUNCE ``--json-output`` report."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    prob, st, ls = doc.get("problem", {}), doc.get("statistics", {}), doc.get("linear_solver", {})
    return {
        "status": doc.get("solution", {}).get("status"),
        "n_variables": prob.get("n_variables"), "n_constraints": prob.get("n_constraints"),
        "nnz_jacobian": prob.get("nnz_jac_g"), "nnz_hessian": prob.get("nnz_h_lag"),
        "iterations": st.get("iteration_count"), "final_objective": st.get("final_objective"),
        "final_constr_viol": st.get("final_constr_viol"), "final_kkt_error": st.get("final_kkt_error"),
        "hessian_evaluations": st.get("num_hess_evals"),
        "solver_wall_s": st.get("total_wallclock_time_secs"),
        "linear_solver": ls.get("solver_name"), "factorizations": ls.get("n_factors"),
        "factor_s": ls.get("total_factor_secs"), "kkt_nnz": ls.get("last_nnz_a"),
        "factor_nnz": ls.get("last_nnz_l"), "max_fill_ratio": ls.get("max_fill_ratio"),
        "last_factor_flops": ls.get("last_factor_flops"), "ordering": ls.get("last_ordering"),
    }


_TIMING_RE = re.compile(r"^\s*([A-Za-z][\w ]*?)\.*:\s*([\d.]+) \(sys:\s*([\d.]+) wall:\s*([\d.]+)\)")


def _read_ipopt_timing(path: Path) -> dict[str, Any] | None:
    """Wall seconds per entry of Ipopt's ``print_timing_statistics`` table."""
    try:
        text = path.read_text()
    except OSError:
        return None
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if m := _TIMING_RE.match(line):
            out.setdefault(m.group(1).strip(), float(m.group(4)))
    if out:
        out["iterations_with_regularization"] = _regularized_iterations(text)
    return out or None


def _regularized_iterations(log: str) -> int | None:
    """Iterations whose ``lg(rg)`` column is not ``-`` (the KKT matrix needed an inertia
    correction, i.e. more than one factorization) in an Ipopt-style iteration log."""
    count, seen = 0, False
    for line in log.splitlines():
        tok = line.split()
        if len(tok) == 10 and re.fullmatch(r"\d+r?", tok[0]):
            seen = True
            count += tok[6] != "-"
    return count if seen else None


class _Recorder:
    """Wraps the package's solve calls of one ``train()`` run and keeps what they did."""

    def __init__(self, capture: _Capture, report_dir: Path):
        self.capture, self.report_dir = capture, report_dir
        self.stage = "?"
        self.solves: list[dict[str, Any]] = []
        self.ipopt_output = report_dir / "ipopt.txt"

    def wrap_backend(self, real):
        """Ipopt (cyipopt) also writes its timing statistics to ``self.ipopt_output``."""
        def _interior_point_backend():
            cls, name, defaults = real()
            if name == "ipopt-mumps":
                defaults = {**defaults, "output_file": str(self.ipopt_output), "file_print_level": 5,
                            "print_timing_statistics": "yes"}
            return cls, name, defaults
        return _interior_point_backend

    def wrap_stage(self, real):
        def _solve(m, stage, *args, **kwargs):
            self.stage = stage
            return real(m, stage, *args, **kwargs)
        return _solve

    def wrap_solve(self, real, stage: str | None = None):
        def solve_hybrid(*args, **kwargs):  # same signature as the package's
            label = stage or self.stage
            report = self.report_dir / f"{len(self.solves):02d}-{label}.json"
            first = len(self.capture.records)
            os.environ[_REPORT_ENV] = str(report)
            self.ipopt_output = self.report_dir / f"{len(self.solves):02d}-{label}.ipopt.txt"
            tick = time.perf_counter()
            try:
                res = real(*args, **kwargs)
            finally:
                os.environ.pop(_REPORT_ENV, None)
            entry: dict[str, Any] = {
                "stage": label, "status": res.status.value, "iterations": res.iterations,
                "wall_s": res.wall_time_s, "solver_s": res.solver_time_s, "backend": res.solver_name,
                "objective": res.objective, "ended_at": time.perf_counter(), "started_at": tick}
            for _, msg in self.capture.records[first:]:
                if mt := _BATCHED_RE.search(msg):
                    entry["setup_s"] = float(mt.group(5))
                    entry["network_hessian_s"] = float(mt.group(6))
            if report.exists():
                entry["pounce_report"] = _read_pounce_report(report)
                report.unlink()
                if entry["pounce_report"] is not None:
                    entry["pounce_report"]["iterations_with_regularization"] = \
                        _regularized_iterations(res.log or "")
                    if mp := re.search(r"^Parsed .* in ([\d.]+)s", res.log or "", re.M):
                        entry["pounce_report"]["parse_s"] = float(mp.group(1))
            if res.log:  # the .nl solver's log, minus the iteration table
                text = [ln for ln in res.log.splitlines() if ln.strip() and not (
                    len(ln.split()) == 10 and re.fullmatch(r"\d+r?", ln.split()[0]))
                    and not ln.startswith("iter ")]
                entry["log_excerpt"] = text[:40] + (["..."] + text[-25:] if len(text) > 65 else text[40:])
            if self.ipopt_output.exists():
                entry["ipopt_timing"] = _read_ipopt_timing(self.ipopt_output)
                self.ipopt_output.unlink()
            self.solves.append(entry)
            return res
        return solve_hybrid


@contextlib.contextmanager
def _instrumented(case: Case, echo: bool) -> Iterator[_Recorder]:
    import pounce

    import idaes_hybrid.solve.batched as batched_solve
    import idaes_hybrid.solve.solver as solver_mod
    import idaes_hybrid.training.predict as predict_mod
    import idaes_hybrid.training.train as train_mod

    logger = logging.getLogger(LOGGER_NAME)
    capture = _Capture(echo)
    old_level, old_propagate = logger.level, logger.propagate
    with tempfile.TemporaryDirectory(prefix="idaes_hybrid_bench_") as tmp, contextlib.ExitStack() as stack:
        rec = _Recorder(capture, Path(tmp))
        logger.addHandler(capture)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        stack.callback(logger.removeHandler, capture)
        stack.callback(setattr, logger, "level", old_level)
        stack.callback(setattr, logger, "propagate", old_propagate)
        real_pounce = solver_mod._find_pounce()
        if real_pounce:
            wrapper = _pounce_wrapper(Path(tmp), real_pounce)
            stack.enter_context(mock.patch.object(solver_mod, "_find_pounce", lambda: wrapper))
        stack.enter_context(mock.patch.object(train_mod, "_solve", rec.wrap_stage(train_mod._solve)))
        stack.enter_context(mock.patch.object(train_mod, "solve_hybrid",
                                              rec.wrap_solve(train_mod.solve_hybrid)))
        stack.enter_context(mock.patch.object(predict_mod, "solve_hybrid",
                                              rec.wrap_solve(predict_mod.solve_hybrid, "validate")))
        if case.backend == "pounce":
            stack.enter_context(mock.patch.object(
                batched_solve, "interior_point_backend", lambda: (pounce.Problem, "pounce", {})))
        else:
            stack.enter_context(mock.patch.object(
                batched_solve, "interior_point_backend",
                rec.wrap_backend(batched_solve.interior_point_backend)))
        yield rec


# ----------------------------------------------------------------------------- one case
def _backend_label(backend: str | None, report: dict | None, versions: dict) -> str:
    if backend == "ipopt-mumps-batched":
        return f"Ipopt {versions.get('ipopt (in cyipopt)') or ''} + MUMPS, callbacks (cyipopt)".replace("  ", " ")
    if backend == "pounce-batched":
        return f"POUNCE {versions.get('pounce-solver') or ''} callbacks"
    if backend == "pounce":
        ls = (report or {}).get("linear_solver") or "FERAL"
        return f"POUNCE {versions.get('pounce-solver') or ''} .nl executable ({ls.upper()})"
    if backend == "ipopt":
        return "Ipopt .nl executable"
    return str(backend)


def run_case(case: Case, config: Any, echo: bool = False) -> dict[str, Any]:
    """Run ``train()`` once for ``case`` on a copy of ``config`` (a
    :class:`~idaes_hybrid.config.run.RunConfig`); never raises for a failed training."""
    from idaes_hybrid.nn.formulations import Formulation
    from idaes_hybrid.training.train import HessianMode, TrainingError
    from idaes_hybrid.training.unit_train import train

    config = replace(config, experiments=copy.deepcopy(config.experiments))  # untouched data
    settings = replace(config.training, formulation=Formulation(case.formulation),
                       hessian=HessianMode(case.hessian),
                       solver_options={**config.training.solver_options,
                                       "max_cpu_time": float(case.budget_s)})
    spec = config.network_spec()
    out: dict[str, Any] = {
        "case": case.name, "formulation": case.formulation, "hessian": case.hessian,
        "budget_s": case.budget_s, "note": case.note, "solver_options": settings.solver_options,
        "n_weights": spec.n_parameters}
    result, error = None, None
    with _instrumented(case, echo) as rec:
        t0 = time.perf_counter()
        try:
            result = train(config.definition, config.experiments, spec, config.discretization,
                           config.physics, config.network_inputs, settings)
        except TrainingError as err:
            error = str(err)
        total = time.perf_counter() - t0
        records = list(rec.capture.records)
        solves = rec.solves

    def _t(pattern: str) -> float | None:  # time of the first log line matching pattern
        return next((t - t0 for t, msg in records if re.search(pattern, msg)), None)

    if m := next((re.search(r"(\d+) network points", msg) for _, msg in records
                  if re.search(r"(\d+) network points", msg)), None):
        out["n_points"] = int(m.group(1))
    by_stage = {s["stage"]: s for s in solves if s["stage"] != "validate"}
    train_solve = by_stage.get("train")
    out["error"] = error
    out["total_wall_s"] = total
    if result is not None:
        out["status"] = result.status
        out["stages"] = {k: {"status": v.status, "wall_s": v.wall_time_s, "iterations": v.iterations}
                         for k, v in result.stages.items()}
        out["train_rmse"] = result.train_rmse
        out["validation_rmse"] = result.validation_rmse
        out["stage_times_from"] = "TrainingResult.stages"
    else:  # the stage reports were lost with the exception: rebuild them from the log and solves
        stages: dict[str, Any] = {}
        if (t_build := _t(r"^build: ")) is not None:
            stages["build"] = {"status": "ok", "wall_s": t_build, "iterations": None}
        for name in ("smoother", "train"):
            if s := by_stage.get(name):
                stages[name] = {"status": s["status"], "wall_s": s["wall_s"], "iterations": s["iterations"]}
        sm = by_stage.get("smoother")
        if sm and train_solve:
            stages["pretrain"] = {"status": "ok", "iterations": None,
                                  "wall_s": train_solve["started_at"] - sm["ended_at"]}
        out["status"] = train_solve["status"] if train_solve else "failed"
        out["stages"] = stages
        out["train_rmse"] = out["validation_rmse"] = None
        out["stage_times_from"] = "log lines and solve results (training raised TrainingError)"
    if train_solve:
        its = train_solve["iterations"]
        rep = train_solve.get("pounce_report")
        tr = {k: train_solve.get(k) for k in ("status", "iterations", "wall_s", "solver_s", "backend",
                                               "objective", "setup_s", "network_hessian_s")}
        if tr["objective"] is None and rep:  # nothing loaded: the solver's last iterate
            tr["objective_last_iterate"] = rep.get("final_objective")
            tr["constraint_violation_last_iterate"] = rep.get("final_constr_viol")
        tr["s_per_iteration"] = train_solve["wall_s"] / its if its else None
        tr["solver_s_per_iteration"] = train_solve["solver_s"] / its \
            if its and train_solve.get("solver_s") is not None else None
        if tr.get("network_hessian_s") is not None and tr.get("wall_s") is not None:
            tr["rest_s"] = tr["wall_s"] - tr["network_hessian_s"]
        tr["pounce_report"] = rep
        tr["ipopt_timing"] = train_solve.get("ipopt_timing")
        out["train"] = tr
    out["solves"] = [{k: v for k, v in s.items() if k not in ("started_at", "ended_at")} for s in solves]
    return out


# ----------------------------------------------------------------------------- output
def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits}e}"
        return f"{value:.{digits}g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return lines


def _cpu(c: dict[str, Any]) -> str:
    cpu = c.get("cpu_s") or {}
    if cpu.get("process") is None:
        return "-"
    return f"{cpu['process']:.0f} + {cpu.get('solver_subprocesses') or 0:.0f}"


def render_markdown(doc: dict[str, Any]) -> str:
    """The results as a markdown document."""
    mach, ver = doc["machine"], doc["versions"]
    cases = doc["cases"]
    states = sorted({k for c in cases for k in (c.get("validation_rmse") or {})})
    lines = [
        "# Benchmark: network formulation x Hessian option (bioreactor case)",
        "",
        f"Generated by `python -m benchmarks.formulations` on {doc['date']}; "
        f"repository revision {doc.get('git_revision') or '?'}. Config: `{doc['config']}` "
        f"({doc.get('problem', {}).get('n_points', '?')} network points, "
        f"{doc.get('problem', {}).get('n_weights', '?')} weights).",
        "",
        f"Machine: {mach['platform']}; CPU {mach['cpu_model']}; {mach['cores']} cores "
        f"({mach['usable_cores']} usable); {mach['ram_gb']} GB RAM; Python {mach['python']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items() if v) + ".",
        "",
        "Every solve of a case runs with `max_cpu_time` = the budget (CPU time of the solver: "
        "of the POUNCE process for `.nl` solves, of this Python process for callback solves); "
        "a case that hits it stops "
        "in the `train` stage with status `max_iterations` (the package raises TrainingError, so "
        "there is no trained network to validate). Times are wall-clock seconds. All cases run "
        f"in one process; importing TensorFlow, Keras and the package "
        f"({_f(doc.get('imports_s'))} s) happened once before the first case and is in no case's "
        "time.",
        "",
        "## Summary",
        "",
    ]
    rows = []
    for c in cases:
        tr = c.get("train") or {}
        obj = tr.get("objective")
        if obj is None and tr.get("objective_last_iterate") is not None:
            obj = f"({_f(tr['objective_last_iterate'], 4)})"
        val = c.get("validation_rmse") or {}
        rows.append([c["case"], c["formulation"].upper(), c["hessian"],
                     _backend_label(tr.get("backend"), tr.get("pounce_report"), ver),
                     f"{c['budget_s']:.0f}", c["status"], tr.get("iterations"), tr.get("wall_s"),
                     tr.get("s_per_iteration"), tr.get("solver_s_per_iteration"),
                     obj if isinstance(obj, str) else _f(obj, 5),
                     c["total_wall_s"], _cpu(c), *[val.get(s) for s in states]])
    lines += _table(["case", "formulation", "Hessian", "interior point (train stage)", "budget s",
                     "status", "train iterations", "train s", "s / iteration",
                     "solver s / iteration", "objective",
                     "total s", "CPU s (process + solver)", *[f"val RMSE {s}" for s in states]], rows)
    lines += ["", "Objective in parentheses: the solver's last iterate when the budget ran out "
              "(no point was loaded into the model). s / iteration: train stage wall time (which "
              "includes writing the `.nl` file and the solver reading it) per iteration; solver s / "
              "iteration: the solver's own time per iteration (POUNCE: \"Total seconds in POUNCE\"; "
              "callbacks: the stage minus its setup). CPU s: user + system time of this process "
              "and of its solver subprocesses over the whole case (less sensitive than wall time to "
              "other work on the machine). Other processes' CPU use during each case, in cores "
              "out of " + str(mach["usable_cores"]) + " (from /proc/stat, minus this benchmark's "
              "own): " + "; ".join(f"{c['case']} {_f(c.get('other_processes_cores'), 2)}"
                                  for c in cases) + ".", "",
              "## Time per stage (s)", ""]
    names = ["build", "smoother", "pretrain", "train", "validate"]
    lines += _table(["case", *names, "total"],
                    [[c["case"], *[(c.get("stages") or {}).get(n, {}).get("wall_s") for n in names],
                      c["total_wall_s"]] for c in cases])
    lines += ["", "For cases that raised, build and pretrain are reconstructed from log timestamps "
              "and there is no validate stage.", ""]
    batched = [c for c in cases if (c.get("train") or {}).get("network_hessian_s") is not None]
    if batched:
        lines += ["## BATCHED train stage: where the time goes (s)", "",
                  "Network Hessians: the numpy batch, timed by the package. The Ipopt columns come "
                  "from Ipopt's `print_timing_statistics` (wall): Lagrangian Hessian = network + "
                  "physics (`.nl`) callbacks; KKT solves = `ComputeSearchDirection` (MUMPS "
                  "factorizations and back-solves). Inertia corrections: iterations whose KKT "
                  "matrix had to be regularized and refactored.", ""]
        rows = []
        for c in batched:
            tr = c["train"]
            ip = tr.get("ipopt_timing") or {}
            rest = tr["wall_s"] - tr["network_hessian_s"] - (tr.get("setup_s") or 0.0)
            rows.append([c["case"], _backend_label(tr.get("backend"), None, ver), tr["wall_s"],
                         tr.get("setup_s"), tr["network_hessian_s"], rest,
                         ip.get("Lagrangian Hessian"), ip.get("Equality constraint Jacobian"),
                         ip.get("ComputeSearchDirection"), tr.get("iterations"),
                         ip.get("iterations_with_regularization")])
        lines += _table(["case", "interior point", "train s", "setup (.nl write + read)",
                         "network Hessians (numpy)", "rest", "Ipopt: Lagrangian Hessian",
                         "Ipopt: constraint Jacobian", "Ipopt: KKT solves", "iterations",
                         "inertia corrections"], rows)
        lines += [""]
    nl = [c for c in cases if (c.get("train") or {}).get("pounce_report")]
    if nl:
        lines += ["## `.nl` train stage: POUNCE's own report", "",
                  "From `pounce --json-output`. KKT nnz / factor nnz: last factorization "
                  "(lower triangle); \"other\" = solver wall time minus factorization time "
                  "(function and derivative evaluation, back-solves, line search); \".nl write + overhead\" = "
                  "stage wall time minus POUNCE's parse and solve times (Pyomo writing the `.nl` "
                  "file, process start, reading the solution back).", ""]
        rows = []
        for c in nl:
            r = c["train"]["pounce_report"]
            other = (r["solver_wall_s"] - r["factor_s"]) if r.get("solver_wall_s") is not None \
                and r.get("factor_s") is not None else None
            outside = None
            if None not in (c["train"].get("wall_s"), r.get("solver_wall_s")):
                outside = c["train"]["wall_s"] - r["solver_wall_s"] - (r.get("parse_s") or 0.0)
            rows.append([c["case"], r.get("n_variables"), r.get("n_constraints"), r.get("nnz_jacobian"),
                         r.get("nnz_hessian"), r.get("kkt_nnz"), r.get("factor_nnz"),
                         r.get("max_fill_ratio"), r.get("iterations"), r.get("factorizations"),
                         r.get("iterations_with_regularization"),
                         c["train"].get("wall_s"), r.get("parse_s"), r.get("solver_wall_s"),
                         r.get("factor_s"), other, outside])
        lines += _table(["case", "variables", "constraints", "Jacobian nnz", "Hessian nnz", "KKT nnz",
                         "factor nnz", "max fill ratio", "iterations", "factorizations",
                         "inertia corrections",
                         "stage wall s", "POUNCE parse s", "solver wall s", "factorization s",
                         "other s", ".nl write + overhead s"], rows)
        lines += [""]
    errors = [c for c in cases if c.get("error")]
    if errors:
        lines += ["## Errors", ""] + [f"- `{c['case']}`: {c['error']}" for c in errors] + [""]
    return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _write_results(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out_dir / "formulations.json", out_dir / "formulations.md"
    for path, text in ((jpath, json.dumps(_jsonable(doc), indent=2) + "\n"),
                       (mpath, render_markdown(doc) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return mpath, jpath


def _summary_line(c: dict[str, Any]) -> str:
    tr = c.get("train") or {}
    parts = [f"{c['status']}", f"{tr.get('iterations')} train iterations"]
    if tr.get("wall_s") is not None:
        parts.append(f"train {tr['wall_s']:.1f} s")
    if tr.get("s_per_iteration") is not None:
        parts.append(f"{tr['s_per_iteration']:.2f} s/iteration")
    if tr.get("network_hessian_s") is not None:
        parts.append(f"network Hessians {tr['network_hessian_s']:.1f} s")
    parts.append(f"total {c['total_wall_s']:.1f} s")
    if c.get("other_processes_cores") is not None:
        parts.append(f"other processes used {c['other_processes_cores']:.2f} cores meanwhile")
    if c.get("validation_rmse"):
        parts.append("val RMSE " + " ".join(f"{k}={v:.3g}" for k, v in c["validation_rmse"].items()))
    return ", ".join(parts)


def run(cases: Sequence[Case] = CASES, out_dir: Path = RESULTS, config_path: Path = CONFIG,
        echo: bool = False, wait_idle_s: float = 0.0) -> dict[str, Any]:
    """Run ``cases`` and write the results; returns the results document."""
    versions = package_versions()
    doc: dict[str, Any] = {
        "benchmark": "formulations",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(), "config": str(config_path.relative_to(REPO))
        if config_path.is_relative_to(REPO) else str(config_path),
        "machine": machine_info(), "versions": versions, "problem": {}, "cases": []}
    tick = time.perf_counter()  # import once up front so no case pays for it
    import tensorflow  # noqa: F401
    import keras  # noqa: F401

    import idaes_hybrid.training.train  # noqa: F401
    from idaes_hybrid.config.run import load_run_config

    doc["imports_s"] = time.perf_counter() - tick
    config = load_run_config(config_path)  # read once: every case trains on the same data
    doc["config_sha256"] = hashlib.sha256(config_path.read_bytes()).hexdigest()
    print(f"formulations benchmark: {len(cases)} cases on {doc['config']} "
          f"({doc['machine']['cpu_model']}, {doc['machine']['usable_cores']} cores)", flush=True)
    for i, case in enumerate(cases, 1):
        started = _dt.datetime.now().strftime("%H:%M:%S")
        print(f"[{i}/{len(cases)}] {case.name}: {case.formulation.upper()} + {case.hessian} Hessian, "
              f"budget {case.budget_s:.0f} s per solve{' (' + case.note + ')' if case.note else ''} "
              f"... started {started}", flush=True)
        idle_before = wait_until_idle(wait_idle_s) if wait_idle_s else None
        load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
        busy0, own0, wall0 = _cpu_busy_s(), _own_cpu_s(), time.perf_counter()
        cpu0 = os.times()
        c = run_case(case, config, echo)
        cpu1 = os.times()
        busy1, own1, wall1 = _cpu_busy_s(), _own_cpu_s(), time.perf_counter()
        if busy0 is not None and busy1 is not None:  # average cores used by everything else
            c["other_processes_cores"] = max(0.0, ((busy1 - busy0) - (own1 - own0)) / (wall1 - wall0))
        c["other_processes_cores_before"] = idle_before
        c["cpu_s"] = {"process": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
                      "solver_subprocesses": (cpu1.children_user + cpu1.children_system)
                      - (cpu0.children_user + cpu0.children_system)}
        c["loadavg_1min_before_after"] = [load_before and round(load_before[0], 2),
                                          hasattr(os, "getloadavg") and round(os.getloadavg()[0], 2)]
        doc["cases"].append(c)
        doc["problem"].setdefault("n_weights", c.get("n_weights"))
        if c.get("n_points"):
            doc["problem"].setdefault("n_points", c["n_points"])
        print(f"[{i}/{len(cases)}] {case.name}: {_summary_line(c)}", flush=True)
        _write_results(doc, out_dir)  # after every case, so a long run leaves partial results
    mpath, jpath = _write_results(doc, out_dir)
    print(f"wrote {mpath.relative_to(REPO) if mpath.is_relative_to(REPO) else mpath} and "
          f"{jpath.name}", flush=True)
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m benchmarks.formulations [--cases ...] [--out DIR] [--verbose]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.formulations", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=[c.name for c in CASES], metavar="CASE",
                        help="cases to run (default: all: " + ", ".join(c.name for c in CASES) + ")")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory (default: %(default)s)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="run configuration (default: bioreactor)")
    parser.add_argument("--verbose", action="store_true", help="echo the package's log lines")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each case, wait up to SECONDS for other processes to use "
                             "less than 0.3 cores (default: 0, do not wait)")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if args.cases is None or c.name in args.cases]
    run(cases, args.out.resolve(), args.config.resolve(), args.verbose, args.wait_idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
