"""What `velero-gitops --version` reports: the tool, the versions it renders, and the tools it found."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from velero_gitops import tools


def _kubectl() -> str:
    path = tools.which("kubectl")
    if not path:
        return "not found (kustomize builds are skipped by validate --kustomize auto)"
    try:
        out = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True,
                             timeout=10, stdin=subprocess.DEVNULL).stdout
        data = json.loads(out)
        client = data.get("clientVersion", {}).get("gitVersion", "?")
        return f"{client}, kustomize {data.get('kustomizeVersion', '?')} ({path})"
    except (OSError, subprocess.TimeoutExpired, ValueError, AttributeError):
        return f"found at {path}, version unknown"


def _sops() -> str:
    from velero_gitops.errors import VeleroGitopsError
    from velero_gitops.secrets.sops import find_sops, locate

    try:
        path, where = locate()
        return f"{find_sops().version_text} ({path}, from {where})"
    except VeleroGitopsError as exc:
        return f"not usable: {exc}"


def _bundle() -> str:
    provenance = Path(__file__).resolve().parent.parent / "validate" / "bundle" / "provenance.json"
    try:
        data = json.loads(provenance.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "missing"
    kinds = sum(len(s.get("kinds", [])) for s in data.get("sources", []))
    packages = ", ".join(f"{s['package']} {s['version']}" for s in data.get("sources", []))
    return f"Kubernetes {data.get('kubernetes_version', '?')}, {kinds} kinds ({packages})"


def _compat() -> str:
    from velero_gitops.config import compat

    renders, known = compat.supported_charts(), compat.known_charts()
    return (f"renders charts {renders[0]}–{renders[-1]}; knows charts {known[0]}–{known[-1]} and Velero "
            f"{compat.known_velero_range()} (from the upstream tags, scripts/derive_compat.py)")


def report() -> str:
    from velero_gitops import __version__
    from velero_gitops.config.model import VeleroConfig

    velero = VeleroConfig()
    rows = [
        ("velero-gitops", __version__),
        ("renders chart", f"vmware-tanzu/velero {velero.chart_version} (Velero {velero.velero_version}; "
                          "set velero.imageTag for a newer patch)"),
        ("AWS plugin", velero.aws_plugin_image),
        ("version table", _compat()),
        ("schema bundle", _bundle()),
        ("sops", _sops()),
        ("kubectl", _kubectl()),
    ]
    width = max(len(k) for k, _ in rows)
    return "".join(f"{k + ':':<{width + 1}} {v}\n" for k, v in rows)
