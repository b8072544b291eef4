"""`s3 check` / `s3 ensure-bucket` against hostile servers, a misleading policy Sid, and without the s3 extra.

The hostile servers are tiny TLS servers on loopback (certificate from the test CA, so the TLS check
passes and the S3 requests really go out). Each run must end within the command's deadline (plus
interpreter start-up) with exactly one `error:` line, exit 1, and bounded memory.
"""

from __future__ import annotations

import json
import resource
import socket
import ssl
import threading
import time

import pytest

from velero_gitops.ops import s3

from cli_util import clean_env, run_cli
from s3_fixtures import *  # noqa: F401,F403  (fixtures: s3_server, tls_ca)
from s3_fixtures import bucket_name, write_config

KEY_ID, SECRET = "AKIAHOSTILE000000000", "hostile/secret+key/0123456789abcdef"
# Small injected bounds instead of the defaults: the drip server sends a byte more often than the read timeout,
# so only the deadline can end the command: the message says the deadline ended it (the subprocess timeout only
# stops a hang; no wall-clock assert).
DEADLINE = 2.0
TIMEOUT = 1.5
DRIP_EVERY = 0.5


def _read_request(conn) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def endless(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n<ListBucketResult>")
    block = b"<Contents>" + b"x" * 65536 + b"</Contents>"
    while True:
        conn.sendall(block)


def drip(conn):
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
        conn.sendall(bytes([byte]))
        time.sleep(DRIP_EVERY)


def redirect(conn):
    conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/bucket?x=1\r\n"
                 b"Content-Length: 0\r\n\r\n")


@pytest.fixture
def hostile(tls_ca):
    """start(behaviour) -> port of a TLS server answering every request with ``behaviour``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls_ca / "server.pem"), str(tls_ca / "server.key"))
    socks, stop = [], threading.Event()

    def start(behaviour):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(0.2)
        socks.append(sock)

        def handle(raw):
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    while not stop.is_set():
                        if not _read_request(conn):
                            return
                        behaviour(conn)
            except OSError:
                pass

        def serve():
            while not stop.is_set():
                try:
                    raw, _ = sock.accept()
                except OSError:
                    continue
                threading.Thread(target=handle, args=(raw,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return sock.getsockname()[1]

    yield start
    stop.set()
    for s in socks:
        s.close()


@pytest.mark.parametrize("behaviour,fragment", [
    (endless, "sent an answer larger than 1024 KiB"),
    (drip, f"within the {DEADLINE:g}s deadline"),
    (redirect, "answered with a redirect (HTTP 307 to http://127.0.0.1:9/bucket"),
])
@pytest.mark.parametrize("command", [["s3", "check"], ["s3", "ensure-bucket"]])
def test_hostile_server_ends_within_the_deadline_with_one_error(hostile, tls_ca, tmp_path, behaviour, fragment, command):
    port = hostile(behaviour)
    cfg = write_config(tmp_path / "cfg", f"https://127.0.0.1:{port}", bucket_name(), ca=tls_ca / "ca.pem",
                       extra_s3="forcePathStyle: true")
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run = run_cli(*command, "--config", str(cfg), "--deadline", f"{DEADLINE:g}", "--timeout", f"{TIMEOUT:g}", exact_env=env,
              timeout=DEADLINE + 30)
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [ln for ln in run.err.splitlines() if ln.strip()]
    assert run.code == 1, (run.code, run.out, run.err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], run.err
    assert "Traceback" not in run.err and "RecursionError" not in run.err and run.out == ""
    assert KEY_ID not in run.err and SECRET not in run.err
    assert rss_kib < 400 * 1024 or rss_kib == before  # the endless body is never buffered


def test_deadline_interrupts_a_read_that_keeps_receiving(hostile, tls_ca):
    """In process: the timer cuts a read that never times out (a byte every DRIP_EVERY s, read timeout TIMEOUT s)."""
    port = hostile(drip)
    target = s3.Target(endpoint=f"https://127.0.0.1:{port}", bucket="b", prefix="", region="us-east-1",
                       path_style=True, ca_file=tls_ca / "ca.pem", verify=True, allow_http=False)
    from velero_gitops.secrets.credentials import Credentials

    start = time.monotonic()
    with pytest.raises(s3.S3Failure, match="deadline"):
        s3.check(target, Credentials(KEY_ID, SECRET), timeout=TIMEOUT, deadline_s=1)
    assert time.monotonic() - start < 2


# -------------------------------------------------------------------------------------- policy Sid
def test_force_keeps_a_statement_that_only_shares_our_sid(s3_server, tmp_path):
    """A `DenyInsecureTransport` statement that denies something else is kept; ours is added under its own Sid."""
    bucket = bucket_name()
    admin = s3_server.boto()
    admin.create_bucket(Bucket=bucket)
    theirs = {"Sid": s3.POLICY_SID, "Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::123456789012:user/mallory"]},
              "Action": ["s3:PutBucketTagging"], "Resource": [f"arn:aws:s3:::{bucket}"]}
    admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]}))
    cfg = write_config(tmp_path / "cfg", s3_server.url, bucket, ca=s3_server.ca_pem)
    run = run_cli("s3", "ensure-bucket", "--config", str(cfg), "-o", "json", exact_env=s3_server.env())
    assert run.code == 1 and json.loads(run.out)["checks"][-1]["name"] == "policy"  # not changed without --force
    run = run_cli("s3", "ensure-bucket", "--config", str(cfg), "--force", "-o", "json", exact_env=s3_server.env())
    assert run.code == 0, run.out + run.err
    policy = json.loads(admin.get_bucket_policy(Bucket=bucket)["Policy"])
    assert theirs in policy["Statement"]
    ours = [st for st in policy["Statement"] if st != theirs]
    assert len(ours) == 1 and ours[0]["Sid"] == f"{s3.POLICY_SID}2"
    assert s3.policy_denies_insecure(policy, bucket)
    again = run_cli("s3", "ensure-bucket", "--config", str(cfg), "--force", "-o", "json", exact_env=s3_server.env())
    assert again.code == 0 and "left unchanged" in " ".join(json.loads(again.out)["actions"])


def test_merge_matches_on_meaning_never_on_sid():
    b = "velero-backups"
    same_sid = [
        {"Sid": s3.POLICY_SID, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*"},
        {"Sid": s3.POLICY_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "*"},
    ]
    for st in same_sid:
        merged = s3.merged_policy({"Version": "2012-10-17", "Statement": [st, {"Sid": f"{s3.POLICY_SID}2"}]}, b)
        assert merged["Statement"][0] == st and merged["Statement"][1] == {"Sid": f"{s3.POLICY_SID}2"}
        assert merged["Statement"][2]["Sid"] == f"{s3.POLICY_SID}3"
        assert s3.policy_denies_insecure(merged, b)


# -------------------------------------------------------------------------------------- missing extra
@pytest.mark.parametrize("command", [["s3", "check"], ["s3", "ensure-bucket"]])
def test_missing_s3_extra_is_one_line(tmp_path, command):
    """boto3/botocore hidden by shadow packages that raise ImportError, as in an install without [s3]."""
    import os

    shadow = tmp_path / "shadow"
    for name in ("boto3", "botocore"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    cfg = write_config(tmp_path / "cfg", "https://127.0.0.1:9", bucket_name())
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                    PYTHONPATH=os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]))
    run = run_cli(*command, "--config", str(cfg), exact_env=env)
    assert run.code == 2 and run.out == "", run.err
    assert run.err == (f"error: `velero-gitops {' '.join(command)}` needs the s3 extra (boto3): "
                       "pip install 'velero-gitops[s3]'\n")
    assert run_cli("s3", "policy", "--config", str(cfg), "-o", "json", exact_env=env).code == 0  # needs no extra
