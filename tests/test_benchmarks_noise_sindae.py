"""The noise benchmark's SiNDAE side by side (no solver, no SiNDAE run): the summary of
a SiNDAE result, the comparison, the table columns and the verdict on a made-up document."""

from __future__ import annotations

import pytest

from benchmarks import noise

pytestmark = pytest.mark.unit


def _run(rmse, status="optimal", wall=40.0):
    return {"status": status, "process": {"wall_time_s": wall}, "validation_rmse": rmse,
            "noise_sd": {v: {"sd": sd, "source": "estimated"} for v, sd in noise.noise_data.NOISE_SD.items()}}


def _set(kinetics, seed, ours, sindae):
    s = {"kinetics": kinetics, "seed": seed, "with": _run(ours), "without": _run(ours)}
    s.update(noise.compare(s["with"], s["without"]))
    if sindae is not None:
        s["sindae"] = sindae
        s["below_sindae"] = noise.below_sindae(s["without"], sindae)
    return s


def _doc(sets, sindae=True):
    return {"date": "2026-01-01 00:00 UTC", "revision": "abc", "total_s": 600.0, "sets": sets, "estimator": [],
            "machine": {"cpu": "CPU", "cores": 2, "memory_gib": 8.0, "os": "Linux", "python": "3.11"},
            "sindae": {"version": "1.0.2", "hessian": "exact", "reg_coef": 0.01} if sindae else None}


OURS = {"X": 0.05, "P": 0.01, "S": 0.1, "V": 1e-9}
THEIRS = {"X": 0.125, "P": 0.025, "S": 0.25, "V": 1e-15}


@pytest.fixture
def doc():
    good = noise.sindae_summary({"validation_rmse": THEIRS, "setup": {}, "hessian": "exact",
                                 "stages": {"train": {"termination": "optimal"}}}, 230.0)
    failed = noise.sindae_summary({"error": "SiNDAE driver timed out after 900 s", "setup": {}}, 900.0)
    return _doc([_set("monod", 1, OURS, good), _set("haldane", 1, OURS, failed)])


def test_summary_classifies_failures():
    assert noise.sindae_summary({"error": "python3 -m venv x failed (1): no ensurepip"}, 1.0)["status"] \
        == "install error"
    assert noise.sindae_summary({"error": "SiNDAE driver exited 1 without a result: boom", "setup": {}},
                                5.0)["status"] == "no result"
    assert noise.sindae_summary({"error": "ValueError: bad", "setup": {}}, 5.0)["status"] == "error"
    res = noise.sindae_summary({"validation_rmse": {}, "setup": {},
                                "stages": {"validate": {"ivp_message": "step size too small"}}}, 5.0)
    assert res["status"] == "no result" and "step size too small" in res["error"]


def test_below_sindae():
    good = {"validation_rmse": THEIRS}
    assert noise.below_sindae(_run(OURS), good) is True
    assert noise.below_sindae(_run({**OURS, "S": 0.3}), good) is False
    assert noise.below_sindae(_run({}), good) is False
    assert noise.below_sindae(_run(OURS), {"validation_rmse": {}}) is None


def test_table_and_verdict(doc):
    text = noise.render(doc)
    assert "SiNDAE X | SiNDAE P | SiNDAE S | below SiNDAE | SiNDAE status | SiNDAE wall s |" in text
    rows = [line for line in text.splitlines() if line.startswith("| monod | 1 |") and "optimal" in line]
    assert rows[0].endswith("| 0.1250 | 0.0250 | 0.2500 | yes | optimal | 230 |")
    failed = [line for line in text.splitlines() if line.startswith("| haldane | 1 |") and "timeout" in line]
    assert failed[0].endswith("| – | – | – | not compared | **timeout** | 900 |")
    line = noise.sindae_verdict(doc)
    assert "Below SiNDAE's validation RMSE on every set (without `noise_sd`): **1 of 2 sets**" in line
    assert "1 of 2 not compared" in line and "haldane seed 1" in line
    assert "largest ratio ours / SiNDAE 0.40" in line
    assert line in noise.verdict(doc)
    assert "not measured" not in text and "not run" not in text


def test_without_sindae_keeps_the_old_report():
    text = noise.render(_doc([_set("monod", 1, OURS, None)], sindae=False))
    assert "SiNDAE X" not in text
    assert "Below SiNDAE's validation RMSE on every set: **not measured**" in text
    assert "SiNDAE side by side: not run (`--no-sindae`)." in text


def test_extended_prediction_verdict_counts_sets_that_stay_nonnegative():
    sets = [{"extended": {"factor": 1.5, "min": {"X": 0.02, "P": 0.0, "S": 0.004}, "ok": True}},
            {"extended": {"factor": 1.5, "min": {"X": 0.02, "P": 0.0, "S": -0.12}, "ok": False}},
            {"extended": {"factor": 1.5, "error": "no prediction"}}]
    line = noise.extended_verdict(sets)
    assert "**1 of 3 sets**" in line and "smallest S -0.12 g/L" in line
