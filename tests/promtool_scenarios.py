"""The promtool unit tests of our alert rules, generated from simulated Velero runs (tests/velero_sim.py).

Each scenario runs the model of vmware-tanzu/velero@v1.18.1 (schedules firing at their cron, the
per-minute ``InitSchedule`` that resets ``velero_backup_last_status``, counters that restart with the
process, schedules deleted and recreated, maintenance jobs, partial failures) and states what must fire
and what must stay quiet, at which time. ``build()`` writes them as tests/promtool/velero_test.yaml
(main scenarios, 1m scrape, 2m evaluation) and tests/promtool/velero_30d_test.yaml (the 30-day
objective, 5m scrape, 1h evaluation: promtool evaluates every step from 0). Regenerate with
``UPDATE_GOLDEN=1 pytest tests/observability/test_alerts.py``.
"""

from __future__ import annotations

import re
from typing import Any

from velero_sim import DAY, HOUR, MINUTE, Schedule, VeleroSim

from promtool_util import make_config

M = MINUTE
H = HOUR
DAILY_OFFSET = 2 * H          # "0 2 * * *"
REPO = "database-default-kopia-x7k2p"
# The target labels of the first simulated Velero pod (series that keep them, like the BSL gauge).
FIRST_POD = {"job": "velero", "namespace": "velero", "pod": "velero-7d9f-00001", "instance": "10.42.0.1:8085"}


def t(seconds: int) -> str:
    """A promtool duration: 26h8m."""
    h, rest = divmod(seconds, H)
    m, s = divmod(rest, M)
    return (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "") or "0s"


def schedules(daily: dict[int, str] | None = None, hourly: dict[int, str] | None = None,
              daily_hang: int | None = None, hourly_hang: int | None = None) -> list[Schedule]:
    """TEST_CONFIG's schedules: daily at 02:00 (a run takes 6m), hourly (2m), weekly-paused."""
    return [
        Schedule("daily", DAY, DAILY_OFFSET, 6 * M, daily or {}, daily_hang),
        Schedule("hourly", H, 0, 2 * M, hourly or {}, hourly_hang),
        Schedule("weekly-paused", 7 * DAY, 3 * H, 10 * M, paused=True),
    ]


def _rules() -> list[dict[str, Any]]:
    from velero_gitops.observability.alerts import rule_groups

    return [r for g in rule_groups(make_config()) for r in g["rules"] if "alert" in r]


def _render(template: str, labels: dict[str, str]) -> str:
    """The alert's annotation as Prometheus expands it, for annotations that use only ``$labels``; a label the
    alert does not have expands to "" (Prometheus executes templates with ``missingkey=zero``)."""
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)


def fires(at: int, alert: str, *label_sets: dict[str, str]) -> dict[str, Any]:
    """An alert_rule_test expecting exactly these alerts; annotations rendered from the rule's text."""
    exp = []
    for labels in label_sets:
        (rule,) = [r for r in _rules() if r["alert"] == alert
                   and all(labels.get(k) == v for k, v in r["labels"].items() if k != "severity")]
        all_labels = {**labels, **rule["labels"]}
        ann = {k: _render(v, all_labels) for k, v in rule["annotations"].items()}
        exp.append({"exp_labels": all_labels, "exp_annotations": ann})
    return {"eval_time": t(at), "alertname": alert, "exp_alerts": exp}


def quiet(at: int, alert: str) -> dict[str, Any]:
    return {"eval_time": t(at), "alertname": alert}


def case(name: str, sim: VeleroSim, checks: list[dict[str, Any]], exprs: list[dict[str, Any]] | None = None,
         extra: list[dict[str, str]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name, "interval": t(sim.scrape), "input_series": sim.run().input_series() + (extra or []),
        "alert_rule_test": checks,
    }
    if exprs:
        out["promql_expr_test"] = exprs
    return out


ALL = ("VeleroBackupFailed", "VeleroBackupFailedValidation", "VeleroBackupPartialFailures", "VeleroNoNewBackup",
       "VeleroBackupStorageLocationUnavailable", "VeleroRepoMaintenanceFailing", "VeleroDown",
       "VeleroNodeAgentMissing", "VeleroRepoMaintenanceStuck", "VeleroRepoMaintenanceJobStuck", "VeleroRestoreFailed")
KSM = 'job="kube-state-metrics"'
NODE_AGENT = f'namespace="velero", daemonset="node-agent", {KSM}'
NODE_AGENT_LABELS = {"namespace": "velero", "daemonset": "node-agent"}
# another DaemonSet kube-state-metrics reports (kube-prometheus-stack's node-exporter): kube-state-metrics runs
OTHER_DAEMONSET = f'kube_daemonset_status_desired_number_scheduled{{namespace="monitoring", daemonset="node-exporter", {KSM}}}'



def _healthy() -> dict[str, Any]:
    sim = VeleroSim(42 * H, schedules=schedules())
    sim.restart(30 * H + 10 * M, new_pod=True)          # rollout: new pod, new series at 0
    sim.restart(40 * H + 30 * M, new_pod=False)         # OOM kill: same series, counters reset to 0
    sim.delete_schedule("daily", 20 * H, recreate_after=5 * M)  # Flux re-creates it: RemoveSchedule, then 0
    for k in range(42):
        sim.maintenance_job(k * H + 30 * M, REPO, "success")
    checks = [quiet(at, a) for at in (20 * H + 10 * M, 30 * H + 20 * M, 40 * H + 40 * M, 41 * H + 50 * M) for a in ALL]
    # No kube-state-metrics series at all here: VeleroNodeAgentMissing does not take that for a missing DaemonSet.
    return case("every run succeeds across a rollout, an OOM restart and a re-created schedule: nothing fires",
                sim, checks)


def _velero_down() -> list[dict[str, Any]]:
    """Velero's own process: a container that never answers (the pod stays, up 0), one that crash-loops but answers
    between crashes (up is 1 at some scrapes, so only the restarts show it), and a Deployment scaled to 0."""
    down = {"job": "velero", "namespace": "velero"}
    never = VeleroSim(12 * H, schedules=schedules())
    never.crash_loop(10 * H, 12 * H, alive=0)
    looping = VeleroSim(16 * H, schedules=schedules())
    looping.crash_loop(10 * H, 14 * H, alive=2 * M)
    gone = VeleroSim(12 * H, schedules=schedules())
    gone.scale_to_zero(10 * H)
    pod = {"job": "velero", "namespace": "velero", "pod": FIRST_POD["pod"], "instance": FIRST_POD["instance"]}
    return [
        case("Velero's container crashes at start from 10h (never scraped again): VeleroDown down after 15m", never,
             [quiet(10 * H + 10 * M, "VeleroDown"), fires(10 * H + 20 * M, "VeleroDown", {**down, "reason": "down"}),
              fires(11 * H + 50 * M, "VeleroDown", {**down, "reason": "down"})]),
        case("Velero crash-loops from 10h, up 2m between crashes: VeleroDown restarting, never 15m down; quiet 1h "
             "after it recovers", looping,
             [quiet(9 * H + 58 * M, "VeleroDown"),
              fires(10 * H + 30 * M, "VeleroDown", {**pod, "reason": "restarting"}),
              fires(13 * H + 30 * M, "VeleroDown", {**pod, "reason": "restarting"}),
              quiet(15 * H + 10 * M, "VeleroDown")]),
        case("the Velero Deployment is scaled to 0 at 10h: VeleroDown absent after 15m", gone,
             [quiet(10 * H + 10 * M, "VeleroDown"), fires(10 * H + 20 * M, "VeleroDown", {**down, "reason": "absent"})]),
    ]


def _node_agent_missing() -> list[dict[str, Any]]:
    """The node-agent DaemonSet deleted at 5h (kube-state-metrics stops exposing its series), or its desired count 0
    from 3h (a nodeSelector no node matches): VeleroNodeAgentNotReady sees neither (3 - 3 before, nothing or 0 - 0
    after)."""
    deleted = VeleroSim(7 * H, schedules=schedules())
    deleted.series_extra(OTHER_DAEMONSET, [(0, 3)])
    for metric in ("desired_number_scheduled", "number_ready"):
        deleted.series_extra(f"kube_daemonset_status_{metric}{{{NODE_AGENT}}}", [(0, 3), (5 * H, None)])
    unscheduled = VeleroSim(5 * H, schedules=schedules())
    unscheduled.series_extra(OTHER_DAEMONSET, [(0, 3)])
    for metric in ("desired_number_scheduled", "number_ready"):
        unscheduled.series_extra(f"kube_daemonset_status_{metric}{{{NODE_AGENT}}}", [(0, 3), (3 * H, 0)])
    return [
        case("the node-agent DaemonSet is deleted at 5h: VeleroNodeAgentMissing absent after 15m", deleted,
             [quiet(4 * H, "VeleroNodeAgentMissing"), quiet(5 * H + 10 * M, "VeleroNodeAgentMissing"),
              fires(5 * H + 26 * M, "VeleroNodeAgentMissing", {**NODE_AGENT_LABELS, "reason": "absent"}),
              quiet(5 * H + 26 * M, "VeleroNodeAgentNotReady")]),
        case("node-agent is scheduled on no node from 3h: VeleroNodeAgentMissing unscheduled after 15m", unscheduled,
             [quiet(3 * H + 10 * M, "VeleroNodeAgentMissing"),
              fires(3 * H + 20 * M, "VeleroNodeAgentMissing",
                    {**NODE_AGENT_LABELS, "job": "kube-state-metrics", "reason": "unscheduled"}),
              quiet(3 * H + 20 * M, "VeleroNodeAgentNotReady")]),
    ]


def _maintenance_stuck() -> dict[str, Any]:
    # Hourly maintenance succeeds until 9h30m; the 10h30m job never ends (Velero waits for it, no counter moves).
    # Velero is replaced at 20h: the new process has no maintenance series at all, the old ones went stale.
    sim = VeleroSim(36 * H, schedules=schedules())
    for k in range(10):
        sim.maintenance_job(k * H + 30 * M, REPO, "success")
    sim.restart(20 * H)
    return case(
        "a maintenance job never ends after 9h30m, Velero replaced at 20h: VeleroRepoMaintenanceStuck a day after "
        "the last result",
        sim,
        [quiet(20 * H + 30 * M, "VeleroRepoMaintenanceStuck"),
         quiet(33 * H + 30 * M, "VeleroRepoMaintenanceStuck"),   # 9h31m sample still inside the 24h window
         fires(33 * H + 50 * M, "VeleroRepoMaintenanceStuck", {"repository_name": REPO}),
         quiet(33 * H + 50 * M, "VeleroRepoMaintenanceFailing")],
    )


def _maintenance_job_pending() -> dict[str, Any]:
    """A fresh install: the first maintenance Job of a new repository (Velero starts it an hour after creating the
    BackupRepository, vmware-tanzu/velero@v1.18.1:pkg/controller/backup_repository_controller.go) stays Pending.
    No maintenance counter ever exists, so only the Job's own kube-state-metrics series
    (kubernetes/kube-state-metrics@v2.17.0:internal/store/job.go) show it; a Job that ends in 20m stays quiet."""
    sim = VeleroSim(9 * H, schedules=schedules())
    stuck = f'namespace="velero", job_name="{REPO}-maintain-job-1764550800000", {KSM}'
    done = f'namespace="velero", job_name="repo-maintain-job-1764550800001", {KSM}'  # the >63-character form
    for job, ends in ((stuck, None), (done, H + 20 * M)):
        sim.series_extra(f"kube_job_status_start_time{{{job}}}", [(H, H)])
        sim.series_extra(f"kube_job_status_active{{{job}}}", [(H, 1)] + ([(ends, 0)] if ends else []))
    labels = {"namespace": "velero", "job_name": f"{REPO}-maintain-job-1764550800000", "job": "kube-state-metrics"}
    return case(
        "the first maintenance Job of a new repository stays Pending from 1h: VeleroRepoMaintenanceJobStuck after "
        "6h + 15m; the counter-based rule has nothing to see",
        sim,
        [quiet(7 * H, "VeleroRepoMaintenanceJobStuck"),
         fires(7 * H + 20 * M, "VeleroRepoMaintenanceJobStuck", labels),
         quiet(7 * H + 20 * M, "VeleroRepoMaintenanceStuck")],
    )


def _daily_fails() -> dict[str, Any]:
    # Run index 1 is day 2 at 02:00 (26h); it ends Failed at 26h06m01s.
    sim = VeleroSim(51 * H, schedules=schedules(daily={1: "Failed"}))
    daily = {"schedule": "daily"}
    return case(
        "the daily backup fails: VeleroBackupFailed fires at the next scrape although last_status is back to 1",
        sim,
        [
            quiet(26 * H + 6 * M, "VeleroBackupFailed"),
            fires(26 * H + 8 * M, "VeleroBackupFailed", daily),
            fires(49 * H, "VeleroBackupFailed", daily),
            quiet(50 * H + 10 * M, "VeleroBackupFailed"),    # the 50h run succeeded, 24h window passed
            quiet(27 * H + 6 * M, "VeleroNoNewBackup"),      # last success 02:06:01 day 1 + 25h
            fires(27 * H + 8 * M, "VeleroNoNewBackup", {"schedule": "daily", "reason": "stale"}),
            quiet(50 * H + 10 * M, "VeleroNoNewBackup"),
        ],
        exprs=[{
            # What the old rule read: InitSchedule set it back to 1 within the minute.
            "expr": 'min by (schedule) (velero_backup_last_status{schedule="daily"})',
            "eval_time": t(26 * H + 8 * M),
            "exp_samples": [{"labels": '{schedule="daily"}', "value": 1}],
        }],
    )


def _fails_before_first_scrape() -> dict[str, Any]:
    # Velero is replaced at 25h59m30s; the due 26h run is created by the new process at 26h00m41s and
    # fails 10s later, before its first scrape at 26h01m: the counter series appears already at 1.
    sim = VeleroSim(30 * H, schedules=[
        Schedule("daily", DAY, DAILY_OFFSET, 6 * M),
        Schedule("hourly", H, 0, 2 * M),
    ])
    sim.schedules["daily"].duration = 10
    sim.schedules["daily"].outcomes = {1: "Failed"}
    sim.restart(25 * H + 59 * M + 30, down=70)
    new_pod = 'instance="10.42.0.2:8085", job="velero", namespace="velero", pod="velero-7d9f-00002"'
    return case(
        "a backup fails before the first scrape of a new Velero pod: its counter appears at 1 and still fires",
        sim,
        [
            quiet(26 * H, "VeleroBackupFailed"),
            fires(26 * H + 2 * M, "VeleroBackupFailed", {"schedule": "daily"}),
            fires(29 * H, "VeleroBackupFailed", {"schedule": "daily"}),
        ],
        exprs=[{
            # increase() alone sees nothing: the only samples of the new series are 1.
            "expr": 'increase(velero_backup_failure_total{schedule="daily", pod="velero-7d9f-00002"}[1h])',
            "eval_time": t(26 * H + 30 * M),
            "exp_samples": [{"labels": '{schedule="daily", ' + new_pod + "}", "value": 0}],
        }],
    )


def _failure_then_restart(scraped: bool) -> dict[str, Any]:
    # Failed at 26h06m01s; the pod is replaced at 26h07m30s (after the 26h07m scrape saw the failure)
    # or at 26h06m30s (before any scrape saw it).
    sim = VeleroSim(30 * H, schedules=schedules(daily={1: "Failed"}))
    sim.restart(26 * H + (7 * M + 30 if scraped else 6 * M + 30))
    if scraped:
        return case("a failure scraped once before a restart is not lost: the old series keeps the increase", sim,
                    [fires(at, "VeleroBackupFailed", {"schedule": "daily"}) for at in (26 * H + 30 * M, 29 * H)])
    return case(
        "a failure no scrape saw is lost to VeleroBackupFailed (documented); VeleroNoNewBackup still fires", sim,
        [quiet(26 * H + 30 * M, "VeleroBackupFailed"),
         fires(27 * H + 8 * M, "VeleroNoNewBackup", {"schedule": "daily", "reason": "stale"})],
    )


def _recreated_then_fails() -> dict[str, Any]:
    # Flux re-creates the hourly Schedule at 3h (RemoveSchedule, then InitSchedule at 0 in the same series);
    # its run at 5h fails.
    sim = VeleroSim(7 * H, schedules=schedules(hourly={5: "Failed"}))
    sim.delete_schedule("hourly", 3 * H + 10 * M, recreate_after=5 * M)
    return case(
        "a schedule deleted and re-created: its counters restart at 0 quietly, its next failure fires",
        sim,
        [quiet(3 * H + 20 * M, "VeleroBackupFailed"),
         quiet(5 * H, "VeleroBackupFailed"),
         fires(5 * H + 4 * M, "VeleroBackupFailed", {"schedule": "hourly"})],
    )


def _skipped_volume_warnings() -> dict[str, Any]:
    # Hourly run 4 (4h) backs up a pod with a hostPath volume: the node-agent cannot read it, the backupper logs
    # a warning and skips it (vmware-tanzu/velero@v1.18.1:pkg/podvolume/backupper.go isHostPathVolume), the backup
    # ends Completed with status.warnings 1, and recordBackupMetrics counts velero_backup_warning_total.
    sched = schedules()
    sched[1].warned = frozenset({4})
    sim = VeleroSim(6 * H, schedules=sched)
    hourly = {"schedule": "hourly"}
    return case(
        "an hourly backup skipped a hostPath volume: Completed, with a warning; the alert for one interval",
        sim,
        [
            quiet(4 * H, "VeleroBackupWarnings"),
            fires(4 * H + 4 * M, "VeleroBackupWarnings", hourly),
            quiet(5 * H + 4 * M, "VeleroBackupWarnings"),
            quiet(4 * H + 4 * M, "VeleroBackupPartialFailures"),
            quiet(4 * H + 4 * M, "VeleroBackupFailed"),
        ],
    )


def _partial_and_validation() -> dict[str, Any]:
    # Hourly run 5 (5h) PartiallyFailed; hourly runs 8-10 FailedValidation (e.g. the BSL set ReadOnly).
    sim = VeleroSim(14 * H, schedules=schedules(hourly={5: "PartiallyFailed", 8: "FailedValidation",
                                                         9: "FailedValidation", 10: "FailedValidation"}))
    hourly = {"schedule": "hourly"}
    return case(
        "an hourly backup partially failed, later runs failed validation: each alert for one interval",
        sim,
        [
            quiet(5 * H, "VeleroBackupPartialFailures"),
            fires(5 * H + 4 * M, "VeleroBackupPartialFailures", hourly),
            quiet(6 * H + 4 * M, "VeleroBackupPartialFailures"),
            quiet(5 * H + 4 * M, "VeleroBackupFailed"),
            quiet(7 * H + 30 * M, "VeleroBackupFailedValidation"),
            fires(8 * H + 2 * M, "VeleroBackupFailedValidation", hourly),
            fires(10 * H + 30 * M, "VeleroBackupFailedValidation", hourly),
            quiet(11 * H + 6 * M, "VeleroBackupFailedValidation"),
            fires(10 * H + 6 * M, "VeleroNoNewBackup", {"schedule": "hourly", "reason": "stale"}),
        ],
    )


def _stuck_and_absent() -> dict[str, Any]:
    # The daily run of day 2 (26h) hangs InProgress. Velero runs one backup at a time (--concurrent-backups
    # default 1, pkg/cmd/server/config/config.go), so the hourly runs queue behind it as well.
    stuck = VeleroSim(30 * H, schedules=schedules(daily_hang=1))
    return case(
        "a daily backup stuck InProgress blocks every schedule: missed hourly run fires 2h after its last"
        " success, missed daily run after 24h + 1h margin",
        stuck,
        [quiet(27 * H, "VeleroNoNewBackup"),                      # hourly: last success 25h02m01s
         fires(27 * H + 6 * M, "VeleroNoNewBackup", {"schedule": "hourly", "reason": "stale"}),
         fires(27 * H + 8 * M, "VeleroNoNewBackup", {"schedule": "daily", "reason": "stale"},
               {"schedule": "hourly", "reason": "stale"}),
         quiet(27 * H + 8 * M, "VeleroBackupFailed")],
    )


def _fresh_install_never_succeeds() -> dict[str, Any]:
    sim = VeleroSim(4 * H, schedules=schedules(hourly={k: "Failed" for k in range(5)}))
    return case(
        "a fresh install whose hourly runs all fail: missed hourly run fires (absent) after 1h + 1h margin",
        sim,
        [quiet(H + 58 * M, "VeleroNoNewBackup"),
         fires(2 * H + 2 * M, "VeleroNoNewBackup", {"schedule": "hourly", "reason": "absent"}),
         fires(2 * H + 2 * M, "VeleroBackupFailed", {"schedule": "hourly"})],
    )


def _maintenance(recovers: bool) -> dict[str, Any]:
    # Maintenance hourly at :30. From 10h it fails, and Velero is replaced every hour at :20, so each
    # process sees exactly one failure: every failure series appears already at 1.
    sim = VeleroSim(17 * H, schedules=schedules())
    for k in range(17):
        ok = k < 10 or (recovers and k >= 12)
        sim.maintenance_job(k * H + 30 * M, REPO, "success" if ok else "failure")
    for k in range(10, 17):
        sim.restart(k * H + 20 * M)
    repo = {"repository_name": REPO}
    if recovers:
        return case("repository maintenance fails twice after restarts, then succeeds again: quiet", sim,
                    [quiet(at, "VeleroRepoMaintenanceFailing") for at in (11 * H, 15 * H + 50 * M, 16 * H + 30 * M)])
    return case(
        "repository maintenance fails at the first job after each restart: fires 6h after the last success",
        sim,
        [quiet(15 * H + 40 * M, "VeleroRepoMaintenanceFailing"),   # 9h30m success still in the 6h window
         fires(15 * H + 50 * M, "VeleroRepoMaintenanceFailing", repo)],
    )


def _bsl() -> dict[str, Any]:
    sim = VeleroSim(27 * H, schedules=schedules())
    sim.bsl_unavailable(5 * H, 5 * H + 10 * M)
    sim.bsl_unavailable(25 * H, 25 * H + 40 * M)
    bsl = {"backup_location_name": "default", **FIRST_POD}
    return case(
        "the storage location is unavailable 10m (quiet) and 40m (fires after 15m)",
        sim,
        [quiet(5 * H + 12 * M, "VeleroBackupStorageLocationUnavailable"),
         quiet(25 * H + 10 * M, "VeleroBackupStorageLocationUnavailable"),
         {**fires(25 * H + 20 * M, "VeleroBackupStorageLocationUnavailable", bsl)}],
    )


def _node_agent() -> dict[str, Any]:
    sim = VeleroSim(22 * H, schedules=schedules())
    ds = 'namespace="velero", daemonset="node-agent", job="kube-state-metrics"'
    sim.series_extra(f"kube_daemonset_status_desired_number_scheduled{{{ds}}}", [(0, 3)])
    # A rolling update takes one pod away for 5m; later a node's pod crash-loops for an hour.
    sim.series_extra(f"kube_daemonset_status_number_ready{{{ds}}}",
                     [(0, 3), (10 * H, 2), (10 * H + 5 * M, 3), (20 * H, 2), (21 * H, 3)])
    labels = {"namespace": "velero", "daemonset": "node-agent", "job": "kube-state-metrics"}
    return case(
        "node-agent: a 5m rollout stays quiet, a pod not ready for an hour fires after 15m",
        sim,
        [quiet(10 * H + 10 * M, "VeleroNodeAgentNotReady"),
         quiet(20 * H + 10 * M, "VeleroNodeAgentNotReady"),
         fires(20 * H + 20 * M, "VeleroNodeAgentNotReady", labels),
         quiet(21 * H + 20 * M, "VeleroNodeAgentNotReady"),
         *(quiet(at, "VeleroNodeAgentMissing") for at in (10 * H + 10 * M, 20 * H + 20 * M))],
    )


RESTORE = "VeleroRestoreFailed"


def _restores() -> dict[str, Any]:
    """Restores as vmware-tanzu/velero@v1.18.1 counts them (pkg/controller/restore_controller.go Reconcile,
    pkg/controller/restore_finalizer_controller.go finishProcessing), labelled with the schedule of the backup
    restored: one Completed (quiet), one PartiallyFailed, one Failed of a manual backup (schedule "", which
    InitSchedule("") creates at start), one FailedValidation. Each fires at the next scrape and stays a day."""
    sim = VeleroSim(29 * H, schedules=schedules())
    sim.restore(H, "daily", "Completed")
    sim.restore(2 * H, "daily", "PartiallyFailed")
    sim.restore(3 * H, "", "Failed")
    sim.restore(4 * H, "hourly", "FailedValidation")
    partial = {"schedule": "daily", "reason": "partially-failed"}
    failed = {"reason": "failed"}  # count by (schedule) of schedule="" has no schedule label
    invalid = {"schedule": "hourly", "reason": "failed-validation"}
    return case(
        "a restore completes (quiet), then restores partially fail, fail and fail validation: VeleroRestoreFailed "
        "for each at the next scrape, for a day",
        sim,
        [quiet(H + 10 * M, RESTORE),
         quiet(2 * H + 4 * M, RESTORE),
         fires(2 * H + 6 * M, RESTORE, partial),
         fires(3 * H + 6 * M, RESTORE, partial, failed),
         fires(4 * H + 2 * M, RESTORE, partial, failed, invalid),
         fires(26 * H + 8 * M, RESTORE, failed, invalid),
         quiet(28 * H + 2 * M, RESTORE),
         *(quiet(4 * H + 2 * M, a) for a in ALL if a != RESTORE)],
    )


def _restore_on_a_new_cluster() -> dict[str, Any]:
    """Disaster recovery: Velero runs alone, no Schedule exists (velero-schedules suspended), so InitSchedule never
    created the counters of "daily": the restore's first increment creates them already at 1
    (pkg/metrics/metrics.go RegisterRestorePartialFailure, WithLabelValues(...).Inc()). A second restore is in
    progress when Velero is replaced: markInProgressRestoresFailed (pkg/cmd/server/server.go) marks it Failed
    without a metric, and nothing fires for it (documented)."""
    sim = VeleroSim(8 * H, schedules=[])
    sim.restore(H, "daily", "PartiallyFailed", duration=30 * M)
    sim.restore(5 * H, "weekly", "Failed", duration=30 * M)
    sim.restart(5 * H + 10 * M)
    partial = {"schedule": "daily", "reason": "partially-failed"}
    return case(
        "a restore on a new cluster without Schedules partially fails: its counter appears at 1 and still fires",
        sim,
        [quiet(H + 30 * M, RESTORE),
         fires(H + 32 * M, RESTORE, partial),
         fires(5 * H + 2 * M, RESTORE, partial),
         quiet(6 * H, RESTORE)],   # the new pod counted nothing, the old pod's series are stale
        exprs=[{
            "expr": 'increase(velero_restore_partial_failure_total{schedule="daily"}[1h])',
            "eval_time": t(2 * H),
            "exp_samples": [{"labels": '{schedule="daily", ' + _pod_labels(FIRST_POD) + "}", "value": 0}],
        }],
    )


def _pod_labels(pod: dict[str, str]) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in sorted(pod.items()))


def main_tests() -> list[dict[str, Any]]:
    return [
        _healthy(), _daily_fails(), _fails_before_first_scrape(), _failure_then_restart(True), _failure_then_restart(False),
        _recreated_then_fails(), _partial_and_validation(), _skipped_volume_warnings(), _stuck_and_absent(), _fresh_install_never_succeeds(),
        _maintenance(False), _maintenance(True), _bsl(), _node_agent(), *_velero_down(), *_node_agent_missing(),
        _maintenance_stuck(), _maintenance_job_pending(), _restores(), _restore_on_a_new_cluster(),
    ]


def _objective(failed_days: list[int], name: str) -> dict[str, Any]:
    # 31 days, 5m scrape; Velero replaced on days 7 and 19, OOM-restarted on day 13.
    sim = VeleroSim(31 * DAY, scrape=5 * M, schedules=schedules(daily={d: "Failed" for d in failed_days}))
    sim.restart(7 * DAY + 5 * H)
    sim.restart(13 * DAY + 9 * H, new_pod=False)
    sim.restart(19 * DAY + 11 * H)
    at = 30 * DAY + 4 * H  # the window holds the daily runs of days 1..30
    if len(failed_days) >= 2:
        checks = [fires(at, "VeleroBackupSuccessRatioLow", {"schedule": "daily"})]
    else:
        checks = [quiet(at, "VeleroBackupSuccessRatioLow")]
    return case(name, sim, checks)


def _paused(ran_first: bool) -> dict[str, Any]:
    """A schedule paused in the config keeps its VeleroNoNewBackup rules (vmware-tanzu/velero@v1.18.1:
    pkg/controller/schedule_controller.go drops a paused Schedule in its predicate and exports nothing about it;
    backup_controller.go updateTotalBackupMetric keeps the last-success timestamp from its Backups), so a pause
    that is never undone fires after the weekly interval plus the margin (169h)."""
    sched = schedules()
    if ran_first:  # weekly-paused runs at 3h (done 3h10m01s), is paused on day 1 and never unpaused
        sched[2] = Schedule("weekly-paused", 7 * DAY, 3 * H, 10 * M)
    sim = VeleroSim(8 * DAY, scrape=5 * M, schedules=sched)
    if ran_first:
        sim.pause("weekly-paused", DAY)
        sim.restart(3 * DAY)  # a new pod: the timestamp is rebuilt from the Backups, not lost
        return case("a schedule paused after its first backup and never unpaused: VeleroNoNewBackup stale 169h "
                    "after that backup", sim,
                    [quiet(172 * H, "VeleroNoNewBackup"),
                     fires(173 * H, "VeleroNoNewBackup", {"schedule": "weekly-paused", "reason": "stale"})])
    return case("a schedule paused in the config from the start: VeleroNoNewBackup absent after 169h", sim,
                [quiet(168 * H, "VeleroNoNewBackup"),
                 fires(170 * H, "VeleroNoNewBackup", {"schedule": "weekly-paused", "reason": "absent"})])


def objective_tests() -> list[dict[str, Any]]:
    """The long scenarios (5m scrape, 1h evaluation): the 30-day objective, and paused weekly schedules."""
    return [
        _objective([3, 17], "two of 30 daily runs failed across restarts: 93% is below the 95% objective"),
        _objective([17], "one of 30 daily runs failed across restarts: 96.7% is above the objective"),
        _paused(ran_first=True), _paused(ran_first=False),
    ]


HEADER = (
    "# Generated by tests/promtool_scenarios.py from simulated Velero runs (tests/velero_sim.py).\n"
    "# Regenerate: UPDATE_GOLDEN=1 pytest tests/observability/test_alerts.py\n"
)


def document(tests: list[dict[str, Any]], evaluation_interval: str) -> dict[str, Any]:
    return {"rule_files": ["rules.yaml"], "evaluation_interval": evaluation_interval, "tests": tests}


def files() -> dict[str, dict[str, Any]]:
    """File name (under tests/promtool) -> promtool test document."""
    return {
        # Every 2m (Prometheus: 1m by default) keeps promtool's replay of ~350 scenario hours cheap;
        # check times are whole even minutes.
        "velero_test.yaml": document(main_tests(), "2m"),
        "velero_30d_test.yaml": document(objective_tests(), "1h"),
    }


def dump(doc: dict[str, Any]) -> str:
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 1 << 20
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return HEADER + buf.getvalue()
