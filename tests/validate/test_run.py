"""One validate call reads each file once (issue 19: "one pass over the repository: each file read once per run").

The run's read boundary is ``Run.content`` (validate/run.py): the reader, the kustomization parser, the build
planner's key, the build mirror, the refusal check and the rules that look at a file's text all take their bytes
from it. What is counted here is every ``open`` the Python process makes (the interpreter's ``open`` audit event,
raised by ``open()``, ``io.open`` and ``os.open`` alike), cold and warm; kubectl's own reads inside the sandbox are
another process's and are not counted.
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
from pathlib import Path

import pytest

from velero_gitops import identity
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import VALIDATE_FIXTURES, require_kubectl

_OPENS: list[collections.Counter[str] | None] = [None]  # the counter while a run is measured, else None


def _hook(event: str, args: tuple) -> None:
    counter = _OPENS[0]
    if counter is None or event != "open":
        return
    path, mode, flags = args
    if isinstance(path, int):
        return  # an open descriptor (os.fdopen)
    writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR))
    full = os.path.abspath(os.fsdecode(path))
    # a name relative to a descriptor (shutil.rmtree of the build's temporary mirror) is no file of ours
    if not writes and os.path.isfile(full):
        counter[full] += 1


sys.addaudithook(_hook)  # audit hooks cannot be removed: it counts only while _OPENS holds a counter


def _opens(paths: list[str], opts: Options) -> tuple[collections.Counter[str], int]:
    counter: collections.Counter[str] = collections.Counter()
    _OPENS[0] = counter
    try:
        res = validate_paths(paths, opts)
    finally:
        _OPENS[0] = None
    return counter, len(res.findings)


@pytest.mark.parametrize("fixture,paths", [("real-world", ["kubernetes"]), ("multi-cluster", ["clusters", "apps", "infra"])])
def test_each_file_is_opened_once_per_run(tmp_path, fixture, paths):
    """Cold (every build runs) and warm (verdicts served from the cache): no file, in the repository or the cache,
    is opened twice by one call. (The package's own files are left out: identity.code_digest stats all of them,
    the schema bundle included, once per process, and the schema store then reads the schemas it needs.) The base code opened the files of shared kustomize
    components once per build that read them (haraldkoch+kochhaus-home: 3,132 opens of 1,166 files in a warm run)."""
    require_kubectl()
    root = tmp_path / fixture
    shutil.copytree(VALIDATE_FIXTURES / "flux" / fixture, root)
    (root / ".git").mkdir()
    opts = Options(cache_dir=str(tmp_path / "cache"), repo_root=str(root), kustomize="always")
    for run in ("cold", "warm"):
        counter, _ = _opens([str(root / p) for p in paths], opts)
        in_repo = [p for p in counter if Path(p).is_relative_to(root)]
        assert len(in_repo) > 5, (run, counter)  # the run read the repository
        twice = {p: n for p, n in counter.items() if n > 1 and not Path(p).is_relative_to(identity.PACKAGE)}
        assert twice == {}, run


def test_each_folder_is_asked_once_whether_it_is_the_repository_root(tmp_path, monkeypatch):
    """The repository root of an object's file (documents.find_root) is the nearest folder holding ``.git``,
    ``.sops.yaml`` or ``kubernetes/``: Run.find_root answers it from the folder's parent's answer, so a folder is looked
    at once however many objects and Kustomizations live below it (issue 23: the walk up per object was 40 % of
    validate at 20k documents). 60 Flux Kustomizations and 180 ConfigMaps in 62 folders (and the 2 above the root)."""
    from velero_gitops.validate import run as run_mod

    (tmp_path / ".git").mkdir()
    apps = tmp_path / "kubernetes" / "apps"
    for i in range(60):
        d = apps / f"app-{i}"
        d.mkdir(parents=True)
        (d / "configmaps.yaml").write_text("".join(
            f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{j}\n  namespace: apps\n" for j in range(3)))
        (apps / f"ks-{i}.yaml").write_text(
            f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app-{i}\n"
            f"  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/apps/app-{i}\n  prune: true\n"
            "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
    asked: collections.Counter[Path] = collections.Counter()
    inner = run_mod.is_root_folder

    def counted(d: Path) -> bool:
        asked[d] += 1
        return inner(d)

    monkeypatch.setattr(run_mod, "is_root_folder", counted)
    result = validate_paths([str(tmp_path / "kubernetes")], Options(kustomize="never", cache_dir=str(tmp_path / ".cache")))
    assert result.passed == 240, result.findings
    assert asked and max(asked.values()) == 1, asked.most_common(3)
    assert set(asked) <= {apps / f"app-{i}" for i in range(60)} | {apps, apps.parent, tmp_path}
