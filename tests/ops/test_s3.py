"""`s3 check`, `s3 ensure-bucket`, `s3 policy` against a real S3 server (moto, TLS, loopback) started here."""

from __future__ import annotations

import json
import time

import pytest

from velero_gitops.ops import s3
from velero_gitops.secrets import credentials as credlib
from velero_gitops.secrets import sops as sopslib

from cli_util import clean_env, need, run_cli
from s3_fixtures import *  # noqa: F401,F403  (fixtures: s3_server, tls_ca, dead_port, silent_server)
from s3_fixtures import bucket_name, scan_for_secrets, write_config


def _json(run) -> dict:
    assert run.out.strip(), run.err
    return json.loads(run.out)


def _status(report: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def _detail(report: dict, name: str) -> str:
    return next(c["detail"] for c in report["checks"] if c["name"] == name)


def _cfg(tmp_path, server, bucket=None, **kw):
    return write_config(tmp_path / "cfg", server.url, bucket or bucket_name(), ca=kw.pop("ca", server.ca_pem), **kw)


def _policy(server, bucket):
    return json.loads(server.boto().get_bucket_policy(Bucket=bucket)["Policy"])


# ------------------------------------------------------------------------------------- ensure-bucket
def test_missing_bucket_is_created_with_the_tls_only_policy(s3_server, tmp_path):
    bucket = bucket_name()
    cfg = _cfg(tmp_path, s3_server, bucket)
    run = run_cli("s3", "ensure-bucket", "--config", str(cfg), "--output", "json", exact_env=s3_server.env())
    assert run.code == 0, run.out + run.err
    report = _json(run)
    assert any(a.startswith(f"create bucket {bucket}") for a in report["actions"])
    assert _status(report) == {"endpoint": "ok", "tls": "ok", "credentials": "ok", "bucket": "ok",
                               "probe": "ok", "lifecycle": "ok", "policy": "ok"}
    # no policy before: the diff starts from none and adds the whole wanted policy, line for line
    head, body = report["policyDiff"].split("\n", 2)[:2], report["policyDiff"].split("\n", 2)[2]
    assert head == [f"--- {bucket} policy (none)", f"+++ {bucket} policy (wanted)"]
    added = body.splitlines()[1:]  # after the @@ hunk header
    assert [line[:1] for line in added] == ["+"] * len(added)
    assert "\n".join(line[1:] for line in added) + "\n" == s3.policy_text(s3.bucket_policy(bucket))
    policy = _policy(s3_server, bucket)
    assert policy == s3.bucket_policy(bucket)
    assert s3.policy_denies_insecure(policy, bucket)
    # the probe object is gone again
    listed = s3_server.boto().list_objects_v2(Bucket=bucket)
    assert listed.get("KeyCount", 0) == 0


def test_present_bucket_is_left_unchanged(s3_server, tmp_path):
    bucket = bucket_name()
    admin = s3_server.boto()
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="velero/backups/b1/velero-backup.json", Body=b'{"keep": "me"}')
    admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps(s3.bucket_policy(bucket)))
    cfg = _cfg(tmp_path, s3_server, bucket)
    for _ in range(2):  # idempotent
        run = run_cli("s3", "ensure-bucket", "--config", str(cfg), "-o", "json", exact_env=s3_server.env())
        assert run.code == 0, run.out + run.err
        report = _json(run)
        assert report["actions"] == [f"bucket {bucket} exists: left unchanged",
                                     "bucket policy already denies requests without TLS: left unchanged"]
        assert report["policyDiff"] is None
    body = admin.get_object(Bucket=bucket, Key="velero/backups/b1/velero-backup.json")["Body"].read()
    assert body == b'{"keep": "me"}'
    assert [o["Key"] for o in admin.list_objects_v2(Bucket=bucket)["Contents"]] == ["velero/backups/b1/velero-backup.json"]
    assert _policy(s3_server, bucket) == s3.bucket_policy(bucket)


def test_a_different_policy_is_only_changed_with_force_and_keeps_its_statements(s3_server, tmp_path):
    bucket = bucket_name()
    admin = s3_server.boto()
    admin.create_bucket(Bucket=bucket)
    theirs = {"Version": "2012-10-17", "Statement": [{
        "Sid": "NoBucketDeletion", "Effect": "Deny", "Principal": {"AWS": ["*"]},
        "Action": ["s3:DeleteBucket"], "Resource": [f"arn:aws:s3:::{bucket}"]}]}
    admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps(theirs))
    cfg = _cfg(tmp_path, s3_server, bucket)

    run = run_cli("s3", "ensure-bucket", "--config", str(cfg), exact_env=s3_server.env())
    assert run.code == 1, run.out + run.err
    assert "--force" in run.out
    added = [ln for ln in run.out.splitlines() if ln.startswith("+") and not ln.startswith("+++")]  # the diff is shown
    assert any('"DenyInsecureTransport"' in ln for ln in added), run.out
    assert _policy(s3_server, bucket) == theirs  # untouched

    dry = run_cli("s3", "ensure-bucket", "--config", str(cfg), "--force", "--dry-run", "-o", "json", exact_env=s3_server.env())
    assert dry.code == 0, dry.out + dry.err
    assert any(a.startswith("would replace") for a in _json(dry)["actions"])
    assert _policy(s3_server, bucket) == theirs  # a dry run changes nothing

    run = run_cli("s3", "ensure-bucket", "--config", str(cfg), "--force", "-o", "json", exact_env=s3_server.env())
    assert run.code == 0, run.out + run.err
    sids = [st["Sid"] for st in _policy(s3_server, bucket)["Statement"]]
    assert sids == ["NoBucketDeletion", "DenyInsecureTransport"]


def test_no_tls_policy_opt_out(s3_server, tmp_path):
    bucket = bucket_name()
    cfg = _cfg(tmp_path, s3_server, bucket)
    run = run_cli("s3", "ensure-bucket", "--config", str(cfg), "--no-tls-policy", "-o", "json", exact_env=s3_server.env())
    assert run.code == 0, run.out + run.err
    report = _json(run)
    assert _status(report)["policy"] == "skip"
    with pytest.raises(Exception) as exc:
        s3_server.boto().get_bucket_policy(Bucket=bucket)
    assert "NoSuchBucketPolicy" in str(exc.value)
    # `check` then says the policy is missing (exit 1)
    run = run_cli("s3", "check", "--config", str(cfg), "-o", "json", exact_env=s3_server.env())
    assert run.code == 1
    assert _status(_json(run))["policy"] == "fail"


# ---------------------------------------------------------------------------------------------- check
def test_check_all_good_table_output(s3_server, tmp_path):
    bucket = bucket_name()
    cfg = _cfg(tmp_path, s3_server, bucket)
    assert run_cli("s3", "ensure-bucket", "-c", str(cfg), exact_env=s3_server.env()).code == 0
    run = run_cli("s3", "check", "--config", str(cfg), exact_env=s3_server.env())
    assert run.code == 0, run.out + run.err
    for word in ("tls", "credentials", "bucket", "probe", "policy", "OK", "TLSv1", "environment"):
        assert word in run.out
    # stdout is a pipe: tab-separated rows, no box drawing, nothing wrapped
    lines = run.out.splitlines()
    assert not any(ch in run.out for ch in "│┃━─┏└")
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in lines[lines.index("check\tresult\tdetail") + 1:-1]}
    assert list(rows) == ["endpoint", "tls", "credentials", "bucket", "probe", "lifecycle", "policy"]
    assert all(result == "OK" for result, _ in rows.values()) and rows["tls"][1].startswith("TLSv1")
    assert lines[-1].startswith("credentials: the environment")


def test_check_finds_a_lifecycle_expiration_over_the_backup_prefix(s3_server, tmp_path):
    """An age-based Expiration deletes kopia pack blobs that newer snapshots still share; only Velero's GC and kopia
    maintenance may delete (vmware-tanzu/velero@v1.18.1:pkg/controller/gc_controller.go,
    pkg/repository/maintenance/maintenance.go). `s3 check` reads the bucket's lifecycle rules on the real server and
    fails on an enabled Expiration whose prefix covers the backup prefix (velero/), whatever its length; a rule on
    another prefix, a tag-filtered rule, a disabled one and one that expires only non-current versions pass."""
    bucket = bucket_name()
    cfg = _cfg(tmp_path, s3_server, bucket)
    assert run_cli("s3", "ensure-bucket", "-c", str(cfg), exact_env=s3_server.env()).code == 0
    admin = s3_server.boto()
    harmless = [
        {"ID": "other-prefix", "Status": "Enabled", "Filter": {"Prefix": "scratch/"}, "Expiration": {"Days": 1}},
        {"ID": "tagged", "Status": "Enabled", "Filter": {"Tag": {"Key": "tmp", "Value": "1"}}, "Expiration": {"Days": 1}},
        {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}},
        {"ID": "old-versions", "Status": "Enabled", "Filter": {"Prefix": "velero/"},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 7}},
    ]
    admin.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": harmless})
    run = run_cli("s3", "check", "--config", str(cfg), "-o", "json", exact_env=s3_server.env())
    assert run.code == 0, run.out + run.err
    assert _status(_json(run))["lifecycle"] == "ok"
    for rule_filter in ({"Prefix": ""}, {"Prefix": "velero/kopia/"}, {"Prefix": "vel"}):
        bad = {"ID": "expire-old", "Status": "Enabled", "Filter": rule_filter, "Expiration": {"Days": 3650}}
        admin.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [*harmless, bad]})
        run = run_cli("s3", "check", "--config", str(cfg), "-o", "json", exact_env=s3_server.env())
        assert run.code == 1, (rule_filter, run.out + run.err)
        detail = _detail(_json(run), "lifecycle")
        assert _status(_json(run))["lifecycle"] == "fail"
        assert detail.startswith(f"lifecycle rule expire-old expires objects under {bucket}/velero/"), detail


def test_check_missing_bucket_fails(s3_server, tmp_path):
    cfg = _cfg(tmp_path, s3_server)
    run = run_cli("s3", "check", "--config", str(cfg), "-o", "json", exact_env=s3_server.env())
    assert run.code == 1
    report = _json(run)
    assert _status(report)["bucket"] == "fail" and "ensure-bucket" in _detail(report, "bucket")


def test_least_privilege_user_works_on_its_bucket_only(s3_server, tmp_path):
    own = _cfg(tmp_path / "own", s3_server, s3_server.velero_bucket)
    assert run_cli("s3", "ensure-bucket", "-c", str(own), exact_env=s3_server.env()).code == 0
    run = run_cli("s3", "check", "-c", str(own), "-o", "json", exact_env=s3_server.env("velero"))
    assert run.code == 0, run.out + run.err
    report = _json(run)
    assert _status(report)["probe"] == "ok"
    assert _status(report)["policy"] == "warn"  # may not read the bucket policy: expected, not a failure
    assert _status(report)["lifecycle"] == "warn"  # nor its lifecycle rules

    other = bucket_name()
    s3_server.boto().create_bucket(Bucket=other)
    cfg = _cfg(tmp_path / "other", s3_server, other)
    run = run_cli("s3", "check", "-c", str(cfg), "-o", "json", exact_env=s3_server.env("velero"))
    assert run.code == 1
    assert "access denied" in _detail(_json(run), "bucket")


@pytest.mark.parametrize("which", ["wrong-secret", "unknown-key"])
def test_wrong_credentials_fail_clearly(s3_server, tmp_path, which):
    cfg = _cfg(tmp_path, s3_server)
    key_id, secret = s3_server.admin
    if which == "wrong-secret":
        env, expect = clean_env(tmp_path, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret[::-1]), "secret key does not match"
    else:
        env, expect = clean_env(tmp_path, AWS_ACCESS_KEY_ID="AKIAUNKNOWN000000000", AWS_SECRET_ACCESS_KEY=secret), "not known"
    for cmd in ("check", "ensure-bucket"):
        run = run_cli("s3", cmd, "-c", str(cfg), "-o", "json", exact_env=env)
        assert run.code == 1, run.out + run.err
        report = _json(run)
        assert _status(report)["credentials"] == "fail"
        assert expect in _detail(report, "credentials")
        assert not scan_for_secrets([env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]], run.out, run.err)
    assert "traceback" not in run.err.lower()


@pytest.mark.parametrize("ca", ["other-ca", "system-store"])
def test_untrusted_certificate_fails_clearly(s3_server, tmp_path, ca):
    cfg = write_config(tmp_path / "cfg", s3_server.url, bucket_name(),
                       ca=s3_server.other_ca_pem if ca == "other-ca" else None)
    start = time.monotonic()
    run = run_cli("s3", "check", "-c", str(cfg), "-o", "json", exact_env=s3_server.env())
    assert run.code == 1
    report = _json(run)
    assert _status(report)["tls"] == "fail"
    detail = _detail(report, "tls")
    assert "not trusted" in detail
    assert ("does not contain the CA" in detail) if ca == "other-ca" else ("s3.caBundle" in detail)
    assert [c["name"] for c in report["checks"]] == ["endpoint", "tls"]  # nothing sent without trusted TLS
    assert time.monotonic() - start < 15


def test_http_endpoint_is_refused(tmp_path, s3_server):
    cfg = write_config(tmp_path / "cfg", f"http://127.0.0.1:{s3_server.port}", bucket_name())
    for cmd in (["s3", "check"], ["s3", "ensure-bucket"], ["s3", "policy"]):
        run = run_cli(*cmd, "-c", str(cfg), exact_env=s3_server.env())
        assert run.code == 2, run.out + run.err
        assert "plain http" in run.err and "traceback" not in run.err.lower()
    # allowed explicitly: check runs (and warns), but the TLS-only policy would lock the endpoint out
    cfg = write_config(tmp_path / "cfg2", f"http://127.0.0.1:{s3_server.port}", bucket_name(), extra_s3="allowHttp: true")
    run = run_cli("s3", "ensure-bucket", "-c", str(cfg), exact_env=s3_server.env())
    assert run.code == 2 and "--no-tls-policy" in run.err


def test_refuse_http_in_the_core_too():
    t = s3.Target("http://s3.example.test", "b-b-b", "velero", "minio", True, None, True, allow_http=False)
    with pytest.raises(s3.UsageError, match="plain http"):
        t.refuse_http()


def test_server_down_fails_fast(tmp_path, dead_port, tls_ca):
    cfg = write_config(tmp_path / "cfg", f"https://127.0.0.1:{dead_port}", bucket_name(), ca=tls_ca / "ca.pem")
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE000000000", AWS_SECRET_ACCESS_KEY="x" * 40)
    for cmd in ("check", "ensure-bucket"):
        run = run_cli("s3", cmd, "-c", str(cfg), "-o", "json", exact_env=env, timeout=60)  # a hang guard, not a bound
        assert run.code == 1, run.out + run.err
        assert "connection refused" in _detail(_json(run), "tls")


# The timeout tests inject the smallest timeout the CLI accepts instead of waiting out the default: the
# default is the same code path with a bigger number (test_cli_timeouts_are_the_core_defaults). What proves the
# bound is the report (the check that gave up, and why); the subprocess timeout only stops a hang, on a loaded
# machine too (no wall-clock assert).
@pytest.mark.parametrize("cmd", ["check", "ensure-bucket"])
def test_silent_server_times_out_in_bounded_time(tmp_path, silent_server, tls_ca, cmd):
    cfg = write_config(tmp_path / "cfg", f"https://127.0.0.1:{silent_server}", bucket_name(), ca=tls_ca / "ca.pem")
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE000000000", AWS_SECRET_ACCESS_KEY="x" * 40)
    run = run_cli("s3", cmd, "-c", str(cfg), "-o", "json", "--timeout", "0.5", exact_env=env, timeout=60)
    assert run.code == 1, run.out + run.err
    assert "no answer within 0.5s" in _detail(_json(run), "tls")


def test_server_that_hangs_after_the_handshake_fails_in_bounded_time(tmp_path, hung_tls_server, tls_ca):
    cfg = write_config(tmp_path / "cfg", f"https://127.0.0.1:{hung_tls_server}", bucket_name(), ca=tls_ca / "ca.pem")
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE000000000", AWS_SECRET_ACCESS_KEY="x" * 40)
    run = run_cli("s3", "check", "-c", str(cfg), "-o", "json", "--timeout", "0.5", exact_env=env,
                  timeout=60)  # two attempts
    assert run.code == 1, run.out + run.err
    report = _json(run)
    assert _status(report)["tls"] == "ok"
    assert _status(report)["credentials"] == "fail" and "did not answer in time" in _detail(report, "credentials")


@pytest.mark.parametrize("cmd", ["check", "ensure-bucket"])
def test_cli_timeouts_are_the_core_defaults(cmd):
    """The CLI's --timeout/--deadline defaults are the core's, so the injected-timeout tests above stand for them."""
    from typer.main import get_command

    from velero_gitops.cli import app

    params = {p.name: p for p in get_command(app).commands["s3"].commands[cmd].params}
    assert params["timeout"].default == s3.DEFAULT_TIMEOUT
    assert params["deadline"].default == s3.DEFAULT_DEADLINE
    assert 2 * s3.DEFAULT_TIMEOUT < s3.DEFAULT_DEADLINE  # two attempts fit in the deadline


def test_no_credentials_is_a_usage_error(tmp_path, s3_server):
    cfg = _cfg(tmp_path, s3_server)
    run = run_cli("s3", "check", "-c", str(cfg), exact_env=clean_env(tmp_path))
    assert run.code == 2
    assert "AWS_ACCESS_KEY_ID" in run.err and "SOPS_AGE_KEY_FILE" in run.err
    run = run_cli("s3", "check", "-c", str(cfg), exact_env=clean_env(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE000000000"))
    assert run.code == 2 and "but AWS_SECRET_ACCESS_KEY is not" in run.err
    assert "AKIAEXAMPLE000000000" not in run.err


def test_credentials_from_the_sops_secret(s3_server, tmp_path):
    """No AWS_* variables: the encrypted Secret is decrypted in memory with the age key."""
    import sops_fixtures
    if not sops_fixtures.real_sops_path():
        need(False, "the sops binary")
    from velero_gitops.secrets import sops as sopslib

    key = sops_fixtures.new_age_key(tmp_path / "keys", "k")
    bucket = bucket_name()
    cfg = _cfg(tmp_path, s3_server, bucket)
    secret = cfg.parent / "kubernetes/apps/velero/velero/app/secret.sops.yaml"
    secret.parent.mkdir(parents=True)
    key_id, secret_key = s3_server.admin
    plain = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: velero-s3-secret\n  namespace: velero\n"
             "type: Opaque\nstringData:\n  cloud: |\n    [default]\n"
             f"    aws_access_key_id = {key_id}\n    aws_secret_access_key = {secret_key}\n")
    secret.write_bytes(sopslib.encrypt(plain.encode(), target=secret, cwd=cfg.parent, config_file=None,
                                       recipients=[key.public], secrets=[key_id, secret_key]))
    env = clean_env(tmp_path, SOPS_AGE_KEY_FILE=str(key.file))
    run = run_cli("s3", "ensure-bucket", "-c", str(cfg), "-o", "json", exact_env=env)
    assert run.code == 0, run.out + run.err
    report = _json(run)
    assert "decrypted in memory" in report["credentials"]
    assert not scan_for_secrets([key_id, secret_key], run.out, run.err, directory=tmp_path)


def test_credentials_never_leak(s3_server, tmp_path):
    """Every command, success and failure, in every format: no key id, no secret in output or files."""
    bucket = bucket_name()
    cfg = _cfg(tmp_path, s3_server, bucket)
    key_id, secret = s3_server.admin
    env = s3_server.env()
    runs = [
        run_cli("s3", "ensure-bucket", "-c", str(cfg), exact_env=env),
        run_cli("s3", "ensure-bucket", "-c", str(cfg), "-o", "json", exact_env=env),
        run_cli("s3", "check", "-c", str(cfg), exact_env=env),
        run_cli("s3", "check", "-c", str(cfg), "-o", "json", exact_env=env),
        run_cli("s3", "policy", "-c", str(cfg), exact_env=env),
        run_cli("s3", "check", "-c", str(cfg), exact_env=clean_env(tmp_path, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY="bad" + secret)),
    ]
    assert [r.code for r in runs] == [0, 0, 0, 0, 0, 1]
    texts = [t for r in runs for t in (r.out, r.err)]
    assert not scan_for_secrets([key_id, secret], *texts, directory=tmp_path)
    assert not scan_for_secrets([key_id, secret], directory=s3_server.workdir / "home")


# -------------------------------------------------------------------------------------- policy (offline)
def test_policy_command_prints_least_privilege_and_mc_commands(tmp_path):
    cfg = write_config(tmp_path / "cfg", "https://s3.example.test", "velero-backups")
    run = run_cli("s3", "policy", "-c", str(cfg), "-o", "json", exact_env=clean_env(tmp_path))
    assert run.code == 0, run.err
    data = json.loads(run.out)
    resources = {r for st in data["policy"]["Statement"] for r in st["Resource"]}
    assert resources == {"arn:aws:s3:::velero-backups", "arn:aws:s3:::velero-backups/*"}
    actions = {a for st in data["policy"]["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts"} <= actions
    assert not any(a.endswith("*") for a in actions) and not any(a.startswith("admin:") for a in actions)
    joined = "\n".join(data["commands"])
    for cmd in ("mc admin user add", "mc admin policy create", "mc admin policy attach"):
        assert cmd in joined
    # the default output is the policy alone, so `s3 policy > p.json` is the file mc reads; mc on stderr
    table = run_cli("s3", "policy", "-c", str(cfg), exact_env=clean_env(tmp_path))
    assert table.code == 0 and json.loads(table.out) == data["policy"]
    assert "mc admin policy attach" in table.err and "velero-backups-velero.json" in table.err


# ------------------------------------------------------------------------------------------ unit pieces
def test_policy_recognition_and_merge():
    b = "velero-backups"
    assert s3.policy_denies_insecure(s3.bucket_policy(b), b)
    variants = [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["*"], "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"],
         "Condition": {"Bool": {"aws:securetransport": False}}},
    ]
    for st in variants:
        assert s3.policy_denies_insecure({"Statement": [st]}, b)
    not_enough = [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{b}/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"},
    ]
    for st in not_enough:
        assert not s3.policy_denies_insecure({"Statement": [st]}, b), st
    theirs = {"Version": "2012-10-17", "Statement": [{"Sid": "Mine", "Effect": "Allow", "Principal": "*",
                                                      "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/public/*"}]}
    merged = s3.merged_policy(theirs, b)
    assert [st["Sid"] for st in merged["Statement"]] == ["Mine", "DenyInsecureTransport"]
    assert theirs["Statement"][0]["Sid"] == "Mine" and len(theirs["Statement"]) == 1  # input not mutated
    diff = s3.policy_diff(theirs, merged, b)
    assert diff.startswith("---") and "+      \"Sid\": \"DenyInsecureTransport\"" in diff


def test_credentials_are_masked_and_parsed():
    c = credlib.Credentials("AKIAABCDEFGHIJKLMNOP", "s3cr3t/with+chars", None, "environment")
    assert "AKIA" not in repr(c) and "s3cr3t" not in str(c)
    assert c.redact("id AKIAABCDEFGHIJKLMNOP key s3cr3t/with+chars") == "id **** key ****"
    parsed = credlib.parse_cloud("[default]\naws_access_key_id = AKIA1234\naws_secret_access_key=Bsecret99\n")
    assert parsed.values == ("AKIA1234", "Bsecret99")
    with pytest.raises(s3.UsageError, match="needs both"):
        credlib.parse_cloud("[default]\naws_access_key_id = A\n")
    with pytest.raises(s3.UsageError, match="no \\[default\\]"):
        credlib.parse_cloud("[other]\naws_access_key_id = A\n")


def test_age_key_detection(tmp_path):
    assert not sopslib.age_key_available({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "x")})
    assert sopslib.age_key_available({"SOPS_AGE_KEY": "AGE-SECRET-KEY-1..."})
    assert not sopslib.age_key_available({"SOPS_AGE_KEY_FILE": str(tmp_path / "missing.txt")})
    keys = tmp_path / "x" / "sops" / "age" / "keys.txt"
    keys.parent.mkdir(parents=True)
    keys.write_text("# test\n")
    assert sopslib.age_key_available({"XDG_CONFIG_HOME": str(tmp_path / "x")})
