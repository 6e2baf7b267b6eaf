"""The data designs of ``benchmarks/noise_data.py`` and the requests of
``benchmarks/trust_region.py`` (issue 16's optimistic case): no training, no solver."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import noise_data, trust_region

pytestmark = pytest.mark.unit


def test_a_feed_concentration_other_than_s0_balances_the_substrate():
    """Without growth (mu = 0), V(t) = V0 + F t and S V = S0 V0 + Sf F t exactly."""
    initial = {"X": 1.0, "P": 0.0, "S": 1.0, "V": 1.0}
    t = np.array([0.0, 10.0, 40.0])
    frame = noise_data.simulate(initial, t, lambda X, S: 0.0, F=0.04, Sf=30.0)
    volume = 1.0 + 0.04 * t
    np.testing.assert_allclose(frame["V"], volume, rtol=1e-9)
    np.testing.assert_allclose(frame["S"] * frame["V"], 1.0 + 30.0 * 0.04 * t, rtol=1e-8)
    np.testing.assert_allclose(frame["X"] * frame["V"], 1.0, rtol=1e-8)  # diluted, not grown
    same = noise_data.simulate(initial, t, lambda X, S: 0.0, F=0.04)  # Sf = S(0) = 1
    np.testing.assert_allclose(same["S"], 1.0, rtol=1e-9)


def test_the_low_substrate_design_never_reaches_the_inhibiting_range(tmp_path):
    """Every batch's true S stays below the Haldane optimum sqrt(Ks Ki) = sqrt(5) g/L, while
    the batches' biomass reaches 5-10 g/L; the config carries each batch's feed."""
    design = noise_data.DESIGNS["low_substrate"]
    t = np.linspace(0.0, noise_data.HORIZON, 401)
    peaks = {}
    for name, initial in {**design.train, **design.validation}.items():
        frame = noise_data.simulate(initial, t, noise_data.haldane, *design.feed_of(name))
        peaks[name] = (frame["S"].max(), frame["X"].max())
    assert max(s for s, _ in peaks.values()) < math.sqrt(5.0)
    assert peaks["b1"][1] == pytest.approx(10.15, abs=0.01)
    paths = noise_data.write_data_set(tmp_path, "haldane", 1, design="low_substrate")
    text = paths["with"].read_text()
    assert "inputs = {F = 0.04, Sf = 30.0}" in text and "inputs = {F = 0.015, Sf = 25.0}" in text
    val = pd.read_csv(tmp_path / "data" / "val.csv")
    assert 0.99 * peaks["val"][0] < val["S"].max() <= peaks["val"][0]  # a coarser grid


def test_the_public_design_keeps_the_generator_batches():
    """The default design: the public case's batches, F = 0.05 L/h and Sf = S(0)."""
    design = noise_data.DESIGNS["public"]
    assert design.train == noise_data.TRAIN_BATCHES
    assert design.feed_of("b1") == (0.05, 10.0)
    assert "inputs = {F = 0.05, Sf = 7.5}" in noise_data.config_text(True)


def test_a_request_starts_from_its_design_culture():
    low = trust_region.request_tables(30.0, 2.0, 20.0, "low_substrate")
    assert "initial = {X = 1.0, P = 0.0, S = 1.0, V = 1.0}" in low
    assert "horizon = 20.0" in low and "V_max = 2.0" in low and "Sf = 30.0" in low
    assert "initial = {X = 0.1, P = 0.0, S = 5.0, V = 1.0}" in trust_region.request_tables(30.0, 2.5)


def test_a_failed_row_names_the_solver_status():
    head = "error: ensemble feed optimization (expected) failed: ensemble optimization of 'optimization'"
    assert trust_region.solver_status(head + ": infeasible (Algorithm converged ...)") == "infeasible"
    assert trust_region.solver_status(head + ", expected-objective stage: max_iterations (Maximum "
                                      "number ...)") == "max_iterations"
    assert trust_region.solver_status("error: optimization.V_max: 0.5 is below ...") == ""
