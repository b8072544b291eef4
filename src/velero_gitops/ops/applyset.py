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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from velero_gitops.ops.wiring import FluxKs, flux_facts, live


@dataclass(frozen=True)
class Loss:
    """An object Flux applies now and would prune after the render."""

    what: str  # "CustomResourceDefinition backups.velero.io", or "the objects of" when the file cannot be read
    file: Path  # the file that applies it now (resolved)
    by: str  # the Flux Kustomization whose build loses it


def _builds(facts: list[FluxKs]) -> dict[str, set[Path]]:
    """Each live Flux Kustomization (by kind, namespace and name: the controller's inventory) -> the files it applies."""
    out: dict[str, set[Path]] = {}
    for k in live(facts):
        out.setdefault(k.ref, set()).update(k.applies)
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
        meta = d.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        kind, name, ns = d.get("kind"), meta.get("name"), meta.get("namespace")
        if isinstance(kind, str) and isinstance(name, str):
            out.add(f"{kind} {ns}/{name}" if isinstance(ns, str) and ns else f"{kind} {name}")
    return out


def losses(root: Path, repo_sources: list[str], planned: dict[str, str | None], owned: Callable[[str], bool],
           before: list[FluxKs] | None = None) -> list[Loss]:
    """What each live Flux Kustomization applies at ``root`` now and would no longer apply once ``planned``
    (repo-relative path -> new text, None: removed) is written. ``owned(text)``: the file's current text is render's own output.
    ``before``: the graph of the tree as it is, when already read."""
    from velero_gitops import safefile

    now = _builds(flux_facts(root, repo_sources) if before is None else before)
    if not now:
        return []  # Flux applies nothing here now: nothing to lose
    real = root.resolve()
    laid = {real / rel: t for rel, t in planned.items()}
    root = real
    after = _builds(flux_facts(root, repo_sources, laid))
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
                          and not ((text := current(f)) is not None and owned(text)))
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
    return out


def ours(config_names: list[str]) -> Callable[[str], bool]:
    """Whether a file's text is render's own output for one of ``config_names`` (its header names the config; an
    edit by hand is render's to replace only with --force, which render/write.py already asks for)."""
    from velero_gitops.render.write import header_name, read_header

    names = {header_name(n) for n in config_names}

    def owned(text: str) -> bool:
        h = read_header(text)
        return h is not None and h.config in names
    return owned


def refusal(found: list[Loss], shown: Callable[[Path], str], limit: int = 25) -> str:
    """The message that refuses the render: each object, the file that applies it, and the fixes."""
    lines = [f"  {shown(x.file)}: {x.what} (applied by {x.by})" if x.what != "the objects of" else
             f"  {shown(x.file)}: every object in it (applied by {x.by})" for x in found[:limit]]
    if len(found) > limit:
        lines.append(f"  ... and {len(found) - limit} more")
    return ("refusing to render (nothing was written): Flux applies these objects now and would no longer apply them "
            "after the render, so it would delete them (prune):\n" + "\n".join(lines) +
            "\nfix: the rendered tree would replace what Flux builds in their folder; move these files out of the "
            "folders the config renders (and update the Flux Kustomization paths that name them), point the tree at a "
            "folder of its own (repo.appsRoot, repo.namespace), or delete them yourself first if Flux should remove them")
