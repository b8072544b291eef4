"""`sops-init`: the `.sops.yaml` creation rule for the tree, and optionally an age key.

Never clobbers: an existing `.sops.yaml` is left alone (the rule to add is shown instead), and an
existing age key file is never overwritten. Only the public key is ever printed.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops import tools
from velero_gitops.config.names import age_recipient_refusal
from velero_gitops.errors import UsageError
from velero_gitops.render.write import create_new, outside

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig
    from velero_gitops.config.model import Config

HEADER = (
    "# SOPS creation rules, written by `velero-gitops sops-init`.\n"
    "# sops matches path_regex against paths relative to this file; the first matching rule wins.\n"
    "# Only data/stringData are encrypted, so kustomize and Flux can still read apiVersion/kind/metadata.\n"
)
_PUBLIC_COMMENT = re.compile(r"^#\s*public key:\s*(age1[02-9ac-hj-np-z]{58})\s*$", re.M | re.I)


def path_regex(apps_root: str) -> str:
    """`^<apps_root>/.*\\.sops\\.ya?ml$`: every *.sops.yaml under the apps root (relative to the repo root)."""
    root = apps_root.strip("/")
    prefix = "" if root in ("", ".") else re.escape(root) + "/"
    return f"^{prefix}.*\\.sops\\.ya?ml$"


def rule_yaml(apps_root: str, recipients: Sequence[str]) -> str:
    """One creation rule as YAML lines (indented as an item of creation_rules)."""
    return (
        f"  - path_regex: '{path_regex(apps_root)}'\n"
        "    encrypted_regex: '^(data|stringData)$'\n"
        "    mac_only_encrypted: true\n"
        # A comma-separated string: a YAML list is only accepted by sops 3.11+.
        f"    age: >-\n      {','.join(recipients)}\n"
    )


def config_text(apps_root: str, recipients: Sequence[str]) -> str:
    return "---\n" + HEADER + "creation_rules:\n" + rule_yaml(apps_root, recipients)


def flux_key_hint(config: Config, key_path: Path | str) -> str:
    """How to give the private key to Flux, for the decryption the tree renders (docs/secrets.md §4).

    kustomize-controller reads `decryption.secretRef` from the Kustomization's own namespace, which is
    `flux.namespace`; without a secretRef it uses its `--sops-age-secret` key from its own namespace.
    """
    from velero_gitops.validate.flux import key_command

    d = config.flux.decryption
    create = key_command(d.secret_ref, config.flux.namespace, str(key_path))
    if d.enabled and d.key_from == "secretRef":
        return "give it to Flux: " + create
    where = ("the Secret that kustomize-controller's --sops-age-secret flag names, in the controller's namespace"
             if d.enabled else "the Secret your root Kustomization's decryption uses")
    return f"give it to Flux as {where}, e.g. " + create


# ----------------------------------------------------------------------------------------------- keys
def key_file() -> Path:
    from velero_gitops.secrets.sops import default_key_file

    return default_key_file()


def public_key_of(path: Path) -> str | None:
    """The public key of an age key file: from its `# public key:` comment, else derived with pyrage."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    m = _PUBLIC_COMMENT.search(text)
    if m:
        return m.group(1)
    try:
        from pyrage import x25519
    except ImportError:
        return None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                return str(x25519.Identity.from_str(line).to_public())
            except Exception:  # noqa: BLE001 - not a valid key
                return None
    return None


def _new_key() -> tuple[str, str]:
    """(key file text, public key) for a fresh age key: pyrage if importable, else age-keygen."""
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        from pyrage import x25519
    except ImportError:
        x25519 = None
    if x25519 is not None:
        ident = x25519.Identity.generate()
        public = str(ident.to_public())
        return f"# created: {created}\n# public key: {public}\n{ident}\n", public
    keygen = tools.which("age-keygen")
    if keygen is None:
        raise UsageError(
            "cannot generate an age key: install pyrage (`pip install pyrage`) or age (`age-keygen` on PATH)"
        )
    # age-keygen writes the key to stdout (captured here, through a pipe) and the public key to stderr.
    proc = subprocess.run([keygen], capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    text = proc.stdout.decode("utf-8", "replace")
    m = _PUBLIC_COMMENT.search(text)
    if proc.returncode != 0 or not m or "AGE-SECRET-KEY-" not in text:
        raise UsageError(f"age-keygen failed (exit {proc.returncode})")
    return text if text.endswith("\n") else text + "\n", m.group(1)


@dataclass(frozen=True)
class KeyResult:
    path: Path
    public_key: str
    created: bool  # False: a key was already there and was kept


def generate_key(path: Path | None = None) -> KeyResult:
    """Create an age key file (mode 0600, folder 0700) unless one exists; return its public key."""
    path = path or key_file()
    if path.exists():
        public = public_key_of(path)
        if public is None:
            raise UsageError(
                f"{path} already exists and is not an age key file this tool can read; it was not touched"
            )
        return KeyResult(path, public, created=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"cannot create {path.parent} ({exc.strerror})") from None
    text, public = _new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} appeared while generating the key; it was not overwritten") from None
    except OSError as exc:
        raise UsageError(f"cannot create {path} ({exc.strerror})") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        os.unlink(path)
        raise UsageError(f"cannot write {path} ({exc.strerror})") from None
    os.close(fd)
    return KeyResult(path, public, created=True)


# ------------------------------------------------------------------------------------------- the rule
@dataclass(frozen=True)
class InitResult:
    config_file: Path  # the .sops.yaml written or found
    written: bool
    recipients: tuple[str, ...]
    rule_text: str  # the rule (creation_rules item) for this tree
    covered_by: int | None  # index of the existing rule that already matches the secret with all recipients
    matched_by: int | None  # index of the existing rule that matches the secret (maybe without our recipients)
    key: KeyResult | None


def init(loaded: LoadedConfig, *, age: Sequence[str] = (), generate: bool = False, key_path: Path | None = None) -> InitResult:
    from velero_gitops.config.loader import display
    from velero_gitops.render.layout import Layout
    from velero_gitops.secrets import sops as sopslib

    config = loaded.config
    repo_root = Path(loaded.repo_root)
    for r in age:
        if refusal := age_recipient_refusal("--age", r):
            raise UsageError(refusal)
    key = generate_key(key_path) if generate else None
    recipients = list(dict.fromkeys([*age, *config.sops.age_recipients, *([key.public_key] if key else [])]))
    target = repo_root / Layout.of(config).secret_file
    path = repo_root / sopslib.CONFIG_NAME
    escaped = outside(repo_root, path) if path.is_symlink() else None
    if escaped is not None:
        raise UsageError(f"{display(path)} is a symlink to {escaped}, outside the repository: refusing to read or "
                         "write through it; replace it with a real file (or remove it and run sops-init again)")
    found = sopslib.recipients_for(repo_root, target)  # the same reading as init's (sops.recipients_for)
    conf = found.config_file
    if not recipients:
        existing = key_file() if key_path is None else key_path
        public = public_key_of(existing) if existing.is_file() else None
        # no key here (CI, another machine, a key kept in a password manager): a rule of the repository that already
        # encrypts the secret for age recipients is the answer, as encrypt-secret reads it (sopslib.recipients_for)
        if public is None and conf is not None and found.age:
            return InitResult(conf, False, found.age, rule_yaml(config.repo.apps_root, list(found.age)),
                              found.rule.index if found.rule else None, found.rule.index if found.rule else None, None)
        if public is None and conf is not None and found.unmatched:
            raise UsageError(
                f"no age recipient for {display(target)}: {display(conf)} has age recipient(s) "
                f"{', '.join(found.unmatched)} in rules that do not match it; pass the one the cluster decrypts with, "
                f"e.g. --age {found.unmatched[0]} (sops-init then prints the rule to add), or set sops.ageRecipients"
            )
        if public is None:
            raise UsageError(
                "no age recipient: pass --age age1..., set sops.ageRecipients in the config, or add "
                "--generate-key to create a key"
            )
        recipients = [public]
    rule = rule_yaml(config.repo.apps_root, recipients)
    if conf is None:
        if not repo_root.is_dir():
            raise UsageError(f"the repository root {display(repo_root)} does not exist")
        try:
            written = create_new(path, config_text(config.repo.apps_root, recipients).encode("utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot write {display(path)} ({exc.strerror})") from None
        if written:
            return InitResult(path, True, tuple(recipients), rule, 0, 0, key)
        conf = path
    matched = sopslib.matching_rule(conf, target)
    covered = matched.index if matched and set(recipients) <= set(matched.age) else None
    return InitResult(conf, False, tuple(recipients), rule, covered, matched.index if matched else None, key)
