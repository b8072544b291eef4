"""Multi-document YAML loading for validate that keeps the line of every key and item.

The parsing and its limits live in ``velero_gitops.yamlsafe`` (shared with the config loader). Mappings
are ``LDict`` (``lines``: key -> 1-based line of the key, ``line``: where the mapping starts),
sequences ``LList`` (``lines``: one line per item). Duplicate keys are collected, not overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from velero_gitops import yamlsafe
from velero_gitops.yamlsafe import LDict, Limits, LList  # noqa: F401 - re-exported for validate's modules


@dataclass
class Doc:
    data: object  # LDict for objects; anything else is not a Kubernetes object
    line: int  # 1-based line where the document starts
    index: int  # position in its file (0-based)
    duplicates: list[tuple[int, str, object]] = field(default_factory=list)  # (line, pointer, key)


class YAMLError(Exception):
    def __init__(self, message: str, line: int | None, limit: bool = False, syntax: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.limit = limit  # refused by a budget (aliases, depth), not as invalid YAML
        self.syntax = syntax  # not YAML at all (a template, another format)


def load_all(text: str, limits: Limits = Limits()) -> list[Doc]:
    """Parse every document of ``text`` with yamlsafe's limits. Raises YAMLError (with line) on
    invalid or refused YAML (alias bombs, deep nesting, unknown tags, control characters)."""
    try:
        docs = yamlsafe.load_all(text, limits)
    except yamlsafe.YamlRefused as exc:
        where = f" at {yamlsafe.short(yamlsafe.pointer(exc.path))}" if exc.path and not exc.syntax else ""
        raise YAMLError(exc.message + where, exc.line, exc.limit, exc.syntax) from None
    return [Doc(d.data, d.line, d.index, [(line, yamlsafe.pointer(path), key) for line, path, key in d.duplicates])
            for d in docs]


def line_of(data: object, pointer: str, default: int) -> int:
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
