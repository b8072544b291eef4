"""The age key Secret a Kustomization decrypts with, when the repository does not hold it (flux.absent_keys; render
tells the user the command that makes it).

kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys gets ``decryption.secretRef`` from the
Kustomization's namespace before it decrypts anything, and NotFound fails the whole reconciliation. A repository that
does not use SOPS yet (adoption) has no such Secret: the user must make it on the cluster. Held means: a Secret of
that name in Git (sops-encrypted too), a generator with a fixed name, a producer (validate.producers), or another Flux
Kustomization that decrypts with it already (the cluster has it, or that one fails too).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from layout_fixtures import bootstrap, ks

from cli_util import run_cli
from sops_fixtures import new_age_key, sops_path  # noqa: F401 - the fixture

DECRYPT = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-age\n  namespace: flux-system\nstringData:\n  age.agekey: {key}\n"


def _repo(root: Path) -> Path:
    """`flux bootstrap` layout, no SOPS yet; one app whose Flux Kustomization decrypts with sops-age."""
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("apps", "./kubernetes/apps"))
    app = root / "kubernetes" / "apps" / "media"
    (app / "app").mkdir(parents=True)
    (app / "kustomization.yaml").write_text("resources:\n  - ./ks.yaml\n")
    (app / "ks.yaml").write_text(ks("plex", "./kubernetes/apps/media/app", DECRYPT))
    (app / "app" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plex\n  namespace: media\n")
    return root


def _absent(root: Path) -> list[tuple[str, str]]:
    """The (namespace, name) of each key Secret the repository does not hold, as render's note decides it."""
    from velero_gitops.validate import flux
    from velero_gitops.validate.run import Options, Run

    g = flux.Graph([], Run(Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True)))
    return sorted(set(flux.absent_keys(g).values()))


def test_an_absent_key_is_found(tmp_path):
    root = _repo(tmp_path)
    assert _absent(root) == [("flux-system", "sops-age")]
    r = run_cli("validate", ".", "--kustomize", "never", cwd=root)
    assert r.code == 0, r.out + r.err  # Git cannot show a Secret made on the cluster: no finding


def test_a_sops_encrypted_key_secret_in_git_is_held(tmp_path, sops_path):  # noqa: F811 - the fixture
    """The key Secret committed encrypted (with real sops, for another recipient), for the bootstrap to apply by
    hand (Flux cannot decrypt its own key): its metadata stays in clear."""
    root = _repo(tmp_path / "repo")
    other = new_age_key(tmp_path / "keys", "bootstrap")
    (root / "bootstrap").mkdir()
    plain = root / "bootstrap" / "sops-age.sops.yaml"
    plain.write_text(SECRET.format(key="AGE-SECRET-KEY-1" + "Q" * 58))
    subprocess.run([sops_path, "--encrypt", "--age", other.public, "--encrypted-regex", "^(data|stringData)$",
                    "--in-place", str(plain)], check=True, capture_output=True)
    assert "ENC[" in plain.read_text()
    assert _absent(root) == []


@pytest.mark.parametrize("how", ["generator", "another user", "hashed generator"])
def test_held_by_a_generator_or_already_used(tmp_path, how):
    """A secretGenerator holds it only with a fixed name (kubernetes-sigs/kustomize@kustomize/v5.7.1:
    api/types/generatoroptions.go disableNameSuffixHash): a hashed one leaves the note."""
    root = _repo(tmp_path)
    fs = root / "clusters" / "main" / "flux-system"
    if how == "another user":
        (root / "clusters" / "main" / "infra.yaml").write_text(ks("infra", "./kubernetes/apps/media/app", DECRYPT))
    else:
        (fs / "age.agekey").write_text("AGE-SECRET-KEY-1QQQ\n")
        opts = "" if how == "hashed generator" else "generatorOptions:\n  disableNameSuffixHash: true\n"
        (fs / "kustomization.yaml").write_text("resources:\n  - gotk-sync.yaml\nsecretGenerator:\n  - name: sops-age\n"
                                               f"    namespace: flux-system\n    files:\n      - age.agekey\n{opts}")
    assert _absent(root) == ([("flux-system", "sops-age")] if how == "hashed generator" else [])


def test_render_says_it_once_and_not_when_held(tmp_path):
    """Adoption: the rendered tree's Kustomization decrypts with sops-age, in a repository that has none. render
    prints the command once; once the repository holds the key, neither does."""
    root = tmp_path / "repo"
    root.mkdir()
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("apps", "./kubernetes/apps"))
    (root / "kubernetes" / "apps").mkdir(parents=True)
    assert run_cli("init", "--no-interactive", "--s3-endpoint", "https://s3.example.org", cwd=root).code == 0
    r = run_cli("render", "-q", cwd=root)
    assert r.code == 0, r.err
    assert r.err.count("kubectl create secret generic sops-age --namespace=flux-system") == 1, r.err
    (c / "infra.yaml").write_text(ks("infra", "./kubernetes/apps", DECRYPT))  # the repository decrypts with it already
    r = run_cli("render", cwd=root)
    assert r.code == 0 and "create secret generic" not in r.err, r.err


def test_another_clusters_use_of_the_key_says_nothing_of_this_one(tmp_path):
    """maor-klir/homelab-k8s-cluster: only staging decrypts with sops-age; the tree adopted for prod decrypts with it
    too. Each cluster's kustomize-controller gets the Secret from its own API (fluxcd/kustomize-controller@v1.9.4:
    internal/decryptor/decryptor.go ImportKeys, in the Kustomization's namespace), so staging's use does not show
    that prod has it: each cluster's first user is told (one graph per cluster: Graph._partition); a second user in
    the same cluster still silences it."""
    from velero_gitops.validate import flux
    from velero_gitops.validate.run import Options, Run

    root = tmp_path / "repo"
    root.mkdir()
    for name in ("staging", "prod"):
        c = bootstrap(root, name)
        (c / "apps.yaml").write_text(ks("apps", f"./apps/{name}", DECRYPT))
        (root / "apps" / name).mkdir(parents=True)
        (root / "apps" / name / "cm.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n")

    def told() -> list[str]:
        g = flux.Graph([], Run(Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True)))
        keys = flux.absent_keys(g)
        return sorted(k.path.parent.name for k in g.flux_ks if id(k) in keys)

    assert told() == ["prod", "staging"]
    (root / "clusters/prod/infra.yaml").write_text(ks("infra", "./apps/prod", DECRYPT))
    assert told() == ["staging"]


def test_a_same_named_key_in_another_namespace_does_not_hold_or_refuse_it(tmp_path):
    """A tenant's own key Secret ``sops-age`` in Git (its namespace ``team``) says nothing of flux-system's, which the
    Flux SOPS guide makes on the cluster: kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys reads
    secretRef from the Kustomization's own namespace only. No finding, and render still names flux-system's key."""
    root = _repo(tmp_path)
    (root / "kubernetes" / "apps" / "media" / "app" / "key.yaml").write_text(
        SECRET.format(key="AGE-SECRET-KEY-1PLACEHOLDER").replace("namespace: flux-system", "namespace: team"))
    (root / "kubernetes" / "apps" / "media" / "app" / "kustomization.yaml").write_text(
        "resources:\n  - ./cm.yaml\n  - ./key.yaml\n")
    assert _absent(root) == [("flux-system", "sops-age")]
    r = run_cli("validate", ".", "--kustomize", "never", "--output", "json", cwd=root)
    assert "flux.decryption-secret" not in r.out, r.out
