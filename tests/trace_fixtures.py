"""strace around every sandboxed build: what the build opened, connected to and executed.

``traced(monkeypatch, tmp)`` wraps validate/sandbox.py's command line in
``strace -f -e trace=openat,open,execve,connect,...``; ``escapes(trace, allowed)`` lists every
event of a sandboxed process (kubectl and everything it started) that left the sandbox: a file
opened successfully outside ``allowed`` (paths as the sandbox sees them), a program other than the
sandbox's kubectl, or a connection that succeeded to anything but the sandbox's own loopback.
bwrap's own setup (before it runs kubectl) is the sandbox tool, not the build, and is not judged.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
from pathlib import Path

import pytest

from velero_gitops.validate import sandbox

from cli_util import need

_LINE = re.compile(r"^(\d+) +(.*)$")
_CALL = re.compile(r"^(?:<\.\.\. )?(\w+)(?: resumed>|\()(.*?)(?:\) += (-?\d+|\?)(?: .*)?)?$")
_PATH = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Listener:
    """A TCP listener on the host's loopback that counts accepted connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.sock.settimeout(0.2)
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self) -> None:
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.accepted += 1
                c.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop = True
        self.t.join()
        self.sock.close()


def require_strace() -> str:
    path = shutil.which("strace")
    need(path, "strace (Debian package strace; scripts/test.sh installs it)")
    return path  # type: ignore[return-value]


def traced(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> list[Path]:
    """Trace every sandboxed build from now on; returns the (growing) list of trace files."""
    strace = require_strace()
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        sandbox.probe(sandbox.bwrap_path(), kubectl)  # the sandbox check runs once, before the traced builds
    files: list[Path] = []
    real = sandbox.command

    def wrapped(bwrap: str, kubectl: str, binds: dict[Path, Path], argv: list[str]) -> list[str]:
        out = tmp / f"trace-{len(files)}.txt"
        files.append(out)
        return [strace, "-f", "-qq", "-s", "256", "-o", str(out),
                "-e", "trace=openat,open,openat2,creat,execve,execveat,connect,sendto,clone,clone3,fork,vfork",
                *real(bwrap, kubectl, binds, argv)]

    monkeypatch.setattr(sandbox, "command", wrapped)
    return files


def events(trace: Path) -> list[tuple[int, str, str, str]]:
    """(pid, syscall, arguments, result) per finished call; an unfinished call is joined with its resumption."""
    pending: dict[int, str] = {}
    out = []
    for raw in trace.read_text(errors="replace").splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        if rest.startswith("<... ") and pid in pending:
            head = pending.pop(pid)
            rest = head + re.sub(r"^<\.\.\. \w+ resumed>", "", rest)
        c = _CALL.match(rest)
        if c and c.group(3) is not None:
            out.append((pid, c.group(1), c.group(2), c.group(3)))
    return out


def escapes(trace: Path, allowed: list[str]) -> list[str]:
    """Every event of the build that reached outside the sandbox. The build is the process that executed
    the sandbox's kubectl and every process or thread that first appears after that (a clone's result
    is a pid inside the sandbox's pid namespace, so the trace is followed by order, not by result);
    the bwrap processes that set the sandbox up are the tool, not the build."""
    bad: list[str] = []
    before: set[int] = set()
    build: set[int] = set()
    started = False
    # the sandbox's own folders on the way to what it holds (bwrap makes them; they list only that)
    ancestors = {str(p) for a in allowed for p in Path(a).parents}
    for pid, call, args, rc in events(trace):
        if not started:
            if call == "execve" and args.startswith(f'"{sandbox.KUBECTL}"') and rc == "0":
                started = True
                build.add(pid)
            else:
                before.add(pid)
            continue
        if pid in before and pid not in build:
            continue
        build.add(pid)
        if call in ("execve", "execveat"):
            bad.append(f"exec {args[:120]} = {rc}")
        elif call in ("openat", "open", "openat2", "creat") and rc.lstrip("-").isdigit() and int(rc) >= 0:
            m = _PATH.search(args)
            path = m.group(1) if m else ""
            if not path.startswith("/") or not (any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)
                                                or path in ancestors):
                bad.append(f"open {path!r}")
        elif call in ("connect", "sendto") and rc == "0" and "sa_family=AF_UNIX" not in args:
            if not re.search(r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"', args):
                bad.append(f"connect {args[:120]}")
    if not started:
        bad.append("the trace holds no sandboxed kubectl (the harness traced nothing)")
    return bad
