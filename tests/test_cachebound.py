"""The stores in the user's cache stay within their size bound (cachebound.py), least recently used out first.

No clock is read: each entry's access time is set to a step of our own (os.utime), and a read refreshes it
to now, which is later than every step."""

from __future__ import annotations

import os
from pathlib import Path

from velero_gitops import cachebound, runcache
from velero_gitops.validate import buildcache

ENTRY = 1000  # bytes of each test entry's document, about


def _fill(d: Path, names: list[str]) -> None:
    """Write one entry per name through the build cache, the first the oldest (access time steps 1, 2, ... seconds)."""
    for i, name in enumerate(names, 1):
        buildcache.write(d, name, {"out": "x" * ENTRY})
        os.utime(d / f"{name}.json", ns=(i * 10**9, i * 10**9))


def _left(d: Path) -> list[str]:
    return sorted(p.stem for p in d.glob("*.json"))


def test_the_build_cache_past_its_bound_loses_its_oldest_entries(tmp_path, monkeypatch):
    """Ten entries in a store bounded at a bit over eight: the next write evicts down to nine tenths of the bound,
    the oldest first; the newest always stay."""
    d = tmp_path / "kustomize-builds"
    assert buildcache.usable(d)
    size = len(b'{"out": ""}') + ENTRY
    monkeypatch.setattr(cachebound, "limit", lambda: size * 8 + size // 2)
    cachebound._totals.pop(str(d), None)
    _fill(d, [f"e{i:02d}" for i in range(8)])
    assert _left(d) == [f"e{i:02d}" for i in range(8)]  # within the bound: nothing goes
    _fill(d, ["e08"])
    os.utime(d / "e08.json", ns=(9 * 10**9, 9 * 10**9))
    # 9 entries > 8.5: down to 7.65, so the two oldest go
    assert _left(d) == [f"e{i:02d}" for i in range(2, 9)]


def test_a_read_keeps_an_entry_the_next_eviction_would_take(tmp_path, monkeypatch):
    """Least recently *used*: an entry read is refreshed (buildcache.read), so the next oldest goes instead."""
    d = tmp_path / "kustomize-verdicts"
    assert buildcache.usable(d)
    size = len(b'{"out": ""}') + ENTRY
    monkeypatch.setattr(cachebound, "limit", lambda: size * 3 + size // 2)
    cachebound._totals.pop(str(d), None)
    _fill(d, ["a", "b", "c"])
    assert buildcache.read(d, "a") == {"out": "x" * ENTRY}
    buildcache.write(d, "d", {"out": "x" * ENTRY})  # 4 > 3.5: down to 3.15, one goes: b, not a
    assert _left(d) == ["a", "c", "d"]


def test_the_replay_store_is_bounded_and_keeps_its_key(tmp_path, monkeypatch):
    """The run store (runcache) goes through the same bound, oldest entry first; its HMAC key is no entry and is
    never evicted."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("VELERO_GITOPS_NO_CACHE", raising=False)
    d = runcache.cache_dir()
    cachebound._totals.pop(str(d), None)
    for i, key in enumerate(("k1", "k2"), 1):
        runcache.store(key, {}, {"ok": True})
        os.utime(d / f"{key}.json", ns=(i * 10**9, i * 10**9))
    size = (d / "k1.json").stat().st_size
    monkeypatch.setattr(cachebound, "limit", lambda: size * 2 + size // 2)
    runcache.store("k3", {}, {"ok": True})  # 3 > 2.5: down to 2.25, the oldest goes
    assert sorted(p.name for p in d.iterdir()) == ["hmac.key", "k2.json", "k3.json"]


def test_the_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(cachebound.ENV, "5")
    assert cachebound.limit() == 5 << 20
    for bad in ("0", "-3", "lots", ""):
        monkeypatch.setenv(cachebound.ENV, bad)
        assert cachebound.limit() == cachebound.DEFAULT_MB << 20


def test_a_read_leaves_the_modification_time_the_replay_store_keys_on(tmp_path):
    """runcache keys every file a run read by size and modification time and stores no clean run when one changed
    while it ran; a cache hit refreshed the entry's modification time, so no run with a hit was ever stored (seen
    when the two changes met: test_check's replay tests failed in a warm process). A read moves the access time."""
    from velero_gitops import cachebound

    entry = tmp_path / "e.json"
    entry.write_text("{}")
    os.utime(entry, ns=(10**9, 2 * 10**9))
    cachebound.used(entry)
    st = entry.stat()
    assert st.st_mtime_ns == 2 * 10**9 and st.st_atime_ns > 2 * 10**9
