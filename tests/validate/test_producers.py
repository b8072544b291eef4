"""The name producers' table (validate.producers): what makes the names a Flux lookup reads, wherever it sits."""

from __future__ import annotations

import shutil

import pytest

from velero_gitops.validate.engine import Options, validate_paths
from velero_gitops.validate.producers import SCAN_KIND, generated

from cli_util import VALIDATE_FIXTURES

TREE = VALIDATE_FIXTURES / "flux" / "key-per-namespace"
COMP = "kubernetes/components/sops"


def _tree(tmp_path):
    dst = tmp_path / "repo"
    shutil.copytree(TREE, dst)
    return dst


def _replace_key(root, name: str, text: str, kustomization: str | None = None) -> None:
    """The per-namespace key Secret sops-age, made by something else than a Secret."""
    comp = root / COMP
    (comp / "sops-age.sops.yaml").unlink()
    (comp / name).write_text(text)
    k = comp / "kustomization.yaml"
    k.write_text(kustomization or k.read_text().replace("./sops-age.sops.yaml", f"./{name}"))


def _errors(root, sub):
    res = validate_paths([str(root / sub)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
    return [f.rule for f in res.findings if f.severity == "error"]


@pytest.mark.parametrize("sub", ["kubernetes", "kubernetes/apps"])
@pytest.mark.parametrize("name,ok", [("sops-age", True), ("other", False)])
def test_sealed_secret_makes_the_key_secret(tmp_path, sub, name, ok):
    """A SealedSecret unseals into a Secret of its own name and namespace (bitnami-labs/sealed-secrets@v0.36.6:
    pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go Unseal: SetName/SetNamespace from the SealedSecret).
    Validating only kubernetes/apps, the SealedSecret is found by the repository scan, which the table drives."""
    root = _tree(tmp_path)
    _replace_key(root, "sealed.yaml", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n"
                 f"  name: {name}\nspec:\n  encryptedData:\n    age.agekey: AgBy3i4OJSWK\n")
    assert _errors(root, sub) == ([] if ok else ["flux.decryption-secret"] * 2)


@pytest.mark.parametrize("hash_off,ok", [("\n    options:\n      disableNameSuffixHash: true", True), ("", False)])
def test_generator_with_a_fixed_name_makes_the_key_secret(tmp_path, hash_off, ok):
    """A secretGenerator's Secret is named sops-age only without the content hash suffix
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/generatoroptions.go disableNameSuffixHash); a hashed name
    is only rewritten inside its own build, so a Kustomization's decryption.secretRef cannot name it."""
    root = _tree(tmp_path)
    _replace_key(root, "age.agekey", "AGE-SECRET-KEY-1QQQ\n",
                 "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nsecretGenerator:\n"
                 f"  - name: sops-age\n    files:\n      - age.agekey{hash_off}\n")
    assert _errors(root, "kubernetes") == ([] if ok else ["flux.decryption-secret"] * 2)


def test_scan_kinds_come_from_the_table():
    for kind in ("ExternalSecret", "SealedSecret", "FluxInstance", "ArtifactGenerator", "Secret", "Kustomization"):
        assert SCAN_KIND.search(f"apiVersion: x/v1\nkind: {kind}\n"), kind
    assert not SCAN_KIND.search("kind: Deployment\n")


def test_generated_names():
    k = {"generatorOptions": {"disableNameSuffixHash": True},
         "secretGenerator": [{"name": "a"}, {"name": "b", "options": {"disableNameSuffixHash": False}}],
         "configMapGenerator": [{"name": "c"}]}
    assert generated(k) == [("Secret", "a"), ("ConfigMap", "c")]
