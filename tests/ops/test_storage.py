"""What installs the StorageClasses the backed-up volumes use, and the disaster-recovery order that follows from it.

Why it matters, from the code that decides it: a backup keeps a bound PVC with its storageClassName and drops its
selector so it is provisioned again (vmware-tanzu/velero@v1.18.1:pkg/backup/actions/backup_pv_action.go
PVCAction.Execute); Velero never backs up the StorageClass; the pod it creates for a pod volume restore must be
scheduled within ten minutes (pkg/podvolume/restorer.go RestorePodVolumes, PollUntilContextTimeout). So the Flux
Kustomization that installs the class must be applied before the restore: flux.dependsOn.

The fixture has the shape the adopter met (andycooney/home-ops, onedr0p cluster-template): the namespace folder's
kustomization.yaml sets `namespace:`, which renames its `namespace.yaml` (`name: _`; kubernetes-sigs/kustomize@
kustomize/v5.7.1:api/filters/namespace/namespace.go) and places ks.yaml; the provisioner is a HelmRelease whose values
name the class it makes (openebs `localpv-provisioner.hostpathClass.name`).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from layout_fixtures import write_repo
from velero_gitops.config.loader import load
from velero_gitops.ops import disaster, storage

from cli_util import run_cli

SRC = "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n"


def _ks(name: str, path: str, extra: str = "") -> str:
    return (f"---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
            f"spec:\n  interval: 10m\n  path: {path}\n  prune: true\n{SRC}{extra}")


def _hr(name: str, values: str) -> str:
    return (f"---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\nspec:\n"
            f"  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: {name}\n  values:\n{values}")


FILES = {
    "clusters/main/flux-system/gotk-sync.yaml":
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: ssh://git@example.org/r\n"
        + _ks("flux-system", "./clusters/main").replace("  name: flux-system\nspec", "  name: flux-system\n"
                                                         "  namespace: flux-system\nspec"),
    "clusters/main/flux-system/kustomization.yaml": "resources:\n  - gotk-sync.yaml\n",
    "clusters/main/apps.yaml": _ks("cluster-apps", "./kubernetes/apps").replace(
        "  name: cluster-apps\nspec", "  name: cluster-apps\n  namespace: flux-system\nspec"),
    "kubernetes/apps/kustomization.yaml": "resources:\n  - ./openebs-system\n  - ./default\n  - ./media\n",
    # storage: the namespace comes from the folder's kustomization.yaml, the Namespace is renamed from `_`
    "kubernetes/apps/openebs-system/kustomization.yaml":
        "namespace: openebs-system\nresources:\n  - ./namespace.yaml\n  - ./openebs/ks.yaml\n",
    "kubernetes/apps/openebs-system/namespace.yaml":
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: _\n  labels:\n"
        "    pod-security.kubernetes.io/enforce: privileged\n",
    "kubernetes/apps/openebs-system/openebs/ks.yaml":
        _ks("openebs", "./kubernetes/apps/openebs-system/openebs/app", "  targetNamespace: openebs-system\n"),
    "kubernetes/apps/openebs-system/openebs/app/kustomization.yaml": "resources:\n  - ./helmrelease.yaml\n",
    "kubernetes/apps/openebs-system/openebs/app/helmrelease.yaml": _hr(
        "openebs", "    localpv-provisioner:\n      hostpathClass:\n        enabled: true\n"
                   "        name: openebs-hostpath\n        isDefaultClass: false\n"),
    # the backed-up app: a PVC of the class, and a chart value naming it through a variable's default
    "kubernetes/apps/default/kustomization.yaml": "namespace: default\nresources:\n  - ./db/ks.yaml\n",
    "kubernetes/apps/default/db/ks.yaml": _ks("db", "./kubernetes/apps/default/db/app", "  targetNamespace: default\n"),
    "kubernetes/apps/default/db/app/kustomization.yaml": "resources:\n  - ./pvc.yaml\n  - ./helmrelease.yaml\n",
    "kubernetes/apps/default/db/app/pvc.yaml":
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  storageClassName: "
        "openebs-hostpath\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n---\n"
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: media\nspec:\n  storageClassName: \"\"\n"
        "  volumeName: nas\n  accessModes: [ReadWriteMany]\n  resources:\n    requests:\n      storage: 1Gi\n",
    "kubernetes/apps/default/db/app/helmrelease.yaml": _hr(
        "db", "    persistence:\n      config:\n        storageClass: ${DB_CLASS:=openebs-hostpath}\n"),
    # not backed up: a class made by a plain StorageClass object, used only in `media`
    "kubernetes/apps/media/kustomization.yaml": "namespace: media\nresources:\n  - ./nfs/ks.yaml\n",
    "kubernetes/apps/media/nfs/ks.yaml": _ks("nfs", "./kubernetes/apps/media/nfs/app", "  targetNamespace: media\n"),
    "kubernetes/apps/media/nfs/app/kustomization.yaml": "resources:\n  - ./class.yaml\n  - ./pvc.yaml\n",
    "kubernetes/apps/media/nfs/app/class.yaml":
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: nfs\nprovisioner: nfs.csi.k8s.io\n",
    "kubernetes/apps/media/nfs/app/pvc.yaml":
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: films\nspec:\n  storageClassName: nfs\n"
        "  accessModes: [ReadWriteMany]\n  resources:\n    requests:\n      storage: 1Gi\n",
}


def _repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "ops", FILES)


SOURCES = ["GitRepository/flux-system/flux-system"]


def test_installers_and_uses_come_from_what_the_repository_applies(tmp_path):
    st = storage.read(_repo(tmp_path), SOURCES)
    assert [(i.ref, i.via) for i in st.installers["openebs-hostpath"]] == [
        ("openebs-system/openebs", "HelmRelease openebs-system/openebs")]
    assert [(i.ref, i.via) for i in st.installers["nfs"]] == [("media/nfs", "StorageClass nfs")]
    assert set(st.used["default"]) == {"openebs-hostpath"}  # "" is a pre-bound volume: no class
    assert st.used["media"].keys() == {"nfs"}
    assert st.needed(["default"]).keys() == {"openebs-hostpath"}
    assert st.needed(["*"]).keys() == {"openebs-hostpath", "nfs"} == st.needed(["def*", "media"]).keys()
    (gap,) = storage.gaps(st, ["default"], [])
    assert gap.storage_class == "openebs-hostpath" and "HelmRelease default/db (kubernetes/apps/default/db/app/" in gap.where
    assert storage.gaps(st, ["default"], ["openebs-system/openebs"]) == []
    assert [(i.ref, c) for i, c in storage.to_depend_on(st, ["default", "media"])] == [
        ("media/nfs", ["nfs"]), ("openebs-system/openebs", ["openebs-hostpath"])]


def test_a_dependency_of_the_ordered_kustomization_counts(tmp_path):
    """flux.dependsOn naming a Kustomization that itself depends on the installer orders it too (kustomize-controller
    waits for each dependsOn: fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go
    checkDependencies)."""
    root = _repo(tmp_path)
    (root / "kubernetes/apps/default/db/ks.yaml").write_text(
        FILES["kubernetes/apps/default/db/ks.yaml"] + "  dependsOn:\n    - name: openebs\n      namespace: openebs-system\n")
    st = storage.read(root, SOURCES)
    assert storage.gaps(st, ["default"], ["default/db"]) == []


def test_init_orders_the_storage_kustomization_and_the_procedure_creates_its_namespace(tmp_path):
    root = _repo(tmp_path)
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--namespaces", "default", "--no-interactive",
                cwd=root)
    assert r.code == 0, r.err
    loaded = load(root / "velero-gitops.yaml")
    assert [(d.name, d.namespace) for d in loaded.config.flux.depends_on] == [("openebs", "openebs-system")]
    assert "installs StorageClass openebs-hostpath" in (root / "velero-gitops.yaml").read_text()
    steps = disaster.procedure(loaded)
    (step,) = [s for s in steps if s.title.startswith("Apply what Velero depends on")]
    ns_cmd, ks_cmd = step.commands[0], step.commands[1]
    # the Namespace first, under the name kustomize gives it, with the repository's labels (pod security)
    assert "# Namespace openebs-system" in ns_cmd and "name: openebs-system" in ns_cmd and "name: _" not in ns_cmd
    assert "pod-security.kubernetes.io/enforce: privileged" in ns_cmd
    assert "kind: Kustomization" in ks_cmd and "namespace: openebs-system" in ks_cmd


def test_check_warns_when_the_order_misses_the_installer(tmp_path):
    root = _repo(tmp_path)
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--namespaces", "media", "--no-interactive",
                cwd=root)
    assert r.code == 0, r.err
    cfg = root / "velero-gitops.yaml"
    text = cfg.read_text()
    assert "name: nfs" in text
    cfg.write_text(text.replace("  dependsOn:\n    - name: nfs\n", "  dependsOn:\n    - name: db\n").replace(
        "      namespace: media  #", "      namespace: default  #"))
    assert run_cli("render", "--wire", cwd=root).code == 0
    r = run_cli("check", "--no-cache", cwd=root)
    assert "StorageClass nfs" in r.out and "{name: nfs, namespace: media}" in r.out, r.out
    assert "openebs-hostpath" not in r.out  # used by no backed-up namespace


def test_the_procedure_installs_the_storage_even_when_depends_on_misses_it(tmp_path):
    """check warns about the missing flux.dependsOn; the printed procedure must restore the data all the same."""
    root = _repo(tmp_path)
    (root / "velero-gitops.yaml").write_text(
        "cluster: lab\nrepo:\n  appsRoot: kubernetes/apps\ns3:\n  endpoint: https://s3.example.org\n"
        "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n    namespaces: [default]\n")
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    (step,) = [s for s in steps if s.title.startswith("Apply what Velero depends on")]
    assert "# Namespace openebs-system" in step.commands[0]
    assert any("name: openebs\n" in c and "kind: Kustomization" in c for c in step.commands)
    assert not any("name: nfs\n" in c for c in step.commands)  # media is not backed up


def _infra_files() -> dict[str, str]:
    """A fresh repository: infra builds ./infra with `wait: true`, the local-path StorageClass and every app there."""
    files = {k: v for k, v in FILES.items() if not k.startswith("kubernetes/apps/")}
    files.update({
        "clusters/main/apps.yaml": _ks("infra", "./infra", "  wait: true\n").replace(
            "  name: infra\nspec", "  name: infra\n  namespace: flux-system\nspec"),
        "infra/kustomization.yaml": "resources:\n  - ./class.yaml\n  - ./db\n",
        "infra/class.yaml": "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local-path\n"
                            "provisioner: rancher.io/local-path\n",
        "infra/db/kustomization.yaml": "resources:\n  - ./pvc.yaml\n",
        "infra/db/pvc.yaml": "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: default\n"
                             "spec:\n  storageClassName: local-path\n  accessModes: [ReadWriteOnce]\n  resources:\n"
                             "    requests:\n      storage: 1Gi\n",
    })
    return files


def test_the_kustomization_that_applies_velero_is_never_proposed_nor_asked_for(tmp_path):
    """The apps root is the folder of the Kustomization that also installs the class, with `wait: true` (a fresh
    repository: infra builds ./infra, the local-path StorageClass and every app there). Velero depending on it would
    deadlock (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies waits for
    infra to be Ready, infra's wait for Velero: flux.depends-on-ancestor), and its apply carries the class with
    Velero anyway: init proposes no flux.dependsOn, check asks for none, and the rendered tree validates clean of
    that rule; init with --apps-root reads the same facts."""
    files = _infra_files()
    for args in ([], ["--apps-root", "infra"]):
        root = write_repo(tmp_path / f"r{len(args)}", files)
        r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--namespaces", "default", "--no-interactive",
                    *args, cwd=root)
        assert r.code == 0, r.err
        loaded = load(root / "velero-gitops.yaml")
        assert loaded.config.repo.apps_root == "infra" and loaded.config.flux.depends_on == [], r.err
        assert run_cli("render", "--wire", cwd=root).code == 0
        r = run_cli("check", "--no-cache", cwd=root)
        assert "flux.storage-not-ordered" not in r.out and "flux.depends-on-ancestor" not in r.out, r.out


def test_before_wiring_the_kustomization_that_will_apply_velero_is_no_advice_and_wire_refuses_it(tmp_path):
    """Adopter round 9 (petewall/cluster): before `render --wire`, check's storage-order warning said "Add to
    flux.dependsOn: {name: infra}", the Kustomization the wiring makes apply the tree; following it and wiring gave
    flux.depends-on-ancestor (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go
    checkDependencies waits for infra to be Ready, infra's `wait: true` for Velero). check gives no such advice while
    the tree is not wired yet, and --wire undoes an edit that makes a flux.dependsOn entry an ancestor."""
    root = write_repo(tmp_path / "r", _infra_files())
    cfg = root / "velero-gitops.yaml"
    cfg.write_text("cluster: lab\nrepo:\n  appsRoot: infra\ns3:\n  endpoint: https://s3.example.org\n"
                   "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n    namespaces: [default]\n")
    assert run_cli("render", cwd=root).code == 0
    r = run_cli("check", "--no-cache", cwd=root)
    assert "flux.unwired" in r.out or "applied by no Flux Kustomization" in r.out, r.out  # not wired yet
    assert "does not order it before Velero" not in r.out and "{name: infra" not in r.out, r.out
    cfg.write_text(cfg.read_text() + "flux:\n  dependsOn:\n    - name: infra\n")
    before = (root / "infra/kustomization.yaml").read_bytes()
    r = run_cli("render", "--wire", cwd=root)
    assert r.code == 2 and "flux-system/infra, which flux.dependsOn lists" in r.err, r.err
    assert "Remove flux-system/infra from flux.dependsOn" in r.err and "Traceback" not in r.err, r.err
    assert (root / "infra/kustomization.yaml").read_bytes() == before


def test_a_class_that_makes_hostpath_volumes_is_named_before_any_backup_skips_it(tmp_path):
    """rancher/local-path-provisioner@v0.0.37:provisioner.go makes a hostPath PV unless the StorageClass annotation
    defaultVolumeType (or the PVC's volumeType) says local; Velero's pod volume backup skips a volume whose PV is
    hostPath (vmware-tanzu/velero@v1.18.1:pkg/podvolume/backupper.go isHostPathVolume) and the backup only counts a
    warning. init writes the warning into the config, check reports policy.hostpath-volumes, and render and explain,
    which show the plan, say it too (one rule: storage.hostpath_warnings; round-8 adopter: render was silent and
    explain promised "every pod volume"); with the annotation, none says anything (seen when adopting a fresh
    repository whose volumes all use rancher local-path)."""
    for annotated in (False, True):
        files = dict(FILES)
        files["kubernetes/apps/default/db/app/pvc.yaml"] = FILES["kubernetes/apps/default/db/app/pvc.yaml"].replace(
            "storageClassName: openebs-hostpath", "storageClassName: local-path")
        files["kubernetes/apps/default/db/app/kustomization.yaml"] = "resources:\n  - ./pvc.yaml\n  - ./class.yaml\n"
        files["kubernetes/apps/default/db/app/class.yaml"] = (
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local-path\n"
            + ("  annotations:\n    defaultVolumeType: local\n" if annotated else "")
            + "provisioner: rancher.io/local-path\nvolumeBindingMode: WaitForFirstConsumer\n")
        root = write_repo(tmp_path / f"r{annotated}", files)
        r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--namespaces", "default", "--no-interactive",
                    cwd=root)
        assert r.code == 0, r.err
        text = (root / "velero-gitops.yaml").read_text()
        assert ("WARNING: StorageClass local-path" in text) is not annotated, text
        r = run_cli("render", "--wire", cwd=root)
        assert r.code == 0 and ("makes hostPath PersistentVolumes" in r.err) is not annotated, r.err
        r = run_cli("explain", cwd=root)
        assert r.code == 0 and ("Warning: the backed-up namespaces use StorageClass local-path" in r.out) \
            is not annotated, r.out
        r = run_cli("check", "--no-cache", cwd=root)
        assert ("makes hostPath PersistentVolumes" in r.out) is not annotated, r.out
        if not annotated:
            assert "kubernetes/apps/default/db/app/class.yaml" in r.out and "defaultVolumeType: local" in r.out, r.out


def test_init_reads_the_chosen_clusters_facts_only(tmp_path):
    """Another cluster of the repository installs the same StorageClass and runs a kube-prometheus-stack: its
    Kustomization is not in this cluster (kustomize-controller's dependsOn is looked up in this cluster's API:
    fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies), and its
    Prometheus selects nothing here. init for `main` names neither (seen by a fresh adopter on a public repository of
    three clusters: a dependsOn `check` then refused, and a Prometheus label no Prometheus of the cluster selects)."""
    files = dict(FILES)
    files["clusters/other/flux-system/gotk-sync.yaml"] = FILES["clusters/main/flux-system/gotk-sync.yaml"].replace(
        "./clusters/main", "./clusters/other")
    files["clusters/other/flux-system/kustomization.yaml"] = "resources:\n  - gotk-sync.yaml\n"
    files["clusters/other/apps.yaml"] = FILES["clusters/main/apps.yaml"].replace("./kubernetes/apps", "./kubernetes/aaa-other")
    files["kubernetes/aaa-other/kustomization.yaml"] = "resources:\n  - ./storage.yaml\n  - ./prometheus.yaml\n"
    files["kubernetes/aaa-other/storage.yaml"] = (
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: openebs-hostpath\n"
        "provisioner: openebs.io/local\n")
    files["kubernetes/aaa-other/prometheus.yaml"] = (
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata:\n  name: other\n  namespace: monitoring\n"
        "spec:\n  ruleSelector:\n    matchLabels:\n      release: other\n  serviceMonitorSelector:\n    matchLabels:\n"
        "      release: other\n  podMonitorSelector:\n    matchLabels:\n      release: other\n")
    root = write_repo(tmp_path / "ops", files)
    r = run_cli("init", "--cluster", "main", "--s3-endpoint", "https://s3.example.org", "--namespaces", "default",
                "--no-interactive", cwd=root)
    assert r.code == 0, r.err
    loaded = load(root / "velero-gitops.yaml")
    assert [(d.name, d.namespace) for d in loaded.config.flux.depends_on] == [("openebs", "openebs-system")]
    assert "release" not in loaded.config.metrics.additional_labels


def test_a_cluster_folder_that_is_no_label_names_the_cluster_as_a_label(tmp_path):
    """`--cluster main_site` selects the sync root by its folder; the config's `cluster` ends up in labels, so it is
    that folder's name made a DNS label (config/names.py), for init as for import (a fresh adopter's import stopped on
    `talos_cluster`, pointing into a file that was never written)."""
    files = {k.replace("clusters/main/", "clusters/main_site/"): v.replace("./clusters/main", "./clusters/main_site")
             for k, v in FILES.items()}
    files["clusters/other/flux-system/gotk-sync.yaml"] = files["clusters/main_site/flux-system/gotk-sync.yaml"].replace(
        "./clusters/main_site", "./clusters/other")
    files["clusters/other/flux-system/kustomization.yaml"] = "resources:\n  - gotk-sync.yaml\n"
    root = write_repo(tmp_path / "ops", files)
    r = run_cli("init", "--cluster", "main_site", "--s3-endpoint", "https://s3.example.org", "--namespaces", "default",
                "--no-interactive", cwd=root)
    assert r.code == 0, r.err
    assert load(root / "velero-gitops.yaml").config.cluster == "main-site"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["spec", "spec.dependsOn", "spec.dependsOn.0", "spec.postBuild", "spec.decryption",
                              "spec.targetNamespace", "metadata"]),
       value=st.one_of(st.just("0x10"), st.integers(), st.just([[1]]), st.just(["x"]), st.booleans()))
@example(field="spec.dependsOn", value=5)
@example(field="spec", value="0x10")
def test_a_flux_field_of_any_type_is_read_through_the_typed_model(tmp_path, field, value):
    """The API server refuses a Kustomization whose dependsOn is no list (fluxcd/kustomize-controller@v1.9.4:
    api/v1/kustomization_types.go DependsOn []DependencyReference), but the repository may hold one: storage.read and
    the disaster-recovery order read dependsOn through the typed model (validate/fluxmodel.py), which the schema pass
    reports, never a TypeError (before: `dependsOn: 5`, `spec: "0x10"` raised at ops/storage.py)."""
    files = dict(FILES)
    path = "kubernetes/apps/default/db/ks.yaml"
    doc = yaml.safe_load(files[path])
    parts = field.split(".")
    node = doc
    for k in parts[:-1]:
        if k == "dependsOn" and not isinstance(node.get(k), list):
            node[k] = [{"name": "openebs"}]
        node = node[int(k)] if isinstance(node, list) else node[k]
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    files[path] = "---\n" + yaml.safe_dump(doc)
    root = write_repo(tmp_path / f"p{abs(hash((field, repr(value))))}", files)
    storage.read(root, SOURCES)
