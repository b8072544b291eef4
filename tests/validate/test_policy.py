"""Policy helpers: cron (robfig ParseStandard), Go durations, bucket names, s3Url."""

from __future__ import annotations

import pytest

from velero_gitops.validate.policy import bucket_problem, cron_problem, duration_problem, s3url_problem


@pytest.mark.parametrize("expr", ["0 2 * * *", "*/15 * * * *", "0 0 1 jan *", "0 3 * * MON-FRI", "@daily", "@every 1h",
                                  "@every 1h30m", "CRON_TZ=Europe/Berlin 0 2 * * *", "0 0 ? * 0", "5,35 1-5/2 * * *", "@midnight"])
def test_valid_cron(expr):
    assert cron_problem(expr) is None


@pytest.mark.parametrize("expr,why", [("0 25 * * *", "hour"), ("0 2 * *", "5 fields"), ("0 0 0 * *", "day of month"),
                                      ("0 0 * 13 *", "month"), ("0 0 * * 7", "day of week"), ("@every 1d", "duration"),
                                      ("@often", "descriptor"), ("*/0 * * * *", "step"), ("0 2 * * * *", "5 fields"),
                                      ("", "empty")])
def test_invalid_cron(expr, why):
    assert why in (cron_problem(expr) or "")


@pytest.mark.parametrize("d", ["720h", "720h0m0s", "1h30m", "90s", "0", "1.5h", "300ms"])
def test_valid_duration(d):
    assert duration_problem(d) is None


@pytest.mark.parametrize("d", ["30d", "720", "1 hour", "h", 720])
def test_invalid_duration(d):
    assert duration_problem(d)


@pytest.mark.parametrize("b", ["velero-backups", "my.bucket.1", "abc"])
def test_valid_bucket(b):
    assert bucket_problem(b) is None


@pytest.mark.parametrize("b", ["Velero", "ab", "a" * 64, "-abc", "a..b", "192.168.1.1", "xn--abc", "b-s3alias", "bucket/path", "a_b"])
def test_invalid_bucket(b):
    assert bucket_problem(b)


def test_s3url():
    assert s3url_problem("https://s3.68cc.io", False, False) is None
    assert s3url_problem("https://s3.68cc.io:9000/", False, False) is None
    assert "plain http" in s3url_problem("http://s3.68cc.io", False, False)
    assert s3url_problem("http://s3.68cc.io", True, False) is None
    assert "path" in s3url_problem("https://s3.68cc.io/velero", False, False)
    assert s3url_problem("https://s3.68cc.io/velero", False, True) is None
    assert s3url_problem("s3.68cc.io", False, False)
