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

from idaes_hybrid.cli.app import main

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
regularization = 62.0
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
    from idaes_hybrid.config.run import load_run_config

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


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def saved_model(tmp_path) -> Path:
    """An untrained saved model in a run folder ``tmp/run/model`` (no solver needed)."""
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.output.saved import save_model

    config = load_run_config(small_config(tmp_path, name="for_model.toml"))
    save_model(tmp_path / "run" / "model", config.network_spec(), config, None)
    (tmp_path / "run" / "report.md").write_text("the parent model's report\n")
    return tmp_path / "run" / "model"


@pytest.fixture(scope="module")
def quiet_training(tmp_path_factory) -> dict:
    """One real training run through the console script, with --quiet."""
    tmp = tmp_path_factory.mktemp("hostile_train")
    config = small_config(tmp)
    out = tmp / "run"
    proc = subprocess.run([str(Path(sys.executable).parent / "idaes-hybrid"), "train", str(config),
                           "--out", str(out), "--quiet"], capture_output=True, text=True,
                          timeout=600)
    return {"proc": proc, "config": config, "out": out}


# ----------------------------------------------------------------------------- item 1: --out
@pytest.mark.unit
@pytest.mark.parametrize("command", ["update", "optimize", "estimate"])
@pytest.mark.parametrize("target", ["run", "run/model"])
def test_out_holding_the_input_model_is_refused(tmp_path, capsys, saved_model, command, target):
    extra = ["--experiment", "b1", "--now", "20", "--window", "10"] if command == "estimate" else []
    before = snapshot(tmp_path / "run")
    code, stdout, err = run([command, str(saved_model), str(small_config(tmp_path)), *extra,
                             "--out", str(tmp_path / target)], capsys)
    assert code == 2 and stdout == ""
    line = error_line(err)
    assert line.startswith("error: --out: ") and "input model" in line, line
    assert snapshot(tmp_path / "run") == before


@pytest.mark.unit
def test_predict_out_inside_the_model_or_onto_the_config_is_refused(tmp_path, capsys, saved_model):
    config = small_config(tmp_path)
    before = snapshot(tmp_path)
    for out in (saved_model / "model.json", config):
        code, _, err = run(["predict", str(saved_model), str(config), "--out", str(out)], capsys)
        assert code == 2 and error_line(err).startswith("error: --out: ")
    assert snapshot(tmp_path) == before


@pytest.mark.unit
def test_output_folder_is_replaced_whole(tmp_path):
    from idaes_hybrid.cli.output import write_staged

    out = old_output(tmp_path)
    (out / "report.md").write_text("describes the old model")
    (out / "model").mkdir()
    (out / "model" / "model.json").write_text("{}")

    def write(staging: Path) -> None:
        (staging / "metrics.json").write_text('{"new": true}')

    written = write_staged(out, write)
    assert [p.name for p in written] == ["metrics.json"]
    assert snapshot(out) == {"metrics.json": b'{"new": true}', "sentinel.txt": b"keep me"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no debris


# ----------------------------------------------------------------------------- item 2: debris
@pytest.mark.unit
def test_stale_partial_and_old_folders_are_cleaned_or_restored(tmp_path, caplog):
    from idaes_hybrid.cli.output import check_out_dir

    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    partial = tmp_path / f".out.partial-{dead}-abc"
    partial.mkdir()
    (partial / "metrics.json").write_text("half")
    old = tmp_path / f".out.old-{dead}-def"
    old.mkdir()
    (old / "metrics.json").write_text("the previous output")
    with caplog.at_level("WARNING"):
        check_out_dir(tmp_path / "out")  # killed between its two renames: out is missing
    assert snapshot(tmp_path) == {"out/metrics.json": b"the previous output"}
    assert "restored" in caplog.text and "half-written" in caplog.text
    running = tmp_path / f".out.partial-{os.getpid()}-xyz"  # a run still going: left alone
    running.mkdir()
    check_out_dir(tmp_path / "out")
    assert running.is_dir()


WRITER = """
import sys, time
from pathlib import Path
from idaes_hybrid.cli.output import Interrupted, interrupts_raise, write_staged

def write(staging):
    print("writing", flush=True)
    for i in range(40):
        (staging / f"f{i:02d}.txt").write_text("new" * 2000)
        time.sleep(0.01)

with interrupts_raise():
    try:
        write_staged(Path(sys.argv[1]), write)
    except Interrupted as err:
        sys.exit(128 + err.signum)
"""


@pytest.mark.component
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGKILL"])
def test_killed_while_writing_leaves_old_or_new_output_whole(tmp_path, signame):
    import random
    import signal
    import time

    from idaes_hybrid.cli.output import recover_interrupted

    rng = random.Random(17)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    new = {f"f{i:02d}.txt": b"new" * 2000 for i in range(40)}
    for attempt in range(3):
        (tmp_path / f"try{attempt}").mkdir()
        out = old_output(tmp_path / f"try{attempt}")
        old = snapshot(out)
        proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(getattr(signal, signame))
        code = proc.wait(timeout=60)
        recover_interrupted(out)  # what the next run on this --out does first
        state = snapshot(out)
        assert state in (old, {**new, "sentinel.txt": b"keep me"}), (attempt, code, sorted(state))
        if signame == "SIGTERM" and state == old:
            assert code == 128 + signal.SIGTERM
        assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # no debris


# ----------------------------------------------------------------------------- item 3: Ctrl-C
@pytest.mark.component
def test_ctrl_c_during_tensorflow_import_is_not_lost(tmp_path):
    import signal
    import time

    script = ("import sys\nfrom idaes_hybrid.cli.output import import_tensorflow\n"
              "print('importing', flush=True)\n"
              "try:\n    import_tensorflow(True)\nexcept KeyboardInterrupt:\n"
              "    print('interrupted', flush=True)\n    sys.exit(130)\nprint('imported')\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "importing"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "interrupted" in stdout and "Traceback" not in stderr


# ----------------------------------------------------------------------------- item 4: tracebacks
@pytest.mark.unit
def test_unreadable_data_file_is_named(tmp_path, capsys, monkeypatch):
    data = tmp_path / "b1.csv"
    data.write_bytes((DATA / "b1.csv").read_bytes())
    real_open = Path.open

    def deny(self, *args, **kwargs):  # chmod 000 does not stop root
        if self == data.resolve():
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    code, _, err = run(["train", str(small_config(tmp_path, b1=data.as_posix())),
                        "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    line = error_line(err)
    assert line.startswith("error: experiments[0] ('b1').data: cannot read") and "denied" in line


@pytest.mark.unit
def test_predict_out_under_a_file_is_refused_before_the_work(tmp_path, capsys, saved_model):
    (tmp_path / "afile").write_text("x")
    code, stdout, err = run(["predict", str(saved_model), str(small_config(tmp_path)),
                             "--out", str(tmp_path / "afile" / "pred.csv")], capsys)
    assert code == 2 and stdout == ""
    assert error_line(err).startswith("error: --out: ") and "[INFO]" not in err


@pytest.mark.unit
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_predict_out_in_read_only_folder_is_refused(tmp_path, capsys, saved_model):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    code, _, err = run(["predict", str(saved_model), str(small_config(tmp_path)),
                        "--out", str(folder / "pred.csv")], capsys)
    assert code == 2 and error_line(err).startswith("error: --out: ")


def _edit_model(model: Path, edit) -> None:
    path = model / "model.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.unit
def test_nan_weight_is_refused_at_load(tmp_path, capsys, saved_model):
    _edit_model(saved_model, lambda d: d["network"]["weights"][0][0].__setitem__(0, float("nan")))
    code, _, err = run(["predict", str(saved_model), str(small_config(tmp_path)),
                        "--out", str(tmp_path / "p.csv"), "--accept-edited-model"], capsys)
    assert code == 2
    line = error_line(err)
    assert line.startswith("error: network.weights[0][0][0]: not a finite number"), line
    assert not (tmp_path / "p.csv").exists()


# ----------------------------------------------------------------------------- item 6: integrity
TAMPER = {
    "edited weight": (lambda d: d["network"]["weights"][0][0].__setitem__(0, 0.123), "checksum"),
    "zeroed fingerprint": (lambda d: d["training_data"].__setitem__("sha256", "0" * 64), "checksum"),
    "newer minor format": (lambda d: d.__setitem__("format_version", "1.99"), "format_version"),
    "future package": (lambda d: d["versions"].__setitem__("idaes-hybrid", "99.0"),
                       "versions.idaes-hybrid"),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", list(TAMPER))
def test_tampered_model_is_refused(tmp_path, capsys, saved_model, case):
    edit, field = TAMPER[case]
    _edit_model(saved_model, edit)
    out = tmp_path / "p.csv"
    out.write_text("old predictions\n")
    code, _, err = run(["predict", str(saved_model), str(small_config(tmp_path)),
                        "--out", str(out)], capsys)
    assert code == 2
    assert error_line(err).startswith(f"error: {field}: ")
    assert out.read_text() == "old predictions\n"


@pytest.mark.unit
def test_edited_model_is_accepted_when_asked(saved_model, caplog):
    from idaes_hybrid.output.saved import load_model

    _edit_model(saved_model, TAMPER["edited weight"][0])
    with caplog.at_level("WARNING"):
        saved = load_model(saved_model, accept_edited=True)
    assert saved.spec.weights[0][0][0] == 0.123 and "checksum" in caplog.text


# ----------------------------------------------------------------------------- item 8
@pytest.mark.unit
def test_version_option():
    proc = subprocess.run([str(Path(sys.executable).parent / "idaes-hybrid"), "--version"],
                          capture_output=True, text=True, timeout=120)
    from idaes_hybrid import __version__

    assert proc.returncode == 0 and proc.stdout.startswith(f"idaes-hybrid {__version__} (")


@pytest.mark.component
def test_quiet_training_prints_nothing_on_stderr(quiet_training):
    proc = quiet_training["proc"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no TensorFlow start-up lines, no INFO
    assert proc.stdout.startswith("status: ")


@pytest.mark.component
def test_tensorflow_start_up_lines_are_hidden_without_quiet_too():
    """TensorFlow's C++ start-up lines (an absl warning, a CUDA probe reported as an error on
    a machine without a GPU) stay off stderr without --quiet as well, through the first op."""
    code = ("from idaes_hybrid.cli.output import import_tensorflow; import_tensorflow(False); "
            "import tensorflow as tf; print(float(tf.constant(1.0) + 1.0))")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2.0"
    assert "E0000" not in proc.stderr and "absl" not in proc.stderr, proc.stderr


@pytest.mark.component
def test_predict_on_a_run_folder_hints_model(tmp_path, capsys, quiet_training):
    out = quiet_training["out"]
    assert quiet_training["proc"].returncode == 0
    code, _, err = run(["predict", str(out), str(quiet_training["config"]),
                        "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 2
    line = error_line(err)
    assert line.startswith("error: model_dir: ") and f"'{out / 'model'}'" in line


@pytest.mark.unit
def test_directories_given_as_files(tmp_path, capsys):
    code, _, err = run(["train", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "is a directory" in error_line(err)
    assert error_line(err).startswith("error: config: ")
    config = small_config(tmp_path, b1=tmp_path.as_posix())
    code, _, err = run(["train", str(config), "--out", str(tmp_path / "o")], capsys)
    line = error_line(err)
    assert code == 2 and line.startswith("error: experiments[0] ('b1').data: ")
    assert "is a directory" in line


@pytest.mark.unit
def test_semicolon_csv_gets_a_hint(tmp_path, capsys):
    text = (DATA / "b1.csv").read_text().replace(",", ";")
    (tmp_path / "semi.csv").write_text(text)
    config = small_config(tmp_path, b1=(tmp_path / "semi.csv").as_posix())
    code, _, err = run(["train", str(config), "--out", str(tmp_path / "o")], capsys)
    line = error_line(err)
    assert code == 2 and line.startswith("error: experiments[0] ('b1').data: ")
    assert "semicolons" in line and "','" in line


@pytest.mark.unit
def test_diagnose_formulation_is_case_insensitive(tmp_path, capsys):
    code, _, err = run(["diagnose", str(tmp_path / "none.toml"), "--formulation", "LIFTED"],
                       capsys)
    assert code == 2 and error_line(err).startswith("error: config: ")  # parsed, then not found


@pytest.mark.unit
def test_estimate_horizon_end_past_the_batch_is_refused(tmp_path, capsys, saved_model):
    out = old_output(tmp_path)
    before = snapshot(out)
    code, _, err = run(["estimate", str(saved_model), str(small_config(tmp_path)),
                        "--experiment", "b1", "--now", "20", "--window", "10",
                        "--horizon-end", "400", "--out", str(out)], capsys)
    assert code == 2
    line = error_line(err)
    assert line.startswith("error: --horizon-end: ") and "horizon 40" in line
    assert snapshot(out) == before


# ----------------------------------------------------------------------------- item 7: size
@pytest.mark.unit
def test_huge_network_is_refused_before_building(tmp_path, capsys):
    import time

    config = small_config(tmp_path, hidden="[2000, 2000]")
    start = time.perf_counter()
    code, _, err = run(["train", str(config), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and time.perf_counter() - start < 30
    line = error_line(err)
    assert line.startswith("error: network.hidden: ") and "--max-weights" in line
    assert "problem size: 4008001 network weights" in err  # logged first
    assert not (tmp_path / "o").exists()


@pytest.mark.unit
def test_diagnose_refuses_a_huge_network_before_building(tmp_path, capsys):
    config = small_config(tmp_path, hidden="[2000, 2000]")
    code, _, err = run(["diagnose", str(config)], capsys)
    assert code == 2 and error_line(err).startswith("error: network.hidden: ")
    assert "problem size: 4008001 network weights" in err


@pytest.mark.unit
def test_max_weights_must_be_positive(tmp_path, capsys):
    code, _, err = run(["train", str(small_config(tmp_path)), "--out", str(tmp_path / "o"),
                        "--max-weights", "0"], capsys)
    assert code == 2 and error_line(err).startswith("error: --max-weights: ")


@pytest.mark.unit
def test_out_may_hold_the_config_but_not_where_an_output_goes(tmp_path):
    """A config beside the results is kept when --out is replaced; a config named like an
    output (it would be overwritten) and the model directory are refused."""
    from idaes_hybrid.cli.output import OutputPathError, refuse_overlap

    config = tmp_path / "config.toml"
    config.write_text("x")
    refuse_overlap(tmp_path, [("config", config)])  # kept: not an output name
    with pytest.raises(OutputPathError, match="config"):
        refuse_overlap(tmp_path, [("config", tmp_path / "report.md")])
    with pytest.raises(OutputPathError, match="input model"):
        refuse_overlap(tmp_path, [("input model", tmp_path / "model")])
    with pytest.raises(OutputPathError, match="config"):
        refuse_overlap(config, [("config", config)])
