"""`encrypt-repo-password`: the kopia repository password, generated, SOPS-encrypted and kept in the tree.

Facts (velero-io/velero@v1.18.2): pkg/repository/keys/keys.go names the Secret `velero-repo-credentials`, key
`repository-password`, and creates it with the public value `static-passw0rd` only when it is missing;
pkg/repository/provider/unified_repo.go getRepoPassword reads it with strings.TrimSpace and puts each namespace's
repository at path.Join(prefix, "kopia", ns). kopia/kopia@v0.22.3:repo/format/format_change_password.go is the
only way to change a repository's password (outside Velero).

Real sops, real age keys (pyrage), real subprocesses; the password is looked for in every output and every file
under the test's folders (repository, HOME, TMPDIR), also after a SIGKILL while sops runs.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from velero_gitops.errors import UsageError
from velero_gitops.secrets import repo_password as rp
from velero_gitops.secrets import sops as sopslib

from cli_util import EXAMPLES, REPO, require_kubectl, run_cli, snapshot
from sops_fixtures import *  # noqa: F401,F403 - fixtures
from sops_fixtures import TEST_KEY_FILE, files_containing, real_sops_path

GOLDEN = REPO / "tests" / "golden"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of 32 bytes, unpadded
APP_REL = "kubernetes/apps/velero/velero/app"


def target(scratch) -> Path:
    return scratch.root / APP_REL / "repo-credentials.sops.yaml"


def run(scratch, *extra: str, stdin: str | None = "", env=None):
    return run_cli("encrypt-repo-password", "--config", str(scratch.config), *extra, stdin=stdin, env=env)


def decrypt(path: Path, key_file: Path) -> dict:
    old = os.environ.get("SOPS_AGE_KEY_FILE")
    os.environ["SOPS_AGE_KEY_FILE"] = str(key_file)
    try:
        return sopslib.decrypt_secret(path)
    finally:
        if old is None:
            del os.environ["SOPS_AGE_KEY_FILE"]
        else:
            os.environ["SOPS_AGE_KEY_FILE"] = old


def password_of(doc: dict) -> str:
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Secret" and doc["type"] == "Opaque"
    assert doc["metadata"]["name"] == "velero-repo-credentials"
    assert doc["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
    assert set(doc["stringData"]) == {"repository-password"} and "data" not in doc
    return doc["stringData"]["repository-password"]


def assert_strong(pw: str) -> None:
    """43 base64url characters that decode to 32 bytes: 256 bits from the CSPRNG."""
    assert TOKEN.match(pw), len(pw)
    assert len(base64.urlsafe_b64decode(pw + "=")) == 32
    assert pw == pw.strip() and pw != rp.VELERO_DEFAULT


def assert_no_leak(scratch, value: str, *outputs: str) -> None:
    for out in outputs:
        assert value not in out
    assert files_containing(scratch.root.parent, [value]) == []
    assert files_containing(Path(os.environ["HOME"]), [value]) == []


def assert_one_error(r, fragment: str, code: int = 2) -> None:
    assert r.code == code, (r.code, r.out, r.err)
    lines = [ln for ln in r.err.splitlines() if ln.strip() and not ln.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    assert fragment in lines[0], r.err
    assert "Traceback" not in r.err and r.out == ""


# ------------------------------------------------------------------------------------ committed trees
COMMITTED = sorted([*(e / "velero-gitops.yaml" for e in EXAMPLES), *GOLDEN.glob("*/velero-gitops.yaml")])


@pytest.mark.parametrize("config", COMMITTED, ids=[c.parent.name for c in COMMITTED])
def test_committed_secret_decrypts_to_a_256_bit_password(config, sops_path):
    from velero_gitops.config.loader import load
    from velero_gitops.render.layout import Layout

    loaded = load(config)
    path = loaded.repo_root / Layout.of(loaded.config).repo_password_file
    doc = decrypt(path, TEST_KEY_FILE)
    assert doc["metadata"]["namespace"] == loaded.config.repo.namespace
    assert_strong(password_of(doc))
    # Listed in the same kustomization as the HelmRelease, so the same Flux Kustomization applies both.
    kust = yaml.safe_load((path.parent / "kustomization.yaml").read_text())
    assert {"./helmrelease.yaml", "./repo-credentials.sops.yaml"} <= set(kust["resources"])


def test_committed_passwords_are_all_different(sops_path):
    from velero_gitops.config.loader import load
    from velero_gitops.render.layout import Layout

    seen = set()
    for config in COMMITTED:
        loaded = load(config)
        seen.add(password_of(decrypt(loaded.repo_root / Layout.of(loaded.config).repo_password_file, TEST_KEY_FILE)))
    assert len(seen) == len(COMMITTED)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_kustomize_build_applies_the_secret_with_the_helmrelease(example):
    """The app folder, built as the `velero` Flux Kustomization builds it, holds both objects."""

    from velero_gitops.config.loader import load
    from velero_gitops.render.layout import Layout

    kubectl = require_kubectl()
    loaded = load(example / "velero-gitops.yaml")
    app = loaded.repo_root / Layout.of(loaded.config).app_dir
    out = subprocess.run([kubectl, "kustomize", str(app)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KUBECONFIG": os.devnull}, check=True).stdout
    kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out) if d}
    assert ("HelmRelease", loaded.config.repo.app) in kinds
    assert ("Secret", "velero-repo-credentials") in kinds
    # And the Flux Kustomization that applies this folder is the one whose health check is the HelmRelease.
    ks = [d for d in yaml.safe_load_all((app.parent / "ks.yaml").read_text()) if d]
    (owner,) = [k for k in ks if k["spec"]["path"] == f"./{Layout.of(loaded.config).app_dir}"]
    assert owner["spec"]["healthChecks"][0]["kind"] == "HelmRelease"


# ---------------------------------------------------------------------------------------- generation
def test_generated_passwords_are_distinct_and_well_formed():
    values = [rp.generate().value for _ in range(2000)]
    assert len(set(values)) == len(values)
    for v in values:
        assert_strong(v)
    # Every base64url symbol turns up: the alphabet is not narrowed (a rough sanity check, not a proof).
    assert set("".join(values)) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_password_repr_never_shows_the_value():
    p = rp.generate()
    assert p.value not in repr(p) and p.value not in str(p) and p.value not in repr([p])


BAD_STDIN = {
    "": "no password",
    "\n": "no password",
    "\r\n": "no password",
    "a\nb\n": "more than one line",
    "one\ntwo": "more than one line",
    "abc\rdef": "more than one line",
    " leading-space-password": "whitespace",
    "trailing-space-password \n": "whitespace",
    "\ttabbed-password": "whitespace",
    "pass\x00word-with-nul": "control characters",
    "pass\x1bword-with-esc": "control characters",
    "pass\x7fword-with-del": "control characters",
}


@pytest.mark.parametrize("text,fragment", BAD_STDIN.items(), ids=[repr(k) for k in BAD_STDIN])
def test_bad_stdin_is_refused_by_shape_only(text, fragment):
    with pytest.raises(UsageError) as exc:
        rp.parse_stdin_text(text)
    assert fragment in str(exc.value)
    core = text.strip()
    if len(core) > 3:
        assert core not in str(exc.value)


@pytest.mark.parametrize("text,value", [
    ("correct horse battery staple\n", "correct horse battery staple"),
    ("x" * 200 + "\r\n", "x" * 200),
    ("ünïcödé-pässwörd-Ω", "ünïcödé-pässwörd-Ω"),
    ("static-passw0rd\n", "static-passw0rd"),
])
def test_good_stdin(text, value):
    assert rp.parse_stdin_text(text).value == value


def test_warnings_are_shape_only():
    assert rp.warnings_for(rp.generate()) == []
    assert "public default" in rp.warnings_for(rp.parse_stdin_text("static-passw0rd"))[0]
    short = rp.warnings_for(rp.parse_stdin_text("shortpass1"))
    assert "10 characters" in short[0] and "shortpass1" not in short[0]
    assert rp.warnings_for(rp.parse_stdin_text("a-long-enough-passphrase-here")) == []


# ------------------------------------------------------------------------------------------ end to end
def test_generate_encrypt_decrypt_no_leak(scratch, tmpdir_env):
    r = run(scratch)
    assert r.code == 0, r.err
    assert "wrote" in r.out and "random 256-bit password" in r.out
    assert "warning: the bucket was not checked" in r.err
    pw = password_of(decrypt(target(scratch), scratch.key.file))
    assert_strong(pw)
    assert_no_leak(scratch, pw, r.out, r.err)
    assert list(tmpdir_env.iterdir()) == []


def test_an_endpoint_with_a_flux_variable_needs_no_host_without_the_bucket_check(scratch, tmpdir_env):
    """Adopter round 9 (cubic3d/ops): `s3.endpoint: https://nas.${domain}:3000` (flux.substituteFrom) was refused
    although no bucket is contacted: only the kopia key is named, path.Join(prefix, "kopia", ns)
    (vmware-tanzu/velero@v1.18.1:pkg/repository/provider/unified_repo.go), which needs no host. --check-bucket,
    which lists the bucket, still needs it."""
    scratch.config.write_text(scratch.config.read_text().replace(
        "https://s3.example.test", "https://nas.${domain}:3000")
        + "  prefix: velero\nflux:\n  substituteFrom: [{kind: Secret, name: cluster-secrets}]\n")
    r = run(scratch)
    assert r.code == 0, r.err
    assert "wrote" in r.out and "velero/kopia/" in r.err, r.err  # the unchecked-bucket warning names the key
    assert_strong(password_of(decrypt(target(scratch), scratch.key.file)))
    target(scratch).unlink()
    r = run(scratch, "--check-bucket")
    assert r.code == 2 and "holds a Flux variable" in r.err and "Traceback" not in r.err, r.err
    assert not target(scratch).exists()


def test_stdin_password_and_no_leak(scratch, tmpdir_env):
    pw = "stdin-" + rp.generate().value
    r = run(scratch, "--stdin", stdin=pw + "\n")
    assert r.code == 0, r.err
    assert "password from standard input" in r.out
    assert password_of(decrypt(target(scratch), scratch.key.file)) == pw
    assert_no_leak(scratch, pw, r.out, r.err)


def test_velero_default_from_stdin_is_kept_with_a_warning(scratch, tmpdir_env):
    r = run(scratch, "--stdin", stdin="static-passw0rd\n")
    assert r.code == 0, r.err
    assert "public default" in r.err
    assert password_of(decrypt(target(scratch), scratch.key.file)) == rp.VELERO_DEFAULT


def test_bad_stdin_via_cli_writes_nothing(scratch, tmpdir_env):
    before = snapshot(scratch.root)
    r = run(scratch, "--stdin", stdin=" secret-with-a-leading-space\n")
    assert_one_error(r, "whitespace")
    assert "secret-with-a-leading-space" not in r.err
    assert snapshot(scratch.root) == before


def test_existing_password_is_never_replaced_by_a_new_one(scratch, tmpdir_env):
    assert run(scratch).code == 0
    before = snapshot(scratch.root)
    r = run(scratch)
    assert_one_error(r, "lock Velero out")
    assert "kopia repository change-password" in r.err
    assert snapshot(scratch.root) == before
    r = run(scratch, "--replace")
    assert_one_error(r, "--replace needs --stdin")
    assert snapshot(scratch.root) == before
    r = run(scratch, "--stdin", stdin="a-new-password-set-with-kopia-first\n")
    assert_one_error(r, "lock Velero out")
    assert snapshot(scratch.root) == before


def test_replace_with_the_password_already_changed_in_kopia(scratch, tmpdir_env):
    assert run(scratch).code == 0
    new = "rotated-" + rp.generate().value
    r = run(scratch, "--stdin", "--replace", stdin=new + "\n")
    assert r.code == 0, r.err
    assert "replaced" in r.out
    assert password_of(decrypt(target(scratch), scratch.key.file)) == new
    assert_no_leak(scratch, new, r.out, r.err)


@pytest.mark.parametrize("mode", ["elsewhere", "external", "veleroDefault"])
def test_other_modes_refuse_and_render_nothing(scratch, tmpdir_env, mode):
    scratch.config.write_text(scratch.config.read_text() + f"velero:\n  repositoryPassword: {mode}\n")
    before = snapshot(scratch.root)
    r = run(scratch)
    assert_one_error(r, f"velero.repositoryPassword is {mode!r}")
    assert snapshot(scratch.root) == before
    from velero_gitops.pipeline import render_config

    result = render_config(scratch.config)
    kust = yaml.safe_load(result.files[f"{APP_REL}/kustomization.yaml"].split("\n", 3)[-1])
    assert "./repo-credentials.sops.yaml" not in kust["resources"]
    assert not any("encrypt-repo-password" in n for n in result.notes)


def test_render_lists_the_file_and_says_how_to_create_it(scratch):
    from velero_gitops.pipeline import render_config

    result = render_config(scratch.config)
    text = result.files[f"{APP_REL}/kustomization.yaml"]
    assert "- ./repo-credentials.sops.yaml" in text
    (note,) = [n for n in result.notes if "repo-credentials.sops.yaml" in n]
    assert "velero-gitops encrypt-repo-password --config" in note and "docs/secrets.md" in note


def test_explain_reports_each_state(scratch, tmpdir_env):
    import json

    def explain() -> dict:
        r = run_cli("explain", "--config", str(scratch.config), "--output", "json")
        assert r.code == 0, r.err
        return json.loads(r.out)["repositoryPassword"]

    got = explain()
    assert got["mode"] == "managed" and got["exists"] is False and "encrypt-repo-password" in got["words"]
    assert "opens only with the password it was created with" in got["consequence"]
    assert run(scratch).code == 0
    got = explain()
    assert got["exists"] is True and "encrypt-repo-password" not in got["words"]
    base = scratch.config.read_text()
    for mode, words in (("elsewhere", "made by another object of this repository"),
                        ("external", "made outside the repository"), ("veleroDefault", "static-passw0rd")):
        scratch.config.write_text(base + f"velero:\n  repositoryPassword: {mode}\n")
        got = explain()
        assert got["mode"] == mode and words in got["words"] and got["file"] is None


# ----------------------------------------------------------------------------------------------- checks
def _check_findings(scratch):
    from velero_gitops.config.loader import load
    from velero_gitops.secrets.secret_check import check_tree

    loaded = load(scratch.config)
    return check_tree(loaded.repo_root, loaded.config, config_file="velero-gitops.yaml")


def test_check_flags_a_missing_repo_password(scratch, tmpdir_env):
    findings = [f for f in _check_findings(scratch) if "repo-credentials" in f.file]
    assert [f.rule for f in findings] == ["secret.missing"]
    assert "encrypt-repo-password --config velero-gitops.yaml" in findings[0].message
    assert run(scratch).code == 0
    assert [f for f in _check_findings(scratch) if "repo-credentials" in f.file] == []


def test_check_flags_a_plaintext_or_wrong_repo_secret(scratch, tmpdir_env):
    path = target(scratch)
    path.parent.mkdir(parents=True)
    path.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: velero-repo-credentials\n  namespace: velero\n"
                    "stringData:\n  repository-password: plain-text-value\n")
    rules = {f.rule for f in _check_findings(scratch) if "repo-credentials" in f.file}
    assert "secret.unencrypted" in rules
    # Encrypted, but under another name: Velero would not read it.
    path.unlink()
    assert run(scratch).code == 0
    text = path.read_text().replace("name: velero-repo-credentials", "name: velero-repo-creds")
    path.write_text(text)
    msgs = [f.message for f in _check_findings(scratch) if "repo-credentials" in f.file]
    assert any("Velero (pkg/repository/keys/keys.go) expects 'velero-repo-credentials'" in m for m in msgs), msgs


def test_validate_flags_a_plaintext_velero_repo_credentials(tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    (d / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: velero-repo-credentials\n"
                                   "  namespace: velero\nstringData:\n  repository-password: in-clear-value\n")
    r = run_cli("validate", str(d), "--kustomize", "never")
    assert r.code == 1, (r.out, r.err)
    assert "velero-repo-credentials holds the kopia repository password" in r.out + r.err


def test_validate_flags_the_missing_file_through_kustomize(scratch, tmpdir_env):
    assert run_cli("render", "--config", str(scratch.config)).code == 0
    assert run_cli("encrypt-secret", "--config", str(scratch.config), env=scratch.env()).code == 0
    r = run_cli("validate", str(scratch.root / "kubernetes"))
    assert r.code == 1 and "repo-credentials.sops.yaml" in r.out + r.err, (r.out, r.err)
    assert run(scratch).code == 0
    r = run_cli("validate", str(scratch.root / "kubernetes"))
    assert r.code == 0, (r.out, r.err)


# ------------------------------------------------------------------------------------- killed mid-run
def _slow_sops(tmp_path: Path, fifo: Path | None) -> tuple[Path, Path]:
    """A sops that announces its pid and, given a FIFO, hands its stdin (the plaintext) to the test through it."""
    real = real_sops_path()
    bindir = tmp_path / "slowbin"
    bindir.mkdir()
    marker = tmp_path / "sops-started"
    grab = f'cat > "{fifo}"; ' if fifo else ""
    (bindir / "sops").write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" encrypt "*) echo $$ > "{marker}"; {grab}sleep 60;; esac\n'
        f'exec "{real}" "$@"\n'
    )
    (bindir / "sops").chmod(0o755)
    return bindir, marker


@pytest.mark.parametrize("source", ["generated", "stdin"])
def test_sigkill_while_sops_runs_leaves_no_password(scratch, tmpdir_env, tmp_path, source):
    fifo = tmp_path / "plaintext.fifo"  # a FIFO holds no bytes on disk
    os.mkfifo(fifo)
    bindir, marker = _slow_sops(tmp_path, fifo)
    grabbed: list[bytes] = []
    reader = threading.Thread(target=lambda: grabbed.append(fifo.read_bytes()), daemon=True)
    reader.start()
    given = "stdin-" + rp.generate().value
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VELERO_GITOPS_SOPS", None)
    before = snapshot(scratch.root)
    args = ["--stdin"] if source == "stdin" else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "velero_gitops", "encrypt-repo-password", "--config", str(scratch.config), *args],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        proc.stdin.write((given + "\n").encode() if source == "stdin" else b"")
        proc.stdin.close()
        reader.join(timeout=60)
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert grabbed, "the slow sops never received the plaintext"
        pw = password_of(yaml.safe_load(grabbed[0]))
        if source == "stdin":
            assert pw == given
        else:
            assert_strong(pw)
        sops_pid = int(marker.read_text())
        assert pw.encode() not in Path(f"/proc/{sops_pid}/cmdline").read_bytes()
        assert pw.encode() not in Path(f"/proc/{sops_pid}/environ").read_bytes()
        assert pw.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert_no_leak(scratch, pw)  # nothing on disk mid-run
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(scratch.root) == before
    assert_no_leak(scratch, pw, out.decode(), err.decode())
    assert list(tmpdir_env.iterdir()) == []


def test_the_docs_say_what_the_refusal_to_replace_says(tmp_path):
    """docs/secrets.md said encrypt-repo-password refuses to replace an existing file, then told the reader to
    replace it with --stdin --replace (leftfix8): the sentence of the refusal names the way out the command gives."""
    from types import SimpleNamespace

    target = tmp_path / "repo-credentials.sops.yaml"
    target.write_text("x")
    with pytest.raises(UsageError) as exc:
        rp.refuse_replacing(SimpleNamespace(target=target, shown=target.name), replace=False, use_stdin=True)
    way_out = re.search(r"with (--\S+ --\S+)$", str(exc.value)).group(1)
    text = " ".join((REPO / "docs" / "secrets.md").read_text().split())
    sentence = re.search(r"`encrypt-repo-password` therefore refuses to replace an existing file[^.]*\.", text).group()
    assert f"`{way_out}`" in sentence, sentence
