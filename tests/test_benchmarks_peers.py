"""The peers benchmark's exact-Hessian config, median run and table (no pipelines run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import peers
from idaes_hybrid.config.run import load_run_config

pytestmark = pytest.mark.unit


def test_exact_config_is_the_peers_config_with_exact_steps(tmp_path):
    path = peers.exact_config(tmp_path)
    exact, base = load_run_config(path), load_run_config(peers.CONFIG)
    assert exact.training.hessian.value == "exact" and base.training.hessian.value == "auto"
    assert [e.name for e in exact.experiments] == [e.name for e in base.experiments]
    for e, b in zip(exact.experiments, base.experiments):
        assert e.measurements.equals(b.measurements) and e.initial == b.initial
    assert exact.training.regularization == base.training.regularization


def test_exact_config_refuses_a_config_it_cannot_rewrite(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('model = "fed_batch_bioreactor"\n[training]\nhessian = "auto"\n')
    with pytest.raises(ValueError, match="other.toml: expected a .training. table without hessian"):
        peers.exact_config(tmp_path, other)


def test_median_run_keeps_the_median_whole_process_and_every_time():
    runs = [{"process": {"wall_time_s": t}, "tag": t} for t in (12.0, 9.0, 30.0)]
    runs.append({"process": {"wall_time_s": 1.0}, "error": "failed"})
    chosen = peers.median_run(runs)
    assert chosen["tag"] == 12.0
    assert chosen["process_wall_runs_s"] == [12.0, 9.0, 30.0, 1.0]
    assert peers.median_run([{"process": {"wall_time_s": 2.0}, "error": "x"}])["error"] == "x"


def test_table_gives_both_of_our_options_against_sindae_whole_process():
    def ours(wall, process):
        return {"wall_time_s": wall, "status": "optimal", "iterations": 24, "stages": {},
                "validation_rmse": {"X": 0.026, "P": 0.0052, "S": 0.052, "V": 0.0},
                "process": {"wall_time_s": process, "peak_rss_mb": 400},
                "process_wall_runs_s": [process, process + 1]}
    res = {"date": "today", "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 1, "os": "os",
                                         "python": "3"},
           "ours": ours(6.0, 10.0), "ours_exact": ours(12.0, 20.0),
           "sindae": {"pipeline_s": 40.0, "stages": {}, "validation_rmse": {"X": 0.125, "S": 0.25},
                      "process": {"wall_time_s": 55.0}}}
    text = peers.render(res)
    assert "| idaes-hybrid, exact Hessian (`hessian = \"exact\"`) | 12.0 | 24 |" in text
    assert "- whole process, SiNDAE / ours: 5.50x faster" in text
    assert "- whole process, SiNDAE / ours with the exact Hessian: 2.75x faster" in text
    assert "ours_exact 20.0, 21.0 s" in text


def test_compile_package_writes_the_bytecode_of_the_timed_package(tmp_path, monkeypatch):
    """The package's modules get their ``.pyc`` files (written to a copy here)."""
    import shutil
    import sys

    import idaes_hybrid

    src = Path(idaes_hybrid.__file__).parent
    copy = tmp_path / "idaes_hybrid"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
    fake = type(sys)("idaes_hybrid")
    fake.__file__ = str(copy / "__init__.py")
    monkeypatch.setitem(sys.modules, "idaes_hybrid", fake)
    assert peers.compile_package()
    assert (copy / "cli" / "__pycache__").is_dir()
    assert any(p.suffix == ".pyc" for p in (copy / "solve" / "__pycache__").iterdir())
