"""Fixtures for the validate tests (helpers and paths live in tests/cli_util.py)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli_util import REPO, VALIDATE_FIXTURES, git, need


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cache"
    d.mkdir()
    return d


@pytest.fixture
def home_lab(tmp_path: Path) -> Path:
    """A copy of the fixture home-lab tree (shaped like a Flux home-lab repository)."""
    dst = tmp_path / "home-lab"
    shutil.copytree(VALIDATE_FIXTURES / "home-lab", dst)
    return dst


@dataclass
class PreCommit:
    """pre-commit as a user runs it: a .pre-commit-config.yaml naming this checkout (a committed snapshot of it,
    uncommitted edits too) at a fixed revision, and one PRE_COMMIT_HOME for the whole run."""

    home: Path  # PRE_COMMIT_HOME: the hook environment, installed once, shared by all xdist workers
    repo: Path  # the hooks' repository
    rev: str

    def run(self, cwd: Path, hook: str) -> subprocess.CompletedProcess:
        """`pre-commit run HOOK --all-files` in the Git repository ``cwd`` (the config is added to its index)."""
        (cwd / ".pre-commit-config.yaml").write_text(
            f"repos:\n  - repo: {self.repo}\n    rev: {self.rev}\n    hooks:\n      - id: {hook}\n", encoding="utf-8")
        git(cwd, "add", ".pre-commit-config.yaml")
        env = dict(os.environ, PRE_COMMIT_HOME=str(self.home), PRE_COMMIT_COLOR="never")
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", hook, "--all-files", "--verbose"],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def pre_commit_hooks(tmp_path_factory) -> PreCommit:
    """Built once per run. `pre-commit try-repo` installs the hooks into a throw-away store on every call (about
    a minute each), whatever PRE_COMMIT_HOME says; `pre-commit run` keys its environments by repository and
    revision in PRE_COMMIT_HOME. So: one committed snapshot and one home in a directory every xdist worker
    shares; pre-commit's own store lock makes the first run install and the others wait and reuse."""
    need(shutil.which("git"), "git")
    need((REPO / ".git").exists(), "this project as a Git checkout (the hooks are installed from a snapshot of it)")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: popen-gwN/.. is per run
    root = shared / "pre-commit"
    root.mkdir(exist_ok=True)
    with open(shared / "pre-commit.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        repo = root / "hooks-repo"
        if not (repo / ".done").exists():
            shutil.rmtree(repo, ignore_errors=True)
            files = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
            for rel in filter(None, files):
                src = REPO / rel
                if src.is_file():
                    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, repo / rel)
            git(repo, "init", "-q")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "snapshot for the pre-commit tests")
            (repo / ".git" / "info" / "exclude").write_text(".done\n")
            (repo / ".done").touch()
    return PreCommit(home=root / "home", repo=repo, rev=git(repo, "rev-parse", "HEAD").strip())
