"""A Secret is judged as the build emits it, not as its source file spells it (issue 20: Secrets judged on parsed
objects, after kustomize builds).

kustomize-controller applies what the build emits and decrypts only what carries sops metadata
(fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go, then
internal/decryptor/decryptor.go), so a build that writes values into a Secret by any route commits them in clear.
The routes are kustomize's own (kubernetes-sigs/kustomize@kustomize/v5.7.1: api/internal/builtins
PatchTransformer, ReplacementTransformer, SecretGenerator with behavior: merge; api/resource/factory.go reads JSON
resources). These cases came from a held-out probe that had not seen the fix.
"""

from __future__ import annotations

import pytest

from cli_util import git, require_kubectl, run_cli

SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\n"
CASES = {
    "json6902-patch": {"x.yaml": SECRET, "kustomization.yaml": (
        "resources: [x.yaml]\npatches:\n- target: {kind: Secret, name: s}\n"
        "  patch: '[{\"op\": \"add\", \"path\": \"/stringData\", \"value\": {\"p\": \"SUPERSECRETv\"}}]'\n")},
    "strategic-merge-inline": {"x.yaml": SECRET, "kustomization.yaml": (
        "resources: [x.yaml]\npatches:\n- patch: |\n    apiVersion: v1\n    kind: Secret\n    metadata:\n"
        "      name: s\n    stringData:\n      p: SUPERSECRETv\n")},
    "patch-file": {"x.yaml": SECRET, "p.yaml": SECRET + "data:\n  p: U1VQRVJTRUNSRVR2\n",
                   "kustomization.yaml": "resources: [x.yaml]\npatches:\n- path: p.yaml\n"},
    "merge-generator": {"x.yaml": SECRET, "kustomization.yaml": (
        "resources: [x.yaml]\ngeneratorOptions: {disableNameSuffixHash: true}\n"
        "secretGenerator:\n- name: s\n  behavior: merge\n  literals: [p=SUPERSECRETv]\n")},
    "kind-change": {"c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  p: SUPERSECRETv\n",
                    "kustomization.yaml": (
                        "resources: [c.yaml]\npatches:\n- target: {kind: ConfigMap, name: s}\n"
                        "  patch: '[{\"op\": \"replace\", \"path\": \"/kind\", \"value\": \"Secret\"}]'\n")},
    "json-resource": {"s.json": '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, '
                                '"stringData": {"p": "SUPERSECRETv"}}',
                      "kustomization.yaml": "resources: [s.json]\n"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_secret_the_build_makes_plaintext_is_reported_without_its_value(tmp_path, case):
    require_kubectl()
    git(tmp_path, "init", "-q")
    for name, text in CASES[case].items():
        (tmp_path / name).write_text(text)
    r = run_cli("validate", "--kustomize", "always", "--no-kustomize-cache", ".", cwd=tmp_path)
    assert r.code == 1, (r.out, r.err)
    assert "secret.unencrypted" in run_cli("validate", "--kustomize", "always", "--no-kustomize-cache", "-o", "json",
                                           ".", cwd=tmp_path).out
    assert "SUPERSECRET" not in r.out + r.err and "U1VQRVJTRUNSRVR2" not in r.out + r.err


def test_a_plaintext_source_secret_is_reported_once(tmp_path):
    """The reader reports a Secret in clear on its file; the built copy of it adds no second finding."""
    require_kubectl()
    git(tmp_path, "init", "-q")
    (tmp_path / "x.yaml").write_text(SECRET + "stringData:\n  p: SUPERSECRETv\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [x.yaml]\n")
    r = run_cli("validate", "--kustomize", "always", "--no-kustomize-cache", "-o", "json", ".", cwd=tmp_path)
    assert r.code == 1 and r.out.count("secret.unencrypted") + r.out.count("policy.secret") == 1, r.out


@pytest.mark.parametrize("hashed", [True, False])
def test_a_generators_secret_in_clear_is_reported_on_its_generator_line_unless_it_holds_public_keys(tmp_path, hashed):
    """A secretGenerator's Secret in clear is reported on the generator's `name:` line, with the content-hash suffix
    or without it (disableNameSuffixHash: kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/generatoroptions.go;
    the line was missing). A generator of OpenPGP public keys only (Flux's GitRepository spec.verify.secretRef must
    be a Secret) keeps no secret: no finding (config/pem.py is_public_material; seen on a fresh public repository)."""
    import json
    from pathlib import Path

    require_kubectl()
    git(tmp_path, "init", "-q")
    (tmp_path / "keys.asc").write_text((Path(__file__).parent.parent / "config/fixtures/pgp/public.asc").read_text())
    (tmp_path / "creds.env").write_text("PASSWORD=SUPERSECRETv\n")
    opts = "" if hashed else "generatorOptions:\n  disableNameSuffixHash: true\n"
    (tmp_path / "kustomization.yaml").write_text(
        f"{opts}secretGenerator:\n  - name: pgp-public-keys\n    files:\n      - keys.asc\n"
        "  - name: app-creds\n    envs:\n      - creds.env\n")
    r = run_cli("validate", "--kustomize", "always", "--no-kustomize-cache", "-o", "json", ".", cwd=tmp_path)
    found = [(f["rule"], f["line"]) for f in json.loads(r.out)["findings"] if f["rule"] == "secret.unencrypted"]
    assert found == [("secret.unencrypted", 5 + (0 if hashed else 2))], r.out


ENC = "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"
SOPS_META = ("sops:\n  age:\n  - recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n    enc: x\n"
             f"  lastmodified: '2024-01-01T00:00:00Z'\n  mac: {ENC}\n  encrypted_regex: ^data$\n  version: 3.9.0\n")
# two ConfigMaps in one file, the first with a field its schema refuses: its finding carries the built identity
CONFIGMAPS = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm1, namespace: d}\ndata: {a: b}\nbogus: 1\n---\n"
              "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm2, namespace: d}\ndata: {a: b}\n")
REPLACE = ("resources: [s.yaml, cm.yaml]\nreplacements:\n- source: {kind: Secret, name: db, fieldPath: "
           "stringData.password%s}\n  targets:\n  - select: {kind: ConfigMap, name: cm1}\n    fieldPaths: [metadata.name]\n")
TAINT = {
    # attack 7 break 1: getRefinedValue copies the piece at options.index of the value cut at options.delimiter
    "piece": ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: d}\n"
              "stringData: {password: hunter2-TOPSECRETPIECE-x}\n", ", options: {delimiter: '-', index: 1}",
              "TOPSECRETPIECE"),
    # attack 7 break 8: a sops file whose own rule (encrypted_regex: ^data$) leaves stringData in clear
    "sops-clear": ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: d}\n"
                   f"data:\n  token: {ENC}\nstringData:\n  password: wholesecretvalue-hunter2\n" + SOPS_META, "",
                   "wholesecretvalue"),
}


@pytest.mark.parametrize("output", ["text", "json", "github", "junit"])
@pytest.mark.parametrize("case", sorted(TAINT))
def test_a_value_a_replacement_copies_out_of_a_secret_is_never_printed(tmp_path, case, output):
    """kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/replacement/replacement.go: a replacement copies a
    Secret's value, or with source options.delimiter/index a piece of it (getRefinedValue), into any field of a target,
    here an object name that a schema finding on the built object shows as its identity. Every Secret's clear values
    and every piece a delimiter of the build cuts are redacted, whatever the file's sops metadata says (sops leaves in
    clear what its rule does not name: getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted)."""
    require_kubectl()
    git(tmp_path, "init", "-q")
    secret, options, value = TAINT[case]
    (tmp_path / "s.yaml").write_text(secret)
    (tmp_path / "cm.yaml").write_text(CONFIGMAPS)
    (tmp_path / "kustomization.yaml").write_text(REPLACE % options)
    r = run_cli("validate", "--kustomize", "always", "--no-kustomize-cache", "-o", output, ".", cwd=tmp_path)
    assert r.code == 1 and "bogus" in r.out, (r.out, r.err)
    assert value not in r.out + r.err, r.out
    assert "Secret/d/db" in r.out  # the Secret itself is reported: in clear (plaintext, or a clear value in a sops file)


GENERATED_CONFIG = {
    # every credential of the generator's input is a reference: Git holds none
    "references": ("db: ${db_dsn}\nhook: ${hook_url}\nlevel: debug\n", False),
    # a default is text in Git: applied as written when the variable is unset
    "literal-default": ("db: ${db_dsn:=postgres://admin:SUPERSECRETv@db/x}\n", True),
    # no reference at all
    "no-reference": ("db: postgres://admin:SUPERSECRETv@db/x\n", True),
}


@pytest.mark.parametrize("case", sorted(GENERATED_CONFIG))
def test_a_generated_secret_whose_credentials_are_references_is_not_in_clear(tmp_path, case):
    """FP6 (tyzbit acars): a secretGenerator input whose credentials are `${var}`s. kustomize stores the input
    base64-encoded in `data` (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/generators/secret.go) and Flux
    substitutes the object's YAML text (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go), so the reference
    is what is applied; Git shows no credential. A default (`${VAR:=x}`) is in Git (fluxcd/pkg@envsubst/v1.7.0:
    template.go toDefault)."""
    require_kubectl()
    git(tmp_path, "init", "-q")
    text, reported = GENERATED_CONFIG[case]
    (tmp_path / "config.yaml").write_text(text)
    (tmp_path / "kustomization.yaml").write_text(
        "generatorOptions: {disableNameSuffixHash: true}\nsecretGenerator:\n- name: s\n  files: [config.yaml]\n")
    r = run_cli("validate", "--kustomize", "always", "--no-kustomize-cache", "-o", "json", ".", cwd=tmp_path)
    assert ("secret.unencrypted" in r.out) is reported, (r.out, r.err)
