"""Finding the JSON schema of an object: the offline bundle, kubeconform-style locations, the cache.

Locations follow kubeconform's ``-schema-location``:

* ``default``: the offline bundle shipped in this package (Kubernetes core kinds and the CRDs of
  Flux, Velero and prometheus-operator; see ``bundle/provenance.json``). kubeconform's ``default``
  is a download location; ours works with no network.
* a directory: tried with kubeconform's layout ``<dir>/<k8s-version>-standalone[-strict]/<kind>-<group>-<version>.json``,
  the flat ``<dir>/<kind>-<group>-<version>.json`` and the CRDs-catalog layout ``<dir>/<group>/<kind>_<version>.json``.
* a template (a URL or a path) with ``{{.Group}}``, ``{{.ResourceKind}}``, ``{{.ResourceAPIVersion}}``,
  ``{{.NormalizedKubernetesVersion}}``, ``{{.StrictSuffix}}``, ``{{.KindSuffix}}``. Downloaded schemas
  are kept in the cache directory (one file per URL) and read from there on later runs.

Schemas imported with ``velero-gitops schemas import`` land in ``<cache>/imported/<group>/<kind>_<version>.json``
and are preferred over every location.

Strict mode closes every object that declares ``properties`` (``additionalProperties: false``)
unless it keeps unknown fields (``x-kubernetes-preserve-unknown-fields``) or already says what
extra properties may be.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from velero_gitops.boundary import realpath
from velero_gitops.config.names import type_name_problem
from velero_gitops.errors import UsageError
from velero_gitops.findings import Finding
from velero_gitops.validate.yamlload import YAMLError, load_all

if TYPE_CHECKING:  # types only: jsonschema-rs is imported when a schema is compiled
    from jsonschema_rs import ValidationError, Validator

    from velero_gitops.validate.documents import Obj, YamlMap

BUNDLE_DIR = Path(__file__).with_name("bundle")


@functools.cache
def provenance() -> dict[str, Any]:
    """The bundle's provenance.json (package data, read once per process)."""
    data = json.loads((BUNDLE_DIR / "provenance.json").read_text())
    return data if isinstance(data, dict) else {}
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "velero-gitops" / "schemas"
MAX_SCHEMA_BYTES = 16 * 1024 * 1024  # the largest bundled CRD schema is a few MiB
MAX_SCHEMA_DEPTH = 200  # bundled schemas nest well under 50 levels
_TEMPLATE_VAR = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
# A JSON schema as read from its file: a JSON object of any content.
Schema = dict[str, Any]


class SchemaError(Exception):
    """A schema was found but could not be read or compiled."""


def split_api_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def kind_suffix(api_version: str) -> str:
    group, version = split_api_version(api_version)
    if group:
        return f"-{group.split('.')[0].lower()}-{version.lower()}"
    return f"-{version.lower()}"


def expand_template(tpl: str, kind: str, api_version: str, k8s_version: str, strict: bool) -> str:
    group, version = split_api_version(api_version)
    normalized = k8s_version if k8s_version == "master" else "v" + k8s_version.lstrip("v")
    values = {
        "NormalizedKubernetesVersion": normalized,
        "StrictSuffix": "-strict" if strict else "",
        "ResourceKind": kind.lower(),
        "ResourceAPIVersion": version,
        "Group": group or version,  # kubeconform: the part before "/" (the version itself for core kinds)
        "KindSuffix": kind_suffix(api_version),
    }

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise UsageError(f"--schema-location {tpl!r}: unknown template variable {{{{.{name}}}}}")
        return values[name]

    return _TEMPLATE_VAR.sub(sub, tpl)


def strictify(node: Any) -> Any:
    """Close objects that declare properties (kubeconform's openapi2jsonschema ``additional_properties``)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ("properties", "patternProperties", "definitions", "$defs"):
                out[k] = {pk: strictify(pv) for pk, pv in v.items()} if isinstance(v, dict) else v
            else:
                out[k] = strictify(v)
        if (
            "properties" in out
            and "additionalProperties" not in out
            and "patternProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strictify(v) for v in node]
    return node


def loosen(node: Any) -> Any:
    """Undo closing, for --no-strict with locations that only serve strict schemas."""
    if isinstance(node, dict):
        out = {k: loosen(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)}
        return out
    if isinstance(node, list):
        return [loosen(v) for v in node]
    return node


def bundled(api_version: str, kind: str, index: dict[str, str] | None = None) -> Schema | None:
    """The offline bundle's schema of a kind (a fresh copy), None when the bundle has none."""
    if index is None:
        index = json.loads((BUNDLE_DIR / "index.json").read_text())
    name = index.get(f"{api_version}/{kind}")
    if name is None:
        return None
    return json.loads(gzip.decompress((BUNDLE_DIR / "schemas" / (name + ".gz")).read_bytes()))


class SchemaStore:
    def __init__(
        self,
        locations: list[str] | None = None,
        *,
        cache_dir: str | Path | None = None,
        k8s_version: str = "",
        strict: bool = True,
        timeout: float = 30.0,
        root: str | Path | None = None,
    ) -> None:
        self.locations = list(locations) if locations else ["default"]
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else DEFAULT_CACHE
        self.strict = strict
        self.timeout = timeout
        self._bundle_index: dict[str, str] | None = None
        self.k8s_version = k8s_version or self.bundle_k8s_version()
        self._validators: dict[tuple[str, str], _FluxAware | None] = {}
        # the repository boundary: a schema file under it is repository content (a pull request's), read
        # confined to it (no symlink out) and within the caps
        self.root = Path(realpath(root)) if root else None

    def identity(self) -> str | None:
        """What decides a validator besides our code (whose digest covers the bundle): the version, strictness and
        the CRDs imported into the cache (name, size, time). None when a location is a folder, file or URL of the
        user's, whose content may change between runs unseen."""
        if any(loc != "default" for loc in self.locations):
            return None
        imported: list[tuple[str, int, int]] = []
        for dirpath, dirnames, filenames in os.walk(self.cache_dir / "imported"):
            dirnames.sort()
            for name in sorted(filenames):
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except OSError:
                    continue
                imported.append((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
        return json.dumps([self.k8s_version, self.strict, imported])

    # -- bundle -------------------------------------------------------------------------------------
    def bundle_index(self) -> dict[str, str]:
        if self._bundle_index is None:
            self._bundle_index = json.loads((BUNDLE_DIR / "index.json").read_text())
        return self._bundle_index

    @staticmethod
    def bundle_k8s_version() -> str:
        return str(provenance()["kubernetes_version"])

    def _from_bundle(self, api_version: str, kind: str) -> Schema | None:
        return bundled(api_version, kind, self.bundle_index())

    # -- locations ----------------------------------------------------------------------------------
    def _imported_path(self, api_version: str, kind: str) -> Path:
        group, version = split_api_version(api_version)
        return self.cache_dir / "imported" / (group or "core") / f"{kind.lower()}_{version}.json"

    def _from_location(self, loc: str, api_version: str, kind: str) -> Schema | None:
        if loc == "default":
            return self._from_bundle(api_version, kind)
        if "{{" not in loc and not loc.endswith(".json") and "://" not in loc:
            d = Path(loc).expanduser()
            if not d.is_dir():
                raise UsageError(f"--schema-location {loc!r}: not a directory and not a template")
            group, version = split_api_version(api_version)
            suffix = kind_suffix(api_version)
            normalized = "master" if self.k8s_version == "master" else "v" + self.k8s_version.lstrip("v")
            strict_suffix = "-strict" if self.strict else ""
            candidates = [
                d / f"{normalized}-standalone{strict_suffix}" / f"{kind.lower()}{suffix}.json",
                d / f"{kind.lower()}{suffix}.json",
                d / (group or "core") / f"{kind.lower()}_{version}.json",
            ]
            for c in candidates:
                schema = self._lookup(c, d)
                if schema is not None:
                    return schema
            return None
        target = expand_template(loc, kind, api_version, self.k8s_version, self.strict)
        if "://" in target and not target.startswith("file://"):
            return self._download(target)
        # a template's own root: the folder its fixed part names (what precedes the first variable)
        fixed = loc.removeprefix("file://").split("{{", 1)[0]
        base = Path(os.path.dirname(fixed) if "{{" in loc else os.path.dirname(fixed) or ".").expanduser()
        return self._lookup(Path(target.removeprefix("file://")).expanduser(), base)

    def _lookup(self, path: Path, base: Path) -> Schema | None:
        """The schema at ``path``, a path built from a location ``base`` and an object's names, or None when there
        is none. The one boundary of every lookup: the path must stay under its location's root (the repository
        when the location is repository content, else the location's own folder); a name the file system refuses
        (too long) is no schema."""
        lexical = os.path.normpath(os.path.abspath(path))
        base_abs = os.path.normpath(os.path.abspath(base))
        if not (lexical == base_abs or lexical.startswith(base_abs.rstrip(os.sep) + os.sep)):
            raise SchemaError(f"schema path {path} leaves its location {base}; not read")
        try:
            if not os.path.isfile(lexical):
                return None
        except (OSError, ValueError):
            return None
        root = Path(base_abs)
        if self.root is not None:
            real_base = Path(realpath(base_abs))
            if real_base == self.root or self.root in real_base.parents:
                root = self.root
        return self._read_json(Path(lexical), root)

    def _read_json(self, path: Path, root: Path) -> Schema:
        """A schema file inside ``root`` (no symlink out), at most MAX_SCHEMA_BYTES and MAX_SCHEMA_DEPTH deep."""
        from velero_gitops import safefile

        try:
            body = safefile.read_bytes(path, root=root, limit=MAX_SCHEMA_BYTES, shown=str(path))
            data = json.loads(body)
        except safefile.FileRefused as exc:
            raise SchemaError(f"schema {path} not read: {exc.problem}") from None
        except RecursionError:
            raise SchemaError(f"schema {path} is nested too deep (more than {MAX_SCHEMA_DEPTH} levels)") from None
        except (OSError, ValueError) as exc:
            raise SchemaError(f"cannot read schema {path}: {exc}") from None
        if _depth(data) > MAX_SCHEMA_DEPTH:
            raise SchemaError(f"schema {path} is nested too deep (more than {MAX_SCHEMA_DEPTH} levels)")
        return data

    def _download(self, url: str) -> Schema | None:
        key = hashlib.sha256(url.encode()).hexdigest()
        cached = self.cache_dir / "downloads" / (key + ".json")
        missing = self.cache_dir / "downloads" / (key + ".404")
        if cached.is_file():
            return self._read_json(cached, self.cache_dir / "downloads")
        if missing.is_file():
            return None
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:  # noqa: S310 (user-given URL)
                body = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                missing.parent.mkdir(parents=True, exist_ok=True)
                missing.write_text(url + "\n")
                return None
            raise SchemaError(f"cannot download schema {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SchemaError(f"cannot download schema {url}: {getattr(exc, 'reason', exc)}") from None
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise SchemaError(f"schema at {url} is not JSON: {exc}") from None
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(body)
        os.replace(tmp, cached)
        return data

    def find(self, api_version: str, kind: str) -> Schema | None:
        if type_name_problem(api_version, kind) is not None:
            return None  # no Kubernetes type has this name: never a file path
        imported = self._lookup(self._imported_path(api_version, kind), self.cache_dir / "imported")
        if imported is not None:
            return imported
        for loc in self.locations:
            schema = self._from_location(loc, api_version, kind)
            if schema is not None:
                return schema
        return None

    def validator(self, api_version: str, kind: str) -> _FluxAware | None:
        """A compiled validator for the kind, None when no location has its schema."""
        key = (api_version, kind)
        if key in self._validators:
            return self._validators[key]
        schema = self.find(api_version, kind)
        compiled = None
        if schema is not None:
            import jsonschema_rs

            schema = strictify(schema) if self.strict else loosen(schema)
            if api_version.startswith("notification.toolkit.fluxcd.io/") and kind in ("Alert", "Receiver"):
                schema = _widen_flux_kinds(schema)
            outside = _outside_ref(schema)
            if outside is not None:
                _no_retrieval(outside)
            try:
                compiled = _FluxAware(jsonschema_rs.validator_for(schema, retriever=_no_retrieval))
            except Exception as exc:  # noqa: BLE001 - any compile error is a schema problem
                raise SchemaError(f"schema for {api_version}/{kind} does not compile: {exc}") from None
        self._validators[key] = compiled
        return compiled

    def coverage(self) -> str:
        """What the offline bundle holds, for messages about a kind it does not have."""
        try:
            data = provenance()
        except (OSError, ValueError):
            return "the offline bundle"
        parts = [f"{s['package']} {s['version']}" for s in data.get("sources", []) if isinstance(s, dict)]
        return (f"the offline bundle (Kubernetes {data.get('kubernetes_version', '?')} core kinds; CRDs from "
                f"{', '.join(parts[1:]) or 'none'})")

    def missing_message(self, api_version: str, kind: str) -> str:
        """Why no schema was found, saying what the bundle covers (a newer Kubernetes API, a foreign CRD)."""
        problem = type_name_problem(api_version, kind)
        if problem is not None:
            return f"no schema for {api_version[:100]!r}/{kind[:100]!r}: {problem}; fix apiVersion/kind"
        group = split_api_version(api_version)[0]
        known = sorted(k.rsplit("/", 1)[0] for k in self.bundle_index() if k.endswith("/" + kind)
                       and split_api_version(k.rsplit("/", 1)[0])[0] == group)
        # "default" is the offline bundle's location name (kubeconform's), not a namespace: say so
        where = "schema location " + ", ".join(repr(loc) for loc in self.locations)
        if known:
            why = f"{self.coverage()} has {kind} only as {', '.join(known)}"
        elif not group or group in {split_api_version(k.rsplit("/", 1)[0])[0] for k in self.bundle_index()}:
            # a group the bundle serves (core, apps, networking.k8s.io...): a kind of a newer Kubernetes release;
            # any other group, *.k8s.io included (gateway.networking.k8s.io), is served by a CRD
            why = f"not a kind of {self.coverage()} (a newer Kubernetes API?)"
        else:
            why = f"a CRD outside {self.coverage()}"
        return f"no schema found for {api_version}/{kind} in {where}: {why} ({MISSING_HINT})"


MISSING_HINT = "add --schema-location, `velero-gitops schemas import CRD.yaml`, or --ignore-missing-schemas"

# flux-operator adds its kinds to the Alert eventSources and Receiver resources enums of the Flux CRDs it
# installs (controlplaneio-fluxcd/flux-operator@v0.58.1:internal/builder/templates.go); most Flux repositories
# today run that distribution, and the kinds exist nowhere else.
FLUX_OPERATOR_KINDS = ("FluxInstance", "ResourceSet", "ResourceSetInputProvider")


def _no_retrieval(uri: str) -> NoReturn:
    """Every ``$ref`` outside the schema itself is refused: no download, no file read (a schema from a pull
    request could name ``http://...`` or ``file:///...``); the bundle's schemas are self-contained."""
    raise SchemaError(f"$ref to {uri[:200]!r} refused: schemas are read offline and must be self-contained")


def _outside_ref(node: Any) -> str | None:
    """The first ``$ref`` that names anything but a place in this schema (``#...``)."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return ref
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return None


def _depth(node: Any) -> int:
    """Nesting depth of a decoded JSON value, without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        cur, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_SCHEMA_DEPTH:
            return d
        if isinstance(cur, dict):
            stack.extend((v, d + 1) for v in cur.values())
        elif isinstance(cur, list):
            stack.extend((v, d + 1) for v in cur)
    return deepest


def _widen_flux_kinds(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _widen_flux_kinds(v) for k, v in node.items()}
        enum = out.get("enum")
        if isinstance(enum, list) and "Kustomization" in enum and "GitRepository" in enum:
            out["enum"] = enum + [k for k in FLUX_OPERATOR_KINDS if k not in enum]
        return out
    if isinstance(node, list):
        return [_widen_flux_kinds(v) for v in node]
    return node


_FLUX_VAR = re.compile(r"(?<!\$)\$\{[^{}]+\}")


class _FluxAware:
    """A compiled validator that leaves out errors on values Flux postBuild substitution decides later
    (``${VAR}`` still in the value once the known variables were substituted: its type is not known yet)."""

    __slots__ = ("_v",)

    def __init__(self, compiled: Validator) -> None:
        self._v = compiled

    def is_valid(self, data: object) -> bool:
        return self._v.is_valid(data) or next(self.iter_errors(data), None) is None

    def iter_errors(self, data: object) -> Iterator[ValidationError]:
        for err in self._v.iter_errors(data):
            inst = err.instance
            if isinstance(inst, str) and _FLUX_VAR.search(inst):
                continue
            yield err


# --------------------------------------------------------------------------------------------------
# Schema errors as findings


def _pointer(path: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def schema_findings(obj: Obj, validator: _FluxAware, hidden: str | None = None) -> list[Finding]:
    """Findings for every error of ``validator`` on ``obj`` (an object with ``data``, ``kind`` and ``finding``).
    No value is shown for a Secret, nor where ``hidden`` says why (the object of a build that holds Secret data)."""
    from jsonschema_rs import ValidationErrorKind  # loaded already: the validator was compiled by it

    out: list[Finding] = []
    data = obj.data
    hidden = hidden or ("the object is a Secret" if obj.kind == "Secret" else None)
    for err in validator.iter_errors(data):
        ptr = _pointer(err.instance_path)
        kind = type(err.kind).__name__
        if isinstance(err.kind, ValidationErrorKind.AdditionalProperties):
            for key in err.kind.unexpected:
                p = ptr + "/" + str(key).replace("~", "~0").replace("/", "~1")
                out.append(obj.finding(p, "additional property not allowed", "schema"))
            continue
        if isinstance(err.kind, ValidationErrorKind.Required):
            prop = err.kind.property
            out.append(obj.finding(ptr, f"missing required property {prop!r}" if not isinstance(prop, str) else f"missing required property '{prop}'", "schema"))
            continue
        out.append(obj.finding(ptr, _message(err, kind, hidden), "schema"))
    return out


def _message(err: ValidationError, kind: str, hidden: str | None = None) -> str:
    """A schema error in words; values are truncated, and never shown where ``hidden`` says why."""
    inst = err.instance
    _short = _redacted if hidden else _short_value
    if kind == "Type":
        types = err.kind.types if hasattr(err.kind, "types") else None
        want = "/".join(str(t) for t in types) if types else "another type"
        want = want.replace("/null", "").replace("null/", "")
        return f"expected {want}, got {_type_name(inst)}" + ("" if inst is None else f" {_short(inst)}")
    if kind == "Enum":
        opts = [o for o in (err.kind.options if hasattr(err.kind, "options") else []) if o is not None]
        return f"{_short(inst)} is not one of {', '.join(repr(o) for o in opts)}" if opts else err.message
    if kind in ("OneOf", "OneOfNotValid", "AnyOf"):
        return f"{_short(inst)} does not match any allowed form"
    if hidden:
        return f"{kind} error (value not shown: {hidden})"
    return _short_value(err.message, 200)


def _type_name(v: object) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null",
            list: "array", dict: "object"}.get(type(v), "object" if isinstance(v, dict) else "array" if isinstance(v, list) else type(v).__name__)


def _short_value(v: object, n: int = 60) -> str:
    if isinstance(v, (dict, list)):
        return "{...}" if isinstance(v, dict) else "[...]"
    r = v if n > 60 and isinstance(v, str) else repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


def _redacted(v: object) -> str:
    return "{...}" if isinstance(v, dict) else "[...]" if isinstance(v, list) else f"<{_type_name(v)} value not shown>"


# ------------------------------------------------------------------------------------------------
# CRD import: openapiV3Schema -> JSON schema, the way kubeconform's openapi2jsonschema.py does it.


def accepts_any_value(node: Any) -> bool:
    """A CRD schema node that keeps unknown fields and names no type: the structural-schema rules exempt it from
    needing one (kubernetes/apiextensions-apiserver@v0.31.0:pkg/apiserver/schema/validation.go ValidateStructural),
    so the API server admits any JSON value there (helm-controller's HelmRelease spec.values is such a node). The
    import keeps such a node untyped; the bundle builder drops the type its model source gives it."""
    return isinstance(node, dict) and node.get("x-kubernetes-preserve-unknown-fields") is True and "type" not in node


def _convert_openapi(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert_openapi(v) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("x-kubernetes-int-or-string") or node.get("format") == "int-or-string":
        out: dict = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
        if node.get("nullable"):
            out["oneOf"].append({"type": "null"})
        return out
    out = {}
    for k, v in node.items():
        if k in ("description", "nullable"):
            continue
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {pk: _convert_openapi(pv) for pk, pv in v.items()}
        else:
            out[k] = _convert_openapi(v)
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    # no type is added to a node without one (accepts_any_value)
    return out


def crd_to_schemas(crd: YamlMap) -> list[tuple[str, str, Schema]]:
    """(apiVersion, kind, schema) for every served version of a CustomResourceDefinition."""
    spec = crd.get("spec") or {}
    group = spec.get("group")
    kind = (spec.get("names") or {}).get("kind")
    if not group or not kind:
        raise UsageError("not a CustomResourceDefinition (spec.group / spec.names.kind missing)")
    out = []
    for ver in spec.get("versions") or []:
        schema = ((ver.get("schema") or {}).get("openAPIV3Schema")) or spec.get("validation", {}).get("openAPIV3Schema")
        if not schema:
            continue
        converted = _convert_openapi(schema)
        props = converted.setdefault("properties", {})
        api_version = f"{group}/{ver['name']}"
        props["apiVersion"] = {"type": "string", "enum": [api_version]}
        props["kind"] = {"type": "string", "enum": [kind]}
        props.setdefault("metadata", {"type": "object"})
        converted["required"] = sorted(set(converted.get("required", [])) | {"apiVersion", "kind"})
        out.append((api_version, kind, converted))
    return out


def import_crds(paths: list[str], cache_dir: str | Path | None = None) -> list[Path]:
    """Convert CRD files (multi-document YAML) into ``<cache>/imported``; returns the written files."""
    store = SchemaStore(cache_dir=cache_dir)
    written: list[Path] = []
    for p in paths:
        try:
            text = Path(p).read_text()
        except OSError as exc:
            raise UsageError(f"{p}: {exc.strerror}") from None
        try:
            docs = load_all(text)
        except YAMLError as exc:
            raise UsageError(f"{p}:{exc.line}: {exc.message}") from None
        found = False
        for doc in docs:
            data = doc.data
            if not isinstance(data, dict) or data.get("kind") != "CustomResourceDefinition":
                continue
            found = True
            for api_version, kind, schema in crd_to_schemas(data):
                problem = type_name_problem(api_version, kind)
                if problem is not None:  # the cache path is built from these names: only a type's names build it
                    raise UsageError(f"{p}: {api_version[:100]!r}/{kind[:100]!r}: {problem}")
                target = store._imported_path(api_version, kind)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                written.append(target)
        if not found:
            raise UsageError(f"{p}: no CustomResourceDefinition in this file")
    return written
