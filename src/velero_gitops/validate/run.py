"""One validate call: its options, and the memos that live exactly as long as the call.

A memo kept across calls would be wrong (the tree may change between two calls in one process, as it
does in the tests and in a pre-commit hook run by a long-lived runner); a memo cleared by hand is easy to
forget. Each call of ``validate_paths`` makes one :class:`Run` and hands it to the parts that need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from velero_gitops.boundary import Resolver, git_toplevel
from velero_gitops.config.units import NODE_AGENT_CPU_BUDGET, NODE_AGENT_MEMORY_BUDGET
from velero_gitops.safefile import Decoded
from velero_gitops.validate.documents import inside, is_root_folder
from velero_gitops.validate.treeview import Disk

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
    node_agent_cpu_limit: str = NODE_AGENT_CPU_BUDGET
    node_agent_memory_limit: str = NODE_AGENT_MEMORY_BUDGET
    # "cpu"/"memory" -> the config (as shown) whose velero.nodeAgent.budget set that limit (check.node_agent_budget)
    node_agent_budget_from: dict[str, str] = field(default_factory=dict)
    plaintext_secrets: bool = True  # the generic "forbid unencrypted secrets" rule (check leaves it to secret_check)
    kopia_memory_warning: bool = True  # warn when node-agent memory is limited below what kopia needs on big volumes


class _KfileMemo(dict[Path, Any]):
    """Parsed kustomizations by path, with the run's texts (a kustomization already read is not read again) and
    its repository boundary (a kustomization reached through a link out of it is not read at all)."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run
        self.texts = run.texts

    @property
    def boundary(self) -> Path | None:
        return self.run.boundary


class DiskReads:
    """What a call reads of the disk itself: real paths (each folder resolved once) and file bytes. Several calls
    of one step share it while nothing is written (render reads the repository's graph as it is, then with its
    planned files laid over it: every file it reads from the disk is the same bytes both times)."""

    def __init__(self) -> None:
        self.resolve = Resolver()
        self.contents: dict[Path, bytes] = {}  # real path -> its bytes (the one read: texts are decoded from them)


class Run:
    """The options of one validate call and its memos: resolved paths, candidate repository roots, parsed
    kustomizations. ``reads``: the disk reads shared with other calls of the same step (:class:`DiskReads`)."""

    def __init__(self, opts: Options, view: Disk | None = None, reads: DiskReads | None = None) -> None:
        self.opts = opts
        self.fs = view or Disk()  # what the graph sees of the files (treeview.Planned: render's planned tree)
        self._real: dict[Path, Path] = {}
        reads = reads or DiskReads()
        self.resolve = reads.resolve  # realpath, each folder resolved once per call
        self._links: dict[str, bool] = {}
        self._roots: dict[Path | None, tuple[Path, ...]] = {}
        self._root_of: dict[Path, Path | None] = {}  # folder -> its repository root (find_root)
        self.texts: dict[Path, str] = {}  # real path -> the text read from it: every file is read once per call
        self.contents = reads.contents
        self.encodings: dict[Path, str] = {}  # real path -> the encoding of its text, when not UTF-8 (UTF-16)
        self.yaml_verdicts: dict[Path, str | None] = {}  # real path -> None (YAML read) or why it was refused
        self.boundary: Path | None = None  # the repository boundary (boundary.of_paths): nothing outside is read
        # the files every Flux build reads, once a cluster's sync was found only through its own folder's build
        # (validate/kustomize.py _instances): what none reads, Flux never applies (validate/unapplied.py)
        self.flux_reads: set[Path] | None = None
        # the files named on the command line (not found by walking a folder): checked as given (flux.Graph.dead_file)
        self.named_files: frozenset[Path] = frozenset()
        # resolve.read_kfile's results by path (KFile | None: naming that type here would import resolve back)
        self.kfiles: dict[Path, Any] = _KfileMemo(self)

    def real(self, p: Path) -> Path:
        """The real path of ``p``, memoized (the graph asks for the same files many times). A symlink loop
        resolves as far as it goes (the reader then reports the file), never an exception."""
        r = self._real.get(p)
        if r is None:
            r = self._real[p] = Path(self.resolve(os.path.abspath(p)))
        return r

    def find_root(self, start: Path) -> Path | None:
        """documents.find_root for every file of the run: a folder's answer is itself when it holds a root's marker,
        else its parent's, so each folder is looked at once however many objects live below it (issue 23: the walk
        up per object was 40 % of validate at 20k documents)."""
        known = self._root_of
        walked: list[Path] = []
        d = start
        while d not in known:
            walked.append(d)
            if is_root_folder(d):
                found: Path | None = d
                break
            if d.parent == d:
                found = None
                break
            d = d.parent
        else:
            found = known[d]
        for w in walked:
            known[w] = found
        return found

    def islink(self, p: str) -> bool:
        """``os.path.islink``, memoized (the build planner asks it of every folder on every path it resolves)."""
        r = self._links.get(p)
        if r is None:
            r = self._links[p] = os.path.islink(p)
        return r

    def content(self, p: Path, root: Path | str | None = None, shown: str | None = None) -> bytes:
        """The bytes of file ``p``: read once per call, through safefile (regular, bounded, inside ``root``), then
        remembered; raises what safefile.read_bytes raises. The one place validate reads a repository file."""
        real = self.real(p)
        data = self.contents.get(real)
        if data is not None and (root is None or inside(real, self.real(Path(root)))):
            return data
        from velero_gitops import safefile

        data = self.contents[real] = safefile.read_bytes(p, root=root, shown=shown, resolve=self.resolve)
        return data

    def text(self, p: Path, root: Path | str | None = None, shown: str | None = None) -> str:
        """The text of file ``p`` (:meth:`decoded`); raises what safefile.read_text raises."""
        return self.decoded(p, root, shown).text

    def decoded(self, p: Path, root: Path | str | None = None, shown: str | None = None) -> Decoded:
        """File ``p`` decoded from :meth:`content` as Go YAML decodes it (safefile.decode), its encoding with it;
        raises what safefile.read_text raises."""
        real = self.real(p)
        t = self.texts.get(real)
        if t is None or (root is not None and not inside(real, self.real(Path(root)))):
            from velero_gitops import safefile

            key = Path(os.path.abspath(p))
            if key in self.fs.changes:  # render's planned tree: the planned text (render writes UTF-8), or removed
                planned = self.fs.changes[key]
                if planned is None:
                    raise FileNotFoundError(str(p))
                t = self.texts[real] = planned
            else:
                data = self.content(p, root=root, shown=shown)
                d = safefile.decode(data, shown if shown is not None else str(p))
                t = self.texts[real] = d.text
                if d.encoding != "utf-8":
                    self.encodings[real] = d.encoding
        return Decoded(t, self.encodings.get(real, "utf-8"))

    def roots_for(self, start: Path | None) -> tuple[Path, ...]:
        """Where a Flux ``spec.path`` read from a file in ``start`` may be rooted: the repository root found
        from there, the git top level, the working directory."""
        if start not in self._roots:
            out: list[Path] = []
            if start is not None:
                r = self.find_root(start)
                if r is not None:
                    out.append(r)
                g = git_toplevel(start)
                if g is not None and g not in out:
                    out.append(g)
            cwd = Path.cwd().resolve()
            if cwd not in out:
                out.append(cwd)
            self._roots[start] = tuple(out)
        return self._roots[start]

