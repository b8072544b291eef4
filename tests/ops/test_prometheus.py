"""Does the repository's own Prometheus select the rendered PrometheusRule, ServiceMonitor and PodMonitor?

Modelled on:
* prometheus-community/helm-charts@kube-prometheus-stack-88.5.3:charts/kube-prometheus-stack/templates/prometheus/
  prometheus.yaml: `if .Values.prometheus.prometheusSpec.ruleSelector` (an empty map is false in a Go template),
  `else if ruleSelectorNilUsesHelmValues` (values.yaml default true) -> matchLabels release: <Release.Name>, else {};
  namespace selectors: the value when non-empty, else {};
* fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go GetReleaseName (releaseName, else
  <targetNamespace>-<name>, else the name);
* prometheus-operator/prometheus-operator@v0.93.0:pkg/apis/monitoring/v1/prometheus_types.go (a null ruleSelector
  selects nothing, a null ruleNamespaceSelector only the Prometheus object's own namespace).
The adopter's case (fobiat/home-ops): a kube-prometheus-stack HelmRelease with default selectors, and rendered objects
without labels: none of the alerts loads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from layout_fixtures import write_repo
from velero_gitops.config.loader import load
from velero_gitops.ops import prometheus

from cli_util import run_cli

SRC = "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n"
SOURCES = ["GitRepository/flux-system/flux-system"]


def _files(hr_values: str, hr_extra: str = "", cr: str = "") -> dict[str, str]:
    return {
        "clusters/main/flux-system/gotk-sync.yaml":
            "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
            "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: ssh://git@example.org/r\n"
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n"
            f"  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./clusters/main\n  prune: true\n{SRC}",
        "clusters/main/flux-system/kustomization.yaml": "resources:\n  - gotk-sync.yaml\n",
        "clusters/main/apps.yaml":
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n"
            f"  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./kubernetes/apps\n  prune: true\n{SRC}",
        "kubernetes/apps/kustomization.yaml": "resources:\n  - ./monitoring\n",
        "kubernetes/apps/monitoring/kustomization.yaml":
            "namespace: monitoring\nresources:\n  - ./oci.yaml\n  - ./helmrelease.yaml\n"
            + ("  - ./prometheus.yaml\n" if cr else ""),
        "kubernetes/apps/monitoring/oci.yaml":
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: kube-prometheus-stack\n"
            "spec:\n  interval: 1h\n  url: oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack\n"
            "  ref:\n    tag: 80.0.0\n",
        "kubernetes/apps/monitoring/helmrelease.yaml":
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: kube-prometheus-stack\n"
            f"spec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: kube-prometheus-stack\n{hr_extra}"
            f"  values:\n{hr_values}",
        **({"kubernetes/apps/monitoring/prometheus.yaml": cr} if cr else {}),
    }


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_repo(tmp_path / "ops", files)


DEFAULTS = "    grafana:\n      enabled: false\n"


def _config(tmp_path: Path, extra: str = "") -> object:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"cluster: x\ns3:\n  endpoint: https://s3.example.org\n{extra}")
    return load(cfg).config


@pytest.mark.parametrize("values,extra,rule,sm_ns", [
    # defaults: the release label, named after the HelmRelease (chart found from the chartRef's OCIRepository)
    (DEFAULTS, "", {"matchLabels": {"release": "kube-prometheus-stack"}}, {}),
    # an empty map is false in the template: still the release label
    ("    prometheus:\n      prometheusSpec:\n        ruleSelector: {}\n", "",
     {"matchLabels": {"release": "kube-prometheus-stack"}}, {}),
    # releaseName and targetNamespace name the release
    (DEFAULTS, "  releaseName: kps\n", {"matchLabels": {"release": "kps"}}, {}),
    (DEFAULTS, "  targetNamespace: observability\n", {"matchLabels": {"release": "observability-kube-prometheus-stack"}},
     {}),
    # NilUsesHelmValues false: everything
    ("    prometheus:\n      prometheusSpec:\n        ruleSelectorNilUsesHelmValues: false\n", "", {}, {}),
    # a given selector as it is
    ("    prometheus:\n      prometheusSpec:\n        ruleSelector:\n          matchLabels:\n            prom: main\n"
     "        serviceMonitorNamespaceSelector:\n          matchLabels:\n            monitored: 'yes'\n", "",
     {"matchLabels": {"prom": "main"}}, {"matchLabels": {"monitored": "yes"}}),
])
def test_kube_prometheus_stack_selectors_follow_the_chart_template(tmp_path, values, extra, rule, sm_ns):
    (p,) = prometheus.read(_repo(tmp_path, _files(values, extra)), SOURCES)
    assert p.selectors["rule"] == rule and p.selectors["serviceMonitorNamespace"] == sm_ns
    assert p.selectors["ruleNamespace"] == {}


def test_unselected_objects_get_the_labels_that_fix_them(tmp_path):
    found = prometheus.read(_repo(tmp_path, _files(DEFAULTS)), SOURCES)
    v = prometheus.judge(found, _config(tmp_path))
    assert v is not None and v.missing == ["PrometheusRule", "ServiceMonitor", "PodMonitor"]
    assert v.add == {"release": "kube-prometheus-stack"}
    assert "set metrics.additionalLabels: {release: kube-prometheus-stack}" in prometheus.message(v, _config(tmp_path))
    labelled = _config(tmp_path, "metrics:\n  additionalLabels:\n    release: kube-prometheus-stack\n")
    assert prometheus.judge(found, labelled) is None


def test_a_namespace_selector_that_leaves_velero_out_is_no_label_fix(tmp_path):
    values = ("    prometheus:\n      prometheusSpec:\n        ruleNamespaceSelector:\n          matchLabels:\n"
              "            monitored: 'yes'\n")
    found = prometheus.read(_repo(tmp_path, _files(values)), SOURCES)
    v = prometheus.judge(found, _config(tmp_path))
    assert v is not None and v.add is None and "widen its selectors" in prometheus.message(v, _config(tmp_path))
    # kubernetes.io/metadata.name is set on every namespace: a selector on it selects velero
    values = values.replace("monitored: 'yes'", "kubernetes.io/metadata.name: velero")
    found = prometheus.read(_repo(tmp_path / "b", _files(values)), SOURCES)
    v = prometheus.judge(found, _config(tmp_path))
    assert v is not None and v.add == {"release": "kube-prometheus-stack"}


CR = ("apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: main\nspec:\n"
      "  serviceMonitorSelector: {}\n  podMonitorSelector: {}\n  ruleSelector: {}\n")


def test_a_prometheus_object_nil_namespace_selector_is_its_own_namespace(tmp_path):
    values = "    prometheus:\n      enabled: false\n"  # the chart makes no Prometheus: the object below counts
    found = prometheus.read(_repo(tmp_path, _files(values, cr=CR)), SOURCES)
    assert [p.where.split(" (")[0] for p in found] == ["Prometheus monitoring/main"]
    v = prometheus.judge(found, _config(tmp_path))
    assert v is not None and v.add is None  # only namespace monitoring: no label helps
    ns = "  ruleNamespaceSelector: {}\n  serviceMonitorNamespaceSelector: {}\n  podMonitorNamespaceSelector: {}\n"
    found = prometheus.read(_repo(tmp_path / "b", _files(values, cr=CR + ns)), SOURCES)
    assert prometheus.judge(found, _config(tmp_path)) is None


def test_values_from_elsewhere_conclude_nothing(tmp_path):
    """USA-RedDragon/home-cluster-flux: valuesFrom a ConfigMap generated from a values.yaml that sets
    *SelectorNilUsesHelmValues: false; the inline values alone would say `release` wrongly."""
    found = prometheus.read(_repo(tmp_path, _files(DEFAULTS, "  valuesFrom:\n    - kind: ConfigMap\n"
                                                             "      name: kps-values\n")), SOURCES)
    assert prometheus.judge(found, _config(tmp_path)) is None


def test_no_prometheus_in_the_repository_says_nothing(tmp_path):
    files = _files(DEFAULTS)
    files["kubernetes/apps/monitoring/kustomization.yaml"] = "namespace: monitoring\nresources:\n  - ./oci.yaml\n"
    assert prometheus.judge(prometheus.read(_repo(tmp_path, files), SOURCES), _config(tmp_path)) is None


def test_init_sets_the_labels_and_check_reports_their_absence(tmp_path):
    root = _repo(tmp_path, _files(DEFAULTS))
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--namespaces", "monitoring", "--no-interactive",
                cwd=root)
    assert r.code == 0, r.err
    cfg = root / "velero-gitops.yaml"
    assert load(cfg).config.metrics.additional_labels == {"release": "kube-prometheus-stack"}
    assert run_cli("render", "--wire", cwd=root).code == 0
    assert "release: kube-prometheus-stack" in (root / "kubernetes/apps/velero/velero/monitoring/prometheusrule.yaml"
                                                ).read_text()
    r = run_cli("check", "--no-cache", cwd=root)
    assert "does not select the rendered" not in r.out, r.out
    cfg.write_text(cfg.read_text().replace('    "release": "kube-prometheus-stack"\n', "    team: ops\n"))
    assert run_cli("render", cwd=root).code == 0
    r = run_cli("check", "--no-cache", cwd=root)
    assert "HelmRelease monitoring/kube-prometheus-stack" in r.out and "does not select the rendered" in r.out, r.out
    assert "set metrics.additionalLabels: {team: ops, release: kube-prometheus-stack}" in r.out, r.out
