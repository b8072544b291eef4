"""The repository boundary: the one folder a run may read (and render may write) inside.

It is the explicit ``--repo-root`` when given, else the Git top level that holds the paths (the
nearest ancestor with ``.git``), else the working folder when it holds them all, else the paths' own
common folder. Nothing read from the
repository moves it: a config's ``repo.root`` must resolve inside it, and a symlink that resolves
outside it is refused by the reader (safefile) like any other outside path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path


def realpath(p: str | os.PathLike[str]) -> str:
    """``os.path.realpath`` that never raises: a link it may not read (``/proc/1/root``), a loop, resolve as
    far as they go; the caller's boundary check then refuses what is not inside."""
    try:
        return os.path.realpath(p)
    except (OSError, ValueError):
        return os.path.abspath(p)


class Resolver:
    """:func:`realpath` with each folder resolved once, for a caller that resolves many files of few folders (one
    validate call: a graph asks for the real path of each file many times, and each realpath lstats every folder
    from ``/`` down).

    realpath is compositional (cpython@v3.11.7:Lib/posixpath.py, _joinrealpath: the folders are resolved left to
    right, each name joined to what its parent resolved to): for an absolute, normalised path whose last name is
    not a symlink, ``realpath(d/n) == realpath(d)/n``. A missing name stays as written, as realpath leaves it. A
    symlink, or any other failed lstat (a loop, a folder it may not read), resolves the whole path with realpath:
    confinement is decided on exactly what realpath returns. A memo lives as long as its owner (one call): a
    folder swapped for a link later is seen by the next call."""

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}

    def __call__(self, p: str | os.PathLike[str]) -> str:
        path = os.fspath(p)
        real = self._memo.get(path)
        if real is None:
            real = self._memo[path] = self._resolve(path)
        return real

    def _resolve(self, path: str) -> str:
        if not os.path.isabs(path) or os.path.normpath(path) != path:  # relative, `..`, `//`: as realpath does
            return realpath(path)
        folder, name = os.path.split(path)
        if not name:  # the root
            return realpath(path)
        joined = os.path.join(self(folder), name)
        try:
            if not stat.S_ISLNK(os.lstat(joined).st_mode):
                return joined
        except (FileNotFoundError, NotADirectoryError):
            return joined
        except (OSError, ValueError):
            pass
        return realpath(path)


def git_toplevel(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git`` (a folder, or a worktree's file)."""
    for d in [start, *start.parents]:
        if os.path.lexists(d / ".git"):
            return d
    return None


def inside(p: Path, root: Path) -> bool:
    return p == root or root in p.parents


def of_paths(paths: Iterable[str | os.PathLike[str]], explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The real boundary for ``paths`` (``-`` for stdin is ignored); None when there is nothing to bound."""
    if explicit:
        return Path(realpath(explicit))
    folders = []
    for raw in paths:
        if str(raw) == "-":
            continue
        p = Path(os.path.abspath(raw))
        folders.append(p if p.is_dir() and not p.is_symlink() else p.parent)
    if not folders:
        return None
    common = Path(os.path.commonpath([str(f) for f in folders]))
    top = git_toplevel(common)
    if top is None:
        cwd = Path(os.path.abspath(os.getcwd()))
        top = cwd if inside(common, cwd) else common
    return Path(realpath(top))
