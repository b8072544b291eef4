"""The one helper module of the suite: paths, the "are we in CI" rule, and the CLI as a real subprocess.

Import it from any test module (tests/conftest.py puts this directory on sys.path); fixtures live in
conftest.py files and in the *_fixtures modules, never imported from a conftest.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent for p in (REPO / "clusters").glob("*/velero-gitops.yaml"))
EXAMPLE = REPO / "clusters" / "home-lab"
VALIDATE_FIXTURES = REPO / "tests" / "validate" / "fixtures"


def in_ci() -> bool:
    """CI set to a true value: every tool must be present and no test may skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def need(condition: object, what: str) -> None:
    """Skip locally, fail in CI, when something a test needs (a tool, a package) is missing."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{what} is required in CI (CI must not skip tests) but missing")
    pytest.skip(f"{what} not available")


def require_kubectl() -> str:
    path = shutil.which("kubectl")
    need(path, "kubectl on PATH (kustomize builds are part of validate)")
    return path  # type: ignore[return-value]


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float  # wall clock
    cpu: float = 0.0  # CPU seconds of the child: what a cost budget measures on a loaded machine


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            exact_env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120) -> Run:
    """`python -m velero_gitops ARGS` as a subprocess.

    ``env`` adds to (overrides in) the test's own environment; ``exact_env`` is the whole environment,
    nothing inherited behind the test's back (credentials tests, clean_env).
    """
    if exact_env is not None and env is not None:
        raise TypeError("pass env (additions) or exact_env (the whole environment), not both")
    full_env = exact_env if exact_env is not None else {**os.environ, **(env or {})}
    start = time.monotonic()
    code, out, err, cpu = _run_measured([sys.executable, "-m", "velero_gitops", *args], cwd, full_env, stdin, timeout)
    return Run(code, out, err, time.monotonic() - start, cpu)


def _run_measured(cmd: list[str], cwd: Path | None, env: dict[str, str], stdin: str | None,
                  timeout: float) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, CPU seconds of this child and its descendants). The CPU comes from wait4(2) on
    the child itself: a difference of RUSAGE_CHILDREN would also count any other child of the worker reaped in the
    meantime (a server fixture torn down, a build pool), which made cost budgets fail at random under xdist."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE if stdin is not None else None)
    got: dict[str, str] = {}

    def drain(name: str, stream: IO[str]) -> None:
        got[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n, s), daemon=True) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    if stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timed_out = not timer.is_alive()
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join()
    if timed_out:
        raise subprocess.TimeoutExpired(cmd, timeout, got.get("out"), got.get("err"))
    return proc.returncode, got.get("out", ""), got.get("err", ""), usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Assert that the block costs at most ``seconds`` of CPU, this process's and its waited-for children's
    (kubectl, sops): a cost bound that holds on a loaded machine, where wall time does not. A hang costs no
    CPU; the suite's per-test timeout (pyproject.toml) catches that."""
    start = time.process_time() + _children_cpu()
    yield
    spent = time.process_time() + _children_cpu() - start
    assert spent < seconds, f"{spent:.2f} CPU seconds, budget {seconds:g}"


def git(cwd: Path, *args: str) -> str:
    """git with a fixed identity and no signing (test repositories)."""
    return subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "commit.gpgsign=false",
                           *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment without any AWS_/SOPS_ variable and with a HOME that holds no age key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SOPS_"))}
    env.update(HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "home" / ".config"), NO_COLOR="1", COLUMNS="200")
    env.update(extra)
    return env


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (repository-relative path -> text) under ``root``; returns ``root``."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes: to prove a failed run changed nothing."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def velero_helmrelease(values: str, *, chart: str = "12.1.0", interval: str = "1h",
                       source_namespace: str | None = None, document_start: bool = False) -> str:
    """A Flux HelmRelease velero/velero of the velero chart from HelmRepository vmware-tanzu, with ``values``
    (YAML written from column 0) under spec.values. Placeholders such as ``{tag}`` in ``values`` or ``chart`` stay in
    the text for the caller's ``.format``: the header itself holds no brace."""
    source_ns = f"        namespace: {source_namespace}\n" if source_namespace else ""
    body = "".join(f"    {line}\n" if line.strip() else "\n" for line in values.splitlines())
    return ("---\n" if document_start else "") + (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: velero\n  namespace: velero\n"
        f"spec:\n  interval: {interval}\n  chart:\n    spec:\n      chart: velero\n      version: {chart}\n"
        f"      sourceRef:\n        kind: HelmRepository\n        name: vmware-tanzu\n{source_ns}  values:\n{body}")
