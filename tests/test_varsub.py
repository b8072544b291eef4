"""Flux's postBuild substitution (varsub), case by case as fluxcd/pkg@envsubst/v1.7.0:envsubst decides it
(parse/parse.go parseFunc, template.go evalFunc/lookupFunc, funcs.go toDefault), called by
fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go varSubstitution with the non-strict lookup
(an undefined variable is empty)."""

from __future__ import annotations

import pytest

from velero_gitops import varsub
from velero_gitops.varsub import BadSubstitution, expand, lookup_from, substitute_documents

VARS = {"APP": "web", "EMPTY": "", "NAME": "hello"}


@pytest.mark.parametrize("text, want", [
    ("${APP}", "web"),
    ("${UNDEFINED}", ""), ("${1X}", ""),  # non-strict: an undefined variable is empty
    ("$APP", "$APP"),  # only ${...} is an expression
    ("$${APP}", "${APP}"),  # $$ is a literal $
    ("a$$b", "a$b"),
    ("${EMPTY:-x}", "x"), ("${EMPTY:=x}", "x"), ("${EMPTY=x}", "x"), ("${EMPTY:+x}", "x"), ("${EMPTY:?x}", "x"),
    ("${APP:-x}", "web"), ("${APP:+x}", "web"),  # every default operator is toDefault: the value when not empty
    ("${U:-https://${APP}.lab}", "https://web.lab"),  # the default may hold expressions
    ("${NAME^^}", "HELLO"), ("${NAME^}", "Hello"), ("${APP,,}", "web"), ("${#NAME}", "5"),
])
def test_expressions(text, want):
    assert expand(text, lookup_from(VARS, complete=True)) == (want, True)


@pytest.mark.parametrize("text", ["${APP-x}", "${}", "${APP", "${APP+x}"])
def test_what_the_controller_refuses(text):
    """A form envsubst cannot parse fails the Kustomization's post build ("envsubst error")."""
    with pytest.raises(BadSubstitution):
        expand(text, lookup_from(VARS, complete=True))


@pytest.mark.parametrize("text", ["${FROM_SECRET}", "${FROM_SECRET:=x}", "${NAME/l/L}", "${NAME:1:2}", "${NAME%o}"])
def test_unknown_stays_as_written(text):
    """A variable that may come from a Secret we cannot read, or a form not modelled, is unknown: left as written."""
    assert expand(f"a {text} b", lookup_from(VARS, complete=False)) == (f"a {text} b", False)


def test_documents_opt_out_and_need_variables():
    text = "a: ${APP}\n---\nmetadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\nb: ${APP}\n"
    assert substitute_documents(text, lookup_from(VARS, True)) == text.replace("a: ${APP}", "a: web")
    assert substitute_documents(text, None) == text  # no variable and no substituteStrategy: Always: not run


@pytest.mark.parametrize("text", ["x: " + "${A:=" * 3000 + "v" + "}" * 3000 + "\n",
                                  "x: ${A" + "{" * 3000 + "}" * 3000 + "\n",
                                  "x: " + "${A:-${B:=" * 1500 + "}}" * 1500 + "\n"])
def test_substitution_of_deeply_nested_defaults_ends(text):
    """A hostile postBuild value nests defaults thousands deep: the result is bounded text, no RecursionError."""
    out = substitute_documents(text, lookup_from({"C": "1"}, False))
    assert isinstance(out, str) and len(out) <= len(text)


def _steps(text: str) -> int:
    """Python lines that varsub executes to substitute ``text`` (operations, not time)."""
    import sys

    import velero_gitops.varsub as mod

    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != mod.__file__:
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        substitute_documents(text, lookup_from({"B": "1"}, True))
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("shape", [
    lambda n: "${A:-" * n + "x" + "}" * n,  # attacker round 6: nested defaults (was quadratic: each level re-scanned)
    lambda n: "${A:-${B}" * n + "}" * n,
    lambda n: "${A:=a$${B}" * n + "}" * n,
    lambda n: "${A:-x} " * n,
    lambda n: "${" * n,
])
def test_substitution_is_linear_in_the_input(shape):
    """Work grows with the input as envsubst's one-pass parser does (fluxcd/pkg@envsubst/v1.7.0:envsubst/parse/parse.go
    reads the buffer once; a nested ``${`` is parsed where it stands): four times the text, at most about four times
    the steps. The attacker's value of 480 KB took 92 s when every nesting level scanned the rest of the text."""
    small, large = _steps(f"k: '{shape(300)}'\n"), _steps(f"k: '{shape(1200)}'\n")
    assert large <= 4.5 * small + 50, (small, large)


@pytest.mark.parametrize("text, bare", [
    ("${A}", True), ("x-${A}-y", True), ("${A:=${B}}", True), ("${A:=lit}", False), ("${A:-${B}x}", False),
    ("$${A}", False), ("no reference", False), ("${A:1:2}", True),
])
def test_holds_bare_reference_counts_a_default_as_text_in_git(text, bare):
    """fluxcd/pkg@envsubst/v1.7.0:template.go maps every default operator to toDefault: an unset variable gives the
    default, which the file shows."""
    assert varsub.holds_bare_reference(text) is bare


def test_outcomes_are_the_worlds_flux_may_make():
    """fluxcd/pkg@envsubst/v1.7.0:envsubst funcs.go toDefault: the value when set and not empty, else the default.
    With the values unknown, a text may become either: each variable set, or each defaulted one unset."""
    from velero_gitops.varsub import outcomes

    assert outcomes("https://x", "v") == [("https://x", "")]
    assert [u for u, _ in outcomes("https://${H:=a.b}:9000", "v")] == ["https://v:9000", "https://a.b:9000"]
    assert [u for u, _ in outcomes("https://${H:-${D}.lab}", "v")] == ["https://v", "https://v.lab"]
    assert [u for u, _ in outcomes("https://minio.${D}", "v")] == ["https://minio.v"]
    assert [u for u, _ in outcomes("https://${H/x/y}", "v")] == ["https://v"]  # a form not modelled: the stand-in
    with pytest.raises(BadSubstitution):
        outcomes("https://${H-a}", "v")


def test_values_copied_at_each_reference_are_bounded_by_one_budget():
    """envsubst copies a value at every reference, without bound (fluxcd/pkg@envsubst/v1.7.0:envsubst template.go
    Execute appends each lookup): a 64 KiB value referenced 20,000 times would make 1.3 GB. What the values may add is
    bounded by the size of a file the tool reads, counted in characters before the text is made, and one budget is
    shared by every expansion of one unit (a file's scalars, a build's documents)."""
    value = "a" * 65536
    refs = varsub.OUTPUT_LIMIT // len(value)
    lookup = lookup_from({"A": value}, complete=True)
    assert len(expand("${A}" * refs, lookup)[0]) == varsub.OUTPUT_LIMIT  # up to the limit: made
    with pytest.raises(varsub.TooLarge, match="exceeds 8 MiB"):
        expand("${A}" * 20000, lookup)
    shared = varsub.Budget()
    for _ in range(refs):
        expand("${A}", lookup, budget=shared)  # each call is small ...
    with pytest.raises(varsub.TooLarge):
        expand("${A}", lookup, budget=shared)  # ... but the unit's total is not
    with pytest.raises(varsub.TooLarge):
        substitute_documents("k: ${A}\n---\n" * (refs + 1), lookup)


@pytest.mark.parametrize("text", ["https://nas.${domain}:3000", "${datasource} $$ $x a$", "$${domain}", "$$${domain}",
                                  "${domain}${datasource}", "${domain:=${x}}", "${"])
def test_escaping_all_but_some_expressions_substitutes_only_those(text):
    """render/plan.py lets Flux substitute an object that holds the config's `${domain}`: every other `$` is doubled,
    since envsubst makes `$$` a literal `$` (fluxcd/pkg@envsubst/v1.7.0:parse/parse.go), so substitution gives the
    text back with only the kept expressions replaced."""
    keep = frozenset(e for e in varsub.expressions(text) if "domain" in e)
    escaped = varsub.escape_except(text, keep)
    want = text
    for e in keep:
        want = want.replace(e, "EXAMPLE")
    assert expand(escaped, lookup_from({"domain": "EXAMPLE", "x": "y"}, complete=True))[0] == want
