"""The simulation that generates the promtool series behaves as Velero's code does (tests/velero_sim.py).

Each test pins one fact of vmware-tanzu/velero@v1.18.1 the alert rules depend on, on the sampled series
as Prometheus would store them.
"""

from __future__ import annotations

from velero_sim import DAY, HOUR, MINUTE, Schedule, VeleroSim, encode


def _series(sim: VeleroSim, metric: str, **labels: str) -> dict[str, dict[int, float | str]]:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return {name: s for name, s in sim.samples.items() if name.startswith(metric + "{") and all(w in name for w in want)}


def _daily(outcomes: dict[int, str] | None = None, **kw) -> Schedule:
    return Schedule("daily", DAY, 2 * HOUR, 6 * MINUTE, outcomes or {}, **kw)


def test_last_status_is_back_to_1_within_a_minute_of_a_failure():
    """vmware-tanzu/velero@v1.18.1:pkg/controller/schedule_controller.go: every schedule is reconciled each
    scheduleSyncPeriod (1m) and each reconcile calls metrics.InitSchedule, which sets
    velero_backup_last_status to 1."""
    sim = VeleroSim(30 * HOUR, schedules=[_daily({1: "Failed"})]).run()
    (status,) = _series(sim, "velero_backup_last_status", schedule="daily").values()
    zeros = [step for step, v in status.items() if v == 0]
    assert len(zeros) <= 1  # at most one 1m scrape falls between the failure and the next reconcile
    (counter,) = _series(sim, "velero_backup_failure_total", schedule="daily").values()
    assert max(v for v in counter.values() if v != "stale") == 1  # the counter keeps it


def test_a_restart_gives_new_series_at_0_and_the_timestamp_back_within_a_minute():
    """vmware-tanzu/velero@v1.18.1:pkg/cmd/server/server.go: a new process registers fresh collectors;
    InitSchedule creates the counters at 0; backup_controller.go updateTotalBackupMetric rebuilds
    last_successful_timestamp from the Completed Backups 5s after start and every minute."""
    sim = VeleroSim(30 * HOUR, schedules=[_daily()])
    sim.restart(10 * HOUR, down=40)
    sim.run()
    success = _series(sim, "velero_backup_success_total", schedule="daily")
    assert len(success) == 2
    new = next(s for name, s in success.items() if "00002" in name)
    assert new[min(new)] == 0
    old = next(s for name, s in success.items() if "00001" in name)
    assert "stale" in old.values()
    stamps = _series(sim, "velero_backup_last_successful_timestamp", schedule="daily")
    new_stamp = next(s for name, s in stamps.items() if "00002" in name)
    assert min(new_stamp) * sim.scrape <= 10 * HOUR + 40 + 2 * MINUTE
    assert new_stamp[min(new_stamp)] == 2 * HOUR + 6 * MINUTE + 1  # the day-1 success, from the Backup object


def test_a_backup_interrupted_by_a_restart_is_failed_without_a_metric():
    """vmware-tanzu/velero@v1.18.1:pkg/cmd/server/server.go markInProgressBackupsFailed patches the phase and
    touches no metric."""
    sim = VeleroSim(30 * HOUR, schedules=[_daily()])
    sim.restart(26 * HOUR + 3 * MINUTE)
    sim.run()
    assert [b.phase for b in sim.backups] == ["Completed", "Failed"]
    for s in _series(sim, "velero_backup_failure_total", schedule="daily").values():
        assert {v for v in s.values() if v != "stale"} == {0}


def test_paused_schedules_export_nothing_and_deleted_ones_come_back_at_0():
    """vmware-tanzu/velero@v1.18.1:pkg/controller/schedule_controller.go: the predicate drops paused schedules
    (no InitSchedule); a deleted Schedule gets RemoveSchedule, a re-created one InitSchedule again."""
    paused = Schedule("weekly", 7 * DAY, 0, MINUTE, paused=True)
    sim = VeleroSim(30 * HOUR, schedules=[_daily(), paused])
    sim.delete_schedule("daily", 10 * HOUR, recreate_after=5 * MINUTE)
    sim.run()
    assert not [n for n in sim.samples if 'schedule="weekly"' in n]
    (success,) = _series(sim, "velero_backup_success_total", schedule="daily").values()
    assert success[10 * 60 + 1] == "stale"
    assert success[10 * 60 + 6] == 0 and success[10 * 60 - 1] == 1


def test_maintenance_counters_appear_with_their_first_increment():
    """vmware-tanzu/velero@v1.18.1:pkg/controller/backup_repository_controller.go runMaintenanceIfDue:
    RegisterRepoMaintenanceFailure/Success on a result; nothing initialises the counters, so after a restart
    they first appear at 1."""
    sim = VeleroSim(6 * HOUR, schedules=[])
    sim.maintenance_job(HOUR, "r", "failure")
    sim.restart(2 * HOUR)
    sim.maintenance_job(3 * HOUR, "r", "failure")
    sim.run()
    firsts = [s[min(s)] for s in _series(sim, "velero_repo_maintenance_failure_total").values()]
    assert firsts == [1, 1]


def test_one_backup_at_a_time():
    """vmware-tanzu/velero@v1.18.1:pkg/cmd/server/config/config.go DefaultConcurrentBackups = 1: a due hourly run
    waits for the daily."""
    hourly = Schedule("hourly", HOUR, 0, 2 * MINUTE)
    sim = VeleroSim(3 * HOUR, schedules=[_daily(), hourly]).run()
    daily_done = next(b.completed_at for b in sim.backups if b.schedule == "daily")
    hourly_2h = next(b.completed_at for b in sim.backups if b.schedule == "hourly" and b.index == 2)
    assert daily_done == 2 * HOUR + 6 * MINUTE + 1 and hourly_2h == daily_done + 2 * MINUTE


def test_encode_uses_promtool_notation():
    assert encode([None, None, 1.0, 1.0, 1.0, "stale", None]) == "_x2 1x2 stale"
    assert encode([2592360.0, 0.5]) == "2592360 0.5"
