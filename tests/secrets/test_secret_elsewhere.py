"""Credentials from a Secret velero-gitops does not make (issue 18 §4): s3.credentialsFrom repository | external.

The BSL then names the Secret and its key, and Velero reads that key for the object store and for the kopia
repository alike (vmware-tanzu/velero@v1.18.1:pkg/persistence/object_store.go, pkg/repository/provider/unified_repo.go:
location.Spec.Credential through the credentials file store); the chart mounts no credentials Secret
(credentials.useSecret: false, vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops import yamlsafe

from cli_util import run_cli

BASE = "cluster: t\ns3:\n  endpoint: https://s3.example.com\n  credentialsSecret: minio-creds\n  credentialsKey: {key}\n" \
       "  credentialsFrom: {src}\nschedules: []\nvelero:\n  repositoryPassword: {password}\n"
ES = """\
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: velero-minio
  namespace: velero
spec:
  target:
    name: minio-creds
  dataFrom:
    - extract: {key: minio}
"""


def _render(tmp_path: Path, src: str, key: str = "credentials", password: str = "external") -> Path:
    (tmp_path / "velero-gitops.yaml").write_text(BASE.format(src=src, key=key, password=password))
    r = run_cli("render", "-q", str(tmp_path / "velero-gitops.yaml"))
    assert r.code == 0, r.err
    assert "encrypt-secret" not in r.err  # no note asking for a Secret we do not make
    return tmp_path / "kubernetes/apps/velero/velero/app"


def test_the_bsl_names_the_secret_and_key(tmp_path):
    app = _render(tmp_path, "repository")
    values = [d.data for d in yamlsafe.load_all((app / "helmrelease.yaml").read_text())][0]["spec"]["values"]
    assert values["configuration"]["backupStorageLocation"][0]["credential"] == {"key": "credentials", "name": "minio-creds"}
    assert values["credentials"] == {"useSecret": False}
    assert "secret.sops.yaml" not in (app / "kustomization.yaml").read_text()


def test_check_wants_a_producer_in_the_repository(tmp_path):
    _render(tmp_path, "repository")
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert r.code == 1 and "nothing in the repository makes Secret velero/minio-creds" in r.out, r.out
    (tmp_path / "es.yaml").write_text(ES)
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert "secret.not-produced" not in r.out and "makes Secret" not in r.out, r.out


def test_external_is_trusted_and_encrypt_secret_refuses(tmp_path):
    _render(tmp_path, "external")
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert "minio-creds" not in r.out, r.out
    r = run_cli("encrypt-secret", "--stdin", cwd=tmp_path, stdin="AKIA\nsecret\n")
    assert r.code == 2 and "made elsewhere" in r.err


@pytest.mark.parametrize("key,says", [("credentials", "another key is for a Secret made elsewhere"),
                                      ("a b", "not a data key name")])
def test_keys(tmp_path, key, says):
    (tmp_path / "velero-gitops.yaml").write_text(BASE.format(src="sops" if key == "credentials" else "external", key=key, password="external"))
    r = run_cli("render", str(tmp_path / "velero-gitops.yaml"))
    assert r.code == 2 and says in r.err, r.err


REPO_PASSWORD_ES = ES.replace("velero-minio", "velero-kopia").replace("minio-creds", "velero-repo-credentials")


def test_a_repository_password_made_elsewhere_goes_through_the_same_rule(tmp_path):
    """velero.repositoryPassword: elsewhere with nothing making velero-repo-credentials is the S3 case again, by the
    same rule: without the Secret at its first start Velero creates it with the public key "static-passw0rd"
    (vmware-tanzu/velero@v1.18.1:pkg/repository/keys/keys.go EnsureCommonRepositoryKey, encryptionKey), and every
    kopia repository is encrypted with it. `external` is trusted, as s3.credentialsFrom: external is."""
    _render(tmp_path, "external", password="elsewhere")
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert r.code == 1 and "nothing in the repository makes Secret velero/velero-repo-credentials" in r.out, r.out
    assert "public default password" in r.out and "velero.repositoryPassword: external" in r.out, r.out
    (tmp_path / "es.yaml").write_text(REPO_PASSWORD_ES)
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert "makes Secret" not in r.out, r.out
    (tmp_path / "es.yaml").unlink()
    _render(tmp_path, "external", password="external")
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert "makes Secret" not in r.out, r.out


def test_both_unproduced_are_two_findings(tmp_path):
    _render(tmp_path, "repository", password="elsewhere")
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert r.code == 1 and r.out.count("but nothing in the repository makes Secret") == 2, r.out


INFISICAL = """\
apiVersion: secrets.infisical.com/v1alpha1
kind: InfisicalSecret
metadata:
  name: velero-minio
  namespace: velero
spec:
  managedKubeSecretReferences:
    - secretName: {name}
      secretNamespace: velero
"""


def test_an_operators_resource_naming_the_secret_is_a_producer(tmp_path):
    """An InfisicalSecret (a custom resource of a group nothing here models) that names the Secret may make it: the
    one table of producers (validate.producers.maybe_made) says so, so check claims nothing; naming another Secret
    it still does."""
    _render(tmp_path, "repository")
    (tmp_path / "infisical.yaml").write_text(INFISICAL.format(name="other-creds"))
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert r.code == 1 and "nothing in the repository makes Secret velero/minio-creds" in r.out, r.out
    (tmp_path / "infisical.yaml").write_text(INFISICAL.format(name="minio-creds"))
    r = run_cli("check", "--no-cache", cwd=tmp_path)
    assert "secret.not-produced" not in r.out and "makes Secret" not in r.out, r.out
