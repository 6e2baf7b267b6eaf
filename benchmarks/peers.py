"""Benchmark: our pipeline against peers on the bioreactor case, same data and network.

Three pipelines, each in its own process, one after the other:

* ``ours``: ``idaes-hybrid train flowsheets/bioreactor/config.toml`` (the CLI;
  smoother -> pretrain -> simultaneous NLP -> validation), read from its ``metrics.json``.
* ``ours_exact``: the same config with ``[training] hessian = "exact"`` (exact Newton
  steps; the default, ``auto``, takes block-diagonal ones on this problem: the network's
  weight-input second derivatives left out of the steps), for reference.
* ``sindae``: SiNDAE 1.0.2, the paper's companion code, in its own venv
  (:mod:`benchmarks.peers_sindae`): smoother -> pretrain -> simultaneous NLP (POUNCE),
  validation by integrating the trained network with scipy.
* ``sequential``: a neural ODE in TensorFlow trained through a fixed-step RK4 with
  Adam (:mod:`benchmarks.peers_sequential`), stopped by patience or a time budget;
  it records when (if ever) it reaches our validation RMSE of S and X.

All use the three noisy training batches ``b1..b3`` and the noise-free validation
batch ``val`` of ``flowsheets/bioreactor/data``, a 4-20-20-1 softplus network on
X, S, P, V and (for the two simultaneous ones) 20 finite elements x 3 Radau
points. Writes ``benchmarks/results/peers.md`` and ``peers.json``.

``python -m benchmarks.peers [--budget SECONDS] [--skip ours,ours_exact,sindae,sequential] [--reuse]
[--repeats N]`` (``--reuse``: keep the skipped pipelines' results from the existing ``peers.json``;
``--repeats``: run ours, ours_exact and SiNDAE N times, in turn, and keep each one's run of median
whole-process time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONFIG = ROOT / "flowsheets" / "bioreactor" / "config.toml"
STATES = ("X", "P", "S", "V")
#: Time budget of the sequential baseline (s) when ``--budget`` is not given (``make bench``).
DEFAULT_BUDGET_S = 600.0
#: The pipelines, in the order they run.
PIPELINES = ("ours", "ours_exact", "sequential", "sindae")


def run_child(cmd: list[str], out_path: Path, timeout: float | None = None) -> dict:
    """Run ``cmd`` with stdout to ``out_path``; wall time, exit code, peak RSS (MB) of its tree."""
    err_path = out_path.with_suffix(".err")
    tick = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": proc.returncode, "wall_time_s": time.perf_counter() - tick,
            "peak_rss_mb": usage.ru_maxrss / 1024, "stderr_tail": err_path.read_text()[-1500:]}


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                   if l.startswith("MemTotal")) / 1024 ** 2
    except (OSError, StopIteration):
        mem = float("nan")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "os": platform.platform(), "python": platform.python_version()}


def compile_package() -> bool:
    """Write the bytecode of the ``idaes_hybrid`` package being timed, as ``pip install``
    does for an installed package (SiNDAE's, in its venv, has it). An editable checkout run
    with ``PYTHONDONTWRITEBYTECODE`` set would otherwise compile every module from source
    in every timed process (about 0.4 s of the block-diagonal run, measured 2026-12-04)."""
    import compileall

    import idaes_hybrid

    return bool(compileall.compile_dir(str(Path(idaes_hybrid.__file__).parent), quiet=1))


def run_ours(work: Path, config: Path = CONFIG, name: str = "ours") -> dict:
    """``idaes-hybrid train config`` in its own process; its metrics and process figures."""
    exe = Path(sys.executable).parent / "idaes-hybrid"
    out = work / name
    child = run_child([str(exe), "train", str(config), "--out", str(out), "--quiet"], work / f"{name}.log")
    res = {"process": child}
    try:
        m = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError) as exc:
        res["error"] = f"no metrics.json ({exc}); exit code {child['rc']}: {child['stderr_tail']}"
        return res
    res.update(wall_time_s=m["wall_time_s"], status=m["status"], iterations=m["iterations"],
               stages={k: {"wall_time_s": v["wall_time_s"], "iterations": v.get("iterations"),
                           "status": v.get("status")} for k, v in m["stages"].items()},
               validation_rmse=m["validation"]["rmse"])
    return res


def exact_config(work: Path, config: Path = CONFIG) -> Path:
    """``config`` with ``[training] hessian = "exact"`` and absolute data paths, in ``work``."""
    text = config.read_text()
    if "hessian =" in text or "\n[training]\n" not in text or 'data = "data/' not in text:
        raise ValueError(f"{config}: expected a [training] table without hessian and data = \"data/...\" "
                         "to rewrite")
    text = text.replace("\n[training]\n", '\n[training]\nhessian = "exact"\n')
    text = text.replace('data = "data/', f'data = "{config.parent / "data"}/')
    path = work / "config_exact.toml"
    path.write_text(text)
    return path


def median_run(runs: list[dict]) -> dict:
    """The run of median whole-process wall time among those without an error (the last run if
    all failed), with every run's whole-process time under ``process_wall_runs_s``."""
    ok = sorted((r for r in runs if "error" not in r), key=lambda r: r["process"]["wall_time_s"])
    chosen = dict(ok[(len(ok) - 1) // 2] if ok else runs[-1])
    chosen["process_wall_runs_s"] = [r.get("process", {}).get("wall_time_s") for r in runs]
    return chosen


def run_sindae(work: Path) -> dict:
    # SiNDAE's faster option: the limited-memory Hessian in its simultaneous solve
    child = run_child([sys.executable, "-m", "benchmarks.peers_sindae", "--json", str(work / "sindae.json"),
                       "--hessian", "limited-memory"], work / "sindae.log")
    try:
        res = json.loads((work / "sindae.json").read_text())
    except (OSError, ValueError) as exc:
        return {"error": f"peers_sindae gave no result ({exc}): {child['stderr_tail']}", "process": child}
    res["process"] = child
    return res


def run_sequential(work: Path, budget: float, target: dict) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.peers_sequential", "--budget", str(budget),
           "--json", str(work / "sequential.json")]
    if target.get("S") is not None and target.get("X") is not None:
        cmd += ["--target-S", str(target["S"]), "--target-X", str(target["X"])]
    child = run_child(cmd, work / "sequential.log")
    try:
        res = json.loads((work / "sequential.json").read_text())
    except (OSError, ValueError) as exc:
        return {"error": f"peers_sequential gave no result ({exc}): {child['stderr_tail']}", "process": child}
    res["process"] = child
    res["validation_rmse"] = res.get("best", {}).get("rmse", {})
    return res


def _f(v, fmt="{:.3g}") -> str:
    if v is None:
        return "–"
    try:
        return fmt.format(v)
    except (TypeError, ValueError):
        return str(v)


def render(res: dict) -> str:
    mach, ours, sin, seq = res["machine"], res.get("ours", {}), res.get("sindae", {}), res.get("sequential", {})
    fast = res.get("ours_exact", {})
    L = ["# Peers: idaes-hybrid vs SiNDAE vs a sequential neural ODE", "",
         f"Generated by `python -m benchmarks.peers` on {res['date']}.", "",
         f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB; {mach['os']}; "
         f"Python {mach['python']}. Pipelines ran one after the other (shared machine: other work may "
         "have been running too; timings are indicative).", "",
         "Same data (b1..b3 noisy training batches, noise-free `val` batch simulated from its initial "
         "state), same network (4-20-20-1 softplus on X, S, P, V), L2 weight 1e-2. Ours and SiNDAE: "
         "20 finite elements x 3 Radau points, smoother + pretrain + one simultaneous NLP "
         "(SiNDAE with its faster option, the limited-memory Hessian). "
         f"Sequential: TensorFlow RK4 (step {_f(seq.get('rk4_step_h'))} h) + Adam lr 1e-3, "
         f"time budget {_f(seq.get('budget_s'), '{:.0f}')} s, patience {seq.get('patience_evals')} evaluations "
         f"(one per {seq.get('eval_every')} steps).", "",
         f"Sequential baseline budget: `make bench` (and `python -m benchmarks.peers` without `--budget`) "
         f"gives it {DEFAULT_BUDGET_S:.0f} s; this run gave it {_f(seq.get('budget_s'), '{:.0f}')} s.", ""]
    if res.get("reused"):
        L += ["Reused from the previous `peers.json` (not rerun): " + "; ".join(
            f"{k} (run on {v})" for k, v in res["reused"].items()) + ".", ""]
    L += [
         "## Summary", "",
         "| pipeline | wall time (s) | iterations | val RMSE X | val RMSE P | val RMSE S | val RMSE V | peak RSS (MB) |",
         "|---|---|---|---|---|---|---|---|"]

    def row(name, d, wall, iters):
        if "error" in d:
            L.append(f"| {name} | failed | | | | | | |")
            return
        r = d.get("validation_rmse") or {}
        L.append(f"| {name} | {_f(wall, '{:.1f}')} | {iters} | " + " | ".join(_f(r.get(s)) for s in STATES)
                 + f" | {_f(d.get('process', {}).get('peak_rss_mb'), '{:.0f}')} |")

    row("idaes-hybrid (ours)", ours, ours.get("wall_time_s"), ours.get("iterations"))
    if fast:
        row("idaes-hybrid, exact Hessian (`hessian = \"exact\"`)", fast, fast.get("wall_time_s"),
            fast.get("iterations"))
    timing = sin.get("stages", {}).get("train", {}).get("solver_timing")
    row("SiNDAE 1.0.2", sin, sin.get("pipeline_s"), timing.get("n_iter", "–") if isinstance(timing, dict) else "–")
    best = seq.get("best", {})
    row(f"sequential neural ODE (best, at {_f(best.get('time_s'), '{:.0f}')} s)", seq,
        seq.get("train_s"), f"{seq.get('iterations')} Adam steps")
    L.append("")
    L.append("Wall time: ours = `metrics.json` wall_time_s (build to validation, in-process, excludes imports); "
             "SiNDAE = sum of its timed stages (smoother, extract, pretrain, train; excludes imports and "
             "the scipy validation); sequential = training loop time (excludes tracing, "
             f"{_f(seq.get('compile_s'), '{:.1f}')} s). Process wall times (everything, imports included): "
             f"ours {_f(ours.get('process', {}).get('wall_time_s'), '{:.1f}')} s, ours with the exact "
             f"Hessian {_f(fast.get('process', {}).get('wall_time_s'), '{:.1f}')} s, SiNDAE "
             f"{_f(sin.get('process', {}).get('wall_time_s'), '{:.1f}')} s, sequential "
             f"{_f(seq.get('process', {}).get('wall_time_s'), '{:.1f}')} s. Each is installed with its "
             "bytecode: SiNDAE by pip in its venv, our package compiled before the timed runs.")
    repeats = {n: d["process_wall_runs_s"] for n, d in (("ours", ours), ("ours_exact", fast), ("SiNDAE", sin))
               if len(d.get("process_wall_runs_s") or []) > 1}
    if repeats:
        L += ["", "Repeated runs, in turn (the tables show each pipeline's run of median whole-process time): "
              + "; ".join(f"{n} " + ", ".join(_f(t, '{:.1f}') for t in ts) + " s" for n, ts in repeats.items())
              + "."]
    L.append("")
    L += ["## Stages (s)", "", "| pipeline | stage | wall time (s) | detail |", "|---|---|---|---|"]
    for k, v in ours.get("stages", {}).items():
        L.append(f"| ours | {k} | {_f(v['wall_time_s'], '{:.2f}')} | {v.get('status')}, iterations {v.get('iterations')} |")
    for k, v in fast.get("stages", {}).items():
        L.append(f"| ours, exact Hessian | {k} | {_f(v['wall_time_s'], '{:.2f}')} | {v.get('status')}, "
                 f"iterations {v.get('iterations')} |")
    for k, v in sin.get("stages", {}).items():
        det = v.get("termination") or v.get("ivp_message") or (f"{v.get('epochs')} epochs" if "epochs" in v else "")
        if isinstance(v.get("solver_timing"), dict) and v["solver_timing"].get("n_iter") is not None:
            det += f", iterations {v['solver_timing']['n_iter']}"
            if v["solver_timing"].get("pounceonly") is not None:
                det += f", {v['solver_timing']['pounceonly']:.1f} s inside POUNCE (the rest is outside the solver: model build, .nl write, result load; not split further)"
        L.append(f"| SiNDAE | {k} | {_f(v['wall_time_s'], '{:.2f}')} | {det} |")
    if seq and "error" not in seq:
        L.append(f"| sequential | trace/compile | {_f(seq.get('compile_s'), '{:.2f}')} | |")
        L.append(f"| sequential | train | {_f(seq.get('train_s'), '{:.2f}')} | stop: {seq.get('stop')}, "
                 f"{seq.get('iterations')} steps |")
    L.append("")
    L += ["## Ratios against SiNDAE", ""]
    if "error" in sin or "error" in ours:
        L.append("Not available (a pipeline failed; see below).")
    else:
        L.append(f"- wall time ours / SiNDAE: {_f(ours['wall_time_s'] / sin['pipeline_s'], '{:.2f}')}")
        for label, d in (("ours", ours), ("ours with the exact Hessian", fast)):
            a, b = d.get("process", {}).get("wall_time_s"), sin.get("process", {}).get("wall_time_s")
            if a and b and "error" not in d:
                L.append(f"- whole process, SiNDAE / {label}: {_f(b / a, '{:.2f}')}x faster")
        for s in ("X", "P", "S"):
            a, b = ours["validation_rmse"].get(s), (sin.get("validation_rmse") or {}).get(s)
            c = (fast.get("validation_rmse") or {}).get(s)
            if a is not None and b:
                L.append(f"- validation RMSE {s} ours / SiNDAE: {_f(a / b, '{:.2f}')}"
                         + (f" (exact Hessian: {_f(c / b, '{:.2f}')})" if c is not None else ""))
        if seq and "error" not in seq and seq.get("train_s"):
            L.append(f"- wall time sequential (whole run) / SiNDAE: {_f(seq['train_s'] / sin['pipeline_s'], '{:.2f}')}")
    L.append("")
    L += ["## Sequential baseline: time to our accuracy", ""]
    if seq and "error" not in seq:
        reached = seq.get("reached_target")
        tgt = seq.get("target", {})
        if reached:
            L.append(f"Reached our validation RMSE (S <= {_f(tgt.get('S'))}, X <= {_f(tgt.get('X'))}) after "
                     f"{_f(reached['time_s'], '{:.1f}')} s ({reached['iter']} Adam steps).")
        else:
            L.append(f"Never reached our validation RMSE (S <= {_f(tgt.get('S'))}, X <= {_f(tgt.get('X'))}) "
                     f"within {_f(seq.get('train_s'), '{:.0f}')} s ({seq.get('iterations')} Adam steps, stop: "
                     f"{seq.get('stop')}); best S {_f(best.get('rmse', {}).get('S'))}, X "
                     f"{_f(best.get('rmse', {}).get('X'))} at {_f(best.get('time_s'), '{:.0f}')} s "
                     f"(step {best.get('iter')}).")
    L.append("")
    errs = [(n, d["error"]) for n, d in (("ours", ours), ("ours, exact Hessian", fast), ("SiNDAE", sin),
                                         ("sequential", seq)) if "error" in d]
    if errs:
        L += ["## Errors", ""]
        for n, e in errs:
            L += [f"**{n}**:", "", "```", str(e)[-3000:], "```", ""]
    L += ["## Notes", "",
          "- SiNDAE runs in `benchmarks/.venv-sindae` (`pip install sindae==1.0.2`), through its public API "
          "(`solve_smoother`, `extract_instance_data`, `pretrain_mlp`, `solve_simultaneous`: the stages "
          "`HybridDAE.fit` runs) with its defaults (smooth_coef 1, pretrain 200 epochs with its reg 0.1, "
          "POUNCE, tol 1e-6, max_iter 1000) and `SimultaneousConfig(reg_coef=1e-2)`. Its bundled "
          "`FedBatchBioreactorProblem` writes dP/dt with F P / X; the driver defines the problem as our data "
          "were generated (F P / V). SiNDAE's data fit differs from ours by design: it interpolates the "
          "observations onto every collocation point and standardizes by the data's std (ours: residuals at "
          "the sample times, scaled by the noise sd).",
          "- SiNDAE's validation prediction integrates its trained network (with its normalization) by "
          "scipy `solve_ivp` (LSODA, rtol 1e-8) from the validation initial state; ours is the package's "
          "own validation simulation.",
          "- The sequential baseline's network output is mu = 0.1 + 0.1 * net (a fixed output scale); "
          "inputs are standardized by the training data.", ""]
    return "\n".join(L)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                   help=f"time budget of the sequential baseline (s; default {DEFAULT_BUDGET_S:.0f})")
    p.add_argument("--skip", default="", help="comma-separated pipelines to skip")
    p.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    p.add_argument("--render-only", action="store_true", help="rewrite peers.md from peers.json")
    p.add_argument("--repeats", type=int, default=1,
                   help="runs of ours, ours_exact and SiNDAE, in turn (default 1; each one's median is kept)")
    p.add_argument("--reuse", action="store_true",
                   help="keep the results of the skipped pipelines from the existing peers.json")
    a = p.parse_args(argv)
    if a.render_only:
        (RESULTS / "peers.md").write_text(render(json.loads((RESULTS / "peers.json").read_text())))
        return 0
    skip = {s for s in a.skip.split(",") if s}
    work = a.work or Path(tempfile.mkdtemp(prefix="peers-"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}
    if a.reuse and skip and (RESULTS / "peers.json").exists():
        old = json.loads((RESULTS / "peers.json").read_text())
        for name in sorted(skip & set(PIPELINES)):
            if name in old:
                res[name] = old[name]
                res.setdefault("reused", {})[name] = (old.get("reused") or {}).get(name, old.get("date"))
    runs: dict[str, list[dict]] = {}
    if not {"ours", "ours_exact"} <= skip:
        compile_package()
    for rep in range(max(1, a.repeats)):
        for name in ("ours", "ours_exact", "sindae"):
            if name not in skip:
                print(f"peers: {name} (run {rep + 1} of {a.repeats})", flush=True)
                runs.setdefault(name, []).append(
                    run_sindae(work) if name == "sindae" else run_ours(
                        work, CONFIG if name == "ours" else exact_config(work), name))
    res.update({name: median_run(r) for name, r in runs.items()})
    if "sequential" not in skip:
        print("peers: sequential", flush=True)
        res["sequential"] = run_sequential(work, a.budget, res.get("ours", {}).get("validation_rmse", {}))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "peers.json").write_text(json.dumps(res, indent=1, default=str))
    (RESULTS / "peers.md").write_text(render(res))
    print(f"peers: wrote {RESULTS / 'peers.md'}", flush=True)
    return 1 if any("error" in res.get(k, {}) for k in PIPELINES) else 0


if __name__ == "__main__":
    sys.exit(main())
