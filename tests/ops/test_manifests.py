"""Backup and Restore objects: config-driven fields, validation of names and mappings, YAML style, strict schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops.config.loader import load
from velero_gitops.errors import UsageError
from velero_gitops.ops import manifests as m

BASE = """\
cluster: test-lab
repo:
  namespace: {ns}
velero:
  defaultVolumesToFsBackup: {fs}
  defaultBackupTtl: {ttl}
s3:
  endpoint: https://s3.example.test
"""


def _config(tmp_path: Path, ns: str = "velero", fs: str = "true", ttl: str = "720h"):
    p = tmp_path / f"cfg-{ns}-{fs}-{ttl}.yaml"
    p.write_text(BASE.format(ns=ns, fs=fs, ttl=ttl))
    return load(p).config


@pytest.fixture
def config(tmp_path):
    return _config(tmp_path)


# ----------------------------------------------------------------------------------------------- Backup
def test_backup_defaults_come_from_the_config(config):
    obj = m.backup(config, "manual-1", ["monitoring,database", "network"])
    assert obj == {
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": "manual-1", "namespace": "velero"},
        "spec": {"defaultVolumesToFsBackup": True, "includedNamespaces": ["monitoring", "database", "network"],
                 "snapshotVolumes": False, "storageLocation": "default", "ttl": "720h0m0s"},
    }


def test_backup_honours_other_config_values(tmp_path):
    c = _config(tmp_path, ns="backup-system", fs="false", ttl="168h")
    obj = m.backup(c, "b", ["*"])
    assert obj["metadata"]["namespace"] == "backup-system"
    assert obj["spec"]["defaultVolumesToFsBackup"] is False
    assert obj["spec"]["ttl"] == "168h0m0s"
    assert obj["spec"]["includedNamespaces"] == ["*"]


@pytest.mark.parametrize("ttl,want", [("36h", "36h0m0s"), ("1h30m", "1h30m0s"), ("720h0m0s", "720h0m0s")])
def test_backup_ttl_is_normalised(config, ttl, want):
    assert m.backup(config, "b", ["a"], ttl)["spec"]["ttl"] == want


@pytest.mark.parametrize("ttl,msg", [("30d", "no 'd' unit"), ("0", "positive"), ("soon", "not a duration")])
def test_backup_bad_ttl(config, ttl, msg):
    with pytest.raises(UsageError, match=msg):
        m.backup(config, "b", ["a"], ttl)


@pytest.mark.parametrize("name", ["Manual", "under_score", "x" * 64, "-lead", "trail-", ""])
def test_backup_bad_names(config, name):
    with pytest.raises(UsageError, match="not a valid backup name"):
        m.backup(config, name, ["a"])


@pytest.mark.parametrize("nss,msg", [
    (["Monitoring"], "not a valid namespace name"),
    (["a,a"], "listed twice"),
    (["*", "a"], "every namespace"),
    ([",,"], "at least one namespace"),
])
def test_backup_bad_namespaces(config, nss, msg):
    with pytest.raises(UsageError, match=msg):
        m.backup(config, "b", nss)


# ---------------------------------------------------------------------------------------------- Restore
def test_restore_with_mapping(config):
    obj = m.restore(config, "r1", "daily-20261127020000", ["monitoring:monitoring-restore,database:db-copy"],
                    ["monitoring", "database"])
    assert obj == {
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": "r1", "namespace": "velero"},
        "spec": {"backupName": "daily-20261127020000", "includedNamespaces": ["monitoring", "database"],
                 "namespaceMapping": {"database": "db-copy", "monitoring": "monitoring-restore"}},
    }


def test_restore_minimal(config):
    assert m.restore(config, "r", "b")["spec"] == {"backupName": "b"}


@pytest.mark.parametrize("pairs,include,msg", [
    (["monitoring"], None, "write it as old:new"),
    (["a:b:c"], None, "write it as old:new"),
    (["Monitoring:x"], None, "not a valid source namespace"),
    (["a:B_copy"], None, "not a valid target namespace"),
    (["a:" + "x" * 64], None, "not a valid target namespace"),
    ([":x"], None, "not a valid source namespace"),
    (["a:"], None, "not a valid target namespace"),
    (["a:a"], None, "onto itself"),
    (["a:x", "a:y"], None, "mapped twice"),
    (["a:x,b:x"], None, "both be restored into 'x'"),
    (["a:x"], ["b"], "leaves out"),
    (["a:b"], ["a", "b"], "also restores as itself"),
])
def test_restore_bad_mappings_are_refused(config, pairs, include, msg):
    with pytest.raises(UsageError, match=msg):
        m.restore(config, "r", "b", pairs, include)


SCHEDULED = BASE + "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n    namespaces: [monitoring, database]\n"


@pytest.mark.parametrize("pairs,include,exclude,msg", [
    (["database:monitoring"], None, None, "restores database into monitoring, which backup daily-20261201020000 \\(of schedule 'daily'\\) also"),
    (["database:monitoring"], ["database", "monitoring"], None, "which --include-namespaces also restores as itself"),
    (["database:x"], None, ["database"], "which --exclude-namespaces leaves out"),
    (["network:x"], None, None, "network, which backup daily-20261201020000"),
])
def test_restore_mapping_onto_a_namespace_the_restore_also_restores_is_refused(tmp_path, pairs, include, exclude, msg):
    """Two namespaces restored into one merge, whether both are mapped or the target is restored as itself: Velero
    skips an object whose name is taken in the target (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go,
    restoreItem "already exists"). Without --include-namespaces the Restore restores what the backup holds, the
    namespaces of the schedule it is named after (pkg/apis/velero/v1/schedule_types.go TimestampedName); an
    excluded source is never mapped."""
    p = tmp_path / "c.yaml"
    p.write_text(SCHEDULED.format(ns="velero", fs="true", ttl="720h"))
    config = load(p).config
    with pytest.raises(UsageError, match=msg):
        m.restore(config, "r", "daily-20261201020000", pairs, include, exclude)
    assert m.restore(config, "r", "daily-20261201020000", ["database:db-copy"])["spec"]["namespaceMapping"] == {
        "database": "db-copy"}
    assert m.restore(config, "r", "other-20261201020000", pairs)["spec"]["namespaceMapping"]  # scope unknown


GLOBBED = BASE + ("schedules:\n  - name: apps\n    cron: '0 2 * * *'\n    namespaces: ['team-*', database]\n"
                  "    excludedNamespaces: [team-old]\n    labelSelector:\n      matchLabels: {{backup: 'true'}}\n")


@pytest.mark.parametrize("include,refused", [
    (["monitoring"], "monitoring"), (["team-old"], "team-old"), (["db*"], "db\\*"), (["team-a", "nope"], "nope"),
    (["team-a"], None), (["team-[ab]?"], None), (["data*"], None), (["*"], None), (["*-x"], None),
])
def test_restore_of_a_namespace_the_backup_cannot_hold_is_refused(tmp_path, include, refused):
    """A backup of a schedule holds namespaced items only of the namespaces the schedule includes and does not
    exclude (vmware-tanzu/velero@v1.18.1:pkg/backup/item_backupper.go itemInclusionChecks), and a Restore restores a
    namespaced item only when --include-namespaces matches its namespace, globs as gobwas/glob
    (pkg/restore/restore.go ShouldInclude; pkg/util/collections/includes_excludes.go globStringSet.match): an item
    that can match none of the schedule's restores nothing, so it is refused naming the schedule's namespaces."""
    p = tmp_path / "c.yaml"
    p.write_text(GLOBBED.format(ns="velero", fs="true", ttl="720h"))
    config = load(p).config
    if refused is None:
        assert m.restore(config, "r", "apps-20261201020000", None, include)["spec"]["includedNamespaces"] == include
        return
    with pytest.raises(UsageError, match=f"--include-namespaces {refused}: backup apps-20261201020000 holds none of "
                       "it \\(schedule 'apps' backs up namespaces team-\\*, database except team-old\\)"):
        m.restore(config, "r", "apps-20261201020000", None, include)
    assert m.restore(config, "r", "manual-1", None, include)  # not a schedule's backup: its scope is unknown


@pytest.mark.parametrize("selector,warns", [
    ("backup=false", True), ("backup notin (true)", True), ("!backup", True), ("backup in (a,b)", True),
    ("backup=true,app=db", False), ("app=db", False), ("backup", False),
])
def test_restore_selector_disjoint_from_the_schedules_warns(tmp_path, selector, warns):
    """Every item a schedule's backup lists carries its matchLabels (vmware-tanzu/velero@v1.18.1:pkg/backup/
    item_collector.go, the label selector); the Restore restores only items its selector matches
    (pkg/restore/restore.go, ctx.selector.Matches). A selector that cannot match those labels finds at most the
    items a plugin added (a pod's PVCs), so it warns, naming the schedule and the label."""
    p = tmp_path / "c.yaml"
    p.write_text(GLOBBED.format(ns="velero", fs="true", ttl="720h"))
    config = load(p).config
    spec = m.restore(config, "r", "apps-20261201020000", None, ["team-a"], None, selector)["spec"]
    said = [w for w in m.restore_warnings(spec, config) if "selector cannot match" in w]
    assert bool(said) == warns, said
    if warns:
        assert "backup=true, which schedule 'apps' selects" in said[0]
    assert not any("selector cannot match" in w for w in m.restore_warnings(spec))


def test_restore_excluded_resources_are_checked_as_velero_resolves_them(config):
    """spec.excludedResources goes through GetResourceIncludesExcludes like a Backup's lists
    (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go, pkg/util/collections/includes_excludes.go): a '/' or a
    version never matches, '*' is refused by ValidateIncludesExcludes (pkg/controller/restore_controller.go)."""
    spec = m.restore(config, "r", "b", exclude_resources=["helmreleases.helm.toolkit.fluxcd.io,ks", "secrets"])["spec"]
    assert spec["excludedResources"] == ["helmreleases.helm.toolkit.fluxcd.io", "ks", "secrets"]
    for items, msg in ((["helm.toolkit.fluxcd.io/helmreleases"], "write 'helmreleases.helm.toolkit.fluxcd.io'"),
                       (["helmreleases.v2.helm.toolkit.fluxcd.io"], "without a version"),
                       (["*"], "cannot contain '\\*'"), (["hr,hr"], "listed twice")):
        with pytest.raises(UsageError, match=msg):
            m.restore(config, "r", "b", exclude_resources=items)


@pytest.mark.parametrize("excluded,left", [
    ([], ["helmreleases.helm.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"]),
    (["hr"], ["kustomizations.kustomize.toolkit.fluxcd.io"]),
    (["HelmRelease,kustomization"], []),
    (["*.fluxcd.io"], []),
    (["HR,KS"], ["helmreleases.helm.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"]),
])
def test_a_mapped_restore_warns_for_each_flux_applier_it_keeps(config, excluded, left):
    """A namespace restored under another name keeps its HelmRelease/Kustomization, whose spec still names the source
    (Velero rewrites metadata.namespace only: vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem), and
    Flux reconciles the copy at once. Whether an exclude item covers a kind is decided as Velero resolves it
    (names.resolved_resource: short names matched exactly, so HR is not hr). Without a mapping nothing is said."""
    spec = m.restore(config, "r", "b", ["a:b"], ["a"], exclude_resources=excluded)["spec"]
    said = [w for w in m.restore_warnings(spec) if "Flux objects" in w]
    if left:
        assert len(said) == 1 and f"--exclude-resources {','.join(left)}" in said[0], said
    else:
        assert said == []
    plain = m.restore(config, "r", "b", None, ["a"], exclude_resources=excluded)["spec"]
    assert not any("Flux objects" in w for w in m.restore_warnings(plain))


def test_restore_bad_names(config):
    with pytest.raises(UsageError, match="not a valid restore name"):
        m.restore(config, "R", "b")
    with pytest.raises(UsageError, match="--from-backup"):
        m.restore(config, "r", "Bad_Backup")


# ------------------------------------------------------------------------------------------------- YAML
def test_yaml_style(config):
    from velero_gitops.render.yamlfmt import roundtrip

    text = m.to_yaml(m.backup(config, "manual-1", ["monitoring", "database"]), config)
    lines = text.splitlines()
    assert lines[0] == "---"
    assert lines[1] == "# yaml-language-server: $schema=https://kubernetes-schemas.pages.dev/velero.io/backup_v1.json"
    assert [ln for ln in lines if not ln.startswith((" ", "#", "-"))] == ["apiVersion: velero.io/v1", "kind: Backup",
                                                                        "metadata:", "spec:"]
    assert "  includedNamespaces:\n    - monitoring\n    - database\n" in text
    assert text.endswith("\n") and "\t" not in text
    assert roundtrip(text) == text  # a YAML formatter leaves it alone


def test_yaml_without_schema_comment(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(BASE.format(ns="velero", fs="true", ttl="720h").replace("repo:\n", "repo:\n  schemaComments: false\n"))
    c = load(p).config
    assert m.to_yaml(m.restore(c, "r", "b"), c).startswith("---\napiVersion: velero.io/v1\n")


# --------------------------------------------------------------------------------------- strict schemas
def _validate(path: Path):
    # The project's validator (strict: unknown fields are errors) with the offline CRD bundle.
    from velero_gitops.validate.engine import Options, validate_paths

    return validate_paths([str(path)], Options(strict=True, flux=False, policy=False, kustomize="never"))


def test_manifests_validate_in_strict_mode(config, tmp_path):
    docs = [
        m.to_yaml(m.backup(config, "manual-1", ["monitoring", "database"], "48h"), config),
        m.to_yaml(m.backup(config, "all", ["*"]), config),
        m.to_yaml(m.restore(config, "r1", "manual-1", ["monitoring:monitoring-restore"], ["monitoring"]), config),
        m.to_yaml(m.restore(config, "r2", "manual-1"), config),
    ]
    f = tmp_path / "manifests.yaml"
    f.write_text("".join(docs))
    result = _validate(f)
    assert result.findings == [] and result.failed == 0 and result.passed == 4, result.findings


def test_strict_mode_would_catch_a_typo(config, tmp_path):
    """Proves the check above has teeth: an unknown field fails."""
    obj = m.backup(config, "b", ["a"])
    obj["spec"]["snapshotVolume"] = False
    f = tmp_path / "typo.yaml"
    f.write_text(m.to_yaml(obj))
    result = _validate(f)
    assert result.failed == 1 and any(x.pointer.endswith("/snapshotVolume") for x in result.findings)


def test_every_name_from_the_command_line_is_checked_and_not_echoed_whole(tmp_path):
    """A 5,000-digit namespace or name given to the manifest and disaster-recovery commands is refused as the API
    server refuses it (config/names.py: DNS-1123 label, 63 characters), exit 2, with the value cut short."""
    from velero_gitops.config import names

    from cli_util import run_cli

    cfg = tmp_path / "velero-gitops.yaml"
    cfg.write_text("cluster: lab\ns3:\n  endpoint: https://s3.example.org\n"
                   "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n    namespaces: [default]\n")
    big = "9" * 5000
    runs = {
        "backup name": ["backup-manifest", big, "--include-namespaces", "default"],
        "include": ["backup-manifest", "b", "--include-namespaces", big],
        "exclude": ["backup-manifest", "b", "--include-namespaces", "*", "--exclude-namespaces", big],
        "schedule": ["backup-manifest", "--from-schedule", big],
        "restore name": ["restore-manifest", big, "--from-backup", "b"],
        "from-backup": ["restore-manifest", "r", "--from-backup", big],
        "mapping": ["restore-manifest", "r", "--from-backup", "b", "--namespace-mapping", f"default:{big}"],
        "selector": ["backup-manifest", "b", "--include-namespaces", "default", "--selector", f"app={big}"],
        "exclude-resources": ["restore-manifest", "r", "--from-backup", "b", "--exclude-resources", f"a/{big}"],
        "dr": ["disaster-recovery", "--from-backup", big],
        "external": ["validate", "--external", f"Kustomization/{big}/x", str(tmp_path)],
        "repo-source": ["validate", "--repo-source", f"GitRepository/{big}/x", str(tmp_path)],
    }
    for what, args in runs.items():
        r = run_cli(*args, cwd=tmp_path)
        assert r.code == 2, (what, r.code, r.err[:300])
        assert "Traceback" not in r.err and len(r.err) < 1000 and "characters)" in r.err, (what, r.err[:300])
    assert names.dns_label_problem("a" * 63) is None  # the limit, not one below it
    r = run_cli("disaster-recovery", "--from-backup", "daily-20260101020000", cwd=tmp_path)
    assert r.code == 0 and "daily-20260101020000" in r.out, r.err


@pytest.mark.parametrize("selector", ["velero.io/exclude-from-backup=true", "velero.io/exclude-from-backup in (true)",
                                      "app=db,velero.io/exclude-from-backup==true"])
def test_backup_of_only_what_velero_skips_is_refused(config, selector):
    """Sub-case b15: Velero skips every item labelled velero.io/exclude-from-backup=true whatever the selector
    (vmware-tanzu/velero@v1.18.1:pkg/backup/item_backupper.go itemInclusionChecks): the backup would be empty."""
    from velero_gitops.config.names import EXCLUDE_FROM_BACKUP_LABEL

    with pytest.raises(UsageError, match=f"Velero skips every such item.*{EXCLUDE_FROM_BACKUP_LABEL}"):
        m.backup(config, "adhoc", ["database"], selector=selector)
    assert m.backup(config, "adhoc", ["database"], selector=f"{EXCLUDE_FROM_BACKUP_LABEL}!=true")
