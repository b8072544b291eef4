"""Prometheus alert and recording rules for Velero: the ``spec.groups`` of our own PrometheusRule.

Pure and deterministic: ``rule_groups(config)`` returns plain dicts, lists and strings; the plan puts
them under ``spec.groups`` of a ``monitoring.coreos.com/v1`` PrometheusRule in the Velero namespace.

Metric names come from Velero's ``pkg/metrics/metrics.go`` (vmware-tanzu/velero@v1.18.1) and kube-state-metrics.
Facts from that file the rules rely on:

* ``InitSchedule`` creates the per-schedule counters at 0 and ``velero_backup_last_status`` at 1 when
  Velero starts (so counters see every increase, but a restart resets ``last_status`` to 1);
  ``velero_backup_last_successful_timestamp`` is only set by a successful backup, so it is absent
  after a restart until the next success.
* Completed sets ``last_status`` 1; Failed, PartiallyFailed and FailedValidation set it to 0.
* Ad-hoc backups carry ``schedule=""``; every rule here looks at scheduled backups only.

Rules that depend on a schedule's cadence (no recent backup, failing persistently, partial failure)
are generated once per schedule from its parsed cron (``schedule.timing.max_interval()``) plus
``metrics.missedBackupMargin``; paused schedules get none of them.

Whether the rules are rendered at all (``metrics.enabled`` and ``metrics.prometheusRule``) is the
plan's decision; this module always describes the full set.
"""

from __future__ import annotations

import math
from typing import Any

from velero_gitops.config.model import Config, ScheduleConfig
from velero_gitops.config.units import parse_duration

DEFAULT_RUNBOOK_BASE = "https://github.com/velero-gitops/velero-gitops/blob/main/docs/observability.md"

# Alert names; the runbook anchor of each is its lower-cased name (docs/observability.md).
BACKUP_FAILED = "VeleroBackupFailed"
BACKUP_FAILING = "VeleroBackupFailing"
PARTIAL_FAILURES = "VeleroBackupPartialFailures"
NO_NEW_BACKUP = "VeleroNoNewBackup"
BSL_UNAVAILABLE = "VeleroBackupStorageLocationUnavailable"
NODE_AGENT_NOT_READY = "VeleroNodeAgentNotReady"
REPO_MAINTENANCE_FAILING = "VeleroRepoMaintenanceFailing"
SUCCESS_RATIO_LOW = "VeleroBackupSuccessRatioLow"

ALERT_NAMES = (
    BACKUP_FAILED, BACKUP_FAILING, PARTIAL_FAILURES, NO_NEW_BACKUP, BSL_UNAVAILABLE,
    NODE_AGENT_NOT_READY, REPO_MAINTENANCE_FAILING, SUCCESS_RATIO_LOW,
)

SUCCESS_RATIO_RECORD = "velero:backup_success_ratio:30d"
SUCCESS_RATIO_WINDOW = "30d"

# How far past the threshold the "no new backup" look-back reaches, so that the old samples of a
# restarted Velero overlap with the `absent()` rule taking over (see _no_new_backup_rules).
_LOOKBACK_SLACK = 15 * 60
NODE_AGENT_DAEMONSET = "node-agent"
REPO_MAINTENANCE_WINDOW = "6h"

# Backup outcomes that end a scheduled backup; the success ratio is successes over all of them.
FINISHED_COUNTERS = (
    "velero_backup_success_total",
    "velero_backup_partial_failure_total",
    "velero_backup_failure_total",
    "velero_backup_validation_failure_total",
)


# ------------------------------------------------------------------------------------------ helpers
def prom_duration(seconds: float) -> str:
    """A Prometheus duration for whole seconds, in h/m/s only: 90000 -> 25h, 5400 -> 1h30m."""
    s = int(math.ceil(seconds))
    if s <= 0:
        return "0s"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec else "")
    return out


def _quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def runbook_url(config: Config, alert: str) -> str:
    """``<metrics.runbookUrl or docs/observability.md on GitHub>#<alert name lower-cased>``."""
    base = (config.metrics.runbook_url or DEFAULT_RUNBOOK_BASE).split("#", 1)[0]
    return f"{base}#{alert.lower()}"


def schedule_interval(schedule: ScheduleConfig) -> float:
    """Longest gap between two runs of the schedule, in seconds (daily -> 86400, hourly -> 3600)."""
    return schedule.timing.max_interval().total_seconds()


def missed_backup_threshold(config: Config, schedule: ScheduleConfig) -> float:
    """Seconds without a successful backup after which VeleroNoNewBackup fires: interval + margin."""
    return schedule_interval(schedule) + parse_duration(config.metrics.missed_backup_margin)


def active_schedules(config: Config) -> list[ScheduleConfig]:
    """Schedules that get per-schedule rules: all but the paused ones, in config order."""
    return [s for s in config.schedules if not s.paused]


def success_ratio_expr(selector: str = 'schedule!=""', window: str = SUCCESS_RATIO_WINDOW) -> str:
    """Per schedule: successful / finished scheduled backups over ``window``.

    Finished = Completed + PartiallyFailed + Failed + FailedValidation. Counting finished backups
    rather than ``velero_backup_attempt_total`` keeps a backup that is still running out of the
    denominator, so the ratio does not dip (and alert) while a backup is in progress.
    """
    def inc(metric: str) -> str:
        return f"sum by (schedule) (increase({metric}{{{selector}}}[{window}]))"

    finished = "\n  + ".join(inc(m) for m in FINISHED_COUNTERS)
    return f"{inc(FINISHED_COUNTERS[0])}\n/\n(\n  {finished}\n)"


def _alert(
    config: Config, name: str, expr: str, for_: str, severity: str, summary: str, description: str,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = {"severity": severity}
    labels.update(extra_labels or {})
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": dict(sorted(labels.items())),
        "annotations": {
            "description": description,
            "runbook_url": runbook_url(config, name),
            "summary": summary,
        },
    }


# ---------------------------------------------------------------------------------------- the rules
def _recording_rules() -> list[dict[str, Any]]:
    return [{"record": SUCCESS_RATIO_RECORD, "expr": success_ratio_expr()}]


def _backup_alerts(config: Config) -> list[dict[str, Any]]:
    return [
        _alert(
            config, BACKUP_FAILED,
            expr='velero_backup_last_status{schedule!=""} != 1',
            for_="15m", severity="warning",
            summary="The last backup of Velero schedule {{ $labels.schedule }} did not succeed.",
            description=(
                "The most recent backup of schedule {{ $labels.schedule }} ended Failed, PartiallyFailed or "
                "FailedValidation (velero_backup_last_status is 0). Check it with "
                "`velero backup describe --details` and `velero backup logs` on the newest "
                "{{ $labels.schedule }}-<timestamp> backup."
            ),
        ),
    ]


def _schedule_alerts(config: Config, schedule: ScheduleConfig) -> list[dict[str, Any]]:
    name = schedule.name
    sel = f"schedule={_quote(name)}"
    interval = schedule_interval(schedule)
    threshold = missed_backup_threshold(config, schedule)
    threshold_d = prom_duration(threshold)
    lookback_d = prom_duration(threshold + _LOOKBACK_SLACK)
    interval_d = prom_duration(interval)
    cadence = f"schedule {{{{ $labels.schedule }}}} (cron {schedule.cron!r}, longest gap {interval_d})"
    labels = {"schedule": name}
    no_new_summary = (
        f"No successful backup of Velero schedule {{{{ $labels.schedule }}}} for more than {threshold_d}."
    )
    return [
        # Age of the last success. max_over_time over a look-back slightly longer than the threshold
        # keeps the pre-restart samples in view after Velero restarts (the gauge is not re-created
        # until the next success), so the age stays correct across restarts.
        _alert(
            config, NO_NEW_BACKUP,
            expr=(
                f"time() - max by (schedule) (max_over_time(velero_backup_last_successful_timestamp{{{sel}}}"
                f"[{lookback_d}])) > {int(math.ceil(threshold))}"
            ),
            for_="0s", severity="critical", extra_labels={**labels, "reason": "stale"},
            summary=no_new_summary,
            description=(
                f"The last successful backup of {cadence} is {{{{ $value | humanizeDuration }}}} old, longer than "
                f"its interval plus the {config.metrics.missed_backup_margin} margin. The schedule may be "
                "failing, stuck InProgress, or Velero may not be running it."
            ),
        ),
        # The gauge is missing entirely (Velero down or not scraped, a fresh install that never
        # completed a backup, or a restart followed by no success) for the whole threshold.
        _alert(
            config, NO_NEW_BACKUP,
            expr=f"absent(velero_backup_last_successful_timestamp{{{sel}}})",
            for_=threshold_d, severity="critical", extra_labels={**labels, "reason": "absent"},
            summary=no_new_summary,
            description=(
                f"velero_backup_last_successful_timestamp for {cadence} has been absent for {threshold_d}: "
                "no backup of it has succeeded since Velero started, or Prometheus does not scrape Velero."
            ),
        ),
        # Still failed one whole interval (plus margin) later: the next run did not succeed either.
        _alert(
            config, BACKUP_FAILING,
            expr=f"min by (schedule) (velero_backup_last_status{{{sel}}}) == 0",
            for_=threshold_d, severity="critical", extra_labels=labels,
            summary="Velero schedule {{ $labels.schedule }} keeps failing.",
            description=(
                f"Backups of {cadence} have been unsuccessful for more than {threshold_d}: the run after the "
                "failed one did not succeed either. Data is not being protected."
            ),
        ),
        # A partial failure during the last interval, i.e. in the latest run.
        _alert(
            config, PARTIAL_FAILURES,
            expr=(
                f"sum by (schedule) (increase(velero_backup_partial_failure_total{{{sel}}}[{interval_d}])) > 0"
            ),
            for_="0s", severity="warning", extra_labels=labels,
            summary="A backup of Velero schedule {{ $labels.schedule }} partially failed.",
            description=(
                f"A backup of {cadence} ended PartiallyFailed within the last {interval_d}: some items or pod "
                "volumes were not backed up. See `velero backup describe --details` for the errors."
            ),
        ),
    ]


def _infrastructure_alerts(config: Config) -> list[dict[str, Any]]:
    ns = _quote(config.repo.namespace)
    ds = f"namespace={ns}, daemonset={_quote(NODE_AGENT_DAEMONSET)}"
    win = REPO_MAINTENANCE_WINDOW
    return [
        _alert(
            config, BSL_UNAVAILABLE,
            expr="velero_backup_location_status_gauge == 0",
            for_="15m", severity="critical",
            summary="Velero backup storage location {{ $labels.backup_location_name }} is unavailable.",
            description=(
                "Velero cannot reach backup storage location {{ $labels.backup_location_name }} (S3 endpoint, "
                "bucket, credentials or CA). Every backup of every schedule fails until it is available "
                "again. See `velero backup-location get`."
            ),
        ),
        _alert(
            config, NODE_AGENT_NOT_READY,
            expr=(
                f"kube_daemonset_status_desired_number_scheduled{{{ds}}}\n"
                f"- kube_daemonset_status_number_ready{{{ds}}}\n> 0"
            ),
            for_="15m", severity="warning",
            summary="{{ $value }} node-agent pod(s) in {{ $labels.namespace }} are not ready.",
            description=(
                "The node-agent DaemonSet in namespace {{ $labels.namespace }} has {{ $value }} node(s) "
                "without a ready pod. File-system (kopia) backups of pod volumes on those nodes fail, so "
                "every schedule that covers them ends PartiallyFailed."
            ),
        ),
        _alert(
            config, REPO_MAINTENANCE_FAILING,
            expr=(
                f"sum by (repository_name) (increase(velero_repo_maintenance_failure_total[{win}])) > 0\n"
                f"unless on (repository_name)\n"
                f"sum by (repository_name) (increase(velero_repo_maintenance_success_total[{win}])) > 0"
            ),
            for_="15m", severity="warning",
            summary="Kopia repository maintenance for {{ $labels.repository_name }} keeps failing.",
            description=(
                f"Maintenance jobs of backup repository {{{{ $labels.repository_name }}}} failed and none "
                f"succeeded in the last {win}. Without maintenance, expired backup data is never removed "
                "from the bucket and the repository index grows."
            ),
        ),
    ]


def _slo_alerts(config: Config) -> list[dict[str, Any]]:
    objective = config.metrics.success_objective
    pct = f"{objective * 100:g}%"
    return [
        _alert(
            config, SUCCESS_RATIO_LOW,
            expr=f"{SUCCESS_RATIO_RECORD} < {objective:g}",
            for_="15m", severity="warning",
            summary=(
                "Only {{ $value | humanizePercentage }} of backups of Velero schedule {{ $labels.schedule }} "
                f"succeeded over 30 days (objective {pct})."
            ),
            description=(
                "The 30-day share of finished backups of schedule {{ $labels.schedule }} that ended Completed "
                f"is {{{{ $value | humanizePercentage }}}}, below the {pct} objective. Look at the failed and "
                "partially failed backups of the last month for a recurring cause."
            ),
        ),
    ]


def rule_groups(config: Config) -> list[dict[str, Any]]:
    """The PrometheusRule ``spec.groups``: generic, per-schedule, infrastructure and objective rules."""
    schedule_rules: list[dict[str, Any]] = []
    for s in active_schedules(config):
        schedule_rules.extend(_schedule_alerts(config, s))
    groups = [
        {"name": "velero.backups", "rules": _backup_alerts(config)},
        {"name": "velero.schedules", "rules": schedule_rules},
        {"name": "velero.infrastructure", "rules": _infrastructure_alerts(config)},
        # The ratio's recording rule and the alert on it share a group: rules of one group run in
        # order, so the alert always sees the ratio of the same evaluation.
        {"name": "velero.objective", "rules": _recording_rules() + _slo_alerts(config)},
    ]
    # A group without rules is valid but noise; with no active schedule, drop it.
    return [g for g in groups if g["rules"]]


def rules_file_yaml(config: Config) -> str:
    """The groups as a Prometheus rules file (``groups: [...]``), as ``promtool check rules`` reads it."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    def literal(node: Any) -> Any:  # multi-line expressions as `|-` blocks, as people write them
        if isinstance(node, dict):
            return {k: literal(v) for k, v in node.items()}
        if isinstance(node, list):
            return [literal(v) for v in node]
        if isinstance(node, str) and "\n" in node:
            return LiteralScalarString(node)
        return node

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    yaml.dump({"groups": literal(rule_groups(config))}, buf)
    return buf.getvalue()
