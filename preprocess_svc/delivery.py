"""Bundles by value: for a caller without shared storage, each bundle's bytes go into the event stream.

inline_bundles wraps a run's events: before each BundleWritten it yields the file's bytes as
BundleChunks (offsets from 0), then the BundleWritten with an empty uri (its sha256 and size cover
the chunks), and deletes the file, since no one else can read it: only the run's own copy
(BundleWritten.run_copy); a cache hit's bundles are the cache's files and stay (on a miss the cache
holds its own hard link, so deleting the run's copy leaves it intact). Chunks are read one at a time, so
a bundle is never held whole in memory here.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace

from preprocess_svc.events import BundleWritten, PreprocessEvent

CHUNK_BYTES = 1 << 20  # 1 MiB: well under gRPC's default 4 MiB message limit


@dataclass(frozen=True)
class BundleChunk:
    sample_id: str
    offset: int  # bytes of the bundle sent before this chunk
    data: bytes


def inline_bundles(
    events: Iterator[PreprocessEvent], chunk_bytes: int = CHUNK_BYTES
) -> Generator[PreprocessEvent | BundleChunk, None, None]:
    for event in events:
        if not isinstance(event, BundleWritten):
            yield event
            continue
        offset = 0
        with open(event.path, "rb") as fh:
            while data := fh.read(chunk_bytes):
                yield BundleChunk(event.sample_id, offset, data)
                offset += len(data)
        if event.run_copy:
            event.path.unlink()
        yield replace(event, uri="")
