"""`explain`: what a config will do, in plain words, before anything is committed.

What the tree applies, and in which order, is read from the plan; the words around it come from the
config. Velero runs cron in UTC, keeps metadata under `<prefix>/backups/<backup>/` and file-system backup
data in one kopia repository per namespace under `<prefix>/kopia/<namespace>/`
(vmware-tanzu/velero@v1.18.1:pkg/persistence/object_store_layout.go).

When a scheduled backup starts (vmware-tanzu/velero@v1.18.1:pkg/controller/schedule_controller.go): the
controller looks at every Schedule once a minute (scheduleSyncPeriod); getNextRunTime takes the first cron
time after the last backup (or after the Schedule's creation: no backup at creation) and ifDue is true once
that time has passed. submitBackup then creates one backup named after the moment of that check
(schedule_types.go TimestampedName, `<schedule>-<YYYYMMDDhhmmss>`), so the seconds of a future name are
unknown; runs missed while Velero was down, or while an earlier backup of the schedule was still New or
InProgress (checkIfBackupInNewOrProgress), become one catch-up backup at the next check, not one each.
"""

from __future__ import annotations

import posixpath
import textwrap
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from velero_gitops.config.names import REPO_CREDENTIALS_SECRET
from velero_gitops.config.units import go_duration, parse_duration
from velero_gitops.render.layout import Layout
from velero_gitops.render.plan import Plan, controller_timeout, monitoring_kustomization_name, plan_tree, sops_files
from velero_gitops.secrets import repo_password as rp

if TYPE_CHECKING:
    from rich.console import Console

    from velero_gitops.config.cron import Cron
    from velero_gitops.config.loader import LoadedConfig
    from velero_gitops.config.model import Config, ScheduleConfig

RUNS = 5
# The seconds of a scheduled backup's name: the moment of the once-a-minute check that creates it (module doc).
UNKNOWN_SECONDS = "??"
Cell = str | list[str]  # a table cell; a list is one item per line in a table, "; "-joined in plain rows
Table_ = tuple[str, list[str], list[list[Cell]], str | None]  # title, header, rows, footnote
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


def describe_cron(c: Cron) -> str:
    """A parsed cron expression in words (UTC); falls back to the expression for unusual ones."""
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
    return f"at the times matching `{c.expr}` (UTC)"


def _local_tz(name: str | None) -> tzinfo:
    if name:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from velero_gitops.errors import UsageError

        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"--timezone {name!r} is not a known IANA time zone such as Europe/Berlin") from None
    return datetime.now().astimezone().tzinfo or UTC


def age_key_location(c: Config) -> str:
    """Where kustomize-controller finds the age private key for the rendered tree, in words."""
    d = c.flux.decryption
    if not sops_files(c):
        return ("nothing in the tree is SOPS-encrypted (s3.credentialsFrom, velero.repositoryPassword): its "
                "Kustomization has no decryption and needs no age key")
    if not d.enabled:
        return "decryption comes from a root Kustomization patch, which decides where the age key is"
    if d.key_from == "controller":
        return ("decrypted by Flux with kustomize-controller's --sops-age-secret key, a Secret in the "
                "controller's own namespace")
    return (f"decrypted by Flux with the age key in Secret {c.flux.namespace}/{d.secret_ref}, in the namespace "
            f"of the Kustomization {c.flux.namespace}/{c.repo.app}")


def explain(loaded: LoadedConfig, now: datetime | None = None, tz_name: str | None = None) -> dict[str, Any]:
    """Everything `explain` shows, as plain data (the JSON output)."""
    c = loaded.config
    now = (now or datetime.now(UTC)).astimezone(UTC)
    local = _local_tz(tz_name)
    bucket_root = f"{c.s3.bucket}/{c.s3.prefix}" if c.s3.prefix else c.s3.bucket
    return {
        "config": loaded.display_path,
        "cluster": c.cluster,
        "veleroNamespace": c.repo.namespace,
        "generatedAt": _iso(now),
        "localTimeZone": tz_name or (datetime.now(local).tzname() or "local"),
        "storage": {"endpoint": c.s3.endpoint, "bucket": c.s3.bucket, "prefix": c.s3.prefix, "region": c.s3.region,
                    "metadata": f"{bucket_root}/backups/<backup>/", "volumeData": f"{bucket_root}/kopia/<namespace>/"},
        "garbageCollection": c.velero.garbage_collection_frequency,
        "defaultBackupTtl": c.velero.default_backup_ttl,
        "repositoryPassword": _password(loaded),
        "kustomizations": _kustomizations(loaded, bucket_root),
        "schedules": [_schedule(c, s, now, local, bucket_root) for s in c.schedules],
    }


def repository_facts(loaded: LoadedConfig) -> dict[str, Any]:
    """What the repository says of the plan, by the rules render and check report: whether Flux applies the tree
    (ops/wiring.py: flux.unwired, None when it does or no sync root tells), and the backed-up volumes the node-agent
    skips (ops/storage.py hostpath_warnings). Merged into explain's data by the command (explain() reads no
    repository)."""
    from velero_gitops.ops import storage, wiring

    root = loaded.repo_root.resolve()
    sources = wiring.sources_of(loaded)
    g = wiring.graph(root, sources)
    w = wiring.for_config(loaded, wiring.flux_facts(root, sources, g=g))
    unwired = " ".join(wiring.message(w, root, lambda rel: rel).split()) if w.checked and not w.wired else None
    skipped = [m for _, m in storage.hostpath_warnings(loaded, storage.read_for(loaded, g))]
    return {"unwired": unwired, "warnings": skipped}


def _password(loaded: LoadedConfig) -> dict[str, Any]:
    password = rp.state(loaded)
    password["consequence"] = (
        "A kopia repository opens only with the password it was created with, at the first file-system backup of "
        "its namespace: changing the password later makes the existing repositories unreadable to Velero. A cluster "
        "rebuilt from the bucket needs this same password"
        + (", which lives encrypted in Git with the tree." if password["mode"] == "managed" else
           "." if password["mode"] in ("elsewhere", "external") else ": the public default, so the data is effectively unencrypted.")
    )
    return password


_READY = {
    "app": ("when HelmRelease {app} is Ready: Flux waits up to {wait} for it ({why}); each Helm install or "
            "upgrade may take {helm} (the HelmRelease timeout)"),
    "schedules": "after {app} is Ready: the Schedule CRD exists only once the chart installed it",
    "monitoring": "on its own: nothing waits for it, so a missing Prometheus Operator never holds Velero back",
}


def _kustomizations(loaded: LoadedConfig, bucket_root: str) -> list[dict[str, Any]]:
    """The Flux Kustomizations and what each applies, read from the plan (never decided here again)."""
    c = loaded.config
    lay = Layout.of(c)
    the_plan = plan_tree(loaded)
    out = []
    ks_objs = [d.obj for a in the_plan.artifacts if a.path == lay.ks_file for d in a.docs]
    for i, k in enumerate(ks_objs, start=1):
        is_app = k["metadata"]["name"] == c.repo.app
        role = "app" if is_app else "monitoring" if k["metadata"]["name"] == monitoring_kustomization_name(c) else "schedules"
        out.append({
            "order": i,
            "name": k["metadata"]["name"],
            "namespace": k["metadata"]["namespace"],
            "targetNamespace": k["spec"]["targetNamespace"],
            "file": lay.ks_file,
            "path": k["spec"]["path"],
            "dependsOn": [f"{d['namespace']}/{d['name']}" for d in k["spec"].get("dependsOn", [])],
            "applies": _applies(loaded, the_plan, k["spec"]["path"]),
            "installs": ["Velero CRDs", "Deployment velero", "DaemonSet node-agent (kopia file-system backups)",
                         f"BackupStorageLocation default -> {c.s3.endpoint} {bucket_root}/"] if is_app else [],
            "role": role,
            "healthCheckTimeout": go_duration(controller_timeout(k["spec"])),
            "ready": _READY[role].format(
                app=c.repo.app, wait=go_duration(controller_timeout(k["spec"])), helm=c.flux.timeout,
                why=f"spec.timeout {k['spec']['timeout']}" if "timeout" in k["spec"] else
                f"no spec.timeout: the interval {k['spec']['interval']} minus 30s"),
        })
    return out


def _applies(loaded: LoadedConfig, the_plan: Plan, flux_path: str) -> list[str]:
    """The objects a Flux Kustomization applies: the resources its kustomization.yaml lists in the plan, in the
    plan's order, then the encrypted Secrets it lists (written by encrypt-secret / encrypt-repo-password)."""
    c = loaded.config
    folder = posixpath.normpath(flux_path)
    by_path = {a.path: a for a in the_plan.artifacts}
    listed = {posixpath.normpath(posixpath.join(folder, r))
              for d in by_path[f"{folder}/kustomization.yaml"].docs for r in d.obj["resources"]}
    out = [_object_words(c, d.obj) for a in the_plan.artifacts if a.path in listed for d in a.docs]
    if the_plan.secret_path in listed:
        out.append(f"Secret {c.s3.credentials_secret} from {PurePosixPath(the_plan.secret_path).name} "
                   f"({age_key_location(c)})")
    if the_plan.repo_password_path in listed:
        out.append(f"Secret {REPO_CREDENTIALS_SECRET} from {PurePosixPath(the_plan.repo_password_path).name} "
                   "(kopia repository password, never pruned)")
    return out


def _object_words(c: Config, obj: dict[str, Any]) -> str:
    kind, name = obj["kind"], obj["metadata"]["name"]
    why = {
        "HelmRelease": f"chart velero {c.velero.chart_version}, Velero {c.velero.velero_version}",
        "HelmRepository": "the chart source",
        "OCIRepository": "the chart source",
        "PrometheusRule": "backup alerts",
        "ConfigMap": "Grafana dashboard",
    }.get(kind)
    return f"{kind} {name}" + (f" ({why})" if why else "")


def _schedule(c: Config, s: ScheduleConfig, now: datetime, local: tzinfo, bucket_root: str) -> dict[str, Any]:
    ttl = c.schedule_ttl(s)
    ttl_s = parse_duration(ttl)
    fs = s.default_volumes_to_fs_backup
    if fs is None:
        fs = c.velero.default_volumes_to_fs_backup
    run_rows = []
    for r in [] if s.paused else s.timing.next_runs(now, RUNS):
        backup_name = f"{s.name}-{r:%Y%m%d%H%M}{UNKNOWN_SECONDS}"
        run_rows.append({
            "utc": _iso(r),
            "local": _iso(r.astimezone(local)),
            "backup": backup_name,
            "expiresUtc": _iso(r + timedelta(seconds=ttl_s)),
            "metadata": f"{bucket_root}/backups/{backup_name}/",
        })
    data_paths = ([f"{bucket_root}/kopia/<namespace>/ (one kopia repository per namespace)"] if s.namespaces == ["*"]
                  else [f"{bucket_root}/kopia/{n}/" for n in s.namespaces])
    volumes = (
        "every pod volume of running pods, through the node-agent (kopia); opt a volume out with the pod "
        "annotation backup.velero.io/backup-volumes-excludes" if fs else
        "only pod volumes named in the pod annotation backup.velero.io/backup-volumes (opt-in)"
    )
    return {
        "name": s.name,
        "cron": s.cron,
        "when": "paused: no runs until unpaused" if s.paused else describe_cron(s.timing),
        "namespaces": list(s.namespaces),
        "excludedNamespaces": list(s.excluded_namespaces),
        "excludedResources": list(s.excluded_resources),
        "labelSelector": dict(s.label_selector.match_labels) if s.label_selector else {},
        "volumes": volumes,
        "defaultVolumesToFsBackup": fs,
        "ttl": ttl,
        "keptFor": _span(ttl_s),
        "storageLocation": s.storage_location,
        "nextRuns": run_rows,
        "metadataPath": f"{bucket_root}/backups/{s.name}-<YYYYMMDDhhmmss>/",
        "catchUp": CATCH_UP,
        "dataPaths": data_paths,
        "approximate": bool(s.timing.every),
    }


CATCH_UP = ("Velero checks each schedule once a minute and starts a backup at the first check after its cron "
            "time, named after that moment (the seconds, ?? in the names here, are known only then). Runs missed while "
            "Velero was down, or while the schedule's previous backup was still New or InProgress, are not repeated "
            "one by one: Velero starts one catch-up backup at its next check, then follows the cron again. A new "
            "Schedule's first backup is at its first cron time (none at creation). A failed backup does not block "
            "the next one.")


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
    lead = "Flux applies"
    if data.get("unwired"):
        out.append(f"Flux applies none of this tree yet: {data['unwired']}")
        lead = "Once it is wired, Flux applies"
    out.append(f"{lead} {order}; these Kustomizations live in namespace {first['namespace']} and put what "
               f"they apply into {first['targetNamespace']}. {first['name']}{dep} installs the chart: "
               + "; ".join(first["applies"]) + f". It counts as Ready {first['ready']}.")
    for k in ks[1:]:
        if k["role"] == "schedules":
            out.append(f"{k['name']} waits for {first['name']} (dependsOn) because the Schedule CRD only exists "
                       f"once the chart installed it; it applies " + ", ".join(k["applies"]) + ".")
        else:
            waits = f"waits for {', '.join(k['dependsOn'])}" if k["dependsOn"] else "waits for nothing"
            out.append(f"{k['name']} {waits} and applies " + ", ".join(k["applies"]) + f"; {k['ready']}.")
    if not data["schedules"]:
        out.append("No schedules: Velero only runs backups you start (velero-gitops backup-manifest).")
    for s in data["schedules"]:
        ns = "every namespace" if s["namespaces"] == ["*"] else "namespaces " + ", ".join(s["namespaces"])
        if s["excludedNamespaces"]:
            ns += " except " + ", ".join(s["excludedNamespaces"])
        text = (f"Schedule {s['name']} runs {s['when']}. It backs up {ns}: their Kubernetes objects and "
                f"{s['volumes']}. Each backup is kept {s['ttl']} ({s['keptFor']}), then Velero's garbage collection "
                f"(every {data['garbageCollection']}) deletes it; kopia frees the data at its next maintenance.")
        if s["excludedResources"]:
            text += f" Left out: {', '.join(s['excludedResources'])}."
        if s["nextRuns"]:
            r = s["nextRuns"][0]
            local = "" if r["local"] == r["utc"] else f" ({r['local']} {data['localTimeZone']})"
            text += (f" Next run {r['utc']} UTC{local} creates backup {r['backup']}, "
                     f"metadata under {r['metadata']}, volume data under {', '.join(s['dataPaths'])}; "
                     f"it expires {r['expiresUtc']} UTC.")
        if s["approximate"]:
            text += " @every schedules count from the previous run, so the times are approximate."
        out.append(text)
    out.append("Velero evaluates cron in UTC (the official image has no time zone database). " + CATCH_UP)
    out += [f"Warning: {w}" for w in data.get("warnings") or []]
    return out


def _short(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _local_is_utc(s: dict[str, Any]) -> bool:
    """Every listed run is at UTC offset zero locally: a local column would repeat the UTC one."""
    return all(r["local"] == r["utc"] for r in s["nextRuns"])


def _schedule_rows(data: dict[str, Any], s: dict[str, Any]) -> tuple[list[str], list[list[Cell]]]:
    """Header and rows of a schedule's next-runs table (one run column when local time is UTC)."""
    one = _local_is_utc(s)
    header = ["run (UTC)"] + ([] if one else [f"run ({data['localTimeZone']})"]) + ["backup", "expires (UTC)"]
    rows: list[list[Cell]] = []
    for r in s["nextRuns"]:
        local: list[Cell] = [] if one else [_short(r["local"])]
        rows.append([_short(r["utc"]), *local, r["backup"], _short(r["expiresUtc"])])
    return header, rows


def _kustomization_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Cell]]]:
    header = ["Kustomization", "path", "depends on", "applies"]
    rows: list[list[Cell]] = [[f"{k['order']}. {k['name']}", k["path"], ", ".join(k["dependsOn"]) or "-",
                               k["applies"]] for k in data["kustomizations"]]
    return header, rows


def _tables(data: dict[str, Any]) -> list[Table_]:
    """(title, header, rows, footnote) of every table, in order."""
    out: list[Table_] = [
        ("Flux Kustomizations, in order", *_kustomization_rows(data), None)]
    for s in data["schedules"]:
        out.append((f"Schedule {s['name']} ({s['cron']}): {s['when']}", *_schedule_rows(data, s),
                    f"metadata: {s['metadataPath']}; volume data: " + ", ".join(s["dataPaths"])))
    return out


def _join(cell: Cell, sep: str) -> str:
    return cell if isinstance(cell, str) else sep.join(cell)


def plain_lines(data: dict[str, Any]) -> list[str]:
    """The output for pipes: one line per paragraph and per row, cells separated by tabs, nothing wrapped."""
    lines: list[str] = []
    for paragraph in words(data):
        lines += [paragraph, ""]
    for title, header, rows, foot in _tables(data):
        lines += [title, "\t".join(header)] + ["\t".join(_join(c, "; ") for c in r) for r in rows]
        lines += ([foot] if foot else []) + [""]
    return lines


GAP = 2  # spaces between table columns


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, broken at spaces only: a name or path is never split (a word
    longer than the line stands alone on its line)."""
    return textwrap.wrap(text, max(width, 1), break_long_words=False, break_on_hyphens=False) or [""]


def table_lines(header: list[str], rows: list[list[Cell]], width: int) -> list[str]:
    """A table in ``width`` columns: aligned columns when every cell fits on one line, else one record per
    row (the first cell, then each other column as ``name  value`` with the value wrapped beside it)."""
    cells = [[_join(c, "; ") for c in r] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *cells)]
    if sum(widths) + GAP * (len(widths) - 1) <= width and not any(isinstance(c, list) and len(c) > 1
                                                                 for r in rows for c in r):
        return [(" " * GAP).join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *cells]]
    label = max(len(h) for h in header[1:]) + GAP
    out: list[str] = []
    for r in rows:
        out += _wrap(_join(r[0], "; "), width)
        for name, cell in zip(header[1:], r[1:]):
            items = [cell] if isinstance(cell, str) else cell
            beside = width - GAP - label
            if any(len(word) > beside for item in items for word in item.split()):  # under the name instead
                out += [" " * GAP + name] + [" " * 2 * GAP + line for item in items
                                             for line in _wrap(item, width - 2 * GAP)]
                continue
            lines = [line for item in items for line in _wrap(item, beside)]
            out += [" " * GAP + (name if i == 0 else "").ljust(label) + line for i, line in enumerate(lines)]
    return out


def render(data: dict[str, Any], console: Console, plain: bool | None = None) -> None:
    """Plain words and tables in the terminal's width on ``console``, never breaking a name; plain rows
    (``plain_lines``) when it is not a terminal."""
    from rich.text import Text

    if plain if plain is not None else not console.is_terminal:
        console.file.write("".join(line + "\n" for line in plain_lines(data)))  # as is: rich would expand the tabs
        return
    width = console.width
    for paragraph in words(data):
        for line in _wrap(paragraph, width):
            console.print(Text(line), overflow="ignore", crop=False)
        console.print()
    for title, header, rows, foot in _tables(data):
        for line in _wrap(title, width):
            console.print(Text(line, style="bold"), overflow="ignore", crop=False)
        lines = table_lines(header, rows, width)
        has_header = lines[0].startswith(header[0]) and len(lines) == len(rows) + 1
        for i, line in enumerate(lines):
            console.print(Text(line, style="underline" if has_header and i == 0 else ""), overflow="ignore", crop=False)
        for line in _wrap(foot, width) if foot else []:
            console.print(Text(line), overflow="ignore", crop=False)
        console.print()
