"""Creation rules that name more than age (issue 18 §5; probe B9): KMS, Vault transit, PGP.

The fields come from getsops/sops@v3.10.2:config/config.go (creationRule: kms, pgp, gcp_kms, azure_keyvault,
hc_vault_transit_uri as comma-separated strings; keyGroup: the same services as lists, hc_vault for Vault). A pull
request may write `.sops.yaml`: sops would call every service of the matching rule for each file it encrypts (a Vault
transit URI on plain http receives the Vault token and the data key). velero-gitops confines sops to age by
construction: it passes the rule's age recipients explicitly and a configuration that holds nothing else
(getsops/sops@v3.10.2:cmd/sops/main.go loadConfig reads only --config), and says which services it left out.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from velero_gitops.errors import UsageError
from velero_gitops.secrets import sops as sopslib

from cli_util import run_cli
from sops_fixtures import *  # noqa: F401,F403 - fixtures
from sops_fixtures import TEST_KEY_FILE, TEST_RECIPIENT, new_age_key, sops_yaml

TOKEN = "hvs.TOPSECRETTOKEN"
VAULT = f"https://ops:{TOKEN}@vault.invalid:8200/v1/sops/keys/velero"
RULES = {
    "Vault transit": f"    hc_vault_transit_uri: {VAULT}\n",
    "pgp": "    pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21\n",
    "AWS KMS": "    kms: arn:aws:kms:us-east-1:111122223333:key/abcd\n",
}


def _sops_yaml(root, extra: str, regex: str = "^(data|stringData)$", age: str = TEST_RECIPIENT) -> None:
    (root / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: kubernetes/.*\\.sops\\.yaml$\n    encrypted_regex: '{regex}'\n"
        f"    age: {age}\n{extra}")


class _Listener(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append(f"{self.path} {self.headers.get('X-Vault-Token')}")
        self.send_response(500)
        self.end_headers()

    do_GET = do_PUT = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def vault_listener():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Listener)
    _Listener.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/sops/keys/firstkey", _Listener.seen
    server.shutdown()


@pytest.mark.parametrize("service", sorted(RULES))
def test_a_rules_key_services_are_never_used(scratch, service):
    _sops_yaml(scratch.root, RULES[service], age=scratch.key.public)
    r = run_cli("encrypt-secret", "--config", str(scratch.config), cwd=scratch.root, env=scratch.env(), timeout=180)
    first = r.err.splitlines()[0]
    assert first.startswith("note: ") and f"also names {service}" in first, r.err
    assert r.code == 0 and "Traceback" not in r.err, r.err
    assert TOKEN not in r.err + r.out
    text = scratch.secret.read_text()
    assert scratch.key.public in text and "hc_vault" not in text and "pgp:" not in text and "kms:" not in text


def test_a_plain_http_vault_rule_receives_nothing(scratch, vault_listener):
    """Probe 26: the rule's hc_vault_transit_uri points at a listener; encrypt-secret and --update-keys run with a
    VAULT_TOKEN in the environment; the listener sees no request, and the rule's encrypted_regex (`^nothing$`) does
    not leave the credentials in clear."""
    url, seen = vault_listener
    _sops_yaml(scratch.root, f"    hc_vault_transit_uri: {url}\n", regex="^nothing$", age=scratch.key.public)
    env = scratch.env(VAULT_TOKEN="hvs.VICTIM-TOKEN", VAULT_ADDR=url.split("/v1")[0])
    r = run_cli("encrypt-secret", "--config", str(scratch.config), cwd=scratch.root, env=env, timeout=180)
    assert r.code == 0, r.err
    assert not any(c in scratch.secret.read_text() for c in scratch.creds)
    r = run_cli("encrypt-secret", "--config", str(scratch.config), "--update-keys", cwd=scratch.root,
                env={**env, "SOPS_AGE_KEY_FILE": str(scratch.key.file)}, stdin="", timeout=180)
    assert r.code == 0, r.err
    assert seen == []
    assert "hc_vault" not in scratch.secret.read_text()


def test_key_groups_count_too(tmp_path):
    conf = tmp_path / ".sops.yaml"
    conf.write_text(f"creation_rules:\n  - key_groups:\n      - age: [{TEST_RECIPIENT}]\n        hc_vault: [{VAULT}]\n"
                    "        pgp: [85D77543B3D624B63CEA9E6DBC17301B491B3F21]\n")
    rule = sopslib.load_rules(conf)[0]
    assert rule.services == ("pgp", "Vault transit") and rule.age == (TEST_RECIPIENT,)
    assert "pgp, Vault transit" in sopslib.needs(sopslib.load_rules(conf)[0])


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


def _name_a_vault(secret, url: str) -> None:
    """Add a Vault master key at ``url`` to the file's sops metadata, as a pull request could."""
    address, rest = url.split("/v1/", 1)
    engine, _, name = rest.rpartition("/keys/")
    text = secret.read_text()
    assert "\nsops:\n" in text
    secret.write_text(text.replace("\nsops:\n", (
        f"\nsops:\n    hc_vault:\n        - vault_address: {address}\n          engine_path: {engine}\n"
        f"          key_name: {name}\n          created_at: \"2026-01-01T00:00:00Z\"\n"
        "          enc: vault:v1:bm90IGEga2V5\n"), 1))


def test_a_files_own_vault_key_is_never_tried(scratch, vault_listener, tmp_path, monkeypatch):
    """A committed file whose sops metadata names a Vault server (hc_vault, getsops/sops@v3.10.2:stores/stores.go
    vaultkey): sops tries each master key until one decrypts the data key (sops.go DecryptMetadataKey), and its Vault
    client reads ~/.vault-token. Without the age key, decrypt and --update-keys fail clearly and the listener sees
    nothing; with it, decrypt works and the rewritten file names age only."""
    url, seen = vault_listener
    r = run_cli("encrypt-secret", "--config", str(scratch.config), cwd=scratch.root, env=scratch.env(), timeout=180)
    assert r.code == 0, r.err
    _name_a_vault(scratch.secret, url)
    home = tmp_path / "victim-home"
    home.mkdir()
    (home / ".vault-token").write_text("hvs.VICTIM-TOKEN")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("VAULT_ADDR", url.split("/v1")[0])
    other = tmp_path / "other.txt"
    other.write_text(TEST_KEY_FILE.read_text())
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(other))
    with pytest.raises(UsageError, match="no age private key"):
        sopslib.decrypt_bytes(scratch.secret)
    second = new_age_key(tmp_path / "k2", "second")  # a new recipient: updatekeys must decrypt the data key
    (scratch.root / ".sops.yaml").write_text(sops_yaml([scratch.key.public, second.public]))
    r = run_cli("encrypt-secret", "--config", str(scratch.config), "--update-keys", cwd=scratch.root,
                env={"HOME": str(home), "SOPS_AGE_KEY_FILE": str(other)}, stdin="", timeout=180)
    assert r.code != 0 and "Traceback" not in r.err and "age private key" in r.err, r.err
    assert seen == []
    assert "hc_vault" in scratch.secret.read_text()  # a failed run leaves the file as it was
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(scratch.key.file))
    plain = sopslib.decrypt_bytes(scratch.secret)
    assert scratch.creds[1].encode() in plain
    r = run_cli("encrypt-secret", "--config", str(scratch.config), "--update-keys", cwd=scratch.root,
                env={"HOME": str(home), "SOPS_AGE_KEY_FILE": str(scratch.key.file)}, stdin="", timeout=180)
    assert r.code == 0, r.err
    assert seen == []
    text = scratch.secret.read_text()
    assert "hc_vault" not in text and scratch.key.public in text and second.public in text


def test_age_only_metadata_keeps_age_and_the_scalars():
    """Every list of the metadata but age is a key source (stores.go Metadata, keygroup), a future one too."""
    meta = {"kms": [{"arn": "x"}], "hc_vault": [{"vault_address": "http://x"}], "age": [{"recipient": "r"}],
            "some_new_service": [{"url": "http://y"}], "mac": "ENC[...]", "version": "3.10.2",
            "shamir_threshold": 2, "encrypted_regex": "^(data)$",
            "key_groups": [{"age": [{"recipient": "a"}], "pgp": [{"fp": "f"}]}, {"azure_kv": [{"vault_url": "u"}]}]}
    sopslib.age_only_metadata(meta)
    assert meta == {"age": [{"recipient": "r"}], "mac": "ENC[...]", "version": "3.10.2", "shamir_threshold": 2,
                    "encrypted_regex": "^(data)$", "key_groups": [{"age": [{"recipient": "a"}]}, {}]}


def test_update_keys_needs_sops_310(tmp_path):
    """Before 3.10 updatekeys picks the store by the file's name (getsops/sops@v3.9.0:
    cmd/sops/subcommand/updatekeys/updatekeys.go DefaultStoreForPath) and the in-memory copy has none."""
    with pytest.raises(UsageError, match="sops 3.10 or newer"):
        sopslib.update_keys(tmp_path / "s.yaml", cwd=tmp_path, recipients=[TEST_RECIPIENT],
                            sops=sopslib.Sops("/nonexistent/sops", (3, 9, 4)))


def _vault_entry(url: str, indent: str) -> str:
    address, rest = url.split("/v1/", 1)
    engine, _, name = rest.rpartition("/keys/")
    return (f"{indent}- vault_address: {address}\n{indent}  engine_path: {engine}\n{indent}  key_name: {name}\n"
            f"{indent}  created_at: \"2026-01-01T00:00:00Z\"\n{indent}  enc: vault:v1:bm90IGEga2V5\n")


SHAPES = {
    # a mapping elsewhere in the file, merged into the metadata through an alias
    "merged alias": lambda text, url: ("x-meta: &v\n    hc_vault:\n" + _vault_entry(url, "        ")
                                       + text.replace("\nsops:\n", "\nsops:\n    <<: *v\n", 1)),
    # an inline mapping merged without any alias
    "inline merge": lambda text, url: text.replace(
        "\nsops:\n", "\nsops:\n    <<: {hc_vault: [{vault_address: " + url.split("/v1/")[0]
        + ", engine_path: sops, key_name: firstkey, created_at: '2026-01-01T00:00:00Z', enc: 'vault:v1:bm90IGEga2V5'}]}\n", 1),
    # the key group's own list comes back through a merge into the group
    "merged into a key group": lambda text, url: ("x-g: &g\n    hc_vault:\n" + _vault_entry(url, "        ")
                                                  + text.replace("\nsops:\n", "\nsops:\n    key_groups:\n        - <<: *g\n", 1)),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_vault_key_reached_through_yaml_merges_is_never_tried(scratch, vault_listener, tmp_path, monkeypatch, shape):
    """Attack 05 (second round): the metadata gets hc_vault through a ``<<`` merge key. age_only_metadata removes
    the key from the mapping, but the round-trip writer keeps the merge and sops decodes it (go-yaml v3:
    getsops/sops@v3.10.2:stores/yaml/store.go), so the copy would still name the Vault. The copy is judged by what
    Go YAML reads (yamlsafe) and refused: nothing reaches the listener, even with the right age key at hand, and a
    failed --update-keys leaves the file as it was."""
    url, seen = vault_listener
    r = run_cli("encrypt-secret", "--config", str(scratch.config), cwd=scratch.root, env=scratch.env(), timeout=180)
    assert r.code == 0, r.err
    scratch.secret.write_text(SHAPES[shape](scratch.secret.read_text(), url))
    before = scratch.secret.read_bytes()
    home = tmp_path / "victim-home"
    home.mkdir()
    (home / ".vault-token").write_text("hvs.VICTIM-TOKEN")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(scratch.key.file))
    with pytest.raises(UsageError, match="merge key or an alias"):
        sopslib.decrypt_bytes(scratch.secret)
    r = run_cli("encrypt-secret", "--config", str(scratch.config), "--update-keys", cwd=scratch.root,
                env={"HOME": str(home), "SOPS_AGE_KEY_FILE": str(scratch.key.file)}, stdin="", timeout=180)
    assert r.code == 2 and "Traceback" not in r.err and "merge key or an alias" in r.err, r.err
    assert seen == []
    assert scratch.secret.read_bytes() == before
