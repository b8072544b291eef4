"""`velero-gitops check`: render drift, validation of the repository (strict on the rendered tree,
kubeconform-like on the rest, as the config's `check:` section says), the secret check, and the replay
store of clean runs.

Every scenario copies a committed tree (clusters/home-lab or a golden tree) into a temporary repository
and writes its own tiny fixtures beside it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from velero_gitops import runcache
from velero_gitops.check import CheckOptions, check_or_replay, run_check

from cli_util import EXAMPLES, REPO, require_kubectl, run_cli

GOLDEN = REPO / "tests" / "golden"
HOME_LAB = next(e for e in EXAMPLES if e.name == "home-lab")
CONFIG = "velero-gitops.yaml"


@pytest.fixture(autouse=True)
def _kubectl():
    require_kubectl()  # check builds kustomizations with it


@pytest.fixture
def xdg(tmp_path, monkeypatch) -> Path:
    """The replay store (and the schema cache) stay inside the test."""
    d = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(d))
    monkeypatch.delenv("VELERO_GITOPS_NO_CACHE", raising=False)
    return d


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture
def repo(tmp_path, xdg, monkeypatch) -> Path:
    """clusters/home-lab as a repository of its own (its config says `repo.root: .`), as the working directory."""
    r = _copy(HOME_LAB, tmp_path / "repo")
    monkeypatch.chdir(r)
    return r


def _add_config(repo: Path, text: str) -> None:
    cfg = repo / CONFIG
    cfg.write_text(cfg.read_text() + "\n" + text)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _flux_app(repo: Path, name: str, kustomization: str) -> Path:
    """kubernetes/apps/<name>/app built by a Flux Kustomization, as Flux builds only what a Kustomization names.

    The repository then holds Flux Kustomizations of its own, so the config declares its dependency external, and the
    Prometheus Operator CRDs its monitoring needs (nothing here installs them: flux.crd-provider-rendered)."""
    _write(repo / f"kubernetes/apps/{name}/ks.yaml", OPENEBS_KS.replace("name: openebs", f"name: {name}").replace(
        "openebs-system/openebs/app", f"{name}/app"))
    _add_config(repo, "check:\n  externals: [Kustomization/flux-system/openebs, "
                "CustomResourceDefinition/*/monitoring.coreos.com]\n")
    return _write(repo / f"kubernetes/apps/{name}/app/kustomization.yaml", kustomization).parent


def _run(*configs: str, **opts) -> tuple[bool, list[str]]:
    result = run_check([Path(c) for c in (configs or (CONFIG,))], CheckOptions(**opts))
    return result.clean, [f"{f.file}:{f.line} {f.obj} {f.pointer}: {f.message} [{f.rule}]" for f in result.findings]


# ------------------------------------------------------------------------------------------------ CLI


def test_example_is_clean_and_the_summary_counts_objects(repo):
    r = run_cli("check", cwd=repo)
    assert r.code == 0, r.out + r.err
    last = r.out.strip().splitlines()[-1]
    assert last.endswith(" 0 failed") and not last.startswith("0 passed"), r.out


def test_config_option_and_github_output(repo):
    r = run_cli("check", "--config", CONFIG, "--output", "github", "--no-cache", cwd=repo)
    assert r.code == 0, r.out + r.err
    assert "::error" not in r.out


def test_hand_edit_is_drift_and_a_schema_finding(repo):
    hr = next(repo.rglob("helmrelease.yaml"))
    hr.write_text(hr.read_text().replace("  interval: ", "  intervall: ", 1))
    r = run_cli("check", "--no-cache", cwd=repo)
    assert r.code == 1
    rel = hr.relative_to(repo).as_posix()
    assert any(ln.startswith(rel + ":") and "/spec/intervall: additional property not allowed" in ln for ln in r.out.splitlines()), r.out
    assert any(ln.startswith(rel) and "differs from what the config renders" in ln for ln in r.out.splitlines()), r.out


def test_no_config_is_a_usage_error(tmp_path):
    r = run_cli("check", cwd=tmp_path)
    assert r.code == 2 and "no config" in r.err and "Traceback" not in r.err


@pytest.mark.parametrize("args", [["--output", "xml"], ["--kustomize", "sometimes"], ["--ignore-filename-pattern", "(["]])
def test_bad_options_are_usage_errors(repo, args):
    r = run_cli("check", *args, cwd=repo)
    assert r.code == 2 and "Traceback" not in r.err and r.err.startswith("error: "), r.err


# ---------------------------------------------------------------------------------- opt-ins and scope


GOLDENS = sorted(p.parent.name for p in GOLDEN.glob("*/velero-gitops.yaml"))


@pytest.mark.parametrize("name", GOLDENS)
def test_every_golden_tree_passes_check(name, tmp_path, xdg, monkeypatch):
    """http and insecure TLS opted in, decryption injected by a root patch, and every other edge shape."""
    monkeypatch.chdir(_copy(GOLDEN / name, tmp_path / name))
    clean, shown = _run()
    assert clean, shown


def test_http_opt_in_covers_only_what_the_config_renders(tmp_path, xdg, monkeypatch):
    repo = _copy(GOLDEN / "http", tmp_path / "http")
    monkeypatch.chdir(repo)
    _write(repo / "kubernetes/apps/other/bsl.yaml", """\
apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata:
  name: other
  namespace: velero
spec:
  provider: aws
  objectStorage:
    bucket: other
  config:
    s3Url: http://other.lan:9000
""")
    clean, shown = _run()
    assert not clean
    assert [s for s in shown if "[policy.s3-https]" in s] == [
        "kubernetes/apps/other/bsl.yaml:11 BackupStorageLocation/velero/other /spec/config/s3Url: s3Url "
        "'http://other.lan:9000' uses plain http: credentials and backups would cross the network unencrypted; "
        "use https:// (velero-gitops policy, on every BackupStorageLocation it validates; allowed explicitly by "
        "`validate --allow-http-s3`, or s3.allowHttp for the tree a config renders) [policy.s3-https]"], shown


def test_without_the_opt_in_the_rendered_http_endpoint_fails(repo):
    """The same endpoint that the http golden allows is a finding when this config did not opt in."""
    hr = next(repo.rglob("helmrelease.yaml"))
    hr.write_text(hr.read_text().replace("https://s3.68cc.io", "http://s3.68cc.io", 1))
    clean, shown = _run()
    assert any("[policy.s3-https]" in s and "helmrelease.yaml" in s for s in shown), shown


def test_root_patch_is_read_from_outside_the_apps_root(tmp_path, xdg, monkeypatch):
    """Without the hand-written root Kustomization, the tree that needs decryption fails."""
    repo = _copy(GOLDEN / "root-patch", tmp_path / "root-patch")
    monkeypatch.chdir(repo)
    assert _run()[0]
    (repo / "kubernetes/flux/cluster/ks.yaml").unlink()
    clean, shown = _run()
    assert not clean and any("[flux.decryption]" in s for s in shown), shown


CNPG = """\
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: pg
  namespace: database
spec:
  instances: 3
  storage:
    size: 10Gi
"""
CERTIFICATE = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: wildcard
  namespace: network
spec:
  secretName: wildcard-tls
  dnsNames: ["*.example.org"]
  issuerRef:
    name: letsencrypt
    kind: ClusterIssuer
"""
# a CRD of no package the bundle is built from (Gateway API ships no maintained schema package)
HTTPROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: network
spec:
  hostnames: ["web.example.org"]
  parentRefs: [{name: gateway}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
"""
HTTPROUTE_SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {
            "hostnames": {"type": "array", "items": {"type": "string"}},
            "parentRefs": {"type": "array", "items": {"type": "object"}},
            "rules": {"type": "array", "items": {"type": "object"}},
        }},
    },
}


@pytest.fixture
def foreign(repo) -> Path:
    """A repository that also holds a CNPG Cluster, a Gateway API HTTPRoute and a Taskfile."""
    _write(repo / "kubernetes/apps/database/cluster.yaml", CNPG)
    _write(repo / "kubernetes/apps/network/httproute.yaml", HTTPROUTE)
    _write(repo / "Taskfile.yaml", "version: '3'\ntasks:\n  default:\n    cmds: [echo hi]\n")
    return repo


def test_foreign_crds_fail_without_configuration(foreign):
    clean, shown = _run()
    assert not clean
    assert sum("[schema.missing]" in s for s in shown) == 2, shown
    assert not any(s.startswith("Taskfile.yaml") for s in shown), shown  # not an object, applied by nothing


def test_foreign_crds_pass_through_the_config_file(foreign):
    _add_config(foreign, "check:\n  ignoreMissingSchemas: true\n")
    clean, shown = _run()
    assert clean, shown
    r = run_cli("check", cwd=foreign)  # the hook: no flags
    assert r.code == 0, r.out + r.err


def test_same_options_on_the_command_line(foreign):
    assert _run(ignore_missing_schemas=True)[0]
    assert _run(skip=["Cluster", "HTTPRoute"])[0]
    assert not _run(ignore_filename_patterns=["^kubernetes/apps/database/"])[0]  # the HTTPRoute is left
    r = run_cli("check", "--ignore-filename-pattern", "^kubernetes/apps/(database|network)/", cwd=foreign)
    assert r.code == 0, r.out + r.err


def test_a_schema_folder_in_the_config_validates_the_foreign_crd(foreign):
    """schemaLocations (CRDs-catalog layout <group>/<kind>_<version>.json), relative to the config file."""
    _write(foreign / "schemas/gateway.networking.k8s.io/httproute_v1.json", json.dumps(HTTPROUTE_SCHEMA))
    _add_config(foreign, "check:\n  schemaLocations: [schemas]\n  ignoreFilenamePatterns: ['^kubernetes/apps/database/']\n")
    assert _run()[0]
    route = foreign / "kubernetes/apps/network/httproute.yaml"
    route.write_text(route.read_text().replace("  hostnames:", "  hostnmes:"))
    clean, shown = _run()
    assert not clean
    assert "kubernetes/apps/network/httproute.yaml:7 HTTPRoute/network/web /spec/hostnmes: " \
           "additional property not allowed [schema]" in shown, shown


def test_a_cert_manager_certificate_is_validated_by_the_bundle(repo):
    """cert-manager's CRDs are in the offline bundle (cloudcoil-models-cert-manager, generated from
    cert-manager/cert-manager@v1.21.1:deploy/crds): a valid Certificate passes with no configuration, a
    misspelt field is an error at its line, and a missing required one is named."""
    cert = repo / "kubernetes/apps/network/certificate.yaml"
    _write(cert, CERTIFICATE)
    assert _run()[0]
    cert.write_text(CERTIFICATE.replace("  secretName:", "  secretNmae:"))
    clean, shown = _run()
    assert not clean
    assert any(s.startswith("kubernetes/apps/network/certificate.yaml:7 Certificate/network/wildcard "
                            "/spec/secretNmae: additional property not allowed") for s in shown), shown
    assert any("secretName" in s and "required" in s for s in shown), shown


def test_leniency_never_reaches_the_rendered_tree(repo):
    """skip, ignoreMissingSchemas and ignoreFilenamePatterns loosen the rest of the repository only."""
    _add_config(repo, "check:\n  ignoreMissingSchemas: true\n  skip: [HelmRelease, Namespace]\n"
                      "  ignoreFilenamePatterns: ['^kubernetes/']\n")
    hr = next(repo.rglob("helmrelease.yaml"))
    hr.write_text(hr.read_text().replace("  interval: ", "  intervall: ", 1))
    clean, shown = _run()
    assert any("/spec/intervall: additional property not allowed [schema]" in s for s in shown), shown


@pytest.mark.parametrize("location, message", [
    ("https://example.org/{{.ResourceKind}}.json", "check never downloads"),
    ("../outside", "is outside the repository"),
])
def test_schema_locations_stay_inside_the_repository(repo, location, message):
    _add_config(repo, f"check:\n  schemaLocations: ['{location}']\n")
    r = run_cli("check", cwd=repo)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r.err
    if "://" in location:
        assert "velero-gitops.yaml:" in r.err and "check.schemaLocations" in r.err


# ------------------------------------------------------------------------------------------ false passes


OPENEBS_KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: openebs
  namespace: flux-system
spec:
  interval: 1h
  path: ./kubernetes/apps/openebs-system/openebs/app
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
    namespace: flux-system
"""


@pytest.fixture
def flux_repo(repo) -> Path:
    """A real Flux repository: the dependency is one of its own Kustomizations; the Prometheus Operator CRDs of the
    rendered monitoring come from outside it (nothing here installs them: flux.crd-provider-rendered)."""
    _add_config(repo, "check:\n  externals: [CustomResourceDefinition/*/monitoring.coreos.com]\n")
    _write(repo / "kubernetes/apps/openebs-system/openebs/ks.yaml", OPENEBS_KS)
    _write(repo / "kubernetes/apps/openebs-system/openebs/app/kustomization.yaml",
           "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")
    return repo


def test_dependency_found_in_the_repository_passes(flux_repo):
    clean, shown = _run()
    assert clean, shown


def test_misspelled_dependency_fails_like_validate(flux_repo):
    cfg = flux_repo / CONFIG
    cfg.write_text(cfg.read_text().replace("    - name: openebs\n", "    - name: openebs-localpv\n"))
    assert run_cli("render", cwd=flux_repo).code == 0
    clean, shown = _run()
    assert not clean and any("openebs-localpv" in s and "[flux.depends-on]" in s for s in shown), shown
    r = run_cli("validate", ".", "--ignore-filename-pattern", "velero-gitops.yaml", cwd=flux_repo)
    assert "flux-system/openebs-localpv: no YAML manifest in the repository declares it" in r.out, r.out


def test_declared_external_dependency_passes(flux_repo):
    cfg = flux_repo / CONFIG
    cfg.write_text(cfg.read_text().replace("    - name: openebs\n", "    - name: openebs-localpv\n"))
    assert run_cli("render", cwd=flux_repo).code == 0
    cfg.write_text(cfg.read_text().replace("  externals: [", "  externals: [Kustomization/flux-system/openebs-localpv, "))
    clean, shown = _run()
    assert clean, shown


def test_parent_namespace_overrides_the_child_kustomization_namespace(flux_repo):
    """kustomize builds each base with its own transformers first, then runs the parent's (its namespace: last),
    so a Kustomization under a parent with `namespace: openebs-system` lives there, and a dependsOn on
    flux-system/openebs names nothing (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go
    accumulateTarget: accumulateResources, then runTransformers)."""
    base = flux_repo / "kubernetes/apps/openebs-system"
    (base / "openebs/ks.yaml").write_text(OPENEBS_KS.replace("  namespace: flux-system\nspec", "spec", 1))
    _write(base / "openebs/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                                "namespace: flux-system\nresources: [ks.yaml]\n")
    _write(base / "kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                        "namespace: openebs-system\nresources: [openebs]\n")
    clean, shown = _run()
    assert not clean and any("flux-system/openebs" in s and "[flux.depends-on]" in s for s in shown), shown


# -------------------------------------------------------------------------------------------- the replay


def _replays(configs=(CONFIG,), opts: CheckOptions | None = None, monkeypatch=None) -> bool:
    """True when check_or_replay answered from the store (run_check not called)."""
    import velero_gitops.check as check_mod

    called = []
    real = check_mod.run_check
    monkeypatch.setattr(check_mod, "run_check", lambda *a, **k: called.append(1) or real(*a, **k))
    check_or_replay([Path(c) for c in configs], opts or CheckOptions())
    monkeypatch.setattr(check_mod, "run_check", real)
    return not called


def _result():
    return check_or_replay([Path(CONFIG)], CheckOptions())


def _same_size_edit(path: Path, old: str, new: str) -> None:
    """Edit in place at the same size and put the old mtime back (what `touch -r` does)."""
    assert len(old) == len(new)
    st = path.stat()
    text = path.read_text()
    assert old in text, path
    path.write_text(text.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size


def test_clean_result_is_replayed_through_the_cli(repo):
    first = run_cli("check", cwd=repo)
    assert first.code == 0, first.out + first.err
    entries = list((Path(os.environ["XDG_CACHE_HOME"]) / "velero-gitops/runs").glob("*.json"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o077 == 0
    again = run_cli("check", cwd=repo)
    assert (again.code, again.out) == (0, first.out)
    ns = next(repo.rglob("namespace.yaml"))
    ns.write_text(ns.read_text().replace("  labels:", "  labelz:", 1))
    changed = run_cli("check", cwd=repo)
    assert changed.code == 1 and "/metadata/labelz: additional property not allowed" in changed.out


def test_replay_is_used_and_no_cache_bypasses_it(repo, monkeypatch):
    assert _result().clean
    assert _replays(monkeypatch=monkeypatch)
    monkeypatch.setenv("VELERO_GITOPS_NO_CACHE", "1")
    assert not _replays(monkeypatch=monkeypatch)


def test_other_options_are_another_entry(repo, monkeypatch):
    assert _result().clean
    assert not _replays(opts=CheckOptions(ignore_missing_schemas=True), monkeypatch=monkeypatch)


def test_failures_are_never_stored(repo, xdg):
    hr = next(repo.rglob("helmrelease.yaml"))
    hr.write_text(hr.read_text().replace("  interval: ", "  intervall: ", 1))
    assert not _result().clean
    assert not list(xdg.rglob("*.json"))


def _stale_case_rendered(repo: Path) -> None:
    _same_size_edit(next(repo.rglob("helmrelease.yaml")), "  interval: ", "  intervxl: ")


def _stale_case_sops_yaml(repo: Path) -> None:
    sops = repo / ".sops.yaml"
    text = sops.read_text()
    i = text.index("age1") + 10  # one character of the recipient: encrypted for a different key
    _same_size_edit(sops, text[i:i + 6], "qqqqqq" if text[i:i + 6] != "qqqqqq" else "pppppp")


def _stale_case_kubectl_input(repo: Path) -> None:
    """A file only kubectl reads (a JSON patch in a sub-folder), never opened by Python."""
    _same_size_edit(repo / "kubernetes/apps/extra/app/patches/patch.json", '"op": "add"', '"op": "adx"')


@pytest.mark.parametrize("case", [_stale_case_rendered, _stale_case_sops_yaml, _stale_case_kubectl_input])
def test_same_size_edits_with_the_old_mtime_are_not_replayed(repo, case):
    app = _flux_app(repo, "extra", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                    "namespace: extra\nresources: [cm.yaml]\npatches:\n  - path: patches/patch.json\n    target: {kind: ConfigMap}\n")
    _write(app / "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  a: b\n")
    _write(app / "patches/patch.json", '[{"op": "add", "path": "/data/b", "value": "c"}]\n')
    assert _result().clean
    case(repo)
    fresh = run_check([Path(CONFIG)], CheckOptions())
    assert not fresh.clean, "the edit must make the tree fail, else this test proves nothing"
    assert not _result().clean


def _two_cas_of_one_size() -> tuple[str, str]:
    """Two real CA certificates (the loader embeds only valid X.509) whose PEM texts have the same length."""
    import trustme

    seen: dict[int, str] = {}
    while True:
        pem = trustme.CA().cert_pem.bytes().decode()
        if len(pem) in seen and seen[len(pem)] != pem:
            return seen[len(pem)], pem
        seen[len(pem)] = pem


def test_ca_bundle_outside_the_config_folder(tmp_path, xdg, monkeypatch):
    """The config lives in clusters/x/, its caBundle in certs/: a new bundle renders a new caCert."""
    repo = tmp_path / "repo"
    cfg_dir = _copy(HOME_LAB, repo / "clusters" / "x")
    (cfg_dir / ".sops.yaml").rename(repo / ".sops.yaml")
    shutil.move(str(cfg_dir / "kubernetes"), str(repo / "kubernetes"))
    first, second = _two_cas_of_one_size()
    ca = _write(repo / "certs/ca.pem", first)
    cfg = cfg_dir / CONFIG
    cfg.write_text(cfg.read_text().replace("  root: .\n", "  root: ../..\n").replace(
        "  region: minio\n", "  region: minio\n  caBundle: ../../certs/ca.pem\n"))
    monkeypatch.chdir(repo)
    # --force: the committed files name the config at its old place
    assert run_cli("render", "--force", "--config", "clusters/x/velero-gitops.yaml", cwd=repo).code == 0
    configs = [Path("clusters/x/velero-gitops.yaml")]
    assert check_or_replay(configs, CheckOptions()).clean
    _same_size_edit(ca, first, second)
    assert not run_check(configs, CheckOptions()).clean
    assert not check_or_replay(configs, CheckOptions()).clean


def test_sops_yaml_above_the_repository_is_never_read(tmp_path, xdg, monkeypatch):
    """sops alone would search the parent folders (getsops/sops@v3.10.2:config/config.go, FindConfigFile);
    velero-gitops names the repository's own file with --config and never reads one above it, so a
    pull request's check cannot depend on, or reveal, the CI runner's files."""
    parent = tmp_path / "parent"
    repo = _copy(HOME_LAB, parent / "repo")
    (repo / ".sops.yaml").unlink()
    _write(parent / ".sops.yaml", "creation_rules: [\n")  # would be an error if it were read
    monkeypatch.chdir(repo)
    result = run_check([Path(CONFIG)], CheckOptions())
    messages = [f.message for f in result.findings]
    assert any("no .sops.yaml in repo at or above the file" in m for m in messages), messages
    assert not any("invalid YAML" in m or "parent" in m for m in messages), messages


def test_sops_yaml_created_at_the_root_is_seen_by_the_replay(tmp_path, xdg, monkeypatch):
    """A .sops.yaml that appears at the repository root changes the recipients; only a probe sees it."""
    repo = _copy(HOME_LAB, tmp_path / "repo")
    text = (repo / ".sops.yaml").read_text()
    (repo / ".sops.yaml").unlink()
    monkeypatch.chdir(repo)
    first = _result()
    assert first.clean, first.findings  # a warning only: no .sops.yaml, recipients not checked
    _write(repo / ".sops.yaml", text.replace("age1", "age1x", 1))
    assert not run_check([Path(CONFIG)], CheckOptions()).clean
    assert not _result().clean


def test_kustomize_base_outside_the_repository(tmp_path, xdg, monkeypatch):
    """A base outside the repository is a finding (Flux cannot read it), so nothing is stored and nothing replays."""
    _write(tmp_path / "shared/base/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n")
    _write(tmp_path / "shared/base/kustomization.yaml", "resources: [configmap.yaml]\n")
    repo = _copy(HOME_LAB, tmp_path / "repo")
    _flux_app(repo, "extra", "resources: [../../../../../shared/base]\n")
    monkeypatch.chdir(repo)
    first = _result()
    assert not first.clean and any(f.rule == "kustomize.outside" for f in first.findings), first.findings
    assert not list(xdg.rglob("*.json"))


def test_template_change_is_not_replayed(tmp_path, xdg, monkeypatch):
    """The tool's own templates are inputs: a copy of the tool with one template edited renders differently."""
    tool = tmp_path / "tool"
    shutil.copytree(REPO / "src", tool / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "templates", tool / "templates")
    repo = _copy(HOME_LAB, tmp_path / "repo")
    env = {"PYTHONPATH": str(tool / "src"), "XDG_CACHE_HOME": str(xdg)}
    assert run_cli("check", cwd=repo, env=env).code == 0
    _same_size_edit(tool / "templates/documents.yaml.j2", "# yaml-language-server:", "# yaml-language-servxr:")
    fresh = run_cli("check", "--no-cache", cwd=repo, env=env)
    assert fresh.code == 1, fresh.out + fresh.err
    r = run_cli("check", cwd=repo, env=env)
    assert r.code == 1 and "differs from what the config renders" in r.out, r.out


# ------------------------------------------------------------------------------- a store nobody can forge


def _entry(xdg: Path) -> Path:
    (entry,) = (xdg / "velero-gitops/runs").glob("*.json")
    return entry


@pytest.fixture
def failing_with_entry(repo, xdg) -> Path:
    """A clean run stored, then the tree broken: the entry's key is the failing run's key."""
    assert _result().clean
    hr = next(repo.rglob("helmrelease.yaml"))
    hr.write_text(hr.read_text().replace("  interval: ", "  intervall: ", 1))
    return _entry(xdg)


def _planted_with_valid_inputs(entry: Path) -> dict:
    data = json.loads(entry.read_text())
    data["inputs"] = runcache.current(data["inputs"])  # what an attacker would compute for the broken tree
    return data


@pytest.mark.parametrize("plant", [
    pytest.param(lambda e: json.dumps({**_planted_with_valid_inputs(e), "result": {
        "findings": [], "passed": 42, "failed": 0, "skipped": 0}}), id="42-passed-without-the-key"),
    pytest.param(lambda e: "not json {", id="garbage"),
    pytest.param(lambda e: "[]", id="a-list"),
    pytest.param(lambda e: json.dumps({"inputs": {}, "result": None}), id="missing-mac"),
    pytest.param(lambda e: json.dumps({"inputs": {"files": 3}, "result": {}, "mac": 7}), id="wrong-types"),
    pytest.param(lambda e: "\0" * 100, id="nul-bytes"),
])
def test_planted_or_malformed_entries_never_pass(failing_with_entry, plant):
    failing_with_entry.write_text(plant(failing_with_entry))
    os.chmod(failing_with_entry, 0o600)
    assert not _result().clean


def test_an_authentic_entry_holding_a_failure_is_not_replayed(failing_with_entry, xdg):
    """Even signed with the user's own key, a stored failure (or a non-integer count) is recomputed."""
    data = _planted_with_valid_inputs(failing_with_entry)
    secret = (xdg / "velero-gitops/runs/hmac.key").read_bytes()
    key = failing_with_entry.stem
    for result in ({"findings": [{"file": "x", "line": 1, "obj": None, "pointer": "", "message": "m", "rule": "r"}],
                    "passed": 1, "failed": 0, "skipped": 0},
                   {"findings": [], "passed": "42", "failed": 0, "skipped": 0},
                   {"findings": [], "passed": 1, "failed": -1, "skipped": 0}):
        data["result"] = result
        data["mac"] = runcache._mac(secret, key, data["inputs"], result)
        failing_with_entry.write_text(json.dumps(data))
        assert not _result().clean


def test_entries_others_can_write_are_refused(repo, xdg, monkeypatch):
    assert _result().clean
    entry = _entry(xdg)
    os.chmod(entry, 0o666)
    assert not _replays(monkeypatch=monkeypatch)
    os.chmod(entry, 0o600)
    os.chmod(entry.parent, 0o777)
    assert not _replays(monkeypatch=monkeypatch)
    os.chmod(entry.parent, 0o700)
    assert _replays(monkeypatch=monkeypatch)


def test_entries_owned_by_another_user_are_refused(repo, xdg, monkeypatch):
    assert _result().clean
    me = os.geteuid()
    monkeypatch.setattr(runcache.os, "geteuid", lambda: me + 1)  # every file now belongs to someone else
    assert not _replays(monkeypatch=monkeypatch)


def test_symlinked_store_is_refused(repo, xdg, tmp_path, monkeypatch):
    assert _result().clean
    runs = xdg / "velero-gitops/runs"
    runs.rename(tmp_path / "elsewhere")
    runs.symlink_to(tmp_path / "elsewhere")
    assert not _replays(monkeypatch=monkeypatch)


def test_each_config_is_loaded_once(tmp_path, xdg, monkeypatch):
    """Render, validation and the secret check share one loaded config (no loader cache hides a second load)."""
    import velero_gitops.config.loader as loader

    repo = tmp_path / "repo"
    for e in EXAMPLES:
        _copy(e, repo / "clusters" / e.name)
    monkeypatch.chdir(repo)
    loads = []
    real = loader._load
    monkeypatch.setattr(loader, "_load", lambda p: loads.append(p) or real(p))
    configs = sorted(Path("clusters").glob("*/velero-gitops.yaml"))
    assert len(configs) >= 2
    assert run_check(configs, CheckOptions()).clean
    assert sorted(loads) == configs


def test_what_flux_never_applies_is_a_note_in_check_as_in_validate(repo):
    """An app left out of the kustomization.yaml above it (issue 19, class B): a finding on it is a note in check
    too (validate/unapplied.py, applied in the engine both commands run), and the run stays clean."""
    bsl = ("apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata:\n  name: old\n  namespace: velero\nspec:\n"
           "  provider: aws\n  objectStorage:\n    bucket: old\n  config:\n    region: minio\n    s3Url: http://minio.lan\n")
    _write(repo / "kubernetes/apps/velero/old/kustomization.yaml", "resources: [bsl.yaml]\n")
    _write(repo / "kubernetes/apps/velero/old/bsl.yaml", bsl)
    result = run_check([Path(CONFIG)], CheckOptions())
    hits = [f for f in result.findings if f.rule == "policy.s3-https"]
    assert result.clean and [f.severity for f in hits] == ["note"], result.findings
    assert hits[0].message.startswith("not applied by any Flux Kustomization: ")
    kfile = repo / "kubernetes/apps/velero/kustomization.yaml"
    kfile.write_text(kfile.read_text() + "  - ./old\n")
    result = run_check([Path(CONFIG)], CheckOptions())
    assert not result.clean and [f.severity for f in result.findings if f.rule == "policy.s3-https"] == ["error"]


# ----------------------------------------------------------------- the config's check: section is hostile input (B4)
def test_the_configs_check_section_cannot_suppress_a_secret_in_clear(repo):
    """Probe 46: a pull request edits the config's `check:` section (ignoreFilenamePatterns '.', skip Secret) and
    adds a secretGenerator with literals and a plaintext Secret. A secret in clear is in Git whatever the section
    says (rules.py in_git): both are reported; what the section did suppress is counted, not hidden."""
    app = _flux_app(repo, "x", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                "resources: [cm.yaml]\nsecretGenerator:\n  - name: s\n    literals: [password=hunter2]\n")
    _write(app / "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\ndata: [not, a, map]\n")
    _write(repo / "kubernetes/flux/vars/cluster-secrets.yaml",
           "apiVersion: v1\nkind: Secret\nmetadata: {name: leak, namespace: x}\nstringData: {password: hunter2}\n")
    clean, before = _run()
    assert not clean and any("ConfigMap/x/c" in s for s in before), before
    cfg = repo / CONFIG
    cfg.write_text(cfg.read_text() + "  ignoreFilenamePatterns: ['.']\n  skip: [Secret, ConfigMap]\n")
    result = run_check([Path(CONFIG)], CheckOptions())
    secrets = sorted(f.file for f in result.findings if f.rule == "secret.unencrypted")
    assert secrets == ["kubernetes/apps/x/app/kustomization.yaml", "kubernetes/flux/vars/cluster-secrets.yaml"], \
        result.findings
    assert not result.clean and not any("ConfigMap/x/c" in (f.obj or "") for f in result.findings)
    assert result.suppressed >= 1
    r = run_cli("check", "--no-cache", cwd=repo)
    assert r.code == 1 and f"suppressed {result.suppressed} finding(s)" in r.err, r.err
    assert "hunter2" not in r.out + r.err


@pytest.mark.parametrize(("text", "holds"), [
    ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n", True),
    ("kind: 'Kustomization'  # flux\nmetadata: {name: a}\napiVersion: \"kustomize.toolkit.fluxcd.io/v1beta2\"\n", True),
    ("apiVersion: kustomize.toolkit.fluxcd.io/v1\n---\nkind: Kustomization\n", False),  # two documents
    ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n", False),  # kustomize's own file
    ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: KustomizationList\n", False),
    ("spec:\n  apiVersion: kustomize.toolkit.fluxcd.io/v1\n  kind: Kustomization\n", False),  # not top level
])
def test_a_flux_kustomization_is_found_per_document(text, holds):
    """The group and kind of a Flux Kustomization (fluxcd/kustomize-controller@v1.9.4:api/v1/kustomization_types.go,
    GroupVersion in api/v1/groupversion_info.go), read at a document's top level."""
    from velero_gitops.check import _holds_flux_kustomization

    assert _holds_flux_kustomization(text) is holds


def test_the_flux_kustomization_scan_is_linear():
    """B7 (probe 21): 16,000 lines of `apiVersion: kustomize.toolkit.fluxcd.io/v1` without a kind took 11.8 s with
    the lazy multi-line regex; 200,000 lines now cost well under a CPU second (measured: 0.17 s)."""
    import time

    from velero_gitops.check import _holds_flux_kustomization

    text = "apiVersion: kustomize.toolkit.fluxcd.io/v1\n" * 200_000
    start = time.process_time()
    assert not _holds_flux_kustomization(text)
    assert time.process_time() - start < 2.0


# ------------------------------------------------------------------------------------------------ cost


def test_one_flux_graph_serves_wiring_storage_and_metrics(repo, monkeypatch):
    """The repository's Flux graph is read once: validation's graph, read with the config's sources, serves every
    reader after it (the wiring facts, the StorageClass ordering and the metrics wiring): each read scans the whole
    repository. Counted, not timed."""
    from velero_gitops.validate import flux

    built: list[object] = []
    real_init = flux.Graph.__init__

    def counting(self, objects, run):
        built.append(run.opts.repo_root)
        real_init(self, objects, run)

    monkeypatch.setattr(flux.Graph, "__init__", counting)
    clean, findings = _run(kustomize="never")
    assert clean, findings
    assert len(built) == 1, built  # validate's own graph, shared by the readers after it


def test_plain_validate_holds_the_tree_to_its_configs_node_agent_budget(repo):
    """A config that raises velero.nodeAgent.budget renders node-agent limits above the default budget: `check`
    holds the tree to the config's budget (node_agent_budget), and plain `validate` of the same repository now reads
    it the same way (configs_for: the configs `check` would find at the repository's root whose apps root it reads),
    where it named its own flag's default instead. A flag still overrides it; over the config's budget, the message
    names the config, where the fix is made."""
    cfg = repo / CONFIG
    cfg.write_text(cfg.read_text().replace(
        "    distribution: talos\n", "    distribution: talos\n    resources:\n      limits: {cpu: '1', memory: 1Gi}\n"
        "    budget: {cpu: '1', memory: 1Gi}\n", 1))
    assert run_cli("render", "-q", str(cfg)).code == 0

    def budget_findings(*flags: str) -> list[str]:
        r = run_cli("validate", "--kustomize", "never", "-o", "json", *flags, ".")
        return [f["message"] for f in json.loads(r.out)["findings"] if f["rule"] == "policy.node-agent"
                and "exceeds the budget" in f["message"]]

    assert budget_findings() == []
    assert [m for m in budget_findings("--node-agent-cpu-limit", "500m") if "--node-agent-cpu-limit" in m]
    hr = next(repo.rglob("helmrelease.yaml"))
    hr.write_text(hr.read_text().replace("cpu: \"1\"", "cpu: \"2\"").replace("cpu: '1'", "cpu: '2'"))
    said = budget_findings()
    assert len(said) == 1 and "velero.nodeAgent.budget.cpu of velero-gitops.yaml" in said[0], said
