"""Re-derive config/compat.json from the upstream Git repositories and compare it with the shipped file.

Marker `upstream`: deselected by default (pyproject addopts), because it reads bare clones of
vmware-tanzu/helm-charts, vmware-tanzu/velero, vmware-tanzu/velero-plugin-for-aws and fluxcd/helm-controller.
Run it with the clones under $VELERO_GITOPS_MIRROR (default /work/.mirror, laid out as <owner>+<name>/repo):

    python -m pytest -m upstream tests/config/test_compat_upstream.py

A missing clone fails the test (it never skips): selecting it means you want the answer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from cli_util import REPO

pytestmark = pytest.mark.upstream
MIRROR = Path(os.environ.get("VELERO_GITOPS_MIRROR", "/work/.mirror"))


def script():
    spec = importlib.util.spec_from_file_location("derive_compat", REPO / "scripts" / "derive_compat.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def show(repo: str, ref: str) -> str:
    git_dir = MIRROR / repo.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        pytest.fail(f"{git_dir} is missing: clone github.com/{repo} there (bare) or set VELERO_GITOPS_MIRROR")
    return subprocess.run(["git", f"--git-dir={git_dir}", "show", ref], check=True, capture_output=True, text=True).stdout


def test_shipped_table_is_what_the_upstream_tags_say():
    for repo in ("vmware-tanzu/helm-charts", "vmware-tanzu/velero", "vmware-tanzu/velero-plugin-for-aws",
                 "fluxcd/helm-controller"):
        show(repo, "HEAD:")  # fails with the fix when a clone is missing
    fresh = script().derive(MIRROR)
    shipped = json.loads((REPO / "src/velero_gitops/config/compat.json").read_text())
    assert fresh == shipped, "run: python scripts/derive_compat.py"


def test_spot_checks_read_straight_from_the_sources():
    """Independent of the script: the facts the issue names, read from the files themselves."""
    assert "- Queued" not in show("vmware-tanzu/helm-charts", "velero-11.4.0:charts/velero/crds/backups.yaml")
    assert "- Queued" in show("vmware-tanzu/helm-charts", "velero-12.0.0:charts/velero/crds/backups.yaml")
    assert "- Queued" in show("vmware-tanzu/velero", "v1.18.0:config/crd/v1/bases/velero.io_backups.yaml")
    assert 'json:"privilegedFsBackup' in show("vmware-tanzu/velero", "v1.17.1:pkg/types/node_agent.go")
    assert 'json:"privilegedFsBackup' not in show("vmware-tanzu/velero", "v1.17.0:pkg/types/node_agent.go")
    assert "ShouldExpandWildcards" in show("vmware-tanzu/velero", "v1.18.0:pkg/util/collections/includes_excludes.go")
    assert "ShouldExpandWildcards" not in show("vmware-tanzu/velero", "v1.17.2:pkg/util/collections/includes_excludes.go")
    assert "| v1.14.x        | v1.18.x        |" in show("vmware-tanzu/velero-plugin-for-aws", "v1.14.0-rc.1:README.md")
    assert "DefaultCRDPolicy = v2.Create" in show("fluxcd/helm-controller", "v1.6.3:internal/action/crds.go")


def test_longest_key_below_the_prefix_is_velero_layouts():
    """names.LONGEST_KEY_BELOW_PREFIX against vmware-tanzu/velero@v1.18.1:pkg/persistence/object_store_layout.go:
    every backups key is path.Join(<prefix>/backups, backup, fmt.Sprintf("%s<suffix>", backup)), and a backup of a
    schedule is named by pkg/apis/velero/v1/schedule_types.go TimestampedName."""
    import re

    from velero_gitops.config import names

    layout = show("vmware-tanzu/velero", "v1.18.1:pkg/persistence/object_store_layout.go")
    suffixes = re.findall(r'subdirs\["backups"\], backup, fmt\.Sprintf\("%s([^"]*)", backup\)', layout)
    assert len(suffixes) > 5
    stamp = re.search(r'timestamp\.Format\("(\d+)"\)', show("vmware-tanzu/velero", "v1.18.1:pkg/apis/velero/v1/schedule_types.go"))
    assert stamp
    backup = names.SCHEDULE_NAME_MAX + 1 + len(stamp.group(1))
    assert names.BACKUP_NAME_MAX == backup
    assert names.LONGEST_KEY_BELOW_PREFIX == max(len(f"/backups/{'b' * backup}/{'b' * backup}{s}") for s in suffixes)


def test_flux_appliers_are_the_crds_names():
    """names._DISCOVERY's Flux entries against the CRDs at the tags the tool cites
    (fluxcd/helm-controller@v1.6.3:config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml,
    fluxcd/kustomize-controller@v1.9.4:config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml): group,
    plural, singular and short names as discovery lists them, and FLUX_APPLIERS is exactly the CRDs of category
    fluxcd-appliers among them."""
    import yaml

    from velero_gitops.config import names

    crds = [("fluxcd/helm-controller", "v1.6.3", "helm.toolkit.fluxcd.io_helmreleases.yaml"),
            ("fluxcd/kustomize-controller", "v1.9.4", "kustomize.toolkit.fluxcd.io_kustomizations.yaml")]
    appliers = []
    for repo, tag, name in crds:
        spec = yaml.safe_load(show(repo, f"{tag}:config/crd/bases/{name}"))["spec"]
        n = spec["names"]
        entry = (spec["group"], n["plural"], n["singular"], tuple(n.get("shortNames", ())))
        assert entry in names._DISCOVERY, entry
        if "fluxcd-appliers" in n.get("categories", ()):
            appliers.append(f"{n['plural']}.{spec['group']}")
    assert sorted(appliers) == sorted(names.FLUX_APPLIERS)


def test_node_lost_backup_check_reads_what_velero_writes():
    """docs/restore-drill.md section 8 proves a backup holds each PVC's data by listing PodVolumeBackups by the label
    and annotation Velero gives them: vmware-tanzu/velero@v1.18.1:pkg/podvolume/backupper.go newPodVolumeBackup
    labels BackupNameLabel and annotates PVCNameAnnotation, the key pkg/restore/restore.go hasPodVolumeBackup reads
    a PV's data by; a Completed phase is one the CRD admits."""
    import re

    labels = show("vmware-tanzu/velero", "v1.18.1:pkg/apis/velero/v1/labels_annotations.go")
    configs = show("vmware-tanzu/velero", "v1.18.1:pkg/podvolume/configs/configs.go")
    backupper = show("vmware-tanzu/velero", "v1.18.1:pkg/podvolume/backupper.go")
    restore = show("vmware-tanzu/velero", "v1.18.1:pkg/restore/restore.go")
    crd = show("vmware-tanzu/velero", "v1.18.1:config/crd/v1/bases/velero.io_podvolumebackups.yaml")
    label = re.search(r'BackupNameLabel\s*=\s*"([^"]+)"', labels)
    annotation = re.search(r'PVCNameAnnotation\s*=\s*"([^"]+)"', configs)
    assert label and annotation
    assert "velerov1api.BackupNameLabel:" in backupper and "configs.PVCNameAnnotation: pvc.Name" in backupper
    assert "GetAnnotations()[configs.PVCNameAnnotation] == pv.Spec.ClaimRef.Name" in restore
    assert "- Completed" in crd
    doc = (REPO / "docs" / "restore-drill.md").read_text()
    section = doc.split("## 8. One node lost", 1)[1].split("\n## ", 1)[0]
    assert f'-l {label.group(1)}="$B"' in section
    assert ".metadata.annotations." + annotation.group(1).replace(".", "\\.") + "}" in section
    assert '?(@.status.phase=="Completed")' in section
