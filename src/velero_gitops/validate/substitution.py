"""[flux.substitute] A `${...}` that a parent's patched-in postBuild would blank, meant for another tool.

kustomize-controller runs envsubst on every object of a Kustomization that has postBuild variables, its own
or patched in by a parent Kustomization (home-ops repositories patch postBuild into every child), unless the
object carries `kustomize.toolkit.fluxcd.io/substitute: disabled` as a label or annotation
(fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go SubstituteVariables, kustomize-controller v1.9.4).
A Grafana dashboard's `${datasource}` then becomes an empty string. The rendered objects carry the annotation;
this rule finds the others (and a tree rendered before it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops import varsub
from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.validate import resolve
from velero_gitops.validate.documents import Obj, dig
from velero_gitops.validate.yamlload import Doc, YAMLError, load_all

if TYPE_CHECKING:  # types only: the engine hands the graph in
    from velero_gitops.validate.flux import Graph

RULE = define("flux.substitute", "warning", "a `${name}` that a parent-patched `postBuild` does not define, in an object without `kustomize.toolkit.fluxcd.io/substitute: disabled`: Flux blanks it")
TOO_LARGE = define("flux.substitute-size", "error", "postBuild substitution that would write more than a file's "
                   "size limit (values copied at each reference): the objects it makes are not evaluated")
LITERAL = define("flux.substitute-disabled", "warning", "a `${name}` that its Flux Kustomization's `postBuild` defines, in an object with `kustomize.toolkit.fluxcd.io/substitute: disabled`: Flux leaves it as written")
KEY = "kustomize.toolkit.fluxcd.io/substitute"
# what envsubst replaces (`$${x}` is an escape); a name with a default (`${x:=d}`) is meant for Flux
_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _disabled(o: Obj) -> bool:
    md = o.data.get("metadata")
    return isinstance(md, dict) and any(
        isinstance(m, dict) and m.get(KEY) == "disabled" for m in (md.get("labels"), md.get("annotations")))


def _variables(g: Graph, ks: Obj) -> tuple[set[str] | None, Obj | None]:
    """(the variable names a parent's patch makes ``ks`` substitute, None when no parent patches postBuild in or when
    the names cannot be known; that parent). Unset names become empty strings (fluxcd/pkg envsubst, not strict).
    Only a patched-in postBuild counts: there the author of what ``ks`` applies did not choose substitution."""
    # the graph applies parents' patches to their child Kustomizations in place (validate/flux.py): the parent is
    # one with a patch that selects ``ks`` and writes its postBuild
    ns = g.ns_of(ks)
    parent = next((p for p in g.parents(ks) if any(
        resolve.writes(pt, "postBuild") and resolve.selects(pt, ks, ns) for pt in g.kustomization(p).patches)), None)
    own = dig(ks.data, "spec", "postBuild")
    if parent is None or not isinstance(own, dict) or not (own.get("substitute") or own.get("substituteFrom")):
        return None, None  # none, or the Kustomization's own: its author chose substitution for what it applies
    names = g.variable_names(ks)  # the one reading of substituteFrom: namespace, cluster; encrypted keys are shown
    return names, parent


def _uses(node: object) -> dict[str, str]:
    """Each `${name}` in the keys and string values of a parsed document, with the JSON pointer (RFC 6901) of its
    first use in document order: what kustomize serializes and envsubst reads (a YAML comment is gone once kustomize
    has built the object, so a `${VAR}` there is never substituted)."""
    out: dict[str, str] = {}
    stack: list[tuple[object, str, bool]] = [(node, "", False)]  # (node, its pointer, is a mapping key)
    while stack:
        n, at, key = stack.pop()
        if isinstance(n, dict):
            for k, v in reversed(list(n.items())):
                sub = f"{at}/{str(k).replace('~', '~0').replace('/', '~1')}"
                stack.append((v, sub, False))
                stack.append((k, sub, True))
        elif isinstance(n, list):
            stack.extend((v, f"{at}/{i}", False) for i, v in reversed(list(enumerate(n))))
        elif isinstance(n, str) and "${" in n:
            for m in _VAR.finditer(n):
                out.setdefault(m[1], at)
    return out


def check(g: Graph, objects: list[Obj]) -> list[Finding]:
    out: list[Finding] = [o.finding(g.too_large[id(o)][0].at, _too_large(g, g.too_large[id(o)]), TOO_LARGE)
                          for o in objects if id(o) in g.too_large]
    written: dict[Path, list[Doc]] = {}  # file -> its documents as written (before the graph substituted anything)
    for o in objects:
        if o.path is None or _disabled(o) or o.encrypted:
            continue
        rp = g.real(o.path)
        for ks in g.applied_by.get(rp, []):
            known, parent = _variables(g, ks)
            if known is None:
                continue
            if rp not in written:
                try:
                    written[rp] = load_all(g.run.text(rp))  # the run's text: each file is read once
                except (OSError, ValueError, YAMLError):
                    written[rp] = []
            docs = [d for d in written[rp] if d.index == o.index]
            uses = _uses(docs[0].data) if docs else {}
            blanked = [n for n in uses if n not in known]  # in document order: the finding is on the first
            if not blanked:
                break
            via = f" (patched in by Flux Kustomization {g.ns_of(parent)}/{getattr(parent, 'name', '')})" if parent is not None else ""
            out.append(o.finding(
                uses[blanked[0]], f"Flux Kustomization {g.ns_of(ks)}/{ks.name} substitutes postBuild variables{via} into this "
                f"object, and {', '.join('${' + n + '}' for n in sorted(blanked))} is none of them (meant for another tool, "
                "such as Grafana's `${datasource}`): it would become an empty string. Add the annotation "
                f"`{KEY}: disabled` (velero-gitops render does), or write `$${{...}}`", RULE, "warning"))
            break
    return out


def _too_large(g: Graph, hit: tuple[varsub.TooLarge, Obj]) -> str:
    exc, ks = hit
    return f"Flux Kustomization {g.ns_of(ks)}/{ks.name} substitutes its postBuild variables here: {exc}"
def _expressions(node: object) -> list[tuple[str, list[str], str]]:
    """Each `${...}` in the keys and string values of a parsed document, in document order: (the expression, the
    names it refers to, the JSON pointer of where it stands)."""
    out: list[tuple[str, list[str], str]] = []
    stack: list[tuple[object, str]] = [(node, "")]
    while stack:
        n, at = stack.pop()
        if isinstance(n, dict):
            for k, v in reversed(list(n.items())):
                sub = f"{at}/{str(k).replace('~', '~0').replace('/', '~1')}"
                stack.append((v, sub))
                stack.append((k, sub))
        elif isinstance(n, list):
            stack.extend((v, f"{at}/{i}") for i, v in reversed(list(enumerate(n))))
        elif isinstance(n, str) and "${" in n:
            out.extend((e, varsub.names(e), at) for e in varsub.expressions(n))
    return out


def check_literal(g: Graph, objects: list[Obj]) -> list[Finding]:
    """[flux.substitute-disabled] A `${VAR}` in an object that opts out of substitution while the Flux Kustomization
    that applies it defines VAR in its postBuild (its own `substitute`/`substituteFrom`, or a parent's patched in):
    kustomize-controller skips the whole object (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go
    SubstituteVariables), so the value reaches the cluster as written (`https://nas.${domain}:3000`). A name with a
    default (`${VAR:=x}`) is meant for Flux whatever the variables are; other names only when Git shows them
    (variable_names): Grafana's `${datasource}` in a dashboard that opts out is no finding."""
    out: list[Finding] = []
    for o in objects:
        if o.path is None or not _disabled(o) or o.encrypted:
            continue
        uses = _expressions(o.data)
        if not uses:
            continue
        for ks in g.applied_by.get(g.real(o.path), []):
            if g.kustomization(ks).post_build is None:
                continue
            known = g.variable_names(ks) or set()
            hit = next(((e, at) for e, names, at in uses
                        if any(n in known for n in names) or varsub.has_default(e)), None)
            if hit is None:
                continue
            out.append(o.finding(
                hit[1], f"{hit[0]} stays as written: Flux Kustomization {g.ns_of(ks)}/{ks.name} substitutes postBuild "
                f"variables, but this object has `{KEY}: disabled`, so Flux skips it. Remove that annotation or label "
                "(and write `$${...}` for a `${...}` meant for another tool), or write the value itself", LITERAL,
                "warning"))
            break
    return out


def explain(findings: list[Finding], objects: list[Obj], g: Graph) -> list[Finding]:
    """``findings`` with each one on a value that postBuild substitution left empty said in the controller's terms:
    which variable has no value, in which Flux Kustomization, and the fix. Without the StrictPostBuildSubstitutions
    feature gate an undefined variable is an empty string (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go
    → fluxcd/pkg envsubst), and an empty plain scalar reads back as null; the finding keeps its rule and severity."""
    if not g.blanked:
        return findings
    by_ident = {(o.file, o.ident): o for o in objects if id(o) in g.blanked}
    out: list[Finding] = []
    for f in findings:
        o = by_ident.get((f.file, f.obj)) if f.obj is not None else None
        hit = _blanked_at(g.blanked[id(o)][0], f.pointer) if o is not None else None
        if o is None or hit is None:
            out.append(f)
            continue
        ks = g.blanked[id(o)][1]
        names = hit or ["?"]
        refs = ", ".join("${" + n + "}" for n in names)
        verb = "has" if len(names) == 1 else "have"
        empty = "reads back as null" if _at(o.data, f.pointer) is None else "is left empty"
        msg = (f"{refs} {verb} no value in the postBuild of Flux Kustomization {g.ns_of(ks)}/{ks.name}, so Flux "
               f"substitutes an empty string and the value {empty} ({f.message}): define {', '.join(names)} in "
               f"postBuild.substitute or postBuild.substituteFrom, or give a default `${{{names[0]}:=value}}`")
        out.append(Finding(f.file, f.line, f.obj, f.pointer, msg, f.rule, f.severity))
    return out


def _blanked_at(blanked: dict[str, list[str]], pointer: str) -> list[str] | None:
    """The names that left the value at ``pointer`` empty; None when substitution did not."""
    return blanked.get(pointer)


def _at(data: object, pointer: str) -> object:
    """The value at a JSON pointer (RFC 6901), None where there is none."""
    for part in (p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data
