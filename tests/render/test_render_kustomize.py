"""`kubectl kustomize` builds every kustomization directory of both rendered examples (real kubectl)."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from cli_util import EXAMPLES, require_kubectl


def kustomization_dirs():
    for example in EXAMPLES:
        for k in sorted(example.rglob("kustomization.yaml")):
            yield pytest.param(k.parent, id=str(k.parent.relative_to(example.parent)))


def _ids(docs) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in docs if d}


@pytest.mark.parametrize("directory", list(kustomization_dirs()))
def test_kustomize_build(directory):
    """The build succeeds and holds every object of every file the kustomization lists as a resource."""
    proc = subprocess.run([require_kubectl(), "kustomize", str(directory)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "KUBECONFIG": os.devnull})
    assert proc.returncode == 0, proc.stderr
    built = _ids(yaml.safe_load_all(proc.stdout))
    assert built, proc.stdout
    listed = yaml.safe_load((directory / "kustomization.yaml").read_text()).get("resources") or []
    for res in listed:
        path = directory / res
        if path.is_file():
            assert _ids(yaml.safe_load_all(path.read_text())) <= built, res
