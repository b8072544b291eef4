"""The values a Helm release is installed with, read wherever the repository keeps them.

* A Flux HelmRelease: helm-controller composes ``spec.valuesFrom`` in order, then merges ``spec.values`` on top
  (fluxcd/helm-controller@v1.6.3:internal/controller/helmrelease_controller.go calls
  fluxcd/pkg@chartutil/v1.27.1:chartutil/values.go ChartValuesFromReferences: each ConfigMap/Secret's
  ``valuesKey``, default ``values.yaml``, read as YAML and MergeMaps'd; ``spec.values`` last). The ConfigMap is
  most often made by a configMapGenerator of the kustomization that lists the HelmRelease (``files:
  [values.yaml=./helm-values.yaml]``, the onedr0p cluster-template layout), whose name kustomize's nameReference
  rewrites in ``valuesFrom`` with the hash suffix; or written as a ConfigMap in a file.
* A helmfile release: its ``values:`` entries, files relative to the helmfile's folder or inline maps, in order
  (helmfile passes each as a ``--values`` to helm, later ones override).

Both give the merged values and how to pass the same values to ``helm --values`` by hand, from the repository
root. Secrets (often SOPS-encrypted) and ``targetPath`` references are not read: they carry no chart interface
we look for here. Files are read through the graph's Run (inside the repository only); kustomizations through
its resolver (the same parsed kustomization files the graph builds from)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Values:
    values: dict[str, Any]  # merged, as the chart receives them
    args: tuple[str, ...]  # `--values X` arguments for helm, relative to the repository root, in merge order
    unread: bool = False  # a values file could not be read as YAML (a Go template): the values are incomplete
    unresolved: tuple[str, ...] = ()  # the valuesFrom references not read ("Kind name"): Secrets, targetPath, not found


def plain(x: Any) -> Any:
    """The reader's line-tracking mappings and lists as plain dict/list (a fresh copy)."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    return x


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """fluxcd/pkg@chartutil/v1.27.1:chartutil/values.go MergeMaps (and helm's own --values merge): maps merge
    key by key, anything else in ``over`` replaces."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def _yaml_map(text: str) -> dict[str, Any] | None:
    from velero_gitops import yamlsafe
    try:
        docs = yamlsafe.load_all(text)
    except yamlsafe.YamlRefused:
        return None
    data = docs[0].data if docs else None
    return plain(data) if isinstance(data, dict) else None


def _rel(p: Path, root: Path) -> str:
    """A repository file as one shell word of the `helm --values` arguments (a file name is the pull request's to
    choose: `cm$(touch x).yaml` stays a name)."""
    return shlex.quote(p.relative_to(root).as_posix())


def _accepted(name: str, key: str) -> bool:
    """The ConfigMap name and data key are ones the API server accepts (ValidateConfigMapName: a DNS-1123 subdomain;
    IsConfigMapKey): another is no object helm-controller could read, and never goes into a command we print."""
    from velero_gitops.config.names import config_map_key_problem, dns_subdomain_problem

    return dns_subdomain_problem(name) is None and config_map_key_problem(key) is None


def _from_generator(g: Any, root: Path, start: Path, name: str, key: str) -> tuple[dict[str, Any], str] | None:
    """The values under ``key`` of configMapGenerator ``name`` of the kustomization in ``start`` or a folder above
    it (a parent that lists the folder builds the same output), with the `--values` argument giving them."""
    d = start
    while True:
        k, _ = g.tree.kustomization(d)
        for gen in k.get("configMapGenerator") or [] if isinstance(k.get("configMapGenerator"), list) else []:
            if not isinstance(gen, dict) or gen.get("name") != name:
                continue
            # kustomize's generator `files: [key=path | path]` (key: the file's base name)
            # (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/kv/kv.go); literals hold no values files in practice
            for entry in gen.get("files") or [] if isinstance(gen.get("files"), list) else []:
                if not isinstance(entry, str):
                    continue
                k_, eq, path = entry.partition("=")
                path = path if eq else k_
                if (k_ if eq else Path(path).name) != key:
                    continue
                f = g.run.real(d / path)
                try:
                    text = g.run.text(f, root=root)
                except (OSError, ValueError):  # safefile's refusals (outside the repository...) included
                    return None
                got = _yaml_map(text)
                return (got, _rel(f, root)) if got is not None else None
        if d == root or root not in d.parents:
            return None
        d = d.parent


def of_release(g: Any, root: Path, o: Any) -> Values:
    """The values HelmRelease ``o`` (a validate.documents.Obj of graph ``g``) is installed with."""
    spec = o.data.get("spec") if isinstance(o.data.get("spec"), dict) else {}
    real_root = g.run.real(root)
    out: dict[str, Any] = {}
    args: list[str] = []
    ns = g.ns_of(o)
    unresolved: list[str] = []
    for ref in spec.get("valuesFrom") or [] if isinstance(spec.get("valuesFrom"), list) else []:
        if not isinstance(ref, dict) or ref.get("kind") != "ConfigMap" or ref.get("targetPath"):
            unresolved.append(f"{ref.get('kind')} {ref.get('name')}" if isinstance(ref, dict) else str(ref))
            continue
        name, key = str(ref.get("name", "")), str(ref.get("valuesKey") or "values.yaml")
        if not _accepted(name, key):
            unresolved.append(f"ConfigMap {shlex.quote(name)}")
            continue
        got = _from_generator(g, real_root, g.real(o.path).parent, name, key) if o.path is not None else None
        if got is None:  # a ConfigMap written in a file of the repository, in the HelmRelease's namespace
            for cm in g.named("ConfigMap", name):
                data = cm.data.get("data")
                if cm.api_version == "v1" and cm.path is not None and g.ns_of(cm) in (ns, "") \
                        and isinstance(data, dict) and isinstance(data.get(key), str):
                    vals = _yaml_map(str(plain(data)[key]))
                    if vals is not None:
                        got = vals, (f"<(yq 'select(.kind == \"ConfigMap\" and .metadata.name == \"{name}\") | "
                                     f".data[\"{key}\"]' {_rel(g.real(cm.path), real_root)})")
                        break
        if got is not None:
            out = merge(out, got[0])
            args.append(got[1])
        else:
            unresolved.append(f"ConfigMap {name}")
    inline = spec.get("values")
    if isinstance(inline, dict) and inline:
        out = merge(out, plain(inline))
        if o.path is not None:
            args.append(f"<(yq '.spec.values' {_rel(g.real(o.path), real_root)})")
    return Values(out, tuple(args), unresolved=tuple(unresolved))


def of_helmfile_release(root: Path, helmfile: Path, release: dict[str, Any]) -> Values:
    """The values of a helmfile release: its ``values:`` files (relative to the helmfile's folder) and inline
    maps, in order. A file that is no YAML (a Go template) adds nothing."""
    from velero_gitops import safefile

    out: dict[str, Any] = {}
    args: list[str] = []
    unread = False
    for v in release.get("values") or [] if isinstance(release.get("values"), list) else []:
        if isinstance(v, dict):
            out = merge(out, v)
        elif isinstance(v, str):
            f = helmfile.parent / v
            try:
                got = _yaml_map(safefile.read_text(f, root=root))
            except (OSError, UnicodeDecodeError, ValueError, safefile.FileRefused):
                unread = True
                continue
            if got is None:
                unread = True
            else:
                out = merge(out, got)
                args.append(_rel(Path(f).resolve(), root))
    return Values(out, tuple(args), unread)
