"""What the Flux graph sees of the repository's files: the disk, or the disk with a planned change laid over it.

`render` asks what Flux would apply once its files are written, before writing anything (ops/applyset.py): the
graph (validate/flux.py) reads the folders and files through a view, and the planned view answers from the
planned texts (created and updated files) and hides the files render would remove. Nothing is written to find out.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path


class Disk:
    """The files as they are."""

    changes: dict[Path, str | None] = {}

    def isfile(self, p: Path) -> bool:
        return os.path.isfile(p)

    def isdir(self, p: Path) -> bool:
        return os.path.isdir(p)

    def regular(self, p: Path) -> int | None:
        """The size of ``p`` when it is a regular file (a link is not followed), else None."""
        try:
            st = os.lstat(p)
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def walk(self, top: Path) -> Iterator[tuple[str, list[str], list[str]]]:
        """os.walk(top): top-down, the caller may prune the folder list in place."""
        return os.walk(top)


class Planned(Disk):
    """The disk with ``changes`` laid over it: absolute path -> the file's planned text, or None (removed)."""

    def __init__(self, changes: dict[Path, str | None]) -> None:
        self.changes = dict(changes)
        self._dirs: set[Path] = set()  # folders the planned files create
        self._in: dict[Path, list[tuple[str, str | None]]] = {}  # folder -> its planned (name, text): walk's listing
        self._subdirs: dict[Path, set[str]] = {}  # folder -> the names of the planned folders in it
        for p, text in self.changes.items():
            self._in.setdefault(p.parent, []).append((p.name, text))
            if text is not None:
                self._dirs.update(p.parents)
        for d in self._dirs:
            self._subdirs.setdefault(d.parent, set()).add(d.name)

    def isfile(self, p: Path) -> bool:
        p = Path(os.path.abspath(p))
        if p in self.changes:
            return self.changes[p] is not None
        return os.path.isfile(p)

    def isdir(self, p: Path) -> bool:
        return Path(os.path.abspath(p)) in self._dirs or os.path.isdir(p)

    def regular(self, p: Path) -> int | None:
        p = Path(os.path.abspath(p))
        if p in self.changes:
            text = self.changes[p]
            return None if text is None else len(text.encode("utf-8"))
        return super().regular(p)

    def walk(self, top: Path) -> Iterator[tuple[str, list[str], list[str]]]:
        stack = [Path(os.path.abspath(top))]
        while stack:
            d = stack.pop()
            dirs: set[str] = set()
            files: set[str] = set()
            try:
                with os.scandir(d) as it:
                    for e in it:
                        try:
                            (dirs if e.is_dir() else files).add(e.name)
                        except OSError:
                            files.add(e.name)
            except OSError:
                if d not in self._dirs:
                    continue
            for name, text in self._in.get(d, ()):
                (files.add if text is not None else files.discard)(name)
            dirs.update(self._subdirs.get(d, ()))
            names = sorted(dirs)
            yield str(d), names, sorted(files)
            stack.extend(d / n for n in reversed(names) if not (d / n).is_symlink())
