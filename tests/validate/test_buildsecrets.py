"""What a kustomize build may print of a secret value (validate.buildsecrets), form by form as kustomize and Go
print it: kubernetes-sigs/kustomize@kustomize/v5.7.1:api/kv/kv.go (an env line that is not UTF-8, with ``%d`` and
``%v``; a refused literal and the ``literals`` list), kyaml/yaml/datamap.go encodeBase64 (a generated Secret's
value, standard base64 broken into lines of 70), and klog's Go quoting of the error kubectl writes."""

from __future__ import annotations

import base64

import pytest

from velero_gitops.validate.buildsecrets import MASK, go_quoted, go_unquote, input_values, literal_values, redact

LINE = b"AWS_SECRET_ACCESS_KEY=hunter2SECRETVALUE\xff"


def _go_bytes(b: bytes) -> str:
    return "[" + " ".join(str(c) for c in b) + "]"  # fmt %d of a []byte


def _kyaml_base64(b: bytes) -> str:
    text = base64.standard_b64encode(b).decode()
    return "".join(text[i:i + 70] + "\n" for i in range(0, len(text), 70))


@pytest.mark.parametrize("message", [
    # kv.go keyValuesFromLine: "line %d has invalid utf8 bytes : %v" (the sandbox reads stderr replacing bad bytes)
    f"env source files: [c.env]: line {_go_bytes(LINE)} has invalid utf8 bytes : {LINE.decode('utf-8', 'replace')}",
    # a replacement's options.index out of range quotes the source value: the Secret's base64 (one line, or 70-wide)
    "options.index 7 is out of bounds for value " + _kyaml_base64(b"hunter2SECRETVALUE"),
    "options.index 7 is out of bounds for value " + _kyaml_base64(b"-----BEGIN KEY-----\n" + b"hunter2SECRETVALUE" * 9),
    "value " + base64.urlsafe_b64encode(b"hunter2SECRETVALUE\xfb\xff").decode().rstrip("="),
    'value "' + go_quoted(b'hunter2 "SECRETVALUE"\t\x01') + '"',
])
def test_every_form_of_a_value_is_redacted(message):
    values = input_values(LINE + b"\n") | input_values(b"hunter2SECRETVALUE") | input_values(
        b"-----BEGIN KEY-----\n" + b"hunter2SECRETVALUE" * 9) | {b"hunter2SECRETVALUE\xfb\xff",
                                                                  b'hunter2 "SECRETVALUE"\t\x01'}
    out = redact(message, values)
    assert MASK in out and "hunter2" not in out and "65 87 83" not in out and "aHVudGVy" not in out, out


def test_klog_quoting_is_undone_to_the_bytes():
    """klog writes the error with strconv.Quote: a byte that is not UTF-8 is \\xff, a quote \\", a newline \\n."""
    assert go_unquote(go_quoted(LINE + b'"\n\t\\')) == (LINE + b'"\n\t\\').decode("utf-8", "replace")


def test_a_literal_is_known_with_and_without_its_quotes():
    """kv.go parseLiteralSource removes one pair of surrounding quotes; a refused literal is quoted whole."""
    assert literal_values('password="hunter2"') == {b'password="hunter2"', b'"hunter2"', b"hunter2"}


def test_short_values_and_unrelated_text_stay():
    assert redact("accumulating resources: nope.yaml", {b"abc", b"hunter2"}) == "accumulating resources: nope.yaml"


@pytest.mark.parametrize("doc", [
    {"replacements": [{"source": {"kind": "Secret", "fieldPath": "data.p", "options": {"delimiter": ":"}}}]},
    [{"source": {"kind": "Secret", "fieldPath": "data.p", "options": {"delimiter": ":", "index": 2}}, "targets": []}],
    {"source": {"kind": "Secret", "fieldPath": "data.p", "options": {"delimiter": ":"}}, "targets": []},
])
def test_every_piece_a_replacement_can_cut_is_a_secret_value(doc):
    """kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/replacement/replacement.go getRefinedValue:
    strings.Split(value, options.delimiter)[options.index]; a replacement is written in a kustomization's
    `replacements` or in a file an entry's `path` names (one, or a list: api/types/replacement.go)."""
    from velero_gitops.validate.buildsecrets import pieces, source_delimiters

    delims = source_delimiters(doc)
    assert delims == {":"}
    cut = pieces({b"user:PIECEONE:PIECETWO"}, delims)
    assert {b"PIECEONE", b"PIECETWO"} <= cut
    assert redact("name PIECETWO here", cut) == f"name {MASK} here"


def test_a_diff_line_loses_each_secret_value_and_keeps_its_marker_and_indent():
    """buildsecrets.text_values: a Secret at any depth (here in chart values, as the velero chart's extraObjects
    template renders it: vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/extra-manifests.yaml) and a
    string config/redact.credential_value takes for a key, line by line; sops ciphertext is no secret."""
    from velero_gitops.validate.buildsecrets import redact_diff, text_values

    text = ("kind: HelmRelease\nspec:\n  values:\n    extraObjects:\n    - kind: Secret\n      stringData:\n"
            "        pw: LEAKVALUE1\n        t: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n    cloud: |\n"
            "      id=AKIAIOSFODNN7EXAMPLE\n      key=LEAKVALUE2\n")
    values = text_values(text)
    assert values is not None and {b"LEAKVALUE1", b"LEAKVALUE2"} <= values
    assert not any(v.startswith(b"ENC[") for v in values)
    diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-        pw: LEAKVALUE1\n+      key=LEAKVALUE2\n   kind: HelmRelease"
    assert redact_diff(diff, values).split("\n")[3:] == [f"-        pw: {MASK}", f"+      {MASK}",  # the whole line is a line of the value
                                                         "   kind: HelmRelease"]
    assert text_values("a: 1\na: LEAKVALUE3\n") is None  # a key written twice: the reader keeps the last value only
    assert redact_diff("-  a: LEAKVALUE3\n+  - x: [1]\n # c", None) == f"-  a: {MASK}\n+  - x: {MASK}\n {MASK}"


def test_values_a_chart_may_apply_as_a_secret_are_secret_inputs():
    """Attack 8 breaks 1, 3, 4: the redaction's secret inputs hold every value of an item a chart may apply as a
    Secret (config/compat.possible_secret: a template action, a List, an unknown kind; the chart writes each through
    `tpl (toYaml .)`, vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/extra-manifests.yaml), and a
    Secret inside a List at any depth; a literal ConfigMap's values are not, nor sops ciphertext."""
    from velero_gitops.validate.buildsecrets import held_values, text_values

    text = ("kind: HelmRelease\nspec:\n  values:\n    extraObjects:\n"
            "    - {apiVersion: v1, kind: ConfigMap, data: {a: PUBLICVALUE}}\n"
            "    - {apiVersion: v1, kind: '{{ print \"Sec\" \"ret\" }}', stringData: {a: LEAKTPL1}}\n"
            "    - {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Secret, stringData: {a: LEAKLIST1}}]}\n"
            "    - {apiVersion: v1, kind: ConfigMap, metadata: {name: '{{ \"x\" }}'}, data: {a: LEAKFIELD1}}\n"
            "    - 'LEAKSTRING1'\n"
            "    - {apiVersion: v1, kind: Secret, stringData: {a: 'ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]'}}\n")
    values = text_values(text)
    assert values is not None and {b"LEAKTPL1", b"LEAKLIST1", b"LEAKFIELD1", b"LEAKSTRING1"} <= values
    assert b"PUBLICVALUE" not in values and not any(v.startswith(b"ENC[") for v in values)
    nested = {"kind": "X", "spec": {"k": [{"kind": "List", "items": [{"kind": "Secret", "data": {"a": "TEVBSw=="}}]}]}}
    assert {b"TEVBSw==", b"LEAK"} <= held_values(nested)

