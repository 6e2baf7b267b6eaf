"""Stand-ins for modules the command line seldom uses: imported on first attribute use."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from idaes_hybrid.cli.lazy_modules import DeferredModule, defer_module

pytestmark = pytest.mark.unit


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``lazypkg`` whose submodule ``heavy`` counts how often it ran."""
    root = tmp_path / "lazypkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("RUNS = []\n")
    (root / "heavy.py").write_text("import lazypkg\nlazypkg.RUNS.append('heavy')\nVALUE = 42\n"
                                   "def twice(x):\n    return 2 * x\n")
    (root / "sub" / "__init__.py").write_text("import lazypkg\nlazypkg.RUNS.append('sub')\n")
    (root / "sub" / "inner.py").write_text("NAME = 'inner'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lazypkg"
    for name in [n for n in sys.modules if n == "lazypkg" or n.startswith("lazypkg.")]:
        del sys.modules[name]


def test_import_statements_do_not_run_the_module_and_first_use_does(package):
    assert defer_module("lazypkg.heavy")
    import lazypkg
    import lazypkg.heavy
    from lazypkg import heavy

    assert lazypkg.RUNS == []
    assert isinstance(heavy, DeferredModule) and lazypkg.heavy is heavy
    assert heavy.twice(21) == heavy.VALUE == 42
    assert lazypkg.RUNS == ["heavy"]
    assert type(sys.modules["lazypkg.heavy"]).__name__ == "module"
    assert lazypkg.heavy is sys.modules["lazypkg.heavy"]
    from lazypkg.heavy import VALUE  # the real module from now on; it ran once

    assert VALUE == 42 and lazypkg.RUNS == ["heavy"]


def test_importing_a_submodule_of_a_deferred_package_runs_the_package(package):
    assert defer_module("lazypkg.sub")
    import lazypkg

    assert lazypkg.RUNS == []
    import lazypkg.sub.inner

    assert lazypkg.RUNS == ["sub"] and lazypkg.sub.inner.NAME == "inner"


def test_imported_or_missing_modules_are_left_alone_and_bad_names_refused(package):
    import lazypkg.heavy

    assert not defer_module("lazypkg.heavy")
    assert not defer_module("lazypkg.nothing_here")
    assert not defer_module("no_such_package_anywhere.mod")
    with pytest.raises(ValueError, match="'lazypkg' is not a submodule"):
        defer_module("lazypkg")
    with pytest.raises(ValueError, match="'lazypkg.sub.inner' is not a submodule"):
        defer_module("lazypkg.sub.inner")


def test_pyomo_and_idaes_start_without_scipy_stats_and_pyplot_which_still_work():
    """In a fresh interpreter, as the executable starts: nothing of the deferred modules runs
    while Pyomo, IDAES and matplotlib load; afterwards they give SciPy's own numbers."""
    code = textwrap.dedent("""
        import sys
        from idaes_hybrid.cli.lazy_modules import defer_unused_modules
        deferred = defer_unused_modules()
        import pyomo.environ, idaes.core, matplotlib.figure
        from pyomo.common.dependencies import scipy_available, matplotlib_available
        assert scipy_available and matplotlib_available
        import scipy.sparse
        still = sorted(n for n in deferred if type(sys.modules[n]).__name__ == "DeferredModule")
        from scipy.stats import norm
        import scipy.stats, scipy.spatial
        hull = scipy.spatial.ConvexHull([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]])
        print(sorted(deferred) == still, still, f"{norm.ppf(0.975):.12f}", f"{scipy.stats.t.ppf(0.95, 3):.12f}",
              len(hull.vertices), type(sys.modules["scipy.stats"]).__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    same, *rest = out.stdout.split(maxsplit=1)
    assert same == "True", out.stdout
    assert rest[0].split()[-4:] == ["1.959963984540", "2.353363434802", "4", "module"]
