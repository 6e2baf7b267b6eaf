"""The block-diagonal network Hessian in training: AUTO's choice and the fallback guard."""

import json

import pytest

from idaes_hybrid.cli.flowsheet import train_result
from idaes_hybrid.config import load_run_config
from idaes_hybrid.config.unit_translation import as_flowsheet_config
from idaes_hybrid.training import flowsheet_train
from idaes_hybrid.training.train import (
    BLOCK_DIAGONAL_MIN_COUPLING, EXACT_HESSIAN_MAX_WEIGHTS, HessianMode, resolve_hessian)
from tests.test_cli import small_config


@pytest.mark.unit
def test_auto_chooses_block_diagonal_only_for_a_large_coupling():
    auto = HessianMode.AUTO
    assert resolve_hessian(auto, 541, 183 * 541 ** 2) is HessianMode.BLOCK_DIAGONAL  # 3 bioreactor batches
    assert resolve_hessian(auto, 541, 61 * 541 ** 2) is HessianMode.BLOCK_DIAGONAL  # 1 batch
    assert resolve_hessian(auto, 200, 183 * 200 ** 2) is HessianMode.EXACT  # 4-12-12-1, 3 batches
    assert resolve_hessian(auto, 33, 366 * 33 ** 2) is HessianMode.EXACT  # the CSTR cascade
    assert resolve_hessian(auto, 541) is HessianMode.EXACT  # no coupling given
    assert resolve_hessian(auto, 100, BLOCK_DIAGONAL_MIN_COUPLING) is HessianMode.BLOCK_DIAGONAL
    assert resolve_hessian(auto, 100, BLOCK_DIAGONAL_MIN_COUPLING * 0.99) is HessianMode.EXACT
    assert resolve_hessian(auto, EXACT_HESSIAN_MAX_WEIGHTS + 1, 1e12) is HessianMode.LIMITED_MEMORY
    for mode in (HessianMode.EXACT, HessianMode.BLOCK_DIAGONAL, HessianMode.LIMITED_MEMORY):
        assert resolve_hessian(mode, 10, 1e12) is mode and resolve_hessian(mode, 10 ** 5, 0) is mode


@pytest.mark.unit
def test_block_diagonal_is_a_config_value(tmp_path):
    config = load_run_config(small_config(tmp_path, hessian="block-diagonal"))
    assert config.training.hessian is HessianMode.BLOCK_DIAGONAL


def _train(tmp_path, hessian: str, name: str):
    config = load_run_config(small_config(tmp_path, name=f"{name}.toml", hessian=hessian,
                                          inputs=json.dumps(["X", "S"])))
    return train_result(as_flowsheet_config(config))


@pytest.mark.component
def test_block_diagonal_training_reaches_the_exact_hessians_optimum(tmp_path):
    exact, block = _train(tmp_path, "exact", "exact"), _train(tmp_path, "block-diagonal", "block")
    assert exact.status == block.status == "optimal"
    assert block.objective == pytest.approx(exact.objective, rel=1e-6)
    assert exact.stages["train"].hessian == "exact" and block.stages["train"].hessian == "block-diagonal"
    assert block.metrics()["stages"]["train"]["hessian"] == "block-diagonal"
    assert "hessian" not in block.metrics()["stages"]["smoother"]
    for name in ("X", "S"):
        assert block.validation_rmse[name] == pytest.approx(exact.validation_rmse[name], rel=1e-4)


@pytest.mark.component
def test_a_stalled_block_diagonal_solve_falls_back_to_the_exact_hessian(tmp_path, monkeypatch):
    """Capped at 2 iterations, the block-diagonal attempt stops; the exact attempt from the
    same start then gives the exact-Hessian training's result."""
    exact = _train(tmp_path, "exact", "exact")
    monkeypatch.setattr(flowsheet_train, "BLOCK_DIAGONAL_MAX_ITER", 2)
    later, check_noise = [], flowsheet_train._check_noise

    def recording(m, hf, train_exps, levels, options, settings, *rest):
        later.append(settings.hessian)
        return check_noise(m, hf, train_exps, levels, options, settings, *rest)

    monkeypatch.setattr(flowsheet_train, "_check_noise", recording)
    guarded = _train(tmp_path, "block-diagonal", "guarded")
    assert later == [HessianMode.EXACT]  # the noise check's solves use the Hessian that converged
    assert guarded.status == "optimal"
    assert guarded.objective == pytest.approx(exact.objective, rel=1e-10)
    assert guarded.iterations == exact.iterations
    assert guarded.stages["train"].hessian == "exact"


@pytest.mark.unit
def test_keep_freed_memory_sets_the_malloc_thresholds_once():
    import sys

    from idaes_hybrid.solve import memory

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's mallopt")
    assert memory.keep_freed_memory() is True
    assert memory.keep_freed_memory() is True  # idempotent
    assert memory.THRESHOLDS[-1] == 32 * 1024 * 1024  # glibc's documented maximum, the fallback


@pytest.mark.unit
def test_report_names_the_train_stages_hessian():
    from idaes_hybrid.output.report import training_report

    stages = {"smoother": {"status": "optimal", "wall_time_s": 0.5, "iterations": 13},
              "train": {"status": "optimal", "wall_time_s": 2.9, "iterations": 28, "hessian": "block-diagonal"}}
    metrics = {"status": "optimal", "iterations": 28, "wall_time_s": 4.0, "stages": stages,
               "train": {"rmse": {"X": 0.05}}, "validation": {"rmse": {"X": 0.03}}}
    text = training_report(metrics, [], "run")
    assert "| train (block-diagonal Hessian) | optimal | 2.90 | 28 |" in text
    assert "| smoother | optimal | 0.50 | 13 |" in text
