"""Suite-wide rules.

In CI (CI set to a true value) a skipped test is a failure: a missing tool (kubectl, sops, promtool,
the S3 server) must never turn into a silently green run.

Property tests run a fixed, reproducible set of examples by default (profile "gate"): a gate that
fails at random on an unrelated commit teaches people to re-run it. `HYPOTHESIS_PROFILE=explore`
draws fresh examples each run; every bug it finds is fixed and kept as an `@example` or a corpus case.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers: cli_util, *_fixtures

from cli_util import in_ci  # noqa: E402

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
