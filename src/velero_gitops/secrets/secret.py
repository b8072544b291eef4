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
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from velero_gitops.config.names import age_recipient_refusal
from velero_gitops.errors import UsageError
from velero_gitops.render.write import atomic_write, outside, tree_lock
from velero_gitops.secrets.credentials import SECRET_KEY, Credentials, cloud_file

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig
    from velero_gitops.config.model import Config

# ------------------------------------------------------------------------------------------ building
def secret_doc(name: str, namespace: str, string_data: Mapping[str, str]) -> dict[str, Any]:
    """An Opaque Secret as a plain dict (in memory only)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": dict(string_data),
    }


def build_secret(config: Config, creds: Credentials) -> dict[str, Any]:
    """The S3 credentials Secret Velero's AWS plugin reads."""
    return secret_doc(config.s3.credentials_secret, config.repo.namespace, {SECRET_KEY: cloud_file(creds)})


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
class EncryptionPlan:
    """What encrypt-secret will do, resolved before any credential is read."""

    target: Path  # absolute
    shown: str  # as the user would type it
    repo_root: Path
    config_file: Path | None  # the .sops.yaml whose rule applies, None with explicit recipients
    recipients: tuple[str, ...]  # what the output must be encrypted for
    recipients_source: str  # "--age", "sops.ageRecipients" or ".sops.yaml (creation_rules[i])"
    name: str
    namespace: str
    sops: Any  # velero_gitops.secrets.sops.Sops
    key: str = SECRET_KEY  # the data key the Secret must have
    needs: str = ""  # what sops needs beyond this machine (KMS, Vault transit, PGP in the rule): said before the call


@dataclass(frozen=True)
class Result:
    plan: EncryptionPlan
    replaced: bool  # an older secret was there
    seconds: float  # time spent in sops


def _target(repo_root: Path, rel: str) -> tuple[Path, str]:
    """The file to write, resolved; refused when it (a symlinked file or folder) leads outside the repository."""
    from velero_gitops.config.loader import display

    path = repo_root / rel
    escaped = outside(repo_root, path)
    if escaped is not None:
        raise UsageError(f"{display(path)} leads outside the repository {display(repo_root)} "
                         "(a symlinked file or folder): refusing to write through it; replace the symlink with a "
                         "real file or folder")
    target = path.resolve()
    return target, display(target)


def encryption_plan(loaded: LoadedConfig, *, age: Sequence[str] = (), check_writable: bool = True,
                    file: str | None = None, name: str | None = None, key: str = SECRET_KEY) -> EncryptionPlan:
    """Find sops, the target, and the recipients; check the target folder is writable. Raises UsageError.

    ``file`` (repo-relative), ``name`` and ``key`` default to the S3 credentials Secret of the config.
    """
    from velero_gitops.config.loader import display
    from velero_gitops.render.layout import Layout
    from velero_gitops.secrets import sops as sopslib

    config = loaded.config
    repo_root = Path(loaded.repo_root)
    target, shown = _target(repo_root, file or Layout.of(config).secret_file)
    for r in age:
        if refusal := age_recipient_refusal("--age", r):
            raise UsageError(refusal)
    sops = sopslib.find_sops()
    rule: sopslib.CreationRule | None = None
    if age:
        recipients, source, conf = tuple(dict.fromkeys(age)), "--age", None
    elif config.sops.age_recipients:
        recipients, source, conf = tuple(dict.fromkeys(config.sops.age_recipients)), "sops.ageRecipients", None
    else:
        conf = sopslib.find_config(repo_root, target.parent)
        if conf is None:
            raise UsageError(
                f"no .sops.yaml in {display(repo_root)} at or above {shown} and no age recipients configured: run "
                "`velero-gitops sops-init --config <config>` to create one, or pass --age <recipient>"
            )
        rule = sopslib.matching_rule(conf, target)
        if rule is None:
            raise UsageError(
                f"{display(conf)}: no creation rule matches {shown}; add the rule that "
                "`velero-gitops sops-init --config <config>` prints (before any catch-all rule), or pass --age <recipient>"
            )
        if not rule.age:
            uses = f" (it encrypts for {', '.join(rule.services)})" if rule.services else ""
            raise UsageError(
                f"{display(conf)}: creation_rules[{rule.index}] matches {shown} but has no age recipients{uses}; "
                "Flux decrypts with an age key: add `age: age1...` to it"
            )
        for r in rule.age:
            if refusal := age_recipient_refusal(f"{display(conf)}: creation_rules[{rule.index}]:", r):
                raise UsageError(refusal)
        recipients, source = rule.age, f"{display(conf)} (creation_rules[{rule.index}])"
    if check_writable:
        _ensure_writable_dir(target.parent, shown)
    return EncryptionPlan(
        target=target, shown=shown, repo_root=repo_root, config_file=conf, recipients=tuple(recipients),
        recipients_source=source, name=name or config.s3.credentials_secret, namespace=config.repo.namespace,
        sops=sops, key=key, needs=sopslib.needs(rule) if rule is not None else "",
    )


def verify_ciphertext(ciphertext: bytes, p: EncryptionPlan, secrets: Sequence[str], *, exact_recipients: bool = False) -> None:
    """Raise UsageError unless ``ciphertext`` is the encrypted Secret ``p`` describes."""
    from ruamel.yaml import YAML

    from velero_gitops.secrets.secret_check import Problem, inspect_secret, recipients_of

    for s in secrets:
        if s and s.encode("utf-8") in ciphertext:
            raise UsageError("sops output contains a credential in clear; nothing was written")
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


def write_secret(p: EncryptionPlan, string_data: Mapping[str, str], *, secrets: Sequence[str]) -> Result:
    """Build the Opaque Secret ``p`` names from ``string_data``, encrypt it with sops, verify and write it atomically.

    ``secrets``: the values that must never appear in clear (in the ciphertext, a message or a file).
    """
    if not string_data:
        raise UsageError("a Secret needs at least one key")
    return encrypt_document(p, secret_doc(p.name, p.namespace, string_data), secrets)


def encrypt_document(p: EncryptionPlan, doc: dict[str, Any], secrets: Sequence[str]) -> Result:
    """Encrypt the in-memory Secret ``doc`` with sops through a pipe, verify it, write it atomically.

    ``secrets`` are the plaintext values: redacted from sops' messages and looked for in its output."""
    from velero_gitops.secrets import sops as sopslib

    secrets = [s for s in secrets if s]
    plaintext = to_yaml(doc)
    started = time.monotonic()
    ciphertext = sopslib.encrypt(
        plaintext, target=p.target, cwd=p.repo_root, config_file=p.config_file,
        recipients=() if p.config_file else p.recipients, secrets=secrets, sops=p.sops,
    )
    seconds = time.monotonic() - started
    del plaintext
    # A value that the Secret shows in clear anyway (an access key ID "velero" in namespace velero) is no leak.
    public = to_yaml({k: v for k, v in doc.items() if k not in ("data", "stringData")})
    verify_ciphertext(ciphertext, p, [s for s in secrets if s.encode("utf-8") not in public])
    with tree_lock(p.repo_root):
        _target(p.repo_root, os.path.relpath(p.target, p.repo_root))  # a symlink swapped in since encryption_plan()
        existed = p.target.exists()
        try:
            atomic_write(p.target, ciphertext)
        except OSError as exc:
            raise UsageError(f"cannot write {p.shown} ({exc.strerror}); the old file is untouched") from None
    return Result(plan=p, replaced=existed, seconds=seconds)


def require_made_here(loaded: LoadedConfig) -> None:
    """velero-gitops makes the credentials Secret only with s3.credentialsFrom: sops."""
    from velero_gitops.errors import UsageError

    if loaded.config.s3.credentials_from != "sops":
        raise UsageError(f"s3.credentialsFrom is {loaded.config.s3.credentials_from}: the Secret "
                         f"{loaded.config.s3.credentials_secret} is made elsewhere, so encrypt-secret writes nothing "
                         "(set credentialsFrom: sops to have velero-gitops make it)")


def encrypt_secret(loaded: LoadedConfig, creds: Credentials, *, p: EncryptionPlan | None = None, age: Sequence[str] = ()) -> Result:
    """Build, encrypt, verify and atomically write the S3 credentials Secret."""
    require_made_here(loaded)
    p = p or encryption_plan(loaded, age=age)
    return write_secret(p, {SECRET_KEY: cloud_file(creds)}, secrets=creds.values)


def update_keys(loaded: LoadedConfig) -> Result:
    """``sops updatekeys -y`` on the existing secret, for the current `.sops.yaml` recipients.

    sops rewrites the file in place; the old bytes are kept in memory and put back (atomically)
    if sops fails or the result does not verify.
    """
    from velero_gitops.secrets import sops as sopslib

    config = loaded.config
    if config.sops.age_recipients:
        raise UsageError(
            "--update-keys re-encrypts for the .sops.yaml recipients, but the config sets sops.ageRecipients; "
            "run encrypt-secret again (with the credentials) to re-encrypt for them"
        )
    p = encryption_plan(loaded, check_writable=False)
    if not p.target.is_file():
        raise UsageError(f"{p.shown} does not exist yet: run encrypt-secret without --update-keys first")
    old = p.target.read_bytes()
    try:
        old_mode = p.target.stat().st_mode & 0o777
    except OSError:
        old_mode = 0o644
    started = time.monotonic()
    with tree_lock(p.repo_root):
        _update_keys_locked(p, old, old_mode, sopslib)
    return Result(plan=p, replaced=True, seconds=time.monotonic() - started)


def _update_keys_locked(p: EncryptionPlan, old: bytes, old_mode: int, sopslib: Any) -> None:
    try:
        new = sopslib.update_keys(p.target, cwd=p.repo_root, recipients=p.recipients, sops=p.sops)
        verify_ciphertext(new, p, (), exact_recipients=True)
        atomic_write(p.target, new, mode=old_mode)
    except BaseException:
        try:
            if p.target.read_bytes() != old:
                atomic_write(p.target, old, mode=old_mode)
        except OSError:
            atomic_write(p.target, old, mode=old_mode)
        raise
