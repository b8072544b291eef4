"""config/redact.py: the one redaction rule and the one length rule of config messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velero_gitops.config.redact import MASK, VALUE_LIMIT, redact, truncate_values

AGE_KEY = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSTZ2ZPY"


@pytest.mark.parametrize("secret", [
    AGE_KEY,  # age identity (filippo.io/age@v1.2.0: X25519Identity.String, "AGE-SECRET-KEY-1" + bech32)
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # an AWS secret access key
    "AKIAIOSFODNN7EXAMPLE",  # an AWS access key id
    "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234",  # a GitHub token
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz",  # a JWT
])
def test_secrets_are_redacted_wherever_they_are(secret):
    for text in (secret, f"'{secret}' is not an age public key", f"x={secret},y"):
        out = redact(text)
        assert secret not in out and MASK in out, out


@pytest.mark.parametrize("text", [
    "https://user:pass@s3.example.com", "https://s3.example.com/?token=abc&x=1", "password=hunter2",
])
def test_passwords_in_urls_and_assignments(text):
    out = redact(text)
    assert MASK in out and "pass@" not in out and "abc" not in out and "hunter2" not in out


@pytest.mark.parametrize("text", [
    "velero/velero-plugin-for-aws:v1.14.3", "s3.eu-west-1.amazonaws.com", "kube-prometheus-stack",
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", "flux.decryption.secretRef: unknown key",
    "includedNamespaces", "schedules[0].storageLocation", "s3.checksumAlgorithm", "s3.insecureSkipTLSVerify",
    "velero.nodeAgent.tolerations[0].tolerationSeconds",
])
def test_ordinary_config_words_stay(text):
    assert redact(text) == text


def test_long_values_are_cut_after_redaction():
    line = f"s3.bucket: {'b' * 100_000 + AGE_KEY!r} is not valid"
    out = truncate_values(redact(line))
    assert len(out) < 3 * VALUE_LIMIT and "(100000 characters)" not in out and "is not valid" in out
    assert "AGE-SECRET" not in out


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_truncation_bounds_any_message(text):
    out = truncate_values(f"x: {text!r} end")
    assert len(out) <= 20 * VALUE_LIMIT + 40
