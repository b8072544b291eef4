"""Build the wheel, install it into a fresh virtual environment, and render the example from the installed copy.

This catches templates missing from the wheel: the venv's copy must not see the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from cli_util import REPO, snapshot

pytestmark = pytest.mark.slow


def test_wheel_contains_templates_and_renders_example(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("velero_gitops-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "velero_gitops/templates/helmrelease.yaml.j2" in names
    assert any(n.startswith("velero_gitops/validate/") for n in names)

    venv = tmp_path / "venv"
    # System site-packages provide the dependencies offline; --no-deps keeps the project itself from the wheel only.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True, capture_output=True, timeout=300)

    work = tmp_path / "work"
    shutil.copytree(REPO / "clusters" / "home-lab", work)
    expected = snapshot(work)
    for f in work.rglob("*.yaml"):
        if f.name != "velero-gitops.yaml" and f.name != "secret.sops.yaml" and f.name != ".sops.yaml":
            f.unlink()
    probe = subprocess.run(
        [str(py), "-c", "import velero_gitops, velero_gitops.render as r; print(velero_gitops.__file__); print(r.templates_dir())"],
        cwd=work, capture_output=True, text=True, check=True, timeout=60)
    module_file, templates = probe.stdout.split()
    assert module_file.startswith(str(venv)) and templates.startswith(str(venv)), probe.stdout
    r = subprocess.run([str(venv / "bin" / "velero-gitops"), "render", "-q", "--config", "velero-gitops.yaml"],
                       cwd=work, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert snapshot(work) == expected
