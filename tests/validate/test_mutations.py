"""Mutation suite: single mutations of a valid home-lab tree, each reported with the right file and line.

Two trees, every mutation on each: ``example``, the rendered example (clusters/home-lab, rendered
again with `velero-gitops render` into a copy so the tree is complete and in sync with its config),
and ``fixture``, ``tests/validate/fixtures/home-lab`` (hand-written, shaped like a Flux home-lab repository).
Each mutation edits one file (a text replacement, or a small function for moves/removals); the
expected finding is located by a marker: the line of the first occurrence of ``at`` in the mutated
file (``at_nth`` picks a later occurrence).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import EXAMPLE, require_kubectl, run_cli
from cli_util import VALIDATE_FIXTURES as FIXTURES

APP = "kubernetes/apps/velero/velero/app"
KS = "kubernetes/apps/velero/velero/ks.yaml"
HR = f"{APP}/helmrelease.yaml"
REPO_ = f"{APP}/helmrepository.yaml"
SECRET = f"{APP}/secret.sops.yaml"
SCHED = "kubernetes/apps/velero/velero/schedules/{schedule}"
SCHEDULE_FILE = {"fixture": "schedule-daily.yaml", "example": "daily.yaml"}
NS = "kubernetes/apps/velero/namespace.yaml"
EXTERNALS = ["Kustomization/flux-system/openebs"]


@dataclass
class M:
    id: str
    file: str  # file that is edited
    old: str = ""
    new: str = ""
    at: str = ""  # marker for the expected line (in `where`)
    rule: str = "schema"  # expected rule (prefix)
    where: str | None = None  # file of the finding, default `file`
    nth: int = 1  # which occurrence of `old` is replaced
    at_nth: int = 1
    fn: Callable[[Path], None] | None = None
    needs_kubectl: bool = False
    message: str = ""  # expected substring of the message

    def apply(self, root: Path, tree: str) -> None:
        if self.fn:
            self.fn(root, tree)
            return
        p = root / _f(self.file, tree)
        text = p.read_text()
        idx = -1
        for _ in range(self.nth):
            idx = text.index(self.old, idx + 1)
        p.write_text(text[:idx] + self.new + text[idx + len(self.old):])

    def expected_line(self, root: Path, tree: str) -> int:
        text = (root / _f(self.where or self.file, tree)).read_text()
        idx = -1
        for _ in range(self.at_nth):
            idx = text.index(self.at, idx + 1)
        return text[:idx].count("\n") + 1


def _f(path: str, tree: str) -> str:
    return path.format(schedule=SCHEDULE_FILE[tree])


def _move_schedule_into_app(root: Path, tree: str) -> None:
    name = SCHEDULE_FILE[tree]
    shutil.move(root / _f(SCHED, tree), root / APP / name)
    k = root / APP / "kustomization.yaml"
    k.write_text(k.read_text() + f"  - ./{name}\n")
    (root / "kubernetes/apps/velero/velero/schedules/kustomization.yaml").write_text(
        "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")


def _drop_lines(path: str, *needles: str):
    def fn(root: Path, tree: str) -> None:
        p = root / _f(path, tree)
        lines = p.read_text().splitlines(keepends=True)
        p.write_text("".join(ln for ln in lines if not any(ln.startswith(n) for n in needles)))
    return fn


def _plaintext_secret(root: Path, tree: str) -> None:
    p = root / SECRET
    p.write_text(re.sub(r"ENC\[[^\]]*\]", "plain", p.read_text().split("\nsops:")[0] + "\n"))


def _extra_plain_secret(root: Path, tree: str) -> None:
    (root / APP / "extra-secret.yaml").write_text(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: grafana-admin\nstringData:\n  password: hunter2\n")
    k = root / APP / "kustomization.yaml"
    k.write_text(k.read_text() + "  - ./extra-secret.yaml\n")


MUTATIONS = [
    # --- Flux Kustomization (ks.yaml)
    M("ks-misspelled-prune", KS, "  prune: true", "  prunez: true", at="prunez"),
    M("ks-interval-pattern", KS, "  interval: 1h", "  interval: 1 hour", at="interval: 1 hour"),
    M("ks-prune-type", KS, "  prune: true", "  prune: \"yes\"", at="prune: \"yes\""),
    M("ks-secretref-depth4", KS, "      name: sops-age", "      namez: sops-age", at="namez"),
    M("ks-decryption-provider-enum", KS, "    provider: sops", "    provider: vault", at="provider: vault"),
    M("ks-sourceref-kind-enum", KS, "    kind: GitRepository", "    kind: GitRepo", at="kind: GitRepo"),
    M("ks-healthcheck-misspelled", KS, "      kind: HelmRelease", "      kinds: HelmRelease", at="kinds: HelmRelease"),
    M("ks-missing-prune", KS, fn=_drop_lines(KS, "  prune: true"), at="spec:", rule="schema", message="'prune'"),
    M("ks-broken-path", KS, "path: ./kubernetes/apps/velero/velero/app", "path: ./kubernetes/apps/velero/velero/appz",
      at="appz", rule="flux.path"),
    M("ks-broken-path-schedules", KS, "velero/velero/schedules", "velero/schedules", at="path: ./kubernetes/apps/velero/schedules",
      rule="flux.path"),
    M("ks-dangling-sourceref", KS, "    name: flux-system", "    name: flux-sistem", at="flux-sistem", rule="flux.source-ref"),
    M("ks-dangling-dependson", KS, "    - name: velero\n", "    - name: veleroo\n", at="veleroo", rule="flux.depends-on"),
    M("ks-dangling-dependson-external", KS, "    - name: openebs", "    - name: openebz", at="openebz", rule="flux.depends-on"),
    M("ks-no-decryption", KS, fn=_drop_lines(KS, "  decryption:", "    provider: sops", "    secretRef:", "      name: sops-age"),
      at="path: ./kubernetes/apps/velero/velero/app", rule="flux.decryption"),
    M("ks-schedules-not-dependent", KS, fn=_drop_lines(KS, "    - name: velero\n"), where=SCHED, at="apiVersion",
      rule="flux.crd-order"),
    M("schedules-in-chart-kustomization", SCHED, fn=_move_schedule_into_app, where=f"{APP}/{{schedule}}",
      at="apiVersion", rule="flux.crd-order", message="same one"),
    # --- HelmRelease
    M("hr-crdz", HR, "    crds: CreateReplace", "    crdz: CreateReplace", nth=2, at="crdz", message="additional property not allowed"),
    M("hr-install-crds-enum", HR, "    crds: CreateReplace", "    crds: CreateOrReplace", at="CreateOrReplace"),
    M("hr-retries-type", HR, "      retries: 3", "      retries: three", at="three"),
    M("hr-strategy-enum", HR, "      strategy: rollback", "      strategy: rollforward", at="rollforward"),
    M("hr-misspelled-interval", HR, "  interval: 1h", "  intervall: 1h", at="intervall"),
    M("hr-missing-interval", HR, fn=_drop_lines(HR, "  interval: 1h"), at="spec:", message="'interval'"),
    M("hr-chart-version-misspelled", HR, "      version: 12.1.0", "      versions: 12.1.0", at="versions"),
    M("hr-chart-misspelled", HR, "  chart:", "  chartz:", at="chartz"),
    M("hr-sourceref-kind-enum", HR, "        kind: HelmRepository", "        kind: HelmRepo", at="HelmRepo\n"),
    M("hr-dangling-sourceref", HR, "        name: vmware-tanzu", "        name: vmware-tanzoo", at="tanzoo", rule="flux.source-ref"),
    M("hr-releasename-empty", HR, "  releaseName: velero", "  releaseName: \"\"", at="releaseName"),
    M("hr-timeout-pattern", HR, "  timeout: 15m", "  timeout: 15 minutes", at="15 minutes"),
    M("hr-s3url-http", HR, "s3Url: https://s3.68cc.io", "s3Url: http://s3.68cc.io", at="s3Url", rule="policy.s3-https"),
    M("hr-s3url-path", HR, "s3Url: https://s3.68cc.io", "s3Url: https://s3.68cc.io/velero", at="s3Url", rule="policy.s3-https"),
    M("hr-insecure-tls", HR, "            s3Url: https://s3.68cc.io\n",
      "            s3Url: https://s3.68cc.io\n            insecureSkipTLSVerify: \"true\"\n", at="insecureSkipTLSVerify",
      rule="policy.insecure-tls"),
    M("hr-bucket-name", HR, "bucket: velero-backups", "bucket: Velero_Backups", at="Velero_Backups", rule="policy.bucket"),
    M("hr-uploader-restic", HR, "uploaderType: kopia", "uploaderType: restic", at="uploaderType", rule="policy.uploader",
      message="removed restic"),
    M("hr-default-ttl", HR, "defaultBackupTTL: 720h", "defaultBackupTTL: 30d", at="defaultBackupTTL", rule="policy.ttl"),
    M("hr-node-agent-cpu", HR, "          cpu: 500m", "          cpu: \"2\"", at="cpu: \"2\"", rule="policy.node-agent"),
    M("hr-node-agent-memory", HR, "          memory: 500M", "          memory: 4G", at="memory: 4G", rule="policy.node-agent"),
    M("hr-duplicate-key", HR, "  interval: 1h\n", "  interval: 1h\n  interval: 2h\n", at="interval: 2h", rule="yaml.duplicate-key"),
    M("hr-yaml-syntax", HR, "          bucket: velero-backups", "          bucket: [velero-backups", at="bucket: [", rule="yaml"),
    # --- HelmRepository
    M("repo-url-misspelled", REPO_, "  url: https", "  uri: https", at="uri"),
    M("repo-interval-type", REPO_, "  interval: 1h", "  interval: 60", at="interval: 60"),
    M("repo-type-enum", REPO_, "  url: https", "  type: git\n  url: https", at="type: git"),
    # --- Schedule
    M("schedule-cron-range", SCHED, 'schedule: "0 2 * * *"', 'schedule: "0 25 * * *"', at="schedule:", rule="policy.cron"),
    M("schedule-cron-fields", SCHED, 'schedule: "0 2 * * *"', 'schedule: "0 2 * *"', at="schedule:", rule="policy.cron"),
    M("schedule-ttl", SCHED, "ttl: 720h0m0s", "ttl: 30 days", at="ttl:", rule="policy.ttl"),
    M("schedule-misspelled-depth3", SCHED, "    includedNamespaces:", "    includeNamespaces:", at="includeNamespaces"),
    M("schedule-bool-type", SCHED, "defaultVolumesToFsBackup: true", "defaultVolumesToFsBackup: \"yes\"", at="defaultVolumes"),
    M("schedule-misspelled-depth2", SCHED, "  useOwnerReferencesInBackup: false", "  useOwnerReferencesInBackups: false",
      at="useOwnerReferencesInBackups"),
    M("schedule-unknown-kind", SCHED, "kind: Schedule", "kind: Schedules", at="kind: Schedules", rule="schema.missing"),
    M("schedule-unknown-version", SCHED, "apiVersion: velero.io/v1", "apiVersion: velero.io/v2", at="kind:", rule="schema.missing"),
    # --- Namespace / Secrets / kustomization
    M("namespace-labels-misspelled", NS, "  labels:", "  label:", at="label:"),
    M("secret-plaintext-velero", SECRET, fn=_plaintext_secret, at="apiVersion", rule="policy.secret-encrypted"),
    M("secret-plaintext-other", SECRET, fn=_extra_plain_secret, where=f"{APP}/extra-secret.yaml", at="apiVersion",
      rule="secret.unencrypted"),
    M("kustomization-missing-resource", f"{APP}/kustomization.yaml", "  - ./helmrepository.yaml", "  - ./helmrepo.yaml",
      at="helmrepo.yaml", rule="kustomize", needs_kubectl=True),
]


def _validate(root: Path, cache: Path):
    return validate_paths([str(root / "kubernetes")], Options(cache_dir=str(cache), externals=EXTERNALS))


@pytest.fixture(scope="session")
def rendered_example(tmp_path_factory) -> Path:
    """clusters/home-lab copied and rendered with the real pipeline (a no-op when the committed tree is in sync)."""
    assert (EXAMPLE / "velero-gitops.yaml").is_file(), "clusters/home-lab/velero-gitops.yaml is missing"
    repo = tmp_path_factory.mktemp("example")
    dst = repo / "clusters" / "home-lab"
    shutil.copytree(EXAMPLE, dst)
    r = run_cli("render", "--config", "clusters/home-lab/velero-gitops.yaml", cwd=repo)
    assert r.code == 0, r.out + r.err
    return dst


@pytest.fixture(params=["example", "fixture"])
def tree(request, tmp_path):
    name = request.param
    src = request.getfixturevalue("rendered_example") if name == "example" else FIXTURES / "home-lab"
    dst = tmp_path / "home-lab"
    shutil.copytree(src, dst)
    return name, dst


def test_enough_mutations():
    assert len(MUTATIONS) >= 40
    assert len({m.id for m in MUTATIONS}) == len(MUTATIONS)


def test_unmutated_tree_is_clean(tree, tmp_path):
    require_kubectl()
    name, root = tree
    res = _validate(root, tmp_path / "cache")
    assert [f for f in res.findings if f.severity == "error"] == []
    # not even a warning: on Velero 1.18 the copy runs in data mover pods, so node-agent's 500M limit is safe
    assert res.findings == []
    assert res.failed == 0 and res.passed == {"fixture": 7, "example": 10}[name]  # example: + repo-credentials.sops.yaml


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_mutation_is_reported_at_the_right_place(m: M, tree, tmp_path):
    if m.needs_kubectl:
        require_kubectl()
    name, root = tree
    m.apply(root, name)
    res = _validate(root, tmp_path / "cache")
    where = root / _f(m.where or m.file, name)
    line = m.expected_line(root, name)
    errors = [f for f in res.findings if f.severity == "error"]
    hits = [f for f in errors
            if Path(f.file).resolve() == where.resolve() and f.line == line and f.rule.startswith(m.rule)
            and m.message in f.message]
    assert hits, "\n".join(f"{f.file}:{f.line} [{f.rule}] {f.pointer}: {f.message}" for f in res.findings) + \
        f"\nexpected {m.rule} at {_f(m.where or m.file, name)}:{line}"
    assert res.failed >= 1
