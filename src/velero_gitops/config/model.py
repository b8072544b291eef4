"""The typed config: the only place where defaults live.

Keys are camelCase like the Kubernetes objects they describe. Every field carries a description;
`docs/config-reference.md` is generated from this module (see `velero_gitops.config.reference`), so the
reference cannot drift from the code. Loading (with file/line/column in errors) is in `loader.py`.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from velero_gitops import varsub
from velero_gitops.config import compat, names, redact, renames
from velero_gitops.config import cron as cronlib
from velero_gitops.config.names import DNS1123_LABEL, bucket_name_problem
from velero_gitops.config.units import (
    FLUX_DURATION,
    NODE_AGENT_CPU_BUDGET,
    NODE_AGENT_MEMORY_BUDGET,
    go_duration,
    parse_duration,
    parse_quantity,
    resolution_problem,
)
from velero_gitops.varsub import BadSubstitution

# SemVer 2.0.0 (semver.org, the grammar Helm and Flux's OCI tag lookup use: Masterminds/semver StrictNewVersion):
# numeric identifiers have no leading zero, so `012.1.0` is no version and no OCI tag of the chart. Use fullmatch.
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?")
# The one BackupStorageLocation the `s3:` section renders (schedules may name only it; see config/semantics.py).
BSL_NAME = "default"
INT64_MAX = 2**63 - 1  # Kubernetes *int64 fields (k8s.io/api@v0.35.0:core/v1/types.go, Toleration.TolerationSeconds)
# A Go `int` field decodes a JSON number only within the platform's int: 32 bits on the linux/arm/v7 builds Flux
# ships, so the range every controller build reads is int32's.
GO_INT_MIN, GO_INT_MAX = -(2**31), 2**31 - 1


# Kubelet pods directory per distribution: <kubelet --root-dir>/pods. The plugin dir is its sibling.
# Each preset is checked against the distribution's own source in tests/render/test_plan.py.
KUBELET_PODS_PATHS = {
    "kubeadm": "/var/lib/kubelet/pods",
    "k3s": "/var/lib/kubelet/pods",
    "rke2": "/var/lib/kubelet/pods",
    "talos": "/var/lib/kubelet/pods",
    "k0s": "/var/lib/k0s/kubelet/pods",
    "microk8s": "/var/snap/microk8s/common/var/lib/kubelet/pods",
    "rke1": "/var/lib/kubelet/pods",  # RKE1 binds /var/lib/kubelet into its kubelet container as is
}


def at(field: str | tuple[str | int, ...], message: str) -> PydanticCustomError:
    """An error from a validator that the loader reports at ``field``, below where pydantic puts it: a dotted alias
    path (``requests.cpu``), or a tuple of keys and list indexes when a key may hold a dot (a label key)."""
    loc = tuple(int(p) if p.isdigit() else p for p in field.split(".")) if isinstance(field, str) else field
    return PydanticCustomError("located", "{msg}", {"msg": message, "loc": loc})


class _Model(BaseModel):
    # strict: a YAML string is not a boolean or a number here ('yes', 'off', '3'), as Kubernetes' own decoder
    # (kubernetes-sigs/yaml via encoding/json) refuses a string for a bool or int field; only int -> float widens
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, frozen=True,
        validate_default=True, strict=True,
    )


def _check_dns_label(value: str, what: str) -> str:
    problem = names.dns_label_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not a valid {what}: {problem}")
    return value


def _check_dns_subdomain(value: str, what: str) -> str:
    problem = names.dns_subdomain_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not a valid {what}: {problem}")
    return value


def _check_secret_name(value: str) -> str:
    return _check_dns_subdomain(value, "Secret name")


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():  # reported at the offending key, not at the first label of the map
        problem = names.labels_problem({key: val})
        if problem:
            raise at((key,), problem)
    return value


def _check_flux_duration(value: str) -> str:
    if not isinstance(value, str) or not FLUX_DURATION.fullmatch(value):
        raise ValueError(f"{value!r} is not a Flux duration such as 1h, 15m or 30s")
    # The controllers requeue after spec.interval; 0 means never again after the first reconcile
    # (fluxcd/helm-controller@v1.6.3:internal/controller/helmrelease_controller.go, RequeueAfter).
    if parse_duration(value) == 0:
        raise ValueError(f"{value!r} would stop Flux from ever reconciling again; use e.g. 1h")
    return value


def _check_url(value: str, schemes: tuple[str, ...], appended: bool = True) -> str:
    problem = names.url_problem(value, schemes, appended)
    if problem:
        raise ValueError(f"{names.redact_url(value)!r}: {problem}")
    return value


def _check_config_relative(value: str | None) -> str | None:
    # Relative to the config file, so '..' is allowed here; the loader refuses what resolves outside the root.
    problem = value is not None and names.repo_path_problem(value, allow_parent=True)
    if problem:
        raise ValueError(f"{value!r}: {problem}")
    return value


# --------------------------------------------------------------------------------------------- repo
class RepoConfig(_Model):
    """Where the tree goes inside the Git repository that Flux watches."""

    root: str = Field(".", description="Git repository root, relative to this config file. Flux paths are relative to it.")
    apps_root: str = Field("kubernetes/apps", description="Folder under the repository root that holds one folder per namespace.")
    namespace: str = Field("velero", description="Namespace Velero runs in (and the folder name under appsRoot).")
    app: str = Field("velero", description="App folder name under the namespace folder; also the HelmRelease and release name.")
    schema_comments: bool = Field(True, description="Write a `# yaml-language-server: $schema=` line into each generated file.")
    schema_base_url: str = Field(
        "https://kubernetes-schemas.pages.dev",
        description="Base URL of the CRD schema mirror used in those lines (`<base>/<group>/<kind>_<version>.json`).",
    )

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        # '..' is how a config in clusters/<name>/ names its repository; the loader refuses a root that does
        # not exist, and everything generated then stays inside it.
        return (_check_config_relative(v) or "").rstrip("/") or "."

    @field_validator("apps_root")
    @classmethod
    def _apps_root(cls, v: str) -> str:
        v = v.rstrip("/")
        problem = names.repo_path_problem(v)
        if problem:
            raise ValueError(f"{v!r}: {problem}")
        return str(PurePosixPath(v))  # "./kubernetes//apps" -> "kubernetes/apps"

    @field_validator("namespace", "app")
    @classmethod
    def _names(cls, v: str) -> str:
        return _check_dns_label(v, "Kubernetes name")

    @field_validator("app")
    @classmethod
    def _release_name(cls, v: str) -> str:
        if len(v) > names.HELM_RELEASE_NAME_MAX:
            raise ValueError(f"{v!r} is {len(v)} characters: it is also the Helm release name, which may have at "
                             f"most {names.HELM_RELEASE_NAME_MAX}")
        # The chart names its Service after the release (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/
        # templates/_helpers.tpl, velero.fullname), and a Service name is a DNS-1035 label: it starts with a letter
        # (kubernetes/kubernetes@v1.35.0:pkg/apis/core/validation/validation.go, ValidateServiceName).
        if not v[0].isalpha():
            raise ValueError(f"{v!r} starts with a digit: it is also the release name, and the chart's Service is "
                             "named after it; a Service name must start with a letter")
        return v

    @field_validator("schema_base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, ("https",)).rstrip("/")


# --------------------------------------------------------------------------------------------- flux
class SourceRef(_Model):
    kind: Literal["GitRepository", "OCIRepository", "Bucket"] = Field("GitRepository", description="Kind of the Flux source holding this repository.")
    name: str = Field("flux-system", description="Name of that source.")
    namespace: str = Field("flux-system", description="Namespace of that source.")

    _name = field_validator("name")(classmethod(lambda cls, v: _check_dns_subdomain(v, "source name")))
    _ns = field_validator("namespace")(classmethod(lambda cls, v: _check_dns_label(v, "namespace name")))


class DependsOn(_Model):
    name: str = Field(description="Name of a Flux Kustomization that must be Ready first (e.g. the OpenEBS one).")
    namespace: str = Field(
        "flux-system",
        description="Its namespace; defaults to `flux.namespace`. Always rendered: kustomize-controller would "
        "otherwise look in the namespace of Velero's own Kustomization.",
    )

    @field_validator("name")
    @classmethod
    def _n(cls, v: str) -> str:
        # Flux Kustomizations are named like any object: a DNS-1123 subdomain, dots allowed.
        return _check_dns_subdomain(v, "Kustomization name")

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        return _check_dns_label(v, "namespace name")


class Decryption(_Model):
    enabled: bool = Field(True, description="Add `decryption` to the app Kustomization. Turn off when a root patch injects it.")
    key_from: Literal["secretRef", "controller"] = Field(
        "secretRef",
        description="Where kustomize-controller gets the age private key. `secretRef`: the Secret `secretRef` in "
        "`flux.namespace`, where the Kustomizations live (the Flux guide's `sops-age` in `flux-system`). "
        "`controller`: render only `provider: sops`, so the controller's `--sops-age-secret` key is used.",
    )
    secret_ref: str = Field("sops-age", description="Secret holding the age private key under a key ending in `.agekey` (with keyFrom `secretRef`).")

    _secret = field_validator("secret_ref")(classmethod(lambda cls, v: _check_secret_name(v)))


class ChartSource(_Model):
    type: Literal["HelmRepository", "OCIRepository"] = Field(
        "HelmRepository",
        description="`HelmRepository` over https (the chart's advertised home) or `OCIRepository` + `chartRef`.",
    )
    url: str | None = Field(
        None,
        description="Chart repository URL. Defaults to https://vmware-tanzu.github.io/helm-charts or oci://ghcr.io/vmware-tanzu/charts/velero.",
    )
    interval: str = Field("1h", description="How often Flux checks the chart source.")

    _interval = field_validator("interval")(classmethod(lambda cls, v: _check_flux_duration(v)))

    @model_validator(mode="after")
    def _url_scheme(self) -> ChartSource:
        if self.url is None:
            return self
        want = "https" if self.type == "HelmRepository" else "oci"
        if not self.url.startswith(want + "://"):
            raise at("url", f"a {self.type} url must start with {want}:// (got {names.redact_url(self.url)!r})")
        if self.type == "OCIRepository":
            problem = names.oci_repository_problem(self.url)
            if problem:
                raise at("url", f"{names.redact_url(self.url)!r}: {problem}")
            return self
        try:
            _check_url(self.url, (want,), appended=False)
        except ValueError as exc:
            raise at("url", str(exc)) from None
        # source-controller appends /index.yaml itself (fluxcd/source-controller@v1.8.5:internal/helm/repository/
        # chart_repository.go, DownloadIndex: path.Join(u.Path, "index.yaml"))
        if names.split_url(self.url).path.rstrip("/").endswith("/index.yaml"):
            raise at("url", f"{names.redact_url(self.url)!r} names the index file; Flux appends /index.yaml itself, "
                     "so give the repository URL without it")
        return self

    def resolved_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        if self.type == "HelmRepository":
            return "https://vmware-tanzu.github.io/helm-charts"
        return "oci://ghcr.io/vmware-tanzu/charts/velero"


class SubstituteRef(_Model):
    kind: Literal["ConfigMap", "Secret"] = Field(description="Kind of the object holding the variables.")
    name: str = Field(description="Its name, in flux.namespace (where the rendered Kustomizations live).")
    optional: bool = Field(False, description="Apply even when it does not exist (variables keep their `:=` default).")

    _name = field_validator("name")(classmethod(lambda cls, v: _check_secret_name(v)))


class Remediation(_Model):
    enabled: bool = Field(True, description="Write install/upgrade remediation into the HelmRelease. Turn off when a root patch injects it.")
    # fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go InstallRemediation/UpgradeRemediation.Retries (an
    # int, no bound in the CRD) and RetriesExhausted (`Retries >= 0 && failures > Retries`): any negative number
    # retries forever, 0 never retries, N retries N times.
    retries: int = Field(3, ge=GO_INT_MIN, le=GO_INT_MAX, description="Remediation retries: how many times Flux "
                         "retries a failed install or upgrade (0: never; any negative number, e.g. -1: forever).")


class FluxConfig(_Model):
    namespace: str = Field(
        "flux-system",
        description="Namespace of the rendered Flux Kustomizations: Flux's own, where the decryption Secret is. "
        "`targetNamespace` puts what they apply into `repo.namespace`.",
    )
    source_ref: SourceRef = Field(default_factory=SourceRef, description="The source that holds this Git repository.")
    interval: str = Field("1h", description="Reconcile interval of the Kustomizations and the HelmRelease.")
    depends_on: list[DependsOn] = Field(default_factory=list, description="Flux Kustomizations the Velero app depends on (e.g. OpenEBS).")
    decryption: Decryption = Field(default_factory=Decryption, description="SOPS decryption on the app Kustomization.")
    chart_source: ChartSource = Field(default_factory=ChartSource, description="Where Flux gets the chart from.")
    remediation: Remediation = Field(default_factory=Remediation, description="Install/upgrade remediation.")
    crds_create_replace: bool = Field(
        True,
        description="Set `crds: CreateReplace` on install and upgrade, so Flux manages Velero's CRDs (the chart's upgradeCRDs Job is off). Turn off when a root patch injects it: the chart's upgradeCRDs Job is then rendered on, because without a policy helm-controller only creates missing CRDs and never upgrades them.",
    )
    timeout: str = Field("15m", description="HelmRelease timeout. The node-agent rollout on many nodes needs more than Flux's 5m default.")
    substitute_from: list[SubstituteRef] = Field(
        default_factory=list,
        description="postBuild.substituteFrom of the rendered Kustomizations: where Flux reads the `${VAR}` that "
        "s3.endpoint may hold (e.g. ConfigMap cluster-settings).")

    @model_validator(mode="before")
    @classmethod
    def _dependency_namespace(cls, data: Any) -> Any:
        # The controller reads a dependsOn without namespace from the dependent's own namespace; ours is
        # flux.namespace, so that is the default, written into the model so every consumer sees it.
        if not isinstance(data, dict) or not isinstance(data.get("dependsOn"), list):
            return data
        ns = data.get("namespace", "flux-system")
        if not isinstance(ns, str) or not DNS1123_LABEL.match(ns):
            return data  # reported at flux.namespace, not once more per dependency
        deps = [{**d, "namespace": ns} if isinstance(d, dict) and "namespace" not in d else d for d in data["dependsOn"]]
        return {**data, "dependsOn": deps}

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        return _check_dns_label(v, "namespace name")

    @field_validator("interval", "timeout")
    @classmethod
    def _durations(cls, v: str) -> str:
        return _check_flux_duration(v)

    @field_validator("timeout")
    @classmethod
    def _timeout_floor(cls, v: str) -> str:
        if parse_duration(v) < 600:
            raise ValueError(f"timeout {v} is too short: the node-agent rollout needs at least 10m")
        return v


# ------------------------------------------------------------------------------------------- velero
class ResourceList(_Model):
    cpu: str | None = Field(None, description="CPU quantity, e.g. 100m.")
    memory: str | None = Field(None, description="Memory quantity, e.g. 128Mi.")

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _q(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ValueError("expected a quantity such as 100m or 128Mi")
        problem = resolution_problem(info.field_name or "", str(v))
        if problem:
            raise ValueError(problem)
        return str(v)

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


class Resources(_Model):
    requests: ResourceList = Field(default_factory=ResourceList, description="Resource requests.")
    limits: ResourceList = Field(default_factory=ResourceList, description="Resource limits.")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for key in ("cpu", "memory"):
            req, lim = getattr(self.requests, key), getattr(self.limits, key)
            if req is not None and lim is not None and parse_quantity(req) > parse_quantity(lim):
                raise at(f"requests.{key}", f"{key} request {req} is larger than its limit {lim}")
        return self

    def as_dict(self) -> dict[str, dict[str, str]]:
        out = {}
        if self.requests.as_dict():
            out["requests"] = self.requests.as_dict()
        if self.limits.as_dict():
            out["limits"] = self.limits.as_dict()
        return out


def _resources(req_cpu: str, req_mem: str, lim_cpu: str | None, lim_mem: str) -> Resources:
    return Resources(
        requests=ResourceList(cpu=req_cpu, memory=req_mem),
        limits=ResourceList(cpu=lim_cpu, memory=lim_mem),
    )


class Toleration(_Model):
    """A Kubernetes toleration."""

    key: str | None = Field(None, description="Taint key, e.g. node-role.kubernetes.io/control-plane.")
    operator: Literal["Exists", "Equal"] | None = Field(None, description="Exists or Equal.")
    value: str | None = Field(None, description="Taint value (with Equal).")
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to tolerate; empty (or unset) tolerates every effect.")
    toleration_seconds: int | None = Field(
        None, ge=-INT64_MAX - 1, le=INT64_MAX,
        description="How long a NoExecute taint is tolerated (an int64; zero or negative evicts at once).")

    @model_validator(mode="after")
    def _kubernetes_rules(self) -> Toleration:
        problem = names.toleration_problem(self.key, self.operator, self.value, self.effect, self.toleration_seconds)
        if problem:
            field, why = problem
            raise at({"seconds": "tolerationSeconds"}.get(field, field), why)
        return self

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Budget(_Model):
    cpu: str = Field(NODE_AGENT_CPU_BUDGET, description="Highest CPU limit a node-agent pod may have.")
    memory: str = Field(NODE_AGENT_MEMORY_BUDGET, description="Highest memory limit a node-agent pod may have (the ask: under 500 MB).")

    @field_validator("cpu", "memory")
    @classmethod
    def _q(cls, v: str, info: ValidationInfo) -> str:
        problem = resolution_problem(info.field_name or "", v)
        if problem:
            raise ValueError(problem)
        return v


class NodeAgentConfig(_Model):
    distribution: Literal["kubeadm", "k3s", "rke2", "talos", "k0s", "microk8s", "rke1", "custom"] = Field(
        "kubeadm", description="Kubernetes distribution: picks the kubelet pods path node-agent mounts."
    )
    pod_volume_path: str | None = Field(None, description="Kubelet pods directory; required with distribution `custom`, otherwise from the preset.")
    plugin_volume_path: str | None = Field(None, description="Kubelet plugins directory; defaults to the sibling `plugins` of the pods path.")
    privileged: bool = Field(
        False,
        description="Run file-system backups privileged (SELinux hosts): the node-agent container and, through the "
        "node-agent ConfigMap's `privilegedFsBackup`, the pods that read the volumes. Off unless needed.",
    )
    resources: Resources = Field(
        default_factory=lambda: _resources("100m", "128Mi", NODE_AGENT_CPU_BUDGET, NODE_AGENT_MEMORY_BUDGET),
        description="node-agent DaemonSet resources.",
    )
    budget: Budget = Field(default_factory=Budget, description="Limits node-agent resources must stay within (checked here and by `validate`).")
    node_selector: dict[str, str] = Field(default_factory=dict, description="nodeSelector: put node-agent on every node that has LocalPV volumes.")
    tolerations: list[Toleration] = Field(default_factory=list, description="Tolerations, e.g. for control-plane nodes that hold volumes.")

    _labels = field_validator("node_selector")(classmethod(lambda cls, v: _check_labels(v)))

    @model_validator(mode="after")
    def _paths(self) -> NodeAgentConfig:
        if self.distribution == "custom" and not self.pod_volume_path:
            raise at("podVolumePath", "distribution 'custom' needs podVolumePath (the kubelet pods directory, e.g. /var/lib/kubelet/pods)")
        for key, p in (("podVolumePath", self.pod_volume_path), ("pluginVolumePath", self.plugin_volume_path)):
            if p is not None and not p.startswith("/"):
                raise at(key, f"{p!r} must be an absolute path")
            # A hostPath must not step back with '..' (kubernetes/kubernetes@v1.35.0:pkg/apis/core/validation/
            # validation.go, validateHostPathVolumeSource / validatePathNoBacksteps).
            if p is not None and (".." in p.split("/") or not p.isprintable()):
                raise at(key, f"{p!r} must be a plain absolute path, without '..' or control characters")
        # The kubelet keeps pods in <root-dir>/pods and plugins in <root-dir>/plugins (kubernetes/kubernetes@v1.35.0:
        # pkg/kubelet/kubelet_getters.go, getPodsDir, getPluginsDir); node-agent finds volumes under the first.
        pods = PurePosixPath(self.pods_path)
        if self.pod_volume_path is not None and pods.name != "pods":
            raise at("podVolumePath", f"{self.pod_volume_path!r} is not a kubelet pods directory: the kubelet keeps "
                     f"pods in <root-dir>/pods, e.g. {pods / 'pods' if pods.name != 'plugins' else pods.parent / 'pods'}")
        if self.plugin_volume_path is not None and PurePosixPath(self.plugins_path) != pods.parent / "plugins":
            raise at("pluginVolumePath", f"{self.plugin_volume_path!r} is not the kubelet plugins directory next to "
                     f"the pods directory {str(pods)!r}: the kubelet keeps both under its root-dir; use "
                     f"{str(pods.parent / 'plugins')!r}")
        limits = self.resources.limits
        for key in ("cpu", "memory"):
            lim, cap = getattr(limits, key), getattr(self.budget, key)
            if lim is None:
                raise at(f"resources.limits.{key}", f"resources.limits.{key} is required: node-agent must stay within its budget ({cap})")
            if parse_quantity(lim) > parse_quantity(cap):
                raise at(f"resources.limits.{key}", f"resources.limits.{key} {lim} exceeds the budget {cap} (raise budget.{key} if intended)")
        return self

    @property
    def pods_path(self) -> str:
        return (self.pod_volume_path or KUBELET_PODS_PATHS[self.distribution]).rstrip("/")

    @property
    def plugins_path(self) -> str:
        if self.plugin_volume_path:
            return self.plugin_volume_path.rstrip("/")
        return str(PurePosixPath(self.pods_path).parent / "plugins")


class VeleroConfig(_Model):
    chart_version: str = Field("12.1.0", description="Velero Helm chart version to pin.")
    image_tag: str | None = Field(None, description="Override the Velero image tag (e.g. v1.18.2, newer than the "
                                  "chart's appVersion); `v1.18.2@sha256:<digest>` also pins the digest (the chart's "
                                  "`image.digest`: the pods then pull by digest).")
    aws_plugin_image: str = Field("velero/velero-plugin-for-aws:v1.14.3", description="AWS object-store plugin image (v1.14.x goes with Velero 1.18).")
    uploader: Literal["kopia", "restic"] = Field("kopia", description="File-system backup uploader. Velero 1.17+ only supports kopia.")
    default_volumes_to_fs_backup: bool = Field(True, description="Back up every pod volume with the node-agent unless a pod opts out (opt-out mode).")
    default_backup_ttl: str = Field("720h", description="TTL of backups that do not set one (30 days).")
    garbage_collection_frequency: str = Field("1h", description="How often expired backups are deleted.")
    fs_backup_timeout: str = Field("4h", description="How long one pod volume backup may take before it fails.")
    log_level: Literal["trace", "debug", "info", "warning", "error", "fatal", "panic"] = Field("info", description="Velero server log level.")
    resources: Resources = Field(
        default_factory=lambda: _resources("100m", "128Mi", None, "512Mi"),
        description="Velero server Deployment resources.",
    )
    pod_security_labels: bool = Field(True, description="Label the namespace `pod-security.kubernetes.io/*: privileged` (node-agent mounts hostPath).")
    node_agent: NodeAgentConfig = Field(default_factory=NodeAgentConfig, description="The node-agent DaemonSet (the former \"restic daemonset\").")
    repository_password: Literal["managed", "elsewhere", "external", "veleroDefault"] = Field(
        "managed",
        description="Who sets the kopia repository password (Secret velero-repo-credentials): `managed` lists the "
        "SOPS file made by `encrypt-repo-password` in the app kustomization; `elsewhere`: another object of this "
        "repository makes it (an ExternalSecret, a SealedSecret, a Secret of your own; check verifies it); "
        "`external`: made outside the repository (check trusts it); "
        "`veleroDefault` keeps Velero's public default. An existing repository opens only with the password it was "
        "created with (docs/secrets.md).",
    )
    extra_values: dict[str, Any] = Field(
        default_factory=dict,
        description="Chart values the config has no field for (`podAnnotations`, `configuration.extraEnvVars`, "
        "`image.repository` for a mirror...), merged under the rendered values. Each key must exist in the pinned "
        "chart version's values (velero-gitops ships their key sets). Keys the tool owns (credentials, storage "
        "and snapshot locations, uploader, node-agent host paths, chart schedules, and every value it renders "
        "from other fields) are refused unless listed in `extraValuesOverride`; `image.tag`, `image.digest`, "
        "`initContainers`, `upgradeCRDs` and `credentials.secretContents` are never accepted (use `imageTag`, "
        "`awsPluginImage`, `flux.crdsCreateReplace`, `encrypt-secret`).",
    )
    extra_values_override: list[str] = Field(
        default_factory=list,
        description="Dotted key paths in `extraValues` that replace what the tool renders or owns, e.g. "
        "`credentials.extraSecretRef` or `nodeAgent.resources`. Your value then wins there and the tool no "
        "longer vouches for it (README: \"Chart values the config has no field for\").",
    )

    @field_validator("chart_version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not SEMVER.fullmatch(v):
            raise ValueError(f"{v!r} is not a chart version such as 12.1.0")
        return v  # known, and recent enough: Config._compatible, with the rest of the version rules

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is None:
            return v
        tag, at_sign, digest = v.partition("@")
        if not (tag.startswith("v") and SEMVER.fullmatch(tag[1:])):
            raise ValueError(f"{v!r} is not a Velero image tag such as v1.18.2"
                             + (" or v1.18.2@sha256:<digest> (the version rules need the tag)"
                                if at_sign or names.digest_problem(v) is None else ""))
        problem = names.digest_problem(digest) if at_sign else None
        if problem:
            raise ValueError(f"{v!r}: after '@', {problem}")
        return v

    @property
    def image_version_tag(self) -> str | None:
        """The tag part of imageTag (what the version rules read), or None."""
        return self.image_tag.partition("@")[0] if self.image_tag else None

    @property
    def image_digest(self) -> str | None:
        """The digest part of imageTag, or None. The chart pulls ``repository@digest`` when image.digest is set and
        ignores image.tag in the pods (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml,
        node-agent-daemonset.yaml, upgrade-crds/upgrade-crds.yaml), so the digest goes there, the tag stays the
        version; a tag holding '@' would reach NOTES.txt's download URL as is."""
        return (self.image_tag.partition("@")[2] or None) if self.image_tag else None

    @field_validator("aws_plugin_image")
    @classmethod
    def _image(cls, v: str) -> str:
        problem = names.image_problem(v)
        if problem:
            raise ValueError(f"{v!r}: {problem}")
        return v

    @field_validator("default_backup_ttl", "garbage_collection_frequency", "fs_backup_timeout")
    @classmethod
    def _dur(cls, v: str, info: ValidationInfo) -> str:
        seconds = parse_duration(v)
        if seconds == 0 and info.field_name == "garbage_collection_frequency":
            # vmware-tanzu/velero@v1.18.1:pkg/controller/gc_controller.go NewGCReconciler: <= 0 becomes 1h
            raise ValueError(f"{v!r} is zero, which Velero reads as its default (1h): omit the key for Velero's "
                             "default, or give a positive duration")
        if seconds <= 0:
            raise ValueError(f"{v!r} must be a positive duration")
        return v

    @property
    def velero_version(self) -> str:
        """The Velero version that will run: the image tag override, else the chart's appVersion."""
        if self.image_version_tag:
            return self.image_version_tag.lstrip("v")
        chart = compat.chart(self.chart_version)
        return chart.app_version if chart else "unknown"

    @property
    def plugin_version(self) -> tuple[int, ...]:
        tag = compat.image_tag(self.aws_plugin_image) or ""
        return compat.version_tuple(tag) if tag.startswith("v") else (99,)

    @model_validator(mode="after")
    def _extra_values(self) -> VeleroConfig:
        for key in self.extra_values_override:
            if compat.lookup(self.extra_values, key.split(".")) is compat.MISSING:
                raise at("extraValuesOverride", f"{key!r} is not set in velero.extraValues; list only the keys "
                         "you set there")
        chart = compat.chart(self.chart_version)
        problem = compat.extra_values_problem(self.extra_values, set(self.extra_values_override),
                                              chart.value_keys if chart else None, self.chart_version)
        if problem:
            path, message = problem
            raise at(".".join(("extraValues", *path)), message)
        return self


# ----------------------------------------------------------------------------------------------- s3
class S3Config(_Model):
    endpoint: str = Field(description="S3 endpoint URL: `https://host[:port]`, no path (kopia refuses a path).")
    allow_http: bool = Field(False, description="Explicitly allow a plain `http://` endpoint (credentials and data in clear text).")
    bucket: str = Field("velero-backups", description="Bucket name (S3 naming rules).")
    prefix: str = Field("velero", description="Prefix inside the bucket: metadata under `<prefix>/backups/`, volume data under `<prefix>/kopia/`.")
    region: str = Field("minio", description="Region; MinIO accepts `minio` unless a site region is configured (then it must match).")
    force_path_style: bool = Field(True, description="Path-style addressing (MinIO without MINIO_DOMAIN needs it).")
    ca_bundle: str | None = Field(None, description="PEM CA bundle file (relative to this config) for a private CA; rendered base64 into the BSL.")
    insecure_skip_tls_verify: bool = Field(
        False, alias="insecureSkipTLSVerify",
        description="Skip TLS certificate verification (man-in-the-middle risk). Explicit opt-in only; prefer caBundle.",
    )
    checksum_algorithm: Literal["", "CRC32", "CRC32C", "SHA1", "SHA256"] | None = Field(
        None,
        description="BSL checksumAlgorithm. `\"\"` works around XAmzContentSHA256Mismatch on some S3 servers (needs plugin v1.14.3+).",
    )
    credentials_secret: str = Field("velero-s3-secret", description="Name of the Secret with the AWS credentials file (in repo.namespace).")
    credentials_from: Literal["sops", "repository", "external"] = Field(
        "sops",
        description="Who makes the credentials Secret: `sops` (velero-gitops, encrypt-secret), `repository` (something "
        "else in this repository: an ExternalSecret, a SealedSecret, a Secret of your own; check verifies it) or "
        "`external` (made outside the repository, e.g. by hand or a Vault agent; check trusts it).",
    )
    credentials_key: str = Field(
        "cloud", description="Key of the credentials Secret that holds the AWS credentials file (`sops`: always `cloud`).")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        # ${VAR} is left for Flux to substitute (flux.substituteFrom): the URL is judged as Flux may make it, with
        # each variable set (standing for one DNS label) and with each variable that has a default unset (the
        # default is substituted: fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go runs envsubst)
        try:
            made = names.endpoint_outcomes(v)
        except BadSubstitution as exc:
            raise ValueError(f"{names.redact_url(v)!r}: Flux's substitution fails on it ({exc}), and with it the "
                             "whole Kustomization; write ${VAR} or ${VAR:=default}") from None
        for url, when in made:
            problem = names.endpoint_problem(url)
            if problem:
                raise ValueError(f"{names.redact_url(v)!r}: {problem}"
                                 + (f" ({when}; each ${{VAR}} stands for one DNS label here)" if when else ""))
        if made[0][1]:  # variables: kept for Flux as written
            return v.rstrip("/")
        parts = names.split_url(v)
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        # The AWS plugin only looks the region up itself without s3Url, and the endpoint is always set here
        # (vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/object_store.go, Init).
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", v):
            raise ValueError(f"{v!r} is not a region: with a custom endpoint the AWS plugin needs one, "
                             "e.g. minio or us-east-1")
        return v

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        problem = bucket_name_problem(v)
        if problem:
            raise ValueError(f"{v!r} is not a valid S3 bucket name: {problem}")
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        v = v.strip("/")
        if any(part in ("", ".", "..") for part in v.split("/")) and v or not v.isprintable():
            raise ValueError(f"{v!r} is not a clean prefix such as velero or cluster/velero")
        problem = names.prefix_problem(v)
        if problem:
            raise ValueError(f"the prefix {problem}")
        return v

    @field_validator("credentials_secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        _check_secret_name(v)
        if v == names.REPO_CREDENTIALS_SECRET:
            raise ValueError(f"{v!r} is the Secret Velero keeps the kopia repository password in (a fixed name, "
                             "vmware-tanzu/velero@v1.18.1:pkg/repository/keys/keys.go); name the S3 credentials "
                             "Secret otherwise, e.g. velero-s3-secret")
        return v

    _ca_path = field_validator("ca_bundle")(classmethod(lambda cls, v: _check_config_relative(v)))

    @model_validator(mode="after")
    def _http(self) -> S3Config:
        if self.endpoint.startswith("http://") and not self.allow_http:
            raise at(
                "endpoint", f"{self.endpoint} is plain http: credentials and backups would cross the network unencrypted. "
                "Use https:// (add caBundle for a private CA) or set allowHttp: true if you really mean it"
            )
        # TLS settings on plain http: the AWS plugin never does a handshake there, so they only suggest TLS that is
        # not there (vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/config.go WithTLSSettings
        # puts caCert and insecureSkipTLSVerify in the transport's TLS config only)
        for key, tls in (("insecureSkipTLSVerify", self.insecure_skip_tls_verify), ("caBundle", self.ca_bundle)):
            if tls and self.endpoint.startswith("http://"):
                raise at(key, f"{key} makes no sense with an http:// endpoint: plain http has no TLS; use https:// "
                         f"or remove {key}")
        if self.credentials_from == "sops" and self.credentials_key != "cloud":
            raise at("credentialsKey", "encrypt-secret writes the key `cloud`; another key is for a Secret made "
                     "elsewhere (credentialsFrom: repository or external)")
        # the key names where the credentials file is, so a value that looks like a credential was pasted here by
        # mistake (the secret access key): it would be rendered in clear as the BSL's credential.key
        if redact.redact(self.credentials_key) != self.credentials_key:
            raise at("credentialsKey", "this value looks like a credential, not a key name: it would be written in "
                     "clear into helmrelease.yaml. Name the Secret's key here (e.g. cloud), keep the credentials in "
                     "that Secret, and rotate this one: this file is committed")
        problem = names.config_map_key_problem(self.credentials_key)
        if problem:
            raise at("credentialsKey", f"the value {problem}")
        return self


# -------------------------------------------------------------------------------------------- sops
class SopsConfig(_Model):
    age_recipients: list[str] = Field(
        default_factory=list,
        description="age public keys to encrypt for, when not taken from the repository's `.sops.yaml`.",
    )

    @field_validator("age_recipients")
    @classmethod
    def _age(cls, v: list[str]) -> list[str]:
        for i, r in enumerate(v):
            refusal = names.age_recipient_refusal("", r)
            if refusal:
                raise at((i,), refusal)
        return v


# ---------------------------------------------------------------------------------------- schedules
class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict, description="Labels a resource must carry.")

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        _check_labels(v)
        problem = names.skipped_selection_problem({"matchLabels": v})
        if problem:
            raise at((names.EXCLUDE_FROM_BACKUP_LABEL,), problem)
        return v


class ScheduleConfig(_Model):
    name: str = Field(description="Schedule name: a DNS subdomain of at most 48 characters, e.g. `daily` or "
                      "`daily.full`. Backups are named `<name>-<YYYYMMDDhhmmss>` (15 characters more), and Velero "
                      "writes a backup's name as a label value, which holds at most 63 characters.")
    cron: str = Field(description="Cron expression, evaluated in UTC (e.g. `0 2 * * *` = 02:00 UTC daily).")
    namespaces: list[str] = Field(description="Namespaces to include: names, globs such as `network-*` (Velero 1.18), or `*` alone for all.")
    excluded_namespaces: list[str] = Field(default_factory=list, description="Namespaces to leave out (names or globs), e.g. with `namespaces: ['*']`.")
    include_cluster_resources: bool | None = Field(
        None, description="Back up cluster-scoped resources: `true` all of them, `false` none; unset, Velero's "
        "default (all when every namespace is included, else those the namespaced items need).")
    ttl: str | None = Field(None, description="How long backups are kept; defaults to velero.defaultBackupTtl.")
    excluded_resources: list[str] = Field(default_factory=list, description="Resources to leave out, e.g. events.")
    label_selector: LabelSelector | None = Field(None, description="Only back up resources with these labels.")
    default_volumes_to_fs_backup: bool | None = Field(None, description="Override velero.defaultVolumesToFsBackup for this schedule.")
    paused: bool = Field(False, description="Keep the Schedule but do not run it.")
    storage_location: str = Field(BSL_NAME, description=f"BackupStorageLocation name; only {BSL_NAME!r}, the one `s3:` renders.")

    _location = field_validator("storage_location")(classmethod(
        lambda cls, v: _check_dns_subdomain(v, "BackupStorageLocation name")))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        # A Schedule is named like any object, a DNS-1123 subdomain (dots allowed); its name is also the value of
        # the velero.io/schedule-name label of each Backup (vmware-tanzu/velero@v1.18.1:pkg/builder/backup_builder.go,
        # FromSchedule), so it must also be a label value: the cap below keeps it far under 63.
        _check_dns_subdomain(v, "schedule name")
        if v == "kustomization":  # the schedules folder's own kustomization.yaml
            raise ValueError(f"{v!r} is the name of the schedules folder's kustomization.yaml; choose another name")
        if len(v) > names.SCHEDULE_NAME_MAX:  # leaves room for "-YYYYMMDDhhmmss" in the 63-character backup label
            raise ValueError(f"{v!r} is too long ({len(v)} characters): backups are named <name>-<YYYYMMDDhhmmss>, "
                             "15 characters more, and Velero writes that name as a label value, at most 63 characters "
                             f"(vmware-tanzu/velero@v1.18.1:pkg/backup/actions/csi/pvc_action.go); use at most {names.SCHEDULE_NAME_MAX}")
        return v

    # The parsed cron, set once here; alerts and explain read it (`timing`) instead of parsing again.
    _timing: cronlib.Cron = PrivateAttr()

    @model_validator(mode="after")
    def _cron(self) -> ScheduleConfig:
        try:
            self._timing = cronlib.parse(self.cron)
        except cronlib.CronError as exc:
            raise at("cron", f"{self.cron!r} is not a valid cron expression ({exc})") from None
        problem = cronlib.step_problem(self.cron)
        if problem:
            raise at("cron", f"{self.cron!r}: {problem}")
        return self

    @property
    def timing(self) -> cronlib.Cron:
        """The cron expression as Velero parses it: run times and the longest gap between runs."""
        return self._timing

    @field_validator("namespaces")
    @classmethod
    def _ns(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one namespace (or '*' for all)")
        for i, ns in enumerate(v):
            problem = ns != "*" and names.namespace_pattern_problem(ns)
            if problem:
                raise at((i,), f"{ns!r} is {problem}")
            if ns in v[:i]:
                raise at((i,), f"{ns!r} is listed twice")
        problem = names.includes_excludes_problem(v, [])
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("excluded_namespaces")
    @classmethod
    def _excluded_ns(cls, v: list[str]) -> list[str]:
        for i, ns in enumerate(v):
            problem = names.namespace_pattern_problem(ns) if ns != "*" else None
            if problem:
                raise at((i,), f"{ns!r} is {problem}")
        return v

    @model_validator(mode="after")
    def _includes_excludes(self) -> ScheduleConfig:
        problem = names.includes_excludes_problem(self.namespaces, self.excluded_namespaces)
        if problem:
            raise at("excludedNamespaces", problem)
        excluded = names.excluded_include(self.namespaces, self.excluded_namespaces)
        if excluded:
            raise at(("excludedNamespaces", excluded[0]), excluded[1])
        return self

    @field_validator("excluded_resources")
    @classmethod
    def _resources(cls, v: list[str]) -> list[str]:
        problem = names.includes_excludes_problem([], v, "resource")
        if problem:
            raise ValueError(problem)
        for i, r in enumerate(v):
            problem = names.resource_problem(r)
            if problem:
                raise at((i,), problem)
        return v

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: str | None) -> str | None:
        if v is not None:
            if v.startswith("-"):
                raise ValueError(f"ttl {v!r} is negative; use a positive duration such as 720h")
            if parse_duration(v) == 0:
                # vmware-tanzu/velero@v1.18.1:pkg/controller/backup_controller.go: a ttl of 0 becomes the default
                raise ValueError(f"ttl {v!r} is zero, which Velero reads as the default (velero.defaultBackupTtl): "
                                 "omit the key for Velero's default, or give a positive duration such as 720h")
            if parse_duration(v) <= 0:
                raise ValueError(f"ttl {v!r} must be a positive duration such as 720h")
        return v


# Velero's own names for what a schedule item sets, when ours differ (the key in the Schedule it renders into).
VELERO_SCHEDULE_NAMES = renames.names_at(("schedules",))
# The rest of Velero's Schedule spec and Backup spec (template) fields: written into our config, they get a clear
# "not exposed" instead of a did-you-mean. tests/config/test_semantics.py keeps this equal to the bundled CRD schema.
VELERO_SCHEDULE_FIELDS = frozenset({
    "template", "useOwnerReferencesInBackup", "skipImmediately", "metadata", "includedResources",
    "includedClusterScopedResources", "excludedClusterScopedResources", "includedNamespaceScopedResources",
    "excludedNamespaceScopedResources", "orLabelSelectors", "snapshotVolumes", "hooks",
    "volumeSnapshotLocations", "defaultVolumesToRestic", "orderedResources", "csiSnapshotTimeout",
    "itemOperationTimeout", "resourcePolicy", "snapshotMoveData", "datamover", "uploaderConfig",
    "volumeGroupSnapshotLabelKey",
    *VELERO_SCHEDULE_NAMES,
})


# Velero's resource policies: a ConfigMap a Backup (a Schedule's template) names in spec.resourcePolicy, whose YAML
# document holds volumePolicies and includeExcludePolicy (vmware-tanzu/velero@v1.18.1:internal/resourcepolicies/
# resource_policies.go, ResourcePolicies; pkg/apis/velero/v1/backup_types.go, BackupSpec.ResourcePolicy). This config
# renders no such ConfigMap nor the reference; its `version` key is left out, a word too common to read as one.
VELERO_RESOURCE_POLICY_REF = "resourcePolicy"
VELERO_RESOURCE_POLICY_FIELDS = frozenset({"volumePolicies", "includeExcludePolicy"})
# What a config says instead: the volumes a file-system backup takes are chosen per pod (opt-out annotation, or
# opt-in when the schedule's defaultVolumesToFsBackup is false: vmware-tanzu/velero@v1.18.1:pkg/util/podvolume/
# pod_volume.go GetVolumesByPod), the resources by the schedule's keys; anything else by a Schedule of your own.
_OWN_SCHEDULE = ("or write that Schedule yourself: a velero.io/v1 Schedule in a folder Flux applies, outside the "
                 "rendered tree (render leaves it alone), and remove the key here")
_RESOURCE_POLICY_FIX = (
    "fix: leave volumes out of the file-system backup with the pod annotation "
    "backup.velero.io/backup-volumes-excludes=<volume> (or set defaultVolumesToFsBackup: false on the schedule and "
    "annotate the pods to back up with backup.velero.io/backup-volumes=<volume>), leave resources out with "
    "excludedResources or labelSelector of the schedule, " + _OWN_SCHEDULE)


def velero_field_hint(model: Any, key: str) -> str | None:
    """What to write instead of a Velero Schedule/Backup field name used in a schedule item, or of a key of Velero's
    resource policies anywhere in the config, or None."""
    if key in VELERO_RESOURCE_POLICY_FIELDS:
        # no apostrophe here: the loader reads text between two quotes as a value it may shorten
        return (f"{key!r} belongs to the resource policies of Velero (a ConfigMap a Backup names in "
                f"spec.resourcePolicy), which this config does not render; {_RESOURCE_POLICY_FIX}")
    if model is not ScheduleConfig or key in VELERO_SCHEDULE_NAMES:  # a rename: config/renames.py hints it
        return None
    keys = ", ".join(f.alias or n for n, f in ScheduleConfig.model_fields.items())
    if key == VELERO_RESOURCE_POLICY_REF:
        return (f"{key!r} names the resource policies of Velero (a ConfigMap of volumePolicies), which this config "
                f"does not render; {_RESOURCE_POLICY_FIX}")
    if key in VELERO_SCHEDULE_FIELDS:
        return (f"{key!r} is a field of Velero's Schedule that this config does not expose (the keys of a schedule "
                f"are {keys}); fix: say it with those keys, {_OWN_SCHEDULE}")
    return None


# ------------------------------------------------------------------------------------------ metrics
class DashboardConfig(_Model):
    enabled: bool = Field(True, description="Render a Grafana dashboard ConfigMap for the Grafana sidecar.")
    folder: str = Field("Backups", description="Grafana folder (annotation `grafana_folder`).")
    label: str = Field("grafana_dashboard", description="Label the Grafana sidecar selects ConfigMaps by (value \"1\").")

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        problem = names.label_key_problem(v)  # one string, not a map: reported at the key itself
        if problem:
            raise ValueError(f"label key {v!r}: {problem}")
        return v


# The chart's own monitoring objects (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/values.yaml
# metrics.serviceMonitor, metrics.nodeAgentPodMonitor, metrics.prometheusRule), each with the metrics.* field under
# which velero-gitops renders its own in the monitoring Kustomization instead.
CHART_MONITORS = {"serviceMonitor": "service_monitor", "nodeAgentPodMonitor": "pod_monitor",
                  "prometheusRule": "prometheus_rule"}


class MetricsConfig(_Model):
    enabled: bool = Field(True, description="Velero metrics endpoint (:8085). Everything below needs it.")
    service_monitor: bool = Field(True, description="ServiceMonitor for the Velero server (needs the Prometheus Operator).")
    pod_monitor: bool = Field(True, description="PodMonitor for node-agent pods.")
    prometheus_rule: bool = Field(True, description="PrometheusRule with the backup alerts and recording rules.")
    additional_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels your Prometheus selects monitors and rules by, e.g. `release: kube-prometheus-stack`.",
    )

    _labels = field_validator("additional_labels")(classmethod(lambda cls, v: _check_labels(v)))
    success_objective: float = Field(0.95, gt=0, lt=1, description="Share of scheduled backups that must succeed over 30 days.")
    missed_backup_margin: str = Field("1h", description="Grace added to a schedule's interval before 'no recent backup' fires.")
    runbook_url: str | None = Field(
        None,
        description="Base URL of the page alert runbook links point at; each alert appends `#<alertname lower-cased>`. Defaults to docs/observability.md of this tool.",
    )
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig, description="Grafana dashboard.")
    depends_on: list[DependsOn] = Field(
        default_factory=list,
        description="Flux Kustomizations that install the Prometheus Operator CRDs and Grafana (e.g. kube-prometheus-stack). "
        "The monitoring objects have a Kustomization of their own that waits for these; Velero never waits for them.")

    _runbook = field_validator("runbook_url")(classmethod(
        lambda cls, v: v if v is None else _check_url(v, ("https", "http"))))

    @field_validator("missed_backup_margin")
    @classmethod
    def _margin(cls, v: str) -> str:
        parse_duration(v)
        return v


# -------------------------------------------------------------------------------------------- check
class CheckConfig(_Model):
    """What `velero-gitops check` validates besides the rendered tree, kubeconform-style.

    The files the tool renders are always checked strictly (default schemas, no skipping); these keys only
    loosen the check of the rest of the repository, so that the pre-commit hook needs no flags.
    """

    ignore_missing_schemas: bool = Field(
        False, description="Skip objects of the rest of the repository whose schema is not found (CRDs such as CNPG or cert-manager).")
    schema_locations: list[str] = Field(
        default_factory=list,
        description="Extra schema locations, after the offline bundle: folders (relative to this file, inside the "
        "repository) or path templates with `{{.Group}}`, `{{.ResourceKind}}`... as in `validate --schema-location`. "
        "No URLs: check never downloads.")
    ignore_filename_patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions (Go's regexp, RE2, searched as kubeconform does) on repository-relative paths of files that are not "
        "Kubernetes objects (Taskfile.yaml, talos/, helmfile.yaml...).")
    skip: list[str] = Field(default_factory=list, description="Kinds (or apiVersion/Kind) not validated in the rest of the repository.")
    externals: list[str] = Field(
        default_factory=list,
        description="Kind/namespace/name of objects that exist outside the repository (dependsOn/sourceRef targets), "
        "e.g. `Kustomization/flux-system/openebs`.")

    @field_validator("schema_locations")
    @classmethod
    def _locations(cls, v: list[str]) -> list[str]:
        for i, loc in enumerate(v):
            if "://" in loc:
                raise at((i,), f"{loc!r}: check never downloads; use a folder in the repository "
                                 "(velero-gitops schemas import, or a CRD catalog checkout)")
        return v

    @field_validator("ignore_filename_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        from velero_gitops.goregexp import GoRegexp, PatternCost, PatternError

        for i, pattern in enumerate(v):
            try:
                GoRegexp(pattern)
            except PatternError as exc:
                raise at((i,), f"{pattern!r} is not a regular expression kubeconform accepts: {exc}") from None
            except PatternCost as exc:
                raise at((i,), f"{names.shown(pattern)} is not evaluated, {exc}") from None
        return v

    @field_validator("externals")
    @classmethod
    def _externals(cls, v: list[str]) -> list[str]:
        for i, ext in enumerate(v):
            problem = names.object_ref_problem(ext)
            if problem:
                raise at((i,), f"{names.shown(ext)}: {problem}")
        return v


# ------------------------------------------------------------------------------------------- config
# Where each version rule of config/compat.py points the user.
CONFIG_FIELDS = {
    "chart": "velero.chartVersion", "image": "velero.imageTag", "plugin": "velero.awsPluginImage",
    "privileged": "velero.nodeAgent.privileged", "crds": "flux.crdsCreateReplace", "uploader": "velero.uploader",
    "namespaces": "schedules[].namespaces",
}


def upgrade_crds_job(c: Config) -> bool:
    """The chart's upgradeCRDs Job runs exactly when Flux does not replace the CRDs itself: with
    crdsCreateReplace off (a root patch may set it, or nothing does) helm-controller's default policy only
    creates missing CRDs (config/compat.py CrdSetup), so the Job must upgrade them."""
    return not c.flux.crds_create_replace


class Config(_Model):

    cluster: str = Field(description="Cluster name, a DNS subdomain such as `home-lab` or `prod.eu-west` (used in the "
                         "Grafana dashboard's title and uid, `explain` and messages; no Kubernetes name, label or path "
                         "is made from it).")
    repo: RepoConfig = Field(default_factory=RepoConfig, description="Where the tree goes.")
    flux: FluxConfig = Field(default_factory=FluxConfig, description="Flux objects.")
    velero: VeleroConfig = Field(default_factory=VeleroConfig, description="Velero and its chart.")
    s3: S3Config = Field(description="The S3 (MinIO) backup storage location.")
    sops: SopsConfig = Field(default_factory=SopsConfig, description="Encryption of the credentials Secret.")
    schedules: list[ScheduleConfig] = Field(default_factory=list, description="Backup schedules; each becomes a Velero Schedule.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Prometheus and Grafana.")
    check: CheckConfig = Field(default_factory=CheckConfig, description="What `check` validates beyond the rendered tree.")

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, v: str) -> str:
        # Only text and the dashboard uid are made from it (observability/dashboard.py dashboard_uid maps what
        # Grafana's uid refuses), so a dotted name is as good as a label.
        return _check_dns_subdomain(v, "cluster name")

    @model_validator(mode="after")
    def _compatible(self) -> Config:
        """Chart, Velero, plugin, CRD upgrades and features that must work together (config/compat.py)."""
        v = self.velero
        policy = "CreateReplace" if self.flux.crds_create_replace else ""
        crds = compat.CrdSetup(install_policy=policy, upgrade_policy=policy, upgrade_crds_job=upgrade_crds_job(self))
        problems, _ = compat.check_versions(
            v.chart_version, v.image_version_tag, v.aws_plugin_image, crds, v.node_agent.privileged,
            [s.namespaces for s in self.schedules], CONFIG_FIELDS, uploader=v.uploader)
        if problems:
            p = problems[0]
            field = CONFIG_FIELDS[p.setting] if p.index is None else f"schedules.{p.index}.namespaces"
            raise at(field, p.message)
        return self

    @model_validator(mode="after")
    def _cross(self) -> Config:
        if varsub.names(self.s3.endpoint) and not self.flux.substitute_from:
            raise at("s3.endpoint", f"{names.redact_url(self.s3.endpoint)!r} holds a Flux variable, and nothing "
                     "substitutes it: set flux.substituteFrom to the ConfigMap or Secret that defines it")
        if self.s3.checksum_algorithm == "" and self.velero.plugin_version < (1, 14, 3):
            raise at(
                "s3.checksumAlgorithm", "checksumAlgorithm \"\" needs velero-plugin-for-aws v1.14.3 or newer "
                "(v1.14.2 corrupts objects with it, velero#9951)"
            )
        return self

    # Derived values used by plan and by other commands.
    def kustomization_names(self) -> tuple[str, str]:
        """The Flux Kustomizations rendered in flux.namespace: the app (chart) and the schedules one."""
        return self.repo.app, f"{self.repo.app}-schedules"

    def monitoring_kustomization_name(self) -> str:
        return f"{self.repo.app}-monitoring"

    def disaster_recovery_kustomization_name(self) -> str:
        return f"{self.repo.app}-disaster-recovery"

    def schedule_ttl(self, s: ScheduleConfig) -> str:
        return go_duration(parse_duration(s.ttl or self.velero.default_backup_ttl))
