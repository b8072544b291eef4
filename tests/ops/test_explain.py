"""`explain`: next runs in UTC and local time, expiry, bucket paths, Flux order, words and tables."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from velero_gitops.config import cron
from velero_gitops.config.loader import load
from velero_gitops.errors import UsageError
from velero_gitops.ops import explain as ex

NOW = datetime(2026, 11, 26, 12, 15, tzinfo=UTC)
CONFIG = """\
cluster: home-lab
flux:
  dependsOn:
    - name: openebs
      namespace: flux-system
s3:
  endpoint: https://s3.68cc.io
  bucket: velero-backups
  prefix: velero
schedules:
{schedules}
"""
DAILY = """\
  - name: daily
    cron: "0 2 * * *"
    namespaces: [monitoring, database, network]
    ttl: 720h
"""


def _loaded(tmp_path: Path, schedules: str = DAILY):
    p = tmp_path / "velero-gitops.yaml"
    p.write_text(CONFIG.format(schedules=schedules) if schedules else CONFIG.replace("schedules:\n{schedules}\n", ""))
    return load(p)


def test_daily_schedule_runs_paths_and_expiry(tmp_path):
    data = ex.explain(_loaded(tmp_path), now=NOW, tz_name="Europe/Berlin")
    (s,) = data["schedules"]
    assert s["when"] == "every day at 02:00 UTC"
    assert [r["utc"] for r in s["nextRuns"]] == [f"2026-11-{d}T02:00+00:00" for d in (27, 28, 29, 30)] + ["2026-12-01T02:00+00:00"]
    assert s["nextRuns"][0]["local"] == "2026-11-27T03:00+01:00"  # CET in winter
    assert s["nextRuns"][0]["backup"] == "daily-202611270200??"  # the seconds: the check that starts it
    assert s["nextRuns"][0]["expiresUtc"] == "2026-12-27T02:00+00:00"  # 720h later
    assert s["nextRuns"][0]["metadata"] == "velero-backups/velero/backups/daily-202611270200??/"
    assert s["dataPaths"] == ["velero-backups/velero/kopia/monitoring/", "velero-backups/velero/kopia/database/",
                              "velero-backups/velero/kopia/network/"]
    assert s["ttl"] == "720h0m0s" and s["keptFor"] == "30 days"
    assert s["defaultVolumesToFsBackup"] is True and "node-agent" in s["volumes"]
    assert data["storage"]["metadata"] == "velero-backups/velero/backups/<backup>/"
    assert data["storage"]["volumeData"] == "velero-backups/velero/kopia/<namespace>/"


def test_local_time_follows_daylight_saving(tmp_path):
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    data = ex.explain(_loaded(tmp_path), now=summer, tz_name="Europe/Berlin")
    assert data["schedules"][0]["nextRuns"][0]["local"] == "2026-07-02T04:00+02:00"


def test_flux_order(tmp_path):
    data = ex.explain(_loaded(tmp_path), now=NOW)
    first, second, *monitoring = data["kustomizations"]
    assert (first["order"], first["name"], first["path"]) == (1, "velero", "./kubernetes/apps/velero/velero/app")
    assert first["dependsOn"] == ["flux-system/openebs"]
    assert (first["namespace"], first["targetNamespace"]) == ("flux-system", "velero")
    assert any(a.startswith("HelmRelease velero") for a in first["applies"])
    assert any("secret.sops.yaml" in a for a in first["applies"])
    assert "HelmRelease velero is Ready" in first["ready"]
    assert (second["order"], second["name"], second["path"]) == (2, "velero-schedules", "./kubernetes/apps/velero/velero/schedules")
    assert second["dependsOn"] == ["flux-system/velero"] and second["applies"] == ["Schedule daily"]
    assert first["file"] == second["file"] == "kubernetes/apps/velero/velero/ks.yaml"
    for m in monitoring:  # on its own: Velero never waits for the monitoring objects
        assert m["role"] == "monitoring" and "flux-system/velero" not in m["dependsOn"]


def test_several_schedules_paused_and_all_namespaces(tmp_path):
    schedules = DAILY + """\
  - name: weekly
    cron: "30 3 * * 0"
    namespaces: ["*"]
    ttl: 2160h
    defaultVolumesToFsBackup: false
  - name: parked
    cron: "0 4 1 * *"
    namespaces: [media]
    paused: true
"""
    data = ex.explain(_loaded(tmp_path, schedules), now=NOW, tz_name="UTC")
    by = {s["name"]: s for s in data["schedules"]}
    assert by["weekly"]["when"] == "every Sunday at 03:30 UTC"
    assert by["weekly"]["nextRuns"][0]["utc"] == "2026-11-29T03:30+00:00"
    assert by["weekly"]["keptFor"] == "90 days"
    assert by["weekly"]["dataPaths"] == ["velero-backups/velero/kopia/<namespace>/ (one kopia repository per namespace)"]
    assert "opt-in" in by["weekly"]["volumes"]
    assert by["parked"]["nextRuns"] == [] and by["parked"]["when"].startswith("paused")
    assert data["kustomizations"][1]["applies"] == ["Schedule daily", "Schedule weekly", "Schedule parked"]


def test_no_schedules(tmp_path):
    data = ex.explain(_loaded(tmp_path, ""), now=NOW)
    assert data["schedules"] == [] and [k["role"] for k in data["kustomizations"]] == ["app", "monitoring"]
    assert any("No schedules" in w for w in ex.words(data))


@pytest.mark.parametrize("decryption,says", [
    ("", "age key in Secret flux-system/sops-age, in the namespace of the Kustomization flux-system/velero"),
    ("  namespace: flux\n  decryption: {secretRef: k}\n", "age key in Secret flux/k, in the namespace of the Kustomization flux/velero"),
    ("  decryption: {keyFrom: controller}\n", "kustomize-controller's --sops-age-secret key"),
    ("  decryption: {enabled: false}\n", "root Kustomization patch"),
])
def test_explain_says_where_the_age_key_is(tmp_path, decryption, says):
    """The same lookup the plan renders: secretRef from the Kustomization's own namespace, else the
    controller-wide key (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys)."""
    p = tmp_path / "velero-gitops.yaml"
    p.write_text(CONFIG.format(schedules=DAILY).replace("flux:\n", "flux:\n" + decryption))
    data = ex.explain(load(p), now=NOW)
    (secret_line,) = [a for a in data["kustomizations"][0]["applies"] if "secret.sops.yaml" in a]
    assert says in secret_line
    assert says in " ".join(ex.words(data))


@pytest.mark.parametrize("expr,words", [
    ("0 * * * *", "every hour at minute 0 (UTC)"),
    ("15 1,13 * * *", "every day at 01:15, 13:15 UTC"),
    ("0 5 * * 1-5", "every Monday, Tuesday, Wednesday, Thursday, Friday at 05:00 UTC"),
    ("0 0 1 * *", "on day 1 of every month at 00:00 UTC"),
    ("*/15 2 * * *", "at the times matching `*/15 2 * * *` (UTC)"),
    ("@every 6h", "every 6 h after the previous run"),
])
def test_cron_in_words(expr, words):
    assert ex.describe_cron(cron.parse(expr)) == words


def test_words_and_tables(tmp_path):
    from rich.console import Console

    data = ex.explain(_loaded(tmp_path), now=NOW, tz_name="Europe/Berlin")
    text = " ".join(ex.words(data))
    for needle in ("every day at 02:00 UTC", "monitoring, database, network", "720h0m0s (30 days)",
                   "velero-backups/velero/backups/daily-202611270200??/", "velero-backups/velero/kopia/monitoring/",
                   "2026-11-27T03:00+01:00 Europe/Berlin", "velero-schedules waits for velero", "openebs"):
        assert needle in text, needle
    console = Console(record=True, width=240, color_system=None)
    ex.render(data, console, plain=False)
    out = console.export_text()
    assert "Flux Kustomizations, in order" in out
    assert "Schedule daily (0 2 * * *)" in out
    assert "2026-11-27 02:00" in out and "2026-11-27 03:00" in out and "2026-12-27 02:00" in out
    assert "run (Europe/Berlin)" in out
    assert "metadata: velero-backups/velero/backups/daily-<YYYYMMDDhhmmss>/" in out


def test_unknown_timezone(tmp_path):
    with pytest.raises(UsageError, match="IANA"):
        ex.explain(_loaded(tmp_path), now=NOW, tz_name="Mars/Olympus")


def _plan_objects(loaded, folder_suffix: str) -> list[str]:
    """Kind and name of every object the plan puts into the folder ending in ``folder_suffix``, plus the
    encrypted Secrets its kustomization.yaml lists (the files encrypt-secret/encrypt-repo-password write)."""
    from velero_gitops.render.plan import plan_tree

    p = plan_tree(loaded)
    folder = next(a.path.rsplit("/", 1)[0] for a in p.artifacts if a.path.endswith(f"{folder_suffix}/kustomization.yaml"))
    kinds = [f"{d.obj['kind']} {d.obj['metadata']['name']}" for a in p.artifacts
             if a.path.startswith(folder + "/") and not a.path.endswith("/kustomization.yaml") for d in a.docs]
    names = {"secret.sops.yaml": loaded.config.s3.credentials_secret, "repo-credentials.sops.yaml": "velero-repo-credentials"}
    resources = next(a for a in p.artifacts if a.path == f"{folder}/kustomization.yaml").docs[0].obj["resources"]
    return kinds + [f"Secret {names[r[2:]]}" for r in resources if r[2:] in names]


@pytest.mark.parametrize("extra", [
    "",
    "metrics: {enabled: false}\n",
    "metrics: {prometheusRule: false, dashboard: {enabled: false}}\n",
    "velero: {repositoryPassword: veleroDefault}\n",
    "flux:\n  chartSource: {type: OCIRepository}\n",
])
@pytest.mark.parametrize("schedules", [DAILY, ""], ids=["schedules", "none"])
def test_applies_is_what_the_plan_renders(tmp_path, extra, schedules):
    """Every Kustomization explain lists, and every object it says each applies, is in the plan, and nothing
    else: explain reads the plan instead of deciding again (no schedules -> no velero-schedules)."""
    p = tmp_path / "velero-gitops.yaml"
    text = CONFIG.format(schedules=schedules) if schedules else CONFIG.replace("schedules:\n{schedules}\n", "")
    if extra.startswith("flux:"):
        text = text.replace("flux:\n", extra)
    else:
        text += extra
    loaded = load(p.write_text(text) and p)
    data = ex.explain(loaded, now=NOW)
    names = [k["name"] for k in data["kustomizations"]]
    monitoring = ["velero-monitoring"] if loaded.config.metrics.enabled else []
    assert names == (["velero", "velero-schedules"] if schedules else ["velero"]) + monitoring
    folders = ["/app", *(["/schedules"] if schedules else []), *(["/monitoring"] if monitoring else [])]
    for k, folder in zip(data["kustomizations"], folders, strict=True):
        said = sorted(" ".join(a.split(" ", 2)[:2]) for a in k["applies"])
        assert said == sorted(_plan_objects(loaded, folder)), k["applies"]


def test_piped_output_is_plain_rows(tmp_path):
    """Not a terminal: one line per row, tab-separated, never wrapped, so a backup name can be grepped."""
    from rich.console import Console

    long = "nightly-databases-and-volumes-of-the-whole-lab"  # 46 characters: backup names reach 61
    data = ex.explain(_loaded(tmp_path, DAILY.replace("name: daily", f"name: {long}")), now=NOW,
                      tz_name="Europe/Berlin")
    out = io.StringIO()
    ex.render(data, Console(file=out, width=60))
    lines = out.getvalue().splitlines()
    backup = f"{long}-202611270200??"
    (row,) = [line for line in lines if line.startswith("2026-11-27 02:00\t")]
    assert row.split("\t") == ["2026-11-27 02:00", "2026-11-27 03:00", backup, "2026-12-27 02:00"]
    assert any(backup in line and "Next run" in line for line in lines)  # the paragraph is one line too
    assert "run (UTC)\trun (Europe/Berlin)\tbackup\texpires (UTC)" in lines


@pytest.mark.parametrize("tz,columns", [("UTC", 1), ("Etc/UTC", 1), ("Europe/Berlin", 2), ("Europe/London", 1)])
def test_one_utc_column_when_local_time_is_utc(tmp_path, tz, columns):
    """Two identical columns say nothing: local times equal to UTC (London in winter too) get one column."""
    data = ex.explain(_loaded(tmp_path), now=NOW, tz_name=tz)
    header = next(line for line in ex.plain_lines(data) if line.startswith("run (UTC)"))
    assert sum(h.startswith("run (") for h in header.split("\t")) == columns
    paragraph = next(w for w in ex.words(data) if "Next run" in w)
    assert (f"{tz})" in paragraph) is (columns == 2)


def _terminal(data, width: int) -> list[str]:
    from rich.console import Console

    console = Console(record=True, width=width, color_system=None, force_terminal=True)
    ex.render(data, console)
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("name", ["daily", "nightly-databases-and-volumes-of-the-whole-lab"])
def test_terminal_output_fits_and_never_splits_a_name(tmp_path, width, tz, name):
    """In a terminal of ``width`` columns no line is longer (but a single longer word), and every backup name, bucket path and object name
    stands whole on one line (a table too wide for the terminal becomes one record per row)."""
    data = ex.explain(_loaded(tmp_path, DAILY.replace("name: daily", f"name: {name}")), now=NOW, tz_name=tz)
    lines = _terminal(data, width)
    assert [line for line in lines if len(line) > width and " " in line.strip()] == []  # a longer word stands alone
    (s,) = data["schedules"]
    whole = [r["backup"] for r in s["nextRuns"]] + s["dataPaths"] + [data["storage"]["metadata"]]
    whole += [k["path"] for k in data["kustomizations"]] + ["velero-repo-credentials", "flux-system/openebs"]
    for token in whole:
        assert any(token in line for line in lines), token


def test_one_schedule_takes_a_screen_not_pages(tmp_path):
    """The report of one schedule at 80 columns (it took 113 lines with folded table cells): the schedule's
    paragraph, its runs table and its paths, from its title to the next blank line after the table."""
    data = ex.explain(_loaded(tmp_path), now=NOW, tz_name="Europe/Berlin")
    lines = _terminal(data, 80)
    table = lines.index("Schedule daily (0 2 * * *): every day at 02:00 UTC")
    assert len(lines[table:]) <= 2 + ex.RUNS + 4
    paragraph = next(i for i, line in enumerate(lines) if line.startswith("Schedule daily runs"))
    assert lines.index("", paragraph) - paragraph <= 12
    (row,) = [line for line in lines if line.startswith("2026-11-27 02:00")]
    assert row.split() == ["2026-11-27", "02:00", "2026-11-27", "03:00", "daily-202611270200??", "2026-12-27", "02:00"]


def test_a_wide_table_becomes_records():
    rows = [["1. velero", "./kubernetes/apps/velero/velero/app", ["HelmRelease velero (chart velero 12.1.0)", "x y"]]]
    lines = ex.table_lines(["Kustomization", "path", "applies"], rows, 46)
    assert lines == ["1. velero",
                     "  path     ./kubernetes/apps/velero/velero/app",
                     "  applies  HelmRelease velero (chart velero",
                     "           12.1.0)",
                     "           x y"]
    assert ex.table_lines(["Kustomization", "path"], rows, 40)[1:] == [  # a word too long beside its name
        "  path", "    ./kubernetes/apps/velero/velero/app"]
    assert ex.table_lines(["a", "bb"], [["x", "y"]], 40) == ["a  bb", "x  y"]


def _velero_schedule_loop(c: cron.Cron, created: datetime, up: list[tuple[datetime, datetime]],
                          busy: tuple[datetime, datetime] | None = None) -> list[datetime]:
    """The moments Velero's schedule controller creates a backup, checking once a minute while Velero is up
    (vmware-tanzu/velero@v1.18.1:pkg/controller/schedule_controller.go: scheduleSyncPeriod, Reconcile,
    getNextRunTime — next = cron.Next(lastBackup or creation); ifDue — now after next;
    checkIfBackupInNewOrProgress — no new backup while an earlier one is New/InProgress; submitBackup —
    lastBackup = now)."""
    from datetime import timedelta

    last, made = created, []
    for start, end in up:
        t = start
        while t < end:
            (next_run,) = c.next_runs(last, 1)
            if t > next_run and not (busy and busy[0] <= t < busy[1]):
                made.append(t)
                last = t
            t += timedelta(minutes=1)
    return made


def test_missed_runs_become_one_catch_up_backup(tmp_path):
    """The words explain prints about missed runs follow Velero's schedule loop: Velero down over three daily
    runs makes one catch-up backup when it is back, then the cron again; a long backup still running at the
    next cron time delays it to the first check after it finished; no backup at creation."""
    from datetime import timedelta

    daily = cron.parse("0 2 * * *")
    created = datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)
    down, back = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC), datetime(2026, 11, 30, 9, 0, 30, tzinfo=UTC)
    made = _velero_schedule_loop(daily, created, [(created, down), (back, back + timedelta(days=2))])
    assert made == [datetime(2026, 11, 27, 2, 0, 30, tzinfo=UTC),  # first cron time after creation
                    back,  # one catch-up for the runs of 28, 29 and 30 November
                    datetime(2026, 12, 1, 2, 0, 30, tzinfo=UTC), datetime(2026, 12, 2, 2, 0, 30, tzinfo=UTC)]
    busy = (datetime(2026, 11, 27, 1, 0, tzinfo=UTC), datetime(2026, 11, 27, 4, 30, tzinfo=UTC))
    delayed = _velero_schedule_loop(daily, datetime(2026, 11, 26, 3, 0, 30, tzinfo=UTC),
                                    [(datetime(2026, 11, 26, 3, 0, 30, tzinfo=UTC), down)], busy)
    assert delayed == [datetime(2026, 11, 27, 4, 30, 30, tzinfo=UTC)]
    text = " ".join(ex.words(ex.explain(_loaded(tmp_path), now=NOW)))
    assert "missed runs are not caught up" not in text
    assert "one catch-up backup at its next check" in text and "still New or InProgress" in text
    assert "first backup is at its first cron time (none at creation)" in text


@pytest.mark.parametrize("flux,wait,why", [
    ("", "59m30s", "no spec.timeout: the interval 1h minus 30s"),
    ("  interval: 10m\n", "20m0s", "spec.timeout 20m"),
    ("  interval: 20m\n  timeout: 10m\n", "19m30s", "no spec.timeout: the interval 20m minus 30s"),
])
def test_health_check_timeout_is_the_controllers(tmp_path, flux, wait, why):
    """The app Kustomization's health check waits kustomize-controller's GetTimeout (spec.timeout, else the
    interval minus 30s), not the HelmRelease timeout (fluxcd/kustomize-controller@v1.9.4:
    api/v1/kustomization_types.go GetTimeout; internal/controller/kustomization_controller.go checkHealth)."""
    p = tmp_path / "velero-gitops.yaml"
    p.write_text(CONFIG.format(schedules=DAILY).replace("flux:\n", "flux:\n" + flux))
    data = ex.explain(load(p), now=NOW)
    app = data["kustomizations"][0]
    assert app["healthCheckTimeout"] == wait
    assert f"Flux waits up to {wait} for it ({why})" in app["ready"]
    assert "may take " + load(p).config.flux.timeout in app["ready"]
