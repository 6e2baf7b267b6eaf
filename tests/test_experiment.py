"""Tests of experiment data loading/validation and of the bioreactor data set."""

from __future__ import annotations

import importlib.util
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from idaes_hybrid.training.experiment import (
    DataError,
    Experiment,
    Role,
    experiment_field,
    read_measurements,
    split_by_role,
)

STATES = ["X", "P", "S", "V"]
INPUTS = ["F", "Sf"]
BIOREACTOR = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"


def _load_generator():
    spec = importlib.util.spec_from_file_location("bioreactor_generate_data",
                                                  BIOREACTOR / "generate_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _load_generator()


@pytest.fixture(scope="module")
def config():
    with open(BIOREACTOR / "config.toml", "rb") as f:
        return tomllib.load(f)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _entry(**overrides) -> dict:
    entry = {
        "name": "b2",
        "data": "b2.csv",
        "initial": {"X": 0.1, "P": 0.0, "S": 5.0, "V": 1.0},
        "inputs": {"F": 0.05, "Sf": 5.0},
        "horizon": 10.0,
        "role": "train",
        "noise_sd": {"X": 0.05, "S": 0.5},
    }
    entry.update(overrides)
    return entry


GOOD_CSV = "time,X,S\n0,0.1,5.0\n2.5,,4.5\n5,0.3,\n10,0.9,2.0\n"


@pytest.fixture
def good_dir(tmp_path):
    _write(tmp_path / "b2.csv", GOOD_CSV)
    return tmp_path


def _experiment(good_dir, **overrides) -> Experiment:
    return Experiment.from_dict(_entry(**overrides), good_dir, 1)


def _validate(exp: Experiment) -> None:
    exp.validate(STATES, INPUTS, experiment_field(1, exp.name))


# --------------------------------------------------------------- good data
@pytest.mark.unit
def test_good_entry_round_trips(good_dir):
    exp = _experiment(good_dir)
    _validate(exp)
    assert exp.name == "b2" and exp.role is Role.TRAIN and exp.horizon == 10.0
    assert exp.initial == {"X": 0.1, "P": 0.0, "S": 5.0, "V": 1.0}
    assert exp.inputs == {"F": 0.05, "Sf": 5.0}
    assert exp.noise_sd == {"X": 0.05, "S": 0.5}
    m = exp.measurements
    assert m.index.name == "time" and m.index.dtype == float
    assert list(m.columns) == ["X", "S"]
    assert m.attrs["source"] == str((good_dir / "b2.csv").resolve())
    # Writing the frame back and reading it again gives the same data.
    m.to_csv(good_dir / "copy.csv")
    pd.testing.assert_frame_equal(read_measurements(good_dir / "copy.csv", "copy"), m,
                                  check_flags=False)
    pd.testing.assert_frame_equal(read_measurements(m, "frame"), m)
    pd.testing.assert_frame_equal(read_measurements(m.reset_index(), "frame"), m)


@pytest.mark.unit
def test_blanks_are_missing_and_skipped(good_dir):
    exp = _experiment(good_dir)
    m = exp.measurements
    assert math.isnan(m.loc[2.5, "X"]) and math.isnan(m.loc[5.0, "S"])
    times, names, values = exp.observations()
    assert list(times) == [0.0, 0.0, 2.5, 5.0, 10.0, 10.0]
    assert list(names) == ["X", "S", "S", "X", "X", "S"]
    np.testing.assert_array_equal(values, [0.1, 5.0, 4.5, 0.3, 0.9, 2.0])
    assert exp.measured_variables == ["X", "S"]


@pytest.mark.unit
def test_all_missing_column_is_not_measured(tmp_path):
    _write(tmp_path / "b2.csv", "time,X,P\n0,1.0,\n1,2.0,\n")
    exp = Experiment.from_dict(_entry(horizon=1.0, noise_sd=None), tmp_path, 0)
    _validate(exp)
    assert exp.measured_variables == ["X"]
    assert list(exp.observations()[1]) == ["X", "X"]


@pytest.mark.unit
def test_role_default_absolute_path_and_split(good_dir):
    entry = _entry(data=str(good_dir / "b2.csv"))
    del entry["role"], entry["noise_sd"]
    train = Experiment.from_dict(entry, "/nonexistent", 0)
    assert train.role is Role.TRAIN and train.noise_sd is None
    val = _experiment(good_dir, name="v", role="validation")
    assert val.role is Role.VALIDATION
    assert split_by_role([train, val, train]) == ([train, train], [val])
    assert Experiment("e", {}, {}, 1.0, pd.DataFrame(), role="validation").role is Role.VALIDATION


# ---------------------------------------------------------------- bad data
def _raises(fn, *fields: str) -> str:
    with pytest.raises(DataError) as info:
        fn()
    for field in fields:
        assert field in str(info.value), str(info.value)
    return str(info.value)


@pytest.mark.unit
def test_missing_file(tmp_path):
    msg = _raises(lambda: Experiment.from_dict(_entry(), tmp_path, 1),
                  "experiments[1] ('b2').data: file", str(tmp_path / "b2.csv"), "not found")
    assert msg == f"experiments[1] ('b2').data: file '{tmp_path / 'b2.csv'}' not found"


@pytest.mark.unit
@pytest.mark.parametrize(
    "text, fields",
    [
        ("t,X\n0,1\n", ["experiments[1] ('b2').data", "no 'time' column", "'t', 'X'"]),
        ("time,X,S\n0,1,2\n1,abc,3\n", ["column 'X'", "row 2", "'abc'", "not a number"]),
        ("time,X\n0,1\nlater,2\n", ["column 'time'", "row 2", "'later'"]),
        ("", ["experiments[1] ('b2').data", "is empty; expected a header row with a 'time' column"]),
        ("time,X\n0,1,2\n", ["experiments[1] ('b2').data", "cannot read"]),
        ("time,X,X\n0,1,2\n", ["experiments[1] ('b2').data", "repeated column(s) 'X'"]),
        ("time, X ,time\n0,1,2\n", ["repeated column(s) 'time'"]),
    ],
)
def test_bad_csv(tmp_path, text, fields):
    _write(tmp_path / "b2.csv", text)
    _raises(lambda: Experiment.from_dict(_entry(), tmp_path, 1), *fields)


@pytest.mark.unit
def test_repeated_column_in_frame():
    frame = pd.DataFrame([[0.0, 1.0, 2.0]], columns=["time", "X", "X"])
    _raises(lambda: read_measurements(frame, "m"), "m:", "repeated", "'X'")


@pytest.mark.unit
def test_trailing_comma_column_is_dropped(tmp_path):
    """A spreadsheet export that ends every line with ',' reads as if the comma were not there;
    rows of commas only are blank lines (they were a time 'nan')."""
    _write(tmp_path / "b2.csv", "time,X,S,\n0,0.1,5.0,\n2.5,,4.5,\n")
    frame = read_measurements(tmp_path / "b2.csv", "m")
    assert frame.columns.tolist() == ["X", "S"]
    np.testing.assert_array_equal(frame.index.to_numpy(), [0.0, 2.5])
    np.testing.assert_array_equal(frame["S"].to_numpy(), [5.0, 4.5])
    _write(tmp_path / "b2.csv", "time,X,S\n0,0.1,5.0\n,,\n2.5,,4.5\n,,\n , ,\n")  # rows of commas only
    frame = read_measurements(tmp_path / "b2.csv", "m")
    np.testing.assert_array_equal(frame.index.to_numpy(), [0.0, 2.5])
    np.testing.assert_array_equal(frame["X"].to_numpy(), [0.1, np.nan])


@pytest.mark.unit
def test_data_paths_expand_the_home_directory(tmp_path, monkeypatch):
    """``data = "~/..."`` (and an input series' ``file``) is the user's home, not a folder
    named '~' beside the config."""
    from idaes_hybrid.model.inputs import parse_input

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    _write(tmp_path / "home" / "b2.csv", "time,X,Q\n0,0.1,1.0\n10,0.2,3.0\n")
    exp = Experiment.from_dict(_entry(data="~/b2.csv"), tmp_path / "configs", 0)
    assert exp.measurements.attrs["source"] == str(tmp_path / "home" / "b2.csv")
    profile = parse_input({"file": "~/b2.csv", "column": "Q"}, "inputs.Q", tmp_path / "configs")
    assert profile.value_at(5.0) == 2.0

@pytest.mark.unit
def test_files_that_are_not_utf8_are_named_with_a_fix(tmp_path):
    """UTF-16 ('Unicode text' exports) and Latin-1 files: the message says to save as UTF-8
    (UTF-16 with tabs was blamed on the tabs, UTF-16 with commas gave only a codec error)."""
    path = tmp_path / "b2.csv"
    path.write_text("time,X\n0,0.1\n", encoding="utf-16")
    assert _raises(lambda: read_measurements(path, "m"), "UTF-16") == (
        f"m: file '{path}' is UTF-16 text (a spreadsheet's 'Unicode text' export); save it as "
        "CSV in UTF-8, with ',' between columns")
    path.write_text("time\tX\n0\t0.1\n", encoding="utf-16")
    _raises(lambda: read_measurements(path, "m"), "is UTF-16 text")
    path.write_text("time,X\n0,0.1\n1,0.2 \u00b0C\n", encoding="latin-1")
    assert _raises(lambda: read_measurements(path, "m"), "not UTF-8").endswith(
        "it is not UTF-8 text (utf-8: invalid start byte); save it as CSV in UTF-8")

@pytest.mark.unit
def test_unnamed_column_with_values_is_refused(tmp_path):
    """A pandas index written by ``to_csv()`` is named in the message, not read as a state 'nan'."""
    path = tmp_path / "b2.csv"
    _write(path, ",time,X\n0,0,0.1\n1,2.5,0.2\n")
    assert _raises(lambda: read_measurements(path, "m"), "column 1") == (
        f"m: file '{path}', column 1 has no name in the header row but holds values (a row "
        "index written by pandas? save with to_csv(index=False)); name it or remove it")
    _write(path, "time,X, \n0,0.1,3\n")
    _raises(lambda: read_measurements(path, "m"), "column 3 has no name", "remove it")


@pytest.mark.unit
@pytest.mark.parametrize(
    "text, fields",
    [
        ("time,X\n-1,1\n1,2\n", ["measurements", "time at row 1", "negative"]),
        ("time,X\n0,1\n,2\n", ["measurements", "time at row 2", "not a finite"]),
        ("time,X\n0,1\n11,2\n", ["measurements", "time at row 2", "after the horizon"]),
        ("time,X,S\n0,1,2\n1,2,inf\n", ["measurements", "column 'S'", "row 2", "not finite"]),
        ("time,X,S\n0,1,2\n1,-inf,3\n", ["measurements", "column 'X'", "row 2", "not finite"]),
        ("time,X,Q\n0,1,2\n", ["measurements", "column 'Q'", "'X', 'P', 'S', 'V'"]),
        ("time,X\n0,\n1,\n", ["measurements", "no measured values"]),
        ("time,X\n", ["measurements", "no measured values"]),
    ],
)
def test_bad_measurements(tmp_path, text, fields):
    _write(tmp_path / "b2.csv", text)
    exp = Experiment.from_dict(_entry(noise_sd=None), tmp_path, 1)
    msg = _raises(lambda: _validate(exp), "experiments[1] ('b2').measurements", *fields)
    assert str(tmp_path / "b2.csv") in msg


@pytest.mark.unit
@pytest.mark.parametrize(
    "overrides, fields",
    [
        ({"initial": {"X": float("nan"), "P": 0, "S": 5, "V": 1}}, ["('b2').initial.X", "finite"]),
        ({"initial": {"X": 0.1, "P": 0, "S": 5}}, ["('b2').initial.V", "missing"]),
        ({"initial": {"X": 0.1, "P": 0, "S": 5, "V": 1, "Z": 1}},
         ["('b2').initial.Z", "unknown state", "'X', 'P', 'S', 'V'"]),
        ({"inputs": {"F": float("inf"), "Sf": 5}}, ["('b2').inputs.F", "finite"]),
        ({"inputs": {"F": 0.05}}, ["('b2').inputs.Sf", "missing"]),
        ({"inputs": {"F": 0.05, "Sf": 5, "G": 1}}, ["('b2').inputs.G", "unknown input"]),
        ({"horizon": 0.0}, ["('b2').horizon", "> 0"]),
        ({"horizon": float("nan")}, ["('b2').horizon", "> 0"]),
        ({"noise_sd": {"X": 0.0}}, ["('b2').noise_sd.X", "> 0"]),
        ({"noise_sd": {"F": 0.1}}, ["('b2').noise_sd.F", "unknown state"]),
    ],
)
def test_bad_values(good_dir, overrides, fields):
    exp = _experiment(good_dir, **overrides)
    _raises(lambda: _validate(exp), "experiments[1] ", *fields)


@pytest.mark.unit
@pytest.mark.parametrize(
    "overrides, fields",
    [
        ({"role": "test"}, ["experiments[1] ('b2').role", "'test'", "'train', 'validation'"]),
        ({"horizon": "40"}, ["experiments[1] ('b2').horizon", "number"]),
        ({"initial": {"X": "a"}}, ["experiments[1] ('b2').initial.X", "number"]),
        ({"inputs": [1, 2]}, ["experiments[1] ('b2').inputs", "table"]),
        ({"noise_sd": {"S": True}}, ["experiments[1] ('b2').noise_sd.S", "number"]),
        ({"data": 3}, ["experiments[1] ('b2').data", "file path"]),
        ({"name": ""}, ["experiments[1].name", "non-empty"]),
        ({"nois_sd": {}}, ["experiments[1] ('b2').nois_sd", "unknown key", "'noise_sd'"]),
    ],
)
def test_bad_entry(good_dir, overrides, fields):
    _raises(lambda: _experiment(good_dir, **overrides), *fields)


@pytest.mark.unit
@pytest.mark.parametrize("key", ["name", "data", "initial", "inputs", "horizon"])
def test_missing_key(good_dir, key):
    entry = _entry()
    del entry[key]
    where = "experiments[2]" if key == "name" else "experiments[2] ('b2')"
    _raises(lambda: Experiment.from_dict(entry, good_dir, 2), f"{where}.{key}", "missing")


@pytest.mark.unit
def test_bad_role_in_constructor():
    _raises(lambda: Experiment("e", {}, {}, 1.0, pd.DataFrame(), role="training"),
            "role", "'train', 'validation'")


# ------------------------------------------------------ bioreactor data set
@pytest.mark.unit
def test_bioreactor_config_loads(config, gen):
    experiments = [Experiment.from_dict(d, BIOREACTOR, i)
                   for i, d in enumerate(config["experiments"])]
    for i, exp in enumerate(experiments):
        exp.validate(STATES, INPUTS, experiment_field(i, exp.name))
        assert exp.measured_variables == ["X", "P", "S", "V"]
        assert exp.inputs == {"F": gen.FEED, "Sf": exp.initial["S"]}
        assert exp.horizon == gen.HORIZON
    train, val = split_by_role(experiments)
    assert {e.name: e.initial for e in train} == gen.TRAIN_BATCHES
    assert {e.name: e.initial for e in val} == gen.VALIDATION_BATCH
    assert all(e.noise_sd == gen.NOISE_SD for e in train) and val[0].noise_sd is None
    assert [len(e.measurements) for e in experiments] == [31, 31, 31, 41]


@pytest.mark.unit
def test_simulate_monod_conserves_invariants(gen):
    """Check the model equations through quantities they conserve."""
    init, F, Sf, Yxs, Ypx = {"X": 0.3, "P": 0.1, "S": 6.0, "V": 0.7}, 0.07, 9.0, 0.5, 0.2
    t = np.linspace(0.0, 40.0, 81)
    sim = gen.simulate_monod(init, F, Sf, t, Yxs=Yxs, Ypx=Ypx)
    X, P, S, V = (sim[c].to_numpy() for c in "XPSV")
    np.testing.assert_allclose(V, init["V"] + F * t, rtol=1e-9)
    # d(SV + XV/Yxs)/dt = F Sf and d(PV - Ypx XV)/dt = 0.
    mass0 = init["V"] * (init["S"] + init["X"] / Yxs)
    np.testing.assert_allclose(S * V + X * V / Yxs, mass0 + F * Sf * t, rtol=1e-8)
    prod0 = init["V"] * (init["P"] - Ypx * init["X"])
    np.testing.assert_allclose(P * V - Ypx * X * V, prod0, atol=1e-8)
    # Growth rate matches Monod at t = 0 (finite difference of X V).
    mu0 = 0.2 * init["S"] / (1.0 + init["S"])
    fine = gen.simulate_monod(init, F, Sf, [0.0, 1e-4])
    xv = fine["X"].to_numpy() * fine["V"].to_numpy()
    assert (xv[1] - xv[0]) / 1e-4 / xv[0] == pytest.approx(mu0, rel=1e-3)


@pytest.mark.unit
def test_validation_csv_matches_simulation(gen):
    data = read_measurements(BIOREACTOR / "data" / "val.csv", "val")
    np.testing.assert_allclose(data.index, np.linspace(0.0, 40.0, 41))
    init = gen.VALIDATION_BATCH["val"]
    assert init == {"X": 0.1, "P": 0.0, "S": 8.0, "V": 0.9}
    ref = gen.simulate_monod(init, 0.05, 8.0, data.index.to_numpy())
    np.testing.assert_allclose(data[STATES].to_numpy(), ref[STATES].to_numpy(), rtol=0, atol=1e-6)


@pytest.mark.unit
def test_training_noise_has_stated_sd(gen):
    sd = {"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1}
    residuals = {c: [] for c in STATES}
    for name, init in gen.TRAIN_BATCHES.items():
        data = read_measurements(BIOREACTOR / "data" / f"{name}.csv", name)
        np.testing.assert_allclose(data.index, np.linspace(0.0, 40.0, 31), atol=1e-6)
        ref = gen.simulate_monod(init, 0.05, init["S"], data.index.to_numpy())
        for c in STATES:
            residuals[c].extend(data[c].to_numpy() - ref[c].to_numpy())
    for c in STATES:
        r = np.asarray(residuals[c])
        assert len(r) == 93
        assert 0.6 * sd[c] <= r.std(ddof=1) <= 1.4 * sd[c], c
        assert abs(r.mean()) < 3 * sd[c] / math.sqrt(len(r)), c
    assert 0.3 <= np.std(residuals["S"], ddof=1) <= 0.7
    # Not clipped: noise on P(0) = 0 makes some measured values negative.
    negative = [(read_measurements(BIOREACTOR / "data" / f"{n}.csv", n)["P"] < 0).sum()
                for n in gen.TRAIN_BATCHES]
    assert sum(negative) > 0


@pytest.mark.unit
def test_generation_is_deterministic(gen, tmp_path):
    gen.generate(tmp_path)
    for name in ["b1", "b2", "b3", "val"]:
        assert (tmp_path / f"{name}.csv").read_bytes() == \
            (BIOREACTOR / "data" / f"{name}.csv").read_bytes(), name


@pytest.mark.unit
def test_noise_sd_given_by_some_training_experiments_warns(caplog):
    """noise_sd of X given by one of two training batches that measure X is not used (the
    level is estimated): a warning names both; a validation batch without it does not count."""
    from idaes_hybrid.model.experiment import warn_partial_noise_sd
    from idaes_hybrid.training.problem import noise_levels

    frame = pd.DataFrame({"X": np.linspace(0.1, 1.0, 12) + 0.01 * np.sin(np.arange(12)),
                          "S": 1.0}, index=pd.Index(np.arange(12.0), name="time"))
    a = Experiment("a", {}, {}, 11.0, frame, noise_sd={"X": 0.05})
    b = Experiment("b", {}, {}, 11.0, frame)
    val = Experiment("v", {}, {}, 11.0, frame, role="validation")
    with caplog.at_level("WARNING"):
        warn_partial_noise_sd([a, val])
    assert caplog.text == ""
    assert noise_levels([a])["X"] == {"sd": 0.05, "source": "given"}
    with caplog.at_level("WARNING"):
        warn_partial_noise_sd([a, b, val])
    assert ("experiments: noise_sd of 'X' is given by 'a' but not by 'b', which also measure it; "
            "its noise level is estimated from the data instead") in caplog.text
    assert "'S'" not in caplog.text
    assert noise_levels([a, b])["X"]["source"] != "given"


@pytest.mark.unit
def test_rows_in_any_order_and_replicate_samples_are_accepted(tmp_path):
    """A historian's export: rows not sorted by time and two samples at one time (as
    flowsheet configs accept them). The noise estimate is that of the sorted series."""
    from idaes_hybrid.training.problem import noise_levels

    rng = np.random.default_rng(3)
    t = np.round(np.sort(rng.uniform(0.0, 10.0, 25)), 3)
    x = 0.1 * np.exp(0.3 * t) + rng.normal(0.0, 0.05, t.size)
    rows = [f"{a},{b}" for a, b in zip(t, x)] + [f"{t[7]},{x[7] + 0.03}"]  # a replicate
    order = rng.permutation(len(rows))
    _write(tmp_path / "b2.csv", "time,X\n" + "\n".join(rows[i] for i in order) + "\n")
    shuffled = Experiment.from_dict(_entry(noise_sd=None), tmp_path, 1)
    _validate(shuffled)  # no error
    _write(tmp_path / "b2.csv", "time,X\n" + "\n".join(sorted(rows, key=lambda r: float(r.split(",")[0]))) + "\n")
    ordered = Experiment.from_dict(_entry(noise_sd=None), tmp_path, 1)
    assert noise_levels([shuffled])["X"]["sd"] == pytest.approx(noise_levels([ordered])["X"]["sd"], rel=1e-12)


@pytest.mark.unit
def test_a_step_after_the_horizon_is_warned_about(caplog):
    """A step profile ending ``[40, 0.5]`` in a 36 h batch (a review case) trained without a
    word: the step is never reached. Now a warning names it; steps inside stay silent."""
    from idaes_hybrid.model.inputs import parse_input

    with caplog.at_level("WARNING"):
        parse_input([[0.0, 0.03], [20.0, 0.05], [40.0, 0.5]], "experiments[1] ('b2').inputs.F").check(
            36.0, "experiments[1] ('b2').inputs.F")
    assert "experiments[1] ('b2').inputs.F: the step at t=40 is after the end of the experiment (36)" \
        in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        parse_input([[0.0, 0.03], [36.0, 0.05]], "F").check(36.0, "F")
    assert not caplog.records
