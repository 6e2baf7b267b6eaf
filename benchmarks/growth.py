"""Benchmark: how simultaneous training grows with the problem (log-log scaling study).

``python -m benchmarks.growth`` trains the fed-batch bioreactor with the package
defaults (``Formulation.BATCHED``, ``hessian = "auto"``, Ipopt + MUMPS through cyipopt)
while one size grows and the others stay at the base case (3 training batches,
20 finite elements x 3 Radau points, a 4-20-20-1 softplus network):

* ``experiments``: 1, 2, 4, 8, 16 training batches (``flowsheets/bioreactor/many_batches.py``:
  noisy batches ``t01..`` with drawn initial states, feed rate F and feed
  concentration Sf), also with the exact Hessian;
* ``elements``: 10, 20, 40, 80 finite elements (3 Radau points each);
* ``width``: hidden layers ``[w, w]`` for w = 5, 10, 20, 40, 80.

Every point is a full :func:`idaes_hybrid.training.train.train` call (build,
smoother, Keras pre-training, simultaneous solve, diagnostics, validation on the 4
noise-free batches ``v1..v4``), run in a fresh process (so TensorFlow state and
memory do not carry over; imports are not timed). Each solve has a CPU-time budget
(``--budget``, Ipopt ``max_cpu_time``); a point that hits it still gives the train
stage's time per iteration. For every point: total time, stage times, train-stage
iterations, time per iteration, NLP size, network points, weights, validation RMSE,
peak RSS. Slopes are least-squares fits of log(time) against log(size).

Writes ``benchmarks/results/growth.md``, ``growth.json`` and the plots
``growth_experiments.png``, ``growth_elements.png``, ``growth_width.png``.

``python -m benchmarks.growth [--sweeps experiments,elements,width] [--hessians auto,exact,block-diagonal,limited-memory]
[--budget 300] [--quick] [--out DIR] [--in-process]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Sequence
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "flowsheets" / "bioreactor" / "config.toml"
RESULTS = ROOT / "benchmarks" / "results"
LOGGER_NAME = "idaes.idaes_hybrid"

#: The base case every sweep starts from (the shipped bioreactor config's sizes).
BASE = {"n_train": 3, "nfe": 20, "ncp": 3, "width": 20}
#: Sweep name -> (point key it varies, label of the size, full values, quick values).
SWEEPS: dict[str, tuple[str, str, list[int], list[int]]] = {
    "experiments": ("n_train", "training experiments", [1, 2, 4, 8, 16], [1, 2]),
    "elements": ("nfe", "finite elements (3 Radau points each)", [10, 20, 40, 80], [4, 8]),
    "width": ("width", "hidden width w (network 4-w-w-1)", [5, 10, 20, 40, 80], [3, 6]),
}
#: Hessian options run per sweep by default (the limited-memory one on the experiments sweep).
DEFAULT_HESSIANS = {"experiments": ["auto", "exact"], "elements": ["auto"], "width": ["auto"]}
#: The quick smoke sweep: tiny base case, short pre-training.
QUICK_BASE = {"n_train": 1, "nfe": 4, "ncp": 3, "width": 3}
QUICK_PRETRAIN_EPOCHS = 20

_BATCHED_RE = re.compile(r"batched solve \(([^)]+)\): (\w+) after (\d+) iterations in ([\d.]+) s "
                         r"\(setup ([\d.]+) s, network Hessians ([\d.]+) s\)")
_POINTS_RE = re.compile(r"build: (\d+) experiments, \w+: (\d+) network points")
#: Ipopt timing statistics kept per point (print_timing_statistics names).
IPOPT_TIMERS = ("OverallAlgorithm", "ComputeSearchDirection", "Function Evaluations",
                "Lagrangian Hessian")


# ----------------------------------------------------------------------------- numbers
def fit_slope(xs: Sequence[float], ys: Sequence[float | None]) -> tuple[float, float] | None:
    """Least-squares fit of ``y = c * x**k`` on log-log axes: ``(k, c)``.

    Pairs with a missing or non-positive value are skipped; ``None`` when fewer than
    two pairs (with two distinct sizes) remain.
    """
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys)
           if x is not None and y is not None and x > 0 and y > 0]
    if len(pts) < 2 or len({p[0] for p in pts}) < 2:
        return None
    n = len(pts)
    mx, my = sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    k = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return k, math.exp(my - k * mx)


def points(sweeps: Sequence[str], hessians: dict[str, list[str]], quick: bool = False) -> list[dict]:
    """The sweep points: one dict per ``train()`` call."""
    base = QUICK_BASE if quick else BASE
    out = []
    for sweep in sweeps:
        key, _, full, small = SWEEPS[sweep]
        for hessian in hessians[sweep]:
            for x in (small if quick else full):
                out.append({**base, key: x, "sweep": sweep, "x": x, "hessian": hessian})
    return out


def n_weights(width: int, n_in: int = 4, n_out: int = 1) -> int:
    """Weights and biases of an ``n_in-width-width-n_out`` network."""
    return (n_in + 1) * width + (width + 1) * width + (width + 1) * n_out


# ----------------------------------------------------------------------------- one point
class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _instrumented(work: Path) -> Iterator[dict]:
    """Record the package's log lines, every solve's result and the callback NLP's size
    and Ipopt timing statistics; nothing here changes the problem solved."""
    import idaes_hybrid.solve.batched as batched_solve
    import idaes_hybrid.training.flowsheet_train as train_mod  # the one training engine
    from benchmarks.formulations import _read_ipopt_timing

    rec: dict[str, Any] = {"stage": "?", "solves": [], "nlp": [], "capture": _Capture()}
    logger = logging.getLogger(LOGGER_NAME)
    # the backend getter's name changed once; patch whichever this package has
    backend_name = next(n for n in ("interior_point_backend", "_interior_point_backend")
                        if hasattr(batched_solve, n))
    real_backend, real_stage, real_solve = (getattr(batched_solve, backend_name), train_mod._solve,
                                            train_mod.solve_hybrid)

    def backend():
        cls, name, defaults = real_backend()

        def problem(**kw):  # keep the NLP's size
            rec["nlp"].append({"stage": rec["stage"], "n": int(kw["n"]), "m": int(kw["m"])})
            return cls(**kw)
        if name == "ipopt-mumps":
            defaults = {**defaults, "output_file": str(work / f"ipopt-{len(rec['nlp'])}.txt"),
                        "file_print_level": 5, "print_timing_statistics": "yes"}
        return problem, name, defaults

    def stage(m, name, *args, **kwargs):
        rec["stage"] = name
        try:
            return real_stage(m, name, *args, **kwargs)
        finally:  # later solves (the validation simulations) belong to no stage here
            rec["stage"] = "other"

    def solve(*args, **kwargs):
        first, label = len(rec["capture"].messages), rec["stage"]
        res = real_solve(*args, **kwargs)
        entry = {"stage": label, "status": res.status.value, "iterations": res.iterations,
                 "wall_s": res.wall_time_s, "solver": res.solver_name}
        for msg in rec["capture"].messages[first:]:
            if mt := _BATCHED_RE.search(msg):
                entry["setup_s"], entry["network_hessian_s"] = float(mt.group(5)), float(mt.group(6))
        out_file = work / f"ipopt-{len(rec['nlp']) - 1}.txt"
        if res.solver_name.startswith("ipopt-mumps") and out_file.exists():
            timing = _read_ipopt_timing(out_file) or {}
            entry["ipopt_timing"] = {k: timing.get(k) for k in (*IPOPT_TIMERS, "iterations_with_regularization")}
            out_file.unlink()
        rec["solves"].append(entry)
        return res

    old = (logger.level, logger.propagate)
    logger.addHandler(rec["capture"])
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with mock.patch.object(batched_solve, backend_name, backend), \
                mock.patch.object(train_mod, "_solve", stage), \
                mock.patch.object(train_mod, "solve_hybrid", solve):
            yield rec
    finally:
        logger.removeHandler(rec["capture"])
        logger.setLevel(old[0])
        logger.propagate = old[1]


def warm_up_tensorflow() -> float:
    """A 2-epoch Keras pre-training of a tiny network, so that TensorFlow's one-time
    start-up (several seconds) lands in no timed stage; returns its wall time."""
    import numpy as np

    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training.pretrain import pretrain_network

    tick = time.perf_counter()
    v = np.random.default_rng(0).random((64, 4))
    pretrain_network(NetworkSpec.dense(4, [3, 3], 1, activation="softplus"), v, v[:, :1], epochs=2)
    return time.perf_counter() - tick


_EXPERIMENTS: list = []


def batch_experiments(n_train: int, cache: Path | None = None) -> list:
    """The first ``n_train`` training batches and the 4 validation batches of
    ``many_batches.experiments`` (which simulates all 68 batches every call, ~25 s):
    simulated once, kept in memory and, with ``cache``, in a pickle file."""
    import copy
    import pickle

    from flowsheets.bioreactor.many_batches import experiments
    from idaes_hybrid.training.experiment import Role

    if not _EXPERIMENTS:
        if cache is not None and cache.exists():
            _EXPERIMENTS.extend(pickle.loads(cache.read_bytes()))
        else:
            _EXPERIMENTS.extend(experiments(max(max(SWEEPS["experiments"][2]), n_train)))
            if cache is not None:
                cache.write_bytes(pickle.dumps(_EXPERIMENTS))
    train = [e for e in _EXPERIMENTS if e.role is Role.TRAIN]
    if n_train > len(train):
        raise ValueError(f"{n_train} training batches asked, {len(train)} simulated")
    return copy.deepcopy(train[:n_train] + [e for e in _EXPERIMENTS if e.role is Role.VALIDATION])


def run_point(point: dict, budget_s: float = 300.0, pretrain_epochs: int | None = None,
              cache: Path | None = None) -> dict:
    """One ``train()`` call for ``point`` (in this process); never raises for a failed solve."""
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training.problem import Discretization
    from idaes_hybrid.training.train import HessianMode, TrainingError
    from idaes_hybrid.solve.memory import keep_freed_memory
    from idaes_hybrid.training.unit_train import train

    keep_freed_memory()  # as the command-line tool does
    config = load_run_config(CONFIG)
    exps = batch_experiments(point["n_train"], cache)
    spec = NetworkSpec.dense(len(config.network_inputs), [point["width"]] * 2, 1,
                             activation=config.activation, seed=config.seed)
    disc = Discretization(nfe=point["nfe"], ncp=point["ncp"])
    settings = replace(config.training, hessian=HessianMode(point["hessian"]),
                       solver_options={**config.training.solver_options, "max_cpu_time": float(budget_s)})
    if pretrain_epochs:
        settings = replace(settings, pretrain_epochs=pretrain_epochs)
    out: dict[str, Any] = {**point, "budget_s": budget_s, "n_weights": spec.n_parameters,
                           "error": None}
    with tempfile.TemporaryDirectory(prefix="growth-") as tmp, _instrumented(Path(tmp)) as rec:
        tick = time.perf_counter()
        try:
            result = train(config.definition, exps, spec, disc, config.physics, config.network_inputs,
                           settings)
        except TrainingError as err:
            result, out["error"] = None, str(err)
        elapsed = time.perf_counter() - tick
    for msg in rec["capture"].messages:
        if mt := _POINTS_RE.search(msg):
            out["n_points"] = int(mt.group(2))
    train_nlp = [s for s in rec["nlp"] if s["stage"] == "train"]
    if train_nlp:
        out["n_variables"], out["n_constraints"] = train_nlp[-1]["n"], train_nlp[-1]["m"]
    solve = next((s for s in rec["solves"] if s["stage"] == "train"), None)
    if result is not None:
        out.update(status=result.status, total_s=result.wall_time_s,
                   stages={k: {"wall_s": v.wall_time_s, "iterations": v.iterations, "status": v.status}
                           for k, v in result.stages.items()},
                   validation_rmse=result.validation_rmse, train_rmse=result.train_rmse,
                   hessian_used=result.stages["train"].hessian)
    else:  # the stage reports went with the exception: keep what the solves say
        out.update(status=(solve or {}).get("status", "failed"), total_s=None, partial_s=elapsed,
                   stages={s["stage"]: {"wall_s": s["wall_s"], "iterations": s["iterations"],
                                        "status": s["status"]} for s in rec["solves"]},
                   validation_rmse=None, train_rmse=None)
    if solve:
        its = solve["iterations"] or 0
        out["train"] = {**solve, "s_per_iteration": solve["wall_s"] / its if its else None,
                        "solver_s_per_iteration": (solve["wall_s"] - solve.get("setup_s", 0.0)) / its
                        if its else None}
    return out


def _point_in_child(point: dict, budget_s: float, pretrain_epochs: int | None, work: Path,
                    cache: Path) -> dict:
    """Run :func:`run_point` in a fresh interpreter; adds peak RSS and the other processes' load."""
    from benchmarks.formulations import _cpu_busy_s
    from benchmarks.peers import run_child

    tag = f"{point['sweep']}-{point['hessian']}-{point['x']}"
    out_json = work / f"{tag}.json"
    cmd = [sys.executable, "-m", "benchmarks.growth", "--point", json.dumps(point), "--budget", str(budget_s),
           "--json", str(out_json), "--cache", str(cache)]
    if pretrain_epochs:
        cmd += ["--pretrain-epochs", str(pretrain_epochs)]
    busy0, cpu0 = _cpu_busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN)
    child = run_child(cmd, work / f"{tag}.log", timeout=3 * budget_s + 300)
    busy1, cpu1 = _cpu_busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        res = json.loads(out_json.read_text())
    except (OSError, ValueError) as exc:
        res = {**point, "status": "failed", "error": f"no result ({exc}); exit code {child['rc']}: "
                                                     f"{child['stderr_tail'][-800:]}"}
    own = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    res["process"] = {"wall_s": child["wall_time_s"], "peak_rss_mb": child["peak_rss_mb"], "cpu_s": own,
                      "rc": child["rc"]}
    if busy0 is not None and busy1 is not None and child["wall_time_s"] > 0:
        res["process"]["other_cores"] = max(0.0, (busy1 - busy0 - own) / child["wall_time_s"])
    return res


# ----------------------------------------------------------------------------- report
def _f(v: Any, fmt: str = "{:.3g}") -> str:
    if v is None:
        return "–"
    try:
        return fmt.format(v)
    except (TypeError, ValueError):
        return str(v)


def series(doc: dict, sweep: str, hessian: str) -> dict[str, list]:
    """Sizes and times of one sweep and Hessian (``None`` where a point has no value);
    the total time only for points that finished."""
    pts = sorted((p for p in doc["points"] if p["sweep"] == sweep and p["hessian"] == hessian),
                 key=lambda p: p["x"])
    tr = [p.get("train") or {} for p in pts]
    return {"x": [p["x"] for p in pts],
            "total_s": [p.get("total_s") if p.get("status") in ("optimal", "acceptable") else None for p in pts],
            "train_s": [t.get("wall_s") for t in tr],
            "s_per_iteration": [t.get("s_per_iteration") for t in tr],
            "iterations": [t.get("iterations") for t in tr],
            "n_variables": [p.get("n_variables") for p in pts]}


def fits(doc: dict) -> dict[str, dict[str, float | None]]:
    """Fitted slopes per ``sweep/hessian`` of total time, train-stage time, time per
    iteration and iterations against the swept size."""
    out = {}
    for sweep, hessian in dict.fromkeys((p["sweep"], p["hessian"]) for p in doc["points"]):
        s = series(doc, sweep, hessian)
        out[f"{sweep}/{hessian}"] = {k: (f[0] if (f := fit_slope(s["x"], s[k])) else None)
                                     for k in ("total_s", "train_s", "s_per_iteration", "iterations",
                                               "n_variables")}
    return out


STAGES = ("build", "smoother", "pretrain", "train", "diagnostics", "validate")


def render(doc: dict) -> str:
    """The markdown report of a results document."""
    mach = doc["machine"]
    base = doc["base"]
    L = ["# Growth: how simultaneous training scales with experiments, elements and network width", "",
         f"Generated by `python -m benchmarks.growth{' --quick' if doc.get('quick') else ''}` on "
         f"{doc['date']}; revision {doc.get('revision')}.", "",
         f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB; {mach['os']}; Python "
         f"{mach['python']}. Shared machine: other processes' load during each point is in the "
         "`other cores` column; timings are indicative.", "",
         f"Base case: bioreactor (`flowsheets/bioreactor/config.toml` physics Yxs 0.5, Ypx 0.2; "
         f"softplus network, L2 1e-2), {base['n_train']} training batches, nfe {base['nfe']} x ncp "
         f"{base['ncp']}, hidden [{base['width']}, {base['width']}]. Batches from "
         "`flowsheets/bioreactor/many_batches.py` (drawn X0, S0, V0, F, Sf; noisy training batches "
         "t01.., 4 noise-free validation batches v1..v4). Formulation BATCHED (package default); "
         f"every solve has a {_f(doc['budget_s'], '{:.0f}')} s CPU budget (Ipopt `max_cpu_time`)"
         + (f"; pre-training {doc['pretrain_epochs']} epochs" if doc.get("pretrain_epochs") else "")
         + ". Each point ran in a fresh process; `total s` is `train()`'s wall time (build to "
         "validation), excluding imports and a TensorFlow warm-up (a 2-epoch Keras fit of a tiny "
         "network, so TensorFlow's one-time start-up of several seconds is in no point's pretrain "
         "time). `s/it` = train-stage wall time / its iterations.", ""]
    fitted = doc.get("fits", {})
    L += ["## Slopes (log-log least squares, time ~ size^k)", "",
          "| sweep | Hessian | size | k total | k train stage | k s/iteration | k iterations | k NLP variables |",
          "|---|---|---|---|---|---|---|---|"]
    for key, f in fitted.items():
        sweep, hessian = key.split("/")
        L.append(f"| {sweep} | {hessian} | {SWEEPS[sweep][1]} | " + " | ".join(
            _f(f.get(k), "{:.2f}") for k in ("total_s", "train_s", "s_per_iteration", "iterations",
                                            "n_variables")) + " |")
    L.append("")
    for sweep in dict.fromkeys(p["sweep"] for p in doc["points"]):
        L += [f"## Sweep: {SWEEPS[sweep][1]}", "",
              f"![{sweep}](growth_{sweep}.png)", "",
              "| Hessian | size | status | total s | " + " | ".join(f"{s} s" for s in STAGES)
              + " | train it | s/it | setup s | net. Hessians s | KKT solves s | NLP vars | NLP cons "
                "| points | weights | val RMSE X | val RMSE S | val RMSE P | peak RSS MB | other cores |",
              "|" + "---|" * (4 + len(STAGES) + 14)]
        for p in sorted((p for p in doc["points"] if p["sweep"] == sweep), key=lambda p: (p["hessian"], p["x"])):
            st, tr = p.get("stages") or {}, p.get("train") or {}
            r, proc = p.get("validation_rmse") or {}, p.get("process") or {}
            kkt = (tr.get("ipopt_timing") or {}).get("ComputeSearchDirection")
            total = p.get("total_s")
            total_txt = _f(total, "{:.1f}") if total is not None else (
                f"> {p['partial_s']:.0f}" if p.get("partial_s") else "–")
            L.append(" | ".join([
                f"| {p['hessian']}" + (f" ({p['hessian_used']})" if p.get("hessian_used") not in (None, p["hessian"])
                                       else ""), str(p["x"]), str(p.get("status")), total_txt,
                *(_f((st.get(s) or {}).get("wall_s"), "{:.2f}") for s in STAGES),
                _f(tr.get("iterations")), _f(tr.get("s_per_iteration")), _f(tr.get("setup_s"), "{:.2f}"),
                _f(tr.get("network_hessian_s"), "{:.2f}"), _f(kkt, "{:.2f}"), _f(p.get("n_variables")),
                _f(p.get("n_constraints")), _f(p.get("n_points")), _f(p.get("n_weights")),
                _f(r.get("X")), _f(r.get("S")), _f(r.get("P")), _f(proc.get("peak_rss_mb"), "{:.0f}"),
                _f(proc.get("other_cores"), "{:.2f}")]) + " |")
        L.append("")
    errs = [p for p in doc["points"] if p.get("error")]
    if errs:
        L += ["## Points that did not finish", ""]
        L += [f"- {p['sweep']} {p['hessian']} {p['x']}: {str(p['error'])[-400:]}" for p in errs]
        L.append("")
    L += ["## Columns", "",
          "- Stage times from `TrainingResult.stages`; a point that hit the budget keeps the solve "
          "times only. `setup s`: writing and reading the `.nl` part and the network's sparsity "
          "(inside the train stage); `net. Hessians s`: the batched network's derivative evaluations; "
          "`KKT solves s`: Ipopt's `ComputeSearchDirection` timer (factorizations, inertia "
          "corrections and back-solves of the KKT matrix with MUMPS), from `print_timing_statistics`.",
          "- NLP variables/constraints: the size of the callback NLP Ipopt sees in the train stage. "
          "Points: network evaluation points (collocation points of all training batches). "
          "Weights: network weights and biases.",
          "- Validation RMSE pooled over v1..v4, each simulated from its initial state and inputs.", ""]
    return "\n".join(L)


def plot(doc: dict, sweep: str, path: Path) -> None:
    """Log-log plot of one sweep: total time and train-stage time per iteration, with fits."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for hessian, style in (("exact", "-"), ("limited-memory", "--"), ("block-diagonal", ":"), ("auto", "-.")):
        s = series(doc, sweep, hessian)
        if not s["x"]:
            continue
        for key, label, color in (("total_s", "total", "C0"), ("s_per_iteration", "train s/iteration", "C1")):
            xy = [(x, y) for x, y in zip(s["x"], s[key]) if y]
            if not xy:
                continue
            f = fit_slope(*zip(*xy))
            lab = f"{label} ({hessian})" + (f", slope {f[0]:.2f}" if f else "")
            ax.plot(*zip(*xy), style, marker="o", color=color, label=lab)
            if f:
                xs = [min(s["x"]), max(s["x"])]
                ax.plot(xs, [f[1] * x ** f[0] for x in xs], ":", color=color, lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    sizes = sorted({p["x"] for p in doc["points"] if p["sweep"] == sweep})
    ax.set_xticks(sizes, [str(x) for x in sizes])  # the swept sizes, not powers of ten
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(SWEEPS[sweep][1])
    ax.set_ylabel("seconds")
    ax.set_title(f"idaes-hybrid training vs {SWEEPS[sweep][1].split(' (')[0]}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(doc: dict, out_dir: Path) -> None:
    """Write ``growth.json``, ``growth.md`` and one plot per sweep to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc["fits"] = fits(doc)
    (out_dir / "growth.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    (out_dir / "growth.md").write_text(render(doc))
    for sweep in dict.fromkeys(p["sweep"] for p in doc["points"]):
        plot(doc, sweep, out_dir / f"growth_{sweep}.png")


def run(sweeps: Sequence[str] = tuple(SWEEPS), hessians: dict[str, list[str]] | None = None,
        budget_s: float = 300.0, quick: bool = False, out_dir: Path = RESULTS,
        in_process: bool = False) -> dict:
    """Run the sweeps point by point; rewrites the results after every point."""
    from benchmarks.formulations import git_revision
    from benchmarks.peers import machine

    hessians = hessians or DEFAULT_HESSIANS
    epochs = QUICK_PRETRAIN_EPOCHS if quick else None
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "revision": git_revision(),
           "machine": machine(), "quick": quick, "base": QUICK_BASE if quick else BASE,
           "budget_s": budget_s, "pretrain_epochs": epochs, "points": []}
    work = Path(tempfile.mkdtemp(prefix="growth-"))
    todo = points(sweeps, hessians, quick)
    cache = work / "experiments.pickle"
    batch_experiments(max(p["n_train"] for p in todo), cache)  # simulate the batches once
    if in_process:
        warm_up_tensorflow()
    for i, point in enumerate(todo, 1):
        print(f"growth [{i}/{len(todo)}] {point['sweep']} {point['hessian']} size {point['x']}", flush=True)
        res = (run_point(point, budget_s, epochs) if in_process
               else _point_in_child(point, budget_s, epochs, work, cache))
        tr = res.get("train") or {}
        print(f"    {res.get('status')}: total {_f(res.get('total_s'), '{:.1f}')} s, train "
              f"{_f(tr.get('wall_s'), '{:.1f}')} s, {tr.get('iterations')} it, "
              f"{_f(tr.get('s_per_iteration'))} s/it", flush=True)
        doc["points"].append(res)
        write(doc, out_dir)
    print(f"growth: wrote {out_dir / 'growth.md'}", flush=True)
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.growth", description=__doc__.split("\n")[0])
    p.add_argument("--sweeps", default=",".join(SWEEPS), help="comma-separated: " + ", ".join(SWEEPS))
    p.add_argument("--hessians", help="comma-separated Hessian options for every selected sweep "
                   "(default: exact, plus limited-memory on the experiments sweep)")
    p.add_argument("--budget", type=float, default=300.0, help="CPU budget of every solve (s)")
    p.add_argument("--quick", action="store_true", help="tiny sweep (smoke test); writes to a "
                   "temporary folder unless --out is given")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results)")
    p.add_argument("--in-process", action="store_true", help="run the points in this process")
    p.add_argument("--render-only", action="store_true", help="rewrite growth.md and the plots from growth.json")
    p.add_argument("--point", help=argparse.SUPPRESS)  # child mode: one point as JSON
    p.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--pretrain-epochs", type=int, help=argparse.SUPPRESS)
    p.add_argument("--cache", type=Path, help=argparse.SUPPRESS)  # pickled batches
    a = p.parse_args(argv)
    if a.point:
        warm = warm_up_tensorflow()
        res = {**run_point(json.loads(a.point), a.budget, a.pretrain_epochs, a.cache), "warm_up_s": warm}
        text = json.dumps(res, indent=1, default=str)
        if a.json:
            a.json.write_text(text)
        return 0
    out = a.out or (Path(tempfile.mkdtemp(prefix="growth-quick-")) if a.quick else RESULTS)
    if a.render_only:
        write(json.loads((out / "growth.json").read_text()), out)
        return 0
    sweeps = [s for s in a.sweeps.split(",") if s]
    if unknown := [s for s in sweeps if s not in SWEEPS]:
        p.error(f"unknown sweep {', '.join(unknown)}; choose from {', '.join(SWEEPS)}")
    hessians = {s: a.hessians.split(",") for s in sweeps} if a.hessians else None
    doc = run(sweeps, hessians, a.budget, a.quick, out, a.in_process)
    return 1 if any(pt.get("status") == "failed" for pt in doc["points"]) else 0


if __name__ == "__main__":
    sys.exit(main())
