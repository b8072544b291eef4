"""[flux.min-version] The Flux features the repository uses, against the Flux it pins.

Each feature is a fact of the controller that introduced it (verified at the tags named; the Flux release
that first shipped that controller version is fluxcd/flux2's manifests/bases/<controller>/kustomization.yaml):

* ``mac_only_encrypted`` in a SOPS file: sops v3.9.0 (getsops/sops@v3.9.0:stores/stores.go) is vendored
  from kustomize-controller v1.4.0 on (its go.mod), first in Flux v2.4.0;
* ``source.toolkit.fluxcd.io/v1`` OCIRepository (our chartRef source): api/v1/ocirepository_types.go exists
  from source-controller v1.6.0 on, first in Flux v2.6.0;
* ``decryption: {provider: sops}`` without secretRef: the controller-wide ``--sops-age-secret`` key, a flag
  of kustomize-controller from v1.7.0 on (main.go), first in Flux v2.7.0.

What the repository pins is read from the files Flux itself writes: the ``# Flux Version: vX.Y.Z`` header of
gotk-components.yaml (fluxcd/flux2@v2.7.5:pkg/manifestgen/install/install.go), the controller images
(``ghcr.io/fluxcd/<controller>:vX.Y.Z``), a FluxInstance's ``spec.distribution.version`` (flux-operator), and an
OCIRepository of Flux's own install manifests, ``oci://<registry>/fluxcd/flux-manifests`` at tag ``vX.Y.Z``, which
each Flux release pushes (fluxcd/flux2@v2.7.5:.github/workflows/release.yaml release-flux-manifests) and which a
Flux Kustomization applies to keep Flux itself current.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from velero_gitops import safefile
from velero_gitops.findings import Finding
from velero_gitops.intparse import parse_int
from velero_gitops.rules import define
from velero_gitops.validate import fluxmodel
from velero_gitops.validate.documents import Obj, dig

if TYPE_CHECKING:  # types only: the engine hands the graph in
    from velero_gitops.validate.flux import Graph

RULE = define("flux.min-version", "warning", "the rendered tree uses a feature newer than the Flux version the repository pins")


@dataclass(frozen=True)
class Feature:
    what: str
    flux: tuple[int, int]  # first Flux minor that has it
    controller: str
    controller_version: tuple[int, int]


MAC_ONLY = Feature("SOPS mac_only_encrypted", (2, 4), "kustomize-controller", (1, 4))
OCI_V1 = Feature("OCIRepository source.toolkit.fluxcd.io/v1", (2, 6), "source-controller", (1, 6))
AGE_SECRET = Feature("decryption without secretRef (--sops-age-secret)", (2, 7), "kustomize-controller", (1, 7))

# a semantic version (semver.org 2.0.0 §9-10: an optional -pre-release, an optional +build that precedence ignores)
_SEMVER = r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?"
_HEADER = re.compile(rf"^# Flux Version: {_SEMVER}", re.M)
_IMAGE = re.compile(rf"/fluxcd/([a-z-]+-controller):{_SEMVER}")
_DIST = re.compile(r"^[~^>=v ]*(\d+)\.(\d+|x|\*)")
_MANIFESTS = re.compile(r"^oci://[^/]+/fluxcd/flux-manifests/?$")
_TAG = re.compile(rf"^{_SEMVER}$")


def _features(objects: list[Obj], text: Callable[[Path], str]) -> list[tuple[Feature, Obj]]:
    """(feature, an object that uses it), in the objects' order; each file is read once (the run's text)."""
    found: list[tuple[Feature, Obj]] = []
    mac_only: dict[Path, bool] = {}
    for o in objects:
        if o.kind == "OCIRepository" and o.api_version == "source.toolkit.fluxcd.io/v1":
            found.append((OCI_V1, o))
        dec = dig(o.data, "spec", "decryption")
        if (o.kind == "Kustomization" and o.api_version.startswith("kustomize.toolkit.fluxcd.io/")
                and isinstance(dec, dict) and dec.get("provider") == "sops" and not dec.get("secretRef")):
            found.append((AGE_SECRET, o))
        if o.encrypted and o.path is not None:
            if o.path not in mac_only:
                mac_only[o.path] = _mac_only(text(o.path))
            if mac_only[o.path]:
                found.append((MAC_ONLY, o))
    return found


def _safe_text(path: Path) -> str:
    try:  # a file the reader already read: a regular file, within its limits
        return safefile.scan_text(safefile.read_bytes(path))
    except OSError:
        return ""


def _mac_only(text: str) -> bool:
    return re.search(r"^\s+mac_only_encrypted:\s*true\s*$", text, re.M) is not None


Version = tuple[int, int, int, tuple]  # semver precedence (_version); compared as tuples
Pin = tuple[str, "Version | None", "Version | None", Obj]


def _pins(objects: list[Obj], text: Callable[[Path], str]) -> list[Pin]:
    """(what, Flux minor or None, controller minor or None, object) for each pin found."""
    pins: list[Pin] = []
    headers: dict[Path, bool] = {}
    for o in objects:
        if o.path is not None and o.path.name == "gotk-components.yaml" and o.path not in headers:
            m = _HEADER.search(text(o.path)[:2000])
            headers[o.path] = m is not None
            if m:
                pins += _pin(f"{o.path.name} header", m, None, o)
        if o.kind == "Deployment" and not (o.path is not None and headers.get(o.path)):  # the header already says which Flux
            for c in dig(o.data, "spec", "template", "spec", "containers") or []:
                m = _IMAGE.search(str(c.get("image", ""))) if isinstance(c, dict) else None
                if m:
                    pins += _pin(m[1], m, "controller", o, first=2)
        if o.kind == "OCIRepository" and _MANIFESTS.match(fluxmodel.source_url(o) or ""):
            m = _TAG.match(str(dig(o.data, "spec", "ref", "tag") or ""))
            if m:
                pins += _pin("OCIRepository flux-manifests tag", m, None, o)
        if fluxmodel.is_kind(o, fluxmodel.OPERATOR, "FluxInstance"):
            version = fluxmodel.flux_instance(o).version or ""
            m = _TAG.match(version) or _DIST.match(version)  # an exact version, or a range: its lowest release
            if m and m[2].isdigit():
                pins += _pin("FluxInstance spec.distribution.version", m, None, o)
    return pins


def _pin(what: str, m: re.Match, controller: str | None, o: Obj, first: int = 1) -> list[Pin]:
    """A pin of the version matched from group ``first`` on (major, minor, patch, pre-release; of Flux, or of a
    controller), none when a number is beyond what any release has (more than 64 bits: intparse)."""
    groups = m.groups()[first - 1:]
    v = _version(*groups[:4], *([None] * (4 - len(groups[:4]))))
    if v is None:
        return []
    return [(what, None, v, o)] if controller else [(what, v, None, o)]


def _version(major: str, minor: str, patch: str | None, pre: str | None) -> Version | None:
    """Semver precedence (semver.org 2.0.0 §11): major, minor, patch numerically, then a pre-release below the
    release it precedes (2.0.0-rc.1 < 2.0.0), its dot-separated identifiers compared numerically when numeric, in
    ASCII order otherwise, numeric ones first, a shorter list first when all before are equal."""
    nums = [parse_int(major), parse_int(minor), parse_int(patch) if patch else 0]
    if any(n is None for n in nums):
        return None
    ids: list[tuple[int, int | str]] = []
    for part in (pre.split(".") if pre else []):
        n = parse_int(part) if part.isdigit() else None
        ids.append((0, n) if n is not None else (1, part))
    return (nums[0], nums[1], nums[2], (0, *ids) if pre else (1,))  # type: ignore[return-value]


def _release(minor: tuple[int, int]) -> Version:
    """The first release of a Flux (or controller) minor, x.y.0."""
    return (minor[0], minor[1], 0, (1,))


def _shown(v: Version) -> str:
    """major.minor for a release; a pre-release in full, since it precedes its release (2.0.0-rc.1)."""
    if v[3] == (1,):
        return f"{v[0]}.{v[1]}"
    return f"{v[0]}.{v[1]}.{v[2]}-" + ".".join(str(x) for _, x in v[3][1:])


def check(objects: list[Obj], text: Callable[[Path], str] | None = None, graph: Graph | None = None) -> list[Finding]:
    """Each pin against the features of its own cluster: a cluster's controllers are the ones its gotk-components.yaml
    (or FluxInstance) installs, so a pin is compared only with objects that share its cluster in the graph
    (Graph.same_cluster), and only what Flux applies (an archived tree's old pin installs nothing). ``text(path)``: the
    run's text of a file it read (validate.run.Run.text; every file is read once)."""
    read = _safe_text if text is None else _or_empty(text)
    pins = _pins(objects, read)
    if not pins:  # nothing pins a Flux version: no file is read again for its sops metadata
        return []
    features = _features(objects, read)
    out = []
    for what, flux, controller, o in pins:
        first: dict[str, tuple[Feature, Obj]] = {}
        for f, user in features:
            if graph is None or _same_cluster(graph, o, user):
                first.setdefault(f.what, (f, user))
        for f, user in first.values():
            too_old = (flux is not None and flux < _release(f.flux)) or (
                controller is not None and what == f.controller and controller < _release(f.controller_version))
            if not too_old:
                continue
            have = f"Flux {_shown(flux)}" if flux else f"{what} v{_shown(controller)}"  # type: ignore[arg-type]
            need = f"Flux {f.flux[0]}.{f.flux[1]} ({f.controller} v{f.controller_version[0]}.{f.controller_version[1]})"
            out.append(o.finding(
                "", f"{have} ({what}) is older than what {user.kind} {user.name} in {user.file} uses: {f.what} "
                f"needs {need}; upgrade Flux (flux install --export > gotk-components.yaml, or the FluxInstance "
                "version)", RULE, "warning"))
    return out


def _or_empty(text: Callable[[Path], str]) -> Callable[[Path], str]:
    def read(path: Path) -> str:
        try:
            return text(path)
        except (OSError, ValueError):
            return ""
    return read


def _same_cluster(graph: Graph, pin: Obj, user: Obj) -> bool:
    """A pin Flux never applies installs no controllers, and what it never applies uses no feature; a pin installs the
    controllers of its own cluster only, so a tree no root reaches is judged on no cluster's pin (Graph.same_cluster)."""
    return not graph.dead(pin) and not graph.dead(user) and graph.same_cluster(pin, user)
