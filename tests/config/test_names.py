"""config/names.py rules added for issue 21, each against the upstream code that decides it."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from velero_gitops.config import names


@pytest.mark.parametrize("pattern,refused", [
    ("network-*", False), ("db-?", False), ("team-[ab]", False), ("*", False), ("*-prod", False),
    ("**", True), ("a**b", True), ("[!a]*", True), ("{a,b}", True), ("a|b", True), ("(a)", True), ("a,b", True),
    ("ns-[]", True), ("ns-[ab", True), ("ns-]", True), ("team-[A-Z]", True), ("team-[.]", True), ("x" * 64, True),
])
def test_namespace_globs_as_velero_validates_them(pattern, refused):
    """vmware-tanzu/velero@v1.18.1:pkg/util/wildcard/expand.go (ValidateNamespaceName: `|(){}!,`, `**`, bracket
    pairs) and pkg/util/collections/includes_excludes.go (validateNamespaceName: `*?[]` each become one letter,
    then IsDNS1123Label), so what is inside a class must itself be a valid name part."""
    assert (names.namespace_pattern_problem(pattern) is not None) == refused


@pytest.mark.parametrize("resource,fix", [
    ("apps/replicasets", "replicasets.apps"), ("apps/v1/deployments", "deployments.apps"), ("v1/pods", "pods"),
    ("deployments.v1.apps", "deployments.apps"), ("cronjobs.v1beta1.batch", "cronjobs.batch"),
    ("events.v1.events.k8s.io", "events.events.k8s.io"),
])
def test_resources_velero_never_matches_name_the_fix(resource, fix):
    """Velero resolves each item with schema.ParseGroupResource (resource before the first '.', group after) and
    keeps an unresolvable item as written (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go,
    GetResourceIncludesExcludes; pkg/discovery/helper.go ResourceFor with WithVersion("")): a '/' or a version
    segment never equals any resource.group."""
    problem = names.resource_problem(resource)
    assert problem is not None and f"{fix!r}" in problem


@pytest.mark.parametrize("resource", ["events", "events.events.k8s.io", "replicasets.apps", "*.apps", "pods.", "Pod",
                                      "certificates.cert-manager.io"])
def test_resources_velero_resolves_are_accepted(resource):
    """Same code: these parse to a group-resource discovery can resolve (or a glob over resource.group)."""
    assert names.resource_problem(resource) is None


@pytest.mark.parametrize("item,resolved", [
    ("pods", "pods"), ("pod", "pods"), ("po", "pods"), ("Pods", "pods"), ("POD", "pods"), ("pods.", "pods"),
    ("pod.", "pods"), ("po.", "pods"),
    ("PO", "PO"), ("Po", "Po"), ("pods.core", "pods.core"), ("po*", "po*"), ("events", "events"),
])
def test_resource_items_resolve_as_velero_discovery_does(item, resolved):
    """vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go (GetResourceIncludesExcludes:
    ResourceFor(ParseGroupResource(item)), else the item as written); the short name is matched exactly before any
    lower-casing (vmware-tanzu/velero@v1.18.1:third_party/kubernetes/pkg/kubectl/cmd/util/shortcut_expander.go), so
    `PO` stays `PO`; then the RESTMapper lower-cases and maps singular to plural
    (kubernetes/apimachinery@v0.33.11:pkg/api/meta/restmapper.go coerceResourceForMatching); `pods.core` names a
    group "core", which is not the core group ""."""
    assert names.resolved_resource(item) == resolved


@pytest.mark.parametrize("item,covers", [
    ("pod", True), ("po", True), ("Pods", True), ("pods.", True), ("p*", True), ("po?s", True), ("PO", False),
    ("Pod*", False), ("pods.core", False), ("podtemplates", False),
])
def test_resource_items_cover_pods_after_resolution_then_glob(item, covers):
    """Same code, then ShouldInclude's glob over the resolved names (gobwas/glob: case-sensitive)."""
    assert names.resource_matches(item, "pods") == covers


@pytest.mark.parametrize("full,names_", [
    ("helmreleases.helm.toolkit.fluxcd.io", ("helmreleases", "helmrelease", "hr", "HelmRelease")),
    ("kustomizations.kustomize.toolkit.fluxcd.io", ("kustomizations", "kustomization", "ks", "Kustomization")),
])
def test_flux_appliers_resolve_from_every_name_discovery_lists(full, names_):
    """A Flux kind that applies objects is listed by discovery under its CRD's plural, singular and short names (the
    CRDs at the tags: test_compat_upstream.py::test_flux_appliers_are_the_crds_names checks them); Velero resolves
    each to plural.group (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go
    GetResourceIncludesExcludes, same path as above), lower-casing all but the short name, within the named group."""
    group = full.split(".", 1)[1]
    plural, singular, short, kind = names_
    assert full in names.FLUX_APPLIERS
    for item in (plural, singular, short, kind, plural.upper(), full, f"{singular}.{group}", f"{kind}.{group}",
                 "*.fluxcd.io", f"*.{group}", "*"):
        assert names.resource_matches(item, full), item
    for item in (short.upper(), f"{plural}.other.io", f"{plural}.{group.split('.', 1)[1]}", f"{plural}.v2.{group}",
                 "pods"):
        assert not names.resource_matches(item, full), item


def test_prefix_leaves_room_for_velero_keys_under_the_s3_limit():
    """S3 keys hold at most 1024 bytes; Velero writes <prefix>/backups/<backup>/<backup>-<suffix> keys
    (vmware-tanzu/velero@v1.18.1:pkg/persistence/object_store_layout.go): the longest prefix that fits is accepted,
    one byte more (or a multi-byte letter) is refused with the limit to use."""
    room = names.S3_KEY_MAX_BYTES - names.LONGEST_KEY_BELOW_PREFIX
    assert names.prefix_problem("p" * room) is None
    problem = names.prefix_problem("p" * (room + 1))
    assert problem is not None and f"at most {room} bytes" in problem
    assert names.prefix_problem("\u00e9" * (room // 2 + 1)) is not None  # bytes, not characters


@pytest.mark.parametrize("component,dotgit", [
    (".git", True), (".Git", True), (".GIT", True), (".git.", True), (".git ", True), (".git. .", True),
    ("git~1", True), ("GIT~1", True), (".g\u200cit", True), ("\ufeff.git", True),
    (".gitops", False), ("git", False), (".github", False), ("x.git", False), ("git~2", False),
])
def test_dotgit_as_git_decides(component, dotgit):
    """git/git@v2.47.0:path.c (is_ntfs_dotgit: case-insensitive `.git` followed only by spaces and periods, or
    `git~1`) and utf8.c (is_hfs_dotgit: case-insensitive after dropping the code points HFS+ ignores)."""
    assert names.is_dotgit(component) is dotgit


def test_repo_paths_refuse_every_spelling_of_dotgit():
    for path in (".Git/apps", "kubernetes/.GIT", "GIT~1/apps", ".git./apps"):
        assert ".git" in (names.repo_path_problem(path) or ""), path


def test_object_refs_are_names_the_api_server_holds():
    """Kind/namespace/name from the command line or check.externals: namespace a DNS-1123 label (apimachinery
    pkg/api/validation/objectmeta.go ValidateNamespaceName) or '*', name a DNS-1123 subdomain or '*', kind a kind."""
    from velero_gitops.config.names import object_ref_problem, shown

    for ok in ("Kustomization/flux-system/openebs", "CustomResourceDefinition/*/monitoring.coreos.com",
               "HelmRelease/*/cilium"):
        assert object_ref_problem(ok) is None, ok
    assert "Kind/namespace/name" in object_ref_problem("Kustomization/openebs")
    assert "Kind/namespace/name" in object_ref_problem("Kustomization//openebs")
    assert "namespace" in object_ref_problem("Kustomization/" + "9" * 5000 + "/x")
    assert "namespace" in object_ref_problem("Kustomization/" + "a" * 64 + "/x")
    assert object_ref_problem("Kustomization/" + "a" * 63 + "/x") is None
    assert "name" in object_ref_problem("Kustomization/flux-system/Openebs")
    assert "kind" in object_ref_problem("Kustom ization/flux-system/x")
    assert shown("a" * 40) == repr("a" * 40)
    long = shown("9" * 5000)
    assert len(long) < 80 and "(5000 characters)" in long
def _bech32_with_checksum(data: list[int]) -> str:
    """An age1 string with a valid bech32 checksum over ``data`` (BIP-173 create_checksum), to build keys that
    pass the checksum and fail on something else."""
    values = [ord(c) >> 5 for c in "age"] + [0] + [ord(c) & 31 for c in "age"] + data + [0] * 6
    check = 1
    for v in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ v
        for i, gen in enumerate((0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)):
            check ^= gen if top >> i & 1 else 0
    check ^= 1
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    return "age1" + "".join(charset[d] for d in data) + "".join(charset[check >> 5 * (5 - i) & 31] for i in range(6))


def test_age_recipients_as_age_parses_them():
    """FiloSottile/age@v1.2.1:x25519.go (ParseX25519Recipient) and internal/bech32/bech32.go (Decode verifies the
    checksum; ConvertBits(data, 5, 8, false) refuses non-zero padding): real keys from pyrage pass; a key with one
    character changed fails the checksum; a key whose checksum is right but whose padding bits are set fails."""
    import pyrage

    for _ in range(50):
        key = str(pyrage.x25519.Identity.generate().to_public())
        assert names.age_recipient_problem(key) is None
        changed = key[:20] + ("q" if key[20] != "q" else "p") + key[21:]
        assert "checksum" in (names.age_recipient_problem(changed) or "")
    assert names.age_recipient_problem(_bech32_with_checksum([0] * 52)) is None
    assert "padding" in (names.age_recipient_problem(_bech32_with_checksum([0] * 51 + [1])) or "")


@pytest.mark.parametrize("host,refused", [
    ("s3.example.com", False), ("localhost", False), ("10.0.0.5", False), ("[fd00::1]", False), ("a_b.lan", False),
    ("s3.example.com.", False), ("-s3.example.com", True), ("s3-.example.com", True), ("s3..example.com", True),
    (".example.com", True), ("h" * 64 + ".example.com", True), ("999.1.1.1", True), ("10.0.0.1.5", True),
    ("[zz::1]", True), ("[fe80::1%eth0]", True), (".".join(["a" * 60] * 5), True),
])
def test_hosts_as_go_resolves_them(host, refused):
    """golang/go@go1.25.0:src/net/dnsclient.go (isDomainName: 1-63 character labels of letters, digits, '_' and '-',
    no '-' next to a dot, at most 253 characters, not all digits) and src/net/ip.go (ParseIP)."""
    assert (names.host_problem(host) is not None) == refused


@pytest.mark.parametrize("url,refused", [
    ("oci://ghcr.io/vmware-tanzu/charts/velero", False), ("oci://registry.lab:5000/charts/velero", False),
    ("oci://velero/charts", False),  # no registry component: a Docker Hub repository
    ("oci://ghcr.io/vmware-tanzu/charts/velero:12.1.0", True), ("oci://ghcr.io", True),
    ("oci://ghcr.io/VMware/charts/velero", True), ("oci://u:p@ghcr.io/charts/velero", True),
    ("oci://ghcr.io/charts/velero@sha256:" + "a" * 64, True),
])
def test_oci_repository_urls_as_source_controller_parses_them(url, refused):
    """fluxcd/source-controller@v1.8.5:internal/controller/ocirepository_controller.go (parseRepository:
    name.NewRepository on the URL without oci://, then 'URL must not contain a tag'); the registry is the first
    component only when it holds '.' or ':' or is localhost."""
    assert (names.oci_repository_problem(url) is not None) == refused


@pytest.mark.parametrize("image,refused", [
    ("velero/velero-plugin-for-aws:v1.14.3", False),
    ("velero/velero-plugin-for-aws:v1.14.3@sha256:" + "a" * 64, False),
    ("velero/velero-plugin-for-aws:v1.14.3@sha512:" + "b" * 128, False),
    ("velero/velero-plugin-for-aws:v1.14.3@sha256:" + "a" * 40, True),
    ("velero/velero-plugin-for-aws:v1.14.3@sha512:" + "b" * 64, True),
    ("velero/velero-plugin-for-aws:v1.14.3@sha256:" + "A" * 64, True),
    ("velero/velero-plugin-for-aws:v1.14.3@md5:" + "a" * 32, True),
    ("r.example.com/" + "v" * 250 + ":v1", True),
])
def test_image_digests_as_go_digest_validates_them(image, refused):
    """distribution/reference@v0.6.0:reference.go (NameTotalLengthMax 255; Parse calls digest.Parse) and
    opencontainers/go-digest@v1.0.0:algorithm.go (sha256/sha384/sha512 only, lowercase hex of their exact length)."""
    assert (names.image_problem(image) is not None) == refused


@pytest.mark.parametrize("digest,words", [
    ("sha256:" + "a" * 64, None), ("sha512:" + "b" * 128, None),
    ("sha256:" + "a" * 63, "64 lowercase hex"), ("sha256:" + "A" * 64, "64 lowercase hex"),
    ("md5:" + "a" * 32, "not one of"), ("sha256", "not a digest"), ("a" * 64, "not a digest"),
])
def test_digest_as_go_digest_validates_it(digest, words):
    """distribution/reference@v0.6.0:regexp.go (DigestRegexp) and opencontainers/go-digest@v1.0.0:algorithm.go
    (Validate): the rule velero.imageTag's `@digest` and image references share."""
    problem = names.digest_problem(digest)
    assert (problem is None) if words is None else (words in (problem or ""))


@pytest.mark.parametrize("a,b,overlap", [
    ("db", "db", True), ("db", "dc", False), ("db", "d*", True), ("team-*", "*-prod", True), ("a*", "b*", False),
    ("team-[ab]?", "team-b1", True), ("team-[ab]?", "team-c1", False), ("team-[a-c]", "team-b", True),
    ("*", "x", True), ("a?c", "a*", True), ("a?", "abc", False), ("*x*", "*y*", True), ("x*", "*y", True),
    ("ab*", "a", False), ("[0-9]*", "kube-*", False),
])
def test_namespace_patterns_overlap_as_velero_matches_globs(a, b, overlap):
    """gobwas/glob without separators: '*' any run, '?' one character, '[a-c]' a class
    (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go, globStringSet.match)."""
    assert names.namespace_patterns_overlap(a, b) is overlap
    assert names.namespace_patterns_overlap(b, a) is overlap


@pytest.mark.parametrize("included,excluded,hit", [
    (["database"], ["data*"], 0), (["monitoring", "db"], ["x", "mon?toring"], 1), (["a1"], ["[ab]1"], 0),
    (["db-*"], ["db-1"], None), (["monitoring"], ["database"], None), (["*"], ["kube-*"], None),
])
def test_an_exclude_that_matches_a_named_include(included, excluded, hit):
    """vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go (ShouldInclude tests the excludes
    first, as gobwas/glob patterns): a namespace listed by name and matched by an exclude is never backed up."""
    found = names.excluded_include(included, excluded)
    assert (found[0] if found else None) == hit


@pytest.mark.parametrize("bucket", ["velero.-backups", "velero-.backups", "amzn-s3-demo-velero", "velero--x-s3",
                                    "velero.mrap", "velero--table-s3"])
def test_reserved_bucket_affixes(bucket):
    """minio/minio-go@v7.0.95:pkg/s3utils/utils.go (CheckValidBucketNameStrict refuses '.-' and '-.') and S3's
    general-purpose bucket naming rules (reserved prefixes and suffixes)."""
    assert names.bucket_name_problem(bucket)


# Text that trips urlsplit or SplitResult.port (python/cpython@v3.11.7:Lib/urllib/parse.py: an unclosed '[', a
# bracketed host that is no IP address, a netloc NFKC normalisation changes, a port that is no number 0-65535)
_HOSTILE_URL = st.one_of(
    st.text(),
    st.builds(lambda scheme, host, tail: f"{scheme}://{host}{tail}",
              st.sampled_from(["https", "http", "s3", "", "HTTPS"]),
              st.one_of(st.text(alphabet="[]:%@.abz019/\\?#\uff03\u2100\u0130 ", max_size=12),
                        st.sampled_from(["[::1", "[zz]", "[::1]:x", "h:99999", "h:-1", "a\uff03b", "[v1.x]", "[]"])),
              st.text(alphabet=":/?#[]@0123456789", max_size=6)),
)


@given(_HOSTILE_URL)
@example("https://[::1")
@example("https://[zz]")
@example("https://h:99999")
@example("https://a\uff03b")
def test_no_url_raises_anything_but_a_finding(url):
    """The one URL parse (names.split_url) turns every ValueError urlsplit or .port raises into BadUrl, and the rules
    built on it turn that into a message: no traceback from a hostile s3Url, endpoint or repository URL (attack 7
    break 9: "https://[::1" crashed validate)."""
    try:
        parts = names.split_url(url)
    except names.BadUrl as exc:
        assert str(exc)
    else:
        assert parts.port is None or 0 <= parts.port <= 65535
    for problem in (names.endpoint_problem(url), names.url_problem(url)):
        assert problem is None or isinstance(problem, str)


@pytest.mark.parametrize("url,local", [
    ("https://localhost:9000", True), ("https://minio.localhost", True), ("https://127.0.0.1", True),
    ("https://127.255.0.9:9000", True), ("https://[::1]:9000", True), ("https://0.0.0.0:9000", True),
    ("https://[::]", True), ("https://[::ffff:127.0.0.1]", True),
    ("https://192.0.2.10:9000", False), ("https://minio.minio.svc.cluster.local:9000", False),
    ("https://[fd00::1]", False), ("https://localhost.example.org", False),
])
def test_an_address_that_is_the_pod_itself(url, local):
    """Go's net.IP.IsLoopback (127.0.0.0/8, ::1, v4-mapped too) and IsUnspecified (0.0.0.0, ::), and RFC 6761's
    localhost names: dialled from the Velero pod they reach the pod itself."""
    assert (names.pod_local_problem(url) is not None) is local
