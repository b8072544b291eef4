"""[flux.crd-provider] A HelmRelease applied together with a custom resource whose CRD nothing can ever install.

kustomize-controller dry-runs every object of a Kustomization before it applies any; one failed dry-run (an
unknown kind: its CRD is missing) aborts the whole apply (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAll,
called by fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go apply), and the
controller tries again after spec.retryInterval (same file, reconcile: ``RequeueAfter: obj.GetRetryInterval()``).
So the failure lasts only until something else installs the CRD; it is permanent, the HelmRelease never installed,
when nothing outside this Kustomization can: a PrometheusRule beside the Velero HelmRelease keeps Velero off every
cluster without the Prometheus Operator. A chart whose operator registers the CRD at run time (Cilium's operator
registers cilium.io) does not help when it is in the same Kustomization: the failed dry-run comes first, so on a new
cluster it is never installed. On a later apply, to a cluster where the CRD exists, the same Kustomization applies:
the repository cannot show which cluster it is, so this is a warning, and a CRD that is there before Flux (a CNI
chart installed first, as Flux's own pods need pod networking; CRDs the distribution registers, such as k0s's) is
declared with ``--external CustomResourceDefinition/*/<group>``.

A kind is provided when the repository holds its CustomResourceDefinition, when it is a Flux kind (the controller
applying the Kustomization was installed with them), when Kubernetes serves it (the kinds of the schema bundle's
Kubernetes source), when it is declared installed elsewhere (`--external CustomResourceDefinition/*/<group>`,
`check.externals`), when the repository's bootstrap installs charts before Flux (a helmfile state file: top-level
`releases:` of `name`d charts, as helmfile's own schema has it; cluster-template's `helmfile.d/00-crds.yaml` applies
their CRDs, `01-apps.yaml` the charts themselves), or when a Flux Kustomization other than this one, and not waiting for it (no dependsOn on it,
directly or not), applies a HelmRelease or builds a remote resource (validate does not fetch it: a CRD bundle such
as cert-manager's release asset may be one): a chart may install CRDs (its crds/ folder, or its operator at run time),
and without the chart no one can tell which, so the retry may succeed once it is installed. Only Kustomizations
that also apply a HelmRelease are checked: there a missing CRD blocks an install.

What velero-gitops renders is judged on what is certain, not on what may be (the user believes its alerts exist): a
custom resource of the rendered tree (a strict file: `check`), in any Kustomization, with or without a HelmRelease,
needs a provider that its Kustomization waits for (dependsOn, directly or not, on one that installs a chart or builds
a remote resource, or on one outside the repository) or that is there before Flux (a CRD manifest, an external
declaration, a bootstrap helmfile). A chart it does not wait for may or may not bring the CRD: a note that names
them (the retry may succeed: not a warning on every repository that installs kube-prometheus-stack); no chart at all that could (the velero chart brings only velero.io, flux.CRD_CHARTS; a HelmRelease with
``install.crds: Skip`` brings none, helm-controller@v1.6.3:api/v2/helmrelease_types.go Install.CRDs): an error, as
the Kustomization then never applies. A repository whose only Flux Kustomizations are the rendered ones (the
examples) holds no provider to find: not judged, as check.py _externals does for dependsOn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from velero_gitops import goregexp
from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.shown import some
from velero_gitops.validate import fluxmodel
from velero_gitops.validate.documents import Obj, dig, sequence
from velero_gitops.validate.flux import CRD_CHARTS, Graph
from velero_gitops.validate.schemas import provenance
from velero_gitops.validate.yamlload import YAMLError, load_all

RULE = define("flux.crd-provider", "warning", "a custom resource applied in the same Flux Kustomization as a HelmRelease while nothing Flux applies from the repository installs its CRD before that Kustomization applies (no CustomResourceDefinition, no chart installed by another Kustomization that does not wait for this one, no bootstrap helmfile): on a cluster without the CRD (a new cluster, a restore) the dry-run fails at every retry and the HelmRelease is never applied, even when its own chart or operator would register the CRD (fluxcd/pkg ssa ApplyAll); where the CRD is there before Flux (a CNI chart installed first, as Flux's pods need it; CRDs the distribution registers) it is declared with `--external CustomResourceDefinition/*/<group>`")
FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"


@functools.cache
def _builtin_groups() -> frozenset[str]:
    """API groups Kubernetes itself serves: those of the schema bundle's Kubernetes source (kubernetes-validate)."""
    prov = provenance()
    groups: set[str] = set()
    for src in prov.get("sources", []):
        if src.get("package") == "kubernetes-validate":
            for k in src.get("kinds", []):
                av = k.rsplit("/", 1)[0]
                groups.add(av.split("/", 1)[0] if "/" in av else "")
    return frozenset(groups)


def _group(o: Obj) -> str:
    return o.api_version.split("/", 1)[0] if "/" in o.api_version else ""


class _Dependencies:
    """Which Flux Kustomizations one depends on, directly or through others (a dependsOn without a namespace is in
    the Kustomization's own), and which depend on it. The edges are read once; each question walks them anew and
    keeps nothing, so memory stays linear in the edges: attack round 7 kept every closure of a 12,800-long dependsOn
    chain, 80 million entries (4.76 GB). A caller asks once per Kustomization it judges."""

    def __init__(self, g: Graph):
        by_name: dict[tuple[str, str], list[Obj]] = {}
        for k in g.flux_ks:
            for ns in g.namespaces(k):
                by_name.setdefault((ns, k.name), []).append(k)
        self._forward: dict[int, set[int]] = {}
        self._backward: dict[int, set[int]] = {}
        for k in g.flux_ks:
            for _, dep in g.kustomization(k).depends_on:  # the typed model: a malformed dependsOn is no edge
                for ns in g.namespaces(k):
                    for t in by_name.get((dep.namespace or ns, dep.name), []):
                        self._forward.setdefault(id(k), set()).add(id(t))
                        self._backward.setdefault(id(t), set()).add(id(k))

    def of(self, k: int) -> set[int]:
        """The ids of every Kustomization ``k`` (an id) depends on."""
        return _reached(self._forward, k)

    def on(self, k: int) -> set[int]:
        """The ids of every Kustomization that depends on ``k`` (an id)."""
        return _reached(self._backward, k)


def _reached(edges: dict[int, set[int]], start: int) -> set[int]:
    seen: set[int] = set()
    todo = list(edges.get(start, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(edges.get(n, ()))
    return seen


# helmfile's top-level keys, as its state-file reference lists them (not read at a tag here: a file with any other
# key is not taken for a helmfile, and the warning stays)
_HELMFILE_KEYS = {"releases", "repositories", "helmDefaults", "bases", "environments", "templates", "helmfiles",
                  "missingFileHandler", "defaultInherit", "hooks", "apiVersions", "kubeVersion", "commonLabels",
                  "helmBinary", "kustomizeBinary", "lockFilePath", "values", "missingFileHandlerConfig"}
_RELEASES = goregexp.linear(r"(?m)^[ \t]*[\"']?releases[\"']?[ \t]*:")


def _bootstrap_charts(texts: dict[Path, str]) -> bool:
    """Some file the run read is a helmfile state file that installs charts (outside what Flux applies)."""
    for text in texts.values():
        if not isinstance(text, str) or not _RELEASES.search(text):
            continue
        try:
            docs = load_all(text)
        except YAMLError:
            continue  # a Go-templated helmfile is no YAML: not read
        for d in docs:
            data = d.data
            if (isinstance(data, dict) and set(data) <= _HELMFILE_KEYS and isinstance(data.get("releases"), list)
                    and data["releases"] and all(isinstance(r, dict) and r.get("name") for r in data["releases"])):
                return True
    return False


def _remote_builds(g: Graph) -> list[Obj]:
    """The Flux Kustomizations whose build reads a kustomization with a remote resource (what it brings is unknown
    here: kustomize.is_remote), wherever that kustomization lies: a base reached by `../` outside spec.path counts as
    much as a folder below it (the kustomization folders the build reads, resolve.Tree.flux_reached)."""
    from velero_gitops.validate.kustomize import is_remote

    remote = {g.real(d) for d, k in g.tree.kustomizations.items()
              if any(isinstance(e, str) and is_remote(e) for e in sequence(k, "resources"))}
    out: list[Obj] = []
    for ks in g.flux_ks:
        top = g.path_dir(ks)
        if top is not None and remote & {g.real(d) for d in g.tree.flux_reached(top, g.kustomization(ks))}:
            out.append(ks)
    return out


def _applied_through(g: Graph, k: Obj, ks: Obj, limit: int = 256) -> bool:
    """Whether Flux Kustomization ``ks`` applies ``k``, directly or through the Kustomizations it applies (a walk up
    ``k``'s parents, bounded like flux.depends-on-ancestor's): kustomize-controller applies a build all or nothing
    after its server-side dry-run (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAllStaged), so what ``ks``
    applies never exists while its dry-run fails. The walk stops at a FluxInstance's sync Kustomization: the
    operator makes it from an instance that bootstrap installed (a helmfile, `flux-operator install`), whatever
    Kustomization applies that instance again later."""
    synthetic = {id(s) for s in g.synthetic}
    seen: set[int] = set()
    todo = g.parents(k)
    while todo and len(seen) < limit:
        p = todo.pop()
        if p is ks:
            return True
        if id(p) not in seen and id(p) not in synthetic:
            seen.add(id(p))
            todo.extend(g.parents(p))
    return False


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
    # a cluster synced by a FluxInstance has flux-operator's CRDs: the instance exists, so its group is served
    # (controlplaneio-fluxcd/flux-operator@v0.58.1: the FluxInstance CRD ships with the operator, beside ResourceSet's)
    if any(r.origin == "FluxInstance" and r.kustomization is not None for r in g.sync_roots):
        outside.add(fluxmodel.OPERATOR.rstrip("/"))
    ordered = {group for groups in CRD_CHARTS.values() for group in groups}  # flux.crd-order reports those
    deps = _Dependencies(g)
    bootstrap = _bootstrap_charts(g.run.texts)
    remote = _remote_builds(g)
    # the Kustomizations of the repository that install a chart (from every file read, not only the validated ones)
    installers = [*{id(k): k for o in g.all if o.kind == "HelmRelease" and _group(o) == "helm" + FLUX_GROUP_SUFFIX
                    and o.path is not None for k in g.applied_by.get(g.real(o.path), [])}.values(), *remote,
                  *g.foreign_builds()]
    out: list[Finding] = _rendered(g, applies, {*builtin, *ordered, *outside}, crds, deps, bootstrap, installers)
    # a build that reads a remote resource may hold the CRD itself: its CRDs are applied (and waited for) in a stage
    # before the custom resources' dry-run (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAllStaged, defStage)
    remote_builds = {id(k) for k in remote}
    for ks, *objs in applies.values():
        if id(ks) in remote_builds:
            continue
        releases = [o for o in objs if o.kind == "HelmRelease" and _group(o) == "helm" + FLUX_GROUP_SUFFIX]
        needing = [o for o in objs if not (
            (group := _group(o)) in builtin or group in ordered or group in outside
            or group.endswith(FLUX_GROUP_SUFFIX) or (group, o.kind) in crds or o.kind == "CustomResourceDefinition")]
        if not releases or not needing:
            continue
        # a chart installed elsewhere in the same cluster, not after this one, may bring the CRD: a retry then
        # succeeds (another cluster's chart registers nothing in this one's API: Graph.applies_beside). Not one this
        # Kustomization applies, itself or through others: it exists only once this one's apply succeeded
        if bootstrap:
            continue
        after = deps.on(id(ks))
        if any(k is not ks and g.applies_beside(ks, k) and id(k) not in after and not _applied_through(g, k, ks)
               for k in installers):
            continue
        # named once per Kustomization: once per custom resource was O(N^2) for N releases beside N custom resources
        with_releases = f"HelmRelease{'s' if len(releases) > 1 else ''} {some(sorted({r.name for r in releases}))}"
        for o in needing:
            group = _group(o)
            out.append(o.finding(
                "", f"{o.kind} ({o.api_version}) is applied by Flux Kustomization {g.ns_of(ks)}/{ks.name} together "
                f"with {with_releases}, and nothing Flux applies from this repository installs its CRD "
                "before this Kustomization applies (no CustomResourceDefinition, no chart installed by another "
                "Kustomization): on "
                "a cluster without the CRD (a new cluster, a restore) the dry-run fails at every retry and the whole "
                "Kustomization, the HelmRelease included, is never applied, even if that chart or its operator would "
                f"register the CRD. Move {o.kind} to a Kustomization of its own that dependsOn the one installing the "
                "CRD (velero-gitops renders its monitoring that way: metrics.dependsOn); if the CRD is there before "
                "Flux applies anything (the chart installed first, as a CNI must be for Flux's pods to run, or CRDs "
                f"the distribution registers), declare --external CustomResourceDefinition/*/{group}", RULE, "warning"))
    return out


RENDERED = define("flux.crd-provider-rendered", "error", "a custom resource velero-gitops renders (its monitoring) whose "
                  "CRD nothing is sure to install before its Kustomization applies: no CRD manifest, no dependsOn on a "
                  "Kustomization that installs it, no external declaration; kustomize-controller retries the failed "
                  "dry-run forever and the alerts never exist")


def _may_bring(g: Graph, ks: Obj, group: str) -> bool:
    """Whether Kustomization ``ks`` installs a chart that may bring CRDs of ``group`` (or builds a remote resource, or
    another source's artifact):
    not a chart whose CRDs are known (flux.CRD_CHARTS) without that group, nor one installed with crds: Skip."""
    from velero_gitops.validate.fluxrules.crd_order import chart_name

    releases = _releases(g, ks)
    if not releases:
        return True  # a remote build or another source's artifact: unknown content
    for hr in releases:
        known = CRD_CHARTS.get(chart_name(g, hr) or "")
        if known is not None and group not in known:
            continue
        if dig(hr.data, "spec", "install", "crds") == "Skip":
            continue
        return True
    return False


def _known_to_bring(g: Graph, ks: Obj, group: str) -> bool:
    """Whether ``ks`` installs a chart known to ship CRDs of ``group`` (CRD_BUNDLES, flux.CRD_CHARTS)."""
    from velero_gitops.validate.fluxrules.crd_order import chart_name

    names = (chart_name(g, hr) or "" for hr in _releases(g, ks))
    return any(CRD_BUNDLES.get(n) == group or group in CRD_CHARTS.get(n, ()) for n in names)


def _releases(g: Graph, ks: Obj) -> list[Obj]:
    """The Flux HelmReleases Kustomization ``ks`` applies."""
    return [o for o in g.all if o.kind == "HelmRelease" and _group(o) == "helm" + FLUX_GROUP_SUFFIX
            and o.path is not None and any(k is ks for k in g.applied_by.get(g.real(o.path), []))]


def _rendered(g: Graph, applies: dict[int, list[Obj]], provided: set[str], crds: set[tuple[str, str]],
              deps: _Dependencies, bootstrap: bool, installers: list[Obj]) -> list[Finding]:
    strict = g.run.opts.strict_files
    if not strict or bootstrap:
        return []
    if not any(k.path is not None and g.real(k.path) not in strict for k in g.flux_ks):
        return []  # only the rendered tree here: the provider is outside it
    by_id = {id(k): k for k in g.flux_ks}
    used_by: dict[int, set[str]] = {}  # id(ks) -> the groups its own cluster shows (Graph.same_cluster)
    # a Kustomization whose content is not here (a remote build, another repository) may hold anything
    unseen_builds = {id(k) for k in [*_remote_builds(g), *g.foreign_builds()]}
    out: list[Finding] = []
    for ks, *objs in applies.values():
        mine = [o for o in objs if o.path is not None and g.real(o.path) in strict]
        if not mine or _waits_outside(g, ks):
            continue
        waits, after = deps.of(id(ks)), deps.on(id(ks))
        if id(ks) not in used_by:
            used_by[id(ks)] = shown_groups(g, strict, sees=functools.partial(g.same_cluster, ks)) or set()
        used = used_by[id(ks)]
        for o in mine:
            group = _group(o)
            if (group in provided or group.endswith(FLUX_GROUP_SUFFIX) or (group, o.kind) in crds
                    or o.kind == "CustomResourceDefinition"):
                continue
            if any(by_id[d] in installers and _may_bring(g, by_id[d], group) for d in waits if d in by_id):
                continue  # waits for a chart (or remote build) that may bring it: ordered
            maybe = [k for k in installers if k is not ks and g.applies_beside(ks, k) and g.same_cluster(ks, k) and id(k) not in after
                     and _may_bring(g, k, group)]
            maybe.sort(key=lambda k: not _known_to_bring(g, k, group))  # the one known to bring it named first
            named = some([f"{g.ns_of(k)}/{k.name}" for k in maybe])
            fix = (f"set the config's metrics.dependsOn (or flux.dependsOn) to the Kustomization that installs the "
                   f"{group} CRDs, so that {ks.name} waits for it; if they are installed outside the repository, "
                   f"declare them (check.externals: CustomResourceDefinition/*/{group})")
            if maybe and group not in used and not any(id(k) in unseen_builds for k in maybe):
                out.append(o.finding("", f"{o.kind} ({o.api_version}), rendered by velero-gitops, is applied by Flux "
                                     f"Kustomization {g.ns_of(ks)}/{ks.name}, and nothing in the repository shows the "
                                     f"{group} CRDs: no CustomResourceDefinition, no object of that group applied by "
                                     f"the repository's own Kustomizations, only charts that may or may not bring "
                                     f"them ({named}). Without them the dry-run fails at every retry, {ks.name} is "
                                     "never Ready, and a parent Kustomization with `wait: true` that applies it (and "
                                     "whatever depends on that parent) is blocked too: if the cluster runs no "
                                     "Prometheus Operator, set metrics.enabled: false and render; else " + fix,
                                     RENDERED, "warning"))
            elif maybe:
                out.append(o.finding("", f"{o.kind} ({o.api_version}), rendered by velero-gitops, is applied by Flux "
                                     f"Kustomization {g.ns_of(ks)}/{ks.name}, which waits for nothing that installs "
                                     f"its CRD: it relies on a chart installed by a Kustomization it does not wait for "
                                     f"({named}) bringing the {group} CRDs. If none does, the dry-run fails at every "
                                     f"retry and this object never exists: {fix}", RENDERED, "note"))
            else:
                out.append(o.finding("", f"{o.kind} ({o.api_version}), rendered by velero-gitops, is applied by Flux "
                                     f"Kustomization {g.ns_of(ks)}/{ks.name}, and nothing in the repository installs "
                                     f"its CRD (no CustomResourceDefinition of {group}, no chart that may bring it): "
                                     "the dry-run fails at every retry, the Kustomization never applies, and this "
                                     f"object never exists (no alert fires): {fix}", RENDERED, "error"))
    return out


# Charts that ship a group's CRDs, as evidence that a repository installs them (not as the whole list of what the chart
# brings, which flux.CRD_CHARTS is): the Prometheus Operator's, in the `crds` sub-chart of both
# (prometheus-community/helm-charts@kube-prometheus-stack-88.5.3:charts/kube-prometheus-stack/charts/crds/crds/,
# condition `crds.enabled`; @prometheus-operator-crds-9.0.1:charts/prometheus-operator-crds/charts/crds/templates/).
CRD_BUNDLES = {"kube-prometheus-stack": "monitoring.coreos.com", "prometheus-operator-crds": "monitoring.coreos.com"}


def shown_groups(g: Graph, strict: frozenset[Path] | set[Path] = frozenset(), more: tuple[Obj, ...] | list[Obj] = (),
                 sees: Callable[[Obj], bool] | None = None) -> set[str] | None:
    """The API groups whose CRDs the repository shows it installs, the rendered files (``strict``) aside: a
    CustomResourceDefinition; a custom resource its own Kustomizations apply (its CRDs are on the cluster, or that
    object would never apply either: the same dry-run, fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAll); a
    HelmRelease of a chart of CRD_BUNDLES with its CRDs on. None when a bootstrap helmfile installs charts before Flux
    (any group may come from it). ``more``: objects read besides the graph's (its scan keeps no CRD manifest);
    ``sees``: of one cluster only (ops/wiring.ClusterView.sees, Graph.same_cluster)."""
    from velero_gitops.validate.fluxrules.crd_order import chart_name

    if _bootstrap_charts(g.run.texts):
        return None
    out: set[str] = set()
    for o in [*g.all, *more]:
        if o.path is None or g.real(o.path) in strict or g.dead(o) or not g.applied_by.get(g.real(o.path)):
            continue
        if sees is not None and not sees(o):
            continue
        if o.kind == "CustomResourceDefinition":
            out.add(str(dig(o.data, "spec", "group")))
        elif o.kind == "HelmRelease" and _group(o) == "helm" + FLUX_GROUP_SUFFIX:
            group = CRD_BUNDLES.get(chart_name(g, o) or "")
            if group and dig(o.data, "spec", "values", "crds", "enabled") is not False \
                    and dig(o.data, "spec", "install", "crds") != "Skip":
                out.add(group)
        else:
            out.add(_group(o))
    return out


def _waits_outside(g: Graph, ks: Obj) -> bool:
    """``ks`` dependsOn a Kustomization the repository does not declare (declared outside it: trusted, as
    check.py declares the config's dependsOn external)."""
    names = {(ns, k.name) for k in g.flux_ks for ns in g.namespaces(k)}
    for dep in dig(ks.data, "spec", "dependsOn") or []:
        if isinstance(dep, dict):
            for ns in g.namespaces(ks):
                if (str(dep.get("namespace") or ns), str(dep.get("name"))) not in names:
                    return True
    return False
