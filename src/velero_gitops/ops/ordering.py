"""The order of the rendered Flux Kustomizations as the controller applies them, not as ks.yaml writes it.

A parent Flux Kustomization's ``spec.patches`` are added to the kustomization it builds
(fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go), so a patch that targets the Kustomizations it
applies rewrites ours before the controller ever sees them. A strategic-merge patch replaces a list of a custom
resource: kustomize merges by key only with a schema that says so, and a Flux Kustomization has none
(kubernetes-sigs/kustomize@kustomize/v5.7.1:kyaml/yaml/schema/schema.go IsAssociative, infer off in
api/filters/patchstrategicmerge). A patch that sets ``spec.dependsOn`` thus drops every entry we rendered:
the Schedules no longer wait for the CRDs, Velero no longer waits for the storage installer.

The graph resolves the parents' patches (validate/flux.py Graph._apply_parent_patches, read through
ops/wiring.flux_facts); this module compares what it applies with what we rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops import yamlsafe
from velero_gitops.rules import define
from velero_gitops.validate.documents import mapping, sequence

if TYPE_CHECKING:
    from velero_gitops.ops.wiring import FluxKs

REPLACED = define("flux.depends-on-replaced", "error", "a parent Flux Kustomization's patch rewrites the `dependsOn` "
                  "of a rendered Kustomization, so the controller applies it without the order velero-gitops rendered", needs_config=True)


@dataclass(frozen=True)
class Replaced:
    ks: str  # "ns/name" of the rendered Kustomization
    lost: tuple[str, ...]  # the rendered dependsOn entries the controller never sees
    applied: tuple[str, ...]  # dependsOn as the controller applies it
    parent: str  # "ns/name" of the Kustomization whose patch wrote it
    file: Path | None  # the parent's file
    line: int  # the line of its spec.patches entry


def rendered_depends_on(ks_text: str) -> dict[str, list[str]]:
    """{"ns/name": its dependsOn ("ns/name")} of the Flux Kustomizations of our rendered ks.yaml (our own output)."""
    out: dict[str, list[str]] = {}
    for doc in (d.data for d in yamlsafe.load_all(ks_text)):
        if not isinstance(doc, dict) or doc.get("kind") != "Kustomization":
            continue
        md = mapping(doc, "metadata")
        ns = md.get("namespace") or ""
        out[f"{ns}/{md.get('name')}"] = [f"{d.get('namespace') or ns}/{d['name']}" for d in sequence(mapping(doc, "spec"), "dependsOn")
                                         if isinstance(d, dict) and "name" in d]
    return out


def replaced(ks_file: Path, ks_text: str, facts: list[FluxKs]) -> list[Replaced]:
    """The rendered Kustomizations of ``ks_file`` (resolved) whose rendered dependsOn a parent's patch drops."""
    ours = rendered_depends_on(ks_text)
    out: list[Replaced] = []
    seen: set[str] = set()
    for k in facts:
        ref = f"{k.namespace}/{k.name}"
        if k.kind != "Kustomization" or k.file != ks_file or ref not in ours or ref in seen:
            continue
        seen.add(ref)
        lost = tuple(d for d in ours[ref] if d not in k.depends_on)
        if lost and k.depends_on_patch is not None:
            file, line, parent = k.depends_on_patch
            out.append(Replaced(ref, lost, k.depends_on, parent, file, line))
    return out


def _fact(ks_file: Path, name: str, facts: list[FluxKs]) -> FluxKs | None:
    return next((k for k in facts if k.kind == "Kustomization" and k.file == ks_file
                 and f"{k.namespace}/{k.name}" == name), None)


def applied_depends_on(ks_file: Path, name: str, facts: list[FluxKs]) -> list[str] | None:
    """dependsOn of the rendered Kustomization ``name`` ("ns/name") as the controller applies it; None when our
    ks.yaml is not in the graph."""
    k = _fact(ks_file, name, facts)
    return list(k.depends_on) if k is not None else None


def depends_on_patch(ks_file: Path, name: str, facts: list[FluxKs]) -> tuple[Path | None, int] | None:
    """(file, line) of the parent patch that wrote the dependsOn of the rendered Kustomization ``name``."""
    k = _fact(ks_file, name, facts)
    return k.depends_on_patch[:2] if k is not None and k.depends_on_patch is not None else None


def message(r: Replaced, shown: Callable[[Path | None], str]) -> str:
    where = f"{shown(r.file)}:{r.line}"
    return (f"Flux Kustomization {r.ks} is rendered with dependsOn {', '.join(r.lost)}, but the patch of its parent "
            f"{r.parent} ({where}) sets spec.dependsOn, and a strategic-merge patch replaces the list of a custom "
            f"resource: the controller applies {r.ks} with dependsOn [{', '.join(r.applied)}], so it no longer waits "
            f"for {', '.join(r.lost)}. Fix at {where}: narrow the patch's target (target.name or target.labelSelector) "
            f"so that it does not select {r.ks.split('/', 1)[1]}, or drop dependsOn from the patch and write it in each "
            "child; or set repo.appsRoot to a folder that parent does not build, then render --wire")


def ancestors(facts: list[FluxKs], *, ks_file: Path | None = None, folder: Path | None = None) -> set[str]:
    """"ns/name" of every Flux Kustomization that applies the rendered Velero Kustomization, directly or through
    others (:func:`ancestor_facts`). Velero depending on one of them is at best no order (its objects and ours go
    out in one apply) and, when it waits for what it applies, a deadlock (flux.depends-on-ancestor)."""
    return {f"{k.namespace}/{k.name}" for k in ancestor_facts(facts, ks_file=ks_file, folder=folder)}


def depends_on_ancestors(facts: list[FluxKs], ks_file: Path, depends_on: list[str]) -> list[str]:
    """The entries of ``depends_on`` ("ns/name", flux.dependsOn) that apply ``ks_file``, directly or through others:
    Velero would wait for its own applier (flux.depends-on-ancestor: a deadlock when that one waits)."""
    above = ancestors(facts, ks_file=ks_file)
    return [d for d in depends_on if d in above]


def ancestor_refusal(found: list[str], edited: str) -> str:
    """Why `render --wire` undid an edit that makes a flux.dependsOn entry an ancestor of the velero Kustomization."""
    return (f"{edited}: with this edit Flux Kustomization {', '.join(found)}, which flux.dependsOn lists, would apply "
            "the velero Kustomization itself: Velero would wait for its own applier, which never becomes Ready while it "
            "waits for Velero (flux.depends-on-ancestor), and what that applier installs is applied with Velero anyway. "
            f"The edit was undone. Remove {', '.join(found)} from flux.dependsOn, render, then render --wire again")


def ancestor_facts(facts: list[FluxKs], *, ks_file: Path | None = None, folder: Path | None = None) -> list[FluxKs]:
    """The Flux Kustomizations applying ``ks_file``, or, before it is rendered, those whose build starts at or above
    ``folder`` (repo.appsRoot) and applies a file in it, and their appliers, transitively: the chain up to the
    cluster's sync root."""
    def inside(f: Path, d: Path) -> bool:
        return d == f.parent or d in f.parents

    found = {id(k): k for k in facts if k.kind == "Kustomization" and (
        (ks_file is not None and ks_file in k.applies)
        or (folder is not None and k.path_dir is not None and inside(folder / "x", k.path_dir)
            and any(inside(f, folder) for f in k.applies)))}
    todo = list(found.values())
    while todo:
        k = todo.pop()
        for p in facts:
            if p.kind == "Kustomization" and id(p) not in found and k.file is not None and k.file in p.applies:
                found[id(p)] = p
                todo.append(p)
    return list(found.values())
