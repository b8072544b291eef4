"""The rule registry: every finding's rule id, its severity, its documentation and the config key that opts out of it.

A rule is declared once, in the module that checks it (``X = define(...)`` at the top of that module), and is a
``str`` (its id), so it is passed wherever a rule id goes.

Which command runs a rule is decided here too, by what the rule reads: ``validate`` lints any Flux tree and has no
velero-gitops config, so it runs every rule that judges the tree alone; a rule that judges the tree *against a
config* (what its schedules back up, what it renders, where its tree must be wired, its credentials Secret) is
declared ``needs_config=True`` and runs in ``check`` only. The rule table says so, and a test holds ``validate`` to
it. The rule list in docs/validation.md is generated from
this registry (``velero-gitops rules``) and a test keeps the two equal; another test refuses a rule id used in the
source that is not declared.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from velero_gitops.findings import Finding

# error fails a run; warning is shown and does not; note is shown, labelled, and never fails a run (what Flux never
# applies: unapplied() below)
SEVERITIES = ("error", "warning", "note")
NOT_APPLIED = "not applied by any Flux Kustomization"


@dataclass(frozen=True)
class _Meta:
    severity: str
    doc: str
    opt_out: str  # the config key (as written in velero-gitops.yaml) that turns the rule off in `check`, or ""
    # what the rule reports is harmful in the repository itself (a secret in clear is read by anyone who reads Git),
    # whether or not Flux applies the object: it keeps its severity on what no Flux Kustomization applies
    in_git: bool = False
    needs_config: bool = False  # judges the tree against a velero-gitops config: `check` only (see the module doc)


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

    @property
    def in_git(self) -> bool:
        return self.meta.in_git

    @property
    def commands(self) -> tuple[str, ...]:
        """The commands that run the rule."""
        return ("check",) if self.meta.needs_config else ("validate", "check")


RULES: dict[str, Rule] = {}


def define(rule_id: str, severity: str, doc: str, opt_out: str = "", in_git: bool = False,
           needs_config: bool = False) -> Rule:
    """Declare a rule; declaring one id twice with different text is a programming error."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {rule_id}: severity {severity!r} is not one of {SEVERITIES}")
    meta = _Meta(severity, " ".join(doc.split()), opt_out, in_git, needs_config)
    old = RULES.get(rule_id)
    if old is not None:
        if old.meta != meta:
            raise ValueError(f"rule {rule_id} is declared twice")
        return old
    r = Rule(rule_id)
    r.meta = meta
    RULES[rule_id] = r
    return r


def unapplied(f: Finding) -> Finding:
    """A finding on an object that no Flux Kustomization applies, as every run reports it: the controllers never see
    the object, so what the rule says about the cluster cannot happen; a note, labelled so, that fails nothing.
    A rule about the repository itself (``in_git``) keeps its severity."""
    r = RULES.get(f.rule)
    if (r is not None and r.in_git) or f.severity == "note":
        return f
    return replace(f, severity="note", message=f"{NOT_APPLIED}: {f.message}")


def markdown() -> str:
    """The rule table of docs/validation.md (between its `rules:begin`/`rules:end` markers)."""
    lines = ["| rule | severity | commands | what it reports | opt-out in `check` |", "|---|---|---|---|---|"]
    for rid in sorted(RULES):
        r = RULES[rid]
        sev = f"{r.severity} (also where Flux applies nothing)" if r.in_git else r.severity
        lines.append(f"| `{rid}` | {sev} | {', '.join(r.commands)} | {r.doc.replace('|', '&#124;')} | "
                     f"{f'`{r.opt_out}`' if r.opt_out else ''} |")
    return "\n".join(lines) + "\n"
