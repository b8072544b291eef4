"""Property-based tests over the parsers behind the config: names, quantities, durations, cron, endpoints, PEM.

The contract for every parser: any text either parses to a value of the expected kind or raises ValueError
(never another exception), and what is accepted is what the upstream parser accepts:
- names: k8s.io/apimachinery@v0.35.0:pkg/util/validation/validation.go (IsDNS1123Label, IsQualifiedName,
  IsValidLabelValue): ASCII only, matched to the end of the text.
- quantities: k8s.io/apimachinery@v0.35.0:pkg/api/resource/quantity.go (parseQuantityString).
- durations: golang/go@go1.25.0:src/time/format.go (ParseDuration).
- cron: robfig/cron@v3.0.1:parser.go and spec.go (Next; zero time when nothing matches in five years).
And for the whole loader: any value at any field gives a Config or one located ConfigError line per problem,
and an accepted config always plans and renders (no path outside the root).
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from velero_gitops.config import cron, names, pem
from velero_gitops.config.units import go_duration, parse_duration, parse_quantity
from velero_gitops.errors import ConfigError

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Text that stresses the parsers: ASCII, other scripts' digits, whitespace, newlines.
NASTY = st.text(alphabet=st.sampled_from(list(string.printable) + ["٣", "２", "²", "µ", "μ", "\u00a0", "é", "\n"]),
                max_size=20)
LABEL_CHARS = string.ascii_lowercase + string.digits + "-"


# ------------------------------------------------------------------------------------------------ names
@SETTINGS
@given(NASTY)
@example("daily\n")
def test_an_accepted_dns_label_is_plain_ascii_to_the_end(text):
    if names.dns_label_problem(text) is None:
        assert 1 <= len(text) <= 63 and set(text) <= set(LABEL_CHARS)
        assert text[0] != "-" and text[-1] != "-"


@SETTINGS
@given(st.text(alphabet=LABEL_CHARS, min_size=1, max_size=63))
def test_every_dns_label_is_accepted(text):
    assume(text[0] != "-" and text[-1] != "-")
    assert names.dns_label_problem(text) is None
    assert names.dns_label_problem(text + "\n") is not None


@SETTINGS
@given(NASTY, NASTY)
def test_accepted_labels_are_ascii_without_whitespace(key, value):
    if names.label_key_problem(key) is None:
        assert key.isascii() and not any(c.isspace() for c in key) and len(key.rpartition("/")[2]) <= 63
    if names.label_value_problem(value) is None:
        assert value.isascii() and not any(c.isspace() for c in value) and len(value) <= 63


@SETTINGS
@given(NASTY)
def test_repo_paths_never_leave_the_root(path):
    if names.repo_path_problem(path) is None:
        parts = path.split("/")
        assert ".." not in parts and not path.startswith("/") and "\\" not in path and path.isprintable()


# ------------------------------------------------------------------------------------------- quantities
SUFFIXES = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


@SETTINGS
@given(NASTY)
@example("1.2.3Gi")
@example("1e99999999999")
def test_quantity_is_a_decimal_or_value_error(text):
    try:
        value = parse_quantity(text)
    except ValueError:
        return
    assert isinstance(value, Decimal) and value >= 0
    assert text.isascii()


@SETTINGS
@given(st.integers(0, 10**6), st.integers(0, 999), st.sampled_from(sorted(SUFFIXES)))
def test_quantity_value(whole, frac, suffix):
    text = f"{whole}.{frac:03d}{suffix}"
    assert parse_quantity(text) == Decimal(f"{whole}.{frac:03d}") * SUFFIXES[suffix]


# -------------------------------------------------------------------------------------------- durations
@SETTINGS
@given(NASTY)
@example("٧٢٠h")
@example("1h\n")
def test_duration_is_seconds_or_value_error(text):
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert seconds >= 0 and text.isascii() or "µ" in text or "μ" in text
    assert not any(c.isdigit() and not c.isascii() for c in text)


@SETTINGS
@given(st.integers(0, 10**7))
def test_go_duration_round_trips(seconds):
    assert parse_duration(go_duration(seconds)) == seconds


@SETTINGS
@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 500))
def test_duration_parts_add_up(h, m, s):
    assert parse_duration(f"{h}h{m}m{s}s") == h * 3600 + m * 60 + s


# ------------------------------------------------------------------------------------------------- cron
def _field(lo: int, hi: int):
    num = st.integers(lo, hi)
    item = st.one_of(
        st.just("*"), num.map(str),
        st.tuples(num, num).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.tuples(st.sampled_from(["*", str(lo)]), st.integers(1, 7)).map(lambda t: f"{t[0]}/{t[1]}"),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


CRON = st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 6)).map(" ".join)


@SETTINGS
@given(NASTY)
@example("0 2 31 2 *")
@example("0 ٢ * * *")
def test_cron_parses_or_raises_cron_error(text):
    try:
        c = cron.parse(text)
    except cron.CronError:
        return
    assert c.every or c.next_runs(datetime(2030, 6, 1, tzinfo=UTC), 1)
    assert not any(ch.isdigit() and not ch.isascii() for ch in text)


@SETTINGS
@given(CRON, st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2040, 1, 1)))
def test_next_run_matches_and_nothing_earlier_does(expr, after):
    """The next run of an accepted expression is a matching minute, and no minute before it matches
    (checked minute by minute when the gap is at most two days)."""
    try:
        c = cron.parse(expr)
    except cron.CronError as exc:
        assert "never fires" in str(exc)
        return
    runs = c.next_runs(after, 1)
    assert runs and c.matches(runs[0]) and runs[0] > after.replace(tzinfo=UTC)
    t = after.replace(second=0, microsecond=0, tzinfo=UTC) + timedelta(minutes=1)
    if runs[0] - t <= timedelta(days=2):
        while t < runs[0]:
            assert not c.matches(t), (expr, t)
            t += timedelta(minutes=1)


@pytest.mark.parametrize("a,b", [("*/1 * * * *", "* * * * *"), ("0 2 ? * *", "0 2 * * *"), ("0 0 1,* * 1", "0 0 * * 1")])
def test_star_bit_as_robfig(a, b):
    """robfig/cron@v3.0.1:parser.go getRange: '*' and '?' with step 1 set the star bit, in any comma item."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert cron.parse(a).next_runs(start, 20) == cron.parse(b).next_runs(start, 20)


def test_star_with_step_is_not_a_star():
    """robfig/cron@v3.0.1:parser.go getRange clears the star bit for a step > 1, so spec.go dayMatches ORs
    day-of-month and day-of-week: '0 0 1 * */7' runs on the 1st of each month and on Sundays."""
    c = cron.parse("0 0 1 * */7")
    runs = c.next_runs(datetime(2025, 1, 1, tzinfo=UTC), 6)
    assert datetime(2025, 1, 5, tzinfo=UTC) in runs  # a Sunday that is not the 1st


# ------------------------------------------------------------------------------------------- endpoints
@SETTINGS
@given(st.text(alphabet=string.ascii_letters + string.digits + ":@/.-%", min_size=1, max_size=12),
       st.text(alphabet=string.ascii_letters + string.digits + "!$&*", min_size=1, max_size=12))
def test_endpoint_messages_never_carry_the_password(user, password):
    password = "Pw#" + password  # '#' appears nowhere else in what the config error prints
    url = f"https://{user}:{password}@s3.example.com:9000/x"
    problem = names.endpoint_problem(url)
    assert problem is not None
    assert "Pw#" not in f"{names.redact_url(url)!r}: {problem}"


@SETTINGS
@given(st.integers(-10, 100000))
def test_endpoint_ports(port):
    problem = names.endpoint_problem(f"https://s3.example.com:{port}")
    assert (problem is None) == (1 <= port <= 65535)


# ------------------------------------------------------------------------------------------------- PEM
def test_pem_keeps_only_certificates():
    import trustme

    ca = trustme.CA()
    cert = ca.cert_pem.bytes()
    assert pem.certificate_bundle(b"comment\n" + cert + b"trailing\n") == cert
    with pytest.raises(ValueError, match="PRIVATE KEY"):
        pem.certificate_bundle(cert + ca.private_key_pem.bytes())
    assert pem.private_key_labels(ca.private_key_pem.bytes().decode()) == ["EC PRIVATE KEY"]


@SETTINGS
@given(st.binary(max_size=200))
def test_pem_bundle_is_certificates_or_value_error(data):
    try:
        out = pem.certificate_bundle(data)
    except ValueError:
        return
    assert re.fullmatch(rb"(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)+", out, re.S)


# ----------------------------------------------------------------------------------------- whole loader
FIELDS = [  # (path in the config, how the base config spells it)
    ("cluster", "cluster: home-lab"), ("repo.appsRoot", "  appsRoot: kubernetes/apps"),
    ("repo.namespace", "  namespace: velero"), ("repo.app", "  app: velero"),
    ("flux.interval", "  interval: 1h"), ("s3.endpoint", "  endpoint: https://s3.68cc.io"),
    ("s3.region", "  region: minio"), ("s3.bucket", "  bucket: velero-backups"),
    ("schedules[0].name", "  - name: daily"), ("schedules[0].cron", '    cron: "0 2 * * *"'),
    ("schedules[0].ttl", "    ttl: 720h"), ("velero.resources.limits.memory", "    limits: {memory: 512Mi}"),
    ("velero.nodeAgent.nodeSelector", "      kubernetes.io/os: linux"),
    ("metrics.additionalLabels", "    release: kube-prometheus-stack"),
]
LOCATED = re.compile(r"^\S+:\d+:\d+ \S+: .+")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.sampled_from(FIELDS), NASTY)
def test_any_value_anywhere_is_located_or_renders(tmp_path, field, value):
    import json

    from velero_gitops.config.loader import load
    from velero_gitops.render.plan import plan_tree
    from velero_gitops.render.templating import render

    from test_config_corpus import BASE

    _, spelled = field
    key, _, _ = spelled.partition(": ")
    if spelled.endswith("}"):  # a flow mapping: replace the inner value
        inner = spelled[spelled.index("{") + 1:-1].split(": ")[0]
        new = f"{key}: {{{inner}: {json.dumps(value)}}}"
    else:
        new = f"{key}: {json.dumps(value)}"
    (tmp_path / "velero-gitops.yaml").write_text(BASE.replace(spelled, new, 1), encoding="utf-8")
    try:
        loaded = load(tmp_path / "velero-gitops.yaml")
    except ConfigError as exc:
        assert exc.problems and all(LOCATED.match(p) for p in exc.problems), exc.problems
        return
    files = render(plan_tree(loaded))  # UnsafePath would fail here
    for path in files:
        assert not path.startswith("/") and ".." not in path.split("/") and "\n" not in path
