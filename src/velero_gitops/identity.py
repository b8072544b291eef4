"""What decides a cached result besides the files it read: this package's code and the programs it ran.

A version number does not change with an edited or patched install, so the code is identified by the
signature of every file of the installed package (its templates and schema bundle included), as a program is by
its file: path, size, mtime and inode. That is the check Python itself makes before it trusts a cached
``.pyc`` (source size and mtime, importlib's SourceLoader), and it costs a stat per file instead of reading
and hashing 4 MB on every run that consults a cache.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from velero_gitops.boundary import realpath

PACKAGE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over the relative path and file signature of every file of the installed package."""
    h = hashlib.sha256(b"velero-gitops code v2\0")
    for dirpath, dirnames, filenames in os.walk(PACKAGE):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            p = Path(dirpath) / name
            try:
                st = os.stat(p)
            except OSError:
                continue
            h.update(f"{p.relative_to(PACKAGE).as_posix()}\0{_signature(st)}\0".encode())
    return h.hexdigest()


def _signature(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}"


def program(path: str, version: str = "") -> str:
    """Identity of a program: resolved path, file signature, and its version output."""
    real = realpath(path)
    try:
        sig = _signature(os.stat(real))
    except OSError:
        sig = "missing"
    return f"{real}\0{sig}\0{version}"
