"""Kubernetes objects read from files, and the file helpers every part of validate shares.

One place for what the engine, the Flux graph and the kustomize builder all need: the object type
(:class:`Obj`) with its lines, the two YAML paths (yaml-rs when it is installed and the text is
unambiguous, else the line-tracking libyaml loader), the reader that turns files into objects, and
path helpers (repository root, display path).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from velero_gitops.config.loader import display
from velero_gitops.findings import Finding
from velero_gitops.safefile import DEFAULT_LIMIT, FileRefused, read_text
from velero_gitops.validate.yamlload import YAMLError, line_of, load_all
from velero_gitops.yamlsafe import LDict, LList, json_shaped, unlimited_parser_may_read

YAML_SUFFIXES = (".yaml", ".yml")
# The file names kustomize looks for in a directory, in its order
# (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/konfig/general.go RecognizedKustomizationFileNames).
KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


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
                docs = [d for d in load_all(self.chunk) if d.data is not None]
                data = docs[0].data if docs else self.data
                _shift_lines(data, self.chunk_line - 1)
                if isinstance(data, dict):
                    data.pop("sops", None)
                self._lined = data
        return self._lined

    def line_of(self, pointer: str) -> int:
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
        if isinstance(n, LDict):
            n.line += offset
            for k in n.lines:
                n.lines[k] += offset
        elif isinstance(n, LList):
            n.line += offset
            n.lines[:] = [x + offset for x in n.lines]
        if isinstance(n, dict):
            stack.extend(v for v in n.values() if isinstance(v, (dict, list)))
        elif isinstance(n, list):
            stack.extend(v for v in n if isinstance(v, (dict, list)))


# --------------------------------------------------------------------------------------------------
# Paths


def display_path(p: Path) -> str:
    """Relative to the working directory when inside it, else absolute: the same file reads the same wherever it is."""
    return display(Path(p).absolute())


def inside(p: Path, root: Path | None) -> bool:
    """``p`` is ``root`` or below it (anything is inside no root)."""
    return root is None or p == root or root in p.parents


def find_root(start: Path) -> Path | None:
    """The nearest ancestor holding ``.git``, ``.sops.yaml`` or ``kubernetes/``: the repository root."""
    for d in [start, *start.parents]:
        if (d / ".git").exists() or (d / ".sops.yaml").is_file() or (d / "kubernetes").is_dir():
            return d
    return None


def git_toplevel(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        if (d / ".git").exists():
            return d
    return None


def mapping(d: Any, key: str) -> dict:
    """``d[key]`` when ``d`` is a mapping holding a mapping there, else an empty dict (hostile YAML has any shape)."""
    value = d.get(key) if isinstance(d, dict) else None
    return value if isinstance(value, dict) else {}


def dig(d, *keys):
    """``d[k1][k2]...``, None as soon as a level is not a mapping."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


# --------------------------------------------------------------------------------------------------
# Parsing


# Plain scalars that YAML 1.1 (PyYAML, and Kubernetes' go-yaml) and YAML 1.2 (yaml-rs) read
# differently: yes/no/on/off, octal, binary, sexagesimal, underscores, exponent floats; merge keys,
# tags and directives. A file with any of them takes the libyaml path.
_RISKY = re.compile(
    r"(?:[:-][ \t]+|[\[,][ \t]*)(?:(?:[yY]es|YES|[nN]o|NO|[oO]n|ON|[oO]ff|OFF)[ \t]*(?:$|[,\]}#])"
    r"|[-+]?(?:0[0-9_bBoOxX]|[0-9][0-9_]*(?:_|:[0-5]?[0-9]|[.0-9]*[eE])))",
    re.M,
)
_TAG = re.compile(r"(?:^|[\s:\[,-])!", re.M)
# An explicit key (`? `) or a flow collection before `:` may be a mapping or a list used as a key:
# yaml-rs reads it (as a tuple), libyaml's path refuses it with a line, as Kubernetes does.
_COMPLEX_KEY = re.compile(r"(?:^|[\s\[{,-])\?(?:[ \t]|$)|[\]}][ \t]*:(?:[ \t]|$)", re.M)


def _risky(text: str) -> bool:
    if "<<" in text or text.startswith("%") or "\n%" in text or ("!" in text and _TAG.search(text)):
        return True
    if ("?" in text or "]" in text or "}" in text) and _COMPLEX_KEY.search(text):
        return True
    return _RISKY.search(text) is not None


_DOC_SPLIT = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.M)

_yaml_rs: Any
try:  # optional speed-up
    import yaml_rs as _yaml_rs
except ImportError:  # pragma: no cover - exercised on machines without yaml-rs
    _yaml_rs = None


def fast_docs(text: str):
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
        if not json_shaped(data):  # deep flow nesting or a key that is not a string (`1:`, `true:`):
            return None  # the libyaml path reports the one with a line and turns the other into text
        if data is not None:
            out.append((data, line, chunk))
        line += chunk.count("\n")
    return out


def first_document(text: str):
    """Data of the first document (no line information): the fast parser when it can, else libyaml.

    Raises ``yamlload.YAMLError`` on invalid YAML.
    """
    fast = fast_docs(text)
    if fast is not None:
        return fast[0][0] if fast else None
    docs = load_all(text)
    return docs[0].data if docs else None


def _has_content(body: str) -> bool:
    return any(ln.strip() and not ln.lstrip().startswith("#") for ln in body.splitlines())


# --------------------------------------------------------------------------------------------------
# Reading


class Reader:
    """Reads files into objects; a file that cannot be read or parsed is a finding and a failed unit."""

    def __init__(self, repo_root: str | None = None):
        self.repo_root = repo_root
        self.findings: list[Finding] = []
        self.objects: list[Obj] = []
        self.failed_units = 0
        self.duplicates: list[tuple] = []  # (file, obj, line, pointer, key): reported once namespaces are known
        self.non_mappings: list[tuple[str, Path | None, int | None]] = []  # judged once we know what is applied

    def read(self, display: str, path: Path | None) -> None:
        if path is None:
            text = sys.stdin.read(DEFAULT_LIMIT + 1)
            if len(text) > DEFAULT_LIMIT:
                self.findings.append(Finding(display, None, None, "", f"more than {DEFAULT_LIMIT} characters; not read", "yaml"))
                self.failed_units += 1
                return
        else:
            try:
                text = read_text(path, root=self.repo_root, shown=display)
            except FileRefused as exc:
                self.findings.append(Finding(display, exc.line, None, "", exc.problem, "yaml"))
                self.failed_units += 1
                return
        if path is not None and path.name in KUSTOMIZE_FILES:
            # kustomize's own config: its fields are checked by the kustomize build, but YAML that no
            # reader accepts is wrong for every consumer, even for a kustomization no build reaches
            try:
                load_all(text)
            except YAMLError as exc:
                self.findings.append(Finding(display, exc.line, None, "", exc.message, "yaml"))
                self.failed_units += 1
            return
        fast = fast_docs(text)
        if fast is not None:
            for i, (data, line, chunk) in enumerate(fast):
                self._add(display, path, i, data, line, chunk)
            return
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
            if isinstance(old, LDict) and isinstance(data, LDict):
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
