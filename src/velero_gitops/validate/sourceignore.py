"""What a Flux source artifact leaves out of the repository: source-controller's default ignore patterns.

source-controller packs a GitRepository's checkout into the artifact the controllers build from, without the files
that fluxcd/pkg@sourceignore/v0.9.0:sourceignore/sourceignore.go excludes by default (``VCSPatterns`` and
``DefaultPatterns``: ExcludeVCS, ExcludeExt, ExcludeCI, ExcludeExtra), so Flux's own generated kustomization
(fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests) never lists them: `.sops.yaml` beside
the manifests is not a resource. The patterns are gitignore patterns; those without a slash match a name at any
depth, ``**/`` as well, ``dir/`` a folder. A repository's own ``.sourceignore`` files are not read here.
"""

from __future__ import annotations

from pathlib import PurePosixPath

_EXCLUDE_VCS = ".git/,.gitignore,.gitmodules,.gitattributes"
_EXCLUDE_EXT = "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip"
_EXCLUDE_CI = (".github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,"
               "codeship-services.yml,codeship-steps.yml")
_EXCLUDE_EXTRA = "**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml"
PATTERNS = tuple(",".join((_EXCLUDE_VCS, _EXCLUDE_EXT, _EXCLUDE_CI, _EXCLUDE_EXTRA)).split(","))
# the patterns read once, in the three shapes they have: folder names (``dir/``), names, and ``*`` + a suffix (a
# gitignore ``*`` matches any run of characters but ``/``, so within one name it is a suffix test; no regex to run)
_NAMES = [p.removeprefix("**/") for p in PATTERNS]
_FOLDERS = frozenset(n.rstrip("/") for n in _NAMES if n.endswith("/"))
_EXACT = frozenset(n for n in _NAMES if not n.endswith("/") and "*" not in n)
_SUFFIXES = tuple(n[1:] for n in _NAMES if n.startswith("*") and "*" not in n[1:])
assert len(_FOLDERS) + len(_EXACT) + len(_SUFFIXES) == len(_NAMES), "a pattern of another shape: model it"


def excluded(rel: str) -> bool:
    """Whether the file at ``rel`` (relative to the repository root, ``/``-separated) is not in the artifact."""
    parts = PurePosixPath(rel).parts
    return any(p in _FOLDERS for p in parts[:-1]) or any(p in _EXACT or p.endswith(_SUFFIXES) for p in parts)
