"""validate/crd_providers.py: the rules' readers of kustomization files take any shape."""

from __future__ import annotations

import pytest

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import write_tree

SYNC = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: flux-system, namespace: "
        "flux-system}\nspec: {interval: 1m, url: https://example.org/x.git, ref: {branch: main}}\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: flux-system, namespace: "
        "flux-system}\nspec: {interval: 10m, path: ./flux, prune: true, sourceRef: {kind: GitRepository, name: "
        "flux-system}}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, "
        "namespace: flux-system}\nspec: {interval: 10m, path: ./apps, prune: true, sourceRef: {kind: GitRepository, "
        "name: flux-system}}\n")


@pytest.mark.parametrize("resources", ["1", "x", "{a: b}", "[[1]]"])
def test_a_kustomization_whose_resources_is_no_list_is_no_traceback(tmp_path, resources):
    """kustomize refuses `resources: 1` (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/kustomization.go
    Resources []string: "cannot unmarshal number"); the remote-resource reader goes through yamlsafe.sequence, so the
    run reports the file instead of a TypeError (before: validate/crd_providers.py _remote_builds)."""
    root = write_tree(tmp_path / "repo", {"flux/sync.yaml": SYNC, "apps/kustomization.yaml": f"resources: {resources}\n"})
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    assert res is not None
