"""Train the saponification hybrid flowsheet and plot the learned k(T) against Arrhenius.

    .venv/bin/python flowsheets/saponification/run.py --out results/saponification
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import optimize as opt  # noqa: E402
from model import VARIABLES, arrhenius, build_true  # noqa: E402

from idaes_hybrid import NetworkSpec  # noqa: E402
from idaes_hybrid.config.flowsheet import load_flowsheet_config  # noqa: E402
from idaes_hybrid.model import FlowsheetExperiment, HybridFlowsheet  # noqa: E402
from idaes_hybrid.training.flowsheet_train import train_flowsheet  # noqa: E402

CONFIG = load_flowsheet_config(HERE / "config.toml")
#: The hybrid flowsheet of config.toml: IDAES units, k(T) of the reaction package learned.
HYBRID: HybridFlowsheet = CONFIG.flowsheet


def experiments() -> list[FlowsheetExperiment]:
    """The four experiments of config.toml with their data files."""
    return CONFIG.experiments


def train(nfe: int | None = None, seed: int | None = None):
    """Train k(T) as config.toml says (a 1-10-1 softplus network)."""
    seed = CONFIG.seed if seed is None else seed
    spec = NetworkSpec.dense(1, CONFIG.hidden, 1, activation=CONFIG.activation, seed=seed)
    return train_flowsheet(HYBRID, experiments(), spec, nfe=nfe or CONFIG.discretization.nfe,
                           ncp=CONFIG.discretization.ncp, settings=CONFIG.training)


def rate_constant_errors(result, temperatures) -> np.ndarray:
    """Relative error of the learned k against Arrhenius at ``temperatures``."""
    t = np.asarray(temperatures, dtype=float)
    k = result.spec.predict(t[:, None])[:, 0]
    return k / np.array([arrhenius(x) for x in t]) - 1.0


def compare_optimizations(spec) -> dict:
    """Heat-duty optimization on the trained and on the true flowsheet; the hybrid
    optimum evaluated on the truth."""
    truth = opt.optimize(HybridFlowsheet(build_true, [], VARIABLES), None)
    hybrid = opt.optimize(HYBRID, spec)
    on_truth = opt.evaluate_on_truth(hybrid.inputs())
    return {"segment_times": truth.segment_times, "true_profile": truth.profiles["Q"],
            "hybrid_profile": hybrid.profiles["Q"], "true_optimum": truth.objective,
            "hybrid_optimum": hybrid.objective, "hybrid_profile_on_truth": on_truth,
            "relative_gap": on_truth / truth.objective - 1.0}


def plot_profiles(comparison: dict, path: Path) -> None:
    """The optimal heat-duty profiles, hybrid and true, as steps."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    t = comparison["segment_times"]
    for key, style, label in (("true_profile", "k-", "true flowsheet"),
                              ("hybrid_profile", "r--", "trained hybrid flowsheet")):
        q = comparison[key]
        ax.step(t, [q[0] / 1e3, *[v / 1e3 for v in q]], style, where="pre", label=label)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("heat duty [kW]")
    ax.set_title(f"hybrid optimum on the truth: {100 * comparison['relative_gap']:+.4f}% from the true optimum")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/saponification")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = train()
    t_in = result.smoother_profiles["inputs"][:, 0]
    grid = np.linspace(t_in.min(), t_in.max(), 50)
    err = rate_constant_errors(result, grid)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(grid, [arrhenius(x) for x in grid], "k-", label="Arrhenius (truth)")
    ax.plot(grid, result.spec.predict(grid[:, None])[:, 0], "r--", label="learned network")
    ax.set_xlabel("temperature [K]")
    ax.set_ylabel("k [m$^3$/mol/s]")
    ax.set_title(f"max |error| {100 * np.abs(err).max():.2f}% over the trained range")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "rate_constant.png", dpi=120)
    plt.close(fig)
    comparison = compare_optimizations(result.spec)
    plot_profiles(comparison, out / "heat_duty.png")
    metrics = {**result.metrics(), "rate_constant_max_rel_error": float(np.abs(err).max()),
               "trained_temperature_range": [float(grid[0]), float(grid[-1])],
               "optimization": comparison}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    print(f"validation RMSE {result.validation_rmse}; k(T) max error {100 * np.abs(err).max():.2f}%; "
          f"optimum on the truth within {100 * comparison['relative_gap']:.4f}%; wrote {out}")


if __name__ == "__main__":
    main()
