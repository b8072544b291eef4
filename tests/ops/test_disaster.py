"""The disaster-recovery procedure, walked step by step against a small model of Flux and Velero.

The model follows the code that decides the outcome (each rule cites it):

* Velero restore (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem): nodes, events, backups and
  restores are never restored (pkg/controller/restore_controller.go nonRestorableResources); an object that
  already exists is skipped with a warning; a PV with a pod volume backup is not restored but re-provisioned
  (`hasPodVolumeBackup`); PodVolumeRestores are created only for pods the restore created
  (`restorePodVolumeBackups(ctx, createdObj, ...)` comes after the create, not on the AlreadyExists path); the
  kopia repository opens only with the password it was created with, and Velero creates the public default
  when the Secret is missing (pkg/repository/keys/keys.go EnsureCommonRepositoryKey).
* Velero backups: a backup into a ReadOnly storage location fails validation (pkg/controller/backup_controller.go).
* kustomize-controller (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go): a
  suspended Kustomization is not reconciled; dependsOn waits for Ready; spec.patches (JSON 6902) apply to the
  build; targetNamespace sets the namespace; server-side apply as one field manager, so a field that is no
  longer applied is removed; deleting a Kustomization with prune: false deletes nothing.
* The app is a StatefulSet (a database): its pod has a stable name, `db-0`, which the controller creates only when
  it does not exist (a restored `db-0` is the StatefulSet's pod).
* Velero copies pod volume data only after it created every item (pkg/restore/restore.go execute waits on
  podVolumeWaitGroup at the end), so a Flux object restored in an app namespace exists while its data is not back;
  helm-controller (fluxcd/helm-controller@v1.6.3) upgrades a HelmRelease as soon as it exists and its controller
  runs, hooks first.

The rendered home-lab tree (clusters/home-lab, kept in sync by `render --check`) is used as is, plus one app
of the user with a volume. The commands come from `ops.disaster.procedure`: the walk dispatches on them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from velero_gitops.config.loader import load
from velero_gitops.ops import disaster
from velero_gitops.render.layout import Layout

from cli_util import EXAMPLE, REPO

PASSWORD = "password-from-git"
DEFAULT_PASSWORD = "static-passw0rd"  # pkg/repository/keys/keys.go encryptionKey
PAYLOAD = "the database files"
NON_RESTORABLE = {"Node", "Event", "Backup", "Restore"}
# Velero's default restore order for what the app holds (pkg/cmd/server/config defaultRestorePriorities)
PRIORITY = ["Namespace", "PersistentVolume", "PersistentVolumeClaim", "Secret", "ConfigMap", "Pod", "StatefulSet"]

# The storage the restored PVCs need, declared as home-ops repositories declare it: a bare ks.yaml whose interval,
# prune and sourceRef come from the sync root's patch and whose namespace from its folder's kustomization.yaml
# (onedr0p/cluster-template kubernetes/flux/cluster/ks.yaml). The CRD requires those three
# (fluxcd/kustomize-controller@v1.9.4:config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml,
# spec.required): the raw file is refused by the API server.
KS_REQUIRED = {"interval", "prune", "sourceRef"}
SOURCE = {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}
STORAGE_FILES = {
    "kubernetes/flux/cluster/ks.yaml": {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "cluster-apps", "namespace": "flux-system"},
        "spec": {"interval": "1h", "path": "./kubernetes/apps", "prune": True, "sourceRef": SOURCE,
                 "patches": [{"target": {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization"},
                              "patch": yaml.safe_dump({"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                                                       "kind": "Kustomization", "metadata": {"name": "_"},
                                                       "spec": {"interval": "1h", "prune": True,
                                                                "sourceRef": SOURCE}})}]}},
    "kubernetes/apps/openebs-system/kustomization.yaml": {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                                         "kind": "Kustomization", "namespace": "flux-system",
                                                         "resources": ["./openebs/ks.yaml"]},
    "kubernetes/apps/openebs-system/openebs/ks.yaml": {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "openebs"},
        "spec": {"path": "./kubernetes/apps/openebs-system/openebs/app"}},
    "kubernetes/apps/openebs-system/openebs/app/kustomization.yaml": {  # the provisioner: the model's stand-in
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": []},
    "kubernetes/apps/kustomization.yaml": {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                           "resources": ["./velero", "./database", "./openebs-system"]},
}
APP_FILES = {
    "kubernetes/apps/database/kustomization.yaml": {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                                    "resources": ["./namespace.yaml", "./db/ks.yaml"]},
    "kubernetes/apps/database/namespace.yaml": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "database"}},
    "kubernetes/apps/database/db/ks.yaml": {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "db", "namespace": "flux-system"},
        "spec": {"path": "./kubernetes/apps/database/db/app", "targetNamespace": "database", "prune": True,
                 "dependsOn": [{"name": "openebs", "namespace": "flux-system"}],
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}}},
    "kubernetes/apps/database/db/app/kustomization.yaml": {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                                          "kind": "Kustomization", "resources": ["./db.yaml"]},
    "kubernetes/apps/database/db/app/db.yaml": [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
         "spec": {"storageClassName": "openebs-hostpath"}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
         "spec": {"selector": {"app": "db"}, "volumes": {"data": "data"}}},
    ],
    # the user's root: what `flux bootstrap` makes the flux-system Kustomization apply
    "kubernetes/apps/kustomization.yaml": {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                           "resources": ["./velero", "./database"]},
}


def _key(o: dict) -> tuple[str, str, str]:
    md = o.get("metadata", {})
    return o["kind"], md.get("namespace", ""), md["name"]


@dataclass
class Cluster:
    objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    created_by: dict[tuple[str, str, str], str] = field(default_factory=dict)
    volumes: dict[tuple[str, str], str | None] = field(default_factory=dict)  # PVC -> data on its volume
    warnings: list[str] = field(default_factory=list)
    backups_refused: list[str] = field(default_factory=list)
    helm_upgrades: list[tuple[str, str | None]] = field(default_factory=list)  # app release, its volume's data then

    def get(self, kind: str, ns: str, name: str) -> dict | None:
        return self.objects.get((kind, ns, name))

    def apply(self, o: dict, by: str) -> None:
        """Server-side apply by one field manager: the applied object replaces what that manager owned."""
        k = _key(o)
        self.objects[k] = o
        self.created_by.setdefault(k, by)

    def kinds(self, kind: str) -> list[dict]:
        return [o for k, o in self.objects.items() if k[0] == kind]

    def settle(self, provisioner: bool) -> None:
        """The controllers: helm-controller installs Velero, workload controllers make pods, the provisioner volumes."""
        for hr in self.kinds("HelmRelease"):
            ns = hr["metadata"]["namespace"]
            if "configuration" not in hr["spec"].get("values", {}):
                continue  # an app's release: Flux.react
            bsl = hr["spec"]["values"]["configuration"]["backupStorageLocation"][0]
            self.apply({"kind": "BackupStorageLocation", "metadata": {"name": bsl["name"], "namespace": ns},
                        "spec": {"accessMode": bsl["accessMode"]}}, "helm-controller")
            if not self.get("Secret", ns, "velero-repo-credentials"):
                self.apply({"kind": "Secret", "metadata": {"name": "velero-repo-credentials", "namespace": ns},
                            "data": {"repository-password": DEFAULT_PASSWORD}}, "velero")
        for sts in self.kinds("StatefulSet"):
            ns, pod = sts["metadata"]["namespace"], f"{sts['metadata']['name']}-0"
            if not self.get("Pod", ns, pod):
                self.apply({"kind": "Pod", "metadata": {"name": pod, "namespace": ns,
                                                        "labels": {"app": sts["spec"]["selector"]["app"]}},
                            "spec": {"volumes": sts["spec"]["volumes"]}}, "statefulset-controller")
        for pod in self.kinds("Pod"):
            for pvc in pod["spec"]["volumes"].values():
                vkey = (pod["metadata"]["namespace"], pvc)
                if provisioner and self.get("PersistentVolumeClaim", *vkey) and vkey not in self.volumes:
                    self.volumes[vkey] = None  # a new, empty volume; the app starts on it

    def velero_backup(self, name: str) -> None:
        bsl = self.kinds("BackupStorageLocation")
        if bsl and bsl[0]["spec"]["accessMode"] == "ReadOnly":
            self.backups_refused.append(name)


def _backup_of_old_cluster() -> tuple[list[dict], list[dict]]:
    """What the daily backup of the old cluster holds: the objects and one pod volume backup."""
    items = [
        {"kind": "Namespace", "metadata": {"name": "database"}},
        {"kind": "PersistentVolume", "metadata": {"name": "pvc-1"}, "spec": {"claim": ("database", "data")}},
        {"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "database"},
         "spec": {"storageClassName": "openebs-hostpath"}},
        {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "database"},
         "spec": {"selector": {"app": "db"}, "volumes": {"data": "data"}}},
        {"kind": "Pod", "metadata": {"name": "db-0", "namespace": "database", "labels": {"app": "db"}},
         "spec": {"volumes": {"data": "data"}}},
        {"kind": "Event", "metadata": {"name": "db.1", "namespace": "database"}},
        # the app's HelmRelease, kept in its namespace (a migration hook runs at each upgrade)
        {"kind": "HelmRelease", "metadata": {"name": "db", "namespace": "database"},
         "spec": {"values": {}, "volume": ("database", "data")}},
    ]
    pvbs = [{"pod": ("database", "db-0"), "volume": "data", "pvc": "data", "data": PAYLOAD, "password": PASSWORD}]
    return items, pvbs


def velero_restore(cluster: Cluster, items: list[dict], pvbs: list[dict], excluded: set[str],
                   controllers: Flux | None = None) -> list[str]:
    """restoreItem for each item in priority order, the running ``controllers`` reacting to each created item; the
    pod volume data comes back after every item (execute waits on the pod volume restores last). Returns the volumes
    whose data came back."""
    restored, copies = [], []
    ns_secret = next(o for o in cluster.kinds("Secret") if o["metadata"]["name"] == "velero-repo-credentials")
    for item in sorted(items, key=lambda o: PRIORITY.index(o["kind"]) if o["kind"] in PRIORITY else len(PRIORITY)):
        if item["kind"] in NON_RESTORABLE or item["metadata"].get("namespace") in excluded:
            continue
        if item["kind"] == "PersistentVolume" and any((p["pod"][0], p["pvc"]) == item["spec"]["claim"] for p in pvbs):
            continue  # hasPodVolumeBackup: re-provisioned by the PVC's storage class, not restored
        if cluster.get(*_key(item)):
            cluster.warnings.append(f"could not restore, {item['kind']}:{item['metadata']['name']} already exists")
            continue
        cluster.apply(item, "velero")
        if item["kind"] == "Pod":  # created by the restore: restore-wait init container + PodVolumeRestores
            for p in pvbs:
                if p["pod"] == (item["metadata"]["namespace"], item["metadata"]["name"]):
                    ok = ns_secret["data"]["repository-password"] == p["password"]
                    cluster.volumes[(p["pod"][0], p["pvc"])] = None
                    copies.append((p, ok))
        if controllers is not None:
            controllers.react()
    for p, ok in copies:
        cluster.volumes[(p["pod"][0], p["pvc"])] = p["data"] if ok else None
        restored += [p["volume"]] if ok else []
    return restored


class Flux:
    """kustomize-controller over the repository at ``root``."""

    def __init__(self, root: Path, cluster: Cluster):
        self.root, self.cluster = root, cluster
        self.installed = False
        self.source = False
        self.running = True  # the controllers' Deployments in flux-system have replicas

    def react(self) -> None:
        """helm-controller: each app HelmRelease not yet reconciled is upgraded now, if the controller runs."""
        done = {name for name, _ in self.cluster.helm_upgrades}
        for hr in self.cluster.kinds("HelmRelease"):
            vol = hr["spec"].get("volume")
            if self.running and vol and hr["metadata"]["name"] not in done:
                self.cluster.helm_upgrades.append((hr["metadata"]["name"], self.cluster.volumes.get(vol)))

    def _docs(self, path: Path) -> list[dict]:
        return [d for d in yaml.safe_load_all(path.read_text()) if d]

    def build(self, d: Path) -> list[dict]:
        out = []
        (kfile,) = self._docs(d / "kustomization.yaml")
        for r in kfile["resources"]:
            p = (d / r).resolve()
            out += self.build(p) if p.is_dir() else self._docs(p)
        return out

    def _ready(self, ks: dict) -> bool:
        return all(self.cluster.get("Kustomization", dep.get("namespace", ""), dep["name"]) is not None
                   and self.cluster.get("Kustomization", dep.get("namespace", ""), dep["name"]).get("_ready")
                   for dep in ks["spec"].get("dependsOn", []))

    def reconcile(self) -> None:
        for _ in range(10):
            changed = False
            for ks in list(self.cluster.kinds("Kustomization")):
                if ks["spec"].get("suspend") or ks.get("_ready") or not self._ready(ks):
                    continue
                objs = [_patched(o, ks["spec"].get("patches", [])) for o in self.build(self.root / ks["spec"]["path"])]
                for o in objs:
                    o = dict(o)
                    tn = ks["spec"].get("targetNamespace")
                    if tn and o["kind"] not in ("Namespace", "Kustomization", "PersistentVolume"):
                        o["metadata"] = {**o["metadata"], "namespace": tn}
                    if o["kind"] == "Secret" and "sops" in o:  # decrypted with the age key: the old cluster's password
                        o = {k: v for k, v in o.items() if k != "sops"} | {"data": {"repository-password": PASSWORD}}
                    self.cluster.apply(o, "kustomize-controller")
                ks["_ready"] = True
                changed = True
                self.cluster.settle(provisioner=self.cluster.get("Kustomization", "flux-system", "openebs") is not None)
            if not changed:
                return

    def apply_file(self, rel: str) -> None:
        for o in self._docs(self.root / rel):
            self.cluster.apply(o, "kubectl")
        self.reconcile()


def _patched(o: dict, patches: list[dict]) -> dict:
    """Patches on the objects their target selects: a strategic merge of a spec (maps merge), JSON 6902 add/replace."""
    import copy

    o = copy.deepcopy(o)
    for p in patches:
        t = p["target"]
        if t["kind"] != o["kind"] or t.get("name", o["metadata"]["name"]) != o["metadata"]["name"]:
            continue
        doc = yaml.safe_load(p["patch"])
        if isinstance(doc, dict):
            o["spec"] = {**o.get("spec", {}), **doc.get("spec", {})}
            continue
        for op in doc:
            *parents, last = op["path"].strip("/").split("/")
            node = o
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
            if isinstance(node, list):
                node[int(last)] = op["value"]
            else:
                assert op["op"] == "add" or last in node, op
                node[last] = op["value"]
    return o


def _repo(tmp_path: Path, storage: bool = False) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    for rel, content in {**APP_FILES, **(STORAGE_FILES if storage else {})}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        docs = content if isinstance(content, list) else [content]
        (root / rel).write_text(yaml.safe_dump_all(docs))
    return root


def _bootstrap(flux: Flux) -> None:
    """`flux bootstrap`: the flux-system Kustomization applies the cluster's root, here the apps folder."""
    flux.cluster.apply({"kind": "Kustomization", "metadata": {"name": "flux-system", "namespace": "flux-system"},
                        "spec": {"path": "kubernetes/apps", "prune": True}}, "flux-bootstrap")
    flux.reconcile()


def _openebs(cluster: Cluster) -> None:
    cluster.apply({"kind": "Kustomization", "metadata": {"name": "openebs", "namespace": "flux-system"},
                   "spec": {"path": "-", "prune": True}, "_ready": True}, "kubectl")


def test_old_procedure_flux_first_restores_no_data(tmp_path):
    """The former docs/restore-drill.md section 7: bootstrap Flux, then restore. Flux and the ReplicaSet create the
    namespace, the PVC and the pod first; Velero skips them all, starts no PodVolumeRestore, and the volume stays
    empty while the restore reports only warnings."""
    root = _repo(tmp_path)
    cluster = Cluster()
    flux = Flux(root, cluster)
    _openebs(cluster)
    _bootstrap(flux)
    assert cluster.created_by[("Pod", "database", "db-0")] == "statefulset-controller"
    assert not cluster.get("Kustomization", "flux-system", "velero-disaster-recovery")  # never applied by Flux
    items, pvbs = _backup_of_old_cluster()
    restored = velero_restore(cluster, items, pvbs, excluded={"velero", "flux-system"})
    assert restored == []
    assert cluster.volumes[("database", "data")] is None
    assert any("PersistentVolumeClaim:data already exists" in w for w in cluster.warnings)


def test_procedure_restores_the_data_before_flux_applies_the_apps(tmp_path):
    """Each step of `velero-gitops disaster-recovery`, in order, on the rendered tree: the restore creates the pod,
    so its PodVolumeRestore copies the data back with the password from Git; no backup is written meanwhile; after
    the bootstrap Flux owns everything, the restored pod keeps its data, the location is ReadWrite again and the
    Schedules exist."""
    root = _repo(tmp_path, storage=True)
    loaded = load(root / "velero-gitops.yaml")
    lay = Layout.of(loaded.config)
    cluster = Cluster()
    flux = Flux(root, cluster)
    items, pvbs = _backup_of_old_cluster()
    steps = disaster.procedure(loaded, backup="daily-20261201020000")
    seen = []
    for step in steps:
        cmd = step.commands[0]
        if cmd.startswith(("velero-gitops check", "flux install", "flux create source")):
            pass  # workstation checks; controllers; the source: no object of the tree yet
        elif cmd.startswith("kubectl apply -f - <<'EOF'"):
            (obj,) = yaml.safe_load_all(cmd.split("\n", 1)[1].rsplit("\nEOF", 1)[0])
            assert KS_REQUIRED <= set(obj["spec"]) and obj["metadata"]["namespace"] == "flux-system", obj
            assert (obj["metadata"]["name"], obj["spec"]["sourceRef"]) == ("openebs", SOURCE)
            _openebs(cluster)
        elif cmd == f"kubectl apply -f {lay.disaster_recovery_file}":
            flux.apply_file(lay.disaster_recovery_file)
            assert cluster.get("BackupStorageLocation", "velero", "default")["spec"]["accessMode"] == "ReadOnly"
            assert cluster.get("Secret", "velero", "velero-repo-credentials")["metadata"]["name"]
            assert cluster.created_by[("Secret", "velero", "velero-repo-credentials")] == "kustomize-controller"
            assert cluster.get("Kustomization", "flux-system", "velero-schedules")["spec"]["suspend"] is True
            assert not cluster.kinds("Schedule")
            assert not cluster.get("Namespace", "", "database")  # the apps are not applied
            cluster.velero_backup("manual-during-restore")
        elif cmd.startswith("kubectl -n flux-system scale deployment --all --replicas=0"):
            flux.running = False
            restore, *_, up, wait = step.commands[1:]
            assert restore.startswith("velero-gitops restore-manifest")
            assert "--exclude-namespaces velero,flux-system" in restore
            assert velero_restore(cluster, items, pvbs, excluded={"velero", "flux-system"}, controllers=flux) == ["data"]
            assert cluster.created_by[("Pod", "database", "db-0")] == "velero"
            assert cluster.helm_upgrades == []  # nothing reconciled the restored HelmRelease meanwhile
            assert up.startswith("kubectl -n flux-system scale deployment --all --replicas=1") and "wait" in wait
            flux.running = True
            flux.react()
        elif cmd.startswith("kubectl -n flux-system delete kustomization"):
            name = cmd.rsplit(" ", 1)[1]
            assert name == "velero-disaster-recovery"
            del cluster.objects[("Kustomization", "flux-system", name)]  # prune: false: nothing else goes
        elif cmd.startswith("kubectl apply -f kubernetes/flux/cluster/ks.yaml"):  # the repository's sync root
            for k in cluster.kinds("Kustomization"):
                if k["spec"]["path"] != "-":  # the storage stand-in stays Ready
                    k.pop("_ready", None)
            _bootstrap(flux)
        else:
            raise AssertionError(f"step not modelled: {cmd}")
        seen.append(step.title)
    assert len(seen) == len(steps) == 8
    assert cluster.volumes[("database", "data")] == PAYLOAD
    assert cluster.get("BackupStorageLocation", "velero", "default")["spec"]["accessMode"] == "ReadWrite"
    assert [s["metadata"]["name"] for s in cluster.kinds("Schedule")] == ["daily"]
    assert cluster.backups_refused == ["manual-during-restore"]
    assert cluster.helm_upgrades == [("db", PAYLOAD)]  # upgraded once, on the restored data


def test_flux_controllers_left_running_upgrade_a_restored_helmrelease_before_its_data_is_back(tmp_path):
    """The restore step without stopping Flux's controllers: Velero creates the app's HelmRelease (Flux kinds are
    not in Velero's priorities, they come after pods: vmware-tanzu/velero@v1.18.1:pkg/cmd/server/config/config.go
    defaultRestorePriorities) and helm-controller upgrades it at once, hooks and all, on a volume still empty."""
    root = _repo(tmp_path)
    cluster = Cluster()
    flux = Flux(root, cluster)
    _openebs(cluster)
    flux.apply_file(Layout.of(load(root / "velero-gitops.yaml").config).disaster_recovery_file)
    items, pvbs = _backup_of_old_cluster()
    assert velero_restore(cluster, items, pvbs, excluded={"velero", "flux-system"}, controllers=flux) == ["data"]
    assert cluster.helm_upgrades == [("db", None)]


def test_without_the_password_in_git_velero_makes_the_default_and_the_restore_fails(tmp_path):
    """Velero creates `static-passw0rd` when velero-repo-credentials is missing at start
    (vmware-tanzu/velero@v1.18.1:pkg/repository/keys/keys.go); the old repositories do not open with it."""
    root = _repo(tmp_path)
    (root / "kubernetes/apps/velero/velero/app/kustomization.yaml").write_text(
        (root / "kubernetes/apps/velero/velero/app/kustomization.yaml").read_text().replace("  - ./repo-credentials.sops.yaml\n", ""))
    cluster = Cluster()
    flux = Flux(root, cluster)
    _openebs(cluster)
    flux.apply_file(Layout.of(load(root / "velero-gitops.yaml").config).disaster_recovery_file)
    assert cluster.created_by[("Secret", "velero", "velero-repo-credentials")] == "velero"
    items, pvbs = _backup_of_old_cluster()
    assert velero_restore(cluster, items, pvbs, excluded={"velero", "flux-system"}) == []


def _kustomize_with(tmp: Path, resource: Path, patches: list[dict]) -> list[dict]:
    """`kubectl kustomize` of ``resource`` with a Flux Kustomization's spec.patches, as kustomize-controller adds them
    to the kustomization it builds (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go)."""
    import os
    import subprocess

    from cli_util import require_kubectl

    tmp.mkdir()
    (tmp / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(resource, tmp)], "patches": patches}))
    proc = subprocess.run([require_kubectl(), "kustomize", "--load-restrictor=LoadRestrictionsNone", str(tmp)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "KUBECONFIG": os.devnull})
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def test_entry_point_patches_apply_with_real_kustomize(tmp_path):
    """The two levels of patches of the rendered entry point, built by kustomize (kubectl kustomize) as the controller
    builds them: the namespace folder gets a suspended Schedules Kustomization and an app Kustomization whose own
    patches make the HelmRelease's storage location ReadOnly, and touch nothing else."""
    lay = Layout.of(load(EXAMPLE / "velero-gitops.yaml").config)
    (dr,) = yaml.safe_load_all((EXAMPLE / lay.disaster_recovery_file).read_text())
    assert dr["spec"]["prune"] is False and dr["spec"]["path"] == f"./{lay.namespace_dir}"
    built = {(o["kind"], o["metadata"]["name"]): o
             for o in _kustomize_with(tmp_path / "one", EXAMPLE / lay.namespace_dir, dr["spec"]["patches"])}
    plain = {(o["kind"], o["metadata"]["name"]): o
             for o in yaml.safe_load_all((EXAMPLE / lay.ks_file).read_text()) if o}
    assert built[("Kustomization", "velero-schedules")]["spec"] == {**plain[("Kustomization", "velero-schedules")]["spec"], "suspend": True}
    app = built[("Kustomization", "velero")]["spec"]
    assert {k: v for k, v in app.items() if k != "patches"} == plain[("Kustomization", "velero")]["spec"]
    assert built[("Kustomization", "velero-monitoring")] == plain[("Kustomization", "velero-monitoring")]
    (hr,) = [o for o in _kustomize_with(tmp_path / "two", EXAMPLE / lay.app_dir / "helmrelease.yaml", app["patches"])
             if o["kind"] == "HelmRelease"]
    (hr_plain,) = yaml.safe_load_all((EXAMPLE / lay.app_dir / "helmrelease.yaml").read_text())
    bsl = hr["spec"]["values"]["configuration"]["backupStorageLocation"]
    assert [b["accessMode"] for b in bsl] == ["ReadOnly"]
    bsl[0]["accessMode"] = "ReadWrite"
    assert hr == hr_plain


def test_cli_prints_the_steps_in_order_with_this_configs_names():
    from cli_util import run_cli

    r = run_cli("disaster-recovery", "--config", str(EXAMPLE / "velero-gitops.yaml"), "--from-backup", "daily-1")
    assert r.code == 0, r.err
    order = ["flux install", "flux create source git flux-system", "kubectl apply -f <the Kustomization flux-system/openebs,",
             "kubectl apply -f kubernetes/apps/velero/velero/disaster-recovery.yaml", "--from-backup daily-1",
             "delete kustomization velero-disaster-recovery", "flux bootstrap"]
    assert [r.out.index(s) for s in order] == sorted(r.out.index(s) for s in order)


def test_every_wait_names_an_object_that_exists_by_then():
    """`kubectl wait` on a named object that does not exist exits at once with NotFound (it waits for existence only
    with --for=create, kubectl >= 1.31). Kustomization velero is created by kustomize-controller from
    velero-disaster-recovery (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go,
    apply), so the entry point's own Kustomization, which `kubectl apply` creates, is waited for first."""
    from cli_util import run_cli

    r = run_cli("disaster-recovery", "--config", str(EXAMPLE / "velero-gitops.yaml"), "--from-backup", "daily-1")
    assert r.code == 0, r.err
    applied = r.out.index("kubectl apply -f kubernetes/apps/velero/velero/disaster-recovery.yaml")
    own = r.out.index("wait kustomization/velero-disaster-recovery --for=condition=Ready")
    child = r.out.index("wait kustomization/velero --for=condition=Ready")
    assert applied < own < child


def test_the_fresh_backup_needs_no_velero_cli(tmp_path):
    """The last step's fresh backup is given as the tool's own backup-manifest too (the Backup as
    `velero backup create --from-schedule` makes it: vmware-tanzu/velero@v1.18.1:pkg/builder/backup_builder.go
    FromSchedule, label velero.io/schedule-name), so a GitOps user without the velero CLI can run it; the line runs."""
    import shlex

    from cli_util import clean_env, run_cli

    r = run_cli("disaster-recovery", "--config", str(EXAMPLE / "velero-gitops.yaml"), "--from-backup", "daily-1")
    assert r.code == 0, r.err
    line = next(ln for ln in r.out.splitlines() if "backup-manifest --from-schedule daily" in ln)
    assert r.out.index(line) < r.out.index("velero backup create --from-schedule daily")
    args = shlex.split(line.split("|", 1)[0])[1:]
    made = run_cli(*args, cwd=EXAMPLE, exact_env=clean_env(tmp_path))
    assert made.code == 0 and "velero.io/schedule-name: daily" in made.out, made.err


def test_a_password_not_in_git_is_called_out(tmp_path):
    """With velero.repositoryPassword other than managed, Git does not hold the password: the step says so."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cluster: x\ns3:\n  endpoint: https://s3.example.test\nvelero:\n  repositoryPassword: elsewhere\n"
                   "flux:\n  decryption:\n    keyFrom: controller\n")
    steps = disaster.procedure(load(cfg))
    text = disaster.as_text(steps)
    assert "NOT the kopia password Secret" in text and "--sops-age-secret" in text
    assert "repo-credentials.sops.yaml" not in text
    assert not any("ks.yaml of" in c for s in steps for c in s.commands)  # no flux.dependsOn: no such step


def test_entry_point_injects_the_decryption_a_root_patch_would(tmp_path):
    """With flux.decryption.enabled false a root Kustomization patches decryption in; during the restore that root
    is not applied, so the entry point adds the decryption flux.decryption describes (here the controller-wide key:
    kustomize-controller v1.7.0+ --sops-age-secret, no secretRef)."""
    golden = REPO / "tests/golden/root-patch"
    lay = Layout.of(load(golden / "velero-gitops.yaml").config)
    (dr,) = yaml.safe_load_all((golden / lay.disaster_recovery_file).read_text())
    built = {o["metadata"]["name"]: o for o in _kustomize_with(tmp_path / "b", golden / lay.namespace_dir, dr["spec"]["patches"])
             if o["kind"] == "Kustomization"}
    assert built["velero"]["spec"]["decryption"] == {"provider": "sops"}
    (plain,) = [o for o in yaml.safe_load_all((golden / lay.ks_file).read_text()) if o and o["metadata"]["name"] == "velero"]
    assert "decryption" not in plain["spec"]


@pytest.mark.parametrize("files,says", [
    # flux-operator: the FluxInstance's spec.sync is the root (controlplaneio-fluxcd/flux-operator
    # internal/builder/templates.go); nothing runs `flux bootstrap` there
    ({"kubernetes/flux/instance.yaml": {
        "apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
        "metadata": {"name": "flux", "namespace": "flux-system"},
        "spec": {"distribution": {"version": "2.x"},
                 "sync": {"kind": "GitRepository", "url": "https://example.org/r.git", "ref": "refs/heads/main",
                          "path": "kubernetes/apps"}}}},
     ["helm install flux-operator", "kubectl apply -f kubernetes/flux/instance.yaml"]),
    # `flux bootstrap --path=clusters/lab` writes clusters/lab/flux-system/gotk-sync.yaml (fluxcd/flux2 bootstrap)
    ({"clusters/lab/flux-system/gotk-sync.yaml": {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./clusters/lab", "prune": True, "sourceRef": SOURCE}},
      "clusters/lab/apps.yaml": {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./kubernetes/apps", "prune": True, "sourceRef": SOURCE}}},
     ["flux bootstrap <provider> ... --path=./clusters/lab"]),
])
def test_the_bootstrap_step_starts_the_repositorys_own_sync_root(tmp_path, files, says):
    """The last step starts what the repository is synced from (ops/wiring.py sync_roots), not always
    `flux bootstrap`."""
    root = _repo(tmp_path)
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(yaml.safe_dump(content))
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    last = steps[-1].commands
    for s in says:
        assert any(c.startswith(s) for c in last), last
    if "helm install flux-operator" in says:
        assert not any("flux bootstrap" in c for c in last)


def test_external_credentials_are_provided_first_not_decrypted(tmp_path):
    """With s3.credentialsFrom external the tree holds no secret.sops.yaml: no `sops decrypt` of it; a step before
    Velero says that the credentials provider must run first (the BSL is validated with them:
    vmware-tanzu/velero@v1.18.1:pkg/controller/backup_storage_location_controller.go)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cluster: x\ns3:\n  endpoint: https://s3.example.test\n  credentialsFrom: external\n"
                   "  credentialsSecret: minio-creds\n")
    loaded = load(cfg)
    steps = disaster.procedure(loaded, repo=disaster.Repository({}, ("flux bootstrap",)))
    text = disaster.as_text(steps)
    assert "secret.sops.yaml" not in text
    titles = [s.title for s in steps]
    provide = titles.index("Provide the S3 credentials Secret velero/minio-creds first")
    assert provide < next(i for i, s in enumerate(titles) if s.startswith("Apply the disaster-recovery entry point"))
    assert "made outside the repository" in steps[provide].exists_after


# ------------------------------------------------------------------------ a repository that installs its own network
_SRC = "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n"


def _hr_app(ns: str, name: str, values: str) -> dict[str, str]:
    d = f"kubernetes/apps/{ns}/{name}"
    return {
        f"{d}/ks.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
                        f"  name: {name}\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./{d}/app\n"
                        f"  prune: true\n  targetNamespace: {ns}\n{_SRC}",
        f"{d}/app/kustomization.yaml": "resources:\n  - ./oci.yaml\n  - ./helmrelease.yaml\n",
        f"{d}/app/oci.yaml": f"apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: {name}\n"
                             f"spec:\n  interval: 1h\n  url: oci://example.org/charts/{name}\n  ref:\n    tag: 1.2.3\n",
        f"{d}/app/helmrelease.yaml": "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
                                     f"  name: {name}\nspec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n"
                                     f"    name: {name}\n  values:\n{values}",
    }


def _talos_repo(tmp_path: Path, instance: str) -> Path:
    """The adopter's shape (andycooney/home-ops, Talos with `cni: none`): Cilium and the FluxInstance are
    HelmReleases of the tree (a bootstrap helmfile installs the same releases from their values), and the sync path
    applies cluster/ks.yaml, which builds the apps."""
    from layout_fixtures import write_repo

    files = {
        "kubernetes/flux/cluster/ks.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
                                           "metadata:\n  name: cluster-apps\n  namespace: flux-system\nspec:\n"
                                           f"  interval: 1h\n  path: ./kubernetes/apps\n  prune: true\n{_SRC}",
        "kubernetes/apps/kustomization.yaml": "resources:\n  - ./kube-system/cilium/ks.yaml\n"
                                              "  - ./flux-system/flux-instance/ks.yaml\n",
        **_hr_app("kube-system", "cilium", "    cni:\n      exclusive: false\n    kubeProxyReplacement: true\n"),
        "velero-gitops.yaml": "cluster: lab\nrepo:\n  appsRoot: kubernetes/apps\ns3:\n  endpoint: https://s3.example.org\n"
                              "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n    namespaces: [default]\n",
    }
    if instance == "helmrelease":
        files.update(_hr_app("flux-system", "flux-instance",
                             "    instance:\n      components: [source-controller, kustomize-controller]\n"
                             "      sync:\n        kind: GitRepository\n        url: ssh://git@example.org/r\n"
                             "        ref: refs/heads/main\n        path: kubernetes/flux/cluster\n"))
    else:
        files["kubernetes/apps/kustomization.yaml"] = "resources:\n  - ./kube-system/cilium/ks.yaml\n"
        files["kubernetes/flux/instance.yaml"] = (
            "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata:\n  name: flux\n  namespace: flux-system\n"
            "spec:\n  distribution:\n    version: 2.x\n    registry: ghcr.io/fluxcd\n  components: [source-controller]\n"
            "  sync:\n    kind: GitRepository\n    url: ssh://git@example.org/r\n    ref: refs/heads/main\n"
            "    path: kubernetes/flux/cluster\n")
    return write_repo(tmp_path / "talos", files)


def test_the_network_comes_first_and_flux_operator_installs_without_its_sync(tmp_path):
    """Flux's controllers need pod networking: with the CNI a HelmRelease of the tree (`cni: none` on Talos), the
    procedure installs it first, from the HelmRelease's chart and values (real yq reads them). flux-operator's
    FluxInstance has an optional spec.sync (controlplaneio-fluxcd/flux-operator@v0.58.1:api/v1/fluxinstance_types.go);
    the flux-instance chart renders it only with a url (controlplaneio-fluxcd/charts@v0.14.8:
    charts/flux-instance/templates/instance.yaml), so the controllers come with the repository's own settings and
    nothing syncs until the last step turns the sync on."""
    import subprocess

    root = _talos_repo(tmp_path, "helmrelease")
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    titles = [s.title for s in steps]
    cni = titles.index("Install the cluster network (CNI) the repository installs, before any pod")
    install = titles.index("Install Flux with flux-operator, as the repository does, but without its sync")
    assert cni < install < titles.index("Restore, into a cluster where nothing of the apps exists, with Flux's controllers stopped")
    assert "flux install" not in " ".join(c for s in steps for c in s.commands)
    (helm_cni,) = [c for c in steps[cni].commands if c.startswith("helm ")]
    assert helm_cni.startswith("helm upgrade --install cilium oci://example.org/charts/cilium --version 1.2.3 "
                               "--namespace kube-system")
    values_file = helm_cni.split("yq '.spec.values' ")[1].split(")")[0]
    if shutil.which("yq"):
        out = subprocess.run(["yq", ".spec.values", values_file], cwd=root, capture_output=True, text=True, check=True)
        assert "exclusive" in out.stdout and "kubeProxyReplacement" in out.stdout
    (unsynced,) = [c for c in steps[install].commands if "flux-instance" in c]
    assert unsynced.endswith("--set instance.sync.url=      # the chart renders no spec.sync without a url")
    last = steps[-1].commands[0]
    assert last.startswith("helm upgrade --install flux-instance oci://example.org/charts/flux-instance")
    assert "--set instance.sync.url=" not in last


def test_a_flux_instance_object_is_applied_without_sync_first(tmp_path):
    root = _talos_repo(tmp_path, "object")
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    (install,) = [s for s in steps if s.title.startswith("Install Flux with flux-operator")]
    (doc,) = [c for c in install.commands if "kind: FluxInstance" in c]
    body = yaml.safe_load(doc.split("\n", 1)[1].rsplit("\n", 1)[0])
    assert body["metadata"]["name"] == "flux" and "sync" not in body["spec"]
    assert body["spec"]["components"] == ["source-controller"]
    assert any("kubectl apply -f kubernetes/flux/instance.yaml" in c for c in steps[-1].commands)


def test_without_a_repository_network_flux_install_stays(tmp_path):
    root = _repo(tmp_path)
    titles = [s.title for s in disaster.procedure(load(root / "velero-gitops.yaml"))]
    assert "Install the Flux controllers only, no sync" in titles
    assert not any("CNI" in t for t in titles)


def test_the_owners_bootstrap_helmfile_runs_first_without_the_sync_release(tmp_path):
    """andycooney/home-ops: bootstrap/helmfile.d installs Cilium, CoreDNS, flux-operator and flux-instance (the values
    of each come from the tree's HelmRelease). Its order is the owner's, but its flux-instance release syncs every
    app: the step runs the rest (helmfile's `--selector name!=...`) and the CNI step drops what the helmfile installs."""
    root = _talos_repo(tmp_path, "helmrelease")
    (root / "bootstrap/helmfile.d").mkdir(parents=True)
    (root / "bootstrap/helmfile.d/01-apps.yaml").write_text(
        "---\nreleases:\n  - name: cilium\n    namespace: kube-system\n    chart: oci://example.org/charts/cilium\n"
        "    values: ['./templates/values.yaml.gotmpl']\n  - name: coredns\n    namespace: kube-system\n"
        "    chart: oci://example.org/charts/coredns\n  - name: flux-instance\n    namespace: flux-system\n"
        "    chart: oci://example.org/charts/flux-instance\n    values: ['./templates/values.yaml.gotmpl']\n")
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    titles = [s.title for s in steps]
    first = titles.index("Run the repository's bootstrap helmfile (network, DNS...), but not what starts Flux's sync")
    assert steps[first].commands[0].startswith("helmfile --file bootstrap/helmfile.d sync --selector name!=flux-instance")
    assert not any("CNI" in t for t in titles)  # cilium comes from the helmfile
    assert first < titles.index("Install Flux with flux-operator, as the repository does, but without its sync")
