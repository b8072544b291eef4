"""The one YAML style of every generated file (the style of Flux home-lab repositories and of `flux export`).

2-space indent, sequences indented under their key, `apiVersion, kind, metadata, spec` first and
other keys alphabetical (`name`, `namespace` lead inside metadata), strings that would read as
another type double-quoted (what prettier keeps), multi-line strings as literal blocks. The
output is a fixed point: loading it with ruamel.yaml and dumping it again gives the same bytes.
"""

from __future__ import annotations

import io
import re
from typing import Any

TOP_ORDER = ("apiVersion", "kind", "metadata", "spec")
META_ORDER = ("name", "namespace")
WIDTH = 4096  # never fold long lines: folding differs between formatters

# Plain scalars YAML 1.1/1.2 would resolve to something other than a string, or that need quoting.
_NEEDS_QUOTES = re.compile(
    r"""^(?:
        ~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N
        |[-+]?(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][-+]?\d+)?
        |[-+]?0[xob][0-9a-fA-F_]+
        |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
        |\d+(?::[0-5]?\d)+(?:\.\d*)?
        |\d{4}-\d\d?-\d\d?.*
        |=|<<
    )$""",
    re.VERBOSE,
)
_UNSAFE_START = tuple("!&*?|>'\"%@`#,[]{}-:") + (" ",)


def yaml_instance():
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = WIDTH
    y.preserve_quotes = True
    y.explicit_start = False
    return y


def _needs_quotes(s: str) -> bool:
    if s == "" or s != s.strip() or _NEEDS_QUOTES.match(s):
        return True
    if s.startswith(_UNSAFE_START) or ": " in s or " #" in s or s.endswith(":") or "*" in s:
        # '*' too: cron expressions are conventionally quoted, and an unquoted leading '*' is an alias.
        return True
    return any(c in s for c in "\t\r") or not s.isprintable()


def _order(keys: list[str], level: str) -> list[str]:
    first = TOP_ORDER if level == "top" else META_ORDER if level == "metadata" else ()
    head = [k for k in first if k in keys]
    return head + sorted(k for k in keys if k not in head)


def to_node(value: Any, level: str = "") -> Any:
    """Plain data -> ruamel nodes with the canonical key order and quoting."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

    if isinstance(value, dict):
        m = CommentedMap()
        for k in _order([str(k) for k in value], level):
            m[k] = to_node(value[k], "metadata" if k == "metadata" and level == "top" else "")
        return m
    if isinstance(value, (list, tuple)):
        return CommentedSeq(to_node(v) for v in value)
    if isinstance(value, str):
        if "\n" in value:
            # A literal block keeps the text byte for byte; strip trailing blanks on lines (YAML cannot keep them in a block).
            return LiteralScalarString(value)
        if _needs_quotes(value):
            return DoubleQuotedScalarString(value)
        return value
    return value


def dump(value: Any, top: bool = True) -> str:
    """One YAML document (without `---`) in the canonical style."""
    buf = io.StringIO()
    yaml_instance().dump(to_node(value, "top" if top else ""), buf)
    return buf.getvalue()


def dump_fragment(value: Any, indent: int, level: str = "") -> str:
    """The value of a key, to be placed under that key in a template whose key sits at column ``indent - 2``.

    It is dumped nested under a placeholder key, so maps and sequences get exactly the indentation
    they would have in the whole document.
    """
    buf = io.StringIO()
    yaml_instance().dump({"_": to_node(value, level)}, buf)
    lines = buf.getvalue().splitlines(keepends=True)[1:]
    pad = " " * (indent - 2)
    return "".join(pad + line if line.strip() else line for line in lines).rstrip("\n")


def safe_load_all(text: str) -> list[Any]:
    """Plain data of every document, read the way Kubernetes reads YAML (1.1, libyaml when available).

    Comparing that with the plan also catches a value that YAML 1.1 would read as another type.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(text, Loader=loader) if d is not None]


def roundtrip(text: str) -> str:
    """Load every document of ``text`` and dump it again with the canonical settings (used to prove fixed points)."""
    y = yaml_instance()
    y.explicit_start = True
    buf = io.StringIO()
    y.dump_all(list(y.load_all(text)), buf)
    return buf.getvalue()
