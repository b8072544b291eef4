"""Checks on SOPS-encrypted Secrets that need no private key.

`check_tree(repo_root, config)` is what `check` runs: the credentials Secret exists, is encrypted,
has the right name, namespace and key `cloud`, and is encrypted for (at least) the age recipients of
the `.sops.yaml` rule that matches it; the same for the kopia repository password Secret
(`velero-repo-credentials`, key `repository-password`) when `velero.repositoryPassword` is `managed`;
and no other `kind: Secret` under the apps root is in clear.

`inspect_secret` is the same verification on one parsed document; `encrypt-secret` runs it on
sops' output before it replaces anything.

"Encrypted" means what sops writes (getsops/sops@v3.10.2: stores/stores.go, the `sops` metadata): a top-level `sops` map with `mac`, `lastmodified` and at least one
`age[].recipient`, and every value under `data`/`stringData` an `ENC[AES256_GCM,...]` string, with
apiVersion/kind/metadata in clear (kustomize must read them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from velero_gitops import goregexp, safefile
from velero_gitops.boundary import realpath
from velero_gitops.config.loader import display
from velero_gitops.config.names import REPO_CREDENTIALS_KEY, REPO_CREDENTIALS_SECRET
from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.secrets.sops import ENC_PREFIX, ENCRYPTED_REGEX
from velero_gitops.yamlsafe import FILE_SIZE_LIMIT, LDict, LList, sequence

define("secret.shape", "error", "a rendered credentials file that is not one Secret of the expected shape", needs_config=True)
define("secret.name", "error", "a rendered credentials Secret with another name than the chart reads", needs_config=True)
define("secret.namespace", "error", "a rendered credentials Secret in another namespace than Velero's", needs_config=True)
define("secret.key", "error", "a rendered credentials Secret without the key the chart reads", needs_config=True)
define("secret.recipients", "error", "a Secret encrypted for other recipients than `.sops.yaml` names", needs_config=True)
define("secret.sops-config", "error", "`.sops.yaml` has no rule, or an unusable one, for the rendered Secret", needs_config=True)
define("secret.yaml", "error", "a rendered Secret that is not valid YAML", needs_config=True)
define("secret.missing", "error", "a Secret the rendered tree needs is neither rendered nor produced in the repository", needs_config=True)
NOT_PRODUCED = define("secret.not-produced", "error", "`s3.credentialsFrom: repository` or `velero.repositoryPassword: elsewhere`, but nothing in the repository makes that Secret", needs_config=True)

if TYPE_CHECKING:
    from velero_gitops.config.model import Config

# key -> (where its name comes from, what Velero reads from it, the command that (re)creates it)
_PURPOSE = {
    "cloud": ("the config (s3.credentialsSecret)", "Velero reads the AWS credentials file from it", "encrypt-secret"),
    "repository-password": ("Velero (pkg/repository/keys/keys.go)", "Velero reads the kopia repository password from it",
                            "encrypt-repo-password"),
}
# a line `kind: Secret` in a file yamlsafe refused: RE2 (linear time) on a pull request's text, the spaces on the line
# itself (`\s` would cross newlines, and each line start would rescan the rest of the file)
_SECRET_KIND = goregexp.linear(r"""(?m)^[ \t]*["']?kind["']?[ \t]*:[ \t]*["']?Secret["']?[ \t]*(#.*)?\r?$""")


@dataclass(frozen=True)
class Problem:
    pointer: str  # JSON pointer into the document
    message: str
    rule: str
    line: int | None = None  # 1-based, when the document came from yamlsafe or ruamel's round-trip loader
    severity: str = "error"


def _line(node: Any, key: Any = None) -> int | None:
    """The 1-based line of ``node`` (or of its ``key``), for yamlsafe's and ruamel's documents."""
    if isinstance(node, (LDict, LList)):
        if key is None:
            return node.line
        try:
            return node.lines[key]
        except (KeyError, IndexError, TypeError):
            return node.line
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if key is None:
            return lc.line + 1
        if isinstance(node, list):
            return lc.item(key)[0] + 1
        return lc.key(key)[0] + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return lc.line + 1


def _is_enc(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(ENC_PREFIX)


def _leaves(node: Any, pointer: str) -> Iterator[tuple[str, Any, Any, Any]]:
    """(pointer, value, parent, key) of every scalar under node."""
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{pointer}/{str(k).replace('~', '~0').replace('/', '~1')}"
            if isinstance(v, (dict, list)):
                yield from _leaves(v, p)
            else:
                yield p, v, node, k
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, (dict, list)):
                yield from _leaves(v, f"{pointer}/{i}")
            else:
                yield f"{pointer}/{i}", v, node, i


# Master keys in an encrypted file's sops metadata, on it or in key_groups (getsops/sops@v3.10.2:stores/stores.go),
# that kustomize-controller can decrypt with from its decryption Secret (.agekey, .asc, sops.vault-token, sops.aws-kms,
# sops.azure-kv, sops.gcp-kms: fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go).
_MASTER_KEYS = ("age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault")


def master_keys_of(doc: Any) -> set[str]:
    """The kinds of master key a document is encrypted for (age, pgp, kms, ...)."""
    meta = doc.get("sops") if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        return set()
    places = [meta, *(g for g in meta.get("key_groups") or [] if isinstance(g, dict))]
    return {k for k in _MASTER_KEYS for p in places if isinstance(p.get(k), list) and p.get(k)}


def recipients_of(doc: Any) -> list[str]:
    """The age recipients in a document's sops metadata (empty when there are none)."""
    meta = doc.get("sops") if isinstance(doc, dict) else None
    ages = meta.get("age") if isinstance(meta, dict) else None
    out: list[str] = []
    for entry in ages if isinstance(ages, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("recipient"), str):
            out.append(entry["recipient"].strip())
    # key_groups (shamir) put age entries one level deeper.
    for group in (meta.get("key_groups") if isinstance(meta, dict) else None) or []:
        if isinstance(group, dict):
            for entry in sequence(group, "age"):
                if isinstance(entry, dict) and isinstance(entry.get("recipient"), str):
                    out.append(entry["recipient"].strip())
    return list(dict.fromkeys(out))


def should_be_encrypted(meta: dict, path: list[str]) -> bool:
    """Whether sops encrypted the value at ``path`` (the keys from the document root), by the rule recorded in the
    file's sops metadata (getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted; regular expressions are searched, as
    Go's regexp.Match does, with Go's RE2 syntax in linear time: the pattern is the file's, a pull request's maybe).
    With a comment rule, what sops did depends on comments: not known here, so not required."""
    if meta.get("encrypted_comment_regex") or meta.get("unencrypted_comment_regex"):
        return False
    keys = [str(k) for k in path]
    rules = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
    unenc_suffix = meta.get("unencrypted_suffix")
    if not any(meta.get(r) for r in rules):
        unenc_suffix = "_unencrypted"  # sops' default (sops.go DefaultUnencryptedSuffix)
    encrypted = True
    if isinstance(unenc_suffix, str) and unenc_suffix and any(k.endswith(unenc_suffix) for k in keys):
        encrypted = False
    suffix = meta.get("encrypted_suffix")
    if isinstance(suffix, str) and suffix:
        encrypted = any(k.endswith(suffix) for k in keys)
    for name, value in (("unencrypted_regex", False), ("encrypted_regex", True)):
        rx = meta.get(name)
        if isinstance(rx, str) and rx:
            try:
                pattern = goregexp.GoRegexp(rx)
            except goregexp.PatternError:
                return True  # sops could not have compiled it either
            except goregexp.PatternCost:
                return True  # not decided within the bound (encryption_problems says so): all encrypted
            hit = any(pattern.found(k) for k in keys)
            if value:
                encrypted = hit
            elif hit:
                encrypted = False
    return encrypted


def _costly_patterns(meta: dict) -> list[Problem]:
    """The file's own sops patterns over goregexp's compile bound: which values sops left in clear is then not
    decided here, and should_be_encrypted requires every value encrypted."""
    out = []
    for name in ("unencrypted_regex", "encrypted_regex"):
        rx = meta.get(name)
        if not (isinstance(rx, str) and rx):
            continue
        try:
            goregexp.GoRegexp(rx)
        except goregexp.PatternCost as exc:
            out.append(Problem(f"/sops/{name}", f"sops.{name} is not evaluated, {exc}; until then every value "
                               "must be encrypted", "secret.unencrypted", _line(meta, name)))
        except goregexp.PatternError:
            pass  # sops refuses it too; should_be_encrypted then requires every value encrypted
    return out


def encryption_problems(doc: Any, rule: dict | None = None) -> list[Problem]:
    """Why a Secret document is not (properly) SOPS/age-encrypted; empty when it is.

    Which values must be encrypted follows ``rule`` (sops metadata keys) when given, else the file's own sops
    metadata: a file of the tree's own (credentials, repository password) is judged by the rule we encrypt it
    with, never by metadata a pull request may have rewritten (``encrypted_regex: ^nothing$``)."""
    if not isinstance(doc, dict):
        return [Problem("", "the document is not a mapping", "secret.unencrypted")]
    problems: list[Problem] = []
    for key in ("apiVersion", "kind"):
        if _is_enc(doc.get(key)):
            problems.append(Problem(
                f"/{key}", f"{key} is encrypted: the whole file was encrypted, so kustomize cannot read it; "
                "encrypt only data/stringData (encrypted_regex: ^(data|stringData)$)", "secret.unencrypted",
                _line(doc, key),
            ))
            break
    meta = doc.get("sops")
    if not isinstance(meta, dict):
        problems.append(Problem(
            "", "not SOPS-encrypted (no top-level sops metadata): plaintext Secrets must never be committed",
            "secret.unencrypted", _line(doc),
        ))
    else:
        if not _is_enc(meta.get("mac")):
            problems.append(Problem("/sops/mac", "sops metadata has no mac", "secret.unencrypted", _line(meta, "mac") if "mac" in meta else _line(doc, "sops")))
        if not meta.get("lastmodified"):
            problems.append(Problem("/sops/lastmodified", "sops metadata has no lastmodified", "secret.unencrypted", _line(doc, "sops")))
        if not recipients_of(doc):
            problems.append(Problem(
                "/sops/age", "not encrypted for any age recipient (Flux decrypts with an age key)",
                "secret.unencrypted", _line(doc, "sops"),
            ))
    if rule is None and isinstance(meta, dict):
        problems[:0] = _costly_patterns(meta)
    for section in ("data", "stringData"):
        body = doc.get(section)
        if body is None:
            continue
        for pointer, value, parent, key in _leaves(body, f"/{section}"):
            keys = [section, *(x.replace("~1", "/").replace("~0", "~") for x in pointer.split("/")[2:])]
            decides = rule if rule is not None else meta
            if isinstance(decides, dict) and not should_be_encrypted(decides, keys):
                continue  # left in clear by the file's own sops rule (encrypted_regex, a suffix...)
            # sops leaves an empty value as it is (getsops/sops@v3.10.2:aes/cipher.go, Encrypt and isEmpty)
            if not _is_enc(value) and value not in ("", None):
                problems.append(Problem(
                    pointer, f"{pointer[1:].replace('/', '.')} is not encrypted (expected an ENC[AES256_GCM,...] value)",
                    "secret.unencrypted", _line(parent, key),
                ))
    return problems


def inspect_secret(
    doc: Any, *, name: str, namespace: str, key: str = "cloud", expected_recipients: Iterable[str] = (),
    recipients_source: str = ".sops.yaml",
) -> list[Problem]:
    """Everything wrong with the encrypted credentials (or repository password) Secret document ``doc``."""
    whose, reads, cmd = _PURPOSE.get(key, _PURPOSE["cloud"])
    problems = encryption_problems(doc, rule={"encrypted_regex": ENCRYPTED_REGEX})
    if not isinstance(doc, dict):
        return problems
    if doc.get("apiVersion") != "v1" or doc.get("kind") != "Secret":
        problems.append(Problem(
            "", f"expected apiVersion v1, kind Secret (got {doc.get('apiVersion')!r}, {doc.get('kind')!r})",
            "secret.shape", _line(doc, "kind") if "kind" in doc else _line(doc),
        ))
    metadata = doc.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    got_name = metadata.get("name")
    if got_name != name:
        problems.append(Problem(
            "/metadata/name", f"the Secret is named {got_name!r}; {whose} expects {name!r}",
            "secret.name", _line(metadata, "name") if "name" in metadata else _line(doc),
        ))
    got_ns = metadata.get("namespace")
    if got_ns is None:
        problems.append(Problem(
            "/metadata/namespace", f"the Secret has no namespace; expected {namespace!r} (repo.namespace)",
            "secret.namespace", _line(doc, "metadata") if "metadata" in doc else _line(doc), "warning",
        ))
    elif got_ns != namespace:
        problems.append(Problem(
            "/metadata/namespace", f"the Secret is in namespace {got_ns!r}; the config (repo.namespace) expects {namespace!r}",
            "secret.namespace", _line(metadata, "namespace"),
        ))
    keys = set()
    for section in ("stringData", "data"):
        body = doc.get(section)
        if isinstance(body, dict):
            keys |= set(map(str, body))
    if key not in keys:
        problems.append(Problem(
            f"/stringData/{key}", f"the Secret has no key {key!r} ({reads})",
            "secret.key", _line(doc, "stringData") if "stringData" in doc else _line(doc),
        ))
    have = set(recipients_of(doc))
    missing = [r for r in dict.fromkeys(expected_recipients) if r not in have]
    if missing:
        # the recipients come from a file a pull request may change: re-encrypting for them gives their holders the
        # secret, so the hint says so before it says how
        problems.append(Problem(
            "/sops/age", f"not encrypted for the {recipients_source} recipient(s) {', '.join(missing)}: "
            f"{'this recipient is' if len(missing) == 1 else 'these recipients are'} new; whoever holds "
            f"{'its' if len(missing) == 1 else 'their'} private key can decrypt the Secret once it is re-encrypted, so "
            f"review who added {'it' if len(missing) == 1 else 'them'} to {recipients_source} first, then "
            + ("run `velero-gitops encrypt-secret --update-keys` (needs a current private key) or encrypt it again"
               if cmd == "encrypt-secret" else "run `sops updatekeys -y` on it (needs a current private key)"),
            "secret.recipients", _line(doc, "sops") if "sops" in doc else _line(doc),
        ))
    return problems


# ----------------------------------------------------------------------------------------- the tree
def _finding(file: str, obj: str | None, p: Problem) -> Finding:
    return Finding(file=file, line=p.line, obj=obj, pointer=p.pointer, message=p.message, rule=p.rule, severity=p.severity)


def _obj(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    md = doc.get("metadata")
    md = md if isinstance(md, dict) else {}
    return f"{doc.get('kind')}/{md.get('namespace') or ''}/{md.get('name') or ''}"


def _load_all(text: str) -> list[Any]:
    """The documents of a file from the repository (a pull request's, maybe): read within yamlsafe's
    limits. Raises yamlsafe.YamlRefused."""
    from velero_gitops import yamlsafe

    return [d.data for d in yamlsafe.load_all(text) if d.data is not None]


def _read(path: Path, repo_root: Path) -> str:
    """A regular file inside the repository, of at most FILE_SIZE_LIMIT. Raises safefile.FileRefused."""
    from velero_gitops import safefile

    return safefile.read_text(path, root=repo_root, limit=FILE_SIZE_LIMIT, shown=display(path))


def expected_recipients(repo_root: Path, target: Path, config: Config) -> tuple[list[str], list[Problem], str]:
    """(recipients the secret must be encrypted for, problems about .sops.yaml, where they came from)."""
    from velero_gitops.errors import UsageError
    from velero_gitops.secrets import sops as sopslib

    expected = list(config.sops.age_recipients)
    problems: list[Problem] = []
    source = "sops.ageRecipients" if expected else ".sops.yaml"
    conf = sopslib.find_config(repo_root, target.parent)
    if conf is None:
        if not expected:
            problems.append(Problem(
                "", f"no .sops.yaml in {repo_root.name or repo_root} at or above the file, so the recipients cannot be "
                "checked and sops cannot re-encrypt the file; run `velero-gitops sops-init`",
                "secret.sops-config", None, "warning",
            ))
        return expected, problems, source
    try:
        rule = sopslib.matching_rule(conf, target)
    except UsageError as exc:
        problems.append(Problem("", str(exc), "secret.sops-config"))
        return expected, problems, source
    if rule is None:
        problems.append(Problem(
            "", f"no creation rule in {display(conf)} matches this file, so sops cannot "
            "re-encrypt it; add the rule `velero-gitops sops-init` prints", "secret.sops-config",
        ))
        return expected, problems, source
    if not rule.age:
        problems.append(Problem(
            "", f"the {display(conf)} rule matching this file (creation_rules[{rule.index}]) has no age "
            "recipients; Flux decrypts with an age key", "secret.sops-config",
        ))
    expected = list(dict.fromkeys([*rule.age, *expected]))
    return expected, problems, ".sops.yaml" if rule.age else source


def check_secret_file(path: Path, repo_root: Path, config: Config, *, name: str | None = None,
                      key: str = "cloud") -> list[Finding]:
    """The checks on the credentials Secret file alone (it must exist); ``name``/``key`` for another Secret."""
    from velero_gitops import safefile, yamlsafe

    shown = display(path)
    name, namespace = name or config.s3.credentials_secret, config.repo.namespace
    obj = f"Secret/{namespace}/{name}"
    try:
        text = _read(path, repo_root)
    except safefile.FileRefused as exc:
        return [Finding(shown, None, obj, "", f"cannot read the secret: {exc.problem}", "secret.unencrypted")]
    try:
        docs = _load_all(text)
    except yamlsafe.YamlRefused as exc:
        return [Finding(shown, exc.line, obj, "", f"not valid YAML: {exc.message}", "secret.yaml")]
    if len(docs) != 1:
        return [Finding(shown, None, obj, "", f"expected one document, found {len(docs)}", "secret.shape")]
    expected, conf_problems, source = expected_recipients(repo_root, path, config)
    problems = conf_problems + inspect_secret(
        docs[0], name=name, namespace=namespace, key=key, expected_recipients=expected, recipients_source=source,
    )
    return [_finding(shown, obj, p) for p in problems]


def scanned_files(scan_root: Path, repo_root: Path) -> list[Path]:
    """The files of ``scan_root`` that may hold a Secret Git shows: validate's scope (every YAML file outside dot
    folders, engine.discover, less what kustomizations read as generator/patch inputs), never narrowed by a config's
    ``check:`` section (the file being judged does not decide its own judgement), plus every file a kustomization
    lists as a resource, whatever its name: kustomize reads a resource by content, not by extension
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go accumulateResources)."""
    from velero_gitops import boundary
    from velero_gitops.validate import kustomize
    from velero_gitops.validate.engine import discover
    from velero_gitops.validate.run import Options, Run

    run = Run(Options(repo_root=str(repo_root)))
    run.boundary = boundary.of_paths([str(scan_root)], str(repo_root))
    found, kdirs = discover([str(scan_root)], resolve=run.real)
    inputs, resources = kustomize.input_files(kdirs, run)
    out: dict[Path, Path] = {}
    for _, path in found:
        if path is not None and run.real(path) not in inputs:
            out.setdefault(run.real(path), path)
    for real in sorted(resources):
        if boundary.inside(real, run.real(repo_root)):
            out.setdefault(real, real)
    return sorted(out.values())


def unencrypted_secrets(scan_root: Path, *, repo_root: Path, skip: Iterable[Path] = (),
                        objects_root: Path | None = None) -> list[Finding]:
    """Every `kind: Secret` document under ``scan_root`` (scanned_files) whose values Git shows in clear.

    The rule is validate's (policy.holds_secret_data: every value in clear, none sops-encrypted, none a reference),
    whatever the file's own ``sops:`` metadata says: sops leaves in clear what its encrypted_regex/suffix do not name
    (getsops/sops@v3.10.2:sops.go Tree.shouldBeEncrypted), and that metadata is written by the file being judged. A
    Secret carrying sops metadata must also have it complete (encryption_problems). A file that cannot be read within
    the limits (too large, a link out of the repository, not UTF-8) is left to validate, which reports it once; one
    that is not YAML but spells `kind: Secret` is reported under ``objects_root`` only (default: everywhere), where
    every YAML file is meant to be an object (elsewhere it may be a Helm template, which validate leaves alone too)."""
    from velero_gitops import boundary, safefile, yamlsafe
    from velero_gitops.validate.documents import is_list, list_items
    from velero_gitops.validate.policy import clear_values, holds_secret_data, plaintext_message, sops_file_in_clear

    skipped = {Path(realpath(p)) for p in skip}
    objects = Path(realpath(objects_root)) if objects_root is not None else None
    findings: list[Finding] = []
    if not scan_root.is_dir():
        return findings
    for path in scanned_files(scan_root, repo_root):
        if not os.path.isfile(path) or Path(realpath(path)) in skipped:
            continue
        try:
            text = _read(path, repo_root)
        except safefile.FileRefused:
            continue
        # a YAML scalar decodes to "Secret" only from those letters or from an escape (a double-quoted \x53, \u0053,
        # or a line continuation); an alias or merge key repeats a scalar written elsewhere in the same file
        if "Secret" not in text and "\\" not in text:
            continue
        shown = display(path)
        try:
            docs = _load_all(text)
        except yamlsafe.YamlRefused:  # unparsable: still may hold a plaintext Secret
            if _SECRET_KIND.search(text) and (objects is None or boundary.inside(Path(realpath(path)), objects)):
                findings.append(Finding(
                    shown, None, None, "", "contains `kind: Secret` but is not valid YAML, so it cannot be "
                    "shown to be encrypted", "secret.unencrypted",
                ))
            continue
        # judged on the decoded objects, however the text spells them (flow style, tags, escapes,
        # anchors), with lists inlined as kustomize inlines them
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            encrypted = isinstance(doc.get("sops"), dict)
            items = [it for _, it in list_items(doc)] if is_list(doc) else [doc]
            for item in items:
                if not isinstance(item, dict) or item.get("kind") != "Secret":
                    continue
                if holds_secret_data(item):
                    findings.append(Finding(
                        shown, _line(item), _obj(item), "", plaintext_message(encrypted), "secret.unencrypted"))
                    continue
                if encrypted and item is not doc:
                    continue  # the list is encrypted as a whole
                if "sops" not in item:
                    continue  # nothing to hide: empty, token-type, or only references (validate's rule, one copy)
                clear = clear_values(item)  # sops left them in clear by the file's own rule (validate's rule)
                if clear:
                    section, key = (x.replace("~1", "/").replace("~0", "~") for x in clear[0][1:].split("/", 1))
                    findings.append(Finding(shown, _line(item.get(section), key), _obj(item), clear[0],
                                            sops_file_in_clear(clear), "secret.unencrypted"))
                    continue
                problems = encryption_problems(item)
                if master_keys_of(item) - {"age"}:  # not ours: Flux decrypts PGP, KMS and Vault keys as well
                    problems = [p for p in problems if p.pointer != "/sops/age"]
                if problems:
                    first = problems[0]
                    findings.append(Finding(
                        shown, first.line or _line(item, "kind"), _obj(item), "",
                        "Secret is not SOPS-encrypted: plaintext Secrets must never be committed; encrypt it with "
                        f"sops (first problem: {first.message})", "secret.unencrypted",
                    ))
    return findings


def check_tree(repo_root: Path, config: Config, *, config_file: str | None = None) -> list[Finding]:
    """The credentials Secret and the "no unencrypted Secret" policy, without any private key.

    ``config_file`` (as the user would type it) only improves the hint when the secret is missing.
    """
    from velero_gitops.config.loader import display
    from velero_gitops.render.layout import Layout

    layout = Layout.of(config)
    repo_root = Path(repo_root)
    target = repo_root / layout.secret_file
    findings: list[Finding] = []
    findings += _check_made_elsewhere(repo_root, config, display)
    if config.s3.credentials_from != "sops":
        pass  # no rendered credentials file: checked above
    elif target.is_file():
        findings += check_secret_file(target, repo_root, config)
    else:
        how = f"--config {config_file}" if config_file else "--config <your velero-gitops.yaml>"
        findings.append(Finding(
            display(target), None, f"Secret/{config.repo.namespace}/{config.s3.credentials_secret}", "",
            "the S3 credentials Secret is missing: create it with `velero-gitops encrypt-secret "
            f"{how}` (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, --stdin or a prompt), "
            "then commit it", "secret.missing",
        ))
    skip = [target]
    if config.velero.repository_password == "managed":
        skip.append(repo_root / layout.repo_password_file)
        findings += _check_repo_password(repo_root, config, config_file)
    findings += unencrypted_secrets(repo_root, repo_root=repo_root, skip=skip, objects_root=repo_root / layout.apps_root)
    return findings


_SCAN_FILES, _SCAN_BYTES = 20000, 1 << 20


def producers(repo_root: Path, name: str, namespace: str) -> list[str]:
    """Files of the repository that make, or may make, Secret ``namespace/name``: the Secret itself, or an object
    that the one table of producers (validate.producers.made_by: ExternalSecret, SealedSecret, a custom resource of
    an operator nothing here models) says makes it. An object without a namespace counts: kustomize or Flux may
    set it."""
    import os
    import stat

    from velero_gitops import yamlsafe
    from velero_gitops.validate.documents import Obj
    from velero_gitops.validate.producers import made_by

    out: list[str] = []
    count = 0
    for dirpath, dirnames, filenames in os.walk(repo_root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.endswith((".yaml", ".yml")):
                continue
            count += 1
            if count > _SCAN_FILES:
                return out
            p = Path(dirpath) / f
            try:
                st = os.lstat(p)
                if not stat.S_ISREG(st.st_mode) or st.st_size > _SCAN_BYTES:
                    continue
                text = safefile.read_text(p, root=repo_root)
                if name not in text:
                    continue
                docs = yamlsafe.load_all(text)
            except (OSError, UnicodeDecodeError, yamlsafe.YamlRefused, safefile.FileRefused):
                continue
            for i, doc in enumerate(docs):
                d = doc.data
                if not isinstance(d, dict) or not isinstance(d.get("metadata"), dict):
                    continue
                o = Obj(str(p), p, i, d, doc.line)
                if o.namespace not in ("", namespace):
                    continue
                if (o.kind == "Secret" and o.api_version == "v1" and o.name == name) or \
                        ("Secret", name) in made_by(o, namespace):
                    out.append(f"{p.relative_to(repo_root).as_posix()}:{doc.line} {o.kind}")
    return out


def _check_made_elsewhere(repo_root: Path, config: Config, display: Callable[[Path], str]) -> list[Finding]:
    """The Secrets the tree names but another object of the repository makes (s3.credentialsFrom: repository,
    velero.repositoryPassword: elsewhere) must have a maker in the repository; the `external` modes are trusted.
    A missing repository password is worse than a failed start: Velero then creates velero-repo-credentials with its
    public default (vmware-tanzu/velero@v1.18.1:pkg/repository/keys/keys.go EnsureCommonRepositoryKey), and every
    kopia repository is encrypted with it."""
    ns = config.repo.namespace
    wanted = []
    if config.s3.credentials_from == "repository":
        wanted.append((config.s3.credentials_secret, "s3.credentialsFrom is repository", "s3.credentialsFrom: external",
                       "the BSL stays Unavailable"))
    if config.velero.repository_password == "elsewhere":
        wanted.append((REPO_CREDENTIALS_SECRET, "velero.repositoryPassword is elsewhere",
                       "velero.repositoryPassword: external",
                       "Velero creates it with its public default password and every kopia repository uses it"))
    return [Finding(
        display(repo_root), None, f"Secret/{ns}/{name}", "",
        f"{why}, but nothing in the repository makes Secret {ns}/{name} (a Secret, an ExternalSecret whose target is "
        f"that name, a SealedSecret, another operator's resource in {ns} that names it), so {then}: add it, or set "
        f"{alt} when it is made outside the repository",
        NOT_PRODUCED,
    ) for name, why, alt, then in wanted if not producers(repo_root, name, ns)]


def _check_repo_password(repo_root: Path, config: Config, config_file: str | None) -> list[Finding]:
    """The kopia repository password Secret (velero.repositoryPassword: managed): present and encrypted."""
    from velero_gitops.config.loader import display
    from velero_gitops.render.layout import Layout

    path = repo_root / Layout.of(config).repo_password_file
    if path.is_file():
        return check_secret_file(path, repo_root, config, name=REPO_CREDENTIALS_SECRET, key=REPO_CREDENTIALS_KEY)
    how = f"--config {config_file}" if config_file else "--config <your velero-gitops.yaml>"
    return [Finding(
        display(path), None, f"Secret/{config.repo.namespace}/{REPO_CREDENTIALS_SECRET}", "",
        "the kopia repository password Secret is missing (velero.repositoryPassword: managed): the app kustomization "
        f"lists it, so Flux cannot apply the app. Create it with `velero-gitops encrypt-repo-password {how}`, "
        "then commit it; if Velero already wrote file-system backups to the bucket, read docs/secrets.md first",
        "secret.missing",
    )]
