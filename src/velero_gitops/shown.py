"""What the tool prints of a string it did not write: one line, no terminal control, no CI workflow command.

Shared by every printer (validate's reports, the CLI's messages, render's diffs): a control character cannot start a
new line or move the cursor, so a file name or a server's string cannot forge a finding, a summary or a ``::error``
workflow command.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The GitHub Actions runner reads every stdout and stderr line of a step for workflow commands
# (actions/runner@v2.336.0:src/Runner.Common/ActionCommand.cs): TryParseV2 takes a line that starts with `::`
# after TrimStart, TryParse (v1) finds `##[` anywhere in a line. A line of ours starts with a character the tool
# chose (``lead``); `##[` inside a string from the tree is written `#\x23[`.
V1_COMMAND = "##["


def escape_char(c: str) -> str:
    o = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape): the byte
        return f"\\x{o - 0xDC00:02x}"
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def esc(s: str | None) -> str:
    """``s`` with every character Python does not call printable written as an escape (``\\n``, ``\\x1b``,
    ``\\u202e``): controls, format characters (bidi overrides, zero-width), lone surrogates (a file name's bytes
    that are not UTF-8, as ``\\xff``), separators and whitespace other than the space, unassigned and
    non-characters (U+FFFE); and the runner's `##[` as ``#\\x23[``."""
    if not s:
        return s or ""
    if not s.isprintable():  # one C-speed scan for the common case
        s = "".join(c if c.isprintable() else escape_char(c) for c in s)
    return s.replace(V1_COMMAND, "#\\x23[") if V1_COMMAND in s else s


# what a line of ours may start with: none is whitespace to .NET's TrimStart, none is `:`
_LEAD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-*([<'\"")


def shown_path(path: str) -> str:
    """A path as the first word of a line: one that does not start with a character in ``_LEAD`` (a root file
    named `::error ...`, ` x` or `\u3000x`) is written ``./path``, which names the same file."""
    return path if not path or path[0] in _LEAD else f"./{path}"


def lead(line: str) -> str:
    """``line`` as printed: it starts with a character the tool chose (the indentation of our own lines is
    spaces), else it gets the ``./`` of a path; so the runner never reads a workflow command in it."""
    first = line.lstrip(" ")[:1]
    return line if not first or first in _LEAD else f"./{line}"


def some(names: list[str], first: int = 3) -> str:
    """Names for a message: the first few, then how many more (hundreds may share one finding)."""
    return ", ".join(names[:first]) + (f" and {len(names) - first} more" if len(names) > first else "")
