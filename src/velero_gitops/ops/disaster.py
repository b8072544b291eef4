"""The disaster-recovery procedure: a new cluster from the bucket and the Git repository, with Flux.

Printed by `velero-gitops disaster-recovery` for one config, so every name (namespaces, Kustomizations,
files, the source) is this config's. The order is what makes the restore restore data:

* Velero skips every object that already exists (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go
  restoreItem: Create, and on AlreadyExists a warning and `return`), and it starts pod volume restores only
  for the pods it creates itself (same function: restorePodVolumeBackups runs after the create, never on the
  AlreadyExists path). If Flux applies the apps first, their controllers create the pods and the PVCs; the
  restore then reports success and copies no data.
* So Velero alone comes first, from Git (its kopia repository password included), with the storage location
  ReadOnly and no Schedules; then the restore; only then Flux applies the apps.

Why not `flux suspend`: on a new cluster the app Kustomizations do not exist before the parent applies them,
and kustomize-controller reconciles each one as soon as it exists (fluxcd/kustomize-controller@v1.9.4:
internal/controller/kustomization_controller.go Reconcile; `spec.suspend` is the only gate). Suspending after
the bootstrap races the controller and loses. The apps stay out instead: nothing applies them until the
bootstrap, which comes after the restore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from velero_gitops.render.layout import Layout
from velero_gitops.render.plan import (
    disaster_recovery_kustomization_name,
    monitoring_kustomization_name,
    schedules_kustomization_name,
)

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig


@dataclass(frozen=True)
class Step:
    title: str
    commands: tuple[str, ...]
    exists_after: str  # what the cluster holds once the step is done
    cite: str  # the upstream code or doc the step relies on


def procedure(loaded: LoadedConfig, backup: str = "<backup>") -> list[Step]:
    c = loaded.config
    lay = Layout.of(c)
    cfg = loaded.display_path
    ns, app, fns = c.repo.namespace, c.repo.app, c.flux.namespace
    src = c.flux.source_ref
    dr_file = f"{lay.disaster_recovery_file}"
    dr_name = disaster_recovery_kustomization_name(c)
    password = ("the kopia password Secret velero-repo-credentials from Git (velero.repositoryPassword: managed)"
                if c.velero.repository_password == "managed" else
                "NOT the kopia password Secret velero-repo-credentials: create it with the old cluster's password "
                f"before this step (velero.repositoryPassword: {c.velero.repository_password})")
    key = (f"kubectl -n {fns} create secret generic {c.flux.decryption.secret_ref} "
           "--from-file=age.agekey=$HOME/.config/sops/age/keys.txt"
           if c.flux.decryption.key_from == "secretRef" else
           f"kubectl -n {fns} create secret generic <the --sops-age-secret name> "
           "--from-file=age.agekey=$HOME/.config/sops/age/keys.txt  "
           "# and give kustomize-controller the same --sops-age-secret flag as your flux-system patches do")
    deps = [f"{d.namespace}/{d.name}" for d in c.flux.depends_on]
    source_cmd = {
        "GitRepository": f"flux create source git {src.name} -n {src.namespace} --url=<repository URL> --branch=<branch> "
                         "[--secret-ref=<deploy key Secret>]",
        "OCIRepository": f"flux create source oci {src.name} -n {src.namespace} --url=<artifact URL> --tag=<tag>",
        "Bucket": f"flux create source bucket {src.name} -n {src.namespace} --bucket-name=<bucket> --endpoint=<endpoint>",
    }[src.kind]
    schedules = (f"Kustomization {fns}/{schedules_kustomization_name(c)} suspended, so no Schedule exists"
                 if c.schedules else "no Schedules")
    steps = [
        Step("Check the repository and your age key (on your workstation)",
             (f"velero-gitops check --config {cfg}",
              f"sops decrypt {lay.secret_file} >/dev/null && echo ok",
              *((f"sops decrypt {lay.repo_password_file} >/dev/null && echo ok",)
                if c.velero.repository_password == "managed" else ())),
             "nothing yet: the old cluster is gone; the bucket and the repository remain",
             "docs/secrets.md (the kopia repository opens only with the password it was created with)"),
        Step("Install the Flux controllers only, no sync",
             ("flux install", key),
             f"the Flux controllers and CRDs in {fns}, the age key Secret; nothing from Git is applied",
             "fluxcd/flux2@v2.7.5:cmd/flux/install.go (components only, no GitRepository or Kustomization)"),
        Step("Create the repository's source under the name the tree refers to",
             (source_cmd,),
             f"{src.kind} {src.namespace}/{src.name} with the repository's artifact; still no Kustomization",
             f"the tree's sourceRef ({src.kind}/{src.namespace}/{src.name}, flux.sourceRef)"),
    ]
    if deps:
        steps.append(Step(
            "Apply what Velero depends on (storage), and nothing else",
            tuple(f"kubectl apply -f <the ks.yaml of {d}>" for d in deps),
            f"Kustomizations {', '.join(deps)} and what they install (the volume provisioner the restored PVCs need)",
            "fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies "
            f"(Kustomization {fns}/{app} waits for flux.dependsOn)"))
    steps += [
        Step("Apply the disaster-recovery entry point: Velero alone, storage location ReadOnly",
             (f"kubectl apply -f {dr_file}",
              f"kubectl -n {fns} wait kustomization/{app} --for=condition=Ready --timeout=30m",
              f"kubectl -n {ns} get backupstoragelocations.velero.io        # ACCESS MODE ReadOnly, PHASE Available",
              f"kubectl -n {ns} get backups.velero.io                       # the old backups, synced from the bucket"),
             f"Namespace {ns}; Kustomizations {dr_name}, {app} (patched: BSL ReadOnly), {schedules}; "
             f"{monitoring_kustomization_name(c) if c.metrics.enabled else 'no monitoring'} (on its own: never blocks "
             f"Velero); the HelmRelease, the credentials and {password}; Velero and node-agent running; Backup "
             "objects synced from the bucket",
             "vmware-tanzu/velero@v1.18.1:site/content/docs/v1.18/disaster-case.md (BSL ReadOnly); "
             "pkg/controller/backup_sync_controller.go (backups come back from the bucket); "
             "pkg/controller/backup_controller.go (no backup into a ReadOnly location)"),
        Step("Restore, into a cluster where nothing of the apps exists",
             (f"velero-gitops restore-manifest dr-restore --from-backup {backup} --exclude-namespaces {ns},{fns} "
              f"--config {cfg} | kubectl apply -f -",
              f"kubectl -n {ns} get restores.velero.io dr-restore -w                  # Completed",
              f"kubectl -n {ns} get podvolumerestores.velero.io -l velero.io/restore-name=dr-restore   # all Completed"),
             "the apps' namespaces, PVCs (new volumes from the provisioner), pods created by Velero with the "
             "restore-wait init container, the volume data copied back by one PodVolumeRestore per volume",
             "vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem (existing objects are skipped; "
             "restorePodVolumeBackups only for created pods; a PV with a pod volume backup is re-provisioned), "
             "pkg/restore/actions/pod_volume_restore_action.go (restore-wait)"),
        Step("Remove the entry point; what it applied stays",
             (f"kubectl -n {fns} delete kustomization {dr_name}",),
             f"the same objects, no longer reconciled by {dr_name} (it has prune: false)",
             "fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go "
             "finalizerShouldDeleteResources (no prune, nothing deleted)"),
        Step("Bootstrap Flux as for any cluster: now it applies the apps",
             ("flux bootstrap <provider> ... --path=<this cluster's path>      # as for the old cluster",
              "flux get kustomizations --all-namespaces"),
             "everything in Git. The restored objects already exist: Flux applies Git's state onto them and the "
             f"restored pods keep their data. Kustomization {app} loses the ReadOnly patch (same field manager), "
             f"the storage location is ReadWrite again{', the Schedules are created' if c.schedules else ''}",
             "fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go (server-side apply "
             "as field manager kustomize-controller: fields it no longer applies are removed)"),
    ]
    return steps


def as_text(steps: list[Step]) -> str:
    out = ["Paths are relative to the repository root; run the commands from there.", ""]
    for i, s in enumerate(steps, 1):
        out.append(f"{i}. {s.title}")
        out.extend(f"     {cmd}" for cmd in s.commands)
        out.append(f"   On the cluster after it: {s.exists_after}")
        out.append(f"   Why: {s.cite}")
        out.append("")
    return "\n".join(out)
