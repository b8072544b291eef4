"""The library API: config file -> plan -> texts -> changes on disk. The CLI is a thin layer over this.

    from velero_gitops.pipeline import render_config
    result = render_config("clusters/home-lab/velero-gitops.yaml")
    result.write()
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops.config.loader import LoadedConfig, display

if TYPE_CHECKING:
    from velero_gitops.render.write import Change


@dataclass
class RenderResult:
    loaded: LoadedConfig
    files: dict[str, str]  # repo-relative path -> full text (header included)
    changes: list  # list[velero_gitops.render.write.Change]
    notes: list[str]
    probes: tuple[Path, ...] = ()  # paths whose existence decided a note (an input a replay must compare)

    @property
    def root(self) -> Path:
        return self.loaded.repo_root

    @property
    def drifted(self) -> list:
        return [c for c in self.changes if c.action != "unchanged"]

    def shown(self, rel: str) -> str:
        """A repo-relative path as the user sees it from the working directory."""
        return display(self.root / rel) if self.root.is_absolute() else rel

    def write(self, force: bool = False) -> None:
        from velero_gitops.render.write import apply

        apply(self.root, self.changes, force=force)

    def diff(self) -> str:
        """The patch of every drifted file, as `git apply` takes it: paths relative to the top of the Git work tree
        that holds the repository root (git resolves them from there, whatever the working directory), else
        relative to the working directory (`git apply` outside a work tree, or `patch -p1`)."""
        from velero_gitops.render.write import patch_prefix

        prefix = patch_prefix(self.root)
        return "".join(c.diff(prefix) for c in self.drifted)


def render_config(config: str | os.PathLike[str] | LoadedConfig) -> RenderResult:
    """Load (unless given loaded), plan and render one config, and compare with the disk. Writes nothing."""
    from velero_gitops.config.loader import load
    from velero_gitops.render.plan import plan_tree
    from velero_gitops.render.templating import render
    from velero_gitops.render.write import compute_changes, with_header

    loaded = config if isinstance(config, LoadedConfig) else load(config)
    p = plan_tree(loaded)
    bodies = render(p)
    files = {path: with_header(body, loaded.display_path) for path, body in bodies.items()}
    search = f"{loaded.config.repo.apps_root}"
    changes = compute_changes(loaded.repo_root, files, loaded.display_path, search)
    notes = list(p.notes)
    probes = (loaded.repo_root / p.secret_path,) + ((loaded.repo_root / p.repo_password_path,)
                                                    if p.repo_password_path else ())
    if loaded.config.s3.credentials_from == "sops" and not (loaded.repo_root / p.secret_path).exists():
        notes.append(
            f"{display(loaded.repo_root / p.secret_path)} does not exist yet: the app kustomization lists it. "
            f"Create it with: velero-gitops encrypt-secret --config {display(loaded.path)}"
        )
    if p.repo_password_path and not (loaded.repo_root / p.repo_password_path).exists():
        from velero_gitops.secrets.repo_password import missing_hint

        notes.append(missing_hint(loaded, display(loaded.repo_root / p.repo_password_path)))
    return RenderResult(loaded=loaded, files=files, changes=changes, notes=notes, probes=probes)


# The pins the config owns, where they land in the rendered objects: (config field, kind, path in the object).
PINS = (
    ("velero.chartVersion", "HelmRelease", ("spec", "chart", "spec", "version")),
    ("velero.chartVersion", "OCIRepository", ("spec", "ref", "tag")),
    ("velero.imageTag", "HelmRelease", ("spec", "values", "image", "tag")),
    ("velero.awsPluginImage", "HelmRelease", ("spec", "values", "initContainers", 0, "image")),
)


def pin_hints(old: str, new: str) -> list[str]:
    """For a generated file edited by hand (Renovate's flux manager, say): the config pins the edit changed.

    Each hint says which config field to set to the edited value, so that `render --force` keeps it."""
    from velero_gitops import yamlsafe

    def objects(text: str) -> dict[str, object]:
        try:  # the edited file comes from a pull request: read within the limits, never a traceback
            docs = [d.data for d in yamlsafe.load_all(text)]
        except yamlsafe.YamlRefused:
            return {}
        return {d["kind"]: d for d in docs if isinstance(d, dict) and isinstance(d.get("kind"), str)}

    def at(obj: object, path: tuple) -> object:
        for step in path:
            try:
                obj = obj[step]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                return None
        return obj

    before, after = objects(old), objects(new)
    hints = []
    for field, kind, path in PINS:
        edited, rendered = at(before.get(kind), path), at(after.get(kind), path)
        if edited is not None and rendered is not None and edited != rendered and isinstance(edited, str | int | float):
            value = str(edited)[:80]
            hints.append(f"{kind} {'.'.join(map(str, path))} was changed to {value!r} (the config renders {rendered!r}): "
                         f"set {field}: {value} in the config, then run velero-gitops render --force")
    return hints


def render_advice(c: Change, config: str) -> str:
    """The command that brings a drifted file in line. A file edited by hand is refused by plain `render`, so
    the advice names --force and what it does to this file (write.apply: replaced, or removed when the config
    no longer generates it), after the edit is moved into the config or kept elsewhere."""
    if not c.conflict:
        return f"run: velero-gitops render --config {config}"
    does = "removes it" if c.action == "delete" else "replaces it with what the config renders"
    return (f"the file is generated: move the edit into {config} (or copy it elsewhere), then run: "
            f"velero-gitops render --force --config {config} (--force {does})")


def render_check(result: RenderResult) -> list:
    """Findings for every file that `render` would change (empty when the tree is in sync). For `check`."""
    from velero_gitops.findings import Finding

    findings = []
    for c in result.drifted:
        what = {"create": "is missing", "update": "differs from what the config renders",
                "delete": "is no longer generated by the config"}[c.action]
        if c.conflict:
            what += f" and {c.conflict}"
        hints = pin_hints(c.old, c.new) if c.action == "update" and c.old and c.new else []
        config = display(result.loaded.path)
        fix = "; ".join(hints) if hints else render_advice(c, config)
        # A generated file still as render wrote it did not change: its config (or the tool) did, so the finding
        # sits on the config, the file a pull request changed (an annotation shows there); a hand edit sits on
        # the edited file.
        on_config = not c.conflict
        findings.append(Finding(
            file=config if on_config else result.shown(c.path), line=None, obj=None, pointer="",
            message=(f"{result.shown(c.path)} " if on_config else "") + f"{what}; {fix}", rule="render.drift",
        ))
    return findings
