"""Velero's metrics as its code produces them, sampled like a Prometheus scrape: input for promtool tests.

A small discrete-event model of what vmware-tanzu/velero@v1.18.1 does to its /metrics, and nothing else:

* server start (pkg/cmd/server/server.go): new registry (every series gone, counters at 0 again),
  ``InitSchedule("")``, ``markInProgressBackupsFailed`` (a backup InProgress at the restart becomes
  Failed *without* any metric), ``process_start_time_seconds`` of the new process;
* schedule controller (pkg/controller/schedule_controller.go): every schedule, paused ones excepted,
  is reconciled every ``scheduleSyncPeriod`` (1m); each reconcile calls ``InitSchedule`` (counters
  created at 0, ``velero_backup_last_status`` set to 1) and, when the cron is due and no backup of the
  schedule is New or InProgress, creates a Backup; a deleted Schedule gets ``RemoveSchedule``;
* backup controller / finalizer (backup_controller.go, backup_finalizer_controller.go): at the end of
  a run one outcome counter is incremented and ``last_status`` set (1 Completed, else 0); a success
  sets ``velero_backup_last_successful_timestamp``; FailedValidation ends at once and counts no attempt;
* ``updateTotalBackupMetric`` (backup_controller.go, ``backupResyncPeriod`` 1m, first after 5s):
  ``last_successful_timestamp`` recomputed from the Completed Backup objects, which outlive restarts;
* BSL controller (backup_storage_location_controller.go): ``velero_backup_location_status_gauge`` set
  at each validation (1m);
* restore controller / finalizer (restore_controller.go Reconcile, restore_finalizer_controller.go
  finishProcessing): ``velero_restore_attempt_total`` +1 when a Restore is taken up, then one outcome counter,
  labelled with the schedule of the backup it restores (``""`` for a manual backup): FailedValidation at once,
  Failed when the run returns an error, Completed or PartiallyFailed when the finalizer ends it; ``InitSchedule``
  creates them at 0 like the backup counters, and a restore InProgress at a restart is marked Failed without a
  metric (server.go ``markInProgressRestoresFailed``);
* repository maintenance (backup_repository_controller.go runMaintenanceIfDue): a counter per result,
  created by its first increment (no initialisation), hourly for kopia; a job that never ends moves nothing
  (pkg/repository/maintenance/maintenance.go waitForJobComplete polls it until the context ends).

The scrape target is the pod (prometheus-operator@v0.93.0:pkg/prometheus/promcfg.go, a ServiceMonitor's job is
the Service name): ``up`` is 1 while the process answers, 0 while the pod stays but its container is down (a
crash, CrashLoopBackOff), and the target is gone with the pod (a new pod in a rollout, a Deployment at 0).

Scraping follows Prometheus: one sample per series per scrape; a series that disappears (process gone
or series deleted) gets a staleness marker at the next scrape, then nothing.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MINUTE = 60
HOUR = 3600
DAY = 86400

# CrashLoopBackOff: the kubelet waits 10s after the first crash, doubling up to 5m
# (kubernetes/kubernetes pkg/kubelet/kubelet.go backOffPeriod, MaxContainerBackOff).
CRASH_BACKOFF, CRASH_BACKOFF_MAX = 10, 300
SYNC_PERIOD = MINUTE        # scheduleSyncPeriod, backupResyncPeriod, BSL validation frequency
RESYNC_DELAY = 5            # updateTotalBackupMetric sleeps 5s before its first run
OUTCOMES = {
    "Completed": "velero_backup_success_total",
    "PartiallyFailed": "velero_backup_partial_failure_total",
    "Failed": "velero_backup_failure_total",
    "FailedValidation": "velero_backup_validation_failure_total",
}
# counted per backup that ends with warnings in its log (backup_controller.go recordBackupMetrics)
WARNINGS = "velero_backup_warning_total"
RESTORE_OUTCOMES = {
    "Completed": "velero_restore_success_total",
    "PartiallyFailed": "velero_restore_partial_failure_total",
    "Failed": "velero_restore_failed_total",
    "FailedValidation": "velero_restore_validation_failed_total",
}
SCHEDULE_COUNTERS = (  # InitSchedule: created at 0 (the backup and restore ones the rules read)
    "velero_backup_attempt_total", *OUTCOMES.values(), WARNINGS,
    "velero_restore_attempt_total", *RESTORE_OUTCOMES.values(),
)


@dataclass
class Schedule:
    name: str
    period: int                 # seconds between runs
    offset: int                 # first run (seconds after 0)
    duration: int               # how long a run takes
    outcomes: dict[int, str] = field(default_factory=dict)  # run index -> phase (default Completed)
    hang_from: int | None = None  # runs from this index on never finish (stuck InProgress)
    paused: bool = False
    warned: frozenset[int] = frozenset()  # runs whose log has warnings (a skipped hostPath volume)


@dataclass
class Backup:
    schedule: str
    index: int
    phase: str = "New"
    completed_at: int | None = None


class VeleroSim:
    """One cluster: schedules, Backup objects, the Velero pod(s) over time, and the scrape."""

    def __init__(self, end: int, scrape: int = MINUTE, schedules: list[Schedule] | None = None) -> None:
        self.end, self.scrape = end, scrape
        self.schedules = {s.name: s for s in schedules or []}
        self.deleted: set[str] = set()
        self.backups: list[Backup] = []
        self.queue: list[Backup] = []
        self.last_completed: dict[str, int] = {}  # New backups; the backup controller runs one at a time
        self.running: Backup | None = None
        self.last_pod: tuple[str, str] = ("", "")  # pod, instance of the last process (set by its first start)
        self._events: list[tuple[int, int, str, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self.process: dict[str, Any] | None = None
        self.pods = itertools.count(1)
        self.target: tuple[str, str] | None = None  # the scraped pod (pod, instance), None when there is none
        self.bsl_down: list[tuple[int, int]] = []
        self.maintenance: list[tuple[int, str, str]] = []  # (time, repository, "success"|"failure")
        self.samples: dict[str, dict[int, float | str]] = {}
        self.extra: dict[str, Sequence[tuple[int, float | None]]] = {}
        # The restore counters go into the promtool input only for a scenario with restores: InitSchedule keeps them
        # at 0 everywhere else, and five more series per schedule in every scenario slow promtool's replay down.
        self.restores = False
        self._next_due = {s.name: 0 for s in self.schedules.values()}
        self._start_process(0, new_pod=True)

    # -------------------------------------------------------------------------------- scenario API
    def restart(self, at: int, down: int = 40, new_pod: bool = True) -> None:
        """The Velero container stops at ``at`` and the next process starts ``down`` seconds later:
        a new pod (rollout, eviction: new ``pod``/``instance`` labels) or the same pod (crash, OOM)."""
        self._push(at, "stop", (new_pod,))
        self._push(at + down, "start", (new_pod,))

    def scale_to_zero(self, at: int) -> None:
        """The Velero Deployment scaled to 0 (or deleted) at ``at``: the pod, and with it the target, is gone."""
        self._push(at, "stop", (True,))

    def crash_loop(self, at: int, until: int, alive: int) -> None:
        """From ``at`` the container crashes ``alive`` seconds after each start; the kubelet restarts it in the
        same pod after the CrashLoopBackOff delay, until ``until``."""
        t, backoff = at, CRASH_BACKOFF
        while t < until:
            self.restart(t, down=backoff, new_pod=False)
            t += backoff + alive
            backoff = min(2 * backoff, CRASH_BACKOFF_MAX)

    def delete_schedule(self, name: str, at: int, recreate_after: int | None = None) -> None:
        self._push(at, "delete", (name,))
        if recreate_after is not None:
            self._push(at + recreate_after, "recreate", (name,))

    def pause(self, name: str, at: int) -> None:
        """The Schedule gets ``spec.paused`` at ``at`` (a config's ``paused: true`` applied by Flux): the schedule
        controller's predicate drops it from then on (no InitSchedule, no run); its Backups stay, so the resync
        still rebuilds its last-success timestamp."""
        self._push(at, "pause", (name,))

    def restore(self, at: int, schedule: str, phase: str, duration: int = 5 * MINUTE) -> None:
        """A Restore of a backup of ``schedule`` (``""``: a manual backup) is created at ``at`` and ends ``phase``
        ``duration`` later (FailedValidation at once)."""
        self.restores = True
        self._push(at, "restore", (schedule, phase, duration))

    def bsl_unavailable(self, start: int, stop: int) -> None:
        self.bsl_down.append((start, stop))

    def maintenance_job(self, at: int, repository: str, result: str) -> None:
        self.maintenance.append((at, repository, result))
        self._push(at, "maintenance", (repository, result))

    def series_extra(self, name_labels: str, points: Sequence[tuple[int, float | None]]) -> None:
        """A series from outside Velero (kube-state-metrics): value changes at the given times (None: gone)."""
        self.extra[name_labels] = points

    # ---------------------------------------------------------------------------------- the model
    def _push(self, at: int, kind: str, args: tuple[Any, ...]) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, args))

    def _labels(self) -> str:
        p = self.process
        assert p is not None
        return f'job="velero", namespace="velero", pod="{p["pod"]}", instance="{p["instance"]}"'

    def _start_process(self, at: int, new_pod: bool) -> None:
        if new_pod or not self.last_pod[0]:  # the same pod keeps its name and address
            n = next(self.pods)
            pod, instance = f"velero-7d9f-{n:05d}", f"10.42.0.{n}:8085"
        else:
            pod, instance = self.last_pod
        self.process = {"pod": pod, "instance": instance, "start": at, "values": {}}
        self.last_pod = self.target = (pod, instance)
        v = self.process["values"]
        v[("process_start_time_seconds", None)] = float(at)
        self._init_schedule("")
        # markInProgressBackupsFailed: no metric for these.
        for b in self.backups:
            if b.phase == "InProgress":
                b.phase, b.completed_at = "Failed", at
        self.running = None
        self._push(at + 1, "reconcile", (at,))
        self._push(at + 2, "kick", (at,))
        self._push(at + RESYNC_DELAY, "resync", (at,))
        self._push(at + 2, "bsl", (at,))

    def _init_schedule(self, name: str) -> None:
        v = self.process["values"]  # type: ignore[index]
        for m in SCHEDULE_COUNTERS:
            v.setdefault((m, name), 0.0)
        v[("velero_backup_last_status", name)] = 1.0

    def _remove_schedule(self, name: str) -> None:
        v = self.process["values"]  # type: ignore[index]
        for key in [k for k in v if k[1] == name]:
            del v[key]

    def _finish(self, b: Backup, at: int, phase: str) -> None:
        b.phase, b.completed_at = phase, at
        if phase == "Completed":  # the Backup object outlives the process: resync reads it
            self.last_completed[b.schedule] = at
        if self.running is b:
            self.running = None
        v = self.process["values"]  # type: ignore[index]
        metric = OUTCOMES[phase]
        v[(metric, b.schedule)] = v.get((metric, b.schedule), 0.0) + 1
        if phase in ("Completed", "PartiallyFailed") and b.index in self.schedules[b.schedule].warned:
            v[(WARNINGS, b.schedule)] = v.get((WARNINGS, b.schedule), 0.0) + 1
        v[("velero_backup_last_status", b.schedule)] = 1.0 if phase == "Completed" else 0.0
        if phase == "Completed":
            v[("velero_backup_last_successful_timestamp", b.schedule)] = float(at)

    def _handle(self, at: int, kind: str, args: tuple[Any, ...]) -> None:
        p = self.process
        if kind == "start":
            self._start_process(at, *args)
            return
        if kind == "stop":
            (new_pod,) = args
            self.process = None
            if new_pod:  # the pod goes: its target with it
                self.target = None
            return
        if kind == "pause":
            self.schedules[args[0]].paused = True
            return
        if kind in ("delete", "recreate"):
            (name,) = args
            if kind == "delete":
                self.deleted.add(name)
                if p is not None:
                    self._remove_schedule(name)  # the delete event's reconcile: RemoveSchedule
            else:
                self.deleted.discard(name)
            return
        if p is None or (kind in ("reconcile", "resync", "bsl", "kick", "finish", "restore-end")
                         and args[0] != p["start"]):
            return  # a tick of a process that is gone
        v = p["values"]
        if kind == "kick":
            self._kick(at)
        elif kind == "reconcile":
            self._push(at + SYNC_PERIOD, "reconcile", args)
            for s in self.schedules.values():
                if s.paused or s.name in self.deleted:
                    continue
                self._init_schedule(s.name)
                # checkIfBackupInNewOrProgress: no new backup while one of the schedule is New/InProgress
                busy = (self.running is not None and self.running.schedule == s.name) or any(
                    b.schedule == s.name for b in self.queue)
                due = (at - s.offset) // s.period + 1 if at >= s.offset else 0
                if due > self._next_due[s.name] and not busy:
                    # ifDue: one backup for the latest due time, missed runs are not queued
                    self._next_due[s.name] = due
                    self._run(s, due - 1, at)
        elif kind == "resync":
            self._push(at + SYNC_PERIOD, "resync", args)
            for name, ts in self.last_completed.items():
                v[("velero_backup_last_successful_timestamp", name)] = float(ts)
        elif kind == "bsl":
            self._push(at + SYNC_PERIOD, "bsl", args)
            down = any(a <= at < b for a, b in self.bsl_down)
            v[("velero_backup_location_status_gauge", "default")] = 0.0 if down else 1.0
        elif kind == "finish":
            done: Backup = args[1]
            phase = args[2]
            if done.phase == "InProgress" and self.running is done:
                self._finish(done, at, phase)
                self._kick(at)
        elif kind == "restore":
            schedule, phase, duration = args
            key = ("velero_restore_attempt_total", schedule)
            v[key] = v.get(key, 0.0) + 1  # WithLabelValues(...).Inc(): created at 1 when InitSchedule never ran
            if phase == "FailedValidation":
                self._count_restore(schedule, phase)
            else:
                self._push(at + duration, "restore-end", (p["start"], schedule, phase))
        elif kind == "restore-end":
            self._count_restore(args[1], args[2])
        elif kind == "maintenance":
            repo, result = args
            key = (f"velero_repo_maintenance_{result}_total", "repo:" + repo)
            v[key] = v.get(key, 0.0) + 1

    def _count_restore(self, schedule: str, phase: str) -> None:
        v = self.process["values"]  # type: ignore[index]
        key = (RESTORE_OUTCOMES[phase], schedule)
        v[key] = v.get(key, 0.0) + 1

    def _run(self, s: Schedule, index: int, at: int) -> None:
        """The schedule controller creates a Backup (phase New); the backup controller takes it up."""
        b = Backup(s.name, index)
        self.backups.append(b)
        self.queue.append(b)
        self._kick(at)

    def _kick(self, at: int) -> None:
        while self.process is not None and self.running is None and self.queue:
            b = self.queue.pop(0)
            s = self.schedules[b.schedule]
            phase = s.outcomes.get(b.index, "Completed")
            if phase == "FailedValidation":
                self._finish(b, at, phase)  # refused before it runs; no attempt counted
                continue
            b.phase = "InProgress"
            self.running = b
            v = self.process["values"]
            key = ("velero_backup_attempt_total", s.name)
            v[key] = v.get(key, 0.0) + 1
            if s.hang_from is None or b.index < s.hang_from:
                self._push(at + s.duration, "finish", (self.process["start"], b, phase))

    # -------------------------------------------------------------------------------------- scrape
    def _series_name(self, key: tuple[str, str | None]) -> str:
        metric, label = key
        labels = self._labels()
        if label is None:
            return f"{metric}{{{labels}}}"
        if label.startswith("repo:"):
            return f'{metric}{{repository_name="{label[5:]}", {labels}}}'
        if metric == "velero_backup_location_status_gauge":
            return f'{metric}{{backup_location_name="{label}", {labels}}}'
        return f'{metric}{{schedule="{label}", {labels}}}'

    def run(self) -> VeleroSim:
        seen_last: set[str] = set()
        for step, t in enumerate(range(0, self.end + 1, self.scrape)):
            while self._events and self._events[0][0] < t:
                at, _, kind, args = heapq.heappop(self._events)
                self._handle(at, kind, args)
            now: dict[str, float] = {}
            if self.process is not None:
                for key, value in self.process["values"].items():
                    now[self._series_name(key)] = value
            if self.target is not None:  # Prometheus' own series for the target: did the scrape answer?
                pod, instance = self.target
                up = f'up{{job="velero", namespace="velero", pod="{pod}", instance="{instance}"}}'
                now[up] = 1.0 if self.process is not None else 0.0
            for name in now:
                self.samples.setdefault(name, {})[step] = now[name]
            for name in seen_last - set(now):
                self.samples[name][step] = "stale"
            seen_last = set(now)
        return self

    def input_series(self, prefixes: tuple[str, ...] = ("velero_", "process_start", "up{")) -> list[dict[str, str]]:
        steps = self.end // self.scrape + 1
        out = []
        for name in sorted(self.samples):
            if name.startswith(prefixes) and (self.restores or not name.startswith("velero_restore_")):
                out.append({"series": name, "values": encode([self.samples[name].get(i) for i in range(steps)])})
        for name, points in sorted(self.extra.items()):
            values: list[float | str | None] = []
            for i in range(steps):
                t = i * self.scrape
                current = [v for at, v in points if at <= t]
                value = current[-1] if current else None
                # None after a value: the exporter stopped exposing it, a stale marker at the next scrape
                gone = value is None and len(current) > 0 and values[-1] not in (None, "stale")
                values.append("stale" if gone else value)
            out.append({"series": name, "values": encode(values)})
        return out


def encode(values: list[float | str | None]) -> str:
    """promtool's expanding notation: ``vxN`` is N+1 samples of v, ``_xN`` N missing ones."""
    parts = []
    for value, group in itertools.groupby(values):
        n = len(list(group))
        if value is None:
            parts.append("_" if n == 1 else f"_x{n}")
        elif value == "stale":
            parts.extend(["stale"] * n)
        else:
            text = str(int(value)) if float(value).is_integer() else repr(value)
            parts.append(text if n == 1 else f"{text}x{n - 1}")
    # Trailing missing samples add nothing.
    while parts and parts[-1].startswith("_"):
        parts.pop()
    return " ".join(parts)
