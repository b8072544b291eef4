"""Flux's postBuild variable substitution: the one engine, with the controller's semantics.

kustomize-controller substitutes each built object, serialized as YAML, then parses the result again
(fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go SubstituteVariables → varSubstitution), using
fluxcd/pkg@envsubst/v1.7.0:envsubst (parse/parse.go, template.go, funcs.go):

* only ``${...}`` is an expression (a bare ``$VAR`` is text); ``$$`` is a literal ``$``;
* ``${VAR}``; ``${VAR:-x}``, ``${VAR:=x}``, ``${VAR:+x}``, ``${VAR:?x}`` and ``${VAR=x}`` all give the value when
  it is not empty, else ``x`` (template.go maps every default operator to ``toDefault``); ``x`` may hold ``${...}``;
* ``${VAR,}``/``${VAR,,}``/``${VAR^}``/``${VAR^^}`` change case, ``${#VAR}`` is the length;
* substring, removal and replacement forms exist but are not modelled: their value is unknown here;
* ``${VAR-x}``, ``${}`` or an unclosed ``${`` fail the whole substitution (a bad substitution);
* without the StrictPostBuildSubstitutions feature gate an undefined variable is empty.

Variables come from ``postBuild.substituteFrom`` (ConfigMaps, Secrets; newlines removed) and then
``postBuild.substitute``; substitution runs only when there is at least one variable, or with
``postBuild.substituteStrategy: Always`` (fluxcd/kustomize-controller@v1.9.4:api/v1/kustomization_types.go,
internal/controller/kustomization_controller.go SubstituteWithAlways). An object labelled or annotated
``kustomize.toolkit.fluxcd.io/substitute: disabled`` is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from velero_gitops.safefile import DEFAULT_LIMIT

NAME = re.compile(r"\w+")  # scan.go acceptIdent: letters, digits, underscore (a reference may start with a digit)
VALID_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")  # varsubRegex: other names fail the Kustomization
DISABLED = "kustomize.toolkit.fluxcd.io/substitute"

# a variable's value: a str, or None when it cannot be known from the repository (a Secret we cannot read)
Lookup = Callable[[str], "str | None"]


class BadSubstitution(ValueError):
    """The controller's envsubst refuses the text: the Kustomization fails."""


class _Unknown(Exception):
    pass


# What substitution may write: the size of a file the tool reads (safefile.DEFAULT_LIMIT). A value is copied once per
# reference, so a 64 KiB variable referenced 20,000 times in a 80 KB file would make 1.3 GB; the controller would do
# it (envsubst has no bound), the API server then refuses any object over 1.5 MiB. Beyond the budget the substituted
# text is not made: what it holds is not evaluated.
OUTPUT_LIMIT = DEFAULT_LIMIT


class Budget:
    """The characters that variables' values may still add, shared by every ``expand`` of one unit (a file's
    objects, a build's output): the unit's substituted text is bounded, not each scalar's."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise TooLarge(self.limit)


class TooLarge(Exception):
    """Substitution would write more than its budget: not done, and what it would make is not evaluated.
    ``at`` is the JSON pointer of the value where the budget ran out, when the caller knows it."""

    def __init__(self, limit: int, at: str = "") -> None:
        super().__init__(too_large_message(limit))
        self.limit, self.at = limit, at


def too_large_message(limit: int) -> str:
    return (f"not evaluated: the postBuild-substituted output exceeds {limit / (1 << 20):g} MiB (variables' values "
            "copied at each reference); Flux would write it and the API server refuses an object over 1.5 MiB: "
            "reference large values fewer times, or keep them out of postBuild variables")


# Nesting of ``${...}`` inside defaults beyond this is not followed: the expression's value is unknown here (a
# hostile value nests thousands deep; the controller's parser recurses without bound, our stack does not).
MAX_DEPTH = 64
_BRACES = re.compile(r"\$\{|\}")


def expand(text: str, lookup: Lookup, unknown: str | None = None, budget: Budget | None = None) -> tuple[str, bool]:
    """(the text after substitution, whether every expression was known). An expression whose value is unknown
    stays as written, or becomes ``unknown`` when given. Raises BadSubstitution where the controller's envsubst fails,
    TooLarge when the values would add more than ``budget`` (by default one of OUTPUT_LIMIT for this call), before
    the text is made.

    Linear in ``text``: like envsubst's parser (parse/parse.go parses the buffer once, a nested ``${`` inside a
    default being parsed where it stands), every ``${`` is paired with its closing brace in one scan, and each
    expression then works on index ranges of the one text, never on copies of its body."""
    run = _Expansion(text, lookup, unknown, budget or Budget())
    out: list[str] = []
    known = run.region(0, len(text), out, 0)
    return "".join(out), known


class _Expansion:
    def __init__(self, text: str, lookup: Lookup, unknown: str | None, budget: Budget) -> None:
        self.text, self.lookup, self.unknown, self.budget = text, lookup, unknown, budget
        self.closing = _pairs(text)

    def region(self, lo: int, hi: int, out: list[str], depth: int) -> bool:
        """Expands ``text[lo:hi]`` onto ``out``; whether every expression was known. At the top (depth 0) an unknown
        expression is kept as written; inside a default the caller drops the whole expression, so nothing is kept."""
        text, known, i = self.text, True, lo
        while i < hi:
            j = text.find("$", i, hi)
            if j < 0:
                out.append(text[i:hi])
                break
            out.append(text[i:j])
            if text.startswith("$$", j, hi):
                out.append("$")
                i = j + 2
            elif text.startswith("${", j, hi):
                end = self.closing.get(j)
                if end is None or end >= hi:
                    raise BadSubstitution("missing closing brace")
                mark = len(out)
                try:
                    self.func(j + 2, end, out, depth)
                except _Unknown:
                    del out[mark:]
                    if depth == 0:
                        out.append(text[j:end + 1] if self.unknown is None else self.unknown)
                    known = False
                i = end + 1
            else:
                out.append("$")
                i = j + 1
        return known

    def func(self, lo: int, end: int, out: list[str], depth: int) -> None:
        """The expression whose body is ``text[lo:end]``, appended to ``out``."""
        text = self.text
        if text.startswith("#", lo, end):
            m = NAME.fullmatch(text, lo + 1, end)
            if m is None:
                raise _Unknown  # ${#VAR...}: a removal form, not modelled
            out.append(str(len(self.value(m.group(0)))))
            return
        m = NAME.match(text, lo, end)
        if m is None:
            raise BadSubstitution(f"unable to parse variable name in ${{{text[lo:end]}}}")
        name, at = m.group(0), m.end()
        if at == end:
            out.append(self.value(name))
            return
        if text.startswith((":-", ":=", ":+", ":?", "="), at, end):
            value = self.value(name)
            if value:
                out.append(value)
            elif depth >= MAX_DEPTH or not self.region(at + (2 if text[at] == ":" else 1), end, out, depth + 1):
                raise _Unknown
            return
        rest = text[at:end] if end - at <= 2 else ""
        if rest in _CASE:
            out.append(_CASE[rest](self.value(name)))
            return
        if text[at] in ":/#%":
            raise _Unknown  # substring, replacement, removal: valid for the controller, not modelled
        raise BadSubstitution(f"bad substitution ${{{text[lo:end]}}}")

    def value(self, name: str) -> str:
        v = self.lookup(name)
        if v is None:
            raise _Unknown
        self.budget.spend(len(v))  # the only text not copied from the input: what the budget bounds
        return v


_CASE: dict[str, Callable[[str], str]] = {",": lambda v: v[:1].lower() + v[1:], ",,": str.lower,
                                          "^": lambda v: v[:1].upper() + v[1:], "^^": str.upper}


def _pairs(text: str) -> dict[int, int]:
    """Position of each ``${`` -> position of the ``}`` that closes it (a ``${`` after it opens a level more), in one
    pass; an unclosed ``${`` has no entry."""
    open_at: list[int] = []
    closing: dict[int, int] = {}
    for m in _BRACES.finditer(text):
        if m.group() == "${":
            open_at.append(m.start())
        elif open_at:
            closing[open_at.pop()] = m.start()
    return closing


def holds_bare_reference(text: str) -> bool:
    """Some ``${...}`` of ``text`` gives nothing Git shows: with every variable empty it is empty (``${VAR}``, or a
    default that is itself only references), or its value is not modelled. A default such as ``${VAR:=x}`` is text
    in Git: when the variable is unset it is what is applied. ``$${...}`` is an escape, text too."""
    for e in expressions(text):
        try:
            value, known = expand(e, lambda name: "")
        except BadSubstitution:
            value, known = "x", True  # the controller refuses it: not a hidden value
        if not known or not value.strip():
            return True
    return False


_REF = re.compile(r"(?<!\$)\$\{#?(\w+)")
_DEFAULTED = re.compile(r"(?<!\$)\$\{(\w+)(?::[-=+?]|=)")  # a name with a default operator after it


def outcomes(text: str, stand_in: str) -> list[tuple[str, str]]:
    """What Flux may make of ``text`` when the values of its variables are not known here, each as (text, when):
    every variable set (each expression becomes ``stand_in``, a value of the caller's choosing), and every variable
    that has a default unset (the controller then substitutes the default: funcs.go toDefault, with a variable
    without default set). ``when`` is "" for text without expressions. Raises BadSubstitution as ``expand``."""
    if "$" not in text:
        return [(text, "")]
    out = [(expand(text, lambda name: stand_in, unknown=stand_in)[0], "with every variable set")]
    defaulted = list(dict.fromkeys(_DEFAULTED.findall(text)))
    if defaulted:
        unset = set(defaulted)
        shown = ", ".join(defaulted)
        out.append((expand(text, lambda name: "" if name in unset else stand_in, unknown=stand_in)[0],
                    f"with {shown} unset, where Flux substitutes the default"))
    return out


def names(text: str) -> list[str]:
    """The variable names ``text`` refers to, in order, defaults' included (``$${x}`` is an escape, no reference)."""
    return list(dict.fromkeys(m[1] for m in _REF.finditer(text)))


def disabled(obj: dict) -> bool:
    """Labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled``."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return False
    return any(isinstance(m, dict) and m.get(DISABLED) == "disabled" for m in (md.get("labels"), md.get("annotations")))


def lookup_from(values: dict[str, str], complete: bool) -> Lookup:
    """The controller's non-strict lookup over the variables known from the repository: an undefined variable is
    empty when every source of variables was read (``complete``), else unknown."""
    return lambda name: values.get(name, "" if complete else None)


_DOC = re.compile(r"(?m)^---[ \t]*\n")


def substitute_documents(text: str, lookup: Lookup | None) -> str:
    """Substitution on a build's output (YAML documents, as kustomize writes them), document by document; a
    document that opts out, or that the controller's envsubst refuses, is left as it is. Raises TooLarge when the
    values would add more than OUTPUT_LIMIT to the whole output."""
    if lookup is None or "$" not in text:
        return text
    out = []
    budget = Budget()
    for d in _DOC.split(text):
        if f"{DISABLED}: disabled" not in d:
            try:
                d = expand(d, lookup, budget=budget)[0]
            except BadSubstitution:
                pass
        out.append(d)
    return "---\n".join(out)


def expressions(text: str) -> list[str]:
    """The top-level ``${...}`` expressions of ``text`` as written, in order (``$${...}`` is an escape, an unclosed
    ``${`` none): what envsubst replaces (fluxcd/pkg@envsubst/v1.7.0:parse/parse.go)."""
    if "${" not in text:
        return []
    closing = _pairs(text)
    out: list[str] = []
    i = 0
    while (j := text.find("$", i)) >= 0:
        if text.startswith("$$", j):
            i = j + 2
            continue
        end = closing.get(j) if text.startswith("${", j) else None
        if end is None:
            i = j + 1
            continue
        out.append(text[j:end + 1])
        i = end + 1
    return out


def escape_except(text: str, keep: frozenset[str]) -> str:
    """``text`` written so that substitution gives it back with only the expressions in ``keep`` replaced: every
    other ``$`` is doubled (envsubst makes ``$$`` a ``$``, fluxcd/pkg@envsubst/v1.7.0:parse/parse.go), so a
    Grafana ``${datasource}`` or a ``$$`` elsewhere in the object stays as it is."""
    if "$" not in text:
        return text
    closing = _pairs(text)
    out: list[str] = []
    i = 0
    while (j := text.find("$", i)) >= 0:
        out.append(text[i:j])
        end = closing.get(j) if text.startswith("${", j) and not text.startswith("$$", j) else None
        if end is not None and text[j:end + 1] in keep:
            out.append(text[j:end + 1])
            i = end + 1
        else:
            out.append("$$")
            i = j + 1
    out.append(text[i:])
    return "".join(out)


def has_default(expression: str) -> bool:
    """``${VAR:=x}`` and the other default forms: a name written for Flux's substitution whatever its variables."""
    return bool(_DEFAULTED.match(expression))
