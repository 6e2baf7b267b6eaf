"""Train k(T) of the PFR case from its data, the way the flowsheet how-to does it.

    python flowsheets/pfr/train.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from idaes_hybrid.model.user_module import hide_other_neighbours  # noqa: E402

hide_other_neighbours(HERE)  # another case's model.py imported earlier must not stand in

from generate_data import HORIZON, RUNS  # noqa: E402
from model import VARIABLES, arrhenius, build_learned  # noqa: E402

from idaes_hybrid import NetworkSpec, TrainingSettings  # noqa: E402
from idaes_hybrid.model import (  # noqa: E402
    FlowsheetExperiment, HybridFlowsheet, LearnedReactionTerm, read_measurements)
from idaes_hybrid.training.flowsheet_train import train_flowsheet  # noqa: E402

#: Feed temperatures of the training experiments span this range (K).
TRAINED_RANGE = (300.0, 318.0)


def experiments() -> list[FlowsheetExperiment]:
    """The three training experiments and the validation one, from ``data/``."""
    return [FlowsheetExperiment(name, HORIZON, read_measurements(HERE / "data" / f"{name}.csv", name),
                                inputs=u, role="validation" if name == "val" else "train")
            for name, u in RUNS.items()]


def train(nfe: int = 12, ncp: int = 3, tee: bool = False):
    """The trained result (``train_flowsheet``) of a 1-10-1 softplus network k = NN(T)."""
    hybrid = HybridFlowsheet(build_learned, [LearnedReactionTerm("fs.rxn")], VARIABLES)
    spec = NetworkSpec.dense(1, [10], 1, activation="softplus", seed=0)
    settings = TrainingSettings(solver_options={"tol": 1e-6, "max_iter": 1000})
    return train_flowsheet(hybrid, experiments(), spec, nfe=nfe, ncp=ncp, settings=settings, tee=tee)


def k_errors(spec, temperatures=np.linspace(*TRAINED_RANGE, 10)) -> np.ndarray:
    """Relative error of the learned k(T) against the Arrhenius law."""
    true = np.array([arrhenius(t) for t in temperatures])
    return np.abs(np.ravel(spec.predict(temperatures[:, None])) - true) / true


if __name__ == "__main__":
    result = train()
    for name, st in result.stages.items():
        print(f"{name}: {st.status} {st.wall_time_s:.1f} s, {st.iterations} iterations")
    print("status", result.status, "train RMSE", result.train_rmse, "validation RMSE",
          result.validation_rmse)
    print("max relative k error over", TRAINED_RANGE, float(k_errors(result.spec).max()))
