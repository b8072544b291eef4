"""The size bound of the stores the tool keeps in the user's cache between runs (the kustomize build outputs and
verdicts, validate/buildcache.py; the replay store of clean runs, runcache.py): each store keeps at most
``limit()`` bytes of entries. Past it, the entries used least recently go first: a hit refreshes an entry's
access time (``used``), and eviction removes the oldest access times first, down to nine tenths of the bound (so
that a store at its bound is not listed again at every write). The modification time is left alone: the replay
store keys what a run read by size and modification time (runcache), so touching it would make every run with a
cache hit look as if an input changed while it ran, and no clean run would ever be stored. docs/validation.md,
"Caches".
"""

from __future__ import annotations

import os
import time
from pathlib import Path

DEFAULT_MB = 128  # per store: the build outputs of a large repository fit, and three stores stay under 400 MB
ENV = "VELERO_GITOPS_CACHE_MB"
ENTRY = ".json"  # the entries of every store; anything else there (runcache's hmac.key) is never evicted

_totals: dict[str, int] = {}  # store folder -> bytes of its entries, as this process last counted them


def limit() -> int:
    """The bound of one store in bytes: VELERO_GITOPS_CACHE_MB when it is a positive integer, else DEFAULT_MB."""
    raw = os.environ.get(ENV, "")
    mb = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MB
    return mb << 20


def used(fd_or_path: int | Path) -> None:
    """An entry was read: it becomes the most recently used (its access time; its modification time stays)."""
    try:
        os.utime(fd_or_path, ns=(time.time_ns(), os.stat(fd_or_path).st_mtime_ns))
    except (OSError, NotImplementedError):
        pass  # a read-only cache still serves; its order is then the order of writing


def written(d: Path, entry: Path, bound: int | None = None) -> None:
    """``entry`` was just written into store ``d``: evict the least recently used entries when the store is past
    ``bound`` (default: limit())."""
    cap = limit() if bound is None else bound
    key = str(d)
    if key in _totals:
        try:
            _totals[key] += entry.stat().st_size
        except OSError:
            return
    else:
        _totals[key] = sum(size for _, _, size in _entries(d))
    if _totals[key] > cap:
        _totals[key] = _evict(d, cap * 9 // 10)


def _entries(d: Path) -> list[tuple[int, str, int]]:
    """(atime_ns, name, size) of the store's entries, regular files only."""
    out = []
    try:
        with os.scandir(d) as it:
            for e in it:
                if not e.name.endswith(ENTRY) or not e.is_file(follow_symlinks=False):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                out.append((st.st_atime_ns, e.name, st.st_size))
    except OSError:
        pass
    return out


def _evict(d: Path, target: int) -> int:
    """Remove the least recently used entries of ``d`` until they hold at most ``target`` bytes; the bytes left."""
    entries = sorted(_entries(d))
    total = sum(size for _, _, size in entries)
    for _, name, size in entries:
        if total <= target:
            break
        try:
            os.unlink(d / name)
        except OSError:
            continue  # another process removed it, or may not: counted again at the next eviction
        total -= size
    return total
