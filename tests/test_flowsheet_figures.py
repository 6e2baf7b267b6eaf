"""The flowsheet run's figures: every output of a learned term; one colour per experiment."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from idaes_hybrid.nn.network import NetworkSpec
from idaes_hybrid.output import flowsheet as figures

pytestmark = pytest.mark.unit


def _captured(monkeypatch) -> list:
    saved = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: saved.append(fig))
    return saved


def test_a_term_with_two_outputs_draws_both_against_the_network(tmp_path, monkeypatch):
    """One network giving two reactions' rates (k1, k2 of T): two panels, each output's curve
    equal to the network's prediction of that output."""
    saved = _captured(monkeypatch)
    spec = NetworkSpec.dense(1, [4], 2, activation="softplus", seed=3)
    v = np.linspace(300.0, 340.0, 9)[:, None]
    result = SimpleNamespace(specs={"rates": spec}, term_profiles={"rates": {"inputs": v, "outputs": spec.predict(v)}},
                             term_labels={"rates": {"inputs": ["T"], "outputs": ["k_rxn[R1]", "k_rxn[R2]"]}})
    figures.plot_learned_terms(result, tmp_path / "term.png")
    axes = [ax for ax in saved[0].axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in axes] == ["k_rxn[R1]", "k_rxn[R2]"]
    for k, ax in enumerate(axes):
        x, y = ax.lines[1].get_data()  # the trained network's curve
        np.testing.assert_allclose(y, np.asarray(spec.predict(np.asarray(x)[:, None]))[:, k], rtol=1e-12)


def test_validation_figure_gives_each_experiment_one_colour(tmp_path, monkeypatch):
    saved = _captured(monkeypatch)
    t = np.linspace(0.0, 10.0, 6)
    exps = [SimpleNamespace(name=n, measured_variables=["T"], measurements=pd.DataFrame({"T": t + i}, index=t))
            for i, n in enumerate(("b1", "val"))]
    result = SimpleNamespace(trajectories={e.name: {"time": t, "T": t + i} for i, e in enumerate(exps)})
    figures.plot_validation(result, exps, tmp_path / "validation.png")
    lines = saved[0].axes[0].lines
    colours = {line.get_label(): line.get_color() for line in lines}
    assert colours["b1 measured"] == colours["b1 simulated"] != colours["val measured"] == colours["val simulated"]


def test_prediction_table_gets_a_column_per_learned_output_on_the_time_grid():
    """A network term on time (u = NN(x)): its output column holds the model's values of u at
    each time; a term with one series per space point is left out."""
    import pyomo.environ as pyo

    from idaes_hybrid.cli.flowsheet import term_columns
    from idaes_hybrid.model.terms import NetworkTerm

    blk = pyo.ConcreteModel()
    blk.fs = pyo.Block()
    blk.fs.time = pyo.Set(initialize=[0.0, 0.5, 1.0], ordered=True)
    blk.fs.space = pyo.Set(initialize=[0.0, 1.0], ordered=True)
    blk.fs.x = pyo.Var(blk.fs.time, initialize=lambda b, t: 2.0 + t)
    blk.fs.rate = pyo.Var(blk.fs.time, initialize=lambda b, t: 3.0 * t, units=pyo.units.s**-1)
    blk.fs.q = pyo.Var(blk.fs.time, blk.fs.space, initialize=1.0)
    terms = [NetworkTerm(inputs=["fs.x[*]"], outputs=["fs.rate[*]"], name="kinetics"),
             NetworkTerm(inputs=["fs.q[*,*]"], outputs=["fs.q[*,*]"], name="wall")]
    hf = SimpleNamespace(series=lambda b: {t.name: t.series(b) for t in terms})
    cols = term_columns(hf, blk, np.array([0.0, 0.5, 1.0]))
    assert list(cols) == ["rate"]
    np.testing.assert_array_equal(cols["rate"], [0.0, 1.5, 3.0])
    assert term_columns(hf, blk, np.array([0.0, 1.0])) == {}  # another grid: nothing to align
