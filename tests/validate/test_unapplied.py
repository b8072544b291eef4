"""What no Flux Kustomization applies is a note (issue 19, class B), the same in every output and command.

The fixture is a cluster whose sync (the flux-system Kustomization of `flux bootstrap`) applies ./apps, and
./apps/kustomization.yaml leaves one app out (`# - ./mqtt/ks.yaml`): that app's Flux Kustomization is never
created (fluxcd/kustomize-controller@v1.9.4 acts only on Kustomizations that exist on the cluster), so its
HelmRelease whose source is gone, its broken BackupStorageLocation and its build are nothing the controllers see.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from velero_gitops.validate.engine import Options, validate_paths

from cli_util import run_cli

KS = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
      "  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n"
      "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n")
BSL = ("apiVersion: velero.io/v1\nkind: BackupStorageLocation\nmetadata:\n  name: default\n  namespace: {ns}\nspec:\n"
       "  provider: aws\n  objectStorage:\n    bucket: velero\n  config:\n    region: minio\n"
       "    s3Url: http://minio.lan:9000\n")
HR = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: mqtt\n  namespace: mqtt\nspec:\n"
      "  interval: 1h\n  chart:\n    spec:\n      chart: mosquitto\n      sourceRef:\n        kind: HelmRepository\n"
      "        name: gone\n        namespace: flux-system\n")
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mqtt\n  namespace: mqtt\nstringData:\n  PASSWORD: hunter2\n"


def _repo(tmp_path, enabled: bool):
    root = tmp_path / "repo"
    files = {
        "clusters/home/flux-system/gotk-sync.yaml": KS.format(name="flux-system", path="./clusters/home"),
        "clusters/home/apps.yaml": KS.format(name="apps", path="./apps"),
        "apps/kustomization.yaml": "resources:\n  - ./velero/bsl.yaml\n  " + ("" if enabled else "# ") + "- ./mqtt/ks.yaml\n",
        "apps/velero/bsl.yaml": BSL.format(ns="velero"),
        "apps/mqtt/ks.yaml": KS.format(name="mqtt", path="./apps/mqtt/app"),
        "apps/mqtt/app/kustomization.yaml": "resources: [hr.yaml, bsl.yaml, secret.yaml]\n",
        "apps/mqtt/app/hr.yaml": HR,
        "apps/mqtt/app/bsl.yaml": BSL.format(ns="mqtt"),
        "apps/mqtt/app/secret.yaml": SECRET,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _found(root):
    res = validate_paths([str(root)], Options(repo_root=str(root), kustomize="never", ignore_missing_schemas=True))
    return {(f.file.split("repo/", 1)[-1], f.rule, f.severity) for f in res.findings}, res


def test_a_disabled_app_is_notes_and_its_secret_in_clear_still_an_error(tmp_path):
    """Enabled, the app's findings are errors; left out of ./apps, each becomes a note except the secret in clear
    (rules.py in_git: whoever reads Git reads it), and the app's Flux Kustomization gets one note."""
    root = _repo(tmp_path, enabled=True)
    on, _ = _found(root)
    assert {("apps/mqtt/app/hr.yaml", "flux.source-ref", "error"), ("apps/mqtt/app/bsl.yaml", "policy.s3-https", "error"),
            ("apps/mqtt/app/secret.yaml", "secret.unencrypted", "error")} <= on, on
    root = _repo(tmp_path / "off", enabled=False)
    off, res = _found(root)
    assert ("apps/velero/bsl.yaml", "policy.s3-https", "error") in off  # the live app: unchanged
    assert ("apps/mqtt/app/bsl.yaml", "policy.s3-https", "note") in off
    assert ("apps/mqtt/app/secret.yaml", "secret.unencrypted", "error") in off
    assert ("apps/mqtt/ks.yaml", "flux.not-applied", "note") in off
    # the lookups of what is never applied are not made (validate/flux.py): at most a note, here none
    assert not any(f[0] == "apps/mqtt/app/hr.yaml" and f[2] != "note" for f in off), off
    notes = [f for f in res.findings if f.severity == "note"]
    assert all("not applied by any Flux Kustomization" in f.message for f in notes), notes
    # Git does not say whether a parent applied it before this change (the j0sh3rs adoption: it did, and Flux would
    # have deleted it): the note claims nothing about the cluster's past
    assert not any("never created" in f.message for f in notes), notes


def test_an_archive_nothing_reaches_is_silent(tmp_path):
    """A folder that no part of the cluster reaches (no kustomization.yaml Flux applies lists anything near it) is
    not the cluster's: no note per Flux Kustomization in it."""
    root = _repo(tmp_path, enabled=False)
    (root / "archive/old").mkdir(parents=True)
    (root / "archive/old/kustomization.yaml").write_text("resources: [ks.yaml]\n")
    (root / "archive/old/ks.yaml").write_text(KS.format(name="old", path="./archive/old/app"))
    found, _ = _found(root)
    assert not any(f[0].startswith("archive/") for f in found), found


@pytest.mark.parametrize("fmt", ["text", "json", "github", "junit"])
def test_notes_are_labelled_in_every_format_and_fail_nothing(tmp_path, fmt):
    root = _repo(tmp_path, enabled=False)
    (root / "apps/mqtt/app/secret.yaml").unlink()
    (root / "apps/mqtt/app/kustomization.yaml").write_text("resources: [hr.yaml, bsl.yaml]\n")
    (root / "apps/velero/bsl.yaml").write_text(BSL.format(ns="velero").replace("http://", "https://"))
    r = run_cli("validate", "--kustomize", "never", "--ignore-missing-schemas", "-o", fmt, str(root), cwd=root)
    assert r.code == 0, r.out + r.err
    if fmt == "text":
        assert "mqtt/app/bsl.yaml:12 BackupStorageLocation/mqtt/default /spec/config/s3Url: note: not applied by " in r.out
        assert r.out.rstrip().splitlines()[-1].startswith("2 notes;"), r.out
    elif fmt == "json":
        doc = json.loads(r.out)
        assert {f["severity"] for f in doc["findings"]} == {"note"} and doc["summary"]["notes"] == 2
        assert doc["summary"]["errors"] == doc["summary"]["warnings"] == 0
    elif fmt == "github":
        lines = [x for x in r.out.splitlines() if x.startswith("::")]
        assert len(lines) == 2 and all(x.startswith("::notice ") for x in lines), r.out
    else:
        suite = ET.fromstring(r.out)
        assert suite.get("failures") == "0"
        outs = [e.text for e in suite.iter("system-out") if e.text and ": note: " in e.text]
        assert len(outs) == 2 and all("not applied by any Flux Kustomization" in x for x in outs), r.out
