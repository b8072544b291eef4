"""Go durations and Kubernetes quantities: parse, validate and print them the way Velero/Kubernetes do."""

from __future__ import annotations

import re
from decimal import Decimal

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
# The node-agent budget: the highest limits a node-agent pod may have (the ask: under 500 MB). One value for
# the config's default (node-agent resources and budget), `validate` and `check`, so both hooks agree on a tree.
NODE_AGENT_CPU_BUDGET = "500m"
NODE_AGENT_MEMORY_BUDGET = "500M"
# Flux's CRDs accept this pattern for interval/timeout fields.
FLUX_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration such as ``720h``, ``1h30m`` or ``720h0m0s``. Raises ValueError."""
    if not isinstance(text, str) or not text:
        raise ValueError("expected a duration such as 720h, 1h30m or 15m")
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        hint = " (Go durations have no 'd' unit: write 720h for 30 days)" if "d" in text else ""
        raise ValueError(f"{text!r} is not a duration such as 720h, 1h30m or 15m{hint}")
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


_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]+|E[0-9]+)?$")
_SUFFIX = {
    None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a Kubernetes quantity (``500m`` CPU = 0.5, ``512Mi`` = 536870912). Raises ValueError."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return Decimal(str(text))
    m = _QUANTITY.match(str(text))
    if not m or m.group(1) in {".", "+", "-"}:
        raise ValueError(f"{text!r} is not a Kubernetes quantity such as 500m, 1, 128Mi or 1Gi")
    num, suffix = Decimal(m.group(1)), m.group(2)
    if suffix and suffix[0] in "eE" and len(suffix) > 1:
        return num * (Decimal(10) ** int(suffix[1:]))
    value = num * _SUFFIX[suffix]
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value
