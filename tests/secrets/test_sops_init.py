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


AGE = "age1ygu3n9uee7adtr9hppa94wh4m5ekmd2685tk5lh25rhdxcacsvjs9w7mxd"


def _repo_with(tmp_path, sops_file: str, rule: str):
    import subprocess

    root = tmp_path / "ops"
    (root / "clusters/c").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / sops_file).write_text(f"creation_rules:\n  - path_regex: {rule}\n    encrypted_regex: ^(data|stringData)$\n"
                                  f"    age: {AGE}\n")
    return root


def test_the_sops_yaml_nearest_above_the_rendered_files_is_the_one(tmp_path):
    """sops looks for .sops.yaml in its working directory and each folder above it (getsops/sops@v3.11.0:
    config/config.go LookupConfigFile), matching path_regex from the folder it is in: a repository that keeps
    clusters/<c>/.sops.yaml beside its cluster's files encrypts them from there (round-8 adopter: init said "No
    .sops.yaml with age recipients yet" and sops-init refused while clusters/talos-cluster/.sops.yaml had one). init's
    comment and sops-init read it one way (secrets/sops.py recipients_for)."""
    from cli_util import run_cli

    root = _repo_with(tmp_path, "clusters/c/.sops.yaml", r".*\.yaml")
    env = {"SOPS_AGE_KEY_FILE": str(tmp_path / "no-key.txt")}  # no key on this machine: the rule must answer
    r = run_cli("init", "--no-interactive", "--s3-endpoint", "https://s3.example.org", "--apps-root", "clusters/c",
                cwd=root, env=env)
    assert r.code == 0, r.err
    assert "# Age recipients come from clusters/c/.sops.yaml (1 found)." in (root / "velero-gitops.yaml").read_text()
    r = run_cli("sops-init", cwd=root, env=env)
    assert r.code == 0 and "clusters/c/.sops.yaml" in r.out + r.err and AGE in r.out + r.err, r.out + r.err


def test_a_recipient_whose_rule_misses_the_tree_is_named_by_init_and_sops_init(tmp_path):
    """A root .sops.yaml whose only rule matches another folder: init does not count its recipient as the tree's, and
    both init and sops-init name it as the --age to pass (round-8 adopter: the config said "(1 found)" and sops-init
    then said "no age recipient")."""
    from cli_util import run_cli

    root = _repo_with(tmp_path, ".sops.yaml", r"clusters/other/.*\.yaml$")
    env = {"SOPS_AGE_KEY_FILE": str(tmp_path / "no-key.txt")}
    r = run_cli("init", "--no-interactive", "--s3-endpoint", "https://s3.example.org", "--apps-root", "clusters/c",
                cwd=root, env=env)
    text = (root / "velero-gitops.yaml").read_text()
    assert r.code == 0 and "found)" not in text and "no rule of it matches the rendered Secrets" in text, text
    assert AGE in text
    r = run_cli("sops-init", cwd=root, env=env)
    assert r.code == 2 and f"--age {AGE}" in r.err, r.err
