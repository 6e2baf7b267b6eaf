"""The package's layering (docs/explanation/architecture.md): no import cycles, no module
importing a higher layer, no private name imported from another module, no file over 600
lines. Imports inside functions count; those under ``if TYPE_CHECKING:`` do not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "idaes_hybrid"
#: Layers, lowest first: a module may import its own layer and the ones below.
LAYERS: list[tuple[str, str]] = [
    ("foundation", r"solve(\..*)?|nn(\..*)?|idaes_hook|compat"),
    ("model", r"model(\..*)?"),
    ("cases", r"cases(\..*)?"),
    ("training", r"training(\..*)?|decomposition(\..*)?|diagnostics\.numerical_checks"),
    ("output", r"output(\..*)?"),
    ("use", r"optimize(\..*)?|twin(\..*)?|diagnostics(\..*)?|uncertainty(\..*)?"),
    ("config", r"config(\..*)?"),
    ("cli", r"cli(\..*)?|__package__"),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("idaes_hybrid", *path.relative_to(PACKAGE).with_suffix("").parts))
        out[name.removesuffix(".__init__")] = path
    return out


def _layer(module: str) -> int:
    short = module.removeprefix("idaes_hybrid.") if module != "idaes_hybrid" else "__package__"
    for i, (_, pattern) in enumerate(LAYERS):
        if re.fullmatch(pattern, short):
            return i
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py LAYERS")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    return skip


def _imports(mods: dict[str, Path]) -> dict[str, list[tuple[str, list[str]]]]:
    """Module -> [(imported idaes_hybrid module, names imported from it)]."""
    out = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        skip, found = _type_checking_nodes(tree), []
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("idaes_hybrid"):
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
                names = [a.name for a in node.names if f"{node.module}.{a.name}" not in mods]
                found += [(s, []) for s in subs] + ([(node.module, names)] if names else [])
            elif isinstance(node, ast.Import):
                found += [(a.name, []) for a in node.names if a.name.startswith("idaes_hybrid")]
        out[name] = [(t, n) for t, n in found if t in mods and t != name]
    return out


@pytest.fixture(scope="module")
def graph():
    mods = _modules()
    return mods, _imports(mods)


@pytest.mark.unit
def test_every_module_has_a_layer_and_imports_no_higher_layer(graph):
    mods, imports = graph
    upward = [f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
              for m, edges in imports.items() for t, _ in edges if _layer(t) > _layer(m)]
    assert upward == []


@pytest.mark.unit
def test_no_import_cycles(graph):
    _, imports = graph
    edges = {m: sorted({t for t, _ in e}) for m, e in imports.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, trail):
        state[m] = 1
        for t in edges[m]:
            if state.get(t) == 1:
                cycles.append(" -> ".join(trail[trail.index(t):] + [t]))
            elif t not in state:
                visit(t, trail + [t])
        state[m] = 2

    for m in edges:
        if m not in state:
            visit(m, [m])
    assert cycles == []


@pytest.mark.unit
def test_no_private_name_imported_from_another_module(graph):
    _, imports = graph
    private = [f"{m} imports {n} from {t}" for m, e in imports.items() for t, names in e
               for n in names if n.startswith("_") and not n.endswith("__")]
    assert private == []


@pytest.mark.unit
def test_no_file_over_600_lines(graph):
    mods, _ = graph
    long = {m: n for m, p in mods.items() if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}


@pytest.mark.unit
def test_no_function_over_80_lines(graph):
    """Every line of a function counts, its signature and docstring too."""
    mods, _ = graph
    long = []
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{m}.{node.name}: {n}")
    assert long == []
