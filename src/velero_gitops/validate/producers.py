"""What makes the names the controllers look up: the one table of name producers.

An object that the repository declares exists under its own kind and name. Some objects also make others, and
a lookup (a decryption ``secretRef``, a ``chartRef``, a ``sourceRef``) may name what they make. The table below
says which kinds make which names; the Flux graph's index and the repository scan (which files hold facts the
lookups need) are both driven by it, so a producer added here is found wherever the lookup happens to be.

Generators inside a kustomization (``secretGenerator``/``configMapGenerator``) are producers too; they are not
objects, so the kustomization reader reports them through :func:`generated`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from velero_gitops.validate import fluxmodel
from velero_gitops.validate.documents import Obj, dig

# the kinds whose objects the Flux lookups name directly (kept by the repository scan)
LOOKED_UP = ("Kustomization", "HelmRelease", "GitRepository", "OCIRepository", "HelmRepository", "Bucket",
             "HelmChart", "ExternalArtifact", "Secret", "ConfigMap")


def _str(v: object) -> str:
    return v if isinstance(v, str) else ""


@dataclass(frozen=True)
class Producer:
    kind: str
    group: str  # API group of the producer ("" = any; the kind is unambiguous)
    made: Callable[[Obj, str], list[tuple[str, str]]]  # (producer object, its namespace) -> [(kind, name)]
    source: str  # where the controller decides it


def _external_secret(o: Obj, _ns: str) -> list[tuple[str, str]]:
    name = _str(dig(o.data, "spec", "target", "name")) or o.name
    return [("Secret", name)] if name else []


def _sealed_secret(o: Obj, _ns: str) -> list[tuple[str, str]]:
    return [("Secret", o.name)] if o.name else []


def _flux_instance(o: Obj, ns: str) -> list[tuple[str, str]]:
    sync = fluxmodel.flux_instance(o, ns).sync
    # the operator makes the source and the root Kustomization, both named like the sync
    return [(sync.kind, sync.name), ("Kustomization", sync.name)] if sync is not None else []


def _artifact_generator(o: Obj, _ns: str) -> list[tuple[str, str]]:
    arts = dig(o.data, "spec", "artifacts")
    return [("ExternalArtifact", a["name"]) for a in arts if isinstance(a, dict) and isinstance(a.get("name"), str)] \
        if isinstance(arts, list) else []


PRODUCERS = (
    Producer("ExternalSecret", "external-secrets.io", _external_secret,
             "external-secrets/external-secrets@v2.9.0:apis/externalsecrets/v1/externalsecret_types.go "
             "(ExternalSecretTarget.Name defaults to the ExternalSecret's name)"),
    Producer("SealedSecret", "bitnami.com", _sealed_secret,
             "bitnami-labs/sealed-secrets@v0.36.6:pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go "
             "(Unseal names the Secret after the SealedSecret, in its namespace)"),
    Producer("FluxInstance", "fluxcd.controlplane.io", _flux_instance,
             "controlplaneio-fluxcd/flux-operator@v0.58.1:internal/controller/fluxinstance_controller.go "
             "(the sync source and Kustomization, named after the instance's namespace unless sync.name is set)"),
    Producer("ArtifactGenerator", "", _artifact_generator, "fluxcd/source-watcher: spec.artifacts[].name"),
)

_BY_KIND = {p.kind: p for p in PRODUCERS}
# the repository scan keeps a file that declares one of these kinds
# (and one of a custom resource's group that nothing here models: it may make a Secret, maybe_made)
SCAN_KIND = re.compile(r"^kind:\s*['\"]?(" + "|".join(sorted({*LOOKED_UP, "FluxInstance", *_BY_KIND})) + r")\b"
                       r"|^apiVersion:\s*['\"]?(?![^/\s]*\.(?:k8s\.io|toolkit\.fluxcd\.io)/)[a-z0-9-]+\.[a-z0-9.-]+/", re.M)


def made_by(o: Obj, ns: str) -> list[tuple[str, str]]:
    """[(kind, name)] that object ``o``, living in namespace ``ns``, makes (besides itself): what the table says, or
    for a custom resource whose controller nothing here models, the Secrets it may make (:func:`maybe_made`)."""
    p = _BY_KIND.get(o.kind)
    if p is None or (p.group and not o.api_version.startswith(p.group + "/")):
        return maybe_made(o) if p is None else []
    return p.made(o, ns)


def modelled(api_version: str) -> bool:
    """Whether the API group's objects make nothing beyond what this module knows. Kubernetes' own groups (the core
    group, a group without a dot, ``*.k8s.io``: the suffix Kubernetes reserves for the APIs it approves,
    kubernetes/enhancements KEP-2337) and Flux's (``*.toolkit.fluxcd.io``, whose controllers read Secrets and create
    none) make no named Secret; the table's kinds make what it says."""
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return "." not in group or group.endswith((".k8s.io", ".toolkit.fluxcd.io"))


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # a Secret's name: a DNS-1123 subdomain


def maybe_made(o: Obj) -> list[tuple[str, str]]:
    """The Secrets a custom resource of a group nothing here models (an InfisicalSecret, a VaultStaticSecret, a
    OnePasswordItem, a cert-manager Certificate...) may make in its namespace. Its controller can only learn a name
    from the object: a value of its spec (``managedKubeSecretReferences[].secretName``, ``destination.name``,
    ``secretName``) or its own name. So each such value is a Secret it may make: a lookup of that name is not
    "missing", and a name the object does not hold is still looked for elsewhere. A name an operator derives
    (``<cluster>-app``) is not seen: declare it with --external."""
    if modelled(o.api_version) or not o.kind:
        return []
    out = [("Secret", o.name)] if _NAME.match(o.name) else []
    stack: list[object] = [v for k, v in o.data.items() if k not in ("apiVersion", "kind", "metadata", "status")]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and _NAME.match(v) and ("Secret", v) not in out:
            out.append(("Secret", v))
    return out


# Operators that copy a Secret or ConfigMap into other namespaces, told so by the object's own annotations: the copy
# has the source's name, so a lookup in such a namespace finds it.
_REFLECTOR = "reflector.v1.k8s.emberstack.com/"  # emberstack/kubernetes-reflector@v10.0.63:src/ES.Kubernetes.Reflector/Mirroring/Core/Annotations.cs
_REPLICATOR = "replicator.v1.mittwald.de/"  # mittwald/kubernetes-replicator@v2.12.4:replicate/common/consts.go


def _yes(v: object) -> bool:
    """.NET bool.TryParse, as the reflector reads its annotations: "true" in any case, blanks around it."""
    return isinstance(v, str) and v.strip().lower() == "true"


def _namespaces(patterns: object, selector: object = "") -> Callable[[str], bool]:
    """Whether a namespace is one of a comma-separated list of patterns, each matching the whole name (reflector's
    PatternListMatch: the match must cover the value; replicator's BuildStrictRegex anchors it). No list, or a label
    selector (namespace labels are the cluster's, not Git's), or a pattern RE2 cannot read: any namespace may be."""
    from velero_gitops import goregexp

    text = patterns if isinstance(patterns, str) else ""
    parts = [x.strip() for x in text.split(",") if x.strip()]
    if not parts or (isinstance(selector, str) and selector.strip()):
        return lambda _ns: True
    try:  # linear time: the patterns are the pull request's
        compiled = [goregexp.linear(f"^(?:{x})$") for x in parts]
    except Exception:  # noqa: BLE001 - re2.error: a syntax RE2 lacks (.NET lookaround); unknown, so any
        return lambda _ns: True
    return lambda ns: any(c.search(ns) for c in compiled)


def copied_into(o: Obj) -> Callable[[str], bool] | None:
    """The namespaces an operator copies Secret or ConfigMap ``o`` into (a predicate), or None when none does:

    * the reflector's automatic mirrors: ``reflection-allowed`` and ``reflection-auto-enabled`` true, into the
      namespaces both ``reflection-allowed-namespaces`` and ``reflection-auto-namespaces`` admit (names or their
      ``-selector``s; each unset admits all): MirroringPropertiesExtensions.cs CanBeAutoReflectedToNamespace;
    * the replicator's push: ``replicate-to`` patterns, or ``replicate-to-matching`` namespace labels
      (replicate/common/generic-replicator.go getNamespacesToReplicate)."""
    if o.kind not in ("Secret", "ConfigMap") or o.api_version != "v1":
        return None
    ann = dig(o.data, "metadata", "annotations")
    if not isinstance(ann, dict):
        return None
    tests: list[Callable[[str], bool]] = []
    if _yes(ann.get(_REFLECTOR + "reflection-allowed")) and _yes(ann.get(_REFLECTOR + "reflection-auto-enabled")):
        allowed = _namespaces(ann.get(_REFLECTOR + "reflection-allowed-namespaces"),
                              ann.get(_REFLECTOR + "reflection-allowed-namespaces-selector"))
        auto = _namespaces(ann.get(_REFLECTOR + "reflection-auto-namespaces"),
                           ann.get(_REFLECTOR + "reflection-auto-namespaces-selector"))
        tests.append(lambda ns: allowed(ns) and auto(ns))
    to = ann.get(_REPLICATOR + "replicate-to")
    if isinstance(to, str) and to.strip():
        tests.append(_namespaces(to))
    matching = ann.get(_REPLICATOR + "replicate-to-matching")
    if isinstance(matching, str) and matching.strip():
        tests.append(lambda _ns: True)
    if not tests:
        return None
    return lambda ns: any(t(ns) for t in tests)


def generated(k: dict) -> list[tuple[str, str]]:
    """[(kind, name)] that a kustomization's generators make under a name another object can look up: kustomize
    appends a content hash unless ``disableNameSuffixHash`` is set, globally or per generator
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/generatoroptions.go), and a hashed name is only
    rewritten in the objects of the same build."""
    glob = dig(k, "generatorOptions", "disableNameSuffixHash") is True
    out = []
    for field, kind in (("secretGenerator", "Secret"), ("configMapGenerator", "ConfigMap")):
        gens = k.get(field)
        for g in gens if isinstance(gens, list) else []:
            if not isinstance(g, dict) or not isinstance(g.get("name"), str):
                continue
            opt = dig(g, "options", "disableNameSuffixHash")
            if opt is True or (glob and opt is not False):
                out.append((kind, g["name"]))
    return out
