"""The Flux graph: paths, source references, dependencies, decryption and CRD ordering.

Checks (rule ids in brackets):

* [flux.path] every Flux Kustomization that reads this repository (sourceRef GitRepository
  ``flux-system``) has a ``spec.path`` that exists under the repository root.
* [flux.source-ref] ``sourceRef`` (Kustomization), ``chartRef`` and ``chart.spec.sourceRef``
  (HelmRelease) name an object in the tree, or the well-known GitRepository ``flux-system/flux-system``.
* [flux.depends-on] ``dependsOn`` targets exist (or are declared external).
* [flux.decryption] a Kustomization whose path applies SOPS-encrypted files has ``spec.decryption``
  (or the tree injects it with a Kustomization patch, as cluster-template does).
* [flux.crd-order] an object whose CRD is installed by a HelmRelease (velero.io kinds by the
  ``velero`` chart...) is applied by a Flux Kustomization that depends on the one applying that
  HelmRelease; the same Kustomization is a finding (the CRDs do not exist yet at dry-run time).

The repository root is ``--repo-root``, else the nearest ancestor of the file holding ``.git``,
``.sops.yaml`` or a ``kubernetes/`` directory (the home-lab layout), else the working directory.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from velero_gitops import safefile
from velero_gitops.validate.findings import Finding

FLUX_KS = "kustomize.toolkit.fluxcd.io/"
HELM = "helm.toolkit.fluxcd.io/"
SOURCE = "source.toolkit.fluxcd.io/"
SOURCE_KINDS = {"GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart", "ExternalArtifact"}
WELL_KNOWN = {("GitRepository", "flux-system", "flux-system")}
# charts that install CRDs, and the API groups of those CRDs
CRD_CHARTS = {
    "velero": ("velero.io",),
    "kube-prometheus-stack": ("monitoring.coreos.com",),
    "prometheus-operator-crds": ("monitoring.coreos.com",),
}
_SOPS_TOP = re.compile(r"^sops:\s*$", re.M)


def _rp(p: Path) -> Path:
    from velero_gitops.validate.engine import rpath

    return rpath(p)


def _is(obj, prefix: str, kind: str) -> bool:
    return obj.kind == kind and obj.api_version.startswith(prefix)


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _find_root(start: Path, stop: Path | None = None) -> Path | None:
    for d in [start, *start.parents]:
        if (d / ".git").exists() or (d / ".sops.yaml").is_file() or (d / "kubernetes").is_dir():
            return d
    return None


def _git_toplevel(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        if (d / ".git").exists():
            return d
    return None


class _Tree:
    """Which files a directory applies (kustomize semantics, approximated without building)."""

    def __init__(self):
        self._cache: dict[Path, list[Path]] = {}

    def applied_files(self, d: Path, depth: int = 0) -> list[Path]:
        d = d.resolve()
        if d in self._cache:
            return self._cache[d]
        self._cache[d] = []
        files: list[Path] = []
        kfile = next((d / n for n in ("kustomization.yaml", "kustomization.yml", "Kustomization") if (d / n).is_file()), None)
        if kfile is not None and depth < 50:
            from velero_gitops.validate.engine import first_document

            try:
                k = first_document(safefile.read_text(kfile))
            except Exception:  # noqa: BLE001 - unreadable/invalid: the kustomize build reports it
                k = None
            k = k if isinstance(k, dict) else {}
            for key in ("resources", "components", "bases"):
                for entry in k.get(key) or []:
                    if not isinstance(entry, str) or "://" in entry:
                        continue
                    p = (d / entry)
                    if p.is_dir():
                        files.extend(self.applied_files(p, depth + 1))
                    elif p.is_file():
                        files.append(p.resolve())
        elif d.is_dir():
            # Flux generates a kustomization: every YAML file, and sub-directories with their own
            # kustomization.yaml as a whole
            for dirpath, dirnames, filenames in os.walk(d):
                sub = Path(dirpath)
                if sub != d and any(n in filenames for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
                    files.extend(self.applied_files(sub, depth + 1))
                    dirnames[:] = []
                    continue
                dirnames[:] = [x for x in dirnames if not x.startswith(".")]
                files.extend(_rp(sub / f) for f in filenames
                             if f.endswith((".yaml", ".yml")) and not f.startswith("."))
        self._cache[d] = files
        return files


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


def _chart_name(hr, sources_by_key) -> str | None:
    spec = hr.data.get("spec") if isinstance(hr.data.get("spec"), dict) else {}
    name = _get(spec, "chart", "spec", "chart")
    if isinstance(name, str):
        return name.rsplit("/", 1)[-1]
    ref = spec.get("chartRef")
    if isinstance(ref, dict) and ref.get("kind") == "OCIRepository":
        for o in sources_by_key.get(("OCIRepository", str(ref.get("name")))) or []:
            url = _get(o.data, "spec", "url")
            if isinstance(url, str):
                return url.rstrip("/").rsplit("/", 1)[-1]
    return None


def check(objects, paths, opts, externals: list[str] | None = None, graph_: "Graph | None" = None) -> list[Finding]:
    findings: list[Finding] = []
    externals_set = set(externals or getattr(opts, "externals", None) or [])
    repo_sources = _repo_sources(opts)

    flux_ks = [o for o in objects if _is(o, FLUX_KS, "Kustomization")]
    helmreleases = [o for o in objects if _is(o, HELM, "HelmRelease")]
    g = graph_ or Graph(objects, opts)
    tree = g.tree
    applied_by, roots, ns_of = g.applied_by, g.roots, g.ns_of

    by_key: dict[tuple[str, str], list] = {}
    for o in objects:
        by_key.setdefault((o.kind, o.name), []).append(o)

    def exists(kind: str, name: str, ns: str) -> bool:
        if ((kind, name, ns) in WELL_KNOWN or (kind, ns, name) in repo_sources
                or f"{kind}/{ns}/{name}" in externals_set or f"{kind}/*/{name}" in externals_set):
            return True
        for c in by_key.get((kind, name), []):
            cns = ns_of(c)
            if not ns or not cns or cns == ns:
                return True
        return False

    def check_ref(obj, ptr: str, ref: object, what: str) -> None:
        """A sourceRef/chartRef must name an object in the tree (or a known external one)."""
        if not (isinstance(ref, dict) and isinstance(ref.get("name"), str)):
            return
        kind = str(ref.get("kind", ""))
        ns = str(ref.get("namespace") or ns_of(obj))
        if not exists(kind, ref["name"], ns):
            findings.append(obj.finding(ptr, f"{what} {kind}/{ns}/{ref['name']} not found in the tree", "flux.source-ref"))

    def check_depends_on(obj, spec: dict, kind: str) -> None:
        """Flux dependsOn names objects of the same kind (Kustomization or HelmRelease)."""
        for i, dep in enumerate(spec.get("dependsOn") or []):
            if isinstance(dep, dict) and isinstance(dep.get("name"), str):
                ns = str(dep.get("namespace") or ns_of(obj))
                if not exists(kind, dep["name"], ns):
                    findings.append(obj.finding(f"/spec/dependsOn/{i}/name",
                                                f"dependsOn {kind} {ns}/{dep['name']} not found in the tree", "flux.depends-on"))

    # ---- Kustomization: path, sourceRef, dependsOn, decryption ----------------------------------
    encrypted_known: dict[Path, bool] = {}
    enc_by_dir: dict[Path, list[Path]] = {}
    for o in objects:
        if o.path is not None:
            rp = _rp(o.path)
            encrypted_known[rp] = encrypted_known.get(rp, False) or o.encrypted
    injected_decryption = any(
        "decryption" in str(_get(k.data, "spec", "patches") or "") for k in flux_ks
    )
    for ks in flux_ks:
        spec = ks.data.get("spec")
        if not isinstance(spec, dict):
            continue
        p = spec.get("path")
        if isinstance(p, str) and _reads_this_repo(ks, opts):
            rel = p.lstrip("/")
            found = next((r / rel for r in roots[id(ks)] if (r / rel).is_dir()), None)
            if found is None:
                shown = _show(roots[id(ks)][0]) if roots[id(ks)] else "."
                findings.append(ks.finding("/spec/path", f"path {p!r} does not exist in the repository (root {shown})", "flux.path"))
            elif spec.get("decryption") is None and not injected_decryption:
                key = found.resolve()
                if key not in enc_by_dir:
                    enc_by_dir[key] = [f for f in tree.applied_files(found) if _encrypted_file(f, encrypted_known)]
                enc = enc_by_dir[key]
                if enc:
                    findings.append(ks.finding(
                        "/spec/path",
                        f"path applies SOPS-encrypted {_show(enc[0])} but spec.decryption is not set "
                        "(add decryption: {provider: sops, secretRef: {name: sops-age}})",
                        "flux.decryption"))
        check_ref(ks, "/spec/sourceRef/name", spec.get("sourceRef"), "sourceRef")
        check_depends_on(ks, spec, "Kustomization")

    # ---- HelmRelease: chartRef / chart.spec.sourceRef / dependsOn ---------------------------------
    for hr in helmreleases:
        spec = hr.data.get("spec")
        if not isinstance(spec, dict):
            continue
        check_ref(hr, "/spec/chartRef/name", spec.get("chartRef"), "chartRef")
        check_ref(hr, "/spec/chart/spec/sourceRef/name", _get(spec, "chart", "spec", "sourceRef"), "chart.spec.sourceRef")
        check_depends_on(hr, spec, "HelmRelease")

    # ---- CRD ordering -----------------------------------------------------------------------------
    ks_by_name: dict[tuple[str, str], object] = {(ns_of(k), k.name): k for k in flux_ks}

    def deps_closure(ks) -> set[int]:
        seen: set[int] = set()
        todo = [ks]
        while todo:
            k = todo.pop()
            for dep in _get(k.data, "spec", "dependsOn") or []:
                if not isinstance(dep, dict):
                    continue
                target = ks_by_name.get((str(dep.get("namespace") or ns_of(k)), str(dep.get("name"))))
                if target is not None and id(target) not in seen:
                    seen.add(id(target))
                    todo.append(target)
        return seen

    for hr in helmreleases:
        chart = _chart_name(hr, by_key)
        groups = CRD_CHARTS.get(chart or "")
        if not groups or hr.path is None:
            continue
        hr_ks = applied_by.get(_rp(hr.path), [])
        if not hr_ks:
            continue
        for o in objects:
            group = o.api_version.split("/", 1)[0] if "/" in o.api_version else ""
            if group not in groups or o.path is None:
                continue
            o_ks = applied_by.get(_rp(o.path), [])
            for k in o_ks:
                if any(k is h for h in hr_ks):
                    findings.append(o.finding(
                        "", f"{o.kind} is applied by Flux Kustomization {ns_of(k)}/{k.name}, the same one that applies "
                        f"HelmRelease {hr.name} which installs the {group} CRDs: the dry-run fails before the CRDs exist. "
                        f"Apply it from a second Kustomization that dependsOn {k.name}", "flux.crd-order"))
                elif not any(id(h) in deps_closure(k) for h in hr_ks):
                    findings.append(o.finding(
                        "", f"{o.kind} is applied by Flux Kustomization {ns_of(k)}/{k.name}, which does not dependsOn "
                        f"{', '.join(h.name for h in hr_ks)} (the Kustomization applying HelmRelease {hr.name} that installs the "
                        f"{group} CRDs)", "flux.crd-order"))
    return findings


def _repo_sources(opts) -> set[tuple[str, str, str]]:
    out = set()
    for s in getattr(opts, "repo_sources", None) or ["GitRepository/flux-system/flux-system"]:
        parts = s.split("/")
        if len(parts) == 3:
            out.add((parts[0], parts[1], parts[2]))
    return out


def _reads_this_repo(ks, opts=None) -> bool:
    ref = _get(ks.data, "spec", "sourceRef")
    if not isinstance(ref, dict):
        return False
    kind, name = ref.get("kind"), ref.get("name")
    ns = ref.get("namespace") or _get(ks.data, "metadata", "namespace")
    for k, n, nm in _repo_sources(opts):
        if kind == k and name == nm and (not ns or ns == n):
            return True
    return False


def _candidate_roots(ks, opts) -> list[Path]:
    if getattr(opts, "repo_root", None):
        return [_rp(Path(opts.repo_root))]
    return list(_roots_for(_rp(ks.path).parent if ks.path is not None else None))


@functools.lru_cache(maxsize=256)
def _roots_for(start: Path | None) -> tuple[Path, ...]:
    out: list[Path] = []
    if start is not None:
        r = _find_root(start)
        if r is not None:
            out.append(r)
        g = _git_toplevel(start)
        if g is not None and g not in out:
            out.append(g)
    cwd = Path.cwd().resolve()
    if cwd not in out:
        out.append(cwd)
    return tuple(out)


_ns_cache: dict[Path, str] = {}


def _kustomize_namespace(d: Path) -> str:
    if d in _ns_cache:
        return _ns_cache[d]
    ns = ""
    for n in ("kustomization.yaml", "kustomization.yml"):
        f = d / n
        if f.is_file():
            try:
                m = re.search(r"^namespace:\s*['\"]?([a-z0-9-]+)", safefile.read_text(f), re.M)
            except OSError:
                m = None
            ns = m.group(1) if m else ""
            break
    _ns_cache[d] = ns
    return ns


def _show(p: Path) -> str:
    from velero_gitops.validate.engine import display_path

    return display_path(p)


class Graph:
    """Which Flux Kustomization applies which file, and the effective namespace of every object."""

    def __init__(self, objects, opts):
        _ns_cache.clear()
        self.tree = _Tree()
        self.applied_by: dict[Path, list] = {}
        self.roots: dict[int, list[Path]] = {}
        flux_ks = [o for o in objects if _is(o, FLUX_KS, "Kustomization")]
        for ks in flux_ks:
            self.roots[id(ks)] = _candidate_roots(ks, opts)
        for ks in flux_ks:
            p = _get(ks.data, "spec", "path")
            if not isinstance(p, str) or not _reads_this_repo(ks, opts):
                continue
            for root in self.roots[id(ks)]:
                target = root / p.lstrip("/")
                if target.is_dir():
                    for f in self.tree.applied_files(target):
                        self.applied_by.setdefault(f, []).append(ks)
                    break
        self._ns: dict[int, str] = {}

    def _eff_ns(self, o) -> str:
        md = o.data.get("metadata")
        ns = md.get("namespace") if isinstance(md, dict) else None
        if isinstance(ns, str) and ns:
            return ns
        if o.path is not None:
            rp = _rp(o.path)
            for ks in self.applied_by.get(rp, []):
                tn = _get(ks.data, "spec", "targetNamespace")
                if isinstance(tn, str) and tn:
                    return tn
            for d in rp.parents:
                kns = _kustomize_namespace(d)
                if kns:
                    return kns
                if (d / ".git").exists():
                    break
        return ""

    def ns_of(self, o) -> str:
        key = id(o)
        if key not in self._ns:
            self._ns[key] = self._eff_ns(o)
        return self._ns[key]


def graph(objects, opts) -> Graph:
    return Graph(objects, opts)
