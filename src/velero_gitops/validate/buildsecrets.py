"""The values a kustomize build reads as secret, and every form in which kustomize can print one.

A build holds secrets when one of its kustomizations has a ``secretGenerator`` or one of its files or output objects
is a Secret. kustomize quotes such values in its errors, in forms other than the text of the file:

* kubernetes-sigs/kustomize@kustomize/v5.7.1:api/kv/kv.go keyValuesFromLine prints an env line that is not UTF-8
  twice, as Go formats a byte slice with ``%d`` (``[65 87 ...]``) and as text; a bad literal is quoted whole, and the
  wrapper then prints the whole ``literals`` list;
* api/internal/generators/secret.go MakeSecret stores each generator value base64-encoded
  (kyaml/yaml/datamap.go encodeBase64: standard alphabet, broken into lines of 70), and a replacement copies that text
  on (api/filters/replacement/replacement.go quotes a whole source value when ``options.index`` is out of range);
* kubectl writes kustomize's error through klog, Go-quoted (``\\xff`` for a byte that is not UTF-8).

So each value is known as bytes (the file's own, never a decoded guess), and its forms are: the text, Go's quoted
text, the byte slice, and base64 (standard and URL alphabets, padded and raw); whitespace is compared collapsed (the
line breaks of encodeBase64 and of klog's multi-line form). A message from such a build is redacted of every form
before anything is cut.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

from velero_gitops import goregexp
from velero_gitops.config import compat
from velero_gitops.config.redact import MASK

MIN = 4  # shorter values are not looked for (they would mask ordinary words of the message)


def collapsed(text: str) -> str:
    return " ".join(text.split())


def forms(value: bytes) -> set[str]:
    """Every text in which Go or kustomize may print ``value``, whitespace collapsed."""
    if len(value) < MIN:
        return set()
    out = {value.decode("utf-8", "replace"), go_quoted(value), "[" + " ".join(str(c) for c in value) + "]"}
    for enc in (base64.standard_b64encode(value), base64.urlsafe_b64encode(value)):
        text = enc.decode("ascii")
        out |= {text, text.rstrip("="), " ".join(text[i:i + 70] for i in range(0, len(text), 70))}
    return {c for c in map(collapsed, out) if len(c) >= MIN}


def go_quoted(value: bytes) -> str:
    """The inside of Go's strconv.Quote of ``value``: what klog and ``%q`` print."""
    out = []
    text = value.decode("utf-8", "surrogateescape")
    for ch in text:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               "\\": "\\\\", '"': '\\"'}
_GO_UNESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE = {v[1]: k for k, v in _GO_ESCAPES.items()} | {"'": "'"}


def go_unquote(text: str) -> str:
    """The text inside a Go-quoted string, bytes that are not UTF-8 replaced (as the sandbox reads kubectl's
    stderr): the error itself, whatever quoting klog added."""
    out = bytearray()
    at = 0
    for m in _GO_UNESCAPE.finditer(text):
        out += text[at:m.start()].encode("utf-8", "surrogatepass")
        e = m.group(1)
        if e[0] == "x":
            out.append(int(e[1:], 16))
        elif e[0] in "uU":
            out += chr(min(int(e[1:], 16), 0x10FFFF)).encode("utf-8", "surrogatepass")
        elif e[0] in "01234567" and len(e) == 3:
            out.append(int(e, 8) & 0xFF)
        else:
            out += _SIMPLE.get(e, "\\" + e).encode("utf-8")
        at = m.end()
    out += text[at:].encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


def redact(message: str, values: Iterable[bytes]) -> str:
    """``message`` without any form of any of ``values``, longest first; whitespace collapsed where one was found."""
    text = collapsed(message)
    found = {f for v in values for f in forms(v) if f in text}
    for f in sorted(found, key=len, reverse=True):
        text = text.replace(f, MASK)
    return text if found else message


# --------------------------------------------------------------------------------------------------
# Where the values are


def input_values(content: bytes) -> set[bytes]:
    """A generator input (kv.go): the whole file (``files``), each line as bufio.ScanLines cuts it, and each line's
    value after the first ``=`` (``envs``), as kustomize stores them and as a reader would trim them."""
    out = {content, content.strip()}
    for line in content.split(b"\n"):
        line = line[:-1] if line.endswith(b"\r") else line
        value = line.split(b"=", 1)[-1]
        out |= {line, line.strip(), value, value.strip()}
    return out


def literal_values(literal: str) -> set[bytes]:
    """A ``literals`` entry: kv.go parseLiteralSource takes what follows the first ``=`` and removes one pair of
    surrounding quotes; the entry is quoted whole when it is refused."""
    value = literal.split("=", 1)[-1]
    unquoted = value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value
    return {literal.encode(), value.encode(), unquoted.encode()}


def object_values(o: dict) -> set[bytes]:
    """A Secret's values (``data`` as written and decoded, ``stringData``) and a kustomization's generator
    literals, in ``o`` and the items of a List; and every value of an item a chart may apply as a Secret when ``o``
    holds chart values (config/compat.rendered_secrets, judged for every chart of the table: a release's chart
    version may be unknown, and a value held for nothing is only masked)."""
    out: set[bytes] = set()
    for _, item in compat.rendered_secrets(o, None):
        out |= nested_values(item) if compat.literal_secret(item) else _leaves(item)
    if o.get("kind") in ("List", "SecretList") and isinstance(o.get("items"), list):
        for it in o["items"]:
            if isinstance(it, dict):
                out |= object_values(it)
    if o.get("kind") == "Secret":
        for f in ("data", "stringData"):
            for v in (o.get(f) or {}).values() if isinstance(o.get(f), dict) else []:
                out.add(str(v).encode())
                if f == "data":
                    try:
                        out.add(base64.b64decode("".join(str(v).split()), validate=False))
                    except ValueError:
                        pass
    for gen in (o.get("secretGenerator") or []) if isinstance(o.get("secretGenerator"), list) else []:
        lits = gen.get("literals") if isinstance(gen, dict) else None
        for lit in lits if isinstance(lits, list) else []:
            if isinstance(lit, str):
                out |= literal_values(lit)
    return out


def source_delimiters(doc: object) -> set[str]:
    """The ``source.options.delimiter`` of each kustomize replacement in ``doc``: a kustomization's ``replacements``
    entries, or a replacement file (one replacement, or a list of them) that an entry's ``path`` names
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/replacement.go Replacement, SourceSelector, FieldOptions).
    Taken from every document the build holds, whatever its name: the file an entry names is read by content."""
    entries: list[object] = []
    if isinstance(doc, dict):
        entries = doc["replacements"] if isinstance(doc.get("replacements"), list) else [doc]
    elif isinstance(doc, list):
        entries = doc
    out = set()
    for e in entries:
        source = e.get("source") if isinstance(e, dict) else None
        options = source.get("options") if isinstance(source, dict) else None
        delimiter = options.get("delimiter") if isinstance(options, dict) else None
        if isinstance(delimiter, str) and delimiter:
            out.add(delimiter)
    return out


def pieces(values: Iterable[bytes], delimiters: Iterable[str]) -> set[bytes]:
    """Every piece a replacement can copy out of ``values``: api/filters/replacement/replacement.go getRefinedValue
    splits the source value at ``options.delimiter`` and copies the piece at ``options.index``. Which source and index
    a replacement names is not modelled: every value is cut at every delimiter of the build, so no piece is missed."""
    seps = [d.encode() for d in delimiters]
    return {piece for v in values for d in seps for piece in v.split(d)}


# --------------------------------------------------------------------------------------------------
# The values a file's text holds in clear (what a diff of it may show)


def text_values(text: str) -> set[bytes] | None:
    """Every value ``text`` (YAML) holds that must never be printed, each with its lines and what follows a ``=``
    on them (input_values: a diff shows a block scalar line by line, an AWS credentials file is ``key=value``
    lines): the data/stringData values of every Secret at any depth (a chart renders a Secret written in its values,
    such as the velero chart's extraObjects, and a hand-edited file may hold one anywhere), except sops ciphertext;
    and every place config/redact.clear_credentials finds (an env var that carries a credential, a string that holds
    a key). None when the text is not YAML the reader takes, or repeats a key: then nothing in it is known to be
    plain."""
    from velero_gitops import yamlsafe
    from velero_gitops.config.redact import clear_credentials

    try:
        docs = yamlsafe.load_all(text)
    except yamlsafe.YamlRefused:
        return None
    if any(d.duplicates for d in docs):
        return None  # the value read is the last of a key's values: the text shows the others too
    found: set[bytes] = set()
    for d in docs:
        found |= held_values(d.data)
        for path in clear_credentials(d.data):
            node: Any = d.data
            for part in path:
                node = node[part]
            found.add(str(node).encode())
    return {piece for v in found for piece in input_values(v)}


def _leaves(node: object, top: bool = True) -> set[bytes]:
    """Every scalar value of ``node`` but its own apiVersion and kind: which of them a template makes Secret data is
    not known (the type's names would only mask ordinary words of every message)."""
    if isinstance(node, dict):
        return {b for k, v in node.items() if not (top and k in ("apiVersion", "kind")) for b in _leaves(v, False)}
    if isinstance(node, list):
        return {b for v in node for b in _leaves(v, False)}
    return {str(node).encode()} if node is not None else set()


def held_values(node: object) -> set[bytes]:
    """The Secret data ``node`` holds in clear at any depth (nested_values), sops ciphertext left out: what makes a
    build or a file one that holds secrets (its output never cached, its messages redacted)."""
    return {v for v in nested_values(node) if not v.startswith(b"ENC[")}


def nested_values(node: object) -> set[bytes]:
    """object_values of every mapping at any depth of ``node``."""
    out: set[bytes] = set()
    if isinstance(node, dict):
        out |= object_values(node)
        for v in node.values():
            out |= nested_values(v)
    elif isinstance(node, list):
        for v in node:
            out |= nested_values(v)
    return out


# RE2: a diff line is a hostile file's text, and Python's engine is quadratic on this pattern (goregexp.linear)
_KEY = goregexp.linear(r"(?:- )*(?:[^\s:#'\"][^:#]*|'[^']*'|\"[^\"]*\"):(?: |$)")


def redact_diff(diff: str, values: set[bytes] | None) -> str:
    """A unified diff with every form of ``values`` redacted from each line, its marker and indentation kept; with
    ``values`` None (a side whose values are not known) each line keeps only its key: any value, comment or line of
    a block scalar may be the secret."""
    out = []
    for line in diff.split("\n"):
        body = line[1:]
        head = line[:1] + body[:len(body) - len(body.lstrip(" "))]
        rest = body.lstrip(" ")
        if line.startswith(("--- ", "+++ ", "@@ ")) or not rest:
            out.append(line)
            continue
        if values is None:
            key = _KEY.match(rest)
            out.append(head + (key.group() if key else "") + (MASK if not key or rest[key.end():].strip() else ""))
        else:
            out.append(head + redact(rest, values))
    return "\n".join(out)
