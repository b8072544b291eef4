"""config/redact.py: the one redaction rule and the one length rule of config messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velero_gitops.config.redact import MASK, PUBLIC_QUERY, VALUE_LIMIT, redact, truncate_values

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


@pytest.mark.parametrize("param", sorted(PUBLIC_QUERY))
def test_a_remote_resources_git_ref_and_options_stay(param):
    """kustomize reads ref/version, timeout and submodules from a remote resource's query
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/git/repospec.go, parseQuery): none is a credential, and
    the ref says which release a message is about (leftfix8: `?ref=v1.2.0` was shown as `?<redacted>`)."""
    url = f"https://github.com/org/repo//deploy?{param}=v1.2.0"
    assert redact(f"{url}: not found") == f"{url}: not found"


@pytest.mark.parametrize("url,secret", [
    ("https://github.com/org/repo//deploy?ref=v1.2.0&token=hunter2", "hunter2"),
    ("https://h.example/b/o?X-Amz-Signature=abcdef&ref=main", "abcdef"),
    ("https://h.example/b/o?ref=main#access_token=abcdef", "abcdef"),
    ("https://h.example/b/o?opaque", "opaque"),
])
def test_other_query_parameters_and_fragments_stay_masked(url, secret):
    out = redact(url)
    assert secret not in out and MASK in out, out


def test_long_values_are_cut_after_redaction():
    line = f"s3.bucket: {'b' * 100_000 + AGE_KEY!r} is not valid"
    out = truncate_values(redact(line))
    assert len(out) < 3 * VALUE_LIMIT and "(100000 characters)" not in out and "is not valid" in out
    assert "AGE-SECRET" not in out


def test_apostrophes_in_prose_are_not_quotes():
    """badcfg7 208: the text between "velero's" and "Flux's" was taken for a quoted value and cut mid-sentence. An
    apostrophe inside a word is prose; a quoted value (Python's repr) opens and closes at a word boundary."""
    prose = "the tree renders Velero's Namespace " + "with many labels " * 20 + "so Flux's namespace changes"
    assert truncate_values(f"repo.namespace: 'flux-system' is wrong: {prose}") == f"repo.namespace: 'flux-system' is wrong: {prose}"
    long = "v" * (VALUE_LIMIT * 3)
    out = truncate_values(f"the plugin's image {long!r} is the mirror's")
    assert f"({len(long)} characters)" in out and out.startswith("the plugin's image '") and out.endswith(" is the mirror's")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_truncation_bounds_any_message(text):
    out = truncate_values(f"x: {text!r} end")
    assert len(out) <= 20 * VALUE_LIMIT + 40


def test_type_names_stay_readable():
    """Every apiVersion/Kind of the schema bundle, and the ones a fresh adoption saw masked, stay as they are: an
    API version is a separator between words (k8s.io/apimachinery@v0.35.0 pkg/version/helpers.go kubeVersionRegex)."""
    import json

    from velero_gitops.validate.schemas import BUNDLE_DIR

    names = list(json.loads((BUNDLE_DIR / "index.json").read_text()))
    names += ["cilium.io/v2alpha1/CiliumLoadBalancerIPPool", "actions.summerwind.dev/v1alpha1/HorizontalRunnerAutoscaler",
              "https://github.com/VictoriaMetrics/operator/releases/download/v0.64.0/install.yaml"]
    for name in names:
        text = f"no schema found for {name}: a CRD outside the offline bundle"
        assert redact(text) == text


@pytest.mark.parametrize("secret", [
    "io/v1/wJalrXUtnFEMIK7MDENGbPxRfiCY3",  # a token after an API-version-like segment
    "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234/v2/Kind",
    "v1/aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z/v1beta1/x",
])
def test_an_api_version_segment_does_not_shield_a_token(secret):
    out = redact(f"value {secret} here")
    assert out == f"value {MASK} here"


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=30, max_size=60))
def test_random_tokens_are_masked_whole(raw):
    """A base64 token (what Secrets, access keys and passwords look like) is masked as a whole or, when it lacks one
    of upper case, lower case and digits, as before: the separator rule never leaves part of a masked token."""
    import base64

    token = base64.b64encode(raw).decode()
    out = redact(f"x {token} y")
    assert out in (f"x {MASK} y", f"x {token} y")
    mixed = any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)
    if mixed and "/v" not in token:
        assert out == f"x {MASK} y"


# aws/aws-sdk-go-v2@000ee9fe910b05167dae3bdb3a6e7a409339470d:config/env_config.go: credAccessEnvKeys,
# credSecretEnvKeys, awsSessionTokenEnvVar, awsContainerPProviderAuthorizationEnvVar (the credentials it reads), and
# settings of the same file that only name a file, a region or a profile
AWS_CREDENTIAL_VARIABLES = ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY",
                            "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]
AWS_SETTINGS = ["AWS_REGION", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONFIG_FILE", "AWS_CA_BUNDLE", "AWS_ROLE_ARN"]


def test_the_aws_sdk_credential_variables_carry_credentials():
    """badcfg6 186: the one rule for env vars (credential_variable) takes every credential the AWS SDK reads from the
    environment, and none of its settings that merely say where a credential file is."""
    from velero_gitops.config.redact import credential_variable

    assert [n for n in AWS_CREDENTIAL_VARIABLES if not credential_variable(n)] == []
    assert [n for n in AWS_SETTINGS if credential_variable(n)] == []


def test_clear_credentials_finds_both_env_forms_and_keys_by_look():
    """The chart takes env vars as a list of {name, value} (configuration.extraEnvVars, chart 12) and as a mapping
    (credentials.extraEnvVars); valueFrom, an empty value and a Secret's name carry nothing."""
    from velero_gitops.config.redact import clear_credentials

    values = {
        "configuration": {"extraEnvVars": [
            {"name": "TZ", "value": "UTC"},
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "x"},
            {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "id"}}},
            {"name": "HTTPS_PROXY", "value": "http://user:pw@proxy:3128"},
        ]},
        "credentials": {"existingSecret": "velero-s3", "extraEnvVars": {"AWS_SESSION_TOKEN": "t", "KOPIA_TOKEN": ""}},
        "podAnnotations": {"note": "AKIAIOSFODNN7EXAMPLE"},
    }
    assert sorted(map(str, clear_credentials(values))) == sorted(map(str, [
        ("configuration", "extraEnvVars", 1, "value"), ("configuration", "extraEnvVars", 3, "value"),
        ("credentials", "extraEnvVars", "AWS_SESSION_TOKEN"), ("podAnnotations", "note")]))
