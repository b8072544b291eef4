"""One repository boundary: the git top level or an explicit --repo-root; nothing from the repository moves it.

A pull request's config cannot widen it with ``repo.root: ..`` (render would write above the
repository, check would read there), and ``validate PATH`` bounds its reads the same way by default,
so a symlink that leaves the repository is refused, not followed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from velero_gitops import boundary
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import EXAMPLE, git, run_cli, snapshot

MARK = "OUTSIDE-VALUE-5c1d"


def test_boundary_is_the_git_top_level_else_the_common_folder(tmp_path):
    (tmp_path / "r" / ".git").mkdir(parents=True)
    (tmp_path / "r" / "a" / "b").mkdir(parents=True)
    assert boundary.of_paths([tmp_path / "r" / "a" / "b"]) == (tmp_path / "r").resolve()
    (tmp_path / "n" / "x").mkdir(parents=True)
    (tmp_path / "n" / "y.yaml").write_text("")
    assert boundary.of_paths([tmp_path / "n" / "x", tmp_path / "n" / "y.yaml"]) == (tmp_path / "n").resolve()
    assert boundary.of_paths(["-"]) is None
    assert boundary.of_paths([tmp_path / "n"], explicit=tmp_path / "r") == (tmp_path / "r").resolve()


@pytest.mark.parametrize("root", ["..", "../..", "../repo/..", "./../"])
def test_render_refuses_a_repo_root_above_the_repository(tmp_path, root):
    """The config sits at the repository's top (EXAMPLE's layout): any root above it is refused, exit 2,
    and nothing is written anywhere."""
    import shutil

    repo = shutil.copytree(EXAMPLE, tmp_path / "parent" / "repo", symlinks=True)
    (repo / ".git").mkdir()
    cfg = repo / "velero-gitops.yaml"
    cfg.write_text(cfg.read_text().replace("  root: .\n", f"  root: {root}\n"))
    before = snapshot(tmp_path)
    for args in (("render", str(cfg)), ("check", "--config", str(cfg))):
        r = run_cli(*args, cwd=repo)
        assert r.code == 2 and "Traceback" not in r.err, r.err
        assert "repo.root" in r.err and "outside the repository" in r.err
    assert snapshot(tmp_path) == before


def test_validate_does_not_follow_a_symlink_out_by_default(tmp_path):
    """No --repo-root: the boundary is the git top level, and a link out is a finding, its target unread."""
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: {MARK}\n  bad: [1]\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "app").mkdir()
    (repo / "app" / "cm.yaml").symlink_to(outside)
    for paths in ([str(repo)], [str(repo / "app")], [str(repo / "app" / "cm.yaml")]):
        res = validate_paths(paths, Options(kustomize="never", cache_dir=str(tmp_path / "c")))
        assert [f.rule for f in res.findings] == ["yaml"], paths
        assert "outside" in res.findings[0].message and MARK not in res.findings[0].message
    r = run_cli("validate", ".", "--kustomize", "never", cwd=repo)
    assert r.code == 1 and MARK not in r.out + r.err and "Traceback" not in r.err


def test_a_symlink_loop_is_a_finding(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    os.symlink("a.yaml", repo / "a.yaml")
    os.symlink("c.yaml", repo / "b.yaml")
    os.symlink("b.yaml", repo / "c.yaml")
    r = run_cli("validate", ".", "--kustomize", "never", cwd=repo)
    assert r.code == 1 and "Traceback" not in r.err, r.err
    assert all(n in r.out for n in ("a.yaml", "b.yaml", "c.yaml")), r.out


def test_scan_of_the_repository_stays_inside(tmp_path):
    """Flux facts read from the rest of the repository (flux._scan_repo) use the same boundary."""
    outside = tmp_path / "ks.yaml"
    outside.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: " + MARK + "\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "apps").mkdir()
    (repo / "other").mkdir()
    (repo / "other" / "link.yaml").symlink_to(outside)
    (repo / "apps" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    res = validate_paths([str(repo / "apps")], Options(kustomize="never", cache_dir=str(tmp_path / "c")))
    assert all(MARK not in f.message for f in res.findings)
    assert Path(outside).read_text().endswith(MARK + "\n")


@pytest.mark.parametrize("where", [".", "sub"])
def test_a_kustomization_linked_out_of_the_repository_is_never_read(tmp_path, where):
    """A kustomization.yaml that is a symlink to a file outside the boundary is refused before it is opened, so
    none of its strings (paths, resource names) reaches any output format (fluxcd/pkg@kustomize/v1.35.4:
    kustomize/filesys/fs_secure.go, MakeFsOnDiskSecure: Flux's build refuses it the same way). Found by a held-out
    probe: its generator path and resource names were printed."""
    outside = tmp_path / "outside-kust.yaml"
    outside.write_text("configMapGenerator:\n- name: x\n  files:\n  - /etc/CANARY-GENERATOR\nresources:\n- CANARY-RESOURCE\n")
    repo = tmp_path / "repo"
    (repo / where).mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q")
    (repo / where / "kustomization.yaml").symlink_to(outside)
    if where != ".":
        (repo / "kustomization.yaml").write_text(f"resources:\n- {where}\n")
    for fmt in ("text", "json", "junit", "github"):
        r = run_cli("validate", ".", "-o", fmt, cwd=repo)
        assert r.code == 1 and "CANARY" not in r.out + r.err and "Traceback" not in r.err, (fmt, r.out, r.err)


def test_resolver_returns_what_realpath_returns(tmp_path):
    """boundary.Resolver resolves each folder once and joins names to it (realpath is compositional:
    cpython@v3.11.7:Lib/posixpath.py _joinrealpath). On a tree of every kind of link (to a folder, to a file, out of
    the tree, chained, relative with `..`, dangling, a loop, a link to a loop) and missing names, each path in any
    order, from one memo, gives exactly os.path.realpath's answer: the confinement checks see the same path."""
    r = tmp_path / "r"
    (r / "a" / "b").mkdir(parents=True)
    (r / "a" / "b" / "f.yaml").write_text("")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "s.yaml").write_text("")
    links = {"dirlink": "a", "filelink": "a/b/f.yaml", "outlink": "../out", "chain": "dirlink/b", "up": "a/b/../..",
             "dangling": "nowhere/x", "loop1": "loop2", "loop2": "loop1", "toloop": "loop1/x", "abs": str(r / "a")}
    for name, target in links.items():
        (r / name).symlink_to(target)
    (r / "a" / "b" / "back").symlink_to("../../dirlink")
    names = ["", "a", "a/b", "a/b/f.yaml", "a/b/missing", "missing/deeper/x", "a/b/f.yaml/under", "a/b/back/b/f.yaml",
             *links, *(f"{n}/b/f.yaml" for n in links), *(f"{n}/s.yaml" for n in links), *(f"{n}/x/y" for n in links),
             "a/../dirlink/b", "a/./b", "a//b", "dirlink/..", "up/r/a"]
    paths = [str(r / n) if n else str(r) for n in names] + ["relative/x", "/", "//", str(tmp_path) + "/r/"]
    for order in (paths, paths[::-1]):
        resolve = boundary.Resolver()
        for p in order:
            assert resolve(p) == boundary.realpath(p), p
