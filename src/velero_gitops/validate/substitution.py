"""[flux.substitute] A `${...}` that Flux's postBuild substitution would replace, meant for another tool.

kustomize-controller runs envsubst on every object of a Kustomization that has postBuild variables, its own
or patched in by a parent Kustomization (home-ops repositories patch postBuild into every child), unless the
object carries `kustomize.toolkit.fluxcd.io/substitute: disabled` as a label or annotation
(fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go SubstituteVariables, kustomize-controller v1.9.4).
A Grafana dashboard's `${datasource}` then becomes an empty string. The rendered objects carry the annotation;
this rule finds the others (and a tree rendered before it).
"""

from __future__ import annotations

import re

from velero_gitops import safefile
from velero_gitops.findings import Finding
from velero_gitops.validate.documents import dig

RULE = "flux.substitute"
KEY = "kustomize.toolkit.fluxcd.io/substitute"
_VAR = re.compile(r"(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*")  # what envsubst replaces; `$${x}` is an escape


def _disabled(o) -> bool:
    md = o.data.get("metadata")
    return isinstance(md, dict) and any(
        isinstance(m, dict) and m.get(KEY) == "disabled" for m in (md.get("labels"), md.get("annotations")))


def _substitutes(g, ks) -> tuple[bool, object]:
    """(postBuild variables are set on ``ks``, by itself or by a parent's patch; the patching parent or None)."""
    own = dig(ks.data, "spec", "postBuild")
    if isinstance(own, dict) and (own.get("substitute") or own.get("substituteFrom")):
        return True, None
    patched, parent = g.patched(ks, "postBuild")
    return bool(isinstance(patched, dict) and (patched.get("substitute") or patched.get("substituteFrom"))), parent


def check(g, objects) -> list[Finding]:
    out = []
    texts: dict[object, str] = {}
    for o in objects:
        if o.path is None or _disabled(o) or o.encrypted:
            continue
        for ks in g.applied_by.get(g.real(o.path), []):
            on, parent = _substitutes(g, ks)
            if not on:
                continue
            rp = g.real(o.path)
            if rp not in texts:
                try:
                    texts[rp] = safefile.read_bytes(rp).decode("utf-8", "replace")
                except OSError:
                    texts[rp] = ""
            if not _VAR.search(texts[rp]):
                break
            via = f" (patched in by Flux Kustomization {g.ns_of(parent)}/{getattr(parent, 'name', '')})" if parent is not None else ""
            out.append(o.finding(
                "", f"Flux Kustomization {g.ns_of(ks)}/{ks.name} substitutes postBuild variables{via} into this "
                "object, whose file holds `${...}` meant for another tool (a Grafana `${datasource}`): it would be "
                f"replaced by an empty string. Add the annotation `{KEY}: disabled` (velero-gitops render does), "
                "or write `$${...}`", RULE, "warning"))
            break
    return out
