"""The disaster-recovery procedure: a new cluster from the bucket and the Git repository, with Flux.

Printed by `velero-gitops disaster-recovery` for one config, so every name (namespaces, Kustomizations,
files, the source) is this config's. The order is what makes the restore restore data:

* Velero skips every object that already exists (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go
  restoreItem: Create, and on AlreadyExists a warning and `return`), and it starts pod volume restores only
  for the pods it creates itself (same function: restorePodVolumeBackups runs after the create, never on the
  AlreadyExists path). If Flux applies the apps first, their controllers create the pods and the PVCs; the
  restore then reports success and copies no data.
* So Velero alone comes first, from Git (its kopia repository password included), with the storage location
  ReadOnly and no Schedules; then the restore; only then Flux applies the apps.
* The restore brings back every namespaced object of the app namespaces, Flux's own kinds among them (HelmReleases,
  Kustomizations, sources kept there). Flux's controllers already run for Velero, and each reconciles an object of
  its kind as soon as it exists: a restored HelmRelease is upgraded (hooks such as a migration Job) while its pod
  volumes are still being copied, since Velero waits for the PodVolumeRestores only after it created every item
  (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go execute, podVolumeWaitGroup). Leaving those kinds out of the
  Restore would need a list of them; stopping the controllers in the Flux namespace for the restore window holds
  for every kind, present or future. They start again once the data is back, before anything needs them.

Each step that depends on the repository is read from it (read_repository): the storage Kustomizations as Flux
applies them (a parent's patches add their interval, prune and sourceRef), the sync root the cluster starts from
(a FluxInstance, `flux bootstrap`'s gotk-sync.yaml, or a Kustomization of the repository applied by hand), and
credentials the tree does not make are provided before Velero starts.

Why not `flux suspend`: on a new cluster the app Kustomizations do not exist before the parent applies them,
and kustomize-controller reconciles each one as soon as it exists (fluxcd/kustomize-controller@v1.9.4:
internal/controller/kustomization_controller.go Reconcile; `spec.suspend` is the only gate). Suspending after
the bootstrap races the controller and loses. The apps stay out instead: nothing applies them until the
bootstrap, which comes after the restore.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from velero_gitops.render.layout import Layout
from velero_gitops.render.plan import (
    disaster_recovery_kustomization_name,
    monitoring_kustomization_name,
    schedules_kustomization_name,
    sops_files,
)
from velero_gitops.validate.documents import dig, mapping, sequence

if TYPE_CHECKING:
    from velero_gitops.config.loader import LoadedConfig


@dataclass(frozen=True)
class Repository:
    """What the repository says about the steps that depend on it, from the Flux graph of validate/flux.py."""

    storage: dict[str, dict[str, Any] | None]  # "ns/name" of flux.dependsOn and what they depend on -> the object as
    # Flux applies it (after its parents' patches and substitution), None when the repository does not declare it
    bootstrap: tuple[str, ...]  # the commands that start the cluster's sync, from its sync root
    # the namespaces the storage Kustomizations live in and apply into -> the Namespace object the repository declares
    # for it (its labels, e.g. pod-security for a hostPath provisioner), None when it declares none
    namespaces: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    cni: tuple[Release, ...] = ()  # the HelmReleases that install the cluster network (their values configure
    # `cni`), but for those the bootstrap helmfile installs
    instance: Release | None = None  # a HelmRelease of flux-operator's flux-instance chart (values.instance.sync)
    instance_object: dict[str, Any] | None = None  # the FluxInstance object of the sync root, as declared
    helmfile: tuple[str, ...] = ()  # `helmfile ... sync` of the repository's bootstrap, the sync's release left out
    operator_installed: bool = False  # that helmfile installs flux-operator already
    # (kind, namespace, name) of a ConfigMap/Secret a storage Kustomization's postBuild.substituteFrom needs -> the
    # command that makes it from the repository's own file; None when no file of the repository declares it
    substitutions: dict[tuple[str, str, str], str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Release:
    """A Helm release of the repository (a HelmRelease, or a release of its bootstrap helmfile), as `helm` would
    install it by hand."""

    name: str  # helm-controller's release name (api/v2 GetReleaseName), or the helmfile's
    namespace: str
    file: str  # where it is declared, relative to the repository root
    chart: str  # `oci://...` or `--repo URL NAME`; "<chart>" when its source is not in the repository
    version: str  # "" when unknown
    values: tuple[str, ...] = ()  # `--values` arguments giving its values in merge order (validate/helmvalues.py)

    def helm(self, extra: str = "") -> str:
        version = f" --version {self.version}" if self.version else ""
        values = "".join(f" --values {v}" for v in self.values)
        return (f"helm upgrade --install {self.name} {self.chart}{version} --namespace {self.namespace} "
                f"--create-namespace{values}{extra}")


def read_repository(loaded: LoadedConfig) -> Repository:
    """The storage Kustomizations (flux.dependsOn, with their own dependsOn, dependencies first) as the controller
    receives them, and the sync root's start command. A Kustomization file is often not what Flux applies: a parent's
    ``spec.patches`` adds interval, prune, sourceRef, and its kustomization.yaml sets the namespace
    (fluxcd/kustomize-controller@v1.9.4:config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml requires
    interval, prune and sourceRef), so the raw file is refused by the API server. validate/flux.py's Graph applies
    those patches, as kustomize-controller's build does."""
    from velero_gitops.ops.importer import plain
    from velero_gitops.ops.wiring import cluster_roots, config_view, flux_facts, graph

    c = loaded.config
    root = loaded.repo_root.resolve()
    src = c.flux.source_ref
    sources = [f"{src.kind}/{src.namespace}/{src.name}"]
    g = graph(root, sources)
    view = config_view(loaded, g)  # this cluster's objects only: another cluster's storage, root and keys are not its
    by_ref: dict[str, Any] = {}
    for k in g.flux_ks:
        if k.path is not None and view.sees(k):  # a declared one, not flux-operator's synthetic sync
            by_ref.setdefault(f"{g.ns_of(k)}/{k.name}", k)
    storage: dict[str, dict[str, Any] | None] = {}

    def visit(ref: str, seen: tuple[str, ...]) -> None:
        if ref in storage or ref in seen:
            return
        k = by_ref.get(ref)
        data = plain(k.data) if k is not None else None
        if data is not None:
            ns = ref.split("/", 1)[0]
            if not isinstance(data.get("metadata"), dict):
                data["metadata"] = {}
            data["metadata"]["namespace"] = ns
            for _, dep in g.kustomization(k).depends_on:  # the typed model: a dependsOn of any shape is read once
                visit(f"{dep.namespace or ns}/{dep.name}", (*seen, ref))
        storage[ref] = data

    deps = [f"{d.namespace}/{d.name}" for d in c.flux.depends_on]
    for ref in deps:
        visit(ref, ())
    # the installers of the StorageClasses the backed-up volumes use, when flux.dependsOn misses them (check warns:
    # flux.storage-not-ordered): the restore needs them all the same (ops/storage.py)
    from velero_gitops.ops import storage as storagelib

    # as check judges it (check._storage_and_metrics): a Kustomization that applies Velero's own is no dependency
    facts = flux_facts(root, sources, g=g)
    from velero_gitops.ops.ordering import ancestors

    above = ancestors(facts, ks_file=g.run.real(root / Layout.of(c).ks_file))
    for gap in storagelib.gaps(storagelib.read(root, sources, g, view), storagelib.backed_up_namespaces(loaded), deps,
                               above):
        visit(gap.installers[0].ref, ())
    _leave_ours_out(g, root, Layout.of(c), by_ref, storage)
    wanted: list[str] = []
    for ref, data in storage.items():
        tn = dig(data, "spec", "targetNamespace")
        wanted += [ref.split("/", 1)[0], *([tn] if isinstance(tn, str) and tn else [])]
    # the sync roots of this cluster (wiring.cluster_roots); none known when no root of the repository reaches the tree
    roots = cluster_roots(facts, g.run.real(root / c.repo.apps_root)) \
        if view.holder is not None or not g.cluster_roots else []
    cni, instance = _releases(g, root, view)
    fi = next((r for r in roots if r.kind == "FluxInstance" and r.file is not None), None)
    instance_object = None
    if fi is not None:
        from velero_gitops.ops.wiring import applied_objects

        instance_object = next((plain(o.data) for o in applied_objects(g, root, "FluxInstance", view)
                                if o.kind == "FluxInstance" and o.name == fi.name), None)
        if instance_object is None:  # the sync root's own file, read as the graph read it
            instance_object = next((plain(o.data) for o in g.all if o.kind == "FluxInstance" and o.name == fi.name),
                                   None)
    substitutions = _substitutions(g, root, storage, by_ref, view)
    hf = _helmfiles(root, instance)
    instance = instance or hf.instance  # a release of the helmfile only: installed by hand the same way
    released = hf.released
    # the sync starts as the owner starts it: the release left out of the helmfile, when no values are known to us
    bootstrap = hf.finish if instance is None and hf.finish else _bootstrap(roots, root, instance)
    return Repository(storage, bootstrap,
                      _namespaces(g, root, [n for n in dict.fromkeys(wanted) if n != c.flux.namespace], view),
                      tuple(r for r in cni if (r.name, r.namespace) not in released),  # the helmfile's come first
                      instance, instance_object, hf.commands, hf.operator, substitutions)


def _leave_ours_out(g: Any, root: Path, lay: Layout, by_ref: dict[str, Any],
                    storage: dict[str, dict[str, Any] | None]) -> None:
    """A storage Kustomization whose build applies this tree's Kustomizations (`render --wire` listed them in the
    folder it builds) would apply Velero with its storage location ReadWrite and its Schedules running, before the
    entry point; and its health would wait on every one of them (monitoring included). So, in the storage step, it
    gets one more patch that deletes them from its build: kustomize-controller appends ``spec.patches`` to the
    kustomization it builds (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go), and a strategic merge
    patch ``$patch: delete`` removes what its target selects (kubernetes-sigs/kustomize@kustomize/v5.7.1:
    api/filters/patchstrategicmerge). The bootstrap applies the parent from Git again, without it."""
    ks_file = g.run.real(root / lay.ks_file)
    parents = {id(k) for k in g.applied_by.get(ks_file, [])}
    ours = sorted({o.name for o in g.all if o.kind == "Kustomization" and o.path is not None
                   and o.api_version.startswith("kustomize.toolkit.fluxcd.io/") and g.real(o.path) == ks_file})
    if not parents or not ours:
        return
    for ref, data in storage.items():
        k = by_ref.get(ref)
        if data is None or k is None or id(k) not in parents:
            continue
        spec = data.setdefault("spec", {})
        patches = spec["patches"] if isinstance(spec.get("patches"), list) else []
        patches.append({
            "target": {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization",
                       "name": "^(" + "|".join(n.replace(".", "\\.") for n in ours) + ")$"},
            "patch": "$patch: delete\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
                     f"metadata:\n  name: {ours[0]}\n"})
        spec["patches"] = patches


def _substitutions(g: Any, root: Path, storage: dict[str, dict[str, Any] | None], by_ref: dict[str, Any],
                   view: Any) -> dict[tuple[str, str, str], str | None]:
    """How to make each ConfigMap/Secret a storage Kustomization's ``postBuild.substituteFrom`` reads and does not
    mark optional: the build fails while it is missing (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go
    LoadVariables reads it in the Kustomization's namespace). In normal operation another Kustomization applies it
    (often a SOPS-encrypted Secret in a component the sync root adds); during the restore that one is not applied,
    so the step applies the repository's own file: decrypted by sops when it is encrypted, the one object selected
    (yq) when the file holds more. With one such file per cluster, the one the same sync root applies is taken."""
    real_root = g.run.real(root)

    def roots(p: Path | None) -> set[int]:
        return {id(chain[0]) for chain in g.chains(p)} if p is not None else set()

    out: dict[tuple[str, str, str], str | None] = {}
    for ref, data in storage.items():
        ns = ref.split("/", 1)[0]
        for r in sequence(dig(data, "spec", "postBuild"), "substituteFrom"):
            if not isinstance(r, dict) or r.get("optional") or r.get("kind") not in ("ConfigMap", "Secret"):
                continue
            kind, name = str(r["kind"]), str(r.get("name", ""))
            if (kind, ns, name) in out:
                continue
            found = [o for o in g.named(kind, name) if o.api_version == "v1" and o.path is not None and view.sees(o)]
            k = by_ref.get(ref)
            mine = roots(k.path if k is not None else None)
            # one the same sync root applies first (one file per cluster), then one of this namespace (a file may
            # say it, or kustomize's namespace: sets it), else any
            found.sort(key=lambda o: (not (roots(o.path) & mine), g.ns_of(o) != ns))
            if not found:
                out[(kind, ns, name)] = None
                continue
            o = found[0]
            f = g.real(o.path).relative_to(real_root).as_posix()
            many = sum(1 for x in g.all if x.path == o.path) > 1
            read = f"sops decrypt {f}" if o.encrypted else (f"cat {f}" if many else "")
            pick = f" | yq 'select(.kind == \"{kind}\" and .metadata.name == \"{name}\")'" if many else ""
            # the object of the file goes into this namespace whatever its file says (its parent sets it so)
            fix_ns = f" | yq '.metadata.namespace = \"{ns}\"'"
            out[(kind, ns, name)] = (f"{read}{pick}{fix_ns} | kubectl apply -f -" if read else
                                     f"yq '.metadata.namespace = \"{ns}\"' {f} | kubectl apply -f -")
    return out


@dataclass(frozen=True)
class Helmfiles:
    commands: tuple[str, ...]  # `helmfile ... sync` of each bootstrap helmfile, the sync's release left out
    released: frozenset[tuple[str, str]]  # (name, namespace) of the releases those commands install
    operator: bool  # they install flux-operator's own chart
    instance: Release | None  # the release left out, as helm installs it (None when its values are unreadable)
    finish: tuple[str, ...] = ()  # `helmfile ... sync --selector name=...` of the releases left out


def _helmfiles(root: Path, instance: Release | None) -> Helmfiles:
    """The repository's bootstrap helmfiles, leaving out the release that starts Flux's sync. A bootstrap helmfile
    installs what a cluster needs before Flux (network, DNS, flux-operator): the owner's own order. The release left
    out is the one of the flux-instance HelmRelease of the tree, or one whose values (inline or in its `values:`
    files, validate/helmvalues.py) give a FluxInstance with its sync."""
    from velero_gitops import safefile, yamlsafe
    from velero_gitops.ops.init import yaml_files
    from velero_gitops.validate import helmvalues

    commands: list[str] = []
    released: set[tuple[str, str]] = set()
    operator = False
    left_out: Release | None = None
    finish: list[str] = []
    done: set[Path] = set()
    for p in yaml_files(root):
        unit = p.parent if p.parent.name == "helmfile.d" else p
        if unit in done or not (p.parent.name == "helmfile.d" or p.name in ("helmfile.yaml", "helmfile.yml")):
            continue
        files = sorted(f for f in unit.iterdir() if f.suffix in (".yaml", ".yml")) if unit.is_dir() else [unit]
        skip: list[str] = []
        mine: set[tuple[str, str]] = set()
        for f in files:
            try:
                docs = yamlsafe.load_all(safefile.read_text(f, root=root))
            except (OSError, UnicodeDecodeError, yamlsafe.YamlRefused, safefile.FileRefused):
                continue  # a Go-templated helmfile is no YAML to us
            for d in docs:
                data = d.data if isinstance(d.data, dict) else {}
                repos = {str(r.get("name")): str(r.get("url")) for r in data.get("repositories") or []
                         if isinstance(r, dict) and r.get("name") and r.get("url")}
                rels = data.get("releases")
                for r in rels if isinstance(rels, list) else []:
                    if not isinstance(r, dict) or not isinstance(r.get("name"), str):
                        continue
                    ns = str(r.get("namespace") or "default")
                    chart = str(r.get("chart") or "")
                    vals = helmvalues.of_helmfile_release(root, f, r)
                    inst = vals.values.get("instance")
                    chart_name = chart.rstrip("/").rsplit("/", 1)[-1]  # an OCI path or `repo/chart` ends with it
                    # the flux-instance chart renders the FluxInstance: left out when its values give a sync, or
                    # when they cannot be read (a template) and may
                    syncs = (isinstance(inst, dict) and isinstance(inst.get("sync"), dict)) or (
                        instance is not None and (r["name"], ns) == (instance.name, instance.namespace)) or (
                        chart_name == "flux-instance" and vals.unread)
                    if syncs:
                        skip.append(r["name"])
                        if left_out is None and not vals.unread:
                            left_out = Release(r["name"], ns, f.relative_to(root).as_posix(),
                                               _helmfile_chart(chart, repos), str(r.get("version") or ""),
                                               vals.args)
                    else:
                        mine.add((r["name"], ns))
                        operator = operator or chart_name == "flux-operator"
        if not mine and not skip:
            continue
        released |= mine
        done.add(unit)
        selector = f" --selector {','.join(f'name!={n}' for n in skip)}" if skip else ""
        finish += [f"helmfile --file {unit.relative_to(root).as_posix()} sync --selector name={n}      # now with "
                   "Flux's sync" for n in skip]
        commands.append(f"helmfile --file {unit.relative_to(root).as_posix()} sync{selector}"
                        + ("      # all but the release that starts Flux's sync" if skip else ""))
    return Helmfiles(tuple(commands), frozenset(released), operator, left_out, tuple(finish))


def _helmfile_chart(chart: str, repos: dict[str, str]) -> str:
    """A helmfile `chart:` for `helm install`: `oci://...` as is, `<repository>/<chart>` with the repository's URL."""
    name, slash, rest = chart.partition("/")
    if not chart.startswith("oci://") and slash and name in repos:
        url = repos[name]
        return f"{url.rstrip('/')}/{rest}" if url.startswith("oci://") else f"--repo {url} {rest}"
    return chart or "<chart>"


def _releases(g: Any, root: Path, view: Any = None) -> tuple[tuple[Release, ...], Release | None]:
    """(the HelmReleases that install the cluster network, the one of flux-operator's flux-instance chart). Read from
    the chart's own interface in the values helm-controller composes (validate/helmvalues.py: valuesFrom, then values),
    not from names: a CNI chart is configured under `cni` (Cilium's values.yaml `cni:`), the flux-instance chart
    takes the FluxInstance under `instance` with its `sync`
    (controlplaneio-fluxcd/charts@v0.14.8:charts/flux-instance/templates/instance.yaml)."""
    from velero_gitops.ops.wiring import applied_objects
    from velero_gitops.validate import helmvalues

    cni: list[Release] = []
    instance = None
    real_root = g.run.real(root)
    for o in applied_objects(g, root, "HelmRelease", view):
        if o.kind != "HelmRelease" or not o.api_version.startswith("helm.toolkit.fluxcd.io/") or o.path is None:
            continue
        spec: dict[str, Any] = o.data["spec"] if isinstance(o.data.get("spec"), dict) else {}
        vals = helmvalues.of_release(g, root, o)
        values = vals.values
        is_cni = isinstance(values.get("cni"), dict)
        is_instance = isinstance(values.get("instance"), dict) and isinstance(values["instance"].get("sync"), dict)
        if not (is_cni or is_instance):
            continue
        ns = g.ns_of(o)
        tns = spec.get("targetNamespace") if isinstance(spec.get("targetNamespace"), str) else ""
        name = spec.get("releaseName") or (f"{tns}-{o.name}" if tns else o.name)
        chart, version = _chart(spec, g)
        rel = Release(str(name), tns or ns, g.real(o.path).relative_to(real_root).as_posix(), chart, version,
                      vals.args)
        if is_cni:
            cni.append(rel)
        elif instance is None:
            instance = rel
    return tuple(cni), instance


def _chart(spec: dict[str, Any], g: Any) -> tuple[str, str]:
    """(chart, version) for `helm install`, from the HelmRelease's chartRef (OCIRepository) or chart.spec
    (HelmRepository), as the repository declares them."""
    ref = spec.get("chartRef")
    if isinstance(ref, dict) and isinstance(ref.get("name"), str):
        for o in g.named(str(ref.get("kind", "")), ref["name"]):
            src = mapping(o.data, "spec")
            if isinstance(src.get("url"), str):
                tag = dig(src, "ref", "tag")
                return src["url"], tag if isinstance(tag, str) else ""
    chart = mapping(mapping(spec, "chart"), "spec")
    if isinstance(chart.get("chart"), str):
        sref = mapping(chart, "sourceRef")
        version = str(chart["version"]) if isinstance(chart.get("version"), str) else ""
        for o in g.named(str(sref.get("kind", "")), str(sref.get("name", ""))):
            url = dig(o.data, "spec", "url")
            if isinstance(url, str):
                return (f"{url.rstrip('/')}/{chart['chart']}" if url.startswith("oci://") else
                        f"--repo {url} {chart['chart']}"), version
        return f"<chart {chart['chart']}>", version
    return "<chart>", ""


def _namespaces(g: Any, root: Path, names: list[str], view: Any = None) -> dict[str, dict[str, Any] | None]:
    """The Namespace objects named ``names`` that the repository applies (first in file order). Flux applies a
    build's Namespaces first (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAllStaged, ssa/utils/is.go
    IsClusterDefinition; the version kustomize-controller v1.9.4 pins), but the storage step applies
    the storage Kustomizations on their own, without the parent whose build holds their namespace.yaml: so the
    step applies it first."""
    from velero_gitops.ops.importer import plain
    from velero_gitops.ops.wiring import applied_objects

    out: dict[str, dict[str, Any] | None] = dict.fromkeys(names)
    for o in applied_objects(g, root, "Namespace", view) if names else []:  # no filter on the name: kustomize may set it
        if o.kind != "Namespace" or o.api_version != "v1":
            continue
        # a kustomization's `namespace:` (and Flux's targetNamespace) renames a v1 Namespace object
        # (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/namespace/namespace.go run: metadata.name)
        for name in [n for n in g.namespaces(o) if n] or [o.name]:
            if name in out and out[name] is None:
                data = plain(o.data)
                data.setdefault("metadata", {})["name"] = name
                out[name] = data
    return out


def _bootstrap(roots: list, root: Path, instance: Release | None = None) -> tuple[str, ...]:
    """How the cluster's sync starts, from the sync root the repository has (ops/wiring.py sync_roots); with a
    flux-instance HelmRelease, its chart with the repository's values (the sync on)."""
    def rel(p: Path | None) -> str:
        return os.path.relpath(p, root) if p is not None else "<file>"

    if instance is not None:
        return (instance.helm() + f"      # FluxInstance from {instance.file}, now with its sync",)
    out: list[str] = []
    for r in roots:
        if r.kind == "FluxInstance":
            # flux-operator turns the instance's spec.sync into the root Kustomization
            # (controlplaneio-fluxcd/flux-operator: internal/builder/templates.go)
            out += ["helm install flux-operator oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator "
                    "--namespace flux-system      # unless flux-operator is running",
                    f"kubectl apply -f {rel(r.file)}      # FluxInstance {r.namespace}/{r.name}: syncs "
                    f"./{rel(r.path_dir)}"]
        elif r.kind == "Bootstrap" or r.file is None or (r.file.name == "gotk-sync.yaml"
                                                         and r.file.parent.name == "flux-system"):
            out.append(f"flux bootstrap <provider> ... --path=./{rel(r.path_dir)}      # as for the old cluster")
        else:
            out.append(f"kubectl apply -f {rel(r.file)}      # Kustomization {r.namespace}/{r.name}: the sync root "
                       f"of this repository, building ./{rel(r.path_dir)}")
    return tuple(out) or ("flux bootstrap <provider> ... --path=<this cluster's path>      # as for the old cluster",)


def _apply_object(ref: str, data: dict[str, Any] | None) -> str:
    from velero_gitops import varsub
    from velero_gitops.render.yamlfmt import document

    if data is None:
        return (f"kubectl apply -f <the Kustomization {ref}, as Flux applies it: with namespace, interval, prune and "
                "sourceRef>      # not declared in this repository")
    body = document(data).rstrip("\n")
    note = ("      # replace each ${...}: a parent's postBuild substitutes it" if varsub.names(body) else "")
    # a substituteFrom that is not optional fails the build while its ConfigMap/Secret is missing
    # (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go LoadVariables)
    subst = sequence(dig(data, "spec", "postBuild"), "substituteFrom")
    needed = [f"{r.get('kind')} {r.get('name')}" for r in subst if isinstance(r, dict) and not r.get("optional")]
    if needed:
        note += (f"      # needs {', '.join(needed)} in {ref.split('/', 1)[0]} first (postBuild.substituteFrom: "
                 "made above)")
    return _heredoc(body, note)


def _decryption_keys(storage: dict[str, dict[str, Any] | None], made: tuple[str, str] | None) -> list[str]:
    """The age key Secret in the namespace of each storage Kustomization that decrypts with one: kustomize-controller
    reads ``decryption.secretRef`` in the Kustomization's own namespace (fluxcd/kustomize-controller@v1.9.4:
    internal/decryptor/decryptor.go ImportKeys: Namespace: the Kustomization's), and in normal operation another
    Kustomization puts it there (a component of the sync root), which the restore does not apply. ``made``: the
    (namespace, name) the install step made already."""
    out: list[str] = []
    seen = {made} if made is not None else set()
    for ref, data in storage.items():
        sref = dig(data, "spec", "decryption", "secretRef")
        name = sref.get("name") if isinstance(sref, dict) else None
        ns = ref.split("/", 1)[0]
        if isinstance(name, str) and name and (ns, name) not in seen:
            seen.add((ns, name))
            out.append(f"kubectl -n {ns} create secret generic {name} "
                       "--from-file=age.agekey=$HOME/.config/sops/age/keys.txt      # Kustomization "
                       f"{ref} decrypts with it, in its own namespace")
    return out


def _substitution(key: tuple[str, str, str], command: str | None) -> str:
    kind, ns, name = key
    if command is None:
        return (f"kubectl -n {ns} get {kind.lower()} {name}      # must exist first (postBuild.substituteFrom): no "
                "file of this repository declares it; create it as on the old cluster")
    return f"{command}      # {kind} {ns}/{name} (postBuild.substituteFrom), from the repository's file"


def _heredoc(body: str, note: str) -> str:
    """`kubectl apply` of ``body`` on standard input; the terminator is a line the body does not have (the body
    comes from the repository's files)."""
    end = "EOF"
    while end in body.splitlines():
        end += "_"
    return f"kubectl apply -f - <<'{end}'{note}\n{body}\n{end}"


def _apply_namespace(name: str, data: dict[str, Any] | None) -> str:
    from velero_gitops.render.yamlfmt import document

    if data is None:
        return f"kubectl create namespace {name} --dry-run=client -o yaml | kubectl apply -f -"
    return _heredoc(document(data).rstrip("\n"), f"      # Namespace {name}, as the repository declares it")


@dataclass(frozen=True)
class Step:
    title: str
    commands: tuple[str, ...]
    exists_after: str  # what the cluster holds once the step is done
    cite: str  # the upstream code or doc the step relies on


def procedure(loaded: LoadedConfig, backup: str = "<backup>", repo: Repository | None = None) -> list[Step]:
    if backup != "<backup>":  # the placeholder the printed commands keep when no backup is named
        from velero_gitops.ops.manifests import backup_name

        backup_name(backup, "--from-backup")
    c = loaded.config
    repo = repo or read_repository(loaded)
    lay = Layout.of(c)
    cfg = loaded.display_path
    ns, app, fns = c.repo.namespace, c.repo.app, c.flux.namespace
    src = c.flux.source_ref
    dr_file = f"{lay.disaster_recovery_file}"
    dr_name = disaster_recovery_kustomization_name(c)
    password = ("the kopia password Secret velero-repo-credentials from Git (velero.repositoryPassword: managed)"
                if c.velero.repository_password == "managed" else
                "NOT the kopia password Secret velero-repo-credentials: create it with the old cluster's password "
                f"before this step (velero.repositoryPassword: {c.velero.repository_password})")
    key = ("# nothing in the tree is SOPS-encrypted: no age key Secret is needed" if not sops_files(c) else
           f"kubectl -n {fns} create secret generic {c.flux.decryption.secret_ref} "
           "--from-file=age.agekey=$HOME/.config/sops/age/keys.txt"
           if c.flux.decryption.key_from == "secretRef" else
           f"kubectl -n {fns} create secret generic <the --sops-age-secret name> "
           "--from-file=age.agekey=$HOME/.config/sops/age/keys.txt  "
           "# and give kustomize-controller the same --sops-age-secret flag as your flux-system patches do")
    deps = list(repo.storage)
    source_cmd = {
        "GitRepository": f"flux create source git {src.name} -n {src.namespace} --url=<repository URL> --branch=<branch> "
                         "[--secret-ref=<deploy key Secret>]",
        "OCIRepository": f"flux create source oci {src.name} -n {src.namespace} --url=<artifact URL> --tag=<tag>",
        "Bucket": f"flux create source bucket {src.name} -n {src.namespace} --bucket-name=<bucket> --endpoint=<endpoint>",
    }[src.kind]
    schedules = (f"Kustomization {fns}/{schedules_kustomization_name(c)} suspended, so no Schedule exists"
                 if c.schedules else "no Schedules")
    operator_cite = ("controlplaneio-fluxcd/flux-operator@v0.58.1:api/v1/fluxinstance_types.go (spec.sync is "
                     "optional: without it the instance installs the controllers and syncs nothing)")
    operator_cmd = ("# flux-operator: installed by the bootstrap helmfile above" if repo.operator_installed else
                    "helm upgrade --install flux-operator oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator "
                    f"--namespace {fns} --create-namespace")
    if repo.instance is not None:
        install = Step(
            "Install Flux with flux-operator, as the repository does, but without its sync",
            (operator_cmd,
             repo.instance.helm(" --set instance.sync.url=") + "      # the chart renders no spec.sync without a url",
             f"kubectl -n {fns} wait fluxinstance --all --for=condition=Ready --timeout=10m", key),
            f"flux-operator and the Flux controllers in {fns}, with the repository's own FluxInstance settings (its "
            "patches and flags); the age key Secret; nothing from Git is applied",
            operator_cite + "; controlplaneio-fluxcd/charts@v0.14.8:charts/flux-instance/templates/instance.yaml "
            "(`if .Values.instance.sync.url`)")
    elif repo.instance_object is not None:
        unsynced = {**repo.instance_object, "spec": {k: v for k, v in (repo.instance_object.get("spec") or {}).items()
                                                     if k != "sync"}}
        from velero_gitops.render.yamlfmt import document

        install = Step(
            "Install Flux with flux-operator, as the repository does, but without its sync",
            (operator_cmd,
             _heredoc(document(unsynced).rstrip("\n"), "      # the repository's FluxInstance without spec.sync"),
             f"kubectl -n {fns} wait fluxinstance --all --for=condition=Ready --timeout=10m", key),
            f"flux-operator and the Flux controllers in {fns}, with the repository's FluxInstance settings; the age "
            "key Secret; nothing from Git is applied", operator_cite)
    elif repo.operator_installed:  # flux-operator runs; the FluxInstance's values are not in the repository's files
        install = Step(
            "Install Flux with flux-operator, as the repository does, but without its sync",
            (operator_cmd,
             "kubectl apply -f <your FluxInstance without spec.sync>      # its values are not in this repository's "
             "files (a Secret, a template): drop the sync, keep the rest",
             f"kubectl -n {fns} wait fluxinstance --all --for=condition=Ready --timeout=10m", key),
            f"flux-operator and the Flux controllers in {fns}; the age key Secret; nothing from Git is applied",
            operator_cite)
    else:
        install = Step("Install the Flux controllers only, no sync",
                       ("flux install", key),
                       f"the Flux controllers and CRDs in {fns}, the age key Secret; nothing from Git is applied",
                       "fluxcd/flux2@v2.7.5:cmd/flux/install.go (components only, no GitRepository or Kustomization)")
    steps = [
        Step("Check the repository and your age key (on your workstation)",
             (f"velero-gitops check --config {cfg}",
              *((f"sops decrypt {lay.secret_file} >/dev/null && echo ok",) if c.s3.credentials_from == "sops" else ()),
              *((f"sops decrypt {lay.repo_password_file} >/dev/null && echo ok",)
                if c.velero.repository_password == "managed" else ())),
             "nothing yet: the old cluster is gone; the bucket and the repository remain. Besides the bucket you "
             "need: the age key; credentials for the repository (the Secret of `flux create source --secret-ref` "
             "and what the last step's bootstrap asks for); the values of Secrets the tree does not hold "
             "(postBuild.substituteFrom, credentials made outside the repository)"
             + ("; the kopia password itself (velero.repositoryPassword is not managed: it is not in the tree)"
                if c.velero.repository_password != "managed" else ""),
             "docs/secrets.md (the kopia repository opens only with the password it was created with)"),
        *([Step(
            "Run the repository's bootstrap helmfile (network, DNS...), but not what starts Flux's sync",
            (*repo.helmfile, "kubectl wait nodes --all --for=condition=Ready --timeout=15m"),
            "what the owner's bootstrap installs before Flux, the network included (nodes Ready); no Flux sync. It "
            "must install nothing of the backed-up namespaces: Velero skips every object that exists",
            "the repository's own bootstrap order; vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem "
            "(existing objects are skipped)")] if repo.helmfile else []),
        *([Step(
            "Install the cluster network (CNI) the repository installs, before any pod",
            (*(r.helm() for r in repo.cni),
             "kubectl wait nodes --all --for=condition=Ready --timeout=15m",
             "# and the cluster DNS, if your bootstrap installs it too (Flux fetches the repository by name)"),
            f"the network of {', '.join(f'HelmRelease {r.namespace}/{r.name} ({r.file})' for r in repo.cni)}; "
            "nodes Ready. Until then no pod gets an address: Flux's controllers would never become Ready",
            "the repository's own HelmRelease (its values configure `cni`); Flux applies it only after the restore, "
            "with the apps")] if repo.cni else []),
        install,
        Step("Create the repository's source under the name the tree refers to",
             (source_cmd,),
             f"{src.kind} {src.namespace}/{src.name} with the repository's artifact; still no Kustomization",
             f"the tree's sourceRef ({src.kind}/{src.namespace}/{src.name}, flux.sourceRef)"),
    ]
    secret = f"{ns}/{c.s3.credentials_secret}"
    if c.s3.credentials_from != "sops":
        # the tree does not make the credentials Secret: the BSL stays Unavailable and no backup syncs until it exists
        # (vmware-tanzu/velero@v1.18.1:pkg/controller/backup_storage_location_controller.go validates the location
        # with those credentials)
        made_by = ("is made outside the repository (s3.credentialsFrom: external): run what made it on the old "
                   "cluster (by hand, a Vault agent...) now" if c.s3.credentials_from == "external" else
                   "is made by an object of the repository (s3.credentialsFrom: repository, e.g. an ExternalSecret or "
                   "a SealedSecret): its controller and its store must run first; apply the Kustomization that "
                   "installs them as in the storage step")
        steps.append(Step(
            f"Provide the S3 credentials Secret {secret} first",
            (f"kubectl create namespace {ns} --dry-run=client -o yaml | kubectl apply -f -",
             f"kubectl -n {ns} get secret {c.s3.credentials_secret}      # must exist before Velero starts"),
            f"Secret {secret}, key {c.s3.credentials_key}: it {made_by}",
            "vmware-tanzu/velero@v1.18.1:pkg/controller/backup_storage_location_controller.go (the location is "
            "validated with these credentials; without them it stays Unavailable and no backup is synced)"))
    if deps:
        steps.append(Step(
            "Apply what Velero depends on (storage), and nothing else",
            (*(_apply_namespace(n, data) for n, data in repo.namespaces.items()),
             *_decryption_keys(repo.storage, (fns, c.flux.decryption.secret_ref)
                               if c.flux.decryption.key_from == "secretRef" else None),
             *(_substitution(k, cmd) for k, cmd in repo.substitutions.items()),
             *(_apply_object(d, repo.storage[d]) for d in deps),
             *(f"kubectl -n {d.split('/', 1)[0]} wait kustomization/{d.split('/', 1)[1]} --for=condition=Ready "
               "--timeout=30m" for d in deps)),
            f"Kustomizations {', '.join(deps)} and what they install (the volume provisioner the restored PVCs need)",
            "fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies "
            f"(Kustomization {fns}/{app} waits for flux.dependsOn)"))
    steps += [
        Step("Apply the disaster-recovery entry point: Velero alone, storage location ReadOnly",
             # `kubectl wait` on a named object that does not exist yet fails at once (only kubectl >= 1.31 has
             # --for=create); Kustomization {app} exists only once {dr_name} has applied it, so wait for that first.
             (f"kubectl apply -f {dr_file}",
              f"kubectl -n {fns} wait kustomization/{dr_name} --for=condition=Ready --timeout=10m",
              f"kubectl -n {fns} wait kustomization/{app} --for=condition=Ready --timeout=30m",
              f"kubectl -n {ns} get backupstoragelocations.velero.io        # ACCESS MODE ReadOnly, PHASE Available",
              f"kubectl -n {ns} get backups.velero.io                       # the old backups, synced from the bucket"),
             f"Namespace {ns}; Kustomizations {dr_name}, {app} (patched: BSL ReadOnly), {schedules}; "
             f"{monitoring_kustomization_name(c) if c.metrics.enabled else 'no monitoring'} (on its own: never blocks "
             f"Velero); the HelmRelease, the credentials and {password}; Velero and node-agent running; Backup "
             "objects synced from the bucket",
             "vmware-tanzu/velero@v1.18.1:site/content/docs/v1.18/disaster-case.md (BSL ReadOnly); "
             "pkg/controller/backup_sync_controller.go (backups come back from the bucket); "
             "pkg/controller/backup_controller.go (no backup into a ReadOnly location)"),
        Step("Restore, into a cluster where nothing of the apps exists, with Flux's controllers stopped",
             (f"kubectl -n {fns} scale deployment --all --replicas=0      # no Flux controller reconciles the "
              "restored HelmReleases, Kustomizations or sources while their data is copied back",
              f"velero-gitops restore-manifest dr-restore --from-backup {backup} --exclude-namespaces {ns},{fns} "
              f"--config {cfg} | kubectl apply -f -",
              f"kubectl -n {ns} get restores.velero.io dr-restore -w                  # Completed, or PartiallyFailed "
              "only by custom resources whose CRD is not installed yet (docs/restore-drill.md, step 6)",
              f"kubectl -n {ns} get podvolumerestores.velero.io -l velero.io/restore-name=dr-restore   # all Completed",
              f"kubectl -n {fns} scale deployment --all --replicas=1      # the data is back: Flux's controllers again",
              f"kubectl -n {fns} wait deployment --all --for=condition=Available --timeout=10m"),
             "the apps' namespaces, PVCs (new volumes from the provisioner), pods created by Velero with the "
             "restore-wait init container, the volume data copied back by one PodVolumeRestore per volume; the "
             "restored Flux objects, reconciled only once the data is back",
             "vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem (existing objects are skipped; "
             "restorePodVolumeBackups only for created pods; a PV with a pod volume backup is re-provisioned) and "
             "execute (pod volume restores are waited for after every item is created), "
             "pkg/restore/actions/pod_volume_restore_action.go (restore-wait); "
             "fluxcd/helm-controller@v1.6.3, fluxcd/kustomize-controller@v1.9.4 (each reconciles an object of its kind "
             "as soon as it exists)"),
        Step("Remove the entry point; what it applied stays",
             (f"kubectl -n {fns} delete kustomization {dr_name}",),
             f"the same objects, no longer reconciled by {dr_name} (it has prune: false)",
             "fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go "
             "finalizerShouldDeleteResources (no prune, nothing deleted)"),
        Step("Bootstrap Flux as for any cluster: now it applies the apps",
             (*repo.bootstrap, "flux get kustomizations --all-namespaces",
              *((f"kubectl -n {ns} get backupstoragelocations.velero.io        # ACCESS MODE ReadWrite again",
                 *(cmd for s in c.schedules if not s.paused for cmd in (
                     f"velero-gitops backup-manifest --from-schedule {s.name} --config {cfg} | kubectl apply -f -"
                     "      # a fresh backup: the synced ones are old, VeleroNoNewBackup fires until one succeeds",
                     f"velero backup create --from-schedule {s.name} -n {ns}      # the same with the velero CLI")))
                if c.schedules else ())),
             "everything in Git. The restored objects already exist: Flux applies Git's state onto them and the "
             f"restored pods keep their data. Kustomization {app} loses the ReadOnly patch (same field manager), "
             f"the storage location is ReadWrite again{', the Schedules are created' if c.schedules else ''}",
             "fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go (server-side apply "
             "as field manager kustomize-controller: fields it no longer applies are removed)"),
    ]
    return steps


def as_text(steps: list[Step]) -> str:
    out = ["Paths are relative to the repository root; run the commands from there.", ""]
    for i, s in enumerate(steps, 1):
        out.append(f"{i}. {s.title}")
        # a here-document's lines stay at column 0: its terminator must start its line
        out.extend(f"     {cmd}" if "\n" not in cmd else cmd for cmd in s.commands)
        out.append(f"   On the cluster after it: {s.exists_after}")
        out.append(f"   Why: {s.cite}")
        out.append("")
    return "\n".join(out)
