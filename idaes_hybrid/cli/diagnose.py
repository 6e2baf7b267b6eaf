"""``idaes-hybrid diagnose``: the command line of :mod:`idaes_hybrid.diagnostics.diagnose` (its parser
imports nothing heavy, so ``idaes-hybrid --help`` stays fast)."""

from __future__ import annotations

import argparse
import io
import sys

from idaes_hybrid.cli.size import add_max_weights_option, check_problem_size


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``diagnose`` sub-command to the command line's sub-parsers."""
    dg = sub.add_parser("diagnose", help="structural and numerical diagnostics of a config's "
                                         "training problem",
                        description="Build the training problem of a config (smoother solved, "
                                    "untrained network fixed) and print IDAES's structural report "
                                    "and the numerical checks.")
    dg.add_argument("config", metavar="CONFIG.toml", help="run configuration")
    dg.add_argument("--formulation", choices=["nested", "lifted", "batched"], default=None,
                    type=str.lower,
                    help="network formulation (default: the config's)")
    dg.add_argument("--scaled", action="store_true",
                    help="set the IDAES scaling factors first (numerical checks in scaled space)")
    dg.add_argument("--quiet", action="store_true", help="show warnings and errors only")
    add_max_weights_option(dg)


def run(args: argparse.Namespace) -> int:
    """Run ``idaes-hybrid diagnose``; return the exit code (1 if the structure has warnings)."""
    import idaes.logger as idaeslog

    from idaes_hybrid.config.checks import require_training_experiment
    from idaes_hybrid.config.unit_translation import load_config
    from idaes_hybrid.diagnostics.diagnose import (build_flowsheet_diagnostic_model, numerical_report,
                                                   structural_report)
    from idaes_hybrid.nn.formulations import Formulation
    from idaes_hybrid.training.flowsheet_problem import scale_flowsheet_model

    formulation = Formulation(args.formulation) if args.formulation else None
    log = idaeslog.getLogger("idaes.idaes_hybrid.cli")
    fs_config = load_config(args.config)  # a ``model = ...`` config runs as a one-unit flowsheet
    require_training_experiment(fs_config.experiments)  # the training problem is diagnosed
    disc = fs_config.discretization
    check_problem_size(sum(s.n_parameters for s in fs_config.network_specs().values()),
                       len(fs_config.experiments) * disc.nfe * disc.ncp, args.max_weights, log)
    m, nets = build_flowsheet_diagnostic_model(fs_config, formulation)
    if args.scaled:
        scale_flowsheet_model(m)
    buf = io.StringIO()
    warnings = structural_report(m, nets, buf)
    findings = numerical_report(m, nets, buf)
    sys.stdout.write(buf.getvalue())
    print(f"diagnose: {len(warnings)} structural and {len(findings.warnings)} numerical warnings")
    return 1 if warnings else 0
