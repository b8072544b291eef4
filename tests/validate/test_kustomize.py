"""kustomize builds as Flux runs them: what is built, confinement, no network, cache, findings on sources.

Flux's build: fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go
(``generator.NewGenerator(workDir, obj).WriteFile(dirPath)`` then ``generator.SecureBuild(workDir,
dirPath, !r.NoRemoteBases)``) and fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go
(``GenerateManifest`` adds targetNamespace, namePrefix/Suffix, patches and ``spec.components`` to the
kustomization it finds or generates, sets ``buildMetadata: [originAnnotations]`` when it has no
resources; ``Build`` runs krusty with ``LoadRestrictionsNone`` on a file system confined to the
artifact root).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from velero_gitops.validate import kustomize
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import VALIDATE_FIXTURES as FIXTURES
from cli_util import cpu_budget, require_kubectl, run_cli
from trace_fixtures import Listener

FLUX_BUILD = FIXTURES / "kustomize" / "flux-build"

KS = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 1h
  prune: true
  path: {path}
  sourceRef:
    kind: GitRepository
    name: flux-system
"""
CM = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


def _opts(tmp_path, root=None, **kw):
    kw.setdefault("kustomize", "always")
    return Options(cache_dir=str(tmp_path / "cache"), repo_root=str(root) if root else None, **kw)


def _repo(tmp_path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / ".git").mkdir(exist_ok=True)
    return root


def _kust(*resources: str, extra: str = "") -> str:
    return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n" + "".join(
        f"  - {r}\n" for r in resources) + extra


# --------------------------------------------------------------------------------------------------
# What Flux builds


def test_flux_build_fixture_has_only_the_real_finding(tmp_path):
    """spec.components (a PVC that the app's patch targets), targetNamespace, a configMapGenerator file
    reached through ../ (load restrictor off), a replacements list and generator inputs in sub-folders,
    helmfile/Talos/Taskfile YAML, a kustomization without resources and a nested folder nobody builds:
    the only finding is the component's unknown field, reported once on its source line although two
    Flux Kustomizations (two namespaces) and a third one include the component."""
    require_kubectl()
    res = validate_paths([str(FLUX_BUILD)], _opts(tmp_path, FLUX_BUILD, ignore_missing_schemas=True))
    assert [(Path(f.file).relative_to(FLUX_BUILD.absolute()).as_posix() if Path(f.file).is_absolute() else
             f.file.split("flux-build/")[1], f.line, f.pointer, f.message) for f in res.findings] == [
        ("components/alerts/alert.yaml", 8, "/bogus", "additional property not allowed")]


def test_plain_kustomize_would_have_failed_where_flux_builds(tmp_path):
    """The same app built without the Flux Kustomization's components fails (the patch target comes
    from a component): the lesson is that validate must build the Flux entry, not the folder."""
    kubectl = require_kubectl()
    ok, out = kustomize.run_kubectl(kubectl, FLUX_BUILD / "apps" / "web" / "app", root=FLUX_BUILD)
    assert not ok and "no matches for Id PersistentVolumeClaim" in out


def test_nested_folders_are_not_built_again(tmp_path, monkeypatch):
    require_kubectl()
    root = _repo(tmp_path, {
        "clusters/lab/ks.yaml": KS.format(name="apps", path="./apps"),
        "apps/kustomization.yaml": _kust("./a", "./b"),
        "apps/a/kustomization.yaml": _kust("./cm.yaml"), "apps/a/cm.yaml": CM.format(name="a"),
        "apps/b/kustomization.yaml": _kust("./cm.yaml"), "apps/b/cm.yaml": CM.format(name="b"),
    })
    calls = []
    real = kustomize.run_kubectl
    monkeypatch.setattr(kustomize, "run_kubectl", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    res = validate_paths([str(root)], _opts(tmp_path, root, kustomize_cache=False))
    assert res.findings == [] and len(calls) == 1 and calls[0].name == "apps"


def test_generated_kustomization_for_a_flux_path_without_one(tmp_path):
    """Flux generates a kustomization listing the YAML files and sub-folders with their own kustomization."""
    require_kubectl()
    root = _repo(tmp_path, {
        "clusters/lab/ks.yaml": KS.format(name="apps", path="./apps").replace("  prune: true\n", "  prune: true\n  targetNamespace: x\n"),
        "apps/cm.yaml": CM.format(name="a"),
        "apps/sub/kustomization.yaml": _kust("./cm.yaml"),
        "apps/sub/cm.yaml": CM.format(name="b") + "bogus: 1\n",
    })
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [(f.file.endswith("apps/sub/cm.yaml"), f.obj, f.pointer) for f in res.findings] == [(True, "ConfigMap/x/b", "/bogus")]


# --------------------------------------------------------------------------------------------------
# Confinement and no network


def test_base_outside_the_repository_is_a_finding_and_never_read(tmp_path):
    require_kubectl()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text(_kust("./secret.yaml"))
    (outside / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  token: 42\n")
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml", "../../outside"), "app/cm.yaml": CM.format(name="a")})
    with cpu_budget(5):
        res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [(f.rule, f.line, f.severity) for f in res.findings] == [("kustomize.outside", 5, "error")]
    assert "outside the repository root" in res.findings[0].message and "42" not in json.dumps([f.message for f in res.findings])


def test_symlinked_folder_leading_outside_is_a_finding(tmp_path):
    require_kubectl()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text(_kust("./cm.yaml"))
    (outside / "cm.yaml").write_text(CM.format(name="o"))
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./linked")})
    (root / "app" / "linked").symlink_to(outside)
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [f.rule for f in res.findings] == ["kustomize.outside"]


@pytest.mark.parametrize("name, special", [("fifo", "fifo"), ("zero", "/dev/zero")])
def test_special_files_as_generator_inputs_do_not_hang(tmp_path, name, special):
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": "configMapGenerator:\n  - name: c\n    files:\n      - ./in.yaml\n"})
    if special == "fifo":
        os.mkfifo(root / "app" / "in.yaml")
    else:
        (root / "app" / "in.yaml").symlink_to(special)
    with cpu_budget(5):
        res = validate_paths([str(root)], _opts(tmp_path, root))
    assert res.findings and all(f.rule.startswith("kustomize") for f in res.findings)


REMOTES = [
    "https://github.com/example/repo//deploy/base?ref=v1.0.0",
    "github.com/example/repo/deploy?ref=main",
    "https://raw.githubusercontent.com/example/repo/main/deploy.yaml",
    "git@github.com:example/repo.git//deploy",
    "http://127.0.0.1:{port}/deploy.yaml",
]


@pytest.mark.parametrize("remote", REMOTES)
def test_remote_resource_is_a_finding_not_a_fetch(tmp_path, remote):
    """The listener proves that no connection is attempted (kustomize would fetch the URL)."""
    require_kubectl()
    srv = Listener()
    try:
        entry = remote.format(port=srv.port)
        root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml", "./base"),
                                "app/cm.yaml": CM.format(name="a"),
                                "app/base/kustomization.yaml": _kust(entry)})  # remote one level down
        with cpu_budget(5):
            res = validate_paths([str(root)], _opts(tmp_path, root))
    finally:
        srv.close()
    assert srv.accepted == 0
    assert [(f.rule, f.severity, f.file.endswith("base/kustomization.yaml"), f.line) for f in res.findings] == [
        ("kustomize.remote", "warning", True, 4)]
    assert res.failed == 0  # a warning alone never fails the run (the lint job stays green on vendored-free repos)



def test_a_local_path_with_a_double_slash_is_local(tmp_path):
    """`patches//x.yaml` and `sub//cm.yaml` name local files: kustomize takes an entry for a repository only with a
    scheme, `git::`, an SCP-style `user@` or github.com (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/git/
    repospec.go extractHost), and reads the rest from disk, where `//` is one separator. kubectl builds it; no
    kustomize.remote (a held-out repository's Talos patches)."""
    require_kubectl()
    patch = "- op: add\n  path: /data/c\n  value: d\n"
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("sub//cm.yaml", extra=(
                                "patches:\n  - path: patches//p.yaml\n    target:\n      kind: ConfigMap\n")),
                            "app/sub/cm.yaml": CM.format(name="a"),
                            "app/patches/p.yaml": patch})
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [f for f in res.findings if f.rule.startswith("kustomize")] == [], res.findings
    assert res.failed == 0 and res.passed >= 1, res


DEPLOY = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  template:\n"
          "    spec:\n      containers:\n        - name: web\n          image: nginx\n")


@pytest.mark.parametrize("flux", [True, False])
def test_folders_a_remote_input_does_not_reach_are_still_built(tmp_path, flux):
    """One remote input keeps the whole build from running here (Flux fetches it, validate does not); the folders it
    includes that reach nothing remote are kustomize targets of their own (kubernetes-sigs/kustomize@kustomize/v5.7.1:
    api/internal/target/kusttarget.go accumulateDirectory), built alone: a Deployment whose selector `labels:
    includeSelectors` adds is judged as emitted, not as written (a fresh repository, vaskozl: eight false "missing
    required property 'selector'"), and a real error in that folder is still found, located in its file."""
    require_kubectl()
    srv = Listener()
    try:
        files = {"cluster/kustomization.yaml": _kust("./monitoring", "./web"),
                 "cluster/monitoring/kustomization.yaml": _kust(f"http://127.0.0.1:{srv.port}/dashboards.yaml"),
                 "cluster/web/kustomization.yaml": _kust("./deploy.yaml", extra=(
                     "namespace: web\nlabels:\n  - pairs:\n      app.kubernetes.io/name: web\n    includeSelectors: true\n")),
                 "cluster/web/deploy.yaml": DEPLOY.format(replicas=2)}
        if flux:
            files["cluster/flux-system/sync.yaml"] = KS.format(name="flux-system", path="./cluster")
            files["cluster/kustomization.yaml"] = _kust("./flux-system/sync.yaml", "./monitoring", "./web")
        root = _repo(tmp_path, files)
        res = validate_paths([str(root)], _opts(tmp_path, root, ignore_missing_schemas=True))
        assert [(f.rule, f.severity) for f in res.findings] == [("kustomize.remote", "warning")], res.findings
        (root / "cluster/web/deploy.yaml").write_text(DEPLOY.format(replicas='"two"'))
        res = validate_paths([str(root)], _opts(tmp_path, root, ignore_missing_schemas=True))
    finally:
        srv.close()
    assert srv.accepted == 0
    assert sorted((f.rule, f.file.rsplit("/", 1)[-1]) for f in res.findings) == [
        ("kustomize.remote", "kustomization.yaml"), ("schema", "deploy.yaml")], res.findings


@pytest.mark.parametrize("field", ["transformers", "generators"])
def test_a_remote_transformer_or_generator_is_a_remote_finding_too(tmp_path, field):
    """kustomize reads `transformers:`/`generators:` entries as it reads resources, remote ones included
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go configureExternalTransformers and
    configureExternalGenerators call accumulateResources): the same located warning as a remote resource, never a
    fetch."""
    require_kubectl()
    srv = Listener()
    try:
        root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml", extra=f"{field}:\n"
                                                                 f"  - http://127.0.0.1:{srv.port}/t.yaml\n"),
                                "app/cm.yaml": CM.format(name="a")})
        res = validate_paths([str(root)], _opts(tmp_path, root))
    finally:
        srv.close()
    assert srv.accepted == 0
    assert [(f.rule, f.severity, f.line) for f in res.findings] == [("kustomize.remote", "warning", 6)], res.findings


def test_a_transformers_folder_is_a_kustomization_with_its_own_resources(tmp_path):
    """`transformers: [./transformers]` names a kustomization whose resources live elsewhere in the repository:
    kustomize accumulates it like a resource folder (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/
    kusttarget.go configureExternalTransformers calls accumulateResources), so the build reads those too."""
    require_kubectl()
    label = ("apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: team\nlabels:\n  team: a\n"
             "fieldSpecs:\n  - path: metadata/labels\n    create: true\n")
    root = _repo(tmp_path, {"apps/x/kustomization.yaml": _kust("./cm.yaml", extra="transformers:\n  - ./transformers\n"),
                            "apps/x/cm.yaml": CM.format(name="a"),
                            "apps/x/transformers/kustomization.yaml": _kust("../../../shared/label.yaml"),
                            "shared/label.yaml": label})
    res = validate_paths([str(root / "apps")], _opts(tmp_path, root, ignore_missing_schemas=True))
    assert [f for f in res.findings if f.rule.startswith("kustomize")] == [], res.findings


def test_a_kustomization_inflating_helm_charts_is_said_once_and_not_built(tmp_path):
    """A bootstrap kustomization with `helmCharts:` needs helm and the network; Flux does not inflate charts
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go: DisabledPluginConfig, so
    kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/builtins/HelmChartInflationGenerator.go refuses it).
    No Flux Kustomization applies it, by construction: one located note says so instead of silence."""
    require_kubectl()
    root = _repo(tmp_path, {"bootstrap/kustomization.yaml": _kust("./cm.yaml", extra=(
        "helmCharts:\n  - name: cilium\n    repo: https://helm.cilium.io\n    version: 1.16.0\n")),
        "bootstrap/cm.yaml": CM.format(name="a")})
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [(f.rule, f.severity, f.line) for f in res.findings] == [("kustomize.helm-charts", "note", 5)], res.findings
    assert res.failed == 0


def test_kubectl_itself_runs_without_network(tmp_path):
    """Defense in depth: even a build that names a URL (bypassing the check) cannot connect."""
    kubectl = require_kubectl()
    srv = Listener()
    try:
        d = tmp_path / "k"
        d.mkdir()
        (d / "kustomization.yaml").write_text(_kust(f"http://127.0.0.1:{srv.port}/x.yaml"))
        ok, out = kustomize.run_kubectl(kubectl, d)
    finally:
        srv.close()
    assert not ok and srv.accepted == 0


# --------------------------------------------------------------------------------------------------
# Cache


def _cached(tmp_path) -> list[Path]:
    d = tmp_path / "cache" / "kustomize-builds"
    return sorted(d.iterdir()) if d.is_dir() else []


def test_cache_is_keyed_on_content_not_mtime(tmp_path):
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("../base"), "base/kustomization.yaml": _kust("./cm.yaml"),
                            "base/cm.yaml": CM.format(name="aaaa")})
    opts = _opts(tmp_path, root)
    assert validate_paths([str(root)], opts).findings == []
    files = _cached(tmp_path)
    assert len(files) == 1 and (files[0].stat().st_mode & 0o777) == 0o600
    cm = root / "base" / "cm.yaml"
    st = cm.stat()
    cm.write_text(cm.read_text().replace("data:\n  a: b", "data:\n  a: [1]"))  # same size, same mtime
    os.utime(cm, ns=(st.st_atime_ns, st.st_mtime_ns))
    res = validate_paths([str(root)], opts)
    assert [f.pointer for f in res.findings] == ["/data/a"]


def test_cache_key_follows_bases_through_symlinked_folders(tmp_path):
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./shared"), "real/kustomization.yaml": _kust("./cm.yaml"),
                            "real/cm.yaml": CM.format(name="a")})
    (root / "app" / "shared").symlink_to("../real")
    opts = _opts(tmp_path, root)
    assert validate_paths([str(root / "app")], opts).findings == []
    (root / "real" / "cm.yaml").write_text(CM.format(name="a") + "bogus: 1\n")
    res = validate_paths([str(root / "app")], opts)
    assert [(f.file.endswith("real/cm.yaml"), f.pointer) for f in res.findings] == [(True, "/bogus")]


def test_cache_off_switch_and_no_secret_data(tmp_path):
    """Only a build without Secret data is cached, judged by the redaction's own model (buildsecrets.held_values):
    a Secret, a generator, or Secret data anywhere in an object, such as a chart's values the chart applies."""
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml"), "app/cm.yaml": CM.format(name="a"),
                            "gen/kustomization.yaml": "secretGenerator:\n  - name: s\n    literals:\n      - password=hunter2\n",
                            "plain/kustomization.yaml": _kust("./s.yaml"),
                            "plain/s.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: p\nstringData:\n  k: v\n",
                            # attack 8 break 3: Secret data a chart applies from a HelmRelease's values (a literal
                            # Secret, one whose kind is a template action, one in a List: compat.possible_secret)
                            **{f"chart{i}/kustomization.yaml": _kust("./hr.yaml") for i in range(3)},
                            "chart0/hr.yaml": HR_SECRET.format(kind="Secret"),
                            "chart1/hr.yaml": HR_SECRET.format(kind="'{{ print \"Sec\" \"ret\" }}'"),
                            "chart2/hr.yaml": HR_SECRET.format(kind="List\n        items: [{kind: Secret, "
                                                                    "stringData: {b: hunter2inlist}}]")})
    validate_paths([str(root / "app")], _opts(tmp_path, root, kustomize_cache=False))
    assert _cached(tmp_path) == []
    for d in ("gen", "plain", "chart0", "chart1", "chart2"):
        validate_paths([str(root / d)], _opts(tmp_path, root))
        assert _cached(tmp_path) == [], d
    validate_paths([str(root / "app")], _opts(tmp_path, root))
    assert len(_cached(tmp_path)) == 1


@pytest.mark.parametrize("tamper", ["malformed", "foreign-owner", "world-writable", "planted-pass"])
def test_untrusted_cache_files_are_not_replayed(tmp_path, tamper):
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml"), "app/cm.yaml": CM.format(name="a") + "bogus: 1\n"})
    opts = _opts(tmp_path, root)
    want = validate_paths([str(root)], opts).findings
    [f] = _cached(tmp_path)
    if tamper == "malformed":
        f.write_text("{not json")
    elif tamper == "foreign-owner":
        f.write_text(json.dumps({"ok": True, "out": CM.format(name="a")}))
        os.chown(f, 12345, 12345)
    elif tamper == "world-writable":
        f.write_text(json.dumps({"ok": True, "out": CM.format(name="a")}))
        f.chmod(0o666)
    else:  # a pass planted under a key we never wrote: a different key, not replayed
        (f.parent / ("0" * 64 + ".json")).write_text(json.dumps({"ok": True, "out": ""}))
        f.unlink()
    assert validate_paths([str(root)], opts).findings == want


# --------------------------------------------------------------------------------------------------
# Findings mapped back, messages cleaned, Secret values never shown


def test_build_output_is_validated_and_attributed_to_the_source(tmp_path):
    require_kubectl()
    root = _repo(tmp_path, {
        "app/kustomization.yaml": _kust("./deployment.yaml", extra="namespace: apps\npatches:\n  - target:\n      kind: Deployment\n"
                                        "    patch: |-\n      - op: add\n        path: /spec/template/spec/containers/0/imagePolicy\n"
                                        "        value: Always\n"),
        "app/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n"
                               "    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n"
                               "      containers:\n        - name: web\n          image: nginx\n"})
    res = validate_paths([str(root)], _opts(tmp_path, root, flux=False))
    assert [(f.file.endswith("deployment.yaml"), f.line, f.pointer, f.obj) for f in res.findings] == [
        (True, 13, "/spec/template/spec/containers/0/imagePolicy", "Deployment/apps/web")]
    assert (res.passed, res.failed) == (0, 1)


@pytest.mark.parametrize("own_metadata", [False, True])
def test_a_failure_of_our_origin_annotations_is_no_finding(tmp_path, own_metadata):
    """The build asks for origin annotations to trace objects to files; kustomize then annotates each file's objects
    and fails on one whose metadata.annotations is no map (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/
    target/kusttarget.go makeCustomizedResMap, accumulateFile), while Flux sets no buildMetadata and builds it (seen
    on a fresh public repository: `annotations: []`). A finding never comes from what the tool adds: the build is
    retried as Flux runs it, and its objects are still checked and traced to their files. A kustomization that asks
    for origin annotations itself fails in Flux too: that failure stays."""
    import subprocess

    kubectl = require_kubectl()
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n"
                  "    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n"
                  "      containers:\n        - name: web\n          image: nginx\n          imagePolicy: Always\n")
    root = _repo(tmp_path, {
        "app/kustomization.yaml": _kust("./service.yaml", "./deployment.yaml", extra="namespace: apps\n" + (
            "buildMetadata: [originAnnotations]\n" if own_metadata else "")),
        "app/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations: []\nspec:\n"
                            "  ports:\n    - port: 80\n",
        "app/deployment.yaml": deployment})
    flux_builds = subprocess.run([kubectl, "kustomize", str(root / "app")], capture_output=True).returncode == 0
    assert flux_builds is not own_metadata
    res = validate_paths([str(root)], _opts(tmp_path, root, flux=False))
    if flux_builds:
        assert [(f.rule, f.file.endswith("app/deployment.yaml"), f.line, f.obj) for f in res.findings] == [
            ("schema", True, 15, "Deployment/apps/web")], res.findings
    else:
        assert ["cannot add path annotation" in f.message for f in res.findings if f.rule == "kustomize"] == [True]


def test_generated_object_is_reported_on_its_generator(tmp_path):
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": "secretGenerator:\n  - name: creds\n    literals:\n"
                            "      - password=hunter2\npatches:\n  - target:\n      kind: Secret\n    patch: |-\n"
                            "      - op: add\n        path: /immutable\n        value: hunter2\n"})
    res = validate_paths([str(root)], _opts(tmp_path, root))
    # the literal is a plaintext Secret in Git too, judged on the built object
    assert sorted(f.rule for f in res.findings) == ["schema", "secret.unencrypted"]
    [f] = [f for f in res.findings if f.rule == "schema"]
    assert f.file.endswith("app/kustomization.yaml") and f.line == 2 and f.pointer == "/immutable"
    assert "hunter2" not in f.message and "expected boolean" in f.message


SECRET_TEXT = "hunter2 SECRET value!"
SECRET_B64 = "aHVudGVyMiBTRUNSRVQgdmFsdWUh"  # what kustomize's secretGenerator stores for SECRET_TEXT
CM_C = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
SCHEDULE = ("apiVersion: velero.io/v1\nkind: Schedule\nmetadata: {name: daily, namespace: velero}\n"
            "spec:\n  schedule: '0 1 * * *'\n  template: {ttl: 720h}\n")


# a velero HelmRelease whose chart applies extraObjects (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/
# templates/extra-manifests.yaml), holding one item of kind {kind} with Secret data
HR_SECRET = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {{name: velero, namespace: velero}}\n"
             "spec:\n  interval: 1h\n  chart: {{spec: {{chart: velero, version: 12.1.0, sourceRef: {{kind: HelmRepository, "
             "name: vt}}}}}}\n  values:\n    extraObjects:\n      - apiVersion: v1\n        kind: {kind}\n"
             "        metadata: {{name: s3}}\n        stringData: {{a: 'hunter2 SECRET in values'}}\n")


def _replacement(source_options: str, target: str, fields: str) -> str:
    return ("replacements:\n  - source: {kind: Secret, name: s, fieldPath: data.password" + source_options + "}\n"
            f"    targets:\n      - select: {{kind: {target}}}\n        fieldPaths: [{fields}]\n"
            "        options: {create: true}\n")


def _shown(res) -> str:
    return json.dumps([dataclasses.asdict(f) for f in res.findings])


@pytest.mark.parametrize("files, hidden", [
    # attacker round 6, break 1: an env line that is not UTF-8 is printed as Go's %d of a byte slice and as text
    ({"app/kustomization.yaml": "secretGenerator:\n  - name: creds\n    envs: [creds.env]\n",
      "app/creds.env": b"AWS_SECRET_ACCESS_KEY=hunter2SECRETVALUE\xff\n"},
     ("hunter2", "[65 87 83", "104 117 110")),
    # break 7: options.index out of range quotes the source value, the generated Secret's base64
    ({"app/kustomization.yaml": _kust("cm.yaml", extra=f"secretGenerator:\n  - name: s\n    literals: ['password={SECRET_TEXT}']\n"
                                      + _replacement(", options: {delimiter: '#', index: 7}", "ConfigMap", "data.a")),
      "app/cm.yaml": CM_C}, (SECRET_B64, "hunter2")),
    # variants: a refused literal makes kustomize print the whole literals list (kv.go Load), with a quote in a value
    ({"app/kustomization.yaml": "secretGenerator:\n  - name: s\n    literals: ['password=hunter2 \"SECRET\" v', novalue]\n"},
     ("hunter2", "SECRET")),
    # attack 8 break 4: a Secret the chart renders from a HelmRelease's values (here its kind a template action,
    # compat.possible_secret), quoted by an out-of-range replacement from the HelmRelease itself
    ({"app/kustomization.yaml": _kust("hr.yaml", "cm.yaml", extra=(
        "replacements:\n  - source: {kind: HelmRelease, name: velero, fieldPath: spec.values.extraObjects.0.stringData.a,"
        " options: {delimiter: '#', index: 5}}\n    targets: [{select: {kind: ConfigMap}, fieldPaths: [data.a]}]\n")),
      "app/hr.yaml": HR_SECRET.format(kind="'{{ print \"Sec\" \"ret\" }}'"), "app/cm.yaml": CM_C}, ("hunter2",)),
    # a file source longer than one base64 line: kyaml wraps it at 70, klog prints it multi-line
    ({"app/kustomization.yaml": _kust("cm.yaml", extra="secretGenerator:\n  - name: s\n    files: [password=key.pem]\n"
                                      + _replacement(", options: {delimiter: '#', index: 3}", "ConfigMap", "data.a")),
      "app/key.pem": "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0hunter2SECRETBAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END KEY-----\n",
      "app/cm.yaml": CM_C}, ("LS0tLS1CRUdJTi", "Cg==", "hunter2")),
    # a Secret written in the repository (not generated): its data as written
    ({"app/kustomization.yaml": _kust("cm.yaml", "s.yaml", extra=_replacement(
        ", options: {delimiter: '#', index: 3}", "ConfigMap", "data.a")),
      "app/s.yaml": f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata: {{password: {SECRET_B64}}}\n",
      "app/cm.yaml": CM_C}, (SECRET_B64,)),
])
def test_a_failed_build_never_prints_a_secret_input_in_any_form(tmp_path, files, hidden):
    """kustomize's errors quote generator inputs and Secret values in the forms kustomize and Go print them
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/kv/kv.go, api/filters/replacement/replacement.go,
    kyaml/yaml/datamap.go encodeBase64; validate/buildsecrets.py): none of them reaches a finding, in any format."""
    require_kubectl()
    root = _repo(tmp_path, {k: v for k, v in files.items() if isinstance(v, str)})
    for rel, data in files.items():
        if isinstance(data, bytes):
            (root / rel).write_bytes(data)
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [f.rule for f in res.findings if f.message.startswith("kustomize build failed")] == ["kustomize"]
    for fmt in ("text", "json", "github", "junit"):
        r = run_cli("validate", str(root / "app"), "-o", fmt, "--no-kustomize-cache", cwd=root)
        assert "kustomize build failed" in r.out and "redacted" in r.out, r.out
        assert not any(h in r.out for h in hidden), r.out


@pytest.mark.parametrize("replacement, extra, hidden", [
    # attacker round 6, break 2: the generated Secret's base64 copied into a typed field of another object
    (_replacement("", "ConfigMap, name: c", "immutable"), {}, (SECRET_B64,)),
    # variants: a piece of it (a delimiter), into a Schedule whose policy rules quote cron and ttl
    (_replacement(", options: {delimiter: 'd', index: 1}", "Schedule", "spec.schedule, spec.template.ttl"),
     {"app/sched.yaml": SCHEDULE}, (SECRET_B64.split("d")[1],)),
    # the whole value into an object's name, and a typed field of the same object
    (_replacement("", "ConfigMap, name: c", "metadata.name") + _replacement("", "ConfigMap", "immutable")[13:],
     {}, (SECRET_B64,)),
])
def test_a_value_of_a_build_holding_secrets_is_never_quoted(tmp_path, replacement, extra, hidden):
    """A build that holds Secret data may copy it into any field (kubernetes-sigs/kustomize@kustomize/v5.7.1:
    api/filters/replacement/replacement.go, with a delimiter a piece of it): no finding on its objects quotes a value
    (schema and policy messages say what is wrong without it), and every finding is redacted of the build's secret
    values in every form (validate/buildsecrets.py)."""
    require_kubectl()
    resources = ["cm.yaml", *(Path(k).name for k in extra)]
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust(*resources, extra=(
        f"namespace: default\nsecretGenerator:\n  - name: s\n    literals: ['password={SECRET_TEXT}']\n"
        "    options: {disableNameSuffixHash: true}\n" + replacement)), "app/cm.yaml": CM_C, **extra})
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert {f.rule for f in res.findings} - {"secret.unencrypted"}, _shown(res)  # the copied values are judged
    assert not any(h in _shown(res) for h in (*hidden, "hunter2")), _shown(res)


def test_build_error_is_kustomizes_message_cleaned(tmp_path):
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml", extra="patches:\n  - path: ./nope.yaml\n"),
                            "app/cm.yaml": CM.format(name="a")})
    res = validate_paths([str(root)], _opts(tmp_path, root))
    [f] = res.findings
    assert f.rule == "kustomize" and f.file.endswith("app/kustomization.yaml")
    assert f.message.startswith("kustomize build failed: ") and "nope.yaml" in f.message
    assert "run.go" not in f.message and "command failed" not in f.message and "vg-kustomize-" not in f.message
    assert len(f.message) <= 330


def test_missing_resource_is_located(tmp_path):
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml", "./configmapz.yaml"), "app/cm.yaml": CM.format(name="a")})
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [(f.rule, f.line, f.message) for f in res.findings] == [
        ("kustomize", 5, "resources entry './configmapz.yaml' does not exist")]


def test_clean_message_drops_the_klog_prefix():
    raw = ('E1203 06:18:09.440195   23563 run.go:72] "command failed" err="accumulating resources: '
           + "x" * 600 + '"')
    msg = kustomize.clean_message(raw)
    assert msg.startswith("accumulating resources: xxx") and len(msg) <= kustomize.MAX_MESSAGE


def test_ignore_filename_pattern(tmp_path):
    root = tmp_path / "t"
    (root / "talos").mkdir(parents=True)
    # an object the schema refuses (a file that claims no object is another tool's anyway: test_engine)
    (root / "talos" / "cp.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cp\nmachine: {}\n")
    (root / "cm.yaml").write_text(CM.format(name="a"))
    r = run_cli("validate", str(root), "--kustomize", "never", "--ignore-filename-pattern", "talos/")
    assert r.code == 0, r.out + r.err
    r = run_cli("validate", str(root), "--kustomize", "never")
    assert r.code == 1 and "talos/cp.yaml" in r.out
    r = run_cli("validate", str(root), "--ignore-filename-pattern", "([")
    assert r.code == 2 and "invalid regular expression" in r.err


@pytest.mark.parametrize("depth,built", [(4, True), (12, False)])
def test_a_diamond_of_shared_bases_is_not_built_past_the_load_limit(tmp_path, monkeypatch, depth, built):
    """kustomize loads a base once per path that reaches it: a diamond 12 deep is 8191 loads (minutes of
    kubectl). The planner counts paths and refuses past MAX_LOADS before anything runs."""
    require_kubectl()
    files = {"app/kustomization.yaml": _kust("../l0a", "../l0b")}
    for i in range(depth):
        nxt = [f"../l{i + 1}a", f"../l{i + 1}b"] if i + 1 < depth else ["./cm.yaml"]
        for side in "ab":
            files[f"l{i}{side}/kustomization.yaml"] = _kust(*nxt) if i + 1 < depth else _kust("./cm.yaml",
                                                                                              extra=f"namePrefix: {side}{i}-\n")
            if i + 1 == depth:
                files[f"l{i}{side}/cm.yaml"] = CM.format(name="c")
    root = _repo(tmp_path, files)
    calls = []
    real = kustomize.run_kubectl
    monkeypatch.setattr(kustomize, "run_kubectl", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    res = validate_paths([str(root / "app")], _opts(tmp_path, root, kustomize_cache=False))
    assert bool(calls) == built
    if not built:
        assert [f.rule for f in res.findings] == ["kustomize"] and "8191 times" not in res.findings[0].message
        assert f"the limit is {kustomize.MAX_LOADS}" in res.findings[0].message


def test_a_build_cache_inside_the_checkout_is_never_used(tmp_path):
    """A pull request could commit a cache entry that replays a pass: --cache inside the repository is ignored."""
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml"), "app/cm.yaml": CM.format(name="a") + "bogus: 1\n"})
    opts = Options(cache_dir=str(root / ".cache"), repo_root=str(root), kustomize="always")
    first = validate_paths([str(root / "app")], opts).findings
    assert [f.pointer for f in first] == ["/bogus"]
    assert not (root / ".cache" / "kustomize-builds").exists()


def test_missing_kubectl_is_one_warning_line(tmp_path):
    """Without kubectl, --kustomize auto says once that the builds were not run (a warning: the run passes);
    never is silent on purpose, always fails with a usage error."""
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("./cm.yaml"), "app/cm.yaml": CM.format(name="a"),
                            "other/kustomization.yaml": _kust("./cm.yaml"), "other/cm.yaml": CM.format(name="b")})
    env = {"PATH": str(tmp_path / "no-bin"), "VELERO_GITOPS_NO_CACHE": "1"}
    r = run_cli("validate", str(root), "--no-flux", "--no-policy", env=env)
    assert r.code == 0, r.out + r.err
    (warning, summary) = r.out.splitlines()
    assert warning.endswith("app/kustomization.yaml: warning: kubectl is not on PATH: 2 kustomize builds not run, so "
                            "what they emit (and files they need, such as encrypted Secrets) is not checked; install "
                            "kubectl, or pass --kustomize never to skip builds on purpose, --kustomize always to fail")
    assert summary.startswith("1 warning;")
    never = run_cli("validate", str(root), "--no-flux", "--no-policy", "--kustomize", "never", env=env)
    assert never.code == 0 and "kubectl" not in never.out
    always = run_cli("validate", str(root), "--no-flux", "--no-policy", "--kustomize", "always", env=env)
    assert always.code == 2 and "kubectl is not on PATH" in always.err


def test_flux_generated_kustomization_leaves_out_what_the_artifact_does_not_hold(tmp_path):
    """A Flux Kustomization with `path: ./` and no kustomization.yaml there: Flux generates one from the artifact,
    which has no `.sops.yaml` (validate/sourceignore.py), so the build does not read the sops config as a resource."""
    require_kubectl()
    root = _repo(tmp_path, {"ks.yaml": KS.format(name="flux-system", path="./"),
                            "cm.yaml": CM.format(name="a"),
                            ".sops.yaml": "creation_rules:\n  - path_regex: .*\\.sops\\.yaml$\n    age: age1x\n"})
    res = validate_paths([str(root)], _opts(tmp_path, root, ignore_missing_schemas=True))
    assert [f for f in res.findings if f.rule.startswith("kustomize")] == [], res.findings


def test_a_build_with_only_encrypted_secrets_still_quotes_values(tmp_path):
    """A sops-encrypted Secret shows ciphertext only (policy.holds_secret_data): copying it reveals nothing, so the
    objects of its build keep their values in messages (kustomize.holds_secrets)."""
    require_kubectl()
    root = _repo(tmp_path, {"app/kustomization.yaml": _kust("cm.yaml", "s.yaml"),
                            "app/cm.yaml": CM_C + "immutable: 'notabool'\n",
                            "app/s.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                                          "stringData: {password: 'ENC[AES256_GCM,data:abcd,iv:ef,tag:gh,type:str]'}\n"
                                          "sops: {age: [{recipient: age1x, enc: x}], lastmodified: '2024-01-01T00:00:00Z',"
                                          " mac: 'ENC[AES256_GCM,data:m,iv:i,tag:t,type:str]', version: 3.9.0}\n"})
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [f.message for f in res.findings if f.rule == "schema"] == ["expected boolean, got string 'notabool'"]


HR = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
  namespace: web
spec:
  chartRef:
    kind: OCIRepository
    name: web
"""


def test_a_cluster_sync_completed_by_its_own_folder_builds_what_it_declares(tmp_path):
    """A shared sync Kustomization whose spec.path is ``./clusters/${CLUSTER}``: each cluster's folder patches its path
    and postBuild variables in, and a second kustomize patch gives every child Kustomization a ``spec.patches`` entry
    that sets a HelmRelease's interval. The controller builds each Kustomization from the spec the cluster holds:
    the parent's build output after postBuild substitution (fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go build; fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go), with its
    spec.patches added to the kustomization it builds (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go
    generateKustomization). So the release written without an interval is applied with one; a release file that no
    build reads is never applied: a note (validate/unapplied.py), not an error."""
    require_kubectl()
    defaults = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: any\nspec:\n"
                "  patches:\n    - patch: |-\n        apiVersion: helm.toolkit.fluxcd.io/v2\n        kind: HelmRelease\n"
                "        metadata:\n          name: any\n        spec:\n          interval: 5m\n"
                "      target:\n        kind: HelmRelease\n")
    own = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n"
           "  namespace: flux-system\nspec:\n  path: ./clusters/one\n  postBuild:\n    substitute:\n      ENV: one\n")
    root = _repo(tmp_path, {
        "flux/base/kustomization.yaml": _kust("kustomize.yaml"),
        "flux/base/kustomize.yaml": KS.format(name="flux-system", path="./clusters/${CLUSTER}"),
        "flux/one.yaml": own,
        "defaults.yaml": defaults,
        "clusters/one/kustomization.yaml": _kust("../../flux/base", "../../apps/web/ks.yaml", extra=(
            "patches:\n  - path: ../../flux/one.yaml\n  - path: ../../defaults.yaml\n"
            "    target:\n      kind: Kustomization\n      name: web\n")),
        "apps/web/ks.yaml": KS.format(name="web", path="./apps/web/${ENV}"),
        "apps/web/one/kustomization.yaml": _kust("../release.yaml", "../source.yaml"),
        "apps/web/source.yaml": ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: web\n"
                                 "  namespace: web\nspec:\n  interval: 1h\n  url: oci://example.org/web\n"),
        "apps/web/release.yaml": HR.format(name="web"),
        "apps/web/two.yaml": HR.format(name="web"),  # an environment's copy that nothing lists
    })
    res = validate_paths([str(root)], _opts(tmp_path, root))
    assert [(f.file.split("repo/")[1], f.severity, f.message) for f in res.findings] == [
        ("apps/web/two.yaml", "note", "not applied by any Flux Kustomization: missing required property 'interval'")]


def test_a_cluster_folder_is_built_once_and_declared_builds_keep_their_verdicts(tmp_path, monkeypatch):
    """The cluster folder built to find its sync (_instances) has the inputs of that sync's own build (no
    spec.patches, targetNamespace or components on it: fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go
    generateKustomization adds nothing), so kustomize runs once for both; and the verdicts of builds known only from a
    parent's output (their postBuild variables in the key) are reused by the next run, which runs no output check.
    Counted: kubectl runs and output checks; the findings are the same in both runs."""
    require_kubectl()
    root = _repo(tmp_path, {
        "flux/base/kustomization.yaml": _kust("kustomize.yaml"),
        "flux/base/kustomize.yaml": KS.format(name="flux-system", path="./clusters/${CLUSTER}"),
        "flux/one.yaml": ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
                          "  name: flux-system\n  namespace: flux-system\nspec:\n  path: ./clusters/one\n"
                          "  postBuild:\n    substitute:\n      ENV: one\n"),
        "clusters/one/kustomization.yaml": _kust("../../flux/base", "../../apps/web/ks.yaml",
                                                 extra="patches:\n  - path: ../../flux/one.yaml\n"),
        "apps/web/ks.yaml": KS.format(name="web", path="./apps/web/${ENV}"),
        "apps/web/one/kustomization.yaml": _kust("cm.yaml"),
        "apps/web/one/cm.yaml": CM.format(name="web") + "  bad: [1]\n",  # data values are strings: one finding
    })
    builds: list[Path] = []
    checks: list[Path] = []
    real_run, real_check = kustomize.run_kubectl, kustomize._OutputCheck.check
    monkeypatch.setattr(kustomize, "run_kubectl", lambda *a, **k: builds.append(a[1]) or real_run(*a, **k))
    monkeypatch.setattr(kustomize._OutputCheck, "check",
                        lambda self, b, docs, cov: checks.append(b.entry) or real_check(self, b, docs, cov))
    uncached = validate_paths([str(root)], _opts(tmp_path, root, kustomize_cache=False))
    assert sorted(p.name for p in builds) == ["one", "one"]  # clusters/one once, apps/web/one once: no store needed
    builds.clear()
    checks.clear()
    first = validate_paths([str(root)], _opts(tmp_path, root, kustomize_cache=True))
    assert uncached.findings == first.findings
    assert sorted(p.name for p in checks) == ["one", "one"]
    builds.clear()
    checks.clear()
    second = validate_paths([str(root)], _opts(tmp_path, root, kustomize_cache=True))
    assert checks == [] and builds == []  # outputs without a Secret come from the build cache
    assert [(f.file, f.rule, f.message) for f in second.findings] == [
        (f.file, f.rule, f.message) for f in first.findings]
    assert any(f.rule == "schema" for f in first.findings)
