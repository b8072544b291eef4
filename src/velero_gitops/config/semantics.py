"""Rules across fields: values each valid alone that contradict each other, or that Velero, Flux or S3 would
refuse (or silently ignore) only at run time, on the cluster.

Each rule names the upstream behaviour it protects (``source``); `docs/config-reference.md` lists them from
``RULES``, so the list cannot drift. A rule yields `Problem`s located at the offending key (a tuple of keys and
list indexes, as in the YAML file); the loader turns them into `FILE:LINE:COL path: message` lines.
A warning is printed and does not stop the run; an error refuses the config.

Restore-point rules (decided here, documented in the reference):
- ttl shorter than the longest gap between a schedule's runs: refused. A backup is deleted once its expiration
  (creation + ttl) has passed, so from creation + ttl until the next run no backup of the schedule exists.
- ttl shorter than twice that gap: warning with the numbers. One restore point at a time; a single failed
  run leaves none for up to 2 x gap - ttl.
- garbageCollectionFrequency longer than a schedule's ttl: refused. Expired backups then outlive their ttl by
  more than the ttl itself, so what the config says about retention is not what the bucket holds.
- garbageCollectionFrequency longer than a quarter of a ttl: warning with how long backups really stay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from velero_gitops.config import names
from velero_gitops.config.cron import Cron
from velero_gitops.config.model import BSL_NAME, CHART_MONITORS, Config, ScheduleConfig
from velero_gitops.config.names import split_url
from velero_gitops.config.units import go_duration, parse_duration

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str
    warning: bool = False
    rule: str = ""  # the Rule.id, filled in by problems()


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str  # what the rule refuses, one line for the reference
    source: str  # the upstream behaviour it protects: repo@tag:path (function)
    check: Callable[[Config], Iterator[Problem]]


RULES: list[Rule] = []


def rule(id: str, summary: str, source: str) -> Callable[[Callable[[Config], Iterator[Problem]]], Callable[[Config], Iterator[Problem]]]:
    def register(fn: Callable[[Config], Iterator[Problem]]) -> Callable[[Config], Iterator[Problem]]:
        RULES.append(Rule(id, summary, source, fn))
        return fn
    return register


def problems(config: Config) -> list[Problem]:
    """Every problem of every rule, errors and warnings, in rule order."""
    return [replace(p, rule=r.id) for r in RULES for p in r.check(config)]


def _hours(seconds: float) -> str:
    """A duration as users write it: 24h, 1h30m, 90s (Go's 24h0m0s without the zero parts)."""
    return re.sub(r"(?<=h)0m$", "", re.sub(r"(?<=[hm])0s$", "", go_duration(seconds)))


# ----------------------------------------------------------------------------------------------- Velero
@rule("schedule-names-unique", "Two schedules with the same name (after YAML unescaping).",
      "kubernetes-sigs/kustomize@v5.7.1:api/resmap/reswrangler.go (Append: an id may be registered once)")
def _unique_names(c: Config) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, s in enumerate(c.schedules):
        if s.name in first:
            yield Problem(("schedules", i, "name"), f"schedule name {s.name!r} is already used by schedules[{first[s.name]}]; "
                          "each Schedule is one object, so the second would replace the first. Rename one")
        first.setdefault(s.name, i)


@rule("storage-location-rendered", "A schedule's storageLocation that names no rendered BackupStorageLocation.",
      "vmware-tanzu/velero@v1.18.1:pkg/controller/backup_controller.go (prepareBackupRequest: the location must exist)")
def _storage_location(c: Config) -> Iterator[Problem]:
    # One `s3:` section renders one BackupStorageLocation. A second one would need its own credentials, CA,
    # bucket policy and kopia repository password; that is not modelled, so it is refused rather than half-made.
    for i, s in enumerate(c.schedules):
        if s.storage_location != BSL_NAME:
            yield Problem(("schedules", i, "storageLocation"),
                          f"storage location {s.storage_location!r} is never rendered: this config renders one "
                          f"BackupStorageLocation, {BSL_NAME!r} (from s3:), and Velero fails every backup of this "
                          f"schedule with 'backup storage location not found'. Remove storageLocation; a second "
                          "location is not supported")


@rule("ttl-covers-interval", "ttl shorter than the longest gap between a schedule's runs (error), or than twice it "
      "(warning: a single failed run leaves no restore point).",
      "vmware-tanzu/velero@v1.18.1:pkg/controller/gc_controller.go (Reconcile: a backup past status.expiration "
      "is deleted) and pkg/controller/schedule_controller.go (runs at the cron's times)")
def _ttl_interval(c: Config) -> Iterator[Problem]:
    for i, s in enumerate(c.schedules):
        if s.paused:
            continue
        ttl = parse_duration(c.schedule_ttl(s))
        gap = _gap(s.timing)
        where: Loc = ("schedules", i, "ttl") if s.ttl else ("schedules", i, "cron")
        origin = f"ttl {_hours(ttl)}" if s.ttl else f"ttl {_hours(ttl)} (inherited from velero.defaultBackupTtl)"
        if ttl < gap:
            yield Problem(where, f"{origin} is shorter than the longest gap between runs of {s.cron!r} "
                          f"({_hours(gap)}): each backup is deleted {_hours(gap - ttl)} before the next run, so for "
                          f"{_hours(gap - ttl)} of every cycle no backup of {s.name!r} exists. Set ttl to at least "
                          f"{_hours(gap)}, better {_hours(2 * gap)} (one spare when a run fails)")
        elif ttl < 2 * gap:
            yield Problem(where, f"{origin} keeps only one backup of {s.name!r} at times (runs are up to "
                          f"{_hours(gap)} apart): if one run fails, no backup exists for up to {_hours(2 * gap - ttl)}. "
                          f"ttl {_hours(2 * gap)} keeps a spare", warning=True)


@rule("schedule-paused", "A paused schedule (warning): Velero creates no backup of it until it is unpaused.",
      "vmware-tanzu/velero@v1.18.1:pkg/controller/schedule_controller.go (SetupWithManager: the predicate drops "
      "every Schedule with spec.paused, so it is never reconciled and never due)")
def _paused(c: Config) -> Iterator[Problem]:
    for i, s in enumerate(c.schedules):
        if s.paused:
            yield Problem(("schedules", i, "paused"), f"schedule {s.name!r} is paused: Velero creates no backup of it "
                          "until `paused` is removed, rendered and committed. VeleroNoNewBackup fires for it once its "
                          f"last successful backup is older than {_hours(_gap(s.timing))} plus "
                          "metrics.missedBackupMargin", warning=True)


@rule("schedules-same-minute", "Two schedules that back up a namespace in common at the same minute (warning).",
      "vmware-tanzu/velero@v1.18.1:pkg/controller/backup_queue_controller.go (detectNamespaceConflict: a backup "
      "whose namespaces overlap an earlier one's waits in the queue until that one is done)")
def _same_minute(c: Config) -> Iterator[Problem]:
    live = [(i, s) for i, s in enumerate(c.schedules) if not s.paused and not s.timing.every]
    for a, (_, s) in enumerate(live):
        for j, t in live[a + 1:]:
            if s.label_selector != t.label_selector:
                continue  # other labels may select other items
            shared = _shared_namespace(s, t)
            when = _common_run(s.timing, t.timing) if shared else None
            if when:
                yield Problem(("schedules", j, "cron"), f"schedules {s.name!r} and {t.name!r} both back up {shared!r} "
                              f"at {when} UTC: Velero queues the second until the first is done, then copies the same "
                              "namespace and its volumes again. Move one cron to another minute, or merge the two",
                              warning=True)
                break


def _shared_namespace(s: ScheduleConfig, t: ScheduleConfig) -> str | None:
    """A namespace (or pattern) both schedules include and neither excludes, as Velero's globs match them."""
    from fnmatch import fnmatchcase

    def included(x: ScheduleConfig, ns: str) -> bool:
        return (any(fnmatchcase(ns, p) for p in x.namespaces)
                and not any(fnmatchcase(ns, p) for p in x.excluded_namespaces))

    for x, y in ((s, t), (t, s)):
        for ns in x.namespaces:
            if included(x, ns) and included(y, ns):
                return ns
    return None


def _common_run(a: Cron, b: Cron) -> str | None:
    """"HH:MM" of a minute both crons run at, looked for on every day of four years (a leap year and each weekday
    of each date), or None."""
    from datetime import datetime, timedelta

    for h in sorted(a.hours & b.hours):
        for m in sorted(a.minutes & b.minutes):
            day = datetime(2024, 1, 1, h, m)
            for _ in range(4 * 365 + 1):
                if a.matches(day) and b.matches(day):
                    return f"{h:02d}:{m:02d}"
                day += timedelta(days=1)
            return None  # the days do not depend on the minute
    return None


def _gap(timing: Cron) -> float:
    return timing.max_interval().total_seconds()


@rule("gc-frequency-vs-ttl", "garbageCollectionFrequency longer than a schedule's ttl (error), or than a quarter "
      "of it (warning with the real retention).",
      "vmware-tanzu/velero@v1.18.1:pkg/controller/gc_controller.go (NewGCReconciler: every backup is re-checked once "
      "per frequency; 0 means 1h)")
def _gc_ttl(c: Config) -> Iterator[Problem]:
    gc = parse_duration(c.velero.garbage_collection_frequency)
    where: Loc = ("velero", "garbageCollectionFrequency")
    shortest = min(((parse_duration(c.schedule_ttl(s)), s.name) for s in c.schedules), default=None)
    if shortest is None:
        return
    ttl, name = shortest
    if gc > ttl:
        yield Problem(where, f"garbageCollectionFrequency {_hours(gc)} is longer than the ttl {_hours(ttl)} of schedule "
                      f"{name!r}: expired backups stay up to {_hours(gc)} past their ttl (kept up to {_hours(ttl + gc)}, "
                      f"not {_hours(ttl)}). Use at most {_hours(ttl)}; the default 1h suits most ttls")
    elif 4 * gc > ttl:
        yield Problem(where, f"garbageCollectionFrequency {_hours(gc)}: backups of schedule {name!r} (ttl {_hours(ttl)}) "
                      f"are kept up to {_hours(ttl + gc)}", warning=True)


# ------------------------------------------------------------------------------------------------- Flux
@rule("depends-on-own-kustomization", "flux.dependsOn or metrics.dependsOn naming a Kustomization this tree "
      "renders that can never be Ready first: itself, the schedules one (which depends on the app: a cycle), or the "
      "disaster-recovery one (applied by hand only).",
      "fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go (checkDependencies: "
      "waits until every dependency exists and is Ready)")
def _depends_on(c: Config) -> Iterator[Problem]:
    app, schedules = c.kustomization_names()
    monitoring, recovery = c.monitoring_kustomization_name(), c.disaster_recovery_kustomization_name()
    never = (f"{recovery!r}, which no Kustomization applies (it is applied by hand during a disaster recovery), "
             "so it never becomes Ready")
    blocked = {
        "flux": {app: "the app's own Kustomization: it would wait for itself to be Ready",
                 schedules: f"{schedules!r}, which dependsOn {app!r}: a cycle", recovery: never},
        "metrics": {monitoring: "the monitoring Kustomization itself: it would wait for itself to be Ready",
                    recovery: never},
    }
    for section, deps in (("flux", c.flux.depends_on), ("metrics", c.metrics.depends_on)):
        what = "Velero" if section == "flux" else "the monitoring objects"
        for i, d in enumerate(deps):
            why = blocked[section].get(d.name) if d.namespace == c.flux.namespace else None
            if why:
                yield Problem((section, "dependsOn", i, "name"), f"{d.namespace}/{d.name} is {why}, so Flux never "
                              f"applies {what}. List only what must be Ready first (e.g. the OpenEBS Kustomization)")


@rule("namespace-not-flux-namespace", "repo.namespace equal to flux.namespace.",
      "fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go (prune: a Kustomization "
      "deletes the objects it applied, here the Namespace of Flux itself)")
def _own_namespace(c: Config) -> Iterator[Problem]:
    if c.repo.namespace == c.flux.namespace:
        yield Problem(("repo", "namespace"), f"namespace {c.repo.namespace!r} is Flux's own (flux.namespace): the tree "
                      "renders a Namespace object for Velero with privileged pod-security labels, so Flux's "
                      "namespace would be relabelled, owned twice, and deleted with Velero's tree. Use a namespace of "
                      f"its own, e.g. {'velero' if c.flux.namespace != 'velero' else 'velero-system'}")


@rule("fs-backup-needs-pods", "A schedule's excludedResources matching pods: no file-system backup would run.",
      "vmware-tanzu/velero@v1.18.1:pkg/backup/item_backupper.go (backupItemInternal: pod volumes are backed up while "
      "backing up their pod) and pkg/util/collections/includes_excludes.go (excludes are resolved by discovery, then "
      "globs on resource.group)")
def _pods_excluded(c: Config) -> Iterator[Problem]:
    for i, s in enumerate(c.schedules):
        for j, r in enumerate(s.excluded_resources):
            if names.resource_matches(r, "pods"):  # pod, po, Pods, pods. and globs: as Velero resolves them
                yield Problem(("schedules", i, "excludedResources", j), f"{r!r} excludes pods, and Velero backs up "
                              "pod volumes only while it backs up their pod: schedule "
                              f"{s.name!r} would copy no volume data at all. Remove it")


# ---------------------------------------------------------------------------------------------- metrics
@rule("metrics-objects-without-metrics", "metrics.enabled: false with serviceMonitor, podMonitor or prometheusRule "
      "set to true (warning: they are not rendered).",
      "vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml (the :8085 "
      "http-monitoring port is declared only with metrics.enabled)")
def _metrics_off(c: Config) -> Iterator[Problem]:
    m = c.metrics
    if m.enabled:
        return
    for field in CHART_MONITORS.values():
        if field in m.model_fields_set and getattr(m, field):
            key = _camel(field)
            yield Problem(("metrics", key), f"{key}: true has no effect with metrics.enabled: false: Velero serves no "
                          "metrics then, so velero-gitops renders no monitor or alert. Set metrics.enabled: true, or "
                          f"remove {key}", warning=True)


@rule("chart-monitor-beside-rendered", "The chart's own ServiceMonitor, PodMonitor or PrometheusRule turned on "
      "through velero.extraValues (with extraValuesOverride) while velero-gitops renders its own (warning).",
      "vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/servicemonitor.yaml, "
      "podmonitor.yaml, prometheusrule.yaml (each rendered when its metrics.<name>.enabled is true)")
def _chart_monitors(c: Config) -> Iterator[Problem]:
    from velero_gitops.config import compat

    m = c.metrics
    for chart_key, field in CHART_MONITORS.items():
        if compat.lookup(c.velero.extra_values, ["metrics", chart_key, "enabled"]) is True and m.enabled and getattr(m, field):
            yield Problem(("velero", "extraValues", "metrics", chart_key, "enabled"), f"the chart's own {chart_key} is "
                          f"turned on here, and velero-gitops renders its own (metrics.{_camel(field)}): Prometheus "
                          "would scrape or evaluate the same targets twice, so every series and alert is doubled. "
                          f"Keep one: set metrics.{_camel(field)}: false, or remove this value", warning=True)


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(w.title() for w in rest)


# ---------------------------------------------------------------------------------------------------- S3
# The shape of an AWS region name (us-east-1, eu-west-3, us-gov-west-1, ap-southeast-4): letters, then words,
# then a number, as the partitions' regionRegex of aws/aws-sdk-go-v2 (internal/endpoints/awsrulesfn).
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]+"
# Hosts that carry their region: s3.<region>.<domain>, s3-<region>.<domain>, s3.dualstack.<region>...,
# s3-fips.<region>..., <bucket>.s3.<region>...
_REGION_HOST = re.compile(rf"(?:^|\.)s3(?:-fips)?(?:\.dualstack)?[.-]({_REGION})\.")


@rule("s3-region-matches-endpoint", "s3.region different from the region an AWS-style endpoint host names "
      "(s3.<region>.<domain>).",
      "vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/object_store.go (Init: requests are "
      "signed for the configured region; SigV4 servers refuse a scope for another region)")
def _region(c: Config) -> Iterator[Problem]:
    for parts, when in _endpoints(c):
        host = parts.hostname.lower()
        m = _REGION_HOST.search(host + ".")
        if m and m.group(1) != c.s3.region:
            yield Problem(("s3", "region"), f"region {c.s3.region!r} does not match the endpoint host {host}{when}, "
                          f"which serves {m.group(1)!r}: every request is signed for {c.s3.region!r} and refused "
                          f"(AuthorizationHeaderMalformed). Set region: {m.group(1)}")
            return


def _endpoints(c: Config) -> Iterator[tuple[names.Url, str]]:
    """The endpoint as Flux may substitute it (names.endpoint_outcomes: the model has refused what does not parse),
    each with " (<when>)" for a message, "" without variables."""
    for url, when in names.endpoint_outcomes(c.s3.endpoint):
        yield split_url(url), f" ({when})" if when else ""


# The AWS partitions whose endpoints end in these DNS suffixes, and the regions each knows
# (aws/aws-sdk-go-v2@26bf48f3:internal/endpoints/awsrulesfn/partitions.json, dnsSuffix and regionRegex; the
# il and mx regions were added to the aws partition's regex after that commit).
_AWS_PARTITIONS = (
    ("amazonaws.com.cn", re.compile(r"cn-\w+-\d+")),
    ("amazonaws.com", re.compile(r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+|us-gov-\w+-\d+")),
)


@rule("s3-region-of-aws-host", "An AWS endpoint (…amazonaws.com) with a region that is no AWS region (e.g. minio).",
      "vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/object_store.go (Init: requests are "
      "signed for s3.region) and aws/aws-sdk-go-v2 internal/endpoints/awsrulesfn/partitions.json (regionRegex per "
      "dnsSuffix, at commit 26bf48f3; il and mx regions came later); AWS refuses a scope for an unknown region")
def _aws_region(c: Config) -> Iterator[Problem]:
    for parts, when in _endpoints(c):
        host = parts.hostname.lower().rstrip(".")
        if _REGION_HOST.search(host + "."):
            continue  # the host names its region: s3-region-matches-endpoint says which
        for suffix, regions in _AWS_PARTITIONS:
            if (host == suffix or host.endswith("." + suffix)) and not regions.fullmatch(c.s3.region):
                yield Problem(("s3", "region"), f"region {c.s3.region!r} is not an AWS region, but the endpoint "
                              f"{host}{when} is AWS: every request would be signed for {c.s3.region!r} and refused. "
                              "Set the bucket's region, e.g. us-east-1")
                return


@rule("ca-bundle-with-skip-verify", "s3.caBundle together with insecureSkipTLSVerify: true (warning: the CA is "
      "never used).",
      "vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/config.go (WithTLSSettings: the CA "
      "fills RootCAs, and InsecureSkipVerify then skips checking the certificate against any root)")
def _ca_and_skip(c: Config) -> Iterator[Problem]:
    if c.s3.ca_bundle and c.s3.insecure_skip_tls_verify:
        yield Problem(("s3", "insecureSkipTLSVerify"), "insecureSkipTLSVerify: true turns off the certificate check "
                      "that caBundle is for: the server is not verified at all (man-in-the-middle risk). Remove "
                      "insecureSkipTLSVerify; caBundle alone trusts your CA", warning=True)


@rule("s3-bucket-not-in-host", "An endpoint host that already starts with the bucket (virtual-hosted style).",
      "vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/config.go (newS3Client: s3Url is the "
      "base endpoint; the SDK adds the bucket to it, as a path or a host prefix)")
def _bucket_host(c: Config) -> Iterator[Problem]:
    for parts, when in _endpoints(c):
        host = parts.hostname
        if host.startswith(c.s3.bucket + ".") and host.count(".") >= 2:
            rest = parts.netloc[len(c.s3.bucket) + 1:]
            yield Problem(("s3", "endpoint"), f"the endpoint host{when} already names the bucket {c.s3.bucket!r} "
                          "(virtual-hosted style): the AWS plugin adds the bucket itself, so every object would land "
                          f"under a doubled bucket. Use endpoint: {parts.scheme}://{rest}")
            return
