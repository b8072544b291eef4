"""Is the rendered tree applied by Flux (ops/wiring.py), on fixture layouts of our own, one per class of issue 18 §1.

What applies a folder is kustomize-controller's build of spec.path; where the folder has no kustomization.yaml,
fluxcd/pkg generates one from every YAML file below it and, as a whole, each sub-folder with its own kustomization.yaml
(fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go, findOrGenerateKustomization and scanManifests;
kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go build). Each test proves the edit with the
real `kubectl kustomize` of the folder the Flux Kustomization builds, not only with our own model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from layout_fixtures import EXPLICIT_LIST, LAYOUTS, app, bootstrap, ks, two_clusters
from velero_gitops.config.loader import load
from velero_gitops.ops import wiring

from cli_util import require_kubectl, run_cli

CONFIG = "cluster: t\nrepo:\n  appsRoot: {apps}\ns3:\n  endpoint: https://s3.example.com\nschedules: []\n"


def _repo(tmp_path: Path, layout: str) -> tuple[Path, Path]:
    root = tmp_path / "repo"
    root.mkdir()
    apps = LAYOUTS[layout](root)
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps=apps))
    r = run_cli("render", "-q", str(cfg))
    assert r.code == 0, r.err
    return root, cfg


def _kustomize_build(folder: Path) -> str:
    """What kustomize-controller builds at ``folder`` (a folder without kustomization.yaml gets the generated one:
    here, as Flux does, its YAML files and the sub-folders that have one, listed explicitly)."""
    kubectl = require_kubectl()
    r = subprocess.run([kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(folder)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _velero_ks_applied(build: str) -> bool:
    return "kind: Kustomization" in build and "name: velero\n" in build


@pytest.mark.parametrize("layout", ["explicit list", "cluster sub-folders"])
def test_a_parent_list_gets_one_entry_and_flux_builds_the_tree(tmp_path, layout):
    """The parent kustomization.yaml lists folders: render names file, line and text; --wire adds exactly that line,
    keeping their comments; afterwards kubectl kustomize of the Flux Kustomization's path applies our ks.yaml."""
    root, cfg = _repo(tmp_path, layout)
    w = wiring.for_config(load(cfg))
    assert w.checked and not w.wired and w.edit is not None and w.edit.new_content is not None
    apps = load(cfg).config.repo.apps_root
    assert w.edit.file == (root / apps / "kustomization.yaml").resolve()
    before = w.edit.file.read_text()
    r = run_cli("render", str(cfg))
    assert r.code == 0 and f"{apps}/kustomization.yaml:{w.edit.line}:" in r.err and "--wire" in r.err, r.err
    assert w.edit.file.read_text() == before  # render alone never edits their file
    assert not _velero_ks_applied(_kustomize_build(root / apps))

    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 0 and "wired" in r.out, r.out + r.err
    after = w.edit.file.read_text().splitlines()
    assert after[w.edit.line - 1].strip() == "- ./velero"
    assert after[: w.edit.line - 1] + after[w.edit.line:] == before.splitlines()  # one line added, nothing else
    assert _velero_ks_applied(_kustomize_build(root / apps))
    assert wiring.for_config(load(cfg)).wired
    assert "warning" not in run_cli("render", str(cfg)).err


def test_explicit_list_keeps_comments_and_indentation(tmp_path):
    root, cfg = _repo(tmp_path, "explicit list")
    assert run_cli("render", "--wire", str(cfg)).code == 0
    text = (root / "kubernetes/apps/kustomization.yaml").read_text()
    assert text == EXPLICIT_LIST + "  - ./velero\n"


def test_generated_kustomization_is_wired_already(tmp_path):
    """No kustomization.yaml in the apps root: Flux's generator includes the new folder (it has one)."""
    root, cfg = _repo(tmp_path, "generated")
    w = wiring.for_config(load(cfg))
    assert w.wired and [k.name for k in w.by] == ["cluster-apps"]
    assert "warning" not in run_cli("render", str(cfg)).err


def test_per_app_flux_kustomizations_get_one_appended(tmp_path):
    """Areas wired by a list of Flux Kustomizations in clusters/<name>/: --wire appends one that builds the folder;
    the root build (generated at clusters/main) then holds it, and its path builds our ks.yaml."""
    root, cfg = _repo(tmp_path, "per-app Flux Kustomizations")
    listing = root / "clusters/main/infrastructure.yaml"
    before = listing.read_text()
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 0 and "wired" in r.out, r.err
    assert listing.read_text().startswith(before)
    assert wiring.for_config(load(cfg)).wired
    (root / "clusters/main/kustomization.yaml").write_text(  # what Flux's generator lists there
        "resources:\n  - flux-system\n  - infrastructure.yaml\n")
    assert "path: ./infrastructure/velero" in _kustomize_build(root / "clusters/main")
    assert _velero_ks_applied(_kustomize_build(root / "infrastructure/velero"))


def test_lists_a_kustomization_file_names_get_the_folder_listed_beside_them(tmp_path):
    """leftfix8: clusters/<name>/kustomization.yaml lists the Flux Kustomization files (infrastructure.yaml, ...):
    --wire appended a document to one of those files instead of editing the resources list that lists them. The
    folder now goes in that list (kustomize reads it from kustomization.yaml|yml|Kustomization: find_kfile) and
    its own kustomization.yaml brings our Flux Kustomizations; the real build of clusters/main holds them."""
    root, cfg = _repo(tmp_path, "per-app Flux Kustomizations")
    listing = root / "clusters/main/infrastructure.yaml"
    before = listing.read_text()
    kfile = root / "clusters/main/kustomization.yaml"
    kfile.write_text("resources:\n  - flux-system\n  - infrastructure.yaml\n")
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 0 and "wired" in r.out, r.err
    assert listing.read_text() == before
    assert kfile.read_text() == "resources:\n  - flux-system\n  - infrastructure.yaml\n  - ../../infrastructure/velero\n"
    assert wiring.for_config(load(cfg)).wired
    assert _velero_ks_applied(_kustomize_build(root / "clusters/main"))


def test_unreachable_folder_is_named_with_what_to_set(tmp_path):
    """Nothing Flux builds leads to appsRoot and no list of Flux Kustomizations exists: render says so and names the
    setting, and --wire edits nothing."""
    root = tmp_path / "repo"
    root.mkdir()
    c = bootstrap(root)
    (c / "kustomization.yaml").write_text("resources:\n  - flux-system\n")
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps="elsewhere/apps"))
    (root / "elsewhere").mkdir()
    r = run_cli("render", "--wire", str(cfg))
    # --wire asked for an edit it could not make: the tree is written, Flux applies none of it (exit 1, a finding)
    assert r.code == 1 and "repo.appsRoot" in r.err and "wired" not in r.out


def test_flow_style_list_is_left_to_the_user(tmp_path):
    """`resources: [a, b]` cannot take a line without a rewrite: the line is named, the file is not touched."""
    root, cfg = _repo(tmp_path, "explicit list")
    k = root / "kubernetes/apps/kustomization.yaml"
    k.write_text("resources: [./network, ./media]  # ours\n")
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 1 and "by hand" in r.err and k.read_text() == "resources: [./network, ./media]  # ours\n"


def test_no_sync_root_no_verdict(tmp_path):
    """A folder standing in for a repository (the project's examples): nothing to check against, nothing said."""
    root = tmp_path / "repo"
    root.mkdir()
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps="kubernetes/apps"))
    assert run_cli("render", "-q", str(cfg)).code == 0
    assert not wiring.for_config(load(cfg)).checked


def test_only_kustomizations_reached_from_the_sync_root_count(tmp_path):
    """A Flux Kustomization file that nothing applies (left over, or another cluster's) deploys nothing: a tree it
    would build is still unwired."""
    root, cfg = _repo(tmp_path, "explicit list")
    stray = root / "kubernetes/unused"
    stray.mkdir()
    (stray / "apps.yaml").write_text(ks("stray", "./kubernetes/apps/velero"))
    w = wiring.for_config(load(cfg))
    assert not w.wired and w.edit is not None


def test_check_reports_unwired(tmp_path):
    root, cfg = _repo(tmp_path, "explicit list")
    r = run_cli("check", "--no-cache", str(cfg), cwd=root)
    assert r.code == 1 and "applied by no Flux Kustomization" in r.out, r.out
    assert "kubernetes/apps/kustomization.yaml:10" in r.out


def test_wire_refuses_check_mode(tmp_path):
    root, cfg = _repo(tmp_path, "generated")
    r = run_cli("render", "--wire", "--check", str(cfg))
    assert r.code == 2 and "--wire" in r.err


@pytest.mark.parametrize("kind, path, built", [
    ("GitRepository", "clusters/prod", "clusters/prod"),
    # an artifact pushed from ./kubernetes: sync.path is relative to that folder (the graph's resolve decides it)
    ("OCIRepository", "clusters/prod", "kubernetes/clusters/prod"),
])
def test_flux_instance_sync_root_is_the_graphs(tmp_path, kind, path, built):
    """Adoption asks validate.flux.sync_roots and the graph's resolve for a FluxInstance's sync, as the graph does
    (controlplaneio-fluxcd/flux-operator@v0.58.1:internal/builder/templates.go syncTmpl: the Kustomization the
    operator makes reads the sync source at sync.path)."""
    from velero_gitops.validate import flux
    from velero_gitops.validate.run import Options, Run

    (tmp_path / ".git").mkdir()
    where = tmp_path / ("kubernetes" if kind == "OCIRepository" else ".") / "clusters/prod"
    where.mkdir(parents=True)
    (where / "flux-instance.yaml").write_text(
        "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata:\n  name: flux\n  namespace: flux-system\n"
        "spec:\n  distribution:\n    version: 2.x\n    registry: ghcr.io/fluxcd\n  sync:\n"
        f"    kind: {kind}\n    url: oci://example.com/fleet\n    ref: latest\n    path: {path}\n")
    facts = wiring.flux_facts(tmp_path, ["GitRepository/flux-system/flux-system", "OCIRepository/flux-system/flux-system"])
    inst = [k for k in facts if k.kind == "FluxInstance"]
    assert [(k.name, k.path_dir) for k in inst] == [("flux", (tmp_path / built).resolve())]
    g = flux.Graph([], Run(Options(repo_root=str(tmp_path), kustomize="never", policy=False)))
    assert [g.path_dir(r.kustomization) for r in g.sync_roots if r.kustomization is not None] == [tmp_path / built]
    assert (where / "flux-instance.yaml").resolve() in inst[0].applies


def test_an_apps_own_file_is_never_where_another_app_is_wired(tmp_path):
    """aclerici38/home-ops' shape: the sync is outside the repository (flux-operator from Helm values), so the heads
    of the chains count as roots (sync_roots); `apps` builds ./kubernetes/ks/home, a folder without kustomization.yaml
    holding one folder per app (otbr/app.yaml: the Flux Kustomization of the otbr app). The generator applies otbr/app.yaml
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go, scanManifests), but the file is otbr's: `--wire`
    proposed appending velero-apps to it. A list of Flux Kustomizations is a file in the root's own folder or one a
    kustomization.yaml lists; with none, no edit is proposed and the message says to set appsRoot."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "kubernetes/flux/home").mkdir(parents=True)
    (root / "kubernetes/flux/home/apps.yaml").write_text(ks("apps", "./kubernetes/ks/home"))
    (root / "kubernetes/ks/home/otbr").mkdir(parents=True)
    (root / "kubernetes/ks/home/otbr/app.yaml").write_text(ks("otbr", "./kubernetes/apps/home/otbr/app"))
    (root / "kubernetes/apps/home/otbr/app").mkdir(parents=True)
    (root / "kubernetes/apps/home/otbr/app/kustomization.yaml").write_text("resources: []\n")
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps="kubernetes/apps/home"))
    w = wiring.for_config(load(cfg))
    assert w.checked and not w.wired
    assert w.edit is None or w.edit.file != (root / "kubernetes/ks/home/otbr/app.yaml").resolve(), w.edit
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 1, r.err  # no edit made: Flux applies none of the tree
    assert "otbr" not in (r.out + r.err) and "set repo.appsRoot" in r.err, r.err
    assert (root / "kubernetes/ks/home/otbr/app.yaml").read_text() == ks("otbr", "./kubernetes/apps/home/otbr/app")


def _render_unwired(root: Path, apps: str, sync_root: str) -> Path:
    """Render a config of apps root ``apps``; the tree is judged against the one root ``sync_root``, unwired."""
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps=apps))
    assert run_cli("render", "-q", str(cfg)).code == 0
    w = wiring.for_config(load(cfg))
    assert w.checked and [r.name for r in w.roots] == [sync_root] and not w.wired
    return cfg


def test_a_root_in_the_folder_it_builds_is_the_sync_root(tmp_path):
    """The repository's only root lives in the folder it builds (kubernetes/ks.yaml, spec.path ./kubernetes, applied
    once by hand; its own kustomization.yaml leaves the file out so that it does not apply itself), as adopting
    AlinaNova21/home-ops showed: check said nothing while Flux never deployed the tree. Now check reports it unwired,
    --wire lists the folder, real `kubectl kustomize` of ./kubernetes applies our ks.yaml, and the tree's own
    disaster-recovery entry point (a root applied by hand on a lost cluster) is neither the sync root nor a second
    applier (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go builds spec.path)."""
    root = tmp_path / "repo"
    (root / "kubernetes/default/app1/app").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "kubernetes/ks.yaml").write_text(ks("cluster", "./kubernetes"))
    (root / "kubernetes/kustomization.yaml").write_text("resources:\n  - default\n")
    (root / "kubernetes/default/kustomization.yaml").write_text("resources:\n  - app1/ks.yaml\n")
    (root / "kubernetes/default/app1/ks.yaml").write_text(ks("app1", "./kubernetes/default/app1/app"))
    (root / "kubernetes/default/app1/app/cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app1\ndata:\n  a: b\n")
    cfg = _render_unwired(root, "kubernetes", "cluster")
    r = run_cli("check", "--no-cache", str(cfg), cwd=root)
    assert r.code == 1 and "applied by no Flux Kustomization reached from the sync root Kustomization " \
        "flux-system/cluster" in r.out, r.out
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 0 and "now applied by Kustomization flux-system/cluster)" in r.out, r.out + r.err
    assert _velero_ks_applied(_kustomize_build(root / "kubernetes"))
    r = run_cli("check", "--no-cache", "--output", "json", str(cfg), cwd=root)
    rules = {f["rule"] for f in json.loads(r.out)["findings"]}
    assert not rules & {"flux.unwired", "flux.duplicate", "flux.duplicate-identical", "flux.not-applied"}, r.out


def test_a_root_in_a_listed_folder_below_the_one_it_builds_is_the_sync_root(tmp_path):
    """The root lives in clusters/home/flux-system/, whose own kustomization.yaml lists it (a script runs `kubectl
    apply -k clusters/home/flux-system`), and builds ./clusters/home, whose kustomization.yaml leaves flux-system out
    (round-8 adopter, samclement-shaped: the root, and with it the cluster, was taken for never applied, so render,
    check and explain passed a tree nothing deploys). kustomize accumulates only what a kustomization.yaml lists
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go), so the rendered folder beside
    the list is unwired until listed; the sources Kustomization of the same entry build lives too, and the tree's
    disaster-recovery entry point (listed by no kustomization.yaml) never counts as a root."""
    root = tmp_path / "repo"
    home = root / "clusters/home"
    (home / "flux-system/sources").mkdir(parents=True)
    (root / "apps/web").mkdir(parents=True)
    (root / ".git").mkdir()
    (home / "flux-system/kustomization.yaml").write_text("resources:\n  - sources\n  - kustomizations.yaml\n")
    (home / "flux-system/kustomizations.yaml").write_text(
        ks("sources", "./clusters/home/flux-system/sources") + ks("stack", "./clusters/home", "  dependsOn:\n"
                                                                    "    - name: sources\n"))
    (home / "flux-system/sources/kustomization.yaml").write_text("resources:\n  - cm.yaml\n")
    (home / "flux-system/sources/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n"
                                                      "  namespace: flux-system\ndata:\n  a: b\n")
    (home / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                             "resources:\n  - apps.yaml\n")
    (home / "apps.yaml").write_text(ks("apps", "./apps"))
    (root / "apps/web/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"
                                           "  namespace: default\ndata:\n  a: b\n")
    cfg = _render_unwired(root, "clusters/home", "stack")
    assert not _velero_ks_applied(_kustomize_build(home))
    r = run_cli("check", "--no-cache", "--output", "json", str(cfg), cwd=root)
    found = json.loads(r.out)["findings"]
    assert r.code == 1 and {f["rule"] for f in found} >= {"flux.unwired"}, r.out
    assert "flux.not-applied" not in {f["rule"] for f in found}, r.out  # the sources Kustomization lives
    r = run_cli("explain", str(cfg))
    assert "Flux applies none of this tree yet" in r.out and "Once it is wired, Flux applies velero" in r.out, r.out
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 0 and "now applied by Kustomization flux-system/stack)" in r.out, r.out + r.err
    assert _velero_ks_applied(_kustomize_build(home))
    r = run_cli("explain", str(cfg))
    assert "Flux applies none" not in r.out and "\nFlux applies velero" in r.out, r.out


def _ns_of_velero_ks(build: str) -> str:
    """The namespace the build gives our Flux Kustomization velero."""
    import yaml

    for d in yaml.safe_load_all(build):
        if isinstance(d, dict) and d.get("kind") == "Kustomization" and d["metadata"]["name"] == "velero":
            return d["metadata"].get("namespace", "")
    return ""


def test_a_parent_that_sets_namespace_is_never_the_one_wired(tmp_path):
    """A parent kustomization.yaml with `namespace:` rewrites the namespace of every object its build holds, ours
    too (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/namespace/namespace.go; found adopting
    muhlba91/homelab-kubernetes-home-infrastructure, cluster-bootstrap/vie). Real `kubectl kustomize` shows what
    listing the folder there would deploy; --wire refuses, names the file:line and leaves it as it was."""
    root = tmp_path / "repo"
    root.mkdir()
    c = bootstrap(root)
    kfile = c / "kustomization.yaml"
    kfile.write_text("resources:\n  - flux-system\nnamespace: apps\n")
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps="clusters/main"))
    assert run_cli("render", "-q", str(cfg)).code == 0
    before = kfile.read_text()
    # what the base's edit made: the folder listed there, and the build moves our Flux Kustomization to `apps`
    probe = tmp_path / "probe"
    shutil.copytree(c, probe)
    (probe / "kustomization.yaml").write_text("resources:\n  - flux-system\n  - ./velero\nnamespace: apps\n")
    assert _ns_of_velero_ks(_kustomize_build(probe)) == "apps"
    assert _ns_of_velero_ks(_kustomize_build(c / "velero")) == "flux-system"

    w = wiring.for_config(load(cfg))
    assert w.edit is None and w.transformed_by is not None
    assert w.transformed_by[:2] == (kfile.resolve(), 3) and w.transformed_by[2] == "namespace: apps"
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 1 and "wired" not in r.out, r.out + r.err
    assert "clusters/main/kustomization.yaml:3" in r.err and "namespace: apps" in r.err, r.err
    assert kfile.read_text() == before


def test_a_transforming_parent_is_passed_over_for_the_next_one_up(tmp_path):
    """appsRoot's own kustomization.yaml sets `namePrefix:` (api/filters/prefix renames every object it builds);
    the folder above, which Flux builds and which transforms nothing, is listed instead: real `kubectl kustomize`
    of the Flux Kustomization's path then applies our ks.yaml under its own name and namespace."""
    root = tmp_path / "repo"
    root.mkdir()
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("cluster-apps", "./kubernetes/apps"))
    apps = root / "kubernetes/apps"
    (apps / "main").mkdir(parents=True)
    (apps / "kustomization.yaml").write_text("resources:\n  - ./main\n")
    (apps / "main" / "kustomization.yaml").write_text("namePrefix: main-\nresources:\n  - cm.yaml\n")
    (apps / "main" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\n")
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps="kubernetes/apps/main"))
    assert run_cli("render", "-q", str(cfg)).code == 0
    w = wiring.for_config(load(cfg))
    assert w.edit is not None and w.edit.file == (apps / "kustomization.yaml").resolve()
    assert w.edit.text.strip() == "- ./main/velero"
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 0 and "wired" in r.out, r.out + r.err
    build = _kustomize_build(apps)
    assert _velero_ks_applied(build) and _ns_of_velero_ks(build) == "flux-system"
    assert (apps / "main" / "kustomization.yaml").read_text() == "namePrefix: main-\nresources:\n  - cm.yaml\n"


def test_a_second_source_of_the_same_repository_leads_to_the_folder(tmp_path):
    """Found adopting Apocrathia/homelab: bootstrap's flux-system (source flux-system) applies a file declaring
    GitRepository `homelab` (the same repository: ssh and https spellings alike) and Kustomization `manifests` reading
    it, whose path lists the file of Kustomization `apps-management`, which builds the apps folder. kustomize-controller
    fetches spec.path from the named source's artifact (fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go), so both sources read this repository; the graph's one resolver (validate/flux.py
    _same_repository) says so for the source the config names (flux.sourceRef: homelab) as for a guessed one, and
    wiring reads that graph: --wire lists the folder and real `kubectl kustomize` of its path applies our ks.yaml."""
    root = tmp_path / "repo"
    m = root / "flux" / "manifests"
    boot = m / "01-bootstrap" / "flux-system"
    boot.mkdir(parents=True)
    (root / ".git").mkdir()
    (m / "01-bootstrap" / "kustomization.yaml").write_text("resources:\n  - flux-system\n")
    (boot / "kustomization.yaml").write_text("resources:\n  - gotk-sync.yaml\n  - manifests.yaml\n")
    source = ("---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n"
              "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: {url}\n")
    (boot / "gotk-sync.yaml").write_text(source.format(name="flux-system", url="ssh://git@example.org/o/r")
                                         + ks("flux-system", "./flux/manifests/01-bootstrap"))
    homelab = "    name: homelab\n"
    (boot / "manifests.yaml").write_text(source.format(name="homelab", url="https://example.org/o/r.git")
                                         + ks("manifests", "./flux/manifests").replace("    name: flux-system\n", homelab))
    apps = m / "04-apps" / "management"
    apps.mkdir(parents=True)
    (m / "kustomization.yaml").write_text("resources:\n  - 04-apps/management/flux-kustomization.yaml\n")
    (apps / "flux-kustomization.yaml").write_text(
        ks("apps-management", "./flux/manifests/04-apps/management").replace("    name: flux-system\n", homelab))
    (apps / "kustomization.yaml").write_text("resources:\n  - grocy\n")
    (apps / "grocy").mkdir()
    (apps / "grocy" / "kustomization.yaml").write_text("resources:\n  - cm.yaml\n")
    (apps / "grocy" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: grocy\n")
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps="flux/manifests/04-apps/management")
                   + "flux:\n  sourceRef:\n    kind: GitRepository\n    name: homelab\n    namespace: flux-system\n")
    assert run_cli("render", "-q", str(cfg)).code == 0
    w = wiring.for_config(load(cfg))
    assert {"flux-system", "manifests", "apps-management"} <= {k.name for k in wiring.live(w.facts)}
    assert w.edit is not None and w.edit.file == (apps / "kustomization.yaml").resolve()
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 0 and "wired" in r.out and "Kustomization flux-system/apps-management" in r.out, r.out + r.err
    assert _velero_ks_applied(_kustomize_build(apps))
    assert [k.name for k in wiring.for_config(load(cfg)).by] == ["apps-management"]


def test_a_flux_kustomization_with_target_namespace_gets_a_sibling_instead(tmp_path):
    """The Flux Kustomization building the apps folder sets spec.targetNamespace: kustomize-controller writes it as
    the namespace of the kustomization it builds (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go),
    so listing the folder in its kustomization.yaml would move ours; --wire appends a Flux Kustomization of its own
    to the list the sync root applies, and real `kubectl kustomize` of its path keeps our namespaces."""
    root, cfg = _repo(tmp_path, "explicit list")
    listing = root / "clusters/main/apps.yaml"
    listing.write_text(ks("cluster-apps", "./kubernetes/apps", "  targetNamespace: apps\n"))
    before = listing.read_text()
    kfile = root / "kubernetes/apps/kustomization.yaml"
    w = wiring.for_config(load(cfg))
    assert w.edit is not None and w.edit.file == listing.resolve(), w.edit
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 0 and "wired" in r.out, r.out + r.err
    assert kfile.read_text() == EXPLICIT_LIST and listing.read_text().startswith(before)
    assert "path: ./kubernetes/apps/velero" in listing.read_text()
    assert _ns_of_velero_ks(_kustomize_build(root / "kubernetes/apps/velero")) == "flux-system"


def test_a_utf16_file_of_theirs_is_never_rewritten(tmp_path):
    """Attacker round 5 / utf16: the parent kustomization.yaml is UTF-16 (Go YAML decodes it, so Flux builds it).
    --wire writes UTF-8, and a re-saved file of several documents would have kustomize read documents it skipped
    (kubernetes-sigs/kustomize@kyaml/v0.20.1:kyaml/kio/byteio_reader.go splits on the bytes): the edit is named for
    the user to make, the file's bytes are left as they were, and render exits 1 (not wired)."""
    root, cfg = _repo(tmp_path, "explicit list")
    k = root / "kubernetes/apps/kustomization.yaml"
    data = b"\xff\xfe" + k.read_text().encode("utf-16-le")
    k.write_bytes(data)
    r = run_cli("render", "--wire", str(cfg))
    assert r.code == 1 and "by hand" in r.err and "wired" not in r.out, r.out + r.err
    assert k.read_bytes() == data


def test_a_root_declared_twice_is_named_once(tmp_path):
    """Two declarations of one sync root (bootstrap's gotk-sync.yaml kept beside the FluxInstance whose sync the
    operator names like it) are one object on the cluster: the unwired message names it once (adopter6 saw each root
    listed twice)."""
    root = tmp_path.resolve()
    (root / "clusters").mkdir()
    r = wiring.FluxKs("Kustomization", "flux-system", "flux-system", None, 1, root / "clusters", frozenset())
    w = wiring.Wiring(root / "apps/velero/ks.yaml", [r, r], [], None)
    msg = wiring.message(w, root, lambda rel: rel)
    assert msg.count("flux-system/flux-system") == 1, msg


def test_the_unwired_message_names_the_roots_of_the_configs_cluster_only(tmp_path):
    """Three bootstrapped clusters, each building its own apps folder (pbabbott's layout): the tree rendered into
    staging's apps folder is wired, or not, by staging's sync root alone. kustomize-controller builds one cluster's
    spec.path in that cluster (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go),
    so the roots of the other clusters were never a place for it; the message named all three."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("prod", "staging", "lab"):
        c = bootstrap(root, name)
        (c / "apps.yaml").write_text(ks("apps", f"./apps/{name}"))
        app(root / "apps" / name / "media", "plex")
        (root / "apps" / name / "kustomization.yaml").write_text("resources:\n  - ./media\n")
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG.format(apps="apps/staging"))
    assert run_cli("render", "-q", str(cfg)).code == 0
    w = wiring.for_config(load(cfg))
    assert [r.path_dir for r in w.roots] == [(root / "clusters/staging").resolve()]
    assert w.edit is not None and w.edit.file == (root / "apps/staging/kustomization.yaml").resolve()
    r = run_cli("check", "--no-cache", str(cfg), cwd=root)
    assert r.code == 1 and "(path clusters/staging)" in r.out, r.out
    assert "clusters/prod" not in r.out and "clusters/lab" not in r.out, r.out


# -- one cluster's facts (ClusterView) -------------------------------------------------------------------------------
TWO_CLUSTERS = ("cluster: a\nrepo:\n  appsRoot: clusters/a\ns3:\n  endpoint: https://s3.example.com\n"
                "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n    namespaces: [data]\n")


def test_check_and_disaster_recovery_read_the_configs_own_cluster(tmp_path):
    """A config of cluster a in a repository of two (layout_fixtures.two_clusters): the storage warning and its fix
    name a's StorageClass and a's storage Kustomization, the procedure applies a's storage (its sops-age key, not b's
    sops-gpg), bootstraps a alone, and b's Flux 2.3 pin says nothing of a's tree (round-8 adopter: tyzbit's dragon was
    told to depend on cluster corpus's Kustomization, its procedure rebuilt corpus and bootstrapped all three
    clusters; kingdon-ci's talos-dev quoted five other clusters' Flux). Each fact comes through wiring.ClusterView;
    the clusters are validate/flux.py Graph._partition's (one per bootstrap sync root)."""
    from velero_gitops.ops import disaster

    root = two_clusters(tmp_path / "repo")
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(TWO_CLUSTERS)
    assert run_cli("render", "-q", str(cfg)).code == 0
    assert wiring.for_config(load(cfg)).wired
    r = run_cli("check", "--no-cache", "--output", "json", str(cfg), cwd=root)
    found = json.loads(r.out)["findings"]
    storage = [f for f in found if f["rule"] == "flux.storage-not-ordered"]
    assert len(storage) == 1 and "fast-a" in storage[0]["message"] and "apps/a/pvc.yaml" in storage[0]["message"]
    assert "fast-b" not in r.out and "apps/b/" not in r.out and "clusters/b" not in r.out, r.out
    text = disaster.as_text(disaster.procedure(load(cfg), backup="daily-1"))
    assert "path: ./infra/a/storage" in text and "sops-age" in text, text
    assert "infra/b" not in text and "sops-gpg" not in text and "clusters/b" not in text, text
    assert "--path=./clusters/a" in text


@pytest.mark.parametrize("apps,warns", [("clusters/a", False), ("clusters/b", True), ("clusters/c", False)])
def test_a_pin_of_another_cluster_says_nothing_of_this_tree(tmp_path, apps, warns):
    """flux.min-version compares a cluster's pin with what that cluster applies (validate/flux_version.py,
    Graph.same_cluster): the tree decrypts with the controller's key (no secretRef: Flux 2.7), so rendered for
    cluster b (Flux 2.3) it warns, for a (Flux 2.7) it does not, and rendered in clusters/c, which no root reaches,
    it is judged on neither cluster's pin (round-8 adopter: talos-dev, which no sync root of the repository
    reaches, was told its Flux was 2.3 by five other clusters' gotk-components.yaml)."""
    root = two_clusters(tmp_path / "repo", ("v2.7.0", "v2.3.0"))
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(TWO_CLUSTERS.replace("appsRoot: clusters/a", f"appsRoot: {apps}")
                   + "flux:\n  decryption: {keyFrom: controller}\n")
    assert run_cli("render", "-q", str(cfg)).code == 0
    r = run_cli("check", "--no-cache", "--output", "json", str(cfg), cwd=root)
    found = [f for f in json.loads(r.out)["findings"] if f["rule"] == "flux.min-version"]
    assert bool(found) is warns, found
    assert all("clusters/b/" in f["file"] for f in found), found
