"""The Renovate customManager documented in docs/renovate.md finds and bumps every version pin in the configs.

Renovate's regex manager: named groups datasource, depName, registryUrl and currentValue, one dependency per match
of each matchStrings entry (renovatebot/renovate@main:lib/modules/manager/custom/regex/readme.md). Renovate compiles
the patterns as JavaScript regular expressions; Python spells a named group (?P<name>...), nothing else differs in
the patterns we document.
"""

from __future__ import annotations

import json
import re
import shutil

from cli_util import EXAMPLES, REPO, run_cli


def _renovate_config() -> dict:
    text = (REPO / "docs/renovate.md").read_text()
    block = re.search(r"```json\n(.*?)```", text, re.S)
    assert block, "docs/renovate.md has no ```json block"
    return json.loads(block.group(1))


def _matchers():
    manager = _renovate_config()["customManagers"][0]
    assert manager["customType"] == "regex"
    files = [re.compile(p.strip("/")) for p in manager["managerFilePatterns"]]
    strings = [re.compile(s.replace("(?<", "(?P<")) for s in manager["matchStrings"]]
    return files, strings


def _deps(text: str) -> list[dict[str, str]]:
    _, strings = _matchers()
    return [{k: v for k, v in m.groupdict().items() if v} | {"span": m.span("currentValue")}
            for pattern in strings for m in pattern.finditer(text)]


def test_manager_matches_the_config_files_only():
    files, _ = _matchers()
    for path in ("velero-gitops.yaml", "clusters/home-lab/velero-gitops.yaml", "velero-gitops.yml"):
        assert any(f.search(path) for f in files), path
    for path in ("kubernetes/apps/velero/velero/app/helmrelease.yaml", "my-velero-gitops.yaml.bak"):
        assert not any(f.search(path) for f in files), path


def test_every_pin_of_the_home_lab_config_is_found():
    from velero_gitops.config.loader import load

    cfg = REPO / "clusters/home-lab/velero-gitops.yaml"
    velero = load(cfg).config.velero
    deps = {d["depName"]: d for d in _deps(cfg.read_text())}
    assert deps["velero"] == {**deps["velero"], "datasource": "helm", "currentValue": velero.chart_version,
                              "registryUrl": "https://vmware-tanzu.github.io/helm-charts"}
    assert deps["velero/velero"]["currentValue"] == velero.image_tag
    plugin = deps["velero/velero-plugin-for-aws"]
    assert velero.aws_plugin_image.endswith(":" + plugin["currentValue"]) and plugin["datasource"] == "docker"


def test_every_example_has_its_chart_pin_annotated():
    for example in EXAMPLES:
        deps = _deps((example / "velero-gitops.yaml").read_text())
        assert any(d["depName"].endswith("velero") and re.fullmatch(r"\d+\.\d+\.\d+", d["currentValue"])
                   for d in deps), example


def test_a_renovate_style_bump_ends_in_a_clean_check(tmp_path):
    """Replace currentValue as Renovate does, render, and check passes; the rendered HelmRelease follows."""
    work = tmp_path / "repo"
    shutil.copytree(REPO / "clusters/home-lab", work)
    cfg = work / "velero-gitops.yaml"
    text = cfg.read_text()
    chart = next(d for d in _deps(text) if d["depName"] == "velero")
    start, end = chart["span"]
    cfg.write_text(text[:start] + "12.0.3" + text[end:])
    env = {"VELERO_GITOPS_NO_CACHE": "1"}
    drift = run_cli("check", "--config", str(cfg), cwd=work, env=env)
    assert drift.code == 1, drift.out + drift.err
    rendered = run_cli("render", str(cfg), cwd=work, env=env)
    assert rendered.code == 0, rendered.err
    assert "version: 12.0.3" in next(work.rglob("helmrelease.yaml")).read_text()
    clean = run_cli("check", "--config", str(cfg), cwd=work, env=env)
    assert clean.code == 0, clean.out + clean.err


def test_init_writes_pins_the_manager_finds(tmp_path):
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--no-interactive", cwd=tmp_path)
    assert r.code == 0, r.err
    deps = {d["depName"]: d["currentValue"] for d in _deps((tmp_path / "velero-gitops.yaml").read_text())}
    from velero_gitops.config.model import VeleroConfig

    velero = VeleroConfig()
    assert deps == {"velero": velero.chart_version,
                    "velero/velero-plugin-for-aws": velero.aws_plugin_image.rsplit(":", 1)[1]}
