"""config/names.py rules added for issue 21, each against the upstream code that decides it."""

from __future__ import annotations

import pytest

from velero_gitops.config import names


@pytest.mark.parametrize("pattern,refused", [
    ("network-*", False), ("db-?", False), ("team-[ab]", False), ("*", False), ("*-prod", False),
    ("**", True), ("a**b", True), ("[!a]*", True), ("{a,b}", True), ("a|b", True), ("(a)", True), ("a,b", True),
    ("ns-[]", True), ("ns-[ab", True), ("ns-]", True), ("team-[A-Z]", True), ("team-[.]", True), ("x" * 64, True),
])
def test_namespace_globs_as_velero_validates_them(pattern, refused):
    """vmware-tanzu/velero@v1.18.1:pkg/util/wildcard/expand.go (ValidateNamespaceName: `|(){}!,`, `**`, bracket
    pairs) and pkg/util/collections/includes_excludes.go (validateNamespaceName: `*?[]` each become one letter,
    then IsDNS1123Label), so what is inside a class must itself be a valid name part."""
    assert (names.namespace_pattern_problem(pattern) is not None) == refused


@pytest.mark.parametrize("resource,fix", [
    ("apps/replicasets", "replicasets.apps"), ("apps/v1/deployments", "deployments.apps"), ("v1/pods", "pods"),
    ("deployments.v1.apps", "deployments.apps"), ("cronjobs.v1beta1.batch", "cronjobs.batch"),
    ("events.v1.events.k8s.io", "events.events.k8s.io"),
])
def test_resources_velero_never_matches_name_the_fix(resource, fix):
    """Velero resolves each item with schema.ParseGroupResource (resource before the first '.', group after) and
    keeps an unresolvable item as written (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go,
    GetResourceIncludesExcludes; pkg/discovery/helper.go ResourceFor with WithVersion("")): a '/' or a version
    segment never equals any resource.group."""
    problem = names.resource_problem(resource)
    assert problem is not None and f"{fix!r}" in problem


@pytest.mark.parametrize("resource", ["events", "events.events.k8s.io", "replicasets.apps", "*.apps", "pods.", "Pod",
                                      "certificates.cert-manager.io"])
def test_resources_velero_resolves_are_accepted(resource):
    """Same code: these parse to a group-resource discovery can resolve (or a glob over resource.group)."""
    assert names.resource_problem(resource) is None


@pytest.mark.parametrize("component,dotgit", [
    (".git", True), (".Git", True), (".GIT", True), (".git.", True), (".git ", True), (".git. .", True),
    ("git~1", True), ("GIT~1", True), (".g\u200cit", True), ("\ufeff.git", True),
    (".gitops", False), ("git", False), (".github", False), ("x.git", False), ("git~2", False),
])
def test_dotgit_as_git_decides(component, dotgit):
    """git/git@v2.47.0:path.c (is_ntfs_dotgit: case-insensitive `.git` followed only by spaces and periods, or
    `git~1`) and utf8.c (is_hfs_dotgit: case-insensitive after dropping the code points HFS+ ignores)."""
    assert names.is_dotgit(component) is dotgit


def test_repo_paths_refuse_every_spelling_of_dotgit():
    for path in (".Git/apps", "kubernetes/.GIT", "GIT~1/apps", ".git./apps"):
        assert ".git" in (names.repo_path_problem(path) or ""), path


def test_object_refs_are_names_the_api_server_holds():
    """Kind/namespace/name from the command line or check.externals: namespace a DNS-1123 label (apimachinery
    pkg/api/validation/objectmeta.go ValidateNamespaceName) or '*', name a DNS-1123 subdomain or '*', kind a kind."""
    from velero_gitops.config.names import object_ref_problem, shown

    for ok in ("Kustomization/flux-system/openebs", "CustomResourceDefinition/*/monitoring.coreos.com",
               "HelmRelease/*/cilium"):
        assert object_ref_problem(ok) is None, ok
    assert "Kind/namespace/name" in object_ref_problem("Kustomization/openebs")
    assert "Kind/namespace/name" in object_ref_problem("Kustomization//openebs")
    assert "namespace" in object_ref_problem("Kustomization/" + "9" * 5000 + "/x")
    assert "namespace" in object_ref_problem("Kustomization/" + "a" * 64 + "/x")
    assert object_ref_problem("Kustomization/" + "a" * 63 + "/x") is None
    assert "name" in object_ref_problem("Kustomization/flux-system/Openebs")
    assert "kind" in object_ref_problem("Kustom ization/flux-system/x")
    assert shown("a" * 40) == repr("a" * 40)
    long = shown("9" * 5000)
    assert len(long) < 80 and "(5000 characters)" in long
