"""The repository boundary: the one folder a run may read (and render may write) inside.

It is the explicit ``--repo-root`` when given, else the Git top level that holds the paths (the
nearest ancestor with ``.git``), else the working folder when it holds them all, else the paths' own
common folder. Nothing read from the
repository moves it: a config's ``repo.root`` must resolve inside it, and a symlink that resolves
outside it is refused by the reader (safefile) like any other outside path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def realpath(p: str | os.PathLike[str]) -> str:
    """``os.path.realpath`` that never raises: a link it may not read (``/proc/1/root``), a loop, resolve as
    far as they go; the caller's boundary check then refuses what is not inside."""
    try:
        return os.path.realpath(p)
    except (OSError, ValueError):
        return os.path.abspath(p)


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
