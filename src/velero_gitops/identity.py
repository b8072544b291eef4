"""What decides a cached result besides the files it read: this package's code and the programs it ran.

A version number does not change with an edited or patched install, so the code is identified by
the SHA-256 of every file of the installed package (its templates included); a program by its
resolved path, its file's size, mtime and inode, and what it says its version is.
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
    """SHA-256 over the relative path and content of every file of the installed package."""
    h = hashlib.sha256(b"velero-gitops code\0")
    for dirpath, dirnames, filenames in os.walk(PACKAGE):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            p = Path(dirpath) / name
            try:
                data = p.read_bytes()
            except OSError:
                continue
            h.update(f"{p.relative_to(PACKAGE).as_posix()}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()


def program(path: str, version: str = "") -> str:
    """Identity of a program: resolved path, file signature, and its version output."""
    real = realpath(path)
    try:
        st = os.stat(real)
        sig = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}"
    except OSError:
        sig = "missing"
    return f"{real}\0{sig}\0{version}"
