"""A render never makes Flux stop applying what it applies now, except objects velero-gitops rendered itself.

kustomize-controller prunes: an object in a Kustomization's inventory that its next build no longer yields is
deleted, and a Flux Kustomization deleted that way takes everything it applied with it when it has ``prune: true``
(kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go, prune and finalize). Rendering can
shrink a build without touching a line of the user's files: a ``kustomization.yaml`` written into a folder that had
none replaces the list Flux generated for it, every YAML file and each sub-folder with its own kustomization.yaml
(fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go, scanManifests), with render's own files only; so
does a file render replaces (with --force) that held other objects.

So before writing, each live Flux Kustomization's build is compared on the repository's Flux graph
(validate/flux.py, read through ops/wiring.flux_facts) as it is and with the planned files laid over it in memory
(validate/treeview.Planned): the objects (kind, namespace, name) of every file that leaves a build, or that render
changes, must still be in that Kustomization's build afterwards, unless the file was render's own (its header names
one of the configs being rendered). The comparison is made per Flux Kustomization, as the controller keeps its
inventory: an object that moves to another Kustomization is deleted by the first one's prune.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops.ops.wiring import FluxKs, flux_facts, live

if TYPE_CHECKING:
    from velero_gitops.validate.run import DiskReads


@dataclass(frozen=True)
class Loss:
    """An object Flux applies now and would prune after the render."""

    what: str  # "CustomResourceDefinition backups.velero.io", or "the objects of" when the file cannot be read
    file: Path  # the file that applies it now (resolved)
    by: str  # the Flux Kustomization whose build loses it


def _builds(facts: list[FluxKs]) -> dict[str, set[Path]]:
    """Each live Flux Kustomization (by kind, namespace and name: the controller's inventory) -> the files it applies,
    and the kustomization files its build reads (their generators make objects: _objects)."""
    out: dict[str, set[Path]] = {}
    for k in live(facts):
        out.setdefault(k.ref, set()).update(k.applies | k.kfiles)
    return out


def _objects(text: str | None) -> set[str] | None:
    """The objects of a manifest as "Kind namespace/name" (namespace as written); None when it cannot be read."""
    from velero_gitops import yamlsafe

    if text is None:
        return None
    try:
        docs = [d.data for d in yamlsafe.load_all(text)]
    except yamlsafe.YamlRefused:
        return None
    out = set()
    for d in docs:
        if not isinstance(d, dict):
            continue
        out |= _generated(d)
        meta = d.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        kind, name, ns = d.get("kind"), meta.get("name"), meta.get("namespace")
        if isinstance(kind, str) and isinstance(name, str):
            out.add(f"{kind} {ns}/{name}" if isinstance(ns, str) and ns else f"{kind} {name}")
    return out


_GENERATORS = (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret"))


def _generated(k: dict) -> set[str]:
    """The objects a kustomization's generators make, as _objects names them: each configMapGenerator and
    secretGenerator entry is a ConfigMap or Secret named `name` plus `-<hash of its content>` unless
    disableNameSuffixHash (its own options, or the kustomization's generatorOptions), in its namespace or the
    kustomization's (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/kustomization.go ConfigMapGenerator,
    SecretGenerator, GeneratorOptions; api/hasher/hasher.go). Nothing for a document of another kind."""
    if not str(k.get("apiVersion", "kustomize.config.k8s.io/")).startswith("kustomize.config.k8s.io/") or \
            k.get("kind", "Kustomization") != "Kustomization":
        return set()
    ns_all = k.get("namespace") if isinstance(k.get("namespace"), str) else ""
    opts = k.get("generatorOptions")
    no_hash = isinstance(opts, dict) and opts.get("disableNameSuffixHash") is True
    out = set()
    for key, kind in _GENERATORS:
        entries = k.get(key)
        for e in entries if isinstance(entries, list) else []:
            if not isinstance(e, dict) or not isinstance(e.get("name"), str) or e.get("behavior") in ("merge", "replace"):
                continue  # merge/replace change a generator of a base: that base's object, not a new one
            own = e.get("options")
            plain = no_hash or (isinstance(own, dict) and own.get("disableNameSuffixHash") is True)
            ns = e.get("namespace") if isinstance(e.get("namespace"), str) and e.get("namespace") else ns_all
            name = e["name"] if plain else f"{e['name']}-<hash>"
            out.add(f"{kind} {ns}/{name}" if ns else f"{kind} {name}")
    return out


def planned_facts(root: Path, repo_sources: list[str], planned: dict[str, str | None], reads: DiskReads | None = None) -> list[FluxKs]:
    """The graph of the tree once ``planned`` (repo-relative path -> new text, None: removed) is written, read in
    memory: what render's post-write checks see, without reading the repository again after writing it. ``reads``:
    the disk reads of the graph of the tree as it is (wiring.flux_facts), nothing written since."""
    real = root.resolve()
    return flux_facts(real, repo_sources, {real / rel: t for rel, t in planned.items()}, reads=reads)


def losses(root: Path, repo_sources: list[str], planned: dict[str, str | None], owned: Callable[[Path, str], bool],
           before: list[FluxKs] | None = None, planned_graph: list[FluxKs] | None = None) -> list[Loss]:
    """What each live Flux Kustomization applies at ``root`` now and would no longer apply once ``planned``
    (repo-relative path -> new text, None: removed) is written. ``owned(path, text)``: the file (resolved) is the tree's own.
    ``before``: the graph of the tree as it is, ``planned_graph``: :func:`planned_facts`, when already read."""
    from velero_gitops import safefile

    before = flux_facts(root, repo_sources) if before is None else before
    now = _builds(before)
    if not now:
        return []  # Flux applies nothing here now: nothing to lose
    real = root.resolve()
    laid = {real / rel: t for rel, t in planned.items()}
    root = real
    after = _builds(planned_facts(root, repo_sources, planned) if planned_graph is None else planned_graph)
    texts: dict[Path, str | None] = {}

    def current(f: Path) -> str | None:
        if f not in texts:
            try:
                texts[f] = safefile.read_text(f, root=root)
            except (OSError, ValueError):
                texts[f] = None
        return texts[f]

    def future(f: Path) -> str | None:
        return laid[f] if f in laid else current(f)

    out: list[Loss] = []
    for ref, files in sorted(now.items()):
        kept = after.get(ref, set())
        suspects = sorted(f for f in files if (f not in kept or f in laid)
                          and not ((text := current(f)) is not None and owned(f, text)))
        if not suspects:
            continue
        still: set[str] = set()
        for f in kept:
            still |= _objects(future(f)) or set()
        for f in suspects:
            objs = _objects(current(f))
            if objs is None:
                if f not in kept:
                    out.append(Loss("the objects of", f, ref))
                continue
            out.extend(Loss(o, f, ref) for o in sorted(objs - still))
    return out + dangling(root, planned, owned, set().union(*(k.applies for k in live(before))))


def dangling(root: Path, planned: dict[str, str | None], owned: Callable[[Path, str], bool],
             applied: set[Path]) -> list[Loss]:
    """Entries of the user's kustomization.yaml files that name what render removes entirely (the tree of an earlier
    ``repo.appsRoot``): kustomize fails the whole build on a missing resource, so Flux would stop applying everything
    that build applies. Only kustomization files whose folder holds something a live Flux Kustomization applies
    (``applied``) count; render's own are rewritten by render."""
    from velero_gitops import safefile
    from velero_gitops.validate.documents import first_document
    from velero_gitops.validate.kustomize import find_kfile

    real = root.resolve()
    gone = {real / rel for rel, t in planned.items() if t is None}
    made = [real / rel for rel, t in planned.items() if t is not None]
    if not gone:
        return []

    def removed(p: Path) -> bool:
        if p in gone:
            return True
        if not p.is_dir() or p.is_symlink() or any(p in m.parents for m in made):
            return False
        files = [Path(d, f) for d, _, fs in os.walk(p) for f in fs]
        return bool(files) and all(f in gone for f in files)

    folders = {d for g in gone for d in g.parents if d == real or real in d.parents}
    out = []
    for d in sorted(folders):
        kfile = find_kfile(d)
        if kfile is None or not any(d in f.parents for f in applied):
            continue
        try:
            text = safefile.read_text(kfile, root=real)
            k = first_document(text)
        except Exception:  # noqa: BLE001 - their file: unreadable is the kustomize build's to report
            continue
        if owned(kfile.resolve(), text) or not isinstance(k, dict):
            continue
        for key in ("resources", "components"):
            entries = k.get(key)
            for e in entries if isinstance(entries, list) else []:
                if isinstance(e, str) and "://" not in e and removed(Path(os.path.normpath(d / e))):
                    out.append(Loss(f"the entry {e} of {key}", kfile.resolve(), "kustomize (a missing resource fails "
                                    "the whole build)"))
    return out


def ours(config_names: list[str], own_files: Collection[Path] = ()) -> Callable[[Path, str], bool]:
    """Whether a file is the tree's own: render's output for one of ``config_names`` (its header names the config;
    an edit by hand is render's to replace only with --force, which render/write.py already asks for), or one of
    ``own_files`` (resolved), the tree's files that its other commands write (encrypt-secret,
    encrypt-repo-password: render/layout.py), which carry sops' output and no header. Those sit where the tree's
    own kustomization.yaml lists them, so moving them from a generated parent build into the tree's is no loss."""
    from velero_gitops.render.write import header_name, read_header

    names = {header_name(n) for n in config_names}

    def owned(path: Path, text: str) -> bool:
        if path in own_files:
            return True
        h = read_header(text)
        return h is not None and h.config in names
    return owned


def refusal(found: list[Loss], shown: Callable[[Path], str], limit: int = 25) -> str:
    """The message that refuses the render: each object, the file that applies it, and the fixes."""
    lines = [f"  {shown(x.file)}: every object in it (applied by {x.by})" if x.what == "the objects of" else
             f"  {shown(x.file)}: {x.what} names a folder or file the render removes ({x.by}): remove that entry, "
             "or list the new tree there instead" if x.what.startswith("the entry ") else
             f"  {shown(x.file)}: {x.what} (applied by {x.by})" for x in found[:limit]]
    if len(found) > limit:
        lines.append(f"  ... and {len(found) - limit} more")
    return ("refusing to render (nothing was written): Flux applies these now and would no longer apply them after "
            "the render; what leaves a Flux Kustomization's build is deleted (prune):\n" + "\n".join(lines) +
            "\nfix: the rendered tree would replace what Flux builds in their folder; move these files out of the "
            "folders the config renders (and update the Flux Kustomization paths that name them), point the tree at a "
            "folder of its own (repo.appsRoot, repo.namespace), or delete them yourself first if Flux should remove them")
