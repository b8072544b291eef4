"""Is the rendered tree applied by Flux, and if not, the one edit that wires it (`render --wire`).

The question is answered on the repository's Flux graph (validate/flux.py), read through ONE function,
:func:`flux_facts`: every Flux Kustomization of the repository (and a FluxInstance's sync, which flux-operator turns
into the root Kustomization) with the directory it builds and the files that build applies. Everything else here
works on those facts, so a new graph model only changes that function.

What applies a directory follows kustomize-controller: it builds ``spec.path``; where that folder has no
kustomization.yaml, fluxcd/pkg generates one listing every YAML file below it and, as a whole, each sub-folder that
has its own kustomization.yaml, without descending further (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go,
scanManifests). A Kustomization counts only when it is reached from the cluster's sync root: the bootstrap
Kustomization ``flux-system/flux-system`` (what `flux bootstrap` writes to clusters/<name>/flux-system/gotk-sync.yaml)
or a FluxInstance's ``spec.sync.path``. A Kustomization file that nothing applies is deployed by nothing, however well
it is written.

The edit is a comment-preserving round trip (ruamel) of the user's own file: one entry added to the ``resources:``
of the nearest parent kustomization.yaml that Flux builds and whose build leaves our objects as rendered (no
``namespace``/``namePrefix``/``nameSuffix`` on the way from the Flux Kustomization's path down to it), else one entry
in the kustomization file that lists a file of Flux Kustomizations the sync root applies, else one Flux Kustomization
document appended to such a file (its folder has no kustomization file: Flux generates one). The result is proven on the file before it is written: the edit
must add lines and change none; otherwise the line to add is printed for the user instead.
"""

from __future__ import annotations

import difflib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from velero_gitops.errors import UsageError
from velero_gitops.validate.documents import dig, find_kfile

if TYPE_CHECKING:
    from ruamel.yaml import YAML

    from velero_gitops.config.loader import LoadedConfig
    from velero_gitops.validate.run import DiskReads


@dataclass(frozen=True)
class FluxKs:
    """One Flux Kustomization of the repository (or a FluxInstance's sync) and what its build applies."""

    kind: str  # Kustomization | FluxInstance | Bootstrap (an empty flux-system/gotk-sync.yaml: bootstrap's root)
    namespace: str
    name: str
    file: Path | None  # the file that declares it (resolved)
    line: int
    path_dir: Path | None  # the folder its build starts from (resolved); None: another source, or unknown
    applies: frozenset[Path]  # the files its build applies (resolved)
    substitute_from: tuple = ()  # its postBuild.substituteFrom, parents' patches included ({kind, name[, optional]})
    sync_path: str = ""  # a FluxInstance's sync path as written, when no folder is known for it (``${VAR}``)
    absent_key: tuple[str, str] | None = None  # (namespace, name) of a decryption key Secret nothing here makes
    depends_on: tuple[str, ...] = ()  # spec.dependsOn as the controller applies it ("ns/name"), parents' patches in
    depends_on_patch: tuple[Path | None, int, str] | None = None  # (file, line, "ns/name") of the parent patch that wrote it
    rewrites_depends_on: int = 0  # the line of its own patch that would set a child velero Kustomization's dependsOn
    # (line, "field: value") of its spec.targetNamespace/namePrefix/nameSuffix: its build sets them on every object
    # (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go, generateKustomization), ours included
    transforms: tuple[int, str] | None = None
    # the kustomization files its build reads (resolved): their configMapGenerator/secretGenerator make objects too
    kfiles: frozenset[Path] = frozenset()

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def flux_facts(root: Path, repo_sources: list[str], planned: dict[Path, str | None] | None = None,
               g: Any = None, reads: DiskReads | None = None) -> list[FluxKs]:
    """THE one reader of validate/flux.py's Graph: every Flux Kustomization (and FluxInstance sync) of the
    repository at ``root`` reading one of ``repo_sources`` ("Kind/namespace/name"), with what it applies.
    ``planned``: files laid over the disk (absolute path -> text, None: removed), read in memory, nothing written.
    ``g``: the graph this run built already for the same repository and sources (check's validate), read instead of
    a new one. ``reads``: the disk reads (validate.run.DiskReads) of another graph of this step, read nothing
    written since (render: the graph as it is, then with its planned files laid over it)."""
    from velero_gitops.validate import flux
    from velero_gitops.validate.run import Options, Run
    from velero_gitops.validate.treeview import Planned

    if g is None:
        g = flux.Graph([], Run(Options(repo_root=str(root), repo_sources=list(repo_sources), kustomize="never",
                                       policy=False), Planned(planned) if planned else None, reads))
    run = g.run
    out: list[FluxKs] = []
    absent = flux.absent_keys(g)
    for ks in g.flux_ks:
        target = g.path_dir(ks)
        applies = frozenset(f for f, kss in g.applied_by.items() if any(k is ks for k in kss))
        post, _ = g.patched(ks, "postBuild")
        subst = (post or {}).get("substituteFrom")
        refs = tuple(dict(r) for r in subst if isinstance(r, dict)) if isinstance(subst, list) else ()
        m = g.kustomization(ks)
        deps = tuple(f"{d.namespace or g.ns_of(ks)}/{d.name}" for _, d in m.depends_on)
        by = g.written_by_parent(ks, "dependsOn")
        patch = (run.real(by[0].path) if by[0].path else None, by[1], f"{g.ns_of(by[0])}/{by[0].name}") if by else None
        out.append(FluxKs("Kustomization", ks.namespace or "", ks.name, run.real(ks.path) if ks.path else None, ks.line,
                          run.real(target) if target is not None else None, applies, refs,
                          absent_key=absent.get(id(ks)), depends_on=deps, depends_on_patch=patch,
                          rewrites_depends_on=_rewrites_depends_on(ks, m), transforms=_ks_transform(ks, m),
                          kfiles=_kfiles(g, target)))
    # the sync roots (validate.flux.sync_roots): a FluxInstance's sync builds the folder the graph resolves for the
    # Kustomization the operator makes; an empty bootstrap marker stands for the root `flux bootstrap` will write
    have: set[Path] = {k.path_dir for k in out if (k.namespace, k.name) == ("flux-system", "flux-system")
                       and k.path_dir is not None}
    # a gotk-sync.yaml that holds the flux-system Kustomization is no marker: that Kustomization is the root, whatever
    # folder its path names (bootstrap's --path=. with the sync at ./flux-system applying ./flux-system)
    written = {k.file for k in out if (k.namespace, k.name) == ("flux-system", "flux-system") and k.file is not None}
    for r in [*g.sync_roots, *flux.sync_roots([], g.root)]:  # the graph's, and the markers below its root
        if r.obj is not None and r.kustomization is None:
            # a sync path whose ${VAR} the repository gives no value for: a root whose folder is unknown here
            out.append(FluxKs("FluxInstance", r.namespace, r.name, run.real(r.obj.path) if r.obj.path else None,
                              r.obj.line, None, frozenset(), sync_path=r.path))
        elif r.obj is not None and r.kustomization is not None:
            d = g.path_dir(r.kustomization)
            if d is not None:
                have.add(run.real(d))
                out.append(FluxKs("FluxInstance", r.obj.namespace or "flux-system", r.name,
                                  run.real(r.obj.path) if r.obj.path else None, r.obj.line, run.real(d),
                                  frozenset(g.tree.applied_files(d))))
        elif g.root is not None:
            d = run.real(g.root / r.path)
            if d not in have and flux.inside(d, g.root) and run.real(d / "flux-system" / "gotk-sync.yaml") not in written:
                out.append(FluxKs("Bootstrap", r.namespace, r.name, None, 0, d, frozenset(g.tree.applied_files(d))))
    return out


def _kfiles(g: Any, target: Path | None) -> frozenset[Path]:
    """The kustomization files the build of folder ``target`` reads (resolve.Tree.reached), resolved."""
    if target is None:
        return frozenset()
    found = (g.tree.kfile(d) for d in g.tree.reached(target))
    return frozenset(g.run.real(f) for f in found if f is not None)


def _ks_transform(ks: Any, m: Any) -> tuple[int, str] | None:
    """(line, "field: value") of the first of a Flux Kustomization's fields that transform every object it builds."""
    for key, value in (("targetNamespace", m.target_namespace), ("namePrefix", m.name_prefix),
                       ("nameSuffix", m.name_suffix)):
        if value:
            return (ks.line_of(f"/spec/{key}") or ks.line, f"{key}: {value}")
    return None


def _rewrites_depends_on(ks: Any, m: Any) -> int:
    """The line of the first of ``ks``'s patches that would set spec.dependsOn of a velero Kustomization it applied
    (selected as kustomize selects, validate/resolve.selects; a strategic merge replaces the list: ops/ordering.py),
    0 when none would. Judged on the names velero-gitops renders by default, before a config exists (init)."""
    from velero_gitops.validate import resolve
    from velero_gitops.validate.documents import Obj

    for i, p in enumerate(m.patches):
        if p.patch is None or not resolve.writes(p, "dependsOn"):
            continue
        for name in ("velero", "velero-schedules"):
            probe = Obj("", None, 0, {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                      "metadata": {"name": name, "namespace": "flux-system"}}, 0)
            if resolve.selects(p, probe, "flux-system"):
                entries = dig(ks.data, "spec", "patches")
                j = next((j for j, e in enumerate(entries) if e is p.raw), i) if isinstance(entries, list) else i
                return ks.line_of(f"/spec/patches/{j}")
    return 0


def graph(root: Path, repo_sources: list[str], reads: DiskReads | None = None) -> Any:
    """validate/flux.py's Graph of the repository at ``root`` (nothing scanned but the repository, no kustomize);
    ``reads``: the disk reads another graph of this step made (flux_facts)."""
    from velero_gitops.validate import flux
    from velero_gitops.validate.run import Options, Run

    return flux.Graph([], Run(Options(repo_root=str(root), repo_sources=list(repo_sources), kustomize="never",
                                      policy=False), None, reads))


def applied_objects(g: Any, root: Path, needle: str, view: ClusterView | None = None) -> list:
    """The objects (validate.documents.Obj) of the files some Flux Kustomization of graph ``g`` applies, from the
    files whose text holds ``needle`` (a cheap filter: most files are read for nothing otherwise). With ``view``, only
    files a Kustomization of its cluster applies: another cluster's objects say nothing of this one."""
    from velero_gitops.validate.documents import Reader, display_path

    reader = Reader(str(root), lambda p, shown: g.run.decoded(p, root=root, shown=shown))
    for f in sorted(g.applied_by):
        if view is not None and not any(view.sees(k) for k in g.applied_by[f]):
            continue
        try:
            decoded = g.run.decoded(f, root=root)
        except (OSError, ValueError):  # safefile's refusals included
            continue
        if needle not in decoded.text:
            continue
        try:
            reader.read(display_path(f), f, decoded)
        except Exception:  # noqa: BLE001 - a file read only for facts must not stop init, check or the procedure
            continue
    return reader.objects


def cluster_holder(g: Any, folder: Path) -> Any:
    """A live Flux Kustomization that builds ``folder`` (resolved) or a folder above it: one of the cluster that
    will apply what is rendered there, to keep another cluster's facts out (Graph.visible). None when none does."""
    best = None
    for ks in g.flux_ks:
        d = g.path_dir(ks)
        if d is None or g.dead(ks):
            continue
        d = g.run.real(d)
        if (d == folder or d in folder.parents) and (best is None or len(d.parts) > len(g.run.real(g.path_dir(best)).parts)):
            best = ks
    return best


@dataclass(frozen=True)
class ClusterView:
    """THE one per-cluster view of the repository that a config's facts are read through (its StorageClasses and their
    installers, its Prometheus, its pinned Flux, its disaster-recovery procedure): the cluster of ``holder``
    (cluster_holder of the config's apps root), or, when no live Kustomization builds that folder, no cluster of the
    repository (Graph.same_cluster): another cluster's facts say nothing of this one."""

    g: Any
    holder: Any  # a live Flux Kustomization building the apps root or a folder above it; None: none does

    def sees(self, o: Any) -> bool:
        return bool(self.g.same_cluster(self.holder, o))


def cluster_view(g: Any, folder: Path) -> ClusterView:
    """The view of the cluster that applies what is rendered in ``folder`` (resolved)."""
    return ClusterView(g, cluster_holder(g, folder))


def config_view(loaded: LoadedConfig, g: Any) -> ClusterView:
    """The view of the config's own cluster: the one that applies its apps root."""
    return cluster_view(g, g.run.real(loaded.repo_root / loaded.config.repo.apps_root))


# --------------------------------------------------------------------------------------------------
# On the facts


def sync_roots(facts: list[FluxKs]) -> list[FluxKs]:
    """The Kustomizations a cluster starts from: FluxInstance syncs and bootstrap's flux-system/flux-system. A
    repository with neither in its files is synced by something outside them (a FluxInstance in Helm values, a
    Kustomization made by hand): then the heads of its chains count, the Kustomizations of this repository that no
    other one applies and that apply Kustomizations themselves (a lone one that fans out to nothing is a leftover)."""
    roots = [k for k in facts if k.kind in ("FluxInstance", "Bootstrap") or (k.namespace, k.name) == ("flux-system", "flux-system")]
    roots = [k for k in roots if k.path_dir is not None]
    if roots:
        return roots
    mine = [k for k in facts if k.path_dir is not None]
    applied = set().union(*(k.applies for k in mine)) if mine else set()
    declared = {k.file for k in mine if k.file is not None}
    return [k for k in mine if (k.file is None or k.file not in applied or k.file in k.applies)
            and (k.applies & declared) - {k.file}]


def cluster_roots(facts: list[FluxKs], folder: Path) -> list[FluxKs]:
    """The sync roots of the cluster that will apply what is rendered in ``folder`` (resolved): those reaching a live
    Kustomization that applies a file of the nearest folder at or above it that any live one applies files of (the
    facts' counterpart of cluster_holder). Another cluster's roots say nothing of this tree. Every root when no
    live Kustomization applies anything there (or a folder all clusters share: then each one may wire it)."""
    roots = sync_roots(facts)
    alive = live(facts, roots)
    for d in [folder, *folder.parents]:
        holders = {id(k) for k in alive if any(d in f.parents for f in k.applies)}
        if holders:
            return [r for r in roots if any(id(k) in holders for k in live(facts, [r]))]
    return roots


def live(facts: list[FluxKs], roots: list[FluxKs] | None = None) -> list[FluxKs]:
    """The Kustomizations reached from a sync root (``roots``: those of one cluster; default every one): a root, or
    declared in a file a live one applies."""
    reached = {id(k) for k in (sync_roots(facts) if roots is None else roots)}
    applied: set[Path] = set()
    changed = True
    while changed:
        changed = False
        for k in facts:
            if id(k) in reached:
                applied |= k.applies
        for k in facts:
            if id(k) not in reached and k.file is not None and k.file in applied:
                reached.add(id(k))
                changed = True
    return [k for k in facts if id(k) in reached]


@dataclass(frozen=True)
class Edit:
    """The one edit that makes Flux apply the tree."""

    file: Path  # the user's file to edit (resolved)
    line: int  # 1-based line the new text goes before (len(lines)+1: at the end)
    text: str  # the lines to add, as they will read in the file
    how: str  # what the edit does, for the message
    new_content: str | None  # the whole file after the edit; None: no clean round trip (the user adds it by hand)


@dataclass(frozen=True)
class Wiring:
    target: Path  # the file that must be applied (the rendered kustomization's folder's ks.yaml)
    roots: list[FluxKs]
    by: list[FluxKs]  # live Kustomizations that apply it
    edit: Edit | None
    facts: list[FluxKs] = field(default_factory=list, compare=False)  # the graph it was judged on
    # (file, line, "field: value") of the nearest parent kustomization.yaml passed over because its build would
    # transform our objects (namespace, namePrefix, nameSuffix), when no other place was found
    transformed_by: tuple[Path, int, str] | None = None

    @property
    def checked(self) -> bool:
        """False when the repository has no Flux sync root to check against (a folder standing in for a repository)."""
        return bool(self.roots)

    @property
    def wired(self) -> bool:
        return bool(self.by)


def wiring(root: Path, namespace_dir: str, ks_file: str, repo_sources: list[str], source: dict[str, str],
           facts: list[FluxKs] | None = None) -> Wiring:
    """Whether a live Flux Kustomization applies ``ks_file`` (repo-relative), and the edit that would make one do so.
    ``namespace_dir`` is the rendered folder whose kustomization.yaml lists the ks.yaml; ``source`` is the sourceRef
    (kind, name, namespace) a new Flux Kustomization would read."""
    root = root.resolve()
    facts = flux_facts(root, repo_sources) if facts is None else facts
    target = (root / ks_file).resolve()
    roots = cluster_roots(facts, target.parent)
    alive = live(facts, roots)
    by = [k for k in alive if target in k.applies]
    skipped: list[tuple[Path, int, str]] = []
    edit = None if by or not roots else _edit(root, (root / namespace_dir).resolve(), alive, roots, source, skipped)
    return Wiring(target, roots, by, edit, facts, skipped[0] if skipped and edit is None else None)


# What a kustomization.yaml's build does to every object it builds, ours included: `namespace` sets each object's
# namespace (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/namespace/namespace.go), namePrefix/nameSuffix
# rename each (api/filters/prefix, api/filters/suffix). A folder listed under such a file deploys other objects than
# the ones we render (and kustomize refuses the build when two of ours then share an ID).
_TRANSFORMING = ("namespace", "namePrefix", "nameSuffix")


def _transform(kfile: Path) -> tuple[Path, int, str] | None:
    """(file, line, "field: value") of the first field of ``kfile`` that transforms every object its build holds."""
    from velero_gitops import safefile

    try:
        doc = _yaml().load(safefile.read_text(kfile, root=kfile.parent))
    except Exception:  # noqa: BLE001 - an unreadable file is reported by validate; here it is simply not a place
        return (kfile, 1, "unreadable")
    if not isinstance(doc, dict):
        return None
    for key in _TRANSFORMING:
        value = doc.get(key)
        if isinstance(value, str) and value:
            lc = getattr(doc, "lc", None)
            return (kfile, lc.key(key)[0] + 1 if lc is not None else 1, f"{key}: {value}")
    return None


def transforms_its_build(k: FluxKs) -> bool:
    """A folder whose objects Flux Kustomization ``k`` builds renamed or re-namespaced (its targetNamespace,
    namePrefix, nameSuffix, or its folder's kustomization.yaml namespace/namePrefix/nameSuffix): listing our tree
    there is refused (render says so), so it is no apps root."""
    if k.transforms is not None:
        return True
    kfile = find_kfile(k.path_dir) if k.path_dir is not None else None
    return kfile is not None and _transform(kfile) is not None


def _chain_transform(parent: Path, alive: list[FluxKs]) -> tuple[Path, int, str] | None:
    """The first transforming kustomization.yaml on the way from a live Kustomization's spec.path down to
    ``parent`` (each one there builds ``parent``'s objects as part of its own), None when none transforms."""
    tops = [k for k in alive if k.path_dir is not None and (k.path_dir == parent or k.path_dir in parent.parents)]
    for d in [parent, *parent.parents]:
        kfile = find_kfile(d)
        t = _transform(kfile) if kfile is not None else None
        if t is not None:
            return t
        here = [k for k in tops if k.path_dir == d]
        if here:
            k = next((k for k in here if k.transforms is not None and k.file is not None), None)
            return (k.file, *k.transforms) if k is not None and k.file is not None and k.transforms else None
    return None


def _edit(root: Path, ns_dir: Path, alive: list[FluxKs], roots: list[FluxKs], source: dict[str, str],
          skipped: list[tuple[Path, int, str]] | None = None) -> Edit | None:
    # 1. The nearest parent folder with a kustomization.yaml that a live Kustomization builds: list the folder there.
    #    A Kustomization builds it when its spec.path is that folder or above it and its build reaches files below it
    #    (from above, kustomize enters a folder with a kustomization.yaml only as a whole).
    for parent in ns_dir.parents:
        if parent != root and root not in parent.parents:
            break
        kfile = find_kfile(parent)
        if kfile is None:
            continue
        builds = any(k.path_dir is not None and (k.path_dir == parent or k.path_dir in parent.parents)
                     and any(parent in f.parents for f in k.applies) for k in alive)
        if builds:
            t = _chain_transform(parent, alive)
            if t is None:
                return _add_resource(kfile, os.path.relpath(ns_dir, parent).replace(os.sep, "/"))
            if skipped is not None:
                skipped.append(t)
    # 2. A file of Flux Kustomizations that a sync root applies (clusters/<name>/apps.yaml): append one that builds
    #    the folder. The file closest to the folder wins (the longest common path of its Kustomizations' paths).
    #    A list is a file in the root's own folder, or one a kustomization.yaml lists; a file that the generator
    #    took from an app's folder below (kubernetes/ks/home/otbr/app.yaml, found adopting aclerici38/home-ops) is
    #    that app's, never where another app is wired.
    lists: dict[Path, int] = {}
    root_applies = set().union(*(r.applies for r in roots))
    root_dirs = {r.path_dir for r in roots}
    for k in alive:
        if k.kind == "Kustomization" and k.file is not None and k.file in root_applies and k not in roots \
                and k.path_dir is not None and (k.file.parent in root_dirs or find_kfile(k.file.parent) is not None):
            common = len(os.path.commonpath([k.path_dir, ns_dir]))
            lists[k.file] = max(lists.get(k.file, 0), common)
    if lists:
        best = max(lists, key=lambda f: (lists[f], -len(str(f))))
        # The list's own folder lists its files in a kustomization file (kustomization.yaml|yml|Kustomization,
        # find_kfile) that a live Kustomization builds: the folder goes in that resources list, beside the lists,
        # and its kustomization.yaml brings our Flux Kustomizations; no document is appended to one of the lists
        # (fleet layouts: clusters/<name>/kustomization.yaml listing apps.yaml, infra.yaml, ...)
        kfile = find_kfile(best.parent)
        if kfile is not None and best in _listed(kfile) and _chain_transform(best.parent, alive) is None:
            return _add_resource(kfile, os.path.relpath(ns_dir, best.parent).replace(os.sep, "/"))
        return _append_flux_ks(best, root, ns_dir, source)
    return None


def _listed(kfile: Path) -> set[Path]:
    """The files and folders the resources list of kustomization file ``kfile`` names (local entries, resolved)."""
    try:
        doc = _yaml().load(_their_text(kfile, kfile.parent)[0])
    except Exception:  # noqa: BLE001 - their file: unreadable means no list to add to
        return set()
    items = doc.get("resources") if isinstance(doc, dict) else None
    return {(kfile.parent / i).resolve() for i in items or () if isinstance(i, str) and "://" not in i}


def _entry_style(items: list) -> str:
    return "./" if any(isinstance(i, str) and i.startswith("./") for i in items) or not items else ""


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold a long line of theirs
    return y


def _their_text(path: Path, root: Path | None = None) -> tuple[str, bool]:
    """(a file of theirs as Go YAML decodes it, whether we may write it back): we write UTF-8, so a UTF-16 file is
    left to the user. Re-saved as UTF-8, kustomize would read every one of its documents where it read the first
    (validate.documents.resource_documents): Flux would start applying what it skipped."""
    from velero_gitops import safefile

    decoded = safefile.decode(safefile.read_bytes(path, root=root), str(path))
    return decoded.text, decoded.encoding == "utf-8"


def _add_resource(kfile: Path, rel: str) -> Edit:
    old, editable = _their_text(kfile, kfile.parent)
    y = _yaml()
    try:
        doc = y.load(old)
    except Exception as exc:  # noqa: BLE001 - their file: any parse error means "edit it by hand"
        raise UsageError(f"{kfile}: cannot be read as YAML ({type(exc).__name__}); add the folder by hand") from None
    if not hasattr(doc, "get"):
        raise UsageError(f"{kfile}: not a mapping; add the folder to its resources: by hand")
    resources = doc.get("resources")
    entry = (_entry_style(resources or []) + rel) if not rel.startswith(".") else rel
    how = f"list {entry} under resources"
    flow = resources is not None and getattr(resources, "fa", None) is not None and resources.fa.flow_style()
    lc = getattr(resources, "lc", None)  # ruamel's CommentedSeq: where each item is
    if resources is None or flow or not isinstance(resources, list) or lc is None or not editable:
        return Edit(kfile, len(old.splitlines()) + 1, f"resources:\n  - {entry}", how, None)
    if resources:
        value_col = lc.item(len(resources) - 1)[1]
        key_col = doc.lc.key("resources")[1]
        # keep their indentation: "resources:\n  - a" or "resources:\n- a" (content column, dash column)
        y.indent(mapping=2, sequence=max(value_col - key_col, 2), offset=max(value_col - key_col - 2, 0))
    resources.append(entry)
    buf = io.StringIO()
    y.dump(doc, buf)
    new = buf.getvalue()
    if old.startswith("---") and not new.startswith("---"):
        new = "---\n" + new
    if old.endswith("\n") is False and new.endswith("\n"):
        new = new[:-1]
    added = _added_lines(old, new)
    if added is None:
        last = lc.item(len(resources) - 2)[0] + 2 if len(resources) > 1 else len(old.splitlines()) + 1
        return Edit(kfile, last, f"- {entry}", how, None)
    line, text = added
    return Edit(kfile, line, text, how, new)


def _added_lines(old: str, new: str) -> tuple[int, str] | None:
    """(the 1-based line of the first added line, the added lines) when ``new`` only adds one block of lines to
    ``old``; None when it changes any line of theirs."""
    a, b = old.splitlines(), new.splitlines()
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    inserts = [(j1, j2) for tag, _, _, j1, j2 in ops if tag == "insert"]
    if any(tag not in ("equal", "insert") for tag, *_ in ops) or len(inserts) != 1:
        return None
    j1, j2 = inserts[0]
    return j1 + 1, "\n".join(b[j1:j2])


def _append_flux_ks(file: Path, root: Path, ns_dir: Path, source: dict[str, str]) -> Edit:
    old, editable = _their_text(file)
    rel = ns_dir.relative_to(root).as_posix()
    name = f"{ns_dir.name}-apps" if ns_dir.name != "flux-system" else "velero-apps"
    text = (f"---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
            f"  namespace: {source.get('namespace', 'flux-system')}\nspec:\n  interval: 1h\n  path: ./{rel}\n"
            f"  prune: true\n  sourceRef:\n    kind: {source.get('kind', 'GitRepository')}\n    name: {source.get('name', 'flux-system')}\n")
    sep = "" if old.endswith("\n") or not old else "\n"
    new = old + sep + text
    return Edit(file, len(old.splitlines()) + 1, text.rstrip("\n"),
                f"append a Flux Kustomization {name} that builds ./{rel}",
                new if editable and _added_lines(old, new) is not None else None)


def message(w: Wiring, root: Path, shown_rel: Callable[[str], str], subject: bool = True) -> str:
    """What render and check say about an unwired tree. ``shown_rel`` turns a path relative to the repository ``root``
    into what the user sees; ``subject``: the message names the ks.yaml (check's finding names it as its file)."""
    shown = at(root, shown_rel)
    # a root declared twice (bootstrap's gotk-sync.yaml beside the FluxInstance sync named like it) is one root
    roots = ", ".join(dict.fromkeys(f"{r.ref} (path {shown(r.path_dir)})" for r in w.roots))
    head = (f"{shown(w.target)} is " if subject else "") + \
        f"applied by no Flux Kustomization reached from the sync root {roots}: nothing deploys it"
    if w.edit is None and w.transformed_by is not None:
        f, line, what = w.transformed_by
        return (head + f"; the build of its nearest parent that Flux builds is transformed: {shown(f)}:{line} sets "
                f"`{what}`, which kustomize applies to every object of the build, ours included (kustomize@v5.7.1 "
                "api/filters), so the folder is not listed there: set repo.appsRoot to a folder whose parent's build sets no namespace, "
                "namePrefix or nameSuffix (nor targetNamespace on its Flux Kustomization), or wire the folder with a Flux Kustomization of its own, "
                "then render again")
    if w.edit is None:
        return (head + "; no parent kustomization.yaml or list of Flux Kustomizations that Flux builds leads to its "
                "folder: set repo.appsRoot to a folder a Flux Kustomization builds (`velero-gitops init` finds them)")
    e = w.edit
    fix = f"{e.how}; add at {shown(e.file)}:{e.line}:\n{e.text}"
    return head + f"; fix: {fix}\n" + ("(`velero-gitops render --wire` makes this edit)" if e.new_content is not None
                                         else "(the file cannot be edited without reformatting it: add it by hand)")


def unjudged_message(apps_root: str) -> str:
    """What render says when it created the apps root and the repository holds no Flux sync root to judge the tree
    against (init found no folder a Flux Kustomization builds and wrote a guess): nothing shows that Flux applies it."""
    return (f"{apps_root} did not exist before this render, and no Flux Kustomization of this repository builds it "
            "(no sync root found: no flux-system Kustomization, FluxInstance or root Kustomization): Flux will not "
            "apply the tree as it stands; set repo.appsRoot to the folder your cluster's Flux Kustomization builds "
            "(`velero-gitops init --apps-root <folder>`), render again, and remove this folder")


def at(root: Path, shown_rel: Callable[[str], str]) -> Callable[[Path | None], str]:
    """A function showing a resolved path of the repository at ``root`` as ``shown_rel`` shows repo-relative ones."""
    real = root.resolve()

    def shown(p: Path | None) -> str:
        return shown_rel(p.relative_to(real).as_posix()) if p is not None else "?"
    return shown


def apply(w: Wiring, root: Path, repo_sources: list[str],
          refuse: Callable[[list[FluxKs]], str | None] | None = None) -> Wiring:
    """Make the edit, then prove on the graph that Flux now applies the tree; undo it when not, or when ``refuse``
    (given the graph after the edit) says why the edit must not stand."""
    from velero_gitops import safefile
    from velero_gitops.render.write import atomic_write

    if w.wired or w.edit is None or w.edit.new_content is None:
        return w
    old = safefile.read_bytes(w.edit.file)
    atomic_write(w.edit.file, w.edit.new_content.encode("utf-8"))
    rel_target = w.target.relative_to(root.resolve()).as_posix()
    facts = flux_facts(root, repo_sources)
    after = [k for k in live(facts) if (root.resolve() / rel_target).resolve() in k.applies]
    if not after:
        atomic_write(w.edit.file, old)
        raise UsageError(f"{w.edit.file}: the edit did not make Flux apply {rel_target}; it was undone")
    why = refuse(facts) if refuse is not None else None
    if why:
        atomic_write(w.edit.file, old)
        raise UsageError(why)
    return Wiring(w.target, w.roots, after, w.edit, facts)


def for_config(loaded: LoadedConfig, facts: list[FluxKs] | None = None) -> Wiring:
    """The wiring of one loaded config's rendered tree (config.loader.LoadedConfig)."""
    from velero_gitops.render.layout import Layout

    layout = Layout.of(loaded.config)
    ref = loaded.config.flux.source_ref
    return wiring(loaded.repo_root, layout.namespace_dir, layout.ks_file, sources_of(loaded),
                  {"kind": ref.kind, "name": ref.name, "namespace": ref.namespace}, facts)


def sources_of(loaded: LoadedConfig) -> list[str]:
    """The Flux source that holds the repository, as validate names it ("Kind/namespace/name")."""
    ref = loaded.config.flux.source_ref
    return [f"{ref.kind}/{ref.namespace}/{ref.name}"]
