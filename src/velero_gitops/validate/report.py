"""Format findings: text, json, junit, github (workflow commands that become annotations)."""

from __future__ import annotations

from velero_gitops.validate.findings import Finding

FORMATS = ("text", "json", "junit", "github")


def summary(passed: int, failed: int, skipped: int) -> str:
    s = f"{passed} passed, {failed} failed"
    return s + (f", {skipped} skipped" if skipped else "")


def text_line(f: Finding) -> str:
    parts = [f.location()]
    if f.obj:
        parts.append(f.obj)
    if f.pointer:
        parts.append(f.pointer)
    head = " ".join(parts)
    sev = "warning: " if f.severity == "warning" else ""
    return f"{head}: {sev}{f.message}"


def render(findings: list[Finding], passed: int, failed: int, skipped: int, fmt: str = "text") -> str:
    if fmt == "text":
        lines = [text_line(f) for f in findings]
        lines.append(summary(passed, failed, skipped))
        return "\n".join(lines) + "\n"
    if fmt == "json":
        import json

        doc = {
            "findings": [
                {"file": f.file, "line": f.line, "object": f.obj, "pointer": f.pointer, "message": f.message,
                 "rule": f.rule, "severity": f.severity}
                for f in findings
            ],
            "summary": {"passed": passed, "failed": failed, "skipped": skipped},
        }
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "github":
        lines = []
        for f in findings:
            level = "warning" if f.severity == "warning" else "error"
            props = [f"file={_gh_prop(f.file)}"]
            if f.line:
                props.append(f"line={f.line}")
            props.append(f"title={_gh_prop(f.rule)}")
            msg = " ".join(x for x in (f.obj, f.pointer) if x)
            msg = f"{msg}: {f.message}" if msg else f.message
            lines.append(f"::{level} {','.join(props)}::{_gh_data(msg)}")
        lines.append(summary(passed, failed, skipped))
        return "\n".join(lines) + "\n"
    if fmt == "junit":
        from xml.sax.saxutils import escape, quoteattr

        errors = [f for f in findings if f.severity == "error"]
        by_file: dict[str, list[Finding]] = {}
        for f in findings:
            by_file.setdefault(f.file, []).append(f)
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               f'<testsuites name="velero-gitops" tests="{passed + failed + skipped}" failures="{len(errors)}">',
               f'  <testsuite name="validate" tests="{passed + failed + skipped}" failures="{failed}" skipped="{skipped}">']
        for file, fs in sorted(by_file.items()):
            for f in fs:
                name = " ".join(x for x in (f.obj or "", f.pointer) if x) or f.file
                out.append(f"    <testcase classname={quoteattr(file)} name={quoteattr(name)}>")
                tag = "failure" if f.severity == "error" else "system-out"
                if tag == "failure":
                    out.append(f"      <failure message={quoteattr(f.message)} type={quoteattr(f.rule)}>{escape(text_line(f))}</failure>")
                else:
                    out.append(f"      <system-out>{escape(text_line(f))}</system-out>")
                out.append("    </testcase>")
        out.append(f"    <system-out>{escape(summary(passed, failed, skipped))}</system-out>")
        out.append("  </testsuite>")
        out.append("</testsuites>")
        return "\n".join(out) + "\n"
    raise ValueError(f"unknown output format {fmt!r}")


def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")
