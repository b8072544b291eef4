"""Alert and recording rules: structure, per-schedule thresholds, and promtool (check + unit tests)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

import promtool_scenarios
from velero_gitops.config.loader import load
from velero_gitops.config.model import Config
from velero_gitops.observability import alerts

from promtool_util import (
    PROMTOOL_DIR,
    RULES_FILE,
    allowed_metrics,
    expected_rules_file,
    make_config,
    metric_names,
    run_promtool,
)

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY_DOC = ROOT / "docs" / "observability.md"


def _rules(config: Config) -> list[dict]:
    return [r for g in alerts.rule_groups(config) for r in g["rules"]]


def _alerts_named(config: Config, name: str) -> list[dict]:
    return [r for r in _rules(config) if r.get("alert") == name]


# ------------------------------------------------------------------------------------ structure
def test_groups_are_plain_data():
    """(Determinism across hash seeds: test_render's cross-process test renders the rules.)"""
    config = make_config()
    groups = alerts.rule_groups(config)
    # Plain JSON types only (the renderer dumps them as YAML).
    assert json.loads(json.dumps(groups)) == groups
    names = [g["name"] for g in groups]
    assert len(names) == len(set(names))
    for g in groups:
        assert set(g) == {"name", "rules"} and g["rules"]


def test_every_alert_has_summary_description_runbook_and_severity():
    config = make_config()
    seen = set()
    for rule in _rules(config):
        if "record" in rule:
            assert set(rule) == {"record", "expr"}
            continue
        seen.add(rule["alert"])
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"].endswith("#" + rule["alert"].lower())
        assert re.fullmatch(r"0s|(\d+h)?(\d+m)?(\d+s)?", rule["for"]), rule["for"]
    assert seen == set(alerts.ALERT_NAMES)


def test_schedule_alerts_name_the_schedule():
    for rule in _rules(make_config()):
        if "alert" not in rule:
            continue
        expr, ann = rule["expr"], rule["annotations"]
        if re.search(r"\bschedule\b", expr) or rule["alert"] == alerts.SUCCESS_RATIO_LOW:
            assert "{{ $labels.schedule }}" in ann["description"], rule["alert"]
            assert "{{ $labels.schedule }}" in ann["summary"], rule["alert"]


def test_scheduled_backups_only():
    """Ad-hoc backups (schedule="") never count: every backup metric selects a schedule."""
    for rule in _rules(make_config()):
        for sel in re.findall(r"velero_backup_(?!location_)\w+(\{[^}]*\})?", rule["expr"]):
            assert 'schedule!=""' in sel or 'schedule="' in sel, (rule.get("alert"), sel)


def test_thresholds_follow_each_schedules_cron():
    config = make_config()
    by_schedule = {r["labels"]["schedule"]: r for r in _alerts_named(config, alerts.NO_NEW_BACKUP)
                   if r["labels"].get("reason") == "stale"}
    assert "> 90000" in by_schedule["daily"]["expr"]  # 24h + 1h
    assert "> 7200" in by_schedule["hourly"]["expr"]  # 1h + 1h
    absent = {r["labels"]["schedule"]: r for r in _alerts_named(config, alerts.NO_NEW_BACKUP)
              if r["labels"].get("reason") == "absent"}
    assert absent["daily"]["for"] == "25h" and absent["hourly"]["for"] == "2h"
    assert absent["daily"]["expr"] == 'absent(velero_backup_last_successful_timestamp{schedule="daily"})'
    for name in (alerts.BACKUP_FAILED, alerts.VALIDATION_FAILED, alerts.PARTIAL_FAILURES):
        window = {r["labels"]["schedule"]: r["expr"] for r in _alerts_named(config, name)}
        assert "[24h]" in window["daily"] and "< 86400" in window["daily"]
        assert "[1h]" in window["hourly"] and "< 3600" in window["hourly"]
    partial = {r["labels"]["schedule"]: r["expr"] for r in _alerts_named(config, alerts.PARTIAL_FAILURES)}
    assert "[24h]" in partial["daily"] and "[1h]" in partial["hourly"]


@pytest.mark.parametrize(
    ("cron", "margin", "threshold"),
    [
        ("0 2 * * *", "1h", 90000),
        ("0 * * * *", "1h", 7200),
        ("0 2 * * *", "30m", 88200),
        ("0 3 * * 0", "1h", 7 * 86400 + 3600),
        ("*/15 * * * *", "45m", 3600),
        ("@every 6h", "1h", 7 * 3600),
        ("0 2,14 * * *", "1h", 13 * 3600),
    ],
)
def test_missed_backup_threshold(cron, margin, threshold):
    config = Config.model_validate({
        "cluster": "c", "s3": {"endpoint": "https://s3.example.test"},
        "schedules": [{"name": "s", "cron": cron, "namespaces": ["a"]}],
        "metrics": {"missedBackupMargin": margin},
    })
    assert alerts.missed_backup_threshold(config, config.schedules[0]) == threshold
    stale = [r for r in _alerts_named(config, alerts.NO_NEW_BACKUP) if r["labels"]["reason"] == "stale"]
    assert stale[0]["expr"].endswith(f"> {threshold}")


def test_paused_schedules_keep_their_schedule_rules():
    """A schedule paused in the config keeps every per-schedule rule, so a forgotten unpause fires
    VeleroNoNewBackup (vmware-tanzu/velero@v1.18.1:pkg/controller/schedule_controller.go skips a paused Schedule
    and exports nothing about it; backup_controller.go updateTotalBackupMetric keeps its last-success timestamp).
    Its two VeleroNoNewBackup alerts name the pause as the cause; the scenarios in promtool_scenarios._paused fire
    them."""
    config = make_config()
    by_schedule: dict[str, list[str]] = {}
    for rule in _rules(config):
        if "schedule" in rule.get("labels", {}):
            by_schedule.setdefault(rule["labels"]["schedule"], []).append(rule["alert"])
    assert by_schedule["weekly-paused"] == by_schedule["daily"]
    for rule in _alerts_named(config, alerts.NO_NEW_BACKUP):
        assert ("paused in the config" in rule["annotations"]["description"]) == (
            rule["labels"]["schedule"] == "weekly-paused"), rule


def test_restore_alert_reads_each_failed_outcome_counter():
    """VeleroRestoreFailed has one rule per unsuccessful Restore outcome, each on the counter Velero increments for
    it (vmware-tanzu/velero@v1.18.1:pkg/controller/restore_controller.go Reconcile: RegisterRestoreValidationFailed,
    RegisterRestoreFailed; pkg/controller/restore_finalizer_controller.go finishProcessing:
    RegisterRestorePartialFailure), over all schedule labels (a manual backup's restore counts under "",
    pkg/cmd/server/server.go InitSchedule("")), and never on the success or attempt counters."""
    rules = {r["labels"]["reason"]: r for r in _alerts_named(make_config(), alerts.RESTORE_FAILED)}
    assert {reason: re.findall(r"velero_restore_\w+", r["expr"]) for reason, r in rules.items()} == {
        "failed": ["velero_restore_failed_total"] * 2,
        "partially-failed": ["velero_restore_partial_failure_total"] * 2,
        "failed-validation": ["velero_restore_validation_failed_total"] * 2,
    }
    for rule in rules.values():
        assert "[24h]" in rule["expr"] and "< 86400" in rule["expr"] and "schedule=" not in rule["expr"]
    no_schedules = Config.model_validate({"cluster": "c", "s3": {"endpoint": "https://s3.example.test"}})
    assert len(_alerts_named(no_schedules, alerts.RESTORE_FAILED)) == 3


def test_no_schedules_still_gives_valid_groups():
    config = Config.model_validate({"cluster": "c", "s3": {"endpoint": "https://s3.example.test"}})
    names = [g["name"] for g in alerts.rule_groups(config)]
    assert "velero.schedules" not in names
    assert {r.get("alert") for r in _rules(config)} >= {alerts.BSL_UNAVAILABLE, alerts.REPO_MAINTENANCE_FAILING}


def test_objective_namespace_and_runbook_come_from_the_config():
    config = Config.model_validate({
        "cluster": "c", "repo": {"namespace": "backup-system"}, "s3": {"endpoint": "https://s3.example.test"},
        "metrics": {"successObjective": 0.99, "runbookUrl": "https://wiki.example.test/velero"},
    })
    (slo,) = _alerts_named(config, alerts.SUCCESS_RATIO_LOW)
    assert slo["expr"] == "velero:backup_success_ratio:30d < 0.99"
    assert "99%" in slo["annotations"]["summary"]
    assert slo["annotations"]["runbook_url"] == "https://wiki.example.test/velero#velerobackupsuccessratiolow"
    (na,) = _alerts_named(config, alerts.NODE_AGENT_NOT_READY)
    assert na["expr"].count('namespace="backup-system", daemonset="node-agent"') == 2
    default = make_config()
    bf = _alerts_named(default, alerts.BACKUP_FAILED)[0]
    assert bf["annotations"]["runbook_url"] == alerts.DEFAULT_RUNBOOK_BASE + "#velerobackupfailed"


def test_velero_down_watches_the_job_our_service_monitor_scrapes():
    """The job of a ServiceMonitor target is the Service's name (prometheus-operator/prometheus-operator@v0.93.0:
    pkg/prometheus/promcfg.go), the chart's fullname (release "backup" -> "backup-velero"); without our
    ServiceMonitor the job is unknown and the rules are left out rather than firing `absent` forever."""
    config = Config.model_validate({"cluster": "c", "repo": {"app": "backup", "namespace": "backup-system"},
                                    "s3": {"endpoint": "https://s3.example.test"}})
    down = _alerts_named(config, alerts.VELERO_DOWN)
    assert sorted(r["labels"]["reason"] for r in down) == ["absent", "down", "restarting"]
    for rule in down:
        assert 'job="backup-velero", namespace="backup-system"' in rule["expr"], rule["expr"]
    off = Config.model_validate({"cluster": "c", "s3": {"endpoint": "https://s3.example.test"},
                                 "metrics": {"serviceMonitor": False}})
    assert _alerts_named(off, alerts.VELERO_DOWN) == []
    assert _alerts_named(off, alerts.NODE_AGENT_MISSING)


def test_success_ratio_counts_finished_backups():
    (record,) = [r for r in _rules(make_config()) if "record" in r]
    assert record["record"] == alerts.SUCCESS_RATIO_RECORD
    for metric in alerts.FINISHED_COUNTERS:
        assert f'increase({metric}{{schedule!=""}}[30d])' in record["expr"]
    # The alert on the ratio is in the same group as the recording rule (same evaluation).
    (group,) = [g for g in alerts.rule_groups(make_config()) if any("record" in r for r in g["rules"])]
    assert any(r.get("alert") == alerts.SUCCESS_RATIO_LOW for r in group["rules"])


def test_rules_use_only_exported_metrics():
    allowed = allowed_metrics()
    for rule in _rules(make_config()):
        names = metric_names(rule["expr"])
        assert names, rule
        assert names <= allowed, (rule.get("alert") or rule.get("record"), names - allowed)


def test_metric_name_extraction():
    assert metric_names('sum by (schedule) (increase(velero_backup_success_total{schedule!=""}[30d])) > 0') == {
        "velero_backup_success_total"}
    assert metric_names("a - b{x=\"y\"} > 0 unless on (repository_name) c") == {"a", "b", "c"}
    assert metric_names("velero:backup_success_ratio:30d < 0.95") == {"velero:backup_success_ratio:30d"}
    assert metric_names('histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))') == {"x_bucket"}


def test_runbook_anchors_exist_in_the_docs():
    """Every runbook_url anchor is a heading of docs/observability.md (GitHub lower-cases heading ids)."""
    text = OBSERVABILITY_DOC.read_text(encoding="utf-8")
    headings = {m.group(1).strip().lower() for m in re.finditer(r"^#{2,4} +(.+)$", text, re.M)}
    for name in alerts.ALERT_NAMES:
        assert name.lower() in headings, f"docs/observability.md has no heading {name}"


# -------------------------------------------------------------------------------------- promtool
def test_rules_file_is_up_to_date():
    """tests/promtool/rules.yaml (which the promtool unit tests load) is what alerts.py generates."""
    want = expected_rules_file()
    if os.environ.get("UPDATE_GOLDEN"):
        RULES_FILE.write_text(want, encoding="utf-8")
    assert RULES_FILE.read_text(encoding="utf-8") == want, "regenerate with UPDATE_GOLDEN=1"


def test_unit_test_files_are_generated_from_the_simulation():
    """tests/promtool/velero*_test.yaml are what tests/promtool_scenarios.py generates from the model of
    Velero's metric updates (tests/velero_sim.py), not hand-written series."""
    for name, doc in promtool_scenarios.files().items():
        want = promtool_scenarios.dump(doc)
        path = PROMTOOL_DIR / name
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_text(want, encoding="utf-8")
        assert path.read_text(encoding="utf-8") == want, f"{name}: regenerate with UPDATE_GOLDEN=1"
    assert sorted(p.name for p in PROMTOOL_DIR.glob("*_test.yaml")) == sorted(promtool_scenarios.files())


def test_promtool_check_rules():
    result = run_promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sum(len(g["rules"]) for g in alerts.rule_groups(make_config()))
    assert f"SUCCESS: {rules} rules found" in result.stdout


@pytest.mark.parametrize("cluster", ["home-lab", "lab-two"])
def test_promtool_check_rules_of_the_examples(cluster, tmp_path):
    config = load(ROOT / "clusters" / cluster / "velero-gitops.yaml").config
    path = tmp_path / "rules.yaml"
    path.write_text(alerts.rules_file_yaml(config), encoding="utf-8")
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _unit_test_cases() -> list[dict]:
    return [case for doc in promtool_scenarios.files().values() for case in doc["tests"]]


def test_unit_tests_prove_each_alert_fires_and_stays_quiet():
    fires, quiet = set(), set()
    for case in _unit_test_cases():
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert fires == set(alerts.ALERT_NAMES)
    assert quiet == set(alerts.ALERT_NAMES)


def test_unit_tests_cover_the_required_scenarios():
    names = " | ".join(case["name"] for case in _unit_test_cases())
    for scenario in ("every run succeeds across a rollout, an OOM restart and a re-created schedule",
                     "daily backup fails", "before the first scrape", "scraped once before a restart",
                     "no scrape saw", "deleted and re-created", "partially failed", "failed validation", "missed daily run",
                     "missed hourly run", "first job after each restart", "storage location",
                     "node-agent", "below the 95% objective", "above the objective",
                     "crashes at start", "crash-loops", "scaled to 0", "DaemonSet is deleted", "scheduled on no node",
                     "never ends", "restores partially fail, fail and fail validation",
                     "new cluster without Schedules"):
        assert scenario in names, scenario


@pytest.mark.parametrize("name", sorted(promtool_scenarios.files()))
def test_promtool_unit_tests_pass(name):
    result = run_promtool("test", "rules", name, cwd=PROMTOOL_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _run_cases(tmp_path, rules_text: str, *case_names: str) -> subprocess.CompletedProcess[str]:
    """The named scenarios (from whichever file holds them) against ``rules_text``."""
    results = []
    for file_name, doc in promtool_scenarios.files().items():
        cases = [c for c in doc["tests"] if any(n in c["name"] for n in case_names)]
        if not cases:
            continue
        (tmp_path / file_name).write_text(promtool_scenarios.dump({**doc, "tests": cases}), encoding="utf-8")
        (tmp_path / "rules.yaml").write_text(rules_text, encoding="utf-8")
        results.append(run_promtool("test", "rules", file_name, cwd=tmp_path))
    assert results, case_names
    failed = [r for r in results if r.returncode != 0]
    return failed[0] if failed else results[0]


@pytest.mark.parametrize(
    ("metrics", "failing_test"),
    [
        # A 0h margin pages before the hourly run had its chance: the stuck scenario expects quiet at 27h.
        ({"missedBackupMargin": "0s"}, "stuck InProgress"),
        # An objective of 90% would not fire on 28/30 = 93.3%.
        ({"successObjective": 0.9}, "below the 95% objective"),
    ],
)
def test_promtool_unit_tests_catch_wrong_settings(metrics, failing_test, tmp_path):
    """The unit tests are not vacuous: rules generated with a wrong setting make them fail (the same
    scenario passes against the right rules in test_promtool_unit_tests_pass)."""
    result = _run_cases(tmp_path, alerts.rules_file_yaml(make_config(**metrics)), failing_test)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr, result.stdout


def test_the_old_last_status_rule_never_fires_on_real_series(tmp_path):
    """``velero_backup_last_status != 1 for 15m`` (the rule this replaced) cannot fire: InitSchedule sets
    the gauge back to 1 at every schedule reconcile (vmware-tanzu/velero@v1.18.1:pkg/metrics/metrics.go
    InitSchedule, pkg/controller/schedule_controller.go scheduleSyncPeriod = 1m)."""
    groups = alerts.rule_groups(make_config())
    for g in groups:
        for r in g["rules"]:
            if r.get("alert") == alerts.BACKUP_FAILED:
                r["expr"] = f'min by (schedule) (velero_backup_last_status{{schedule="{r["labels"]["schedule"]}"}}) != 1'
                r["for"] = "15m"
    text = _dump_groups(groups)
    result = _run_cases(tmp_path, text, "the daily backup fails")
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "alertname: VeleroBackupFailed" in out and "got:[]" in out, out


def test_increase_alone_misses_a_counter_that_appears_at_one(tmp_path, monkeypatch):
    """Without the process-start arm of observed_increase, a failure counted before the first scrape of a
    new process, and the first maintenance failure after each restart, are lost: increase() needs two
    samples that differ (prometheus/prometheus@v3.14.0:promql/functions.go extrapolatedRate)."""
    def increase_only(metric, selector, window, own_label):
        sel = f"{metric}{{{selector}}}" if selector else metric
        return f"(increase({sel}[{alerts.prom_duration(window)}]) > 0)"

    monkeypatch.setattr(alerts, "observed_increase", increase_only)
    text = alerts.rules_file_yaml(make_config())
    for scenario in ("before the first scrape", "first job after each restart", "new cluster without Schedules"):
        result = _run_cases(tmp_path, text, scenario)
        assert result.returncode != 0, (scenario, result.stdout)


def _dump_groups(groups: list[dict]) -> str:
    import io

    buf = io.StringIO()
    yaml = YAML()
    yaml.width = 4096
    yaml.dump({"groups": groups}, buf)
    return buf.getvalue()


def test_missing_promtool_fails_in_ci_and_skips_locally(monkeypatch):
    import promtool_util

    monkeypatch.setattr(promtool_util.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y"):
        promtool_util.promtool()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        promtool_util.promtool()


def test_a_user_sees_the_rendered_alert_fire_within_two_minutes_of_a_failed_backup(tmp_path):
    """As a user: take the PrometheusRule rendered for clusters/home-lab (what Flux applies), feed it the
    series of its daily schedule whose second run fails (simulated as Velero v1.18.1 exports it: 1m
    scrape, the per-minute InitSchedule resetting last_status), and read from promtool's ALERTS series
    when VeleroBackupFailed first fired. It fires at the first evaluation that sees the scrape after
    the failure: 59 s here, at most one scrape plus one evaluation interval."""
    from velero_sim import DAY, HOUR, MINUTE, Schedule, VeleroSim

    config = load(ROOT / "clusters" / "home-lab" / "velero-gitops.yaml").config
    (daily,) = config.schedules
    assert daily.cron == "0 2 * * *" and alerts.schedule_interval(daily) == DAY  # what the simulation runs
    rendered = YAML(typ="safe").load(
        (ROOT / "clusters/home-lab/kubernetes/apps/velero/velero/monitoring/prometheusrule.yaml").read_text())
    (tmp_path / "rules.yaml").write_text(_dump_groups(rendered["spec"]["groups"]), encoding="utf-8")
    sim = VeleroSim(29 * HOUR, schedules=[Schedule(daily.name, DAY, 2 * HOUR, 6 * MINUTE, {1: "Failed"})]).run()
    (failed,) = [b.completed_at for b in sim.backups if b.phase == "Failed"]
    assert failed is not None
    first_scrape = failed - failed % sim.scrape + sim.scrape
    test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": sim.input_series(),
        "promql_expr_test": [{
            "expr": 'min_over_time(timestamp(ALERTS{alertname="VeleroBackupFailed", alertstate="firing"})[3h:1m])',
            "eval_time": "28h",
            "exp_samples": [{"labels": '{alertname="VeleroBackupFailed", alertstate="firing", schedule="daily",'
                                       ' severity="warning"}', "value": first_scrape}],
        }],
    }]}
    (tmp_path / "user_test.yaml").write_text(promtool_scenarios.dump(test), encoding="utf-8")
    result = run_promtool("test", "rules", "user_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert first_scrape - failed <= 2 * MINUTE
