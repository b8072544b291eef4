"""What the controllers do at run time, checked on the rendered trees: missing CRDs that block an install
(validate/crd_providers.py), postBuild substitution into `${...}` of other tools (validate/substitution.py), and
a pinned Flux older than the features the tree uses (validate/flux_version.py). Each module's docstring names
the upstream code it follows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from layout_fixtures import ks as flux_ks
from velero_gitops.validate.crd_providers import _builtin_groups
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import EXAMPLE, EXAMPLES, REPO
from sops_fixtures import *  # noqa: F401,F403 - fixtures (sops_path, isolated_home)

APP = "kubernetes/apps/velero/velero"


def _copy(tmp_path: Path, src: Path = EXAMPLE) -> Path:
    dst = tmp_path / "repo"
    shutil.copytree(src, dst)
    return dst


def _rules(root: Path, rule: str) -> list:
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", cache_dir=str(root.parent / "c"),
                                              ignore_missing_schemas=True))
    return [f for f in res.findings if f.rule == rule]


# -- CRDs ------------------------------------------------------------------------------------------
GOLDEN_TREES = EXAMPLES + sorted(p.parent for p in (REPO / "tests/golden").glob("*/velero-gitops.yaml"))


@pytest.mark.parametrize("tree", GOLDEN_TREES, ids=lambda p: p.name)
def test_velero_kustomization_needs_no_crd_but_its_own_and_flux(tree):
    """On a cluster that has only Kubernetes and Flux (no Prometheus Operator), every object the app
    Kustomization applies is of a kind the API server already serves: its dry-run cannot fail for a missing CRD
    (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAll aborts the whole apply on one)."""
    builtin = _builtin_groups()
    for ks_file in tree.rglob("ks.yaml"):
        for ks in (d for d in yaml.safe_load_all(ks_file.read_text()) if d):
            if not ks["spec"].get("healthChecks"):  # the app Kustomization is the one that installs the chart
                continue
            folder = tree / ks["spec"]["path"]
            resources = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
            for r in resources:
                for o in (d for d in yaml.safe_load_all((folder / r).read_text()) if d):
                    group = o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else ""
                    assert group in builtin or group.endswith(".toolkit.fluxcd.io"), (tree.name, r, o["kind"])


def test_a_custom_resource_beside_the_helmrelease_is_reported(tmp_path):
    """The tree before monitoring had its own Kustomization: the PrometheusRule beside the HelmRelease."""
    root = _copy(tmp_path)
    assert _rules(root, "flux.crd-provider") == []
    kfile = root / APP / "app/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n  - ./prometheusrule.yaml\n"))
    shutil.copy(root / APP / "monitoring/prometheusrule.yaml", root / APP / "app/prometheusrule.yaml")
    (f,) = _rules(root, "flux.crd-provider")
    assert f.severity == "warning" and f.obj == "PrometheusRule/velero/velero"
    assert "Flux Kustomization flux-system/velero" in f.message and "HelmRelease velero" in f.message
    # a CRD in the repository provides it
    (root / "crds").mkdir()
    (root / "crds/prometheusrules.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "prometheusrules.monitoring.coreos.com"},
        "spec": {"group": "monitoring.coreos.com", "names": {"kind": "PrometheusRule", "plural": "prometheusrules"},
                 "scope": "Namespaced", "versions": []}}))
    assert _rules(root, "flux.crd-provider") == []


def test_a_crd_the_charts_own_operator_registers_is_still_missing_on_a_new_cluster(tmp_path):
    """Cilium's operator registers cilium.io at run time; its custom resources beside the cilium HelmRelease in one
    Kustomization fail the dry-run on a cluster without them, and the failed dry-run aborts the apply before the
    HelmRelease is made (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAll dry-runs every object of the stage,
    then applies; fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go ApplyAllStaged):
    a new cluster never gets Cilium from this Kustomization. On a later apply, where the CRD exists, it applies; the
    repository cannot tell which cluster it is, so this is a warning that says so, and a CRD there before Flux (a
    CNI installed first, as Flux's pods need it) is declared external (decided from a fresh repository, isning)."""
    root = _copy(tmp_path)
    app = root / APP / "app"
    (app / "cilium.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cilium\n  namespace: kube-system\n"
        "spec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: cilium\n---\n"
        "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata:\n  name: pool\nspec:\n  blocks:\n"
        "    - cidr: 10.0.0.0/24\n")
    kfile = app / "kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n  - ./cilium.yaml\n"))
    (f,) = _rules(root, "flux.crd-provider")
    assert f.severity == "warning" and f.obj == "CiliumLoadBalancerIPPool/velero/pool", f
    assert "a new cluster" in f.message and "its operator would register the CRD" in f.message
    assert "--external CustomResourceDefinition/*/cilium.io" in f.message
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True,
                                              externals=["CustomResourceDefinition/*/cilium.io"]))
    assert [x for x in res.findings if x.rule == "flux.crd-provider"] == []


def _rule_beside_velero(tmp_path) -> Path:
    """The example tree with the PrometheusRule beside the velero HelmRelease (before metrics had their own
    Kustomization)."""
    root = _copy(tmp_path)
    kfile = root / APP / "app/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n  - ./prometheusrule.yaml\n"))
    shutil.copy(root / APP / "monitoring/prometheusrule.yaml", root / APP / "app/prometheusrule.yaml")
    return root


def _rule_beside_velero_and_a_chart(tmp_path, name: str, **spec) -> Path:
    """The example tree with a PrometheusRule beside the velero HelmRelease, and a Flux Kustomization ``name``
    (with ``spec``) that installs a chart."""
    root = _rule_beside_velero(tmp_path)
    stack = root / "kubernetes/apps/observability"
    (stack / "app").mkdir(parents=True)
    (stack / "ks.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"path": "./kubernetes/apps/observability/app", "interval": "1h", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}, **spec}}))
    (stack / "app/kustomization.yaml").write_text("resources: [./hr.yaml]\n")
    (stack / "app/hr.yaml").write_text(yaml.safe_dump({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "stack", "namespace": "x"},
        "spec": {"chartRef": {"kind": "OCIRepository", "name": "stack"}, "interval": "1h"}}))
    return root


def test_depending_on_a_chart_install_is_trusted(tmp_path):
    """A Kustomization that dependsOn one installing a chart may get its CRDs from that chart's crds/ folder."""
    root = _rule_beside_velero_and_a_chart(tmp_path, "openebs")
    assert _rules(root, "flux.crd-provider") == []  # velero dependsOn openebs, which installs a chart


@pytest.mark.parametrize("waits", [False, True])
def test_a_chart_installed_by_another_kustomization_may_bring_the_crd(tmp_path, waits):
    """The failed dry-run is retried (fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go: RequeueAfter GetRetryInterval): once another Kustomization's chart installs the CRD,
    the apply succeeds, so a chart installed elsewhere is a possible provider; not when that Kustomization waits for
    this one (its dependsOn), as it is then never applied either."""
    root = _rule_beside_velero_and_a_chart(tmp_path, "kube-prometheus-stack",
                                           **({"dependsOn": [{"name": "velero"}]} if waits else {}))
    found = _rules(root, "flux.crd-provider")
    assert [f.obj for f in found] == (["PrometheusRule/velero/velero"] if waits else []), found


def test_a_remote_resource_another_kustomization_builds_may_bring_the_crd(tmp_path):
    """A CRD bundle kept remote (`resources: [https://github.com/.../cert-manager.crds.yaml]`, as toboshii/home-ops
    does) is not fetched by validate: what it brings is unknown, so the Kustomization building it is a possible
    provider, like one that installs a chart."""
    root = _rule_beside_velero(tmp_path)
    crds = root / "kubernetes/crds"
    (crds / "prometheus").mkdir(parents=True)
    (crds / "ks.yaml").write_text(flux_ks("crds", "./kubernetes/crds/prometheus"))
    (crds / "prometheus/kustomization.yaml").write_text("resources:\n  - https://github.com/prometheus-operator/"
                                                         "prometheus-operator/releases/download/v0.80.0/stripped-down-crds.yaml\n")
    assert _rules(root, "flux.crd-provider") == []
    (crds / "prometheus/kustomization.yaml").write_text("resources: []\n")
    assert [f.obj for f in _rules(root, "flux.crd-provider")] == ["PrometheusRule/velero/velero"]


def test_a_remote_resource_in_a_base_outside_the_path_may_bring_the_crd(tmp_path):
    """The remote bundle sits in a base the build reaches by `../` (`resources: [../controllers/cert-manager]` in
    the folder of spec.path, as a held-out repository has it): kustomize reads it all the same
    (kubernetes-sigs/kustomize@kustomize/v5.7.1 api/internal/target/kusttarget.go accumulateResources), so the
    Kustomization is a possible provider; before, only folders below spec.path were looked at."""
    root = _rule_beside_velero(tmp_path)
    infra = root / "kubernetes/infra"
    (infra / "configs").mkdir(parents=True)
    (infra / "controllers/prometheus").mkdir(parents=True)
    (infra / "ks.yaml").write_text(flux_ks("infra-configs", "./kubernetes/infra/configs"))
    (infra / "configs/kustomization.yaml").write_text("resources:\n  - ../controllers/prometheus\n")
    (infra / "controllers/prometheus/kustomization.yaml").write_text(
        "resources:\n  - https://github.com/prometheus-operator/prometheus-operator/releases/download/v0.80.0/"
        "stripped-down-crds.yaml\n")
    assert _rules(root, "flux.crd-provider") == []
    (infra / "controllers/prometheus/kustomization.yaml").write_text("resources: []\n")
    assert [f.obj for f in _rules(root, "flux.crd-provider")] == ["PrometheusRule/velero/velero"]


@pytest.mark.parametrize("text,bootstraps", [
    ("releases:\n  - name: prometheus-operator-crds\n    chart: oci://ghcr.io/prometheus-community/charts/"
     "prometheus-operator-crds\n    version: 24.0.0\nhelmDefaults:\n  args: [--include-crds]\n", True),
    # a Go-templated helmfile is no YAML; a Kubernetes object with a `releases:` field is no helmfile
    ("releases:\n{{- range .Values.charts }}\n  - name: {{ . }}\n{{- end }}\n", False),
    ("apiVersion: example.org/v1\nkind: Fleet\nreleases:\n  - name: a\n", False),
])
def test_charts_a_bootstrap_helmfile_installs_may_bring_the_crd(tmp_path, text, bootstraps):
    """cluster-template's bootstrap (`helmfile -f 00-crds.yaml template | kubectl apply`, then `01-apps.yaml`)
    installs charts and their CRDs before Flux runs: a custom resource beside a HelmRelease then finds its CRD."""
    root = _rule_beside_velero(tmp_path)
    (root / "bootstrap/helmfile.d").mkdir(parents=True)
    (root / "bootstrap/helmfile.d/00-crds.yaml").write_text(text)
    assert bool(_rules(root, "flux.crd-provider")) is not bootstraps


# -- substitution ------------------------------------------------------------------------------------
def _parent_with_postbuild(root: Path, substitute_from: list | None = None) -> None:
    """A home-ops root: one Kustomization applying the apps, patching postBuild into every child (``substitute``,
    and ``substitute_from`` when given)."""
    (root / "kubernetes/apps/kustomization.yaml").write_text("resources: [./velero]\n")
    (root / "cluster").mkdir()
    (root / "cluster/apps.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "cluster-apps", "namespace": "flux-system"},
        "spec": {"path": "./kubernetes/apps", "interval": "1h", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"},
                 "patches": [{"target": {"kind": "Kustomization"}, "patch": yaml.safe_dump({
                     "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                     "metadata": {"name": "not-used"},
                     "spec": {"postBuild": {"substitute": {"CLUSTER": "home-lab"},
                                            **({"substituteFrom": substitute_from} if substitute_from else {})}}})}]}}))


def test_dashboard_without_the_annotation_is_reported_under_a_substituting_parent(tmp_path):
    """fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go: substitution skips an object annotated
    `kustomize.toolkit.fluxcd.io/substitute: disabled`; without it `${datasource}` becomes ""."""
    root = _copy(tmp_path)
    _parent_with_postbuild(root)
    dash = root / APP / "monitoring/grafana-dashboard.yaml"
    assert "${datasource}" in dash.read_text()
    assert _rules(root, "flux.substitute") == []  # rendered with the annotation
    dash.write_text(dash.read_text().replace("    kustomize.toolkit.fluxcd.io/substitute: disabled\n", ""))
    (f,) = _rules(root, "flux.substitute")
    assert f.obj == "ConfigMap/velero/velero-dashboard" and "cluster-apps" in f.message and f.severity == "warning"


@pytest.mark.parametrize("tree", GOLDEN_TREES, ids=lambda p: p.name)
def test_every_rendered_object_is_marked(tree):
    from velero_gitops.config.loader import load
    from velero_gitops.render.plan import plan_tree

    loaded = load(tree / "velero-gitops.yaml")
    for a in plan_tree(loaded).artifacts:
        for o in (d for d in yaml.safe_load_all((loaded.repo_root / a.path).read_text()) if d):
            if o["apiVersion"] != "kustomize.config.k8s.io/v1beta1":
                assert o["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"] == "disabled", a.path


# -- Flux version --------------------------------------------------------------------------------------
def _gotk(root: Path, flux: str, kustomize_controller: str) -> None:
    d = root / "flux-system"
    d.mkdir()
    (d / "gotk-components.yaml").write_text(
        f"---\n# This manifest was generated by flux. DO NOT EDIT.\n# Flux Version: {flux}\n# Components: kustomize-controller\n"
        + yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "kustomize-controller", "namespace": "flux-system"},
                          "spec": {"selector": {"matchLabels": {"app": "kc"}}, "template": {
                              "metadata": {"labels": {"app": "kc"}}, "spec": {"containers": [{
                                  "name": "manager", "image": f"ghcr.io/fluxcd/kustomize-controller:{kustomize_controller}"}]}}}}))


@pytest.mark.parametrize("flux,expected", [
    ("v2.3.0", ["SOPS mac_only_encrypted"]), ("v2.4.0", []), ("v2.7.5", []),
    # semver.org 2.0.0 §11: a pre-release precedes its release (2.4.0-rc.1 < 2.4.0), and follows the releases below
    ("v2.4.0-rc.1", ["SOPS mac_only_encrypted"]), ("v2.0.0-rc.1", ["SOPS mac_only_encrypted"]),
    ("v2.4.1-rc.1", []), ("v2.4.0+build.1", [])])
def test_mac_only_encrypted_needs_flux_2_4(tmp_path, flux, expected):
    """The home-lab Secrets are encrypted with mac_only_encrypted (sops v3.9.0), which kustomize-controller
    reads from v1.4.0 (Flux v2.4.0) on. A pre-release pin is compared as semver does (a fresh repository pinned
    v2.0.0-rc.1 and check was silent)."""
    root = _copy(tmp_path)
    _gotk(root, flux, "v1.3.0")
    found = _rules(root, "flux.min-version")
    assert [w for w in ("SOPS mac_only_encrypted",) if any(w in f.message for f in found)] == expected


def test_controller_key_needs_flux_2_7_and_images_count_without_header(tmp_path):
    root = _copy(tmp_path, REPO / "tests/golden/controller-key")
    _gotk(root, "v2.6.0", "v1.6.0")
    assert any("--sops-age-secret" in f.message and "Flux 2.7" in f.message for f in _rules(root, "flux.min-version"))
    gotk = root / "flux-system/gotk-components.yaml"
    gotk.write_text(gotk.read_text().replace("# Flux Version: v2.6.0\n", ""))
    (f, *_) = _rules(root, "flux.min-version")
    assert "kustomize-controller v1.6" in f.message


@pytest.mark.parametrize("version,warns", [("2.6.x", True), ("2.7.x", False), ("2.x", False)])
def test_flux_instance_version(tmp_path, version, warns):
    root = _copy(tmp_path, REPO / "tests/golden/controller-key")
    (root / "flux-instance.yaml").write_text(yaml.safe_dump({
        "apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
        "metadata": {"name": "flux", "namespace": "flux-system"},
        "spec": {"distribution": {"version": version, "registry": "ghcr.io/fluxcd"}}}))
    assert bool(_rules(root, "flux.min-version")) is warns


@pytest.mark.parametrize("url,tag,warns", [
    ("oci://ghcr.io/fluxcd/flux-manifests", "v2.2.2", True),
    ("oci://docker.io/fluxcd/flux-manifests", "v2.2.2", True),
    ("oci://ghcr.io/fluxcd/flux-manifests", "v2.7.5", False),
    ("oci://ghcr.io/fluxcd/flux-manifests", "v2.2.0-rc.1", True),
    ("oci://ghcr.io/someone/flux-manifests", "v2.2.2", False),  # not Flux's own artifact
])
def test_flux_manifests_oci_tag_pins_the_flux_version(tmp_path, url, tag, warns):
    """A repository that keeps Flux current by applying the install manifests each Flux release pushes as the OCI
    artifact <registry>/fluxcd/flux-manifests:<version> (fluxcd/flux2@v2.7.5:.github/workflows/release.yaml
    release-flux-manifests) pins Flux by that tag (a fresh repository pinned v2.2.2, and check said nothing)."""
    root = _copy(tmp_path, REPO / "tests/golden/controller-key")
    (root / "flux-manifests.yaml").write_text(yaml.safe_dump({
        "apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository",
        "metadata": {"name": "flux-manifests", "namespace": "flux-system"},
        "spec": {"interval": "10m", "url": url, "ref": {"tag": tag}}}))
    found = _rules(root, "flux.min-version")
    assert bool(found) is warns, found
    if warns:
        assert "OCIRepository flux-manifests tag" in found[0].message and "Flux 2.2" in found[0].message


def test_names_from_an_encrypted_source_are_unknown_even_when_optional(tmp_path, sops_path):
    """`optional: true` only lets the controller go on without the source (fluxcd/kustomize-controller@v1.9.4:
    api/v1/kustomization_types.go SubstituteReference.Optional); an encrypted cluster-secrets that the real sops
    wrote holds names no one can read here, so a `${SECRET_DOMAIN}` may well be one of them."""
    from velero_gitops.secrets import sops as sopslib

    from sops_fixtures import new_age_key

    root = _copy(tmp_path)
    _parent_with_postbuild(root, [{"kind": "Secret", "name": "cluster-secrets", "optional": True}])
    target = root / "cluster/cluster-secrets.sops.yaml"
    plain = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n  namespace: flux-system\n"
             "stringData:\n  SECRET_DOMAIN: example.org\n")
    key = new_age_key(tmp_path / "keys", "k")
    target.write_bytes(sopslib.encrypt(plain.encode(), target=target, cwd=root, config_file=None,
                                       recipients=[key.public], secrets=["example.org"]))
    dash = root / APP / "monitoring/grafana-dashboard.yaml"
    text = dash.read_text().replace("    kustomize.toolkit.fluxcd.io/substitute: disabled\n", "")
    dash.write_text(text.replace("${datasource}", "${SECRET_DOMAIN}"))
    assert _rules(root, "flux.substitute") == []
    target.unlink()  # no such Secret in the repository: it may be made on the cluster, still unknown
    assert _rules(root, "flux.substitute") == []


def test_a_variable_in_a_comment_is_never_substituted(tmp_path):
    """envsubst runs on the built object as kustomize writes it out (fluxcd/pkg@kustomize/v1.35.4:kustomize/
    kustomize_varsub.go SubstituteVariables: the resource's YAML, from its parsed fields), and a YAML comment is no
    field: `# expand ${VAR} at run time` is never substituted, so it is not reported."""
    root = _copy(tmp_path)
    _parent_with_postbuild(root)
    dash = root / APP / "monitoring/grafana-dashboard.yaml"
    text = dash.read_text().replace("    kustomize.toolkit.fluxcd.io/substitute: disabled\n", "")
    dash.write_text(text.replace("${datasource}", "${CLUSTER}").replace("\nmetadata:\n", "\n# the app expands ${VAR}\nmetadata:\n", 1))
    assert "# the app expands ${VAR}" in dash.read_text()
    assert _rules(root, "flux.substitute") == []
    dash.write_text(text.replace("\nmetadata:\n", "\n# the app expands ${VAR}\nmetadata:\n", 1))
    (f,) = _rules(root, "flux.substitute")
    assert "${datasource}" in f.message and "${VAR}" not in f.message


def test_a_flux_variable_the_parent_defines_is_not_reported(tmp_path):
    """`${CLUSTER}` is meant for Flux: the parent substitutes it; only names it does not define become empty."""
    root = _copy(tmp_path)
    _parent_with_postbuild(root)
    dash = root / APP / "monitoring/grafana-dashboard.yaml"
    text = dash.read_text().replace("    kustomize.toolkit.fluxcd.io/substitute: disabled\n", "")
    dash.write_text(text.replace("${datasource}", "${CLUSTER}"))
    assert _rules(root, "flux.substitute") == []


# -- the rendered monitoring: its CRD must be certain, not possible ------------------------------------------------
def _rendered_findings(root: Path) -> list:
    """`check`'s view: the rendered tree is strict (check.py passes its files as strict_files)."""
    strict = frozenset(p.resolve() for p in (root / "kubernetes/apps/velero").rglob("*.yaml"))
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", cache_dir=str(root.parent / "c"),
                                              ignore_missing_schemas=True, strict_files=strict))
    return [f for f in res.findings if f.rule == "flux.crd-provider-rendered"]


def _with_user_ks(root: Path, name: str, objects: list[dict], **spec) -> None:
    d = root / "kubernetes/apps" / name
    (d / "app").mkdir(parents=True)
    (d / "ks.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"path": f"./kubernetes/apps/{name}/app", "interval": "1h", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}, **spec}}))
    (d / "app/kustomization.yaml").write_text("resources: [./objects.yaml]\n")
    (d / "app/objects.yaml").write_text(yaml.safe_dump_all(objects))


def _chart(name: str, **spec) -> dict:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": name, "namespace": "x"},
            "spec": {"chartRef": {"kind": "OCIRepository", "name": name}, "interval": "1h", **spec}}


def test_the_rendered_alerts_without_a_crd_provider_are_an_error(tmp_path):
    """jokajak/home-ops: VictoriaMetrics with its prometheus-operator-crds subchart off, so nothing installs the
    monitoring.coreos.com CRDs; velero-monitoring (no HelmRelease in it, so the rule skipped it) fails its dry-run at
    every retry (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go, RequeueAfter
    GetRetryInterval; fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAll) and no alert ever exists. Here the
    repository's only other Kustomization installs no chart: an error for each rendered custom resource."""
    root = _copy(tmp_path)
    assert _rendered_findings(root) == []  # only the rendered tree: its provider is outside it
    _with_user_ks(root, "db", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}}])
    found = _rendered_findings(root)
    assert sorted(f.obj for f in found) == ["PodMonitor/velero/node-agent", "PrometheusRule/velero/velero",
                                            "ServiceMonitor/velero/velero"], found
    assert {f.severity for f in found} == {"error"} and "metrics.dependsOn" in found[0].message
    assert _rules(root, "flux.crd-provider") == []  # the user's objects keep the lenient rule


def test_a_kustomization_of_another_repository_may_bring_the_crd(tmp_path):
    """A Flux Kustomization whose sourceRef is another Git repository (an app-of-apps kept in a second repository,
    found on a real one) applies what that artifact holds (fluxcd/kustomize-controller@v1.9.4:
    internal/controller/kustomization_controller.go reconciles the sourceRef's artifact), which validate cannot see:
    like a remote build it may bring the monitoring.coreos.com CRDs, so the rendered alerts that do not wait for it
    are a note naming it, not an error. Reading this repository's own source, it brings nothing unseen."""
    root = _copy(tmp_path)
    _with_user_ks(root, "db", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}}])
    apps = root / "kubernetes/apps"
    (apps / "app-of-apps.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "cluster-applications", "namespace": "flux-system"},
         "spec": {"interval": "5m", "url": "https://example.org/cluster-applications.git", "ref": {"branch": "main"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "app-of-apps", "namespace": "flux-system"},
         "spec": {"interval": "5m", "path": "./sites/home", "prune": False,
                  "sourceRef": {"kind": "GitRepository", "name": "cluster-applications"}}}]))
    found = _rendered_findings(root)
    assert {f.severity for f in found} == {"note"} and "flux-system/app-of-apps" in found[0].message, found
    (apps / "app-of-apps.yaml").write_text((apps / "app-of-apps.yaml").read_text()
                                           .replace("name: cluster-applications\n", "name: flux-system\n"))
    assert {f.severity for f in _rendered_findings(root)} == {"error"}


_KPS = {"chart": {"spec": {"chart": "kube-prometheus-stack", "sourceRef": {"kind": "HelmRepository", "name": "p"}}}}
_OWN_MONITOR = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m", "namespace": "x"},
                "spec": {"selector": {}, "endpoints": [{"port": "http"}]}}


@pytest.mark.parametrize("spec,extra,severity", [
    # a chart of the CRD bundles (prometheus-community/helm-charts@kube-prometheus-stack-88.5.3: charts/crds) that the
    # monitoring does not wait for: named in a note (the retry succeeds once it is installed)
    (_KPS, [], "note"),
    ({**_KPS, "values": {"crds": {"enabled": False}}}, [], "warning"),  # its `crds` sub-chart off: brings none
    # an unknown chart may bring them, but nothing shows it does: a warning with the fix (Logik-Dev/k8s-homelab: no
    # Prometheus at all, velero-monitoring never Ready, its parent's `wait: true` blocking the repository)
    ({}, [], "warning"),
    ({}, [_OWN_MONITOR], "note"),  # the repository applies a ServiceMonitor of its own: the CRDs are there
    ({"install": {"crds": "Skip"}}, [], "error"),  # helm-controller@v1.6.3 Install.CRDs Skip: that chart brings none
])
def test_a_chart_the_rendered_monitoring_does_not_wait_for_is_only_possible(tmp_path, spec, extra, severity):
    root = _copy(tmp_path)
    release = _chart("stack", **spec)
    if "chart" in spec:
        del release["spec"]["chartRef"]
    _with_user_ks(root, "kube-prometheus-stack", [release, *extra])
    found = _rendered_findings(root)
    assert {f.severity for f in found} == {severity}, found
    if severity != "error":
        assert "flux-system/kube-prometheus-stack" in found[0].message
    if severity == "warning":
        assert "metrics.enabled: false" in found[0].message and "wait: true" in found[0].message


def test_waiting_for_the_chart_makes_the_rendered_monitoring_certain(tmp_path):
    """metrics.dependsOn renders velero-monitoring's dependsOn: the dependency check holds it until the chart's
    Kustomization is Ready (kustomization_controller.go checkDependencies)."""
    root = _copy(tmp_path)
    _with_user_ks(root, "kube-prometheus-stack", [_chart("stack")])
    ks = root / APP / "ks.yaml"
    docs = [d for d in yaml.safe_load_all(ks.read_text()) if d]
    for d in docs:
        if d["metadata"]["name"] == "velero-monitoring":
            d["spec"]["dependsOn"] = [{"name": "kube-prometheus-stack", "namespace": "flux-system"}]
    ks.write_text(yaml.safe_dump_all(docs))
    assert _rendered_findings(root) == []


def _cluster_with_settings(root: Path, name: str, settings: dict[str, str]) -> None:
    """One cluster of a repository: bootstrap's flux-system syncing clusters/<name>, an `apps` Kustomization that
    patches `substituteFrom: cluster-settings` into its children, and files ``settings`` under clusters/<name>."""
    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization"}
    source = {"kind": "GitRepository", "name": "flux-system"}
    (root / f"clusters/{name}/flux-system").mkdir(parents=True)
    (root / f"clusters/{name}/flux-system/gotk-sync.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "flux-system", "namespace": "flux-system"},
         "spec": {"interval": "1h", "url": "ssh://git@example.org/home-ops", "ref": {"branch": "main"}}},
        {**ks, "metadata": {"name": "flux-system", "namespace": "flux-system"},
         "spec": {"interval": "1h", "path": f"./clusters/{name}", "prune": True, "sourceRef": source}}]))
    (root / f"clusters/{name}/apps.yaml").write_text(yaml.safe_dump({
        **ks, "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"interval": "1h", "path": f"./apps/{name}", "prune": True, "sourceRef": source,
                 "patches": [{"target": {"kind": "Kustomization"}, "patch": yaml.safe_dump({
                     **ks, "metadata": {"name": "not-used"},
                     "spec": {"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-settings"}]}}})}]}}))
    for rel, text in settings.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / f"apps/{name}/app").mkdir(parents=True)
    (root / f"apps/{name}/app.yaml").write_text(yaml.safe_dump({
        **ks, "metadata": {"name": "app", "namespace": "flux-system"},
        "spec": {"interval": "1h", "path": f"./apps/{name}/app", "prune": True, "sourceRef": source}}))


def test_substitute_from_is_read_in_the_kustomizations_own_cluster(tmp_path):
    """kustomize-controller@v1.9.4 internal/controller/kustomization_controller.go reads substituteFrom as
    {Namespace: the Kustomization's, Name: ref.name} from its own cluster's API: a `cluster-settings` of another
    cluster in the same repository says nothing about this one's variables. Cluster b's settings come from a
    configMapGenerator (an env file, which `--kustomize never` does not read): its names are unknown, so b's
    `${ONLY_B}` is not reported, while cluster a, whose settings Git shows, still gets its undefined `${NOT_SET}`."""
    root = tmp_path / "repo"
    _cluster_with_settings(root, "a", {"clusters/a/settings.yaml": yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-settings", "namespace": "flux-system"},
        "data": {"ONLY_A": "1"}})})
    _cluster_with_settings(root, "b", {
        "clusters/b/settings/kustomization.yaml": "configMapGenerator:\n  - name: cluster-settings\n    namespace: flux-system\n"
                                                  "    envs: [../../../b.env]\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
        "b.env": "ONLY_B=2\n"})
    for name, var in (("a", "${ONLY_A} ${NOT_SET}"), ("b", "${ONLY_B}")):
        (root / f"apps/{name}/app/cm.yaml").write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"},
            "data": {"v": var}}))
    found = _rules(root, "flux.substitute")
    assert [(f.file.split("repo/")[-1], "NOT_SET" in f.message, "ONLY" in f.message) for f in found] == [
        ("apps/a/app/cm.yaml", True, False)], [f.message for f in found]


@pytest.mark.parametrize("installer_cluster,found", [("a", ["Widget/web/w"]), ("b", [])])
def test_another_clusters_chart_brings_no_crd_to_this_one(tmp_path, installer_cluster, found):
    """A chart that may bring the CRD counts only in the cluster that installs it: each cluster's API server holds
    its own CRDs, so a retry in cluster b succeeds only when cluster b installs one (validate/flux.py
    Graph.visible; the retry is fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go
    RequeueAfter GetRetryInterval)."""
    from cli_util import VALIDATE_FIXTURES

    root = tmp_path / "repo"
    shutil.copytree(VALIDATE_FIXTURES / "flux/multi-cluster", root)
    hr = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {n}\n  namespace: web\nspec:\n"
          "  interval: 1h\n  chart:\n    spec:\n      chart: {n}\n      sourceRef:\n        kind: HelmRepository\n"
          "        name: charts\n")
    (root / "apps/b/web/helmrelease.yaml").write_text(hr.format(n="web"))
    (root / "apps/b/web/widget.yaml").write_text("apiVersion: widgets.example.org/v1\nkind: Widget\nmetadata:\n"
                                                 "  name: w\n  namespace: web\n")
    (root / "infra/widgets").mkdir()
    (root / "infra/widgets/helmrelease.yaml").write_text(hr.format(n="widgets"))
    (root / f"clusters/{installer_cluster}/widgets.yaml").write_text(flux_ks("widgets", "./infra/widgets"))
    assert [f.obj for f in _rules(root, "flux.crd-provider")] == found


@pytest.mark.parametrize("child", [False, True])
def test_a_chart_the_kustomization_itself_applies_brings_no_crd_before_it(tmp_path, child):
    """A chart installed by a Kustomization that this one applies exists only once this one's apply succeeded, and
    its dry-run fails while the CRD is missing (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAllStaged: all or
    nothing), so that chart is no provider (seen on a fresh public repository: the root applied the operator's custom
    resources beside its chart, hidden by charts of the apps it applies). A sibling's chart still is one."""
    from cli_util import VALIDATE_FIXTURES

    root = tmp_path / "repo"
    shutil.copytree(VALIDATE_FIXTURES / "flux/multi-cluster", root)
    hr = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {n}\n  namespace: web\nspec:\n"
          "  interval: 1h\n  chart:\n    spec:\n      chart: {n}\n      sourceRef:\n        kind: HelmRepository\n"
          "        name: charts\n")
    web = root / "apps/a/web"
    (web / "helmrelease.yaml").write_text(hr.format(n="web"))
    (web / "widget.yaml").write_text("apiVersion: widgets.example.org/v1\nkind: Widget\nmetadata:\n  name: w\n"
                                     "  namespace: web\n")
    (root / "infra/widgets").mkdir()
    (root / "infra/widgets/helmrelease.yaml").write_text(hr.format(n="widgets"))
    (web / "child.yaml" if child else root / "clusters/a/widgets.yaml").write_text(flux_ks("widgets", "./infra/widgets"))
    assert [f.obj for f in _rules(root, "flux.crd-provider")] == (["Widget/web/w"] if child else [])


@pytest.mark.parametrize("kind,found", [("ResourceSet", []), ("Widget", ["Widget/flux-system/w"])])
def test_a_clusters_flux_instance_proves_the_operators_crds(tmp_path, kind, found):
    """The sync root applies a custom resource beside a HelmRelease: a flux-operator kind needs no provider when the
    cluster is synced by a FluxInstance, since that instance exists only where the operator's CRDs are served
    (controlplaneio-fluxcd/flux-operator@v0.58.1 ships FluxInstance and ResourceSet together); another group does
    (seen on a repository of an earlier round: the FluxInstance and ResourceSet reported)."""
    from cli_util import VALIDATE_FIXTURES

    root = tmp_path / "repo"
    shutil.copytree(VALIDATE_FIXTURES / "flux/flux-operator", root)
    group = "fluxcd.controlplane.io/v1" if kind == "ResourceSet" else "widgets.example.org/v1"
    (root / "clusters/prod/extra.yaml").write_text(
        f"apiVersion: {group}\nkind: {kind}\nmetadata:\n  name: w\n  namespace: flux-system\n---\n"
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: tool\n  namespace: flux-system\n"
        "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: tool\n      sourceRef:\n        kind: HelmRepository\n"
        "        name: charts\n")
    assert [f.obj for f in _rules(root, "flux.crd-provider")] == found


def test_a_remote_resource_the_kustomization_itself_builds_may_bring_the_crd(tmp_path):
    """cert-manager applied from its release manifest (`resources: [https://github.com/.../cert-manager.yaml]`, CRDs
    included) in the same build as an Issuer: kustomize-controller applies the build's CRDs in a first stage and waits
    for them before the dry-run of the custom resources (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAllStaged,
    defStage), so a remote resource in the Kustomization's own build may bring the CRD, unlike a chart it applies
    (a HelmRelease only installs after the whole apply succeeded). Decided from a fresh repository, round 8."""
    root = _rule_beside_velero(tmp_path)
    app = root / APP / "app"
    kfile = app / "kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n  - https://github.com/prometheus-operator/"
                                               "prometheus-operator/releases/download/v0.80.0/bundle.yaml\n"))
    assert _rules(root, "flux.crd-provider") == []
    kfile.write_text(kfile.read_text().replace("  - https://github.com/prometheus-operator/prometheus-operator/"
                                               "releases/download/v0.80.0/bundle.yaml\n", ""))
    assert [f.obj for f in _rules(root, "flux.crd-provider")] == ["PrometheusRule/velero/velero"]


def test_n_releases_beside_n_custom_resources_name_the_releases_once(tmp_path, monkeypatch):
    """N HelmReleases and N custom resources of a group nothing installs, in one Kustomization: the message names the
    releases, and naming them per custom resource sorted all N names N times (a fresh attacker, round 8: 1.8 MB of
    input took 89 s). Counted: the names sorted grow as N does."""
    from velero_gitops.validate import crd_providers

    sorted_names = {"n": 0}
    real = crd_providers.some

    def counted(names, *a, **k):
        sorted_names["n"] += len(names)
        return real(names, *a, **k)

    monkeypatch.setattr(crd_providers, "some", counted)
    work = {}
    for n in (20, 40, 80):
        root = _copy(tmp_path / str(n))
        app = root / APP / "app"
        docs = [f"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: r{i}\n  namespace: velero\n"
                "spec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: velero\n" for i in range(n)]
        docs += [f"apiVersion: example.org/v1\nkind: Widget\nmetadata:\n  name: w{i}\n  namespace: velero\n"
                 for i in range(n)]
        (app / "many.yaml").write_text("---\n".join(docs))
        kfile = app / "kustomization.yaml"
        kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n  - ./many.yaml\n"))
        sorted_names["n"] = 0
        assert len(_rules(root, "flux.crd-provider")) == n
        work[n] = sorted_names["n"]
    assert work[80] - work[40] <= 2.2 * (work[40] - work[20]), work
