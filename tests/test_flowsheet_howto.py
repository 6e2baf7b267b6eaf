"""The how-to "hybridize an existing IDAES flowsheet" and its notebook, executed."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HOWTO = ROOT / "docs" / "how-to" / "hybridize-flowsheet.md"
NOTEBOOK = HOWTO.with_suffix(".ipynb")


def howto_code() -> str:
    return re.search(r"```python\n(.*?)```", HOWTO.read_text(), re.S).group(1)


def notebook_code(setup: bool = True) -> str:
    """The notebook's code cells (``setup=False``: without the cell tagged ``setup``, which
    moves a kernel started in docs/how-to to the repository root)."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"
                     and (setup or "setup" not in c.get("metadata", {}).get("tags", [])))


@pytest.mark.unit
def test_howto_is_short_and_the_notebook_holds_the_same_code():
    code = howto_code()
    assert len(code.strip().splitlines()) < 40
    assert notebook_code(setup=False).split() == code.split()


@pytest.mark.integration
def test_notebook_trains_the_saponification_flowsheet(monkeypatch):
    """Executes the notebook's cells (= the how-to); checks k(T) against Arrhenius."""
    monkeypatch.chdir(ROOT / "docs" / "how-to")  # where Jupyter starts the kernel
    for name in ("model", "run", "optimize"):  # another case's module of that name, if imported
        monkeypatch.delitem(sys.modules, name, raising=False)
    namespace: dict = {}
    exec(compile(notebook_code(), str(NOTEBOOK), "exec"), namespace)  # noqa: S102
    result = namespace["result"]
    assert result.status == "optimal"
    monkeypatch.syspath_prepend(str(ROOT / "flowsheets" / "saponification"))
    from model import arrhenius

    temps = result.smoother_profiles["inputs"][:, 0]
    grid = np.linspace(temps.min(), temps.max(), 40)
    k = result.spec.predict(grid[:, None])[:, 0]
    assert np.max(np.abs(k / np.array([arrhenius(t) for t in grid]) - 1)) < 0.05
    assert result.validation_rmse["NaOH"] < 2 * 0.01
    assert result.validation_rmse["T"] < 2 * 0.05

    # the trained flowsheet's optimal heat-duty profile, evaluated on the true one
    import run as case

    cmp = case.compare_optimizations(result.spec)
    assert abs(cmp["relative_gap"]) < 0.01
    assert cmp["true_optimum"] <= cmp["hybrid_profile_on_truth"] + 1e-9  # the truth is optimal
