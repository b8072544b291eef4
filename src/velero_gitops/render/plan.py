"""Decide everything the tree contains. Pure: no I/O, no templates.

`plan(loaded)` returns the list of files (`Artifact`) with the Kubernetes objects each holds.
Every decision about the generated tree is made here, so it can be tested directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from velero_gitops.config import compat
from velero_gitops.config.loader import LoadedConfig
from velero_gitops.config.model import BSL_NAME, upgrade_crds_job
from velero_gitops.config.units import parse_duration
from velero_gitops.errors import ConfigError
from velero_gitops.render.layout import Layout

if TYPE_CHECKING:
    from velero_gitops.config.model import Config, ScheduleConfig

SchemaUrl = Callable[[str, str, str], "str | None"]  # (group, kind, version) -> $schema URL or None
HELM_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
KUSTOMIZATION_SCHEMA = "https://json.schemastore.org/kustomization"


@dataclass(frozen=True)
class Document:
    obj: dict[str, Any]
    schema: str | None = None  # URL for the `# yaml-language-server: $schema=` line


@dataclass(frozen=True)
class Artifact:
    path: str  # POSIX, relative to the repository root
    template: str  # file name under templates/
    docs: tuple[Document, ...]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    artifacts: tuple[Artifact, ...]
    secret_path: str  # referenced by the app kustomization, written only by encrypt-secret
    notes: tuple[str, ...] = ()
    repo_password_path: str | None = None  # likewise, written only by encrypt-repo-password (when managed)


def plan(loaded: LoadedConfig) -> Plan:
    c = loaded.config
    lay = Layout.of(c)
    schema = _schema_url(c)
    arts: list[Artifact] = []

    def add(path: str, template: str, *docs: Document) -> None:
        arts.append(Artifact(path=path, template=template, docs=tuple(docs)))

    # Namespace folder: the namespace itself (prune disabled, Pod Security) and the app's ks.yaml. No
    # `namespace:` here: it would override the Flux Kustomizations' own metadata.namespace (see _flux_meta).
    add(f"{lay.namespace_dir}/kustomization.yaml", "kustomization.yaml.j2",
        Document(_kustomization(["./namespace.yaml", f"./{c.repo.app}/ks.yaml"]), KUSTOMIZATION_SCHEMA))
    add(f"{lay.namespace_dir}/namespace.yaml", "namespace.yaml.j2", Document(_namespace(c), None))

    # Flux Kustomizations: the chart first, the Schedules (if any) once its CRDs exist.
    ks_schema = schema("kustomize.toolkit.fluxcd.io", "Kustomization", "v1")
    ks_docs = [Document(_app_kustomization(c, lay), ks_schema)]
    if c.schedules:
        ks_docs.append(Document(_schedules_kustomization(c, lay), ks_schema))
    add(lay.ks_file, "ks.yaml.j2", *ks_docs)

    # The app: chart source, HelmRelease, encrypted credentials, monitoring.
    source_file, source_doc = _chart_source(c, schema)
    app_resources = ["./helmrelease.yaml", f"./{source_file}", "./secret.sops.yaml"]
    # Applied with the HelmRelease, so it exists before Velero starts and creates its default (docs/secrets.md).
    managed_password = c.velero.repository_password == "managed"
    if managed_password:
        app_resources.append(f"./{PurePosixPath(lay.repo_password_file).name}")
    metrics_on = c.metrics.enabled
    if metrics_on and c.metrics.prometheus_rule:
        app_resources.append("./prometheusrule.yaml")
    if metrics_on and c.metrics.dashboard.enabled:
        app_resources.append("./grafana-dashboard.yaml")
    add(f"{lay.app_dir}/kustomization.yaml", "kustomization.yaml.j2",
        Document(_kustomization(sorted(app_resources)), KUSTOMIZATION_SCHEMA))
    add(f"{lay.app_dir}/helmrelease.yaml", "helmrelease.yaml.j2",
        Document(_helmrelease(loaded), schema("helm.toolkit.fluxcd.io", "HelmRelease", "v2")))
    add(f"{lay.app_dir}/{source_file}", source_file + ".j2", source_doc)
    if metrics_on and c.metrics.prometheus_rule:
        from velero_gitops.observability.alerts import rule_groups

        add(f"{lay.app_dir}/prometheusrule.yaml", "prometheusrule.yaml.j2",
            Document(_prometheus_rule(c, rule_groups(c)), schema("monitoring.coreos.com", "PrometheusRule", "v1")))
    if metrics_on and c.metrics.dashboard.enabled:
        from velero_gitops.observability.dashboard import dashboard_json

        add(f"{lay.app_dir}/grafana-dashboard.yaml", "grafana-dashboard.yaml.j2",
            Document(_dashboard_configmap(c, dashboard_json(c)), None))

    # Schedules: one file each, applied by the second Kustomization. Without schedules there is neither
    # folder nor Kustomization (an empty kustomization.yaml would have `resources: []` and apply nothing).
    if c.schedules:
        sched_files = [f"./{s.name}.yaml" for s in c.schedules]
        add(f"{lay.schedules_dir}/kustomization.yaml", "kustomization.yaml.j2",
            Document(_kustomization(sorted(sched_files)), KUSTOMIZATION_SCHEMA))
    for s in c.schedules:
        add(f"{lay.schedules_dir}/{s.name}.yaml", "schedule.yaml.j2",
            Document(schedule_object(c, s), schema("velero.io", "Schedule", "v1")))

    _check_paths(arts)
    notes = []
    _, stand_in = compat.velero(c.velero.velero_version)
    if stand_in:
        notes.append(stand_in)
    if not c.schedules:
        notes.append("no schedules configured: no schedules folder or Kustomization is rendered; "
                     "Velero will only run backups you start yourself")
    return Plan(artifacts=tuple(arts), secret_path=lay.secret_file, notes=tuple(notes),
                repo_password_path=lay.repo_password_file if managed_password else None)


class UnsafePath(RuntimeError):
    """Two planned files share a path, or one leaves the repository: a bug (the config refuses such names)."""


def _check_paths(arts: list[Artifact]) -> None:
    """Every file stays under the repository root, outside .git, and no file overwrites another one."""
    seen: set[str] = set()
    for a in arts:
        parts = a.path.split("/")
        if a.path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts) or a.path in seen:
            raise UnsafePath(f"planned path {a.path!r} leaves the repository or is planned twice")
        seen.add(a.path)


# ----------------------------------------------------------------------------------------- pieces
def _schema_url(c: Config) -> SchemaUrl:
    def url(group: str, kind: str, version: str) -> str | None:
        if not c.repo.schema_comments:
            return None
        return f"{c.repo.schema_base_url}/{group}/{kind.lower()}_{version}.json"

    return url


def _kustomization(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}


def _namespace(c: Config) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": c.repo.namespace,
        # Deleting the namespace would delete every Backup object with it: never let Flux prune it.
        "annotations": {"kustomize.toolkit.fluxcd.io/prune": "disabled"},
    }
    if c.velero.pod_security_labels:
        # node-agent mounts hostPath volumes, which the baseline and restricted levels forbid.
        meta["labels"] = {f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("audit", "enforce", "warn")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _source_ref(c: Config) -> dict[str, str]:
    r = c.flux.source_ref
    return {"kind": r.kind, "name": r.name, "namespace": r.namespace}


def _flux_meta(c: Config, name: str) -> dict[str, str]:
    """Flux Kustomizations live in flux.namespace (Flux's own): kustomize-controller reads
    decryption.secretRef and a namespace-less dependsOn from the Kustomization's own namespace
    (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys,
    internal/controller/kustomization_controller.go checkDependencies)."""
    return {"name": name, "namespace": c.flux.namespace}


KUSTOMIZATION_TIMEOUT_MARGIN = 300  # seconds the health check outlasts the HelmRelease's own timeout


def kustomization_timeout(c: Config) -> str | None:
    """The app Kustomization's timeout, or None when the controller's default is long enough.

    The default is the interval minus 30s, at least 30s (fluxcd/kustomize-controller@v1.9.4:
    api/v1/kustomization_types.go GetTimeout). The health check waits for the HelmRelease, so it must
    not give up before the release's own timeout has passed.
    """
    release = parse_duration(c.flux.timeout)
    if release < controller_timeout({"interval": c.flux.interval}):
        return None
    return flux_duration(release + KUSTOMIZATION_TIMEOUT_MARGIN)


def controller_timeout(spec: dict[str, Any]) -> float:
    """Seconds kustomize-controller gives a Kustomization with this spec for apply and health checks:
    spec.timeout, else the interval minus 30s; at least 30s (fluxcd/kustomize-controller@v1.9.4:
    api/v1/kustomization_types.go GetTimeout, used by checkHealth's WaitForSetWithContext)."""
    d = parse_duration(spec["timeout"]) if "timeout" in spec else parse_duration(spec["interval"]) - 30
    return max(d, 30)


def flux_duration(seconds: float) -> str:
    """Whole seconds as a short Flux duration: 1h20m, 20m, 45s."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (sec, "s")) if v) or "0s"


def decryption(c: Config) -> dict[str, Any] | None:
    """spec.decryption of the app Kustomization, or None when a root patch injects it."""
    d = c.flux.decryption
    if not d.enabled:
        return None
    if d.key_from == "controller":
        # No secretRef: kustomize-controller falls back to its --sops-age-secret key (in its own namespace).
        return {"provider": "sops"}
    return {"provider": "sops", "secretRef": {"name": d.secret_ref}}


def _app_kustomization(c: Config, lay: Layout) -> dict[str, Any]:
    app = c.repo.app
    spec: dict[str, Any] = {
        # Ready only when the HelmRelease is Ready, i.e. the chart and its CRDs are installed.
        "healthChecks": [{"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                          "name": app, "namespace": c.repo.namespace}],
        "interval": c.flux.interval,
        "path": lay.flux_path(lay.app_dir),
        "prune": True,
        "sourceRef": _source_ref(c),
        "targetNamespace": c.repo.namespace,
    }
    timeout = kustomization_timeout(c)
    if timeout:
        spec["timeout"] = timeout
    if c.flux.depends_on:
        spec["dependsOn"] = [{"name": d.name, "namespace": d.namespace} for d in c.flux.depends_on]
    dec = decryption(c)
    if dec:
        spec["decryption"] = dec
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": _flux_meta(c, app), "spec": spec}


def _schedules_kustomization(c: Config, lay: Layout) -> dict[str, Any]:
    spec = {
        # The Schedule CRD exists only after the chart installed it.
        "dependsOn": [{"name": c.repo.app, "namespace": c.flux.namespace}],
        "interval": c.flux.interval,
        "path": lay.flux_path(lay.schedules_dir),
        "prune": True,
        "sourceRef": _source_ref(c),
        "targetNamespace": c.repo.namespace,
    }
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": _flux_meta(c, c.kustomization_names()[1]), "spec": spec}


def _chart_source(c: Config, schema: SchemaUrl) -> tuple[str, Document]:
    src = c.flux.chart_source
    if src.type == "OCIRepository":
        obj = {
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": chart_source_name(c)},
            "spec": {
                "interval": src.interval,
                "layerSelector": {"mediaType": HELM_MEDIA_TYPE, "operation": "copy"},
                "ref": {"tag": c.velero.chart_version},
                "url": src.resolved_url(),
            },
        }
        return "ocirepository.yaml", Document(obj, schema("source.toolkit.fluxcd.io", "OCIRepository", "v1"))
    obj = {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": chart_source_name(c)},
        "spec": {"interval": src.interval, "url": src.resolved_url()},
    }
    return "helmrepository.yaml", Document(obj, schema("source.toolkit.fluxcd.io", "HelmRepository", "v1"))


def chart_source_name(c: Config) -> str:
    """Name of the Flux chart source object (explain and the HelmRelease refer to it)."""
    if c.flux.chart_source.type == "OCIRepository":
        return c.repo.app
    return "vmware-tanzu" if c.flux.chart_source.url is None else f"{c.repo.app}-charts"


def _helmrelease(loaded: LoadedConfig) -> dict[str, Any]:
    c = loaded.config
    spec: dict[str, Any] = {
        "interval": c.flux.interval,
        "releaseName": c.repo.app,
        "timeout": c.flux.timeout,
        "values": chart_values(loaded),
    }
    if c.flux.chart_source.type == "OCIRepository":
        spec["chartRef"] = {"kind": "OCIRepository", "name": chart_source_name(c)}
    else:
        spec["chart"] = {"spec": {
            "chart": "velero",
            "sourceRef": {"kind": "HelmRepository", "name": chart_source_name(c)},
            "version": c.velero.chart_version,
        }}
    install: dict[str, Any] = {}
    upgrade: dict[str, Any] = {}
    if c.flux.crds_create_replace:
        # Flux applies the chart's crds/ on install and upgrade; the chart's upgradeCRDs hook Job is off.
        install["crds"] = upgrade["crds"] = "CreateReplace"
    if c.flux.remediation.enabled:
        install["remediation"] = {"retries": c.flux.remediation.retries}
        upgrade["cleanupOnFail"] = True
        upgrade["remediation"] = {"retries": c.flux.remediation.retries, "strategy": "rollback"}
    if install:
        spec["install"] = install
    if upgrade:
        spec["upgrade"] = upgrade
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": c.repo.app}, "spec": spec}


NODE_AGENT_CONFIGMAP_KEY = "node-agent"


def chart_fullname(c: Config) -> str:
    """The chart's `velero.fullname` for our release (vmware-tanzu/helm-charts@velero-12.1.0:
    charts/velero/templates/_helpers.tpl): the release name if it contains "velero", else <release>-velero."""
    release = c.repo.app
    name = release if "velero" in release else f"{release}-velero"
    return name[:63].rstrip("-")


def node_agent_configmap_name(c: Config) -> str:
    return f"{chart_fullname(c)}-{NODE_AGENT_CONFIGMAP_KEY}"


def chart_values(loaded: LoadedConfig) -> dict[str, Any]:
    """Values for the vmware-tanzu/velero chart (vmware-tanzu/helm-charts: charts/velero/values.yaml)."""
    c = loaded.config
    v, s3, na = c.velero, c.s3, c.velero.node_agent
    bsl_config: dict[str, str] = {  # the chart quotes every value; strings here keep Git and cluster equal
        "region": s3.region,
        "s3ForcePathStyle": "true" if s3.force_path_style else "false",
        "s3Url": s3.endpoint,
    }
    if s3.insecure_skip_tls_verify:
        bsl_config["insecureSkipTLSVerify"] = "true"
    if s3.checksum_algorithm is not None:
        bsl_config["checksumAlgorithm"] = s3.checksum_algorithm
    bsl: dict[str, Any] = {
        "accessMode": "ReadWrite",
        "bucket": s3.bucket,
        "config": bsl_config,
        "default": True,
        "name": BSL_NAME,
        "provider": "aws",
    }
    if s3.prefix:
        bsl["prefix"] = s3.prefix
    if loaded.ca_bundle_b64:
        bsl["caCert"] = loaded.ca_bundle_b64

    node_agent: dict[str, Any] = {
        "pluginVolumePath": na.plugins_path,
        "podVolumePath": na.pods_path,
        "resources": na.resources.as_dict(),
    }
    if na.privileged:
        node_agent["containerSecurityContext"] = {"privileged": True}
        # Since 1.17 the pods that read the volumes are separate; only the node-agent ConfigMap makes them
        # privileged (vmware-tanzu/velero@v1.18.1:pkg/cmd/cli/nodeagent/server.go, pkg/exposer/pod_volume.go).
        node_agent["extraArgs"] = [f"--node-agent-configmap={node_agent_configmap_name(c)}"]
    if na.node_selector:
        node_agent["nodeSelector"] = dict(na.node_selector)
    if na.tolerations:
        node_agent["tolerations"] = [t.as_dict() for t in na.tolerations]

    values: dict[str, Any] = {
        "backupsEnabled": True,
        "configuration": {
            "backupStorageLocation": [bsl],
            "defaultBackupTTL": v.default_backup_ttl,
            "defaultVolumesToFsBackup": v.default_volumes_to_fs_backup,
            "fsBackupTimeout": v.fs_backup_timeout,
            "garbageCollectionFrequency": v.garbage_collection_frequency,
            "logLevel": v.log_level,
            "uploaderType": v.uploader,
        },
        "credentials": {"existingSecret": s3.credentials_secret, "useSecret": True},
        "deployNodeAgent": True,
        "initContainers": [{
            "image": v.aws_plugin_image,
            "imagePullPolicy": "IfNotPresent",
            "name": "velero-plugin-for-aws",
            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
        }],
        "metrics": _metrics_values(c),
        "nodeAgent": node_agent,
        "snapshotsEnabled": False,  # file-system backups only; no VolumeSnapshotLocation
        # Whoever upgrades the CRDs: Flux (crds: CreateReplace) or else the chart's hook Job (config/compat.py CrdSetup).
        "upgradeCRDs": upgrade_crds_job(c),
    }
    if na.privileged:
        # The chart's generic configMaps renders ConfigMap <fullname>-<key>; node-agent wants exactly one data key.
        values["configMaps"] = {NODE_AGENT_CONFIGMAP_KEY: {"data": {
            "node-agent-config.json": json.dumps({"privilegedFsBackup": True}, separators=(",", ":")),
        }}}
    if v.resources.as_dict():
        values["resources"] = v.resources.as_dict()
    if v.image_tag:
        values["image"] = {"tag": v.image_tag}
    values = merge_values(values, v.extra_values, {tuple(k.split(".")) for k in v.extra_values_override}, loaded)
    chart = compat.chart(v.chart_version)
    unread = compat.unknown_value_keys(chart.value_keys, values, v.chart_version) if chart else []
    if unread:  # a value this tool renders that the pinned chart no longer reads would vanish silently
        raise ConfigError([f"{loaded.where('velero', 'chartVersion')} {p.message}; velero-gitops renders it, so "
                           "this chart version is not supported by this velero-gitops" for p in unread])
    return values


def merge_values(ours: dict[str, Any], extra: dict[str, Any], overrides: set[tuple[str, ...]], loaded: LoadedConfig,
                 path: tuple[str, ...] = ()) -> dict[str, Any]:
    """velero.extraValues under our values: mappings merge, our values win, except at the paths the user listed
    in velero.extraValuesOverride. A value of theirs that ours would silently replace is refused instead."""
    out = dict(ours)
    for key, theirs in extra.items():
        here = path + (key,)
        if key not in ours or here in overrides:
            out[key] = theirs
        elif isinstance(ours[key], dict) and isinstance(theirs, dict):
            out[key] = merge_values(ours[key], theirs, overrides, loaded, here)
        elif ours[key] != theirs:
            raise ConfigError([f"{loaded.where('velero', 'extraValues', *here)} velero-gitops renders this value from "
                               f"the config (as {ours[key]!r}); set it through its config field "
                               "(docs/config-reference.md), or list it in velero.extraValuesOverride to replace it"])
    return out


def _metrics_values(c: Config) -> dict[str, Any]:
    m = c.metrics
    if not m.enabled:
        return {"enabled": False}
    out: dict[str, Any] = {"enabled": True}
    labels = dict(m.additional_labels)
    if m.service_monitor:
        out["serviceMonitor"] = {"enabled": True, **({"additionalLabels": labels} if labels else {})}
    if m.pod_monitor:
        out["nodeAgentPodMonitor"] = {"enabled": True, **({"additionalLabels": labels} if labels else {})}
    return out


def schedule_object(c: Config, s: ScheduleConfig) -> dict[str, Any]:
    """The Velero Schedule for schedule ``s`` of config ``c`` (also the template of `backup-manifest --from-schedule`)."""
    template: dict[str, Any] = {
        "defaultVolumesToFsBackup": (
            s.default_volumes_to_fs_backup if s.default_volumes_to_fs_backup is not None
            else c.velero.default_volumes_to_fs_backup
        ),
        "includedNamespaces": list(s.namespaces),
        "snapshotVolumes": False,  # no VolumeSnapshotLocation: volumes go through the node-agent
        "storageLocation": s.storage_location,
        "ttl": c.schedule_ttl(s),
    }
    if s.excluded_resources:
        template["excludedResources"] = list(s.excluded_resources)
    if s.label_selector and s.label_selector.match_labels:
        template["labelSelector"] = {"matchLabels": dict(s.label_selector.match_labels)}
    spec: dict[str, Any] = {
        "schedule": s.cron,
        "template": template,
        # Owner references would let a renamed or deleted Schedule take its Backups with it.
        "useOwnerReferencesInBackup": False,
    }
    if s.paused:
        spec["paused"] = True
    return {"apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": {"name": s.name, "namespace": c.repo.namespace}, "spec": spec}


def _prometheus_rule(c: Config, groups: list[dict[str, Any]]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": c.repo.app, "namespace": c.repo.namespace}
    if c.metrics.additional_labels:
        meta["labels"] = dict(c.metrics.additional_labels)
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": meta,
            "spec": {"groups": groups}}


def _dashboard_configmap(c: Config, text: str) -> dict[str, Any]:
    d = c.metrics.dashboard
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": f"{c.repo.app}-dashboard",
            "namespace": c.repo.namespace,
            "annotations": {"grafana_folder": d.folder},
            "labels": {d.label: "1"},
        },
        "data": {"velero.json": text},
    }
