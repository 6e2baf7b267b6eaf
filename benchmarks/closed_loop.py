"""Closed loop on the trust-region case: optimize, run the batch on the true model, update, again.

Issue 16's case (:mod:`benchmarks.trust_region`): a hybrid bioreactor model trained on three
substrate-inhibited (Haldane) batches with Sf 5-10 g/L is asked for the feed of a batch with a
concentrated feed (Sf = 30 g/L, 10 intervals, V <= 2.5 L, 40 h). Round 1 runs the nominal
hybrid optimum; each round's batch is simulated on the true Haldane model, measured hourly with
the training data's noise (seed fixed per round), and added to the model with
``update_model`` (all earlier batches kept); the next round optimizes the updated model. Every
profile's product on the true model is divided by the true optimum (computed on the true
model). The last row ("after round N") is the optimum of the model after the last update.

Run: ``python -m benchmarks.closed_loop [--seeds 1 2] [--rounds 5] [--proximal W] [--name N]``
(10-25 minutes per seed, mostly the updates); results in ``benchmarks/results/closed_loop.md``
and ``.json`` (``--proximal 0 --name closed_loop_proximal0``: without the pull towards the
best batch).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Sequence

from benchmarks import noise_data
from benchmarks.trust_region import KINETICS, TABLES

RESULTS = Path(__file__).resolve().parent / "results"
#: Share of the true optimum the issue asks the loop to reach within the rounds.
TARGET = 0.99


def request_of(config):
    """The ``[optimization]`` table of ``config`` as a :class:`FeedRequest`."""
    return config.optimization.request()


def run_seed(seed: int, work: Path, rounds: int, anchor: bool, proximal: float) -> dict:
    """Train one data set, then run the closed loop on it."""
    from idaes_hybrid.cli.app import main
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.optimize import closed_loop as cl
    from idaes_hybrid.output.saved import load_model

    folder = work / f"{KINETICS}_{seed}"
    path = noise_data.write_data_set(folder, KINETICS, seed)["with"]
    path.write_text(path.read_text() + TABLES)
    if main(["train", str(path), "--out", str(folder / "run"), "--quiet"]) != 0:
        return {"seed": seed, "error": "training failed"}
    config, model = load_run_config(path), load_model(folder / "run" / "model")
    request, truth = request_of(config), {**config.physics, **config.reference}
    tick = time.perf_counter()
    optimum = cl.true_optimum(model, truth, request, config.training).product_mass
    plant = cl.reference_plant(model, truth, request, noise_data.NOISE_SD, seed=seed,
                               settings=config.training)
    result = cl.run_closed_loop(model, request, plant, rounds, config.training_experiments,
                                config.validation_experiments, config.training, anchor=anchor,
                                proximal=proximal)
    best = cl.proximal_center(result.rounds, proximal)
    after = _final_optimum(result.model, truth, request, config.training, best)
    rows = [{"round": r.round, "predicted": r.predicted, "true": r.true,
             "share": r.true / optimum, "feed": list(r.profile.values),
             "new_batch_rmse_before": r.update_rmse_before,
             "new_batch_rmse_after": r.update_rmse_after} for r in result.rounds]
    rows.append({"round": f"after round {rounds}", "predicted": after[0], "true": after[1],
                 "share": after[1] / optimum, "feed": after[2]})
    return {"seed": seed, "anchor": anchor, "proximal": proximal, "true_optimum": optimum, "rounds": rows,
            "reached_round": next((r["round"] for r in rows if r["share"] >= TARGET), None),
            "wall_time_s": time.perf_counter() - tick}


def _final_optimum(model, truth, request, settings, proximal) -> tuple[float, float, list[float]]:
    """The updated model's optimum: predicted and true product, feed."""
    from idaes_hybrid.optimize.closed_loop import evaluate_on_truth, model_optimum

    opt = model_optimum(model, request, settings, proximal)
    on_truth = evaluate_on_truth(model, truth, request, opt.profile, settings)
    return opt.product_mass, on_truth.product_mass, list(opt.profile.values)


#: Seed 1 with the loop's earlier versions (measured while it was developed; the current
#: code no longer runs them): why a round starts from the best batch and is pulled to it.
HISTORY = """## Earlier versions of the loop (seed 1)

| round | plain re-optimization | pull towards the best batch, started from a constant feed |
|---|---|---|
| 1 (nominal) | 63.3% | 63.3% |
| 2 | 76.2% | 90.1% |
| 3 | 97.7% | 95.9% |
| 4 | 5.9% | 6.7% |
| 5 | 23.7% | (stopped) |

Plain re-optimization (each round from the constant feed that fills the reactor, no pull):
in round 4 the model rated a feed of 0.16 L/h in the first 4 h at the 5 g bound; on the
true model the few cells were inhibited at S near 19 g/L, where no batch had been. With
the pull alone, round 4's optimization, started from the constant feed, stopped at a local
optimum the model itself rated at 2.53 g, where the same model (the same first three
rounds) started from the best batch finds 5 g (the current loop's round 4). Starting from
the best batch removes that; the pull keeps the step small where the model is flat.
"""


def render(results: Sequence[dict]) -> str:
    """Markdown tables, one per seed."""
    lines = ["# Closed loop: optimize, run the batch, update, optimize again (issue 16)", "",
             "Haldane bioreactor data (3 noisy training batches, Sf 5-10 g/L, true noise sd "
             "given, default training); the batch optimized has Sf = 30 g/L, 10 feed intervals, "
             "V <= 2.5 L, 40 h. Round 1 runs the nominal hybrid optimum. Each round's batch is "
             "simulated on the true model, measured hourly (X, P, S, V with the training data's "
             "noise sd) and added to the model (`update_model`, every earlier batch kept); "
             f"target: {TARGET:.0%} of the true optimum.", ""]
    for res in results:
        if "error" in res:
            lines += [f"## seed {res['seed']}: {res['error']}", ""]
            continue
        reached = res["reached_round"]
        lines += [f"## seed {res['seed']} (true optimum {res['true_optimum']:.3f} g; anchor "
                  f"{str(res['anchor']).lower()}; {res['wall_time_s']:.0f} s)", "",
                  f"proximal {res['proximal']:g}; {TARGET:.0%} reached: " + (f"round {reached}" if reached is not None else "no"),
                  "", "| round | predicted P V (g) | on the true model (g) | share of the true optimum |",
                  "|---|---|---|---|"]
        for r in res["rounds"]:
            label = "1 (nominal)" if r["round"] == 1 else r["round"]
            lines.append(f"| {label} | {r['predicted']:.3f} | {r['true']:.3f} | {r['share']:.1%} |")
        lines.append("")
    return "\n".join(lines) + "\n" + HISTORY


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--proximal", type=float, default=None,
                        help="weight of the pull towards the best batch (default: the library's)")
    parser.add_argument("--name", default="closed_loop",
                        help="results file name (benchmarks/results/NAME.md and .json)")
    parser.add_argument("--no-anchor", action="store_true",
                        help="regularize each update towards zero, not the previous weights")
    args = parser.parse_args(argv)
    from idaes_hybrid.optimize.closed_loop import DEFAULT_PROXIMAL

    proximal = DEFAULT_PROXIMAL if args.proximal is None else args.proximal
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_seed(s, Path(tmp), args.rounds, not args.no_anchor, proximal)
                   for s in args.seeds]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
