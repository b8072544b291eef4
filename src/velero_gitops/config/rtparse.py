"""The config's round-trip tree with libyaml as the parser: what ``ruamel.yaml.YAML(typ="rt").load`` returns, at
libyaml's speed, for the plain part of YAML a config is written in.

ruamel's pure-Python scanner and parser were 70 % of loading a config (5 ms of its 7 ms). Here libyaml (PyYAML's C
parser, already the reader of yamlsafe.py) makes the events, and ruamel makes everything else, as its own loader
does: each node's tag comes from ruamel's resolver (YAML 1.2), the nodes are composed as ruamel's composer composes
them (ruamel.yaml@0.19 composer.py compose_node: marks, style, flow style), and ruamel's round-trip constructor
builds the tree (CommentedMap/CommentedSeq, their ``lc`` positions from the nodes' start marks, ScalarFloat ...).

Only a text in the subset where the two parsers are proven to agree is read here; for anything else ``tree``
returns None and the caller reads the text with ruamel itself, so every error message (and its line) is ruamel's by
construction. Outside the subset: an anchor or alias, an explicit tag, a directive, more than one document, a block
scalar (``|``, ``>``), a scalar over several lines, an empty value (``key:`` alone), a double-quoted escape, a tab, a carriage return or a byte-order
mark, a complex key, and anything libyaml refuses. tests/config/test_rtparse.py proves the rest by a differential
property test (Hypothesis) against ruamel's loader: the same types, values, tags and positions of every node.
"""

from __future__ import annotations

from typing import Any

import yaml
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

_E = yaml.events
_SCALAR, _MAP_START, _MAP_END = _E.ScalarEvent, _E.MappingStartEvent, _E.MappingEndEvent
_SEQ_START, _SEQ_END, _ALIAS = _E.SequenceStartEvent, _E.SequenceEndEvent, _E.AliasEvent
_OUT_OF_SUBSET = ("\t", "\r", "\ufeff", "\x85", "\u2028", "\u2029")


class _Outside(Exception):
    """The text leaves the subset: ruamel reads it."""


def tree(text: str) -> Any:
    """ruamel's round-trip tree of ``text``, or None when ``text`` is outside the proven subset."""
    if any(c in text for c in _OUT_OF_SUBSET):
        return None
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    parser = yaml.CBaseLoader(text)
    try:
        node = _compose(parser, rt.resolver, text)
    except (_Outside, yaml.YAMLError):
        return None
    finally:
        parser.dispose()
    if node is None:
        return None  # an empty document: ruamel's None, read by ruamel (cheap) to keep one answer
    try:
        return rt.constructor.construct_document(node)
    except Exception:  # noqa: BLE001 - a duplicate key, a bad value: ruamel's loader says it, located
        return None


def _compose(parser: yaml.CBaseLoader, resolver: Any, text: str) -> Any:
    """The single document's root node, composed as ruamel composes it; _Outside when out of the subset."""
    get = parser.get_event
    if type(get()) is not _E.StreamStartEvent:
        raise _Outside
    start = get()
    if type(start) is not _E.DocumentStartEvent or start.version is not None or start.tags:
        raise _Outside  # an empty stream, or a %YAML / %TAG directive
    root = _node(get(), get, resolver, 0, text)
    if type(get()) is not _E.DocumentEndEvent or type(get()) is not _E.StreamEndEvent:
        raise _Outside  # a second document
    return root


def _node(ev: Any, get: Any, resolver: Any, depth: int, text: str) -> Any:
    cls = type(ev)
    if cls is _ALIAS or ev.anchor is not None or ev.tag is not None or depth > 200:
        raise _Outside
    if cls is _SCALAR:
        style = ev.style or None  # libyaml's plain style is "", ruamel's None
        if (style in ("|", ">") or ev.start_mark.line != ev.end_mark.line or (style == '"' and "\\" in text[ev.start_mark.index:ev.end_mark.index])
                or (style is None and not ev.value)):  # an empty value: the parsers place it differently
            raise _Outside
        return ScalarNode(resolver.resolve(ScalarNode, ev.value, ev.implicit), ev.value, ev.start_mark, ev.end_mark,
                          style=style)
    if cls is _SEQ_START:
        seq = SequenceNode(resolver.resolve(SequenceNode, None, ev.implicit), [], ev.start_mark, None,
                           flow_style=ev.flow_style)
        item = get()
        while type(item) is not _SEQ_END:
            seq.value.append(_node(item, get, resolver, depth + 1, text))
            item = get()
        seq.end_mark = item.end_mark
        return seq
    if cls is _MAP_START:
        mapping = MappingNode(resolver.resolve(MappingNode, None, ev.implicit), [], ev.start_mark, None,
                              flow_style=ev.flow_style)
        item = get()
        while type(item) is not _MAP_END:
            if type(item) is not _SCALAR:
                raise _Outside  # a mapping or a list as a key
            key = _node(item, get, resolver, depth + 1, text)
            mapping.value.append((key, _node(get(), get, resolver, depth + 1, text)))
            item = get()
        mapping.end_mark = item.end_mark
        return mapping
    raise _Outside
