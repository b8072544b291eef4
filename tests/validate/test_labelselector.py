"""metav1.LabelSelector semantics (kubernetes/apimachinery pkg/apis/meta/v1/helpers.go LabelSelectorAsSelector:
nil selects nothing, {} everything; matchLabels and matchExpressions ANDed; NotIn and DoesNotExist match an object
without the key)."""

from __future__ import annotations

import pytest

from velero_gitops.validate.labelselector import Unreadable, matches, required_labels

L = {"release": "kps", "team": "ops"}


@pytest.mark.parametrize("selector,labels,expected", [
    (None, L, False),
    ({}, {}, True),
    ({"matchLabels": {"release": "kps"}}, L, True),
    ({"matchLabels": {"release": "kps"}}, {}, False),
    ({"matchLabels": {"release": "kps", "team": "dev"}}, L, False),
    ({"matchExpressions": [{"key": "release", "operator": "In", "values": ["a", "kps"]}]}, L, True),
    ({"matchExpressions": [{"key": "release", "operator": "In", "values": ["a"]}]}, L, False),
    ({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["a"]}]}, L, True),
    ({"matchExpressions": [{"key": "release", "operator": "NotIn", "values": ["kps"]}]}, L, False),
    ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, L, True),
    ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, L, False),
    ({"matchLabels": {"release": "kps"}, "matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, L, False),
])
def test_matches(selector, labels, expected):
    assert matches(selector, labels) is expected


def test_unreadable_selectors_are_refused():
    with pytest.raises(Unreadable):
        matches({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, {})
    with pytest.raises(Unreadable):
        matches(["release"], {})


def test_required_labels_only_when_fixed():
    assert required_labels({"matchLabels": {"release": "kps"}}) == {"release": "kps"}
    assert required_labels({"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]}) == {"a": "b"}
    assert required_labels({}) == {}
    assert required_labels(None) is None
    assert required_labels({"matchExpressions": [{"key": "a", "operator": "Exists"}]}) is None
    assert required_labels({"matchExpressions": [{"key": "a", "operator": "In", "values": ["b", "c"]}]}) is None
