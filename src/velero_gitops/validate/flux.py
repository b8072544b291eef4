"""The Flux graph: what each Flux Kustomization applies, and the names the controllers look up.

Names are resolved the way the controllers resolve them (the sources are named in tests/validate/test_flux.py):

* an object's namespace is the one it has after the kustomize build of the Flux Kustomization that applies
  it: ``targetNamespace`` wins, then the outermost ``namespace:`` of the kustomization.yaml files on the way
  to the file (it overrides ``metadata.namespace``), then ``metadata.namespace``;
* ``decryption.secretRef`` is a LocalObjectReference, read from the Kustomization's own namespace;
  ``decryption: {provider: sops}`` without ``secretRef`` uses the controller-wide ``--sops-age-secret``;
  a parent Kustomization's ``patches`` may inject ``decryption`` into the Kustomizations it applies;
* ``dependsOn``, ``sourceRef``, ``chartRef`` and ``chart.spec.sourceRef`` default to the namespace of the
  object that holds them; ``--no-cross-namespace-refs`` refuses a source in another namespace;
* postBuild substitution (velero_gitops.varsub) runs on the objects a Kustomization with postBuild variables
  applies, before they are validated; a parent's ``spec.patches`` are applied to the Kustomizations it applies;
* one graph per cluster: a root (bootstrap's self-applying Kustomization, a FluxInstance's sync, or one nothing
  applies) and what it reaches, and what a Kustomization with ``spec.kubeConfig`` applies to the cluster it names;
  lookups stay inside the holder's cluster (``Graph._partition``);
* a file that Flux never applies (left out by a kustomization.yaml above it) is not checked, and a Kustomization
  in such a file applies nothing; ``Graph.applied_from_sync(path)`` answers "does the cluster's sync apply it".

Checks: the rules declared below (velero_gitops.rules); docs/validation.md lists them. Rules that only read the graph
live one module each in validate/fluxrules/ (flux.crd-order: Velero objects applied before the chart's CRDs).

Facts come from the whole repository, not only from the paths given: a root Kustomization in clusters/
that patches decryption into its children counts when only kubernetes/apps is validated. The repository
root is ``--repo-root``, else the nearest ancestor holding ``.git``, ``.sops.yaml`` or ``kubernetes/``.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from velero_gitops import varsub
from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.shown import some
from velero_gitops.validate import fluxmodel, kindscope, resolve
from velero_gitops.validate.documents import (
    KUSTOMIZE_FILES,
    Obj,
    Reader,
    dig,
    display_path,
    inside,
)
from velero_gitops.validate.producers import SCAN_KIND, copied_into, generated, made_by
from velero_gitops.validate.run import DEFAULT_REPO_SOURCES, Options, Run
from velero_gitops.validate.schemas import split_api_version
from velero_gitops.yamlsafe import sequence

MISSING_PATH = define("flux.path", "error", "a Flux Kustomization's `spec.path` does not exist in the repository it reads")
SOURCE_REF = define("flux.source-ref", "error", "`sourceRef`, `chartRef` or `chart.spec.sourceRef` names a source that "
                    "does not exist in the namespace the controller looks in (the holder's own, by default), or only in "
                    "another cluster's tree")
DEPENDS_ON = define("flux.depends-on", "error", "`dependsOn` names a Kustomization or HelmRelease that does not exist in "
                    "the namespace the controller looks in, or only in another cluster's tree")
CROSS_NAMESPACE = define("flux.cross-namespace", "error", "a source in another namespace, refused with "
                         "`--no-cross-namespace-refs` (the controllers' lockdown flag)")
DECRYPTION = define("flux.decryption", "error", "a Flux Kustomization applies SOPS-encrypted files without `spec.decryption`")
DECRYPTION_SECRET = define("flux.decryption-secret", "error", "`decryption.secretRef` is read from the Kustomization's own "
                           "namespace (after its parent's build), and the key Secret is not there")
MALFORMED = define("flux.malformed", "error", "a field of a Flux object has a shape the API server refuses, and no "
                   "bundled schema reports it: a flux-operator FluxInstance or ResourceSet (no CRD schema in the bundle), "
                   "or a CEL rule of the CRD (HelmRelease: either chart or chartRef)")
DUPLICATE = define("flux.duplicate", "error", "one object (kind, namespace, name) applied, with different content, by two "
                   "Flux Kustomizations of the same cluster: each apply sets its own version")
DUPLICATE_SAME = define("flux.duplicate-identical", "warning", "identical copies of one object applied by two Flux "
                        "Kustomizations of the same cluster: its owner labels flip at each apply, and it goes with "
                        "either one's prune")

FLUX_KS, HELM, SOURCE, is_kind = fluxmodel.FLUX_KS, fluxmodel.HELM, fluxmodel.SOURCE, fluxmodel.is_kind
# the bootstrap source: `flux bootstrap` makes a GitRepository; a FluxInstance (flux-operator) makes its sync kind,
# named after its namespace by default
WELL_KNOWN = {(k, "flux-system", "flux-system") for k in ("GitRepository", "OCIRepository", "Bucket")}
# Velero's chart ships its CRDs; only for it is "applied before the CRDs exist" provable from the tree
CRD_CHARTS = {"velero": ("velero.io",)}
_SOPS_TOP = re.compile(r"^sops:\s*$", re.M)
_SCAN_MAX_FILES = 20000
_SCAN_MAX_BYTES = 2 << 20


def _str(v: object) -> str:
    return v if isinstance(v, str) else ""


# --------------------------------------------------------------------------------------------------
# What a directory applies


def _affixed(o: Obj) -> bool:
    """Whether kustomize's namePrefix/nameSuffix rename the object: not the kinds its transformers leave alone
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/builtins/PrefixTransformer.go prefixFieldSpecsToSkip)."""
    group = o.api_version.split("/", 1)[0] if "/" in o.api_version else ""
    return o.kind not in ("CustomResourceDefinition", "Namespace") and \
        (group, o.kind) != ("apiregistration.k8s.io", "APIService")


def _encrypted_file(p: Path, known: dict[Path, bool], run: Run) -> bool:
    """Named *.sops.yaml or holding a top-level sops block (``known``: files already read, and a cache)."""
    if p.name.endswith((".sops.yaml", ".sops.yml")):
        return True
    if p not in known:
        try:
            known[p] = bool(_SOPS_TOP.search(run.text(p)))
        except (OSError, ValueError):
            known[p] = False
    return known[p]


# --------------------------------------------------------------------------------------------------
# Reading the rest of the repository


def _scan_repo(root: Path, seen: set[Path], run: Run) -> list:
    """The objects of the repository outside the given paths that hold facts (validate.producers.SCAN_KIND): facts
    only, no findings. Each file is read once, its text kept in the run."""
    real = run.real
    reader = Reader(str(root))  # the scan stays inside the repository: a symlink out is refused
    count = 0
    candidates: list[Path] = []
    for dirpath, dirnames, filenames in run.fs.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.startswith(".") or not f.endswith((".yaml", ".yml")) or f in KUSTOMIZE_FILES:
                continue
            count += 1
            if count > _SCAN_MAX_FILES:
                return []  # not a Flux repository this could model in time: facts from the given paths only
            p = Path(dirpath) / f
            size = run.fs.regular(p)  # regular files only: no FIFO, device or link out of the repository
            if size is None or size > _SCAN_MAX_BYTES or p in seen or real(p) in seen:
                continue
            candidates.append(p)
    for p in candidates:
        try:
            decoded = run.decoded(p, root=root)
        except (OSError, ValueError):  # safefile's refusals included
            continue
        if "\0" in decoded.text or not SCAN_KIND.search(decoded.text):
            continue
        try:
            reader.read(display_path(p), p, decoded)
        except Exception:  # noqa: BLE001 - a file validate was not asked about must not stop the run
            continue
    return reader.objects


def _built(g: Graph, o: Obj, ks: Obj, kind: str, ns: str, name: str) -> object:
    """The copy of ``o`` that ``ks`` applies: the digest of the object of that kind and name its kustomize build
    emitted (kustomize.built_copies; the namespace as applied, or none when the build leaves it to Flux), else
    the digest of ``o`` as written (copy_digest) when no build of ``ks`` ran or none emitted exactly one such object; _DELETED when
    its build ran and emitted none."""
    emitted = g.built_copies.get(id(ks))
    found = [c for c in emitted or [] if c[1] == kind and c[3] == name and c[2] in (ns, "")]
    if len(found) == 1:
        return found[0][4]
    if emitted and not any(c[1] == kind and c[3] == name for c in emitted):
        return _DELETED  # its build ran and emitted no such object: a patch deleted it
    return copy_digest(o.data)


_DELETED = object()


def copy_digest(data: object) -> str:
    """The digest of one copy of an object as applied, for comparing the copies of one applied identity: without its
    name and namespace, which the copies share once kustomize's transformers ran (a Namespace that `namespace:`
    renames, an object moved into one), and without the annotations a kustomize build adds (config.kubernetes.io and
    internal.config.kubernetes.io are kustomize's, kubernetes-sigs/kustomize@kustomize/v5.7.1:api/konfig/
    builtinpluginconsts; Flux sets none). One form for a built copy (kustomize.built_copies) and a written one."""
    from velero_gitops.validate import buildcache

    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        return buildcache.digest(data)
    md = data["metadata"]
    ann = md.get("annotations")
    kept = {k: v for k, v in ann.items() if not str(k).startswith(("config.kubernetes.io/",
            "internal.config.kubernetes.io/"))} if isinstance(ann, dict) else ann
    meta = {k: v for k, v in md.items() if k not in ("name", "namespace", "annotations")}
    if kept:
        meta["annotations"] = kept
    return buildcache.digest({**{k: v for k, v in data.items() if k != "metadata"}, "metadata": meta})


# --------------------------------------------------------------------------------------------------
# The graph


class Graph:
    """Which Flux Kustomization applies which file, the namespaces each object ends up in, and the
    decryption each Kustomization gets. Built once per run, before schema validation (substitution)."""

    def __init__(self, objects: list[Obj], run: Run) -> None:
        opts = self.opts = run.opts
        self.run = run
        self.real = run.real
        self.scope = list(objects)
        self.root = self._repo_root(objects, run)
        self.tree = resolve.Tree(self.root, run)
        # facts of the files on disk, each computed once per run (issue 23: no walk up the folders per object)
        self._unlisted_memo: dict[Path, Path | None] = {}
        self._parent_ns_memo: dict[Path, tuple[str, Path | None]] = {}
        seen = {self.real(o.path) for o in objects if o.path is not None}
        self.extra = _scan_repo(self.root, seen, run) if self.root is not None and opts.flux else []
        self.all = self.scope + self.extra
        self._given = opts  # before the guess: the per-cluster guess starts from it again
        # what flux-operator makes from a FluxInstance's sync: the root Kustomization of the cluster, and a source
        # of the repository that the guess must see (one rendered from a chart's valuesFrom too)
        self.sync_roots = sync_roots(self.all, generated_values=self._generated_values, values_of=self._release_values)
        opts = self.opts = run.opts = guess_repo_source(self.all, opts, self._found_here, self.sync_roots)
        self.cluster_sources: dict[int, set[tuple[str, str, str]]] = {}  # cluster -> its repository's sources
        self.cluster_flux_ns: dict[int, str] = {}  # cluster -> the namespace its controllers run in (flux_namespaces)
        self._own: dict[frozenset[int] | None, set[tuple[str, str, str]]] = {}  # Graph.own_sources, per build
        self.synthetic = [r.kustomization for r in self.sync_roots if r.kustomization is not None]
        self.flux_ks = [o for o in self.all if is_kind(o, FLUX_KS, "Kustomization")] + self.synthetic
        self.roots: dict[int, list[Path]] = {id(ks): _candidate_roots(ks, run, self.root) for ks in self.flux_ks}
        self.applied_by: dict[Path, list] = {}  # file -> [Kustomization]
        self._via: dict[tuple[Path, int], list[tuple[str, Path | None]]] = {}  # (file, ks) -> [kustomize namespace, its file]
        self._ns: dict[int, list[str]] = {}
        self.substituted: dict[int, bool] = {}
        # id(object) -> ({pointer: the variables without a value that left it empty}, the Kustomization substituting)
        self.blanked: dict[int, tuple[dict[str, list[str]], Obj]] = {}
        # id(object) -> (why its substitution was not made, the Flux Kustomization): varsub's budget, one per file
        self.too_large: dict[int, tuple[varsub.TooLarge, Obj]] = {}
        self._budgets: dict[Path, varsub.Budget] = {}
        self._patched: set[int] = set()  # Flux Kustomizations a parent's patches were applied to
        self.patched_by: dict[int, list[tuple[Obj, fluxmodel.Patch]]] = {}  # id(ks) -> (parent, patch) applied to it
        self._raw_names: dict[int, tuple[str, str]] = {}  # id -> (name, namespace) as written, when substituted
        self._has_sync: bool | None = None
        self._elsewhere: bool | None = None  # builds_elsewhere
        # id(Flux Kustomization) -> what its kustomize build emitted (kustomize.built_copies), when builds ran
        self.built_copies: dict[int, list[tuple[str, ...]]] = {}
        self._seeded: dict[tuple[str, str, str], Path | None] = {}  # seeded_from, per source
        self._made: set[tuple[str, str, str]] | None = None  # _operator_made
        self._entries: set[Path] | None = None
        self._outside: set[Path] | None = None  # _hand_applied_dirs
        self._path_dirs: set[Path] | None = None  # _named_dirs
        self._clash: dict[Path, set[Path]] | None = None  # _clashes
        self._hand_entries: set[Path] | None = None
        self._live_dirs: set[Path] | None = None
        self._by_file: dict[Path, list] | None = None
        self.moved: list[Path] = []  # folders that were a source's root once, and no sync applies now (_moved_roots)
        self.cluster: dict[int, frozenset[int]] = {}  # id(object) -> the clusters that apply it (see _partition)
        self.cluster_roots: list = []  # the root Kustomization of each cluster, when there are several
        self._into: dict[int, frozenset[int]] = {}  # id(Kustomization) -> the clusters its build is applied to
        self._spec_patches: dict[tuple[int, str], list] = {}
        self._named: dict[tuple[str, str], list] | None = None
        self._models: dict[int, fluxmodel.Kustomization | fluxmodel.HelmRelease] = {}
        self._apply_kustomization_patches()
        self._build()
        if self._apply_parent_patches():
            self._build()
        self._apply_object_patches()
        self._partition()  # substitution reads each Kustomization's variables from its own cluster (variables)
        for _ in range(3):  # substitution may resolve a child's spec.path: build again until stable
            if not self._substitute_all():
                break
            self._build()
            # a parent that applies its children only once substitution resolved its own sourceRef or path (a
            # `name: ${KS_GIT_REPO_NAME}` its parent fills) patches them as the controller does, before they are
            # substituted in their turn (its build runs the patches, then postBuild)
            if self._apply_parent_patches():
                self._build()
        self._partition()
        if self._guess_per_cluster():
            self._build()
            self._partition()

    def _release_values(self, o: Obj) -> dict | None:
        """The values helm-controller installs HelmRelease ``o`` with (validate/helmvalues.py: its valuesFrom
        ConfigMaps, most often a configMapGenerator beside it, then spec.values), read before the first build: the
        sync roots it may declare are what the build starts from. None outside a repository."""
        from velero_gitops.validate import helmvalues

        if self.root is None or o.path is None:
            return None
        return helmvalues.of_release(_Unbuilt(self), self.root, o).values

    def _generated_values(self) -> list[tuple[str, str]]:
        """The (key, value) pairs of every configMapGenerator of the repository (``literals``, ``envs`` files):
        kustomize's api/kv/kv.go reads an env file as KEY=VALUE lines, ``#`` comments and blank lines skipped. Read
        only when a sync path needs a variable (sync_roots); files stay inside the repository (Run.text)."""
        out: list[tuple[str, str]] = []
        if self.root is None:
            return out
        for dirpath, dirnames, filenames in self.run.fs.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if not any(f in KUSTOMIZE_FILES for f in filenames):
                continue
            d = Path(dirpath)
            k, _ = self.tree.kustomization(d)
            gens = k.get("configMapGenerator")
            for g in gens if isinstance(gens, list) else []:
                if not isinstance(g, dict):
                    continue
                lines = [x for x in g.get("literals") or [] if isinstance(x, str)]
                for env in [*sequence(g, "envs"), *([g["env"]] if isinstance(g.get("env"), str) else [])]:
                    try:
                        lines += self.run.text(d / str(env), root=self.root).splitlines()
                    except (OSError, ValueError):
                        continue
                for line in lines:
                    key, eq, value = line.strip().partition("=")
                    if eq and key and not key.startswith("#"):
                        out.append((key, value.strip().strip('"')))
        return out

    def kustomization(self, ks: Obj) -> fluxmodel.Kustomization:
        """The typed spec of a Flux Kustomization as the controller sees it (after its parents' patches and
        substitution), parsed once per graph build."""
        key = id(ks)
        m = self._models.get(key)
        if not isinstance(m, fluxmodel.Kustomization):
            m = self._models[key] = fluxmodel.kustomization(ks)
        return m

    def helmrelease(self, hr: Obj) -> fluxmodel.HelmRelease:
        key = id(hr)
        m = self._models.get(key)
        if not isinstance(m, fluxmodel.HelmRelease):
            m = self._models[key] = fluxmodel.helmrelease(hr)
        return m

    def _guess_per_cluster(self) -> bool:
        """Each cluster has its own flux-system, and its controllers read this repository through that cluster's
        source: with several clusters and no --repo-source, the guess (guess_repo_source) is made again on each
        cluster's objects. The run's options get the union (what kustomize builds, which Kustomizations read this
        repository); lookups and ``reads_repo`` use the holder's cluster's own. True when a cluster's guess differs
        from the repository-wide one (the graph is then built again)."""
        if not self.cluster_roots or list(self._given.repo_sources) != list(DEFAULT_REPO_SOURCES):
            return False
        members: dict[int, list] = {}
        for o in self.all:
            for c in self.cluster.get(id(o), ()):
                members.setdefault(c, []).append(o)
        whole = _repo_sources(self.opts)
        guessed = {c: guess_repo_source(objs, self._given, self._found_here, self._roots_among(objs))
                   for c, objs in members.items()}
        per = {c: _repo_sources(o) for c, o in guessed.items()}
        if all(v == whole for v in per.values()):
            return False
        self.cluster_sources = per
        self.cluster_flux_ns = {c: _flux_namespace(o) for c, o in guessed.items()}
        union = sorted(f"{k}/{ns}/{n}" for k, ns, n in whole.union(*per.values()))
        self.opts = self.run.opts = dataclasses.replace(self.opts, repo_sources=union)
        return True

    def _roots_among(self, objs: list[Obj]) -> list[SyncRoot]:
        """The graph's sync roots declared by one of ``objs`` (a cluster's members)."""
        ids = {id(o) for o in objs}
        return [r for r in self.sync_roots if id(r.obj) in ids or id(r.kustomization) in ids]

    def _found_here(self, ks: Obj) -> bool | None:
        """Whether a Kustomization's spec.path, as written, names a folder of this checkout if its source were this
        repository; None when it tells nothing: a path that is not literal (``${...}``, set by a parent's patch or
        substitution), or the source's root (every artifact has one)."""
        m = fluxmodel.kustomization(ks)
        p = m.path if m.path_set else None
        if p is None or "${" in p or ks.path is None or not p.strip("./"):
            return None
        roots = [(r, self.root or r) for r in _candidate_roots(ks, self.run, self.root)]
        own = self.run.find_root(self.real(ks.path).parent)  # a cluster that is a repository of its own (_roots_of)
        if own is not None and (self.run.boundary is None or inside(own, self.run.boundary)):
            roots.append((own, own))
        return any(self.run.fs.isdir(r / p.lstrip("/")) and inside(self.real(r / p.lstrip("/")), bound)
                   for r, bound in roots)

    def sources_for(self, o: Obj) -> set[tuple[str, str, str]]:
        """The sources that read this repository, as the controllers of ``o``'s cluster see them."""
        clusters = self.cluster.get(id(o)) if self.cluster_sources else None
        if not clusters:
            return _repo_sources(self.opts)
        return set().union(*(self.cluster_sources.get(c, set()) for c in clusters))

    def flux_namespaces(self, o: Obj) -> list[str]:
        """Where the controllers of ``o``'s cluster run (_flux_namespace of that cluster's own guess): each cluster has
        its own, and another cluster's FluxInstance namespace says nothing of this one's."""
        clusters = self.cluster.get(id(o)) if self.cluster_flux_ns else None
        if not clusters:
            return [_flux_namespace(self.opts)]
        return sorted({self.cluster_flux_ns[c] for c in clusters if c in self.cluster_flux_ns}) or \
            [_flux_namespace(self.opts)]

    @staticmethod
    def _repo_root(objects: list[Obj], run: Run) -> Path | None:
        """The root of the repository the run reads: the folder a source artifact starts at, from which
        kustomize-controller joins every spec.path (fluxcd/kustomize-controller@v1.9.4:internal/controller/
        kustomization_controller.go, securejoin of the artifact root and spec.path). One run reads one repository, so
        of the folders found from the files (documents.find_root) the root is one that holds them all; when each file
        has one and none holds them all, a folder that only holds its own ``.sops.yaml`` (sops takes the nearest one
        above the file it encrypts, getsops/sops@v3.10.2:config/config.go) is no root unless a Flux Kustomization in
        it names a folder from there, and the root is their common folder inside the run's boundary. Files with no
        such folder above them are in the repository too: the root is then the common folder of all, inside the run's
        boundary."""
        if run.opts.repo_root:
            return run.real(Path(run.opts.repo_root))
        firsts: list[Path | None] = []
        found: list[Path] = []
        folders: set[Path] = set()
        syncs: dict[Path, bool] = {}
        for o in objects:
            if o.path is None:
                continue
            here = run.real(o.path).parent
            folders.add(here)
            r = run.find_root(here)
            firsts.append(r)
            if r is None:
                continue
            if r not in found:
                found.append(r)
            p = dig(o.data, "spec", "path") if is_kind(o, FLUX_KS, "Kustomization") else None
            if isinstance(p, str) and "${" not in p and not syncs.get(r):
                syncs[r] = run.fs.isdir(r / p.lstrip("/"))
        if not found:
            return None
        if None in firsts:
            # a file with no root's marker above it is still in the repository: its root holds that file too, so a
            # marker found only below the files' common folder (a subfolder's own .sops.yaml) is not the root
            common = Path(os.path.commonpath([str(f) for f in folders | set(found)]))
            if run.boundary is not None and inside(common, run.boundary):
                return common
            return firsts[0]
        if len(found) == 1:
            return found[0]
        holding = [r for r in found if all(inside(f, r) for f in folders)]
        if holding:
            return max(holding, key=lambda r: len(r.parts))
        if any(syncs.get(r) for r in found):
            return next(r for r in found if syncs.get(r))
        common = Path(os.path.commonpath([str(r) for r in found]))
        return common if run.boundary is not None and inside(common, run.boundary) else found[0]

    def _build(self) -> None:
        self._build_from(self.flux_ks)
        self.moved = sorted(set(self.moved).union(self._moved_roots()))  # kept once found: its Kustomizations go
        # a Kustomization in a file that no kustomization.yaml lists (a disabled app, the disaster-recovery entry
        # point applied by hand), or in a tree whose own sync no longer points at it, never exists on the cluster: it
        # applies, patches and decrypts nothing
        live = [k for k in self.flux_ks if k.path is None or self.applied_by.get(self.real(k.path))
                or any(k is s for s in self.synthetic) or self._applied_outside(k)
                or not (self._unlisted(self.real(k.path)) or self._in_moved(self.real(k.path)))]
        if len(live) != len(self.flux_ks):
            self.flux_ks = live
            self._build_from(live)

    def _moved_roots(self) -> list[Path]:
        """The folders that once were a source's root and no longer are: a tree moved inside the repository (an
        ``archive/`` of an old cluster) with its own sync. ``flux bootstrap`` writes the sync Kustomization into
        <path>/flux-system/ with spec.path <path>, relative to the source's root, so that it applies its own file
        (fluxcd/flux2@v2.7.5:pkg/manifestgen/sync/sync.go, pkg/bootstrap/bootstrap.go); kustomize-controller reads
        spec.path from the root of the source artifact (fluxcd/kustomize-controller@v1.9.4:internal/controller/
        kustomization_controller.go, securejoin of the artifact root and spec.path). A Kustomization that nothing
        of the repository applies, whose spec.path names no folder from the repository's root but, read from a folder
        D above its file, names a folder holding that file, was written for D as a source root: the repository's
        source never applies D's tree. Only while another root of the repository does apply something (a live
        cluster): a repository whose every root is broken is reported as it is."""
        if self.root is None:
            return []
        roots = [k for k in self.flux_ks if k.path is not None and not self.parents(k)]
        if not any(self.path_dir(k) is not None for k in roots):
            return []
        out: list[Path] = []
        for k in roots:
            m = self.kustomization(k)
            p = m.path if m.path_set else None
            if not p or "${" in p or self.path_dir(k) is not None or not self.reads_repo(k):
                continue
            rel = Path(posixpath.normpath(p.lstrip("/"))) if p.strip("./") else None
            here = self.real(k.path).parent
            if rel is None or rel.is_absolute() or ".." in rel.parts:
                continue
            for d in [here, *here.parents]:
                if d == self.root or not inside(d, self.root):
                    break
                if inside(here, d / rel):
                    out.append(d)
                    break
        return out

    def _in_moved(self, rp: Path) -> bool:
        return any(inside(rp, d) for d in self.moved)

    def _build_from(self, kustomizations: list) -> None:
        self.applied_by, self._via, self._ns = {}, {}, {}
        self._spec_patches, self._named = {}, None  # the Kustomizations or their specs may have changed
        self._models = {}
        self._own = {}  # names are substituted between builds
        self._has_sync, self._elsewhere, self._seeded = None, None, {}
        self._entries = None
        self._outside, self._clash, self._path_dirs = None, None, None
        self._hand_entries = None  # _applied_outside: folders applied with kubectl apply -k
        self._live_dirs = None
        self._foreign: list[Obj] | None = None
        for ks in kustomizations:
            target = self.path_dir(ks)
            if target is None:
                continue
            for f, ns, nsfile in self.tree.flux_applied(target, self.kustomization(ks)):
                lst = self.applied_by.setdefault(f, [])
                if not any(k is ks for k in lst):
                    lst.append(ks)
                via = self._via.setdefault((f, id(ks)), [])  # a component reached from several namespaces
                if (ns, nsfile) not in via:
                    via.append((ns, nsfile))
        self._drop_never_applied()

    @property
    def has_sync(self) -> bool:
        """The repository holds a cluster's sync Kustomization: what Flux applies is known completely."""
        if self._has_sync is None:
            self._has_sync = any(self.sync_root(k) for k in self.flux_ks)
        return self._has_sync

    def _drop_never_applied(self) -> None:
        """A Flux Kustomization in a file that Flux never applies (left out by the kustomization.yaml above it) applies
        nothing: the controllers never see it. Dropping one may leave others unapplied, so until none is left."""
        while True:
            gone = {id(k) for k in self.flux_ks if self.dead(k)}
            if not gone:
                return
            changed = False
            for f in list(self.applied_by):
                kept = [k for k in self.applied_by[f] if id(k) not in gone]
                if len(kept) != len(self.applied_by[f]):
                    changed = True
                    self._outside = None  # the roots that apply a file may have changed
                    if kept:
                        self.applied_by[f] = kept
                    else:
                        del self.applied_by[f]
            if not changed:
                return

    # -- clusters ---------------------------------------------------------------------------------
    def parents(self, ks: Obj) -> list[Obj]:
        """The Flux Kustomizations of the repository that apply ``ks`` (itself excluded: bootstrap's flux-system
        Kustomization applies its own folder)."""
        if ks.path is None:
            return []
        return [k for k in self.applied_by.get(self.real(ks.path), []) if k is not ks]

    def _partition(self) -> None:
        """One graph per cluster. A cluster is what one root applies: a Flux Kustomization that no Flux Kustomization
        of the repository applies (bootstrap's ``flux-system``, or one the cluster was given by hand), and everything
        reached from it. One cluster holds one object per kind/namespace/name (the controllers key their inventory on
        it), so roots with the same namespace/name are distinct clusters; every other root joins the one whose file
        shares the longest folder prefix with its own. A repository whose roots all differ is one cluster, and an
        object no root reaches belongs to none and is visible from all. Roots of the same name that are sync roots
        (a FluxInstance's, bootstrap's) are preferred as the seeds of the clusters; without such a group, every sync
        root seeds its own cluster."""
        self.cluster, self.cluster_roots, self._into = {}, [], {}
        self._own = {}
        # a sync Kustomization is a root even when a Kustomization it reaches applies its file back (a FluxInstance
        # kept in the tree it syncs)
        roots = [k for k in self.flux_ks if k.path is not None and (not self.parents(k) or self.sync_root(k))]
        by_name: dict[tuple[str, str], list] = {}
        for k in roots:
            by_name.setdefault((self.ns_of(k), k.name), []).append(k)
        seeds = max(by_name.values(), key=lambda ks: (len(ks) > 1, all(self.sync_root(k) for k in ks), len(ks)),
                    default=[])
        # A sync root is what one cluster's bootstrap made (it applies its own folder and nothing applies it), so
        # two of them are two clusters whatever they are named (one named by hand, another by bootstrap); beside a
        # group of same-named roots, each sync root outside the group is a cluster of its own too.
        seeds = [*seeds, *(k for k in roots if self.sync_root(k) and not any(k is s for s in seeds))]
        by_file: dict[Path, list] = {}
        for o in self.all:
            if o.path is not None:
                by_file.setdefault(self.real(o.path), []).append(o)
        applies: dict[int, list[Path]] = {}
        for f, kss in self.applied_by.items():
            for k in kss:
                applies.setdefault(id(k), []).append(f)
        # Two roots that reach different Flux Kustomizations of one namespace/name cannot share a cluster (one
        # inventory entry per kind/namespace/name): a root applied by hand beside a bootstrapped one (a production
        # overlay next to staging's sync) is a cluster of its own when its tree names its Kustomizations like the
        # other's. Roots that reach the same objects (one tree applied twice) stay together.
        reached = {id(r): self._reached_kustomizations(r, applies, by_file) for r in roots}
        # (namespace, name) -> the ids the roots reach under it: a root reaches a key another root reaches as another
        # object when the key holds two ids (one pass over the roots, not one per pair)
        reached_as: dict[tuple[str, str], set[int]] = {}
        for mine in reached.values():
            for key, oid in mine.items():
                reached_as.setdefault(key, set()).add(oid)
        seed_ids = {id(s) for s in seeds}
        for r in roots:
            if id(r) in seed_ids:
                continue
            if any(len(reached_as[key]) > 1 for key in reached[id(r)]):
                seeds.append(r)
                seed_ids.add(id(r))
        # A Kustomization with spec.kubeConfig applies its build with a client made from that kubeconfig, to the
        # cluster it names (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go reconcile:
        # WithKubeConfig, impersonation.GetClient; the Kustomization itself, its source, dependsOn, decryption Secret
        # and substituteFrom stay on the controller's cluster, read with r.Client): each kubeconfig reference (its
        # namespace, kind, name, key) is a cluster of its own, whose objects are applied, and whose Flux objects
        # are reconciled, there.
        remote: dict[tuple, Obj] = {}  # kubeconfig reference -> the first Kustomization applying with it
        for k in self.flux_ks:
            kc = self.kustomization(k).kube_config
            if kc is not None:
                remote.setdefault((self.ns_of(k), *kc), k)
        if len(seeds) < 2 and not remote:
            return
        self.cluster_roots = [*seeds, *remote.values()]
        into = {id(k): len(seeds) + i for i, key in enumerate(remote) for k in self.flux_ks
                if (kc := self.kustomization(k).kube_config) is not None and (self.ns_of(k), *kc) == key}
        seed_parts = [self.real(s.path).parent.parts for s in seeds]

        def shared(a: tuple, b: tuple) -> int:
            n = 0
            for x, y in zip(a, b):
                if x != y:
                    break
                n += 1
            return n

        for root in roots:
            if not any(root is s for s in seeds) and self.reads_repo(root) and self.path_dir(root) is None:
                continue  # applies nothing here (a template, a stale root): no cluster's, so it guesses no cluster's source
            own = self.real(root.path).parent.parts
            scores = [shared(own, sp) for sp in seed_parts]
            labels = frozenset(i for i, sc in enumerate(scores) if sc == max(scores))
            if len(labels) == len(seeds) and not any(root is s for s in seeds):
                # as near to every cluster as to any (clusters/<new>/ beside clusters/<each>/, no root of its own
                # cluster): no cluster is known to apply it, so it is none's (Graph.same_cluster), and still visible
                # from all (Graph.visible)
                continue
            # the sync roots flux-operator makes from one declaring file (a flux-instance chart's values shared by
            # clusters, one root per value of its ${VAR} path) share that file's folder, not a cluster
            if any(root is k for k in self.synthetic):
                labels = next((frozenset({i}) for i, s in enumerate(seeds) if s is root), labels)
            todo, seen = [(root, labels)], {(id(root), labels)}
            while todo:
                k, on = todo.pop()
                self.cluster[id(k)] = self.cluster.get(id(k), frozenset()) | on
                target = frozenset({into[id(k)]}) if id(k) in into else on
                self._into[id(k)] = self._into.get(id(k), frozenset()) | target
                for f in applies.get(id(k), []):
                    for o in by_file.get(f, []):
                        self.cluster[id(o)] = self.cluster.get(id(o), frozenset()) | target
                        if is_kind(o, FLUX_KS, "Kustomization") and (id(o), target) not in seen:
                            seen.add((id(o), target))
                            todo.append((o, target))

    def _reached_kustomizations(self, root: Obj, applies: dict[int, list[Path]],
                                by_file: dict[Path, list]) -> dict[tuple[str, str], int]:
        """{(namespace, name): id} of the Flux Kustomizations reached from ``root`` (itself excluded)."""
        out: dict[tuple[str, str], int] = {}
        todo, seen = [root], {id(root)}
        while todo:
            k = todo.pop()
            for f in applies.get(id(k), []):
                for o in by_file.get(f, []):
                    if is_kind(o, FLUX_KS, "Kustomization") and id(o) not in seen:
                        seen.add(id(o))
                        todo.append(o)
                        out[(self.ns_of(o), o.name)] = id(o)
        return out

    def sync_root(self, ks: Obj) -> bool:
        """The cluster's sync Kustomization: the one flux-operator makes from a FluxInstance, or bootstrap's, which
        applies the folder holding its own file (clusters/<name>/flux-system/gotk-sync.yaml) and is applied by nothing
        else."""
        if any(ks is k for k in self.synthetic):
            return True
        appliers = self.applied_by.get(self.real(ks.path), []) if ks.path is not None else []
        return any(k is ks for k in appliers) and all(k is ks for k in appliers)

    def chains(self, path: Path) -> list[list]:
        """Every chain [root, ..., K] of Flux Kustomizations down to one (K) that applies the file ``path``; a root is
        applied by no other Kustomization of the repository."""
        out: list[list] = []

        def up(chain: list, depth: int) -> None:
            parents = [p for p in self.parents(chain[0]) if not any(p is c for c in chain)]
            if not parents or depth > 64:
                out.append(chain)
            for p in parents:
                up([p, *chain], depth + 1)

        for k in self.applied_by.get(self.real(path), []):
            up([k], 0)
        return out

    def applied_from_sync(self, path: Path) -> list:
        """The Flux Kustomizations that apply the file ``path`` and that the cluster's sync reaches (through the
        Kustomizations that apply them): empty when Flux never applies the file. The question adoption asks of a
        rendered ks.yaml."""
        out: list = []
        for chain in self.chains(path):
            if self.sync_root(chain[0]) and not any(chain[-1] is k for k in out):
                out.append(chain[-1])
        return out

    def into(self, ks: Obj) -> frozenset[int] | None:
        """The clusters the objects Flux Kustomization ``ks`` applies are on: its own, or the one its spec.kubeConfig
        names (_partition); None when the graph has one cluster or no root reaches ``ks``."""
        return self._into.get(id(ks))

    def applies_beside(self, a: Obj, b: Obj) -> bool:
        """Whether Flux Kustomizations ``a`` and ``b`` apply into one cluster (or either into an unknown one)."""
        x, y = self.into(a), self.into(b)
        return x is None or y is None or bool(x & y)

    def visible(self, holder: Obj, o: Obj | None) -> bool:
        """Whether a lookup from ``holder`` may find ``o``: they share a cluster, or either belongs to none."""
        a, b = self.cluster.get(id(holder)), self.cluster.get(id(o))
        return a is None or b is None or bool(a & b)

    def same_cluster(self, anchor: Obj | None, o: Obj) -> bool:
        """The strict form of ``visible``, for the facts one cluster's config is judged on (storage, Prometheus, the
        pinned Flux, the disaster-recovery procedure): with several clusters, an object no root reaches shares a
        cluster only with another such object, so a tree no root reaches (``anchor`` None, or of no cluster) is judged
        on no other cluster's facts. With one cluster, every object shares it."""
        if not self.cluster_roots:
            return True
        a = self.cluster.get(id(anchor)) if anchor is not None else None
        b = self.cluster.get(id(o))
        return bool(a & b) if a is not None and b is not None else a is None and b is None

    def _apply_kustomization_patches(self) -> None:
        """The ``patches`` and ``patchesStrategicMerge`` of each kustomization whose build holds a Flux Kustomization's
        file, applied to that object in place, the innermost kustomization first: kustomize patches the resources it
        accumulates (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go runTransformers, the
        builtin PatchTransformer), so the Kustomization the cluster holds is the patched one. It is how a bootstrapped
        flux-system is customised: its kustomization.yaml patches gotk-sync.yaml with ``decryption`` or
        ``spec.patches``, which then reach every child (fluxcd/flux2 bootstrap customisation)."""
        if self.root is None:
            return
        root = self.real(self.root)
        for ks in self.flux_ks:
            if ks.path is None:
                continue
            f = self.real(ks.path)
            d = f.parent
            while inside(d, root) and self.tree.applies(d, f) is not None:
                for p in self.tree.patches(d):
                    if resolve.selects(p, ks, ks.namespace) and resolve.apply_patch(ks, p):
                        self._models.pop(id(ks), None)
                if d == root:
                    break
                d = d.parent

    def _apply_parent_patches(self) -> bool:
        """A parent Kustomization's ``spec.patches`` that target the Flux Kustomizations it applies are applied to
        them in place, so that every later step sees what the controller sees (kustomize-controller@v1.9.4:
        internal/controller/kustomization_controller.go build → fluxcd/pkg@kustomize/v1.35.4:kustomize/
        kustomize_generator.go adds spec.patches to the parent's kustomization; the patch wins over the child's own
        value). Strategic-merge patches merge maps and replace lists; JSON 6902 patches apply as kustomize's do
        (resolve.apply_patch)."""
        changed = False
        for ks in self.flux_ks:
            before = changed
            changed = False
            for parent in self.parents(ks):
                for p in self.kustomization(parent).patches:
                    if p.patch is None or id(ks) in self._patched or not resolve.selects(p, ks, self.ns_of(ks)):
                        continue
                    if resolve.apply_patch(ks, p):
                        changed = True
                        self._models.pop(id(ks), None)
                        self.patched_by.setdefault(id(ks), []).append((parent, p))
            if changed:
                self._patched.add(id(ks))
            changed |= before
        return changed

    def written_by_parent(self, ks: Obj, field: str) -> tuple[Obj, int] | None:
        """(the parent, the line of its ``spec.patches`` entry) whose patch last wrote spec.<field> of ``ks``: the
        value the controller applies is the patch's (a strategic merge replaces a list of a custom resource), not the
        one in ks's file. None when no parent patch writes it."""
        for parent, p in reversed(self.patched_by.get(id(ks), [])):
            if resolve.writes(p, field):
                entries = dig(parent.data, "spec", "patches")
                i = next((i for i, e in enumerate(entries) if e is p.raw), None) if isinstance(entries, list) else None
                return parent, parent.line_of(f"/spec/patches/{i}") if i is not None else parent.line
        return None

    def _apply_object_patches(self) -> None:
        """Each Flux Kustomization's ``spec.patches`` applied to the other objects it applies (kustomize-controller adds
        them to the kustomization it builds, before postBuild substitution), so that a default a Kustomization patches
        in (a HelmRelease's interval) is seen. An object applied by several Kustomizations gets each one's patches."""
        by_file: dict[Path, list] = {}
        for o in self.all:
            if o.path is not None and not is_kind(o, FLUX_KS, "Kustomization"):
                by_file.setdefault(self.real(o.path), []).append(o)
        applies: dict[int, list[Path]] = {}
        for f, kss in self.applied_by.items():
            for k in kss:
                applies.setdefault(id(k), []).append(f)
        for ks in self.flux_ks:
            m = self.kustomization(ks)
            patches = [p for p in m.patches if p.patch is not None]
            if not patches:
                continue
            tn = m.target_namespace
            for f in applies.get(id(ks), []):
                for o in by_file.get(f, []):
                    for p in patches:
                        if resolve.selects(p, o, tn or o.namespace) and resolve.apply_patch(o, p):
                            self._models.pop(id(o), None)

    def path_dir(self, ks: Obj) -> Path | None:
        """The directory a Kustomization of this repository builds, None when unknown or elsewhere."""
        found = self.resolve(ks)
        return found[1] if found is not None else None

    def resolve(self, ks: Obj) -> tuple[Path, Path] | None:
        """(the root ``spec.path`` is relative to, the directory it names) for a Kustomization reading this
        repository; None when it reads another source, its path is unknown (``${...}``) or names no directory inside
        its repository. The one answer to "where does this Kustomization's build start", for the graph, the kustomize
        builds (validate.kustomize.plans) and adoption (ops.wiring)."""
        m = self.kustomization(ks)
        p = m.path if m.path_set else "./"  # an empty path is the source's root (KustomizationSpec.Path)
        if p is None or "${" in p or not self.reads_repo(ks):
            return None
        for root, bound in self._roots_of(ks):
            target = root / p.lstrip("/")
            if self.run.fs.isdir(target) and inside(self.real(target), bound):
                return root, target
        return None

    def _roots_of(self, ks: Obj) -> list[tuple[Path, Path]]:
        """[(a root ``spec.path`` may be relative to, the folder the target must stay in)]. With a source per cluster
        (each cluster its own repository, as clusters/<name>/ with its own .sops.yaml), the root found from the
        Kustomization's own file comes first and bounds it, inside the run's boundary."""
        roots = self.roots[id(ks)]
        out = [(r, self.root or r) for r in roots]
        if self.cluster_sources and ks.path is not None:
            own = self.run.find_root(self.real(ks.path).parent)
            bound = self.run.boundary
            if own is not None and own != self.root and (bound is None or inside(own, bound)):
                out = [(own, own), *out]
        return out

    def seeded_from(self, ks: Obj) -> Path | None:
        """The subfolder of this checkout that the repository ``ks`` reads was seeded from, when the tree shows it:
        no Kustomization reading that source names a folder at the checkout's root, and some name folders below one
        subfolder above their own files (a repository holding the seed content of another, copied out of it before
        bootstrap). kustomize-controller joins spec.path to the root of the source's artifact
        (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go, securejoin of the
        artifact's root and spec.path), and this checkout is not that root: its paths are not checked here. None when
        a reader's path is found at the root, or no subfolder holds any (a typo stays an error)."""
        key = self._source_key(ks)
        if key is None:
            return None
        if key not in self._seeded:
            counts: Counter[Path] = Counter()
            at_root = False
            for k in self.flux_ks:
                m = self.kustomization(k)
                p = m.path if m.path_set else None
                if self._source_key(k) != key or p is None or "${" in p or not p.strip("./") or k.path is None:
                    continue
                if self.path_dir(k) is not None:
                    at_root = True
                    break
                top = self.root
                for d in self.real(k.path).parents:
                    if top is None or d == top or top not in d.parents:
                        break
                    if self.run.fs.isdir(d / p.lstrip("/")):
                        counts[d] += 1
            self._seeded[key] = counts.most_common(1)[0][0] if counts and not at_root else None
        return self._seeded[key]

    def builds_elsewhere(self) -> bool:
        """The repository's Flux Kustomizations build nothing from this checkout: none of their paths is a folder of
        it, and those reading the repository's own source read one seeded from a subfolder (seeded_from). A folder
        here is then built by no Flux Kustomization of this tree: kustomize findings on it are what Flux never builds
        (validate/unapplied.py), not errors."""
        if self._elsewhere is None:
            self._elsewhere = (any(self.seeded_from(k) is not None for k in self.flux_ks)
                               and not any(self.path_dir(k) is not None for k in self.flux_ks))
        return self._elsewhere

    def _source_key(self, ks: Obj) -> tuple[str, str, str] | None:
        ref = fluxmodel.kustomization(ks).source_ref if self.reads_repo(ks) else None
        return None if ref is None else (ref.kind, ref.namespace or self.ns_of(ks), ref.name)

    def reads_repo(self, ks: Obj) -> bool:
        # the namespace as written: an unset one matches the source in any namespace (the build sets it later)
        return reads_this_repo(self.kustomization(ks), _str(dig(ks.data, "metadata", "namespace")), self.opts,
                               self.own_sources(ks))

    def own_sources(self, holder: Obj) -> set[tuple[str, str, str]]:
        """The sources that read this repository as ``holder``'s cluster sees them: its sync source's names
        (sources_for), and every source declared with their URL and revision (same_artifact), as this build shows
        it: a source named ``${TENANT}-repo`` is known once its Kustomization's substitution has run, so the
        guess before the build cannot see it. The one answer to "is this source this repository"; the URLs come
        from the declarations ``holder`` can see (its cluster's, and those of no cluster: bootstrap's gotk-sync.yaml
        that a tree leaves out). The namespace of a declaration is its file's (metadata.namespace, or the
        kustomization.yaml above it), "" when not known: the build that places it may still be running."""
        clusters = self.cluster.get(id(holder)) if self.cluster_sources else None
        key = frozenset(clusters) if clusters else None
        if key not in self._own:
            names = self.sources_for(holder)
            seen = [o for o in self.all if key is None or self.visible(holder, o)]
            roots = [r for r in self.sync_roots if key is None or r.obj is None or self.visible(holder, r.obj)]
            self._own[key] = names | same_artifact(seen, roots, names, self._written_namespace)
        return self._own[key]

    def _written_namespace(self, o: Obj) -> str:
        md = o.data.get("metadata")
        own = _str(md.get("namespace")) if isinstance(md, dict) else ""
        return (self._parent_namespace(self.real(o.path))[0] if o.path is not None else "") or own

    def foreign_builds(self) -> list[Obj]:
        """The live Flux Kustomizations that read another source than this repository (another Git repository, an
        OCI artifact, a bucket): the controller applies what that artifact holds (fluxcd/kustomize-controller@v1.9.4:
        internal/controller/kustomization_controller.go reconcile, from the sourceRef's artifact), which is not
        here, so they may make objects of any kind and name. Only one whose source exists (declared in the
        repository, or --external): without its source the controller applies nothing. Computed once per build."""
        if self._foreign is not None:
            return self._foreign
        out = []
        for ks in self.flux_ks:
            if self.reads_repo(ks) or self.dead(ks):
                continue
            ref = fluxmodel.ref(self.source_ref(ks), holder=ks, ptr="/spec/sourceRef")
            if ref is None:
                continue
            ns = ref.namespace or self.ns_of(ks)
            if any(self.ns_of(o) in (ns, "") for o in self.named(ref.kind, ref.name) if not self.dead(o)) or \
                    {f"{ref.kind}/{ns}/{ref.name}", f"{ref.kind}/*/{ref.name}"} & set(self.opts.externals):
                out.append(ks)
        self._foreign = out
        return out

    # -- substitution ------------------------------------------------------------------------------
    def variables(self, ks: Obj) -> varsub.Lookup | None:
        """The lookup of a Kustomization's postBuild variables; None when it substitutes nothing (the controller runs
        envsubst only with at least one variable, or with substituteStrategy: Always)."""
        known = self.variable_values(ks)
        if known is None:
            return None
        values, complete = known
        post = self.kustomization(ks).post_build
        if not values and complete and post is not None and post.strategy != "Always":
            return None
        return varsub.lookup_from(values, complete)

    def _substitution_sources(self, ks: Obj) -> list[tuple[str, list[Obj]]]:
        """(kind, the objects Git shows for it) of each ``postBuild.substituteFrom`` entry of ``ks``, in order."""
        post = self.kustomization(ks).post_build
        ns = self.namespaces(ks)[0] if self.namespaces(ks) else ""
        out = []
        for ref in post.substitute_from if post is not None else ():
            if ref is None:
                continue
            kind, name = ref.kind, ref.name
            # the controller reads the source from its own cluster's API server: another cluster's copy is not it,
            # nor a file Flux never applies (``dead``: a local test cluster's bootstrap Secret, applied by hand
            # elsewhere if at all), whose values Git cannot show to be the cluster's
            out.append((kind, [o for o in self.named(kind, name) if o.kind == kind and o.name == name
                               and o.api_version == "v1" and (not ns or ns in self.namespaces(o))
                               and self.visible(ks, o) and not self.dead(o)]))
        return out

    def _operator_made(self) -> set[tuple[str, str, str]]:
        """(kind, namespace, name) of what an object applied here makes through its operator (validate.producers: an
        ExternalSecret's target, a SealedSecret's Secret), once per run: the keys such an object gets are the
        operator's to decide (external-secrets' dataFrom takes every key of the store's item), whatever Git holds
        under that name (a placeholder the operator overwrites)."""
        if self._made is None:
            self._made = {(kind, ns, name) for o in self.all if not self.dead(o)
                          for ns in self.namespaces(o) for kind, name in made_by(o, ns)}
        return self._made

    def variable_names(self, ks: Obj) -> set[str] | None:
        """The names of a Kustomization's postBuild variables when Git shows them all, values or not: a SOPS-encrypted
        Secret keeps its keys in clear (sops encrypts values only: getsops/sops@v3.10.2:sops.go Tree.Encrypt walks
        the values), so its names are known though its values are not. None without postBuild, or when a source
        is not in Git (made on the cluster, by an operator or a generator)."""
        post = self.kustomization(ks).post_build
        if post is None:
            return None
        names = {k for k, _ in post.substitute}
        ns = self.namespaces(ks)[0] if self.namespaces(ks) else ""
        if any(ref is not None and (ref.kind, ns, ref.name) in self._operator_made() for ref in post.substitute_from):
            return None  # an operator writes it (an ExternalSecret's dataFrom): its keys are the store's, not Git's
        for kind, found in self._substitution_sources(ks):
            if not found:
                return None
            for o in found:
                for key in ("data", "stringData") if kind == "Secret" else ("data",):
                    block = o.data.get(key)
                    names |= {str(k) for k in block} if isinstance(block, dict) else set()
        return names

    def variable_values(self, ks: Obj) -> tuple[dict[str, str], bool] | None:
        """(the postBuild variables of a Kustomization that the repository shows, whether that is all of them); None
        without postBuild. substituteFrom is read in the Kustomization's namespace and cluster
        (kustomize-controller@v1.9.4 internal/controller/kustomization_controller.go: the ConfigMap/Secret key is
        {ks.Namespace, ref.Name}); one whose data Git does not show (encrypted, made by a generator or an operator, or
        on the cluster only) leaves the set incomplete. A Secret's values are never read, even in clear: a value
        substituted into a name or a reference would be printed in findings (a pull request writing `name: ${PASSWORD}`
        would copy the Secret into a CI log), so they stay unknown, as an encrypted Secret's do (its names count:
        variable_names)."""
        post = self.kustomization(ks).post_build
        if post is None:
            return None
        vars_: dict[str, str] = {}
        complete = True
        for kind, found in self._substitution_sources(ks):
            if not found:
                # made on the cluster (by hand, an operator, a generator Git does not show): unknown, `optional` only
                # lets the controller go on without it (api/v1/kustomization_types.go SubstituteReference.Optional)
                complete = False
                continue
            if kind == "Secret":
                complete = False  # its values stay out of every other object (see above)
                continue
            for o in found:
                data = o.data.get("data")
                for k, v in (data or {}).items() if isinstance(data, dict) else []:
                    vars_[str(k)] = str(v).replace("\n", "")
        for k, v in post.substitute:
            vars_[k] = v.replace("\n", "")
        return vars_, complete

    def named(self, kind: str, name: str) -> list:
        """The objects of the repository with that kind and name (as last indexed: the index is rebuilt after each
        graph build, so after each round of substitution); callers re-check the name."""
        if self._named is None:
            self._named = {}
            for o in self.all:
                self._named.setdefault((o.kind, o.name), []).append(o)
        return self._named.get((kind, name), [])

    def _substitute_all(self) -> bool:
        changed = False
        for o in self.all:
            if o.path is None or id(o) in self.substituted:
                continue
            for ks in self.applied_by.get(self.real(o.path), []):
                if ks is o:
                    continue
                lookup = self.variables(ks)
                if lookup is None:
                    continue
                if varsub.disabled(o.data):
                    break
                self.substituted[id(o)] = True
                md = o.data.get("metadata")
                raw = (_str(md.get("name")), _str(md.get("namespace"))) if isinstance(md, dict) else ("", "")
                if "$" in raw[0] or "$" in raw[1]:
                    self._raw_names[id(o)] = raw
                blanked: dict[str, list[str]] = {}
                budget = self._budgets.setdefault(self.real(o.path), varsub.Budget())  # a file's objects share one
                try:
                    if resolve.substitute(o.data, lookup, blanked, budget):
                        changed = True
                except varsub.TooLarge as exc:
                    self.too_large[id(o)] = (exc, ks)
                if blanked:
                    self.blanked[id(o)] = (blanked, ks)
                    self._models.pop(id(o), None)
                break
        return changed

    def names_by(self, o: Obj, ks: Obj) -> list[str]:
        """The names object ``o`` has when Flux Kustomization ``ks`` applies it: its own, inside the namePrefix and
        nameSuffix the build puts around it (resolve.Tree.name_affixes), except for the kinds kustomize's
        transformers leave alone (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/builtins/
        PrefixTransformer.go prefixFieldSpecsToSkip: CustomResourceDefinition, APIService, Namespace)."""
        target = self.path_dir(ks) if o.path is not None else None
        if target is None or o.path is None or not _affixed(o):
            return [o.name]
        pairs = self.tree.name_affixes(target, self.kustomization(ks), self.real(o.path))
        return sorted({a + o.name + b for a, b in pairs}) or [o.name]

    def identities_by(self, o: Obj, ks: Obj) -> list[tuple[str, str]]:
        """[(namespace, name)] object ``o`` has when Flux Kustomization ``ks`` applies it: namespaces_by times names_by,
        unless a kustomization's patch renames it (resolve.Tree.identities)."""
        target = self.path_dir(ks) if o.path is not None else None
        if target is not None and o.path is not None and id(o) not in self._raw_names:
            got = self.tree.identities(target, self.kustomization(ks), self.real(o.path), o, _affixed(o))
            if got is not None:
                return got
        return [(ns, name) for ns in self.namespaces_by(o, ks) for name in self.names_by(o, ks)]

    def identities(self, o: Obj) -> list[tuple[str, str]]:
        """[(name, namespace)] the object has in the cluster: one per applying Kustomization when its name or
        namespace is substituted (a component shared by many apps, `name: ${APP}`) or prefixed by the build
        (names_by), "" where unknown."""
        raw = self._raw_names.get(id(o))
        if raw is None:
            # the name as written counts too: an overlay's patches that rename the references to it (a sourceRef set
            # to the prefixed name) are not applied to the shared file here, so lookups may use either
            own = [(o.name, ns) for ns in self.namespaces(o)]
            applying = [ks for ks in self.applied_by.get(self.real(o.path), []) if ks is not o] if o.path is not None else []
            return list(dict.fromkeys([*own, *((name, ns) for ks in applying for ns, name in self.identities_by(o, ks))]))
        out: list[tuple[str, str]] = []
        for ks in self.applied_by.get(self.real(o.path), []) if o.path is not None else []:
            lookup = self.variables(ks)
            try:
                name, known_n = varsub.expand(raw[0], lookup) if lookup is not None else (raw[0], "$" not in raw[0])
                ns, known_s = varsub.expand(raw[1], lookup) if lookup is not None else (raw[1], "$" not in raw[1])
            except varsub.BadSubstitution:
                continue
            if not known_n:
                continue
            tn = self.kustomization(ks).target_namespace
            for via in self.namespaces_by(o, ks) if not raw[1] else [ns if known_s else ""]:
                pair = (name, tn or via)
                if pair not in out:
                    out.append(pair)
        return out

    # -- namespaces --------------------------------------------------------------------------------
    def namespaces(self, o: Obj) -> list[str]:
        """Every namespace the object ends up in ("" = none known), one per Kustomization applying it; the first is
        where it is (ns_of).

        A Flux Kustomization that builds its own file (the folder it builds holds its manifest, as `flux bootstrap`
        lays out flux-system) is where the other Kustomizations applying it put it, and that object is the owner
        kustomize-controller labels what it applies with (fluxcd/kustomize-controller@v1.9.4:internal/controller/
        kustomization_controller.go, SetOwnerLabels(objects, obj.GetName(), obj.GetNamespace())). Its own build under a
        targetNamespace makes a copy in that namespace, not a move of itself: that namespace comes last."""
        key = id(o)
        if key in self._ns:
            return self._ns[key]
        md = o.data.get("metadata")
        own = _str(md.get("namespace")) if isinstance(md, dict) else ""
        out: list[str] = []
        if o.path is not None:
            rp = self.real(o.path)
            for ks in sorted(self.applied_by.get(rp, []), key=lambda k: k is o):
                tn = self.kustomization(ks).target_namespace
                for via_ns, _ in self._via.get((rp, id(ks)), [("", None)]):
                    ns = tn or via_ns or own
                    if ns not in out:
                        out.append(ns)
            if not out:
                out.append(self._parent_namespace(rp)[0] or own)
        else:
            out.append(own)
        self._ns[key] = out
        return out

    def namespaces_by(self, o: Obj, ks: Obj) -> list[str]:
        """The namespaces object ``o`` ends up in when Flux Kustomization ``ks`` applies it."""
        md = o.data.get("metadata")
        own = _str(md.get("namespace")) if isinstance(md, dict) else ""
        tn = self.kustomization(ks).target_namespace
        if o.path is None:
            return [tn or own]
        return list(dict.fromkeys(tn or via_ns or own for via_ns, _ in self._via.get((self.real(o.path), id(ks)), [("", None)])))

    def ns_of(self, o: Obj) -> str:
        return self.namespaces(o)[0]

    def moved_by(self, o: Obj, ns: str) -> str:
        """Why the object is in ``ns`` when its file says otherwise (for messages)."""
        md = o.data.get("metadata")
        own = _str(md.get("namespace")) if isinstance(md, dict) else ""
        if o.path is None or ns == own:
            return ""
        rp = self.real(o.path)
        for ks in self.applied_by.get(rp, []):
            if self.kustomization(ks).target_namespace == ns:
                return f" (targetNamespace of Flux Kustomization {ks.name})"
            for via_ns, via_file in self._via.get((rp, id(ks)), []):
                if via_ns == ns and via_file is not None:
                    return f" (moved there by `namespace: {ns}` in {display_path(via_file)})"
        pns, pfile = self._parent_namespace(rp)
        if pns == ns and pfile is not None:
            return f" (moved there by `namespace: {ns}` in {display_path(pfile)})"
        return ""

    def dead(self, o: Obj) -> bool:
        """Never applied: no Flux Kustomization applies the file, and a kustomization.yaml above it leaves it out (a
        disabled app: `# - ./app` in a parent, the app's own folder still listing its files), or, when the cluster's
        sync is in the repository (bootstrap's Kustomization, a FluxInstance), not reached from it. The controllers never
        see it, so it is not checked: one rule for schemas and lookups alike. The files a config renders (check's
        strict files) are always checked."""
        if o.path is None or any(o is k for k in self.synthetic):
            return False
        return self.dead_file(self.real(o.path), o)

    def dead_file(self, rp: Path, o: Obj | None = None) -> bool:
        """``dead`` for a file (resolved), whatever it holds: also one that yields no object (YAML that fails to
        parse); ``o``, an object of the file, may be a root that builds its own listing (live)."""
        if self.applied_by.get(rp) or rp in self.opts.strict_files:
            return False
        if self._in_moved(rp):
            return True  # a tree whose own sync no longer points at it (an archive of an old cluster): _moved_roots
        if self.has_sync:
            # the cluster's sync is in the repository: what it does not reach, Flux never applies, but for the entry
            # point of another cluster applied by hand
            return rp not in self._entry_files()
        if self._unlisted(rp):
            return not (o is not None and o in self.flux_ks and self._applied_outside(o))
        dirs = self._hand_applied_dirs()
        # a root applied by hand comes with its folder (`kubectl apply -f <folder>` applies every file of it: the
        # postBuild ConfigMap beside it); so do a file with a root of its own and one an operator copies (_names_kept)
        return (bool(dirs) and rp.parent not in dirs and rp not in self.run.named_files
                and self._loose(rp) and not self._names_kept(rp)
                and not any(d == rp.parent or d in rp.parents for d in self._named_dirs()))

    def _named_dirs(self) -> set[Path]:
        """The folders the spec.path of some Flux Kustomization names, read from whatever source (an ExternalArtifact
        an ArtifactGenerator makes of this repository is not resolved here): its build walks every manifest under a
        folder with no kustomization.yaml (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go
        generateKustomization), so a loose file under one may be applied. Computed once per graph build."""
        if self._path_dirs is None:
            self._path_dirs = set()
            for ks in self.flux_ks:
                m = self.kustomization(ks)
                if m.path and "${" not in m.path:
                    self._path_dirs.update(Path(os.path.normpath(r / m.path)) for r in self.roots.get(id(ks), ()))
        return self._path_dirs

    def _names_kept(self, rp: Path) -> bool:
        """The file holds a Flux Kustomization (a root someone may apply by hand: its spec.path is checked) or an
        object an operator copies into other namespaces under its name (validate.producers.copied_into: a bootstrap
        key Secret the reflector mirrors), whose copies other lookups find: a loose file of either kind is kept."""
        return any(is_kind(o, FLUX_KS, "Kustomization") or copied_into(o) is not None for o in self._objects_in(rp))

    def _loose(self, rp: Path) -> bool:
        """No kustomization.yaml of the repository reads the file (none above it): only a Flux build of a folder
        holding it, or someone applying it by hand, applies it."""
        for d in rp.parents:
            if self.root is not None and not inside(d, self.root):
                return True
            if self.tree.kfile(d) is not None:
                return False
            if self.root is None or d == self.root:
                return True
        return True

    def _hand_applied_dirs(self) -> set[Path]:
        """Without a sync in the repository: the folders of the files of the roots applied from outside it, a Flux
        Kustomization that nothing of the repository applies and whose build applies a file of it (`kubectl apply
        -f`, or a sync kept elsewhere). kustomize-controller applies only the spec.path of Kustomizations that exist on a cluster
        (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go reconcile builds
        spec.path of the artifact), so in a repository whose Flux Kustomizations apply its folders, a file that no
        kustomization.yaml reads, no build applies and that holds no such root (a template with placeholders, an
        example whose spec.path names nothing here) is applied by no Flux Kustomization. Empty when no root applies a
        file here: nothing then tells how the repository is applied, and every file may be. Empty too when such a
        root's file is one a kustomization.yaml reads: the repository is then applied by folders from outside (a sync
        kept elsewhere whose spec.path is that folder or one above it), and Flux's generated kustomization takes every
        manifest under a folder that has no kustomization.yaml (fluxcd/pkg@kustomize/v1.35.4:kustomize/
        kustomize_generator.go generateKustomization walks the folder), so a loose file may be applied. Computed once
        per graph build."""
        if self._outside is None:
            applying = {id(k) for kss in self.applied_by.values() for k in kss}
            files = {self.real(k.path) for k in self.flux_ks
                     if k.path is not None and id(k) in applying and not self.parents(k)}
            self._outside = {f.parent for f in files} if all(self._loose(f) for f in files) else set()
        return self._outside

    def alternatives(self, a: Obj, b: Obj) -> bool:
        """Flux Kustomizations ``a`` and ``b`` are reached only from roots that nothing of the repository applies,
        each of ``a``'s in a file that declares an object (kind, namespace, name) one of ``b``'s also declares: two
        alternatives (two example clusters of a shared library, each declaring the library's GitRepository), never
        one apply, since a build holding both files fails (kustomize refuses a resource id it already holds:
        kubernetes-sigs/kustomize@kustomize/v5.7.1:api/resmap/reswrangler.go Append; Flux's generated kustomization
        lists every file of a folder: fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go). Each is applied
        where someone applies it, so they are not known to be one cluster."""
        ra, rb = self._root_files(a), self._root_files(b)
        clashes = self._clashes()
        return bool(ra and rb) and all(y in clashes.get(x, ()) for x in ra for y in rb)

    def _root_files(self, ks: Obj) -> frozenset[Path]:
        """The files of the roots (applied by nothing of the repository) whose chains reach ``ks``."""
        if ks.path is None:
            return frozenset()
        chains = self.chains(ks.path)
        return frozenset(self.real(c[0].path) for c in chains if c[0].path is not None) or frozenset({self.real(ks.path)})

    def _clashes(self) -> dict[Path, set[Path]]:
        """file -> the other files it shares a declared object with, among the files of roots nothing applies.
        Computed once per graph build."""
        if self._clash is None:
            files = {self.real(k.path) for k in self.flux_ks if k.path is not None and not self.parents(k)
                     and not self.applied_by.get(self.real(k.path))}
            declared: dict[tuple[str, str, str, str], set[Path]] = {}
            for f in files:
                for o in self._objects_in(f):
                    if o.kind and o.name and "$" not in o.name:
                        declared.setdefault((split_api_version(o.api_version)[0], o.kind, self.ns_of(o), o.name),
                                            set()).add(f)
            self._clash = {}
            for fs in declared.values():
                for f in fs:
                    self._clash.setdefault(f, set()).update(fs - {f})
        return self._clash

    def _applied_outside(self, ks: Obj) -> bool:
        """A root no list of the repository takes in, applied from outside Flux: by hand or a script
        (_builds_its_own_listing), or by `flux bootstrap` (_bootstrapped); or any Flux Kustomization of the same entry
        build: `kubectl apply -k <folder>` applies every resource that folder's kustomization.yaml lists, its other
        Kustomizations (the sources one beside the root) as much as the root."""
        if self._builds_its_own_listing(ks) or self._bootstrapped(ks):
            return True
        if ks.path is None:
            return False
        if self._hand_entries is None:
            self._hand_entries = {self.real(k.path).parent for k in self.flux_ks if k.path is not None
                                  and self.tree.kfile(self.real(k.path).parent) is not None
                                  and (self._builds_its_own_listing(k) or self._bootstrapped(k))}
        rp = self.real(ks.path)
        return any(self.tree.applies(e, rp) is not None for e in self._hand_entries)

    def _bootstrapped(self, ks: Obj) -> bool:
        """The sync Kustomization `flux bootstrap --path=<p>` wrote: in <p>/flux-system/gotk-sync.yaml, building <p>.
        Bootstrap applies that folder itself (fluxcd/flux2@v2.7.5:pkg/bootstrap/bootstrap.go ReconcileComponents and
        ReconcileSyncConfig apply the generated manifests), so it lives whether or not a kustomization.yaml of <p>
        lists flux-system (a tree that keeps Flux's own manifests out of its sync)."""
        if ks.path is None:
            return False
        f = self.real(ks.path)
        target = self.path_dir(ks)
        return (f.name == "gotk-sync.yaml" and f.parent.name == "flux-system" and target is not None
                and self.real(target) == f.parent.parent)

    def _entry_files(self) -> set[Path]:
        """The files holding the entry point of a cluster applied by hand (`kubectl apply -k clusters/<name>`): a Flux
        Kustomization that nothing of the repository applies, whose spec.path resolves here and applies other Flux
        Kustomizations no other Kustomization applies, outside a moved tree. Beside a bootstrap sync, such a root is
        another cluster's, not an archive (an archive's root names no folder, see _moved_roots). Computed once per
        graph build."""
        if self._entries is None:
            # a root whose build shares a file with another Kustomization's is a helper of a cluster the sync already
            # applies (a bootstrap copy), not another cluster
            shared = {id(k) for kss in self.applied_by.values() if len(kss) > 1 for k in kss}
            applies_ks = {id(k) for f, kss in self.applied_by.items() for k in kss if id(k) not in shared
                          and any(is_kind(o, FLUX_KS, "Kustomization") and o is not k for o in self._objects_in(f))}
            self._entries = {self.real(k.path) for k in self.flux_ks
                             if k.path is not None and id(k) in applies_ks and not self.parents(k)
                             and not self._in_moved(self.real(k.path))}
        return self._entries

    def _objects_in(self, f: Path) -> list:
        if self._by_file is None:
            self._by_file = {}
            for o in self.all:
                if o.path is not None:
                    self._by_file.setdefault(self.real(o.path), []).append(o)
        return self._by_file.get(f, [])

    def built(self, d: Path) -> bool:
        """A live Flux Kustomization's build reads the kustomization of folder ``d`` (resolved), its components'
        included. A Kustomization the graph keeps as a possible root (one that lives in the folder it builds) but that
        nothing applies beside the cluster's sync (``dead``) reads nothing. Computed once per graph build."""
        if self._live_dirs is None:
            self._live_dirs = set()
            for ks in self.flux_ks:
                target = self.path_dir(ks)
                if target is not None and self.dead(ks):
                    continue
                if target is not None:
                    self._live_dirs |= self.tree.flux_reached(target, self.kustomization(ks))
        return d in self._live_dirs

    def dead_dir(self, d: Path) -> bool:
        """The folder of a kustomization that Flux never builds, by the rule ``dead`` applies to files: no live Flux
        Kustomization's build reads it, and it lies in a moved tree, or the cluster's sync is in the repository (and it
        is no hand-applied entry's folder), or the kustomization nearest above leaves it out."""
        d = self.real(d)
        if self.built(d):
            return False
        if self._in_moved(d) or self.builds_elsewhere():
            return True
        if self.has_sync:
            return not any(f.parent == d for f in self._entry_files())
        for a in d.parents:
            if self.root is not None and not inside(a, self.root):
                return False
            if self.tree.kfile(a) is not None:
                return d not in self.tree.reached(a)
            if self.root is not None and a == self.root:
                return False
        return False

    def _unlisted(self, rp: Path) -> bool:
        """A kustomization.yaml above the file leaves it out (a fact of the files on disk: memoised per file)."""
        return self._leaving_out(rp) is not None

    def _leaving_out(self, rp: Path) -> Path | None:
        """The folder of the nearest kustomization.yaml above the file that leaves it out, or None (memoised)."""
        if rp not in self._unlisted_memo:
            self._unlisted_memo[rp] = self._unlisted_walk(rp)
        return self._unlisted_memo[rp]

    def _unlisted_walk(self, rp: Path) -> Path | None:
        for d in rp.parents:
            if self.root is not None and not inside(d, self.root):
                return None
            if self.tree.kfile(d) is not None and self.tree.applies(d, rp) is None:
                return d
            if self.root is not None and d == self.root:
                return None
        return None

    def _builds_its_own_listing(self, ks: Obj) -> bool:
        """A Flux Kustomization whose file the kustomization.yaml of the folder it builds leaves out: a root kept out of
        the tree it syncs, applied once by hand or by a bootstrap script. Either the file lives in that folder
        (`kubernetes/ks.yaml` with spec.path ./kubernetes) or in a folder below it whose own kustomization.yaml lists
        it (`clusters/home/flux-system/` with a kustomization.yaml, building ./clusters/home, which leaves flux-system
        out: `kubectl apply -k clusters/home/flux-system`, kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/
        target/kusttarget.go accumulates only the listed resources). Leaving it out is what keeps it from applying
        itself; kustomize-controller builds spec.path from the source root
        (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go), so no build but its own
        could list the file; and no kustomization.yaml above the folder, or it is an app whose parent list left it
        out. A file left out by the list of a folder above its own that it does not build, or listed by no
        kustomization.yaml below that folder, is a disabled app (or the tree's disaster-recovery entry point, kept in
        the app's folder for the worst day, applied with `kubectl apply -f`). One
        whose build shares a file with a Kustomization that builds a folder above its own, or its own folder while a
        parent applies that one, is an entry point into (or a leftover copy of) a tree that one already applies (a
        disaster-recovery entry point), as in _entry_files."""
        if ks.path is None:
            return False
        rp = self.real(ks.path)
        d = self._leaving_out(rp)
        target = self.path_dir(ks)
        if d is None or target is None or self.real(target) != d:
            return False  # left out by a list it does not build: a disabled app
        if d != rp.parent and (self.tree.kfile(rp.parent) is None or self.tree.applies(rp.parent, rp) is None):
            return False  # a file no build of its own folder lists: an entry point kept aside (kubectl apply -f)
        if any(self.tree.kfile(a) is not None for a in d.parents if self.root is not None and inside(a, self.root)):
            return False  # a list above could take the folder in: an app (flat: ks.yaml beside its manifests)
        mine = self.real(target)
        for kss in self.applied_by.values():
            if any(k is ks for k in kss):
                for o in kss:
                    od = self.path_dir(o) if o is not ks else None
                    if od is None or not inside(mine, self.real(od)):
                        continue
                    if self.real(od) != mine or (o.path is not None and self.applied_by.get(self.real(o.path))):
                        return False
        return True

    def _parent_namespace(self, rp: Path) -> tuple[str, Path | None]:
        """Not applied by a Flux Kustomization of the tree: the namespace the outermost kustomization.yaml
        above the file that includes it sets (a fact of the files on disk: memoised per file)."""
        if rp in self._parent_ns_memo:
            return self._parent_ns_memo[rp]
        best: tuple[str, Path | None] = ("", None)
        for d in rp.parents:
            if self.root is not None and not inside(d, self.root):
                break
            if self.tree.kfile(d) is not None:
                via = self.tree.applies(d, rp)
                if via is not None and via[0]:
                    best = via
            if self.root is not None and d == self.root:
                break
        self._parent_ns_memo[rp] = best
        return best

    # -- decryption --------------------------------------------------------------------------------
    def decryption(self, ks: Obj) -> tuple[dict | None, Obj | None]:
        """(the decryption the controller sees, the Kustomization whose patches injected it or None)."""
        return self.patched(ks, "decryption", speculate={"provider": "sops"})

    def source_ref(self, ks: Obj) -> dict | None:
        """The sourceRef the controller sees: the Kustomization's own, with what a parent's patches set
        merged over it (a merge patch on a custom resource: the patch's keys win)."""
        return self.patched(ks, "sourceRef")[0]

    def _field_patches(self, parent: Obj, field: str) -> list[tuple[fluxmodel.Patch, dict]]:
        """What a Kustomization's patches set at spec.<field> (resolve.patched_field), once per graph build."""
        key = (id(parent), field)
        if key not in self._spec_patches:
            self._spec_patches[key] = resolve.patched_field(self.kustomization(parent), field)
        return self._spec_patches[key]

    def _patchers(self, field: str) -> list:
        """The Flux Kustomizations whose patches set spec.<field>, in order: an index built once per graph build, so
        that a speculative lookup does not scan every Kustomization (issue 23)."""
        key = (0, "patchers:" + field)
        if key not in self._spec_patches:
            self._spec_patches[key] = [k for k in self.flux_ks if self._field_patches(k, field)]
        return self._spec_patches[key]

    def patched(self, ks: Obj, field: str, speculate: dict | None = None) -> tuple[dict | None, Obj | None]:
        """(spec.<field> after the patches of the Kustomizations that apply ``ks``, the patching one or None).
        With ``speculate``, a Kustomization that no Kustomization of the tree applies gets that value when
        some Kustomization patches the field into its children (a guess, marked by its own value)."""
        own = dig(ks.data, "spec", field)
        own = own if isinstance(own, dict) else None
        parents = [k for k in self.applied_by.get(self.real(ks.path), []) if k is not ks] if ks.path is not None else []
        speculative = False
        if not parents and own is None and speculate is not None:
            # applied by no Kustomization of the tree (a broken or unseen parent): if some Kustomization patches
            # the field into its children, this one may get it too; a guess, so no key lookup on it
            parents = [k for k in self._patchers(field) if k is not ks]
            speculative = True
        for parent in parents:
            for p, value in self._field_patches(parent, field):
                if resolve.selects(p, ks, self.ns_of(ks)):
                    if speculative:
                        return dict(speculate or {}), parent
                    merged = dict(own or {})
                    merged.update(value)
                    return merged, parent
        return own, None


class _Unbuilt:
    """The graph's readers that need no build (its files, kustomizations and parsed objects), for what is read before
    the first build. An object's namespace is the one its file and the kustomizations above it give."""

    def __init__(self, g: Graph) -> None:
        self.run, self.tree, self.real, self._g = g.run, g.tree, g.real, g
        self._named: dict[tuple[str, str], list[Obj]] = {}
        for o in g.all:
            self._named.setdefault((o.kind, o.name), []).append(o)

    def named(self, kind: str, name: str) -> list[Obj]:
        return self._named.get((kind, name), [])

    def ns_of(self, o: Obj) -> str:
        return self._g._written_namespace(o)


@dataclasses.dataclass(frozen=True)
class SyncRoot:
    """Where a cluster's sync starts: the Kustomization that reads the cluster's own repository and applies the rest.

    * ``FluxInstance``: flux-operator makes a source and a Kustomization from ``spec.sync``
      (controlplaneio-fluxcd/flux-operator@v0.58.1:internal/builder/templates.go syncTmpl), the ``kustomization``
      here, built by the graph like any other;
    * ``Bootstrap``: `flux bootstrap --path=<p>` writes <p>/flux-system/gotk-sync.yaml holding the flux-system
      Kustomization of path <p>; examples ship that file empty (bootstrap fills it in), so the marker stands for it.
      Only :func:`sync_roots` with ``root`` finds these (the graph has no object to build for an empty file)."""

    origin: str  # FluxInstance | Bootstrap
    namespace: str
    name: str  # the FluxInstance's name; flux-system for bootstrap
    source: tuple[str, str, str]  # (kind, namespace, name) of the source it reads
    path: str  # spec.path, relative to the source's root
    url: str  # the source's URL ("" for a marker: bootstrap's is outside the files)
    obj: Obj | None  # the FluxInstance; None for a marker
    kustomization: Obj | None  # the Kustomization the operator makes; None for a marker
    revision: str = ""  # the Git reference it fetches (fluxmodel.source_revision's form); "" when not known


def sync_roots(objects: list[Obj], root: Path | None = None,
               generated_values: Callable[[], list[tuple[str, str]]] | None = None,
               values_of: Callable[[Obj], dict | None] | None = None) -> list[SyncRoot]:
    """THE answer to "which sync roots does this repository have, and which source and path does each apply": every
    FluxInstance with a sync the API server accepts (fluxmodel.flux_instance), and with ``root``, every empty
    bootstrap marker below it. The graph (its synthetic Kustomizations) and adoption (ops.wiring) both ask here."""
    out = []
    for o, inst in _instances(objects, values_of):
        fi = fluxmodel.flux_instance(inst)
        if fi.sync is None:
            continue
        paths = [fi.sync.path] if "${" not in fi.sync.path else \
            _candidate_values(fi.sync.path, objects, generated_values() if generated_values is not None else [])
        for path in paths or [fi.sync.path]:
            data = dataclasses.replace(fi, sync=dataclasses.replace(fi.sync, path=path)).sync_kustomization()
            # a path still ${...}: set where Git does not show it (the root is known, its folder is not): no Kustomization
            made = Obj(o.file, o.path, o.index, data, o.line) if data is not None and "${" not in path else None
            # the operator sets a Git source's ref.name from sync.ref, a full reference (refs/heads/main)
            rev = fi.sync.ref if fi.sync.kind == "GitRepository" and fi.sync.ref.startswith("refs/") else ""
            out.append(SyncRoot("FluxInstance", fi.namespace, fi.name, (fi.sync.kind, fi.namespace, fi.sync.name),
                                path, fi.sync.url, o, made, rev))
    if root is not None:
        for marker in sorted(root.glob("**/flux-system/gotk-sync.yaml")):
            if ".git" in marker.relative_to(root).parts:
                continue
            path = "./" + marker.parent.parent.relative_to(root).as_posix()
            out.append(SyncRoot("Bootstrap", "flux-system", "flux-system", ("GitRepository", "flux-system", "flux-system"),
                                path, "", None, None))
    return out


def _instances(objects: list[Obj], values_of: Callable[[Obj], dict | None] | None = None) -> list[tuple[Obj, Obj]]:
    """(the object that declares it, the FluxInstance) of each FluxInstance: written as one, or rendered by a
    HelmRelease of flux-operator's flux-instance chart from its values (fluxmodel.instance_of_release; ``values_of``
    gives the values helm-controller composes, valuesFrom included, else the inline ones count). The chart's
    name is the HelmRelease's ``chart.spec.chart``, or for a ``chartRef`` to an OCIRepository the last segment of
    its URL (Helm pushes a chart to ``<registry>/<path>/<chart name>``: helm.sh/helm/v3 pkg/pusher/ocipusher.go)."""
    oci = {(o.name, o.namespace): fluxmodel.source_url(o) or "" for o in objects if is_kind(o, SOURCE, "OCIRepository")}
    oci_named: dict[str, list[tuple[str, str]]] = {}  # name -> [(namespace, url)], in oci's order: one lookup per chartRef
    for (n, s), u in oci.items():
        oci_named.setdefault(n, []).append((s, u))
    out = []
    for o in objects:
        if is_kind(o, fluxmodel.OPERATOR, "FluxInstance"):
            out.append((o, o))
        elif is_kind(o, HELM, "HelmRelease"):
            m = fluxmodel.helmrelease(o)
            chart = m.chart_name or ""
            if m.chart_ref is not None and m.chart_ref.kind == "OCIRepository":
                ns = m.chart_ref.namespace or o.namespace
                urls = [u for s, u in oci_named.get(m.chart_ref.name, []) if s == ns or not s or not ns]
                chart = urls[0].rstrip("/").rsplit("/", 1)[-1] if urls else ""
            values = values_of(o) if values_of is not None and chart == fluxmodel.INSTANCE_CHART else None
            inst = fluxmodel.instance_of_release(o, chart, values)
            if inst is not None:
                out.append((o, inst))
    return out


def _candidate_values(text: str, objects: list[Obj], generated: list[tuple[str, str]]) -> list[str]:
    """Each value ``text`` takes with the postBuild variables the repository can supply: a ``postBuild.substitute``
    entry, or a key of a ConfigMap's data (what ``substituteFrom`` reads) holding the variable, written in a file or
    by a configMapGenerator (``generated``: its (key, value) pairs). A FluxInstance's sync
    path written ``${FLUX_PATH}`` in a HelmRelease shared by several clusters has one value per cluster's settings.
    Empty when a variable has no value in the files (set in an encrypted Secret or on the cluster)."""
    import itertools

    names = sorted(set(varsub.names(text)))
    values: dict[str, set[str]] = {n: set() for n in names}
    for o in objects:
        pairs: list[tuple[object, object]] = []
        if is_kind(o, FLUX_KS, "Kustomization"):
            post = fluxmodel.kustomization(o).post_build
            pairs = list(post.substitute) if post is not None else []
        elif o.kind == "ConfigMap" and o.api_version == "v1" and isinstance(o.data.get("data"), dict):
            pairs = list(o.data["data"].items())
        for k, v in pairs:
            if k in values and isinstance(v, str) and "${" not in v:
                values[str(k)].add(v)
    for k, v in generated:
        if k in values and "${" not in v:
            values[k].add(v)
    if not names or any(not values[n] for n in names):
        return []
    out: list[str] = []
    for combo in itertools.islice(itertools.product(*(sorted(values[n]) for n in names)), 32):
        try:
            got, known = varsub.expand(text, varsub.lookup_from(dict(zip(names, combo, strict=True)), True))
        except varsub.BadSubstitution:
            continue
        if known and got and got not in out:
            out.append(got)
    return out


def _repo_sources(opts: Options) -> set[tuple[str, str, str]]:
    out = set()
    for s in opts.repo_sources or DEFAULT_REPO_SOURCES:
        parts = s.split("/")
        if len(parts) == 3:
            out.add((parts[0], parts[1], parts[2]))
    return out


def guess_repo_source(objects: list[Obj], opts: Options,
                      found_here: Callable[[Obj], bool | None] | None = None,
                      sync: list[SyncRoot] | None = None) -> Options:
    """With the default repository sources and no Flux Kustomization reading them, the repository is read through a
    source of another name (`flux create source git k8s-gitops ...`): take the Git/OCI/Bucket source of the tree that
    most Flux Kustomizations read, else the undeclared one that most of them read. An explicit --repo-source always
    wins.

    kustomize-controller reads spec.path inside the artifact of the source it names (kustomize-controller@v1.9.4:
    internal/controller/kustomization_controller.go, securejoin of the artifact's root and spec.path), so only a
    source one of whose readers' literal paths (``found_here``) names a folder of this checkout can be it; one whose
    readers name folders it lacks (an example's podinfo, a release repository), or only the root, is never the
    guess, and nothing reading it is checked here. A source given explicitly is taken as given, and, as a guessed
    one, with the other sources of its URL (_same_repository): every consumer of the graph (validate, check,
    ops/wiring.py) then reads the same Kustomizations as this repository's.

    ``sync``: the sync roots the graph found (sync_roots with the values helm-controller composes, a flux-instance
    chart's valuesFrom included), else those of ``objects`` as written: the guess and the graph see one set of roots."""
    roots = [r for r in (sync_roots(objects) if sync is None else sync) if r.kustomization is not None]
    if list(opts.repo_sources) != list(DEFAULT_REPO_SOURCES):
        given = [tuple(s.split("/")) for s in opts.repo_sources if s.count("/") == 2]
        return _same_repository(objects, roots, opts, given)
    declared = {(o.kind, o.namespace or "", o.name) for o in objects
                if o.api_version.startswith(SOURCE) and o.kind in ("GitRepository", "OCIRepository", "Bucket")}
    # a FluxInstance declares its sync source, and its sync Kustomization reads it (the cluster's own repository)
    synced = [r.kustomization for r in roots if r.kustomization is not None]
    declared |= {r.source for r in roots}
    reads: Counter[tuple[str, str, str]] = Counter()
    here: dict[tuple[str, str, str], set[bool]] = {}  # source -> whether each reader's literal path is found here
    for o in [*synced, *objects]:
        ref = fluxmodel.kustomization(o).source_ref if is_kind(o, FLUX_KS, "Kustomization") else None
        if ref is not None:
            key = (ref.kind, ref.namespace or o.namespace or "", ref.name)
            reads[key] += 1
            found = found_here(o) if found_here is not None else None
            if found is not None:
                here.setdefault(key, set()).add(found)
    if any(f"{k}/{ns}/{n}" in DEFAULT_REPO_SOURCES for k, ns, n in reads):
        return _same_repository(objects, roots, opts, [tuple(x.split("/")) for x in DEFAULT_REPO_SOURCES])
    # a source is this checkout only when a reader's path names one of its folders; one whose readers' paths all
    # name folders it lacks, or tell nothing (the root, ${...}), is no evidence of it
    reads = Counter({key: count for key, count in reads.items() if True in here.get(key, ())})
    candidates = [(count, key) for key, count in reads.most_common() if key in declared]
    if not candidates:
        # declared nowhere in the repository, yet read by most of its Kustomizations: made outside it, as `flux
        # bootstrap` or a FluxInstance rendered by a chart make the sync source; the controllers read this repository
        # through it (a typo is read by few, never by most)
        git = [(count, key) for key, count in reads.most_common() if key[0] in ("GitRepository", "OCIRepository", "Bucket")]
        total = sum(count for count, _ in git)
        if git and git[0][0] >= 2 and git[0][0] * 2 > total:
            candidates = git[:1]
    if not candidates:
        return opts
    kind, ns, name = candidates[0][1]
    return _same_repository(objects, roots, dataclasses.replace(opts, repo_sources=[f"{kind}/{ns}/{name}"]),
                            [(kind, ns, name)])


def _repo_url(url: object) -> str:
    """A repository URL without scheme, user, `.git` and trailing slash (ssh://git@host/x.git = https://host/x)."""
    if not isinstance(url, str) or not url or "${" in url:
        return ""
    u = re.sub(r"^[a-z0-9+.-]+://", "", url.strip().lower())
    u = re.sub(r"^[^@/]+@", "", u)
    u = re.sub(r"^([^/:]+):(?!\d+/)", r"\1/", u)  # scp-like git@host:owner/repo
    return re.sub(r"(\.git)?/*$", "", u)


def same_artifact(objects: list[Obj], roots: list[SyncRoot], sources: set[tuple[str, str, str]],
                  ns_of: Callable[[Obj], str] | None = None) -> set[tuple[str, str, str]]:
    """THE answer to "which other sources read this repository": every declared Git or OCI source whose URL
    (_repo_url: scheme, user, `.git`, ssh or scp form and trailing slash aside) and revision are those of one of
    ``sources``, the repository's own (a second GitRepository of the same URL and branch, made for another interval,
    ignore rules or a tenant's namespace). Two such objects are two names for one artifact: source-controller fetches
    the remote at the reference (fluxcd/source-controller@v1.9.1:api/v1/gitrepository_types.go GitRepositoryRef),
    and the artifact's content depends on nothing else the object names. One of another branch or tag (a CI-rendered
    `dev` branch) fetches another tree (fluxmodel.source_revision), which this checkout does not show. A revision not
    known on either side matches. ``ns_of``: an object's namespace (default: as written); "" matches any."""
    # one source may be declared in several files (each cluster's gotk-sync.yaml, a bootstrap template): every URL
    # declared for it counts, whatever file is read last
    urls: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
    for o in objects:
        if o.api_version.startswith(SOURCE) and o.kind in ("GitRepository", "OCIRepository"):
            ns = ns_of(o) if ns_of is not None else o.namespace or ""
            urls.setdefault((o.kind, ns, o.name), set()).add(
                (_repo_url(fluxmodel.source_url(o)), fluxmodel.source_revision(o)))
    for r in roots:
        urls.setdefault(r.source, set()).add((_repo_url(r.url), r.revision))
    mine = {(u, rev) for (k, ns, n), found in urls.items() for u, rev in found if u
            and any(k == sk and n == sn and (not ns or ns == sns) for sk, sns, sn in sources)}

    def same(found: set[tuple[str, str]]) -> bool:
        return any(u == mu and (not rev or not mrev or rev == mrev) for u, rev in found for mu, mrev in mine)

    return {key for key, found in urls.items() if same(found) and key not in sources}


def _same_repository(objects: list[Obj], roots: list[SyncRoot], opts: Options,
                     sources: list[tuple[str, ...]] | list[tuple[str, str, str]]) -> Options:
    """The options with the sources that read the repository too (same_artifact), as declared before the graph's
    build; the graph asks again after substitution (Graph.own_sources)."""
    extra = [f"{k}/{ns}/{n}" for k, ns, n in same_artifact(objects, roots, {(s[0], s[1], s[2]) for s in sources})]
    if not extra:
        return opts
    return dataclasses.replace(opts, repo_sources=[*(opts.repo_sources or DEFAULT_REPO_SOURCES), *sorted(extra)])


def absent_keys(g: Graph) -> dict[int, tuple[str, str]]:
    """id(Flux Kustomization) -> (namespace, name) of the decryption key Secret it needs that the repository does
    not hold and no other Kustomization reads (_Checker.absent_key; adoption tells the user how to make it)."""
    checker = _Checker(g, [])
    out = {}
    for ks in g.flux_ks:
        key = checker.absent_key(ks)
        if key is not None:
            out[id(ks)] = key
    return out


def key_command(name: str, ns: str, key_file: str = "<your age key file>") -> str:
    """THE command that gives kustomize-controller an age key Secret: a key named ``*.agekey``
    (kustomize-controller@v1.9.4:internal/decryptor/decryptor.go DecryptionAgeExt), from the key file `sops-init`
    or age-keygen wrote."""
    return f"kubectl create secret generic {name} --namespace={ns} --from-file=age.agekey={key_file}"


def _flux_namespace(opts: Options) -> str:
    """Where Flux itself runs: the namespace of the repository's sync source, the first one given or guessed
    (flux-system by default). The sources added after it for sharing its URL (_same_repository) say nothing of it:
    one written without a namespace lands wherever its Kustomization puts it."""
    for s in opts.repo_sources or DEFAULT_REPO_SOURCES:
        parts = s.split("/")
        if len(parts) == 3 and parts[1]:
            return parts[1]
    return "flux-system"


def reads_this_repo(ks: fluxmodel.Kustomization, holder_ns: str, opts: Options,
                    sources: set[tuple[str, str, str]] | None = None) -> bool:
    """Whether the Kustomization (typed, after its parent's patches) reads one of the repository's own sources."""
    ref = ks.source_ref
    if ref is None:
        return False
    ns = ref.namespace or holder_ns
    for k, n, nm in _repo_sources(opts) if sources is None else sources:
        if ref.kind == k and ref.name == nm and (not ns or not n or ns == n):
            return True
    return False


def _candidate_roots(ks: Obj, run: Run, root: Path | None = None) -> list[Path]:
    if run.opts.repo_root:
        out = [run.real(Path(run.opts.repo_root))]
    else:
        out = list(run.roots_for(run.real(ks.path).parent if ks.path is not None else None))
        if root is not None:  # the repository's root comes first: spec.path is relative to the source's root
            out = [root, *(r for r in out if r != root)]
    ref = fluxmodel.kustomization(ks).source_ref
    if ref is not None and ref.kind in ("OCIRepository", "Bucket") and ks.path is not None:
        # An artifact holds the folder that was pushed (`flux push artifact --path=./kubernetes`), and spec.path is
        # relative to it: any folder between the repository root and this file may be that root.
        top = out[0]
        for d in run.real(ks.path).parents:
            if d == top or top not in d.parents:
                break
            out.append(d)
    return out


# --------------------------------------------------------------------------------------------------
# Checks


def check(g: Graph, objects: list[Obj]) -> list[Finding]:
    """The Flux findings on ``objects`` (the validated ones), looked up in the graph of the whole repository."""
    return _Checker(g, objects).run()


class _Checker:
    def __init__(self, g: Graph, objects: list[Obj]) -> None:
        self.g, self.objects, self.opts = g, objects, g.opts
        self.findings: list[Finding] = []
        self.externals = set(g.opts.externals)
        self.repo_sources = _repo_sources(g.opts)
        self.index = self._index(g)
        # (kind, name) -> [(the namespaces an operator copies it into, the object copied)]: validate.producers
        self.copies: dict[tuple[str, str], list[tuple[Callable[[str], bool], Obj]]] = {}
        for o in g.all:
            into = copied_into(o)
            if into is not None:
                self.copies.setdefault((o.kind, o.name), []).append((into, o))

    @staticmethod
    def _index(g: Graph) -> dict[tuple[str, str], list[tuple[str, Obj | None]]]:
        """(kind, name) -> [(a namespace where such an object exists ("" = unknown), the object that makes it)]."""
        index: dict[tuple[str, str], list[tuple[str, Obj | None]]] = {}

        def put(kind: str, name: str, namespaces: list[str], maker: Obj | None) -> None:
            # a namespace still holding ${VAR} is substituted per applying Kustomization: unknown here, so any
            index.setdefault((kind, name), []).extend(("" if "$" in ns else ns, maker) for ns in namespaces)

        for o in g.all:
            for name, ns in g.identities(o):
                put(o.kind, name, [ns], o)
            for ns in g.namespaces(o):
                for kind, name in made_by(o, ns):  # what it makes (validate.producers)
                    put(kind, name, [ns], o)
        for d, k in g.tree.kustomizations.items():  # generators with a fixed name, seen by every cluster
            for kind, name in generated(k):
                put(kind, name, [g.tree.namespace(d)[0]], None)
        return index

    def run(self) -> list[Finding]:
        for o in self.objects:
            if self.g.dead(o):
                continue
            if is_kind(o, FLUX_KS, "Kustomization"):
                self._kustomization(o)
            elif is_kind(o, HELM, "HelmRelease"):
                self._helmrelease(o)
            self._malformed(o)
        self._duplicates()
        return self.findings

    def add(self, obj: Obj, ptr: str, msg: str, rule: str) -> None:
        self.findings.append(obj.finding(ptr, msg, rule))

    # -- lookups -----------------------------------------------------------------------------------
    def where(self, kind: str, name: str, ns: str, holder: Obj | None = None) -> tuple[bool, set[str]]:
        """(exists in ns, the namespaces where an object of that kind and name does exist), in ``holder``'s cluster."""
        sources = self.g.sources_for(holder) if holder is not None else self.repo_sources
        if ((kind, name, ns) in WELL_KNOWN or (kind, ns, name) in sources
                or f"{kind}/{ns}/{name}" in self.externals or f"{kind}/*/{name}" in self.externals):
            return True, {ns}
        found = {n for n, maker in self.index.get((kind, name), []) if holder is None or self.g.visible(holder, maker)}
        others = {e.split("/")[1] for e in self.externals if e.startswith(f"{kind}/") and e.endswith(f"/{name}")
                  and e.count("/") == 2}
        copied = bool(ns) and any(into(ns) for into, o in self.copies.get((kind, name), [])
                                  if (holder is None or self.g.visible(holder, o)) and not self.g.dead(o))
        return (not ns or ns in found or "" in found or copied), (found | others) - {""}

    def unseen_makers(self, ns: str, holder: Obj) -> list[Obj]:
        """The foreign builds of ``holder``'s cluster (Graph.foreign_builds) that may put an object in namespace
        ``ns``: their targetNamespace is ``ns``, or they set none (the artifact's own namespaces)."""
        return [k for k in self.g.foreign_builds() if self.g.visible(holder, k)
                and (self.g.kustomization(k).target_namespace or ns) == ns]

    def _ref(self, obj: Obj, ns_obj: str, ptr: str, ref: fluxmodel.Ref | None, what: str) -> None:
        """sourceRef/chartRef/dependsOn: the namespace defaults to the holder's."""
        if ref is None or ref.substituted:
            return
        kind, name = ref.kind, ref.name
        ns = ref.namespace or ns_obj
        ok, found = self.where(kind, name, ns, obj)
        rule = DEPENDS_ON if what == "dependsOn" else SOURCE_REF
        if not ok:
            if found:
                fix = "set" if not ref.explicit_namespace else "fix"
                why = "" if ref.explicit_namespace else f" (without namespace the controller looks in {obj.kind} {obj.name}'s own namespace)"
                msg = (f"{what} {kind} {ns}/{name} does not exist{why}: {kind} {name} is in "
                       f"{', '.join(sorted(found))}; {fix} namespace: {sorted(found)[0]}")
            elif self.where(kind, name, ns)[0] and self.g.cluster.get(id(obj)):
                home = ", ".join(display_path(self.g.cluster_roots[i].path) for i in sorted(self.g.cluster[id(obj)]))
                msg = (f"{what} {kind} {ns}/{name} is not in this cluster (rooted at {home}): only another cluster's "
                       f"tree has it, and each cluster's controllers see only their own (add it to this cluster's tree)")
            else:
                msg = (f"{what} {kind} {ns}/{name}: no YAML manifest in the repository declares it (if something outside Flux "
                       f"applies it: by hand, a script, the cluster's bootstrap, declare it with --external {kind}/{ns}/{name})")
                unseen = self.unseen_makers(ns, obj)
                if unseen:  # another artifact this cluster applies may hold it: not known here, so not an error
                    k = unseen[0]
                    self.findings.append(obj.finding(ptr, f"{msg}; Flux Kustomization {self.g.ns_of(k)}/{k.name} applies "
                                                     "another source's artifact, not in this repository, into "
                                                     f"{'that namespace' if self.g.kustomization(k).target_namespace else 'any namespace'}"
                                                     ", which may hold it: not checked", rule, "note"))
                    return
            self.add(obj, ptr, msg, rule)
        if what != "dependsOn" and self.opts.no_cross_namespace_refs and ns_obj and ns != ns_obj:
            self.add(obj, ptr.rsplit("/", 1)[0] + "/namespace" if ref.explicit_namespace else ptr,
                     f"{what} {kind} {ns}/{name} is in another namespace than {obj.kind} {ns_obj}/{obj.name}: "
                     "refused with --no-cross-namespace-refs", CROSS_NAMESPACE)

    # -- Kustomization -----------------------------------------------------------------------------
    def _kustomization(self, ks: Obj) -> None:
        g = self.g
        if not isinstance(ks.data.get("spec"), dict):
            return
        m = g.kustomization(ks)
        found = g.path_dir(ks)
        if m.path_set and m.path is not None and "${" not in m.path and g.reads_repo(ks) and found is None:
            roots = [r for r, _ in g._roots_of(ks)]
            seed = g.seeded_from(ks)
            ref = g.kustomization(ks).source_ref
            if seed is not None and ref is not None:
                self.findings.append(ks.finding(
                    "/spec/path", f"path {m.path!r} is not checked: no Flux Kustomization reading {ref.kind} {ref.name} "
                    f"names a folder at this checkout's root, and theirs are folders of {display_path(seed)}, so that "
                    "source reads another repository (one seeded from that folder); validate that repository's "
                    "checkout to check it", MISSING_PATH, "note"))
            else:
                self.add(ks, "/spec/path", f"path {m.path!r} does not exist in the repository (root "
                         f"{display_path(roots[0]) if roots else '.'})", MISSING_PATH)
        source = fluxmodel.ref(g.source_ref(ks), holder=ks, ptr="/spec/sourceRef")
        for ns in g.namespaces(ks):
            self._ref(ks, ns, "/spec/sourceRef/name", source, "sourceRef")
            for i, dep in m.depends_on:
                self._ref(ks, ns, f"/spec/dependsOn/{i}/name", dep, "dependsOn")
        dec, injector = g.decryption(ks)
        if found is not None and dec is None:
            enc = [f for f, _, _ in g.tree.flux_applied(found, m) if _encrypted_file(f, self._encrypted(), g.run)]
            if enc:
                self.add(ks, "/spec/path", f"path applies SOPS-encrypted {display_path(enc[0])} but spec.decryption is not set "
                         "(add decryption: {provider: sops}, with secretRef: {name: sops-age} unless kustomize-controller "
                         "runs with --sops-age-secret)", DECRYPTION)
        if dec is not None:
            self._decryption_secret(ks, dec, injector)

    def _encrypted(self) -> dict[Path, bool]:
        if not hasattr(self, "_enc"):
            self._enc: dict[Path, bool] = {}
            for o in self.g.all:
                if o.path is not None:
                    rp = self.g.real(o.path)
                    self._enc[rp] = self._enc.get(rp, False) or o.encrypted
        return self._enc

    def _decryption_secret(self, ks: Obj, dec: dict, injector: Obj | None) -> None:
        parsed = fluxmodel.decryption(dec)
        name = parsed.secret_ref if parsed is not None else None
        if name is None:
            return  # no secretRef: the controller-wide --sops-age-secret key (kustomize-controller main.go)
        where = "/spec/decryption/secretRef/name" if injector is None else ""
        via = "" if injector is None else f" (injected by the patches of Flux Kustomization {self.g.ns_of(injector)}/{injector.name})"
        for ns in self.g.namespaces(ks):
            if not ns:
                continue
            ok, found = self.where("Secret", name, ns, ks)
            if ok:
                continue
            flux_home = self.g.flux_namespaces(ks)
            home = sorted(found) or flux_home
            if ns in home or ns in flux_home:
                # not in Git is how the Flux SOPS guide makes it where Flux runs (kubectl create secret), whatever
                # another namespace holds under that name: render says so
                continue
            known = "is in" if found else "is expected in"
            self.add(ks, where,
                     f"decryption.secretRef {name}{via} is read from the Kustomization's own namespace {ns}{self.g.moved_by(ks, ns)}"
                     f" (secretRef is a LocalObjectReference), but the key Secret {name} {known} {', '.join(home)}"
                     f"{'' if found else f' (Flux SOPS guide; declare --external Secret/{ns}/{name} if it is there)'}: "
                     f"keep the Kustomization in {home[0]} (use targetNamespace for its objects), or drop secretRef "
                     "and run kustomize-controller with --sops-age-secret", DECRYPTION_SECRET)

    def absent_key(self, ks: Obj) -> tuple[str, str] | None:
        """(namespace, name) of the key Secret ``ks``'s decryption reads when the repository does not hold it and no
        other Flux Kustomization reads it (what render tells the user to make), else None."""
        dec, _ = self.g.decryption(ks)
        parsed = fluxmodel.decryption(dec) if dec is not None else None
        name = parsed.secret_ref if parsed is not None else None
        if name is None:
            return None
        for ns in self.g.namespaces(ks):
            if ns and ns in self.g.flux_namespaces(ks) and not self.where("Secret", name, ns, ks)[0] \
                    and not self._key_users(name, ns, ks):
                return ns, name
        return None

    def _key_users(self, name: str, ns: str, ks: Obj) -> bool:
        """Whether another Flux Kustomization of ``ks``'s cluster reads key Secret ns/name: a cluster that already
        decrypts with it has it (its bootstrap made it), so only the first user must be told. Another cluster's use
        says nothing of this one's Secret (each cluster's API holds its own; Graph._partition)."""
        for other in self.g.flux_ks:
            if other is ks or self.g.dead(other) or not self.g.visible(ks, other):
                continue
            dec, _ = self.g.decryption(other)
            parsed = fluxmodel.decryption(dec) if dec is not None else None
            if parsed is not None and parsed.secret_ref == name and ns in self.g.namespaces(other):
                return True
        return False

    # -- HelmRelease -------------------------------------------------------------------------------
    def _helmrelease(self, hr: Obj) -> None:
        if not isinstance(hr.data.get("spec"), dict):
            return
        m = self.g.helmrelease(hr)
        for ns in self.g.namespaces(hr):
            self._ref(hr, ns, "/spec/chartRef/name", m.chart_ref, "chartRef")
            self._ref(hr, ns, "/spec/chart/spec/sourceRef/name", m.chart_source_ref, "chart.spec.sourceRef")
            for i, dep in m.depends_on:
                self._ref(hr, ns, f"/spec/dependsOn/{i}/name", dep, "dependsOn")

    def _malformed(self, o: Obj) -> None:
        """The typed model's Problems that no schema reports (fluxmodel.Problem.by_schema is False): the API server
        refuses the object, so the controller never gets it; the graph read the field as absent and went on."""
        m: object = None
        if is_kind(o, FLUX_KS, "Kustomization"):
            m = self.g.kustomization(o)
        elif is_kind(o, HELM, "HelmRelease"):
            m = self.g.helmrelease(o)
        elif is_kind(o, fluxmodel.OPERATOR, "FluxInstance"):
            m = fluxmodel.flux_instance(o)
        elif is_kind(o, fluxmodel.OPERATOR, "ResourceSet"):
            m = fluxmodel.resource_set(o)
        for p in getattr(m, "problems", ()):
            if not p.by_schema:
                field = p.pointer.removeprefix("/").replace("/", ".") or "spec"
                self.add(o, p.pointer, f"{field} {p.message}: the API server refuses this {o.kind} and the controller "
                         f"never gets it (fix {field} as the {o.api_version} {o.kind} API defines it)", MALFORMED)

    # -- one owner per object ----------------------------------------------------------------------
    def _duplicates(self) -> None:
        """kustomize-controller labels what it applies with its Kustomization's name and namespace, and prunes by that
        inventory (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go apply/prune via
        fluxcd/pkg ssa): two Kustomizations of one cluster applying one object take it from each other. Objects whose
        name comes from postBuild substitution are not compared (each Kustomization may substitute it differently).
        An owner is a Kustomization's namespace/name, not a declaration of it: two declarations of one Kustomization
        (bootstrap's gotk-sync.yaml kept beside the FluxInstance sync that the operator names like it) are one object
        on the cluster, and set the same owner labels (kustomize.toolkit.fluxcd.io/name and /namespace)."""
        g = self.g
        crds = kindscope.crd_scopes(g.all)
        owners: dict[tuple, list] = {}
        owned: dict[tuple, set] = {}  # the owners of each key, as ns_of/name: one set look-up per pair, not a scan
        idents: dict[int, tuple[str, str]] = {}  # a Kustomization's owner, computed once

        def ident(k: Obj) -> tuple[str, str]:
            found = idents.get(id(k))
            if found is None:
                found = idents[id(k)] = (g.ns_of(k), k.name)
            return found

        for o in g.all:
            if o.path is None or not o.kind or not o.name or "$" in o.name or id(o) in g.substituted:
                continue
            group = split_api_version(o.api_version)[0]
            # a cluster-scoped object is one object of the cluster whatever namespace its file or a transformer gives
            # it (kindscope); one of a kind whose scope is not known is compared only where a namespace is known
            cluster_scoped = kindscope.namespaced(o.api_version, o.kind, crds) is False
            for ks in g.applied_by.get(g.real(o.path), []):
                if ks is o:
                    continue
                # the namespace transformer (targetNamespace, `namespace:`) names a Namespace after itself
                # (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/konfig/builtinpluginconsts/
                # namespace.go: metadata/name of kind Namespace); without one it keeps its own name
                namespace = (group, o.kind) == ("", "Namespace")
                if namespace:
                    pairs = [("", ns or o.name) for ns in g.namespaces_by(o, ks)]
                elif cluster_scoped:
                    pairs = list(dict.fromkeys(("", name) for _, name in g.identities_by(o, ks)))
                else:
                    pairs = g.identities_by(o, ks)
                for key in pairs:
                    at = 1 if namespace or cluster_scoped else 0
                    if not key[at] or "$" in key[at]:
                        continue  # a namespace not known here (set by no one we can see, or substituted): not compared
                    for c in g.into(ks) or [None]:
                        full = (c, group, o.kind, *key)
                        seen = owned.setdefault(full, set())
                        if ident(ks) not in seen:
                            seen.add(ident(ks))
                            owners.setdefault(full, []).append((o, ks))
        mine = {id(o) for o in self.objects}
        reported: set[int] = set()
        # identical copies share one cause, the Kustomizations' overlap (two syncs of one path): one finding per set of
        # owners in a cluster, at the first object, naming the rest, instead of one per object (265 for one overlap);
        # two clusters whose Kustomizations have the same names overlap each in its own tree
        overlaps: dict[tuple[object, frozenset], list[tuple[Obj, str, str]]] = {}
        overlap_owners: dict[tuple[object, frozenset], list[str]] = {}
        for (cluster, _, kind, ns, name), found in owners.items():
            if len(found) < 2:
                continue
            # each copy as its Kustomization's build emits it (one base file that overlays patch differently is
            # several objects), as written where no build ran; a build that ran and emitted none (a `$patch: delete`)
            # does not apply it
            built = [(o, ks, _built(g, o, ks, kind, ns, name)) for o, ks in found]
            lst = [(o, ks) for o, ks, c in built if c is not _DELETED]
            contents = [c for _, _, c in built if c is not _DELETED]
            if len(lst) < 2:
                continue
            # one cluster's API holds one object per key: owners not known to share a cluster do not fight over it
            if all(g.alternatives(a, b) for i, (_, a) in enumerate(lst) for _, b in lst[i + 1:]):
                continue
            for o, ks in lst:
                if id(o) not in mine or id(o) in reported:
                    continue
                reported.add(id(o))
                others = some([f"{g.ns_of(k)}/{k.name}" for _, k in lst if k is not ks])
                same = all(c == contents[0] for c in contents)
                renamed = (f" (its file names it {o.name}: the namespace the Kustomization sets renames a Namespace)"
                           if kind == "Namespace" and o.name != name else "")
                moved = g.moved_by(o, ns) if ns and not renamed else ""
                bare = f"{kind} {ns + '/' if ns else ''}{name}"
                shown = bare + renamed + moved
                if same:
                    owner_set = (cluster, frozenset(ident(k) for _, k in lst))
                    overlap_owners.setdefault(owner_set, [f"{g.ns_of(k)}/{k.name}" for _, k in lst])  # in found order
                    overlaps.setdefault(owner_set, []).append((o, shown, bare))
                    continue
                self.findings.append(o.finding("", f"{shown} is applied by Flux Kustomization {g.ns_of(ks)}/{ks.name} "
                                               f"and also by {others} (the copies differ, so each apply sets its own "
                                               "version); apply it from one Kustomization only",
                                               DUPLICATE, DUPLICATE.severity))
        for owner_set, copies in overlaps.items():
            copies.sort(key=lambda e: (e[0].file, e[0].line))
            (first, shown, bare0), rest = copies[0], []
            for _, _, bare in copies[1:]:  # one object of the cluster once, however many files declare it
                if bare != bare0 and bare not in rest:
                    rest.append(bare)
            names = overlap_owners[owner_set]
            objects = f"{shown} and {len(rest)} more object{'s' if len(rest) > 1 else ''} ({some(rest)}) are" if rest \
                else f"{shown} is"
            self.findings.append(first.finding("", f"{objects} applied by Flux Kustomization {names[0]} and also by "
                                               f"{some(names[1:])} (identical copies: the owner labels flip at each "
                                               "apply and each goes with either prune); apply "
                                               f"{'them' if rest else 'it'} from one Kustomization only", DUPLICATE_SAME,
                                               DUPLICATE_SAME.severity))
