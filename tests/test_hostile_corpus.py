"""A corpus of hostile repositories, each run through `validate` and `check` in-process, kustomize builds traced.

Each case is a pull request against a rendered repository (clusters/home-lab) that adds
``kubernetes/apps/hostile/`` and a Flux Kustomization building it, in one class of the audit of
issue 20 (or a class of our own). For every case, both commands, and every output format:

- nothing outside the repository is read (the outside file's marker never shows; every kustomize
  build is traced with strace and opens, runs and reaches nothing outside its sandbox);
- no network (a listener on the host's loopback stays unconnected);
- no traceback (only the findings; a usage error where the case expects one);
- nothing secret printed (the repository's Secret values and every generator input never show);
- output is not forged (one finding per text line, valid JSON, well-formed JUnit XML);
- bounded cost: CPU seconds of the run and its children (not wall clock), and the worker's peak RSS;
- the right finding: a rule of the expected family.

Cases are built from classes x spellings (``CLASSES``); a sandbox escape is impossible by construction
(validate/sandbox.py), so the outside-read classes also check the planner's finding.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from velero_gitops.check import CheckOptions, run_check
from velero_gitops.errors import ConfigError, UsageError
from velero_gitops.validate import report
from velero_gitops.validate.engine import Options, validate_paths

from cli_util import EXAMPLE, require_kubectl
from trace_fixtures import Listener, escapes, traced

OUT = "OUTSIDE-MARK-91ab"
SECRET = "SECRET-VALUE-44cd"
H = "kubernetes/apps/hostile"
K = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: hostile\ndata:\n  a: b\n"
KS = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: hostile\n"
      "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./" + H + "/app\n  prune: true\n  sourceRef:\n"
      "    kind: GitRepository\n    name: flux-system\n{extra}")


def _gen(entry: str, kind: str = "configMapGenerator", field: str = "files") -> dict:
    return {"app/kustomization.yaml": K + f"{kind}:\n  - name: g\n    {field}:\n      - {entry}\n"}


def _res(entry: str, field: str = "resources") -> dict:
    return {"app/kustomization.yaml": K + f"resources: [cm.yaml]\n{field}:\n  - {entry}\n" if field != "resources"
            else K + f"resources:\n  - {entry}\n", "app/cm.yaml": CM}


# outside paths, spelled every way a kustomization field may name one ({out} = the outside folder)
OUTSIDE_SPELLINGS = {
    "abs": "{out}/secret.txt",
    "dotdot": "../../../../../outside/secret.txt",
    "windows-prefix": "c:/../..{out}/secret.txt",
    "file-url": "file://{out}/secret.txt",
    "double-slash": "/{out}/secret.txt",
    "dot-segments": "./sub/../../../../../../outside/./secret.txt",
    "system": "/etc/passwd",
    "proc": "/proc/self/environ",
    "dev-zero": "/dev/zero",
}
# fields that name a file (value -> kustomization)
FILE_FIELDS = {
    "cm-files": lambda v: _gen("data=" + v),
    "cm-files-nokey": lambda v: _gen(v),
    "cm-envs": lambda v: _gen(v, field="envs"),
    "secret-files": lambda v: _gen(v, kind="secretGenerator"),
    "secret-envs": lambda v: _gen(v, kind="secretGenerator", field="envs"),
    "resources": lambda v: _res(v),
    "crds": lambda v: _res(v, "crds"),
    "configurations": lambda v: _res(v, "configurations"),
    "psm": lambda v: _res(v, "patchesStrategicMerge"),
    "transformers": lambda v: _res(v, "transformers"),
    "generators": lambda v: _res(v, "generators"),
    "validators": lambda v: _res(v, "validators"),
    "patches-path": lambda v: {"app/kustomization.yaml": K + f"resources: [cm.yaml]\npatches:\n  - path: {v}\n",
                               "app/cm.yaml": CM},
    "json6902-path": lambda v: {"app/kustomization.yaml": K + "resources: [cm.yaml]\npatchesJson6902:\n  - target: "
                                f"{{version: v1, kind: ConfigMap, name: c}}\n    path: {v}\n", "app/cm.yaml": CM},
    "replacements-path": lambda v: {"app/kustomization.yaml": K + f"resources: [cm.yaml]\nreplacements:\n  - path: {v}\n",
                                    "app/cm.yaml": CM},
    "openapi-path": lambda v: {"app/kustomization.yaml": K + f"resources: [cm.yaml]\nopenapi:\n  path: {v}\n",
                               "app/cm.yaml": CM},
    "inline-generator": lambda v: {"app/kustomization.yaml": K + "generators:\n  - |\n    apiVersion: builtin\n"
                                   f"    kind: ConfigMapGenerator\n    metadata:\n      name: g\n    files:\n      - d={v}\n"},
    "generator-config": lambda v: {"app/kustomization.yaml": K + "generators: [gen.yaml]\n",
                                   "app/gen.yaml": f"apiVersion: builtin\nkind: SecretGenerator\nmetadata:\n  name: g\nfiles: [{v}]\n"},
    "patch-transformer": lambda v: {"app/kustomization.yaml": K + "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
                                    "app/cm.yaml": CM, "app/t.yaml": "apiVersion: builtin\nkind: PatchTransformer\n"
                                    f"metadata:\n  name: p\npath: {v}\ntarget:\n  kind: ConfigMap\n"},
    "generator-dir": lambda v: {"app/kustomization.yaml": K + "generators: [gen]\n",
                                "app/gen/kustomization.yaml": K + f"configMapGenerator:\n  - name: g\n    files: [d={v}]\n"},
}
NETWORK = {
    "http": "http://127.0.0.1:{port}/x.yaml",
    "https": "https://127.0.0.1:{port}/x.yaml",
    "git-double-colon": "git::http://127.0.0.1:{port}/r.git",
    "ssh": "ssh://git@127.0.0.1:{port}/r.git",
    "scp-like": "git@127.0.0.1:r.git",
    "github-short": "github.com/example/repo/deploy?ref=main",
    "ipv6": "http://[::1]:{port}/x.yaml",
    "ref-query": "example.org/repo//deploy?ref=v1",
    "file-url-remote": "file://127.0.0.1{out}/cm.yaml",
}
NETWORK_PLACES = {
    "resources": lambda v: {"app/kustomization.yaml": K + f"resources:\n  - '{v}'\n"},
    "base-of-base": lambda v: {"app/kustomization.yaml": K + "resources: [base]\n",
                               "app/base/kustomization.yaml": K + f"resources:\n  - '{v}'\n"},
    "generator-dir": lambda v: {"app/kustomization.yaml": K + "generators: [gen]\n",
                                "app/gen/kustomization.yaml": K + f"resources:\n  - '{v}'\n"},
    "component": lambda v: {"app/kustomization.yaml": K + "components: [comp]\n",
                            "app/comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\n"
                            f"kind: Component\nresources:\n  - '{v}'\n"},
}


def _bomb_patch() -> str:
    lines = ["a0: &a0 [" + ", ".join(["xxxxxxxx"] * 400) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    body = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: c", *lines]
    return "      " + "\n      ".join(body)


def _diamond(depth: int) -> dict:
    files = {"app/kustomization.yaml": K + "resources: [../l0a, ../l0b]\n"}
    for i in range(depth):
        for s in "ab":
            nxt = f"[../l{i + 1}a, ../l{i + 1}b]" if i + 1 < depth else "[cm.yaml]"
            files[f"l{i}{s}/kustomization.yaml"] = K + f"resources: {nxt}\n"
            if i + 1 == depth:
                files[f"l{i}{s}/cm.yaml"] = CM
    return files


SECRET_SPELLINGS = {
    "json": '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "' + SECRET + '"}}\n',
    "flow": f"{{apiVersion: v1, kind: Secret, metadata: {{name: s}}, stringData: {{k: {SECRET}}}}}\n",
    "str-tag": f"apiVersion: v1\nkind: !!str Secret\nmetadata:\n  name: s\nstringData:\n  k: {SECRET}\n",
    "hex-escape": f'apiVersion: v1\nkind: "Secr\\x65t"\nmetadata:\n  name: s\nstringData:\n  k: {SECRET}\n',
    "anchor": f"apiVersion: v1\nmetadata:\n  name: s\n  labels: {{x: &k Secret}}\nkind: *k\nstringData:\n  k: {SECRET}\n",
    "folded": f"apiVersion: v1\nkind: >-\n  Secret\nmetadata:\n  name: s\nstringData:\n  k: {SECRET}\n",
    "merge-key": f"b: &b {{kind: Secret, apiVersion: v1}}\n<<: *b\nmetadata:\n  name: s\nstringData:\n  k: {SECRET}\n",
    "secret-list": f"apiVersion: v1\nkind: SecretList\nitems:\n  - {{apiVersion: v1, kind: Secret, metadata: {{name: s}}, "
                   f"stringData: {{k: {SECRET}}}}}\n",
    "nested-list": f"apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ThingList\n    items:\n"
                   f"      - {{apiVersion: v1, kind: Secret, metadata: {{name: s}}, stringData: {{k: {SECRET}}}}}\n",
    "bom-crlf": f"\ufeffapiVersion: v1\r\nkind: Secret\r\nmetadata:\r\n  name: s\r\nstringData:\r\n  k: {SECRET}\r\n",
    "data-base64": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: U0VDUkVULVZBTFVFLTQ0Y2Q=\n",
    "second-doc": CM + f"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: {SECRET}\n",
}


def _cases() -> dict[str, tuple[dict, tuple[str, ...]]]:
    """name -> (files under kubernetes/apps/hostile, expected rule prefixes)."""
    cases: dict[str, tuple[dict, tuple[str, ...]]] = {}
    # every field with four spellings, rotating so that every spelling meets many fields (not the full
    # product: each case costs two real builds)
    spellings = list(OUTSIDE_SPELLINGS.items())
    for i, (f, make) in enumerate(FILE_FIELDS.items()):
        for s, v in (spellings[(i + j) % len(spellings)] for j in range(4)):
            cases[f"outside-{f}-{s}"] = (make(v), ("kustomize",))
    remotes = list(NETWORK.items())
    for i, (place, make) in enumerate(NETWORK_PLACES.items()):
        for n, v in (remotes[(2 * i + j) % len(remotes)] for j in range(5)):
            cases[f"network-{place}-{n}"] = (make(v), ("kustomize",))
    for n, text in SECRET_SPELLINGS.items():
        cases[f"secret-{n}"] = ({"app/kustomization.yaml": K + "resources: [s.yaml]\n", "app/s.yaml": text},
                                ("secret.unencrypted", "policy.secret"))
    cases["secret-generator-literal"] = ({"app/kustomization.yaml": K + f"secretGenerator:\n  - name: g\n    literals: [k={SECRET}]\n"},
                                         ("secret.unencrypted",))
    cases["secret-generator-env"] = ({"app/kustomization.yaml": K + "secretGenerator:\n  - name: g\n    envs: [s.env]\n",
                                      "app/s.env": f"k={SECRET}\n"}, ("secret.unencrypted",))
    cases["secret-through-replacement"] = ({
        "app/kustomization.yaml": K + "resources: [s.yaml, cm.yaml]\nreplacements:\n  - source: {kind: Secret, name: s, "
        "fieldPath: stringData.k}\n    targets:\n      - select: {kind: ConfigMap}\n        fieldPaths: [metadata.generation]\n",
        "app/s.yaml": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: {SECRET}\n", "app/cm.yaml": CM},
        ("secret.unencrypted", "kustomize"))
    cases["secret-from-secret-into-int"] = ({
        "app/kustomization.yaml": K + "resources: [d.yaml, s.yaml]\nreplacements:\n  - source: {kind: Secret, name: s, "
        "fieldPath: stringData.k}\n    targets:\n      - select: {kind: Deployment}\n        fieldPaths: [spec.replicas]\n",
        "app/s.yaml": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: {SECRET}\n",
        "app/d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 1\n"},
        ("kustomize", "secret.unencrypted"))
    cases["secret-replacement-into-int"] = ({
        "app/kustomization.yaml": K + "resources: [d.yaml, cm.yaml]\nreplacements:\n  - source: {kind: ConfigMap, name: c, "
        "fieldPath: data.a}\n    targets:\n      - select: {kind: Deployment}\n        fieldPaths: [spec.replicas]\n",
        "app/cm.yaml": CM.replace("a: b", f"a: {SECRET}"),
        "app/d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 1\n"}, ("kustomize", "schema"))
    # exhaustion
    cases["exhaust-alias-bomb-inline-patch"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\npatches:\n  - patch: |\n"
                                                 + _bomb_patch() + "\n", "app/cm.yaml": CM}, ("kustomize",))
    cases["exhaust-diamond-12"] = (_diamond(12), ("kustomize",))
    cases["exhaust-diamond-10"] = (_diamond(10), ("kustomize",))
    cases["exhaust-fifo-resource"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\n", "app/cm.yaml": "@fifo"},
                                      ("kustomize", "yaml"))
    cases["exhaust-fifo-generator-input"] = ({**_gen("d=in.txt"), "app/in.txt": "@fifo"}, ("kustomize", "yaml"))
    cases["exhaust-fifo-kustomization"] = ({"app/kustomization.yaml": "@fifo"}, ("kustomize", "yaml", "flux"))
    cases["exhaust-big-generator-input"] = ({**_gen("d=big.txt"), "app/big.txt": "x" * (9 * 1024 * 1024)}, ("kustomize",))
    cases["exhaust-deep-flow-in-patch"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\npatches:\n  - patch: '"
                                            + "[" * 20000 + "]" * 20000 + "'\n", "app/cm.yaml": CM}, ("kustomize",))
    cases["exhaust-many-bases"] = ({"app/kustomization.yaml": K + "resources:\n" + "".join(f"  - b{i}\n" for i in range(60)),
                                    **{f"app/b{i}/kustomization.yaml": K + "resources: [../../shared]\n" for i in range(60)},
                                    "shared/kustomization.yaml": K + "resources: [cm.yaml]\n", "shared/cm.yaml": CM},
                                   ("kustomize",))
    # boundary: links and loops
    cases["link-file-out"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\n", "app/cm.yaml": "@link:{out}/cm.yaml"},
                              ("kustomize", "yaml"))
    cases["link-dir-out"] = ({"app/kustomization.yaml": K + "resources: [base]\n", "app/base": "@link:{out}"}, ("kustomize", "yaml"))
    cases["link-kustomization-out"] = ({"app/kustomization.yaml": "@link:{out}/kustomization.yaml"}, ("kustomize", "yaml", "flux"))
    cases["link-loop-self"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\n", "app/cm.yaml": "@link:cm.yaml"},
                               ("kustomize", "yaml"))
    cases["link-loop-pair"] = ({"app/kustomization.yaml": K + "resources: [a.yaml]\n", "app/a.yaml": "@link:b.yaml",
                                "app/b.yaml": "@link:a.yaml"}, ("kustomize", "yaml"))
    cases["link-chain-out"] = ({"app/kustomization.yaml": K + "resources: [a.yaml]\n", "app/a.yaml": "@link:b.yaml",
                                "app/b.yaml": "@link:../../../../../outside/cm.yaml"}, ("kustomize", "yaml"))
    cases["link-proc-root"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\n", "app/cm.yaml": "@link:/proc/1/root{out}/cm.yaml"},
                               ("kustomize", "yaml"))
    cases["link-dev-zero-input"] = ({**_gen("d=z.txt"), "app/z.txt": "@link:/dev/zero"}, ("kustomize", "yaml"))
    # tools and plugins
    cases["exec-krm-function"] = ({"app/kustomization.yaml": K + "transformers: [fn.yaml]\n",
                                   "app/fn.yaml": "apiVersion: x/v1\nkind: Fn\nmetadata:\n  name: f\n  annotations:\n"
                                   "    config.kubernetes.io/function: |\n      exec:\n        path: /bin/sh\n"}, ("kustomize",))
    cases["helm-chart"] = ({"app/kustomization.yaml": K + "helmCharts:\n  - name: x\n    repo: http://127.0.0.1:{port}\n"
                            "    version: 1.0.0\n"}, ("kustomize",))
    # Flux fields
    cases["flux-patch-path"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\n", "app/cm.yaml": CM,
                                 "@ks": "  patches:\n    - path: {out}/cm.yaml\n      target: {kind: ConfigMap}\n"},
                                ("flux", "kustomize", "schema"))
    cases["flux-component-outside"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\n", "app/cm.yaml": CM,
                                        "@ks": "  components:\n    - ../../../../../outside\n"}, ("flux", "kustomize", "schema"))
    cases["flux-substitute-deep"] = ({"app/kustomization.yaml": K + "resources: [cm.yaml]\n",
                                      "app/cm.yaml": CM.replace("a: b", "a: " + "${A:=" * 3000 + "v" + "}" * 3000),
                                      "@ks": "  postBuild:\n    substitute:\n      B: x\n"}, ())  # no finding: it just ends
    # forged output: names and messages with control characters
    for n, name in {"newline": "a\nkind: Pod\n", "cr": "x\r::error::forged", "esc": "x\x1b[2Kwrote all good",
                    "u2028": "x\u2028y", "del": "x\x7fy", "xml": "x]]>&<y", "nul-like": "x\\0y"}.items():
        cases[f"forge-filename-{n}"] = ({"app/kustomization.yaml": K + f"resources:\n  - cm.yaml\n  - {json.dumps(name + '.yaml')}\n",
                                         "app/cm.yaml": CM, f"app/{name}.yaml": "kind: [\n"}, ("yaml", "kustomize"))
        cases[f"forge-kustomize-message-{n}"] = ({"app/kustomization.yaml": K + f"resources:\n  - {json.dumps(name + '.yaml')}\n"},
                                                 ("kustomize",))
    # invalid text for kubectl
    cases["kubectl-invalid-utf8"] = ({"app/kustomization.yaml": K.encode() + b"resources: [\xff\xfe.yaml]\n"}, ("kustomize", "yaml"))
    return cases


CASES = _cases()


def test_the_corpus_is_large_and_covers_every_class():
    assert len(CASES) >= 150
    families = {n.split("-", 1)[0] for n in CASES}
    assert {"outside", "network", "secret", "exhaust", "link", "forge", "flux"} <= families


def _place(repo: Path, files: dict, out: Path, port: int) -> None:
    ks_extra = ""
    for rel, text in files.items():
        if rel == "@ks":
            ks_extra = text.replace("{out}", str(out)).replace("{port}", str(port))
            continue
        p = repo / H / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
            continue
        text = text.replace("{out}", str(out)).replace("{port}", str(port))
        if text == "@fifo":
            os.mkfifo(p)
        elif text.startswith("@link:"):
            p.symlink_to(text[6:])
        else:
            p.write_text(text)
    (repo / H / "ks.yaml").write_text(KS.format(extra=ks_extra))


def _outputs(findings, passed=0, failed=0) -> dict[str, str]:
    return {fmt: report.render(findings, passed, failed, 0, fmt) for fmt in report.FORMATS}


def _assert_clean_output(findings, case: str) -> None:
    outs = _outputs(findings)
    for fmt, text in outs.items():
        assert OUT not in text and SECRET not in text and "root:x:0:0" not in text, (case, fmt)
        assert "\x1b" not in text and "\r" not in text and "\u2028" not in text, (case, fmt)
    json.loads(outs["json"])
    ET.fromstring(outs["junit"])
    # one line per finding and the summary: a name cannot start a line of its own
    assert len(outs["text"].rstrip("\n").split("\n")) == len(findings) + 1, (case, outs["text"][-2000:])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus-base") / "repo"
    shutil.copytree(EXAMPLE, d, symlinks=True)
    (d / ".git").mkdir()
    return d


@pytest.fixture(scope="module")
def build_cache(tmp_path_factory):
    """One kustomize build cache for the corpus: the unchanged velero builds are built once per worker
    (the cache key holds every file a build reads, so a hostile case never hits another's entry)."""
    return tmp_path_factory.mktemp("corpus-cache")


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_repository(case, tmp_path, monkeypatch, base, build_cache):
    require_kubectl()
    monkeypatch.setenv("VELERO_GITOPS_NO_CACHE", "1")
    files, expect = CASES[case]
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text(f"{OUT}\n")
    (out / "cm.yaml").write_text(CM.replace("a: b", f"a: {OUT}"))
    (out / "kustomization.yaml").write_text(K + "resources: [cm.yaml]\n")
    repo = tmp_path / "work" / "repo"
    shutil.copytree(base, repo, symlinks=True)
    srv = Listener()
    traces = traced(monkeypatch, tmp_path)
    cpu0, kids0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        _place(repo, files, out, srv.port)
        monkeypatch.chdir(repo)
        res = validate_paths([str(repo)], Options(kustomize="always", cache_dir=str(build_cache)))
        try:
            chk = run_check([repo / "velero-gitops.yaml"], CheckOptions(kustomize="always", cache_dir=str(build_cache)))
            check_findings = chk.findings
        except (UsageError, ConfigError) as exc:  # a one-line refusal is a finding too
            check_findings = []
            assert "\n" not in str(exc) and OUT not in str(exc) and SECRET not in str(exc)
    finally:
        srv.close()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - cpu0 + kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime
    assert srv.accepted == 0, case
    for t in traces:
        assert escapes(t, [str(repo.resolve()), "/.vg/kubectl"]) == [], (case, t)
    for findings in (res.findings, check_findings):
        _assert_clean_output(findings, case)
    hostile = [f for f in res.findings if H in f.file or "hostile" in (f.obj or "") or f.rule.startswith("kustomize")]
    if expect:  # () = the case only has to end cleanly
        assert any(f.rule.startswith(expect) for f in hostile), (case, [(f.rule, f.file, f.message[:100]) for f in res.findings])
    assert cpu < 10, (case, cpu)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1 << 20, case  # KiB: under 1 GiB
