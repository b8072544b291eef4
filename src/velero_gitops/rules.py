"""The rule registry: every finding's rule id, its severity, its documentation and the config key that opts out of it.

A rule is declared once, in the module that checks it (``X = define(...)`` at the top of that module), and is a
``str`` (its id), so it is passed wherever a rule id goes. The rule list in docs/validation.md is generated from
this registry (``velero-gitops rules``) and a test keeps the two equal; another test refuses a rule id used in the
source that is not declared.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class _Meta:
    severity: str
    doc: str
    opt_out: str  # the config key (as written in velero-gitops.yaml) that turns the rule off in `check`, or ""


class Rule(str):
    """A rule id with its registry entry."""

    meta: _Meta

    @property
    def severity(self) -> str:
        return self.meta.severity

    @property
    def doc(self) -> str:
        return self.meta.doc

    @property
    def opt_out(self) -> str:
        return self.meta.opt_out


RULES: dict[str, Rule] = {}


def define(rule_id: str, severity: str, doc: str, opt_out: str = "") -> Rule:
    """Declare a rule; declaring one id twice with different text is a programming error."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {rule_id}: severity {severity!r} is not one of {SEVERITIES}")
    meta = _Meta(severity, " ".join(doc.split()), opt_out)
    old = RULES.get(rule_id)
    if old is not None:
        if old.meta != meta:
            raise ValueError(f"rule {rule_id} is declared twice")
        return old
    r = Rule(rule_id)
    r.meta = meta
    RULES[rule_id] = r
    return r


def markdown() -> str:
    """The rule table of docs/validation.md (between its `rules:begin`/`rules:end` markers)."""
    lines = ["| rule | severity | what it reports | opt-out in `check` |", "|---|---|---|---|"]
    for rid in sorted(RULES):
        r = RULES[rid]
        lines.append(f"| `{rid}` | {r.severity} | {r.doc.replace('|', '&#124;')} | "
                     f"{f'`{r.opt_out}`' if r.opt_out else ''} |")
    return "\n".join(lines) + "\n"
