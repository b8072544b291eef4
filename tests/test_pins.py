"""A pin bumped by hand in a generated file (Renovate's flux manager does this): the hint names the config field."""

from __future__ import annotations

import shutil

import pytest

from cli_util import EXAMPLES, run_cli


@pytest.mark.parametrize("example,old,new,field", [
    # a chart the compatibility table knows (config/compat.json): an unknown one is refused on its own
    ("home-lab", "      version: 12.1.0\n", "      version: 12.0.3\n", "velero.chartVersion: 12.0.3"),
    ("home-lab", "      tag: v1.18.2\n", "      tag: v1.18.3\n", "velero.imageTag: v1.18.3"),
    ("home-lab", "velero-plugin-for-aws:v1.14.3\n", "velero-plugin-for-aws:v1.14.4\n",
     "velero.awsPluginImage: velero/velero-plugin-for-aws:v1.14.4"),
])
def test_hand_bumped_pin_points_at_the_config(tmp_path, example, old, new, field):
    src = next(e for e in EXAMPLES if e.name == example)
    shutil.copytree(src, tmp_path / example)
    hr = next((tmp_path / example).rglob("helmrelease.yaml"))
    text = hr.read_text()
    assert text.count(old) == 1
    hr.write_text(text.replace(old, new))
    cfg = tmp_path / example / "velero-gitops.yaml"
    for args in (["render", str(cfg)], ["render", "--check", str(cfg)], ["check", str(cfg)]):
        r = run_cli(*args, cwd=tmp_path / example)
        assert r.code != 0, args
        assert f"set {field} in the config, then run velero-gitops render --force" in r.out + r.err, (args, r.out, r.err)
    # following the hint (the config field, then render --force) ends in a clean check
    key, value = field.split(": ")
    name = key.split(".")[1]
    lines = [f"  {name}: {value}" if ln.startswith(f"  {name}:") else ln for ln in cfg.read_text().splitlines()]
    cfg.write_text("\n".join(lines) + "\n")
    assert run_cli("render", "--force", str(cfg), cwd=tmp_path / example).code == 0
    assert new in hr.read_text()
    done = run_cli("check", str(cfg), cwd=tmp_path / example)
    assert done.code == 0, done.out + done.err

def test_edit_that_is_not_a_pin_gets_no_pin_hint(tmp_path):
    src = next(e for e in EXAMPLES if e.name == "home-lab")
    shutil.copytree(src, tmp_path / "x")
    hr = next((tmp_path / "x").rglob("helmrelease.yaml"))
    hr.write_text(hr.read_text().replace("    image:\n", "    # a note\n    image:\n", 1))
    r = run_cli("render", "--check", str(tmp_path / "x" / "velero-gitops.yaml"), cwd=tmp_path / "x")
    assert r.code == 1 and "hint:" not in r.err
