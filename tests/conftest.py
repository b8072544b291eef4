"""Suite-wide rules.

In CI (CI set to a true value) a skipped test is a failure: a missing tool (kubectl, sops, promtool,
the S3 server) must never turn into a silently green run.

Property tests run a fixed, reproducible set of examples by default (profile "gate"): a gate that
fails at random on an unrelated commit teaches people to re-run it. `HYPOTHESIS_PROFILE=explore`
draws fresh examples each run; every bug it finds is fixed and kept as an `@example` or a corpus case.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers: cli_util, *_fixtures

from cli_util import REPO, git, in_ci, need  # noqa: E402

settings.register_profile("gate", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))

SLOW_FIXTURES = {"s3_server", "pre_commit_hooks"}  # a real S3 server process; a pre-commit hook environment


def pytest_collection_modifyitems(config, items):
    """Tests on the expensive shared fixtures are slow (deselect locally with -m "not slow"; CI runs them).

    Tests marked `upstream` read upstream Git clones that neither CI nor a fresh checkout has: they run only when
    the -m expression names them (`python -m pytest -m upstream`), and then fail, never skip, without the clones."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if "upstream" not in (config.getoption("markexpr") or ""):
        upstream = [item for item in items if item.get_closest_marker("upstream")]
        if upstream:
            config.hook.pytest_deselected(items=upstream)
            items[:] = [item for item in items if not item.get_closest_marker("upstream")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped in CI, which must run every test: {reason}"


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch):
    """TMPDIR inside the test folder, so the leak scan covers temporary files too."""
    t = tmp_path / "tmp"
    t.mkdir()
    monkeypatch.setenv("TMPDIR", str(t))
    return t


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
            git(repo, "init", "-q", "-b", "main")  # published: a main branch, no tags
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "snapshot for the pre-commit tests")
            (repo / ".git" / "info" / "exclude").write_text(".done\n")
            (repo / ".done").touch()
    return PreCommit(home=root / "home", repo=repo, rev=git(repo, "rev-parse", "HEAD").strip())
