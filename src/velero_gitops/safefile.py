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
from typing import NamedTuple

from velero_gitops.boundary import realpath
from velero_gitops.errors import VeleroGitopsError

DEFAULT_LIMIT = 8 * 1024 * 1024

_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class FileRefused(VeleroGitopsError, OSError):
    """A file that was not read, and why. ``str()`` is ``PATH: problem``; callers may locate ``problem`` themselves.

    It is an OSError too, so code that already handles unreadable files handles refused ones.

    ``kind`` is one of: missing, not-regular, outside-root, too-large, unreadable, not-utf8, not-utf16, git-crypt.
    ``line``/``column`` (1-based) are set for not-utf8, not-utf16 and git-crypt.
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
               limit: int = DEFAULT_LIMIT, shown: str | None = None,
               resolve: Callable[[str | os.PathLike[str]], str] = realpath) -> bytes:
    """The content of ``path``, or FileRefused. ``shown`` is how messages name the file (default: as given).
    ``resolve``: realpath, or one that returns what realpath returns from a memo (boundary.Resolver)."""
    name = shown if shown is not None else os.fspath(path)
    real = resolve(path)
    if root is not None:
        real_root = resolve(root)
        if not _inside(real, real_root):
            # where the link leads outside is the host's business (/proc/self/exe, /etc/alternatives/...): never said;
            # at most the link's own text, as the repository writes it
            if _inside(os.path.abspath(path), real_root):
                link = _link_text(path)
                what = f"is a symlink to {link} (as written)" if link is not None else "is under a symlinked folder"
                raise FileRefused(name, f"{what} that leads outside {real_root}; only files inside it are read",
                                  "outside-root")
            raise FileRefused(name, f"is outside {real_root}; only files inside it are read", "outside-root")
    return read_real(real, name, limit, dangling=lambda: os.path.islink(path))


def _link_text(path: str | os.PathLike[str]) -> str | None:
    try:
        return os.readlink(path)
    except OSError:  # not itself a link: one of its folders is
        return None


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


# The byte order marks Go YAML decides a stream's encoding by; anything else is UTF-8
# (kubernetes-sigs/yaml@v1.4.0:goyaml.v3/readerc.go yaml_parser_determine_encoding, the fork of the go-yaml v3 that
# kustomize's kyaml and sops decode with; goyaml.v2/readerc.go, behind sigs.k8s.io/yaml's Unmarshal, is the same).
_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"), (b"\xef\xbb\xbf", "utf-8"))


class Decoded(NamedTuple):
    """A file's text and the encoding Go YAML decoded it from: "utf-8", "utf-16-le" or "utf-16-be". What reads
    documents out of it needs the encoding: kustomize splits documents on the bytes (validate.documents)."""

    text: str
    encoding: str = "utf-8"


def _encoding_of(data: bytes) -> tuple[bytes, str]:
    """(the BOM, the encoding) Go YAML reads ``data`` with (goyaml readerc.go yaml_parser_determine_encoding)."""
    return next(((b, e) for b, e in _BOMS if data.startswith(b)), (b"", "utf-8"))


def scan_text(data: bytes) -> str:
    """``data`` decoded as :func:`decode` picks the encoding (a BOM selects UTF-16), bad characters replaced: for a
    scan that only looks for a marker in files it does not judge (a Flux Kustomization somewhere, a sops field)."""
    bom, encoding = _encoding_of(data)
    return data[len(bom):].decode(encoding, "replace")


def decode(data: bytes, name: str) -> Decoded:
    """``data`` decoded as Go YAML decodes a stream: UTF-16 (LE or BE) after its BOM, else UTF-8 (a UTF-8 BOM
    dropped). Anything that does not decode is a FileRefused located at the first bad character."""
    if data.startswith(GIT_CRYPT_HEADER):
        raise FileRefused(name, "is encrypted with git-crypt, so it is not checked: run the check in a checkout where "
                          "`git-crypt unlock` ran (Flux cannot decrypt git-crypt: what a Flux Kustomization applies must "
                          "not be encrypted with it)", "git-crypt", 1, 1)
    bom, encoding = _encoding_of(data)
    try:
        text = data[len(bom):].decode(encoding)
    except UnicodeDecodeError as exc:
        start = len(bom) + exc.start
        valid = data[len(bom):start].decode(encoding)  # the text before the first bad character
        line = valid.count("\n") + 1
        column = len(valid) - valid.rfind("\n")
        if encoding == "utf-8":
            bad = data[start:start + 1].hex()
            raise FileRefused(name, f"is not UTF-8 text (byte 0x{bad} at line {line}, column {column}); "
                              "save it as UTF-8 (binary files cannot be read)", "not-utf8", line, column) from None
        # what Go YAML refuses too (readerc.go yaml_parser_update_buffer): a surrogate without its pair, an odd byte
        unit = data[start:start + 2]
        what = (f"a lone surrogate 0x{int.from_bytes(unit, 'little' if encoding.endswith('le') else 'big'):04x}"
                if len(unit) == 2 else "a trailing odd byte")
        raise FileRefused(name, f"is not valid UTF-16 text ({what} at line {line}, column {column}); save it as UTF-8",
                          "not-utf16", line, column) from None
    return Decoded(text, encoding)


def read_text(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
              limit: int = DEFAULT_LIMIT, shown: str | None = None) -> str:
    """``read_bytes`` decoded as Go YAML decodes (:func:`decode`); a decoding problem is a FileRefused with line and
    column."""
    name = shown if shown is not None else os.fspath(path)
    return decode(read_bytes(path, root=root, limit=limit, shown=shown), name).text


__all__ = ["DEFAULT_LIMIT", "Decoded", "FileRefused", "decode", "read_bytes", "read_text", "scan_text"]
