"""sops-init's hint for giving the age key to Flux matches the decryption the tree renders."""

from __future__ import annotations

import pytest

from velero_gitops.config.loader import load
from velero_gitops.render.plan import plan_tree
from velero_gitops.secrets.sops_init import flux_key_hint

BASE = "cluster: t\ns3:\n  endpoint: https://s3.68cc.io\n"


@pytest.mark.parametrize("flux,hint", [
    ("", "give it to Flux: kubectl create secret generic sops-age --namespace=flux-system --from-file=age.agekey=/k.txt"),
    ("flux:\n  namespace: flux\n  decryption: {secretRef: age-key}\n",
     "give it to Flux: kubectl create secret generic age-key --namespace=flux --from-file=age.agekey=/k.txt"),
    ("flux:\n  decryption: {keyFrom: controller}\n", "--sops-age-secret flag names, in the controller's namespace"),
    ("flux:\n  decryption: {enabled: false}\n", "the Secret your root Kustomization's decryption uses"),
])
def test_hint_names_the_secret_the_controller_reads(tmp_path, flux, hint):
    """With a secretRef the Secret must sit in the Kustomization's own namespace, where the plan puts the
    Kustomization (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys)."""
    (tmp_path / "c.yaml").write_text(BASE + flux)
    loaded = load(tmp_path / "c.yaml")
    text = flux_key_hint(loaded.config, "/k.txt")
    assert hint in text
    app = next(a for a in plan_tree(loaded).artifacts if a.path.endswith("/ks.yaml")).docs[0].obj
    ref = (app["spec"].get("decryption") or {}).get("secretRef")
    # a hint that creates a Secret creates exactly the one the controller will look up, and only then
    assert bool(ref) == ("kubectl create secret" in hint), (ref, hint)
    if ref:
        assert f"generic {ref['name']} --namespace={app['metadata']['namespace']} " in text
