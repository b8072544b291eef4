"""[flux.crd-order] Velero objects applied before the CRDs that the velero chart installs.

helm-controller installs a chart's ``crds/`` before its templates (helm-controller@v1.6.3:api/v2/helmrelease_types.go
Install.CRDs, default Create), and kustomize-controller dry-runs everything a Kustomization applies before applying it
(kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go apply → fluxcd/pkg ssa): an object of a
velero.io kind applied by the Kustomization that applies the velero HelmRelease, or by one that does not dependsOn
it, fails the dry-run on a cluster without the CRDs. Other charts' CRDs are often installed out of band, so ordering
is provable only for Velero's (flux.CRD_CHARTS).
"""

from __future__ import annotations

from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.validate.documents import Obj
from velero_gitops.validate.flux import CRD_CHARTS, HELM, Graph, is_kind
from velero_gitops.validate.fluxmodel import source_url

CRD_ORDER = define("flux.crd-order", "error", "Velero objects applied by the Kustomization that installs the velero chart "
                   "(its CRDs), or by one that does not `dependsOn` it")


def chart_name(g: Graph, hr: Obj) -> str | None:
    """The chart a HelmRelease installs, the one answer for every rule that asks (crd-order, crd_providers,
    ops/prometheus): ``chart.spec.chart``, else what its chartRef names (helm-controller@v1.6.3:
    api/v2/reference_types.go CrossNamespaceSourceReference, kinds OCIRepository and HelmChart): the last segment of
    an OCIRepository's URL, a HelmChart's ``spec.chart`` (the first of that kind and name, from the graph's index)."""
    m = g.helmrelease(hr)
    if m.chart_name is not None:
        return m.chart_name.rsplit("/", 1)[-1]
    ref = m.chart_ref
    if ref is not None and ref.kind in ("OCIRepository", "HelmChart"):
        for o in g.named(ref.kind, ref.name):
            spec = o.data.get("spec")
            text = source_url(o) if ref.kind == "OCIRepository" else (spec.get("chart") if isinstance(spec, dict) else None)
            if o.kind == ref.kind and o.name == ref.name and isinstance(text, str) and text:
                return text.rstrip("/").rsplit("/", 1)[-1]
    return None


def _patched(g: Graph, ks: Obj) -> str:
    """Where the dependsOn the controller applies comes from, when a parent's patch wrote it: a strategic-merge
    patch replaces the list (kubernetes-sigs/kustomize@kustomize/v5.7.1:kyaml/yaml/schema/schema.go IsAssociative:
    no schema, no merge key), so what ks's own file says is gone."""
    by = g.written_by_parent(ks, "dependsOn")
    if by is None:
        return ""
    parent, line = by
    return (f"; its dependsOn is the one the patch of its parent {g.ns_of(parent)}/{parent.name} ({parent.file}:{line}) "
            "writes, which replaces the list in its own file: narrow that patch's target so it leaves "
            f"{ks.name} out")


class _Order:
    def __init__(self, g: Graph) -> None:
        self.g = g
        self.by_name: dict[tuple[str, str], list[Obj]] = {}
        for k in g.flux_ks:
            for ns in g.namespaces(k):
                self.by_name.setdefault((ns, k.name), []).append(k)
        self.memo: dict[int, set[int]] = {}

    def depends_on(self, ks: Obj) -> set[int]:
        """ids of every Flux Kustomization ``ks`` depends on, directly or through others (once per Kustomization)."""
        if id(ks) in self.memo:
            return self.memo[id(ks)]
        g = self.g
        seen: set[int] = set()
        todo = [ks]
        while todo:
            k = todo.pop()
            for _, dep in g.kustomization(k).depends_on:
                for ns in g.namespaces(k):
                    for target in self.by_name.get((dep.namespace or ns, dep.name), []):
                        if g.visible(k, target) and id(target) not in seen:
                            seen.add(id(target))
                            todo.append(target)
        self.memo[id(ks)] = seen
        return seen


def check(g: Graph, objects: list[Obj]) -> list[Finding]:
    out: list[Finding] = []
    order = _Order(g)
    for hr in (o for o in g.all if is_kind(o, HELM, "HelmRelease")):
        groups = CRD_CHARTS.get(chart_name(g, hr) or "")
        if not groups or hr.path is None or g.helmrelease(hr).install_crds == "Skip":
            continue
        hr_ks = g.applied_by.get(g.real(hr.path), [])
        for o in (o for o in objects if g.visible(hr, o)):
            group = o.api_version.split("/", 1)[0] if "/" in o.api_version else ""
            if group not in groups or o.path is None or not hr_ks:
                continue
            for k in g.applied_by.get(g.real(o.path), []):
                if any(k is h for h in hr_ks):
                    out.append(o.finding("", f"{o.kind} is applied by Flux Kustomization {g.ns_of(k)}/{k.name}, the same "
                                         f"one that applies HelmRelease {hr.name} which installs the {group} CRDs: the "
                                         f"dry-run fails before the CRDs exist. Apply it from a second Kustomization that "
                                         f"dependsOn {k.name}", CRD_ORDER))
                elif not any(id(h) in order.depends_on(k) for h in hr_ks):
                    out.append(o.finding("", f"{o.kind} is applied by Flux Kustomization {g.ns_of(k)}/{k.name}, which does "
                                         f"not dependsOn {', '.join(h.name for h in hr_ks)} (the Kustomization applying "
                                         f"HelmRelease {hr.name} that installs the {group} CRDs){_patched(g, k)}",
                                         CRD_ORDER))
    return out
