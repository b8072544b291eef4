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
postBuild substitution (velero_gitops.varsub) runs on the objects before they are parsed here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from velero_gitops.validate import schemas
from velero_gitops.validate.documents import Obj

FLUX_KS = "kustomize.toolkit.fluxcd.io/"
HELM = "helm.toolkit.fluxcd.io/"
SOURCE = "source.toolkit.fluxcd.io/"
OPERATOR = "fluxcd.controlplane.io/"
REPOSITORY_KINDS = ("GitRepository", "OCIRepository", "Bucket")


def is_kind(obj: Obj, prefix: str, kind: str) -> bool:
    """``obj.kind == kind and obj.api_version.startswith(prefix)``, asked of every object by every pass of the graph:
    read from the mapping, where only a string can equal a kind's name or start with a group."""
    data = obj.data
    av = data.get("apiVersion")
    return data.get("kind") == kind and type(av) is str and av.startswith(prefix)


@dataclass(frozen=True)
class Problem:
    """A field the controller's decoder would refuse: its JSON pointer and what is wrong."""

    pointer: str
    message: str
    # the schema pass reports it (the kind's bundled schema checks this); False: only the model knows (a kind the
    # bundle lacks, a CEL rule of the CRD), and the graph reports it as flux.malformed
    by_schema: bool = True


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
class Selector:
    """A patch's target: fluxcd/pkg@apis/kustomize/v1.19.1:apis/kustomize/kustomize_types.go Selector (the version
    kustomize-controller v1.9.4's go.mod pins), handed to kustomize as kubernetes-sigs/kustomize@kustomize/v5.7.1:
    api/types/selector.go Selector (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go adaptSelector);
    "" selects any. Matching lives in validate.resolve."""

    group: str = ""
    version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    label_selector: str = ""
    annotation_selector: str = ""


@dataclass(frozen=True)
class Patch:
    """One entry of ``spec.patches`` (the same file's Patch: ``patch`` required, ``target`` optional): a
    strategic-merge or JSON 6902 patch as text, and its target (None: a strategic-merge patch names its object)."""

    patch: str | None  # None when absent or no string: the build refuses it, nothing is patched here
    target: Selector | None
    raw: dict[str, Any] = field(compare=False)  # the entry as written, handed to kustomize (it parses it itself)


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
    patches: tuple[Patch, ...] = ()
    name_prefix: str | None = None  # None: not set (the build leaves the kustomization's own)
    name_suffix: str | None = None
    target_namespace_set: bool = False  # written as a string, "" included: the build sets it (GenerateManifest)
    ignore_missing_components: bool = False
    # spec.wait: health-check everything applied, spec.healthChecks ignored; else the objects healthChecks names
    # (kustomize-controller@v1.9.4:api/v1/kustomization_types.go Wait, HealthChecks; default false / none)
    wait: bool = False
    health_checks: tuple[Ref, ...] = ()
    # spec.kubeConfig: (kind, name, key) of the Secret (secretRef) or ConfigMap (configMapRef) giving the cluster the
    # build is applied to, read from the Kustomization's own namespace; None: the controller's own cluster
    # (kustomize-controller@v1.9.4:api/v1/kustomization_types.go KubeConfig, a meta.KubeConfigReference)
    kube_config: tuple[str, str, str] | None = None
    problems: tuple[Problem, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class HelmRelease:
    chart_ref: Ref | None
    chart_source_ref: Ref | None  # spec.chart.spec.sourceRef
    chart_name: str | None  # spec.chart.spec.chart
    depends_on: tuple[tuple[int, Ref], ...]  # kind HelmRelease
    install_crds: str  # spec.install.crds; "" = the controller's default (Create)
    problems: tuple[Problem, ...] = field(default=(), compare=False)


_JSON_TYPE = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
              (dict, "object"))
_SAY = {"string": "a string", "object": "a mapping", "array": "a list", "boolean": "true or false",
        "integer": "an integer", "number": "a number"}


_TYPE_OF: dict[type, str] = {t: name for t, name in _JSON_TYPE}


def json_type(v: object) -> str:
    name = _TYPE_OF.get(type(v))  # the exact type first: this runs for every field the model reads
    return name if name is not None else next((n for t, n in _JSON_TYPE if isinstance(v, t)), "null")


@functools.cache
def _schema(api_version: str, kind: str) -> dict[str, Any] | None:
    """The CRD schema we ship for the kind (validate/bundle): the shapes the API server accepts."""
    return schemas.bundled(api_version, kind)


@functools.cache
def _schema_node(api_version: str, kind: str, ptr: str) -> dict[str, Any] | None:
    """The schema of the field at ``ptr`` (a list index is the list's ``items``)."""
    root = node = _schema(api_version, kind)
    if root is None:
        return None
    for part in [*ptr.strip("/").split("/"), ""]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            node = root.get("definitions", {}).get(node["$ref"].rsplit("/", 1)[-1])
        if not isinstance(node, dict) or not part:
            break
        node = node.get("items") if part.isdigit() else (node.get("properties") or {}).get(part)
    return node if isinstance(node, dict) else None


class Parser:
    """Reads one object's fields, collecting a Problem for each the API server would refuse. The shape and the enum
    of a field come from the kind's CRD schema in the bundle (the same one the schema pass validates with); a kind
    the bundle lacks (flux-operator's) is held to the shape the model reads."""

    def __init__(self, o: Obj | None = None) -> None:
        self.problems: list[Problem] = []
        self.schema = _schema(o.api_version, o.kind) if o is not None else None
        self.kind = (o.api_version, o.kind) if self.schema is not None and o is not None else None

    def problem(self, ptr: str, message: str, cel: bool = False) -> None:
        self.problems.append(Problem(ptr, message, self.schema is not None and not cel))

    def _node(self, ptr: str) -> dict[str, Any] | None:
        if self.kind is None:
            return None
        return _schema_node(*self.kind, ptr)

    def accept(self, v: object, ptr: str, shape: str) -> bool:
        """Whether the API server takes ``v`` at ``ptr``; else one Problem. ``shape``: what the model reads there."""
        node = self._node(ptr)
        t = node.get("type") if node is not None else None
        allowed = set(t if isinstance(t, list) else [t]) - {"null", None} if t is not None else {shape}
        have = json_type(v)
        if have not in allowed and not (have == "integer" and "number" in allowed):
            self.problem(ptr, f"must be {' or '.join(_SAY.get(x, x) for x in sorted(allowed))}, "
                              f"not {_SAY.get(have, have)}")
            return False
        enum = node.get("enum") if node is not None else None
        if isinstance(enum, list) and v not in enum and not (isinstance(v, str) and "${" in v):
            self.problem(ptr, f"must be one of {', '.join(map(str, enum))}")
            return False
        return have == shape

    def mapping(self, node: object, ptr: str) -> dict[str, Any] | None:
        if node is None or not self.accept(node, ptr, "object"):
            return None
        return node  # type: ignore[return-value]

    def string(self, node: dict[str, Any] | None, key: str, ptr: str) -> str | None:
        v = node.get(key) if node is not None else None
        if v is None or not self.accept(v, f"{ptr}/{key}", "string"):
            return None
        return v

    def sequence(self, node: dict[str, Any] | None, key: str, ptr: str) -> list[Any]:
        v = node.get(key) if node is not None else None
        if v is None or not self.accept(v, f"{ptr}/{key}", "array"):
            return []
        return v

    def required(self, node: dict[str, Any] | None, key: str, ptr: str) -> str | None:
        """A required string (``+required``): absent or empty is a Problem too."""
        if node is not None and node.get(key) in (None, ""):
            self.problem(f"{ptr}/{key}", "is required")
            return None
        return self.string(node, key, ptr)

    def items(self, node: dict[str, Any] | None, key: str, ptr: str) -> list[tuple[str, dict[str, Any]]]:
        """(pointer, mapping) of each entry of a list of objects; an entry that is no mapping is a Problem."""
        out = []
        for i, v in enumerate(self.sequence(node, key, ptr)):
            if not isinstance(v, dict):
                self.problem(f"{ptr}/{key}/{i}", "must be a mapping")
                continue
            out.append((f"{ptr}/{key}/{i}", v))
        return out

    def ref(self, node: object, ptr: str, kind: str | None = None) -> Ref | None:
        m = self.mapping(node, ptr)
        if m is None:
            return None
        before = len(self.problems)
        # kind and name are +required (CrossNamespaceSourceReference, CrossNamespaceObjectReference); a
        # DependencyReference has no kind: the holder's own
        written = self.required(m, "kind", ptr) if kind is None else kind
        name = self.required(m, "name", ptr)
        ns = self.string(m, "namespace", ptr)
        if len(self.problems) > before or written is None or name is None:
            return None
        return Ref(written, name, ns or "", bool(ns))

    def depends_on(self, spec: dict[str, Any] | None, kind: str) -> tuple[tuple[int, Ref], ...]:
        out = []
        for i, dep in enumerate(self.sequence(spec, "dependsOn", "/spec")):
            r = self.ref(dep, f"/spec/dependsOn/{i}", kind) if dep is not None else None
            if r is not None:
                out.append((i, r))
        return tuple(out)


def decryption(node: object, p: Parser | None = None, ptr: str = "/spec/decryption") -> Decryption | None:
    """A Decryption from its mapping (the Kustomization's own, or as a parent's patches leave it)."""
    p = p or Parser()
    m = p.mapping(node, ptr)
    if m is None:
        return None
    provider = p.string(m, "provider", ptr)
    ref = p.mapping(m.get("secretRef"), f"{ptr}/secretRef")
    name = p.string(ref, "name", f"{ptr}/secretRef")
    return Decryption(provider or "", name if name is not None and "${" not in name else None)


def post_build(node: object, p: Parser | None = None, ptr: str = "/spec/postBuild") -> PostBuild | None:
    p = p or Parser()
    m = p.mapping(node, ptr)
    if m is None:
        return None
    subst = p.mapping(m.get("substitute"), f"{ptr}/substitute")
    pairs = tuple((str(k), str(v)) for k, v in subst.items()) if subst is not None else ()
    refs: list[SubstituteReference | None] = []
    for i, ref in enumerate(p.sequence(m, "substituteFrom", ptr)):
        at = f"{ptr}/substituteFrom/{i}"
        r = p.mapping(ref, at) if ref is not None else None
        kind, name = (p.required(r, "kind", at), p.required(r, "name", at)) if r is not None else (None, None)
        optional = r.get("optional", False) if r is not None else False
        if r is not None and not p.accept(optional, f"{at}/optional", "boolean"):
            optional = False
        # an entry the API server refuses is None: the controller never gets the object
        refs.append(SubstituteReference(kind, name, optional is True) if kind and name else None)
    strategy = p.string(m, "substituteStrategy", ptr)
    return PostBuild(pairs, tuple(refs), strategy or "WithVariables")


def patches(p: Parser, spec: dict[str, Any] | None) -> tuple[Patch, ...]:
    out = []
    for ptr, m in p.items(spec, "patches", "/spec"):
        text = p.string(m, "patch", ptr)
        target = p.mapping(m.get("target"), f"{ptr}/target")
        sel = None
        if target is not None:
            at = f"{ptr}/target"
            sel = Selector(*(p.string(target, k, at) or "" for k in (
                "group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector")))
        out.append(Patch(text, sel, m))
    return tuple(out)


def kustomization(o: Obj) -> Kustomization:
    p = Parser(o)
    spec = p.mapping(o.data.get("spec"), "/spec")
    path = spec.get("path") if spec is not None else None
    path_ok = path is not None and p.accept(path, "/spec/path", "string")
    comps = [c for i, c in enumerate(p.sequence(spec, "components", "/spec"))
             if p.accept(c, f"/spec/components/{i}", "string")]
    tn = p.string(spec, "targetNamespace", "/spec")
    return Kustomization(
        path=path if path_ok else ("" if path is None else None),
        path_set=path_ok,
        source_ref=p.ref(spec.get("sourceRef") if spec is not None else None, "/spec/sourceRef"),
        depends_on=p.depends_on(spec, "Kustomization"),
        target_namespace=tn or "",
        components=tuple(comps),
        decryption=decryption(spec.get("decryption"), p) if spec is not None else None,
        post_build=post_build(spec.get("postBuild"), p) if spec is not None else None,
        patches=patches(p, spec),
        name_prefix=p.string(spec, "namePrefix", "/spec"),
        name_suffix=p.string(spec, "nameSuffix", "/spec"),
        target_namespace_set=tn is not None,
        ignore_missing_components=spec is not None and spec.get("ignoreMissingComponents") is True,
        wait=spec is not None and spec.get("wait") is True,
        health_checks=tuple(r for i, hc in enumerate(p.sequence(spec, "healthChecks", "/spec"))
                            if (r := p.ref(hc, f"/spec/healthChecks/{i}")) is not None),
        kube_config=_kube_config(p, spec),
        problems=tuple(p.problems))


def _kube_config(p: Parser, spec: dict[str, Any] | None) -> tuple[str, str, str] | None:
    """spec.kubeConfig as (kind, name, key): secretRef (a SecretKeyReference, its key optional) or configMapRef."""
    kc = p.mapping(spec.get("kubeConfig"), "/spec/kubeConfig") if spec is not None else None
    for field_, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
        ref = p.mapping(kc.get(field_), f"/spec/kubeConfig/{field_}") if kc is not None else None
        name = p.string(ref, "name", f"/spec/kubeConfig/{field_}")
        if name:
            return kind, name, p.string(ref, "key", f"/spec/kubeConfig/{field_}") or ""
    return None


def helmrelease(o: Obj) -> HelmRelease:
    p = Parser(o)
    spec = p.mapping(o.data.get("spec"), "/spec")
    chart = p.mapping(spec.get("chart"), "/spec/chart") if spec is not None else None
    cspec = p.mapping(chart.get("spec"), "/spec/chart/spec") if chart is not None else None
    install = p.mapping(spec.get("install"), "/spec/install") if spec is not None else None
    crds = p.string(install, "crds", "/spec/install")
    if spec is not None and spec.get("chart") is not None and spec.get("chartRef") is not None:
        # +kubebuilder:validation:XValidation on HelmReleaseSpec (helm-controller@v1.6.3:api/v2/helmrelease_types.go):
        # "either chart or chartRef must be set", a CEL rule that no OpenAPI schema carries. Neither set is not
        # reported: a parent's patch or a component may add one to the file as written.
        p.problem("/spec/chartRef", "is set together with spec.chart (the CRD's rule: either chart or chartRef must "
                  "be set); keep one", cel=True)
    return HelmRelease(
        chart_ref=p.ref(spec.get("chartRef"), "/spec/chartRef") if spec is not None else None,
        chart_source_ref=p.ref(cspec.get("sourceRef"), "/spec/chart/spec/sourceRef") if cspec is not None else None,
        chart_name=p.string(cspec, "chart", "/spec/chart/spec"),
        depends_on=p.depends_on(spec, "HelmRelease"),
        install_crds=crds or "",
        problems=tuple(p.problems))


def source_url(o: Obj) -> str | None:
    """``spec.url`` of a GitRepository, OCIRepository, Bucket or HelmRepository (None when absent or no string)."""
    spec = o.data.get("spec")
    url = spec.get("url") if isinstance(spec, dict) else None
    return url if isinstance(url, str) else None


def source_revision(o: Obj) -> str:
    """Which revision of its URL a Git or OCI source fetches, as one comparable string; "" when not told. Git:
    commit, then name, semver, tag, branch take precedence in that order, and no ref at all is branch master
    (fluxcd/source-controller@v1.9.1:api/v1/gitrepository_types.go GitRepositoryRef); OCI: digest, semver, tag,
    default tag latest (api/v1/ocirepository_types.go OCIRepositoryRef). Two sources of one URL at different
    revisions fetch different trees."""
    spec = o.data.get("spec")
    r = spec.get("ref") if isinstance(spec, dict) else None
    r = r if isinstance(r, dict) else {}

    def at(key: str) -> str:
        v = r.get(key)
        return v if isinstance(v, str) and v else ""

    if o.kind == "GitRepository":
        for key, form in (("commit", "commit:{}"), ("name", "{}"), ("semver", "semver:{}"), ("tag", "refs/tags/{}"),
                          ("branch", "refs/heads/{}")):
            if at(key):
                return form.format(at(key))
        return "refs/heads/master"
    if o.kind == "OCIRepository":
        for key, form in (("digest", "digest:{}"), ("semver", "semver:{}"), ("tag", "tag:{}")):
            if at(key):
                return form.format(at(key))
        return "tag:latest"
    return ""


def ref(node: object, kind: str | None = None, holder: Obj | None = None, ptr: str = "") -> Ref | None:
    """A reference from a mapping assembled elsewhere (a sourceRef after a parent's patches), checked against
    ``holder``'s schema at ``ptr``."""
    return Parser(holder).ref(node, ptr, kind)


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
    p = Parser(o)
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
            p.problem("/spec/sync/kind", f"must be one of {', '.join(SYNC_KINDS)}")
        url, ref = p.required(node, "url", "/spec/sync"), p.required(node, "ref", "/spec/sync")
        path = p.required(node, "path", "/spec/sync")
        name = p.string(node, "name", "/spec/sync")
        interval = p.string(node, "interval", "/spec/sync")
        if interval is not None and not DURATION.match(interval):
            p.problem("/spec/sync/interval", "must be a duration such as 1m or 1h30m")
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
    p = Parser(o)
    spec = p.mapping(o.data.get("spec"), "/spec")

    deps = []
    for ptr, m in p.items(spec, "dependsOn", "/spec"):
        av, kind, name = p.required(m, "apiVersion", ptr), p.required(m, "kind", ptr), p.required(m, "name", ptr)
        ns = p.string(m, "namespace", ptr)
        ready = m.get("ready", False)
        if not isinstance(ready, bool):
            p.problem(f"{ptr}/ready", "must be true or false")
        if av and kind and name:
            deps.append(Dependency(av, kind, name, ns or "", ready is True))

    def mappings(key: str) -> tuple[dict[str, Any], ...]:
        return tuple(m for _, m in p.items(spec, key, "/spec"))

    return ResourceSet(mappings("inputs"), mappings("inputsFrom"), mappings("resources"),
                       p.string(spec, "resourcesTemplate", "/spec") or "", tuple(deps), tuple(p.problems))


# The chart flux-operator ships to declare a FluxInstance through Helm: its one template renders the FluxInstance from
# ``.Values.instance`` (controlplaneio-fluxcd/charts@cf746d9:charts/flux-instance/templates/instance.yaml, chart 0.49.0
# for flux-operator v0.5x): named like the release's fullname (templates/_helpers.tpl "flux-instance.fullname"), in
# the release namespace, with ``spec.sync`` only when ``instance.sync.url`` is set; the chart's values.yaml defaults
# sync.kind to GitRepository and sync.interval to 1m.
INSTANCE_CHART = "flux-instance"


def release_name(o: Obj) -> str:
    """helm-controller@v1.6.3:api/v2/helmrelease_types.go GetReleaseName: spec.releaseName, else
    ``[<targetNamespace>-]<name>`` (shortened with a hash past 53 characters, which a name here never reaches)."""
    spec = o.data.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    rn, tn = spec.get("releaseName"), spec.get("targetNamespace")
    if isinstance(rn, str) and rn:
        return rn
    return f"{tn}-{o.name}" if isinstance(tn, str) and tn else o.name


def instance_of_release(o: Obj, chart: str, values: dict[str, Any] | None = None) -> Obj | None:
    """The FluxInstance that HelmRelease ``o`` of chart ``chart`` (its name, as the chart source gives it) renders, as
    an object of its file; None for another chart, or when the values are not the shape the chart reads. ``values``:
    what helm-controller installs it with (validate/helmvalues.py: valuesFrom, then spec.values); the inline
    ``spec.values`` when not given."""
    if chart != INSTANCE_CHART or not is_kind(o, HELM, "HelmRelease"):
        return None
    spec = o.data.get("spec")
    if values is None:
        values = spec.get("values") if isinstance(spec, dict) else None
    inst = values.get("instance") if isinstance(values, dict) else None
    if not isinstance(spec, dict) or not isinstance(values, dict) or not isinstance(inst, dict):
        return None
    sync = inst.get("sync")
    rel = release_name(o)
    full = values.get("fullnameOverride") or (rel if (values.get("nameOverride") or chart) in rel
                                              else f"{rel}-{values.get('nameOverride') or chart}")
    tn = spec.get("targetNamespace") if isinstance(spec, dict) else None
    ns = tn if isinstance(tn, str) and tn else (o.namespace or "flux-system")
    data: dict[str, Any] = {"apiVersion": OPERATOR + "v1", "kind": "FluxInstance",
                            "metadata": {"name": str(full)[:63].rstrip("-"), "namespace": ns},
                            "spec": {"distribution": inst.get("distribution") or {}}}
    if isinstance(sync, dict) and sync.get("url"):
        data["spec"]["sync"] = {"kind": "GitRepository", "interval": "1m",
                                **{k: v for k, v in sync.items() if v not in (None, "")}}
    return Obj(o.file, o.path, o.index, data, o.line, o.encrypted, eff_ns=ns)
