"""Unknown keys: another tool's name for a key of ours, and close spellings (config/renames.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from ruamel.yaml import YAML

from velero_gitops.config import compat, renames
from velero_gitops.config.loader import load
from velero_gitops.config.model import Config, VeleroConfig
from velero_gitops.errors import ConfigError

BASE: dict[str, Any] = {
    "cluster": "home-lab",
    "repo": {"appsRoot": "apps"},
    "s3": {"endpoint": "https://s3.example.org"},
    "schedules": [{"name": "daily", "cron": "0 2 * * *", "namespaces": ["default"]}],
}


def _problems(tmp_path, data: dict[str, Any]) -> list[str]:
    (tmp_path / "apps").mkdir(exist_ok=True)
    y = YAML(typ="safe", pure=True)
    with (tmp_path / "c.yaml").open("w") as f:
        y.dump(data, f)
    with pytest.raises(ConfigError) as exc:
        load(tmp_path / "c.yaml")
    return exc.value.problems


def _put(data: dict[str, Any], parent: tuple[str, ...], key: str, value: Any) -> str:
    """``data`` with ``key`` set in the mapping at ``parent`` (a list: its first item); the dotted path it gets."""
    node, dotted = data, ""
    for part in parent:
        node = node.setdefault(part, {})
        dotted += ("." if dotted else "") + part
        if isinstance(node, list):
            node, dotted = node[0], dotted + "[0]"
    node[key] = value
    return f"{dotted}.{key}" if dotted else key


def _value(r: renames.Rename) -> Any:
    return {} if r.ours == "velero.nodeAgent" else "x"


def _walk(model: Any, path: str) -> bool:
    for part in path.split("."):
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        if part.removesuffix("[]") not in fields:
            return False
        from velero_gitops.config.loader import _model_in

        model = _model_in(fields[part.removesuffix("[]")].annotation) or model
    return True


@pytest.mark.parametrize("r", renames.RENAMES, ids=lambda r: r.key)
def test_a_rename_names_a_key_of_ours_and_is_none_of_ours(r):
    assert _walk(Config, r.ours), r.ours
    here = renames._parent(r.ours)
    assert r.key not in {a for a in renames.names_at(here).values()}
    assert r.source.split("@")[0].count("/") == 1 and "@" in r.source and ":" in r.source


@pytest.mark.parametrize("r", renames.RENAMES, ids=lambda r: r.key)
def test_another_tools_key_where_ours_sits_gets_our_name(tmp_path, r):
    """`restic:` under velero (the chart's key before 3.0.0), `s3Url:` under s3 (the BSL config key): each is
    refused with our key to write, and whose name it was (leftfix8: no "did you mean" for either)."""
    data = {k: (dict(v) if isinstance(v, dict) else [dict(i) for i in v] if isinstance(v, list) else v)
            for k, v in BASE.items()}
    dotted = _put(data, renames._parent(r.ours), r.key, _value(r))
    line = next(p for p in _problems(tmp_path, data) if f" {dotted}: " in p)
    assert f"unknown key {r.key!r}; did you mean {r.ours.rsplit('.', 1)[-1]!r}? ({r.key!r} is {r.whose}" in line


@pytest.mark.parametrize("r", renames.RENAMES, ids=lambda r: r.key)
def test_another_tools_key_elsewhere_says_where_ours_is(tmp_path, r):
    data = {**BASE, r.key: _value(r)}
    line = next(p for p in _problems(tmp_path, data) if f" {r.key}: unknown key" in p)
    assert f"for {r.ours} here" in line and "move it there" in line


def test_a_close_spelling_is_suggested_for_any_unknown_key(tmp_path):
    data = {**BASE, "s3": {**BASE["s3"], "buckt": "b"}}
    assert any("s3.buckt: unknown key 'buckt'; did you mean 'bucket'?" in p for p in _problems(tmp_path, data))


def test_the_bsl_renames_are_the_keys_render_writes(tmp_path):
    """The AWS plugin's config keys (vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/
    object_store.go) are what render writes our s3 fields into: the table and the renderer agree."""
    from velero_gitops.render.plan import chart_values

    (tmp_path / "apps").mkdir()
    YAML(typ="safe", pure=True).dump(BASE, tmp_path / "c.yaml")
    loaded = dataclasses.replace(load(tmp_path / "c.yaml"), ca_bundle_b64="Y2E=")
    bsl = chart_values(loaded)["configuration"]["backupStorageLocation"][0]
    plugin = [r for r in renames.RENAMES if "velero-plugin-for-aws" in r.source]
    assert plugin
    for r in plugin:
        assert r.key in bsl or r.key in bsl["config"], r.key


def test_the_chart_renames_are_gone_from_the_pinned_chart():
    """The chart renamed restic to nodeAgent in 3.0.0 (vmware-tanzu/helm-charts@velero-3.0.0:charts/velero/
    templates/NOTES.txt): the chart the tool pins has the new names and none of the old."""
    keys = compat.chart(VeleroConfig().chart_version).value_keys

    def names(tree: Any) -> set[str]:
        return set(tree) | {k for v in tree.values() if isinstance(v, dict) for k in names(v)} if isinstance(tree, dict) else set()

    chart = [r for r in renames.RENAMES if "helm-charts@velero-3.0.0" in r.source]
    assert chart
    for r in chart:
        assert r.key not in names(keys) and r.ours.rsplit(".", 1)[-1] in names(keys), r.key
