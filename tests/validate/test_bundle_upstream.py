"""The bundled CRD schemas against the upstream CRDs they come from: a node the CRD leaves untyped with
x-kubernetes-preserve-unknown-fields accepts any JSON value (kubernetes/apiextensions-apiserver@v0.31.0:
pkg/apiserver/schema/validation.go ValidateStructural), so the bundled node has no type; a typed one keeps its type.

Marker `upstream`: reads the CRD files provenance.json names (``repo@tag:path``) from bare clones under
$VELERO_GITOPS_MIRROR (default /work/.mirror, laid out as <owner>+<name>/repo); a missing clone fails the test:

    python -m pytest -m upstream tests/validate/test_bundle_upstream.py
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from velero_gitops.validate.schemas import BUNDLE_DIR, bundled
from velero_gitops.validate.yamlload import load_all

pytestmark = pytest.mark.upstream
MIRROR = Path(os.environ.get("VELERO_GITOPS_MIRROR", "/work/.mirror"))


def show(at: str) -> str:
    repo, ref = at.split("@", 1)
    git_dir = MIRROR / repo.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        pytest.fail(f"{git_dir} is missing: clone github.com/{repo} there (bare) or set VELERO_GITOPS_MIRROR")
    return subprocess.run(["git", f"--git-dir={git_dir}", "show", ref], check=True, capture_output=True, text=True).stdout


def preserve_unknown_nodes(node: dict, field: str = ""):
    """(dotted field, typed?) of every x-kubernetes-preserve-unknown-fields node of a raw openAPIV3Schema."""
    if node.get("x-kubernetes-preserve-unknown-fields") is True:
        yield field, "type" in node
    for key, sub in (node.get("properties") or {}).items():
        yield from preserve_unknown_nodes(sub, f"{field}.{key}" if field else key)
    for key, mark in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(node.get(key), dict):
            yield from preserve_unknown_nodes(node[key], field + mark)


def at_field(schema: dict, field: str) -> dict | None:
    """The bundled node of a dotted field (through $ref and the anyOf of an optional field), None if absent."""
    defs = schema.get("definitions", {})
    node: dict | None = schema
    for part in field.replace("[]", ".[]").replace("{}", ".{}").split("."):
        node = _plain(node, defs)
        key = {"[]": "items", "{}": "additionalProperties"}.get(part)
        node = node.get(key) if key else (node.get("properties") or {}).get(part)
        if not isinstance(node, dict):
            return None
    return _plain(node, defs)


def _plain(node: dict, defs: dict) -> dict:
    while True:
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        elif len(node.get("anyOf", [])) == 2 and {"type": "null"} in node["anyOf"]:
            node = next(n for n in node["anyOf"] if n != {"type": "null"})
        else:
            return node


def test_every_untyped_preserve_unknown_node_of_the_upstream_crds_is_untyped_in_the_bundle():
    prov = json.loads((BUNDLE_DIR / "provenance.json").read_text())
    crd_sources = [s for s in prov["sources"] if "crds" in s]
    assert {s["package"] for s in crd_sources} == {s["package"] for s in prov["sources"][1:]}
    untyped, typed = [], 0
    for source in crd_sources:
        assert set(source["crds"]) == set(source["kinds"]), source["package"]  # every kind has its CRD
        for key, at in source["crds"].items():
            api_version, kind = key.rsplit("/", 1)
            group, version = api_version.split("/")
            schema = bundled(api_version, kind)
            assert schema is not None
            crds = [d.data for d in load_all(show(at)) if isinstance(d.data, dict)]
            [crd] = [c for c in crds if c["spec"]["group"] == group and c["spec"]["names"]["kind"] == kind]
            [served] = [v for v in crd["spec"]["versions"] if v["name"] == version]
            for field, has_type in preserve_unknown_nodes(served["schema"]["openAPIV3Schema"]):
                node = at_field(schema, field)
                if node is None:
                    continue  # a field the model package does not have (closed in strict mode either way)
                assert ("type" in node) == has_type, (key, field, node, at)
                if has_type:
                    typed += 1
                else:
                    untyped.append(f"{key} {field}")
    # both classes occur: helm-controller's values is untyped, and typed open objects keep their type
    assert "helm.toolkit.fluxcd.io/v2/HelmRelease spec.values" in untyped
    assert typed > 0


def test_build_script_reproduces_the_committed_bundle():
    """The bundle is generated, never edited: rebuilding it from the recorded packages and the upstream clones
    (the CRDs' untyped nodes and each kind's scope come from them) gives the same bytes."""
    import sys

    r = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "scripts" / "build_schema_bundle.py"),
                        "--check", "--mirror", str(MIRROR)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bundle is up to date" in r.stdout
