"""The integrations as a user copies them from the docs, run against what is published.

The repository publishes a main branch and no release tags (a tag made in a clone does not travel). The
"published" repository here is the suite's snapshot of this checkout (conftest.pre_commit_hooks): a main
branch, no tags. Each integration is taken from the doc text, its URL pointed at that snapshot, and run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

from cli_util import EXAMPLE, REPO, git, need

WORKFLOW = REPO / "examples/github-actions/velero-gitops.yaml"
PUBLISHED = "https://github.com/velero-gitops/velero-gitops"
DOCS = [REPO / "README.md", REPO / ".pre-commit-hooks.yaml", WORKFLOW, *(REPO / "docs").glob("*.md")]


def _yaml(text: str):
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)


def _block(doc: Path, first_line: str) -> str:
    """The fenced yaml block of ``doc`` that starts with ``first_line``."""
    blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
    (block,) = [b for b in blocks if b.startswith(first_line)]
    return block


def test_no_release_revision_is_named():
    """Every revision the docs name is main (no tag exists to name), and where pre-commit is told `rev: main`
    the same text says how to pin it (`pre-commit autoupdate --freeze`)."""
    named = []
    for doc in DOCS:
        text = doc.read_text()
        revs = re.findall(r"\brev: (\S+)", text) + re.findall(r"velero-gitops@([^\s\"]+)\"", text)
        named += [(doc.name, v) for v in revs]
        if "rev: main" in text:
            assert f"pre-commit autoupdate --freeze --repo {PUBLISHED}" in text, doc
    assert named and all(v == "main" for _, v in named), named


def _flux_repo(tmp_path: Path) -> Path:
    """A fresh Flux repository holding the home-lab example (its dependsOn target included), committed."""
    repo = tmp_path / "flux-repo"
    shutil.copytree(EXAMPLE, repo)
    _add_openebs(repo / "kubernetes/apps/openebs-system")  # the dependency the home-lab config names
    # the Prometheus Operator runs outside this repository (flux.crd-provider-rendered: declared, as the docs say)
    config = repo / "velero-gitops.yaml"
    assert "\ncheck:" not in config.read_text()
    config.write_text(config.read_text() + "check:\n  externals:\n    - CustomResourceDefinition/*/monitoring.coreos.com\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def test_pre_commit_as_documented_pins_and_passes(tmp_path, pre_commit_hooks):
    """docs/validation.md's .pre-commit-config.yaml, then its `pre-commit autoupdate --freeze` line: rev becomes
    the published main's commit, and the hook passes on the example."""
    repo = _flux_repo(tmp_path)
    published = str(pre_commit_hooks.repo)
    doc = REPO / "docs/validation.md"
    config = _block(doc, "# .pre-commit-config.yaml").replace(PUBLISHED, published)
    (repo / ".pre-commit-config.yaml").write_text(config)
    (line,) = re.findall(r"^pre-commit autoupdate .*$", doc.read_text(), re.M)
    env = dict(os.environ, PRE_COMMIT_HOME=str(pre_commit_hooks.home), PRE_COMMIT_COLOR="never",
               XDG_CACHE_HOME=str(tmp_path / "xdg"))
    pre_commit = [sys.executable, "-m", "pre_commit"]
    r = subprocess.run(pre_commit + line.replace(PUBLISHED, published).split()[1:], cwd=repo, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    pinned = _yaml((repo / ".pre-commit-config.yaml").read_text())["repos"][0]["rev"]
    assert pinned == pre_commit_hooks.rev  # the SHA of the published main: no tag to prefer
    git(repo, "add", ".pre-commit-config.yaml")
    r = subprocess.run(pre_commit + ["run", "--all-files"], cwd=repo, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0 and "Passed" in r.stdout, r.stdout + r.stderr


def _path_with(tmp_path: Path, **tools: str) -> str:
    """PATH with a bin folder holding the given tools (name -> executable) first."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name, exe in tools.items():
        (bindir / name).symlink_to(exe)
    return f"{bindir}:{os.environ['PATH']}"


def test_lefthook_as_documented_passes(tmp_path):
    """docs/validation.md's lefthook.yml, run by lefthook itself on a staged change in the example."""
    lefthook = shutil.which("lefthook") or str(Path(sys.executable).parent / "lefthook")
    need(os.access(lefthook, os.X_OK), "lefthook (the test extra installs it)")
    repo = _flux_repo(tmp_path)
    (repo / "lefthook.yml").write_text(_block(REPO / "docs/validation.md", "# lefthook.yml"))
    env = dict(os.environ, PATH=_path_with(tmp_path, **{"velero-gitops": str(Path(sys.executable).parent / "velero-gitops")}),
               XDG_CACHE_HOME=str(tmp_path / "xdg"), LEFTHOOK_QUIET="")
    ks = repo / "kubernetes/apps/velero/velero/ks.yaml"
    ks.write_text(ks.read_text())  # touched and staged: lefthook runs a job only for matching staged files
    git(repo, "add", "-A")
    r = subprocess.run([lefthook, "run", "pre-commit"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "velero-gitops check" in r.stdout, r.stdout + r.stderr
    ks.write_text(ks.read_text().replace("  prune: true", "  prune: yes please", 1))
    git(repo, "add", "-A")
    r = subprocess.run([lefthook, "run", "pre-commit"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "prune" in r.stdout + r.stderr, r.stdout + r.stderr


def test_actions_example_steps_as_a_script(tmp_path, pre_commit_hooks):
    """Every `run` step of the Actions example, in order, as bash runs them, in a fresh Flux repository: the
    install step too, into a new virtualenv, from the published main (a git URL to the snapshot)."""
    steps = _yaml(WORKFLOW.read_text())["jobs"]["check"]["steps"]
    setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert "cache" not in setup.get("with", {}), "cache: pip stops the job in a repository without requirements"
    runs = [s for s in steps if "run" in s]
    assert [s["name"] for s in runs] == ["Install velero-gitops", "velero-gitops check", "velero-gitops check (JUnit)"]
    repo = _flux_repo(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    env = {**os.environ, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}", "CI": "true", "GITHUB_ACTIONS": "true",
           "VELERO_GITOPS_NO_CACHE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    for step in runs:
        # file://localhost/...: pip refuses a file:/// URL with an @revision as a requirement
        script = step["run"].replace(f"git+{PUBLISHED}", f"git+file://localhost{pre_commit_hooks.repo}")
        r = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=repo, env=env, capture_output=True,
                           text=True, timeout=900)
        assert r.returncode == 0, (step["name"], r.stdout[-3000:], r.stderr[-3000:])
        assert "::error" not in r.stdout, (step["name"], r.stdout)
    installed = subprocess.run([env_dir / "bin/python", "-c", "import velero_gitops; print(velero_gitops.__file__)"],
                               capture_output=True, text=True, check=True).stdout
    assert installed.startswith(str(env_dir)), installed  # the step's install, not this checkout
    report = ET.parse(repo / "velero-gitops-junit.xml").getroot()
    assert int(report.get("tests")) > 0 and report.get("failures") == "0", ET.tostring(report)[:500]
    assert report.findall(".//testcase") and not report.findall(".//failure"), ET.tostring(report)[:500]


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


def test_the_projects_own_hooks_are_offline_and_run_by_ci():
    """.pre-commit-config.yaml: local hooks only (`language: system`, nothing to download), ruff, mypy and the
    project's own check on its examples; .ci/run runs exactly those hooks, not a second list of commands."""
    config = _yaml((REPO / ".pre-commit-config.yaml").read_text())
    hooks = [h for repo in config["repos"] for h in repo["hooks"]]
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert {h["language"] for h in hooks} == {"system"}
    entries = [h["entry"] for h in hooks]
    assert entries[:2] == ["ruff check src tests benchmarks", "mypy"]
    assert any("velero-gitops render --check clusters/*/velero-gitops.yaml" in e for e in entries)
    assert "velero-gitops check" in entries
    commands = [line.split()[0] for line in (REPO / ".ci/run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert "python3 -m pre_commit run --all-files --show-diff-on-failure" in (REPO / ".ci/run").read_text()
    assert not {"ruff", "mypy", "velero-gitops"} & set(commands), commands  # the hooks, not a second list


def test_readme_quick_start_in_a_fresh_clone(tmp_path, pre_commit_hooks):
    """The README's install-and-run block, as written, in a fresh clone of the published main with an empty HOME
    and no virtualenv active: it makes its own (Debian's pip refuses a system install, PEP 668)."""
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block and "python3 -m venv" in block.group(1)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(pre_commit_hooks.repo), str(clone)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    # no venv on PATH: the block's `python3` is the machine's interpreter, as for a new user
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PATH=":".join(p for p in os.environ["PATH"].split(":") if not p.startswith(str(Path(sys.executable).parent))))
    r = subprocess.run(["bash", "-eo", "pipefail", "-c", block.group(1)], cwd=clone, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert "no findings" in r.stdout, r.stdout[-2000:]
    assert (clone / ".venv/bin/velero-gitops").exists()



def test_readme_test_command_collects_the_suite_offline_in_a_fresh_clone(tmp_path, pre_commit_hooks):
    """The README's test command (`bash scripts/test.sh`), in a fresh clone of the published main, with no network (a
    network namespace of its own): the script it names exists there, installs the project from what the machine
    has, and pytest collects the whole suite with no error (a test that needs an untracked file fails here)."""
    block = re.search(r"Run the tests.*?```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README.md has no test block"
    first = block.group(1).splitlines()[0].split("#")[0].strip()
    assert first == "bash scripts/test.sh", first
    for tool in ("promtool", "strace", "kubectl"):  # the script installs or demands these before it runs pytest
        need(shutil.which(tool), tool)
    need(shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0,
         "unshare -rn (a user and network namespace: the run must not reach the network)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(pre_commit_hooks.repo), str(clone)], check=True)
    assert (clone / "scripts" / "test.sh").is_file()
    # a throw-away virtualenv that sees the packages this test runs with (the test extra, hatchling and editables
    # included): the script's `python3 -m pip install -e .[test]` finds every requirement there, with no index
    import sysconfig

    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    site = next((env_dir / "lib").glob("python*/site-packages"))
    (site / "running-tests.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(HOME=str(tmp_path / "home"), PATH=f"{env_dir / 'bin'}:{env['PATH']}", PIP_NO_INDEX="1",
               PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run(["unshare", "-rn", "bash", *first.split()[1:], "--collect-only", "-q", "-p", "no:cacheprovider"],
                       cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    summary = re.fullmatch(r"(\d+)(?:/\d+)? tests collected(?: \(\d+ deselected\))? in [\d.]+s",
                           r.stdout.strip().splitlines()[-1])
    assert summary, r.stdout[-300:]
    assert int(summary[1]) > 1000, summary[0]


def test_documented_validate_hook_args_pass_on_the_example():
    """The validate hook does not read the config: the args docs/validation.md gives it are the check: settings
    the example needs (its dependsOn target lives elsewhere), and with them it passes; without them it fails."""
    from cli_util import run_cli

    text = (REPO / "docs/validation.md").read_text()
    (args,) = re.findall(r"`args: \[(.*?)\]`", text)
    argv = [a.strip() for a in args.split(",")]
    assert argv[0] == "kubernetes"
    assert run_cli("validate", *argv, cwd=EXAMPLE).code == 0
    assert run_cli("validate", "kubernetes", cwd=EXAMPLE).code == 1
