"""Malformed Flux fields: for every field the typed model (validate.fluxmodel) reads, a value of a shape the CRD schema
refuses gives exactly one finding, at that field's line, and no traceback; the rest of the graph keeps going.

The wrong shapes are derived from the schemas we ship (validate/bundle, from the Flux CRDs:
fluxcd/kustomize-controller@v1.9.4:config/crd/bases, fluxcd/helm-controller@v1.6.3:config/crd/bases): for a field
whose schema type is a string, every other JSON type, and so on."""

from __future__ import annotations

import copy
import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from velero_gitops.validate.engine import Options, validate_paths

BUNDLE = Path(__file__).resolve().parents[2] / "src/velero_gitops/validate/bundle/schemas"

SYNC = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"interval": "1h", "url": "https://github.com/o/r", "ref": {"branch": "main"}}}
ROOT = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./clusters/prod", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
APPS = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./apps", "prune": True, "targetNamespace": "apps",
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                 "dependsOn": [{"name": "flux-system"}],
                 "components": ["../components/common"],
                 "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                 "postBuild": {"substitute": {"DOMAIN": "example.com"},
                               "substituteFrom": [{"kind": "ConfigMap", "name": "vars", "optional": True}]}}}
OCI = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
       "metadata": {"name": "podinfo", "namespace": "apps"},
       "spec": {"interval": "1h", "url": "oci://ghcr.io/stefanprodan/charts/podinfo", "ref": {"tag": "6.7.0"}}}
HR = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
      "metadata": {"name": "podinfo", "namespace": "apps"},
      "spec": {"interval": "1h", "chartRef": {"kind": "OCIRepository", "name": "podinfo"},
               "dependsOn": [{"name": "other"}], "install": {"crds": "CreateReplace"}}}
OTHER = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {"name": "other", "namespace": "apps"},
         "spec": {"interval": "1h", "chart": {"spec": {"chart": "other", "sourceRef": {
             "kind": "HelmRepository", "name": "charts"}}}}}
REPO = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "charts", "namespace": "apps"}, "spec": {"interval": "1h", "url": "https://charts.example"}}

# every field of the Flux objects that validate.fluxmodel reads: (object, JSON pointer)
FIELDS = [(APPS, p) for p in (
    "/spec/path", "/spec/sourceRef", "/spec/sourceRef/kind", "/spec/sourceRef/name", "/spec/sourceRef/namespace",
    "/spec/dependsOn", "/spec/dependsOn/0", "/spec/dependsOn/0/name", "/spec/dependsOn/0/namespace",
    "/spec/targetNamespace", "/spec/components", "/spec/components/0", "/spec/decryption",
    "/spec/decryption/provider", "/spec/decryption/secretRef", "/spec/decryption/secretRef/name",
    "/spec/postBuild", "/spec/postBuild/substitute", "/spec/postBuild/substituteFrom",
    "/spec/postBuild/substituteFrom/0", "/spec/postBuild/substituteFrom/0/kind",
    "/spec/postBuild/substituteFrom/0/name", "/spec/postBuild/substituteFrom/0/optional")] + [
    (HR, p) for p in ("/spec/chartRef", "/spec/chartRef/kind", "/spec/chartRef/name", "/spec/chartRef/namespace",
                      "/spec/dependsOn", "/spec/dependsOn/0", "/spec/dependsOn/0/name", "/spec/install",
                      "/spec/install/crds")] + [
    (OTHER, p) for p in ("/spec/chart", "/spec/chart/spec", "/spec/chart/spec/chart", "/spec/chart/spec/sourceRef",
                         "/spec/chart/spec/sourceRef/kind", "/spec/chart/spec/sourceRef/name")]
SCHEMA_FILE = {"Kustomization": "kustomization-kustomize-v1.json.gz", "HelmRelease": "helmrelease-helm-v2.json.gz"}


def _schema_at(kind: str, pointer: str) -> dict[str, Any]:
    root = json.loads(gzip.decompress((BUNDLE / SCHEMA_FILE[kind]).read_bytes()))
    node = root
    for part in pointer.strip("/").split("/"):
        while "$ref" in node:
            node = root["definitions"][node["$ref"].rsplit("/", 1)[1]]
        node = node["items"] if part.isdigit() else node["properties"][part]
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("type", "object" if "properties" in node or "additionalProperties" in node else None)
    return set(t if isinstance(t, list) else [t]) - {"null", None}


SAMPLES = {"string": "text", "integer": 7, "number": 1.5, "boolean": True, "array": ["a"], "object": {"a": "b"}}


def _wrong(node: dict[str, Any]) -> list[object]:
    """Values of every JSON shape the schema's type refuses (an integer is a number too)."""
    ok = _types(node) | ({"integer"} if "number" in _types(node) else set())
    return [v for t, v in SAMPLES.items() if t not in ok]


CASES = [(obj, ptr, v) for obj, ptr in FIELDS for v in _wrong(_schema_at(obj["kind"], ptr))]


def _dump(node: object, indent: str, out: list[str], mark: str, lines: dict[str, int], ptr: str = "") -> None:
    """Block style for mappings, each other value as JSON on its key's line (so a field has one line)."""
    assert isinstance(node, dict)
    for k, v in node.items():
        here = f"{ptr}/{k}"
        if isinstance(v, dict) and v and here != mark:
            lines[here] = len(out) + 1
            out.append(f"{indent}{k}:")
            _dump(v, indent + "  ", out, mark, lines, here)
        else:
            lines[here] = len(out) + 1
            out.append(f"{indent}{k}: {json.dumps(v)}")


def _set(doc: dict, pointer: str, value: object) -> str:
    """Set the value; return the pointer whose line holds it (a list entry lives on its list's line)."""
    parts = pointer.strip("/").split("/")
    node: Any = doc
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    while any(p.isdigit() for p in parts):
        parts = parts[:next(i for i, p in enumerate(parts) if p.isdigit())]
    return "/" + "/".join(parts)


def _repo(root: Path, docs: dict[str, list[dict]], marked: dict | None = None, mark: str = "") -> dict[str, dict[str, int]]:
    (root / ".git").mkdir()
    (root / "components/common").mkdir(parents=True)
    (root / "components/common/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
    lines: dict[str, dict[str, int]] = {}
    for rel, objs in docs.items():
        out: list[str] = []
        for o in objs:
            if out:
                out.append("---")
            lines[f'{o["kind"]}/{o["metadata"]["name"]}'] = ls = {}
            _dump(o, "", out, mark if o is marked else "", ls)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("\n".join(out) + "\n")
    return lines


def _validate(root: Path):
    return validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", policy=False))


def _docs(apps: dict, hr: dict, other: dict) -> dict[str, list[dict]]:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sops-age", "namespace": "flux-system"},
              "type": "Opaque"}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars", "namespace": "flux-system"}}
    return {"clusters/prod/flux-system/gotk-sync.yaml": [SYNC, ROOT],
            "clusters/prod/apps.yaml": [apps, secret, cm],
            "apps/release.yaml": [OCI, hr, other, REPO]}


def test_the_valid_tree_is_clean(tmp_path):
    _repo(tmp_path, _docs(APPS, HR, OTHER))
    assert [f.message for f in _validate(tmp_path).findings] == []


_SCALARS = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False),
                    st.text("abcXYZ-_./ ${}", min_size=1, max_size=12))
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3), st.dictionaries(st.text("abc", min_size=1, max_size=4), inner,
                                                              min_size=1, max_size=3)), max_leaves=6)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[dict, str, object]:
    """A field the model reads and a random JSON value of a shape its schema refuses."""
    obj, pointer = draw(st.sampled_from(FIELDS))
    node = _schema_at(obj["kind"], pointer)
    ok = _types(node) | ({"integer"} if "number" in _types(node) else set())
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    value = draw(_JSON.filter(lambda v: kind[type(v)] not in ok))
    return obj, pointer, value


def test_every_case_is_derived_from_the_schema():
    """The fields cover strings, lists and mappings, and each field has a wrong shape (the test can fail)."""
    assert {ptr for _, ptr, _ in CASES} == {ptr for _, ptr in FIELDS}
    assert {tuple(sorted(_types(_schema_at(o["kind"], p)))) for o, p in FIELDS} >= {("string",), ("array",), ("object",)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_cases())
def test_a_wrong_shape_is_one_finding_at_its_line(case):
    """validate --kustomize never on a tree where one field the model reads has a random wrong shape: the schema
    pass reports it, once, at that field's line; the graph reads the field as absent (no follow-on lookup, no
    traceback)."""
    obj, pointer, value = case
    doc = copy.deepcopy(obj)
    line_of = _set(doc, pointer, value)
    with tempfile.TemporaryDirectory() as d:
        lines = _repo(Path(d), _docs(*[doc if o is obj else o for o in (APPS, HR, OTHER)]), doc, line_of)
        findings = _validate(Path(d)).findings
    want = lines[f'{obj["kind"]}/{obj["metadata"]["name"]}'][line_of]
    assert [(f.line, f.rule) for f in findings if f.severity != "note"] == [(want, "schema")], \
        f"{pointer} = {value!r}: " + "; ".join(f"{f.line} {f.rule} {f.message}" for f in findings)


@pytest.mark.parametrize("pointer", ["/spec/sourceRef/kind", "/spec/sourceRef/name", "/spec/dependsOn/0/name"])
def test_a_missing_required_field_is_one_finding(tmp_path, pointer):
    """CrossNamespaceSourceReference.Kind/Name and DependencyReference.Name are +required: no lookup on what is
    left (no follow-on "not found")."""
    doc = copy.deepcopy(APPS)
    parts = pointer.strip("/").split("/")
    node: Any = doc
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    del node[parts[-1]]
    _repo(tmp_path, _docs(doc, HR, OTHER))
    findings = _validate(tmp_path).findings
    assert [f.rule for f in findings] == ["schema"], [f"{f.line} {f.rule} {f.message}" for f in findings]


@pytest.mark.parametrize("obj, pointer, value", [
    (APPS, "/spec/sourceRef/kind", "GitRepo"),  # the CRD's enum: GitRepository, OCIRepository, Bucket, ...
    (HR, "/spec/chartRef/kind", "HelmRepository"),
    (OTHER, "/spec/chart/spec/sourceRef/kind", "OCIRepository"),
])
def test_a_kind_outside_the_enum_is_one_finding(tmp_path, obj, pointer, value):
    """The enum comes from the schema too: a reference of a kind the API server refuses is not looked up."""
    doc = copy.deepcopy(obj)
    _set(doc, pointer, value)
    _repo(tmp_path, _docs(*[doc if o is obj else o for o in (APPS, HR, OTHER)]))
    findings = _validate(tmp_path).findings
    assert [(f.rule, f.pointer) for f in findings] == [("schema", pointer)], [f.message for f in findings]


def test_chart_and_chart_ref_both_set_is_one_finding(tmp_path):
    """helm-controller@v1.6.3:api/v2/helmrelease_types.go HelmReleaseSpec XValidation "either chart or chartRef must
    be set": a CEL rule, absent from the OpenAPI schema, so the model reports it (flux.malformed), at chartRef's line."""
    doc = copy.deepcopy(HR)
    doc["spec"]["chart"] = copy.deepcopy(OTHER["spec"]["chart"])
    lines = _repo(tmp_path, _docs(APPS, doc, OTHER))
    findings = _validate(tmp_path).findings
    assert [(f.rule, f.line) for f in findings] == [("flux.malformed", lines["HelmRelease/podinfo"]["/spec/chartRef"])]
    assert "either chart or chartRef" in findings[0].message


@pytest.mark.parametrize("sync_path", [7, ["clusters/prod"]])
def test_a_malformed_flux_instance_is_one_finding_and_no_root(tmp_path, sync_path):
    """flux-operator's kinds have no schema in the bundle: the model's Problem is the finding
    (controlplaneio-fluxcd/flux-operator@v0.58.1:api/v1/fluxinstance_types.go Sync.Path, a required string), and
    a refused sync makes no sync root."""
    inst = {"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
            "metadata": {"name": "flux", "namespace": "flux-system"},
            "spec": {"distribution": {"version": "2.x", "registry": "ghcr.io/fluxcd"},
                     "sync": {"kind": "GitRepository", "url": "https://github.com/o/r", "ref": "refs/heads/main",
                              "path": sync_path}}}
    docs = _docs(APPS, HR, OTHER)
    docs["clusters/prod/flux-instance.yaml"] = [inst]
    lines = _repo(tmp_path, docs)
    findings = validate_paths([str(tmp_path)], Options(repo_root=str(tmp_path), kustomize="never", policy=False,
                                                       ignore_missing_schemas=True)).findings
    assert [(f.rule, f.line) for f in findings] == [("flux.malformed", lines["FluxInstance/flux"]["/spec/sync/path"])]
    assert "spec.sync.path must be a string" in findings[0].message
