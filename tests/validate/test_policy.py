"""Policy helpers: cron (robfig ParseStandard), Go durations, bucket names, s3Url."""

from __future__ import annotations

import base64

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from velero_gitops.validate.engine import Options, validate_paths
from velero_gitops.validate.policy import bucket_problem, cron_problem, duration_problem, s3url_problem

from cli_util import velero_helmrelease
from sops_fixtures import *  # noqa: F401,F403 - fixtures (sops_path, isolated_home)


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


@given(st.text(alphabet="[]:%@.abz019/?#\uff03 ", max_size=16).map(lambda t: "https://" + t))
@example("https://[::1")
@example("https://[zz]")
def test_a_hostile_s3url_is_a_finding_never_a_traceback(url):
    """s3url_problem parses with config/names.split_url, which turns urlsplit's ValueError (python/cpython@v3.11.7:
    Lib/urllib/parse.py: an unclosed '[', a bracketed host that is no IP address, a bad port) into a message."""
    problem = s3url_problem(url, False, False)
    assert problem is None or problem.startswith("s3Url")


@pytest.mark.parametrize("url", ["https://[::1", "https://[zz]", "https://s3:port"])
@pytest.mark.parametrize("where", ["bsl", "helmrelease"])
def test_a_url_urlsplit_refuses_is_reported_with_the_fix(tmp_path, url, where):
    """Attack 7 break 9: `s3Url: "https://[::1"` on a BackupStorageLocation or in a velero HelmRelease's values
    ended validate with a Python traceback; it is a policy.s3-https finding that says how to write it."""
    bsl = f"{{name: default, provider: aws, bucket: b, config: {{region: minio, s3Url: '{url}'}}}}"
    text = (velero_helmrelease(f"configuration:\n  backupStorageLocation:\n  - {bsl}\n") if where == "helmrelease"
            else "apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {name: default, namespace: velero}\n"
            f"spec:\n  provider: aws\n  objectStorage: {{bucket: b}}\n  config: {{region: minio, s3Url: '{url}'}}\n")
    (tmp_path / "v.yaml").write_text(text)
    found = [f for f in validate_paths([str(tmp_path / "v.yaml")], Options(kustomize="never")).findings
             if f.rule == "policy.s3-https"]
    assert len(found) == 1 and "https://host[:port]" in found[0].message


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
    assert holds_secret_data({"stringData": {"RESTIC_REPOSITORY": "s3:https://minio.lan/x", "RESTIC_PASSWORD": "hunter2"}})


def _flux_repo(tmp_path, post_build: str, secret_values: str):
    """A repository whose Flux Kustomization applies ./app with ``post_build``; app/ holds a Secret with
    ``secret_values`` and cluster-secrets, a Secret that the real sops encrypts (age, encrypted_regex)."""
    from velero_gitops.secrets import sops as sopslib

    from sops_fixtures import new_age_key

    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "ks.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n"
        "  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./app\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  decryption:\n    provider: sops\n"
        "    secretRef:\n      name: sops-age\n" + post_build)
    (root / "kustomization.yaml").write_text("resources: [ks.yaml, cluster-secrets.sops.yaml]\n")
    (root / "app/kustomization.yaml").write_text("resources: [secret.yaml]\n")
    (root / "app/secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-restic\n"
                                          "  namespace: default\nstringData:\n" + secret_values)
    key = new_age_key(tmp_path / "keys", "k")
    target = root / "cluster-secrets.sops.yaml"
    plain = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n  namespace: flux-system\n"
             "stringData:\n  SECRET_RESTIC_PASSWORD: correct-horse-battery\n")
    target.write_bytes(sopslib.encrypt(plain.encode(), target=target, cwd=root, config_file=None,
                                       recipients=[key.public], secrets=["correct-horse-battery"]))
    return validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))


FROM_ENCRYPTED = "  postBuild:\n    substitute:\n      APP: app\n    substituteFrom:\n      - kind: Secret\n" \
                 "        name: cluster-secrets\n"


@pytest.mark.parametrize("post_build,values,flagged", [
    # the secret part comes from the encrypted Secret at apply time; the repository URL is written next to it
    (FROM_ENCRYPTED, "  RESTIC_REPOSITORY: s3:http://minio.storage.svc:9000/restic/${APP}\n"
                     "  RESTIC_PASSWORD: ${SECRET_RESTIC_PASSWORD}\n", False),
    (FROM_ENCRYPTED, "  DRIVER: cloudflare\n  TOKEN: ${SECRET_RESTIC_PASSWORD}\n", False),
    # every value is in the repository in clear: the one variable is substituted from postBuild.substitute
    (FROM_ENCRYPTED, "  RESTIC_REPOSITORY: s3:http://minio.storage.svc:9000/restic/${APP}\n"
                     "  RESTIC_PASSWORD: hunter2\n", True),
    ("  postBuild:\n    substitute:\n      APP: app\n      SECRET_RESTIC_PASSWORD: hunter2\n",
     "  RESTIC_REPOSITORY: s3:http://minio.storage.svc:9000/restic/${APP}\n"
     "  RESTIC_PASSWORD: ${SECRET_RESTIC_PASSWORD}\n", True),
])
def test_a_secret_in_clear_is_one_whose_every_value_the_repository_shows(tmp_path, sops_path, post_build, values,
                                                                        flagged):
    """secret.unencrypted reports a secret in clear in Git: a Secret whose values are all written in the repository.
    Flux substitutes postBuild variables into the built object at apply time (fluxcd/pkg@kustomize/v1.35.4:
    kustomize/kustomize_varsub.go, from the substituteFrom Secrets that fluxcd/kustomize-controller@v1.9.4:
    internal/controller/kustomization_controller.go decrypts): a value drawn from an encrypted Secret is not in the
    repository, and the author of a Secret that draws one chose which values to write beside it. A variable that
    postBuild.substitute sets is written in the repository: substituted, the Secret is plaintext."""
    res = _flux_repo(tmp_path, post_build, values)
    hits = [f for f in res.findings if f.rule == "secret.unencrypted"]
    assert [f.obj for f in hits] == (["Secret/default/app-restic"] if flagged else []), res.findings
    assert "correct-horse-battery" not in str(res.findings) and "hunter2" not in str(res.findings)


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


CHART_2 = HR_OLD_VELERO.format(chart="2.32.6", tag="v1.9.7").replace("    nodeAgent:\n", "    restic:\n") + """\
    deployRestic: true
    configuration:
      provider: aws
      backupStorageLocation:
        name: default
        bucket: {bucket}
        config:
          region: minio
          s3Url: {url}
"""


@pytest.mark.parametrize("chart", ["2.32.6", "3.1.6"])
def test_a_chart_before_the_list_of_locations_is_judged_in_its_own_shape(tmp_path, chart):
    """Class G (issue 19): a chart 2.x or 3.x release reads one BackupStorageLocation from a map, and a chart 2.x one
    restic's deployRestic (vmware-tanzu/helm-charts@velero-2.32.6:charts/velero/values.yaml; the list from
    velero-4.0.0:charts/velero/templates/backupstoragelocation.yaml, node-agent from velero-3.0.0, both derived
    into config/compat.json valueShapes). Neither is held against it; what its map holds is still checked, and
    it gets the one plain warning that its chart is older than the charts whose values are known."""
    text = CHART_2.replace("2.32.6", chart)
    if chart.startswith("3."):
        text = text.replace("    restic:\n", "    nodeAgent:\n").replace("deployRestic", "deployNodeAgent").replace("512Mi", "400Mi")
    found = _findings(tmp_path, text.format(bucket="velero", url="https://minio.lan:9000"))
    assert [f for f in found if f.severity == "error"] == [], found
    (old,) = [f for f in found if f.rule == "policy.chart-version"]
    assert old.severity == "warning" and f"chart {chart} is older than the charts velero-gitops knows" in old.message
    if chart.startswith("2."):
        assert [(f.rule, f.severity) for f in found] == [("policy.chart-version", "warning")], found
    bad = _findings(tmp_path, text.format(bucket="Velero_B", url="http://minio.lan:9000"))
    assert sorted((f.rule, f.pointer) for f in bad if f.severity == "error") == [
        ("policy.bucket", "/spec/values/configuration/backupStorageLocation/bucket"),
        ("policy.s3-https", "/spec/values/configuration/backupStorageLocation/config/s3Url")]


def test_a_map_of_locations_is_refused_from_the_chart_that_ranges_over_a_list(tmp_path):
    """From chart 4.0.0 the template renders a BackupStorageLocation per list item, none from a map."""
    text = CHART_2.replace("2.32.6", "12.1.0").replace("v1.9.7", "v1.18.2").replace("    deployRestic: true\n", "")
    found = _findings(tmp_path, text.format(bucket="velero", url="https://minio.lan:9000"))
    hits = [f for f in found if f.rule == "policy.values"]
    assert len(hits) == 1 and "must be a list for chart 12.1.0" in hits[0].message, found


def test_values_flux_fills_at_apply_time_are_not_judged(tmp_path):
    """A `${VAR}` that the graph could not substitute is filled at apply time from a source Git does not show
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go substitutes the built object), so bucket, s3Url, cron
    and ttl rules have no value to judge; the same values written out are judged (a held-out repository's
    `bucket: ${VELERO_B2_BUCKET}` was reported as an invalid bucket name)."""
    doc = ("apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata: {name: default, namespace: velero}\n"
           "spec:\n  provider: aws\n  objectStorage: {bucket: '%s'}\n  config: {region: eu, s3Url: '%s'}\n---\n"
           "apiVersion: velero.io/v1\nkind: Schedule\nmetadata: {name: daily, namespace: velero}\n"
           "spec:\n  schedule: '%s'\n  template: {ttl: '%s'}\n")
    (tmp_path / "v.yaml").write_text(doc % ("${BUCKET}", "${S3_URL}", "${CRON}", "${TTL:=720h}"))
    assert validate_paths([tmp_path / "v.yaml"], Options()).findings == []
    (tmp_path / "v.yaml").write_text(doc % ("Bad_Bucket", "http://minio:9000", "every day", "a month"))
    rules = sorted(f.rule for f in validate_paths([tmp_path / "v.yaml"], Options()).findings)
    assert rules == ["policy.bucket", "policy.cron", "policy.s3-https", "policy.ttl"]


def test_sops_metadata_does_not_shield_values_in_clear():
    """Probe 22/22b: a Secret with a `sops:` block whose encrypted_regex names nothing keeps every value in clear
    (getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted); the metadata is the file's own word, so the rule judges
    the values: one sops-encrypted value (aes/cipher.go encre) is enough, as with class F (issue 19)."""
    from velero_gitops.validate.policy import holds_secret_data

    enc = "ENC[AES256_GCM,data:abc=,iv:abc=,tag:abc=,type:str]"
    base = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "sops": {"mac": enc, "lastmodified": "2026-01-01T00:00:00Z", "encrypted_regex": "^nothing$"}}
    assert holds_secret_data({**base, "stringData": {"password": "hunter2"}})
    assert not holds_secret_data({**base, "stringData": {"username": "admin", "password": enc}})
    assert not holds_secret_data({**base, "data": {"password": enc}})
    assert holds_secret_data({**base, "stringData": {"password": "ENC[AES256_GCM,not sops]"}})


def test_a_value_a_sops_file_leaves_in_clear_is_a_plaintext_secret(tmp_path):
    """Attack 7 break 8: sops encrypts only what the file's own rule names (getsops/sops@v3.10.2:sops.go
    Tree.shouldBeEncrypted), so `encrypted_regex: ^data$` leaves stringData in clear and Flux applies it as written.
    Each clear value that may be a credential is reported on its line; ciphertext, locators and `${VAR}` are not."""
    from velero_gitops.validate.policy import clear_values

    enc = "ENC[AES256_GCM,data:abc=,iv:abc=,tag:abc=,type:str]"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    assert clear_values({**secret, "data": {"t": enc}, "stringData": {"password": "hunter2", "url": "https://h",
                                                                      "v": "${VAR}", "e": ""}}) == ["/stringData/password"]
    assert clear_values({**secret, "data": {"t": enc}, "stringData": {"p": enc}}) == []
    meta = (f"sops:\n  mac: {enc}\n  lastmodified: '2026-01-01T00:00:00Z'\n  encrypted_regex: ^data$\n"
            "  age:\n  - recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n")
    (tmp_path / "s.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: d}\n"
                                     f"data:\n  t: {enc}\nstringData:\n  password: hunter2\n" + meta)
    found = [f for f in validate_paths([str(tmp_path / "s.yaml")], Options(kustomize="never")).findings
             if f.rule == "secret.unencrypted"]
    assert [(f.line, f.pointer) for f in found] == [(7, "/stringData/password")], found
    assert "hunter2" not in found[0].message


def test_a_vals_reference_is_kept_elsewhere():
    """helmfile/vals references (ref+<backend>://...) name a secret that `vals eval` fetches: not in Git (seen on an
    unseen repository's bootstrap Secret once check scanned the whole repository)."""
    from velero_gitops.validate.policy import holds_secret_data

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    assert not holds_secret_data({**secret, "data": {"token": "ref+op://Home-Lab/1password/OP_CONNECT_TOKEN"}})
    assert not holds_secret_data({**secret, "stringData": {"t": "ref+vault://secret/data/x#/token"}})
    assert holds_secret_data({**secret, "stringData": {"t": "ref+op is not a reference"}})


def test_validate_reports_a_sops_file_that_encrypts_nothing(tmp_path, sops_path):
    """The real sops binary, `--encrypted-regex '^nothing$'`: genuine metadata, every value in clear."""
    import subprocess

    from sops_fixtures import TEST_RECIPIENT

    plain = tmp_path / "plain.yaml"
    plain.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: x}\nstringData: {password: hunter2}\n")
    done = subprocess.run([sops_path, "--config", "/dev/null", "encrypt", "--age", TEST_RECIPIENT, "--encrypted-regex",
                           "^nothing$", str(plain)], capture_output=True, check=True)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "creds.sops.yaml").write_bytes(done.stdout)
    found = validate_paths([str(tree)], Options(kustomize="never", repo_root=str(tree)))
    assert [(f.rule, f.obj) for f in found.findings] == [("secret.unencrypted", "Secret/x/creds")], found.findings


_SCHEME = st.from_regex(r"[A-Za-z][A-Za-z0-9+.-]{0,15}", fullmatch=True)
_SEGMENT = st.from_regex(r"[A-Za-z0-9._~-]{1,20}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(scheme=_SCHEME, host=_SEGMENT, path=st.lists(_SEGMENT, max_size=4), user=st.one_of(st.none(), _SEGMENT))
def test_a_locator_of_any_scheme_shows_no_credential(scheme, host, path, user):
    """A value that is only an absolute URI (RFC 3986 3.1 scheme, "//" authority) names where a secret is kept, whatever
    the store: shelken/home-ops' bootstrap Secrets hold `azure://vault/item/key` only, a 1Password one `op://...`. No
    list of stores decides it: any scheme passes, with or without a user name."""
    from velero_gitops.validate.policy import holds_secret_data

    value = f"{scheme}://{user + '@' if user else ''}{host}/{'/'.join(path)}"
    assert not holds_secret_data({"stringData": {"ClientSecret": value}}), value
    assert not holds_secret_data({"data": {"k": base64.b64encode(value.encode()).decode()}}), value


@settings(max_examples=200, deadline=None)
@given(scheme=_SCHEME, host=_SEGMENT, user=_SEGMENT, password=st.from_regex(r"[A-Za-z0-9!$&'()*+,;=._~-]{1,24}",
                                                                           fullmatch=True))
def test_a_uri_with_a_password_in_its_userinfo_is_a_credential(scheme, host, user, password):
    """`user:password@` in a URI's userinfo (RFC 3986 3.2.1) shows the password: such a value is a secret in clear."""
    from velero_gitops.validate.policy import holds_secret_data

    value = f"{scheme}://{user}:{password}@{host}/db"
    assert holds_secret_data({"stringData": {"DSN": value}}), value


def test_a_locator_beside_a_password_in_clear_still_shows_the_password():
    """A locator is no credential, but it does not excuse the values next to it (unlike a `${VAR}`, which the author
    keeps out of Git): an endpoint next to a plain password is reported."""
    from velero_gitops.validate.policy import holds_secret_data

    assert holds_secret_data({"stringData": {"url": "https://grafana.lan", "password": "hunter2"}})
    assert holds_secret_data({"stringData": {"token": "op://vault/item/field", "password": "hunter2"}})
    assert holds_secret_data({"stringData": {"auth": "admin:hunter2"}})  # a scheme without "//" is no locator
    assert not holds_secret_data({"stringData": {"token": "op://Automation/1password connect/token"}})


_WORD = st.from_regex(r"[A-Za-z0-9._~-]{1,20}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(scheme=_SCHEME, path=st.lists(_SEGMENT, min_size=2, max_size=5), key=_WORD, version=st.one_of(st.none(), _WORD),
       plain=st.lists(st.sampled_from(["/repository", "filesystem:///repository", "hunter2"]), max_size=2))
def test_a_reference_an_admission_webhook_resolves_keeps_the_secret_out(scheme, path, key, version, plain):
    """bank-vaults' mutating webhook rewrites every `vault:<path>#<key>[#<version>]` value of a Secret before it is
    stored (bank-vaults/vault-secrets-webhook@v1.23.1:pkg/webhook/secret.go secretNeedsMutation, mutateSecretData;
    bank-vaults/vault-sdk@v0.12.0:injector/vault/injector.go splits at "#" into path, key, version): like a `${VAR}`,
    the author chose value by value what stays in the file (`/repository` next to the references, seen on an unseen
    repository). Decided by the reference's shape (scheme, store path, key), not by the scheme's name."""
    from velero_gitops.validate.policy import holds_secret_data

    value = f"{scheme}:{'/'.join(path)}#{key}" + (f"#{version}" if version else "")
    others = {f"p{i}": v for i, v in enumerate(plain)}
    assert not holds_secret_data({"stringData": {"AWS_SECRET_ACCESS_KEY": value, **others}}), value
    assert not holds_secret_data({"data": {"priv": base64.b64encode(value.encode()).decode()}}), value


@settings(max_examples=200, deadline=None)
@given(user=_WORD.filter(lambda w: w[0].isalpha()),
       password=st.from_regex(r"[A-Za-z0-9!$&'()*+,;=.~:-]{1,24}", fullmatch=True), blob=st.binary(min_size=1))
@example(user="user", password="password", blob=b"\xff\xd8\xff")
@example(user="admin", password="hunter2", blob=b"x")
@example(user="Summer2024", password="Secret!", blob=b"x")
@example(user="AKIAIOSFODNN7EXAMPLE", password="xyz", blob=b"x")
def test_a_user_password_pair_or_a_blob_is_no_reference(user, password, blob):
    """`user:password` parses as an RFC 3986 scheme and path, but names no store path and no key: still a credential
    in clear; so is a base64 blob (its alphabet has no ":" or "#"), in `data` or `stringData`."""
    from velero_gitops.validate.policy import holds_secret_data

    assert holds_secret_data({"stringData": {"auth": f"{user}:{password}"}}), (user, password)
    assert holds_secret_data({"data": {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}})
    assert holds_secret_data({"stringData": {"key": base64.b64encode(blob).decode()}}), blob
    assert holds_secret_data({"stringData": {"p": "vault:login"}})  # the webhook's token pass-through, not a reference


def test_validate_passes_a_secret_of_webhook_references(tmp_path):
    """End to end: the shape seen on an unseen repository (references and plain paths only) is no finding; the same
    Secret with a password in clear instead of a reference is."""
    tree = tmp_path / "tree"
    tree.mkdir()
    head = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: kopia\n  namespace: x\n  annotations:\n"
            "    vault.security.banzaicloud.io/mutate: \"true\"\nstringData:\n  KOPIA_REPOSITORY: filesystem:///repository\n"
            "  REPOSITORY_PATH: /repository\n")
    (tree / "kopia.yaml").write_text(head + "  AWS_SECRET_ACCESS_KEY: vault:secret/data/cloudflare#AWS_SECRET_ACCESS_KEY\n")
    found = validate_paths([str(tree)], Options(kustomize="never", repo_root=str(tree)))
    assert not [f for f in found.findings if f.rule == "secret.unencrypted"], found.findings
    (tree / "kopia.yaml").write_text(head + "  AWS_SECRET_ACCESS_KEY: Summer2024:Secret!\n")
    found = validate_paths([str(tree)], Options(kustomize="never", repo_root=str(tree)))
    assert [(f.rule, f.obj) for f in found.findings if f.rule == "secret.unencrypted"] == [
        ("secret.unencrypted", "Secret/x/kopia")], found.findings


def _home_lab_with_app_patches(tmp_path, patches: list):
    """A copy of the home-lab example whose `velero` Flux Kustomization carries ``patches`` (spec.patches)."""
    import shutil

    import yaml

    from cli_util import EXAMPLE

    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    ks = root / "kubernetes/apps/velero/velero/ks.yaml"
    docs = [d for d in yaml.safe_load_all(ks.read_text()) if d]
    for d in docs:
        if d["metadata"]["name"] == "velero":
            d["spec"]["patches"] = patches
    ks.write_text(yaml.safe_dump_all(docs))
    return root


def test_policy_judges_what_flux_applies_not_only_the_file(tmp_path):
    """kustomize-controller@v1.9.4 internal/controller/kustomization_controller.go builds the path with the Flux
    Kustomization's spec.patches (fluxcd/pkg@kustomize/v1.35.4 kustomize/kustomize_generator.go adds them to the
    generated kustomization) and applies the result: a patch that turns the file's https s3Url into http, and adds
    insecureSkipTLSVerify, is what the cluster gets. From an attacker's probe that had not seen the fix."""
    from cli_util import require_kubectl

    require_kubectl()
    base = "/spec/values/configuration/backupStorageLocation/0/config"
    root = _home_lab_with_app_patches(tmp_path, [{"target": {"kind": "HelmRelease", "name": "velero"}, "patch": (
        f'[{{"op": "replace", "path": "{base}/s3Url", "value": "http://attacker.example:9000"}},'
        f' {{"op": "add", "path": "{base}/insecureSkipTLSVerify", "value": "true"}}]')}])
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="auto", cache_dir=str(tmp_path / "c"),
                                              externals=["Kustomization/flux-system/openebs"]))
    got = sorted((f.rule, f.file.split("repo/")[-1]) for f in res.findings if f.rule.startswith("policy."))
    assert got == [("policy.insecure-tls", "kubernetes/apps/velero/velero/app/helmrelease.yaml"),
                   ("policy.s3-https", "kubernetes/apps/velero/velero/app/helmrelease.yaml")], res.findings
    # the value judged is the patched one (the graph applies the Kustomization's patches, validate/resolve.py)
    assert any("http://attacker.example:9000" in f.message for f in res.findings if f.rule == "policy.s3-https")
    clean = _home_lab_with_app_patches(tmp_path / "clean", [])
    res = validate_paths([str(clean)], Options(repo_root=str(clean), kustomize="auto", cache_dir=str(tmp_path / "c"),
                                               externals=["Kustomization/flux-system/openebs"]))
    assert not [f for f in res.findings if f.rule.startswith("policy.")]


@pytest.mark.parametrize("opted_out", [True, False])
def test_an_expression_flux_does_not_substitute_is_judged_as_written(tmp_path, opted_out):
    """fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go skips an object annotated
    `kustomize.toolkit.fluxcd.io/substitute: disabled`: its `${S3_URL}` reaches Velero as written, which is no URL.
    Without the annotation the value is filled at apply time from a source Git may not show: not judged."""
    text = velero_helmrelease("configuration:\n  backupStorageLocation:\n    - name: default\n      provider: aws\n"
                              "      bucket: velero\n      config:\n        s3Url: ${S3_URL}\n")
    if opted_out:
        text = text.replace("metadata:\n", "metadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n", 1)
    found = [f for f in _findings(tmp_path, text) if f.rule == "policy.s3-https"]
    assert bool(found) is opted_out
    assert all("applied as written" in f.message for f in found)


def test_a_secret_filled_by_a_template_shows_no_credential():
    """A Helm chart's templates/secret.yaml (Go text/template actions, `{{ ... }}`) is filled when helm renders it
    (helm@v3 pkg/engine/engine.go): its values come from inputs the file does not show. From a held-out repository:
    `HCLOUD_CLUSTER_CONFIG: {{- tpl (toYaml $.Values.config) $ | ... }}`. A literal value beside it still counts."""
    from velero_gitops.validate.policy import holds_secret_data

    tpl = "{{- tpl (toYaml $.Values.config) $ | fromYaml | toJson | b64enc | nindent 4 }}\n"
    assert not holds_secret_data({"stringData": {"HCLOUD_CLUSTER_CONFIG": tpl}})
    assert not holds_secret_data({"stringData": {"password": "{{ .Values.password }}", "user": "admin"}})
    assert holds_secret_data({"stringData": {"password": "hunter2", "user": "admin"}})


def test_a_velero_nobody_rendered_is_held_to_the_policy_and_told_how_to_state_another(tmp_path):
    """validate lints any tree (docs/validation.md): a Velero installed by hand (3nm1's HelmRelease with plain-http
    in-cluster MinIO and a 512Mi node-agent) gets the same HTTPS-only and budget findings as a rendered one, and the
    message says it is velero-gitops policy and names the flag that states another; with the flags, nothing."""
    bsl = ("apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata:\n  name: default\n  namespace: velero\n"
           "spec:\n  provider: aws\n  objectStorage:\n    bucket: velero\n  config:\n    region: minio\n"
           "    s3Url: http://minio-backup.storage.svc.cluster.local:9000\n")
    hr = velero_helmrelease("nodeAgent:\n  resources:\n    limits:\n      memory: 512Mi\n")
    (tmp_path / "bsl.yaml").write_text(bsl)
    (tmp_path / "hr.yaml").write_text(hr)

    def found(**kw):
        res = validate_paths([str(tmp_path)], Options(repo_root=str(tmp_path), kustomize="never", ignore_missing_schemas=True,
                                                      externals=["HelmRepository/velero/vmware-tanzu"], **kw))
        return {f.rule: f.message for f in res.findings if f.rule in ("policy.s3-https", "policy.node-agent")
                and f.severity == "error"}

    got = found()
    assert "velero-gitops policy" in got["policy.s3-https"] and "--allow-http-s3" in got["policy.s3-https"], got
    assert "velero-gitops policy" in got["policy.node-agent"] and "--node-agent-memory-limit" in got["policy.node-agent"]
    assert found(allow_http_s3=True, node_agent_memory_limit="1Gi") == {}


@pytest.mark.parametrize("value", [
    "ENC[AES256_GCM,data:" + ",iv:,tag:,type:" * 3000,  # four greedy .+ under Python re: polynomial backtracking
    "{{" * 60000,  # a lazy .*? with no closing }}: quadratic under Python re
])
def test_secret_value_rules_run_in_linear_time(value):
    """/work/attack3/repro/13: a few KB Secret value kept `check` busy for minutes. The sops-ciphertext and
    template rules run as Go's regexp (RE2: linear, as getsops/sops@v3.10.2:aes/cipher.go encre is); CPU-bounded."""
    from velero_gitops.validate.policy import holds_secret_data

    from cli_util import cpu_budget

    with cpu_budget(2):
        assert holds_secret_data({"stringData": {"password": value}})


def test_ciphertext_and_templates_are_still_recognised():
    from velero_gitops.validate.policy import holds_secret_data

    enc = "ENC[AES256_GCM,data:AAAA,iv:AAAA=,tag:AAAA==,type:str]"
    assert not holds_secret_data({"stringData": {"password": enc}})
    assert not holds_secret_data({"stringData": {"password": "x {{ .Values.p\n }}"}})
    assert holds_secret_data({"stringData": {"password": enc + "x"}})


def _rendered_objects() -> list[dict]:
    import yaml

    from cli_util import REPO

    out = []
    for f in sorted((REPO / "clusters" / "home-lab" / "kubernetes").rglob("*.yaml")):
        if "sops" not in f.name:
            out += [d for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict) and "kind" in d]
    return out


def _paths(node, pre=()):
    yield pre
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*pre, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*pre, i))


_RENDERED = _rendered_objects()
_MUTANT_PATHS = [(i, p) for i, d in enumerate(_RENDERED) for p in _paths(d) if p]
_ANY_YAML = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(allow_nan=False, width=32),
                      st.text(max_size=5), st.just([]), st.just({}), st.just(["x"]), st.just({"a": "b"}), st.just([1]),
                      st.just("${VAR}"))


_HR = next(i for i, d in enumerate(_RENDERED) if d["kind"] == "HelmRelease")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_MUTANT_PATHS), _ANY_YAML)
@example((_HR, ("spec", "values", "initContainers")), 1)
@example((_HR, ("spec",)), 1)
def test_policy_reads_any_field_of_a_rendered_object_of_any_type(where, value):
    """/work/attack3/repro/12, 19: ``values.initContainers: 1`` raised a TypeError in the policy rules. Every field of
    the objects we render (HelmRelease values, Velero objects, Flux objects), set to a value of any YAML type: the
    rules read through typed accessors (documents.mapping/sequence), so no exception."""
    import copy

    from velero_gitops.validate import policy
    from velero_gitops.validate.documents import Obj

    i, path = where
    data = copy.deepcopy(_RENDERED[i])
    node = data
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    policy.check([Obj(file="x.yaml", path=None, index=0, data=data, line=1)], Options())


@pytest.mark.parametrize("encrypted", [True, False])
def test_a_generator_from_an_env_file_sops_encrypted_by_key_keeps_its_secrets_out(tmp_path, sops_path, encrypted):
    """A secretGenerator reading a dotenv file that the real sops encrypted with an encrypted_regex: the tokens are
    ciphertext, the settings beside them in clear. kustomize-controller decrypts the file before the build
    (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go decryptKustomizationSources, the
    `sops_mac=ENC[` marker), so Git shows no credential; the built Secret holds each line base64-encoded in `data`,
    where the ciphertext must still be seen. The same file in clear is reported (a fresh repository, vaskozl)."""
    import subprocess

    from cli_util import git, require_kubectl
    from sops_fixtures import TEST_RECIPIENT

    require_kubectl()
    tree = tmp_path / "tree"
    tree.mkdir()
    git(tree, "init", "-q")
    plain = "DISABLE_AUTOUPDATER=1\nBASE_URL=https://app.example.org\nGITLAB_TOKEN=glpat-SUPERSECRETv\n"
    env = tree / "app.enc.env"
    if encrypted:
        src = tmp_path / "app.env"
        src.write_text(plain)
        env.write_bytes(subprocess.run(
            [sops_path, "--config", "/dev/null", "encrypt", "--age", TEST_RECIPIENT, "--encrypted-regex", "TOKEN",
             "--input-type", "dotenv", "--output-type", "dotenv", str(src)], capture_output=True, check=True).stdout)
        assert "DISABLE_AUTOUPDATER=1" in env.read_text() and "SUPERSECRET" not in env.read_text()
    else:
        env.write_text(plain)
    (tree / "kustomization.yaml").write_text("secretGenerator:\n  - name: app-env\n    envs:\n      - app.enc.env\n")
    found = validate_paths([str(tree)], Options(kustomize="always", kustomize_cache=False, repo_root=str(tree)))
    assert [f.rule for f in found.findings] == ([] if encrypted else ["secret.unencrypted"]), found.findings


def test_a_secret_in_clear_that_holds_no_credential_is_still_a_secret_in_clear(tmp_path):
    """The decision on a disputed class (Grafana OAuth settings in a plaintext Secret, without the client secret,
    on a fresh repository): secret.unencrypted judges the kind, as requirements.md promises ("check fails on any
    unencrypted Secret"), because a value's text cannot tell a password from a setting; a client id is no secret
    (RFC 6749 2.2) but so reads a token. What holds no credential belongs in a ConfigMap, Kubernetes' object for
    non-confidential data, and the message says so; the values known to hold none (locators) stay exempt."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "grafana.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: grafana-oauth\n  namespace: o11y\nstringData:\n"
        "  GF_AUTH_GENERIC_OAUTH_CLIENT_ID: grafana\n  GF_AUTH_GENERIC_OAUTH_SCOPES: openid profile email\n"
        "  GF_AUTH_GENERIC_OAUTH_AUTH_URL: https://auth.example.org/authorize\n")
    found = validate_paths([str(tree)], Options(kustomize="never", repo_root=str(tree)))
    assert [(f.rule, f.severity) for f in found.findings] == [("secret.unencrypted", "error")], found.findings
    assert "ConfigMap" in found.findings[0].message
    (tree / "grafana.yaml").write_text((tree / "grafana.yaml").read_text().replace("kind: Secret", "kind: ConfigMap")
                                       .replace("stringData:", "data:"))
    assert validate_paths([str(tree)], Options(kustomize="never", repo_root=str(tree))).findings == []


@pytest.mark.parametrize("plaintext_secrets", [True, False])
def test_a_secret_in_a_releases_extra_objects_is_judged_as_the_object_it_becomes(tmp_path, plaintext_secrets):
    """Attack 7 break 2: the velero chart applies each item of extraObjects as a manifest
    (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/extra-manifests.yaml; compat.json objectValues),
    so a Secret there in clear is secret.unencrypted, in validate and in check (plaintext_secrets off: secret_check
    reads Secret files, never values), without its value; one made of sops ciphertext is not."""
    enc = "ENC[AES256_GCM,data:abc=,iv:abc=,tag:abc=,type:str]"
    objects = ("extraObjects:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: b}}\n"
               "- {apiVersion: v1, kind: Secret, metadata: {name: s}, stringData: {password: RENDERLEAK1}}\n"
               f"- {{apiVersion: v1, kind: Secret, metadata: {{name: t}}, stringData: {{password: '{enc}'}}}}\n")
    (tmp_path / "hr.yaml").write_text(velero_helmrelease(objects))
    found = [f for f in validate_paths([str(tmp_path / "hr.yaml")], Options(
        kustomize="never", plaintext_secrets=plaintext_secrets)).findings if f.rule == "secret.unencrypted"]
    assert [f.pointer for f in found] == ["/spec/values/extraObjects/1"], found
    assert "RENDERLEAK1" not in found[0].message and "encrypt-secret" in found[0].message


def test_an_extra_object_that_may_become_a_secret_is_reported_like_one(tmp_path):
    """Attack 8 break 1 (variant C): the chart writes each extraObjects item through `tpl (toYaml .)`
    (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/extra-manifests.yaml) and helm's client flattens
    a List (helm/helm@v3.17.3:pkg/kube/client.go Build): a templated kind, a List holding a Secret and a template
    action in any field are judged by the config's own rule (compat.possible_secret), a literal ConfigMap is not."""
    objects = ("extraObjects:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: b}}\n"
               "- {apiVersion: v1, kind: '{{ print \"Sec\" \"ret\" }}', metadata: {name: s}, stringData: {p: TPLLEAK1}}\n"
               "- {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Secret, stringData: {p: TPLLEAK1}}]}\n"
               "- {apiVersion: v1, kind: ConfigMap, metadata: {name: '{{ \"d\" }}'}, data: {a: TPLLEAK1}}\n")
    (tmp_path / "hr.yaml").write_text(velero_helmrelease(objects))
    found = [f for f in validate_paths([str(tmp_path / "hr.yaml")], Options(kustomize="never")).findings
             if f.rule == "secret.unencrypted"]
    assert [f.pointer for f in found] == [f"/spec/values/extraObjects/{i}" for i in (1, 2, 3)], found
    assert not any("TPLLEAK1" in f.message for f in found)

