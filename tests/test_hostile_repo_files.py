"""A pull request may put anything at any path `check` reads: hostile content at every one of them.

`check` is the pre-commit hook and the CI lint job, so it runs on other people's pull requests. For
every file it reads in a rendered repository (the generated files, both encrypted Secrets, the
repository's `.sops.yaml`, the namespace kustomization, a stray Secret elsewhere under the apps root)
and every category of hostile content (deep nesting, an alias bomb, keys that are not strings, a NUL,
invalid UTF-8, an unknown tag, an oversized file, a FIFO, a link to /dev/zero, a link out of the
repository, a folder), the run:
- ends with exit 0 or 1, never 2 (the config is fine) and never a traceback;
- never prints what the outside link points at, and never writes into the repository;
- costs under 5 CPU seconds (a 30 MiB file used to take 10-19 s, a deep flow list a RecursionError);
- names the hostile file, unless the file is only probed and never read (a `.sops.yaml` that is not a
  regular file counts as missing: the run then warns that there is none) or is a folder nothing lists.

Each category came from a crash or a hang found by running the CLI on such a tree (see the module's
history); a `.sops.yaml` `path_regex` is compiled as RE2, like sops' Go regexp, so a catastrophic
pattern cannot hang the run either (last test).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cli_util import EXAMPLE, require_kubectl, run_cli, snapshot

APP = "kubernetes/apps/velero/velero"
TARGETS = {
    "sops-config": ".sops.yaml",
    "credentials": f"{APP}/app/secret.sops.yaml",
    "repo-password": f"{APP}/app/repo-credentials.sops.yaml",
    "helmrelease": f"{APP}/app/helmrelease.yaml",
    "app-kustomization": f"{APP}/app/kustomization.yaml",
    "flux-ks": f"{APP}/ks.yaml",
    "schedule": f"{APP}/schedules/daily.yaml",
    "ns-kustomization": "kubernetes/apps/velero/kustomization.yaml",
    "stray-secret": "kubernetes/apps/other/secret.yaml",
}
OUTSIDE_MARK = "OUTSIDE-THE-REPOSITORY-7f3a"


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for i in range(12):
        lines.append(f"b{i}: &b{i} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = f"b{i}"
    return "kind: Secret\n" + "\n".join(lines) + "\n"


CONTENT: dict[str, str | bytes | None] = {
    "deep-block-map": "kind: Secret\n" + "".join(" " * i + "k:\n" for i in range(3000)) + " " * 3000 + "x: 1\n",
    "deep-flow-list": "kind: Secret\na: " + "[" * 50_000 + "]" * 50_000 + "\n",
    "alias-bomb": _bomb(),
    "collection-key": "kind: Secret\n? [a]\n: 1\n? {b: 1}\n: 2\n",
    "null-key": "kind: Secret\n~: 1\n",
    "nul": "kind: Secret\na: x\x00y\n",
    "not-utf8": b"kind: Secret\na: \xff\xfe\n",
    "python-tag": "kind: Secret\na: !!python/object/apply:os.system [id]\n",
    "oversized": "kind: Secret\na: " + "x" * (12 * 1024 * 1024) + "\n",
    "fifo": None,
    "dev-zero-link": None,
    "outside-link": None,
    "folder": None,
}
# Only probed, never read when not a regular file: sops would not use it either.
PROBED_ONLY = {("sops-config", k) for k in ("fifo", "dev-zero-link", "folder")}
# A folder named secret.yaml that nothing lists is just a folder.
HARMLESS = {("stray-secret", "folder")}


def _place(root: Path, rel: str, kind: str, outside: Path) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists() or p.is_symlink():
        p.unlink()
    content = CONTENT[kind]
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "dev-zero-link":
        p.symlink_to("/dev/zero")
    elif kind == "outside-link":
        p.symlink_to(outside)
    elif kind == "folder":
        p.mkdir()
    else:
        assert content is not None
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


CASES = [(t, c) for t in TARGETS for c in CONTENT]


def test_every_target_and_category_is_covered():
    assert len(CASES) >= 100 and {c for _, c in CASES} == set(CONTENT)


@pytest.mark.parametrize(("target", "kind"), CASES, ids=[f"{t}-{c}" for t, c in CASES])
def test_check_survives_hostile_file(tmp_path, target, kind, monkeypatch):
    require_kubectl()
    monkeypatch.setenv("VELERO_GITOPS_NO_CACHE", "1")
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"kind: Secret\nstringData:\n  cloud: {OUTSIDE_MARK}\n")
    repo = shutil.copytree(EXAMPLE, tmp_path / "repo", symlinks=True)
    rel = TARGETS[target]
    _place(repo, rel, kind, outside)
    before = snapshot(repo) if kind not in ("fifo", "dev-zero-link") else None

    r = run_cli("check", cwd=repo, timeout=60)

    both = r.out + r.err
    assert "Traceback" not in both, both[-3000:]
    assert r.code in (0, 1), (r.code, both[-3000:])
    assert OUTSIDE_MARK not in both
    assert r.cpu < 5, r.cpu
    if (target, kind) in PROBED_ONLY:
        assert "no .sops.yaml" in both, both[-2000:]
    elif (target, kind) in HARMLESS:
        assert r.code == 0, both[-2000:]
    else:
        assert r.code == 1 and Path(rel).name in both, both[-3000:]
    if before is not None:
        assert snapshot(repo) == before


def test_a_catastrophic_path_regex_cannot_hang_check(tmp_path, monkeypatch):
    """getsops/sops@v3.10.2:config/config.go (parseCreationRuleForFile) compiles path_regex with Go's
    regexp (RE2: no backtracking). Python's re would take about 2^50 steps on this pattern."""
    require_kubectl()
    monkeypatch.setenv("VELERO_GITOPS_NO_CACHE", "1")
    repo = shutil.copytree(EXAMPLE, tmp_path / "repo")
    sops = repo / ".sops.yaml"
    text = sops.read_text()
    assert "path_regex: '^kubernetes/apps/.*" in text
    sops.write_text(text.replace("path_regex: '^kubernetes/apps/.*", "path_regex: '^(.*)*(.*)*(.*)*x.*", 1))
    r = run_cli("check", cwd=repo, timeout=60)
    assert "Traceback" not in r.err and r.code == 1, r.err
    assert "no creation rule" in r.out and r.cpu < 5, (r.out, r.cpu)
