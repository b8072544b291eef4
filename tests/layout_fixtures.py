"""Flux repository layouts of our own, one per class issue 18 names (for tests/ops/test_wiring.py and tests/ops/test_init.py).

Each is the smallest tree that has the class's shape, as `flux bootstrap` lays it out: clusters/<name>/flux-system/
holds the GitRepository and the root Kustomization flux-system/flux-system building ./clusters/<name>
(fluxcd/flux2 bootstrap); clusters/<name> has no kustomization.yaml unless the layout needs one, so kustomize-
controller generates one there (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go).
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_repo(root: Path, files: dict[str, str]) -> Path:
    """A Git work tree at ``root`` holding ``files`` (relative path -> text)."""
    import subprocess

    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def ks(name: str, path: str, extra: str = "") -> str:
    return (f"---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
            f"  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n"
            f"  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}")


def app(d: Path, name: str) -> None:
    """An app folder as home-ops repositories have them: <ns>/kustomization.yaml listing <app>/ks.yaml."""
    (d / name).mkdir(parents=True, exist_ok=True)
    (d / "kustomization.yaml").write_text(f"resources:\n  - ./{name}/ks.yaml\n")
    (d / name / "ks.yaml").write_text(ks(name, f"./{d.name}/{name}/app"))


def bootstrap(root: Path, cluster: str = "main") -> Path:
    c = root / "clusters" / cluster
    (c / "flux-system").mkdir(parents=True)
    (c / "flux-system" / "gotk-sync.yaml").write_text(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: ssh://git@example.org/r\n"
        + ks("flux-system", f"./clusters/{cluster}"))
    (c / "flux-system" / "kustomization.yaml").write_text("resources:\n  - gotk-sync.yaml\n")
    (root / ".git").mkdir(exist_ok=True)
    return c


EXPLICIT_LIST = """\
---
# apps of the main cluster: each namespace folder, in the order we like
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  # networking first
  - ./network   # ingress
  - ./media
  # end of list
"""


def explicit_list(root: Path) -> str:
    """A parent kustomization.yaml that lists namespace folders: a new folder must be listed. Returns appsRoot."""
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("cluster-apps", "./kubernetes/apps"))
    apps = root / "kubernetes" / "apps"
    apps.mkdir(parents=True)
    (apps / "kustomization.yaml").write_text(EXPLICIT_LIST)
    app(apps / "network", "ingress")
    app(apps / "media", "plex")
    return "kubernetes/apps"


def generated(root: Path) -> str:
    """No kustomization.yaml in the apps root: Flux's generator takes every sub-folder that has one."""
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("cluster-apps", "./kubernetes/apps"))
    app(root / "kubernetes" / "apps" / "media", "plex")
    return "kubernetes/apps"


def cluster_subfolders(root: Path) -> str:
    """kubernetes/apps/<cluster>/...: the cluster Kustomization reads a sub-folder, named nowhere else."""
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("cluster-apps", "./kubernetes/apps/main"))
    main = root / "kubernetes" / "apps" / "main"
    main.mkdir(parents=True)
    (main / "kustomization.yaml").write_text("---\nresources:\n- ./media\n")
    app(main / "media", "plex")
    app(root / "kubernetes" / "apps" / "staging" / "media", "plex")  # another cluster's, not applied here
    return "kubernetes/apps/main"


def per_app_flux_ks(root: Path) -> str:
    """flux2-kustomize-helm-example style: clusters/<name>/ holds a list of Flux Kustomizations, one per
    area, each building a folder of plain manifests (no ks.yaml below)."""
    c = bootstrap(root)
    (c / "infrastructure.yaml").write_text(
        ks("infra-controllers", "./infrastructure/controllers") + ks("infra-configs", "./infrastructure/configs"))
    for d in ("controllers", "configs"):
        (root / "infrastructure" / d).mkdir(parents=True)
        (root / "infrastructure" / d / "kustomization.yaml").write_text("resources: []\n")
    return "infrastructure"


LAYOUTS = {"explicit list": explicit_list, "generated": generated, "cluster sub-folders": cluster_subfolders,
           "per-app Flux Kustomizations": per_app_flux_ks}


def flux_instance_chart(root: Path, sync_path: str = "kubernetes/flux/cluster", values_from: bool = False) -> Path:
    """flux-operator installed with its flux-instance chart (the cluster-template layout): no FluxInstance in the
    files, only the HelmRelease whose values the chart renders into one (controlplaneio-fluxcd/charts@cf746d9:
    charts/flux-instance/templates/instance.yaml). The sync path builds kubernetes/flux/cluster, whose Flux
    Kustomization builds kubernetes/apps. With ``values_from`` the values are in helm/values.yaml, which a
    configMapGenerator turns into the ConfigMap the HelmRelease's valuesFrom reads (the helmfile bootstrap reads
    the same file). Returns the folder of the flux-instance app."""
    (root / ".git").mkdir(exist_ok=True)
    fi = root / "kubernetes" / "apps" / "flux-system" / "flux-instance"
    (fi / "app").mkdir(parents=True)
    (root / "kubernetes" / "apps" / "flux-system" / "kustomization.yaml").write_text(
        "---\nresources:\n  - ./flux-instance/ks.yaml\n")
    (fi / "ks.yaml").write_text(ks("flux-instance", "./kubernetes/apps/flux-system/flux-instance/app"))
    (fi / "app" / "kustomization.yaml").write_text("---\nresources:\n  - ./ocirepository.yaml\n  - ./helmrelease.yaml\n" + (
        "configMapGenerator:\n  - name: flux-instance-values\n    files:\n      - values.yaml=./helm/values.yaml\n"
        if values_from else ""))
    (fi / "app" / "ocirepository.yaml").write_text(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: flux-instance\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  layerSelector:\n    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip\n"
        "    operation: copy\n  ref:\n    tag: 0.49.0\n  url: oci://ghcr.io/controlplaneio-fluxcd/charts/flux-instance\n")
    values = ("instance:\n  distribution:\n    version: 2.x\n  sync:\n    kind: GitRepository\n"
              f"    url: https://example.org/me/ops.git\n    ref: refs/heads/main\n    path: {sync_path}\n")
    (fi / "app" / "helmrelease.yaml").write_text(
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: flux-instance\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: flux-instance\n"
        + ("  valuesFrom:\n    - kind: ConfigMap\n      name: flux-instance-values\n" if values_from else
           "  values:\n" + textwrap.indent(values, "    ")))
    if values_from:
        (fi / "app" / "helm").mkdir()
        (fi / "app" / "helm" / "values.yaml").write_text(values)
    cluster = root / "kubernetes" / "flux" / "cluster"
    cluster.mkdir(parents=True)
    (cluster / "ks.yaml").write_text(ks("cluster-apps", "./kubernetes/apps"))
    return fi


def two_clusters(root: Path, pins: tuple[str, str] = ("v2.7.0", "v2.3.0")) -> Path:
    """Two clusters bootstrapped from one repository (clusters/a, clusters/b), where every fact a config's checks
    read differs: the Flux each pins (gotk-components.yaml header), the Kustomization installing the StorageClass its
    `data` PersistentVolumeClaim uses (both named flux-system/storage, each building its own folder), and the key
    Secret that storage Kustomization decrypts with (sops-age on a, sops-gpg on b)."""
    files: dict[str, str] = {}
    for c, pin, key in (("a", pins[0], "sops-age"), ("b", pins[1], "sops-gpg")):
        files[f"clusters/{c}/flux-system/gotk-components.yaml"] = (
            f"---\n# This manifest was generated by flux. DO NOT EDIT.\n# Flux Version: {pin}\n"
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n")
        files[f"clusters/{c}/flux-system/gotk-sync.yaml"] = (
            "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
            "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: ssh://git@example.org/r\n"
            + ks("flux-system", f"./clusters/{c}"))
        files[f"clusters/{c}/flux-system/kustomization.yaml"] = (
            "resources:\n  - gotk-components.yaml\n  - gotk-sync.yaml\n")
        files[f"clusters/{c}/storage.yaml"] = ks(
            "storage", f"./infra/{c}/storage", f"  decryption:\n    provider: sops\n    secretRef:\n      name: {key}\n")
        files[f"clusters/{c}/apps.yaml"] = ks("apps", f"./apps/{c}")
        files[f"infra/{c}/storage/class.yaml"] = (
            f"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast-{c}\n"
            f"provisioner: csi.{c}.example.org\n")
        files[f"apps/{c}/pvc.yaml"] = (
            f"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: db\n  namespace: data\nspec:\n"
            f"  storageClassName: fast-{c}\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n"
            "      storage: 1Gi\n")
    return write_repo(root, files)
