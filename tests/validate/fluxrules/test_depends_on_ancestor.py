"""flux.depends-on-ancestor (validate/fluxrules/depends_on_ancestor.py): a Kustomization that depends on an ancestor
waiting for it deadlocks (kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go
checkDependencies needs the dependency Ready; api/v1/kustomization_types.go: ``wait`` health-checks everything
applied, ``healthChecks`` the objects named). Seen when adopting a fresh repository: ``init`` ordered Velero after
the Kustomization that installs the StorageClass, which was also the one applying Velero, with ``wait: true``."""

from __future__ import annotations

import pytest

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import write_tree

KS = ("---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
      "  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n"
      "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}")
DEP = "  dependsOn:\n    - name: {name}\n"


def _repo(tmp_path, infra_extra: str, mid: bool = False, mid_extra: str = ""):
    """flux-system applies infra.yaml; infra builds ./infra, which holds the velero Kustomization (directly, or
    through ``mid``) depending on infra."""
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home", extra=""),
        "clusters/home/infra.yaml": KS.format(name="infra", path="./infra", extra=infra_extra),
        "infra/kustomization.yaml": "resources: [storageclass.yaml, " + ("mid.yaml]\n" if mid else "velero/ks.yaml]\n"),
        "infra/storageclass.yaml": "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local\n"
        "provisioner: rancher.io/local-path\n",
        "infra/velero/ks.yaml": KS.format(name="velero", path="./infra/velero/app", extra=DEP.format(name="infra")),
        "infra/velero/app/kustomization.yaml": "resources: [cm.yaml]\n",
        "infra/velero/app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v\n  namespace: velero\n",
    }
    if mid:
        files["infra/mid.yaml"] = KS.format(name="mid", path="./infra/velero", extra=mid_extra)
        files["infra/velero/kustomization.yaml"] = "resources: [ks.yaml]\n"
    root = write_tree(tmp_path / "repo", files)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    return [f for f in res.findings if f.rule == "flux.depends-on-ancestor"]


HC_VELERO = "  healthChecks:\n    - kind: Kustomization\n      name: velero\n      namespace: flux-system\n"
HC_MID = "  healthChecks:\n    - kind: Kustomization\n      name: mid\n"


@pytest.mark.parametrize("infra_extra,mid,mid_extra,deadlock", [
    ("  wait: true\n", False, "", True),
    ("", False, "", False),  # without a wait, infra is Ready once applied: the order resolves
    (HC_VELERO, False, "", True),
    ("  healthChecks:\n    - kind: Kustomization\n      name: other\n", False, "", False),
    ("  wait: true\n", True, "", False),  # mid does not wait for velero: mid is Ready, so is infra
    ("  wait: true\n", True, "  wait: true\n", True),
    (HC_MID, True, HC_VELERO, True),
], ids=["wait", "no-wait", "health-check", "health-check-other", "chain-broken", "chain-waits", "chain-health-checks"])
def test_depending_on_an_ancestor_that_waits_for_it_is_a_deadlock(tmp_path, infra_extra, mid, mid_extra, deadlock):
    hits = _repo(tmp_path, infra_extra, mid, mid_extra)
    assert len(hits) == (1 if deadlock else 0), hits
    if deadlock:
        f = hits[0]
        assert f.file.endswith("infra/velero/ks.yaml") and f.pointer == "/spec/dependsOn/0" and f.severity == "error"
        assert "flux-system/infra" in f.message and "Remove infra from dependsOn" in f.message


def test_a_long_waiting_chain_costs_a_bounded_walk_and_short_messages(tmp_path, monkeypatch):
    """Attacker round 5: 300 Kustomizations in one waiting chain, each depending on the top and on its parent. The
    walk up from each stops at its targets and after WALK_LIMIT ancestors (counted: Graph.parents calls), and a
    message elides the middle of a long chain, so output grows with the findings, not with chain length squared."""
    from velero_gitops.validate import flux
    from velero_gitops.validate.fluxrules import depends_on_ancestor as rule

    n = 300
    files = {"clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home", extra=""),
             "clusters/home/k0.yaml": KS.format(name="k0", path="./chain/1", extra="  wait: true\n")}
    for i in range(1, n):
        deps = f"  wait: true\n  dependsOn:\n    - name: k0\n    - name: k{i - 1}\n"
        files[f"chain/{i}/k.yaml"] = KS.format(name=f"k{i}", path=f"./chain/{i + 1}", extra=deps)
    files[f"chain/{n}/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: end\n  namespace: default\n"
    root = write_tree(tmp_path / "repo", files)
    calls = []
    real = flux.Graph.parents
    monkeypatch.setattr(flux.Graph, "parents", lambda self, ks: calls.append(1) or real(self, ks))
    monkeypatch.setattr(rule, "WALK_LIMIT", 64)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    hits = [f for f in res.findings if f.rule == "flux.depends-on-ancestor"]
    # each link's parent is found at once; k0 only within 64 hops of it
    assert len(hits) == (n - 1) + 64, len(hits)
    assert max(len(f.message) for f in hits) < 900 and "more ..." in max(hits, key=lambda f: len(f.message)).message
    assert len(calls) < 100 * n, len(calls)  # a whole-chain walk from each link: n² / 2 = 45,000


def _cycle_repo(tmp_path, deps: dict[str, list[str]], extra: str = ""):
    files = {"clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home", extra="")}
    for name, on in deps.items():
        dep = "  dependsOn:\n" + "".join(f"    - name: {d}\n" + (extra if d == on[-1] else "") for d in on) if on else ""
        files[f"clusters/home/{name}.yaml"] = KS.format(name=name, path=f"./apps/{name}", extra=dep)
        files[f"apps/{name}/cm.yaml"] = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n"
    root = write_tree(tmp_path / "repo", files)
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never"))
    return sorted((f.file.rsplit("/", 1)[-1], f.pointer) for f in res.findings if f.rule == "flux.depends-on-cycle"), res


@pytest.mark.parametrize("deps,want", [
    ({"a": ["b"], "b": ["a"]}, [("a.yaml", "/spec/dependsOn/0"), ("b.yaml", "/spec/dependsOn/0")]),
    ({"a": ["a"]}, [("a.yaml", "/spec/dependsOn/0")]),  # itself
    ({"a": ["x", "b"], "b": ["c"], "c": ["a"], "x": [], "d": ["a"]},  # d waits on the cycle but is not in it
     [("a.yaml", "/spec/dependsOn/1"), ("b.yaml", "/spec/dependsOn/0"), ("c.yaml", "/spec/dependsOn/0")]),
    ({"a": ["b"], "b": ["c"], "c": []}, []),  # a chain resolves
], ids=["two", "self", "three-and-a-waiter", "chain"])
def test_a_depends_on_cycle_never_reconciles(tmp_path, deps, want):
    """kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go checkDependencies: a dependency
    that is not Ready at the current revision fails the reconcile with DependencyNotReady, requeued after
    retryInterval; the controller looks for no cycle, so each member of a dependsOn cycle waits forever."""
    got, res = _cycle_repo(tmp_path, deps)
    assert got == want, res.findings
    if want:
        f = next(f for f in res.findings if f.rule == "flux.depends-on-cycle")
        assert f.severity == "error" and "leads back" in f.message and "flux-system/a" in f.message


def test_a_ready_expr_edge_is_judged_by_its_expression_not_counted(tmp_path):
    """api/v1 DependencyReference.ReadyExpr: with it, the controller evaluates the CEL expression instead of the
    Ready condition (checkDependencies, without AdditiveCELDependencyCheck), so that edge may resolve."""
    got, _ = _cycle_repo(tmp_path, {"a": ["b"], "b": ["a"]}, extra="      readyExpr: 'true'\n")
    assert got == []


def test_a_long_cycle_is_found_in_linear_work_without_recursion(tmp_path):
    """1,200 Kustomizations in one ring (beyond Python's default recursion limit): Tarjan's algorithm runs without recursion (no RecursionError) and the message
    elides the middle of the cycle."""
    n = 1200
    got, res = _cycle_repo(tmp_path, {f"k{i}": [f"k{(i + 1) % n}"] for i in range(n)})
    assert len(got) == n
    assert max(len(f.message) for f in res.findings if f.rule == "flux.depends-on-cycle") < 600
