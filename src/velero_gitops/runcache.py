"""Replay of a clean `check` result, keyed on the content of everything the run read.

`check` runs on every commit, and most commits do not touch the Velero tree. While a run works, a
`Recorder` notes every file it opens for reading and every folder it lists (Python audit events),
every program it starts, and the paths the caller probes on purpose (a `.sops.yaml` that does not
exist yet). A clean result is stored with the SHA-256 of each
of those inputs; a later run replays it only when every digest still matches. Nothing is keyed on
mtime, size or inode, except the interpreter's and libraries' code and the programs started (not
repository content: they change only by an install). Installed code is known by where it lives (the interpreter's
library folders), never by its name: kustomize reads a resource named `obj.py` by content like any other.

A stored entry is trusted only when its file and folder belong to the current user and nobody else
can write them, and when its HMAC verifies with a per-user key that only this user can read; any
problem, a failing result in the file, or a malformed file is a miss and the run is recomputed.
Set VELERO_GITOPS_NO_CACHE=1 (or pass --no-cache) to bypass it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from velero_gitops import __version__, cachebound
from velero_gitops.boundary import realpath

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")


def _installed() -> tuple[str, ...]:
    """The folders Python imports installed code from (standard library, site-packages), as the recorder sees
    paths (absolute) and as they resolve; each ends with a separator."""
    import sysconfig

    paths = sysconfig.get_paths()
    found = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)]
    return tuple(dict.fromkeys(os.path.join(f(p), "") for p in found for f in (os.path.abspath, realpath)))


_INSTALLED = _installed()
_SKIP_PREFIXES = ("/proc/", "/dev/", "/sys/")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "velero-gitops" / "runs"


def disabled() -> bool:
    return os.environ.get("VELERO_GITOPS_NO_CACHE", "") not in ("", "0")


# --------------------------------------------------------------------------------------------------
# Recording what a run reads


_active: Recorder | None = None
_hooked = False


class Recorder:
    """Collects the inputs of one run; use as a context manager around the run."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, int] | None] = {}  # path -> (size, mtime_ns) when first opened
        self.dirs: set[str] = set()
        self.programs: set[str] = set()
        self.probes: set[str] = set()  # paths whose presence and content matter even when absent
        self.own = str(cache_dir())  # the store itself is not an input
        # Which part of the run was working when a file was opened or a folder listed (``tag``, set by the caller;
        # None: no part): a run of independent parts stores each part's inputs apart (``owned``).
        self.tag: Any = None
        self.read_by: dict[str, set[object]] = {}
        self.started_ns = time.time_ns()

    def __enter__(self) -> Recorder:
        global _active, _hooked
        if not _hooked:
            sys.addaudithook(_audit)
            _hooked = True
        _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = None

    def probe(self, path: str | os.PathLike[str]) -> None:
        self.probes.add(os.path.abspath(path))

    def inputs(self) -> dict[str, Any] | None:
        """Digests of every input, or None when an input changed while the run read it (do not store)."""
        files = {}
        for path, seen in sorted(self.files.items()):
            now = _signature(path)
            if seen is not None and now is None and seen[1] >= self.started_ns:
                continue  # scratch that the run made and removed (a kustomize build folder)
            if seen is not None and now != seen:
                return None
            files[path] = _digest(path)
        return {
            "files": files,
            "dirs": {d: _listing(d) for d in sorted(self.dirs)},
            "probes": {p: _digest(p) for p in sorted(self.probes)},
            "programs": {p: _code_signature(p) for p in sorted(self.programs)},
        }

    def owned(self, inputs: dict[str, Any], mine: Any, probes: set[str]) -> dict[str, Any]:
        """The part of ``inputs`` (from :meth:`inputs`) that one part of the run depends on: every file and folder
        ``mine(path, tags)`` keeps (``tags``: the parts working when it was read), the given probes, every program."""
        keep = lambda p: mine(p, self.read_by.get(p, {None}))  # noqa: E731
        return {"files": {p: d for p, d in inputs["files"].items() if keep(p)},
                "dirs": {p: d for p, d in inputs["dirs"].items() if keep(p)},
                "probes": {p: d for p, d in inputs["probes"].items() if p in probes},
                "programs": inputs["programs"]}


def _audit(event: str, args: tuple) -> None:
    r = _active
    if r is None:
        return
    try:
        if event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes)) or _writes(mode, flags):
                return
            p = os.path.abspath(os.fsdecode(path))
            if p.startswith(_SKIP_PREFIXES) or p.startswith(r.own):
                return
            r.read_by.setdefault(p, set()).add(r.tag)
            if p not in r.files:
                r.files[p] = _signature(p)
        elif event in ("os.listdir", "os.scandir"):
            path = args[0] if args else "."
            if isinstance(path, (str, bytes)) or path is None:
                d = os.path.abspath(os.fsdecode(path or "."))
                r.dirs.add(d)
                r.read_by.setdefault(d, set()).add(r.tag)
        elif event == "subprocess.Popen":
            executable, argv = args[0], args[1]
            argv = [os.fsdecode(a) for a in (argv if isinstance(argv, (list, tuple)) else [argv])]
            exe = os.fsdecode(executable) if executable else (argv[0] if argv else "")
            if exe:
                import shutil

                found = exe if os.sep in exe else shutil.which(exe)
                r.programs.add(os.path.abspath(found or exe))
    except Exception:  # noqa: BLE001 - an audit hook must never break the run
        pass


def _writes(mode: object, flags: object) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    if isinstance(flags, int):
        return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
    return False


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _code_signature(path: str) -> str:
    sig = _signature(path)
    return "missing" if sig is None else f"stat:{sig[0]}:{sig[1]}"


def _is_library_code(path: str) -> bool:
    """Interpreter and library code (not ours, not the repository's): stat is enough. A file elsewhere, whatever
    its name, is keyed by content (attack round 7: a resource `obj.py` replaced with the same size and mtime)."""
    return path.endswith(_CODE_SUFFIXES) and path.startswith(_INSTALLED) and not path.startswith(_PACKAGE)


def _digest(path: str) -> str:
    if _is_library_code(path):
        return _code_signature(path)
    # the file's kind is an input too: a file replaced by a symlink (to identical content outside the
    # repository) is not the file that passed
    real = realpath(path)
    kind = "" if real == os.path.abspath(path) else f"via:{real}:"
    return kind + _content_digest(path)


def _content_digest(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"error:{exc.errno}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not-a-file"
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
        return h.hexdigest()
    except OSError as exc:
        return f"error:{exc.errno}"
    finally:
        os.close(fd)


def _listing(path: str) -> str:
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        return f"error:{exc.errno}"
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def current(inputs: dict[str, Any], seen: dict[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """The same inputs' digests now (what a replay compares). ``seen``: the digests taken already by this
    comparison of several entries (load_all), each input digested once however many entries read it."""
    memo = {} if seen is None else seen

    def of(kind: str, p: str, how: Any) -> str:
        d = memo.get((kind, p))
        if d is None:
            d = memo[(kind, p)] = how(p)
        return d
    return {
        "files": {p: of("f", p, _digest) for p in inputs["files"]},
        "dirs": {d: of("d", d, _listing) for d in inputs["dirs"]},
        "probes": {p: of("f", p, _digest) for p in inputs["probes"]},
        "programs": {p: of("p", p, _code_signature) for p in inputs["programs"]},
    }


class Transcript:
    """What a run printed, in order, while it still goes to the terminal: stored with a clean result, written
    again verbatim by a replay. Use as a context manager around the run."""

    def __init__(self, hold: bool = False) -> None:
        self.chunks: list[tuple[str, str]] = []  # ("stdout" | "stderr", text)
        self.tags: list[Any] = []  # the caller's ``tag`` when each chunk was written
        self.tag: Any = None
        self.hold = hold  # keep the chunks (the caller writes them, in an order of its own), write nothing
        self._saved: tuple[Any, Any] | None = None

    def __enter__(self) -> Transcript:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = _Tee(sys.stdout, "stdout", self), _Tee(sys.stderr, "stderr", self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved

    @staticmethod
    def replay(chunks: Any) -> bool:
        """Write stored chunks again; False (nothing written) when they are not a list of (stream, text)."""
        if not isinstance(chunks, list) or not all(
                isinstance(c, list) and len(c) == 2 and c[0] in ("stdout", "stderr") and isinstance(c[1], str)
                for c in chunks):
            return False
        for stream, text in chunks:
            getattr(sys, stream).write(text)
        return True


class _Tee:
    def __init__(self, real: Any, name: str, log: Transcript) -> None:
        self._real, self._name, self._log = real, name, log

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click probes with b"": the real text stream refuses it, and so do we
            return self._real.write(text)
        self._log.chunks.append((self._name, text))
        self._log.tags.append(self._log.tag)
        return len(text) if self._log.hold else self._real.write(text)

    def __getattr__(self, attr: str) -> Any:  # flush, isatty, encoding...: the real stream's
        return getattr(self._real, attr)


# --------------------------------------------------------------------------------------------------
# The store: one entry per request key, trusted only when private and authenticated


def request_key(kind: str, words: list[str]) -> str:
    """What a run was asked (command, options, configs, working directory) and what runs it: this package's
    code (a hash of its files: an edit without a version bump is another tool) and the programs it would
    start as PATH resolves them now (a result stored while kubectl was missing is not this run's)."""
    from velero_gitops import identity, tools

    programs = [identity.program(p) if p else f"{n}: none" for n in ("kubectl", "sops", "bwrap")
                for p in [tools.which(n)]]
    h = hashlib.sha256()
    for w in [kind, __version__, identity.code_digest(), *programs, sys.version, os.getcwd(), *words]:
        h.update(w.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()


def part_key(request: str, part: str) -> str:
    """The key of one part of a request (a config of a render): its entry is stored and replayed on its own."""
    return hashlib.sha256(f"{request}\0{part}".encode("utf-8", "surrogateescape")).hexdigest()


def _private(st: os.stat_result, is_dir: bool) -> bool:
    kind_ok = stat.S_ISDIR(st.st_mode) if is_dir else stat.S_ISREG(st.st_mode)
    return kind_ok and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _private_dir(create: bool) -> Path | None:
    d = cache_dir()
    try:
        if create:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        return d if _private(os.lstat(d), True) else None
    except OSError:
        return None


def _read_private(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not _private(os.fstat(fd), False):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(4 << 20)
    finally:
        os.close(fd)


def _secret(d: Path, create: bool) -> bytes | None:
    key = _read_private(d / "hmac.key")
    if key is not None and len(key) == 32:
        return key
    if not create:
        return None
    try:
        fd = os.open(d / "hmac.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        return None  # present but not usable (e.g. another user's): never overwrite it, never trust it
    except OSError:
        return None
    key = os.urandom(32)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
    except OSError:  # a full disk: a short key file is never trusted later (length check above)
        return None
    return key


def _mac(secret: bytes, key: str, inputs: Any, result: Any) -> str:
    body = json.dumps([key, inputs, result], sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def load_all(keys: list[str]) -> list[dict[str, Any] | None]:
    """:func:`load` of each key, in one comparison: an input several entries read is digested once."""
    seen: dict[tuple[str, str], str] = {}
    return [load(k, seen) for k in keys]


def load(key: str, seen: dict[tuple[str, str], str] | None = None) -> dict[str, Any] | None:
    """The stored result for ``key`` when it is authentic and every input is unchanged, else None."""
    if disabled():
        return None
    d = _private_dir(create=False)
    secret = _secret(d, create=False) if d else None
    raw = _read_private(d / f"{key}.json") if d and secret else None
    if raw is None or secret is None:
        return None
    try:
        entry = json.loads(raw)
        inputs, result, mac = entry["inputs"], entry["result"], entry["mac"]
        if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(secret, key, inputs, result)):
            return None
        if current(inputs, seen) != inputs:
            return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(result, dict) or d is None:
        return None
    cachebound.used(d / f"{key}.json")  # least recently used goes first when the store is past its bound
    return result


def store(key: str, inputs: dict[str, Any] | None, result: dict[str, Any]) -> None:
    if disabled() or inputs is None:
        return
    d = _private_dir(create=True)
    secret = _secret(d, create=True) if d else None
    if d is None or secret is None:
        return  # a cache that is not ours is never used: it only costs time
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")  # mode 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"inputs": inputs, "result": result, "mac": _mac(secret, key, inputs, result)}, f)
        os.replace(tmp, d / f"{key}.json")
        cachebound.written(d, d / f"{key}.json")
    except OSError:  # a full disk (or any failure) means no cache entry, never a traceback
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
