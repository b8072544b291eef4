"""A schedule's namespace that nothing of the config's cluster is in (ops/namespaces.py, policy.schedule-namespaces).

Velero expands the includes against the cluster's namespaces and, for a name no namespace has, logs "fail to get the
namespace ... specified in backup.Spec.IncludedNamespaces" (vmware-tanzu/velero@v1.18.1:pkg/backup/item_collector.go
collectNamespaces); the logged error makes the backup PartiallyFailed (pkg/controller/backup_controller.go) and
nothing of that namespace is backed up. Adopter round 9 (layertwo/homelab): `home` for `home-assistant`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from layout_fixtures import bootstrap, ks
from velero_gitops.config.loader import load
from velero_gitops.ops import namespaces, wiring

from cli_util import run_cli

HR = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: ha\nspec:\n  interval: 1h\n"
      "  chartRef:\n    kind: OCIRepository\n    name: ha\n")


def _repo(tmp_path: Path, schedule_ns: str, apps_root: str = "kubernetes/apps") -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    c = bootstrap(root, "home")
    (c / "apps.yaml").write_text(ks("cluster-apps", "./kubernetes/apps"))
    app = root / "kubernetes/apps/home-assistant"
    app.mkdir(parents=True)
    # the namespace comes from the folder's kustomization.yaml; media's from a Namespace object
    (app / "kustomization.yaml").write_text("namespace: home-assistant\nresources: [helmrelease.yaml]\n")
    (app / "helmrelease.yaml").write_text(HR)
    (root / "kubernetes/apps/ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: media\n")
    (root / "velero-gitops.yaml").write_text(
        f"cluster: home\nrepo:\n  appsRoot: {apps_root}\ns3:\n  endpoint: https://s3.example.org\nschedules:\n"
        f"  - name: daily\n    cron: '0 2 * * *'\n    namespaces: {schedule_ns}\n")
    return root


def _unused(root: Path) -> list[namespaces.Unused]:
    loaded = load(root / "velero-gitops.yaml")
    return namespaces.unused(loaded, wiring.graph(root.resolve(), wiring.sources_of(loaded)))


def test_a_namespace_nothing_is_in_is_named_with_the_nearest_ones(tmp_path):
    root = _repo(tmp_path, "[home, media, 'home-*', 'x*']")
    found = _unused(root)
    assert [(u.pattern, u.nearest) for u in found] == [("home", ("home-assistant",)), ("x*", ())], found
    msg = namespaces.message(found[0])
    assert "this cluster has home-assistant" in msg and "PartiallyFailed" in msg, msg
    assert "1 HelmRelease here" in msg and "ignore this warning" in msg, msg  # a chart may make it: said, a warning
    r = run_cli("check", "--no-cache", cwd=root)
    assert "velero-gitops.yaml:9 /schedules/0/namespaces/0: warning" in r.out and "'home' is a namespace no object" in r.out, r.out


@pytest.mark.parametrize("schedule_ns", ["[home-assistant, media]", "['*']", "['home-*']"])
def test_a_namespace_the_tree_has_is_quiet(tmp_path, schedule_ns):
    assert _unused(_repo(tmp_path, schedule_ns)) == []


def test_nothing_is_said_when_the_clusters_tree_is_not_known(tmp_path):
    """No live Flux Kustomization builds the apps root: the namespaces there are not known (wiring.ClusterView)."""
    assert _unused(_repo(tmp_path, "[home]", apps_root="elsewhere/apps")) == []
