"""Building, encrypting and writing the credentials Secret (real sops, real age keys)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from velero_gitops.config.loader import load
from velero_gitops.errors import UsageError
from velero_gitops.secrets import credentials as credlib
from velero_gitops.secrets import secret as secretlib
from velero_gitops.secrets import sops as sopslib

from cli_util import cpu_budget
from sops_fixtures import *  # noqa: F401,F403 - fixtures
from sops_fixtures import TEST_RECIPIENT, files_containing, new_age_key, sops_yaml

KEY_ID, SECRET = "AKIAEXAMPLE123456789", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("key_id, secret, fragment", [
    ("", SECRET, "access key ID is empty"),
    (KEY_ID, "", "secret access key is empty"),
    ("ab", SECRET, "too short (2 characters"),
    (KEY_ID, "Zq9xW", "too short (5 characters"),
    ("AKIA EXAMPLE", SECRET, "whitespace"),
    (KEY_ID, SECRET + "\nmore", "whitespace"),
    (KEY_ID, "x" * 129, "too long"),
    (KEY_ID, "p\u00e4sswort-secret", "printable ASCII"),
    (KEY_ID, KEY_ID, "identical"),
    ("[default]", SECRET, "file header"),
    (SECRET, KEY_ID, "look swapped"),
])
def test_bad_keys_are_refused_without_echoing_them(key_id, secret, fragment):
    with pytest.raises(UsageError) as exc:
        credlib.validate(key_id, secret)
    msg = str(exc.value)
    assert fragment in msg
    for value in (key_id, secret):
        if len(value) >= 5:
            assert value not in msg


def test_credentials_repr_is_redacted():
    c = credlib.validate(KEY_ID, SECRET)
    assert KEY_ID not in repr(c) and SECRET not in str(c) and "redacted" in repr(c)


@pytest.mark.parametrize("text", [
    f"{KEY_ID}\n{SECRET}\n",
    f"\n  {KEY_ID}  \r\n{SECRET}\r\n\n",
    f"AWS_ACCESS_KEY_ID={KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n",
    f"export AWS_ACCESS_KEY_ID='{KEY_ID}'\nexport AWS_SECRET_ACCESS_KEY=\"{SECRET}\"\n",
    f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n",
    f"# from pass\n{KEY_ID}\n{SECRET}",
])
def test_stdin_formats(text):
    assert credlib.parse_stdin_text(text).values == (KEY_ID, SECRET)


@pytest.mark.parametrize("text, fragment", [
    ("", "no credentials on standard input"),
    (f"{KEY_ID}\n", "1 non-empty lines"),
    (f"{KEY_ID}\n{SECRET}\nextra\n", "3 non-empty lines"),
    (f"AWS_ACCESS_KEY_ID={KEY_ID}\n", "not both"),
    (f"[other]\naws_access_key_id={KEY_ID}\n", "no [default] section"),
])
def test_bad_stdin(text, fragment):
    with pytest.raises(UsageError) as exc:
        credlib.parse_stdin_text(text)
    assert fragment in str(exc.value) and KEY_ID not in str(exc.value)


def test_read_credentials_sources():
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    assert credlib.read_credentials(use_stdin=False, environ=env)[1] == "the environment"
    # --stdin wins over the environment
    other = ("AKIAOTHER00000000000", "y" * 40)
    creds, source = credlib.read_credentials(use_stdin=True, environ=env, stdin=io.StringIO("\n".join(other)))
    assert creds.values == other and source == "standard input"
    # a terminal: hidden prompt
    answers = iter([KEY_ID, SECRET])
    creds, source = credlib.read_credentials(use_stdin=False, environ={}, is_tty=True, prompt=lambda _: next(answers))
    assert creds.values == (KEY_ID, SECRET) and source == "the prompt"


def test_half_set_environment_and_non_tty():
    with pytest.raises(UsageError, match="AWS_SECRET_ACCESS_KEY is not"):
        credlib.read_credentials(use_stdin=False, environ={"AWS_ACCESS_KEY_ID": KEY_ID})
    with pytest.raises(UsageError, match="AWS_ACCESS_KEY_ID is not"):
        credlib.read_credentials(use_stdin=False, environ={"AWS_SECRET_ACCESS_KEY": SECRET})
    with pytest.raises(UsageError) as exc:
        credlib.read_credentials(use_stdin=False, environ={}, stdin=io.StringIO(""), is_tty=False)
    assert "no S3 credentials" in str(exc.value) and "--stdin" in str(exc.value)


# -------------------------------------------------------------------------------------------- building
def test_build_secret_shape(scratch):
    loaded = load(scratch.config)
    doc = secretlib.build_secret(loaded.config, credlib.validate(KEY_ID, SECRET))
    assert doc == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "velero-s3-secret", "namespace": "velero"},
        "type": "Opaque",
        "stringData": {"cloud": f"[default]\naws_access_key_id={KEY_ID}\naws_secret_access_key={SECRET}\n"},
    }
    assert b"cloud: |" in secretlib.to_yaml(doc)
    assert credlib.parse_cloud(doc["stringData"]["cloud"]).values == (KEY_ID, SECRET)


# --------------------------------------------------------------------------------- encrypting + writing
def _decrypt(path: Path, key_file: Path, monkeypatch) -> dict:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    try:
        return sopslib.decrypt_secret(path)
    finally:
        monkeypatch.delenv("SOPS_AGE_KEY_FILE")


def test_encrypt_decrypts_to_exactly_the_built_secret(scratch, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    loaded = load(scratch.config)
    creds = credlib.validate(*scratch.creds)
    result = secretlib.encrypt_secret(loaded, creds)
    assert result.plan.target == scratch.secret.resolve() and not result.replaced
    assert result.plan.recipients == (scratch.key.public,)
    assert _decrypt(scratch.secret, scratch.key.file, monkeypatch) == secretlib.build_secret(loaded.config, creds)
    text = scratch.secret.read_text()
    assert "ENC[AES256_GCM," in text and "mac_only_encrypted: true" in text
    assert files_containing(scratch.root.parent, list(scratch.creds)) == []
    assert not any(p.name.endswith(".tmp") for p in scratch.secret.parent.iterdir())
    assert all(v not in caplog.text for v in scratch.creds)
    assert oct(scratch.secret.stat().st_mode & 0o777) == "0o644"


def test_rotation_replaces_the_secret(scratch, monkeypatch):
    loaded = load(scratch.config)
    secretlib.encrypt_secret(loaded, credlib.validate(*scratch.creds))
    first = scratch.secret.read_bytes()
    new = ("AKIANEWKEY0000000000", "n" * 40)
    result = secretlib.encrypt_secret(loaded, credlib.validate(*new))
    assert result.replaced and scratch.secret.read_bytes() != first
    cloud = _decrypt(scratch.secret, scratch.key.file, monkeypatch)["stringData"]["cloud"]
    assert credlib.parse_cloud(cloud).values == new


def test_explicit_recipients_two_keys_either_decrypts(scratch, tmp_path, monkeypatch):
    (scratch.root / ".sops.yaml").unlink()  # explicit recipients need no .sops.yaml
    k1, k2 = new_age_key(tmp_path / "x", "k1"), new_age_key(tmp_path / "x", "k2")
    loaded = load(scratch.config)
    result = secretlib.encrypt_secret(loaded, credlib.validate(*scratch.creds), age=[k1.public, k2.public])
    assert result.plan.recipients_source == "--age" and result.plan.config_file is None
    built = secretlib.build_secret(loaded.config, credlib.validate(*scratch.creds))
    assert _decrypt(scratch.secret, k1.file, monkeypatch) == built
    assert _decrypt(scratch.secret, k2.file, monkeypatch) == built


def test_output_failing_verification_writes_nothing(scratch, monkeypatch):
    """sops succeeds and leaves stringData in clear (our own rule made to encrypt nothing: the repository's
    `.sops.yaml` cannot do it any more): verification refuses."""
    loaded = load(scratch.config)
    secretlib.encrypt_secret(loaded, credlib.validate(*scratch.creds))
    before = scratch.secret.read_bytes()
    monkeypatch.setattr(sopslib, "ENCRYPTED_REGEX", "^nothing$")
    new = ("AKIANEWKEY1111111111", "m" * 40)
    with pytest.raises(UsageError) as exc:
        secretlib.encrypt_secret(loaded, credlib.validate(*new))
    assert "nothing was written" in str(exc.value)
    assert all(v not in str(exc.value) for v in new)
    assert scratch.secret.read_bytes() == before
    assert files_containing(scratch.root.parent, list(new)) == []


def test_wrong_recipients_in_output_are_refused(scratch):
    loaded = load(scratch.config)
    p = secretlib.encryption_plan(loaded)
    other = sopslib.encrypt(b"apiVersion: v1\nkind: Secret\nmetadata: {name: velero-s3-secret, namespace: velero}\n"
                            b"stringData: {cloud: x}\n", target=scratch.secret, cwd=scratch.root, config_file=None,
                            recipients=[TEST_RECIPIENT])
    with pytest.raises(UsageError, match="not encrypted for the"):
        secretlib.verify_ciphertext(other, p, [])


def test_update_keys_adds_a_recipient(scratch, tmp_path, monkeypatch):
    loaded = load(scratch.config)
    secretlib.encrypt_secret(loaded, credlib.validate(*scratch.creds))
    second = new_age_key(tmp_path / "x", "second")
    (scratch.root / ".sops.yaml").write_text(sops_yaml([scratch.key.public, second.public]))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(scratch.key.file))
    result = secretlib.update_keys(loaded)
    assert set(result.plan.recipients) == {scratch.key.public, second.public}
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    cloud = _decrypt(scratch.secret, second.file, monkeypatch)["stringData"]["cloud"]
    assert credlib.parse_cloud(cloud).values == scratch.creds


def test_update_keys_without_private_key_leaves_file(scratch, tmp_path):
    loaded = load(scratch.config)
    secretlib.encrypt_secret(loaded, credlib.validate(*scratch.creds))
    before = scratch.secret.read_bytes()
    second = new_age_key(tmp_path / "x", "second")
    (scratch.root / ".sops.yaml").write_text(sops_yaml([scratch.key.public, second.public]))
    with pytest.raises(UsageError, match="private key"):
        secretlib.update_keys(loaded)
    assert scratch.secret.read_bytes() == before


def test_update_keys_needs_an_existing_secret(scratch):
    with pytest.raises(UsageError, match="does not exist yet"):
        secretlib.update_keys(load(scratch.config))


def test_plan_errors_come_before_credentials(scratch):
    loaded = load(scratch.config)
    (scratch.root / ".sops.yaml").unlink()
    with pytest.raises(UsageError, match="no .sops.yaml"):
        secretlib.encryption_plan(loaded)
    (scratch.root / ".sops.yaml").write_text(sops_yaml([scratch.key.public], path_regex="^elsewhere/"))
    with pytest.raises(UsageError, match="no creation rule matches"):
        secretlib.encryption_plan(loaded)
    (scratch.root / ".sops.yaml").write_text("creation_rules:\n  - path_regex: .*\n    pgp: ABCDEF\n")
    with pytest.raises(UsageError, match="no age recipients"):
        secretlib.encryption_plan(loaded)
    with pytest.raises(UsageError, match="not an age public key"):
        secretlib.encryption_plan(loaded, age=["age1nope"])


def test_target_folder_blocked_by_a_file(scratch):
    (scratch.root / "kubernetes/apps/velero/velero").mkdir(parents=True)
    (scratch.root / "kubernetes/apps/velero/velero/app").write_text("not a folder")
    with pytest.raises(UsageError, match="cannot create the folder"):
        secretlib.encryption_plan(load(scratch.config))


def test_atomic_write_cleans_up_on_failure(tmp_path):
    target = tmp_path / "dir-not-file"
    target.mkdir()
    with pytest.raises(OSError):
        secretlib.atomic_write(target, b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["dir-not-file"]
    assert list(target.iterdir()) == []
    ok = tmp_path / "f.yaml"
    secretlib.atomic_write(ok, b"data")
    assert ok.read_bytes() == b"data" and sorted(p.name for p in tmp_path.iterdir()) == ["dir-not-file", "f.yaml"]


def test_encrypt_time_is_small(scratch):
    """Measured, not a benchmark: one encrypt (plan + sops + verify + write) costs well under 5 CPU seconds."""
    loaded = load(scratch.config)
    with cpu_budget(5):
        secretlib.encrypt_secret(loaded, credlib.validate(*scratch.creds))
