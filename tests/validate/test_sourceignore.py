"""source-controller's default ignore patterns (fluxcd/pkg@sourceignore/v0.9.0:sourceignore/sourceignore.go
ExcludeVCS, ExcludeExt, ExcludeCI, ExcludeExtra; gitignore semantics: a pattern without a slash matches at any
depth, `dir/` a folder)."""

from __future__ import annotations

import pytest

from velero_gitops.validate import sourceignore


@pytest.mark.parametrize("rel,out", [
    (".sops.yaml", True), ("kubernetes/.sops.yaml", True), ("a/b/.flux.yaml", True), (".github/workflows/ci.yaml", True),
    ("cloudbuild.yaml", True), ("x/logo.png", True), ("kubernetes/apps/ks.yaml", False), ("sops.yaml", False),
    ("github/ci.yaml", False), ("kubernetes/.hidden.yaml", False),
])
def test_default_patterns(rel, out):
    assert sourceignore.excluded(rel) is out
