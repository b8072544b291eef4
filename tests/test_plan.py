"""Plan decisions (domain.md "Generator must"), tested without templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops.loader import load
from velero_gitops.plan import chart_values, plan

BASE = """\
cluster: t
s3:
  endpoint: https://s3.68cc.io
schedules:
  - name: daily
    cron: "0 2 * * *"
    namespaces: [monitoring, database, network]
metrics:
  prometheusRule: false
  dashboard: {enabled: false}
"""


def loaded(tmp_path: Path, extra: str = "", base: str = BASE):
    (tmp_path / "c.yaml").write_text(base + extra)
    return load(tmp_path / "c.yaml")


def objects(p):
    return {a.path: [d.obj for d in a.docs] for a in p.artifacts}


def test_layout_matches_conventions(tmp_path):
    paths = [a.path for a in plan(loaded(tmp_path)).artifacts]
    assert paths == [
        "kubernetes/apps/velero/kustomization.yaml",
        "kubernetes/apps/velero/namespace.yaml",
        "kubernetes/apps/velero/velero/ks.yaml",
        "kubernetes/apps/velero/velero/app/kustomization.yaml",
        "kubernetes/apps/velero/velero/app/helmrelease.yaml",
        "kubernetes/apps/velero/velero/app/helmrepository.yaml",
        "kubernetes/apps/velero/velero/schedules/kustomization.yaml",
        "kubernetes/apps/velero/velero/schedules/daily.yaml",
    ]


def test_values_follow_domain_facts(tmp_path):
    v = chart_values(loaded(tmp_path))
    assert v["deployNodeAgent"] is True and v["snapshotsEnabled"] is False and v["upgradeCRDs"] is False
    assert v["configuration"]["uploaderType"] == "kopia"
    assert v["configuration"]["defaultBackupTTL"] == "720h"
    assert v["configuration"]["garbageCollectionFrequency"] == "1h"
    assert v["credentials"] == {"existingSecret": "velero-s3-secret", "useSecret": True}
    bsl = v["configuration"]["backupStorageLocation"]
    assert isinstance(bsl, list) and len(bsl) == 1
    assert bsl[0]["bucket"] == "velero-backups" and bsl[0]["prefix"] == "velero" and bsl[0]["provider"] == "aws"
    assert bsl[0]["config"] == {"region": "minio", "s3ForcePathStyle": "true", "s3Url": "https://s3.68cc.io"}
    assert all(isinstance(x, str) for x in bsl[0]["config"].values())  # the chart quotes them anyway
    assert v["initContainers"][0]["image"] == "velero/velero-plugin-for-aws:v1.14.3"
    assert v["initContainers"][0]["volumeMounts"] == [{"mountPath": "/target", "name": "plugins"}]
    text = repr(v).lower()
    assert "restic" not in text  # never restic keys or wording


@pytest.mark.parametrize("dist,pods", [("kubeadm", "/var/lib/kubelet/pods"), ("k0s", "/var/lib/k0s/kubelet/pods"),
                                       ("microk8s", "/var/snap/microk8s/common/var/lib/kubelet/pods"), ("talos", "/var/lib/kubelet/pods")])
def test_kubelet_paths_per_distribution(tmp_path, dist, pods):
    v = chart_values(loaded(tmp_path, f"velero:\n  nodeAgent:\n    distribution: {dist}\n"))
    assert v["nodeAgent"]["podVolumePath"] == pods
    assert v["nodeAgent"]["pluginVolumePath"] == pods.rsplit("/", 1)[0] + "/plugins"


def test_privileged_is_opt_in(tmp_path):
    assert "containerSecurityContext" not in chart_values(loaded(tmp_path))["nodeAgent"]
    v = chart_values(loaded(tmp_path, "velero:\n  nodeAgent:\n    privileged: true\n"))
    assert v["nodeAgent"]["containerSecurityContext"] == {"privileged": True}


def test_two_kustomizations_schedules_depend_on_app(tmp_path):
    app, schedules = objects(plan(loaded(tmp_path)))["kubernetes/apps/velero/velero/ks.yaml"]
    assert app["spec"]["path"] == "./kubernetes/apps/velero/velero/app"
    assert app["spec"]["healthChecks"] == [{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "name": "velero", "namespace": "velero"}]
    assert app["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert schedules["spec"]["dependsOn"] == [{"name": "velero"}]
    assert schedules["spec"]["path"] == "./kubernetes/apps/velero/velero/schedules"
    assert "decryption" not in schedules["spec"]


def test_kustomization_timeout_only_when_interval_is_shorter(tmp_path):
    app = objects(plan(loaded(tmp_path)))["kubernetes/apps/velero/velero/ks.yaml"][0]
    assert "timeout" not in app["spec"]  # defaults to the 1h interval, longer than the 15m HelmRelease timeout
    app = objects(plan(loaded(tmp_path, "flux:\n  interval: 10m\n")))["kubernetes/apps/velero/velero/ks.yaml"][0]
    assert app["spec"]["timeout"] == "15m"


def test_switches_for_root_patches(tmp_path):
    extra = "flux:\n  decryption: {enabled: false}\n  remediation: {enabled: false}\n  crdsCreateReplace: false\n"
    objs = objects(plan(loaded(tmp_path, extra)))
    hr = objs["kubernetes/apps/velero/velero/app/helmrelease.yaml"][0]
    assert "install" not in hr["spec"] and "upgrade" not in hr["spec"]
    assert "decryption" not in objs["kubernetes/apps/velero/velero/ks.yaml"][0]["spec"]


def test_helm_release_defaults(tmp_path):
    hr = objects(plan(loaded(tmp_path)))["kubernetes/apps/velero/velero/app/helmrelease.yaml"][0]
    assert hr["spec"]["install"] == {"crds": "CreateReplace", "remediation": {"retries": 3}}
    assert hr["spec"]["upgrade"]["crds"] == "CreateReplace"
    assert hr["spec"]["timeout"] == "15m" and hr["spec"]["releaseName"] == "velero"
    assert hr["spec"]["chart"]["spec"]["version"] == "12.1.0"


def test_oci_source_uses_chart_ref(tmp_path):
    objs = objects(plan(loaded(tmp_path, "flux:\n  chartSource: {type: OCIRepository}\n")))
    hr = objs["kubernetes/apps/velero/velero/app/helmrelease.yaml"][0]
    assert hr["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "velero"} and "chart" not in hr["spec"]
    oci = objs["kubernetes/apps/velero/velero/app/ocirepository.yaml"][0]
    assert oci["spec"]["url"] == "oci://ghcr.io/vmware-tanzu/charts/velero"
    assert oci["spec"]["ref"] == {"tag": "12.1.0"}
    assert oci["spec"]["layerSelector"]["mediaType"] == "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    kust = objs["kubernetes/apps/velero/velero/app/kustomization.yaml"][0]
    assert "./ocirepository.yaml" in kust["resources"]


def test_schedule_object(tmp_path):
    s = objects(plan(loaded(tmp_path)))["kubernetes/apps/velero/velero/schedules/daily.yaml"][0]
    assert s["spec"]["schedule"] == "0 2 * * *"
    assert s["spec"]["useOwnerReferencesInBackup"] is False
    t = s["spec"]["template"]
    assert t["ttl"] == "720h0m0s" and t["includedNamespaces"] == ["monitoring", "database", "network"]
    assert t["defaultVolumesToFsBackup"] is True and t["snapshotVolumes"] is False
    assert "paused" not in s["spec"]


def test_namespace_is_privileged_and_never_pruned(tmp_path):
    ns = objects(plan(loaded(tmp_path)))["kubernetes/apps/velero/namespace.yaml"][0]
    assert ns["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_secret_is_listed_but_never_planned(tmp_path):
    p = plan(loaded(tmp_path))
    kust = objects(p)["kubernetes/apps/velero/velero/app/kustomization.yaml"][0]
    assert "./secret.sops.yaml" in kust["resources"]
    assert p.secret_path not in objects(p)


def test_ca_bundle_and_checksum(tmp_path):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    extra = BASE.replace("  endpoint: https://s3.68cc.io\n", "  endpoint: https://s3.68cc.io\n  caBundle: ca.pem\n  checksumAlgorithm: ''\n")
    v = chart_values(loaded(tmp_path, base=extra))
    bsl = v["configuration"]["backupStorageLocation"][0]
    import base64

    assert base64.b64decode(bsl["caCert"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert bsl["config"]["checksumAlgorithm"] == ""


def test_plan_is_pure_and_deterministic(tmp_path):
    ld = loaded(tmp_path)
    assert plan(ld) == plan(ld)
