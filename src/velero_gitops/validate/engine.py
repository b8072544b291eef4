"""Validate files, directories and stdin: YAML, schemas (strict), kustomize builds, Flux graph, policy.

Library API::

    from velero_gitops.validate.engine import Options, validate_paths
    result = validate_paths(["kubernetes/"], Options())
    result.findings, result.passed, result.failed, result.skipped

Every file is read once by yamlsafe's line-tracking libyaml loader (YAML 1.1, as Go YAML reads it
for Kubernetes and Flux), and each object is checked with a compiled validator (jsonschema-rs).
A second, faster YAML 1.2 parser (yaml-rs) was tried and removed: on real repositories it saved
nothing, and every text it read differently from libyaml was a file Kubernetes refuses that passed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from velero_gitops import boundary
from velero_gitops.errors import UsageError
from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.validate import (
    crd_providers,
    flux,
    flux_version,
    fluxrules,
    kustomize,
    policy,
    substitution,
    unapplied,
)
from velero_gitops.validate.documents import YAML_SUFFIXES, Obj, Reader, display_path, kfile_name
from velero_gitops.validate.run import Options, Run
from velero_gitops.validate.schemas import SchemaError, SchemaStore, schema_findings

define("yaml.duplicate-key", "error", "a mapping with the same key twice")
define("schema.error", "error", "the schema of a kind cannot be loaded")
define("schema.missing", "error", "no schema for a kind (`--ignore-missing-schemas` to skip it)")


@dataclass
class Result:
    findings: list[Finding]
    passed: int
    failed: int
    skipped: int
    graph: flux.Graph | None = field(default=None, compare=False, repr=False)  # the run's one Flux graph, for reuse


# --------------------------------------------------------------------------------------------------
# Reading


def ignore_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate on paths from kubeconform-style ``--ignore-filename-pattern`` regexes (Go's regexp, searched)."""
    from velero_gitops.goregexp import PatternCost, PatternError, matcher

    try:
        return matcher(patterns)
    except PatternError as exc:
        raise UsageError(f"--ignore-filename-pattern: invalid regular expression: {exc}") from None
    except PatternCost as exc:
        raise UsageError(f"--ignore-filename-pattern: a pattern is not evaluated, {exc}") from None


def discover(paths: Iterable[str], ignore: Callable[[str], bool] | None = None,
             resolve: Callable[[Path], Path] = Path.resolve) -> tuple[list[tuple[str, Path | None]], list[Path]]:
    """(files to read, kustomization dirs). '-' is stdin. ``ignore(path)`` drops files and folders;
    ``resolve(path)`` resolves a path (a file reached twice is read once)."""
    ignore = ignore or (lambda _p: False)
    files: list[tuple[str, Path | None]] = []
    kdirs: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        if raw == "-":
            files.append(("-", None))
            continue
        p = Path(raw)
        if os.path.isdir(p):
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                d = Path(dirpath)
                dirnames[:] = [x for x in dirnames if not ignore(str(d / x) + "/")]
                name = kfile_name(filenames)
                kf = d / name if name is not None else None
                # a FIFO or device kustomization would hang kustomize: the reader reports it instead
                if kf is not None and os.path.isfile(kf) and not ignore(str(kf)):
                    kdirs.append(d)
                for f in sorted(filenames):
                    if f.startswith(".") or not f.endswith(YAML_SUFFIXES):
                        continue
                    fp = d / f
                    if ignore(str(fp)):
                        continue
                    real = resolve(fp)
                    if real not in seen:
                        seen.add(real)
                        files.append((display_path(fp), fp))
        elif os.path.isfile(p) or os.path.lexists(p):  # a FIFO or device: the reader refuses it, located
            if ignore(raw):
                continue
            if resolve(p) not in seen:
                seen.add(resolve(p))
                files.append((display_path(p) if p.is_absolute() else raw, p))
        else:
            raise UsageError(f"{raw}: no such file or directory")
    return files, kdirs


# --------------------------------------------------------------------------------------------------
# Entry point


def validate_paths(paths: Iterable[str], options: Options | None = None) -> Result:
    """Validate files/directories ('-' = stdin). Raises UsageError for unusable arguments."""
    with _cycles_uncollected():
        return _validate_paths(paths, options)


@contextlib.contextmanager
def _cycles_uncollected() -> Iterator[None]:
    """Python's cycle collector paused for one run. What a run keeps alive, millions of YAML nodes, holds no cycle:
    yamlsafe builds each document bottom-up and an alias can only name a node finished before it. Every pass of
    the collector still walks them all, and its full passes come more often than the heap grows (issue 23: 0.7 s at
    20k documents, 5.3 s at 100k, a fifth of the run). Refcounting frees what a run drops as before; the rare cycle
    it makes waits for the next collection after the run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _validate_paths(paths: Iterable[str], options: Options | None) -> Result:
    opts = options or Options()
    paths = list(paths)
    run = Run(opts)
    run.boundary = boundary.of_paths(paths, opts.repo_root)
    files, kdirs = discover(paths, _ignore(run), run.real)
    run.named_files = frozenset(run.real(Path(p)) for p in paths if p != "-" and not os.path.isdir(p))
    # files that kustomizations read as generator/patch/replacement inputs are not objects, wherever they sit
    inputs, kresources = kustomize.input_files(kdirs, run)
    reader = _read_files(files, inputs, run)
    objects = reader.objects
    findings = [*reader.findings]
    failed_units = reader.failed_units
    graph = _namespaces(objects, kdirs, run)
    opts = run.opts  # the repository source may have been guessed from the tree

    store = SchemaStore(opts.schema_locations, cache_dir=opts.cache_dir,
                        k8s_version=opts.kubernetes_version, strict=opts.strict, root=run.boundary)
    skip = {k.strip() for k in opts.skip_kinds if k.strip()}
    # what Flux applies is the build output: objects of files that a successful build emitted are
    # validated there (after the kustomization's patches, components and namespace), not on their own
    built: set[Path] = set()
    # a repository with no kustomization.yaml anywhere is still built: Flux generates one for each spec.path
    if opts.kustomize != "never" and (kdirs or (graph is not None and any(graph.path_dir(k) for k in graph.flux_ks))):
        scan_roots = [p for p in paths if p != "-" and os.path.isdir(p)]
        kfind, kfailed, built = kustomize.check_dirs(kdirs, objects, store, run, skip, graph=graph, scan_roots=scan_roots)
        findings.extend(kfind)
        failed_units += kfailed
    # a YAML file that nothing applies (helmfile, Talos config, Taskfile, chart values) is not an
    # object when it does not claim to be one; a file that Flux or a kustomization applies must be
    applied = set(graph.applied_by) | kresources if graph is not None else kresources
    # in a tree with no kustomization and no Flux Kustomization, nothing applies anything: a file named on the command
    # line is then a manifest because its user says so, one found by walking a folder only if it claims to be one
    has_context = bool(kdirs) or bool(graph is not None and graph.roots)
    named = set() if has_context else {run.real(Path(p)) for p in paths if p != "-" and not os.path.isdir(p)} | {
        run.real(p) for p in reader.claims_object}
    schema = _SchemaPass(store, run, skip, built, applied, named, graph)
    findings.extend(_duplicate_keys(reader, schema))
    for finding, path in reader.unless_stray:
        # an Ansible playbook, a tool's settings or config that nothing applies is not ours to judge
        if not schema.stray(finding.file, path):
            findings.append(finding)
            failed_units += 1
    tally = _Tally()
    for i, obj in enumerate(objects):
        outcome, fs = schema.check(obj)
        findings.extend(fs)
        tally.record(i, outcome)

    if opts.flux and graph is not None:
        findings.extend(flux.check(graph, objects))
        findings.extend(fluxrules.run(graph, objects))  # one module per rule (validate/fluxrules/)
        # what the controllers do at run time: missing CRDs, substitution, the Flux version (modules of their own)
        findings += crd_providers.check(graph, objects) + substitution.check(graph, objects)
        findings += substitution.check_literal(graph, objects) + flux_version.check(objects, run.text, graph)
    if opts.policy:
        findings.extend(policy.check(objects, opts))
    if graph is not None:
        findings = substitution.explain(findings, objects, graph)  # a value postBuild left empty: which variable
        findings = unapplied.notes(findings, objects, graph)  # what Flux never applies: notes, one rule for all
    result = _result(objects, _dedupe(findings), tally, failed_units)
    result.graph = graph
    return result


def flux_graph(repo_root: str | Path, options: Options | None = None) -> flux.Graph:
    """The Flux graph of a whole repository, as validate models it (for questions such as
    ``flux_graph(root).applied_from_sync(path)``: is this file applied by Flux from the cluster's sync?)."""
    opts = options or Options()
    root = Path(repo_root).resolve()
    run = Run(dataclasses.replace(opts, repo_root=str(root)))
    files, kdirs = discover([str(root)], _ignore(run), run.real)
    inputs, _ = kustomize.input_files(kdirs, run)
    graph = flux.Graph(_read_files(files, inputs, run).objects, run)
    return graph


def _read_files(files: list[tuple[str, Path | None]], inputs: set[Path], run: Run) -> Reader:
    root = run.boundary
    reader = Reader(str(root) if root is not None else None, lambda p, shown: run.decoded(p, root=root, shown=shown))
    for display, path in files:
        if path is not None and inputs and run.real(path) in inputs:
            continue
        reader.read(display, path)
    run.yaml_verdicts.update((run.real(p), v) for p, v in reader.verdicts.items())
    return reader


def _namespaces(objects: list[Obj], kdirs: list[Path], run: Run) -> flux.Graph | None:
    """The Flux graph (None when nothing needs it); objects without a namespace get the one Flux or kustomize sets."""
    if not (run.opts.flux or any(not o.namespace for o in objects) or kdirs):
        return None
    graph = flux.Graph(objects, run)  # guesses the repository's source from the whole repository (run.opts)
    for o in objects:
        if not o.namespace:
            o.eff_ns = graph.ns_of(o)
    return graph


def _duplicate_keys(reader: Reader, schema: _SchemaPass) -> list[Finding]:
    """Reported once namespaces are known, so that the object is named the way other findings name it; a document
    that claims no object (no apiVersion or no kind) in a file nothing applies is another tool's, as for its schema."""
    return [Finding(display, line, obj.ident if obj is not None and obj.kind else None, pointer,
                    f"duplicate key {key!r}", "yaml.duplicate-key")
            for display, obj, line, pointer, key in reader.duplicates
            if not (_claims_nothing(obj) and schema.stray(display, obj.path if obj is not None else None))]


def _claims_nothing(obj: Obj | None) -> bool:
    """No Kubernetes object: a document without apiVersion or without kind (or none at all)."""
    return obj is None or obj.data.get("apiVersion") is None or obj.data.get("kind") is None


@dataclass
class _Tally:
    """Objects (by index) that failed, were skipped, or are no Kubernetes object at all."""

    failed: set[int] = field(default_factory=set)
    skipped: set[int] = field(default_factory=set)
    ignored: set[int] = field(default_factory=set)

    def record(self, i: int, outcome: str) -> None:
        if outcome in ("failed", "skipped", "ignored"):
            getattr(self, outcome).add(i)


class _SchemaPass:
    """Schema validation of one object read from a file."""

    def __init__(self, store: SchemaStore, run: Run, skip: set[str], built: set[Path], applied: set[Path],
                 named: set[Path], graph: flux.Graph | None) -> None:
        self.store, self.run, self.skip, self.built = store, run, skip, built
        self.applied, self.named, self.graph = applied, named, graph

    def check(self, obj: Obj) -> tuple[str, list[Finding]]:
        """(outcome: "ok", "failed", "skipped" or "ignored"; findings)."""
        # the files the tool renders (check) are never skipped, nor ignored: the disaster-recovery entry point is
        # listed in no kustomization.yaml on purpose
        strict = obj.path is not None and self.run.real(obj.path) in self.run.opts.strict_files
        if self.graph is not None and self.graph.dead(obj) and not strict:
            return "ignored", []  # a disabled app (its kustomization.yaml no longer lists it): Flux never applies it
        av, kind = obj.data.get("apiVersion"), obj.data.get("kind")
        if not isinstance(av, str) or not isinstance(kind, str) or not av or not kind:
            if _claims_nothing(obj) and self.stray(obj.file, obj.path):
                return "ignored", []  # another tool's file that nothing applies (Ansible vars with a `kind:` key)
            missing = "apiVersion" if not isinstance(av, str) or not av else "kind"
            return "failed", [obj.finding("", f"missing '{missing}': not a Kubernetes object", "schema")]
        if (kind in self.skip or f"{av}/{kind}" in self.skip) and not strict:
            return "skipped", []
        try:
            validator = self.store.validator(av, kind)
        except SchemaError as exc:
            return "failed", [obj.finding("", str(exc), "schema.error")]
        if validator is None:
            if self.run.opts.ignore_missing_schemas and not strict:
                return "skipped", []
            return "failed", [obj.finding("/kind", self.store.missing_message(av, kind), "schema.missing")]
        if self.built and obj.path is not None and self.run.real(obj.path) in self.built:
            return "ok", []  # validated in the build output
        if validator.is_valid(obj.data):
            return "ok", []
        fs = schema_findings(obj, validator)
        return ("failed" if fs else "ok"), fs

    def stray(self, display: str, path: Path | None) -> bool:
        """A file that nothing applies (in a tree with no applier: one not named on the command line): not meant to
        be a Kubernetes object. Only what a kustomization lists or a Flux Kustomization's path holds is read by the
        controllers (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go accumulateResources;
        fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests)."""
        if path is None or display.startswith("-"):
            return False
        real = self.run.real(path)
        return real not in self.applied and real not in self.named


def _result(objects: list[Obj], findings: list[Finding], tally: _Tally, failed_units: int) -> Result:
    """Counts: an object fails when any error finding names it; a failed unit (unreadable file, failed build)
    counts as one failed object."""
    by_obj: dict[tuple[str, str], int] = {}
    for i, obj in enumerate(objects):
        by_obj.setdefault((obj.file, obj.ident), i)
    for f in findings:
        if f.severity == "error" and f.obj is not None and (f.file, f.obj) in by_obj:
            tally.failed.add(by_obj[(f.file, f.obj)])
    skipped = tally.skipped - tally.failed
    ignored = tally.ignored - tally.failed
    passed = len(objects) - len(tally.failed) - len(skipped) - len(ignored)
    findings.sort(key=lambda f: (f.file, f.line or 0, f.pointer, f.message))
    return Result(findings, passed, len(tally.failed) + failed_units, len(skipped))


def _ignore(run: Run) -> Callable[[str], bool]:
    """The ignore patterns, searched in the path as given and in the repository-relative one; never a strict file
    nor a folder on the way to one."""
    opts = run.opts
    match = ignore_matcher(opts.ignore_filename_patterns)
    if not opts.ignore_filename_patterns:
        return match
    root = run.real(Path(opts.repo_root)) if opts.repo_root else None
    keep = set(opts.strict_files).union(*(f.parents for f in opts.strict_files))

    def ignored(p: str) -> bool:
        real = run.real(Path(p))
        if real in keep:
            return False
        if match(p):
            return True
        try:
            rel = real.relative_to(root).as_posix() if root is not None else None
        except ValueError:
            return False
        return rel is not None and match(rel + ("/" if p.endswith("/") else ""))

    return ignored


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int | None, str | None, str, str]] = set()
    out: list[Finding] = []
    for f in findings:
        key = (f.file, f.line, f.obj, f.pointer, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
