"""Does the repository's own Prometheus load the rendered PrometheusRule and scrape the rendered monitors?

The Prometheus Operator loads a PrometheusRule (scrapes a ServiceMonitor, a PodMonitor) only when the Prometheus
object's selector for that kind selects its labels and its namespace selector selects its namespace
(prometheus-operator/prometheus-operator@v0.93.0:pkg/apis/monitoring/v1/prometheus_types.go: ruleSelector "a null
label selector matches no objects", ruleNamespaceSelector "a null label selector matches the current namespace
only"; the same for serviceMonitor* and podMonitor*). The selector semantics live in validate/labelselector.py.

The Prometheus objects come from what the repository applies (wiring.applied_objects): a ``Prometheus``
(monitoring.coreos.com), or a HelmRelease of kube-prometheus-stack, whose template makes the selectors from the
values (prometheus-community/helm-charts@kube-prometheus-stack-88.5.3:charts/kube-prometheus-stack/templates/
prometheus/prometheus.yaml): a non-empty ``prometheusSpec.<kind>Selector`` as given; else, with
``<kind>SelectorNilUsesHelmValues`` (default true), ``matchLabels: {release: <release name>}``; else ``{}``. The
namespace selectors are the value when non-empty, else ``{}``. The release name is helm-controller's
(fluxcd/helm-controller@v1.6.3:api/v2/helmrelease_types.go GetReleaseName: spec.releaseName, else
<targetNamespace>-<name> with a targetNamespace, else the name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from velero_gitops.rules import define
from velero_gitops.validate.documents import dig, mapping
from velero_gitops.validate.fluxrules.crd_order import chart_name

if TYPE_CHECKING:
    from velero_gitops.config.model import Config

UNSELECTED = define("metrics.not-selected", "warning", "the repository's Prometheus does not select the rendered "
                    "PrometheusRule, ServiceMonitor or PodMonitor: no alert is loaded, Velero is not scraped "
                    "(`metrics.additionalLabels` adds the labels it selects)", needs_config=True)

GROUP = "monitoring.coreos.com"  # the API group of the rendered kinds, whose CRDs the Prometheus Operator brings
# the rendered kinds -> the prefix of the Prometheus fields that select them
KINDS = {"PrometheusRule": "rule", "ServiceMonitor": "serviceMonitor", "PodMonitor": "podMonitor"}
_KPS_CHART = "kube-prometheus-stack"


@dataclass(frozen=True)
class Prometheus:
    where: str  # "Prometheus ns/name (file:line)" or "HelmRelease ns/name (file:line)"
    namespace: str  # where the Prometheus object lives
    selectors: dict[str, Any]  # "rule" -> selector (None: nil), "ruleNamespace" -> ..., per prefix of KINDS


def _kps_selectors(values: dict[str, Any], release: str) -> dict[str, Any]:
    spec = mapping(mapping(values, "prometheus"), "prometheusSpec")
    out: dict[str, Any] = {}
    for prefix in KINDS.values():
        given = spec.get(f"{prefix}Selector")
        if given:  # a Go template `if`: an empty map is false
            out[prefix] = given
        elif spec.get(f"{prefix}SelectorNilUsesHelmValues", True) is not False:
            out[prefix] = {"matchLabels": {"release": release}}
        else:
            out[prefix] = {}
        out[f"{prefix}Namespace"] = spec.get(f"{prefix}NamespaceSelector") or {}
    return out


def read(root: Path, sources: list[str], g: Any = None, view: Any = None) -> list[Prometheus]:
    """The Prometheus instances the repository at ``root`` applies, with the selectors they end up with; none when
    the selectors of one cannot be known from the files (no claim is better than a wrong one). With ``view``
    (wiring.ClusterView), of its cluster only: another cluster's Prometheus selects nothing here."""
    from velero_gitops.ops import wiring

    g = g if g is not None else wiring.graph(root, sources)  # one graph may serve several readers
    real_root = g.run.real(root)
    out: list[Prometheus] = []
    for o in wiring.applied_objects(g, root, "rometheus", view):
        data, ns = o.data, g.ns_of(o)
        spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
        shown = f"{g.real(o.path).relative_to(real_root).as_posix()}:{o.line}" if o.path is not None else o.file
        if o.kind == "Prometheus" and o.api_version.startswith("monitoring.coreos.com/"):
            sel = {k: spec.get(k + "Selector") for p in KINDS.values() for k in (p, f"{p}Namespace")}
            out.append(Prometheus(f"Prometheus {ns}/{o.name} ({shown})", ns, sel))
        elif o.kind == "HelmRelease" and o.api_version.startswith("helm.toolkit.fluxcd.io/"):
            values: dict[str, Any] = spec["values"] if isinstance(spec.get("values"), dict) else {}
            shaped = isinstance(dig(values, "prometheus", "prometheusSpec"), dict)
            if not shaped and chart_name(g, o) != _KPS_CHART:
                continue
            if dig(values, "prometheus", "enabled") is False:
                continue
            if spec.get("valuesFrom"):
                # values merged from a ConfigMap or Secret (often a configMapGenerator of a values.yaml): the
                # selectors are not known here, so nothing is concluded about this repository
                return []
            tns = spec.get("targetNamespace") if isinstance(spec.get("targetNamespace"), str) else ""
            release = spec.get("releaseName") or (f"{tns}-{o.name}" if tns else o.name)
            out.append(Prometheus(f"HelmRelease {ns}/{o.name} ({shown})", tns or ns,
                                  _kps_selectors(values, str(release))))
    return out


def rendered(c: Config) -> list[str]:
    """The monitoring kinds the config renders."""
    m = c.metrics
    if not m.enabled:
        return []
    return [k for k, on in (("PrometheusRule", m.prometheus_rule), ("ServiceMonitor", m.service_monitor),
                            ("PodMonitor", m.pod_monitor)) if on]


def unselected(p: Prometheus, kinds: list[str], namespace: str, labels: dict[str, str],
               ns_labels: dict[str, str]) -> list[str]:
    """The kinds (of ``kinds``) that Prometheus ``p`` does not select, for objects in ``namespace`` with ``labels``."""
    from velero_gitops.validate.labelselector import Unreadable, matches

    out = []
    for kind in kinds:
        prefix = KINDS[kind]
        nsel = p.selectors.get(f"{prefix}Namespace")
        try:
            ns_ok = namespace == p.namespace if nsel is None else matches(
                nsel, {**ns_labels, "kubernetes.io/metadata.name": namespace})
            ok = ns_ok and matches(p.selectors.get(prefix), labels)
        except Unreadable:
            continue  # validate reports a malformed selector; nothing to conclude here
        if not ok:
            out.append(kind)
    return out


def labels_to_add(p: Prometheus, kinds: list[str], namespace: str, labels: dict[str, str],
                  ns_labels: dict[str, str]) -> dict[str, str] | None:
    """The labels that, added to ``labels``, make ``p`` select every kind of ``kinds`` (None: no fixed set does,
    they conflict, or its namespace selectors leave the namespace out)."""
    from velero_gitops.validate.labelselector import required_labels

    out: dict[str, str] = {}
    for kind in kinds:
        need = required_labels(p.selectors.get(KINDS[kind]))
        if need is None or any(out.get(k, v) != v for k, v in need.items()):
            return None
        out.update(need)
    return out if not unselected(p, kinds, namespace, {**labels, **out}, ns_labels) else None


@dataclass(frozen=True)
class Verdict:
    prometheus: Prometheus
    missing: list[str]  # the rendered kinds it does not select
    add: dict[str, str] | None  # the labels that fix it, None when labels cannot


def judge(found: list[Prometheus], c: Config) -> Verdict | None:
    """None when the repository declares no Prometheus or one of them selects every rendered kind; else the
    Prometheus to fix (the first one labels can fix)."""
    from velero_gitops.render.plan import namespace_object

    kinds = rendered(c)
    if not found or not kinds:
        return None
    ns = c.repo.namespace
    labels = dict(c.metrics.additional_labels)
    ns_labels = namespace_object(c)["metadata"].get("labels") or {}
    verdicts = []
    for p in found:
        missing = unselected(p, kinds, ns, labels, ns_labels)
        if not missing:
            return None
        verdicts.append(Verdict(p, missing, labels_to_add(p, kinds, ns, labels, ns_labels)))
    return next((v for v in verdicts if v.add is not None), verdicts[0])


def message(v: Verdict, c: Config) -> str:
    p = v.prometheus
    fix = (f"set metrics.additionalLabels: {{{', '.join(f'{k}: {x}' for k, x in {**c.metrics.additional_labels, **v.add}.items())}}}"
           ", then render" if v.add else "give the rendered objects labels its selectors select "
           "(metrics.additionalLabels) or widen its selectors, so that it selects namespace " + c.repo.namespace)
    return (f"{p.where} does not select the rendered {', '.join(v.missing)} in namespace {c.repo.namespace} "
            f"(labels {dict(c.metrics.additional_labels) or 'none'}): "
            + "; ".join(f"{KINDS[k]}Selector {p.selectors.get(KINDS[k])!r}, {KINDS[k]}NamespaceSelector "
                        f"{p.selectors.get(KINDS[k] + 'Namespace')!r}" for k in v.missing)
            + f". No Velero alert is loaded and Velero is not scraped, so a failed backup alerts no one: {fix}")
