"""A render never makes Flux stop applying what it applies now (ops/applyset.py), on fixtures built from the
adoption of j0sh3rs/home-ops: `kubernetes/apps/velero/` had no kustomization.yaml, so Flux's generator applied
everything under it (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go, scanManifests: every YAML file,
each sub-folder with a kustomization.yaml as a whole), the velero.io CRDs and a Flux Kustomization among them.
A render that writes `kubernetes/apps/velero/kustomization.yaml` listing only its own files drops them from the
build, and kustomize-controller deletes what leaves a build (kustomize-controller@v1.9.4:
internal/controller/kustomization_controller.go, inventory.Diff then prune; finalize for a deleted Kustomization).

The oracle is the apply-set comparison on the Flux graph: what each live Flux Kustomization applies before and after.
"""

from __future__ import annotations

from pathlib import Path

from layout_fixtures import bootstrap, ks
from velero_gitops.config.loader import load
from velero_gitops.ops import applyset, wiring
from velero_gitops.pipeline import render_config

from cli_util import run_cli

CONFIG = "cluster: t\nrepo:\n  appsRoot: kubernetes/apps\ns3:\n  endpoint: https://s3.example.com\nschedules: []\n"
CRD = ("---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: backups.velero.io\n"
       "spec:\n  group: velero.io\n")
PVC = ("---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: grafana-pvc\n  namespace: monitoring\n"
       "spec:\n  accessModes: [ReadWriteOnce]\n")


def _adopted(tmp_path: Path) -> tuple[Path, Path]:
    """j0sh3rs' shape: cluster-apps builds ./kubernetes/apps (no kustomization.yaml: generated); velero/ has none
    either and holds crds/ks.yaml + crds/app (the CRDs) and exclusions/app (PVCs applied by cluster-apps itself)."""
    root = tmp_path / "repo"
    root.mkdir()
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("cluster-apps", "./kubernetes/apps"))
    v = root / "kubernetes" / "apps" / "velero"
    (v / "crds" / "app").mkdir(parents=True)
    (v / "crds" / "ks.yaml").write_text(ks("velero-crds", "./kubernetes/apps/velero/crds/app"))
    (v / "crds" / "app" / "kustomization.yaml").write_text("resources:\n  - ./backups.yaml\n")
    (v / "crds" / "app" / "backups.yaml").write_text(CRD)
    (v / "exclusions" / "app").mkdir(parents=True)
    (v / "exclusions" / "app" / "kustomization.yaml").write_text("resources:\n  - ./pvc-exclusions.yaml\n")
    (v / "exclusions" / "app" / "pvc-exclusions.yaml").write_text(PVC)
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG)
    return root, cfg


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_refuses_to_drop_what_flux_generated_for_a_folder(tmp_path):
    """The rendered velero/kustomization.yaml would replace the list Flux generates for the folder: the CRD, the
    Flux Kustomization velero-crds and the PVC would leave cluster-apps' build and be pruned. Exit 2, each object
    named with the file that applies it and the fix, the tree as it was."""
    root, cfg = _adopted(tmp_path)
    before = _snapshot(root)
    r = run_cli("render", str(cfg))
    assert r.code == 2, r.out + r.err
    assert "Traceback" not in r.err
    assert _snapshot(root) == before
    for line in ("kubernetes/apps/velero/crds/app/backups.yaml: CustomResourceDefinition backups.velero.io "
                 "(applied by Kustomization flux-system/cluster-apps)",
                 "kubernetes/apps/velero/crds/ks.yaml: Kustomization flux-system/velero-crds "
                 "(applied by Kustomization flux-system/cluster-apps)",
                 "kubernetes/apps/velero/exclusions/app/pvc-exclusions.yaml: PersistentVolumeClaim "
                 "monitoring/grafana-pvc (applied by Kustomization flux-system/cluster-apps)"):
        assert line in r.err, r.err
    assert "(prune)" in r.err and "repo.appsRoot" in r.err
    assert not (root / "kubernetes/apps/velero/kustomization.yaml").exists()


def test_the_comparison_names_exactly_what_leaves_each_build(tmp_path):
    """The oracle itself: per live Flux Kustomization, the objects of the files that leave its build. velero-crds is
    no longer applied at all, so what it applies goes with it (finalize, prune: true)."""
    root, cfg = _adopted(tmp_path)
    result = render_config(load(cfg))
    planned = {c.path: c.new for c in result.drifted}
    found = applyset.losses(root, wiring.sources_of(result.loaded), planned, applyset.ours([result.loaded.display_path]))
    got = {(x.by, x.what, x.file.relative_to(root.resolve()).as_posix()) for x in found}
    apps = "Kustomization flux-system/cluster-apps"
    assert got == {
        (apps, "CustomResourceDefinition backups.velero.io", "kubernetes/apps/velero/crds/app/backups.yaml"),
        (apps, "Kustomization flux-system/velero-crds", "kubernetes/apps/velero/crds/ks.yaml"),
        (apps, "PersistentVolumeClaim monitoring/grafana-pvc", "kubernetes/apps/velero/exclusions/app/pvc-exclusions.yaml"),
        ("Kustomization flux-system/velero-crds", "CustomResourceDefinition backups.velero.io",
         "kubernetes/apps/velero/crds/app/backups.yaml"),
    }


def test_the_planned_view_is_what_the_disk_becomes(tmp_path):
    """The graph of the planned tree, read in memory (validate/treeview.Planned), equals the graph read from disk once
    the same files are written: the comparison judges the tree render would leave."""
    root, cfg = _adopted(tmp_path)
    import shutil

    shutil.rmtree(root / "kubernetes/apps/velero")  # nothing to refuse: the render writes
    result = render_config(load(cfg))
    sources = wiring.sources_of(result.loaded)
    planned = {root.resolve() / c.path: c.new for c in result.drifted}
    assert planned
    in_memory = {(k.ref, k.path_dir, k.applies) for k in wiring.flux_facts(root, sources, planned)}
    assert not (root / "kubernetes/apps/velero").exists()  # nothing written to find out
    result.write()
    on_disk = {(k.ref, k.path_dir, k.applies) for k in wiring.flux_facts(root, sources)}
    assert in_memory == on_disk
    assert any("velero/velero/ks.yaml" in str(f) for _, _, applies in on_disk for f in applies)


def test_render_writes_once_the_user_moved_them_away(tmp_path):
    """The fix the message gives: the CRDs and PVCs moved to a folder of their own (Flux's generator still applies
    them from there, the same objects), then the render goes through and removes nothing of theirs."""
    root, cfg = _adopted(tmp_path)
    v = root / "kubernetes/apps/velero"
    (root / "kubernetes/apps/velero-extras").mkdir()
    for sub in ("crds", "exclusions"):
        (v / sub).rename(root / "kubernetes/apps/velero-extras" / sub)
    (root / "kubernetes/apps/velero-extras/crds/ks.yaml").write_text(
        ks("velero-crds", "./kubernetes/apps/velero-extras/crds/app"))
    r = run_cli("render", str(cfg))
    assert r.code == 0, r.err
    assert (v / "kustomization.yaml").exists()


def test_re_render_removes_its_own_files_freely(tmp_path):
    """Files render wrote itself may leave the build: a schedule dropped from the config removes its folder."""
    root, cfg = _adopted(tmp_path)
    import shutil

    shutil.rmtree(root / "kubernetes/apps/velero")
    cfg.write_text(CONFIG.replace("schedules: []\n", "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n"
                                  "    namespaces: [default]\n"))
    assert run_cli("render", "-q", str(cfg)).code == 0
    assert (root / "kubernetes/apps/velero/velero/schedules").is_dir()
    cfg.write_text(CONFIG)
    r = run_cli("render", str(cfg))
    assert r.code == 0, r.err
    assert not (root / "kubernetes/apps/velero/velero/schedules").exists()


def test_force_never_replaces_a_file_that_holds_objects_of_theirs(tmp_path):
    """--force replaces files without our header, but not into a prune: their namespace.yaml also holds a ConfigMap
    that the rendered namespace.yaml does not; the Namespace itself is rendered too and is not named."""
    root, cfg = _adopted(tmp_path)
    import shutil

    v = root / "kubernetes/apps/velero"
    shutil.rmtree(v)
    v.mkdir()
    (v / "kustomization.yaml").write_text("resources:\n  - ./namespace.yaml\n")
    (v / "namespace.yaml").write_text("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: velero\n"
                                      "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: velero\n")
    before = _snapshot(root)
    r = run_cli("render", "--force", str(cfg))
    assert r.code == 2, r.out + r.err
    assert "kubernetes/apps/velero/namespace.yaml: ConfigMap velero/keep" in r.err, r.err
    assert "Namespace velero (" not in r.err
    assert _snapshot(root) == before


def test_force_never_replaces_a_kustomization_whose_generator_makes_objects(tmp_path):
    """Adopter round 9 (T0jgli/flux): their kubernetes/apps/velero/kustomization.yaml lists no resources but has a
    configMapGenerator (velero-values from values.yaml); the build of cluster-apps holds the generated ConfigMap
    velero-values-<hash> (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/kustomization.go ConfigMapGenerator,
    api/hasher/hasher.go). --force replaced the file with render's and the ConfigMap left the build, to be pruned
    (kustomize-controller@v1.9.4: inventory diff then prune), without the refusal a plain object gets. A generator
    with disableNameSuffixHash keeps its name."""
    root, cfg = _adopted(tmp_path)
    import shutil

    v = root / "kubernetes/apps/velero"
    shutil.rmtree(v)
    v.mkdir()
    (v / "values.yaml").write_text("a: 1\n")
    (v / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: velero\nresources: []\n"
        "configMapGenerator:\n  - name: velero-values\n    files: [values.yaml=values.yaml]\n"
        "secretGenerator:\n  - name: plain\n    namespace: other\n    literals: [a=b]\n"
        "    options: {disableNameSuffixHash: true}\n")
    before = _snapshot(root)
    r = run_cli("render", "--force", str(cfg))
    assert r.code == 2, r.out + r.err
    assert "kubernetes/apps/velero/kustomization.yaml: ConfigMap velero/velero-values-<hash>" in r.err, r.err
    assert "kubernetes/apps/velero/kustomization.yaml: Secret other/plain (" in r.err, r.err
    assert _snapshot(root) == before


def test_moving_the_tree_refuses_while_their_kustomization_lists_the_old_folder(tmp_path):
    """The old tree (render's own) goes when appsRoot changes, but their kubernetes/apps/kustomization.yaml lists
    ./velero: kustomize fails a build on a missing resource, and cluster-apps would apply nothing at all. Refused,
    naming the entry; once the entry names the new place instead, the move goes through."""
    root = tmp_path / "repo"
    root.mkdir()
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("cluster-apps", "./kubernetes"))
    apps = root / "kubernetes/apps"
    apps.mkdir(parents=True)
    (root / "kubernetes/kustomization.yaml").write_text("resources:\n  - ./apps\n")
    (apps / "kustomization.yaml").write_text("resources:\n  - ./velero\n")
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG)
    assert run_cli("render", "-q", str(cfg)).code == 0
    cfg.write_text(CONFIG.replace("appsRoot: kubernetes/apps", "appsRoot: kubernetes/backup"))
    before = _snapshot(root)
    r = run_cli("render", str(cfg))
    assert r.code == 2, r.out + r.err
    assert "kubernetes/apps/kustomization.yaml: the entry ./velero of resources names a folder or file the render " \
        "removes" in r.err, r.err
    assert _snapshot(root) == before
    (apps / "kustomization.yaml").write_text("resources: []\n")
    (root / "kubernetes/kustomization.yaml").write_text("resources:\n  - ./apps\n  - ./backup/velero\n")
    r = run_cli("render", str(cfg))
    assert r.code == 0, r.err
    assert not (apps / "velero").exists() and (root / "kubernetes/backup/velero/velero/ks.yaml").exists()


def test_the_planned_view_is_what_the_disk_becomes_when_files_go(tmp_path):
    """The same with files removed: a schedule dropped from the config removes its folder, which render then prunes
    when empty (render/write.py _prune_empty_dirs); the graph read in memory before still equals the disk after."""
    root, cfg = _adopted(tmp_path)
    import shutil

    shutil.rmtree(root / "kubernetes/apps/velero")
    cfg.write_text(CONFIG.replace("schedules: []\n", "schedules:\n  - name: daily\n    cron: '0 2 * * *'\n"
                                  "    namespaces: [default]\n"))
    assert run_cli("render", "-q", str(cfg)).code == 0
    cfg.write_text(CONFIG)
    result = render_config(load(cfg))
    sources = wiring.sources_of(result.loaded)
    assert any(c.action == "delete" for c in result.drifted)
    in_memory = {(k.ref, k.path_dir, k.applies)
                 for k in applyset.planned_facts(root, sources, {c.path: c.new for c in result.drifted})}
    result.write()
    assert not (root / "kubernetes/apps/velero/velero/schedules").exists()
    assert in_memory == {(k.ref, k.path_dir, k.applies) for k in wiring.flux_facts(root, sources)}


def test_a_render_reads_the_graph_once_as_it_is_and_once_as_planned(tmp_path, monkeypatch):
    """One-way flow: the graph of the tree as it is (second install, prune) and of the planned tree (prune, then the
    wiring check after the write) are each read once per repository; the disk is not read again after writing
    (three reads before, each a scan of the whole repository)."""
    from typer.testing import CliRunner

    from velero_gitops.cli import app
    from velero_gitops.validate import flux

    root, cfg = _adopted(tmp_path)
    import shutil

    shutil.rmtree(root / "kubernetes/apps/velero")
    reads = []
    real_init = flux.Graph.__init__

    def counted(self, *args, **kwargs):
        reads.append(type(args[1].fs).__name__)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(flux.Graph, "__init__", counted)
    monkeypatch.setenv("VELERO_GITOPS_NO_CACHE", "1")
    r = CliRunner().invoke(app, ["render", str(cfg)])  # in this process, to count
    assert r.exit_code == 0, r.output
    assert (root / "kubernetes/apps/velero/kustomization.yaml").exists()
    assert sorted(reads) == ["Disk", "Planned"]


def test_the_trees_encrypted_files_written_before_the_first_render_are_its_own(tmp_path):
    """The README's order (encrypt-secret and encrypt-repo-password, then render) in a generated apps folder: the two
    sops files sit in kubernetes/apps/velero/velero/app/ with no kustomization.yaml yet, so the generated build of
    cluster-apps takes them; render's app/kustomization.yaml moves them into the tree's own Kustomization. They are
    the tree's files (render/layout.py), carry sops' output and no header, and the move loses nothing of the user's:
    render writes. A file of the user's in the same folder is still refused."""
    root = tmp_path / "repo"
    root.mkdir()
    c = bootstrap(root)
    (c / "apps.yaml").write_text(ks("cluster-apps", "./kubernetes/apps"))
    app = root / "kubernetes/apps/velero/velero/app"
    app.mkdir(parents=True)
    secret = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: velero\ntype: Opaque\n"
              "stringData:\n  cloud: ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]\n"
              "sops:\n  mac: ENC[AES256_GCM,data:DDDD,iv:EEEE,tag:FFFF,type:str]\n  version: 3.11.0\n")
    (app / "secret.sops.yaml").write_text(secret.format(name="velero-credentials"))
    (app / "repo-credentials.sops.yaml").write_text(secret.format(name="velero-repo-credentials"))
    cfg = root / "velero-gitops.yaml"
    cfg.write_text(CONFIG)
    r = run_cli("render", str(cfg))
    assert r.code == 0 and "Traceback" not in r.err, r.out + r.err
    (root / "kubernetes/apps/velero/kustomization.yaml").unlink()
    (app / "kustomization.yaml").unlink()
    (app / "mine.yaml").write_text(PVC)
    r = run_cli("render", str(cfg))
    assert r.code == 2 and "PersistentVolumeClaim monitoring/grafana-pvc" in r.err, r.out + r.err
    assert "secret.sops.yaml" not in r.err and "repo-credentials" not in r.err, r.err
