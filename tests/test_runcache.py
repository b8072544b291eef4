"""The check replay store: what decides a result is in the key; no cache is trusted blindly.

Issue 20's replays: a result stored while kubectl was missing, a code change without a version bump,
a store inside the checkout, a file replaced by a symlink to identical content, a full disk (a traceback).
"""

from __future__ import annotations

import errno
import json

from velero_gitops import identity, runcache
from velero_gitops.check import _cache_in_checkout

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
    assert _cache_in_checkout(repo / ".cache" / "velero-gitops" / "runs", [cfg])
    assert not _cache_in_checkout(tmp_path / "home" / ".cache", [cfg])


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
