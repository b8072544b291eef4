"""[policy.schedule-namespaces] A schedule's namespace that nothing of the cluster's tree is in.

Velero backs up the namespaces a Schedule's `includedNamespaces` names or matches (globs are expanded against the
cluster's namespaces: vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go); a name no namespace has
is backed up from nowhere: pkg/backup/item_collector.go collectNamespaces logs "fail to get the namespace", and the
error makes each backup PartiallyFailed (pkg/controller/backup_controller.go counts the logged errors) with none of
that namespace's data: a typo (`home` for `home-assistant`) loses that namespace's backups. The names
the repository shows are where its objects end up (validate/flux.py Graph.namespaces: the Flux Kustomization's
targetNamespace, a kustomization's `namespace:`, the object's own) and the Namespaces it declares, in the config's
cluster only (wiring.ClusterView). A chart makes objects in namespaces Git does not show (its templates, a
`createNamespace`), so this is a warning that says so, and nothing is said when the cluster's tree is not known.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from velero_gitops.rules import define

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig

UNUSED = define("policy.schedule-namespaces", "warning", "a schedule's namespace that no object of the config's "
                "cluster is in, and no Namespace it declares names: Velero backs up nothing there (a typo)",
                needs_config=True)
NEAREST = 3  # the names offered instead
SHORTEST = 3  # a shorter name held in another says nothing (`x` is in `flux-system`)
CUTOFF = 0.6  # difflib's ratio above which a name reads as a misspelling of another


@dataclass(frozen=True)
class Unused:
    schedule: int  # index in schedules
    index: int  # index in its namespaces
    pattern: str
    nearest: tuple[str, ...]  # the repository's namespaces it may mean
    charts: int  # HelmReleases of the cluster, which may make namespaces Git does not show


def read(loaded: LoadedConfig, g: Any) -> tuple[set[str], int] | None:
    """(the namespaces of the config's cluster that Git shows, its HelmReleases); None when no live Flux Kustomization
    builds the apps root, so the cluster's tree is not known."""
    from velero_gitops.ops import wiring

    view = wiring.config_view(loaded, g)
    if view.holder is None:
        return None
    known: set[str] = set()
    charts = 0
    for o in wiring.applied_objects(g, loaded.repo_root.resolve(), "kind", view):
        if o.kind == "Namespace" and o.api_version == "v1" and o.name:
            known.add(o.name)
            continue
        # namespaces_by keeps nothing: Graph.namespaces caches by id(), and these objects are gone after this read
        for ks in g.applied_by.get(g.real(o.path), []) if o.path is not None else []:
            known.update(ns for ns in g.namespaces_by(o, ks) if ns)
        if o.kind == "HelmRelease" and o.api_version.startswith("helm.toolkit.fluxcd.io/"):
            charts += 1
            spec = o.data.get("spec")
            target = spec.get("targetNamespace") if isinstance(spec, dict) else None
            if isinstance(target, str) and target:
                known.add(target)  # where the chart's objects go (helm-controller@v1.6.3: api/v2 TargetNamespace)
    return known, charts


def unused(loaded: LoadedConfig, g: Any) -> list[Unused]:
    """Each schedule namespace (a name or a glob, as Velero takes them) that no namespace of the cluster matches."""
    facts = read(loaded, g)
    if facts is None or not facts[0]:
        return []
    known, charts = facts
    out = []
    for i, s in enumerate(loaded.config.schedules):
        for j, pattern in enumerate(s.namespaces):
            if pattern == "*" or any(fnmatch.fnmatchcase(ns, pattern) for ns in known):
                continue
            out.append(Unused(i, j, pattern, nearest(pattern, known), charts))
    return out


def nearest(name: str, known: set[str]) -> tuple[str, ...]:
    """The names ``name`` may mean: those that hold it or that it holds (`home` for `home-assistant`), then the close
    misspellings."""
    bare = name.strip("*?[]")
    holds = sorted((k for k in known if min(len(bare), len(k)) >= SHORTEST and (bare in k or k in bare)), key=lambda k: (abs(len(k) - len(bare)), k))
    close = difflib.get_close_matches(name, sorted(known), n=NEAREST, cutoff=CUTOFF)
    return tuple(dict.fromkeys([*holds, *close]))[:NEAREST]


def message(u: Unused) -> str:
    near = f" (this cluster has {', '.join(u.nearest)})" if u.nearest else ""
    charts = (f" A chart may make a namespace Git does not show ({u.charts} HelmRelease{'s' if u.charts != 1 else ''} "
              "here): if one makes it, ignore this warning." if u.charts else "")
    glob = any(c in u.pattern for c in "*?[")
    what = ("matches no namespace of this cluster's tree, and no Namespace it declares" if glob else
            "is a namespace no object of this cluster's tree is in, and no Namespace it declares")
    fate = ("Velero backs up nothing for it" if glob else "Velero backs up nothing there: each backup logs that it "
            "cannot get that namespace and ends PartiallyFailed")
    return f"{u.pattern!r} {what}{near}. {fate}. Name the namespace the workloads run in.{charts}"
