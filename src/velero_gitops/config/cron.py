"""Cron expressions as Velero parses them (robfig/cron v3 ParseStandard), and their run times.

Velero schedules run in the server's time zone, which is UTC in the official image, so every
time computed here is UTC. A ``CRON_TZ=``/``TZ=`` prefix is taken only for a zone Go loads without a time zone
database (UTC): the official image has none (velero#9519); convert local times to UTC instead.

The rules follow robfig/cron@v3.0.1:parser.go (getRange, mustParseInt) and spec.go (Next, dayMatches).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from velero_gitops.config.units import parse_duration
from velero_gitops.intparse import parse_int

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
            after = after.replace(tzinfo=UTC)
        after = after.astimezone(UTC)
        out: list[datetime] = []
        if self.every:
            t = after
            for _ in range(count):
                t = t + timedelta(seconds=self.every)
                out.append(t.replace(microsecond=0))
            return out
        first = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        day = first.replace(hour=0, minute=0)
        limit = day + timedelta(days=366 * 5)
        # Walk matching days, then only the matching hours and minutes of each (no minute-by-minute scan).
        while len(out) < count and day < limit:
            if day.month in self.months and self._day_matches(day):
                for h in hours:
                    for m in minutes:
                        t = day.replace(hour=h, minute=m)
                        if t >= first:
                            out.append(t)
                            if len(out) == count:
                                return out
            day += timedelta(days=1)
        return out

    def max_interval(self) -> timedelta:
        """The longest gap between two consecutive runs over the next year (drives missed-backup alerts)."""
        if self.every:
            return timedelta(seconds=self.every)
        return _max_interval(self)


@lru_cache(maxsize=64)
def _max_interval(c: Cron) -> timedelta:
    """Largest gap: within a matching day (from the sorted run times) or between consecutive matching days.

    Walks a little over four years from a leap year, so every month length, weekday alignment and Feb 29 appears.
    """
    times = sorted(h * 60 + m for h in c.hours for m in c.minutes)
    gap = max((b - a for a, b in zip(times, times[1:])), default=0)
    day0 = datetime(2024, 1, 1, tzinfo=UTC)
    previous: int | None = None
    for i in range(1530):
        day = day0 + timedelta(days=i)
        if day.month in c.months and c._day_matches(day):
            if previous is not None:
                gap = max(gap, (i - previous) * 1440 + times[0] - times[-1])
            previous = i
    return timedelta(minutes=gap) if previous is not None and gap else timedelta(days=366)


def _parse_field(text: str, index: int) -> frozenset[int]:
    name, lo, hi, names = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"empty item in the {name} field")
        step, stepped = 1, "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            parsed = parse_int(step_text)
            if not parsed:
                raise CronError(f"{name} step {_short(step_text)} must be a positive number")
            step = parsed
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


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:20] + "..." + text[-10:]) + f" ({len(text)} characters)"


def _star(field: str) -> bool:
    """robfig sets its star bit for a '*' or '?' item without a step above 1, in any comma item ("*/2" is not
    a star, "1,*" is): it decides whether day-of-month and day-of-week must both match or either may."""
    for item in field.split(","):
        base, _, step = item.partition("/")
        if base in ("*", "?") and (not step or ((n := parse_int(step)) is not None and n <= 1)):
            return True
    return False


def _value(text: str, name: str, lo: int, hi: int, names: dict[str, int] | None) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    # robfig reads fields with strconv.Atoi: ASCII digits only (str.isdigit() would also take '٣' or '²'),
    # at most 64 bits (intparse)
    parsed = parse_int(text)
    if parsed is None:
        raise CronError(f"{name} {_short(text)} is not a number" + (" of at most 64 bits" if text.isdigit() else ""))
    v = parsed
    if name == "day of week" and v == 7:  # robfig accepts 0-6 only, but 7 is a common habit: be explicit
        raise CronError("day of week 7 is out of range (0-6, Sunday is 0)")
    if v < lo:
        raise CronError(f"{name} {v} < {lo}")
    if v > hi:
        raise CronError(f"{name} {v} > {hi}")
    return v


# time.LoadLocation needs no time zone database for "" and "UTC" (UTC) and "Local" (the server's zone, UTC in the
# official image) (golang/go@go1.25.0:src/time/zoneinfo.go LoadLocation); any other zone needs one, which the
# official Velero image lacks (velero#9519), so robfig's parser fails on it and the Schedule never runs.
ZONES_WITHOUT_TZDATA = ("", "UTC", "Local")


def _without_zone(text: str) -> str:
    """``text`` without the ``CRON_TZ=``/``TZ=`` prefix robfig's Parse takes (robfig/cron@v3.0.1:parser.go Parse:
    the zone is what follows '=' up to the first space), when its zone is one Velero can load."""
    if not text.startswith(("CRON_TZ=", "TZ=")):
        return text
    prefix, _, rest = text.partition(" ")
    zone = prefix.partition("=")[2]
    if zone not in ZONES_WITHOUT_TZDATA:
        raise CronError(f"time zone {zone!r} needs a time zone database, which the official Velero image does not "
                        "have (velero#9519); write the schedule in UTC (CRON_TZ=UTC is accepted)")
    if not rest.strip():
        raise CronError(f"{prefix} must be followed by a schedule")
    return rest.strip()


@lru_cache(maxsize=256)
def parse(expr: str) -> Cron:
    """Parse a cron expression; raise CronError with a precise reason when Velero would refuse it."""
    if not isinstance(expr, str) or not expr.strip():
        raise CronError("empty cron expression")
    text = _without_zone(expr.strip())
    if text.startswith("@every"):
        try:
            if not text.startswith("@every ") or text[len("@every "):] != text[len("@every "):].strip():
                raise ValueError("write '@every' and the duration separated by one space")
            seconds = parse_duration(text[len("@every "):])
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
    cron = Cron(
        expr=expr,
        minutes=fields[0], hours=fields[1], days=fields[2], months=fields[3], weekdays=fields[4],
        dom_star=_star(parts[2]), dow_star=_star(parts[4]),
    )
    # robfig's Next returns the zero time when nothing matches within five years; Velero's schedule
    # controller then finds the schedule due on every sync and starts a backup about every minute.
    # A day that never comes (31 February) never comes in any window, so one leap cycle decides.
    if not cron.next_runs(datetime(2024, 1, 1, tzinfo=UTC), 1):
        raise CronError("it never fires: no date has this day of month in these months, e.g. 31 February; "
                        "robfig/cron then returns no next run and Velero would back up on every sync")
    return cron


def step_problem(expr: str) -> str | None:
    """Why a step in ``expr`` (already parsed) does not do what it says, or None. robfig/cron accepts a step past
    the end of its range and then sets only the range's first value (robfig/cron@v3.0.1:parser.go getRange,
    getBits): `*/90` in the minute field runs at minute 0 of every hour, not every 90 minutes."""
    bare = _without_zone(expr.strip())
    text = _DESCRIPTORS.get(bare, bare)
    if text.startswith("@"):
        return None
    for index, field in enumerate(text.split()[:5]):
        name, lo, hi, names = _FIELDS[index]
        for item in field.split(","):
            base, slash, step_text = item.partition("/")
            step = parse_int(step_text) if slash else None
            if not step or step <= 1:
                continue
            if base in ("*", "?"):
                start, end = lo, hi
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = _value(a, name, lo, hi, names), _value(b, name, lo, hi, names)
            else:
                start, end = _value(base, name, lo, hi, names), hi
            if step > end - start:
                every = {"minute": f"{step}m", "hour": f"{step}h"}.get(name) if base in ("*", "?") else None
                hint = f"; for a run every {step} {name}s write '@every {every}'" if every else ""
                return (f"{name} step {item!r} is larger than its range {start}-{end}, so robfig/cron runs it only "
                        f"at {name} {start}, not every {step}{hint}")
    return None


def velero_problem(expr: object) -> str | None:
    """None when Velero accepts ``expr`` (robfig/cron v3 ParseStandard), else the reason: what `validate`
    checks in a tree. Laxer than ``parse``, which the config uses: robfig takes a ``CRON_TZ=``/``TZ=`` prefix
    and any ``@every`` duration (robfig/cron@v3.0.1:parser.go Parse, parseDescriptor)."""
    if not isinstance(expr, str) or not expr.strip():
        return "empty cron expression"
    spec = expr.strip()
    if spec.startswith(("CRON_TZ=", "TZ=")):
        tz, _, rest = spec.partition(" ")
        if not rest.strip():
            return f"{tz} must be followed by a schedule"
        spec = rest.strip()
    if spec.startswith("@every "):
        try:
            parse_duration(spec[len("@every "):].strip())
        except ValueError as exc:
            return f"@every needs a Go duration such as 1h or 30m: {exc}"
        return None
    try:
        parse(spec)
    except CronError as exc:
        return str(exc)
    return None
