"""The check replay store: what decides a result is in the key; no cache is trusted blindly.

Issue 20's replays: a result stored while kubectl was missing, a code change without a version bump,
a store inside the checkout, a file replaced by a symlink to identical content, a full disk (a traceback).
"""

from __future__ import annotations

import errno
import json
import os

import pytest

from velero_gitops import identity, runcache
from velero_gitops.check import cache_in_checkout

from test_tools import _exe


def test_key_changes_when_kubectl_appears_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    without = runcache.request_key("check", ["x"])
    _exe(tmp_path / "bin", "kubectl")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert runcache.request_key("check", ["x"]) != without


def test_key_changes_with_the_code_not_only_the_version(monkeypatch):
    before = runcache.request_key("check", ["x"])
    monkeypatch.setattr(identity, "code_digest", lambda: "edited")
    assert runcache.request_key("check", ["x"]) != before


def test_code_digest_covers_every_file_of_the_package():
    files = [p for p in identity.PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert len(files) > 50 and len(identity.code_digest()) == 64


def test_code_digest_changes_with_an_edit_of_any_file_of_the_package(tmp_path, monkeypatch):
    """The code is identified by each file's signature (size, mtime, inode), as Python trusts a cached .pyc: an edit
    of the same size (a patched template, one changed digit in a schema) changes it, a compiled .pyc does not."""
    import shutil

    copy = tmp_path / "velero_gitops"
    shutil.copytree(identity.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(identity, "PACKAGE", copy)

    def digest() -> str:
        identity.code_digest.cache_clear()
        return identity.code_digest()

    before = digest()
    (copy / "validate" / "__pycache__").mkdir()
    (copy / "validate" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")
    assert digest() == before
    target = copy / "validate" / "buildcache.py"
    text = target.read_text()
    target.write_text(text.replace('VERSION = "verdict-v1"', 'VERSION = "verdict-v2"'))
    assert len(target.read_text()) == len(text)
    assert digest() != before
    identity.code_digest.cache_clear()


def test_a_full_disk_is_no_cache_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VELERO_GITOPS_NO_CACHE", raising=False)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", full)
    runcache.store("k" * 64, {"files": {}}, {"findings": []})
    d = runcache.cache_dir()
    assert not list(d.glob("*.tmp")) and not (d / ("k" * 64 + ".json")).exists()


def test_a_store_inside_the_checkout_is_never_used(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    cfg = repo / "clusters" / "a" / "velero-gitops.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("")
    assert cache_in_checkout(repo / ".cache" / "velero-gitops" / "runs", [cfg])
    assert not cache_in_checkout(tmp_path / "home" / ".cache", [cfg])


def test_a_file_replaced_by_a_symlink_to_identical_content_is_another_input(tmp_path):
    f = tmp_path / "repo" / "a.yaml"
    f.parent.mkdir()
    f.write_text("x: 1\n")
    before = runcache.current({"files": [str(f)], "dirs": [], "probes": [], "programs": []})
    outside = tmp_path / "outside.yaml"
    outside.write_text("x: 1\n")
    f.unlink()
    f.symlink_to(outside)
    after = runcache.current({"files": [str(f)], "dirs": [], "probes": [], "programs": []})
    assert before != after


# --------------------------------------------------------------------------------------------------
# render's replay of a no-op (cli/render_cmds.py): skipped by the content of its inputs, never blind


def _rendered_copy(tmp_path, monkeypatch):
    import shutil

    from cli_util import EXAMPLE, run_cli

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "VELERO_GITOPS_NO_CACHE": ""}
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    monkeypatch.delenv("VELERO_GITOPS_NO_CACHE", raising=False)
    monkeypatch.chdir(repo)
    first = run_cli("render", "velero-gitops.yaml", cwd=repo, env=env)
    assert first.code == 0, first.err
    return repo, env, first


def _in_process(*args):
    """The CLI in this process (so a replay can be told from a run: the core is patched to fail)."""
    from typer.testing import CliRunner

    from velero_gitops.cli import app

    return CliRunner().invoke(app, list(args))


def test_a_noop_render_replays_what_it_printed_without_rendering(tmp_path, monkeypatch):
    from velero_gitops import pipeline

    repo, env, first = _rendered_copy(tmp_path, monkeypatch)
    assert "0 created, 0 updated, 0 removed" in first.out
    monkeypatch.setattr(pipeline, "render_config", lambda *a: (_ for _ in ()).throw(AssertionError("rendered")))
    replayed = _in_process("render", "velero-gitops.yaml")
    assert replayed.exit_code == 0, replayed.output
    assert first.out in replayed.output and "note:" in replayed.output


def test_a_hand_edited_output_is_noticed_after_a_stored_noop(tmp_path, monkeypatch):
    from cli_util import run_cli

    repo, env, _ = _rendered_copy(tmp_path, monkeypatch)
    target = repo / "kubernetes" / "apps" / "velero" / "velero" / "app" / "helmrelease.yaml"
    target.write_text(target.read_text() + "# edited\n")
    r = run_cli("render", "velero-gitops.yaml", cwd=repo, env=env)
    assert r.code == 2 and "helmrelease.yaml was edited by hand" in r.err


def test_a_deleted_output_is_written_again_after_a_stored_noop(tmp_path, monkeypatch):
    from cli_util import run_cli

    repo, env, _ = _rendered_copy(tmp_path, monkeypatch)
    target = repo / "kubernetes" / "apps" / "velero" / "velero" / "app" / "helmrelease.yaml"
    text = target.read_text()
    target.unlink()
    r = run_cli("render", "velero-gitops.yaml", cwd=repo, env=env)
    assert r.code == 0 and "created  kubernetes/apps/velero/velero/app/helmrelease.yaml" in r.out
    assert target.read_text() == text


def test_a_secret_created_after_a_stored_noop_drops_its_note(tmp_path, monkeypatch):
    """The note about a missing Secret is decided by a path's existence: an input (a probe, and the listing of its folder)."""
    from cli_util import run_cli

    repo, env, _ = _rendered_copy(tmp_path, monkeypatch)
    secret = repo / "kubernetes" / "apps" / "velero" / "velero" / "app" / "secret.sops.yaml"
    text = secret.read_text()
    secret.unlink()
    for _ in range(2):  # computed and stored, then replayed
        r = run_cli("render", "velero-gitops.yaml", cwd=repo, env=env)
        assert r.code == 0 and "secret.sops.yaml does not exist yet" in r.err
    secret.write_text(text)
    r = run_cli("render", "velero-gitops.yaml", cwd=repo, env=env)
    assert r.code == 0 and "does not exist yet" not in r.err


def test_the_transcript_keeps_both_streams_in_order(capsys):
    import sys

    with runcache.Transcript() as t:
        sys.stdout.write("a\n")
        sys.stderr.write("b\n")
    assert t.chunks == [("stdout", "a\n"), ("stderr", "b\n")]
    assert runcache.Transcript.replay([list(c) for c in t.chunks])
    assert not runcache.Transcript.replay([["stdin", "x"]]) and not runcache.Transcript.replay("x")
    out, err = capsys.readouterr()
    assert out == "a\na\n" and err == "b\nb\n"


def test_a_clean_render_check_is_replayed_until_an_output_drifts(tmp_path, monkeypatch):
    from cli_util import run_cli

    repo, env, _ = _rendered_copy(tmp_path, monkeypatch)
    for _ in range(2):  # computed and stored, then replayed
        r = run_cli("render", "--check", "velero-gitops.yaml", cwd=repo, env=env)
        assert r.code == 0 and not r.out, r.err
    target = repo / "kubernetes" / "apps" / "velero" / "velero" / "app" / "helmrelease.yaml"
    target.write_text(target.read_text().replace("interval:", "interval:  ", 1))
    r = run_cli("render", "--check", "velero-gitops.yaml", cwd=repo, env=env)
    assert r.code == 1 and "helmrelease.yaml" in r.out and "out of date" in r.err


def test_a_repository_file_named_like_code_is_keyed_by_content(tmp_path):
    """Attack round 7, break 5: `resources: [obj.py]` (kustomize reads any file a kustomization names by content,
    kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go accumulateResources), replaced by a
    plaintext Secret of the same size and mtime (cp -p, rsync -t, a restored CI cache): a suffix made it "library
    code" keyed by size and mtime, and the clean verdict was replayed. Installed code is known by where it lives."""
    inputs = {"files": [], "dirs": [], "probes": [], "programs": []}
    for name in ("obj.py", "obj.pyc", "lib.so", "lib.pyd", "obj.yaml"):
        f = tmp_path / "repo" / name
        f.parent.mkdir(exist_ok=True)
        f.write_text("kind: ConfigMap\n")
        stamp = os.stat(f)
        before = runcache.current({**inputs, "files": [str(f)]})
        f.write_text("kind: Secret\n\n\n\n")
        os.utime(f, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        assert os.stat(f).st_size == stamp.st_size
        assert runcache.current({**inputs, "files": [str(f)]}) != before, name


def test_installed_library_code_is_keyed_by_its_signature():
    """What the interpreter imports from its own folders changes only by an install: stat, not content."""
    import json as stdlib_module

    import re2 as installed_module

    for module in (stdlib_module, installed_module):
        path = os.path.abspath(module.__file__)
        assert runcache.current({"files": [path], "dirs": [], "probes": [], "programs": []})["files"][path].startswith(
            "stat:"), path


# render's no-op stored per unit (the configs of one repository root): an unchanged unit is replayed, a unit with any
# changed input is computed, and the run prints what a fully computed run prints, in its order


_FLUX_KS_WITH_THE_KEY = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: other
  namespace: flux-system
spec:
  interval: 10m
  path: ./other
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  decryption:
    provider: sops
    secretRef:
      name: sops-age
"""


def _two_units(tmp_path, monkeypatch):
    """Two repository roots in one checkout (a and b, each home-lab rendered), the replay store on."""
    import shutil

    from cli_util import EXAMPLE

    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    for name in ("a", "b"):
        shutil.copytree(EXAMPLE, checkout / name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VELERO_GITOPS_NO_CACHE", raising=False)
    monkeypatch.chdir(checkout)
    return checkout, ["a/velero-gitops.yaml", "b/velero-gitops.yaml"]


def _invoke(args, computed: bool = False) -> str:
    """The CLI in this process; ``computed``: with the replay store off (what every replay must print)."""
    from typer.testing import CliRunner

    from velero_gitops.cli import app

    r = CliRunner().invoke(app, list(args), env={"VELERO_GITOPS_NO_CACHE": "1" if computed else ""})
    assert r.exit_code == 0, r.output
    return r.output


def _rendered_here(monkeypatch) -> list[str]:
    """The units (their root's folder name) the next runs render: a replayed one is never loaded."""
    from pathlib import Path

    from velero_gitops import pipeline

    seen: list[str] = []
    real = pipeline.render_config
    monkeypatch.setattr(pipeline, "render_config", lambda c: seen.append(Path(c).parent.name) or real(c))
    return seen


def test_each_unchanged_unit_is_replayed_in_the_order_a_computed_run_prints(tmp_path, monkeypatch):
    _, configs = _two_units(tmp_path, monkeypatch)
    _invoke(["render", *configs])  # stored
    rendered = _rendered_here(monkeypatch)
    for args in (configs, configs[::-1]):
        replayed = _invoke(["render", *args])
        assert not rendered
        assert replayed == _invoke(["render", *args], computed=True)
        assert replayed.count("Flux decrypts the tree") == 2  # one message per unit, from its graph
        rendered.clear()


def _edit_config(checkout, monkeypatch):
    cfg = checkout / "a" / "velero-gitops.yaml"
    cfg.write_text(cfg.read_text() + "# a comment renders nothing new\n")


def _add_a_flux_kustomization_that_reads_the_key(checkout, monkeypatch):
    """A repository file the decryption-key message reads (validate/flux.py's graph of unit a's root)."""
    (checkout / "a" / "other").mkdir()
    (checkout / "a" / "other" / "ks.yaml").write_text(_FLUX_KS_WITH_THE_KEY)


@pytest.mark.parametrize("change", [_edit_config, _add_a_flux_kustomization_that_reads_the_key])
def test_a_unit_whose_input_changed_is_computed_and_the_other_replayed(tmp_path, monkeypatch, change):
    checkout, configs = _two_units(tmp_path, monkeypatch)
    _invoke(["render", *configs])
    rendered = _rendered_here(monkeypatch)
    change(checkout, monkeypatch)
    mixed = _invoke(["render", *configs])
    assert rendered == ["a"]
    assert mixed == _invoke(["render", *configs], computed=True)
    # a's graph now holds a Kustomization that reads the key: its message is gone, b's is replayed
    assert mixed.count("Flux decrypts the tree") == (1 if change is _add_a_flux_kustomization_that_reads_the_key else 2)


def test_a_changed_tool_version_computes_every_unit(tmp_path, monkeypatch):
    _, configs = _two_units(tmp_path, monkeypatch)
    _invoke(["render", "--check", *configs])
    rendered = _rendered_here(monkeypatch)
    monkeypatch.setattr(runcache, "__version__", runcache.__version__ + ".1")
    _invoke(["render", "--check", *configs])
    assert rendered == ["a", "b"]


def test_a_changed_template_computes_every_unit(tmp_path, monkeypatch):
    """The layout template is read once per process (templating._layout), for no one config: an input of each."""
    import shutil

    from velero_gitops.render import templating

    copy = tmp_path / "templates"
    shutil.copytree(templating.templates_dir(), copy)
    monkeypatch.setattr(templating, "templates_dir", lambda: copy)
    templating._layout.cache_clear()
    _, configs = _two_units(tmp_path, monkeypatch)
    _invoke(["render", "--check", *configs])
    rendered = _rendered_here(monkeypatch)
    layout = copy / templating.LAYOUT
    layout.write_text(layout.read_text().replace("# yaml-language-server:", "# yaml-language-servxr:"))
    templating._layout.cache_clear()
    from typer.testing import CliRunner

    from velero_gitops.cli import app

    r = CliRunner().invoke(app, ["render", "--check", *configs])
    assert rendered == ["a", "b"] and r.exit_code == 1 and "yaml-language-servxr" in r.output
    templating._layout.cache_clear()


def test_the_key_file_the_note_names_is_part_of_the_request(tmp_path, monkeypatch):
    """The decryption-key note names sops' key file (secrets/sops.default_key_file: $SOPS_AGE_KEY_FILE first): a
    run with another one prints its own, never the stored note."""
    _, configs = _two_units(tmp_path, monkeypatch)
    _invoke(["render", *configs])
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "elsewhere.txt"))
    rendered = _rendered_here(monkeypatch)
    assert f"age.agekey={tmp_path / 'elsewhere.txt'}" in _invoke(["render", *configs])
    assert rendered == ["a", "b"]
