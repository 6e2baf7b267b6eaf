"""Pyomo's pint registry read from pint's cache: the same units, and nothing changed once
Pyomo has built its own registry. Each case runs in a fresh interpreter (the registry is
process-wide)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

#: Prints, as JSON: whether the cached registry was taken, then unit conversions and
#: IDAES's derived units evaluated with whatever registry Pyomo ends up using.
SCRIPT = textwrap.dedent("""
    import json, sys
    from idaes_hybrid.cli.unit_registry import units_registry_built, use_cached_unit_registry
    if sys.argv[2] == "after":
        from pyomo.environ import units
        units.m  # Pyomo builds its own registry
    built_before = units_registry_built()
    taken = use_cached_unit_registry(sys.argv[1]) if sys.argv[2] != "never" else False
    import idaes.core  # noqa: F401  (defines its units on the registry)
    import pyomo.environ as pyo
    from pyomo.environ import units as u
    from pyomo.util.check_units import assert_units_consistent
    m = pyo.ConcreteModel()
    m.c = pyo.Var(units=u.g / u.L, initialize=2.0)
    m.V = pyo.Var(units=u.m**3, initialize=1e-3)
    m.n = pyo.Var(units=u.kg)
    m.eq = pyo.Constraint(expr=m.n == pyo.units.convert(m.c * m.V, to_units=u.kg))
    assert_units_consistent(m)
    print(json.dumps({
        "built_before": built_before, "taken": taken,
        "L_in_m3": u.convert_value(1.0, from_units=u.L, to_units=u.m**3),
        "psi_in_Pa": u.convert_value(1.0, from_units=u.psi, to_units=u.Pa),
        "degC_in_K": u.convert_temp_C_to_K(100.0),
        "mass": pyo.value(pyo.units.convert(m.c * m.V, to_units=u.kg)),
        "units": str(u.get_units(m.c * m.V)),
    }))
""")


def _run(tmp_path, cache: str, when: str) -> dict:
    script = tmp_path / "registry_case.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script), cache, when], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Changing the pint registry" not in out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cached_registry_gives_the_same_units_as_pyomos_own(tmp_path):
    cache = str(tmp_path / "pint_cache")
    plain = _run(tmp_path, cache, "never")
    first = _run(tmp_path, cache, "before")  # writes the cache
    second = _run(tmp_path, cache, "before")  # reads it
    assert (tmp_path / "pint_cache").is_dir() and any((tmp_path / "pint_cache").iterdir())
    assert first["taken"] and second["taken"] and not first["built_before"]
    for key in ("L_in_m3", "psi_in_Pa", "degC_in_K", "mass", "units"):
        assert first[key] == second[key] == plain[key], key
    assert plain["L_in_m3"] == pytest.approx(1e-3, rel=1e-15)
    assert plain["degC_in_K"] == pytest.approx(373.15, rel=1e-12)
    assert plain["mass"] == pytest.approx(2e-3, rel=1e-12)


def test_nothing_changes_once_pyomo_built_its_registry(tmp_path):
    res = _run(tmp_path, str(tmp_path / "pint_cache"), "after")
    assert res["built_before"] and not res["taken"]
    assert not (tmp_path / "pint_cache").exists()


def test_an_unusable_cache_folder_falls_back_to_pyomos_registry(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    res = _run(tmp_path, str(blocker / "cache"), "before")
    assert not res["taken"]
    assert res["L_in_m3"] == pytest.approx(1e-3, rel=1e-15)
