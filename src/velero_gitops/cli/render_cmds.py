"""`velero-gitops render`: config(s) -> the Flux tree on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
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
    """A no-op is stored per unit: the configs of one repository root (repo.root), which share its Flux graph and
    nothing else. Each unit's entry holds what its configs printed and the content digest of everything read while
    they were worked on (the configs, the templates, every generated file, the repository files the Flux graph
    read, the folders listed, the code and programs: runcache.py), keyed on the request and the config. A run
    replays every unit whose inputs are unchanged, without loading, planning, rendering or reading a graph, and
    computes the others; it prints what a full run prints, in its order. A hand edit, a deleted output or a new
    file in a unit's tree is a changed input of that unit, so the unit is computed again and notices it."""
    from velero_gitops import runcache
    from velero_gitops.check import cache_in_checkout

    absolute = [os.path.abspath(p) for p in paths]
    if runcache.disabled() or cache_in_checkout(runcache.cache_dir(), paths) or len(set(absolute)) < len(absolute):
        _render(paths, check, False, False, quiet, False)
        return
    from velero_gitops.secrets.sops import default_key_file

    # the environment a message reads is part of the request: the decryption-key note names the key file
    request = runcache.request_key("render", [f"check={check}", f"quiet={quiet}", f"key={default_key_file()}"])
    keys = [runcache.part_key(request, a) for a in absolute]
    replayed = _replayable(absolute, runcache.load_all(keys))
    unit = _Units(paths, replayed)
    failed: BaseException | None = None
    with runcache.Recorder() as rec, runcache.Transcript(hold=True) as printed:
        mark = _Mark(rec, printed)
        try:
            unit.compute(check, quiet, mark)
        except BaseException as exc:  # noqa: BLE001 - what a full run printed before it failed is printed, then raised
            failed = exc
    _print(printed, unit.replayed, absolute, mark.at if failed else None)
    if failed is not None:
        raise failed
    if unit.drifted or any(t[1] is None for t in printed.tags):
        return  # it wrote (or found drift), or printed for no one config: not a no-op to replay per unit
    for i, r in unit.results.items():
        rec.tag = i
        for probe in r.probes:
            rec.probe(probe)
    inputs = rec.inputs()
    if inputs is None:
        return
    chunks = list(zip(printed.tags, printed.chunks, strict=True))
    within = _Within(unit.roots())
    for root, members in unit.by_root().items():
        mine = within.owner(root, set(members))
        probes = {os.path.abspath(p) for i in members for p in unit.results[i].probes}
        owned = rec.owned(inputs, mine, probes)
        for i in members:
            runcache.store(keys[i], owned, {
                "root": root, "members": [absolute[j] for j in members],
                "printed": [[t[0], stream, text] for t, (stream, text) in chunks if t and t[1] == i]})


_END = 5  # the phase of _render after every config's part: what it prints there belongs to no one config


class _Mark:
    """Which part of _render works now, for the recorder (the config whose inputs a read is) and the transcript
    (where its output goes in a full run's order): (phase, index of the config in the request or None)."""

    def __init__(self, rec: Any, printed: Any) -> None:
        self.rec, self.printed = rec, printed
        self.at: tuple[int, int | None] = (0, None)
        printed.tag = self.at

    def __call__(self, phase: int, index: int | None) -> None:
        self.at = (phase, index)
        self.rec.tag = index
        self.printed.tag = self.at


def _no_mark(phase: int, index: int | None) -> None:
    return None


class _Units:
    """The configs of a request: the units replayed (index -> stored entry) and those computed (index -> result)."""

    def __init__(self, paths: list[Path], replayed: dict[int, dict[str, Any]]) -> None:
        self.paths, self.replayed = paths, replayed
        self.results: dict[int, RenderResult] = {}
        self.drifted = False

    def roots(self) -> set[str]:
        return {str(r.loaded.repo_root) for r in self.results.values()}

    def by_root(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i in sorted(self.results):
            out.setdefault(str(self.results[i].loaded.repo_root), []).append(i)
        return out

    def compute(self, check: bool, quiet: bool, mark: Any) -> None:
        """Load every config not replayed; a replayed unit whose root is, holds or lies in a computed one's is
        computed too (its graph reads the other's files, which this run may write). Then render them as one run."""
        if len(self.replayed) == len(self.paths):
            return  # every unit replayed: nothing to load
        from velero_gitops import boundary
        from velero_gitops.pipeline import render_config
        from velero_gitops.render import templating

        templating.warm()
        while True:
            for i in range(len(self.paths)):
                if i not in self.replayed and i not in self.results:
                    mark(0, i)
                    self.results[i] = render_config(self.paths[i])
            computed = [Path(r) for r in self.roots()]
            clash = [i for i, e in self.replayed.items()
                     if any(boundary.inside(Path(e["root"]), c) or boundary.inside(c, Path(e["root"])) for c in computed)]
            if not clash:
                break
            for i in clash:
                del self.replayed[i]
        order = sorted(self.results)
        if not order:
            return
        done = _render([self.paths[i] for i in order], check, False, False, quiet, False,
                       loaded=[self.results[i] for i in order], mark=lambda ph, j: mark(ph, None if j is None else order[j]))
        self.drifted = any(r.drifted for r in done)


def _replayable(absolute: list[str], entries: list[dict[str, Any] | None]) -> dict[int, dict[str, Any]]:
    """The configs whose whole unit is stored with unchanged inputs: every member of the unit is in this request
    (a unit stored with another config beside it is not this one) and names the same members and root."""
    at = {a: i for i, a in enumerate(absolute)}
    hits: dict[int, dict[str, Any]] = {}
    for i, e in enumerate(entries):
        members = e.get("members") if e is not None else None
        if (e is None or not isinstance(members, list) or absolute[i] not in members or not isinstance(e.get("root"), str)
                or not all(isinstance(m, str) and m in at for m in members)):
            continue
        if all((o := entries[at[m]]) is not None and o.get("members") == members and o.get("root") == e["root"]
               for m in members) and _chunks(e.get("printed")) is not None:
            hits[i] = e
    return hits


def _chunks(printed: Any) -> list[tuple[int, str, str]] | None:
    if not isinstance(printed, list) or not all(
            isinstance(c, list) and len(c) == 3 and isinstance(c[0], int) and c[1] in ("stdout", "stderr")
            and isinstance(c[2], str) for c in printed):
        return None
    return [(c[0], c[1], c[2]) for c in printed]


def _print(printed: Any, replayed: dict[int, dict[str, Any]], absolute: list[str], upto: tuple[int, int | None] | None) -> None:
    """The computed configs' output and the replayed ones', in a full run's order: phase by phase, config by config.
    ``upto``: where the computed run failed; a replayed config prints only what a full run printed before that."""
    import sys

    last = len(absolute)
    merged = [((t[0], last if t[1] is None else t[1]), n, stream, text)
              for n, (t, (stream, text)) in enumerate(zip(printed.tags, printed.chunks, strict=True))]
    stop = None if upto is None else (upto[0], last if upto[1] is None else upto[1])
    for i, e in replayed.items():
        for n, (phase, stream, text) in enumerate(_chunks(e["printed"]) or []):
            if stop is None or (phase, i) < stop:
                merged.append(((phase, i), n, stream, text))
    for _, _, stream, text in sorted(merged, key=lambda m: (m[0], m[1])):
        getattr(sys, stream).write(text)


class _Within:
    """Which units' roots hold a path the run read (its folders looked up, one path at a time)."""

    def __init__(self, roots: set[str]) -> None:
        self.roots = roots
        self._memo: dict[str, frozenset[str]] = {}

    def of(self, path: str) -> frozenset[str]:
        found = self._memo.get(path)
        if found is None:
            up, held = path, set()
            while True:
                if up in self.roots:
                    held.add(up)
                parent = os.path.dirname(up)
                if parent == up:
                    break
                up = parent
            found = self._memo[path] = frozenset(held)
        return found

    def owner(self, root: str, members: set[int]) -> Callable[[str, set[object]], bool]:
        """Whether a file or folder the run read is an input of the unit at ``root``: it lies in that root, a member
        config was being worked on when it was read, nothing was (templates, the code), or it lies in no unit's
        root. A file of another unit's root that no member read is that unit's alone."""
        return lambda path, tags: (root in self.of(path) or bool(tags & members) or None in tags
                                   or not self.of(path))


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


def _render(paths: list[Path], check: bool, diff: bool, force: bool, quiet: bool, wire: bool,
            loaded: list[RenderResult] | None = None, mark: Callable[[int, int | None], None] = _no_mark,
            ) -> list[RenderResult]:
    """``loaded``: the configs rendered already (render_config). ``mark(phase, index)``: told which config's part
    each step works on (_Mark); a step of one config reads that config's inputs and prints its output."""
    from velero_gitops.pipeline import pin_hints, render_config
    from velero_gitops.validate.buildsecrets import redact_diff

    # Render everything in memory first: a bad config anywhere means nothing is written anywhere.
    if loaded is None:
        loaded = []
        for i, p in enumerate(paths):
            mark(0, i)
            loaded.append(render_config(p))
    results = loaded
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
    facts = []
    for i, r in enumerate([] if check or diff else results):
        mark(1, i)
        facts.append(before.of(r))
    for i, (result, f) in enumerate(zip(results, facts, strict=False)):
        mark(1, i)
        _refuse_second_install(result, f)
    for i, (result, f) in enumerate(zip(results, facts, strict=False)):
        mark(1, i)
        _refuse_prune(result, results, f, planned)
    before.reads = planned.reads = None  # the writes below change the disk: a graph read after them reads it afresh
    drift = False
    written: list[tuple[int, RenderResult]] = []
    unwired = 0  # configs whose --wire edit could not be made
    fresh: set[int] = set()  # configs whose apps root this render creates (id of the result)
    for i, result in enumerate(results):
        mark(2, i)
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
            written.append((i, result))
    # Judged once every tree is written, on the graph of the planned tree (what the write, verified file by file under
    # the lock, made of the disk), read once per repository: each read scans the whole repository.
    after = planned if any(r.drifted for _, r in written) else before
    for i, result in written:
        mark(3, i)
        _wiring(result, False, after.of(result), id(result) in fresh)
    if not check and not diff:
        _decryption_key(results, after if not wire else _Facts(), mark)
    mark(_END, None)
    if check and drift:
        err("the rendered tree is out of date: run `velero-gitops render` and commit the result")
        raise typer.Exit(1)
    if unwired:  # --wire asked for an edit that could not be made: the tree is written, Flux applies none of it
        raise typer.Exit(1)
    return results


def _disk_reads() -> dict[Path, DiskReads]:
    """The disk reads of each repository root (validate.run.DiskReads), apart: what one root's graph read is never
    served to another's from memory (a unit's stored inputs are what it read: _render_or_replay)."""
    from collections import defaultdict

    from velero_gitops.validate.run import DiskReads  # not imported by --check and --diff, which read no graph

    return defaultdict(DiskReads)


class _Facts:
    """The repository's Flux graph (ops/wiring.flux_facts), read once per repository and source within one step:
    of the disk, or with ``planned`` (repository root -> {repo-relative path: new text, None: removed}) laid over it.
    ``reads``: the disk reads (validate.run.DiskReads) its graphs share with another _Facts while nothing is written."""

    def __init__(self, planned: dict[Path, dict[str, str | None]] | None = None,
                 reads: dict[Path, DiskReads] | None = None) -> None:
        self._read: dict[tuple[Path, tuple[str, ...]], list[FluxKs]] = {}
        self._graphs: dict[tuple[Path, tuple[str, ...]], Any] = {}  # the disk's graphs (no planned files laid over)
        self._planned = planned
        self.reads = reads

    def of(self, result: RenderResult) -> list[FluxKs]:
        from velero_gitops.ops import applyset, wiring

        key = (result.loaded.repo_root, tuple(wiring.sources_of(result.loaded)))
        if key not in self._read:
            overlay = None if self._planned is None else self._planned.get(key[0])
            reads = None if self.reads is None else self.reads[key[0]]
            self._read[key] = (wiring.flux_facts(key[0], list(key[1]), g=self.graph_of(result)) if not overlay
                               else applyset.planned_facts(key[0], list(key[1]), overlay, reads))
        return self._read[key]

    def graph_of(self, result: RenderResult) -> Any:
        """The Graph of the repository as it is on disk (what lies outside the rendered tree: its volumes)."""
        from velero_gitops.ops import wiring

        key = (result.loaded.repo_root, tuple(wiring.sources_of(result.loaded)))
        if key not in self._graphs:
            self._graphs[key] = wiring.graph(key[0], list(key[1]), None if self.reads is None else self.reads[key[0]])
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
    from velero_gitops.ops import ordering, wiring

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
        deps = [f"{d.namespace}/{d.name}" for d in result.loaded.config.flux.depends_on]
        edited = f"{wiring.at(root, result.shown)(edit.file)}:{edit.line}"

        def refuse(after: list[FluxKs]) -> str | None:  # a flux.dependsOn entry that would apply Velero itself
            found = ordering.depends_on_ancestors(after, w.target, deps)
            return ordering.ancestor_refusal(found, edited) if found else None

        done = wiring.apply(w, root, wiring.sources_of(result.loaded), refuse)
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


def _decryption_key(results: list[RenderResult], facts: _Facts, mark: Callable[[int, int | None], None] = _no_mark) -> None:
    """Once per key Secret: the rendered Kustomization decrypts with a key Secret that the repository does not hold
    and no other Flux Kustomization reads (a repository new to SOPS): say how to make it (flux._Checker.absent_key
    decides; kustomize-controller fails the whole Kustomization without it)."""
    from velero_gitops.config.loader import display
    from velero_gitops.render.layout import Layout
    from velero_gitops.secrets.sops import default_key_file
    from velero_gitops.validate.flux import key_command

    told: set[tuple[Path, tuple[str, str]]] = set()
    for i, result in enumerate(results):
        mark(4, i)
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
