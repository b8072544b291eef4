"""The one YAML style of every generated file (the style of Flux home-lab repositories and of `flux export`).

2-space indent, sequences indented under their key, `apiVersion, kind, metadata, spec` first and
other keys alphabetical (`name`, `namespace` lead inside metadata), strings that would read as
another type double-quoted (what prettier keeps), multi-line strings as literal blocks. The
output is a fixed point: loading it with ruamel.yaml and dumping it again gives the same bytes.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ruamel.yaml import YAML

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
# What cannot stand for itself in a literal block: characters YAML does not allow unescaped (C0 and C1 controls but
# tab and newline, DEL, surrogates, U+FFFE/U+FFFF, the BOM) and the other line breaks YAML 1.1 knows (CR, U+0085,
# U+2028, U+2029), which a reader would turn into newlines. Compiled when first used (ruamel's path only): a class
# spanning the code space costs milliseconds to compile, at every start.
_BLOCK_UNSAFE = "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
_UNSAFE_START = tuple("!&*?|>'\"%@`#,[]{}-:") + (" ",)


def yaml_instance() -> YAML:
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
            # a key YAML 1.1 or Go YAML would read as another type (`on`, `N`, `1`) is quoted, as values are
            key = DoubleQuotedScalarString(k) if _needs_quotes(k) else k
            m[key] = to_node(value[k], "metadata" if k == "metadata" and level == "top" else "")
        return m
    if isinstance(value, (list, tuple)):
        return CommentedSeq(to_node(v) for v in value)
    if isinstance(value, str):
        if "\n" in value and not re.search(_BLOCK_UNSAFE, value):
            return LiteralScalarString(value)  # a literal block keeps the text byte for byte
        if "\n" in value or _needs_quotes(value):
            return DoubleQuotedScalarString(value)  # escapes: a control character cannot stand in a block
        return value
    return value


@lru_cache(maxsize=1)
def _dumper() -> YAML:
    return yaml_instance()  # reused: building a YAML() costs more than dumping a scalar with it


def _ruamel_dump(node: Any) -> str:
    buf = io.StringIO()
    _dumper().dump(node, buf)
    return buf.getvalue()


class _Unsupported(Exception):
    """A shape the direct emitter does not write; the whole document goes through ruamel instead."""


@lru_cache(maxsize=8192)
def _scalar_lines(value: Any) -> tuple[str, ...]:
    """ruamel's text for a scalar outside the domain ``_string_style`` and ``_literal`` model (non-ASCII, controls,
    tabs, long or irregular multi-line strings): the part after ``_: `` and any literal-block lines. None of the
    example and golden trees reaches it (tests/render/test_yamlfmt.py)."""
    lines = _ruamel_dump({"_": to_node(value)}).removesuffix("\n").split("\n")  # not splitlines(): \x1e is no break
    if not lines[0].startswith("_:") or lines[-1] == "...":  # a kept final line break ends ruamel's document
        raise _Unsupported(value)
    return (lines[0][3:], *lines[1:])


def _key_text(key: str) -> str:
    own = _string_style(key) if len(key) < 128 else None  # 128 and longer: ruamel writes a `? ` key
    return own if own is not None else _ruamel_key(key)


@lru_cache(maxsize=4096)
def _ruamel_key(key: str) -> str:
    line = _ruamel_dump(to_node({key: 0})).removesuffix("\n").split("\n")
    if len(line) != 1 or not line[0].endswith(": 0"):
        raise _Unsupported(key)
    return line[0][:-3]


def _literal(value: str) -> tuple[str, ...] | None:
    """A multi-line string as the literal block ruamel writes for it, for the plain cases only (None otherwise): no
    indentation indicator, no kept trailing breaks, nothing that makes ruamel pick another style."""
    body = value[:-1] if value.endswith("\n") else value
    lines = body.split("\n")
    if value.endswith("\n\n") or not value.isascii() or lines[0][:1] in ("", " "):
        return None
    if any(line != line.rstrip() or not line.isprintable() for line in lines):
        return None
    return ("|" if value.endswith("\n") else "|-", *("  " + line if line else "" for line in lines))


# YAML 1.2's core resolution as ruamel applies it to a plain scalar when it writes one (ruamel.yaml@0.19.1:
# resolver.py, implicit_resolvers for (1, 2)): a string that would read back as a bool, number, null, timestamp,
# merge or value key cannot be written plain.
_RESOLVES_12 = re.compile(
    r"""^(?:true|True|TRUE|false|False|FALSE
    |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    |[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+
    |<<|~|null|Null|NULL|=|!|&|\*
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[\ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
     (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
    re.VERBOSE,
)
_WS = " \t\r\n\x00\x85\u2028\u2029"


def _block_plain_allowed(s: str) -> bool:
    """Whether a printable single-line ASCII string may stand plain in block context: the indicator analysis of
    ruamel.yaml@0.19.1:emitter.py analyze_scalar, for that domain (no breaks, no special characters)."""
    if s[0] == " " or s[-1] == " " or s.startswith(("---", "...")):
        return False
    if s[0] in "#,[]{}&*!|>'\"%@`" or (s[0] in "?:-" and (len(s) == 1 or s[1] in _WS)):
        return False
    for i in range(1, len(s)):
        ch = s[i]
        if ch == ":" and (i + 1 == len(s) or s[i + 1] in _WS):
            return False
        if ch == "#" and s[i - 1] in _WS:
            return False
    return True


# Strings that are plain at a glance (a letter, `_`, `/` or `$` first, no indicator, no space at either end), unless
# _needs_quotes holds: the common case, without the character-by-character analysis.
_PLAIN = re.compile(r"[A-Za-z_/$][A-Za-z0-9_/.$=@+,()-]*(?: [A-Za-z0-9_/.$=@+,()-]+)*\Z")


@lru_cache(maxsize=16384)  # keys and most values repeat in every document and cluster
def _string_style(s: str) -> str | None:
    """A single-line string as ruamel writes it (``to_node``'s forced double quotes included), decided here: plain
    when the indicators allow it and it reads back as a string, else double-quoted when it holds a ``'``, else
    single-quoted (ruamel.yaml@0.19.1:emitter.py choose_scalar_style). None outside the modelled domain (non-ASCII,
    controls and tabs, strings long enough to fold), which ruamel decides."""
    if _PLAIN.match(s) and not _NEEDS_QUOTES.match(s):
        return s
    if not s.isascii() or not s.isprintable() or len(s) > 2000:  # ruamel folds past column 4096 (WIDTH)
        return None
    if _needs_quotes(s):  # to_node forces double quotes: only " and \ have escapes among printable ASCII
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    # ruamel tries a resolver only when the first character is one its pattern lists: `_` starts none (`_1` is a
    # string there, though the int pattern would match it)
    if _block_plain_allowed(s) and (s[0] == "_" or not _RESOLVES_12.match(s)):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' if "'" in s else f"'{s}'"


def _scalar(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and "\n" in value:
        literal = _literal(value)  # dashboards and rule expressions: large and distinct per cluster, so not cached
        if literal is not None:
            return literal
    if value is None or isinstance(value, float) or (isinstance(value, str) and not value.isascii()):
        raise _Unsupported(value)  # rare in our output; ruamel's forms for these are not worth modelling
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int):
        return (str(value),)
    if isinstance(value, str) and "\n" not in value:
        own = _string_style(value)
        if own is not None:
            return (own,)
    if isinstance(value, str):
        return _scalar_lines(value)
    raise _Unsupported(value)


def _emit_map(value: dict, col: int, level: str, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * col
    for i, key in enumerate(_order([str(k) for k in value], level)):
        child = value[key]
        head = (first_prefix if i == 0 and first_prefix is not None else pad) + _key_text(key)
        if isinstance(child, dict) and child:
            out.append(head + ":")
            _emit_map(child, col + 2, "metadata" if key == "metadata" and level == "top" else "", out)
        elif isinstance(child, (list, tuple)) and child:
            out.append(head + ":")
            _emit_seq(child, col + 2, out)
        elif isinstance(child, dict):
            out.append(head + ": {}")
        elif isinstance(child, (list, tuple)):
            out.append(head + ": []")
        else:
            first, *rest = _scalar(child)
            out.append(head + ": " + first)
            out.extend(" " * (col + 2) + line[2:] if line else line for line in rest)


def _emit_seq(value: list | tuple, col: int, out: list[str]) -> None:
    pad = " " * col
    for item in value:
        if isinstance(item, dict) and item:
            _emit_map(item, col + 2, "", out, first_prefix=pad + "- ")
        elif isinstance(item, dict):
            out.append(pad + "- {}")
        elif isinstance(item, (list, tuple)):
            raise _Unsupported(item)
        else:
            lines = _scalar(item)
            if len(lines) > 1:
                raise _Unsupported(item)
            out.append(pad + "- " + lines[0])


def document(obj: dict) -> str:
    """A Kubernetes object as one YAML document (without `---`) in the canonical style: apiVersion, kind,
    metadata, spec first."""
    return dump(obj)


def dump(value: Any, top: bool = True) -> str:
    """One YAML document (without `---`) in the canonical style, written by the direct emitter: exactly what ruamel
    writes (tests/render/test_yamlfmt.py proves it on every example and golden tree and on generated data) without
    running ruamel's pure-Python emitter, which was 57-68 % of a render. A shape the emitter does not model goes
    through ruamel whole."""
    level = "top" if top else ""
    out: list[str] = []
    try:
        if isinstance(value, dict) and value:
            _emit_map(value, 0, level, out)
        elif isinstance(value, (list, tuple)) and value:
            _emit_seq(value, 2, out)  # ruamel's offset 2 applies at the top too
        else:
            raise _Unsupported(value)
    except _Unsupported:
        return _whole_by_ruamel(value, level)
    return "\n".join(out) + "\n"


def _whole_by_ruamel(value: Any, level: str) -> str:
    return _ruamel_dump(to_node(value, level))


def roundtrip(text: str) -> str:
    """Load every document of ``text`` and dump it again with the canonical settings (used to prove fixed points)."""
    y = yaml_instance()
    y.explicit_start = True
    buf = io.StringIO()
    y.dump_all(list(y.load_all(text)), buf)
    return buf.getvalue()
