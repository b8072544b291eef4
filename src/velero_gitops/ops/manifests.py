"""On-demand Velero `Backup` and `Restore` objects, for users who apply them with kubectl or commit them.

Same facts as the Schedules the plan emits: the Velero namespace and default TTL come from the config,
`defaultVolumesToFsBackup` follows it, `snapshotVolumes: false` (no VolumeSnapshotLocation: volume data
goes through the node-agent with kopia), `storageLocation: default`. Printed in the project's YAML style
(velero_gitops.render.yamlfmt).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from velero_gitops.config.names import dns_label_problem, shown, skipped_selection_problem
from velero_gitops.config.units import go_duration, parse_duration
from velero_gitops.errors import UsageError

if TYPE_CHECKING:
    from velero_gitops.config.model import Config, ScheduleConfig

API_VERSION = "velero.io/v1"


def _label(value: str, what: str) -> str:
    """``value`` when the API server takes it as a namespace or a Velero object's name (names.dns_label_problem);
    a UsageError (exit 2) naming it otherwise."""
    problem = dns_label_problem(value) if isinstance(value, str) else "the name is not text"
    if problem:
        raise UsageError(f"{shown(str(value))} is not a valid {what}: {problem}")
    return value


def backup_name(value: str, what: str = "backup name") -> str:
    """A Backup's name as the commands take it (names.dns_label_problem), or a UsageError naming ``what``."""
    return _label(value, f"backup name ({what})" if what != "backup name" else what)


def split_list(values: Iterable[str] | None) -> list[str]:
    """`a,b` and repeated options alike -> ['a', 'b'] (blank items dropped)."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def namespaces(values: Iterable[str] | None, what: str = "namespace") -> list[str]:
    """Namespace names or the globs Velero 1.18 accepts (names.namespace_pattern_problem), each once."""
    from velero_gitops.config.names import namespace_pattern_problem

    out = split_list(values)
    seen: set[str] = set()
    for ns in out:
        problem = None if ns == "*" else namespace_pattern_problem(ns)
        if problem:
            raise UsageError(f"{what} {shown(ns)}: {problem}")
        if ns in seen:
            raise UsageError(f"{what} {shown(ns)} is listed twice")
        seen.add(ns)
    return out


def ttl(value: str | None, default: str) -> str:
    text = value or default
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--ttl: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"--ttl {shown(text)} must be a positive duration such as 720h")
    return go_duration(seconds)


def namespace_mapping(pairs: Iterable[str] | None, restored: list[str] | None = None,
                      excluded: Iterable[str] = (), restored_by: str = "--include-namespaces") -> dict[str, str]:
    """`old:new` pairs -> {old: new}; refuses bad names, duplicates, collisions and no-op mappings.

    ``restored``: the namespaces the Restore restores (``restored_by`` says who decided that), None when unknown.
    Two namespaces restored into one merge: Velero restores an object whose name is already taken in the target as
    "already exists" and skips it (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go, restoreItem), so one of
    each same-named pair is lost. That holds for two mapped sources and for a target the Restore also restores as
    itself alike; a source the Restore excludes is never mapped
    (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go: namespaceMapping applies to the items restored)."""
    mapping: dict[str, str] = {}
    targets: dict[str, str] = {}
    for pair in split_list(pairs):
        if pair.count(":") != 1:
            raise UsageError(f"--namespace-mapping {shown(pair)}: write it as old:new, e.g. monitoring:monitoring-restore")
        old, new = (p.strip() for p in pair.split(":"))
        _label(old, f"source namespace in --namespace-mapping {shown(pair)}")
        _label(new, f"target namespace in --namespace-mapping {shown(pair)}")
        if old == new:
            raise UsageError(f"--namespace-mapping {pair!r} maps {old} onto itself; leave it out")
        if old in mapping:
            raise UsageError(f"--namespace-mapping: {old!r} is mapped twice ({old}:{mapping[old]} and {pair})")
        if new in targets:
            raise UsageError(f"--namespace-mapping: {targets[new]!r} and {old!r} would both be restored into {new!r}")
        mapping[old] = new
        targets[new] = old
    excluded = list(excluded)
    gone = [old for old in mapping if old in excluded]
    if gone:
        raise UsageError(f"--namespace-mapping names {', '.join(gone)}, which --exclude-namespaces leaves out, so the "
                         "mapping would never apply; drop one of the two")
    if restored and "*" not in restored:
        missing = [old for old in mapping if old not in restored]
        if missing:
            raise UsageError(f"--namespace-mapping names {', '.join(missing)}, which {restored_by} leaves out; "
                             "include it or drop the mapping")
        clash = [new for new in targets if new in restored and new not in mapping and new not in excluded]
        if clash:
            merged = ", ".join(f"{targets[new]} into {new}" for new in clash)
            raise UsageError(f"--namespace-mapping restores {merged}, which {restored_by} also restores as itself: the "
                             "two would merge and Velero skips every object whose name is taken, so one of each "
                             "same-named pair is lost. Map it to a new namespace")
    return mapping


def includes_excludes(include: Iterable[str] | None, exclude: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """Namespace include/exclude lists, refused where Velero refuses them (names.includes_excludes_problem)."""
    from velero_gitops.config.names import includes_excludes_problem

    included = namespaces(include, "--include-namespaces")
    excluded = namespaces(exclude, "--exclude-namespaces")
    problem = includes_excludes_problem(included, excluded)
    if problem:
        raise UsageError(f"--include-namespaces/--exclude-namespaces: {problem}")
    return included, excluded


def label_selector(text: str | None) -> dict[str, Any] | None:
    """`app=db,tier!=cache,env in (a,b),!legacy` -> a LabelSelector (matchLabels / matchExpressions).

    The syntax of kubectl and velero's `--selector` (k8s.io/apimachinery labels.Parse): `k=v`, `k==v`, `k!=v`,
    `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist).
    """
    if text is None or not text.strip():
        return None
    from velero_gitops.config.names import label_key_problem, label_value_problem

    def key(k: str) -> str:
        problem = label_key_problem(k)
        if problem:
            raise UsageError(f"--selector {shown(text)}: label key {shown(k)}: {problem}")
        return k

    def value(v: str, k: str) -> str:
        problem = label_value_problem(v)
        if problem:
            raise UsageError(f"--selector {shown(text)}: value {shown(v)} of {shown(k)}: {problem}")
        return v

    labels: dict[str, str] = {}
    exprs: list[dict[str, Any]] = []
    for term in _split_selector(text):
        m = re.fullmatch(r"\s*(\S+?)\s+(in|notin)\s*\(([^()]*)\)\s*", term)
        if m:
            k, op, values = key(m.group(1)), m.group(2), [v.strip() for v in m.group(3).split(",") if v.strip()]
            if not values:
                raise UsageError(f"--selector {shown(text)}: {k} {op} () needs at least one value")
            exprs.append({"key": k, "operator": "In" if op == "in" else "NotIn",
                          "values": [value(v, k) for v in values]})
            continue
        m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)\s*", term)
        if m:
            k, op, v = key(m.group(1)), m.group(2), value(m.group(3), m.group(1))
            if op == "!=":
                exprs.append({"key": k, "operator": "NotIn", "values": [v]})
            elif labels.get(k, v) != v:
                raise UsageError(f"--selector {shown(text)}: {k} cannot equal both {labels[k]!r} and {v!r}")
            else:
                labels[k] = v
            continue
        m = re.fullmatch(r"\s*(!?)\s*([^=!\s()]+)\s*", term)
        if m:
            exprs.append({"key": key(m.group(2)), "operator": "DoesNotExist" if m.group(1) else "Exists"})
            continue
        raise UsageError(f"--selector {shown(text)}: cannot read {shown(term.strip())}; write key=value, key!=value, "
                         "key in (a,b), key notin (a,b), key or !key, separated by commas")
    out: dict[str, Any] = {}
    if labels:
        out["matchLabels"] = dict(sorted(labels.items()))
    if exprs:
        out["matchExpressions"] = exprs
    return out


def _split_selector(text: str) -> list[str]:
    """Split on the commas that are not inside `( )`."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0 or depth > 1:
            raise UsageError(f"--selector {shown(text)}: unbalanced parentheses")
        if ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    if depth:
        raise UsageError(f"--selector {shown(text)}: unbalanced parentheses")
    terms.append(text[start:])
    if any(not t.strip() for t in terms):
        raise UsageError(f"--selector {shown(text)}: empty term between commas")
    return terms


def backup(config: Config, name: str, include: Iterable[str] | None, ttl_text: str | None = None,
           exclude: Iterable[str] | None = None, selector: str | None = None) -> dict[str, Any]:
    """A Backup object for the namespaces ``include`` (names, globs or '*')."""
    _label(name, "backup name")
    included, excluded = includes_excludes(include, exclude)
    if not included:
        raise UsageError("--include-namespaces: name at least one namespace (or '*' for all)")
    spec: dict[str, Any] = {
        "defaultVolumesToFsBackup": config.velero.default_volumes_to_fs_backup,
        "includedNamespaces": included,
        "snapshotVolumes": False,  # no VolumeSnapshotLocation: volumes go through the node-agent (kopia)
        "storageLocation": "default",
        "ttl": ttl(ttl_text, config.velero.default_backup_ttl),
    }
    if excluded:
        spec["excludedNamespaces"] = excluded
    sel = label_selector(selector)
    if sel:
        problem = skipped_selection_problem(sel)
        if problem:
            raise UsageError(f"--selector {shown(selector or '')}: {problem}")
        spec["labelSelector"] = sel
    return {
        "apiVersion": API_VERSION,
        "kind": "Backup",
        "metadata": {"name": name, "namespace": config.repo.namespace},
        "spec": dict(sorted(spec.items())),
    }


def backup_from_schedule(config: Config, schedule: str, name: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The Backup Velero itself would make from a Schedule of the config, now.

    As `velero backup create --from-schedule`: the Schedule's template becomes the spec and the Backup carries the
    label velero.io/schedule-name (vmware-tanzu/velero@v1.18.1:pkg/builder/backup_builder.go, FromSchedule); without a
    name it is called <schedule>-<UTC time as 20060102150405>, the name scheduled backups get
    (vmware-tanzu/velero@v1.18.1:pkg/apis/velero/v1/schedule_types.go, TimestampedName).
    """
    from velero_gitops.render.plan import schedule_object

    found = [s for s in config.schedules if s.name == schedule]
    if not found:
        names = ", ".join(s.name for s in config.schedules) or "none"
        raise UsageError(f"--from-schedule {shown(schedule)}: the config has no such schedule (it has: {names})")
    obj = schedule_object(config, found[0])
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S")
    backup_name = _label(name or f"{schedule}-{stamp}", "backup name")
    return {
        "apiVersion": API_VERSION,
        "kind": "Backup",
        "metadata": {"name": backup_name, "namespace": config.repo.namespace,
                     "labels": {"velero.io/schedule-name": schedule}},
        "spec": obj["spec"]["template"],
    }


def excluded_resources(values: Iterable[str] | None) -> list[str]:
    """`--exclude-resources` items, each once, refused where Velero would refuse them or match nothing
    (names.resource_problem, names.includes_excludes_problem: '*' cannot be excluded)."""
    from velero_gitops.config.names import includes_excludes_problem, resource_problem

    out: list[str] = []
    for item in split_list(values):
        problem = resource_problem(item)
        if problem:
            raise UsageError(f"--exclude-resources: {problem}")
        if item in out:
            raise UsageError(f"--exclude-resources {shown(item)} is listed twice")
        out.append(item)
    problem = includes_excludes_problem([], out, "resource")
    if problem:
        raise UsageError(f"--exclude-resources: {problem}; name the resources to leave out")
    return out


def restore(config: Config, name: str, from_backup: str, mapping: Iterable[str] | None = None,
            include: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
            selector: str | None = None, exclude_resources: Iterable[str] | None = None) -> dict[str, Any]:
    """A Restore object from ``from_backup``, optionally into other namespaces and without some resources
    (spec.excludedResources, resolved as Velero resolves them: names.resolved_resource)."""
    _label(name, "restore name")
    backup_name(from_backup, "--from-backup")
    included, excluded = includes_excludes(include, exclude)
    spec: dict[str, Any] = {"backupName": from_backup}
    if included:
        spec["includedNamespaces"] = included
    if excluded:
        spec["excludedNamespaces"] = excluded
    resources = excluded_resources(exclude_resources)
    if resources:
        spec["excludedResources"] = resources
    sel = label_selector(selector)
    if sel:
        spec["labelSelector"] = sel
    schedule = _schedule_of(config, from_backup)
    if schedule is not None:
        _holds(schedule, from_backup, included)
    restored, restored_by = ((included, "--include-namespaces") if included else
                             (list(schedule.namespaces), f"backup {from_backup} (of schedule {schedule.name!r})")
                             if schedule is not None else (None, ""))
    ns_map = namespace_mapping(mapping, restored, excluded, restored_by)
    if ns_map:
        spec["namespaceMapping"] = dict(sorted(ns_map.items()))
    return {
        "apiVersion": API_VERSION,
        "kind": "Restore",
        "metadata": {"name": name, "namespace": config.repo.namespace},
        "spec": spec,
    }


def _schedule_of(config: Config, backup: str) -> ScheduleConfig | None:
    """The config's schedule whose Backups are named as ``backup`` is, <schedule>-<YYYYMMDDhhmmss>
    (vmware-tanzu/velero@v1.18.1:pkg/apis/velero/v1/schedule_types.go, TimestampedName), or None."""
    return next((s for s in config.schedules if re.fullmatch(re.escape(s.name) + r"-\d{14}", backup)), None)


def _scope_text(schedule: ScheduleConfig) -> str:
    text = f"schedule {schedule.name!r} backs up namespaces {', '.join(schedule.namespaces)}"
    return text + (f" except {', '.join(schedule.excluded_namespaces)}" if schedule.excluded_namespaces else "")


def _holds(schedule: ScheduleConfig, backup: str, included: list[str]) -> None:
    """Refuses an --include-namespaces item that matches no namespace the backup can hold. The backup holds
    namespaced items only of the namespaces its schedule includes and does not exclude
    (vmware-tanzu/velero@v1.18.1:pkg/backup/item_backupper.go itemInclusionChecks), and the Restore restores a
    namespaced item only when its namespace passes --include-namespaces (pkg/restore/restore.go, ShouldInclude); so
    such an item restores nothing. For a glob only what the schedule includes is compared (names.
    namespace_patterns_overlap): whether its excludes cover all of it is left open."""
    from velero_gitops.config.names import namespace_excluded, namespace_patterns_overlap

    empty = [ns for ns in included if ns != "*" and (
        not any(namespace_patterns_overlap(ns, s) for s in schedule.namespaces)
        or (not set(ns) & set("*?[]") and namespace_excluded(ns, schedule.excluded_namespaces)))]
    if empty:
        raise UsageError(f"--include-namespaces {', '.join(empty)}: backup {backup} holds none of it "
                         f"({_scope_text(schedule)}), so the Restore would restore nothing from there. Name namespaces "
                         f"of that schedule, or restore from a backup of a schedule that includes {empty[0]}")


def _selector_misses(schedule: ScheduleConfig, selector: dict[str, Any]) -> list[str]:
    """The schedule's matchLabels that the Restore's selector cannot match together with it: every item the schedule
    selected carries them (vmware-tanzu/velero@v1.18.1:pkg/backup/item_collector.go, the label selector), and the
    Restore restores only items its selector matches (pkg/restore/restore.go, ctx.selector.Matches)."""
    wanted = schedule.label_selector.match_labels if schedule.label_selector else {}
    out = []
    for key, value in wanted.items():
        other = (selector.get("matchLabels") or {}).get(key)
        clash = other is not None and other != value
        for e in selector.get("matchExpressions") or []:
            if e.get("key") != key:
                continue
            op, values = e.get("operator"), e.get("values") or []
            clash |= (op == "In" and value not in values) or (op == "NotIn" and value in values) or op == "DoesNotExist"
        if clash:
            out.append(f"{key}={value}")
    return out


def restore_warnings(spec: dict[str, Any], config: Config | None = None) -> list[str]:
    """What a Restore will do that its author may not expect."""
    out = []
    schedule = _schedule_of(config, str(spec.get("backupName"))) if config is not None else None
    misses = _selector_misses(schedule, spec["labelSelector"]) if schedule and spec.get("labelSelector") else []
    if schedule and misses:
        # Items a plugin adds to the backup (a pod's PVCs, a PVC's PV) need not match the schedule's selector, so
        # the Restore may still find some: a warning, not a refusal.
        out.append(f"the selector cannot match {', '.join(misses)}, which schedule {schedule.name!r} selects every "
                   f"backed-up item by, so the Restore restores at most the items a plugin added to backup "
                   f"{spec['backupName']}; drop -l or select by a label those items carry")
    mapping, included = spec.get("namespaceMapping") or {}, spec.get("includedNamespaces") or []
    if mapping and not included:
        mapped = ", ".join(mapping)
        out.append(f"every namespace of the backup is restored, not only {mapped}: the others go back into their own "
                   "namespaces. Add --include-namespaces to restore only the mapped ones.")
    # A mapped copy of an app namespace holds its HelmRelease or Kustomization too; of a custom resource Velero rewrites
    # only metadata.namespace (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem), so the copy's
    # spec.targetNamespace/storageNamespace still name the source, and Flux reconciles the copy as soon as it exists,
    # before the pod volumes are back (fluxcd/helm-controller@v1.6.3, fluxcd/kustomize-controller@v1.9.4 Reconcile).
    from velero_gitops.config.names import FLUX_APPLIERS, resource_matches
    from velero_gitops.yamlsafe import sequence

    left_in = [kind for kind in FLUX_APPLIERS
               if not any(resource_matches(item, kind) for item in sequence(spec, "excludedResources"))]
    if mapping and left_in:
        out.append(f"the mapped namespaces are restored with their Flux objects ({', '.join(left_in)}): Flux "
                   "reconciles each copy at once, before its volumes are back, and a copy whose spec names the source "
                   "namespace (targetNamespace, storageNamespace) changes the live app. Add --exclude-resources "
                   f"{','.join(left_in)}, or hold helm-controller and kustomize-controller during the restore.")
    # Into a namespace that still exists, Velero skips each object that exists, but creates a backed-up pod whose name
    # is gone (ownerReferences are dropped: a Deployment's pod, any pod rescheduled since) and restores its volume
    # backup into whatever PVC the pod names, the live one included; kopia overwrites the files
    # (vmware-tanzu/velero@v1.18.1:pkg/restore/restore.go restoreItem, resetMetadata, restorePodVolumeBackups;
    # pkg/podvolume/restorer.go RestorePodVolumes; pkg/uploader/kopia/snapshot.go OverwriteFiles). This command cannot
    # see the cluster, so it says so for every namespace restored into itself.
    own = [n for n in included if n not in mapping]
    if own or not included:
        what = (f"namespace {', '.join(own)} is" if own else
                "every namespace of the backup" + (" but the mapped ones" if mapping else "") + " is")
        out.append(f"{what} restored into itself: delete it first and wait until it is gone, or map it "
                   "(--namespace-mappings OLD:NEW). Where it still exists, Velero skips the objects that exist but "
                   "re-creates each backed-up pod whose name is gone (a Deployment's pods, a pod rescheduled since "
                   "the backup) and restores its volume backup into the existing PVC, overwriting the live files.")
    return out


def to_yaml(obj: dict[str, Any], config: Config | None = None) -> str:
    """`---`, an optional schema comment, then the object in the project's YAML style."""
    from velero_gitops.render.yamlfmt import dump

    head = "---\n"
    if config is not None and config.repo.schema_comments:
        kind = obj["kind"].lower()
        head += f"# yaml-language-server: $schema={config.repo.schema_base_url}/velero.io/{kind}_v1.json\n"
    return head + dump(obj)
