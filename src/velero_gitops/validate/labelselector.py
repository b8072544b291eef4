"""Kubernetes label selectors (metav1.LabelSelector): the one model of what a selector selects.

kubernetes/apimachinery pkg/apis/meta/v1/helpers.go LabelSelectorAsSelector: a nil selector selects nothing, an
empty one ({}) everything; matchLabels and matchExpressions are ANDed; the operators are In, NotIn, Exists and
DoesNotExist (NotIn and DoesNotExist also match an object without the key). Where a field gives nil another
meaning (prometheus-operator's *NamespaceSelector: "a null label selector matches the current namespace only"),
the caller decides before asking.
"""

from __future__ import annotations

from typing import Any

from velero_gitops.yamlsafe import mapping, sequence


class Unreadable(ValueError):
    """Not a label selector the API server would accept (wrong shape or operator)."""


def matches(selector: Any, labels: dict[str, str]) -> bool:
    """Does ``selector`` (the parsed YAML mapping, None for nil) select an object with ``labels``? Raises Unreadable."""
    if selector is None:
        return False
    if not isinstance(selector, dict):
        raise Unreadable(f"a label selector is a mapping, not {type(selector).__name__}")
    ml = selector.get("matchLabels") or {}
    if not isinstance(ml, dict):
        raise Unreadable("matchLabels is not a mapping")
    if any(labels.get(str(k)) != str(v) for k, v in ml.items()):
        return False
    exprs = selector.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise Unreadable("matchExpressions is not a list")
    for e in exprs:
        if not isinstance(e, dict) or not isinstance(e.get("key"), str):
            raise Unreadable("a matchExpressions entry without key")
        key, op, values = e["key"], e.get("operator"), [str(v) for v in e.get("values") or []]
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise Unreadable(f"operator {op!r} (In, NotIn, Exists, DoesNotExist)")
        if not ok:
            return False
    return True


def required_labels(selector: Any) -> dict[str, str] | None:
    """The labels an object needs to be selected when the selector asks only for fixed values (matchLabels, In with
    one value); None when no fixed set of labels satisfies it (nil, Exists, NotIn...)."""
    if not isinstance(selector, dict):
        return None
    out = {str(k): str(v) for k, v in mapping(selector, "matchLabels").items()}
    for e in sequence(selector, "matchExpressions"):
        if isinstance(e, dict) and e.get("operator") == "In" and len(sequence(e, "values")) == 1:
            out[str(e.get("key"))] = str(e["values"][0])
        elif isinstance(e, dict) and e.get("operator") in ("NotIn", "DoesNotExist"):
            continue  # our objects carry only the labels we add: checked by matches() below
        else:
            return None
    return out if matches(selector, out) else None
