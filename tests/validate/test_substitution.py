"""A value that postBuild substitution leaves empty: the finding names the variable, the Flux Kustomization whose
postBuild lacks it, and the fix (held-out rwlove/home-ops: 22 `expected string, got null None` from `${NFS_HOST_0}`).

kustomize-controller substitutes the built objects as kustomize writes them (quotes gone) with fluxcd/pkg envsubst,
not strict by default: an undefined variable is an empty string (fluxcd/kustomize-controller@v1.9.4:internal/
controller/kustomization_controller.go → fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go
SubstituteVariables), and the empty plain scalar reads back as null.
"""

from __future__ import annotations

import pytest

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import cpu_budget, require_kubectl, write_tree

KS = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
      "  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n"
      "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
PV = ("apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: media\nspec:\n  capacity:\n    storage: 1Gi\n"
      "  accessModes: [ReadWriteMany]\n  nfs:\n    server: \"{server}\"\n    path: /mnt/media\n")


def _repo(tmp_path, server: str):
    root = tmp_path / "repo"
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/media.yaml": KS.format(name="media", path="./apps/media")
        + "  postBuild:\n    substitute:\n      APP: media\n",
        "apps/media/kustomization.yaml": "resources: [pv.yaml]\n",
        "apps/media/pv.yaml": PV.format(server=server),
    }
    return write_tree(root, files)


def _settings_patch(selector: str = "") -> str:
    """A parent's spec.patches entry writing postBuild.substituteFrom ConfigMap cluster-settings into every child."""
    return ("  patches:\n    - target:\n        kind: Kustomization\n" + selector + "      patch: |-\n"
            "        apiVersion: kustomize.toolkit.fluxcd.io/v1\n        kind: Kustomization\n"
            "        metadata:\n          name: x\n        spec:\n          postBuild:\n            substituteFrom:\n"
            "              - kind: ConfigMap\n                name: cluster-settings\n")


@pytest.mark.parametrize("kustomize", ["never", "always"])
def test_an_undefined_variable_is_named_with_its_kustomization_and_the_fix(tmp_path, kustomize):
    if kustomize == "always":
        require_kubectl()
    root = _repo(tmp_path, "${NFS_HOST_0}")
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize=kustomize))
    hits = [f for f in res.findings if f.file.endswith("apps/media/pv.yaml")]
    assert len(hits) == 1, res.findings
    f = hits[0]
    assert (f.rule, f.severity, f.pointer) == ("schema", "error", "/spec/nfs/server")  # the severity is kept
    assert "${NFS_HOST_0}" in f.message and "flux-system/media" in f.message, f.message
    assert "postBuild.substitute" in f.message and "${NFS_HOST_0:=value}" in f.message, f.message
    assert "None" not in f.message, f.message


def test_a_defined_variable_or_a_default_is_no_finding(tmp_path):
    root = _repo(tmp_path, "${NFS_HOST_0:=nas.lan}")
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    assert not [f for f in res.findings if f.file.endswith("pv.yaml")], res.findings



def test_variables_come_from_the_kustomizations_own_cluster(tmp_path):
    """Two clusters each have a ConfigMap cluster-settings that their apps' patched-in postBuild reads: cluster a's a
    plain file, cluster b's made by a configMapGenerator from an env file (aclerici38/home-ops: globals.env). The
    controller reads substituteFrom from its own cluster's API server (fluxcd/kustomize-controller@v1.9.4:internal/
    controller/kustomization_controller.go, postBuild substituteFrom by name in the Kustomization's namespace), so
    cluster b's app is not judged with cluster a's variables: no flux.substitute, and no substitution with a's
    values in b's build."""
    root = tmp_path / "repo"
    patch = _settings_patch()
    files = {
        "clusters/a/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/a"),
        "clusters/a/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n"
        "  namespace: flux-system\ndata:\n  OTHER: x\n",
        "clusters/b/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/b"),
        "clusters/b/settings/kustomization.yaml": "namespace: flux-system\nconfigMapGenerator:\n"
        "  - name: cluster-settings\n    envs: [settings.env]\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
        "clusters/b/settings/settings.env": "GATEWAY=10.0.0.1\n",
        "clusters/b/apps.yaml": KS.format(name="apps", path="./apps/b") + patch,
        "apps/b/ks.yaml": KS.format(name="app", path="./apps/b/app"),
        "apps/b/app/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/b/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\n"
        "data:\n  upstream: \"${GATEWAY}:53\"\n",
    }
    write_tree(root, files)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    assert not [f for f in res.findings if f.rule == "flux.substitute"], res.findings


def _appending_parent_repo(tmp_path):
    """A parent appends two substituteFrom references to every child without the opt-out label, with JSON 6902
    ``/spec/postBuild/substituteFrom/-`` (held-out cluster-apps); the children write ``substituteFrom: []``."""
    root = tmp_path / "repo"
    patch = ("  patches:\n    - patch: |-\n"
             "        - op: add\n          path: /spec/postBuild/substituteFrom/-\n"
             "          value: {kind: ConfigMap, name: cluster-settings}\n"
             "        - op: add\n          path: /spec/postBuild/substituteFrom/-\n"
             "          value: {kind: Secret, name: cluster-secrets}\n"
             "      target: {group: kustomize.toolkit.fluxcd.io, version: v1, kind: Kustomization,\n"
             "               labelSelector: substitution.flux.home.arpa/disabled notin (true)}\n")
    own = "  postBuild:\n    substitute:\n      APP: {name}\n    substituteFrom: []\n"
    hr = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\n  namespace: default\n"
          "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: x\n      sourceRef: {{kind: HelmRepository, name: x}}\n"
          "  values:\n    tz: ${{TIMEZONE}}\n    app: ${{APP}}\n    token: ${{TOKEN}}\n    other: ${{{other}}}\n")
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n"
        "  namespace: flux-system\ndata:\n  TIMEZONE: Europe/Paris\n---\napiVersion: v1\nkind: Secret\nmetadata:\n"
        "  name: cluster-secrets\n  namespace: flux-system\nstringData:\n  TOKEN: t\n",
        "clusters/home/apps.yaml": KS.format(name="cluster-apps", path="./apps") + patch,
        "apps/ks.yaml": KS.format(name="app", path="./apps/app") + own.format(name="app") + "---\n"
        + KS.format(name="optout", path="./apps/optout").replace(
            "  namespace: flux-system\n", "  namespace: flux-system\n  labels:\n"
            "    substitution.flux.home.arpa/disabled: \"true\"\n") + own.format(name="optout"),
        "apps/app/kustomization.yaml": "resources: [hr.yaml]\n",
        "apps/app/hr.yaml": hr.format(name="app", other="UNSET"),
        "apps/optout/kustomization.yaml": "resources: [hr.yaml]\n",
        "apps/optout/hr.yaml": hr.format(name="optout", other="UNSET"),
    }
    return write_tree(root, files)


def test_a_json6902_append_to_substitutefrom_is_applied_to_the_child(tmp_path):
    """kustomize applies a parent's JSON 6902 patch to the child Kustomization before Flux reads it
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/patchjson6902/patchjson6902.go → evanphx/json-patch.v4,
    RFC 6902 4.1: ``-`` appends to the array), so the child substitutes from cluster-settings and cluster-secrets:
    ${TIMEZONE} and ${TOKEN} are defined, only ${UNSET} is blanked. The child labelled
    ``substitution.flux.home.arpa/disabled: "true"`` is not selected (``notin``: k8s.io/apimachinery labels.Parse,
    as api/resource/resource.go MatchesLabelSelector reads it): its postBuild is its own, its author chose it, so
    flux.substitute says nothing there. Before, the append did not apply (substituteFrom is a list) and the raw patch
    text made the opt-out child count as patched: ${TIMEZONE} was reported on both."""
    root = _appending_parent_repo(tmp_path)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    hits = [f for f in res.findings if f.rule == "flux.substitute"]
    assert [f.file.rsplit("/", 2)[-2] for f in hits] == ["app"], hits
    assert "${UNSET} is none of them" in hits[0].message and "flux-system/cluster-apps" in hits[0].message, hits


def test_a_source_flux_never_applies_fills_no_variable(tmp_path):
    """A cluster's app Secret draws its token from substituteFrom Secret cluster-vars, which the cluster holds
    outside Git; the only copy in the repository is a local test cluster's bootstrap file that no Flux Kustomization
    applies (seen on a fresh repository: local-clusters/<name>/bootstrap/secrets/, applied by hand to k3d). The
    controller reads the source from its own cluster's API server (fluxcd/kustomize-controller@v1.9.4:internal/
    controller/kustomization_controller.go), and Git does not show that file there: like any lookup, substitution
    does not read what Flux never applies (Graph.dead). So the app Secret keeps `${TOKEN}` (a value Git does not show)
    and is no plaintext Secret; the bootstrap file, a plaintext Secret in Git, is reported where it is written."""
    root = tmp_path / "repo"
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/app.yaml": KS.format(name="app", path="./apps/app")
        + "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: cluster-vars\n",
        "apps/app/kustomization.yaml": "resources: [secret.yaml]\n",
        "apps/app/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-token\n  namespace: default\n"
        "stringData:\n  token: ${TOKEN}\n",
        "local/home/bootstrap/cluster-vars.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-vars\n"
        "  namespace: flux-system\nstringData:\n  TOKEN: abcdefg\n",
    }
    write_tree(root, files)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    hits = sorted(f.file.split("/repo/")[-1] for f in res.findings if f.rule == "secret.unencrypted")
    assert hits == ["local/home/bootstrap/cluster-vars.yaml"], res.findings
    assert "abcdefg" not in str(res.findings)


def test_a_parent_whose_source_is_substituted_still_patches_its_children(tmp_path):
    """cluster-apps reads `sourceRef.name: ${KS_GIT_REPO_NAME}`, which its own parent's postBuild fills from a
    ConfigMap, and patches postBuild.substituteFrom into every child Kustomization (a held-out repository, found at
    the measurement: 186 false flux.substitute warnings and 9 schema errors on values the patched-in variables fill).
    The controller builds cluster-apps's folder with its patches, then substitutes (fluxcd/pkg@kustomize/v1.35.4:
    kustomize/kustomize_generator.go, kustomize_varsub.go), so the child has the substituteFrom; the graph applies
    the parent's patches also after the substitution round that makes the parent read this repository."""
    root = tmp_path / "repo"
    patch = _settings_patch("        labelSelector: sub/disabled notin (true)\n")
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n"
        "  namespace: flux-system\ndata:\n  REPO: flux-system\n  HOME_DOMAIN: example.org\n",
        "clusters/home/apps.yaml": KS.format(name="cluster-apps", path="./apps").replace(
            "    name: flux-system\n", "    name: ${REPO}\n") + patch
        + "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-settings\n",
        "clusters/home/kustomization.yaml": "resources: [flux-system/gotk-sync.yaml, settings.yaml, apps.yaml]\n",
        "apps/kustomization.yaml": "resources: [web/ks.yaml]\n",
        "apps/web/ks.yaml": KS.format(name="web", path="./apps/web/app") + "  postBuild:\n    substitute:\n      APP: web\n",
        "apps/web/app/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/web/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\n"
        "data:\n  host: \"${APP}.${HOME_DOMAIN}\"\n",
    }
    write_tree(root, files)
    # the parent reads the repository only once its own parent substituted ${REPO}
    files_root = root / "clusters/home/flux-system/gotk-sync.yaml"
    files_root.write_text(files_root.read_text() + "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n"
                          "        name: cluster-settings\n")
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    assert not [f for f in res.findings if f.rule == "flux.substitute"], res.findings


def test_the_names_of_an_encrypted_source_count_though_its_values_are_unknown(tmp_path):
    """A parent patches substituteFrom a SOPS-encrypted Secret into its children (the held-out shamubernetes shape).
    sops encrypts values, never keys (getsops/sops@v3.10.2:sops.go Tree.Encrypt walks the leaves), so Git shows which
    variables the Secret defines: `${HOME_DOMAIN}` is one of them and is no finding, while `${VAR}`, in a CRD's
    description and defined nowhere, is blanked by Flux and still reported."""
    root = tmp_path / "repo"
    patch = _settings_patch().replace("kind: ConfigMap\n                name: cluster-settings",
                                      "kind: Secret\n                name: cluster-secrets")
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/secrets.sops.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n"
        "  namespace: flux-system\nstringData:\n  HOME_DOMAIN: ENC[AES256_GCM,data:MO/B,iv:ab,tag:7g,type:str]\n"
        "sops:\n  age:\n    - recipient: age1x\n      enc: x\n  lastmodified: \"2026-01-01T00:00:00Z\"\n"
        "  mac: ENC[AES256_GCM,data:x,iv:x,tag:x,type:str]\n  version: 3.10.2\n",
        "clusters/home/apps.yaml": KS.format(name="cluster-apps", path="./apps") + patch,
        "apps/kustomization.yaml": "resources: [web/ks.yaml]\n",
        "apps/web/ks.yaml": KS.format(name="web", path="./apps/web/app") + "  postBuild:\n    substitute:\n      APP: web\n",
        "apps/web/app/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/web/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\n"
        "data:\n  host: \"${APP}.${HOME_DOMAIN}\"\n  help: \"write ${VAR} in the template\"\n",
    }
    write_tree(root, files)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    hits = [f for f in res.findings if f.rule == "flux.substitute"]
    assert len(hits) == 1 and "${VAR}" in hits[0].message and "HOME_DOMAIN" not in hits[0].message, res.findings



@pytest.mark.parametrize("operator", [True, False])
def test_the_keys_of_a_source_an_operator_writes_are_unknown(tmp_path, operator):
    """The substituteFrom Secret `cluster-secrets` is in Git with placeholder keys, and an ExternalSecret targets it
    with `dataFrom` (every key of the store's item: external-secrets.io/v1 ExternalSecretSpec.DataFrom), so the
    cluster's Secret holds keys Git does not show (a held-out repository: `${ONYX_ADDR}` reported as blanked, measured
    class C7). `${ONYX_ADDR}` is then no finding; without the ExternalSecret, Git's keys are all and it is one."""
    root = tmp_path / "repo"
    patch = _settings_patch().replace("kind: ConfigMap\n                name: cluster-settings",
                                      "kind: Secret\n                name: cluster-secrets")
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/secrets.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n"
        "  namespace: flux-system\nstringData:\n  HOME_DOMAIN: example.com\n",
        "clusters/home/apps.yaml": KS.format(name="cluster-apps", path="./apps") + patch,
        "apps/kustomization.yaml": "resources: [web/ks.yaml]\n",
        "apps/web/ks.yaml": KS.format(name="web", path="./apps/web/app") + "  postBuild:\n    substitute:\n      APP: web\n",
        "apps/web/app/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/web/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\n"
        "data:\n  host: \"${APP}.${HOME_DOMAIN}\"\n  onyx: \"${ONYX_ADDR}\"\n",
    }
    if operator:
        files["clusters/home/external-secret.yaml"] = (
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: cluster-secrets\n"
            "  namespace: flux-system\nspec:\n  secretStoreRef:\n    kind: ClusterSecretStore\n    name: onepassword\n"
            "  target:\n    name: cluster-secrets\n  dataFrom:\n    - extract:\n        key: cluster-secrets\n")
    write_tree(root, files)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    hits = [f for f in res.findings if f.rule == "flux.substitute"]
    assert (hits == []) if operator else (len(hits) == 1 and "${ONYX_ADDR}" in hits[0].message), res.findings


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_a_secrets_values_never_reach_another_object_nor_the_output(tmp_path, fmt):
    """Attacker round 5: a pull request writes `name: ${DBPASS}`, `cm-${PASSWORD}`, `dependsOn: [{name: ${B64}}]` in
    objects a Kustomization applies with substituteFrom the plaintext Secret cluster-secrets (stringData and
    base64 data, an age key among them). Substituted, the values became object names, which findings print unredacted
    (a CI log of a stranger's pull request). The graph never copies a Secret's values: they stay unknown, as an
    encrypted Secret's do, and no output holds them."""
    from cli_util import run_cli

    age = "AGE-SECRET-KEY-1" + "QYQSZQGP" * 7 + "QYQSZQ"
    root = tmp_path / "repo"
    files = {
        "clusters/main/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/main"),
        "clusters/main/secrets.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n"
        f"  namespace: flux-system\nstringData:\n  PASSWORD: hunter2pw\n  DBPASS: Zq9xLmP4vT7rW2sK8nB3yH6\n  AGE: {age}\n"
        "data:\n  B64: aHVudGVyMmI2NA==\n",
        "clusters/main/apps.yaml": KS.format(name="apps", path="./apps")
        + "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: cluster-secrets\n",
        "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${PASSWORD}\n  namespace: default\n"
        "  bogus: 1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${DBPASS}\n  namespace: default\n"
        "  bogus: 1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${AGE}\n  namespace: default\n  bogus: 1\n",
        "apps/ks.yaml": KS.format(name="child", path="./apps/child")
        + "  dependsOn:\n    - name: dep-${PASSWORD}\n    - name: ${B64}\n",
        "apps/child/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\n",
    }
    write_tree(root, files)
    r = run_cli("validate", ".", "--kustomize", "never", "--output", fmt, cwd=root)
    assert r.code in (0, 1) and "Traceback" not in r.err, r.err
    for secret in ("hunter2pw", "Zq9xLmP4vT7rW2sK8nB3yH6", age, "hunter2b64"):
        assert secret not in r.out and secret not in r.err, (secret, r.out)


def test_the_finding_points_at_the_first_blanked_use(tmp_path):
    """envsubst replaces the variable where it stands (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go),
    so the finding is on the line of its first use in document order, not the object's first line (fresh7
    elifesciences: a `${endpoint}` on line 274 of a CRD was reported on line 1). ${TIMEZONE} before it is defined."""
    root = _appending_parent_repo(tmp_path)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    hits = [f for f in res.findings if f.rule == "flux.substitute"]
    assert [(f.pointer, f.line) for f in hits] == [("/spec/values/other", 16)], hits


def test_substitution_beyond_the_file_size_limit_is_a_located_finding_not_a_gigabyte(tmp_path):
    """A 64 KiB postBuild variable referenced 1,000 times in one ConfigMap value: envsubst would copy it each time
    (fluxcd/pkg@envsubst/v1.7.0:envsubst template.go, no bound; kustomize-controller@v1.9.4 then applies it). The
    substitution is bounded by the size of a file validate reads (varsub.OUTPUT_LIMIT, 8 MiB), counted before the
    text is made: one finding on the value, at its line, and nothing expanded (before: 65 MB made, 35 CPU s)."""
    root = tmp_path / "repo"
    write_tree(root, {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/x.yaml": KS.format(name="x", path="./apps/x")
        + "  postBuild:\n    substitute:\n      A: " + "a" * 65536 + "\n",
        "apps/x/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/x/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata:\n  k: \""
        + "${A}" * 1000 + "\"\n",
    })
    with cpu_budget(10):
        res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    hits = [f for f in res.findings if f.rule == "flux.substitute-size"]
    assert [(f.file.endswith("apps/x/cm.yaml"), f.line, f.pointer) for f in hits] == [(True, 5, "/data/k")], res.findings
    assert "not evaluated" in hits[0].message and "flux-system/x" in hits[0].message


CM = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: media\n  annotations:\n"
      "    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  url: \"{value}\"\n")


@pytest.mark.parametrize(("value", "fires"), [
    ("https://nas.${domain}:3000", True),  # defined by the Kustomization's postBuild: stays as written
    ("https://${HOST:=nas.lan}", True),  # a default: written for Flux whatever the variables are
    ("${datasource}", False),  # Grafana's, no variable of the Kustomization: the reason to opt out
    ("https://nas.$${domain}", False),  # an escape
])
def test_a_variable_in_an_object_that_opts_out_stays_as_written(tmp_path, value, fires):
    """Adopter round 9 (cubic3d/ops): a HelmRelease annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`
    held `${domain}`, which its Kustomization's postBuild defines; kustomize-controller skips the whole object
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go SubstituteVariables checks the label and annotation
    before envsubst), so the value reached Velero as written and check said "no findings"."""
    root = tmp_path / "repo"
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/media.yaml": KS.format(name="media", path="./apps/media")
        + "  postBuild:\n    substitute:\n      domain: example.org\n",
        "apps/media/kustomization.yaml": "resources: [cm.yaml, plain.yaml]\n",
        "apps/media/cm.yaml": CM.format(name="a", value=value),
        "apps/media/plain.yaml": CM.format(name="b", value=value).replace(
            "  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n", ""),
    }
    write_tree(root, files)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    hits = [f for f in res.findings if f.rule == "flux.substitute-disabled"]
    if not fires:
        assert not hits, hits
        return
    assert len(hits) == 1 and hits[0].file.endswith("apps/media/cm.yaml"), res.findings
    f = hits[0]
    assert (f.severity, f.pointer) == ("warning", "/data/url"), f
    assert "flux-system/media" in f.message and "stays as written" in f.message, f.message
