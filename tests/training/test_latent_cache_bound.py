"""--latent-cache-max-bytes: least recently used entries are evicted, never one a live job references.

Entries are real cache files (a prompt's Gemma states, written and read by LatentCache); the job store
is stood in for by the `is_live` answer the service builds from it (job id -> state not final).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from train_svc.training.encoding import PromptStates
from train_svc.training.latent_cache import LatentCache
from train_svc.training.latent_eviction import REFS_FILE, LatentEvictor, live_references

IDENTITY = "model"


def states(seed: int) -> PromptStates:
    generator = torch.Generator().manual_seed(seed)
    return PromptStates(embeds=torch.randn(1, 16, 64, generator=generator), mask=torch.ones(1, 16))


class Store:
    """Which jobs are live, as the job store would answer."""

    def __init__(self) -> None:
        self.live: set[str] = set()

    def is_live(self, job_id: str) -> bool:
        return job_id in self.live


def setup(tmp_path: Path, entries: float) -> tuple[Path, LatentEvictor, Store]:
    """A storage root and an evictor bounded to `entries` prompt entries' bytes."""
    storage = tmp_path / "storage"
    probe = LatentCache(tmp_path / "probe", IDENTITY, "alice")
    probe.put_prompt("probe", states(0))
    size = probe._prompt_path("probe").stat().st_size
    store = Store()
    return storage, LatentEvictor(storage, storage / "cache" / "latents", int(size * entries), store.is_live), store


def cache(evictor: LatentEvictor, owner: str = "alice", job: str | None = None) -> LatentCache:
    references = evictor.references(job) if job is not None else None
    return LatentCache(evictor.cache_root, IDENTITY, owner, references=references, evictor=evictor)


def put(cache_: LatentCache, text: str, used_at: float | None = None) -> Path:
    cache_.put_prompt(text, states(len(text)))
    path = cache_._prompt_path(text)
    if used_at is not None and path.exists():
        os.utime(path, (used_at, used_at))
    return path


def test_least_recently_used_entries_go_first_and_a_hit_refreshes_recency(tmp_path: Path) -> None:
    _, evictor, _ = setup(tmp_path, 2.5)
    alice, bob = cache(evictor), cache(evictor, "bob")
    first, second = put(alice, "first", used_at=1000), put(bob, "second", used_at=2000)
    assert alice.get_prompt("first") is not None  # now the most recently used

    third = put(alice, "third")

    assert (first.exists(), second.exists(), third.exists()) == (True, False, True)
    assert evictor.evict() <= evictor.max_bytes
    assert torch.equal(alice.get_prompt("first").embeds, states(len("first")).embeds)  # type: ignore[union-attr]


def test_an_entry_a_live_job_references_is_kept_until_the_job_ends(tmp_path: Path) -> None:
    storage, evictor, store = setup(tmp_path, 1.5)
    store.live.add("job-1")
    kept = put(cache(evictor, job="job-1"), "the job's", used_at=1000)
    assert (storage / "jobs" / "job-1" / REFS_FILE).is_file()  # under the job's folder

    newer = put(cache(evictor, job="job-2"), "an unknown job's")  # job-2 is not in the store: not pinned
    assert kept.exists() and not newer.exists()  # the older one stays: a live job references it

    store.live.discard("job-1")  # it ended (or was deleted): its references no longer count
    put(cache(evictor), "after")
    assert not kept.exists()


def test_an_entry_referenced_while_it_is_being_evicted_is_put_back(tmp_path: Path) -> None:
    """The job appends its reference after the evictor's first look, before its second: the entry returns."""
    storage, evictor, store = setup(tmp_path, 1.5)
    store.live.add("job-1")
    taken_up = put(cache(evictor), "taken up", used_at=1000)
    references = evictor.references("job-1")
    looks = 0

    def is_live(job_id: str) -> bool:
        nonlocal looks
        looks += 1
        if looks == 2:  # the evictor's second look comes after its renames: the job names the entry now
            assert not taken_up.exists()
            references.add(taken_up)
        return store.is_live(job_id)

    references.path.parent.mkdir(parents=True)
    references.path.write_text("")
    racing = LatentEvictor(storage, evictor.cache_root, evictor.max_bytes, is_live)
    put(LatentCache(evictor.cache_root, IDENTITY, "alice"), "newer", used_at=2000)  # no pass yet
    racing.evict()

    assert taken_up.exists() and looks == 2
    assert cache(evictor, job="job-1").get_prompt("taken up") is not None
    assert live_references(storage, evictor.cache_root, store.is_live) == {taken_up}


def test_a_pass_under_the_bound_removes_nothing_and_a_recent_tombstone_stays(tmp_path: Path) -> None:
    _, evictor, _ = setup(tmp_path, 10)
    paths = [put(cache(evictor), text) for text in ("a", "b", "c")]
    tombstone = paths[0].with_name(f".{paths[0].name}.0123.evicted")
    tombstone.write_bytes(b"left by an evictor that died just now")

    assert evictor.evict() == sum(p.stat().st_size for p in paths)
    assert all(p.exists() for p in paths) and tombstone.exists()  # a recent tombstone may still be in use
