"""Regular expressions as kubeconform reads them: Go's regexp, that is RE2 syntax matched in linear time.

kubeconform searches each ``-ignore-filename-pattern`` in a file's path with ``regexp.MatchString(p, path)``
(yannh/kubeconform@v0.7.0:pkg/resource/files.go), and Go's regexp is RE2 (no backreferences, no lookaround;
time linear in the input). The google-re2 binding gives the same syntax and the same guarantee, so a pattern
from a pull request (``(a+)+$`` on a folder ``aaaa…!``) costs one pass over each path, not 2^n steps. A pattern
RE2 rejects is a config or usage error, as Go's regexp.Compile error would be.

A path is matched as Go reads its string: a byte that is not UTF-8 is the rune U+FFFD (golang/go regexp's input
decodes with utf8.DecodeRune), so `.` matches it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error comes back as an exception; RE2 would also write it to stderr


def linear(pattern: str | bytes) -> Any:
    """One of our own patterns, compiled with RE2: time linear in the text it reads, whatever a pull request puts in
    that text (Python's backtracking engine took tens of CPU seconds on 20,000 characters for several of them).
    Flags are written inline (``(?s)``, ``(?m)``, ``(?i)``); ``\\d``, ``\\w``, ``\\s`` are ASCII, as in Go."""
    return re2.compile(pattern, options=_OPTIONS)


class PatternError(ValueError):
    """``str()`` says what RE2 found wrong, e.g. ``invalid perl operator: (?=``."""


class GoRegexp:
    """One compiled pattern; ``found(path)`` is Go's ``regexp.MatchString``: searched anywhere, not anchored."""

    def __init__(self, pattern: str):
        try:
            self._re: Any = re2.compile(os.fsencode(pattern), options=_OPTIONS)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
            raise PatternError(f"{reason} (Go's regexp syntax, RE2: no lookaround, no backreferences)") from None

    def found(self, path: str) -> bool:
        return self._re.search(os.fsencode(path).decode("utf-8", "replace").encode()) is not None


def matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate: some pattern is found in the path. PatternError for the first pattern RE2 rejects."""
    compiled = [GoRegexp(p) for p in patterns]
    if not compiled:
        return lambda _p: False
    return lambda path: any(c.found(path) for c in compiled)
