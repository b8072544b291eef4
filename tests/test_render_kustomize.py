"""`kubectl kustomize` builds every kustomization directory of both rendered examples (real kubectl)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from cli_util import EXAMPLES

KUBECTL = shutil.which("kubectl")


def kustomization_dirs():
    for example in EXAMPLES:
        for k in sorted(example.rglob("kustomization.yaml")):
            yield pytest.param(k.parent, id=str(k.parent.relative_to(example.parent)))


def test_kubectl_is_available():
    # In CI a missing kubectl is a failure, never a silent skip.
    assert KUBECTL, "kubectl is required on PATH for the kustomize tests"


@pytest.mark.parametrize("directory", list(kustomization_dirs()))
def test_kustomize_build(directory):
    if not KUBECTL:
        pytest.fail("kubectl missing")
    proc = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KUBECONFIG": os.devnull})
    assert proc.returncode == 0, proc.stderr
    assert "apiVersion:" in proc.stdout
