"""A CA bundle embeds only X.509 certificates, judged on the DER structure, not on the armour label.

RFC 5280 section 4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue
BIT STRING }. A private key re-armoured as CERTIFICATE (issue 20) has the label but not that shape.
Keys are made by the real tool (openssl) in every format it writes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from velero_gitops.config import pem

from cli_util import need


def _openssl(tmp_path, *args: str) -> bytes:
    need(shutil.which("openssl"), "openssl")
    subprocess.run(["openssl", *args], capture_output=True, check=True, cwd=tmp_path)
    return b""


@pytest.mark.parametrize("kind", ["ec", "rsa", "ed25519"])
def test_a_key_relabelled_as_certificate_is_refused(tmp_path, kind):
    key_args = {"ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "rsa": ["-newkey", "rsa:2048"],
                "ed25519": ["-newkey", "ed25519"]}[kind]
    _openssl(tmp_path, "req", "-x509", *key_args, "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-subj", "/CN=x",
             "-days", "1")
    cert, key = (tmp_path / "c.pem").read_bytes(), (tmp_path / "k.pem").read_bytes()
    assert pem.certificate_bundle(cert) == cert.replace(b"\r\n", b"\n")
    forms = [key]
    if kind == "rsa":
        _openssl(tmp_path, "rsa", "-in", "k.pem", "-traditional", "-out", "k1.pem")
        forms.append((tmp_path / "k1.pem").read_bytes())
    for form in forms:
        label = form.split(b"-----")[1].removeprefix(b"BEGIN ")
        fake = form.replace(label, b"CERTIFICATE")
        with pytest.raises(ValueError, match="not an X.509 certificate"):
            pem.certificate_bundle(fake)
        with pytest.raises(ValueError):
            pem.certificate_bundle(cert + fake)


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x30\x00", b"\x30\x03\x02\x01\x00", b"\x30\x84\xff\xff\xff\xff",
                                 b"\x30\x06\x30\x00\x30\x00\x03\x00", b"\x30\x06\x30\x00\x30\x00\x03\x00\x00"])
def test_malformed_der_is_not_a_certificate(der):
    assert pem.is_certificate_der(der) is (der == b"\x30\x06\x30\x00\x30\x00\x03\x00")


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_public_material_is_certificates_public_keys_and_ssh_public_keys(tmp_path, kind):
    """What the real tools write as public (openssl's certificate and SubjectPublicKeyInfo, ssh-keygen's .pub line,
    RFC 4253 section 6.6: the blob starts with the key type) is public material; their private keys are not, nor a
    private key relabelled PUBLIC KEY, nor a .pub line whose blob names another type than the line."""
    need(shutil.which("ssh-keygen"), "ssh-keygen")
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "me@host", "-f", str(tmp_path / "id")],
                   check=True, capture_output=True)
    pub, priv = (tmp_path / "id.pub").read_text(), (tmp_path / "id").read_text()
    assert pem.is_public_material(pub) and pem.is_public_material(f"# laptop\n{pub}\n{pub}")
    assert pem.is_public_material(f'no-pty,from="10.0.0.0/8" {pub}')  # authorized_keys options
    assert not pem.is_public_material(priv) and not pem.is_public_material(pub + "\nhunter2\n")
    other = "ssh-dss" if not pub.startswith("ssh-dss") else "ssh-rsa"
    assert not pem.is_public_material(other + " " + pub.split(" ", 1)[1])
    _openssl(tmp_path, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             "k.pem", "-out", "c.pem", "-subj", "/CN=x", "-days", "1")
    _openssl(tmp_path, "pkey", "-in", "k.pem", "-pubout", "-out", "p.pem")
    cert, key, spki = ((tmp_path / n).read_text() for n in ("c.pem", "k.pem", "p.pem"))
    assert pem.is_public_material(cert) and pem.is_public_material(spki + cert)
    assert not pem.is_public_material(key) and not pem.is_public_material(cert + key)
    label = key.split("-----")[1].removeprefix("BEGIN ")
    assert not pem.is_public_material(key.replace(label, "PUBLIC KEY"))
    assert not pem.is_public_material("") and not pem.is_public_material("https://hooks.example/T0/B0/xyz")


PGP = Path(__file__).parent / "fixtures" / "pgp"


def test_an_openpgp_public_key_is_public_material():
    """`gpg --armor --export` of an ed25519 key with a cv25519 subkey (tests/config/fixtures/pgp/public.asc, made by
    GnuPG 2): only public packets (RFC 9580 section 10.1), the armor of what Flux's GitRepository
    `spec.verify.secretRef` Secret holds, so a Secret of these keys keeps no secret (seen on a fresh public
    repository: its generator reported as a Secret in clear). `gpg --export-secret-keys` of the same key relabelled
    PUBLIC (secret-relabelled.asc) holds secret-key packets (tags 5 and 7) and does not pass, nor a body that is
    not packets."""
    public = (PGP / "public.asc").read_text()
    assert pem.is_public_material(public) and pem.is_public_material(public + public)
    assert not pem.is_public_material((PGP / "secret-relabelled.asc").read_text())
    assert not pem.is_public_material(public.replace(public.splitlines()[2], "aHVudGVyMg=="))
    assert not pem.is_public_material(public + "\nhunter2\n")


@pytest.mark.parametrize("value", [
    "-----BEGIN A-----\n" * 16000,  # BEGIN lines without END: a backreference rescanned to the end for each
    "-----BEGIN " + "PRIVATE KEY " * 12000,  # one long line: the label pattern backtracked at each occurrence
    "ssh-ed25519" + " a" * 60000,  # an almost-authorized_keys line
])
def test_pem_scans_are_linear_in_the_value(value):
    """Attack round 2, script 10: a Secret value is a pull request's text, and validate/check judge each one
    (policy.holds_secret_data -> is_public_material). Python's backtracking `re` took 31 CPU seconds on 300 KB;
    RE2 and one pass over the markers take one scan."""
    from velero_gitops.config.pem import is_public_material, private_key_labels

    from cli_util import cpu_budget

    with cpu_budget(2):
        is_public_material(value)
        private_key_labels(value)


def test_blocks_pair_begin_and_end_as_before():
    """The one-pass pairing keeps the verdicts: a block without END, a BEGIN inside a block, an END of another label
    in the body (not base64), an END outside any block (text that is no SSH key)."""
    from velero_gitops.config.pem import _blocks

    assert [b.label for b in _blocks(b"-----BEGIN A-----\nQUJD\n-----END A-----\n-----BEGIN B-----\n-----END B-----")] \
        == [b"A", b"B"]
    assert _blocks(b"-----BEGIN A-----\n") is None
    assert _blocks(b"-----BEGIN A-----\n-----BEGIN B-----\n-----END B-----\n-----END A-----") is None
    assert _blocks(b"-----BEGIN bad-label-----\n-----END bad-label-----") is None
    inner = _blocks(b"-----BEGIN A-----\n-----END B-----\n-----END A-----")
    assert inner is not None and inner[0].body == b"\n-----END B-----\n"
    assert _blocks(b"x\n-----END A-----\n") == []
