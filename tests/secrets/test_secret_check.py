"""check_tree: the encrypted credentials Secret and "no plaintext Secret", without any private key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from velero_gitops.config.loader import load
from velero_gitops.secrets import credentials
from velero_gitops.secrets import sops as sopslib
from velero_gitops.secrets.secret_check import check_tree, encryption_problems, inspect_secret

from cli_util import REPO
from sops_fixtures import *  # noqa: F401,F403 - fixtures
from sops_fixtures import TEST_KEY_FILE, TEST_RECIPIENT, new_age_key, sops_yaml

EXAMPLES = [p for p in sorted((REPO / "clusters").glob("*/velero-gitops.yaml"))]
SECRET_REL = "kubernetes/apps/velero/velero/app/secret.sops.yaml"
PLAINTEXT_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: grafana-admin
  namespace: monitoring
stringData:
  password: hunter2hunter2
"""


def errors(findings):
    return [f for f in findings if f.severity == "error"]


def rules(findings):
    return sorted({f.rule for f in findings})


# ------------------------------------------------------------------------------------ committed example
def test_home_lab_example_secret_passes():
    loaded = load(REPO / "clusters/home-lab/velero-gitops.yaml")
    assert (loaded.repo_root / SECRET_REL).is_file()
    assert check_tree(loaded.repo_root, loaded.config) == []


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_has_a_secret_that_passes(config):
    from velero_gitops.render.layout import Layout

    loaded = load(config)
    target = loaded.repo_root / Layout.of(loaded.config).secret_file
    assert target.is_file(), f"{config.parent.name} has no encrypted secret: encrypt-secret, and commit it"
    assert errors(check_tree(loaded.repo_root, loaded.config)) == []


def test_home_lab_example_decrypts_with_the_test_key(monkeypatch, sops_path):
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_KEY_FILE))
    doc = sopslib.decrypt_secret(REPO / "clusters/home-lab" / SECRET_REL)
    assert doc["metadata"] == {"name": "velero-s3-secret", "namespace": "velero"}
    creds = credentials.parse_cloud(doc["stringData"]["cloud"])
    assert creds.access_key_id == "VELEROGITOPSEXAMPLE0"  # fake, for the example only


@pytest.fixture
def home_lab(tmp_path) -> Path:
    dst = tmp_path / "home-lab"
    shutil.copytree(REPO / "clusters/home-lab", dst)
    return dst


def test_plaintext_secret_dropped_into_the_tree_fails(home_lab):
    drop = home_lab / "kubernetes/apps/monitoring/grafana/app/secret.yaml"
    drop.parent.mkdir(parents=True)
    drop.write_text(PLAINTEXT_SECRET)
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert len(found) == 1
    f = found[0]
    assert f.rule == "secret.unencrypted" and f.severity == "error"
    assert f.file.endswith("grafana/app/secret.yaml") and f.obj == "Secret/monitoring/grafana-admin"
    assert f.line == 1
    assert "hunter2" not in f.message


def test_plaintext_secret_in_a_multi_document_file(home_lab):
    drop = home_lab / "kubernetes/apps/db/app/all.yaml"
    drop.parent.mkdir(parents=True)
    drop.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + PLAINTEXT_SECRET)
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert [f.rule for f in found] == ["secret.unencrypted"] and found[0].line == 5  # the document starts there


def test_unparsable_file_with_a_secret_kind(home_lab):
    drop = home_lab / "kubernetes/apps/x/secret.yaml"
    drop.parent.mkdir(parents=True)
    drop.write_text("kind: Secret\nstringData: [unclosed\n")
    loaded = load(home_lab / "velero-gitops.yaml")
    assert rules(check_tree(loaded.repo_root, loaded.config)) == ["secret.unencrypted"]


def test_other_encrypted_secret_and_non_secrets_are_fine(home_lab, sops_path):
    other = home_lab / "kubernetes/apps/monitoring/grafana/app/secret.sops.yaml"
    other.parent.mkdir(parents=True)
    other.write_bytes(sopslib.encrypt(PLAINTEXT_SECRET.encode(), target=other, cwd=home_lab,
                                      config_file=home_lab / ".sops.yaml"))
    (other.parent / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n")
    loaded = load(home_lab / "velero-gitops.yaml")
    assert check_tree(loaded.repo_root, loaded.config) == []


def test_missing_secret_says_how_to_create_it(home_lab):
    (home_lab / SECRET_REL).unlink()
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config, config_file="clusters/home-lab/velero-gitops.yaml")
    assert [f.rule for f in found] == ["secret.missing"]
    assert "velero-gitops encrypt-secret --config clusters/home-lab/velero-gitops.yaml" in found[0].message


def test_plaintext_credentials_secret_fails(home_lab):
    (home_lab / SECRET_REL).write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: velero-s3-secret\n  namespace: velero\n"
        "stringData:\n  cloud: |\n    [default]\n    aws_access_key_id=x\n"
    )
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert "secret.unencrypted" in rules(found)
    assert "secret.recipients" in rules(found)
    assert any(f.pointer == "/stringData/cloud" and f.line == 7 for f in found)


def test_recipients_must_include_the_sops_yaml_rule(home_lab, tmp_path):
    extra = new_age_key(tmp_path / "k", "extra")
    (home_lab / ".sops.yaml").write_text(sops_yaml([TEST_RECIPIENT, extra.public]))
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert rules(found) == ["secret.recipients"]
    assert extra.public in found[0].message and "--update-keys" in found[0].message


def test_rule_no_longer_matching_the_secret(home_lab):
    (home_lab / ".sops.yaml").write_text(sops_yaml([TEST_RECIPIENT], path_regex="^elsewhere/"))
    loaded = load(home_lab / "velero-gitops.yaml")
    assert rules(check_tree(loaded.repo_root, loaded.config)) == ["secret.sops-config"]


def test_no_sops_yaml_is_only_a_warning(home_lab):
    (home_lab / ".sops.yaml").unlink()
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert rules(found) == ["secret.sops-config"] and errors(found) == []


def test_wrong_name_namespace_and_key(home_lab, sops_path):
    target = home_lab / SECRET_REL
    bad = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: other\n  namespace: default\n"
           "stringData:\n  credentials: x\n")
    target.write_bytes(sopslib.encrypt(bad.encode(), target=target, cwd=home_lab, config_file=home_lab / ".sops.yaml"))
    loaded = load(home_lab / "velero-gitops.yaml")
    assert rules(check_tree(loaded.repo_root, loaded.config)) == ["secret.key", "secret.name", "secret.namespace"]


def test_whole_file_encrypted_is_refused(home_lab, sops_path):
    target = home_lab / SECRET_REL
    doc = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: velero-s3-secret\n  namespace: velero\n"
           "stringData:\n  cloud: x\n")
    plain = home_lab.parent / "plain.yaml"
    plain.write_text(doc)
    _sops_encrypt(sops_path, plain, target)  # no encrypted_regex: sops encrypts apiVersion and kind too
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert any("whole file was encrypted" in f.message for f in found)


def test_one_value_left_in_clear(home_lab):
    target = home_lab / SECRET_REL
    text = target.read_text().replace("stringData:\n", "stringData:\n    extra: plain\n", 1)
    target.write_text(text)
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert [(f.rule, f.pointer) for f in found] == [("secret.unencrypted", "/stringData/extra")]


def test_encryption_problems_on_plain_dicts():
    ok = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "n", "namespace": "ns"},
          "data": {"cloud": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"},
          "sops": {"mac": "ENC[AES256_GCM,data:m]", "lastmodified": "2026-01-01T00:00:00Z",
                   "age": [{"recipient": TEST_RECIPIENT, "enc": "..."}]}}
    assert encryption_problems(ok) == []
    assert inspect_secret(ok, name="n", namespace="ns", expected_recipients=[TEST_RECIPIENT]) == []
    no_mac = {**ok, "sops": {**ok["sops"], "mac": None}}
    assert [p.pointer for p in encryption_problems(no_mac)] == ["/sops/mac"]
    no_age = {**ok, "sops": {**ok["sops"], "age": []}}
    assert [p.pointer for p in encryption_problems(no_age)] == ["/sops/age"]


@pytest.mark.parametrize("values,flagged", [
    ("  USER: ${MQTT_USER}\n  PASSWORD: ${MQTT_PASSWORD}\n", False),  # Flux postBuild variables (found on a real repo)
    ("  TOKEN: op://vault/item/field\n", False),
    ("  EMPTY: ''\n", False),
    # a Secret that takes values from elsewhere: its author chose what to write beside them (validate/policy.py)
    ("  USER: mqtt\n  PASSWORD: ${MQTT_PASSWORD}\n", False),
    ("  USER: mqtt\n  PASSWORD: hunter2\n", True),
])
def test_plaintext_rule_is_the_one_validate_uses(home_lab, values, flagged):
    """check and validate judge a plaintext Secret by one rule (validate/policy.py holds_secret_data):
    values that only name a secret kept elsewhere are no secret data."""
    drop = home_lab / "kubernetes/apps/home/mqtt/app/secret.yaml"
    drop.parent.mkdir(parents=True)
    drop.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: mqtt\nstringData:\n" + values)
    loaded = load(home_lab / "velero-gitops.yaml")
    assert rules(check_tree(loaded.repo_root, loaded.config)) == (["secret.unencrypted"] if flagged else [])


def test_an_empty_value_in_an_encrypted_secret_is_not_plaintext():
    """sops leaves an empty value empty (getsops/sops@v3.10.2:aes/cipher.go, Encrypt returns "" when
    isEmpty): found on a real repository with `API_KEY: ""` beside its sops metadata."""
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"},
           "stringData": {"API_KEY": "", "TOKEN": "ENC[AES256_GCM,data:abc,iv:x,tag:y,type:str]"},
           "sops": {"mac": "ENC[AES256_GCM,data:m,iv:x,tag:y,type:str]", "lastmodified": "2026-01-01T00:00:00Z",
                    "age": [{"recipient": TEST_RECIPIENT, "enc": "x"}]}}
    assert encryption_problems(doc) == []
    doc["stringData"]["API_KEY"] = "clear"
    assert [p.pointer for p in encryption_problems(doc)] == ["/stringData/API_KEY"]


def test_other_secrets_encrypted_for_pgp_or_kms_are_encrypted(tmp_path):
    """A repository's own Secrets under PGP (samip5/k8s-cluster's .sops.yaml) or a KMS key: kustomize-controller
    decrypts those too (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go: .asc, sops.aws-kms, ...),
    so they are not "plaintext"; the master key kinds are sops' metadata fields (getsops/sops@v3.10.2:stores/stores.go).
    A Secret with sops metadata but no master key at all still is reported."""
    from velero_gitops.secrets.secret_check import unencrypted_secrets

    apps = tmp_path / "apps"
    apps.mkdir()
    body = ("apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData:\n  k: ENC[AES256_GCM,data:abc,iv:x,tag:y,type:str]\n"
            "sops:\n  {keys}\n  lastmodified: '2024-01-01T00:00:00Z'\n  mac: ENC[AES256_GCM,data:m,iv:x,tag:y,type:str]\n"
            "  version: 3.10.2\n")
    (apps / "pgp.yaml").write_text(body.format(keys="pgp:\n    - fp: 6CD908E8381A8B4FA3F20A891CF4D098419C9124\n      enc: x"))
    (apps / "kms.yaml").write_text(body.format(keys="key_groups:\n    - kms:\n        - arn: arn:aws:kms:eu-west-1:1:key/a\n          enc: x"))
    (apps / "none.yaml").write_text(body.format(keys="age: []"))
    found = unencrypted_secrets(apps, repo_root=tmp_path)
    assert [Path(f.file).name for f in found] == ["none.yaml"]


@pytest.mark.parametrize("meta, clear_ok", [
    ({"encrypted_regex": "^(password)$"}, True),  # only password is encrypted: username in clear is right
    ({"encrypted_suffix": "_enc"}, False),  # password_enc would be encrypted; username has no suffix: in clear is right
    ({"unencrypted_suffix": "_unencrypted"}, False),
    ({}, False),
])
def test_partial_encryption_follows_the_files_sops_rule(meta, clear_ok):
    """Class F (issue 19): sops encrypts by the rule recorded in the file's metadata (getsops/sops@v3.10.2:sops.go
    Tree.shouldBeEncrypted): a value that rule leaves in clear is no finding."""
    from velero_gitops.secrets.secret_check import encryption_problems, should_be_encrypted

    enc = "ENC[AES256_GCM,data:abc=,iv:abc=,tag:abc=,type:str]"
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
           "stringData": {"username": "admin", "password": enc},
           "sops": {"mac": enc, "lastmodified": "2026-01-01T00:00:00Z",
                    "age": [{"recipient": "age1x", "enc": "-----BEGIN AGE ENCRYPTED FILE-----"}], **meta}}
    problems = [p.pointer for p in encryption_problems(doc)]
    if meta.get("encrypted_suffix"):
        assert should_be_encrypted(doc["sops"], ["stringData", "password_enc"]) is True
        assert problems == []  # username: no suffix, left in clear; password: encrypted anyway
    else:
        assert problems == ([] if clear_ok else ["/stringData/username"])


# ------------------------------------------------------------------ the scan's scope and its rule (probe B1, B2, B13)
@pytest.mark.parametrize("rel", ["kubernetes/flux/vars/cluster-secrets.yaml", "leak.yaml",
                                 "kubernetes/components/common/secret.yaml"])
def test_plaintext_secret_outside_the_apps_root_fails(home_lab, rel):
    """A Secret in clear is in Git whether Flux applies it or not: the scan covers validate's scope (the whole
    repository, engine.discover), not only repo.appsRoot."""
    drop = home_lab / rel
    drop.parent.mkdir(parents=True, exist_ok=True)
    drop.write_text(PLAINTEXT_SECRET)
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert [(Path(f.file).resolve(), f.rule, f.severity) for f in found] == [(drop.resolve(), "secret.unencrypted",
                                                                               "error")]


def test_listed_resources_are_scanned_whatever_their_name(home_lab):
    """kustomize reads every file a kustomization lists as a resource, by content, with no extension check
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go accumulateResources)."""
    apps = home_lab / "kubernetes/apps/x"
    apps.mkdir(parents=True)
    for f in ("5.YAML", "6.txt", "7"):
        (apps / f).write_text(PLAINTEXT_SECRET.replace("grafana-admin", f"s{f[0]}"))
    (apps / "unlisted.txt").write_text(PLAINTEXT_SECRET)  # no kustomization reads it: not an object anywhere
    (apps / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                             "resources: [5.YAML, 6.txt, \"7\"]\n")
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert sorted(Path(f.file).name for f in found) == ["5.YAML", "6.txt", "7"]
    assert {f.rule for f in found} == {"secret.unencrypted"}


def _sops_encrypt(sops_path: str, plain: Path, out: Path, *flags: str) -> None:
    """The real sops binary, with a config that holds nothing (its own flags decide what it encrypts)."""
    import subprocess

    done = subprocess.run([sops_path, "--config", "/dev/null", "encrypt", "--age", TEST_RECIPIENT, *flags, str(plain)],
                          capture_output=True, check=True)
    out.write_bytes(done.stdout)


def test_sops_metadata_that_encrypts_nothing_does_not_shield_the_values(home_lab, sops_path, tmp_path):
    """`sops encrypt --encrypted-regex '^nothing$'` writes genuine metadata (mac, lastmodified, age) and leaves every
    value in clear (getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted): the file's own rule may not decide that
    its values are allowed in clear."""
    plain = tmp_path / "plain.yaml"
    plain.write_text(PLAINTEXT_SECRET)
    target = home_lab / "kubernetes/apps/x/creds.sops.yaml"
    target.parent.mkdir(parents=True)
    _sops_encrypt(sops_path, plain, target, "--encrypted-regex", "^nothing$")
    assert "hunter2hunter2" in target.read_text() and "encrypted_regex: ^nothing$" in target.read_text()
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert [(Path(f.file).name, f.rule) for f in found] == [("creds.sops.yaml", "secret.unencrypted")]
    assert "hunter2" not in found[0].message


def test_forged_sops_metadata_does_not_shield_the_values(home_lab):
    target = home_lab / "kubernetes/apps/x/creds.sops.yaml"
    target.parent.mkdir(parents=True)
    target.write_text(PLAINTEXT_SECRET + "sops:\n  age:\n    - recipient: " + TEST_RECIPIENT + "\n      enc: x\n"
                      "  lastmodified: '2026-01-01T00:00:00Z'\n  mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"
                      "  encrypted_regex: ^nothing-matches-this$\n  version: 3.10.2\n")
    loaded = load(home_lab / "velero-gitops.yaml")
    assert rules(check_tree(loaded.repo_root, loaded.config)) == ["secret.unencrypted"]


def test_partial_encryption_by_real_sops_reports_the_values_left_in_clear(home_lab, sops_path, tmp_path):
    """Class F (issue 19) let encrypted_regex naming one value leave the rest in clear by the author's choice; attack 7
    (break 8) showed why not: a value in clear in a Secret is committed in clear and kustomize copies it anywhere,
    whatever the file's sops rule says (getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted). Real sops output with
    `--encrypted-regex ^password$` keeps `username` in clear: reported on that value, without it."""
    plain = tmp_path / "plain.yaml"
    plain.write_text(PLAINTEXT_SECRET.replace("stringData:\n", "stringData:\n  username: admin\n"))
    target = home_lab / "kubernetes/apps/x/creds.sops.yaml"
    target.parent.mkdir(parents=True)
    _sops_encrypt(sops_path, plain, target, "--encrypted-regex", "^password$")
    assert "admin" in target.read_text() and "hunter2hunter2" not in target.read_text()
    loaded = load(home_lab / "velero-gitops.yaml")
    found = check_tree(loaded.repo_root, loaded.config)
    assert [(f.rule, f.pointer) for f in found] == [("secret.unencrypted", "/stringData/username")], found
    assert "admin" not in found[0].message


@pytest.mark.parametrize("which", ["credentials", "repository-password"])
def test_the_trees_own_secret_is_judged_by_our_rule_not_its_metadata(home_lab, sops_path, tmp_path, which):
    """/work/attack3/repro/11: the rendered credentials Secret, encrypted by real sops with
    ``--encrypted-regex ^nothing$``, carries genuine metadata and its S3 keys in clear; check followed the file's
    own rule and passed. What must be encrypted in the tree's own Secrets is the rule we encrypt them with
    (secrets/sops.py ENCRYPTED_REGEX; getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted), so check flags it."""
    import yaml

    loaded = load(home_lab / "velero-gitops.yaml")
    if which == "credentials":
        rel, name, key = SECRET_REL, loaded.config.s3.credentials_secret, "cloud"
    else:
        from velero_gitops.config.names import REPO_CREDENTIALS_KEY, REPO_CREDENTIALS_SECRET
        from velero_gitops.render.layout import Layout

        cfg = home_lab / "velero-gitops.yaml"
        cfg.write_text(cfg.read_text().replace("\nvelero:\n", "\nvelero:\n  repositoryPassword: managed\n", 1))
        loaded = load(cfg)
        assert loaded.config.velero.repository_password == "managed"
        rel, name, key = Layout.of(loaded.config).repo_password_file, REPO_CREDENTIALS_SECRET, REPO_CREDENTIALS_KEY
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": name, "namespace": loaded.config.repo.namespace}, "stringData": {key: "PlainSecretKeyLeak123"}}))
    _sops_encrypt(sops_path, plain, home_lab / rel, "--encrypted-regex", "^nothing$")
    assert "PlainSecretKeyLeak123" in (home_lab / rel).read_text()
    found = errors(check_tree(loaded.repo_root, loaded.config))
    assert [(f.rule, f.pointer) for f in found] == [("secret.unencrypted", f"/stringData/{key}")]
    assert "PlainSecretKeyLeak123" not in found[0].message


def test_a_files_encrypted_regex_runs_as_go_regexp():
    """/work/attack3/repro/10: a file's ``sops.encrypted_regex: (b+)+$`` ran under Python re on a key ``bbbb…!``
    (exponential). sops compiles it with Go's regexp (getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted): RE2,
    linear; CPU-bounded here. A pattern RE2 refuses is one sops could not have used: the value must be encrypted."""
    from velero_gitops.secrets.secret_check import should_be_encrypted

    from cli_util import cpu_budget

    with cpu_budget(1):
        assert not should_be_encrypted({"encrypted_regex": "(b+)+$"}, ["stringData", "b" * 5000 + "!"])
    assert should_be_encrypted({"encrypted_regex": "^(data|stringData)$"}, ["stringData", "cloud"])
    assert should_be_encrypted({"encrypted_regex": "(?=x)"}, ["stringData", "cloud"])


def test_a_refused_file_spelling_kind_secret_is_scanned_in_linear_time(tmp_path):
    """Attack round 2, script 11: a file yamlsafe refuses is searched for a `kind: Secret` line. A multi-line
    `^\\s*` let every line start rescan the rest of the file (27 CPU seconds on 40,000 blank lines); the line is
    now matched with RE2 within the line. It is still found, with CRLF and a comment."""
    from velero_gitops.secrets.secret_check import unencrypted_secrets

    from cli_util import cpu_budget

    (tmp_path / "big.yaml").write_text("# Secret\n" + " \n" * 40000 + "a: [\n")
    with cpu_budget(3):
        assert unencrypted_secrets(tmp_path, repo_root=tmp_path) == []
    (tmp_path / "big.yaml").write_text("apiVersion: v1\r\n  kind: 'Secret'  # x\r\n" + " \n" * 40000 + "a: [\n")
    found = unencrypted_secrets(tmp_path, repo_root=tmp_path)
    assert [f.rule for f in found] == ["secret.unencrypted"], found


@pytest.mark.parametrize("sops_block", [False, True])
def test_validate_and_check_say_one_thing_of_a_secret_in_clear(home_lab, sops_block):
    """A Secret in clear is one finding with one text, whichever command finds it: check's Secret scan
    (unencrypted_secrets) printed its own wording without validate's ConfigMap hint. Both now print
    validate/policy.plaintext_message, with or without a (useless) sops block beside the values."""
    import json

    from cli_util import run_cli

    drop = home_lab / "kubernetes/apps/monitoring/grafana/app/secret.yaml"
    drop.parent.mkdir(parents=True)
    drop.write_text(PLAINTEXT_SECRET + ("sops:\n  mac: ENC[AES256_GCM,data:m,iv:x,tag:y,type:str]\n" if sops_block else ""))
    (home_lab / ".git").mkdir()
    said = {}
    for cmd in (("validate", "--kustomize", "never", "."), ("check", "--no-cache")):
        r = run_cli(*cmd, "-o", "json", cwd=home_lab)
        found = [f for f in json.loads(r.out)["findings"]
                 if f["rule"] == "secret.unencrypted" and f["file"].endswith("grafana/app/secret.yaml")]
        assert len(found) == 1, (cmd, r.out)
        said[cmd[0]] = found[0]["message"]
    assert said["validate"] == said["check"] and "ConfigMap" in said["check"], said


def test_a_costly_encrypted_regex_is_a_located_finding_and_every_value_must_be_encrypted():
    """Attack round 7, break 3: each document's own `sops.encrypted_regex` (`\\pL{300}`) took 0.1 s and megabytes
    to compile. Go (sops) accepts it (getsops/sops@v3.10.2:sops.go shouldBeEncrypted); over goregexp's bound it is
    not evaluated: a finding on its line and field, and the values are judged as if sops had to encrypt them all."""
    from velero_gitops import yamlsafe
    from velero_gitops.secrets.secret_check import should_be_encrypted

    text = ("apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: b}\nstringData:\n  cloud: clear\n"
            "sops:\n  mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n  lastmodified: '2025-01-01T00:00:00Z'\n"
            f"  age: [{{recipient: {TEST_RECIPIENT}}}]\n  encrypted_regex: '\\pL{{300}}|^nothing$'\n")
    (doc,) = [d.data for d in yamlsafe.load_all(text)]
    assert should_be_encrypted(doc["sops"], ["stringData", "cloud"])
    problems = encryption_problems(doc)
    assert [(p.pointer, p.line) for p in problems] == [("/sops/encrypted_regex", 10), ("/stringData/cloud", 5)]
    assert "sops.encrypted_regex is not evaluated, over 1 MiB of RE2 program" in problems[0].message


def test_check_reports_a_value_a_sops_file_leaves_in_clear(tmp_path):
    """Attack 7 break 8, in `check` (secret_check owns the Secret rules there): a SOPS file whose own rule
    (`encrypted_regex: ^data$`, getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted) leaves stringData in clear holds
    a plaintext secret; reported on the value's line, by validate's rule (policy.clear_values), without the value."""
    from velero_gitops.secrets.secret_check import unencrypted_secrets

    enc = "ENC[AES256_GCM,data:abc=,iv:abc=,tag:abc=,type:str]"
    (tmp_path / "s.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata:\n  t: {enc}\nstringData:\n  password: hunter2\n"
        f"sops:\n  mac: {enc}\n  lastmodified: '2026-01-01T00:00:00Z'\n  encrypted_regex: ^data$\n"
        "  age:\n  - recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n")
    found = unencrypted_secrets(tmp_path, repo_root=tmp_path)
    assert [(f.rule, f.line, f.pointer) for f in found] == [("secret.unencrypted", 7, "/stringData/password")], found
    assert "hunter2" not in found[0].message
