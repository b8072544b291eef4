"""Imports go one way: cli -> features -> config and the shared readers (no upward or sideways cycle between folders), and no module imports itself back through others, inside a folder too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cli_util import REPO

PKG = REPO / "src" / "velero_gitops"
# Each layer may import the layers listed for it, and nothing above.
ALLOWED = {
    "core": set(),  # errors, findings, safefile, yamlsafe: shared by everything
    "config": {"core"},
    "observability": {"config", "core"},
    "render": {"observability", "config", "core"},
    "validate": {"config", "core"},
    "secrets": {"render", "validate", "config", "core"},
    "ops": {"secrets", "render", "validate", "config", "core"},
    "pipeline": {"secrets", "render", "config", "core"},
    "check": {"pipeline", "ops", "secrets", "render", "validate", "config", "core"},
    "cli": {"check", "pipeline", "ops", "secrets", "render", "validate", "observability", "config", "core"},
}
TOP = {"errors": "core", "findings": "core", "rules": "core", "safefile": "core", "yamlsafe": "core", "tools": "core",
       "identity": "core", "shown": "core", "cachebound": "core", "boundary": "core", "goregexp": "core", "intparse": "core", "varsub": "core", "runcache": "check",
       "__main__": "cli", "__init__": "core"}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__version__":
        return "core"  # the package itself: `from velero_gitops import __version__`
    return TOP.get(parts[1], parts[1])


def imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "velero_gitops":
            out += [node.module] if node.module != "velero_gitops" else [f"velero_gitops.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "velero_gitops"]
    return out


def violations() -> list[str]:
    found = []
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).with_suffix("").parts
        mine = layer("velero_gitops." + ".".join(rel))
        for target in imports(f):
            theirs = layer(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                found.append(f"{f.relative_to(PKG)} ({mine}) imports {target} ({theirs})")
    return found


def test_every_folder_has_a_layer():
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PKG.glob("*.py")}
    assert folders | {TOP.get(m, m) for m in modules} <= set(ALLOWED)


def test_imports_go_one_way():
    assert violations() == []


@pytest.mark.parametrize("source,target", [("config/model.py", "velero_gitops.render.plan"),
                                           ("validate/engine.py", "velero_gitops.secrets.sops")])
def test_an_upward_import_is_caught(tmp_path, monkeypatch, source, target):
    """The checker itself: plant an upward import in a copy of the package and see it reported."""
    import shutil

    copy = tmp_path / "velero_gitops"
    shutil.copytree(PKG, copy)
    f = copy / source
    f.write_text(f.read_text() + f"\n\ndef _planted():\n    import {target}  # noqa: F401\n")
    monkeypatch.setattr(__import__(__name__), "PKG", copy)
    assert any(source in v and target in v for v in violations())


def private_uses() -> list[str]:
    """`from velero_gitops.x import _name` or `module._name` across modules: private names stay in their module."""
    found = []
    for f in sorted(PKG.rglob("*.py")):
        tree = ast.parse(f.read_text())
        aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and (n.module or "").startswith("velero_gitops") for a in n.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("velero_gitops"):
                found += [f"{f.relative_to(PKG)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                  and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{f.relative_to(PKG)}: {node.value.id}.{node.attr}")
    return found


def test_no_module_reaches_into_another_ones_private_names():
    assert private_uses() == []


def modules(pkg: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for f in sorted(pkg.rglob("*.py")):
        parts = f.relative_to(pkg).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        out[".".join(("velero_gitops", *parts))] = f
    return out


def module_imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules a file imports, at module level or inside a function (a delayed import is still a
    dependency): `from velero_gitops.a import b` names module a.b when that is a module, else module a."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "velero_gitops":
            assert node.module is not None
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            out |= subs or ({node.module} & known)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names} & known
    return out


def cycles(pkg: Path) -> list[list[str]]:
    """Every import cycle between the package's modules (strongly connected components of more than one
    module; Tarjan's algorithm). Packages' __init__ files count as the package's module."""
    mods = modules(pkg)
    graph = {m: sorted(module_imports(f, set(mods)) - {m}) for m, f in mods.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in graph:
        if m not in index:
            visit(m)
    return found


def test_no_import_cycle_between_modules():
    """Also inside one folder: a cycle means no module of it can be read or tested without the others."""
    assert cycles(PKG) == []


def test_a_cycle_inside_a_folder_is_caught(tmp_path):
    """The checker itself: the cycle this test was written for (repo_password -> secret -> secret_check ->
    repo_password), planted again in a copy of the package."""
    import shutil

    copy = tmp_path / "velero_gitops"
    shutil.copytree(PKG, copy)
    f = copy / "secrets" / "secret_check.py"
    f.write_text(f.read_text() + "\n\ndef _planted():\n    from velero_gitops.secrets import repo_password  # noqa: F401\n")
    assert ["velero_gitops.secrets.repo_password", "velero_gitops.secrets.secret",
            "velero_gitops.secrets.secret_check"] in [[m for m in c if m.startswith("velero_gitops.secrets.")]
                                                      for c in cycles(copy)]
