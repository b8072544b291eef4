"""`explain`: what a config will do, in plain words, before anything is committed.

Derived from the config with the same facts the plan uses (Layout, Schedule names, TTLs), plus
Velero's object layout (vmware-tanzu/velero@v1.18.1: pkg/persistence/object_store_layout.go) and schedule
timing (pkg/controller/schedule_controller.go): Velero runs cron in UTC, names scheduled
backups `<schedule>-<YYYYMMDDhhmmss>`, keeps metadata under `<prefix>/backups/<backup>/` and FSB
volume data in one kopia repository per namespace under `<prefix>/kopia/<namespace>/`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import PurePosixPath
from typing import Any

from velero_gitops.config import cron as cronlib
from velero_gitops.config.units import parse_duration
from velero_gitops.render.layout import Layout
from velero_gitops.render.plan import chart_source_name, plan
from velero_gitops.secrets import repo_password as rp

RUNS = 5
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="minutes")


def _span(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours = rest // 3600
    if days and not hours:
        return f"{days} day{'s' if days != 1 else ''}"
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h" if hours else f"{int(seconds) // 60} min"


def describe_cron(expr: str) -> str:
    """A cron expression in words (UTC); falls back to the expression for unusual ones."""
    c = cronlib.parse(expr)
    if c.every:
        return f"every {_span(c.every)} after the previous run"
    all_days, all_months = c.days == frozenset(range(1, 32)), c.months == frozenset(range(1, 13))
    all_wd = c.weekdays == frozenset(range(7))
    if len(c.minutes) == 1 and c.hours == frozenset(range(24)) and all_days and all_months and all_wd:
        return f"every hour at minute {next(iter(c.minutes))} (UTC)"
    if len(c.minutes) == 1 and all_months:
        minute = next(iter(c.minutes))
        times = ", ".join(f"{h:02d}:{minute:02d}" for h in sorted(c.hours))
        if all_days and all_wd:
            return f"every day at {times} UTC"
        if all_days and c.dom_star:
            return f"every {', '.join(_DAYS[d] for d in sorted(c.weekdays))} at {times} UTC"
        if all_wd and c.dow_star:
            return f"on day {', '.join(str(d) for d in sorted(c.days))} of every month at {times} UTC"
    return f"at the times matching `{expr}` (UTC)"


def _local_tz(name: str | None) -> tzinfo:
    if name:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from velero_gitops.errors import UsageError

        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"--timezone {name!r} is not a known IANA time zone such as Europe/Berlin") from None
    return datetime.now().astimezone().tzinfo or timezone.utc


def age_key_location(c: Any) -> str:
    """Where kustomize-controller finds the age private key for the rendered tree, in words."""
    d = c.flux.decryption
    if not d.enabled:
        return "decryption comes from a root Kustomization patch, which decides where the age key is"
    if d.key_from == "controller":
        return ("decrypted by Flux with kustomize-controller's --sops-age-secret key, a Secret in the "
                "controller's own namespace")
    return (f"decrypted by Flux with the age key in Secret {c.flux.namespace}/{d.secret_ref}, in the namespace "
            f"of the Kustomization {c.flux.namespace}/{c.repo.app}")


def explain(loaded: Any, now: datetime | None = None, tz_name: str | None = None) -> dict[str, Any]:
    """Everything `explain` shows, as plain data (the JSON output)."""
    c = loaded.config
    lay = Layout.of(c)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    local = _local_tz(tz_name)
    local_name = tz_name or (datetime.now(local).tzname() or "local")
    bucket_root = f"{c.s3.bucket}/{c.s3.prefix}" if c.s3.prefix else c.s3.bucket
    ns = c.repo.namespace
    fs_default = c.velero.default_volumes_to_fs_backup

    password = rp.state(loaded)
    password["consequence"] = (
        "A kopia repository opens only with the password it was created with, at the first file-system backup of "
        "its namespace: changing the password later makes the existing repositories unreadable to Velero. A cluster "
        "rebuilt from the bucket needs this same password"
        + (", which lives encrypted in Git with the tree." if password["mode"] == "managed" else
           "." if password["mode"] == "elsewhere" else ": the public default, so the data is effectively unencrypted.")
    )

    # The Flux Kustomizations exactly as the plan renders them (none for schedules when there are none).
    ks_objs = [d.obj for a in plan(loaded).artifacts if a.path == lay.ks_file for d in a.docs]
    applies = {
        c.repo.app: [
            f"HelmRelease {c.repo.app} (chart velero {c.velero.chart_version}, Velero {c.velero.velero_version})",
            f"{c.flux.chart_source.type} {chart_source_name(c)} (the chart source)",
            f"Secret {c.s3.credentials_secret} from secret.sops.yaml ({age_key_location(c)})",
        ] + ([f"Secret {rp.SECRET_NAME} from {PurePosixPath(lay.repo_password_file).name} (kopia repository password, "
              "never pruned)"] if c.velero.repository_password == "managed" else []) + ([f"PrometheusRule {c.repo.app} (backup alerts)"] if c.metrics.enabled and c.metrics.prometheus_rule else [])
          + ([f"ConfigMap {c.repo.app}-dashboard (Grafana dashboard)"] if c.metrics.enabled and c.metrics.dashboard.enabled else []),
        f"{c.repo.app}-schedules": [f"Schedule {s.name}" for s in c.schedules],
    }
    ready = {
        c.repo.app: f"when HelmRelease {c.repo.app} is Ready (health check, timeout {c.flux.timeout})",
        f"{c.repo.app}-schedules": f"after {c.repo.app} is Ready: the Schedule CRD exists only once the chart installed it",
    }
    kustomizations = [{
        "order": i,
        "name": k["metadata"]["name"],
        "namespace": k["metadata"]["namespace"],
        "targetNamespace": k["spec"]["targetNamespace"],
        "file": lay.ks_file,
        "path": k["spec"]["path"],
        "dependsOn": [f"{d['namespace']}/{d['name']}" for d in k["spec"].get("dependsOn", [])],
        "applies": applies[k["metadata"]["name"]],
        "installs": ["Velero CRDs", "Deployment velero", "DaemonSet node-agent (kopia file-system backups)",
                     f"BackupStorageLocation default -> {c.s3.endpoint} {bucket_root}/"] if i == 1 else [],
        "ready": ready[k["metadata"]["name"]],
    } for i, k in enumerate(ks_objs, start=1)]

    schedules = []
    for s in c.schedules:
        ttl = c.schedule_ttl(s)
        ttl_s = parse_duration(ttl)
        fs = s.default_volumes_to_fs_backup if s.default_volumes_to_fs_backup is not None else fs_default
        runs = [] if s.paused else cronlib.parse(s.cron).next_runs(now, RUNS)
        every_ns = s.namespaces == ["*"]
        run_rows = []
        for r in runs:
            backup_name = f"{s.name}-{r:%Y%m%d%H%M%S}"
            expires = r + timedelta(seconds=ttl_s)
            run_rows.append({
                "utc": _iso(r),
                "local": _iso(r.astimezone(local)),
                "backup": backup_name,
                "expiresUtc": _iso(expires),
                "metadata": f"{bucket_root}/backups/{backup_name}/",
            })
        data_paths = ([f"{bucket_root}/kopia/<namespace>/ (one kopia repository per namespace)"] if every_ns
                      else [f"{bucket_root}/kopia/{n}/" for n in s.namespaces])
        volumes = (
            "every pod volume of running pods, through the node-agent (kopia); opt a volume out with the pod "
            "annotation backup.velero.io/backup-volumes-excludes" if fs else
            "only pod volumes named in the pod annotation backup.velero.io/backup-volumes (opt-in)"
        )
        schedules.append({
            "name": s.name,
            "cron": s.cron,
            "when": "paused: no runs until unpaused" if s.paused else describe_cron(s.cron),
            "namespaces": list(s.namespaces),
            "excludedResources": list(s.excluded_resources),
            "labelSelector": dict(s.label_selector.match_labels) if s.label_selector else {},
            "volumes": volumes,
            "defaultVolumesToFsBackup": fs,
            "ttl": ttl,
            "keptFor": _span(ttl_s),
            "storageLocation": s.storage_location,
            "nextRuns": run_rows,
            "metadataPath": f"{bucket_root}/backups/{s.name}-<YYYYMMDDhhmmss>/",
            "dataPaths": data_paths,
            "approximate": bool(cronlib.parse(s.cron).every),
        })

    return {
        "config": loaded.display_path,
        "cluster": c.cluster,
        "veleroNamespace": ns,
        "generatedAt": _iso(now),
        "localTimeZone": local_name,
        "storage": {"endpoint": c.s3.endpoint, "bucket": c.s3.bucket, "prefix": c.s3.prefix, "region": c.s3.region,
                    "metadata": f"{bucket_root}/backups/<backup>/", "volumeData": f"{bucket_root}/kopia/<namespace>/"},
        "garbageCollection": c.velero.garbage_collection_frequency,
        "defaultBackupTtl": c.velero.default_backup_ttl,
        "repositoryPassword": password,
        "kustomizations": kustomizations,
        "schedules": schedules,
    }


def words(data: dict[str, Any]) -> list[str]:
    """The plain-words part: one paragraph per topic."""
    st = data["storage"]
    out = [
        f"Cluster {data['cluster']}: Velero runs in namespace {data['veleroNamespace']} and stores backups in "
        f"bucket {st['bucket']} at {st['endpoint']}. Backup metadata goes to {st['metadata']}, volume data "
        f"to {st['volumeData']} (kopia, one repository per namespace, deduplicated and encrypted with the "
        "velero-repo-credentials password).",
    ]
    pw = data["repositoryPassword"]
    out.append(f"Repository password ({pw['mode']}): {pw['words']}. {pw['consequence']}")
    ks = data["kustomizations"]
    order = " then ".join(f"{k['name']} ({k['path']})" for k in ks)
    first = ks[0]
    dep = f" (once {', '.join(first['dependsOn'])} is Ready)" if first["dependsOn"] else ""
    out.append(f"Flux applies {order}; these Kustomizations live in namespace {first['namespace']} and put what "
               f"they apply into {first['targetNamespace']}. {first['name']}{dep} installs the chart: "
               + "; ".join(first["applies"]) + f". It counts as Ready {first['ready']}.")
    if len(ks) > 1:
        out.append(f"{ks[1]['name']} waits for {first['name']} (dependsOn) because the Schedule CRD only exists "
                   f"once the chart installed it; it applies " + ", ".join(ks[1]["applies"]) + ".")
    if not data["schedules"]:
        out.append("No schedules: Velero only runs backups you start (velero-gitops backup-manifest).")
    for s in data["schedules"]:
        ns = "every namespace" if s["namespaces"] == ["*"] else "namespaces " + ", ".join(s["namespaces"])
        text = (f"Schedule {s['name']} runs {s['when']}. It backs up {ns}: their Kubernetes objects and "
                f"{s['volumes']}. Each backup is kept {s['ttl']} ({s['keptFor']}), then Velero's garbage collection "
                f"(every {data['garbageCollection']}) deletes it; kopia frees the data at its next maintenance.")
        if s["excludedResources"]:
            text += f" Left out: {', '.join(s['excludedResources'])}."
        if s["nextRuns"]:
            r = s["nextRuns"][0]
            text += (f" Next run {r['utc']} UTC ({r['local']} {data['localTimeZone']}) creates backup {r['backup']}, "
                     f"metadata under {r['metadata']}, volume data under {', '.join(s['dataPaths'])}; "
                     f"it expires {r['expiresUtc']} UTC.")
        if s["approximate"]:
            text += " @every schedules count from the previous run, so the times are approximate."
        out.append(text)
    out.append("Velero evaluates cron in UTC (the official image has no time zone database); "
               "missed runs are not caught up, and a failed backup does not block the next one.")
    return out


def _short(iso: str) -> str:
    return iso[:16].replace("T", " ")


def render(data: dict[str, Any], console: Any) -> None:
    """Plain words and rich tables on ``console``."""
    from rich.table import Table
    from rich.text import Text

    for paragraph in words(data):
        console.print(Text(paragraph))
        console.print()
    ks = Table(title="Flux Kustomizations, in order", title_justify="left")
    for col in ("#", "name", "path", "depends on", "applies"):
        ks.add_column(col, overflow="fold")
    for k in data["kustomizations"]:
        ks.add_row(str(k["order"]), k["name"], k["path"], ", ".join(k["dependsOn"]) or "-", "\n".join(k["applies"]))
    console.print(ks)
    for s in data["schedules"]:
        t = Table(title=f"Schedule {s['name']} ({s['cron']}): {s['when']}", title_justify="left")
        for col in ("run (UTC)", f"run ({data['localTimeZone']})", "backup", "expires (UTC)", "metadata"):
            t.add_column(col, overflow="fold")
        for r in s["nextRuns"]:
            t.add_row(_short(r["utc"]), _short(r["local"]), r["backup"], _short(r["expiresUtc"]), r["metadata"])
        console.print(t)
        console.print(Text("volume data: " + ", ".join(s["dataPaths"])))
        console.print()
