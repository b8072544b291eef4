"""A CA bundle embeds only X.509 certificates, judged on the DER structure, not on the armour label.

RFC 5280 section 4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue
BIT STRING }. A private key re-armoured as CERTIFICATE (issue 20) has the label but not that shape.
Keys are made by the real tool (openssl) in every format it writes.
"""

from __future__ import annotations

import shutil
import subprocess

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
