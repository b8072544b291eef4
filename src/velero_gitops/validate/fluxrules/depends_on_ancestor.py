"""[flux.depends-on-ancestor] A Flux Kustomization that depends on a Kustomization which applies it and waits for it.

kustomize-controller reconciles a Kustomization only once each of its ``dependsOn`` is Ready at the source's current
revision (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies). A
Kustomization with ``wait: true`` is Ready only when everything it applied is healthy, the Kustomization objects it
applies included, or, without ``wait``, the objects its ``healthChecks`` name (api/v1/kustomization_types.go Wait,
HealthChecks). So when ``ks`` depends on an ancestor that waits for it, through a chain of appliers each waiting for
the next, neither ever becomes Ready: the ancestor times out on ``ks``, and ``ks`` waits for the ancestor. Nothing
``ks`` applies is ever applied (a Velero that never deploys backs nothing up). Without such a wait the order
resolves (the ancestor is Ready once applied), so only the waiting chain is reported.

[flux.depends-on-cycle] The same wait with no applier in it: Kustomizations whose ``dependsOn`` lead back to
themselves. checkDependencies returns "dependency ... is not ready" for a dependency that is not Ready at the current
revision and the reconcile is requeued after ``retryInterval``; nothing in the controller (nor in Flux's CLI) looks
for cycles, so every member waits forever (DependencyNotReady). A dependency with ``readyExpr`` is judged by its CEL
expression instead (without the AdditiveCELDependencyCheck gate): that edge may resolve, so it is not counted.
"""

from __future__ import annotations

from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.validate.documents import Obj
from velero_gitops.validate.flux import Graph
from velero_gitops.yamlsafe import mapping, sequence

RULE = define("flux.depends-on-ancestor", "error", "a Flux Kustomization `dependsOn` a Kustomization that applies it "
              "and waits for it (`wait: true`, or `healthChecks` naming it): neither ever becomes Ready")


CYCLE = define("flux.depends-on-cycle", "error", "Flux Kustomizations whose `dependsOn` lead back to themselves: "
               "each waits for the next to be Ready, forever")


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


def _cycles(g: Graph, kss: list[Obj]) -> tuple[dict[int, list[tuple[int, tuple[str, str]]]], list[list[tuple[str, str]]]]:
    """(id(ks) -> its counted dependsOn (index, key)), and the strongly connected sets of (namespace, name) that hold a
    cycle (Tarjan's algorithm, iterative: linear in Kustomizations and dependsOn entries, no recursion)."""
    by_key: dict[tuple[str, str], list[Obj]] = {}
    edges: dict[int, list[tuple[int, tuple[str, str]]]] = {}
    for ks in kss:
        by_key.setdefault((g.ns_of(ks), ks.name), []).append(ks)
        raw = sequence(mapping(ks.data, "spec"), "dependsOn")
        edges[id(ks)] = [(i, (dep.namespace or g.ns_of(ks), dep.name)) for i, dep in g.kustomization(ks).depends_on
                         if not (i < len(raw) and isinstance(raw[i], dict) and raw[i].get("readyExpr"))]
    succ = {key: [d for ks in group for _, d in edges[id(ks)] if d in by_key] for key, group in by_key.items()}
    index: dict[tuple[str, str], int] = {}
    low: dict[tuple[str, str], int] = {}
    stack: list[tuple[str, str]] = []
    on: set[tuple[str, str]] = set()
    sccs: list[list[tuple[str, str]]] = []
    for start in succ:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on.add(v)
            if i < len(succ[v]):
                work.append((v, i + 1))
                w = succ[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in succ[v]:
                    sccs.append(comp)
    return edges, sccs


def _one_cycle(start: tuple[str, str], members: set[tuple[str, str]], succ: dict) -> list[tuple[str, str]]:
    """A cycle through the set from ``start``: follow an edge inside it until a Kustomization repeats (linear)."""
    seen: dict[tuple[str, str], int] = {}
    path: list[tuple[str, str]] = []
    v = start
    while v not in seen:
        seen[v] = len(path)
        path.append(v)
        v = next(w for w in succ[v] if w in members)
    return [*path[seen[v]:], v]


def _cycle_findings(g: Graph, given: set[int]) -> list[Finding]:
    kss = [ks for ks in g.flux_ks if not g.dead(ks)]
    edges, sccs = _cycles(g, kss)
    out: list[Finding] = []
    for comp in sccs:
        members = set(comp)
        succ: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for ks in kss:
            key = (g.ns_of(ks), ks.name)
            if key in members:
                succ.setdefault(key, []).extend(d for _, d in edges[id(ks)] if d in members)
        cycle = _one_cycle(min(comp), members, succ)
        names = [f"{ns}/{n}" for ns, n in cycle]
        if len(names) > 7:
            names = [*names[:3], f"... {len(names) - 5} more ...", *names[-2:]]
        shown = " -> ".join(names)
        for ks in kss:
            if id(ks) not in given or (g.ns_of(ks), ks.name) not in members:
                continue
            i = next(i for i, d in edges[id(ks)] if d in members)
            out.append(ks.finding(
                f"/spec/dependsOn/{i}",
                f"dependsOn leads back to this Kustomization ({shown}): kustomize-controller starts each only once "
                f"the one it depends on is Ready, so none of them ever is and nothing they apply is applied (the "
                f"controller does not look for cycles: DependencyNotReady, retried forever). Remove one dependsOn "
                f"of the cycle", CYCLE))
    return out


def check(g: Graph, objects: list[Obj]) -> list[Finding]:
    out: list[Finding] = _cycle_findings(g, {id(o) for o in objects})
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
