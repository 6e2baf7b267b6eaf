"""The decomposition on the flowsheet path: one inner IDAES-flowsheet problem per
experiment; the user's bioreactor flowsheet gives the same numbers as the hand-written
unit's one-unit flowsheet (``config.toml`` translated by ``unit_flowsheet``), on Dask
workers too."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from idaes_hybrid.config.run import ConfigError, load_run_config
from idaes_hybrid.decomposition.engine import Engine
from idaes_hybrid.decomposition.flowsheet_inner import FlowsheetInnerSpec
from idaes_hybrid.decomposition.inner import InnerProblem, SlackKind
from idaes_hybrid.decomposition.outer import decompose
from idaes_hybrid.decomposition.settings import DecompositionSettings
from idaes_hybrid.config.flowsheet import load_flowsheet_config
from idaes_hybrid.model.unit_flowsheet import unit_experiment, unit_flowsheet
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.problem import observation_scales
from idaes_hybrid.model.experiment import split_by_role
from small_networks import small_bioreactor_network

CASE = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor"
NFE, NCP = 6, 2


@functools.lru_cache(maxsize=1)
def _configs():
    return load_run_config(CASE / "config.toml"), load_flowsheet_config(CASE / "config_flowsheet.toml")


def _network() -> NetworkSpec:
    return small_bioreactor_network()


_split = split_by_role


def _unit_flowsheet(unit_cfg):
    """``config.toml``'s hand-written unit as its one-unit flowsheet, with its experiments."""
    hf = unit_flowsheet(unit_cfg.definition, unit_cfg.physics, unit_cfg.network_inputs,
                        unit_cfg.training.unit_config)
    return hf, [unit_experiment(e, unit_cfg.definition) for e in unit_cfg.experiments]


@pytest.mark.component
@pytest.mark.parametrize("rho,kind", [(None, SlackKind.L1), (100.0, SlackKind.QUADRATIC)])
def test_flowsheet_inner_problem_equals_the_units_and_its_gradient_the_finite_difference(rho, kind):
    """The bioreactor built by the user's function gives the inner value and envelope
    gradient of the hand-written unit's one-unit flowsheet (same equations), and the
    gradient is the central difference of the inner optimum."""
    unit_cfg, fs_cfg = _configs()
    unit_hf, unit_exps = _unit_flowsheet(unit_cfg)
    u_exp = next(e for e in unit_exps if e.role.value == "train")
    f_exp = next(e for e in fs_cfg.experiments if e.name == u_exp.name)
    scales = observation_scales(unit_cfg.training_experiments)
    theta = _network().flat_parameters()
    unit = InnerProblem(FlowsheetInnerSpec(unit_hf, u_exp, _network(), NFE, NCP, scales=scales,
                                           slack_penalty=rho, slack_kind=kind)).solve(theta)
    problem = InnerProblem(FlowsheetInnerSpec(fs_cfg.flowsheet, f_exp, _network(), NFE, NCP, scales=scales,
                                              slack_penalty=rho, slack_kind=kind))
    base = problem.solve(theta)
    assert base.ok and unit.ok
    assert base.value == pytest.approx(unit.value, rel=1e-8)
    np.testing.assert_allclose(base.gradient, unit.gradient, rtol=1e-6, atol=1e-8 * np.abs(unit.gradient).max())
    d = np.random.default_rng(0).normal(size=theta.size)
    h = 1e-5
    plus, minus = problem.solve(theta + h * d, base.warm), problem.solve(theta - h * d, base.warm)
    assert base.gradient @ d == pytest.approx((plus.value - minus.value) / (2 * h), rel=1e-5)


def _settings(**kw) -> DecompositionSettings:
    return DecompositionSettings(**{"optimizer": "lbfgs", "n_workers": 0, "slack_penalty": 100.0,
                                    "max_epochs": 8, **kw})


@pytest.mark.integration
def test_flowsheet_decomposition_follows_the_unit_paths_iterates():
    """L-BFGS over the same start: the user's flowsheet's epochs have the losses of the
    hand-written unit's one-unit flowsheet and end at its weights."""
    unit_cfg, fs_cfg = _configs()
    unit_hf, unit_exps = _unit_flowsheet(unit_cfg)
    u_train, u_val = _split(unit_exps)
    f_train, f_val = _split(fs_cfg.experiments)
    unit_make = functools.partial(FlowsheetInnerSpec, hf=unit_hf, nfe=NFE, ncp=NCP)
    unit = decompose(unit_make, u_train, u_val, _network(), 0.01, _settings())
    make = functools.partial(FlowsheetInnerSpec, hf=fs_cfg.flowsheet, nfe=NFE, ncp=NCP)
    flow = decompose(make, f_train, f_val, _network(), 0.01, _settings())
    assert flow.epochs == unit.epochs
    np.testing.assert_allclose([h["train_loss"] for h in flow.history],
                               [h["train_loss"] for h in unit.history], rtol=1e-6)
    assert flow.best_loss == pytest.approx(unit.best_loss, rel=1e-6)
    assert flow.history[-1]["train_loss"] < 0.5 * flow.history[0]["train_loss"]
    np.testing.assert_allclose(flow.spec.flat_parameters(), unit.spec.flat_parameters(), rtol=1e-4, atol=1e-6)


@pytest.mark.integration
def test_flowsheet_specs_travel_to_dask_workers():
    """The user's build function (loaded from a file) reaches two local Dask workers:
    the same losses as in this process."""
    _, fs_cfg = _configs()
    f_train, f_val = _split(fs_cfg.experiments)
    make = functools.partial(FlowsheetInnerSpec, hf=fs_cfg.flowsheet, nfe=NFE, ncp=NCP)
    local = decompose(make, f_train, f_val, _network(), 0.01, _settings(max_epochs=2))
    with Engine(2) as engine:
        remote = decompose(make, f_train, f_val, _network(), 0.01, _settings(max_epochs=2), engine=engine)
    np.testing.assert_allclose([h["train_loss"] for h in remote.history],
                               [h["train_loss"] for h in local.history], rtol=1e-8)


def _decomposition_config(tmp_path: Path, source: str, max_epochs: int, extra: str = "") -> Path:
    """The bioreactor ``source`` config with the decomposition (L-BFGS, in this process)."""
    text = (CASE / source).read_text()
    text = text.replace('build = "hybrid_flowsheet.py:build"', f'build = "{CASE}/hybrid_flowsheet.py:build"')
    text = text.replace('data = "data/', f'data = "{CASE}/data/').replace("nfe = 20", f"nfe = {NFE * 2}")
    assert "\n[training]\n" in text and "hessian =" not in text
    text = text.replace("\n[training]\n", '\n[training]\nmethod = "decomposition"\n')
    text += f'\n[decomposition]\noptimizer = "lbfgs"\nn_workers = 0\nmax_epochs = {max_epochs}\n{extra}'
    cfg = tmp_path / f"{Path(source).stem}_{max_epochs}.toml"
    cfg.write_text(text)
    return cfg


def _train(cfg: Path, out: Path) -> dict:
    from idaes_hybrid.cli.app import main

    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    return json.loads((out / "metrics.json").read_text())


def _validation_losses(metrics: dict) -> list[float]:
    return [h["validation_loss"] for h in metrics["decomposition"]["history"] if h["validation_loss"] is not None]


@pytest.mark.integration
def test_cli_trains_a_flowsheet_by_the_decomposition_like_the_unit_path(tmp_path):
    """`idaes-hybrid train` on a flowsheet config with method = "decomposition": the epochs
    in metrics.json, validation by simulation near the noise level, and the same
    validation RMSE as the same run of the hand-written unit (config.toml)."""
    metrics = _train(_decomposition_config(tmp_path, "config_flowsheet.toml", 25), tmp_path / "fs")
    assert 5 <= len(metrics["decomposition"]["history"]) <= 25
    losses = _validation_losses(metrics)
    assert min(losses) < losses[0]
    val = metrics["validation"]["rmse"]
    assert val["S"] < 0.3 and val["X"] < 0.1, val  # noise sd: S 0.5, X 0.05 (validation noise-free)
    unit = _train(_decomposition_config(tmp_path, "config.toml", 25), tmp_path / "unit")
    for name in ("S", "X", "P"):
        assert val[name] == pytest.approx(unit["validation"]["rmse"][name], rel=0.02), name


@pytest.mark.integration
def test_flowsheet_decomposition_resumes_from_its_checkpoint(tmp_path):
    """A run stopped after 4 epochs with a checkpoint: the next run with more epochs skips
    the smoother, keeps the first run's history and continues at epoch 5."""
    ckpt_dir = f'checkpoint_dir = "{tmp_path / "ckpt"}"'
    first = _train(_decomposition_config(tmp_path, "config_flowsheet.toml", 4, ckpt_dir), tmp_path / "a")
    assert (tmp_path / "ckpt" / "checkpoint.json").is_file()
    again = _train(_decomposition_config(tmp_path, "config_flowsheet.toml", 8, ckpt_dir), tmp_path / "b")
    assert again["stages"]["smoother"]["status"] == "skipped (resumed)"
    epochs = [h["epoch"] for h in again["decomposition"]["history"]]
    assert epochs[:4] == [1, 2, 3, 4] and epochs[4] == 5
    np.testing.assert_allclose([h["train_loss"] for h in again["decomposition"]["history"][:4]],
                               [h["train_loss"] for h in first["decomposition"]["history"]], rtol=1e-12)


@pytest.mark.unit
def test_decomposition_of_a_flowsheet_with_two_terms_is_refused_naming_the_field(tmp_path):
    case = CASE.parent / "tank_manifold"
    text = (case / "config_two_terms.toml").read_text()
    text = text.replace('build = "hybrid_flowsheet.py:build"', f'build = "{case}/hybrid_flowsheet.py:build"')
    text = text.replace('data = "data/', f'data = "{case}/data/')
    text = text.replace("[training]", '[training]\nmethod = "decomposition"', 1)
    cfg = tmp_path / "two.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match="training.method.*one learned term"):
        load_flowsheet_config(cfg)
