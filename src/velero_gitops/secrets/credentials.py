"""The S3 credentials: one type, one parser of the AWS credentials file, one reader of each source.

Sources: the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN]), standard
input, a hidden prompt, or the SOPS-encrypted Secret decrypted in memory. Never argv, never the
config file. No message built here contains a value: problems are described by length and shape,
and ``Credentials.redact`` removes the values from any text that leaves a module that held them.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from velero_gitops.errors import UsageError

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig

ENV_KEY_ID = "AWS_ACCESS_KEY_ID"
ENV_SECRET = "AWS_SECRET_ACCESS_KEY"
ENV_TOKEN = "AWS_SESSION_TOKEN"
SECRET_KEY = "cloud"  # the Secret key Velero's AWS plugin reads the credentials file from

_PRINTABLE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


@dataclass(frozen=True)
class Credentials:
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = ""  # where they came from, in words (never the values)

    def __repr__(self) -> str:  # never show a value, not even part of the key id (tracebacks print locals)
        return f"Credentials(<redacted>, source={self.source!r})"

    __str__ = __repr__

    @property
    def values(self) -> tuple[str, str]:
        return self.access_key_id, self.secret_access_key

    def secrets(self) -> list[str]:
        return [v for v in (self.access_key_id, self.secret_access_key, self.session_token) if v]

    def redact(self, text: str, mask: str = "****") -> str:
        for value in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(value, mask)
        return text


def _check_value(value: str, what: str, minimum: int, maximum: int) -> None:
    if not value:
        raise UsageError(f"{what} is empty")
    if any(c.isspace() for c in value):
        raise UsageError(f"{what} contains whitespace (a pasted line break or space?); it must be one word")
    if not _PRINTABLE.fullmatch(value):
        raise UsageError(f"{what} contains characters outside printable ASCII")
    if len(value) < minimum:
        raise UsageError(f"{what} is too short ({len(value)} characters; S3/MinIO needs at least {minimum})")
    if len(value) > maximum:
        raise UsageError(f"{what} is too long ({len(value)} characters; at most {maximum})")


def validate(access_key_id: str, secret_access_key: str, *, source: str = "",
             session_token: str | None = None) -> Credentials:
    """Credentials after shape checks (MinIO: access key >= 3, secret key >= 8 characters)."""
    where = f" (from {source})" if source else ""
    _check_value(access_key_id, f"the access key ID{where}", 3, 128)
    _check_value(secret_access_key, f"the secret access key{where}", 8, 128)
    if access_key_id == secret_access_key:
        raise UsageError(f"the access key ID and the secret access key{where} are identical; give both")
    if access_key_id.startswith(("[", "#", ";")):
        raise UsageError(f"the access key ID{where} starts with {access_key_id[0]!r}; is that a file header, not a key?")
    if re.fullmatch(r"(AKIA|ASIA)[A-Z0-9]{16}", secret_access_key) and len(access_key_id) >= 30:
        raise UsageError(f"the access key ID and the secret access key{where} look swapped")
    return Credentials(access_key_id, secret_access_key, session_token or None, source)


def parse_cloud(text: str, profile: str = "default", where: str = "the credentials file") -> Credentials:
    """The ``profile`` credentials from an AWS shared-credentials INI text (the Secret's `cloud` key)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        raise UsageError(f"{where} is not an AWS credentials file ([{profile}] with aws_access_key_id and "
                         "aws_secret_access_key)") from None
    if not parser.has_section(profile):
        raise UsageError(f"{where} has no [{profile}] section")
    sec = parser[profile]
    key_id, secret = sec.get("aws_access_key_id", "").strip(), sec.get("aws_secret_access_key", "").strip()
    if not key_id or not secret:
        raise UsageError(f"{where}: [{profile}] needs both aws_access_key_id and aws_secret_access_key")
    return validate(key_id, secret, source=where)


def cloud_file(creds: Credentials) -> str:
    """The AWS shared-credentials INI Velero's AWS plugin reads."""
    return f"[default]\naws_access_key_id={creds.access_key_id}\naws_secret_access_key={creds.secret_access_key}\n"


def from_env(env: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials in the environment; None when neither half is set."""
    env = os.environ if env is None else env
    key_id, secret = (env.get(ENV_KEY_ID) or "").strip(), (env.get(ENV_SECRET) or "").strip()
    if not key_id and not secret:
        return None
    if not key_id:
        raise UsageError(f"{ENV_SECRET} is set but {ENV_KEY_ID} is not; set both or neither")
    if not secret:
        raise UsageError(f"{ENV_KEY_ID} is set but {ENV_SECRET} is not; set both or neither")
    return validate(key_id, secret, source=f"the environment ({ENV_KEY_ID}, {ENV_SECRET})",
                    session_token=(env.get(ENV_TOKEN) or "").strip() or None)


def parse_stdin_text(text: str) -> Credentials:
    """Credentials from standard input.

    Accepted: two lines (access key ID, then secret key); or ``KEY=VALUE`` lines with
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (an ``export`` prefix and quotes are allowed); or an AWS
    shared-credentials file with a ``[default]`` section.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        raise UsageError(
            "no credentials on standard input: give two lines (access key ID, then secret key) or "
            "AWS_ACCESS_KEY_ID=... / AWS_SECRET_ACCESS_KEY=... lines"
        )
    if any(ln.startswith("[") for ln in lines):
        return parse_cloud("\n".join(lines) + "\n", where="the credentials file on standard input")
    if any("=" in ln for ln in lines):
        found: dict[str, str] = {}
        for ln in lines:
            key, sep, value = ln.removeprefix("export ").partition("=")
            key = key.strip().lower()
            if not sep or key not in ("aws_access_key_id", "aws_secret_access_key"):
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            found[key] = value
        if len(found) != 2:
            raise UsageError(
                "standard input has KEY=VALUE lines but not both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        return validate(found["aws_access_key_id"], found["aws_secret_access_key"], source="standard input")
    if len(lines) != 2:
        raise UsageError(
            f"standard input has {len(lines)} non-empty lines; expected exactly two (access key ID, then secret key)"
        )
    return validate(lines[0], lines[1], source="standard input")


def read_credentials(
    *, use_stdin: bool, environ: Mapping[str, str] | None = None, stdin: TextIO | None = None,
    prompt: Callable[[str], str] | None = None, is_tty: bool | None = None,
) -> tuple[Credentials, str]:
    """For encrypt-secret: (credentials, where they came from): --stdin, else the environment, else a hidden prompt."""
    stdin = stdin if stdin is not None else sys.stdin
    if use_stdin:
        try:
            text = stdin.read()
        except (OSError, UnicodeDecodeError):
            raise UsageError("cannot read the credentials from standard input") from None
        return parse_stdin_text(text), "standard input"
    found = from_env(environ)
    if found is not None:
        return found, "the environment"
    if is_tty is None:
        try:
            is_tty = stdin.isatty()
        except (AttributeError, ValueError):
            is_tty = False
    if not is_tty:
        raise UsageError(
            f"no S3 credentials: set {ENV_KEY_ID} and {ENV_SECRET}, or pipe them with --stdin "
            "(two lines: access key ID, then secret key); a hidden prompt is only shown on a terminal"
        )
    if prompt is None:
        import getpass

        prompt = getpass.getpass
    try:
        key_id = prompt("S3 access key ID (hidden): ").strip()
        secret = prompt("S3 secret access key (hidden): ").strip()
    except (EOFError, KeyboardInterrupt):
        raise UsageError("no credentials entered") from None
    return validate(key_id, secret, source="the prompt"), "the prompt"


def from_secret_file(secret_file: Path, shown: str) -> Credentials:
    """Decrypt the SOPS Secret in memory and read its `cloud` key."""
    import base64

    from velero_gitops.secrets.sops import decrypt_secret

    if not secret_file.is_file():
        raise UsageError(f"no S3 credentials: {ENV_KEY_ID}/{ENV_SECRET} are not set and {shown} "
                         "does not exist (create it with `velero-gitops encrypt-secret`)")
    secret = decrypt_secret(secret_file)
    cloud = (secret.get("stringData") or {}).get(SECRET_KEY)
    if cloud is None and (secret.get("data") or {}).get(SECRET_KEY) is not None:
        try:
            cloud = base64.b64decode(secret["data"][SECRET_KEY]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise UsageError(f"{shown}: data.{SECRET_KEY} is not valid base64 text") from None
    if not isinstance(cloud, str):
        raise UsageError(f"{shown}: the Secret has no key `{SECRET_KEY}` (stringData.{SECRET_KEY} or data.{SECRET_KEY})")
    creds = parse_cloud(cloud, where=f"{shown} (key {SECRET_KEY})")
    return Credentials(creds.access_key_id, creds.secret_access_key, None, f"{shown} (decrypted in memory with sops)")


def for_s3(loaded: LoadedConfig, env: Mapping[str, str] | None = None) -> Credentials:
    """For the s3 commands: the environment first, then the SOPS-encrypted Secret when an age private key is available."""
    from velero_gitops.render.layout import Layout
    from velero_gitops.secrets.sops import age_key_available

    env = os.environ if env is None else env
    found = from_env(env)
    if found is not None:
        return found
    rel = Layout.of(loaded.config).secret_file
    if not age_key_available(env):
        raise UsageError(
            f"no S3 credentials: set {ENV_KEY_ID} and {ENV_SECRET}, or make the age private key "
            f"available (SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt) so {rel} can be decrypted in memory"
        )
    from velero_gitops.render.write import outside

    escaped = outside(loaded.repo_root, loaded.repo_root / rel)
    if escaped is not None:
        raise UsageError(f"{rel} leads outside the repository (a symlink?): refusing to read it")
    return from_secret_file(loaded.repo_root / rel, rel)
