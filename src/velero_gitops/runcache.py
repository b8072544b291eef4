"""Remember the result of a clean run so the same inputs are never checked twice.

`check` runs on every commit, and most commits do not touch the Velero tree. A run's inputs are
fingerprinted (path, size, mtime and inode of every input file, the tool's own files, kubectl and
sops binaries); when a later run has the same fingerprint, the stored result is replayed without
importing the heavy machinery. Only clean results are stored, so a failure is always recomputed.
Set VELERO_GITOPS_NO_CACHE=1 (or pass --no-cache) to bypass it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from velero_gitops import __version__


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "velero-gitops" / "runs"


def disabled() -> bool:
    return os.environ.get("VELERO_GITOPS_NO_CACHE", "") not in ("", "0")


def _stat_line(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}|missing"
    return f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def _tool_files() -> list[Path]:
    pkg = Path(__file__).resolve().parent
    files = [p for p in pkg.rglob("*") if p.suffix in (".py", ".j2", ".json") and "__pycache__" not in p.parts]
    templates = pkg.parent.parent / "templates"
    if templates.is_dir():
        files.extend(templates.glob("*.j2"))
    return files


def fingerprint(kind: str, inputs: list[Path], trees: list[Path], options: str = "") -> str:
    """A key over everything a run reads: named files, every file under ``trees``, the tool and its helpers."""
    h = hashlib.sha256()
    h.update(f"{kind}|{__version__}|{options}\n".encode())
    for p in sorted(set(inputs)):
        h.update(_stat_line(p.resolve()).encode() + b"\n")
    for tree in sorted(set(trees)):
        root = tree.resolve()
        h.update(f"tree {root}\n".encode())
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            for name in sorted(filenames):
                h.update(_stat_line(Path(dirpath) / name).encode() + b"\n")
    for p in sorted(_tool_files()):
        h.update(_stat_line(p).encode() + b"\n")
    for binary in ("kubectl", "sops"):
        found = shutil.which(binary)
        h.update(_stat_line(Path(found)).encode() if found else f"{binary}|none".encode())
    return h.hexdigest()


def load(key: str) -> dict | None:
    if disabled():
        return None
    try:
        return json.loads((cache_dir() / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store(key: str, payload: dict) -> None:
    if disabled():
        return
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f)
        os.replace(tmp, d / f"{key}.json")
    except OSError:
        pass  # a cache that cannot be written only costs time
