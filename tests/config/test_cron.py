from datetime import UTC, datetime, timedelta

import pytest

from velero_gitops.config import cron


def utc(*a):
    return datetime(*a, tzinfo=UTC)


def test_daily_at_two_runs_at_0200_utc():
    runs = cron.parse("0 2 * * *").next_runs(utc(2026, 11, 26, 12, 0), 3)
    assert runs == [utc(2026, 11, 27, 2), utc(2026, 11, 28, 2), utc(2026, 11, 29, 2)]


def test_run_strictly_after_start():
    assert cron.parse("0 2 * * *").next_runs(utc(2026, 11, 27, 2, 0), 1) == [utc(2026, 11, 28, 2)]


@pytest.mark.parametrize(
    "expr,gap",
    [("0 2 * * *", timedelta(days=1)), ("@hourly", timedelta(hours=1)), ("0 */6 * * *", timedelta(hours=6)),
     ("30 3 * * 0", timedelta(days=7)), ("@every 90m", timedelta(minutes=90)), ("0 0 1 * *", timedelta(days=31))],
)
def test_max_interval(expr, gap):
    assert cron.parse(expr).max_interval() == gap


def test_day_of_month_or_day_of_week_when_both_restricted():
    # robfig/cron: both restricted -> either matches (Monday the 1st-or-any-Monday).
    runs = cron.parse("0 0 1 * 1").next_runs(utc(2026, 11, 26), 3)
    assert runs == [utc(2026, 11, 30), utc(2026, 12, 1), utc(2026, 12, 7)]


def test_names_and_steps():
    c = cron.parse("0 4 * JAN-MAR mon-fri")
    assert c.months == {1, 2, 3} and c.weekdays == {1, 2, 3, 4, 5}
    assert cron.parse("5/20 * * * *").minutes == {5, 25, 45}


@pytest.mark.parametrize(
    "expr,reason",
    [("0 25 * * *", "hour 25 > 23"), ("60 * * * *", "minute 60 > 59"), ("* * * *", "expected 5 fields"),
     ("0 2 * * 7", "Sunday is 0"), ("@fortnightly", "unknown descriptor"), ("CRON_TZ=Europe/Paris 0 2 * * *", "UTC"),
     ("*/0 * * * *", "positive"), ("0 2 0 * *", "day of month 0 < 1"), ("@every 10s", "at least 1m"), ("", "empty")],
)
def test_invalid(expr, reason):
    with pytest.raises(cron.CronError, match=reason):
        cron.parse(expr)


@pytest.mark.parametrize("expr,gap", [("0 * * 1-6 *", timedelta(days=184, hours=1)), ("0 0 29 2 *", timedelta(days=1461)),
                                      ("* * * * *", timedelta(minutes=1))])
def test_max_interval_sparse_and_dense(expr, gap):
    assert cron.parse(expr).max_interval() == gap


def test_next_runs_of_a_dense_cron_are_cheap():
    runs = cron.parse("*/5 * * * *").next_runs(utc(2026, 11, 26, 12, 3), 3)
    assert runs == [utc(2026, 11, 26, 12, 5), utc(2026, 11, 26, 12, 10), utc(2026, 11, 26, 12, 15)]


@pytest.mark.parametrize("expr,first", [
    ("*/90 * * * *", 0), ("0 */25 * * *", 0), ("5/60 * * * *", 5), ("0 8-10/5 * * *", 8), ("0 2 * * */7", 0),
    ("0 2 1 */13 *", 1),
])
def test_a_step_past_its_range_runs_only_at_the_start(expr, first):
    """robfig/cron@v3.0.1:parser.go (getRange: `start-end/step` sets start, start+step... up to end, so a step past
    the end sets only start): the parsed cron holds only that value, and step_problem says so."""
    c = cron.parse(expr)
    field = [c.minutes, c.hours, c.days, c.months, c.weekdays][next(i for i, f in enumerate(expr.split()) if "/" in f)]
    assert field == frozenset({first})
    assert cron.step_problem(expr) is not None


@pytest.mark.parametrize("expr", ["*/59 * * * *", "0 */12 * * *", "0 8-10/2 * * *", "@daily", "@every 90m", "0 2 * * 1-5"])
def test_a_step_within_its_range_is_fine(expr):
    assert cron.step_problem(expr) is None


@pytest.mark.parametrize("prefix", ["CRON_TZ=UTC ", "TZ=UTC ", "CRON_TZ=Local ", "CRON_TZ= "])
def test_a_zone_go_loads_without_tzdata_is_accepted(prefix):
    """badcfg6 085: robfig/cron@v3.0.1:parser.go Parse takes a CRON_TZ=/TZ= prefix and loads its zone with
    time.LoadLocation, which needs no time zone database for "", "UTC" and "Local" (golang/go@go1.25.0:
    src/time/zoneinfo.go); the schedule then runs as the same expression without the prefix (UTC in the image)."""
    c = cron.parse(prefix + "0 2 * * *")
    assert c.next_runs(utc(2026, 11, 26, 12, 0), 2) == cron.parse("0 2 * * *").next_runs(utc(2026, 11, 26, 12, 0), 2)
    assert cron.step_problem(prefix + "*/90 * * * *") is not None  # the fields after the zone are still judged


@pytest.mark.parametrize("expr, reason", [("CRON_TZ=Europe/Berlin 0 2 * * *", "needs a time zone database"),
                                          ("TZ=UTC", "must be followed by a schedule")])
def test_a_zone_needing_tzdata_or_no_schedule_is_refused(expr, reason):
    with pytest.raises(cron.CronError, match=reason):
        cron.parse(expr)
