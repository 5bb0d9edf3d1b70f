"""The corpus's World, and the guard every case runs under: nothing written outside the storage root and
the test's own folder, nothing of the victim principal's changed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from shared.auth import owner_key
from tests.hostile.world import ESCAPE_PREFIX, World, open_world

Snapshot = dict[str, tuple[int, int]]


@pytest.fixture(scope="session")
def world(tmp_path_factory, principals) -> Iterator[World]:
    with ExitStack() as exits:
        yield open_world(exits, tmp_path_factory.mktemp("hostile"), principals)


def _snapshot(root: Path, skip: set[Path]) -> Snapshot:
    """(size, mtime) of every file under root, folders in `skip` left out."""
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for name in files:
            path = os.path.join(folder, name)
            try:
                stat = os.lstat(path)
            except OSError:
                continue
            found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


def victim_areas(world: World, principal: str) -> list[Path]:
    storage, key = world.stack.storage, owner_key(principal)
    areas = [storage / area / key for area in ("uploads", "generations")]
    areas += [storage / "cache" / cache / key for cache in ("preprocess", "latents")]
    jobs = world.stack.training.manager.job_ids(principal)
    return areas + [storage / "jobs" / job_id for job_id in jobs] + [storage / "datasets" / job_id for job_id in jobs]


@pytest.fixture
def guarded(world: World, tmp_path: Path, request) -> Iterator[None]:
    """Around one case: files outside the storage and this test's folder, and the victim's objects,
    come out exactly as they went in, and no absolute entry name reached /tmp."""
    case = request.node.callspec.params["case"]
    if case.kind == "tenancy":  # what the cases go after exists before the snapshot
        world.alice_job, world.alice_upload, world.alice_generation, world.alice_cached_run  # noqa: B018
    base = Path(str(request.config._tmp_path_factory.getbasetemp()))
    # the corpus's own inputs, and the token file a metadata case rewrites on purpose
    skip = {world.stack.storage, tmp_path, world.allowed, world.http.root, world.principals.folder}
    outside = _snapshot(base, skip)
    victim = {path: _snapshot(path, set()) for path in victim_areas(world, case.victim)}
    yield
    assert _snapshot(base, skip) == outside, "a case wrote outside the storage root"
    assert not list(Path("/tmp").glob(f"{ESCAPE_PREFIX}*")), "an archive entry escaped to /tmp"
    for path, before in victim.items():
        assert _snapshot(path, set()) == before, f"a case changed {case.victim}'s objects under {path}"
