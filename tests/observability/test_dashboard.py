"""Grafana dashboard: valid dashboard JSON, every query parses (promtool) and uses exported metrics."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from velero_gitops.config.model import Config
from velero_gitops.observability import dashboard as dash
from velero_gitops.observability.alerts import missed_backup_threshold

from promtool_util import (
    allowed_metrics,
    make_config,
    metric_labels,
    metric_names,
    run_promtool,
    substitute_grafana_variables,
)

DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {"stat", "timeseries", "table"}


def _exprs(board: dict) -> list[tuple[str, str]]:
    return [(f"{p['id']}{t['refId']}", t["expr"]) for p in board["panels"] for t in p["targets"]]


@pytest.fixture(scope="module")
def board() -> dict:
    return dash.dashboard(make_config())


# ---------------------------------------------------------------------------------- JSON model
def test_json_round_trips():
    """(Determinism across hash seeds: test_render's cross-process test renders the dashboard.)"""
    text = dash.dashboard_json(make_config())
    assert text.endswith("}\n")
    model = json.loads(text)
    assert model == dash.dashboard(make_config())
    assert json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text


def test_dashboard_identity(board):
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["title"] == "Velero backups (test-lab)"
    assert board["uid"] == "velero-test-lab"
    assert "id" not in board  # provisioned dashboards must not carry a database id
    long = Config.model_validate({"cluster": "a" * 60, "s3": {"endpoint": "https://s3.example.test"}})
    uid = dash.dashboard(long)["uid"]
    assert len(uid) <= 40 and uid == dash.dashboard_uid("a" * 60)
    assert uid != dash.dashboard_uid("a" * 59 + "b")


def test_dotted_cluster_name_gets_a_uid_grafana_accepts():
    """A cluster name is a DNS subdomain; Grafana takes a uid of at most 40 letters, digits, '-' and '_'
    (grafana/grafana@ec129a119e3e:pkg/util/shortid_generator.go, IsValidShortUID, IsShortUIDTooLong), so a dot is
    mapped and the whole name hashed: two names that map alike keep two uids."""
    dotted = Config.model_validate({"cluster": "prod.eu-west", "s3": {"endpoint": "https://s3.example.test"}})
    board = dash.dashboard(dotted)
    assert board["title"] == "Velero backups (prod.eu-west)"
    for name in ("prod.eu-west", "prod-eu.west", "a." * 60 + "b"):
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dash.dashboard_uid(name)), name
    assert dash.dashboard_uid("prod.eu-west") != dash.dashboard_uid("prod-eu.west") != dash.dashboard_uid("prod-eu-west")


def test_panels_have_unique_ids_datasource_and_valid_layout(board):
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    cells = set()
    for p in board["panels"]:
        assert p["type"] in PANEL_TYPES
        assert p["datasource"] == DATASOURCE_REF, p["title"]
        assert p["title"] and p["description"]
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['id']} overlaps another"
                cells.add((x, y))
        ref_ids = [t["refId"] for t in p["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids))
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE_REF
            assert t["expr"].strip()


def test_template_variables(board):
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    schedule = variables["schedule"]
    assert schedule["type"] == "query"
    assert schedule["datasource"] == DATASOURCE_REF
    assert schedule["query"]["query"] == "label_values(velero_backup_attempt_total, schedule)"
    assert schedule["definition"] == schedule["query"]["query"]
    # "All" must not match ad-hoc backups (schedule="").
    assert schedule["includeAll"] and schedule["allValue"] == ".+"
    # Every variable a query uses is defined (or a Grafana built-in).
    used = {m for _, e in _exprs(board) for m in re.findall(r"\$\{?(\w+)", e)}
    assert used <= set(variables) | {"__interval", "__rate_interval", "__range"}


# ------------------------------------------------------------------------------------- queries
def test_every_query_uses_only_exported_metrics(board):
    allowed = allowed_metrics()
    for ref, expr in _exprs(board):
        names = metric_names(substitute_grafana_variables(expr))
        assert names, ref
        assert names <= allowed, (ref, names - allowed)
        assert "velero_pod_volume" not in expr  # node-agent metrics are podVolume_*


def test_every_query_parses_with_promtool(board, tmp_path):
    """Each panel query becomes a throwaway recording rule that `promtool check rules` parses."""
    rules = [
        {"record": f"dashboard:query_{ref.lower()}:check", "expr": substitute_grafana_variables(expr)}
        for ref, expr in _exprs(board)
    ]
    rules.append({
        "record": "dashboard:variable_query:check",
        "expr": "group by (schedule) (velero_backup_attempt_total)",  # what label_values() asks
    })
    path = tmp_path / "dashboard-queries.yaml"
    with path.open("w", encoding="utf-8") as fh:
        YAML(typ="safe").dump({"groups": [{"name": "dashboard", "rules": rules}]}, fh)
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_panels_cover_what_the_issue_asks_for(board):
    text = "\n".join(e for _, e in _exprs(board))
    assert "time() - max by (schedule) (velero_backup_last_successful_timestamp" in text
    for metric in ("velero_backup_success_total", "velero_backup_failure_total",
                   "velero_backup_partial_failure_total", "velero_backup_tarball_size_bytes",
                   "velero_backup_location_status_gauge", "kube_daemonset_status_number_ready"):
        assert metric in text, metric
    assert re.search(r"histogram_quantile\(0\.95, sum by \(schedule, le\) \(increase\(velero_backup_duration_seconds_bucket", text)
    assert "podVolume_pod_volume_operation_latency_seconds_bucket" in text
    # Queries filter on the schedule variable wherever a schedule label exists.
    for ref, expr in _exprs(board):
        if "velero_backup_" in expr and "location" not in expr:
            assert 'schedule=~"$schedule"' in expr, ref


def _panel(board: dict, title_start: str) -> dict:
    (panel,) = [p for p in board["panels"] if p["title"].startswith(title_start)]
    return panel


def test_success_ratio_against_the_objective():
    board = dash.dashboard(make_config(successObjective=0.97))
    for title in ("Success ratio, last 30 days", "Success ratio (30 days)"):
        panel = _panel(board, title)
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps == [{"color": "red", "value": None}, {"color": "green", "value": 0.97}]
        assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
        # The recording rule of the PrometheusRule, not a copy of its expression.
        assert panel["targets"][0]["expr"] == 'velero:backup_success_ratio:30d{schedule=~"$schedule"}'
    line = _panel(board, "Success ratio (30 days)")
    assert line["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] in {"line", "dashed"}
    assert "97%" in _panel(board, "Success ratio, last 30 days")["title"]


def test_time_since_last_success_turns_red_at_each_schedules_threshold(board):
    config = make_config()
    panel = _panel(board, "Time since last successful backup")
    overrides = {
        o["matcher"]["options"]: o["properties"][0]["value"]["steps"][1]["value"]
        for o in panel["fieldConfig"]["overrides"]
    }
    want = {s.name: missed_backup_threshold(config, s) for s in config.schedules}
    # A paused schedule too: its VeleroNoNewBackup fires at the same age (alerts.py).
    assert overrides == want == {"daily": 90000, "hourly": 7200, "weekly-paused": 7 * 86400 + 3600}
    assert panel["fieldConfig"]["defaults"]["unit"] == "s"


def test_no_query_reads_last_status(board):
    """velero_backup_last_status is set back to 1 by InitSchedule at every schedule reconcile, each minute
    (vmware-tanzu/velero@v1.18.1:pkg/metrics/metrics.go InitSchedule, pkg/controller/schedule_controller.go):
    a panel on it shows "Succeeded" through every failure."""
    assert not [ref for ref, e in _exprs(board) if "velero_backup_last_status" in e]
    panel = _panel(board, "Unsuccessful backups")
    for m in ("velero_backup_failure_total", "velero_backup_partial_failure_total",
              "velero_backup_validation_failure_total"):
        assert f'increase({m}{{schedule=~"$schedule"}}[24h])' in panel["targets"][0]["expr"]
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None}, {"color": "red", "value": 1}]


def test_every_query_uses_labels_its_metrics_have(board):
    """Label matchers and by() clauses name labels the metric really has (pkg/metrics/metrics.go at
    vmware-tanzu/velero@v1.18.1): restore counters carry only `schedule`, maintenance `repository_name`."""
    for ref, expr in _exprs(board):
        text = substitute_grafana_variables(expr)
        for name, matchers in re.findall(r"([a-zA-Z_:][\w:]*)\{([^}]*)\}", text):
            used = set(re.findall(r"(\w+)\s*[=!~]+", matchers))
            assert used <= metric_labels(name), (ref, name, used - metric_labels(name))
        names = metric_names(text)
        for clause in re.findall(r"\bby \(([^)]*)\)", text):
            for label in (x.strip() for x in clause.split(",")):
                assert any(label in metric_labels(n) for n in names), (ref, label)


def test_node_agent_ready_turns_red_when_not_all_are_ready(board):
    panel = _panel(board, "node-agent pods ready")
    (target,) = panel["targets"]
    assert "kube_daemonset_status_number_ready" in target["expr"].split("/")[0]
    assert "kube_daemonset_status_desired_number_scheduled" in target["expr"].split("/")[1]
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "red", "value": None}, {"color": "green", "value": 1}]
    assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"


def test_restore_and_maintenance_panels(board):
    restores = _panel(board, "Restores by outcome")
    text = " ".join(t["expr"] for t in restores["targets"])
    for m in ("velero_restore_success_total", "velero_restore_partial_failure_total",
              "velero_restore_failed_total", "velero_restore_validation_failed_total"):
        assert m in text
    assert "$schedule" not in text  # summed over every schedule a restore is counted under
    maintenance = _panel(board, "Repository maintenance by outcome")
    assert {t["legendFormat"] for t in maintenance["targets"]} == {
        "{{repository_name}} succeeded", "{{repository_name}} failed"}
    assert "velero_repo_maintenance_duration_seconds_bucket" in _panel(board, "Repository maintenance duration")[
        "targets"][0]["expr"]


def test_node_agent_queries_use_the_velero_namespace():
    config = Config.model_validate({
        "cluster": "c", "repo": {"namespace": "backup-system"}, "s3": {"endpoint": "https://s3.example.test"},
    })
    panel = _panel(dash.dashboard(config), "node-agent pods ready")
    for target in panel["targets"]:
        assert 'namespace="backup-system", daemonset="node-agent"' in target["expr"]


def test_allow_list_rejects_the_wrong_node_agent_prefix():
    allowed = allowed_metrics()
    assert "podVolume_pod_volume_operation_latency_seconds_bucket" in allowed
    assert "velero_pod_volume_operation_latency_seconds_bucket" not in allowed
    assert "velero_pod_volume_backup_enqueue_count" not in allowed


def test_pod_volume_backup_panel_stays_true_after_failures(board, tmp_path):
    """node-agent increments the enqueue counter when a PodVolumeBackup's data path starts and the dequeue
    counter only when it completed (vmware-tanzu/velero@v1.18.1:pkg/controller/pod_volume_backup_controller.go,
    RegisterPodVolumeBackupEnqueue / RegisterPodVolumeBackupDequeue); a failed or canceled one never dequeues.
    So enqueue - dequeue grows forever. The panel's queries must read 0 once nothing runs: promtool evaluates
    them on a node that started 3 backups, of which 1 completed and 2 failed, then stayed idle."""
    (panel,) = [p for p in board["panels"] if p["title"].startswith("Pod volume backups")]
    exprs = [substitute_grafana_variables(t["expr"]) for t in panel["targets"]]
    rules = [{"record": f"panel:pvb:{i}", "expr": e} for i, e in enumerate(exprs)]
    rules.append({"record": "panel:pvb:old", "expr": "sum by (node) (podVolume_pod_volume_backup_enqueue_count)"
                  " - sum by (node) (podVolume_pod_volume_backup_dequeue_count)"})
    (tmp_path / "rules.yaml").write_text(json.dumps({"groups": [{"name": "pvb", "rules": rules}]}))
    series = {
        # one sample per minute: 0 for 10 minutes, then 3 started / 1 completed, then 2 hours idle
        'podVolume_pod_volume_backup_enqueue_count{node="n1"}': "0x10 3x120",
        'podVolume_pod_volume_backup_dequeue_count{node="n1"}': "0x12 1x118",
    }
    test = {
        "rule_files": ["rules.yaml"], "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": k, "values": v} for k, v in series.items()],
            "promql_expr_test": [
                # while it runs, the panel shows the starts and the completion ...
                {"expr": "panel:pvb:0", "eval_time": "14m", "exp_samples": [{"labels": 'panel:pvb:0{node="n1"}', "value": 3}]},
                {"expr": "panel:pvb:1", "eval_time": "14m", "exp_samples": [{"labels": 'panel:pvb:1{node="n1"}', "value": 1}]},
                # ... and two hours later nothing is shown as running, unlike enqueue - dequeue
                {"expr": "panel:pvb:0", "eval_time": "2h", "exp_samples": [{"labels": 'panel:pvb:0{node="n1"}', "value": 0}]},
                {"expr": "panel:pvb:1", "eval_time": "2h", "exp_samples": [{"labels": 'panel:pvb:1{node="n1"}', "value": 0}]},
                {"expr": "panel:pvb:old", "eval_time": "2h", "exp_samples": [{"labels": 'panel:pvb:old{node="n1"}', "value": 2}]},
            ],
        }],
    }
    (tmp_path / "test.yaml").write_text(json.dumps(test))
    result = run_promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_JSON)
@settings(max_examples=300, deadline=None)
def test_json_text_is_json_dumps(value):
    """The dashboard's writer gives json.dumps' exact text (indent=2, sorted keys, ensure_ascii=False: CPython 3.11
    Lib/json/encoder.py _make_iterencode) for any JSON value: strings with quotes, controls and non-ASCII, nested and
    empty containers, tuples, non-finite floats (handed to json)."""
    from velero_gitops.observability.dashboard import json_text

    assert json_text(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def test_restore_panel_says_restores_carry_their_backups_schedule(board):
    """vmware-tanzu/velero@v1.18.1:pkg/controller/restore_controller.go validateAndComplete fills an empty
    spec.scheduleName from the backup's velero.io/schedule-name label, and Reconcile counts the restore under it: a
    restore of a scheduled backup is labelled with that schedule. The panel sums over all schedules and says so."""
    panel = _panel(board, "Restores by outcome")
    assert "schedule of the backup it restores" in panel["description"]
    assert all("schedule" not in t["expr"] for t in panel["targets"])
