"""Warm re-solves (``idaes_hybrid.training.warm_resolve``): a failed block-diagonal re-solve
is repeated with exact steps; the evidence's re-solves with block-diagonal steps reach the
exact ones' solution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from idaes_hybrid.solve.solver import SolveResult, SolveStatus
from idaes_hybrid.training.train import HessianMode
from idaes_hybrid.training.warm_resolve import warm_resolve


@pytest.mark.unit
def test_a_failed_block_diagonal_resolve_is_repeated_exact_from_the_same_start():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=1.0)
    calls = []

    def solve(options):
        calls.append((options["hessian_approximation"], m.x.value))
        m.x.set_value(m.x.value + 5.0)  # every solve moves the point
        ok = options["hessian_approximation"] == "exact"
        return SolveResult(SolveStatus.OPTIMAL if ok else SolveStatus.MAX_ITERATIONS, "", 7, 0.1,
                           None, "test", "", solution_loaded=True)

    res = warm_resolve(m, solve, {"hessian_approximation": HessianMode.BLOCK_DIAGONAL.value})
    assert calls == [("block-diagonal", 1.0), ("exact", 1.0)]  # the second from the first's start
    assert res.ok and res.iterations == 14 and m.x.value == 6.0
    calls.clear()
    assert warm_resolve(m, solve, {"hessian_approximation": "exact"}).ok and len(calls) == 1


@pytest.mark.component
def test_the_evidence_reaches_the_exact_hessians_solution(monkeypatch):
    """Two bioreactor batches, a 4-20-20-1 network (coupling 1.2e7), no ``regularization``:
    ``hessian = auto`` (block-diagonal at this coupling) trains and re-solves with
    block-diagonal steps, ``"exact"`` with exact ones; the prior precision, the weights and
    the validation RMSE agree."""
    import idaes_hybrid.training.flowsheet_train as ft
    from idaes_hybrid.cases.registry import FED_BATCH_BIOREACTOR
    from idaes_hybrid.nn.network import NetworkSpec
    from idaes_hybrid.training.experiment import Experiment, Role, read_measurements
    from idaes_hybrid.training.problem import Discretization
    from idaes_hybrid.training.train import TrainingSettings
    from idaes_hybrid.training.unit_train import train

    data = Path(__file__).resolve().parents[1] / "flowsheets" / "bioreactor" / "data"

    def exp(name, initial, role=Role.TRAIN):
        return Experiment(name=name, initial=initial, inputs={"F": 0.05, "Sf": initial["S"]},
                          horizon=40.0, measurements=read_measurements(data / f"{name}.csv", name),
                          role=role, noise_sd={"X": 0.05, "P": 0.05, "S": 0.5, "V": 0.1})

    exps = [exp("b1", {"X": 0.05, "P": 0.0, "S": 10.0, "V": 1.0}),
            exp("b2", {"X": 0.025, "P": 0.0, "S": 5.0, "V": 0.8}),
            exp("val", {"X": 0.1, "P": 0.0, "S": 8.0, "V": 0.9}, Role.VALIDATION)]
    used, real = [], ft.warm_resolve

    def recording(m, solve, options):
        used.append(options["hessian_approximation"])
        return real(m, solve, options)

    monkeypatch.setattr(ft, "warm_resolve", recording)
    runs = {}
    for mode in (HessianMode.AUTO, HessianMode.EXACT):
        used.clear()
        runs[mode] = train(FED_BATCH_BIOREACTOR, exps, NetworkSpec.dense(4, [20, 20], 1, "softplus", seed=0),
                           Discretization(nfe=10, ncp=2), network_inputs=["X", "S", "P", "V"],
                           settings=TrainingSettings(hessian=mode, pretrain_epochs=100))
        assert runs[mode].regularization["source"] == "evidence" and used
        assert set(used) == {"block-diagonal" if mode is HessianMode.AUTO else "exact"}
    auto, exact = runs[HessianMode.AUTO], runs[HessianMode.EXACT]
    assert auto.regularization["alpha"] == pytest.approx(exact.regularization["alpha"], rel=1e-4)
    np.testing.assert_allclose(auto.spec.flat_parameters(), exact.spec.flat_parameters(), rtol=1e-3, atol=1e-4)
    for name, value in exact.metrics()["validation"]["rmse"].items():
        assert auto.metrics()["validation"]["rmse"][name] == pytest.approx(value, rel=1e-3, abs=1e-9), name


@pytest.mark.unit
def test_a_warm_exact_train_solve_gets_limited_iterations_before_the_limited_memory_hessian():
    from idaes_hybrid.training import flowsheet_train
    from idaes_hybrid.training.train import WARM_EXACT_MAX_ITER, HessianMode, TrainingSettings

    settings = TrainingSettings(hessian=HessianMode.EXACT)
    cold = flowsheet_train._train_attempts({"max_iter": 1000}, settings)
    warm = flowsheet_train._train_attempts({"max_iter": 1000}, settings, warm=True)
    assert [a["hessian_approximation"] for a in warm] == ["exact", "limited-memory"]
    assert warm[0]["max_iter"] == WARM_EXACT_MAX_ITER and warm[1]["max_iter"] == 1000
    assert cold[0]["max_iter"] == 1000
    assert flowsheet_train._train_attempts({"max_iter": 50}, settings, warm=True)[0]["max_iter"] == 50
