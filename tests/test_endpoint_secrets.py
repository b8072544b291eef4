"""A credential written into an S3 URL is never echoed, however the URL spells it (issue 20, class 9).

The forms are those a URL parser accepts for userinfo and parameters: RFC 3986 §3.2.1 userinfo (``user:pw@``), a
percent-encoded ``@`` (``%40``) inside it, a backslash where WHATWG parsers read a slash, and a query string
(presigned ``X-Amz-Signature``, ``token=``). They reach us in two places: the config's ``s3.endpoint`` (refused by
the loader, config/redact.py) and a repository's HelmRelease ``s3Url`` (validate's policy rules). In both, the
refusal must name the field without the secret part.
"""

from __future__ import annotations

import pytest

from cli_util import run_cli, velero_helmrelease

SECRET = "Sup3rS3cretValue9"
ENDPOINTS = [
    f"https://AKIAEXAMPLE:{SECRET}@s3.example.com",
    f"https://velero:{SECRET}%40x@s3.example.com",
    f"https://velero%40corp:{SECRET}@s3.example.com:9000",
    f"https://s3.example.com\\@{SECRET}",
    f"https://s3.example.com/?X-Amz-Signature={SECRET}",
    f"https://s3.example.com?token={SECRET}&x=1",
    f"https://s3.example.com#{SECRET}",
    f"http://user:{SECRET}@s3.example.com",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_config_endpoint_with_a_credential_is_refused_without_echoing_it(tmp_path, endpoint):
    (tmp_path / "velero-gitops.yaml").write_text(f"cluster: t\ns3:\n  endpoint: '{endpoint}'\n")
    r = run_cli("render", "--config", str(tmp_path / "velero-gitops.yaml"), cwd=tmp_path)
    assert r.code == 2, (r.out, r.err)
    assert "s3.endpoint" in r.err
    assert SECRET not in r.out + r.err
    assert "Traceback" not in r.err


HELMRELEASE = velero_helmrelease("""\
configuration:
  backupStorageLocation:
    - name: default
      provider: aws
      bucket: velero-backups
      config:
        region: minio
        s3ForcePathStyle: true
        s3Url: {url}
""", document_start=True)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_validate_never_prints_a_credential_from_a_helmrelease_s3url(tmp_path, endpoint):
    (tmp_path / "helmrelease.yaml").write_text(HELMRELEASE.format(url=f"'{endpoint}'"))
    for fmt in ("text", "json", "junit", "github"):
        r = run_cli("validate", str(tmp_path), "--ignore-missing-schemas", "--kustomize", "never", "--no-flux",
                    "-o", fmt, cwd=tmp_path)
        assert r.code in (0, 1), (fmt, r.out, r.err)
        assert SECRET not in r.out + r.err, (fmt, r.out, r.err)
        assert "Traceback" not in r.err
