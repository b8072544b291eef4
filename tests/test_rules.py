"""The rule registry (velero_gitops.rules): one declaration per rule, the docs' rule list generated from it."""

from __future__ import annotations

import ast
import re

import pytest

from velero_gitops import rules
from velero_gitops.cli.validate_cmds import rules_markdown

from cli_util import REPO

RULE_ID = re.compile(r"^(flux|kustomize|policy|schema|secret|yaml)(\.[a-z0-9]+(-[a-z0-9]+)*)?$")
# the calls that take a rule id: Finding(...), obj.finding(...), Problem(...), a checker's add()/problem()
_TAKES_RULE = {"Finding", "finding", "Problem", "add", "problem"}


def test_docs_rule_list_is_generated_from_the_registry():
    text = (REPO / "docs/validation.md").read_text()
    between = text.split("<!-- rules:begin -->\n", 1)[1].split("<!-- rules:end -->", 1)[0]
    assert between == rules_markdown(), "run: velero-gitops rules, and paste it between the rules markers of docs/validation.md"


def _rule_literals():
    for f in sorted((REPO / "src/velero_gitops").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in _TAKES_RULE:
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(arg, (ast.Tuple, ast.List)):
                    continue  # a config path such as ("flux", "dependsOn", 0), never a rule id
                for n in ast.walk(arg):  # `"a" if x else "b"` too
                    if isinstance(n, ast.Constant) and isinstance(n.value, str) and RULE_ID.match(n.value):
                        yield f.relative_to(REPO), node.lineno, n.value


def test_every_rule_id_in_the_source_is_declared():
    rules_markdown()  # imports every declaring module
    found = list(_rule_literals())
    assert len(found) > 40  # the scan sees the call sites (a scan that finds nothing proves nothing)
    assert [f for f in found if f[2] not in rules.RULES] == []


def test_a_rule_is_a_str_with_its_entry():
    rules_markdown()
    r = rules.RULES["policy.s3-https"]
    assert r == "policy.s3-https" and r.severity == "error" and r.opt_out == "s3.allowHttp"
    assert rules.define("policy.s3-https", r.severity, r.doc, r.opt_out) is r  # same text: the same rule
    with pytest.raises(ValueError, match="declared twice"):
        rules.define("policy.s3-https", "warning", "another text")
    with pytest.raises(ValueError, match="severity"):
        rules.define("x.y", "fatal", "bad")


def _declaring_modules() -> dict[str, str]:
    """rule id -> the module (path under src/velero_gitops) whose define(...) declares it."""
    out = {}
    for f in sorted((REPO / "src/velero_gitops").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "define" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                out[node.args[0].value] = f.relative_to(REPO / "src/velero_gitops").as_posix()
    return out


def test_which_command_runs_a_rule_follows_what_it_reads():
    """validate has no config: a rule declared outside validate/ (check.py, ops/, secrets/) judges the tree against
    a config and is check-only in the registry and the docs' table; one declared in validate/ runs in both
    (validate never imports the others: tests/test_layers.py)."""
    rules_markdown()
    where = _declaring_modules()
    assert len(where) == len(rules.RULES)
    for rid, module in where.items():
        expected = ("validate", "check") if module.startswith("validate/") else ("check",)
        assert rules.RULES[rid].commands == expected, (rid, module)
    for rid in ("flux.storage-not-ordered", "metrics.not-selected", "flux.depends-on-replaced"):
        assert f"| `{rid}` | warning | check |" in rules_markdown() or f"| `{rid}` | error | check |" in rules_markdown()
