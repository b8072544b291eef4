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
* postBuild substitution (``${VAR}``, ``${VAR:=default}``) runs on the objects a Kustomization with
  postBuild variables applies, before they are validated.

Checks (rule ids in brackets): [flux.path] [flux.source-ref] [flux.depends-on] [flux.cross-namespace]
[flux.decryption] (encrypted files applied without decryption) [flux.decryption-secret] (the key Secret is
not where the controller reads it) [flux.crd-order] (Velero objects applied before the velero chart that
installs their CRDs; other charts' CRDs are often installed out of band, so ordering is not provable there).

Facts come from the whole repository, not only from the paths given: a root Kustomization in clusters/
that patches decryption into its children counts when only kubernetes/apps is validated. The repository
root is ``--repo-root``, else the nearest ancestor holding ``.git``, ``.sops.yaml`` or ``kubernetes/``.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import stat
from collections import Counter
from pathlib import Path

from velero_gitops import safefile
from velero_gitops.findings import Finding
from velero_gitops.validate.documents import (
    KUSTOMIZE_FILES,
    Obj,
    Reader,
    dig,
    display_path,
    find_root,
    first_document,
    inside,
    mapping,
)
from velero_gitops.validate.run import DEFAULT_REPO_SOURCES, Options, Run

FLUX_KS = "kustomize.toolkit.fluxcd.io/"
HELM = "helm.toolkit.fluxcd.io/"
SOURCE = "source.toolkit.fluxcd.io/"
# the bootstrap source: `flux bootstrap` makes a GitRepository; a FluxInstance (flux-operator) makes its sync kind,
# named after its namespace by default
WELL_KNOWN = {(k, "flux-system", "flux-system") for k in ("GitRepository", "OCIRepository", "Bucket")}
# Velero's chart ships its CRDs; only for it is "applied before the CRDs exist" provable from the tree
CRD_CHARTS = {"velero": ("velero.io",)}
_SOPS_TOP = re.compile(r"^sops:\s*$", re.M)
# kinds the repository scan keeps (the facts other files' lookups need)
_SCAN_KIND = re.compile(r"^kind:\s*['\"]?(Kustomization|HelmRelease|GitRepository|OCIRepository|HelmRepository|Bucket|"
                        r"HelmChart|FluxInstance|ExternalArtifact|ArtifactGenerator|Secret|ConfigMap)\b", re.M)
_SCAN_MAX_FILES = 20000
_SCAN_MAX_BYTES = 2 << 20


def is_kind(obj, prefix: str, kind: str) -> bool:
    return obj.kind == kind and obj.api_version.startswith(prefix)


def _str(v) -> str:
    return v if isinstance(v, str) else ""


# --------------------------------------------------------------------------------------------------
# What a directory applies


class _Tree:
    """Which files a directory applies (kustomize semantics, approximated without building), and the
    ``namespace:`` that kustomize sets on each: the outermost kustomization.yaml that has one wins."""

    def __init__(self, root: Path | None, real):
        self.root = root
        self.real = real  # Run.real
        self._cache: dict[Path, list[tuple[Path, str, Path | None]]] = {}
        self._ns: dict[Path, tuple[str, Path | None]] = {}

    def kustomization(self, d: Path) -> tuple[dict, Path | None]:
        kfile = next((d / n for n in KUSTOMIZE_FILES if os.path.isfile((d / n))), None)
        if kfile is None:
            return {}, None
        try:
            k = first_document(safefile.read_text(kfile))
        except Exception:  # noqa: BLE001 - unreadable/invalid: the kustomize build reports it
            k = None
        return (k if isinstance(k, dict) else {}), kfile

    def namespace(self, d: Path) -> tuple[str, Path | None]:
        """The ``namespace:`` of the kustomization.yaml in ``d`` and that file ("" when none)."""
        d = self.real(d)
        if d not in self._ns:
            k, kfile = self.kustomization(d)
            ns = k.get("namespace")
            self._ns[d] = (ns, kfile) if isinstance(ns, str) and ns else ("", None)
        return self._ns[d]

    def applied(self, d: Path, depth: int = 0) -> list[tuple[Path, str, Path | None]]:
        """[(file, namespace set by kustomize or "", the kustomization file that set it)]."""
        d = self.real(d)
        if d in self._cache:
            return self._cache[d]
        self._cache[d] = []
        out: list[tuple[Path, str, Path | None]] = []
        k, kfile = self.kustomization(d)
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
                    if os.path.isdir(p):
                        sub = self.applied(p, depth + 1)
                    elif os.path.isfile(p):
                        sub = [(self.real(p), "", None)]
                    else:
                        continue
                    out.extend((f, ns, nsfile) if ns else (f, o, of) for f, o, of in sub)
        elif kfile is None and os.path.isdir(d):
            # Flux generates a kustomization: every YAML file, and sub-directories with their own
            # kustomization.yaml as a whole
            for dirpath, dirnames, filenames in os.walk(d):
                sub_d = Path(dirpath)
                if sub_d != d and any(n in filenames for n in KUSTOMIZE_FILES):
                    out.extend(self.applied(sub_d, depth + 1))
                    dirnames[:] = []
                    continue
                dirnames[:] = sorted(x for x in dirnames if not x.startswith("."))
                out.extend((self.real(sub_d / f), "", None) for f in sorted(filenames)
                           if f.endswith((".yaml", ".yml")) and not f.startswith("."))
        self._cache[d] = out
        return out

    def applied_files(self, d: Path, depth: int = 0) -> list[Path]:
        return [f for f, _, _ in self.applied(d, depth)]


def _encrypted_file(p: Path, known: dict[Path, bool]) -> bool:
    """Named *.sops.yaml or holding a top-level sops block (``known``: files already read, and a cache)."""
    if p.name.endswith((".sops.yaml", ".sops.yml")):
        return True
    if p not in known:
        try:
            known[p] = bool(_SOPS_TOP.search(safefile.read_bytes(p).decode(errors="replace")))
        except OSError:
            known[p] = False
    return known[p]


# --------------------------------------------------------------------------------------------------
# Reading the rest of the repository


def _scan_repo(root: Path, seen: set[Path], real) -> list:
    """Flux objects, Secrets and ConfigMaps of the repository outside the given paths (facts only, no findings)."""
    reader = Reader(str(root))  # the scan stays inside the repository: a symlink out is refused
    count = 0
    candidates: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.startswith(".") or not f.endswith((".yaml", ".yml")) or f in KUSTOMIZE_FILES:
                continue
            count += 1
            if count > _SCAN_MAX_FILES:
                return []  # not a Flux repository this could model in time: facts from the given paths only
            p = Path(dirpath) / f
            try:
                st = os.lstat(p)  # regular files only: no FIFO, device or link out of the repository
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size > _SCAN_MAX_BYTES or p in seen or real(p) in seen:
                continue
            candidates.append(p)
    for p in candidates:
        try:
            text = safefile.read_text(p, root=root)
        except (OSError, UnicodeDecodeError):
            continue
        if "\0" in text or not _SCAN_KIND.search(text):
            continue
        try:
            reader.read(display_path(p), p)
        except Exception:  # noqa: BLE001 - a file validate was not asked about must not stop the run
            continue
    return reader.objects


# --------------------------------------------------------------------------------------------------
# postBuild substitution (fluxcd/pkg kustomize_varsub.go + envsubst)

_VAR = re.compile(r"\$\$\{|\$\{([^{}]*)\}")
_VARNAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_OPS = re.compile(r"^([_A-Za-z][_A-Za-z0-9]*)(?:(:?[-=])(.*))?$", re.S)


class _Unknown(Exception):
    pass


def _expand(text: str, vars_: dict[str, str], complete: bool) -> str:
    """envsubst of one string; raises _Unknown when a value cannot be known from the repository."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$${":
            return "${"  # an escaped literal
        m2 = _OPS.match(m.group(1))
        if m2 is None:
            raise _Unknown  # ${#v}, ${v^^}, ${v/a/b}...: not modelled
        name, op, default = m2.groups()
        if name in vars_:
            value = vars_[name]
            if value == "" and op in (":-", ":="):
                return default
            return value
        if not complete:
            raise _Unknown  # may come from a Secret or ConfigMap we cannot read
        # non-strict Flux: an undefined variable is set and empty
        return default if op in (":-", ":=") else ""

    return _VAR.sub(sub, text)


def _read(p: Path) -> str:
    try:
        return safefile.read_bytes(p).decode(errors="replace")
    except OSError:
        return ""


def _reparse_scalar(text: str):
    """What a substituted plain scalar becomes when the controller parses the YAML again."""
    import yaml

    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return v if isinstance(v, (str, int, float, bool)) or v is None else text


def _substitute(node, vars_: dict[str, str], complete: bool, source: str = "") -> bool:
    """Substitute in place; True when anything changed. kustomize keeps a quoted scalar quoted when it writes the
    object out for envsubst, so a value quoted in ``source`` stays a string; a plain one is parsed again."""
    changed = False
    stack = [node]
    while stack:
        n = stack.pop()
        items = list(n.items()) if isinstance(n, dict) else list(enumerate(n)) if isinstance(n, list) else []
        for k, v in items:
            if isinstance(v, (dict, list)):
                stack.append(v)
            elif isinstance(v, str) and "${" in v:
                try:
                    new = _expand(v, vars_, complete)
                except _Unknown:
                    continue
                quoted = f'"{v}"' in source or f"'{v}'" in source
                n[k] = new if quoted else _reparse_scalar(new)
                changed = True
    return changed


# --------------------------------------------------------------------------------------------------
# Patches a parent Kustomization applies to the Kustomizations it builds


def _label_selector_matches(selector: str, labels: dict) -> bool:
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


def _patch_targets(target, patch_doc, ks) -> bool:
    labels = dig(ks.data, "metadata", "labels")
    labels = labels if isinstance(labels, dict) else {}
    if not isinstance(target, dict):  # no target: a strategic merge patch names its object
        return isinstance(patch_doc, dict) and dig(patch_doc, "metadata", "name") == ks.name
    if target.get("kind") not in (None, "Kustomization"):
        return False
    if target.get("group") not in (None, "kustomize.toolkit.fluxcd.io"):
        return False
    name = target.get("name")
    if isinstance(name, str) and name and re.fullmatch(name, ks.name) is None:
        return False
    sel = target.get("labelSelector")
    return not (isinstance(sel, str) and sel and not _label_selector_matches(sel, labels))


def _patched_spec(patches, field: str) -> list[tuple[object, object, dict]]:
    """[(target, patch document, the mapping it sets at spec.<field>)] from a Flux Kustomization's
    spec.patches (a parent's defaults for its child Kustomizations: decryption, sourceRef)."""
    out = []
    for p in patches if isinstance(patches, list) else []:
        if not isinstance(p, dict) or not isinstance(p.get("patch"), str) or field not in p["patch"]:
            continue
        try:
            doc = first_document(p["patch"])
        except Exception:  # noqa: BLE001 - an invalid patch is the build's finding
            continue
        value = None
        if isinstance(doc, dict):
            value = dig(doc, "spec", field)
        elif isinstance(doc, list):  # JSON 6902
            for op in doc:
                if isinstance(op, dict) and op.get("op") in ("add", "replace") and op.get("path") == f"/spec/{field}":
                    value = op.get("value")
        if isinstance(value, dict):
            out.append((p.get("target"), doc, value))
    return out


# --------------------------------------------------------------------------------------------------
# The graph


class Graph:
    """Which Flux Kustomization applies which file, the namespaces each object ends up in, and the
    decryption each Kustomization gets. Built once per run, before schema validation (substitution)."""

    def __init__(self, objects, run: Run):
        opts = self.opts = run.opts
        self.real = run.real
        self.scope = list(objects)
        self.root = self._repo_root(objects, run)
        self.tree = _Tree(self.root, run.real)
        seen = {self.real(o.path) for o in objects if o.path is not None}
        self.extra = _scan_repo(self.root, seen, run.real) if self.root is not None and opts.flux else []
        self.all = self.scope + self.extra
        self.flux_ks = [o for o in self.all if is_kind(o, FLUX_KS, "Kustomization")]
        self.roots: dict[int, list[Path]] = {id(ks): _candidate_roots(ks, run, self.root) for ks in self.flux_ks}
        self.applied_by: dict[Path, list] = {}  # file -> [Kustomization]
        self._via: dict[tuple[Path, int], list[tuple[str, Path | None]]] = {}  # (file, ks) -> [kustomize namespace, its file]
        self._ns: dict[int, list[str]] = {}
        self.substituted: dict[int, bool] = {}
        self._build()
        for _ in range(3):  # substitution may resolve a child's spec.path: build again until stable
            if not self._substitute_all():
                break
            self._build()

    @staticmethod
    def _repo_root(objects, run: Run) -> Path | None:
        if run.opts.repo_root:
            return run.real(Path(run.opts.repo_root))
        for o in objects:
            if o.path is not None:
                return find_root(run.real(o.path).parent)
        return None

    def _build(self) -> None:
        self.applied_by, self._via, self._ns = {}, {}, {}
        for ks in self.flux_ks:
            target = self.path_dir(ks)
            if target is None:
                continue
            entries = list(self.tree.applied(target))
            comps = dig(ks.data, "spec", "components")
            root_ns = self.tree.namespace(target)
            for c in comps if isinstance(comps, list) else []:  # Flux adds spec.components to the root build
                cdir = target / str(c)
                if isinstance(c, str) and os.path.isdir(cdir) and inside(self.real(cdir), self.root):
                    entries.extend((f, root_ns[0] or o, root_ns[1] if root_ns[0] else of)
                                   for f, o, of in self.tree.applied(cdir))
            for f, ns, nsfile in entries:
                lst = self.applied_by.setdefault(f, [])
                if not any(k is ks for k in lst):
                    lst.append(ks)
                via = self._via.setdefault((f, id(ks)), [])  # a component reached from several namespaces
                if (ns, nsfile) not in via:
                    via.append((ns, nsfile))

    def path_dir(self, ks) -> Path | None:
        """The directory a Kustomization of this repository builds, None when unknown or elsewhere."""
        p = dig(ks.data, "spec", "path")
        if p is None:
            p = "./"
        if not isinstance(p, str) or "${" in p or not self.reads_repo(ks):
            return None
        for root in self.roots[id(ks)]:
            target = root / p.lstrip("/")
            if os.path.isdir(target) and inside(self.real(target), self.root or root):
                return target
        return None

    def reads_repo(self, ks) -> bool:
        return reads_this_repo(ks, self.opts)

    # -- substitution ------------------------------------------------------------------------------
    def _vars(self, ks) -> tuple[dict[str, str], bool] | None:
        """postBuild variables of a Kustomization; None when it substitutes nothing (fluxcd/pkg runs envsubst
        only when there is at least one variable)."""
        post = dig(ks.data, "spec", "postBuild")
        if not isinstance(post, dict):
            return None
        vars_: dict[str, str] = {}
        complete = True
        ns = self.namespaces(ks)[0] if self.namespaces(ks) else ""
        for ref in post.get("substituteFrom") or []:
            if not isinstance(ref, dict):
                continue
            kind, name = ref.get("kind"), ref.get("name")
            found = [o for o in self.all if o.kind == kind and o.name == name and o.api_version == "v1"
                     and (not ns or ns in self.namespaces(o))]
            if not found:
                complete = False if not ref.get("optional") else complete
                continue
            for o in found:
                data = o.data.get("data")
                if kind == "Secret":
                    if o.encrypted:
                        complete = False
                        continue
                    plain = {}
                    for k, v in (data or {}).items() if isinstance(data, dict) else []:
                        try:
                            plain[k] = base64.b64decode(str(v)).decode()
                        except (ValueError, UnicodeDecodeError):
                            complete = False
                    sd = o.data.get("stringData")
                    plain.update({k: str(v) for k, v in sd.items()} if isinstance(sd, dict) else {})
                    data = plain
                for k, v in (data or {}).items() if isinstance(data, dict) else []:
                    vars_[str(k)] = str(v).replace("\n", "")
        subst = post.get("substitute")
        for k, v in subst.items() if isinstance(subst, dict) else []:
            vars_[str(k)] = str(v).replace("\n", "")
        if not vars_ and complete and post.get("substituteStrategy") != "Always":
            return None
        return vars_, complete

    def _substitute_all(self) -> bool:
        changed = False
        for o in self.all:
            if o.path is None or id(o) in self.substituted:
                continue
            for ks in self.applied_by.get(self.real(o.path), []):
                if ks is o:
                    continue
                v = self._vars(ks)
                if v is None:
                    continue
                md = mapping(o.data, "metadata")
                marks = [dig(md, "labels"), dig(md, "annotations")]
                if any(isinstance(m, dict) and m.get("kustomize.toolkit.fluxcd.io/substitute") == "disabled" for m in marks):
                    break
                self.substituted[id(o)] = True
                source = _read(o.path)
                changed |= _substitute(o.data, *v, source=source)
                break
        return changed

    # -- namespaces --------------------------------------------------------------------------------
    def namespaces(self, o) -> list[str]:
        """Every namespace the object ends up in ("" = none known), one per Kustomization applying it."""
        key = id(o)
        if key in self._ns:
            return self._ns[key]
        md = o.data.get("metadata")
        own = _str(md.get("namespace")) if isinstance(md, dict) else ""
        out: list[str] = []
        if o.path is not None:
            rp = self.real(o.path)
            for ks in self.applied_by.get(rp, []):
                tn = _str(dig(ks.data, "spec", "targetNamespace"))
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

    def ns_of(self, o) -> str:
        return self.namespaces(o)[0]

    def moved_by(self, o, ns: str) -> str:
        """Why the object is in ``ns`` when its file says otherwise (for messages)."""
        md = o.data.get("metadata")
        own = _str(md.get("namespace")) if isinstance(md, dict) else ""
        if o.path is None or ns == own:
            return ""
        rp = self.real(o.path)
        for ks in self.applied_by.get(rp, []):
            if _str(dig(ks.data, "spec", "targetNamespace")) == ns:
                return f" (targetNamespace of Flux Kustomization {ks.name})"
            for via_ns, via_file in self._via.get((rp, id(ks)), []):
                if via_ns == ns and via_file is not None:
                    return f" (moved there by `namespace: {ns}` in {display_path(via_file)})"
        pns, pfile = self._parent_namespace(rp)
        if pns == ns and pfile is not None:
            return f" (moved there by `namespace: {ns}` in {display_path(pfile)})"
        return ""

    def dead(self, o) -> bool:
        """In a folder whose kustomization.yaml does not list it (a disabled app: `# - ./app/ks.yaml`), and applied by
        no Flux Kustomization: the controllers never see it, so its lookups are not checked."""
        if o.path is None:
            return False
        rp = self.real(o.path)
        if self.applied_by.get(rp):
            return False
        for d in rp.parents:
            if self.root is not None and not inside(d, self.root):
                return False
            if any(os.path.isfile(d / n) for n in KUSTOMIZE_FILES):
                return all(f != rp for f in self.tree.applied_files(d))
        return False

    def _parent_namespace(self, rp: Path) -> tuple[str, Path | None]:
        """Not applied by a Flux Kustomization of the tree: the namespace the outermost kustomization.yaml
        above the file that includes it sets."""
        best: tuple[str, Path | None] = ("", None)
        for d in rp.parents:
            if self.root is not None and not inside(d, self.root):
                break
            if any(os.path.isfile(d / n) for n in KUSTOMIZE_FILES):
                for f, ns, nsfile in self.tree.applied(d):
                    if f == rp:
                        if ns:
                            best = (ns, nsfile)
                        break
            if self.root is not None and d == self.root:
                break
        return best

    # -- decryption --------------------------------------------------------------------------------
    def decryption(self, ks) -> tuple[dict | None, object]:
        """(the decryption the controller sees, the Kustomization whose patches injected it or None)."""
        return self.patched(ks, "decryption", speculate={"provider": "sops"})

    def source_ref(self, ks) -> dict | None:
        """The sourceRef the controller sees: the Kustomization's own, with what a parent's patches set
        merged over it (a merge patch on a custom resource: the patch's keys win)."""
        return self.patched(ks, "sourceRef")[0]

    def patched(self, ks, field: str, speculate: dict | None = None) -> tuple[dict | None, object]:
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
            parents = [k for k in self.flux_ks if k is not ks]
            speculative = True
        for parent in parents:
            for target, doc, value in _patched_spec(dig(parent.data, "spec", "patches"), field):
                if _patch_targets(target, doc, ks):
                    if speculative:
                        return dict(speculate or {}), parent
                    merged = dict(own or {})
                    merged.update(value)
                    return merged, parent
        return own, None


def _repo_sources(opts) -> set[tuple[str, str, str]]:
    out = set()
    for s in opts.repo_sources or DEFAULT_REPO_SOURCES:
        parts = s.split("/")
        if len(parts) == 3:
            out.add((parts[0], parts[1], parts[2]))
    return out


def guess_repo_source(objects: list[Obj], opts: Options) -> Options:
    """With the default repository sources and no Flux Kustomization reading them, the repository is read through a
    source of another name (`flux create source git k8s-gitops ...`): take the Git/OCI/Bucket source of the tree that
    most Flux Kustomizations read. An explicit --repo-source always wins."""
    if list(opts.repo_sources) != list(DEFAULT_REPO_SOURCES):
        return opts
    declared = {(o.kind, o.namespace or "", o.name) for o in objects
                if o.api_version.startswith(SOURCE) and o.kind in ("GitRepository", "OCIRepository", "Bucket")}
    reads: Counter[tuple[str, str, str]] = Counter()
    for o in objects:
        ref = dig(o.data, "spec", "sourceRef") if is_kind(o, FLUX_KS, "Kustomization") else None
        if isinstance(ref, dict) and isinstance(ref.get("kind"), str) and isinstance(ref.get("name"), str):
            reads[(ref["kind"], str(ref.get("namespace") or o.namespace or ""), ref["name"])] += 1
    if any(f"{k}/{ns}/{n}" in DEFAULT_REPO_SOURCES for k, ns, n in reads):
        return opts
    candidates = [(count, key) for key, count in reads.most_common() if key in declared]
    if not candidates:
        return opts
    kind, ns, name = candidates[0][1]
    return dataclasses.replace(opts, repo_sources=[f"{kind}/{ns}/{name}"])


def _flux_namespace(opts) -> str:
    """Where Flux itself runs: the namespace of the repository's source (flux-system by default)."""
    return sorted(_repo_sources(opts))[0][1] if _repo_sources(opts) else "flux-system"


def reads_this_repo(ks, opts) -> bool:
    ref = dig(ks.data, "spec", "sourceRef")
    if not isinstance(ref, dict):
        return False
    kind, name = ref.get("kind"), ref.get("name")
    ns = ref.get("namespace") or dig(ks.data, "metadata", "namespace")
    for k, n, nm in _repo_sources(opts):
        if kind == k and name == nm and (not ns or ns == n):
            return True
    return False


def _candidate_roots(ks, run: Run, root: Path | None = None) -> list[Path]:
    if run.opts.repo_root:
        out = [run.real(Path(run.opts.repo_root))]
    else:
        out = list(run.roots_for(run.real(ks.path).parent if ks.path is not None else None))
        if root is not None and root not in out:
            out.insert(0, root)
    ref = dig(ks.data, "spec", "sourceRef")
    if isinstance(ref, dict) and ref.get("kind") in ("OCIRepository", "Bucket") and ks.path is not None:
        # An artifact holds the folder that was pushed (`flux push artifact --path=./kubernetes`), and spec.path is
        # relative to it: any folder between the repository root and this file may be that root.
        top = out[0]
        for d in run.real(ks.path).parents:
            if d == top or top not in d.parents:
                break
            out.append(d)
    return out


def _chart_name(hr, objects) -> str | None:
    spec = mapping(hr.data, "spec")
    name = dig(spec, "chart", "spec", "chart")
    if isinstance(name, str):
        return name.rsplit("/", 1)[-1]
    ref = spec.get("chartRef")
    if isinstance(ref, dict) and ref.get("kind") == "OCIRepository":
        for o in objects:
            if o.kind == "OCIRepository" and o.name == ref.get("name"):
                url = dig(o.data, "spec", "url")
                if isinstance(url, str):
                    return url.rstrip("/").rsplit("/", 1)[-1]
    return None


# --------------------------------------------------------------------------------------------------
# Checks


def check(g: Graph, objects) -> list[Finding]:
    """The Flux findings on ``objects`` (the validated ones), looked up in the graph of the whole repository."""
    return _Checker(g, objects).run()


class _Checker:
    def __init__(self, g: Graph, objects):
        self.g, self.objects, self.opts = g, objects, g.opts
        self.findings: list[Finding] = []
        self.externals = set(g.opts.externals)
        self.repo_sources = _repo_sources(g.opts)
        self.index = self._index(g)

    @staticmethod
    def _index(g: Graph) -> dict[tuple[str, str], set[str]]:
        """(kind, name) -> the namespaces where such an object exists ("" = unknown)."""
        index: dict[tuple[str, str], set[str]] = {}
        for o in g.all:
            index.setdefault((o.kind, o.name), set()).update(g.namespaces(o))
        # ArtifactGenerators (source-watcher) produce ExternalArtifacts named in spec.artifacts; a FluxInstance
        # (flux-operator) creates its sync source, named after its namespace unless sync.name says otherwise
        # (controlplaneio-fluxcd/flux-operator@v0.58.1:internal/controller/fluxinstance_controller.go)
        for o in g.all:
            sync = dig(o.data, "spec", "sync")
            if o.kind == "FluxInstance" and isinstance(sync, dict) and isinstance(sync.get("kind"), str):
                for ns in g.namespaces(o):
                    index.setdefault((sync["kind"], _str(sync.get("name")) or ns), set()).add(ns)
            # an ExternalSecret makes the Secret spec.target.name, by default its own name
            # (external-secrets/external-secrets@v2.9.0:apis/externalsecrets/v1/externalsecret_types.go)
            if o.kind == "ExternalSecret" and o.api_version.startswith("external-secrets.io/"):
                target = _str(dig(o.data, "spec", "target", "name")) or o.name
                if target:
                    index.setdefault(("Secret", target), set()).update(g.namespaces(o))
            if o.kind == "ArtifactGenerator":
                for a in dig(o.data, "spec", "artifacts") or []:
                    if isinstance(a, dict) and isinstance(a.get("name"), str):
                        index.setdefault(("ExternalArtifact", a["name"]), set()).update(g.namespaces(o))
        return index

    def run(self) -> list[Finding]:
        for o in self.objects:
            if self.g.dead(o):
                continue
            if is_kind(o, FLUX_KS, "Kustomization"):
                self._kustomization(o)
            elif is_kind(o, HELM, "HelmRelease"):
                self._helmrelease(o)
        self._crd_order()
        return self.findings

    def add(self, obj, ptr: str, msg: str, rule: str) -> None:
        self.findings.append(obj.finding(ptr, msg, rule))

    # -- lookups -----------------------------------------------------------------------------------
    def where(self, kind: str, name: str, ns: str) -> tuple[bool, set[str]]:
        """(exists in ns, the namespaces where an object of that kind and name does exist)."""
        if ((kind, name, ns) in WELL_KNOWN or (kind, ns, name) in self.repo_sources
                or f"{kind}/{ns}/{name}" in self.externals or f"{kind}/*/{name}" in self.externals):
            return True, {ns}
        found = self.index.get((kind, name), set())
        others = {e.split("/")[1] for e in self.externals if e.startswith(f"{kind}/") and e.endswith(f"/{name}")
                  and e.count("/") == 2}
        return (not ns or ns in found or "" in found), (found | others) - {""}

    def _ref(self, obj, ns_obj: str, ptr: str, ref: object, what: str) -> None:
        """sourceRef/chartRef/dependsOn: the namespace defaults to the holder's."""
        if not (isinstance(ref, dict) and isinstance(ref.get("name"), str)) or "${" in ref["name"]:
            return
        kind = str(ref.get("kind", ""))
        ns = _str(ref.get("namespace")) or ns_obj
        ok, found = self.where(kind, ref["name"], ns)
        rule = "flux.depends-on" if what == "dependsOn" else "flux.source-ref"
        if not ok:
            if found:
                fix = "set" if not ref.get("namespace") else "fix"
                why = "" if ref.get("namespace") else f" (without namespace the controller looks in {obj.kind} {obj.name}'s own namespace)"
                msg = (f"{what} {kind} {ns}/{ref['name']} does not exist{why}: {kind} {ref['name']} is in "
                       f"{', '.join(sorted(found))}; {fix} namespace: {sorted(found)[0]}")
            else:
                msg = f"{what} {kind} {ns}/{ref['name']} not found in the repository (declare it with --external {kind}/{ns}/{ref['name']} if it lives elsewhere)"
            self.add(obj, ptr, msg, rule)
        if what != "dependsOn" and self.opts.no_cross_namespace_refs and ns_obj and ns != ns_obj:
            self.add(obj, ptr.rsplit("/", 1)[0] + "/namespace" if ref.get("namespace") else ptr,
                     f"{what} {kind} {ns}/{ref['name']} is in another namespace than {obj.kind} {ns_obj}/{obj.name}: "
                     "refused with --no-cross-namespace-refs", "flux.cross-namespace")

    # -- Kustomization -----------------------------------------------------------------------------
    def _kustomization(self, ks) -> None:
        g = self.g
        spec = ks.data.get("spec")
        if not isinstance(spec, dict):
            return
        p = spec.get("path")
        found = g.path_dir(ks)
        if isinstance(p, str) and "${" not in p and g.reads_repo(ks) and found is None:
            roots = g.roots[id(ks)]
            self.add(ks, "/spec/path", f"path {p!r} does not exist in the repository (root {display_path(roots[0]) if roots else '.'})",
                     "flux.path")
        for ns in g.namespaces(ks):
            self._ref(ks, ns, "/spec/sourceRef/name", g.source_ref(ks), "sourceRef")
            deps = spec.get("dependsOn")
            for i, dep in enumerate(deps if isinstance(deps, list) else []):
                if isinstance(dep, dict):
                    self._ref(ks, ns, f"/spec/dependsOn/{i}/name", {**dep, "kind": "Kustomization"}, "dependsOn")
        dec, injector = g.decryption(ks)
        if found is not None and dec is None:
            enc = [f for f in g.tree.applied_files(found) if _encrypted_file(f, self._encrypted())]
            if enc:
                self.add(ks, "/spec/path", f"path applies SOPS-encrypted {display_path(enc[0])} but spec.decryption is not set "
                         "(add decryption: {provider: sops}, with secretRef: {name: sops-age} unless kustomize-controller "
                         "runs with --sops-age-secret)", "flux.decryption")
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

    def _decryption_secret(self, ks, dec: dict, injector) -> None:
        ref = dec.get("secretRef")
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or "${" in ref["name"]:
            return  # no secretRef: the controller-wide --sops-age-secret key (kustomize-controller main.go)
        name = ref["name"]
        where = "/spec/decryption/secretRef/name" if injector is None else ""
        via = "" if injector is None else f" (injected by the patches of Flux Kustomization {self.g.ns_of(injector)}/{injector.name})"
        for ns in self.g.namespaces(ks):
            if not ns:
                continue
            ok, found = self.where("Secret", name, ns)
            if ok:
                continue
            home = sorted(found) or [_flux_namespace(self.opts)]
            if ns in home:
                continue
            known = "is in" if found else "is expected in"
            self.add(ks, where,
                     f"decryption.secretRef {name}{via} is read from the Kustomization's own namespace {ns}{self.g.moved_by(ks, ns)}"
                     f" (secretRef is a LocalObjectReference), but the key Secret {name} {known} {', '.join(home)}"
                     f"{'' if found else f' (Flux SOPS guide; declare --external Secret/{ns}/{name} if it is there)'}: "
                     f"keep the Kustomization in {home[0]} (use targetNamespace for its objects), or drop secretRef "
                     "and run kustomize-controller with --sops-age-secret", "flux.decryption-secret")

    # -- HelmRelease -------------------------------------------------------------------------------
    def _helmrelease(self, hr) -> None:
        spec = hr.data.get("spec")
        if not isinstance(spec, dict):
            return
        for ns in self.g.namespaces(hr):
            self._ref(hr, ns, "/spec/chartRef/name", spec.get("chartRef"), "chartRef")
            self._ref(hr, ns, "/spec/chart/spec/sourceRef/name", dig(spec, "chart", "spec", "sourceRef"), "chart.spec.sourceRef")
            deps = spec.get("dependsOn")
            for i, dep in enumerate(deps if isinstance(deps, list) else []):
                if isinstance(dep, dict):
                    self._ref(hr, ns, f"/spec/dependsOn/{i}/name", {**dep, "kind": "HelmRelease"}, "dependsOn")

    # -- CRD ordering ------------------------------------------------------------------------------
    def _crd_order(self) -> None:
        g = self.g
        ks_by_name: dict[tuple[str, str], object] = {}
        for k in g.flux_ks:
            for ns in g.namespaces(k):
                ks_by_name[(ns, k.name)] = k
        for hr in (o for o in g.all if is_kind(o, HELM, "HelmRelease")):
            groups = CRD_CHARTS.get(_chart_name(hr, g.all) or "")
            crds = dig(hr.data, "spec", "install", "crds")
            if not groups or hr.path is None or crds == "Skip":
                continue
            hr_ks = g.applied_by.get(self.g.real(hr.path), [])
            for o in self.objects:
                group = o.api_version.split("/", 1)[0] if "/" in o.api_version else ""
                if group not in groups or o.path is None or not hr_ks:
                    continue
                for k in g.applied_by.get(self.g.real(o.path), []):
                    if any(k is h for h in hr_ks):
                        self.add(o, "", f"{o.kind} is applied by Flux Kustomization {g.ns_of(k)}/{k.name}, the same one that "
                                 f"applies HelmRelease {hr.name} which installs the {group} CRDs: the dry-run fails before the "
                                 f"CRDs exist. Apply it from a second Kustomization that dependsOn {k.name}", "flux.crd-order")
                    elif not any(id(h) in self._depends_on(k, ks_by_name) for h in hr_ks):
                        self.add(o, "", f"{o.kind} is applied by Flux Kustomization {g.ns_of(k)}/{k.name}, which does not "
                                 f"dependsOn {', '.join(h.name for h in hr_ks)} (the Kustomization applying HelmRelease "
                                 f"{hr.name} that installs the {group} CRDs)", "flux.crd-order")

    def _depends_on(self, ks, ks_by_name: dict[tuple[str, str], object]) -> set[int]:
        """ids of every Flux Kustomization ``ks`` depends on, directly or through others."""
        seen: set[int] = set()
        todo = [ks]
        while todo:
            k = todo.pop()
            for dep in dig(k.data, "spec", "dependsOn") or []:
                if not isinstance(dep, dict):
                    continue
                for ns in self.g.namespaces(k):
                    target = ks_by_name.get((_str(dep.get("namespace")) or ns, str(dep.get("name"))))
                    if target is not None and id(target) not in seen:
                        seen.add(id(target))
                        todo.append(target)
        return seen
