"""`velero-gitops render`: config(s) -> the Flux tree on disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from velero_gitops.cli._app import app, err, handle_errors, out
from velero_gitops.cli._configs import resolve_configs

if TYPE_CHECKING:
    from velero_gitops.ops.wiring import FluxKs, Wiring
    from velero_gitops.pipeline import RenderResult
    from velero_gitops.validate.run import DiskReads


@app.command()
@handle_errors
def render(
    configs: list[Path] | None = typer.Argument(None, help="Config files (same as --config).", show_default=False),
    config: list[Path] | None = typer.Option(None, "--config", "-c", help="Config file; repeat for several clusters."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 with a unified diff if the tree is not in sync."),
    diff: bool = typer.Option(False, "--diff", help="Write nothing; show the unified diff of what would change."),
    force: bool = typer.Option(False, "--force", help="Replace generated files that were edited by hand and files without our header, and remove edited files the config no longer generates (copy your edits first)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print problems."),
    wire: bool = typer.Option(False, "--wire", help="When no Flux Kustomization applies the tree, add it to the parent "
                              "kustomization.yaml (or Flux Kustomization list) that Flux builds: one comment-preserving edit."),
) -> None:
    """Render the Flux tree for each config. Only changed files are written, atomically."""
    from velero_gitops.errors import UsageError

    if wire and (check or diff):
        raise UsageError("--wire edits a file of the repository: it does not go with --check or --diff")
    paths = resolve_configs(configs, config)
    if wire or diff or force:  # each may write or print what a stored no-op never did
        _render(paths, check, diff, force, quiet, wire)
        return
    _render_or_replay(paths, check, quiet)


def _render_or_replay(paths: list[Path], check: bool, quiet: bool) -> None:
    """A run that wrote nothing is stored with what it printed, keyed on the content of everything it read (the
    configs, the templates, every generated file and the folders listed: runcache.py); the same run replays it
    without loading, planning or rendering. A hand edit, a deleted output or a new file in the tree is a changed
    input, so the run is computed again and notices it."""
    import os

    from velero_gitops import runcache
    from velero_gitops.check import cache_in_checkout

    if runcache.disabled() or cache_in_checkout(runcache.cache_dir(), paths):
        _render(paths, check, False, False, quiet, False)
        return
    key = runcache.request_key("render", [f"check={check}", f"quiet={quiet}", *(os.path.abspath(p) for p in paths)])
    stored = runcache.load(key)
    if stored is not None and runcache.Transcript.replay(stored.get("printed")):
        return
    with runcache.Recorder() as rec, runcache.Transcript() as printed:
        results = _render(paths, check, False, False, quiet, False)
    if any(r.drifted for r in results):
        return  # it wrote (or found drift): the inputs it read are no longer the tree
    for r in results:
        for probe in r.probes:
            rec.probe(probe)
    runcache.store(key, rec.inputs(), {"printed": [list(c) for c in printed.chunks]})


def _text_values(result: RenderResult) -> set[bytes] | None:
    """The values either side of each drifted file holds that must never be printed (buildsecrets.text_values);
    None when a side is not YAML."""
    from velero_gitops.validate.buildsecrets import text_values

    found: set[bytes] = set()
    for c in result.drifted:
        for side in (c.old, c.new):
            values = text_values(side) if side else set()
            if values is None:
                return None
            found |= values
    return found


def _render(paths: list[Path], check: bool, diff: bool, force: bool, quiet: bool, wire: bool) -> list[RenderResult]:
    from velero_gitops.pipeline import pin_hints, render_config
    from velero_gitops.validate.buildsecrets import redact_diff

    # Render everything in memory first: a bad config anywhere means nothing is written anywhere.
    results = [render_config(p) for p in paths]
    # ... and a second Velero install anywhere means nothing is written either
    # Both graphs of a repository read the disk before anything is written: the planned one reuses the real paths
    # and bytes the first read (only its planned files differ, and those come from the plan), not after the write.
    reads = None if check or diff else _disk_reads()
    before = _Facts(reads=reads)
    # The graph once every config's drifted files of its repository are written, read in memory once and passed
    # down: the prune check judges it, and the wiring check after the write reads it instead of the disk.
    by_root: dict[Path, list[RenderResult]] = {}
    for r in results:
        by_root.setdefault(r.loaded.repo_root, []).append(r)
    planned = _Facts({root: _overlay(mine) for root, mine in by_root.items()}, reads=reads)
    facts = [] if check or diff else [before.of(r) for r in results]
    for result, f in zip(results, facts, strict=False):
        _refuse_second_install(result, f)
    for result, f in zip(results, facts, strict=False):
        _refuse_prune(result, results, f, planned)
    before.reads = planned.reads = None  # the writes below change the disk: a graph read after them reads it afresh
    drift = False
    written: list[RenderResult] = []
    unwired = 0  # configs whose --wire edit could not be made
    fresh: set[int] = set()  # configs whose apps root this render creates (id of the result)
    for result in results:
        for warning in result.loaded.warnings:  # config/semantics.py: accepted, with the numbers to weigh
            err(f"warning: {warning}")
        changed = result.drifted
        if check or diff:
            text = result.diff()
            if text:  # a generated file edited by hand may hold a Secret or a credential: never shown
                out(redact_diff(text, _text_values(result)), "diff", nl=False)
            for c in changed:
                if c.conflict:
                    err(f"{result.shown(c.path)} {c.conflict}")
                if c.action == "update" and c.old and c.new:
                    for hint in pin_hints(c.old, c.new):
                        err(f"hint: {hint}")
            drift = drift or bool(changed)
            continue
        if not force:
            for c in changed:
                if c.conflict and c.action == "update" and c.old and c.new:
                    for hint in pin_hints(c.old, c.new):
                        err(f"hint: {hint}")
        if not (result.loaded.repo_root / result.loaded.config.repo.apps_root).is_dir():
            fresh.add(id(result))
        result.write(force=force)
        if not quiet:
            _summary(result)
        for note in result.notes:
            err(f"note: {note}")
        _volumes(result, before)
        if wire:  # the edit changes the graph the next config is judged on: judged one by one, on a fresh read
            unwired += not _wiring(result, wire, None if result.drifted else before.of(result), id(result) in fresh)
        else:
            written.append(result)
    # Judged once every tree is written, on the graph of the planned tree (what the write, verified file by file under
    # the lock, made of the disk), read once per repository: each read scans the whole repository.
    after = planned if any(r.drifted for r in written) else before
    for result in written:
        _wiring(result, False, after.of(result), id(result) in fresh)
    if not check and not diff:
        _decryption_key(results, after if not wire else _Facts())
    if check and drift:
        err("the rendered tree is out of date: run `velero-gitops render` and commit the result")
        raise typer.Exit(1)
    if unwired:  # --wire asked for an edit that could not be made: the tree is written, Flux applies none of it
        raise typer.Exit(1)
    return results


def _disk_reads() -> DiskReads:
    from velero_gitops.validate.run import DiskReads  # not imported by --check and --diff, which read no graph

    return DiskReads()


class _Facts:
    """The repository's Flux graph (ops/wiring.flux_facts), read once per repository and source within one step:
    of the disk, or with ``planned`` (repository root -> {repo-relative path: new text, None: removed}) laid over it.
    ``reads``: the disk reads (validate.run.DiskReads) its graphs share with another _Facts while nothing is written."""

    def __init__(self, planned: dict[Path, dict[str, str | None]] | None = None, reads: DiskReads | None = None) -> None:
        self._read: dict[tuple[Path, tuple[str, ...]], list[FluxKs]] = {}
        self._graphs: dict[tuple[Path, tuple[str, ...]], Any] = {}  # the disk's graphs (no planned files laid over)
        self._planned = planned
        self.reads = reads

    def of(self, result: RenderResult) -> list[FluxKs]:
        from velero_gitops.ops import applyset, wiring

        key = (result.loaded.repo_root, tuple(wiring.sources_of(result.loaded)))
        if key not in self._read:
            overlay = None if self._planned is None else self._planned.get(key[0])
            self._read[key] = (wiring.flux_facts(key[0], list(key[1]), g=self.graph_of(result)) if not overlay
                               else applyset.planned_facts(key[0], list(key[1]), overlay, self.reads))
        return self._read[key]

    def graph_of(self, result: RenderResult) -> Any:
        """The Graph of the repository as it is on disk (what lies outside the rendered tree: its volumes)."""
        from velero_gitops.ops import wiring

        key = (result.loaded.repo_root, tuple(wiring.sources_of(result.loaded)))
        if key not in self._graphs:
            self._graphs[key] = wiring.graph(key[0], list(key[1]), self.reads)
        return self._graphs[key]


def _overlay(mine: list[RenderResult]) -> dict[str, str | None]:
    """Every drifted file of these configs (of one repository): repo-relative path -> new text, None: removed."""
    return {c.path: c.new for r in mine for c in r.drifted}


def _refuse_second_install(result: RenderResult, facts: list[FluxKs]) -> None:
    """A velero HelmRelease that velero-gitops did not render, applied by Flux: rendering ours would install Velero
    twice (--force does not change that)."""
    import os

    from velero_gitops.errors import UsageError
    from velero_gitops.ops import importer, wiring
    from velero_gitops.render.write import Look

    root = result.loaded.repo_root
    look = Look(root)  # the tree's few folders resolved once, not each file's whole path
    ours = {Path(look.real(os.path.join(root, rel))) for rel in result.files}
    within = Path(look.real(os.path.join(root, result.loaded.config.repo.apps_root)))
    found = importer.second_install(importer.find_existing(root, facts, skip=ours, within=within))
    if found:
        raise UsageError(importer.refusal(found, wiring.at(root, result.shown)))


def _refuse_prune(result: RenderResult, results: list[RenderResult], facts: list[FluxKs], planned: _Facts) -> None:
    """Writing the planned files must not make Flux stop applying (and so prune) what it applies now, unless render
    made it (ops/applyset.py); judged with every config's planned files of the repository laid over it."""
    from velero_gitops.errors import UsageError
    from velero_gitops.ops import applyset, wiring

    root = result.loaded.repo_root
    mine = [r for r in results if r.loaded.repo_root == root]
    if not result.drifted:
        return
    found = applyset.losses(root, wiring.sources_of(result.loaded), _overlay(mine),
                            applyset.ours([r.loaded.display_path for r in mine], _written_by_commands(mine)), facts,
                            planned.of(result))
    if found:
        raise UsageError(applyset.refusal(found, wiring.at(root, result.shown)))


def _written_by_commands(results: list[RenderResult]) -> set[Path]:
    """The files of each tree that encrypt-secret and encrypt-repo-password write (render/layout.py), resolved."""
    from velero_gitops.render.layout import Layout

    out = set()
    for r in results:
        layout = Layout.of(r.loaded.config)
        for rel in (layout.secret_file, layout.repo_password_file):
            out.add((r.loaded.repo_root / rel).resolve())
    return out


def _wiring(result: RenderResult, wire: bool, facts: list[FluxKs] | None, fresh: bool = False) -> bool:
    """Say when Flux applies none of the tree, with the edit that wires it; make that edit with --wire. ``facts``: the
    graph as it is now (None: read it here); ``fresh``: this render created the apps root. False when Flux applies
    none of the tree and no edit was made."""
    from velero_gitops.ops import wiring

    w = wiring.for_config(result.loaded, facts)
    root = result.loaded.repo_root
    if w.wired:
        _ordering(result, w)
    if not w.checked and fresh:  # a guessed apps root with no root to judge it by: never rendered into silently
        err("warning: " + wiring.unjudged_message(result.shown(result.loaded.config.repo.apps_root)))
        return not wire
    if not w.checked or w.wired:
        return True
    edit = w.edit
    if wire and edit is not None and edit.new_content is not None:
        done = wiring.apply(w, root, wiring.sources_of(result.loaded))
        out(f"wired    {wiring.at(root, result.shown)(edit.file)}:{edit.line}: {edit.how} "
                   f"(now applied by {', '.join(k.ref for k in done.by)})")
        _ordering(result, done)
        return True
    err("warning: " + wiring.message(w, root, result.shown))
    return False


def _volumes(result: RenderResult, facts: _Facts) -> None:
    """The backed-up volumes the node-agent skips (ops/storage.py hostpath_warnings: check's policy.hostpath-volumes),
    said where the plan is written."""
    from velero_gitops.ops import storage

    if not storage.backed_up_namespaces(result.loaded):
        return
    for _, msg in storage.hostpath_warnings(result.loaded, storage.read_for(result.loaded, facts.graph_of(result))):
        err(f"warning: {msg}")


def _ordering(result: RenderResult, w: Wiring) -> None:
    """Say when a parent's patch replaces the rendered Kustomizations' dependsOn (ops/ordering.py), with the patch's
    file:line and the fix; `check` fails on it (flux.depends-on-replaced)."""
    from velero_gitops.ops import ordering, wiring
    from velero_gitops.render.layout import Layout

    shown = wiring.at(result.loaded.repo_root, result.shown)
    for r in ordering.replaced(w.target, result.files.get(Layout.of(result.loaded.config).ks_file, ""), w.facts):
        err("warning: " + ordering.message(r, shown))


def _decryption_key(results: list[RenderResult], facts: _Facts) -> None:
    """Once per key Secret: the rendered Kustomization decrypts with a key Secret that the repository does not hold
    and no other Flux Kustomization reads (a repository new to SOPS): say how to make it (flux._Checker.absent_key
    decides; kustomize-controller fails the whole Kustomization without it)."""
    from velero_gitops.config.loader import display
    from velero_gitops.render.layout import Layout
    from velero_gitops.secrets.sops import default_key_file
    from velero_gitops.validate.flux import key_command

    told: set[tuple[Path, tuple[str, str]]] = set()
    for result in results:
        root = result.loaded.repo_root.resolve()
        target = (root / Layout.of(result.loaded.config).ks_file).resolve()
        for k in facts.of(result):
            if k.file == target and k.absent_key is not None and (root, k.absent_key) not in told:
                told.add((root, k.absent_key))
                ns, name = k.absent_key
                err(f"note: Flux decrypts the tree with the age key in Secret {ns}/{name}, which this repository does "
                    "not hold and no other Flux Kustomization of its cluster reads: create it on the cluster before Flux "
                    "applies the tree (kustomize-controller fails the whole Kustomization without it): "
                    f"{key_command(name, ns, display(default_key_file()))}")


def _summary(result: RenderResult) -> None:
    from velero_gitops.config.loader import display

    counts = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
    for c in result.changes:
        counts[c.action] += 1
        if c.action != "unchanged":
            verb = {"create": "created", "update": "updated", "delete": "removed"}[c.action]
            out(f"{verb:8} {result.shown(c.path)}")
    out(
        f"{display(result.loaded.path)}: {counts['create']} created, {counts['update']} updated, "
        f"{counts['delete']} removed, {counts['unchanged']} unchanged"
    )


@app.command("config-reference")
def config_reference() -> None:
    """Print the config reference (Markdown), generated from the config model."""
    from velero_gitops.config.reference import markdown

    out(markdown(), "document", nl=False)


@app.command("config-schema")
def config_schema() -> None:
    """Print the config's JSON Schema, for editor completion (yaml-language-server)."""
    from velero_gitops.config.reference import json_schema

    out(json_schema(), "document", nl=False)
