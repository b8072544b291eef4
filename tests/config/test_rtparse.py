"""config/rtparse.py reads exactly what ruamel's round-trip loader reads, or declines (then ruamel reads it).

The differential property: for any text, ``rtparse.tree(text)`` is None, or ruamel.yaml@0.19 ``YAML(typ="rt").load``
accepts the text too and the two trees are the same node for node: type, value, tag, anchor, and every position
``lc`` holds (the line and column of each key, value and item, which the loader's messages print). Comments are the
one thing left out: ruamel attaches them to the tree, and nothing in the loader reads them.

The texts are drawn two ways: YAML written in every style a config uses and many it does not (block and flow
collections, indentless lists, the values YAML 1.1 and 1.2 read differently, quoting, comments, unicode, and the
features outside the subset: anchors, tags, block scalars, directives, documents), and raw text over YAML's indicator
characters, which is mostly invalid. On top, the loader as a whole (messages with their lines and columns included)
is the same with and without the fast path over mutated configs, and every config in this repository is inside the
subset, so the speed-up applies to what users write.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from velero_gitops.config import loader, rtparse
from velero_gitops.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ruamel_tree(text: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return YAML(typ="rt").load(text)


def shape(node, path=()) -> list:
    """Everything the loader can see of a round-trip tree, comments aside, as comparable rows."""
    tag = getattr(getattr(node, "tag", None), "value", None)
    anchor = getattr(getattr(node, "anchor", None), "value", None)
    rows: list = [(path, type(node).__name__, tag, anchor)]
    if isinstance(node, dict):
        rows.append((path, node.lc.line, node.lc.col, sorted((repr(k), v) for k, v in (node.lc.data or {}).items()),
                     [repr(k) for k in node], repr(getattr(node, "merge", None))))
        for k, v in node.items():
            rows += shape(k, (*path, "key", repr(k))) + shape(v, (*path, repr(k)))
    elif isinstance(node, list):
        rows.append((path, node.lc.line, node.lc.col, sorted((node.lc.data or {}).items())))
        for i, v in enumerate(node):
            rows += shape(v, (*path, i))
    elif isinstance(node, float) and math.isnan(node):
        rows.append((path, "nan", sorted(vars(node).items()) if hasattr(node, "__dict__") else None))
    else:
        state = vars(node) if hasattr(node, "__dict__") else {}
        rows.append((path, repr(node), sorted((k, repr(v)) for k, v in state.items() if k != "_yaml_comment")))
    return rows


def same_or_declined(text: str) -> bool:
    """The property; True when the fast path read the text."""
    fast = rtparse.tree(text)
    if fast is None:
        return False
    assert shape(fast) == shape(ruamel_tree(text))  # ruamel raising here fails the test too
    return True


# ------------------------------------------------------------------------------------------- YAML texts
PLAIN = st.sampled_from([
    "a", "velero", "kube-prometheus-stack", "0 2 * * *", "720h", "s3.example.io", "https://s3.68cc.io",
    "yes", "no", "on", "off", "y", "n", "true", "True", "TRUE", "false", "FALSE", "~", "null", "Null", "NULL",
    "0", "-0", "+1", "12", "012", "0o17", "0x1F", "0b101", "1_000", "1e3", "1E-3", "1.5", "-1.5", ".5", "5.",
    "+.inf", "-.inf", ".inf", ".nan", ".NaN", "1:30", "190:20:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5", "=", "<<", "a b", "é", "ключ", "日本", "🙂", "a:b", "a#b", "-a", "?a", "x!", "%x",
])
QUOTED_BODY = st.text(alphabet=st.sampled_from(list("ab 01:#-,[]{}'é\\\"") + ["\n"]), max_size=8)
KEYS = st.sampled_from(["cluster", "s3", "repo", "a", "b", "yes", "1", "null", "é", "a b", "<<", "=", "0x1", "?"])


@st.composite
def scalar(draw) -> str:
    kind = draw(st.sampled_from(["plain", "plain", "plain", "single", "double", "empty", "block"]))
    if kind == "plain":
        return draw(PLAIN)
    if kind == "empty":
        return ""
    if kind == "block":
        return draw(st.sampled_from(["|\n  x\n", ">-\n  a\n  b\n", "|+\n  x\n\n"]))
    body = draw(QUOTED_BODY)
    if kind == "single":
        return "'" + body.replace("'", "''") + "'"
    return '"' + body.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n" if draw(st.booleans()) else "\n ") + '"'


def key(draw) -> str:
    k = draw(KEYS)
    style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
    return {"plain": k, "single": f"'{k}'", "double": f'"{k}"'}[style]


TREE = st.recursive(st.just("scalar"), lambda kids: st.one_of(
    st.lists(st.tuples(st.just("k"), kids), max_size=4).map(lambda kv: ("map", kv)),
    st.lists(kids, max_size=4).map(lambda xs: ("seq", xs))), max_leaves=14)


def flow(draw, node) -> str:
    if node == "scalar":
        s = draw(scalar())
        return s if not s.startswith(("|", ">")) else "x"
    kind, items = node
    if kind == "map":
        return "{" + ", ".join(f"{key(draw)}: {flow(draw, v)}" for _, v in items) + "}"
    return "[" + ", ".join(flow(draw, v) for v in items) + "]"


def block(draw, node, indent: int) -> list[str]:
    """Lines of ``node`` as a block collection at ``indent`` (a scalar: one line)."""
    pad = " " * indent
    if node == "scalar" or not node[1] or draw(st.integers(0, 5)) == 0:
        return [pad + (draw(scalar()) if node == "scalar" else flow(draw, node))]
    kind, items = node
    lines: list[str] = []
    for item in items:
        child = item[1] if kind == "map" else item
        head = pad + (f"{key(draw)}:" if kind == "map" else "-")
        nested = child != "scalar" and bool(child[1])
        if not nested:
            value = draw(scalar()) if child == "scalar" else flow(draw, child)
            sep = draw(st.sampled_from([" ", " ", "  ", "    "]))
            comment = draw(st.sampled_from(["", "", " # note", "  #: x"]))
            lines.append(head + sep + value + ("" if value.startswith(("|", ">")) else comment))
            continue
        step = draw(st.sampled_from([1, 2, 2, 4]))
        if kind == "seq" and draw(st.booleans()):  # `- key: v` compact, the rest of the block under it
            sub = block(draw, child, indent + 2)
            lines.append(head + " " + sub[0][indent + 2:])
            lines += sub[1:]
            continue
        indentless = kind == "map" and child[0] == "seq" and draw(st.booleans())
        lines.append(head)
        lines += block(draw, child, indent if indentless else indent + step)
    return lines


@st.composite
def yaml_text(draw) -> str:
    lines = block(draw, draw(TREE), draw(st.sampled_from([0, 0, 1, 2])))
    out: list[str] = []
    for line in lines:
        extra = draw(st.sampled_from(["", "", "", "", "# comment", "", "  # indented comment"]))
        if extra:
            out.append(extra)
        out.append(line)
    head = draw(st.sampled_from(["", "", "---\n", "--- \n", "%YAML 1.1\n---\n", "# c\n"]))
    tail = draw(st.sampled_from(["\n", "\n", "", "\n...\n", "\n---\nb: 1\n", "\n\n"]))
    text = head + "\n".join(out) + tail
    for feature in draw(st.lists(st.sampled_from(["anchor", "tag", "tab", "crlf", "bom"]), max_size=1)):
        text = {"anchor": text.replace(": ", ": &a ", 1) + ("\nz: *a\n" if text.endswith("\n") else ""),
                "tag": text.replace(": ", ": !!str ", 1), "tab": text.replace("  ", "\t", 1),
                "crlf": text.replace("\n", "\r\n"), "bom": "\ufeff" + text}[feature]
    return text


@SETTINGS
@given(yaml_text())
@example("a: 1\nb:\n- x\n- y: 2\n  z: [1, {q: r}]\n")
@example("a: {b: c}\nd: [e, 'f', \"g\"]\n")
@example("<<: {a: 1}\nb: 2\n")
@example("a: =\n")
@example("'a': 1\n\"b\": 2\n")
def test_drawn_yaml_is_read_as_ruamel_reads_it(text):
    same_or_declined(text)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list(":-?[]{},#&*!|>'\"%@` \n.ab01é\t")), max_size=40))
@example("a: [b\n")
@example("a: 1\na: 2\n")
@example("- a\nb: c\n")
@example("a: 'b\n")
def test_raw_text_is_read_as_ruamel_reads_it_or_declined(text):
    same_or_declined(text)


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: !custom 1\n", "a: |\n  x\n", "a: >\n  x\n", "%YAML 1.1\n---\na: yes\n",
    "a: 1\n---\nb: 2\n", "a:\tb\n", "a: 1\r\nb: 2\r\n", "\ufeffa: 1\n", "? [a]\n: 1\n", "a: \"x\\ty\"\n",
    "a: b\n  c\n", "a: 1\na: 2\n", "a: [b\n", "", "# only a comment\n", "a: \u2028b\n",
])
def test_outside_the_subset_ruamel_reads_it(text):
    """What the subset leaves out is declined whole: ruamel's own loader reads it (and words its errors)."""
    assert rtparse.tree(text) is None


def configs() -> list[Path]:
    found = [*ROOT.glob("clusters/*/velero-gitops.yaml"), *ROOT.glob("tests/golden/*/velero-gitops.yaml"),
             *ROOT.glob("examples/**/velero-gitops*.yaml"), *ROOT.glob("tests/fixtures/**/velero-gitops*.yaml")]
    found = [p for p in found if re.search(r"^cluster:", p.read_text(encoding="utf-8"), re.M)]  # not workflows
    assert len(found) >= 5
    return sorted(found)


@pytest.mark.parametrize("path", configs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_config_here_is_inside_the_subset(path):
    """The speed-up applies to the configs users write: each config of this repository is read by the fast path."""
    assert same_or_declined(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------- the loader as a whole
BASE = (ROOT / "clusters" / "home-lab" / "velero-gitops.yaml").read_text(encoding="utf-8")
LINES = BASE.splitlines()


@st.composite
def mutated_config(draw) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "drop", "dup", "key", "indent"]))
        line = lines[i]
        if op == "value" and ":" in line:
            lines[i] = line.split(":", 1)[0] + ": " + draw(scalar())
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "key" and ":" in line:
            lines[i] = line[: len(line) - len(line.lstrip())] + draw(KEYS) + ":" + line.split(":", 1)[1]
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 3)) + line
    return "\n".join(lines) + "\n"


def outcome(path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool) -> object:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(rtparse, "tree", lambda text: None)
        try:
            got = loader.load(path)
        except ConfigError as exc:
            return ("error", exc.problems)
    return ("ok", got.config.model_dump(), got.warnings, shape(got.positions))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(text=mutated_config())
def test_the_loader_says_the_same_with_and_without_the_fast_path(text, tmp_path, monkeypatch):
    """Accepted configs load to the same model, warnings and positions; refused ones fail with the same located
    messages, line and column included."""
    (tmp_path / ".git").mkdir(exist_ok=True)
    cfg = tmp_path / "velero-gitops.yaml"
    cfg.write_text(text, encoding="utf-8")
    assert outcome(cfg, monkeypatch, True) == outcome(cfg, monkeypatch, False)
