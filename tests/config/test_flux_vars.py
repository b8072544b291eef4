"""`${VAR}` in s3.endpoint, left for Flux to substitute (issue 18 §4).

kustomize-controller runs envsubst on the build of a Kustomization with postBuild (fluxcd/pkg@kustomize/v1.35.4:
kustomize/kustomize_varsub.go, SubstituteVariables); an object annotated kustomize.toolkit.fluxcd.io/substitute:
disabled is skipped there, which the Grafana dashboard (full of Grafana's own ${...}) needs whichever Kustomization
applies it.
"""

from __future__ import annotations

import json
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


# ---------------------------------------------------------------------------------------- defaults (round 8)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from velero_gitops.config.loader import load  # noqa: E402
from velero_gitops.config.names import endpoint_problem  # noqa: E402
from velero_gitops.errors import ConfigError  # noqa: E402

_HOSTS = ["minio.example.org", "velero:hunter22@minio.example.org", "minio.lab:9000",
          "minio:x", "[fd00::1]", "a..b", ""]
_PIECES = st.one_of(
    st.sampled_from(["minio.", "s3.", ".lab", ":9000", "/", "host"]),
    st.builds(lambda n, op, d: f"${{{n}{op}{d}}}", st.sampled_from(["H", "MINIO_HOST", "D"]),
              st.sampled_from(["", ":=", ":-", "=", ":+", "-"]), st.sampled_from(_HOSTS)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, min_size=1, max_size=4))
def test_an_endpoint_with_variables_is_judged_as_flux_substitutes_it(tmp_path, pieces):
    """Cases 150/248 (a traceback) and 252 (a password in a default, rendered in clear): whatever `${...}` an
    endpoint holds, loading gives a Config or a located error, never another exception; and when Flux may
    substitute a default that is no endpoint (user info, a bad port), the config is refused
    (fluxcd/pkg@kustomize/v1.35.4:kustomize/kustomize_varsub.go → fluxcd/pkg envsubst toDefault)."""
    from velero_gitops.varsub import BadSubstitution, outcomes

    endpoint = "https://" + "".join(pieces)
    path = tmp_path / "velero-gitops.yaml"
    path.write_text(CONFIG.format(subst=SUBST, endpoint=json.dumps(endpoint)))
    try:
        worlds = outcomes(endpoint, "substituted")
        bad = any(endpoint_problem(u) for u, _ in worlds)
    except BadSubstitution:
        bad = True
    try:
        load(path)
        accepted = True
    except ConfigError as exc:
        accepted = False
        assert "hunter22" not in str(exc)
    assert accepted is not bad, endpoint


def test_a_default_is_judged_like_a_plain_endpoint(tmp_path):
    """The default is what Flux substitutes when the variable is unset: its region, its user info count."""
    p = tmp_path / "velero-gitops.yaml"
    p.write_text(CONFIG.format(subst=SUBST, endpoint="https://${MINIO_HOST:=minio.example.org}"))
    assert load(p).config.s3.endpoint == "https://${MINIO_HOST:=minio.example.org}"
    for endpoint, says in [("https://${H:=velero:hunter22@minio.example.org}", "user name or password"),
                           ("https://${H:=s3.eu-west-1.amazonaws.com}", "with H unset")]:
        p.write_text(CONFIG.format(subst=SUBST, endpoint=endpoint))
        with pytest.raises(ConfigError) as exc:
            load(p)
        assert says in str(exc.value) and "hunter22" not in str(exc.value)
