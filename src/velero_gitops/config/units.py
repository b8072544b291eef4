"""Go durations and Kubernetes quantities: parse, validate and print them the way Velero/Kubernetes do."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from velero_gitops import goregexp

# The node-agent budget: the highest limits a node-agent pod may have (the ask: under 500 MB). One value for
# the config's default (node-agent resources and budget), `validate` and `check`, so both hooks agree on a tree.
NODE_AGENT_CPU_BUDGET = "500m"
NODE_AGENT_MEMORY_BUDGET = "500M"
# Go's time.ParseDuration (golang/go@go1.25.0:src/time/format.go): an optional sign, then one or more
# <number><unit>, where the number has ASCII digits before or after an optional '.'; "0" alone needs no unit.
# [0-9], never \d: Python's \d also matches other scripts' digits, which Go refuses.
_DURATION_PART = goregexp.linear("([0-9]*(?:\\.[0-9]*)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_MAX_DURATION = (2**63 - 1) / 1e9  # time.Duration is int64 nanoseconds
# Flux's CRDs accept this pattern for interval/timeout fields (use .fullmatch: `$` allows a final newline).
FLUX_DURATION = goregexp.linear(r"([0-9]+(\.[0-9]+)?(ms|s|m|h))+")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration such as ``720h``, ``1h30m`` or ``720h0m0s``. Raises ValueError for what Go's
    time.ParseDuration refuses, and for negative durations, which no field here can use."""
    if not isinstance(text, str) or not text:
        raise ValueError("expected a duration such as 720h, 1h30m or 15m")
    if text[0] == "-":
        raise ValueError(f"{text!r} is negative; use a positive duration such as 720h")
    body = text[1:] if text[0] == "+" else text
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(body):
        if m.start() != pos or not any(c.isdigit() for c in m.group(1)):
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(body) or not body:
        hint = " (Go durations have no 'd' unit: write 720h for 30 days)" if "d" in body else ""
        raise ValueError(f"{text!r} is not a duration such as 720h, 1h30m or 15m{hint}")
    if total > _MAX_DURATION:
        raise ValueError(f"{text!r} is longer than the longest Go duration (about 292 years)")
    return total


def go_duration(seconds: float) -> str:
    """Format whole seconds as Go's time.Duration.String() does: 720h0m0s, 1h30m0s, 15m0s, 30s."""
    s = int(round(seconds))
    if s == 0:
        return "0s"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


# k8s.io/apimachinery@v0.35.0:pkg/api/resource/quantity.go (parseQuantityString) and suffix.go: a signed
# decimal of ASCII digits, then a binary (Ki..Ei), decimal (n, u, m, k, M..E) or exponent (e3, E-2) suffix.
_QUANTITY = re.compile(
    r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?"
)
_SUFFIX = {
    None: Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a non-negative Kubernetes quantity (``500m`` CPU = 0.5, ``512Mi`` = 536870912).
    Raises ValueError, also for YAML's .inf and .nan."""
    if isinstance(text, float) and text != text or text in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a Kubernetes quantity such as 500m, 1, 128Mi or 1Gi")
    m = _QUANTITY.fullmatch(str(text)) if isinstance(text, (str, int, float)) and not isinstance(text, bool) else None
    if not m:
        raise ValueError(f"{text!r} is not a Kubernetes quantity such as 500m, 1, 128Mi or 1Gi")
    sign, num, suffix = m.groups()
    try:
        if suffix and suffix[0] in "eE" and len(suffix) > 1:
            value = Decimal(num).scaleb(int(suffix[1:]))
        else:
            value = Decimal(num) * _SUFFIX[suffix]
    except (ArithmeticError, InvalidOperation, ValueError):
        raise ValueError(f"{text!r} is out of range") from None
    if sign == "-" and value != 0:
        raise ValueError(f"{text!r} is negative")
    return value


def resolution_problem(resource: str, text: str) -> str | None:
    """Why quantity ``text`` of ``resource`` (cpu or memory) is finer than Kubernetes counts it, or None. The
    kubelet reads memory as whole bytes and CPU as millicores, rounding up (k8s.io/apimachinery@v0.35.0:
    pkg/api/resource/quantity.go, Value and MilliValue), so `128m` of memory is 1 byte, not 128 MiB."""
    value = parse_quantity(text)
    if resource == "memory" and value != value.to_integral_value():
        hint = f"; did you mean {text[:-1]}Mi?" if text.endswith("m") else ""
        return (f"memory {text} is not a whole number of bytes ('m' means milli, so this is {value.normalize()} "
                f"bytes, rounded up to 1){hint}")
    if resource == "cpu" and (value * 1000) != (value * 1000).to_integral_value():
        return f"cpu {text} is finer than 1m (one millicore), the smallest CPU amount Kubernetes counts"
    return None
