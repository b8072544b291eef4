"""The Flux objects as typed values, parsed once from the generic ``Obj``: the fields the graph and the rules read.

Each type follows the controller's API type at the tags we target, and each default is the controller's:

* Kustomization: fluxcd/kustomize-controller@v1.9.4:api/v1/kustomization_types.go (KustomizationSpec, Decryption,
  PostBuild, SubstituteReference) and api/v1/reference_types.go (CrossNamespaceSourceReference);
* HelmRelease: fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go (ChartRef, Chart.Spec.SourceRef, DependsOn,
  Install.CRDs);
* sources: fluxcd/source-controller@v1.9.0:api/v1 (GitRepository, OCIRepository, Bucket: ``spec.url``);
* FluxInstance: controlplaneio-fluxcd/flux-operator@v0.58.1:api/v1/fluxinstance_types.go (Distribution.Version,
  Sync), and the sync Kustomization it becomes: internal/builder/templates.go (syncTmpl);
* ResourceSet: controlplaneio-fluxcd/flux-operator@v0.58.1:api/v1/resourceset_types.go (Inputs, InputsFrom,
  Resources, ResourcesTemplate, DependsOn).

A field of the wrong type is one located ``Problem`` (the schema pass reports it to the user, at its line) and its
typed value is absent: the rules never see a half-typed value. A value still holding ``${...}`` is kept as written:
postBuild substitution (validate.varsub) runs on the objects before they are parsed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from velero_gitops.validate.documents import Obj

FLUX_KS = "kustomize.toolkit.fluxcd.io/"
HELM = "helm.toolkit.fluxcd.io/"
SOURCE = "source.toolkit.fluxcd.io/"
OPERATOR = "fluxcd.controlplane.io/"
REPOSITORY_KINDS = ("GitRepository", "OCIRepository", "Bucket")


def is_kind(obj: Obj, prefix: str, kind: str) -> bool:
    return obj.kind == kind and obj.api_version.startswith(prefix)


@dataclass(frozen=True)
class Problem:
    """A field the controller's decoder would refuse: its JSON pointer and what is wrong."""

    pointer: str
    message: str


@dataclass(frozen=True)
class Ref:
    """A CrossNamespaceSourceReference or a DependencyReference; ``namespace`` "" means the holder's own (both
    controllers default it so: kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go
    getSource, helm-controller@v1.6.3:internal/controller/helmrelease_controller.go getSource)."""

    kind: str
    name: str
    namespace: str = ""
    explicit_namespace: bool = False  # written in the reference (the message's advice differs)

    @property
    def substituted(self) -> bool:
        """Its name is still a ``${...}`` expression: known only per applying Kustomization."""
        return "${" in self.name


@dataclass(frozen=True)
class Decryption:
    """Decryption: ``provider`` is required; ``secretRef`` is a LocalObjectReference (read from the Kustomization's
    own namespace); without it the controller-wide ``--sops-age-secret`` key is used."""

    provider: str
    secret_ref: str | None  # the name, None when absent or still ${...}


@dataclass(frozen=True)
class SubstituteReference:
    kind: str
    name: str
    optional: bool = False  # +kubebuilder:default:=false


@dataclass(frozen=True)
class PostBuild:
    substitute: tuple[tuple[str, str], ...] = ()
    substitute_from: tuple[SubstituteReference | None, ...] = ()  # None: an entry that is no mapping
    strategy: str = "WithVariables"  # SubstituteStrategyWithVariables, the default


@dataclass(frozen=True)
class Kustomization:
    """What the rules read of a Flux Kustomization's spec."""

    path: str | None  # spec.path; "" when absent (the source's root), None when malformed
    path_set: bool  # written in the object
    source_ref: Ref | None  # required by the API: None when absent or malformed
    depends_on: tuple[tuple[int, Ref], ...]  # (index in the list, reference); kind Kustomization
    target_namespace: str  # "" = none
    components: tuple[str, ...]
    decryption: Decryption | None
    post_build: PostBuild | None
    problems: tuple[Problem, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class HelmRelease:
    chart_ref: Ref | None
    chart_source_ref: Ref | None  # spec.chart.spec.sourceRef
    chart_name: str | None  # spec.chart.spec.chart
    depends_on: tuple[tuple[int, Ref], ...]  # kind HelmRelease
    install_crds: str  # spec.install.crds; "" = the controller's default (Create)
    problems: tuple[Problem, ...] = field(default=(), compare=False)


class _Parser:
    """Reads one object's fields, collecting a Problem for each of the wrong type."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def mapping(self, node: object, ptr: str) -> dict[str, Any] | None:
        if node is None:
            return None
        if not isinstance(node, dict):
            self.problems.append(Problem(ptr, "must be a mapping"))
            return None
        return node

    def string(self, node: dict[str, Any] | None, key: str, ptr: str) -> str | None:
        v = node.get(key) if node is not None else None
        if v is None:
            return None
        if not isinstance(v, str):
            self.problems.append(Problem(f"{ptr}/{key}", "must be a string"))
            return None
        return v

    def sequence(self, node: dict[str, Any] | None, key: str, ptr: str) -> list[Any]:
        v = node.get(key) if node is not None else None
        if v is None:
            return []
        if not isinstance(v, list):
            self.problems.append(Problem(f"{ptr}/{key}", "must be a list"))
            return []
        return v

    def required(self, node: dict[str, Any] | None, key: str, ptr: str) -> str | None:
        """A required string (``+required``): absent or empty is a Problem too."""
        if node is not None and node.get(key) in (None, ""):
            self.problems.append(Problem(f"{ptr}/{key}", "is required"))
            return None
        return self.string(node, key, ptr)

    def items(self, node: dict[str, Any] | None, key: str, ptr: str) -> list[tuple[str, dict[str, Any]]]:
        """(pointer, mapping) of each entry of a list of objects; an entry that is no mapping is a Problem."""
        out = []
        for i, v in enumerate(self.sequence(node, key, ptr)):
            if not isinstance(v, dict):
                self.problems.append(Problem(f"{ptr}/{key}/{i}", "must be a mapping"))
                continue
            out.append((f"{ptr}/{key}/{i}", v))
        return out

    def ref(self, node: object, ptr: str, kind: str | None = None) -> Ref | None:
        m = self.mapping(node, ptr)
        if m is None:
            return None
        name = self.string(m, "name", ptr)
        ns = self.string(m, "namespace", ptr)
        if name is None:
            return None
        return Ref(kind if kind is not None else str(m.get("kind", "")), name, ns or "", bool(m.get("namespace")))

    def depends_on(self, spec: dict[str, Any] | None, kind: str) -> tuple[tuple[int, Ref], ...]:
        out = []
        for i, dep in enumerate(self.sequence(spec, "dependsOn", "/spec")):
            if isinstance(dep, dict):
                r = self.ref(dep, f"/spec/dependsOn/{i}", kind)
                if r is not None:
                    out.append((i, r))
        return tuple(out)


def decryption(node: object) -> Decryption | None:
    """A Decryption from its mapping (the Kustomization's own, or as a parent's patches leave it)."""
    if not isinstance(node, dict):
        return None
    ref = node.get("secretRef")
    name = ref.get("name") if isinstance(ref, dict) else None
    return Decryption(str(node.get("provider", "")), name if isinstance(name, str) and "${" not in name else None)


def post_build(node: object) -> PostBuild | None:
    if not isinstance(node, dict):
        return None
    subst = node.get("substitute")
    pairs = tuple((str(k), str(v)) for k, v in subst.items()) if isinstance(subst, dict) else ()
    refs: list[SubstituteReference | None] = []
    for ref in node.get("substituteFrom") or []:  # a mapping or a string here is iterated as the old code did
        refs.append(SubstituteReference(str(ref.get("kind")), str(ref.get("name")), bool(ref.get("optional")))
                    if isinstance(ref, dict) else None)
    strategy = node.get("substituteStrategy")
    return PostBuild(pairs, tuple(refs), strategy if isinstance(strategy, str) and strategy else "WithVariables")


def kustomization(o: Obj) -> Kustomization:
    p = _Parser()
    spec = p.mapping(o.data.get("spec"), "/spec")
    path = spec.get("path") if spec is not None else None
    if path is not None and not isinstance(path, str):
        p.problems.append(Problem("/spec/path", "must be a string"))
    comps = [c for c in p.sequence(spec, "components", "/spec") if isinstance(c, str)]
    tn = p.string(spec, "targetNamespace", "/spec")
    return Kustomization(
        path=("" if path is None else path) if path is None or isinstance(path, str) else None,
        path_set=isinstance(path, str),
        source_ref=p.ref(spec.get("sourceRef") if spec is not None else None, "/spec/sourceRef"),
        depends_on=p.depends_on(spec, "Kustomization"),
        target_namespace=tn or "",
        components=tuple(comps),
        decryption=decryption(spec.get("decryption")) if spec is not None else None,
        post_build=post_build(spec.get("postBuild")) if spec is not None else None,
        problems=tuple(p.problems))


def helmrelease(o: Obj) -> HelmRelease:
    p = _Parser()
    spec = p.mapping(o.data.get("spec"), "/spec")
    chart = p.mapping(spec.get("chart"), "/spec/chart") if spec is not None else None
    cspec = p.mapping(chart.get("spec"), "/spec/chart/spec") if chart is not None else None
    install = p.mapping(spec.get("install"), "/spec/install") if spec is not None else None
    crds = install.get("crds") if install is not None else None
    return HelmRelease(
        chart_ref=p.ref(spec.get("chartRef"), "/spec/chartRef") if spec is not None else None,
        chart_source_ref=p.ref(cspec.get("sourceRef"), "/spec/chart/spec/sourceRef") if cspec is not None else None,
        chart_name=p.string(cspec, "chart", "/spec/chart/spec"),
        depends_on=p.depends_on(spec, "HelmRelease"),
        install_crds=crds if isinstance(crds, str) else "",
        problems=tuple(p.problems))


def source_url(o: Obj) -> str | None:
    """``spec.url`` of a GitRepository, OCIRepository, Bucket or HelmRepository (None when absent or no string)."""
    spec = o.data.get("spec")
    url = spec.get("url") if isinstance(spec, dict) else None
    return url if isinstance(url, str) else None


def ref(node: object, kind: str | None = None) -> Ref | None:
    """A reference from a mapping assembled elsewhere (a sourceRef after a parent's patches)."""
    return _Parser().ref(node, "", kind)


# --------------------------------------------------------------------------------------------------
# flux-operator


@dataclass(frozen=True)
class Sync:
    """FluxInstance ``spec.sync`` (flux-operator@v0.58.1:api/v1/fluxinstance_types.go Sync): kind, url, ref and path
    are ``+required``; name defaults to the instance's namespace (internal/controller/fluxinstance_controller.go
    build: ``syncName := obj.GetNamespace()`` unless ``Sync.Name`` is set); interval defaults to 1m."""

    kind: str  # +kubebuilder:validation:Enum=OCIRepository;GitRepository;Bucket
    name: str
    url: str
    ref: str
    path: str
    interval: str = "1m"
    pull_secret: str = ""
    provider: str = ""


SYNC_KINDS = ("OCIRepository", "GitRepository", "Bucket")


@dataclass(frozen=True)
class FluxInstance:
    namespace: str
    name: str
    version: str | None  # spec.distribution.version (required by the API; a semver range such as "2.x")
    sync: Sync | None  # None: no sync, or one the API server would refuse (its Problem says why)
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    def sync_kustomization(self) -> dict[str, Any] | None:
        """The Kustomization the operator creates for the sync (internal/builder/templates.go syncTmpl): named like
        the sync, in the instance's namespace, pruning, reading the sync source at ``sync.path``."""
        s = self.sync
        if s is None:
            return None
        return {"apiVersion": FLUX_KS + "v1", "kind": "Kustomization",
                "metadata": {"name": s.name, "namespace": self.namespace},
                "spec": {"interval": "10m0s", "path": s.path, "prune": True,
                         "sourceRef": {"kind": s.kind, "name": s.name}}}


def flux_instance(o: Obj, namespace: str = "") -> FluxInstance:
    """``namespace``: the one the instance has after the build that applies it (default: its metadata's, else
    flux-system, where flux-operator's install puts it)."""
    p = _Parser()
    meta = o.data.get("metadata")
    ns = namespace or (meta.get("namespace") if isinstance(meta, dict) else None)
    ns = ns if isinstance(ns, str) and ns else "flux-system"
    spec = p.mapping(o.data.get("spec"), "/spec")
    dist = p.mapping(spec.get("distribution"), "/spec/distribution") if spec is not None else None
    version = p.string(dist, "version", "/spec/distribution")
    node = p.mapping(spec.get("sync"), "/spec/sync") if spec is not None else None
    sync = None
    if node is not None:
        before = len(p.problems)
        kind = p.required(node, "kind", "/spec/sync")
        if kind is not None and kind not in SYNC_KINDS:
            p.problems.append(Problem("/spec/sync/kind", f"must be one of {', '.join(SYNC_KINDS)}"))
        url, ref = p.required(node, "url", "/spec/sync"), p.required(node, "ref", "/spec/sync")
        path = p.required(node, "path", "/spec/sync")
        name = p.string(node, "name", "/spec/sync")
        interval = p.string(node, "interval", "/spec/sync")
        if interval is not None and not DURATION.match(interval):
            p.problems.append(Problem("/spec/sync/interval", "must be a duration such as 1m or 1h30m"))
        secret, provider = p.string(node, "pullSecret", "/spec/sync"), p.string(node, "provider", "/spec/sync")
        if len(p.problems) == before and kind and url and ref and path:
            sync = Sync(kind, name or ns, url, ref, path, interval or "1m", secret or "", provider or "")
    return FluxInstance(ns, o.name, version, sync, tuple(p.problems))


# +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$" on every metav1.Duration the operator reads
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")


@dataclass(frozen=True)
class Dependency:
    """ResourceSet ``spec.dependsOn[]`` (resourceset_types.go Dependency): apiVersion, kind and name required."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""  # "" = cluster-scoped or the ResourceSet's own
    ready: bool = False


@dataclass(frozen=True)
class ResourceSet:
    inputs: tuple[dict[str, Any], ...]
    inputs_from: tuple[dict[str, Any], ...]
    resources: tuple[dict[str, Any], ...]  # each an apiextensionsv1.JSON object (a template, rendered per input)
    resources_template: str
    depends_on: tuple[Dependency, ...]
    problems: tuple[Problem, ...] = field(default=(), compare=False)


def resource_set(o: Obj) -> ResourceSet:
    p = _Parser()
    spec = p.mapping(o.data.get("spec"), "/spec")

    deps = []
    for ptr, m in p.items(spec, "dependsOn", "/spec"):
        av, kind, name = p.required(m, "apiVersion", ptr), p.required(m, "kind", ptr), p.required(m, "name", ptr)
        ns = p.string(m, "namespace", ptr)
        ready = m.get("ready", False)
        if not isinstance(ready, bool):
            p.problems.append(Problem(f"{ptr}/ready", "must be true or false"))
        if av and kind and name:
            deps.append(Dependency(av, kind, name, ns or "", ready is True))

    def mappings(key: str) -> tuple[dict[str, Any], ...]:
        return tuple(m for _, m in p.items(spec, key, "/spec"))

    return ResourceSet(mappings("inputs"), mappings("inputsFrom"), mappings("resources"),
                       p.string(spec, "resourcesTemplate", "/spec") or "", tuple(deps), tuple(p.problems))
