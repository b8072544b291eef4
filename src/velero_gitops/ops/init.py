"""`velero-gitops init`: a first, commented config for the Flux repository it stands in.

What it can see it detects (the repository root, the apps root, the `.sops.yaml` recipients, the name of the Flux
GitRepository that holds the repository); what it cannot see (the S3 endpoint) it is told. It never overwrites.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from velero_gitops.errors import UsageError

CONFIG_NAME = "velero-gitops.yaml"
# Only for a folder with no Flux sync root to read (a repository before `flux bootstrap`): the names home-lab
# layouts use, most common first. With a sync root, the apps root comes from the Flux graph (apps_root_from_graph).
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
    clusters: list[str] = field(default_factory=list)  # one per Flux sync root; several: --cluster picks one
    cluster: str | None = None  # the cluster whose sync root gave apps_root
    apps_root_why: str = ""  # how apps_root was found, for the config's comment
    storage: object = None  # ops/storage.Storage: what installs the StorageClasses (flux.dependsOn), None: not read
    prometheus: list = field(default_factory=list)  # ops/prometheus.Prometheus: the repository's own Prometheus
    # kinds -> count of the applied objects that make Secrets (validate/producers.py: ExternalSecret, SealedSecret)
    secret_makers: dict[str, int] = field(default_factory=dict)
    encrypted: int = 0  # applied objects that are SOPS-encrypted (a top-level `sops` block)
    no_prometheus_crds: bool = False  # nothing the repository applies shows the Prometheus Operator CRDs
    apps_ancestors: set[str] = field(default_factory=set)  # Flux Kustomizations applying apps_root (ops/ordering)
    # age recipients of sops_config's rules that do not match the rendered Secret (recipients: the matching rule's)
    unmatched_recipients: list[str] = field(default_factory=list)

    @property
    def secrets_elsewhere(self) -> bool:
        """The repository makes its Secrets with an operator and has no SOPS: nothing to decrypt with, and no
        `.sops.yaml` for encrypt-secret. The tree then names Secrets the repository makes the same way."""
        return bool(self.secret_makers) and not self.encrypted and not (self.recipients or self.unmatched_recipients)


def _git_root(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def yaml_files(root: Path) -> Iterator[Path]:
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
    for path in yaml_files(root):
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


class SeveralClusters(UsageError):
    """The repository has several Flux sync roots and none was chosen."""

    def __init__(self, names: list[str], given: str | None):
        self.names = names
        what = f"--cluster {given} is none of them" if given else "say which with --cluster NAME"
        super().__init__(f"this repository has {len(names)} clusters (Flux sync roots): {', '.join(names)}; {what}")


def cluster_names(roots: list) -> list[str]:
    """A name per sync root: the first folder of its path that differs between the roots (clusters/<name>,
    kubernetes/<name>/flux), else its last folder."""
    parts = [r.path_dir.parts if r.path_dir is not None else () for r in roots]
    names = []
    for p in parts:
        differing = [c for i, c in enumerate(p) if any(len(q) <= i or q[i] != c for q in parts if q is not p)]
        names.append(differing[0] if differing else (p[-1] if p else "cluster"))
    return names


def apps_root_from_graph(root: Path, sources: list[str], cluster: str | None) -> tuple[str | None, list[str], str | None, str]:
    """(the apps root, the clusters, the cluster chosen, why) from the Flux graph. The apps root is "the folder that
    holds one folder per namespace": among the folders built by the Kustomizations reached from the chosen cluster's
    sync root (the root's own included), the one whose build applies files in the most sub-folders; on a tie one
    below the root (the root's own sub-folder is its flux-system), then the shallower one."""
    from velero_gitops.ops import wiring

    facts = wiring.flux_facts(root, sources)
    roots = wiring.sync_roots(facts)
    unknown = [k for k in facts if k.kind == "FluxInstance" and k.path_dir is None]
    if unknown and not any(k.kind in ("FluxInstance", "Bootstrap") for k in roots):
        # the cluster syncs from a path set outside the files: the chains' heads would be a guess, so ask
        k = unknown[0]
        where = k.file.relative_to(root.resolve()).as_posix() if k.file is not None else "?"
        raise UsageError(f"{where}:{k.line}: the FluxInstance {k.namespace}/{k.name} syncs path {k.sync_path}, whose "
                         "value the repository does not show (a postBuild variable set in an encrypted Secret or on "
                         "the cluster): pass --apps-root FOLDER, the folder of the repository that holds one folder "
                         "per namespace and that a Flux Kustomization of that sync builds")
    if not roots:
        return None, [], None, ""
    names = cluster_names(roots)
    if len(set(names)) > 1:
        if cluster not in names:
            return None, sorted(set(names)), None, ""
        chosen = [r for r, n in zip(roots, names, strict=True) if n == cluster]
    else:
        chosen = roots
    others = [r for r in roots if not any(r is c for c in chosen)]
    alive = wiring.live([k for k in facts if not any(k is o for o in others)])

    def breadth(k: wiring.FluxKs) -> int:
        d = k.path_dir
        if d is None:
            return 0
        return len({f.relative_to(d).parts[0] for f in k.applies if d in f.parents and len(f.relative_to(d).parts) > 1})

    # a folder several Kustomizations build (a template each one fills with its own postBuild variables) is no apps root
    built = Counter(k.path_dir for k in alive if k.path_dir is not None)
    candidates = [k for k in alive if k.path_dir is not None and built[k.path_dir] == 1] or \
        [k for k in alive if k.path_dir is not None]
    # a folder whose Kustomization patches its children's dependsOn would drop our order (ops/ordering.py): the last
    # choice, said in `why` with the patch's line
    def below_root(k: wiring.FluxKs) -> bool:
        # a tie of folders holding sub-folders: the one below the root (the root's own sub-folder is its
        # flux-system); a tie of folders holding none (a Flux Kustomization per app, each building one app's
        # folder): the root's, which lists them, not one app's folder, which holds that app alone
        root_ks = any(k is c for c in chosen)
        return not root_ks if breadth(k) > 0 else root_ks

    # a folder whose build renames or re-namespaces what it holds cannot take our tree (render refuses to list it
    # there: ops/wiring.py), whatever it holds
    best = max(candidates, key=lambda k: (not wiring.transforms_its_build(k), not k.rewrites_depends_on, breadth(k),
                                          below_root(k), -len(k.path_dir.parts)))  # type: ignore[union-attr]
    assert best.path_dir is not None
    real = root.resolve()
    rel = best.path_dir.relative_to(real).as_posix()
    why = f"built by {best.ref}" + (f" ({best.file.relative_to(real).as_posix()})" if best.file else "")
    if best.rewrites_depends_on and best.file is not None:
        why += (f"; its patch at {best.file.relative_to(real).as_posix()}:{best.rewrites_depends_on} sets the dependsOn "
                "of every Kustomization it applies, ours included (a strategic merge replaces the list): narrow that "
                "patch's target so it leaves velero and velero-schedules out")
    return rel, sorted(set(names)), (cluster if len(set(names)) > 1 else names[0]), why


def detect(here: Path, cluster: str | None = None, apps_root: str | None = None) -> Detected:
    from velero_gitops.secrets import sops as sopslib
    from velero_gitops.validate.run import DEFAULT_REPO_SOURCES

    here = here.resolve()
    root = _git_root(here) or here
    source, foreign = _scan(root)
    sources = [*([f"GitRepository/flux-system/{source}"] if source else []), *DEFAULT_REPO_SOURCES]
    apps: str | None
    clusters: list[str]
    chosen: str | None
    if apps_root is not None:  # told: nothing to detect (init --apps-root)
        if not (root / apps_root).is_dir() or not (root / apps_root).resolve().is_relative_to(root):
            raise UsageError(f"--apps-root {apps_root}: no such folder inside the repository {root}")
        apps, clusters, chosen, why = apps_root.strip("/"), [], cluster, "given with --apps-root"
    else:
        apps, clusters, chosen, why = apps_root_from_graph(root, sources, cluster)
    if len(clusters) > 1 and chosen is None:
        raise SeveralClusters(clusters, cluster)
    if apps is None and not clusters:  # no sync root at all: a repository before `flux bootstrap`
        apps = next((c for c in APPS_ROOT_CANDIDATES if (root / c).is_dir()), None)
        why = "by folder name: no Flux sync root found" if apps else ""
    from velero_gitops.ops import prometheus, storage, wiring

    # the repository's facts are read whenever it has a Flux graph, an apps root given by hand included
    g = wiring.graph(root, sources) if clusters or apps_root is not None else None
    # the chosen cluster's facts: another cluster's StorageClass installer or Prometheus is not this one's
    view = wiring.cluster_view(g, g.run.real(root / apps)) if g is not None and apps is not None else None
    facts = storage.read(root, sources, g, view) if g is not None else None
    proms = prometheus.read(root, sources, g, view) if g is not None else []
    makers, encrypted = _secret_sources(g) if g is not None else ({}, 0)
    no_crds = False
    if g is not None and not proms:
        from velero_gitops.validate.crd_providers import shown_groups

        shown = shown_groups(g, more=wiring.applied_objects(g, root, prometheus.GROUP, view),
                            sees=view.sees if view is not None else None)
        no_crds = shown is not None and prometheus.GROUP not in shown
    above: set[str] = set()
    if g is not None and apps is not None:
        from velero_gitops.ops import ordering

        above = ordering.ancestors(wiring.flux_facts(root, sources, g=g), folder=g.run.real(root / apps))
    # the recipients sops would encrypt the rendered Secret for, read as sops-init reads them (sops.recipients_for)
    from velero_gitops.render.layout import Layout

    target = root / Layout(apps or APPS_ROOT_CANDIDATES[0], "velero", "velero").secret_file
    try:
        sops = sopslib.recipients_for(root, target)
    except UsageError:
        sops = sopslib.Recipients(sopslib.find_config(root, target.parent), None, ())
    conf, recipients, unmatched = sops.config_file, list(sops.age), list(sops.unmatched)
    return Detected(root, apps or APPS_ROOT_CANDIDATES[0], apps is not None, conf, recipients,
                    source or "flux-system", source is not None, foreign, clusters, chosen, why, facts, proms,
                    makers, encrypted, no_crds, above, unmatched)


def _secret_sources(g: object) -> tuple[dict[str, int], int]:
    """(kind -> count of the objects Flux applies that make a Secret by a known controller, the SOPS-encrypted objects
    Flux applies), from the graph's objects (what the controllers see; a file nothing applies does not count)."""
    from velero_gitops.validate import producers

    table = {p.kind for p in producers.PRODUCERS}  # a custom resource the table lacks only *may* make a Secret
    makers: Counter[str] = Counter()
    encrypted = 0
    for o in g.all:  # type: ignore[attr-defined]
        if g.dead(o):  # type: ignore[attr-defined]
            continue
        encrypted += o.encrypted
        if o.kind in table and any(k == "Secret" for k, _ in producers.made_by(o, "")):
            makers[o.kind] += 1
    return dict(makers), encrypted


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
                 f"# {os.path.relpath(found.sops_config, config_dir.resolve())} has age recipients, but no rule of it "
                 "matches the rendered Secrets:\n# run `velero-gitops sops-init --age <the one the cluster decrypts "
                 f"with>` to get the rule to add ({', '.join(found.unmatched_recipients)})."
                 if found.sops_config and found.unmatched_recipients else
                 "# No .sops.yaml with age recipients yet: run `velero-gitops sops-init` next.")
    elsewhere = found.secrets_elsewhere
    if elsewhere:
        from velero_gitops.config.model import S3Config
        from velero_gitops.config.names import REPO_CREDENTIALS_KEY, REPO_CREDENTIALS_SECRET

        s3 = S3Config(endpoint="https://s3.example.org")
        makers = ", ".join(f"{k} ({n})" for k, n in sorted(found.secret_makers.items()))
        sops_note = "\n".join([
            f"# No SOPS here: this repository makes its Secrets with {makers}. Make these two the same way:",
            f"#   velero/{s3.credentials_secret}, key "
            f"{s3.credentials_key}: an AWS credentials file ([default] aws_access_key_id=..., aws_secret_access_key=...)",
            f"#   velero/{REPO_CREDENTIALS_SECRET}, key {REPO_CREDENTIALS_KEY}: the kopia repository password",
            "# in a folder of yours that a Flux Kustomization with `wait: true` applies, and list that Kustomization",
            "# under flux.dependsOn: Velero must not start before the password Secret exists (docs/secrets.md, section 6).",
        ])
    next_steps = ("velero-gitops render; velero-gitops check" if elsewhere else
                  "velero-gitops sops-init; velero-gitops encrypt-secret; velero-gitops encrypt-repo-password; "
                  "velero-gitops render; velero-gitops check")
    namespaces = answers.namespaces or ["default"]
    lines_depends: list[str] = []
    if found.storage is not None:
        from velero_gitops.ops import storage

        for inst, classes in storage.to_depend_on(found.storage, namespaces, found.apps_ancestors):  # type: ignore[arg-type]
            lines_depends += [f"    - name: {inst.name}",
                              f"      namespace: {inst.namespace}  # installs StorageClass {', '.join(classes)} "
                              f"({inst.via}), which the backed-up volumes use: a restore needs it first"]
    hostpath_lines: list[str] = []
    if found.storage is not None:
        from velero_gitops.ops import storage

        for c, where, defined in storage.hostpath_uses(found.storage, namespaces):  # type: ignore[arg-type]
            hostpath_lines += [f"# WARNING: StorageClass {c} ({where}) makes hostPath volumes ({defined}): Velero skips",
                               "# them and backs up none of their data (`velero-gitops check` says how to fix it)."]
    metrics: list[str] = []
    if found.prometheus:
        from velero_gitops.config.model import Config
        from velero_gitops.ops import prometheus

        # the labels and the namespace the rendered monitoring objects get from this config (its defaults)
        v = prometheus.judge(found.prometheus, Config.model_validate(
            {"cluster": "x", "s3": {"endpoint": "https://s3.example.org"}}))
        if v is not None and v.add:
            metrics = ["metrics:", f"  # {v.prometheus.where} selects only objects with these labels: without them",
                       "  # it loads none of the alerts and does not scrape Velero",
                       "  additionalLabels:", *(f"    {json.dumps(k)}: {json.dumps(x)}" for k, x in v.add.items()), ""]
    if found.no_prometheus_crds:
        from velero_gitops.ops import prometheus

        # the monitoring Kustomization would never apply (its dry-run fails without the CRDs) and never be Ready: a
        # parent with `wait: true` would wait for it forever (validate/crd_providers.py, flux.crd-provider-rendered)
        metrics = ["metrics:",
                   f"  # Nothing in this repository installs the Prometheus Operator CRDs ({prometheus.GROUP}): no",
                   "  # CustomResourceDefinition, no object of that group, no kube-prometheus-stack. Without them the",
                   "  # velero-monitoring Kustomization never applies. Turn this on once a Prometheus Operator runs.",
                   "  enabled: false", ""]
    lines = [
        "# yaml-language-server: $schema=https://github.com/velero-gitops/velero-gitops/raw/main/docs/config.schema.json",
        "# velero-gitops config, written by `velero-gitops init`. Reference: docs/config-reference.md",
        f"# Next: {next_steps}",
        f"cluster: {answers.cluster}",
        "",
        "repo:",
        f"  root: {root if root != '.' else '.'}  # the Git repository, relative to this file",
        f"  appsRoot: {found.apps_root}" + (f"  # {found.apps_root_why}" if found.apps_root_found and found.apps_root_why
                                            else "" if found.apps_root_found else "  # not found: check this"),
        "  namespace: velero",
        "  app: velero",
        "",
        "flux:",
        "  sourceRef:",
        "    kind: GitRepository",
        f"    name: {found.source_name}" + ("" if found.source_found else "  # not found: the GitRepository of this repo"),
        "    namespace: flux-system",
        *(["  dependsOn:", *lines_depends] if lines_depends else []),
        "",
        "velero:",
        "  # Version pins, kept current by Renovate (docs/renovate.md); change them here, then render.",
        "  # renovate: datasource=helm depName=velero registryUrl=https://vmware-tanzu.github.io/helm-charts",
        f"  chartVersion: {velero.chart_version}",
        "  # renovate: datasource=docker depName=velero/velero",
        f"  imageTag: v{velero.velero_version}",
        "  # renovate: datasource=docker depName=velero/velero-plugin-for-aws",
        f"  awsPluginImage: {velero.aws_plugin_image}",
        *(["  repositoryPassword: elsewhere  # made by an object of this repository (see below)"] if elsewhere else []),
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
        *(["  credentialsFrom: repository  # made by an object of this repository (see below)"] if elsewhere else []),
        "",
        sops_note,
        "",
        *metrics,
        *hostpath_lines,
        "schedules:",
        "  - name: daily",
        '    cron: "0 2 * * *"  # 02:00 UTC',
        # a glob such as `*` or `media-*` is no plain YAML scalar in a flow list (`*` starts an alias): quote it
        f"    namespaces: [{', '.join(n if re.fullmatch(r'[a-z0-9-]+', n) else json.dumps(n) for n in namespaces)}]",
        "    ttl: 720h",
        "",
    ]
    if ignores_missing_schemas(found):
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


def ignores_missing_schemas(found: Detected) -> bool:
    """check.ignoreMissingSchemas for a first config (init's and import's alike): the repository holds kinds the
    offline schema bundle has no schema for, which a strict first `check` would report by the hundred."""
    return bool(found.foreign_kinds)


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
