"""--preprocess-cache-max-bytes: least recently used entries are evicted, never one being replayed."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from preprocess_svc.cache_eviction import LOCK
from preprocess_svc.dataset_cache import DatasetCache, bound_cache, cache_root
from preprocess_svc.events import BundleWritten, Summary
from shared.dataset_report import SampleFacts, SourceFacts

BUNDLE_BYTES = 4000


def commit(storage: Path, key: str, *, used_at: float | None = None, owner: str = "local") -> Path:
    """An entry of one bundle (BUNDLE_BYTES of content unique to the key); its last use set to `used_at`."""
    data = hashlib.sha256(key.encode()).digest() * (BUNDLE_BYTES // 32)
    run_file = storage / "runs" / secrets.token_hex(6) / "clip-0001.safetensors"
    run_file.parent.mkdir(parents=True)
    run_file.write_bytes(data)
    bundle = BundleWritten(
        "clip.mp4",
        run_file.as_uri(),
        hashlib.sha256(data).hexdigest(),
        len(data),
        17,
        64,
        64,
        24.0,
        "a caption",
        "clip.mp4",
        path=run_file,
        source=SourceFacts(96, 64, 96, 64, 24.0, 1.0, 24, "h264", 0, False),
        facts=SampleFacts("clip.mp4", 17, 24.0, 64, 64, "first_frames", 0.0, 0.71, 1.0, "", 1.0),
    )
    cache = DatasetCache(storage, owner)
    recorder = cache.recorder(key)
    recorder.record(bundle)
    recorder.commit(Summary("video", 1, 0, 1.0))
    run_file.unlink()  # as delivery by value does: the entry's bytes are the cache's alone
    entry = cache.entry(key)
    if used_at is not None:
        os.utime(entry / LOCK, (used_at, used_at))
    return entry


def entry_bytes(entry: Path) -> int:
    return sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())


def keys(storage: Path, owner: str = "local") -> list[str]:
    root = cache_root(storage, owner)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def replay_whole(cache: DatasetCache, key: str, linger: float = 0.0) -> bool | None:
    """Look the entry up and, `linger` seconds later (a delivery takes time), read every bundle, checking its
    digest; None on a miss."""
    hit = cache.lookup(key)
    if hit is None:
        return None
    try:
        time.sleep(linger)
        bundles = [e for e in hit.events if isinstance(e, BundleWritten)]
        return all(hashlib.sha256(b.path.read_bytes()).hexdigest() == b.sha256 for b in bundles)
    finally:
        hit.release()


def test_least_recently_used_entries_go_first_and_a_hit_refreshes_recency(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    a = commit(storage, "a" * 64, used_at=1000)
    commit(storage, "b" * 64, used_at=2000)
    commit(storage, "c" * 64, used_at=3000)
    bound = 2 * entry_bytes(a) + 100
    assert replay_whole(DatasetCache(storage, "local"), "a" * 64)  # now the most recently used

    bound_cache(storage, bound)

    assert keys(storage) == ["a" * 64, "c" * 64]
    assert sum(entry_bytes(cache_root(storage, "local") / k) for k in keys(storage)) <= bound
    bound_cache(storage, 0)  # 0: no bound
    assert keys(storage) == ["a" * 64, "c" * 64]


def test_the_bound_counts_every_owner_and_a_commit_keeps_it(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    old = commit(storage, "a" * 64, used_at=1000, owner="alice")
    commit(storage, "b" * 64, used_at=2000, owner="bob")
    cache = DatasetCache(storage, "bob", max_bytes=2 * entry_bytes(old) + 100)

    commit(storage, "c" * 64, owner="bob")
    cache.evict()  # what run_preprocess does after each commit

    assert (keys(storage, "alice"), keys(storage, "bob")) == ([], ["b" * 64, "c" * 64])


def test_an_entry_replayed_in_this_process_stays_until_its_replay_ends(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    commit(storage, "a" * 64, used_at=1000)
    cache = DatasetCache(storage, "local")
    hit = cache.lookup("a" * 64)
    assert hit is not None

    bound_cache(storage, 1)
    assert keys(storage) == ["a" * 64]
    hit.release()
    bound_cache(storage, 1)
    assert keys(storage) == []


@pytest.mark.integration
def test_an_entry_another_process_replays_is_never_evicted(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    entry = commit(storage, "a" * 64, used_at=1000)
    commit(storage, "b" * 64, used_at=2000)
    holder = "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_SH); "
    holder += "print('held', flush=True); sys.stdin.read()"
    reader = subprocess.Popen(
        [sys.executable, "-c", holder, str(entry / LOCK)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline() == "held\n"
        bound_cache(storage, 1)
        assert keys(storage) == ["a" * 64]  # the older one, but replayed: only the other went
    finally:
        reader.communicate("")
    bound_cache(storage, 1)
    assert keys(storage) == []


def test_an_entry_without_a_lock_file_is_a_hit_and_counts(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    entry = commit(storage, "a" * 64)
    (entry / LOCK).unlink()  # committed before entries had one

    assert replay_whole(DatasetCache(storage, "local"), "a" * 64)
    assert (entry / LOCK).exists()
    leftover = cache_root(storage, "local") / f".{'b' * 64}.0123.evicted"
    (leftover / "bundles").mkdir(parents=True)
    bound_cache(storage, 1)
    assert not leftover.exists() and keys(storage) == []


@pytest.mark.integration
def test_eviction_by_another_process_during_replays_leaves_every_replay_whole(tmp_path: Path) -> None:
    """Replays here, in threads, while another process evicts with a bound of one byte and entries are
    committed again: each lookup is a miss or a replay whose every bundle reads back intact."""
    storage = tmp_path / "storage"
    for key in ("a" * 64, "b" * 64):
        commit(storage, key)
    evictor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from preprocess_svc.dataset_cache import bound_cache\n"
            "print('ready', flush=True)\n"
            "while not sys.stdin.readline().startswith('stop'):\n"
            "    bound_cache(Path(sys.argv[1]), 1)\n"
            "    print('done', flush=True)",
            str(storage),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    outcomes: list[bool | None] = []
    recommitted = 0
    stop = threading.Event()

    def replay(key: str) -> None:
        cache = DatasetCache(storage, "local")
        while not stop.is_set():
            try:
                outcomes.append(replay_whole(cache, key, linger=0.003))
            except OSError:  # a bundle gone in the middle of its replay
                outcomes.append(False)
            time.sleep(0.002)  # a gap between replays: the other process's evictor gets its chance

    readers = [threading.Thread(target=replay, args=(key,)) for key in ("a" * 64, "b" * 64, "a" * 64)]
    for reader in readers:
        reader.start()
    try:
        assert evictor.stdin is not None and evictor.stdout is not None
        reply = evictor.stdout.readline
        while (line := reply()) not in ("ready\n", ""):  # the lines before are its log
            pass
        assert line == "ready\n"
        deadline = time.monotonic() + 20
        while recommitted < 12 and time.monotonic() < deadline:
            evictor.stdin.write("go\n")
            evictor.stdin.flush()
            while reply() not in ("done\n", ""):
                pass
            for key in sorted({"a" * 64, "b" * 64} - set(keys(storage))):
                commit(storage, key)
                recommitted += 1
            time.sleep(0.01)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
        evictor.communicate("stop\n")
    assert evictor.returncode == 0 and recommitted > 0  # the other process did evict entries
    assert False not in outcomes
    assert True in outcomes
