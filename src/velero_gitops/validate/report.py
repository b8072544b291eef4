"""Format findings: text, json, junit, github (workflow commands that become annotations).

One reporter class per format behind a small interface (``Reporter.render``). Every string that
comes from the validated tree (file names, object names, messages that quote values) is escaped
before it is printed: a control character cannot start a new line, so a file name cannot forge a
finding, a summary or a ``::error`` workflow command.

The summary line says what was counted: the findings printed above it (errors, warnings and notes), then
the objects (a failed kustomize build or unreadable file counts as one failed object). A note (rules.py: a
finding on what no Flux Kustomization applies) is labelled as one in every format and never fails a run: `note:`
in text and junit, ``"severity": "note"`` in json, a ``::notice`` annotation on GitHub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from velero_gitops.config.redact import redact
from velero_gitops.findings import Finding
from velero_gitops.shown import V1_COMMAND, esc, escape_char, lead, shown_path

FORMATS = ("text", "json", "junit", "github")

@dataclass(frozen=True)
class Counts:
    passed: int
    failed: int
    skipped: int
    errors: int
    warnings: int
    notes: int = 0


def counts(findings: list[Finding], passed: int, failed: int, skipped: int) -> Counts:
    errors = sum(1 for f in findings if f.severity == "error")
    notes = sum(1 for f in findings if f.severity == "note")
    return Counts(passed, failed, skipped, errors, len(findings) - errors - notes, notes)


def summary(c: Counts) -> str:
    def n(k: int, word: str) -> str:
        return f"{k} {word}" + ("" if k == 1 else "s")

    found = ", ".join(n(k, word) for k, word in ((c.errors, "error"), (c.warnings, "warning"), (c.notes, "note")) if k)
    s = f"{found or 'no findings'}; objects: {c.passed} passed, {c.failed} failed"
    return s + (f", {c.skipped} skipped" if c.skipped else "")


def text_line(f: Finding) -> str:
    parts = [esc(shown_path(f.location()))]
    if f.obj:
        parts.append(esc(f.obj))
    if f.pointer:
        parts.append(esc(f.pointer))
    head = " ".join(parts)
    sev = f"{f.severity}: " if f.severity in ("warning", "note") else ""
    return f"{head}: {sev}{esc(f.message)}"


class Reporter:
    """Turns findings and counts into the text of one output format."""

    def render(self, findings: list[Finding], c: Counts) -> str:  # pragma: no cover - interface
        raise NotImplementedError


GROUPED_LOCATIONS = 5  # locations shown on a grouped missing-schema line


def missing_schema_lines(findings: list[Finding]) -> tuple[list[str], list[Finding]]:
    """Missing-schema findings that share their message (one kind, one reason) as one line per kind with the
    objects' locations, and the hint once; the other findings are returned as they are."""
    from velero_gitops.validate.schemas import MISSING_HINT

    suffix = f" ({MISSING_HINT})"
    groups: dict[str, list[Finding]] = {}
    rest: list[Finding] = []
    for f in findings:
        if f.rule == "schema.missing" and f.message.endswith(suffix):
            groups.setdefault(f.message.removesuffix(suffix), []).append(f)
        else:
            rest.append(f)
    if sum(len(g) for g in groups.values()) < 2:
        return [], findings
    lines = []
    for message, fs in groups.items():
        shown = ", ".join(esc(f.location()) for f in fs[:GROUPED_LOCATIONS])
        more = f" and {len(fs) - GROUPED_LOCATIONS} more" if len(fs) > GROUPED_LOCATIONS else ""
        lines.append(f"{esc(message)}: {len(fs)} object{'s' * (len(fs) != 1)} ({shown}{more})")
    return [*lines, f"missing schemas: {MISSING_HINT}"], rest


GROUPED_REPEATS = 3  # one message at this many places or more is one text line


def repeated_lines(findings: list[Finding]) -> tuple[list[str], list[Finding]]:
    """Findings that say the same thing (rule, severity and message) at GROUPED_REPEATS places or more, as one text
    line with the places; a finding with a pointer is kept on its own line (its field is part of what it says). The
    machine formats (json, junit, github) keep every finding: only the terminal is spared the repetition."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for f in findings:
        if not f.pointer:
            groups.setdefault((f.rule, f.severity, f.message), []).append(f)
    big = {k for k, fs in groups.items() if len(fs) >= GROUPED_REPEATS}
    if not big:
        return [], findings
    rest = [f for f in findings if f.pointer or (f.rule, f.severity, f.message) not in big]
    lines = []
    for (_, severity, message), fs in groups.items():
        if (fs[0].rule, severity, message) not in big:
            continue
        places = [esc(f.location() + (f" {f.obj}" if f.obj else "")) for f in fs]
        more = f" and {len(fs) - GROUPED_LOCATIONS} more" if len(fs) > GROUPED_LOCATIONS else ""
        sev = f"{severity}: " if severity in ("warning", "note") else ""
        lines.append(f"{len(fs)} places: {sev}{esc(message)} ({', '.join(places[:GROUPED_LOCATIONS])}{more})")
    return lines, rest


class TextReporter(Reporter):
    def render(self, findings: list[Finding], c: Counts) -> str:
        grouped, rest = missing_schema_lines(findings)
        repeated, rest = repeated_lines(rest)
        return "\n".join(lead(line) for line in [*(text_line(f) for f in rest), *repeated, *grouped, summary(c)]) + "\n"


class JsonReporter(Reporter):
    def render(self, findings: list[Finding], c: Counts) -> str:
        import json

        u = _scalars
        doc = {
            "findings": [
                {"file": u(f.file), "line": f.line, "object": u(f.obj), "pointer": u(f.pointer), "message": u(f.message),
                 "rule": u(f.rule), "severity": f.severity}
                for f in findings
            ],
            "summary": {"passed": c.passed, "failed": c.failed, "skipped": c.skipped,
                        "errors": c.errors, "warnings": c.warnings, "notes": c.notes},
        }
        # json escapes control characters itself and writes ASCII (valid UTF-8); the runner's v1 `##[` is written
        # `#\u0023[`, the same string to a JSON reader
        return json.dumps(doc, indent=2).replace(V1_COMMAND, "#\\u0023[") + "\n"


class GithubReporter(Reporter):
    def render(self, findings: list[Finding], c: Counts) -> str:
        lines = []
        for f in findings:
            level = {"warning": "warning", "note": "notice"}.get(f.severity, "error")
            props = [f"file={_gh_prop(esc(f.file))}"]
            if f.line:
                props.append(f"line={f.line}")
            props.append(f"title={_gh_prop(esc(f.rule))}")
            msg = " ".join(esc(x) for x in (f.obj, f.pointer) if x)
            msg = f"{msg}: {esc(f.message)}" if msg else esc(f.message)
            lines.append(f"::{level} {','.join(props)}::{_gh_data(msg)}")
        lines.append(summary(c))
        return "\n".join(lines) + "\n"


class JunitReporter(Reporter):
    """One testcase per finding, one for the objects that passed and one for those skipped; the tests,
    failures and skipped attributes count those testcases, so a clean run is a passing test, not an empty
    report that CI viewers show as "no tests"."""

    def render(self, findings: list[Finding], c: Counts) -> str:
        from xml.sax.saxutils import escape, quoteattr

        by_file: dict[str, list[Finding]] = {}
        for f in findings:
            by_file.setdefault(esc(f.file), []).append(f)
        cases: list[str] = []
        for file, fs in sorted(by_file.items()):
            for f in fs:
                name = " ".join(esc(x) for x in (f.obj or "", f.pointer) if x) or file
                cases.append(f"    <testcase classname={quoteattr(file)} name={quoteattr(name)}>")
                if f.severity == "error":
                    cases.append(f"      <failure message={quoteattr(esc(f.message))} type={quoteattr(esc(f.rule))}>"
                                 f"{escape(text_line(f))}</failure>")
                else:
                    cases.append(f"      <system-out>{escape(text_line(f))}</system-out>")
                cases.append("    </testcase>")
        tests = len(findings)
        if c.passed:
            cases.append(f'    <testcase classname="velero-gitops" name="{c.passed} object{"s" * (c.passed != 1)} passed"/>')
            tests += 1
        if c.skipped:
            cases.append(f'    <testcase classname="velero-gitops" name="{c.skipped} object{"s" * (c.skipped != 1)} '
                         'skipped">\n      <skipped/>\n    </testcase>')
            tests += 1
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               f'<testsuites name="velero-gitops" tests="{tests}" failures="{c.errors}">',
               f'  <testsuite name="validate" tests="{tests}" failures="{c.errors}" skipped="{int(bool(c.skipped))}">',
               *cases]
        out.append(f"    <system-out>{escape(summary(c))}</system-out>")
        out.append("  </testsuite>")
        out.append("</testsuites>")
        return _xml_chars("\n".join(out) + "\n")


REPORTERS: dict[str, type[Reporter]] = {"text": TextReporter, "json": JsonReporter, "junit": JunitReporter,
                                        "github": GithubReporter}


def render(findings: list[Finding], passed: int, failed: int, skipped: int, fmt: str = "text") -> str:
    cls = REPORTERS.get(fmt)
    if cls is None:
        raise ValueError(f"unknown output format {fmt!r}")
    # one boundary for every format: a message quoting a value from the tree (an s3Url with user info, a token in
    # a query string) is redacted here, by the config's rule, before any reporter sees it
    # (the object's identity is printed unredacted beside the message, so the message may name it too)
    findings = [replace(f, message=redact(f.message, frozenset((f.obj or "").split("/")) - {""})) for f in findings]
    return cls().render(findings, counts(findings, passed, failed, skipped))


# Python's engine (a file name may hold lone surrogates, which RE2 cannot read), anchored: only ever fullmatched
_CONFIG_PROBLEM = re.compile(r"\A(?P<file>.+?):(?P<line>[0-9]+)(?::[0-9]+)?(?: (?P<field>[^\s:]+))?: (?P<message>.*)", re.S)


def config_findings(problems: list[str]) -> list[Finding]:
    """The located problems of a config (ConfigError.problems, ``FILE:LINE:COL field: message``) as findings,
    so that `check -o github|json|junit` reports a typo in the config the way it reports the tree."""
    out = []
    for problem in problems:
        m = _CONFIG_PROBLEM.fullmatch(problem)
        if m is None:
            out.append(Finding("", None, None, "", problem, "config"))
            continue
        message = f"{m['field']}: {m['message']}" if m["field"] else m["message"]
        out.append(Finding(m["file"], int(m["line"]), None, "", message, "config"))
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")
# XML 1.0 (Fifth Edition) production [2] Char; `&` cannot occur unescaped here, so `&#x23;` is the only reference.
# Compiled when junit is written (re's cache), not at every start: a class spanning the code space costs milliseconds.
_NOT_XML_CHAR = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


def _scalars(s: str | None) -> str | None:
    """``s`` as Unicode scalar values only (a JSON text is UTF-8, RFC 8259 section 8.1): a lone surrogate (a file
    name's byte that was not UTF-8) is written as ``esc`` writes it."""
    return _SURROGATE.sub(lambda m: escape_char(m.group()), s) if s and not s.isprintable() else s


def _xml_chars(doc: str) -> str:
    """A junit document holds XML 1.0 characters only (whatever a reporter forgot to ``esc``) and no `##[`."""
    doc = re.sub(_NOT_XML_CHAR, lambda m: escape_char(m.group()), doc)
    return doc.replace(V1_COMMAND, "#&#x23;[")


def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")
