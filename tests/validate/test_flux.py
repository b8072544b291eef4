"""Flux graph options on the second committed example (clusters/lab-two): the repository's own source."""

from __future__ import annotations

from conftest import REPO
from velero_gitops.validate.engine import Options, validate_paths

LAB_TWO = REPO / "clusters" / "lab-two"
EXTERNALS = ["Kustomization/storage/openebs-localpv", "Kustomization/observability/kube-prometheus-stack"]


def _run(tmp_path, **kw):
    return validate_paths([str(LAB_TWO / "k8s")], Options(cache_dir=str(tmp_path), kustomize="never",
                                                          repo_root=str(LAB_TWO), **kw))


def test_repo_source_is_the_repository(tmp_path):
    res = _run(tmp_path, externals=EXTERNALS, repo_sources=["GitRepository/flux-system/home-ops"])
    assert [f for f in res.findings if f.severity == "error"] == []


def test_unknown_source_is_reported_and_paths_not_checked(tmp_path):
    res = _run(tmp_path, externals=EXTERNALS)
    assert {f.rule for f in res.findings if f.severity == "error"} == {"flux.source-ref"}
    assert all(f.pointer == "/spec/sourceRef/name" for f in res.findings if f.severity == "error")


def test_broken_path_with_the_repo_source(tmp_path):
    import shutil

    dst = tmp_path / "lab-two"
    shutil.copytree(LAB_TWO, dst)
    ks = next(dst.rglob("ks.yaml"))
    ks.write_text(ks.read_text().replace("velero/app\n", "velero/ap\n"))
    res = validate_paths([str(dst / "k8s")], Options(cache_dir=str(tmp_path / "c"), kustomize="never", repo_root=str(dst),
                                                     externals=EXTERNALS, repo_sources=["GitRepository/flux-system/home-ops"]))
    assert [f.rule for f in res.findings if f.severity == "error"] == ["flux.path"]
