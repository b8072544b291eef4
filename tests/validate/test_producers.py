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


INFISICAL = """\
apiVersion: secrets.infisical.com/v1alpha1
kind: InfisicalSecret
metadata:
  name: flux-key
spec:
  hostAPI: https://app.infisical.com/api
  authentication:
    universalAuth:
      credentialsRef: {{secretName: infisical-credentials, secretNamespace: security}}
  managedKubeSecretReferences:
    - secretName: {name}
      secretType: Opaque
"""


@pytest.mark.parametrize("sub", ["kubernetes", "kubernetes/apps"])
@pytest.mark.parametrize("name,ok", [("sops-age", True), ("other", False)])
def test_an_operators_resource_that_names_the_secret_may_make_it(tmp_path, sub, name, ok):
    """An InfisicalSecret's controller makes the Secret its spec names (managedKubeSecretReferences[].secretName):
    no table entry says so, but a custom resource of a group nothing here models may make any Secret its spec names,
    so the key Secret is not missing (validate.producers.maybe_made). One that names another Secret makes it no
    more missing than before. Validating only kubernetes/apps, the repository scan finds it (SCAN_KIND)."""
    root = _tree(tmp_path)
    _replace_key(root, "infisical.yaml", INFISICAL.format(name=name))
    assert _errors(root, sub) == ([] if ok else ["flux.decryption-secret"] * 2)


def test_only_unmodelled_groups_may_make_secrets():
    """Kubernetes' own groups (none, dot-less, *.k8s.io: KEP-2337's reserved suffix) and Flux's make no named Secret:
    a Deployment or a HelmRelease that mentions a Secret consumes it."""
    from velero_gitops.validate.documents import Obj
    from velero_gitops.validate.producers import made_by

    def obj(api, kind, spec):
        return Obj("f", None, 0, {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}, "spec": spec}, 1)

    spec = {"a": {"secretName": "creds"}, "b": ["Not A Name", "ok-name"]}
    assert ("Secret", "creds") in made_by(obj("onepassword.com/v1", "OnePasswordItem", spec), "ns")
    assert ("Secret", "Not A Name") not in made_by(obj("onepassword.com/v1", "OnePasswordItem", spec), "ns")
    for api in ("v1", "apps/v1", "gateway.networking.k8s.io/v1", "helm.toolkit.fluxcd.io/v2"):
        assert made_by(obj(api, "Thing", spec), "ns") == [], api
    assert SCAN_KIND.search("apiVersion: secrets.infisical.com/v1alpha1\nkind: InfisicalSecret\n")
    assert not SCAN_KIND.search("apiVersion: networking.k8s.io/v1\nkind: Ingress\n")
