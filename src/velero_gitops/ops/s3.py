"""Talk to the S3 (MinIO) endpoint: check it, create the bucket, print the Velero user's policy.

Everything here is bounded, whatever the server does: each command runs under one total deadline
(``deadline``; a server that drips one byte every few seconds cannot stretch it, unlike the socket
timeouts, which bound each read), a response body larger than ``MAX_RESPONSE`` is refused, and no
redirect is followed (the signed request would go elsewhere, possibly over plain http). Each of these
ends the command with one ``S3Failure`` line. Credentials (velero_gitops.secrets.credentials) are never
printed, logged or written: every message that leaves this module goes through ``Credentials.redact``.

The CA bundle is used from the file the config names (it is not secret); botocore needs a path.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import io
import json
import signal
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from velero_gitops.config.names import split_url
from velero_gitops.errors import UsageError, VeleroGitopsError
from velero_gitops.secrets.credentials import Credentials

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"
POLICY_SID = "DenyInsecureTransport"
DEFAULT_TIMEOUT = 5.0  # seconds to connect, and to wait for each answer; two attempts at most
DEFAULT_DEADLINE = 30.0  # seconds for a whole command, whatever the server does
MAX_RESPONSE = 1024 * 1024  # S3 answers here are listings of one key, policies and small probes


class S3Failure(VeleroGitopsError):
    """The server misbehaved (deadline, oversized answer, redirect): one line, exit 1 like a failed check."""

    exit_code = 1


def require_client(command: str) -> None:
    """Fail in one line, before any work, when the `s3` extra (boto3/botocore) is not installed."""
    try:
        import boto3  # noqa: F401
        import botocore  # noqa: F401
    except ImportError:
        raise UsageError(f"`velero-gitops {command}` needs the s3 extra (boto3): "
                         "pip install 'velero-gitops[s3]'") from None


class _Alarm(BaseException):
    """The command's deadline passed (raised by SIGALRM; BaseException so no library retries it)."""


@dataclass
class Deadline:
    seconds: float
    endpoint: str
    at: float = 0.0

    def __post_init__(self) -> None:
        self.at = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def failure(self) -> S3Failure:
        return S3Failure(f"{self.endpoint} gave no complete answer within the {self.seconds:g}s deadline of the "
                         "command (a stuck or very slow server?); nothing more was attempted: raise --deadline "
                         "to wait longer")

    def check(self) -> None:
        if self.remaining() <= 0:
            raise self.failure()


@contextlib.contextmanager
def deadline(seconds: float, endpoint: str) -> Iterator[Deadline]:
    """A total deadline for a command. In the main thread a timer signal interrupts even a read that keeps
    receiving a byte at a time; elsewhere it is checked before each request and between body chunks."""
    d = Deadline(seconds, endpoint)
    timer = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if timer:
        def alarm(signum: int, frame: FrameType | None) -> NoReturn:  # noqa: ARG001
            raise _Alarm()

        old = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield d
    except _Alarm:
        raise d.failure() from None
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
PROBE_NAME = "velero-gitops-probe-"


# ---------------------------------------------------------------------------------------- target
@dataclass(frozen=True)
class Target:
    endpoint: str  # scheme://host[:port]
    bucket: str
    prefix: str  # without slashes; "" for the bucket root
    region: str
    path_style: bool
    ca_file: Path | None  # the configured CA bundle (PEM)
    verify: bool  # False only with insecureSkipTLSVerify
    allow_http: bool

    @property
    def https(self) -> bool:
        return self.endpoint.startswith("https://")

    @property
    def host(self) -> str:
        return split_url(self.endpoint).hostname

    @property
    def port(self) -> int:
        parts = split_url(self.endpoint)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def key(self, name: str) -> str:
        return object_key(self.prefix, name)

    @classmethod
    def of(cls, loaded: LoadedConfig) -> Target:
        from velero_gitops import varsub

        s3 = loaded.config.s3
        if varsub.names(s3.endpoint):
            raise UsageError(f"s3.endpoint {s3.endpoint} holds a Flux variable, which only the cluster substitutes "
                             "(flux.substituteFrom): the s3 commands cannot know the host; run them with a copy of "
                             "the config whose endpoint names it")
        ca = (Path(loaded.path).parent / s3.ca_bundle) if s3.ca_bundle else None
        target = cls(endpoint=s3.endpoint, bucket=s3.bucket, prefix=s3.prefix.strip("/"), region=s3.region,
                     path_style=s3.force_path_style, ca_file=ca, verify=not s3.insecure_skip_tls_verify,
                     allow_http=s3.allow_http)
        target.refuse_http()
        return target

    def refuse_http(self) -> None:
        parts = split_url(self.endpoint)
        if parts.scheme == "http" and not self.allow_http:
            raise UsageError(f"{self.endpoint} is plain http: credentials would cross the network unencrypted. "
                             "Use https:// (with s3.caBundle for a private CA) or set s3.allowHttp: true")
        if parts.scheme not in ("http", "https"):
            raise UsageError(f"{self.endpoint} is not an http(s) endpoint")


@dataclass
class Check:
    name: str
    status: str  # ok | fail | warn | skip
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class Report:
    target: Target
    credentials_source: str
    checks: list[Check] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # ensure-bucket: what it did (or would do)
    policy_diff: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.target.endpoint, "bucket": self.target.bucket, "prefix": self.target.prefix,
            "region": self.target.region, "credentials": self.credentials_source,
            "ok": self.ok, "checks": [c.as_dict() for c in self.checks], "actions": list(self.actions),
            "policyDiff": self.policy_diff, "elapsedSeconds": round(self.elapsed, 3),
        }


# ------------------------------------------------------------------------------------------ TLS
def _ca_path(target: Target) -> str | bool:
    """What botocore's `verify` gets: the CA bundle path, botocore's default bundle, or False."""
    if not target.verify:
        return False
    if target.ca_file:
        return str(target.ca_file)
    from botocore.httpsession import where

    return where()


def tls_check(target: Target, timeout: float = DEFAULT_TIMEOUT) -> Check:
    """Connect and (for https) do the TLS handshake with the same trust store botocore will use."""
    host, port = target.host, target.port
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        return Check("tls", FAIL, f"cannot resolve {host} ({exc.strerror or exc})")
    except ConnectionRefusedError:
        return Check("tls", FAIL, f"connection refused by {host}:{port}: nothing listens there (server down?)")
    except TimeoutError:
        return Check("tls", FAIL, f"no connection to {host}:{port} within {timeout:g}s (server down or firewalled?)")
    except OSError as exc:
        return Check("tls", FAIL, f"cannot connect to {host}:{port}: {exc.strerror or exc}")
    with sock:
        if not target.https:
            return Check("tls", WARN, f"plain http to {host}:{port} (allowed by s3.allowHttp): no encryption")
        ctx = ssl.create_default_context()
        if target.verify:
            ca = _ca_path(target)
            ctx = ssl.create_default_context(cafile=str(ca))
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        sock.settimeout(timeout)
        try:
            with ctx.wrap_socket(sock, server_hostname=host) as tls:
                version = tls.version()
                cert = tls.getpeercert() or {}
        except ssl.SSLCertVerificationError as exc:
            hint = ("add your CA's PEM as s3.caBundle" if not target.ca_file
                    else f"{target.ca_file.name} does not contain the CA that signed it")
            return Check("tls", FAIL, f"certificate of {host} not trusted: {exc.verify_message or exc.reason}; {hint}")
        except TimeoutError:
            return Check("tls", FAIL, f"{host}:{port} accepted the connection but the TLS handshake got no answer "
                                      f"within {timeout:g}s")
        except ssl.SSLError as exc:
            return Check("tls", FAIL, f"TLS handshake with {host}:{port} failed: {exc.reason or exc} "
                                      "(is it an https port?)")
        except OSError as exc:
            return Check("tls", FAIL, f"TLS handshake with {host}:{port} failed: {exc.strerror or exc}")
    if not target.verify:
        return Check("tls", WARN, f"{version}, certificate NOT verified (s3.insecureSkipTLSVerify: true)")
    detail = f"{version}, certificate for {host} trusted"
    if target.ca_file:
        detail += f" via {target.ca_file.name}"
    not_after = cert.get("notAfter")
    if not_after:
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(not_after)), tz=UTC)
        days = (expires - datetime.now(UTC)).days
        detail += f", expires {expires:%Y-%m-%d} ({days} days)"
        if days < 14:
            return Check("tls", WARN, detail + ": renew it soon")
    return Check("tls", OK, detail)


# --------------------------------------------------------------------------------------- client
def make_client(target: Target, creds: Credentials, timeout: float = DEFAULT_TIMEOUT,
                limit: Deadline | None = None) -> Any:
    require_client("s3")
    import boto3
    from botocore.config import Config as BotoConfig

    limit = limit or Deadline(DEFAULT_DEADLINE, target.endpoint)
    timeout = max(0.1, min(timeout, limit.remaining()))
    cfg = BotoConfig(
        region_name=target.region,
        signature_version="s3v4",
        s3={"addressing_style": "path" if target.path_style else "virtual"},
        connect_timeout=timeout,
        read_timeout=timeout,  # per read: the total is bounded by the deadline
        retries={"total_max_attempts": 2, "mode": "standard"},  # the first try and one retry
        # Trailing CRC checksums on every upload break some MinIO/proxy setups (XAmzContentSHA256Mismatch).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra="velero-gitops",
    )
    session = boto3.session.Session(
        aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token, region_name=target.region,
    )
    client = session.client("s3", endpoint_url=target.endpoint, verify=_ca_path(target), config=cfg)
    client.meta.events.register_first("before-send.s3", _BoundedSend(target, creds, timeout, limit))
    return client


class _Body:
    """A response body already read (and bounded), shaped like the raw stream botocore reads from."""

    def __init__(self, data: bytes):
        self._buf = io.BytesIO(data)

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self._buf.getvalue()

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        return self._buf.read(amt if amt is not None else -1)

    def close(self) -> None:
        pass


class _BoundedSend:
    """botocore's `before-send` hook: send the request ourselves, follow no redirect, read at most MAX_RESPONSE."""

    def __init__(self, target: Target, creds: Credentials, timeout: float, limit: Deadline):
        from botocore.httpsession import URLLib3Session
        from botocore.utils import get_environ_proxies

        self.target, self.creds, self.limit = target, creds, limit
        self.http = URLLib3Session(verify=_ca_path(target), proxies=get_environ_proxies(target.endpoint),
                                   timeout=(timeout, timeout), max_pool_connections=2)

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        self.limit.check()
        streamed = request.stream_output
        request.stream_output = True  # we read the body, bounded, instead of botocore reading it all
        try:
            resp = self.http.send(request)
        finally:
            request.stream_output = streamed
        raw = resp.raw
        try:
            if 300 <= resp.status_code < 400:
                where = self.creds.redact(str(resp.headers.get("Location", "no Location header")))[:200]
                raise S3Failure(f"{self.target.endpoint} answered with a redirect (HTTP {resp.status_code} to "
                                f"{where}); velero-gitops follows no redirect, the signed request would go "
                                "elsewhere: set s3.endpoint to the address that serves the bucket")
            data = self._read(raw)
        finally:
            with contextlib.suppress(Exception):
                raw.release_conn()
        return AWSResponse(request.url, resp.status_code, resp.headers, _Body(data))

    def _read(self, raw: Any) -> bytes:
        chunks: list[bytes] = []
        size = 0
        read = getattr(raw, "read1", None) or raw.read  # read1: return what arrived, so the deadline is checked
        while True:
            self.limit.check()
            chunk = read(64 * 1024)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE:
                raise S3Failure(f"{self.target.endpoint} sent an answer larger than {MAX_RESPONSE // 1024} KiB "
                                "(S3 answers here are a few KiB): not an S3 server, or a misbehaving one")
            chunks.append(chunk)


def _error(exc: BaseException, creds: Credentials, target: Target) -> tuple[str, str]:
    """(code, message) for any botocore failure, credentials redacted."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
        SSLError,
    )

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "error"))
        msg = str(err.get("Message") or code)
        return code, creds.redact(msg)
    if isinstance(exc, SSLError):
        return "TLS", creds.redact(f"TLS failure: {exc}")
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return "Timeout", f"{target.endpoint} did not answer in time"
    if isinstance(exc, EndpointConnectionError):
        return "Connection", f"cannot reach {target.endpoint}"
    return type(exc).__name__, creds.redact(str(exc))


CRED_CODES = {
    "InvalidAccessKeyId": "the access key id is not known to the server",
    "SignatureDoesNotMatch": "the secret key does not match the access key id",
    "InvalidToken": "the session token is invalid",
    "ExpiredToken": "the session token has expired",
    "InvalidClientTokenId": "the access key id is not known to the server",
    "AuthorizationHeaderMalformed": "the server refused the signature",
}


def _cred_failure(code: str, msg: str, target: Target) -> Check | None:
    if code in CRED_CODES:
        detail = f"rejected: {CRED_CODES[code]} ({code})"
        if code == "AuthorizationHeaderMalformed":
            detail = (f"rejected: {msg} - s3.region ({target.region}) must match the MinIO site region")
        return Check("credentials", FAIL, detail)
    return None


def _list(client: Any, target: Target) -> None:
    # Prefix without the trailing slash: enough to prove listing works (and moto mis-signs an encoded '/').
    client.list_objects_v2(Bucket=target.bucket, Prefix=target.prefix, MaxKeys=1)


# ----------------------------------------------------------------------------------------- policy
def tls_only_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": POLICY_SID,
        "Effect": "Deny",
        "Principal": {"AWS": ["*"]},
        "Action": ["s3:*"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
    }


def bucket_policy(bucket: str) -> dict[str, Any]:
    """The bucket policy ensure-bucket applies: deny every request that does not use TLS."""
    return {"Version": "2012-10-17", "Statement": [tls_only_statement(bucket)]}


def _as_list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _denies_insecure(stmt: dict[str, Any], bucket: str) -> bool:
    if str(stmt.get("Effect", "")).lower() != "deny":
        return False
    principal = stmt.get("Principal")
    if principal != "*":
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        if aws is None or "*" not in _as_list(aws):
            return False
    actions = {str(a).lower() for a in _as_list(stmt.get("Action", []))}
    if not actions & {"s3:*", "*"}:
        return False
    resources = {str(r) for r in _as_list(stmt.get("Resource", []))}
    if "*" not in resources and not {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"} <= resources:
        return False
    for op, conds in (stmt.get("Condition") or {}).items():
        if op.lower() not in ("bool", "boolifexists") or not isinstance(conds, dict):
            continue
        for key, value in conds.items():
            if key.lower() == "aws:securetransport" and [str(v).lower() for v in _as_list(value)] == ["false"]:
                return True
    return False


def policy_denies_insecure(policy: dict[str, Any], bucket: str) -> bool:
    return any(isinstance(s, dict) and _denies_insecure(s, bucket) for s in _as_list(policy.get("Statement", [])))


def merged_policy(existing: dict[str, Any] | None, bucket: str) -> dict[str, Any]:
    """The existing policy with our statement added; every existing statement is kept.

    A statement is recognised by what it means (``_denies_insecure``), never by its Sid: one that only
    shares the Sid ``DenyInsecureTransport`` may mean something else, so ours gets a Sid of its own.
    """
    if not existing:
        return bucket_policy(bucket)
    out = copy.deepcopy(existing)
    statements = _as_list(out.get("Statement", []))
    taken = {s.get("Sid") for s in statements if isinstance(s, dict)}
    ours = tls_only_statement(bucket)
    sid, n = POLICY_SID, 1
    while sid in taken:
        n += 1
        sid = f"{POLICY_SID}{n}"
    ours["Sid"] = sid
    out["Statement"] = [*statements, ours]
    out.setdefault("Version", "2012-10-17")
    return out


def policy_text(policy: dict[str, Any] | None) -> str:
    return "" if policy is None else json.dumps(policy, indent=2, sort_keys=True) + "\n"


def policy_diff(old: dict[str, Any] | None, new: dict[str, Any], bucket: str) -> str:
    return "".join(difflib.unified_diff(
        policy_text(old).splitlines(keepends=True), policy_text(new).splitlines(keepends=True),
        fromfile=f"{bucket} policy (current)" if old is not None else f"{bucket} policy (none)",
        tofile=f"{bucket} policy (wanted)",
    ))


def _get_policy(client: Any, bucket: str) -> tuple[str, dict[str, Any] | None]:
    """('present'|'none', policy) or raise the botocore error."""
    from botocore.exceptions import ClientError

    try:
        text = client.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucketPolicy", "NoSuchPolicy"):
            return "none", None
        raise
    try:
        return "present", json.loads(text)
    except ValueError:
        return "present", {"_unparsable": text}


def lifecycle_rules(client: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules ([] when it has none), or raise the botocore error."""
    from botocore.exceptions import ClientError

    try:
        return list(client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules") or [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise


def expiring_rules(rules: list[dict[str, Any]], prefix: str) -> list[str]:
    """The ids of the enabled rules that expire current objects under ``prefix`` ("" = the whole bucket).

    Kopia's pack blobs are content-addressed and referenced by every later snapshot of the namespace; only Velero's
    garbage collection and kopia's own maintenance know which are still used (vmware-tanzu/velero@v1.18.1:
    pkg/controller/gc_controller.go, pkg/repository/maintenance). An age-based Expiration (Days or Date) deletes a
    blob by its age alone, so it breaks later restores whatever its length. A rule covers the prefix when one of the
    two key prefixes starts the other; a rule filtered on tags matches nothing Velero or kopia writes (they tag no
    object). Expiring non-current versions (NoncurrentVersionExpiration) or delete markers only is harmless.
    """
    base = f"{prefix}/" if prefix else ""
    out = []
    for i, rule in enumerate(rules):
        expiration = rule.get("Expiration") or {}
        if rule.get("Status") != "Enabled" or not ("Days" in expiration or "Date" in expiration):
            continue
        flt = rule.get("Filter") or {}
        both = flt.get("And") or {}
        if "Tag" in flt or both.get("Tags"):
            continue
        start = str(both.get("Prefix", flt.get("Prefix", rule.get("Prefix", ""))))
        if base.startswith(start) or start.startswith(base):
            out.append(str(rule.get("ID") or f"rule {i + 1}"))
    return out


def user_policy(bucket: str) -> dict[str, Any]:
    """Least privilege for the Velero user: this bucket only, objects and multipart, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "VeleroBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Sid": "VeleroObjects",
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject",
                           "s3:ListMultipartUploadParts", "s3:PutObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
            {
                # Also in the user policy: MinIO enforces user policies on every authenticated request.
                "Sid": POLICY_SID,
                "Effect": "Deny",
                "Action": ["s3:*"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
            },
        ],
    }


def mc_commands(target: Target, user: str, policy_name: str, policy_file: str, alias: str = "s3admin",
                config: str = "<your config>") -> list[str]:
    """The MinIO client commands that create the Velero user and give it the policy (no secret on the line)."""
    return [
        "# 1. an admin alias (mc prompts for the admin access and secret key)",
        f"mc alias set {alias} {target.endpoint}",
        f"# 2. the policy: velero-gitops s3 policy --config {config} > {policy_file}",
        f"mc admin policy create {alias} {policy_name} {policy_file}",
        "# 3. the Velero user: read its secret key without echo, so it stays out of shell history",
        "read -rs -p 'secret key for the velero user: ' VELERO_SECRET_KEY; echo",
        f"mc admin user add {alias} {user} \"$VELERO_SECRET_KEY\"",
        f"mc admin policy attach {alias} {policy_name} --user {user}",
        "unset VELERO_SECRET_KEY",
        "# 4. the bucket (idempotent), with the HTTPS-only bucket policy",
        f"velero-gitops s3 ensure-bucket --config {config}",
    ]


# ----------------------------------------------------------------------------------------- checks
def _checks(client: Any, target: Target, creds: Credentials, expect_policy: bool) -> Iterator[Check]:
    """credentials, bucket, probe, policy - stops after the first failure that makes the rest meaningless."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _list(client, target)
        yield Check("credentials", OK, f"accepted ({creds.source.split(' (')[0]})")
    except (ClientError, BotoCoreError) as exc:
        code, msg = _error(exc, creds, target)
        bad = _cred_failure(code, msg, target)
        if bad:
            yield bad
            return
        if code in ("Timeout", "Connection", "TLS"):
            yield Check("credentials", FAIL, f"not checked: {msg}")
            return
        if code == "NoSuchBucket":
            yield Check("credentials", OK, f"accepted ({creds.source.split(' (')[0]})")
            yield Check("bucket", FAIL, f"{target.bucket} does not exist; create it with `velero-gitops s3 ensure-bucket`")
            return
        if code in ("AccessDenied", "403", "Forbidden"):
            yield Check("credentials", OK, "accepted (signature valid)")
            yield Check("bucket", FAIL, f"access denied listing {target.bucket}/{target.key('')}: the user's "
                                        "policy must allow s3:ListBucket on it (see `velero-gitops s3 policy`)")
            return
        yield Check("credentials", FAIL, f"{code}: {msg}")
        return
    yield Check("bucket", OK, f"{target.bucket} exists and can be listed")

    key = target.key(f"{PROBE_NAME}{uuid.uuid4().hex}")
    body = f"velero-gitops probe {uuid.uuid4().hex}\n".encode()
    step = "write"
    try:
        client.put_object(Bucket=target.bucket, Key=key, Body=body)
        step = "read"
        got = client.get_object(Bucket=target.bucket, Key=key)["Body"].read()
        step = "delete"
        client.delete_object(Bucket=target.bucket, Key=key)
        if got != body:
            yield Check("probe", FAIL, f"read back different bytes from {target.bucket}/{key} (proxy rewriting bodies?)")
        else:
            yield Check("probe", OK, f"wrote, read and deleted {target.bucket}/{target.key(PROBE_NAME + '…')}")
    except (ClientError, BotoCoreError) as exc:
        code, msg = _error(exc, creds, target)
        left = f"; delete {target.bucket}/{key} by hand" if step in ("read", "delete") else ""
        yield Check("probe", FAIL, f"{step} of a probe object under {target.bucket}/{target.key('')} failed: "
                                   f"{code}: {msg}{left}")
        if code in ("Timeout", "Connection", "TLS"):
            return

    yield _lifecycle_check(client, target, creds)

    if not expect_policy:
        yield Check("policy", SKIP, "not checked (--no-tls-policy)")
        return
    try:
        state, policy = _get_policy(client, target.bucket)
    except (ClientError, BotoCoreError) as exc:
        code, msg = _error(exc, creds, target)
        if code in ("AccessDenied", "403", "Forbidden"):
            yield Check("policy", WARN, "these credentials may not read the bucket policy (expected for the "
                                        "least-privilege Velero user); run the check with admin credentials to verify it")
        else:
            yield Check("policy", FAIL, f"cannot read the bucket policy: {code}: {msg}")
        return
    if state == "none":
        yield Check("policy", FAIL, f"{target.bucket} has no bucket policy: plain-http requests are not denied; "
                                    "apply it with `velero-gitops s3 ensure-bucket`")
    elif policy_denies_insecure(policy or {}, target.bucket):
        yield Check("policy", OK, "bucket policy denies requests without TLS (aws:SecureTransport false)")
    else:
        yield Check("policy", FAIL, "the bucket policy does not deny requests without TLS; "
                                    "`velero-gitops s3 ensure-bucket --force` adds that statement")


def _lifecycle_check(client: Any, target: Target, creds: Credentials) -> Check:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"{target.bucket}/{target.key('')}"
    try:
        expiring = expiring_rules(lifecycle_rules(client, target.bucket), target.prefix)
    except (ClientError, BotoCoreError) as exc:
        code, msg = _error(exc, creds, target)
        if code in ("AccessDenied", "403", "Forbidden"):
            return Check("lifecycle", WARN, "these credentials may not read the bucket's lifecycle rules (expected for "
                                            "the least-privilege Velero user); run the check with admin credentials")
        return Check("lifecycle", FAIL, f"cannot read the bucket's lifecycle rules: {code}: {msg}")
    if expiring:
        return Check("lifecycle", FAIL, f"lifecycle rule {', '.join(expiring)} expires objects under {where}: it deletes "
                                        "kopia data that newer backups still share, and their restores fail. Remove "
                                        "its Expiration for this prefix; Velero's ttl and kopia maintenance delete "
                                        "what is no longer used (expiring non-current versions is fine)")
    return Check("lifecycle", OK, f"no lifecycle rule expires objects under {where}")


def check(target: Target, creds: Credentials, timeout: float = DEFAULT_TIMEOUT, expect_policy: bool = True,
          deadline_s: float = DEFAULT_DEADLINE) -> Report:
    """TLS, credentials, bucket, probe and policy, all within ``deadline_s`` seconds (else S3Failure)."""
    require_client("s3 check")
    with deadline(deadline_s, target.endpoint) as limit:
        return _check(target, creds, min(timeout, deadline_s), expect_policy, limit)


def _check(target: Target, creds: Credentials, timeout: float, expect_policy: bool, limit: Deadline) -> Report:
    start = time.monotonic()
    report = Report(target, creds.source)
    report.checks.append(Check("endpoint", OK if target.https else WARN,
                               target.endpoint + ("" if target.https else " (plain http, allowed by s3.allowHttp)")))
    tls = tls_check(target, timeout)
    report.checks.append(tls)
    if tls.status != FAIL:
        client = make_client(target, creds, timeout, limit)
        report.checks.extend(_checks(client, target, creds, expect_policy))
    report.elapsed = time.monotonic() - start
    return report


def ensure_bucket(target: Target, creds: Credentials, *, tls_policy: bool = True, force: bool = False,
                  dry_run: bool = False, timeout: float = DEFAULT_TIMEOUT,
                  deadline_s: float = DEFAULT_DEADLINE) -> Report:
    """`_ensure_bucket` within ``deadline_s`` seconds (else S3Failure)."""
    require_client("s3 ensure-bucket")
    if tls_policy and not target.https:
        raise UsageError(f"the TLS-only bucket policy would lock out {target.endpoint} (plain http); "
                         "pass --no-tls-policy or switch the endpoint to https://")
    with deadline(deadline_s, target.endpoint) as limit:
        return _ensure_bucket(target, creds, tls_policy=tls_policy, force=force, dry_run=dry_run,
                              timeout=min(timeout, deadline_s), limit=limit)


class _StepFailed(Exception):
    """An S3 call in an ensure-bucket step failed: the run stops with a check named ``name``."""

    def __init__(self, name: str, exc: BaseException, what: str) -> None:
        super().__init__(what)
        self.name, self.exc, self.what = name, exc, what


def _ensure_bucket(target: Target, creds: Credentials, *, tls_policy: bool, force: bool, dry_run: bool,
                   timeout: float, limit: Deadline) -> Report:
    """Create the bucket when missing and apply the TLS-only policy; then run every check.

    Never deletes or rewrites objects; never replaces a different existing policy without ``force``
    (it shows the diff instead and the report fails).
    """
    start = time.monotonic()
    report = Report(target, creds.source)
    report.checks.append(Check("endpoint", OK if target.https else WARN, target.endpoint))
    tls = tls_check(target, timeout)
    report.checks.append(tls)
    if tls.status == FAIL:
        return _finished(report, start)
    client = make_client(target, creds, timeout, limit)
    try:
        exists = _ensure_exists(client, target, report, dry_run=dry_run)
        if not tls_policy:
            report.actions.append("TLS-only bucket policy skipped (--no-tls-policy)")
        elif not _ensure_tls_policy(client, target, report, exists=exists, force=force, dry_run=dry_run):
            return _finished(report, start)
    except _StepFailed as failed:
        code, msg = _error(failed.exc, creds, target)
        report.checks.append(_cred_failure(code, msg, target) or Check(failed.name, FAIL, f"{failed.what}: {code}: {msg}"))
        return _finished(report, start)
    if not dry_run:
        report.checks.extend(_checks(client, target, creds, expect_policy=tls_policy))  # the same as `s3 check`
    return _finished(report, start)


def _finished(report: Report, start: float) -> Report:
    report.elapsed = time.monotonic() - start
    return report


def _ensure_exists(client: Any, target: Target, report: Report, *, dry_run: bool) -> bool:
    """Step 1: create the bucket when it is missing. Returns whether it existed."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _list(client, target)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise _StepFailed("bucket", exc, f"cannot look at {target.bucket}") from None
    except BotoCoreError as exc:
        raise _StepFailed("bucket", exc, f"cannot look at {target.bucket}") from None
    else:
        report.actions.append(f"bucket {target.bucket} exists: left unchanged")
        return True
    if not dry_run:
        kwargs: dict[str, Any] = {"Bucket": target.bucket}
        if target.region and target.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": target.region}
        try:
            client.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise _StepFailed("bucket", exc, f"cannot create {target.bucket}") from None
        except BotoCoreError as exc:
            raise _StepFailed("bucket", exc, f"cannot create {target.bucket}") from None
    report.actions.append(f"{'would ' if dry_run else ''}create bucket {target.bucket} (region {target.region})")
    return False


def _ensure_tls_policy(client: Any, target: Target, report: Report, *, exists: bool, force: bool,
                       dry_run: bool) -> bool:
    """Step 2: the policy that denies requests without TLS, added to (never replacing) the bucket's own.

    Returns False when the bucket has a different policy and ``force`` is not given: the run stops there.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    current: dict[str, Any] | None = None
    if exists:
        try:
            _, current = _get_policy(client, target.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise _StepFailed("policy", exc, "cannot read the current bucket policy") from None
    if current is not None and policy_denies_insecure(current, target.bucket):
        report.actions.append("bucket policy already denies requests without TLS: left unchanged")
        return True
    wanted = merged_policy(current, target.bucket)
    report.policy_diff = policy_diff(current, wanted, target.bucket)
    if current is not None and not force:
        report.actions.append("bucket has a different policy: NOT changed (re-run with --force to add the "
                              f"{POLICY_SID} statement; the other statements are kept)")
        report.checks.append(Check("policy", FAIL, "existing bucket policy differs; see the diff, use --force"))
        return False
    if not dry_run:
        try:
            client.put_bucket_policy(Bucket=target.bucket, Policy=json.dumps(wanted, sort_keys=True))
        except (ClientError, BotoCoreError) as exc:
            raise _StepFailed("policy", exc, "cannot apply the bucket policy") from None
    verb = "replace" if current is not None else "apply"
    report.actions.append(f"{'would ' if dry_run else ''}{verb} the bucket policy that denies requests without TLS")
    return True


# ------------------------------------------------------------------------------------ kopia repositories
def object_key(prefix: str, name: str) -> str:
    """The key of ``name`` under the config's s3.prefix (no leading or trailing slash kept)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def kopia_prefix(loaded: LoadedConfig) -> str:
    """Where Velero keeps the kopia repositories: a key, so no host is needed (an endpoint with a Flux variable is
    fine here; only a command that contacts the bucket needs Target.of)."""
    return object_key(loaded.config.s3.prefix, "kopia/")


def kopia_namespaces(loaded: LoadedConfig, timeout: float | None = None) -> list[str]:
    """Namespaces with a kopia repository under `<prefix>/kopia/` (vmware-tanzu/velero@v1.18.1:
    pkg/repository/provider/unified_repo.go puts one per namespace at path.Join(prefix, "kopia", ns) + "/").

    Uses the S3 credentials from the environment or the encrypted Secret. Raises UsageError when the bucket
    cannot be listed: then nothing is known, and nothing is written."""
    from velero_gitops.secrets import credentials

    require_client("encrypt-repo-password --check-bucket")
    target = Target.of(loaded)
    creds = credentials.for_s3(loaded)
    with deadline(DEFAULT_DEADLINE, target.endpoint) as limit:
        client = make_client(target, creds, timeout or DEFAULT_TIMEOUT, limit)
        return _list_kopia(client, target, creds)


def _list_kopia(client: Any, target: Target, creds: Credentials) -> list[str]:
    prefix = target.key("kopia/")
    found: list[str] = []
    token: str | None = None
    try:
        while True:
            kw: dict[str, Any] = {"Bucket": target.bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                kw["ContinuationToken"] = token
            page = client.list_objects_v2(**kw)
            found += [cp["Prefix"][len(prefix):].rstrip("/") for cp in page.get("CommonPrefixes") or []]
            found += [f"(object {o['Key'][len(prefix):]})" for o in page.get("Contents") or []]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                break
    except Exception as exc:  # noqa: BLE001 - botocore raises many kinds; all mean "could not look"
        code, msg = _error(exc, creds, target)
        if code == "NoSuchBucket":
            return []
        raise UsageError(f"cannot list s3://{target.bucket}/{prefix} at {target.endpoint} ({code}: {msg}); "
                         "nothing was written") from None
    return sorted(set(found))
