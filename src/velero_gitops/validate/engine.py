"""Validate files, directories and stdin: YAML, schemas (strict), kustomize builds, Flux graph, policy.

Library API::

    from velero_gitops.validate.engine import Options, validate_paths
    result = validate_paths(["kubernetes/"], Options())
    result.findings, result.passed, result.failed, result.skipped

Fast path: every file is split into documents and parsed by a Rust YAML parser (yaml-rs) when it
is installed and the file holds no scalar that YAML 1.1 (what Kubernetes reads) and YAML 1.2
resolve differently; each object is checked with a compiled validator (jsonschema-rs). Only an
object with problems is parsed again by the line-tracking loader to find the line of each
problem. Everything else (libyaml parse, kustomize, graph, policy) needs no second pass.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from velero_gitops.errors import UsageError
from velero_gitops.validate import flux, kustomize, policy
from velero_gitops.validate.documents import KUSTOMIZE_FILES, YAML_SUFFIXES, Reader, display_path
from velero_gitops.validate.findings import Finding
from velero_gitops.validate.run import Options, Run
from velero_gitops.validate.schemas import SchemaError, SchemaStore, schema_findings


@dataclass
class Result:
    findings: list[Finding]
    passed: int
    failed: int
    skipped: int


# --------------------------------------------------------------------------------------------------
# Reading


def ignore_matcher(patterns: Iterable[str]):
    """A predicate on paths from kubeconform-style ``--ignore-filename-pattern`` regexes (searched, not anchored)."""
    compiled = []
    for pat in patterns:
        try:
            compiled.append(re.compile(pat))
        except re.error as exc:
            raise UsageError(f"--ignore-filename-pattern {pat!r}: invalid regular expression: {exc}") from None
    if not compiled:
        return lambda _p: False
    return lambda p: any(c.search(p) for c in compiled)


def discover(paths: Iterable[str], ignore=None, resolve=Path.resolve) -> tuple[list[tuple[str, Path | None]], list[Path]]:
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
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                d = Path(dirpath)
                dirnames[:] = [x for x in dirnames if not ignore(str(d / x) + "/")]
                kf = next((d / f for f in KUSTOMIZE_FILES if f in filenames), None)
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
        elif p.is_file() or os.path.lexists(p):  # a FIFO or device: the reader refuses it, located
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
    opts = options or Options()
    paths = list(paths)
    run = Run(opts)
    rpath = run.real
    files, kdirs = discover(paths, ignore_matcher(opts.ignore_filename_patterns), rpath)
    findings: list[Finding] = []
    # files that kustomizations read as generator/patch/replacement inputs are not objects, wherever they sit
    inputs, kresources = kustomize.input_files(kdirs, run)
    reader = Reader(opts.repo_root)
    for display, path in files:
        if path is not None and inputs and rpath(path) in inputs:
            continue
        reader.read(display, path)
    findings.extend(reader.findings)
    objects = reader.objects

    graph = None
    if opts.flux or any(not o.namespace for o in objects) or kdirs:
        graph = flux.Graph(objects, run)
        for o in objects:
            if not o.namespace:
                o.eff_ns = graph.ns_of(o)

    for display, obj, line, pointer, key in reader.duplicates:
        findings.append(Finding(display, line, obj.ident if obj is not None and obj.kind else None, pointer,
                                f"duplicate key {key!r}", "yaml.duplicate-key"))

    store = SchemaStore(opts.schema_locations, cache_dir=opts.cache_dir,
                        k8s_version=opts.kubernetes_version, strict=opts.strict)
    skip = {k.strip() for k in opts.skip_kinds if k.strip()}
    failed_objs: set[int] = set()
    skipped_objs: set[int] = set()
    ignored: set[int] = set()
    # a YAML file that nothing applies (helmfile, Talos config, Taskfile, chart values) is not an
    # object when it does not claim to be one; a file that Flux or a kustomization applies must be
    applied = set(graph.applied_by) | kresources if graph is not None else kresources
    has_context = bool(kdirs) or bool(graph is not None and graph.roots)
    # what Flux applies is the build output: objects of files that a successful build emitted are
    # validated there (after the kustomization's patches, components and namespace), not on their own
    built: set[Path] = set()
    if opts.kustomize != "never" and kdirs:
        scan_roots = [p for p in paths if p != "-" and Path(p).is_dir()]
        kfind, kfailed, built = kustomize.check_dirs(kdirs, objects, store, run, skip, graph=graph, scan_roots=scan_roots)
        findings.extend(kfind)
        reader.failed_units += kfailed
    for i, obj in enumerate(objects):
        av, kind = obj.data.get("apiVersion"), obj.data.get("kind")
        if not isinstance(av, str) or not isinstance(kind, str) or not av or not kind:
            if (av is None and kind is None and obj.path is not None and has_context
                    and not obj.file.startswith("-") and rpath(obj.path) not in applied):
                ignored.add(i)
                continue
            missing = "apiVersion" if not isinstance(av, str) or not av else "kind"
            findings.append(obj.finding("", f"missing '{missing}': not a Kubernetes object", "schema"))
            failed_objs.add(i)
            continue
        if kind in skip or f"{av}/{kind}" in skip:
            skipped_objs.add(i)
            continue
        try:
            validator = store.validator(av, kind)
        except SchemaError as exc:
            findings.append(obj.finding("", str(exc), "schema.error"))
            failed_objs.add(i)
            continue
        if validator is None:
            if opts.ignore_missing_schemas:
                skipped_objs.add(i)
            else:
                findings.append(obj.finding("/kind", store.missing_message(av, kind), "schema.missing"))
                failed_objs.add(i)
            continue
        if built and obj.path is not None and rpath(obj.path) in built:
            continue
        if not validator.is_valid(obj.data):
            fs = schema_findings(obj, validator)
            findings.extend(fs)
            if fs:
                failed_objs.add(i)

    extra_units = reader.failed_units

    if opts.flux:
        findings.extend(flux.check(graph, objects))
    if opts.policy:
        findings.extend(policy.check(objects, opts))

    findings = _dedupe(findings)
    # an object fails when any error finding names it
    by_obj: dict[tuple[str, str], int] = {}
    for i, obj in enumerate(objects):
        by_obj.setdefault((obj.file, obj.ident), i)
    for f in findings:
        if f.severity == "error" and f.obj is not None and (f.file, f.obj) in by_obj:
            failed_objs.add(by_obj[(f.file, f.obj)])
    skipped_objs -= failed_objs
    ignored -= failed_objs
    failed = len(failed_objs) + extra_units
    passed = len(objects) - len(failed_objs) - len(skipped_objs) - len(ignored)
    findings.sort(key=lambda f: (f.file, f.line or 0, f.pointer, f.message))
    return Result(findings, passed, failed, len(skipped_objs))


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen = set()
    out = []
    for f in findings:
        key = (f.file, f.line, f.obj, f.pointer, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
