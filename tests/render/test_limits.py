"""render/limits.py: a rendered object the cluster cannot store is a config error at render (badcfg6 215, 216)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from velero_gitops.config.loader import load
from velero_gitops.errors import ConfigError
from velero_gitops.render import limits
from velero_gitops.render.plan import plan_tree


def configmap(size: int) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "x" * size}}


def test_configmap_data_limit_is_the_api_servers():
    """kubernetes/kubernetes@v1.35.0:pkg/apis/core/validation/validation.go ValidateConfigMap refuses
    totalSize > core.MaxSecretSize (1 MiB, the sum of the values): exactly 1 MiB is stored, one byte more is not."""
    assert limits.too_large(configmap(1024 * 1024)) is None
    big = limits.too_large(configmap(1024 * 1024 + 1))
    assert big is not None and big.what == "its data" and big.size == 1024 * 1024 + 1


def test_any_object_over_etcds_request_limit():
    """etcd-io/etcd@v3.6.0:server/embed/config.go DefaultMaxRequestBytes (1.5 MiB), measured as the object's compact
    JSON (a custom resource is stored as JSON)."""
    obj = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "x"},
           "spec": {"groups": [{"name": "g", "rules": []}]}}
    pad = limits.REQUEST_LIMIT - len(json.dumps(obj, separators=(",", ":")))
    obj["spec"]["groups"][0]["name"] = "g" * (pad + 1)
    assert limits.too_large(obj) is None
    obj["spec"]["groups"][0]["name"] += "g"
    assert limits.too_large(obj).what == "the object"


def schedules(n: int) -> str:
    return "".join(f"  - name: s{i}\n    cron: \"{i % 60} 0 * * *\"\n    namespaces: [ns{i}]\n    ttl: 720h\n"
                   for i in range(n))


@pytest.mark.parametrize("n, refused", [(10, False), (400, True)])
def test_many_schedules_are_refused_at_the_schedules_field(tmp_path: Path, n, refused):
    """badcfg6 216: 400 schedules rendered a 2 MB PrometheusRule that render and check accepted and etcd refuses.
    The refusal names `schedules` (the field the rules grow with) and the file; 10 schedules render."""
    (tmp_path / "c.yaml").write_text("cluster: t\ns3:\n  endpoint: https://s3.68cc.io\nschedules:\n" + schedules(n))
    loaded = load(tmp_path / "c.yaml")
    if not refused:
        plan_tree(loaded)
        return
    with pytest.raises(ConfigError) as e:
        plan_tree(loaded)
    first = e.value.problems[0]
    assert " schedules: " in first and "prometheusrule.yaml would be" in first and "400 schedules" in first, first
