"""[flux.crd-provider] A HelmRelease applied together with a custom resource that nothing in the repository installs.

kustomize-controller dry-runs every object of a Kustomization before it applies any; one failed dry-run (an
unknown kind: its CRD is missing) aborts the whole apply and the Kustomization retries only after its interval
(fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAll, called by fluxcd/kustomize-controller@v1.9.4:
internal/controller/kustomization_controller.go apply). A PrometheusRule beside the Velero HelmRelease keeps
Velero off every cluster without the Prometheus Operator.

A kind is provided when the repository holds its CustomResourceDefinition, when it is a Flux kind (the controller
applying the Kustomization was installed with them), when Kubernetes serves it (the kinds of the schema bundle's
Kubernetes source), or when the Kustomization dependsOn, directly or not, a Kustomization that applies a
HelmRelease: a chart may install CRDs (its crds/ folder), and without the chart no one can tell which, so such
an order is trusted; so is a group declared installed elsewhere (`--external CustomResourceDefinition/*/<group>`,
`check.externals`). Only Kustomizations that also apply a HelmRelease are checked: there a missing CRD blocks
an install.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.validate.documents import Obj, dig
from velero_gitops.validate.flux import CRD_CHARTS, Graph
from velero_gitops.validate.schemas import BUNDLE_DIR

RULE = define("flux.crd-provider", "warning", "a custom resource applied in the same Flux Kustomization as a HelmRelease while nothing in the repository installs its CRD: one failed dry-run stops the whole apply (fluxcd/pkg ssa ApplyAll)")
FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"


@functools.cache
def _builtin_groups() -> frozenset[str]:
    """API groups Kubernetes itself serves: those of the schema bundle's Kubernetes source (kubernetes-validate)."""
    prov = json.loads((BUNDLE_DIR / "provenance.json").read_text())
    groups: set[str] = set()
    for src in prov.get("sources", []):
        if src.get("package") == "kubernetes-validate":
            for k in src.get("kinds", []):
                av = k.rsplit("/", 1)[0]
                groups.add(av.split("/", 1)[0] if "/" in av else "")
    return frozenset(groups)


def _group(o: Obj) -> str:
    return o.api_version.split("/", 1)[0] if "/" in o.api_version else ""


def _dependencies(g: Graph, ks: Obj) -> list[Obj]:
    """Every Flux Kustomization ``ks`` depends on, directly or through others (namespace defaults to its own)."""
    by_name: dict[tuple[str, str], list[Obj]] = {}
    for k in g.flux_ks:
        for ns in g.namespaces(k):
            by_name.setdefault((ns, k.name), []).append(k)
    seen: dict[int, Obj] = {}
    todo = [ks]
    while todo:
        k = todo.pop()
        for dep in dig(k.data, "spec", "dependsOn") or []:
            if isinstance(dep, dict):
                for ns in g.namespaces(k):
                    for t in by_name.get((str(dep.get("namespace") or ns), str(dep.get("name"))), []):
                        if id(t) not in seen:
                            seen[id(t)] = t
                            todo.append(t)
    return list(seen.values())


def check(g: Graph, objects: list[Obj]) -> list[Finding]:
    crds = {(str(dig(o.data, "spec", "group")), str(dig(o.data, "spec", "names", "kind")))
            for o in g.all if o.kind == "CustomResourceDefinition"}
    applies: dict[int, list[Obj]] = {}
    for o in objects:
        if o.path is None:
            continue
        for ks in g.applied_by.get(g.real(o.path), []):
            applies.setdefault(id(ks), [ks]).append(o)
    builtin = _builtin_groups()
    # CRDs installed outside the repository (a bootstrap helmfile): --external CustomResourceDefinition/*/<group>
    outside = {e.split("/", 2)[2] for e in g.opts.externals if e.startswith("CustomResourceDefinition/")}
    ordered = {group for groups in CRD_CHARTS.values() for group in groups}  # flux.crd-order reports those
    out: list[Finding] = []
    # indexes built once (issue 23): the files each Kustomization applies, and the files holding a HelmRelease
    files_of: dict[int, set[Path]] = {}
    for p, kss in g.applied_by.items():
        for k in kss:
            files_of.setdefault(id(k), set()).add(p)
    release_files = {g.real(o.path) for o in g.all if o.kind == "HelmRelease" and o.path is not None}
    for ks, *objs in applies.values():
        releases = [o for o in objs if o.kind == "HelmRelease" and _group(o) == "helm" + FLUX_GROUP_SUFFIX]
        if not releases:
            continue
        dep_files = set().union(*(files_of.get(id(d), set()) for d in _dependencies(g, ks)))
        installs_charts = bool(dep_files & release_files)
        for o in objs:
            group = _group(o)
            if (group in builtin or group in ordered or group in outside or group.endswith(FLUX_GROUP_SUFFIX)
                    or (group, o.kind) in crds
                    or installs_charts or o.kind == "CustomResourceDefinition"):
                continue
            out.append(o.finding(
                "", f"{o.kind} ({o.api_version}) is applied by Flux Kustomization {g.ns_of(ks)}/{ks.name} together "
                f"with HelmRelease {releases[0].name}, but nothing in the repository installs its CRD (no "
                "CustomResourceDefinition, no dependsOn on a Kustomization that installs a chart): on a cluster "
                "without it the dry-run fails and the whole Kustomization, the HelmRelease included, is not applied. "
                f"Move {o.kind} to a Kustomization of its own that dependsOn the one installing the CRD "
                "(velero-gitops renders its monitoring that way: metrics.dependsOn); if the CRDs are installed "
                f"outside the repository, declare --external CustomResourceDefinition/*/{group}", RULE, "warning"))
    return out
