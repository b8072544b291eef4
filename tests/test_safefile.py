"""safefile: files from untrusted pull requests are read only when regular, inside the root and bounded.

Each hostile case must be refused with one FileRefused (never a hang, never gigabytes of memory):
the per-test timeout of 5 s fails a test that blocks on a FIFO or reads /dev/zero to the end.
"""

from __future__ import annotations

import codecs
import os
import socket
import threading

import pytest

from velero_gitops import safefile
from velero_gitops.safefile import FileRefused, decode, read_bytes, read_text

pytestmark = pytest.mark.timeout(5)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    return r


def _refused(path, root, **kw) -> FileRefused:
    with pytest.raises(FileRefused) as info:
        read_bytes(path, root=root, **kw)
    assert "\n" not in str(info.value)
    return info.value


def test_regular_file_inside_root_is_read(root):
    (root / "a.yaml").write_bytes(b"kind: ConfigMap\n")
    assert read_bytes(root / "a.yaml", root=root) == b"kind: ConfigMap\n"
    assert read_text(root / "a.yaml", root=root) == "kind: ConfigMap\n"


def test_symlink_inside_root_is_followed(root):
    (root / "real.yaml").write_text("a: 1\n")
    (root / "sub").mkdir()
    (root / "sub" / "link.yaml").symlink_to("../real.yaml")
    assert read_text(root / "sub" / "link.yaml", root=root) == "a: 1\n"


def test_fifo_is_refused_without_blocking(root):
    os.mkfifo(root / "kustomization.yaml")
    err = _refused(root / "kustomization.yaml", root)
    assert err.kind == "not-regular" and "FIFO" in err.problem


def test_fifo_with_a_writer_is_refused(root):
    # a writer waiting on the other end must not turn the FIFO into something we read
    fifo = root / "x.yaml"
    os.mkfifo(fifo)
    def writer():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
    t = threading.Thread(target=writer)
    t.start()
    assert _refused(fifo, root).kind == "not-regular"
    t.join(2)


def test_dev_zero_symlink_is_refused(root):
    (root / "values.yaml").symlink_to("/dev/zero")
    err = _refused(root / "values.yaml", root)
    assert err.kind == "outside-root" and "/dev/zero" in err.problem and "symlink" in err.problem


def test_dev_zero_without_a_root_is_refused_as_a_device(root):
    (root / "values.yaml").symlink_to("/dev/zero")
    with pytest.raises(FileRefused) as info:
        read_bytes(root / "values.yaml")
    assert info.value.kind == "not-regular" and "character device" in info.value.problem


def test_symlink_escaping_root_is_refused(tmp_path, root):
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")
    (root / "ca.pem").symlink_to(secret)
    err = _refused(root / "ca.pem", root)
    assert err.kind == "outside-root" and "password" not in str(err)


def test_relative_path_escaping_root_is_refused(tmp_path, root):
    (tmp_path / "outside.yaml").write_text("a: 1\n")
    err = _refused(root / ".." / "outside.yaml", root)
    assert err.kind == "outside-root"


def test_symlinked_folder_escaping_root_is_refused(tmp_path, root):
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.yaml").write_text("a: 1\n")
    (root / "apps").symlink_to(other)
    assert _refused(root / "apps" / "a.yaml", root).kind == "outside-root"


def test_oversize_file_is_refused_quickly(root):
    big = root / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: costs no disk
    err = _refused(big, root, limit=1024 * 1024)
    assert err.kind == "too-large" and "64 MiB" in err.problem and "1 MiB" in err.problem


def test_file_exactly_at_limit_is_read(root):
    (root / "a").write_bytes(b"x" * 100)
    assert len(read_bytes(root / "a", root=root, limit=100)) == 100
    assert _refused(root / "a", root, limit=99).kind == "too-large"


def test_directory_is_refused(root):
    (root / "dir.yaml").mkdir()
    err = _refused(root / "dir.yaml", root)
    assert err.kind == "not-regular" and "directory" in err.problem


def test_socket_is_refused(tmp_path):
    short = tmp_path / "s"  # AF_UNIX paths are short
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(short))
        with pytest.raises(FileRefused) as info:
            read_bytes(short, root=tmp_path)
    assert "socket" in info.value.problem


def test_missing_and_dangling(root):
    assert _refused(root / "nope.yaml", root).kind == "missing"
    (root / "dangling.yaml").symlink_to(root / "gone.yaml")
    err = _refused(root / "dangling.yaml", root)
    assert err.kind == "missing" and "dangling" in err.problem


def test_shown_name_is_used_in_messages(root):
    os.mkfifo(root / "p.yaml")
    with pytest.raises(FileRefused) as info:
        read_bytes(root / "p.yaml", root=root, shown="apps/p.yaml")
    assert str(info.value).startswith("apps/p.yaml: is a FIFO")


@pytest.mark.parametrize(
    ("data", "line", "column"),
    [
        (b"\xff", 1, 1),
        (b"a: 1\nb: \xc3(\n", 2, 4),
        (b"\xef\xbb\xbfa: \xfe\n", 1, 4),  # the BOM is not a column
        (b"k: \xc3\xa9\xe9\n", 1, 5),  # columns count characters, not bytes
    ],
)
def test_invalid_utf8_is_located(data, line, column):
    with pytest.raises(FileRefused) as info:
        decode(data, "c.yaml")
    assert (info.value.line, info.value.column) == (line, column)
    assert f"line {line}, column {column}" in info.value.problem


def test_bom_is_dropped():
    assert decode(b"\xef\xbb\xbfa: 1\n", "c.yaml") == ("a: 1\n", "utf-8")


# Go YAML's byte order marks (kubernetes-sigs/yaml@v1.4.0:goyaml.v3/readerc.go yaml_parser_determine_encoding): the
# bytes are codecs' BOM constants, so the fixtures are derived, not typed in
_BOMS = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE, "utf-8": codecs.BOM_UTF8}


@pytest.mark.parametrize("encoding", sorted(_BOMS))
def test_the_bom_decides_the_encoding_as_go_yaml_decides_it(encoding):
    """readerc.go yaml_parser_determine_encoding: "ff fe" is UTF-16LE, "fe ff" UTF-16BE, "ef bb bf" UTF-8 (the BOM is
    no character); the text keeps its lines (CRLF as saved) and the encoding is reported with it."""
    text = "apiVersion: v1\r\nkind: ConfigMap\r\ndata:\r\n  k: caf\u00e9 \U0001f600\r\n"
    assert decode(_BOMS[encoding] + text.encode(encoding), "c.yaml") == (text, encoding)


def test_a_utf32_bom_is_a_utf16_bom_followed_by_a_nul_as_in_go_yaml():
    """readerc.go tests the two-byte UTF-16LE mark first, so "ff fe 00 00" (UTF-32LE) is UTF-16LE and then U+0000,
    a character Go YAML's reader then refuses (as validate's YAML reader does: yamlsafe)."""
    assert decode(codecs.BOM_UTF32_LE + "a".encode("utf-32-le"), "c.yaml") == ("\x00a\x00", "utf-16-le")


@pytest.mark.parametrize(
    ("encoding", "unit", "what"),
    [
        ("utf-16-le", b"\x00\xd8", "a lone surrogate 0xd800"),  # readerc.go "expected low surrogate area"
        ("utf-16-be", b"\xdc\x00", "a lone surrogate 0xdc00"),  # readerc.go "unexpected low surrogate area"
        ("utf-16-le", b"\x41", "a trailing odd byte"),  # readerc.go "incomplete UTF-16 character"
    ],
)
def test_invalid_utf16_is_located(encoding, unit, what):
    """What Go YAML's reader refuses in UTF-16 (readerc.go yaml_parser_update_buffer) is a located FileRefused that
    names the problem and the fix, never a traceback."""
    data = _BOMS[encoding] + "a: 1\nb: x".encode(encoding) + unit
    with pytest.raises(FileRefused) as info:
        decode(data, "c.yaml")
    assert (info.value.kind, info.value.line, info.value.column) == ("not-utf16", 2, 5)
    assert info.value.problem == f"is not valid UTF-16 text ({what} at line 2, column 5); save it as UTF-8"


def test_text_without_a_bom_is_utf8_as_in_go_yaml():
    """No BOM is UTF-8 (readerc.go): a Latin-1 file still gets the UTF-8 error, located at its first bad byte."""
    with pytest.raises(FileRefused) as info:
        decode("name: caf\u00e9\n".encode("latin-1"), "c.yaml")
    assert info.value.kind == "not-utf8" and info.value.problem.startswith("is not UTF-8 text (byte 0xe9 at line 1, column 10)")


@pytest.mark.parametrize("encoding,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-8", b"")])
def test_a_marker_scan_reads_utf16_as_go_yaml_does(encoding, bom):
    """Attacker round 5: check's scan for a Flux Kustomization and flux.min-version's for mac_only_encrypted read
    UTF-8 only, so a repository whose files were all UTF-16 looked as if it had none. scan_text picks the encoding
    as decode does, and replaces what does not decode instead of refusing (it judges nothing)."""
    from velero_gitops.safefile import scan_text

    text = "kind: Kustomization\napiVersion: kustomize.toolkit.fluxcd.io/v1\n"
    assert scan_text(bom + text.encode(encoding)) == text
    assert "Kustomization" in scan_text(bom + text.encode(encoding) + b"\xff")  # a bad tail is replaced, not refused


def test_a_symlink_out_is_said_by_its_own_text_never_where_the_host_resolves_it(tmp_path):
    """A finding on a symlink that leads out says so with the link's text as the repository writes it, never where
    the host resolves it (/proc/self/exe is the runner's Python, /etc/alternatives/awk its awk): what lies outside
    the repository is not the repository's to learn, and an existing and a missing target read the same."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "exe.yaml").symlink_to("/proc/self/exe")
    (root / "none.yaml").symlink_to(tmp_path / "no-such-file")
    (tmp_path / "real.txt").write_text("x")
    (root / "real.yaml").symlink_to(tmp_path / "real.txt")
    said = {}
    for name in ("exe.yaml", "none.yaml", "real.yaml"):
        with pytest.raises(safefile.FileRefused) as exc:
            safefile.read_bytes(root / name, root=root, shown=name)
        said[name] = exc.value.problem
    assert said["exe.yaml"].startswith("is a symlink to /proc/self/exe (as written) that leads outside"), said
    assert os.path.realpath("/proc/self/exe") not in said["exe.yaml"]
    assert said["none.yaml"].replace("no-such-file", "real.txt") == said["real.yaml"]  # no existence oracle
