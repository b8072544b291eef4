"""A real S3 server for the tests: moto in server mode, over TLS, on 127.0.0.1, started by the tests.

* A throw-away CA from ``trustme`` signs a certificate for 127.0.0.1/localhost; ``moto.server`` runs as a
  separate process with ``--ssl-cert/--ssl-key`` (werkzeug serves TLS). Start is bounded (15 s),
  the process is always terminated (fixture finaliser + kill after 5 s).
* moto does not check credentials by default. The fixture creates IAM users (an admin with ``s3:*`` and a
  Velero user with the policy from ``velero_gitops.ops.s3.user_policy``) while authentication is still off,
  then switches it on with moto's ``POST /moto-api/reset-auth 0`` (the server-mode form of
  ``INITIAL_NO_AUTH_ACTION_COUNT``). From then on every S3 request is signature-checked against those
  users: an unknown key id gives InvalidAccessKeyId, a wrong secret SignatureDoesNotMatch.
* Import the fixtures into a test module with ``from s3_fixtures import *`` (no conftest.py); run the CLI
  with ``cli_util.run_cli(..., exact_env=server.env())``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cli_util import clean_env

if TYPE_CHECKING:
    from botocore.client import BaseClient

START_TIMEOUT = 15.0

# Runs moto's server with two fixes to its policy evaluation (moto 5.x). IAM action names, below. And: it ignores condition operators it
# does not know ("Bool"), does not know the key aws:SecureTransport, and returns DENIED for any statement
# whose condition fails, even an Allow - so `Deny ... Condition: {Bool: {aws:SecureTransport: false}}`
# would deny everything. Here a statement whose condition does not hold does not apply (as on AWS and
# MinIO), and since this server only speaks TLS every request has aws:SecureTransport = "true".
SERVER_WRAPPER = r"""
import sys
import moto.iam.access_control as ac
import moto.iam.policy_conditions as pc

def _bool(expected, actual):
    values = expected if isinstance(expected, list) else [expected]
    return str(actual).lower() in [str(v).lower() for v in values]

pc.CONDITION_OPERATIONS.setdefault("Bool", _bool)
_permitted = ac.IAMPolicyStatement.is_action_permitted

# moto names some requests after the S3 API operation (moto 5.2.6: "s3:ListObjectsV2"), others after the IAM
# action (5.2.1: "s3:ListBucket"); IAM authorizes the action, so map the operations whose action has another
# name (AWS Service Authorization Reference for Amazon S3; the S3 API reference of each operation names the
# permission it needs), and the result no longer depends on moto's version.
IAM_ACTION = {
    "s3:ListObjects": "s3:ListBucket", "s3:ListObjectsV2": "s3:ListBucket", "s3:HeadBucket": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject", "s3:ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "s3:ListParts": "s3:ListMultipartUploadParts", "s3:DeleteObjects": "s3:DeleteObject",
    "s3:CreateMultipartUpload": "s3:PutObject", "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject", "s3:ListBuckets": "s3:ListAllMyBuckets",
}

def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
    action = IAM_ACTION.get(action, action)
    values = dict(incoming_condition_values or {})
    values.setdefault("aws:SecureTransport", "true")  # this server only speaks TLS
    if self._statement.get("Condition") and not self._check_conditions(values):
        return ac.PermissionResult.NEUTRAL  # a statement whose condition does not hold does not apply
    return _permitted(self, action, resource, principal, values)

ac.IAMPolicyStatement.is_action_permitted = is_action_permitted

# moto rebuilds the signed URL from werkzeug's decoded one, so a '/' the client sent as %2F in the query
# (list_objects_v2 Prefix="velero/kopia/") fails the signature check; SigV4 signs the query percent-encoded.
from urllib.parse import quote, unquote, urlsplit
_create = ac.IAMRequestBase._create_aws_request

def _create_aws_request(self):
    parts = urlsplit(self._path)
    if parts.query:
        pairs = [p.partition("=") for p in parts.query.split("&")]
        query = "&".join(quote(unquote(k), safe="-_.~") + s + quote(unquote(v), safe="-_.~") for k, s, v in pairs)
        self._path = parts.path + "?" + query
    return _create(self)

ac.IAMRequestBase._create_aws_request = _create_aws_request
from moto.server import main
sys.exit(main())
"""

__all__ = ["S3Server", "s3_server", "tls_ca", "free_port", "write_config", "bucket_name", "scan_for_secrets",
           "dead_port", "silent_server", "hung_tls_server"]


@dataclass
class S3Server:
    url: str  # https://127.0.0.1:PORT
    port: int
    ca_pem: Path  # the CA that signed the server certificate
    other_ca_pem: Path  # a CA that did NOT sign it (for the untrusted-certificate test)
    admin: tuple[str, str]  # access key id, secret key with s3:* on everything
    velero: tuple[str, str]  # access key id, secret key with the least-privilege policy on `velero_bucket`
    velero_bucket: str
    workdir: Path

    def env(self, who: str = "admin") -> dict[str, str]:
        """Credentials of ``who`` in the environment, and no age key anywhere."""
        key_id, secret = self.admin if who == "admin" else self.velero
        return clean_env(self.workdir, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)

    def boto(self, who: str = "admin") -> BaseClient:
        import boto3
        from botocore.config import Config

        key_id, secret = self.admin if who == "admin" else self.velero
        return boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1", verify=str(self.ca_pem),
            aws_access_key_id=key_id, aws_secret_access_key=secret,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    trustme = pytest.importorskip("trustme")
    d = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "server.key"))
    with open(d / "server.pem", "wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    trustme.CA().cert_pem.write_to_path(str(d / "other-ca.pem"))
    return d


def _wait_tls(port: int, ca: Path, proc: subprocess.Popen, deadline: float) -> None:
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                with ctx.wrap_socket(sock, server_hostname="127.0.0.1"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on port {port} within {START_TIMEOUT:g}s")


def _post(url: str, data: bytes, ca: Path) -> bytes:
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "text/plain"}), context=ctx, timeout=10) as r:
        return r.read()


@pytest.fixture(scope="session")
def s3_server(tls_ca: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    workdir = tmp_path_factory.mktemp("s3server")
    port = free_port()
    log = open(workdir / "moto.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(MOTO_CALL_RESET_API="false", AWS_ACCESS_KEY_ID="bootstrap", AWS_SECRET_ACCESS_KEY="bootstrap")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_WRAPPER, "-H", "127.0.0.1", "-p", str(port),
         "-c", str(tls_ca / "server.pem"), "-k", str(tls_ca / "server.key")],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
    )
    try:
        _wait_tls(port, tls_ca / "ca.pem", proc, time.monotonic() + START_TIMEOUT)
        url = f"https://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", verify=str(tls_ca / "ca.pem"),
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        from velero_gitops.ops.s3 import user_policy

        velero_bucket = bucket_name("velero-lp")
        keys = {}
        for user, policy in (
            ("admin", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]}),
            ("velero", user_policy(velero_bucket)),
        ):
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName=f"{user}-policy", PolicyDocument=json.dumps(policy))
            k = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])
        # From now on every request must be signed by one of those users.
        _post(f"{url}/moto-api/reset-auth", b"0", tls_ca / "ca.pem")
        server = S3Server(url=url, port=port, ca_pem=tls_ca / "ca.pem", other_ca_pem=tls_ca / "other-ca.pem",
                          admin=keys["admin"], velero=keys["velero"], velero_bucket=velero_bucket, workdir=workdir)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def bucket_name(stem: str = "vg") -> str:
    return f"{stem}-{uuid.uuid4().hex[:12]}"


def write_config(directory: Path, endpoint: str, bucket: str, *, ca: Path | None = None, region: str = "us-east-1",
                 extra_s3: str = "", schedules: str | None = None) -> Path:
    """A minimal velero-gitops config for the server (region us-east-1: moto's default)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "cluster: test-lab",
        "s3:",
        f"  endpoint: {endpoint}",
        f"  bucket: {bucket}",
        "  prefix: velero",
        f"  region: {region}",
    ]
    if ca is not None:
        (directory / "ca.pem").write_bytes(ca.read_bytes())
        lines.append("  caBundle: ca.pem")
    lines += [f"  {line}" for line in extra_s3.splitlines() if line.strip()]
    if schedules is None:
        schedules = ("schedules:\n  - name: daily\n    cron: \"0 2 * * *\"\n"
                     "    namespaces: [monitoring, database, network]\n    ttl: 720h\n")
    path = directory / "velero-gitops.yaml"
    path.write_text("\n".join(lines) + "\n" + schedules, encoding="utf-8")
    return path


def scan_for_secrets(secrets: list[str], *texts: str, directory: Path | None = None) -> list[str]:
    """Where any secret value shows up: in the given texts or in any file under ``directory``."""
    hits = []
    for i, text in enumerate(texts):
        for s in secrets:
            if s and s in text:
                hits.append(f"text #{i} contains a credential")
    if directory is not None:
        for p in directory.rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                for s in secrets:
                    if s and s.encode() in data:
                        hits.append(f"{p} contains a credential")
    return hits


@pytest.fixture
def dead_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    return free_port()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections but never says a word (a hung server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def hung_tls_server(tls_ca: Path) -> Iterator[int]:
    """A port that completes the TLS handshake (trusted certificate) and then never answers a request."""
    import ssl
    import threading

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls_ca / "server.pem"), str(tls_ca / "server.key"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()
    held = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(5)
                held.append(ctx.wrap_socket(conn, server_side=True))  # handshake, then silence
            except OSError:
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=5)
        for c in held:
            c.close()
        sock.close()
