"""Finding the programs we run (kubectl, sops, bwrap): from PATH, never from the repository.

``shutil.which`` honours ``.``, empty and relative PATH entries (each means the working folder), so
a pull request that ships ``./kubectl`` or ``./sops`` would run it. Here only absolute PATH entries
count, and a program found inside the repository being checked is passed over, as if that entry
were not there.
"""

from __future__ import annotations

import os
from pathlib import Path

from velero_gitops.boundary import realpath


def _inside(p: str, root: str) -> bool:
    return p == root or p.startswith(root.rstrip(os.sep) + os.sep)


def which(name: str, repo: str | os.PathLike[str] | None = None) -> str | None:
    """Absolute path of the executable ``name`` on PATH, skipping ``.``, empty and relative entries and
    every folder inside ``repo`` (after symlinks)."""
    if os.sep in name or (os.altsep and os.altsep in name):
        return None
    banned = [realpath(repo)] if repo is not None else []
    for entry in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        cand = os.path.join(entry, name)
        real = realpath(cand)
        if any(_inside(real, b) or _inside(realpath(entry), b) for b in banned if b != "/"):
            continue
        if os.path.isfile(real) and os.access(real, os.X_OK):
            return cand
    return None


def resolved(path: str) -> Path:
    """The real file behind a program path (what runs, for cache keys)."""
    return Path(realpath(path))
