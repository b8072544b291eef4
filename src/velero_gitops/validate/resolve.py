"""What a Flux Kustomization applies: the one resolver that the graph (validate.flux), the kustomize build planner
(validate.kustomize) and adoption (ops.wiring, through the graph) ask.

kustomize-controller builds ``spec.path`` of its source artifact (fluxcd/kustomize-controller@v1.9.4:internal/
controller/kustomization_controller.go build): fluxcd/pkg finds the folder's kustomization file or generates one, then
adds the Kustomization's own fields to it (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go
GenerateManifest, scanManifests), kustomize builds it (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/krusty), and
postBuild substitution runs on each built object (kustomize_varsub.go). This module holds each of those steps once:

* :func:`listing`: the generator's resources where the folder has no kustomization file;
* :func:`read_kfile`: each kustomization file parsed once per run, inside the run's boundary (Run.kfiles), for the
  graph and the planner alike;
* :class:`Tree`: the files a folder's build emits and the ``namespace:`` kustomize sets on each, approximated without
  building (the graph's view; ``Tree.flux_applied`` adds ``spec.components`` as the controller does);
* :func:`components` and :func:`flux_fields`: what the controller adds to the kustomization it builds (the planner's
  generated kustomization, the graph's components);
* :func:`selects` and :func:`apply_patch`: a ``spec.patches`` entry (typed: fluxmodel.Patch, fluxmodel.Selector)
  matched and applied as kustomize does; :func:`patched_field` reads what a parent's patch sets on a child;
* :func:`substitute`: postBuild substitution on a parsed object (the engine: velero_gitops.varsub).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from velero_gitops import safefile, varsub, yamlsafe
from velero_gitops.goregexp import GoRegexp, PatternCost, PatternError
from velero_gitops.validate import fluxmodel, sourceignore
from velero_gitops.validate.documents import Obj, dig, find_kfile, first_document, inside
from velero_gitops.validate.run import Run
from velero_gitops.validate.treeview import Disk

# prefixes that kustomize reads as a remote (git or http) location: a scheme, `git::`, an SCP-style `user@`, or
# github.com (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/git/repospec.go extractHost: without one of
# them the entry is no repository, and a `//` or `?ref=` in it is part of a local path); the other hosts and
# schemes below are kept as remote, so a go-getter form is named remote rather than missing
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git::|gh:|[a-z][a-z0-9-]*@|github\.com[:/]|gitlab\.com[:/]|bitbucket\.org[:/])",
                     re.I)


MAX_FILE = 8 * 1024 * 1024  # larger build inputs are refused (a build input is text)
MAX_CHAINS = 64  # paths from one file to one build through shared bases that identities() follows


def is_remote(s: str) -> bool:
    return bool(_REMOTE.match(s.strip()))


# --------------------------------------------------------------------------------------------------
# The generator


def listing(d: Path, root: Path | None = None, fs: Disk | None = None) -> list[tuple[Path, bool]]:
    """What Flux lists when ``d`` has no kustomization file: [(path, is a folder with its own kustomization file)],
    sorted per folder. fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests walks the folder,
    lists each sub-folder holding a kustomization file (konfig.RecognizedKustomizationFileNames, documents.find_kfile)
    as a whole without descending into it, and each ``.yaml``/``.yml`` file the source artifact holds
    (validate.sourceignore). ``root``: what the source artifact is relative to (for its ignore patterns), ``d`` when
    None; ``fs``: the view of the files (validate.treeview: the disk, or render's planned tree)."""
    base = root if root is not None else d
    fs = fs or Disk()
    out: list[tuple[Path, bool]] = []
    for dirpath, dirnames, filenames in fs.walk(d):  # os.walk and Planned.walk follow no folder link
        sub = Path(dirpath)
        entries = sorted([(n, True) for n in dirnames] + [(n, False) for n in filenames])
        dirnames[:] = []
        for n, is_dir in entries:
            p = sub / n
            try:
                rel = p.relative_to(base).as_posix()
            except ValueError:
                rel = p.relative_to(d).as_posix()
            if is_dir:
                if sourceignore.excluded(rel + "/x"):
                    continue
                if find_kfile(p, fs.isfile) is not None:
                    out.append((p, True))
                else:
                    dirnames.append(n)
            elif n.endswith((".yaml", ".yml")) and not sourceignore.excluded(rel):
                out.append((p, False))
        dirnames.sort()
    return out


# --------------------------------------------------------------------------------------------------
# What the controller adds to the kustomization it builds


@dataclass(frozen=True)
class Component:
    """One ``spec.components`` entry of a Flux Kustomization, read against the folder it builds."""

    entry: str  # as written
    path: Path  # target / entry, before links: the caller resolves them against its boundary
    refused: str  # "" or why the controller refuses the whole build


def components(target: Path, m: fluxmodel.Kustomization) -> list[Component]:
    """``spec.components`` as GenerateManifest reads them: each must be a local relative path
    (IsLocalRelativePath, else the build fails); a missing one is dropped with ``ignoreMissingComponents``, else
    left for kustomize to report (the caller checks existence: it owns the view of the files)."""
    out = []
    for c in m.components:
        why = "must be local and relative (Flux refuses it)" if is_remote(c) or os.path.isabs(c) else ""
        out.append(Component(c, target / c, why))
    return out


def flux_fields(m: fluxmodel.Kustomization) -> dict[str, Any]:
    """The fields GenerateManifest sets on the kustomization it builds, components aside (:func:`components`):
    ``namespace`` from targetNamespace, namePrefix/nameSuffix, and ``patches`` appended after the kustomization's own
    (each entry as written: kustomize parses it)."""
    out: dict[str, Any] = {}
    if m.target_namespace_set:
        out["namespace"] = m.target_namespace
    if m.name_prefix is not None:
        out["namePrefix"] = m.name_prefix
    if m.name_suffix is not None:
        out["nameSuffix"] = m.name_suffix
    if m.patches:
        out["patches"] = [p.raw for p in m.patches]
    return out


def flux_kustomization(kdata: dict, m: fluxmodel.Kustomization) -> dict:
    """The root kustomization as the controller builds it (components aside): ``kdata`` with :func:`flux_fields`
    set, spec.patches appended after the kustomization's own."""
    fields = flux_fields(m)
    if "patches" in fields:
        own = kdata.get("patches")
        fields["patches"] = [*(own if isinstance(own, list) else []), *fields["patches"]]
    return {**kdata, **fields}


# --------------------------------------------------------------------------------------------------
# What a folder applies


@dataclass
class KFile:
    path: Path  # real path
    data: dict
    text: str

    def line_of(self, value: str) -> int | None:
        """Line of the first list entry or value equal to ``value`` (quotes and ``./`` ignored)."""
        want = value.strip().strip("'\"")
        want_n = want[2:] if want.startswith("./") else want
        for i, ln in enumerate(self.text.splitlines(), 1):
            s = ln.strip()
            for lead in ("- ", "path:", "- path:"):
                if s.startswith(lead):
                    v = s[len(lead):].split(" #", 1)[0].strip().strip("'\"")
                    if "=" in v and not want_n.count("="):
                        v = v.split("=", 1)[1]
                    v = v[2:] if v.startswith("./") else v
                    if v == want_n:
                        return i
        return None


def read_kfile(p: Path, memo: dict[Path, KFile | None]) -> KFile | None:
    """The parsed kustomization (None when unreadable or invalid: the build reports it); ``memo`` is the run's."""
    if p in memo:
        return memo[p]
    out = None
    try:
        # through safefile, inside the run's boundary: a kustomization.yaml that links out of the repository
        # (or to a device) is refused, never opened, so no path or value from it can reach a message; the run
        # reads a file once (validate.run), and the graph and the planner share this parse (Run.kfiles)
        run = getattr(memo, "run", None)
        boundary = getattr(memo, "boundary", None)
        text = run.text(p, root=boundary) if run is not None else safefile.read_text(p, root=boundary, limit=MAX_FILE)
        data = first_document(text)
        out = KFile(p, data if isinstance(data, dict) else {}, text)
    except Exception:  # noqa: BLE001 - refused, invalid YAML or unreadable: the build reports it
        out = None
    memo[p] = out
    return out




Entry = tuple[Path, str, "Path | None"]  # (file, namespace set by kustomize or "", the kustomization file that set it)


class Tree:
    """Which files a directory applies (kustomize semantics, approximated without building), and the
    ``namespace:`` that kustomize sets on each: the outermost kustomization.yaml that has one wins."""

    def __init__(self, root: Path | None, run: Run):
        self.root = root
        self.real = run.real
        self.run = run
        self._cache: dict[Path, list[Entry]] = {}
        self._inner: dict[Path, list[Entry]] = {}  # the same before the folder's own ``namespace:``
        self._ns: dict[Path, tuple[str, Path | None]] = {}
        self._kfile: dict[Path, Path | None] = {}
        self._index: dict[Path, dict[Path, tuple[str, Path | None]]] = {}
        self.kustomizations: dict[Path, dict] = {}  # every kustomization read, by its directory
        self._reach: dict[Path, set[Path]] = {}  # directory -> the kustomization directories its build reads
        # directory -> file -> the (namePrefix, nameSuffix) its build puts around the names of the file's objects
        self._affixes: dict[Path, dict[Path, set[tuple[str, str]]]] = {}
        # directory -> file -> the chains of kustomization folders (innermost first, the directory last when it has
        # a kustomization file) whose transformers the file's objects go through in the directory's build; None when
        # there are more than MAX_CHAINS (a diamond of shared bases): identities then stay the un-patched model's
        self._chains: dict[Path, dict[Path, set[tuple[Path, ...]] | None]] = {}
        self._renames: dict[Path, bool] = {}  # folder -> a patch of its kustomization may rename (_renaming)

    def kfile(self, d: Path) -> Path | None:
        """The kustomization file of directory ``d`` (None when it has none): one stat per directory and run."""
        if d not in self._kfile:
            self._kfile[d] = find_kfile(d, self.run.fs.isfile)
        return self._kfile[d]

    def applies(self, d: Path, f: Path) -> tuple[str, Path | None] | None:
        """(namespace set by kustomize or "", the file that set it) when directory ``d`` applies file ``f``, else None:
        the first entry of ``applied(d)`` for ``f``, from an index built once per directory."""
        if d not in self._index:
            index: dict[Path, tuple[str, Path | None]] = {}
            for g, ns, nsfile in self.applied(d):
                index.setdefault(g, (ns, nsfile))
            self._index[d] = index
        return self._index[d].get(f)

    def kustomization(self, d: Path) -> tuple[dict, Path | None]:
        """(the parsed kustomization of ``d``, {} when unreadable or invalid: the build reports it; its file)."""
        kfile = self.kfile(d)
        if kfile is None:
            return {}, None
        if d not in self.kustomizations:
            kf = read_kfile(self.real(kfile), self.run.kfiles)
            self.kustomizations[d] = kf.data if kf is not None else {}
        return self.kustomizations[d], kfile

    def namespace(self, d: Path) -> tuple[str, Path | None]:
        """The ``namespace:`` of the kustomization.yaml in ``d`` and that file ("" when none)."""
        d = self.real(d)
        if d not in self._ns:
            k, kfile = self.kustomization(d)
            ns = k.get("namespace")
            self._ns[d] = (ns, kfile) if isinstance(ns, str) and ns else ("", None)
        return self._ns[d]

    def applied(self, d: Path, depth: int = 0) -> list[Entry]:
        """[(file, namespace set by kustomize or "", the kustomization file that set it)]."""
        d = self.real(d)
        if d in self._cache:
            return self._cache[d]
        self._cache[d] = []
        reach = self._reach[d] = {d}
        out: list[Entry] = []  # before d's own namespace: _inner
        affixes: dict[Path, set[tuple[str, str]]] = {}
        chains: dict[Path, set[tuple[Path, ...]] | None] = {}

        def chain(f: Path, cs: set[tuple[Path, ...]] | None) -> None:
            have = chains.get(f, set())
            chains[f] = None if cs is None or have is None or len(have | cs) > MAX_CHAINS else have | cs

        def folder(p: Path) -> list[Entry]:
            sub = self.applied(p, depth + 1)
            reach.update(self._reach.get(self.real(p), set()))
            for f, pairs in self._affixes.get(self.real(p), {}).items():
                affixes.setdefault(f, set()).update(pairs)
            for f, cs in self._chains.get(self.real(p), {}).items():
                chain(f, cs)
            return sub

        def file(p: Path) -> list[Entry]:
            affixes.setdefault(self.real(p), set()).add(("", ""))
            chain(self.real(p), {()})
            return [(self.real(p), "", None)]

        k, kfile = self.kustomization(d)
        ns, nsfile = "", None
        if kfile is not None and depth < 50:
            ns, nsfile = self.namespace(d)
            for key in ("resources", "components", "bases"):
                entries = k.get(key)
                for entry in entries if isinstance(entries, list) else []:
                    if not isinstance(entry, str) or "://" in entry:
                        continue
                    p = d / entry
                    if not inside(self.real(p), self.root):
                        continue  # Flux builds confined to the source; never read outside the repository
                    if self.run.fs.isdir(p):
                        out.extend(folder(p))
                    elif self.run.fs.isfile(p):
                        out.extend(file(p))
            # each kustomization puts its own namePrefix/nameSuffix around the names it accumulates, inner ones
            # included (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/builtins/PrefixTransformer.go)
            pre, suf = k.get("namePrefix"), k.get("nameSuffix")
            pre, suf = pre if isinstance(pre, str) else "", suf if isinstance(suf, str) else ""
            if pre or suf:
                affixes = {f: {(pre + a, b + suf) for a, b in pairs} for f, pairs in affixes.items()}
            chains = {f: None if cs is None else {c + (d,) for c in cs} for f, cs in chains.items()}
        elif kfile is None and self.run.fs.isdir(d):
            # Flux generates a kustomization (listing): YAML files, folders with their own as a whole
            for p, whole in listing(d, self.root, self.run.fs):
                out.extend(folder(p) if whole else file(p))
        self._affixes[d] = affixes
        self._chains[d] = chains
        self._inner[d] = out
        self._cache[d] = [(f, ns, nsfile) if ns else (f, o, of) for f, o, of in out]
        return self._cache[d]

    def reached(self, d: Path) -> set[Path]:
        """The kustomization directories that building ``d`` reads (``d`` included)."""
        self.applied(d)
        return self._reach.get(self.real(d), set())

    def applied_files(self, d: Path, depth: int = 0) -> list[Path]:
        return [f for f, _, _ in self.applied(d, depth)]

    def _component_dirs(self, target: Path, m: fluxmodel.Kustomization) -> list[Path]:
        """The component folders the controller adds to the build of ``target`` that this repository holds."""
        return [c.path for c in components(target, m) if not c.refused
                and self.run.fs.isdir(c.path) and inside(self.real(c.path), self.root)]

    def flux_applied(self, target: Path, m: fluxmodel.Kustomization) -> list[Entry]:
        """What a Flux Kustomization whose ``spec.path`` is ``target`` applies: the folder's build with
        ``spec.components`` added to its root kustomization (so the root's ``namespace:`` covers them)."""
        entries = list(self.applied(target))
        root_ns = self.namespace(target)
        if m.target_namespace_set and not m.target_namespace:
            # GenerateManifest sets kus.Namespace = "" (the field is a string): the root's `namespace:` is gone, the
            # nested kustomizations' stay
            entries, root_ns = list(self._inner.get(self.real(target), entries)), ("", None)
        for cdir in self._component_dirs(target, m):
            entries.extend((f, root_ns[0] or o, root_ns[1] if root_ns[0] else of) for f, o, of in self.applied(cdir))
        return entries

    def name_affixes(self, target: Path, m: fluxmodel.Kustomization, f: Path) -> set[tuple[str, str]]:
        """The (namePrefix, nameSuffix) pairs the build of Flux Kustomization ``m`` (``spec.path`` ``target``) puts
        around the names of file ``f``'s objects: the folder's own, with the root's replaced by spec.namePrefix /
        nameSuffix when set (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go sets kus.NamePrefix and
        NameSuffix). A component's files get the root's."""
        self.applied(target)
        t = self.real(target)
        k, _ = self.kustomization(t)
        pre, suf = k.get("namePrefix"), k.get("nameSuffix")
        own_pre, own_suf = pre if isinstance(pre, str) else "", suf if isinstance(suf, str) else ""
        pairs = self._affixes.get(t, {}).get(f) or {(own_pre, own_suf)}
        if m.name_prefix is None and m.name_suffix is None:
            return pairs
        new_pre = own_pre if m.name_prefix is None else m.name_prefix
        new_suf = own_suf if m.name_suffix is None else m.name_suffix
        out = set()
        for a, b in pairs:  # take the root's own affix off, put the spec's on
            a = a[len(own_pre):] if own_pre and a.startswith(own_pre) else a
            b = b[:len(b) - len(own_suf)] if own_suf and b.endswith(own_suf) else b
            out.add((new_pre + a, b + new_suf))
        return out

    def patches(self, d: Path, data: dict | None = None) -> list[fluxmodel.Patch]:
        """The ``patchesStrategicMerge`` and ``patches`` of directory ``d``'s kustomization (``data``: that
        kustomization as the build has it, when not the file's own) as ``spec.patches`` entries, in the order kustomize
        runs them (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget_configplugin.go
        transformerConfigurators: PatchStrategicMergeTransformer, then PatchTransformer); a ``path`` is read as the
        patch text, inside the repository. What cannot be read is the build's finding, not patched here."""
        if data is None:
            data, kfile = self.kustomization(d)
            if kfile is None:
                return []
        entries: list[dict] = []
        merges = data.get("patchesStrategicMerge")  # deprecated in kustomize v5, still applied
        for e in merges if isinstance(merges, list) else []:
            if isinstance(e, str):
                entries += [{"patch": t} for t in _documents(e if "\n" in e else self._patch_text(d / e))]
        entries += self._entries(d, data.get("patches"), split=True)
        return list(fluxmodel.patches(fluxmodel.Parser(), {"patches": entries})) if entries else []

    def json6902(self, d: Path, data: dict) -> list[fluxmodel.Patch]:
        """The deprecated ``patchesJson6902`` of a kustomization (each with a target), run after the namespace and
        name prefix transformers (kusttarget_configplugin.go: PatchJson6902Transformer)."""
        entries = [e for e in self._entries(d, data.get("patchesJson6902"), split=False) if "target" in e]
        return list(fluxmodel.patches(fluxmodel.Parser(), {"patches": entries})) if entries else []

    def _entries(self, d: Path, listed: object, split: bool) -> list[dict]:
        out: list[dict] = []
        for e in listed if isinstance(listed, list) else []:
            if isinstance(e, dict) and not isinstance(e.get("patch"), str) and isinstance(e.get("path"), str):
                text = self._patch_text(d / e["path"])
                # a file of strategic-merge patches without a target: one patch per document, each naming its object
                # (kustomize api/internal/builtins/PatchTransformer.go)
                out += [{**e, "patch": t} for t in (_documents(text) if split and "target" not in e else [text])
                        if t is not None]
            elif isinstance(e, dict):
                out.append(e)
        return out

    def _patch_text(self, p: Path) -> str | None:
        if self.root is None or not self.run.fs.isfile(p) or not inside(self.real(p), self.real(self.root)):
            return None
        try:
            return self.run.text(p, root=self.root)
        except Exception:  # noqa: BLE001 - refused or unreadable: the kustomize build reports it
            return None

    def identities(self, target: Path, m: fluxmodel.Kustomization, f: Path, o: Obj,
                   affixed: bool = True) -> list[tuple[str, str]] | None:
        """[(namespace, name)] object ``o`` of file ``f`` has in the build of Flux Kustomization ``m`` (``spec.path``
        ``target``) when a kustomization's patch renames it, else None (names_by/namespaces_by hold). Each
        kustomization on the way, innermost first, runs its patches, namespace, namePrefix/nameSuffix (``affixed``:
        the kind takes them) and patchesJson6902 on what it accumulated (kusttarget_configplugin.go
        transformerConfigurators); the root is the kustomization the controller builds (flux_kustomization). A
        JSON 6902 patch may set metadata.name and metadata.namespace; a strategic merge keeps both unless the entry
        allows a name change (api/resource/resource.go ApplySmPatch). A patch selects by the name and namespace as
        written or as they are by then (api/resmap/reswrangler.go Select). SOPS leaves metadata in clear
        (getsops/sops@v3.10.2:stores/stores.go: the ``sops`` key sits beside it) and kustomize-controller decrypts
        after the build (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go build,
        internal/decryptor), so an encrypted object is renamed like any other."""
        self.applied(target)
        t = self.real(target)
        chains = self._chains.get(t, {}).get(f)
        if not chains:
            return None
        kdata, _ = self.kustomization(t)
        root = flux_kustomization(kdata, m)
        levels = {x for c in chains for x in c if x != t}
        if not any(_renames(p) for p in (*self.patches(t, root), *self.json6902(t, root))) and \
                not any(self._renaming(d) for d in levels):
            return None  # the common case: no copy made
        md = o.data.get("metadata")
        org = (str(md.get("namespace") or "") if isinstance(md, dict) else "", o.name)
        out: list[tuple[str, str]] = []
        renamed = False
        for c in chains:
            cur = Obj(o.file, o.path, o.index, copy.deepcopy(o.data), o.line, o.encrypted)
            for d in [*(x for x in c if x != t), t]:
                k = root if d == t else self.kustomization(d)[0]
                renamed |= self._rename(cur, org, self.patches(d, k))
                ns, pre, suf = (k.get(x) for x in ("namespace", "namePrefix", "nameSuffix"))
                if isinstance(ns, str) and ns:
                    _set_meta(cur.data, "namespace", ns)
                if affixed and (isinstance(pre, str) and pre or isinstance(suf, str) and suf):
                    _set_meta(cur.data, "name", (pre if isinstance(pre, str) else "") + cur.name +
                              (suf if isinstance(suf, str) else ""))
                renamed |= self._rename(cur, org, self.json6902(d, k))
            md = cur.data.get("metadata")
            pair = (str(md.get("namespace") or "") if isinstance(md, dict) else "", cur.name)
            if pair not in out:
                out.append(pair)
        return out if renamed else None

    def _renaming(self, d: Path) -> bool:
        """Whether a patch of ``d``'s kustomization may change a name or namespace (once per folder and run)."""
        if d not in self._renames:
            k, _ = self.kustomization(d)
            self._renames[d] = any(_renames(p) for p in (*self.patches(d, k), *self.json6902(d, k)))
        return self._renames[d]

    @staticmethod
    def _rename(cur: Obj, org: tuple[str, str], patches: list[fluxmodel.Patch]) -> bool:
        """Patches applied to ``cur`` in place; True when one changed its name or namespace."""
        changed = False
        for p in patches:
            if p.patch is None or not any(selects(p, cur, ns, name) for ns in {org[0], cur.namespace}
                                          for name in {org[1], cur.name}):
                continue
            before = (cur.namespace, cur.name)
            doc = document(p)
            if isinstance(doc, dict):
                apply_patch(cur, p)  # labels and annotations: what later selectors read
                want = dig(doc, "metadata", "name")
                options = p.raw.get("options")
                if isinstance(want, str) and want and isinstance(options, dict) and options.get("allowNameChange") is True:
                    _set_meta(cur.data, "name", want)
            elif isinstance(doc, list) and doc:
                _json6902(cur.data, doc)
            changed |= (cur.namespace, cur.name) != before
        return changed

    def flux_reached(self, target: Path, m: fluxmodel.Kustomization) -> set[Path]:
        """The kustomization folders that Flux Kustomization's build reads (its components' included)."""
        out = set(self.reached(target))
        for cdir in self._component_dirs(target, m):
            out |= self.reached(cdir)
        return out


# --------------------------------------------------------------------------------------------------
# Patches


def _documents(text: str | None) -> list[str]:
    """Each document of a patch file, as its own patch text (JSON, which is YAML)."""
    if text is None:
        return []
    try:
        return [json.dumps(doc.data) for doc in yamlsafe.load_all(text) if isinstance(doc.data, (dict, list))]
    except yamlsafe.YamlRefused:
        return []


def _renames(p: fluxmodel.Patch) -> bool:
    """Whether patch ``p`` may change an object's name or namespace: a JSON 6902 operation on metadata, or a
    strategic merge whose entry allows a name change (Tree._rename)."""
    doc = document(p)
    if isinstance(doc, dict):
        options = p.raw.get("options")
        return isinstance(options, dict) and options.get("allowNameChange") is True
    return isinstance(doc, list) and any(
        isinstance(op, dict) and isinstance(op.get("path"), str) and op["path"].split("/")[1:2] == ["metadata"]
        for op in doc)


def _set_meta(data: dict, key: str, value: str) -> None:
    md = data.get("metadata")
    if not isinstance(md, dict):
        md = data["metadata"] = {}
    md[key] = value


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> GoRegexp | None:
    """A selector field as kustomize compiles it: Go's regexp, anchored (api/types/selector.go anchorRegex); None
    when Go refuses it (the build fails) or it is over goregexp's compile bound (the graph's view then selects
    nothing; a kustomize build decides it exactly)."""
    try:
        return GoRegexp("^(?:" + pattern + ")$")
    except (PatternError, PatternCost):
        return None


def _matches(pattern: str, value: str) -> bool:
    if not pattern:
        return True
    rx = _regex(pattern)
    return rx is not None and rx.found(value)


def _scalar_text(v: object) -> str:
    """A parsed scalar as the text it is usually written with (a Python ``True`` is ``true``, null is empty)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _label_selector_matches(selector: str, labels: dict) -> bool:
    """k8s.io/apimachinery labels.Parse semantics for the forms kustomize takes (api/resource/resource.go
    MatchesLabelSelector): ``k=v``, ``k==v``, ``k!=v``, ``k in (..)``, ``k notin (..)``, ``k``, ``!k``. The label
    values are compared as their YAML text (kubernetes-sigs/kustomize@kyaml/v0.20.1:kyaml/yaml/rnode.go
    getMapFromMeta: ``value.Value``), so an unquoted ``enabled: true`` is selected by ``enabled=true``."""
    labels = {k: _scalar_text(v) for k, v in labels.items()}
    for term in re.split(r",(?![^()]*\))", selector):
        term = term.strip()
        if not term:
            continue
        m = re.match(r"^(\S+)\s+(in|notin)\s+\(([^)]*)\)$", term)
        if m:
            vals = {v.strip() for v in m.group(3).split(",")}
            present = m.group(1) in labels and str(labels[m.group(1)]) in vals
            if present != (m.group(2) == "in"):
                return False
            continue
        m = re.match(r"^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$", term)
        if m:
            eq = str(labels.get(m.group(1), "")) == m.group(3) and m.group(1) in labels
            if eq != (m.group(2) != "!="):
                return False
            continue
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def document(p: fluxmodel.Patch) -> object:
    """The patch's first document (a mapping: strategic merge; a list: JSON 6902); None when absent or invalid (the
    build reports it)."""
    return _document(p.patch) if p.patch is not None else None


@functools.lru_cache(maxsize=1024)
def _document(text: str) -> object:
    # shared between callers: never mutated (apply_patch copies what it writes)
    try:
        return first_document(text)
    except Exception:  # noqa: BLE001 - an invalid patch is the build's finding
        return None


def selects(p: fluxmodel.Patch, o: Obj, ns: str = "", name: str | None = None) -> bool:
    """Whether patch ``p`` selects object ``o`` (in namespace ``ns`` in the build): without a target, a strategic merge
    patch names its object (kind and name); a target matches group, version, kind, name and namespace as anchored Go
    regular expressions, and its label and annotation selectors (kubernetes-sigs/kustomize@kustomize/v5.7.1:
    api/types/selector.go SelectorRegex, api/resource/resource.go); ``name``: the one to match, when not ``o``'s."""
    name = o.name if name is None else name
    t = p.target
    if t is None:
        doc = document(p)
        return isinstance(doc, dict) and dig(doc, "metadata", "name") == name and doc.get("kind") == o.kind
    group, _, version = o.api_version.rpartition("/")
    for pattern, value in ((t.group, group), (t.version, version), (t.kind, o.kind), (t.name, name),
                           (t.namespace, ns)):
        if not _matches(pattern, value):
            return False
    for sel, key in ((t.label_selector, "labels"), (t.annotation_selector, "annotations")):
        have = dig(o.data, "metadata", key)
        if sel and not _label_selector_matches(sel, have if isinstance(have, dict) else {}):
            return False
    return True


def apply_patch(o: Obj, p: fluxmodel.Patch) -> bool:
    """Patch ``p`` applied to object ``o`` in place: a strategic merge (maps merge, lists are replaced: no schema
    strategies for custom resources) or JSON 6902. True when it wrote anything."""
    doc = document(p)
    if isinstance(doc, dict):
        body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
        md = doc.get("metadata")
        if isinstance(md, dict):
            extra = {k: v for k, v in md.items() if k in ("labels", "annotations")}
            if extra:
                body["metadata"] = extra
        if body:
            _merge(o.data, body)
            return True
        return False
    return _json6902(o.data, doc) if isinstance(doc, list) and doc else False


def _merge(into: dict, patch: dict) -> None:
    """Strategic merge of a custom resource (no schema strategies: maps merge, everything else is replaced; null
    deletes)."""
    for k, v in patch.items():
        if v is None:
            into.pop(k, None)
        elif isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


class _PatchError(Exception):
    """A JSON 6902 operation that does not apply: kustomize fails the build, the object stays as written."""


def _pointer(path: object) -> list[str]:
    """An RFC 6901 pointer's reference tokens; the document itself and apiVersion/kind are refused (the graph keys
    objects by them)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise _PatchError(path)
    parts = [x.replace("~1", "/").replace("~0", "~") for x in path.split("/")[1:]]
    if len(parts) < 2 or parts[0] in ("apiVersion", "kind"):
        raise _PatchError(path)
    return parts


def _index(node: list, part: str, add: bool) -> int:
    """A list index: ``-`` is past the end (add only), a negative one counts from the end (json-patch.v4
    SupportNegativeIndices); add may name len(node) (append), the others an existing element."""
    if part == "-" and add:
        return len(node)
    try:
        i = int(part)
    except ValueError:
        raise _PatchError(part) from None
    if i < 0:
        i += len(node)
    if not 0 <= i <= len(node) - (0 if add else 1):
        raise _PatchError(part)
    return i


def _parent(data: dict, parts: list[str]) -> dict | list:
    node: object = data
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            node = node[_index(node, part, False)]
        else:  # a missing parent fails the operation (RFC 6902 4.1)
            raise _PatchError(part)
    if not isinstance(node, (dict, list)):
        raise _PatchError(parts[-1])
    return node


def _get(data: dict, parts: list[str]) -> object:
    node = _parent(data, parts)
    if isinstance(node, list):
        return node[_index(node, parts[-1], False)]
    if parts[-1] not in node:
        raise _PatchError(parts[-1])
    return node[parts[-1]]


# An undo journal: (container, key, the value it held or _ABSENT); a list entry's key is ("insert"|"pop", index).
_Journal = list[tuple[Any, Any, Any]]
_ABSENT = object()


def _remove(data: dict, parts: list[str], journal: _Journal) -> object:
    node = _parent(data, parts)
    if isinstance(node, list):
        i = _index(node, parts[-1], False)
        value = node.pop(i)
        journal.append((node, ("pop", i), value))
        return value
    if parts[-1] not in node:
        raise _PatchError(parts[-1])
    value = node.pop(parts[-1])
    journal.append((node, parts[-1], value))
    return value


def _add(data: dict, parts: list[str], value: object, journal: _Journal) -> None:
    node = _parent(data, parts)
    if isinstance(node, list):
        i = _index(node, parts[-1], True)  # an index inserts, `-` appends
        node.insert(i, value)
        journal.append((node, ("insert", i), None))
    else:
        journal.append((node, parts[-1], node.get(parts[-1], _ABSENT)))
        node[parts[-1]] = value


def _undo(journal: _Journal) -> None:
    for node, key, old in reversed(journal):
        if isinstance(node, list):
            if key[0] == "insert":
                node.pop(key[1])
            else:
                node.insert(key[1], old)
        elif old is _ABSENT:
            del node[key]
        else:
            node[key] = old


def _json6902(data: dict, ops: list) -> bool:
    """A JSON 6902 patch applied as kustomize does (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/
    patchjson6902/patchjson6902.go → gopkg.in/evanphx/json-patch.v4 Patch.Apply): each operation in order on the
    result of the last, and one that does not apply fails the whole patch (the build reports it; ``data`` is left
    as it was). True when it applied.

    Applied in place with an undo journal, never on a copy of ``data``: a Kustomization's P patches on one object
    (each adding to it) would otherwise copy an object that grows with each, O(P²) for one object."""
    journal: _Journal = []
    try:
        for op in ops:
            if not isinstance(op, dict):
                raise _PatchError(op)
            kind, parts = op.get("op"), _pointer(op.get("path"))
            if kind == "add":
                _add(data, parts, copy.deepcopy(op.get("value")), journal)
            elif kind == "replace":
                _get(data, parts)  # replace needs the value to exist
                _remove(data, parts, journal)
                _add(data, parts, copy.deepcopy(op.get("value")), journal)
            elif kind == "remove":
                _remove(data, parts, journal)
            elif kind in ("move", "copy"):
                source = _pointer(op.get("from"))
                value = _remove(data, source, journal) if kind == "move" else copy.deepcopy(_get(data, source))
                _add(data, parts, value, journal)
            elif kind == "test":
                if _get(data, parts) != op.get("value"):
                    raise _PatchError(op)
            else:
                raise _PatchError(op)
    except _PatchError:
        _undo(journal)
        return False
    return True


def writes(p: fluxmodel.Patch, field: str) -> bool:
    """Whether patch ``p`` writes at or below spec.<field>: a strategic merge that sets it, or a JSON 6902 operation
    whose path is in it."""
    doc = document(p)
    if isinstance(doc, dict):
        return isinstance(doc.get("spec"), dict) and field in doc["spec"]
    where = f"/spec/{field}"
    return isinstance(doc, list) and any(
        isinstance(op, dict) and isinstance(op.get("path"), str) and op["path"].split("/")[:3] == where.split("/")
        for op in doc)


def patched_field(m: fluxmodel.Kustomization, field: str) -> list[tuple[fluxmodel.Patch, dict]]:
    """[(patch, the mapping it sets at spec.<field>)] of a Flux Kustomization's patches: a parent's defaults for the
    Kustomizations it applies (decryption, sourceRef, postBuild)."""
    out = []
    for p in m.patches:
        if p.patch is None or field not in p.patch:
            continue
        doc = document(p)
        value = None
        if isinstance(doc, dict):
            value = dig(doc, "spec", field)
        elif isinstance(doc, list):  # JSON 6902
            for op in doc:
                if isinstance(op, dict) and op.get("op") in ("add", "replace") and op.get("path") == f"/spec/{field}":
                    value = op.get("value")
        if isinstance(value, dict):
            out.append((p, copy.deepcopy(value)))  # the parsed patch is shared (_document): callers get their own
    return out


# --------------------------------------------------------------------------------------------------
# postBuild substitution on the objects read from files (the engine: velero_gitops.varsub)


def _reparse_scalar(text: str) -> object:
    """What a substituted plain scalar becomes when the controller parses the YAML again: read as any repository
    text is (yamlsafe: Go YAML's plain scalars, its depth, alias and node budgets), the text itself when that is not
    one scalar."""
    try:
        docs = yamlsafe.load_all(text)
    except yamlsafe.YamlRefused:
        return text
    v = docs[0].data if len(docs) == 1 else None if not docs else text  # no document: an empty scalar, null
    return v if isinstance(v, (str, int, float, bool)) or v is None else text


def substitute(node: dict | list, lookup: varsub.Lookup, blanked: dict[str, list[str]] | None = None,
               budget: varsub.Budget | None = None) -> bool:
    """Substitute in place; True when anything changed. The controller substitutes the object as kustomize writes
    it out (sigs.k8s.io/yaml JSONToYAML: a string is written plain unless it would read back as something else, the
    quotes of the source file are gone), then parses the result again: a substituted plain scalar may become a
    number (kustomize-controller@v1.9.4:docs/spec/v1/kustomizations.md "Post build substitution of numbers and
    booleans"). A scalar with an expression whose value is unknown here, or that the controller refuses, is left
    as written. ``blanked`` gets, by JSON pointer, the names of the variables without a value in a scalar that
    substitution left empty (envsubst, not strict: an undefined variable is "", and an empty plain scalar reads back
    as null). Raises varsub.TooLarge (``at``: the value where it ran out) when the values would add more than
    ``budget`` (one of varsub.OUTPUT_LIMIT for this object by default); then nothing is changed."""
    budget = budget or varsub.Budget()
    edits: list[tuple[dict | list, Any, object, str, str]] = []  # (container, key, new value, pointer, old text)
    stack: list[tuple[str, dict | list]] = [("", node)]
    while stack:
        at, n = stack.pop()
        items = list(n.items()) if isinstance(n, dict) else list(enumerate(n)) if isinstance(n, list) else []
        for k, v in items:
            ptr = at + "/" + str(k).replace("~", "~0").replace("/", "~1")
            if isinstance(v, (dict, list)):
                stack.append((ptr, v))
            elif isinstance(v, str) and "$" in v:
                try:
                    new, known = varsub.expand(v, lookup, budget=budget)
                except varsub.BadSubstitution:
                    continue
                except varsub.TooLarge as exc:
                    exc.at = ptr
                    raise
                if not known or new == v:
                    continue
                edits.append((n, k, _reparse_scalar(new) if _reparse_scalar(v) == v else new, ptr, v))
    for n, k, val, ptr, v in edits:
        n[k] = val
        if blanked is not None and val in (None, ""):
            blanked[ptr] = [m for m in varsub.names(v) if lookup(m) == ""]
    return bool(edits)
