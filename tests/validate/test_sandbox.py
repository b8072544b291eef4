"""The kustomize sandbox: a build sees the repository's files and nothing else, under limits.

The model is Flux's secure file system, fluxcd/pkg@kustomize/v1.35.4:kustomize/filesys/fs_secure.go
(MakeFsOnDiskSecure: every path must be inside the root), reached from
fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go
(generator.SecureBuild). kubectl runs with ``--load-restrictor LoadRestrictionsNone`` as Flux does,
so every probe below would read or fetch outside the repository if the sandbox did not hold: these
tests run kubectl straight on the hostile tree (no planner in front of it) under strace, and assert
that no file outside the repository was opened, no program but kubectl ran and nothing connected
outside the sandbox's own loopback (a listener on the host's loopback counts connections).
"""

from __future__ import annotations

import os

import pytest

from velero_gitops.errors import UsageError
from velero_gitops.validate import kustomize, sandbox

from cli_util import require_kubectl
from trace_fixtures import Listener, escapes, traced

MARK = "OUTSIDE-MARKER-7f3a"
K = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  a: b\n"


def _gen(files: str) -> str:
    return K + f"configMapGenerator:\n  - name: g\n    files:\n      - {files}\n"


# Each probe: the kustomization (and extra repository files) of a build that reaches outside when unconfined.
# {out} is a folder outside the repository holding secret.txt; {port} a listener on the host's loopback.
PROBES = {
    "generator-file-absolute": {"app/kustomization.yaml": _gen("data={out}/secret.txt")},
    "generator-file-dotdot": {"app/kustomization.yaml": _gen("data=../../outside/secret.txt")},
    "generator-file-windows-prefix": {"app/kustomization.yaml": _gen("data=c:/../..{out}/secret.txt")},
    "generator-env-absolute": {"app/kustomization.yaml": K + "configMapGenerator:\n  - name: g\n    envs: [{out}/secret.txt]\n"},
    "secret-generator-absolute": {"app/kustomization.yaml": K + "secretGenerator:\n  - name: g\n    files: [{out}/secret.txt]\n"},
    "inline-generator-string": {"app/kustomization.yaml": K + "generators:\n  - |\n    apiVersion: builtin\n"
                                "    kind: ConfigMapGenerator\n    metadata:\n      name: g\n    files:\n"
                                "      - data={out}/secret.txt\n"},
    "generator-config-file": {"app/kustomization.yaml": K + "generators: [gen.yaml]\n",
                              "app/gen.yaml": "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: g\n"
                                              "files: [{out}/secret.txt]\n"},
    "patch-transformer-absolute": {"app/kustomization.yaml": K + "resources: [cm.yaml]\ntransformers: [t.yaml]\n",
                                   "app/cm.yaml": CM,
                                   "app/t.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\n"
                                                 "path: {out}/secret.txt\ntarget:\n  kind: ConfigMap\n"},
    "resources-absolute": {"app/kustomization.yaml": K + "resources: [{out}/cm.yaml]\n"},
    "resources-dotdot": {"app/kustomization.yaml": K + "resources: [../../outside/cm.yaml]\n"},
    "resources-system-file": {"app/kustomization.yaml": K + "resources: [/etc/passwd]\n"},
    "configurations-windows-prefix": {"app/kustomization.yaml": K + "configurations: [c:/../..{out}/secret.txt]\n"},
    "crds-absolute": {"app/kustomization.yaml": K + "crds: [{out}/secret.txt]\n"},
    "psm-dotdot": {"app/kustomization.yaml": K + "resources: [cm.yaml]\npatchesStrategicMerge: [../../outside/cm.yaml]\n",
                   "app/cm.yaml": CM},
    "patches-path-absolute": {"app/kustomization.yaml": K + "resources: [cm.yaml]\npatches:\n  - path: {out}/cm.yaml\n",
                              "app/cm.yaml": CM},
    "json6902-absolute": {"app/kustomization.yaml": K + "resources: [cm.yaml]\npatchesJson6902:\n  - target: {{kind: ConfigMap,"
                          " name: a, version: v1}}\n    path: {out}/secret.txt\n", "app/cm.yaml": CM},
    "replacements-path-absolute": {"app/kustomization.yaml": K + "resources: [cm.yaml]\nreplacements:\n  - path: {out}/secret.txt\n",
                                   "app/cm.yaml": CM},
    "openapi-path-absolute": {"app/kustomization.yaml": K + "resources: [cm.yaml]\nopenapi:\n  path: {out}/secret.txt\n",
                              "app/cm.yaml": CM},
    "components-absolute": {"app/kustomization.yaml": K + "components: [{out}]\n"},
    "symlink-file-out": {"app/kustomization.yaml": K + "resources: [link.yaml]\n", "app/link.yaml": "@link:{out}/cm.yaml"},
    "symlink-dir-out": {"app/kustomization.yaml": K + "resources: [base]\n", "app/base": "@link:{out}"},
    "symlink-kustomization-out": {"app/kustomization.yaml": "@link:{out}/kustomization.yaml"},
    "generator-dev-zero": {"app/kustomization.yaml": _gen("data=/dev/zero")},
    "generator-proc-environ": {"app/kustomization.yaml": _gen("data=/proc/self/environ")},
    "generator-proc-root": {"app/kustomization.yaml": _gen("data=/proc/1/root{out}/secret.txt")},
    "remote-http": {"app/kustomization.yaml": K + "resources: [http://127.0.0.1:{port}/x.yaml]\n"},
    "remote-git": {"app/kustomization.yaml": K + "resources: ['git::http://127.0.0.1:{port}/r.git']\n"},
    "remote-git-ssh": {"app/kustomization.yaml": K + "resources: ['ssh://git@127.0.0.1:{port}/r.git']\n"},
    "remote-github-short": {"app/kustomization.yaml": K + "resources: [github.com/example/repo/deploy?ref=main]\n"},
    "remote-in-generator-dir": {"app/kustomization.yaml": K + "generators: [gen]\n",
                                "app/gen/kustomization.yaml": K + "resources: [http://127.0.0.1:{port}/g.yaml]\n"},
    "helm-chart-exec": {"app/kustomization.yaml": K + "helmCharts:\n  - name: x\n    repo: http://127.0.0.1:{port}\n"
                        "    version: 1.0.0\nhelmGlobals:\n  chartHome: {out}\n"},
    "exec-krm-function": {"app/kustomization.yaml": K + "transformers: [fn.yaml]\n",
                          "app/fn.yaml": "apiVersion: x/v1\nkind: Fn\nmetadata:\n  name: f\n  annotations:\n"
                                         "    config.kubernetes.io/function: |\n      exec:\n        path: /bin/sh\n"},
    "container-krm-function": {"app/kustomization.yaml": K + "transformers: [fn.yaml]\n",
                               "app/fn.yaml": "apiVersion: x/v1\nkind: Fn\nmetadata:\n  name: f\n  annotations:\n"
                                              "    config.kubernetes.io/function: |\n      container:\n"
                                              "        image: example.org/fn:1\n        network: true\n"},
    "legacy-plugin-dir": {"app/kustomization.yaml": K + "transformers: [p.yaml]\n",
                          "app/p.yaml": "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: p\n"},
}


def _make(tmp_path, files: dict[str, str], port: int):
    out = tmp_path / "outside"
    out.mkdir(parents=True)
    (out / "secret.txt").write_text(f"{MARK}\n")
    (out / "cm.yaml").write_text(CM.replace("a: b", f"a: {MARK}"))
    (out / "kustomization.yaml").write_text(K + "resources: [cm.yaml]\n")
    repo = tmp_path / "repo"
    for rel, text in files.items():
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        text = text.format(out=out, port=port)
        if text.startswith("@link:"):
            p.symlink_to(text[6:])
        else:
            p.write_text(text)
    return repo, out


@pytest.mark.parametrize("name", sorted(PROBES))
def test_build_stays_inside_the_sandbox(tmp_path, monkeypatch, name):
    """kubectl on the hostile tree itself, traced: nothing outside the repository is read, run or reached."""
    kubectl = require_kubectl()
    srv = Listener()
    try:
        repo, out = _make(tmp_path / "t", PROBES[name], srv.port)
        traces = traced(monkeypatch, tmp_path)
        ok, text = kustomize.run_kubectl(kubectl, repo / "app", root=repo)
    finally:
        srv.close()
    assert MARK not in text and "root:x:0:0" not in text
    assert srv.accepted == 0
    assert len(traces) == 1 and escapes(traces[0], [str(repo), sandbox.KUBECTL]) == []


def test_the_trace_check_can_fail(tmp_path, monkeypatch):
    """The harness itself: a build given the outside folder (bound into the sandbox) is reported."""
    kubectl = require_kubectl()
    repo, out = _make(tmp_path, PROBES["generator-file-absolute"], 1)
    traces = traced(monkeypatch, tmp_path)
    bwrap = sandbox.bwrap_path()
    assert bwrap is not None
    res = sandbox.run(bwrap, kubectl, {repo: repo, out: out},
                      ["kustomize", "--load-restrictor", "LoadRestrictionsNone", str(repo / "app")], sandbox.Deadline())
    assert res.ok and MARK in res.out
    assert any(str(out) in e for e in escapes(traces[0], [str(repo), sandbox.KUBECTL]))


def _bomb(depth: int = 7) -> str:
    """Ten-fold aliases over a fat leaf: the alias ratio stays under go-yaml's excessive-aliasing check
    (gopkg.in/yaml.v3 decode.go allowedAliasRatio), so only a memory cap stops it."""
    lines = ["a0: &a0 [" + ", ".join(["xxxxxxxx"] * 400) + "]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}]" for i in range(1, depth)]
    return "\n".join(lines)


def test_memory_is_capped(tmp_path):
    """An alias bomb inside an inline patch string (our YAML reader never sees it): kubectl reaches the
    memory cap and stops (unconfined it takes gigabytes)."""
    kubectl = require_kubectl()
    patch = "      " + "\n      ".join(["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: a", *_bomb().splitlines()])
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "cm.yaml").write_text(CM)
    (repo / "app" / "kustomization.yaml").write_text(K + "resources: [cm.yaml]\npatches:\n  - patch: |\n" + patch + "\n")
    ok, text = kustomize.run_kubectl(kubectl, repo / "app", root=repo)
    assert not ok and text == f"kustomize build stopped: it reached the memory limit of {sandbox.MEMORY >> 20} MiB"


def test_a_fifo_ends_at_the_time_limit(tmp_path):
    """A FIFO listed as a resource blocks kubectl forever: the build time limit ends it."""
    kubectl = require_kubectl()
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    os.mkfifo(repo / "app" / "cm.yaml")
    (repo / "app" / "kustomization.yaml").write_text(K + "resources: [cm.yaml]\n")
    bwrap = sandbox.bwrap_path()
    assert bwrap is not None
    res = sandbox.run(bwrap, kubectl, {repo: repo}, ["kustomize", str(repo / "app")], sandbox.Deadline(), timeout=1)
    assert not res.ok and res.limit == "the build time limit of 1s"


def test_the_deadline_is_for_the_whole_run(tmp_path):
    kubectl = require_kubectl()
    bwrap = sandbox.bwrap_path()
    assert bwrap is not None
    spent = sandbox.Deadline(0)
    res = sandbox.run(bwrap, kubectl, {tmp_path: tmp_path}, ["kustomize", str(tmp_path)], spent)
    assert not res.ok and "deadline of 0s is spent" in (res.limit or "")


def test_output_is_capped(tmp_path, monkeypatch):
    kubectl = require_kubectl()
    monkeypatch.setattr(sandbox, "MAX_OUTPUT", 4096)
    (tmp_path / "big.txt").write_text("x" * 20000)
    (tmp_path / "kustomization.yaml").write_text(K + "configMapGenerator:\n  - name: g\n    files: [big.txt]\n")
    bwrap = sandbox.bwrap_path()
    assert bwrap is not None
    res = sandbox.run(bwrap, kubectl, {tmp_path: tmp_path}, ["kustomize", str(tmp_path)], sandbox.Deadline())
    assert not res.ok and res.limit == "the output limit of 4096 bytes"


def test_invalid_utf8_in_kubectls_error_is_replaced(tmp_path):
    kubectl = require_kubectl()
    (tmp_path / "kustomization.yaml").write_bytes(K.encode() + b"resources: [\xff\xfe.yaml]\n")
    ok, text = kustomize.run_kubectl(kubectl, tmp_path)
    assert not ok and "\ufffd" in text or "\\x" in text or not ok
    assert kustomize.clean_message(text).isprintable()


@pytest.mark.parametrize("why", ["no bwrap", "bwrap cannot make namespaces"])
def test_no_sandbox_refuses_builds_with_one_line(tmp_path, monkeypatch, why):
    """No silent fall back to an unconfined build: one line naming --kustomize never."""
    kubectl = require_kubectl()
    sandbox.probe.cache_clear()
    if why == "no bwrap":
        monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    else:
        fake = tmp_path / "bwrap"
        fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
        fake.chmod(0o755)
        monkeypatch.setattr(sandbox, "bwrap_path", lambda: str(fake))
    (tmp_path / "kustomization.yaml").write_text(K + "resources: []\n")
    with pytest.raises(UsageError) as exc:
        kustomize.run_kubectl(kubectl, tmp_path)
    sandbox.probe.cache_clear()
    msg = str(exc.value)
    assert "--kustomize never" in msg and "\n" not in msg and "sandbox" in msg


def test_the_sandbox_probe_runs_only_after_a_failed_build(tmp_path, monkeypatch):
    """A build that succeeded shows that the sandbox starts here, so a passing run starts no `kubectl version` in
    one (issue 23: it was one bwrap and kubectl start-up of five in a cold `check`); a failed build asks the probe
    whether the sandbox or the build failed, and the build's own error is what comes back."""
    kubectl = require_kubectl()
    sandbox.probe.cache_clear()
    asked: list[str | None] = []
    real = sandbox.probe
    monkeypatch.setattr(sandbox, "probe", lambda bwrap, k: asked.append(bwrap) or real(bwrap, k))
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "kustomization.yaml").write_text(K + "resources: [cm.yaml]\n")
    (good / "cm.yaml").write_text(CM)
    (bad / "kustomization.yaml").write_text(K + "resources: [missing.yaml]\n")
    ok, out = kustomize.run_kubectl(kubectl, good)
    assert ok and "name: a" in out and asked == []
    ok, out = kustomize.run_kubectl(kubectl, bad)
    real.cache_clear()
    assert not ok and "missing.yaml" in out and asked == [sandbox.bwrap_path()]


@pytest.mark.parametrize(("sig", "code"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_signal_mid_build_removes_every_mirror(tmp_path, sig, code):
    """B14 (probe 36): SIGTERM (a CI job cancelled, `timeout`) or SIGHUP while builds run. Python's default action
    ends the process without unwinding, which left each build's mirror (a copy of the repository's files) in
    /tmp. The CLI turns both into errors.Terminated; sandbox.stopped_on_unwind kills the running sandboxes (their
    own sessions: the signal does not reach them) and cancels the queued builds; every mirror is removed."""
    import signal
    import subprocess
    import sys
    import time

    require_kubectl()
    repo, tmp = tmp_path / "repo", tmp_path / "tmp"
    tmp.mkdir()
    for i in range(40):
        d = repo / f"k{i}"
        d.mkdir(parents=True)
        (d / "kustomization.yaml").write_text(K + "resources: [cm.yaml]\n")
        (d / "cm.yaml").write_text(CM.replace("name: a", f"name: c{i}"))
    proc = subprocess.Popen([sys.executable, "-m", "velero_gitops", "validate", "--no-kustomize-cache",
                             "--ignore-missing-schemas", str(repo)], cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(3000):  # until the first mirror exists (polling, not a time limit on the tool)
            if any(p.name.startswith("vg-kustomize-") for p in tmp.iterdir()) or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before a build started"
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, out + err
    assert err.strip() == "terminated" and "Traceback" not in err
    assert [p.name for p in tmp.iterdir() if p.name.startswith("vg-kustomize-")] == []


def test_the_readme_states_the_sandbox_limits_the_code_sets():
    """README's security section quotes each build's limits: they are sandbox.py's constants (one source), so a
    change to one without the other fails here (before: README said a 1 GiB address space, MEMORY was 2 GiB)."""
    from pathlib import Path

    text = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    gib, mib = sandbox.MEMORY / (1 << 30), sandbox.MAX_OUTPUT >> 20
    stated = (f"Each build has a {gib:g} GiB address space, {sandbox.CPU_SECONDS} CPU seconds, {mib} MiB of output "
              f"and {sandbox.BUILD_SECONDS} s, and all builds of one run share a {sandbox.RUN_SECONDS} s deadline")
    assert stated in text
