"""What no Flux Kustomization applies is a note (issue 19, class B), the same in every output and command.

The fixture is a cluster whose sync (the flux-system Kustomization of `flux bootstrap`) applies ./apps, and
./apps/kustomization.yaml leaves one app out (`# - ./mqtt/ks.yaml`): that app's Flux Kustomization is never
created (fluxcd/kustomize-controller@v1.9.4 acts only on Kustomizations that exist on the cluster), so its
HelmRelease whose source is gone, its broken BackupStorageLocation and its build are nothing the controllers see.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import require_kubectl, run_cli, write_tree

KS = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
      "  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n"
      "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
BSL = ("apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata:\n  name: default\n  namespace: {ns}\nspec:\n"
       "  provider: aws\n  objectStorage:\n    bucket: velero\n  config:\n    region: minio\n"
       "    s3Url: http://minio.lan:9000\n")
HR = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: mqtt\n  namespace: mqtt\nspec:\n"
      "  interval: 1h\n  chart:\n    spec:\n      chart: mosquitto\n      sourceRef:\n        kind: HelmRepository\n"
      "        name: gone\n        namespace: flux-system\n")
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mqtt\n  namespace: mqtt\nstringData:\n  PASSWORD: hunter2\n"


def _repo(tmp_path, enabled: bool):
    root = tmp_path / "repo"
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/apps.yaml": KS.format(name="apps", path="./apps"),
        "apps/kustomization.yaml": "resources:\n  - ./velero/bsl.yaml\n  " + ("" if enabled else "# ") + "- ./mqtt/ks.yaml\n",
        "apps/velero/bsl.yaml": BSL.format(ns="velero"),
        "apps/mqtt/ks.yaml": KS.format(name="mqtt", path="./apps/mqtt/app"),
        "apps/mqtt/app/kustomization.yaml": "resources: [hr.yaml, bsl.yaml, secret.yaml]\n",
        "apps/mqtt/app/hr.yaml": HR,
        "apps/mqtt/app/bsl.yaml": BSL.format(ns="mqtt"),
        "apps/mqtt/app/secret.yaml": SECRET,
    }
    return write_tree(root, files)


def _found(root):
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
    return {(f.file.split("repo/", 1)[-1], f.rule, f.severity) for f in res.findings}, res


def test_a_disabled_app_is_notes_and_its_secret_in_clear_still_an_error(tmp_path):
    """Enabled, the app's findings are errors; left out of ./apps, each becomes a note except the secret in clear
    (rules.py in_git: whoever reads Git reads it), and the app's Flux Kustomization gets one note."""
    root = _repo(tmp_path, enabled=True)
    on, _ = _found(root)
    assert {("apps/mqtt/app/hr.yaml", "flux.source-ref", "error"), ("apps/mqtt/app/bsl.yaml", "policy.s3-https", "error"),
            ("apps/mqtt/app/secret.yaml", "secret.unencrypted", "error")} <= on, on
    root = _repo(tmp_path / "off", enabled=False)
    off, res = _found(root)
    assert ("apps/velero/bsl.yaml", "policy.s3-https", "error") in off  # the live app: unchanged
    assert ("apps/mqtt/app/bsl.yaml", "policy.s3-https", "note") in off
    assert ("apps/mqtt/app/secret.yaml", "secret.unencrypted", "error") in off
    assert ("apps/mqtt/ks.yaml", "flux.not-applied", "note") in off
    # the lookups of what is never applied are not made (validate/flux.py): at most a note, here none
    assert not any(f[0] == "apps/mqtt/app/hr.yaml" and f[2] != "note" for f in off), off
    notes = [f for f in res.findings if f.severity == "note"]
    assert all("not applied by any Flux Kustomization" in f.message for f in notes), notes
    # Git does not say whether a parent applied it before this change (the j0sh3rs adoption: it did, and Flux would
    # have deleted it): the note claims nothing about the cluster's past
    assert not any("never created" in f.message for f in notes), notes


def test_an_unused_copy_of_an_applied_kustomization_says_which_one_is_applied(tmp_path):
    """A second declaration of a Flux Kustomization that Flux does apply from another file: the note is about this
    copy, and names the applied one, not "the Kustomization is not applied" (a fresh reviewer read that as false on a
    public repository whose flux-system/example-app is applied from another file)."""
    root = _repo(tmp_path, enabled=False)
    (root / "clusters/home/mqtt.yaml").write_text(KS.format(name="mqtt", path="./apps/mqtt/app"))
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
    notes = [f for f in res.findings if f.rule == "flux.not-applied"]
    assert len(notes) == 1 and notes[0].file.endswith("apps/mqtt/ks.yaml"), notes
    assert "this declaration of Flux Kustomization flux-system/mqtt" in notes[0].message
    assert "clusters/home/mqtt.yaml is applied" in notes[0].message


def test_another_clusters_kustomization_of_that_name_is_not_this_copy(tmp_path):
    """A Kustomization of the same name applied in another cluster says nothing of this one: the note stays the plain
    one (each cluster's API holds its own objects; Graph.visible)."""
    root = _repo(tmp_path, enabled=False)
    (root / "clusters/away/flux-system").mkdir(parents=True)
    (root / "clusters/away/flux-system/gotk-sync.yaml").write_text(KS.format(name="flux-system", path="./clusters/away"))
    (root / "clusters/away/mqtt.yaml").write_text(KS.format(name="mqtt", path="./apps/mqtt/app"))
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
    notes = [f for f in res.findings if f.rule == "flux.not-applied"]
    assert len(notes) == 1 and "this declaration" not in notes[0].message, notes


def test_an_archive_nothing_reaches_is_silent(tmp_path):
    """A folder that no part of the cluster reaches (no kustomization.yaml Flux applies lists anything near it) is
    not the cluster's: no note per Flux Kustomization in it."""
    root = _repo(tmp_path, enabled=False)
    (root / "archive/old").mkdir(parents=True)
    (root / "archive/old/kustomization.yaml").write_text("resources: [ks.yaml]\n")
    (root / "archive/old/ks.yaml").write_text(KS.format(name="old", path="./archive/old/app"))
    found, _ = _found(root)
    assert not any(f[0].startswith("archive/") for f in found), found


@pytest.mark.parametrize("fmt", ["text", "json", "github", "junit"])
def test_notes_are_labelled_in_every_format_and_fail_nothing(tmp_path, fmt):
    root = _repo(tmp_path, enabled=False)
    (root / "apps/mqtt/app/secret.yaml").unlink()
    (root / "apps/mqtt/app/kustomization.yaml").write_text("resources: [hr.yaml, bsl.yaml]\n")
    (root / "apps/velero/bsl.yaml").write_text(BSL.format(ns="velero").replace("http://", "https://"))
    r = run_cli("validate", "--kustomize", "never", "--ignore-missing-schemas", "-o", fmt, str(root), cwd=root)
    assert r.code == 0, r.out + r.err
    if fmt == "text":
        assert "mqtt/app/bsl.yaml:12 BackupStorageLocation/mqtt/default /spec/config/s3Url: note: not applied by " in r.out
        assert r.out.rstrip().splitlines()[-1].startswith("2 notes;"), r.out
    elif fmt == "json":
        doc = json.loads(r.out)
        assert {f["severity"] for f in doc["findings"]} == {"note"} and doc["summary"]["notes"] == 2
        assert doc["summary"]["errors"] == doc["summary"]["warnings"] == 0
    elif fmt == "github":
        lines = [x for x in r.out.splitlines() if x.startswith("::")]
        assert len(lines) == 2 and all(x.startswith("::notice ") for x in lines), r.out
    else:
        suite = ET.fromstring(r.out)
        assert suite.get("failures") == "0"
        outs = [e.text for e in suite.iter("system-out") if e.text and ": note: " in e.text]
        assert len(outs) == 2 and all("not applied by any Flux Kustomization" in x for x in outs), r.out


def _moved_repo(tmp_path, archived: bool = True):
    """tvories/k8s-gitops' layout, minimal: a live cluster ``nas`` bootstrapped at k8s/clusters/nas (its sync applies
    its own folder), a cluster ``c0`` whose entry point is applied by hand (`kubectl apply -k k8s/clusters/c0`), both
    reading the repository through GitRepository k8s-gitops; a bootstrap template under tmpl/ (its URL a ${VAR}); and,
    with ``archived``, an old cluster moved under archive/ with its own bootstrap (gotk-sync path ./cluster/base,
    written when archive/ was the repository's root) and an old Flux pinned in its gotk-components.yaml."""
    root = tmp_path / "repo"
    git = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n"
           "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: {url}\n")
    ks = KS.replace("name: flux-system\n", "name: {src}\n")
    files = {
        "k8s/clusters/nas/flux/config/kustomization.yaml": "resources: [cluster.yaml]\n",
        "k8s/clusters/nas/flux/config/cluster.yaml": git.format(name="k8s-gitops", url="https://github.com/o/k8s-gitops.git")
        + "---\n" + ks.format(name="cluster", path="./k8s/clusters/nas/flux", src="k8s-gitops"),
        "k8s/clusters/nas/flux/bsl.yaml": BSL.format(ns="velero"),
        "k8s/clusters/c0/kustomization.yaml": "resources: [deploy.yaml, git.yaml]\n",
        "k8s/clusters/c0/git.yaml": git.format(name="k8s-gitops", url="https://github.com/o/k8s-gitops"),
        "k8s/clusters/c0/deploy.yaml": ks.format(name="deploy", path="./k8s/clusters/c0/flux", src="k8s-gitops"),
        "k8s/clusters/c0/flux/apps.yaml": ks.format(name="apps", path="./k8s/clusters/c0/apps", src="k8s-gitops")
        + "  decryption:\n    provider: sops\n",
        "k8s/clusters/c0/apps/bsl.yaml": BSL.format(ns="velero"),
        "tmpl/gotk-sync.yaml": git.format(name="flux-system", url="${BOOTSTRAP_GITHUB_REPOSITORY}")
        + "---\n" + ks.format(name="flux-system", path="./cluster/base", src="flux-system"),
    }
    if archived:
        files |= {
            "archive/cluster/base/flux-system/kustomization.yaml": "resources: [gotk-components.yaml, gotk-sync.yaml]\n",
            "archive/cluster/base/flux-system/gotk-components.yaml": "---\n# Flux Version: v0.29.5\napiVersion: v1\n"
            "kind: Namespace\nmetadata:\n  name: flux-system\n",
            "archive/cluster/base/flux-system/gotk-sync.yaml": git.format(name="flux-system", url="https://github.com/o/k8s-gitops")
            + "---\n" + ks.format(name="flux-system", path="./cluster/base", src="flux-system"),
            "archive/cluster/base/apps.yaml": ks.format(name="apps", path="./cluster/apps", src="flux-system"),
            "archive/cluster/apps/kustomization.yaml": "resources:\n  - ./velero\n  - https://example.org/x.yaml\n",
            "archive/cluster/apps/velero/kustomization.yaml": "resources: [bsl.yaml, gone.yaml]\n",
            "archive/cluster/apps/velero/bsl.yaml": BSL.format(ns="velero"),
        }
    return write_tree(root, files)


@pytest.mark.parametrize("kustomize", ["never", "always"])
def test_a_tree_whose_own_sync_no_longer_points_at_it_is_not_applied(tmp_path, kustomize):
    """An archived cluster keeps its bootstrap: gotk-sync.yaml at archive/cluster/base/flux-system with spec.path
    ./cluster/base. `flux bootstrap` writes the sync into <path>/flux-system with spec.path <path>, relative to the
    source's root, so that it applies its own file (fluxcd/flux2@v2.7.5:pkg/manifestgen/sync/sync.go); the controller
    reads spec.path from the artifact's root (fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go). From the repository's root that path names nothing; from archive/ it names the
    sync's own folder: archive/ was a root once, and no sync of this repository applies it. Its findings are notes
    or nothing (a flux.path, a missing resource, a remote one, an http s3Url), in validate as in check, and its old
    Flux pin is compared with nothing of the live clusters (flux.min-version). The live clusters are still checked:
    the one bootstrapped (its sync applies its own folder), and the one whose entry point is applied by hand."""
    if kustomize == "always":
        require_kubectl()
    root = _moved_repo(tmp_path)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize=kustomize, ignore_missing_schemas=True))
    loud = [f for f in res.findings if f.severity != "note"]
    assert not [f for f in loud if _rel(f.file).startswith(("archive/", "tmpl/"))], loud
    assert not [f for f in res.findings if f.rule == "flux.min-version"], res.findings
    live = {(_rel(f.file), f.rule, f.severity) for f in loud}
    assert {("k8s/clusters/nas/flux/bsl.yaml", "policy.s3-https", "error"),
            ("k8s/clusters/c0/apps/bsl.yaml", "policy.s3-https", "error")} <= live, loud


def test_without_a_live_root_an_old_tree_is_judged_as_it_is(tmp_path):
    """The archive rule needs a live root elsewhere: a repository whose every root names no folder is reported as it
    is, not silenced. Its paths are all folders of archive/ (the root it was written for), so the source reads a
    repository whose root is that folder, not this checkout's (Graph.seeded_from): each path is a flux.path note that
    names it, not an error."""
    root = _moved_repo(tmp_path)
    import shutil as sh

    sh.rmtree(root / "k8s")
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
    (path,) = [f for f in res.findings if _rel(f.file) == "archive/cluster/base/apps.yaml" and f.rule == "flux.path"]
    assert path.severity == "note" and "folders of " in path.message and path.message.split("folders of ")[1].startswith(
        str(root / "archive")), path


def _rel(file: str) -> str:
    return file.split("repo/", 1)[-1]


@pytest.mark.parametrize("enabled", [True, False])
def test_the_kustomize_layer_follows_the_same_rule(tmp_path, enabled):
    """A kustomize finding sits on a kustomization file, not on an object, so the rule is asked of its folder
    (Graph.dead_dir): a build of the disabled app (validating only its folder, as a pre-commit hook does) reports its
    missing and remote entries as notes; enabled, as an error and a warning."""
    require_kubectl()
    root = _repo(tmp_path, enabled=enabled)
    (root / "apps/mqtt/app/kustomization.yaml").write_text(
        "resources: [hr.yaml, bsl.yaml, gone.yaml, 'https://example.org/crds.yaml']\n")
    res = validate_paths([str(root / "apps/mqtt/app")], Options(repo_root=str(root), kustomize="always",
                                                                 ignore_missing_schemas=True))
    got = {(f.rule, f.severity) for f in res.findings if f.rule.startswith("kustomize")}
    assert got == ({("kustomize", "error"), ("kustomize.remote", "warning")} if enabled
                   else {("kustomize", "note"), ("kustomize.remote", "note")}), res.findings


def test_a_root_applied_by_hand_is_live_beside_a_kustomization_that_applies_itself(tmp_path):
    """kubernetes/ks.yaml holds the one root (`Kustomization/cluster`, reconciling ./kubernetes), applied by hand and
    kept out of kubernetes/kustomization.yaml so that Flux never prunes it; a child (snapshot) applies its own folder,
    which has no kustomization.yaml, so Flux's generator lists its ks.yaml too (fluxcd/pkg@kustomize/v1.35.4:
    kustomize/kustomize_generator.go). kustomize-controller acts on a Kustomization that exists on the cluster
    (fluxcd/kustomize-controller@v1.9.4: internal/controller/kustomization_controller.go), and nothing but its own
    build reads the kustomization that leaves the root out: the root is no disabled app, so its tree is checked.
    Before, the self-applying child was taken for the cluster's sync and every other app became a note. A child left
    out of kube-system's kustomization (built by the root) stays a disabled app, also one whose ks.yaml sits beside
    the files it applies and is left out of its own folder's kustomization (vrozaksen's sentry)."""
    ks = KS.replace("namespace: flux-system", "namespace: {ns}", 1) + "    namespace: flux-system\n"
    root = write_tree(tmp_path / "repo", {
        "kubernetes/ks.yaml": ks.format(name="cluster", ns="flux-system", path="./kubernetes"),
        "kubernetes/kustomization.yaml": "resources:\n  - kube-system\n",
        "kubernetes/kube-system/kustomization.yaml": "resources:\n  - mqtt/ks.yaml\n  - snapshot/ks.yaml\n"
                                                      "  # - off/ks.yaml\n  # - beside/ks.yaml\n",
        # a disabled app whose ks.yaml sits beside the files it applies, left out of its own kustomization too
        "kubernetes/kube-system/beside/ks.yaml": ks.format(name="beside", ns="kube-system",
                                                           path="./kubernetes/kube-system/beside"),
        "kubernetes/kube-system/beside/kustomization.yaml": "resources: [hr.yaml]\n",
        "kubernetes/kube-system/beside/hr.yaml": HR.replace("name: mqtt\n", "name: beside\n", 1),
        "kubernetes/kube-system/snapshot/ks.yaml": ks.format(name="snapshot", ns="kube-system",
                                                             path="./kubernetes/kube-system/snapshot"),
        "kubernetes/kube-system/mqtt/ks.yaml": ks.format(name="mqtt", ns="kube-system",
                                                         path="./kubernetes/kube-system/mqtt/app"),
        "kubernetes/kube-system/mqtt/app/kustomization.yaml": "resources: [hr.yaml]\n",
        "kubernetes/kube-system/mqtt/app/hr.yaml": HR,
        "kubernetes/kube-system/off/ks.yaml": ks.format(name="off", ns="kube-system", path="./kubernetes/kube-system/off/app"),
        "kubernetes/kube-system/off/app/kustomization.yaml": "resources: [hr.yaml]\n",
        "kubernetes/kube-system/off/app/hr.yaml": HR.replace("name: mqtt\n", "name: off\n", 1),
    })
    found, _ = _found(root)
    # both disabled apps get their note, naming kube-system's kustomization, the one that leaves them out
    assert found == {("kubernetes/kube-system/mqtt/app/hr.yaml", "flux.source-ref", "error"),
                     ("kubernetes/kube-system/off/ks.yaml", "flux.not-applied", "note"),
                     ("kubernetes/kube-system/beside/ks.yaml", "flux.not-applied", "note")}, found


@pytest.mark.parametrize("enabled", [True, False])
def test_yaml_that_fails_to_parse_follows_the_same_rule(enabled, tmp_path):
    """A file that yields no object (an alias before its anchor: Go YAML refuses it, as kubernetes-sigs/yaml does)
    in a disabled app is a note like every other finding there, and an error where Flux applies it: the file-level
    finding asks Graph.dead_file what an object's finding asks Graph.dead."""
    root = _repo(tmp_path, enabled=enabled)
    (root / "apps/mqtt/app/kustomization.yaml").write_text("resources: [hr.yaml, broken.yaml]\n")
    (root / "apps/mqtt/app/broken.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: mqtt\ndata:\n  a: *port\n  b: &port x\n")
    found, _ = _found(root)
    assert ("apps/mqtt/app/broken.yaml", "yaml", "error" if enabled else "note") in found, found


def test_a_root_that_lives_in_the_folder_it_builds_is_applied(tmp_path):
    """kubernetes/ks.yaml builds ./kubernetes, whose kustomization.yaml leaves ks.yaml out (else it would apply
    itself): nothing but its own build could list it, so it is a root applied by hand, and what it reaches is checked
    (an error, not a note); an app left out by a parent the app does not build stays a note
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go builds spec.path)."""
    root = write_tree(tmp_path / "repo", {
        "kubernetes/ks.yaml": KS.format(name="cluster", path="./kubernetes"),
        "kubernetes/kustomization.yaml": "resources:\n  - ./apps\n",
        "kubernetes/apps/kustomization.yaml": "resources:\n  - ./velero/bsl.yaml\n  # - ./mqtt/ks.yaml\n",
        "kubernetes/apps/velero/bsl.yaml": BSL.format(ns="velero"),
        "kubernetes/apps/mqtt/ks.yaml": KS.format(name="mqtt", path="./kubernetes/apps/mqtt/app"),
        "kubernetes/apps/mqtt/app/kustomization.yaml": "resources: [bsl.yaml]\n",
        "kubernetes/apps/mqtt/app/bsl.yaml": BSL.format(ns="mqtt"),
    })
    found, _ = _found(root)
    assert ("kubernetes/apps/velero/bsl.yaml", "policy.s3-https", "error") in found, found
    assert ("kubernetes/apps/mqtt/ks.yaml", "flux.not-applied", "note") in found, found
    assert not any(f == "kubernetes/ks.yaml" and rule == "flux.not-applied" for f, rule, _ in found), found


@pytest.mark.parametrize("component", [True, False])
def test_the_note_names_the_kustomization_that_leaves_the_app_out(tmp_path, component):
    """An app folder with its own kustomization.yaml (listing the app's ks.yaml) commented out of its parent's: the
    parent leaves it out, and the parent is what a live Flux Kustomization builds (kustomize-controller@v1.9.4 builds
    spec.path only: internal/controller/kustomization_controller.go build). The app's own kustomization is never
    built, even when its component's files are applied by the live apps' builds (a public repository, DavidIlie, was
    told its app folder's kustomization.yaml left the app out). The app's ks.yaml names no namespace (its parent's
    `namespace:` would set it, and never runs): the note names the Kustomization without a leading '/'."""
    comp = "components:\n  - ../../components/ns\n" if component else ""
    root = write_tree(tmp_path / "repo", {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/apps.yaml": KS.format(name="apps", path="./apps"),
        "apps/kustomization.yaml": "resources:\n  - ./live\n  # - ./demo\n",
        "apps/live/kustomization.yaml": "namespace: live\nresources:\n  - ks.yaml\n" + comp,
        "apps/live/ks.yaml": KS.format(name="live", path="./apps/live/app"),
        "apps/live/app/kustomization.yaml": "resources: []\n",
        "apps/demo/kustomization.yaml": "resources:\n  - ks.yaml\n" + comp,
        "apps/demo/ks.yaml": KS.format(name="demo", path="./apps/demo/app").replace("  namespace: flux-system\n", "", 1),
        "apps/demo/app/kustomization.yaml": "resources: []\n",
        "components/ns/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                            "resources: [namespace.yaml]\n",
        "components/ns/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: _\n",
    })
    _, res = _found(root)
    notes = [(f.file.split("repo/", 1)[-1], f.message) for f in res.findings if f.rule == "flux.not-applied"]
    assert [(f, m.split(" (its folder")[0]) for f, m in notes] == [
        ("apps/demo/ks.yaml", "Flux Kustomization demo is not applied by any Flux Kustomization")], notes
    assert notes[0][1].split(" (its folder is left out of ")[1].endswith("/repo/apps/kustomization.yaml), so what it "
                                                                    "would apply is not checked"), notes


@pytest.mark.parametrize("repo_root", [True, False])
def test_a_disabled_app_that_builds_its_own_folder_reads_nothing(tmp_path, monkeypatch, repo_root):
    """An app whose ks.yaml lives in the folder it builds, left out of that folder's listing (so that it does not apply
    itself) and of the parent's (`# - ./flyte`), as in a public repository (Apocrathia's services-flyte): nothing
    applies it beside the cluster's sync, so its build is read by no live Kustomization and the note names the
    parent, the kustomization that leaves it out, with or without --repo-root."""
    root = write_tree(tmp_path / "repo", {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/apps.yaml": KS.format(name="apps", path="./apps"),
        "apps/kustomization.yaml": "resources:\n  - ./velero/bsl.yaml\n  # - ./flyte/ks.yaml\n",
        "apps/velero/bsl.yaml": BSL.format(ns="velero").replace("http://", "https://"),
        "apps/flyte/ks.yaml": KS.format(name="flyte", path="./apps/flyte"),
        "apps/flyte/kustomization.yaml": "resources: [hr.yaml]\n",
        "apps/flyte/hr.yaml": HR,
    })
    monkeypatch.chdir(root)  # `validate .` in the checkout, as the CLI is run
    opts = Options(repo_root=str(root) if repo_root else None, kustomize="never", ignore_missing_schemas=True)
    res = validate_paths(["."], opts)
    found = [(f.file.split("repo/", 1)[-1], f.rule, f.severity, f.message)
             for f in res.findings if f.severity != "note" or f.rule == "flux.not-applied"]
    assert [f[:3] for f in found] == [("apps/flyte/ks.yaml", "flux.not-applied", "note")], found
    assert "left out of apps/kustomization.yaml), so what" in found[0][3], found


def test_the_note_says_file_when_the_parent_leaves_the_file_itself_out(tmp_path):
    """A per-app Flux Kustomization file commented out of the cluster folder's own listing (`#- apps-demo.yaml`, a
    fresh repository): the parent leaves out that file, not a folder, and the note says so."""
    root = write_tree(tmp_path / "repo", {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/kustomization.yaml": "resources:\n  - flux-system/gotk-sync.yaml\n  - apps-live.yaml\n"
                                            "  #- apps-demo.yaml\n",
        "clusters/home/apps-live.yaml": KS.format(name="live", path="./apps/live"),
        "clusters/home/apps-demo.yaml": KS.format(name="demo", path="./apps/demo"),
        "apps/live/kustomization.yaml": "resources: []\n",
        "apps/demo/kustomization.yaml": "resources: []\n",
    })
    _, res = _found(root)
    notes = [f.message for f in res.findings if f.rule == "flux.not-applied"]
    assert len(notes) == 1 and "(its file is left out of " in notes[0], notes


LIB_SRC = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: lib\n  namespace: flux-system\n"
           "spec:\n  interval: 10m\n  url: https://example.com/lib.git\n  ref:\n    branch: main\n")
LIB_KS = KS.replace("name: flux-system\n", "name: lib\n")
PLACEHOLDER_SVC = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: web\nspec:\n  ports:\n"
                   "    - port: SERVICE_PORT\n")


def _library(tmp_path):
    """A shared manifest library with no sync of its own: folders with a kustomization.yaml for consumers (one that no
    example applies), an example cluster file applying one of them, an example whose spec.path names no folder, and
    a template with a placeholder that no kustomization.yaml lists."""
    return write_tree(tmp_path / "repo", {
        "infrastructure/velero/kustomization.yaml": "resources: [bsl.yaml]\n",
        "infrastructure/velero/bsl.yaml": BSL.format(ns="velero"),
        "infrastructure/other/kustomization.yaml": "resources: [bsl.yaml]\n",
        "infrastructure/other/bsl.yaml": BSL.format(ns="other"),
        "examples/cluster.yaml": LIB_SRC + "---\n" + LIB_KS.format(name="velero", path="./infrastructure/velero"),
        "examples/pattern.yaml": LIB_KS.format(name="mine", path="./infrastructure/my-component"),
        "templates/svc.yaml": PLACEHOLDER_SVC,
    })


def test_without_a_sync_a_file_no_kustomization_reads_and_no_root_applies_is_not_applied(tmp_path):
    """kustomize-controller applies only the spec.path of Kustomizations that exist on a cluster
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go reconcile); in a repository
    with no sync whose roots apply its folders, a template that no kustomization.yaml reads
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go accumulateResources) is applied by
    no Flux Kustomization: not checked. A file holding a Flux Kustomization stays a root someone may apply by hand
    (an example whose spec.path names nothing still gets flux.path); a folder with a kustomization.yaml stays a
    manifest (what kustomize reads), applied by a root or not; a file named on the command line is checked as
    given."""
    root = _library(tmp_path)
    found, _ = _found(root)
    assert ("infrastructure/velero/bsl.yaml", "policy.s3-https", "error") in found, found
    assert ("infrastructure/other/bsl.yaml", "policy.s3-https", "error") in found, found
    assert not {f for f in found if f[0].startswith("templates/")}, found
    assert {f for f in found if f[1] == "flux.path"} == {("examples/pattern.yaml", "flux.path", "error")}, found
    named = validate_paths([str(root / "templates/svc.yaml")],
                           Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
    assert any(f.rule == "schema" and f.severity == "error" for f in named.findings), named.findings


def test_a_loose_folder_a_kustomization_names_through_another_source_stays_applied(tmp_path):
    """A root applied by hand whose Kustomization reads an ExternalArtifact (made from this repository by an
    ArtifactGenerator, not resolved here) and names a folder with no kustomization.yaml: its build walks every
    manifest under that folder (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go
    generateKustomization), so the folder's files stay checked though no build of this repository applies them."""
    root = _library(tmp_path)
    write_tree(root, {
        "clusters/one/obs.yaml": KS.format(name="obs", path="./flux/observability").replace(
            "kind: GitRepository\n    name: flux-system", "kind: ExternalArtifact\n    name: flux-artifact"),
        "flux/observability/bsl.yaml": BSL.format(ns="obs"),
    })
    found, _ = _found(root)
    assert ("flux/observability/bsl.yaml", "policy.s3-https", "error") in found, found
