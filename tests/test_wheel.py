"""Build the wheel, install it into a fresh virtual environment, and render the example from the installed copy.

This catches templates missing from the wheel: the venv's copy must not see the source tree.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from cli_util import REPO, snapshot

pytestmark = pytest.mark.slow


def test_wheel_contains_templates_and_renders_example(tmp_path):
    # PYTHONPATH (set by developers to their checkout's src/) would let the venv import the source tree instead
    # of the wheel: the build and the venv get the environment without it.
    venv_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                   check=True, capture_output=True, timeout=300, env=venv_env)
    wheel = next(dist.glob("velero_gitops-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "velero_gitops/templates/documents.yaml.j2" in names  # the one layout template render needs
    assert any(n.startswith("velero_gitops/validate/") for n in names)
    assert "velero_gitops/config/compat.json" in names  # the version table every config load reads

    venv = tmp_path / "venv"
    # The dependencies come from the RUNNING interpreter's site-packages (a venv or the system Python alike), added
    # after the new venv's own through a .pth file: offline, and the project itself only from the wheel. (A
    # --system-site-packages venv would see the base interpreter's packages, which lack typer inside a venv.)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120, env=venv_env)
    py = venv / "bin" / "python"
    own_site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True, timeout=60, env=venv_env).stdout.strip()
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()])
    (Path(own_site) / "zz_test_deps.pth").write_text("".join(f"{d}\n" for d in deps), encoding="utf-8")
    # pip itself comes through the .pth too; --ignore-installed leaves the running environment's copy alone.
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
                   check=True, capture_output=True, timeout=300, env=venv_env)

    work = tmp_path / "work"
    shutil.copytree(REPO / "clusters" / "home-lab", work)
    expected = snapshot(work)
    for f in work.rglob("*.yaml"):
        if f.name not in ("velero-gitops.yaml", "secret.sops.yaml", "repo-credentials.sops.yaml", ".sops.yaml"):
            f.unlink()
    probe = subprocess.run(
        [str(py), "-c", "import velero_gitops, velero_gitops.render.templating as r; print(velero_gitops.__file__); print(r.templates_dir())"],
        cwd=work, capture_output=True, text=True, check=True, timeout=60, env=venv_env)
    module_file, templates = probe.stdout.split()
    assert module_file.startswith(str(venv)) and templates.startswith(str(venv)), probe.stdout
    r = subprocess.run([str(venv / "bin" / "velero-gitops"), "render", "-q", "--config", "velero-gitops.yaml"],
                       cwd=work, capture_output=True, text=True, timeout=120, env=venv_env)
    assert r.returncode == 0, r.stderr
    assert snapshot(work) == expected
