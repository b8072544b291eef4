"""Which chart, Velero and AWS plugin versions work together, and which chart values a chart version reads.

The facts live in ``compat.json`` next to this module, derived by ``scripts/derive_compat.py`` from the
upstream tags (each fact names the ``repo@tag:path`` it came from); nothing here is typed in by hand. This
module turns them into rules that both the config (``render``/``check``) and ``validate`` (any velero
HelmRelease in a repository) apply, each in its own words: a rule names a *setting* and the caller says which
field that is (``velero.imageTag`` in a config, ``/spec/values/image/tag`` in a HelmRelease).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from velero_gitops.config import redact, renames
from velero_gitops.intparse import version_parts

# Our values assume Velero's 1.17 node-agent: kopia only, volumes read by per-volume pods that the
# node-agent ConfigMap configures (vmware-tanzu/velero@v1.17.0:pkg/uploader/types.go ValidateUploaderType,
# pkg/exposer/pod_volume.go). Charts that ship an older Velero are refused with the upgrade path.
RENDER_FLOOR = (1, 17)
OPEN, LEAF = "*", "="  # compat.json value-key trees: free-form mapping below / scalar or list
WILDCARD = re.compile(r"[*?\[]")  # vmware-tanzu/velero@v1.18.1:pkg/util/wildcard/expand.go containsWildcardPattern


@cache  # a pure function of the text, asked of the same few pins ~60 times per config (render of 100 configs)
def version_tuple(text: str) -> tuple[int, ...]:
    return version_parts(text.lstrip("v").split("-", 1)[0].split("+", 1)[0])


def _show(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


@cache
def data() -> dict[str, Any]:
    text = resources.files("velero_gitops.config").joinpath("compat.json").read_text(encoding="utf-8")
    return json.loads(text)


@dataclass(frozen=True)
class Chart:
    version: str
    app_version: str
    crd_phases: dict[str, list[str]]
    job_applies_image_crds: bool
    upgrade_crds_default: bool  # values.yaml upgradeCRDs
    value_keys: dict[str, Any]
    source: str  # where appVersion came from


@dataclass(frozen=True)
class Velero:
    version: str
    crd_phases: dict[str, list[str]]
    privileged_fs_backup: bool
    namespace_wildcards: bool
    uploaders: tuple[str, ...]
    sources: dict[str, str]
    kopia: str = ""  # the kopia release Velero links, as its release notes state (go.mod's require is replaced)
    kopia_fork: str = ""  # "<module> <version>" go.mod's replace swaps in for kopia, "" when none


def known_charts() -> list[str]:
    return sorted(data()["charts"], key=version_tuple)


def chart(version: str) -> Chart | None:
    c = data()["charts"].get(version)
    if c is None:
        return None
    return Chart(version, c["appVersion"], c["crdPhases"], c["upgradeCRDsJobAppliesImageCRDs"], c["upgradeCRDsDefault"],
                 data()["valueKeys"][c["valueKeys"]], c["appVersionFrom"])


def has_shape(chart_version: str | None, shape: str) -> bool | None:
    """Whether the velero chart at ``chart_version`` reads a values key in its newer ``shape`` (compat.json
    valueShapes: ``backupStorageLocationList``, ``nodeAgent``); None when that cannot be told (a version range). No
    version is the newest chart (helm-controller resolves an empty version to the latest)."""
    if chart_version is None:
        return True
    version = chart_version.lstrip("v")
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        return None
    return version_tuple(version) >= version_tuple(data()["valueShapes"][shape]["since"])


def supported_charts() -> list[str]:
    return [v for v in known_charts() if version_tuple(data()["charts"][v]["appVersion"])[:2] >= RENDER_FLOOR]


def velero(version: str) -> tuple[Velero | None, str | None]:
    """The table's entry for a Velero version, and a note when it stands in for an unlisted patch.

    A patch release does not change the API types (CRDs) or the features below within one minor, so an
    unlisted newer patch is checked as the newest listed patch of its minor, and said so."""
    table = data()["velero"]
    want = version_tuple(version)
    if len(want) < 3:
        return None, None
    key = _show(want[:3])
    if key in table:
        return _velero(key), None
    same_minor = [v for v in table if version_tuple(v)[:2] == want[:2] and version_tuple(v) < want]
    if not same_minor:
        return None, None
    stand_in = max(same_minor, key=version_tuple)
    return _velero(stand_in), f"Velero {key} is newer than the versions velero-gitops knows; checked as {stand_in}"


def _velero(key: str) -> Velero:
    v = data()["velero"][key]
    sources = {k.removesuffix("From"): s for k, s in v.items() if k.endswith("From")}
    return Velero(key, v["crdPhases"], v["privilegedFsBackup"], v["namespaceWildcards"], tuple(v["uploaders"]), sources,
                  v["kopia"]["version"], v["kopia"].get("replacedBy", ""))


def known_velero_range() -> str:
    versions = sorted(data()["velero"], key=version_tuple)
    return f"{versions[0]}–{versions[-1]}"


def plugin_pairs() -> dict[tuple[int, ...], tuple[int, ...]]:
    """AWS plugin minor -> the Velero minor it is built for (the plugin README's compatibility table)."""
    return {version_tuple(r["plugin"])[:2]: version_tuple(r["velero"])[:2] for r in data()["awsPlugin"]}


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``repo[:port]/name:tag[@digest]``), or None."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def default_crd_policy(action: str) -> str:
    """helm-controller's CRD policy when spec.<action>.crds is empty (fluxcd/helm-controller@v1.6.3:
    internal/action/crds.go crdPolicyOrDefault)."""
    return str(data()["helmController"]["defaultCRDPolicy"][action])


# ------------------------------------------------------------------------------------------- CRD upgrades
@dataclass(frozen=True)
class CrdSetup:
    """How a HelmRelease gets Velero's CRDs onto the cluster."""

    install_policy: str  # spec.install.crds ("" = helm-controller's default)
    upgrade_policy: str  # spec.upgrade.crds
    upgrade_crds_job: bool  # chart value upgradeCRDs (the chart's default is true)

    def upgraded_from(self, c: Chart) -> str | None:
        """Whose CRDs the cluster holds after a chart upgrade: "image", "chart", or None when the existing CRDs
        are never replaced.

        helm-controller applies the chart's crds/ before the Helm action: Create only creates missing CRDs,
        CreateReplace also replaces existing ones, Skip does nothing (fluxcd/helm-controller@v1.6.3:
        internal/action/crds.go applyCRDs). The chart's upgradeCRDs Job is a pre-install/pre-upgrade hook that
        runs after that and applies the CRDs built into the Velero image (vmware-tanzu/helm-charts@velero-12.1.0:
        charts/velero/templates/upgrade-crds/upgrade-crds.yaml, `velero install --crds-only`)."""
        if self.upgrade_crds_job and c.job_applies_image_crds:
            return "image"
        policy = self.upgrade_policy or default_crd_policy("upgrade")
        return "chart" if policy == "CreateReplace" else None

    def installed_from(self, c: Chart) -> str | None:
        if self.upgrade_crds_job and c.job_applies_image_crds:
            return "image"
        policy = self.install_policy or default_crd_policy("install")
        return "chart" if policy in ("Create", "CreateReplace") else None


# ------------------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Problem:
    setting: str  # chart | image | plugin | privileged | crds | namespaces
    message: str
    index: int | None = None  # which schedule, for `namespaces`


FieldNames = dict[str, str]  # setting -> how the caller names the field to change


def check_versions(chart_version: str, image: str | None, plugin_image: str | None, crds: CrdSetup,
                   privileged: bool, namespace_lists: list[list[str]], names: FieldNames,
                   uploader: str | None = None, floor: bool = True) -> tuple[list[Problem], list[str]]:
    """Every combination that would silently not work, and notes. ``image`` is the Velero image tag override."""
    notes: list[str] = []
    c = chart(chart_version)
    if c is None:
        return [Problem("chart", unknown_chart_message(chart_version, names))], notes
    if floor and version_tuple(c.app_version)[:2] < RENDER_FLOOR:
        return [Problem("chart", f"chart {chart_version} ships Velero {c.app_version}; velero-gitops renders for "
                        f"Velero {_show(RENDER_FLOOR)}+ (Velero < {_show(RENDER_FLOOR)} still has restic and reads "
                        f"volumes inside node-agent): {_upgrade_path(chart_version, names)}")], notes
    running = image.lstrip("v") if image else c.app_version
    v, note = velero(running)
    if note:
        notes.append(note)
    if v is None:
        return [Problem("image", f"Velero {running} is not a version velero-gitops knows ({known_velero_range()}); "
                        f"set {names['image']} to a v{_show(version_tuple(c.app_version)[:2])}.x tag or leave it "
                        "unset to run the chart's own Velero")], notes
    out: list[Problem] = []
    run_minor, chart_minor = version_tuple(v.version)[:2], version_tuple(c.app_version)[:2]
    out += _crd_problems(c, v, crds, running, names)
    if run_minor != chart_minor and not any(p.setting == "image" for p in out):
        out.append(Problem("image", f"Velero {running} with chart {chart_version} (made for Velero {c.app_version}): "
                           f"the image override is for newer patches of the chart's own minor; set {names['image']} "
                           f"to a v{_show(chart_minor)}.x tag, or {names['chart']} to a chart that ships "
                           f"Velero {_show(run_minor)}"))
    if privileged and not v.privileged_fs_backup:
        first = _first_with(lambda x: x.privileged_fs_backup, run_minor)
        fix = f"set {names['image']} to v{first}" if first else f"set {names['chart']} to {supported_charts()[-1]}"
        out.append(Problem("privileged", f"Velero {v.version} has no node-agent privilegedFsBackup "
                           f"({v.sources['privilegedFsBackup']}), so the pods that read the volumes would run "
                           f"unprivileged and fail on SELinux hosts: {fix} or newer"))
    if not v.namespace_wildcards:
        for i, namespaces in enumerate(namespace_lists):
            globs = [ns for ns in namespaces if ns != "*" and WILDCARD.search(ns)]
            if globs:
                out.append(Problem("namespaces", f"{', '.join(repr(g) for g in globs)}: Velero {v.version} takes "
                                   "namespace patterns as literal names (wildcard expansion came with "
                                   f"pkg/util/wildcard/expand.go in {_first_with(lambda x: x.namespace_wildcards) or 'a later Velero'}), "
                                   "so the backup would hold nothing from them: list the namespaces by name or "
                                   f"upgrade ({names['chart']})", index=i))
    if uploader is not None and uploader not in v.uploaders:
        out.append(Problem("uploader", _uploader_message(uploader, v, names)))
    if plugin_image is not None:
        out += _plugin_problems(plugin_image, v, names)
    return out, notes


def _uploader_message(uploader: str, v: Velero, names: FieldNames) -> str:
    valid = " or ".join(v.uploaders)
    if uploader == "restic":
        return (f"uploader 'restic' is not supported by Velero {v.version} ({v.sources['uploaders']} "
                f"ValidateUploaderType accepts {valid}): Velero 1.17 removed restic backups (only restores of old "
                f"restic data still work, and 1.19 drops those too). Set {names['uploader']} to kopia; the "
                "node-agent DaemonSet is the former restic daemonset")
    return f"uploader {uploader!r} is not valid for Velero {v.version}: set {names['uploader']} to {valid}"


def _upgrade_path(version: str, names: FieldNames) -> str:
    """The fix for a chart below the floor: each major in turn, up to the newest supported chart (a chart major may
    change its values and CRDs incompatibly: vmware-tanzu/helm-charts charts/velero README, "Upgrading")."""
    target = supported_charts()[-1]
    steps = [f"{m}.x" for m in range(version_tuple(version)[0] + 1, version_tuple(target)[0])]
    via = f" through the newest {', then '.join(steps)}" if steps else ""
    return f"set {names['chart']} to {target}, upgrading one chart major at a time{via}"


def unknown_chart_message(version: str, names: FieldNames) -> str:
    known = known_charts()
    if version_tuple(version) > version_tuple(known[-1]):
        return (f"chart {version} is newer than the charts velero-gitops knows (up to {known[-1]}): its values, "
                f"CRDs and Velero version are unchecked. Upgrade velero-gitops, or set {names['chart']} to "
                f"{known[-1]}")
    if version_tuple(version) < version_tuple(known[0]):
        return (f"chart {version} is older than the charts velero-gitops knows ({known[0]}+): it ships Velero "
                f"< {_show(RENDER_FLOOR)}; {_upgrade_path(version, names)}")
    close = [k for k in known if version_tuple(k)[:2] == version_tuple(version)[:2]] or known[-3:]
    return f"there is no chart {version} (vmware-tanzu/helm-charts has no tag velero-{version}); known: {', '.join(close)}"


def _first_with(has: Callable[[Velero], bool], minor: tuple[int, ...] | None = None) -> str | None:
    versions = sorted(data()["velero"], key=version_tuple)
    hits = [x for x in versions if has(_velero(x)) and (minor is None or version_tuple(x)[:2] == minor)]
    return hits[0] if hits else None


def _crd_problems(c: Chart, v: Velero, crds: CrdSetup, running: str, names: FieldNames) -> list[Problem]:
    """The phases the running Velero writes must be admitted by the CRDs on the cluster."""
    out = []
    installed, upgraded = crds.installed_from(c), crds.upgraded_from(c)
    if upgraded is None:
        out.append(Problem("crds", f"with spec.upgrade.crds {crds.upgrade_policy or 'unset (' + default_crd_policy('upgrade') + ')'} "
                           "and the chart's upgradeCRDs Job off, helm-controller never replaces existing CRDs, so a "
                           "chart upgrade that adds phases or fields leaves the old CRDs and Velero's status updates "
                           f"fail: set {names['crds']}"))
    if "chart" in (installed, upgraded):
        for kind, phases in v.crd_phases.items():
            admitted = c.crd_phases.get(kind)
            missing = [p for p in phases if admitted is not None and p not in admitted]
            if admitted is None:
                missing = ["(the whole CRD)"]
            if missing:
                out.append(Problem("image", f"Velero {running} sets {kind} phases {', '.join(missing)}, which chart "
                                   f"{c.version}'s CRDs refuse, so its {kind}s stay New: set {names['image']} to a "
                                   f"v{_show(version_tuple(c.app_version)[:2])}.x tag or {names['chart']} to a chart "
                                   f"that ships Velero {_show(version_tuple(v.version)[:2])}"))
                break
    return out


def plugin_image_problem(plugin_image: str, fix_tag: str, field: str) -> str | None:
    """Why ``plugin_image`` is not the AWS plugin's image, or None. The chart runs initContainers as given
    (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/deployment.yaml, toYaml .Values.initContainers),
    and the plugin's image copies its binary into the plugins volume (vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:
    Dockerfile ENTRYPOINT); only that binary registers the object store the rendered BSL's provider aws needs. So the
    image's last path segment must be the plugin's; a registry or mirror path in front of it is the user's. A name
    with no '/' is Docker Hub's library/<name> (distribution/reference@v0.6.0:normalize.go splitDockerDomain), where
    the plugin is not published."""
    fact = data()["awsPluginImage"]
    repository = plugin_image.split("@", 1)[0]
    head, _, last = repository.rpartition("/")
    last = last.split(":", 1)[0]
    name = fact["repository"].rsplit("/", 1)[-1]
    fix = f"{fact['repository']}:{fix_tag}"
    if last != name:
        return (f"{plugin_image!r} is not the AWS plugin's image: the storage location has provider aws, and only "
                f"the {name} binary registers {fact['objectStore']!r}, so Velero would find no object store and the "
                f"location would stay Unavailable: set {field} to {fix} (a mirror may keep its own registry and path, "
                f"but the image name must be {name})")
    if not head:
        return (f"{plugin_image!r} names Docker Hub's library/{name}, which is not where the plugin is published "
                f"({fact['repository']}): the pod would never pull it. Set {field} to {fix}, or put your mirror's "
                f"registry/path before {name}")
    return None


def _plugin_problems(plugin_image: str, v: Velero, names: FieldNames) -> list[Problem]:
    tag = image_tag(plugin_image)
    pairs = plugin_pairs()
    run_minor = version_tuple(v.version)[:2]
    want = [p for p, vel in pairs.items() if vel == run_minor]
    want_text = f"v{_show(want[0])}.x" if want else "the matching release"
    fits = tag is not None and re.fullmatch(r"v\d+\.\d+\.\d+", tag) and pairs.get(version_tuple(tag)[:2]) == run_minor
    wrong = plugin_image_problem(plugin_image, tag if fits and tag else want_text, names["plugin"])
    if wrong:
        return [Problem("plugin", wrong)]
    if not tag or not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", tag):
        return [Problem("plugin", f"{plugin_image!r} has no version tag, so nothing tells whether it pairs with "
                        f"Velero {v.version}: pin {want_text} (vmware-tanzu/velero-plugin-for-aws README)")]
    minor = version_tuple(tag)[:2]
    pairs_with = pairs.get(minor)
    if pairs_with != run_minor:
        built = f"is built for Velero {_show(pairs_with)}" if pairs_with else "is not in the plugin's compatibility table"
        return [Problem("plugin", f"AWS plugin {tag} {built}, not Velero {v.version}: set {names['plugin']} to "
                        f"a {want_text} tag")]
    return []


# -------------------------------------------------------------------------------------------- value keys
@dataclass(frozen=True)
class KeyProblem:
    path: tuple[str, ...]
    message: str


def unknown_value_keys(tree: dict[str, Any], values: dict[str, Any], chart_version: str,
                       path: tuple[str, ...] = ()) -> list[KeyProblem]:
    """Every key path in ``values`` the chart does not read. Lists are not descended into (their items are
    the user's), nor are mappings the chart leaves open (`podAnnotations: {}`)."""
    out: list[KeyProblem] = []
    for key, value in values.items():
        here = path + (str(key),)
        node = tree.get(str(key))
        if node is None:
            close = renames.close(str(key), list(tree))
            hint = f"; did you mean '{close}'?" if close else ""
            out.append(KeyProblem(here, f"chart {chart_version} has no value {'.'.join(here)}, so it would be "
                                  f"ignored{hint}"))
        elif isinstance(node, dict) and isinstance(value, dict):
            out += unknown_value_keys(node, value, chart_version, here)
        elif node == LEAF and isinstance(value, dict) and value:
            out.append(KeyProblem(here, f"chart {chart_version} takes {'.'.join(here)} as a single value or "
                                  "list, not a mapping"))
    return out


# ------------------------------------------------------------------------------------------ extraValues
# Values the tool must own. NEVER: a config field (or encrypt-secret) sets them, and the version rules above
# read that field, so a value here would bypass them. OWNED: what the tool's objects and alerts assume; a user
# may take one over only by listing it in velero.extraValuesOverride. Every other value the tool renders is
# found by construction when merging (render/plan.py merge_values).
NEVER = {
    ("image", "tag"): "velero.imageTag (the version rules check it)",
    ("image", "digest"): "velero.imageTag as v1.18.2@sha256:<digest> (a digest alone hides which Velero runs from "
                         "the version rules)",
    ("initContainers",): "velero.awsPluginImage (the plugin must pair with the Velero version)",
    ("upgradeCRDs",): "flux.crdsCreateReplace (it decides how CRDs are upgraded)",
    ("credentials", "secretContents"): "encrypt-secret (these values would sit unencrypted in helmrelease.yaml)",
}
OWNED = {
    ("credentials",): "the S3 credentials come from the SOPS-encrypted Secret s3.credentialsSecret",
    ("backupsEnabled",): "the rendered storage location and Schedules need it",
    ("snapshotsEnabled",): "backups are file-system (kopia) only; there is no VolumeSnapshotLocation",
    ("deployNodeAgent",): "file-system backups need the node-agent",
    ("configuration", "backupStorageLocation"): "the storage location is rendered from s3; alerts and restores assume it",
    ("configuration", "defaultBackupStorageLocation"): "Schedules name the rendered location",
    ("configuration", "volumeSnapshotLocation"): "backups are file-system (kopia) only",
    ("configuration", "defaultVolumeSnapshotLocations"): "backups are file-system (kopia) only",
    ("configuration", "uploaderType"): "velero.uploader (checked against the Velero version)",
    ("nodeAgent", "podVolumePath"): "velero.nodeAgent.distribution / podVolumePath",
    ("nodeAgent", "pluginVolumePath"): "velero.nodeAgent.pluginVolumePath",
    ("nodeAgent", "disableHostPath"): "node-agent reads the volumes through the kubelet pods hostPath",
    ("schedules",): "Schedules are rendered from `schedules`, which the alerts watch",
}
MISSING = object()
CLEAR_CREDENTIAL = ("a credential in clear: it would be written unencrypted into helmrelease.yaml, whatever velero.extraValuesOverride lists. Keep it in a "
                    "SOPS-encrypted Secret (`velero-gitops encrypt-secret` for the S3 keys; an env var reads one with "
                    "valueFrom.secretKeyRef), and rotate it: this file is committed")


RENDERED_SECRET = ("a Secret, or may become one: the chart renders each item of this value as a manifest through its "
                   "template engine (a template action, a List or an unknown kind may yield a Secret), so its values "
                   "would be written in clear into helmrelease.yaml and applied as written. Write a non-Secret object "
                   "literally (no {{ }} action, kind and apiVersion given, no List); make a Secret with "
                   "`velero-gitops encrypt-secret` (the S3 keys) or as a SOPS-encrypted file beside the tree, listed "
                   "by the app's kustomization")


def object_values(chart_version: str | None) -> list[tuple[str, ...]]:
    """The value paths whose items the chart renders as whole manifests (compat.json objectValues, derived from the
    chart's templates: vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/extra-manifests.yaml ranges
    over extraObjects and writes each item as its own document); for a chart outside the table, those of every
    chart in it."""
    charts = data()["charts"]
    chosen = [charts[chart_version]] if chart_version in charts else list(charts.values())
    return sorted({tuple(p.split(".")) for c in chosen for p in c.get("objectValues", {})})


def rendered_secrets(values: Any, chart_version: str | None) -> list[tuple[tuple[str | int, ...], Any]]:
    """(path, item) of each item of an object value the chart may apply as a Secret (possible_secret)."""
    out: list[tuple[tuple[str | int, ...], Any]] = []
    for path in object_values(chart_version):
        items = lookup(values, path)
        for i, item in enumerate(items) if isinstance(items, list) else []:
            if possible_secret(item):
                out.append(((*path, i), item))
    return out


def possible_secret(item: Any) -> bool:
    """Whether the chart may apply ``item`` of an object value as a Secret, or with one. The chart writes each item
    through ``tpl (toYaml .)`` (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/extra-manifests.yaml),
    so a template action anywhere in it may print any YAML: another kind, or a ``---`` that starts another document
    (helm/helm@v3.17.3:pkg/releaseutil/manifest.go splits the rendered file at each one); and helm's client flattens
    a List into its items (pkg/kube/client.go Build). Only a literal object, with no template action anywhere, a
    known kind that is neither Secret nor a List, is known not to be one; every other item is judged a Secret."""
    if not isinstance(item, dict):
        return True  # a string prints as itself, templated: any manifest
    kind = item.get("kind")
    if not isinstance(kind, str) or not isinstance(item.get("apiVersion"), str) or kind == "Secret" \
            or kind.endswith("List"):
        return True
    return _templated(item)


def _templated(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_templated(k) or _templated(v) for k, v in node.items())
    if isinstance(node, list):
        return any(map(_templated, node))
    return isinstance(node, str) and "{{" in node


def literal_secret(item: Any) -> bool:
    """An item that is, as written, the Secret the chart applies (possible_secret; no template, no List)."""
    return isinstance(item, dict) and item.get("kind") == "Secret" and isinstance(item.get("apiVersion"), str) \
        and not _templated(item)


def lookup(values: Any, path: list[str] | tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(values, dict) or part not in values:
            return MISSING
        values = values[part]
    return values


def _paths(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for k, v in values.items():
        here = prefix + (str(k),)
        out.append(here)
        if isinstance(v, dict):
            out += _paths(v, here)
    return out


def extra_values_problem(extra: dict[str, Any], overrides: set[str], tree: dict[str, Any] | None,
                         chart_version: str) -> tuple[tuple[str, ...], str] | None:
    """The first problem with velero.extraValues: a key the pinned chart does not read, or one the tool owns."""
    if not extra:
        return None
    # before any ownership rule: a credential in clear is refused whatever extraValuesOverride lists
    secret = next(iter(rendered_secrets(extra, chart_version)), None)
    if secret is not None:
        return tuple(str(p) for p in secret[0]), RENDERED_SECRET
    clear = next(redact.clear_credentials(extra), None)
    if clear is not None:
        return tuple(str(p) for p in clear), CLEAR_CREDENTIAL
    paths = _paths(extra)
    for path in paths:
        if path in NEVER:
            return path, f"{'.'.join(path)} is set by velero-gitops; use {NEVER[path]}"
    for path in paths:
        leaf = lookup(extra, path)
        if isinstance(leaf, dict) and leaf:
            continue  # judged at its keys: an override may name one of them
        owner = next((OWNED[path[:n]] for n in range(1, len(path) + 1) if path[:n] in OWNED), None)
        listed = any(".".join(path[:n]) in overrides for n in range(1, len(path) + 1))
        if owner and not listed:
            return path, (f"{'.'.join(path)} is owned by velero-gitops ({owner}); to replace it anyway, add "
                          f"'{'.'.join(path)}' to velero.extraValuesOverride")
    if tree is None:
        return None  # the chart itself is refused, located at velero.chartVersion
    problems = unknown_value_keys(tree, extra, chart_version)
    if problems:
        return problems[0].path, problems[0].message + " (the chart's values.schema.json accepts any key)"
    return None
