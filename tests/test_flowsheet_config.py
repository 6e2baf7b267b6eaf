"""Flowsheet run configurations ([flowsheet] table) and `idaes-hybrid train` on them."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from idaes_hybrid.cli.app import main
from idaes_hybrid.config.run import ConfigError
from idaes_hybrid.config.flowsheet import is_flowsheet_config, load_flowsheet_config
from idaes_hybrid.model.flowsheet import FlowsheetExperiment

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "saponification"


def _copy_case(tmp_path: Path, edit=None) -> Path:
    for name in ("model.py", "config.toml"):
        shutil.copy(CASE / name, tmp_path / name)
    shutil.copytree(CASE / "data", tmp_path / "data")
    path = tmp_path / "config.toml"
    if edit:
        path.write_text(edit(path.read_text()))
    return path


@pytest.mark.unit
def test_shipped_config_loads_with_terms_inputs_and_roles():
    config = load_flowsheet_config(CASE / "config.toml")
    assert is_flowsheet_config(CASE / "config.toml")
    assert [e.name for e in config.experiments] == ["b1", "b2", "b3", "val"]
    assert config.experiments[3].role.value == "validation"
    assert config.experiments[0].inputs["Q"].value_at(30.0) == 2.0e4
    assert config.flowsheet.terms[0].package == "fs.rxn" and config.hidden == [10]


@pytest.mark.unit
@pytest.mark.parametrize("old, new, field", [
    ('build = "model.py:build_learned"', 'build = "model.py:nothing"', "flowsheet.build"),
    ('build = "model.py:build_learned"', 'build = "missing.py:f"', "flowsheet.build"),
    ('kind = "reaction"', 'kind = "magic"', r"flowsheet.terms\[0\].kind"),
    ('time_units = "s"', 'time_units = "fortnight"', "flowsheet.time_units"),
    # a misspelled key of [flowsheet] was ignored (time_unit = "min" left time in s)
    ('time_units = "s"', 'time_unit = "min"', "flowsheet.time_unit: unknown key; valid keys: build, time_units"),
    ('build = "model.py:build_learned"', 'biuld = "model.py:build_learned"', "flowsheet.biuld: unknown key"),
    ('[flowsheet.variables]', '[flowsheet.variable]', "flowsheet.variable: unknown key"),
    ('hidden = [10]', 'hidden = []', "network.hidden"),
    ('horizon = 120.0\ninitial', 'horizon = "long"\ninitial', r"experiments\[0\] \('b1'\).horizon"),
    ('name = "kinetics"', 'name = "kinetics"\nhiden = [4]', r"flowsheet.terms\[0\].hiden: unknown key"),
    ('name = "kinetics"', 'name = "kinetics"\nhidden = [0]', r"flowsheet.terms\[0\].hidden"),
    ('name = "kinetics"', 'name = "kinetics"\nactivation = "relu"', r"flowsheet.terms\[0\].activation"),
    ('name = "kinetics"', 'name = "my kinetics"', r"flowsheet.terms\[0\].name"),
    ('name = "kinetics"\n', 'name = "kinetics"\n\n[[flowsheet.terms]]\nkind = "reaction"\npackage = "fs.rxn"\n',
     r"flowsheet.terms\[1\].name: 'kinetics' is used by an earlier term"),
    # values of the wrong type are named, not a TypeError from inside the loader
    ('time_units = "s"', 'time_units = ["s"]', "flowsheet.time_units"),
    ('kind = "reaction"', 'kind = ["reaction"]', r"flowsheet.terms\[0\].kind"),
    ('activation = "softplus"', 'activation = {name = "softplus"}', "network.activation: expected an activation"),
    ('seed = 0', 'seed = true', "network.seed"),
    ('name = "b1"', 'name = 1', r"experiments\[0\].name: expected a non-empty string"),
    ('horizon = 120.0\ninitial', 'horizon = -120.0\ninitial', r"experiments\[0\] \('b1'\).horizon: expected a positive"),
    ('horizon = 120.0\ninitial', 'horizon = true\ninitial', r"experiments\[0\] \('b1'\).horizon"),
    ('horizon = 120.0\ninitial', 'horizon = 120.0\nnoise_sd = 0.1\ninitial', r"experiments\[0\] \('b1'\).noise_sd: expected a table"),
    ('horizon = 120.0\ninitial', 'horizon = 120.0\nnoise_sd = {T = 0}\ninitial',
     r"experiments\[0\] \('b1'\).noise_sd.T: expected a positive number"),
    # a validation experiment named like a training one overwrote its metrics without a word
    ('name = "val"', 'name = "b1"', r"experiments\[3\] \('b1'\).name: 'b1' is already used by experiments\[0\]; names must be unique$"),
])
def test_bad_config_names_the_field(tmp_path, old, new, field):
    path = _copy_case(tmp_path, lambda s: s.replace(old, new, 1))
    with pytest.raises(ConfigError, match=field):
        load_flowsheet_config(path)


@pytest.mark.unit
def test_terms_get_their_own_networks_and_seeds():
    """Two terms: the term's own hidden/activation override [network]; seeds differ."""
    config = load_flowsheet_config(CASE.parent / "tank_manifold" / "config_two_terms.toml")
    assert [t.name for t in config.flowsheet.terms] == ["pump", "outflow"]
    specs = config.network_specs()
    assert specs["pump"].sizes == [2, 16, 1] and specs["outflow"].sizes == [1, 8, 1]
    assert config.flowsheet.network_shapes() == {"pump": (2, 1), "outflow": (1, 1)}
    with pytest.raises(ValueError, match="terms: 2 learned terms"):
        config.flowsheet.network_shape()
    with pytest.raises(ValueError, match="need one network each"):
        config.flowsheet.specs_by_term(specs["pump"])
    with pytest.raises(ValueError, match="networks given for"):
        config.flowsheet.specs_by_term({"pump": specs["pump"]})


@pytest.mark.component
def test_cli_refuses_an_input_series_that_ends_early(tmp_path, capsys):
    path = _copy_case(tmp_path, lambda s: s.replace(
        "Q = [[0, 3.0e4], [90, 0.0]]", 'Q = { file = "q.csv", column = "Q" }'))
    (tmp_path / "q.csv").write_text("time,Q\n0,3e4\n60,1e4\n")
    code = main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "inputs.Q: the series ends at t=60" in err and "does not cover the horizon" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.integration
def test_cli_trains_the_saponification_config(tmp_path):
    out = tmp_path / "out"
    assert main(["train", str(CASE / "config.toml"), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["rmse"]["NaOH"] < 0.02 and metrics["validation"]["rmse"]["T"] < 0.1
    saved = json.loads((out / "model" / "flowsheet_model.json").read_text())
    from idaes_hybrid import NetworkSpec

    assert saved["format"] == "idaes-hybrid-flowsheet-model/2" and list(saved["networks"]) == ["kinetics"]
    spec = NetworkSpec.from_dict(saved["networks"]["kinetics"])
    sys.path.insert(0, str(CASE))
    from model import arrhenius

    assert spec.predict([[305.0]])[0, 0] == pytest.approx(arrhenius(305.0), rel=0.05)
    assert saved["build"] == "model.py:build_learned"
    assert {"learned_term.png", "validation.png", "report.md"} <= {p.name for p in out.iterdir()}

    # the saved model reloads from its files plus the build function named by the config
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(out / "model"), str(CASE / "config.toml"), "--out", str(pred),
                 "--quiet"]) == 0
    import pandas as pd

    table = pd.read_csv(pred)
    val = table[table.experiment == "val"].set_index("time")
    data = pd.read_csv(CASE / "data" / "val.csv").set_index("time")
    import numpy as np

    sim = np.interp(data.index, val.index, val["NaOH"])
    rmse = float(np.sqrt(np.mean((sim - data["NaOH"]) ** 2)))
    assert rmse == pytest.approx(metrics["validation"]["rmse"]["NaOH"], rel=0.05, abs=2e-4)

    # the config's [optimization] on the saved model, checked on the true flowsheet
    opt_out = tmp_path / "opt"
    assert main(["optimize", str(out / "model"), str(CASE / "config.toml"), "--out", str(opt_out),
                 "--quiet"]) == 0
    result = json.loads((opt_out / "optimization.json").read_text())
    assert result["status"] == "optimal" and len(result["profiles"]["Q"]) == 6
    assert all(-1e-6 <= q <= 4.0e4 + 1e-6 for q in result["profiles"]["Q"])
    assert abs(result["true_flowsheet"]["gap_percent"]) < 1.0
    assert (opt_out / "profiles.png").is_file()


@pytest.mark.unit
def test_a_saved_model_of_format_1_still_loads(tmp_path):
    """Format /1 (one network and its term) reads as {term: network}."""
    from idaes_hybrid import NetworkSpec
    from idaes_hybrid.cli.flowsheet import load_flowsheet_model

    spec = NetworkSpec.dense(1, [3], 1, activation="tanh", seed=2)
    (tmp_path / "flowsheet_model.json").write_text(json.dumps(
        {"format": "idaes-hybrid-flowsheet-model/1", "build": "model.py:f", "term": "kinetics",
         "network": spec.to_dict()}))
    loaded = load_flowsheet_model(tmp_path)
    assert list(loaded) == ["kinetics"]
    assert loaded["kinetics"].predict([[0.3]])[0, 0] == pytest.approx(spec.predict([[0.3]])[0, 0])


def _saved_model(directory: Path) -> Path:
    from types import SimpleNamespace

    from idaes_hybrid import NetworkSpec
    from idaes_hybrid.output.flowsheet import save_flowsheet_model

    spec = NetworkSpec.dense(1, [3], 1, activation="softplus", seed=4)
    return save_flowsheet_model(directory, SimpleNamespace(specs={"kinetics": spec}), None, "model.py:f")


@pytest.mark.unit
def test_saved_flowsheet_model_is_verified_at_load(tmp_path, capsys):
    """A checksum guards the saved networks: an edited weight is refused (accepted with
    --accept-edited-model), a NaN weight is refused, a run folder gets a hint."""
    from idaes_hybrid.cli.flowsheet import FlowsheetModelError, load_flowsheet_model

    path = _saved_model(tmp_path / "run" / "model")
    assert list(load_flowsheet_model(path.parent)) == ["kinetics"]
    doc = json.loads(path.read_text())
    doc["networks"]["kinetics"]["weights"][0][0][0] += 0.5
    path.write_text(json.dumps(doc))
    with pytest.raises(FlowsheetModelError, match="checksum"):
        load_flowsheet_model(path.parent)
    assert load_flowsheet_model(path.parent, accept_edited=True)["kinetics"].weights[0][0, 0] \
        == pytest.approx(doc["networks"]["kinetics"]["weights"][0][0][0])
    path.write_text(path.read_text().replace(str(doc["networks"]["kinetics"]["weights"][0][0][0]), "NaN", 1))
    with pytest.raises(FlowsheetModelError, match="not a finite number"):
        load_flowsheet_model(path.parent, accept_edited=True)
    code = main(["predict", str(tmp_path / "run"), str(CASE / "config.toml"), "--out",
                 str(tmp_path / "p.csv"), "--quiet"])
    assert code == 2 and "add /model" in capsys.readouterr().err


@pytest.mark.unit
def test_predict_refuses_a_directory_without_a_flowsheet_model(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["predict", str(tmp_path / "empty"), str(CASE / "config.toml"), "--out", str(tmp_path / "p.csv"),
                 "--quiet"])
    assert code == 2 and "flowsheet_model.json' not found" in capsys.readouterr().err


@pytest.mark.component
def test_an_incomplete_initial_state_is_named(tmp_path, capsys):
    """Only two of a CSTR's six differential states given: the message says what to give."""
    path = _copy_case(tmp_path, lambda s: s.replace(
        'name = "b3"\ndata = "data/b3.csv"\nhorizon = 120.0\n',
        'name = "b3"\ndata = "data/b3.csv"\nhorizon = 120.0\ninitial = { NaOH = 0.6, T = 315.0 }\n'))
    assert main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "experiments['b3']: the flowsheet keeps 4 degrees of freedom" in err
    assert "give every differential state at t = 0" in err


@pytest.mark.integration
def test_whole_rate_learned_with_series_input_and_given_initial_state(tmp_path):
    """A variant written as the docs say: the network gives the rate from T, c_NaOH and
    c_EtOAc; b2's heat duty is a CSV series; b3 starts from given states (not steady)."""
    path = _copy_case(tmp_path)
    shutil.copy(Path(__file__).parent / "data" / "learned_rate_model.py", tmp_path / "model.py")
    (tmp_path / "q_b2.csv").write_text("time,Q\n0,1e4\n30,0\n70,2.5e4\n120,2.5e4\n")
    p = "fs.r1.control_volume.properties_out[*].conc_mol_comp"
    text = path.read_text().replace('build = "model.py:build_learned"', 'build = "model.py:build"')
    text = text.replace("Q = [[0, 1.0e4], [30, 0.0], [70, 2.5e4]] }",
                        'Q = { file = "q_b2.csv", column = "Q", interpolation = "step" } }')
    text = text.replace(
        'name = "b3"\ndata = "data/b3.csv"\nhorizon = 120.0\n',
        'name = "b3"\ndata = "data/b3.csv"\nhorizon = 120.0\n'
        f'initial = {{ NaOH = 0.62, T = 315.5, "{p}[EthylAcetate]" = 0.62, "{p}[SodiumAcetate]" = 1.38, '
        f'"{p}[Ethanol]" = 1.38, "fs.r1.control_volume.material_accumulation[*,Liq,H2O]" = 0.0 }}\n')
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["train", str(path), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["rmse"]["NaOH"] < 2 * 0.01 and metrics["validation"]["rmse"]["T"] < 2 * 0.05
    assert metrics["train"]["rmse"]["NaOH"] < 1.5 * 0.01


@pytest.mark.unit
@pytest.mark.parametrize("case, message", [
    ("config_is_a_directory", "is a directory, not a TOML file"),
    ("data_is_a_directory", "experiments[0] ('b1').data: "),
    ("semicolon_csv", "separates its columns with semicolons"),
    # a validation file's unknown column: refused at load (it stopped the run after training)
    ("unknown_validation_column", "experiments[3] ('val').data (file "),
    # a misspelt input: refused at load, before warnings about the batches that lack it
    ("misspelt_input", "experiments[0] ('b1').inputs.Qq: 'Qq' is neither a name in variables"),
])
def test_flowsheet_config_data_files_are_checked_before_any_work(tmp_path, capsys, case, message):
    """The data-file checks of unit configs hold for flowsheet configs: exit 2, the field."""
    path = _copy_case(tmp_path)
    if case == "config_is_a_directory":
        path = tmp_path / "data"
    elif case == "data_is_a_directory":
        shutil.rmtree(tmp_path / "data" / "b1.csv", ignore_errors=True)
        (tmp_path / "data" / "b1.csv").unlink(missing_ok=True)
        (tmp_path / "data" / "b1.csv").mkdir()
    elif case == "misspelt_input":
        text = path.read_text()
        first = text.index("inputs = {", text.index("[[experiments]]"))
        name = text[first + len("inputs = {"):].split("=")[0].strip()
        path.write_text(text[:first] + text[first:].replace(name, "Qq", 1))
    elif case == "unknown_validation_column":
        csv = tmp_path / "data" / "val.csv"
        csv.write_text(csv.read_text().replace("time,NaOH,T", "time,NaOH,Temp"))
    else:
        csv = tmp_path / "data" / "b1.csv"
        csv.write_text(csv.read_text().replace(",", ";"))
    code = main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert case != "misspelt_input" or "no value for" not in err  # no warnings about the others first
    assert case != "unknown_validation_column" or "column: 'Temp' is neither a name in variables" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.component
def test_diagnose_a_flowsheet_config_with_two_terms(capsys):
    """`idaes-hybrid diagnose` on a flowsheet config: IDAES's structural report of the
    training problem (both networks in place, weights fixed) is clean and the numerical
    checks see the marched, square problem (small residuals)."""
    config = CASE.parent / "tank_manifold" / "config_two_terms.toml"
    assert main(["diagnose", str(config), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "diagnose: 0 structural" in out
    residual = float(out.split("Largest residual:")[1].split()[0])
    assert residual < 1e-5


def _b1_with_rows(tmp_path: Path, rows: str) -> Path:
    path = _copy_case(tmp_path)
    csv = tmp_path / "data" / "b1.csv"
    csv.write_text(csv.read_text().rstrip("\n") + "\n" + rows)
    return path


@pytest.mark.unit
@pytest.mark.parametrize("rows, message", [
    ("130,1.2,\n", "time at row 65 (130.0) is after the horizon (120.0)"),
    ("-2,1.2,\n", "time at row 65 (-2.0) is negative"),
    (",1.2,\n", "time at row 65 (nan) is not a finite number"),
    ("119,inf,\n", "column 'NaOH', row 65 (time 119.0): value inf is not finite"),
])
def test_measurement_times_outside_the_horizon_are_refused(tmp_path, rows, message):
    """A sample past the horizon was fitted to the last element's polynomial extrapolated
    (and one before 0 to the first's), without a word."""
    path = _b1_with_rows(tmp_path, rows)
    with pytest.raises(ConfigError) as info:
        load_flowsheet_config(path)
    assert str(info.value) == (f"experiments[0] ('b1').measurements (file "
                               f"'{tmp_path / 'data' / 'b1.csv'}'): {message}")


@pytest.mark.unit
def test_ragged_rows_in_any_order_and_input_steps_out_of_order(tmp_path, caplog):
    """Flowsheet data rows need not be sorted (a ragged grid written variable by variable);
    an unsorted step profile names its first bad entry; an unmeasured noise_sd name warns."""
    path = _b1_with_rows(tmp_path, "1.5,1.2,\n")
    config = load_flowsheet_config(path)
    assert config.experiments[0].measurements.index[-1] == 1.5
    path.write_text(path.read_text().replace(
        "horizon = 120.0\ninitial", "horizon = 120.0\nnoise_sd = {NaOH = 0.01, Temp = 0.1}\ninitial"))
    with caplog.at_level("WARNING"):
        load_flowsheet_config(path)
    assert "experiments[0] ('b1').noise_sd: 'Temp' not measured in this experiment; ignored" in caplog.text
    csv = tmp_path / "data" / "b1.csv"
    csv.write_text(csv.read_text().replace("time,NaOH,T\n", "time,NaOH,T,Q\n").replace("\n1.5,1.2,\n", "\n1.5,1.2,,0\n"))
    with caplog.at_level("WARNING"):
        load_flowsheet_config(path)
    assert ("experiments[0] ('b1').measurements: 'Q' also given in inputs (fixed at the given values); "
            "its measurements do not inform the fit") in caplog.text
    csv.write_text("time,NaOH,T\n0,,\n60,,\n")
    with caplog.at_level("WARNING"):
        load_flowsheet_config(path)
    assert "experiments[0] ('b1').data: no measured values; this training experiment" in caplog.text
    path.write_text(path.read_text().replace("F = [[0, 1.0e-3], [40, 0.7e-3]", "F = [[40, 0.7e-3], [0, 1.0e-3]"))
    with pytest.raises(ConfigError) as info:
        load_flowsheet_config(path)
    assert str(info.value) == ("experiments[0] ('b1').inputs.F: times must increase strictly; "
                               "t=0 (entry 2) follows t=40")


@pytest.mark.unit
def test_validation_plot_with_experiments_measuring_different_variables(tmp_path):
    """validation.png was not written (KeyError) when one experiment measured a variable
    another did not (e.g. only the training batches measure the heat duty)."""
    import types

    import pandas as pd

    from idaes_hybrid.output.flowsheet import plot_validation

    both = pd.DataFrame({"time": [0.0, 1.0], "T": [300.0, 301.0], "Q": [1.0, 2.0]}).set_index("time")
    exps = [FlowsheetExperiment("b1", 1.0, both),
            FlowsheetExperiment("val", 1.0, both[["T"]], role="validation")]
    traj = {"time": [0.0, 0.5, 1.0], "T": [300.0, 300.5, 301.0], "Q": [1.0, 1.5, 2.0]}
    result = types.SimpleNamespace(trajectories={"b1": traj, "val": traj})
    plot_validation(result, exps, tmp_path / "validation.png")
    assert (tmp_path / "validation.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.unit
def test_python_api_refuses_a_sample_after_the_horizon():
    """train_flowsheet with experiments built in Python checks the times as a config does."""
    import pandas as pd

    from idaes_hybrid.model.experiment import DataError
    from idaes_hybrid.training.flowsheet_train import train_flowsheet

    config = load_flowsheet_config(CASE / "config.toml")
    frame = pd.DataFrame({"NaOH": [1.2, 1.1]}, index=pd.Index([5.0, 130.0], name="time"))
    late = FlowsheetExperiment("late", 120.0, frame)
    with pytest.raises(DataError) as info:
        train_flowsheet(config.flowsheet, [late], config.network_specs()["kinetics"], 4, 1)
    assert str(info.value) == ("experiments['late'].measurements: time at row 2 (130.0) is after "
                               "the horizon (120.0)")


@pytest.mark.unit
def test_a_column_written_as_a_declared_path_takes_its_name(tmp_path):
    """A column headed by the path of a name in flowsheet.variables is that name (it was a
    second variable: its own RMSE column, and validation.png failed)."""
    path = _copy_case(tmp_path)
    naoh = "fs.r1.control_volume.properties_out[*].conc_mol_comp[NaOH]"
    csv = tmp_path / "data" / "b1.csv"
    text = csv.read_text()
    csv.write_text(text.replace("time,NaOH,T", f"time,{naoh},T", 1))
    path.write_text(path.read_text().replace("horizon = 120.0\ninitial",
                                             f'horizon = 120.0\nnoise_sd = {{"{naoh}" = 0.01}}\ninitial'))
    b1 = load_flowsheet_config(path).experiments[0]
    assert b1.measurements.columns.tolist() == ["NaOH", "T"] and b1.noise_sd == {"NaOH": 0.01}
    csv.write_text(text.replace("time,NaOH,T", f"time,NaOH,T,{naoh}", 1))
    with pytest.raises(ConfigError) as info:
        load_flowsheet_config(path)
    assert str(info.value) == (f"experiments[0] ('b1').data: columns '{naoh}' and 'NaOH' are the "
                               "same variable; keep one")


@pytest.mark.unit
def test_config_files_saved_with_a_byte_order_mark_and_crlf_load(tmp_path):
    """A TOML file saved by a Windows editor (UTF-8 BOM, CRLF) was 'not valid TOML: Invalid
    statement (at line 1, column 1)', and a flowsheet one was not recognized as such."""
    from idaes_hybrid.config.run import load_run_config
    from idaes_hybrid.config.unit_translation import load_config

    path = _copy_case(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_text().replace("\n", "\r\n").encode())
    assert is_flowsheet_config(path)
    assert [e.name for e in load_flowsheet_config(path).experiments] == ["b1", "b2", "b3", "val"]
    assert len(load_config(path).experiments) == 4
    unit = tmp_path / "unit.toml"
    text = (CASE.parent / "bioreactor" / "config.toml").read_text()
    unit.write_bytes(b"\xef\xbb\xbf" + text.replace('data = "data/', f'data = "{(CASE.parent / "bioreactor").as_posix()}/data/').encode())
    assert load_run_config(unit).model_name == "fed_batch_bioreactor"


@pytest.mark.unit
def test_a_build_function_travels_to_workers_by_its_reference(tmp_path):
    """A build module that imports Pyomo's unit container at module level (as the docs'
    examples do) could not be sent to Dask workers: cloudpickle sent the function by value
    with its module's globals, and the unit container does not pickle. The function now
    travels as its ``module.py:name`` reference and is imported again on the other side."""
    import pickle

    import cloudpickle

    from idaes_hybrid.config.flowsheet_parse import load_build_function

    (tmp_path / "user_build.py").write_text(
        "from pyomo.environ import units as pyunits\n\n\n"
        "def build(x):\n    \"\"\"Doubles x.\"\"\"\n    return 2 * x if pyunits is not None else None\n")
    f = load_build_function("user_build.py:build", tmp_path)
    with pytest.raises(Exception):  # what the decomposition met: the module's unit container
        cloudpickle.dumps(f.function)
    for dumps, loads in ((cloudpickle.dumps, cloudpickle.loads), (pickle.dumps, pickle.loads)):
        g = loads(dumps(f))
        assert g(3.5) == 7.0 and g.__name__ == "build" and g.__doc__ == "Doubles x."
        assert g.reference == f"{tmp_path / 'user_build.py'}:build"


@pytest.mark.unit
def test_an_input_one_experiment_forgets_is_warned_about(tmp_path, caplog):
    """Without an input the others give (the heat duty Q), training ended with "the flowsheet
    keeps 91 degrees of freedom", a count that names no variable: the load now names it."""
    path = _copy_case(tmp_path, lambda s: s.replace(
        ", Q = [[0, 1.0e4], [30, 0.0], [70, 2.5e4]] }", " }", 1))
    with caplog.at_level("WARNING"):
        config = load_flowsheet_config(path)
    assert "Q" not in config.experiments[1].inputs
    messages = [r.getMessage() for r in caplog.records if "inputs: no value" in r.getMessage()]
    assert messages == ["experiments[1] ('b2').inputs: no value for 'Q' (given by 'b1'); unless the "
                        "flowsheet fixes it, this experiment keeps free degrees of freedom"]


@pytest.mark.component
def test_the_degrees_of_freedom_error_names_the_forgotten_input(tmp_path, capsys):
    """The training's free-degrees-of-freedom error names the input the experiment lacks
    and another gives (it named the variables a matching left free: not the input)."""
    path = _copy_case(tmp_path, lambda s: s.replace(
        ", Q = [[0, 1.0e4], [30, 0.0], [70, 2.5e4]] }", " }", 1))
    assert main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: experiments['b2']: the flowsheet keeps ")
    assert "; likely cause: no value for input 'Q' (given by 'b1'); fix every input" in err


@pytest.mark.unit
def test_missing_inputs_and_the_message_that_names_them():
    from idaes_hybrid.model.flowsheet import missing_inputs, with_missing_inputs

    exps = [FlowsheetExperiment("a", 1.0, pd.DataFrame(), inputs={"F": 1.0, "Q": 2.0}),
            FlowsheetExperiment("b", 1.0, pd.DataFrame(), inputs={"F": 1.0}),
            FlowsheetExperiment("c", 1.0, pd.DataFrame(), inputs={"T": 3.0})]
    assert missing_inputs(exps) == {"a": [("T", "c")], "b": [("Q", "a"), ("T", "c")],
                                    "c": [("F", "a"), ("Q", "a")]}
    msg = "experiments['b']: the flowsheet keeps 4 degrees of freedom (x); fix every input"
    assert with_missing_inputs(msg, exps) == (
        "experiments['b']: the flowsheet keeps 4 degrees of freedom (x); likely cause: no value for "
        "input 'Q' (given by 'a'), 'T' (given by 'c'); fix every input")
    assert with_missing_inputs("experiments['b']: other", exps) == "experiments['b']: other"


@pytest.mark.unit
def test_a_build_function_that_raises_is_bad_input_naming_flowsheet_build(tmp_path, capsys):
    """An Arc to a unit the build function never made (a review case) was an "internal error"
    with exit 1; it is the user's code: exit 2 and one line naming ``flowsheet.build``."""
    path = _copy_case(tmp_path, lambda s: s.replace('build = "model.py:build_learned"',
                                                     'build = "bad_build.py:build_bad"', 1))
    (tmp_path / "bad_build.py").write_text(
        "from model import build_learned\n\n\ndef build_bad(fs):\n    build_learned(fs)\n"
        "    return fs.r3  # no such unit\n")
    code = main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error: flowsheet.build: build_bad(fs) raised AttributeError:" in err and "'r3'" in err
    assert "internal error" not in err and not (tmp_path / "out").exists()
