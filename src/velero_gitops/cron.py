"""Cron expressions as Velero parses them (robfig/cron v3 ParseStandard), and their run times.

Velero schedules run in the server's time zone, which is UTC in the official image, so every
time computed here is UTC. ``CRON_TZ=``/``TZ=`` prefixes are refused: the official image has no
time zone database (velero#9519); convert local times to UTC instead.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from velero_gitops.units import parse_duration

_FIELDS = (  # name, min, max, names
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}),
    ("day of week", 0, 6, {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
)
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    expr: str
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    dom_star: bool = False
    dow_star: bool = False
    every: float = 0.0  # seconds, for "@every <duration>"

    def matches(self, t: datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        return self._day_matches(t)

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.weekday() + 1) % 7 in self.weekdays
        # robfig: if either day field is restricted by '*', both must match; otherwise either may.
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next_runs(self, after: datetime, count: int = 5) -> list[datetime]:
        """The next ``count`` run times strictly after ``after`` (an aware datetime, UTC assumed if naive)."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=timezone.utc)
        after = after.astimezone(timezone.utc)
        out: list[datetime] = []
        if self.every:
            t = after
            for _ in range(count):
                t = t + timedelta(seconds=self.every)
                out.append(t.replace(microsecond=0))
            return out
        t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while len(out) < count and t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute in self.minutes:
                out.append(t)
            t += timedelta(minutes=1)
        return out

    def max_interval(self) -> timedelta:
        """The longest gap between two consecutive runs over the next year (drives missed-backup alerts)."""
        if self.every:
            return timedelta(seconds=self.every)
        start = datetime(2026, 1, 1, tzinfo=timezone.utc)
        runs = self.next_runs(start, count=2000)
        if len(runs) < 2:
            return timedelta(days=366)
        gap = max(b - a for a, b in zip(runs, runs[1:]))
        return gap


def _parse_field(text: str, index: int) -> frozenset[int]:
    name, lo, hi, names = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"empty item in the {name} field")
        step, stepped = 1, "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name} step {step_text!r} must be a positive number")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, name, lo, hi, names), _value(b, name, lo, hi, names)
            if start > end:
                raise CronError(f"{name} range {part} runs backwards ({start} > {end})")
        else:
            start = _value(part, name, lo, hi, names)
            end = hi if stepped else start  # robfig: "N/step" means N-max/step
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, name: str, lo: int, hi: int, names: dict[str, int] | None) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"{name} {text!r} is not a number")
    v = int(text)
    if name == "day of week" and v == 7:  # robfig accepts 0-6 only, but 7 is a common habit: be explicit
        raise CronError("day of week 7 is out of range (0-6, Sunday is 0)")
    if v < lo:
        raise CronError(f"{name} {v} < {lo}")
    if v > hi:
        raise CronError(f"{name} {v} > {hi}")
    return v


def parse(expr: str) -> Cron:
    """Parse a cron expression; raise CronError with a precise reason when Velero would refuse it."""
    if not isinstance(expr, str) or not expr.strip():
        raise CronError("empty cron expression")
    text = expr.strip()
    if text.startswith(("CRON_TZ=", "TZ=")):
        raise CronError(
            "time zone prefixes are not supported: the official Velero image has no time zone database "
            "(velero#9519); write the schedule in UTC"
        )
    if text.startswith("@every"):
        try:
            seconds = parse_duration(text[len("@every"):].strip())
        except ValueError as exc:
            raise CronError(f"@every needs a duration such as 6h: {exc}") from None
        if seconds < 60:
            raise CronError("@every interval must be at least 1m")
        return Cron(expr=expr, every=seconds)
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise CronError(f"unknown descriptor {text!r} (use one of {', '.join(sorted(_DESCRIPTORS))})")
        text = _DESCRIPTORS[text]
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    fields = [_parse_field(p, i) for i, p in enumerate(parts)]
    return Cron(
        expr=expr,
        minutes=fields[0], hours=fields[1], days=fields[2], months=fields[3], weekdays=fields[4],
        dom_star=parts[2].startswith(("*", "?")), dow_star=parts[4].startswith(("*", "?")),
    )
