"""YAML from untrusted files, read with limits: one reader for the config loader and for `validate`.

libyaml (PyYAML's C parser) turns the text into events without recursion; ``load_all`` builds the
documents from those events in a loop, so no input can exhaust the stack, and it refuses, with the
line and column where it noticed:

- nesting deeper than ``Limits.max_depth`` (counting what an alias would expand to);
- more than ``Limits.max_documents`` documents or ``Limits.max_nodes`` nodes in one file, and more than the
  run's node budget (``run_budget``) over every file one command reads: each document and node costs memory
  and time after parsing (8 MB of bare ``---`` are two million empty documents: 14 s and 930 MB in validate);
- aliases that would expand to more than ``Limits.alias_budget`` nodes in a file (billion laughs);
- an alias to an anchor not defined before it, which also rules out self-referencing anchors;
- tags other than YAML's standard scalar and collection tags (``!!python/object/apply`` ...);
- what libyaml refuses: NUL and other control characters, syntax errors.

Like Go's YAML decoder (which Kubernetes and Flux use): a re-defined anchor replaces the earlier
one for the aliases after it, ``=`` is a plain string, and ``<<`` merges mappings, keys written in the
mapping itself winning over merged ones, earlier merged mappings winning over later ones.
Timestamps stay strings (as after Kubernetes' JSON round trip). A mapping or a list used as a key
is refused, as Go YAML does when it decodes into a map (go-yaml/yaml@v3.0.1:decode.go, "invalid map
key") and as Kubernetes does (kubernetes-sigs/yaml@v1.6.0:yaml.go, convertToJSONableObject).

Mappings become ``LDict`` (``lines``: key -> 1-based line of the key, ``line``: where the mapping
starts), sequences ``LList`` (``lines``: one line per item).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from velero_gitops.intparse import parse_int

# libyaml is part of every PyYAML wheel; fall back to the pure-Python parser if absent
_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Defaults for both readers. A Kubernetes object or a config nests far less than 100 levels; an
# alias budget of 10,000 nodes per file is orders of magnitude above any real use of anchors.
MAX_DEPTH = 100
ALIAS_BUDGET = 10_000
CONFIG_SIZE_LIMIT = 256 * 1024  # a config with 200 schedules is about 40 KiB
FILE_SIZE_LIMIT = 8 * 1024 * 1024  # the largest CRD bundles in the wild are a few MiB
# A generated bundle of every CRD of a large operator is a few hundred documents and some 100,000 nodes; a
# repository's YAML altogether, a few million nodes.
MAX_DOCUMENTS = 10_000
MAX_NODES = 1_000_000
RUN_NODES = 5_000_000


@dataclass(frozen=True)
class Limits:
    max_depth: int = MAX_DEPTH
    alias_budget: int = ALIAS_BUDGET
    max_documents: int = MAX_DOCUMENTS
    max_nodes: int = MAX_NODES


class _RunBudget:
    __slots__ = ("left", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total


_run: contextvars.ContextVar[_RunBudget | None] = contextvars.ContextVar("yamlsafe_run", default=None)


@contextlib.contextmanager
def run_budget(nodes: int = RUN_NODES) -> Iterator[None]:
    """Bound the nodes every ``load_all`` inside this block may build together (one command's run: the CLI
    opens it). Outside such a block only the per-file limits apply."""
    token = _run.set(_RunBudget(nodes))
    try:
        yield
    finally:
        _run.reset(token)


class YamlRefused(Exception):
    """Invalid or refused YAML. ``line``/``column`` are 1-based (None when unknown); ``path`` is the
    key/index path of the node being read. ``syntax`` is True for what the parser itself refused;
    then ``line`` is where the unfinished construct began and ``problem_at`` where the parser stopped.
    ``limit`` is True for what only the budgets refused (aliases, depth): text that a parser without
    them (Go YAML in kubectl) would expand."""

    def __init__(self, message: str, line: int | None, column: int | None = None, path: tuple = (),
                 syntax: bool = False, problem_at: tuple[int, int] | None = None, limit: bool = False):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.path = path
        self.syntax = syntax
        self.problem_at = problem_at or (line, column)
        self.limit = limit


class LDict(dict):
    __slots__ = ("lines", "line")
    lines: dict[Any, int]  # the line of each key
    line: int


class LList(list):
    __slots__ = ("lines", "line")
    lines: list[int]  # the line of each item
    line: int


@dataclass
class Doc:
    data: object  # LDict for objects; anything else is not a Kubernetes object
    line: int  # 1-based line where the document's root node starts
    index: int  # position in its file (0-based)
    duplicates: list = field(default_factory=list)  # (line, key path tuple, key)


_T = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE, _VALUE = _T + "str", _T + "map", _T + "seq", _T + "merge", _T + "value"
_SCALAR_TAGS = {_T + t for t in ("str", "int", "float", "bool", "null", "binary", "timestamp", "value", "merge")}
_MAP_TAGS = {_MAP, "!"}
_SEQ_TAGS = {_SEQ, "!"}


# Plain scalars resolve as Go YAML v2 resolves them, the decoder behind kubernetes-sigs/yaml's YAMLToJSON that
# Kubernetes and Flux read manifests with (kubernetes-sigs/yaml@v1.4.0:goyaml.v2/resolve.go resolve): a fixed table
# (y/n/yes/on/off... are booleans), then for a leading digit or sign Go's strconv.ParseInt/ParseUint with base 0
# (0x, 0o, 0b prefixes, a leading 0 for octal, underscores dropped) and its float pattern; `12:30` (YAML 1.1
# sexagesimal for PyYAML) is a string there.
_GO_TABLE: dict[str, tuple[str, object]] = {
    **{v: (_T + "bool", True) for v in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
    **{v: (_T + "bool", False) for v in ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")},
    **{v: (_T + "null", None) for v in ("", "~", "null", "Null", "NULL")},
    **{v: (_T + "float", float("nan")) for v in (".nan", ".NaN", ".NAN")},
    **{v: (_T + "float", float("inf")) for v in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{v: (_T + "float", float("-inf")) for v in ("-.inf", "-.Inf", "-.INF")},
    "<<": (_MERGE, "<<"),
}
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def go_plain(text: str) -> tuple[str, object]:
    """(tag, value) of a plain scalar as Go YAML v2 reads it."""
    hit = _GO_TABLE.get(text)
    if hit is not None:
        return hit
    c = text[:1]
    if c == ".":
        try:
            return _T + "float", float(text)
        except ValueError:
            return _STR, text
    if not c or c not in "0123456789+-":
        return _STR, text
    plain = text.replace("_", "")
    m = _GO_INT.fullmatch(plain)
    if m is not None:
        body = m.group(2)
        base = {"x": 16, "o": 8, "b": 2}.get(body[1:2].lower(), 8 if len(body) > 1 and body[0] == "0" else 10)
        digits = body[2:] if base in (16, 2) or body[1:2] in ("o", "O") else body
        n = parse_int(digits or "0", base)
        if n is not None:
            n *= -1 if m.group(1) == "-" else 1
            if -(1 << 63) <= n < (1 << 64):
                return _T + "int", n
    if _GO_FLOAT.fullmatch(plain):
        f = float(plain)
        # strconv.ParseFloat fails with ErrRange beyond float64, and go-yaml then keeps the text as a string
        # (kubernetes-sigs/yaml@v1.4.0:goyaml.v2/resolve.go resolve)
        return (_STR, text) if math.isinf(f) else (_T + "float", f)
    return _STR, text


def _shown_tag(tag: str) -> str:
    return "!!" + tag[len(_T):] if tag.startswith(_T) else tag


class _Frame:
    __slots__ = ("data", "size", "height", "anchor", "key", "key_line", "has_key", "merges", "own", "mark")

    def __init__(self, data: LDict | LList, anchor: str | None, mark: yaml.Mark) -> None:
        self.data = data
        self.size = 1
        self.height = 1
        self.anchor = anchor
        self.key: object = None
        self.key_line = 0
        self.has_key = False
        self.merges: list | None = None
        self.own: set | None = None
        self.mark = mark


def _path(stack: list[_Frame]) -> tuple[object, ...]:
    out: list = []
    for f in stack:
        if isinstance(f.data, list):
            out.append(len(f.data))
        elif f.has_key:
            out.append(f.key)
    return tuple(out)


def _mark(m: yaml.Mark) -> tuple[int, int]:
    return m.line + 1, m.column + 1


def load_all(text: str, limits: Limits = Limits()) -> list[Doc]:
    """Every document of ``text``, or YamlRefused (located) for invalid or refused YAML."""
    loader = _Loader(text)
    stack: list[_Frame] = []  # shared with _build: the path at a syntax error
    try:
        return _build(loader, limits, stack)
    except yaml.MarkedYAMLError as exc:
        # the start of the unfinished construct ("while parsing a flow sequence") is where to look
        mark = exc.context_mark or exc.problem_mark
        msg = " ".join(p for p in (exc.context, exc.problem) if p)
        line, col = _mark(mark) if mark is not None else (None, None)
        at = _mark(exc.problem_mark) if exc.problem_mark is not None else None
        if exc.problem and "maximum nesting depth" in exc.problem:
            # libyaml's own flow-depth limit (PyYAML 6.0.4 bundles it: the scanner counts flow levels ahead of any
            # event, so it can stop before our depth budget sees the nesting). The same budget, said our way: a
            # limit, not a syntax error, so no second parser is asked for its message.
            raise YamlRefused(_too_deep(limits), *(at or (line, col)), _path(stack), limit=True) from None
        raise YamlRefused(f"YAML parse error: {msg}", line, col, _path(stack), syntax=True, problem_at=at) from None
    except yaml.reader.ReaderError as exc:  # NUL and other control characters, found before parsing
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise YamlRefused(f"control character U+{char:04X} is not allowed in YAML; remove it "
                          "(write it as an escape such as \"\\x00\" inside a double-quoted string)",
                          line, col, _path(stack), syntax=True) from None
    except yaml.YAMLError as exc:
        raise YamlRefused(f"YAML parse error: {' '.join(str(exc).split())}", None, syntax=True) from None
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader | yaml.CSafeLoader, limits: Limits, stack: list[_Frame]) -> list[Doc]:
    E = yaml.events
    constructors = loader.yaml_constructors
    anchors: dict[str, tuple[object, int, int]] = {}  # name -> (value, size, height)
    expanded = 0
    docs: list[Doc] = []
    duplicates: list = []
    root = None
    root_line = 0
    run = _run.get()
    # nodes this file may still build: its own budget, or what is left of the run's when that is smaller
    nodes_left = limits.max_nodes if run is None else min(limits.max_nodes, run.left)
    nodes_cap = nodes_left

    def too_many_nodes(mark: yaml.Mark) -> YamlRefused:
        if run is not None and run.left < limits.max_nodes:
            what = (f"the YAML files read by this run hold more than {run.total} nodes altogether; give the "
                    "command fewer files at once (a narrower path)")
        else:
            what = (f"more than {limits.max_nodes} nodes in one file are refused (each costs memory and time to "
                    "check); split the file")
        return refuse(what, mark, limit=True)

    def path() -> tuple:
        return _path(stack)

    def refuse(message: str, mark: yaml.Mark, limit: bool = False) -> YamlRefused:
        line, col = _mark(mark)
        return YamlRefused(message, line, col, path(), limit=limit)

    def add(value: object, size: int, height: int, mark: yaml.Mark, line: int) -> None:
        nonlocal root, root_line
        if not stack:
            root, root_line = value, line
            return
        top = stack[-1]
        top.size += size
        if height + 1 > top.height:
            top.height = height + 1
        data = top.data
        if isinstance(data, LList):
            data.append(value)
            data.lines.append(line)
            return
        if not top.has_key:
            if value is not _MergeKey and not isinstance(value, str):
                value = _key_string(value, refuse, mark)
            top.key, top.key_line, top.has_key = value, line, True
            return
        key = top.key
        top.has_key = False
        if key is _MergeKey:
            if top.merges is None:
                top.merges = []
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                raise refuse("a merge key '<<' needs a mapping or a list of mappings", mark)
            top.merges.extend(sources)
            return
        if key in data:
            duplicates.append((top.key_line, path() + (key,), key))
        data[key] = value
        data.lines[key] = top.key_line

    top: _Frame | None = None  # stack[-1], or None at a document's root
    get_event = loader.get_event
    Scalar, MapStart, MapEnd, SeqEnd = E.ScalarEvent, E.MappingStartEvent, E.MappingEndEvent, E.SequenceEndEvent
    try:
        while True:
            # dispatched on its exact class below (cheaper than isinstance in this loop), which mypy does not narrow
            ev: Any = get_event()
            cls = type(ev)
            if cls is Scalar:
                nodes_left -= 1
                if nodes_left < 0:
                    raise too_many_nodes(ev.start_mark)
                tag = ev.tag
                text = ev.value
                if tag is None and ev.implicit[0]:
                    # a plain scalar: what Go YAML makes of it (go_plain); text that is in no table and starts with
                    # no digit, sign or dot is a string there ("" is in every string: the null goes to go_plain)
                    if text[:1] in "0123456789+-." or text in _GO_TABLE:
                        tag, value = go_plain(text)
                        if tag == _MERGE:
                            value = _MergeKey if top is not None and type(top.data) is LDict and not top.has_key else text
                    else:
                        tag, value = _STR, text
                else:
                    if tag is None or tag == "!":
                        tag = _STR  # quoted, or the non-specific tag: the resolver's default scalar tag
                    elif tag not in _SCALAR_TAGS:
                        raise refuse(f"unknown tag {_shown_tag(tag)}; only standard YAML tags are read (remove the tag)",
                                     ev.start_mark)
                    if tag == _STR or tag == _VALUE or tag == _T + "timestamp" or tag == _T + "binary":
                        value = text
                    elif tag == _MERGE:
                        value = _MergeKey if top is not None and type(top.data) is LDict and not top.has_key else text
                    else:
                        try:
                            value = constructors[tag](loader, yaml.ScalarNode(tag, text))
                        except Exception:  # noqa: BLE001 - `!!int abc`, `!!bool maybe`, a 5,000-digit integer
                            raise refuse(f"{_shown(text)} is not a valid {_shown_tag(tag)}", ev.start_mark) from None
                if len(stack) + 1 > limits.max_depth:
                    raise refuse(_too_deep(limits), ev.start_mark, limit=True)
                line = ev.start_mark.line + 1
                if ev.anchor is not None:
                    anchors[ev.anchor] = (value, 1, 1)
                # add() inlined for the common cases: an item, a string key, a value (the rest goes through add())
                if top is not None:
                    node: Any = top.data  # LList or LDict, told apart by exact class
                    if type(node) is LList:
                        top.size += 1
                        if top.height < 2:
                            top.height = 2
                        node.append(value)
                        node.lines.append(line)
                        continue
                    if not top.has_key:
                        if type(value) is str:
                            top.size += 1
                            if top.height < 2:
                                top.height = 2
                            top.key, top.key_line, top.has_key = value, line, True
                            continue
                    elif top.key is not _MergeKey:
                        top.size += 1
                        if top.height < 2:
                            top.height = 2
                        key = top.key
                        top.has_key = False
                        if key in node:
                            duplicates.append((top.key_line, path() + (key,), key))
                        node[key] = value
                        node.lines[key] = top.key_line
                        continue
                add(value, 1, 1, ev.start_mark, line)
            elif cls is MapStart or cls is E.SequenceStartEvent:
                nodes_left -= 1
                if nodes_left < 0:
                    raise too_many_nodes(ev.start_mark)
                is_map = cls is MapStart
                tag = ev.tag
                if tag is not None and tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
                    raise refuse(f"unknown tag {_shown_tag(tag)}; only standard YAML tags are read (remove the tag)",
                                 ev.start_mark)
                if len(stack) + 1 > limits.max_depth:
                    raise refuse(_too_deep(limits), ev.start_mark, limit=True)
                data: LDict | LList
                if is_map:
                    data = LDict()
                    data.lines = {}
                else:
                    data = LList()
                    data.lines = []
                data.line = ev.start_mark.line + 1
                top = _Frame(data, ev.anchor, ev.start_mark)
                stack.append(top)
            elif cls is MapEnd or cls is SeqEnd:
                f = stack.pop()
                top = stack[-1] if stack else None
                data = f.data
                if f.merges and isinstance(data, LDict):
                    _merge(data, f.merges)
                if f.anchor is not None:
                    anchors[f.anchor] = (data, f.size, f.height)
                add(data, f.size, f.height, f.mark, data.line)
            elif cls is E.AliasEvent:
                nodes_left -= 1
                if nodes_left < 0:
                    raise too_many_nodes(ev.start_mark)
                try:
                    value, size, height = anchors[ev.anchor]
                except KeyError:
                    raise refuse(f"alias *{ev.anchor} has no anchor &{ev.anchor} defined before it "
                                 "(an anchor cannot refer to itself)", ev.start_mark) from None
                expanded += size
                if expanded > limits.alias_budget:
                    raise refuse(f"aliases expand to more than {limits.alias_budget} nodes (alias *{ev.anchor}); "
                                 "a YAML alias bomb is refused: write the values out or use fewer aliases",
                                 ev.start_mark, limit=True)
                if len(stack) + height > limits.max_depth:
                    raise refuse(_too_deep(limits) + f" (alias *{ev.anchor} expands there)", ev.start_mark, limit=True)
                add(value, size, height, ev.start_mark, ev.start_mark.line + 1)
            elif cls is E.DocumentStartEvent:
                if len(docs) >= limits.max_documents:
                    raise refuse(f"more than {limits.max_documents} documents in one file are refused (each costs "
                                 "memory and time to check, even an empty one); split the file", ev.start_mark,
                                 limit=True)
                root, root_line, duplicates = None, ev.end_mark.line + 1, []
            elif cls is E.DocumentEndEvent:
                docs.append(Doc(root, root_line, len(docs), duplicates))
            elif cls is E.StreamEndEvent:
                return docs
    finally:
        if run is not None:
            run.left -= nodes_cap - max(nodes_left, 0)


def _key_string(key: object, refuse: Callable[[str, yaml.Mark], YamlRefused], mark: yaml.Mark) -> str:
    """A key as Kubernetes' YAML-to-JSON step writes it (kubernetes-sigs/yaml@v1.6.0:yaml.go,
    convertToJSONableObject): integers in decimal, booleans as true/false, floats in Go's shortest
    float32 form; a null, a mapping or a list as a key is refused there, and here."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _go_float32(key)
    if isinstance(key, (dict, list)):
        raise refuse("a mapping or a list cannot be a key (a `? ` complex key); keys are plain strings", mark)
    raise refuse("a null key (`~`, `null` or an empty key) is not allowed; quote it to mean the text", mark)


def _go_float32(x: float) -> str:
    """strconv.FormatFloat(x, 'g', -1, 32): the fewest digits that read back as the same float32,
    with an exponent (at least two digits) below 1e-4 and from 1e6 (Go's %g rule: with the shortest
    precision, the exponent switch is at 6 digits, as `fmt.Println(1e6)` shows `1e+06`), and
    .inf/-.inf/.nan as yaml.go writes them."""
    import math
    import struct

    if math.isnan(x):
        return ".nan"
    f32 = struct.unpack("f", struct.pack("f", x))[0] if abs(x) < 3.4028235677973366e38 else math.copysign(math.inf, x)
    if math.isinf(f32):
        return ".inf" if f32 > 0 else "-.inf"
    if f32 == 0:
        return "-0" if math.copysign(1, f32) < 0 else "0"
    for digits in range(1, 10):
        text = f"{f32:.{digits}e}" if digits > 1 else f"{f32:.0e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f32:
            break
    mantissa, exp_text = text.split("e")
    exp = int(exp_text)
    sign = "-" if mantissa.startswith("-") else ""
    figures = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    if exp < -4 or exp >= 6:
        body = figures[0] + ("." + figures[1:] if len(figures) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{figures}"
    whole = figures[: exp + 1].ljust(exp + 1, "0")
    frac = figures[exp + 1:]
    return f"{sign}{whole}" + (f".{frac}" if frac else "")


class _MergeKeyType:
    def __repr__(self) -> str:  # pragma: no cover
        return "<<"


_MergeKey = _MergeKeyType()


def _merge(data: LDict, sources: list) -> None:
    """Add the keys of merged mappings that the mapping does not set itself (first source wins)."""
    for src in sources:
        src_lines = getattr(src, "lines", {})
        for k, v in src.items():
            if k not in data:
                data[k] = v
                data.lines[k] = src_lines.get(k, data.line)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _too_deep(limits: Limits) -> str:
    return f"nesting deeper than {limits.max_depth} levels is refused; flatten the structure"


# Typed access to what ``load_all`` builds: the one way readers dig into repository data, whatever its shape (a
# ``spec: "0x10"``, a ``dependsOn: 5``): a level of the wrong type reads as absent, never as an exception.


def mapping(d: object, key: str) -> dict[str, Any]:
    """``d[key]`` when ``d`` is a mapping holding a mapping there, else an empty dict (hostile YAML has any shape)."""
    value = d.get(key) if isinstance(d, dict) else None
    return value if isinstance(value, dict) else {}


def sequence(d: object, key: str) -> list[Any]:
    """``d[key]`` when ``d`` is a mapping holding a list there, else an empty list (``initContainers: 1`` is a
    value the schema reports; the rules read it as no items)."""
    value = d.get(key) if isinstance(d, dict) else None
    return value if isinstance(value, list) else []


def dig(d: object, *keys: str) -> Any:
    """``d[k1][k2]...``, None as soon as a level is not a mapping."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def pointer(path: tuple) -> str:
    """JSON pointer of a ``YamlRefused.path`` or a duplicate's key path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def short(path_text: str, width: int = 60) -> str:
    """A pointer or dotted path cut in the middle when long (a 100-deep path says nothing more)."""
    return path_text if len(path_text) <= width else path_text[: width // 2 - 2] + "..." + path_text[-(width // 2 - 1):]


def dotted(path: tuple) -> str:
    """``a.b[0].c`` of a key path (the loader's style)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out
