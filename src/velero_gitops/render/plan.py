"""Decide everything the tree contains. Pure: no I/O, no templates.

`plan_tree(loaded)` returns the list of files (`Artifact`) with the Kubernetes objects each holds.
Every decision about the generated tree is made here, so it can be tested directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from velero_gitops.config import compat
from velero_gitops.config.loader import LoadedConfig
from velero_gitops.config.model import BSL_NAME, CHART_MONITORS, upgrade_crds_job
from velero_gitops.config.names import endpoint_outcomes, pod_local_problem
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
    field: tuple[str | int, ...] = ()  # the config field that makes the object grow, named when it is too large
    shrink: str = ""  # how to make it smaller


@dataclass(frozen=True)
class Artifact:
    path: str  # POSIX, relative to the repository root
    docs: tuple[Document, ...]


@dataclass(frozen=True)
class Plan:
    artifacts: tuple[Artifact, ...]
    secret_path: str  # referenced by the app kustomization, written only by encrypt-secret
    notes: tuple[str, ...] = ()
    repo_password_path: str | None = None  # likewise, written only by encrypt-repo-password (when managed)


def plan_tree(loaded: LoadedConfig) -> Plan:
    c = loaded.config
    lay = Layout.of(c)
    schema = _schema_url(c)
    arts: list[Artifact] = []
    variables = _config_expressions(c)
    substituting: list[str] = []  # the folders a rendered Kustomization with postBuild applies (set with ks_docs)

    def add(path: str, *docs: Document) -> None:
        sub = variables if any(path.startswith(d) for d in substituting) else frozenset()
        arts.append(Artifact(path=path, docs=tuple(_substitution(d, sub) for d in docs)))

    # Namespace folder: the namespace itself (prune disabled, Pod Security) and the app's ks.yaml. No
    # `namespace:` here: it would override the Flux Kustomizations' own metadata.namespace (see _flux_meta).
    add(f"{lay.namespace_dir}/kustomization.yaml",
        Document(_kustomization(["./namespace.yaml", f"./{c.repo.app}/ks.yaml"]), KUSTOMIZATION_SCHEMA))
    add(f"{lay.namespace_dir}/namespace.yaml", Document(namespace_object(c), None))

    # Flux Kustomizations: the chart first, the Schedules (if any) once its CRDs exist, monitoring on its own.
    ks_schema = schema("kustomize.toolkit.fluxcd.io", "Kustomization", "v1")
    ks_docs = [Document(_app_kustomization(c, lay), ks_schema)]
    if c.schedules:
        ks_docs.append(Document(_schedules_kustomization(c, lay), ks_schema))
    monitoring = _monitoring_objects(c, schema)
    if monitoring:
        ks_docs.append(Document(monitoring_kustomization(c, lay), ks_schema))
    substituting.extend(f"{d.obj['spec']['path'].removeprefix('./').rstrip('/')}/" for d in ks_docs
                        if d.obj["spec"].get("postBuild"))
    add(lay.ks_file, *ks_docs)
    # The disaster-recovery entry point: listed in no kustomization.yaml, applied by hand (ops/disaster.py). The
    # namespace folder has a kustomization.yaml, so a kustomization Flux generates above it stops there too
    # (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests, filepath.SkipDir).
    add(lay.disaster_recovery_file, Document(disaster_recovery_kustomization(c, lay), ks_schema))

    # The app: chart source, HelmRelease, encrypted credentials. Nothing here needs a CRD the chart does not
    # bring: one object failing its dry-run aborts the whole apply (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go
    # ApplyAll returns on the first dry-run error), so a PrometheusRule here would keep Velero off a cluster
    # without the Prometheus Operator.
    source_file, source_doc = _chart_source(c, schema)
    app_resources = ["./helmrelease.yaml", f"./{source_file}", *(f"./{PurePosixPath(f).name}" for f in sops_files(c))]
    managed_password = lay.repo_password_file in sops_files(c)
    add(f"{lay.app_dir}/kustomization.yaml",
        Document(_kustomization(sorted(app_resources)), KUSTOMIZATION_SCHEMA))
    add(f"{lay.app_dir}/helmrelease.yaml",
        Document(_helmrelease(loaded), schema("helm.toolkit.fluxcd.io", "HelmRelease", "v2"),
                 ("velero", "extraValues"), "Set fewer chart values here"))
    add(f"{lay.app_dir}/{source_file}", source_doc)

    # Monitoring: rules, monitors and dashboard, applied by their own Kustomization (see monitoring_kustomization).
    if monitoring:
        add(f"{lay.monitoring_dir}/kustomization.yaml",
            Document(_kustomization(sorted(f"./{name}" for name, _ in monitoring)), KUSTOMIZATION_SCHEMA))
    for name, doc in monitoring:
        add(f"{lay.monitoring_dir}/{name}", doc)

    # Schedules: one file each, applied by the second Kustomization. Without schedules there is neither
    # folder nor Kustomization (an empty kustomization.yaml would have `resources: []` and apply nothing).
    if c.schedules:
        sched_files = [f"./{s.name}.yaml" for s in c.schedules]
        add(f"{lay.schedules_dir}/kustomization.yaml",
            Document(_kustomization(sorted(sched_files)), KUSTOMIZATION_SCHEMA))
    for s in c.schedules:
        add(f"{lay.schedules_dir}/{s.name}.yaml",
            Document(schedule_object(c, s), schema("velero.io", "Schedule", "v1")))

    _check_paths(arts)
    _check_sizes(arts, loaded)
    notes = []
    _, stand_in = compat.velero(c.velero.velero_version)
    if stand_in:
        notes.append(stand_in)
    if not c.schedules:
        notes.append("no schedules configured: no schedules folder or Kustomization is rendered; "
                     "Velero will only run backups you start yourself")
    return Plan(artifacts=tuple(arts), secret_path=lay.secret_file, notes=tuple(notes),
                repo_password_path=lay.repo_password_file if managed_password else None)


SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"


def _config_expressions(c: Config) -> frozenset[str]:
    """The `${...}` expressions the config's values hold (`s3.endpoint: https://nas.${domain}`): Flux's to substitute
    (the config refuses one without flux.substituteFrom where it needs it)."""
    from velero_gitops import varsub

    found: set[str] = set()
    stack: list[object] = [c.model_dump(mode="json")]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            stack.extend(n.keys())
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
        elif isinstance(n, str):
            found.update(varsub.expressions(n))
    return frozenset(found)


def _substitution(doc: Document, variables: frozenset[str]) -> Document:
    """Every object we render says `kustomize.toolkit.fluxcd.io/substitute: disabled`, but one that holds a variable
    the config put there (``variables``) and that a rendered Kustomization with postBuild applies: there every other
    `$` is escaped (`$$`), so only the config's variables change.

    kustomize-controller skips the whole object when a label or annotation carries that value
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go SubstituteVariables, used by
    fluxcd/kustomize-controller@v1.9.4): the endpoint's `${domain}` would reach Velero as written. The others stay
    disabled: the dashboard holds Grafana's `${datasource}`, and a parent Kustomization that patches postBuild into
    its children (common in home-ops repositories) would blank it. kustomization.yaml files are no objects: they
    are left alone.
    """
    md = doc.obj.get("metadata")
    if not isinstance(md, dict):
        return doc
    if variables and _holds(doc.obj, variables):
        return replace(doc, obj=_escaped(doc.obj, variables))
    annotations = {**md.get("annotations", {}), SUBSTITUTE_KEY: "disabled"}
    return replace(doc, obj={**doc.obj, "metadata": {**md, "annotations": annotations}})


def _holds(node: object, variables: frozenset[str]) -> bool:
    from velero_gitops import varsub

    if isinstance(node, dict):
        return any(_holds(k, variables) or _holds(v, variables) for k, v in node.items())
    if isinstance(node, list):
        return any(_holds(v, variables) for v in node)
    return isinstance(node, str) and any(e in variables for e in varsub.expressions(node))


def _escaped(node: Any, variables: frozenset[str]) -> Any:
    """``node`` with every `$` but those of ``variables`` escaped in its keys and strings (envsubst reads the whole
    serialized object, keys too)."""
    from velero_gitops import varsub

    if isinstance(node, dict):
        return {_escaped(k, variables): _escaped(v, variables) for k, v in node.items()}
    if isinstance(node, list):
        return [_escaped(v, variables) for v in node]
    return varsub.escape_except(node, variables) if isinstance(node, str) else node


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
def _check_sizes(arts: list[Artifact], loaded: LoadedConfig) -> None:
    """Every rendered object is one the cluster can store (render/limits.py); else a config error at the field it
    grows with, before anything is written."""
    from velero_gitops.render import limits

    problems = []
    for a in arts:
        for d in a.docs:
            big = limits.too_large(d.obj)
            if big is not None:
                problems.append(f"{loaded.where(*d.field)} {a.path} would be {limits.mib(big.size)} ({big.what}; at "
                                f"most {limits.mib(big.limit)}): {big.why}. {d.shrink or 'Make it smaller'}")
    if problems:
        raise ConfigError(problems)


def _schema_url(c: Config) -> SchemaUrl:
    def url(group: str, kind: str, version: str) -> str | None:
        if not c.repo.schema_comments:
            return None
        return f"{c.repo.schema_base_url}/{group}/{kind.lower()}_{version}.json"

    return url


def _kustomization(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}


def namespace_object(c: Config) -> dict[str, Any]:
    """The rendered Namespace of Velero (its labels are what a namespace selector sees)."""
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


def sops_files(c: Config) -> list[str]:
    """The SOPS-encrypted files the app Kustomization builds (repository-relative): the S3 credentials Secret unless
    something else makes it (s3.credentialsFrom), and the kopia password Secret when it is managed, applied with the
    HelmRelease so it exists before Velero starts and creates its default (docs/secrets.md)."""
    lay = Layout.of(c)
    return [*([lay.secret_file] if c.s3.credentials_from == "sops" else []),
            *([lay.repo_password_file] if c.velero.repository_password == "managed" else [])]


def decryption(c: Config) -> dict[str, Any] | None:
    """spec.decryption of the app Kustomization: None when a root patch injects it, or when its build holds no
    encrypted file. With decryption set, kustomize-controller fetches the key Secret before every build and fails
    the Kustomization when it is missing, encrypted files or not (fluxcd/kustomize-controller@v1.9.4:
    internal/decryptor/decryptor.go ImportKeys returns early only when spec.decryption is nil)."""
    return decryption_spec(c) if c.flux.decryption.enabled and sops_files(c) else None


def decryption_spec(c: Config) -> dict[str, Any]:
    """The decryption flux.decryption describes, whether we render it or a root patch injects it."""
    d = c.flux.decryption
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
    if c.flux.substitute_from:
        spec["postBuild"] = {"substituteFrom": [r.model_dump(by_alias=True, exclude_defaults=True) | {"kind": r.kind}
                                                for r in c.flux.substitute_from]}
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
            "metadata": _flux_meta(c, schedules_kustomization_name(c)), "spec": spec}


def schedules_kustomization_name(c: Config) -> str:
    return c.kustomization_names()[1]


def monitoring_kustomization(c: Config, lay: Layout) -> dict[str, Any]:
    """The Kustomization of the monitoring objects, apart from Velero's.

    Its objects need the Prometheus Operator CRDs (and a Grafana sidecar for the dashboard). On its own,
    a dry-run failure here leaves Velero and its Schedules alone (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go
    ApplyAll stops the whole apply at the first failed dry-run). It waits for metrics.dependsOn (the
    monitoring stack that installs the CRDs), not for Velero: the alerts must be in place exactly when the
    Velero install fails.
    """
    spec: dict[str, Any] = {
        "interval": c.flux.interval,
        "path": lay.flux_path(lay.monitoring_dir),
        "prune": True,
        "sourceRef": _source_ref(c),
        "targetNamespace": c.repo.namespace,
    }
    if c.metrics.depends_on:
        spec["dependsOn"] = [{"name": d.name, "namespace": d.namespace} for d in c.metrics.depends_on]
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": _flux_meta(c, monitoring_kustomization_name(c)), "spec": spec}


def monitoring_kustomization_name(c: Config) -> str:
    return c.monitoring_kustomization_name()


def disaster_recovery_kustomization_name(c: Config) -> str:
    return c.disaster_recovery_kustomization_name()


def disaster_recovery_kustomization(c: Config, lay: Layout) -> dict[str, Any]:
    """The entry point of a restore onto a new cluster (docs/restore-drill.md section 7, ops/disaster.py).

    Applied by hand on a cluster that runs only the Flux controllers and the repository's source, it applies
    the namespace folder (the Namespace and the Flux Kustomizations of ks.yaml) and patches them for a restore:

    * the HelmRelease gets the BackupStorageLocation `accessMode: ReadOnly`, as Velero's DR guide does
      (vmware-tanzu/velero@v1.18.1:site/content/docs/v1.18/disaster-case.md); the backup controller then
      refuses new backups into the old prefix (pkg/controller/backup_controller.go, ReadOnly) and garbage
      collection deletes nothing there (pkg/controller/gc_controller.go, gcFailureBSLReadOnly);
    * with `flux.decryption.enabled: false` (a root patch injects it, and that root is not applied yet) the app
      Kustomization gets the decryption flux.decryption describes;
    * the Schedules Kustomization is suspended, so no Schedule exists until the restore is done
      (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go: a suspended
      Kustomization is not reconciled).

    `prune: false`: deleting this Kustomization after the restore must leave what it applied to the
    Kustomization that applies the namespace folder in the normal tree. That one applies the same objects
    with the same field manager, so the server-side apply drops these patches and `suspend` again.
    """
    read_only = [{"op": "replace", "path": "/spec/values/configuration/backupStorageLocation/0/accessMode",
                  "value": "ReadOnly"}]
    app_patch: list[dict[str, Any]] = [{"op": "add", "path": "/spec/patches", "value": [{
        "patch": _yaml_text(read_only),
        "target": {"group": "helm.toolkit.fluxcd.io", "kind": "HelmRelease", "name": c.repo.app},
    }]}]
    if not c.flux.decryption.enabled and sops_files(c):
        # the root patch that injects decryption is not applied during the restore: inject what it would
        app_patch.append({"op": "add", "path": "/spec/decryption", "value": decryption_spec(c)})
    patches: list[dict[str, Any]] = [{
        "patch": _yaml_text(app_patch),
        "target": {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization", "name": c.repo.app},
    }]
    if c.schedules:
        patches.append({
            "patch": _yaml_text([{"op": "add", "path": "/spec/suspend", "value": True}]),
            "target": {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization",
                       "name": schedules_kustomization_name(c)},
        })
    spec: dict[str, Any] = {
        "interval": c.flux.interval,
        "patches": patches,
        "path": lay.flux_path(lay.namespace_dir),
        "prune": False,
        "sourceRef": _source_ref(c),
    }
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": _flux_meta(c, disaster_recovery_kustomization_name(c)), "spec": spec}


def _yaml_text(ops: list[dict[str, Any]]) -> str:
    """A JSON 6902 patch as the YAML text a Kustomization's spec.patches[].patch holds."""
    import textwrap

    from velero_gitops.render.yamlfmt import dump

    return textwrap.dedent(dump(ops))


def _monitoring_objects(c: Config, schema: SchemaUrl) -> list[tuple[str, Document]]:
    """(file name, document) of each monitoring object; empty without metrics."""
    m = c.metrics
    if not m.enabled:
        return []
    out: list[tuple[str, Document]] = []
    if m.service_monitor:
        out.append(("servicemonitor.yaml",
                    Document(_service_monitor(c), schema("monitoring.coreos.com", "ServiceMonitor", "v1"))))
    if m.pod_monitor:
        out.append(("podmonitor.yaml",
                    Document(_pod_monitor(c), schema("monitoring.coreos.com", "PodMonitor", "v1"))))
    # the rules and the dashboard have panels and alerts per schedule: they grow with `schedules`
    many = f"{len(c.schedules)} schedules are too many for one object; use fewer, or turn off metrics."
    if m.prometheus_rule:
        from velero_gitops.observability.alerts import rule_groups

        out.append(("prometheusrule.yaml", Document(_prometheus_rule(c, rule_groups(c)),
                                                    schema("monitoring.coreos.com", "PrometheusRule", "v1"),
                                                    ("schedules",), many + "prometheusRule")))
    if m.dashboard.enabled:
        from velero_gitops.observability.dashboard import dashboard_json

        out.append(("grafana-dashboard.yaml", Document(_dashboard_configmap(c, dashboard_json(c)), None,
                                                       ("schedules",), many + "dashboard.enabled")))
    return out


# The chart's scrape settings (vmware-tanzu/helm-charts@velero-12.1.0: charts/velero/values.yaml metrics.scrapeInterval,
# scrapeTimeout), kept for the monitors we render instead of the chart's.
SCRAPE = {"interval": "30s", "scrapeTimeout": "10s"}


def _chart_selector(c: Config) -> dict[str, str]:
    """The labels the chart puts on the Velero Service and pods: `velero.name` (the chart name, no nameOverride
    here) and the release (vmware-tanzu/helm-charts@velero-12.1.0: charts/velero/templates/service.yaml,
    node-agent-daemonset.yaml)."""
    return {"app.kubernetes.io/instance": c.repo.app, "app.kubernetes.io/name": "velero"}


def _monitor_meta(c: Config, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": c.repo.namespace}
    if c.metrics.additional_labels:
        meta["labels"] = dict(c.metrics.additional_labels)
    return meta


def _service_monitor(c: Config) -> dict[str, Any]:
    """What the chart's ServiceMonitor scrapes (charts/velero/templates/servicemonitor.yaml at velero-12.1.0),
    rendered here instead: the chart renders it only when the CRD exists at install or upgrade time
    (`autodetect`, .Capabilities), so a CRD installed later would wait for the next chart upgrade."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": _monitor_meta(c, chart_fullname(c)),
            "spec": {"endpoints": [{"port": "http-monitoring", **SCRAPE}],
                     "namespaceSelector": {"matchNames": [c.repo.namespace]},
                     "selector": {"matchLabels": _chart_selector(c)}}}


def _pod_monitor(c: Config) -> dict[str, Any]:
    """The chart's node-agent PodMonitor (charts/velero/templates/podmonitor.yaml at velero-12.1.0), rendered here."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": _monitor_meta(c, "node-agent"),
            "spec": {"namespaceSelector": {"matchNames": [c.repo.namespace]},
                     "podMetricsEndpoints": [{"port": "http-monitoring", **SCRAPE}],
                     "selector": {"matchLabels": {**_chart_selector(c), "name": "node-agent"}}}}


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
    """The chart's `velero.fullname` for our release (config/names.py velero_fullname)."""
    from velero_gitops.config.names import velero_fullname

    return velero_fullname(c.repo.app)


def node_agent_configmap_name(c: Config) -> str:
    return f"{chart_fullname(c)}-{NODE_AGENT_CONFIGMAP_KEY}"


def chart_values(loaded: LoadedConfig) -> dict[str, Any]:
    """Values for the vmware-tanzu/velero chart (vmware-tanzu/helm-charts: charts/velero/values.yaml)."""
    c = loaded.config
    v, s3, na = c.velero, c.s3, c.velero.node_agent
    # refused here, where s3Url is rendered, not in the config: `s3 check` connects from this machine, where a
    # loopback endpoint (a port-forward) is what the user means
    for url, when in endpoint_outcomes(s3.endpoint):
        problem = pod_local_problem(url)
        if problem:
            raise ConfigError([f"{loaded.where('s3', 'endpoint')} {problem}" + (f" ({when})" if when else "")])
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
    if s3.credentials_from != "sops":
        # A Secret made elsewhere, under any key: the BSL names it, and Velero hands that key to the object store and
        # to the kopia repository alike (vmware-tanzu/velero@v1.18.1:pkg/persistence/object_store.go and
        # pkg/repository/provider/unified_repo.go read location.Spec.Credential through the credentials file store).
        bsl["credential"] = {"key": s3.credentials_key, "name": s3.credentials_secret}
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
        "credentials": ({"existingSecret": s3.credentials_secret, "useSecret": True} if s3.credentials_from == "sops"
                        else {"useSecret": False}),
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
    if v.image_version_tag:
        values["image"] = {"tag": v.image_version_tag}
        if v.image_digest:  # the chart's own field for it (VeleroConfig.image_digest)
            values["image"]["digest"] = v.image_digest
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
                               f"the config (as {json.dumps(ours[key])}); set it through its config field "
                               "(docs/config-reference.md), or list it in velero.extraValuesOverride to replace it"])
    return out


def _metrics_values(c: Config) -> dict[str, Any]:
    # The chart's monitors stay off, and say so: a value the typed fields decide is written out even where it is
    # the chart's default, so merge_values sees an extraValues that contradicts it (a key left to the chart's
    # default is no value of ours, and would be merged in silently). The monitoring Kustomization renders them, so
    # the release needs no Prometheus Operator CRD (monitoring_kustomization).
    return {"enabled": c.metrics.enabled, **{m: {"enabled": False} for m in CHART_MONITORS}}


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
    if s.excluded_namespaces:
        template["excludedNamespaces"] = list(s.excluded_namespaces)
    if s.include_cluster_resources is not None:
        template["includeClusterResources"] = s.include_cluster_resources
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
            # Grafana's own ${...} variables: never Flux's to substitute, whichever Kustomization applies this
            # (a parent may patch postBuild into every child; fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go
            # skips an object with this annotation)
            "annotations": {"grafana_folder": d.folder, "kustomize.toolkit.fluxcd.io/substitute": "disabled"},
            "labels": {d.label: "1"},
        },
        "data": {"velero.json": text},
    }
