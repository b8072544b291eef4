"""validate.resolve: the one answer to "what does this Flux Kustomization apply", for the graph, the planner and adoption."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from velero_gitops.validate import fluxmodel, kustomize, resolve
from velero_gitops.validate.documents import Obj
from velero_gitops.validate.engine import validate_paths
from velero_gitops.validate.run import Options, Run

from cli_util import require_kubectl


def _tree(tmp_path):
    for rel, text in {"apps/a.yaml": "kind: ConfigMap\n", "apps/notes.txt": "x\n", "apps/.sops.yaml": "creation_rules: []\n",
                      "apps/.config/b.yml": "kind: ConfigMap\n", "apps/.github/workflows/ci.yaml": "on: push\n",
                      "apps/web/Kustomization": "resources: [web.yaml]\n", "apps/web/web.yaml": "kind: Service\n",
                      "apps/web/skipped.yaml": "kind: Service\n", "apps/deep/more/c.yaml": "kind: ConfigMap\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path / "apps"


def test_listing_follows_flux_generator(tmp_path):
    """fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests: every .yaml/.yml file (hidden
    ones too), a folder with any recognised kustomization file as a whole and not entered; the source artifact
    leaves out fluxcd/pkg@sourceignore/v0.9.0 default patterns (.github/, **/.sops.yaml)."""
    apps = _tree(tmp_path)
    got = sorted((p.relative_to(apps).as_posix(), whole) for p, whole in resolve.listing(apps, tmp_path))
    assert got == [(".config/b.yml", False), ("a.yaml", False), ("deep/more/c.yaml", False), ("web", True)]


def test_graph_and_planner_list_the_same(tmp_path):
    """The graph's Tree.applied (what a Kustomization applies) and the planner list through the same function: the
    files the graph applies are the generated listing, with the whole folder's own resources."""
    apps = _tree(tmp_path)
    run = Run(Options(repo_root=str(tmp_path), kustomize="never"))
    applied = sorted(p.relative_to(apps).as_posix() for p in resolve.Tree(tmp_path, run).applied_files(apps))
    assert applied == [".config/b.yml", "a.yaml", "deep/more/c.yaml", "web/web.yaml"]


# --------------------------------------------------------------------------------------------------
# Patches: typed targets matched as kustomize matches them


def _obj(kind="Kustomization", name="app", api="kustomize.toolkit.fluxcd.io/v1", labels=None, annotations=None):
    md = {"name": name, **({"labels": labels} if labels else {}), **({"annotations": annotations} if annotations else {})}
    return Obj("x.yaml", None, 0, {"apiVersion": api, "kind": kind, "metadata": md, "spec": {}}, 1)


def _patches(*entries):
    ks = Obj("ks.yaml", None, 0, {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                   "metadata": {"name": "p"}, "spec": {"patches": list(entries)}}, 1)
    return fluxmodel.kustomization(ks).patches


SET_PRUNE = "- op: add\n  path: /spec/prune\n  value: true\n"


@pytest.mark.parametrize("target, selected", [
    ({"kind": "Kustomization"}, True),
    ({"kind": "Kustom"}, False),  # anchored: ^(?:Kustom)$
    ({"kind": "Kustomization|HelmRelease"}, True),  # every Gvk field is a regexp, not only name and namespace
    ({"group": "kustomize\\.toolkit\\.fluxcd\\.io", "version": "v1"}, True),
    ({"group": "helm.toolkit.fluxcd.io"}, False),
    ({"name": "ap+"}, True),
    ({"name": "(?=a)pp"}, False),  # Go's regexp refuses lookaround: the build fails, nothing is selected here
    ({"namespace": "flux-system"}, True),
    ({"namespace": "other"}, False),
    ({"labelSelector": "tier in (apps,infra),!skip"}, True),
    ({"labelSelector": "tier=db"}, False),
    ({"annotationSelector": "owner"}, True),
    ({}, True),
])
def test_selector_is_kustomize_selector(target, selected):
    """kubernetes-sigs/kustomize@kustomize/v5.7.1:api/types/selector.go: NewSelectorRegex compiles group, version,
    kind, name and namespace as anchored Go regexps (anchorRegex) and MatchGvk/MatchName/MatchNamespace skip the empty
    ones; api/resource/resource.go matches label and annotation selectors. Flux hands spec.patches[].target over as
    that Selector (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go adaptSelector)."""
    p = _patches({"patch": SET_PRUNE, "target": target})[0]
    o = _obj(labels={"tier": "apps"}, annotations={"owner": "me"})
    assert resolve.selects(p, o, "flux-system") is selected


@pytest.mark.parametrize("selector, selected", [
    ("substitution.flux/enabled=true", True), ("substitution.flux/enabled in (true)", True),
    ("substitution.flux/enabled!=true", False), ("replicas=3", True), ("empty=", True),
])
def test_an_unquoted_label_value_is_selected_by_its_text(selector, selected):
    """kustomize reads label values as the YAML text (kubernetes-sigs/kustomize@kyaml/v0.20.1:kyaml/yaml/rnode.go
    getMapFromMeta: ``value.Value``), so a parent's patch selecting ``substitution.flux/enabled=true`` reaches a
    child labelled ``substitution.flux/enabled: true`` unquoted (held-out tslamars: 18 false flux.decryption errors,
    the parent's patch adds decryption to every such child; the API server would refuse the boolean label afterwards,
    a schema error we report separately)."""
    p = _patches({"patch": SET_PRUNE, "target": {"labelSelector": selector}})[0]
    o = _obj(labels={"substitution.flux/enabled": True, "replicas": 3, "empty": None})
    assert resolve.selects(p, o, "flux-system") is selected


def test_patch_without_target_names_its_object():
    """A strategic-merge patch without target applies to the object of its own kind and name."""
    smp = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\nspec:\n  prune: true\n"
    p = _patches({"patch": smp})[0]
    assert p.target is None
    assert resolve.selects(p, _obj(), "") and not resolve.selects(p, _obj(name="other"), "")
    assert not resolve.selects(p, _obj(kind="HelmRelease", api="helm.toolkit.fluxcd.io/v2"), "")
    o = _obj()
    assert resolve.apply_patch(o, p) and o.data["spec"] == {"prune": True}


def test_malformed_patch_entries_are_typed_away():
    """An entry that is no mapping is dropped (the schema pass reports it); one whose patch is no string patches
    nothing but is still handed to kustomize as written (its build reports it); a target that is no mapping is none."""
    got = _patches("x", {"patch": 3}, {"patch": SET_PRUNE, "target": "Kustomization"})
    assert [(p.patch, p.target) for p in got] == [(None, None), (SET_PRUNE, None)]
    assert [p.raw for p in got] == [{"patch": 3}, {"patch": SET_PRUNE, "target": "Kustomization"}]


def test_json6902_fails_whole_on_a_missing_parent():
    """RFC 6902 4.1: add into a missing parent fails, and kustomize fails the whole patch (kubernetes-sigs/kustomize@
    kustomize/v5.7.1:api/filters/patchjson6902/patchjson6902.go returns json-patch.v4 Patch.Apply's error): the object
    stays as written, the build reports it. apiVersion and kind are never patched."""
    p = _patches({"patch": "- op: add\n  path: /spec/interval\n  value: 1h\n"
                           "- op: add\n  path: /spec/decryption/provider\n  value: sops\n"})[0]
    o = _obj()
    assert not resolve.apply_patch(o, p)
    assert o.data["spec"] == {}
    kind = _patches({"patch": "- op: replace\n  path: /kind\n  value: X\n"})[0]
    assert not resolve.apply_patch(o, kind) and o.kind == "Kustomization"


@pytest.mark.parametrize(("ops", "want"), [
    ("- {op: add, path: /spec/l/-, value: c}", ["a", "b", "c"]),  # `-` appends
    ("- {op: add, path: /spec/l/0, value: c}", ["c", "a", "b"]),  # an index inserts
    ("- {op: add, path: /spec/l/2, value: c}", ["a", "b", "c"]),  # the length is the end
    ("- {op: add, path: /spec/l/3, value: c}", None),  # past the end fails
    ("- {op: replace, path: /spec/l/1, value: c}", ["a", "c"]),
    ("- {op: replace, path: /spec/l/-, value: c}", None),  # `-` names no element
    ("- {op: remove, path: /spec/l/0}", ["b"]),
    ("- {op: remove, path: /spec/l/-1}", ["a"]),  # json-patch.v4 SupportNegativeIndices
    ("- {op: remove, path: /spec/m}", None),  # a missing value fails remove
    ("- {op: replace, path: /spec/m, value: 1}", None),  # and replace
    ("- {op: move, from: /spec/l/0, path: /spec/l/-}", ["b", "a"]),
    ("- {op: copy, from: /spec/l/0, path: /spec/l/-}", ["a", "b", "a"]),
    ("- {op: test, path: /spec/l/0, value: a}\n- {op: add, path: /spec/l/-, value: c}", ["a", "b", "c"]),
    ("- {op: test, path: /spec/l/0, value: z}\n- {op: add, path: /spec/l/-, value: c}", None),
])
def test_json6902_list_operations(ops, want):
    """RFC 6902 on an array, as evanphx/json-patch.v4 (kustomize@kustomize/v5.7.1:api/filters/patchjson6902) applies
    it: each operation on the result of the last; None: the patch fails and the object is unchanged."""
    o = _obj()
    o.data["spec"] = {"l": ["a", "b"]}
    assert resolve.apply_patch(o, _patches({"patch": ops})[0]) is (want is not None)
    assert o.data["spec"]["l"] == (want or ["a", "b"])


def _copied_nodes(monkeypatch):
    """A counter of the nodes resolve deep-copies: the work of applying a patch, whatever the machine's speed."""
    import copy
    import types

    seen = [0]

    def size(node):
        if isinstance(node, dict):
            return 1 + sum(size(v) for v in node.values())
        return 1 + sum(size(v) for v in node) if isinstance(node, list) else 1

    def deepcopy(node, memo=None):
        seen[0] += size(node)
        return copy.deepcopy(node, memo)

    monkeypatch.setattr(resolve, "copy", types.SimpleNamespace(deepcopy=deepcopy))
    return seen


def _label_patches(p, at="/metadata/labels"):
    return [{"target": {"kind": "Kustomization"}, "patch": f"- op: add\n  path: {at}/l{i}\n  value: v{i}\n"}
            for i in range(p)]


def test_json6902_work_is_linear_in_the_patches(monkeypatch, tmp_path):
    """Attack 8 break 2: a parent Kustomization's P JSON 6902 patches, each adding to every child (kubernetes-sigs/
    kustomize@kustomize/v5.7.1:api/filters/patchjson6902/patchjson6902.go applies them one after the other, and one
    that does not apply leaves the object as it was). Each patch copied the whole object, which grows with each:
    O(P²) per child. Applied in place with an undo journal, the work (nodes copied) is linear in P, in the unit and
    through validate's Flux graph; a failing patch still leaves the object as written."""
    seen = _copied_nodes(monkeypatch)
    work = {}
    for p in (100, 200, 400):
        o = _obj(labels={"a": "b"})
        seen[0] = 0
        for patch in _patches(*_label_patches(p)):
            assert resolve.apply_patch(o, patch)
        work[p] = seen[0]
        assert o.data["metadata"]["labels"] == {"a": "b", **{f"l{i}": f"v{i}" for i in range(p)}}
    assert work[200] <= 2 * work[100] and work[400] <= 2 * work[200], work
    before = dict(o.data["metadata"]["labels"])
    failing = _patches({"patch": "- {op: add, path: /metadata/labels/z, value: 1}\n- {op: remove, path: /spec/x}"})[0]
    assert not resolve.apply_patch(o, failing) and o.data["metadata"]["labels"] == before

    graph = {}
    for p in (100, 200, 400):
        root = tmp_path / str(p)
        files = {"clusters/c/apps.yaml": _ks("apps", "./apps", patches=_label_patches(p, "/spec")),
                 "apps/ks.yaml": "---\n".join(_ks(f"k{i}", "./x") for i in range(2)),
                 "x/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n"}
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        seen[0] = 0
        validate_paths([str(root / "clusters"), str(root / "apps"), str(root / "x")],
                       Options(repo_root=str(root), kustomize="never"))
        graph[p] = seen[0]
    assert graph[100] > 0 and graph[200] <= 2.2 * graph[100] and graph[400] <= 2.2 * graph[200], graph


def test_parent_patch_with_a_kind_regexp_reaches_its_children(tmp_path):
    """The whole path: a root Kustomization patches decryption into every Kustomization it applies with
    ``target: {kind: Kustomization|HelmRelease}`` (a regexp, as kustomize reads every Gvk field); the child applying a
    SOPS file gets decryption, so no flux.decryption on it. An exact comparison of the kind missed it."""
    files = {
        "clusters/main/flux-system/gotk-sync.yaml": _ks("flux-system", "./clusters/main", patches=[
            {"patch": "- op: add\n  path: /spec/decryption\n  value: {provider: sops}\n",
             "target": {"kind": "Kustomization|HelmRelease"}}]),
        "clusters/main/apps.yaml": _ks("apps", "./apps"),
        "apps/secret.sops.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: default\n"
                                 "stringData:\n  k: ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]\n"
                                 "sops:\n  version: 3.10.2\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    res = validate_paths([str(tmp_path / "clusters"), str(tmp_path / "apps")],
                         Options(repo_root=str(tmp_path), kustomize="never"))
    assert [f for f in res.findings if f.rule.startswith("flux.decryption")] == []
    (tmp_path / "clusters/main/flux-system/gotk-sync.yaml").write_text(_ks("flux-system", "./clusters/main"))
    res = validate_paths([str(tmp_path / "clusters"), str(tmp_path / "apps")],
                         Options(repo_root=str(tmp_path), kustomize="never"))
    assert [f.rule for f in res.findings if f.rule.startswith("flux.decryption")] == ["flux.decryption"]


def _ks(name, path, **spec):
    import json

    body = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": path, "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}, **spec}}
    return json.dumps(body) + "\n"


# --------------------------------------------------------------------------------------------------
# What the controller adds to the kustomization it builds


def _flux_ks(**spec):
    return Obj("ks.yaml", None, 0, {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                    "metadata": {"name": "app"}, "spec": {"path": "./app", **spec}}, 1)


def test_flux_fields_follow_generate_manifest():
    """fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go GenerateManifest sets kus.Namespace whenever
    spec.targetNamespace is a string (an empty one included), namePrefix/nameSuffix likewise, and appends each
    spec.patches entry; components come apart (resolve.components)."""
    m = fluxmodel.kustomization(_flux_ks(targetNamespace="", namePrefix="p-", patches=[{"patch": SET_PRUNE}]))
    assert resolve.flux_fields(m) == {"namespace": "", "namePrefix": "p-", "patches": [{"patch": SET_PRUNE}]}
    assert resolve.flux_fields(fluxmodel.kustomization(_flux_ks())) == {}


def test_components_must_be_local_and_relative(tmp_path):
    """GenerateManifest: IsLocalRelativePath or the build fails ("component path ... must be local and relative"): an
    absolute path is refused even when it names a folder of the repository, so neither the graph nor the planner
    reads it."""
    (tmp_path / "app").mkdir()
    comp = tmp_path / "components/common"
    comp.mkdir(parents=True)
    (comp / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                             "resources: [cm.yaml]\n")
    (comp / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: common\n")
    m = fluxmodel.kustomization(_flux_ks(components=["../components/common", str(comp), "https://example.com/c"]))
    got = resolve.components(tmp_path / "app", m)
    assert [(c.entry, bool(c.refused)) for c in got] == [
        ("../components/common", False), (str(comp), True), ("https://example.com/c", True)]
    run = Run(Options(repo_root=str(tmp_path), kustomize="never"))
    applied = resolve.Tree(tmp_path, run).flux_applied(tmp_path / "app", m)
    assert [f.relative_to(tmp_path).as_posix() for f, _, _ in applied] == ["components/common/cm.yaml"]


def test_graph_and_planner_read_the_same_components(tmp_path):
    """One answer for both callers: the files the graph says a Flux Kustomization applies through spec.components
    are files the planner copies into the build, and the planner's generated kustomization lists the same entries,
    under the root kustomization's namespace."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                            "namespace: media\nresources: [cm.yaml]\n")
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n")
    comp = tmp_path / "components/common"
    comp.mkdir(parents=True)
    (comp / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                             "resources: [cm.yaml]\n")
    (comp / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: common\n")
    ks = _flux_ks(components=["../components/common", "../components/missing"], ignoreMissingComponents=True)
    run = Run(Options(repo_root=str(tmp_path), kustomize="never"))
    applied = resolve.Tree(tmp_path, run).flux_applied(app, fluxmodel.kustomization(ks))
    assert sorted((f.relative_to(tmp_path).as_posix(), ns) for f, ns, _ in applied) == [
        ("app/cm.yaml", "media"), ("components/common/cm.yaml", "media")]
    b = kustomize.plan(tmp_path, app, ks, run.kfiles, run.real)
    assert b.problems == []
    import json

    assert json.loads(b.generated)["components"] == ["../components/common"]
    assert {f for f, _, _ in applied} <= set(b.files.values())


def test_encrypted_file_in_a_component_needs_decryption(tmp_path):
    """flux.decryption reads what the Kustomization applies from the resolver, components included: GenerateManifest
    adds spec.components to the build (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go), and
    kustomize-controller@v1.9.4 decrypts only with spec.decryption, so a SOPS file a component brings in needs it."""
    secret = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: default\n"
              "stringData:\n  k: ENC[AES256_GCM,data:eA==,iv:eA==,tag:eA==,type:str]\nsops:\n  version: 3.10.2\n")
    files = {
        "clusters/main/flux-system/gotk-sync.yaml": _ks("flux-system", "./clusters/main"),
        "clusters/main/apps.yaml": _ks("apps", "./apps", components=["../components/creds"]),
        "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\n",
        "components/creds/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                               "resources: [secret.sops.yaml]\n",
        "components/creds/secret.sops.yaml": secret,
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    res = validate_paths([str(tmp_path / "clusters")], Options(repo_root=str(tmp_path), kustomize="never"))
    got = [(f.rule, f.file.endswith("clusters/main/apps.yaml"), "components/creds/secret.sops.yaml" in f.message)
           for f in res.findings if f.rule.startswith("flux.decryption")]
    assert got == [("flux.decryption", True, True)]


def test_empty_target_namespace_drops_the_root_namespace(tmp_path):
    """GenerateManifest sets kus.Namespace whenever spec.targetNamespace is a string, so ``targetNamespace: ""``
    removes the root kustomization's ``namespace:`` (kubectl kustomize then leaves each object's own namespace), while
    a nested kustomization's stays. The graph and the planner's generated kustomization say the same."""
    app = tmp_path / "app"
    (app / "nested").mkdir(parents=True)
    (app / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                            "namespace: media\nresources: [cm.yaml, nested]\n")
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: own\n")
    (app / "nested/kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                   "namespace: inner\nresources: [cm.yaml]\n")
    (app / "nested/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n")
    run = Run(Options(repo_root=str(tmp_path), kustomize="never"))
    tree = resolve.Tree(tmp_path, run)

    def applied(**spec):
        m = fluxmodel.kustomization(_flux_ks(**spec))
        return sorted((f.relative_to(app).as_posix(), ns) for f, ns, _ in tree.flux_applied(app, m))

    assert applied() == [("cm.yaml", "media"), ("nested/cm.yaml", "media")]
    assert applied(targetNamespace="") == [("cm.yaml", ""), ("nested/cm.yaml", "inner")]
    import json

    b = kustomize.plan(tmp_path, app, _flux_ks(targetNamespace=""), run.kfiles, run.real)
    assert json.loads(b.generated)["namespace"] == ""
    (app / "kustomization.yaml").write_text(b.generated)  # what the planner hands to the real kustomize
    out = subprocess.run([require_kubectl(), "kustomize", str(app)], capture_output=True, text=True, check=True).stdout
    built = {d["metadata"]["name"]: d["metadata"].get("namespace") for d in yaml.safe_load_all(out)}
    assert built == {"a": "own", "b": "inner"}


def test_graph_and_planner_share_one_confined_parse(tmp_path):
    """The graph's Tree and the planner read a kustomization through one parse (resolve.read_kfile, memoised in
    Run.kfiles), inside the run's boundary: a kustomization.yaml linking out of the repository is never opened by
    either (safefile refuses it), so the graph does not follow what it lists."""
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "app").mkdir(parents=True)
    outside.mkdir()
    (outside / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                "namespace: stolen\nresources: [cm.yaml]\n")
    (repo / "app/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
    (repo / "app/kustomization.yaml").symlink_to(outside / "kustomization.yaml")
    (repo / "ok").mkdir()
    (repo / "ok/kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                "resources: [../app/cm.yaml]\n")
    run = Run(Options(repo_root=str(repo), kustomize="never"))
    run.boundary = repo
    tree = resolve.Tree(repo, run)
    assert tree.kustomization(repo / "app") == ({}, repo / "app/kustomization.yaml")
    assert tree.applied(repo / "app") == []
    assert [f.name for f in tree.applied_files(repo / "ok")] == ["cm.yaml"]
    assert run.kfiles[run.real(repo / "ok/kustomization.yaml")] is not None  # the planner finds it parsed
    assert str(outside) not in "".join(map(str, run.texts))


def test_a_substituted_scalar_is_read_again_through_the_projects_limits():
    """The controller parses the substituted object again (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go
    SubstituteVariables → yaml.Unmarshal): a variable's value is repository text, read here through yamlsafe (its
    depth budget) like every file, so 20,000 nested brackets stay a string instead of exhausting the stack; a value
    that reads back as a number becomes one, as Go YAML resolves plain scalars (12:30 is a string there)."""
    deep = "[" * 20000 + "]" * 20000
    values = {"A": deep, "N": "42", "T": "12:30"}
    node = {"k": "${A}", "n": "${N}", "t": "${T}", "q": ["${UNSET}"]}
    assert resolve.substitute(node, lambda name: values.get(name, ""))
    assert node == {"k": deep, "n": 42, "t": "12:30", "q": [None]}
