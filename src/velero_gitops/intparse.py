"""One bounded integer parse for numbers read from text (a config, a manifest, an image tag).

CPython's ``int()`` refuses more than 4,300 decimal digits with a ValueError (``sys.get_int_max_str_digits``) and
costs quadratic time below that; Go's ``strconv.ParseInt``/``ParseUint`` refuse anything beyond 64 bits with
``ErrRange`` (go/src/strconv/atoi.go). Every number we model is one Go parses, so the digits are counted before
``int()`` runs: a longer run is "not such a number", never an exception.
"""

from __future__ import annotations

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
BITS = 64
# a number beyond 64 bits, ordered after every real one (version parts, see version_parts)
BEYOND = 1 << BITS


def _max_len(base: int, bits: int) -> int:
    n, top = 0, (1 << bits) - 1
    while top:
        top //= base
        n += 1
    return n


def parse_int(text: str, base: int = 10, bits: int = BITS) -> int | None:
    """The value of ``text``, ASCII digits of ``base`` and nothing else (no sign, space or '_'), or None when it is
    not such digits or its value needs more than ``bits`` bits."""
    if not text or not text.isascii():
        return None
    allowed = _DIGITS[:base]
    if any(c not in allowed for c in text.lower()):
        return None
    if len(text.lstrip("0")) > _max_len(base, bits):
        return None
    n = int(text, base)
    return n if n < (1 << bits) else None


def version_parts(core: str) -> tuple[int, ...]:
    """The numeric dot-separated parts of a version core ("1.18.2"); a part beyond 64 bits is BEYOND (no release
    has one: it orders after every known version, and the caller says the version is unknown)."""
    out: list[int] = []
    for p in core.split("."):
        if p.isascii() and p.isdigit():
            n = parse_int(p)
            out.append(BEYOND if n is None else n)
    return tuple(out)


def yaml_int_fits(text: str) -> bool:
    """Whether a YAML integer's text (sign, '_', a 0x/0o/0b prefix, YAML 1.1 octal) holds at most 64 bits' worth of
    digits: what a YAML loader may pass to ``int()`` (longer texts are counted, never converted)."""
    body = text.lstrip("+-").replace("_", "")
    base = {"x": 16, "o": 8, "b": 2}.get(body[1:2].lower(), 8 if body[:1] == "0" and len(body) > 1 else 10)
    digits = body[2:] if body[1:2].lower() in ("x", "o", "b") else body
    return len(digits.lstrip("0")) <= _max_len(base, BITS)
