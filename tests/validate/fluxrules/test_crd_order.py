"""flux.crd-order (validate/fluxrules/crd_order.py), and the rule package's contract: a module there is run by
validate and listed in the rule registry without touching any other module."""

from __future__ import annotations

import shutil

from velero_gitops import rules
from velero_gitops.validate import fluxrules
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import REPO, VALIDATE_FIXTURES

GUIDE = VALIDATE_FIXTURES / "flux" / "guide"


def _guide_with_velero(tmp_path, schedule_in_same_kustomization: bool):
    root = tmp_path / "guide"
    shutil.copytree(GUIDE, root)
    app = root / "kubernetes/apps/media/db/app"
    (app / "hr.yaml").write_text("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: velero\nspec:\n"
                                 "  interval: 1h\n  chart:\n    spec:\n      chart: velero\n      version: 12.1.0\n"
                                 "      sourceRef:\n        kind: HelmRepository\n        name: vmware-tanzu\n")
    (app / "repo.yaml").write_text("apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n"
                                   "  name: vmware-tanzu\nspec:\n  interval: 1h\n  url: https://vmware-tanzu.github.io/helm-charts\n")
    listed = "  - ./hr.yaml\n  - ./repo.yaml\n"
    if schedule_in_same_kustomization:
        (app / "schedule.yaml").write_text("apiVersion: velero.io/v1\nkind: Schedule\nmetadata:\n  name: daily\nspec:\n"
                                           "  schedule: 0 2 * * *\n  template:\n    ttl: 720h0m0s\n")
        listed += "  - ./schedule.yaml\n"
    k = app / "kustomization.yaml"
    k.write_text(k.read_text().replace("resources:\n", "resources:\n" + listed, 1))
    return validate_paths([str(root / "kubernetes")], Options(repo_root=str(root), kustomize="never"))


def test_velero_object_with_the_chart_that_installs_its_crds(tmp_path):
    """A Velero Schedule applied by the same Kustomization as the velero HelmRelease (whose chart installs the
    velero.io CRDs: helm-controller@v1.6.3:api/v2/helmrelease_types.go Install.CRDs defaults to Create) fails
    kustomize-controller's dry-run (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go) on a
    cluster without them; the same tree without the Schedule is clean."""
    res = _guide_with_velero(tmp_path / "a", True)
    assert [(f.rule, f.file.rsplit("/", 1)[-1]) for f in res.findings] == [("flux.crd-order", "schedule.yaml")]
    assert "same one that applies HelmRelease velero" in res.findings[0].message
    assert _guide_with_velero(tmp_path / "b", False).findings == []


def test_project_examples_are_two_clusters():
    """`validate clusters/` on this project's two examples: each cluster's Schedule depends on its own velero
    Kustomization; the two flux-system/velero Kustomizations are not merged (no false flux.crd-order)."""
    res = validate_paths([str(REPO / "clusters")], Options(kustomize="never"))
    assert [f for f in res.findings if f.rule == "flux.crd-order"] == []


def test_every_rule_module_is_run_and_declared():
    """Each module of validate/fluxrules/ is discovered (its check runs from validate.engine) and its rule is in the
    registry that docs/validation.md is generated from."""
    names = sorted(p.stem for p in (REPO / "src/velero_gitops/validate/fluxrules").glob("*.py") if p.stem != "__init__")
    assert [n for n, _ in fluxrules.CHECKS] == names and "crd_order" in names
    assert "flux.crd-order" in rules.RULES


def test_a_chart_ref_to_a_helm_chart_names_the_chart(tmp_path):
    """chartRef may name a HelmChart as well as an OCIRepository (helm-controller@v1.6.3:api/v2/reference_types.go
    CrossNamespaceSourceReference, Enum=OCIRepository;HelmChart;ExternalArtifact); the chart is the HelmChart's
    spec.chart. One answer (crd_order.chart_name) for this rule, crd_providers and ops/prometheus."""
    root = tmp_path / "guide"
    shutil.copytree(GUIDE, root)
    app = root / "kubernetes/apps/media/db/app"
    (app / "hr.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: velero\nspec:\n  interval: 1h\n"
        "  chartRef:\n    kind: HelmChart\n    name: velero\n---\napiVersion: source.toolkit.fluxcd.io/v1\n"
        "kind: HelmChart\nmetadata:\n  name: velero\nspec:\n  interval: 1h\n  chart: velero\n  version: 12.1.0\n"
        "  sourceRef:\n    kind: HelmRepository\n    name: vmware-tanzu\n")
    (app / "schedule.yaml").write_text("apiVersion: velero.io/v1\nkind: Schedule\nmetadata:\n  name: daily\nspec:\n"
                                       "  schedule: 0 2 * * *\n  template:\n    ttl: 720h0m0s\n")
    k = app / "kustomization.yaml"
    k.write_text(k.read_text().replace("resources:\n", "resources:\n  - ./hr.yaml\n  - ./schedule.yaml\n", 1))
    res = validate_paths([str(root / "kubernetes")], Options(repo_root=str(root), kustomize="never"))
    assert ("flux.crd-order", "schedule.yaml") in [(f.rule, f.file.rsplit("/", 1)[-1]) for f in res.findings]
