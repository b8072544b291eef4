"""Prometheus alert and recording rules for Velero: the ``spec.groups`` of our own PrometheusRule.

Pure and deterministic: ``rule_groups(config)`` returns plain dicts, lists and strings; the plan puts
them under ``spec.groups`` of a ``monitoring.coreos.com/v1`` PrometheusRule in the Velero namespace.

Every rule is built from what Velero really exports, read in vmware-tanzu/velero@v1.18.1 (the
appVersion of chart 12.1.0): ``pkg/metrics/metrics.go`` and each caller. docs/observability.md
("What Velero exports, and when") lists every series; the facts the rules depend on:

* ``velero_backup_last_status`` cannot carry an alert. The schedule controller re-reconciles every
  schedule each minute (``pkg/controller/schedule_controller.go``, ``scheduleSyncPeriod``) and each
  reconcile calls ``InitSchedule``, which sets the gauge back to 1. A failure shows as 0 for at most a
  minute, often between two scrapes. No rule here reads it.
* The outcome counters (``velero_backup_{success,partial_failure,failure,validation_failure}_total``,
  label ``schedule``) are incremented once per finished backup: by ``backup_controller.go`` (Failed,
  FailedValidation) and ``backup_finalizer_controller.go`` (Completed, PartiallyFailed). They live in
  the process: a restart starts them again at 0 (``InitSchedule`` on the first schedule reconcile),
  a new pod gives new series (other ``pod``/``instance`` labels), and ``RemoveSchedule`` deletes them
  when a Schedule is deleted. A counter can first reach Prometheus already at 1: the increment came
  before the first scrape of a new process (a backup finalized right after start), or, for the
  maintenance counters, which nothing initialises, on every first increment of a process.
  ``increase()`` cannot see that step (prometheus/prometheus@v3.14.0:promql/functions.go,
  ``extrapolatedRate``: the result is last minus first sample plus the value before each drop; one
  sample, or samples all at 1, give nothing or 0). So every "did it happen" rule is
  ``observed_increase``: ``increase() > 0``, or a non-zero counter of a process that started within
  the window (``process_start_time_seconds`` of the same target; every increment of such a process
  happened inside the window).
* ``velero_backup_last_successful_timestamp`` is set by each success and recomputed every minute
  from the Completed Backup objects (``backup_controller.go``, ``updateTotalBackupMetric``,
  ``backupResyncPeriod``), so it is back about a minute after a restart and is absent only while no
  Completed backup of the schedule exists or Velero is not scraped.

Rules that depend on a schedule's cadence (no recent backup, failure windows) are generated once per
schedule from its parsed cron (``schedule.timing.max_interval()``) plus ``metrics.missedBackupMargin``.
A paused schedule gets the same rules: Velero's schedule controller skips it (vmware-tanzu/velero@v1.18.1:
pkg/controller/schedule_controller.go, the SetupWithManager predicate on ``spec.paused``) and exports no series
saying it is paused, but ``updateTotalBackupMetric`` keeps rebuilding its last-success timestamp from its Backups,
so VeleroNoNewBackup fires once a pause outlasts the interval: a forgotten unpause is seen.

Whether the rules are rendered at all (``metrics.enabled`` and ``metrics.prometheusRule``) is the
plan's decision; this module always describes the full set.
"""

from __future__ import annotations

import math
from typing import Any

from velero_gitops.config.model import Config, ScheduleConfig
from velero_gitops.config.names import velero_fullname
from velero_gitops.config.units import parse_duration

DEFAULT_RUNBOOK_BASE = "https://github.com/velero-gitops/velero-gitops/blob/main/docs/observability.md"

# Alert names; the runbook anchor of each is its lower-cased name (docs/observability.md).
BACKUP_FAILED = "VeleroBackupFailed"
VALIDATION_FAILED = "VeleroBackupFailedValidation"
PARTIAL_FAILURES = "VeleroBackupPartialFailures"
NO_NEW_BACKUP = "VeleroNoNewBackup"
BSL_UNAVAILABLE = "VeleroBackupStorageLocationUnavailable"
NODE_AGENT_NOT_READY = "VeleroNodeAgentNotReady"
REPO_MAINTENANCE_FAILING = "VeleroRepoMaintenanceFailing"
SUCCESS_RATIO_LOW = "VeleroBackupSuccessRatioLow"
BACKUP_WARNINGS = "VeleroBackupWarnings"
VELERO_DOWN = "VeleroDown"
NODE_AGENT_MISSING = "VeleroNodeAgentMissing"
REPO_MAINTENANCE_STUCK = "VeleroRepoMaintenanceStuck"
REPO_MAINTENANCE_JOB_STUCK = "VeleroRepoMaintenanceJobStuck"
RESTORE_FAILED = "VeleroRestoreFailed"

ALERT_NAMES = (
    BACKUP_FAILED, VALIDATION_FAILED, PARTIAL_FAILURES, NO_NEW_BACKUP, BSL_UNAVAILABLE,
    NODE_AGENT_NOT_READY, REPO_MAINTENANCE_FAILING, SUCCESS_RATIO_LOW, BACKUP_WARNINGS,
    VELERO_DOWN, NODE_AGENT_MISSING, REPO_MAINTENANCE_STUCK, REPO_MAINTENANCE_JOB_STUCK, RESTORE_FAILED,
)

SUCCESS_RATIO_RECORD = "velero:backup_success_ratio:30d"
SUCCESS_RATIO_WINDOW = "30d"

# How far past the threshold the "no new backup" look-back reaches, so that the old samples of a
# restarted Velero overlap with the `absent()` rule taking over (see _schedule_alerts).
_LOOKBACK_SLACK = 15 * 60
# The shortest window a failure stays visible in: a few scrapes even for a */5 schedule.
MIN_FAILURE_WINDOW = 15 * 60
NODE_AGENT_DAEMONSET = "node-agent"
# Kopia maintenance runs hourly per repository (vmware-tanzu/velero@v1.18.1:
# pkg/repository/udmrepo/kopialib/lib_repo.go, defaultMaintainCheckPeriod); 6h is six runs.
REPO_MAINTENANCE_WINDOW = 6 * 3600
# A maintenance Job that never ends (Pending, ImagePullBackOff, a hung kopia) moves no counter: Velero polls it until
# its context ends (vmware-tanzu/velero@v1.18.1:pkg/repository/maintenance/maintenance.go waitForJobComplete) and
# the repository's next runs wait behind it. A day is 24 hourly runs, long enough for a slow full maintenance.
REPO_MAINTENANCE_STUCK_WINDOW = 24 * 3600
# The repositories the stuck rule knows: those with a maintenance result in this look-back (their counters vanish
# with the process that counted them). A stuck repository stays in the alert this long after its last result.
REPO_KNOWN_LOOKBACK = 7 * 86400
# The maintenance Job's name, as kube-state-metrics labels it (job_name): "<repository>-maintain-job-<unix ms>", or
# "repo-maintain-job-<unix ms>" when that exceeds 63 characters (vmware-tanzu/velero@v1.18.1:
# pkg/repository/maintenance/maintenance.go GenerateJobName). Its velero.io/repo-name label reaches Prometheus only
# through kube_job_labels with an allow-list, so the name is what every kube-state-metrics setup shows.
MAINTENANCE_JOB_NAME = ".+-maintain-job-[0-9]+"
# A restore runs on demand, not on a cadence: its failure stays visible for a day.
RESTORE_WINDOW = 24 * 3600
# Restore outcomes that leave data behind, as Velero counts them (vmware-tanzu/velero@v1.18.1:
# pkg/controller/restore_controller.go Reconcile, pkg/controller/restore_finalizer_controller.go finishProcessing):
# (counter, the alert's ``reason``, the Restore's phase).
RESTORE_FAILURES = (
    ("velero_restore_failed_total", "failed", "Failed"),
    ("velero_restore_partial_failure_total", "partially-failed", "PartiallyFailed"),
    ("velero_restore_validation_failed_total", "failed-validation", "FailedValidation"),
)
# Velero crash-looping: more restarts than this within an hour (CrashLoopBackOff restarts every <= 5m,
# kubernetes/kubernetes pkg/kubelet MaxContainerBackOff; one OOM kill or a rollout is not a loop).
RESTARTS_PER_HOUR = 3
# Exported by the Go client's default registry, which Velero's /metrics serves (promhttp.Handler in
# pkg/cmd/server/server.go); same target labels as Velero's own series.
PROCESS_START = "process_start_time_seconds"

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


def failure_window(schedule: ScheduleConfig) -> float:
    """Seconds a failed run keeps its alert firing: one interval (so it covers the latest run), >= 15m."""
    return max(schedule_interval(schedule), MIN_FAILURE_WINDOW)


def observed_increase(metric: str, selector: str, window: float, own_label: str) -> str:
    """The series of a counter that went up within ``window`` seconds, as far as Prometheus can see.

    ``increase(m[w]) > 0`` sees every step between two samples, also across a restart of the same
    target (the drop is a reset: prometheus/prometheus@v3.14.0:promql/functions.go extrapolatedRate).
    It cannot see a series whose first sample is already non-zero: a new Velero process that counted
    before its first scrape, or a maintenance counter, which Velero creates on its first increment
    (vmware-tanzu/velero@v1.18.1:pkg/metrics/metrics.go RegisterRepoMaintenanceFailure). The second
    arm takes those: a non-zero counter of a process that started within the window counted only
    inside it. It joins on every label but the metric's own (``own_label``), i.e. the same target.
    (``m unless m offset w`` would also catch new series, but takes a scrape gap or a new Prometheus
    for one and re-fires on old failures.)
    """
    w = prom_duration(window)
    sel = f"{metric}{{{selector}}}" if selector else metric
    return (
        f"(\n    increase({sel}[{w}]) > 0\n  or\n    {sel} > 0\n"
        f"    and ignoring ({own_label}) (time() - {PROCESS_START} < {int(math.ceil(window))})\n)"
    )


def success_ratio_expr(selector: str = 'schedule!=""', window: str = SUCCESS_RATIO_WINDOW) -> str:
    """Per schedule: successful / finished scheduled backups over ``window``.

    Finished = Completed + PartiallyFailed + Failed + FailedValidation. Counting finished backups
    rather than ``velero_backup_attempt_total`` keeps a backup that is still running out of the
    denominator, so the ratio does not dip (and alert) while a backup is in progress. ``increase`` per
    series, then the sum, stays right across restarts (each pod's series, resets within one); an
    outcome counted before the first scrape of a new pod is missing (documented, rare: a backup must
    end within one scrape interval of Velero's start).
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


# What the "no new backup" alerts of a schedule paused in the config add: the likely cause and its fix.
_PAUSED = ("It is paused in the config (`paused: true`), so Velero creates no backup of it: remove `paused`, "
           "render and commit once the reason for the pause is over.")


def _schedule_alerts(config: Config, schedule: ScheduleConfig) -> list[dict[str, Any]]:
    name = schedule.name
    sel = f"schedule={_quote(name)}"
    interval = schedule_interval(schedule)
    threshold = missed_backup_threshold(config, schedule)
    threshold_d = prom_duration(threshold)
    lookback_d = prom_duration(threshold + _LOOKBACK_SLACK)
    interval_d = prom_duration(interval)
    window = failure_window(schedule)
    window_d = prom_duration(window)
    cadence = f"schedule {{{{ $labels.schedule }}}} (cron {schedule.cron!r}, longest gap {interval_d})"
    labels = {"schedule": name}
    no_new_summary = (
        f"No successful backup of Velero schedule {{{{ $labels.schedule }}}} for more than {threshold_d}."
    )

    # One alert per failed outcome, each on its own counter. They fire at the first evaluation after
    # the scrape that sees the increment and stay for one interval, until the next run had its chance.
    outcomes = (
        # backup_controller.go: runBackup error (BSL, plugin, upload), or the finalizer's Failed.
        (BACKUP_FAILED, "velero_backup_failure_total", "failed",
         "ended Failed within the last {w}. Its data is not in the bucket. Check it with "
         "`velero backup describe --details` and `velero backup logs` on the newest "
         "{{{{ $labels.schedule }}}}-<timestamp> backup."),
        # Refused before it runs (a storage location that does not exist or is ReadOnly, bad selectors).
        (VALIDATION_FAILED, "velero_backup_validation_failure_total", "failed validation",
         "ended FailedValidation within the last {w}: Velero refused the Backup before running it, and every "
         "run of the schedule will fail the same way until the Schedule or its storage location is fixed. "
         "`velero backup describe` shows the validation errors."),
        (PARTIAL_FAILURES, "velero_backup_partial_failure_total", "partially failed",
         "ended PartiallyFailed within the last {w}: some items or pod volumes were not backed up. See "
         "`velero backup describe --details` for the errors."),
        # The one series a skipped volume moves: the backup log counts warnings into status.warnings, and
        # recordBackupMetrics counts a backup with warnings (backup_controller.go RegisterBackupWarning). The
        # node-agent cannot read a hostPath volume or a PVC bound to a hostPath PV (pkg/podvolume/backupper.go
        # isHostPathVolume): it is skipped with only a warning and the backup still ends Completed, without it.
        (BACKUP_WARNINGS, "velero_backup_warning_total", "ended with warnings",
         "ended with warnings within the last {w}: Velero logged a warning while backing it up. A pod volume it "
         "skipped is one (a hostPath volume, or a PVC bound to a hostPath PersistentVolume: the node-agent cannot "
         "read it, and the backup still ends Completed without its data). Look for \"skipping\" in `velero backup "
         "logs` and check the pod volumes in `velero backup describe --details` of the newest "
         "{{{{ $labels.schedule }}}}-<timestamp> backup."),
    )
    return [
        *(
            _alert(
                config, alert,
                expr=f"count by (schedule) {observed_increase(metric, sel, window, 'schedule')}",
                for_="0s", severity="warning", extra_labels=labels,
                summary=f"A backup of Velero schedule {{{{ $labels.schedule }}}} {verb}.",
                description=f"A backup of {cadence} " + what.format(w=window_d),
            )
            for alert, metric, verb, what in outcomes
        ),
        # Age of the last success. The gauge is recomputed each minute from the Completed Backups, so
        # it returns about a minute after a restart; max_over_time over a look-back slightly longer
        # than the threshold bridges that gap and a Velero that is down.
        _alert(
            config, NO_NEW_BACKUP,
            expr=(
                f"time() - max by (schedule) (max_over_time(velero_backup_last_successful_timestamp{{{sel}}}"
                f"[{lookback_d}])) > {int(math.ceil(threshold))}"
            ),
            for_="0s", severity="critical", extra_labels={**labels, "reason": "stale"},
            summary=no_new_summary,
            description=(
                f"The last successful backup of {cadence} is older than its interval plus the "
                f"{config.metrics.missed_backup_margin} margin. " + (
                    _PAUSED if schedule.paused else
                    "The schedule may be failing, stuck behind a backup that stays New or InProgress, or Velero "
                    "may not be running it.")
            ),
        ),
        # The gauge is missing for the whole threshold: no Completed Backup of the schedule exists (a
        # fresh install, or every backup expired), or Prometheus does not scrape Velero.
        _alert(
            config, NO_NEW_BACKUP,
            expr=f"absent(velero_backup_last_successful_timestamp{{{sel}}})",
            for_=threshold_d, severity="critical", extra_labels={**labels, "reason": "absent"},
            summary=no_new_summary,
            description=(
                f"velero_backup_last_successful_timestamp for {cadence} has been absent for {threshold_d}: "
                "no Completed backup of it exists, or Prometheus does not scrape Velero."
                + (" " + _PAUSED if schedule.paused else "")
            ),
        ),
    ]


def _restore_alerts(config: Config) -> list[dict[str, Any]]:
    """A restore that ended Failed, PartiallyFailed or FailedValidation within RESTORE_WINDOW, one rule per outcome.

    What Velero counts (vmware-tanzu/velero@v1.18.1): ``restore_controller.go`` Reconcile increments
    ``velero_restore_validation_failed_total`` when validateAndComplete leaves validation errors and
    ``velero_restore_failed_total`` when runValidatedRestore returns an error (the Restore is then Failed);
    ``restore_finalizer_controller.go`` finishProcessing increments ``velero_restore_partial_failure_total`` for
    PartiallyFailed (errors of items or pod volume restores) and ``velero_restore_success_total`` otherwise. Each
    counts once per Restore, with the label ``schedule`` = ``spec.scheduleName``, which validateAndComplete fills
    from the backup's ``velero.io/schedule-name`` label: a restore of ``daily-<timestamp>`` counts under ``daily``,
    of a manual backup under ``""``. ``InitSchedule`` creates them at 0 for every active Schedule and for ``""``
    at start (``pkg/metrics/metrics.go``, ``pkg/cmd/server/server.go``); a restore of a backup whose Schedule does
    not exist in this process (a new cluster before its Schedules, a schedule deleted since) creates the series
    with its first increment, already at 1: ``observed_increase`` sees it through the process start, within the
    window. Not counted at all: a restore InProgress when Velero restarts (``markInProgressRestoresFailed`` marks it
    Failed without a metric).
    """
    window_d = prom_duration(RESTORE_WINDOW)
    return [
        _alert(
            config, RESTORE_FAILED,
            expr=f"count by (schedule) {observed_increase(metric, '', RESTORE_WINDOW, 'schedule')}",
            for_="0s", severity="warning", extra_labels={"reason": reason},
            summary=f'A Velero restore of a backup of schedule "{{{{ $labels.schedule }}}}" ended {phase}.',
            description=(
                f"A restore ended {phase} within the last {window_d} (a backup of schedule "
                '"{{ $labels.schedule }}"; empty for a backup no schedule made). '
                + ("Its data is not all back: "
                   if phase != "FailedValidation" else "Velero refused it before restoring anything: ")
                + "find it with `kubectl -n " + config.repo.namespace + " get restores.velero.io` (PHASE "
                + phase + ") and read `velero restore describe <restore> --details` and `velero restore logs "
                "<restore>`."
            ),
        )
        for metric, reason, phase in RESTORE_FAILURES
    ]


def _infrastructure_alerts(config: Config) -> list[dict[str, Any]]:
    ns = _quote(config.repo.namespace)
    ds = f"namespace={ns}, daemonset={_quote(NODE_AGENT_DAEMONSET)}"
    win = REPO_MAINTENANCE_WINDOW
    win_d = prom_duration(win)

    stuck, known_d = REPO_MAINTENANCE_STUCK_WINDOW, prom_duration(REPO_KNOWN_LOOKBACK)
    job_sel = f"namespace={ns}, job_name=~{_quote(MAINTENANCE_JOB_NAME)}"

    def maintenance(outcome: str, window: float = win) -> str:
        return (f"count by (repository_name) "
                f"{observed_increase(f'velero_repo_maintenance_{outcome}_total', '', window, 'repository_name')}")

    def finished(window: float) -> str:
        return f"(\n  {maintenance('success', window)}\nor\n  {maintenance('failure', window)}\n)"

    return [
        # Set by every BSL reconcile (backup_storage_location_controller.go logReconciledPhase, at the
        # location's validation frequency, 1m by default); absent after a restart until the first one. A backup
        # into an Unavailable location is refused before it runs (backup_controller.go prepareBackupRequest).
        _alert(
            config, BSL_UNAVAILABLE,
            expr="velero_backup_location_status_gauge == 0",
            for_="15m", severity="critical",
            summary="Velero backup storage location {{ $labels.backup_location_name }} is unavailable.",
            description=(
                "Velero cannot reach backup storage location {{ $labels.backup_location_name }} (S3 endpoint, "
                "bucket, credentials or CA). Velero refuses every backup into it (FailedValidation) until it is "
                "available again. See `velero backup-location get`."
            ),
        ),
        _alert(
            config, NODE_AGENT_NOT_READY,
            expr=(
                f"kube_daemonset_status_desired_number_scheduled{{{ds}}}\n"
                f"- kube_daemonset_status_number_ready{{{ds}}}\n> 0"
            ),
            for_="15m", severity="warning",
            summary="node-agent pods in {{ $labels.namespace }} are not ready.",
            description=(
                "The node-agent DaemonSet in namespace {{ $labels.namespace }} has node(s) without a ready "
                "pod. File-system (kopia) backups of pod volumes on those nodes fail, so every schedule "
                "that covers them ends PartiallyFailed."
            ),
        ),
        # The DaemonSet deleted (its series vanish) or scheduled on no node (desired 0): the subtraction above is
        # empty or 0, and each backup that reaches a pod volume ends PartiallyFailed
        # (vmware-tanzu/velero@v1.18.1:pkg/podvolume/backupper.go, nodeagent.IsRunningInNode). `absent` is
        # guarded by kube-state-metrics reporting some DaemonSet, so a cluster without it stays quiet.
        _alert(
            config, NODE_AGENT_MISSING,
            expr=(f"absent(kube_daemonset_status_desired_number_scheduled{{{ds}}})\nand on ()\n"
                  "count(kube_daemonset_status_desired_number_scheduled) > 0"),
            for_="15m", severity="warning", extra_labels={"reason": "absent"},
            summary="The node-agent DaemonSet in {{ $labels.namespace }} is gone.",
            description=(
                "kube-state-metrics reports DaemonSets but not node-agent in namespace {{ $labels.namespace }}: it "
                "was deleted (or never installed). No pod volume is backed up; every backup that includes one "
                "ends PartiallyFailed."
            ),
        ),
        _alert(
            config, NODE_AGENT_MISSING,
            expr=f"kube_daemonset_status_desired_number_scheduled{{{ds}}} == 0",
            for_="15m", severity="warning", extra_labels={"reason": "unscheduled"},
            summary="The node-agent DaemonSet in {{ $labels.namespace }} runs on no node.",
            description=(
                "The node-agent DaemonSet in namespace {{ $labels.namespace }} should run on no node (its "
                "nodeSelector, affinity or tolerations match none). No pod volume is backed up; every backup that "
                "includes one ends PartiallyFailed."
            ),
        ),
        # Maintenance counters exist only after a job's result in this process, so the first failure
        # after every restart arrives as a new series at 1: observed_increase sees it.
        _alert(
            config, REPO_MAINTENANCE_FAILING,
            expr=f"{maintenance('failure')}\nunless on (repository_name)\n{maintenance('success')}",
            for_="15m", severity="warning",
            summary="Kopia repository maintenance for {{ $labels.repository_name }} keeps failing.",
            description=(
                f"Maintenance jobs of backup repository {{{{ $labels.repository_name }}}} failed and none "
                f"succeeded in the last {win_d}. Without maintenance, expired backup data is never removed "
                "from the bucket and the repository index grows."
            ),
        ),
        # A repository with a result in the look-back but none (success or failure) in the stuck window: its job
        # never finishes. The look-back keeps the repositories a restart forgot (counters start with the process).
        _alert(
            config, REPO_MAINTENANCE_STUCK,
            expr=(
                f"group by (repository_name) (\n    max_over_time(velero_repo_maintenance_success_total[{known_d}])\n"
                f"  or\n    max_over_time(velero_repo_maintenance_failure_total[{known_d}])\n)\n"
                f"unless on (repository_name)\n{finished(stuck)}"
            ),
            for_="15m", severity="warning",
            summary="Kopia repository maintenance for {{ $labels.repository_name }} has not finished for a day.",
            description=(
                f"No maintenance job of backup repository {{{{ $labels.repository_name }}}} ended, successfully or "
                f"not, in the last {prom_duration(stuck)}, although Velero runs one hourly: a job is stuck "
                "(Pending, ImagePullBackOff, a lock it waits for) and Velero waits for it without end."
            ),
        ),
        # The Job itself, from kube-state-metrics (kubernetes/kube-state-metrics@v2.17.0:internal/store/job.go, same at
        # v2.20.0: kube_job_status_start_time and kube_job_status_active, labels namespace and job_name). Unlike the
        # rule above it needs no earlier result: the first Job of a new repository (Velero starts it an hour after
        # creating the BackupRepository) that stays Pending or hangs is seen too. Active counts its pods not yet
        # finished, Pending ones included; Velero's Job never retries (BackoffLimit 0), so a failed pod ends it.
        _alert(
            config, REPO_MAINTENANCE_JOB_STUCK,
            expr=(
                f"time() - kube_job_status_start_time{{{job_sel}}} > {win}\n"
                f"and on (namespace, job_name)\nkube_job_status_active{{{job_sel}}} > 0"
            ),
            for_="15m", severity="warning",
            summary="Kopia repository maintenance Job {{ $labels.job_name }} has been running for over " + win_d + ".",
            description=(
                f"The maintenance Job {{{{ $labels.job_name }}}} in namespace {{{{ $labels.namespace }}}} started more "
                f"than {win_d} ago and has a pod that has not finished (Pending, ImagePullBackOff, a hung kopia). "
                "Velero waits for it without end, and the maintenance of every other repository waits behind it. "
                "See `kubectl -n {{ $labels.namespace }} describe job {{ $labels.job_name }}` and its pod's events."
            ),
        ),
    ]


def _server_alerts(config: Config) -> list[dict[str, Any]]:
    """Velero's own process, from the target our ServiceMonitor scrapes. Prometheus Operator names a
    ServiceMonitor's job after the Service (prometheus-operator/prometheus-operator@v0.93.0:pkg/prometheus/promcfg.go,
    `__meta_kubernetes_service_name` -> job), the chart's `velero.fullname`. Without our ServiceMonitor the job is
    the user's, so these rules are left out."""
    if not config.metrics.service_monitor:
        return []
    sel = f"job={_quote(velero_fullname(config.repo.app))}, namespace={_quote(config.repo.namespace)}"
    summary = "The Velero server in {{ $labels.namespace }} is down."
    consequence = "No backup, restore or maintenance runs while it is down; the schedules' runs are missed."
    return [
        # The pod exists but its container does not answer (crash loop, not ready): the target stays, up is 0.
        _alert(
            config, VELERO_DOWN,
            expr=f"max by (namespace, job) (up{{{sel}}}) == 0",
            for_="15m", severity="critical", extra_labels={"reason": "down"},
            summary=summary,
            description=f"Prometheus cannot scrape Velero ({{{{ $labels.job }}}}) for 15m. {consequence}",
        ),
        # No target at all: the Deployment scaled to 0 or deleted, or Prometheus does not select the ServiceMonitor.
        _alert(
            config, VELERO_DOWN,
            expr=f"absent(up{{{sel}}})",
            for_="15m", severity="critical", extra_labels={"reason": "absent"},
            summary=summary,
            description=(
                "Prometheus has no Velero target for 15m: no Velero pod runs, or the ServiceMonitor is not "
                f"selected by Prometheus. {consequence}"
            ),
        ),
        # A process that lives a minute or two between crashes answers some scrapes, so `up == 0` never lasts
        # 15m; each new process in the same pod shows as a new process_start_time_seconds value.
        _alert(
            config, VELERO_DOWN,
            expr=f"changes({PROCESS_START}{{{sel}}}[1h]) > {RESTARTS_PER_HOUR}",
            for_="0s", severity="critical", extra_labels={"reason": "restarting"},
            summary="The Velero server {{ $labels.pod }} keeps restarting.",
            description=(
                f"Velero pod {{{{ $labels.pod }}}} started more than {RESTARTS_PER_HOUR} times within an hour (crash "
                "loop, OOM kills). Each restart marks the backup in progress Failed."
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
                f"Fewer than {pct} of the backups of Velero schedule {{{{ $labels.schedule }}}} succeeded "
                "over 30 days."
            ),
            description=(
                "The 30-day share of finished backups of schedule {{ $labels.schedule }} that ended Completed "
                f"is below the {pct} objective (velero:backup_success_ratio:30d has the value). Look at the "
                "failed and partially failed backups of the last month for a recurring cause."
            ),
        ),
    ]


def rule_groups(config: Config) -> list[dict[str, Any]]:
    """The PrometheusRule ``spec.groups``: per-schedule, restore, infrastructure and objective rules."""
    schedule_rules: list[dict[str, Any]] = []
    for s in config.schedules:
        schedule_rules.extend(_schedule_alerts(config, s))
    groups = [
        {"name": "velero.schedules", "rules": schedule_rules},
        {"name": "velero.restores", "rules": _restore_alerts(config)},
        {"name": "velero.infrastructure", "rules": _server_alerts(config) + _infrastructure_alerts(config)},
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
