"""The typed Flux model (validate.fluxmodel): flux-operator's FluxInstance and ResourceSet, their defaults and the
Problems of fields the API server would refuse; and the one answer to "which sync roots" (validate.flux.sync_roots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops.validate import flux, fluxmodel
from velero_gitops.validate.documents import Obj


def _obj(data: dict, path: Path | None = None) -> Obj:
    return Obj("x.yaml", path, 0, data, 1)


def _instance(sync: object, ns: str | None = "flux-system", **spec: object) -> Obj:
    meta = {"name": "flux", **({"namespace": ns} if ns is not None else {})}
    return _obj({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance", "metadata": meta,
                 "spec": {"distribution": {"version": "2.x", "registry": "ghcr.io/fluxcd"}, "sync": sync, **spec}})


SYNC = {"kind": "GitRepository", "url": "https://github.com/o/r", "ref": "refs/heads/main", "path": "clusters/prod"}


def test_flux_instance_sync_defaults_and_kustomization():
    """controlplaneio-fluxcd/flux-operator@v0.58.1:api/v1/fluxinstance_types.go (Sync: name defaults to the
    instance's namespace, interval to 1m) and internal/builder/templates.go syncTmpl (the Kustomization: named like
    the sync, in the instance's namespace, interval 10m0s, prune, sourceRef of the sync's kind and name)."""
    fi = fluxmodel.flux_instance(_instance(SYNC, ns="ops"))
    assert fi.problems == ()
    assert fi.version == "2.x"
    assert fi.sync == fluxmodel.Sync("GitRepository", "ops", SYNC["url"], SYNC["ref"], "clusters/prod", "1m")
    assert fi.sync_kustomization() == {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "ops", "namespace": "ops"},
        "spec": {"interval": "10m0s", "path": "clusters/prod", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "ops"}}}
    named = fluxmodel.flux_instance(_instance({**SYNC, "name": "cluster", "interval": "5m"}, ns=None))
    assert named.namespace == "flux-system" and named.sync is not None
    assert (named.sync.name, named.sync.interval) == ("cluster", "5m")
    # the namespace after the build that applies it wins over the metadata's (validate.producers)
    assert fluxmodel.flux_instance(_instance(SYNC, ns=None), "flux-ops").sync.name == "flux-ops"  # type: ignore[union-attr]


@pytest.mark.parametrize("sync, pointer", [
    ({**SYNC, "path": 7}, "/spec/sync/path"),
    ({k: v for k, v in SYNC.items() if k != "path"}, "/spec/sync/path"),  # +required
    ({k: v for k, v in SYNC.items() if k != "url"}, "/spec/sync/url"),
    ({k: v for k, v in SYNC.items() if k != "ref"}, "/spec/sync/ref"),
    ({**SYNC, "kind": "HelmRepository"}, "/spec/sync/kind"),  # +kubebuilder:validation:Enum
    ({**SYNC, "kind": ["GitRepository"]}, "/spec/sync/kind"),
    ({**SYNC, "interval": "10 minutes"}, "/spec/sync/interval"),  # the Duration pattern
    ({**SYNC, "name": {"a": 1}}, "/spec/sync/name"),
    ("clusters/prod", "/spec/sync"),
])
def test_flux_instance_malformed_sync_is_one_problem_and_no_sync(sync, pointer):
    """A sync the API server refuses (fluxinstance_types.go Sync: required fields, Enum, Pattern) makes no sync
    root: the operator never gets the object."""
    fi = fluxmodel.flux_instance(_instance(sync))
    assert fi.sync is None and fi.sync_kustomization() is None
    assert [p.pointer for p in fi.problems] == [pointer]


def test_resource_set_typed():
    """controlplaneio-fluxcd/flux-operator@v0.58.1:api/v1/resourceset_types.go: dependsOn entries need apiVersion,
    kind and name; ready defaults to false; resources are JSON objects."""
    rs = fluxmodel.resource_set(_obj({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet",
                                      "metadata": {"name": "apps"}, "spec": {
                                          "inputs": [{"tenant": "a"}], "resources": [{"kind": "Namespace"}],
                                          "dependsOn": [{"apiVersion": "v1", "kind": "Namespace", "name": "a"},
                                                        {"kind": "Namespace", "name": "b"}, "c",
                                                        {"apiVersion": "v1", "kind": "X", "name": "d", "ready": "yes"}]}}))
    assert rs.inputs == ({"tenant": "a"},) and rs.resources == ({"kind": "Namespace"},)
    assert rs.depends_on == (fluxmodel.Dependency("v1", "Namespace", "a"), fluxmodel.Dependency("v1", "X", "d"))
    assert sorted(p.pointer for p in rs.problems) == ["/spec/dependsOn/1/apiVersion", "/spec/dependsOn/2",
                                                "/spec/dependsOn/3/ready"]


def test_sync_roots_from_instances_and_bootstrap_markers(tmp_path):
    """One answer for the graph and adoption: a FluxInstance's sync (the Kustomization the operator makes), and with
    the repository root, each empty bootstrap marker <p>/flux-system/gotk-sync.yaml (`flux bootstrap --path=<p>`)."""
    (tmp_path / "clusters/dev/flux-system").mkdir(parents=True)
    (tmp_path / "clusters/dev/flux-system/gotk-sync.yaml").write_text("")
    objs = [_instance({**SYNC, "kind": "OCIRepository"}), _instance({**SYNC, "path": 7}),
            _obj({"apiVersion": "example.com/v1", "kind": "FluxInstance", "metadata": {"name": "other"},
                  "spec": {"sync": SYNC}})]  # another group's kind of the same name is not flux-operator's
    roots = flux.sync_roots(objs, tmp_path)
    assert [(r.origin, r.source, r.path) for r in roots] == [
        ("FluxInstance", ("OCIRepository", "flux-system", "flux-system"), "clusters/prod"),
        ("Bootstrap", ("GitRepository", "flux-system", "flux-system"), "./clusters/dev")]
    assert roots[0].kustomization is not None and roots[0].kustomization.data["spec"]["prune"] is True
    assert [r.origin for r in flux.sync_roots(objs)] == ["FluxInstance"]  # no root: no marker


@pytest.mark.parametrize("kube_config,want", [
    (None, None),
    ({"secretRef": {"name": "edge-kubeconfig"}}, ("Secret", "edge-kubeconfig", "")),
    ({"secretRef": {"name": "edge", "key": "value.yaml"}}, ("Secret", "edge", "value.yaml")),
    ({"configMapRef": {"name": "edge"}}, ("ConfigMap", "edge", "")),
])
def test_kustomization_kube_config(kube_config, want):
    """spec.kubeConfig is a meta.KubeConfigReference: a secretRef (name, optional key) or a configMapRef
    (fluxcd/kustomize-controller@v1.9.4:api/v1/kustomization_types.go KubeConfig; docs/spec/v1/kustomizations.md
    "KubeConfig (Remote clusters)"); the graph keys the remote cluster on it (Graph._partition)."""
    spec = {"path": "./x", "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            **({"kubeConfig": kube_config} if kube_config is not None else {})}
    ks = _obj({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "a", "namespace": "flux-system"}, "spec": spec})
    assert fluxmodel.kustomization(ks).kube_config == want
