"""[flux.values-ignored] A HelmRelease whose ``spec.values`` is not a mapping: helm-controller installs the chart with
its defaults.

The CRD leaves ``spec.values`` untyped (``x-kubernetes-preserve-unknown-fields``, apiextensionsv1.JSON), so the API
server admits a list or a scalar there. helm-controller reads it with ``GetValues``, which unmarshals it into a map and
drops the error (fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go GetValues): a list, a string or a number
is no values at all, silently, and the release runs on the chart's defaults. Absent, null and ``{}`` mean the same
and say so; anything else is reported.
"""

from __future__ import annotations

from velero_gitops.findings import Finding
from velero_gitops.rules import define
from velero_gitops.validate import fluxmodel
from velero_gitops.validate.documents import Obj
from velero_gitops.validate.flux import Graph

RULE = define("flux.values-ignored", "warning", "a HelmRelease whose `spec.values` is not a mapping (a list, a string, "
              "a number): the API server admits it, and helm-controller drops it and installs the chart's defaults")



def _shape(value: object) -> str:
    """The value's shape in words (the loaders' own sequence and scalar subclasses included)."""
    for kind, words in ((list, "a list"), (str, "a string"), (bool, "a boolean"), ((int, float), "a number")):
        if isinstance(value, kind):
            return words
    return "not a mapping"


def check(g: Graph, objects: list[Obj]) -> list[Finding]:
    out: list[Finding] = []
    for o in objects:
        if not fluxmodel.is_kind(o, fluxmodel.HELM, "HelmRelease") or not isinstance(o.data, dict):
            continue
        spec = o.data.get("spec")
        if not isinstance(spec, dict) or "values" not in spec:
            continue
        values = spec["values"]
        if values is None or isinstance(values, dict):
            continue
        out.append(o.finding("/spec/values", f"spec.values is {_shape(values)}, not a mapping of chart values: helm-controller "
                             "drops it without an error and installs the chart with its defaults; write the values "
                             "as a mapping (key: value), or remove spec.values", RULE, RULE.severity))
    return out
