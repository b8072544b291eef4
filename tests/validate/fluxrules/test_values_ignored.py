"""flux.values-ignored (validate/fluxrules/values_ignored.py): helm-controller reads ``spec.values`` into a map and drops
the unmarshal error (fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go GetValues), while the CRD admits any
JSON there (config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml: x-kubernetes-preserve-unknown-fields, no
type): a list or a scalar installs the chart with its defaults, silently. Seen in a fresh repository (`values: []`)."""

from __future__ import annotations

import pytest

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import write_tree

SYNC = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./clusters/home\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
HR = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: app\n  namespace: default\n"
      "spec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: app\n{values}")
OCI = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: app\n  namespace: default\n"
       "spec:\n  interval: 1h\n  url: oci://example.org/charts/app\n  ref:\n    tag: 1.0.0\n")


@pytest.mark.parametrize("values,shape", [
    ("  values: []\n", "a list"),
    ("  values: [replicas, 2]\n", "a list"),
    ("  values: 'replicas: 2'\n", "a string"),
    ("  values: 3\n", "a number"),
    ("  values: {}\n", None),
    ("  values:\n", None),
    ("", None),
    ("  values:\n    replicas: 2\n", None),
])
def test_values_that_are_not_a_mapping_are_dropped_by_the_controller(tmp_path, values, shape):
    root = write_tree(tmp_path / "repo", {"clusters/home/flux-system/gotk-sync.yaml": SYNC,
                                          "clusters/home/app.yaml": HR.format(values=values) + "---\n" + OCI})
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    found = [f for f in res.findings if f.rule == "flux.values-ignored"]
    assert [f.severity for f in found] == (["warning"] if shape else []), res.findings
    if shape:
        assert found[0].pointer == "/spec/values" and f"spec.values is {shape}" in found[0].message
        assert "installs the chart with its defaults" in found[0].message
    # the schema admits any value there, as the API server does: only this rule speaks
    assert [f for f in res.findings if f.rule == "schema"] == [], res.findings
