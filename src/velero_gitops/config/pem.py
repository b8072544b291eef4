"""PEM bundles: a CA bundle may hold certificates and nothing else (RFC 7468 textual encoding).

The bundle is embedded base64 in a plaintext HelmRelease, so a private key pasted into it would be
committed in the clear. The loader embeds only the certificate blocks; `validate` can use
`private_key_labels` to flag a key inside a rendered `caCert`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from velero_gitops import goregexp

# RFC 7468 §2-3: labels are printable ASCII without '-'; the END label repeats the BEGIN label. The text is a
# Secret's value from a pull request: matched with RE2 (linear time), and the blocks are paired in one pass over the
# markers, so a thousand BEGIN lines without END cost one scan, not one scan each (a backreference would).
_LABEL = rb"[\x21-\x2c\x2e-\x7e](?:[\x20-\x2c\x2e-\x7e]*[\x21-\x2c\x2e-\x7e])?"
_MARKER = goregexp.linear(rb"-----(BEGIN|END) (" + _LABEL + rb")-----")
_PRIVATE = goregexp.linear(rb"-----BEGIN ([^-\r\n]*PRIVATE KEY[^-\r\n]*)-----")
_SPACE = goregexp.linear(rb"\s+")


@dataclass(frozen=True)
class _Block:
    label: bytes
    body: bytes
    start: int
    end: int

    def text(self, raw: bytes) -> bytes:
        return raw[self.start:self.end]


def _blocks(raw: bytes) -> list[_Block] | None:
    """The PEM blocks of ``raw`` in order, None when a BEGIN line has no END line of its label before the next
    BEGIN or the end (or its label is not one RFC 7468 allows). An END of another label inside a block is part of
    its body; an END outside any block is text between blocks."""
    blocks: list[_Block] = []
    opened: Any = None
    for m in _MARKER.finditer(raw):
        if m.group(1) == b"BEGIN":
            if opened is not None:
                return None
            opened = m
        elif opened is not None and m.group(2) == opened.group(2):
            blocks.append(_Block(opened.group(2), raw[opened.end():m.start()], opened.start(), m.end()))
            opened = None
    if opened is not None or raw.count(b"-----BEGIN ") != len(blocks):
        return None
    return blocks


def private_key_labels(data: bytes | str) -> list[str]:
    """The labels of private-key blocks in ``data`` (``PRIVATE KEY``, ``RSA PRIVATE KEY``, ...), also of
    blocks whose END line is missing."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    return [label.decode("ascii", "replace") for label in _PRIVATE.findall(raw)]


def certificate_bundle(data: bytes) -> bytes:
    """Only the CERTIFICATE blocks of ``data``, one after the other, each ending in a newline.

    Text between blocks (`openssl x509 -text` output, comments) is dropped. Raises ValueError, with a
    message that never quotes the file, when it holds a private key or any other block, a block
    without its END line, a certificate that is not base64 DER, or no certificate at all.
    """
    keys = private_key_labels(data)
    if keys:
        raise ValueError(f"it holds a {keys[0]} block: a CA bundle is public and is committed in plain text; "
                         "keep only the CA's certificate (and rotate that key: treat it as leaked if it was pushed)")
    blocks = _blocks(data)
    if blocks is None:
        raise ValueError("a PEM block has no matching -----END ...----- line")
    other = sorted({b.label.decode("ascii") for b in blocks} - {"CERTIFICATE"})
    if other:
        raise ValueError(f"it holds a {other[0]} block; a CA bundle may only hold CERTIFICATE blocks")
    if not blocks:
        raise ValueError("it holds no -----BEGIN CERTIFICATE----- block (is it DER? convert it with "
                         "openssl x509 -inform der -in ca.der -out ca.pem)")
    out = []
    for i, b in enumerate(blocks, 1):
        body = _SPACE.sub(b"", b.body)
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"certificate {i} is not valid base64") from None
        if not is_certificate_der(der):
            raise ValueError(f"certificate {i} is not an X.509 certificate (a key re-armoured as CERTIFICATE?)")
        out.append(b.text(data).replace(b"\r\n", b"\n") + b"\n")
    return b"".join(out)


def _tlv(der: bytes, at: int) -> tuple[int, int, int] | None:
    """(tag, start of content, end of content) of the DER element at ``at``, None when malformed."""
    if at + 2 > len(der):
        return None
    tag, first = der[at], der[at + 1]
    pos = at + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(der):
            return None
        length = int.from_bytes(der[pos:pos + n], "big")
        pos += n
    end = pos + length
    return (tag, pos, end) if end <= len(der) else None


def is_certificate_der(der: bytes) -> bool:
    """The shape of an X.509 certificate (RFC 5280 section 4.1): a SEQUENCE of exactly tbsCertificate
    (SEQUENCE), signatureAlgorithm (SEQUENCE) and signatureValue (BIT STRING), filling the block. A private
    key (PKCS#1, PKCS#8, SEC 1) starts with an INTEGER inside its SEQUENCE, so its label cannot pass it off."""
    return _der_shape(der) == _PUBLIC_SHAPES[b"CERTIFICATE"]


def _der_shape(der: bytes) -> list[int] | None:
    """The tags of the elements of the DER SEQUENCE that fills ``der``, None when it is no such SEQUENCE."""
    outer = _tlv(der, 0)
    if outer is None or outer[0] != 0x30 or outer[2] != len(der):
        return None
    tags, at = [], outer[1]
    while at < outer[2]:
        el = _tlv(der, at)
        if el is None:
            return None
        tags.append(el[0])
        at = el[2]
    return tags


# What each public PEM label must hold: an X.509 certificate (RFC 5280 4.1: tbsCertificate, signatureAlgorithm,
# signatureValue) or a SubjectPublicKeyInfo (RFC 5280 4.1.2.7: algorithm, subjectPublicKey). A private key (PKCS#1,
# PKCS#8, SEC 1) starts with an INTEGER, so a key relabelled as public does not pass.
_PUBLIC_SHAPES = {b"CERTIFICATE": [0x30, 0x30, 0x03], b"PUBLIC KEY": [0x30, 0x03]}
# an OpenSSH public key line (authorized_keys, known_hosts): [options or host] key-type base64-blob [comment]
_SSH_LINE = goregexp.linear(rb"(?:^|\s)([a-z0-9][a-z0-9@.-]*)\s+(AAAA[A-Za-z0-9+/]+={0,2})(?:\s|$)")


# OpenPGP ASCII armor of a transferable public key (RFC 9580 section 6.2: armor headers, a blank line, base64, an
# optional `=` CRC line), as `gpg --armor --export` writes it and Flux's GitRepository `spec.verify.secretRef`
# reads it. Its packets may only be the public ones (RFC 9580 section 10.1 Transferable Public Keys): signature 2,
# public key 6, trust 12, user ID 13, public subkey 14, user attribute 17, padding 21. A secret-key packet (5, 7)
# under a public label does not pass.
_PGP_PUBLIC = b"PGP PUBLIC KEY BLOCK"
_PGP_PUBLIC_TAGS = frozenset({2, 6, 12, 13, 14, 17, 21})


def _pgp_public_packets(body: bytes) -> bool:
    lines = body.strip().splitlines()
    if b"" in [ln.strip() for ln in lines]:  # armor headers end at the first blank line
        at = [ln.strip() for ln in lines].index(b"")
        if not all(b":" in ln for ln in lines[:at]):
            return False
        lines = lines[at + 1:]
    lines = [ln.strip() for ln in lines if ln.strip()]
    if lines and lines[-1].startswith(b"="):
        lines = lines[:-1]  # the CRC-24 checksum line
    try:
        data = base64.b64decode(b"".join(lines), validate=True)
    except (binascii.Error, ValueError):
        return False
    at, seen = 0, False
    while at < len(data):  # RFC 9580 section 4.2 packet headers; partial or indeterminate lengths: not judged
        head = data[at]
        if not head & 0x80:
            return False
        if head & 0x40:  # OpenPGP format
            tag, at = head & 0x3F, at + 1
            if at >= len(data):
                return False
            first = data[at]
            if first < 192:
                length, at = first, at + 1
            elif first < 224 and at + 1 < len(data):
                length, at = ((first - 192) << 8) + data[at + 1] + 192, at + 2
            elif first == 255 and at + 4 < len(data):
                length, at = int.from_bytes(data[at + 1:at + 5], "big"), at + 5
            else:
                return False
        else:  # legacy format
            tag, kind, at = (head >> 2) & 0x0F, head & 0x03, at + 1
            if kind == 3:
                return False
            n = 1 << kind
            if at + n > len(data):
                return False
            length, at = int.from_bytes(data[at:at + n], "big"), at + n
        if tag not in _PGP_PUBLIC_TAGS or at + length > len(data):
            return False
        seen, at = True, at + length
    return seen


def _ssh_public_line(line: bytes) -> bool:
    """An OpenSSH public key: its base64 blob starts with the key type as an SSH string, the same type the line
    names (RFC 4253 section 6.6; OpenSSH sshkey.c sshkey_read); a private key has no such line form."""
    for m in _SSH_LINE.finditer(line):
        try:
            blob = base64.b64decode(m.group(2), validate=True)
        except (binascii.Error, ValueError):
            continue
        n = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else 0
        if blob[4:4 + n] == m.group(1) and len(blob) > 4 + n:
            return True
    return False


def is_public_material(text: str) -> bool:
    """``text`` is only public key material: PEM certificates and public keys whose DER has the public shape, and
    OpenSSH public key lines (blank lines and ``#`` comments aside). Publishing it discloses nothing: a Secret that
    holds only this (an authorized_keys file, a CA bundle) keeps no secret."""
    raw = text.encode("utf-8", "replace")
    if private_key_labels(raw):
        return False
    blocks = _blocks(raw)
    if blocks is None:
        return False
    for b in blocks:
        if b.label == _PGP_PUBLIC:
            if not _pgp_public_packets(b.body):
                return False
            continue
        shape = _PUBLIC_SHAPES.get(b.label)
        try:
            der = base64.b64decode(_SPACE.sub(b"", b.body), validate=True)
        except (binascii.Error, ValueError):
            return False
        if shape is None or _der_shape(der) != shape:
            return False
    parts, at = [], 0
    for b in blocks:
        parts.append(raw[at:b.start])
        at = b.end
    parts.append(raw[at:])
    rest = b"".join(parts)
    lines = [ln.strip() for ln in rest.splitlines() if ln.strip() and not ln.strip().startswith(b"#")]
    if not blocks and not lines:
        return False  # empty: nothing public either (an empty value is judged on its own)
    return all(_ssh_public_line(ln) for ln in lines)
