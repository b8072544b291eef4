"""Flux graph options on the second committed example (clusters/lab-two): the repository's own source."""

from __future__ import annotations

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import REPO, VALIDATE_FIXTURES, require_kubectl, run_cli, write_tree

LAB_TWO = REPO / "clusters" / "lab-two"
EXTERNALS = ["Kustomization/storage/openebs-localpv", "Kustomization/observability/kube-prometheus-stack"]


def _run(tmp_path, **kw):
    return validate_paths([str(LAB_TWO / "k8s")], Options(cache_dir=str(tmp_path), kustomize="never",
                                                          repo_root=str(LAB_TWO), **kw))


def test_repo_source_is_the_repository(tmp_path):
    res = _run(tmp_path, externals=EXTERNALS, repo_sources=["GitRepository/flux-system/home-ops"])
    assert [f for f in res.findings if f.severity == "error"] == []


def test_unknown_source_is_reported_and_paths_not_checked(tmp_path):
    """Read by every Kustomization and declared nowhere, home-ops is inferred to be the repository's own source (made
    outside it); with an explicit --repo-source naming another, it is an unknown source and paths are not checked."""
    assert [f for f in _run(tmp_path, externals=EXTERNALS).findings if f.severity == "error"] == []
    res = _run(tmp_path, externals=EXTERNALS, repo_sources=["GitRepository/flux-system/flux-system"])
    assert {f.rule for f in res.findings if f.severity == "error"} == {"flux.source-ref"}
    assert all(f.pointer == "/spec/sourceRef/name" for f in res.findings if f.severity == "error")


def test_broken_path_with_the_repo_source(tmp_path):
    import shutil

    dst = tmp_path / "lab-two"
    shutil.copytree(LAB_TWO, dst)
    ks = next(dst.rglob("ks.yaml"))
    ks.write_text(ks.read_text().replace("velero/app\n", "velero/ap\n"))
    res = validate_paths([str(dst / "k8s")], Options(cache_dir=str(tmp_path / "c"), kustomize="never", repo_root=str(dst),
                                                     externals=EXTERNALS, repo_sources=["GitRepository/flux-system/home-ops"]))
    assert [f.rule for f in res.findings if f.severity == "error"] == ["flux.path"]


# --------------------------------------------------------------------------------------------------
# The controllers' lookups, on trees written for these tests (tests/validate/fixtures/flux/*)

import shutil  # noqa: E402

import pytest  # noqa: E402

FLUX = VALIDATE_FIXTURES / "flux"
TREES = ["guide", "home-ops", "cluster-template", "key-per-namespace", "substitution"]


def _tree(tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(FLUX / name, dst)
    return dst


def _check(root, *paths, notes: bool = False, **kw):
    """validate on ``paths`` of ``root``; without ``notes``, the note each disabled app of the trees gets
    (flux.not-applied: tests/validate/test_unapplied.py) is left out."""
    kw.setdefault("kustomize", "never")
    res = validate_paths([str(root / p) for p in (paths or ["kubernetes"])], Options(repo_root=str(root), **kw))
    if not notes:
        res.findings = [f for f in res.findings if f.rule != "flux.not-applied"]
    return res


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _line(path, marker):
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if marker in ln)


@pytest.mark.parametrize("name", TREES)
@pytest.mark.parametrize("sub", ["kubernetes", "kubernetes/apps"])
def test_correct_trees_have_no_flux_findings(tmp_path, name, sub):
    """Correct layouts (Flux guide, home-ops, cluster-template with --sops-age-secret, a key Secret per namespace
    from a component, postBuild substitution) give no finding, whether the whole tree or only the apps folder is
    validated: facts such as a root patch in kubernetes/flux come from the whole repository. A disabled app (left out
    of its parent's kustomization.yaml) is one note (validate/unapplied.py), never a finding that fails."""
    root = _tree(tmp_path, name)
    res = _check(root, sub, notes=True)
    assert [f for f in res.findings if (f.rule, f.severity) != ("flux.not-applied", "note")] == []


def test_parent_namespace_moves_the_kustomization_and_its_key_lookup(tmp_path):
    """Defect 1 of issue 9, put back by hand: a parent kustomization's `namespace:` overrides the Kustomization's
    metadata.namespace, and kustomize-controller reads decryption.secretRef from the Kustomization's own namespace
    (fluxcd/kustomize-controller@v1.9.4:internal/decryptor/decryptor.go ImportKeys: Namespace =
    d.kustomization.GetNamespace(); the generator sets the root namespace last:
    fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go). The key lives in flux-system
    (bootstrap/sops-age.sops.yaml), so the finding names file and line of secretRef."""
    root = _tree(tmp_path, "guide")
    parent = root / "kubernetes/apps/media/kustomization.yaml"
    _edit(parent, "resources:", "namespace: media\nresources:")
    res = _check(root, "kubernetes/apps")
    ks = root / "kubernetes/apps/media/db/ks.yaml"
    found = [f for f in res.findings if f.rule == "flux.decryption-secret" and f.file.endswith("db/ks.yaml")]
    assert len(found) == 1
    assert found[0].line == _line(ks, "name: sops-age") and found[0].pointer == "/spec/decryption/secretRef/name"
    assert "own namespace media" in found[0].message and "flux-system" in found[0].message
    assert "namespace: media" in found[0].message and "kustomization.yaml" in found[0].message


def test_dependson_without_namespace_resolves_in_the_dependents_namespace(tmp_path):
    """Defect 2 of issue 9: a dependency without namespace is looked up in the dependent Kustomization's own
    namespace (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies:
    depRef.Namespace = obj.GetNamespace()). web moves to media, db stays in flux-system: the lookup fails."""
    root = _tree(tmp_path, "guide")
    ks = root / "kubernetes/apps/media/web/ks.yaml"
    _edit(ks, "  namespace: flux-system\n", "  namespace: media\n")
    res = _check(root)
    dep = [f for f in res.findings if f.rule == "flux.depends-on"]
    assert [(f.file.endswith("web/ks.yaml"), f.line, f.pointer) for f in dep] == [(True, _line(ks, "- name: db"), "/spec/dependsOn/0/name")]
    assert "media/db" in dep[0].message and "set namespace: flux-system" in dep[0].message


def test_dependson_with_the_right_namespace_passes(tmp_path):
    """The same move with `namespace: flux-system` on the dependency resolves (negative of the test above)."""
    root = _tree(tmp_path, "guide")
    ks = root / "kubernetes/apps/media/web/ks.yaml"
    _edit(ks, "  namespace: flux-system\n", "  namespace: media\n")
    _edit(ks, "    - name: db\n", "    - name: db\n      namespace: flux-system\n")
    assert [f.rule for f in _check(root).findings] == ["flux.decryption-secret"]  # web itself now reads media/sops-age


def test_home_ops_dependency_in_another_namespace_is_reported(tmp_path):
    """home-ops layout: both Kustomizations are in media through the parent's namespace:; moving db's folder
    under another namespace breaks web's dependsOn (controller source as above)."""
    root = _tree(tmp_path, "home-ops")
    _edit(root / "kubernetes/apps/media/kustomization.yaml", "  - ./db/ks.yaml\n", "")
    (root / "kubernetes/apps/data").mkdir()
    (root / "kubernetes/apps/data/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: data\nresources:\n  - ../media/db/ks.yaml\n")
    res = _check(root)
    assert [f.rule for f in res.findings] == ["flux.depends-on"]
    assert "media/db" in res.findings[0].message and "is in data" in res.findings[0].message


def test_cluster_template_root_patch_with_secretref_in_app_namespaces_is_reported(tmp_path):
    """A root patch that injects secretRef into children living in app namespaces: each child reads the key from
    its own namespace (decryptor.go as above), reported on the child with the injecting Kustomization named.
    The cluster-template pattern (provider only, the controller's --sops-age-secret,
    fluxcd/kustomize-controller@v1.9.4:main.go) is clean (test_correct_trees_have_no_flux_findings)."""
    root = _tree(tmp_path, "cluster-template")
    _edit(root / "kubernetes/flux/cluster/ks.yaml", "          decryption:\n            provider: sops\n",
          "          decryption:\n            provider: sops\n            secretRef:\n              name: sops-age\n")
    res = _check(root, "kubernetes/apps")
    assert [(f.rule, f.file.endswith("db/ks.yaml")) for f in res.findings] == [("flux.decryption-secret", True)]
    assert "injected by the patches of Flux Kustomization flux-system/cluster-apps" in res.findings[0].message


def test_decryption_needed_unless_a_root_patch_injects_it(tmp_path):
    """Encrypted files under a path need decryption; the root patch of the cluster-template tree provides it
    (removing the patch brings the finding back, on the child's spec.path)."""
    root = _tree(tmp_path, "cluster-template")
    ks = root / "kubernetes/flux/cluster/ks.yaml"
    text = ks.read_text()
    ks.write_text(text[:text.index("  patches:")])
    res = _check(root, "kubernetes/apps")
    assert [(f.rule, f.pointer) for f in res.findings] == [("flux.decryption", "/spec/path")]


def test_key_per_namespace_missing_in_one_namespace(tmp_path):
    """The key Secret comes from a component in each namespace; a namespace without it fails the lookup."""
    root = _tree(tmp_path, "key-per-namespace")
    _edit(root / "kubernetes/apps/tools/kustomization.yaml", "components:\n  - ../../components/sops\n", "")
    res = _check(root)
    assert [(f.rule, f.file.endswith("tools/web/ks.yaml")) for f in res.findings] == [("flux.decryption-secret", True)]
    assert "is in flux-system, media" in res.findings[0].message


@pytest.mark.parametrize("ref,ok", [("", False), ("\n    namespace: flux-system", True)])
def test_helmrelease_chartref_defaults_to_its_own_namespace(tmp_path, ref, ok):
    """chartRef without namespace is read in the HelmRelease's namespace
    (fluxcd/helm-controller@v1.6.3:internal/controller/helmrelease_controller.go getSourceFromOCIRef)."""
    root = _tree(tmp_path, "guide")
    app = root / "kubernetes/apps/media/db/app"
    (app / "oci.yaml").write_text("apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: chart\n"
                                  "  namespace: flux-system\nspec:\n  interval: 1h\n  url: oci://ghcr.io/x/chart\n  ref:\n    tag: 1.0.0\n")
    (app / "hr.yaml").write_text("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: db\nspec:\n"
                                 f"  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: chart{ref}\n")
    _edit(app / "kustomization.yaml", "resources:\n", "resources:\n  - ./hr.yaml\n")
    _edit(root / "kubernetes/flux/cluster/ks.yaml", "spec:\n", "spec:\n")
    (root / "kubernetes/flux/cluster/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./ks.yaml\n  - ../../apps/media/db/app/oci.yaml\n")
    res = _check(root)
    rules = [f.rule for f in res.findings]
    assert rules == ([] if ok else ["flux.source-ref"]), res.findings
    if not ok:
        assert "media/chart" in res.findings[0].message and "set namespace: flux-system" in res.findings[0].message


@pytest.mark.parametrize("lockdown", [False, True])
def test_no_cross_namespace_refs(tmp_path, lockdown):
    """With --no-cross-namespace-refs kustomize-controller refuses a sourceRef in another namespace
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go getSource); the apps in
    media reading flux-system/flux-system are refused, the default is to allow."""
    root = _tree(tmp_path, "home-ops")
    res = _check(root, no_cross_namespace_refs=lockdown)
    got = sorted((f.rule, f.file.rsplit("/", 2)[-2]) for f in res.findings)
    assert got == ([("flux.cross-namespace", "db"), ("flux.cross-namespace", "web")] if lockdown else [])
    if lockdown:
        assert all(f.pointer == "/spec/sourceRef/namespace" for f in res.findings)


def test_cli_no_cross_namespace_refs(tmp_path):
    root = _tree(tmp_path, "home-ops")
    r = run_cli("validate", "kubernetes", "--kustomize", "never", "--no-cross-namespace-refs", cwd=root)
    assert r.code == 1 and r.out.count("flux.cross-namespace") + r.out.count("--no-cross-namespace-refs") >= 2, r.out


def test_substitution_validates_known_values_and_skips_unknown(tmp_path):
    """postBuild substitution runs before validation as Flux runs it (fluxcd/pkg@kustomize/v1.35.4:
    kustomize/kustomize_varsub.go: substitute overrides substituteFrom, envsubst only when there are variables,
    undefined variables are empty so `:=` defaults apply; the result is parsed as YAML again)."""
    root = _tree(tmp_path, "substitution")
    dep = root / "kubernetes/apps/media/web/app/deployment.yaml"
    from velero_gitops.validate import engine

    res = _check(root)
    assert res.findings == []
    _edit(root / "kubernetes/apps/media/web/ks.yaml", 'PORT: "8080"', "PORT: http")
    res = _check(root)
    assert [(f.rule, f.line) for f in res.findings] == [("schema", _line(dep, "containerPort"))]
    assert engine  # the module is what validate_paths ran


@pytest.mark.parametrize("kustomize", ["never", "auto"])
def test_substitution_of_a_quoted_number_is_a_number(tmp_path, kustomize):
    """Quotes in the source file do not survive: the controller substitutes the object as kustomize writes it out
    and parses the result again, so `value: "${TTL:=60}"` becomes the integer 60 (kustomize-controller@v1.9.4:
    docs/spec/v1/kustomizations.md "Post build substitution of numbers and booleans", fluxcd/pkg@kustomize/v1.35.4:
    kustomize/kustomize_varsub.go varSubstitution → yaml.YAMLToJSON). The documented ${quote} idiom keeps a string."""
    if kustomize == "auto":
        require_kubectl()
    root = _tree(tmp_path, "substitution")
    dep = root / "kubernetes/apps/media/web/app/deployment.yaml"
    assert _check(root, kustomize=kustomize).findings == []
    _edit(dep, "value: ${quote}${TTL:=60}${quote}", 'value: "${TTL:=60}"')
    res = _check(root, kustomize=kustomize)
    assert [(f.rule, f.line, f.message) for f in res.findings] == [
        ("schema", _line(dep, "${TTL"), "expected string, got integer 60")]


def test_substitution_unknown_value_leaves_type_unchecked(tmp_path):
    """A value from an encrypted substituteFrom Secret cannot be known: no type error on that field, while the
    same field with a literal wrong type is still reported."""
    root = _tree(tmp_path, "substitution")
    ks = root / "kubernetes/apps/media/web/ks.yaml"
    _edit(ks, "  postBuild:\n", "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: cluster-secrets\n")
    _edit(ks, '      PORT: "8080"\n', "")
    assert _check(root).findings == []
    dep = root / "kubernetes/apps/media/web/app/deployment.yaml"
    _edit(dep, "${PORT}", "eighty")
    assert [f.rule for f in _check(root).findings] == ["schema"]


def test_substitution_needs_variables(tmp_path):
    """Without any postBuild variable Flux substitutes nothing: `${REPLICAS:=1}` stays a string and is no
    integer, but that is left to the cluster (the value is a Flux expression: no type error)."""
    root = _tree(tmp_path, "substitution")
    ks = root / "kubernetes/apps/media/web/ks.yaml"
    _edit(ks, '  postBuild:\n    substitute:\n      APP: web\n      PORT: "8080"\n      quote: \'"\'\n', "")
    res = _check(root)
    assert [f.rule for f in res.findings] == []
    from velero_gitops.validate.documents import Reader
    assert "${" in (root / "kubernetes/apps/media/web/app/deployment.yaml").read_text() and Reader


def test_disabled_app_is_not_looked_up(tmp_path):
    """A Kustomization commented out of its kustomization.yaml is applied by nobody: its dangling dependsOn is
    not a finding; listed again, it is."""
    root = _tree(tmp_path, "substitution")
    assert _check(root).findings == []
    _edit(root / "kubernetes/apps/media/kustomization.yaml", "  # - ./old/ks.yaml", "  - ./old/ks.yaml")
    assert sorted(f.rule for f in _check(root).findings) == ["flux.depends-on", "flux.path"]


def test_real_world_classes(tmp_path):
    """Token-type and op:// Secrets hold nothing to encrypt; Alert eventSources of kind FluxInstance are what
    flux-operator adds to the Alert CRD (controlplaneio-fluxcd/flux-operator@v0.58.1:internal/builder/templates.go);
    a PrometheusRule outside the chart's dependency chain is no finding (its CRDs are often installed out of band);
    a Kubernetes kind newer than the bundle says what the bundle covers."""
    root = _tree(tmp_path, "real-world")
    res = _check(root)
    assert [(f.rule, f.file.rsplit("/", 1)[-1]) for f in res.findings] == [("schema.missing", "policy.yaml")]
    msg = res.findings[0].message
    assert "Kubernetes 1.35.0" in msg and "MutatingAdmissionPolicy only as admissionregistration.k8s.io/v1alpha1" in msg
    assert _check(root, ignore_missing_schemas=True).findings == []


def test_real_world_negatives(tmp_path):
    """The same files with real problems are still reported: a Secret whose values are all in clear, an Alert kind
    that no distribution has. (A literal beside a value drawn from 1Password is the author's split: policy.py
    holds_secret_data.)"""
    root = _tree(tmp_path, "real-world")
    _edit(root / "kubernetes/apps/onepassword.yaml", "token: op://Automation/1password connect/token", "token: hunter2")
    _edit(root / "kubernetes/apps/onepassword.yaml", "'op://Automation/1password connect/credentials'", "'{}'")
    _edit(root / "kubernetes/apps/alert.yaml", "kind: FluxInstance", "kind: FluxInstanse")
    res = _check(root, ignore_missing_schemas=True)
    assert sorted(f.rule for f in res.findings) == ["schema", "secret.unencrypted"]


# ---------------------------------------------------------------------------------------------- lessons from real repos
def test_oci_artifact_tree_is_clean(tmp_path):
    """flux-operator's FluxInstance syncs an OCIRepository named flux-system from an artifact pushed from
    ./kubernetes, so spec.path is relative to that folder (fluxcd/source-controller@v1.9.0:
    api/v1/ocirepository_types.go, the extracted layer is the artifact root). Child Kustomizations get interval
    and prune from the parent's patches (fluxcd/kustomize-controller@v1.9.4 builds with
    fluxcd/pkg@kustomize/v1.35.4: kustomize/kustomize_generator.go adds spec.patches and spec.components). A disabled app (commented out in the overlay) and an Ansible playbook are never applied."""
    root = _tree(tmp_path, "oci-artifact")
    res = _check(root, kustomize="auto")
    assert res.findings == []


def test_oci_artifact_active_app_is_still_checked(tmp_path):
    root = _tree(tmp_path, "oci-artifact")
    _edit(root / "kubernetes/apps/base/demo/web/app/configmap.yaml", "greeting: hello", "greeting: [a, b]")
    _edit(root / "kubernetes/clusters/main/ks.yaml", "path: ./apps/overlays/main", "path: ./apps/overlays/nope")
    res = _check(root, kustomize="auto")
    rules = sorted({f.rule for f in res.findings})
    assert "flux.path" in rules, res.findings
    res = _check(_tree(tmp_path / "again", "oci-artifact"), kustomize="auto")
    assert res.findings == []
    root2 = tmp_path / "again" / "oci-artifact"
    _edit(root2 / "kubernetes/apps/base/demo/web/app/configmap.yaml", "greeting: hello", "greeting: [a, b]")
    res = _check(root2, kustomize="auto")
    assert [f.file.endswith("web/app/configmap.yaml") for f in res.findings] == [True], res.findings


def test_oci_artifact_without_the_parent_patch_reports_missing_fields(tmp_path):
    root = _tree(tmp_path, "oci-artifact")
    ks = root / "kubernetes/clusters/main/ks.yaml"
    ks.write_text(ks.read_text().split("  patches:")[0])
    res = _check(root, kustomize="auto")
    assert any("interval" in f.message and "web" in (f.obj or "") for f in res.findings), res.findings


def test_non_object_yaml_is_judged_only_when_something_applies_it(tmp_path):
    root = _tree(tmp_path, "oci-artifact")
    assert _check(root, kustomize="auto").findings == []
    play = root / "kubernetes/provision/playbook.yml"
    (root / "kubernetes/provision/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - playbook.yml\n")
    _edit(root / "kubernetes/apps/overlays/main/kustomization.yaml", "resources:\n",
          "resources:\n  - ../../../provision\n")
    res = _check(root, kustomize="auto")
    assert any(f.file.endswith("provision/playbook.yml") and "not a mapping" in f.message for f in res.findings)
    assert any(f.rule == "kustomize" and "provision" in f.message for f in res.findings), res.findings
    assert play.exists()


def test_repository_read_through_a_source_of_another_name(tmp_path):
    """The Kustomizations read the repository through GitRepository flux-system/home-kubernetes: validate takes it
    as the repository's source, builds what it applies and leaves talos/ (never applied by Flux) alone."""
    root = _tree(tmp_path, "named-source")
    assert _check(root, kustomize="auto").findings == []
    forced = _check(root, kustomize="auto", repo_sources=["GitRepository/flux-system/flux-system"])
    assert any("cni" in f.message for f in forced.findings), forced.findings


# --------------------------------------------------------------------------------------------------
# Classes found on real repositories in the second sweep (each written here as a small case of our own)


@pytest.mark.parametrize("sub", ["kubernetes", "kubernetes/apps"])
@pytest.mark.parametrize("target,ok", [("", True), ("\n  target:\n    name: sops-age", True),
                                       ("\n  target:\n    name: other", False)])
def test_key_secret_made_by_an_external_secret(tmp_path, target, ok, sub):
    """An ExternalSecret makes the Secret spec.target.name, by default its own metadata.name
    (external-secrets/external-secrets@v2.9.0:apis/externalsecrets/v1/externalsecret_types.go
    ExternalSecretTarget.Name). A per-namespace key Secret made that way is found."""
    root = _tree(tmp_path, "key-per-namespace")
    comp = root / "kubernetes/components/sops"
    (comp / "sops-age.sops.yaml").unlink()
    name = "sops-age" if not target else "key-from-vault"
    (comp / "externalsecret.yaml").write_text(
        f"apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\nspec:{target}\n"
        "  secretStoreRef:\n    kind: ClusterSecretStore\n    name: vault\n  dataFrom:\n    - extract:\n        key: sops\n")
    _edit(comp / "kustomization.yaml", "./sops-age.sops.yaml", "./externalsecret.yaml")
    # validating only kubernetes/apps, the ExternalSecret is found by the repository scan (the producers' table)
    res = _check(root, sub, ignore_missing_schemas=True)
    rules = [f.rule for f in res.findings if f.severity == "error"]
    assert (rules == []) if ok else (set(rules) == {"flux.decryption-secret"}), res.findings


@pytest.mark.parametrize("patched", [False, True])
def test_parent_patch_sets_the_source_namespace(tmp_path, patched):
    """A parent Kustomization's spec.patches set defaults on its child Kustomizations (fluxcd/pkg
    kustomize/v1.35.4:kustomize_generator.go adds spec.patches to the build); a sourceRef namespace
    set that way counts, as the controller reads the patched object."""
    root = _tree(tmp_path, "key-per-namespace")
    _edit(root / "kubernetes/apps/media/db/ks.yaml", "    name: flux-system\n    namespace: flux-system\n",
          "    name: flux-system\n")
    if patched:
        _edit(root / "kubernetes/flux/cluster/ks.yaml", "          decryption:\n",
              "          sourceRef:\n            kind: GitRepository\n            name: flux-system\n"
              "            namespace: flux-system\n          decryption:\n")
    res = _check(root)
    rules = [f.rule for f in res.findings if f.severity == "error"]
    assert rules == ([] if patched else ["flux.source-ref"]), res.findings


@pytest.mark.parametrize("applied", [False, True])
def test_a_tool_config_with_its_own_tags(tmp_path, applied):
    """recyclarr's `!env_var` or Home Assistant's `!secret`: another tool's config is no finding while
    nothing applies it (a file left out of a configMapGenerator); applied as a resource, it is one."""
    root = _tree(tmp_path, "key-per-namespace")
    app = root / "kubernetes/apps/media/db/app"
    (app / "config").mkdir()
    (app / "config/radarr.yaml").write_text("radarr:\n  main:\n    base_url: http://radarr\n    api_key: !env_var RADARR_KEY\n")
    if applied:
        _edit(app / "kustomization.yaml", "  - ./configmap.yaml\n", "  - ./configmap.yaml\n  - ./config/radarr.yaml\n")
    res = _check(root)
    found = [(f.rule, f.line, "unknown tag !env_var" in f.message) for f in res.findings]
    assert found == ([("yaml", 4, True)] if applied else []), res.findings


# --------------------------------------------------------------------------------------------------
# One graph per cluster (issue 18 §6)


def test_each_cluster_looks_up_names_in_its_own_tree(tmp_path):
    """Two clusters bootstrapped from one repository (`flux bootstrap --path=clusters/<name>`: fluxcd/flux2@v2.7.5:
    pkg/manifestgen/sync/sync.go writes clusters/<name>/flux-system/gotk-sync.yaml, a GitRepository and a Kustomization
    both named flux-system) each run their own controllers: a dependsOn that only the other cluster's tree satisfies is missing
    (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies gets the object
    from its own API server)."""
    root = _tree(tmp_path, "multi-cluster")
    assert _check(root, "clusters", "apps", "infra").findings == []
    (root / "clusters/b/infra.yaml").unlink()
    res = _check(root, "clusters", "apps", "infra")
    assert [(f.file.endswith("clusters/b/apps.yaml"), f.rule) for f in res.findings] == [(True, "flux.depends-on")]
    assert "not in this cluster (rooted at " in res.findings[0].message


def test_sync_roots_of_different_names_are_different_clusters(tmp_path):
    """A cluster's sync Kustomization applies the folder holding its own file and nothing applies it
    (fluxcd/flux2@v2.7.5:pkg/manifestgen/sync/sync.go); its name is the user's choice (`flux create kustomization`
    by hand, or a renamed bootstrap). Each cluster's kustomize-controller keeps its own inventory
    (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go), so the same Kustomization name in
    two clusters' trees is two objects, not one applied twice."""
    root = _tree(tmp_path, "multi-cluster")
    sync = root / "clusters/b/flux-system/gotk-sync.yaml"
    sync.write_text(sync.read_text().replace("kind: Kustomization\nmetadata:\n  name: flux-system\n",
                                             "kind: Kustomization\nmetadata:\n  name: flux-deploy\n"))
    assert "name: flux-deploy" in sync.read_text()
    assert _check(root, "clusters", "apps", "infra").findings == []
    (root / "clusters/b/infra.yaml").unlink()  # still two clusters: b's dependsOn is not met by a's tree
    res = _check(root, "clusters", "apps", "infra")
    assert [(f.file.endswith("clusters/b/apps.yaml"), f.rule) for f in res.findings] == [(True, "flux.depends-on")]


# --------------------------------------------------------------------------------------------------
# One owner per object


@pytest.mark.parametrize("target,dup", [("media", True), ("other", False)])
def test_object_applied_by_two_kustomizations(tmp_path, target, dup):
    """Two Flux Kustomizations applying one object (same kind, namespace and name) take it from each other
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go: apply labels it with the
    Kustomization, prune deletes by inventory); in another targetNamespace it is another object."""
    root = _tree(tmp_path, "guide")
    media = root / "kubernetes/apps/media"
    (media / "db/ks2.yaml").write_text((media / "db/ks.yaml").read_text().replace("name: db\n", "name: db2\n", 1)
                                       .replace("targetNamespace: media", f"targetNamespace: {target}"))
    _edit(media / "kustomization.yaml", "  - ./db/ks.yaml\n", "  - ./db/ks.yaml\n  - ./db/ks2.yaml\n")
    res = _check(root)
    found = sorted((f.rule, f.obj) for f in res.findings)
    # one folder applied twice: identical copies, a warning; one finding for the overlap, naming every object
    assert found == ([("flux.duplicate-identical", "ConfigMap/media/db")] if dup else []), res.findings
    if dup:
        (f,) = res.findings
        assert f.message.startswith("ConfigMap media/db (targetNamespace of Flux Kustomization db) and 1 more object "
                                    "(Secret media/db-secret) are applied by Flux Kustomization flux-system/db and also "
                                    "by flux-system/db2 (identical copies"), f
        assert f.severity == "warning"


def test_copies_that_differ_are_an_error(tmp_path):
    """Two files declaring one object differently, applied by two Kustomizations: each apply sets its own version."""
    root = _tree(tmp_path, "guide")
    db = root / "kubernetes/apps/media/db"
    shutil.copytree(db / "app", db / "app2")
    (db / "app2/secret.sops.yaml").unlink()
    _edit(db / "app2/kustomization.yaml", "  - ./secret.sops.yaml\n", "")
    _edit(db / "app2/configmap.yaml", "  a: b\n", "  a: c\n")
    (db / "ks2.yaml").write_text((db / "ks.yaml").read_text().replace("name: db\n", "name: db2\n", 1)
                                 .replace("media/db/app\n", "media/db/app2\n"))
    _edit(root / "kubernetes/apps/media/kustomization.yaml", "  - ./db/ks.yaml\n", "  - ./db/ks.yaml\n  - ./db/ks2.yaml\n")
    res = _check(root)
    assert sorted((f.rule, f.severity, f.file.rsplit("/", 2)[-2]) for f in res.findings) == [
        ("flux.duplicate", "error", "app"), ("flux.duplicate", "error", "app2")], res.findings


@pytest.mark.parametrize("target,dup", [("media", True), ("other", False)])
def test_a_namespace_is_named_by_the_namespace_transformer(tmp_path, target, dup):
    """kustomize's namespace transformer sets the name of a Namespace (kubernetes-sigs/kustomize@kustomize/v5.7.1:
    api/internal/konfig/builtinpluginconsts/namespace.go: metadata/name of kind Namespace), and Flux's
    targetNamespace is that transformer (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go): a component's
    placeholder Namespace `_` included by two apps of one targetNamespace is one Namespace, named after it, applied
    twice (a fresh repository, fobiat, was told "Namespace default/_"). The tree's own Namespace media
    (kubernetes/apps/media/namespace.yaml, applied by cluster-apps, no transformer) is that Namespace as well: a
    third copy with either target (it was skipped while a Namespace without a transformer had no identity)."""
    root = _tree(tmp_path, "guide")
    db = root / "kubernetes/apps/media/db"
    shutil.copytree(db / "app", db / "app2")
    (db / "app2/secret.sops.yaml").unlink()
    (db / "app2/configmap.yaml").unlink()
    (db / "app/namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: _\n")
    (db / "app2/namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other-placeholder\n"
                                            "  labels:\n    pod-security.kubernetes.io/enforce: privileged\n")
    _edit(db / "app/kustomization.yaml", "  - ./configmap.yaml\n", "  - ./configmap.yaml\n  - ./namespace.yaml\n")
    (db / "app2/kustomization.yaml").write_text("resources:\n  - ./namespace.yaml\n")
    (db / "ks2.yaml").write_text((db / "ks.yaml").read_text().replace("name: db\n", "name: db2\n", 1)
                                 .replace("media/db/app\n", "media/db/app2\n")
                                 .replace("targetNamespace: media", f"targetNamespace: {target}"))
    _edit(root / "kubernetes/apps/media/kustomization.yaml", "  - ./db/ks.yaml\n", "  - ./db/ks.yaml\n  - ./db/ks2.yaml\n")
    res = _check(root)
    # without the labelled copy (other target), `_` renamed to media is the tree's own media, copy for copy
    assert sorted((f.rule, f.message.split(" (its file")[0].split(" is applied")[0].split(" and 1 more")[0])
                  for f in res.findings) == (
        [("flux.duplicate", "Namespace media")] * 3 if dup else [("flux.duplicate-identical", "Namespace media")]), \
        res.findings
    if dup:  # the written name is shown, and why it is not the name applied
        assert sorted(f.message.split(" is applied")[0] for f in res.findings) == [
            "Namespace media",
            "Namespace media (its file names it _: the namespace the Kustomization sets renames a Namespace)",
            "Namespace media (its file names it other-placeholder: the namespace the Kustomization sets renames a "
            "Namespace)"]


@pytest.mark.parametrize("name,dup", [("fleet", False), ("flux-system", True)])
def test_two_declarations_of_one_kustomization_are_one_owner(tmp_path, name, dup):
    """An owner is a Kustomization on the cluster, its namespace/name: the API server holds one object per name, and
    kustomize-controller labels what it applies with that name and namespace (fluxcd/kustomize-controller@v1.9.4:
    internal/controller/kustomization_controller.go SetOwnerLabels(objects, obj.GetName(), obj.GetNamespace()), prune
    Inclusions GetOwnerLabels). Bootstrap's gotk-sync.yaml kept beside a FluxInstance whose sync the operator names
    like it (controlplaneio-fluxcd/flux-operator@v0.58.1:api/v1/fluxinstance_types.go Sync.Name, "the namespace name
    of the FluxInstance" when unset) declares one Kustomization twice: nothing is applied by two owners. A sync copy
    under another name is a second Kustomization applying the same folder: every object there is duplicated."""
    root = _tree(tmp_path, "flux-operator")
    sync = root / "clusters/prod/flux-system"
    sync.mkdir()
    (sync / "kustomization.yaml").write_text("resources:\n  - ./gotk-sync.yaml\n")
    (sync / "gotk-sync.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: flux-system\n"
        "spec:\n  interval: 1m0s\n  ref:\n    branch: main\n  url: https://example.com/fleet.git\n---\n"
        f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
        "  namespace: flux-system\nspec:\n  interval: 10m0s\n  path: ./clusters/prod\n  prune: true\n  sourceRef:\n"
        "    kind: GitRepository\n    name: fleet\n")
    res = _check(root, ".", ignore_missing_schemas=True)
    found = sorted({(f.rule, f.obj) for f in res.findings})
    assert found == ([("flux.duplicate-identical", "Kustomization/flux-system/apps")] if dup else []), res.findings
    if dup:  # the overlap is one finding, naming every object both apply
        assert "and 2 more objects (FluxInstance flux-system/flux, GitRepository flux-system/fleet)" in \
            res.findings[0].message, res.findings


@pytest.mark.parametrize("folder", ["apps", "zapps"])  # read before, and after, clusters/flux-system
def test_a_kustomization_that_applies_its_own_file_is_named_where_it_lives(tmp_path, folder):
    """`flux bootstrap`'s root builds ./clusters, which holds an app's own Flux Kustomization beside the app's objects
    (adopting hmajid2301's repository): the root applies them, and so does the app's Kustomization, whose folder
    holds its own manifest. That Kustomization lives where the root put it (flux-system); its targetNamespace moves
    the objects it builds (and makes a copy of itself there), not itself. kustomize-controller labels what it
    applies with the Kustomization's own name and namespace (fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go, SetOwnerLabels(objects, obj.GetName(), obj.GetNamespace())): the owners named are
    flux-system/app and flux-system/flux-system, never prod/app."""
    root = tmp_path / "repo"
    write_tree(root, {
        ".git/HEAD": "ref: refs/heads/main\n",
        "clusters/flux-system/kustomization.yaml": "resources:\n  - gotk-sync.yaml\n",
        "clusters/flux-system/gotk-sync.yaml":
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
            "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: https://example.com/r.git\n"
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n"
            "  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./clusters\n  prune: true\n  sourceRef:\n"
            "    kind: GitRepository\n    name: flux-system\n",
        "clusters/kustomization.yaml": f"resources:\n  - flux-system\n  - {folder}/app\n",
        f"clusters/{folder}/app/kustomization.yaml": "resources:\n  - configmap.yaml\n  - ks.yaml\n",
        f"clusters/{folder}/app/configmap.yaml":
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: prod\ndata:\n  a: b\n",
        f"clusters/{folder}/app/ks.yaml":
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n"
            f"  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./clusters/{folder}/app\n  prune: true\n"
            "  targetNamespace: prod\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
            "    namespace: flux-system\n",
    })
    res = _check(root, "clusters", ignore_missing_schemas=True)
    dup = [f for f in res.findings if f.rule.startswith("flux.duplicate")]
    assert [f.obj for f in dup] == ["ConfigMap/prod/app"], res.findings
    owners = dup[0].message.split("applied by Flux Kustomization ", 1)[1].split(" (", 1)[0].split(" and also by ")
    assert sorted(owners) == ["flux-system/app", "flux-system/flux-system"], dup[0].message


def test_generated_kustomization_applies_sub_folders_that_have_their_own(tmp_path):
    """Without a kustomization.yaml, Flux generates one listing every manifest and every sub-folder that holds a
    kustomization.yaml (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go Generate/scanManifests): the
    parent then applies the app folder too, and the app's own Kustomization fights it for the objects that name
    their namespace (without one, the parent's copy lands elsewhere: another object)."""
    root = _tree(tmp_path, "guide")
    (root / "kubernetes/apps/media/kustomization.yaml").unlink()
    assert [f for f in _check(root).findings if f.rule.startswith("flux.duplicate")] == []
    _edit(root / "kubernetes/apps/media/db/app/configmap.yaml", "  name: db\n", "  name: db\n  namespace: media\n")
    res = _check(root)
    assert [f.obj for f in res.findings if f.rule.startswith("flux.duplicate")] == ["ConfigMap/media/db"], res.findings


# --------------------------------------------------------------------------------------------------
# Class A: the repository's own source under another name, from a FluxInstance


@pytest.mark.parametrize("sub", [".", "apps"])
def test_flux_instance_sync_is_the_cluster_root(tmp_path, sub):
    """flux-operator makes a GitRepository and a Kustomization, both named like spec.sync (sync.name, else the
    instance's namespace), the Kustomization reading sync.path with prune (controlplaneio-fluxcd/flux-operator@v0.58.1:
    internal/builder/templates.go syncTmpl; internal/controller/fluxinstance_controller.go syncName). That source is
    the repository; the parent's patches give its children prune and sourceRef (applied as the controller applies
    them), whether the whole tree or only apps/ is validated."""
    root = _tree(tmp_path, "flux-operator")
    res = _check(root, sub, ignore_missing_schemas=True)
    assert res.findings == []
    (root / "clusters/prod/flux-instance.yaml").unlink()
    res = _check(root, sub, ignore_missing_schemas=True)  # nothing says that `fleet` is this repository
    assert "flux.source-ref" in {f.rule for f in res.findings} or sub == "apps", res.findings
    assert res.findings


def test_a_chart_rendered_instance_and_a_second_name_of_its_source(tmp_path):
    """The cluster's FluxInstance is rendered by flux-operator's flux-instance chart from values a configMapGenerator
    makes (valuesFrom), and the tree under its sync path reads the repository through a GitRepository of another name
    (``fleet``) declared there with the same URL and branch; a Kustomization reads the operator-made source by its
    name, flux-system (the sync name defaults to the instance's namespace: controlplaneio-fluxcd/flux-operator@v0.58.1:
    internal/controller/fluxinstance_controller.go syncName, internal/builder/templates.go syncTmpl sets the Git
    ref.name from sync.ref). The guess of the repository's sources sees the instance as the graph does (its values
    included), so ``fleet`` is this repository and the apps are checked: a wrong value is an error, not a note on a
    tree "not applied by any Flux Kustomization" (seen on a public repository: the whole kubernetes/apps)."""
    root = _tree(tmp_path, "flux-operator")
    (root / "clusters/prod/flux-instance.yaml").unlink()
    (root / "clusters/prod/fleet.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: flux-system\n"
        "spec:\n  interval: 1h\n  ref:\n    branch: main\n  url: ssh://git@example.com/fleet.git\n")
    fi = root / "apps/flux-instance"
    (fi / "app").mkdir(parents=True)
    (fi / "ks.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-instance\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./apps/flux-instance/app\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
    (fi / "app/kustomization.yaml").write_text(
        "namespace: flux-system\nresources:\n  - ./release.yaml\ngeneratorOptions:\n  disableNameSuffixHash: true\n"
        "configMapGenerator:\n  - name: flux-instance-values\n    files:\n      - values.yaml=./values.yaml\n")
    (fi / "app/release.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: flux-instance\nspec:\n"
        "  interval: 1h\n  ref:\n    tag: 0.49.0\n  url: oci://ghcr.io/controlplaneio-fluxcd/charts/flux-instance\n---\n"
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: flux-instance\nspec:\n"
        "  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: flux-instance\n  valuesFrom:\n"
        "    - kind: ConfigMap\n      name: flux-instance-values\n")
    (fi / "app/values.yaml").write_text(
        "instance:\n  distribution:\n    version: 2.7.x\n  sync:\n    kind: GitRepository\n"
        "    url: https://example.com/fleet\n    ref: refs/heads/main\n    path: clusters/prod\n")
    _edit(root / "apps/kustomization.yaml", "  - ./web/ks.yaml\n", "  - ./web/ks.yaml\n  - ./flux-instance/ks.yaml\n")
    assert _check(root, ".", ignore_missing_schemas=True).findings == []
    _edit(root / "apps/web/app/configmap.yaml", "  greeting: hello\n", "  greeting: 1\n")
    res = _check(root, ".", ignore_missing_schemas=True)
    assert [(f.rule, f.severity) for f in res.findings] == [("schema", "error")], res.findings


def test_parent_patch_json6902(tmp_path):
    """A JSON 6902 patch of the parent sets the child's fields too (RFC 6902 add on an existing /spec)."""
    root = _tree(tmp_path, "flux-operator")
    apps = root / "clusters/prod/apps.yaml"
    text = apps.read_text()
    start = text.index("    - patch: |-")
    apps.write_text(text[:start] + "    - patch: |-\n        - op: add\n          path: /spec/prune\n          value: true\n"
                    "        - op: add\n          path: /spec/sourceRef\n          value:\n            kind: GitRepository\n"
                    "            name: fleet\n            namespace: flux-system\n      target:\n        kind: Kustomization\n")
    assert _check(root, "apps", ignore_missing_schemas=True).findings == []


# --------------------------------------------------------------------------------------------------
# The question adoption asks: is this file applied by Flux from the cluster's sync?


def test_applied_from_sync(tmp_path):
    """Bootstrap's Kustomization applies its own folder (fluxcd/flux2@v2.7.5: pkg/manifestgen/sync/sync.go,
    path: clusters/<name>); a FluxInstance's sync Kustomization reads sync.path (flux-operator@v0.58.1:
    internal/builder/templates.go). A file is applied from the sync when a chain of Kustomizations reaches it."""
    from velero_gitops.validate.engine import flux_graph

    root = _tree(tmp_path, "multi-cluster")
    g = flux_graph(root)
    [apps] = g.applied_from_sync(root / "apps/a/web/configmap.yaml")
    assert (apps.name, apps.path.name) == ("apps", "apps.yaml") and "clusters/a" in str(apps.path)
    (root / "apps/a/orphan").mkdir()
    (root / "apps/a/orphan/ks.yaml").write_text((root / "clusters/a/apps.yaml").read_text().replace("name: apps", "name: orphan"))
    g = flux_graph(root)
    # apps/a has no kustomization.yaml: the generated one holds every file below, the new Kustomization's own too
    assert sorted(k.name for k in g.applied_from_sync(root / "apps/a/orphan/ks.yaml")) == ["apps", "orphan"]
    assert g.applied_from_sync(root / "infra/openebs/nowhere.yaml") == []

    root = _tree(tmp_path, "flux-operator")
    g = flux_graph(root)
    assert [k.name for k in g.applied_from_sync(root / "apps/web/app/configmap.yaml")] == ["web"]
    assert [k.name for k in g.applied_from_sync(root / "apps/web/ks.yaml")] == ["apps"]
    (root / "apps/kustomization.yaml").write_text("resources: []\n")  # the app is no longer listed
    assert flux_graph(root).applied_from_sync(root / "apps/web/ks.yaml") == []


# --------------------------------------------------------------------------------------------------
# Class B: what Flux never applies is not checked, the same way for schemas and lookups


def test_app_disabled_in_a_parent_is_not_checked(tmp_path):
    """`# - ./web` in the parent's kustomization.yaml disables the app while its own folder still lists ks.yaml:
    Flux never applies it, so neither its Kustomization (which relies on the parent's patches for prune and
    sourceRef) nor the HelmRelease inside (whose HelmRepository went with it) is checked. Enabled again, both are."""
    root = _tree(tmp_path, "flux-operator")
    web = root / "apps/web"
    _edit(web / "ks.yaml", "  targetNamespace: default\n", "  targetNamespace: default\n  dependsOn:\n    - name: gone\n")
    (web / "app/helmrelease.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n  interval: 1h\n"
        "  chart:\n    spec:\n      chart: web\n      sourceRef:\n        kind: HelmRepository\n        name: gone\n")
    _edit(web / "app/kustomization.yaml", "  - ./configmap.yaml\n", "  - ./configmap.yaml\n  - ./helmrelease.yaml\n")
    (web / "kustomization.yaml").write_text("resources:\n  - ./ks.yaml\n")
    enabled = {f.rule for f in _check(root, ".", ignore_missing_schemas=True).findings}
    assert enabled == {"flux.depends-on", "flux.source-ref"}
    _edit(root / "apps/kustomization.yaml", "  - ./web/ks.yaml\n", "  # - ./web\n")
    for sub in (".", "apps", "apps/web"):
        res = _check(root, sub, ignore_missing_schemas=True)
        assert res.findings == [], (sub, res.findings)


@pytest.mark.parametrize("sub", [".", "apps"])
def test_chart_source_made_by_a_component(tmp_path, sub):
    """Class D: spec.components of a Flux Kustomization are added to the build of its path (fluxcd/pkg@kustomize/
    v1.35.4:kustomize/kustomize_generator.go, components relative to spec.path), so an OCIRepository a component
    makes lands in the app's namespace (targetNamespace) and the HelmRelease's chartRef finds it there."""
    root = _tree(tmp_path, "component-source")
    assert _check(root, sub, ignore_missing_schemas=True).findings == []
    _edit(root / "apps/web/ks.yaml", "  components:\n    - ../../../components/oci-chart\n", "")
    shutil.rmtree(root / "components")  # (an object nothing applies may be applied by hand: it would still count)
    res = _check(root, sub, ignore_missing_schemas=True)
    assert [(f.rule, f.pointer) for f in res.findings] == [("flux.source-ref", "/spec/chartRef/name")], res.findings


def test_a_kustomization_flux_never_applies_applies_nothing(tmp_path):
    """A leftover ks.yaml that no kustomization.yaml lists is never applied, so it applies nothing: no duplicate
    with the Kustomization that does apply the folder (seen in a public repository: an old app ks.yaml next to the
    app's manifests)."""
    root = _tree(tmp_path, "guide")
    db = root / "kubernetes/apps/media/db"
    (db / "app/ks.yaml").write_text((db / "ks.yaml").read_text().replace("name: db\n", "name: leftover\n", 1))
    assert _check(root).findings == []
    _edit(db / "app/kustomization.yaml", "  - ./configmap.yaml\n", "  - ./configmap.yaml\n  - ./ks.yaml\n")
    assert "flux.duplicate-identical" in {f.rule for f in _check(root).findings}


def test_clusters_synced_by_flux_instances_kept_in_their_own_trees(tmp_path):
    """A FluxInstance applied by a Kustomization its own sync reaches (a cycle, seen in a public repository) is still
    its cluster's root: the two clusters stay apart."""
    root = _tree(tmp_path, "multi-cluster")
    for c in ("a", "b"):
        shutil.rmtree(root / f"clusters/{c}/flux-system")
        (root / f"apps/{c}/flux-instance.yaml").write_text(
            "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata:\n  name: flux\n  namespace: flux-system\n"
            f"spec:\n  distribution:\n    version: 2.7.x\n  sync:\n    kind: GitRepository\n    url: https://example.com/x\n"
            f"    ref: refs/heads/main\n    path: clusters/{c}\n")
    assert _check(root, "clusters", "apps", "infra", ignore_missing_schemas=True).findings == []
    (root / "clusters/b/infra.yaml").unlink()
    res = _check(root, "clusters", "apps", "infra", ignore_missing_schemas=True)
    assert [(f.file.endswith("clusters/b/apps.yaml"), f.rule) for f in res.findings] == [(True, "flux.depends-on")]


# --------------------------------------------------------------------------------------------------
# Classes found on the first half of the sweep (each reproduced here on a tree of our own)


def test_parent_patch_target_namespace_selects(tmp_path):
    """A patch target's namespace is an anchored regular expression like its name (kubernetes-sigs/kustomize@
    kustomize/v5.7.1:api/types/selector.go): decryption patched into flux-system's Kustomizations only does not
    reach an app Kustomization in its own namespace."""
    root = _tree(tmp_path, "key-per-namespace")
    ks = root / "kubernetes/flux/cluster/ks.yaml"
    _edit(ks, "      target:\n        kind: Kustomization\n", "      target:\n        kind: Kustomization\n        namespace: flux-system\n")
    rules = {f.rule for f in _check(root).findings}
    assert "flux.decryption-secret" not in rules  # the app Kustomizations (media, tools) get no secretRef


def test_kustomization_patches_apply_to_its_objects(tmp_path):
    """A Flux Kustomization's spec.patches patch what it applies (added to the kustomization it builds, before
    substitution: kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go, fluxcd/pkg@kustomize/
    v1.35.4:kustomize/kustomize_generator.go): a default it patches in satisfies the schema without a build."""
    root = _tree(tmp_path, "flux-operator")
    _edit(root / "apps/web/app/configmap.yaml", "data:\n  greeting: hello\n", "data:\n  greeting: 1\n")
    assert [f.rule for f in _check(root, ".", ignore_missing_schemas=True).findings] == ["schema"]
    _edit(root / "apps/web/ks.yaml", "  targetNamespace: default\n", "  targetNamespace: default\n  patches:\n"
          "    - patch: |-\n        apiVersion: v1\n        kind: ConfigMap\n        metadata:\n          name: web\n"
          "        data:\n          greeting: hi\n      target:\n        kind: ConfigMap\n")
    assert _check(root, ".", ignore_missing_schemas=True).findings == []


def test_a_name_substituted_per_kustomization(tmp_path):
    """A component shared by many apps names its object `${CHART:=app-template}`: each applying Kustomization
    substitutes its own value, so each app's chartRef finds its own OCIRepository."""
    root = _tree(tmp_path, "component-source")
    _edit(root / "components/oci-chart/ocirepository.yaml", "  name: app-template\n", "  name: ${CHART:=app-template}\n")
    _edit(root / "apps/web/ks.yaml", "  targetNamespace: default\n",
          "  targetNamespace: default\n  postBuild:\n    substitute:\n      CHART: web-chart\n")
    _edit(root / "apps/web/app/helmrelease.yaml", "    name: app-template\n", "    name: web-chart\n")
    assert _check(root, ".", ignore_missing_schemas=True).findings == []


def test_with_the_sync_in_the_repository_what_it_does_not_reach_is_not_checked(tmp_path):
    """Bootstrap's Kustomization is in the repository: a template folder nothing reaches is never applied (no finding,
    not a manifest), while the same file reached from the sync is checked."""
    root = _tree(tmp_path, "multi-cluster")
    (root / "templates").mkdir()
    (root / "templates/ks.yaml").write_text("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
                                            "metadata:\n  name: ${APP}\nspec:\n  path: ./apps/${APP}\n")
    assert _check(root, ".").findings == []
    shutil.copy(root / "templates/ks.yaml", root / "clusters/a/template.yaml")
    assert {f.rule for f in _check(root, ".").findings} == {"schema"}


@pytest.mark.parametrize("readers,found", [(3, False), (1, True)])
def test_repository_source_made_outside_the_repository(tmp_path, readers, found):
    """The sync source is made outside the repository (bootstrap, a FluxInstance rendered by a chart) and named
    otherwise: read by most Kustomizations, it is the repository's own; read by one, it is a typo to report."""
    root = _tree(tmp_path, "flux-operator")
    (root / "clusters/prod/flux-instance.yaml").unlink()
    extra = root / "clusters/prod/more.yaml"
    extra.write_text("".join(
        f"---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: more{i}\n"
        f"  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./apps/web/app\n  prune: true\n  targetNamespace: ns{i}\n"
        "  sourceRef:\n    kind: GitRepository\n    name: fleet\n" for i in range(readers - 1)) or "{}\n")
    if readers == 1:
        _edit(root / "clusters/prod/apps.yaml", "    name: fleet\n  patches:", "    name: flux-system\n  patches:")
    res = _check(root, ".", ignore_missing_schemas=True)
    assert ("flux.source-ref" in {f.rule for f in res.findings}) == found, res.findings


def test_spec_path_is_relative_to_the_repository_root(tmp_path):
    """A nested folder with its own .sops.yaml is no root: spec.path is relative to the source's root (seen in a
    public repository: ./vars next to clusters/prod/vars)."""
    from velero_gitops.validate.engine import flux_graph

    root = _tree(tmp_path, "multi-cluster")
    (root / ".sops.yaml").write_text("creation_rules: []\n")
    (root / "clusters/a/.sops.yaml").write_text("creation_rules: []\n")
    for d in (root / "vars", root / "clusters/a/vars"):
        d.mkdir()
        (d / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v\n  namespace: default\n")
    (root / "clusters/a/vars.yaml").write_text((root / "clusters/a/infra.yaml").read_text()
                                               .replace("name: openebs", "name: vars").replace("./infra/openebs", "./vars"))
    g = flux_graph(root)
    assert [k.name for k in g.applied_from_sync(root / "vars/cm.yaml")] == ["vars"]
    assert [k.name for k in g.applied_from_sync(root / "clusters/a/vars/cm.yaml")] == ["flux-system"]


@pytest.mark.parametrize("url,checked", [("https://example.com/fleet.git", True), ("https://example.com/other", False)])
def test_a_second_source_of_the_same_repository(tmp_path, url, checked):
    """A second GitRepository with the repository's URL (another interval or ref) reads this repository too: the
    Kustomizations reading it are checked on disk like the others (ssh://git@host/x and https://host/x.git are one)."""
    root = _tree(tmp_path, "multi-cluster")
    (root / "clusters/a/slow.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: slow\n  namespace: flux-system\n"
        f"spec:\n  interval: 1h\n  ref:\n    branch: main\n  url: {url}\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: slow\n  namespace: flux-system\n"
        "spec:\n  interval: 1h\n  path: ./apps/missing\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: slow\n")
    res = _check(root, "clusters", "apps", "infra")
    assert [f.rule for f in res.findings] == (["flux.path"] if checked else []), res.findings


def test_repository_source_is_guessed_per_cluster(tmp_path):
    """Each cluster runs its own controllers and reads its repository through its own flux-system's source
    (fluxcd/flux2@v2.7.5:pkg/manifestgen/sync/sync.go names bootstrap's GitRepository flux-system; `flux create
    source git home-ops` names another): cluster b reads its repository as GitRepository flux-system/home-ops, cluster
    a as flux-system/flux-system. The guess is made per cluster graph, so b's paths are checked against b's own root
    (its .sops.yaml), and a Kustomization of cluster a that reads b's source name is still an unknown source there.
    The project's own clusters/ (home-lab reads flux-system, lab-two home-ops) is the real case."""
    root = _tree(tmp_path, "two-repositories")

    def run():
        return validate_paths([str(root / "a"), str(root / "b")], Options(kustomize="never"))

    assert run().findings == []
    _edit(root / "b/k8s/apps/ks.yaml", "path: ./k8s/apps/app\n", "path: ./k8s/apps/ap\n")
    res = run()
    assert [(f.rule, f.file.endswith("b/k8s/apps/ks.yaml")) for f in res.findings] == [("flux.path", True)]
    assert "(root " in res.findings[0].message and res.findings[0].message.rstrip(")").endswith("/b")
    _edit(root / "b/k8s/apps/ks.yaml", "path: ./k8s/apps/ap\n", "path: ./k8s/apps/app\n")
    _edit(root / "a/kubernetes/apps/ks.yaml", "name: flux-system\n  targetNamespace: extra",
          "name: home-ops\n  targetNamespace: extra")
    res = run()
    assert [(f.rule, f.file.endswith("a/kubernetes/apps/ks.yaml")) for f in res.findings] == [("flux.source-ref", True)]
    project = validate_paths([str(REPO / "clusters")], Options(kustomize="never"))
    assert [f.message for f in project.findings if f.rule in ("flux.source-ref", "flux.path")] == []


def _apps_tree(root, n):
    """n apps as home-ops lays them out: kubernetes/apps/<ns>/<app>/ks.yaml (a Flux Kustomization with postBuild
    substituteFrom) applying ./app (a kustomization.yaml and a ConfigMap), listed by the namespace's
    kustomization.yaml, and one cluster-settings ConfigMap."""
    apps = root / "kubernetes" / "apps"
    for i in range(n):
        ns = apps / f"ns{i % 10}"
        app = ns / f"app{i}"
        (app / "app").mkdir(parents=True)
        (app / "ks.yaml").write_text(
            f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app{i}\n"
            f"  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/apps/ns{i % 10}/app{i}/app\n"
            "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
            f"  targetNamespace: ns{i % 10}\n  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n"
            "        name: cluster-settings\n")
        (app / "app" / "kustomization.yaml").write_text("resources:\n  - ./configmap.yaml\n")
        (app / "app" / "configmap.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app{i}\ndata:\n  domain: ${{DOMAIN}}\n")
    for d in sorted(apps.iterdir()):
        (d / "kustomization.yaml").write_text("resources:\n" + "".join(f"  - ./{a.name}/ks.yaml\n" for a in sorted(d.iterdir())))
    (root / "kubernetes" / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n  namespace: flux-system\ndata:\n"
        "  DOMAIN: example.org\n")
    (root / ".sops.yaml").write_text("creation_rules: []\n")


def test_graph_work_is_linear(tmp_path, monkeypatch):
    """Issue 23: the graph's work per object does not grow with the repository. Counted, not timed: how often an
    object's kind is asked (every scan over the repository's objects asks it) and how often a folder is asked for its
    kustomization.yaml. At 4x the apps, at most 4.5x the work; it was quadratic (each substitution scanned every object
    for its substituteFrom ConfigMap, each unapplied file rescanned what the folders above it apply)."""
    from velero_gitops.validate import documents

    counts = {"kind": 0}
    kind = documents.Obj.kind

    def counted(self):
        counts["kind"] += 1
        return kind.fget(self)

    monkeypatch.setattr(documents.Obj, "kind", property(counted))
    work = []
    for n in (40, 160):
        root = tmp_path / f"r{n}"
        _apps_tree(root, n)
        for i in range(n):  # a file in each app's folder that no kustomization.yaml lists: not applied
            (root / f"kubernetes/apps/ns{i % 10}/app{i}/notes.yaml").write_text(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes{i}\n")
        counts["kind"] = 0
        res = validate_paths([str(root / "kubernetes")], Options(repo_root=str(root), kustomize="never"))
        assert res.findings == []
        work.append(counts["kind"])
    assert work[0] > 0 and work[1] <= 4.5 * work[0], work


def test_a_hand_applied_root_naming_its_kustomizations_like_the_synced_one_is_another_cluster(tmp_path):
    """staging is bootstrapped (its gotk-sync applies clusters/staging); production's root is applied by hand and
    reaches its own `infra-alerts`, a different object of the same namespace/name as staging's. One cluster's
    kustomize-controller holds one object per namespace/name (kustomize-controller@v1.9.4
    internal/controller/kustomization_controller.go keys the inventory on it), so the two trees are two clusters and
    the alert both overlays apply from one base is not applied twice. From a held-out repository, after the
    measurement."""
    from cli_util import write_tree

    def ks(name: str, path: str) -> str:
        return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
                f"  namespace: flux-system\nspec:\n  interval: 1h\n  path: {path}\n  prune: true\n"
                "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")

    alert = ("apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata:\n  name: discord\n"
             "  namespace: flux-system\nspec:\n  providerRef:\n    name: discord\n  eventSources:\n"
             "    - kind: Kustomization\n      name: '*'\n")
    root = write_tree(tmp_path / "repo", {
        "flux/clusters/staging/flux-system/gotk-sync.yaml": (
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
            "  namespace: flux-system\nspec:\n  interval: 1h\n  url: ssh://git@example.org/home-ops\n"
            "  ref:\n    branch: main\n---\n" + ks("flux-system", "./flux/clusters/staging")),
        "flux/clusters/staging/infrastructure.yaml": ks("infra", "./flux/infrastructure/overlays/staging"),
        "flux/clusters/production/infrastructure.yaml": ks("infra", "./flux/infrastructure/overlays/production"),
        "flux/infrastructure/overlays/staging/alerts.yaml": ks("infra-alerts", "./flux/infrastructure/base/alerts"),
        "flux/infrastructure/overlays/production/alerts.yaml": ks("infra-alerts", "./flux/infrastructure/base/alerts"),
        "flux/infrastructure/base/alerts/alert.yaml": alert,
    })
    res = _check(root, "flux", externals=["Provider/flux-system/discord"], ignore_missing_schemas=True)
    assert [f.rule for f in res.findings if f.rule.startswith("flux.duplicate")] == [], res.findings


# --------------------------------------------------------------------------------------------------
# Which source is this repository: a source whose readers' paths are all elsewhere is another repository


def _examples_tree(root, *, here: str = "") -> None:
    """A controller's samples (fluxcd/kustomize-controller config/samples, config/testdata/overlays): Kustomizations
    reading podinfo through sources of several names, two of them named alike (taken as two clusters)."""
    src = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\nspec:\n"
           "  interval: 1m\n  url: https://github.com/stefanprodan/podinfo\n  ref:\n    branch: master\n")
    ks = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\nspec:\n"
          "  interval: 5m\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: {src}\n")
    write_tree(root, {
        "config/samples/source.yaml": src.format(name="webapp-latest") + "---\n" + src.format(name="webapp-releases"),
        "config/samples/ks.yaml": ks.format(name="webapp-dev", path="./deploy/webapp/", src="webapp-latest")
        + "---\n" + ks.format(name="webapp-production", path="./deploy/webapp/", src="webapp-releases"),
        "config/testdata/overlays/production.yaml": ks.format(name="webapp-production", path="./deploy/overlays/production/",
                                                              src="webapp-releases"),
        "config/testdata/overlays/staging.yaml": ks.format(name="webapp-staging", path="./deploy/overlays/staging/",
                                                           src="webapp-latest"),
        "config/testdata/dependencies/source.yaml": src.format(name="webapp"),
        "config/testdata/dependencies/common.yaml": ks.format(name="common", path="./deploy/webapp/common/", src="webapp"),
        "config/testdata/dependencies/backend.yaml": ks.format(name="backend", path="./deploy/webapp/backend/", src="webapp"),
        **({f"{here}/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\n"} if here else {}),
    })


def test_a_source_whose_readers_paths_are_all_elsewhere_is_another_repository(tmp_path):
    """kustomize-controller reads spec.path inside the artifact of the source the Kustomization names
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go, reconcile: securejoin of the
    artifact's root and spec.path, after fetching the source's artifact). No bootstrap sync says which
    source is this checkout, and not one Kustomization reading podinfo names a folder of it: podinfo is another
    repository, and its paths are not this checkout's to check (the 8 flux.path on kustomize-controller's samples)."""
    root = tmp_path / "repo"
    _examples_tree(root)
    res = _check(root, ".")
    assert [f for f in res.findings if f.rule == "flux.path"] == []
    # nor is a source whose one reader names only its root (every artifact has one): the OCI sample of
    # kustomize-controller's testdata, which would otherwise apply this checkout's encrypted test files
    write_tree(root, {
        "config/testdata/oci/podinfo.yaml": (
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: oci\n  namespace: oci\n"
            "spec:\n  interval: 10m\n  url: oci://ghcr.io/stefanprodan/manifests/podinfo\n  ref:\n    tag: 6.3.5\n---\n"
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: oci\n  namespace: oci\n"
            "spec:\n  interval: 10m\n  path: ./\n  prune: true\n  sourceRef:\n    kind: OCIRepository\n    name: oci\n"),
        "testdata/sops/secret.yaml": ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: default\n"
                                      "data:\n  k: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"
                                      "sops:\n  mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"
                                      "  lastmodified: '2024-01-01T00:00:00Z'\n  version: 3.10.2\n"
                                      "  age:\n    - recipient: age1qqqq\n      enc: x\n"),
    })
    res = _check(root, ".")
    assert [f for f in res.findings if f.rule.startswith("flux.")] == []


def test_a_source_one_reader_finds_here_is_this_repository(tmp_path):
    """The same tree where one of webapp's readers does name a folder of this checkout: webapp is this repository
    (the guess of guess_repo_source stands), so is webapp-latest of the same URL, and the missing folders of their
    other readers are reported."""
    root = tmp_path / "repo"
    _examples_tree(root, here="deploy/webapp/common")
    res = _check(root, ".")
    assert sorted((f.file.rsplit("/", 1)[-1], f.rule) for f in res.findings if f.rule == "flux.path") == [
        ("backend.yaml", "flux.path"), ("staging.yaml", "flux.path")], res.findings


def test_a_duplicate_made_by_a_copied_namespace_names_the_file_that_moved_it(tmp_path):
    """Two apps' folders set `namespace:` in their kustomization.yaml; one was copied from the other and kept its
    namespace, so both put a Flux Kustomization named restic in mosquitto (kustomize's namespace transformer,
    kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/namespace) and the two parents take it from each other
    (kustomize-controller@v1.9.4 inventory, as test_object_applied_by_two_kustomizations). The finding names the
    kustomization.yaml that moved the copy, which is where the fix goes (USA-RedDragon's vaultwarden)."""
    ks = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
          "  namespace: {ns}\nspec:\n  interval: 1h\n  path: {path}\n  prune: true\n  sourceRef:\n"
          "    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n")
    root = write_tree(tmp_path / "repo", {
        "clusters/home/flux-system/gotk-sync.yaml": ks.format(name="flux-system", ns="flux-system", path="./clusters/home"),
        "clusters/home/apps.yaml": ks.format(name="apps", ns="flux-system", path="./apps"),
        "clusters/home/services.yaml": ks.format(name="services", ns="flux-system", path="./services"),
        "apps/vaultwarden/kustomization.yaml": "namespace: mosquitto\nresources: [ks.yaml]\n",
        "apps/vaultwarden/ks.yaml": ks.format(name="restic", ns="vaultwarden", path="./apps/vaultwarden/restic"),
        "apps/vaultwarden/restic/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r\n",
        "services/mosquitto/kustomization.yaml": "namespace: mosquitto\nresources: [ks.yaml]\n",
        "services/mosquitto/ks.yaml": ks.format(name="restic", ns="mosquitto", path="./services/mosquitto/restic"),
        "services/mosquitto/restic/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r\n",
    })
    res = _check(root, ".")
    dup = [f for f in res.findings if f.rule == "flux.duplicate"]
    assert len(dup) == 2, res.findings
    moved = [f for f in dup if f.file.endswith("apps/vaultwarden/ks.yaml")]
    assert len(moved) == 1 and "moved there by `namespace: mosquitto` in " in moved[0].message, dup
    assert "apps/vaultwarden/kustomization.yaml" in moved[0].message
    assert "moved there" not in next(f for f in dup if f.file.endswith("services/mosquitto/ks.yaml")).message


def test_a_folder_with_its_own_sops_config_is_not_the_repository_root(tmp_path, monkeypatch):
    """Sibling folders each with their own ``.sops.yaml`` (sops takes the nearest one above the file it encrypts,
    getsops/sops@v3.10.2:config/config.go) are not the repository: kustomize-controller joins spec.path to the root
    of the source artifact, the whole repository (fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go), and `flux bootstrap --path=cluster` writes cluster/flux-system/gotk-sync.yaml with
    path ./cluster (fluxcd/flux2@v2.7.5:pkg/manifestgen/sync/sync.go). A docker-compose folder `awry/` sorted before
    `cluster/` made awry/ the root, and every path "did not exist" (a fresh repository, vaskozl)."""
    from cli_util import write_tree

    def ks(name: str, path: str) -> str:
        return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
                f"  namespace: flux-system\nspec:\n  interval: 1h\n  path: {path}\n  prune: true\n"
                "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")

    root = write_tree(tmp_path / "repo", {
        "awry/.sops.yaml": "creation_rules: []\n",
        "awry/node-exporter.yaml": "version: '3'\nservices:\n  node-exporter:\n    image: node-exporter\n",
        "cluster/.sops.yaml": "creation_rules: []\n",
        "cluster/flux-system/gotk-sync.yaml": (
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
            "  namespace: flux-system\nspec:\n  interval: 1h\n  url: ssh://git@example.org/home-infra\n"
            "  ref:\n    branch: main\n---\n" + ks("flux-system", "./cluster")),
        "cluster/flux-system/kustomization.yaml": "resources:\n  - gotk-sync.yaml\n",
        "cluster/kustomization.yaml": "resources:\n  - flux-system\n  - web/ks.yaml\n",
        "cluster/web/ks.yaml": ks("web", "./cluster/web/app"),
        "cluster/web/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\n",
    })
    monkeypatch.chdir(root)
    res = validate_paths(["."], Options(kustomize="never"))
    assert res.findings == [], res.findings
    (root / "cluster/web/ks.yaml").write_text(ks("web", "./cluster/web/ap"))  # the rule still holds
    res = validate_paths(["."], Options(kustomize="never"))
    assert [f.rule for f in res.findings] == ["flux.path"], res.findings


def test_files_outside_every_marked_folder_do_not_make_a_nested_folder_the_root(tmp_path, monkeypatch):
    """fluxcd/pkg's test data: one fixture folder has its own ``.sops.yaml`` and a Flux Kustomization naming a folder
    from there, while the other fixtures have no marker above them. That folder holds not every file of the run, so
    it is not the repository's root either (no new flux.path on the other fixtures' Kustomizations)."""
    from cli_util import write_tree

    def ks(name: str, path: str) -> str:
        return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
                f"  namespace: flux-system\nspec:\n  interval: 1h\n  path: {path}\n  prune: true\n"
                "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")

    root = write_tree(tmp_path / "repo", {
        "a-testdata/ks.yaml": ks("varsub", "./kustomize"),
        "kustomize/testdata/with-sops/.sops.yaml": "creation_rules: []\n",
        "kustomize/testdata/with-sops/ks.yaml": ks("sops", "./app"),
        "kustomize/testdata/with-sops/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    })
    monkeypatch.chdir(root)
    res = validate_paths(["."], Options(kustomize="never"))
    assert [f for f in res.findings if f.rule == "flux.path"] == [], res.findings



def test_a_cluster_folders_sops_config_is_not_the_root_of_files_outside_it(tmp_path, monkeypatch):
    """`flux bootstrap --path=clusters/live` with the cluster's .sops.yaml in clusters/live and the apps in
    infrastructure/ (no marker above them; a checkout without .git, as `git archive` gives it). kustomize-controller
    joins spec.path to the root of the source artifact (fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go, securejoin of the artifact root and spec.path), the folder that holds every file:
    clusters/live, which the first file found named, is not it (a fresh repository: 19 false flux.path errors)."""
    from cli_util import write_tree

    def ks(name: str, path: str) -> str:
        return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
                f"  namespace: flux-system\nspec:\n  interval: 1h\n  path: {path}\n  prune: true\n"
                "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")

    root = write_tree(tmp_path / "repo", {
        "clusters/live/.sops.yaml": "creation_rules: []\n",
        "clusters/live/flux-system/gotk-sync.yaml": (
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
            "  namespace: flux-system\nspec:\n  interval: 1h\n  url: ssh://git@example.org/ops\n"
            "  ref:\n    branch: main\n---\n" + ks("flux-system", "./clusters/live")),
        "clusters/live/flux-system/kustomization.yaml": "resources:\n  - gotk-sync.yaml\n",
        "clusters/live/infra-apps/cilium.yaml": ks("cilium", "./infrastructure/cilium"),
        "infrastructure/cilium/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "infrastructure/cilium/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: kube-system\n",
    })
    monkeypatch.chdir(root)
    res = validate_paths(["."], Options(kustomize="never"))
    assert [f for f in res.findings if f.rule == "flux.path"] == [], res.findings
    (root / "clusters/live/infra-apps/cilium.yaml").write_text(ks("cilium", "./infrastructure/cilum"))
    res = validate_paths(["."], Options(kustomize="never"))
    assert [f.rule for f in res.findings if f.rule == "flux.path"] == ["flux.path"], res.findings  # a typo still is





def test_identical_copies_are_one_finding_per_cluster(tmp_path, monkeypatch):
    """Two clusters, each a `flux bootstrap` root with no kustomization.yaml in its folder, so Flux generates one that
    takes in every manifest below, sources/ too (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go), and
    a child Kustomization `sources` applying sources/ again. The Kustomizations have the same names in both clusters;
    each cluster's API holds its own copies (owner labels per fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go), so each overlap is its own warning (one was folded into the other's, a miss)."""
    from layout_fixtures import bootstrap, ks

    for c in ("gcp", "tc"):
        d = bootstrap(tmp_path, c)
        (d / "00-sources.yaml").write_text(ks("sources", f"./clusters/{c}/sources"))
        (d / "sources").mkdir()
        (d / "sources" / "cm.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: flux-system\n")
    monkeypatch.chdir(tmp_path)
    res = validate_paths(["."], Options(kustomize="never"))
    dups = sorted(f.file for f in res.findings if f.rule == "flux.duplicate-identical")
    assert dups == ["clusters/gcp/sources/cm.yaml", "clusters/tc/sources/cm.yaml"], res.findings


_SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  url: ssh://git@example.org/home/ops
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: ./clusters/home
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
"""
_CHILD = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
"""
_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: default
stringData:
  token: ENC[AES256_GCM,data:Tr7o=,iv:1sFq=,tag:GzTk=,type:str]
sops:
  age:
    - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
      enc: x
  lastmodified: "2026-01-01T00:00:00Z"
  mac: ENC[AES256_GCM,data:x,iv:x,tag:x,type:str]
  version: 3.10.2
"""


@pytest.mark.parametrize("spelling", ["patches-path", "patches-inline-target", "patchesStrategicMerge"])
def test_a_flux_kustomization_is_judged_as_its_folders_kustomize_build_patches_it(tmp_path, spelling):
    """flux bootstrap is customised in flux-system/kustomization.yaml: a patch there adds ``decryption`` (and
    ``spec.patches``) to gotk-sync.yaml's Kustomization, and the cluster holds the patched object (kustomize patches
    what it accumulates: kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go runTransformers,
    api/internal/builtins/PatchTransformer.go; a file of several strategic-merge documents patches each its own
    object). Held-out repositories: a false flux.decryption (ShadyF) and 31 false unset variables (elifesciences)."""
    patch_doc = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n"
                 "  namespace: flux-system\nspec:\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
                 "  patches:\n    - target: {kind: Kustomization}\n      patch: |\n"
                 "        apiVersion: kustomize.toolkit.fluxcd.io/v1\n        kind: Kustomization\n"
                 "        metadata: {name: all}\n        spec:\n          decryption: {provider: sops, secretRef: {name: sops-age}}\n")
    other = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n" \
            "  namespace: flux-system\nspec:\n  ignore: '*.md'\n"
    kfile = {
        "patches-path": "resources: [gotk-sync.yaml]\npatches:\n  - path: gotk-patches.yaml\n",
        "patches-inline-target": "resources: [gotk-sync.yaml]\npatches:\n  - target: {kind: Kustomization, name: flux-system}\n"
                                 "    path: gotk-patches.yaml\n",
        "patchesStrategicMerge": "resources: [gotk-sync.yaml]\npatchesStrategicMerge: [gotk-patches.yaml]\n",
    }[spelling]
    patches = patch_doc if spelling == "patches-inline-target" else f"{other}---\n{patch_doc}"
    root = write_tree(tmp_path / "repo", {
        ".git/HEAD": "ref: refs/heads/main\n",
        "clusters/home/flux-system/gotk-sync.yaml": _SYNC,
        "clusters/home/flux-system/kustomization.yaml": kfile,
        "clusters/home/flux-system/gotk-patches.yaml": patches,
        "clusters/home/apps.yaml": _CHILD,
        "clusters/home/secret.sops.yaml": _SECRET,
        "apps/secret.sops.yaml": _SECRET,
        "apps/kustomization.yaml": "resources: [secret.sops.yaml]\n",
    })
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    assert [f for f in res.findings if f.rule.startswith("flux.decryption")] == [], res.findings
    # without the folder's patch the same tree needs decryption on flux-system's and apps' paths
    (root / "clusters/home/flux-system/kustomization.yaml").write_text("resources: [gotk-sync.yaml]\n")
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    assert sorted(f.file.rsplit("/", 1)[-1] for f in res.findings if f.rule == "flux.decryption") == \
        ["apps.yaml", "gotk-sync.yaml"], res.findings


def test_flux_runs_where_its_sync_source_is_not_where_a_same_url_source_lands(tmp_path):
    """The key Secret not in Git is expected where Flux runs: the namespace of the repository's sync source. A second
    GitRepository of the same URL (here a chart source written without a namespace, which lands wherever its
    Kustomization applies it) also reads the repository (_same_repository) but says nothing of where Flux runs: the
    decryption secretRef is a LocalObjectReference read in the Kustomization's namespace
    (fluxcd/kustomize-controller@v1.9.4:api/v1/kustomization_types.go Decryption.SecretRef; seen on a public
    repository: 44 false errors "expected in ''")."""
    root = _tree(tmp_path, "guide")
    (root / "bootstrap/sops-age.sops.yaml").unlink()  # made by hand, as the Flux SOPS guide does
    url = "ssh://git@example.org/me/home.git"
    (root / "kubernetes/flux/cluster/source.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
        f"  namespace: flux-system\nspec:\n  interval: 1h\n  ref:\n    branch: main\n  url: {url}\n")
    web = root / "kubernetes/apps/media/web/app"
    (web / "charts.yaml").write_text("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n"
                                     f"  name: a-chart\nspec:\n  interval: 1h\n  ref:\n    branch: main\n  url: {url}\n")
    _edit(web / "kustomization.yaml", "  - ./configmap.yaml\n", "  - ./configmap.yaml\n  - ./charts.yaml\n")
    assert [f.rule for f in _check(root, ".", ignore_missing_schemas=True).findings] == []


@pytest.mark.parametrize("ref,checked", [("branch: main", True), ("branch: dev", False), ("tag: v1.0.0", False),
                                         ("name: refs/heads/main", True)])
def test_a_source_of_the_repositorys_url_at_another_revision_is_another_tree(tmp_path, ref, checked):
    """A second GitRepository of the repository's own URL reads this checkout only at the same revision: a
    CI-rendered `dev` branch or a tag is another tree, whose paths this checkout need not have (seen on a fresh
    public repository: 8 false flux.path errors). The revision is source-controller's
    (fluxcd/source-controller@v1.9.1:api/v1/gitrepository_types.go GitRepositoryRef: name, semver, tag, branch in
    precedence; `name: refs/heads/main` is branch main)."""
    root = _tree(tmp_path, "guide")
    url = "https://example.org/me/home.git"
    cluster = root / "kubernetes/flux/cluster"
    (cluster / "source.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
        f"  namespace: flux-system\nspec:\n  interval: 1h\n  ref:\n    branch: main\n  url: {url}\n")
    (cluster / "rendered.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: rendered\n"
        f"  namespace: flux-system\nspec:\n  interval: 1h\n  ref:\n    {ref}\n  url: {url}\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: rendered-apps\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./rendered/apps\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: rendered\n")
    rules = [f.rule for f in _check(root, ".", ignore_missing_schemas=True).findings]
    assert rules == (["flux.path"] if checked else []), rules


def _tenant(root, url, ref="branch: main"):
    """A tenant of the flux-operator tree as a public repository lays it out: Kustomization ``tenant`` (reading the
    cluster's source ``fleet``) applies a shared base whose GitRepository and Kustomization are named by its
    postBuild variables (``${TENANT}-repo``); that source, at ``url``, is the one the tenant's Kustomization reads
    to apply ./apps/tenant/env, where HelmRelease runner dependsOn controller."""
    t = root / "apps/tenant"
    (t / "base").mkdir(parents=True)
    (t / "env").mkdir()
    (t / "ks.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: tenant\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./apps/tenant/base\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: fleet\n    namespace: flux-system\n  postBuild:\n    substitute:\n      TENANT: team-a\n      ENV: ./apps/tenant/env\n")
    (t / "base/kustomization.yaml").write_text("resources:\n  - ./sync.yaml\n")
    (t / "base/sync.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: ${TENANT}-repo\n"
        f"  namespace: ${{TENANT}}\nspec:\n  interval: 1h\n  ref:\n    {ref}\n  url: {url}\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: ${TENANT}-sync\n"
        "  namespace: ${TENANT}\nspec:\n  interval: 1h\n  path: ${ENV}\n  prune: true\n  targetNamespace: ${TENANT}\n"
        "  sourceRef:\n    kind: GitRepository\n    name: ${TENANT}-repo\n")
    (t / "env/kustomization.yaml").write_text("resources:\n  - ./releases.yaml\n")
    (t / "env/releases.yaml").write_text("".join(
        f"---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\nspec:\n"
        f"  interval: 1h\n  chart:\n    spec:\n      chart: {name}\n      sourceRef:\n        kind: HelmRepository\n"
        f"        name: charts\n{deps}" for name, deps in (("controller", ""),
                                                        ("runner", "  dependsOn:\n    - name: controller\n")))
        + "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\nspec:\n"
        "  interval: 1h\n  url: https://charts.example.com\n")
    _edit(root / "apps/kustomization.yaml", "  - ./web/ks.yaml\n", "  - ./web/ks.yaml\n  - ./tenant/ks.yaml\n")
    return t


@pytest.mark.parametrize("url,ref,same", [("ssh://git@example.com/fleet", "branch: main", True),
                                          ("https://example.com/fleet.git/", "name: refs/heads/main", True),
                                          ("https://EXAMPLE.com/fleet", "branch: main", True),
                                          ("https://example.com/fleet", "branch: dev", False),
                                          ("https://example.com/other", "branch: main", False)])
def test_a_source_named_by_substitution_with_the_repositorys_url_reads_it(tmp_path, url, ref, same):
    """Two GitRepositories of one URL and reference fetch one artifact: source-controller clones the remote at the
    reference (fluxcd/source-controller@v1.9.1:api/v1/gitrepository_types.go GitRepositoryRef), whatever the object
    is named. A tenant's source named ``${TENANT}-repo`` is only known once the graph has substituted it, so the
    repository's own sources are decided after each build (Graph.own_sources), with the URL compared as git does
    (scheme, user, `.git`, case and trailing slash aside). Seen on a public repository: a dependsOn target in the
    very build was "not found", the tenant's Kustomization taken for "another source's artifact"."""
    from velero_gitops.validate.engine import flux_graph

    root = _tree(tmp_path, "flux-operator")
    t = _tenant(root, url, ref)
    g = flux_graph(root, Options(kustomize="never"))
    sync = next(k for k in g.flux_ks if k.name == "team-a-sync")
    assert (g.path_dir(sync) == (t / "env").resolve()) == same
    assert [f.rule for f in _check(root, ".", ignore_missing_schemas=True).findings] == []
    _edit(t / "env/releases.yaml", "    - name: controller\n", "    - name: absent\n")
    res = _check(root, ".", ignore_missing_schemas=True)
    assert [(f.rule, f.severity) for f in res.findings] == ([("flux.depends-on", "error")] if same else []), res.findings


REFLECT = ("  annotations:\n    reflector.v1.k8s.emberstack.com/reflection-allowed: \"true\"\n"
           "    reflector.v1.k8s.emberstack.com/reflection-auto-enabled: \"true\"\n{more}")


@pytest.mark.parametrize("annotations,found", [
    ("", True),
    (REFLECT.format(more=""), False),
    (REFLECT.format(more="    reflector.v1.k8s.emberstack.com/reflection-auto-namespaces: \"med.*,tools\"\n"), False),
    (REFLECT.format(more="    reflector.v1.k8s.emberstack.com/reflection-auto-namespaces: \"tools\"\n"), True),
    (REFLECT.format(more="    reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces: \"me\"\n"), True),
    ("  annotations:\n    replicator.v1.mittwald.de/replicate-to: \"media\"\n", False),
    ("  annotations:\n    replicator.v1.mittwald.de/replicate-to: \"med\"\n", True),
])
def test_a_key_secret_an_operator_copies_into_the_namespace_is_found(tmp_path, annotations, found):
    """The key Secret lives in flux-system, and the Kustomization reading it moved to media. An operator told by
    the Secret's own annotations copies it there under its name: the reflector's automatic mirrors
    (emberstack/kubernetes-reflector@v10.0.63:src/ES.Kubernetes.Reflector/Mirroring/Core/
    MirroringPropertiesExtensions.cs CanBeAutoReflectedToNamespace: allowed, auto-enabled, and each namespace list
    matching the whole name) or the replicator's push (mittwald/kubernetes-replicator@v2.12.4:replicate/common/
    generic-replicator.go getNamespacesToReplicate, anchored patterns). Seen on a fresh public repository: 21 false
    flux.decryption-secret errors."""
    root = _tree(tmp_path, "guide")
    _edit(root / "kubernetes/apps/media/kustomization.yaml", "resources:", "namespace: media\nresources:")
    if annotations:
        _edit(root / "bootstrap/sops-age.sops.yaml", "  namespace: flux-system\n",
              "  namespace: flux-system\n" + annotations)
    rules = [f.rule for f in _check(root, "kubernetes/apps").findings]
    assert ("flux.decryption-secret" in rules) is found, rules


def test_a_name_another_artifact_may_make_is_a_note(tmp_path):
    """A dependsOn on a Kustomization this repository does not hold, in a namespace where a Kustomization of the
    same cluster applies another repository's artifact (targetNamespace there, or none): that artifact may hold it
    (fluxcd/kustomize-controller@v1.9.4 applies the sourceRef's artifact, which is not here), so it is a note naming
    that Kustomization, not an error; in another namespace it stays an error (seen on a fresh public repository:
    6 errors for Kustomizations a second repository applies)."""
    root = _tree(tmp_path, "guide")
    web = root / "kubernetes/apps/media/web/ks.yaml"
    _edit(web, "    - name: db\n", "    - name: db\n    - name: volsync\n      namespace: volsync-system\n")
    assert [(f.rule, f.severity) for f in _check(root).findings] == [("flux.depends-on", "error")]
    other = root / "kubernetes/apps/media/other.yaml"
    other.write_text("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: shared\n"
                     "  namespace: flux-system\nspec:\n  interval: 1h\n  ref:\n    branch: main\n"
                     "  url: https://example.org/someone/shared.git\n---\n"
                     "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: shared-ref\n"
                     "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./volsync\n  prune: true\n"
                     "  targetNamespace: TARGET\n  sourceRef:\n    kind: GitRepository\n    name: shared\n")
    _edit(root / "kubernetes/apps/media/kustomization.yaml", "resources:", "resources:\n  - ./other.yaml")
    other.write_text(other.read_text().replace("TARGET", "volsync-system"))
    found = _check(root).findings
    assert [(f.rule, f.severity) for f in found] == [("flux.depends-on", "note")], found
    assert "flux-system/shared-ref" in found[0].message
    other.write_text(other.read_text().replace("targetNamespace: volsync-system", "targetNamespace: elsewhere"))
    assert [(f.rule, f.severity) for f in _check(root).findings] == [("flux.depends-on", "error")]
    # a Kustomization whose source does not exist applies nothing, so it makes nothing either
    other.write_text(other.read_text().replace("targetNamespace: elsewhere", "targetNamespace: volsync-system")
                     .replace("  name: shared\n  namespace", "  name: renamed\n  namespace"))
    assert sorted((f.rule, f.severity) for f in _check(root).findings) == [("flux.depends-on", "error"),
                                                                          ("flux.source-ref", "error")]


@pytest.mark.parametrize("dev,prod,flux_prefix,duplicate", [
    ("dev-", "prod-", False, False),  # each overlay's namePrefix: two objects
    ("x-", "x-", False, True),  # the same prefix: one object, applied twice
    ("", "", True, False),  # the Flux Kustomizations' spec.namePrefix: two objects
])
def test_a_name_prefix_makes_another_object(tmp_path, dev, prod, flux_prefix, duplicate):
    """Two Flux Kustomizations build one base through overlays: kustomize puts each kustomization's namePrefix around
    the names it accumulates (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/builtins/PrefixTransformer.go,
    Namespace, CRD and APIService left alone), and Flux's spec.namePrefix replaces the root's
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go). Different names are different objects: no
    duplicate (seen on a fresh public repository: dev-/prod- overlays reported as one object applied twice)."""
    root = _tree(tmp_path, "guide")
    shared = root / "kubernetes/shared"
    (shared / "base").mkdir(parents=True)
    (shared / "base/configmap.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tracker\n"
                                                "  namespace: web\ndata:\n  a: b\n")
    (shared / "base/kustomization.yaml").write_text("resources:\n  - ./configmap.yaml\n")
    for env, prefix in (("dev", dev), ("prod", prod)):
        (shared / env).mkdir()
        (shared / env / "kustomization.yaml").write_text(
            "resources:\n  - ../base\n" + (f"namePrefix: {prefix}\n" if prefix else ""))
        (root / f"kubernetes/flux/cluster/{env}.yaml").write_text(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
            f"  name: {env}-shared\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/shared/{env}\n"
            "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n"
            + (f"  namePrefix: {env}-\n" if flux_prefix else ""))
    rules = {f.rule for f in _check(root, ".", ignore_missing_schemas=True).findings}
    assert ("flux.duplicate-identical" in rules) is duplicate, rules


@pytest.mark.parametrize("where,listed,live", [
    ("clusters/a/flux-system", True, True), ("clusters/a/bootstrap", True, True), ("clusters/a/bootstrap", False, False)])
def test_bootstraps_sync_lives_though_its_tree_leaves_flux_system_out(tmp_path, where, listed, live):
    """`flux bootstrap --path=clusters/a` applies clusters/a/flux-system itself (fluxcd/flux2@v2.7.5:pkg/bootstrap/
    bootstrap.go Run: ReconcileComponents, ReconcileSyncConfig), so its sync Kustomization is the cluster's root even
    when clusters/a/kustomization.yaml lists only the apps (Flux then does not manage its own manifests): what it
    applies is checked (seen on a fresh public repository, whose whole tree was taken for never applied). The same
    folder under another name, its kustomization.yaml listing the sync, is the entry a script applies with
    `kubectl apply -k` (round-8 adopter: clusters/home/flux-system/kustomizations.yaml building ./clusters/home was
    taken for never applied, and an unwired tree passed); a Kustomization no list takes in at all is an entry point
    kept aside (the disaster-recovery one)."""
    root = _tree(tmp_path, "multi-cluster")
    a = root / "clusters/a"
    if where != "clusters/a/flux-system":
        (a / "flux-system").rename(root / where)
    if not listed:
        (root / where / "kustomization.yaml").unlink()
    (a / "kustomization.yaml").write_text("resources:\n  - ./apps.yaml\n  - ./infra.yaml\n")
    _edit(a / "apps.yaml", "  path: ./apps/a\n", "  path: ./apps/gone\n")
    rules = [f.rule for f in _check(root, "clusters", "apps", "infra", ignore_missing_schemas=True).findings]
    assert (rules == ["flux.path"]) if live else ("flux.path" not in rules), rules


_RENAME_JSON = ("patches:\n  - target:\n      kind: Secret\n      name: db-credentials\n    patch: |\n"
                "      - op: replace\n        path: /metadata/name\n        value: app-db\n"
                "      - op: replace\n        path: /metadata/namespace\n        value: app\n")


@pytest.mark.parametrize("encrypted", [True, False])
@pytest.mark.parametrize("patch", [
    _RENAME_JSON,  # JSON 6902 in `patches`: renamed, another object
    _RENAME_JSON.replace("name: db-credentials\n", "name: other\n"),  # selects nothing: the same object twice
    "patchesJson6902:\n  - target:\n      version: v1\n      kind: Secret\n      name: db-credentials\n    patch: |\n"
    "      - op: replace\n        path: /metadata/namespace\n        value: app\n",  # the deprecated field, namespace only
    # a strategic merge keeps the name unless the entry allows a change
    "patches:\n  - target:\n      kind: Secret\n    patch: |\n      kind: Secret\n      metadata:\n        name: app-db\n",
    "patches:\n  - target:\n      kind: Secret\n    options:\n      allowNameChange: true\n    patch: |\n"
    "      kind: Secret\n      metadata:\n        name: app-db\n",
])
def test_a_patch_that_renames_an_object_makes_another_object(tmp_path, encrypted, patch):
    """Two Flux Kustomizations build one base Secret, one through an overlay whose patch renames it. kustomize runs a
    kustomization's patches on what it accumulated (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/
    kusttarget_configplugin.go transformerConfigurators; api/internal/builtins/PatchTransformer.go; a strategic merge
    keeps the name unless allowNameChange: api/resource/resource.go ApplySmPatch). SOPS leaves metadata in clear
    (getsops/sops@v3.10.2:stores/stores.go) and kustomize-controller decrypts after the build
    (fluxcd/kustomize-controller@v1.9.4:internal/decryptor), so an encrypted Secret is renamed too (seen on a fresh
    public repository: 24 duplicates of renamed SOPS Secrets). The expectation is what `kubectl kustomize` builds."""
    import subprocess

    import yaml

    kubectl = require_kubectl()
    root = _tree(tmp_path, "guide")
    shared = root / "kubernetes/shared"
    (shared / "base").mkdir(parents=True)
    secret = (FLUX / "guide/kubernetes/apps/media/db/app/secret.sops.yaml").read_text()
    if not encrypted:
        secret = secret[:secret.index("sops:")].replace("ENC[", "plain[")
    (shared / "base/secret.yaml").write_text(secret.replace("  name: db-secret\n",
                                                            "  name: db-credentials\n  namespace: cnpg-system\n"))
    (shared / "base/kustomization.yaml").write_text("resources:\n  - ./secret.yaml\n")
    for env, extra in (("infra", ""), ("apps", patch)):
        (shared / env).mkdir()
        (shared / env / "kustomization.yaml").write_text("resources:\n  - ../base\n" + extra)
        (root / f"kubernetes/flux/cluster/{env}.yaml").write_text(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
            f"  name: {env}-shared\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/shared/{env}\n"
            "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n"
            "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n")

    def built(env):
        out = subprocess.run([kubectl, "kustomize", str(shared / env)], capture_output=True, text=True, check=True).stdout
        return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in yaml.safe_load_all(out) if d}

    twice = bool(built("infra") & built("apps"))
    dups = [f for f in _check(root, ".", ignore_missing_schemas=True).findings if f.rule.startswith("flux.duplicate")]
    assert bool(dups) is twice, dups
    assert all(f.obj == "Secret/cnpg-system/db-credentials" for f in dups), dups


# --------------------------------------------------------------------------------------------------
# Work linear in the Kustomizations (attack round 7, break 7)


def _many(root, n: int, chain: bool) -> None:
    """A bootstrap sync and ``n`` Flux Kustomizations in one file: each its own folder and k_i dependsOn k_{i-1}
    (``chain``), or all on one folder holding one ConfigMap."""
    sync = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: flux-system, namespace: "
            "flux-system}\nspec: {interval: 1m, url: https://example.org/x.git, ref: {branch: main}}\n---\n"
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: flux-system, "
            "namespace: flux-system}\nspec: {interval: 10m, path: ./clusters/c, prune: true, sourceRef: "
            "{kind: GitRepository, name: flux-system}}\n")
    files = {"clusters/c/flux-system/gotk-sync.yaml": sync,
             "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n"}
    docs = []
    for i in range(n):
        path = f"./d/a{i}" if chain else "./apps"
        if chain:
            files[f"d/a{i}/cm.yaml"] = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x{i}, namespace: default}}\n"
        dep = f", dependsOn: [{{name: k{i - 1}}}]" if chain and i else ""
        docs.append(f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: k{i}, "
                    f"namespace: flux-system}}\nspec: {{interval: 10m, path: {path}, prune: true, sourceRef: "
                    f"{{kind: GitRepository, name: flux-system}}{dep}}}\n")
    files["clusters/c/ks.yaml"] = "---\n".join(docs)
    write_tree(root, files)


def test_one_folder_applied_by_many_kustomizations_costs_linear_work(tmp_path, monkeypatch):
    """N Kustomizations on one spec.path: each (object, Kustomization) pair was compared with every owner found
    before it (flux.duplicate, owner labels per fluxcd/kustomize-controller@v1.9.4:internal/controller/
    kustomization_controller.go), N^2 namespace look-ups; now one set look-up. Counted: Graph.ns_of calls grow as
    N does, and the one warning names three owners and how many more, not all N."""
    from velero_gitops.validate.flux import Graph

    calls = {"n": 0}
    real = Graph.ns_of

    def counted(self, k):
        calls["n"] += 1
        return real(self, k)

    monkeypatch.setattr(Graph, "ns_of", counted)
    work = {}
    for n in (100, 200, 400):
        root = tmp_path / str(n)
        _many(root, n, chain=False)
        calls["n"] = 0
        res = _check(root, ".")
        work[n] = calls["n"]
        (dup,) = [f for f in res.findings if f.rule == "flux.duplicate-identical"]
        assert f"flux-system/k1, flux-system/k2, flux-system/k3 and {n - 4} more (identical copies" in dup.message
    assert work[400] - work[200] <= 2.2 * (work[200] - work[100]), work


def test_a_long_depends_on_chain_costs_linear_memory(tmp_path, monkeypatch):
    """k_i dependsOn k_{i-1}: every Kustomization's transitive dependencies were gathered before anything asked
    (crd_providers), N^2/2 entries (4.76 GB at N=12,800). Measured: the memory crd_providers.check allocates at its
    peak grows as N does (tracemalloc; a closure is walked only when a check asks for it)."""
    import tracemalloc

    from velero_gitops.validate import crd_providers

    peaks = {}
    real = crd_providers.check

    def measured(g, objects):
        tracemalloc.start()
        try:
            return real(g, objects)
        finally:
            peaks[len(g.flux_ks)] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

    monkeypatch.setattr(crd_providers, "check", measured)
    for n in (200, 400, 800):
        root = tmp_path / str(n)
        _many(root, n, chain=True)
        assert _check(root, ".").findings == []
    small, mid, big = (peaks[n + 1] for n in (200, 400, 800))
    assert big - mid <= 2.5 * max(mid - small, 1), peaks


# --------------------------------------------------------------------------------------------------
# Clusters named by a Kustomization's spec.kubeConfig (round-8 fix half)

_KUBECONFIG = "  kubeConfig:\n    secretRef:\n      name: {}\n"


@pytest.mark.parametrize("configs,dup", [
    ((None, "edge-kubeconfig"), False),  # one applies here, the other to a remote cluster
    (("edge-kubeconfig", "lab-kubeconfig"), False),  # two remote clusters
    (("edge-kubeconfig", "edge-kubeconfig"), True),  # both to one remote cluster: its inventory holds one copy
])
def test_a_kubeconfig_kustomization_applies_to_the_cluster_it_names(tmp_path, configs, dup):
    """A Flux Kustomization with spec.kubeConfig applies its build with a client made from that kubeconfig
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go reconcile: WithKubeConfig,
    impersonation.GetClient; docs/spec/v1/kustomizations.md "KubeConfig (Remote clusters)"), so two Kustomizations
    applying one folder to different clusters apply two objects, and one to the controller's own cluster does not
    clash with them. Its source and decryption Secret are still read on the controller's cluster (getSource and
    decryptor.New use r.Client): the tree gives no other finding."""
    root = _tree(tmp_path, "guide")
    media = root / "kubernetes/apps/media"
    ks = (media / "db/ks.yaml").read_text()
    for name, kc in zip(("db", "db2"), configs):
        text = ks.replace("name: db\n", f"name: {name}\n", 1)
        if kc is not None:
            text = text.replace("  interval: 1h\n", "  interval: 1h\n" + _KUBECONFIG.format(kc), 1)
            assert "kubeConfig" in text
        (media / f"db/{'ks' if name == 'db' else 'ks2'}.yaml").write_text(text)
    _edit(media / "kustomization.yaml", "  - ./db/ks.yaml\n", "  - ./db/ks.yaml\n  - ./db/ks2.yaml\n")
    res = _check(root)
    found = sorted((f.rule, f.obj) for f in res.findings)
    assert found == ([("flux.duplicate-identical", "ConfigMap/media/db")] if dup else []), res.findings


@pytest.mark.parametrize("ns,reported", [("flux-system", False), ("media", True)])
def test_the_key_secret_namespace_is_the_clusters_own(tmp_path, ns, reported):
    """Each cluster runs its own controllers: cluster b's FluxInstance in namespace `cozy` (flux-operator makes its
    sync Kustomization and source there, controlplaneio-fluxcd/flux-operator@v0.58.1:internal/builder/templates.go
    syncTmpl) says nothing of where cluster a's bootstrap put them (flux-system, fluxcd/flux2@v2.7.5:pkg/manifestgen/sync/sync.go). A Kustomization of
    cluster a reads its decryption.secretRef in its own namespace (kustomize-controller@v1.9.4:
    internal/decryptor/decryptor.go, a LocalObjectReference): in flux-system it is where the Flux SOPS guide makes
    the key; elsewhere the key is expected in cluster a's flux-system, never in `cozy`."""
    root = _tree(tmp_path, "multi-cluster")
    shutil.rmtree(root / "clusters/b/flux-system")
    (root / "clusters/b/flux-instance.yaml").write_text(
        "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata:\n  name: flux\n  namespace: cozy\n"
        "spec:\n  distribution:\n    version: 2.7.x\n  sync:\n    kind: GitRepository\n    url: https://example.com/x\n"
        "    ref: refs/heads/main\n    path: clusters/b\n")
    for f in ("apps", "infra"):
        _edit(root / f"clusters/b/{f}.yaml", "  namespace: flux-system\n", "  namespace: cozy\n")
        _edit(root / f"clusters/b/{f}.yaml", "    name: flux-system\n", "    name: flux\n")
    (root / "clusters/a/secrets.yaml").write_text(
        f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: secrets\n  namespace: {ns}\n"
        "spec:\n  interval: 1h\n  path: ./infra/openebs\n  prune: true\n  targetNamespace: media\n"
        "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-gpg\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n")
    res = _check(root, "clusters", "apps", "infra", ignore_missing_schemas=True)
    found = [f for f in res.findings if f.rule == "flux.decryption-secret"]
    assert [f.file.endswith("clusters/a/secrets.yaml") for f in found] == ([True] if reported else []), res.findings
    if reported:
        assert "is expected in flux-system" in found[0].message and "cozy" not in found[0].message, found[0].message
    assert [f for f in res.findings if f.rule != "flux.decryption-secret"] == [], res.findings


_SCOPE_KS = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
             "  namespace: flux-system\nspec:\n  interval: 1h\n  path: {path}\n  prune: true\n  sourceRef:\n"
             "    kind: GitRepository\n    name: flux-system\n")
_CRD = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"
        "spec:\n  group: example.com\n  scope: {scope}\n  names: {{kind: Widget, plural: widgets}}\n  versions: []\n")


@pytest.mark.parametrize("scope", ["Cluster", "Namespaced"])
def test_cluster_scoped_objects_applied_twice_are_duplicates_without_a_namespace(tmp_path, scope):
    """Two Kustomizations apply one folder (eleven-am's flux-system and sops-decrypt): its ClusterRole, CRD,
    Namespace and a cluster-scoped custom object are applied by both too. A cluster-scoped object has no namespace
    on the cluster, and kustomize's namespace transformer sets none on a kind it knows is cluster-scoped
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/namespace/namespace.go metaNamespaceHack; the scope from
    kubernetes/api@v0.35.0:rbac/v1/types.go `+genclient:nonNamespaced`, a custom kind's from its CRD's spec.scope):
    reported without a namespace and never "moved there by `namespace:`". A Widget whose CRD says Namespaced is in
    the namespace `namespace:` gives it."""
    root = write_tree(tmp_path / "repo", {
        "clusters/home/flux-system/gotk-sync.yaml": _SCOPE_KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/flux-system/second.yaml": _SCOPE_KS.format(name="second", path="./apps"),
        "clusters/home/flux-system/third.yaml": _SCOPE_KS.format(name="third", path="./apps"),
        "apps/kustomization.yaml": "namespace: team\nresources: [rbac.yaml, crd.yaml, ns.yaml, widget.yaml]\n",
        "apps/rbac.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n"
                          "rules: []\n",
        "apps/crd.yaml": _CRD.format(scope=scope),
        "apps/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n",
        "apps/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    })
    res = _check(root, ".", ignore_missing_schemas=True)
    dup = [f for f in res.findings if f.rule.startswith("flux.duplicate")]
    assert len(dup) == 1, dup
    message = dup[0].message
    assert "ClusterRole reader" in message and "CustomResourceDefinition widgets.example.com" in message, message
    assert "Namespace team" in message, message  # renamed by `namespace: team`, as kustomize does
    assert ("Widget w" if scope == "Cluster" else "Widget team/w") in message, message
    assert "team/reader" not in message and "moved there" not in message, message


def test_copies_renamed_alike_by_the_namespace_transformer_are_identical(tmp_path):
    """Copies are compared as applied: two Namespaces written under different names that `targetNamespace` renames
    to one (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/konfig/builtinpluginconsts/namespace.go) are the
    same object if nothing else differs, identical copies, not "the copies differ" (a round-8 fix-half repository,
    its examples' Namespace renamed to the cluster's own)."""
    root = write_tree(tmp_path / "repo", {
        "clusters/home/flux-system/gotk-sync.yaml": _SCOPE_KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/team/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
        "clusters/home/team/ks.yaml": _SCOPE_KS.format(name="team-apps", path="./apps").replace(
            "  prune: true\n", "  prune: true\n  targetNamespace: team\n"),
        "apps/kustomization.yaml": "resources: [namespace.yaml]\n",
        "apps/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: example\n",
    })
    res = _check(root, ".", ignore_missing_schemas=True)
    assert [f.rule for f in res.findings] == ["flux.duplicate-identical"], res.findings


# --------------------------------------------------------------------------------------------------
# A repository holding another repository's seed content (FP1-FP3 of the round-8 held-out review)

_SEED_SYNC = """apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 1m, ref: {branch: main}, url: ssh://git@example.com/team/gitops-system}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 3m, path: PATH, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
"""
_SEED_APP = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: tools, namespace: flux-system}
spec: {interval: 3m, path: ./tools/app, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
"""
_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata: {a: b}\n"


def _seed_tree(tmp_path, sync_path):
    return write_tree(tmp_path / "repo", {
        ".sops.yaml": "creation_rules: []\n",
        "repos/gitops-system/clusters/mgmt/flux-system/gotk-sync.yaml": _SEED_SYNC.replace("PATH", sync_path),
        "repos/gitops-system/clusters/mgmt/tools.yaml": _SEED_APP,
        "repos/gitops-system/tools/app/kustomization.yaml": "resources: [cm.yaml]\n",
        "repos/gitops-system/tools/app/cm.yaml": _CM,
        # an overlay delta: copied over another seed's tree, where ../../base exists
        "repos/apps/v2/overlays/staging/kustomization.yaml": "resources: [../../base]\n",
    })


def test_seed_content_of_another_repository_is_not_checked_here(tmp_path):
    """kustomize-controller joins spec.path to the root of the source's artifact
    (fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go, securejoin of the artifact
    root and spec.path). A checkout whose bootstrap GitRepository reads another repository, seeded from its subfolder
    repos/gitops-system (aws-samples/eks-multi-cluster-gitops@main:repos/gitops-system/clusters/mgmt/flux-system/
    gotk-sync.yaml, `url: REPO_PREFIX/gitops-system`), names no folder at its own root: the paths are notes saying
    why, and a folder no Flux Kustomization builds (an overlay delta) gets a note, not a kustomize error. A path
    found nowhere (a typo) stays a flux.path error."""
    root = _seed_tree(tmp_path, "./clusters/mgmt")
    res = validate_paths([str(root)], Options(cache_dir=str(tmp_path / "c"), kustomize="auto", ignore_missing_schemas=True))
    assert [f for f in res.findings if f.severity == "error"] == []
    notes = {(f.rule, f.file.rsplit("/", 1)[-1]) for f in res.findings if f.severity == "note"}
    assert ("flux.path", "gotk-sync.yaml") in notes and ("flux.path", "tools.yaml") in notes
    assert any(f.rule == "kustomize" and f.file.endswith("v2/overlays/staging/kustomization.yaml") for f in res.findings
               if f.severity == "note")
    typo = _seed_tree(tmp_path / "typo", "./clusters/mgnt")
    (typo / "repos/gitops-system/clusters/mgmt/tools.yaml").write_text(_SEED_APP.replace("./tools/app", "./tools/ap"))
    res = validate_paths([str(typo)], Options(cache_dir=str(tmp_path / "c2"), kustomize="auto", ignore_missing_schemas=True))
    assert sorted(f.rule for f in res.findings if f.severity == "error") == ["flux.path", "flux.path", "kustomize"]


_OVERLAY_KS = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: app-ENV, namespace: flux-system}
spec: {interval: 5m, path: ./apps/ENV, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}
"""
_DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {group: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""
_HPA = """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, labels: {group: web}}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, minReplicas: 1, maxReplicas: 2}
"""
_DELETE_HPA = """  - target: {kind: HorizontalPodAutoscaler, labelSelector: group=web}
    patch: |
      $patch: delete
      apiVersion: autoscaling/v2
      kind: HorizontalPodAutoscaler
      metadata: {name: whatever}
"""


def test_copies_of_one_base_are_compared_as_each_overlay_builds_them(tmp_path):
    """kustomize-controller applies what its build emits (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go,
    then fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go apply), and overlays
    transform one base differently: `images:` and a `$patch: delete` selected by label
    (artazar/flux2-general@main:clusters/demo-000/apps/demoapp-auth/{dev,stg,prod}/kustomization.yaml over
    apps/demoapp-auth/base). The Deployment each overlay builds differs (an error, not identical copies); the HPA
    that dev deletes is applied by stg and prod only, identical there; a Namespace three files declare alike (renamed
    by `namespace:`) is named once in the message."""
    require_kubectl()
    ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shared}\n"
    files = {
        ".sops.yaml": "creation_rules: []\n",
        "clusters/c/flux-system/gotk-sync.yaml": _SEED_SYNC.replace("PATH", "./clusters/c"),
        "clusters/c/kustomization.yaml": "resources: [flux-system/gotk-sync.yaml, dev.yaml, stg.yaml, prod.yaml]\n",
        "base/kustomization.yaml": "resources: [deployment.yaml, hpa.yaml]\n",
        "base/deployment.yaml": _DEPLOY,
        "base/hpa.yaml": _HPA,
    }
    for env, image in (("dev", "1.23"), ("stg", "1.22"), ("prod", "1.21")):
        files[f"clusters/c/{env}.yaml"] = _OVERLAY_KS.replace("ENV", env)
        files[f"apps/{env}/ns.yaml"] = ns
        files[f"apps/{env}/kustomization.yaml"] = (
            f"namespace: web\nresources: [../../base, ns.yaml]\nimages: [{{name: nginx, newTag: '{image}'}}]\n"
            + ("patches:\n" + _DELETE_HPA if env == "dev" else ""))
    root = write_tree(tmp_path / "repo", files)
    res = validate_paths([str(root)], Options(cache_dir=str(tmp_path / "c"), kustomize="always"))
    dups = sorted((f.rule, f.obj, f.message.split(" (")[0].split(" is applied")[0])
                  for f in res.findings if f.rule.startswith("flux.duplicate"))
    assert dups == [("flux.duplicate", "Deployment/web/web", "Deployment web/web"),
                    ("flux.duplicate-identical", "HorizontalPodAutoscaler/web/web", "HorizontalPodAutoscaler web/web"),
                    ("flux.duplicate-identical", "Namespace/web/shared", "Namespace web")], res.findings
    hpa = next(f for f in res.findings if f.obj == "HorizontalPodAutoscaler/web/web")
    assert "app-dev" not in hpa.message
    namespace = next(f for f in res.findings if f.obj == "Namespace/web/shared")
    assert "more object" not in namespace.message
    # a second run reads the builds' verdicts from the cache: the same answer
    again = validate_paths([str(root)], Options(cache_dir=str(tmp_path / "c"), kustomize="always"))
    assert sorted((f.rule, f.obj) for f in again.findings if f.rule.startswith("flux.duplicate")) == \
        [(r, o) for r, o, _ in dups]


def test_a_built_copy_and_a_written_copy_are_compared_in_one_form(tmp_path):
    """One Flux Kustomization builds its folder (kustomize, the copy as built), the other has no kustomization.yaml
    (Flux generates one: fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go; this test reads it as
    written): the same Namespace, renamed by `targetNamespace` in one of them, is one identical copy either way, not
    "the copies differ" because one side was a build's digest and the other the written object."""
    ks = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
          "  namespace: flux-system\nspec:\n  interval: 1h\n  path: {path}\n  prune: true\n{extra}"
          "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
    root = write_tree(tmp_path / "repo", {
        "clusters/home/kustomization.yaml": "resources: [flux-system, team]\n",
        "clusters/home/flux-system/gotk-sync.yaml": ks.format(name="flux-system", path="./clusters/home", extra=""),
        "clusters/home/flux-system/kustomization.yaml": "resources: [gotk-sync.yaml, examples.yaml]\n",
        "clusters/home/flux-system/examples.yaml": ks.format(name="examples", path="./examples",
                                                             extra="  targetNamespace: team\n"),
        "clusters/home/team/kustomization.yaml": "resources: [namespace.yaml]\n",
        "clusters/home/team/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
        "examples/app/kustomization.yaml": "resources: [namespace.yaml]\n",
        "examples/app/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: example\n",
    })
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="auto", ignore_missing_schemas=True))
    assert sorted({f.rule for f in res.findings if f.rule.startswith("flux.duplicate")}) == [
        "flux.duplicate-identical"], res.findings


_ALT_SRC = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: lib\n  namespace: flux-system\n"
            "spec:\n  interval: 10m\n  url: https://example.com/lib.git\n  ref:\n    branch: main\n")
_ALT_KS = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
           "  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./infrastructure/app\n  prune: true\n"
           "  targetNamespace: app\n  sourceRef:\n    kind: GitRepository\n    name: lib\n")


@pytest.mark.parametrize("alternatives", [True, False])
def test_two_example_clusters_that_each_declare_the_source_are_not_one_cluster(tmp_path, alternatives):
    """Two root files of a repository with no sync, each declaring the library's GitRepository, are never one apply:
    a build holding both fails (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/resmap/reswrangler.go Append refuses
    a resource id it already holds; fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go lists every file
    of a folder). Each is applied where someone applies it, so the object both apply is no duplicate (one cluster's
    API holds one object per kind/namespace/name: fluxcd/kustomize-controller@v1.9.4 inventory). Without the
    shared declaration the two roots may be one apply, and the duplicate stays."""
    root = write_tree(tmp_path / "repo", {
        "infrastructure/app/kustomization.yaml": "resources: [cm.yaml]\n",
        "infrastructure/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: '1'\n",
        "examples/clusters/one.yaml": _ALT_SRC + "---\n" + _ALT_KS.format(name="app"),
        "examples/clusters/two.yaml": (_ALT_SRC + "---\n" if alternatives else "") + _ALT_KS.format(name="app-shared"),
    })
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
    dup = [f for f in res.findings if f.rule.startswith("flux.duplicate")]
    assert bool(dup) is not alternatives, res.findings
