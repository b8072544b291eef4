"""The kopia repository password: Secret `velero-repo-credentials`, SOPS-encrypted in the tree.

Facts this module relies on (vmware-tanzu/velero@v1.18.1):

* pkg/repository/keys/keys.go: every repository shares one password, key `repository-password` of Secret
  `velero-repo-credentials` in Velero's namespace. EnsureCommonRepositoryKey (called at server start,
  pkg/cmd/server/server.go initRepoManager, and by the maintenance job) creates the Secret with the public
  value `static-passw0rd` only when it does not exist; an existing Secret is left alone.
* pkg/repository/provider/unified_repo.go getRepoPassword and pkg/uploader/provider/kopia.go GetPassword
  read it with strings.TrimSpace, so leading/trailing whitespace never counts.
* pkg/repository/udmrepo/kopialib/repo_init.go: a repository is created (kopia repo.Initialize) with the
  password at its first backup and every later connect must give the same one. Velero has no command that
  changes it (site/content/docs/v1.18/file-system-backup.md: after the first backup a new password loses
  the older backups).
* kopia/kopia@v0.22.3:repo/format/format_change_password.go: kopia itself can re-wrap the format key under
  a new password (`kopia repository change-password`) for repositories of format version 2 or newer; Velero
  leaves the version at kopia's default (repo/initialize.go: version 3). That is the only rotation path,
  outside Velero (docs/secrets.md).
* The chart (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero) neither creates nor mentions this Secret.

The password is built in memory and handed to sops through a pipe (velero_gitops.secrets.secret.encrypt_document),
exactly like the S3 credentials: never on disk, in argv, in a log or in a message.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from velero_gitops.config.names import REPO_CREDENTIALS_KEY, REPO_CREDENTIALS_SECRET
from velero_gitops.errors import UsageError, VeleroGitopsError

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig
    from velero_gitops.secrets.secret import EncryptionPlan

VELERO_DEFAULT = "static-passw0rd"  # public: pkg/repository/keys/keys.go encryptionKey
RANDOM_BYTES = 32  # 256 bits from the OS CSPRNG, as 43 base64url characters
SHORT = 20  # a password from stdin shorter than this gets a warning
PRUNE_DISABLED = {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

STATES = {
    "managed": "managed in Git: {file} (SOPS-encrypted, applied with the HelmRelease)",
    "elsewhere": "made by another object of this repository: the tree does not create velero-repo-credentials; "
                 "it must exist before Velero's first start, or Velero creates it with its public default",
    "external": "made outside the repository: the tree does not create velero-repo-credentials; whoever does must "
                "do it before Velero's first start, or Velero creates it with its public default",
    "veleroDefault": "Velero's default: Velero creates velero-repo-credentials with the public password "
                     f"{VELERO_DEFAULT!r}, so anyone who can read the bucket can read the file-system backups",
}


class KopiaDataFound(VeleroGitopsError):
    """The bucket already holds kopia repositories: a new password cannot open them (exit 1, a finding)."""

    exit_code = 1


@dataclass(frozen=True)
class Password:
    value: str = field(repr=False)
    source: str  # "generated" or "standard input"

    def __repr__(self) -> str:  # never show the value, even in a traceback's locals
        return f"Password(<redacted>, {self.source})"

    __str__ = __repr__


def generate() -> Password:
    """RANDOM_BYTES from the OS CSPRNG, URL-safe base64 without padding (what the standard library's
    secrets.token_urlsafe returns; not imported by that name beside this package's own secrets/ folder)."""
    return Password(base64.urlsafe_b64encode(os.urandom(RANDOM_BYTES)).rstrip(b"=").decode("ascii"), "generated")


def parse_stdin_text(text: str) -> Password:
    """One line from standard input (its line break removed). Problems are described by shape only."""
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    if not text:
        raise UsageError("no password on standard input (give it as one line)")
    if "\n" in text or "\r" in text:
        raise UsageError("standard input has more than one line; give the password as one line")
    if text != text.strip():
        raise UsageError("the password on standard input starts or ends with whitespace; Velero strips it "
                         "(strings.TrimSpace), so give it without")
    if _CONTROL.search(text):
        raise UsageError("the password on standard input contains control characters")
    return Password(text, "standard input")


def read_password(*, use_stdin: bool, stdin: TextIO | None = None) -> Password:
    if not use_stdin:
        return generate()
    import sys

    stream = stdin if stdin is not None else sys.stdin
    try:
        text = stream.read()
    except (OSError, UnicodeDecodeError):
        raise UsageError("cannot read the password from standard input") from None
    return parse_stdin_text(text)


def warnings_for(password: Password) -> list[str]:
    """Shape-only remarks about a given password (a generated one has none)."""
    if password.source == "generated":
        return []
    if password.value == VELERO_DEFAULT:
        return ["the password is Velero's public default: existing repositories stay readable, and so does "
                "everything in them for anyone with bucket access (docs/secrets.md, existing installations)"]
    if len(password.value) < SHORT:
        return [f"the password has {len(password.value)} characters; a generated one (without --stdin) has "
                f"{RANDOM_BYTES * 8} bits"]
    return []


# ---------------------------------------------------------------------------------------------- the tree
def build_secret(namespace: str, password: Password) -> dict[str, Any]:
    """The Secret as a plain dict (in memory only).

    Flux must never prune it: without it Velero recreates the public default at its next start, and every
    repository made with this password becomes unreadable (kustomize.toolkit.fluxcd.io/prune: disabled, the
    same annotation the namespace carries)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": REPO_CREDENTIALS_SECRET, "namespace": namespace, "annotations": dict(PRUNE_DISABLED)},
        "type": "Opaque",
        "stringData": {REPO_CREDENTIALS_KEY: password.value},
    }


def command(loaded: LoadedConfig) -> str:
    from velero_gitops.config.loader import display

    return f"velero-gitops encrypt-repo-password --config {display(loaded.path)}"


def missing_hint(loaded: LoadedConfig, shown: str) -> str:
    return (f"{shown} does not exist yet: the app kustomization lists it (velero.repositoryPassword: managed). "
            f"Create it with: {command(loaded)} (a random 256-bit password; if Velero already wrote "
            "file-system backups to this bucket, read docs/secrets.md first)")


def state(loaded: LoadedConfig) -> dict[str, Any]:
    """Which password applies, for `explain`."""
    from velero_gitops.render.layout import Layout

    c = loaded.config
    mode = c.velero.repository_password
    rel = Layout.of(c).repo_password_file
    exists = (loaded.repo_root / rel).is_file()
    text = STATES[mode].format(file=rel)
    if mode == "managed" and not exists:
        text += f"; the file is missing: create it with `{command(loaded)}`"
    return {"mode": mode, "file": rel if mode == "managed" else None, "exists": exists if mode == "managed" else None,
            "secret": f"{c.repo.namespace}/{REPO_CREDENTIALS_SECRET}", "key": REPO_CREDENTIALS_KEY, "words": text}


def encryption_plan(loaded: LoadedConfig, *, age: Sequence[str] = ()) -> EncryptionPlan:
    """Where and to whom the repository Secret is encrypted. Raises UsageError."""
    from velero_gitops.render.layout import Layout
    from velero_gitops.secrets import secret as secretlib

    mode = loaded.config.velero.repository_password
    if mode != "managed":
        raise UsageError(
            f"velero.repositoryPassword is {mode!r}, so the tree does not apply a repository Secret; "
            "set it to managed (read docs/secrets.md about existing repositories first), render, then run this again"
        )
    return secretlib.encryption_plan(loaded, age=age, file=Layout.of(loaded.config).repo_password_file,
                          name=REPO_CREDENTIALS_SECRET, key=REPO_CREDENTIALS_KEY)


def refuse_replacing(p: EncryptionPlan, *, replace: bool, use_stdin: bool) -> None:
    """A new password over an existing one locks Velero out of every repository made with the old one."""
    if p.target.exists() and not replace:
        raise UsageError(
            f"{p.shown} already holds the repository password; replacing it would lock Velero out of every kopia "
            "repository created with it (Velero 1.18 cannot change a repository's password). To rotate, change the "
            "password of each repository with `kopia repository change-password` first (docs/secrets.md, rotation), "
            "then pass that new password with --stdin --replace"
        )
    if replace and not use_stdin:
        raise UsageError(
            "--replace needs --stdin: a newly generated password cannot match any existing repository; give the "
            "password you already set with `kopia repository change-password`"
        )


# ---------------------------------------------------------------------------------------------- the bucket
def refuse_existing_data(loaded: LoadedConfig, namespaces: list[str], password: Password, prefix: str) -> None:
    """Refuse a new random password when the bucket (ops.s3.kopia_namespaces) already holds kopia repositories."""
    if not namespaces or password.source != "generated":
        return
    shown = ", ".join(namespaces[:5]) + (f" and {len(namespaces) - 5} more" if len(namespaces) > 5 else "")
    raise KopiaDataFound(
        f"s3://{loaded.config.s3.bucket}/{prefix} already holds kopia repositories ({shown}); they "
        "open only with the password they were created with (Velero's default unless you changed it), so a new "
        "random password would make their backups unreadable. Nothing was written. Either keep that password in "
        f"Git (pipe it with --stdin), or set velero.repositoryPassword: veleroDefault; docs/secrets.md shows the "
        "safe paths"
    )


UNCHECKED_WARNING = (
    "warning: the bucket was not checked. If Velero already wrote file-system backups to s3://{bucket}/{prefix}, "
    "those kopia repositories open only with their old password (Velero's default unless changed) and fail "
    "with this one; run with --check-bucket to look first (docs/secrets.md, existing installations)"
)


def encrypt(p: Any, password: Password) -> Any:
    """Encrypt, verify and atomically write; velero_gitops.secrets.secret.Result."""
    from velero_gitops.secrets import secret as secretlib

    return secretlib.encrypt_document(p, build_secret(p.namespace, password), [password.value])
