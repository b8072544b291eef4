"""The direct emitter in render/yamlfmt.py writes exactly what ruamel writes, so the golden trees stay byte-identical.

Differential: every fragment the templates dump for the example and golden configs, and generated nested data, are
dumped both ways and compared byte for byte. A shape the emitter does not model falls back to ruamel, so the property
holds by construction there; the tests also count that the real trees take the direct path.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from velero_gitops.config.loader import load
from velero_gitops.render import yamlfmt
from velero_gitops.render.plan import plan_tree
from velero_gitops.render.templating import render

from cli_util import EXAMPLES, REPO

CONFIGS = [p / "velero-gitops.yaml" for p in EXAMPLES] + sorted((REPO / "tests" / "golden").glob("*/velero-gitops.yaml"))


def _by_ruamel(value, level: str = "") -> str:
    return yamlfmt._ruamel_dump({"_": yamlfmt.to_node(value, level)})


def _fragments(config: Path, monkeypatch) -> list:
    """Every (value, level) the templates hand to the `yaml` filter while rendering ``config``."""
    seen: list = []
    real = yamlfmt._dump_nested

    def spy(value, level):
        seen.append((value, level))
        return real(value, level)

    with monkeypatch.context() as m:
        m.setattr(yamlfmt, "_dump_nested", spy)
        render(plan_tree(load(config)))
    return seen


def test_every_fragment_of_the_examples_is_emitted_as_ruamel_emits_it(monkeypatch):
    direct = total = 0
    for config in CONFIGS:
        for value, level in _fragments(config, monkeypatch):
            total += 1
            assert yamlfmt._dump_nested(value, level) == _by_ruamel(value, level), (config, value)
            try:
                yamlfmt._emit(value, level)
                direct += 1
            except yamlfmt._Unsupported:
                pass
    # the speed-up is real only if the trees take the direct path (a fallback for every fragment would also pass above)
    assert total > 50 and direct >= 0.9 * total, (direct, total)


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


@settings(max_examples=300, deadline=None)
@given(_DATA, st.sampled_from(["", "metadata", "top"]))
@example("0.", "")  # a float to ruamel's resolver, though no digit follows the dot
@example({"...": False}, "")  # a document marker as a key
@example("\x1e\n", "")  # a record separator: str.splitlines() breaks there, YAML does not
@example("x\n\n", "")  # a kept final break: ruamel ends the document with `...`
def test_generated_data_is_emitted_as_ruamel_emits_it(value, level):
    assert yamlfmt._dump_nested(value, level) == _by_ruamel(value, level)
