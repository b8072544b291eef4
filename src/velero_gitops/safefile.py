"""Read a file that may come from an untrusted pull request: regular, inside the root, bounded, non-blocking.

A FIFO named ``x.yaml`` blocks ``open()`` forever, ``/dev/zero`` never ends, and a symlink can point at
a secret outside the repository. ``read_bytes`` refuses all three before reading a byte that matters:

- the path is resolved and must stay inside ``root`` (a symlink is followed only when its target does);
- the resolved path is opened with ``O_NONBLOCK | O_NOFOLLOW`` (a FIFO opens at once instead of
  waiting for a writer, and a link swapped in after the check is refused);
- the opened descriptor is ``fstat``-ed: only a regular file of at most ``limit`` bytes is read,
  and at most ``limit + 1`` bytes are read (a file that grows meanwhile is still refused).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from velero_gitops.boundary import realpath
from velero_gitops.errors import VeleroGitopsError

DEFAULT_LIMIT = 8 * 1024 * 1024

_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class FileRefused(VeleroGitopsError, OSError):
    """A file that was not read, and why. ``str()`` is ``PATH: problem``; callers may locate ``problem`` themselves.

    It is an OSError too, so code that already handles unreadable files handles refused ones.

    ``kind`` is one of: missing, not-regular, outside-root, too-large, unreadable, not-utf8.
    ``line``/``column`` (1-based) are set for not-utf8.
    """

    def __init__(self, path: str, problem: str, kind: str, line: int | None = None, column: int | None = None):
        self.path = path
        self.problem = problem
        self.kind = kind
        self.line = line
        self.column = column
        super().__init__(f"{path}: {problem}")

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_bytes(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
               limit: int = DEFAULT_LIMIT, shown: str | None = None) -> bytes:
    """The content of ``path``, or FileRefused. ``shown`` is how messages name the file (default: as given)."""
    name = shown if shown is not None else os.fspath(path)
    real = realpath(path)
    if root is not None:
        real_root = realpath(root)
        if not _inside(real, real_root):
            via = " through a symlink" if _inside(os.path.abspath(path), real_root) else ""
            raise FileRefused(name, f"resolves{via} to {real}, outside {real_root}; only files inside it are read",
                              "outside-root")
    return read_real(real, name, limit, dangling=lambda: os.path.islink(path))


def read_real(real: str, name: str, limit: int = DEFAULT_LIMIT, dangling: Callable[[], bool] = lambda: False) -> bytes:
    """The content of ``real``, a path already resolved (symlinks followed) and checked against the root by the
    caller: what ``read_bytes`` does after its boundary check, for a caller that resolved a folder of files once."""
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise FileRefused(name, "no such file" + (" (dangling symlink)" if dangling() else ""), "missing") from None
    except OSError as exc:
        raise FileRefused(name, f"cannot read ({exc.strerror})", "unreadable") from None
    # Refuse special files before open(): opening some devices has side effects.
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(name, f"is {kind_of(st.st_mode)}; only regular files are read", "not-regular")
    if st.st_size > limit:
        raise FileRefused(name, _too_large(st.st_size, limit), "too-large")
    try:
        fd = os.open(real, _O_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a symlink after the check
            raise FileRefused(name, "changed into a symlink while being read; not read", "not-regular") from None
        raise FileRefused(name, f"cannot read ({exc.strerror})", "unreadable") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(name, f"is {kind_of(st.st_mode)}; only regular files are read", "not-regular")
        if st.st_size > limit:
            raise FileRefused(name, _too_large(st.st_size, limit), "too-large")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            try:
                chunk = os.read(fd, min(left, 1 << 20))
            except BlockingIOError:  # pragma: no cover - regular files do not block
                break
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise FileRefused(name, f"cannot read ({exc.strerror})", "unreadable") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileRefused(name, _too_large(len(data), limit, grew=True), "too-large")
    return data


def _too_large(size: int, limit: int, grew: bool = False) -> str:
    what = "grew beyond" if grew else f"is {_human(size)}, more than"
    return f"{what} the limit of {_human(limit)}; split it or remove what is not needed"


def _human(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB".replace(".0 ", " ")
    if n >= 1024:
        return f"{n / 1024:.1f} KiB".replace(".0 ", " ")
    return f"{n} bytes"


# the first bytes of every file git-crypt encrypts (AGWA/git-crypt@0.7.0:commands.cpp clean: "\0GITCRYPT\0" + nonce)
GIT_CRYPT_HEADER = b"\x00GITCRYPT\x00"


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text (a leading BOM dropped), or FileRefused located at the first bad byte."""
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if data.startswith(GIT_CRYPT_HEADER):
        raise FileRefused(name, "is encrypted with git-crypt, so it is not checked: run the check in a checkout where "
                          "`git-crypt unlock` ran (Flux cannot decrypt git-crypt: what a Flux Kustomization applies must "
                          "not be encrypted with it)", "git-crypt", 1, 1)
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        start = bom + exc.start
        line = data.count(b"\n", 0, start) + 1
        col_start = max(data.rfind(b"\n", 0, start) + 1, bom)
        column = len(data[col_start:start].decode("utf-8", "replace")) + 1
        bad = data[start:start + 1].hex()
        raise FileRefused(name, f"is not UTF-8 text (byte 0x{bad} at line {line}, column {column}); "
                          "save it as UTF-8 (binary files cannot be read)", "not-utf8", line, column) from None


def read_text(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
              limit: int = DEFAULT_LIMIT, shown: str | None = None) -> str:
    """``read_bytes`` decoded as UTF-8; a decoding problem is a FileRefused with line and column."""
    name = shown if shown is not None else os.fspath(path)
    return decode_utf8(read_bytes(path, root=root, limit=limit, shown=shown), name)


__all__ = ["DEFAULT_LIMIT", "FileRefused", "decode_utf8", "read_bytes", "read_text"]
