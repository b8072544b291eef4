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
import subprocess

import pytest

from cli_util import EXAMPLES, REPO, need, run_cli


def _renovate_config() -> dict:
    text = (REPO / "docs/renovate.md").read_text()
    block = re.search(r"```json\n(.*?)```", text, re.S)
    assert block, "docs/renovate.md has no ```json block"
    return json.loads(block.group(1))


def _matchers():
    manager = _renovate_config()["customManagers"][0]
    assert manager["customType"] == "regex"
    files = [re.compile(p) for p in manager["fileMatch"]]
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
    assert deps == {"velero": velero.chart_version, "velero/velero": f"v{velero.velero_version}",
                    "velero/velero-plugin-for-aws": velero.aws_plugin_image.rsplit(":", 1)[1]}


# Renovate's regex manager, as node runs it: the file pattern with regEx(fileMatch).test(path), each matchString
# with the global flag over the whole file, one dependency per match from its named groups
# (renovatebot/renovate@41.0.0:lib/modules/manager/custom/regex/index.ts extractPackageFile, utils.ts).
NODE_EXTRACT = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.files.map(([path, text]) => {
  if (!input.fileMatch.some((p) => new RegExp(p).test(path))) return null;
  return input.matchStrings.flatMap((s) => [...text.matchAll(new RegExp(s, 'g'))].map((m) =>
    Object.fromEntries(Object.entries(m.groups).filter(([, v]) => v !== undefined))));
});
process.stdout.write(JSON.stringify(out));
"""


def _node_extract(files: list[tuple[str, str]]) -> list[list[dict[str, str]] | None]:
    node = shutil.which("node")
    need(node, "node (Renovate's regular expressions are JavaScript's)")
    manager = _renovate_config()["customManagers"][0]
    payload = {"fileMatch": manager["fileMatch"], "matchStrings": manager["matchStrings"], "files": files}
    r = subprocess.run([node, "-e", NODE_EXTRACT], input=json.dumps(payload), capture_output=True, text=True,
                       timeout=60, check=True)
    return json.loads(r.stdout)


DIGEST = "sha256:" + "ab" * 32
PIN = "# renovate: datasource=docker depName=velero/velero-plugin-for-aws\n  awsPluginImage: {value}\n"


@pytest.mark.parametrize("value,current,digest", [
    ("velero/velero-plugin-for-aws:v1.14.3", "v1.14.3", None),
    ("registry.lan:5000/velero/velero-plugin-for-aws:v1.14.3", "v1.14.3", None),
    (f"registry.lan:5000/velero/velero-plugin-for-aws:v1.14.3@{DIGEST}", "v1.14.3", DIGEST),
    ("'velero/velero-plugin-for-aws:v1.14.3'", "v1.14.3", None),
    ('"velero/velero-plugin-for-aws:v1.14.3"', "v1.14.3", None),
    ("v1.14.3", "v1.14.3", None),
])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_renovate_reads_each_image_form_with_javascript_regexes(value, current, digest, eol):
    """The documented manager run by node: a registry with a port, a digest, quotes and CRLF line ends."""
    text = ("velero:" + eol + "  " + PIN.format(value=value)).replace("\n", eol)
    ((dep,),) = _node_extract([("clusters/lab/velero-gitops.yaml", text)])
    assert dep == {"datasource": "docker", "depName": "velero/velero-plugin-for-aws", "currentValue": current,
                   **({"currentDigest": digest} if digest else {})}


def test_renovate_in_node_finds_what_init_writes_and_nothing_in_rendered_files(tmp_path):
    """init's three pins, found by node in the file init writes (and the committed examples' pins); the manager
    does not read a rendered HelmRelease."""
    r = run_cli("init", "--s3-endpoint", "https://s3.example.org", "--no-interactive", cwd=tmp_path)
    assert r.code == 0, r.err
    text = (tmp_path / "velero-gitops.yaml").read_text()
    from velero_gitops.config.model import VeleroConfig

    velero = VeleroConfig()
    examples = [(f"clusters/{e.name}/velero-gitops.yaml", (e / "velero-gitops.yaml").read_text()) for e in EXAMPLES]
    found, *per_example, rendered = _node_extract(
        [("velero-gitops.yaml", text), *examples,
         ("kubernetes/apps/velero/velero/app/helmrelease.yaml", PIN.format(value="velero/velero-plugin-for-aws:v1"))])
    assert {d["depName"]: d["currentValue"] for d in found} == {
        "velero": velero.chart_version, "velero/velero": f"v{velero.velero_version}",
        "velero/velero-plugin-for-aws": velero.aws_plugin_image.rsplit(":", 1)[1]}
    assert rendered is None
    for (name, example_text), deps in zip(examples, per_example):
        python = [{k: v for k, v in d.items() if k != "span"} for d in _deps(example_text)]
        assert deps == python and deps, name  # python's reading of the same pattern agrees
