"""safefile: files from untrusted pull requests are read only when regular, inside the root and bounded.

Each hostile case must be refused with one FileRefused (never a hang, never gigabytes of memory):
the per-test timeout of 5 s fails a test that blocks on a FIFO or reads /dev/zero to the end.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from velero_gitops.safefile import FileRefused, decode_utf8, read_bytes, read_text

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
        decode_utf8(data, "c.yaml")
    assert (info.value.line, info.value.column) == (line, column)
    assert f"line {line}, column {column}" in info.value.problem


def test_bom_is_dropped():
    assert decode_utf8(b"\xef\xbb\xbfa: 1\n", "c.yaml") == "a: 1\n"
