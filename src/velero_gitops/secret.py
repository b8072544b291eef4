"""The S3 credentials Secret: built in memory, encrypted by sops through a pipe, only ciphertext written.

Credentials come from the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), from standard
input (``--stdin``) or from a hidden prompt on a terminal; never from argv, never from the config
file. No message built here ever contains a credential value: problems are described by length and
shape only.

Writing is atomic and verified: sops' output is parsed and checked (sops metadata, recipients,
every data/stringData value encrypted, no credential substring anywhere) before a temp file in the
same folder is fsynced and renamed over the old secret. On any failure the old file is untouched.
Python strings cannot be wiped, so the plaintext lives in this process' memory until it exits;
it is never written to disk, a log, or an exception.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from velero_gitops.errors import UsageError
from velero_gitops.names import AGE_RECIPIENT
from velero_gitops.write import atomic_write

ENV_KEY_ID = "AWS_ACCESS_KEY_ID"
ENV_SECRET = "AWS_SECRET_ACCESS_KEY"
SECRET_KEY = "cloud"

_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces


@dataclass(frozen=True)
class Credentials:
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)

    def __repr__(self) -> str:  # never show the values, even in a traceback's locals
        return "Credentials(<redacted>)"

    __str__ = __repr__

    @property
    def values(self) -> tuple[str, str]:
        return self.access_key_id, self.secret_access_key


def _check_value(value: str, what: str, minimum: int, maximum: int) -> None:
    if not value:
        raise UsageError(f"{what} is empty")
    if any(c.isspace() for c in value):
        raise UsageError(f"{what} contains whitespace (a pasted line break or space?); it must be one word")
    if not _PRINTABLE.match(value):
        raise UsageError(f"{what} contains characters outside printable ASCII")
    if len(value) < minimum:
        raise UsageError(f"{what} is too short ({len(value)} characters; S3/MinIO needs at least {minimum})")
    if len(value) > maximum:
        raise UsageError(f"{what} is too long ({len(value)} characters; at most {maximum})")


def validate(access_key_id: str, secret_access_key: str, *, source: str = "") -> Credentials:
    """Credentials after shape checks (MinIO: access key >= 3, secret key >= 8 characters)."""
    where = f" (from {source})" if source else ""
    _check_value(access_key_id, f"the access key ID{where}", 3, 128)
    _check_value(secret_access_key, f"the secret access key{where}", 8, 128)
    if access_key_id == secret_access_key:
        raise UsageError(f"the access key ID and the secret access key{where} are identical; give both")
    if access_key_id.startswith(("[", "#", ";")):
        raise UsageError(f"the access key ID{where} starts with {access_key_id[0]!r}; is that a file header, not a key?")
    if re.match(r"^(AKIA|ASIA)[A-Z0-9]{16}$", secret_access_key) and len(access_key_id) >= 30:
        raise UsageError(f"the access key ID and the secret access key{where} look swapped")
    return Credentials(access_key_id, secret_access_key)


def parse_cloud(text: str) -> Credentials:
    """The [default] credentials from a shared-credentials INI (the Secret's `cloud` key)."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        raise UsageError("the credentials file is not valid INI") from None
    if not parser.has_section("default"):
        raise UsageError("the credentials file has no [default] section")
    sec = parser["default"]
    return validate(sec.get("aws_access_key_id", "").strip(), sec.get("aws_secret_access_key", "").strip(),
                    source="the credentials file")


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
        return parse_cloud("\n".join(lines) + "\n")
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
    *, use_stdin: bool, environ: dict[str, str] | None = None, stdin: TextIO | None = None,
    prompt: Callable[[str], str] | None = None, is_tty: bool | None = None,
) -> tuple[Credentials, str]:
    """(credentials, where they came from): --stdin, else the environment, else a hidden prompt."""
    env = os.environ if environ is None else environ
    stdin = stdin if stdin is not None else sys.stdin
    if use_stdin:
        try:
            text = stdin.read()
        except (OSError, UnicodeDecodeError):
            raise UsageError("cannot read the credentials from standard input") from None
        return parse_stdin_text(text), "standard input"
    key_id, secret = env.get(ENV_KEY_ID), env.get(ENV_SECRET)
    if key_id or secret:
        if not key_id:
            raise UsageError(f"{ENV_SECRET} is set but {ENV_KEY_ID} is not; set both")
        if not secret:
            raise UsageError(f"{ENV_KEY_ID} is set but {ENV_SECRET} is not; set both")
        return validate(key_id.strip(), secret.strip(), source="the environment"), "the environment"
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


# ------------------------------------------------------------------------------------------ building
def cloud_file(creds: Credentials) -> str:
    """The AWS shared-credentials INI Velero reads (domain.md §4)."""
    return f"[default]\naws_access_key_id={creds.access_key_id}\naws_secret_access_key={creds.secret_access_key}\n"


def build_secret(config: Any, creds: Credentials) -> dict[str, Any]:
    """The Secret as a plain dict (in memory only)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": config.s3.credentials_secret, "namespace": config.repo.namespace},
        "type": "Opaque",
        "stringData": {SECRET_KEY: cloud_file(creds)},
    }


def to_yaml(doc: dict[str, Any]) -> bytes:
    """YAML for sops' stdin; multi-line strings as literal blocks."""
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    def lit(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: lit(v) for k, v in node.items()}
        if isinstance(node, str) and "\n" in node:
            return LiteralScalarString(node)
        return node

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(lit(doc), buf)
    return buf.getvalue().encode("utf-8")


# ------------------------------------------------------------------------------------------- writing
def _ensure_writable_dir(directory: Path, shown: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder of {shown} ({exc.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {shown}: its folder {directory} is not writable")
    # os.access lies for root and on some mounts: really try.
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".velero-gitops-probe.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write {shown}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(probe)


# ------------------------------------------------------------------------------------------ the flow
@dataclass(frozen=True)
class Plan:
    """What encrypt-secret will do, resolved before any credential is read."""

    target: Path  # absolute
    shown: str  # as the user would type it
    repo_root: Path
    config_file: Path | None  # the .sops.yaml whose rule applies, None with explicit recipients
    recipients: tuple[str, ...]  # what the output must be encrypted for
    recipients_source: str  # "--age", "sops.ageRecipients" or ".sops.yaml (creation_rules[i])"
    name: str
    namespace: str
    sops: Any  # velero_gitops.sops.Sops
    key: str = SECRET_KEY  # the data key the Secret must have


@dataclass(frozen=True)
class Result:
    plan: Plan
    replaced: bool  # an older secret was there
    seconds: float  # time spent in sops


def plan(loaded: Any, *, age: Sequence[str] = (), check_writable: bool = True, target_rel: str | None = None,
         name: str | None = None, key: str = SECRET_KEY) -> Plan:
    """Find sops, the target, and the recipients; check the target folder is writable. Raises UsageError.

    ``target_rel``/``name``/``key`` describe another Secret than the S3 credentials (encrypt-repo-password)."""
    from velero_gitops import sops as sopslib
    from velero_gitops.layout import Layout
    from velero_gitops.loader import display

    config = loaded.config
    repo_root = Path(loaded.repo_root)
    target = (repo_root / (target_rel or Layout.of(config).secret_file)).resolve()
    shown = display(target)
    for r in age:
        if not AGE_RECIPIENT.match(r):
            raise UsageError(f"--age {r!r} is not an age public key (age1 followed by 58 characters)")
    sops = sopslib.find_sops()
    if age:
        recipients, source, conf = tuple(dict.fromkeys(age)), "--age", None
    elif config.sops.age_recipients:
        recipients, source, conf = tuple(dict.fromkeys(config.sops.age_recipients)), "sops.ageRecipients", None
    else:
        conf = sopslib.find_config(repo_root)
        if conf is None:
            raise UsageError(
                f"no .sops.yaml in {display(repo_root)} or its parents and no age recipients configured: run "
                "`velero-gitops sops-init --config <config>` to create one, or pass --age <recipient>"
            )
        rule = sopslib.matching_rule(conf, target)
        if rule is None:
            raise UsageError(
                f"{display(conf)}: no creation rule matches {shown}; add the rule that "
                "`velero-gitops sops-init --config <config>` prints (before any catch-all rule), or pass --age <recipient>"
            )
        if not rule.age:
            raise UsageError(
                f"{display(conf)}: creation_rules[{rule.index}] matches {shown} but has no age recipients; "
                "Flux decrypts with an age key: add `age: age1...` to it"
            )
        for r in rule.age:
            if not AGE_RECIPIENT.match(r):
                raise UsageError(f"{display(conf)}: creation_rules[{rule.index}]: {r!r} is not an age public key")
        recipients, source = rule.age, f"{display(conf)} (creation_rules[{rule.index}])"
    if check_writable:
        _ensure_writable_dir(target.parent, shown)
    return Plan(
        target=target, shown=shown, repo_root=repo_root, config_file=conf, recipients=tuple(recipients),
        recipients_source=source, name=name or config.s3.credentials_secret, namespace=config.repo.namespace,
        sops=sops, key=key,
    )


def verify_ciphertext(ciphertext: bytes, p: Plan, secrets: Sequence[str], *, exact_recipients: bool = False) -> None:
    """Raise UsageError unless ``ciphertext`` is the encrypted Secret ``p`` describes."""
    from ruamel.yaml import YAML

    from velero_gitops.secret_check import Problem, inspect_secret, recipients_of

    for s in secrets:
        if s and s.encode("utf-8") in ciphertext:
            raise UsageError("sops output contains a credential in clear; nothing was written (check encrypted_regex in .sops.yaml)")
    try:
        docs = [d for d in YAML(typ="rt").load_all(ciphertext.decode("utf-8")) if d is not None]
    except Exception:  # noqa: BLE001 - any parse error
        raise UsageError("sops output is not valid YAML; nothing was written") from None
    if len(docs) != 1:
        raise UsageError(f"sops output has {len(docs)} documents instead of one; nothing was written")
    problems = [x for x in inspect_secret(docs[0], name=p.name, namespace=p.namespace, key=p.key,
                                           expected_recipients=p.recipients,
                                           recipients_source=p.recipients_source) if x.severity == "error"]
    if exact_recipients:
        extra = set(recipients_of(docs[0])) - set(p.recipients)
        if extra:
            problems.append(Problem(
                "/sops/age", f"encrypted for recipients not in {p.recipients_source}: {', '.join(sorted(extra))}",
                "secret.recipients",
            ))
    if problems:
        details = "; ".join(f"{x.pointer or '/'}: {x.message}" for x in problems[:3])
        raise UsageError(f"sops output failed verification, nothing was written: {details}")


def encrypt_secret(loaded: Any, creds: Credentials, *, p: Plan | None = None, age: Sequence[str] = ()) -> Result:
    """Build, encrypt, verify and atomically write the credentials Secret."""
    return encrypt_document(p or plan(loaded, age=age), build_secret(loaded.config, creds), list(creds.values))


def encrypt_document(p: Plan, doc: dict[str, Any], secrets: list[str]) -> Result:
    """Encrypt the in-memory Secret ``doc`` with sops through a pipe, verify it, write it atomically.

    ``secrets`` are the plaintext values: redacted from sops' messages and looked for in its output."""
    from velero_gitops import sops as sopslib

    plaintext = to_yaml(doc)
    started = time.monotonic()
    ciphertext = sopslib.encrypt(
        plaintext, target=p.target, cwd=p.repo_root, config_file=p.config_file,
        recipients=() if p.config_file else p.recipients, secrets=secrets, sops=p.sops,
    )
    seconds = time.monotonic() - started
    del plaintext, doc
    verify_ciphertext(ciphertext, p, secrets)
    existed = p.target.exists()
    try:
        atomic_write(p.target, ciphertext)
    except OSError as exc:
        raise UsageError(f"cannot write {p.shown} ({exc.strerror}); the old file is untouched") from None
    return Result(plan=p, replaced=existed, seconds=seconds)


def update_keys(loaded: Any) -> Result:
    """``sops updatekeys -y`` on the existing secret, for the current `.sops.yaml` recipients.

    sops rewrites the file in place; the old bytes are kept in memory and put back (atomically)
    if sops fails or the result does not verify.
    """
    from velero_gitops import sops as sopslib

    config = loaded.config
    if config.sops.age_recipients:
        raise UsageError(
            "--update-keys re-encrypts for the .sops.yaml recipients, but the config sets sops.ageRecipients; "
            "run encrypt-secret again (with the credentials) to re-encrypt for them"
        )
    p = plan(loaded, check_writable=False)
    if not p.target.is_file():
        raise UsageError(f"{p.shown} does not exist yet: run encrypt-secret without --update-keys first")
    old = p.target.read_bytes()
    try:
        old_mode = p.target.stat().st_mode & 0o777
    except OSError:
        old_mode = 0o644
    started = time.monotonic()
    try:
        sopslib.update_keys(p.target, cwd=p.repo_root, config_file=p.config_file, sops=p.sops)  # type: ignore[arg-type]
        new = p.target.read_bytes()
        verify_ciphertext(new, p, (), exact_recipients=True)
    except BaseException:
        try:
            if p.target.read_bytes() != old:
                atomic_write(p.target, old, mode=old_mode)
        except OSError:
            atomic_write(p.target, old, mode=old_mode)
        raise
    return Result(plan=p, replaced=True, seconds=time.monotonic() - started)
