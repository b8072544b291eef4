"""The disaster-recovery procedure on layouts taken from real repositories, walked command by command.

Each fixture keeps the shape of a repository the adopter walked (DavidIlie/home-cluster: onedr0p cluster-template;
Logik-Dev/k8s-homelab after `render --wire`; webgrip/homelab-cluster: a substituteFrom Secret in a SOPS component).
The walk dispatches on the printed commands and follows what decides the outcome upstream:

* the flux-instance chart renders ``spec.sync`` only when ``instance.sync.url`` is set
  (controlplaneio-fluxcd/charts@v0.14.8:charts/flux-instance/templates/instance.yaml `if .Values.instance.sync.url`);
  a FluxInstance with a sync applies every app at once (controlplaneio-fluxcd/flux-operator@v0.58.1:
  internal/builder/templates.go), and then Velero skips what exists and restores no volume data
  (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem);
* helm-controller composes ``valuesFrom`` then ``values`` (fluxcd/pkg@chartutil/v1.27.1:chartutil/values.go
  ChartValuesFromReferences); helmfile hands each `values:` file to helm in order;
* kustomize-controller reads ``decryption.secretRef`` in the Kustomization's own namespace
  (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys) and fails the build while a
  non-optional ``postBuild.substituteFrom`` object is missing (fluxcd/pkg@kustomize/v1.35.4:
  kustomize/kustomize_varsub.go LoadVariables).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from velero_gitops.config.loader import load
from velero_gitops.ops import disaster
from velero_gitops.render.layout import Layout
from velero_gitops.validate import helmvalues

from cli_util import EXAMPLE, require_kubectl
from sops_fixtures import *  # noqa: F401,F403 - fixtures (sops_path, isolated_home)
from sops_fixtures import new_age_key

SRC = {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}
SYNC = {"kind": "GitRepository", "url": "ssh://git@github.com/example/home-cluster.git", "ref": "refs/heads/main",
        "path": "kubernetes/flux/cluster", "pullSecret": "github-deploy-key"}
INSTANCE_DIR = "kubernetes/apps/flux-system/flux-operator/instance"


def _ks(name: str, ns: str | None, path: str, **spec: object) -> dict:
    md = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": md,
            "spec": {"path": path, **spec}}


def _write(root: Path, files: dict[str, object]) -> None:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            (root / rel).write_text(content)
        else:
            (root / rel).write_text(yaml.safe_dump_all(content if isinstance(content, list) else [content]))


def _example(tmp_path: Path, depends_on: tuple[str, str]) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(cfg.read_text().replace("    - name: openebs\n      namespace: flux-system\n",
                                           f"    - name: {depends_on[1]}\n      namespace: {depends_on[0]}\n"))
    return root


# ------------------------------------------------------------------- onedr0p cluster-template (DavidIlie/home-cluster)
def _onedr0p(tmp_path: Path, tree_release: bool) -> Path:
    """kubernetes/bootstrap/helmfile.yaml installs cilium, flux-operator and flux-instance, whose values file is also
    the configMapGenerator input of the tree's flux-instance HelmRelease (valuesFrom); cluster-apps patches
    decryption (secretRef sops-age) into every Kustomization; openebs lives in openebs-system."""
    root = _example(tmp_path, ("openebs-system", "openebs"))
    decrypt_patch = yaml.safe_dump({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                    "metadata": {"name": "_"},
                                    "spec": {"decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                                             "interval": "1h", "prune": True, "sourceRef": SRC}})
    files: dict[str, object] = {
        "kubernetes/bootstrap/helmfile.yaml": {
            "repositories": [{"name": "cilium", "url": "https://helm.cilium.io"}],
            "releases": [
                {"name": "cilium", "namespace": "kube-system", "chart": "cilium/cilium", "version": "1.20.1",
                 "values": ["../apps/kube-system/cilium/app/helm-values.yaml"]},
                {"name": "flux-operator", "namespace": "flux-system", "version": "0.58.1",
                 "chart": "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"},
                {"name": "flux-instance", "namespace": "flux-system", "version": "0.58.1",
                 "chart": "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-instance", "wait": False,
                 "values": ["../apps/flux-system/flux-operator/instance/helm-values.yaml"],
                 "needs": ["flux-system/flux-operator"]}]},
        "kubernetes/apps/kube-system/cilium/app/helm-values.yaml": {"cni": {"exclusive": False}},
        f"{INSTANCE_DIR}/helm-values.yaml": {"instance": {"distribution": {"version": "2.9.4"},
                                                          "components": ["source-controller", "kustomize-controller"],
                                                          "sync": SYNC}},
        "kubernetes/flux/cluster/ks.yaml": _ks("cluster-apps", "flux-system", "./kubernetes/apps", interval="1h",
                                               prune=True, sourceRef=SRC,
                                               patches=[{"patch": decrypt_patch, "target": {
                                                   "group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization"}}]),
        "kubernetes/apps/kustomization.yaml": {"resources": ["./velero", "./openebs-system",
                                                             *(["./flux-system"] if tree_release else [])]},
        "kubernetes/apps/openebs-system/kustomization.yaml": {"namespace": "openebs-system",
                                                              "resources": ["./namespace.yaml", "./openebs/ks.yaml"]},
        "kubernetes/apps/openebs-system/namespace.yaml": {"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": "openebs-system"}},
        "kubernetes/apps/openebs-system/openebs/ks.yaml": _ks("openebs", None,
                                                             "./kubernetes/apps/openebs-system/openebs/app",
                                                             targetNamespace="openebs-system"),
        "kubernetes/apps/openebs-system/openebs/app/kustomization.yaml": {"resources": []},
    }
    if tree_release:
        files |= {
            "kubernetes/apps/flux-system/kustomization.yaml": {"namespace": "flux-system",
                                                               "resources": ["./flux-operator/ks.yaml"]},
            "kubernetes/apps/flux-system/flux-operator/ks.yaml": _ks("flux-instance", None, f"./{INSTANCE_DIR}",
                                                                     targetNamespace="flux-system"),
            f"{INSTANCE_DIR}/kustomization.yaml": {
                "resources": ["./helmrepository.yaml", "./helmrelease.yaml"],
                "configMapGenerator": [{"name": "flux-instance-helm-values", "files": ["values.yaml=./helm-values.yaml"]}],
                "configurations": ["kustomizeconfig.yaml"]},
            f"{INSTANCE_DIR}/kustomizeconfig.yaml": {"nameReference": [{"kind": "ConfigMap", "version": "v1",
                                                                        "fieldSpecs": [{"path": "spec/valuesFrom/name",
                                                                                        "kind": "HelmRelease"}]}]},
            f"{INSTANCE_DIR}/helmrepository.yaml": {
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                "metadata": {"name": "controlplaneio", "namespace": "flux-system"},
                "spec": {"type": "oci", "interval": "12h", "url": "oci://ghcr.io/controlplaneio-fluxcd/charts"}},
            f"{INSTANCE_DIR}/helmrelease.yaml": {
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "flux-instance"},
                "spec": {"interval": "30m",
                         "chart": {"spec": {"chart": "flux-instance", "version": "0.58.1",
                                            "sourceRef": {"kind": "HelmRepository", "name": "controlplaneio",
                                                          "namespace": "flux-system"}}},
                         "valuesFrom": [{"kind": "ConfigMap", "name": "flux-instance-helm-values"}]}},
        }
    _write(root, files)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def _set(values: dict, dotted: str, value: str) -> None:
    *parents, last = dotted.split(".")
    node = values
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value


class Walk:
    """The cluster as the printed commands leave it: Helm releases with their values, Secrets, Ready Kustomizations,
    whether a FluxInstance syncs (then Flux applies every app), whether the restore ran."""

    def __init__(self, root: Path):
        self.root = root
        self.releases: dict[str, dict] = {}
        self.secrets: set[tuple[str, str]] = set()
        self.ready: set[str] = set()
        self.restored_before_sync: bool | None = None

    @property
    def syncing(self) -> bool:
        inst = self.releases.get("flux-instance", {}).get("instance", {})
        return bool((inst.get("sync") or {}).get("url"))

    def _values_arg(self, arg: str) -> dict:
        m = re.fullmatch(r"<\(yq '\.spec\.values' (\S+)\)", arg)
        if m:
            return yaml.safe_load((self.root / m.group(1)).read_text())["spec"]["values"]
        return yaml.safe_load((self.root / arg).read_text())

    def helm(self, cmd: str) -> None:
        name = cmd.split()[3]
        values: dict = {}
        for arg in re.findall(r"--values (<\(yq '[^']*' \S+\)|\S+)", cmd):
            values = helmvalues.merge(values, self._values_arg(arg))
        for k, v in re.findall(r"--set ([\w.]+)=(\S*)", cmd):
            _set(values, k, v)
        self.releases[name] = values

    def helmfile(self, cmd: str) -> None:
        f = self.root / cmd.split("--file ")[1].split()[0]
        excluded = set(re.findall(r"name!=([\w-]+)", cmd))
        for r in yaml.safe_load(f.read_text())["releases"]:
            if r["name"] in excluded:
                continue
            values: dict = {}
            for v in r.get("values") or []:  # helmfile: files relative to the helmfile, in order
                values = helmvalues.merge(values, yaml.safe_load((f.parent / v).read_text()))
            self.releases[r["name"]] = values

    def apply_kustomization(self, obj: dict) -> None:
        ns, spec = obj["metadata"]["namespace"], obj["spec"]
        ref = (spec.get("decryption") or {}).get("secretRef")
        if ref:  # ImportKeys: the Kustomization's own namespace
            assert (ns, ref["name"]) in self.secrets, f"NotFound: Secret {ns}/{ref['name']} for {obj['metadata']['name']}"
        for s in (spec.get("postBuild") or {}).get("substituteFrom") or []:
            if not s.get("optional"):
                assert (ns, s["name"]) in self.secrets, f"LoadVariables: {s['kind']} {ns}/{s['name']} missing"
        self.ready.add(f"{ns}/{obj['metadata']['name']}")

    def run(self, steps: list[disaster.Step], extra: dict | None = None) -> None:
        for step in steps:
            for cmd in step.commands:
                self.command(cmd, extra or {})

    def command(self, cmd: str, extra: dict) -> None:
        for prefix, fn in extra.items():
            if cmd.startswith(prefix):
                fn(self, cmd)
                return
        if cmd.startswith("helmfile "):
            self.helmfile(cmd)
        elif cmd.startswith("helm upgrade --install "):
            self.helm(cmd)
        elif m := re.match(r"kubectl -n (\S+) create secret generic (\S+) ", cmd):
            self.secrets.add((m.group(1), m.group(2)))
        elif cmd.startswith("kubectl apply -f - <<"):
            (obj,) = yaml.safe_load_all(cmd.split("\n", 1)[1].rsplit("\n", 1)[0])
            if obj["kind"] == "Kustomization":
                self.apply_kustomization(obj)
        elif cmd.startswith("velero-gitops restore-manifest"):
            self.restored_before_sync = not self.syncing
        elif cmd.startswith("flux install"):  # controllers only: installs nothing of Git
            assert "flux-operator" not in self.releases, "`flux install` next to flux-operator"
        elif self.syncing and cmd.startswith("kubectl apply -f kubernetes/apps/velero"):
            raise AssertionError("the entry point after the sync started")


@pytest.mark.parametrize("tree_release", [True, False], ids=["valuesFrom-configMapGenerator", "helmfile-values-only"])
def test_onedr0p_layout_restores_before_the_flux_instance_syncs(tmp_path, tree_release):
    """DavidIlie/home-cluster (adopter gaps 1 and 2): the flux-instance values live in helm-values.yaml, read by the
    bootstrap helmfile and by a configMapGenerator the HelmRelease's valuesFrom names. The procedure runs the
    helmfile without flux-instance, installs it with its values but no sync url, creates the age key where
    openebs-system/openebs decrypts, restores, and only then installs it with its sync."""
    root = _onedr0p(tmp_path, tree_release)
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    walk = Walk(root)
    walk.run(steps)
    assert walk.restored_before_sync is True
    assert walk.syncing  # the last step turned it on
    assert "openebs-system/openebs" in walk.ready
    assert walk.releases["flux-instance"]["instance"]["components"] == ["source-controller", "kustomize-controller"]
    assert walk.releases["cilium"] == {"cni": {"exclusive": False}}
    text = disaster.as_text(steps)
    assert "helm upgrade --install flux-operator" not in text  # the helmfile installs it, with its own values
    assert text.index("create secret generic sops-age") < text.index("name: openebs\n")


def test_without_the_selector_the_walk_sees_the_apps_applied_first(tmp_path):
    """The walk can fail: the bare `helmfile sync` of the former procedure installs flux-instance with its sync."""
    root = _onedr0p(tmp_path, True)
    walk = Walk(root)
    walk.helmfile("helmfile --file kubernetes/bootstrap/helmfile.yaml sync")
    assert walk.syncing


def test_the_storage_kustomization_without_its_key_stays_not_found(tmp_path):
    root = _onedr0p(tmp_path, True)
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    dropped = [disaster.Step(s.title, tuple(c for c in s.commands if not c.startswith("kubectl -n openebs-system create")),
                             s.exists_after, s.cite) for s in steps]
    with pytest.raises(AssertionError, match="NotFound: Secret openebs-system/sops-age"):
        Walk(root).run(dropped)


# ------------------------------------------------------------- a parent that builds the wired tree (Logik-Dev/k8s-homelab)
def _kustomize(d: Path, patches: list[dict], tmp: Path) -> list[dict]:
    """`kubectl kustomize` of folder ``d`` with a Flux Kustomization's spec.patches appended, as kustomize-controller
    builds it (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go)."""
    tmp.mkdir()
    (tmp / "kustomization.yaml").write_text(yaml.safe_dump({"resources": [os.path.relpath(d, tmp)], "patches": patches}))
    proc = subprocess.run([require_kubectl(), "kustomize", "--load-restrictor=LoadRestrictionsNone", str(tmp)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "KUBECONFIG": os.devnull})
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def test_a_wired_parent_applies_the_storage_and_none_of_this_trees_kustomizations(tmp_path):
    """Logik-Dev/k8s-homelab after `render --wire` (adopter gap 3): infra-controllers (wait: true) builds the folder
    that lists both longhorn and velero. The storage step applies it with one more patch that deletes this tree's
    Kustomizations from its build: real kustomize keeps longhorn and drops velero, velero-schedules and
    velero-monitoring (which would need Prometheus CRDs); without that patch they are all in the build."""
    root = _example(tmp_path, ("flux-system", "infra-controllers"))
    _write(root, {
        "clusters/lab/flux-system/gotk-sync.yaml": _ks("flux-system", "flux-system", "./clusters/lab", interval="10m",
                                                       prune=True, sourceRef=SRC),
        "clusters/lab/infrastructure.yaml": _ks("infra-controllers", "flux-system", "./kubernetes/apps",
                                                interval="1h", prune=True, wait=True, sourceRef=SRC),
        "kubernetes/apps/kustomization.yaml": {"resources": ["./longhorn-system", "./velero"]},
        "kubernetes/apps/longhorn-system/kustomization.yaml": {"resources": ["./storageclass.yaml"]},
        "kubernetes/apps/longhorn-system/storageclass.yaml": {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "longhorn"},
            "provisioner": "driver.longhorn.io"},
    })
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    loaded = load(root / "velero-gitops.yaml")
    lay = Layout.of(loaded.config)
    steps = disaster.procedure(loaded)
    (storage,) = [s for s in steps if s.title.startswith("Apply what Velero depends on")]
    (obj,) = [yaml.safe_load(c.split("\n", 1)[1].rsplit("\n", 1)[0]) for c in storage.commands
              if c.startswith("kubectl apply -f - <<") and "name: infra-controllers" in c]
    ours = {o["metadata"]["name"] for o in yaml.safe_load_all((root / lay.ks_file).read_text()) if o}
    assert {"velero", "velero-schedules", "velero-monitoring"} <= ours
    built = _kustomize(root / "kubernetes/apps", obj["spec"]["patches"], tmp_path / "with")
    names = {(o["kind"], o["metadata"]["name"]) for o in built}
    assert ("StorageClass", "longhorn") in names
    assert not {n for k, n in names if k == "Kustomization"} & ours
    git = {(o["kind"], o["metadata"]["name"]) for o in _kustomize(root / "kubernetes/apps", [], tmp_path / "git")}
    assert {("Kustomization", n) for n in ours} <= git  # what the parent applies from Git
    titles = [s.title for s in steps]
    assert titles.index(storage.title) < next(i for i, t in enumerate(titles) if t.startswith("Apply the disaster"))


# ------------------------------------------------------------- a substituteFrom Secret in a SOPS component (webgrip)
def test_a_substitute_from_secret_is_made_from_the_repositorys_encrypted_file(tmp_path, sops_path):
    """webgrip/homelab-cluster (adopter gap 9): longhorn-system/longhorn substitutes from Secret cluster-secrets,
    which lives SOPS-encrypted in kubernetes/components/sops (a component the sync root adds to every app). The
    storage step decrypts that file with real sops into longhorn-system before the Kustomization; the walk then
    finds the Secret where LoadVariables reads it."""
    root = _example(tmp_path, ("longhorn-system", "longhorn"))
    key = new_age_key(tmp_path / "keys", "main")
    _write(root, {
        "kubernetes/flux/cluster/ks.yaml": _ks("cluster-apps", "flux-system", "./kubernetes/apps", interval="1h",
                                               prune=True, sourceRef=SRC),
        "kubernetes/apps/kustomization.yaml": {"resources": ["./velero", "./longhorn-system"]},
        "kubernetes/apps/longhorn-system/kustomization.yaml": {"namespace": "longhorn-system",
                                                               "resources": ["./longhorn/ks.yaml"]},
        "kubernetes/apps/longhorn-system/longhorn/ks.yaml": _ks(
            "longhorn", None, "./kubernetes/apps/longhorn-system/longhorn/app", interval="1h", prune=True,
            sourceRef=SRC, components=["../../../../components/sops"],
            postBuild={"substituteFrom": [{"kind": "Secret", "name": "cluster-secrets"}]}),
        "kubernetes/apps/longhorn-system/longhorn/app/kustomization.yaml": {"resources": []},
        "kubernetes/components/sops/kustomization.yaml": {"apiVersion": "kustomize.config.k8s.io/v1alpha1",
                                                          "kind": "Component",
                                                          "resources": ["./cluster-secrets.sops.yaml"]},
    })
    plain = yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cluster-secrets"},
                            "stringData": {"SECRET_DOMAIN": "example.org"}})
    enc = subprocess.run([sops_path, "--config", "/dev/null", "encrypt", "--age", key.public, "--encrypted-regex",
                          "^(data|stringData)$", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
                         input=plain, capture_output=True, text=True, check=True)
    (root / "kubernetes/components/sops/cluster-secrets.sops.yaml").write_text(enc.stdout)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))

    def decrypt(walk: Walk, cmd: str) -> None:
        m = re.fullmatch(r"sops decrypt (\S+) \| yq '\.metadata\.namespace = \"([\w-]+)\"' \| kubectl apply -f -"
                         r"      # .*", cmd)
        assert m, cmd
        out = subprocess.run([sops_path, "decrypt", m.group(1)], cwd=root, capture_output=True, text=True, check=True,
                             env={**os.environ, "SOPS_AGE_KEY_FILE": str(key.file)})
        secret = yaml.safe_load(out.stdout)
        assert secret["stringData"] == {"SECRET_DOMAIN": "example.org"}
        walk.secrets.add((m.group(2), secret["metadata"]["name"]))

    walk = Walk(root)
    walk.run(steps, {"sops decrypt kubernetes/components": decrypt})
    assert "longhorn-system/longhorn" in walk.ready


# ------------------------------------------------------------------------------------------ the values resolver
def test_values_from_a_generated_configmap_then_inline_values_on_top(tmp_path):
    """ChartValuesFromReferences: each valuesFrom in order, spec.values merged last (maps merge, the rest replaces)."""
    from velero_gitops.ops.wiring import applied_objects, graph

    root = _onedr0p(tmp_path, True)
    hr = root / INSTANCE_DIR / "helmrelease.yaml"
    doc = yaml.safe_load(hr.read_text())
    doc["spec"]["values"] = {"instance": {"distribution": {"version": "2.10.0"}, "components": ["source-controller"]}}
    hr.write_text(yaml.safe_dump(doc))
    g = graph(root.resolve(), ["GitRepository/flux-system/flux-system"])
    (o,) = [o for o in applied_objects(g, root.resolve(), "HelmRelease") if o.name == "flux-instance"]
    got = helmvalues.of_release(g, root.resolve(), o)
    assert got.values["instance"]["distribution"] == {"version": "2.10.0"}
    assert got.values["instance"]["components"] == ["source-controller"]
    assert got.values["instance"]["sync"] == SYNC
    assert got.args == (f"{INSTANCE_DIR}/helm-values.yaml", f"<(yq '.spec.values' {INSTANCE_DIR}/helmrelease.yaml)")


def test_a_values_file_outside_the_repository_is_not_read(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(yaml.safe_dump({"instance": {"sync": SYNC}}))
    root = _onedr0p(tmp_path, True)
    (root / INSTANCE_DIR / "helm-values.yaml").unlink()
    (root / INSTANCE_DIR / "helm-values.yaml").symlink_to(outside)
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    assert str(outside) not in disaster.as_text(steps)
    assert not any("--values kubernetes/apps/flux-system" in c for s in steps for c in s.commands)


def test_flux_operator_from_the_helmfile_without_readable_instance_values_never_prints_flux_install(tmp_path):
    """A helmfile installs flux-operator, and the flux-instance values are a Go template (no YAML to read): the
    install step still is the flux-operator one, never `flux install` next to the operator."""
    root = _onedr0p(tmp_path, False)
    (root / f"{INSTANCE_DIR}/helm-values.yaml").write_text('{{ (fromYaml (readFile "hr.yaml")).spec.values | toYaml }}\n')
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    text = disaster.as_text(steps)
    assert "flux install" not in text
    assert "<your FluxInstance without spec.sync>" in text
    assert "helmfile --file kubernetes/bootstrap/helmfile.yaml sync --selector name!=flux-instance" in text
    assert steps[-1].commands[0].startswith("helmfile --file kubernetes/bootstrap/helmfile.yaml sync "
                                            "--selector name=flux-instance")


def test_a_substitute_from_object_declared_per_cluster_is_taken_from_this_clusters_file(tmp_path):
    """rtrox/home-cluster: each cluster folder holds its own cluster-settings; the storage Kustomization's sync root
    applies one of them. The step applies that one (the other cluster's comes first in file order)."""
    root = _example(tmp_path, ("flux-system", "longhorn"))
    settings = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-settings",
                                                                     "namespace": "flux-system"}}
    _write(root, {
        "clusters/a/flux-system/gotk-sync.yaml": _ks("flux-system", "flux-system", "./clusters/a", interval="10m",
                                                     prune=True, sourceRef=SRC),
        "clusters/a/apps.yaml": _ks("apps", "flux-system", "./kubernetes/other", interval="1h", prune=True,
                                    sourceRef=SRC),
        "clusters/a/config/cluster-settings.yaml": {**settings, "data": {"CLUSTER": "a"}},
        "clusters/b/flux-system/gotk-sync.yaml": _ks("flux-system", "flux-system", "./clusters/b", interval="10m",
                                                     prune=True, sourceRef=SRC),
        "clusters/b/apps.yaml": _ks("apps-b", "flux-system", "./kubernetes/apps", interval="1h", prune=True,
                                    sourceRef=SRC),
        "clusters/b/config/cluster-settings.yaml": {**settings, "data": {"CLUSTER": "b"}},
        "kubernetes/other/kustomization.yaml": {"resources": []},
        "kubernetes/apps/kustomization.yaml": {"resources": ["./velero", "./longhorn-system"]},
        "kubernetes/apps/longhorn-system/kustomization.yaml": {"resources": ["./ks.yaml"]},
        "kubernetes/apps/longhorn-system/ks.yaml": _ks(
            "longhorn", "flux-system", "./kubernetes/apps/longhorn-system/app", interval="1h", prune=True,
            sourceRef=SRC, postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-settings"}]}),
        "kubernetes/apps/longhorn-system/app/kustomization.yaml": {"resources": []},
    })
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    steps = disaster.procedure(load(root / "velero-gitops.yaml"))
    made = [c for s in steps for c in s.commands if "cluster-settings" in c and "yq" in c]
    assert made == ["yq '.metadata.namespace = \"flux-system\"' clusters/b/config/cluster-settings.yaml | kubectl "
                    "apply -f -      # ConfigMap flux-system/cluster-settings (postBuild.substituteFrom), from the "
                    "repository's file"], made
