"""What kustomize builds leave in the cache between runs: the output of a build that holds no Secret, and the
verdict of every passing build (its findings and the source files it emitted), never the output of one that does.

A verdict is decided by, and keyed on:
- the build's inputs: ``Build.key`` (the content of every file copied into the mirror, its links, the generated
  kustomization), the one key the output cache uses too;
- kubectl, the sandbox and our code (``kustomize.sandbox_identity``);
- what the output check reads besides the output: the schemas (``SchemaStore.identity``), the skipped kinds, the
  postBuild variables the graph knows for the build's Flux Kustomization (their digest, not their values), and
  how a finding is located and named: the working directory, the build's folders, and the display name,
  identity and encryption of each object read from the files the build holds;
- what the policy rules look up among the run's other objects (``policy.lookups``), and the run's options.

Nothing else: an edit that no build reads (another app's folder) leaves every verdict standing.

The rest of the run needs nothing else from a build's output: the Flux graph, its duplicate and reference rules
and the policy rules read the source objects; the engine needs the covered files (not schema-checked twice), kept
as paths relative to the build's root. A verdict is stored only when no finding carries a value the build could
read as secret (the built Secrets' values, Secret data and generator inputs of its files, the postBuild
variables): such a finding is recomputed on every run instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from velero_gitops import cachebound
from velero_gitops.findings import Finding

VERSION = "verdict-v1"


def usable(d: Path) -> bool:
    """Our own, private cache directory: created 0700, never trusted when another user owns it or can write it."""
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = os.stat(d)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def read(d: Path, key: str) -> dict | None:
    """The record stored under ``key``: a JSON object in a regular file that we own and nobody else can write."""
    p = d / f"{key}.json"
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & 0o022 or not stat.S_ISREG(st.st_mode):
            return None
        cachebound.used(fd)  # least recently used goes first when the store is past its bound
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            doc = json.loads(fh.read())
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def write(d: Path, key: str, doc: dict) -> None:
    """Store ``doc`` under ``key`` (0600, written to a temporary name and renamed: a reader never sees half); the
    store stays within its size bound (cachebound)."""
    tmp = d / f"{key}.tmp{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, d / f"{key}.json")
        cachebound.written(d, d / f"{key}.json")
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def verdict_key(build_key: str, tools: str, context: object) -> str:
    """The key of a build's verdict: its inputs, the tools, and the output check's context (JSON-able)."""
    h = hashlib.sha256(f"{VERSION}\0{build_key}\0{tools}\0".encode())
    h.update(json.dumps(context, sort_keys=True, default=str).encode())
    return h.hexdigest()


def digest(values: object) -> str:
    """A digest of values that must not be written in clear (postBuild variables may come from a Secret)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def record(findings: list[Finding], covered: Iterable[Path], root: Path, built: list | None = None,
           declares: bool = True) -> dict:
    """``built``: the digests of the objects the build emitted (kustomize.built_copies), which the duplicate rule
    compares across Flux Kustomizations; ``declares``: whether its output holds a Flux Kustomization (a build the
    run may make of it needs the output itself, never stored: kustomize.declares)."""
    return {"findings": [[f.file, f.line, f.obj, f.pointer, f.message, f.rule, f.severity] for f in findings],
            "covered": sorted(p.relative_to(root).as_posix() for p in covered), "built": built or [],
            "declares": declares}


def verdict(doc: dict, root: Path) -> tuple[list[Finding], set[Path], list[tuple[str, ...]], bool] | None:
    """(findings, covered real paths, the build's copies, whether its output declares a Flux Kustomization) of a
    stored record; None when it is not one."""
    try:
        findings = [Finding(str(f), None if ln is None else int(ln), None if o is None else str(o), str(p), str(m),
                            str(r), str(s)) for f, ln, o, p, m, r, s in doc["findings"]]
        covered = {root / str(rel) for rel in doc["covered"]}
        built = [tuple(str(x) for x in e) for e in doc["built"]]  # a record older than copies has none: built again
        declares = doc.get("declares", True) is not False  # a record older than this says nothing: assume it does
    except (KeyError, TypeError, ValueError):
        return None
    return findings, covered, built, declares


def carries(findings: list[Finding], secrets: Iterable[str]) -> bool:
    """Whether any finding shows one of ``secrets`` (values of at least 4 characters, whitespace compared collapsed)."""
    values = [v for v in secrets if len(v) >= 4]
    if not values:
        return False
    for f in findings:
        text = " ".join("\0".join((f.file, f.obj or "", f.pointer, f.message)).split())
        if any(v in text for v in values):
            return True
    return False
