"""The command line under hostile input (issue 17): bad solver options, unreadable or
tampered files, dangerous output paths, interrupts. Every bad input ends with exit
code 2, one ``error: <field>: ...`` line, no traceback and the earlier output intact."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idaes_hybrid.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "flowsheets" / "bioreactor" / "data"

#: One training and one validation batch, a tiny network (as in test_cli.py).
SMALL = """\
model = "fed_batch_bioreactor"
[network]
inputs = ["S"]
hidden = {hidden}
activation = "softplus"
seed = 0
[discretization]
nfe = 4
ncp = 2
[training]
hessian = "limited-memory"
regularization = 1.0
pretrain_epochs = 20
[solver]
{solver}
[[experiments]]
name = "b1"
data = "{b1}"
initial = {{X = 0.05, P = 0.0, S = 10.0, V = 1.0}}
inputs = {{F = 0.05, Sf = 10.0}}
horizon = 40.0
role = "train"
noise_sd = {{X = 0.05, P = 0.05, S = 0.5, V = 0.1}}
[[experiments]]
name = "val"
data = "{val}"
initial = {{X = 0.1, P = 0.0, S = 8.0, V = 0.9}}
inputs = {{F = 0.05, Sf = 8.0}}
horizon = 40.0
role = "validation"
"""


def small_config(directory: Path, name: str = "small.toml", **overrides) -> Path:
    """Write the small config with ``overrides`` of its placeholders."""
    values = dict(hidden="[4]", solver="tol = 1e-6\nmax_iter = 200",
                  b1=(DATA / "b1.csv").as_posix(), val=(DATA / "val.csv").as_posix())
    path = directory / name
    path.write_text(SMALL.format(**{**values, **overrides}))
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative path -> bytes)."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def old_output(directory: Path) -> Path:
    out = directory / "out"
    out.mkdir()
    (out / "sentinel.txt").write_text("keep me")
    (out / "metrics.json").write_text('{"old": true}')
    return out


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err: str) -> str:
    """The one ``error:`` line of stderr (log lines with timestamps may precede it)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


# ----------------------------------------------------------------------------- item 5: [solver]
BAD_SOLVER = {
    "misspelled": ("max_iters = 100", "error: solver.max_iters: ", "did you mean 'max_iter'"),
    "bad type": ('tol = "abc"', "error: solver.tol: ", "expected a number"),
    "negative": ("max_iter = -5", "error: solver.max_iter: ", "integer >= 0, got -5"),
    "float for integer": ("max_iter = 10.5", "error: solver.max_iter: ", "expected an integer"),
    "no ma27": ('linear_solver = "ma27"', "error: solver.linear_solver: ", "'mumps'"),
    "unknown setting": ('mu_strategy = "fast"', "error: solver.mu_strategy: ", "'adaptive'"),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", list(BAD_SOLVER))
def test_solver_options_checked_before_any_work(tmp_path, capsys, case):
    line, start, text = BAD_SOLVER[case]
    out = old_output(tmp_path)
    before = snapshot(out)
    code, stdout, err = run(["train", str(small_config(tmp_path, solver=line)), "--out", str(out)],
                            capsys)
    assert code == 2
    message = error_line(err)
    assert message.startswith(start) and text in message, message
    assert "[INFO]" not in err  # refused before the smoother or pre-training started
    assert stdout == "" and snapshot(out) == before


@pytest.mark.unit
def test_solver_option_integer_for_real_is_accepted(tmp_path):
    from idaes_hybrid.config import load_run_config

    config = load_run_config(small_config(tmp_path, solver="tol = 1\nmax_iter = 200"))
    assert config.training.solver_options["tol"] == 1.0
    assert isinstance(config.training.solver_options["tol"], float)


@pytest.mark.unit
def test_smoother_options_are_checked_too(tmp_path, capsys):
    config = small_config(tmp_path).read_text().replace(
        "[training]\n", "[training]\nsmoother_options = {max_itr = 5}\n")
    (tmp_path / "smoother.toml").write_text(config)
    code, _, err = run(["train", str(tmp_path / "smoother.toml"), "--out", str(tmp_path / "o")],
                       capsys)
    assert code == 2
    assert error_line(err).startswith("error: training.smoother_options.max_itr: ")
    assert not (tmp_path / "o").exists()
