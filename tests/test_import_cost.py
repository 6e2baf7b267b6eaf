"""What ``import idaes_hybrid`` and ``idaes-hybrid --help`` load (issue 14: ``--help`` under
1 s). Module sets are asserted, not times: timing belongs to benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("idaes.core", "pyomo.environ", "tensorflow", "keras", "scipy.stats", "cyipopt")


def _loaded_after(code: str) -> dict:
    probe = (f"import sys, json\n{code}\n"
             f"print(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.unit
def test_import_and_help_load_no_heavy_module():
    assert not any(_loaded_after("import idaes_hybrid").values())
    code = ("from idaes_hybrid.cli.app import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass")
    loaded = _loaded_after(code)
    assert not any(loaded.values()), loaded


@pytest.mark.unit
def test_public_names_resolve_lazily():
    import idaes_hybrid

    assert idaes_hybrid.NetworkSpec.__module__ == "idaes_hybrid.nn.network"
    assert set(idaes_hybrid.__all__) <= set(dir(idaes_hybrid))
    with pytest.raises(AttributeError, match="no_such_name"):
        idaes_hybrid.no_such_name  # noqa: B018


@pytest.mark.unit
@pytest.mark.parametrize("order", ["idaes_hybrid first", "idaes first"])
def test_idaes_get_solver_is_configured_in_either_import_order(order):
    first, second = "import idaes_hybrid", "from idaes.core.solvers import get_solver"
    if order == "idaes first":
        first, second = second, first
    code = (f"{first}\n{second}\nimport idaes\n"
            "from idaes_hybrid.solve.idaes_plugin import CYIPOPT_PLUGIN_NAME\n"
            "from idaes_hybrid.solve.solver import PLUGIN_NAME\n"
            "ok = idaes.cfg.default_solver in (PLUGIN_NAME, CYIPOPT_PLUGIN_NAME)\n"
            "print(json.dumps({'ok': ok and get_solver().name == idaes.cfg.default_solver}))")
    probe = f"import json\n{code}"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"ok": True}
