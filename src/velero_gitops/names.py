"""Naming rules shared by the config loader and `validate` (kept free of heavy imports)."""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")  # bech32 public key

def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` breaks the S3 general-purpose bucket naming rules, or None."""
    if not 3 <= len(name) <= 63:
        return "it must be 3 to 63 characters long"
    if not re.match(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$", name):
        return "use lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
    if ".." in name:
        return "it must not contain two adjacent periods"
    if re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
        return "it must not look like an IP address"
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        return "it uses a reserved prefix or suffix"
    return None
