"""What the cluster can store: a rendered object over an API limit is a config error, found before anything is written.

Two limits apply to what we render, measured on the rendered object itself:
- a ConfigMap's or Secret's data: the sum of its values' lengths at most 1 MiB
  (kubernetes/kubernetes@v1.35.0:pkg/apis/core/validation/validation.go ValidateConfigMap, ValidateSecret:
  totalSize > core.MaxSecretSize);
- any object: etcd refuses a request over its --max-request-bytes, 1.5 MiB by default
  (etcd-io/etcd@v3.6.0:server/embed/config.go DefaultMaxRequestBytes), and the API server stores the object in one
  request. Custom resources are stored as JSON, so the object's compact JSON is what is measured; the managedFields
  the API server adds come on top, so an object near the limit fails too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DATA_LIMIT = 1024 * 1024
REQUEST_LIMIT = 3 * 1024 * 1024 // 2


@dataclass(frozen=True)
class TooLarge:
    what: str  # "its data" or "the object"
    size: int
    limit: int
    why: str


def too_large(obj: dict[str, Any]) -> TooLarge | None:
    """Why the cluster cannot store ``obj``, or None."""
    if obj.get("apiVersion") == "v1" and obj.get("kind") in ("ConfigMap", "Secret"):
        if obj["kind"] == "ConfigMap":
            size = sum(len(str(v).encode()) for s in ("data", "binaryData") for v in (obj.get(s) or {}).values())
        else:  # data holds base64: the decoded bytes count
            size = sum(len(v) * 3 // 4 for v in (obj.get("data") or {}).values())
            size += sum(len(str(v).encode()) for v in (obj.get("stringData") or {}).values())
        if size > DATA_LIMIT:
            return TooLarge("its data", size, DATA_LIMIT, f"the API server refuses a {obj['kind']} whose data "
                            "exceeds 1 MiB")
    size = len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())
    if size > REQUEST_LIMIT:
        return TooLarge("the object", size, REQUEST_LIMIT, "etcd refuses a request over 1.5 MiB (its default "
                        "--max-request-bytes), so the apply fails with 'request is too large'")
    return None


def mib(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB"
