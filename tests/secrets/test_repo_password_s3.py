"""`encrypt-repo-password --check-bucket` against a real S3 server over TLS (tests/s3_fixtures.py).

Velero puts each namespace's kopia repository at path.Join(prefix, "kopia", ns) + "/"
(velero-io/velero@v1.18.2:pkg/repository/provider/unified_repo.go), whose format blob is `kopia.repository`
(kopia/kopia@v0.22.3:repo/format/format_blob.go KopiaRepositoryBlobID). A repository there was created with
some password already; a new random one must not be written over it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from velero_gitops.secrets import sops as sopslib

from cli_util import need, run_cli, snapshot
from s3_fixtures import *  # noqa: F401,F403 - fixtures: s3_server, tls_ca
from s3_fixtures import bucket_name, write_config
from sops_fixtures import TEST_KEY_FILE, TEST_RECIPIENT, files_containing, real_sops_path, sops_yaml

APP = "kubernetes/apps/velero/velero/app/repo-credentials.sops.yaml"


@pytest.fixture
def repo(s3_server, tmp_path):
    need(bool(real_sops_path()), "the sops binary")
    bucket = bucket_name("kopia")
    s3_server.boto().create_bucket(Bucket=bucket)
    cfg = write_config(tmp_path / "repo", s3_server.url, bucket, ca=s3_server.ca_pem)
    (cfg.parent / ".sops.yaml").write_text(sops_yaml([TEST_RECIPIENT]))
    return cfg, bucket


def _env(s3_server, tmp_path: Path) -> dict[str, str]:
    env = s3_server.env()
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    sops = real_sops_path()
    env["VELERO_GITOPS_SOPS"] = sops
    return env


def _password(cfg: Path) -> str:
    os.environ["SOPS_AGE_KEY_FILE"] = str(TEST_KEY_FILE)
    try:
        return sopslib.decrypt_secret(cfg.parent / APP)["stringData"]["repository-password"]
    finally:
        del os.environ["SOPS_AGE_KEY_FILE"]


@pytest.mark.parametrize("keys", [
    ["velero/kopia/database/kopia.repository", "velero/kopia/database/p0123"],
    ["velero/kopia/monitoring/kopia.repository", "velero/kopia/network/kopia.repository"],
    ["velero/kopia/stray-object"],
])
def test_existing_kopia_data_refuses_a_new_password(s3_server, repo, tmp_path, keys):
    cfg, bucket = repo
    for k in keys:
        s3_server.boto().put_object(Bucket=bucket, Key=k, Body=b"kopia")
    before = snapshot(cfg.parent)
    r = run_cli("encrypt-repo-password", "--config", str(cfg), "--check-bucket", exact_env=_env(s3_server, tmp_path))
    assert r.code == 1, (r.out, r.err)
    assert r.out == "" and "Traceback" not in r.err
    assert f"s3://{bucket}/velero/kopia/ already holds kopia repositories" in r.err
    names = {k.split("/")[2] for k in keys if k.count("/") >= 3}
    for n in names:
        assert n in r.err
    assert "Nothing was written" in r.err
    assert snapshot(cfg.parent) == before


def test_existing_kopia_data_with_the_known_password_from_stdin(s3_server, repo, tmp_path):
    cfg, bucket = repo
    s3_server.boto().put_object(Bucket=bucket, Key="velero/kopia/database/kopia.repository", Body=b"kopia")
    known = "the-password-these-repositories-use"
    r = run_cli("encrypt-repo-password", "--config", str(cfg), "--check-bucket", "--stdin",
            exact_env=_env(s3_server, tmp_path), stdin=known + "\n")
    assert r.code == 0, r.err
    assert "kopia repositories found for 1 namespace(s), kept their password" in r.out
    assert _password(cfg) == known
    assert known not in r.out + r.err and files_containing(tmp_path, [known]) == []


@pytest.mark.parametrize("keys", [[], ["velero/backups/daily-1/velero-backup.json", "other/kopia/ns/kopia.repository",
                                       "velero/kopiax/ns/kopia.repository"]])
def test_no_kopia_data_under_the_prefix_writes_a_new_password(s3_server, repo, tmp_path, keys):
    cfg, bucket = repo
    for k in keys:
        s3_server.boto().put_object(Bucket=bucket, Key=k, Body=b"x")
    r = run_cli("encrypt-repo-password", "--config", str(cfg), "--check-bucket", exact_env=_env(s3_server, tmp_path))
    assert r.code == 0, r.err
    assert "the bucket has no kopia data under velero/kopia/" in r.out
    assert "warning: the bucket was not checked" not in r.err
    pw = _password(cfg)
    assert len(pw) == 43 and files_containing(tmp_path, [pw]) == [] and pw not in r.out + r.err


def test_unlistable_bucket_writes_nothing(s3_server, repo, tmp_path):
    cfg, _ = repo
    env = _env(s3_server, tmp_path)
    env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-key-" + "x" * 20
    before = snapshot(cfg.parent)
    r = run_cli("encrypt-repo-password", "--config", str(cfg), "--check-bucket", exact_env=env)
    assert r.code == 2, (r.out, r.err)
    assert "cannot list" in r.err and "nothing was written" in r.err and "Traceback" not in r.err
    assert env["AWS_SECRET_ACCESS_KEY"] not in r.err
    assert snapshot(cfg.parent) == before
