#!/usr/bin/env python3
"""Benchmark `velero-gitops check` on clusters/home-lab against a bare `python -c "import typer"`.

Prints, each the median of ``--repeat`` runs (default 7):

* ``import typer``: the floor of any typer CLI on this machine;
* cold ``check --no-cache``: load, render, validate the repository (kustomize builds included) and
  the secret check; every run starts with an empty cache folder (no kustomize build cache, no replay);
* ``check --no-cache`` with the kustomize build and schema caches of an earlier run;
* ``check`` replaying the stored clean result of an identical run (the pre-commit hook's common case);

and the ratios to ``import typer``. Goal of the cold path: <= 2x; the replay stays only while it is not.
Runs in a temporary copy of the example so that nothing outside it is read or written.

Usage: python benchmarks/check_bench.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], repeat: int, cwd: Path, env: dict[str, str], fresh: Path | None = None) -> float:
    times = []
    for _ in range(repeat):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(ROOT / "clusters" / "home-lab", repo)
        xdg = Path(tmp) / "xdg"
        env = {**os.environ, "XDG_CACHE_HOME": str(xdg), "PYTHONPATH": str(ROOT / "src")}
        check = [sys.executable, "-m", "velero_gitops", "check", "--config", "velero-gitops.yaml"]
        t_typer = timed([sys.executable, "-c", "import typer"], args.repeat, repo, env)
        t_cold = timed([*check, "--no-cache"], args.repeat, repo, env, fresh=xdg)
        t_warm = timed([*check, "--no-cache"], args.repeat, repo, env)
        timed(check, 1, repo, env)  # stores the clean result
        t_replay = timed(check, args.repeat, repo, env)
    print(f"python -c 'import typer':       {t_typer * 1000:6.0f} ms")
    print(f"check --no-cache (cold):        {t_cold * 1000:6.0f} ms   ratio {t_cold / t_typer:4.2f} (goal <= 2)")
    print(f"check --no-cache (warm caches): {t_warm * 1000:6.0f} ms   ratio {t_warm / t_typer:4.2f}")
    print(f"check (replayed clean result):  {t_replay * 1000:6.0f} ms   ratio {t_replay / t_typer:4.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
