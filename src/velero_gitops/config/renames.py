"""What an unknown config key should have been: the one place for did-you-mean hints.

Two sources, tried in this order: the keys users bring from the configs of other tools (RENAMES, each with the
upstream place that names it), then close spellings of the keys the mapping allows. A key of another tool written
where ours sits gets "did you mean <ours>?" with whose name it was; written elsewhere, it gets the dotted path where
this config holds it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

CUTOFF = 0.6  # difflib's ratio above which a key reads as a misspelling of another


@dataclass(frozen=True)
class Rename:
    key: str  # the other tool's key
    ours: str  # where this config holds it: a dotted path, `[]` for the items of a list
    whose: str  # whose name it is, said in the hint
    source: str  # the upstream place that names it (repo@tag:path)
    note: str = ""  # what differs beyond the name


_CHART_3 = "vmware-tanzu/helm-charts@velero-3.0.0:charts/velero/templates/NOTES.txt (REMOVED: ... it is named ...)"
_PLUGIN = "vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:velero-plugin-for-aws/object_store.go (the config keys)"
_SCHEDULE = "vmware-tanzu/velero@v1.18.1:pkg/apis/velero/v1/schedule_types.go, backup_types.go"

_BSL = "the AWS plugin's name in a BackupStorageLocation config"
_SCHEDULE_NAME = "Velero's name in a Schedule"

RENAMES: tuple[Rename, ...] = (
    # the Velero chart's values before 3.0.0 (Velero 1.9 and older), renamed when kopia came beside restic
    Rename("restic", "velero.nodeAgent", "the Velero chart's name before 3.0.0", _CHART_3),
    Rename("resticTimeout", "velero.fsBackupTimeout", "the Velero chart's name before 3.0.0", _CHART_3),
    Rename("defaultVolumesToRestic", "velero.defaultVolumesToFsBackup", "the Velero chart's name before 3.0.0",
           _CHART_3),
    # the chart's credentials Secret (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/values.yaml)
    Rename("existingSecret", "s3.credentialsSecret", "the Velero chart's name (credentials.existingSecret)",
           "vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/values.yaml"),
    # a BackupStorageLocation's spec.config, as the AWS plugin reads it
    Rename("s3Url", "s3.endpoint", _BSL, _PLUGIN),
    Rename("s3ForcePathStyle", "s3.forcePathStyle", _BSL, _PLUGIN),
    Rename("caCert", "s3.caBundle", _BSL, _PLUGIN,
           "caBundle names a PEM file next to this config, not the PEM text"),
    # a Velero Schedule's fields that a schedule item holds under another name
    Rename("includedNamespaces", "schedules[].namespaces", _SCHEDULE_NAME, _SCHEDULE),
    Rename("schedule", "schedules[].cron", _SCHEDULE_NAME, _SCHEDULE),
)


def _parent(path: str) -> tuple[str, ...]:
    return tuple(p.removesuffix("[]") for p in path.split(".")[:-1])


def _where(loc: Sequence[str | int]) -> tuple[str, ...]:
    return tuple(str(p) for p in loc if not isinstance(p, int))


def renamed(loc: Sequence[str | int], key: str) -> Rename | None:
    """The rename of ``key``, for the mapping at ``loc`` (list indexes skipped): the one whose place is here first."""
    found = [r for r in RENAMES if r.key == key]
    return next((r for r in found if _parent(r.ours) == _where(loc)), found[0] if found else None)


def our_key(loc: Sequence[str | int], key: str) -> str | None:
    """Our key, in the mapping at ``loc``, for another tool's ``key`` written there; None when it has none here."""
    r = renamed(loc, key)
    return r.ours.rsplit(".", 1)[-1] if r is not None and _parent(r.ours) == _where(loc) else None


def names_at(loc: Sequence[str | int]) -> dict[str, str]:
    """Every other tool's key with its name here, for the mapping at ``loc``."""
    return {r.key: r.ours.rsplit(".", 1)[-1] for r in RENAMES if _parent(r.ours) == _where(loc)}


def close(key: str, allowed: Sequence[str]) -> str | None:
    """The allowed key ``key`` misspells, or None (snake_case for camelCase counts)."""
    found = difflib.get_close_matches(key, list(allowed), n=1, cutoff=CUTOFF)
    if found:
        return found[0]
    lowered = {a.lower(): a for a in allowed}
    return lowered.get(key.lower().replace("_", ""))


def hint(loc: Sequence[str | int], key: str, allowed: Sequence[str]) -> str:
    """What to write instead of the unknown ``key`` in the mapping at ``loc`` whose keys are ``allowed``."""
    r = renamed(loc, key)
    if r is not None and _parent(r.ours) == _where(loc):
        ours = r.ours.rsplit(".", 1)[-1]
        return f"did you mean {ours!r}? ({key!r} is {r.whose}{'; ' + r.note if r.note else ''})"
    spelled = close(key, allowed)
    if r is not None:  # another tool's key, written where this config holds something else
        moved = f"{key!r} is {r.whose} for {r.ours} here{'; ' + r.note if r.note else ''}: move it there"
        return moved + (f" (or did you mean {spelled!r}?)" if spelled else "")
    if spelled is not None:
        return f"did you mean {spelled!r}?"
    return f"allowed keys: {', '.join(sorted(allowed))}" if allowed else ""
