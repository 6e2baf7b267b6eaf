"""A short Markdown report of a training run, next to its metrics and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _noise_lines(noise: dict) -> list[str]:
    if not noise:
        return []
    return ["", "Noise standard deviation the fit divides each variable's residuals by "
            "(given in the config, or estimated from the data when not given):", "",
            "| | " + " | ".join(noise) + " |", "|---" * (len(noise) + 1) + "|",
            "| sd | " + " | ".join(_fmt(v["sd"]) for v in noise.values()) + " |",
            "| source | " + " | ".join(_noise_source(v) for v in noise.values()) + " |"]


def _noise_source(level: dict) -> str:
    if level.get("refined"):  # training.noise_refit: the first estimate disagreed with the fit
        return f"estimated, refined from the fit's residuals (first estimate {_fmt(level['difference_estimate'])})"
    if "data_spread" in level:  # too few samples to estimate: from the spread, then the fit
        return (f"the fit's residuals (too few samples to estimate it; the spread of the values, "
                f"{_fmt(level['data_spread'])}, before)")
    return level["source"]


def _regularization_lines(reg: dict) -> list[str]:
    if not reg:
        return []
    why = f" ({reg['reason']})" if reg.get("reason") else ""
    lines = ["", f"Prior precision of the weights (regularization) alpha = {reg['alpha']:g}, "
             f"{reg['source']}{why}."]
    path = reg.get("path") or []
    if path and "evidence_alpha" in path[0]:
        lines += ["The evidence (MacKay): at each alpha the well-determined weights gamma and the "
                  "weights' squared norm give the next estimate gamma / ||theta||^2; the next row trains at "
                  "it, or halfway to it (in log alpha) where it reverses the previous step:", "",
                  "| alpha | gamma | squared norm of the weights | estimate gamma / \\|\\|theta\\|\\|^2 |",
                  "|---|---|---|---|"]
        lines += [f"| {p['alpha']:.4g} | {p['gamma']:.4g} | {p['theta_norm2']:.4g} | {p['evidence_alpha']:.4g} |"
                  for p in path]
    elif path:
        folds = list(dict.fromkeys(f for p in path for f in p["folds"]))
        lines += ["Leave-one-experiment-out cross-validation: held-out mean squared scaled "
                  "residual (about 1 for a prediction within the noise; `-`: the solve failed; "
                  "`not tried`: an earlier fold of that alpha failed):", "",
                  "| alpha | score | " + " | ".join(folds) + " |", "|---" * (len(folds) + 2) + "|"]
        lines += [f"| {p['alpha']:g} | {_fmt(p['score'])} | "
                  + " | ".join(_fmt(p["folds"][f]) if f in p["folds"] else "not tried" for f in folds)
                  + " |" for p in path]
    return lines


#: How an ensemble's members differ, by ``[uncertainty] resample``.
_MEMBERS = {
    "residuals": "each re-trained on all training experiments with every measurement perturbed by "
                 "its noise level; the band adds the prior's share of the posterior",
    "experiments": "each re-trained on a bootstrap resample of the training experiments",
    "both": "each re-trained on a bootstrap resample of the training experiments, measurements "
            "perturbed by their noise level",
}


def _uncertainty_lines(unc: dict) -> list[str]:
    if not unc:
        return []
    cov = unc.get("validation_coverage") or {}
    lines = ["", f"Prediction uncertainty ({unc['method']}, parameter uncertainty of the weights): "
             f"fraction of the validation measurements inside the {unc['level']:.0%} band "
             "(about the level for noise-free data; measurement noise lowers it):", ""]
    if not cov:
        return lines[:-1] + ["no validation measurements."]
    noisy = unc.get("validation_coverage_with_noise") or {}
    lines += ["| | " + " | ".join(cov) + " |", "|---" * (len(cov) + 1) + "|",
              "| coverage | " + " | ".join(f"{v:.0%}" for v in cov.values()) + " |"]
    if noisy:
        lines.append("| with measurement noise | " + " | ".join(
            f"{noisy[k]:.0%}" if k in noisy else "-" for k in cov) + " |")
        lines.append(f"\nWith measurement noise: the {unc['level']:.0%} prediction interval, band and noise "
                     "sd (given or estimated) combined, `z sqrt(sd^2 + noise^2)`; about the level "
                     "when both the band and the noise level are right.")
    if unc.get("method") == "ensemble" and "members" in unc:
        lines.append(f"\nEnsemble of {unc['members']} members (of {unc.get('members_requested', unc['members'])} "
                     f"requested): {_MEMBERS.get(unc.get('resample'), _MEMBERS['experiments'])}.")
    if unc.get("clipped_eigenvalues"):
        lines.append(f"\n{unc['clipped_eigenvalues']} eigenvalues of the posterior precision were "
                     "raised to the prior precision (not positive definite at the solution).")
    return lines


def training_report(metrics: dict, plots: Sequence[str], title: str) -> str:
    """Markdown text summarizing ``metrics`` (as written to ``metrics.json``).

    Parameters
    ----------
    metrics
        ``TrainingResult.metrics()`` (plus any extra keys).
    plots
        File names of the PNG plots in the same directory.
    title
        Heading of the report.
    """
    steps = "epochs of the decomposition" if metrics.get("decomposition") else "interior-point iterations"
    lines = [f"# {title}", "",
             f"Status **{metrics['status']}** after {metrics['iterations']} {steps}; "
             f"whole pipeline {metrics['wall_time_s']:.1f} s.", "",
             "| stage | status | wall time (s) | iterations |", "|---|---|---|---|"]
    for name, st in metrics.get("stages", {}).items():
        label = f"{name} ({st['hessian']} Hessian)" if st.get("hessian") else name
        lines.append(f"| {label} | {st['status']} | {st['wall_time_s']:.2f} | {st.get('iterations') or '-'} |")
    names = sorted({*metrics["train"]["rmse"], *metrics["validation"]["rmse"]})
    lines += ["", "RMSE per measured variable (validation experiments are predicted from their "
              "initial state and inputs alone):", "",
              "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for part in ("train", "validation"):
        rmse = metrics[part]["rmse"]
        if rmse:
            lines.append(f"| {part} | " + " | ".join(_fmt(rmse.get(n)) for n in names) + " |")
    lines += _noise_lines(metrics.get("noise_sd") or {})
    lines += _regularization_lines(metrics.get("regularization") or {})
    lines += _uncertainty_lines(metrics.get("uncertainty") or {})
    diag = metrics.get("diagnostics") or {}
    if diag:
        lines += ["", "Numerical diagnostics of the trained model (IDAES-style checks of "
                  "residuals, bounds and Jacobian; `idaes-hybrid diagnose` gives the full report):", ""]
        findings = [*diag.get("warnings", []), *diag.get("cautions", []),
                    *(f"validation experiment {name!r} could not be simulated: {msg}"
                      for name, msg in diag.get("validation_failures", {}).items())]
        if "error" in diag:
            findings.append(f"not run: {diag['error']}")
        lines += [f"- {f}" for f in findings] or ["- no warnings"]
        if "max_residual" in diag:
            lines.append(f"- largest equation residual: {diag['max_residual']:.3g}")
    lines.append("")
    for plot in plots:
        lines += [f"![{Path(plot).stem}]({plot})", ""]
    return "\n".join(lines)
