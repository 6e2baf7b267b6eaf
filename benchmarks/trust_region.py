"""Feed optimization on a trained hybrid model: nominal optimum against the trust region.

Issue 16's case: a hybrid bioreactor model trained on three substrate-inhibited (Haldane)
batches (true noise sd given; :func:`benchmarks.noise_data.write_data_set`) is asked for
the feed profile of a new batch with a concentrated feed (Sf = 30 g/L, three times the
training batches'); the profile is then run on the true model (``compare_reference``,
``[reference] Ki_inv``), and the true optimum is computed there. Rows: the nominal hybrid
optimum, and the trust-region optimum (network inputs inside the box the training
covered, or with ``--shapes box hull`` also inside the convex hull of the training inputs,
widened by ``trust_margin``). Each row gives the share of the optimum's time points whose
network inputs lie outside the training's hull (``optimization.json``'s ``extrapolation``).

With ``--design low_substrate`` the training batches feed a concentrated feed slowly onto
a dense culture (:data:`benchmarks.noise_data.DESIGNS`): S stays below the Haldane optimum
(2.24 g/L), the data never show inhibition, and the trained rate is optimistic beyond them;
the request then starts from that design's culture (:data:`INITIAL`).

Run: ``python -m benchmarks.trust_region [--seeds 1 2] [--margins 0 0.5] [--requests 30:2.5]
[--design low_substrate] [--shapes box hull] [--ensemble-trust box:0] [--reuse --work DIR]`` (about four
minutes per seed and request); ``--ensemble-trust`` adds the ensemble optima inside trust regions; ``--requests`` lists
``Sf:V_max[:horizon]`` (g/L, L, h), each optimized with the same trained model. Results in
``benchmarks/results/trust_region.md`` and ``.json`` (``--tag`` writes ``trust_region_<tag>.*``
instead).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from benchmarks import noise_data

RESULTS = Path(__file__).resolve().parent / "results"
KINETICS = "haldane"
#: The true Haldane law of the data (benchmarks.noise_data.haldane) and the request.
TABLES = """
[reference]
mu_max = 0.3
Ks = 1.0
Ki_inv = 0.2

[optimization]
initial = {X = 0.1, P = 0.0, S = 5.0, V = 1.0}
Sf = 30.0
horizon = 40.0
intervals = 10
F_min = 0.0
F_max = 0.2
V_max = 2.5
compare_reference = true
"""
#: The issue's request: Sf = 30 g/L, V <= 2.5 L.
DEFAULT_REQUEST = (30.0, 2.5)
#: The request's initial state for each data design (benchmarks.noise_data.DESIGNS).
INITIAL = {"public": "{X = 0.1, P = 0.0, S = 5.0, V = 1.0}",
           "low_substrate": "{X = 1.0, P = 0.0, S = 1.0, V = 1.0}"}
#: What the training batches cover, for the table's header.
COVERAGE = {"public": "training batches S(0) = Sf = 5-10 g/L, inside the inhibiting range",
            "low_substrate": "training batches fed 25-30 g/L slowly onto a dense culture: S "
                             "below 2.2 g/L, never in the inhibiting range (optimum 2.24 g/L)"}


def request_tables(sf: float, v_max: float, horizon: float = 40.0, design: str = "public") -> str:
    """:data:`TABLES` with another feed concentration, volume limit, horizon (h) and the
    initial state of ``design``'s request (:data:`INITIAL`)."""
    return (TABLES.replace("Sf = 30.0", f"Sf = {sf}").replace("V_max = 2.5", f"V_max = {v_max}")
            .replace("horizon = 40.0", f"horizon = {horizon}")
            .replace(f"initial = {INITIAL['public']}", f"initial = {INITIAL[design]}"))


class _Tee(io.StringIO):
    """Keeps what is written (the CLI's ``error:`` line) and passes it on to ``stream``."""

    def __init__(self, stream) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text)
        return super().write(text)

    def lines(self) -> list[str]:
        return self.getvalue().splitlines()


def solver_status(message: str) -> str:
    """The solver status in the CLI's ``error:`` line of a failed optimization (``""`` if none)."""
    found = re.search(r"'optimization'(?:, [a-z -]+)?: ([a-z_ ]+) \(", message)
    return found.group(1) if found else ""


def optimize(model: Path, config: Path, out: Path, margin: float | None,
             ensemble: str | None = None, shape: str = "box") -> dict:
    """``idaes-hybrid optimize`` with (``margin``) or without (``None``) the trust region of
    ``shape``; with ``ensemble``, the row is the ensemble optimum's (``"expected"`` or
    ``"worst-case"``)."""
    from idaes_hybrid.cli.app import main

    text = config.read_text()
    if margin is not None:
        text = text.replace("compare_reference = true", "compare_reference = true\n"
                            f'trust_region = "{shape}"\ntrust_margin = {margin}')
    if ensemble is not None:
        text = text.replace("compare_reference = true", f'compare_reference = true\nensemble = "{ensemble}"')
    cfg = config.with_name(f"{config.stem}_{out.name}.toml")  # beside config: its data paths hold
    cfg.write_text(text)
    tick = time.perf_counter()
    err = _Tee(sys.stderr)
    with contextlib.redirect_stderr(err):
        rc = main(["optimize", str(model), str(cfg), "--out", str(out), "--quiet"])
    if rc != 0:
        message = next((line for line in err.lines() if line.startswith("error:")), "")
        status = solver_status(message)
        return {"error": f"exit code {rc}" + (f" ({status})" if status else ""), "message": message}
    doc = json.loads((out / "optimization.json").read_text())
    if ensemble is not None:
        ens = doc["ensemble_optimum"]
        return {"predicted": ens["product_mass"], "on_truth": ens["product_true"],
                "true_optimum": doc["true_optimum_product"], "status": ens["status"],
                "share_of_true_optimum": ens["product_true"] / doc["true_optimum_product"],
                "wall_time_s": time.perf_counter() - tick}
    return {"predicted": doc["hybrid_product_predicted"], "on_truth": doc["hybrid_product_true"],
            "true_optimum": doc["true_optimum_product"],
            "outside_hull": (doc.get("extrapolation") or {}).get("outside_hull"),
            "share_of_true_optimum": doc["hybrid_product_true"] / doc["true_optimum_product"],
            "wall_time_s": time.perf_counter() - tick}


def run_seed(seed: int, work: Path, margins: Sequence[float], members: int = 5,
             requests: Sequence[tuple[float, ...]] = (DEFAULT_REQUEST,),
             design: str = "public", shapes: Sequence[str] = ("box",),
             ensemble_trust: Sequence[tuple[str, float]] = (), reuse: bool = False,
             ensemble: bool = True) -> list[dict]:
    """Train one data set of ``design`` (with an ensemble of ``members``; ``reuse``: keep a
    model ``work`` already holds), then, for each request ``(Sf, V_max[, horizon])``, optimize
    nominally, with each trust region shape and margin, over the ensemble (expected and
    worst-case product; not if ``ensemble`` is false), and over the ensemble inside each
    ``(shape, margin)`` of ``ensemble_trust``."""
    from idaes_hybrid.cli.app import main

    folder = work / (f"{KINETICS}_{seed}" if design == "public" else f"{KINETICS}_{design}_{seed}")
    config = noise_data.write_data_set(folder, KINETICS, seed, design=design)["with"]
    base = config.read_text() + f'\n[uncertainty]\nmethod = "ensemble"\nmembers = {members}\n'
    config.write_text(base)
    trained = reuse and (folder / "run" / "model" / "model.json").exists()
    if not trained and main(["train", str(config), "--out", str(folder / "run"), "--quiet"]) != 0:
        return [{"seed": seed, "mode": "train", "error": "training failed"}]
    rows = []
    for sf, v_max, *rest in requests:
        horizon = rest[0] if rest else 40.0
        request = {"seed": seed, "Sf": sf, "V_max": v_max, "horizon": horizon}
        config = folder / f"request_{sf:g}_{v_max:g}_{horizon:g}.toml"
        config.write_text(base + request_tables(sf, v_max, horizon, design))
        out = folder / f"sf{sf:g}_v{v_max:g}_h{horizon:g}"
        out.mkdir(parents=True, exist_ok=True)
        rows.append({**request, "mode": "nominal",
                     **optimize(folder / "run" / "model", config, out / "nominal", None)})
        for shape in shapes:
            for margin in margins:
                rows.append({**request, "mode": f"trust region ({shape}), margin {margin:g}",
                             **optimize(folder / "run" / "model", config, out / f"trust_{shape}_{margin:g}",
                                        margin, shape=shape)})
        for objective in ("expected", "worst-case") if ensemble else ():
            rows.append({**request, "mode": f"ensemble of {members}, {objective}",
                         **optimize(folder / "run" / "model", config, out / objective, None, objective)})
            for shape, margin in ensemble_trust:
                rows.append({**request, "mode": f"ensemble of {members}, {objective}, trust region "
                                                f"({shape}), margin {margin:g}",
                             **optimize(folder / "run" / "model", config,
                                        out / f"{objective}_{shape}_{margin:g}", margin, objective, shape)})
    return rows


def render(rows: Sequence[dict], design: str = "public") -> str:
    """Markdown table."""
    lines = ["# Feed optimization: nominal optimum against the trust region and the ensemble "
             "(issue 16)", "",
             "Haldane bioreactor data (3 noisy training batches, true noise sd given, default "
             "training with a 5-member ensemble, `[uncertainty] method = \"ensemble\"`; " + COVERAGE[design] + "), a new batch "
             f"starting from {INITIAL[design]} with a concentrated feed, 10 equal feed intervals, "
             "the volume limit below; every hybrid optimum run on the true model.", "",
             "| seed | Sf (g/L) | V_max (L) | horizon (h) | optimum | predicted P V (g) | on the true model (g) | "
             "true optimum (g) | share of the true optimum | points outside the training hull |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        req = (f"| {r['seed']} | {r.get('Sf', DEFAULT_REQUEST[0]):g} | {r.get('V_max', DEFAULT_REQUEST[1]):g} "
               f"| {r.get('horizon', 40.0):g} ")
        if "error" in r:
            lines.append(f"{req}| {r['mode']} | {r['error']} | - | - | - | - |")
            continue
        outside = "-" if r.get("outside_hull") is None else f"{r['outside_hull']:.0%}"
        stopped = " (stopped at max_iter)" if r.get("status") == "max_iterations" else ""
        lines.append(f"{req}| {r['mode']}{stopped} | {r['predicted']:.3f} | {r['on_truth']:.3f} | "
                     f"{r['true_optimum']:.3f} | {r['share_of_true_optimum']:.0%} | {outside} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--requests", nargs="+", default=[f"{DEFAULT_REQUEST[0]:g}:{DEFAULT_REQUEST[1]:g}"],
                        help="Sf:V_max[:horizon] (g/L:L:h) optimized with each trained model")
    parser.add_argument("--work", type=Path, default=None, help="keep every run in this folder")
    parser.add_argument("--tag", default="", help="write trust_region_<tag>.md/.json")
    parser.add_argument("--shapes", nargs="+", default=["box"], choices=["box", "ellipsoid", "hull"],
                        help="trust region shapes to optimize with (each with every margin)")
    parser.add_argument("--design", default="public", choices=sorted(noise_data.DESIGNS),
                        help="training batches (benchmarks.noise_data.DESIGNS) and request start")
    parser.add_argument("--ensemble-trust", nargs="+", default=[], metavar="SHAPE:MARGIN",
                        help="also optimize over the ensemble inside these trust regions (e.g. box:0)")
    parser.add_argument("--no-ensemble", action="store_true",
                        help="skip the ensemble optima (the nominal and trust-region rows only)")
    parser.add_argument("--reuse", action="store_true", help="keep models already trained in --work")
    args = parser.parse_args(argv)
    ensemble_trust = [(t.split(":")[0], float(t.split(":")[1])) for t in args.ensemble_trust]
    requests = [tuple(float(v) for v in r.split(":")) for r in args.requests]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        rows = [r for s in args.seeds
                for r in run_seed(s, work, args.margins, requests=requests, design=args.design,
                                  shapes=args.shapes, ensemble_trust=ensemble_trust, reuse=args.reuse,
                                  ensemble=not args.no_ensemble)]
    RESULTS.mkdir(exist_ok=True)
    stem = f"trust_region_{args.tag}" if args.tag else "trust_region"
    (RESULTS / f"{stem}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(render(rows, args.design))
    print(render(rows, args.design))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
