"""The validate package imports one way: no cycle between its modules, and no module reaches into another's
private names (``from x import _name`` or ``module._name``). Read from the source with ``ast``, so imports inside
functions count too (a delayed import hides a cycle, it does not remove it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import velero_gitops.validate as pkg

PACKAGE = "velero_gitops"
VALIDATE = Path(pkg.__file__).parent


def _module_name(path: Path) -> str:
    return "velero_gitops.validate." + path.stem


def _resolve(node: ast.ImportFrom, alias: ast.alias) -> str:
    """The module an ``import from`` names: ``from velero_gitops.validate import flux`` names the module flux."""
    base = node.module or ""
    return f"{base}.{alias.name}" if base == "velero_gitops.validate" else base


def scan(sources: dict[str, str]) -> tuple[dict[str, set[str]], list[str]]:
    """(edges between the given modules, private-name uses across modules) for ``{module: source}``."""
    edges: dict[str, set[str]] = {m: set() for m in sources}
    private: list[str] = []
    for mod, text in sources.items():
        tree = ast.parse(text)
        aliases: dict[str, str] = {}  # local name -> package module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith(PACKAGE):
                        if a.name in sources and a.name != mod:
                            edges[mod].add(a.name)
                        if a.asname:
                            aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE) and node.level == 0:
                for a in node.names:
                    target = _resolve(node, a)
                    if target in sources and target != mod:
                        edges[mod].add(target)
                    if target == f"{node.module}.{a.name}":
                        aliases[a.asname or a.name] = target  # a module imported by name
                    elif a.name.startswith("_") and target != mod:
                        private.append(f"{mod}: from {node.module} import {a.name}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                private.append(f"{mod}: {aliases[node.value.id]}.{node.attr}")
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules that import each other (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges.get(v, ()):
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _package_sources() -> dict[str, str]:
    return {_module_name(p): p.read_text() for p in sorted(VALIDATE.glob("*.py")) if p.stem != "__init__"}


def test_validate_modules_import_without_cycles():
    edges, _ = scan(_package_sources())
    assert "velero_gitops.validate.documents" in edges and edges["velero_gitops.validate.engine"], edges
    assert cycles(edges) == []


def test_no_module_uses_another_modules_private_names():
    _, private = scan(_package_sources())
    assert private == []


@pytest.mark.parametrize(("sources", "want_cycles", "want_private"), [
    ({"velero_gitops.validate.a": "from velero_gitops.validate import b\n",
      "velero_gitops.validate.b": "def f():\n    from velero_gitops.validate.a import x\n"},
     [["velero_gitops.validate.a", "velero_gitops.validate.b"]], []),
    ({"velero_gitops.validate.a": "from velero_gitops.validate.b import _hidden\n",
      "velero_gitops.validate.b": "_hidden = 1\n"},
     [], ["velero_gitops.validate.a: from velero_gitops.validate.b import _hidden"]),
    ({"velero_gitops.validate.a": "from velero_gitops.validate import b as bee\nbee._hidden()\n",
      "velero_gitops.validate.b": "import velero_gitops.validate.a\n"},
     [["velero_gitops.validate.a", "velero_gitops.validate.b"]], ["velero_gitops.validate.a: velero_gitops.validate.b._hidden"]),
    ({"velero_gitops.validate.a": "from velero_gitops.validate import b\nb.public()\n",
      "velero_gitops.validate.b": "from velero_gitops.validate.c import thing\n",
      "velero_gitops.validate.c": "thing = 1\n"}, [], []),
])
def test_the_checks_see_cycles_and_private_names(sources, want_cycles, want_private):
    """The scanner itself: a cycle through a delayed import, and private names by import or attribute, are found."""
    edges, private = scan(sources)
    assert cycles(edges) == want_cycles
    assert private == want_private
