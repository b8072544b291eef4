"""On-demand Velero `Backup` and `Restore` objects, for users who apply them with kubectl or commit them.

Same facts as the Schedules the plan emits: the Velero namespace and default TTL come from the config,
`defaultVolumesToFsBackup` follows it, `snapshotVolumes: false` (no VolumeSnapshotLocation: volume data
goes through the node-agent with kopia), `storageLocation: default`. Printed in the project's YAML style
(velero_gitops.yamlfmt).
"""

from __future__ import annotations

from typing import Any, Iterable

from velero_gitops.errors import UsageError
from velero_gitops.names import DNS1123_LABEL
from velero_gitops.units import go_duration, parse_duration

API_VERSION = "velero.io/v1"


def _label(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL.match(value):
        raise UsageError(
            f"{value!r} is not a valid {what}: use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def split_list(values: Iterable[str] | None) -> list[str]:
    """`a,b` and repeated options alike -> ['a', 'b'] (blank items dropped)."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def namespaces(values: Iterable[str] | None, what: str = "namespace") -> list[str]:
    out = split_list(values)
    seen: set[str] = set()
    for ns in out:
        if ns != "*":
            _label(ns, f"{what} name")
        if ns in seen:
            raise UsageError(f"{what} {ns!r} is listed twice")
        seen.add(ns)
    if "*" in out and len(out) > 1:
        raise UsageError(f"'*' already means every namespace; do not list others with it ({', '.join(out)})")
    return out


def ttl(value: str | None, default: str) -> str:
    text = value or default
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--ttl: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"--ttl {text!r} must be a positive duration such as 720h")
    return go_duration(seconds)


def namespace_mapping(pairs: Iterable[str] | None, included: list[str] | None = None) -> dict[str, str]:
    """`old:new` pairs -> {old: new}; refuses bad names, duplicates, collisions and no-op mappings."""
    mapping: dict[str, str] = {}
    targets: dict[str, str] = {}
    for pair in split_list(pairs):
        if pair.count(":") != 1:
            raise UsageError(f"--namespace-mapping {pair!r}: write it as old:new, e.g. monitoring:monitoring-restore")
        old, new = (p.strip() for p in pair.split(":"))
        _label(old, f"source namespace in --namespace-mapping {pair!r}")
        _label(new, f"target namespace in --namespace-mapping {pair!r}")
        if old == new:
            raise UsageError(f"--namespace-mapping {pair!r} maps {old} onto itself; leave it out")
        if old in mapping:
            raise UsageError(f"--namespace-mapping: {old!r} is mapped twice ({old}:{mapping[old]} and {pair})")
        if new in targets:
            raise UsageError(f"--namespace-mapping: {targets[new]!r} and {old!r} would both be restored into {new!r}")
        mapping[old] = new
        targets[new] = old
    if included and "*" not in included:
        missing = [old for old in mapping if old not in included]
        if missing:
            raise UsageError(f"--namespace-mapping names {', '.join(missing)}, which --include-namespaces leaves out; "
                             "include it or drop the mapping")
        clash = [new for new in targets if new in included and new not in mapping]
        if clash:
            raise UsageError(f"--namespace-mapping restores into {', '.join(clash)}, which is also restored as itself; "
                             "map it elsewhere or leave it out of --include-namespaces")
    return mapping


def backup(config: Any, name: str, include: Iterable[str], ttl_text: str | None = None) -> dict[str, Any]:
    """A Backup object for the namespaces ``include`` (names or '*')."""
    _label(name, "backup name")
    included = namespaces(include)
    if not included:
        raise UsageError("--namespaces: name at least one namespace (or '*' for all)")
    return {
        "apiVersion": API_VERSION,
        "kind": "Backup",
        "metadata": {"name": name, "namespace": config.repo.namespace},
        "spec": {
            "defaultVolumesToFsBackup": config.velero.default_volumes_to_fs_backup,
            "includedNamespaces": included,
            "snapshotVolumes": False,  # no VolumeSnapshotLocation: volumes go through the node-agent (kopia)
            "storageLocation": "default",
            "ttl": ttl(ttl_text, config.velero.default_backup_ttl),
        },
    }


def restore(config: Any, name: str, from_backup: str, mapping: Iterable[str] | None = None,
            include: Iterable[str] | None = None) -> dict[str, Any]:
    """A Restore object from ``from_backup``, optionally into other namespaces."""
    _label(name, "restore name")
    _label(from_backup, "backup name (--from-backup)")
    included = namespaces(include, "--include-namespaces")
    spec: dict[str, Any] = {"backupName": from_backup}
    if included:
        spec["includedNamespaces"] = included
    ns_map = namespace_mapping(mapping, included)
    if ns_map:
        spec["namespaceMapping"] = dict(sorted(ns_map.items()))
    return {
        "apiVersion": API_VERSION,
        "kind": "Restore",
        "metadata": {"name": name, "namespace": config.repo.namespace},
        "spec": spec,
    }


def to_yaml(obj: dict[str, Any], config: Any | None = None) -> str:
    """`---`, an optional schema comment, then the object in the project's YAML style."""
    from velero_gitops.yamlfmt import dump

    head = "---\n"
    if config is not None and config.repo.schema_comments:
        kind = obj["kind"].lower()
        head += f"# yaml-language-server: $schema={config.repo.schema_base_url}/velero.io/{kind}_v1.json\n"
    return head + dump(obj)
