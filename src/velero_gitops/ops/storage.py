"""Which Flux Kustomizations of the repository install the StorageClasses the backed-up volumes need.

A restore on a new cluster brings the PVCs back, never their StorageClass: the backup keeps a bound PVC with its
``storageClassName`` and drops its selector so that it is provisioned again
(vmware-tanzu/velero@v1.18.1:pkg/backup/actions/backup_pv_action.go PVCAction.Execute), and a PV whose data is in a
pod volume backup is not restored but re-provisioned (pkg/restore/restore.go). Until something installs the class
and its provisioner the PVC stays Pending, the pod Velero creates never schedules, and the pod volume restore gives up
after ten minutes (pkg/podvolume/restorer.go RestorePodVolumes: "Restoring pod is not scheduled until timeout").
So the disaster-recovery order must apply those Kustomizations before the restore: ``flux.dependsOn``.

Facts come from what the repository applies (validate/flux.py's Graph: which Flux Kustomization applies which file,
into which namespace), never from names:

* a Kustomization *installs* class X when its build applies ``StorageClass`` X, or a HelmRelease whose values name
  the class the chart makes: a ``name`` inside a mapping whose key says class (``hostpathClass: {name: X}``,
  ``storageClass: {name: X}``, ``storageClasses: [{name: X}]``), as provisioner charts take it;
* a namespace *uses* class X when an object applied into it names it in a field whose key says storage class
  (``spec.storageClassName`` of a PVC, a volumeClaimTemplate, a HelmRelease's ``persistence...storageClass``);
  ``""`` is a pre-bound volume (no class: skipped), ``${VAR:=X}`` uses X.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from velero_gitops.rules import define

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig

UNORDERED = define("flux.storage-not-ordered", "warning", "the backed-up namespaces use a StorageClass that a Flux "
                   "Kustomization of the repository installs, and `flux.dependsOn` does not order it before Velero: "
                   "a disaster-recovery restore provisions no volume and restores no data", needs_config=True)

HOSTPATH = define("policy.hostpath-volumes", "warning", "the backed-up namespaces use a StorageClass whose "
                  "provisioner makes hostPath PersistentVolumes (rancher local-path's default), which the node-agent "
                  "skips: their data is never backed up", needs_config=True)

# rancher/local-path-provisioner@v0.0.37:provisioner.go: the provisioner's name, the StorageClass annotation that sets
# the volume type of its new PVs, and its default (a PVC's `volumeType` annotation overrides it per claim)
LOCAL_PATH_PROVISIONER, VOLUME_TYPE_ANNOTATION, DEFAULT_VOLUME_TYPE = "rancher.io/local-path", "defaultVolumeType", "hostPath"

_CLASS_KEY = re.compile(r"class(es)?$", re.I)  # a key that holds a class definition: hostpathClass, storageClasses
_USES_KEY = re.compile(r"storageclass(name)?$", re.I)  # a key that names the class a volume is provisioned from
_VAR_DEFAULT = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?[-=]([^}]*)\}$")  # ${VAR:=default}: fluxcd/pkg envsubst


@dataclass(frozen=True)
class Installer:
    namespace: str
    name: str
    file: Path | None  # the file that declares the Flux Kustomization
    via: str  # "StorageClass <file>" or "HelmRelease ns/name"

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Storage:
    installers: dict[str, list[Installer]] = field(default_factory=dict)  # class -> what installs it
    used: dict[str, dict[str, str]] = field(default_factory=dict)  # namespace -> {class: where it is named}
    depends: dict[str, list[str]] = field(default_factory=dict)  # "ns/name" of a Flux Kustomization -> its dependsOn
    hostpath: dict[str, str] = field(default_factory=dict)  # class whose new PVs are hostPath -> where it is defined

    def needed(self, namespaces: list[str]) -> dict[str, str]:
        """{class: where} used by the backed-up namespaces ("*": all)."""
        out: dict[str, str] = {}
        for ns, classes in sorted(self.used.items()):
            if any(fnmatch.fnmatchcase(ns, pat) for pat in namespaces):  # names or globs, as schedules take them
                for c, where in classes.items():
                    out.setdefault(c, where)
        return out

    def ordered(self, refs: list[str]) -> set[str]:
        """The Flux Kustomizations ``refs`` and what they depend on, transitively: what the DR order applies."""
        seen: set[str] = set()
        todo = list(refs)
        while todo:
            r = todo.pop()
            if r not in seen:
                seen.add(r)
                todo += self.depends.get(r, [])
        return seen


def _str_value(v: object) -> str | None:
    if not isinstance(v, str) or not v:
        return None
    m = _VAR_DEFAULT.match(v)
    if m:
        return m.group(1) or None
    return None if "${" in v else v


def _defined_classes(values: object, key: str = "") -> list[str]:
    """Class names a chart's values define: ``name`` of a mapping under a key that says class."""
    out: list[str] = []
    if isinstance(values, dict):
        if _CLASS_KEY.search(key):
            n = _str_value(values.get("name"))
            if n:
                out.append(n)
        for k, v in values.items():
            out += _defined_classes(v, str(k))
    elif isinstance(values, list):
        for v in values:
            out += _defined_classes(v, key)
    return out


def _used_classes(node: object) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            name = _str_value(v) if _USES_KEY.search(str(k)) else None
            if name:
                out.append(name)
            else:
                out += _used_classes(v)
    elif isinstance(node, list):
        for v in node:
            out += _used_classes(v)
    return out


def read(root: Path, sources: list[str], g: Any = None, view: Any = None) -> Storage:
    """The storage facts of the repository at ``root`` whose Flux Kustomizations read ``sources``; with ``view``
    (wiring.ClusterView), of its cluster only."""
    from velero_gitops.ops import wiring

    g = g if g is not None else wiring.graph(root, sources)  # one graph may serve several readers
    out = Storage()
    for ks in g.flux_ks:
        if ks.path is None or (view is not None and not view.sees(ks)):
            continue
        ns = g.ns_of(ks)
        # the typed model (validate/fluxmodel.py): a dependsOn or spec of the wrong shape is its problem, not ours
        deps = [f"{r.namespace or ns}/{r.name}" for _, r in g.kustomization(ks).depends_on]
        out.depends[f"{ns}/{ks.name}"] = deps
    real_root = g.run.real(root)
    # "lass": a StorageClass or a storageClass(Name) field; a file with neither has nothing to say
    for o in wiring.applied_objects(g, root, "lass", view):
        _learn(g, o, out, real_root)
    return out


def _learn(g: Any, o: Any, out: Storage, root: Path) -> None:
    data = o.data
    api = o.api_version
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    kss = [k for k in g.applied_by.get(g.real(o.path), []) if k.path is not None]
    defined: list[str] = []
    if o.kind == "StorageClass" and api.startswith("storage.k8s.io/") and o.name:
        defined, via = [o.name], f"StorageClass {o.name}"
        md = data.get("metadata")
        notes = md.get("annotations") if isinstance(md, dict) else None
        notes = notes if isinstance(notes, dict) else {}
        if data.get("provisioner") == LOCAL_PATH_PROVISIONER and \
                str(notes.get(VOLUME_TYPE_ANNOTATION, DEFAULT_VOLUME_TYPE)).lower() == "hostpath":
            shown = g.real(o.path).relative_to(root).as_posix() if o.path is not None else o.file
            out.hostpath.setdefault(o.name, f"{shown}:{o.line}")
    elif o.kind == "HelmRelease" and api.startswith("helm.toolkit.fluxcd.io/"):
        defined, via = _defined_classes(spec.get("values")), f"HelmRelease {g.ns_of(o)}/{o.name}"
    for c in dict.fromkeys(defined):
        for k in kss:
            inst = Installer(g.ns_of(k), k.name, g.real(k.path), via)
            if inst not in out.installers.setdefault(c, []):
                out.installers[c].append(inst)
    # what it asks for, in the namespaces it lands in (a HelmRelease's chart objects: its targetNamespace)
    used = _used_classes(spec.get("values") if o.kind == "HelmRelease" else data)
    if not used:
        return
    namespaces = g.namespaces(o)
    if o.kind == "HelmRelease" and isinstance(spec.get("targetNamespace"), str):
        namespaces = [spec["targetNamespace"]]
    for ns in namespaces:
        for c in used:
            shown = g.real(o.path).relative_to(root).as_posix() if o.path is not None else o.file
            out.used.setdefault(ns, {}).setdefault(c, f"{o.kind} {ns}/{o.name} ({shown}:{o.line})")


def backed_up_namespaces(loaded: LoadedConfig) -> list[str]:
    """The namespaces the config's schedules back up ("*" for all)."""
    return sorted({ns for s in loaded.config.schedules for ns in s.namespaces})


@dataclass(frozen=True)
class Gap:
    storage_class: str
    where: str  # the object that uses it
    installers: tuple[Installer, ...]


def gaps(st: Storage, namespaces: list[str], depends_on: list[str], ancestors: frozenset[str] | set[str] = frozenset()) -> list[Gap]:
    """Classes the backed-up namespaces use, installed by a Flux Kustomization of the repository that the
    disaster-recovery order (``flux.dependsOn`` and what it depends on) does not apply. An installer that applies
    Velero itself (``ancestors``: ops/ordering.ancestors) is no gap: Velero cannot depend on it (a deadlock when it
    waits, flux.depends-on-ancestor), and its apply carries the class with Velero."""
    ordered = st.ordered(depends_on)
    out = []
    for c, where in sorted(st.needed(namespaces).items()):
        inst = st.installers.get(c, [])
        if inst and not any(i.ref in ordered or i.ref in ancestors for i in inst):
            out.append(Gap(c, where, tuple(dict.fromkeys(inst))))
    return out


def to_depend_on(st: Storage, namespaces: list[str], ancestors: frozenset[str] | set[str] = frozenset()) -> list[tuple[Installer, list[str]]]:
    """The Flux Kustomizations to add to ``flux.dependsOn`` (with the classes each installs): one installer per class
    the backed-up namespaces use, never one that applies Velero itself (``ancestors``)."""
    chosen: dict[str, tuple[Installer, list[str]]] = {}  # by the Kustomization: one entry each
    for g in gaps(st, namespaces, [], ancestors):
        inst = next((i for i in g.installers if i.ref in chosen), g.installers[0])
        chosen.setdefault(inst.ref, (inst, []))[1].append(g.storage_class)
    return list(chosen.values())


def hostpath_uses(st: Storage, namespaces: list[str]) -> list[tuple[str, str, str]]:
    """(class, where it is used, where it is defined) for each class the backed-up namespaces use whose new volumes
    are hostPath PersistentVolumes. Velero's pod volume backup skips a volume whose PV is hostPath
    (vmware-tanzu/velero@v1.18.1:pkg/podvolume/backupper.go isHostPathVolume: "not mounted into /var/lib/kubelet/pods")
    and the backup only counts a warning (docs/observability.md)."""
    return [(c, where, st.hostpath[c]) for c, where in sorted(st.needed(namespaces).items()) if c in st.hostpath]


def read_for(loaded: LoadedConfig, g: Any = None) -> Storage:
    """The storage facts of the config's own cluster (wiring.config_view): what check, render and explain judge."""
    from velero_gitops.ops import wiring

    sources = wiring.sources_of(loaded)
    g = g if g is not None else wiring.graph(loaded.repo_root.resolve(), sources)
    return read(loaded.repo_root, sources, g, wiring.config_view(loaded, g))


def hostpath_warnings(loaded: LoadedConfig, st: Storage) -> list[tuple[str, str]]:
    """[policy.hostpath-volumes] (StorageClass, message) for each class whose volumes the node-agent skips: the one
    rule that check (a finding), render (a warning) and explain (a paragraph) report wherever the plan is shown."""
    return [(c, hostpath_message(c, where, defined))
            for c, where, defined in hostpath_uses(st, backed_up_namespaces(loaded))]


def hostpath_message(storage_class: str, where: str, defined: str) -> str:
    return (f"the backed-up namespaces use StorageClass {storage_class} ({where}), whose provisioner "
            f"{LOCAL_PATH_PROVISIONER} makes hostPath PersistentVolumes ({defined}: no `{VOLUME_TYPE_ANNOTATION}: local` "
            "annotation). Velero's node-agent skips hostPath volumes, so their data is never backed up: the backup "
            "only ends with a warning. Annotate the StorageClass `defaultVolumeType: local` (new volumes; each "
            "existing PVC needs its data moved to a new one), set the annotation `volumeType: local` on each PVC "
            "before it is provisioned, or use a provisioner that makes `local` volumes (OpenEBS LocalPV hostpath)")


def message(gap: Gap, replaced_by: str = "") -> str:
    """``replaced_by``: the parent patch (file:line) that replaces the rendered flux.dependsOn (ops/ordering.py)."""
    inst = gap.installers[0]
    if replaced_by:
        return (f"the backed-up namespaces use StorageClass {gap.storage_class} ({gap.where}); Flux Kustomization "
                f"{inst.ref} installs it ({inst.via}), and flux.dependsOn is rendered, but the parent's patch at "
                f"{replaced_by} replaces it, so the controller does not order it before Velero: on a new cluster the "
                "disaster-recovery restore provisions no volume. Make that patch leave the velero Kustomization alone "
                "(flux.depends-on-replaced says how)")
    others = "".join(f" or {r}" for r in dict.fromkeys(i.ref for i in gap.installers[1:]) if r != inst.ref)
    return (f"the backed-up namespaces use StorageClass {gap.storage_class} ({gap.where}); Flux Kustomization "
            f"{inst.ref}{others} installs it ({inst.via}), but flux.dependsOn does not order it before Velero. On a "
            "new cluster the disaster-recovery procedure then restores into no StorageClass: the PVCs stay Pending, "
            "the pods Velero creates never schedule and no volume data is restored. Add to flux.dependsOn: "
            f"{{name: {inst.name}, namespace: {inst.namespace}}}, then render")
