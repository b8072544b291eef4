"""The writer under kills, races, symlinks and special files: real `velero-gitops render` processes.

Invariants: every generated path always holds a whole old or a whole new file; the next run removes
every temp file a killed run left; two writers never interleave; nothing outside the repository is
read, created or removed; a directory, FIFO or symlink at a target never hangs render or `--check`.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_util import run_cli, snapshot

APP = "kubernetes/apps/velero/velero"
SCHED = f"{APP}/schedules"
HEAD = "cluster: t\n{repo}s3:\n  endpoint: https://s3.example.com\nmetrics:\n  enabled: false\nschedules:\n"


def config(names, ttl: str = "720h", repo: str = "") -> str:
    return HEAD.format(repo=repo) + "".join(
        # each at its own minute: two schedules of one namespace at one minute are warned of (schedules-same-minute)
        f'  - name: {n}\n    cron: "{i % 60} {(2 + i // 60) % 24} * * *"\n    namespaces: [apps]\n    ttl: {ttl}\n'
        for i, n in enumerate(names))


OLD = config([f"s{i:03d}" for i in range(200)])
NEW = config([f"s{i:03d}" for i in range(1, 201)], ttl="360h")  # 199 updated, s000 removed, s200 created


def render(root: Path, *extra: str, cfg: str = "velero-gitops.yaml", timeout: float = 60):
    return run_cli("render", "-q", *extra, "--config", str(root / cfg), timeout=timeout)


def tree(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if k.startswith("kubernetes/")}


def temps(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*.tmp"))


def popen_render(root: Path, *extra: str, cfg: str = "velero-gitops.yaml") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "velero_gitops", "render", "-q", *extra, "--config", str(root / cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_staging(root: Path, proc: subprocess.Popen, limit: float = 30) -> bool:
    """True once the render has staged its first temp file (it holds the tree lock from then on)."""
    end = time.monotonic() + limit
    sched = root / SCHED
    while time.monotonic() < end and proc.poll() is None:
        try:
            if any(".velero-gitops." in e.name for e in os.scandir(sched)):
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    return False


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    """The tree rendered from OLD, and the tree rendered from NEW over it."""
    root = tmp_path_factory.mktemp("states")
    (root / "velero-gitops.yaml").write_text(OLD)
    assert render(root).code == 0
    old = tree(root)
    (root / "velero-gitops.yaml").write_text(NEW)
    r = render(root)
    assert r.code == 0
    global RENDER_SECONDS
    RENDER_SECONDS = r.seconds
    return old, tree(root)


RENDER_SECONDS = 1.0  # how long the OLD -> NEW render takes on this machine now (set by `states`)


@pytest.mark.slow
def test_kill_at_random_points_keeps_every_file_whole_and_the_next_run_cleans_up(states, tmp_path):
    """SIGKILL a 200-schedule render at random points (half of them inside the write phase)."""
    old, new = states
    rng = random.Random(1234)
    outcomes = {"old": 0, "new": 0, "mixed": 0, "left temp files": 0}
    for i in range(16):
        root = tmp_path / f"r{i}"
        root.mkdir()
        (root / "velero-gitops.yaml").write_text(OLD)
        for rel, data in old.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        (root / "velero-gitops.yaml").write_text(NEW)
        proc = popen_render(root)
        if i % 2:
            wait_for_staging(root, proc)
            time.sleep(rng.uniform(0, 0.3))
        else:  # anywhere in the run, start-up included; a kill after the end would test nothing
            time.sleep(rng.uniform(0.1, 1.0) * RENDER_SECONDS)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        got = {k: v for k, v in tree(root).items() if not Path(k).name.endswith(".tmp")}
        for rel, data in got.items():
            assert data in (old.get(rel), new.get(rel)), f"run {i}: {rel} is neither the old nor the new file"
        for rel in set(old) & set(new):
            assert rel in got, f"run {i}: {rel} vanished"
        outcomes["old" if got == old else "new" if got == new else "mixed"] += 1
        outcomes["left temp files"] += bool(temps(root))
        r = render(root)
        assert r.code == 0, r.err
        assert tree(root) == new and temps(root) == [], f"run {i}: {temps(root)[:3]}"
    print(outcomes)
    assert outcomes["left temp files"], "no kill landed while staging: the clean-up was not exercised"


def test_temp_files_of_killed_runs_are_reported_then_removed(tmp_path):
    (tmp_path / "velero-gitops.yaml").write_text(config(["daily"]))
    assert render(tmp_path).code == 0
    sched = tmp_path / SCHED
    ours = [".daily.yaml.velero-gitops.k3j4h5_x.tmp", ".daily.yaml.ab12cd34.tmp", ".kustomization.yaml.zz9_aa00.tmp"]
    for name in ours:
        (sched / name).write_text("---\npartial")
    (sched / ".notes.txt.tmp").write_text("not ours")  # not a name we generate: stays
    (tmp_path / APP / "app" / ".secret.sops.yaml.velero-gitops.q1w2e3.tmp").write_text("ciphertext, partial")
    r = run_cli("render", "--check", "--config", str(tmp_path / "velero-gitops.yaml"))
    assert r.code == 1 and ours[0] in r.out, r.out
    r = render(tmp_path, "--quiet")
    assert r.code == 0, r.err
    assert temps(tmp_path) == [".notes.txt.tmp"]
    assert run_cli("render", "--check", "--config", str(tmp_path / "velero-gitops.yaml")).code == 0


def test_lock_held_by_another_writer(tmp_path):
    (tmp_path / "velero-gitops.yaml").write_text(config(["daily"]))
    assert render(tmp_path).code == 0
    (tmp_path / "velero-gitops.yaml").write_text(config(["daily", "weekly"]))
    before = snapshot(tmp_path)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = render(tmp_path)
    finally:
        os.close(fd)
    assert r.code == 2 and "another velero-gitops process" in r.err and "Traceback" not in r.err, r.err
    assert snapshot(tmp_path) == before
    assert render(tmp_path).code == 0 and (tmp_path / SCHED / "weekly.yaml").exists()


@pytest.mark.slow
def test_two_renders_of_different_configs_into_one_tree(tmp_path):
    """Serialised by the lock, or the later one sees the tree changed: never a tree mixed from both."""
    def cfgs(root):
        (root / ".git").mkdir(parents=True, exist_ok=True)  # root: .. names the repository, the boundary
        for side, ttl in (("a", "720h"), ("b", "360h")):
            (root / side).mkdir(parents=True, exist_ok=True)
            (root / side / "velero-gitops.yaml").write_text(
                config([f"{side}{i:03d}" for i in range(200)], ttl=ttl, repo="repo:\n  root: ..\n"))

    def after(*sides):
        root = tmp_path / ("seq-" + "".join(sides))
        cfgs(root)
        for s in sides:
            assert render(root, "--force", cfg=f"{s}/velero-gitops.yaml").code == 0
        return tree(root)

    expected = {("a",): after("a"), ("b",): after("b"), ("a", "b"): after("a", "b"), ("b", "a"): after("b", "a")}
    seen = set()
    for i in range(3):
        root = tmp_path / f"race{i}"
        cfgs(root)
        a = popen_render(root, "--force", cfg="a/velero-gitops.yaml")
        b = popen_render(root, "--force", cfg="b/velero-gitops.yaml")
        (_, aerr), (_, berr) = a.communicate(timeout=60), b.communicate(timeout=60)
        codes = (a.returncode, b.returncode)
        assert set(codes) <= {0, 2} and 0 in codes, (codes, aerr, berr)
        for code, err in zip(codes, (aerr, berr)):
            if code == 2:
                assert ("another velero-gitops process" in err or "changed while render was writing" in err) \
                    and err.count("\n") == 1, err
        got = tree(root)
        matches = [k for k, v in expected.items() if v == got]
        assert matches, f"race {i}: the tree is mixed from both configs ({codes})"
        if codes == (0, 2):
            assert matches == [("a",)]
        elif codes == (2, 0):
            assert matches == [("b",)]
        assert temps(root) == []
        seen.add(codes)
    print(seen)


@pytest.mark.slow
def test_hand_edit_while_staging_is_not_overwritten(states, tmp_path):
    old, new = states
    for attempt in range(5):
        root = tmp_path / f"e{attempt}"
        for rel, data in old.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        (root / "velero-gitops.yaml").write_text(NEW)
        proc = popen_render(root)
        staged = wait_for_staging(root, proc)
        proc.send_signal(signal.SIGSTOP)
        still_old = sorted(rel for rel, data in old.items() if rel in new and (root / rel).read_bytes() == data)
        if not staged or not still_old:
            proc.send_signal(signal.SIGCONT)
            proc.communicate(timeout=30)
            continue
        victim = root / still_old[-1]
        victim.write_bytes(victim.read_bytes() + b"# my hand edit\n")
        edited = tree(root)
        proc.send_signal(signal.SIGCONT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2 and "changed while render was writing" in err and "Traceback" not in err, err
        assert tree(root) == {**old, still_old[-1]: edited[still_old[-1]]}  # everything rolled back, edit kept
        assert temps(root) == []
        return
    pytest.fail("never caught the render while staging")


# ------------------------------------------------------------------------------------------ symlinks
def _sibling(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A repository and a sibling repository rendered from a config of the same file name."""
    repo, other = tmp_path / "repo", tmp_path / "other"
    for r, names in ((repo, ["daily"]), (other, ["daily", "weekly", "monthly"])):
        r.mkdir()
        (r / "velero-gitops.yaml").write_text(config(names))
    assert render(other).code == 0
    return repo, other, snapshot(other)


@pytest.mark.parametrize("force", [(), ("--force",)])
def test_symlinked_app_folder_leaving_the_repo(tmp_path, force):
    repo, other, before = _sibling(tmp_path)
    (repo / APP).mkdir(parents=True)
    (repo / APP / "app").symlink_to(other / APP / "app")
    r = render(repo, *force)
    assert r.code == 2 and "outside the repository" in r.err and "Traceback" not in r.err, r.err
    assert snapshot(other) == before and temps(other) == []


@pytest.mark.parametrize("force", [(), ("--force",)])
def test_symlinked_apps_root_leaving_the_repo(tmp_path, force):
    repo, other, before = _sibling(tmp_path)
    (repo / "kubernetes").mkdir()
    (repo / "kubernetes/apps").symlink_to(other / "kubernetes/apps")
    r = render(repo, *force)
    assert r.code == 2 and "outside the repository" in r.err, r.err
    assert snapshot(other) == before  # nothing created, nothing removed (weekly/monthly are "stale" for repo)


def test_apps_root_pointing_into_a_sibling_repo(tmp_path):
    repo, other, before = _sibling(tmp_path)
    (repo / "velero-gitops.yaml").write_text(config(["daily"], repo="repo:\n  appsRoot: ../other/kubernetes/apps\n"))
    r = render(repo, "--force")
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert snapshot(other) == before


def test_symlinked_file_leaving_the_repo_is_never_written_through(tmp_path):
    repo, other, before = _sibling(tmp_path)
    assert render(repo).code == 0
    target = repo / SCHED / "daily.yaml"
    target.unlink()
    target.symlink_to(other / SCHED / "weekly.yaml")
    for extra in ((), ("--force",)):
        r = render(repo, *extra)
        assert r.code == 2 and "outside the repository" in r.err, r.err
    assert run_cli("render", "--check", "--config", str(repo / "velero-gitops.yaml")).code == 1
    assert snapshot(other) == before and target.is_symlink()


def test_symlink_inside_the_repo_needs_force_and_only_the_link_is_replaced(tmp_path):
    (tmp_path / "velero-gitops.yaml").write_text(config(["daily"]))
    assert render(tmp_path).code == 0
    mine = tmp_path / "notes.yaml"
    mine.write_text("mine\n")
    link = tmp_path / SCHED / "daily.yaml"
    link.unlink()
    link.symlink_to(mine)
    r = render(tmp_path)
    assert r.code == 2 and "is a symlink" in r.err, r.err
    assert render(tmp_path, "--force").code == 0
    assert not link.is_symlink() and mine.read_text() == "mine\n"


# ------------------------------------------------------------------------------------- special files
def test_fifo_at_a_generated_path_does_not_hang(tmp_path):
    (tmp_path / "velero-gitops.yaml").write_text(config(["daily"]))
    assert render(tmp_path).code == 0
    fifo = tmp_path / SCHED / "daily.yaml"
    fifo.unlink()
    os.mkfifo(fifo)
    before = snapshot(tmp_path)
    for extra in ((), ("--force",)):
        r = render(tmp_path, *extra, timeout=20)
        assert r.code == 2 and "is a FIFO" in r.err and "Traceback" not in r.err, r.err
    r = run_cli("render", "--check", "--config", str(tmp_path / "velero-gitops.yaml"), timeout=20)
    assert r.code == 1 and "is a FIFO" in r.err
    assert snapshot(tmp_path) == before and temps(tmp_path) == []


def test_directory_at_a_generated_path_with_force_changes_nothing(tmp_path):
    (tmp_path / "velero-gitops.yaml").write_text(config(["daily"]))
    assert render(tmp_path).code == 0
    (tmp_path / "velero-gitops.yaml").write_text(config(["daily", "weekly"], ttl="24h"))
    (tmp_path / SCHED / "weekly.yaml").mkdir()
    before = snapshot(tmp_path)
    r = render(tmp_path, "--force")
    assert r.code == 2 and "is a directory" in r.err and "Traceback" not in r.err, r.err
    assert snapshot(tmp_path) == before and temps(tmp_path) == []


def test_only_files_with_our_header_and_a_generated_name_are_removed(tmp_path):
    (tmp_path / "velero-gitops.yaml").write_text(config(["daily", "weekly"]))
    assert render(tmp_path).code == 0
    sched = tmp_path / SCHED
    copies = ["daily_LOCAL_1234.yaml", "daily_BASE_1234.yaml", "Daily.yaml", "weekly.orig.yaml.bak"]
    for name in copies:
        shutil.copy(sched / "daily.yaml", sched / name)  # our header, not our name
    (tmp_path / "velero-gitops.yaml").write_text(config(["other"]))
    r = render(tmp_path)
    assert r.code == 0, r.err
    assert not (sched / "daily.yaml").exists() and not (sched / "weekly.yaml").exists()
    assert all((sched / n).exists() for n in copies)
