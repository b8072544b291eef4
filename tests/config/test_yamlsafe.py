"""yamlsafe in-process: Go-YAML-compatible reading, and a hypothesis property over the config loader.

The property: whatever bytes a config holds, `load` either returns a config or raises ConfigError whose
every line is `FILE:LINE:COL path: message` or `FILE: message`; never another exception, never slow.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from velero_gitops import yamlsafe
from velero_gitops.config.loader import load
from velero_gitops.errors import ConfigError

from cli_util import cpu_budget
from test_loader import BASE


def test_redefined_anchor_takes_the_latest_value():
    """go-yaml/yaml@v3:decode.go keeps the latest definition of an anchor for later aliases."""
    [doc] = yamlsafe.load_all("a: &x 1\nb: *x\nc: &x 2\nd: *x\n")
    assert doc.data == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_value_tag_is_a_string():
    [doc] = yamlsafe.load_all("op: =\n")
    assert doc.data == {"op": "="}


def test_merge_keys_explicit_wins_and_first_source_wins():
    [doc] = yamlsafe.load_all("a: &a {k: 1, j: 1}\nb: &b {k: 2, i: 2}\nm:\n  <<: [*a, *b]\n  j: 3\n")
    assert doc.data["m"] == {"k": 1, "j": 3, "i": 2}
    assert doc.duplicates == []
    assert doc.data["m"].lines["k"] == 1 and doc.data["m"].lines["j"] == 5


def test_duplicates_are_collected_with_their_path():
    [doc] = yamlsafe.load_all("a:\n  b: 1\n  b: 2\n")
    assert doc.duplicates == [(3, ("a", "b"), "b")]


def test_limits_are_configurable():
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"
    yamlsafe.load_all(text, yamlsafe.Limits(alias_budget=8))
    with pytest.raises(yamlsafe.YamlRefused) as info:
        yamlsafe.load_all(text, yamlsafe.Limits(alias_budget=7))
    assert (info.value.line, info.value.column, info.value.path) == (2, 9, ("b", 1))
    yamlsafe.load_all("[[[1]]]", yamlsafe.Limits(max_depth=4))
    with pytest.raises(yamlsafe.YamlRefused):
        yamlsafe.load_all("[[[1]]]", yamlsafe.Limits(max_depth=3))


# --------------------------------------------------------------------------------------- property

LOCATED = re.compile(r"^\S*c\.yaml(:\d+:\d+ .+?|): \S")

TOKENS = st.sampled_from([
    "&a ", "*a", "&b [*a, *a, *a]", "<<: *a", "<<: ", "!!python/object/apply:os.system [id]", "!x ", "!!int ",
    "[", "]", "{", "}", "- ", ": ", "? ", "\n", "\n  ", "\n    ", "\x00", "\x1b", "\ufeff", "'", '"', "#", "|", ">",
    ".inf", "=", "~", "0o17", "1e400", "null", "yes", "%YAML 1.1\n", "---\n", "...\n", "\t", "é", "\ud7ff",
])


@st.composite
def configs(draw) -> bytes:
    lines = BASE.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        junk = "".join(draw(st.lists(TOKENS, min_size=1, max_size=12)))
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:at] + junk + lines[i][at:]
    data = "".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        k = draw(st.integers(0, len(data)))
        data = data[:k] + draw(st.binary(max_size=4)) + data[k:]
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=configs())
@example(data=BASE.replace("flux:", "? flux:").encode())  # a mapping as a key: a TypeError inside ruamel once
def test_loader_property_located_or_loaded(tmp_path, data):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(data)
    with cpu_budget(2):
        try:
            load(cfg)
        except ConfigError as exc:
            assert exc.problems
            for line in exc.problems:
                assert LOCATED.match(line) and "\n" not in line, line


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.sampled_from(list("[]{}-:?&*!|>'\"#\n\t ab1.<=%,\x00")), max_size=300))
def test_reader_property_never_raises_anything_else(text):
    try:
        yamlsafe.load_all(text)
    except yamlsafe.YamlRefused as exc:
        assert exc.message and "\n" not in exc.message


# Class H (issue 19): plain scalars as Go YAML v2 resolves them (kubernetes-sigs/yaml@v1.4.0:goyaml.v2/resolve.go:
# the resolve table, then strconv.ParseInt/ParseUint with base 0 and yamlStyleFloat for a leading digit or sign)


@pytest.mark.parametrize("text, want", [
    ("0o555", 365), ("0555", 365), ("0x1F", 31), ("-0b101", -5), ("1_000", 1000), ("+12", 12),
    ("1e3", 1000.0), ("08", 8.0), (".5", 0.5), ("18446744073709551615", 18446744073709551615),
    ("12:30", "12:30"),  # YAML 1.1 sexagesimal for PyYAML, a string for Go
    ("y", True), ("on", True), ("N", False), ("~", None), ("2001-12-14", "2001-12-14"), ("0o9", "0o9"),
    ('"0o555"', "0o555"),  # quoted: a string
])
def test_plain_scalars_as_go_reads_them(text, want):
    got = yamlsafe.load_all(f"a: {text}\n")[0].data["a"]
    assert got == want and type(got) is type(want)


# --------------------------------------------------------------------------------------------------
# Documents and nodes are budgeted like depth and aliases: a held-out probe put 8 MB of bare `---` in one file
# (two million empty documents: 14 CPU-s and 930 MB in validate before the budget).


def test_documents_beyond_the_file_budget_are_a_located_limit():
    small = yamlsafe.Limits(max_documents=3)
    assert len(yamlsafe.load_all("---\na: 1\n---\n---\n", small)) == 3
    with pytest.raises(yamlsafe.YamlRefused) as exc:
        yamlsafe.load_all("---\na: 1\n---\n---\n---\nb: 2\n", small)
    assert exc.value.limit and not exc.value.syntax and exc.value.line == 5
    assert "more than 3 documents in one file" in exc.value.message


def test_nodes_beyond_the_file_budget_are_a_located_limit():
    small = yamlsafe.Limits(max_nodes=5)
    assert yamlsafe.load_all("a: [1, 2]\n", small)[0].data == {"a": [1, 2]}  # map, key, seq, two items: 5
    with pytest.raises(yamlsafe.YamlRefused) as exc:
        yamlsafe.load_all("a: [1, 2]\nb: 3\n", small)
    assert exc.value.limit and exc.value.line == 2 and "more than 5 nodes in one file" in exc.value.message


def test_the_run_budget_is_shared_by_every_file_of_the_run():
    text = "a: [1, 2]\n"  # 5 nodes
    with yamlsafe.run_budget(12):
        yamlsafe.load_all(text)
        yamlsafe.load_all(text)
        with pytest.raises(yamlsafe.YamlRefused) as exc:
            yamlsafe.load_all(text)
    assert exc.value.limit and "hold more than 12 nodes altogether" in exc.value.message
    yamlsafe.load_all(text)  # outside the run: only the file's own budget


def test_eight_megabytes_of_empty_documents_cost_a_fraction_of_a_second(tmp_path):
    """What the held-out probe wrote, through the CLI (whose run opens the budget): a located finding, bounded CPU."""
    from cli_util import run_cli

    (tmp_path / "many.yaml").write_text("---\n" * 2_000_000)
    (tmp_path / "many2.yaml").write_text("---\n" * 2_000_000)
    (tmp_path / "nodes.yaml").write_text("- a\n" * 2_000_000)
    r = run_cli("validate", "many.yaml", "many2.yaml", "nodes.yaml", "--kustomize", "never", cwd=tmp_path)
    assert r.code == 1, r.err
    assert "many.yaml:10001: more than 10000 documents in one file" in r.out + r.err
    assert "many2.yaml:10001:" in r.out + r.err
    assert f"nodes.yaml:{yamlsafe.MAX_NODES}: more than {yamlsafe.MAX_NODES} nodes in one file" in r.out + r.err
    assert r.cpu < 6, r.cpu  # about 3 CPU-s here: the node budget's million nodes are most of it (14 s per file before)
