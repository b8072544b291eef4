"""config/semantics.py: rules across fields, each tested against the upstream behaviour it protects.

Property tests generate configs that are valid field by field (every value alone passes the model) but
contradictory as a whole, and show each is refused, once, at the line of the offending key.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from velero_gitops.config import semantics
from velero_gitops.config.loader import load
from velero_gitops.config.model import BSL_NAME, VELERO_SCHEDULE_FIELDS, VELERO_SCHEDULE_NAMES, ScheduleConfig
from velero_gitops.config.units import go_duration
from velero_gitops.errors import ConfigError

from cli_util import REPO

BASE = """\
cluster: home-lab
flux:
  dependsOn:
    - name: openebs
velero:
  garbageCollectionFrequency: {gc}
s3:
  endpoint: {endpoint}
  bucket: velero-backups
  region: {region}
schedules:
  - name: daily
    cron: "{cron}"
    namespaces: [monitoring]
    ttl: {ttl}
    storageLocation: {bsl}
"""
DEFAULTS = {"gc": "1h", "endpoint": "https://s3.68cc.io", "region": "minio", "cron": "0 2 * * *", "ttl": "720h",
            "bsl": "default"}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


def _load(tmp_path: Path, **values: str):
    text = BASE.format(**{**DEFAULTS, **values})
    (tmp_path / "c.yaml").write_text(text)
    return text, load(tmp_path / "c.yaml")


def _refused(tmp_path: Path, **values: str) -> tuple[str, str]:
    text = BASE.format(**{**DEFAULTS, **values})
    return text, _refused_text(tmp_path, text)


def _refused_text(tmp_path: Path, text: str) -> str:
    """The one problem loading config ``text`` reports."""
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "c.yaml")
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _located(problem: str) -> tuple[int, str]:
    m = re.match(r"^\S*c\.yaml:(\d+):\d+ (\S+): ", problem)
    assert m, problem
    return int(m.group(1)), m.group(2)


def test_every_rule_names_its_upstream_source():
    """Each rule cites repo@tag:path, and the reference lists every rule (one copy: read from RULES)."""
    reference = (REPO / "docs" / "config-reference.md").read_text()
    assert len({r.id for r in semantics.RULES}) == len(semantics.RULES)
    for r in semantics.RULES:
        assert re.search(r"[\w.-]+/[\w.-]+@v[\w.-]+:\S+", r.source), r
        assert f"`{r.id}`" in reference, r.id


@pytest.mark.parametrize("seconds,shown", [(30, "30s"), (60, "1m"), (90, "1m30s"), (3600, "1h"), (5400, "1h30m"),
                                            (86400, "24h"), (7800, "2h10m")])
def test_durations_in_messages_read_as_written(seconds, shown):
    assert semantics._hours(seconds) == shown


def test_the_base_config_has_no_problem(tmp_path):
    assert _load(tmp_path)[1].warnings == ()


# ------------------------------------------------------------------------------------------- restore points
@pytest.mark.parametrize("cron,gap", [("0 2 * * *", 24), ("0 2 * * 1-5", 72), ("0 2 1 * *", 744), ("@every 6h", 6),
                                      ("0 2,3 * * *", 23), ("30 */8 * * *", 8)])
def test_ttl_below_the_longest_gap_is_refused_at_ttl(tmp_path, cron, gap):
    """A backup is deleted once status.expiration (creation + ttl) has passed
    (vmware-tanzu/velero@v1.18.1:pkg/controller/gc_controller.go, Reconcile), and the next one is made at the
    cron's next time (vmware-tanzu/velero@v1.18.1:pkg/controller/schedule_controller.go): ttl < gap leaves hours
    without any backup. The gap is the longest one, from robfig/cron@v3.0.1:spec.go semantics (config/cron.py)."""
    ttl = f"{gap - 1}h"
    text, problem = _refused(tmp_path, cron=cron, ttl=ttl, gc="10m")
    assert _located(problem) == (_line_of(text, "ttl:"), "schedules[0].ttl")
    assert f"({go_duration(gap * 3600).removesuffix('0m0s')})" in problem, problem


def test_ttl_at_least_the_gap_but_under_two_warns_with_numbers(tmp_path):
    """One backup at a time: a single failed run leaves none for 2 x gap - ttl (same sources)."""
    text, loaded = _load(tmp_path, ttl="30h")
    (warning,) = loaded.warnings
    assert _located(str(warning)) == (_line_of(text, "ttl:"), "schedules[0].ttl") and warning.line == _line_of(text, "ttl:")
    assert warning.rule == "ttl-covers-interval"
    text = str(warning)
    assert "up to 24h apart" in text and "for up to 18h" in text and "ttl 48h keeps a spare" in text


def test_inherited_ttl_is_reported_at_the_schedule(tmp_path):
    """ttl from velero.defaultBackupTtl: the schedule without ttl is the offending item."""
    text = BASE.format(**DEFAULTS).replace("    ttl: 720h\n", "").replace("velero:\n", "velero:\n  defaultBackupTtl: 12h\n")
    problem = _refused_text(tmp_path, text)
    assert _located(problem) == (_line_of(text, "cron:"), "schedules[0].cron")
    assert "inherited from velero.defaultBackupTtl" in problem


def test_a_paused_schedule_makes_no_backup_so_any_ttl_goes(tmp_path):
    """A paused Schedule creates no Backup (vmware-tanzu/velero@v1.18.1:pkg/controller/schedule_controller.go,
    SetupWithManager: the predicate drops it): no ttl rule, only the warning that it is paused, at `paused`."""
    text = BASE.format(**{**DEFAULTS, "ttl": "2h", "gc": "10m"}) + "    paused: true\n"
    (tmp_path / "c.yaml").write_text(text)
    (warning,) = load(tmp_path / "c.yaml").warnings
    assert warning.rule == "schedule-paused"
    assert _located(str(warning)) == (_line_of(text, "paused:"), "schedules[0].paused")
    assert "'daily' is paused" in str(warning) and "older than 24h plus metrics.missedBackupMargin" in str(warning)


def test_gc_longer_than_ttl_is_refused_at_gc(tmp_path):
    """The GC controller re-checks each backup once per frequency (vmware-tanzu/velero@v1.18.1:
    pkg/controller/gc_controller.go, NewGCReconciler / PeriodicalEnqueueSource): a backup lingers up to ttl + gc."""
    text, problem = _refused(tmp_path, gc="49h", ttl="48h")
    assert _located(problem) == (_line_of(text, "garbageCollectionFrequency"), "velero.garbageCollectionFrequency")
    assert "kept up to 97h" in problem


def test_gc_over_a_quarter_of_ttl_warns_with_the_retention(tmp_path):
    _, loaded = _load(tmp_path, gc="13h", ttl="48h")
    (warning,) = loaded.warnings
    assert "kept up to 61h" in str(warning) and warning.rule == "gc-frequency-vs-ttl"


# --------------------------------------------------------------------------------------------------- Velero
@pytest.mark.parametrize("bsl", ["secondary", "site-b.minio", "Default".lower() + "2"])
def test_a_storage_location_that_is_never_rendered_is_refused(tmp_path, bsl):
    """A Backup whose spec.storageLocation names no BackupStorageLocation fails validation
    (vmware-tanzu/velero@v1.18.1:pkg/controller/backup_controller.go, prepareBackupRequest); the config renders
    exactly one, named default (render/plan.py uses model.BSL_NAME)."""
    text, problem = _refused(tmp_path, bsl=bsl)
    assert _located(problem) == (_line_of(text, "storageLocation"), "schedules[0].storageLocation")
    assert BSL_NAME == "default"


def test_duplicate_names_after_unescaping_point_at_the_second(tmp_path):
    """Two objects with one id do not build (kubernetes-sigs/kustomize@v5.7.1:api/resmap/reswrangler.go, Append);
    here both would also be written to schedules/daily.yaml."""
    text = BASE.format(**DEFAULTS) + '  - name: "\\x64aily"\n    cron: "0 3 * * *"\n    namespaces: [a]\n'
    problem = _refused_text(tmp_path, text)
    assert _located(problem) == (_line_of(text, "\\x64aily"), "schedules[1].name")


@pytest.mark.parametrize("spelling", ["pod", "po", "Pods", "pod."])
def test_pods_excluded_under_another_spelling_are_refused(tmp_path, spelling):
    """fs-backup-needs-pods reads excludedResources as Velero's discovery helper resolves them: lower-cased,
    singular to plural, short names (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go
    GetResourceIncludesExcludes; pkg/discovery/helper.go builds the shortcut expander over the RESTMapper)."""
    text = BASE.format(**DEFAULTS) + f"    excludedResources: [events, {spelling!r}]\n"
    problem = _refused_text(tmp_path, text)
    assert _located(problem) == (_line_of(text, "excludedResources"), "schedules[0].excludedResources[1]")
    assert "excludes pods" in problem


def test_velero_field_names_match_the_bundled_schedule_crd():
    """The Velero names we recognise are the Schedule CRD's own (spec and spec.template), from the schema bundle
    (vmware-tanzu/velero@v1.18.1:config/crd/v1/bases/velero.io_schedules.yaml)."""
    bundle = REPO / "src" / "velero_gitops" / "validate" / "bundle" / "schemas" / "schedule-velero-v1.json.gz"
    schema = json.loads(gzip.decompress(bundle.read_bytes()))
    defs = schema["definitions"]
    velero = set(defs["ScheduleSpec"]["properties"]) | set(defs["ScheduleSpecTemplate"]["properties"])
    ours = {f.alias or n for n, f in ScheduleConfig.model_fields.items()}
    assert VELERO_SCHEDULE_FIELDS == velero - ours
    assert set(VELERO_SCHEDULE_NAMES) <= velero and set(VELERO_SCHEDULE_NAMES.values()) <= ours


# ----------------------------------------------------------------------------------------------------- Flux
@pytest.mark.parametrize("name,words", [("velero", "own Kustomization"), ("velero-schedules", "a cycle")])
def test_depends_on_the_tools_own_kustomizations_is_refused(tmp_path, name, words):
    """A Kustomization waits until each dependsOn is Ready
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go, checkDependencies);
    velero-schedules dependsOn velero, so either name never becomes Ready."""
    text = BASE.format(**DEFAULTS).replace("- name: openebs", f"- name: {name}")
    problem = _refused_text(tmp_path, text)
    assert _located(problem) == (_line_of(text, f"name: {name}"), "flux.dependsOn[0].name")
    assert words in problem


# ------------------------------------------------------------------------------------------------------- S3
@pytest.mark.parametrize("host,region", [("s3.eu-west-1.amazonaws.com", "eu-west-1"), ("s3-eu-west-1.amazonaws.com", "eu-west-1"),
                                         ("s3.dualstack.ap-southeast-2.amazonaws.com", "ap-southeast-2"),
                                         ("s3-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
                                         ("s3.eu-central-2.wasabisys.com", "eu-central-2")])
def test_a_region_the_host_does_not_serve_is_refused(tmp_path, host, region):
    """The plugin signs with the configured region and sends to s3Url
    (vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/object_store.go, Init: WithRegion;
    config.go, newS3Client: BaseEndpoint); a SigV4 credential scope names the region, and a regional S3 host
    refuses a scope for another one (AuthorizationHeaderMalformed)."""
    text, problem = _refused(tmp_path, endpoint=f"https://{host}", region="us-east-1")
    assert _located(problem) == (_line_of(text, "region:"), "s3.region")
    assert f"Set region: {region}" in problem
    _, loaded = _load(tmp_path, endpoint=f"https://{host}", region=region)
    assert loaded.config.s3.region == region


def test_a_bucket_in_the_host_is_refused_with_the_endpoint_to_use(tmp_path):
    """config.go newS3Client: the SDK adds the bucket to s3Url (a path with s3ForcePathStyle, else a host
    prefix), so a host that already starts with it doubles the bucket."""
    text, problem = _refused(tmp_path, endpoint="https://velero-backups.minio.lab:9000")
    assert _located(problem) == (_line_of(text, "endpoint:"), "s3.endpoint")
    assert "Use endpoint: https://minio.lab:9000" in problem


# ---------------------------------------------------------------------------------------------- properties
CRONS = st.sampled_from(["0 2 * * *", "0 */6 * * *", "0 2 * * 0", "0 2 * * 1-5", "@every 12h", "15 3,15 * * *"])


@SETTINGS
@given(CRONS, st.floats(min_value=0.05, max_value=0.99))
def test_property_ttl_shorter_than_the_gap_is_refused_at_its_line(tmp_path, cron, share):
    """Every (cron, ttl) pair with ttl < longest gap is refused, once, at the ttl line: valid alone, contradictory
    together (gc_controller.go deletes at expiration; the next run comes only after the gap)."""
    gap = ScheduleConfig(name="x", cron=cron, namespaces=["a"]).timing.max_interval()
    ttl = timedelta(seconds=max(3600, int(gap.total_seconds() * share) // 60 * 60))
    if ttl >= gap:
        return
    text, problem = _refused(tmp_path, cron=cron, ttl=go_duration(ttl.total_seconds()), gc="10m")
    assert _located(problem) == (_line_of(text, "ttl:"), "schedules[0].ttl")


@SETTINGS
@given(st.integers(min_value=2, max_value=2000), st.integers(min_value=1, max_value=500))
def test_property_gc_longer_than_ttl_is_refused_at_gc(tmp_path, ttl_h, extra_h):
    """Every gc > ttl is refused at velero.garbageCollectionFrequency (gc_controller.go, NewGCReconciler);
    the ttl is kept above the daily gap so only this rule applies."""
    ttl_h += 48
    text, problem = _refused(tmp_path, ttl=f"{ttl_h}h", gc=f"{ttl_h + extra_h}h")
    assert _located(problem) == (_line_of(text, "garbageCollectionFrequency"), "velero.garbageCollectionFrequency")


@SETTINGS
@given(st.sampled_from(["us-east-1", "eu-west-3", "ap-northeast-2", "ca-central-1", "sa-east-1"]),
       st.sampled_from(["us-east-2", "eu-north-1", "me-south-1", "minio"]),
       st.sampled_from(["s3.{}.amazonaws.com", "s3-{}.amazonaws.com", "s3.dualstack.{}.amazonaws.com", "s3.{}.example.net"]))
def test_property_region_against_host(tmp_path, served, configured, pattern):
    """A host that names its region is accepted only with that region (object_store.go Init signs with it)."""
    endpoint = "https://" + pattern.format(served)
    if served == configured:
        _load(tmp_path, endpoint=endpoint, region=configured)
        return
    text, problem = _refused(tmp_path, endpoint=endpoint, region=configured)
    assert _located(problem) == (_line_of(text, "region:"), "s3.region")


@SETTINGS
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20).filter(
    lambda s: s[0] != "-" and s[-1] != "-" and s not in ("default",)))
def test_property_any_other_storage_location_is_refused(tmp_path, name):
    """Any valid BackupStorageLocation name other than the rendered one (backup_controller.go)."""
    text, problem = _refused(tmp_path, bsl=name)
    assert _located(problem) == (_line_of(text, "storageLocation"), "schedules[0].storageLocation")


def test_check_shows_warnings_without_failing(tmp_path):
    """The pre-commit hook sees what render prints: a config/semantics.py warning is a warning finding."""
    from velero_gitops.check import CheckOptions, run_check

    text = BASE.format(**{**DEFAULTS, "ttl": "30h"})
    (tmp_path / ".git").mkdir()
    (tmp_path / "c.yaml").write_text(text)
    from velero_gitops.pipeline import render_config

    render_config(tmp_path / "c.yaml").write()
    result = run_check([tmp_path / "c.yaml"], CheckOptions(ignore_missing_schemas=True, externals=["Kustomization/flux-system/openebs"]))
    (finding,) = [f for f in result.findings if f.rule.startswith("config.")]
    assert finding.rule == "config.ttl-covers-interval" and finding.severity == "warning"
    assert finding.line == _line_of(text, "ttl:") and finding.message.startswith("schedules[0].ttl: ")


# ------------------------------------------------------------------------------------------ round 8 (cfgfix8)
ROUND8 = """\
cluster: home-lab
s3:
  endpoint: https://s3.68cc.io
{s3}schedules:
  - name: daily
    cron: "{cron}"
    namespaces: [monitoring, database]
    ttl: 720h
  - name: all
    cron: "0 2 * * *"
    namespaces: ["*"]
    excludedNamespaces: [{excluded}]
    ttl: 720h
{rest}"""


def _warnings(tmp_path: Path, cron: str = "0 3 * * *", excluded: str = "kube-system", s3: str = "",
              rest: str = "") -> dict[str, str]:
    (tmp_path / "c.yaml").write_text(ROUND8.format(cron=cron, excluded=excluded, s3=s3, rest=rest))
    return {w.rule: w.body for w in load(tmp_path / "c.yaml").warnings}


@pytest.mark.parametrize("cron,excluded,warned", [
    ("0 2 * * *", "kube-system", True),  # case 196: '*' at the same minute holds database too
    ("0 2 * * *", "monitoring, database", False),  # excluded from the second: no namespace in common
    ("0 2 * * 1", "kube-system", True),  # Mondays at 02:00 are also a run of the daily one
    ("0 3 * * *", "kube-system", False),
    ("30 2 * * *", "kube-system", False),  # the same hour, another minute
])
def test_two_schedules_of_a_namespace_at_the_same_minute(tmp_path, cron, excluded, warned):
    """Cases 021/196: Velero queues a backup whose namespaces overlap an earlier one's until that one is done
    (vmware-tanzu/velero@v1.18.1:pkg/controller/backup_queue_controller.go detectNamespaceConflict), then copies the
    same namespaces again."""
    w = _warnings(tmp_path, cron=cron, excluded=excluded)
    assert ("schedules-same-minute" in w) is warned, w
    if warned:
        assert "'daily' and 'all'" in w["schedules-same-minute"] and "02:00" in w["schedules-same-minute"]


def test_monitors_without_metrics_and_a_ca_without_verification_are_warned(tmp_path):
    """Case 052: metrics.enabled: false serves no metrics (the chart declares the :8085 port only with it:
    vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml), so a monitor set to true is not
    rendered. Case 121: insecureSkipTLSVerify skips the check caBundle is for (vmware-tanzu/velero-plugin-for-aws@
    v1.14.0-rc.1:velero-plugin-for-aws/config.go WithTLSSettings)."""
    assert "metrics-objects-without-metrics" not in _warnings(tmp_path, rest="metrics:\n  enabled: false\n")
    w = _warnings(tmp_path, rest="metrics:\n  enabled: false\n  serviceMonitor: true\n")
    assert "serviceMonitor: true has no effect" in w["metrics-objects-without-metrics"]
    import trustme

    (tmp_path / "ca.pem").write_bytes(trustme.CA().cert_pem.bytes())
    assert "ca-bundle-with-skip-verify" not in _warnings(tmp_path, s3="  caBundle: ca.pem\n")
    w = _warnings(tmp_path, s3="  caBundle: ca.pem\n  insecureSkipTLSVerify: true\n")
    assert "turns off the certificate check" in w["ca-bundle-with-skip-verify"]


def test_a_chart_monitor_beside_the_rendered_one_is_warned(tmp_path):
    """Cases 102/239: the chart's own ServiceMonitor or PodMonitor on (extraValuesOverride) while velero-gitops renders
    its own: every series would be scraped twice."""
    from velero_gitops.config.model import CHART_MONITORS

    for key, field in CHART_MONITORS.items():
        rest = (f"velero:\n  extraValues:\n    metrics:\n      {key}:\n        enabled: true\n"
                f"  extraValuesOverride: [metrics.{key}.enabled]\n")
        w = _warnings(tmp_path, rest=rest)
        assert f"the chart's own {key} is turned on" in w["chart-monitor-beside-rendered"]
        off = rest + f"metrics:\n  {semantics._camel(field)}: false\n"
        assert "chart-monitor-beside-rendered" not in _warnings(tmp_path, rest=off)


def test_a_schedule_selecting_what_velero_skips_is_refused(tmp_path):
    """Case 024: Velero skips every item labelled velero.io/exclude-from-backup=true, even one the backup's selector
    matches (vmware-tanzu/velero@v1.18.1:pkg/backup/item_backupper.go itemInclusionChecks; backup_test.go 'not
    included even if matching label selector')."""
    from velero_gitops.config.names import EXCLUDE_FROM_BACKUP_LABEL

    text = ROUND8.format(cron="0 3 * * *", excluded="kube-system", s3="", rest="") + (
        f"    labelSelector:\n      matchLabels:\n        {EXCLUDE_FROM_BACKUP_LABEL}: \"true\"\n")
    problem = _refused_text(tmp_path, text)
    assert _located(problem) == (_line_of(text, EXCLUDE_FROM_BACKUP_LABEL),
                                 f"schedules[1].labelSelector.matchLabels.{EXCLUDE_FROM_BACKUP_LABEL}")
    assert "Velero skips every such item" in problem
