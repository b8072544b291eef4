"""Findings are plain data; the report module formats them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    file: str  # path as the user would type it (relative to the working directory when possible)
    line: int | None  # 1-based line of the offending key/value, None when not applicable
    obj: str | None  # "Kind/namespace/name" (namespace empty for cluster-scoped), None if not an object
    pointer: str  # JSON pointer into the object, "" for the whole document
    message: str
    rule: str  # short id: "schema", "yaml", "kustomize", "flux.path", "policy.s3-https", "secret.unencrypted", ...
    severity: str = "error"  # "error" fails the run; "warning" is shown but does not

    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file
