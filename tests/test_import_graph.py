"""The package's import graph: no circles, and no import from a lower layer to a higher one.

Layers, from the bottom (DESIGN.md): errors/settings/stats -> findings/validation -> loaders -> engine
-> detectors -> audit -> report -> tools -> integrations -> the public package.  Every import counts,
including those inside functions (a lazy import is still a dependency).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "biasaudit"

#: layer of each top-level module or sub-package (the package itself is the top)
LAYERS = {
    "_version": 0, "errors": 0, "settings": 0, "stats": 0, "limits": 0, "_safe": 0, "_atomic": 0,
    "findings": 1, "validation": 1,
    "loaders": 2,
    "engine": 3,
    "detectors": 4,
    "audit": 5,
    "report": 6,
    "tools": 7,
    "integrations": 8, "checks": 8,
    "": 9, "__main__": 9,
}


def _modules() -> dict:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_pkg else parts)
        out[name] = (path, is_pkg)
    return out


def import_graph() -> dict:
    """module -> set of biasaudit modules it imports (anywhere in its body)."""
    mods = _modules()
    edges = {}
    for name, (path, is_pkg) in mods.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    targets.add(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        edges[name] = {t for t in targets if t in mods and t != name}
    return edges


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else ""]


def cycles(edges: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read():
    edges = import_graph()
    assert "biasaudit._version" in edges["biasaudit"]
    assert "biasaudit.detectors" in edges["biasaudit.audit.run"]


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_has_a_layer():
    unknown = [m for m in import_graph() if m.split(".")[1:2] and m.split(".")[1] not in LAYERS]
    assert not unknown, f"add these to LAYERS: {unknown}"


#: Deliberate: the result's convenience methods (``to_text``, ``to_html``, ``_repr_html_``) call a reader,
#: imported inside the method, so that ``result.to_html()`` works in a notebook.
ALLOWED_UPWARD = {"biasaudit.findings -> biasaudit.report.text", "biasaudit.findings -> biasaudit.report.html"}


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_no_upward_imports():
    edges = import_graph()
    upward = {f"{a} -> {b}" for a, targets in edges.items() for b in targets if layer(b) > layer(a)}
    assert sorted(upward - ALLOWED_UPWARD) == []


@pytest.mark.parametrize("low, high", [("stats", "detectors"), ("engine", "audit"), ("loaders", "detectors")])
def test_layer_order(low, high):
    assert LAYERS[low] < LAYERS[high]


# ----------------------------------------------------------------------------- statistics in one place
#: Modules whose statistics belong in ``biasaudit.stats``: nothing else may import them.
STATISTICS_MODULES = ("scipy.stats", "scipy.special", "scipy.optimize", "statsmodels")

#: Modules outside ``biasaudit/stats/`` allowed to import one of ``STATISTICS_MODULES``, as
#: ``"biasaudit.x.y -> scipy.stats"``, each with the reason it cannot move.  Empty: every formula moved.
ALLOWED_STATISTICS_IMPORTS: set = set()


def statistics_imports(source: str) -> set:
    """The ``STATISTICS_MODULES`` a module's source imports, anywhere in its body.

    Counts ``import scipy.stats``, ``import scipy.stats as sps``, ``from scipy import stats``,
    ``from scipy.special import betaincinv``, ``from statsmodels.stats.proportion import ...``.
    """
    found = set()

    def hit(name: str):
        for m in STATISTICS_MODULES:
            if name == m or name.startswith(m + "."):
                found.add(m)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                hit(a.name)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            hit(node.module)
            for a in node.names:
                hit(f"{node.module}.{a.name}")
    return found


@pytest.mark.parametrize("source, expected", [
    ("import scipy.stats", {"scipy.stats"}),
    ("import scipy.stats as sps", {"scipy.stats"}),
    ("from scipy import stats as sps", {"scipy.stats"}),
    ("from scipy import optimize, special", {"scipy.optimize", "scipy.special"}),
    ("def f():\n    from scipy.special import betaincinv\n", {"scipy.special"}),
    ("from statsmodels.stats.proportion import proportion_confint", {"statsmodels"}),
    ("import scipy.sparse\nfrom scipy import fft\nimport numpy as np", set()),
    ("from .stats import hypergeom_tail\nfrom ..stats import wilson_ci", set()),
])
def test_statistics_imports_are_found(source, expected):
    assert statistics_imports(source) == expected


def test_statistics_only_in_stats():
    """No module outside ``biasaudit/stats/`` imports scipy.stats, scipy.special, scipy.optimize or
    statsmodels: every statistical formula is a function in ``biasaudit.stats``, tested there."""
    offending = set()
    for name, (path, _) in _modules().items():
        if name == "biasaudit.stats" or name.startswith("biasaudit.stats."):
            continue
        offending |= {f"{name} -> {m}" for m in statistics_imports(path.read_text(encoding="utf-8"))}
    assert sorted(offending - ALLOWED_STATISTICS_IMPORTS) == []
