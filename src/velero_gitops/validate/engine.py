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

import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from velero_gitops.safefile import DEFAULT_LIMIT, FileRefused, read_text
from velero_gitops.validate.findings import Finding
from velero_gitops.yamlsafe import deeper_than, unlimited_parser_may_read

YAML_SUFFIXES = (".yaml", ".yml")
KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


# The source `flux bootstrap` creates (GitRepository) and the one flux-operator's FluxInstance sync creates
# (OCIRepository, or GitRepository) for the repository itself: both are named flux-system in flux-system.
DEFAULT_REPO_SOURCES = ("GitRepository/flux-system/flux-system", "OCIRepository/flux-system/flux-system")


@dataclass
class Options:
    schema_locations: list[str] = field(default_factory=list)  # empty = ["default"]
    cache_dir: str | None = None
    kubernetes_version: str = ""  # empty = the bundle's version
    strict: bool = True
    ignore_missing_schemas: bool = False
    skip_kinds: list[str] = field(default_factory=list)
    # resolved files that skip, ignore_missing_schemas and ignore_filename_patterns never apply to (check:
    # the files the tool renders)
    strict_files: frozenset[Path] = frozenset()
    repo_root: str | None = None
    externals: list[str] = field(default_factory=list)  # "Kind/namespace/name" that exist outside the tree
    # the Flux source(s) holding this repository: Kustomization paths that read it are checked on disk
    repo_sources: list[str] = field(default_factory=lambda: list(DEFAULT_REPO_SOURCES))
    no_cross_namespace_refs: bool = False  # the controllers' --no-cross-namespace-refs lockdown
    kustomize: str = "auto"  # auto (when kubectl is on PATH) | always | never
    kustomize_cache: bool = True  # reuse kustomize builds keyed on the content they read
    ignore_filename_patterns: list[str] = field(default_factory=list)  # regexes (kubeconform's -ignore-filename-pattern)
    flux: bool = True
    policy: bool = True
    # policy knobs
    allow_http_s3: bool = False
    allow_s3_path: bool = False
    allow_insecure_tls: bool = False
    node_agent_cpu_limit: str = "500m"
    node_agent_memory_limit: str = "500Mi"
    plaintext_secrets: bool = True  # the generic "forbid unencrypted secrets" rule (check leaves it to secret_check)
    kopia_memory_warning: bool = True  # warn when node-agent memory is limited below what kopia needs on big volumes
    stdin_text: str | None = None  # used for "-" (tests); None = read sys.stdin


@dataclass
class Result:
    findings: list[Finding]
    passed: int
    failed: int
    skipped: int

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


@dataclass
class Obj:
    """One Kubernetes object read from a file."""

    file: str  # display path
    path: Path | None  # real path (None for stdin)
    index: int  # document index in the file
    data: dict  # the object (sops block removed)
    line: int  # line where the document starts
    chunk: str | None = None  # document text (fast path), for the lazy line pass
    chunk_line: int = 1
    encrypted: bool = False  # had a top-level sops block
    _lined: object = None
    eff_ns: str | None = None  # namespace from kustomize `namespace:` / Flux targetNamespace when not in the file
    sub: str = ""  # pointer of the object inside its document ("/items/3" for an item of a `kind: List`)

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    @property
    def name(self) -> str:
        md = self.data.get("metadata")
        return str(md.get("name", "")) if isinstance(md, dict) else ""

    @property
    def namespace(self) -> str:
        md = self.data.get("metadata")
        ns = str(md.get("namespace", "") or "") if isinstance(md, dict) else ""
        return ns or self.eff_ns or ""

    @property
    def ident(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    def lined(self):
        """The whole document with line information (parsed again on demand on the fast path)."""
        if self._lined is None:
            if self.chunk is None:
                self._lined = self.data
            else:
                from velero_gitops.validate.yamlload import load_all

                docs = [d for d in load_all(self.chunk) if d.data is not None]
                data = docs[0].data if docs else self.data
                _shift_lines(data, self.chunk_line - 1)
                if isinstance(data, dict):
                    data.pop("sops", None)
                self._lined = data
        return self._lined

    def line_of(self, pointer: str) -> int:
        from velero_gitops.validate.yamlload import line_of

        return line_of(self.lined(), self.sub + pointer, self.line)

    def finding(self, pointer: str, message: str, rule: str, severity: str = "error") -> Finding:
        # a document without a kind is not an object: no "Kind/namespace/name" for it
        return Finding(self.file, self.line_of(pointer), self.ident if self.kind else None, pointer, message, rule, severity)


def _shift_lines(node, offset: int) -> None:
    if not offset:
        return
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if hasattr(n, "lines"):
                n.line += offset
                for k in n.lines:
                    n.lines[k] += offset
            stack.extend(v for v in n.values() if isinstance(v, (dict, list)))
        elif isinstance(n, list):
            if hasattr(n, "lines"):
                n.line += offset
                n.lines[:] = [x + offset for x in n.lines]
            stack.extend(v for v in n if isinstance(v, (dict, list)))


# --------------------------------------------------------------------------------------------------
# Reading


@functools.lru_cache(maxsize=None)
def rpath(p: Path) -> Path:
    """``p.resolve()``, memoized (the graph asks for the same files many times)."""
    return p.resolve()


def display_path(p: Path) -> str:
    """Relative to the working directory when inside it, else absolute: the same file reads the same wherever it is."""
    from velero_gitops.loader import display

    return display(Path(p).absolute())


def ignore_matcher(patterns: Iterable[str]):
    """A predicate on paths from kubeconform-style ``--ignore-filename-pattern`` regexes (searched, not anchored)."""
    from velero_gitops.errors import UsageError

    compiled = []
    for pat in patterns:
        try:
            compiled.append(re.compile(pat))
        except re.error as exc:
            raise UsageError(f"--ignore-filename-pattern {pat!r}: invalid regular expression: {exc}") from None
    if not compiled:
        return lambda _p: False
    return lambda p: any(c.search(p) for c in compiled)


def discover(paths: Iterable[str], ignore=None) -> tuple[list[tuple[str, Path | None]], list[Path], list[Finding]]:
    """(files to read, kustomization dirs, usage findings). '-' is stdin. ``ignore(path)`` drops files and folders."""
    ignore = ignore or (lambda _p: False)
    files: list[tuple[str, Path | None]] = []
    kdirs: list[Path] = []
    problems: list[Finding] = []
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
                    real = rpath(fp)
                    if real not in seen:
                        seen.add(real)
                        files.append((display_path(fp), fp))
        elif p.is_file() or os.path.lexists(p):  # a FIFO or device: the reader refuses it, located
            if ignore(raw):
                continue
            if rpath(p) not in seen:
                seen.add(rpath(p))
                files.append((display_path(p) if p.is_absolute() else raw, p))
        else:
            from velero_gitops.errors import UsageError

            raise UsageError(f"{raw}: no such file or directory")
    return files, kdirs, problems


# Plain scalars that YAML 1.1 (PyYAML, and Kubernetes' go-yaml) and YAML 1.2 (yaml-rs) read
# differently: yes/no/on/off, octal, binary, sexagesimal, underscores, exponent floats; merge keys,
# tags and directives. A file with any of them takes the libyaml path.
_RISKY = re.compile(
    r"(?:[:-][ \t]+|[\[,][ \t]*)(?:(?:[yY]es|YES|[nN]o|NO|[oO]n|ON|[oO]ff|OFF)[ \t]*(?:$|[,\]}#])"
    r"|[-+]?(?:0[0-9_bBoOxX]|[0-9][0-9_]*(?:_|:[0-5]?[0-9]|[.0-9]*[eE])))",
    re.M,
)
_TAG = re.compile(r"(?:^|[\s:\[,-])!", re.M)


def _risky(text: str) -> bool:
    if "<<" in text or text.startswith("%") or "\n%" in text or ("!" in text and _TAG.search(text)):
        return True
    return _RISKY.search(text) is not None


_DOC_SPLIT = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.M)

try:  # optional speed-up
    import yaml_rs as _yaml_rs  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - exercised on machines without yaml-rs
    _yaml_rs = None


def _fast_docs(text: str):
    """[(data, start line, chunk)] via yaml-rs, or None when the file needs the libyaml path."""
    if _yaml_rs is None or _risky(text) or not unlimited_parser_may_read(text):
        return None
    out = []
    pos = 0
    line = 1
    starts = [(m.start(), m.group(0)) for m in _DOC_SPLIT.finditer(text)]
    bounds = []
    for start, marker in starts:
        bounds.append((pos, start))
        pos = start + 3 if marker == "..." else start  # keep '---' in the next chunk
    bounds.append((pos, len(text)))
    for a, b in bounds:
        chunk = text[a:b]
        if not chunk.strip():
            line += chunk.count("\n")
            continue
        body = chunk[3:] if chunk.startswith("---") else chunk
        if not body.strip() or body.lstrip(" \t").startswith("#") and not _has_content(body):
            line += chunk.count("\n")
            continue
        try:
            data = _yaml_rs.loads(body, parse_datetime=False)
        except Exception:  # noqa: BLE001 - any problem: let libyaml report it with a line
            return None
        if isinstance(data, list) and len(data) > 1 and _DOC_SPLIT.search(body):  # pragma: no cover
            return None
        if deeper_than(data):  # flow nesting yaml-rs accepts: libyaml reports it with a line
            return None
        if data is not None:
            out.append((data, line, chunk))
        line += chunk.count("\n")
    return out


def first_document(text: str):
    """Data of the first document (no line information): the fast parser when it can, else libyaml.

    Raises ``yamlload.YAMLError`` on invalid YAML.
    """
    fast = _fast_docs(text)
    if fast is not None:
        return fast[0][0] if fast else None
    from velero_gitops.validate.yamlload import load_all

    docs = load_all(text)
    return docs[0].data if docs else None


def _has_content(body: str) -> bool:
    return any(ln.strip() and not ln.lstrip().startswith("#") for ln in body.splitlines())


class _Reader:
    def __init__(self, opts: Options):
        self.opts = opts
        self.findings: list[Finding] = []
        self.objects: list[Obj] = []
        self.failed_units = 0
        self.duplicates: list[tuple] = []  # (file, obj, line, pointer, key): reported once namespaces are known
        self.non_mappings: list[tuple[str, Path | None, int | None]] = []  # judged once we know what is applied

    def read(self, display: str, path: Path | None) -> None:
        if path is None:
            text = self.opts.stdin_text if self.opts.stdin_text is not None else sys.stdin.read(DEFAULT_LIMIT + 1)
            if len(text) > DEFAULT_LIMIT:
                self.findings.append(Finding(display, None, None, "", f"more than {DEFAULT_LIMIT} characters; not read", "yaml"))
                self.failed_units += 1
                return
        else:
            try:
                text = read_text(path, root=self.opts.repo_root, shown=display)
            except FileRefused as exc:
                self.findings.append(Finding(display, exc.line, None, "", exc.problem, "yaml"))
                self.failed_units += 1
                return
        if path is not None and path.name in KUSTOMIZE_FILES:
            return  # kustomize's own config: checked by the kustomize build
        fast = _fast_docs(text)
        if fast is not None:
            for i, (data, line, chunk) in enumerate(fast):
                self._add(display, path, i, data, line, chunk)
            return
        from velero_gitops.validate.yamlload import YAMLError, load_all

        try:
            docs = load_all(text)
        except YAMLError as exc:
            self.findings.append(Finding(display, exc.line, None, "", exc.message, "yaml"))
            self.failed_units += 1
            return
        for doc in docs:
            if doc.data is None:
                continue
            obj = self._add(display, path, doc.index, doc.data, doc.line, None)
            for line, pointer, key in doc.duplicates:
                self.duplicates.append((display, obj, line, pointer, key))

    def _add(self, display, path, index, data, line, chunk) -> Obj | None:
        if not isinstance(data, dict):
            self.non_mappings.append((display, path, line))
            return None
        encrypted = isinstance(data.get("sops"), dict)
        if "sops" in data:
            old = data
            data = type(old)(old)
            if hasattr(old, "lines"):
                data.lines = {k: v for k, v in old.lines.items() if k != "sops"}
                data.line = old.line
            data.pop("sops")
        start = getattr(data, "line", None) or line
        if chunk is not None:
            start = line + _first_content_offset(chunk)
        items = data.get("items")
        if data.get("kind") == "List" and data.get("apiVersion") == "v1" and isinstance(items, list):
            # `kind: List` (e.g. `velero install --dry-run -o yaml`): every item is an object
            first = None
            for j, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                obj = Obj(display, path, index, item, getattr(item, "line", None) or start, chunk, line, encrypted,
                          sub=f"/items/{j}")
                if chunk is None:
                    obj._lined = data
                self.objects.append(obj)
                first = first or obj
            return first
        obj = Obj(display, path, index, data, start, chunk, line, encrypted)
        if chunk is None:
            obj._lined = data
        self.objects.append(obj)
        return obj


def _first_content_offset(chunk: str) -> int:
    for i, ln in enumerate(chunk.split("\n")):
        s = ln.strip()
        if s and not s.startswith("#") and s != "---":
            return i
    return 0


# --------------------------------------------------------------------------------------------------
# Schema validation


def _pointer(path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _schema_findings(obj: Obj, validator) -> list[Finding]:
    out: list[Finding] = []
    data = obj.data
    for err in validator.iter_errors(data):
        ptr = _pointer(err.instance_path)
        kind = type(err.kind).__name__
        if kind == "AdditionalProperties":
            for key in err.kind.unexpected:
                p = ptr + "/" + str(key).replace("~", "~0").replace("/", "~1")
                out.append(obj.finding(p, "additional property not allowed", "schema"))
            continue
        if kind == "Required":
            prop = err.kind.property
            out.append(obj.finding(ptr, f"missing required property {prop!r}" if not isinstance(prop, str) else f"missing required property '{prop}'", "schema"))
            continue
        out.append(obj.finding(ptr, _message(err, kind, redact=obj.kind == "Secret"), "schema"))
    return out


def _message(err, kind: str, redact: bool = False) -> str:
    """A schema error in words; values are truncated, and never shown for a Secret."""
    inst = err.instance
    _short = _redacted if redact else _short_value
    if kind == "Type":
        types = err.kind.types if hasattr(err.kind, "types") else None
        want = "/".join(str(t) for t in types) if types else "another type"
        want = want.replace("/null", "").replace("null/", "")
        return f"expected {want}, got {_type_name(inst)} {_short(inst)}"
    if kind == "Enum":
        opts = [o for o in (err.kind.options if hasattr(err.kind, "options") else []) if o is not None]
        return f"{_short(inst)} is not one of {', '.join(repr(o) for o in opts)}" if opts else err.message
    if kind in ("OneOf", "OneOfNotValid", "AnyOf"):
        return f"{_short(inst)} does not match any allowed form"
    if redact:
        return f"{kind} error (value not shown: the object is a Secret)"
    return _short_value(err.message, 200)


def _type_name(v) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null",
            list: "array", dict: "object"}.get(type(v), "object" if isinstance(v, dict) else "array" if isinstance(v, list) else type(v).__name__)


def _short_value(v, n: int = 60) -> str:
    if isinstance(v, (dict, list)):
        return "{...}" if isinstance(v, dict) else "[...]"
    r = v if n > 60 and isinstance(v, str) else repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


def _redacted(v) -> str:
    return "{...}" if isinstance(v, dict) else "[...]" if isinstance(v, list) else f"<{_type_name(v)} value not shown>"


# --------------------------------------------------------------------------------------------------
# Entry point


def validate_paths(paths: Iterable[str], options: Options | None = None) -> Result:
    """Validate files/directories ('-' = stdin). Raises UsageError for unusable arguments."""
    from velero_gitops.validate.schemas import SchemaError, SchemaStore

    opts = options or Options()
    paths = list(paths)
    rpath.cache_clear()  # memos live for one run: the tree may change between runs
    from velero_gitops.validate.flux import _roots_for

    _roots_for.cache_clear()
    files, kdirs, findings = discover(paths, _ignore(opts))
    from velero_gitops.validate import kustomize

    # files that kustomizations read as generator/patch/replacement inputs are not objects, wherever they sit
    inputs, kresources = kustomize.input_files(kdirs)
    reader = _Reader(opts)
    for display, path in files:
        if path is not None and inputs and rpath(path) in inputs:
            continue
        reader.read(display, path)
    findings.extend(reader.findings)
    objects = reader.objects

    graph = None
    if opts.flux or any(not o.namespace for o in objects) or kdirs:
        from velero_gitops.validate.flux import graph as _graph

        opts = _guess_repo_source(objects, opts)

        graph = _graph(objects, opts)
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
        kfind, kfailed, built = kustomize.check_dirs(kdirs, objects, store, opts, skip, graph=graph, scan_roots=scan_roots)
        findings.extend(kfind)
        reader.failed_units += kfailed
    for display, path, line in reader.non_mappings:
        # a list or scalar document (an Ansible playbook, a tool's settings) that nothing applies is not ours to judge
        if path is not None and has_context and not display.startswith("-") and rpath(path) not in applied:
            continue
        findings.append(Finding(display, line, None, "", "document is not a mapping (expected a Kubernetes object)",
                                "schema"))
        reader.failed_units += 1
    for i, obj in enumerate(objects):
        if graph is not None and graph.dead(obj):
            ignored.add(i)  # a disabled app (its kustomization.yaml no longer lists it): Flux never applies it
            continue
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
        strict = obj.path is not None and rpath(obj.path) in opts.strict_files
        if (kind in skip or f"{av}/{kind}" in skip) and not strict:
            skipped_objs.add(i)
            continue
        try:
            validator = store.validator(av, kind)
        except SchemaError as exc:
            findings.append(obj.finding("", str(exc), "schema.error"))
            failed_objs.add(i)
            continue
        if validator is None:
            if opts.ignore_missing_schemas and not strict:
                skipped_objs.add(i)
            else:
                findings.append(obj.finding("/kind", store.missing_message(av, kind), "schema.missing"))
                failed_objs.add(i)
            continue
        if built and obj.path is not None and rpath(obj.path) in built:
            continue
        if not validator.is_valid(obj.data):
            fs = _schema_findings(obj, validator)
            findings.extend(fs)
            if fs:
                failed_objs.add(i)

    extra_units = reader.failed_units

    if opts.flux:
        from velero_gitops.validate import flux

        findings.extend(flux.check(objects, paths, opts, graph_=graph))
    if opts.policy:
        from velero_gitops.validate import policy

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


def _guess_repo_source(objects: list[Obj], opts: Options) -> Options:
    """With the default repository sources and no Flux Kustomization reading them, the repository is read through a
    source of another name (`flux create source git k8s-gitops ...`): take the Git/OCI/Bucket source of the tree that
    most Flux Kustomizations read. An explicit --repo-source always wins."""
    import dataclasses
    from collections import Counter

    from velero_gitops.validate.flux import FLUX_KS, SOURCE

    if list(opts.repo_sources) != list(DEFAULT_REPO_SOURCES):
        return opts
    declared = {(o.kind, o.namespace or "", o.name) for o in objects
                if o.api_version.startswith(SOURCE) and o.kind in ("GitRepository", "OCIRepository", "Bucket")}
    reads: Counter[tuple[str, str, str]] = Counter()
    for o in objects:
        ref = o.data.get("spec", {}).get("sourceRef") if o.kind == "Kustomization" and o.api_version.startswith(FLUX_KS) \
            and isinstance(o.data.get("spec"), dict) else None
        if isinstance(ref, dict) and isinstance(ref.get("kind"), str) and isinstance(ref.get("name"), str):
            reads[(ref["kind"], str(ref.get("namespace") or o.namespace or ""), ref["name"])] += 1
    if any(f"{k}/{ns}/{n}" in DEFAULT_REPO_SOURCES for k, ns, n in reads):
        return opts
    candidates = [(count, key) for key, count in reads.most_common() if key in declared]
    if not candidates:
        return opts
    kind, ns, name = candidates[0][1]
    return dataclasses.replace(opts, repo_sources=[f"{kind}/{ns}/{name}"])


def _ignore(opts: Options):
    """The ignore patterns, searched in the path as given and in the repository-relative one; never a strict file
    nor a folder on the way to one."""
    match = ignore_matcher(opts.ignore_filename_patterns)
    if not opts.ignore_filename_patterns:
        return match
    root = rpath(Path(opts.repo_root)) if opts.repo_root else None
    keep = set(opts.strict_files).union(*(f.parents for f in opts.strict_files))

    def ignored(p: str) -> bool:
        real = rpath(Path(p))
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
    seen = set()
    out = []
    for f in findings:
        key = (f.file, f.line, f.obj, f.pointer, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
