"""[flux.depends-on-ancestor] A Flux Kustomization that depends on a Kustomization which applies it and waits for it.

kustomize-controller reconciles a Kustomization only once each of its ``dependsOn`` is Ready at the source's current
revision (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies). A
Kustomization with ``wait: true`` is Ready only when everything it applied is healthy, the Kustomization objects it
applies included, or, without ``wait``, the objects its ``healthChecks`` name (api/v1/kustomization_types.go Wait,
HealthChecks). So when ``ks`` depends on an ancestor that waits for it, through a chain of appliers each waiting for
the next, neither ever becomes Ready: the ancestor times out on ``ks``, and ``ks`` waits for the ancestor. Nothing
``ks`` applies is ever applied (a Velero that never deploys backs nothing up). Without such a wait the order
resolves (the ancestor is Ready once applied), so only the waiting chain is reported.
"""

from __future__ import annotations

from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.validate.documents import Obj
from velero_gitops.validate.flux import Graph

RULE = define("flux.depends-on-ancestor", "error", "a Flux Kustomization `dependsOn` a Kustomization that applies it "
              "and waits for it (`wait: true`, or `healthChecks` naming it): neither ever becomes Ready")


def _waits_for(g: Graph, parent: Obj, child: Obj) -> bool:
    m = g.kustomization(parent)
    if m.wait:
        return True
    ns = g.ns_of(parent)
    return any(r.kind == "Kustomization" and r.name == child.name and (r.namespace or ns) == g.ns_of(child)
               for r in m.health_checks)


def _waiting_ancestors(g: Graph, ks: Obj) -> dict[int, list[Obj]]:
    """id of each ancestor that waits for ``ks`` through a chain of waiting appliers -> that chain, top first."""
    out: dict[int, list[Obj]] = {}
    todo: list[tuple[Obj, list[Obj]]] = [(ks, [ks])]
    while todo:
        node, chain = todo.pop()
        for p in g.parents(node):
            if id(p) in out or p is ks or not _waits_for(g, p, node):
                continue
            out[id(p)] = [p, *chain]
            todo.append((p, [p, *chain]))
    return out


def check(g: Graph, objects: list[Obj]) -> list[Finding]:
    out: list[Finding] = []
    given = {id(o) for o in objects}
    for ks in g.flux_ks:
        if id(ks) not in given or g.dead(ks):
            continue
        deps = g.kustomization(ks).depends_on
        if not deps:
            continue
        waiting = _waiting_ancestors(g, ks)
        if not waiting:
            continue
        ns = g.ns_of(ks)
        for i, dep in deps:
            chain = next((c for c in waiting.values() if c[0].name == dep.name
                          and g.ns_of(c[0]) == (dep.namespace or ns)), None)
            if chain is None:
                continue
            top = chain[0]
            path = " -> ".join(f"{g.ns_of(k)}/{k.name}" for k in chain)
            how = "wait: true" if g.kustomization(top).wait else "healthChecks"
            out.append(ks.finding(
                f"/spec/dependsOn/{i}",
                f"dependsOn {g.ns_of(top)}/{top.name}, which applies this Kustomization and waits for it ({path}; "
                f"{top.name} has {how}): the controller starts {ks.name} only once {top.name} is Ready, and "
                f"{top.name} is Ready only once {ks.name} is, so neither ever is and nothing {ks.name} applies is "
                f"applied. Remove {top.name} from dependsOn, or depend on a sibling Kustomization that installs what "
                f"{ks.name} needs first", RULE))
    return out
