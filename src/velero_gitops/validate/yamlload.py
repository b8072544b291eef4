"""Fast multi-document YAML loading that keeps the line of every key and item.

libyaml (PyYAML's CSafeLoader) parses and composes in C; only the small constructor below runs in
Python. Mappings become ``LDict`` (a dict that also carries ``lines``: key -> 1-based line of the
key, and ``line``: line where the mapping starts), sequences become ``LList`` (``lines``: one line per
item). Duplicate keys are collected as errors instead of being silently overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

try:  # libyaml is part of every PyYAML wheel; fall back to the pure-Python loader if absent
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Base = yaml.SafeLoader


class LDict(dict):
    __slots__ = ("lines", "line")


class LList(list):
    __slots__ = ("lines", "line")


@dataclass
class Doc:
    data: object  # LDict for objects; anything else is not a Kubernetes object
    line: int  # 1-based line where the document starts
    index: int  # position in its file (0-based)
    duplicates: list = field(default_factory=list)  # (line, pointer, key)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []


def _construct_mapping(loader, node):
    data = LDict()
    lines: dict = {}
    data.lines = lines
    data.line = node.start_mark.line + 1
    yield data
    # merge keys (<<) are rare in manifests; flatten like SafeLoader does
    if any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
        loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            key = str(key)
        line = key_node.start_mark.line + 1
        if key in lines:
            loader.duplicates.append((line, key, data))
        lines[key] = line
        data[key] = loader.construct_object(value_node, deep=True)


def _construct_sequence(loader, node):
    data = LList()
    data.line = node.start_mark.line + 1
    data.lines = [n.start_mark.line + 1 for n in node.value]
    yield data
    data.extend(loader.construct_object(n, deep=True) for n in node.value)


def _construct_timestamp_as_str(loader, node):
    # Kubernetes sees timestamps as strings; keep the text (like kubeconform's JSON round-trip)
    return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_str)


class YAMLError(Exception):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.message = message
        self.line = line


def load_all(text: str) -> list[Doc]:
    """Parse every document of ``text``. Raises YAMLError (with line) on a syntax error."""
    loader = _Loader(text)
    docs: list[Doc] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover
                break
            loader.duplicates = []
            data = loader.construct_document(node)
            dups = [(line, _pointer_of(data, holder) + "/" + _escape(str(key)), key)
                    for line, key, holder in loader.duplicates]
            docs.append(Doc(data, node.start_mark.line + 1, index, dups))
            index += 1
    except yaml.MarkedYAMLError as exc:
        # the start of the unfinished construct ("while parsing a flow sequence") is where to look
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(p for p in (exc.context, exc.problem) if p)
        raise YAMLError(f"YAML parse error: {msg}", line) from None
    except yaml.YAMLError as exc:  # pragma: no cover
        raise YAMLError(f"YAML parse error: {exc}", None) from None
    finally:
        loader.dispose()
    return docs


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer_of(root, target) -> str:
    """JSON pointer of the container ``target`` inside ``root`` (identity search; only for errors)."""
    stack = [(root, "")]
    while stack:
        node, ptr = stack.pop()
        if node is target:
            return ptr
        if isinstance(node, dict):
            stack.extend((v, f"{ptr}/{_escape(str(k))}") for k, v in node.items() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, f"{ptr}/{i}") for i, v in enumerate(node) if isinstance(v, (dict, list)))
    return ""


def line_of(data, pointer: str, default: int) -> int:
    """Line of the deepest existing node on ``pointer`` (keys: the key's line, items: the item's)."""
    line = getattr(data, "line", None) or default
    if not pointer:
        return line
    node = data
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            lines = getattr(node, "lines", None)
            if token not in node:
                return line
            if lines and token in lines:
                line = lines[token]
            node = node[token]
        elif isinstance(node, list):
            try:
                i = int(token)
                item = node[i]
            except (ValueError, IndexError):
                return line
            lines = getattr(node, "lines", None)
            if lines:
                line = lines[i]
            node = item
        else:
            return line
    return line
