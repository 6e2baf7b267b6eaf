"""Tests of the ``idaes-hybrid`` command line (and of the plots it writes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from idaes_hybrid.cli.app import main
from idaes_hybrid.config.run import load_run_config
from idaes_hybrid.output.saved import MODEL_FILE, load_model, save_model
from idaes_hybrid.output.plots import plot_fit, plot_learned_rate, variable_units
from idaes_hybrid.training.train import TrainingResult
from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR

DATA = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor" / "data"
PNG = b"\x89PNG\r\n\x1a\n"

#: A small but complete run: one training and one validation batch, a tiny network.
#: (inputs = ["S"] and regularization = 62 (1.0 per mean residual, 124 observations)
#: make the 200-iteration L-BFGS solve converge
#: reliably; with all four inputs the validation simulation of this one-batch fit goes
#: below S = 0 and is reported infeasible.)
SMALL = """\
model = "{model}"
[physics]
Yxs = 0.5
Ypx = 0.2
[network]
inputs = {inputs}
hidden = [4]
activation = "softplus"
seed = 0
[discretization]
nfe = 4
ncp = 2
[training]
hessian = "{hessian}"
regularization = 62.0
pretrain_epochs = 20
[solver]
tol = 1e-6
max_iter = {max_iter}
[[experiments]]
name = "b1"
data = "{b1}"
initial = {{X = {x0}, P = 0.0, S = 10.0, V = 1.0}}
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
DEFAULTS = dict(model="fed_batch_bioreactor", inputs='["S"]', hessian="limited-memory",
                max_iter=200, b1=(DATA / "b1.csv").as_posix(), val=(DATA / "val.csv").as_posix(),
                x0="0.05")


def small_config(directory: Path, name: str = "small.toml", **overrides) -> Path:
    path = directory / name
    path.write_text(SMALL.format(**{**DEFAULTS, **overrides}))
    return path


def out_dir_with_sentinel(directory: Path) -> Path:
    out = directory / "out"
    out.mkdir()
    (out / "sentinel.txt").write_text("keep me")
    (out / "metrics.json").write_text('{"old": true}')
    return out


def assert_untouched(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "sentinel.txt"]
    assert (out / "sentinel.txt").read_text() == "keep me"
    assert (out / "metrics.json").read_text() == '{"old": true}'
    assert not list(out.parent.glob(f".{out.name}.partial-*"))


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def _csv(directory: Path, text: str, name: str = "bad.csv") -> str:
    (directory / name).write_text(text)
    return (directory / name).as_posix()


# ----------------------------------------------------------------------------- bad input: train
BAD_TRAIN = {
    "missing data file": (dict(b1="{tmp}/missing.csv"), "experiments[0] ('b1').data", "not found"),
    "no time column": (dict(b1="csv:t,X,S\n0,1,2\n1,2,3\n"), "experiments[0] ('b1').data",
                       "no 'time' column"),
    "no measured column": (dict(b1="csv:time\n0\n1\n"), "experiments[0] ('b1').measurements",
                           "no measured values"),
    "negative time": (dict(val="csv:time,X\n-1,1\n5,2\n"), "experiments[1] ('val').measurements",
                      "is negative"),
    "NaN initial condition": (dict(x0="nan"), "experiments[0] ('b1').initial.X", "not a finite"),
    "unknown data column": (dict(b1="csv:time,X,Q\n0,1,2\n"), "experiments[0] ('b1').measurements",
                            "'Q' is not a state"),
    "unknown network input": (dict(inputs='["S", "Q"]'), "network.inputs", "'Q'"),
    "unknown model": (dict(model="chemostat"), "model", "'fed_batch_bioreactor'"),
    "bad hessian": (dict(hessian="bfgs"), "training.hessian", "'limited-memory'"),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", list(BAD_TRAIN))
def test_train_bad_input_exits_2_and_keeps_out(tmp_path, capsys, case):
    overrides, field, text = BAD_TRAIN[case]
    overrides = {k: (_csv(tmp_path, v[4:]) if v.startswith("csv:") else v.format(tmp=tmp_path))
                 for k, v in overrides.items()}
    config = small_config(tmp_path, **overrides)
    out = out_dir_with_sentinel(tmp_path)
    assert main(["train", str(config), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert line.startswith(f"error: {field}"), line
    assert text in line
    assert captured.out == ""
    assert_untouched(out)


@pytest.mark.unit
def test_train_missing_config(tmp_path, capsys):
    out = out_dir_with_sentinel(tmp_path)
    assert main(["train", str(tmp_path / "none.toml"), "--out", str(out)]) == 2
    assert one_error_line(capsys.readouterr().err).startswith("error: config: file ")
    assert_untouched(out)


@pytest.mark.unit
def test_train_out_is_a_file(tmp_path, capsys):
    (tmp_path / "out").write_text("a file")
    assert main(["train", str(small_config(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    assert one_error_line(capsys.readouterr().err).startswith("error: --out: ")
    assert (tmp_path / "out").read_text() == "a file"


@pytest.mark.unit
def test_console_script_bad_input_prints_one_line(tmp_path):
    config = small_config(tmp_path, b1=(tmp_path / "missing.csv").as_posix())
    script = Path(sys.executable).parent / "idaes-hybrid"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "idaes_hybrid.cli.app"]
    proc = subprocess.run([*cmd, "train", str(config), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert one_error_line(proc.stderr).startswith("error: experiments[0] ('b1').data: file ")
    assert not (tmp_path / "out").exists()


@pytest.mark.unit
@pytest.mark.parametrize("args, code, expected", [(["--version"], 0, "idaes-hybrid"),
                                                 (["train", "missing.toml", "--out", "o"], 2, "error: ")])
def test_console_entry_runs_exit_handlers_flushes_and_keeps_the_exit_code(tmp_path, args, code, expected):
    """The executable ends the process at once after the command: the exit handlers still run,
    piped output is complete, and the command's exit code is the process's."""
    script = ("import atexit, sys; atexit.register(lambda: print('handler ran', flush=True)); "
              f"sys.argv = ['idaes-hybrid', *{args!r}]; "
              "from idaes_hybrid.cli.app import console_entry; console_entry()")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert expected in proc.stdout + proc.stderr and proc.stdout.rstrip().endswith("handler ran")


# ----------------------------------------------------------------------------- bad input: predict
@pytest.fixture
def untrained_model(tmp_path) -> Path:
    """A saved model (untrained weights) matching the small config; no solver needed."""
    config = load_run_config(small_config(tmp_path, name="for_model.toml"))
    save_model(tmp_path / "model", config.network_spec(), config, None)
    return tmp_path / "model"


@pytest.mark.unit
def test_predict_bad_inputs(tmp_path, capsys, untrained_model):
    out = tmp_path / "pred.csv"
    out.write_text("old predictions\n")
    good = small_config(tmp_path)
    cases = [
        (["predict", str(tmp_path / "nowhere"), str(good)], "error: model_dir: "),
        (["predict", str(untrained_model), str(small_config(tmp_path, "nan.toml", x0="nan"))],
         "error: experiments[0] ('b1').initial.X: "),
        (["predict", str(untrained_model), str(tmp_path / "none.toml")], "error: config: "),
    ]
    for argv, start in cases:
        assert main([*argv, "--out", str(out)]) == 2
        assert one_error_line(capsys.readouterr().err).startswith(start)
    assert main(["predict", str(untrained_model), str(good), "--out", str(tmp_path)]) == 2
    assert one_error_line(capsys.readouterr().err).startswith("error: --out: ")
    doc = json.loads((untrained_model / MODEL_FILE).read_text())
    doc["format_version"] = "9.0"
    (untrained_model / MODEL_FILE).write_text(json.dumps(doc))
    assert main(["predict", str(untrained_model), str(good), "--out", str(out)]) == 2
    assert one_error_line(capsys.readouterr().err).startswith("error: format_version: ")
    doc["format_version"], doc["model"] = "1.0", "other_model"
    (untrained_model / MODEL_FILE).write_text(json.dumps(doc))
    assert main(["predict", str(untrained_model), str(good), "--out", str(out),
                 "--accept-edited-model"]) == 2
    warning, error = capsys.readouterr().err.strip().splitlines()  # accepted with a warning
    assert "checksum" in warning and "'other_model'" in one_error_line(error)
    assert out.read_text() == "old predictions\n"
    assert sorted(p.name for p in tmp_path.glob(".pred.csv*")) == []


# ----------------------------------------------------------------------------- plots (no solver)
def _fake_result(spec, inputs) -> TrainingResult:
    t = np.linspace(0.0, 40.0, 9)
    trajs = {}
    for name, s0 in (("b1", 10.0), ("val", 8.0)):
        S = s0 * np.exp(-t / 20)
        traj = {"time": t, "X": 0.1 * np.exp(t / 10), "P": t / 50, "S": S, "V": 1 + 0.05 * t}
        v = np.column_stack([traj[n] for n in inputs])
        traj["mu"] = spec.predict(v)[:, 0]
        trajs[name] = traj
    v = np.column_stack([trajs["b1"][n] for n in inputs])
    return TrainingResult(
        spec=spec, status="optimal", iterations=1, objective=0.0, wall_time_s=0.0, stages={},
        train_rmse={}, validation_rmse={}, per_experiment_rmse={"b1": {"S": 0.5}},
        trajectories=trajs, smoother_profiles={"inputs": v, "outputs": trajs["b1"]["mu"][:, None]})


@pytest.mark.unit
@pytest.mark.parametrize("inputs", [["S"], ["X", "S", "P", "V"]])
def test_plots_are_written(tmp_path, inputs):
    config = load_run_config(small_config(tmp_path, inputs=json.dumps(inputs)))
    spec = config.network_spec()
    result = _fake_result(spec, inputs)
    units = variable_units(FED_BATCH_BIOREACTOR, inputs)
    assert units["S"] == "g/L" and units["V"] == "L" and units["mu"] == "1/h" and units["time"] == "h"
    fit = plot_fit(result, config.experiments, FED_BATCH_BIOREACTOR, tmp_path / "fit.png")
    rate = plot_learned_rate(spec, result, FED_BATCH_BIOREACTOR, inputs, tmp_path / "rate.png",
                             reference=lambda S: 0.2 * S / (1.0 + S),
                             experiments=config.experiments)
    for path in (fit, rate):
        assert path.read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["fit.png", "rate.png"]


@pytest.mark.unit
def test_plot_learned_rate_argument_errors(tmp_path):
    config = load_run_config(small_config(tmp_path, inputs='["X", "S"]'))
    spec = config.network_spec()
    result = _fake_result(spec, ["X", "S"])
    with pytest.raises(ValueError, match="^reference_input: "):
        plot_learned_rate(spec, result, FED_BATCH_BIOREACTOR, ["X", "S"], tmp_path / "r.png",
                          reference=lambda conc: conc)
    with pytest.raises(ValueError, match="^reference_input: 'P' is not a network input"):
        plot_learned_rate(spec, result, FED_BATCH_BIOREACTOR, ["X", "S"], tmp_path / "r.png",
                          reference=lambda conc: conc, reference_input="P")
    with pytest.raises(ValueError, match="^network_inputs: "):
        plot_learned_rate(spec, result, FED_BATCH_BIOREACTOR, ["S"], tmp_path / "r.png")
    assert not list(tmp_path.glob("*.png"))


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Run ``train`` once on the small config (into an --out holding a sentinel)."""
    tmp = tmp_path_factory.mktemp("cli_train")
    config = small_config(tmp)
    out = out_dir_with_sentinel(tmp)
    capture = pytest.MonkeyPatch()
    try:
        import io
        err, stdout = io.StringIO(), io.StringIO()
        capture.setattr(sys, "stderr", err)
        capture.setattr(sys, "stdout", stdout)
        code = main(["train", str(config), "--out", str(out)])
    finally:
        capture.undo()
    return {"code": code, "config": config, "out": out, "tmp": tmp,
            "stdout": stdout.getvalue(), "stderr": err.getvalue()}


@pytest.mark.component
def test_train_end_to_end(trained):
    assert trained["code"] == 0, trained["stderr"]
    out = trained["out"]
    assert sorted(p.name for p in out.iterdir()) == [
        "fit.png", "learned_rate.png", "metrics.json", "model", "report.md", "sentinel.txt"]
    assert (out / "sentinel.txt").read_text() == "keep me"
    assert not list(trained["tmp"].glob(".out.partial-*"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"status", "wall_time_s", "iterations", "train", "validation"} <= set(metrics)
    assert metrics["status"] in ("optimal", "acceptable")
    assert metrics["iterations"] > 0 and metrics["wall_time_s"] > 0
    for part in ("train", "validation"):
        rmse = metrics[part]["rmse"]
        assert set(rmse) == {"X", "P", "S", "V"}
        assert all(np.isfinite(v) for v in rmse.values())
    assert metrics["validation"]["rmse"]["S"] < 2.0  # measured: 0.43 g/L
    for name in ("fit.png", "learned_rate.png"):
        assert (out / name).read_bytes()[:8] == PNG
    saved = load_model(out / "model")
    assert saved.network_inputs == ["S"] and saved.spec.sizes == [1, 4, 1]
    assert saved.metrics["validation"]["rmse"] == metrics["validation"]["rmse"]
    # progress went to stderr with timestamps; the summary to stdout
    assert any(" [INFO] " in line and "smoother" in line for line in trained["stderr"].splitlines())
    assert trained["stdout"].startswith("status: ")
    assert "validation" in trained["stdout"]


@pytest.mark.component
def test_predict_end_to_end(trained, tmp_path, capsys):
    assert trained["code"] == 0, trained["stderr"]
    out = tmp_path / "pred.csv"
    assert main(["predict", str(trained["out"] / "model"), str(trained["config"]),
                 "--out", str(out)]) == 0
    assert "wrote 18 rows" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns) == ["experiment", "time", "X", "P", "S", "V", "mu"]
    assert table.groupby("experiment").size().to_dict() == {"b1": 9, "val": 9}  # nfe*ncp + 1
    assert np.all(np.isfinite(table[["X", "P", "S", "V", "mu"]].to_numpy()))
    pred = table[table.experiment == "val"].set_index("time")
    data = pd.read_csv(DATA / "val.csv").set_index("time")
    common = [t for t in pred.index if np.isclose(data.index, t).any()]
    assert len(common) >= 5  # 0, 10, 20, 30, 40 h
    diff = [pred.loc[t, "S"] - data.loc[data.index[np.isclose(data.index, t)][0], "S"]
            for t in common]
    rmse = float(np.sqrt(np.mean(np.square(diff))))
    assert np.isfinite(rmse) and rmse < 2.0  # measured: about 0.5 g/L


@pytest.mark.component
def test_failed_training_exits_1_and_keeps_out(tmp_path, capsys):
    config = small_config(tmp_path, max_iter=1)
    out = out_dir_with_sentinel(tmp_path)
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "did not converge" in captured.err
    assert "[INFO]" not in captured.err  # --quiet
    assert_untouched(out)


@pytest.mark.unit
def test_train_summary_names_validation_experiments_that_could_not_be_simulated(tmp_path, capsys):
    """A validation simulation that failed is printed under the RMSE table (it used to show
    only in report.md), and the validate stage says so."""
    from idaes_hybrid.cli import app
    from idaes_hybrid.training.train import StageStatus

    metrics = {"status": "optimal", "iterations": 12, "wall_time_s": 3.0,
               "train": {"rmse": {"X": 0.05}}, "validation": {"rmse": {}},
               "diagnostics": {"validation_failures": {"val": "simulation: maxIterations"}}}
    app._print_summary(metrics, tmp_path, [tmp_path / "metrics.json"])
    out = capsys.readouterr().out
    assert "not simulated with the trained model: val: simulation: maxIterations" in out
    assert StageStatus.FAILED_EXPERIMENTS.value == "failed for some experiments"


@pytest.mark.unit
def test_train_summary_never_says_an_uncertainty_stage_took_0_0_s(tmp_path, capsys):
    """A Laplace covariance of a small network takes milliseconds: "0.0 s more" read as if
    nothing had been computed."""
    from idaes_hybrid.cli import app

    base = {"status": "optimal", "iterations": 12, "wall_time_s": 3.0,
            "train": {"rmse": {"X": 0.05}}, "validation": {"rmse": {}}}
    for seconds, shown in ((0.012, "< 0.1"), (0.26, "0.3"), (12.34, "12.3")):
        app._print_summary({**base, "uncertainty": {"wall_time_s": seconds}}, tmp_path, [])
        assert f"(12 iterations, 3.0 s; uncertainty {shown} s more)" in capsys.readouterr().out
    app._print_summary(base, tmp_path, [])
    assert "(12 iterations, 3.0 s)" in capsys.readouterr().out


@pytest.mark.unit
def test_validation_only_config_is_refused_by_train_not_by_predict(tmp_path, capsys):
    """``predict`` (and the config reader) accept a config of validation experiments only;
    ``train`` and ``diagnose`` refuse it with exit code 2 on both paths (the flowsheet path
    failed with exit code 1, ``diagnose`` with an internal error)."""
    message = "error: experiments: no experiment has role 'train'; at least one must"
    unit = small_config(tmp_path, name="unit.toml")
    unit.write_text(unit.read_text().replace('role = "train"', 'role = "validation"'))
    assert [e.role.value for e in load_run_config(unit).experiments] == ["validation"] * 2
    sap = Path(__file__).resolve().parents[1] / "flowsheets" / "saponification"
    flowsheet = tmp_path / "flowsheet.toml"
    text = (sap / "config.toml").read_text().replace('data = "data/', f'data = "{sap.as_posix()}/data/')
    text = text.replace('build = "model.py:', f'build = "{sap.as_posix()}/model.py:')
    flowsheet.write_text(re.sub(r'name = "(b\d)"', r'name = "\1"\nrole = "validation"', text))
    from idaes_hybrid.config.flowsheet import load_flowsheet_config

    roles = [e.role.value for e in load_flowsheet_config(flowsheet).experiments]
    assert roles == ["validation"] * 4
    for config in (unit, flowsheet):
        for argv in (["train", str(config), "--out", str(tmp_path / "out")], ["diagnose", str(config)]):
            assert main(argv) == 2
            assert one_error_line(capsys.readouterr().err) == message
        assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_unit_config_with_a_step_feed_trains_and_predicts_the_volume_exactly(tmp_path):
    """A step in a unit config's feed (as in a flowsheet config): dV/dt = F is exact, so the
    predicted volume is the integral of the step profile (1 + 0.05*10 + 0.03*30 = 2.4 L)."""
    text = small_config(tmp_path).read_text().replace(
        "inputs = {F = 0.05, Sf = 10.0}", "inputs = {F = [[0, 0.05], [10, 0.03]], Sf = 10.0}")
    config = tmp_path / "steps.toml"
    config.write_text(text)
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = tmp_path / "pred.csv"
    assert main(["predict", str(tmp_path / "run" / "model"), str(config), "--out", str(out), "--quiet"]) == 0
    b1 = pd.read_csv(out).query("experiment == 'b1'").set_index("time")
    np.testing.assert_allclose(b1["V"].loc[40.0], 2.4, rtol=1e-6)
    np.testing.assert_allclose(b1["V"].loc[10.0], 1.5, rtol=1e-6)
