from decimal import Decimal

import pytest

from velero_gitops.config.units import go_duration, parse_duration, parse_quantity


@pytest.mark.parametrize("text,seconds", [("720h", 2592000), ("720h0m0s", 2592000), ("1h30m", 5400), ("15m", 900), ("90s", 90)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30d", "1 h", "h", "-5h", "720"])
def test_bad_duration(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_days_hint():
    with pytest.raises(ValueError, match="720h for 30 days"):
        parse_duration("30d")


@pytest.mark.parametrize("seconds,text", [(2592000, "720h0m0s"), (5400, "1h30m0s"), (900, "15m0s"), (30, "30s"), (0, "0s")])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


@pytest.mark.parametrize("text,value", [("500m", Decimal("0.5")), ("1", Decimal(1)), ("128Mi", Decimal(128 * 2**20)), ("500M", Decimal(500 * 10**6)), ("1e3", Decimal(1000))])
def test_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["abc", "5 Mi", "1Qi", "-1"])
def test_bad_quantity(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize("text,value", [("100u", Decimal("0.0001")), ("5n", Decimal("5e-9")), ("1e-3", Decimal("0.001")),
                                        ("1.", Decimal(1)), (".5Gi", Decimal(2**29)), ("+1k", Decimal(1000)), ("1E3", Decimal(1000))])
def test_quantity_grammar_as_apimachinery(text, value):
    """k8s.io/apimachinery@v0.35.0:pkg/api/resource/quantity.go parseQuantityString and suffix.go."""
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["1.2.3Gi", ".", "1Gi\n", "٥Mi", "1e", "1eGi", "1 Gi", float("inf")])
def test_quantity_refused_as_value_error(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize("text,seconds", [(".5h", 1800), ("1.h", 3600), ("+5s", 5), ("1µs", 1e-6), ("1μs", 1e-6), ("0", 0)])
def test_duration_grammar_as_go(text, seconds):
    """golang/go@go1.25.0:src/time/format.go ParseDuration: a fraction on either side of '.', both micro signs."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["٧٢٠h", "1h\n", ".h", "1", "3000000h"])
def test_duration_refused_as_go(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("resource,text,refused", [
    ("memory", "128Mi", False), ("memory", "1", False), ("memory", "1k", False), ("memory", "128m", True),
    ("memory", "0.5", True), ("memory", "512u", True), ("cpu", "100m", False), ("cpu", "0.001", False),
    ("cpu", "0.5m", True), ("cpu", "100n", True), ("cpu", "1500u", True), ("cpu", "2000u", False),
])
def test_quantities_finer_than_kubernetes_counts(resource, text, refused):
    """k8s.io/apimachinery@v0.35.0:pkg/api/resource/quantity.go (Value and MilliValue round up): memory is whole
    bytes, CPU whole millicores; anything finer is silently rounded (128m of memory is 1 byte)."""
    from velero_gitops.config.units import resolution_problem

    assert (resolution_problem(resource, text) is not None) == refused
