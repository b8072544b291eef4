"""Fixtures for the validate tests (helpers and paths live in tests/cli_util.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli_util import VALIDATE_FIXTURES


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
