"""Versions that work together and chart values that exist (config/compat.py), as `render`/`check` apply them.

The table itself is re-derived from the upstream tags in test_compat_upstream.py (marker `upstream`); here its
use is tested: each combination that would silently not work is refused at the field to change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops.config import compat
from velero_gitops.config.loader import load
from velero_gitops.errors import ConfigError
from velero_gitops.render.plan import chart_values, plan_tree

BASE = """\
cluster: t
s3:
  endpoint: https://s3.68cc.io
metrics:
  prometheusRule: false
  dashboard: {enabled: false}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "c.yaml").write_text(BASE + text)
    return tmp_path / "c.yaml"


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        load(write(tmp_path, text))
    assert len(exc.value.problems) == 1
    return exc.value.problems[0]


def velero(chart: str, extra: str = "", plugin: str | None = None) -> str:
    app = compat.chart(chart)
    assert app is not None
    minor = tuple(int(x) for x in app.app_version.split(".")[:2])
    pairs = {v: p for p, v in compat.plugin_pairs().items()}
    plugin = plugin or "v%d.%d.0" % pairs[minor]
    return f"velero:\n  chartVersion: {chart}\n  awsPluginImage: velero/velero-plugin-for-aws:{plugin}\n{extra}"


def test_chart_app_versions_come_from_the_table():
    """vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/Chart.yaml appVersion 1.18.1; velero-11.1.1 ships 1.17.0."""
    assert compat.chart("12.1.0").app_version == "1.18.1"
    assert compat.chart("11.1.1").app_version == "1.17.0"
    assert compat.chart("11.2.0").app_version == "1.17.1"


def test_every_supported_chart_renders_with_its_own_plugin(tmp_path):
    """Each chart from the floor up, with the plugin minor its Velero pairs with (velero-plugin-for-aws README
    "Compatibility"), loads, and every value we render is one the chart reads (plan's key guard)."""
    for chart in compat.supported_charts():
        for extra in ("", "  nodeAgent:\n    privileged: true\n"):
            if extra and not compat.velero(compat.chart(chart).app_version)[0].privileged_fs_backup:
                continue
            plan_tree(load(write(tmp_path, velero(chart, extra))))


def test_newer_image_than_the_charts_crds_is_refused_at_image_tag(tmp_path):
    """vmware-tanzu/velero@v1.18.0:config/crd/v1/bases/velero.io_backups.yaml adds phases Queued and ReadyToStart,
    which vmware-tanzu/helm-charts@velero-11.4.0:charts/velero/crds/backups.yaml's enum lacks: with Flux applying
    the chart's CRDs (crds: CreateReplace) the API server rejects Velero 1.18's status update and backups stay New."""
    line = refused(tmp_path, velero("11.4.0", "  imageTag: v1.18.1\n", plugin="v1.13.2"))
    assert "velero.imageTag" in line.split(" ")[1]
    assert "Backup phases Queued, ReadyToStart" in line and "chart 11.4.0" in line


def test_other_minor_is_refused_even_when_the_job_brings_the_images_crds(tmp_path):
    """With crdsCreateReplace off the chart's upgradeCRDs Job applies the image's CRDs
    (vmware-tanzu/helm-charts@velero-11.4.0:charts/velero/templates/upgrade-crds/upgrade-crds.yaml), so the
    phases fit; the image override is still for patches of the chart's own minor."""
    line = refused(tmp_path, velero("11.4.0", "  imageTag: v1.18.1\n", plugin="v1.13.2")
                   + "flux:\n  crdsCreateReplace: false\n")
    assert "velero.imageTag" in line and "newer patches of the chart's own minor" in line


def test_privileged_needs_privileged_fs_backup(tmp_path):
    """privilegedFsBackup is a field of the node-agent config from vmware-tanzu/velero@v1.17.1:pkg/types/node_agent.go;
    chart 11.1.1 ships Velero 1.17.0, where the pods that read the volumes would run unprivileged."""
    line = refused(tmp_path, velero("11.1.1", "  nodeAgent:\n    privileged: true\n"))
    assert "velero.nodeAgent.privileged" in line and "v1.17.1" in line
    load(write(tmp_path, velero("11.2.0", "  nodeAgent:\n    privileged: true\n")))


def test_namespace_globs_need_wildcard_expansion(tmp_path):
    """Namespace includes are listed literally by pkg/backup/item_collector.go getNamespacesToList until
    vmware-tanzu/velero@v1.18.0:pkg/util/wildcard/expand.go expands them; `*` alone always means all."""
    sched = 'schedules:\n  - name: d\n    cron: "0 2 * * *"\n    namespaces: [apps, "network-*"]\n'
    line = refused(tmp_path, velero("11.4.0") + sched)
    assert line.split(" ")[1] == "schedules[0].namespaces:" and "'network-*'" in line
    load(write(tmp_path, velero("12.1.0") + sched))
    load(write(tmp_path, velero("11.4.0") + sched.replace('[apps, "network-*"]', '["*"]')))


@pytest.mark.parametrize("plugin,why", [("v1.13.2", "built for Velero 1.17"), ("latest", "no version tag"),
                                        ("v1.99.0", "not in the plugin's compatibility table")])
def test_plugin_must_pair_with_the_velero_minor(tmp_path, plugin, why):
    """vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:README.md: plugin v1.14.x goes with Velero v1.18.x."""
    line = refused(tmp_path, velero("12.1.0", plugin=plugin))
    assert "velero.awsPluginImage" in line and why in line


def _image(repository: str, tag: str) -> str:
    return f"velero:\n  chartVersion: 12.1.0\n  awsPluginImage: {repository}:{tag}\n"


@pytest.mark.parametrize("repository,why", [
    ("velero/velero-plugin-for-gcp", "is not the AWS plugin's image"),
    ("velero/velero-plugin-for-microsoft-azure", "is not the AWS plugin's image"),
    ("velero/velero", "is not the AWS plugin's image"),
    ("velero-plugin-for-aws", "Docker Hub's library/velero-plugin-for-aws"),
])
@pytest.mark.parametrize("tag", ["v1.14.0", "v1.12.0"])
def test_plugin_image_must_be_the_aws_plugins_repository(tmp_path, repository, why, tag):
    """The chart runs initContainers as given (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/
    deployment.yaml); only the image published as $(REGISTRY)/$(BIN) copies the binary that registers velero.io/aws
    (vmware-tanzu/velero-plugin-for-aws@v1.14.0-rc.1:Makefile, Dockerfile, velero-plugin-for-aws/main.go; compat.json
    awsPluginImage). The wrong repository is named before its tag is judged: a GCP image is not "AWS plugin v1.12"."""
    line = refused(tmp_path, _image(repository, tag))
    assert "velero.awsPluginImage" in line and why in line and "AWS plugin v" not in line
    assert f"{compat.data()['awsPluginImage']['repository']}:v1.14." in line


@pytest.mark.parametrize("repository", ["registry.lan:5000/velero/velero-plugin-for-aws", "ghcr.io/mirror/velero-plugin-for-aws",
                                        "registry.lan:5000/velero-plugin-for-aws", "myorg/velero-plugin-for-aws"])
def test_plugin_image_from_a_mirror_keeps_its_registry_and_path(tmp_path, repository):
    """Same code: only the last path segment names the image; what is before it is where it is pulled from."""
    load(write(tmp_path, _image(repository, "v1.14.3")))


def test_restic_is_refused_from_the_uploaders_velero_accepts(tmp_path):
    """vmware-tanzu/velero@v1.17.0:pkg/uploader/types.go ValidateUploaderType accepts only kopia."""
    line = refused(tmp_path, velero("12.1.0", "  uploader: restic\n"))
    assert "velero.uploader" in line and "Velero 1.17 removed restic" in line


@pytest.mark.parametrize("chart,why", [("12.9.0", "newer than the charts velero-gitops knows"),
                                       ("11.3.0", "there is no chart 11.3.0"),
                                       ("10.1.3", "ships Velero 1.16.2"),
                                       ("2.32.6", "older than the charts velero-gitops knows")])
def test_unknown_or_old_chart_is_an_error_never_the_newest(tmp_path, chart, why):
    line = refused(tmp_path, f"velero:\n  chartVersion: {chart}\n")
    assert "velero.chartVersion" in line and why in line


@pytest.mark.parametrize("chart,steps", [("8.1.0", "9.x, then 10.x, then 11.x"), ("10.1.3", "11.x")])
def test_an_old_chart_is_upgraded_one_major_at_a_time_to_the_newest(tmp_path, chart, steps):
    """vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/README.md ("Upgrading Chart"): a chart major may change
    values and CRDs incompatibly, so the fix names each major between the chart and the newest supported one (fresh7:
    chart 8.1.0 was told "set 12.1.0 (upgrade one chart major at a time)", two fixes that contradict)."""
    from velero_gitops.config.compat import supported_charts
    line = refused(tmp_path, f"velero:\n  chartVersion: {chart}\n")
    want = f"set velero.chartVersion to {supported_charts()[-1]}, upgrading one chart major at a time through the newest {steps}"
    assert want in line, line


def test_unlisted_patch_is_checked_as_its_minor_and_said_so(tmp_path):
    p = plan_tree(load(write(tmp_path, velero("12.1.0", "  imageTag: v1.18.7\n"))))
    assert any("checked as 1.18.1" in n for n in p.notes)


# ------------------------------------------------------------------------------------------- CRD upgrades
@pytest.mark.parametrize("install,upgrade,job,want", [
    ("", "", False, None), ("Skip", "Skip", False, None), ("Create", "Create", False, None),
    ("CreateReplace", "CreateReplace", False, "chart"), ("", "", True, "image"), ("Skip", "Skip", True, "image"),
    ("CreateReplace", "CreateReplace", True, "image"),
])
def test_crd_upgrades_follow_helm_controller_and_the_chart_job(install, upgrade, job, want):
    """fluxcd/helm-controller@v1.6.3:internal/action/crds.go: crdPolicyOrDefault turns an empty policy into Create
    (for upgrades too, whatever the api/v2 doc comment says), and Create never replaces an existing CRD; only
    CreateReplace does. The chart's pre-upgrade hook (vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/
    templates/upgrade-crds/upgrade-crds.yaml) runs afterwards and applies the image's own CRDs."""
    assert compat.default_crd_policy("upgrade") == "Create"
    assert compat.CrdSetup(install, upgrade, job).upgraded_from(compat.chart("12.1.0")) == want


@pytest.mark.parametrize("create_replace", [True, False])
def test_rendered_release_upgrades_crds_with_every_setting(tmp_path, create_replace):
    """Read the rendered HelmRelease as helm-controller does: whichever crdsCreateReplace says, a chart upgrade
    replaces the CRDs, and with CRDs that admit every phase the running Velero writes."""
    cfg = load(write(tmp_path, velero("12.1.0") + f"flux:\n  crdsCreateReplace: {str(create_replace).lower()}\n"))
    hr = next(d.obj for a in plan_tree(cfg).artifacts for d in a.docs if d.obj["kind"] == "HelmRelease")
    spec = hr["spec"]
    setup = compat.CrdSetup(spec.get("install", {}).get("crds", ""), spec.get("upgrade", {}).get("crds", ""),
                            spec["values"]["upgradeCRDs"])
    chart = compat.chart("12.1.0")
    source = setup.upgraded_from(chart)
    assert source == ("chart" if create_replace else "image")
    running, _ = compat.velero(chart.app_version)
    crds = chart.crd_phases if source == "chart" else running.crd_phases
    assert all(set(phases) <= set(crds[kind]) for kind, phases in running.crd_phases.items())


# ------------------------------------------------------------------------------------------- extraValues
def test_extra_values_merge_under_ours(tmp_path):
    v = chart_values(load(write(tmp_path, velero("12.1.0", (
        "  extraValues:\n    podAnnotations: {team: ops}\n    configuration:\n      extraEnvVars:\n"
        "        - {name: GOMAXPROCS, value: '2'}\n    image: {repository: mirror.example/velero/velero}\n")))))
    assert v["podAnnotations"] == {"team": "ops"}
    assert v["configuration"]["extraEnvVars"] == [{"name": "GOMAXPROCS", "value": "2"}]
    assert v["configuration"]["uploaderType"] == "kopia"  # ours kept beside theirs
    assert v["image"] == {"repository": "mirror.example/velero/velero"}


def test_unknown_extra_value_is_located_with_did_you_mean(tmp_path):
    """The key set of vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/values.yaml (+ what templates read)."""
    line = refused(tmp_path, velero("12.1.0", "  extraValues:\n    podAnnotation: {a: b}\n"))
    assert line.startswith(f"{tmp_path / 'c.yaml'}:".replace(str(tmp_path) + "/", "")) or ":" in line
    assert "velero.extraValues.podAnnotation:" in line and "did you mean 'podAnnotations'" in line
    assert ":11:" in line  # the line of the key in the file


@pytest.mark.parametrize("key,value,owner", [
    ("credentials", "{extraSecretRef: other}", "velero.extraValuesOverride"),
    ("configuration", "{volumeSnapshotLocation: [{name: x}]}", "velero.extraValuesOverride"),
    ("image", "{tag: v1.18.1}", "use velero.imageTag"),
    ("upgradeCRDs", "false", "use flux.crdsCreateReplace"),
    ("credentials", "{secretContents: {cloud: x}}", "use encrypt-secret"),
])
def test_keys_the_tool_owns_are_refused(tmp_path, key, value, owner):
    line = refused(tmp_path, velero("12.1.0", f"  extraValues:\n    {key}: {value}\n"))
    assert owner in line


def test_owned_key_is_accepted_when_listed(tmp_path):
    v = chart_values(load(write(tmp_path, velero("12.1.0", (
        "  extraValues:\n    credentials: {extraSecretRef: other}\n"
        "  extraValuesOverride: [credentials.extraSecretRef]\n")))))
    assert v["credentials"]["extraSecretRef"] == "other" and v["credentials"]["existingSecret"] == "velero-s3-secret"


def test_a_value_ours_would_replace_is_refused_unless_overridden(tmp_path):
    text = velero("12.1.0", "  extraValues:\n    resources: {limits: {memory: 1Gi}}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:11:34 velero.extraValues.resources.limits.memory: velero-gitops renders"):
        chart_values(load(write(tmp_path, text)))
    v = chart_values(load(write(tmp_path, text + "  extraValuesOverride: [resources.limits.memory]\n")))
    assert v["resources"]["limits"]["memory"] == "1Gi"


def test_override_must_name_a_key_that_is_set(tmp_path):
    line = refused(tmp_path, velero("12.1.0", "  extraValuesOverride: [credentials]\n"))
    assert "velero.extraValuesOverride" in line and "not set in velero.extraValues" in line


def test_a_rendered_key_the_chart_no_longer_reads_is_refused(tmp_path, monkeypatch):
    """A key renamed in a future chart would vanish silently (values.schema.json accepts unknown keys): plan
    refuses to render a value the pinned chart's key set does not have."""
    chart = compat.chart("12.1.0")
    tree = {k: v for k, v in chart.value_keys.items() if k != "snapshotsEnabled"}
    monkeypatch.setattr(compat, "chart", lambda version: compat.Chart(**{**chart.__dict__, "value_keys": tree}))
    with pytest.raises(ConfigError, match=r"c\.yaml:8:17 velero.chartVersion: chart 12.1.0 has no value snapshotsEnabled"):
        chart_values(load(write(tmp_path, velero("12.1.0"))))


# ------------------------------------------------------------------------------- the derivation's readers
def derive_script():
    import importlib.util

    from cli_util import REPO

    spec = importlib.util.spec_from_file_location("derive_compat", REPO / "scripts" / "derive_compat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_value_keys_are_values_yaml_plus_what_templates_read():
    """Shapes from vmware-tanzu/helm-charts@velero-12.1.0: `resources: {}` is open, nodeAgent.extraArgs is read by
    templates/node-agent-daemonset.yaml, `(.Values.upgradeCRDsJob).extraEnvVars` by the upgrade-crds Job."""
    s = derive_script()
    values = "nodeAgent:\n  podVolumePath: /var/lib/kubelet/pods\n  resources: {}\nupgradeCRDsJob:\n  extraVolumes: []\n"
    tpl = "{{ .Values.nodeAgent.extraArgs }} {{- if (.Values.upgradeCRDsJob).extraEnvVars }}{{ $.Values.metrics.enabled }}"
    tree = s.chart_value_keys(values, [tpl])
    assert tree == {"metrics": {"enabled": "*"},
                    "nodeAgent": {"extraArgs": "*", "podVolumePath": "=", "resources": "*"},
                    "upgradeCRDsJob": {"extraEnvVars": "*", "extraVolumes": "="}}
    assert [p.path for p in compat.unknown_value_keys(tree, {"nodeAgent": {"resources": {"limits": {}},
                                                                           "extraArg": []}}, "x")] == [("nodeAgent", "extraArg")]


def test_a_mapping_a_template_prints_whole_takes_any_key():
    """vmware-tanzu/helm-charts@velero-12.0.0:charts/velero/templates/repo-maintenance-configmap.yaml prints
    `with .Values.configuration.repositoryMaintenanceJob.repositoryConfigData.global` as `. | toPrettyJson`, and
    deployment.yaml `toYaml .Values.livenessProbe`: the keys under them are the user's (Velero reads `podResources`
    there), though values.yaml lists a few. A `range` body's dot is an item, not the mapping; a nested `with .x`
    extends the path (text/template's `with` sets dot)."""
    s = derive_script()
    values = ("configuration:\n  maint:\n    global:\n      keep: 3\n    repos: {}\n  other:\n    a: 1\n"
              "probe:\n  path: /x\nlisted:\n  k: 1\n")
    tpl = ("{{- with .Values.configuration.maint.global }}\n{{- . | toPrettyJson | nindent 4 }}\n{{- end }}\n"
           "{{ toYaml .Values.probe | nindent 2 }}\n"
           "{{- range $k, $v := .Values.listed }}{{ toYaml . }}{{ end }}\n"
           "{{- with .Values.configuration }}{{- with .other }}{{ toJson . }}{{ end }}{{ end }}")
    tree = s.chart_value_keys(values, [tpl])
    assert tree["configuration"]["maint"]["global"] == "*" and tree["probe"] == "*"
    assert tree["configuration"]["other"] == "*"
    assert tree["listed"] == {"k": "="}  # printed item by item: its own keys stay closed
    assert compat.unknown_value_keys(tree, {"configuration": {"maint": {"global": {"podResources": {}}}}}, "x") == []


def test_uploaders_are_read_from_validate_uploader_type():
    """The two shapes of vmware-tanzu/velero pkg/uploader/types.go ValidateUploaderType (v1.16.2, v1.17.0)."""
    s = derive_script()
    head = 'const (\n\tResticType = "restic"\n\tKopiaType  = "kopia"\n)\n'
    old = head + "func ValidateUploaderType(t string) (string, error) {\n\tif t != ResticType && t != KopiaType {\n\t\treturn\n\t}\n}\n"
    new = head + "func ValidateUploaderType(t string) (string, error) {\n\tif t != KopiaType {\n\t\treturn\n\t}\n}\n"
    assert s.uploaders(old) == ["kopia", "restic"] and s.uploaders(new) == ["kopia"]


TEMPLATED = "'{{ print \"Sec\" \"ret\" }}'"


@pytest.mark.parametrize("item, secret", [
    ("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: b}}", False),  # literal, known, no Secret
    (f"{{apiVersion: v1, kind: {TEMPLATED}, metadata: {{name: s}}, stringData: {{a: TPLLEAK1}}}}", True),
    ("{apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Secret, stringData: {a: TPLLEAK1}}]}", True),
    ("{apiVersion: v1, kind: SecretList, items: []}", True),
    # an action in any field may print a `---` and a whole Secret after it
    ("{apiVersion: v1, kind: ConfigMap, metadata: {name: c, labels: {x: '{{ \"y\" }}'}}, data: {a: TPLLEAK1}}", True),
    ("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {'{{ .Values.k }}': TPLLEAK1}}", True),
    ("{apiVersion: '{{ .Values.v }}', kind: ConfigMap, data: {a: TPLLEAK1}}", True),
    ("{kind: ConfigMap, data: {a: TPLLEAK1}}", True),  # no apiVersion: not a known object
    ("'apiVersion: v1\n  kind: Secret\n  stringData: {a: TPLLEAK1}'", True),  # a string prints as itself
])
def test_what_the_chart_may_apply_as_a_secret_is_judged_as_the_chart_renders_it(tmp_path, item, secret):
    """Attack 8 break 1: vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/extra-manifests.yaml writes
    each extraObjects item through `tpl (toYaml .)`, helm/helm@v3.17.3:pkg/releaseutil/manifest.go splits what it
    prints at each `---`, and pkg/kube/client.go Build flattens a List: only a literal object of a known kind that
    is neither a Secret nor a List is known not to be one (compat.possible_secret). The config refuses the others,
    located, without their values."""
    import yaml

    values = {"extraObjects": [yaml.safe_load(item)]}
    assert [p for p, _ in compat.rendered_secrets(values, "12.1.0")] == ([("extraObjects", 0)] if secret else [])
    text = velero("12.1.0", f"  extraValues:\n    extraObjects:\n    - {item}\n")
    if secret:
        line = refused(tmp_path, text)
        assert "velero.extraValues.extraObjects[0]:" in line and "may become one" in line, line
        assert "TPLLEAK1" not in line
    else:
        load(write(tmp_path, text))


@pytest.mark.parametrize("chart", ["12.1.0", "10.0.0", "7.0.0"])
def test_a_secret_the_chart_renders_from_extra_values_is_refused(tmp_path, chart):
    """Attack 7 break 2: vmware-tanzu/helm-charts@velero-12.1.0:charts/velero/templates/extra-manifests.yaml ranges
    over extraObjects and writes each item as its own manifest (compat.json objectValues, derived from the templates
    by scripts/derive_compat.py); a Secret there lands in clear in helmrelease.yaml. A chart outside the table is
    judged by every chart's object values. Other objects stay allowed."""
    assert ("extraObjects",) in compat.object_values(chart)
    secret = "  extraValues:\n    extraObjects:\n    - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n" \
             "    - {apiVersion: v1, kind: Secret, metadata: {name: s}, stringData: {password: RENDERLEAK1}}\n"
    cm, sec = {"apiVersion": "v1", "kind": "ConfigMap"}, {"apiVersion": "v1", "kind": "Secret"}
    assert compat.rendered_secrets({"extraObjects": [cm, sec]}, chart) == [(("extraObjects", 1), sec)]
    if chart == "12.1.0":
        line = refused(tmp_path, velero(chart, secret))
        assert "velero.extraValues.extraObjects[1]:" in line and "encrypt-secret" in line and ":13:" in line, line
        assert "RENDERLEAK1" not in line


def test_kopia_is_the_release_velero_states_not_the_replaced_require():
    """vmware-tanzu/velero@v1.18.1:go.mod requires github.com/kopia/kopia v0.16.0 and replaces it with
    github.com/project-velero/kopia; the release the fork carries is the one changelogs/CHANGELOG-1.18.md states under
    "Runtime and dependencies". The parser takes the statement, never the replaced require line."""
    s = derive_script()
    go_mod = ("require (\n\tgithub.com/kopia/kopia v0.16.0\n)\n\n"
              "replace github.com/kopia/kopia => github.com/project-velero/kopia v0.0.0-20251230033609-d946b1e75197\n")
    changelog = "## v1.18.1\n* Bump kopia\n## v1.18\n### Runtime and dependencies\nGolang runtime: 1.25.7  \nkopia: 0.22.3\n"
    assert s.kopia(changelog, go_mod) == {
        "version": "0.22.3", "replacedBy": "github.com/project-velero/kopia v0.0.0-20251230033609-d946b1e75197"}
    assert s.kopia(changelog, "require github.com/kopia/kopia v0.22.3\n") == {"version": "0.22.3"}


def test_secrets_doc_names_the_kopia_of_the_pinned_velero():
    """docs/secrets.md ("Changing the repository password") tells the user which kopia CLI to use: the one compat.json
    derives for the Velero the default chart pin runs (its appVersion), and the fork it comes from."""
    from velero_gitops.config.model import VeleroConfig

    pin = compat.chart(VeleroConfig.model_fields["chart_version"].default)
    assert pin is not None
    v, _ = compat.velero(pin.app_version)
    assert v is not None and v.kopia and v.kopia_fork
    minor = ".".join(pin.app_version.split(".")[:2])
    doc = (Path(__file__).resolve().parents[2] / "docs" / "secrets.md").read_text()
    section = doc.split("**Changing the repository password**", 1)[1].split("\n- ", 1)[0]
    assert f"kopia {v.kopia} for Velero {minor}" in section
    assert f"`{v.kopia_fork.split()[0]}`" in section
