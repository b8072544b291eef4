"""`${VAR}` in s3.endpoint, left for Flux to substitute (issue 18 §4).

kustomize-controller runs envsubst on the build of a Kustomization with postBuild (fluxcd/pkg@kustomize/v1.35.4:
kustomize/kustomize_varsub.go, SubstituteVariables); an object annotated kustomize.toolkit.fluxcd.io/substitute:
disabled is skipped there, which the Grafana dashboard (full of Grafana's own ${...}) needs whichever Kustomization
applies it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from velero_gitops import yamlsafe

from cli_util import run_cli

SUBST = "flux:\n  substituteFrom:\n    - kind: ConfigMap\n      name: cluster-settings\n"
CONFIG = "cluster: t\n{subst}s3:\n  endpoint: {endpoint}\nschedules: []\n"


def _docs(p: Path) -> list[dict]:
    return [d.data for d in yamlsafe.load_all(p.read_text())]


def test_the_variable_reaches_the_bsl_and_the_kustomization_substitutes(tmp_path):
    (tmp_path / "velero-gitops.yaml").write_text(CONFIG.format(subst=SUBST, endpoint="https://minio.${SECRET_DOMAIN}"))
    r = run_cli("render", "-q", str(tmp_path / "velero-gitops.yaml"))
    assert r.code == 0, r.err
    app = tmp_path / "kubernetes/apps/velero/velero"
    hr = _docs(app / "app/helmrelease.yaml")[0]
    assert hr["spec"]["values"]["configuration"]["backupStorageLocation"][0]["config"]["s3Url"] == \
        "https://minio.${SECRET_DOMAIN}"
    ks = _docs(app / "ks.yaml")[0]
    assert ks["spec"]["postBuild"] == {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-settings"}]}
    cm = _docs(app / "monitoring/grafana-dashboard.yaml")[0]
    assert cm["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"] == "disabled"


@pytest.mark.parametrize("subst,endpoint,says", [
    ("", "https://minio.${SECRET_DOMAIN}", "nothing substitutes it"),
    (SUBST, "https://${A}/path", "path"),
    (SUBST, "ftp://${HOST}", "endpoint"),
])
def test_refused(tmp_path, subst, endpoint, says):
    (tmp_path / "velero-gitops.yaml").write_text(CONFIG.format(subst=subst, endpoint=endpoint))
    r = run_cli("render", str(tmp_path / "velero-gitops.yaml"))
    assert r.code == 2 and says in r.err and "Traceback" not in r.err, r.err


def test_s3_commands_say_they_cannot_know_the_host(tmp_path):
    (tmp_path / "velero-gitops.yaml").write_text(CONFIG.format(subst=SUBST, endpoint="https://minio.${SECRET_DOMAIN}"))
    r = run_cli("s3", "check", str(tmp_path / "velero-gitops.yaml"))
    assert r.code == 2 and "Flux variable" in r.err, r.err
