"""A plaintext Secret is judged on the decoded object, however the YAML spells it.

check (secrets/secret_check.py unencrypted_secrets) and validate (validate/policy.py) read each file
into objects first: flow/JSON style, tags, escapes, anchors, folded scalars, quoted keys, BOM and CRLF
all decode to the same ``kind: Secret``. Lists are inlined as kustomize inlines them, any ``FooList``
with ``items``, nested too (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/resource/factory.go
inlineAnyEmbeddedLists). A Secret that a generator builds from values in clear is judged on the
built object (validate/kustomize.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops.secrets.secret_check import unencrypted_secrets
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import require_kubectl

V = "hunter2-PLAIN-VALUE"
SPELLINGS = {
    "block": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: {V}\n",
    "json": '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "' + V + '"}}\n',
    "flow": f"{{apiVersion: v1, kind: Secret, metadata: {{name: s}}, stringData: {{k: {V}}}}}\n",
    "str-tag": f"apiVersion: v1\nkind: !!str Secret\nmetadata:\n  name: s\nstringData:\n  k: {V}\n",
    "escaped": f'apiVersion: v1\nkind: "Secr\\x65t"\nmetadata:\n  name: s\nstringData:\n  k: {V}\n',
    "escaped-line-break": f'apiVersion: v1\nkind: "Sec\\\n  ret"\nmetadata:\n  name: s\nstringData:\n  k: {V}\n',
    "unicode-escape": f'apiVersion: v1\nkind: "\\u0053ecret"\nmetadata:\n  name: s\nstringData:\n  k: {V}\n',
    "single-quoted": f"apiVersion: v1\n'kind': 'Secret'\nmetadata:\n  name: s\nstringData:\n  k: {V}\n",
    "anchor": f"apiVersion: v1\nmetadata:\n  name: s\n  labels:\n    x: &k Secret\nkind: *k\nstringData:\n  k: {V}\n",
    "folded": f"apiVersion: v1\nkind: >-\n  Secret\nmetadata:\n  name: s\nstringData:\n  k: {V}\n",
    "literal": f"apiVersion: v1\nkind: |-\n  Secret\nmetadata:\n  name: s\nstringData:\n  k: {V}\n",
    "complex-key": f"apiVersion: v1\n? kind\n: Secret\nmetadata:\n  name: s\nstringData:\n  k: {V}\n",
    "merge-key": f"base: &b\n  kind: Secret\n  apiVersion: v1\n<<: *b\nmetadata:\n  name: s\nstringData:\n  k: {V}\n",
    "bom-crlf": f"\ufeffapiVersion: v1\r\nkind: Secret\r\nmetadata:\r\n  name: s\r\nstringData:\r\n  k: {V}\r\n",
    "second-document": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\n# x\nkind: Secret\napiVersion: v1\n"
                       "metadata:\n  name: s\ndata:\n  k: aHVudGVyMg==\n",
    "secret-list": f"apiVersion: v1\nkind: SecretList\nitems:\n  - apiVersion: v1\n    kind: Secret\n    metadata:\n"
                   f"      name: s\n    stringData:\n      k: {V}\n",
    "list": f"apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Secret\n    metadata:\n      name: s\n"
            f"    stringData:\n      k: {V}\n",
    "other-list": f"apiVersion: example.org/v1\nkind: ThingList\nitems:\n  - apiVersion: v1\n    kind: Secret\n"
                  f"    metadata:\n      name: s\n    stringData:\n      k: {V}\n",
    "nested-list": f"apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: SecretList\n    items:\n"
                   f"      - {{apiVersion: v1, kind: Secret, metadata: {{name: s}}, stringData: {{k: {V}}}}}\n",
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_check_and_validate_find_every_spelling(tmp_path, name):
    root = tmp_path / "repo"
    apps = root / "kubernetes" / "apps"
    (apps / "x").mkdir(parents=True)
    (root / ".git").mkdir()
    (apps / "x" / "s.yaml").write_bytes(SPELLINGS[name].encode("utf-8"))
    found = unencrypted_secrets(apps, repo_root=root)
    assert [f.rule for f in found] == ["secret.unencrypted"], name
    assert all(V not in f.message for f in found)
    res = validate_paths([str(root)], Options(kustomize="never", cache_dir=str(tmp_path / "c")))
    assert "secret.unencrypted" in {f.rule for f in res.findings}, [(f.rule, f.message) for f in res.findings]
    assert all(V not in f.message for f in res.findings)


def test_an_encrypted_list_is_not_plaintext(tmp_path):
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "s.yaml").write_text("apiVersion: v1\nkind: SecretList\nitems:\n  - kind: Secret\n    stringData:\n"
                                 "      k: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n  age: []\n")
    assert unencrypted_secrets(apps, repo_root=tmp_path) == []


@pytest.mark.parametrize("gen", ["literals:\n      - password=" + V, "envs:\n      - pw.env"])
def test_a_generated_secret_is_judged_on_the_built_object(tmp_path, gen):
    require_kubectl()
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "app" / "pw.env").write_text(f"password={V}\n")
    (root / "app" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nsecretGenerator:\n  - name: g\n    " + gen + "\n")
    res = validate_paths([str(root)], Options(kustomize="always", cache_dir=str(tmp_path / "c")))
    assert [f.rule for f in res.findings] == ["secret.unencrypted"]
    assert Path(res.findings[0].file).name == "kustomization.yaml" and V not in res.findings[0].message
