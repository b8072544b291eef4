"""The verdicts of kustomize builds, cached across runs, never their output nor a secret value (issue 23: "Builds
that hold a Secret are never cached, so every warm run rebuilds them. Cache their verdict and findings, never
their output").

What a Flux build applies is kustomize's output after postBuild substitution
(fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go: generator.NewGenerator, then
SecureBuild, then the postBuild substitution of fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go with the
variables read from spec.postBuild.substitute and substituteFrom). So a build's verdict depends on its inputs (the
build key), on the variables, which live outside the build, and on the tools; the tests below change each side.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from velero_gitops.validate import kustomize
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import require_kubectl

PLANTED = "Zq9xPlantedSecretValue"  # appears nowhere but in the Secret-holding build's inputs

KS = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 1h
  prune: true
  path: ./apps
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substituteFrom:
    - kind: ConfigMap
      name: vars
"""
VARS = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: flux-system\ndata:\n  REPLICAS: \"{}\"\n"
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: ${REPLICAS}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        bogus: 1
"""
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: default\ntype: Opaque\n"
KUSTOMIZATION = f"""resources: [deploy.yaml, secret.yaml]
secretGenerator:
- name: token
  namespace: default
  literals: [token={PLANTED}]
patches:
- target: {{kind: Secret, name: creds}}
  patch: '[{{"op": "add", "path": "/stringData", "value": {{"password": "{PLANTED}"}}}}]'
"""


def _repo(tmp_path: Path, replicas: str = "2") -> Path:
    root = tmp_path / "repo"
    for rel, text in {"flux/ks.yaml": KS, "flux/vars.yaml": VARS.format(replicas), "apps/deploy.yaml": DEPLOY,
                      "apps/secret.yaml": SECRET, "apps/kustomization.yaml": KUSTOMIZATION}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".git").mkdir()
    return root


def _validate(root: Path, tmp_path: Path) -> list[tuple]:
    res = validate_paths([str(root)], Options(cache_dir=str(tmp_path / "cache"), repo_root=str(root), kustomize="always"))
    return [(f.file, f.line, f.obj, f.pointer, f.message, f.rule, f.severity) for f in res.findings]


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The entries kubectl is run on from now on."""
    ran: list[Path] = []
    real = kustomize.run_kubectl

    def counted(kubectl: str, d: Path, *a: object, **kw: object) -> tuple[bool, str]:
        ran.append(d)
        return real(kubectl, d, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(kustomize, "run_kubectl", counted)
    return ran


def _leaks(tmp_path: Path, findings: list[tuple]) -> list[str]:
    forms = [PLANTED, base64.b64encode(PLANTED.encode()).decode()]
    where = [str(p) for p in (tmp_path / "cache").rglob("*") if p.is_file() and any(f.encode() in p.read_bytes() for f in forms)]
    return where + [str(f) for f in findings if any(x in str(f) for x in forms)]


def test_a_secret_holding_build_is_not_rebuilt_and_its_verdict_holds_no_secret(tmp_path, monkeypatch):
    """The build holds a Secret (a generator literal, and a patch that writes stringData): its output is never
    stored, its verdict is. The second run builds nothing and reports the same findings: the Deployment's unknown
    field, located on its source line, and the Secret the patch fills in clear. Neither the cache directory nor the
    findings hold the planted value, raw or base64."""
    require_kubectl()
    root = _repo(tmp_path)
    ran = _builds(monkeypatch)
    cold = _validate(root, tmp_path)
    assert ran == [root / "apps"]
    rules = sorted({(Path(f[0]).name, f[5]) for f in cold})
    assert ("deploy.yaml", "schema") in rules and ("kustomization.yaml", "secret.unencrypted") in rules, cold
    ran.clear()
    assert _validate(root, tmp_path) == cold
    assert ran == []  # served from the verdict: no build, no output read
    assert _leaks(tmp_path, cold) == []
    assert not list((tmp_path / "cache" / "kustomize-builds").glob("*.json"))  # its output is never stored


def test_a_change_outside_the_build_changes_its_verdict(tmp_path, monkeypatch):
    """The postBuild variables come from a ConfigMap outside the build's folder: when it changes, the cached
    verdict is not served (a variable that makes replicas a string is an error of the substituted object)."""
    require_kubectl()
    root = _repo(tmp_path)
    before = _validate(root, tmp_path)
    (root / "flux/vars.yaml").write_text(VARS.format("two"))
    ran = _builds(monkeypatch)
    after = _validate(root, tmp_path)
    assert ran == [root / "apps"]
    assert [f for f in after if f not in before and f[3] == "/spec/replicas"], after


def test_a_finding_that_shows_a_secret_is_never_stored(tmp_path, monkeypatch):
    """A variable of a plaintext Secret (substituteFrom kind Secret): its value never reaches the built object (the
    graph never copies a Secret's values, since attacker round 5 made them object names in findings), so no message
    and no stored verdict holds it, cold or warm."""
    require_kubectl()
    root = _repo(tmp_path)
    (root / "flux/ks.yaml").write_text(KS.replace("kind: ConfigMap\n      name: vars", "kind: Secret\n      name: vars"))
    (root / "flux/vars.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: vars\n  namespace: "
                                         f"flux-system\nstringData:\n  REPLICAS: {PLANTED}\n")
    cold = _validate(root, tmp_path)
    assert not any(PLANTED in str(f) for f in cold), cold
    assert _validate(root, tmp_path) == cold
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and PLANTED.encode() in p.read_bytes()] == []


OCI = """apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: velero
  namespace: flux-system
spec:
  interval: 1h
  url: oci://ghcr.io/vmware-tanzu/helm-charts/velero
  ref:
    tag: {}
"""
RELEASE = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: velero
  namespace: default
spec:
  interval: 1h
  chartRef:
    kind: OCIRepository
    name: velero
    namespace: flux-system
"""


def test_a_verdict_is_keyed_on_what_the_build_reads_and_nothing_else(tmp_path, monkeypatch):
    """A verdict depends on the build's files, its postBuild variables and what the output check looks up among the
    run's other objects (policy.lookups: the OCIRepository a built HelmRelease's chartRef names, read by
    policy._chart_info). An edit anywhere else in the repository (another folder's object, one that no build reads)
    leaves every verdict standing: kubectl runs again only when something the build reads changed."""
    require_kubectl()
    root = _repo(tmp_path)
    (root / "apps/kustomization.yaml").write_text(KUSTOMIZATION.replace("secret.yaml]", "secret.yaml, release.yaml]"))
    (root / "apps/release.yaml").write_text(RELEASE)
    (root / "flux/oci.yaml").write_text(OCI.format("12.1.0"))
    unrelated = root / "infra/configmap.yaml"
    unrelated.parent.mkdir()
    unrelated.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\ndata:\n  a: '1'\n")
    ran = _builds(monkeypatch)
    _validate(root, tmp_path)
    assert ran == [root / "apps"]

    ran.clear()
    unrelated.write_text(unrelated.read_text().replace("a: '1'", "a: '2'"))
    (root / "infra/more.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: more\n")
    _validate(root, tmp_path)
    assert ran == []  # nothing the build reads changed

    (root / "flux/oci.yaml").write_text(OCI.format("12.0.0"))  # the chart the built HelmRelease installs
    _validate(root, tmp_path)
    assert ran == [root / "apps"]

    ran.clear()
    (root / "apps/deploy.yaml").write_text(DEPLOY.replace("nginx:1.27", "nginx:1.28"))  # one of the build's files
    _validate(root, tmp_path)
    assert ran == [root / "apps"]


def test_a_run_whose_every_verdict_is_cached_starts_no_sandbox(tmp_path, monkeypatch):
    """kubectl is identified by its file (identity.program: path, size, mtime, inode), the one file the sandbox holds,
    not by asking it its version: a warm run whose every verdict is cached starts no process at all, not even the
    sandbox probe (`kubectl version`)."""
    require_kubectl()
    from velero_gitops.validate import sandbox

    root = _repo(tmp_path)
    cold = _validate(root, tmp_path)
    started: list[list[str]] = []
    real = sandbox.run

    def counted(bwrap: str, kubectl: str, binds: dict, argv: list[str], *a: object, **kw: object) -> sandbox.Result:
        started.append(argv)
        return real(bwrap, kubectl, binds, argv, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sandbox, "run", counted)
    sandbox.probe.cache_clear()  # as in a new process
    assert _validate(root, tmp_path) == cold
    assert started == []
    (root / "apps/deploy.yaml").write_text(DEPLOY.replace("nginx:1.27", "nginx:1.28"))
    _validate(root, tmp_path)
    # the one build that changed, and no probe: it succeeded, so the sandbox starts (kustomize.run_kubectl)
    assert [a[0] for a in started] == ["kustomize"]
