"""Schema locations (directory, URL template over a local HTTP server), the download cache, CRD import."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from velero_gitops.validate.engine import Options, validate_paths
from velero_gitops.validate.schemas import (
    SchemaStore,
    accepts_any_value,
    crd_to_schemas,
    expand_template,
    import_crds,
    strictify,
)

from cli_util import VALIDATE_FIXTURES as FIXTURES
from cli_util import run_cli
from trace_fixtures import Listener

CRD = FIXTURES / "crds" / "widgets.example.org.yaml"

GOOD = """---
apiVersion: example.org/v1
kind: Widget
metadata:
  name: w
  namespace: default
spec:
  size: small
  port: http
  note: null
  labels:
    a: b
  config:
    anything:
      goes: [1, 2]
  template:
    image: nginx
"""

BAD = """---
apiVersion: example.org/v1
kind: Widget
metadata:
  name: w
spec:
  size: medium
  port: 8080
  template:
    image: nginx
    imagePullPolicy: Always
"""


def _opts(cache, **kw):
    return Options(cache_dir=str(cache), kustomize="never", flux=False, policy=False, **kw)


def test_template_expansion_matches_kubeconform():
    tpl = "https://h/{{.Group}}/{{ .ResourceKind }}_{{.ResourceAPIVersion}}{{.StrictSuffix}}-{{.NormalizedKubernetesVersion}}{{.KindSuffix}}.json"
    assert expand_template(tpl, "HelmRelease", "helm.toolkit.fluxcd.io/v2", "1.35.0", True) == \
        "https://h/helm.toolkit.fluxcd.io/helmrelease_v2-strict-v1.35.0-helm-v2.json"
    assert expand_template(tpl, "Secret", "v1", "master", False) == "https://h/v1/secret_v1-master-v1.json"


def test_crd_conversion_follows_openapi2jsonschema_rules():
    from velero_gitops.validate.yamlload import load_all

    crd = load_all(CRD.read_text())[0].data
    out = {av: s for av, kind, s in crd_to_schemas(crd)}
    v1 = out["example.org/v1"]
    spec = v1["properties"]["spec"]
    assert spec["properties"]["port"] == {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert spec["properties"]["note"]["type"] == ["string", "null"]
    strict = strictify(v1)
    assert strict["properties"]["spec"]["additionalProperties"] is False
    assert "additionalProperties" not in strict["properties"]["spec"]["properties"]["config"]  # preserve-unknown stays open
    assert strict["properties"]["spec"]["properties"]["labels"]["additionalProperties"] == {"type": "string"}


def test_an_untyped_field_that_keeps_unknown_fields_accepts_any_value():
    """A structural schema may leave a node untyped when it sets x-kubernetes-preserve-unknown-fields
    (kubernetes/apiextensions-apiserver@v0.31.0:pkg/apiserver/schema/validation.go ValidateStructural), and the API server then accepts
    any JSON value there: fluxcd/helm-controller@v1.4.5:config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml
    declares spec.values that way, and a HelmRelease with `values: []` is stored (fresh7 bornav). The conversion
    added `type: object`, so an array there was an error the cluster never raises."""
    from velero_gitops.validate.yamlload import load_all

    crd = load_all(CRD.read_text().replace(
        "                config:\n", "                anything:\n                  x-kubernetes-preserve-unknown-fields: true\n"
        "                config:\n", 1))[0].data
    spec = {av: s for av, _, s in crd_to_schemas(crd)}["example.org/v1"]["properties"]["spec"]
    assert "type" not in spec["properties"]["anything"], spec["properties"]["anything"]
    assert spec["properties"]["config"]["type"] in ("object", ["object", "null"])  # a typed one keeps its type
    # the rule the bundle builder applies to the same converted node (scripts/build_schema_bundle.py untype)
    assert accepts_any_value(spec["properties"]["anything"]) and not accepts_any_value(spec["properties"]["config"])


def test_schemas_import_cli_then_validate(tmp_path, cache_dir):
    r = run_cli("schemas", "import", str(CRD), "--cache", str(cache_dir))
    assert r.code == 0, r.err
    assert "widget_v1.json" in r.out and "widget_v1beta1.json" in r.out
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    res = validate_paths([str(good)], _opts(cache_dir))
    assert res.findings == [] and res.passed == 1
    res = validate_paths([str(bad)], _opts(cache_dir))
    got = {(f.line, f.pointer, f.message) for f in res.findings}
    assert (7, "/spec/size", "'medium' is not one of 'small', 'large'") in got
    assert (11, "/spec/template/imagePullPolicy", "additional property not allowed") in got
    assert res.failed == 1
    # --no-strict accepts the unknown field
    res = validate_paths([str(bad)], _opts(cache_dir, strict=False))
    assert {f.pointer for f in res.findings} == {"/spec/size"}


def test_import_rejects_non_crd(tmp_path, cache_dir):
    f = tmp_path / "x.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    r = run_cli("schemas", "import", str(f), "--cache", str(cache_dir))
    assert r.code == 2 and "no CustomResourceDefinition" in r.err


def test_schema_location_directory(tmp_path, cache_dir):
    from velero_gitops.validate.yamlload import load_all

    d = tmp_path / "schemas"
    (d / "example.org").mkdir(parents=True)
    for av, _kind, schema in crd_to_schemas(load_all(CRD.read_text())[0].data):
        (d / "example.org" / f"widget_{av.split('/')[1]}.json").write_text(json.dumps(schema))
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    res = validate_paths([str(bad)], _opts(cache_dir, schema_locations=[str(d)]))
    assert {f.pointer for f in res.findings} == {"/spec/size", "/spec/template/imagePullPolicy"}
    # without the location (and without default) the kind has no schema
    res = validate_paths([str(bad)], _opts(cache_dir))
    assert [f.rule for f in res.findings] == ["schema.missing"]
    res = validate_paths([str(bad)], _opts(cache_dir, ignore_missing_schemas=True))
    assert res.findings == [] and res.skipped == 1
    # kubeconform layout: <dir>/<version>-standalone-strict/<kind>-<group>-<version>.json
    k = tmp_path / "kc" / "v1.35.0-standalone-strict"
    k.mkdir(parents=True)
    cm = {"type": "object", "properties": {"apiVersion": {}, "kind": {}, "metadata": {}, "data": {"type": "object"}}}
    (k / "configmap-v1.json").write_text(json.dumps(cm))
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nextra: 1\n")
    res = validate_paths([str(f)], _opts(cache_dir, schema_locations=[str(tmp_path / "kc")], kubernetes_version="1.35.0"))
    assert [(f.line, f.pointer) for f in res.findings] == [(4, "/extra")]


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, *a):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802
        _Handler.hits.append(self.path)
        super().do_GET()


@pytest.fixture
def schema_server(tmp_path):
    from velero_gitops.validate.yamlload import load_all

    root = tmp_path / "www"
    (root / "example.org").mkdir(parents=True)
    for av, _kind, schema in crd_to_schemas(load_all(CRD.read_text())[0].data):
        (root / "example.org" / f"widget_{av.split('/')[1]}.json").write_text(json.dumps(schema))
    handler = lambda *a, **k: _Handler(*a, directory=str(root), **k)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Handler.hits = []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_url_template_downloads_once_then_uses_the_cache(tmp_path, cache_dir, schema_server):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    loc = schema_server + "/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
    r = run_cli("validate", str(bad), "--schema-location", "default", "--schema-location", loc,
                "--cache", str(cache_dir), "--no-flux", "--no-policy")
    assert r.code == 1
    assert "bad.yaml:7 Widget//w /spec/size: 'medium' is not one of 'small', 'large'" in r.out
    assert r.out.strip().endswith("0 passed, 1 failed")
    assert _Handler.hits == ["/example.org/widget_v1.json"]
    r2 = run_cli("validate", str(bad), "--schema-location", loc, "--cache", str(cache_dir), "--no-flux", "--no-policy")
    assert r2.out == r.out
    assert _Handler.hits == ["/example.org/widget_v1.json"]  # second run: served from the cache
    # a 404 is "no schema", remembered too
    store = SchemaStore([loc], cache_dir=cache_dir)
    assert store.find("example.org/v9", "Widget") is None
    assert store.find("example.org/v9", "Widget") is None
    assert _Handler.hits.count("/example.org/widget_v9.json") == 1


def test_import_crds_api(tmp_path):
    written = import_crds([str(CRD)], tmp_path)
    assert sorted(p.name for p in written) == ["widget_v1.json", "widget_v1beta1.json"]
    assert all(Path(p).is_file() for p in written)


# --------------------------------------------------------------------------------------------------
# Schemas that are repository content (a pull request's): local, inside the boundary, capped


def _repo_schema(tmp_path, schema: dict | str | None, *, link: Path | None = None) -> tuple[Path, Path]:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "schemas").mkdir()
    p = root / "schemas" / "widget-example-v1.json"
    if link is not None:
        p.symlink_to(link)
    else:
        p.write_text(schema if isinstance(schema, str) else json.dumps(schema))
    (root / "w.yaml").write_text("apiVersion: example.org/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n")
    return root, root / "schemas"


@pytest.mark.parametrize("ref", ["http://127.0.0.1:{port}/s.json", "https://127.0.0.1:{port}/s.json",
                                 "file://{outside}", "{outside}", "../../outside.json#/x", "//127.0.0.1:{port}/s"])
def test_a_schema_ref_out_of_the_schema_is_refused(tmp_path, ref):
    """No download, no outside file: the schema's finding is that its $ref is refused."""
    outside = tmp_path / "outside.json"
    outside.write_text('{"type": "object"}')
    srv = Listener()
    try:
        root, loc = _repo_schema(tmp_path, {"type": "object", "properties": {
            "spec": {"$ref": ref.format(port=srv.port, outside=outside)}}})
        res = validate_paths([str(root)], Options(schema_locations=[str(loc)], cache_dir=str(tmp_path / "c"),
                                                  kustomize="never"))
    finally:
        srv.close()
    assert srv.accepted == 0
    assert [f.rule for f in res.findings] == ["schema.error"] and "refused" in res.findings[0].message


def test_a_symlinked_schema_out_of_the_repository_is_not_read(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text('{"type": "object", "required": ["nope-OUTSIDE"]}')
    root, loc = _repo_schema(tmp_path, None, link=outside)
    res = validate_paths([str(root)], Options(schema_locations=[str(loc)], cache_dir=str(tmp_path / "c"), kustomize="never"))
    assert [f.rule for f in res.findings] == ["schema.error"]
    assert "outside" in res.findings[0].message and "nope-OUTSIDE" not in res.findings[0].message


@pytest.mark.parametrize("shape", ["deep-object", "deep-array", "oversized"])
def test_schema_size_and_depth_are_capped(tmp_path, shape, monkeypatch):
    from velero_gitops.validate import schemas

    if shape == "oversized":
        monkeypatch.setattr(schemas, "MAX_SCHEMA_BYTES", 1000)
        text = json.dumps({"type": "object", "description": "x" * 2000})
    elif shape == "deep-object":
        text = '{"type": "object", "properties": {"spec": ' + '{"items": ' * 100_000 + "{}" + "}" * 100_000 + "}}"
    else:
        text = '{"type": "object", "enum": ' + "[" * 100_000 + "]" * 100_000 + "}"
    root, loc = _repo_schema(tmp_path, text)
    res = validate_paths([str(root)], Options(schema_locations=[str(loc)], cache_dir=str(tmp_path / "c"), kustomize="never"))
    assert [f.rule for f in res.findings] == ["schema.error"], res.findings
    assert ("too deep" if shape != "oversized" else "1000") in res.findings[0].message


def test_a_null_is_said_without_python_words():
    """The schema message of a null value names the type only (no `None`, a Python word)."""
    from velero_gitops.validate.documents import Obj
    from velero_gitops.validate.schemas import SchemaStore, schema_findings

    store = SchemaStore([], cache_dir=None)
    data = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "x"},
            "spec": {"nfs": {"server": None, "path": "/x"}}}
    obj = Obj("x.yaml", None, 0, data, 1)
    msgs = [f.message for f in schema_findings(obj, store.validator("v1", "PersistentVolume"))]
    assert msgs == ["expected string, got null"], msgs
    assert all("None" not in m for m in msgs), msgs


def test_missing_message_tells_a_crd_from_a_newer_kubernetes_api():
    """A group the bundle serves (apps) missing a kind is a newer Kubernetes release; a group it does not serve is a
    CRD, *.k8s.io included: Gateway API is served by CRDs (kubernetes-sigs/gateway-api@v1.3.0 config/crd)."""
    store = SchemaStore()
    assert "a CRD outside" in store.missing_message("gateway.networking.k8s.io/v1", "HTTPRoute")
    assert "newer Kubernetes API" in store.missing_message("apps/v1", "Replicator")
    assert "schema location 'default'" in store.missing_message("apps/v1", "Replicator")


_CANARY = '{"type": "object", "properties": {"spec": {"enum": ["OUTSIDE-CONTENT"]}}, "required": ["spec"]}'


@pytest.mark.parametrize("where", ["template", "directory", "imported"])
@pytest.mark.parametrize("field", ["kind", "apiVersion"])
def test_a_kind_or_group_that_climbs_out_never_reads_a_schema(tmp_path, where, field):
    """/work/attack3/repro/02, 03: a manifest's kind/group filled a location's path with ``../`` and the schema
    read outside the repository or the cache showed its content. A kind/group/version the API server would refuse
    (kubernetes/apiextensions-apiserver@v0.35.0:pkg/apis/apiextensions/validation/validation.go) names no schema."""
    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    for name in ("canary.json", "canary_v1.json", "x/v1.json", "canary-example-v1.json"):
        (outside / name).write_text(_CANARY)
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "schemas").mkdir()
    cache = tmp_path / "cache"
    (cache / "imported" / "example.com").mkdir(parents=True)
    up = "../" * (len(root.parts) + 2)
    kind, av = ("Thing", f"{up}{str(outside)[1:]}/x/v1") if field == "apiVersion" else \
        (f"{up}{str(outside)[1:]}/canary", "example.com/v1")
    (root / "a.yaml").write_text(f"apiVersion: {av}\nkind: {kind}\nmetadata: {{name: a}}\nspec: x\n")
    locs = {"template": [str(root / "schemas/{{ .ResourceKind }}.json"),
                         str(root / "schemas/{{ .Group }}/{{ .ResourceAPIVersion }}.json")],
            "directory": [str(root / "schemas")], "imported": None}[where]
    res = validate_paths([str(root)], Options(schema_locations=locs, cache_dir=str(cache), kustomize="never"))
    assert [f.rule for f in res.findings] == ["schema.missing"], res.findings
    assert "OUTSIDE-CONTENT" not in res.findings[0].message
    assert ("kind is not a Kubernetes kind name" if field == "kind" else "not a DNS subdomain") in res.findings[0].message


def test_a_kind_longer_than_a_file_name_is_no_schema(tmp_path):
    """/work/attack3/repro/15: a 300-letter kind made the imported-cache lookup raise ENAMETOOLONG (a traceback)."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    cache = tmp_path / "cache"
    (cache / "imported" / "example.com").mkdir(parents=True)
    (root / "a.yaml").write_text(f"apiVersion: example.com/v1\nkind: {'X' * 300}\nmetadata: {{name: a}}\n")
    res = validate_paths([str(root)], Options(cache_dir=str(cache), kustomize="never"))
    assert [f.rule for f in res.findings] == ["schema.missing"]
    assert "at most 63 characters" in res.findings[0].message


def test_a_lookup_that_the_file_system_refuses_is_no_schema(tmp_path):
    """A valid name can still make a path the file system refuses (a long location plus a 63-letter kind): the
    lookup answers "no schema", never an OSError. Without the name check the same path stays in its root."""
    store = SchemaStore(cache_dir=tmp_path / "c")
    deep = tmp_path / ("d" * 250)
    assert store._lookup(deep / ("k" * 300 + ".json"), deep) is None
    with pytest.raises(Exception, match="leaves its location"):
        store._lookup(deep / ".." / ".." / "etc" / "passwd", deep)


@pytest.mark.parametrize(("av", "kind", "ok"), [
    ("v1", "ConfigMap", True), ("apps/v1", "Deployment", True), ("helm.toolkit.fluxcd.io/v2beta2", "HelmRelease", True),
    ("example.com/v1", "My-Kind2", True), ("example.com/v1", "2Kind", False), ("example.com/v1", "a.b", False),
    ("example.com/v1", "K" * 64, False), ("example.com/V1", "Thing", False), ("Example.com/v1", "Thing", False),
    ("a/b/v1", "Thing", False), ("/v1", "Thing", False), ("example..com/v1", "Thing", False),
    ("example.com/", "Thing", False), ("example.com/v1", "", False)])
def test_type_names_follow_what_the_api_server_accepts(av, kind, ok):
    from velero_gitops.config.names import type_name_problem

    assert (type_name_problem(av, kind) is None) is ok


def test_import_refuses_a_crd_whose_names_climb_out_of_the_cache(tmp_path):
    """`schemas import` builds <cache>/imported/<group>/<kind>_<version>.json from the CRD's own names: a CRD from a
    pull request naming kind ``../../../x`` wrote outside the cache."""
    from velero_gitops.errors import UsageError

    crd = tmp_path / "crd.yaml"
    crd.write_text(CRD.read_text().replace("kind: Widget", "kind: ../../../../escaped"))
    with pytest.raises(UsageError, match="not a Kubernetes kind name"):
        import_crds([str(crd)], cache_dir=tmp_path / "c")
    assert not list(tmp_path.rglob("escaped*"))
