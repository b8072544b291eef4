"""Shared helpers for the validate tests: the fixture tree, the CLI, kubectl."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
REPO = HERE.parent.parent
EXAMPLE = REPO / "clusters" / "home-lab"


def require_kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is required in CI (kustomize builds are part of validate)")
        pytest.skip("kubectl not on PATH")
    return path


def run_cli(*args: str, cwd: Path | None = None, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "velero_gitops", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, env=e, timeout=120)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cache"
    d.mkdir()
    return d


@pytest.fixture
def home_lab(tmp_path: Path) -> Path:
    """A copy of the fixture home-lab tree (shaped like a Flux home-lab repository)."""
    dst = tmp_path / "home-lab"
    shutil.copytree(FIXTURES / "home-lab", dst)
    return dst
