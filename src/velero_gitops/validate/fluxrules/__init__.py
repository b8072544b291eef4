"""The Flux rules that read the graph, one module each: a module declares its rule (``velero_gitops.rules.define``, so
docs/validation.md lists it) and a ``check(graph, objects) -> list[Finding]`` over the validated objects. ``run`` runs
every module of this package, so adding a Flux rule is one module here and its test (tests/validate/fluxrules/)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from velero_gitops.findings import Finding

if TYPE_CHECKING:
    from velero_gitops.validate.documents import Obj
    from velero_gitops.validate.flux import Graph

Check = Callable[["Graph", "list[Obj]"], "list[Finding]"]


def _discover() -> list[tuple[str, Check]]:
    """(module name, its check) for every rule module of the package, in name order. Importing a module declares its
    rule, so the package's import (by validate.engine) is what puts the rules in the registry and the docs."""
    out = []
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{__name__}.{m.name}")
        out.append((m.name, mod.check))
    return out


CHECKS: list[tuple[str, Check]] = _discover()


def run(graph: Graph, objects: list[Obj]) -> list[Finding]:
    return [f for _, check in CHECKS for f in check(graph, objects)]
