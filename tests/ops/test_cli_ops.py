"""The day-2 commands as a user runs them: backup-manifest, restore-manifest, explain (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_util import EXAMPLE, clean_env, run_cli

CONFIG = """\
cluster: home-lab
s3:
  endpoint: https://s3.68cc.io
schedules:
  - name: daily
    cron: "0 2 * * *"
    namespaces: [monitoring, database, network]
"""


@pytest.fixture
def cfg(tmp_path) -> Path:
    p = tmp_path / "velero-gitops.yaml"
    p.write_text(CONFIG)
    return p


def test_backup_manifest_prints_yaml(cfg, tmp_path):
    run = run_cli("backup-manifest", "manual-1", "--include-namespaces", "monitoring,database", "--config", str(cfg), exact_env=clean_env(tmp_path))
    assert run.code == 0, run.err
    assert run.out.startswith("---\n# yaml-language-server: $schema=")
    assert "kind: Backup\n" in run.out and "  ttl: 720h0m0s\n" in run.out and "    - database\n" in run.out
    assert "  namespace: velero\n" in run.out and run.err == ""


def test_backup_manifest_to_a_file(cfg, tmp_path):
    env = clean_env(tmp_path)
    out = tmp_path / "out" / "backup.yaml"
    out.parent.mkdir()
    run = run_cli("backup-manifest", "b1", "--include-namespaces", "monitoring", "--ttl", "48h", "--output-file", str(out), "-c", str(cfg), exact_env=env)
    assert run.code == 0 and run.out == "" and "wrote" in run.err
    assert "  ttl: 48h0m0s\n" in out.read_text()
    again = run_cli("backup-manifest", "b1", "--include-namespaces", "monitoring", "--ttl", "48h", "--output-file", str(out), "-c", str(cfg), exact_env=env)
    assert again.code == 0 and "unchanged" in again.err
    # a different existing file is not replaced without --force
    other = run_cli("backup-manifest", "b2", "--include-namespaces", "monitoring", "--output-file", str(out), "-c", str(cfg), exact_env=env)
    assert other.code == 2 and "--force" in other.err and "b1" in out.read_text()
    forced = run_cli("backup-manifest", "b2", "--include-namespaces", "monitoring", "--output-file", str(out), "--force", "-c", str(cfg), exact_env=env)
    assert forced.code == 0 and "name: b2" in out.read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["backup.yaml"]  # no temp files left


def test_restore_manifest_with_mapping(cfg, tmp_path):
    run = run_cli("restore-manifest", "restore-1", "--from-backup", "daily-20261127020000",
              "--namespace-mapping", "monitoring:monitoring-restore", "--namespace-mapping", "database:database-restore",
              "--include-namespaces", "monitoring,database", "-c", str(cfg), exact_env=clean_env(tmp_path))
    assert run.code == 0, run.err
    assert "kind: Restore\n" in run.out
    assert "  namespaceMapping:\n    database: database-restore\n    monitoring: monitoring-restore\n" in run.out
    assert "  backupName: daily-20261127020000\n" in run.out


@pytest.mark.parametrize("args,msg", [
    (["--namespace-mappings", "Monitoring:x"], "not a valid source namespace"),
    (["--namespace-mapping", "a:b", "--namespace-mapping", "a:c"], "mapped twice"),
    (["--namespace-mapping", "a_b"], "old:new"),
])
def test_restore_manifest_refuses_bad_mappings(cfg, tmp_path, args, msg):
    run = run_cli("restore-manifest", "r", "--from-backup", "b", *args, "-c", str(cfg), exact_env=clean_env(tmp_path))
    assert run.code == 2 and msg in run.err and run.out == ""
    assert "Traceback" not in run.err


def test_restore_manifest_of_what_the_backup_cannot_hold(cfg, tmp_path):
    """A namespace the backup's schedule does not include restores nothing (vmware-tanzu/velero@v1.18.1:
    pkg/backup/item_backupper.go itemInclusionChecks, pkg/restore/restore.go ShouldInclude): exit 2, naming the
    schedule and its namespaces, nothing on stdout."""
    env = clean_env(tmp_path)
    run = run_cli("restore-manifest", "r", "--from-backup", "daily-20261127020000", "--include-namespaces", "kube-system",
                  "-c", str(cfg), exact_env=env)
    assert run.code == 2 and run.out == "" and "Traceback" not in run.err
    assert "schedule 'daily' backs up namespaces monitoring, database, network" in run.err


def test_usage_errors(cfg, tmp_path):
    env = clean_env(tmp_path)
    assert run_cli("backup-manifest", "b", "-c", str(cfg), exact_env=env).code == 2  # --include-namespaces is required
    assert run_cli("backup-manifest", "-c", str(cfg), "--include-namespaces", "a", exact_env=env).code == 2  # a name is required
    assert run_cli("restore-manifest", "r", "-c", str(cfg), exact_env=env).code == 2  # --from-backup is required
    bad = run_cli("backup-manifest", "b", "--include-namespaces", "a", "--ttl", "30d", "-c", str(cfg), exact_env=env)
    assert bad.code == 2 and "720h" in bad.err
    missing = run_cli("explain", "-c", str(tmp_path / "nope.yaml"), exact_env=env)
    assert missing.code == 2 and "not found" in missing.err


def test_explain_table_and_json(cfg, tmp_path):
    env = clean_env(tmp_path, TZ="America/New_York")
    run = run_cli("explain", "-c", str(cfg), exact_env=env)
    assert run.code == 0, run.err
    for needle in ("every day at 02:00 UTC", "velero-schedules", "velero-backups/velero/kopia/monitoring/", "run (UTC)"):
        assert needle in run.out, needle
    # stdout is a pipe here: tab-separated rows, the local column because New York is not UTC
    rows = [line.split("\t") for line in run.out.splitlines() if line.startswith(("run (", "20"))]
    assert len(rows) == 6 and rows[0][:2] == ["run (UTC)", "run (EST)"], run.out
    assert all(r[2].startswith("daily-20") and r[2].endswith("0200??") for r in rows[1:])
    assert "metadata: velero-backups/velero/backups/daily-<YYYYMMDDhhmmss>/" in run.out
    data = json.loads(run_cli("explain", "-c", str(cfg), "-o", "json", "--timezone", "Asia/Tokyo", exact_env=env).out)
    first = data["schedules"][0]["nextRuns"][0]
    assert first["utc"].endswith("T02:00+00:00") and first["local"].endswith("T11:00+09:00")
    assert data["localTimeZone"] == "Asia/Tokyo"


def test_default_config_discovery(tmp_path):
    env = clean_env(tmp_path)
    one = tmp_path / "one"
    (one / "clusters" / "lab").mkdir(parents=True)
    (one / "clusters" / "lab" / "velero-gitops.yaml").write_text(CONFIG)
    run = run_cli("backup-manifest", "b", "--include-namespaces", "a", exact_env=env, cwd=one)
    assert run.code == 0, run.err
    (one / "clusters" / "lab2").mkdir()
    (one / "clusters" / "lab2" / "velero-gitops.yaml").write_text(CONFIG)
    run = run_cli("explain", exact_env=env, cwd=one)
    assert run.code == 2 and "several configs" in run.err
    (one / "velero-gitops.yaml").write_text(CONFIG.replace("home-lab", "here"))
    run = run_cli("explain", "-o", "json", exact_env=env, cwd=one)
    assert run.code == 0 and json.loads(run.out)["cluster"] == "here"
    empty = tmp_path / "empty"
    empty.mkdir()
    run = run_cli("s3", "policy", exact_env=env, cwd=empty)
    assert run.code == 2 and "--config" in run.err


def test_cli_modules_import_no_core_at_start():
    """Start-up time: the command modules import typer/stdlib only; boto3 and the core load inside commands."""
    code = ("import sys, velero_gitops.cli.s3_cmds, velero_gitops.cli.ops_cmds; "
            "print(','.join(m for m in ('boto3', 'botocore', 'velero_gitops.ops.s3', 'velero_gitops.ops.explain', "
            "'velero_gitops.ops.manifests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_backup_manifest_reads_like_velero(cfg, tmp_path):
    """Flag names and include/exclude rules of `velero backup create`.

    vmware-tanzu/velero@v1.18.1:pkg/cmd/cli/backup/create.go (--include-namespaces, --exclude-namespaces,
    --selector/-l) and pkg/util/collections/includes_excludes.go (ValidateIncludesExcludes, namespace globs).
    """
    env = clean_env(tmp_path)
    run = run_cli("backup-manifest", "b", "--include-namespaces", "monitoring,db-*", "--exclude-namespaces", "db-test",
              "-l", "app=db,tier!=cache,env in (prod,stage),!legacy", "-c", str(cfg), exact_env=env)
    assert run.code == 0, run.err
    assert "  excludedNamespaces:\n    - db-test\n" in run.out and "    - \"db-*\"\n" in run.out
    assert "    matchLabels:\n      app: db\n" in run.out
    assert "operator: NotIn" in run.out and "operator: In" in run.out and "operator: DoesNotExist" in run.out
    checked = run_cli("validate", "-", stdin=run.out, exact_env=env)
    assert checked.code == 0, checked.out + checked.err
    for args, msg in [
        (["--include-namespaces", "a", "--exclude-namespaces", "*"], "cannot contain '*'"),
        (["--include-namespaces", "a", "--exclude-namespaces", "a"], "both included and excluded"),
        (["--include-namespaces", "*,a"], "'*'"),
        (["--include-namespaces", "a", "-l", "app in (a"], "parentheses"),
        (["--include-namespaces", "a", "-l", "-bad-=x"], "label key"),
        (["--include-namespaces", "a", "-l", "app=x,app=y"], "both"),
        (["--include-namespaces", "a", "-n", "b"], "No such option"),
    ]:
        bad = run_cli("backup-manifest", "b", *args, "-c", str(cfg), exact_env=env)
        assert bad.code == 2 and msg in bad.err, (args, bad.err)
        assert "Traceback" not in bad.err and bad.out == ""


def test_backup_manifest_from_schedule(cfg, tmp_path):
    """The Backup Velero makes from a Schedule: its template as spec, label velero.io/schedule-name, and the name
    <schedule>-<20060102150405 UTC> (vmware-tanzu/velero@v1.18.1:pkg/builder/backup_builder.go FromSchedule,
    pkg/apis/velero/v1/schedule_types.go TimestampedName)."""
    env = clean_env(tmp_path)
    run = run_cli("backup-manifest", "--from-schedule", "daily", "-c", str(cfg), exact_env=env)
    assert run.code == 0, run.err
    import re
    assert re.search(r"\n  name: daily-\d{14}\n", run.out), run.out
    assert "    velero.io/schedule-name: daily\n" in run.out
    assert "    - network\n" in run.out and "  ttl: 720h0m0s\n" in run.out
    assert run_cli("validate", "-", stdin=run.out, exact_env=env).code == 0
    named = run_cli("backup-manifest", "now-1", "--from-schedule", "daily", "-c", str(cfg), exact_env=env)
    assert named.code == 0 and "\n  name: now-1\n" in named.out
    unknown = run_cli("backup-manifest", "--from-schedule", "weekly", "-c", str(cfg), exact_env=env)
    assert unknown.code == 2 and "it has: daily" in unknown.err
    mixed = run_cli("backup-manifest", "--from-schedule", "daily", "--include-namespaces", "a", "-c", str(cfg), exact_env=env)
    assert mixed.code == 2 and "--from-schedule" in mixed.err


def test_restore_mapping_without_includes_warns(cfg, tmp_path):
    """Without includedNamespaces Velero restores every namespace of the backup
    (vmware-tanzu/velero@v1.18.1:pkg/cmd/cli/restore/create.go: --include-namespaces defaults to '*')."""
    env = clean_env(tmp_path)
    run = run_cli("restore-manifest", "r", "--from-backup", "b", "--namespace-mappings", "monitoring:m2", "-c", str(cfg), exact_env=env)
    assert run.code == 0 and "warning: every namespace of the backup is restored" in run.err
    quiet = run_cli("restore-manifest", "r", "--from-backup", "b", "--namespace-mapping", "monitoring:m2",
                "--include-namespaces", "monitoring", "--exclude-resources", "hr,ks", "-c", str(cfg), exact_env=env)
    assert quiet.code == 0 and quiet.err == ""


def test_namespace_mapping_section_leaves_out_the_flux_appliers(cfg, tmp_path):
    """docs/restore-drill.md section 4: its restore-manifest line runs as written, writes spec.excludedResources for
    the Flux kinds that apply objects (their copies would be reconciled at once, before the volumes are back,
    fluxcd/helm-controller@v1.6.3 and fluxcd/kustomize-controller@v1.9.4 Reconcile) and says nothing about them;
    the same line without --exclude-resources warns."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "restore-drill.md").read_text()
    section = doc.split("## 4. Restore into another namespace", 1)[1].split("\n## ", 1)[0]
    line = re.search(r"velero-gitops (restore-manifest [^|]+?)--config \"\$CFG\"", section)
    assert line, section
    args = line.group(1).replace("\\\n", " ").split()
    env = clean_env(tmp_path)
    run = run_cli(*args, "-c", str(cfg), exact_env=env)
    assert run.code == 0, run.err
    assert "Flux objects" not in run.err
    assert ("  excludedResources:\n    - helmreleases.helm.toolkit.fluxcd.io\n"
            "    - kustomizations.kustomize.toolkit.fluxcd.io\n") in run.out
    i = args.index("--exclude-resources")
    bare = run_cli(*(args[:i] + args[i + 2:]), "-c", str(cfg), exact_env=env)
    assert bare.code == 0 and "warning: the mapped namespaces are restored with their Flux objects" in bare.err


def test_restore_into_its_own_namespace_warns_about_live_volumes(cfg, tmp_path):
    """A namespace restored into itself while it exists gets old data in its live volumes: Velero skips existing
    objects but creates a backed-up pod whose name is gone (resetMetadata drops ownerReferences) and runs
    restorePodVolumeBackups for it (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem); the PodVolumeRestore
    takes the pod's PVC as it is (pkg/podvolume/restorer.go RestorePodVolumes) and kopia overwrites the files
    (pkg/uploader/kopia/snapshot.go, OverwriteFiles). restore-manifest cannot see the cluster: it warns every time."""
    env = clean_env(tmp_path)
    for args, what in ((["--include-namespaces", "monitoring"], "namespace monitoring is"),
                       ([], "every namespace of the backup is"),
                       (["--namespace-mappings", "monitoring:m2"], "every namespace of the backup but the mapped ones is"),
                       (["--include-namespaces", "monitoring,network", "--namespace-mappings", "monitoring:m2"],
                        "namespace network is")):
        run = run_cli("restore-manifest", "r", "--from-backup", "b", *args, "-c", str(cfg), exact_env=env)
        assert run.code == 0 and f"warning: {what} restored into itself: delete it first" in run.err, (args, run.err)
        assert "overwriting the live files" in run.err


def test_explain_takes_the_config_as_argument_too(cfg, tmp_path):
    env = clean_env(tmp_path)
    by_arg = run_cli("explain", str(cfg), "-o", "json", exact_env=env)
    by_opt = run_cli("explain", "--config", str(cfg), "-o", "json", exact_env=env)
    assert by_arg.code == 0 and by_opt.code == 0, by_arg.err + by_opt.err
    # the same explanation; the clock-dependent parts (when it was made, the next runs) may differ by a minute
    a, b = ({k: v for k, v in json.loads(r.out).items() if k != "generatedAt"} for r in (by_arg, by_opt))
    for data in (a, b):
        for schedule in data["schedules"]:
            schedule.pop("nextRuns")
    assert a == b
    both = run_cli("explain", str(cfg), "--config", str(tmp_path / "other.yaml"), exact_env=env)
    assert both.code == 2 and "once" in both.err


@pytest.mark.parametrize("target", ["/proc/self/mem", "/dev/zero", "/dev/full", "fifo", "/proc/self/new", "link-to-dev-zero"])
def test_output_file_that_is_not_a_regular_file_is_refused(tmp_path, target):
    """Never read (a device or FIFO would not end), never replaced: exit 2, one line, no traceback."""
    cfg = EXAMPLE / "velero-gitops.yaml"
    if target == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    elif target == "link-to-dev-zero":
        target = str(tmp_path / "out.yaml")
        os.symlink("/dev/zero", target)
    r = run_cli("backup-manifest", "b1", "--include-namespaces", "a", "--output-file", target, "-c", str(cfg), timeout=30)
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1 and target in r.err


def test_node_lost_section_runs_its_steps_in_the_order_that_keeps_the_data(cfg, tmp_path):
    """docs/restore-drill.md section 8 (one node lost with its local disk): the schedules are paused first (a backup
    taken after the loss skips the volumes of pods that are Pending or being deleted and still ends Completed:
    vmware-tanzu/velero@v1.18.1:pkg/podvolume/backupper.go BackupPodVolumes, pkg/util/kube/pod.go IsPodRunning), the
    backup is proved to hold a Completed PodVolumeBackup per PVC before anything is deleted, Flux is suspended before
    anything is deleted (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go and
    fluxcd/helm-controller@v1.6.3:internal/controller/helmrelease_controller.go skip a suspended object; reconcileDelete
    uninstalls only an unsuspended HelmRelease), the node before the namespace (its pods block the deletion), the
    namespace before the restore (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go overwrites live volumes of pods it
    re-creates), helm-controller held during it, and resumed last. Its restore-manifest line runs as written."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "restore-drill.md").read_text()
    section = doc.split("## 8. One node lost", 1)[1].split("\n## ", 1)[0]
    steps = ["flux suspend kustomization velero-schedules", '"paused":true', "flux suspend kustomization <app>",
             "podvolumebackups.velero.io -l velero.io/backup-name", "kubectl delete node", "kubectl delete namespace",
             "--replicas=0", "restore-manifest", "--replicas=1", "flux resume kustomization <app>", '"paused":false',
             "flux resume kustomization velero-schedules"]
    at = [section.index(s) for s in steps]
    assert at == sorted(at), dict(zip(steps, at))
    assert "--sort-by=.metadata.creationTimestamp" not in section  # "newest" alone picks a backup after the loss
    line = re.search(r"velero-gitops (restore-manifest [^|]+)\\\n\s*\|", section)
    assert line, section
    # a namespace the daily schedule backs up: restore-manifest refuses one its backups cannot hold
    args = line.group(1).replace("<app-ns>", "database").replace('"$B"', "daily-20261201020000").split()
    run = run_cli(*args, "-c", str(cfg), exact_env=clean_env(tmp_path))
    assert run.code == 0, run.err
    assert "  name: database-node-lost\n" in run.out and "  - database\n" in run.out
    assert "namespace database is restored into itself: delete it first" in run.err
