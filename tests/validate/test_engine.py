"""The engine: YAML handling, lines, duplicate keys, stdin, SOPS, the fast and the libyaml paths, outputs."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from velero_gitops.validate import engine
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import run_cli

CM = """---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: apps
data:
  a: "1"
"""


def _opts(tmp_path, **kw):
    kw.setdefault("kustomize", "never")
    return Options(cache_dir=str(tmp_path / "cache"), **kw)


def _run(tmp_path, text, name="x.yaml", **kw):
    f = tmp_path / name
    f.write_text(text)
    return validate_paths([str(f)], _opts(tmp_path, **kw))


def test_clean_multi_document_file(tmp_path):
    res = _run(tmp_path, CM + CM.replace("settings", "other"))
    assert res.findings == [] and (res.passed, res.failed, res.skipped) == (2, 0, 0)


def test_unknown_field_line_in_a_later_document(tmp_path):
    text = CM + CM.replace("settings", "other").replace("  namespace: apps\n", "  namespace: apps\n  labelz:\n    a: b\n")
    res = _run(tmp_path, text)
    assert [(f.line, f.obj, f.pointer, f.message) for f in res.findings] == [
        (15, "ConfigMap/apps/other", "/metadata/labelz", "additional property not allowed")]
    assert (res.passed, res.failed) == (1, 1)


def test_yes_no_are_yaml_1_1_booleans(tmp_path):
    # `immutable: yes` is a boolean for Kubernetes (YAML 1.1): valid, although YAML 1.2 reads a string
    res = _run(tmp_path, CM + "immutable: yes\n")
    assert res.findings == []
    res = _run(tmp_path, CM + "immutable: 'yes'\n")
    assert [f.message for f in res.findings] == ["expected boolean, got string 'yes'"]
    assert res.findings[0].line == 9


def test_duplicate_keys_are_errors(tmp_path):
    res = _run(tmp_path, CM + "  a: \"2\"\n")
    assert [(f.line, f.pointer, f.rule) for f in res.findings] == [(9, "/data/a", "yaml.duplicate-key")]
    assert res.failed == 1


def test_parse_error_is_a_finding_with_line(tmp_path):
    res = _run(tmp_path, CM + "  b: [1, 2\n  c: 3\n")
    assert len(res.findings) == 1
    f = res.findings[0]
    assert f.rule == "yaml" and f.line in (9, 10) and "YAML parse error" in f.message
    assert res.failed == 1


def test_not_an_object(tmp_path):
    res = _run(tmp_path, "---\n- a\n- b\n---\nfoo: bar\n")
    msgs = sorted((f.line, f.message) for f in res.findings)
    assert msgs[0][1].startswith("document is not a mapping")
    assert "missing 'apiVersion'" in msgs[1][1]


def test_sops_block_is_removed_and_enc_values_are_fine(tmp_path):
    text = """apiVersion: v1
kind: Secret
metadata:
  name: s
  namespace: apps
stringData:
  cloud: ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi==,type:str]
sops:
  mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]
  lastmodified: "2026-01-01T00:00:00Z"
  age:
    - recipient: age1xyz
      enc: |
        -----BEGIN AGE ENCRYPTED FILE-----
        -----END AGE ENCRYPTED FILE-----
  version: 3.13.2
"""
    res = _run(tmp_path, text, name="secret.sops.yaml")
    assert res.findings == []
    # the same Secret without the sops block is a plaintext secret
    res = _run(tmp_path, text.split("sops:")[0], name="plain.yaml")
    assert [f.rule for f in res.findings] == ["secret.unencrypted"]


def test_skip_kinds(tmp_path):
    res = _run(tmp_path, CM + "bogus: 1\n", skip_kinds=["ConfigMap"])
    assert res.findings == [] and (res.passed, res.failed, res.skipped) == (0, 0, 1)


def test_directory_recursion_skips_hidden_and_kustomize_config(tmp_path):
    d = tmp_path / "tree"
    (d / "a" / "b").mkdir(parents=True)
    (d / ".git").mkdir()
    (d / ".git" / "x.yaml").write_text("not: a k8s object\n")
    (d / ".sops.yaml").write_text("creation_rules: []\n")
    (d / "a" / "b" / "cm.yml").write_text(CM)
    (d / "a" / "kustomization.yaml").write_text("resources: [./b/cm.yml]\n")
    (d / "a" / "README.md").write_text("# not yaml\n")
    res = validate_paths([str(d)], _opts(tmp_path))
    assert res.findings == [] and res.passed == 1


def test_stdin_via_cli(tmp_path):
    r = run_cli("validate", "-", "--cache", str(tmp_path), stdin=CM + "bogus: 1\n")
    assert r.code == 1
    assert r.out.splitlines() == ["-:9 ConfigMap/apps/settings /bogus: additional property not allowed", "1 error; objects: 0 passed, 1 failed"]


def test_exit_codes(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text(CM)
    assert run_cli("validate", str(f), "--cache", str(tmp_path)).code == 0
    r = run_cli("validate", str(tmp_path / "missing.yaml"))
    assert r.code == 2 and "no such file" in r.err
    r = run_cli("validate", str(f), "--output", "xml")
    assert r.code == 2


def test_output_formats(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text(CM + "bogus: 1\n")
    j = json.loads(run_cli("validate", str(f), "-o", "json", "--cache", str(tmp_path)).out)
    assert j["summary"] == {"passed": 0, "failed": 1, "skipped": 0, "errors": 1, "warnings": 0, "notes": 0}
    assert j["findings"][0]["pointer"] == "/bogus" and j["findings"][0]["line"] == 9
    gh = run_cli("validate", str(f), "-o", "github", "--cache", str(tmp_path)).out.splitlines()
    assert gh[0].startswith(f"::error file={engine.display_path(f)},line=9,title=schema::ConfigMap/apps/settings /bogus: additional property")
    assert gh[-1] == "1 error; objects: 0 passed, 1 failed"
    junit = run_cli("validate", str(f), "-o", "junit", "--cache", str(tmp_path)).out
    root = ET.fromstring(junit)
    assert root.find("testsuite").get("failures") == "1"
    assert root.find("testsuite/testcase/failure").get("message") == "additional property not allowed"


def test_wrong_type_and_missing_required(tmp_path):
    text = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  replicas: two
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - image: nginx
"""
    res = _run(tmp_path, text)
    got = sorted((f.line, f.pointer, f.message) for f in res.findings)
    assert got == [(7, "/spec/replicas", "expected integer, got string 'two'"),
                   (15, "/spec/template/spec/containers/0", "missing required property 'name'")]


@pytest.mark.parametrize("extra", ["", "immutable: yes\n"])  # "" = fast path; yes = the libyaml path
def test_lines_in_a_sops_file_on_both_paths(tmp_path, extra):
    text = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: apps\n  labelz: {}\n" + extra +
            "stringData:\n  k: ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]\n"
            "sops:\n  mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n  lastmodified: '2026-01-01T00:00:00Z'\n")
    res = _run(tmp_path, text, name="s.sops.yaml")
    assert [(f.line, f.pointer) for f in res.findings] == [(6, "/metadata/labelz")]


@pytest.mark.parametrize("extra", ["", "    x: yes\n"])
def test_kind_list_items_are_objects(tmp_path, extra):
    text = ("apiVersion: v1\nkind: List\nitems:\n"
            "  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: a, namespace: x}\n"
            "  - apiVersion: v1\n    kind: ServiceAccount\n    metadata:\n      name: velero\n      namespace: velero\n"
            "    automountServiceAccountTokn: true\n" + extra)
    res = _run(tmp_path, text)
    got = [(f.line, f.obj, f.pointer) for f in res.findings]
    assert got[0] == (12, "ServiceAccount/velero/velero", "/automountServiceAccountTokn")
    assert (res.passed, res.failed) == (1, 1)


FORGED_NAMES = [
    "a\n::error file=x.yaml::forged.yaml",
    "b\r\nno findings; objects: 99 passed, 0 failed.yaml",
    "c\x1b[2K\x1b[1Aclean.yaml",
    "d\u2028::warning::forged.yaml",
    "e\x85%0A::error::x.yaml",
]


@pytest.mark.parametrize("name", FORGED_NAMES)
@pytest.mark.parametrize("fmt", ["text", "github", "junit", "json"])
def test_file_names_cannot_forge_output_lines(tmp_path, name, fmt):
    """A file name with line breaks or terminal controls is escaped in every format: one finding, one line."""
    d = tmp_path / "t"
    d.mkdir()
    (d / name).write_text(CM + "bogus: 1\n")
    out = run_cli("validate", str(d), "-o", fmt, "--kustomize", "never").out
    if fmt == "json":
        doc = json.loads(out)
        assert [f["file"].endswith(name) for f in doc["findings"]] == [True]
        return
    if fmt == "junit":
        root = ET.fromstring(out)  # control characters would make it invalid XML
        assert len(root.iter("failure").__next__().text.splitlines()) == 1
    lines = out.splitlines()
    assert not any(ch in out for ch in "\x1b\x85\u2028\r")
    if fmt == "text":
        assert len(lines) == 2 and lines[1] == "1 error; objects: 0 passed, 1 failed"
    if fmt == "github":
        assert len(lines) == 2 and lines[0].startswith("::error file=") and lines[0].count("::") == 2


def test_summary_counts_what_is_printed(tmp_path):
    from velero_gitops.findings import Finding
    from velero_gitops.validate.report import render

    fs = [Finding("a.yaml", 1, "ConfigMap/x/a", "/b", "m", "schema"), Finding("a.yaml", 2, "ConfigMap/x/a", "/c", "m", "schema"),
          Finding("b.yaml", 1, None, "", "w", "flux.crd-order", "warning")]
    assert render(fs, 264, 1, 3).splitlines()[-1] == "2 errors, 1 warning; objects: 264 passed, 1 failed, 3 skipped"
    assert render([], 2, 0, 0) == "no findings; objects: 2 passed, 0 failed\n"


def test_non_objects_get_no_ident(tmp_path):
    res = _run(tmp_path, "metadata:\n  namespace: o11y\nspec: {}\n")
    assert [(f.obj, f.message) for f in res.findings] == [(None, "missing 'apiVersion': not a Kubernetes object")]


def test_secret_values_are_never_echoed(tmp_path):
    res = _run(tmp_path, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: a\ndata:\n  token: 4242424242\n"
               "type: [hunter2]\nimmutable: hunter3\n", policy=False)
    text = json.dumps([f.message for f in res.findings])
    assert len(res.findings) == 3 and not any(s in text for s in ("4242", "hunter2", "hunter3"))


def test_long_values_are_truncated(tmp_path):
    res = _run(tmp_path, CM + "immutable: '" + "x" * 5000 + "'\n")
    assert [len(f.message) < 120 for f in res.findings] == [True]


# --------------------------------------------------------------------------------------- property

OBJECTS = [
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: demo\n  labels: {app: x}\ndata:\n  a: b\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: demo\nspec:\n  replicas: 2\n"
    "  selector:\n    matchLabels: {app: d}\n  template:\n    metadata:\n      labels: {app: d}\n"
    "    spec:\n      containers:\n        - name: c\n          image: nginx:1.27\n          ports:\n"
    "            - containerPort: 80\n",
    "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: h\n  namespace: demo\nspec:\n"
    "  interval: 1h\n  chart:\n    spec:\n      chart: velero\n      version: 12.1.0\n      sourceRef:\n"
    "        kind: HelmRepository\n        name: vmware-tanzu\n  values:\n    tcp:\n      22: default/ssh:22\n",
]
PIECES = [
    "1", "true", "~", "-1.5e3", ".inf", "0x1F", "'q'", '"\\u0000"', "[", "]", "{", "}", ": ", "- ", "? ", "\n",
    "\n  ", "&a ", "*a", "<<: *a", "!!str ", "!!int x", "=", "${VAR:=1}", "é", "\t", "#", "---\n", "|", ">",
]


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(OBJECTS))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + "".join(draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6))) + text[at:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
@example(text=OBJECTS[0].replace("  a: b", "  1: b\n  true: c"))
@example(text=OBJECTS[0].replace("  a: b", "  ? [k]\n  : v"))
@example(text=OBJECTS[0].replace("  a: b", " \t a: b"))
@example(text=OBJECTS[0].replace("{app: x}", "{app: |d}"))
def test_validate_property_findings_never_exceptions(tmp_path, text):
    """Whatever a pull request puts in a manifest, validate answers with findings or a pass; never an
    exception. Found this way: integer keys in Helm values crashed the schema check, and texts that
    the removed yaml-rs path read but libyaml refuses crashed the line lookup."""
    d = tmp_path / "t"
    d.mkdir(exist_ok=True)
    f = d / "obj.yaml"
    f.write_text(text, encoding="utf-8")
    result = validate_paths([str(d)], Options(kustomize="never", ignore_missing_schemas=True))
    for finding in result.findings:
        assert finding.file.endswith("obj.yaml") and finding.message and "\n" not in finding.message


@pytest.mark.parametrize("applied", [False, True])
def test_a_file_with_kind_but_no_api_version_that_nothing_applies(tmp_path, applied):
    """Ansible vars with a `kind: Secret` key (found on a real repository, beside the Flux tree): not
    ours to judge while nothing applies it; listed as a kustomize resource, it is a finding."""
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    (tmp_path / "vars.yml").write_text("kind: Secret\npushover_user_key: abc\n")
    listed = "[cm.yaml, vars.yml]" if applied else "[cm.yaml]"
    (tmp_path / "kustomization.yaml").write_text(f"resources: {listed}\n")
    res = validate_paths([str(tmp_path)], _opts(tmp_path))
    assert [(f.file.endswith("vars.yml"), f.message) for f in res.findings] == (
        [(True, "missing 'apiVersion': not a Kubernetes object")] if applied else [])


# --------------------------------------------------------------------------------------------------
# One pass over the repository


_OPENS: list[str] | None = None


def _audit(event, args):  # installed once per process (audit hooks cannot be removed); counts only while a test asks
    if _OPENS is not None and event == "open" and args and isinstance(args[0], (str, os.PathLike)):
        mode, flags = (args[1], args[2]) if len(args) > 2 else (None, 0)
        if mode in (None, "r", "rb") and not (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR)):
            _OPENS.append(os.path.realpath(args[0]))


@pytest.mark.parametrize("tree,sub", [("key-per-namespace", "kubernetes"), ("key-per-namespace", "kubernetes/apps"),
                                      ("multi-cluster", "."), ("flux-operator", "apps")])
def test_each_file_is_read_once(tree, sub):
    """validate reads every file of the repository at most once per call (the reader, the repository scan, the
    kustomizations and the SOPS check share the run's texts); the kustomize build's private mirror aside."""
    global _OPENS
    import sys

    from cli_util import VALIDATE_FIXTURES

    root = (VALIDATE_FIXTURES / "flux" / tree).resolve()
    if not getattr(sys, "_velero_gitops_audit", False):
        sys.addaudithook(_audit)
        sys._velero_gitops_audit = True  # type: ignore[attr-defined]
    _OPENS = []
    try:
        validate_paths([str(root / sub)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
        opened = [p for p in _OPENS if p.startswith(str(root)) and p.endswith((".yaml", ".yml"))]
    finally:
        _OPENS = None
    assert len(opened) >= 6  # the hook sees the reads (a count of nothing proves nothing)
    assert [p for p in set(opened) if opened.count(p) > 1] == []


def test_a_repository_without_any_kustomization_yaml_is_built(tmp_path, monkeypatch):
    """Flux generates a kustomization for a spec.path without one (fluxcd/pkg@kustomize/v1.35.4:kustomize/
    kustomize_generator.go): a repository with no kustomization.yaml anywhere still gets its builds."""
    import shutil

    from velero_gitops.validate import kustomize

    from cli_util import VALIDATE_FIXTURES

    root = tmp_path / "repo"
    shutil.copytree(VALIDATE_FIXTURES / "flux" / "flux-operator", root)
    for k in root.rglob("kustomization.yaml"):
        k.unlink()
    calls = []
    real = kustomize.check_dirs
    monkeypatch.setattr(kustomize, "check_dirs", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    validate_paths([str(root)], Options(repo_root=str(root), kustomize="auto", ignore_missing_schemas=True))
    assert len(calls) == 1


def test_a_walked_tree_with_no_applier_judges_only_what_claims_to_be_an_object(tmp_path):
    """A folder with no kustomization.yaml and no Flux Kustomization (a cdk8s or Helm-values repository, found on a
    real one): nothing in it is read by the controllers, which read only what a kustomization lists
    (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/internal/target/kusttarget.go accumulateResources) or what a
    Flux Kustomization's path holds (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests).
    Its values files, Go templates and duplicate keys are another tool's; a document that claims to be an object is
    still checked, and a file named on the command line is a manifest because its user says so."""
    tree = tmp_path / "repo"
    (tree / "configs").mkdir(parents=True)
    (tree / "configs" / "grafana.yaml").write_text("env:\n  SCOPES: a\n  SCOPES: a\n")
    (tree / "configs" / "wiki.yaml").write_text("image:\n  tag: {{ .CustomValues.Image.Tag }}\n")
    (tree / "versions.yaml").write_text("- a\n- b\n")
    (tree / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\nbogus: 1\n")
    res = validate_paths([str(tree)], _opts(tmp_path))
    assert [(Path(f.file).name, f.rule) for f in res.findings] == [("cm.yaml", "schema")]
    named = validate_paths([str(tree / "configs" / "grafana.yaml")], _opts(tmp_path))
    assert sorted(f.rule for f in named.findings) == ["schema", "yaml.duplicate-key"]


def test_duplicate_keys_in_a_file_nothing_applies_are_another_tools(tmp_path):
    """The stray rule holds for duplicate keys as for the schema: a values file beside a kustomization that does not
    list it is not read by kustomize (kusttarget.go accumulateResources); in a listed file the duplicate stands."""
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n")
    (tmp_path / "values.yaml").write_text("env:\n  A: 1\n  A: 1\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    assert validate_paths([str(tmp_path)], _opts(tmp_path)).findings == []
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n"
                                      "data:\n  A: '1'\n  A: '1'\n")
    assert [f.rule for f in validate_paths([str(tmp_path)], _opts(tmp_path)).findings] == ["yaml.duplicate-key"]


def test_a_walked_subfolder_of_a_flux_tree_keeps_the_trees_appliers(tmp_path):
    """Validating one folder of a Flux repository: its files are applied by a Flux Kustomization outside the walk
    (Flux generates the folder's kustomization: fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go), so a
    document without apiVersion there is still a finding; the no-applier rule is for trees with none at all."""
    ks = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
          "  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n"
          "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "clusters/home/flux-system").mkdir(parents=True)
    (root / "clusters/home/flux-system/gotk-sync.yaml").write_text(ks.format(name="flux-system", path="./clusters/home"))
    (root / "clusters/home/apps.yaml").write_text(ks.format(name="plain", path="./apps/plain"))
    (root / "apps/plain").mkdir(parents=True)
    (root / "apps/plain/cm.yaml").write_text("metadata:\n  name: x\n  namespace: default\ndata:\n  a: b\n")
    res = validate_paths([str(root / "apps/plain")], _opts(tmp_path, repo_root=str(root)))
    assert [f.message for f in res.findings] == ["missing 'apiVersion': not a Kubernetes object"]
