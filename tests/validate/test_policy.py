"""Policy helpers: cron (robfig ParseStandard), Go durations, bucket names, s3Url."""

from __future__ import annotations

import pytest

from velero_gitops.validate.policy import bucket_problem, cron_problem, duration_problem, s3url_problem

from cli_util import velero_helmrelease


@pytest.mark.parametrize("expr", ["0 2 * * *", "*/15 * * * *", "0 0 1 jan *", "0 3 * * MON-FRI", "@daily", "@every 1h",
                                  "@every 1h30m", "CRON_TZ=Europe/Berlin 0 2 * * *", "0 0 ? * 0", "5,35 1-5/2 * * *", "@midnight"])
def test_valid_cron(expr):
    assert cron_problem(expr) is None


@pytest.mark.parametrize("expr,why", [("0 25 * * *", "hour"), ("0 2 * *", "5 fields"), ("0 0 0 * *", "day of month"),
                                      ("0 0 * 13 *", "month"), ("0 0 * * 7", "day of week"), ("@every 1d", "duration"),
                                      ("@often", "descriptor"), ("*/0 * * * *", "step"), ("0 2 * * * *", "5 fields"),
                                      ("", "empty")])
def test_invalid_cron(expr, why):
    assert why in (cron_problem(expr) or "")


@pytest.mark.parametrize("d", ["720h", "720h0m0s", "1h30m", "90s", "0", "1.5h", "300ms"])
def test_valid_duration(d):
    assert duration_problem(d) is None


@pytest.mark.parametrize("d", ["30d", "720", "1 hour", "h", 720])
def test_invalid_duration(d):
    assert duration_problem(d)


@pytest.mark.parametrize("b", ["velero-backups", "my.bucket.1", "abc"])
def test_valid_bucket(b):
    assert bucket_problem(b) is None


@pytest.mark.parametrize("b", ["Velero", "ab", "a" * 64, "-abc", "a..b", "192.168.1.1", "xn--abc", "b-s3alias", "bucket/path", "a_b"])
def test_invalid_bucket(b):
    assert bucket_problem(b)


def test_s3url():
    assert s3url_problem("https://s3.68cc.io", False, False) is None
    assert s3url_problem("https://s3.68cc.io:9000/", False, False) is None
    assert "plain http" in s3url_problem("http://s3.68cc.io", False, False)
    assert s3url_problem("http://s3.68cc.io", True, False) is None
    assert "path" in s3url_problem("https://s3.68cc.io/velero", False, False)
    assert s3url_problem("https://s3.68cc.io/velero", False, True) is None
    assert s3url_problem("s3.68cc.io", False, False)


HR_OLD_VELERO = velero_helmrelease("""\
image:
  tag: {tag}
nodeAgent:
  resources:
    limits:
      cpu: 500m
      memory: 512Mi
""", chart='{chart}')


@pytest.mark.parametrize("chart,tag,warned", [("8.7.2", "v1.16.2", True), ("12.1.0", "v1.18.2", False)])
def test_kopia_memory_warning_only_where_node_agent_copies(tmp_path, chart, tag, warned):
    """Before 1.17 kopia ran inside node-agent (a 512Mi limit risks OOM); from 1.17 data mover pods do the copy."""
    from velero_gitops.validate.engine import Options, validate_paths

    (tmp_path / "hr.yaml").write_text(HR_OLD_VELERO.format(chart=chart, tag=tag))
    res = validate_paths([str(tmp_path / "hr.yaml")], Options(repo_root=str(tmp_path), kustomize="never",
                                                             externals=["HelmRepository/velero/vmware-tanzu"]))
    memory = [f for f in res.findings if f.rule == "policy.node-agent" and f.severity == "warning"]
    assert bool(memory) is warned, res.findings
    if warned:
        assert memory[0].line == 22 and "OOM" in memory[0].message


BSL_WITH_CA = """\
apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata:
  name: default
  namespace: velero
spec:
  provider: aws
  objectStorage:
    bucket: velero-backups
    caCert: {ca}
  config:
    region: minio
    s3Url: https://s3.example.org
"""


@pytest.mark.parametrize("blocks,found", [
    (["CERTIFICATE"], False),
    (["CERTIFICATE", "PRIVATE KEY"], True),
    (["RSA PRIVATE KEY"], True),
    (["CERTIFICATE", "CERTIFICATE", "EC PRIVATE KEY"], True),
])
def test_private_key_in_ca_cert(tmp_path, blocks, found):
    """caCert is base64 PEM inside a plaintext object (vmware-tanzu/velero@v1.18.1:
    pkg/apis/velero/v1/backupstoragelocation_types.go ObjectStorageLocation.CACert): a key there is committed in
    clear, in a BackupStorageLocation and in the chart's configuration.backupStorageLocation[].caCert alike."""
    import base64

    from velero_gitops.validate.engine import Options, validate_paths

    pem = "".join(f"-----BEGIN {b}-----\nTUlJQg==\n-----END {b}-----\n" for b in blocks)
    ca = base64.b64encode(pem.encode()).decode()
    (tmp_path / "bsl.yaml").write_text(BSL_WITH_CA.format(ca=ca))
    hr = HR_OLD_VELERO.format(chart="12.1.0", tag="v1.18.2") + (
        "    configuration:\n      backupStorageLocation:\n        - name: default\n          provider: aws\n"
        f"          bucket: velero-backups\n          caCert: {ca}\n")
    (tmp_path / "hr.yaml").write_text(hr)
    res = validate_paths([str(tmp_path)], Options(repo_root=str(tmp_path), kustomize="never",
                                                  externals=["HelmRepository/velero/vmware-tanzu"]))
    hits = [f for f in res.findings if f.rule == "policy.ca-private-key"]
    assert len(hits) == (2 if found else 0), res.findings
    assert all(f.severity == "error" and "PRIVATE KEY" in f.message and ca not in f.message for f in hits)


def test_a_secret_made_of_flux_variables_holds_nothing_to_hide():
    """A Secret whose values hold Flux ${VAR} expressions gets its secret parts from postBuild substitution at apply
    time (seen in public repositories: `${VOLSYNC_RESTIC_REPOSITORY}/app`, `s3:https://${HOST}/${APP}`)."""
    from velero_gitops.validate.policy import holds_secret_data

    assert not holds_secret_data({"stringData": {"RESTIC_REPOSITORY": "${REPO}/tiddlywiki", "P": "${PASSWORD}",
                                                 "URL": "s3:https://${HOST}/${APP}"}})
    assert holds_secret_data({"stringData": {"RESTIC_REPOSITORY": "${REPO}/x", "RESTIC_PASSWORD": "hunter2"}})


def _findings(tmp_path, text: str):
    from velero_gitops.validate.engine import Options, validate_paths

    (tmp_path / "hr.yaml").write_text(text)
    return validate_paths([str(tmp_path / "hr.yaml")], Options(repo_root=str(tmp_path), kustomize="never",
                                                              externals=["HelmRepository/velero/vmware-tanzu"])).findings


def test_each_release_gets_the_rules_of_its_own_chart_version(tmp_path):
    """A chart 2.x release keeps its 2.x values (restic-era `configuration.provider`): no key of chart 12.x's set is
    held against it, only a warning that its chart is outside the table (config/compat.json)."""
    old = HR_OLD_VELERO.format(chart="2.32.6", tag="v1.9.7") + "    configuration:\n      provider: aws\n"
    found = _findings(tmp_path, old)
    assert not [f for f in found if f.rule in ("policy.values-keys", "policy.versions")], found
    assert [f for f in found if f.rule == "policy.chart-version" and f.severity == "warning"
            and "older than the charts velero-gitops knows" in f.message]


def test_value_the_pinned_chart_does_not_read_is_reported(tmp_path):
    """vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/values.yaml has nodeAgent.resources, not nodeAgent.resource."""
    text = HR_OLD_VELERO.format(chart="12.1.0", tag="v1.18.1").replace("      resources:", "      resource:")
    hits = [f for f in _findings(tmp_path, text) if f.rule == "policy.values-keys"]
    assert len(hits) == 1 and hits[0].pointer == "/spec/values/nodeAgent/resource" and hits[0].line == 19
    assert "did you mean 'resources'" in hits[0].message


def test_image_newer_than_the_charts_crds_is_an_error(tmp_path):
    """Chart 11.4.0 CRDs (vmware-tanzu/helm-charts@velero-11.4.0:charts/velero/crds/backups.yaml) lack 1.18's Queued;
    spec.upgrade.crds CreateReplace and upgradeCRDs false put exactly those CRDs on the cluster."""
    text = HR_OLD_VELERO.format(chart="11.4.0", tag="v1.18.1").replace(
        "  values:\n", "  upgrade:\n    crds: CreateReplace\n  values:\n    upgradeCRDs: false\n")
    hits = [f for f in _findings(tmp_path, text) if f.rule == "policy.versions"]
    assert hits and hits[0].pointer == "/spec/values/image/tag" and "Queued" in hits[0].message


def test_crds_that_never_upgrade_are_reported(tmp_path):
    """fluxcd/helm-controller@v1.6.3:internal/action/crds.go: no policy means Create, which never replaces a CRD;
    with the chart's Job off nothing upgrades them."""
    text = HR_OLD_VELERO.format(chart="12.1.0", tag="v1.18.1").replace("  values:\n", "  values:\n    upgradeCRDs: false\n")
    hits = [f for f in _findings(tmp_path, text) if f.rule == "policy.versions"]
    assert hits and "never replaces existing CRDs" in hits[0].message
    assert hits[0].severity == "warning"  # a Kustomization patch may set spec.upgrade.crds out of this file's sight


def test_privileged_fs_backup_on_a_velero_without_it(tmp_path):
    """Chart 11.1.1 ships Velero 1.17.0; privilegedFsBackup exists from vmware-tanzu/velero@v1.17.1:pkg/types/node_agent.go."""
    cm = ("    configMaps:\n      node-agent:\n        data:\n"
          "          node-agent-config.json: '{\"privilegedFsBackup\":true}'\n")
    for chart, tag, want in (("11.1.1", "v1.17.0", True), ("11.2.0", "v1.17.1", False)):
        text = HR_OLD_VELERO.format(chart=chart, tag=tag) + cm
        hits = [f for f in _findings(tmp_path, text) if f.rule == "policy.versions" and "privilegedFsBackup" in f.message]
        assert bool(hits) is want, hits
