"""The pre-commit hooks, run for real with `pre-commit run` on a temporary Git repository.

pre-commit builds its own virtualenv and pip-installs this repository into it (offline here: pip
uses the machine's configured index). The hook environment is shared by the whole run (pre_commit_hooks).
"""

from __future__ import annotations

import shutil

from cli_util import EXAMPLE, git, run_cli
from cli_util import VALIDATE_FIXTURES as FIXTURES


def test_validate_hook_passes_then_reports_a_typo(tmp_path, pre_commit_hooks):
    repo = tmp_path / "flux-repo"
    shutil.copytree(FIXTURES / "upstream", repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")

    r = pre_commit_hooks.run(repo, "velero-gitops-validate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "velero-gitops validate" in r.stdout and "Passed" in r.stdout

    hr = repo / "kubernetes/apps/cert-manager/cert-manager/app/helmrelease.yaml"
    hr.write_text(hr.read_text().replace("  maxHistory: 3", "  maxHistroy: 3"))
    git(repo, "add", "-A")
    r = pre_commit_hooks.run(repo, "velero-gitops-validate")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Failed" in r.stdout
    assert ("kubernetes/apps/cert-manager/cert-manager/app/helmrelease.yaml:18 HelmRelease/cert-manager/cert-manager "
            "/spec/maxHistroy: additional property not allowed") in r.stdout
    assert "18 passed, 1 failed" in r.stdout


def test_check_hook_on_the_rendered_example(tmp_path, pre_commit_hooks, monkeypatch):
    repo = tmp_path / "flux-repo"
    shutil.copytree(EXAMPLE, repo / "clusters" / "home-lab")
    r = run_cli("render", "--config", "clusters/home-lab/velero-gitops.yaml", cwd=repo)  # no-op when committed in sync
    assert r.code == 0, r.out + r.err
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # check's result store stays in the test
    r = pre_commit_hooks.run(repo, "velero-gitops-check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "velero-gitops check" in r.stdout and "Passed" in r.stdout and " 0 failed" in r.stdout
    assert list((tmp_path / "xdg" / "velero-gitops" / "runs").glob("*.json")), "a clean hook run is stored for replay"

    ks = next(repo.rglob("ks.yaml"))
    ks.write_text(ks.read_text().replace("  prune: true", "  prune: yes please", 1))
    r = pre_commit_hooks.run(repo, "velero-gitops-check")
    assert r.returncode == 1 and "Failed" in r.stdout
    assert "/spec/prune: expected boolean, got string 'yes please'" in r.stdout
