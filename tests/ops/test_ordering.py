"""A parent Flux Kustomization's patch that sets ``spec.dependsOn`` of the Kustomizations it applies replaces ours.

The shape is aclerici38/home-ops's (kubernetes/flux/home/apps.yaml): the parent's ``patches`` target
``group: kustomize.toolkit.fluxcd.io, kind: Kustomization`` and set ``dependsOn: [cluster-meta]``. What the controller
applies is the parent's build output (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go adds
spec.patches to the kustomization it builds), and kustomize replaces a list of a resource it has no schema for
(kubernetes-sigs/kustomize@kustomize/v5.7.1:kyaml/yaml/schema/schema.go IsAssociative, called without inference from
api/filters/patchstrategicmerge/patchstrategicmerge.go): the first test proves that on real `kubectl kustomize`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from layout_fixtures import write_repo
from velero_gitops.ops import wiring

from cli_util import require_kubectl, run_cli

SRC = "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n"


def _ks(name: str, path: str, extra: str = "", ns: str = "flux-system") -> str:
    return (f"---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
            f"  namespace: {ns}\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n{SRC}{extra}")


PATCH = ("  patches:\n"
         "    - target:\n        group: kustomize.toolkit.fluxcd.io\n        kind: Kustomization\n"
         "      patch: |-\n        apiVersion: kustomize.toolkit.fluxcd.io/v1\n        kind: Kustomization\n"
         "        metadata:\n          name: not-used\n        spec:\n          wait: true\n"
         "          dependsOn:\n            - name: cluster-meta\n")

FILES = {
    "clusters/main/flux-system/gotk-sync.yaml":
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: ssh://git@example.org/r\n"
        + _ks("flux-system", "./clusters/main"),
    "clusters/main/flux-system/kustomization.yaml": "resources:\n  - gotk-sync.yaml\n",
    "clusters/main/meta.yaml": _ks("cluster-meta", "./kubernetes/meta"),
    "kubernetes/meta/kustomization.yaml": "resources: []\n",
    # the parent: builds the apps folder and patches every Flux Kustomization it applies
    "clusters/main/apps.yaml": _ks("cluster-apps", "./kubernetes/apps", PATCH),
    "kubernetes/apps/kustomization.yaml": "resources:\n  - ./openebs-system\n  - ./default\n",
    "kubernetes/apps/openebs-system/kustomization.yaml": "resources:\n  - ./openebs/ks.yaml\n",
    "kubernetes/apps/openebs-system/openebs/ks.yaml":
        _ks("openebs", "./kubernetes/apps/openebs-system/openebs/app", "  targetNamespace: openebs-system\n"),
    "kubernetes/apps/openebs-system/openebs/app/kustomization.yaml": "resources:\n  - ./class.yaml\n",
    "kubernetes/apps/openebs-system/openebs/app/class.yaml":
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: openebs-hostpath\n"
        "provisioner: openebs.io/local\n",
    "kubernetes/apps/default/kustomization.yaml": "resources:\n  - ./db/ks.yaml\n",
    "kubernetes/apps/default/db/ks.yaml": _ks("db", "./kubernetes/apps/default/db/app", "  targetNamespace: default\n"),
    "kubernetes/apps/default/db/app/kustomization.yaml": "resources:\n  - ./pvc.yaml\n",
    "kubernetes/apps/default/db/app/pvc.yaml":
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  storageClassName: "
        "openebs-hostpath\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
}
CONFIG = ("cluster: main\nrepo:\n  appsRoot: kubernetes/apps\ns3:\n  endpoint: https://s3.example.org\n"
          "  bucket: velero\n  region: minio\nflux:\n  dependsOn:\n    - name: openebs\n      namespace: flux-system\n"
          "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n    namespaces: [default]\n")
SOURCES = ["GitRepository/flux-system/flux-system"]
PATCH_LINE = 16  # clusters/main/apps.yaml: the `- target:` entry of spec.patches


def _repo(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    root = write_repo(tmp_path / "r", files or FILES)
    (root / "velero-gitops.yaml").write_text(CONFIG)
    return root


def test_the_graph_applies_what_kustomize_builds(tmp_path):
    """Real `kubectl kustomize` of the parent's folder with its patch: our velero-schedules loses dependsOn velero,
    and the graph's fact for it (ops/wiring.flux_facts) says the same, with the patch's line."""
    kubectl = require_kubectl()
    root = _repo(tmp_path)
    assert run_cli("render", "--wire", cwd=root).code == 0
    assert (root / "clusters/main/apps.yaml").read_text().splitlines()[PATCH_LINE - 1].strip() == "- target:"
    build = tmp_path / "build"  # the kustomization fluxcd/pkg generates for cluster-apps: its folder, plus patches
    shutil.copytree(root / "kubernetes/apps", build / "apps")
    parent = yaml.safe_load_all((root / "clusters/main/apps.yaml").read_text())
    patches = next(d for d in parent if d)["spec"]["patches"]
    (build / "kustomization.yaml").write_text(yaml.safe_dump({"resources": ["./apps"], "patches": patches}))
    done = subprocess.run([kubectl, "kustomize", str(build)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    built = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out) if d and d["kind"] == "Kustomization"}
    assert built["velero-schedules"]["spec"]["dependsOn"] == [{"name": "cluster-meta"}]  # replaced, not merged
    assert built["velero"]["spec"]["dependsOn"] == [{"name": "cluster-meta"}]

    facts = {f"{k.namespace}/{k.name}": k for k in wiring.flux_facts(root, SOURCES) if k.kind == "Kustomization"}
    for name in ("velero", "velero-schedules"):
        k = facts[f"flux-system/{name}"]
        assert k.depends_on == ("flux-system/cluster-meta",)
        assert k.depends_on_patch == ((root / "clusters/main/apps.yaml").resolve(), PATCH_LINE, "flux-system/cluster-apps")
    assert facts["flux-system/cluster-apps"].rewrites_depends_on == PATCH_LINE


def test_check_judges_the_order_the_controller_applies(tmp_path):
    """check fails with the patch's file:line and the fix; the storage order is judged on the replaced list (on the
    base it trusted flux.dependsOn and said nothing about the storage)."""
    root = _repo(tmp_path)
    r = run_cli("render", "--wire", cwd=root)
    assert r.code == 0, r.err
    assert "clusters/main/apps.yaml:16" in r.err and "velero-schedules" in r.err, r.err  # render says it at once
    r = run_cli("check", "--no-cache", cwd=root)
    assert r.code == 1, r.out
    replaced = [line for line in r.out.splitlines() if "flux.depends-on-replaced" in line or
                "is rendered with dependsOn" in line]
    assert any(line.startswith("clusters/main/apps.yaml:16 Kustomization/flux-system/velero-schedules") for line in replaced), r.out
    assert any(line.startswith("clusters/main/apps.yaml:16 Kustomization/flux-system/velero ") for line in replaced), r.out
    assert "narrow the patch's target" in r.out
    storage = [line for line in r.out.splitlines() if "StorageClass//openebs-hostpath" in line]
    assert storage and "clusters/main/apps.yaml:16 replaces it" in storage[0], r.out
    crd = [line for line in r.out.splitlines() if line.startswith("kubernetes/apps/velero/velero/schedules/daily.yaml")]
    assert crd and "patch of its parent flux-system/cluster-apps (clusters/main/apps.yaml:16)" in crd[0], r.out


def test_a_patch_that_leaves_ours_out_is_no_finding(tmp_path):
    """The fix the message gives: a target that does not select velero's Kustomizations (kustomize matches
    target.name as an anchored regexp: api/types/selector.go)."""
    files = dict(FILES)
    files["clusters/main/apps.yaml"] = _ks("cluster-apps", "./kubernetes/apps", PATCH.replace(
        "        kind: Kustomization\n", "        kind: Kustomization\n        name: db|openebs\n", 1))
    root = _repo(tmp_path, files)
    r = run_cli("render", "--wire", cwd=root)
    assert r.code == 0 and "dependsOn" not in r.err, r.err
    r = run_cli("check", "--no-cache", cwd=root)
    assert "depends-on-replaced" not in r.out and "is rendered with dependsOn" not in r.out, r.out
    assert "StorageClass//openebs-hostpath" not in r.out, r.out


def test_init_prefers_a_folder_whose_parent_keeps_our_order(tmp_path):
    """Two folders of namespaces: init takes the one whose Kustomization does not rewrite its children's dependsOn,
    even when the other applies more."""
    files = dict(FILES)
    files["clusters/main/infra.yaml"] = _ks("cluster-infra", "./kubernetes/infra")
    files["kubernetes/infra/kustomization.yaml"] = "resources:\n  - ./cert-manager/ks.yaml\n"
    files["kubernetes/infra/cert-manager/ks.yaml"] = _ks("cert-manager", "./kubernetes/infra/cert-manager/app")
    files["kubernetes/infra/cert-manager/app/kustomization.yaml"] = "resources: []\n"
    root = write_repo(tmp_path / "r", files)
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--namespaces", "default", "--no-interactive",
                cwd=root)
    assert r.code == 0, r.err
    assert "appsRoot: kubernetes/infra" in (root / "velero-gitops.yaml").read_text()
