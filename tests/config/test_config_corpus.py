"""A corpus of config VALUES and PATHS, by category, run through the real CLI.

Each reject case: `velero-gitops render` exits 2 with exactly one located `FILE:LINE:COL path: message`
line, no traceback, a byte-identical tree, nothing created next to the repository, within 2 s.
Each accept case renders and then passes `velero-gitops check`.

The rule behind each category, from the upstream source it follows:
- paths: render writes only under the repository root, never into .git, never over its own files
  (a schedule named `kustomization`), and embeds only files of the repository.
- names: RFC 1123 labels/subdomains as k8s.io/apimachinery@v0.35.0:pkg/util/validation/validation.go
  (IsDNS1123Label, IsDNS1123Subdomain), matched to the end of the text (no final newline); the release
  name limit of fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go (ReleaseName MaxLength 53).
- labels: IsQualifiedName / IsValidLabelValue of the same file.
- cron: robfig/cron@v3.0.1:parser.go (getRange, mustParseInt = strconv.Atoi, ASCII digits only) and
  spec.go (Next returns the zero time when nothing matches within five years).
- durations: golang/go@go1.25.0:src/time/format.go (ParseDuration) and the Flux CRD pattern
  `^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$`; interval 0 stops reconciling
  (fluxcd/helm-controller@v1.6.3:internal/controller/helmrelease_controller.go, RequeueAfter).
- quantities: k8s.io/apimachinery@v0.35.0:pkg/api/resource/quantity.go (parseQuantityString), suffix.go.
- endpoints: the AWS plugin needs a region with s3Url
  (vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/object_store.go, Init).
- tolerations: kubernetes/kubernetes@v1.35.0:pkg/apis/core/validation/validation.go (validateTolerations).
- include/exclude: vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go
  (ValidateIncludesExcludes, validateNamespaceName: globs).

Categories added with config/semantics.py; each expectation was written from the upstream rule first:
- semantics: a backup is deleted once status.expiration (start + ttl) has passed, and GC re-checks every backup
  once per garbageCollectionFrequency (vmware-tanzu/velero@v1.18.1:pkg/controller/gc_controller.go); the
  Schedule runs at its cron's times (pkg/controller/schedule_controller.go); a backup whose storage location
  does not exist fails validation (pkg/controller/backup_controller.go, prepareBackupRequest); a Kustomization
  waits for each dependsOn to be Ready (fluxcd/kustomize-controller@v1.9.4:internal/controller/
  kustomization_controller.go, checkDependencies); two objects with one id do not build
  (kubernetes-sigs/kustomize@v5.7.1:api/resmap/reswrangler.go, Append).
- velero: glob validation (vmware-tanzu/velero@v1.18.1:pkg/util/wildcard/expand.go, ValidateNamespaceName:
  `|(){}!,`, `**`, empty/unclosed/unmatched brackets; then `*?[]` -> a letter and IsDNS1123Label); resources are
  resolved with schema.ParseGroupResource (resource.group) and kept as written when unknown
  (pkg/util/collections/includes_excludes.go, GetResourceIncludesExcludes); Velero's own field names.
- bounds: tolerationSeconds is an int64, effect "" tolerates every effect, Schedule and Kustomization names are
  DNS-1123 subdomains (kubernetes/kubernetes@v1.35.0:pkg/apis/core/validation/validation.go,
  validateTolerations; k8s.io/apimachinery@v0.35.0:pkg/util/validation/validation.go); SemVer has no leading
  zeros (semver.org 2.0.0, item 2), so `012.1.0` is no chart version and no OCI tag.
- s3: the plugin signs for s3.region and sends to s3Url + bucket
  (vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/object_store.go Init, config.go
  newS3Client); a SigV4 scope for another region than the host serves is refused.
- tags: a tag that changes a value's meaning (!!binary decodes base64) is refused, never read silently.
- gitpaths: git refuses `.git` in any case, with trailing dots/spaces, and GIT~1
  (git/git@v2.47.0:path.c is_ntfs_dotgit, utf8.c is_hfs_dotgit).
- messages: did-you-mean first, Velero's names mapped to ours, secrets never echoed, long values cut, the
  `check:` section validated at load time.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cli_util import REPO, run_cli

BASE = """\
cluster: home-lab
repo:
  root: .
  appsRoot: kubernetes/apps
  namespace: velero
  app: velero
flux:
  interval: 1h
  dependsOn:
    - name: openebs
      namespace: flux-system
velero:
  chartVersion: 12.1.0
  imageTag: v1.18.2
  awsPluginImage: velero/velero-plugin-for-aws:v1.14.3
  defaultBackupTtl: 720h
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {memory: 512Mi}
  nodeAgent:
    distribution: talos
    nodeSelector:
      kubernetes.io/os: linux
    tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
s3:
  endpoint: https://s3.68cc.io
  bucket: velero-backups
  prefix: velero
  region: minio
schedules:
  - name: daily
    cron: "0 2 * * *"
    namespaces: [monitoring, database, network]
    ttl: 720h
    excludedResources: [events]
    labelSelector:
      matchLabels: {backup: "true"}
metrics:
  additionalLabels:
    release: kube-prometheus-stack
"""

LOCATED = re.compile(r"^(?:error: )?velero-gitops\.yaml:(\d+):(\d+) (\S(?:.*?\S)?): (.+)$")  # "error: " prefix; a key may hold a space
SECRET = "Sup3rS3cret"  # must never be echoed


def _pem():
    import trustme

    ca = trustme.CA()
    return ca.cert_pem.bytes(), ca.private_key_pem.bytes()


CERT, KEY = _pem()
RSA_KEY = b"-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n"


def pem_block(label: str, body: bytes = b"MIIBAAAA") -> bytes:
    return b"-----BEGIN " + label.encode() + b"-----\n" + body + b"\n-----END " + label.encode() + b"-----\n"


@dataclass
class Reject:
    cat: str
    id: str
    old: str
    new: str
    path: str  # the dotted path the message must name
    words: str  # must appear in the message
    line: str | None = None  # a text whose first line the message must point at; default: the first changed line
    files: dict = field(default_factory=dict)  # relative to the folder holding the repository
    more: tuple = ()  # further (old, new) replacements
    secret: str | None = None  # a text that must not appear in the output
    max_len: int = 600  # the message line is at most this long


@dataclass
class Accept:
    cat: str
    id: str
    old: str
    new: str
    files: dict = field(default_factory=dict)
    more: tuple = ()
    warns: str | tuple[str, ...] | None = None  # a text each warning line must contain, in order; None: no warning


def ca(name="ca.pem"):
    return ("  region: minio\n", f"  region: minio\n  caBundle: {name}\n")


REJECT = [
    # ------------------------------------------------------------------------------------------ paths
    Reject("paths", "apps-root-parent", "appsRoot: kubernetes/apps", "appsRoot: ../escape-apps", "repo.appsRoot", "'..' is not allowed"),
    Reject("paths", "apps-root-parent-inside", "appsRoot: kubernetes/apps", "appsRoot: kubernetes/../../x", "repo.appsRoot", "'..'"),
    Reject("paths", "apps-root-absolute", "appsRoot: kubernetes/apps", "appsRoot: /tmp/apps", "repo.appsRoot", "not absolute"),
    Reject("paths", "apps-root-drive", "appsRoot: kubernetes/apps", "appsRoot: 'C:/apps'", "repo.appsRoot", "not absolute"),
    Reject("paths", "apps-root-backslash", "appsRoot: kubernetes/apps", "appsRoot: 'kubernetes\\apps'", "repo.appsRoot", "not '\\'"),
    Reject("paths", "apps-root-newline", "appsRoot: kubernetes/apps", 'appsRoot: "kubernetes/apps\\n"', "repo.appsRoot", "control or invisible character"),
    Reject("paths", "apps-root-empty", "appsRoot: kubernetes/apps", "appsRoot: ''", "repo.appsRoot", "empty"),
    Reject("paths", "apps-root-git", "appsRoot: kubernetes/apps", "appsRoot: .git/hooks", "repo.appsRoot", ".git"),
    Reject("paths", "root-missing", "  root: .", "  root: does-not-exist", "repo.root", "not an existing folder"),
    Reject("paths", "root-absolute", "  root: .", "  root: /etc", "repo.root", "not absolute"),
    Reject("paths", "root-is-a-file", "  root: .", "  root: velero-gitops.yaml", "repo.root", "not an existing folder"),
    Reject("paths", "namespace-parent", "  namespace: velero", "  namespace: ../x", "repo.namespace", "not a valid Kubernetes name"),
    Reject("paths", "namespace-newline", "  namespace: velero", '  namespace: "velero\\n"', "repo.namespace", "not a valid Kubernetes name"),
    Reject("paths", "namespace-slash", "  namespace: velero", "  namespace: velero/x", "repo.namespace", "not a valid Kubernetes name"),
    Reject("paths", "app-parent", "  app: velero", "  app: ../../x", "repo.app", "not a valid Kubernetes name"),
    Reject("paths", "app-54", "  app: velero", "  app: " + "a" * 54, "repo.app", "at most 53"),
    Reject("paths", "app-dot", "  app: velero", "  app: .", "repo.app", "not a valid Kubernetes name"),
    Reject("paths", "schedule-kustomization", "  - name: daily", "  - name: kustomization", "schedules[0].name", "kustomization.yaml"),
    Reject("paths", "schedule-parent", "  - name: daily", "  - name: ../daily", "schedules[0].name", "not a valid schedule name"),
    Reject("paths", "schedule-block-scalar", "  - name: daily", "  - name: |\n      daily", "schedules[0].name", "not a valid schedule name"),
    Reject("paths", "ca-outside", *ca("../outside-ca.pem"), "s3.caBundle", "outside",
           files={"outside-ca.pem": CERT}),
    Reject("paths", "ca-absolute", *ca("/etc/ssl/certs/ca-certificates.crt"), "s3.caBundle", "not absolute"),
    Reject("paths", "ca-symlink-outside", *ca("ca.pem"), "s3.caBundle", "outside",
           files={"outside-ca.pem": CERT, "repo/ca.pem": ("symlink", "../outside-ca.pem")}),
    Reject("paths", "ca-symlink-dev-zero", *ca("ca.pem"), "s3.caBundle", "outside",
           files={"repo/ca.pem": ("symlink", "/dev/zero")}),
    Reject("paths", "ca-fifo", *ca("ca.pem"), "s3.caBundle", "only regular files are read", files={"repo/ca.pem": ("fifo",)}),
    Reject("paths", "ca-directory", *ca("ca.pem"), "s3.caBundle", "only regular files are read", files={"repo/ca.pem": ("dir",)}),
    Reject("paths", "ca-missing", *ca("nope.pem"), "s3.caBundle", "No such file"),
    Reject("paths", "ca-too-large", *ca("ca.pem"), "s3.caBundle", "more than the limit", files={"repo/ca.pem": CERT * 2000}),
    Reject("paths", "ca-in-git", *ca(".git/ca.pem"), "s3.caBundle", ".git"),
    Reject("paths", "pod-volume-path-parent", "    distribution: talos", "    distribution: custom\n    podVolumePath: /var/lib/../../etc",
           "velero.nodeAgent.podVolumePath", "without '..'", line="podVolumePath"),
    Reject("paths", "plugin-volume-path-newline", "    distribution: talos", '    distribution: talos\n    pluginVolumePath: "/var/lib/kubelet/plugins\\n"',
           "velero.nodeAgent.pluginVolumePath", "control characters", line="pluginVolumePath"),
    Reject("paths", "prefix-parent", "  prefix: velero", "  prefix: velero/../x", "s3.prefix", "not a clean prefix"),
    Reject("paths", "prefix-newline", "  prefix: velero", '  prefix: "velero\\n"', "s3.prefix", "not a clean prefix"),
    # ----------------------------------------------------------------------------------------- caBundle
    Reject("caBundle", "ca-with-private-key", *ca(), "s3.caBundle", "EC PRIVATE KEY", files={"repo/ca.pem": CERT + KEY}),
    Reject("caBundle", "ca-key-first", *ca(), "s3.caBundle", "PRIVATE KEY", files={"repo/ca.pem": KEY + CERT}),
    Reject("caBundle", "ca-rsa-key-only", *ca(), "s3.caBundle", "RSA PRIVATE KEY", files={"repo/ca.pem": RSA_KEY}),
    Reject("caBundle", "ca-pkcs8-key", *ca(), "s3.caBundle", "PRIVATE KEY", files={"repo/ca.pem": CERT + pem_block("PRIVATE KEY")}),
    Reject("caBundle", "ca-encrypted-key", *ca(), "s3.caBundle", "ENCRYPTED PRIVATE KEY",
           files={"repo/ca.pem": CERT + pem_block("ENCRYPTED PRIVATE KEY")}),
    Reject("caBundle", "ca-key-without-end", *ca(), "s3.caBundle", "PRIVATE KEY",
           files={"repo/ca.pem": CERT + b"-----BEGIN PRIVATE KEY-----\nMIIE\n"}),
    Reject("caBundle", "ca-public-key", *ca(), "s3.caBundle", "PUBLIC KEY block", files={"repo/ca.pem": CERT + pem_block("PUBLIC KEY")}),
    Reject("caBundle", "ca-csr", *ca(), "s3.caBundle", "CERTIFICATE REQUEST block",
           files={"repo/ca.pem": CERT + pem_block("CERTIFICATE REQUEST")}),
    Reject("caBundle", "ca-truncated", *ca(), "s3.caBundle", "no matching", files={"repo/ca.pem": CERT[: len(CERT) // 2]}),
    Reject("caBundle", "ca-bad-base64", *ca(), "s3.caBundle", "not valid base64",
           files={"repo/ca.pem": pem_block("CERTIFICATE", b"not*base64!")}),
    Reject("caBundle", "ca-not-der", *ca(), "s3.caBundle", "not an X.509 certificate",
           files={"repo/ca.pem": pem_block("CERTIFICATE", b"aGVsbG8=")}),
    Reject("caBundle", "ca-der", *ca(), "s3.caBundle", "no -----BEGIN CERTIFICATE", files={"repo/ca.pem": b"\x30\x82\x01\x0a" * 20}),
    Reject("caBundle", "ca-empty", *ca(), "s3.caBundle", "no -----BEGIN CERTIFICATE", files={"repo/ca.pem": b""}),
    # -------------------------------------------------------------------------------------------- names
    Reject("names", "cluster-upper", "cluster: home-lab", "cluster: Home-Lab", "cluster", "not a valid cluster name"),
    Reject("names", "cluster-newline", "cluster: home-lab", 'cluster: "home-lab\\n"', "cluster", "not a valid cluster name"),
    Reject("names", "cluster-254", "cluster: home-lab", "cluster: " + "c." * 126 + "cc", "cluster", "at most 253"),
    Reject("names", "cluster-double-dot", "cluster: home-lab", "cluster: home..lab", "cluster", "not a valid cluster name"),
    Reject("names", "cluster-empty", "cluster: home-lab", "cluster: ''", "cluster", "empty"),
    Reject("names", "schedule-upper", "  - name: daily", "  - name: Daily", "schedules[0].name", "not a valid schedule name"),
    Reject("names", "schedule-49", "  - name: daily", "  - name: " + "d" * 49, "schedules[0].name", "at most 48"),
    Reject("names", "schedule-dash", "  - name: daily", "  - name: -daily", "schedules[0].name", "not a valid schedule name"),
    Reject("names", "schedule-unicode", "  - name: daily", "  - name: dailý", "schedules[0].name", "not a valid schedule name"),
    Reject("names", "depends-on-upper", "    - name: openebs", "    - name: OpenEBS", "flux.dependsOn[0].name", "not a valid Kustomization name"),
    Reject("names", "flux-namespace", "flux:\n", "flux:\n  namespace: flux_system\n", "flux.namespace", "not a valid namespace name"),
    Reject("names", "source-name", "flux:\n", "flux:\n  sourceRef: {name: Flux System}\n", "flux.sourceRef.name", "not a valid source name"),
    Reject("names", "secret-ref-empty", "flux:\n", "flux:\n  decryption: {secretRef: ''}\n", "flux.decryption.secretRef", "empty"),
    Reject("names", "secret-ref-upper", "flux:\n", "flux:\n  decryption: {secretRef: Sops-Age}\n", "flux.decryption.secretRef", "not a valid Secret name"),
    Reject("names", "credentials-secret", "  bucket: velero-backups", "  bucket: velero-backups\n  credentialsSecret: a b",
           "s3.credentialsSecret", "not a valid Secret name", line="credentialsSecret"),
    Reject("names", "bucket-underscore", "  bucket: velero-backups", "  bucket: velero_backups", "s3.bucket", "not a valid S3 bucket name"),
    Reject("names", "bucket-newline", "  bucket: velero-backups", '  bucket: "velero-backups\\n"', "s3.bucket", "not a valid S3 bucket name"),
    Reject("names", "chart-version-newline", "chartVersion: 12.1.0", 'chartVersion: "12.1.0\\n"', "velero.chartVersion", "not a chart version"),
    Reject("names", "image-tag-unicode-digit", "imageTag: v1.18.2", "imageTag: v1.١8.2", "velero.imageTag", "not a Velero image tag"),
    Reject("names", "storage-location", "    ttl: 720h", "    ttl: 720h\n    storageLocation: Default", "schedules[0].storageLocation",
           "not a valid BackupStorageLocation name", line="storageLocation"),
    Reject("names", "dashboard-label", "metrics:\n", "metrics:\n  dashboard: {label: grafana dashboard}\n", "metrics.dashboard.label", "label key"),
    # ------------------------------------------------------------------------------------------- labels
    Reject("labels", "node-selector-empty-name", "      kubernetes.io/os: linux", "      kubernetes.io/: linux", "velero.nodeAgent.nodeSelector.kubernetes.io/", "label key"),
    Reject("labels", "node-selector-empty-prefix", "      kubernetes.io/os: linux", "      /os: linux", "velero.nodeAgent.nodeSelector./os", "prefix"),
    Reject("labels", "node-selector-dash", "      kubernetes.io/os: linux", "      -os: linux", "velero.nodeAgent.nodeSelector.-os", "label key"),
    Reject("labels", "node-selector-upper-prefix", "      kubernetes.io/os: linux", "      Kubernetes.IO/os: linux", "velero.nodeAgent.nodeSelector.Kubernetes.IO/os", "prefix"),
    Reject("labels", "node-selector-two-slashes", "      kubernetes.io/os: linux", "      a/b/c: linux", "velero.nodeAgent.nodeSelector.a/b/c", "prefix"),
    Reject("labels", "node-selector-long-name", "      kubernetes.io/os: linux", "      kubernetes.io/" + "o" * 64 + ": linux", "velero.nodeAgent.nodeSelector.kubernetes.io/" + "o" * 64, "1 to 63"),
    Reject("labels", "node-selector-value-space", "      kubernetes.io/os: linux", "      kubernetes.io/os: linux amd64", "velero.nodeAgent.nodeSelector.kubernetes.io/os", "value"),
    Reject("labels", "node-selector-value-64", "      kubernetes.io/os: linux", "      kubernetes.io/os: " + "l" * 64, "velero.nodeAgent.nodeSelector.kubernetes.io/os", "at most 63"),
    Reject("labels", "node-selector-value-dash", "      kubernetes.io/os: linux", "      kubernetes.io/os: -linux", "velero.nodeAgent.nodeSelector.kubernetes.io/os", "value"),
    Reject("labels", "node-selector-value-newline", "      kubernetes.io/os: linux", '      kubernetes.io/os: "linux\\n"', "velero.nodeAgent.nodeSelector.kubernetes.io/os", "value"),
    Reject("labels", "node-selector-value-int", "      kubernetes.io/os: linux", "      kubernetes.io/os: 1", "velero.nodeAgent.nodeSelector.kubernetes.io/os", "YAML reads 1 as a number: quote it ('1')"),
    Reject("labels", "match-labels-key-space", 'matchLabels: {backup: "true"}', 'matchLabels: {back up: "true"}', "schedules[0].labelSelector.matchLabels.back up", "label key"),
    Reject("labels", "match-labels-value-bang", 'matchLabels: {backup: "true"}', 'matchLabels: {backup: "yes!"}', "schedules[0].labelSelector.matchLabels.backup", "value"),
    Reject("labels", "match-labels-unicode", 'matchLabels: {backup: "true"}', 'matchLabels: {bäckup: "true"}', "schedules[0].labelSelector.matchLabels.bäckup", "label key"),
    Reject("labels", "additional-labels-prefix", "    release: kube-prometheus-stack", "    /release: kube-prometheus-stack", "metrics.additionalLabels./release", "prefix"),
    Reject("labels", "additional-labels-value", "    release: kube-prometheus-stack", "    release: kube prometheus", "metrics.additionalLabels.release", "value"),
    Reject("labels", "additional-labels-dot-end", "    release: kube-prometheus-stack", "    release.: kube-prometheus-stack", "metrics.additionalLabels.release.", "label key"),
    # --------------------------------------------------------------------------------------------- cron
    Reject("cron", "cron-31-feb", '"0 2 * * *"', '"0 2 31 2 *"', "schedules[0].cron", "never fires"),
    Reject("cron", "cron-30-feb", '"0 2 * * *"', '"0 2 30 2 *"', "schedules[0].cron", "never fires"),
    Reject("cron", "cron-31-apr", '"0 2 * * *"', '"0 2 31 4 *"', "schedules[0].cron", "never fires"),
    Reject("cron", "cron-31-short-months", '"0 2 * * *"', '"0 2 31 4,6,9,11 *"', "schedules[0].cron", "never fires"),
    Reject("cron", "cron-31-feb-step-1-dow", '"0 2 * * *"', '"0 2 31 2 */1"', "schedules[0].cron", "never fires"),
    Reject("cron", "cron-dow-7", '"0 2 * * *"', '"0 2 * * 7"', "schedules[0].cron", "Sunday is 0"),
    Reject("cron", "cron-arabic-digit", '"0 2 * * *"', '"٠ 2 * * *"', "schedules[0].cron", "not a number"),
    Reject("cron", "cron-fullwidth-digit", '"0 2 * * *"', '"0 ２ * * *"', "schedules[0].cron", "not a number"),
    Reject("cron", "cron-superscript", '"0 2 * * *"', '"0 ² * * *"', "schedules[0].cron", "not a number"),
    Reject("cron", "cron-unicode-step", '"0 2 * * *"', '"*/٥ 2 * * *"', "schedules[0].cron", "positive number"),
    Reject("cron", "cron-every-30s", '"0 2 * * *"', '"@every 30s"', "schedules[0].cron", "at least 1m"),
    Reject("cron", "cron-every-day", '"0 2 * * *"', '"@every 1d"', "schedules[0].cron", "720h"),
    Reject("cron", "cron-every-unicode", '"0 2 * * *"', '"@every ١h"', "schedules[0].cron", "not a duration"),
    Reject("cron", "cron-every-no-space", '"0 2 * * *"', '"@every6h"', "schedules[0].cron", "one space"),
    Reject("cron", "cron-descriptor", '"0 2 * * *"', '"@weekly2"', "schedules[0].cron", "unknown descriptor"),
    Reject("cron", "cron-four-fields", '"0 2 * * *"', '"0 2 * *"', "schedules[0].cron", "expected 5 fields"),
    Reject("cron", "cron-six-fields", '"0 2 * * *"', '"0 0 2 * * *"', "schedules[0].cron", "expected 5 fields"),
    Reject("cron", "cron-minute-60", '"0 2 * * *"', '"60 2 * * *"', "schedules[0].cron", "minute 60 > 59"),
    Reject("cron", "cron-backwards", '"0 2 * * *"', '"0 2 5-1 * *"', "schedules[0].cron", "backwards"),
    Reject("cron", "cron-step-zero", '"0 2 * * *"', '"*/0 2 * * *"', "schedules[0].cron", "positive number"),
    Reject("cron", "cron-month-name", '"0 2 * * *"', '"0 2 * JANUARY *"', "schedules[0].cron", "not a number"),
    Reject("cron", "cron-tz", '"0 2 * * *"', '"TZ=America/New_York 0 2 * * *"', "schedules[0].cron", "UTC"),
    Reject("cron", "cron-empty", '"0 2 * * *"', '""', "schedules[0].cron", "empty"),
    Reject("cron", "cron-plus-sign", '"0 2 * * *"', '"+0 2 * * *"', "schedules[0].cron", "not a number"),
    # ---------------------------------------------------------------------------------------- durations
    Reject("durations", "ttl-days", "    ttl: 720h", "    ttl: 30d", "schedules[0].ttl", "720h for 30 days"),
    Reject("durations", "ttl-space", "    ttl: 720h", "    ttl: 720 h", "schedules[0].ttl", "not a duration"),
    Reject("durations", "ttl-arabic", "    ttl: 720h", "    ttl: ٧٢٠h", "schedules[0].ttl", "not a duration"),
    Reject("durations", "ttl-newline", "    ttl: 720h", '    ttl: "720h\\n"', "schedules[0].ttl", "not a duration"),
    Reject("durations", "ttl-zero", "    ttl: 720h", "    ttl: 0s", "schedules[0].ttl", "positive"),
    Reject("durations", "ttl-negative", "    ttl: 720h", "    ttl: -1h", "schedules[0].ttl", "negative"),
    Reject("durations", "ttl-overflow", "    ttl: 720h", "    ttl: 9999999999h", "schedules[0].ttl", "292 years"),
    Reject("durations", "ttl-dot-only", "    ttl: 720h", "    ttl: .h", "schedules[0].ttl", "not a duration"),
    Reject("durations", "default-ttl-year", "defaultBackupTtl: 720h", "defaultBackupTtl: 1y", "velero.defaultBackupTtl", "not a duration"),
    Reject("durations", "default-ttl-unit-missing", "defaultBackupTtl: 720h", "defaultBackupTtl: '720'", "velero.defaultBackupTtl", "not a duration"),
    Reject("durations", "fs-timeout-unicode", "defaultBackupTtl: 720h", "defaultBackupTtl: 720h\n  fsBackupTimeout: ４h",
           "velero.fsBackupTimeout", "not a duration", line="fsBackupTimeout"),
    Reject("durations", "flux-interval-zero", "  interval: 1h", "  interval: 0s", "flux.interval", "reconciling"),
    Reject("durations", "flux-interval-zero-parts", "  interval: 1h", "  interval: 0h0m", "flux.interval", "reconciling"),
    Reject("durations", "flux-interval-newline", "  interval: 1h", '  interval: "1h\\n"', "flux.interval", "Flux duration"),
    Reject("durations", "flux-interval-upper", "  interval: 1h", "  interval: 1.5H", "flux.interval", "Flux duration"),
    Reject("durations", "flux-interval-arabic", "  interval: 1h", "  interval: ١h", "flux.interval", "Flux duration"),
    Reject("durations", "flux-interval-micro", "  interval: 1h", "  interval: 10us", "flux.interval", "Flux duration"),
    Reject("durations", "flux-timeout-short", "  interval: 1h", "  interval: 1h\n  timeout: 5m", "flux.timeout", "at least 10m", line="timeout"),
    Reject("durations", "chart-interval-zero", "  interval: 1h", "  interval: 1h\n  chartSource: {interval: 0m}", "flux.chartSource.interval",
           "reconciling", line="chartSource"),
    Reject("durations", "missed-margin-space", "metrics:\n", "metrics:\n  missedBackupMargin: 1 h\n", "metrics.missedBackupMargin", "not a duration"),
    # --------------------------------------------------------------------------------------- quantities
    Reject("quantities", "memory-three-dots", "limits: {memory: 512Mi}", "limits: {memory: 1.2.3Gi}", "velero.resources.limits.memory", "not a Kubernetes quantity"),
    Reject("quantities", "cpu-space", "requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: 100 m, memory: 128Mi}", "velero.resources.requests.cpu", "not a Kubernetes quantity"),
    Reject("quantities", "memory-gb", "limits: {memory: 512Mi}", "limits: {memory: 1.5GB}", "velero.resources.limits.memory", "not a Kubernetes quantity"),
    Reject("quantities", "cpu-negative", "requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: -100m, memory: 128Mi}", "velero.resources.requests.cpu", "negative"),
    Reject("quantities", "memory-inf", "limits: {memory: 512Mi}", "limits: {memory: .inf}", "velero.resources.limits.memory", "infinite or not-a-number"),
    Reject("quantities", "memory-nan", "limits: {memory: 512Mi}", "limits: {memory: .nan}", "velero.resources.limits.memory", "infinite or not-a-number"),
    Reject("quantities", "cpu-bare-exponent", "requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: 1e, memory: 128Mi}", "velero.resources.requests.cpu", "not a Kubernetes quantity"),
    Reject("quantities", "memory-lower-mi", "limits: {memory: 512Mi}", "limits: {memory: 512mi}", "velero.resources.limits.memory", "not a Kubernetes quantity"),
    Reject("quantities", "memory-arabic", "limits: {memory: 512Mi}", "limits: {memory: ٥١٢Mi}", "velero.resources.limits.memory", "not a Kubernetes quantity"),
    Reject("quantities", "memory-yaml-overflow", "limits: {memory: 512Mi}", "limits: {memory: 1e99999999999}", "velero.resources.limits.memory", "infinite or not-a-number"),
    Reject("quantities", "memory-huge-exponent", "limits: {memory: 512Mi}", "limits: {memory: '1e99999999999'}", "velero.resources.limits.memory", "out of range"),
    Reject("quantities", "memory-dot-only", "limits: {memory: 512Mi}", "limits: {memory: .Mi}", "velero.resources.limits.memory", "not a Kubernetes quantity"),
    Reject("quantities", "memory-bool", "limits: {memory: 512Mi}", "limits: {memory: true}", "velero.resources.limits.memory", "quantity"),
    Reject("quantities", "request-over-limit", "requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: 100m, memory: 1Gi}", "velero.resources.requests.memory", "larger than its limit"),
    Reject("quantities", "budget-word", "    distribution: talos", "    distribution: talos\n    budget: {memory: lots}", "velero.nodeAgent.budget.memory",
           "not a Kubernetes quantity", line="budget"),
    # ---------------------------------------------------------------------------------------- endpoints
    Reject("endpoints", "endpoint-userinfo", "https://s3.68cc.io", f"https://user:{SECRET}@s3.68cc.io", "s3.endpoint", "user name or password"),
    Reject("endpoints", "endpoint-userinfo-path", "https://s3.68cc.io", f"https://user:{SECRET}@s3.68cc.io/velero", "s3.endpoint", "user name or password"),
    Reject("endpoints", "endpoint-userinfo-slash", "https://s3.68cc.io", f"https://user:{SECRET}/x@s3.68cc.io", "s3.endpoint", "user name or password"),
    Reject("endpoints", "endpoint-user-only", "https://s3.68cc.io", "https://admin@s3.68cc.io", "s3.endpoint", "user name or password"),
    Reject("endpoints", "endpoint-port-0", "https://s3.68cc.io", "https://s3.68cc.io:0", "s3.endpoint", "1 to 65535"),
    Reject("endpoints", "endpoint-port-70000", "https://s3.68cc.io", "https://s3.68cc.io:70000", "s3.endpoint", "1 to 65535"),
    Reject("endpoints", "endpoint-port-word", "https://s3.68cc.io", "https://s3.68cc.io:https", "s3.endpoint", "1 to 65535"),
    Reject("endpoints", "endpoint-port-empty", "https://s3.68cc.io", "'https://s3.68cc.io:'", "s3.endpoint", "1 to 65535"),
    Reject("endpoints", "endpoint-port-arabic", "https://s3.68cc.io", "https://s3.68cc.io:٩٠٠٠", "s3.endpoint", "1 to 65535"),
    Reject("endpoints", "endpoint-ftp", "https://s3.68cc.io", "ftp://s3.68cc.io", "s3.endpoint", "not an endpoint URL"),
    Reject("endpoints", "endpoint-no-host", "https://s3.68cc.io", "'https://'", "s3.endpoint", "not an endpoint URL"),
    Reject("endpoints", "endpoint-newline", "https://s3.68cc.io", '"https://s3.68cc.io\\n"', "s3.endpoint", "control character"),
    Reject("endpoints", "endpoint-tab", "https://s3.68cc.io", '"https://s3.\\t68cc.io"', "s3.endpoint", "control character"),
    Reject("endpoints", "endpoint-query", "https://s3.68cc.io", "https://s3.68cc.io?x=1", "s3.endpoint", "has a query string"),
    Reject("endpoints", "endpoint-fragment", "https://s3.68cc.io", "https://s3.68cc.io#x", "s3.endpoint", "has a fragment"),
    Reject("endpoints", "endpoint-ipv6-open", "https://s3.68cc.io", "https://[::1", "s3.endpoint", "not an endpoint URL"),
    Reject("endpoints", "endpoint-host-chars", "https://s3.68cc.io", "https://s3.68cc.io%2f", "s3.endpoint", "DNS name"),
    Reject("endpoints", "region-empty", "  region: minio", "  region: ''", "s3.region", "needs one"),
    Reject("endpoints", "region-space", "  region: minio", "  region: us east", "s3.region", "not a region"),
    Reject("endpoints", "region-newline", "  region: minio", '  region: "minio\\n"', "s3.region", "not a region"),
    # ------------------------------------------------------------------------------------------- URLs
    # A newline in schemaBaseUrl used to start a line of YAML content under the `$schema=` comment.
    Reject("urls", "schema-url-newline", "  app: velero", '  app: velero\n  schemaBaseUrl: "https://x.example\\napiVersion: evil/v1"',
           "repo.schemaBaseUrl", "newline", line="schemaBaseUrl"),
    Reject("urls", "schema-url-http", "  app: velero", "  app: velero\n  schemaBaseUrl: http://x.example", "repo.schemaBaseUrl", "https://",
           line="schemaBaseUrl"),
    Reject("urls", "schema-url-space", "  app: velero", "  app: velero\n  schemaBaseUrl: https://x.example/a b", "repo.schemaBaseUrl", "space",
           line="schemaBaseUrl"),
    Reject("urls", "chart-url-newline", "flux:\n", 'flux:\n  chartSource: {url: "https://charts.example.com\\n#"}\n', "flux.chartSource.url", "newline"),
    Reject("urls", "chart-url-no-host", "flux:\n", "flux:\n  chartSource: {url: 'https:///charts'}\n", "flux.chartSource.url", "with a host"),
    Reject("urls", "runbook-url-newline", "metrics:\n", 'metrics:\n  runbookUrl: "https://wiki.example/runbooks\\nx"\n', "metrics.runbookUrl", "newline"),
    Reject("urls", "runbook-url-ftp", "metrics:\n", "metrics:\n  runbookUrl: ftp://wiki.example/runbooks\n", "metrics.runbookUrl", "https://"),
    Reject("urls", "plugin-image-newline", "awsPluginImage: velero/velero-plugin-for-aws:v1.14.3",
           'awsPluginImage: "velero/velero-plugin-for-aws:v1.14.3\\n"', "velero.awsPluginImage", "not an image reference"),
    Reject("urls", "plugin-image-space", "awsPluginImage: velero/velero-plugin-for-aws:v1.14.3",
           "awsPluginImage: velero/velero-plugin-for-aws:v1.14.3 latest", "velero.awsPluginImage", "not an image reference"),
    Reject("urls", "plugin-image-untagged", "awsPluginImage: velero/velero-plugin-for-aws:v1.14.3",
           "awsPluginImage: velero/velero-plugin-for-aws", "velero.awsPluginImage", "no tag"),
    # -------------------------------------------------------------------------------------- tolerations
    Reject("tolerations", "exists-with-value", "        operator: Exists\n", "        operator: Exists\n        value: 'true'\n",
           "velero.nodeAgent.tolerations[0].value", "must be empty with operator Exists"),
    Reject("tolerations", "empty-key-equal", "      - key: node-role.kubernetes.io/control-plane\n        operator: Exists",
           "      - operator: Equal\n        value: x", "velero.nodeAgent.tolerations[0].operator", "must be Exists when key is empty"),
    Reject("tolerations", "empty-key-no-operator", "      - key: node-role.kubernetes.io/control-plane\n        operator: Exists\n",
           "      - value: x\n", "velero.nodeAgent.tolerations[0].operator", "must be Exists when key is empty"),
    Reject("tolerations", "seconds-without-noexecute", "        effect: NoSchedule", "        effect: NoSchedule\n        tolerationSeconds: 30",
           "velero.nodeAgent.tolerations[0].effect", "NoExecute", line="effect: NoSchedule"),
    Reject("tolerations", "bad-key", "      - key: node-role.kubernetes.io/control-plane", "      - key: node role",
           "velero.nodeAgent.tolerations[0].key", "not a valid taint key"),
    Reject("tolerations", "bad-value", "        operator: Exists\n", "        operator: Equal\n        value: a b\n",
           "velero.nodeAgent.tolerations[0].value", "not a valid taint value", line="value: a b"),
    Reject("tolerations", "long-value", "        operator: Exists\n", "        operator: Equal\n        value: " + "v" * 64 + "\n",
           "velero.nodeAgent.tolerations[0].value", "at most 63", line="value: vvv"),
    Reject("tolerations", "operator-in", "        operator: Exists", "        operator: In", "velero.nodeAgent.tolerations[0].operator", "'Exists' or 'Equal'"),
    Reject("tolerations", "effect-unknown", "        effect: NoSchedule", "        effect: NoRun", "velero.nodeAgent.tolerations[0].effect", "NoSchedule"),
    # ------------------------------------------------------------------------------------- flux fields
    Reject("flux", "key-from-file", "flux:\n", "flux:\n  decryption: {keyFrom: file}\n", "flux.decryption.keyFrom", "'secretRef' or 'controller'"),
    Reject("flux", "chart-url-http", "flux:\n", "flux:\n  chartSource: {url: 'http://charts.example.com'}\n", "flux.chartSource.url", "https://"),
    Reject("flux", "chart-url-oci", "flux:\n", "flux:\n  chartSource: {type: OCIRepository, url: 'https://x.example.com'}\n", "flux.chartSource.url", "oci://"),
    Reject("flux", "source-kind", "flux:\n", "flux:\n  sourceRef: {kind: HelmRepository}\n", "flux.sourceRef.kind", "GitRepository"),
    Reject("flux", "source-namespace", "flux:\n", "flux:\n  sourceRef: {namespace: Flux}\n", "flux.sourceRef.namespace", "not a valid namespace name"),
    # helm-controller reads retries as a Go int: any value in its range, negative = forever
    # (fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go RetriesExhausted); beyond int32 the arm/v7 build cannot
    Reject("flux", "retries-over-go-int", "flux:\n", "flux:\n  remediation: {retries: 2147483648}\n", "flux.remediation.retries",
           "less than or equal to 2147483647"),
    Reject("flux", "depends-on-namespace", "      namespace: flux-system", "      namespace: Flux", "flux.dependsOn[0].namespace", "not a valid namespace name"),
    # --------------------------------------------------------------------------------- include/exclude
    Reject("includes", "star-and-name", "[monitoring, database, network]", "['*', monitoring]", "schedules[0].namespaces", "'*' alone"),
    Reject("includes", "name-and-star", "[monitoring, database, network]", "[monitoring, '*']", "schedules[0].namespaces", "'*' alone"),
    Reject("includes", "no-namespaces", "[monitoring, database, network]", "[]", "schedules[0].namespaces", "at least one namespace"),
    Reject("includes", "glob-unclosed", "[monitoring, database, network]", "['network-[ab']", "schedules[0].namespaces[0]", "no matching ']'"),
    Reject("includes", "glob-upper", "[monitoring, database, network]", "['Network-*']", "schedules[0].namespaces[0]", "not a valid namespace name"),
    Reject("includes", "namespace-twice", "[monitoring, database, network]", "[monitoring, monitoring]", "schedules[0].namespaces[1]", "listed twice"),
    Reject("includes", "included-namespace-newline", "[monitoring, database, network]", '["monitoring\\n"]', "schedules[0].namespaces[0]", "not a valid namespace name"),
    Reject("includes", "excluded-star", "excludedResources: [events]", "excludedResources: ['*']", "schedules[0].excludedResources", "cannot contain '*'"),
    Reject("includes", "excluded-space", "excludedResources: [events]", "excludedResources: ['events ']", "schedules[0].excludedResources[0]", "not a resource name"),
    Reject("includes", "excluded-empty", "excludedResources: [events]", "excludedResources: ['']", "schedules[0].excludedResources[0]", "not a resource name"),
    # -------------------------------------------------------------------------------------------- semantics
    Reject("semantics", "ttl-half-of-daily", "    ttl: 720h", "    ttl: 12h", "schedules[0].ttl", "shorter than the longest gap"),
    Reject("semantics", "ttl-inherited-short", "    ttl: 720h\n", "", "schedules[0].cron", "inherited from velero.defaultBackupTtl",
           line='cron: "0 2', more=(("defaultBackupTtl: 720h", "defaultBackupTtl: 12h"),)),
    Reject("semantics", "ttl-weekly-6d", '"0 2 * * *"', '"0 2 * * 0"', "schedules[0].ttl", "(168h)", line="ttl: 144h",
           more=(("    ttl: 720h", "    ttl: 144h"),)),
    Reject("semantics", "ttl-every-6h", '"0 2 * * *"', '"@every 6h"', "schedules[0].ttl", "(6h)", line="ttl: 3h",
           more=(("    ttl: 720h", "    ttl: 3h"),)),
    Reject("semantics", "ttl-six-hourly", '"0 2 * * *"', '"0 */6 * * *"', "schedules[0].ttl", "(6h)", line="ttl: 5h",
           more=(("    ttl: 720h", "    ttl: 5h"),)),
    Reject("semantics", "ttl-uneven-cron", '"0 2 * * *"', '"0 2,3 * * *"', "schedules[0].ttl", "(23h)", line="ttl: 22h",
           more=(("    ttl: 720h", "    ttl: 22h"),)),
    Reject("semantics", "ttl-weekdays-weekend-gap", '"0 2 * * *"', '"0 2 * * 1-5"', "schedules[0].ttl", "(72h)", line="ttl: 48h",
           more=(("    ttl: 720h", "    ttl: 48h"),)),
    Reject("semantics", "ttl-monthly-30-days", '"0 2 * * *"', '"0 2 1 * *"', "schedules[0].ttl", "(744h)", line="ttl: 720h"),
    Reject("semantics", "gc-longer-than-ttl", "defaultBackupTtl: 720h", "defaultBackupTtl: 720h\n  garbageCollectionFrequency: 800h",
           "velero.garbageCollectionFrequency", "kept up to 1520h", line="garbageCollectionFrequency"),
    Reject("semantics", "gc-two-days-ttl-one", "    ttl: 720h", "    ttl: 30h", "velero.garbageCollectionFrequency", "longer than the ttl 30h",
           line="garbageCollectionFrequency", more=(("defaultBackupTtl: 720h", "defaultBackupTtl: 720h\n  garbageCollectionFrequency: 48h"),)),
    Reject("semantics", "storage-location-other", "    ttl: 720h", "    ttl: 720h\n    storageLocation: secondary",
           "schedules[0].storageLocation", "never rendered", line="storageLocation"),
    Reject("semantics", "storage-location-dotted", "    ttl: 720h", "    ttl: 720h\n    storageLocation: site-b.minio",
           "schedules[0].storageLocation", "a second location is not supported", line="storageLocation"),
    Reject("semantics", "depends-on-self", "    - name: openebs", "    - name: velero", "flux.dependsOn[0].name", "own Kustomization"),
    Reject("semantics", "depends-on-schedules", "    - name: openebs", "    - name: velero-schedules", "flux.dependsOn[0].name", "a cycle"),
    Reject("semantics", "depends-on-self-second", "      namespace: flux-system\n", "      namespace: flux-system\n    - name: velero\n",
           "flux.dependsOn[1].name", "own Kustomization", line="- name: velero"),
    Reject("semantics", "duplicate-after-unescape", "metrics:\n", '  - name: "\\x64aily"\n    cron: "0 3 * * *"\n    namespaces: [media]\nmetrics:\n',
           "schedules[1].name", "already used by schedules[0]", line='name: "\\x64aily"'),
    Reject("semantics", "duplicate-third", "metrics:\n", '  - name: weekly\n    cron: "0 3 * * 0"\n    namespaces: [media]\n'
           '  - name: daily  # again\n    cron: "0 4 * * *"\n    namespaces: [media]\nmetrics:\n',
           "schedules[2].name", "already used by schedules[0]", line="# again"),
    # ------------------------------------------------------------------------------------- velero rules
    Reject("velero", "glob-double-star", "[monitoring, database, network]", "['**']", "schedules[0].namespaces[0]", "'**'"),
    Reject("velero", "glob-negated-class", "[monitoring, database, network]", "['[!a]*']", "schedules[0].namespaces[0]", "not supported"),
    Reject("velero", "glob-braces", "[monitoring, database, network]", "['{a,b}']", "schedules[0].namespaces[0]", "not supported"),
    Reject("velero", "glob-pipe", "[monitoring, database, network]", "['a|b']", "schedules[0].namespaces[0]", "not supported"),
    Reject("velero", "glob-parens", "[monitoring, database, network]", "['(prod)']", "schedules[0].namespaces[0]", "not supported"),
    Reject("velero", "glob-comma", "[monitoring, database, network]", "['a,b']", "schedules[0].namespaces[0]", "not supported"),
    Reject("velero", "glob-empty-class", "[monitoring, database, network]", "['ns-[]']", "schedules[0].namespaces[0]", "empty"),
    Reject("velero", "glob-unmatched-close", "[monitoring, database, network]", "['ns-]']", "schedules[0].namespaces[0]", "no matching '['"),
    Reject("velero", "glob-upper-class", "[monitoring, database, network]", "['team-[A-Z]']", "schedules[0].namespaces[0]", "not a valid namespace name"),
    Reject("velero", "glob-dot-class", "[monitoring, database, network]", "['team-[.]']", "schedules[0].namespaces[0]", "not a valid namespace name"),
    Reject("velero", "glob-second-item", "[monitoring, database, network]", "[monitoring, '**']", "schedules[0].namespaces[1]", "'**'"),
    Reject("velero", "glob-third-item-block", "    namespaces: [monitoring, database, network]",
           "    namespaces:\n      - monitoring\n      - database\n      - 'db-[!x]'", "schedules[0].namespaces[2]", "not supported", line="db-["),
    Reject("velero", "namespace-twice-located", "[monitoring, database, network]", "[monitoring, database, monitoring]",
           "schedules[0].namespaces[2]", "listed twice"),
    Reject("velero", "resource-group-slash", "excludedResources: [events]", "excludedResources: ['apps/replicasets']",
           "schedules[0].excludedResources[0]", "'replicasets.apps'"),
    Reject("velero", "resource-gvr-path", "excludedResources: [events]", "excludedResources: ['apps/v1/deployments']",
           "schedules[0].excludedResources[0]", "'deployments.apps'"),
    Reject("velero", "resource-core-slash", "excludedResources: [events]", "excludedResources: ['v1/pods']",
           "schedules[0].excludedResources[0]", "write 'pods'"),
    Reject("velero", "resource-with-version", "excludedResources: [events]", "excludedResources: ['deployments.v1.apps']",
           "schedules[0].excludedResources[0]", "'deployments.apps'"),
    Reject("velero", "resource-beta-version", "excludedResources: [events]", "excludedResources: ['cronjobs.v1beta1.batch']",
           "schedules[0].excludedResources[0]", "'cronjobs.batch'"),
    Reject("velero", "resource-leading-dot", "excludedResources: [events]", "excludedResources: ['.apps']",
           "schedules[0].excludedResources[0]", "not a resource name"),
    Reject("velero", "resource-second-item", "excludedResources: [events]", "excludedResources: [events, 'apps/replicasets']",
           "schedules[0].excludedResources[1]", "resource.group"),
    Reject("velero", "velero-included-namespaces", "    namespaces: [monitoring", "    includedNamespaces: [monitoring",
           "schedules[0].includedNamespaces", "did you mean 'namespaces'? ('includedNamespaces' is Velero's name in a Schedule)"),
    Reject("velero", "velero-schedule-key", '    cron: "0 2 * * *"', '    schedule: "0 2 * * *"', "schedules[0].schedule", "did you mean 'cron'? ('schedule' is Velero's name in a Schedule)"),
    Reject("velero", "velero-hooks", "    ttl: 720h", "    ttl: 720h\n    hooks: {}", "schedules[0].hooks", "does not expose", line="hooks"),
    # excludedNamespaces is a schedule field (import carries it); '*' there is refused as Velero refuses it
    # (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go ValidateIncludesExcludes)
    Reject("velero", "velero-excluded-namespaces-star", "    ttl: 720h", "    ttl: 720h\n    excludedNamespaces: ['*']",
           "schedules[0].excludedNamespaces", "cannot contain '*'", line="excludedNamespaces"),
    Reject("velero", "velero-snapshot-volumes", "    ttl: 720h", "    ttl: 720h\n    snapshotVolumes: true",
           "schedules[0].snapshotVolumes", "does not expose", line="snapshotVolumes"),
    Reject("velero", "velero-included-resources", "    ttl: 720h", "    ttl: 720h\n    includedResources: [pods]",
           "schedules[0].includedResources", "does not expose", line="includedResources"),
    # --------------------------------------------------------------------------------- types
    # A quoted scalar is a string: Kubernetes' decoder (kubernetes-sigs/yaml@v1.4.0: YAML -> JSON -> encoding/json)
    # refuses "yes" for a bool and "3" for an int, and so does the loader (strict model). Held-out probe cases.
    Reject("types", "bool-quoted-yes", "  defaultBackupTtl: 720h", "  defaultBackupTtl: 720h\n  defaultVolumesToFsBackup: 'yes'",
           "velero.defaultVolumesToFsBackup", "write it without quotes"),
    Reject("types", "bool-quoted-false", "  region: minio", "  region: minio\n  forcePathStyle: 'false'",
           "s3.forcePathStyle", "write it without quotes"),
    Reject("types", "bool-from-int", "    ttl: 720h", "    ttl: 720h\n    paused: 1", "schedules[0].paused", "must be a boolean (true or false) (got 1)"),
    Reject("types", "int-quoted", "  interval: 1h", "  interval: 1h\n  remediation: {retries: '3'}",
           "flux.remediation.retries", "write it without quotes"),
    Reject("types", "float-quoted", "metrics:\n", "metrics:\n  successObjective: '0.9'\n",
           "metrics.successObjective", "write it without quotes"),
    # --------------------------------------------------------------------------------- kubernetes bounds
    Reject("bounds", "toleration-seconds-over-int64", "        effect: NoSchedule", "        effect: NoExecute\n        tolerationSeconds: 9223372036854775808",
           "velero.nodeAgent.tolerations[0].tolerationSeconds", "9223372036854775807", line="tolerationSeconds"),
    Reject("bounds", "toleration-seconds-under-int64", "        effect: NoSchedule", "        effect: NoExecute\n        tolerationSeconds: -9223372036854775809",
           "velero.nodeAgent.tolerations[0].tolerationSeconds", "-9223372036854775808", line="tolerationSeconds"),
    Reject("bounds", "toleration-empty-effect-seconds", "        effect: NoSchedule", "        effect: ''\n        tolerationSeconds: 30",
           "velero.nodeAgent.tolerations[0].effect", "NoExecute"),
    Reject("bounds", "schedule-double-dot", "  - name: daily", "  - name: daily..full", "schedules[0].name", "not a valid schedule name"),
    Reject("bounds", "schedule-trailing-dot", "  - name: daily", "  - name: daily.", "schedules[0].name", "not a valid schedule name"),
    Reject("bounds", "schedule-dot-dash", "  - name: daily", "  - name: daily.-full", "schedules[0].name", "not a valid schedule name"),
    Reject("bounds", "app-leading-digit", "  app: velero", "  app: 1velero", "repo.app", "must start with a letter"),
    Reject("bounds", "depends-on-double-dot", "    - name: openebs", "    - name: openebs..x", "flux.dependsOn[0].name", "not a valid Kustomization name"),
    Reject("bounds", "chart-version-leading-zero-oci", "flux:\n", "flux:\n  chartSource: {type: OCIRepository}\n", "velero.chartVersion",
           "not a chart version", line="chartVersion", more=(("chartVersion: 12.1.0", "chartVersion: 012.1.0"),)),
    Reject("bounds", "chart-version-leading-zero-minor", "chartVersion: 12.1.0", "chartVersion: 12.01.0", "velero.chartVersion", "not a chart version"),
    # vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml: image.digest replaces the tag in
    # the pod's image; a digest must be one go-digest validates (opencontainers/go-digest@v1.0.0:algorithm.go)
    Reject("bounds", "image-tag-digest-only", "imageTag: v1.18.2", "imageTag: 'sha256:" + "a" * 64 + "'", "velero.imageTag",
           "the version rules need the tag"),
    Reject("bounds", "image-tag-digest-short", "imageTag: v1.18.2", "imageTag: v1.18.2@sha256:" + "a" * 40, "velero.imageTag",
           "64 lowercase hex digits"),
    Reject("bounds", "image-tag-digest-upper", "imageTag: v1.18.2", "imageTag: v1.18.2@sha256:" + "A" * 64, "velero.imageTag",
           "64 lowercase hex digits"),
    Reject("bounds", "image-tag-leading-zero", "imageTag: v1.18.2", "imageTag: v01.18.2", "velero.imageTag", "not a Velero image tag"),
    Reject("bounds", "label-value-64-second", "      kubernetes.io/os: linux", "      kubernetes.io/os: linux\n      zone: " + "z" * 64,
           "velero.nodeAgent.nodeSelector.zone", "at most 63", line="zone:"),
    Reject("bounds", "label-key-bad-second", "      kubernetes.io/os: linux", "      kubernetes.io/os: linux\n      bad!key: x",
           "velero.nodeAgent.nodeSelector.bad!key", "label key", line="bad!key"),
    Reject("bounds", "additional-labels-second", "    release: kube-prometheus-stack", "    release: kube-prometheus-stack\n    team: " + "t" * 64,
           "metrics.additionalLabels.team", "at most 63", line="team:"),
    # ---------------------------------------------------------------------------------------- s3 addressing
    Reject("s3", "region-mismatch-aws", "https://s3.68cc.io", "https://s3.eu-west-1.amazonaws.com", "s3.region", "region: eu-west-1",
           line="region: us-east-1", more=(("  region: minio", "  region: us-east-1"),)),
    Reject("s3", "region-mismatch-minio-name", "https://s3.68cc.io", "https://s3.eu-west-1.amazonaws.com", "s3.region", "AuthorizationHeaderMalformed",
           line="region: minio"),
    Reject("s3", "region-dash-host", "https://s3.68cc.io", "https://s3-eu-west-1.amazonaws.com", "s3.region", "'eu-west-1'", line="region: minio"),
    Reject("s3", "region-dualstack-host", "https://s3.68cc.io", "https://s3.dualstack.us-west-2.amazonaws.com", "s3.region", "'us-west-2'",
           line="region: minio"),
    Reject("s3", "region-fips-host", "https://s3.68cc.io", "https://s3-fips.us-gov-west-1.amazonaws.com", "s3.region", "'us-gov-west-1'",
           line="region: minio"),
    Reject("s3", "region-wasabi-host", "https://s3.68cc.io", "https://s3.eu-central-1.wasabisys.com", "s3.region", "'eu-central-1'",
           line="region: minio"),
    Reject("s3", "region-upper-host", "https://s3.68cc.io", "https://S3.EU-WEST-1.AMAZONAWS.COM", "s3.region", "'eu-west-1'", line="region: minio"),
    Reject("s3", "bucket-in-host", "https://s3.68cc.io", "https://velero-backups.s3.68cc.io", "s3.endpoint", "https://s3.68cc.io"),
    Reject("s3", "bucket-in-host-port", "https://s3.68cc.io", "https://velero-backups.minio.lab:9000", "s3.endpoint", "https://minio.lab:9000"),
    Reject("s3", "bucket-in-host-upper", "https://s3.68cc.io", "https://Velero-Backups.s3.68cc.io", "s3.endpoint", "doubled bucket"),
    # ---------------------------------------------------------------------------------------------- tags
    Reject("tags", "binary-endpoint", "https://s3.68cc.io", "!!binary aHR0cHM6Ly9zMy42OGNjLmlv", "s3.endpoint", "!!binary"),
    Reject("tags", "binary-bucket", "  bucket: velero-backups", "  bucket: !!binary dmVsZXJvLWJhY2t1cHM=", "s3.bucket", "!!binary"),
    Reject("tags", "binary-verbatim", "https://s3.68cc.io", "!<tag:yaml.org,2002:binary> aHR0cHM6Ly9zMy42OGNjLmlv", "s3.endpoint", "!!binary"),
    Reject("tags", "custom-tag", "https://s3.68cc.io", "!env https://s3.68cc.io", "s3.endpoint", "unknown tag !env"),
    Reject("tags", "python-tag", "https://s3.68cc.io", "!!python/object/apply:os.system [id]", "s3.endpoint", "unknown tag"),
    Reject("tags", "set-tag", "[monitoring, database, network]", "!!set {monitoring, database}", "schedules[0].namespaces", "!!set"),
    Reject("tags", "omap-tag", 'matchLabels: {backup: "true"}', 'matchLabels: !!omap [{backup: "true"}]', "schedules[0].labelSelector.matchLabels", "!!omap"),
    Reject("tags", "custom-tag-in-list", "[monitoring, database, network]", "[monitoring, !ns database]", "schedules[0].namespaces[1]", "unknown tag !ns"),
    # ------------------------------------------------------------------------------------------ git paths
    Reject("gitpaths", "apps-root-Git", "appsRoot: kubernetes/apps", "appsRoot: .Git/apps", "repo.appsRoot", ".git"),
    Reject("gitpaths", "apps-root-GIT", "appsRoot: kubernetes/apps", "appsRoot: .GIT/apps", "repo.appsRoot", ".git"),
    Reject("gitpaths", "apps-root-nested-gIt", "appsRoot: kubernetes/apps", "appsRoot: kubernetes/.gIt", "repo.appsRoot", ".git"),
    Reject("gitpaths", "apps-root-ntfs-dot", "appsRoot: kubernetes/apps", "appsRoot: .git./apps", "repo.appsRoot", ".git"),
    Reject("gitpaths", "apps-root-ntfs-space", "appsRoot: kubernetes/apps", "appsRoot: '.git /apps'", "repo.appsRoot", ".git"),
    Reject("gitpaths", "apps-root-short-name", "appsRoot: kubernetes/apps", "appsRoot: GIT~1/apps", "repo.appsRoot", ".git"),
    Reject("gitpaths", "ca-in-Git", *ca(".Git/ca.pem"), "s3.caBundle", ".git"),
    # ------------------------------------------------------------------------------------------- messages
    Reject("messages", "typo-required-endpoint", "  endpoint: https://s3.68cc.io", "  endpont: https://s3.68cc.io", "s3.endpont",
           "unknown key 'endpont'; did you mean 'endpoint'?"),
    Reject("messages", "typo-required-cron", '    cron: "0 2 * * *"', '    crn: "0 2 * * *"', "schedules[0].crn", "unknown key 'crn'; did you mean 'cron'?"),
    Reject("messages", "typo-required-cluster", "cluster: home-lab", "clustr: home-lab", "clustr", "unknown key 'clustr'; did you mean 'cluster'?"),
    Reject("messages", "age-secret-key-as-recipient", "schedules:\n",
           "sops:\n  ageRecipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p, AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSTZ2ZPY]\nschedules:\n",
           "sops.ageRecipients[1]", "'<redacted>' is an age private key, not a recipient: treat it as leaked and rotate it",
           line="ageRecipients", secret="QYQSZQGPQYQS"),
    Reject("messages", "token-in-endpoint-query", "https://s3.68cc.io", "https://s3.68cc.io/?token=Sup3rS3cret", "s3.endpoint", "has a query string"),
    Reject("messages", "aws-secret-in-bucket", "  bucket: velero-backups", "  bucket: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "s3.bucket",
           "not a valid S3 bucket name", secret="bPxRfiCY"),
    # badcfg6 186/188/189/179/180: a credential reaches no rendered file, whatever the way in or the override; the
    # env var names are the AWS SDK's (aws/aws-sdk-go-v2@000ee9fe910b05167dae3bdb3a6e7a409339470d:config/env_config.go)
    Reject("messages", "env-list-secret-in-clear", "  chartVersion: 12.1.0\n",
           "  chartVersion: 12.1.0\n  extraValues:\n    configuration:\n      extraEnvVars:\n"
           "        - {name: TZ, value: UTC}\n        - name: AWS_SECRET_ACCESS_KEY\n"
           "          value: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
           "velero.extraValues.configuration.extraEnvVars[1].value", "a credential in clear", line="value: wJalr",
           secret="bPxRfiCY"),
    Reject("messages", "env-map-secret-overridden", "  chartVersion: 12.1.0\n",
           "  chartVersion: 12.1.0\n  extraValues:\n    credentials:\n      extraEnvVars:\n"
           "        AWS_SESSION_TOKEN: Sup3rS3cret\n  extraValuesOverride: [credentials.extraEnvVars.AWS_SESSION_TOKEN]\n",
           "velero.extraValues.credentials.extraEnvVars.AWS_SESSION_TOKEN", "whatever velero.extraValuesOverride lists",
           line="AWS_SESSION_TOKEN"),
    Reject("messages", "credentials-key-is-a-secret", "  region: minio\n",
           "  region: minio\n  credentialsFrom: external\n  credentialsKey: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n",
           "s3.credentialsKey", "looks like a credential, not a key name", line="credentialsKey", secret="bPxRfiCY"),
    Reject("messages", "credentials-key-dotdot", "  region: minio\n",
           "  region: minio\n  credentialsFrom: external\n  credentialsKey: ..cloud\n",
           "s3.credentialsKey", "is not a data key name", line="credentialsKey", secret="..cloud"),
    Reject("messages", "secret-key-no-did-you-mean", "  region: minio\n",
           "  region: minio\n  secretKey: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
           "s3.secretKey", "looks like a credential", line="secretKey", secret="bPxRfiCY"),
    # badcfg6 257: one located error for an appsRoot that a symlink leads out of the repository (check exits 2 too:
    # test_loader.test_apps_root_through_a_symlink_out_is_a_config_error_in_check)
    Reject("gitpaths", "apps-root-symlink-out", "appsRoot: kubernetes/apps", "appsRoot: link/apps", "repo.appsRoot",
           "is a symlink to", files={"repo/link": ("symlink", "/tmp")}),
    # badcfg6 033/045/047/060/064/067/069/072/078/206: what was typed, what YAML made of it, and the fix
    Reject("messages", "octal-prefix-shown-as-typed", "  prefix: velero", "  prefix: 0777", "s3.prefix",
           "YAML reads 0777 as a number: quote it ('0777')"),
    Reject("messages", "ttl-number-needs-unit", "    ttl: 720h", "    ttl: 720", "schedules[0].ttl",
           "quoted, it is refused too: '720' is not a duration such as 720h"),
    Reject("messages", "label-value-bool", 'matchLabels: {backup: "true"}', "matchLabels: {backup: true}",
           "schedules[0].labelSelector.matchLabels.backup", "YAML reads true as a boolean: quote it ('true')"),
    Reject("messages", "yaml11-no-is-no-boolean", "    ttl: 720h", "    ttl: 720h\n    paused: no", "schedules[0].paused",
           "YAML 1.2 (as Kubernetes) reads it as the string 'no': write false", line="paused"),
    Reject("messages", "tilde-is-no-value", "  prefix: velero", "  prefix: ~", "s3.prefix",
           "YAML reads ~ as no value: write the value, or '' for an empty string"),
    Reject("messages", "depends-on-as-strings", "    - name: openebs\n      namespace: flux-system", "    - openebs",
           "flux.dependsOn[0]", "must be a mapping of name, namespace (got openebs)"),
    Reject("messages", "colon-in-plain-value", "    release: kube-prometheus-stack\n",
           "    release: kube-prometheus-stack\n  dashboard:\n    folder: Backups: Velero\n", "metrics.dashboard",
           'quote the value, e.g. folder: "Backups: Velero"', line="folder"),
    Reject("messages", "at-cron-unquoted", '    cron: "0 2 * * *"', "    cron: @daily", "schedules[0].cron",
           'quote the value, e.g. cron: "@daily"'),
    Reject("messages", "dash-after-key", "namespaces: [monitoring, database, network]", "namespaces: - monitoring",
           "schedules[0].namespaces", "put each '- item' on its own line"),
    Reject("messages", "long-value-cut", "  bucket: velero-backups", "  bucket: " + "b" * 100_000, "s3.bucket", "(100000 characters)", max_len=400),
    Reject("messages", "long-key-cut", "  bucket: velero-backups", "  bucket: velero-backups\n  " + "k" * 1000 + ": 1", "s3." + "k" * 1000,
           "unknown key", line="kkkk", max_len=1400),
    Reject("messages", "check-schema-location-etc", "    release: kube-prometheus-stack\n", "    release: kube-prometheus-stack\ncheck:\n  schemaLocations: [/etc]\n",
           "check.schemaLocations[0]", "outside the repository", line="schemaLocations"),
    Reject("messages", "check-schema-location-parent", "    release: kube-prometheus-stack\n",
           "    release: kube-prometheus-stack\ncheck:\n  schemaLocations: [schemas, '../../{{.Group}}']\n",
           "check.schemaLocations[1]", "outside the repository", line="schemaLocations"),
    Reject("messages", "check-schema-location-url", "    release: kube-prometheus-stack\n",
           "    release: kube-prometheus-stack\ncheck:\n  schemaLocations: [schemas, 'https://x.example/{{.Group}}']\n",
           "check.schemaLocations[1]", "never downloads", line="schemaLocations"),
    Reject("messages", "check-externals-second", "    release: kube-prometheus-stack\n",
           "    release: kube-prometheus-stack\ncheck:\n  externals: [Kustomization/flux-system/openebs, openebs]\n",
           "check.externals[1]", "Kind/namespace/name", line="externals"),
    Reject("messages", "check-pattern-second", "    release: kube-prometheus-stack\n",
           "    release: kube-prometheus-stack\ncheck:\n  ignoreFilenamePatterns: ['^talos/', '(']\n",
           "check.ignoreFilenamePatterns[1]", "not a regular expression", line="ignoreFilenamePatterns"),
]

ACCEPT = [
    Accept("paths", "apps-root-dot-slash", "appsRoot: kubernetes/apps", "appsRoot: ./kubernetes/apps/"),
    Accept("paths", "app-53", "  app: velero", "  app: " + "a" * 53, files={"secret": "a" * 53}),
    Accept("paths", "ca-bundle-with-text", *ca(), files={"repo/ca.pem": b"subject=CN=lab CA\n" + CERT + b"# second\n" + _pem()[0]}),
    Accept("paths", "ca-bundle-subfolder-via-parent", *ca("certs/../ca.pem"), files={"repo/certs/README": b"CAs", "repo/ca.pem": CERT}),
    Accept("names", "schedule-48", "  - name: daily", "  - name: " + "d" * 48),
    Accept("names", "schedule-kustomize", "  - name: daily", "  - name: kustomize"),
    Accept("labels", "prefixed-values", "      kubernetes.io/os: linux", "      topology.kubernetes.io/zone: eu-1_a.b\n      empty: ''"),
    Accept("labels", "additional-labels-prefixed", "    release: kube-prometheus-stack", "    monitoring.example.com/scrape: 'true'"),
    # these crons run rarely: config/semantics.py wants a ttl of twice their longest gap (else no backup for months)
    Accept("cron", "cron-leap-day", '"0 2 * * *"', '"0 2 29 2 *"', more=(("    ttl: 720h", "    ttl: 70128h"),)),
    Accept("cron", "cron-31-feb-or-monday", '"0 2 * * *"', '"0 2 31 2 1"', more=(("    ttl: 720h", "    ttl: 16800h"),)),
    Accept("cron", "cron-31-feb-or-even-weekday", '"0 2 * * *"', '"0 2 31 2 */2"', more=(("    ttl: 720h", "    ttl: 16272h"),)),  # "*/2" is no star: dom OR dow
    Accept("cron", "cron-31-any-month", '"0 2 * * *"', '"0 2 31 * *"', more=(("    ttl: 720h", "    ttl: 2928h"),)),
    Accept("cron", "cron-names", '"0 2 * * *"', '"30 1 * jan-jun mon-fri"', more=(("    ttl: 720h", "    ttl: 8976h"),)),
    Accept("cron", "cron-every", '"0 2 * * *"', '"@every 6h30m"'),
    Accept("cron", "cron-question-mark", '"0 2 * * *"', '"0 2 ? * sun"'),
    Accept("durations", "ttl-fraction", "    ttl: 720h", "    ttl: 1.5h", more=(('"0 2 * * *"', '"*/30 * * * *"'),),
           warns="kept up to 2h30m"),
    Accept("durations", "ttl-micro-sign", "    ttl: 720h", "    ttl: 720h0m0.5µs"),
    Accept("durations", "flux-interval-composite", "  interval: 1h", "  interval: 10m30s"),
    Accept("quantities", "quantity-forms", "requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: '0.1', memory: 128e6}"),
    Accept("quantities", "quantity-exponent", "limits: {memory: 512Mi}", "limits: {memory: 5e8}"),
    Accept("endpoints", "endpoint-port", "https://s3.68cc.io", "https://s3.68cc.io:9000"),
    Accept("endpoints", "endpoint-ipv6", "https://s3.68cc.io", "https://[2001:db8::1]:9000"),
    Accept("endpoints", "region-aws", "  region: minio", "  region: us-east-1"),
    Accept("tolerations", "match-all", "      - key: node-role.kubernetes.io/control-plane\n        operator: Exists\n        effect: NoSchedule",
           "      - operator: Exists"),
    Accept("tolerations", "equal-with-seconds", "        operator: Exists\n        effect: NoSchedule",
           "        operator: Equal\n        value: 'true'\n        effect: NoExecute\n        tolerationSeconds: 300"),
    Accept("includes", "namespace-globs", "[monitoring, database, network]", "['network-*', 'db-?', 'team-[ab]']"),
    Accept("includes", "all-namespaces", "[monitoring, database, network]", "['*']"),
    Accept("urls", "private-registry-image", "awsPluginImage: velero/velero-plugin-for-aws:v1.14.3",
           "awsPluginImage: registry.lab:5000/velero/velero-plugin-for-aws:v1.14.3"),
    Accept("urls", "runbook-url", "metrics:\n", "metrics:\n  runbookUrl: https://wiki.example/runbooks/velero\n"),
    Accept("flux", "secret-ref-dotted", "flux:\n", "flux:\n  decryption: {secretRef: sops.age-key}\n"),
    Accept("semantics", "ttl-two-days-daily", "    ttl: 720h", "    ttl: 48h"),
    Accept("semantics", "ttl-one-day-daily-warns", "    ttl: 720h", "    ttl: 24h", warns="keeps only one backup of 'daily'"),
    Accept("semantics", "ttl-uneven-cron-warns", '"0 2 * * *"', '"0 2,3 * * *"', more=(("    ttl: 720h", "    ttl: 23h"),), warns="up to 23h apart"),
    # paused: no run, so no ttl/interval rule; its existing backups are still collected, hence the gc warning. And
    # the pause itself: Velero's schedule controller drops a paused Schedule (schedule_controller.go SetupWithManager).
    Accept("semantics", "ttl-short-paused", "    ttl: 720h", "    ttl: 1h\n    paused: true",
           warns=("schedules[0].paused: schedule 'daily' is paused", "kept up to 2h")),
    Accept("semantics", "paused-warns", "    ttl: 720h", "    ttl: 720h\n    paused: true",
           warns="schedules[0].paused: schedule 'daily' is paused: Velero creates no backup of it"),
    Accept("semantics", "gc-equal-ttl-warns", "    ttl: 720h", "    ttl: 48h",
           more=(("defaultBackupTtl: 720h", "defaultBackupTtl: 720h\n  garbageCollectionFrequency: 48h"),), warns="kept up to 96h"),
    Accept("semantics", "storage-location-default", "    ttl: 720h", "    ttl: 720h\n    storageLocation: default"),
    Accept("semantics", "depends-on-velero-elsewhere", "      namespace: flux-system", "      namespace: storage", files={}),
    Accept("velero", "resource-forms", "excludedResources: [events]",
           "excludedResources: [events, replicasets.apps, 'certificates.cert-manager.io', '*.cert-manager.io', configmaps.]"),
    Accept("velero", "glob-suffix", "[monitoring, database, network]", "['*-prod', 'team-[a-c]?']"),
    # vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml, node-agent-daemonset.yaml:
    # `repository@digest` when image.digest is set, so a tag@digest renders a valid, digest-pinned image
    Accept("bounds", "image-tag-with-digest", "imageTag: v1.18.2", "imageTag: v1.18.2@sha256:" + "0123456789abcdef" * 4),
    Accept("bounds", "toleration-any-effect", "        effect: NoSchedule", "        effect: ''"),
    Accept("bounds", "toleration-seconds-int64-max", "        effect: NoSchedule", "        effect: NoExecute\n        tolerationSeconds: 9223372036854775807"),
    Accept("bounds", "toleration-seconds-negative", "        effect: NoSchedule", "        effect: NoExecute\n        tolerationSeconds: -1"),
    # the cluster name only reaches text and the Grafana uid (observability/dashboard.py dashboard_uid), so a DNS
    # subdomain (k8s.io/apimachinery@v0.35.0:pkg/util/validation/validation.go IsDNS1123Subdomain) is accepted
    Accept("bounds", "cluster-dotted", "cluster: home-lab", "cluster: home-lab.eu-west"),
    Accept("bounds", "cluster-64", "cluster: home-lab", "cluster: " + "c" * 64),
    Accept("bounds", "schedule-dotted", "  - name: daily", "  - name: daily.full"),
    Accept("bounds", "depends-on-dotted", "    - name: openebs", "    - name: openebs.localpv"),
    Accept("bounds", "chart-version-oci", "flux:\n", "flux:\n  chartSource: {type: OCIRepository}\n"),
    Accept("s3", "region-matches-aws", "https://s3.68cc.io", "https://s3.eu-west-1.amazonaws.com", more=(("  region: minio", "  region: eu-west-1"),)),
    Accept("s3", "region-label-not-s3-host", "https://s3.68cc.io", "https://minio.eu-west-1.lab.example"),
    Accept("s3", "bucket-prefix-without-dot", "https://s3.68cc.io", "https://velero-backups-s3.lab.example"),
    Accept("tags", "str-tag-kept", "  prefix: velero", "  prefix: !!str 0123"),
    # fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go InstallRemediation.Retries: an int with no CRD
    # bound; RetriesExhausted is `Retries >= 0 && failures > Retries`, so every negative number retries forever
    Accept("flux", "retries-negative-forever", "flux:\n", "flux:\n  remediation: {retries: -5}\n"),
    Accept("flux", "retries-100", "flux:\n", "flux:\n  remediation: {retries: 100}\n"),
    Accept("tags", "int-tag-kept", "flux:\n", "flux:\n  remediation: {retries: !!int 3}\n"),
    Accept("gitpaths", "ca-in-dot-gitlab", *ca(".gitlab/ca.pem"), files={"repo/.gitlab/ca.pem": CERT}),
    Accept("messages", "check-schema-location-inside", "    release: kube-prometheus-stack\n",
           "    release: kube-prometheus-stack\ncheck:\n  schemaLocations: ['schemas/{{.Group}}/{{.ResourceKind}}.json']\n",
           files={"repo/schemas/README": b"schemas"}),
]


NEW_CATEGORIES = {"semantics", "velero", "bounds", "s3", "tags", "gitpaths", "messages"}


def test_corpus_size_by_category():
    cats = {c.cat for c in REJECT}
    assert len(REJECT) >= 100 and len({c.id for c in REJECT + ACCEPT}) == len(REJECT) + len(ACCEPT)
    assert {"paths", "caBundle", "names", "labels", "cron", "durations", "quantities", "endpoints", "urls",
            "tolerations", "flux", "includes"} | NEW_CATEGORIES <= cats
    assert sum(c.cat in NEW_CATEGORIES for c in REJECT + ACCEPT) >= 80


def mutate(old: str, new: str, more: tuple = ()) -> str:
    text = BASE
    for a, b in ((old, new), *more):
        assert text.count(a) == 1, a
        text = text.replace(a, b, 1)
    return text


def _lay_out(work: Path, files: dict) -> None:
    for rel, content in files.items():
        if rel == "secret":  # the committed encrypted Secrets, moved to where another app name puts them
            for name in ("secret.sops.yaml", "repo-credentials.sops.yaml"):
                src = work / f"repo/kubernetes/apps/velero/velero/app/{name}"
                dst = work / f"repo/kubernetes/apps/velero/{content}/app/{name}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dst)
            continue
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        elif content[0] == "symlink":
            target.symlink_to(content[1])
        elif content[0] == "fifo":
            os.mkfifo(target)
        elif content[0] == "dir":
            target.mkdir()


def _tree(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = "dir" if p.is_dir() else "special"
    return out


def _setup(tmp_path: Path, text: str, files: dict) -> tuple[Path, Path]:
    work = tmp_path / "work"
    repo = work / "repo"
    shutil.copytree(REPO / "clusters" / "home-lab", repo)
    (repo / "velero-gitops.yaml").write_text(text, encoding="utf-8")
    _lay_out(work, files)
    return work, repo


def _expected_line(text: str, case: Reject) -> int:
    lines = text.splitlines()
    if case.line:
        return next(i for i, ln in enumerate(lines, 1) if case.line in ln)
    base = BASE.splitlines()
    return next(i for i, (a, b) in enumerate(zip(lines, base), 1) if a != b)


@pytest.mark.parametrize("case", REJECT, ids=[c.id for c in REJECT])
def test_reject(tmp_path, case):
    text = mutate(case.old, case.new, case.more)
    work, repo = _setup(tmp_path, text, case.files)
    before = _tree(work)
    r = run_cli("render", "velero-gitops.yaml", cwd=repo, env={"VELERO_GITOPS_NO_CACHE": "1"}, timeout=20)
    took = r.cpu
    assert r.code == 2, (r.out, r.err)
    assert "Traceback" not in r.err + r.out
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, r.err
    m = LOCATED.match(lines[0])
    assert m, lines[0]
    assert int(m.group(1)) == _expected_line(text, case), lines[0]
    assert m.group(3) == case.path, lines[0]
    assert case.words in m.group(4), lines[0]
    assert SECRET not in r.err + r.out
    assert case.secret is None or case.secret not in r.err + r.out
    assert len(lines[0]) <= case.max_len, len(lines[0])
    assert _tree(work) == before  # the tree and its surroundings, byte for byte
    assert took < 2.0, took  # CPU seconds: the wall clock depends on what else the machine runs



@pytest.mark.parametrize("case", ACCEPT, ids=[c.id for c in ACCEPT])
def test_accept(tmp_path, case):
    work, repo = _setup(tmp_path, mutate(case.old, case.new, case.more), case.files)
    env = {"VELERO_GITOPS_NO_CACHE": "1"}
    r = run_cli("render", "velero-gitops.yaml", cwd=repo, env=env, timeout=30)
    assert r.code == 0, r.out + r.err
    warnings = [ln for ln in r.err.splitlines() if ln.startswith("warning: ")]
    if case.warns is None:
        assert not warnings, warnings
    else:
        want = (case.warns,) if isinstance(case.warns, str) else case.warns
        assert len(warnings) == len(want) and all(w in line for w, line in zip(want, warnings)), r.err
        for line in warnings:
            assert re.match(r"^warning: velero-gitops\.yaml:\d+:\d+ schedules\[0\]\.|^warning: velero-gitops\.yaml:\d+:\d+ velero\.", line)
    c = run_cli("check", "--config", "velero-gitops.yaml", cwd=repo, env=env, timeout=120)
    assert c.code == 0, c.out + c.err
    assert not any(p.name.endswith(".tmp") for p in work.rglob("*"))
