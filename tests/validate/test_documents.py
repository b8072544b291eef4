"""The fast YAML path (yaml-rs) and the libyaml path read the same objects, or the fast path steps aside.

yaml-rs reads YAML 1.2 and accepts a mapping or a list as a key (as a tuple or a frozenset); Kubernetes
refuses such keys (kubernetes-sigs/yaml@v1.6.0:yaml.go, convertToJSONableObject: "unsupported map key"),
so any text that might hold one must take the libyaml path, which reports it with a line.
"""

from __future__ import annotations

import struct

from hypothesis import example, given, settings
from hypothesis import strategies as st

from velero_gitops.validate.documents import fast_docs

SCALAR_KEYS = (str, int, float, bool, type(None))

PIECES = st.sampled_from([
    "a", "b: ", "[", "]", "{", "}", ", ", ": ", "? ", "- ", "\n", "\n  ", "\n    ", "'k'", '"k"', "1", "#c", "\t",
])


def _keys_are_scalars(data) -> bool:
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not all(isinstance(k, SCALAR_KEYS) for k in node):
                return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=30).map("".join))
@example("[a, b]: v\n")
@example("? {c: 1}\n: v\n")
@example("x: {[k] : 1}\n")
@example("- ? - a\n  : 1\n")
@example("a:\n  [x,\n   y]: 1\n")
def test_fast_path_never_yields_a_collection_key(text):
    docs = fast_docs("kind: X\n" + text)
    if docs is not None:
        assert all(_keys_are_scalars(d) for d, _, _ in docs), text


def test_fast_path_reads_plain_objects():
    docs = fast_docs("kind: ConfigMap\ndata:\n  url: http://x/?y=1\n---\nkind: Secret\n")
    assert docs is not None and [d["kind"] for d, _, _ in docs] == ["ConfigMap", "Secret"]


def test_scalar_keys_become_the_strings_kubernetes_writes(tmp_path):
    """kubernetes-sigs/yaml@v1.6.0:yaml.go (convertToJSONableObject): int keys in decimal, bool keys as
    true/false, float keys via strconv.FormatFloat(k, 'g', -1, 32). Helm values such as ingress-nginx's
    `tcp: {22: "default/ssh:22"}` use integer keys; they must validate, not crash the schema check."""
    from velero_gitops.validate.documents import Reader

    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n"
                 "  22: a\n  0x1F: b\n  true: c\n  1.5: d\n  1234567.0: e\n  .inf: f\n  plain: g\n")
    reader = Reader(str(tmp_path))
    reader.read("cm.yaml", f)
    assert not reader.findings
    (obj,) = reader.objects
    assert list(obj.data["data"]) == ["22", "31", "true", "1.5", "1.234567e+06", ".inf", "plain"]


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
@example(1e6)
@example(123456.0)
@example(1e-5)
def test_float_keys_read_back_as_the_same_float32(x):
    from velero_gitops.yamlsafe import _go_float32

    x = struct.unpack("f", struct.pack("f", x))[0]
    text = _go_float32(x)
    assert struct.unpack("f", struct.pack("f", float(text)))[0] == x
    assert len(text.lstrip("-").split("e")[0].replace(".", "").strip("0")) <= 9
    exp = f"{abs(x):e}".split("e")[1] if x else "+00"
    assert ("e" in text) == (x != 0 and not -4 <= int(exp) < 6)
