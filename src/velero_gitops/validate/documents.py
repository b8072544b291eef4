"""Kubernetes objects read from files, and the file helpers every part of validate shares.

One place for what the engine, the Flux graph and the kustomize builder all need: the object type
(:class:`Obj`) with its lines, the reader that turns files into objects (yamlsafe's line-tracking
libyaml loader: libyaml is the parser Go YAML was ported from, so Kubernetes and Flux read what it
reads), and path helpers (repository root, display path).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from velero_gitops import goregexp
from velero_gitops.config.loader import display
from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.safefile import DEFAULT_LIMIT, Decoded, FileRefused, decode, read_bytes
from velero_gitops.validate.yamlload import Doc, YAMLError, line_of, load_all
from velero_gitops.yamlsafe import LDict
from velero_gitops.yamlsafe import dig as dig  # re-exported: the typed accessors live in yamlsafe
from velero_gitops.yamlsafe import mapping as mapping
from velero_gitops.yamlsafe import sequence as sequence

define("yaml", "error", "a file that is not valid YAML, as Go YAML reads it")
# the top-level keys of an object, on a text YAML refused (RE2: linear in the file)
_CLAIMS_API_VERSION = goregexp.linear(r"(?m)^[\"']?apiVersion[\"']?[ \t]*:")
_CLAIMS_KIND = goregexp.linear(r"(?m)^[\"']?kind[\"']?[ \t]*:")
UTF16_DOCUMENTS = define("yaml.utf16-documents", "error", "a UTF-16 file of several YAML documents: kustomize, and so "
                         "Flux, reads only the first; the others are silently never applied")
define("yaml.git-crypt", "warning", "a file encrypted with git-crypt in a locked checkout: not checked")
define("schema", "error", "an object that its JSON schema refuses (strict: unknown fields are errors)")

YAML_SUFFIXES = (".yaml", ".yml")
# The file names kustomize looks for in a directory, in its order
# (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/konfig/general.go RecognizedKustomizationFileNames).
KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def find_kfile(d: Path, isfile: Callable[[Path], bool] = os.path.isfile) -> Path | None:
    """THE kustomization-file lookup: the first of KUSTOMIZE_FILES that is a regular file in ``d`` (kustomize's
    order), None when ``d`` has none (Flux then generates one: fluxcd/pkg kustomize_generator.go). ``isfile``: the
    view the caller reads the files through (validate.treeview: the disk, or render's planned tree)."""
    return next((d / n for n in KUSTOMIZE_FILES if isfile(d / n)), None)


def kfile_name(filenames: Iterable[str]) -> str | None:
    """The same lookup on a folder's listing (``os.walk``'s filenames), where the names are already known."""
    present = set(filenames)
    return next((n for n in KUSTOMIZE_FILES if n in present), None)
# A mapping read from a file: its values have whatever shape the YAML gave them (hostile YAML has any).
YamlMap = dict[str, Any]


@dataclass
class Obj:
    """One Kubernetes object read from a file."""

    file: str  # display path
    path: Path | None  # real path (None for stdin)
    index: int  # document index in the file
    data: YamlMap  # the object (sops block removed)
    line: int  # line where the document starts
    encrypted: bool = False  # had a top-level sops block
    _lined: YamlMap | None = None  # the document, when the object is an item of a `kind: List`
    eff_ns: str | None = None  # namespace from kustomize `namespace:` / Flux targetNamespace when not in the file
    sub: str = ""  # pointer of the object inside its document ("/items/3" for an item of a `kind: List`)

    # the graph asks these of every object many times: a string as read is returned as it is (no str() call)
    @property
    def kind(self) -> str:
        k = self.data.get("kind", "")
        return k if type(k) is str else str(k)

    @property
    def api_version(self) -> str:
        v = self.data.get("apiVersion", "")
        return v if type(v) is str else str(v)

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

    def lined(self) -> YamlMap:
        """The whole document with its lines (for an item of a `kind: List`, the List)."""
        return self.data if self._lined is None else self._lined

    def line_of(self, pointer: str) -> int:
        return line_of(self.lined(), self.sub + pointer, self.line)

    def finding(self, pointer: str, message: str, rule: str, severity: str = "error") -> Finding:
        # a document without a kind is not an object: no "Kind/namespace/name" for it
        return Finding(self.file, self.line_of(pointer), self.ident if self.kind else None, pointer, message, rule, severity)


# --------------------------------------------------------------------------------------------------
# Paths


def display_path(p: Path) -> str:
    """Relative to the working directory when inside it, else absolute: the same file reads the same wherever it is."""
    return display(Path(p).absolute())


def inside(p: Path, root: Path | None) -> bool:
    """``p`` is ``root`` or below it (anything is inside no root). Compared as text, which for two absolute paths
    is what ``root in p.parents`` decides, without making a Path per parent (the build planner asks thousands)."""
    if root is None or p == root:
        return True
    if not (p.is_absolute() and root.is_absolute()):
        return root in p.parents
    r = str(root)
    return str(p).startswith(r if r.endswith("/") else r + "/")


def is_root_folder(d: Path) -> bool:
    """``d`` holds ``.git``, ``.sops.yaml`` or ``kubernetes/``: a repository root."""
    return os.path.exists(d / ".git") or os.path.isfile(d / ".sops.yaml") or os.path.isdir(d / "kubernetes")


def find_root(start: Path) -> Path | None:
    """The nearest ancestor holding ``.git``, ``.sops.yaml`` or ``kubernetes/``: the repository root (Run.find_root
    answers it for a whole run, each folder looked at once)."""
    for d in [start, *start.parents]:
        if is_root_folder(d):
            return d
    return None


def is_list(data: object) -> bool:
    """A ``FooList`` with ``items``, which kustomize (and so Flux) replaces by its items
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/resource/factory.go inlineAnyEmbeddedLists)."""
    return (isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"].endswith("List")
            and isinstance(data.get("items"), list))


def list_items(data: YamlMap, pointer: str = "", depth: int = 0) -> Iterator[tuple[str, YamlMap]]:
    """(pointer, item) of every object a list holds, nested lists inlined as kustomize does."""
    for j, item in enumerate(data.get("items") or []):
        if not isinstance(item, dict):
            continue
        sub = f"{pointer}/items/{j}"
        if is_list(item) and depth < 32:
            yield from list_items(item, sub, depth + 1)
        else:
            yield sub, item


# --------------------------------------------------------------------------------------------------
# Parsing


def resource_documents(encoding: str, docs: list[Doc]) -> tuple[list[Doc], list[Doc]]:
    """(the documents of a file that kustomize reads as a resource, those holding something it never reads), from the
    file's encoding (safefile.Decoded) and its documents.

    kustomize's reader replaces "\\r\\n" and splits documents with a regexp over the raw bytes, then decodes each
    chunk with Go YAML and takes its first document (kubernetes-sigs/kustomize@kyaml/v0.20.1:kyaml/kio/byteio_reader.go
    ByteReader.Read, splitDocuments); Flux's generator reads a folder's files with it too
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests, rf.SliceFromBytes). Only Go YAML
    decodes UTF-16 (safefile.decode): in its bytes no "\\n---" matches, so a UTF-16 file is one chunk and only
    its first document is read."""
    if encoding == "utf-8":
        return docs, []
    return docs[:1], [d for d in docs[1:] if d.data is not None]


def _claims_object(text: str) -> bool:
    """The text names an object (top-level apiVersion and kind), whatever YAML made of it."""
    return bool(_CLAIMS_API_VERSION.search(text) and _CLAIMS_KIND.search(text))


def first_document(text: str) -> object:
    """Data of the first document (None for an empty file). Raises ``yamlload.YAMLError``."""
    docs = load_all(text)
    return docs[0].data if docs else None


# --------------------------------------------------------------------------------------------------
# Reading


def unsafe_for_kubectl(exc: Exception) -> str | None:
    """Why a refused file must not be handed to kubectl, or None when kubectl may read it (it only
    fails on invalid YAML or text it cannot decode, as a generator input may legitimately be)."""
    if isinstance(exc, FileRefused):
        return exc.problem if exc.kind in ("outside-root", "not-regular", "too-large") else None
    if isinstance(exc, YAMLError):
        return exc.message if exc.limit else None
    return None


class Reader:
    """Reads files into objects; a file that cannot be read or parsed is a finding and a failed unit."""

    def __init__(self, repo_root: str | None = None, source: Callable[[Path, str], Decoded] | None = None) -> None:
        self.repo_root = repo_root
        # (path, shown) -> decoded text: the run's one read of a file (validate.run.Run.decoded); safefile's when not
        # given
        self.source = source or (lambda p, shown: decode(read_bytes(p, root=self.repo_root, shown=shown), shown))
        self.findings: list[Finding] = []
        self.objects: list[Obj] = []
        self.failed_units = 0
        self.duplicates: list[tuple[str, Obj | None, int, str, object]] = []  # (file, obj, line, pointer, key): reported once namespaces are known
        # findings that stand only when something applies the file (judged once that is known): a list
        # or scalar document, or a file that is no YAML to us (a Helm template, a Go-templated helmfile, a tool's
        # own tags such as recyclarr's !env_var); otherwise it is another tool's file
        self.unless_stray: list[tuple[Finding, Path | None]] = []
        # files YAML refused (or UTF-16 files of several documents) whose text still names an object (top-level
        # apiVersion and kind): a broken manifest, which a tree with no applier (plain manifests, validated
        # kubeconform-style) reports
        self.claims_object: set[Path] = set()
        # files that must never reach kubectl (no alias budget, no depth limit there, and a FIFO
        # would block it): path -> why; None for a file read within the limits
        self.verdicts: dict[Path, str | None] = {}

    def read(self, display: str, path: Path | None, decoded: Decoded | None = None) -> None:
        """Read a file (``decoded``: its content, when already read) into objects and findings."""
        if decoded is not None:
            pass
        elif path is None:  # stdin: bytes through the files' limit and decoding (safefile)
            data = sys.stdin.buffer.read(DEFAULT_LIMIT + 1)
            try:
                if len(data) > DEFAULT_LIMIT:
                    raise FileRefused(display, f"more than {DEFAULT_LIMIT} bytes; not read", "too-large")
                decoded = decode(data, display)
            except FileRefused as exc:
                self.findings.append(Finding(display, exc.line, None, "", exc.problem, "yaml"))
                self.failed_units += 1
                return
        else:
            try:
                decoded = self.source(path, display)
            except FileRefused as exc:
                crypt = exc.kind == "git-crypt"
                self.findings.append(Finding(display, exc.line, None, "", exc.problem, "yaml.git-crypt" if crypt else "yaml",
                                             "warning" if crypt else "error"))
                self.failed_units += 1
                self.verdicts[path] = unsafe_for_kubectl(exc)
                return
        if path is not None:
            self.verdicts[path] = None
        text = decoded.text
        if path is not None and path.name in KUSTOMIZE_FILES:
            # kustomize's own config: its fields are checked by the kustomize build, but YAML that no
            # reader accepts is wrong for every consumer, even for a kustomization no build reaches
            try:
                load_all(text)
            except YAMLError as exc:
                self.findings.append(Finding(display, exc.line, None, "", exc.message, "yaml"))
                self.failed_units += 1
                self.verdicts[path] = unsafe_for_kubectl(exc)
            return
        try:
            docs = load_all(text)
        except YAMLError as exc:
            finding = Finding(display, exc.line, None, "", exc.message, "yaml")
            if path is not None:
                self.verdicts[path] = unsafe_for_kubectl(exc)
            if path is not None and not exc.limit:
                # only what something applies, or what kustomize reads, is a manifest: a Helm chart's template (whose
                # `{{ .Release.Namespace }}` parses as a flow-mapping key), a Go-templated helmfile, a tool's config
                # with its own tags are judged once that is known; a file refused by a budget is reported wherever
                self.unless_stray.append((finding, path))
                if _claims_object(text):
                    self.claims_object.add(path)
            else:
                self.findings.append(finding)
                self.failed_units += 1
            return
        docs, unread = resource_documents(decoded.encoding, docs)
        if unread:
            # what Flux applies, whether or not validate runs kustomize (--kustomize never): a finding wherever the
            # file is applied, or, in a tree with no applier, where its text names an object
            n = len(unread)
            self.unless_stray.append((Finding(
                display, unread[0].line, None, "",
                f"the file is UTF-16, so kustomize, and Flux, read only its first YAML document (documents are split "
                f"on the bytes before decoding); the {n} document{'s' if n > 1 else ''} from here on "
                f"{'are' if n > 1 else 'is'} never applied: save the file as UTF-8", UTF16_DOCUMENTS), path))
            if path is not None and _claims_object(text):
                self.claims_object.add(path)
        for doc in docs:
            if doc.data is None:
                continue
            obj = self._add(display, path, doc.index, doc.data, doc.line)
            for line, pointer, key in doc.duplicates:
                self.duplicates.append((display, obj, line, pointer, key))

    def _add(self, display: str, path: Path | None, index: int, data: object, line: int) -> Obj | None:
        if not isinstance(data, dict):
            self.unless_stray.append((Finding(display, line, None, "", "document is not a mapping (expected a Kubernetes "
                                              "object)", "schema"), path))
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
        if is_list(data):
            # `kind: List` (e.g. `velero install --dry-run -o yaml`), a SecretList...: every item is an object
            first = None
            for sub, item in list_items(data):
                obj = Obj(display, path, index, item, getattr(item, "line", None) or start, encrypted, sub=sub)
                obj._lined = data
                self.objects.append(obj)
                first = first or obj
            return first
        obj = Obj(display, path, index, data, start, encrypted)
        self.objects.append(obj)
        return obj
