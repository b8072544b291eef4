"""Regular expressions as kubeconform reads them: Go's regexp, that is RE2 syntax matched in linear time.

kubeconform searches each ``-ignore-filename-pattern`` in a file's path with ``regexp.MatchString(p, path)``
(yannh/kubeconform@v0.7.0:pkg/resource/files.go), and Go's regexp is RE2 (no backreferences, no lookaround;
time linear in the input). The google-re2 binding gives the same syntax and the same guarantee, so a pattern
from a pull request (``(a+)+$`` on a folder ``aaaa…!``) costs one pass over each path, not 2^n steps. A pattern
RE2 rejects is a config or usage error, as Go's regexp.Compile error would be.

A path is matched as Go reads its string: a byte that is not UTF-8 is the rune U+FFFD (golang/go regexp's input
decodes with utf8.DecodeRune), so `.` matches it.

Compile cost is bounded too: every pattern a file supplies (sops ``encrypted_regex``, ``.sops.yaml`` ``path_regex``,
kustomize selectors, ignore patterns) is compiled here, once per text per run (:class:`Programs`), each under RE2's
``max_mem`` and all of them under one budget for the run. RE2 compiles a Unicode class to a UTF-8 byte automaton, so
``\\pL{300}`` is ~360,000 instructions (0.1 s and megabytes each, attack round 7); Go keeps rune ranges and accepts a
program up to 128 MiB (golang/go@go1.23.0:src/regexp/syntax/parse.go checkSize, maxSize; sops compiles with it,
getsops/sops@v3.10.2:sops.go shouldBeEncrypted, config/config.go), so an over-bound pattern is valid to sops and is
reported as :class:`PatternCost`, never refused as invalid.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error comes back as an exception; RE2 would also write it to stderr


# RE2's memory for one repository pattern (its default is 8 MiB): 1 MiB holds ~64,000 instructions, e.g. `\pL{54}`,
# `.{1000}` or `[^/]+` anywhere a hundred times; the realistic patterns (`^(data|stringData)$`) take tens
PATTERN_MEMORY = 1 << 20
PATTERN_INSTRUCTIONS = 1 << 16  # what a pattern refused at PATTERN_MEMORY is charged: what it may compile before
RUN_INSTRUCTIONS = 1 << 22  # all repository patterns of one run together: 64 patterns at the bound, ~1.5 CPU seconds
_MIN_CHARGE = 256  # a pattern's fixed cost (parse, objects), so distinct tiny patterns are bounded in number too
_TOO_LARGE = "pattern too large"  # RE2's ErrorPatternTooLarge: max_mem reached while compiling


def linear(pattern: str | bytes) -> Any:
    """One of our own patterns, compiled with RE2: time linear in the text it reads, whatever a pull request puts in
    that text (Python's backtracking engine took tens of CPU seconds on 20,000 characters for several of them).
    Flags are written inline (``(?s)``, ``(?m)``, ``(?i)``); ``\\d``, ``\\w``, ``\\s`` are ASCII, as in Go."""
    return re2.compile(pattern, options=_OPTIONS)


class PatternError(ValueError):
    """``str()`` says what RE2 found wrong, e.g. ``invalid perl operator: (?=``."""


class PatternCost(ValueError):
    """A pattern Go accepts whose RE2 program is over this run's bound (one pattern's, or all patterns'); ``str()``
    says which bound and how to write the pattern within it."""


class Programs:
    """The compiled programs of one run, by pattern text: each text compiled once (its program or its error kept),
    under PATTERN_MEMORY, and no new compile once ``spent`` reaches ``budget`` instructions."""

    def __init__(self, budget: int = RUN_INSTRUCTIONS):
        self.budget = budget
        self.spent = 0
        self.compiles = 0
        self._options = re2.Options()
        self._options.log_errors = False
        self._options.max_mem = PATTERN_MEMORY
        self._known: dict[str, Any] = {}  # the program, or (error class, message)

    def program(self, pattern: str) -> Any:
        known = self._known.get(pattern)
        if known is None:
            known = self._known[pattern] = self._compile(pattern)
        if isinstance(known, tuple):
            raise known[0](known[1])
        return known

    def _compile(self, pattern: str) -> Any:
        if self.spent >= self.budget:
            return (PatternCost, f"over the run's bound: the repository's patterns before it compiled to "
                                 f"{self.spent:,} RE2 instructions (at most {self.budget:,}); use fewer distinct "
                                 "patterns, or simpler ones")
        self.compiles += 1
        try:
            compiled = re2.compile(os.fsencode(pattern), options=self._options)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
            if reason.startswith(_TOO_LARGE):
                self.spent += PATTERN_INSTRUCTIONS
                return (PatternCost, f"over {PATTERN_MEMORY >> 20} MiB of RE2 program (about "
                                     f"{PATTERN_INSTRUCTIONS:,} instructions): write it without large counted "
                                     "repetitions of classes (`+` or `*` instead of `{300}`, `.` instead of `\\pL`)")
            self.spent += _MIN_CHARGE
            return (PatternError, f"{reason} (Go's regexp syntax, RE2: no lookaround, no backreferences)")
        self.spent += max(compiled.programsize, len(pattern), _MIN_CHARGE)
        return compiled


_run: contextvars.ContextVar[Programs | None] = contextvars.ContextVar("goregexp_run", default=None)
_PROCESS = Programs()  # outside a run (a library caller): the process is the run


@contextlib.contextmanager
def run(budget: int = RUN_INSTRUCTIONS) -> Iterator[Programs]:
    """One command's run (the CLI opens it): its patterns share one cache and one budget."""
    token = _run.set(Programs(budget))
    try:
        yield _run.get() or _PROCESS
    finally:
        _run.reset(token)


class GoRegexp:
    """One compiled pattern; ``found(path)`` is Go's ``regexp.MatchString``: searched anywhere, not anchored.
    PatternError when Go refuses the pattern; PatternCost when it is over the run's bound (see Programs)."""

    def __init__(self, pattern: str, programs: Programs | None = None):
        self._re: Any = (programs or _run.get() or _PROCESS).program(pattern)

    def found(self, path: str) -> bool:
        return self._re.search(os.fsencode(path).decode("utf-8", "replace").encode()) is not None


def matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate: some pattern is found in the path. PatternError (or PatternCost) for the first pattern refused."""
    compiled = [GoRegexp(p) for p in patterns]
    if not compiled:
        return lambda _p: False
    return lambda path: any(c.found(path) for c in compiled)
