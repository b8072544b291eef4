"""`velero-gitops init` as a new user runs it, in a Flux repository of their own (real subprocesses)."""

from __future__ import annotations

import subprocess

import pytest

from layout_fixtures import LAYOUTS, app, bootstrap, flux_instance_chart, ks
from velero_gitops.config.loader import load
from velero_gitops.ops import wiring

from cli_util import run_cli, snapshot

AGE = "age1ygu3n9uee7adtr9hppa94wh4m5ekmd2685tk5lh25rhdxcacsvjs9w7mxd"


def _flux_repo(root, apps="k8s/apps", source="home-ops"):
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / apps / "flux-system").mkdir(parents=True)
    (root / "k8s/flux").mkdir(parents=True, exist_ok=True)
    (root / "k8s/flux/source.yaml").write_text(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n"
        f"  name: {source}\n  namespace: flux-system\nspec:\n  interval: 1h\n  url: ssh://git@example.org/me/ops\n")
    (root / ".sops.yaml").write_text(
        "creation_rules:\n  - path_regex: k8s/.*\\.sops\\.ya?ml$\n"
        f"    encrypted_regex: ^(data|stringData)$\n    age: {AGE}\n")
    return root


def test_detects_the_repository_and_writes_a_config_that_renders(tmp_path):
    repo = _flux_repo(tmp_path / "ops")
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--namespaces", "monitoring,database",
                "--cluster", "lab", "--distribution", "k3s", cwd=repo)
    assert r.code == 0, r.err
    cfg = repo / "velero-gitops.yaml"
    text = cfg.read_text()
    assert "(1 found)" in text and "# not found" not in text
    conf = load(cfg).config
    assert conf.repo.apps_root == "k8s/apps" and conf.flux.source_ref.name == "home-ops"
    assert conf.velero.node_agent.distribution == "k3s" and conf.schedules[0].namespaces == ["monitoring", "database"]
    rendered = run_cli("render", cwd=repo)
    assert rendered.code == 0, rendered.err
    assert (repo / "k8s/apps/velero/velero/app/helmrelease.yaml").is_file()


def test_a_guessed_apps_root_is_never_rendered_into_silently(tmp_path):
    """No folder a Flux Kustomization builds: init writes a guess (`# not found: check this`), and both init and the
    render that creates the folder say that Flux will not apply the tree (round-8 adopter: init exited 0 saying only
    "wrote velero-gitops.yaml", and render created kubernetes/apps/velero/ without a word). The rule is wiring's:
    with no sync root in the repository (ops/wiring.py sync_roots) nothing builds the folder."""
    repo = tmp_path / "ops"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    r = run_cli("init", "--no-interactive", "--s3-endpoint", "https://s3.example.org", cwd=repo)
    assert r.code == 0 and "# not found: check this" in (repo / "velero-gitops.yaml").read_text()
    assert "warning: no folder a Flux Kustomization builds was found" in r.err, r.err
    rendered = run_cli("render", cwd=repo)
    apps = load(repo / "velero-gitops.yaml").config.repo.apps_root
    assert rendered.code == 0 and (repo / apps).is_dir()
    assert f"warning: {apps} did not exist before this render" in rendered.err, rendered.err
    assert "Flux will not apply the tree" in rendered.err


def test_init_from_a_subfolder_points_root_at_the_repository(tmp_path):
    repo = _flux_repo(tmp_path / "ops")
    sub = repo / "clusters" / "main"
    sub.mkdir(parents=True)
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", cwd=sub)
    assert r.code == 0, r.err
    assert "  root: ../..  #" in (sub / "velero-gitops.yaml").read_text()
    assert load(sub / "velero-gitops.yaml").repo_root.resolve() == repo.resolve()


def test_never_overwrites_and_refuses_bad_answers_without_writing(tmp_path):
    repo = _flux_repo(tmp_path / "ops")
    (repo / "velero-gitops.yaml").write_text("# mine\n")
    before = snapshot(repo)
    again = run_cli("init", "--s3-endpoint", "https://s3.example.org", cwd=repo)
    assert again.code == 2 and "never overwrites" in again.err and snapshot(repo) == before
    (repo / "velero-gitops.yaml").unlink()
    before = snapshot(repo)
    bad = run_cli("init", "--s3-endpoint", "http://s3.example.org", cwd=repo)
    assert bad.code == 2 and "velero-gitops.yaml (not written)" in bad.err and "Traceback" not in bad.err
    assert snapshot(repo) == before
    missing = run_cli("init", "--no-interactive", cwd=repo)
    assert missing.code == 2 and "--s3-endpoint" in missing.err and snapshot(repo) == before


def test_interactive_asks_for_what_it_cannot_detect(tmp_path):
    repo = _flux_repo(tmp_path / "ops", apps="kubernetes/apps", source="flux-system")
    r = run_cli("init", "--interactive", cwd=repo, stdin="lab\nhttps://s3.example.org:9000\nmonitoring,network\n")
    assert r.code == 0, r.err
    conf = load(repo / "velero-gitops.yaml").config
    assert conf.cluster == "lab" and str(conf.s3.endpoint).startswith("https://s3.example.org:9000")
    assert conf.schedules[0].namespaces == ["monitoring", "network"] and conf.repo.apps_root == "kubernetes/apps"


@pytest.mark.parametrize("confirm,written", [("y", True), ("n", False)])
def test_interactive_http_endpoint_is_asked_at_once_not_refused_at_the_end(tmp_path, confirm, written):
    """A malformed endpoint is asked again; a plain http one is confirmed right away and written with
    s3.allowHttp: true (the config's rule, model.S3Config), instead of every answer being thrown away."""
    repo = _flux_repo(tmp_path / "ops", apps="kubernetes/apps", source="flux-system")
    r = run_cli("init", "--interactive", cwd=repo, stdin=f"lab\nftp://x\nhttp://minio.lan:9000\n{confirm}\nmonitoring\n")
    assert "must be a https:// or http:// URL with a host" in r.out + r.err
    cfg = repo / "velero-gitops.yaml"
    if written:
        assert r.code == 0, r.err
        s3 = load(cfg).config.s3
        assert (s3.endpoint, s3.allow_http) == ("http://minio.lan:9000", True)
    else:
        assert r.code == 2 and "not written: use an https:// endpoint" in r.err and not cfg.exists()


def test_allow_http_flag_without_a_terminal(tmp_path):
    repo = _flux_repo(tmp_path / "ops", apps="kubernetes/apps", source="flux-system")
    refused = run_cli("init", "--s3-endpoint", "http://minio.lan:9000", "--no-interactive", cwd=repo)
    assert refused.code == 2 and "allowHttp" in refused.err and not (repo / "velero-gitops.yaml").exists()
    r = run_cli("init", "--s3-endpoint", "http://minio.lan:9000", "--allow-http", "--no-interactive", cwd=repo)
    assert r.code == 0, r.err
    assert load(repo / "velero-gitops.yaml").config.s3.allow_http is True


def test_foreign_crds_make_check_skip_what_has_no_schema(tmp_path):
    """A home-ops repository holds other projects' CRDs (ExternalSecret, GrafanaDashboard, ...): init says
    how many and which, and sets check.ignoreMissingSchemas, so that the first `check` is not red for
    kinds the offline bundle cannot know. Kustomize's own files and bundled kinds are not counted."""
    repo = _flux_repo(tmp_path / "ops")
    app = repo / "k8s/apps/default/app"
    app.mkdir(parents=True)
    (app / "es.yaml").write_text("---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: a\n"
                                 "---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: b\n")
    (app / "dash.yaml").write_text("apiVersion: grafana.integreatly.org/v1beta1\nkind: GrafanaDashboard\nmetadata:\n  name: d\n")
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    (app / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                            "resources: [es.yaml, dash.yaml, cm.yaml]\n")
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--cluster", "lab", cwd=repo)
    assert r.code == 0, r.err
    text = (repo / "velero-gitops.yaml").read_text()
    assert "# 3 objects here are of kinds the offline schema bundle does not cover:\n  # ExternalSecret, GrafanaDashboard." in text
    assert load(repo / "velero-gitops.yaml").config.check.ignore_missing_schemas is True


def test_no_check_section_when_every_kind_has_a_schema(tmp_path):
    repo = _flux_repo(tmp_path / "ops")
    assert run_cli("init", "--s3-endpoint", "https://s3.example.org", "--cluster", "lab", cwd=repo).code == 0
    assert "check:" not in (repo / "velero-gitops.yaml").read_text()


def test_the_repository_source_is_the_one_its_kustomizations_read(tmp_path):
    """A repository also declares GitRepositories of other projects (an operator's CRDs); its own is
    the one its Flux Kustomizations read. Found on a real repository, where the first GitRepository
    in flux-system was an operator's and check then judged the whole tree as read by no Kustomization."""
    repo = _flux_repo(tmp_path / "ops", source="aaa-operator-crds")
    ks = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {n}\n  namespace: flux-system\n" \
         "spec:\n  interval: 1h\n  path: ./k8s/apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: {src}\n"
    (repo / "k8s/flux/apps.yaml").write_text(ks.format(n="apps", src="flux-system") + "---\n" + ks.format(n="more", src="flux-system"))
    (repo / "k8s/flux/crds.yaml").write_text(ks.format(n="crds", src="aaa-operator-crds"))
    assert run_cli("init", "--s3-endpoint", "https://s3.example.org", "--cluster", "lab", cwd=repo).code == 0
    assert load(repo / "velero-gitops.yaml").config.flux.source_ref.name == "flux-system"



# -- the apps root from the Flux graph (issue 18 §2), on the layout fixtures of tests/layout_fixtures.py ----------

def _init(repo, *extra):
    return run_cli("init", "--no-interactive", "--s3-endpoint", "https://s3.example.org", *extra, cwd=repo)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_apps_root_is_where_the_clusters_kustomizations_point(tmp_path, layout):
    """Not a folder name: the folder built by the Flux Kustomization, reached from the sync root, that applies the
    apps' Flux Kustomizations (kubernetes/apps/main in the cluster sub-folder layout, where kubernetes/apps exists
    too); with none that fans out, the sync root's own folder. Then render + --wire end with the tree applied."""
    repo = tmp_path / "repo"
    repo.mkdir()
    expected = {"per-app Flux Kustomizations": "clusters/main"}.get(layout) or LAYOUTS[layout](repo)
    if layout == "per-app Flux Kustomizations":
        LAYOUTS[layout](repo)
    r = _init(repo, "--cluster", "lab")
    assert r.code == 0, r.err
    conf = load(repo / "velero-gitops.yaml")
    assert conf.config.repo.apps_root == expected
    assert "# built by Kustomization flux-system/" in (repo / "velero-gitops.yaml").read_text()
    assert run_cli("render", "-q", "--wire", cwd=repo).code == 0
    assert wiring.for_config(conf).wired


def _two_clusters(repo):
    for name in ("alpha", "beta"):
        c = bootstrap(repo, name)
        (c / "apps.yaml").write_text(ks("cluster-apps", f"./kubernetes/{name}/apps"))
        app(repo / "kubernetes" / name / "apps" / "media", "plex")


def test_several_clusters_need_cluster(tmp_path):
    """clusters/alpha and clusters/beta, each with its own sync root: init refuses to guess without a terminal,
    names both, and takes --cluster; a name that is neither is refused, nothing written."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _two_clusters(repo)
    before = snapshot(repo)
    r = _init(repo)
    assert r.code == 2 and "alpha, beta" in r.err and "--cluster" in r.err and snapshot(repo) == before
    r = _init(repo, "--cluster", "gamma")
    assert r.code == 2 and "none of them" in r.err and snapshot(repo) == before
    r = _init(repo, "--cluster", "beta")
    assert r.code == 0, r.err
    conf = load(repo / "velero-gitops.yaml").config
    assert conf.repo.apps_root == "kubernetes/beta/apps" and conf.cluster == "beta"


def test_several_clusters_asked_on_a_terminal(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _two_clusters(repo)
    r = run_cli("init", "--interactive", cwd=repo, stdin="alpha\nhttps://s3.example.org\nmonitoring\n")
    assert r.code == 0, r.err
    assert load(repo / "velero-gitops.yaml").config.repo.apps_root == "kubernetes/alpha/apps"


def test_a_namespace_glob_is_written_as_a_string(tmp_path):
    """`*` starts a YAML alias: unquoted in the flow list the config would not load."""
    repo = _flux_repo(tmp_path / "ops")
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--namespaces", "*", "--no-interactive", cwd=repo)
    assert r.code == 0, r.err
    assert load(repo / "velero-gitops.yaml").config.schedules[0].namespaces == ["*"]


# -- the sync root of flux-operator's flux-instance chart (issue 19, adoption) -----------------------------------

def _leftover_head(repo):
    """A Flux Kustomization file nothing applies that fans out to another: a chain's head, as a leftover is."""
    old = repo / "kubernetes" / "old"
    old.mkdir(parents=True)
    (old / "ks.yaml").write_text(ks("old-apps", "./kubernetes/old/apps"))
    (old / "apps").mkdir()
    (old / "apps" / "ks.yaml").write_text(ks("old-app", "./kubernetes/old/apps"))


@pytest.mark.parametrize("values_from", [False, True])
def test_the_flux_instance_charts_values_are_the_sync_root(tmp_path, values_from):
    """The FluxInstance lives in the values of a HelmRelease of the flux-instance chart, whose template renders it
    (controlplaneio-fluxcd/charts@cf746d9:charts/flux-instance/templates/instance.yaml; the chart found from the
    chartRef's OCIRepository URL). Its sync path is the one root: a leftover chain head is no second cluster. The
    values are the ones helm-controller composes, valuesFrom first (fluxcd/helm-controller@v1.6.3 via
    fluxcd/pkg@chartutil/v1.27.1:chartutil/values.go ChartValuesFromReferences): the cluster-template layout keeps
    them in a configMapGenerator's values file."""
    repo = tmp_path / "repo"
    repo.mkdir()
    flux_instance_chart(repo, values_from=values_from)
    app(repo / "kubernetes" / "apps" / "media", "plex")
    _leftover_head(repo)
    facts = wiring.flux_facts(repo, ["GitRepository/flux-system/flux-system"])
    roots = wiring.sync_roots(facts)
    # the FluxInstance, and the Kustomization flux-operator makes from its sync (flux-system/flux-system)
    assert {r.path_dir for r in roots} == {(repo / "kubernetes/flux/cluster").resolve()}
    assert ("FluxInstance", "flux-instance") in [(r.kind, r.name) for r in roots]
    r = _init(repo)
    assert r.code == 0, r.err
    conf = load(repo / "velero-gitops.yaml")
    assert conf.config.repo.apps_root == "kubernetes/apps"
    assert run_cli("render", "-q", "--wire", cwd=repo).code == 0
    assert wiring.for_config(conf).wired


def _settings(repo, cluster, flux_path):
    d = repo / "kubernetes" / "flux" / cluster
    d.mkdir(parents=True, exist_ok=True)
    (d / "settings.yaml").write_text("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n"
                                     f"  namespace: flux-system\ndata:\n  FLUX_PATH: {flux_path}\n")
    (d / "ks.yaml").write_text(ks("cluster-apps", f"./kubernetes/apps/{cluster}"))
    app(repo / "kubernetes" / "apps" / cluster / "media", "plex")


def test_a_templated_sync_path_has_one_root_per_value_the_repository_gives(tmp_path):
    """`path: ${FLUX_PATH}` in a HelmRelease several clusters share: each cluster's settings ConfigMap gives it a
    value (what postBuild.substituteFrom reads), so each value is a sync root, and --cluster picks one."""
    repo = tmp_path / "repo"
    repo.mkdir()
    flux_instance_chart(repo, "${FLUX_PATH}")
    for c in ("alpha", "beta", "gamma"):
        _settings(repo, c, f"kubernetes/flux/{c}")
    # gamma's settings come from a configMapGenerator reading an env file (kustomize api/kv/kv.go: KEY=VALUE lines)
    gamma = repo / "kubernetes" / "flux" / "gamma"
    (gamma / "settings.yaml").unlink()
    (gamma / "cluster.env").write_text("# settings\nCLUSTER=gamma\nFLUX_PATH=kubernetes/flux/gamma\n")
    (gamma / "kustomization.yaml").write_text("resources:\n  - ./ks.yaml\nconfigMapGenerator:\n  - name: cluster-settings\n"
                                             "    envs:\n      - cluster.env\ngeneratorOptions:\n  disableNameSuffixHash: true\n")
    r = _init(repo)
    assert r.code == 2 and "alpha, beta, gamma" in r.err and "--cluster" in r.err
    r = _init(repo, "--cluster", "beta")
    assert r.code == 0, r.err
    assert load(repo / "velero-gitops.yaml").config.repo.apps_root == "kubernetes/apps/beta"


def test_a_sync_path_the_repository_gives_no_value_for_is_asked(tmp_path):
    """The variable is set nowhere in the files (an encrypted Secret, the cluster): init cannot know the root, says
    so with the flag to pass instead of guessing from the chains' heads, writes nothing; --apps-root is taken."""
    repo = tmp_path / "repo"
    repo.mkdir()
    flux_instance_chart(repo, "${FLUX_PATH}")
    app(repo / "kubernetes" / "apps" / "media", "plex")
    _leftover_head(repo)
    before = snapshot(repo)
    r = _init(repo)
    assert r.code == 2 and "${FLUX_PATH}" in r.err and "--apps-root" in r.err and snapshot(repo) == before
    assert "helmrelease.yaml" in r.err
    r = _init(repo, "--apps-root", "kubernetes/nowhere")
    assert r.code == 2 and "no such folder" in r.err and snapshot(repo) == before
    r = _init(repo, "--apps-root", "kubernetes/apps")
    assert r.code == 0, r.err
    assert load(repo / "velero-gitops.yaml").config.repo.apps_root == "kubernetes/apps"


@pytest.mark.parametrize("sops", [False, True])
def test_a_repository_whose_secrets_an_operator_makes_gets_credentials_from_the_repository(tmp_path, sops):
    """A repository with ExternalSecrets and no SOPS: the tree names Secrets made the same way (s3.credentialsFrom:
    repository, velero.repositoryPassword: elsewhere), so nothing in it is encrypted and its Kustomization has no
    decryption, whose key Secret the cluster does not have (fluxcd/kustomize-controller@v1.9.4:
    internal/decryptor/decryptor.go ImportKeys). An ExternalSecret makes Secret spec.target.name (validate/producers.py,
    external-secrets/external-secrets@v2.9.0:apis/externalsecrets/v1/externalsecret_types.go). With a .sops.yaml, SOPS
    it stays. Then check names the two Secrets to make (secret.not-produced) until an ExternalSecret makes them."""
    repo = tmp_path / "repo"
    repo.mkdir()
    LAYOUTS["generated"](repo)
    es = ("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\n  namespace: default\n"
          "spec:\n  secretStoreRef: {kind: ClusterSecretStore, name: onepassword}\n  target: {name: db-secret}\n"
          "  dataFrom: [{extract: {key: db}}]\n")
    (repo / "kubernetes/apps/default").mkdir(parents=True)
    (repo / "kubernetes/apps/default/db-es.yaml").write_text(es)  # Flux's generated build takes it
    if sops:
        (repo / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: .*\\.sops\\.yaml$\n    age: {AGE}\n")
    r = _init(repo, "--cluster", "main")
    assert r.code == 0, r.err
    conf = load(repo / "velero-gitops.yaml").config
    assert (conf.s3.credentials_from, conf.velero.repository_password) == (
        ("sops", "managed") if sops else ("repository", "elsewhere"))
    assert ("sops-init" in r.err) == sops, r.err
    if sops:
        return
    assert run_cli("render", cwd=repo).code == 0
    ks_text = next(repo.rglob("velero/velero/ks.yaml")).read_text()
    assert "decryption" not in ks_text
    checked = run_cli("check", cwd=repo)
    assert checked.code == 1, checked.out + checked.err
    for name in ("velero/velero-s3-secret", "velero/velero-repo-credentials"):
        assert f"nothing in the repository makes Secret {name}" in checked.out + checked.err


@pytest.mark.parametrize("provider", [None, "chart", "own-monitor", "crd"])
def test_monitoring_is_off_where_nothing_installs_the_prometheus_operator_crds(tmp_path, provider):
    """Logik-Dev/k8s-homelab: no Prometheus Operator anywhere, yet velero-monitoring was rendered; its dry-run fails at
    every retry (fluxcd/pkg@ssa/v0.76.1:ssa/manager_apply.go ApplyAll), so it is never Ready and a parent with
    `wait: true` blocks the repository. init asks the graph's CRD providers (validate/crd_providers.shown_groups):
    no CustomResourceDefinition of monitoring.coreos.com, no object of that group, no chart that ships it
    (prometheus-community/helm-charts@kube-prometheus-stack-88.5.3: charts/crds) -> metrics.enabled: false, and
    render writes no monitoring folder. Any of the three keeps it on."""
    repo = tmp_path / "repo"
    repo.mkdir()
    LAYOUTS["generated"](repo)
    objs = {
        "chart": "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: kps, namespace: monitoring}\n"
                 "spec:\n  interval: 1h\n  chart: {spec: {chart: kube-prometheus-stack, sourceRef: {kind: HelmRepository, "
                 "name: prometheus-community}}}\n",
        "own-monitor": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: app, namespace: media}\n"
                       "spec: {selector: {}, endpoints: [{port: http}]}\n",
        "crd": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
               "  name: servicemonitors.monitoring.coreos.com\nspec:\n  group: monitoring.coreos.com\n"
               "  names: {kind: ServiceMonitor, plural: servicemonitors}\n  scope: Namespaced\n  versions: []\n",
    }
    if provider:
        (repo / "kubernetes/apps/monitoring").mkdir(parents=True)
        (repo / "kubernetes/apps/monitoring/obj.yaml").write_text(objs[provider])
    r = _init(repo, "--cluster", "main")
    assert r.code == 0, r.err
    assert load(repo / "velero-gitops.yaml").config.metrics.enabled is (provider is not None)
    if provider is None:
        assert run_cli("render", cwd=repo).code == 0
        assert not (repo / "kubernetes/apps/velero/velero/monitoring").exists()
        assert "velero-monitoring" not in (repo / "kubernetes/apps/velero/velero/ks.yaml").read_text()


def test_a_sync_written_beside_the_folder_it_applies_is_one_cluster(tmp_path):
    """`flux bootstrap` writes <path>/flux-system/gotk-sync.yaml; a repository whose sync sits at ./flux-system and
    applies ./flux-system itself (its kustomization.yaml lists the per-area Kustomizations: a fresh repository) has one
    cluster. The file holds the flux-system Kustomization, so it is no empty marker standing for a root bootstrap
    will write (validate/flux.py SyncRoot): init found two clusters, the folder's name and flux-system."""
    repo = tmp_path / "repo"
    (repo / "flux-system").mkdir(parents=True)
    (repo / "flux-system/gotk-sync.yaml").write_text(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: ssh://git@example.org/r\n"
        + ks("flux-system", "./flux-system"))
    (repo / "flux-system/infra.yaml").write_text(ks("infra", "./infra"))
    (repo / "flux-system/kustomization.yaml").write_text("resources:\n  - gotk-sync.yaml\n  - infra.yaml\n")
    app(repo / "infra" / "media", "plex")
    (repo / "infra/kustomization.yaml").write_text("resources:\n  - ./media\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    r = _init(repo)
    assert r.code == 0, r.err
    conf = load(repo / "velero-gitops.yaml").config
    assert conf.repo.apps_root == "infra", conf



def test_one_flux_kustomization_per_app_is_listed_where_the_others_are(tmp_path):
    """clusters/main lists one Flux Kustomization file per app, each building ./apps/<app>, and one for its own
    flux-system (a fresh repository's layout): no build holds a folder per app, so every candidate ties at none.
    init took one app's folder, and render --wire tied Velero to that app; the folder that lists the apps is the
    cluster's own, so init names it and render --wire lists our tree there, where Flux then applies it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    c = bootstrap(repo)
    names = ["dashy", "n8n", "qdrant"]
    (c / "infra-flux-system.yaml").write_text(ks("infra-flux-system", "./clusters/main/flux-system"))
    for n in names:
        (c / f"apps-{n}.yaml").write_text(ks(n, f"./apps/{n}"))
        (repo / "apps" / n).mkdir(parents=True)
        (repo / "apps" / n / "cm.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n"
                                                    f"  namespace: {n}\n")
    (c / "kustomization.yaml").write_text("resources:\n  - infra-flux-system.yaml\n"
                                          + "".join(f"  - apps-{n}.yaml\n" for n in names))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    r = _init(repo, "--namespaces", "n8n")
    assert r.code == 0, r.err
    assert load(repo / "velero-gitops.yaml").config.repo.apps_root == "clusters/main"
    r = run_cli("render", "--wire", cwd=repo)
    assert r.code == 0 and "wired" in r.out, r.out + r.err
    assert wiring.for_config(load(repo / "velero-gitops.yaml")).wired


def test_a_folder_whose_build_renames_its_objects_is_no_apps_root(tmp_path):
    """A fresh repository: the broadest folder a Flux Kustomization builds has a kustomization.yaml with
    `namespace: torrents` (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/filters/namespace moves every object it
    builds, ours included), so render refuses to list our tree there; init chose it all the same. A folder whose
    build transforms what it holds is now the last choice: init takes the cluster's folder, where Flux's generated
    kustomization picks our tree up (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    c = bootstrap(repo)
    (c / "torrents.yaml").write_text(ks("torrents", "./apps/torrents"))
    t = repo / "apps/torrents"
    for n in ("qbit", "sonarr", "radarr"):
        (t / n).mkdir(parents=True)
        (t / n / "cm.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n")
    (t / "kustomization.yaml").write_text("namespace: torrents\nresources: [qbit/cm.yaml, sonarr/cm.yaml, radarr/cm.yaml]\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    r = _init(repo, "--namespaces", "torrents")
    assert r.code == 0, r.err
    assert load(repo / "velero-gitops.yaml").config.repo.apps_root == "clusters/main"
    r = run_cli("render", "--wire", cwd=repo)
    assert r.code == 0 and "namespace: torrents" not in r.err, r.out + r.err
    assert wiring.for_config(load(repo / "velero-gitops.yaml")).wired
