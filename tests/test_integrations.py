"""The integrations as a user copies them: the GitHub Actions example and the pre-commit revs the docs name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET

from velero_gitops import __version__

from cli_util import REPO

EXAMPLE = REPO / "examples/github-actions/velero-gitops.yaml"


def _workflow() -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(EXAMPLE.read_text())


def test_one_version_everywhere():
    """The package version, and every rev/tag the docs tell a user to install, are the same release."""
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"] == __version__
    named = []
    for doc in [REPO / "README.md", REPO / ".pre-commit-hooks.yaml", EXAMPLE, *(REPO / "docs").glob("*.md")]:
        text = doc.read_text()
        named += [(doc.name, v) for v in re.findall(r"\brev: (\S+)", text)]
        named += [(doc.name, v) for v in re.findall(r"velero-gitops@(\S+?)\"", text)]
    assert named, "no rev named anywhere"
    assert all(v == f"v{__version__}" for _, v in named), named


def test_actions_example_works_in_a_flux_repository(tmp_path):
    """Every shell step of the example, in order, in a fresh Flux repository (the home-lab example's tree).

    The install step is checked for what it installs, not run: there is no network here, and the package under
    test is already installed in this interpreter.
    """
    steps = _workflow()["jobs"]["check"]["steps"]
    setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert "cache" not in setup.get("with", {}), "cache: pip stops the job in a repository without requirements"
    runs = [s for s in steps if "run" in s]
    install, rest = runs[0], runs[1:]
    assert re.fullmatch(r'python -m pip install "velero-gitops\[sops\] @ git\+https://\S+@v' + re.escape(__version__) + '"',
                        install["run"].strip()), install["run"]
    assert [s["name"] for s in rest] == ["velero-gitops check", "velero-gitops validate"]

    repo = tmp_path / "flux-repo"
    shutil.copytree(REPO / "clusters/home-lab", repo)
    _add_openebs(repo / "kubernetes/apps/openebs-system")  # the dependency the home-lab config names
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "velero-gitops").write_text(f"#!/bin/sh\nexec {sys.executable} -m velero_gitops \"$@\"\n")
    (bindir / "velero-gitops").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "CI": "true", "GITHUB_ACTIONS": "true",
           "VELERO_GITOPS_NO_CACHE": "1"}
    for step in rest:
        r = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=repo, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, (step["name"], r.stdout, r.stderr)
        assert "::error" not in r.stdout, (step["name"], r.stdout)
    report = ET.parse(repo / "velero-gitops-junit.xml").getroot()
    assert int(report.get("tests")) > 0 and report.get("failures") == "0", ET.tostring(report)[:500]
    assert not report.findall(".//failure"), ET.tostring(report)[:500]


def _add_openebs(app):
    """A Flux Kustomization flux-system/openebs with its folder: what the home-lab config's dependsOn points at."""
    (app / "openebs/app").mkdir(parents=True)
    (app / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./openebs/ks.yaml\n")
    (app / "openebs/ks.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: openebs\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/apps/openebs-system/openebs/app\n"
        "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  targetNamespace: openebs-system\n")
    (app / "openebs/app/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./namespace.yaml\n")
    (app / "openebs/app/namespace.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openebs-system\n")
