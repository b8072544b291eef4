"""The one YAML emitter (render/yamlfmt.py) writes every document exactly as ruamel's canonical dump would, and what
it writes reads back, the way Kubernetes reads YAML, as the planned object. Both are proven here, over every document
of the example and golden trees and over generated data, instead of parsing every output back on each render.

Reading back uses yamlsafe (Go YAML v2's resolution: kubernetes-sigs/yaml@v1.4.0:goyaml.v2/resolve.go) and PyYAML's
YAML 1.1 loader (what other tools read), so a string either would read as another type must be quoted.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from velero_gitops import yamlsafe
from velero_gitops.config.loader import load
from velero_gitops.render import yamlfmt
from velero_gitops.render.plan import plan_tree

from cli_util import EXAMPLES, REPO

CONFIGS = [p / "velero-gitops.yaml" for p in EXAMPLES] + sorted((REPO / "tests" / "golden").glob("*/velero-gitops.yaml"))


def _documents(config: Path) -> list[dict]:
    return [d.obj for a in plan_tree(load(config)).artifacts for d in a.docs]


def _read_back(text: str) -> None | object:
    """The one document of ``text`` as Go YAML reads it, after checking YAML 1.1 reads the same."""
    [go] = yamlsafe.load_all(text)
    [v11] = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    assert v11 == go.data, text
    return go.data


def test_every_document_of_the_examples_is_emitted_as_ruamel_emits_it_and_reads_back(monkeypatch):
    fallbacks = []
    real = yamlfmt._whole_by_ruamel
    monkeypatch.setattr(yamlfmt, "_whole_by_ruamel", lambda value, level: fallbacks.append(value) or real(value, level))
    total = 0
    for config in CONFIGS:
        for obj in _documents(config):
            total += 1
            text = yamlfmt.document(obj)
            assert text == real(obj, "top"), (config, obj.get("kind"))
            assert _read_back(text) == obj, (config, obj.get("kind"))
    # the speed is real only if the trees take the direct path (a whole-ruamel fallback would also pass above)
    assert total > 100 and not fallbacks, (len(fallbacks), total)


def test_no_scalar_of_the_examples_is_left_to_ruamel(monkeypatch):
    """Every style decision for the real trees is ours (_string_style, _literal): ruamel is the reference only."""
    asked = []
    real = yamlfmt._scalar_lines
    monkeypatch.setattr(yamlfmt, "_scalar_lines", lambda value: asked.append(value) or real(value))
    monkeypatch.setattr(yamlfmt, "_ruamel_key", lambda key: asked.append(key) or "")
    for config in CONFIGS:
        for obj in _documents(config):
            yamlfmt.document(obj)
    assert not asked, asked[:5]


_DENSE = st.text(alphabet=st.sampled_from(list("aZ09_/.$=@+,()- :#'\"{}[]<>~!%&*|?\\`^;")), min_size=1, max_size=12)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_DENSE, st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20),
                 st.sampled_from(["0.", "1_0", "0o17", "0b1", "+.5", "-.inf", ".NaN", "2026-01-01", "2026-1-1 1:02:03",
                                  "12:30", "<<", "=", "~", "!", "&", "*", "---x", "...", "?", "? x", "-", "- x", "a:",
                                  "a:b", "a #b", "a#b", "it's", '"', "\\"])))
def test_our_string_style_is_ruamels(s):
    """ruamel.yaml@0.19.1:emitter.py (analyze_scalar, choose_scalar_style) and resolver.py decide a scalar's style
    there; _string_style decides it here, and must agree for every string in its domain, as value and as key."""
    ours = yamlfmt._string_style(s)
    if ours is None:
        return
    assert ours == yamlfmt._scalar_lines.__wrapped__(s)[0], s
    if len(s) < 128:
        assert yamlfmt._key_text(s) == yamlfmt._ruamel_key.__wrapped__(s), s


_TEXT = st.one_of(
    st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cs",)), max_size=12),
    # the characters that decide a scalar's style, densely: the fast paths' edges
    st.text(alphabet=st.sampled_from(list("aZ09_/.$=@+,()- :#'\"{}[]<>~!%&*|?\\\t")), max_size=10),
)
_SCALARS = st.one_of(st.booleans(), st.integers(-(2**40), 2**40), _TEXT,
                     st.sampled_from(["on", "yes", "0 2 * * *", "a: b", "x #y", "- x", "{a}", "x\ny", "x\ny\n", " lead\nx",
                                      "x\n\n", "", "1.5", "0x1F", "~", "*", "!t", "%x", "@x", "a\tb", "\r"]))
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(_TEXT, st.sampled_from(
        ["name", "namespace", "on", "a b", "spec"])), inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(_DATA, st.sampled_from(["spec", "metadata", "data"]))
@example("0.", "spec")  # a float to ruamel's resolver, though no digit follows the dot
@example({"...": False}, "spec")  # a document marker as a key
@example("\x1e\n", "spec")  # a record separator: str.splitlines() breaks there, YAML does not
@example("x\n\n", "spec")  # a kept final break: ruamel ends the document with `...`
@example({"b": 1, "namespace": "x", "name": "y"}, "metadata")  # name, namespace lead inside metadata
def test_generated_data_is_emitted_as_ruamel_emits_it(value, key):
    obj = {"apiVersion": "v1", "kind": "K", key: value}
    assert yamlfmt.document(obj) == yamlfmt._whole_by_ruamel(obj, "top")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["apiVersion", "kind", "metadata", "spec", "data", "a", "z"]), _DATA, max_size=5))
def test_top_level_keys_are_ordered_as_ruamel_orders_them(obj):
    assert yamlfmt.document(obj) == yamlfmt._whole_by_ruamel(obj, "top")


@settings(max_examples=200, deadline=None)
@given(st.lists(_DATA, min_size=1, max_size=4), st.booleans())
def test_a_top_level_list_is_emitted_as_ruamel_emits_it(value, top):
    """plan's JSON 6902 patch texts (spec.patches[].patch) are lists of operations."""
    assert yamlfmt.dump(value, top) == yamlfmt._whole_by_ruamel(value, "top" if top else "")


# What the plan can hold: strings, booleans, integers Kubernetes keeps exact, maps and lists (no float, no null).
_PLANNED = st.recursive(
    st.one_of(st.booleans(), st.integers(-(2**53), 2**53), _TEXT,
              st.sampled_from(["y", "n", "0o17", "0b101", "1_000", "+.5", "1e5", "12:30", "2026-01-01", "<<", "="])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(_PLANNED)
def test_what_the_emitter_writes_reads_back_as_the_object(value):
    """The check every render made at run time until now (parse each output back), as a property of the emitter."""
    obj = {"apiVersion": "v1", "kind": "K", "spec": value}
    assert _read_back(yamlfmt.document(obj)) == obj
