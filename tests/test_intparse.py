"""intparse: the one bounded integer parse (/work/attack3/repro/01 and 09: int() past 4,300 digits raised)."""

from __future__ import annotations

import pytest

from velero_gitops import yamlsafe
from velero_gitops.intparse import BEYOND, parse_int, version_parts, yaml_int_fits
from velero_gitops.validate.engine import Options, validate_paths

HUGE = "9" * 5000  # past sys.get_int_max_str_digits() (4300): int() raises ValueError on it


@pytest.mark.parametrize(("text", "base", "value"), [
    ("0", 10, 0), ("18446744073709551615", 10, (1 << 64) - 1), ("18446744073709551616", 10, None),
    ("0000000000000000000000000000042", 10, 42), (HUGE, 10, None), ("ffffffffffffffff", 16, (1 << 64) - 1),
    ("1" * 65, 2, None), ("²", 10, None), ("٣", 10, None), ("1_0", 10, None), (" 1", 10, None), ("-1", 10, None),
    ("", 10, None), ("8", 8, None)])
def test_parse_int_is_what_go_parses_in_64_bits(text, base, value):
    """go/src/strconv/atoi.go ParseUint: ASCII digits of the base, ErrRange beyond 64 bits."""
    assert parse_int(text, base) == value


def test_yaml_int_fits_counts_before_converting():
    assert yaml_int_fits("-9_223_372_036_854_775_808") and yaml_int_fits("0x" + "f" * 16) and yaml_int_fits("0" * 100)
    assert not yaml_int_fits(HUGE) and not yaml_int_fits("0b" + "1" * 65) and not yaml_int_fits("0x" + "f" * 17)


def test_a_version_part_beyond_64_bits_orders_after_every_release():
    assert version_parts("1.18.2") == (1, 18, 2)
    assert version_parts(f"1.{HUGE}.0") == (1, BEYOND, 0) > (1, 99, 0)


@pytest.mark.parametrize(("text", "tag", "value"), [
    (HUGE, "!!str", HUGE), ("2" * 20, "!!float", 2.2222222222222222e19), ("18446744073709551615", "!!int", (1 << 64) - 1),
    ("9" * 400, "!!str", "9" * 400), ("0x" + "f" * 5000, "!!str", "0x" + "f" * 5000)])
def test_go_yaml_keeps_a_number_it_cannot_hold_as_a_string(text, tag, value):
    """kubernetes-sigs/yaml@v1.4.0:goyaml.v2/resolve.go: ParseInt/ParseUint fail beyond 64 bits, ParseFloat fails
    (ErrRange) beyond float64, and the plain scalar stays a string."""
    got_tag, got = yamlsafe.go_plain(text)
    assert (yamlsafe._shown_tag(got_tag), got) == (tag, value)


@pytest.mark.parametrize("where", ["header", "image", "fluxinstance"])
def test_a_flux_version_beyond_64_bits_is_no_pin(tmp_path, where):
    """validate/flux_version.py read the Flux version of a header, image tag or FluxInstance with int()."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    doc = {
        "header": f"# Flux Version: v2.{HUGE}\napiVersion: v1\nkind: Namespace\nmetadata: {{name: flux-system}}\n",
        "image": ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kustomize-controller, namespace: flux-system}\n"
                  "spec:\n  selector: {matchLabels: {app: k}}\n  template:\n    metadata: {labels: {app: k}}\n"
                  f"    spec:\n      containers: [{{name: m, image: 'ghcr.io/fluxcd/kustomize-controller:v1.{HUGE}.0'}}]\n"),
        "fluxinstance": ("apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata: {name: flux, namespace: "
                         f"flux-system}}\nspec:\n  distribution: {{version: '2.{HUGE}.x', registry: ghcr.io/fluxcd}}\n"),
    }[where]
    (root / "gotk-components.yaml").write_text(doc)
    res = validate_paths([str(root)], Options(cache_dir=str(tmp_path / "c"), kustomize="never"))
    assert not [f for f in res.findings if f.rule.startswith("flux.version")], res.findings
