"""Naming rules shared by the config loader and `validate` (kept free of heavy imports)."""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")  # bech32 public key
# The file names kustomize looks for in a directory, in its order
# (kubernetes-sigs/kustomize@kustomize/v5.7.1:api/konfig/general.go RecognizedKustomizationFileNames).
KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

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


# k8s.io/apimachinery/pkg/util/validation: qualified names (label keys) and label values.
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key (`[prefix/]name`), or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "the prefix before '/' must not be empty"
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return "the prefix must be a lowercase DNS subdomain of at most 253 characters"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return ("the name must be 1 to 63 characters of letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None (the empty value is valid)."""
    if value and (len(value) > 63 or not _QUALIFIED_NAME.match(value)):
        return ("a label value must be at most 63 characters of letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


def namespace_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is neither a namespace name nor a namespace glob Velero accepts, or None.

    Velero matches namespace includes/excludes as globs (`*`, `?`, `[a-z]`) and validates what remains as a
    namespace name with the wildcards replaced by a letter
    (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go, validateNamespaceName).
    """
    stand_in = re.sub(r"\[[^\[\]]+\]", "x", pattern).replace("*", "x").replace("?", "x")
    if "[" in stand_in or "]" in stand_in:
        return "not a valid namespace name or glob: a '[' has no matching ']'"
    if len(stand_in) > 63 or not DNS1123_LABEL.match(stand_in):
        return ("not a valid namespace name: use at most 63 lowercase letters, digits and '-', starting and "
                "ending with a letter or digit ('*', '?' and '[...]' match as globs)")
    return None


def includes_excludes_problem(included: list[str], excluded: list[str]) -> str | None:
    """Why an include/exclude pair is refused by Velero, or None
    (vmware-tanzu/velero@v1.18.1:pkg/util/collections/includes_excludes.go, ValidateIncludesExcludes)."""
    if "*" in included and len(included) > 1:
        return "'*' already means every namespace; list either '*' alone or the namespaces"
    if "*" in excluded:
        return "the exclude list cannot contain '*'"
    both = [ns for ns in excluded if ns in included]
    if both:
        return f"{', '.join(both)} cannot be both included and excluded"
    return None
