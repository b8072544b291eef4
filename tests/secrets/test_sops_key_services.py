"""Creation rules that encrypt for more than age (issue 18 §5): KMS, Vault transit, PGP.

The fields come from getsops/sops@v3.10.2:config/config.go (creationRule: kms, pgp, gcp_kms, azure_keyvault,
hc_vault_transit_uri as comma-separated strings; keyGroup: the same services as lists, hc_vault for Vault). sops
calls every service of the rule for each file it encrypts: encrypt-secret says what that needs before it calls sops,
and a failure names the rule's needs and never repeats a credential that sops printed in a URL.
"""

from __future__ import annotations

import pytest

from velero_gitops.secrets import sops as sopslib

from cli_util import run_cli
from sops_fixtures import *  # noqa: F401,F403 - fixtures
from sops_fixtures import TEST_RECIPIENT

TOKEN = "hvs.TOPSECRETTOKEN"
VAULT = f"https://ops:{TOKEN}@vault.invalid:8200/v1/sops/keys/velero"
RULES = {
    "Vault transit": f"    hc_vault_transit_uri: {VAULT}\n",
    "pgp": "    pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21\n",
    "AWS KMS": "    kms: arn:aws:kms:us-east-1:111122223333:key/abcd\n",
}


def _sops_yaml(root, extra: str) -> None:
    (root / ".sops.yaml").write_text(
        "creation_rules:\n  - path_regex: kubernetes/.*\\.sops\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n"
        f"    age: {TEST_RECIPIENT}\n{extra}")


@pytest.mark.parametrize("service", sorted(RULES))
def test_what_sops_needs_is_said_before_and_on_failure(scratch, service):
    _sops_yaml(scratch.root, RULES[service])
    r = run_cli("encrypt-secret", "--config", str(scratch.config), cwd=scratch.root, env=scratch.env(), timeout=180)
    first = r.err.splitlines()[0]
    assert first.startswith("note: ") and f"encrypts for {service}" in first, r.err
    assert sopslib.KEY_SERVICES[service][2][:30] in r.err
    assert r.code == 2 and "sops said:" in r.err and "Traceback" not in r.err, r.err  # no service reachable here
    assert TOKEN not in r.err + r.out
    assert not scratch.secret.exists()


def test_key_groups_count_too(tmp_path):
    conf = tmp_path / ".sops.yaml"
    conf.write_text(f"creation_rules:\n  - key_groups:\n      - age: [{TEST_RECIPIENT}]\n        hc_vault: [{VAULT}]\n"
                    "        pgp: [85D77543B3D624B63CEA9E6DBC17301B491B3F21]\n")
    rule = sopslib.load_rules(conf)[0]
    assert rule.services == ("pgp", "Vault transit") and rule.age == (TEST_RECIPIENT,)
    assert sopslib.needs(sopslib.load_rules(conf)[0]).count("network") == 1


def test_age_only_needs_nothing(tmp_path):
    conf = tmp_path / ".sops.yaml"
    conf.write_text(f"creation_rules:\n  - age: {TEST_RECIPIENT}\n")
    assert sopslib.needs(sopslib.load_rules(conf)[0]) == ""


@pytest.mark.parametrize("raw", [
    f"Post {VAULT}: dial tcp: lookup vault.invalid: no such host",
    f"failed to encrypt with vault https://vault.invalid:8200/v1/transit?token={TOKEN}&x=1",
    f'[CMD] time="t" level=error msg="{VAULT} refused"',
])
def test_credentials_in_urls_are_redacted(raw):
    msg = sopslib.sops_message(raw.encode())
    assert TOKEN not in msg and "<redacted>" in msg and "vault.invalid" in msg
