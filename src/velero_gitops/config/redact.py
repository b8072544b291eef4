"""What a config message may show of a value: one redaction rule, then one length rule.

A config is where users paste things by mistake: an age private key where a recipient belongs, an access key in
an endpoint, a token in a URL. Every message the loader emits goes through `redact` and then `truncate_values`,
so no rule elsewhere has to remember it (cutting after redacting never leaves half a secret on screen).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from velero_gitops import goregexp

MASK = "<redacted>"
VALUE_LIMIT = 80  # characters of one quoted value kept in a message

_SECRET = re.compile(
    "|".join((
        r"AGE-SECRET-KEY-1[0-9A-Za-z]+",  # an age identity (bech32, upper case by convention)
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.|\n)*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
        # a URL with an '@' anywhere: parsers disagree on where its user info ends (RFC 3986 splits at the last
        # '@', WHATWG reads '\\' as '/'), so everything after the scheme goes, not just a guess at user:password
        r"(?<=://)[^\s'\"]*@[^\s'\"]*",
        r"(?<![0-9A-Z])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])",  # an AWS access key id
    ))
)
# a long run with upper case, lower case and digits mixed: an access key, a token, a JWT, a password ('.' ends a
# run: config paths such as s3.checksumAlgorithm stay; each part of a JWT is such a run)
_RUN = re.compile(r"(?<![0-9A-Za-z_+/=-])[0-9A-Za-z_+/=-]{20,}(?![0-9A-Za-z_+/=-])")
# A Kubernetes API version as a path segment (k8s.io/apimachinery@v0.35.0 pkg/version/helpers.go, kubeVersionRegex:
# v<major>[alpha|beta<minor>]) separates words, not characters of one token: "io/v2alpha1/CiliumLoadBalancerIPPool"
# is a type name and a message naming it must stay readable. A token holding such a segment is still masked when a
# part of it alone looks like a token.
_API_VERSION_SEGMENT = re.compile(r"(?:^|/)v[0-9]+(?:(?:alpha|beta)[0-9]+)?(?=/|$)")


def _token_like(part: str) -> bool:
    return (len(part) >= 20 and any(c.isupper() for c in part) and any(c.islower() for c in part)
            and any(c.isdigit() for c in part))


def _mask_run(m: re.Match[str], public: frozenset[str] = frozenset()) -> str:
    run = m.group()
    return MASK if any(_token_like(part) and part.strip("/") not in public for part in _API_VERSION_SEGMENT.split(run)) else run
# key=value where the key says it holds a secret (a query string, an env line): the value goes. Not "key: value":
# messages name config keys such as secretRef that way.
_SECRET_NAME = r"(?:password|passwd|secret|token|api_?key|access_?key)"
_KEYED = goregexp.linear(rf"(?i)({_SECRET_NAME}[\w-]*=)([^\s'\"&,;]+)")
_NAMED = goregexp.linear(rf"(?i){_SECRET_NAME}")


def secret_name(name: str) -> bool:
    """Whether a key or variable name says its value is a secret (AWS_SECRET_ACCESS_KEY, password, apiKey): the one
    rule for names, here and wherever a value is kept or shown by the name it is set under (ops/importer.py)."""
    return _NAMED.search(name) is not None


# An environment variable carries a credential when secret_name takes its name for one. That holds for every
# credential the AWS SDK reads from the environment, which the AWS plugin falls back to without a credentials file
# (aws/aws-sdk-go-v2@000ee9fe910b05167dae3bdb3a6e7a409339470d:config/env_config.go credAccessEnvKeys,
# credSecretEnvKeys, awsSessionTokenEnvVar, awsContainerPProviderAuthorizationEnvVar). A name ending in _FILE or _PATH
# says where a secret is kept (AWS_WEB_IDENTITY_TOKEN_FILE), not the secret.
_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")  # a mapping key in the form of a variable name (upper case, POSIX)


def credential_variable(name: str) -> bool:
    """Whether the environment variable ``name`` carries a credential: the one rule for env vars, for what render
    refuses to write (config/compat.py) and what import refuses to carry (ops/importer.py)."""
    return secret_name(name) and not name.upper().endswith(("_FILE", "_PATH"))


def credential_value(text: str) -> bool:
    """Whether ``text`` holds a key by its own look (an AWS access key id, an age identity, a private key, a URL
    with user info), whatever name it is set under."""
    return _SECRET.search(text) is not None


def clear_credentials(values: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Each place in chart values where a credential would be written in clear: the value of an env var that
    carries one, in the list form (`- name: AWS_SECRET_ACCESS_KEY` / `value: ...`, whose `value` is the place) or the
    mapping form (`AWS_SECRET_ACCESS_KEY: ...`, a key in the form of a variable name); any string that holds a key
    (credential_value). A `valueFrom` or an empty value carries nothing."""
    if isinstance(values, dict):
        named = isinstance(values.get("name"), str) and credential_variable(values["name"])
        for k, v in values.items():
            key = str(k)
            if (named and key == "value" or _VARIABLE.fullmatch(key) and credential_variable(key)) and _given(v):
                yield (*path, key)
            else:
                yield from clear_credentials(v, (*path, key))
    elif isinstance(values, list):
        for i, v in enumerate(values):
            yield from clear_credentials(v, (*path, i))
    elif isinstance(values, str) and credential_value(values):
        yield path


def _given(value: Any) -> bool:
    return value not in (None, "") and not isinstance(value, (dict, list, bool))
# what follows '?' or '#' in a URL: presigned signatures, tokens, anything a user pastes after the host
_URL_TAIL = goregexp.linear(r"(://[^\s'\"?#]*)([?#][^\s'\"]*)")
# The query parameters a kustomize remote resource reads, none a credential: the git ref (`ref`, or `version`), the
# clone timeout and submodules (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/git/repospec.go, parseQuery).
# Their values stay readable (`?ref=v1.2.0` says which release a message is about); every other parameter's value and
# any fragment may carry a token (a presigned URL's X-Amz-Signature) and is masked.
PUBLIC_QUERY = frozenset({"ref", "version", "timeout", "submodules"})


def _url_tail(tail: str) -> str:
    query, hashed, _ = tail[1:].partition("#") if tail.startswith("?") else ("", "#", "")
    kept = [p if p.partition("=")[0] in PUBLIC_QUERY else f"{p.partition('=')[0]}={MASK}" if "=" in p else MASK
            for p in query.split("&")] if query else []
    return ("?" + "&".join(kept) if kept else "") + ("#" + MASK if hashed else "")
# a quoted value opens and closes at a word boundary: the apostrophe of "Flux's" is prose, not a quote
_QUOTED = re.compile(r"(?<![\w'\"])(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")(?!\w)")


def redact(text: str, public: frozenset[str] = frozenset()) -> str:
    """``text`` with everything that looks like a secret replaced by <redacted>. ``public``: words shown beside the
    message anyway (a finding's object identity: its kind and name, such as CiliumL2AnnouncementPolicy), which the
    token rule would otherwise take for a token."""
    text = _URL_TAIL.sub(lambda m: m.group(1) + _url_tail(m.group(2)),
                         _RUN.sub(lambda m: _mask_run(m, public), _SECRET.sub(MASK, text)))
    return _KEYED.sub(lambda m: m.group(1) + MASK, text)


def truncate_values(text: str, limit: int = VALUE_LIMIT) -> str:
    """``text`` with each quoted value longer than ``limit`` cut in the middle, saying how long it was."""
    def cut(m: re.Match[str]) -> str:
        value = m.group()
        if len(value) <= limit:
            return value
        keep = limit // 2
        return f"{value[:keep]}...{value[-keep:]} ({len(value) - 2} characters)"
    text = _QUOTED.sub(cut, text)
    if len(text) > 20 * limit:  # an unquoted value (a key) can be long too
        text = text[: 10 * limit] + f"... ({len(text)} characters)"
    return text
