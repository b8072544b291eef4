"""Policy on Velero objects and on the values of HelmReleases of the ``velero`` chart.

Rules (ids in brackets): [policy.s3-https] ``s3Url`` is ``https://host[:port]`` with no path;
[policy.insecure-tls] no ``insecureSkipTLSVerify: "true"``; [policy.cron] cron as Velero parses it
(robfig/cron v3 ParseStandard); [policy.ttl] Go durations; [policy.uploader] ``uploaderType``
valid for the Velero version; [policy.versions] chart, Velero image, AWS plugin and CRD upgrade setting that
work together, and [policy.values-keys] values the pinned chart reads (both per chart version, config/compat.py); [policy.node-agent] node-agent limits within the budget (and a
warning when kopia may need more memory); [policy.bucket] S3 bucket naming rules;
[policy.secret-encrypted] the ``velero-s3-secret`` Secret is SOPS-encrypted; [secret.unencrypted]
no plaintext ``kind: Secret`` anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from velero_gitops import goregexp, varsub
from velero_gitops.config import compat
from velero_gitops.config.cron import velero_problem as cron_problem
from velero_gitops.config.names import BadUrl, bucket_name_problem, split_url
from velero_gitops.config.units import parse_duration, parse_quantity
from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.shown import some
from velero_gitops.validate.documents import Obj, YamlMap, mapping, sequence
from velero_gitops.validate.run import Options

# rules (velero_gitops.rules)
define("policy.s3-https", "error", "a BackupStorageLocation's `s3Url` is not `https://host[:port]` without a path",
       "s3.allowHttp")
define("policy.insecure-tls", "error", "`insecureSkipTLSVerify: \"true\"` on a BackupStorageLocation", "s3.insecureSkipTLSVerify")
define("policy.cron", "error", "a Schedule's cron is not one Velero parses (robfig/cron v3 ParseStandard)")
define("policy.ttl", "error", "a TTL is not a Go duration")
define("policy.uploader", "error", "`uploaderType` or node-agent values not valid for the Velero version")
define("policy.node-agent", "error", "node-agent limits above the budget; a warning when kopia may need more memory")
define("policy.bucket", "error", "an S3 bucket name that S3 refuses")
define("policy.values", "error", "velero chart values the chart cannot render")
define("policy.versions", "error", "chart, Velero image, AWS plugin and CRD upgrade setting that do not work together, "
       "for the release's own chart version (config/compat.json)")
define("policy.values-keys", "warning", "a value key the release's chart version does not read")
define("policy.chart-version", "warning", "a velero chart version outside the compatibility table, or not one exact "
       "version: its values are not checked")
define("policy.ca-private-key", "error", "a private key inside a `caCert`", in_git=True)
define("policy.secret-encrypted", "error", "the `velero-s3-secret` Secret is not SOPS-encrypted", in_git=True)
define("secret.unencrypted", "error", "a Secret whose every value the repository shows in clear (none encrypted, none "
       "drawn from a source Git does not show), a value a SOPS-encrypted Secret still shows in clear (whatever its sops "
       "rule says), or a Secret whose SOPS metadata is incomplete; an item a chart applies from a HelmRelease's values "
       "(`extraObjects`) counts when it is such a Secret or may become one (a template action, a List, an unknown "
       "kind); judged by the kind, not by "
       "how the values read (a value's text cannot tell a password from a setting, and only empty values, locators "
       "without a password and public key material are known to hold none): a Secret that holds no credential "
       "belongs in a ConfigMap, Kubernetes' object for non-confidential data", in_git=True)

# The rules below reuse the project's own parsers (cron.py, units.py, names.py) so that `validate`
# and the config loader agree on what is valid.

# A `${...}` expression still in a value after the graph substituted what the repository shows (varsub.py)
# is filled at apply time from a source Git does not show (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go
# substitutes the built object): its value is unknown here, so no value rule judges it. In an object that opts out
# of substitution (``literal``: kustomize.toolkit.fluxcd.io/substitute: disabled) the expression is what is applied.
_EXPRESSION = re.compile(r"\$\{[^{}]+\}")


def _set_at_apply(v: object, literal: bool = False) -> bool:
    return not literal and isinstance(v, str) and _EXPRESSION.search(v) is not None


def _as_written(check: Callable[..., str | None]) -> Callable[..., str | None]:
    """A value problem that also says why a `${...}` is judged: Flux applies it as written."""
    def judged(v: object, *args: object, literal: bool = False) -> str | None:
        if _set_at_apply(v, literal):
            return None
        p = check(v, *args)
        if p and literal and isinstance(v, str) and _EXPRESSION.search(v):
            p += " (the object opts out of Flux's substitution, kustomize.toolkit.fluxcd.io/substitute: disabled, so this is applied as written)"
        return p
    return judged


def _literal(o: Obj) -> bool:
    """Flux leaves this object's `${...}` as written (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go)."""
    return varsub.disabled(o.data)


@_as_written
def _cron_problem(v: object) -> str | None:
    return cron_problem(v)


@_as_written
def duration_problem(v: object) -> str | None:
    if not isinstance(v, str):
        return f"expected a Go duration string such as 720h, got {v!r}"
    try:
        parse_duration(v)
    except ValueError as exc:
        return str(exc)
    return None


@_as_written
def bucket_problem(name: object) -> str | None:
    if not isinstance(name, str):
        return "bucket must be a string"
    if "/" in name:
        return f"bucket {name!r} contains '/': put the path in prefix"
    problem = bucket_name_problem(name)
    if problem is None and (".-" in name or "-." in name):
        problem = "it must not have a dot next to a hyphen"
    return f"bucket {name!r} is not a valid S3 bucket name: {problem}" if problem else None


@_as_written
def s3url_problem(url: object, allow_http: bool, allow_path: bool) -> str | None:
    if not isinstance(url, str) or not url:
        return "s3Url must be a URL such as https://s3.example.org"
    try:
        parts = split_url(url)
    except BadUrl as exc:
        return f"s3Url {url!r} is not a URL ({exc}): write it as https://host[:port]"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"s3Url {url!r} must be https://host[:port]"
    if parts.scheme == "http" and not allow_http:
        return (f"s3Url {url!r} uses plain http: credentials and backups would cross the network unencrypted; use "
                "https:// (velero-gitops policy, on every BackupStorageLocation it validates; allowed explicitly by "
                "`validate --allow-http-s3`, or s3.allowHttp for the tree a config renders)")
    if (parts.path not in ("", "/") or parts.query or parts.fragment) and not allow_path:
        return (f"s3Url {url!r} has a path: Velero/kopia expect scheme://host[:port] only "
                "(kopia fails with 'path is not expected in s3Url'); put the path in the BSL prefix")
    return None


# An absolute URI in the authority form (RFC 3986 3.1 scheme, then "//"): what a secret-store reference looks like
# whatever the store (`op://vault/item/field`, `azure://vault/name/key`, `vault://path#key`), resolved by an operator
# or injector at apply time, and what a plain endpoint URL looks like. Either way it shows no credential, unless its
# userinfo carries one (`postgres://user:password@host/db`, RFC 3986 3.2.1).
_LOCATOR = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#][^\n]*$")


def is_locator(text: str) -> bool:
    """A value that only says where something is: an absolute URI with no password in its userinfo."""
    t = text.strip()
    if not _LOCATOR.match(t):
        return False
    authority = t.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    userinfo = authority.rpartition("@")[0]
    return ":" not in userinfo  # `user@host` names an account; `user:password@host` shows its password


# A value sops encrypted (getsops/sops@v3.10.2:aes/cipher.go encre): Git does not show it. Judged on the value, not on
# the file's `sops:` metadata: that metadata is written by the file being judged, and sops leaves in clear whatever
# its encrypted_regex/suffix do not name (sops.go Tree.shouldBeEncrypted), so metadata alone hides nothing.
# A Go template action (text/template lexer: "{{" ... "}}"): a Helm chart's template or a file another tool renders
# before apply; the value is made then, from inputs this file does not show.
# Both run on every Secret value of a pull request: Go's regexp (RE2, linear time) as sops' own encre is, not Python's
# backtracking re (four `.+` cost polynomial steps on "ENC[AES256_GCM,data:" + ",iv:,tag:,type:" * n).
_TEMPLATE = goregexp.GoRegexp(r"(?s)\{\{.*?\}\}")
# A reference a mutating admission webhook resolves: the whole value is `scheme:store/path#key[#version]` (RFC 3986
# scheme, a rootless path of at least two segments naming where in the store, a fragment naming the key). bank-vaults'
# webhook rewrites such values in the Secret itself before it is stored (bank-vaults/vault-secrets-webhook@v1.23.1:
# pkg/webhook/secret.go secretNeedsMutation/mutateSecretData; bank-vaults/vault-sdk@v0.12.0:injector/vault/
# injector.go splits the path at "#" into path, key and version and fails without a key). `user:password` has no
# path and no key, a base64 blob has no ":" and no "#": neither is read as a reference.
_ADMISSION_REFERENCE = goregexp.GoRegexp(r"\A[A-Za-z][A-Za-z0-9+.-]*:[^\s/#:]+(?:/[^\s/#]+)+#[^\s#]+(?:#[^\s#]+)?\z")
_ENCRYPTED = goregexp.GoRegexp(r"(?s)\AENC\[AES256_GCM,data:.+,iv:.+,tag:.+,type:.+\]\z")


def plaintext_message(sops_metadata: bool) -> str:
    """The one text of a Secret that holds_secret_data judges in clear, for validate (check below) and check
    (secrets/secret_check.unencrypted_secrets); ``sops_metadata``: the document carries a sops block anyway."""
    return ("plaintext Secret" + (" (every value is in clear, whatever its sops metadata says)" if sops_metadata else "")
            + ": encrypt it with SOPS (or generate it outside Git); if none of its values is a credential and what "
            "reads it accepts a ConfigMap, make it one")


def sops_file_in_clear(pointers: list[str]) -> str:
    """The finding on a SOPS-encrypted Secret with values in clear (clear_values)."""
    return (f"this SOPS-encrypted Secret shows {some([p[1:].replace('/', '.') for p in pointers])} in clear: the file's sops rule (encrypted_regex, a suffix) "
            "left it unencrypted or it was added after encryption, and Flux applies it as written; encrypt data and "
            "stringData (encrypted_regex: ^(data|stringData)$), or move values that are no credential to a ConfigMap")


def holds_secret_data(data: YamlMap) -> bool:
    """A Secret that is a secret in clear in Git: some value shows a credential, and the repository shows all of it
    (none sops-encrypted, whatever the file's sops metadata says).

    A value's text cannot tell a secret from configuration (a password and a driver name are both a word), so the
    rule judges what it can see: whether the Secret keeps its secret parts out of Git. It does not when every value
    is written in the file (a plaintext Secret: reported). It does when some value is a `${VAR}` reference to a source
    Git does not show: postBuild substitution fills it at apply time (fluxcd/pkg@kustomize/v1.35.4:kustomize/
    kustomize_varsub.go substitutes the built object, values from the Kustomization's substituteFrom Secrets), so the
    author chose value by value what stays in the file (a repository URL, a host name, a driver name next to
    `${SECRET_PASSWORD}`). The same holds for a value a mutating admission webhook replaces in the Secret before it
    is stored (`vault:secret/data/app#password`: _ADMISSION_REFERENCE). Values that show no credential are not counted: an empty one (the token controller fills a
    token-type Secret), a locator (is_locator: a secret-store reference or an endpoint, with no password in it), and
    public key material (certificates, public keys, an authorized_keys file: config/pem.is_public_material)."""
    values = [(v, b64) for _, v, b64 in _values(data)]
    # a `${VAR}` the graph could not fill from what Git shows, a template action another tool fills when it renders
    # the file, a reference an admission webhook resolves, or a value sops encrypted: the author kept secrets out
    # (a generator's Secret holds its input's lines base64-encoded in `data`: an env file sops encrypted with an
    # encrypted_regex gives some ENC[...] values, which Flux decrypts before the build, fluxcd/kustomize-controller@
    # v1.9.4:internal/decryptor/decryptor.go decryptKustomizationSources)
    if any(_hidden(v, b64) for v, b64 in values):
        return False
    return any(_shows_credential(v, b64) for v, b64 in values)


def clear_values(data: YamlMap) -> list[str]:
    """The pointers of a Secret's values that Git shows in clear and that may be a credential: in a SOPS-encrypted
    file (a top-level `sops` map), each is a plaintext secret. sops encrypts only the keys its rule names (getsops/sops@v3.10.2:sops.go
    Tree.shouldBeEncrypted: encrypted_regex, unencrypted_regex, encrypted_suffix, unencrypted_suffix; with
    mac_only_encrypted the MAC covers the encrypted values only, so a value added in clear later is not caught either),
    and that rule is the file's own word: `encrypted_regex: ^data$` leaves all of stringData in clear, and Flux
    applies it as written (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go decrypts with sops,
    which leaves what it did not encrypt). So each such value is a plaintext secret, as in a file without metadata."""
    return [pointer for pointer, v, b64 in _values(data) if not _hidden(v, b64) and _shows_credential(v, b64)]


def _values(data: YamlMap) -> list[tuple[str, object, bool]]:
    """(pointer, value, base64-encoded) of each non-empty value of a Secret's data and stringData."""
    out: list[tuple[str, object, bool]] = []
    for key in ("data", "stringData"):
        block = data.get(key)
        if isinstance(block, dict):
            out.extend((f"/{key}/{str(k).replace('~', '~0').replace('/', '~1')}", v, key == "data")
                       for k, v in block.items() if v not in (None, ""))
    return out


def _hidden(v: object, b64: bool) -> bool:
    """A value Git does not show: filled at apply time, by a template, by an admission webhook, or sops ciphertext.

    A `${VAR}` counts only when Git shows no default for it (varsub.holds_bare_reference: `${VAR:=x}` applies `x`
    when VAR is unset). In `data` it is read decoded: a secretGenerator stores its inputs base64-encoded
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/generators/secret.go), and Flux substitutes the object's
    YAML text (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go), which holds only the base64, so the
    reference is applied as written and what fills it (the workload, at start) lives outside Git as well."""
    return (isinstance(v, str) and varsub.holds_bare_reference(_plain(v, b64))) or (isinstance(v, str) and (_TEMPLATE.found(v) or _ENCRYPTED.found(v.strip())
                                                        or (b64 and _ENCRYPTED.found(_plain(v, b64).strip()))
                                                        or _ADMISSION_REFERENCE.found(_plain(v, b64))))


def _shows_credential(v: object, b64: bool) -> bool:
    """Not a value known to hold none: a locator or public key material."""
    from velero_gitops.config.pem import is_public_material

    text = _plain(v, b64)
    return not (is_locator(text) or is_public_material(text))


def _ciphertext_only(data: YamlMap) -> bool:
    """Some value is sops ciphertext (the rest may be anything): what a file that lost its `sops:` block holds."""
    return any(isinstance(v, str) and _ENCRYPTED.found(v.strip())
               for key in ("data", "stringData") if isinstance(data.get(key), dict) for v in data[key].values())


def _plain(v: object, b64: bool) -> str:
    """A `data` value decoded (it is base64), a `stringData` value as it is."""
    if not isinstance(v, str):
        return str(v)
    if not b64:
        return v
    import base64
    import binascii

    try:  # Go's base64 skips \r and \n (encoding/base64 decode): kustomize folds long values over lines
        return base64.b64decode(v.replace("\r", "").replace("\n", ""), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return v


def _truthy(v: object) -> bool:
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


def _quantity(text: object) -> Decimal | None:
    try:
        return parse_quantity(str(text).strip())
    except ValueError:
        return None


def _version(text: object) -> tuple[int, ...] | None:
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", str(text or ""))
    return tuple(int(x or 0) for x in m.groups()) if m else None


# ------------------------------------------------------------------------------------------------


def judged(o: Obj) -> bool:
    """Whether a rule of this module reads the object besides the Secret rules: Velero's own kinds and HelmReleases."""
    return o.api_version.startswith("velero.io/") or (
        o.kind == "HelmRelease" and o.api_version.startswith("helm.toolkit.fluxcd.io/"))


def lookups(objects: list[Obj]) -> dict[str, list[Obj]]:
    """What :func:`check` reads of objects besides the one it judges: the OCIRepositories by name (a HelmRelease's
    chartRef). The one place that says so: a cached verdict of a build is keyed on it (validate/kustomize.py)."""
    oci: dict[str, list[Obj]] = {}
    for o in objects:
        if o.kind == "OCIRepository":
            oci.setdefault(o.name, []).append(o)
    return oci


def check(objects: list[Obj], opts: Options, context: list[Obj] | None = None) -> list[Finding]:
    """Findings on ``objects``; ``context`` holds the objects a lookup may find besides them (the OCIRepository of
    a HelmRelease's chartRef), when ``objects`` are one build's output."""
    out: list[Finding] = []
    oci = lookups([*objects, *(context or [])])
    for o in objects:
        kind, av = o.kind, o.api_version
        if kind == "Secret" and av in ("v1", ""):  # a list item may leave apiVersion out
            if opts.plaintext_secrets and holds_secret_data(o.data):  # sops metadata shields no value in clear
                if o.name == "velero-s3-secret":
                    out.append(o.finding("", "Secret velero-s3-secret holds the S3 credentials and must be SOPS-encrypted "
                                         "(velero-gitops encrypt-secret)", "policy.secret-encrypted"))
                elif o.name == "velero-repo-credentials":
                    out.append(o.finding("", "Secret velero-repo-credentials holds the kopia repository password: in "
                                         "clear, anyone who reads the repository can read every file-system backup; "
                                         "encrypt it with sops, keeping the same password (docs/secrets.md)",
                                         "policy.secret-encrypted"))
                else:
                    out.append(o.finding("", plaintext_message(o.encrypted), "secret.unencrypted"))
            elif opts.plaintext_secrets and o.encrypted and (clear := clear_values(o.data)):
                out.append(o.finding(clear[0], sops_file_in_clear(clear), "secret.unencrypted"))
            elif opts.plaintext_secrets and not o.encrypted and _ciphertext_only(o.data):
                # kustomize-controller decrypts only what carries sops metadata (internal/decryptor/decryptor.go):
                # without it, the ciphertext itself is applied as the value
                out.append(o.finding("", "Secret holds sops ciphertext (ENC[...]) but no sops metadata: Flux applies "
                                     "the ciphertext as the value; encrypt the file again with sops", "secret.unencrypted"))
            continue
        if av.startswith("velero.io/"):
            _velero_object(o, opts, out)
        elif kind == "HelmRelease" and av.startswith("helm.toolkit.fluxcd.io/"):
            _helmrelease(o, oci, opts, out)
    return out


def _velero_object(o: Obj, opts: Options, out: list[Finding]) -> None:
    spec = o.data.get("spec")
    if not isinstance(spec, dict):
        return
    if o.kind == "BackupStorageLocation":
        cfg = mapping(spec, "config")
        _bsl(o, "/spec/config", cfg, opts, out)
        storage = mapping(spec, "objectStorage")
        _ca_cert(o, "/spec/objectStorage/caCert", storage.get("caCert"), out)
        bucket = (spec.get("objectStorage") or {}).get("bucket") if isinstance(spec.get("objectStorage"), dict) else None
        if bucket is not None:
            p = bucket_problem(bucket, literal=_literal(o))
            if p:
                out.append(o.finding("/spec/objectStorage/bucket", p, "policy.bucket"))
    elif o.kind == "Schedule":
        p = _cron_problem(spec.get("schedule"), literal=_literal(o))
        if p:
            out.append(o.finding("/spec/schedule", f"invalid cron {spec.get('schedule')!r}: {p}", "policy.cron"))
        tmpl = spec.get("template")
        if isinstance(tmpl, dict) and "ttl" in tmpl:
            p = duration_problem(tmpl["ttl"], literal=_literal(o))
            if p:
                out.append(o.finding("/spec/template/ttl", f"invalid ttl: {p}", "policy.ttl"))
    elif o.kind == "Backup" and "ttl" in spec:
        p = duration_problem(spec["ttl"], literal=_literal(o))
        if p:
            out.append(o.finding("/spec/ttl", f"invalid ttl: {p}", "policy.ttl"))


def _ca_cert(o: Obj, pointer: str, value: object, out: list[Finding]) -> None:
    """caCert is base64 PEM in a plaintext object: a private key in it is committed in the clear."""
    if not isinstance(value, str) or not value.strip():
        return
    import base64
    import binascii

    from velero_gitops.config.pem import private_key_labels

    try:
        decoded = base64.b64decode(value.strip(), validate=False)
    except (binascii.Error, ValueError):
        decoded = b""
    keys = private_key_labels(decoded) or private_key_labels(value)
    if keys:
        out.append(o.finding(pointer, f"caCert holds a {keys[0]} block, committed in plain text: keep only the CA "
                                      "certificate, and treat that key as leaked", "policy.ca-private-key"))


def _bsl(o: Obj, base: str, cfg: YamlMap, opts: Options, out: list[Finding]) -> None:
    if "s3Url" in cfg:
        p = s3url_problem(cfg["s3Url"], opts.allow_http_s3, opts.allow_s3_path, literal=_literal(o))
        if p:
            out.append(o.finding(f"{base}/s3Url", p, "policy.s3-https"))
    if _truthy(cfg.get("insecureSkipTLSVerify")) and not opts.allow_insecure_tls:
        out.append(o.finding(f"{base}/insecureSkipTLSVerify",
                             "insecureSkipTLSVerify disables certificate checks (man-in-the-middle risk for credentials and "
                             "backups); configure caCert for a private CA instead, or allow it explicitly", "policy.insecure-tls"))


def _chart_info(hr: Obj, oci: dict[str, list[Obj]]) -> tuple[str | None, str | None]:
    spec = mapping(hr.data, "spec")
    chart = (((spec.get("chart") or {}).get("spec") or {}) if isinstance(spec.get("chart"), dict) else {})
    if isinstance(chart, dict) and chart.get("chart"):
        return str(chart.get("chart")).rsplit("/", 1)[-1], chart.get("version")
    ref = spec.get("chartRef")
    if isinstance(ref, dict) and ref.get("kind") == "OCIRepository":
        for x in oci.get(str(ref.get("name")), []):
            s = mapping(x.data, "spec")
            url = str(s.get("url", ""))
            tag = (s.get("ref") or {}).get("tag") if isinstance(s.get("ref"), dict) else None
            return url.rstrip("/").rsplit("/", 1)[-1], tag
    return None, None


def _helmrelease(hr: Obj, oci: dict[str, list[Obj]], opts: Options, out: list[Finding]) -> None:
    """The values of a HelmRelease of the velero chart."""
    chart, chart_version = _chart_info(hr, oci)
    if chart != "velero":
        return
    values = mapping(hr.data, "spec").get("values")
    if not isinstance(values, dict):
        return
    conf = mapping(values, "configuration")
    version = str(chart_version) if chart_version is not None else None
    # a Secret the chart may render from its values (compat.possible_secret, the config's own rule): a literal one
    # when it holds data in clear, any other always, since the chart's template engine decides what it becomes (not
    # only with plaintext_secrets: secret_check, which owns the Secret rules in `check`, reads files, never values)
    for path, item in compat.rendered_secrets(values, version):
        if not compat.literal_secret(item) or holds_secret_data(item) or clear_values(item):
            pointer = "/spec/values/" + "/".join(map(str, path))
            out.append(hr.finding(pointer, f"{'.'.join(map(str, path))} is {compat.RENDERED_SECRET[0].lower()}"
                                  f"{compat.RENDERED_SECRET[1:]}", "secret.unencrypted"))
    _values_storage(hr, conf, opts, version, out)
    no_restic = _values_versions(hr, values, conf, chart_version, out)
    _values_schedules(hr, values, out)
    # restic became node-agent in chart 3.0.0 (config/compat.json valueShapes): a chart 2.x release has restic values
    if compat.has_shape(version, "nodeAgent"):
        _values_removed(hr, values, out)
        _values_node_agent(hr, values, opts, no_restic, out)


def _values_storage(hr: Obj, conf: YamlMap, opts: Options, version: str | None, out: list[Finding]) -> None:
    """configuration.backupStorageLocation in the shape of the release's chart (a list from chart 4.0.0, one map
    before: config/compat.json valueShapes, derived from vmware-tanzu/helm-charts@velero-4.0.0:charts/velero/
    templates/backupstoragelocation.yaml), and the durations of configuration."""
    base = "/spec/values/configuration"
    bsls = conf.get("backupStorageLocation")
    as_list = compat.has_shape(version, "backupStorageLocationList")
    if isinstance(bsls, dict) and as_list:
        out.append(hr.finding(f"{base}/backupStorageLocation", f"backupStorageLocation must be a list for chart "
                              f"{version or 'latest'} (its template ranges over a list: a map renders no "
                              "BackupStorageLocation)", "policy.values"))
    elif isinstance(bsls, (dict, list)):
        for i, b in ([(None, bsls)] if isinstance(bsls, dict) else enumerate(bsls)):
            if not isinstance(b, dict):
                continue
            at = f"{base}/backupStorageLocation" + (f"/{i}" if i is not None else "")
            if "bucket" in b:
                p = bucket_problem(b["bucket"], literal=_literal(hr))
                if p:
                    out.append(hr.finding(f"{at}/bucket", p, "policy.bucket"))
            if isinstance(b.get("config"), dict):
                _bsl(hr, f"{at}/config", b["config"], opts, out)
            _ca_cert(hr, f"{at}/caCert", b.get("caCert"), out)
    for key in ("defaultBackupTTL", "garbageCollectionFrequency", "defaultRepoMaintainFrequency", "fsBackupTimeout"):
        if key in conf and conf[key] is not None:
            p = duration_problem(conf[key], literal=_literal(hr))
            if p:
                out.append(hr.finding(f"{base}/{key}", f"invalid {key}: {p}", "policy.ttl"))


# How the version rules of config/compat.py name the field to change in a HelmRelease, and where they point.
HR_FIELDS = {
    "chart": "spec.chart.spec.version", "image": "values image.tag", "plugin": "the AWS plugin initContainer image",
    "privileged": "values configMaps (node-agent privilegedFsBackup)",
    "crds": "spec.upgrade.crds: CreateReplace (or values upgradeCRDs: true)",
    "uploader": "values configuration.uploaderType", "namespaces": "values schedules.<name>.template.includedNamespaces",
}
HR_POINTERS = {"chart": "/spec/chart/spec/version", "image": "/spec/values/image/tag", "plugin": "/spec/values/initContainers",
               "privileged": "/spec/values/configMaps", "crds": "/spec/upgrade", "uploader": "/spec/values/configuration/uploaderType",
               "namespaces": "/spec/values/schedules"}
EXACT = goregexp.linear(r"v?\d+\.\d+\.\d+")


def _values_versions(hr: Obj, values: YamlMap, conf: YamlMap, chart_version: object,
                     out: list[Finding]) -> bool:
    """The version rules and the chart's value keys, for this HelmRelease's own chart version (a chart 2.x
    release gets none of 12.x's rules). True when the running Velero has no restic."""
    image: dict = values["image"] if isinstance(values.get("image"), dict) else {}
    tag = image.get("tag") if isinstance(image.get("tag"), str) else None
    version = str(chart_version).lstrip("v") if chart_version is not None else None
    chart = compat.chart(version) if version and EXACT.fullmatch(version) else None
    if chart is None or version is None:
        if version and EXACT.fullmatch(version):
            out.append(hr.finding(HR_POINTERS["chart"], compat.unknown_chart_message(version, HR_FIELDS)
                                  + "; this release's values are not checked", "policy.chart-version", "warning"))
        elif version:
            out.append(hr.finding(HR_POINTERS["chart"], f"chart version {version!r} is not one exact version: the chart "
                                  "values and the Velero version it runs cannot be checked", "policy.chart-version",
                                  "warning"))
        v, _ = compat.velero(tag) if tag else (None, None)
    else:
        spec = mapping(hr.data, "spec")
        upgrade_job = values.get("upgradeCRDs")
        crds = compat.CrdSetup(
            install_policy=str(mapping(spec, "install").get("crds") or ""),
            upgrade_policy=str(mapping(spec, "upgrade").get("crds") or ""),
            upgrade_crds_job=_truthy(upgrade_job) if upgrade_job is not None else chart.upgrade_crds_default,
        )
        plugins = [c.get("image") for c in sequence(values, "initContainers") if isinstance(c, dict)
                   and "velero-plugin-for-aws" in str(c.get("image", ""))]
        scheds: dict = values["schedules"] if isinstance(values.get("schedules"), dict) else {}
        namespaces = [sequence(s["template"], "includedNamespaces") for s in scheds.values()
                      if isinstance(s, dict) and isinstance(s.get("template"), dict)]
        ut = conf.get("uploaderType")
        problems, _ = compat.check_versions(version, tag, str(plugins[0]) if plugins else None, crds,
                                            _privileged_fs_backup(values),
                                            namespaces, HR_FIELDS, uploader=ut if isinstance(ut, str) and ut else None,
                                            floor=False)
        for p in problems:
            # A Flux Kustomization patch may set spec.upgrade.crds where this file cannot show it: a warning.
            out.append(hr.finding(HR_POINTERS[p.setting], p.message,
                                  "policy.uploader" if p.setting == "uploader" else "policy.versions",
                                  "warning" if p.setting == "crds" else "error"))
        for k in compat.unknown_value_keys(chart.value_keys, values, version):
            ptr = "/spec/values/" + "/".join(x.replace("~", "~0").replace("/", "~1") for x in k.path)
            out.append(hr.finding(ptr, k.message + " (the chart's values.schema.json accepts any key)",
                                  "policy.values-keys", "warning"))
        v, _ = compat.velero(tag or chart.app_version)
    return v is not None and "restic" not in v.uploaders


def _privileged_fs_backup(values: YamlMap) -> bool:
    """A node-agent config among the chart's configMaps that asks for privilegedFsBackup
    (vmware-tanzu/velero@v1.17.1:pkg/types/node_agent.go, read by pkg/cmd/cli/nodeagent/server.go)."""
    import json

    maps = values.get("configMaps")
    for cm in maps.values() if isinstance(maps, dict) else ():
        data = cm.get("data") if isinstance(cm, dict) else None
        for text in data.values() if isinstance(data, dict) else ():
            try:
                parsed = json.loads(text) if isinstance(text, str) else None
            except ValueError:
                continue
            if isinstance(parsed, dict) and parsed.get("privilegedFsBackup") is True:
                return True
    return False


def _values_removed(hr: Obj, values: YamlMap, out: list[Finding]) -> None:
    for old in ("deployRestic", "restic"):
        if old in values:
            out.append(hr.finding(f"/spec/values/{old}", f"{old!r} was removed in chart "
                                  f"{compat.data()['valueShapes']['nodeAgent']['since']} (restic became node-agent; "
                                  "use deployNodeAgent and nodeAgent)", "policy.uploader"))


def _values_schedules(hr: Obj, values: YamlMap, out: list[Finding]) -> None:
    """schedules (a map keyed by name): cron and ttl of each."""
    scheds = values.get("schedules")
    if not isinstance(scheds, dict):
        return
    for key, s in scheds.items():
        if not isinstance(s, dict):
            continue
        ptr = f"/spec/values/schedules/{str(key).replace('~', '~0').replace('/', '~1')}"
        if "schedule" in s:
            p = _cron_problem(s["schedule"], literal=_literal(hr))
            if p:
                out.append(hr.finding(f"{ptr}/schedule", f"invalid cron {s['schedule']!r}: {p}", "policy.cron"))
        tmpl = s.get("template")
        if isinstance(tmpl, dict) and "ttl" in tmpl:
            p = duration_problem(tmpl["ttl"], literal=_literal(hr))
            if p:
                out.append(hr.finding(f"{ptr}/template/ttl", f"invalid ttl: {p}", "policy.ttl"))


def _budget_source(opts: Options, res: str) -> str:
    """Where the node-agent budget of ``res`` was set, so the fix is made there."""
    config = opts.node_agent_budget_from.get(res)
    if config:
        return (f"the budget is velero.nodeAgent.budget.{res} of {config}: raise it there if intended, or lower the "
                f"limit (`validate --node-agent-{res}-limit` overrides it)")
    return (f"the budget is `validate --node-agent-{res}-limit`, or velero.nodeAgent.budget.{res} in the config of "
            "the tree: lower the limit or raise the budget")


def _values_node_agent(hr: Obj, values: YamlMap, opts: Options, no_restic: bool, out: list[Finding]) -> None:
    """nodeAgent.resources.limits within the budget, and kopia's memory on Velero < 1.17."""
    na = mapping(values, "nodeAgent")
    limits = ((na.get("resources") or {}).get("limits") if isinstance(na.get("resources"), dict) else None) or {}
    if not isinstance(limits, dict):
        return
    budget = {"cpu": opts.node_agent_cpu_limit, "memory": opts.node_agent_memory_limit}
    for res, cap in budget.items():
        if res not in limits:
            continue
        v, c = _quantity(limits[res]), _quantity(cap)
        if v is None:
            out.append(hr.finding(f"/spec/values/nodeAgent/resources/limits/{res}", f"{limits[res]!r} is not a Kubernetes quantity", "policy.node-agent"))
        elif c is not None and v > c:
            out.append(hr.finding(f"/spec/values/nodeAgent/resources/limits/{res}",
                                  f"node-agent {res} limit {limits[res]} exceeds the budget of {cap} (velero-gitops "
                                  f"policy, on every velero HelmRelease it validates; {_budget_source(opts, res)})",
                                  "policy.node-agent"))
    mem = _quantity(limits.get("memory")) if "memory" in limits else None
    # Since Velero 1.17 the copy runs in per-volume data mover pods, not in the DaemonSet, so a tight
    # DaemonSet limit is safe there; before that, kopia ran inside node-agent and could be OOM-killed.
    if opts.kopia_memory_warning and mem is not None and mem < Decimal(2**30) and not no_restic:
        out.append(hr.finding("/spec/values/nodeAgent/resources/limits/memory",
                              f"memory limit {limits['memory']}: kopia uses 0.7-2.2 GiB on volumes with millions of files "
                              "and would be OOM-killed inside node-agent on this Velero (< 1.17); raise the limit or "
                              "upgrade to Velero 1.18, where the copy runs in data mover pods", "policy.node-agent", "warning"))
