"""The offline schema bundle: provenance, every emitted kind, and no network needed."""

from __future__ import annotations

import gzip
import json
import socket

import pytest

from velero_gitops.validate.engine import Options, validate_paths
from velero_gitops.validate.schemas import BUNDLE_DIR, SchemaStore

EMITTED = [
    "kustomize.toolkit.fluxcd.io/v1/Kustomization", "helm.toolkit.fluxcd.io/v2/HelmRelease",
    "source.toolkit.fluxcd.io/v1/HelmRepository", "source.toolkit.fluxcd.io/v1/OCIRepository",
    "source.toolkit.fluxcd.io/v1/GitRepository", "velero.io/v1/Schedule", "velero.io/v1/Backup",
    "velero.io/v1/Restore", "velero.io/v1/BackupStorageLocation", "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule",
    "v1/Namespace", "v1/Secret", "v1/ConfigMap", "apps/v1/Deployment", "apps/v1/DaemonSet",
]


def test_provenance_names_packages_and_versions():
    prov = json.loads((BUNDLE_DIR / "provenance.json").read_text())
    packages = {s["package"]: s for s in prov["sources"]}
    assert set(packages) == {"kubernetes-validate", "cloudcoil-models-fluxcd", "cloudcoil-models-velero",
                             "cloudcoil-models-prometheus-operator", "cloudcoil-models-cert-manager",
                             "cloudcoil-models-keda"}
    for s in packages.values():
        assert s["version"] and s["kinds"]
    for s in prov["sources"][1:]:
        assert len(s["sha256"]) == 64
    assert prov["generated_by"] == "scripts/build_schema_bundle.py"


def test_every_emitted_kind_is_in_the_bundle_and_files_match_the_index():
    index = json.loads((BUNDLE_DIR / "index.json").read_text())
    for key in EMITTED:
        assert key in index, key
    files = {p.name for p in (BUNDLE_DIR / "schemas").iterdir()}
    assert files == {name + ".gz" for name in index.values()}
    prov = json.loads((BUNDLE_DIR / "provenance.json").read_text())
    assert set(prov["emitted_kinds"]) <= set(index)


@pytest.mark.parametrize("key", EMITTED)
def test_bundle_schemas_compile_and_close_objects(key):
    api_version, kind = key.rsplit("/", 1)
    store = SchemaStore()
    v = store.validator(api_version, kind)
    assert v is not None
    assert not v.is_valid({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "bogus": 1})


def test_bundle_is_gzip_json():
    index = json.loads((BUNDLE_DIR / "index.json").read_text())
    name = index["helm.toolkit.fluxcd.io/v2/HelmRelease"]
    schema = json.loads(gzip.decompress((BUNDLE_DIR / "schemas" / (name + ".gz")).read_bytes()))
    assert "interval" in schema["definitions"]["HelmReleaseSpec"]["required"]
    # values stays open (x-kubernetes-preserve-unknown-fields)
    assert schema["definitions"]["HelmReleaseSpec"]["properties"]["values"]["x-kubernetes-preserve-unknown-fields"]


@pytest.mark.parametrize("values", [[], "x", {}, {"a": 1}, None])
def test_helmrelease_values_of_any_json_type_pass_the_schema(values):
    """helm-controller's CRD leaves spec.values untyped with x-kubernetes-preserve-unknown-fields
    (fluxcd/helm-controller@v1.6.3:config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml), so the API server
    stores any JSON value there; the builder drops the object type the model package gives it."""
    v = SchemaStore().validator("helm.toolkit.fluxcd.io/v2", "HelmRelease")
    hr = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "x"},
          "spec": {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "x"}, "values": values}}
    assert v.is_valid(hr)
    hr["spec"]["interval"] = 5  # a typed field keeps its type
    assert not v.is_valid(hr)


def test_every_untyped_correction_in_the_provenance_is_untyped_in_the_bundle():
    """provenance.json names each node the builder untyped and the CRD that says so; the bundled node accepts any
    value, and a typed open object elsewhere in the same kinds keeps its type."""
    prov = json.loads((BUNDLE_DIR / "provenance.json").read_text())
    untyped = [u for s in prov["sources"] for u in s.get("untyped", [])]
    assert {u["kind"] for u in untyped} >= {"helm.toolkit.fluxcd.io/v2/HelmRelease"}
    store = SchemaStore()
    for u in untyped:
        assert "@" in u["crd"] and ":" in u["crd"], u
        api_version, kind = u["kind"].rsplit("/", 1)
        v = store.validator(api_version, kind)
        assert v is not None
        for value in ([], "x", 5, {}):
            assert _valid_at(v, api_version, kind, u["field"], value), (u, value)


def _valid_at(v, api_version: str, kind: str, field: str, value) -> bool:
    """Whether an object with `value` at a dotted field (`[]`: the first item of a list) passes the schema, on the
    errors at that field alone (the rest of the object is left incomplete)."""
    obj: dict = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    node: dict | list = obj
    parts = field.replace("[]", ".[]").split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        child = value if last else ([] if parts[i + 1] == "[]" else {})
        if part == "[]":
            node.append(child)  # type: ignore[union-attr]
        else:
            node[part] = child  # type: ignore[index]
        node = child
    target = ["" if p == "[]" else p for p in parts]
    for err in v.iter_errors(obj):
        path = [str(p) for p in err.instance_path]
        if len(path) == len(target) and all(t in ("", p) for t, p in zip(target, path)):
            return False
    return True


def test_validation_works_with_the_network_disabled(home_lab, cache_dir, monkeypatch):
    def no_network(*a, **k):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    result = validate_paths([str(home_lab / "kubernetes")],
                            Options(cache_dir=str(cache_dir), externals=["Kustomization/flux-system/openebs"], kustomize="never"))
    assert [f for f in result.findings if f.severity == "error"] == []
    assert result.passed == 7 and result.failed == 0
