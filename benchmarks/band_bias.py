"""Where a Laplace band misses: the fit's scatter against its bias, on one lopsided design.

A fed-batch bioreactor data set (:mod:`benchmarks.noise_data`, Contois kinetics by default)
whose three training batches hold very different numbers of samples (40, 5 and 3 by
default), a 4-10-10-1 network, the true ``noise_sd`` given: the design on which a helper's
review saw a 90% Laplace band cover about half of the noise-free validation points. The
base run trains it with ``[uncertainty] method = "laplace"`` (prior precision from the
evidence); then ``--refits`` data sets with the **same sample times and missing cells and
fresh noise** are trained with that prior precision fixed. At the validation batch's times
the table gives the truth, the base band's sd, and over the refits the mean error (bias)
and the scatter (sd): scatter close to the band's sd with a bias of several sd means the
band's variance is right and its miss is the network's extrapolation, fixed by the design.

Run: ``python -m benchmarks.band_bias [--kinetics contois] [--samples 40 5 3] [--refits 8]``
(a minute or two per fit); results in ``benchmarks/results/band_bias.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from benchmarks import noise_data
from benchmarks.uncertainty import TABLES

RESULTS = Path(__file__).resolve().parent / "results"
Z90 = 1.6448536269514722


def write_design(folder: Path, kinetics: str, seed: int, samples: Sequence[int]) -> Path:
    """The base data set: ragged batches of ``samples`` points each; its Laplace config."""
    config = noise_data.write_data_set(folder, kinetics, seed)["with"]
    rng = noise_data.data_rng(kinetics, seed + 1000)
    mu = noise_data.KINETICS[kinetics]
    for n, (name, initial) in zip(samples, noise_data.TRAIN_BATCHES.items()):
        frame = noise_data.ragged_batch(initial, mu, rng, n)
        frame.to_csv(folder / "data" / f"{name}.csv", float_format="%.8g", lineterminator="\n", na_rep="")
    config.write_text(config.read_text().replace("hidden = [20, 20]", "hidden = [10, 10]") + TABLES["laplace"])
    return config


def renoise(base: Path, target: Path, kinetics: str, rng: np.random.Generator) -> None:
    """Copy ``base``'s data set to ``target`` with fresh noise on the same cells."""
    (target / "data").mkdir(parents=True, exist_ok=True)
    mu = noise_data.KINETICS[kinetics]
    for name, initial in noise_data.TRAIN_BATCHES.items():
        measured = pd.read_csv(base / "data" / f"{name}.csv", index_col="time")
        clean = noise_data.simulate(initial, measured.index.to_numpy(), mu, *noise_data.DESIGNS["public"].feed_of(name))
        sd = np.array([noise_data.NOISE_SD[c] for c in measured.columns])
        noisy = clean[list(measured.columns)] + rng.normal(size=measured.shape) * sd
        noisy.mask(measured.isna()).to_csv(target / "data" / f"{name}.csv", float_format="%.8g",
                                           lineterminator="\n", na_rep="")
    (target / "data" / "val.csv").write_text((base / "data" / "val.csv").read_text())


def fit(config: Path, out: Path) -> pd.DataFrame:
    """Train ``config`` and predict its experiments; ``predict``'s CSV."""
    from idaes_hybrid.cli.app import main

    if main(["train", str(config), "--out", str(out / "run"), "--quiet"]) != 0:
        raise RuntimeError(f"training {config} failed")
    if main(["predict", str(out / "run" / "model"), str(config), "--out", str(out / "pred.csv"), "--quiet"]) != 0:
        raise RuntimeError(f"predicting {config} failed")
    return pd.read_csv(out / "pred.csv")


def at(pred: pd.DataFrame, times: np.ndarray, column: str) -> np.ndarray:
    """The validation batch's ``column`` interpolated onto ``times``."""
    val = pred[pred["experiment"] == "val"]
    return np.interp(times, val["time"], val[column])


def run(work: Path, kinetics: str, seed: int, samples: Sequence[int], refits: int) -> dict:
    """The base fit and the refits; per validation time, truth, band sd, bias and scatter of X."""
    config = write_design(work / "base", kinetics, seed, samples)
    base = fit(config, work / "base")
    alpha = json.loads((work / "base" / "run" / "metrics.json").read_text())["regularization"]["alpha"]
    truth = pd.read_csv(work / "base" / "data" / "val.csv")
    truth = truth[truth["time"] > 0]
    t = truth["time"].to_numpy()
    band_sd = (at(base, t, "X_upper") - at(base, t, "X_lower")) / (2 * Z90)
    rng = np.random.default_rng([seed, 7])
    fixed = re.sub(r"\n\[uncertainty\]\n[^\[]*", "\n", config.read_text()) + f"\n[training]\nregularization = {alpha}\n"
    errors = []
    for k in range(refits):
        folder = work / f"refit_{k}"
        renoise(work / "base", folder, kinetics, rng)
        (folder / "config.toml").write_text(fixed)
        errors.append(at(fit(folder / "config.toml", folder), t, "X") - truth["X"].to_numpy())
    errors = np.array(errors)
    return {"kinetics": kinetics, "seed": seed, "samples": list(samples), "alpha": alpha,
            "time": t.tolist(), "truth": truth["X"].tolist(), "band_sd": band_sd.tolist(),
            "base_error": (at(base, t, "X") - truth["X"].to_numpy()).tolist(),
            "bias": errors.mean(axis=0).tolist(), "scatter": errors.std(axis=0, ddof=1).tolist(),
            "refits": refits}


def render(r: dict, every: int = 4) -> str:
    """Markdown: the summary line and every ``every``-th validation time."""
    sd, bias, scatter = (np.array(r[k]) for k in ("band_sd", "bias", "scatter"))
    rms = lambda v: float(np.sqrt(np.mean(np.square(v))))  # noqa: E731
    covered = float(np.mean(np.abs(np.array(r["base_error"])) <= Z90 * sd))
    lines = ["# Where a Laplace band misses: scatter against bias", "",
             f"{r['kinetics'].capitalize()} kinetics (`benchmarks/noise_data.py`), three training batches of "
             f"{', '.join(map(str, r['samples']))} samples (seed {r['seed']}), 4-10-10-1 network, true noise sd; "
             f"base run `[uncertainty] method = \"laplace\"` (evidence alpha {r['alpha']:.3g}); {r['refits']} refits "
             "on the same sample times with fresh noise and alpha fixed. Validation batch X (g/L).", "",
             f"**RMS over the validation times: band sd {rms(sd):.4f}, refits' scatter {rms(scatter):.4f}, "
             f"their bias {rms(bias):.4f}; the base band (90%) covered {covered:.0%} of the points.**", "",
             "| time (h) | truth | band sd | bias of the refits | scatter of the refits | bias / band sd |",
             "|---|---|---|---|---|---|"]
    for i in range(0, len(r["time"]), every):
        lines.append(f"| {r['time'][i]:.1f} | {r['truth'][i]:.3f} | {sd[i]:.4f} | {bias[i]:+.4f} | "
                     f"{scatter[i]:.4f} | {bias[i] / max(sd[i], 1e-12):+.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinetics", default="contois", choices=sorted(noise_data.KINETICS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", type=int, nargs=3, default=[40, 5, 3])
    parser.add_argument("--refits", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp), args.kinetics, args.seed, args.samples, args.refits)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "band_bias.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "band_bias.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
