"""The Grafana dashboard for Velero backups: pure, deterministic dashboard JSON.

The plan puts ``dashboard_json(config)`` under ``data: {velero.json: ...}`` of a ConfigMap that the
Grafana sidecar loads (label ``<metrics.dashboard.label>: "1"``, annotation ``grafana_folder``).

Every query uses metrics Velero, its node-agent or kube-state-metrics export (vmware-tanzu/velero@v1.18.1:
pkg/metrics/metrics.go; docs/observability.md lists when each is set). Node-agent metrics are named
``podVolume_*`` (Velero's ``podVolumeMetricsNamespace``), not ``velero_*``. Nothing reads
``velero_backup_last_status``: the schedule controller sets it back to 1 every minute (InitSchedule), so
a panel on it is green through every failure; the outcome counters show failures instead. The 30-day
ratio panels read the ``velero:backup_success_ratio:30d`` recording rule (alerts.py), which the
PrometheusRule provides. Restore counters are labelled with ``Restore.spec.scheduleName``, which
``validateAndComplete`` fills from the backup's ``velero.io/schedule-name`` label when the restore names none
(restore_controller.go): a restore of ``daily-...`` counts under ``schedule="daily"``, one of a manual backup
under ``""``. The restore panel sums over all of them and does not filter on ``$schedule``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import Any

from velero_gitops.config.model import Config
from velero_gitops.observability.alerts import (
    NODE_AGENT_DAEMONSET,
    SUCCESS_RATIO_RECORD,
    missed_backup_threshold,
)

SCHEMA_VERSION = 39  # Grafana 10.4 / 11
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEDULE_SELECTOR = 'schedule=~"$schedule"'
# Pod volume operations are labelled "<pvb>-...-<uploader>-backup" or "...-restore".
PVB_BACKUP_SELECTOR = 'operation=~".*-backup"'
DEFAULT_MISSED_THRESHOLD = 25 * 3600


# Grafana refuses a dashboard uid longer than 40 characters or with others than letters, digits, '-' and '_'
# (grafana/grafana@ec129a119e3e:pkg/util/shortid_generator.go, IsValidShortUID, IsShortUIDTooLong).
GRAFANA_UID = re.compile(r"[a-zA-Z0-9_-]{1,40}")


def dashboard_uid(cluster: str) -> str:
    """``velero-<cluster>`` when Grafana takes it as a uid; else (a long or dotted cluster name) its readable part
    and a hash of the whole name, so `prod.eu` and `prod-eu` keep distinct dashboards."""
    uid = f"velero-{cluster}"
    if GRAFANA_UID.fullmatch(uid):
        return uid
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:10]
    return f"velero-{re.sub(r'[^a-zA-Z0-9_-]', '-', cluster[:22])}-{digest}"


# node-agent counters (vmware-tanzu/velero@v1.18.1:pkg/controller/pod_volume_backup_controller.go): "enqueue" when
# the data path starts, "dequeue" only when the backup completed; a failed or canceled one never dequeues.
PVB_STARTED = "podVolume_pod_volume_backup_enqueue_count"
PVB_COMPLETED = "podVolume_pod_volume_backup_dequeue_count"
# Outcome counters of a scheduled backup that did not complete.
UNSUCCESSFUL = (
    "velero_backup_failure_total", "velero_backup_partial_failure_total", "velero_backup_validation_failure_total",
)


# ------------------------------------------------------------------------------------- building
class _Panels:
    """Collects panels with sequential ids, so ids are unique and stable."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []

    def add(
        self, kind: str, title: str, description: str, grid: tuple[int, int, int, int],
        targets: list[tuple[str, str]], field_config: dict[str, Any], options: dict[str, Any],
        **extra: Any,
    ) -> None:
        x, y, w, h = grid
        panel = {
            "datasource": dict(DATASOURCE),
            "description": description,
            "fieldConfig": field_config,
            "gridPos": {"h": h, "w": w, "x": x, "y": y},
            "id": len(self.panels) + 1,
            "options": options,
            "targets": [
                {
                    "datasource": dict(DATASOURCE),
                    "editorMode": "code",
                    "expr": expr,
                    "legendFormat": legend,
                    "range": True,
                    "refId": chr(ord("A") + i),
                }
                for i, (expr, legend) in enumerate(targets)
            ],
            "title": title,
            "type": kind,
        }
        panel.update(extra)
        self.panels.append(panel)


def _thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def _stat_options(text_mode: str = "value_and_name") -> dict[str, Any]:
    return {
        "colorMode": "background",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": text_mode,
    }


def _timeseries_options() -> dict[str, Any]:
    return {
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def _timeseries_field(unit: str, **custom: Any) -> dict[str, Any]:
    base = {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "auto", "spanNulls": False}
    base.update(custom)
    return {"defaults": {"custom": base, "unit": unit}, "overrides": []}


def _status_mapping(ok: str, bad: str) -> list[dict[str, Any]]:
    return [{
        "type": "value",
        "options": {"0": {"color": "red", "index": 1, "text": bad}, "1": {"color": "green", "index": 0, "text": ok}},
    }]


def _templating(config: Config) -> dict[str, Any]:
    return {
        "list": [
            {
                "current": {},
                "hide": 0,
                "includeAll": False,
                "label": "Data source",
                "multi": False,
                "name": "datasource",
                "options": [],
                "query": "prometheus",
                "refresh": 1,
                "regex": "",
                "type": "datasource",
            },
            {
                "allValue": ".+",
                "current": {},
                "datasource": dict(DATASOURCE),
                "definition": "label_values(velero_backup_attempt_total, schedule)",
                "hide": 0,
                "includeAll": True,
                "label": "Schedule",
                "multi": True,
                "name": "schedule",
                "options": [],
                "query": {
                    "qryType": 1,
                    "query": "label_values(velero_backup_attempt_total, schedule)",
                    "refId": "PrometheusVariableQueryEditor-VariableQuery",
                },
                "refresh": 2,
                "regex": "",
                "sort": 1,
                "type": "query",
            },
        ]
    }


def dashboard(config: Config) -> dict[str, Any]:
    """The Grafana dashboard model (plain dicts/lists/str/numbers), deterministic for a config."""
    p = _Panels()
    ratio = f"{SUCCESS_RATIO_RECORD}{{{SCHEDULE_SELECTOR}}}"
    _schedule_state_row(p, config, ratio)
    _outcome_row(p, config.metrics.success_objective, ratio)
    _duration_size_row(p)
    _storage_node_agent_row(p, config.repo.namespace)
    _pod_volume_latency_row(p)
    _restore_maintenance_row(p)
    return {
        "annotations": {"list": []},
        "description": (f"Velero backups of cluster {config.cluster}: schedules, storage location, node-agent, "
                        "restores, repository maintenance."),
        "editable": True,
        "graphTooltip": 1,
        "links": [],
        "panels": p.panels,
        "refresh": "5m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["backup", "velero"],
        "templating": _templating(config),
        "time": {"from": "now-7d", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": f"Velero backups ({config.cluster})",
        "uid": dashboard_uid(config.cluster),
        "version": 1,
    }


def _schedule_state_row(p: _Panels, config: Config, ratio: str) -> None:
    """Row 1: the state of each schedule right now."""
    objective = config.metrics.success_objective
    sel = SCHEDULE_SELECTOR
    thresholds = {s.name: missed_backup_threshold(config, s) for s in config.schedules}
    default_threshold = max(thresholds.values(), default=DEFAULT_MISSED_THRESHOLD)
    ratio_thresholds = _thresholds((None, "red"), (objective, "green"))
    p.add(
        "stat", "Time since last successful backup",
        "Age of the newest Completed backup per schedule. Red once it is older than the schedule's "
        "interval plus the missed-backup margin, when VeleroNoNewBackup fires.",
        (0, 0, 8, 6),
        [(f"time() - max by (schedule) (velero_backup_last_successful_timestamp{{{sel}}})", "{{schedule}}")],
        {
            "defaults": {"thresholds": _thresholds((None, "green"), (default_threshold, "red")), "unit": "s"},
            "overrides": [
                {
                    "matcher": {"id": "byName", "options": name},
                    "properties": [{"id": "thresholds", "value": _thresholds((None, "green"), (limit, "red"))}],
                }
                for name, limit in sorted(thresholds.items())
            ],
        },
        _stat_options(),
    )
    unsuccessful = " + ".join(
        f"sum by (schedule) (increase({m}{{{sel}}}[24h]))" for m in UNSUCCESSFUL
    )
    p.add(
        "stat", "Unsuccessful backups, last 24 hours",
        "Scheduled backups that ended Failed, PartiallyFailed or FailedValidation in the last 24 hours, per "
        "schedule (Velero's outcome counters). Red from one. velero_backup_last_status is not used: Velero "
        "sets it back to 1 every minute. A failure counted before the first scrape of a restarted Velero "
        "is not in increase(); the alerts see it.",
        (8, 0, 8, 6),
        [(unsuccessful, "{{schedule}}")],
        {"defaults": {"thresholds": _thresholds((None, "green"), (1, "red")), "unit": "none", "decimals": 0},
         "overrides": []},
        _stat_options(),
    )
    p.add(
        "stat", f"Success ratio, last 30 days (objective {objective * 100:g}%)",
        "Completed backups / finished backups (Completed, PartiallyFailed, Failed, FailedValidation) per "
        f"schedule over 30 days ({SUCCESS_RATIO_RECORD}). Red below the objective, when "
        "VeleroBackupSuccessRatioLow fires.",
        (16, 0, 8, 6),
        [(ratio, "{{schedule}}")],
        {"defaults": {"max": 1, "min": 0, "thresholds": ratio_thresholds, "unit": "percentunit", "decimals": 2},
         "overrides": []},
        _stat_options(),
    )


def _outcome_bars(
    p: _Panels, title: str, description: str, grid: tuple[int, int, int, int], targets: list[tuple[str, str]],
) -> None:
    """Stacked bars of finished operations per interval (at least 1h), one series per outcome."""
    p.add(
        "timeseries", title, description, grid, targets,
        _timeseries_field("none", drawStyle="bars", fillOpacity=60, stacking={"group": "A", "mode": "normal"}),
        _timeseries_options(),
        interval="1h",
    )


def _outcome_row(p: _Panels, objective: float, ratio: str) -> None:
    """Row 2: outcomes over time and the ratio against the objective."""
    sel = SCHEDULE_SELECTOR
    ratio_thresholds = _thresholds((None, "red"), (objective, "green"))
    outcomes = [
        ("velero_backup_success_total", "{{schedule}} completed"),
        ("velero_backup_partial_failure_total", "{{schedule}} partially failed"),
        ("velero_backup_failure_total", "{{schedule}} failed"),
        ("velero_backup_validation_failure_total", "{{schedule}} failed validation"),
    ]
    _outcome_bars(
        p, "Backups by outcome",
        "Scheduled backups finished per interval (at least 1h), by outcome.",
        (0, 6, 12, 8),
        [(f"sum by (schedule) (increase({m}{{{sel}}}[$__interval]))", legend) for m, legend in outcomes],
    )
    p.add(
        "timeseries", "Success ratio (30 days) against the objective",
        f"The 30-day success ratio per schedule ({SUCCESS_RATIO_RECORD}); the dashed line is the "
        f"{objective * 100:g}% objective.",
        (12, 6, 12, 8),
        [(ratio, "{{schedule}}")],
        {
            "defaults": {
                "custom": {"drawStyle": "line", "fillOpacity": 0, "lineWidth": 2, "showPoints": "never",
                           "spanNulls": True, "thresholdsStyle": {"mode": "dashed"}},
                "decimals": 2, "max": 1, "thresholds": ratio_thresholds, "unit": "percentunit",
            },
            "overrides": [],
        },
        _timeseries_options(),
    )


def _duration_size_row(p: _Panels) -> None:
    """Row 3: duration and size."""
    sel = SCHEDULE_SELECTOR
    duration = "sum by (schedule, le) (increase(velero_backup_duration_seconds_bucket{%s}[1d]))" % sel
    p.add(
        "timeseries", "Backup duration (over the last 24h)",
        "Median and 95th percentile of backup durations per schedule, over backups of the last 24 hours "
        "(velero_backup_duration_seconds; buckets from 1m to 4h).",
        (0, 14, 12, 8),
        [
            (f"histogram_quantile(0.5, {duration})", "{{schedule}} p50"),
            (f"histogram_quantile(0.95, {duration})", "{{schedule}} p95"),
        ],
        _timeseries_field("s"),
        _timeseries_options(),
    )
    p.add(
        "timeseries", "Backup size (metadata tarball)",
        "Size of the newest backup's tarball per schedule. It holds the Kubernetes objects only: "
        "file-system (kopia) volume data goes to the kopia repository and is not counted here.",
        (12, 14, 12, 8),
        [(f"max by (schedule) (velero_backup_tarball_size_bytes{{{sel}}})", "{{schedule}}")],
        _timeseries_field("bytes"),
        _timeseries_options(),
    )


def _storage_node_agent_row(p: _Panels, ns: str) -> None:
    """Row 4: storage location and node-agent."""
    ds = f'namespace="{ns}", daemonset="{NODE_AGENT_DAEMONSET}"'
    p.add(
        "stat", "Backup storage locations",
        "Availability of each BackupStorageLocation as Velero last validated it (every minute).",
        (0, 22, 8, 6),
        [("max by (backup_location_name) (velero_backup_location_status_gauge)", "{{backup_location_name}}")],
        {
            "defaults": {
                "mappings": _status_mapping("Available", "Unavailable"),
                "thresholds": _thresholds((None, "red"), (1, "green")),
                "unit": "none",
            },
            "overrides": [],
        },
        _stat_options(),
    )
    p.add(
        "stat", "node-agent pods ready",
        "Ready node-agent pods over the nodes that should run one (kube-state-metrics). Red below 100 %: "
        "pod volumes on a node without a ready node-agent are not backed up (VeleroNodeAgentNotReady).",
        (8, 22, 8, 6),
        [(f"sum(kube_daemonset_status_number_ready{{{ds}}})\n/\nsum(kube_daemonset_status_desired_number_scheduled{{{ds}}})",
          "ready")],
        {"defaults": {"thresholds": _thresholds((None, "red"), (1, "green")), "unit": "percentunit",
                      "min": 0, "max": 1},
         "overrides": []},
        _stat_options("value"),
    )
    p.add(
        "timeseries", "Pod volume backups started and completed per node",
        "PodVolumeBackups each node-agent started (data path created) and completed successfully. Velero counts "
        "only successful completions, so a started backup that never shows as completed failed or was canceled: "
        "see the PodVolumeBackup objects. (enqueue minus dequeue is not 'in progress': it only ever grows.)",
        (16, 22, 8, 6),
        [
            (f"sum by (node) (increase({PVB_STARTED}[$__rate_interval]))", "{{node}} started"),
            (f"sum by (node) (increase({PVB_COMPLETED}[$__rate_interval]))", "{{node}} completed"),
        ],
        _timeseries_field("none"),
        _timeseries_options(),
    )


def _pod_volume_latency_row(p: _Panels) -> None:
    """Row 5: node-agent pod volume backup latency."""
    p.add(
        "timeseries", "Pod volume backup latency per node (p95 since node-agent start)",
        "95th percentile of the time a pod volume backup (kopia upload of one volume) took, per node, "
        "over all pod volume backups since the node-agent pod started.",
        (0, 28, 12, 8),
        [(
            "histogram_quantile(0.95, sum by (node, le) "
            f"(podVolume_pod_volume_operation_latency_seconds_bucket{{{PVB_BACKUP_SELECTOR}}}))",
            "{{node}}",
        )],
        _timeseries_field("s"),
        _timeseries_options(),
    )
    p.add(
        "table", "Slowest pod volume backups",
        "The 20 slowest pod volume backups the node-agents have reported since they started.",
        (12, 28, 12, 8),
        [(
            f"topk(20, podVolume_pod_volume_operation_latency_seconds_gauge{{{PVB_BACKUP_SELECTOR}}})",
            "{{backupName}} {{pod_volume_backup}}",
        )],
        {"defaults": {"unit": "s"}, "overrides": []},
        {"showHeader": True, "sortBy": [{"desc": True, "displayName": "Value"}]},
        transformations=[{
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True, "__name__": True, "operation": True},
                "renameByName": {"Value": "Latency", "backupName": "Backup", "pod_volume_backup": "PodVolumeBackup"},
            },
        }],
    )
    # The table shows the latest value of each series, not a range.
    for target in p.panels[-1]["targets"]:
        target.update({"format": "table", "instant": True, "range": False})


def _restore_maintenance_row(p: _Panels) -> None:
    """Row 6: restores and kopia repository maintenance."""
    restores = [
        ("velero_restore_success_total", "completed"),
        ("velero_restore_partial_failure_total", "partially failed"),
        ("velero_restore_failed_total", "failed"),
        ("velero_restore_validation_failed_total", "failed validation"),
    ]
    _outcome_bars(
        p, "Restores by outcome",
        "Restores finished per interval (at least 1h), by outcome, over all restores. Velero labels each with the "
        "schedule of the backup it restores (empty for a manual backup); the panel sums over all of them.",
        (0, 36, 8, 8),
        [(f"sum(increase({m}[$__interval]))", legend) for m, legend in restores],
    )
    _outcome_bars(
        p, "Repository maintenance by outcome",
        "Kopia maintenance jobs per repository (one per backed-up namespace) per interval. Velero counts "
        "them from the first job after each restart, and not the jobs it finds finished on restart.",
        (8, 36, 8, 8),
        [
            ("sum by (repository_name) (increase(velero_repo_maintenance_success_total[$__interval]))",
             "{{repository_name}} succeeded"),
            ("sum by (repository_name) (increase(velero_repo_maintenance_failure_total[$__interval]))",
             "{{repository_name}} failed"),
        ],
    )
    p.add(
        "timeseries", "Repository maintenance duration (p95 over 24h)",
        "95th percentile of maintenance job durations per repository over the last 24 hours "
        "(velero_repo_maintenance_duration_seconds; buckets from 1m to 4h).",
        (16, 36, 8, 8),
        [(
            "histogram_quantile(0.95, sum by (repository_name, le) "
            "(increase(velero_repo_maintenance_duration_seconds_bucket[1d])))",
            "{{repository_name}}",
        )],
        _timeseries_field("s"),
        _timeseries_options(),
    )


def dashboard_json(config: Config) -> str:
    """The dashboard as stable JSON text (sorted keys, 2-space indent, final newline)."""
    return json_text(dashboard(config)) + "\n"


def json_text(obj: Any) -> str:
    """``json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)``, the layout written here and each string by
    json's C encoder: with an indent, json encodes in pure Python (CPython 3.11 Lib/json/encoder.py iterencode uses
    c_make_encoder only without one), 2 ms a dashboard. A value json would write some other way goes to json."""
    out: list[str] = []
    try:
        _json_parts(obj, "\n", out.append)
    except TypeError:
        return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)
    return "".join(out)


def _json_parts(obj: Any, nl: str, put: Callable[[str], None]) -> None:
    t = type(obj)
    if t is str:
        put(_encode_string(obj))
    elif obj is None or obj is True or obj is False:
        put("null" if obj is None else "true" if obj else "false")
    elif t is int:
        put(int.__repr__(obj))
    elif t is float and math.isfinite(obj):
        put(float.__repr__(obj))
    elif t is dict and all(type(k) is str for k in obj):
        if not obj:
            put("{}")
            return
        inner = nl + "  "
        sep = "{" + inner
        for key in sorted(obj):
            put(sep)
            put(_encode_string(key))
            put(": ")
            _json_parts(obj[key], inner, put)
            sep = "," + inner
        put(nl + "}")
    elif t is list or t is tuple:
        if not obj:
            put("[]")
            return
        inner = nl + "  "
        sep = "[" + inner
        for item in obj:
            put(sep)
            _json_parts(item, inner, put)
            sep = "," + inner
        put(nl + "]")
    else:
        raise TypeError(t.__name__)  # non-finite floats, subclasses, other keys: json's own rules


_encode_string = json.encoder.encode_basestring  # C when available (the ensure_ascii=False form)
