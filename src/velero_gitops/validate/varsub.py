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

NAME = re.compile(r"\w+")  # scan.go acceptIdent: letters, digits, underscore (a reference may start with a digit)
VALID_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")  # varsubRegex: other names fail the Kustomization
DISABLED = "kustomize.toolkit.fluxcd.io/substitute"

# a variable's value: a str, or None when it cannot be known from the repository (a Secret we cannot read)
Lookup = Callable[[str], "str | None"]


class BadSubstitution(ValueError):
    """The controller's envsubst refuses the text: the Kustomization fails."""


class _Unknown(Exception):
    pass


def expand(text: str, lookup: Lookup) -> tuple[str, bool]:
    """(the text after substitution, whether every expression was known). An expression whose value is unknown
    stays as written. Raises BadSubstitution where the controller's envsubst fails."""
    out: list[str] = []
    known = True
    i, n = 0, len(text)
    while i < n:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        if text.startswith("$$", j):
            out.append("$")
            i = j + 2
        elif text.startswith("${", j):
            end = _closing(text, j + 2)
            try:
                out.append(_func(text[j + 2:end], lookup))
            except _Unknown:
                out.append(text[j:end + 1])
                known = False
            i = end + 1
        else:
            out.append("$")
            i = j + 1
    return "".join(out), known


def _closing(text: str, start: int) -> int:
    depth, k = 1, start
    while k < len(text):
        if text.startswith("${", k):
            depth, k = depth + 1, k + 2
            continue
        if text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    raise BadSubstitution("missing closing brace")


def _func(body: str, lookup: Lookup) -> str:
    if body.startswith("#"):
        m = NAME.fullmatch(body[1:])
        if m is None:
            raise _Unknown  # ${#VAR...}: a removal form, not modelled
        return str(len(_value(m.group(0), lookup)))
    m = NAME.match(body)
    if m is None:
        raise BadSubstitution(f"unable to parse variable name in ${{{body}}}")
    name, rest = m.group(0), body[m.end():]
    if rest == "":
        return _value(name, lookup)
    if rest[:2] in (":-", ":=", ":+", ":?") or rest[:1] == "=":
        arg = rest[2:] if rest[0] == ":" else rest[1:]
        value = _value(name, lookup)
        if value:
            return value
        try:
            expanded, known = expand(arg, lookup)
        except RecursionError:  # defaults nested thousands deep (hostile): a value not known here
            raise _Unknown from None
        if not known:
            raise _Unknown
        return expanded
    case = {",": lambda v: v[:1].lower() + v[1:], ",,": str.lower, "^": lambda v: v[:1].upper() + v[1:], "^^": str.upper}
    if rest in case:
        return case[rest](_value(name, lookup))
    if rest[0] in ":/#%":
        raise _Unknown  # substring, replacement, removal: valid for the controller, not modelled
    raise BadSubstitution(f"bad substitution ${{{body}}}")


def _value(name: str, lookup: Lookup) -> str:
    v = lookup(name)
    if v is None:
        raise _Unknown
    return v


_REF = re.compile(r"(?<!\$)\$\{#?(\w+)")


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
    document that opts out, or that the controller's envsubst refuses, is left as it is."""
    if lookup is None or "$" not in text:
        return text
    out = []
    for d in _DOC.split(text):
        if f"{DISABLED}: disabled" not in d:
            try:
                d = expand(d, lookup)[0]
            except BadSubstitution:
                pass
        out.append(d)
    return "---\n".join(out)
