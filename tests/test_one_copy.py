"""Facts that live once: the node-agent budget, the parsed cron, and the literals the CLI and core share."""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops.config.loader import load
from velero_gitops.errors import ConfigError

from cli_util import velero_helmrelease

CONFIG = """\
cluster: lab
s3:
  endpoint: https://s3.example.test
  bucket: velero-backups
velero:
  nodeAgent:
    resources:
      limits: {{cpu: 500m, memory: {memory}}}
schedules:
  - name: daily
    cron: "{cron}"
    namespaces: [apps]
"""

HR = velero_helmrelease("""\
nodeAgent:
  resources:
    limits:
      cpu: 500m
      memory: {memory}
""")


def _config(tmp_path: Path, memory: str = "500M", cron: str = "0 2 * * *") -> Path:
    p = tmp_path / "velero-gitops.yaml"
    p.write_text(CONFIG.format(memory=memory, cron=cron))
    return p


def _validate_default_budget(tmp_path: Path, memory: str) -> list[str]:
    from velero_gitops.validate.engine import Options, validate_paths

    (tmp_path / "hr.yaml").write_text(HR.format(memory=memory))
    res = validate_paths([str(tmp_path / "hr.yaml")], Options(repo_root=str(tmp_path), kustomize="never",
                                                             externals=["HelmRepository/velero/vmware-tanzu"]))
    return [f.message for f in res.findings if f.rule == "policy.node-agent" and f.severity == "error"]


# 500M = 500,000,000 bytes < 510M < 500Mi = 524,288,000 bytes: the values on which 500M and 500Mi disagree
@pytest.mark.parametrize("memory,within", [("500M", True), ("476Mi", True), ("510M", False), ("500Mi", False),
                                           ("524288000", False), ("0.5G", True)])
def test_config_and_validate_share_one_node_agent_budget(tmp_path, memory, within):
    """`render` (the config's default budget) and `validate` (its default --node-agent-memory-limit) agree on a limit."""
    try:
        _config(tmp_path, memory).exists() and load(tmp_path / "velero-gitops.yaml")
        config_ok = True
    except ConfigError as exc:
        assert "exceeds the budget 500M" in str(exc)
        config_ok = False
    validate_ok = not _validate_default_budget(tmp_path, memory)
    assert config_ok is validate_ok is within


def test_validate_help_shows_the_same_budget():
    from typer.testing import CliRunner

    from velero_gitops.cli import app

    out = CliRunner().invoke(app, ["validate", "--help"], env={"COLUMNS": "200"}).output
    # the default without a config for the tree (cli/validate_cmds: a config's velero.nodeAgent.budget comes first)
    assert "else 500M)" in " ".join(out.split()) and "500Mi" not in out


@pytest.mark.parametrize("expr,gap_hours", [("0 2 * * *", 24), ("0 */6 * * *", 6), ("@every 12h", 12),
                                            ("30 3 * * 0", 168), ("@weekly", 168)])
def test_cron_is_parsed_once_into_the_config(tmp_path, expr, gap_hours):
    """The schedule carries the parsed cron; alerts and explain read it instead of parsing the text again."""
    from velero_gitops.config import cron
    from velero_gitops.observability.alerts import schedule_interval

    (s,) = load(_config(tmp_path, cron=expr)).config.schedules
    assert isinstance(s.timing, cron.Cron) and s.timing.expr == expr and s.cron == expr
    assert schedule_interval(s) == gap_hours * 3600
    assert s.model_dump(by_alias=True)["cron"] == expr  # the typed value does not leak into dumps


def test_alerts_and_explain_do_not_parse_cron_text(tmp_path, monkeypatch):
    """After loading, nothing parses the cron string again: the parser is not reached."""
    from velero_gitops.config import cron
    from velero_gitops.observability.alerts import rule_groups
    from velero_gitops.ops import explain

    loaded = load(_config(tmp_path, cron="15 1,13 * * *"))

    def refuse(expr: str) -> None:
        raise AssertionError(f"parsed again: {expr}")

    monkeypatch.setattr(cron, "parse", refuse)
    assert rule_groups(loaded.config)
    data = explain.explain(loaded)
    assert data["schedules"][0]["when"] == "every day at 01:15, 13:15 UTC" and len(data["schedules"][0]["nextRuns"]) == 5


def test_bad_cron_is_still_located(tmp_path):
    with pytest.raises(ConfigError, match=r"velero-gitops.yaml:11:11 schedules\[0\].cron: '0 25 \* \* \*' is not a valid cron"):
        load(_config(tmp_path, cron="0 25 * * *"))


@pytest.mark.parametrize("name,home", [
    ("KUSTOMIZE_FILES", "velero_gitops/validate/documents.py"),
    ("def find_kfile", "velero_gitops/validate/documents.py"),  # the one kustomization-file lookup
    ("ENC_PREFIX", "velero_gitops/secrets/sops.py"),
    ("FORMATS", "velero_gitops/validate/report.py"),
    ("CONFIG_HELP", "velero_gitops/cli/_configs.py"),
    ("class Output", "velero_gitops/cli/_app.py"),
])
def test_shared_literals_are_defined_once(name, home):
    import re

    src = Path(__file__).resolve().parent.parent / "src"
    pattern = re.compile(rf"^{re.escape(name)}\b(\s*[:=(]|\s*$)", re.M)
    homes = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.py") if pattern.search(p.read_text()))
    assert homes == [home]


@pytest.mark.parametrize("expr,config_ok,velero_ok", [
    ("0 2 * * *", True, True),
    ("CRON_TZ=Europe/Berlin 0 2 * * *", False, True),  # robfig takes it; the official image has no tz database
    ("@every 30s", False, True),  # robfig takes any duration; the config asks for at least 1m
    ("@every 1d", False, False),  # no 'd' unit in Go durations
    ("0 25 * * *", False, False),
    ("TZ=UTC", False, False),
])
def test_config_and_validate_cron_rules_live_in_cron_py(expr, config_ok, velero_ok):
    """The config's rule (cron.parse) and validate's laxer Velero rule (cron.velero_problem) sit side by side
    (robfig/cron@v3.0.1:parser.go Parse, parseDescriptor); policy uses the latter."""
    from velero_gitops.config import cron
    from velero_gitops.validate import policy

    try:
        cron.parse(expr)
        parsed = True
    except cron.CronError:
        parsed = False
    assert parsed is config_ok
    assert (cron.velero_problem(expr) is None) is velero_ok
    assert policy.cron_problem is cron.velero_problem
