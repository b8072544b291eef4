"""Golden trees for minimal and edge configs (tests/golden/<name>/), beside the two full examples.

Each golden directory holds a config and its committed rendered tree. The tree must be exactly what the
config renders (byte for byte), every kustomization directory must build with the real `kubectl kustomize`,
and the built Flux Kustomizations must resolve their references the way kustomize-controller does:

* the decryption Secret from the Kustomization's own namespace, else the controller-wide
  `--sops-age-secret` key (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys);
* a dependsOn without namespace from the dependent's own namespace
  (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies);
* a sourceRef without namespace from the Kustomization's own namespace (same file, getSource).

Regenerate after an intended change: `velero-gitops render tests/golden/*/velero-gitops.yaml`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from velero_gitops.config.loader import load
from velero_gitops.pipeline import render_config
from velero_gitops.render.write import read_header

from cli_util import EXAMPLES, require_kubectl

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
GOLDENS = sorted(p.parent for p in GOLDEN.glob("*/velero-gitops.yaml"))
REQUIRED = {"minimal", "no-schedules", "controller-key", "root-patch", "http", "insecure-tls", "privileged"}


def _ids(dirs):
    return [d.name for d in dirs]


def test_the_edge_shapes_have_golden_trees():
    assert {g.name for g in GOLDENS} >= REQUIRED


@pytest.mark.parametrize("golden", GOLDENS, ids=_ids(GOLDENS))
def test_golden_tree_is_byte_for_byte_what_the_config_renders(golden):
    result = render_config(golden / "velero-gitops.yaml")
    assert not result.drifted, result.diff()
    for rel, text in result.files.items():
        assert (golden / rel).read_text(encoding="utf-8") == text, rel
    # No generated file on disk that the config no longer renders.
    on_disk = {p.relative_to(golden).as_posix() for p in golden.rglob("*.yaml")
               if read_header(p.read_text(encoding="utf-8")) is not None}
    assert on_disk == set(result.files)


def _kustomization_dirs():
    for root in GOLDENS:
        for k in sorted(root.rglob("kustomization.yaml")):
            yield pytest.param(k.parent, id=str(k.parent.relative_to(GOLDEN)))


def _kustomize(directory: Path) -> list[dict]:
    proc = subprocess.run([require_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KUBECONFIG": os.devnull})
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.parametrize("directory", list(_kustomization_dirs()))
def test_golden_kustomize_build(directory):
    assert _kustomize(directory)


def controller_lookups(ks: dict) -> dict[str, object]:
    """Where kustomize-controller v1.9.4 reads each reference of a built Flux Kustomization."""
    own = ks["metadata"].get("namespace", "")
    spec = ks["spec"]
    src = spec["sourceRef"]
    dec = spec.get("decryption")
    if dec is None:
        secret = None
    elif dec.get("secretRef"):
        secret = f"{own}/{dec['secretRef']['name']}"
    else:
        secret = "--sops-age-secret"
    return {
        "secret": secret,
        "dependsOn": [f"{d.get('namespace') or own}/{d['name']}" for d in spec.get("dependsOn", [])],
        "sourceRef": f"{src['kind']}/{src.get('namespace') or own}/{src['name']}",
    }


def _root_patch_injects_decryption(root: Path) -> bool:
    """A hand-written root Kustomization whose patches add decryption to every child (cluster-template)."""
    for f in root.rglob("*.yaml"):
        for doc in yaml.safe_load_all(f.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "Kustomization" and "decryption" in str(
                    (doc.get("spec") or {}).get("patches") or ""):
                return True
    return False


TREES = EXAMPLES + GOLDENS


@pytest.mark.parametrize("root", TREES, ids=[f"{p.parent.name}/{p.name}" for p in TREES])
def test_built_kustomizations_resolve_like_the_controller(root):
    """Build the namespace folder as the parent Flux Kustomization would, then check every reference."""
    loaded = load(root / "velero-gitops.yaml")
    c = loaded.config
    built = _kustomize(root / c.repo.apps_root / c.repo.namespace)
    flux_ks = [d for d in built if d["kind"] == "Kustomization"]
    names = {f"{k['metadata']['namespace']}/{k['metadata']['name']}" for k in flux_ks}
    assert flux_ks and all(k["metadata"].get("namespace") == c.flux.namespace for k in flux_ks), names
    externals = {f"{d.namespace}/{d.name}" for d in (*c.flux.depends_on, *c.metrics.depends_on)}
    for k in flux_ks:
        got = controller_lookups(k)
        # The Flux guide's key Secret, the controller-wide key, or a root patch: never a Secret in Velero's namespace.
        d = c.flux.decryption
        if k["metadata"]["name"] == c.repo.app:
            want = (None if not d.enabled else "--sops-age-secret" if d.key_from == "controller"
                    else f"{c.flux.namespace}/{d.secret_ref}")
            assert got["secret"] == want
            if not d.enabled:
                assert _root_patch_injects_decryption(root), "decryption off needs a root patch in the repository"
        else:
            assert got["secret"] is None
        for dep in got["dependsOn"]:
            assert dep in names or dep in externals, dep
        r = c.flux.source_ref
        assert got["sourceRef"] == f"{r.kind}/{r.namespace}/{r.name}"
        assert k["spec"]["targetNamespace"] == c.repo.namespace


def test_home_lab_lookups_as_a_new_user_would_read_them():
    """The rendered home-lab example, read the way the controller reads it."""
    root = next(e for e in EXAMPLES if e.name == "home-lab")
    built = _kustomize(root / "kubernetes/apps/velero")
    got = {k["metadata"]["name"]: controller_lookups(k) for k in built if k["kind"] == "Kustomization"}
    assert got == {
        "velero": {"secret": "flux-system/sops-age", "dependsOn": ["flux-system/openebs"],
                   "sourceRef": "GitRepository/flux-system/flux-system"},
        "velero-schedules": {"secret": None, "dependsOn": ["flux-system/velero"],
                             "sourceRef": "GitRepository/flux-system/flux-system"},
        "velero-monitoring": {"secret": None, "dependsOn": [], "sourceRef": "GitRepository/flux-system/flux-system"},
    }


def test_no_schedules_golden_has_neither_folder_nor_kustomization():
    root = GOLDEN / "no-schedules"
    assert not list(root.rglob("schedules"))
    (ks,) = [d for d in yaml.safe_load_all((root / "clusters/main/apps/backup/backup/ks.yaml").read_text()) if d]
    assert ks["metadata"]["name"] == "backup" and ks["metadata"]["namespace"] == "flux"
