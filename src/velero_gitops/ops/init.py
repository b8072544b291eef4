"""`velero-gitops init`: a first, commented config for the Flux repository it stands in.

What it can see it detects (the repository root, the apps root, the `.sops.yaml` recipients, the name of the Flux
GitRepository that holds the repository); what it cannot see (the S3 endpoint) it is told. It never overwrites.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from velero_gitops.errors import UsageError

CONFIG_NAME = "velero-gitops.yaml"
# Apps roots as the Flux home-lab layouts name them, most common first.
APPS_ROOT_CANDIDATES = ("kubernetes/apps", "k8s/apps", "cluster/apps", "clusters/apps", "apps")
_SCAN_FILES = 2000  # YAML files read at most while looking for the GitRepository
_SCAN_BYTES = 256 * 1024  # per file


@dataclass
class Detected:
    repo_root: Path  # the Git work tree (or the folder itself when there is none)
    apps_root: str
    apps_root_found: bool
    sops_config: Path | None
    recipients: list[str] = field(default_factory=list)
    source_name: str = "flux-system"
    source_found: bool = False
    # kinds of the repository that the offline schema bundle has no schema for (other projects' CRDs)
    foreign_kinds: dict[str, int] = field(default_factory=dict)


def _git_root(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def _yaml_files(root: Path):
    """Regular YAML files below ``root`` (no symlinks followed, hidden folders skipped), at most _SCAN_FILES."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")):
                path = Path(dirpath) / name
                try:
                    st = path.lstat()
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_size <= _SCAN_BYTES:
                    count += 1
                    yield path
                    if count >= _SCAN_FILES:
                        return


def _scan(root: Path) -> tuple[str | None, dict[str, int]]:
    """(the GitRepository in flux-system that holds the repository, how many objects of each kind the
    offline schema bundle has no schema for).

    The repository's own GitRepository is the one its Flux Kustomizations read most often (a repository
    also declares GitRepositories of other projects, for their CRDs or charts); with no Kustomization
    naming one, flux bootstrap's `flux-system`, else the first one found."""
    from velero_gitops import yamlsafe
    from velero_gitops.validate.documents import mapping
    from velero_gitops.validate.schemas import SchemaStore

    bundle = SchemaStore().bundle_index()
    declared: list[str] = []
    reads: dict[str, int] = {}
    foreign: dict[str, int] = {}
    for path in _yaml_files(root):
        try:
            docs = yamlsafe.load_all(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yamlsafe.YamlRefused):
            continue
        for doc in docs:
            d = doc.data
            if not isinstance(d, dict) or not isinstance(d.get("apiVersion"), str) or not isinstance(d.get("kind"), str):
                continue
            api, kind = d["apiVersion"], d["kind"]
            meta, spec = mapping(d, "metadata"), mapping(d, "spec")
            if kind == "GitRepository" and api.startswith("source.toolkit.fluxcd.io/") and isinstance(meta.get("name"), str):
                if meta.get("namespace") in (None, "flux-system"):
                    declared.append(meta["name"])
            ref = spec.get("sourceRef")
            if (kind == "Kustomization" and api.startswith("kustomize.toolkit.fluxcd.io/") and isinstance(ref, dict)
                    and ref.get("kind") == "GitRepository" and isinstance(ref.get("name"), str)):
                reads[ref["name"]] = reads.get(ref["name"], 0) + 1
            if not api.startswith("kustomize.config.k8s.io/") and f"{api}/{kind}" not in bundle:
                foreign[kind] = foreign.get(kind, 0) + 1
    if reads:
        source: str | None = max(reads, key=lambda n: (reads[n], n == "flux-system"))
    else:
        source = "flux-system" if "flux-system" in declared else (declared[0] if declared else None)
    return (source if source in declared or reads else None), foreign


def detect(here: Path) -> Detected:
    from velero_gitops.secrets import sops as sopslib

    here = here.resolve()
    root = _git_root(here) or here
    apps = next((c for c in APPS_ROOT_CANDIDATES if (root / c).is_dir()), None)
    conf = sopslib.find_config(root)
    recipients: list[str] = []
    if conf is not None:
        try:
            recipients = sorted({r for rule in sopslib.load_rules(conf) for r in rule.age})
        except UsageError:
            recipients = []
    source, foreign = _scan(root)
    return Detected(root, apps or APPS_ROOT_CANDIDATES[0], apps is not None, conf, recipients,
                    source or "flux-system", source is not None, foreign)


@dataclass
class Answers:
    cluster: str
    s3_endpoint: str
    bucket: str = "velero-backups"
    prefix: str = "velero"
    region: str = "minio"
    namespaces: list[str] = field(default_factory=list)
    distribution: str = "kubeadm"
    allow_http: bool = False  # s3.allowHttp: the user confirmed a plain http endpoint


def default_cluster_name(folder: Path) -> str:
    """The folder's name made into a DNS label (the cluster name ends up in labels)."""
    name = re.sub(r"[^a-z0-9-]+", "-", folder.name.lower()).strip("-")[:63].strip("-")
    return name or "cluster"


def config_text(found: Detected, answers: Answers, config_dir: Path) -> str:
    from velero_gitops.config.model import VeleroConfig

    velero = VeleroConfig()
    root = os.path.relpath(found.repo_root, config_dir.resolve())
    sops_note = (f"# Age recipients come from {os.path.relpath(found.sops_config, config_dir.resolve())} "
                 f"({len(found.recipients)} found)." if found.sops_config and found.recipients else
                 "# No .sops.yaml with age recipients yet: run `velero-gitops sops-init` next.")
    namespaces = answers.namespaces or ["default"]
    lines = [
        "# yaml-language-server: $schema=https://github.com/velero-gitops/velero-gitops/raw/main/docs/config.schema.json",
        "# velero-gitops config, written by `velero-gitops init`. Reference: docs/config-reference.md",
        "# Next: velero-gitops sops-init; velero-gitops encrypt-secret; velero-gitops encrypt-repo-password; "
        "velero-gitops render; velero-gitops check",
        f"cluster: {answers.cluster}",
        "",
        "repo:",
        f"  root: {root if root != '.' else '.'}  # the Git repository, relative to this file",
        f"  appsRoot: {found.apps_root}" + ("" if found.apps_root_found else "  # not found: check this"),
        "  namespace: velero",
        "  app: velero",
        "",
        "flux:",
        "  sourceRef:",
        "    kind: GitRepository",
        f"    name: {found.source_name}" + ("" if found.source_found else "  # not found: the GitRepository of this repo"),
        "    namespace: flux-system",
        "",
        "velero:",
        "  # Version pins, kept current by Renovate (docs/renovate.md); change them here, then render.",
        "  # renovate: datasource=helm depName=velero registryUrl=https://vmware-tanzu.github.io/helm-charts",
        f"  chartVersion: {velero.chart_version}",
        "  # renovate: datasource=docker depName=velero/velero",
        f"  imageTag: v{velero.velero_version}",
        "  # renovate: datasource=docker depName=velero/velero-plugin-for-aws",
        f"  awsPluginImage: {velero.aws_plugin_image}",
        "  nodeAgent:",
        f"    distribution: {answers.distribution}  # where the kubelet keeps pod volumes",
        "",
        "s3:",
        f"  endpoint: {answers.s3_endpoint}",
        *(["  allowHttp: true  # plain http: credentials and backups cross the network unencrypted"]
          if answers.allow_http else []),
        f"  bucket: {answers.bucket}",
        f"  prefix: {answers.prefix}",
        f"  region: {answers.region}",
        "",
        sops_note,
        "",
        "schedules:",
        "  - name: daily",
        '    cron: "0 2 * * *"  # 02:00 UTC',
        f"    namespaces: [{', '.join(namespaces)}]",
        "    ttl: 720h",
        "",
    ]
    if found.foreign_kinds:
        top = sorted(found.foreign_kinds, key=lambda k: (-found.foreign_kinds[k], k))
        shown = ", ".join(top[:4]) + (f" and {len(top) - 4} more" if len(top) > 4 else "")
        lines += [
            "check:",
            f"  # {sum(found.foreign_kinds.values())} objects here are of kinds the offline schema bundle does not cover:",
            f"  # {shown}.",
            "  # `check` skips them, as kubeconform's -ignore-missing-schemas does (the files velero-gitops renders",
            "  # are always checked strictly). Import their CRDs with `velero-gitops schemas import` to check them too.",
            "  ignoreMissingSchemas: true",
            "",
        ]
    return "\n".join(lines)


def write(here: Path, answers: Answers, found: Detected | None = None) -> Path:
    """Write ./velero-gitops.yaml after proving it loads; refuses an existing file. Returns its path."""
    from velero_gitops.config.loader import load
    from velero_gitops.render.write import create_new, stage

    found = found or detect(here)
    target = here / CONFIG_NAME
    if target.exists() or target.is_symlink():
        raise UsageError(f"{CONFIG_NAME} already exists here; init never overwrites (edit it, or remove it first)")
    text = config_text(found, answers, here)
    probe = Path(stage(here / ".velero-gitops-init.yaml", text.encode("utf-8")))
    from velero_gitops.config.loader import display
    from velero_gitops.errors import VeleroGitopsError

    try:
        load(probe)  # a config we write must load: the answers are checked by the same rules as any config
    except VeleroGitopsError as exc:
        raise UsageError(str(exc).replace(display(probe), f"{CONFIG_NAME} (not written)")) from None
    finally:
        probe.unlink(missing_ok=True)
    if not create_new(target, text.encode("utf-8")):
        raise UsageError(f"{CONFIG_NAME} appeared while init ran; init never overwrites")
    return target
