"""The config reference, generated from the pydantic model so it cannot drift from the code."""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from velero_gitops import goregexp

INTRO = """\
# Config reference

Generated from `src/velero_gitops/config/model.py` by `velero-gitops config-reference`; a test keeps this
file in sync. Keys are camelCase. Unknown keys are errors (with a "did you mean"). Paths are relative
to the config file. Durations are Go durations (`720h`, `1h30m`, `15m`); there is no `d` unit.
"""


def markdown() -> str:
    from velero_gitops.config.model import Config

    lines = [INTRO]
    _section(Config, "", lines, seen=set())
    _rules(lines)
    return "\n".join(lines).rstrip("\n") + "\n"


_CITATION = goregexp.linear(r"[\w.-]+/[\w.-]+@[\w.-]+:[\w./-]+(?: ?\([^)]*\))?")


def _rules(lines: list[str]) -> None:
    """The rules enforced at load time, with the upstream behaviour each protects: read from the rule modules
    (config/semantics.py RULES, and the docstrings of config/names.py), so this list has one source."""
    import inspect

    from velero_gitops.config import names, semantics

    lines.append("\n## Rules enforced when the config is loaded\n")
    lines.append("What Velero, Kubernetes, Flux, git and S3 would refuse or silently ignore at run time is refused "
                 "(exit 2) when the config is loaded, located at the offending key.\n")
    lines.append("### Across fields (`config/semantics.py`)\n")
    lines.append("| rule | refuses | protects (upstream) |")
    lines.append("|---|---|---|")
    for r in semantics.RULES:
        lines.append(f"| `{r.id}` | {r.summary.replace('|', '/')} | {r.source.replace('|', '/')} |")
    doc = semantics.__doc__ or ""
    decided = doc[doc.find("Restore-point rules"):].strip()
    if decided:
        lines.append("\n" + decided + "\n")
    lines.append("### Field rules (`config/names.py`)\n")
    lines.append("| check | what it follows | source |")
    lines.append("|---|---|---|")
    for name, fn in inspect.getmembers(names, inspect.isfunction):
        text = " ".join((fn.__doc__ or "").split())
        cites = _CITATION.findall(text)
        if fn.__module__ == names.__name__ and cites:
            first = re.sub(r" ?\([^()]*@[^()]*(\([^()]*\)[^()]*)*\)", "", text.split(". ")[0])
            first = first.replace(", or None", "").rstrip(".").replace("``", "`").replace("|", "/")
            lines.append(f"| `{name}` | {first} | {'; '.join(c.replace('|', '/') for c in cites)} |")


def _section(model: type[BaseModel], prefix: str, lines: list[str], seen: set[str]) -> None:
    title = prefix or "(top level)"
    lines.append(f"\n## `{title}`\n")
    if model.__doc__ and model.__doc__.strip() and prefix:
        lines.append(model.__doc__.strip().splitlines()[0] + "\n")
    lines.append("| key | type | default | description |")
    lines.append("|---|---|---|---|")
    nested: list[tuple[type[BaseModel], str]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}.{key}" if prefix else key
        sub = _submodel(field.annotation)
        if field.is_required():
            default = "**required**"
        elif field.default_factory is not None and sub is not None and not _is_list(field.annotation):
            default = "see below"
        else:
            default = f"`{_show_default(field)}`"
        lines.append(f"| `{key}` | {_type_name(field.annotation)} | {default} | {(field.description or '').replace('|', '/')} |")
        if sub is not None and path not in seen:
            seen.add(path)
            nested.append((sub, path + ("[]" if _is_list(field.annotation) else "")))
    for sub, path in nested:
        _section(sub, path, lines, seen)


def _show_default(field: Any) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True, exclude_none=True)
    return json.dumps(value)


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " / ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" (optional)" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return "map of string"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return {str: "string", bool: "boolean", int: "integer", float: "number"}.get(annotation, str(annotation))


SCHEMA_ID = "https://github.com/velero-gitops/velero-gitops/raw/main/docs/config.schema.json"


def json_schema() -> str:
    """The config's JSON Schema (draft 2020-12), for editor completion through yaml-language-server.

    Generated from the same model as the reference; the model's own checks (cron, paths, versions) go further
    than a schema can, so an editor that is happy can still be told off by `render`.
    """
    from velero_gitops.config.model import Config

    schema = Config.model_json_schema(by_alias=True, mode="validation")
    head = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "velero-gitops config", "description": "One cluster's velero-gitops.yaml (docs/config-reference.md)."}
    return json.dumps({**head, **{k: v for k, v in schema.items() if k != "title"}}, indent=2, sort_keys=False) + "\n"
