"""Decomposition training: exact outer derivatives, checkpoints, Dask workers, faults.

One-unit models decompose on their one-unit flowsheet (``unit_flowsheet``) through
``FlowsheetInnerSpec``."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pytest

from idaes_hybrid.config.run import ConfigError, parse_decomposition
from idaes_hybrid.decomposition import checkpoint as ckpt
from idaes_hybrid.decomposition.engine import Engine, Job
from idaes_hybrid.decomposition.flowsheet_inner import FlowsheetInnerSpec
from idaes_hybrid.decomposition.inner import InnerProblem, SlackKind, WarmPoint
from idaes_hybrid.decomposition.outer import decompose
from idaes_hybrid.decomposition.settings import DecompositionSettings, Optimizer, Schedule
from idaes_hybrid.model.unit_flowsheet import unit_experiment, unit_flowsheet
from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.training.problem import Discretization
from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR
from small_networks import small_bioreactor_network

DISC = Discretization(nfe=6, ncp=2)
PHYSICS = {"Yxs": 0.5, "Ypx": 0.2}
INPUTS = ("X", "S", "P", "V")
#: The bioreactor as its one-unit flowsheet (the one engine of one-unit models).
HF = unit_flowsheet(FED_BATCH_BIOREACTOR, PHYSICS, INPUTS)


@functools.lru_cache(maxsize=1)
def _unit_experiments():
    from flowsheets.bioreactor.many_batches import experiments

    exps = experiments(3, n_validation=1)
    return [e for e in exps if e.role.value == "train"], [e for e in exps if e.role.value == "validation"]


@functools.lru_cache(maxsize=1)
def _experiments():
    """The training and validation batches as experiments of the one-unit flowsheet."""
    train, val = _unit_experiments()
    return ([unit_experiment(e, FED_BATCH_BIOREACTOR) for e in train],
            [unit_experiment(e, FED_BATCH_BIOREACTOR) for e in val])


def _network(seed: int = 3) -> NetworkSpec:
    return small_bioreactor_network(seed)


def _make_spec(hf=HF, disc=DISC):
    """Spec factory of the decomposition on the flowsheet ``hf``."""
    return functools.partial(FlowsheetInnerSpec, hf=hf, nfe=disc.nfe, ncp=disc.ncp)


def _inner(exp, slack_penalty=None, kind=SlackKind.L1) -> InnerProblem:
    return InnerProblem(FlowsheetInnerSpec(HF, exp, _network(), DISC.nfe, DISC.ncp,
                                           slack_penalty=slack_penalty, slack_kind=kind))


# ---------------------------------------------------------------- settings, config, checkpoints


@pytest.mark.unit
def test_settings_reject_bad_values_naming_the_field():
    with pytest.raises(ValueError, match="decomposition.optimizer"):
        DecompositionSettings(optimizer="sgd")
    with pytest.raises(ValueError, match="decomposition.batch_size"):
        DecompositionSettings(optimizer="lbfgs", batch_size=4)
    with pytest.raises(ValueError, match="decomposition.slack_growth"):
        DecompositionSettings(slack_growth=1.0)
    with pytest.raises(ValueError, match="decomposition.max_epochs"):
        DecompositionSettings(max_epochs=0)


@pytest.mark.unit
def test_penalty_continuation_and_learning_rate_schedules():
    s = DecompositionSettings(slack_penalty=1000.0, slack_penalty_start=10.0, slack_growth=10.0)
    assert s.penalty_stages() == pytest.approx([10.0, 100.0, 1000.0])
    assert DecompositionSettings(slack_penalty=None).penalty_stages() == [None]
    assert DecompositionSettings(optimizer="adam", slack_penalty=50.0).penalty_stages() == [50.0]
    s = DecompositionSettings(optimizer="adam", learning_rate=0.1, schedule=Schedule.EXPONENTIAL, decay=0.5)
    assert s.learning_rate_at(3) == pytest.approx(0.1 * 0.5**3)
    s = DecompositionSettings(optimizer="adam", learning_rate=0.1, schedule="cosine", decay=0.1, max_epochs=11)
    assert s.learning_rate_at(0) == pytest.approx(0.1) and s.learning_rate_at(10) == pytest.approx(0.01)


@pytest.mark.unit
def test_config_table(tmp_path):
    s = parse_decomposition({"optimizer": "adam", "batch_size": 8, "slack_penalty": 0,
                             "checkpoint_dir": "ckpt", "n_workers": 1, "inner_options": {"tol": 1e-8}},
                            tmp_path)
    assert s.optimizer is Optimizer.ADAM and s.batch_size == 8 and s.slack_penalty is None
    assert s.checkpoint_dir == str(tmp_path / "ckpt") and s.inner_options["tol"] == 1e-8
    with pytest.raises(ConfigError, match="decomposition.learning_rat"):
        parse_decomposition({"learning_rat": 0.1}, tmp_path)
    with pytest.raises(ConfigError, match="decomposition.optimizer"):
        parse_decomposition({"optimizer": "newtonian"}, tmp_path)
    with pytest.raises(ConfigError, match="decomposition.n_workers"):
        parse_decomposition({"n_workers": "two"}, tmp_path)


@pytest.mark.unit
def test_checkpoint_round_trip_and_foreign_checkpoint(tmp_path):
    net = _network()
    fp = ckpt.fingerprint(net, ["a", "b"], "adam")
    theta = net.flat_parameters()
    warm = WarmPoint(np.arange(3.0), np.ones(2), np.zeros(3), np.zeros(3))
    state = ckpt.OuterState(epoch=4, theta=theta, best_theta=2 * theta, best_loss=0.5, bad_epochs=1,
                            network=net, fingerprint=fp, adam_m=theta * 0, adam_v=theta * 0 + 1, adam_t=8,
                            history=[{"epoch": 4}], warm={"a/1": warm}, stage=2)
    ckpt.save(tmp_path, state)
    back = ckpt.load(tmp_path, fp)
    assert back.epoch == 4 and back.stage == 2 and back.adam_t == 8
    np.testing.assert_array_equal(back.best_theta, 2 * theta)
    np.testing.assert_array_equal(back.warm["a/1"].x, warm.x)
    assert ckpt.load(tmp_path / "none", fp) is None
    with pytest.raises(ckpt.CheckpointError, match="decomposition.checkpoint_dir.*experiments"):
        ckpt.load(tmp_path, ckpt.fingerprint(net, ["a", "c"], "adam"))


# ---------------------------------------------------------------- exact outer derivatives


@pytest.mark.component
@pytest.mark.parametrize("rho,kind", [(None, SlackKind.L1), (10.0, SlackKind.L1), (100.0, SlackKind.QUADRATIC)])
def test_gradient_and_hessian_match_finite_differences(rho, kind):
    """The envelope gradient and the KKT reduced Hessian of V_e agree with central
    differences of the inner optimal value (and gradient) to 1e-5 relative."""
    exp = _experiments()[0][0]
    problem = _inner(exp, rho, kind)
    theta = _network().flat_parameters()
    base = problem.solve(theta, hessian=True)
    assert base.ok
    d = np.random.default_rng(0).normal(size=theta.size)
    h = 1e-5
    plus, minus = problem.solve(theta + h * d, base.warm), problem.solve(theta - h * d, base.warm)
    fd = (plus.value - minus.value) / (2 * h)
    assert base.gradient @ d == pytest.approx(fd, rel=1e-5)
    fd_hess = (plus.gradient - minus.gradient) / (2 * h)
    np.testing.assert_allclose(base.hessian @ d, fd_hess, rtol=1e-5, atol=1e-5 * np.abs(fd_hess).max())


@pytest.mark.component
def test_outer_loss_gradient_matches_finite_differences_over_experiments():
    """The outer loss (weighted inner values + L2) and its gradient, as the outer loop sees them."""
    from idaes_hybrid.decomposition.outer import _Outer

    train, val = _experiments()
    s = DecompositionSettings(n_workers=0, slack_penalty=None)
    with Engine(0) as engine:
        outer = _Outer(_make_spec(), train, val, _network(), 0.01, s, None, None, engine, None)
        theta = _network().flat_parameters()
        loss, grad, _ = outer.loss_and_gradient(theta, [e.name for e in train])
        d = np.random.default_rng(1).normal(size=theta.size)
        h = 1e-5
        lp = outer.loss_and_gradient(theta + h * d, [e.name for e in train])[0]
        lm = outer.loss_and_gradient(theta - h * d, [e.name for e in train])[0]
    assert grad @ d == pytest.approx((lp - lm) / (2 * h), rel=1e-5)


@pytest.mark.component
def test_exact_inner_problem_is_the_collocation_simulation():
    """Without slacks the inner solution reproduces a scipy integration of the
    bioreactor with the same network (to discretization accuracy)."""
    from scipy.integrate import solve_ivp

    exp = _unit_experiments()[0][0]
    problem = InnerProblem(FlowsheetInnerSpec(HF, unit_experiment(exp, FED_BATCH_BIOREACTOR), _network(),
                                              nfe=40, ncp=3))
    net = _network()
    res = problem.solve(net.flat_parameters(), want_rmse=True)
    F, Sf = exp.inputs["F"], exp.inputs["Sf"]

    def rhs(_t, y):
        X, P, S, V = y
        mu = float(net.predict(np.array([[X, S, P, V]]))[0, 0])
        return [mu * X - F * X / V, 0.2 * mu * X - F * P / V, F * (Sf - S) / V - mu * X / 0.5, F]

    y0 = [exp.initial[k] for k in ("X", "P", "S", "V")]
    sol = solve_ivp(rhs, (0, exp.horizon), y0, rtol=1e-10, atol=1e-12, t_eval=[exp.horizon])
    unit = problem.model.experiment[exp.name].fs.unit
    t_end = unit.flowsheet().time.last()
    problem.bn.load(res.warm.x[: problem.bn.problem.n])
    for k, name in enumerate(("X", "P", "S", "V")):
        assert getattr(unit, name)[t_end].value == pytest.approx(sol.y[k, -1], rel=1e-4, abs=1e-6)


@pytest.mark.component
def test_square_simulation_infeasible_within_bounds_is_solved_again_without_them(monkeypatch):
    """A validation or Laplace simulation (no slacks) that ends infeasible within the
    variables' bounds (a substrate used up within one element undershoots 0) is solved
    once more with the bounds lifted, to the same trajectory; a slacked training problem is not."""
    import dataclasses

    from idaes_hybrid.solve.solver import SolveStatus

    exp = _experiments()[1][0]
    theta = _network().flat_parameters()
    plain = _inner(exp).simulate(theta, gradient=False, want_rmse=True)
    real, seen = InnerProblem.solve, []

    def infeasible_within_bounds(self, *args, **kwargs):
        res = real(self, *args, **kwargs)
        seen.append(bool(np.all(self.bn.lb <= -1e19)))
        return res if seen[-1] else dataclasses.replace(res, status=SolveStatus.INFEASIBLE, warm=None)

    monkeypatch.setattr(InnerProblem, "solve", infeasible_within_bounds)
    retried = _inner(exp).simulate(theta, gradient=False, want_rmse=True)
    assert seen == [False, True] and retried.ok
    assert retried.rmse == pytest.approx(plain.rmse, rel=1e-6)
    seen.clear()
    slacked = _inner(exp, slack_penalty=10.0).simulate(theta, gradient=False)
    assert seen == [False] and slacked.status is SolveStatus.INFEASIBLE


# ---------------------------------------------------------------- outer loop, checkpoints, workers


def _run(settings, **kw):
    train, val = _experiments()
    return decompose(_make_spec(), train, val, _network(), 0.01, settings, **kw)


@pytest.mark.component
def test_lbfgs_continuation_lowers_the_loss():
    s = DecompositionSettings(n_workers=0, max_epochs=12, stage_epochs=4, slack_penalty=100.0)
    res = _run(s)
    losses = [h["train_loss"] for h in res.history]
    assert res.epochs == len(res.history) == 12
    assert [h["slack_penalty"] for h in res.history][:5] == [10.0] * 4 + [100.0]
    assert losses[3] < losses[0] and losses[-1] < losses[4]


@pytest.mark.component
def test_stopped_run_resumes_from_its_checkpoint(tmp_path):
    """Adam for 3 epochs, stopped, then resumed to 6 equals 6 epochs in one go."""
    common = dict(n_workers=0, optimizer="adam", batch_size=1, learning_rate=1e-2, slack_penalty=100.0,
                  patience=50)
    whole = _run(DecompositionSettings(max_epochs=6, **common))
    first = _run(DecompositionSettings(max_epochs=3, checkpoint_dir=str(tmp_path), **common))
    assert first.epochs == 3 and (tmp_path / "checkpoint.json").exists()
    resumed = _run(DecompositionSettings(max_epochs=6, checkpoint_dir=str(tmp_path), **common))
    assert resumed.resumed_from == 3 and resumed.epochs == 6
    np.testing.assert_allclose(resumed.spec.flat_parameters(), whole.spec.flat_parameters(), rtol=1e-6,
                               atol=1e-9)
    assert [h["train_loss"] for h in resumed.history] == pytest.approx(
        [h["train_loss"] for h in whole.history], rel=1e-6)


@pytest.mark.component
def test_dask_workers_match_in_process_and_survive_a_killed_worker(tmp_path, monkeypatch):
    """Two local Dask workers give the in-process result; a worker process that
    dies in the middle of a run (os._exit inside an inner solve) costs a retry,
    not the run."""
    import _faulty_task

    s = DecompositionSettings(max_epochs=5, stage_epochs=3, slack_penalty=100.0)
    serial = _run(replace(s, n_workers=0))
    flag = tmp_path / "crash.flag"
    flag.write_text("crash once")
    monkeypatch.setenv("IDAES_HYBRID_TEST_CRASH_FLAG", str(flag))
    with Engine(n_workers=2, task=_faulty_task.crash_once) as engine:
        assert engine.distributed
        faulty = _run(replace(s, n_workers=2), engine=engine)
    assert not flag.exists(), "no worker was killed"
    assert faulty.epochs == serial.epochs
    np.testing.assert_allclose(faulty.spec.flat_parameters(), serial.spec.flat_parameters(), rtol=1e-6,
                               atol=1e-9)


@pytest.mark.component
def test_unreachable_scheduler_is_a_clear_error():
    from idaes_hybrid.decomposition.engine import EngineError

    with pytest.raises(EngineError, match="decomposition.scheduler_address"):
        Engine(address="tcp://127.0.0.1:1", connect_timeout=2)


@pytest.mark.unit
def test_scheduler_is_checked_before_any_work_and_is_bad_input(tmp_path):
    """A named scheduler that does not answer stops the training before it builds anything,
    with the field named and the CLI's bad-input exit; one that listens passes."""
    import socket

    from idaes_hybrid.cli.app import _bad_input_errors
    from idaes_hybrid.decomposition.engine import scheduler_unreachable
    from idaes_hybrid.training.train import TrainingRequestError, check_scheduler, decomposition_resumes

    assert "refused" in scheduler_unreachable("tcp://127.0.0.1:1", timeout=2).lower()
    assert scheduler_unreachable("tcp://127.0.0.1:port", timeout=2) is not None  # not a number
    assert scheduler_unreachable("inproc://x") is None  # left to Dask
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # never accepted: the backlog holds the three checks
        port = server.getsockname()[1]
        assert scheduler_unreachable(f"tcp://127.0.0.1:{port}", timeout=2) is None
        assert scheduler_unreachable(f"127.0.0.1:{port}", timeout=2) is None
        check_scheduler(DecompositionSettings(scheduler_address=f"tcp://127.0.0.1:{port}"))
    with pytest.raises(TrainingRequestError, match=r"decomposition.scheduler_address: cannot reach .*127.0.0.1:1"):
        check_scheduler(DecompositionSettings(scheduler_address="tcp://127.0.0.1:1"))
    check_scheduler(DecompositionSettings())  # no address: a local cluster, nothing to check
    assert TrainingRequestError in _bad_input_errors()
    # a checkpoint of another run is bad input too
    net = _network()
    theta = net.flat_parameters()
    ckpt.save(tmp_path, ckpt.OuterState(epoch=1, theta=theta, best_theta=theta, best_loss=1.0, bad_epochs=0,
                                        network=net, fingerprint=ckpt.fingerprint(net, ["other"], "adam")))
    settings = DecompositionSettings(checkpoint_dir=str(tmp_path), resume=True)
    with pytest.raises(TrainingRequestError, match="decomposition.checkpoint_dir"):
        decomposition_resumes(settings, net, _experiments()[0])


@pytest.mark.component
def test_tank_manifold_index2_decomposes():
    """The index-2 tank manifold (free initial x1, algebraic flows, two learned
    outputs): its inner problems solve, and L-BFGS over them lowers the loss."""
    from pathlib import Path

    from idaes_hybrid.config.run import load_run_config

    cfg = load_run_config(Path(__file__).resolve().parents[1] / "flowsheets" / "tank_manifold" / "config.toml")
    base = cfg.network_spec()
    spec = NetworkSpec.dense(base.n_inputs, [6], base.n_outputs, "tanh", seed=0)
    spec.input_mean[:], spec.input_std[:] = 2.0, 2.0
    spec.output_std[:] = 0.05
    train_exps = [unit_experiment(e, cfg.definition) for e in cfg.experiments if e.role.value == "train"]
    s = DecompositionSettings(n_workers=0, max_epochs=4, stage_epochs=2, slack_penalty=100.0)
    hf = unit_flowsheet(cfg.definition, cfg.physics, cfg.network_inputs, cfg.training.unit_config)
    res = decompose(_make_spec(hf, Discretization(nfe=8, ncp=2)), train_exps, [], spec, 0.01, s)
    losses = [h["train_loss"] for h in res.history]
    assert len(losses) == 4 and losses[1] < losses[0] and losses[3] < losses[2]
