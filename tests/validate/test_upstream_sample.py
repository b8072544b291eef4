"""Valid upstream-style Flux home-lab manifests (written for these tests): no false positives.

The sample uses what real repos use: a root Kustomization that injects decryption and Helm
remediation with patches, postBuild substitution, components, configMapGenerator values files,
OCIRepository + chartRef, driftDetection, healthCheckExprs, YAML-language-server comments, 4-space
SOPS files, Deployments with probes and security contexts, CronJob, PVC, ServiceMonitor,
PodMonitor, PrometheusRule and Velero Backup/Restore/BSL/Schedule objects.
"""

from __future__ import annotations

import shutil

import pytest

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import VALIDATE_FIXTURES as FIXTURES
from cli_util import require_kubectl, run_cli

# cluster-template installs the Prometheus Operator CRDs outside Flux (its bootstrap helmfile installs
# prometheus-operator-crds): without this, the PrometheusRule beside the cert-manager HelmRelease is reported
# (flux.crd-provider), rightly, as nothing in the repository installs its CRD
OUTSIDE = ["CustomResourceDefinition/*/monitoring.coreos.com"]


@pytest.fixture
def sample(tmp_path):
    dst = tmp_path / "upstream"
    shutil.copytree(FIXTURES / "upstream", dst)
    return dst


def test_sample_has_no_findings(sample, tmp_path):
    require_kubectl()
    res = validate_paths([str(sample)], Options(cache_dir=str(tmp_path / "cache"), externals=OUTSIDE))
    assert res.findings == []
    assert res.failed == 0 and res.passed == 19


def test_the_prometheus_rule_beside_cert_manager_is_reported_without_the_external(sample, tmp_path):
    res = validate_paths([str(sample)], Options(cache_dir=str(tmp_path / "cache"), kustomize="never"))
    assert [(f.rule, f.obj) for f in res.findings] == [("flux.crd-provider", "PrometheusRule/cert-manager/cert-manager-rules")]


def test_sample_via_cli(sample, tmp_path):
    r = run_cli("validate", str(sample), "--cache", str(tmp_path / "cache"), "--external", OUTSIDE[0])
    assert r.code == 0, r.out + r.err
    assert r.out == "no findings; objects: 19 passed, 0 failed\n"


@pytest.mark.parametrize("file,old,new,rule", [
    ("kubernetes/apps/default/echo/ks.yaml", "    - name: cert-manager\n      namespace: cert-manager",
     "    - name: cert-manager\n      namespace: default", "flux.depends-on"),
    ("kubernetes/apps/cert-manager/cert-manager/app/helmrelease.yaml", "    name: cert-manager\n  driftDetection",
     "    name: cert-manager-chart\n  driftDetection", "flux.source-ref"),
    ("kubernetes/flux/cluster/ks.yaml", "path: ./kubernetes/apps\n", "path: ./kubernetes/app\n", "flux.path"),
    ("kubernetes/apps/observability/kube-prometheus-stack/app/velero-objects.yaml", "@every 168h", "@every 7d", "policy.cron"),
])
def test_graph_and_policy_run_on_the_sample(sample, tmp_path, file, old, new, rule):
    p = sample / file
    assert old in p.read_text()
    p.write_text(p.read_text().replace(old, new))
    res = validate_paths([str(sample)], Options(cache_dir=str(tmp_path / "cache"), kustomize="never", externals=OUTSIDE))
    assert [f.rule for f in res.findings] == [rule], res.findings


def test_decryption_needed_without_the_root_patch(sample, tmp_path):
    ks = sample / "kubernetes/flux/cluster/ks.yaml"
    text = ks.read_text()
    start = text.index("  patches:")
    end = text.index("  postBuild:")
    ks.write_text(text[:start] + text[end:])
    res = validate_paths([str(sample)], Options(cache_dir=str(tmp_path / "cache"), kustomize="never", externals=OUTSIDE))
    assert [(f.rule, f.file.endswith("echo/ks.yaml"), f.pointer) for f in res.findings] == [
        ("flux.decryption", True, "/spec/path")]
