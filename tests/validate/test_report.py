"""Output formats: a config typo in every format of `check`, and JUnit reports that count their testcases."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from velero_gitops.findings import Finding
from velero_gitops.validate.report import config_findings, render

from cli_util import run_cli

TYPO = "cluster: lab\ns3:\n  endpoint: https://s3.example.org\n  bucket: velero\n  bukcet: velero\n"


@pytest.mark.parametrize("fmt", ["github", "json", "junit"])
def test_a_config_typo_is_reported_in_the_chosen_format(tmp_path, fmt):
    """`check -o github` on a config with a typo: an annotation on the config's line (exit 2, a config error),
    not a plain message that Actions shows nowhere; json and junit carry the same finding."""
    cfg = tmp_path / "velero-gitops.yaml"
    cfg.write_text(TYPO)
    r = run_cli("check", "-c", str(cfg), "-o", fmt, cwd=tmp_path)
    assert r.code == 2, r.out + r.err
    if fmt == "github":
        first, last = r.out.splitlines()
        assert first.startswith("::error file=velero-gitops.yaml,line=5,title=config::s3.bukcet: unknown key 'bukcet'")
        assert last == "1 error; objects: 0 passed, 0 failed"
    elif fmt == "json":
        (finding,) = json.loads(r.out)["findings"]
        assert (finding["file"], finding["line"], finding["rule"]) == ("velero-gitops.yaml", 5, "config")
    else:
        failure = ET.fromstring(r.out).find("testsuite/testcase/failure")
        assert failure is not None and failure.get("type") == "config" and "bukcet" in failure.get("message")
    text = run_cli("check", "-c", str(cfg), cwd=tmp_path)
    assert text.code == 2 and "velero-gitops.yaml:5:3 s3.bukcet: unknown key" in text.err and text.out == ""


def test_config_problem_lines_parse_into_findings():
    (located, plain) = config_findings(["c.yaml:3:7 velero.imageTag: 'x' is not a tag", "c.yaml: not a mapping"])
    assert (located.file, located.line, located.message) == ("c.yaml", 3, "velero.imageTag: 'x' is not a tag")
    assert (plain.file, plain.line, plain.message) == ("", None, "c.yaml: not a mapping")


def _suite(findings, passed, failed, skipped):
    root = ET.fromstring(render(findings, passed, failed, skipped, "junit"))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(root.get("tests")) == int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
    assert int(suite.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
    return cases


def test_junit_of_a_clean_run_has_a_passing_testcase():
    (case,) = _suite([], 10, 0, 0)
    assert case.get("name") == "10 objects passed" and not list(case)


def test_junit_counts_what_it_lists():
    error = Finding("a.yaml", 3, "ConfigMap/x/y", "/data", "bad", "schema")
    warning = Finding("a.yaml", 4, None, "", "odd", "policy.x", "warning")
    cases = _suite([error, warning], 5, 1, 2)
    assert [c.get("name") for c in cases] == ["ConfigMap/x/y /data", "a.yaml", "5 objects passed", "2 objects skipped"]


def test_missing_schemas_are_one_line_per_kind_with_one_hint(tmp_path):
    """Seven objects of a CRD without a schema and one of another: one line per kind with the count and the first
    locations, the hint once; the summary still counts every object."""
    for i in range(7):
        (tmp_path / f"c{i}.yaml").write_text(f"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n"
                                             f"  name: c{i}\n  namespace: n\nspec: {{}}\n")
    (tmp_path / "db.yaml").write_text("apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata:\n  name: db\n"
                                      "  namespace: n\nspec: {}\n")
    r = run_cli("validate", str(tmp_path), "--no-flux", "--kustomize", "never", cwd=tmp_path)
    assert r.code == 1
    cert, cluster, hint, summary = r.out.splitlines()
    assert cert.startswith("no schema found for gateway.networking.k8s.io/v1/HTTPRoute in schema location 'default': "
                           "a CRD outside")
    assert cert.endswith(": 7 objects (c0.yaml:2, c1.yaml:2, c2.yaml:2, c3.yaml:2, c4.yaml:2 and 2 more)")
    assert cluster.endswith(": 1 object (db.yaml:2)") and "--schema-location" not in cert + cluster
    assert hint == "missing schemas: add --schema-location, `velero-gitops schemas import CRD.yaml`, or --ignore-missing-schemas"
    assert summary == "8 errors; objects: 0 passed, 8 failed"
    one = run_cli("validate", str(tmp_path / "db.yaml"), "--no-flux", "--kustomize", "never", cwd=tmp_path)
    alone = one.out.splitlines()[0]  # alone: one finding line as before, the hint in it
    assert alone.startswith("db.yaml:2 Cluster/") and "/kind: no schema found" in alone and "--schema-location" in alone


def test_one_message_at_many_places_is_one_text_line():
    """The same rule, severity and message at three places or more is one text line with the places (a repository
    of Argo CD apps gave 95 identical helmCharts warnings); a finding with a pointer keeps its own line, two
    repeats stay two lines, and json keeps every finding."""
    same = [Finding(f"k{i}/kustomization.yaml", 7, None, "", "inflates Helm charts", "kustomize.helm-charts", "warning")
            for i in range(7)]
    pointed = [Finding("a.yaml", i, "ConfigMap/x/y", "/data", "inflates Helm charts", "kustomize.helm-charts", "warning")
               for i in (1, 2, 3)]
    twice = [Finding(f"r{i}.yaml", 1, None, "", "remote", "kustomize.remote", "warning") for i in range(2)]
    out = render([*same, *pointed, *twice], 0, 0, 0).splitlines()
    assert out[-2] == ("7 places: warning: inflates Helm charts (k0/kustomization.yaml:7, k1/kustomization.yaml:7, "
                       "k2/kustomization.yaml:7, k3/kustomization.yaml:7, k4/kustomization.yaml:7 and 2 more)")
    assert sum("/data" in line for line in out) == 3 and sum(": warning: remote" in line for line in out) == 2
    assert out[-1].startswith("12 warnings")
    assert len(json.loads(render([*same, *pointed, *twice], 0, 0, 0, "json"))["findings"]) == 12


# File names an attacker can commit (git stores any bytes but NUL and `/`), each holding a duplicate key that
# `check` reports at the start of a text line: workflow commands in both forms the runner parses, one behind a
# whitespace that .NET's TrimStart removes, bytes that are not UTF-8, XML 1.0 non-characters and bidi overrides.
HOSTILE_NAMES = [b"::error file=README.md,line=1,title=LGTM::all good.yaml", b"::stop-commands::deadbeef.yaml",
                 "\u3000::warning::ws.yaml".encode(), b"##[error]v1.yaml", b"bad\xff\xfe.yaml", "a\uffff\ufffe.yaml".encode(),
                 "\u202elmay.terces\u202c.yaml".encode(), b" ::notice::space.yaml"]


def _runner_commands(output: str) -> list[str]:
    """The lines the Actions runner takes for workflow commands: ActionCommand.TryParseV2 (`::` after TrimStart)
    and TryParse (`##[` anywhere), actions/runner@v2.336.0:src/Runner.Common/ActionCommand.cs."""
    return [line for line in output.split("\n") if line.lstrip().startswith("::") or "##[" in line]


@pytest.fixture(scope="module")
def hostile_repo(tmp_path_factory):
    import os
    import shutil

    from cli_util import EXAMPLE, git

    repo = tmp_path_factory.mktemp("hostile") / "repo"
    shutil.copytree(EXAMPLE, repo)
    for name in HOSTILE_NAMES:
        with open(os.path.join(os.fsencode(repo), name), "wb") as fh:
            # a Secret in clear: reported wherever it is, applied or not (a YAML file nothing applies that claims no
            # object is another tool's, and says nothing)
            fh.write(b"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\nstringData: {a: b}\n")
    git(repo, "init", "-q")
    return repo


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "github"])
def test_hostile_file_names_forge_no_workflow_command_and_keep_each_format_valid(hostile_repo, fmt):
    """B5/B11/B12 (probes 03, 05, 06, 06b, 38): `check` on root files named like workflow commands, with bytes
    that are not UTF-8, U+FFFF and U+202E. No text/json/junit line is a workflow command (the github format's
    lines are exactly one command per finding); junit parses as XML 1.0 (expat), json as strict UTF-8 with every
    name; no format prints a format character (Cf) raw."""
    import unicodedata

    r = run_cli("check", "-o", fmt, cwd=hostile_repo)
    assert r.code == 1, r.out + r.err
    commands = _runner_commands(r.out + "\n" + r.err)
    raw = r.out.encode("utf-8", "surrogateescape")
    raw.decode("utf-8")  # strict: nothing but UTF-8 on stdout
    assert not any(unicodedata.category(c) == "Cf" for c in r.out + r.err)
    if fmt == "github":
        assert len(commands) == len(HOSTILE_NAMES)
        assert all(line.startswith("::error file=") and line.count("::") == 2 for line in commands), commands
        return
    assert commands == []
    if fmt == "text":
        # one message at many places is one line (repeated_lines) naming the first places, escaped; json names all
        assert r.out.startswith(f"{len(HOSTILE_NAMES)} places: plaintext Secret"), r.out
        assert "#\\x23[error]v1.yaml:1" in r.out and "a\\uffff\\ufffe.yaml:1" in r.out, r.out
    elif fmt == "json":
        files = {f["file"] for f in json.loads(raw)["findings"]}
        assert {"bad\\xff\\xfe.yaml", "##[error]v1.yaml", "a\uffff\ufffe.yaml"} <= files
    else:
        classes = {c.get("classname") for c in ET.fromstring(raw).iter("testcase")}
        assert {"a\\uffff\\ufffe.yaml", "#\\x23[error]v1.yaml", "::stop-commands::deadbeef.yaml"} <= classes


def test_every_text_line_starts_with_a_character_the_tool_chose():
    """The text reporter's one boundary (shown.lead): whatever a finding's file or message holds, no line begins
    with whitespace or `:`."""
    names = ["::x::y", " ::x::y", "\u2003::x::y", "\t::x::y", "", "\u202e::x::y", "\ufeff::x::y", "\n::x::y"]
    findings = [Finding(n, None, None, "", m, "r") for n in names for m in ("::x::m", "m")]
    out = render(findings, 0, 0, 0)
    assert _runner_commands(out) == []
    assert all(line[:1] not in (" ", ":") and not line[:1].isspace() for line in out.splitlines())


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_kind_the_finding_names_as_its_object_is_not_taken_for_a_token(fmt):
    """The token rule (config/redact.py: a 20+ character run mixing cases and digits) took the kind
    CiliumL2AnnouncementPolicy in a schema.missing message for a secret (seen when adopting a fresh repository:
    `no schema found for cilium.<redacted>`). The finding's own identity is printed beside the message unredacted,
    so the message may name it; a token that is not the object's identity is still masked."""
    token = "Zx9" + "kQ" * 12
    f = Finding("lb.yaml", 2, "CiliumL2AnnouncementPolicy//l2-policy", "/kind",
                f"no schema found for cilium.io/v2alpha1/CiliumL2AnnouncementPolicy (see {token})", "schema.missing")
    out = render([f], 0, 1, 0, fmt)
    assert "cilium.io/v2alpha1/CiliumL2AnnouncementPolicy" in out and token not in out and "<redacted>" in out, out
