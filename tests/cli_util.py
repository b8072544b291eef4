"""Run the CLI in-process (fast) or as a real subprocess (exit codes, stderr, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent for p in (REPO / "clusters").glob("*/velero-gitops.yaml"))


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 120) -> Run:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "velero_gitops", *args], cwd=cwd, env=full_env, input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes: to prove a failed run changed nothing."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
