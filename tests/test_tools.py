"""Programs come from PATH, never from ``.``, empty or relative entries, nor from inside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from velero_gitops import tools


def _exe(d: Path, name: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text("#!/bin/sh\ntouch \"$0.ran\"\n")
    p.chmod(0o755)
    return p


@pytest.mark.parametrize("entry", [".", "", "bin", "./bin"])
def test_tools_never_come_from_relative_or_empty_path_entries(tmp_path, monkeypatch, entry):
    monkeypatch.chdir(tmp_path)
    _exe(tmp_path, "kubectl")
    _exe(tmp_path / "bin", "kubectl")
    monkeypatch.setenv("PATH", os.pathsep.join([entry, str(tmp_path / "nothing")]))
    assert tools.which("kubectl") is None


def test_tools_never_come_from_inside_the_repository(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    _exe(repo / "hack", "sops")
    _exe(tmp_path / "system", "sops")
    monkeypatch.setenv("PATH", os.pathsep.join([str(repo / "hack"), str(tmp_path / "system")]))
    assert tools.which("sops", repo) == str(tmp_path / "system" / "sops")
    monkeypatch.setenv("PATH", str(repo / "hack"))
    assert tools.which("sops", repo) is None


def test_sops_is_never_run_from_the_checkout(tmp_path, monkeypatch):
    """A pull request's bin/sops with that folder on PATH: passed over for the system's (or the package's)."""
    from velero_gitops.secrets import sops

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    planted = _exe(repo / "bin", "sops")
    system = _exe(tmp_path / "system", "sops")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("VELERO_GITOPS_SOPS", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join([str(repo / "bin"), ".", str(tmp_path / "system")]))
    path, where = sops.locate()
    assert path == str(system) and path != str(planted) and where == "PATH"
