"""What a Flux source artifact leaves out of the repository: source-controller's default ignore patterns.

source-controller packs a GitRepository's checkout into the artifact the controllers build from, without the files
that fluxcd/pkg@sourceignore/v0.9.0:sourceignore/sourceignore.go excludes by default (``VCSPatterns`` and
``DefaultPatterns``: ExcludeVCS, ExcludeExt, ExcludeCI, ExcludeExtra), so Flux's own generated kustomization
(fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_generator.go scanManifests) never lists them: `.sops.yaml` beside
the manifests is not a resource. The patterns are gitignore patterns; those without a slash match a name at any
depth, ``**/`` as well, ``dir/`` a folder. A repository's own ``.sourceignore`` files are not read here.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath

_EXCLUDE_VCS = ".git/,.gitignore,.gitmodules,.gitattributes"
_EXCLUDE_EXT = "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip"
_EXCLUDE_CI = (".github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,"
               "codeship-services.yml,codeship-steps.yml")
_EXCLUDE_EXTRA = "**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml"
PATTERNS = tuple(",".join((_EXCLUDE_VCS, _EXCLUDE_EXT, _EXCLUDE_CI, _EXCLUDE_EXTRA)).split(","))
# the patterns read once: folder names (``dir/``) and one regex of the name patterns (fnmatch's own translation)
_NAMES = [p.removeprefix("**/") for p in PATTERNS]
_FOLDERS = frozenset(n.rstrip("/") for n in _NAMES if n.endswith("/"))
_NAME = re.compile("|".join(fnmatch.translate(n) for n in _NAMES if not n.endswith("/")))


def excluded(rel: str) -> bool:
    """Whether the file at ``rel`` (relative to the repository root, ``/``-separated) is not in the artifact."""
    parts = PurePosixPath(rel).parts
    return any(p in _FOLDERS for p in parts[:-1]) or any(_NAME.match(p) for p in parts)
