"""The pre-commit hooks, run for real with `pre-commit try-repo` on a temporary Git repository.

pre-commit builds its own virtualenv and pip-installs this repository into it (offline here: pip
uses the machine's configured index). The hook environment is shared by the runs of this module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_util import EXAMPLE, REPO, VALIDATE_FIXTURES as FIXTURES, run_cli

pytestmark = pytest.mark.slow


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory):
    return tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(repo: Path, home: Path, hook: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never")
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(REPO), hook, "--all-files", "--verbose"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def test_validate_hook_passes_then_reports_a_typo(tmp_path, pre_commit_home):
    if not (REPO / ".git").exists():
        pytest.skip("try-repo needs this project as a Git repository")
    repo = tmp_path / "flux-repo"
    shutil.copytree(FIXTURES / "upstream", repo)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "init")

    r = _try_repo(repo, pre_commit_home, "velero-gitops-validate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "velero-gitops validate" in r.stdout and "Passed" in r.stdout

    hr = repo / "kubernetes/apps/cert-manager/cert-manager/app/helmrelease.yaml"
    hr.write_text(hr.read_text().replace("  maxHistory: 3", "  maxHistroy: 3"))
    _git(repo, "add", "-A")
    r = _try_repo(repo, pre_commit_home, "velero-gitops-validate")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Failed" in r.stdout
    assert ("kubernetes/apps/cert-manager/cert-manager/app/helmrelease.yaml:18 HelmRelease/cert-manager/cert-manager "
            "/spec/maxHistroy: additional property not allowed") in r.stdout
    assert "18 passed, 1 failed" in r.stdout


def test_check_hook_on_the_rendered_example(tmp_path, pre_commit_home, monkeypatch):
    if not (REPO / ".git").exists():
        pytest.skip("try-repo needs this project as a Git repository")
    repo = tmp_path / "flux-repo"
    shutil.copytree(EXAMPLE, repo / "clusters" / "home-lab")
    r = run_cli("render", "--config", "clusters/home-lab/velero-gitops.yaml", cwd=repo)  # no-op when committed in sync
    assert r.code == 0, r.out + r.err
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "init")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # check's result store stays in the test
    r = _try_repo(repo, pre_commit_home, "velero-gitops-check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "velero-gitops check" in r.stdout and "Passed" in r.stdout and " 0 failed" in r.stdout

    ks = next(repo.rglob("ks.yaml"))
    ks.write_text(ks.read_text().replace("  prune: true", "  prune: yes please", 1))
    r = _try_repo(repo, pre_commit_home, "velero-gitops-check")
    assert r.returncode == 1 and "Failed" in r.stdout
    assert "/spec/prune: expected boolean, got string 'yes please'" in r.stdout
