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


WALK_LIMIT = 256  # waiting ancestors visited per Kustomization


def _waits_for(g: Graph, parent: Obj, child: Obj) -> bool:
    m = g.kustomization(parent)
    if m.wait:
        return True
    ns = g.ns_of(parent)
    return any(r.kind == "Kustomization" and r.name == child.name and (r.namespace or ns) == g.ns_of(child)
               for r in m.health_checks)


def _waiting_chain(g: Graph, ks: Obj, targets: set[tuple[str, str]]) -> dict[tuple[str, str], list[Obj]]:
    """(namespace, name) of each of ``targets`` that is an ancestor waiting for ``ks`` through a chain of waiting
    appliers -> that chain, top first. One walk up from ``ks`` (each Kustomization visited once, its hop remembered),
    stopped once every target is found, and after WALK_LIMIT ancestors: a repository of N Kustomizations each
    depending on the top of one long waiting chain would otherwise cost N² steps (attacker round 5), and no cluster
    nests Kustomizations hundreds deep."""
    hop: dict[int, Obj] = {}  # id of a waiting ancestor -> the Kustomization below it on the chain
    found: dict[tuple[str, str], list[Obj]] = {}
    todo = [ks]
    while todo and len(found) < len(targets) and len(hop) < WALK_LIMIT:
        node = todo.pop()
        for p in g.parents(node):
            if id(p) in hop or p is ks or not _waits_for(g, p, node):
                continue
            hop[id(p)] = node
            todo.append(p)
            key = (g.ns_of(p), p.name)
            if key in targets and key not in found:
                chain, k = [p], node
                while k is not ks:
                    chain.append(k)
                    k = hop[id(k)]
                found[key] = [*chain, ks]
    return found


def _shown(g: Graph, chain: list[Obj]) -> str:
    """The chain as `a -> b -> c`, its middle elided past six links (the message stays short however deep it is)."""
    names = [f"{g.ns_of(k)}/{k.name}" for k in chain]
    if len(names) > 6:
        names = [*names[:3], f"... {len(names) - 5} more ...", *names[-2:]]
    return " -> ".join(names)


def check(g: Graph, objects: list[Obj]) -> list[Finding]:
    out: list[Finding] = []
    given = {id(o) for o in objects}
    for ks in g.flux_ks:
        if id(ks) not in given or g.dead(ks):
            continue
        deps = g.kustomization(ks).depends_on
        if not deps:
            continue
        ns = g.ns_of(ks)
        waiting = _waiting_chain(g, ks, {(dep.namespace or ns, dep.name) for _, dep in deps})
        for i, dep in deps:
            chain = waiting.get((dep.namespace or ns, dep.name))
            if chain is None:
                continue
            top = chain[0]
            how = "wait: true" if g.kustomization(top).wait else "healthChecks"
            out.append(ks.finding(
                f"/spec/dependsOn/{i}",
                f"dependsOn {g.ns_of(top)}/{top.name}, which applies this Kustomization and waits for it "
                f"({_shown(g, chain)}; {top.name} has {how}): the controller starts {ks.name} only once {top.name} is "
                f"Ready, and {top.name} is Ready only once {ks.name} is, so neither ever is and nothing {ks.name} "
                f"applies is applied. Remove {top.name} from dependsOn, or depend on a sibling Kustomization that "
                f"installs what {ks.name} needs first", RULE))
    return out
