"""Naming rules shared by the config loader and `validate` (kept free of heavy imports)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from velero_gitops import goregexp
from velero_gitops.yamlsafe import mapping, sequence

# Every pattern ends in \Z, not $: `$` also matches before a final newline, so a YAML block scalar
# ("daily\n") would pass and end up in file names and PromQL. Callers may use .match or .fullmatch.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}\Z")  # bech32 public key

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def age_recipient_problem(recipient: str) -> str | None:
    """Why ``recipient`` is not an age X25519 public key, or None. The shape (age1 + 58 bech32 characters) is
    not enough: age checks the bech32 checksum and that the 52 data characters carry exactly 32 bytes with zero
    padding (FiloSottile/age@v1.2.1:x25519.go ParseX25519Recipient, internal/bech32/bech32.go Decode,
    ConvertBits), and sops refuses the key otherwise (getsops/sops@v3.10.2:age/keysource.go)."""
    if recipient.upper().startswith("AGE-SECRET-KEY-1"):  # an identity (FiloSottile/age@v1.2.1:x25519.go String)
        return ("is an age private key, not a recipient: treat it as leaked and rotate it (age-keygen makes a new "
                "key; give its public key here, `age-keygen -y` prints it; re-encrypt what the old one opened)")
    if not AGE_RECIPIENT.fullmatch(recipient):
        return "is not an age public key (age1 followed by 58 characters)"
    values = [ord(c) >> 5 for c in "age"] + [0] + [ord(c) & 31 for c in "age"]
    values += [_BECH32.index(c) for c in recipient[4:]]
    check = 1
    for v in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ v
        for i, gen in enumerate(_BECH32_GEN):
            check ^= gen if top >> i & 1 else 0
    if check != 1:
        return "is not an age public key: its bech32 checksum is wrong (a typo or a changed character?)"
    if _BECH32.index(recipient[-7]) & 0xF:  # the last data character: 1 key bit, then 4 padding bits
        return "is not an age public key: its last data character leaves non-zero padding bits"
    return None



def age_recipient_refusal(where: str, recipient: str) -> str | None:
    """The message refusing ``recipient`` given at ``where`` (an option, a config key, a .sops.yaml rule), or None when
    it is an age public key. One place for every way a recipient arrives, so a private key given by mistake is never
    echoed back (it is named one, to rotate) and every check is age's own (age_recipient_problem)."""
    problem = age_recipient_problem(recipient)
    if problem is None:
        return None
    shown = "'<redacted>'" if recipient.upper().startswith("AGE-SECRET-KEY-") else repr(recipient)
    return f"{where}{' ' if where else ''}{shown} {problem}"


# The HelmRelease CRD refuses longer release names (fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go
# ReleaseName MaxLength), as Helm itself does.
HELM_RELEASE_NAME_MAX = 53

# The Secret Velero reads the kopia repository password from, and its key; fixed names, not settings
# (vmware-tanzu/velero@v1.18.1:pkg/repository/keys/keys.go credentialsSecretName, credentialsKey).
def velero_fullname(release: str) -> str:
    """The chart's `velero.fullname` for a Helm release (vmware-tanzu/helm-charts@velero-12.1.0:
    charts/velero/templates/_helpers.tpl): the release name if it contains "velero", else <release>-velero. The
    chart's Service has this name, and so the `job` of every series our ServiceMonitor scrapes."""
    name = release if "velero" in release else f"{release}-velero"
    return name[:63].rstrip("-")


REPO_CREDENTIALS_SECRET = "velero-repo-credentials"
REPO_CREDENTIALS_KEY = "repository-password"


# k8s.io/apimachinery@v0.35.0 pkg/util/validation/validation.go IsConfigMapKey, which ValidateSecret applies to every
# data key too: at most 253 of letters, digits, '-', '_', '.', and not '.', '..' or a name starting with '..'
# (hasChDirPrefix: the kubelet writes each key as a file of the volume).
_CONFIG_MAP_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")


def config_map_key_problem(key: str) -> str | None:
    """Why ``key`` is no ConfigMap or Secret data key the API server accepts, or None. The message never repeats
    the key: a value that fails here was often meant as something else (a pasted secret)."""
    if not _CONFIG_MAP_KEY.fullmatch(key):
        return ("is not a data key name: a Secret's keys are at most 253 letters, digits, '-', '_' or '.' "
                "(e.g. cloud)")
    if key == "." or key.startswith(".."):
        return "is not a data key name: it must not be '.', '..' or start with '..'"
    return None


def dns_label_problem(value: str) -> str | None:
    """Why ``value`` is not an RFC 1123 label (a namespace, a Service, a folder we render), or None
    (kubernetes/apimachinery@v0.35.0:pkg/util/validation/validation.go, IsDNS1123Label)."""
    if not value:
        return "the name is empty"
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        return "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
    return None


def shown(value: str, limit: int = 40) -> str:
    """A value the user gave, quoted for a message: at most ``limit`` characters, and its length when longer (a
    5,000-character name is not echoed back)."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def object_ref_problem(ref: str) -> str | None:
    """Why ``ref`` ("Kind/namespace/name": an object that exists outside the tree) cannot name an object the API
    server would hold, or None. The namespace is a DNS-1123 label or ``*`` (any, a cluster-scoped object too), as
    apimachinery's ValidateObjectMeta takes it; the name is a DNS-1123 subdomain (most kinds; a CRD is named
    <plural>.<group>, and externals name a CRD by its group), ``*`` for any; the kind is a kind name
    (type_name_problem)."""
    parts = ref.split("/")
    if len(parts) != 3 or not all(parts):
        return "write it as Kind/namespace/name, e.g. Kustomization/flux-system/openebs"
    kind, ns, name = parts
    if type_name_problem("v1", kind) is not None:
        return "the kind is not a Kubernetes kind name (a letter, then letters, digits or '-', at most 63 characters)"
    if ns != "*" and dns_label_problem(ns) is not None:
        return f"the namespace is not a namespace name: {dns_label_problem(ns)}"
    if name != "*" and dns_subdomain_problem(name) is not None:
        return f"the name is not an object name: {dns_subdomain_problem(name)}"
    return None


def dns_subdomain_problem(value: str) -> str | None:
    """Why ``value`` is not an RFC 1123 subdomain (the name of most objects: Secret, Schedule, Kustomization), or
    None (kubernetes/apimachinery@v0.35.0:pkg/util/validation/validation.go, IsDNS1123Subdomain)."""
    if not value:
        return "the name is empty"
    if len(value) > 253 or not DNS1123_SUBDOMAIN.match(value):
        return ("use at most 253 lowercase letters, digits, '-' and '.', each dot-separated part starting and "
                "ending with a letter or digit")
    return None


def type_name_problem(api_version: str, kind: str) -> str | None:
    """Why ``apiVersion``/``kind`` cannot name a Kubernetes type, or None. The API server serves a kind whose
    lowercase form is a DNS-1035 label, a version that is one, and a group that is a DNS-1123 subdomain
    (kubernetes/apiextensions-apiserver@v0.35.0:pkg/apis/apiextensions/validation/validation.go,
    ValidateCustomResourceDefinitionNames and ValidateCustomResourceDefinitionVersion; built-in types have the same
    shapes). Lengths are checked first: the patterns then run on at most 253 characters."""
    group, _, version = api_version.rpartition("/")
    if not (0 < len(kind) <= 63 and DNS1035_LABEL.match(kind.lower())):
        return ("kind is not a Kubernetes kind name (a letter, then letters, digits or '-', at most 63 characters, "
                "as the API server accepts)")
    if not (0 < len(version) <= 63 and DNS1035_LABEL.match(version)):
        return "the version in apiVersion is not a Kubernetes version name (like v1 or v1beta1, at most 63 characters)"
    if (group or "/" in api_version) and dns_subdomain_problem(group) is not None:
        return ("the group in apiVersion is not a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 "
                "characters)")
    return None


# What S3 reserves at either end of a general-purpose bucket name (AWS "General purpose bucket naming rules":
# demo, access point alias, Object Lambda alias, Multi-Region Access Point, directory and table buckets).
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


# S3 refuses an object key longer than 1024 bytes of UTF-8 (AWS "Naming Amazon S3 objects"; MinIO the same).
S3_KEY_MAX_BYTES = 1024
# A schedule's backups are named <schedule>-<YYYYMMDDhhmmss> (vmware-tanzu/velero@v1.18.1:
# pkg/apis/velero/v1/schedule_types.go TimestampedName), and our schedule names are at most 48 characters.
SCHEDULE_NAME_MAX = 48
BACKUP_NAME_MAX = SCHEDULE_NAME_MAX + len("-20060102150405")
# The longest object key Velero writes below the prefix: <prefix>/backups/<backup>/<backup>-<longest suffix>
# (vmware-tanzu/velero@v1.18.1:pkg/persistence/object_store_layout.go, getCSIVolumeSnapshotContentsKey is the
# longest of the get*Key suffixes). kopia's keys start with kopia/<namespace>/ instead, 70 bytes at most.
LONGEST_KEY_BELOW_PREFIX = len(f"/backups/{'b' * BACKUP_NAME_MAX}/{'b' * BACKUP_NAME_MAX}-csi-volumesnapshotcontents.json.gz")


def prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` (s3.prefix, without its outer '/') leaves no room for the object keys Velero writes below it,
    or None."""
    room = S3_KEY_MAX_BYTES - LONGEST_KEY_BELOW_PREFIX
    size = len(prefix.encode())
    if size > room:
        return (f"is {size} bytes long: S3 keys hold at most {S3_KEY_MAX_BYTES} bytes and Velero writes keys up to "
                f"{LONGEST_KEY_BELOW_PREFIX} bytes below the prefix (<prefix>/backups/<backup>/<backup>-"
                f"csi-volumesnapshotcontents.json.gz), so those uploads would fail with KeyTooLongError; use a prefix "
                f"of at most {room} bytes")
    return None


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` breaks the S3 general-purpose bucket naming rules, or MinIO's (minio/minio-go@v7.0.95:
    pkg/s3utils/utils.go, CheckValidBucketNameStrict: also no '.-' or '-.'), or None."""
    if not 3 <= len(name) <= 63:
        return "it must be 3 to 63 characters long"
    if not re.match(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]\Z", name):
        return "use lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
    if ".." in name:
        return "it must not contain two adjacent periods"
    if ".-" in name or "-." in name:
        return "a label must not start or end with '-' next to a '.' (MinIO refuses '.-' and '-.')"
    if re.match(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\Z", name):
        return "it must not look like an IP address"
    if name.startswith(_BUCKET_RESERVED_PREFIXES) or name.endswith(_BUCKET_RESERVED_SUFFIXES):
        return (f"it uses a prefix or suffix S3 reserves ({', '.join(_BUCKET_RESERVED_PREFIXES)}... "
                f"{', '.join(_BUCKET_RESERVED_SUFFIXES)})")
    return None


# k8s.io/apimachinery/pkg/util/validation: qualified names (label keys) and label values.
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key (`[prefix/]name`), or None
    (kubernetes/apimachinery@v0.35.0:pkg/util/validation/validation.go, IsQualifiedName)."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "the prefix before '/' must not be empty"
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return "the prefix must be a lowercase DNS subdomain of at most 253 characters"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return ("the name must be 1 to 63 characters of letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None (the empty value is valid)
    (kubernetes/apimachinery@v0.35.0:pkg/util/validation/validation.go, IsValidLabelValue)."""
    if value and (len(value) > 63 or not _QUALIFIED_NAME.match(value)):
        return ("a label value must be at most 63 characters of letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


def namespace_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is neither a namespace name nor a namespace glob Velero accepts, or None.

    Velero first refuses glob syntax it does not support (`|(){}!,`, `**`, an empty, unclosed or unmatched
    bracket), then replaces each of `*?[]` by a letter and validates the rest as a namespace name
    (vmware-tanzu/velero@v1.18.1:pkg/util/wildcard/expand.go, ValidateNamespaceName;
    pkg/util/collections/includes_excludes.go, validateNamespaceName). So `[!a]` and `[A-Z]` are refused too.
    """
    bad = sorted(set(pattern) & set("|()!{},"))
    if bad:
        return (f"a glob Velero refuses: {' '.join(bad)} is not supported (Velero globs know only '*', '?' and "
                "'[abc]'; list the namespaces instead of negating or alternating)")
    if "**" in pattern:
        return "a glob Velero refuses: '**' is not supported; a single '*' already matches any run of characters"
    depth_problem = _bracket_problem(pattern)
    if depth_problem:
        return f"a glob Velero refuses: {depth_problem}"
    stand_in = re.sub(r"[*?\[\]]", "x", pattern)
    if len(stand_in) > 63 or not DNS1123_LABEL.match(stand_in):
        return ("not a valid namespace name: use at most 63 lowercase letters, digits and '-', starting and "
                "ending with a letter or digit (Velero counts each '*', '?', '[' and ']' as one letter, and "
                "what is inside '[...]' must follow the same rule)")
    return None


def _bracket_problem(pattern: str) -> str | None:
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            close = pattern.find("]", i + 1)
            if close < 0:
                return "a '[' has no matching ']'"
            if close == i + 1:
                return "'[]' is an empty character class"
            i = close
        elif pattern[i] == "]":
            return "a ']' has no matching '['"
        i += 1
    return None


_API_VERSION = re.compile(r"v[0-9]+((alpha|beta)[0-9]*)?\Z")


def resource_problem(resource: str) -> str | None:
    """Why ``resource`` (in a Backup's resource lists) can never match anything in Velero, or None.

    Velero resolves each item with schema.ParseGroupResource(item) (resource before the first '.', group after
    it) and, when discovery does not know it, keeps it as written and glob-matches it against `resource.group`
    (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go, GetResourceIncludesExcludes;
    pkg/discovery/helper.go, ResourceFor). A '/' (kubectl's `apps/replicasets`) or a version segment
    (`deployments.v1.apps`) is never part of that form, so the item silently matches nothing.
    """
    if not resource or resource != resource.strip() or not resource.isprintable():
        return f"{shown(resource)} is not a resource name such as events or events.events.k8s.io"
    if "/" in resource:
        parts = [p for p in resource.split("/") if p]
        name = parts[-1].lower() if parts else resource
        group = next((p for p in parts[:-1] if not _API_VERSION.match(p)), "")
        fix = f"{name}.{group}" if group else name
        return (f"{shown(resource)} never matches: Velero names resources as resource.group, not group/resource; "
                f"write {shown(fix)}")
    head, _, group = resource.partition(".")
    version, _, rest = group.partition(".")
    if group and _API_VERSION.match(version):
        fix = f"{head}.{rest}" if rest else head
        return f"{shown(resource)} never matches: Velero matches resource.group without a version; write {shown(fix)}"
    if head == "" or group.startswith(".") or group.endswith(".") or ".." in group:
        return f"{shown(resource)} is not a resource name such as events or replicasets.apps"
    return None


# What discovery lists for the resources the rules reason about: (group, plural, singular, short names). The API
# server lists the short names (kubernetes/kubernetes@v1.33.11:pkg/registry/core/pod/storage/storage.go ShortNames; a
# CRD's spec.names.shortNames) and the singular, the lower-cased Kind (kubernetes/client-go@v0.33.11:restmapper/
# discovery.go). The Flux kinds that apply objects (their CRDs' category fluxcd-appliers):
# fluxcd/helm-controller@v1.6.3:config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml and
# fluxcd/kustomize-controller@v1.9.4:config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml.
_DISCOVERY = (
    ("", "pods", "pod", ("po",)),
    ("helm.toolkit.fluxcd.io", "helmreleases", "helmrelease", ("hr",)),
    ("kustomize.toolkit.fluxcd.io", "kustomizations", "kustomization", ("ks",)),
)
FLUX_APPLIERS = tuple(f"{plural}.{group}" for group, plural, _, _ in _DISCOVERY if group.endswith(".fluxcd.io"))


def resolved_resource(item: str) -> str:
    """The resource.group Velero matches for one item of a Backup's or Restore's resource lists, as its discovery
    helper resolves it (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go
    GetResourceIncludesExcludes: ResourceFor(schema.ParseGroupResource(item)), the item as written when nothing
    resolves it). In that order: the group is what follows the first '.'
    (kubernetes/apimachinery@v0.33.11:pkg/runtime/schema/group_version.go ParseGroupResource, so `pods.` is the
    core group); a short name is expanded,
    matched exactly (vmware-tanzu/velero@v1.18.1:third_party/kubernetes/pkg/kubectl/cmd/util/shortcut_expander.go);
    then the name is lower-cased and a singular maps to its plural, within the named group when there is one
    (kubernetes/apimachinery@v0.33.11:pkg/api/meta/restmapper.go coerceResourceForMatching, ResourcesFor). Resolved
    only for the resources of _DISCOVERY; any other item is returned as written (a glob stays a glob)."""
    resource, dot, group = item.partition(".")
    for grp, plural, singular, short in _DISCOVERY:
        if dot and group != grp:
            continue
        if resource in short or resource.lower() in (plural, singular):
            return f"{plural}.{grp}" if grp else plural
    return item


def resource_matches(item: str, resource: str) -> bool:
    """Whether a resource-list item covers ``resource`` (resource.group as Velero names it, a core one without the
    group): resolved as above, then glob-matched
    (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go ShouldInclude; gobwas/glob: '*', '?',
    '[...]')."""
    import fnmatch

    return fnmatch.fnmatchcase(resource, resolved_resource(item))


def includes_excludes_problem(included: list[str], excluded: list[str], what: str = "namespace") -> str | None:
    """Why an include/exclude pair (of namespaces or resources) is refused by Velero, or None
    (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go, ValidateIncludesExcludes)."""
    if "*" in included and len(included) > 1:
        return f"'*' already means every {what}; list either '*' alone or the {what}s"
    if "*" in excluded:
        return "the exclude list cannot contain '*'"
    both = [ns for ns in excluded if ns in included]
    if both:
        return f"{', '.join(both)} cannot be both included and excluded"
    return None


def excluded_include(included: list[str], excluded: list[str]) -> tuple[int, str] | None:
    """(index in ``excluded``, why) for an exclude glob that matches a namespace ``included`` lists by name, or
    None. Velero tests the excludes first (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go,
    ShouldInclude), with gobwas/glob patterns ('*', '?', '[...]', as fnmatch without '!'), so that namespace is
    silently never backed up."""
    for j, pattern in enumerate(excluded):
        for name in included:
            if not set(name) & set("*?[]") and namespace_patterns_overlap(name, pattern):
                return j, (f"{pattern!r} excludes {name!r}, which namespaces lists by name: Velero applies the "
                           f"excludes first, so {name!r} would never be backed up; remove one of the two")
    return None


_NAMESPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _glob_tokens(pattern: str) -> list[frozenset[str] | None]:
    """A namespace glob (namespace_pattern_problem accepted it) as tokens: None for '*', else the characters one
    position takes ('?' any, '[a-c]' a class, a letter itself), within the characters of a namespace name."""
    out: list[frozenset[str] | None] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(None)
        elif ch == "?":
            out.append(_NAMESPACE_CHARS)
        elif ch == "[":
            close = pattern.index("]", i + 1)
            body, chars, k = pattern[i + 1:close], set(), 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    chars |= {chr(c) for c in range(ord(body[k]), ord(body[k + 2]) + 1)}
                    k += 3
                else:
                    chars.add(body[k])
                    k += 1
            out.append(frozenset(chars) & _NAMESPACE_CHARS)
            i = close
        else:
            out.append(frozenset(ch))
        i += 1
    return out


def namespace_patterns_overlap(a: str, b: str) -> bool:
    """Whether some namespace matches both ``a`` and ``b`` (names, globs or '*'), as Velero matches them: gobwas/glob
    without separators, so '*' is any run of characters (vmware-tanzu/velero@v1.18.1:pkg/util/collections/
    includes_excludes.go, globStringSet.match). Walks the two patterns together (a product of their automata)."""
    x, y = _glob_tokens(a), _glob_tokens(b)
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(x) and j == len(y):
            return True
        if i < len(x) and x[i] is None:
            todo.append((i + 1, j))
        if j < len(y) and y[j] is None:
            todo.append((i, j + 1))
        if i < len(x) and j < len(y):
            xi, yj = x[i], y[j]
            if (xi or _NAMESPACE_CHARS) & (yj or _NAMESPACE_CHARS):
                todo.append((i if xi is None else i + 1, j if yj is None else j + 1))
    return False


def namespace_excluded(name: str, excluded: list[str]) -> bool:
    """Whether a namespace ``name`` (no glob) matches one of ``excluded`` (names or globs), as ShouldInclude tests
    the excludes (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go)."""
    return any(namespace_patterns_overlap(name, e) for e in excluded)


# Velero skips every item labelled velero.io/exclude-from-backup=true, whatever the backup's selector says
# (vmware-tanzu/velero@v1.18.1:pkg/apis/velero/v1/labels_annotations.go ExcludeFromBackupLabel;
# pkg/backup/item_backupper.go itemInclusionChecks: checked for every item but those a plugin must include).
EXCLUDE_FROM_BACKUP_LABEL = "velero.io/exclude-from-backup"


def skipped_selection_problem(selector: dict) -> str | None:
    """Why a backup's label selector (metav1.LabelSelector as a mapping) selects only items Velero skips, or None:
    it requires EXCLUDE_FROM_BACKUP_LABEL to be "true" (matchLabels, or In with only that value)."""
    key = EXCLUDE_FROM_BACKUP_LABEL
    needs = mapping(selector, "matchLabels").get(key) == "true" or any(
        e.get("key") == key and e.get("operator") == "In" and sequence(e, "values") == ["true"]
        for e in sequence(selector, "matchExpressions") if isinstance(e, dict))
    if not needs:
        return None
    return (f"selects only items labelled {key}=true, and Velero skips every such item whatever the selector says, "
            f"so each backup would be empty. Select the items by a label of their own (e.g. backup: \"true\"); "
            f"{key}=true is how an item is kept out of backups")


def labels_problem(labels: dict[str, str]) -> str | None:
    """Why a label map (nodeSelector, matchLabels, metadata.labels) would be refused, or None."""
    for key, value in labels.items():
        problem = label_key_problem(key)
        if problem:
            return f"label key {key!r}: {problem}"
        problem = label_value_problem(value)
        if problem:
            return f"label {key!r} has value {value!r}: {problem}"
    return None


def toleration_problem(key: str | None, operator: str | None, value: str | None, effect: str | None,
                       seconds: int | None) -> tuple[str, str] | None:
    """(field, why) when the API server would refuse this toleration, or None
    (kubernetes/kubernetes@v1.35.0:pkg/apis/core/validation/validation.go, validateTolerations)."""
    if key:
        problem = label_key_problem(key)
        if problem:
            return "key", f"{key!r} is not a valid taint key: {problem}"
    elif operator != "Exists":
        return "operator", "operator must be Exists when key is empty (that tolerates every taint)"
    if seconds is not None and effect != "NoExecute":
        return "effect", "tolerationSeconds only applies to effect NoExecute"
    if operator == "Exists" and value:
        return "value", "value must be empty with operator Exists (Exists matches any value); drop value or use Equal"
    if operator in (None, "Equal") and value:
        problem = label_value_problem(value)
        if problem:
            return "value", f"{value!r} is not a valid taint value: {problem}"
    return None


def repo_path_problem(path: str, allow_parent: bool = False) -> str | None:
    """Why ``path`` (from a config, relative to the repository root) could name something outside the root,
    or a file the user cannot reproduce: absolute, `..`, backslashes, control characters. None when it is clean.
    ``allow_parent`` keeps `..` for paths relative to the config file, which the loader resolves and checks."""
    if not path:
        return "the path is empty"
    if not path.isprintable():
        return "the path contains a control or invisible character (a newline?)"
    if "\\" in path:
        return "use '/' between folders, not '\\'"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "the path must be relative to the repository root, not absolute"
    if not allow_parent and ".." in path.split("/"):
        return "the path must stay inside the repository: '..' is not allowed"
    if any(is_dotgit(part) for part in path.split("/")):
        return "the path must not lead into .git (compared as git does: any case, trailing dots or spaces, GIT~1)"
    return None


# Code points HFS+ ignores in file names (git/git@v2.47.0:utf8.c, is_hfs_dotgit / next_hfs_char).
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def is_dotgit(component: str) -> bool:
    """Whether one path component names the `.git` folder on some filesystem, as git itself decides when it
    refuses a path (git/git@v2.47.0:path.c, is_ntfs_dotgit: any case, then only spaces and periods, or the
    8.3 short name GIT~1; utf8.c, is_hfs_dotgit: any case, HFS+-ignored code points dropped)."""
    folded = _HFS_IGNORED.sub("", component).lower()
    return folded.rstrip(". ") in (".git", "git~1") or folded == ".git"


class BadUrl(ValueError):
    """What makes a text no URL at all (its message says what, never the URL: it may carry a password)."""


@dataclass(frozen=True)
class Url:
    """A URL cut into its parts by split_url."""

    scheme: str
    netloc: str
    path: str
    query: str
    fragment: str
    hostname: str  # lower case, without brackets; "" when there is none
    port: int | None


def split_url(url: str) -> Url:
    """The one parse of a URL in the tool: every URL a config, a manifest or a command gives is cut here, so input
    that is no URL always reaches the caller as BadUrl (a finding or a usage error with the fix), never as a
    traceback. urlsplit raises ValueError on an unclosed '[' or a bracketed host that is no IP address, and on a
    netloc that NFKC normalisation changes (python/cpython@v3.11.7:Lib/urllib/parse.py urlsplit, _checknetloc);
    SplitResult.port raises it on a port that is not a number from 0 to 65535."""
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise BadUrl("not a string")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise BadUrl("its host is not a name or an IP address in brackets such as [fd00::1], or it holds characters "
                     "a URL cannot") from None
    try:
        port = parts.port
    except ValueError:
        raise BadUrl("the port must be a number from 1 to 65535") from None
    return Url(parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment, parts.hostname or "", port)


# What a Flux variable in an endpoint stands for when its value is not known here: one DNS label.
VARIABLE_STAND_IN = "substituted"


def endpoint_outcomes(url: str) -> list[tuple[str, str]]:
    """The endpoints Flux may make of ``url`` (varsub.outcomes): [(url, "")] without variables, else the URL with
    every variable set and, when a variable has a default, with those unset. Raises varsub.BadSubstitution."""
    from velero_gitops import varsub

    return varsub.outcomes(url, VARIABLE_STAND_IN)


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` is not an S3 endpoint such as ``https://s3.example.com:9000``, or None.

    The message never repeats the URL: it may carry a password. Show it with `redact_url`.
    """
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in url):
        return "the endpoint contains a space or control character"  # urlsplit would silently drop some
    if "@" in url:  # user info; an '@' in a path would be refused below anyway
        return ("the endpoint must not contain a user name or password (they would be committed in plain text); "
                "put the credentials in the encrypted Secret with encrypt-secret")
    try:
        parts = split_url(url)
    except BadUrl as exc:
        return f"not an endpoint URL such as https://s3.example.com ({exc})"
    port = parts.port
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "not an endpoint URL such as https://s3.example.com"
    if port is not None and not 1 <= port <= 65535 or parts.netloc.endswith(":"):
        return "the port must be a number from 1 to 65535"
    if not (parts.netloc.startswith("[") or re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", parts.netloc)):
        return "the host must be a DNS name or an IP address"
    problem = host_problem(parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc)
    if problem:
        return problem
    extra = [what for what, there in (("a path", parts.path not in ("", "/")), ("a query string", parts.query),
                                      ("a fragment", parts.fragment)) if there]
    if extra:
        folder = " and put the folder in `prefix`" if parts.path not in ("", "/") else ""
        return (f"it has {' and '.join(extra)}, but an endpoint is only scheme://host[:port] (Velero's kopia "
                f"repository refuses a path in s3Url); use {parts.scheme}://{parts.netloc}{folder}")
    return None


def url_problem(url: str, schemes: tuple[str, ...] = ("https",), appended: bool = True) -> str | None:
    """Why ``url`` is not a plain URL with one of ``schemes`` and a host, or None. A space or control character
    is refused: some URLs land in YAML comment lines, where a newline would start a line of YAML content.
    User info is refused: it would be committed in clear. With ``appended`` (the tool or Flux appends a path or
    an anchor to the URL), a fragment is refused too: what follows '#' is never sent to the server."""
    if not url.isprintable() or any(ch.isspace() for ch in url):
        return "the URL contains a space, newline or other control character"
    try:
        parts = split_url(url)
    except BadUrl as exc:
        return f"not a URL: {exc}"
    port = parts.port
    if parts.scheme not in schemes or not parts.netloc:
        return f"must be a {' or '.join(s + '://' for s in schemes)} URL with a host"
    if "@" in parts.netloc:
        return "the URL must not carry a user name or password: they would be committed in clear"
    problem = host_problem(parts.netloc.rsplit(":", 1)[0] if port is not None or parts.netloc.endswith(":")
                           else parts.netloc)
    if problem:
        return problem
    if appended and (parts.fragment or url.endswith("#")):
        return ("the URL has a '#' fragment, but a path or anchor is appended to this URL, and a fragment is "
                "never sent to the server; remove the '#...' part")
    return None


def pod_local_problem(url: str) -> str | None:
    """Why ``url`` (a URL a pod in the cluster connects to) reaches only that pod itself, or None: localhost, a
    loopback address (127.0.0.0/8, ::1; Go's net.IP.IsLoopback) or the unspecified address (0.0.0.0, ::; a listen
    address, which Linux connects to the local host). The Velero server Deployment has no hostNetwork and no
    sidecar (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml), so nothing answers
    there."""
    import ipaddress

    host = split_url(url).hostname.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761 6.3: resolves to loopback
        local = True
    else:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        ip = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:127.0.0.1 is 127.0.0.1 to Go's net.IP
        local = ip.is_loopback or ip.is_unspecified
    if not local:
        return None
    return (f"{host} is the Velero pod itself: Velero and its node-agents connect from their own pods, where "
            "nothing serves S3. Use the MinIO Service's cluster DNS name (e.g. https://minio.minio.svc.cluster.local:9000) "
            "or an address of the host MinIO runs on")


def host_problem(host: str) -> str | None:
    """Why ``host`` (of a URL, without the port) is neither an IP address nor a name Go's resolver looks up,
    or None (golang/go@go1.25.0:src/net/ip.go ParseIP, src/net/dnsclient.go isDomainName: labels of 1 to 63
    letters, digits, '_' or '-', no '-' next to a '.', at most 253 characters, not all digits)."""
    import ipaddress

    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") and "%" not in host else "-")
        except ValueError:
            return "the host is not an IPv6 address in brackets such as [fd00::1] (a zone needs %25, not %)"
        return None
    try:
        ipaddress.IPv4Address(host)
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if (not 0 < len(name) <= 253 or any(not re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", x)
                                          for x in labels)):
        return (f"the host {host!r} is not a DNS name: labels of 1 to 63 letters, digits or '-', separated by "
                "single dots, none starting or ending with '-', at most 253 characters")
    if re.fullmatch(r"[0-9.]+", name):
        return f"the host {host!r} is neither an IPv4 address (four numbers 0-255) nor a DNS name"
    return None


# distribution/reference@v0.6.0:regexp.go (ReferenceRegexp), Go's ASCII \w spelled out: [domain[:port]/]path[:tag][@digest]
_DOMAIN = (r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
           r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_REPO_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
_DIGEST = r"([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})"
_IMAGE = goregexp.linear(
    rf"((?:{_DOMAIN}/)?{_REPO_PATH})"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    rf"(?:@{_DIGEST})?"
)
# distribution/reference@v0.6.0:reference.go (NameTotalLengthMax) and opencontainers/go-digest@v1.0.0:algorithm.go
# (the algorithms it knows, each with its hex length; Validate wants lowercase hex of exactly that length).
NAME_TOTAL_LENGTH_MAX = 255
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}


def image_problem(image: str) -> str | None:
    """Why ``image`` is not a container image reference (``registry/name:tag[@digest]``), or None."""
    m = _IMAGE.fullmatch(image)
    if not m:
        return "not an image reference such as velero/velero-plugin-for-aws:v1.14.3"
    if len(m.group(1)) > NAME_TOTAL_LENGTH_MAX:
        return f"the repository name is {len(m.group(1))} characters; a reference allows {NAME_TOTAL_LENGTH_MAX}"
    if m.group(2) is not None:
        problem = digest_problem(image.rsplit("@", 1)[1])
        if problem:
            return problem
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        return "it has no tag: pin it, e.g. velero/velero-plugin-for-aws:v1.14.3"
    return None


def digest_problem(digest: str) -> str | None:
    """Why ``digest`` is not an image digest (``sha256:<64 lowercase hex>``) a container runtime pulls by, or None
    (distribution/reference@v0.6.0:regexp.go DigestRegexp; opencontainers/go-digest@v1.0.0:algorithm.go Validate)."""
    m = re.fullmatch(_DIGEST, digest)
    if not m:
        return f"{shown(digest)} is not a digest such as sha256:<64 hex digits>"
    algorithm, encoded = m.group(1), m.group(2)
    want = _DIGEST_HEX_LENGTH.get(algorithm)
    if want is None:
        return f"digest algorithm {algorithm!r} is not one of {', '.join(_DIGEST_HEX_LENGTH)}"
    if len(encoded) != want or encoded != encoded.lower():
        return f"a {algorithm} digest is {want} lowercase hex digits, not {len(encoded)}"
    return None


def oci_repository_problem(url: str) -> str | None:
    """Why ``url`` is not what an OCIRepository's spec.url must be, ``oci://<registry>/<repository>`` without a tag
    or digest (fluxcd/source-controller@v1.8.5:internal/controller/ocirepository_controller.go, parseRepository:
    go-containerregistry name.NewRepository, then 'URL must not contain a tag'), or None."""
    rest = url.removeprefix("oci://")
    if "@" in rest:
        return ("the URL must not carry a user name, password or digest (credentials would be committed in clear; "
                "a digest is spec.ref, not part of the URL)")
    # go-containerregistry takes the first component as the registry only when it holds '.' or ':' or is
    # localhost; otherwise the whole is a Docker Hub repository (so `oci://ghcr.io` alone is docker.io/library/ghcr.io)
    domain, _, path = rest.partition("/")
    if not ("." in domain or ":" in domain or domain == "localhost"):
        domain, path = "", rest
    elif not path or not re.fullmatch(_DOMAIN, domain):
        return "must be oci://<registry host>/<repository>, e.g. oci://ghcr.io/vmware-tanzu/charts/velero"
    if ":" in path:
        return f"the URL must not contain a tag; remove ':{path.split(':', 1)[1]}' (the chart version is chartVersion)"
    if not re.fullmatch(_REPO_PATH, path) or len(rest) > NAME_TOTAL_LENGTH_MAX:
        return ("the repository path must be lowercase letters, digits and separators ('.', '_', '__', '-', '/'), "
                f"at most {NAME_TOTAL_LENGTH_MAX} characters in all")
    return None


def redact_url(text: str) -> str:
    """``text`` with any user info (everything up to the last '@' after the scheme) replaced by ***."""
    start = text.find("://")
    start = start + 3 if start >= 0 else 0
    at = text.rfind("@")
    return text[:start] + "***" + text[at:] if at >= start else text
